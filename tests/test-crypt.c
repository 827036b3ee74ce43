/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/crypt.c against published vectors (RFC 3394 §4.6, RFC 6070's
 * PBKDF2-HMAC-SHA1, the usual PBKDF2-HMAC-SHA256 and RFC 7914 §11 vectors), a keybag built
 * here with OpenSSL's own key wrap (right and wrong password, a corrupt later class key),
 * a hostile keybag corpus (truncated, huge lengths, missing tags, misplaced fields) and
 * AES-256-CBC streams (exact, padding damaged, truncated, too long, a Size that lies), and
 * MBFile records (Size, EncryptionKey; missing, mistyped, out of range, damaged).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <plist/plist.h>
#include <openssl/evp.h>

#include "crypt.h"
#include "macro.h"
#include "idevicesync.h"
#include "test-util.h"

static size_t unhex(const char *s, uint8_t *out) {
        size_t n = 0;

        for (; s[0] && s[1]; s += 2) {
                unsigned v;

                if (s[0] == ' ') {
                        s--;
                        continue;
                }
                sscanf(s, "%2x", &v);
                out[n++] = (uint8_t) v;
        }
        return n;
}

static void test_pbkdf2(void) {
        static const struct {
                const char *digest;
                const char *pw;
                size_t pw_len;
                const char *salt;
                size_t salt_len;
                uint32_t iter;
                const char *want;
        } t[] = {
                /* RFC 6070 */
                { "SHA1", "password", 8, "salt", 4, 1,
                  "0c60c80f961f0e71f3a9b524af6012062fe037a6" },
                { "SHA1", "password", 8, "salt", 4, 2,
                  "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957" },
                { "SHA1", "password", 8, "salt", 4, 4096,
                  "4b007901b765489abead49d926f721d065a429c1" },
                { "SHA1", "passwordPASSWORDpassword", 24,
                  "saltSALTsaltSALTsaltSALTsaltSALTsalt", 36, 4096,
                  "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038" },
                { "SHA1", "pass\0word", 9, "sa\0lt", 5, 4096,
                  "56fa6aa75548099dcc37d7f03425e0c3" },
                /* PBKDF2-HMAC-SHA256 */
                { "SHA256", "password", 8, "salt", 4, 1,
                  "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b" },
                { "SHA256", "password", 8, "salt", 4, 2,
                  "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43" },
                { "SHA256", "password", 8, "salt", 4, 4096,
                  "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" },
                /* RFC 7914 §11 */
                { "SHA256", "passwd", 6, "salt", 4, 1,
                  "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                  "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                uint8_t want[64], got[64];
                size_t n = unhex(t[i].want, want);

                ASSERT_EQ(crypt_pbkdf2(t[i].digest, t[i].pw, t[i].pw_len, t[i].salt,
                                       t[i].salt_len, t[i].iter, got, n), 0);
                ASSERT_TRUE(memcmp(got, want, n) == 0);
        }
        ASSERT_EQ(crypt_pbkdf2("SHA1", "x", 1, "s", 1, 0, (uint8_t[20]) {}, 20), -EINVAL);
}

static void test_unwrap(void) {
        uint8_t kek[32], wrapped[40], want[32], got[32];

        /* RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK. */
        unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", kek);
        unhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326"
              "CBC7F0E71A99F43BFB988B9B7A02DD21", wrapped);
        unhex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", want);
        ASSERT_EQ(crypt_aes_unwrap(kek, wrapped, sizeof(wrapped), got), 0);
        ASSERT_TRUE(memcmp(got, want, 32) == 0);

        /* Any changed bit fails the integrity check; so does another KEK. */
        wrapped[17] ^= 0x01;
        ASSERT_EQ(crypt_aes_unwrap(kek, wrapped, sizeof(wrapped), got), -EBADMSG);
        wrapped[17] ^= 0x01;
        kek[0] ^= 0x80;
        ASSERT_EQ(crypt_aes_unwrap(kek, wrapped, sizeof(wrapped), got), -EBADMSG);
        ASSERT_EQ(crypt_aes_unwrap(kek, wrapped, 39, got), -EINVAL);
        ASSERT_EQ(crypt_aes_unwrap(kek, wrapped, 16, got), -EINVAL);
}

