/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sync.db (lib/sync-db.c): created 0600 in WAL mode at the current schema version; rows
 * found by path, by size + mtime (a renamed file) and by content; a transaction that is
 * rolled back leaves nothing; a file from a newer program is refused (-EPROTO), read-only
 * and read-write alike; a read-only open of a missing file is -ENOENT and creates nothing;
 * the totals and the last run per category. Migration 2: a version-1 file is migrated with
 * its rows kept; documents rows, held deletions (one id per path, decisions), first-sync
 * questions with their per-choice numbers; decisions recorded all or nothing; and
 * ids_sync_pending_read() lists what waits (nothing when there is no sync.db).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "macro.h"
#include "sync-db.h"
#include "test-util.h"

static int count_totals(const ids_sync_totals *t, void *userdata) {
        ids_sync_totals *out = userdata;

        if (strcmp(t->name, "photos") == 0)
                out[0] = *t;
        else if (strcmp(t->name, "crashlogs") == 0)
                out[1] = *t;
        return 0;
}

static int count_totals3(const ids_sync_totals *t, void *userdata) {
        ids_sync_totals *out = userdata;

        if (strcmp(t->name, "documents") == 0)
                out[2] = *t;
        return count_totals(t, userdata);
}

static int collect_doc(const SyncDoc *d, void *userdata) {
        SyncDoc *out = userdata;
        int i = out[0].synced_usec == 0 ? 0 : 1;        /* at most two rows */

        if (out[0].synced_usec && out[1].synced_usec)
                return -E2BIG;
        out[i] = *d;
        out[i].key = strdup(d->key);
        out[i].device_path = strdup(d->device_path);
        out[i].host_path = strdup(d->host_path);
        return 0;
}

typedef struct HeldSeen {
        unsigned n;
        uint64_t last_id;
        char last_decision[16], last_side[16], last_path[64];
} HeldSeen;

static int count_held(const SyncHeld *h, void *userdata) {
        HeldSeen *s = userdata;

        s->n++;
        s->last_id = h->pub.id;
        snprintf(s->last_decision, sizeof(s->last_decision), "%s", h->decision);
        snprintf(s->last_side, sizeof(s->last_side), "%s", h->pub.side);
        snprintf(s->last_path, sizeof(s->last_path), "%s", h->pub.path);
        return 0;
}

static int get_question(const ids_sync_question *q, const char *choice, void *userdata) {
        ids_sync_question *out = userdata;

        *out = *q;
        snprintf(out->choices[0].choice, sizeof(out->choices[0].choice), "%s",
                 choice[0] ? choice : "-");     /* the decided choice, for the test */
        return 0;
}

