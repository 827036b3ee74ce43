/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated device's backup encryption, as iOS 10.2+ does it when a backup password is
 * set (issue 14; layout from the published decrypters named in the file's tests):
 *
 *   - a backup keybag (TLV blocks: 4-byte tag, u32be length, value) in Manifest.plist's
 *     BackupKeyBag: VERS 4, TYPE 1 (backup), UUID, HMCK, WRAP 0, SALT, ITER, DPWT 1, DPIC,
 *     DPSL, then per class UUID, CLAS, WRAP 2 (passcode), KTYP 0 (AES), WPKY;
 *   - the passcode key = PBKDF2-HMAC-SHA1(PBKDF2-HMAC-SHA256(password, DPSL, DPIC, 32),
 *     SALT, ITER, 32); every class key is RFC 3394 AES key wrap'ed with it (40 bytes);
 *   - each file's own 32-byte key, wrapped with its protection class key, stored as
 *     u32le class + 40 bytes in the MBFile's EncryptionKey; the content AES-256-CBC with a
 *     zero IV and PKCS#7 padding; Manifest.db likewise with ManifestKey (class 4).
 *
 * The emulator knows the password, so it can also open the keybag of the host's previous
 * backup: an incremental backup keeps that keybag and the keys of unchanged files, and a
 * restore decrypts what it pulls back. Iteration counts are small by default (tests run many
 * backups); --backup-kdf-iterations sets them, `realistic` to iOS's 10,000,000 / 10,000.
 */
#include <openssl/crypto.h>

#include "backup-internal.h"

uint32_t backup_kdf_dpic = 1000; /* PBKDF2-SHA256 rounds of a new keybag (iOS: 10,000,000) */
uint32_t backup_kdf_iter = 1000; /* PBKDF2-SHA1 rounds (iOS: 10,000) */

/* The classes a new keybag holds: the file classes 1-5 and the keychain classes 6-11. */
#define KB_FIRST_CLASS 1u
#define KB_LAST_CLASS 11u
#define KB_ITER_MAX 100000000u /* refuse a hostile host's keybag that would take hours */

/* Cleanup helper: frees *c (NULL is fine). */
void evp_cipher_ctx_freep(EVP_CIPHER_CTX **c) {
        EVP_CIPHER_CTX_free(*c);
}

/* RFC 3394 wrap of a 32-byte key under kek: 40 bytes. 0 or -EIO. */
static int aes_wrap(const uint8_t kek[32], const uint8_t key[32], uint8_t out[40]) {
        _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;

        if (!c)
                return -ENOMEM;
        EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        if (EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) != 1 ||
            EVP_EncryptUpdate(c, out, &n, key, 32) != 1 || n != 40 ||
            EVP_EncryptFinal_ex(c, out + n, &m) != 1)
                return -EIO;
        return 0;
}

/* RFC 3394 unwrap of 40 bytes under kek. 0, or -EACCES when the integrity check fails
 * (the wrong key: a wrong password for a class key). */
static int aes_unwrap(const uint8_t kek[32], const uint8_t in[40], uint8_t out[32]) {
        _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        uint8_t buf[48];
        int n = 0, m = 0;

        if (!c)
                return -ENOMEM;
        EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) != 1)
                return -EIO;
        if (EVP_DecryptUpdate(c, buf, &n, in, 40) != 1 || n != 32 ||
            EVP_DecryptFinal_ex(c, buf + n, &m) != 1) {
                OPENSSL_cleanse(buf, sizeof(buf));
                return -EACCES;
        }
        memcpy(out, buf, 32);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
}

/* The passcode key of a keybag. 0 or -EIO. */
static int passcode_key(const char *password, const uint8_t dpsl[20], uint32_t dpic,
                        const uint8_t salt[20], uint32_t iter, uint8_t out[32]) {
        uint8_t round1[32];
        int ok;

        ok = PKCS5_PBKDF2_HMAC(password, (int) strlen(password), dpsl, 20, (int) dpic, EVP_sha256(),
                               32, round1) == 1 &&
             PKCS5_PBKDF2_HMAC((const char *) round1, 32, salt, 20, (int) iter, EVP_sha1(), 32,
                               out) == 1;
        OPENSSL_cleanse(round1, sizeof(round1));
        return ok ? 0 : -EIO;
}

/**
 * keybag_done: forget the keys of @kb (cleansed) and free its blob. @kb itself is the
 * caller's; it is empty afterwards and may be passed again.
 */
void keybag_done(Keybag *kb) {
        free(kb->blob);
        OPENSSL_cleanse(kb, sizeof(*kb));
        *kb = (Keybag){};
}

