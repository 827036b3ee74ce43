/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Safari bookmarks, Notes and Voice Memos of a backup profile (gen-profile --pim, mutate
 * --pim-*): each writes its database with the schema of the profile's iOS version, the
 * files the database points to, and the ground truth JSON a test compares a host's export
 * against (DIR/bookmarks.json, DIR/notes.json, DIR/voice-memos.json).
 *
 * The schemas and their encodings are those of docs/ios-databases-bookmarks-notes-memos.md (the Notes/bookmarks/
 * Voice Memos part, written from published parsers); lib/ reads the same document on its
 * own, so the two sides never share a misreading in code. ProductVersion 19 and later gets a
 * deliberately changed "future" schema that a host must report as unknown.
 *
 * Each kind keeps an in-memory model: generate builds it from the seed, mutate reads it
 * back from the database (the database is the only state), changes it, and both write the
 * database from scratch (to a temporary name, renamed over the old one, so a hard-linked
 * placeholder from gen-profile is replaced, not written through) and the JSON from it.
 */
#include <plist/plist.h>
#include <sqlite3.h>
#include <zlib.h>

#include "profile-internal.h"
#include "profile-pim.h"

#define BOOKMARKS_DB "backup/HomeDomain/Library/Safari/Bookmarks.db"
#define NOTES_DOMAIN "AppDomainGroup-group.com.apple.notes"
#define NOTES_DB "backup/" NOTES_DOMAIN "/NoteStore.sqlite"
#define VM_DOMAIN "AppDomainGroup-group.com.apple.VoiceMemos.shared"
#define VM_DB "backup/" VM_DOMAIN "/Recordings/CloudRecordings.db"

#define NO_DATE INT64_MIN

/* ---- small helpers ---------------------------------------------------------------------- */

static void sqlite3_closep(sqlite3 **db) {
        if (*db)
                (void) sqlite3_close(*db);
}

static void sqlite3_finalizep(sqlite3_stmt **s) {
        if (*s)
                (void) sqlite3_finalize(*s);
}

/* The major version of ProductVersion ("17.5" → 17); 0 if it does not start with digits. */
static int ios_major(const char *ios) {
        return ios ? atoi(ios) : 0;
}

static bool ios_future(const char *ios) {
        return ios_major(ios) >= 19;
}

static char *xstrdup(const char *s) {
        return s ? strdup(s) : NULL;
}

/* A UUID string (upper case, version 4 layout) from r. */
static void uuid_make(Rng *r, char out[static 37]) {
        char b[80];

        snprintf(b, sizeof(b), "%08X-%04X-4%03X-%04X-%012" PRIX64,
                 (unsigned) rng_range(r, UINT32_MAX), (unsigned) rng_range(r, 0x10000),
                 (unsigned) rng_range(r, 0x1000), 0x8000 | (unsigned) rng_range(r, 0x4000),
                 rng_range(r, UINT64_C(1) << 48));
        memcpy(out, b, 36);
        out[36] = '\0';
}

/* "YYYY-MM-DDTHH:MM:SSZ" of Unix seconds t. */
static void iso_time(int64_t t, char out[static 21]) {
        time_t tt = (time_t) t;
        struct tm tm;

        (void) gmtime_r(&tt, &tm);
        (void) strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A JSON string literal: UTF-8 passes through, quotes, backslashes and control characters
 * are escaped; NULL is written as null. */
static void json_str(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if (c == '"' || c == '\\')
                        fprintf(f, "\\%c", c);
                else if (c == '\n')
                        fputs("\\n", f);
                else if (c < 0x20)
                        fprintf(f, "\\u%04x", c);
                else
                        fputc(c, f);
        }
        fputc('"', f);
}

static void json_time(FILE *f, int64_t t) {
        char b[21];

        if (t == NO_DATE) {
                fputs("null", f);
                return;
        }
        iso_time(t, b);
        fprintf(f, "\"%s\"", b);
}

/* Write n bytes to DIR/rel through a temporary name and rename(), with mtime t. */
static int write_file_atomic(const char *dir, const char *rel, const void *data, size_t n,
                             int64_t t) {
        _cleanup_(freep) char *tmp = NULL;
        _cleanup_(closep) int dfd = -1;
        int fd, r;

        if (asprintf(&tmp, "%s.tmp", rel) < 0)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                log_warn("pim: cannot open '%s': %s", dir, strerror(-r));
                return r;
        }
        (void) unlinkat(dfd, tmp, 0);
        fd = create_at(dfd, tmp);
        if (fd < 0)
                return log_warn("pim: cannot create '%s/%s': %s", dir, tmp, strerror(-fd)), fd;
        r = write_all(fd, data, n);
        (void) close(fd);
        if (r >= 0 && renameat(dfd, tmp, dfd, rel) < 0)
                r = -errno;
        if (r < 0) {
                log_warn("pim: cannot write '%s/%s': %s", dir, rel, strerror(-r));
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return set_mtime_at(dfd, rel, t);
}

/* Write a finished memstream (JSON) atomically to DIR/name. */
static int json_finish(const char *dir, const char *name, FILE **f, char **text, size_t *len,
                       int64_t t) {
        if (fclose(*f) != 0) {
                *f = NULL;
                return -ENOMEM;
        }
        *f = NULL;
        return write_file_atomic(dir, name, *text, *len, t);
}

/*
 * One SQL statement with parameters; fmt has one letter per parameter: 'i' int64_t, 'd'
 * double, 't' text (NULL binds NULL), 'b' blob (const void *, size_t; NULL binds NULL),
 * 'n' NULL (no argument).
 */
static int db_run(sqlite3 *db, const char *sql, const char *fmt, ...) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        va_list ap;
        int k = 1, r = 0;

        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
                log_warn("pim: sqlite: %s: %s", sql, sqlite3_errmsg(db));
                return -EIO;
        }
        va_start(ap, fmt);
        for (const char *p = fmt; *p; p++, k++)
                switch (*p) {
                case 'i':
                        sqlite3_bind_int64(s, k, va_arg(ap, int64_t));
                        break;
                case 'd':
                        sqlite3_bind_double(s, k, va_arg(ap, double));
                        break;
                case 't': {
                        const char *v = va_arg(ap, const char *);

                        if (v)
                                sqlite3_bind_text(s, k, v, -1, SQLITE_TRANSIENT);
                        else
                                sqlite3_bind_null(s, k);
                        break;
                }
                case 'b': {
                        const void *v = va_arg(ap, const void *);
                        size_t n = va_arg(ap, size_t);

                        if (v)
                                sqlite3_bind_blob(s, k, v, (int) n, SQLITE_TRANSIENT);
                        else
                                sqlite3_bind_null(s, k);
                        break;
                }
                default:
                        sqlite3_bind_null(s, k);
                }
        va_end(ap);
        if (sqlite3_step(s) != SQLITE_DONE) {
                log_warn("pim: sqlite: %s: %s", sql, sqlite3_errmsg(db));
                r = -EIO;
        }
        return r;
}

static int db_exec(sqlite3 *db, const char *sql) {
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                log_warn("pim: sqlite: %.60s…: %s", sql, sqlite3_errmsg(db));
                return -EIO;
        }
        return 0;
}

/* Create DIR/rel.tmp afresh as an SQLite database (its directory too). */
static int db_create(const char *dir, const char *rel, sqlite3 **ret) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(freep) char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s.tmp", dir, rel) < 0)
                return -ENOMEM;
        r = mkdir_parents_at(AT_FDCWD, path);
        if (r < 0)
                return log_warn("pim: cannot create the directory of '%s': %s", path,
                                strerror(-r)), r;
        (void) unlink(path);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK)
                return log_warn("pim: cannot create '%s'", path), -EIO;
        r = db_exec(db, "PRAGMA journal_mode=DELETE; BEGIN");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(db);
        return 0;
}

/* Commit and close db, then rename DIR/rel.tmp over DIR/rel with mtime t. */
static int db_finish(const char *dir, const char *rel, sqlite3 **db, int64_t t) {
        _cleanup_(freep) char *tmp = NULL, *path = NULL;
        int r;

        r = db_exec(*db, "COMMIT");
        (void) sqlite3_close(*db);
        *db = NULL;
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s/%s.tmp", dir, rel) < 0 || asprintf(&path, "%s/%s", dir, rel) < 0)
                return -ENOMEM;
        if (rename(tmp, path) < 0) {
                r = -errno;
                log_warn("pim: cannot rename '%s': %s", tmp, strerror(-r));
                return r;
        }
        return set_mtime_at(AT_FDCWD, path, t);
}

/* Open DIR/rel read-only; -ENOENT (not logged) if it does not exist. */
static int db_open_ro(const char *dir, const char *rel, sqlite3 **ret) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(freep) char *path = NULL;

        if (asprintf(&path, "%s/%s", dir, rel) < 0)
                return -ENOMEM;
        if (access(path, F_OK) < 0)
                return -ENOENT;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
                return log_warn("pim: cannot open '%s'", path), -EIO;
        *ret = TAKE_PTR(db);
        return 0;
}

static const char *col_text(sqlite3_stmt *s, int i) {
        return (const char *) sqlite3_column_text(s, i);
}

/* A column holding Mac absolute time, as Unix seconds; NO_DATE for NULL. */
static int64_t col_mac_time(sqlite3_stmt *s, int i) {
        if (sqlite3_column_type(s, i) == SQLITE_NULL)
                return NO_DATE;
        return (int64_t) sqlite3_column_double(s, i) + APPLE_EPOCH;
}

/* The time of a mutate run: after everything gen-profile dates. */
static int64_t mutate_time(uint64_t seed) {
        Rng r;

        rng_init(&r, seed ^ UINT64_C(0x6d7574617465));       /* "mutate" */
        return BASE_TIME + 30 * DAY + (int64_t) rng_range(&r, 60 * DAY);
}

/* k distinct indices out of candidates[0..n), chosen by r, in the order drawn: the chosen
 * ones are moved to the front of candidates. Returns how many (≤ n). */
static size_t pick(Rng *r, size_t *cand, size_t n, size_t k) {
        if (k > n)
                k = n;
        for (size_t i = 0; i < k; i++) {
                size_t j = i + rng_range(r, n - i), x = cand[i];

                cand[i] = cand[j];
                cand[j] = x;
        }
        return k;
}

static const char *const words[] = {
        "apple", "river", "Zürich", "café", "naïve", "東京", "garden", "ticket", "meeting",
        "Straße", "piano", "budget", "λόγος", "window", "harbour", "rocket", "Crème brûlée",
        "summer", "draft", "invoice",
};

static char *words_make(Rng *r, unsigned n) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        for (unsigned i = 0; i < n; i++)
                fprintf(f, "%s%s", i ? " " : "", words[rng_range(r, ELEMENTSOF(words))]);
        if (fclose(f) != 0)
                return NULL;
        return s;
}

/* ==== Safari bookmarks ==================================================================== */

typedef struct Bookmark {
        int64_t id, parent;     /* parent -1: NULL (the root) */
        int type;               /* 0 bookmark, 1 folder */
        int64_t special;
        char *title, *url;
        int64_t order;
        bool deleted, read;
        int64_t added;          /* reading list DateAdded (Unix seconds) or NO_DATE */
        char *preview;
} Bookmark;

typedef struct Bookmarks {
        Bookmark *v;
        size_t n;
} Bookmarks;

#define BM_ROOT 0
#define BM_BAR 1
#define BM_READING 2

static void bookmarks_done(Bookmarks *b) {
        for (size_t i = 0; i < b->n; i++) {
                free(b->v[i].title);
                free(b->v[i].url);
                free(b->v[i].preview);
        }
        free(b->v);
        *b = (Bookmarks) {};
}

/* Append a row under parent, at the end of its children. NULL on OOM. */
static Bookmark *bm_add(Bookmarks *b, int64_t parent, int type, const char *title,
                        const char *url) {
        int64_t id = 0, order = 0;
        Bookmark *v;

        for (size_t i = 0; i < b->n; i++) {
                if (b->v[i].id >= id)
                        id = b->v[i].id + 1;
                if (b->v[i].parent == parent && parent >= 0 && b->v[i].order >= order)
                        order = b->v[i].order + 1;
        }
        v = realloc(b->v, (b->n + 1) * sizeof(Bookmark));
        if (!v)
                return NULL;
        b->v = v;
        v = &b->v[b->n++];
        *v = (Bookmark) {
                .id = id, .parent = parent, .type = type, .title = xstrdup(title),
                .url = xstrdup(url), .order = order, .added = NO_DATE,
        };
        return v;
}

static const char *const bm_titles[] = {
        "Tom & Jerry \"Classics\"",
        "a < b: Ordnung muss sein",
        "Zürich — Café Sprüngli",
        "東京 ガイド",
        "Ελληνικά νέα",
        "Rock 'n' Roll <live> & more",
};