/* ---- keybags built here ----------------------------------------------------------------- */

typedef struct Buf {
        uint8_t d[4096];
        size_t n;
} Buf;

static void put(Buf *b, const char *tag, const void *v, uint32_t len) {
        memcpy(b->d + b->n, tag, 4);
        b->d[b->n + 4] = (uint8_t) (len >> 24);
        b->d[b->n + 5] = (uint8_t) (len >> 16);
        b->d[b->n + 6] = (uint8_t) (len >> 8);
        b->d[b->n + 7] = (uint8_t) len;
        memcpy(b->d + b->n + 8, v, len);
        b->n += 8 + len;
}

static void put_u32(Buf *b, const char *tag, uint32_t v) {
        uint8_t x[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8),
                         (uint8_t) v };

        put(b, tag, x, 4);
}

static void aes_wrap(const uint8_t kek[32], const uint8_t key[32], uint8_t out[40]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;

        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        ASSERT_EQ(EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL), 1);
        ASSERT_EQ(EVP_EncryptUpdate(ctx, out, &n, key, 32), 1);
        ASSERT_EQ(EVP_EncryptFinal_ex(ctx, out + n, &m), 1);
        ASSERT_EQ(n + m, 40);
        EVP_CIPHER_CTX_free(ctx);
}

static const uint8_t salt[20] = "salt-salt-salt-salt";
static const uint8_t dpsl[20] = "dpsl-dpsl-dpsl-dpsl";
static const uint8_t uuid[16] = "0123456789abcdef";

static void class_key(unsigned c, uint8_t key[32]) {
        for (unsigned i = 0; i < 32; i++)
                key[i] = (uint8_t) (c * 31 + i);
}

/* A bag as iOS writes it: classes 1..5 wrapped with the passcode key of pw, class 6 not. */
static void make_bag(Buf *b, const char *pw, bool corrupt_class3) {
        uint8_t round1[32], pkey[32];

        ASSERT_EQ(crypt_pbkdf2("SHA256", pw, strlen(pw), dpsl, sizeof(dpsl), 10, round1, 32), 0);
        ASSERT_EQ(crypt_pbkdf2("SHA1", round1, 32, salt, sizeof(salt), 10, pkey, 32), 0);
        b->n = 0;
        put_u32(b, "VERS", 4);
        put_u32(b, "TYPE", 1);
        put(b, "UUID", uuid, 16);
        put(b, "HMCK", "0123456789012345678901234567890123456789", 40);
        put_u32(b, "WRAP", 0);
        put(b, "SALT", salt, sizeof(salt));
        put_u32(b, "ITER", 10);
        put_u32(b, "DPWT", 1);
        put_u32(b, "DPIC", 10);
        put(b, "DPSL", dpsl, sizeof(dpsl));
        for (unsigned c = 1; c <= 6; c++) {
                uint8_t key[32], w[40];

                class_key(c, key);
                aes_wrap(pkey, key, w);
                if (c == 3 && corrupt_class3)
                        w[5] ^= 1;
                put(b, "UUID", uuid, 16);
                put_u32(b, "CLAS", c);
                put_u32(b, "WRAP", c == 6 ? 1 : 2);
                put_u32(b, "KTYP", 0);
                put(b, "WPKY", w, 40);
        }
}

