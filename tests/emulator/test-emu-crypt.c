/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An independent decrypter of iOS encrypted backups, to check the emulator's encryption
 * (backup-crypt.c) from the outside. Written from the published format (issue 14 and the
 * open-source decrypters it names), not from the emulator's code, and sharing none of it:
 * its own TLV parser, OpenSSL 3's EVP_KDF for PBKDF2 (the emulator uses PKCS5_PBKDF2_HMAC),
 * its own RFC 3394 unwrap on AES-256-ECB (the emulator uses OpenSSL's wrap cipher), its own
 * NSKeyedArchiver reading.
 *
 *   test-emu-crypt                         known-answer tests of the primitives (make check)
 *   test-emu-crypt verify DIR PW PROFILE   DIR = <backup root>/<UDID> made by idevicebackup2:
 *                                          unlock the keybag with PW, decrypt Manifest.db,
 *                                          open it with SQLite, decrypt every file and compare
 *                                          it with PROFILE/backup/<domain>/<relativePath>
 *
 * verify exits 0 when everything matches, 3 with "FAIL: wrong password" when the keybag does
 * not open with PW, 1 with "FAIL: ..." on any other difference, 2 on usage errors.
 * tests/conformance/idevicebackup2-encryption.test drives it with Debian's idevicebackup2.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <plist/plist.h>
#include <sqlite3.h>

#define EXIT_WRONG_PASSWORD 3

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
        va_list ap;

        printf("FAIL: ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        return -1;
}

/* ---- primitives ------------------------------------------------------------------------ */

/* PBKDF2 through OpenSSL 3's EVP_KDF; digest "SHA256" or "SHA1". 0 or -1. */
static int pbkdf2(const char *digest, const void *pw, size_t pw_len, const void *salt,
                  size_t salt_len, uint32_t iter, uint8_t *out, size_t out_len) {
        EVP_KDF *kdf = EVP_KDF_fetch(NULL, "PBKDF2", NULL);
        EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
        OSSL_PARAM p[5];
        int ok;

        p[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *) pw, pw_len);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) salt, salt_len);
        p[2] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_ITER, &iter);
        p[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) digest, 0);
        p[4] = OSSL_PARAM_construct_end();
        ok = ctx && EVP_KDF_derive(ctx, out, out_len, p) == 1;
        EVP_KDF_CTX_free(ctx);
        EVP_KDF_free(kdf);
        return ok ? 0 : -1;
}

/* One AES-256 block decryption (ECB, no padding). */
static int aes_block_decrypt(const uint8_t key[32], const uint8_t in[16], uint8_t out[16]) {
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n = 0, ok;

        ok = c && EVP_DecryptInit_ex2(c, EVP_aes_256_ecb(), key, NULL, NULL) == 1 &&
             EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_DecryptUpdate(c, out, &n, in, 16) == 1 &&
             n == 16;
        EVP_CIPHER_CTX_free(c);
        return ok ? 0 : -1;
}

/* RFC 3394 §2.2.2 unwrap (index form) of in (8 * (k + 1) bytes) into out (8 * k bytes). 0, or
 * -1 when the integrity check value is not A6A6A6A6A6A6A6A6 (the wrong key). */
static int rfc3394_unwrap(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out) {
        size_t k = in_len / 8 - 1;
        uint8_t a[8], b[16];

        if (in_len % 8 || k < 2)
                return -1;
        memcpy(a, in, 8);
        memcpy(out, in + 8, 8 * k);
        for (int j = 5; j >= 0; j--)
                for (size_t i = k; i >= 1; i--) {
                        uint64_t t = (uint64_t) k * (uint64_t) j + i;

                        for (int x = 7; x >= 0; x--, t >>= 8)
                                a[x] ^= (uint8_t) t;
                        memcpy(b, a, 8);
                        memcpy(b + 8, out + 8 * (i - 1), 8);
                        if (aes_block_decrypt(kek, b, b) < 0)
                                return -1;
                        memcpy(a, b, 8);
                        memcpy(out + 8 * (i - 1), b + 8, 8);
                }
        for (int x = 0; x < 8; x++)
                if (a[x] != 0xa6)
                        return -1;
        return 0;
}