static const char *const bm_urls[] = {
        "https://example.com/search?q=tom&jerry=1&x=\"y\"",
        "https://example.org/compare?a=1&b=%3C2%3E",
        "https://www.example.ch/café/sprüngli?lang=de",
        "https://例え.テスト/ガイド",
        "https://news.example.gr/ελληνικά",
        "http://example.net/rock?n=roll&live=<yes>",
};

static int bookmarks_build(Bookmarks *b, uint64_t seed, unsigned n) {
        static const struct {
                const char *title;
                int64_t parent;
        } folders[] = {
                { "News", BM_BAR },                     /* 3: Favorites/News */
                { "Tech & <Code>", 3 },                 /* 4: Favorites/News/Tech & <Code> */
                { "Reisen ✈ Zürich", BM_ROOT },         /* 5 */
                { "Küche", 5 },                         /* 6: Reisen ✈ Zürich/Küche */
        };
        static const int64_t homes[] = { BM_BAR, 3, 4, BM_ROOT, 5, 6 };
        unsigned reading = n / 4 < 2 ? 2 : n / 4;
        Bookmark *x;
        Rng r;

        rng_init(&r, seed ^ UINT64_C(0x626f6f6b6d61726b));  /* "bookmark" */
        if (!bm_add(b, -1, 1, "", NULL) || !bm_add(b, BM_ROOT, 1, "BookmarksBar", NULL) ||
            !bm_add(b, BM_ROOT, 1, "com.apple.ReadingList", NULL))
                return -ENOMEM;
        b->v[BM_BAR].special = 1;
        b->v[BM_READING].special = 3;
        for (size_t i = 0; i < ELEMENTSOF(folders); i++)
                if (!bm_add(b, folders[i].parent, 1, folders[i].title, NULL))
                        return -ENOMEM;
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(freep) char *t = NULL, *u = NULL;

                if (i < ELEMENTSOF(bm_titles)) {
                        t = strdup(bm_titles[i]);
                        u = strdup(bm_urls[i]);
                } else {
                        _cleanup_(freep) char *w = words_make(&r, 2);

                        if (!w || asprintf(&t, "%s %u", w, i + 1) < 0 ||
                            asprintf(&u, "https://www.example.org/page/%u?ref=pim&n=%u", i + 1,
                                     (unsigned) rng_range(&r, 1000)) < 0)
                                return -ENOMEM;
                }
                if (!t || !u || !bm_add(b, homes[i % ELEMENTSOF(homes)], 0, t, u))
                        return -ENOMEM;
        }
        /* Removed on the phone but not yet synced: present in the table, not in Safari. */
        x = bm_add(b, BM_BAR, 0, "Deleted bookmark", "https://deleted.example.com/");
        if (!x)
                return -ENOMEM;
        x->deleted = true;
        for (unsigned i = 0; i < reading; i++) {
                _cleanup_(freep) char *t = NULL, *u = NULL, *w = words_make(&r, 3);

                if (!w || asprintf(&t, "Read later: %s", w) < 0 ||
                    asprintf(&u, "https://blog.example.com/%u/article?id=%u&src=rl", 2025 + i,
                             (unsigned) rng_range(&r, 100000)) < 0)
                        return -ENOMEM;
                x = bm_add(b, BM_READING, 0, t, u);
                if (!x)
                        return -ENOMEM;
                /* The first one has no extra_attributes at all: "added" is null. */
                if (i > 0) {
                        x->added = BASE_TIME - (int64_t) rng_range(&r, 200 * DAY);
                        x->preview = words_make(&r, 8);
                        if (!x->preview)
                                return -ENOMEM;
                }
                x->read = i == 1;
        }
        return 0;
}

/* extra_attributes of a reading list item: bplist00 {"com.apple.ReadingList": {...}}. */
static int bm_extra(const Bookmark *x, char **ret, uint32_t *ret_n) {
        plist_t top, rl;

        top = plist_new_dict();
        rl = plist_new_dict();
        plist_dict_set_item(rl, "DateAdded",
                            plist_new_date((int32_t) (x->added - APPLE_EPOCH), 0));
        plist_dict_set_item(rl, "PreviewText", plist_new_string(x->preview ?: ""));
        if (x->read)
                plist_dict_set_item(rl, "DateLastViewed",
                                    plist_new_date((int32_t) (x->added - APPLE_EPOCH + DAY), 0));
        plist_dict_set_item(top, "com.apple.ReadingList", rl);
        *ret = NULL;
        plist_to_bin(top, ret, ret_n);
        plist_free(top);
        return *ret ? 0 : -ENOMEM;
}

static int bookmarks_write_db(const char *dir, const Bookmarks *b, bool future, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        int r;

        r = db_create(dir, BOOKMARKS_DB, &db);
        if (r < 0)
                return r;
        /* The future schema drops special_id and renames order_index to position. */
        r = db_exec(db, future ?
                "CREATE TABLE bookmarks (id INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER, "
                "type INTEGER, title TEXT, url TEXT, num_children INTEGER DEFAULT 0, "
                "position INTEGER NOT NULL, external_uuid TEXT, read INTEGER DEFAULT NULL, "
                "last_modified REAL, deleted INTEGER DEFAULT 0, extra_attributes BLOB, "
                "hidden INTEGER DEFAULT 0)" :
                "CREATE TABLE bookmarks (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "special_id INTEGER DEFAULT 0, parent INTEGER, type INTEGER, title TEXT, "
                "url TEXT, num_children INTEGER DEFAULT 0, editable INTEGER DEFAULT 1, "
                "deletable INTEGER DEFAULT 1, hidden INTEGER DEFAULT 0, "
                "hidden_ancestor_count INTEGER DEFAULT 0, order_index INTEGER NOT NULL, "
                "external_uuid TEXT, read INTEGER DEFAULT NULL, last_modified REAL, "
                "server_id TEXT, sync_key TEXT, sync_data BLOB, added INTEGER DEFAULT 1, "
                "deleted INTEGER DEFAULT 0, extra_attributes BLOB, local_attributes BLOB, "
                "fetched_icon BOOL DEFAULT 0, icon BLOB, dav_generation INTEGER DEFAULT 0, "
                "locally_added BOOL DEFAULT 0, archive_status INTEGER DEFAULT 0, "
                "syncable BOOL DEFAULT 1, web_filter_status INTEGER DEFAULT 0, "
                "modified_attributes UNSIGNED BIG INT DEFAULT 0);"
                "CREATE TABLE generations (generation INTEGER);"
                "CREATE TABLE sync_properties (key TEXT PRIMARY KEY, value TEXT);"
                "CREATE INDEX parent_index ON bookmarks (parent);"
                "CREATE INDEX order_index_index ON bookmarks (parent, order_index)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n; i++) {
                const Bookmark *x = &b->v[i];
                _cleanup_(freep) char *extra = NULL;
                uint32_t extra_n = 0;
                int64_t children = 0;
                Rng u;
                char uuid[37];

                for (size_t j = 0; j < b->n; j++)
                        children += b->v[j].parent == x->id;
                if (x->added != NO_DATE) {
                        r = bm_extra(x, &extra, &extra_n);
                        if (r < 0)
                                return r;
                }
                rng_init(&u, (uint64_t) x->id * UINT64_C(0x9e3779b97f4a7c15));
                uuid_make(&u, uuid);
                if (future)
                        r = db_run(db, "INSERT INTO bookmarks (id, parent, type, title, url, "
                                   "num_children, position, external_uuid, read, last_modified, "
                                   "deleted, extra_attributes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                                   "iiittiitidib", x->id, x->parent, (int64_t) x->type, x->title,
                                   x->url, children, x->order, uuid, (int64_t) x->read,
                                   (double) (BASE_TIME - APPLE_EPOCH), (int64_t) x->deleted,
                                   (const void *) extra, (size_t) extra_n);
                else
                        r = db_run(db, "INSERT INTO bookmarks (id, special_id, parent, type, "
                                   "title, url, num_children, order_index, external_uuid, read, "
                                   "last_modified, deleted, extra_attributes) "
                                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                   "iiiittiitidib", x->id, x->special, x->parent,
                                   (int64_t) x->type, x->title, x->url, children, x->order,
                                   uuid, (int64_t) x->read, (double) (BASE_TIME - APPLE_EPOCH),
                                   (int64_t) x->deleted, (const void *) extra, (size_t) extra_n);
                if (r < 0)
                        return r;
                /* The root's parent is NULL, not -1. */
                if (x->parent < 0) {
                        r = db_run(db, "UPDATE bookmarks SET parent = NULL WHERE id = ?", "i",
                                   x->id);
                        if (r < 0)
                                return r;
                }
        }
        return db_finish(dir, BOOKMARKS_DB, &db, t);
}

static int bookmarks_load(const char *dir, bool future, Bookmarks *b) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int r;

        r = db_open_ro(dir, BOOKMARKS_DB, &db);
        if (r < 0)
                return r;
        if (sqlite3_prepare_v2(db, future ?
                               "SELECT id, 0, parent, type, title, url, position, deleted, "
                               "read, extra_attributes FROM bookmarks ORDER BY id" :
                               "SELECT id, special_id, parent, type, title, url, order_index, "
                               "deleted, read, extra_attributes FROM bookmarks ORDER BY id",
                               -1, &s, NULL) != SQLITE_OK)
                return log_warn("pim: %s: %s", BOOKMARKS_DB, sqlite3_errmsg(db)), -EBADMSG;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
                Bookmark *v = realloc(b->v, (b->n + 1) * sizeof(Bookmark)), *x;

                if (!v)
                        return -ENOMEM;
                b->v = v;
                x = &b->v[b->n++];
                *x = (Bookmark) {
                        .id = sqlite3_column_int64(s, 0),
                        .special = sqlite3_column_int64(s, 1),
                        .parent = sqlite3_column_type(s, 2) == SQLITE_NULL ? -1 :
                                  sqlite3_column_int64(s, 2),
                        .type = sqlite3_column_int(s, 3),
                        .title = xstrdup(col_text(s, 4)),
                        .url = xstrdup(col_text(s, 5)),
                        .order = sqlite3_column_int64(s, 6),
                        .deleted = sqlite3_column_int(s, 7) != 0,
                        .read = sqlite3_column_int(s, 8) != 0,
                        .added = NO_DATE,
                };
                if (sqlite3_column_type(s, 9) == SQLITE_BLOB) {
                        plist_t top = NULL, rl, d, p;

                        plist_from_bin(sqlite3_column_blob(s, 9),
                                       (uint32_t) sqlite3_column_bytes(s, 9), &top);
                        rl = top ? plist_dict_get_item(top, "com.apple.ReadingList") : NULL;
                        d = rl ? plist_dict_get_item(rl, "DateAdded") : NULL;
                        p = rl ? plist_dict_get_item(rl, "PreviewText") : NULL;
                        if (d && plist_get_node_type(d) == PLIST_DATE) {
                                int32_t sec = 0, usec = 0;

                                plist_get_date_val(d, &sec, &usec);
                                x->added = sec + APPLE_EPOCH;
                        }
                        if (p && plist_str(p))
                                x->preview = strdup(plist_str(p));
                        if (top)
                                plist_free(top);
                }
        }
        return r == SQLITE_DONE ? 0 : -EIO;
}

