/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync state in SQLite (sync-db.h). Statements are prepared once per handle; every
 * SQLite failure becomes a negative errno (-EIO, -ENOSPC for SQLITE_FULL, -EBUSY).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sync-db.h"
#include "util.h"

static bool str_in(const char *s, const char *const *set) {
        for (; s && *set; set++)
                if (strcmp(s, *set) == 0)
                        return true;
        return false;
}
#define STR_IN_SET(s, ...) str_in((s), (const char *const[]) { __VA_ARGS__, NULL })

/* Migration n takes the schema from version n to n + 1. Never edit one that shipped: add. */
static const char *const migrations[SYNC_DB_SCHEMA_VERSION] = {
        "CREATE TABLE items ("
        "  category TEXT NOT NULL,"
        "  device_path TEXT NOT NULL,"
        "  size INTEGER NOT NULL,"
        "  mtime_ns INTEGER NOT NULL,"
        "  hash TEXT NOT NULL,"
        "  host_path TEXT NOT NULL,"
        "  synced_usec INTEGER NOT NULL,"
        "  on_device INTEGER NOT NULL DEFAULT 1,"
        "  PRIMARY KEY (category, device_path)"
        ") WITHOUT ROWID;"
        "CREATE INDEX items_by_hash ON items (category, hash);"
        "CREATE INDEX items_by_meta ON items (category, size, mtime_ns);"
        "CREATE TABLE runs ("
        "  category TEXT PRIMARY KEY,"
        "  last_run_usec INTEGER NOT NULL,"
        "  mode TEXT NOT NULL,"
        "  result INTEGER NOT NULL,"
        "  files_in INTEGER NOT NULL, bytes_in INTEGER NOT NULL,"
        "  files_out INTEGER NOT NULL, bytes_out INTEGER NOT NULL,"
        "  held INTEGER NOT NULL, refused INTEGER NOT NULL, conflicts INTEGER NOT NULL,"
        "  duplicates INTEGER NOT NULL, removed_device INTEGER NOT NULL,"
        "  reason TEXT NOT NULL"
        ");"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",

        /* 2: two-way categories (documents): the last synced state per path, the held
         * deletions, and the first-sync questions with what each choice would do. */
        "CREATE TABLE docs ("
        "  category TEXT NOT NULL,"
        "  scope TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  device_path TEXT NOT NULL,"
        "  host_path TEXT NOT NULL,"
        "  device_size INTEGER NOT NULL, device_mtime_ns INTEGER NOT NULL,"
        "  host_size INTEGER NOT NULL, host_mtime_ns INTEGER NOT NULL,"
        "  hash TEXT NOT NULL,"
        "  synced_usec INTEGER NOT NULL,"
        "  PRIMARY KEY (category, scope, key)"
        ") WITHOUT ROWID;"
        "CREATE TABLE held ("
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  category TEXT NOT NULL,"
        "  scope TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  path TEXT NOT NULL,"
        "  side TEXT NOT NULL CHECK (side IN ('device', 'computer')),"
        "  size INTEGER NOT NULL,"
        "  created_usec INTEGER NOT NULL,"
        "  decision TEXT CHECK (decision IS NULL OR decision IN ('approve', 'reject')),"
        "  decided_usec INTEGER,"
        "  UNIQUE (category, scope, key)"
        ");"
        "CREATE TABLE questions ("
        "  category TEXT PRIMARY KEY,"
        "  created_usec INTEGER NOT NULL,"
        "  files_device INTEGER NOT NULL,"
        "  files_computer INTEGER NOT NULL,"
        "  choice TEXT CHECK (choice IS NULL OR "
        "    choice IN ('merge', 'replace-device', 'replace-computer')),"
        "  decided_usec INTEGER"
        ");"
        "CREATE TABLE question_plans ("
        "  category TEXT NOT NULL,"
        "  choice TEXT NOT NULL,"
        "  add_device INTEGER NOT NULL, add_computer INTEGER NOT NULL,"
        "  overwrite_device INTEGER NOT NULL, overwrite_computer INTEGER NOT NULL,"
        "  remove_device INTEGER NOT NULL, remove_computer INTEGER NOT NULL,"
        "  conflicts INTEGER NOT NULL,"
        "  PRIMARY KEY (category, choice)"
        ") WITHOUT ROWID;",

        /* 3: mobilesync categories (contacts, calendars two-way): the device's records as
         * they were at the end of the last finished session, the base of the next merge. */
        "CREATE TABLE pim_records ("
        "  category TEXT NOT NULL,"
        "  id TEXT NOT NULL,"
        "  entity TEXT NOT NULL,"
        "  parent TEXT NOT NULL,"
        "  data BLOB NOT NULL,"
        "  PRIMARY KEY (category, id)"
        ") WITHOUT ROWID;",
};

