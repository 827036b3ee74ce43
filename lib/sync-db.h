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
 *        (Apps=install, sync-apps-install.c: "apps-install/<sha256>" per IPA content,
 *        "apps-install-file/<name>" the remembered hash of a file in AppsDir)
 *   docs(category, scope, key, device_path, host_path, device size + mtime, host size +
 *        mtime, hash, synced_usec)   two-way categories: the last synced state of a file,
 *        per scope (documents: the bundle id) and key (the NFC-normalized relative path);
 *        device_path and host_path are the names each side reported (relative to the
 *        scope's root on that side).
 *   held(id, category, scope, key, path, side, size, created_usec, decision, decided_usec)
 *        deletions waiting for a person: side is whose copy "approve" removes.
 *   questions(category, created_usec, files_device, files_computer, choice, decided_usec)
 *   question_plans(category, choice, add/overwrite/remove per side, conflicts)
 *        the first sync of a two-way category: what each choice would do; choice stays
 *        NULL until a person decides.
 *   pim_records(category, id, entity, parent, data)   mobilesync categories: the device's
 *        records (data: the record as a binary plist; parent: the id its "contact" /
 *        "owner" link names, "" for a main record) at the end of the last finished
 *        session. Their items (one per host file) are docs rows: key = host_path = the
 *        file below the category's root, device_path = the main record's id, hash = the
 *        item's content hash at that sync.
 *
 * A row is written only after its host file is durable (the caller's rule), and the rows
 * of one batch are committed together.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "idevicesync.h"

#define SYNC_DB_SCHEMA_VERSION 3
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
int sync_db_meta_delete(SyncDb *db, const char *key);                /* 0/-errno */
/* Every meta row whose key starts with prefix, in key order (borrowed for the call); fn's
 * negative return stops the walk and is returned. */
int sync_db_meta_list(SyncDb *db, const char *prefix,
                      int (*fn)(const char *key, const char *value, void *userdata),
                      void *userdata);

/* Per category that has rows (items or docs) or runs: rows, bytes (docs: the computer's
 * size) and the last run, in name order. */
int sync_db_totals(SyncDb *db, int (*fn)(const ids_sync_totals *t, void *userdata),
                   void *userdata);

void sync_item_done(SyncItem *item);

/* ---- two-way categories (migration 2) --------------------------------------------------- */

typedef struct SyncDoc {
        char *key;                              /* NFC-normalized relative path */
        char *device_path;                      /* as the device reported it, relative */
        char *host_path;                        /* as the computer has it, relative */
        uint64_t device_size;
        int64_t device_mtime_ns;
        uint64_t host_size;
        int64_t host_mtime_ns;
        char hash[SYNC_HASH_HEX];               /* of the content both sides had */
        uint64_t synced_usec;
} SyncDoc;

void sync_doc_done(SyncDoc *d);

/* Every row of (category, scope) in key order; d and its strings are borrowed for the
 * call. fn's negative return stops the walk and is returned. */
int sync_db_doc_list(SyncDb *db, const char *category, const char *scope,
                     int (*fn)(const SyncDoc *d, void *userdata), void *userdata);
/* Insert or replace the row of d->key. */
int sync_db_doc_put(SyncDb *db, const char *category, const char *scope, const SyncDoc *d,
                    uint64_t now_usec);
/* The row of key: 1 with *ret filled (strings allocated: sync_doc_done()), 0, -errno. */
int sync_db_doc_get(SyncDb *db, const char *category, const char *scope, const char *key,
                    SyncDoc *ret);
int sync_db_doc_delete(SyncDb *db, const char *category, const char *scope, const char *key);
/* The rows of category over all scopes. */
int sync_db_doc_count(SyncDb *db, const char *category, uint64_t *ret);

/* A held deletion as stored: the public part, plus the key and the decision ("" if none). */
typedef struct SyncHeld {
        ids_sync_held pub;                      /* scope and path owned */
        char *key;
        char decision[16];
} SyncHeld;

void sync_held_done(SyncHeld *h);
/* Hold the deletion of key (side: "device" or "computer", whose copy approve removes).
 * The same key held again keeps its row and id. *ret_id (may be NULL) gets the id. */
int sync_db_held_add(SyncDb *db, const char *category, const char *scope, const char *key,
                     const char *path, const char *side, uint64_t size, uint64_t now_usec,
                     uint64_t *ret_id);
/* Items of category (NULL: all), by id; undecided_only leaves out decided ones. h is
 * borrowed for the call; fn's negative return stops the walk and is returned. */
int sync_db_held_list(SyncDb *db, const char *category, bool undecided_only,
                      int (*fn)(const SyncHeld *h, void *userdata), void *userdata);
/* Record "approve" or "reject" (else -EINVAL): 1 when the item exists, 0 when not. */
int sync_db_held_decide(SyncDb *db, uint64_t id, const char *decision, uint64_t now_usec);
int sync_db_held_delete(SyncDb *db, uint64_t id);

/* "merge", "replace-device", "replace-computer": the order of ids_sync_question.choices. */
extern const char *const sync_choice_names[3];

/* Record (or refresh the numbers of) the first-sync question of q->category; the choice
 * and the creation time of a question already there are kept. */
int sync_db_question_put(SyncDb *db, const ids_sync_question *q);
/* Record a choice (one of sync_choice_names, else -EINVAL): 1, or 0 without a question. */
int sync_db_question_choose(SyncDb *db, const char *category, const char *choice,
                            uint64_t now_usec);
int sync_db_question_delete(SyncDb *db, const char *category);
/* Questions of category (NULL: all); choice is "" while undecided. q is borrowed. */
int sync_db_question_list(SyncDb *db, const char *category, bool undecided_only,
                          int (*fn)(const ids_sync_question *q, const char *choice,
                                    void *userdata),
                          void *userdata);

/* A decision has a known choice word for its kind (and an item id > 0 for a held item). */
bool sync_decision_valid(const ids_sync_decision *d);
/* Record every decision in one transaction: -EINVAL (nothing recorded) when one is not
 * valid; unknown items and categories without a question are ignored (debug line). */
int sync_db_record_decisions(SyncDb *db, const ids_sync_decision *d, size_t n,
                             uint64_t now_usec);

/* ---- mobilesync records (migration 3) ---------------------------------------------------- */

int sync_db_pim_put(SyncDb *db, const char *category, const char *id, const char *entity,
                    const char *parent, const void *data, size_t len);
int sync_db_pim_delete(SyncDb *db, const char *category, const char *id);
int sync_db_pim_clear(SyncDb *db, const char *category);
/* Every record of category in id order (borrowed for the call). */
int sync_db_pim_list(SyncDb *db, const char *category,
                     int (*fn)(const char *id, const char *entity, const char *parent,
                               const void *data, size_t len, void *userdata),
                     void *userdata);