static int bm_compare(const void *a, const void *b) {
        const Bookmark *x = *(const Bookmark *const *) a, *y = *(const Bookmark *const *) b;

        if (x->order != y->order)
                return x->order < y->order ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

/* The live children of parent in Safari's order (caller frees the array). */
static size_t bm_children(const Bookmarks *b, int64_t parent, Bookmark ***ret) {
        Bookmark **v = calloc(b->n + 1, sizeof(Bookmark *));
        size_t n = 0;

        if (!v) {
                *ret = NULL;
                return 0;
        }
        for (size_t i = 0; i < b->n; i++)
                if (b->v[i].parent == parent && !b->v[i].deleted && b->v[i].id != BM_ROOT)
                        v[n++] = &b->v[i];
        qsort(v, n, sizeof(Bookmark *), bm_compare);
        *ret = v;
        return n;
}

/* Depth-first: folder paths into ff, bookmarks into fb (each with a leading comma). */
static void bm_walk(const Bookmarks *b, int64_t parent, const char *path, FILE *ff, FILE *fb,
                    bool *first_f, bool *first_b) {
        _cleanup_(freep) Bookmark **c = NULL;
        size_t n = bm_children(b, parent, &c);

        for (size_t i = 0; i < n; i++) {
                const Bookmark *x = c[i];

                if (x->type == 1) {
                        _cleanup_(freep) char *p = NULL;

                        if (parent == BM_ROOT && x->id == BM_READING)
                                continue;
                        if (parent == BM_ROOT && x->id == BM_BAR)
                                p = strdup("Favorites");
                        else if (asprintf(&p, "%s%s%s", path, *path ? "/" : "", x->title) < 0)
                                p = NULL;
                        if (!p)
                                continue;
                        fputs(*first_f ? "" : ",", ff);
                        *first_f = false;
                        json_str(ff, p);
                        bm_walk(b, x->id, p, ff, fb, first_f, first_b);
                } else {
                        fputs(*first_b ? "\n  " : ",\n  ", fb);
                        *first_b = false;
                        fputs("{\"title\":", fb);
                        json_str(fb, x->title);
                        fputs(",\"url\":", fb);
                        json_str(fb, x->url);
                        fputs(",\"folder\":", fb);
                        json_str(fb, path);
                        fputc('}', fb);
                }
        }
}

static int bookmarks_write_json(const char *dir, const char *ios, const Bookmarks *b,
                                int64_t t) {
        _cleanup_(freep) char *text = NULL, *ftext = NULL, *btext = NULL;
        _cleanup_(freep) Bookmark **rl = NULL;
        _cleanup_(fclosep) FILE *f = NULL, *ff = NULL, *fb = NULL;
        size_t len = 0, flen = 0, blen = 0, n;
        bool first_f = true, first_b = true;

        f = open_memstream(&text, &len);
        ff = open_memstream(&ftext, &flen);
        fb = open_memstream(&btext, &blen);
        if (!f || !ff || !fb)
                return -ENOMEM;
        bm_walk(b, BM_ROOT, "", ff, fb, &first_f, &first_b);
        if (fclose(TAKE_PTR(ff)) != 0 || fclose(TAKE_PTR(fb)) != 0)
                return -ENOMEM;
        fputs("{\"ios\":", f);
        json_str(f, ios);
        fprintf(f, ",\"bookmarks\":[%s\n],\n\"folders\":[%s],\n\"reading_list\":[", btext,
                ftext);
        n = bm_children(b, BM_READING, &rl);
        for (size_t i = 0; i < n; i++) {
                fputs(i ? ",\n  " : "\n  ", f);
                fputs("{\"title\":", f);
                json_str(f, rl[i]->title);
                fputs(",\"url\":", f);
                json_str(f, rl[i]->url);
                fputs(",\"added\":", f);
                json_time(f, rl[i]->added);
                fputc('}', f);
        }
        fputs("\n]}\n", f);
        return json_finish(dir, "bookmarks.json", &f, &text, &len, t);
}

/**
 * pim_bookmarks_generate: Safari's Bookmarks.db (HomeDomain/Library/Safari/) with n
 * bookmarks (0: 12) in Favorites, nested folders and at the top level, a reading list of
 * max(2, n/4) items and one deleted row; and DIR/bookmarks.json. Returns 0 or -errno.
 */
int pim_bookmarks_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        _cleanup_(bookmarks_done) Bookmarks b = {};
        int r;

        r = bookmarks_build(&b, seed, n ?: 12);
        if (r < 0)
                return log_warn("pim: bookmarks: %s", strerror(-r)), r;
        r = bookmarks_write_db(dir, &b, ios_future(ios), BASE_TIME);
        if (r < 0)
                return r;
        return bookmarks_write_json(dir, ios, &b, BASE_TIME);
}

/**
 * pim_bookmarks_mutate: rename `change` bookmarks (title and URL), add `add` new ones to
 * random folders and remove `del` rows, then rewrite Bookmarks.db and bookmarks.json.
 * Returns 0 (also when the profile has no Bookmarks.db) or -errno.
 */
/* Whether the profile's generated database of this kind exists: its ground truth does.
 * Without it, a file at the database's path is gen-profile's random placeholder, which a
 * mutate leaves alone. */
static bool has_truth(const char *dir, const char *json) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, json);
        return access(path, F_OK) == 0;
}

int pim_bookmarks_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                         unsigned add, unsigned del) {
        _cleanup_(bookmarks_done) Bookmarks b = {};
        _cleanup_(freep) size_t *cand = NULL;
        bool future = ios_future(ios);
        int64_t t = mutate_time(seed);
        size_t nc = 0, k;
        Rng r;
        int q;

        if (!has_truth(dir, "bookmarks.json"))
                return 0;
        q = bookmarks_load(dir, future, &b);
        if (q == -ENOENT)
                return 0;
        if (q < 0)
                return log_warn("pim: bookmarks: cannot read: %s", strerror(-q)), q;
        rng_init(&r, seed ^ UINT64_C(0x626d2d6d7574));      /* "bm-mut" */
        cand = calloc(b.n + add + 1, sizeof(size_t));
        if (!cand)
                return -ENOMEM;
        for (size_t i = 0; i < b.n; i++)
                if (b.v[i].type == 0 && !b.v[i].deleted && b.v[i].parent != BM_READING)
                        cand[nc++] = i;
        k = pick(&r, cand, nc, change + del);
        for (size_t i = 0; i < k; i++) {
                Bookmark *x = &b.v[cand[i]];
                char *nt = NULL, *nu = NULL;

                if (i < change) {
                        if (asprintf(&nt, "%s (v%u)", x->title ?: "", (unsigned) (t % 1000)) < 0 ||
                            asprintf(&nu, "%s#rev=%u", x->url ?: "", (unsigned) (i + 1)) < 0)
                                return -ENOMEM;
                        free(x->title);
                        free(x->url);
                        x->title = nt;
                        x->url = nu;
                } else
                        x->id = -2;     /* marked for removal below */
        }
        nc = 0;
        for (size_t i = 0; i < b.n; i++) {
                if (b.v[i].id == -2) {
                        free(b.v[i].title);
                        free(b.v[i].url);
                        free(b.v[i].preview);
                        continue;
                }
                b.v[nc++] = b.v[i];
        }
        b.n = nc;
        for (unsigned i = 0; i < add; i++) {
                int64_t homes[16];
                size_t nh = 0;
                _cleanup_(freep) char *w = words_make(&r, 2), *ti = NULL, *u = NULL;

                for (size_t j = 0; j < b.n && nh < ELEMENTSOF(homes); j++)
                        if (b.v[j].type == 1 && b.v[j].id != BM_READING && !b.v[j].deleted)
                                homes[nh++] = b.v[j].id;
                if (!w || asprintf(&ti, "New: %s & more %u", w, i + 1) < 0 ||
                    asprintf(&u, "https://new.example.com/%u?x=%u&y=<%u>", i + 1,
                             (unsigned) rng_range(&r, 10000), (unsigned) (t % 97)) < 0)
                        return -ENOMEM;
                if (!bm_add(&b, nh ? homes[rng_range(&r, nh)] : BM_ROOT, 0, ti, u))
                        return -ENOMEM;
        }
        q = bookmarks_write_db(dir, &b, future, t);
        if (q < 0)
                return q;
        return bookmarks_write_json(dir, ios, &b, t);
}

/* ==== Notes ============================================================================== */

/* A growing byte buffer for protobuf messages; oom sticks. */
typedef struct Bytes {
        uint8_t *p;
        size_t n, cap;
        bool oom;
} Bytes;

static void bytes_done(Bytes *b) {
        free(b->p);
        *b = (Bytes) {};
}

static void bytes_put(Bytes *b, const void *d, size_t n) {
        if (b->oom || n == 0)
                return;                 /* an empty message may come with d NULL */
        if (b->n + n > b->cap) {
                size_t cap = (b->n + n) * 2 + 64;
                uint8_t *p = realloc(b->p, cap);

                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, d, n);
        b->n += n;
}

static void pb_varint(Bytes *b, uint64_t v) {
        uint8_t t[10];
        size_t n = 0;

        do {
                t[n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
        bytes_put(b, t, n);
}

static void pb_uint(Bytes *b, unsigned field, uint64_t v) {
        pb_varint(b, (uint64_t) field << 3);
        pb_varint(b, v);
}

static void pb_bytes(Bytes *b, unsigned field, const void *d, size_t n) {
        pb_varint(b, (uint64_t) field << 3 | 2);
        pb_varint(b, n);
        bytes_put(b, d, n);
}

/* Append m as embedded message field of b, and empty m. */
static void pb_msg(Bytes *b, unsigned field, Bytes *m) {
        b->oom |= m->oom;
        pb_bytes(b, field, m->p, m->n);
        bytes_done(m);
}

/* One field of a protobuf message at *p: its number, wire type and value (varint v or
 * length-delimited data/len); false at the end or on malformed input. */
static bool pb_next(const uint8_t **p, const uint8_t *end, unsigned *field, uint64_t *v,
                    const uint8_t **data, size_t *len) {
        uint64_t key = 0;
        unsigned wt;

        for (int pass = 0; pass < 2; pass++) {
                uint64_t x = 0;
                int shift = 0;

                for (;;) {
                        if (*p >= end || shift > 63)
                                return false;
                        x |= (uint64_t) (**p & 0x7f) << shift;
                        shift += 7;
                        if (!(*(*p)++ & 0x80))
                                break;
                }
                if (pass == 0) {
                        key = x;
                        wt = key & 7;
                        *field = (unsigned) (key >> 3);
                        *data = NULL;
                        *len = 0;
                        if (wt == 1 || wt == 5) {
                                size_t k = wt == 1 ? 8 : 4;

                                if ((size_t) (end - *p) < k)
                                        return false;
                                *p += k;
                                *v = 0;
                                return true;
                        }
                        if (wt != 0 && wt != 2)
                                return false;
                } else {
                        *v = x;
                        if ((key & 7) == 2) {
                                if (x > (uint64_t) (end - *p))
                                        return false;
                                *data = *p;
                                *len = (size_t) x;
                                *p += x;
                        }
                }
        }
        return true;
}

/* UTF-16 code units of a UTF-8 string (4-byte sequences are surrogate pairs). */
static size_t utf16_len(const char *s, size_t n) {
        size_t u = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c < 0x80 || (c >= 0xc0 && c < 0xf0))
                        u++;
                else if (c >= 0xf0)
                        u += 2;
        }
        return u;
}

#define STYLE_BODY (-1)
#define STYLE_TITLE 0
#define STYLE_HEADING 1
#define STYLE_SUBHEADING 2
#define STYLE_BULLET 100
#define STYLE_NUMBERED 102
#define STYLE_CHECKLIST 103
#define OBJ_CHAR "\xef\xbf\xbc"         /* U+FFFC, where an attachment sits in note_text */

typedef struct Para {
        int style;
        bool done;              /* checklist item ticked */
        int att;                /* index into the note's attachments, or -1 */
        char *text;             /* without the '\n' */
} Para;

typedef struct Att {
        int64_t pk, media_pk;   /* media_pk 0: no file (a table) */
        char *ident, *media_ident, *filename, *generation, *uti;
        uint8_t *merge;         /* a table's ZMERGEABLEDATA1 (gzip'd), or NULL */
        size_t merge_n;
} Att;

typedef struct Note {
        int64_t pk, data_pk, folder;
        char *ident, *title;
        int64_t created, modified;
        bool locked;
        Para *p;
        size_t np;
        uint8_t *blob;          /* locked: the encrypted ZDATA (random bytes here) */
        size_t blob_n;
        Att *a;
        size_t na;
} Note;

typedef struct Folder {
        int64_t pk, parent;     /* parent -1: top level */
        int type;               /* 0 normal, 1 Recently Deleted */
        char *ident, *title;
} Folder;

typedef struct NoteStore {
        int64_t acct_pk, next_pk;
        char *acct_ident;
        Folder *f;
        size_t nf;
        Note *n;
        size_t nn;
} NoteStore;

static void note_store_done(NoteStore *st) {
        for (size_t i = 0; i < st->nf; i++) {
                free(st->f[i].ident);
                free(st->f[i].title);
        }
        for (size_t i = 0; i < st->nn; i++) {
                Note *n = &st->n[i];

                for (size_t j = 0; j < n->np; j++)
                        free(n->p[j].text);
                for (size_t j = 0; j < n->na; j++) {
                        free(n->a[j].ident);
                        free(n->a[j].media_ident);
                        free(n->a[j].filename);
                        free(n->a[j].generation);
                        free(n->a[j].uti);
                        free(n->a[j].merge);
                }
                free(n->p);
                free(n->a);
                free(n->blob);
                free(n->ident);
                free(n->title);
        }
        free(st->f);
        free(st->n);
        free(st->acct_ident);
        *st = (NoteStore) {};
}

/* Entity numbers differ between versions (as on real devices): hosts must look them up in
 * Z_PRIMARYKEY. */
typedef struct Ents {
        int account, attachment, folder, media, note, notedata;
} Ents;

static Ents ents_of(const char *ios) {
        int off = ios_major(ios) - 15;

        if (off < 0)
                off = 0;
        if (off > 4)
                off = 4;
        return (Ents) { 2 + off, 8 + off, 14 + off, 20 + off, 26 + off, 40 + off };
}