enum {
        STMT_GET,
        STMT_FIND_META,
        STMT_FIND_HASH,
        STMT_PUT,
        STMT_SET_ON_DEVICE,
        STMT_SET_RUN,
        STMT_META_GET,
        STMT_META_SET,
        STMT_DOC_LIST,
        STMT_DOC_PUT,
        STMT_DOC_DELETE,
        STMT_DOC_COUNT,
        _STMT_MAX,
};

static const char *const statements[_STMT_MAX] = {
        [STMT_GET] = "SELECT size, mtime_ns, hash, host_path, on_device FROM items "
                     "WHERE category = ?1 AND device_path = ?2",
        [STMT_FIND_META] = "SELECT size, mtime_ns, hash, host_path, on_device FROM items "
                           "WHERE category = ?1 AND size = ?2 AND mtime_ns = ?3 LIMIT 1",
        [STMT_FIND_HASH] = "SELECT host_path FROM items WHERE category = ?1 AND hash = ?2 "
                           "LIMIT 1",
        [STMT_PUT] = "INSERT OR REPLACE INTO items (category, device_path, size, mtime_ns, "
                     "hash, host_path, synced_usec, on_device) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        [STMT_SET_ON_DEVICE] = "UPDATE items SET on_device = ?3 WHERE category = ?1 AND "
                               "device_path = ?2",
        [STMT_SET_RUN] = "INSERT OR REPLACE INTO runs (category, last_run_usec, mode, result, "
                         "files_in, bytes_in, files_out, bytes_out, held, refused, conflicts, "
                         "duplicates, removed_device, reason) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [STMT_META_SET] = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        [STMT_DOC_LIST] = "SELECT key, device_path, host_path, device_size, device_mtime_ns, "
                          "host_size, host_mtime_ns, hash, synced_usec FROM docs "
                          "WHERE category = ?1 AND scope = ?2 ORDER BY key",
        [STMT_DOC_PUT] = "INSERT OR REPLACE INTO docs (category, scope, key, device_path, "
                         "host_path, device_size, device_mtime_ns, host_size, host_mtime_ns, "
                         "hash, synced_usec) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        [STMT_DOC_DELETE] = "DELETE FROM docs WHERE category = ?1 AND scope = ?2 AND key = ?3",
        [STMT_DOC_COUNT] = "SELECT COUNT(*) FROM docs WHERE category = ?1",
};

/* Statements a read-only handle does not prepare. */
static bool statement_writes(size_t i) {
        return i == STMT_PUT || i == STMT_SET_ON_DEVICE || i == STMT_SET_RUN ||
               i == STMT_META_SET || i == STMT_DOC_PUT || i == STMT_DOC_DELETE;
}

struct SyncDb {
        sqlite3 *db;
        bool readonly;
        sqlite3_stmt *stmt[_STMT_MAX];
};

static int sqlite_to_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_DONE:
        case SQLITE_ROW:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        default:
                return -EIO;
        }
}

static int exec(SyncDb *db, const char *sql) {
        char *err = NULL;
        int rc = sqlite3_exec(db->db, sql, NULL, NULL, &err);

        if (rc != SQLITE_OK) {
                ids_debug("sync.db: %s: %s", sql, err ? err : sqlite3_errstr(rc));
                sqlite3_free(err);
                return sqlite_to_errno(rc);
        }
        return 0;
}

static int user_version(SyncDb *db, int *ret) {
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db->db, "PRAGMA user_version", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ret = sqlite3_column_int(st, 0);
                rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        return sqlite_to_errno(rc);
}

static int migrate(SyncDb *db) {
        char sql[64];
        int v, r;

        r = exec(db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = user_version(db, &v);
        if (r >= 0 && v > SYNC_DB_SCHEMA_VERSION) {
                ids_debug("sync.db: schema %d is newer than this program's %d", v,
                          SYNC_DB_SCHEMA_VERSION);
                r = -EPROTO;
        }
        for (; r >= 0 && v < SYNC_DB_SCHEMA_VERSION; v++) {
                r = exec(db, migrations[v]);
                if (r >= 0) {
                        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
                        r = exec(db, sql);
                }
        }
        if (r < 0) {
                (void) exec(db, "ROLLBACK");
                return r;
        }
        return exec(db, "COMMIT");
}

SyncDb *sync_db_close(SyncDb *db) {
        if (!db)
                return NULL;
        for (size_t i = 0; i < _STMT_MAX; i++)
                sqlite3_finalize(db->stmt[i]);
        sqlite3_close(db->db);
        free(db);
        return NULL;
}

int sync_db_open(const char *path, bool readonly, SyncDb **ret) {
        _cleanup_(freep) SyncDb *db = NULL;
        int rc, r;

        if (readonly && access(path, F_OK) < 0)
                return -errno;
        db = calloc(1, sizeof(*db));
        if (!db)
                return -ENOMEM;
        db->readonly = readonly;
        if (!readonly) {
                /* SQLite creates with 0644 less the umask: make the file ours first. */
                int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd < 0)
                        return -errno;
                close(fd);
        }
        rc = sqlite3_open_v2(path, &db->db,
                             readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE,
                             NULL);
        if (rc != SQLITE_OK) {
                r = sqlite_to_errno(rc);
                sqlite3_close(db->db);
                return r;
        }
        sqlite3_busy_timeout(db->db, 5000);
        if (!readonly) {
                /* WAL: a status reader never blocks the writer; FULL: a commit is durable
                 * when it returns (an item is recorded only after its file is). */
                r = exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;");
                if (r >= 0)
                        r = migrate(db);
        } else {
                int v = 0;
                r = user_version(db, &v);
                if (r >= 0 && v != SYNC_DB_SCHEMA_VERSION)
                        r = v > SYNC_DB_SCHEMA_VERSION ? -EPROTO : -ENOENT;
        }
        for (size_t i = 0; r >= 0 && i < _STMT_MAX; i++) {
                if (readonly && statement_writes(i))
                        continue;
                rc = sqlite3_prepare_v3(db->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT,
                                        &db->stmt[i], NULL);
                r = sqlite_to_errno(rc);
        }
        if (r < 0) {
                sync_db_close(TAKE_PTR(db));
                return r;
        }
        *ret = TAKE_PTR(db);
        return 0;
}