/* AES-256-CBC, zero IV, PKCS#7 padding checked: the whole buffer. Returns the plaintext length,
 * or -1 (not a multiple of 16, bad padding). out needs in_len bytes. */
static long cbc_decrypt(const uint8_t key[32], const uint8_t *in, size_t in_len, uint8_t *out) {
        static const uint8_t iv[16];
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n = 0, m = 0, ok;

        if (in_len == 0 || in_len % 16)
                ok = 0;
        else
                ok = c && EVP_DecryptInit_ex2(c, EVP_aes_256_cbc(), key, iv, NULL) == 1 &&
                     EVP_DecryptUpdate(c, out, &n, in, (int) in_len) == 1 &&
                     EVP_DecryptFinal_ex(c, out + n, &m) == 1;
        EVP_CIPHER_CTX_free(c);
        return ok ? (long) n + m : -1;
}

static int unhex(const char *h, uint8_t *out, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (sscanf(h + 2 * i, "%2hhx", &out[i]) != 1)
                        return -1;
        return 0;
}

/* Known answers: RFC 3394 §4.6, RFC 6070 (PBKDF2-SHA1) and the PBKDF2-SHA256 vector of
 * RFC 7914 §11 style tables ("password"/"salt", 1 and 2 rounds); CBC padding errors. */
static int selftest(void) {
        uint8_t kek[32], wrapped[40], key[32], want[32], out[32];
        uint8_t ct[48], pt[48];
        static const uint8_t zero[32];

        unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", kek, 32);
        unhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21",
              wrapped, 40);
        unhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", want, 32);
        if (rfc3394_unwrap(kek, wrapped, 40, key) < 0 || memcmp(key, want, 32) != 0)
                return fail("RFC 3394 4.6 unwrap");
        kek[0] ^= 1;
        if (rfc3394_unwrap(kek, wrapped, 40, key) == 0)
                return fail("RFC 3394 unwrap with a wrong KEK succeeded");

        if (pbkdf2("SHA1", "password", 8, "salt", 4, 1, out, 20) < 0 ||
            unhex("0c60c80f961f0e71f3a9b524af6012062fe037a6", want, 20) < 0 ||
            memcmp(out, want, 20) != 0)
                return fail("PBKDF2-SHA1 RFC 6070 #1");
        if (pbkdf2("SHA1", "password", 8, "salt", 4, 2, out, 20) < 0 ||
            unhex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957", want, 20) < 0 ||
            memcmp(out, want, 20) != 0)
                return fail("PBKDF2-SHA1 RFC 6070 #2");
        if (pbkdf2("SHA256", "password", 8, "salt", 4, 1, out, 32) < 0 ||
            unhex("120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b", want, 32) <
                    0 ||
            memcmp(out, want, 32) != 0)
                return fail("PBKDF2-SHA256 'password'/'salt'/1");

        /* CBC: 20 bytes (two blocks, 12 of padding) with OpenSSL's padding, decrypted back;
         * byte 15 of the first block flipped flips the last padding byte: always refused. */
        {
                EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
                int n = 0, m = 0;

                if (!c || EVP_EncryptInit_ex2(c, EVP_aes_256_cbc(), zero, zero, NULL) != 1 ||
                    EVP_EncryptUpdate(c, ct, &n, (const uint8_t *) "hello, twenty bytes!", 20) !=
                            1 ||
                    EVP_EncryptFinal_ex(c, ct + n, &m) != 1 || n + m != 32) {
                        EVP_CIPHER_CTX_free(c);
                        return fail("CBC encrypt");
                }
                EVP_CIPHER_CTX_free(c);
        }
        if (cbc_decrypt(zero, ct, 32, pt) != 20 || memcmp(pt, "hello, twenty bytes!", 20) != 0)
                return fail("CBC decrypt");
        if (cbc_decrypt(zero, ct, 31, pt) != -1)
                return fail("CBC of 31 bytes accepted");
        ct[15] ^= 1;
        if (cbc_decrypt(zero, ct, 32, pt) != -1)
                return fail("CBC with broken padding accepted");
        printf("ok: RFC 3394, PBKDF2-SHA1/SHA256, AES-256-CBC padding\n");
        return 0;
}