static Folder *folder_add(NoteStore *st, Rng *r, const char *title, int64_t parent, int type) {
        Folder *v = realloc(st->f, (st->nf + 1) * sizeof(Folder));
        char uuid[37];

        if (!v)
                return NULL;
        st->f = v;
        uuid_make(r, uuid);
        v = &st->f[st->nf++];
        *v = (Folder) { .pk = st->next_pk++, .parent = parent, .type = type,
                        .ident = strdup(uuid), .title = strdup(title) };
        return v->ident && v->title ? v : NULL;
}

static Note *note_add(NoteStore *st, Rng *r, int64_t folder, int64_t created) {
        Note *v = realloc(st->n, (st->nn + 1) * sizeof(Note));
        int64_t data_pk = 1;
        char uuid[37];

        if (!v)
                return NULL;
        st->n = v;
        for (size_t i = 0; i < st->nn; i++)
                if (st->n[i].data_pk >= data_pk)
                        data_pk = st->n[i].data_pk + 1;
        uuid_make(r, uuid);
        v = &st->n[st->nn++];
        *v = (Note) { .pk = st->next_pk++, .data_pk = data_pk, .folder = folder,
                      .ident = strdup(uuid), .created = created, .modified = created };
        return v->ident ? v : NULL;
}

static int para_add(Note *n, int style, bool done, const char *text) {
        Para *v = realloc(n->p, (n->np + 1) * sizeof(Para));

        if (!v)
                return -ENOMEM;
        n->p = v;
        n->p[n->np] = (Para) { .style = style, .done = done, .att = -1, .text = strdup(text) };
        if (!n->p[n->np].text)
                return -ENOMEM;
        n->np++;
        return 0;
}

static Att *att_add(Note *n) {
        Att *v = realloc(n->a, (n->na + 1) * sizeof(Att));

        if (!v)
                return NULL;
        n->a = v;
        v = &n->a[n->na++];
        *v = (Att) {};
        return v;
}

static const Folder *folder_of(const NoteStore *st, int64_t pk) {
        for (size_t i = 0; i < st->nf; i++)
                if (st->f[i].pk == pk)
                        return &st->f[i];
        return NULL;
}

static bool note_visible(const NoteStore *st, const Note *n) {
        const Folder *f = folder_of(st, n->folder);

        return f && f->type == 0;
}

/* "Work/Projects": the folder's title and its parents', joined with '/'. */
static char *folder_path(const NoteStore *st, int64_t pk) {
        const Folder *f = folder_of(st, pk);
        _cleanup_(freep) char *up = NULL;
        char *s;

        if (!f)
                return strdup("");
        if (f->parent < 0)
                return strdup(f->title);
        up = folder_path(st, f->parent);
        if (!up || asprintf(&s, "%s/%s", up, f->title) < 0)
                return NULL;
        return s;
}

/* The attachment's file, relative to the Notes domain. */
static char *att_path(const NoteStore *st, const Att *a) {
        char *s;

        if (asprintf(&s, "Accounts/%s/Media/%s/%s%s%s", st->acct_ident, a->media_ident,
                     a->generation ?: "", a->generation ? "/" : "", a->filename) < 0)
                return NULL;
        return s;
}

static char *note_text(const Note *n) {
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < n->np; i++)
                fprintf(f, "%s%s", i ? "\n" : "", n->p[i].text);
        if (fclose(f) != 0)
                return NULL;
        return s;
}

/* gzip (RFC 1952: no name, mtime 0) of n bytes. */
static int gzip_bytes(const uint8_t *in, size_t n, uint8_t **ret, size_t *ret_n) {
        _cleanup_(freep) uint8_t *out = NULL;
        z_stream z = {};
        size_t cap;

        if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return -ENOMEM;
        cap = deflateBound(&z, n) + 32;
        out = malloc(cap);
        if (!out) {
                deflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
                deflateEnd(&z);
                return -EIO;
        }
        *ret_n = z.total_out;
        deflateEnd(&z);
        *ret = TAKE_PTR(out);
        return 0;
}

/* ObjectID { unsigned_integer_value 2 | object_index 6 } as field `field` of b. */
static void pb_object_id(Bytes *b, unsigned field, unsigned id_field, uint64_t v) {
        Bytes o = {};

        pb_uint(&o, id_field, v);
        pb_msg(b, field, &o);
}

/*
 * A table's ZMERGEABLEDATA1: gzip of MergableDataProto (docs/ios-databases-bookmarks-notes-memos.md, "Tables"),
 * cells[row * cols + col]. Entries, in order: one NSUUID map per UUID item (rows, then
 * columns), one Note per cell, one Dictionary per column (row UUID entry → cell entry),
 * cellColumns (column UUID entry → column dictionary), crRows and crColumns (ordered sets of
 * the UUIDs), and last the ICTable map pointing at crRows, crColumns and cellColumns.
 */
static int table_encode(Rng *r, unsigned rows, unsigned cols, const char *const *cells,
                        uint8_t **ret, size_t *ret_n) {
        static const char *const keys[] = { "UUIDIndex", "crRows", "crColumns", "cellColumns",
                                            "crTableColumnDirection" };
        static const char *const types[] = { "com.apple.notes.ICTable",
                                             "com.apple.CRDT.NSUUID",
                                             "com.apple.CRDT.NSString" };
        _cleanup_(bytes_done) Bytes data = {}, obj = {}, top = {};
        unsigned n_uuid = rows + cols, cell0 = n_uuid, coldict0 = cell0 + rows * cols;
        unsigned cellcols = coldict0 + cols, crrows = cellcols + 1, crcols = crrows + 1;
        uint8_t (*uuid)[16] = calloc(n_uuid, 16);

        if (!uuid)
                return -ENOMEM;
        for (unsigned i = 0; i < n_uuid; i++)
                rng_fill(r, uuid[i], 16);
        /* entries 0..n_uuid-1: {custom_map {type NSUUID, map_entry {key UUIDIndex,
         * value {unsigned_integer_value i}}}} */
        for (unsigned i = 0; i < n_uuid; i++) {
                Bytes e = {}, m = {}, me = {};

                pb_uint(&m, 1, 1);
                pb_uint(&me, 1, 0);
                pb_object_id(&me, 2, 2, i);
                pb_msg(&m, 3, &me);
                pb_msg(&e, 13, &m);
                pb_msg(&data, 3, &e);
        }
        for (unsigned i = 0; i < rows * cols; i++) {
                Bytes e = {}, note = {};

                pb_bytes(&note, 2, cells[i], strlen(cells[i]));
                pb_msg(&e, 10, &note);
                pb_msg(&data, 3, &e);
        }
        for (unsigned c = 0; c < cols; c++) {
                Bytes e = {}, d = {};

                for (unsigned row = 0; row < rows; row++) {
                        Bytes el = {};

                        pb_object_id(&el, 1, 6, row);
                        pb_object_id(&el, 2, 6, cell0 + row * cols + c);
                        pb_msg(&d, 1, &el);
                }
                pb_msg(&e, 6, &d);
                pb_msg(&data, 3, &e);
        }
        {
                Bytes e = {}, d = {};

                for (unsigned c = 0; c < cols; c++) {
                        Bytes el = {};

                        pb_object_id(&el, 1, 6, rows + c);
                        pb_object_id(&el, 2, 6, coldict0 + c);
                        pb_msg(&d, 1, &el);
                }
                pb_msg(&e, 6, &d);
                pb_msg(&data, 3, &e);
        }
        for (int which = 0; which < 2; which++) {
                Bytes e = {}, set = {}, ordering = {}, array = {}, contents = {}, empty = {},
                      elements = {};
                unsigned first = which ? rows : 0, count = which ? cols : rows;

                pb_bytes(&contents, 2, "", 0);
                pb_msg(&array, 1, &contents);
                for (unsigned i = 0; i < count; i++) {
                        Bytes a = {};

                        pb_uint(&a, 1, i);
                        pb_bytes(&a, 2, uuid[first + i], 16);
                        pb_msg(&array, 2, &a);
                }
                pb_msg(&ordering, 1, &array);
                pb_msg(&ordering, 2, &empty);
                pb_msg(&set, 1, &ordering);
                pb_msg(&set, 2, &elements);
                pb_msg(&e, 16, &set);
                pb_msg(&data, 3, &e);
        }
        {
                Bytes e = {}, m = {};
                const unsigned targets[][2] = { { 1, crrows }, { 2, crcols }, { 3, cellcols } };

                pb_uint(&m, 1, 0);
                for (size_t i = 0; i < ELEMENTSOF(targets); i++) {
                        Bytes me = {};

                        pb_uint(&me, 1, targets[i][0]);
                        pb_object_id(&me, 2, 6, targets[i][1]);
                        pb_msg(&m, 3, &me);
                }
                pb_msg(&e, 13, &m);
                pb_msg(&data, 3, &e);
        }
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                pb_bytes(&data, 4, keys[i], strlen(keys[i]));
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                pb_bytes(&data, 5, types[i], strlen(types[i]));
        for (unsigned i = 0; i < n_uuid; i++)
                pb_bytes(&data, 6, uuid[i], 16);
        free(uuid);
        pb_uint(&obj, 2, 1);
        pb_msg(&obj, 3, &data);
        pb_msg(&top, 2, &obj);
        if (top.oom)
                return -ENOMEM;
        return gzip_bytes(top.p, top.n, ret, ret_n);
}

/* The gzip'd NoteStoreProto of an unlocked note (docs/ios-databases-bookmarks-notes-memos.md, "Protobuf"). */
static int note_encode(const Note *n, uint8_t **ret, size_t *ret_n) {
        _cleanup_(freep) char *text = note_text(n);
        _cleanup_(bytes_done) Bytes note = {}, doc = {}, top = {};
        Rng r;

        if (!text)
                return -ENOMEM;
        rng_init(&r, content_seed(0, n->ident));
        pb_bytes(&note, 2, text, strlen(text));
        for (size_t i = 0; i < n->np; i++) {
                const Para *p = &n->p[i];
                size_t units = utf16_len(p->text, strlen(p->text)) + (i + 1 < n->np);
                bool att = p->att >= 0 && (size_t) p->att < n->na;

                for (int part = 0; part < 2 && units > 0; part++) {
                        _cleanup_(bytes_done) Bytes run = {}, style = {}, check = {}, info = {};
                        size_t len = att && part == 0 ? 1 : units;

                        pb_uint(&run, 1, len);
                        if (p->style != STYLE_BODY) {
                                pb_uint(&style, 1, (uint64_t) p->style);
                                if (p->style == STYLE_CHECKLIST) {
                                        uint8_t uuid[16];

                                        rng_fill(&r, uuid, sizeof(uuid));
                                        pb_bytes(&check, 1, uuid, sizeof(uuid));
                                        pb_uint(&check, 2, p->done);
                                        pb_msg(&style, 5, &check);
                                }
                                pb_msg(&run, 2, &style);
                        }
                        if (att && part == 0) {
                                const Att *a = &n->a[p->att];

                                pb_bytes(&info, 1, a->ident, strlen(a->ident));
                                pb_bytes(&info, 2, a->uti, strlen(a->uti));
                                pb_msg(&run, 12, &info);
                        }
                        pb_msg(&note, 5, &run);
                        units -= len;
                        if (!att)
                                break;
                }
        }
        pb_uint(&doc, 2, 1);
        pb_msg(&doc, 3, &note);
        pb_msg(&top, 2, &doc);
        if (top.oom)
                return -ENOMEM;
        return gzip_bytes(top.p, top.n, ret, ret_n);
}

/* gunzip of at most 16 MiB. */
static int gunzip(const uint8_t *in, size_t n, uint8_t **ret, size_t *ret_n) {
        _cleanup_(freep) uint8_t *out = NULL;
        size_t cap = 4 * n + 256;
        z_stream z = {};
        int zr;

        if (inflateInit2(&z, 15 + 16) != Z_OK)
                return -ENOMEM;
        z.next_in = (Bytef *) in;
        z.avail_in = (uInt) n;
        for (;;) {
                uint8_t *p = realloc(out, cap);

                if (!p) {
                        inflateEnd(&z);
                        return -ENOMEM;
                }
                out = p;
                z.next_out = out + z.total_out;
                z.avail_out = (uInt) (cap - z.total_out);
                zr = inflate(&z, Z_NO_FLUSH);
                if (zr == Z_STREAM_END)
                        break;
                if ((zr != Z_OK && zr != Z_BUF_ERROR) || cap > (16u << 20)) {
                        inflateEnd(&z);
                        return -EBADMSG;
                }
                if (z.avail_out == 0)
                        cap *= 2;
                else if (z.avail_in == 0) {
                        inflateEnd(&z);
                        return -EBADMSG;
                }
        }
        *ret_n = z.total_out;
        inflateEnd(&z);
        *ret = TAKE_PTR(out);
        return 0;
}

typedef struct Run {
        size_t len;
        int style;
        bool done;
        const char *att;        /* attachment identifier (not terminated), or NULL */
        size_t att_n;
} Run;

