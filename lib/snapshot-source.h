/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A committed snapshot opened for reading: browse and extract (extract.c) and the exports
 * from the backup (export-sync.c) read through it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "crypt.h"
#include "idevicesync.h"
#include "store.h"

/* An opened snapshot: its store (holding the device lock unless the caller does), the
 * <snapshot>/<UDID> directory and its Manifest.db (for an encrypted snapshot the decrypted
 * copy, and the unlocked keybag that opens its files). */
typedef struct Source {
        Store *store;
        char *dir;
        int dir_fd;
        bool encrypted;
        Keybag kb;
        sqlite3 *db;
        char id[64];                    /* the snapshot's id */
        char ios[32];                   /* its iOS version ("" unknown) */
        char tmp_dir[4096];             /* where decrypted temporary files go */
} Source;

/* One row of Files, with what its MBFile says. Strings borrowed from the statement. */
typedef struct Row {
        const char *id, *domain, *path;
        unsigned flags;
        uint64_t size;
        int64_t mtime;
        bool mbfile_ok;                 /* the MBFile could be read */
        bool has_key;
        bool safe;
        uint8_t key[CRYPT_BLOB_SIZE];
} Row;

typedef int (*row_fn)(const Source *s, const Row *row, void *userdata);

/* Lock the store (unless lock_held: the caller holds the device lock), find the snapshot
 * (NULL or "": the latest), open its Manifest.db (decrypting it with password when it is
 * encrypted). 0; IDS_E_WRONG_PASSWORD, IDS_E_PROTOCOL, IDS_E_BUSY, -ENOENT, -errno; why
 * (may be NULL) gets a sentence for anything but 0. */
int source_open(const char *udid, const char *snapshot, const char *state_dir,
                const char *backup_dir, const char *password, bool lock_held, Source *s,
                char *why, size_t why_len);
void source_done(Source *s);

/* Every row of domain (NULL: all) beneath prefix, in domain and path order. 0, fn's
 * non-zero result, IDS_E_PROTOCOL (unreadable Manifest.db), -errno. */
int source_rows(const Source *s, const char *domain, const char *prefix, row_fn fn,
                void *userdata, char *why, size_t why_len);

/* What the public listing says of row (strings borrowed from it). */
void source_row_file(const Source *s, const Row *row, ids_snapshot_file *ret);

/* The stored data of a regular file's row, checked against its record: *ret_fd reads the
 * stored bytes (ciphertext for an encrypted snapshot, then key is its unwrapped file key).
 * 0, or IDS_E_PROTOCOL with *why naming what is wrong (missing, another size, no key). */
int source_stored_open(const Source *s, const char *id, uint64_t size, bool mbfile_ok,
                       bool has_key, const uint8_t blob[CRYPT_BLOB_SIZE], int *ret_fd,
                       uint8_t key[CRYPT_KEY_SIZE], const char **why);

/* The plaintext of domain/path as a readable fd at offset 0 (the stored file, or a
 * decrypted unnamed temporary file in s->tmp_dir), with its size and LastModified.
 * -ENOENT (no such regular file, or an unsafe name), IDS_E_PROTOCOL (does not decrypt or
 * is damaged), -errno. */
int source_plaintext_open(const Source *s, const char *domain, const char *path,
                          int *ret_fd, uint64_t *ret_size, int64_t *ret_mtime);

/* The first problem wins: sets buf only while it is empty. */
void source_problem(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
bool source_id_is_valid(const char *id);
/* path is prefix itself or lies beneath it; prefix has no trailing '/'. */
bool source_path_under(const char *path, const char *prefix, size_t n);
/* The length of prefix without trailing '/' (NULL: 0). */
size_t source_prefix_len(const char *prefix);