/* ---- the backup ------------------------------------------------------------------------- */

typedef struct Bag {
        uint32_t vers, type, dpic, iter;
        uint8_t salt[20], dpsl[20];
        bool have_salt, have_dpsl;
        bool have[32];
        uint32_t wrap[32];
        uint8_t wpky[32][40];
        uint8_t key[32][32]; /* unwrapped class keys */
        bool open[32];
} Bag;

static uint32_t rd_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* TLV blocks: the first UUID is the bag's, each later one opens a class entry. */
static int bag_parse(const uint8_t *b, size_t len, Bag *bag) {
        int uuids = 0;
        uint32_t cls = 0, wrap = 0;

        *bag = (Bag){};
        for (size_t o = 0; o + 8 <= len;) {
                uint32_t n = rd_be32(b + o + 4);
                const uint8_t *v = b + o + 8;
                char tag[5] = {0};

                memcpy(tag, b + o, 4);
                if (n > len - o - 8)
                        return fail("keybag: block '%s' runs past the end", tag);
                o += 8 + n;
                if (strcmp(tag, "UUID") == 0) {
                        uuids++;
                        cls = wrap = 0;
                        continue;
                }
                if (uuids >= 2) {
                        if (strcmp(tag, "CLAS") == 0 && n == 4)
                                cls = rd_be32(v);
                        else if (strcmp(tag, "WRAP") == 0 && n == 4)
                                wrap = rd_be32(v);
                        else if (strcmp(tag, "WPKY") == 0 && n == 40 && cls > 0 && cls < 32) {
                                bag->have[cls] = true;
                                bag->wrap[cls] = wrap;
                                memcpy(bag->wpky[cls], v, 40);
                        }
                        continue;
                }
                if (strcmp(tag, "VERS") == 0 && n == 4)
                        bag->vers = rd_be32(v);
                else if (strcmp(tag, "TYPE") == 0 && n == 4)
                        bag->type = rd_be32(v);
                else if (strcmp(tag, "ITER") == 0 && n == 4)
                        bag->iter = rd_be32(v);
                else if (strcmp(tag, "DPIC") == 0 && n == 4)
                        bag->dpic = rd_be32(v);
                else if (strcmp(tag, "SALT") == 0 && n == 20) {
                        memcpy(bag->salt, v, 20);
                        bag->have_salt = true;
                } else if (strcmp(tag, "DPSL") == 0 && n == 20) {
                        memcpy(bag->dpsl, v, 20);
                        bag->have_dpsl = true;
                }
        }
        if (!bag->have_salt || !bag->have_dpsl || !bag->iter || !bag->dpic)
                return fail("keybag without SALT/ITER/DPSL/DPIC");
        if (bag->type != 1)
                return fail("keybag TYPE %u, not 1 (backup)", bag->type);
        return 0;
}

/* 0, 1 when the password is wrong, -1 on other errors. */
static int bag_unlock(Bag *bag, const char *pw) {
        uint8_t r1[32], pk[32];
        int n = 0;

        if (pbkdf2("SHA256", pw, strlen(pw), bag->dpsl, 20, bag->dpic, r1, 32) < 0 ||
            pbkdf2("SHA1", r1, 32, bag->salt, 20, bag->iter, pk, 32) < 0)
                return fail("PBKDF2");
        for (int c = 1; c < 32; c++) {
                if (!bag->have[c] || !(bag->wrap[c] & 2))
                        continue;
                if (rfc3394_unwrap(pk, bag->wpky[c], 40, bag->key[c]) < 0)
                        return 1;
                bag->open[c] = true;
                n++;
        }
        return n > 0 ? 0 : fail("keybag has no passcode-wrapped class keys");
}