/* One AttributeRun: length (1), paragraph_style (2: style_type 1, checklist 5: done 2),
 * attachment_info (12: attachment_identifier 1). */
static void run_parse(const uint8_t *d, size_t len, Run *run) {
        const uint8_t *p = d, *end = d + len, *e;
        unsigned field;
        uint64_t v;
        size_t elen;

        *run = (Run) { .style = STYLE_BODY };
        while (pb_next(&p, end, &field, &v, &e, &elen)) {
                const uint8_t *q = e, *qe = e ? e + elen : NULL, *c;
                size_t clen;

                if (field == 1)
                        run->len = (size_t) v;
                else if (field == 2 && e)
                        while (pb_next(&q, qe, &field, &v, &c, &clen)) {
                                const uint8_t *k = c, *ke = c ? c + clen : NULL, *kd;
                                size_t kl;

                                if (field == 1)
                                        run->style = (int) (int32_t) v;
                                else if (field == 5 && c)
                                        while (pb_next(&k, ke, &field, &v, &kd, &kl))
                                                if (field == 2)
                                                        run->done = v != 0;
                        }
                else if (field == 12 && e)
                        while (pb_next(&q, qe, &field, &v, &c, &clen))
                                if (field == 1 && c) {
                                        run->att = (const char *) c;
                                        run->att_n = clen;
                                }
        }
}

/* Back from ZDATA to paragraphs: the inverse of note_encode() (mutate's only state). */
static int note_decode(Note *n, const uint8_t *z, size_t zn) {
        _cleanup_(freep) uint8_t *pb = NULL;
        _cleanup_(freep) char *text = NULL;
        _cleanup_(freep) Run *runs = NULL;
        const uint8_t *p, *end, *d, *doc = NULL, *note = NULL;
        size_t n_pb, nr = 0, len, doc_n = 0, note_n = 0, pos = 0;
        unsigned field;
        uint64_t v;
        int r;

        r = gunzip(z, zn, &pb, &n_pb);
        if (r < 0)
                return r;
        for (p = pb, end = pb + n_pb; pb_next(&p, end, &field, &v, &d, &len);)
                if (field == 2 && d)
                        doc = d, doc_n = len;
        for (p = doc, end = doc + doc_n; doc && pb_next(&p, end, &field, &v, &d, &len);)
                if (field == 3 && d)
                        note = d, note_n = len;
        if (!note)
                return -EBADMSG;
        for (p = note, end = note + note_n; pb_next(&p, end, &field, &v, &d, &len);) {
                if (field == 2 && d) {
                        free(text);
                        text = strndup((const char *) d, len);
                        if (!text)
                                return -ENOMEM;
                } else if (field == 5 && d) {
                        Run *nv = realloc(runs, (nr + 1) * sizeof(Run));

                        if (!nv)
                                return -ENOMEM;
                        runs = nv;
                        run_parse(d, len, &runs[nr]);
                        nr++;
                }
        }
        if (!text)
                return -EBADMSG;
        /* Walk the paragraphs; each takes the attributes of the run at its first unit. */
        for (const char *s = text;;) {
                const char *nl = strchr(s, '\n');
                size_t plen = nl ? (size_t) (nl - s) : strlen(s), at = 0, k = 0;
                _cleanup_(freep) char *t = strndup(s, plen);

                if (!t)
                        return -ENOMEM;
                while (k < nr && at + runs[k].len <= pos) {
                        at += runs[k].len;
                        k++;
                }
                r = para_add(n, k < nr ? runs[k].style : STYLE_BODY, k < nr && runs[k].done, t);
                if (r < 0)
                        return r;
                if (k < nr && runs[k].att)
                        for (size_t j = 0; j < n->na; j++)
                                if (strlen(n->a[j].ident) == runs[k].att_n &&
                                    memcmp(n->a[j].ident, runs[k].att, runs[k].att_n) == 0)
                                        n->p[n->np - 1].att = (int) j;
                pos += utf16_len(s, plen) + 1;
                if (!nl)
                        break;
                s = nl + 1;
        }
        return 0;
}

/* A 3 × 3 table (header row first) on a line of its own in note x. */
static int note_add_table(NoteStore *st, Note *x, Rng *r) {
        static const char *const cells[] = {
                "Fruit", "Menge", "Preis €",
                "Äpfel & Birnen", "3", "<2,50>",
                "\"Kiwi\"", "12", "東京 1/2",
        };
        char uuid[37];
        Att *a = att_add(x);
        int q;

        if (!a)
                return -ENOMEM;
        a->pk = st->next_pk++;
        uuid_make(r, uuid);
        a->ident = strdup(uuid);
        a->uti = strdup("com.apple.notes.table");
        if (!a->ident || !a->uti)
                return -ENOMEM;
        q = table_encode(r, 3, 3, cells, &a->merge, &a->merge_n);
        if (q < 0)
                return q;
        q = para_add(x, STYLE_BODY, false, OBJ_CHAR);
        if (q < 0)
                return q;
        x->p[x->np - 1].att = (int) (x->na - 1);
        return 0;
}

static int notes_build(NoteStore *st, const char *ios, uint64_t seed, unsigned n,
                       const char *dir, uint8_t *buf) {
        static const char *const checklist[] = { "Milk", "Eggs", "Brot & Käse",
                                                 "Tomatoes <fresh>" };
        _cleanup_(closep) int dfd = -1;
        int64_t folders[4], trash, t;
        Folder *f;
        Note *x;
        Rng r;
        char uuid[37];
        int q = 0;

        rng_init(&r, seed ^ UINT64_C(0x6e6f746573));        /* "notes" */
        st->next_pk = 1;
        st->acct_pk = st->next_pk++;
        uuid_make(&r, uuid);
        st->acct_ident = strdup(uuid);
        if (!st->acct_ident)
                return -ENOMEM;
        if (!(f = folder_add(st, &r, "Notes", -1, 0)))
                return -ENOMEM;
        folders[0] = f->pk;
        if (!(f = folder_add(st, &r, "Work", -1, 0)))
                return -ENOMEM;
        folders[1] = f->pk;
        if (!(f = folder_add(st, &r, "Projects", folders[1], 0)))
                return -ENOMEM;
        folders[2] = f->pk;
        if (!(f = folder_add(st, &r, "Rezepte & Ideen ✨", -1, 0)))
                return -ENOMEM;
        folders[3] = f->pk;
        if (!(f = folder_add(st, &r, "Recently Deleted", -1, 1)))
                return -ENOMEM;
        trash = f->pk;

        t = BASE_TIME - 400 * DAY;
        for (unsigned i = 0; i < n; i++) {
                t += DAY + (int64_t) rng_range(&r, 20 * DAY);
                x = note_add(st, &r, i < 4 ? folders[(0x1200 >> (4 * i)) & 0xf] :
                                     folders[rng_range(&r, ELEMENTSOF(folders))], t);
                if (!x)
                        return -ENOMEM;
                x->modified = t + (int64_t) rng_range(&r, 5 * DAY);
                switch (i) {
                case 0:
                        q = para_add(x, STYLE_TITLE, false, "Welcome ✨ Überblick");
                        q = q ?: para_add(x, STYLE_HEADING, false, "Heading one");
                        q = q ?: para_add(x, STYLE_BODY, false,
                                          "Plain paragraph: café, naïve, 東京 and an apple 🍎.");
                        q = q ?: para_add(x, STYLE_SUBHEADING, false, "Details & <more>");
                        q = q ?: para_add(x, STYLE_BULLET, false, "first point");
                        q = q ?: para_add(x, STYLE_BULLET, false, "second point");
                        q = q ?: para_add(x, STYLE_NUMBERED, false, "step one");
                        q = q ?: note_add_table(st, x, &r);
                        q = q ?: para_add(x, STYLE_BODY, false, "Last line with \"quotes\".");
                        break;
                case 1:
                        q = para_add(x, STYLE_TITLE, false, "Shopping list");
                        q = q ?: para_add(x, STYLE_BODY, false, "Buy on Saturday:");
                        for (size_t k = 0; q >= 0 && k < ELEMENTSOF(checklist); k++)
                                q = para_add(x, STYLE_CHECKLIST, k % 2 == 0, checklist[k]);
                        q = q ?: para_add(x, STYLE_BODY, false, "Total: ~12 €");
                        break;
                case 2: {
                        Att *a = att_add(x);
                        _cleanup_(freep) char *rel = NULL, *path = NULL;

                        if (!a)
                                return -ENOMEM;
                        a->pk = st->next_pk++;
                        a->media_pk = st->next_pk++;
                        uuid_make(&r, uuid);
                        a->ident = strdup(uuid);
                        uuid_make(&r, uuid);
                        a->media_ident = strdup(uuid);
                        a->filename = strdup("IMG_0001.jpeg");
                        a->uti = strdup("public.jpeg");
                        if (ios_major(ios) >= 17) {
                                uuid_make(&r, uuid);
                                if (asprintf(&a->generation, "1_%s", uuid) < 0)
                                        a->generation = NULL;
                                if (!a->generation)
                                        return -ENOMEM;
                        }
                        if (!a->ident || !a->media_ident || !a->filename || !a->uti)
                                return -ENOMEM;
                        q = para_add(x, STYLE_TITLE, false, "Trip photo");
                        q = q ?: para_add(x, STYLE_BODY, false, "The lake at dawn:");
                        q = q ?: para_add(x, STYLE_BODY, false, OBJ_CHAR);
                        if (q >= 0)
                                x->p[x->np - 1].att = 0;
                        q = q ?: para_add(x, STYLE_BODY, false, "Taken at 06:12.");
                        if (q < 0)
                                return q;
                        rel = att_path(st, a);
                        if (!rel || asprintf(&path, "backup/" NOTES_DOMAIN "/%s", rel) < 0)
                                return -ENOMEM;
                        if (dfd < 0)
                                dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (dfd < 0)
                                return -errno;
                        (void) unlinkat(dfd, path, 0);
                        q = write_media_at(dfd, path, MEDIA_JPEG, 24u << 10,
                                           content_seed(seed, path), x->created, BASE_TIME, buf);
                        break;
                }
                case 3:
                        /* Locked: the body is encrypted, here random bytes that are no gzip. */
                        x->locked = true;
                        x->title = strdup("Passwords 🔒");
                        x->blob_n = 160 + rng_range(&r, 64);
                        x->blob = malloc(x->blob_n);
                        if (!x->title || !x->blob)
                                return -ENOMEM;
                        rng_fill(&r, x->blob, x->blob_n);
                        x->blob[0] = 0x5a;
                        break;
                default: {
                        _cleanup_(freep) char *w = words_make(&r, 2), *ti = NULL;
                        unsigned paras = 1 + (unsigned) rng_range(&r, 4);

                        if (!w || asprintf(&ti, "Note %u: %s", i + 1, w) < 0)
                                return -ENOMEM;
                        q = para_add(x, STYLE_TITLE, false, ti);
                        for (unsigned k = 0; q >= 0 && k < paras; k++) {
                                _cleanup_(freep) char *b = words_make(&r, 3 + k * 2);

                                q = b ? para_add(x, k == 2 ? STYLE_CHECKLIST : STYLE_BODY,
                                                 k == 2 && rng_range(&r, 2), b) : -ENOMEM;
                        }
                }
                }
                if (q < 0)
                        return q;
        }
        /* One note in "Recently Deleted": in the database, not in notes.json. */
        x = note_add(st, &r, trash, BASE_TIME - 10 * DAY);
        if (!x)
                return -ENOMEM;
        q = para_add(x, STYLE_TITLE, false, "Old draft");
        return q ?: para_add(x, STYLE_BODY, false, "This note was deleted.");
}