int sync_db_begin(SyncDb *db) {
        return exec(db, "BEGIN IMMEDIATE");
}

int sync_db_commit(SyncDb *db) {
        return exec(db, "COMMIT");
}

void sync_db_rollback(SyncDb *db) {
        if (!sqlite3_get_autocommit(db->db))
                (void) exec(db, "ROLLBACK");
}

void sync_item_done(SyncItem *item) {
        if (item)
                { free(item->host_path); item->host_path = NULL; }
}

/* Run st to its end (no rows expected); reset either way. */
static int step_done(sqlite3_stmt *st) {
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc == SQLITE_DONE ? 0 : sqlite_to_errno(rc);
}

static int read_item(sqlite3_stmt *st, SyncItem *ret) {
        int rc = sqlite3_step(st);
        const char *hash, *host;

        if (rc == SQLITE_DONE)
                return 0;
        if (rc != SQLITE_ROW)
                return sqlite_to_errno(rc);
        hash = (const char *) sqlite3_column_text(st, 2);
        host = (const char *) sqlite3_column_text(st, 3);
        memset(ret, 0, sizeof(*ret));
        ret->size = (uint64_t) sqlite3_column_int64(st, 0);
        ret->mtime_ns = sqlite3_column_int64(st, 1);
        snprintf(ret->hash, sizeof(ret->hash), "%s", hash ? hash : "");
        ret->host_path = strdup(host ? host : "");
        ret->on_device = sqlite3_column_int(st, 4) != 0;
        return ret->host_path ? 1 : -ENOMEM;
}

int sync_db_get(SyncDb *db, const char *category, const char *device_path, SyncItem *ret) {
        sqlite3_stmt *st = db->stmt[STMT_GET];
        int r;

        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, device_path, -1, SQLITE_STATIC);
        r = read_item(st, ret);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int sync_db_find_meta(SyncDb *db, const char *category, uint64_t size, int64_t mtime_ns,
                      SyncItem *ret) {
        sqlite3_stmt *st = db->stmt[STMT_FIND_META];
        int r;

        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) size);
        sqlite3_bind_int64(st, 3, mtime_ns);
        r = read_item(st, ret);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int sync_db_find_hash(SyncDb *db, const char *category, const char *hash,
                      char **ret_host_path) {
        sqlite3_stmt *st = db->stmt[STMT_FIND_HASH];
        int rc, r = 0;

        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const char *h = (const char *) sqlite3_column_text(st, 0);
                *ret_host_path = strdup(h ? h : "");
                r = *ret_host_path ? 1 : -ENOMEM;
        } else if (rc != SQLITE_DONE)
                r = sqlite_to_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int sync_db_put(SyncDb *db, const char *category, const char *device_path,
                const SyncItem *item, uint64_t now_usec) {
        sqlite3_stmt *st = db->stmt[STMT_PUT];

        if (db->readonly)
                return -EROFS;
        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, device_path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64) item->size);
        sqlite3_bind_int64(st, 4, item->mtime_ns);
        sqlite3_bind_text(st, 5, item->hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, item->host_path ? item->host_path : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, (sqlite3_int64) now_usec);
        sqlite3_bind_int(st, 8, item->on_device);
        return step_done(st);
}

int sync_db_set_on_device(SyncDb *db, const char *category, const char *device_path,
                          bool on_device) {
        sqlite3_stmt *st = db->stmt[STMT_SET_ON_DEVICE];

        if (db->readonly)
                return -EROFS;
        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, device_path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, on_device);
        return step_done(st);
}