static void test_keybag(void) {
        Keybag kb;
        Buf b;
        uint8_t key[32], want[32], blob[44], fkey[32], got[32];

        make_bag(&b, "pw one", false);
        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), 0);
        ASSERT_EQ(kb.iter, 10);
        ASSERT_EQ(kb.dpic, 10);
        ASSERT_TRUE(kb.classes[6].present);
        ASSERT_EQ(keybag_unlock(&kb, "pw two", 6), IDS_E_WRONG_PASSWORD);
        ASSERT_TRUE(!kb.classes[1].unwrapped);
        ASSERT_EQ(keybag_unlock(&kb, "pw one", 6), 0);
        for (unsigned c = 1; c <= 5; c++) {
                class_key(c, want);
                ASSERT_TRUE(kb.classes[c].unwrapped);
                ASSERT_TRUE(memcmp(kb.classes[c].key, want, 32) == 0);
        }
        ASSERT_TRUE(!kb.classes[6].unwrapped);

        /* A file key wrapped with class 4's key: u32 LE class + wrapped key. */
        for (unsigned i = 0; i < 32; i++)
                fkey[i] = (uint8_t) (0xa0 + i);
        class_key(4, key);
        blob[0] = 4, blob[1] = blob[2] = blob[3] = 0;
        aes_wrap(key, fkey, blob + 4);
        ASSERT_EQ(keybag_unwrap_blob(&kb, blob, 44, got), 0);
        ASSERT_TRUE(memcmp(got, fkey, 32) == 0);
        ASSERT_EQ(keybag_unwrap_blob(&kb, blob, 43, got), IDS_E_PROTOCOL);
        blob[0] = 3;            /* another class: the integrity check fails */
        ASSERT_EQ(keybag_unwrap_blob(&kb, blob, 44, got), IDS_E_PROTOCOL);
        blob[0] = 6;            /* not unlocked by the password */
        ASSERT_EQ(keybag_unwrap_blob(&kb, blob, 44, got), IDS_E_PROTOCOL);
        blob[0] = 4, blob[3] = 1;       /* class 2^24 + 4 */
        ASSERT_EQ(keybag_unwrap_blob(&kb, blob, 44, got), IDS_E_PROTOCOL);
        keybag_wipe(&kb);

        /* The first class key opens, a later one does not: a corrupt bag, not a password. */
        make_bag(&b, "pw one", true);
        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), 0);
        ASSERT_EQ(keybag_unlock(&kb, "pw one", 6), IDS_E_PROTOCOL);
        ASSERT_TRUE(!kb.classes[1].unwrapped);
        keybag_wipe(&kb);
}

