/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decryption of encrypted iOS backups, written from the published format (see crypt.h and
 * the sources named in notes on issue 14: iphone_backup_decrypt, iphone-dataprotection):
 *
 *   BackupKeyBag  TLV records: 4-byte tag, u32 big-endian length, value; 4-byte values of
 *                 the numeric tags are u32 big-endian. The bag's own UUID and WRAP come
 *                 first; each later UUID starts a class key (CLAS, WRAP, KTYP, WPKY, …).
 *   passcode key  PBKDF2-HMAC-SHA256(password, DPSL, DPIC, 32), then
 *                 PBKDF2-HMAC-SHA1(that, SALT, ITER, 32) (only the second round when the
 *                 bag has no DPSL/DPIC, as before iOS 10.2).
 *   class keys    RFC 3394 unwrap of WPKY with the passcode key, for classes with WRAP & 2.
 *   file keys     u32 LE class + RFC 3394-wrapped key, unwrapped with that class's key.
 *   data          AES-256-CBC, zero IV, PKCS#7; the plaintext is the MBFile's Size.
 *
 * The emulator has its own encrypting code; none of it is shared (STYLE.md §10).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plist/plist.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sqlite3.h>

#include "crypt.h"
#include "fs-util.h"
#include "idevicesync.h"
#include "plist-util.h"
#include "util.h"

#define WRAP_PASSCODE   2u
#define CHUNK           (64 * 1024)
#define MANIFEST_PLIST_MAX (64u << 20)  /* Applications can make it a few MiB */
#define MBFILE_MAX      (1u << 20)

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

static bool tag_is(const uint8_t *tag, const char *name) {
        return memcmp(tag, name, 4) == 0;
}

/* A numeric value: exactly 4 bytes. */
static int get_u32(const uint8_t *v, uint32_t len, uint32_t *ret) {
        if (len != 4)
                return IDS_E_PROTOCOL;
        *ret = be32(v);
        return 0;
}

static int get_salt(const uint8_t *v, uint32_t len, uint8_t *dst, size_t *ret_len) {
        if (len == 0 || len > CRYPT_SALT_MAX)
                return IDS_E_PROTOCOL;
        memcpy(dst, v, len);
        *ret_len = len;
        return 0;
}