int sync_db_set_run(SyncDb *db, const ids_sync_category *c, uint64_t usec) {
        sqlite3_stmt *st = db->stmt[STMT_SET_RUN];
        const uint64_t v[] = { c->files_in, c->bytes_in, c->files_out, c->bytes_out, c->held,
                               c->refused, c->conflicts, c->duplicates, c->removed_device };

        if (db->readonly)
                return -EROFS;
        sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) usec);
        sqlite3_bind_text(st, 3, c->mode, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, c->result);
        for (int i = 0; i < (int) ELEMENTSOF(v); i++)
                sqlite3_bind_int64(st, 5 + i, (sqlite3_int64) (v[i] > INT64_MAX ? INT64_MAX : v[i]));
        sqlite3_bind_text(st, 14, c->reason, -1, SQLITE_STATIC);
        return step_done(st);
}

int sync_db_meta_get(SyncDb *db, const char *key, char **ret) {
        sqlite3_stmt *st = db->stmt[STMT_META_GET];
        int rc, r = 0;

        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                const char *v = (const char *) sqlite3_column_text(st, 0);
                *ret = strdup(v ? v : "");
                r = *ret ? 1 : -ENOMEM;
        } else if (rc != SQLITE_DONE)
                r = sqlite_to_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

int sync_db_meta_set(SyncDb *db, const char *key, const char *value) {
        sqlite3_stmt *st = db->stmt[STMT_META_SET];

        if (db->readonly)
                return -EROFS;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        return step_done(st);
}