static int notes_write_db(const char *dir, const char *ios, const NoteStore *st, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(freep) char *create = NULL, *ins_note = NULL, *ins_data = NULL;
        int major = ios_major(ios), q;
        bool future = ios_future(ios);
        const char *title_col = future ? "ZNOTETITLE" : "ZTITLE1";
        const char *acct_col = major >= 16 ? "ZACCOUNT7" : "ZACCOUNT4";
        Ents e = ents_of(ios);

        q = db_create(dir, NOTES_DB, &db);
        if (q < 0)
                return q;
        /* The columns a host reads, with the Core Data types and the version-specific
         * ones of docs/ios-databases-bookmarks-notes-memos.md (ZACCOUNT5 from 15, ZACCOUNT6..8 from 16,
         * ZGENERATION1 from 17); the future schema renames ZTITLE1 and moves bodies into
         * ZICNOTEBODY. */
        if (asprintf(&create,
                     "CREATE TABLE ZICCLOUDSYNCINGOBJECT (Z_PK INTEGER PRIMARY KEY, "
                     "Z_ENT INTEGER, Z_OPT INTEGER, ZMARKEDFORDELETION INTEGER, "
                     "ZISPASSWORDPROTECTED INTEGER, ZISPINNED INTEGER, ZFOLDERTYPE INTEGER, "
                     "ZACCOUNTTYPE INTEGER, ZCRYPTOITERATIONCOUNT INTEGER, ZACCOUNT2 INTEGER, "
                     "ZACCOUNT3 INTEGER, ZACCOUNT4 INTEGER, ZACCOUNT5 INTEGER, %s"
                     "ZOWNER INTEGER, ZPARENT INTEGER, ZFOLDER INTEGER, ZNOTEDATA INTEGER, "
                     "ZNOTE INTEGER, ZMEDIA INTEGER, ZCREATIONDATE TIMESTAMP, "
                     "ZMODIFICATIONDATE TIMESTAMP, ZCREATIONDATE1 TIMESTAMP, "
                     "ZCREATIONDATE2 TIMESTAMP, ZCREATIONDATE3 TIMESTAMP, "
                     "ZMODIFICATIONDATE1 TIMESTAMP, ZLASTOPENEDDATE TIMESTAMP, "
                     "ZIDENTIFIER VARCHAR, ZNAME VARCHAR, ZTITLE VARCHAR, %s VARCHAR, "
                     "ZTITLE2 VARCHAR, ZSNIPPET VARCHAR, ZTYPEUTI VARCHAR, ZFILENAME VARCHAR, "
                     "%sZCRYPTOSALT BLOB, ZCRYPTOWRAPPEDKEY BLOB, ZCRYPTOVERIFIER BLOB, "
                     "ZMERGEABLEDATA1 BLOB, ZSERVERRECORDDATA BLOB);"
                     "%s;"
                     "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, "
                     "Z_SUPER INTEGER, Z_MAX INTEGER);"
                     "CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, "
                     "Z_UUID VARCHAR(255), Z_PLIST BLOB)",
                     major >= 16 ? "ZACCOUNT6 INTEGER, ZACCOUNT7 INTEGER, ZACCOUNT8 INTEGER, " : "",
                     title_col, major >= 17 ? "ZGENERATION1 VARCHAR, " : "",
                     future ? "CREATE TABLE ZICNOTEBODY (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
                              "Z_OPT INTEGER, ZNOTE INTEGER, ZBLOB BLOB)" :
                              "CREATE TABLE ZICNOTEDATA (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
                              "Z_OPT INTEGER, ZNOTE INTEGER, ZCRYPTOINITIALIZATIONVECTOR BLOB, "
                              "ZCRYPTOTAG BLOB, ZDATA BLOB)") < 0)
                return -ENOMEM;
        q = db_exec(db, create);
        if (q < 0)
                return q;
        q = db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (1, 'ICCloudSyncingObject', 0, ?)", "i",
                   st->next_pk - 1);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICAccount', 1, 0)", "i",
                        (int64_t) e.account);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICAttachment', 1, 0)", "i",
                        (int64_t) e.attachment);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICFolder', 1, 0)", "i",
                        (int64_t) e.folder);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICMedia', 1, 0)", "i",
                        (int64_t) e.media);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICNote', 1, 0)", "i",
                        (int64_t) e.note);
        q = q ?: db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (?, 'ICNoteData', 0, 0)", "i",
                        (int64_t) e.notedata);
        q = q ?: db_run(db, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, ZNAME, "
                        "ZIDENTIFIER, ZACCOUNTTYPE) VALUES (?, ?, 1, 'iCloud', ?, 1)", "iit",
                        st->acct_pk, (int64_t) e.account, st->acct_ident);
        for (size_t i = 0; q >= 0 && i < st->nf; i++) {
                const Folder *f = &st->f[i];

                q = db_run(db, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, "
                           "ZIDENTIFIER, ZTITLE2, ZFOLDERTYPE, ZOWNER, ZPARENT, "
                           "ZMARKEDFORDELETION) VALUES (?, ?, 1, ?, ?, ?, ?, ?, 0)", "iittiii",
                           f->pk, (int64_t) e.folder, f->ident, f->title, (int64_t) f->type,
                           st->acct_pk, f->parent);
                if (q >= 0 && f->parent < 0)
                        q = db_run(db, "UPDATE ZICCLOUDSYNCINGOBJECT SET ZPARENT = NULL "
                                   "WHERE Z_PK = ?", "i", f->pk);
        }
        if (q < 0)
                return q;
        if (asprintf(&ins_note, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, "
                     "ZIDENTIFIER, %s, ZSNIPPET, ZFOLDER, ZNOTEDATA, %s, ZCREATIONDATE3, "
                     "ZMODIFICATIONDATE1, ZISPASSWORDPROTECTED, ZMARKEDFORDELETION, ZISPINNED, "
                     "ZCRYPTOSALT, ZCRYPTOITERATIONCOUNT, ZCRYPTOWRAPPEDKEY) "
                     "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?)",
                     title_col, acct_col) < 0 ||
            asprintf(&ins_data, future ?
                     "INSERT INTO ZICNOTEBODY (Z_PK, Z_ENT, Z_OPT, ZNOTE, ZBLOB) "
                     "VALUES (?, ?, 1, ?, ?)" :
                     "INSERT INTO ZICNOTEDATA (Z_PK, Z_ENT, Z_OPT, ZNOTE, ZDATA, "
                     "ZCRYPTOINITIALIZATIONVECTOR, ZCRYPTOTAG) VALUES (?, ?, 1, ?, ?, ?, ?)") < 0)
                return -ENOMEM;
        for (size_t i = 0; q >= 0 && i < st->nn; i++) {
                const Note *n = &st->n[i];
                _cleanup_(freep) uint8_t *z = NULL;
                uint8_t salt[16], key[24], iv[12], tag[16];
                size_t zn = 0;
                Rng r;

                rng_init(&r, content_seed(1, n->ident));
                rng_fill(&r, salt, sizeof(salt));
                rng_fill(&r, key, sizeof(key));
                rng_fill(&r, iv, sizeof(iv));
                rng_fill(&r, tag, sizeof(tag));
                if (!n->locked) {
                        q = note_encode(n, &z, &zn);
                        if (q < 0)
                                return q;
                }
                q = db_run(db, ins_note, "iitttiiiddibib", n->pk, (int64_t) e.note, n->ident,
                           n->locked ? n->title : n->np ? n->p[0].text : "",
                           !n->locked && n->np > 1 ? n->p[1].text : NULL, n->folder,
                           n->data_pk, st->acct_pk, (double) (n->created - APPLE_EPOCH),
                           (double) (n->modified - APPLE_EPOCH), (int64_t) n->locked,
                           n->locked ? (const void *) salt : NULL, sizeof(salt),
                           n->locked ? INT64_C(20000) : INT64_C(0),
                           n->locked ? (const void *) key : NULL, sizeof(key));
                if (q < 0)
                        return q;
                if (future)
                        q = db_run(db, ins_data, "iiib", n->data_pk, (int64_t) e.notedata, n->pk,
                                   n->locked ? (const void *) n->blob : (const void *) z,
                                   n->locked ? n->blob_n : zn);
                else
                        q = db_run(db, ins_data, "iiibbb", n->data_pk, (int64_t) e.notedata,
                                   n->pk,
                                   n->locked ? (const void *) n->blob : (const void *) z,
                                   n->locked ? n->blob_n : zn,
                                   n->locked ? (const void *) iv : NULL, sizeof(iv),
                                   n->locked ? (const void *) tag : NULL, sizeof(tag));
                for (size_t j = 0; q >= 0 && j < n->na; j++) {
                        const Att *a = &n->a[j];

                        q = db_run(db, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, Z_OPT, "
                                   "ZIDENTIFIER, ZTYPEUTI, ZNOTE, ZMEDIA, ZCREATIONDATE, "
                                   "ZMODIFICATIONDATE, ZMARKEDFORDELETION, ZMERGEABLEDATA1) "
                                   "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, 0, ?)", "iittiiddb", a->pk,
                                   (int64_t) e.attachment, a->ident, a->uti, n->pk, a->media_pk,
                                   (double) (n->created - APPLE_EPOCH),
                                   (double) (n->created - APPLE_EPOCH),
                                   (const void *) a->merge, a->merge_n);
                        if (q >= 0 && a->media_pk == 0) {
                                q = db_run(db, "UPDATE ZICCLOUDSYNCINGOBJECT SET ZMEDIA = NULL "
                                           "WHERE Z_PK = ?", "i", a->pk);
                                continue;
                        }
                        if (q >= 0 && major >= 17)
                                q = db_run(db, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, "
                                           "Z_OPT, ZIDENTIFIER, ZFILENAME, ZGENERATION1, "
                                           "ZMARKEDFORDELETION) VALUES (?, ?, 1, ?, ?, ?, 0)",
                                           "iittt", a->media_pk, (int64_t) e.media,
                                           a->media_ident, a->filename, a->generation);
                        else if (q >= 0)
                                q = db_run(db, "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, "
                                           "Z_OPT, ZIDENTIFIER, ZFILENAME, ZMARKEDFORDELETION) "
                                           "VALUES (?, ?, 1, ?, ?, 0)", "iitt", a->media_pk,
                                           (int64_t) e.media, a->media_ident, a->filename);
                }
        }
        if (q < 0)
                return q;
        return db_finish(dir, NOTES_DB, &db, t);
}

/* The Z_ENT of entity name in Z_PRIMARYKEY; -1 if absent. */
static int64_t ent_lookup(sqlite3 *db, const char *name) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;

        if (sqlite3_prepare_v2(db, "SELECT Z_ENT FROM Z_PRIMARYKEY WHERE Z_NAME = ?", -1, &s,
                               NULL) != SQLITE_OK)
                return -1;
        sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
        return sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
}