/* A key blob (u32le class + 40 bytes) opened with the bag. */
static int bag_key(const Bag *bag, const uint8_t *blob, size_t len, uint32_t *ret_cls,
                   uint8_t key[32]) {
        uint32_t cls;

        if (len != 44)
                return fail("key blob of %zu bytes, not 44", len);
        cls = blob[0] | (uint32_t) blob[1] << 8 | (uint32_t) blob[2] << 16 |
              (uint32_t) blob[3] << 24;
        if (cls >= 32 || !bag->open[cls])
                return fail("key of class %u, which the keybag does not open", cls);
        if (rfc3394_unwrap(bag->key[cls], blob + 4, 40, key) < 0)
                return fail("key of class %u does not unwrap", cls);
        *ret_cls = cls;
        return 0;
}

static int slurp(const char *path, uint8_t **ret, size_t *ret_len) {
        FILE *f = fopen(path, "re");
        uint8_t *b = NULL;
        long n;

        if (!f)
                return -1;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
            (b = malloc((size_t) n + 1)) && fread(b, 1, (size_t) n, f) == (size_t) n) {
                fclose(f);
                *ret = b;
                *ret_len = (size_t) n;
                return 0;
        }
        free(b);
        fclose(f);
        return -1;
}

static plist_t archive_obj(plist_t objs, plist_t ref) {
        uint64_t i = 0;

        if (!ref || plist_get_node_type(ref) != PLIST_UID)
                return NULL;
        plist_get_uid_val(ref, &i);
        return i < plist_array_get_size(objs) ? plist_array_get_item(objs, (uint32_t) i) : NULL;
}

static uint64_t dict_u(plist_t d, const char *k) {
        plist_t n = plist_dict_get_item(d, k);
        uint64_t v = UINT64_MAX;

        if (n && plist_get_node_type(n) == PLIST_UINT)
                plist_get_uint_val(n, &v);
        return v;
}

typedef struct Totals {
        unsigned files, per_class[32];
        uint64_t bytes;
} Totals;