/* Migration 2 on a file that version 1 wrote: the old rows stay, the new tables work. */
static void test_migration_2(const char *dir) {
        static const char udid[] = "00008030001a2b3c4d5e6f70";
        char state[128], path[256];
        sqlite3 *raw;
        SyncDb *db = NULL;
        SyncItem it = {};
        SyncDoc docs[2] = {};
        HeldSeen seen = {};
        ids_sync_question q = { .category = "documents", .created_usec = 5,
                                .files_device = 12, .files_computer = 7 }, got = {};
        ids_sync_pending p = {};
        uint64_t id1 = 0, id2 = 0, id3 = 0, n = 99;
        int v = 0;

        snprintf(state, sizeof(state), "%s/state", dir);
        snprintf(path, sizeof(path), "%s/%s", state, udid);
        ASSERT_EQ(mkdir(state, 0700), 0);

        /* nothing there: an empty answer, no file made */
        ASSERT_EQ(ids_sync_pending_read(state, udid, &p), 0);
        ASSERT_EQ(p.n_held, 0);
        ASSERT_EQ(p.n_questions, 0);
        ids_sync_pending_done(&p);
        ASSERT_TRUE(access(path, F_OK) < 0);

        ASSERT_EQ(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/%s/sync.db", state, udid);
        /* version 1 exactly as it shipped */
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw,
                  "CREATE TABLE items (category TEXT NOT NULL, device_path TEXT NOT NULL,"
                  " size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, hash TEXT NOT NULL,"
                  " host_path TEXT NOT NULL, synced_usec INTEGER NOT NULL,"
                  " on_device INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (category, device_path))"
                  " WITHOUT ROWID;"
                  "CREATE INDEX items_by_hash ON items (category, hash);"
                  "CREATE INDEX items_by_meta ON items (category, size, mtime_ns);"
                  "CREATE TABLE runs (category TEXT PRIMARY KEY, last_run_usec INTEGER NOT NULL,"
                  " mode TEXT NOT NULL, result INTEGER NOT NULL,"
                  " files_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL,"
                  " files_out INTEGER NOT NULL, bytes_out INTEGER NOT NULL,"
                  " held INTEGER NOT NULL, refused INTEGER NOT NULL, conflicts INTEGER NOT NULL,"
                  " duplicates INTEGER NOT NULL, removed_device INTEGER NOT NULL,"
                  " reason TEXT NOT NULL);"
                  "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                  "INSERT INTO items VALUES ('photos', '/DCIM/100APPLE/IMG_0001.HEIC', 10, 20,"
                  " 'cc', '2024/05/IMG_0001.HEIC', 30, 1);"
                  "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(raw);

        /* a reader of a version-1 file sees no pending items (and changes nothing) */
        ASSERT_EQ(ids_sync_pending_read(state, udid, &p), 0);
        ASSERT_EQ(p.n_held + p.n_questions, 0);
        ASSERT_EQ(sync_db_open(path, true, &db), -ENOENT);

        ASSERT_EQ(sync_db_open(path, false, &db), 0);
        ASSERT_EQ(sync_db_get(db, "photos", "/DCIM/100APPLE/IMG_0001.HEIC", &it), 1);
        ASSERT_STREQ(it.host_path, "2024/05/IMG_0001.HEIC");
        sync_item_done(&it);

        /* documents rows */
        ASSERT_EQ(sync_db_doc_count(db, "documents", &n), 0);
        ASSERT_EQ_U64(n, 0);
        ASSERT_EQ(sync_db_begin(db), 0);
        ASSERT_EQ(sync_db_doc_put(db, "documents", "com.example.notes",
                  &(SyncDoc) { .key = (char *) "Caf\xc3\xa9.txt",
                               .device_path = (char *) "Cafe\xcc\x81.txt",
                               .host_path = (char *) "Caf\xc3\xa9.txt",
                               .device_size = 5, .device_mtime_ns = 1000000001,
                               .host_size = 5, .host_mtime_ns = 2000000002, .hash = "ab" },
                  7), 0);
        ASSERT_EQ(sync_db_doc_put(db, "documents", "com.example.notes",
                  &(SyncDoc) { .key = (char *) "a/b.txt", .device_path = (char *) "a/b.txt",
                               .host_path = (char *) "a/b.txt", .hash = "cd" }, 8), 0);
        ASSERT_EQ(sync_db_doc_put(db, "documents", "com.example.other",
                  &(SyncDoc) { .key = (char *) "x", .device_path = (char *) "x",
                               .host_path = (char *) "x", .hash = "ef" }, 9), 0);
        ASSERT_EQ(sync_db_commit(db), 0);
        ASSERT_EQ(sync_db_doc_count(db, "documents", &n), 0);
        ASSERT_EQ_U64(n, 3);
        ASSERT_EQ(sync_db_doc_list(db, "documents", "com.example.notes", collect_doc, docs), 0);
        ASSERT_STREQ(docs[0].key, "Caf\xc3\xa9.txt");
        ASSERT_STREQ(docs[0].device_path, "Cafe\xcc\x81.txt");
        ASSERT_EQ_U64(docs[0].host_size, 5);
        ASSERT_TRUE(docs[0].host_mtime_ns == 2000000002);
        ASSERT_TRUE(docs[0].device_mtime_ns == 1000000001);
        ASSERT_STREQ(docs[0].hash, "ab");
        ASSERT_EQ_U64(docs[0].synced_usec, 7);
        ASSERT_STREQ(docs[1].key, "a/b.txt");
        sync_doc_done(&docs[0]);
        sync_doc_done(&docs[1]);
        {
                ids_sync_totals t[3] = {};
                ASSERT_EQ(sync_db_totals(db, count_totals3, t), 0);
                ASSERT_EQ_U64(t[2].items, 3);           /* documents rows count as items */
                ASSERT_EQ_U64(t[2].bytes, 5);
                ASSERT_EQ_U64(t[0].items, 1);           /* photos from version 1 */
        }
        ASSERT_EQ(sync_db_doc_delete(db, "documents", "com.example.notes", "a/b.txt"), 0);
        ASSERT_EQ(sync_db_doc_count(db, "documents", &n), 0);
        ASSERT_EQ_U64(n, 2);

        /* held deletions: one id per path, decisions, undecided listing */
        ASSERT_EQ(sync_db_held_add(db, "documents", "com.example.notes", "a.txt", "a.txt",
                                   "computer", 3, 100, &id1), 0);
        ASSERT_EQ(sync_db_held_add(db, "documents", "com.example.notes", "b.txt", "b.txt",
                                   "device", 4, 100, &id2), 0);
        ASSERT_EQ(sync_db_held_add(db, "documents", "com.example.notes", "a.txt", "a.txt",
                                   "computer", 3, 200, &id3), 0);
        ASSERT_TRUE(id1 > 0 && id2 > id1);
        ASSERT_EQ_U64(id3, id1);
        ASSERT_EQ(sync_db_held_add(db, "documents", "s", "k", "k", "both", 0, 1, NULL),
                  -EINVAL);
        ASSERT_EQ(sync_db_held_list(db, NULL, true, count_held, &seen), 0);
        ASSERT_EQ(seen.n, 2);
        ASSERT_STREQ(seen.last_side, "device");
        ASSERT_STREQ(seen.last_path, "b.txt");
        ASSERT_EQ(sync_db_held_decide(db, id2, "approve", 300), 1);
        ASSERT_EQ(sync_db_held_decide(db, id2 + 100, "approve", 300), 0);
        ASSERT_EQ(sync_db_held_decide(db, id2, "maybe", 300), -EINVAL);
        seen = (HeldSeen) {};
        ASSERT_EQ(sync_db_held_list(db, NULL, true, count_held, &seen), 0);
        ASSERT_EQ(seen.n, 1);
        ASSERT_EQ_U64(seen.last_id, id1);
        seen = (HeldSeen) {};
        ASSERT_EQ(sync_db_held_list(db, "documents", false, count_held, &seen), 0);
        ASSERT_EQ(seen.n, 2);
        ASSERT_STREQ(seen.last_decision, "approve");

        /* the first-sync question */
        for (size_t i = 0; i < 3; i++)
                snprintf(q.choices[i].choice, sizeof(q.choices[i].choice), "%s",
                         sync_choice_names[i]);
        q.choices[0].add_device = 4;
        q.choices[0].conflicts = 3;
        q.choices[2].remove_device = 9;
        ASSERT_EQ(sync_db_question_put(db, &q), 0);
        q.created_usec = 6;                             /* asked again: the first time stays */
        q.files_device = 13;
        ASSERT_EQ(sync_db_question_put(db, &q), 0);
        ASSERT_EQ(sync_db_question_list(db, "documents", true, get_question, &got), 0);
        ASSERT_STREQ(got.category, "documents");
        ASSERT_EQ_U64(got.created_usec, 5);
        ASSERT_EQ_U64(got.files_device, 13);
        ASSERT_EQ_U64(got.files_computer, 7);
        ASSERT_STREQ(got.choices[0].choice, "-");
        ASSERT_EQ_U64(got.choices[0].add_device, 4);
        ASSERT_EQ_U64(got.choices[0].conflicts, 3);
        ASSERT_EQ_U64(got.choices[2].remove_device, 9);
        ASSERT_STREQ(got.choices[2].choice, "replace-computer");
        ASSERT_EQ(sync_db_question_choose(db, "contacts", "merge", 1), 0);
        ASSERT_EQ(sync_db_question_choose(db, "documents", "both", 1), -EINVAL);

        /* decisions: all or nothing; unknown ids and categories ignored */
        {
                const ids_sync_decision bad[] = {
                        { .item = id1, .choice = "approve" },
                        { .category = "documents", .choice = "replace-everything" },
                };
                const ids_sync_decision good[] = {
                        { .item = id1, .choice = "reject" },
                        { .item = 4242, .choice = "approve" },
                        { .category = "contacts", .choice = "merge" },
                        { .category = "documents", .choice = "replace-device" },
                };

                ASSERT_TRUE(!sync_decision_valid(&(ids_sync_decision) { .choice = "approve" }));
                ASSERT_TRUE(!sync_decision_valid(&(ids_sync_decision) { .item = 1,
                                                                         .choice = "merge" }));
                ASSERT_EQ(sync_db_record_decisions(db, bad, ELEMENTSOF(bad), 400), -EINVAL);
                seen = (HeldSeen) {};
                ASSERT_EQ(sync_db_held_list(db, NULL, true, count_held, &seen), 0);
                ASSERT_EQ(seen.n, 1);                   /* id1 still undecided */
                ASSERT_EQ(sync_db_record_decisions(db, good, ELEMENTSOF(good), 400), 0);
                seen = (HeldSeen) {};
                ASSERT_EQ(sync_db_held_list(db, NULL, true, count_held, &seen), 0);
                ASSERT_EQ(seen.n, 0);
                memset(&got, 0, sizeof(got));
                ASSERT_EQ(sync_db_question_list(db, NULL, false, get_question, &got), 0);
                ASSERT_STREQ(got.choices[0].choice, "replace-device");
        }
        sync_db_close(db);

        /* the public reader: only what waits */
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version", NULL, NULL, NULL), SQLITE_OK);
        {
                sqlite3_stmt *st;
                ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, NULL),
                          SQLITE_OK);
                ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
                v = sqlite3_column_int(st, 0);
                sqlite3_finalize(st);
        }
        ASSERT_EQ(v, SYNC_DB_SCHEMA_VERSION);
        ASSERT_EQ(sqlite3_exec(raw, "UPDATE held SET decision = NULL WHERE id = 2;"
                               "UPDATE questions SET choice = NULL", NULL, NULL, NULL),
                  SQLITE_OK);
        sqlite3_close(raw);
        ASSERT_EQ(ids_sync_pending_read(state, udid, &p), 0);
        ASSERT_EQ(p.n_held, 1);
        if (p.n_held == 1) {
                ASSERT_EQ_U64(p.held[0].id, id2);
                ASSERT_STREQ(p.held[0].category, "documents");
                ASSERT_STREQ(p.held[0].scope, "com.example.notes");
                ASSERT_STREQ(p.held[0].path, "b.txt");
                ASSERT_STREQ(p.held[0].side, "device");
                ASSERT_EQ_U64(p.held[0].size, 4);
                ASSERT_EQ_U64(p.held[0].created_usec, 100);
        }
        ASSERT_EQ(p.n_questions, 1);
        if (p.n_questions == 1) {
                ASSERT_STREQ(p.questions[0].category, "documents");
                ASSERT_EQ_U64(p.questions[0].files_device, 13);
                ASSERT_STREQ(p.questions[0].choices[1].choice, "replace-device");
                ASSERT_EQ_U64(p.questions[0].choices[0].conflicts, 3);
        }
        ids_sync_pending_done(&p);
        ASSERT_EQ(p.n_held, 0);
        ASSERT_EQ(ids_sync_pending_read(state, "not a udid", &p), -EINVAL);
}