static int notes_load(const char *dir, const char *ios, NoteStore *st) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL, *sa = NULL, *sd = NULL;
        _cleanup_(freep) char *sql = NULL, *sql_att = NULL;
        bool future = ios_future(ios);
        int64_t e_acct, e_folder, e_note, e_att;
        int q;

        q = db_open_ro(dir, NOTES_DB, &db);
        if (q < 0)
                return q;
        e_acct = ent_lookup(db, "ICAccount");
        e_folder = ent_lookup(db, "ICFolder");
        e_note = ent_lookup(db, "ICNote");
        e_att = ent_lookup(db, "ICAttachment");
        if (sqlite3_prepare_v2(db, "SELECT Z_PK, ZIDENTIFIER FROM ZICCLOUDSYNCINGOBJECT "
                               "WHERE Z_ENT = ?", -1, &s, NULL) != SQLITE_OK)
                return -EBADMSG;
        sqlite3_bind_int64(s, 1, e_acct);
        if (sqlite3_step(s) != SQLITE_ROW)
                return -EBADMSG;
        st->acct_pk = sqlite3_column_int64(s, 0);
        st->acct_ident = xstrdup(col_text(s, 1));
        sqlite3_finalize(TAKE_PTR(s));
        if (sqlite3_prepare_v2(db, "SELECT MAX(Z_PK) FROM ZICCLOUDSYNCINGOBJECT", -1, &s,
                               NULL) != SQLITE_OK || sqlite3_step(s) != SQLITE_ROW)
                return -EBADMSG;
        st->next_pk = sqlite3_column_int64(s, 0) + 1;
        sqlite3_finalize(TAKE_PTR(s));

        if (sqlite3_prepare_v2(db, "SELECT Z_PK, ZPARENT, ZFOLDERTYPE, ZIDENTIFIER, ZTITLE2 "
                               "FROM ZICCLOUDSYNCINGOBJECT WHERE Z_ENT = ? ORDER BY Z_PK", -1,
                               &s, NULL) != SQLITE_OK)
                return -EBADMSG;
        sqlite3_bind_int64(s, 1, e_folder);
        while (sqlite3_step(s) == SQLITE_ROW) {
                Folder *v = realloc(st->f, (st->nf + 1) * sizeof(Folder));

                if (!v)
                        return -ENOMEM;
                st->f = v;
                st->f[st->nf++] = (Folder) {
                        .pk = sqlite3_column_int64(s, 0),
                        .parent = sqlite3_column_type(s, 1) == SQLITE_NULL ? -1 :
                                  sqlite3_column_int64(s, 1),
                        .type = sqlite3_column_int(s, 2),
                        .ident = xstrdup(col_text(s, 3)),
                        .title = xstrdup(col_text(s, 4)),
                };
        }
        sqlite3_finalize(TAKE_PTR(s));

        if (asprintf(&sql, "SELECT Z_PK, ZIDENTIFIER, %s, ZFOLDER, ZNOTEDATA, ZCREATIONDATE3, "
                     "ZMODIFICATIONDATE1, ZISPASSWORDPROTECTED FROM ZICCLOUDSYNCINGOBJECT "
                     "WHERE Z_ENT = ? ORDER BY Z_PK", future ? "ZNOTETITLE" : "ZTITLE1") < 0)
                return -ENOMEM;
        if (asprintf(&sql_att, "SELECT a.Z_PK, a.ZIDENTIFIER, a.ZTYPEUTI, m.Z_PK, "
                     "m.ZIDENTIFIER, m.ZFILENAME, %s, a.ZMERGEABLEDATA1 "
                     "FROM ZICCLOUDSYNCINGOBJECT a "
                     "LEFT JOIN ZICCLOUDSYNCINGOBJECT m ON m.Z_PK = a.ZMEDIA "
                     "WHERE a.Z_ENT = ? AND a.ZNOTE = ? ORDER BY a.Z_PK",
                     ios_major(ios) >= 17 ? "m.ZGENERATION1" : "NULL") < 0)
                return -ENOMEM;
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, sql_att, -1, &sa, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, future ? "SELECT ZBLOB FROM ZICNOTEBODY WHERE ZNOTE = ?" :
                               "SELECT ZDATA FROM ZICNOTEDATA WHERE ZNOTE = ?", -1, &sd,
                               NULL) != SQLITE_OK)
                return log_warn("pim: %s: %s", NOTES_DB, sqlite3_errmsg(db)), -EBADMSG;
        sqlite3_bind_int64(s, 1, e_note);
        while (sqlite3_step(s) == SQLITE_ROW) {
                Note *v = realloc(st->n, (st->nn + 1) * sizeof(Note)), *x;
                const uint8_t *blob;
                size_t blob_n;

                if (!v)
                        return -ENOMEM;
                st->n = v;
                x = &st->n[st->nn++];
                *x = (Note) {
                        .pk = sqlite3_column_int64(s, 0),
                        .ident = xstrdup(col_text(s, 1)),
                        .title = xstrdup(col_text(s, 2)),
                        .folder = sqlite3_column_int64(s, 3),
                        .data_pk = sqlite3_column_int64(s, 4),
                        .created = col_mac_time(s, 5),
                        .modified = col_mac_time(s, 6),
                        .locked = sqlite3_column_int(s, 7) != 0,
                };
                sqlite3_reset(sa);
                sqlite3_bind_int64(sa, 1, e_att);
                sqlite3_bind_int64(sa, 2, x->pk);
                while (sqlite3_step(sa) == SQLITE_ROW) {
                        Att *a = att_add(x);

                        if (!a)
                                return -ENOMEM;
                        a->pk = sqlite3_column_int64(sa, 0);
                        a->ident = xstrdup(col_text(sa, 1));
                        a->uti = xstrdup(col_text(sa, 2));
                        a->media_pk = sqlite3_column_int64(sa, 3);
                        a->media_ident = xstrdup(col_text(sa, 4));
                        a->filename = xstrdup(col_text(sa, 5));
                        a->generation = xstrdup(col_text(sa, 6));
                        if (sqlite3_column_type(sa, 7) == SQLITE_BLOB) {
                                a->merge_n = (size_t) sqlite3_column_bytes(sa, 7);
                                a->merge = malloc(a->merge_n + 1);
                                if (!a->merge)
                                        return -ENOMEM;
                                memcpy(a->merge, sqlite3_column_blob(sa, 7), a->merge_n);
                        }
                }
                sqlite3_reset(sd);
                sqlite3_bind_int64(sd, 1, x->pk);
                if (sqlite3_step(sd) != SQLITE_ROW)
                        return -EBADMSG;
                blob = sqlite3_column_blob(sd, 0);
                blob_n = (size_t) sqlite3_column_bytes(sd, 0);
                if (x->locked) {
                        x->blob = malloc(blob_n + 1);
                        if (!x->blob)
                                return -ENOMEM;
                        memcpy(x->blob, blob, blob_n);
                        x->blob_n = blob_n;
                } else {
                        q = note_decode(x, blob, blob_n);
                        if (q < 0)
                                return log_warn("pim: note %" PRId64 ": cannot decode: %s",
                                                x->pk, strerror(-q)), q;
                }
        }
        return 0;
}

static int notes_write_json(const char *dir, const char *ios, const NoteStore *st, int64_t t,
                            uint8_t *buf) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(closep) int dfd = -1;
        size_t len = 0;
        bool first = true;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fputs("{\"ios\":", f);
        json_str(f, ios);
        fputs(",\"notes\":[", f);
        for (size_t i = 0; i < st->nn; i++) {
                const Note *n = &st->n[i];
                _cleanup_(freep) char *path = folder_path(st, n->folder), *body = NULL;
                bool first_c = true;

                if (!note_visible(st, n))
                        continue;
                if (!path)
                        return -ENOMEM;
                fprintf(f, "%s\n {\"id\":%" PRId64 ",\"title\":", first ? "" : ",", n->pk);
                first = false;
                json_str(f, n->locked ? n->title : n->np ? n->p[0].text : "");
                fputs(",\"folder\":", f);
                json_str(f, path);
                fputs(",\"created\":", f);
                json_time(f, n->created);
                fputs(",\"modified\":", f);
                json_time(f, n->modified);
                fprintf(f, ",\"locked\":%s,\"text\":", n->locked ? "true" : "false");
                if (!n->locked) {
                        body = note_text(n);
                        if (!body)
                                return -ENOMEM;
                }
                json_str(f, body);
                fputs(",\"checklist\":[", f);
                for (size_t j = 0; !n->locked && j < n->np; j++) {
                        if (n->p[j].style != STYLE_CHECKLIST)
                                continue;
                        fputs(first_c ? "{\"text\":" : ",{\"text\":", f);
                        first_c = false;
                        json_str(f, n->p[j].text);
                        fprintf(f, ",\"done\":%s}", n->p[j].done ? "true" : "false");
                }
                fputs("],\"attachments\":[", f);
                for (size_t j = 0, k = 0; j < n->na; j++) {
                        _cleanup_(freep) char *rel = NULL, *full = NULL;
                        char hex[65];
                        uint64_t size;
                        int q;

                        /* Tables have no file: the JSON's attachments are files only. */
                        if (n->a[j].media_pk == 0)
                                continue;
                        rel = att_path(st, &n->a[j]);
                        if (!rel || asprintf(&full, "backup/" NOTES_DOMAIN "/%s", rel) < 0)
                                return -ENOMEM;
                        q = sha256_file_at(dfd, full, buf, hex, &size);
                        if (q < 0)
                                return log_warn("pim: %s: %s", full, strerror(-q)), q;
                        fputs(k++ ? ",{\"name\":" : "{\"name\":", f);
                        json_str(f, n->a[j].filename);
                        fprintf(f, ",\"sha256\":\"%s\",\"path\":", hex);
                        json_str(f, rel);
                        fputc('}', f);
                }
                fputs("]}", f);
        }
        fputs("\n]}\n", f);
        return json_finish(dir, "notes.json", &f, &text, &len, t);
}

/**
 * pim_notes_generate: NoteStore.sqlite (AppDomainGroup-group.com.apple.notes) with n notes
 * (0: 8) in nested folders: headings and lists, a checklist, a JPEG attachment (its file
 * under Accounts/<account>/Media/…), a locked note, and one more note in "Recently
 * Deleted"; and DIR/notes.json. Returns 0 or -errno.
 */
int pim_notes_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        _cleanup_(note_store_done) NoteStore st = {};
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        int r;

        if (!buf)
                return -ENOMEM;
        r = notes_build(&st, ios, seed, n ?: 8, dir, buf);
        if (r < 0)
                return log_warn("pim: notes: %s", strerror(-r)), r;
        r = notes_write_db(dir, ios, &st, BASE_TIME);
        if (r < 0)
                return r;
        return notes_write_json(dir, ios, &st, BASE_TIME, buf);
}

/**
 * pim_notes_mutate: edit `change` unlocked notes (a paragraph added, the first checklist
 * item toggled), add `add` notes and move `del` notes to "Recently Deleted" (which drops
 * them from notes.json), then rewrite NoteStore.sqlite and notes.json. Returns 0 (also
 * when the profile has no NoteStore.sqlite) or -errno.
 */
int pim_notes_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                     unsigned add, unsigned del) {
        _cleanup_(note_store_done) NoteStore st = {};
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        _cleanup_(freep) size_t *cand = NULL;
        int64_t t = mutate_time(seed), trash = -1;
        size_t nc = 0, k;
        Rng r;
        int q;

        if (!buf)
                return -ENOMEM;
        if (!has_truth(dir, "notes.json"))
                return 0;
        q = notes_load(dir, ios, &st);
        if (q == -ENOENT)
                return 0;
        if (q < 0)
                return log_warn("pim: notes: cannot read: %s", strerror(-q)), q;
        rng_init(&r, seed ^ UINT64_C(0x6e6f74652d6d7574));  /* "note-mut" */
        for (size_t i = 0; i < st.nf; i++)
                if (st.f[i].type == 1)
                        trash = st.f[i].pk;
        cand = calloc(st.nn + 1, sizeof(size_t));
        if (!cand)
                return -ENOMEM;
        for (size_t i = 0; i < st.nn; i++)
                if (note_visible(&st, &st.n[i]) && !st.n[i].locked)
                        cand[nc++] = i;
        k = pick(&r, cand, nc, change + (trash >= 0 ? del : 0));
        for (size_t i = 0; i < k; i++) {
                Note *x = &st.n[cand[i]];
                char line[64], when[21];

                x->modified = t;
                if (i >= change) {
                        x->folder = trash;
                        continue;
                }
                iso_time(t, when);
                snprintf(line, sizeof(line), "Edited %s (%zu)", when, i + 1);
                q = para_add(x, STYLE_BODY, false, line);
                if (q < 0)
                        return q;
                for (size_t j = 0; j < x->np; j++)
                        if (x->p[j].style == STYLE_CHECKLIST) {
                                x->p[j].done = !x->p[j].done;
                                break;
                        }
        }
        for (unsigned i = 0; i < add; i++) {
                _cleanup_(freep) char *w = words_make(&r, 3), *ti = NULL;
                int64_t homes[16];
                size_t nh = 0;
                Note *x;

                for (size_t j = 0; j < st.nf && nh < ELEMENTSOF(homes); j++)
                        if (st.f[j].type == 0)
                                homes[nh++] = st.f[j].pk;
                if (nh == 0)
                        break;
                x = note_add(&st, &r, homes[rng_range(&r, nh)], t);
                if (!x || !w || asprintf(&ti, "Added note %u & <more>", i + 1) < 0)
                        return -ENOMEM;
                q = para_add(x, STYLE_TITLE, false, ti);
                q = q ?: para_add(x, STYLE_BODY, false, w);
                q = q ?: para_add(x, STYLE_CHECKLIST, i % 2 == 1, "New item");
                if (q < 0)
                        return q;
        }
        q = notes_write_db(dir, ios, &st, t);
        if (q < 0)
                return q;
        return notes_write_json(dir, ios, &st, t, buf);
}

/* ==== Voice Memos ========================================================================= */

typedef struct Rec {
        int64_t pk, date, evicted;      /* evicted: NO_DATE, or when it went to Recently Deleted */
        double duration;
        char *title, *path, *uid;       /* path: the file name beneath Recordings/ */
} Rec;

typedef struct Recs {
        Rec *v;
        size_t n;
} Recs;

static void recs_done(Recs *rs) {
        for (size_t i = 0; i < rs->n; i++) {
                free(rs->v[i].title);
                free(rs->v[i].path);
                free(rs->v[i].uid);
        }
        free(rs->v);
        *rs = (Recs) {};
}

static const char *const rec_titles[] = {
        "Kitchen 3", "Idee für Lied ♪", "Band 1/2 — Probe", "会議メモ 🎙", "\"Quote\" & <tag>",
};

/* A new recording made at date, written at mtime: its row and its .m4a (an "ftyp" box and
 * an mdat of noise). */