static void tlv(uint8_t *b, size_t *o, const char *tag, const void *p, uint32_t len) {
        uint32_t be = htonl(len);

        memcpy(b + *o, tag, 4);
        memcpy(b + *o + 4, &be, 4);
        memcpy(b + *o + 8, p, len);
        *o += 8 + len;
}

static void tlv_u32(uint8_t *b, size_t *o, const char *tag, uint32_t v) {
        uint32_t be = htonl(v);

        tlv(b, o, tag, &be, 4);
}

/**
 * keybag_new: a fresh backup keybag for @password (borrowed): random salts, UUIDs and class
 * keys, the current iteration counts (backup_kdf_dpic, backup_kdf_iter).
 * @ret: filled on success (keybag_done() it); untouched on failure.
 *
 * Returns 0, -ENOMEM or -EIO.
 */
int keybag_new(const char *password, Keybag *ret) {
        Keybag kb = {.dpic = backup_kdf_dpic, .iter = backup_kdf_iter};
        uint8_t pk[32], hmck[32], w[40];
        size_t o = 0;
        int r;

        /* header 200 bytes, 108 per class */
        kb.blob = malloc(200 + 108 * (KB_LAST_CLASS - KB_FIRST_CLASS + 1));
        if (!kb.blob)
                return -ENOMEM;
        random_bytes(kb.uuid, sizeof(kb.uuid));
        random_bytes(kb.salt, sizeof(kb.salt));
        random_bytes(kb.dpsl, sizeof(kb.dpsl));
        random_bytes(hmck, sizeof(hmck));
        r = passcode_key(password, kb.dpsl, kb.dpic, kb.salt, kb.iter, pk);
        if (r >= 0)
                r = aes_wrap(pk, hmck, w);
        if (r < 0)
                goto fail;
        tlv_u32(kb.blob, &o, "VERS", 4);
        tlv_u32(kb.blob, &o, "TYPE", 1);
        tlv(kb.blob, &o, "UUID", kb.uuid, 16);
        tlv(kb.blob, &o, "HMCK", w, 40);
        tlv_u32(kb.blob, &o, "WRAP", 0);
        tlv(kb.blob, &o, "SALT", kb.salt, 20);
        tlv_u32(kb.blob, &o, "ITER", kb.iter);
        tlv_u32(kb.blob, &o, "DPWT", 1);
        tlv_u32(kb.blob, &o, "DPIC", kb.dpic);
        tlv(kb.blob, &o, "DPSL", kb.dpsl, 20);
        for (uint32_t c = KB_FIRST_CLASS; c <= KB_LAST_CLASS; c++) {
                uint8_t uuid[16];

                random_bytes(uuid, sizeof(uuid));
                random_bytes(kb.class_key[c], 32);
                r = aes_wrap(pk, kb.class_key[c], w);
                if (r < 0)
                        goto fail;
                kb.has_class[c] = true;
                tlv(kb.blob, &o, "UUID", uuid, 16);
                tlv_u32(kb.blob, &o, "CLAS", c);
                tlv_u32(kb.blob, &o, "WRAP", 2);
                tlv_u32(kb.blob, &o, "KTYP", 0);
                tlv(kb.blob, &o, "WPKY", w, 40);
        }
        kb.blob_len = o;
        OPENSSL_cleanse(pk, sizeof(pk));
        OPENSSL_cleanse(hmck, sizeof(hmck));
        *ret = kb;
        return 0;
fail:
        OPENSSL_cleanse(pk, sizeof(pk));
        keybag_done(&kb);
        return r;
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/**
 * keybag_unlock: parse a keybag (@blob, @len: untrusted, from the host's Manifest.plist) and
 * unwrap its passcode-wrapped class keys with @password.
 * @ret: filled on success (keybag_done() it), with a copy of the blob; untouched on failure.
 *
 * Returns 0; -EBADMSG if the blob is not a keybag with DPSL/DPIC/SALT/ITER (e.g. one from
 * before iOS 10.2, or the emulator's own unencrypted placeholder); -EACCES if a class key
 * does not unwrap (a wrong password); -ENOMEM, -EIO.
 */
int keybag_unlock(const void *blob, size_t len, const char *password, Keybag *ret) {
        const uint8_t *b = blob;
        Keybag kb = {};
        uint8_t wpky[KB_LAST_CLASS + 1][40], pk[32];
        bool have_wpky[KB_LAST_CLASS + 1] = {}, in_class = false;
        bool have_salt = false, have_dpsl = false, have_uuid = false;
        uint32_t cls = 0, wrap = 0;
        int r = 0;

        for (size_t o = 0; o + 8 <= len;) {
                const char *tag = (const char *) b + o;
                uint32_t n = be32(b + o + 4);
                const uint8_t *v = b + o + 8;

                if (n > len - o - 8)
                        return -EBADMSG;
                o += 8 + n;
                if (memcmp(tag, "UUID", 4) == 0) {
                        if (have_uuid) {
                                in_class = true; /* every later UUID starts a class key */
                                cls = 0;
                                wrap = 0;
                        } else if (n == 16) {
                                memcpy(kb.uuid, v, 16);
                                have_uuid = true;
                        }
                } else if (in_class && memcmp(tag, "CLAS", 4) == 0 && n == 4)
                        cls = be32(v);
                else if (in_class && memcmp(tag, "WRAP", 4) == 0 && n == 4)
                        wrap = be32(v);
                else if (in_class && memcmp(tag, "WPKY", 4) == 0) {
                        /* WRAP & 2: wrapped with the passcode key; others need the device. */
                        if (cls < 1 || cls > KB_LAST_CLASS || !(wrap & 2) || n != 40)
                                continue;
                        memcpy(wpky[cls], v, 40);
                        have_wpky[cls] = true;
                } else if (!in_class && memcmp(tag, "SALT", 4) == 0 && n == 20) {
                        memcpy(kb.salt, v, 20);
                        have_salt = true;
                } else if (!in_class && memcmp(tag, "DPSL", 4) == 0 && n == 20) {
                        memcpy(kb.dpsl, v, 20);
                        have_dpsl = true;
                } else if (!in_class && memcmp(tag, "ITER", 4) == 0 && n == 4)
                        kb.iter = be32(v);
                else if (!in_class && memcmp(tag, "DPIC", 4) == 0 && n == 4)
                        kb.dpic = be32(v);
        }
        if (!have_salt || !have_dpsl || kb.iter == 0 || kb.dpic == 0 || kb.iter > KB_ITER_MAX ||
            kb.dpic > KB_ITER_MAX)
                return -EBADMSG;

        r = passcode_key(password, kb.dpsl, kb.dpic, kb.salt, kb.iter, pk);
        for (uint32_t c = 1; r >= 0 && c <= KB_LAST_CLASS; c++)
                if (have_wpky[c]) {
                        r = aes_unwrap(pk, wpky[c], kb.class_key[c]);
                        kb.has_class[c] = r >= 0;
                }
        OPENSSL_cleanse(pk, sizeof(pk));
        if (r >= 0 && !kb.has_class[4])
                r = -EBADMSG; /* no class for ManifestKey */
        if (r >= 0 && !(kb.blob = malloc(len)))
                r = -ENOMEM;
        if (r < 0) {
                keybag_done(&kb);
                return r;
        }
        memcpy(kb.blob, blob, len);
        kb.blob_len = len;
        *ret = kb;
        return 0;
}

/**
 * keybag_new_key: a fresh random 32-byte key for protection class @cls, in @key, and its
 * wrapped form as MBFile's EncryptionKey / Manifest.plist's ManifestKey store it in @blob:
 * u32le class, then the RFC 3394 wrap under the class key of @kb (borrowed).
 *
 * Returns 0, -ENOKEY if @kb has no such class, -EIO.
 */
int keybag_new_key(const Keybag *kb, uint32_t cls, uint8_t key[32], uint8_t blob[KEY_BLOB_LEN]) {
        if (cls > KB_LAST_CLASS || !kb->has_class[cls])
                return -ENOKEY;
        random_bytes(key, 32);
        blob[0] = (uint8_t) cls;
        blob[1] = (uint8_t) (cls >> 8);
        blob[2] = (uint8_t) (cls >> 16);
        blob[3] = (uint8_t) (cls >> 24);
        return aes_wrap(kb->class_key[cls], key, blob + 4);
}

/**
 * keybag_open_key: the key inside an EncryptionKey/ManifestKey @blob (u32le class + 40
 * bytes, untrusted) in @key, unwrapped with @kb's class key.
 *
 * Returns 0, -ENOKEY (no such class in @kb), -EACCES (does not unwrap).
 */
int keybag_open_key(const Keybag *kb, const uint8_t blob[KEY_BLOB_LEN], uint8_t key[32]) {
        uint32_t cls = blob[0] | (uint32_t) blob[1] << 8 | (uint32_t) blob[2] << 16 |
                       (uint32_t) blob[3] << 24;

        if (cls > KB_LAST_CLASS || !kb->has_class[cls])
                return -ENOKEY;
        return aes_unwrap(kb->class_key[cls], blob + 4, key);
}

/**
 * file_class: the protection class the emulated device gives the file with fileID @id in an
 * encrypted backup. Mostly 3 (NSFileProtectionCompleteUntilFirstUserAuthentication, what
 * most of iOS uses), some 1, 2 and 4, so a host cannot get away with assuming one class.
 * Stable per fileID, so an incremental backup keeps a file's class.
 */
uint32_t file_class(const char *id) {
        static const uint32_t classes[8] = {3, 3, 1, 3, 2, 3, 4, 3};

        return classes[hex_byte(id) & 7];
}

/**
 * cbc_new: an AES-256-CBC context with a zero IV and PKCS#7 padding, encrypting if @encrypt,
 * for @key (copied). NULL on failure; free with EVP_CIPHER_CTX_free().
 */
EVP_CIPHER_CTX *cbc_new(const uint8_t key[32], bool encrypt) {
        static const uint8_t iv[16];
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();

        if (c && EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, iv, encrypt ? 1 : 0) != 1) {
                EVP_CIPHER_CTX_free(c);
                return NULL;
        }
        return c;
}