int sync_db_meta_delete(SyncDb *db, const char *key) {
        sqlite3_stmt *st = NULL;
        int rc;

        if (db->readonly)
                return -EROFS;
        rc = sqlite3_prepare_v2(db->db, "DELETE FROM meta WHERE key = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : sqlite_to_errno(rc);
}

/* Run sql with ?1 = arg and call row() on each result row until it returns < 0. 0, row()'s
 * negative result, or -errno. */
static int query_rows(SyncDb *db, const char *sql, const char *arg,
                      int (*row)(sqlite3_stmt *st, void *userdata), void *userdata) {
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                r = row(st, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
                r = sqlite_to_errno(rc) ?: -EIO;
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

static const char *column_str(sqlite3_stmt *st, int i) {
        const char *s = (const char *) sqlite3_column_text(st, i);

        return s ? s : "";
}

typedef struct MetaList {
        int (*fn)(const char *key, const char *value, void *userdata);
        void *userdata;
} MetaList;

static int meta_row(sqlite3_stmt *st, void *userdata) {
        MetaList *m = userdata;

        return m->fn(column_str(st, 0), column_str(st, 1), m->userdata);
}

int sync_db_meta_list(SyncDb *db, const char *prefix,
                      int (*fn)(const char *key, const char *value, void *userdata),
                      void *userdata) {
        /* substr() rather than LIKE: a prefix may hold '%' or '_'. */
        return query_rows(db, "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1 "
                          "ORDER BY key", prefix, meta_row, &(MetaList) { fn, userdata });
}

int sync_db_totals(SyncDb *db, int (*fn)(const ids_sync_totals *t, void *userdata),
                   void *userdata) {
        static const char sql[] =
                "SELECT c.category, "
                "  (SELECT COUNT(*) FROM items i WHERE i.category = c.category) + "
                "  (SELECT COUNT(*) FROM docs d WHERE d.category = c.category), "
                "  (SELECT COALESCE(SUM(size), 0) FROM items i WHERE i.category = c.category) + "
                "  (SELECT COALESCE(SUM(host_size), 0) FROM docs d WHERE d.category = c.category), "
                "  r.last_run_usec, r.mode, r.result, r.files_in, r.bytes_in, r.files_out, "
                "  r.bytes_out, r.held, r.refused, r.conflicts, r.duplicates, r.removed_device, "
                "  r.reason "
                "FROM (SELECT category FROM items UNION SELECT category FROM runs "
                "      UNION SELECT category FROM docs) c "
                "LEFT JOIN runs r ON r.category = c.category "
                "ORDER BY c.category";
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                ids_sync_totals t = {};
                const char *s;
                uint64_t *v[] = { &t.last.files_in, &t.last.bytes_in, &t.last.files_out,
                                  &t.last.bytes_out, &t.last.held, &t.last.refused,
                                  &t.last.conflicts, &t.last.duplicates,
                                  &t.last.removed_device };

                s = (const char *) sqlite3_column_text(st, 0);
                snprintf(t.name, sizeof(t.name), "%s", s ? s : "");
                snprintf(t.last.name, sizeof(t.last.name), "%s", t.name);
                t.items = (uint64_t) sqlite3_column_int64(st, 1);
                t.bytes = (uint64_t) sqlite3_column_int64(st, 2);
                t.last_run_usec = (uint64_t) sqlite3_column_int64(st, 3);
                s = (const char *) sqlite3_column_text(st, 4);
                snprintf(t.last.mode, sizeof(t.last.mode), "%s", s ? s : "");
                t.last.result = sqlite3_column_int(st, 5);
                for (int i = 0; i < (int) ELEMENTSOF(v); i++)
                        *v[i] = (uint64_t) sqlite3_column_int64(st, 6 + i);
                s = (const char *) sqlite3_column_text(st, 15);
                snprintf(t.last.reason, sizeof(t.last.reason), "%s", s ? s : "");
                r = fn(&t, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
                r = sqlite_to_errno(rc);
        sqlite3_finalize(st);
        return r;
}

/* ---- two-way categories ------------------------------------------------------------------ */

static char *column_strdup(sqlite3_stmt *st, int i) {
        const char *s = (const char *) sqlite3_column_text(st, i);

        return strdup(s ? s : "");
}

void sync_doc_done(SyncDoc *d) {
        if (!d)
                return;
        free(d->key);
        free(d->device_path);
        free(d->host_path);
        d->key = d->device_path = d->host_path = NULL;
}

int sync_db_doc_list(SyncDb *db, const char *category, const char *scope,
                     int (*fn)(const SyncDoc *d, void *userdata), void *userdata) {
        sqlite3_stmt *st = db->stmt[STMT_DOC_LIST];
        int rc, r = 0;

        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                SyncDoc d = {
                        .key = column_strdup(st, 0),
                        .device_path = column_strdup(st, 1),
                        .host_path = column_strdup(st, 2),
                        .device_size = (uint64_t) sqlite3_column_int64(st, 3),
                        .device_mtime_ns = sqlite3_column_int64(st, 4),
                        .host_size = (uint64_t) sqlite3_column_int64(st, 5),
                        .host_mtime_ns = sqlite3_column_int64(st, 6),
                        .synced_usec = (uint64_t) sqlite3_column_int64(st, 8),
                };
                const char *h = (const char *) sqlite3_column_text(st, 7);

                snprintf(d.hash, sizeof(d.hash), "%s", h ? h : "");
                if (!d.key || !d.device_path || !d.host_path)
                        r = -ENOMEM;
                else
                        r = fn(&d, userdata);
                sync_doc_done(&d);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r < 0 ? r : 0;
}

int sync_db_doc_put(SyncDb *db, const char *category, const char *scope, const SyncDoc *d,
                    uint64_t now_usec) {
        sqlite3_stmt *st = db->stmt[STMT_DOC_PUT];

        if (db->readonly)
                return -EROFS;
        if (!d->key || !d->device_path || !d->host_path)
                return -EINVAL;
        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, d->device_path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, d->host_path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (sqlite3_int64) d->device_size);
        sqlite3_bind_int64(st, 7, d->device_mtime_ns);
        sqlite3_bind_int64(st, 8, (sqlite3_int64) d->host_size);
        sqlite3_bind_int64(st, 9, d->host_mtime_ns);
        sqlite3_bind_text(st, 10, d->hash, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 11, (sqlite3_int64) now_usec);
        return step_done(st);
}

int sync_db_doc_delete(SyncDb *db, const char *category, const char *scope, const char *key) {
        sqlite3_stmt *st = db->stmt[STMT_DOC_DELETE];

        if (db->readonly)
                return -EROFS;
        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
        return step_done(st);
}

int sync_db_doc_count(SyncDb *db, const char *category, uint64_t *ret) {
        sqlite3_stmt *st = db->stmt[STMT_DOC_COUNT];
        int rc, r = 0;

        sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *ret = (uint64_t) sqlite3_column_int64(st, 0);
        else
                r = sqlite_to_errno(rc) ?: -EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return r;
}

/* A one-off statement: prepared, bound by the caller through bind(), stepped to its end.
 * Returns the number of rows changed (≥ 0) or -errno. */
static int exec_bound(SyncDb *db, const char *sql, void (*bind)(sqlite3_stmt *st, void *u),
                      void *u) {
        sqlite3_stmt *st = NULL;
        int rc;

        if (db->readonly)
                return -EROFS;
        rc = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        bind(st, u);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
                ids_debug("sync.db: %s: %s", sql, sqlite3_errmsg(db->db));
                return sqlite_to_errno(rc) ?: -EIO;
        }
        return sqlite3_changes(db->db);
}

typedef struct HeldArgs {
        const char *category, *scope, *key, *path, *side, *decision;
        uint64_t id, size, usec;
} HeldArgs;

static void bind_held_add(sqlite3_stmt *st, void *u) {
        const HeldArgs *a = u;

        sqlite3_bind_text(st, 1, a->category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->scope, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, a->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, a->side, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (sqlite3_int64) a->size);
        sqlite3_bind_int64(st, 7, (sqlite3_int64) a->usec);
}

int sync_db_held_add(SyncDb *db, const char *category, const char *scope, const char *key,
                     const char *path, const char *side, uint64_t size, uint64_t now_usec,
                     uint64_t *ret_id) {
        HeldArgs a = { .category = category, .scope = scope, .key = key, .path = path,
                       .side = side, .size = size, .usec = now_usec };
        sqlite3_stmt *st = NULL;
        int r, rc;

        if (!STR_IN_SET(side, "device", "computer"))
                return -EINVAL;
        /* The same path held again (a rerun before the decision) keeps its id. */
        r = exec_bound(db, "INSERT OR IGNORE INTO held (category, scope, key, path, side, size, "
                       "created_usec) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", bind_held_add, &a);
        if (r < 0)
                return r;
        rc = sqlite3_prepare_v2(db->db, "SELECT id FROM held WHERE category = ?1 AND "
                                "scope = ?2 AND key = ?3", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        bind_held_add(st, &a);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                if (ret_id)
                        *ret_id = (uint64_t) sqlite3_column_int64(st, 0);
                r = 0;
        } else
                r = sqlite_to_errno(rc) ?: -EIO;
        sqlite3_finalize(st);
        return r;
}

static void bind_held_id(sqlite3_stmt *st, void *u) {
        const HeldArgs *a = u;

        sqlite3_bind_int64(st, 1, (sqlite3_int64) a->id);
        if (a->decision) {
                sqlite3_bind_text(st, 2, a->decision, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (sqlite3_int64) a->usec);
        }
}

int sync_db_held_delete(SyncDb *db, uint64_t id) {
        HeldArgs a = { .id = id };
        int r = exec_bound(db, "DELETE FROM held WHERE id = ?1", bind_held_id, &a);

        return r < 0 ? r : 0;
}

int sync_db_held_decide(SyncDb *db, uint64_t id, const char *decision, uint64_t now_usec) {
        HeldArgs a = { .id = id, .decision = decision, .usec = now_usec };
        int r;

        if (!STR_IN_SET(decision, "approve", "reject"))
                return -EINVAL;
        r = exec_bound(db, "UPDATE held SET decision = ?2, decided_usec = ?3 WHERE id = ?1",
                       bind_held_id, &a);
        return r < 0 ? r : r > 0;
}

void sync_held_done(SyncHeld *h) {
        if (!h)
                return;
        free(h->pub.scope);
        free(h->pub.path);
        free(h->key);
        h->pub.scope = h->pub.path = h->key = NULL;
}

int sync_db_held_list(SyncDb *db, const char *category, bool undecided_only,
                      int (*fn)(const SyncHeld *h, void *userdata), void *userdata) {
        sqlite3_stmt *st = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(db->db,
                                "SELECT id, category, scope, key, path, side, size, created_usec, "
                                "decision FROM held WHERE (?1 IS NULL OR category = ?1) AND "
                                "(?2 = 0 OR decision IS NULL) ORDER BY id", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_to_errno(rc);
        if (category)
                sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, undecided_only);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                SyncHeld h = {};
                const char *s;

                h.pub.id = (uint64_t) sqlite3_column_int64(st, 0);
                s = (const char *) sqlite3_column_text(st, 1);
                snprintf(h.pub.category, sizeof(h.pub.category), "%s", s ? s : "");
                h.pub.scope = column_strdup(st, 2);
                h.key = column_strdup(st, 3);
                h.pub.path = column_strdup(st, 4);
                s = (const char *) sqlite3_column_text(st, 5);
                snprintf(h.pub.side, sizeof(h.pub.side), "%s", s ? s : "");
                h.pub.size = (uint64_t) sqlite3_column_int64(st, 6);
                h.pub.created_usec = (uint64_t) sqlite3_column_int64(st, 7);
                s = (const char *) sqlite3_column_text(st, 8);
                snprintf(h.decision, sizeof(h.decision), "%s", s ? s : "");
                if (!h.pub.scope || !h.key || !h.pub.path)
                        r = -ENOMEM;
                else
                        r = fn(&h, userdata);
                sync_held_done(&h);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc);
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

const char *const sync_choice_names[3] = { "merge", "replace-device", "replace-computer" };

static void bind_question(sqlite3_stmt *st, void *u) {
        const ids_sync_question *q = u;

        sqlite3_bind_text(st, 1, q->category, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64) q->created_usec);
        sqlite3_bind_int64(st, 3, (sqlite3_int64) q->files_device);
        sqlite3_bind_int64(st, 4, (sqlite3_int64) q->files_computer);
}

typedef struct PlanArgs {
        const char *category;
        const ids_sync_choice_plan *p;
} PlanArgs;

static void bind_plan(sqlite3_stmt *st, void *u) {
        const PlanArgs *a = u;
        const uint64_t v[] = { a->p->add_device, a->p->add_computer, a->p->overwrite_device,
                               a->p->overwrite_computer, a->p->remove_device,
                               a->p->remove_computer, a->p->conflicts };

        sqlite3_bind_text(st, 1, a->category, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->p->choice, -1, SQLITE_STATIC);
        for (int i = 0; i < (int) ELEMENTSOF(v); i++)
                sqlite3_bind_int64(st, 3 + i, (sqlite3_int64) v[i]);
}

int sync_db_question_put(SyncDb *db, const ids_sync_question *q) {
        int r;

        /* Asked again before an answer: the numbers are refreshed, the question (and its
         * creation time) stays the one a person may be reading. */
        r = exec_bound(db, "INSERT INTO questions (category, created_usec, files_device, "
                       "files_computer) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (category) DO "
                       "UPDATE SET files_device = ?3, files_computer = ?4", bind_question,
                       (void *) q);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(q->choices); i++) {
                PlanArgs a = { .category = q->category, .p = &q->choices[i] };

                if (!STR_IN_SET(q->choices[i].choice, "merge", "replace-device",
                                "replace-computer"))
                        return -EINVAL;
                r = exec_bound(db, "INSERT OR REPLACE INTO question_plans (category, choice, "
                               "add_device, add_computer, overwrite_device, overwrite_computer, "
                               "remove_device, remove_computer, conflicts) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", bind_plan, &a);
        }
        return r < 0 ? r : 0;
}