/* One regular-file row: decrypt <dir>/<xx>/<id> and compare it with the profile's file. */
static int check_file(const Bag *bag, const char *dir, const char *profile, const char *id,
                      const char *domain, const char *rel, const void *blob, int blen, Totals *t) {
        plist_t p = NULL, objs, top, root, ek;
        uint8_t key[32], *ct = NULL, *pt = NULL, *want = NULL, digest[20];
        size_t ct_len = 0, want_len = 0;
        uint64_t size, pclass, dl = 0;
        uint32_t cls = 0;
        char path[8192], hex[41];
        const char *data;
        long n;
        int r = -1;

        /* fileID = SHA-1 of "domain-relativePath" */
        snprintf(path, sizeof(path), "%s-%s", domain, rel);
        EVP_Digest(path, strlen(path), digest, NULL, EVP_sha1(), NULL);
        for (int i = 0; i < 20; i++)
                snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        if (strcmp(hex, id) != 0)
                return fail("%s-%s: fileID %s, not %s", domain, rel, id, hex);

        plist_from_bin(blob, (uint32_t) blen, &p);
        if (!p)
                return fail("%s: file column is not a binary plist", id);
        objs = plist_dict_get_item(p, "$objects");
        top = plist_dict_get_item(p, "$top");
        root = objs && top ? archive_obj(objs, plist_dict_get_item(top, "root")) : NULL;
        if (!root || plist_get_node_type(root) != PLIST_DICT) {
                fail("%s: no MBFile root object", id);
                goto out;
        }
        size = dict_u(root, "Size");
        pclass = dict_u(root, "ProtectionClass");
        ek = archive_obj(objs, plist_dict_get_item(root, "EncryptionKey"));
        ek = ek && plist_get_node_type(ek) == PLIST_DICT ? plist_dict_get_item(ek, "NS.data")
                                                         : NULL;
        data = ek && plist_get_node_type(ek) == PLIST_DATA ? plist_get_data_ptr(ek, &dl) : NULL;
        if (!data) {
                fail("%s (%s/%s): no EncryptionKey", id, domain, rel);
                goto out;
        }
        if (bag_key(bag, (const uint8_t *) data, dl, &cls, key) < 0)
                goto out;
        if (cls != pclass) {
                fail("%s: EncryptionKey of class %u, ProtectionClass %llu", id, cls,
                     (unsigned long long) pclass);
                goto out;
        }
        snprintf(path, sizeof(path), "%s/%.2s/%s", dir, id, id);
        if (slurp(path, &ct, &ct_len) < 0) {
                fail("%s: cannot read '%s'", id, path);
                goto out;
        }
        pt = malloc(ct_len + 16);
        if (!pt)
                goto out;
        n = cbc_decrypt(key, ct, ct_len, pt);
        if (n < 0) {
                fail("%s (%s/%s): does not decrypt (%zu bytes, bad length or padding)", id, domain,
                     rel, ct_len);
                goto out;
        }
        if ((uint64_t) n != size) {
                fail("%s: decrypted %ld bytes, Manifest.db says %llu", id, n,
                     (unsigned long long) size);
                goto out;
        }
        snprintf(path, sizeof(path), "%s/backup/%s/%s", profile, domain, rel);
        if (slurp(path, &want, &want_len) < 0) {
                fail("%s/%s is in the backup, not on the device", domain, rel);
                goto out;
        }
        if (want_len != (size_t) n || memcmp(want, pt, want_len) != 0) {
                fail("%s/%s: decrypted content differs from the device's", domain, rel);
                goto out;
        }
        t->files++;
        t->bytes += (uint64_t) n;
        t->per_class[cls]++;
        r = 0;
out:
        free(ct);
        free(pt);
        free(want);
        plist_free(p);
        return r;
}

static unsigned count_files(const char *dir) {
        char cmd[8192];
        unsigned n = 0;
        FILE *f;

        snprintf(cmd, sizeof(cmd), "find '%s/backup' -type f | wc -l", dir);
        f = popen(cmd, "r");
        if (f) {
                if (fscanf(f, "%u", &n) != 1)
                        n = 0;
                pclose(f);
        }
        return n;
}