int keybag_parse(const void *data, size_t len, Keybag *ret) {
        const uint8_t *p = data;
        Keybag kb = {};
        KeybagClass cur = {};
        uint32_t cur_clas = 0;
        bool seen_uuid = false, in_class = false, any_passcode = false;
        size_t off = 0;
        int r = 0;

        if (!ret || (!data && len > 0))
                return -EINVAL;
        if (len > CRYPT_KEYBAG_MAX)
                return IDS_E_PROTOCOL;

        for (;;) {
                const uint8_t *tag, *v;
                uint32_t n;
                bool last = off == len;

                /* One class key ends at the next UUID or at the end of the bag. */
                if (in_class && (last || (len - off >= 4 && tag_is(p + off, "UUID")))) {
                        if (cur_clas == 0 || cur_clas > CRYPT_CLASS_MAX ||
                            kb.classes[cur_clas].present) {
                                r = IDS_E_PROTOCOL;
                                break;
                        }
                        cur.present = true;
                        if (cur.has_wpky && (cur.wrap & WRAP_PASSCODE))
                                any_passcode = true;
                        kb.classes[cur_clas] = cur;
                        cur = (KeybagClass) {};
                        cur_clas = 0;
                        in_class = false;
                }
                if (last)
                        break;
                if (len - off < 8) {
                        r = IDS_E_PROTOCOL;             /* a truncated header */
                        break;
                }
                tag = p + off;
                n = be32(p + off + 4);
                if (n > len - off - 8) {
                        r = IDS_E_PROTOCOL;             /* a value beyond the end */
                        break;
                }
                v = p + off + 8;
                off += 8 + (size_t) n;

                if (tag_is(tag, "UUID")) {
                        if (n != 16) {
                                r = IDS_E_PROTOCOL;
                                break;
                        }
                        if (seen_uuid)
                                in_class = true;
                        seen_uuid = true;
                } else if (in_class) {
                        if (tag_is(tag, "CLAS"))
                                r = get_u32(v, n, &cur_clas);
                        else if (tag_is(tag, "WRAP"))
                                r = get_u32(v, n, &cur.wrap);
                        else if (tag_is(tag, "KTYP"))
                                r = get_u32(v, n, &cur.ktyp);
                        else if (tag_is(tag, "WPKY")) {
                                /* Only 32-byte keys wrapped to 40 bytes are of use; others
                                 * (none in backup bags) are kept out. */
                                if (n == CRYPT_WRAPPED_SIZE) {
                                        memcpy(cur.wpky, v, n);
                                        cur.has_wpky = true;
                                }
                        }
                        /* PBKY and anything else: not needed. */
                } else if (tag_is(tag, "VERS"))
                        r = get_u32(v, n, &kb.vers);
                else if (tag_is(tag, "TYPE"))
                        r = get_u32(v, n, &kb.type);
                else if (tag_is(tag, "WRAP"))
                        r = get_u32(v, n, &kb.wrap);
                else if (tag_is(tag, "ITER")) {
                        r = get_u32(v, n, &kb.iter);
                        kb.has_iter = true;
                } else if (tag_is(tag, "DPIC")) {
                        r = get_u32(v, n, &kb.dpic);
                        kb.has_dpic = true;
                } else if (tag_is(tag, "SALT"))
                        r = get_salt(v, n, kb.salt, &kb.salt_len);
                else if (tag_is(tag, "DPSL"))
                        r = get_salt(v, n, kb.dpsl, &kb.dpsl_len);
                else if (tag_is(tag, "CLAS") || tag_is(tag, "WPKY") || tag_is(tag, "KTYP"))
                        r = IDS_E_PROTOCOL;     /* a class key's field before any class */
                /* HMCK, DPWT, … : skipped. */
                if (r != 0)
                        break;
        }

        if (r == 0 && (kb.salt_len == 0 || !kb.has_iter || kb.iter == 0 ||
                       kb.iter > CRYPT_ITER_MAX || !any_passcode))
                r = IDS_E_PROTOCOL;
        /* The SHA-256 round needs both of its parameters, or neither is there. */
        if (r == 0 && (kb.has_dpic != (kb.dpsl_len > 0) ||
                       (kb.has_dpic && (kb.dpic == 0 || kb.dpic > CRYPT_ITER_MAX))))
                r = IDS_E_PROTOCOL;
        if (r != 0) {
                explicit_bzero(&kb, sizeof(kb));
                explicit_bzero(&cur, sizeof(cur));
                return r;
        }
        *ret = kb;
        explicit_bzero(&kb, sizeof(kb));
        return 0;
}

void keybag_wipe(Keybag *kb) {
        if (kb)
                explicit_bzero(kb, sizeof(*kb));
}

int crypt_pbkdf2(const char *digest, const void *pw, size_t pw_len, const void *salt,
                 size_t salt_len, uint32_t iter, uint8_t *ret, size_t ret_len) {
        EVP_KDF *kdf = NULL;
        EVP_KDF_CTX *ctx = NULL;
        OSSL_PARAM params[6], *q = params;
        unsigned int it = iter;
        int pkcs5 = 1;  /* no SP 800-132 lower bounds: the bag decides, test vectors use 1 */
        int r = 0;

        if (!digest || (!pw && pw_len > 0) || !salt || iter == 0 || !ret || ret_len == 0)
                return -EINVAL;
        kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_PBKDF2, NULL);
        ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
                                                 (void *) (pw ?: ""), pw_len);
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt,
                                                 salt_len);
        *q++ = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER, &it);
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) digest, 0);
        *q++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_PKCS5, &pkcs5);
        *q = OSSL_PARAM_construct_end();
        if (EVP_KDF_derive(ctx, ret, ret_len, params) != 1)
                r = -EIO;
out:
        EVP_KDF_CTX_free(ctx);
        EVP_KDF_free(kdf);
        return r;
}

int crypt_aes_unwrap(const uint8_t kek[static CRYPT_KEY_SIZE], const void *in, size_t in_len,
                     uint8_t *ret) {
        EVP_CIPHER_CTX *ctx;
        int n = 0, m = 0, r = 0;

        if (!in || !ret || in_len < 24 || in_len > 4104 || in_len % 8 != 0)
                return -EINVAL;
        ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return -ENOMEM;
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        /* A NULL IV is RFC 3394's default, A6A6A6A6A6A6A6A6; a mismatch fails the update. */
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL) != 1)
                r = -EIO;
        else if (EVP_DecryptUpdate(ctx, ret, &n, in, (int) in_len) != 1 ||
                 (size_t) n != in_len - 8 ||
                 EVP_DecryptFinal_ex(ctx, ret + n, &m) != 1 || m != 0) {
                explicit_bzero(ret, in_len - 8);
                r = -EBADMSG;
        }
        EVP_CIPHER_CTX_free(ctx);
        return r;
}