static void bind_category(sqlite3_stmt *st, void *u) {
        const HeldArgs *a = u;

        sqlite3_bind_text(st, 1, a->category, -1, SQLITE_STATIC);
        if (a->decision) {
                sqlite3_bind_text(st, 2, a->decision, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (sqlite3_int64) a->usec);
        }
}

int sync_db_question_choose(SyncDb *db, const char *category, const char *choice,
                            uint64_t now_usec) {
        HeldArgs a = { .category = category, .decision = choice, .usec = now_usec };
        int r;

        if (!STR_IN_SET(choice, "merge", "replace-device", "replace-computer"))
                return -EINVAL;
        r = exec_bound(db, "UPDATE questions SET choice = ?2, decided_usec = ?3 "
                       "WHERE category = ?1", bind_category, &a);
        return r < 0 ? r : r > 0;
}

int sync_db_question_delete(SyncDb *db, const char *category) {
        HeldArgs a = { .category = category };
        int r;

        r = exec_bound(db, "DELETE FROM question_plans WHERE category = ?1", bind_category, &a);
        if (r >= 0)
                r = exec_bound(db, "DELETE FROM questions WHERE category = ?1", bind_category,
                               &a);
        return r < 0 ? r : 0;
}

int sync_db_question_list(SyncDb *db, const char *category, bool undecided_only,
                          int (*fn)(const ids_sync_question *q, const char *choice,
                                    void *userdata),
                          void *userdata) {
        sqlite3_stmt *st = NULL, *pl = NULL;
        int rc, r = 0;

        rc = sqlite3_prepare_v2(db->db,
                                "SELECT category, created_usec, files_device, files_computer, "
                                "choice FROM questions WHERE (?1 IS NULL OR category = ?1) AND "
                                "(?2 = 0 OR choice IS NULL) ORDER BY category", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_prepare_v2(db->db,
                                        "SELECT add_device, add_computer, overwrite_device, "
                                        "overwrite_computer, remove_device, remove_computer, "
                                        "conflicts FROM question_plans WHERE category = ?1 AND "
                                        "choice = ?2", -1, &pl, NULL);
        if (rc != SQLITE_OK) {
                sqlite3_finalize(st);
                return sqlite_to_errno(rc);
        }
        if (category)
                sqlite3_bind_text(st, 1, category, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, undecided_only);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                ids_sync_question q = {};
                const char *s = (const char *) sqlite3_column_text(st, 0);
                char choice[24];

                snprintf(q.category, sizeof(q.category), "%s", s ? s : "");
                q.created_usec = (uint64_t) sqlite3_column_int64(st, 1);
                q.files_device = (uint64_t) sqlite3_column_int64(st, 2);
                q.files_computer = (uint64_t) sqlite3_column_int64(st, 3);
                s = (const char *) sqlite3_column_text(st, 4);
                snprintf(choice, sizeof(choice), "%s", s ? s : "");
                for (size_t i = 0; i < ELEMENTSOF(q.choices); i++) {
                        ids_sync_choice_plan *p = &q.choices[i];
                        uint64_t *v[] = { &p->add_device, &p->add_computer,
                                          &p->overwrite_device, &p->overwrite_computer,
                                          &p->remove_device, &p->remove_computer,
                                          &p->conflicts };

                        snprintf(p->choice, sizeof(p->choice), "%s", sync_choice_names[i]);
                        sqlite3_bind_text(pl, 1, q.category, -1, SQLITE_STATIC);
                        sqlite3_bind_text(pl, 2, p->choice, -1, SQLITE_STATIC);
                        rc = sqlite3_step(pl);
                        if (rc == SQLITE_ROW)
                                for (int k = 0; k < (int) ELEMENTSOF(v); k++)
                                        *v[k] = (uint64_t) sqlite3_column_int64(pl, k);
                        sqlite3_reset(pl);
                        sqlite3_clear_bindings(pl);
                        if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
                                r = sqlite_to_errno(rc);
                                break;
                        }
                }
                if (r >= 0)
                        r = fn(&q, choice, userdata);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rc != SQLITE_DONE)
                r = sqlite_to_errno(rc);
        sqlite3_finalize(pl);
        sqlite3_finalize(st);
        return r < 0 ? r : 0;
}