static int verify(const char *dir, const char *pw, const char *profile) {
        char path[4096], db_path[] = "/tmp/test-emu-crypt-XXXXXX";
        uint8_t *buf = NULL, *plain = NULL, key[32];
        size_t len = 0;
        plist_t mp = NULL, n;
        const char *d;
        uint64_t dl = 0;
        uint32_t cls = 0;
        Bag bag;
        Totals t = {};
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        long plen;
        int fd = -1, r = 1, rc;

        snprintf(path, sizeof(path), "%s/Manifest.plist", dir);
        if (slurp(path, &buf, &len) < 0) {
                fail("cannot read %s", path);
                goto out;
        }
        plist_from_memory((const char *) buf, (uint32_t) len, &mp);
        free(buf);
        buf = NULL;
        if (!mp || plist_get_node_type(mp) != PLIST_DICT) {
                fail("Manifest.plist is not a dictionary");
                goto out;
        }
        n = plist_dict_get_item(mp, "IsEncrypted");
        {
                uint8_t b = 0;
                if (!n || plist_get_node_type(n) != PLIST_BOOLEAN ||
                    (plist_get_bool_val(n, &b), !b)) {
                        fail("Manifest.plist: IsEncrypted is not true");
                        goto out;
                }
        }
        n = plist_dict_get_item(mp, "BackupKeyBag");
        d = n && plist_get_node_type(n) == PLIST_DATA ? plist_get_data_ptr(n, &dl) : NULL;
        if (!d || bag_parse((const uint8_t *) d, dl, &bag) < 0)
                goto out;
        rc = bag_unlock(&bag, pw);
        if (rc > 0) {
                printf("FAIL: wrong password: the keybag's class keys do not unwrap\n");
                r = EXIT_WRONG_PASSWORD;
                goto out;
        }
        if (rc < 0)
                goto out;

        n = plist_dict_get_item(mp, "ManifestKey");
        d = n && plist_get_node_type(n) == PLIST_DATA ? plist_get_data_ptr(n, &dl) : NULL;
        if (!d) {
                fail("Manifest.plist has no ManifestKey");
                goto out;
        }
        if (bag_key(&bag, (const uint8_t *) d, dl, &cls, key) < 0)
                goto out;
        snprintf(path, sizeof(path), "%s/Manifest.db", dir);
        if (slurp(path, &buf, &len) < 0 || !(plain = malloc(len + 16))) {
                fail("cannot read %s", path);
                goto out;
        }
        if (len >= 16 && memcmp(buf, "SQLite format 3", 16) == 0) {
                fail("Manifest.db is not encrypted");
                goto out;
        }
        plen = cbc_decrypt(key, buf, len, plain);
        if (plen < 16 || memcmp(plain, "SQLite format 3", 16) != 0) {
                fail("Manifest.db does not decrypt to an SQLite database");
                goto out;
        }
        fd = mkstemp(db_path);
        if (fd < 0 || write(fd, plain, (size_t) plen) != plen) {
                fail("cannot write the decrypted Manifest.db");
                goto out;
        }
        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT fileID, domain, relativePath, file FROM Files "
                               "WHERE flags = 1",
                               -1, &st, NULL) != SQLITE_OK) {
                fail("decrypted Manifest.db: %s", db ? sqlite3_errmsg(db) : "cannot open");
                goto out;
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const char *domain = (const char *) sqlite3_column_text(st, 1);
                const char *rel = (const char *) sqlite3_column_text(st, 2);

                if (!id || !domain || !rel || strlen(id) != 40 || strchr(id, '/') ||
                    strstr(rel, "..") || strchr(domain, '/')) {
                        fail("a row with a bad fileID or path");
                        goto out;
                }
                if (check_file(&bag, dir, profile, id, domain, rel, sqlite3_column_blob(st, 3),
                               sqlite3_column_bytes(st, 3), &t) < 0)
                        goto out;
        }
        if (rc != SQLITE_DONE) {
                fail("decrypted Manifest.db: %s", sqlite3_errmsg(db));
                goto out;
        }
        if (t.files != count_files(profile)) {
                fail("Manifest.db lists %u files, the device has %u", t.files,
                     count_files(profile));
                goto out;
        }
        printf("ok: keybag VERS %u, DPIC %u, ITER %u; Manifest.db (class %u key) and %u files "
               "(%llu bytes) decrypted and equal to the device's; files per class:",
               bag.vers, bag.dpic, bag.iter, cls, t.files, (unsigned long long) t.bytes);
        for (int c = 1; c < 32; c++)
                if (t.per_class[c])
                        printf(" %d:%u", c, t.per_class[c]);
        printf("\n");
        r = 0;
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (fd >= 0) {
                close(fd);
                unlink(db_path);
        }
        free(buf);
        free(plain);
        plist_free(mp);
        return r;
}

int main(int argc, char **argv) {
        if (argc == 1)
                return selftest() < 0 ? 1 : 0;
        if (argc == 5 && strcmp(argv[1], "verify") == 0)
                return verify(argv[2], argv[3], argv[4]);
        fprintf(stderr, "usage: test-emu-crypt [verify BACKUP_DIR PASSWORD PROFILE_DIR]\n");
        return 2;
}