int keybag_unlock(Keybag *kb, const void *password, size_t pw_len) {
        uint8_t round1[CRYPT_KEY_SIZE], pkey[CRYPT_KEY_SIZE];
        const void *pw = password;
        size_t len = pw_len;
        bool first = true;
        int r;

        if (!kb || (!password && pw_len > 0) || pw_len > CRYPT_PASSWORD_MAX)
                return -EINVAL;
        if (kb->has_dpic) {
                r = crypt_pbkdf2("SHA256", password, pw_len, kb->dpsl, kb->dpsl_len, kb->dpic,
                                 round1, sizeof(round1));
                if (r < 0)
                        goto out;
                pw = round1;
                len = sizeof(round1);
        }
        r = crypt_pbkdf2("SHA1", pw, len, kb->salt, kb->salt_len, kb->iter, pkey, sizeof(pkey));
        if (r < 0)
                goto out;

        for (unsigned c = 1; c <= CRYPT_CLASS_MAX; c++) {
                KeybagClass *k = &kb->classes[c];

                if (!k->present || !k->has_wpky || !(k->wrap & WRAP_PASSCODE))
                        continue;
                r = crypt_aes_unwrap(pkey, k->wpky, sizeof(k->wpky), k->key);
                if (r == -EBADMSG) {
                        /* The first key tells a wrong password; a later one a bad bag. */
                        r = first ? IDS_E_WRONG_PASSWORD : IDS_E_PROTOCOL;
                        break;
                }
                if (r < 0)
                        break;
                k->unwrapped = true;
                first = false;
        }
        if (r != 0)
                for (unsigned c = 1; c <= CRYPT_CLASS_MAX; c++) {
                        explicit_bzero(kb->classes[c].key, CRYPT_KEY_SIZE);
                        kb->classes[c].unwrapped = false;
                }
out:
        explicit_bzero(round1, sizeof(round1));
        explicit_bzero(pkey, sizeof(pkey));
        return r;
}

int keybag_unwrap_blob(const Keybag *kb, const void *blob, size_t len,
                       uint8_t ret[static CRYPT_KEY_SIZE]) {
        const uint8_t *p = blob;
        uint32_t c;

        if (!kb || !blob || !ret)
                return -EINVAL;
        if (len != CRYPT_BLOB_SIZE)
                return IDS_E_PROTOCOL;
        c = le32(p);
        if (c == 0 || c > CRYPT_CLASS_MAX || !kb->classes[c].unwrapped)
                return IDS_E_PROTOCOL;
        return crypt_aes_unwrap(kb->classes[c].key, p + 4, CRYPT_WRAPPED_SIZE, ret) < 0 ?
                       IDS_E_PROTOCOL : 0;
}

int crypt_decrypt_fd(const uint8_t key[static CRYPT_KEY_SIZE], int in_fd, int out_fd,
                     uint64_t size, uint64_t *ret_size) {
        static const uint8_t iv[16];
        _cleanup_(freep) uint8_t *in = NULL, *out = NULL;
        EVP_CIPHER_CTX *ctx;
        uint64_t total_in = 0, total_out = 0;
        int r = 0, n;

        if (!key || in_fd < 0)
                return -EINVAL;
        in = malloc(CHUNK);
        out = malloc(CHUNK + 32);
        ctx = EVP_CIPHER_CTX_new();
        if (!in || !out || !ctx) {
                EVP_CIPHER_CTX_free(ctx);
                return -ENOMEM;
        }
        /* OpenSSL's PKCS#7 check looks at every padding byte. */
        if (EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv) != 1) {
                r = -EIO;
                goto out;
        }
        for (;;) {
                ssize_t k = read(in_fd, in, CHUNK);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto out;
                }
                if (k == 0)
                        break;
                total_in += (uint64_t) k;
                /* Beyond the stream that Size allows: stop before decrypting more. */
                if (size != UINT64_MAX && total_in > crypt_cbc_size(size)) {
                        r = -EBADMSG;
                        goto out;
                }
                if (EVP_DecryptUpdate(ctx, out, &n, in, (int) k) != 1) {
                        r = -EIO;
                        goto out;
                }
                total_out += (uint64_t) n;
                if (out_fd >= 0 && n > 0) {
                        r = fs_write_all(out_fd, out, (size_t) n);
                        if (r < 0)
                                goto out;
                }
        }
        if (total_in == 0 || total_in % 16 != 0 || EVP_DecryptFinal_ex(ctx, out, &n) != 1) {
                r = -EBADMSG;                   /* not whole blocks, or bad padding */
                goto out;
        }
        total_out += (uint64_t) n;
        if (out_fd >= 0 && n > 0) {
                r = fs_write_all(out_fd, out, (size_t) n);
                if (r < 0)
                        goto out;
        }
        if (size != UINT64_MAX && total_out != size) {
                r = -EBADMSG;
                goto out;
        }
        if (ret_size)
                *ret_size = total_out;