/* Every prefix of a good bag, and every single-field change, is refused without a crash. */
static void test_keybag_hostile(void) {
        Keybag kb;
        Buf good, b;

        make_bag(&good, "pw", false);
        for (size_t n = 0; n < good.n; n++) {
                int r = keybag_parse(good.d, n, &kb);

                /* A prefix ending exactly after a complete class record may be a valid bag;
                 * anything else is a protocol error. */
                ASSERT_TRUE(r == 0 || r == IDS_E_PROTOCOL);
                if (n < 200)
                        ASSERT_EQ(r, IDS_E_PROTOCOL);
        }
        ASSERT_EQ(keybag_parse(NULL, 0, &kb), IDS_E_PROTOCOL);
        ASSERT_EQ(keybag_parse(NULL, 5, &kb), -EINVAL);

        /* Huge lengths in every record header. */
        for (size_t off = 0; off < good.n;) {
                uint32_t len = (uint32_t) good.d[off + 4] << 24 | (uint32_t) good.d[off + 5] << 16 |
                               (uint32_t) good.d[off + 6] << 8 | good.d[off + 7];
                static const uint32_t bad[] = { 0xffffffffu, 0x80000000u, 0x7ffffff8u, 4096 };

                for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                        b = good;
                        b.d[off + 4] = (uint8_t) (bad[i] >> 24);
                        b.d[off + 5] = (uint8_t) (bad[i] >> 16);
                        b.d[off + 6] = (uint8_t) (bad[i] >> 8);
                        b.d[off + 7] = (uint8_t) bad[i];
                        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), IDS_E_PROTOCOL);
                }
                off += 8 + len;
        }

        /* Missing tags. */
        static const char *const needed[] = { "SALT", "ITER", "DPSL", "DPIC" };
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                b.n = 0;
                for (size_t off = 0; off < good.n;) {
                        uint32_t len = (uint32_t) good.d[off + 6] << 8 | good.d[off + 7];

                        if (memcmp(good.d + off, needed[i], 4) != 0) {
                                memcpy(b.d + b.n, good.d + off, 8 + len);
                                b.n += 8 + len;
                        }
                        off += 8 + len;
                }
                ASSERT_EQ(keybag_parse(b.d, b.n, &kb), IDS_E_PROTOCOL);
        }

        /* No class at all; a class without CLAS; a class number out of range; the same
         * class twice; a class field before any class; a numeric tag of 3 bytes; a zero
         * iteration count; an over-long salt. */
        b.n = 0;
        put_u32(&b, "VERS", 4);
        put(&b, "UUID", uuid, 16);
        put(&b, "SALT", salt, 20);
        put_u32(&b, "ITER", 10);
        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), IDS_E_PROTOCOL);
        {
                Buf c = b;
                uint8_t w[40] = {};

                put(&c, "UUID", uuid, 16);
                put_u32(&c, "WRAP", 2);
                put(&c, "WPKY", w, 40);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                c = b;
                put(&c, "UUID", uuid, 16);
                put_u32(&c, "CLAS", CRYPT_CLASS_MAX + 1);
                put_u32(&c, "WRAP", 2);
                put(&c, "WPKY", w, 40);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                c = b;
                put(&c, "UUID", uuid, 16);
                put_u32(&c, "CLAS", 1);
                put_u32(&c, "WRAP", 2);
                put(&c, "WPKY", w, 40);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), 0);      /* the minimal good bag */
                put(&c, "UUID", uuid, 16);
                put_u32(&c, "CLAS", 1);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                c = b;
                put_u32(&c, "CLAS", 1);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                c = b;
                put(&c, "UUID", uuid, 16);
                put(&c, "CLAS", "\0\0\1", 3);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                c = b;
                put(&c, "UUID", uuid, 15);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), IDS_E_PROTOCOL);

                /* Unknown tags anywhere are skipped. */
                c = b;
                put(&c, "ZZZZ", "whatever", 8);
                put(&c, "UUID", uuid, 16);
                put(&c, "PBKY", "abc", 3);
                put_u32(&c, "CLAS", 1);
                put(&c, "XXXX", "", 0);
                put_u32(&c, "WRAP", 2);
                put(&c, "WPKY", w, 40);
                ASSERT_EQ(keybag_parse(c.d, c.n, &kb), 0);
                /* Nothing unlocks an all-zero wrapped key: a wrong password. */
                ASSERT_EQ(keybag_unlock(&kb, "x", 1), IDS_E_WRONG_PASSWORD);
        }
        b.n = 0;
        put(&b, "SALT", salt, 20);
        put_u32(&b, "ITER", 0);
        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), IDS_E_PROTOCOL);
        b.n = 0;
        put(&b, "SALT", good.d, CRYPT_SALT_MAX + 1);
        ASSERT_EQ(keybag_parse(b.d, b.n, &kb), IDS_E_PROTOCOL);

        /* Random bytes never crash it. */
        srand(14);
        for (unsigned i = 0; i < 20000; i++) {
                b = good;
                for (unsigned k = 0; k < 1 + (unsigned) rand() % 4; k++)
                        b.d[(size_t) rand() % b.n] = (uint8_t) rand();
                (void) keybag_parse(b.d, b.n, &kb);
        }
}

/* ---- CBC streams ----------------------------------------------------------------------- */

