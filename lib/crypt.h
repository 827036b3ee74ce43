/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Decryption of encrypted iOS backups (crypt.c): the BackupKeyBag of Manifest.plist, the
 * passcode key derived from the backup password, the class keys it unwraps, the per-file
 * keys they unwrap, and AES-256-CBC streams (Manifest.db and every file).
 *
 * Every input here comes from a device or from the store and is treated as hostile: every
 * length is checked, nothing is read beyond what was given, and a bag without what is
 * needed is IDS_E_PROTOCOL. Keys and the password never reach ids_debug().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPT_KEY_SIZE          32      /* AES-256 */
#define CRYPT_WRAPPED_SIZE      40      /* RFC 3394 of a 32-byte key */
#define CRYPT_BLOB_SIZE         44      /* u32 LE protection class + wrapped key */
#define CRYPT_CLASS_MAX         32      /* protection classes 1..32 (iOS uses 1..11) */
#define CRYPT_SALT_MAX          64
#define CRYPT_KEYBAG_MAX        (1 << 20)
#define CRYPT_PASSWORD_MAX      1024
#define CRYPT_ITER_MAX          100000000u      /* iOS: DPIC 10,000,000, ITER 10,000 */

typedef struct KeybagClass {
        bool present;
        bool has_wpky;
        bool unwrapped;                 /* key is valid */
        uint32_t wrap;                  /* 2: wrapped with the passcode key */
        uint32_t ktyp;
        uint8_t wpky[CRYPT_WRAPPED_SIZE];
        uint8_t key[CRYPT_KEY_SIZE];
} KeybagClass;

typedef struct Keybag {
        uint32_t vers, type, wrap;
        uint32_t iter, dpic;
        uint8_t salt[CRYPT_SALT_MAX], dpsl[CRYPT_SALT_MAX];
        size_t salt_len, dpsl_len;      /* 0: absent */
        bool has_iter, has_dpic;
        KeybagClass classes[CRYPT_CLASS_MAX + 1];       /* by class number; [0] unused */
} Keybag;

/* Parse a BackupKeyBag (TLV: 4-byte tag, u32 BE length, value). Unknown tags are skipped.
 * 0; IDS_E_PROTOCOL when the bag is malformed or lacks SALT, ITER or a class wrapped with
 * the passcode key (DPSL and DPIC come together or not at all); -EINVAL. */
int keybag_parse(const void *data, size_t len, Keybag *ret);

/* Derive the passcode key from password (pw_len bytes) and unwrap every class key wrapped
 * with it. 0; IDS_E_WRONG_PASSWORD when the first class key fails RFC 3394's integrity
 * check; IDS_E_PROTOCOL when a later one fails (a corrupt bag); -ENOMEM, -EIO (OpenSSL). */
int keybag_unlock(Keybag *kb, const void *password, size_t pw_len);

/* Forget every secret of kb (explicit_bzero). */
void keybag_wipe(Keybag *kb);

/* The file key of an EncryptionKey / ManifestKey blob (u32 LE class + 40-byte wrapped key)
 * into ret (32 bytes). 0; IDS_E_PROTOCOL for a bad length, a class the bag has not
 * unlocked, or a failed integrity check. */
int keybag_unwrap_blob(const Keybag *kb, const void *blob, size_t len,
                       uint8_t ret[static CRYPT_KEY_SIZE]);

/* PBKDF2-HMAC with digest "SHA1" or "SHA256" (OpenSSL EVP_KDF). 0, -EINVAL, -EIO. */
int crypt_pbkdf2(const char *digest, const void *pw, size_t pw_len, const void *salt,
                 size_t salt_len, uint32_t iter, uint8_t *ret, size_t ret_len);

/* RFC 3394 unwrap (default IV A6…A6) of in (8·(n+1) bytes, 24..4104) with a 32-byte kek
 * into ret (in_len - 8 bytes). 0, -EBADMSG (integrity check failed), -EINVAL, -EIO. */
int crypt_aes_unwrap(const uint8_t kek[static CRYPT_KEY_SIZE], const void *in, size_t in_len,
                     uint8_t *ret);

/* The stored length of an AES-CBC PKCS#7 stream of size plaintext bytes. */
static inline uint64_t crypt_cbc_size(uint64_t size) {
        return (size & ~UINT64_C(15)) + 16;
}

/* Decrypt the AES-256-CBC stream (zero IV, PKCS#7) read from in_fd to its end, in chunks,
 * into out_fd (-1: checked and discarded). The padding must be valid and the plaintext
 * exactly size bytes (UINT64_MAX: any). 0; -EBADMSG (bad length or padding, a size
 * mismatch); -errno (I/O). *ret_size (may be NULL) gets the plaintext length on 0. */
int crypt_decrypt_fd(const uint8_t key[static CRYPT_KEY_SIZE], int in_fd, int out_fd,
                     uint64_t size, uint64_t *ret_size);

/* ---- encrypted backups: Manifest.plist, Manifest.db, MBFile ----------------------------- */

typedef struct sqlite3 sqlite3;

/* Read dir/Manifest.plist (dir is the <UDID> directory of a backup): *ret_encrypted from
 * IsEncrypted; for an encrypted backup also its BackupKeyBag parsed into *ret_kb and its
 * ManifestKey into ret_mkey. 0; IDS_E_PROTOCOL (unreadable, or an encrypted backup without
 * a usable keybag or ManifestKey); -ENOENT; -errno. */
int crypt_manifest_plist_read(const char *dir, bool *ret_encrypted, Keybag *ret_kb,
                              uint8_t ret_mkey[static CRYPT_BLOB_SIZE]);

/* Decrypt dir/Manifest.db with the ManifestKey blob mkey of the unlocked kb into a 0600
 * temporary file in tmp_dir, open it read-only with SQLite and remove its name at once
 * (the open handle keeps the data; nothing plaintext stays behind). The caller closes
 * *ret. 0; IDS_E_PROTOCOL (the key does not unwrap, the stream does not decrypt, or the
 * result is no database); -errno. */
int crypt_manifest_db_open(const char *dir, const Keybag *kb,
                           const uint8_t mkey[static CRYPT_BLOB_SIZE], const char *tmp_dir,
                           sqlite3 **ret);

/* The Size and EncryptionKey of an MBFile (the `file` column of Manifest.db: an
 * NSKeyedArchiver binary plist). *ret_has_key tells whether ret_key was filled.
 * 0; IDS_E_PROTOCOL (not an MBFile, no Size, an EncryptionKey of another length). */
int crypt_mbfile_parse(const void *blob, size_t len, uint64_t *ret_size,
                       uint8_t ret_key[static CRYPT_BLOB_SIZE], bool *ret_has_key);