bool sync_decision_valid(const ids_sync_decision *d) {
        if (!d || !d->choice)
                return false;
        if (d->category)
                return d->category[0] && STR_IN_SET(d->choice, "merge", "replace-device",
                                                    "replace-computer");
        return d->item > 0 && STR_IN_SET(d->choice, "approve", "reject");
}

int sync_db_record_decisions(SyncDb *db, const ids_sync_decision *d, size_t n,
                             uint64_t now_usec) {
        int r = 0;

        for (size_t i = 0; i < n; i++)
                if (!sync_decision_valid(&d[i]))
                        return -EINVAL;
        if (n == 0)
                return 0;
        r = sync_db_begin(db);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (d[i].category) {
                        r = sync_db_question_choose(db, d[i].category, d[i].choice, now_usec);
                        if (r == 0)
                                ids_debug("sync: no first-sync question for '%s', ignoring "
                                          "the answer '%s'", d[i].category, d[i].choice);
                } else {
                        r = sync_db_held_decide(db, d[i].item, d[i].choice, now_usec);
                        if (r == 0)
                                ids_debug("sync: no held item %" PRIu64 ", ignoring the "
                                          "answer '%s'", d[i].item, d[i].choice);
                }
        }
        if (r < 0) {
                sync_db_rollback(db);
                return r;
        }
        return sync_db_commit(db);
}