out:
        explicit_bzero(out, CHUNK + 32);
        EVP_CIPHER_CTX_free(ctx);
        return r;
}

/* ---- encrypted backups ------------------------------------------------------------------ */

/* A binary or XML plist from memory; NULL if it is neither. */
static plist_t plist_parse(const char *data, size_t n) {
        plist_t p = NULL;

        if (n > UINT32_MAX)
                return NULL;
        if (n >= 8 && memcmp(data, "bplist00", 8) == 0)
                plist_from_bin(data, (uint32_t) n, &p);
        else
                plist_from_xml(data, (uint32_t) n, &p);
        return p;
}

static const uint8_t *dict_data(plist_t dict, const char *key, uint64_t *ret_len) {
        plist_t v = plist_dict_get_item(dict, key);

        if (!v || plist_get_node_type(v) != PLIST_DATA)
                return NULL;
        return (const uint8_t *) plist_get_data_ptr(v, ret_len);
}

int crypt_manifest_plist_read(const char *dir, bool *ret_encrypted, Keybag *ret_kb,
                              uint8_t ret_mkey[static CRYPT_BLOB_SIZE]) {
        _cleanup_(freep) char *path = NULL, *data = NULL;
        _cleanup_(plist_freep) plist_t root = NULL;
        const uint8_t *bag, *mkey;
        uint64_t bag_len = 0, mkey_len = 0;
        uint8_t enc = 0;
        plist_t v;
        size_t n = 0;
        int r;

        if (!dir || !ret_encrypted || !ret_kb || !ret_mkey)
                return -EINVAL;
        if (asprintf(&path, "%s/Manifest.plist", dir) < 0)
                return -ENOMEM;
        r = fs_read_file(path, MANIFEST_PLIST_MAX, &data, &n);
        if (r == -EFBIG)
                return IDS_E_PROTOCOL;
        if (r < 0)
                return r;
        root = plist_parse(data, n);
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return IDS_E_PROTOCOL;
        v = plist_dict_get_item(root, "IsEncrypted");
        if (v && plist_get_node_type(v) == PLIST_BOOLEAN)
                plist_get_bool_val(v, &enc);
        *ret_encrypted = enc;
        if (!enc)
                return 0;

        bag = dict_data(root, "BackupKeyBag", &bag_len);
        mkey = dict_data(root, "ManifestKey", &mkey_len);
        if (!bag || !mkey || mkey_len != CRYPT_BLOB_SIZE)
                return IDS_E_PROTOCOL;
        r = keybag_parse(bag, (size_t) bag_len, ret_kb);
        if (r != 0)
                return r;
        memcpy(ret_mkey, mkey, CRYPT_BLOB_SIZE);
        return 0;
}