/**
 * file_decrypt: decrypt the file @in (AES-256-CBC, zero IV, PKCS#7) with @key into a new
 * file @out (0600, replaced if it exists), streaming. Both paths borrowed.
 * @ret_size: the plaintext size (may be NULL).
 *
 * Returns 0, -errno of open/read/write, -EBADMSG if the length is not a multiple of 16 or the
 * padding is not valid (a wrong key, or a damaged file).
 */
int file_decrypt(const char *in, const char *out, const uint8_t key[32], uint64_t *ret_size) {
        _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = cbc_new(key, false);
        _cleanup_(closep) int ifd = open(in, O_RDONLY | O_CLOEXEC);
        _cleanup_(closep) int ofd = -1;
        _cleanup_(freep) uint8_t *buf = malloc(2 * BLOCK_MAX + 32);
        uint64_t size = 0;
        int n = 0;

        if (!c || !buf)
                return -ENOMEM;
        if (ifd < 0)
                return -errno;
        ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (ofd < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(ifd, buf, BLOCK_MAX);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                if (EVP_DecryptUpdate(c, buf + BLOCK_MAX, &n, buf, (int) k) != 1)
                        return -EBADMSG;
                if (n > 0 && write(ofd, buf + BLOCK_MAX, (size_t) n) != n)
                        return errno ? -errno : -EIO;
                size += (uint64_t) n;
        }
        if (EVP_DecryptFinal_ex(c, buf, &n) != 1)
                return -EBADMSG;
        if (n > 0 && write(ofd, buf, (size_t) n) != n)
                return errno ? -errno : -EIO;
        size += (uint64_t) n;
        if (ret_size)
                *ret_size = size;
        return 0;
}

