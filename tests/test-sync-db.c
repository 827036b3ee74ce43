/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sync.db (lib/sync-db.c): created 0600 in WAL mode at the current schema version; rows
 * found by path, by size + mtime (a renamed file) and by content; a transaction that is
 * rolled back leaves nothing; a file from a newer program is refused (-EPROTO), read-only
 * and read-write alike; a read-only open of a missing file is -ENOENT and creates nothing;
 * the totals and the last run per category.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

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

int main(void) {
        char dir[] = "/tmp/test-sync-db.XXXXXX", path[128], wal[160];
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
        rmdir(dir);
        return test_exit_status();
}