static int memfd_with(const uint8_t *p, size_t n) {
        int fd = memfd_create("cbc", MFD_CLOEXEC);

        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, p, n), (ssize_t) n);
        lseek(fd, 0, SEEK_SET);
        return fd;
}

static size_t cbc_encrypt(const uint8_t key[32], const uint8_t *p, size_t n, uint8_t *out) {
        static const uint8_t iv[16];
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int a = 0, b = 0;

        EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv);
        EVP_EncryptUpdate(ctx, out, &a, p, (int) n);
        EVP_EncryptFinal_ex(ctx, out + a, &b);
        EVP_CIPHER_CTX_free(ctx);
        return (size_t) (a + b);
}

static int decrypt_buf(const uint8_t key[32], const uint8_t *c, size_t n, uint64_t size,
                       uint8_t *out, uint64_t *ret_size) {
        int in = memfd_with(c, n), o = memfd_create("plain", MFD_CLOEXEC), r;

        r = crypt_decrypt_fd(key, in, o, size, ret_size);
        if (r == 0 && out) {
                lseek(o, 0, SEEK_SET);
                ASSERT_EQ(read(o, out, *ret_size), (ssize_t) *ret_size);
        }
        close(in);
        close(o);
        return r;
}

static void test_cbc(void) {
        static const size_t sizes[] = { 0, 1, 15, 16, 17, 65535, 65536, 65537, 200000 };
        uint8_t key[32];
        uint8_t *plain = malloc(200000), *c = malloc(200016 + 16), *back = malloc(200016);

        for (unsigned i = 0; i < 32; i++)
                key[i] = (uint8_t) (i * 7);
        for (size_t i = 0; i < 200000; i++)
                plain[i] = (uint8_t) (i * 131 + (i >> 8));

        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                size_t s = sizes[i], n = cbc_encrypt(key, plain, s, c);
                uint64_t got = 0;

                ASSERT_EQ_U64(n, crypt_cbc_size(s));
                ASSERT_EQ(decrypt_buf(key, c, n, s, back, &got), 0);
                ASSERT_EQ_U64(got, s);
                ASSERT_TRUE(memcmp(back, plain, s) == 0);
                ASSERT_EQ(decrypt_buf(key, c, n, UINT64_MAX, NULL, &got), 0);

                /* Size says one byte more or less than the stream holds. */
                ASSERT_EQ(decrypt_buf(key, c, n, s + 1, NULL, &got), -EBADMSG);
                if (s > 0)
                        ASSERT_EQ(decrypt_buf(key, c, n, s - 1, NULL, &got), -EBADMSG);
                /* Truncated: by a block, by a byte, to nothing. */
                ASSERT_EQ(decrypt_buf(key, c, n - 1, s, NULL, &got), -EBADMSG);
                if (n > 16)
                        ASSERT_EQ(decrypt_buf(key, c, n - 16, s, NULL, &got), -EBADMSG);
                ASSERT_EQ(decrypt_buf(key, c, 0, s, NULL, &got), -EBADMSG);
                /* One block too many. */
                memset(c + n, 0x55, 16);
                ASSERT_EQ(decrypt_buf(key, c, n + 16, s, NULL, &got), -EBADMSG);
                /* The last block damaged: the padding is no longer valid. */
                c[n - 1] ^= 0x5a;
                ASSERT_EQ(decrypt_buf(key, c, n, s, NULL, &got), -EBADMSG);
                c[n - 1] ^= 0x5a;
                /* Another key. */
                key[0] ^= 1;
                ASSERT_EQ(decrypt_buf(key, c, n, s, NULL, &got), -EBADMSG);
                key[0] ^= 1;
        }
        free(plain);
        free(c);
        free(back);
}

/* ---- MBFile records --------------------------------------------------------------------- */