typedef struct DocGet {
        const char *key;
        SyncDoc *ret;
        int found;
} DocGet;

static int doc_get_one(const SyncDoc *d, void *userdata) {
        DocGet *g = userdata;

        if (g->found || strcmp(d->key, g->key) != 0)
                return 0;
        *g->ret = *d;
        g->ret->key = strdup(d->key);
        g->ret->device_path = strdup(d->device_path);
        g->ret->host_path = strdup(d->host_path);
        g->found = 1;
        if (!g->ret->key || !g->ret->device_path || !g->ret->host_path) {
                sync_doc_done(g->ret);
                return -ENOMEM;
        }
        return 0;
}

int sync_db_doc_get(SyncDb *db, const char *category, const char *scope, const char *key,
                    SyncDoc *ret) {
        DocGet g = { .key = key, .ret = ret };
        int r;

        /* Rare (offline decisions): a walk of the scope's rows is fast enough. */
        r = sync_db_doc_list(db, category, scope, doc_get_one, &g);
        return r < 0 ? r : g.found;
}

/* ---- mobilesync records (migration 3) ------------------------------------------------------ */

typedef struct PimArgs {
        const char *category, *id, *entity, *parent;
        const void *data;
        size_t len;
} PimArgs;

static void bind_pim(sqlite3_stmt *st, void *u) {
        const PimArgs *a = u;

        sqlite3_bind_text(st, 1, a->category, -1, SQLITE_STATIC);
        if (a->id)
                sqlite3_bind_text(st, 2, a->id, -1, SQLITE_STATIC);
        if (a->entity) {
                sqlite3_bind_text(st, 3, a->entity, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, a->parent ? a->parent : "", -1, SQLITE_STATIC);
                sqlite3_bind_blob64(st, 5, a->data, a->len, SQLITE_STATIC);
        }
}

int sync_db_pim_put(SyncDb *db, const char *category, const char *id, const char *entity,
                    const char *parent, const void *data, size_t len) {
        PimArgs a = { category, id, entity, parent, data, len };
        int r = exec_bound(db, "INSERT OR REPLACE INTO pim_records (category, id, entity, parent, "
                           "data) VALUES (?1, ?2, ?3, ?4, ?5)", bind_pim, &a);

        return r < 0 ? r : 0;
}

int sync_db_pim_delete(SyncDb *db, const char *category, const char *id) {
        PimArgs a = { .category = category, .id = id };
        int r = exec_bound(db, "DELETE FROM pim_records WHERE category = ?1 AND id = ?2",
                           bind_pim, &a);

        return r < 0 ? r : 0;
}

int sync_db_pim_clear(SyncDb *db, const char *category) {
        PimArgs a = { .category = category };
        int r = exec_bound(db, "DELETE FROM pim_records WHERE category = ?1", bind_pim, &a);

        return r < 0 ? r : 0;
}

typedef struct PimList {
        int (*fn)(const char *id, const char *entity, const char *parent, const void *data,
                  size_t len, void *userdata);
        void *userdata;
} PimList;

static int pim_row(sqlite3_stmt *st, void *userdata) {
        PimList *l = userdata;

        return l->fn(column_str(st, 0), column_str(st, 1), column_str(st, 2),
                     sqlite3_column_blob(st, 3), (size_t) sqlite3_column_bytes(st, 3),
                     l->userdata);
}

int sync_db_pim_list(SyncDb *db, const char *category,
                     int (*fn)(const char *id, const char *entity, const char *parent,
                               const void *data, size_t len, void *userdata),
                     void *userdata) {
        return query_rows(db, "SELECT id, entity, parent, data FROM pim_records WHERE "
                          "category = ?1 ORDER BY id", category, pim_row,
                          &(PimList) { fn, userdata });
}