static int rec_add(const char *dir, Recs *rs, Rng *r, const char *title, int64_t date,
                   int64_t mtime) {
        _cleanup_(freep) uint8_t *data = NULL;
        _cleanup_(freep) char *rel = NULL;
        static const uint8_t ftyp[28] = {
                0, 0, 0, 28, 'f', 't', 'y', 'p', 'M', '4', 'A', ' ', 0, 0, 0, 0,
                'M', '4', 'A', ' ', 'm', 'p', '4', '2', 'i', 's', 'o', 'm',
        };
        int64_t pk = 1;
        size_t n = 2048 + rng_range(r, 6144);
        char uuid[37], name[64];
        struct tm tm;
        time_t tt = (time_t) date;
        Rec *v;

        for (size_t i = 0; i < rs->n; i++)
                if (rs->v[i].pk >= pk)
                        pk = rs->v[i].pk + 1;
        uuid_make(r, uuid);
        (void) gmtime_r(&tt, &tm);
        snprintf(name, sizeof(name), "%04d%02d%02d %02d%02d%02d-%.8s.m4a", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, uuid);
        data = malloc(n);
        if (!data)
                return -ENOMEM;
        memcpy(data, ftyp, sizeof(ftyp));
        data[28] = (uint8_t) ((n - 28) >> 24);
        data[29] = (uint8_t) ((n - 28) >> 16);
        data[30] = (uint8_t) ((n - 28) >> 8);
        data[31] = (uint8_t) (n - 28);
        memcpy(data + 32, "mdat", 4);
        rng_fill(r, data + 36, n - 36);
        if (asprintf(&rel, "backup/" VM_DOMAIN "/Recordings/%s", name) < 0)
                return -ENOMEM;
        {
                _cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                int q;

                if (dfd < 0)
                        return -errno;
                q = mkdir_parents_at(dfd, rel);
                if (q < 0)
                        return q;
        }
        {
                int q = write_file_atomic(dir, rel, data, n, mtime);

                if (q < 0)
                        return q;
        }
        v = realloc(rs->v, (rs->n + 1) * sizeof(Rec));
        if (!v)
                return -ENOMEM;
        rs->v = v;
        v = &rs->v[rs->n++];
        /* Quarter seconds: exact in binary, so the JSON number is the database's. */
        *v = (Rec) { .pk = pk, .date = date, .evicted = NO_DATE,
                     .duration = 1.0 + (double) rng_range(r, 4 * 600) / 4.0,
                     .title = strdup(title), .path = strdup(name), .uid = strdup(uuid) };
        return v->title && v->path && v->uid ? 0 : -ENOMEM;
}

static int recs_write_db(const char *dir, const char *ios, const Recs *rs, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        bool future = ios_future(ios), label_is_date = ios_major(ios) >= 17;
        int q;

        q = db_create(dir, VM_DB, &db);
        if (q < 0)
                return q;
        /* The future schema renames the table and its date and duration columns. */
        q = db_exec(db, future ?
                "CREATE TABLE ZRECORDING2 (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
                "Z_OPT INTEGER, ZFLAGS INTEGER, ZSTARTDATE TIMESTAMP, ZLENGTH FLOAT, "
                "ZEVICTIONDATE TIMESTAMP, ZTITLE VARCHAR, ZPATH VARCHAR, ZUNIQUEID VARCHAR);"
                "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, "
                "Z_SUPER INTEGER, Z_MAX INTEGER)" :
                "CREATE TABLE ZCLOUDRECORDING (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, "
                "Z_OPT INTEGER, ZFLAGS INTEGER, ZFOLDER INTEGER, ZDATE TIMESTAMP, "
                "ZDURATION FLOAT, ZEVICTIONDATE TIMESTAMP, ZLOCALDURATION FLOAT, "
                "ZCUSTOMLABEL VARCHAR, ZCUSTOMLABELFORSORTING VARCHAR, ZENCRYPTEDTITLE VARCHAR, "
                "ZPATH VARCHAR, ZUNIQUEID VARCHAR);"
                "CREATE TABLE ZFOLDER (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, "
                "ZCOUNT INTEGER, ZRANK INTEGER, ZENCRYPTEDNAME VARCHAR, ZUUID VARCHAR);"
                "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, "
                "Z_SUPER INTEGER, Z_MAX INTEGER)");
        if (q < 0)
                return q;
        q = db_run(db, "INSERT INTO Z_PRIMARYKEY VALUES (1, ?, 0, ?)", "ti",
                   future ? "Recording2" : "CloudRecording",
                   rs->n ? rs->v[rs->n - 1].pk : INT64_C(0));
        for (size_t i = 0; q >= 0 && i < rs->n; i++) {
                const Rec *x = &rs->v[i];
                double mac = (double) (x->date - APPLE_EPOCH);
                char stamp[21];

                iso_time(x->date, stamp);
                if (future)
                        q = db_run(db, "INSERT INTO ZRECORDING2 VALUES (?, 1, 1, 0, ?, ?, ?, ?, "
                                   "?, ?)", "iddnttt", x->pk, mac, x->duration, x->title,
                                   x->path, x->uid);
                else
                        q = db_run(db, "INSERT INTO ZCLOUDRECORDING VALUES (?, 1, 1, 0, NULL, ?, "
                                   "?, NULL, ?, ?, ?, ?, ?, ?)", "idddttttt", x->pk, mac,
                                   x->duration, x->duration, label_is_date ? stamp : x->title,
                                   label_is_date ? stamp : x->title, x->title, x->path, x->uid);
                if (q >= 0 && x->evicted != NO_DATE)
                        q = db_run(db, future ?
                                   "UPDATE ZRECORDING2 SET ZEVICTIONDATE = ? WHERE Z_PK = ?" :
                                   "UPDATE ZCLOUDRECORDING SET ZEVICTIONDATE = ? WHERE Z_PK = ?",
                                   "di", (double) (x->evicted - APPLE_EPOCH), x->pk);
        }
        if (q < 0)
                return q;
        return db_finish(dir, VM_DB, &db, t);
}

static int recs_load(const char *dir, const char *ios, Recs *rs) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int q;

        q = db_open_ro(dir, VM_DB, &db);
        if (q < 0)
                return q;
        if (sqlite3_prepare_v2(db, ios_future(ios) ?
                               "SELECT Z_PK, ZSTARTDATE, ZLENGTH, ZEVICTIONDATE, ZTITLE, ZPATH, "
                               "ZUNIQUEID FROM ZRECORDING2 ORDER BY Z_PK" :
                               "SELECT Z_PK, ZDATE, ZDURATION, ZEVICTIONDATE, ZENCRYPTEDTITLE, "
                               "ZPATH, ZUNIQUEID FROM ZCLOUDRECORDING ORDER BY Z_PK", -1, &s,
                               NULL) != SQLITE_OK)
                return log_warn("pim: %s: %s", VM_DB, sqlite3_errmsg(db)), -EBADMSG;
        while ((q = sqlite3_step(s)) == SQLITE_ROW) {
                Rec *v = realloc(rs->v, (rs->n + 1) * sizeof(Rec));

                if (!v)
                        return -ENOMEM;
                rs->v = v;
                rs->v[rs->n++] = (Rec) {
                        .pk = sqlite3_column_int64(s, 0),
                        .date = col_mac_time(s, 1),
                        .duration = sqlite3_column_double(s, 2),
                        .evicted = col_mac_time(s, 3),
                        .title = xstrdup(col_text(s, 4)),
                        .path = xstrdup(col_text(s, 5)),
                        .uid = xstrdup(col_text(s, 6)),
                };
        }
        return q == SQLITE_DONE ? 0 : -EIO;
}

static int rec_compare(const void *a, const void *b) {
        const Rec *x = *(const Rec *const *) a, *y = *(const Rec *const *) b;

        if (x->date != y->date)
                return x->date < y->date ? -1 : 1;
        return x->pk < y->pk ? -1 : x->pk > y->pk;
}

static int recs_write_json(const char *dir, const char *ios, const Recs *rs, int64_t t,
                           uint8_t *buf) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(freep) const Rec **order = calloc(rs->n + 1, sizeof(Rec *));
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(closep) int dfd = -1;
        size_t len = 0, n = 0;

        if (!order)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        for (size_t i = 0; i < rs->n; i++)
                if (rs->v[i].evicted == NO_DATE)
                        order[n++] = &rs->v[i];
        qsort(order, n, sizeof(Rec *), rec_compare);
        f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fputs("{\"ios\":", f);
        json_str(f, ios);
        fputs(",\"recordings\":[", f);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(freep) char *rel = NULL, *full = NULL;
                char hex[65];
                uint64_t size;
                int q;

                if (asprintf(&rel, "Recordings/%s", order[i]->path) < 0 ||
                    asprintf(&full, "backup/" VM_DOMAIN "/%s", rel) < 0)
                        return -ENOMEM;
                q = sha256_file_at(dfd, full, buf, hex, &size);
                if (q < 0)
                        return log_warn("pim: %s: %s", full, strerror(-q)), q;
                fputs(i ? ",\n {\"title\":" : "\n {\"title\":", f);
                json_str(f, order[i]->title);
                fputs(",\"date\":", f);
                json_time(f, order[i]->date);
                fprintf(f, ",\"duration\":%.17g,\"path\":", order[i]->duration);
                json_str(f, rel);
                fputs(",\"domain\":\"" VM_DOMAIN "\",\"sha256\":", f);
                fprintf(f, "\"%s\",\"size\":%" PRIu64 "}", hex, size);
        }
        fputs("\n]}\n", f);
        return json_finish(dir, "voice-memos.json", &f, &text, &len, t);
}

/**
 * pim_recordings_generate: CloudRecordings.db and the .m4a files beside it
 * (AppDomainGroup-group.com.apple.VoiceMemos.shared/Recordings/) with n recordings (0: 5),
 * unicode and '/' in titles, plus one in "Recently Deleted"; and DIR/voice-memos.json.
 * Returns 0 or -errno.
 */
int pim_recordings_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        _cleanup_(recs_done) Recs rs = {};
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        int64_t t = BASE_TIME - 300 * DAY;
        Rng r;
        int q;

        if (!buf)
                return -ENOMEM;
        rng_init(&r, seed ^ UINT64_C(0x766f696365));        /* "voice" */
        n = n ?: 5;
        for (unsigned i = 0; i <= n; i++) {
                _cleanup_(freep) char *title = NULL;

                t += DAY + (int64_t) rng_range(&r, 30 * DAY);
                if (i < ELEMENTSOF(rec_titles) && i < n)
                        title = strdup(rec_titles[i]);
                else if (asprintf(&title, i == n ? "Deleted memo" : "New Recording %u",
                                  i + 1) < 0)
                        title = NULL;
                if (!title)
                        return -ENOMEM;
                q = rec_add(dir, &rs, &r, title, t, BASE_TIME);
                if (q < 0)
                        return log_warn("pim: recordings: %s", strerror(-q)), q;
        }
        /* The last one is in "Recently Deleted": in the database, not in the JSON. */
        rs.v[rs.n - 1].evicted = BASE_TIME - DAY;
        q = recs_write_db(dir, ios, &rs, BASE_TIME);
        if (q < 0)
                return q;
        return recs_write_json(dir, ios, &rs, BASE_TIME, buf);
}

/**
 * pim_recordings_mutate: rename `change` recordings, record `add` new ones and delete `del`
 * (row and file), then rewrite CloudRecordings.db and voice-memos.json. Returns 0 (also
 * when the profile has no CloudRecordings.db) or -errno.
 */
int pim_recordings_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                          unsigned add, unsigned del) {
        _cleanup_(recs_done) Recs rs = {};
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        _cleanup_(freep) size_t *cand = NULL;
        int64_t t = mutate_time(seed);
        size_t nc = 0, k;
        Rng r;
        int q;

        if (!buf)
                return -ENOMEM;
        if (!has_truth(dir, "voice-memos.json"))
                return 0;
        q = recs_load(dir, ios, &rs);
        if (q == -ENOENT)
                return 0;
        if (q < 0)
                return log_warn("pim: recordings: cannot read: %s", strerror(-q)), q;
        rng_init(&r, seed ^ UINT64_C(0x7265632d6d7574));    /* "rec-mut" */
        cand = calloc(rs.n + 1, sizeof(size_t));
        if (!cand)
                return -ENOMEM;
        for (size_t i = 0; i < rs.n; i++)
                if (rs.v[i].evicted == NO_DATE)
                        cand[nc++] = i;
        k = pick(&r, cand, nc, change + del);
        for (size_t i = 0; i < k; i++) {
                Rec *x = &rs.v[cand[i]];

                if (i < change) {
                        char *nt;

                        if (asprintf(&nt, "%s (edited %zu)", x->title ?: "", i + 1) < 0)
                                return -ENOMEM;
                        free(x->title);
                        x->title = nt;
                } else {
                        _cleanup_(freep) char *full = NULL;

                        if (asprintf(&full, "%s/backup/" VM_DOMAIN "/Recordings/%s", dir,
                                     x->path) < 0)
                                return -ENOMEM;
                        (void) unlink(full);
                        x->pk = -1;
                }
        }
        nc = 0;
        for (size_t i = 0; i < rs.n; i++) {
                if (rs.v[i].pk < 0) {
                        free(rs.v[i].title);
                        free(rs.v[i].path);
                        free(rs.v[i].uid);
                        continue;
                }
                rs.v[nc++] = rs.v[i];
        }
        rs.n = nc;
        for (unsigned i = 0; i < add; i++) {
                char title[64];

                snprintf(title, sizeof(title), "Added memo %u/%u ✓", i + 1, add);
                q = rec_add(dir, &rs, &r, title, t - (int64_t) (add - i) * 3600, t);
                if (q < 0)
                        return q;
        }
        q = recs_write_db(dir, ios, &rs, t);
        if (q < 0)
                return q;
        return recs_write_json(dir, ios, &rs, t, buf);
}
