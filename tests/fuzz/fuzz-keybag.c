/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the parsers of encrypted backups in lib/crypt.c: keybag_parse()
 * (the BackupKeyBag of Manifest.plist) and crypt_mbfile_parse() (the MBFile of every
 * Manifest.db row, with its EncryptionKey). Both read what a device sent and what the store
 * holds, so whatever the bytes, they must not crash, read out of bounds or leak, and what
 * they accept must be within the limits crypt.h promises.
 *
 * The first byte picks the parser (mod 3), the rest is its input:
 *   0  a keybag;
 *   1  an MBFile;
 *   2  a keybag followed by a 44-byte EncryptionKey/ManifestKey blob.
 * A keybag that parses and is cheap to unlock (both iteration counts ≤ 64, as the emulator
 * makes with --backup-kdf-iterations 1:1) is unlocked with the password "fuzz" and, in
 * mode 2, the blob is unwrapped with it, so the unwrap paths run too. The seeds in
 * tests/fuzz/corpus/keybag/ come from an emulator backup with that password.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "idevicesync.h"

#define CHEAP_ITER 64u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_keybag(const uint8_t *bag, size_t n, const uint8_t *blob) {
        uint8_t key[CRYPT_KEY_SIZE];
        Keybag kb;
        int r;

        r = keybag_parse(bag, n, &kb);
        if (r != 0) {
                if (r != IDS_E_PROTOCOL)
                        abort();
                return;
        }
        /* What parses is what crypt.h promises. */
        if (kb.salt_len == 0 || kb.salt_len > CRYPT_SALT_MAX || kb.dpsl_len > CRYPT_SALT_MAX ||
            kb.iter == 0 || kb.iter > CRYPT_ITER_MAX || kb.has_dpic != (kb.dpsl_len > 0))
                abort();
        if (kb.iter <= CHEAP_ITER && (!kb.has_dpic || kb.dpic <= CHEAP_ITER)) {
                r = keybag_unlock(&kb, "fuzz", 4);
                if (r != 0 && r != IDS_E_WRONG_PASSWORD && r != IDS_E_PROTOCOL)
                        abort();
                if (r == 0 && blob) {
                        r = keybag_unwrap_blob(&kb, blob, CRYPT_BLOB_SIZE, key);
                        if (r != 0 && r != IDS_E_PROTOCOL)
                                abort();
                }
        }
        keybag_wipe(&kb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t key[CRYPT_BLOB_SIZE];
        uint64_t file_size = 0;
        bool has_key = false;
        int r;

        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_keybag(data + 1, size - 1, NULL);
                break;
        case 1:
                r = crypt_mbfile_parse(data + 1, size - 1, &file_size, key, &has_key);
                if (r != 0 && r != IDS_E_PROTOCOL)
                        abort();
                if (r == 0 && file_size > INT64_MAX)
                        abort();
                break;
        case 2:
                if (size - 1 < CRYPT_BLOB_SIZE)
                        return 0;
                fuzz_keybag(data + 1, size - 1 - CRYPT_BLOB_SIZE, data + size - CRYPT_BLOB_SIZE);
                break;
        }
        return 0;
}