/* Collects "key=value;" of the meta rows a listing gives. */
static int collect_meta(const char *key, const char *value, void *userdata) {
        char *buf = userdata;
        size_t n = strlen(buf);

        snprintf(buf + n, 256 - n, "%s=%s;", key, value);
        return 0;
}

int main(void) {
        char dir[] = "/tmp/test-sync-db.XXXXXX", path[128], wal[160], listed[256] = "";
        SyncDb *db = NULL;
        SyncItem it = {};
        ids_sync_totals tot[2] = {};
        ids_sync_category run = { .name = "photos", .mode = "import", .files_in = 3,
                                  .bytes_in = 4096, .refused = 1,
                                  .reason = "2 photos are in iCloud only" };
        char *host = NULL, *v = NULL;
        struct stat st;
        sqlite3 *raw;

        if (!mkdtemp(dir))
                return 1;
        snprintf(path, sizeof(path), "%s/sync.db", dir);

        ASSERT_EQ(sync_db_open(path, true, &db), -ENOENT);
        ASSERT_TRUE(access(path, F_OK) < 0);

        ASSERT_EQ(sync_db_open(path, false, &db), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mode & 0777, 0600);
        snprintf(wal, sizeof(wal), "%s-wal", path);

        it = (SyncItem) { .size = 1000, .mtime_ns = 1700000000123456789ll, .on_device = true,
                          .hash = "aa11", .host_path = (char *) "2024/05/IMG_0001.HEIC" };
        ASSERT_EQ(sync_db_begin(db), 0);
        ASSERT_EQ(sync_db_put(db, "photos", "/DCIM/100APPLE/IMG_0001.HEIC", &it, 1), 0);
        ASSERT_EQ(sync_db_commit(db), 0);
        ASSERT_EQ(access(wal, F_OK), 0);                /* WAL mode */

        /* a rolled-back transaction leaves nothing */
        ASSERT_EQ(sync_db_begin(db), 0);
        ASSERT_EQ(sync_db_put(db, "photos", "/DCIM/100APPLE/IMG_0002.HEIC", &it, 1), 0);
        sync_db_rollback(db);
        memset(&it, 0, sizeof(it));
        ASSERT_EQ(sync_db_get(db, "photos", "/DCIM/100APPLE/IMG_0002.HEIC", &it), 0);

        ASSERT_EQ(sync_db_get(db, "photos", "/DCIM/100APPLE/IMG_0001.HEIC", &it), 1);
        ASSERT_EQ_U64(it.size, 1000);
        ASSERT_TRUE(it.mtime_ns == 1700000000123456789ll);
        ASSERT_STREQ(it.hash, "aa11");
        ASSERT_STREQ(it.host_path, "2024/05/IMG_0001.HEIC");
        sync_item_done(&it);
        ASSERT_EQ(sync_db_get(db, "crashlogs", "/DCIM/100APPLE/IMG_0001.HEIC", &it), 0);
        ASSERT_EQ(sync_db_find_meta(db, "photos", 1000, 1700000000123456789ll, &it), 1);
        sync_item_done(&it);
        ASSERT_EQ(sync_db_find_meta(db, "photos", 1001, 1700000000123456789ll, &it), 0);
        ASSERT_EQ(sync_db_find_hash(db, "photos", "aa11", &host), 1);
        ASSERT_STREQ(host, "2024/05/IMG_0001.HEIC");
        free(host);
        ASSERT_EQ(sync_db_find_hash(db, "photos", "bb22", &host), 0);

        ASSERT_EQ(sync_db_meta_set(db, "photos.library-stamp", "1:2 3"), 0);
        ASSERT_EQ(sync_db_meta_get(db, "photos.library-stamp", &v), 1);
        ASSERT_STREQ(v, "1:2 3");
        free(v);
        /* A prefix listing (apps-install rows) in key order; '_' and '%' are no wildcards. */
        ASSERT_EQ(sync_db_meta_set(db, "apps-install/bb", "failed\tx"), 0);
        ASSERT_EQ(sync_db_meta_set(db, "apps-install/aa", "installed\ty"), 0);
        ASSERT_EQ(sync_db_meta_set(db, "apps-installXcc", "not listed"), 0);
        ASSERT_EQ(sync_db_meta_list(db, "apps-install/", collect_meta, listed), 0);
        ASSERT_STREQ(listed, "apps-install/aa=installed\ty;apps-install/bb=failed\tx;");
        ASSERT_EQ(sync_db_meta_delete(db, "apps-install/aa"), 0);
        ASSERT_EQ(sync_db_meta_delete(db, "apps-install/none"), 0);
        listed[0] = 0;
        ASSERT_EQ(sync_db_meta_list(db, "apps_install/", collect_meta, listed), 0);
        ASSERT_STREQ(listed, "");
        ASSERT_EQ(sync_db_meta_list(db, "apps-install/", collect_meta, listed), 0);
        ASSERT_STREQ(listed, "apps-install/bb=failed\tx;");
        ASSERT_EQ(sync_db_set_run(db, &run, 42), 0);
        ASSERT_EQ(sync_db_set_on_device(db, "photos", "/DCIM/100APPLE/IMG_0001.HEIC", false), 0);
        ASSERT_EQ(sync_db_totals(db, count_totals, tot), 0);
        ASSERT_EQ_U64(tot[0].items, 1);
        ASSERT_EQ_U64(tot[0].bytes, 1000);
        ASSERT_EQ_U64(tot[0].last_run_usec, 42);
        ASSERT_EQ_U64(tot[0].last.files_in, 3);
        ASSERT_EQ_U64(tot[0].last.refused, 1);
        ASSERT_STREQ(tot[0].last.mode, "import");
        ASSERT_STREQ(tot[0].last.reason, "2 photos are in iCloud only");
        ASSERT_EQ_U64(tot[1].items, 0);
        sync_db_close(db);

        /* read-only: reads, refuses writes */
        ASSERT_EQ(sync_db_open(path, true, &db), 0);
        ASSERT_EQ(sync_db_get(db, "photos", "/DCIM/100APPLE/IMG_0001.HEIC", &it), 1);
        sync_item_done(&it);
        ASSERT_EQ(sync_db_set_run(db, &run, 43), -EROFS);
        sync_db_close(db);

        /* reopening migrates nothing; a newer schema is refused both ways */
        ASSERT_EQ(sync_db_open(path, false, &db), 0);
        sync_db_close(db);
        ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(raw);
        ASSERT_EQ(sync_db_open(path, false, &db), -EPROTO);
        ASSERT_EQ(sync_db_open(path, true, &db), -EPROTO);

        /* a file that is not a database */
        unlink(wal);
        snprintf(wal, sizeof(wal), "%s-shm", path);
        unlink(wal);
        {
                FILE *f = fopen(path, "we");
                fputs("not a database, just text that is long enough to look like a header", f);
                fclose(f);
        }
        ASSERT_TRUE(sync_db_open(path, false, &db) < 0);

        unlink(path);
        test_migration_2(dir);
        {
                char cmd[200];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
                (void) system(cmd);
        }
        return test_exit_status();
}