/**
 * manifest_db_decrypt: open the keybag of a backup's @manifest (Manifest.plist, borrowed)
 * with @password and decrypt its Manifest.db from @enc_path into @plain_path (paths
 * borrowed).
 * @ret_kb: the opened keybag on success (keybag_done() it); untouched on failure.
 *
 * Returns 0; -EACCES for a wrong password; -EBADMSG when the backup has no usable
 * BackupKeyBag/ManifestKey or Manifest.db does not decrypt; -ENOMEM; -errno of the files.
 */
int manifest_db_decrypt(plist_t manifest, const char *password, const char *enc_path,
                        const char *plain_path, Keybag *ret_kb) {
        plist_t bag = plist_dict_get_item(manifest, "BackupKeyBag");
        plist_t mk = plist_dict_get_item(manifest, "ManifestKey");
        const char *blob, *mkey;
        uint64_t blob_len = 0, mkey_len = 0;
        uint8_t key[32];
        Keybag kb;
        int r;

        blob = bag && plist_get_node_type(bag) == PLIST_DATA ? plist_get_data_ptr(bag, &blob_len)
                                                             : NULL;
        mkey = mk && plist_get_node_type(mk) == PLIST_DATA ? plist_get_data_ptr(mk, &mkey_len)
                                                           : NULL;
        if (!blob || !mkey || mkey_len != KEY_BLOB_LEN || !password)
                return -EBADMSG;
        r = keybag_unlock(blob, blob_len, password, &kb);
        if (r < 0)
                return r;
        r = keybag_open_key(&kb, (const uint8_t *) mkey, key);
        if (r >= 0)
                r = file_decrypt(enc_path, plain_path, key, NULL);
        OPENSSL_cleanse(key, sizeof(key));
        if (r < 0) {
                keybag_done(&kb);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret_kb = kb;
        return 0;
}