/* An NSKeyedArchiver MBFile: $objects = [$null, {Size, EncryptionKey: UID 2}, {NS.data}]. */
static size_t make_mbfile(uint64_t root_uid, plist_t size, plist_t key_ref, plist_t key_obj,
                          char **ret) {
        plist_t root = plist_new_dict(), top = plist_new_dict(), objs = plist_new_array();
        plist_t file = plist_new_dict();
        uint32_t n = 0;

        *ret = NULL;
        plist_dict_set_item(top, "root", plist_new_uid(root_uid));
        plist_dict_set_item(root, "$top", top);
        plist_dict_set_item(root, "$archiver", plist_new_string("NSKeyedArchiver"));
        plist_array_append_item(objs, plist_new_string("$null"));
        if (size)
                plist_dict_set_item(file, "Size", size);
        if (key_ref)
                plist_dict_set_item(file, "EncryptionKey", key_ref);
        plist_dict_set_item(file, "RelativePath", plist_new_uid(3));
        plist_array_append_item(objs, file);
        if (key_obj)
                plist_array_append_item(objs, key_obj);
        plist_array_append_item(objs, plist_new_string("Library/x"));
        plist_dict_set_item(root, "$objects", objs);
        plist_to_bin(root, ret, &n);
        plist_free(root);
        return n;
}

static plist_t ns_data(size_t n) {
        static const uint8_t blob[64] = { 4, 0, 0, 0, 0xaa, 0xbb };
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, "NS.data", plist_new_data((const char *) blob, n));
        return d;
}

static void test_mbfile(void) {
        uint8_t key[CRYPT_BLOB_SIZE];
        uint64_t size = 0;
        bool has = false;
        char *b = NULL;
        size_t n;

        n = make_mbfile(1, plist_new_uint(12345), plist_new_uid(2), ns_data(44), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), 0);
        ASSERT_EQ_U64(size, 12345);
        ASSERT_TRUE(has);
        ASSERT_TRUE(key[0] == 4 && key[4] == 0xaa && key[5] == 0xbb);
        /* Random damage never crashes it. */
        for (unsigned i = 0; i < 5000; i++) {
                char *c = malloc(n);

                memcpy(c, b, n);
                c[8 + (size_t) rand() % (n - 8)] = (char) rand();
                (void) crypt_mbfile_parse(c, n, &size, key, &has);
                (void) crypt_mbfile_parse(c, (size_t) rand() % n, &size, key, &has);
                free(c);
        }
        free(b);

        /* No EncryptionKey: fine, it says so. */
        n = make_mbfile(1, plist_new_uint(0), NULL, NULL, &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), 0);
        ASSERT_TRUE(!has);
        free(b);

        /* A key of another length; a reference beyond $objects; a root beyond $objects; no
         * Size; a Size that is a string; not a binary plist. */
        n = make_mbfile(1, plist_new_uint(1), plist_new_uid(2), ns_data(43), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), IDS_E_PROTOCOL);
        free(b);
        n = make_mbfile(1, plist_new_uint(1), plist_new_uid(99), ns_data(44), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), IDS_E_PROTOCOL);
        free(b);
        n = make_mbfile(7, plist_new_uint(1), plist_new_uid(2), ns_data(44), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), IDS_E_PROTOCOL);
        free(b);
        n = make_mbfile(1, NULL, plist_new_uid(2), ns_data(44), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), IDS_E_PROTOCOL);
        free(b);
        n = make_mbfile(1, plist_new_string("5"), plist_new_uid(2), ns_data(44), &b);
        ASSERT_EQ(crypt_mbfile_parse(b, n, &size, key, &has), IDS_E_PROTOCOL);
        free(b);
        ASSERT_EQ(crypt_mbfile_parse("<plist></plist>", 15, &size, key, &has), IDS_E_PROTOCOL);
        ASSERT_EQ(crypt_mbfile_parse("bplist00", 8, &size, key, &has), IDS_E_PROTOCOL);
}

int main(void) {
        test_pbkdf2();
        test_unwrap();
        test_keybag();
        test_keybag_hostile();
        test_cbc();
        test_mbfile();
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