int crypt_manifest_db_open(const char *dir, const Keybag *kb,
                           const uint8_t mkey[static CRYPT_BLOB_SIZE], const char *tmp_dir,
                           sqlite3 **ret) {
        _cleanup_(freep) char *src = NULL, *tmp = NULL, *esc = NULL, *uri = NULL;
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        uint8_t key[CRYPT_KEY_SIZE];
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r;

        if (!dir || !kb || !mkey || !tmp_dir || !ret)
                return -EINVAL;
        r = keybag_unwrap_blob(kb, mkey, CRYPT_BLOB_SIZE, key);
        if (r != 0)
                return r;
        if (asprintf(&src, "%s/Manifest.db", dir) < 0 ||
            asprintf(&tmp, "%s/.manifest-XXXXXX", tmp_dir) < 0) {
                r = -ENOMEM;
                goto out;
        }
        in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (in < 0) {
                r = errno == ENOENT ? IDS_E_PROTOCOL : -errno;
                goto out;
        }
        out = mkostemp(tmp, O_CLOEXEC);         /* 0600 */
        if (out < 0) {
                r = -errno;
                free(tmp);
                tmp = NULL;
                goto out;
        }
        r = crypt_decrypt_fd(key, in, out, UINT64_MAX, NULL);
        if (r == -EBADMSG)
                r = IDS_E_PROTOCOL;
        if (r != 0)
                goto out;

        esc = sqlite_uri_escape(tmp);
        if (!esc || asprintf(&uri, "file:%s?mode=ro&immutable=1", esc) < 0) {
                r = -ENOMEM;
                goto out;
        }
        /* Reading the schema makes SQLite read the file now, before its name goes. */
        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
                    SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT count(*) FROM Files", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                r = IDS_E_PROTOCOL;
                goto out;
        }
        *ret = TAKE_PTR(db);
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (tmp)
                (void) unlink(tmp);
        explicit_bzero(key, sizeof(key));
        return r;
}

int crypt_mbfile_parse(const void *blob, size_t len, uint64_t *ret_size,
                       uint8_t ret_key[static CRYPT_BLOB_SIZE], bool *ret_has_key) {
        _cleanup_(plist_freep) plist_t root = NULL;
        plist_t objects, top, uid, obj, v;
        uint64_t i = 0, size = 0, n = 0;
        const uint8_t *key = NULL;

        if (!blob || !ret_size || !ret_key || !ret_has_key)
                return -EINVAL;
        if (len < 8 || len > MBFILE_MAX || memcmp(blob, "bplist00", 8) != 0)
                return IDS_E_PROTOCOL;
        plist_from_bin(blob, (uint32_t) len, &root);
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return IDS_E_PROTOCOL;
        objects = plist_dict_get_item(root, "$objects");
        top = plist_dict_get_item(root, "$top");
        if (!objects || plist_get_node_type(objects) != PLIST_ARRAY || !top ||
            plist_get_node_type(top) != PLIST_DICT)
                return IDS_E_PROTOCOL;
        uid = plist_dict_get_item(top, "root");
        if (!uid || plist_get_node_type(uid) != PLIST_UID)
                return IDS_E_PROTOCOL;
        plist_get_uid_val(uid, &i);
        if (i >= plist_array_get_size(objects))
                return IDS_E_PROTOCOL;
        obj = plist_array_get_item(objects, (uint32_t) i);
        if (!obj || plist_get_node_type(obj) != PLIST_DICT)
                return IDS_E_PROTOCOL;

        v = plist_dict_get_item(obj, "Size");
        if (!v || plist_get_node_type(v) != PLIST_UINT)
                return IDS_E_PROTOCOL;
        plist_get_uint_val(v, &size);
        if (size > INT64_MAX)
                return IDS_E_PROTOCOL;          /* a negative integer */

        /* EncryptionKey: a reference to an NSData ({NS.data: data}) or, leniently, data. */
        v = plist_dict_get_item(obj, "EncryptionKey");
        if (v && plist_get_node_type(v) == PLIST_UID) {
                plist_get_uid_val(v, &i);
                v = i < plist_array_get_size(objects) ?
                            plist_array_get_item(objects, (uint32_t) i) : NULL;
                if (!v)
                        return IDS_E_PROTOCOL;
                if (plist_get_node_type(v) == PLIST_DICT)
                        v = plist_dict_get_item(v, "NS.data");
        }
        if (v) {
                if (plist_get_node_type(v) != PLIST_DATA)
                        return IDS_E_PROTOCOL;
                key = (const uint8_t *) plist_get_data_ptr(v, &n);
                if (!key || n != CRYPT_BLOB_SIZE)
                        return IDS_E_PROTOCOL;
                memcpy(ret_key, key, CRYPT_BLOB_SIZE);
        }
        *ret_size = size;
        *ret_has_key = key != NULL;
        return 0;
}
