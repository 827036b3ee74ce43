/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync state (sync-db.c): <state_dir>/<UDID>/sync.db, SQLite in WAL mode, one writer
 * (the sync run). A schema version (PRAGMA user_version) and an ordered list of
 * migrations, applied in one transaction when the file is opened for writing.
 *
 *   items(category, device_path, size, mtime_ns, hash, host_path, synced_usec, on_device)
 *         what was synced: the device file at device_path (size, mtime when it was read),
 *         its SHA-256, and where it is on the computer (relative to the category's root).
 *   runs(category, last_run_usec, mode, result, the counters, reason)   the last run
 *   meta(key, value)   small per-device facts a category remembers between runs
 *
 * A row is written only after its host file is durable (the caller's rule), and the rows
 * of one batch are committed together.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "idevicesync.h"

#define SYNC_DB_SCHEMA_VERSION 1
#define SYNC_HASH_HEX 65                        /* SHA-256 in hex, with the NUL */

typedef struct SyncDb SyncDb;

typedef struct SyncItem {
        uint64_t size;
        int64_t mtime_ns;
        char hash[SYNC_HASH_HEX];
        char *host_path;                        /* owned; NULL when not asked for */
        bool on_device;
} SyncItem;

/* Open path; readonly opens an existing file without changing it (-ENOENT if missing),
 * otherwise the file is created (0600) and migrated. -EPROTO when its schema is newer
 * than this program knows. */
int sync_db_open(const char *path, bool readonly, SyncDb **ret);
SyncDb *sync_db_close(SyncDb *db);

int sync_db_begin(SyncDb *db);
int sync_db_commit(SyncDb *db);
void sync_db_rollback(SyncDb *db);

/* 1 with *ret filled (host_path allocated), 0 when absent, -errno. */
int sync_db_get(SyncDb *db, const char *category, const char *device_path, SyncItem *ret);
/* An item with this size and mtime at another path (a renamed or moved file): 1/0/-errno;
 * its hash and host path in *ret. */
int sync_db_find_meta(SyncDb *db, const char *category, uint64_t size, int64_t mtime_ns,
                      SyncItem *ret);
/* An item with this content: 1 with *ret_host_path (allocated), 0, -errno. */
int sync_db_find_hash(SyncDb *db, const char *category, const char *hash, char **ret_host_path);
/* Insert or replace the row of device_path. */
int sync_db_put(SyncDb *db, const char *category, const char *device_path,
                const SyncItem *item, uint64_t now_usec);
/* The device no longer has device_path (crash logs moved off it). */
int sync_db_set_on_device(SyncDb *db, const char *category, const char *device_path,
                          bool on_device);

/* Record c as its category's last run. */
int sync_db_set_run(SyncDb *db, const ids_sync_category *c, uint64_t usec);
int sync_db_meta_get(SyncDb *db, const char *key, char **ret);     /* 1/0/-errno */
int sync_db_meta_set(SyncDb *db, const char *key, const char *value);

/* Per category that has rows or runs: rows, bytes and the last run, in name order. */
int sync_db_totals(SyncDb *db, int (*fn)(const ids_sync_totals *t, void *userdata),
                   void *userdata);

void sync_item_done(SyncItem *item);
