/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The profile's photo library beyond the DCIM files themselves: Photos.sqlite (the rows a
 * phone's Photos app shows, iCloud-only ones included), the PhotoData/CPLAssets downloads,
 * the photos.tsv ground truth for tests, and the camera-roll changes of `mutate`
 * (--photos-add, --photos-rename, --photos-move, --photos-delete).
 *
 * photos.tsv lives beside media/, so AFC never serves it. One line per file under
 * media/DCIM and media/PhotoData/CPLAssets, sorted by path:
 *   device_path TAB capture YYYY-MM TAB sha256 TAB size TAB kind
 * (kind photo | video | live-video | sidecar), then "# icloud-only N": the ZASSET rows whose
 * file is not on the device. The capture month comes from the item's ZASSET row (a Live
 * Photo's MOV and an AAE take their photo's), else from the file's EXIF, else its mtime.
 * It is rewritten by gen-profile and after every mutate, so it always describes the tree.
 */
#include <sqlite3.h>

#include "profile-internal.h"

static const char db_path[] = "media/PhotoData/Photos.sqlite";

/* The DCIM/1nnAPPLE folder of a photo lives in both trees. */
static const char backup_dcim[] = "backup/CameraRollDomain/Media/";

static void sqlite3_closep(sqlite3 **db) {
        if (*db)
                (void) sqlite3_close(*db);
}

static void sqlite3_finalizep(sqlite3_stmt **s) {
        if (*s)
                (void) sqlite3_finalize(*s);
}

/* A day of the month away from its ends: a capture time no time zone moves into the next
 * or previous month (days 1, 2 and 27 on are moved into 3…26). */
int64_t capture_clamp(int64_t t) {
        time_t tt = (time_t) t;
        struct tm tm;

        (void) gmtime_r(&tt, &tm);
        if (tm.tm_mday < 3)
                return t + (3 - tm.tm_mday) * DAY;
        if (tm.tm_mday > 26)
                return t - (tm.tm_mday - 26) * DAY;
        return t;
}

static int db_open(const char *dir, bool create, sqlite3 **ret) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(freep) char *path = NULL;
        int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);

        if (asprintf(&path, "%s/%s", dir, db_path) < 0)
                return -ENOMEM;
        if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
                log_warn("sqlite: cannot open '%s': %s", path, db ? sqlite3_errmsg(db) : "?");
                return create ? -EIO : -ENOENT;
        }
        if (sqlite3_exec(db,
                         "CREATE TABLE IF NOT EXISTS ZASSET (Z_PK INTEGER PRIMARY KEY, "
                         "Z_ENT INTEGER, Z_OPT INTEGER, ZKIND INTEGER, ZTRASHEDSTATE INTEGER, "
                         "ZHIDDEN INTEGER, ZDATECREATED REAL, ZDIRECTORY TEXT, ZFILENAME TEXT, "
                         "ZUUID TEXT)",
                         NULL, NULL, NULL) != SQLITE_OK) {
                log_warn("sqlite: '%s': %s", path, sqlite3_errmsg(db));
                return -EIO;
        }
        *ret = TAKE_PTR(db);
        return 0;
}

static int db_exec(sqlite3 *db, const char *sql) {
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
                log_warn("sqlite: %s: %s", sql, sqlite3_errmsg(db));
                return -EIO;
        }
        return 0;
}

static int db_insert(sqlite3 *db, Rng *r, const char *dir, const char *name, int kind,
                     int64_t capture) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        char uuid[64];

        snprintf(uuid, sizeof(uuid), "%08X-%04X-%04X-%04X-%012" PRIX64,
                 (unsigned) rng_range(r, UINT32_MAX), (unsigned) rng_range(r, 0x10000),
                 0x4000 | (unsigned) rng_range(r, 0x1000),
                 0x8000 | (unsigned) rng_range(r, 0x4000), rng_range(r, UINT64_C(1) << 48));
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO ZASSET (Z_ENT, Z_OPT, ZKIND, ZTRASHEDSTATE, ZHIDDEN, "
                               "ZDATECREATED, ZDIRECTORY, ZFILENAME, ZUUID) "
                               "VALUES (3, 1, ?, 0, 0, ?, ?, ?, ?)",
                               -1, &s, NULL) != SQLITE_OK)
                return -EIO;
        (void) sqlite3_bind_int(s, 1, kind);
        (void) sqlite3_bind_double(s, 2, (double) (capture - APPLE_EPOCH));
        (void) sqlite3_bind_text(s, 3, dir, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(s, 5, uuid, -1, SQLITE_TRANSIENT);
        return sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

/**
 * photos_db_write: create DIR/media/PhotoData/Photos.sqlite with the ZASSET rows (Z_PK 1…n
 * in this order) and give it the mtime t. seed makes the ZUUIDs. Returns 0 or -errno.
 */
int photos_db_write(const char *dir, const PhotoRow *rows, size_t n, uint64_t seed, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(freep) char *path = NULL;
        Rng rng;
        int r;

        r = db_open(dir, true, &db);
        if (r < 0)
                return r;
        rng_init(&rng, seed ^ UINT64_C(0x7a6173736574));        /* "zasset" */
        r = db_exec(db, "BEGIN");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = db_insert(db, &rng, rows[i].dir, rows[i].name, rows[i].kind, rows[i].capture);
        if (r >= 0)
                r = db_exec(db, "COMMIT");
        if (r < 0)
                return r;
        (void) sqlite3_close(TAKE_PTR(db));
        if (asprintf(&path, "%s/%s", dir, db_path) < 0)
                return -ENOMEM;
        return set_mtime_at(AT_FDCWD, path, t);
}

/**
 * photos_write_cpl: the iCloud downloads under media/PhotoData/CPLAssets/group1/: 2 + photos
 * / 100 (at most 5) JPEGs named by a UUID when photos ≥ 20, none otherwise. They are not
 * in the backup (and not in the file and byte count of gen-profile). Returns 0 or -errno.
 */
int photos_write_cpl(int dfd, uint64_t seed, unsigned photos, uint8_t *buf) {
        unsigned n = photos >= 20 ? 2 + photos / 100 : 0;
        Rng rng;

        if (n > 5)
                n = 5;
        rng_init(&rng, seed ^ UINT64_C(0x63706c));              /* "cpl" */
        for (unsigned i = 0; i < n; i++) {
                int64_t capture = capture_clamp(INT64_C(1672531200) +
                                                (int64_t) rng_range(&rng, 3 * 365 * DAY));
                int64_t mtime = capture + (35 + (int64_t) rng_range(&rng, 120)) * DAY;
                uint64_t size = (64u << 10) + rng_range(&rng, 448u << 10);
                char path[128];
                int r;

                snprintf(path, sizeof(path),
                         "media/PhotoData/CPLAssets/group1/%08X-%04X-%04X-%04X-%012" PRIX64 ".JPG",
                         (unsigned) rng_range(&rng, UINT32_MAX), (unsigned) rng_range(&rng, 0x10000),
                         0x4000 | (unsigned) rng_range(&rng, 0x1000),
                         0x8000 | (unsigned) rng_range(&rng, 0x4000),
                         rng_range(&rng, UINT64_C(1) << 48));
                r = write_media_at(dfd, path, MEDIA_JPEG, size, content_seed(seed, path), capture,
                                   mtime, buf);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- reading the library back ---------------------------------------------------------- */

typedef struct Row {
        int64_t pk;
        char *dir, *name;
        int kind;
        int64_t capture;
} Row;

typedef struct Rows {
        Row *v;
        size_t n;
} Rows;

static void rows_done(Rows *r) {
        for (size_t i = 0; i < r->n; i++) {
                free(r->v[i].dir);
                free(r->v[i].name);
        }
        free(r->v);
        *r = (Rows) {};
}

static int row_compare(const void *a, const void *b) {
        const Row *x = a, *y = b;
        int c = strcmp(x->dir, y->dir);

        return c != 0 ? c : strcmp(x->name, y->name);
}

/* All rows, sorted by directory and name. */
static int rows_load(sqlite3 *db, Rows *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_(rows_done) Rows rows = {};
        size_t allocated = 0;
        int k;

        if (sqlite3_prepare_v2(db,
                               "SELECT Z_PK, ZDIRECTORY, ZFILENAME, ZKIND, ZDATECREATED "
                               "FROM ZASSET",
                               -1, &s, NULL) != SQLITE_OK)
                return -EIO;
        while ((k = sqlite3_step(s)) == SQLITE_ROW) {
                const char *d = (const char *) sqlite3_column_text(s, 1);
                const char *n = (const char *) sqlite3_column_text(s, 2);
                Row *x;

                if (!d || !n)
                        continue;
                if (rows.n == allocated) {
                        allocated = allocated ? allocated * 2 : 64;
                        x = reallocarray(rows.v, allocated, sizeof(*x));
                        if (!x)
                                return -ENOMEM;
                        rows.v = x;
                }
                x = &rows.v[rows.n];
                *x = (Row) {
                        .pk = sqlite3_column_int64(s, 0),
                        .dir = strdup(d),
                        .name = strdup(n),
                        .kind = sqlite3_column_int(s, 3),
                        .capture = (int64_t) sqlite3_column_double(s, 4) + APPLE_EPOCH,
                };
                rows.n++;
                if (!x->dir || !x->name)
                        return -ENOMEM;
        }
        if (k != SQLITE_DONE)
                return -EIO;
        if (rows.n > 0)
                qsort(rows.v, rows.n, sizeof(*rows.v), row_compare);
        *ret = rows;
        rows = (Rows) {};
        return 0;
}

static const Row *rows_find(const Rows *rows, const char *dir, const char *name) {
        Row key = { .dir = (char *) dir, .name = (char *) name };

        return rows->n ? bsearch(&key, rows->v, rows->n, sizeof(*rows->v), row_compare) : NULL;
}

/* media/<dir>/<name> exists. */
static bool media_exists(int dfd, const char *dir, const char *name) {
        char p[PATH_MAX];
        struct stat st;

        if ((size_t) snprintf(p, sizeof(p), "media/%s/%s", dir, name) >= sizeof(p))
                return false;
        return fstatat(dfd, p, &st, AT_SYMLINK_NOFOLLOW) >= 0;
}

/* The sibling of base name `name` (IMG_0001.X) with extension ext, into buf. */
static void sibling(const char *name, const char *ext, char *buf, size_t n) {
        const char *dot = strrchr(name, '.');

        snprintf(buf, n, "%.*s.%s", dot ? (int) (dot - name) : (int) strlen(name), name, ext);
}

/* A MOV beside a HEIC or JPG of the same base name is a Live Photo's video. */
static bool is_live_video(int dfd, const char *dir, const char *name) {
        char s[PATH_MAX];

        if (media_kind_of(name) != MEDIA_MOV)
                return false;
        sibling(name, "HEIC", s, sizeof(s));
        if (media_exists(dfd, dir, s))
                return true;
        sibling(name, "JPG", s, sizeof(s));
        return media_exists(dfd, dir, s);
}

/* Whether a DCIM file is an item of its own (a ZASSET row): photos and videos, not AAE
 * sidecars and not Live Photo videos. */
static bool is_primary(int dfd, const char *dir, const char *name) {
        MediaKind k = media_kind_of(name);

        return k != MEDIA_NONE && k != MEDIA_AAE && !is_live_video(dfd, dir, name);
}

/* Split "media/DCIM/100APPLE/IMG_0001.HEIC" into dir "DCIM/100APPLE" and the name. */
static int split_media_path(const char *path, char *dir, size_t n, const char **ret_name) {
        const char *rel = path + strlen("media/"), *slash = strrchr(rel, '/');

        if (!slash || (size_t) (slash - rel) >= n)
                return -ENAMETOOLONG;
        memcpy(dir, rel, (size_t) (slash - rel));
        dir[slash - rel] = '\0';
        *ret_name = slash + 1;
        return 0;
}

/* The regular files under media/DCIM (and CPLAssets if cpl), sorted by path. */
static int list_media(int dfd, bool cpl, EntryList *l) {
        int r = list_tree(dfd, "media/DCIM", false, true, l);

        if (r < 0 && r != -ENOENT)
                return r;
        if (cpl) {
                r = list_tree(dfd, "media/PhotoData/CPLAssets", false, true, l);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (l->n > 0)
                qsort(l->e, l->n, sizeof(*l->e), entry_compare);
        return 0;
}

/**
 * photos_write_tsv: (re)write DIR/photos.tsv from the tree and Photos.sqlite (format at the
 * top of this file) with the mtime t. dfd is DIR opened; buf GEN_BUF_SIZE bytes of scratch.
 * Returns 0 or -errno.
 */
int photos_write_tsv(const char *dir, int dfd, int64_t t, uint8_t *buf) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(rows_done) Rows rows = {};
        _cleanup_(fclosep) FILE *f = NULL;
        unsigned cloud = 0;
        int fd, r;

        r = db_open(dir, true, &db);
        if (r >= 0)
                r = rows_load(db, &rows);
        if (r >= 0)
                r = list_media(dfd, true, &l);
        if (r < 0)
                return r;

        (void) unlinkat(dfd, "photos.tsv.tmp", 0);
        fd = openat(dfd, "photos.tsv.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                (void) close(fd);
                return -errno;
        }

        for (size_t i = 0; i < l.n; i++) {
                const char *path = l.e[i].path, *name, *kind;
                MediaKind mk = media_kind_of(path);
                const Row *row;
                char d[PATH_MAX], hex[65], month[16];
                int64_t capture = l.e[i].st.st_mtime;
                uint64_t size;
                time_t tt;
                struct tm tm;

                if (mk == MEDIA_NONE || split_media_path(path, d, sizeof(d), &name) < 0)
                        continue;
                kind = mk == MEDIA_AAE                  ? "sidecar"
                       : is_live_video(dfd, d, name)   ? "live-video"
                       : mk == MEDIA_MOV || mk == MEDIA_MP4 ? "video"
                                                             : "photo";
                row = rows_find(&rows, d, name);
                if (!row && (mk == MEDIA_AAE || mk == MEDIA_MOV)) {
                        static const char *const exts[] = { "HEIC", "JPG", "PNG" };

                        for (size_t k = 0; !row && k < ELEMENTSOF(exts); k++) {
                                char s[PATH_MAX];

                                sibling(name, exts[k], s, sizeof(s));
                                row = rows_find(&rows, d, s);
                        }
                }
                if (row)
                        capture = row->capture;
                else
                        (void) media_read_capture(dfd, path, &capture);

                r = sha256_file_at(dfd, path, buf, hex, &size);
                if (r < 0)
                        return r;
                tt = (time_t) capture;
                (void) gmtime_r(&tt, &tm);
                (void) strftime(month, sizeof(month), "%Y-%m", &tm);
                fprintf(f, "/%s\t%s\t%s\t%" PRIu64 "\t%s\n", path + strlen("media/"), month, hex,
                        size, kind);
        }
        for (size_t i = 0; i < rows.n; i++)
                cloud += !media_exists(dfd, rows.v[i].dir, rows.v[i].name);
        fprintf(f, "# icloud-only %u\n", cloud);

        if (fflush(f) != 0)
                return -errno;
        r = set_mtime_at(dfd, "photos.tsv.tmp", t);
        if (r < 0)
                return r;
        if (renameat(dfd, "photos.tsv.tmp", dfd, "photos.tsv") < 0)
                return -errno;
        return 0;
}

/* ---- mutate: the camera roll's changes ------------------------------------------------- */

/* The camera roll's mix, repeated every ten items (gen-profile and --photos-add): a plain
 * HEIC, a QuickTime video, a Live Photo (HEIC + MOV), a JPEG, an edited HEIC (+ AAE), an
 * edited JPEG, an MP4 video, a Live Photo, a PNG, a JPEG. */
const PhotoMix photo_mix[10] = {
        { MEDIA_HEIC, false, false }, { MEDIA_MOV, false, false }, { MEDIA_HEIC, true, false },
        { MEDIA_JPEG, false, false }, { MEDIA_HEIC, false, true }, { MEDIA_JPEG, false, true },
        { MEDIA_MP4, false, false },  { MEDIA_HEIC, true, false }, { MEDIA_PNG, false, false },
        { MEDIA_JPEG, false, false },
};

static unsigned number_of(const char *name) {
        unsigned n;

        return sscanf(name, "IMG_%4u.", &n) == 1 ? n : 0;
}

/**
 * photo_ctx_open: start the camera-roll part of a mutation of the profile DIR (opened as
 * dfd): open (or create) Photos.sqlite, remember which rows are iCloud-only (no file) and
 * the next free IMG number. t is the mutation's time; buf and touched are borrowed.
 * Returns 0 or -errno.
 */
int photo_ctx_open(PhotoCtx *c, const char *dir, int dfd, uint64_t seed, int64_t t,
                   uint8_t *buf, EntryList *touched) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(rows_done) Rows rows = {};
        char p[] = "media/PhotoData";
        int r;

        *c = (PhotoCtx) { .dir = dir, .dfd = dfd, .seed = seed, .t = t, .buf = buf,
                          .touched = touched, .next_number = 1 };
        r = mkdir_p_at(dfd, p);
        if (r >= 0)
                r = db_open(dir, true, &c->db);
        if (r >= 0)
                r = rows_load(c->db, &rows);
        if (r >= 0)
                r = list_media(dfd, false, &l);
        if (r < 0)
                return r;

        c->keep = calloc(rows.n ? rows.n : 1, sizeof(*c->keep));
        if (!c->keep)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n; i++) {
                if (!media_exists(dfd, rows.v[i].dir, rows.v[i].name))
                        c->keep[c->n_keep++] = rows.v[i].pk;
                if (number_of(rows.v[i].name) >= c->next_number)
                        c->next_number = number_of(rows.v[i].name) + 1;
        }
        for (size_t i = 0; i < l.n; i++) {
                const char *base = strrchr(l.e[i].path, '/') + 1;
                char d[PATH_MAX];
                const char *name;

                if (number_of(base) >= c->next_number)
                        c->next_number = number_of(base) + 1;
                if (split_media_path(l.e[i].path, d, sizeof(d), &name) >= 0 &&
                    is_primary(dfd, d, name))
                        c->primaries++;
        }
        return 0;
}

/* Frees what photo_ctx_open() made (the database is closed without further writes). */
void photo_ctx_done(PhotoCtx *c) {
        if (c->db)
                (void) sqlite3_close(c->db);
        free(c->keep);
        *c = (PhotoCtx) {};
}

/* The paths of DCIM file rel ("DCIM/100APPLE/IMG_0001.HEIC") in media/ and backup/. */
static int both_paths(const char *rel, char *media, char *backup) {
        if ((size_t) snprintf(media, PATH_MAX, "media/%s", rel) >= PATH_MAX ||
            (size_t) snprintf(backup, PATH_MAX, "%s%s", backup_dcim, rel) >= PATH_MAX)
                return -ENAMETOOLONG;
        return 0;
}

/* touch_parent() of path and of its directory: a new 1nnAPPLE folder changes DCIM too, and
 * a mutation's directory times must not depend on the clock. */
static int touch_parents(PhotoCtx *c, const char *path) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        int r;

        r = touch_parent(c->touched, path);
        if (r < 0 || !slash || (size_t) (slash - path) >= sizeof(dir))
                return r;
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = '\0';
        return touch_parent(c->touched, dir);
}

static int link_into_backup(PhotoCtx *c, const char *media, const char *backup) {
        int r;

        if (linkat(c->dfd, media, c->dfd, backup, 0) < 0) {
                r = errno == ENOENT ? mkdir_parents_at(c->dfd, backup) : -errno;
                if (r >= 0 && linkat(c->dfd, media, c->dfd, backup, 0) < 0)
                        r = -errno;
                if (r < 0)
                        return r;
        }
        r = touch_parents(c, media);
        return r < 0 ? r : touch_parents(c, backup);
}

/**
 * photo_add: a new camera-roll item with the next free number in DIR/media/DCIM/<folder>
 * (and its backup twin), and its ZASSET row. plain: one HEIC (for --add); else the item
 * follows photo_mix[] by its number, with its Live Photo MOV or AAE. New photos were taken
 * 40 to 140 days before the mutation; a JPEG's or HEIC's mtime is the mutation's time.
 * Returns the number of files written, or -errno (-ENOSPC past IMG_9999).
 */
int photo_add(PhotoCtx *c, Rng *r, const char *folder, bool plain) {
        unsigned number = c->next_number;
        PhotoMix m = plain ? (PhotoMix) { MEDIA_HEIC, false, false }
                           : photo_mix[(number - 1) % ELEMENTSOF(photo_mix)];
        int64_t capture = capture_clamp(c->t - (40 + (int64_t) rng_range(r, 100)) * DAY -
                                        (int64_t) rng_range(r, DAY));
        int64_t later = c->t + (int64_t) rng_range(r, 3600);
        struct {
                MediaKind kind;
                SizeClass cls;
                int64_t mtime;
        } files[3] = { { m.kind, SIZE_PHOTO,
                         m.kind == MEDIA_HEIC || m.kind == MEDIA_JPEG ? later : capture } };
        unsigned n = 1;
        char dir[64], rel[PATH_MAX], media[PATH_MAX], backup[PATH_MAX], name[32];
        int k;

        if (number > 9999)
                return -ENOSPC;
        c->next_number++;
        if (m.live)
                files[n++] = (typeof(files[0])) { MEDIA_MOV, SIZE_PHOTO, capture };
        if (m.aae)
                files[n++] = (typeof(files[0])) { MEDIA_AAE, SIZE_SIDECAR, capture };
        snprintf(dir, sizeof(dir), "DCIM/%s", folder);

        for (unsigned i = 0; i < n; i++) {
                snprintf(name, sizeof(name), "IMG_%04u.%s", number, media_ext(files[i].kind));
                snprintf(rel, sizeof(rel), "%s/%s", dir, name);
                k = both_paths(rel, media, backup);
                if (k >= 0)
                        k = write_media_at(c->dfd, media, files[i].kind,
                                           natural_size(r, files[i].cls),
                                           content_seed(c->seed ^ UINT64_C(0x70686f746f), rel),
                                           capture, files[i].mtime, c->buf);
                if (k >= 0)
                        k = link_into_backup(c, media, backup);
                if (k < 0)
                        return k;
        }
        snprintf(name, sizeof(name), "IMG_%04u.%s", number, media_ext(m.kind));
        k = db_insert(c->db, r, dir, name, m.kind == MEDIA_MOV || m.kind == MEDIA_MP4, capture);
        return k < 0 ? k : (int) n;
}

/* The 1nnAPPLE folders under media/DCIM, as numbers, ascending; *ret_n of them. */
static int list_folders(int dfd, unsigned *v, size_t max, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        size_t n = 0;
        int fd;

        fd = openat(dfd, "media/DCIM", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? (*ret_n = 0, 0) : -errno;
        d = fdopendir(fd);
        if (!d) {
                (void) close(fd);
                return -errno;
        }
        while ((de = readdir(d)) && n < max) {
                unsigned f;
                char rest[8];

                if (sscanf(de->d_name, "%3u%7s", &f, rest) == 2 && strcmp(rest, "APPLE") == 0 &&
                    f >= 100 && f <= 999)
                        v[n++] = f;
        }
        for (size_t i = 1; i < n; i++)                  /* insertion sort: few folders */
                for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
                        unsigned x = v[j];

                        v[j] = v[j - 1];
                        v[j - 1] = x;
                }
        *ret_n = n;
        return 0;
}

static int db_update(PhotoCtx *c, const char *odir, const char *oname, const char *ndir,
                     const char *nname) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;

        if (sqlite3_prepare_v2(c->db,
                               ndir ? "UPDATE ZASSET SET ZDIRECTORY = ?3, ZFILENAME = ?4 "
                                      "WHERE ZDIRECTORY = ?1 AND ZFILENAME = ?2"
                                    : "DELETE FROM ZASSET WHERE ZDIRECTORY = ?1 AND ZFILENAME = ?2",
                               -1, &s, NULL) != SQLITE_OK)
                return -EIO;
        (void) sqlite3_bind_text(s, 1, odir, -1, SQLITE_STATIC);
        (void) sqlite3_bind_text(s, 2, oname, -1, SQLITE_STATIC);
        if (ndir) {
                (void) sqlite3_bind_text(s, 3, ndir, -1, SQLITE_STATIC);
                (void) sqlite3_bind_text(s, 4, nname, -1, SQLITE_STATIC);
        }
        return sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
}

/* Move or delete (ndir NULL) one file of an item in both trees. */
static int relocate(PhotoCtx *c, const char *odir, const char *oname, const char *ndir,
                    const char *nname) {
        char rel[PATH_MAX], om[PATH_MAX], ob[PATH_MAX], nm[PATH_MAX], nb[PATH_MAX];
        struct stat st;
        int r;

        if ((size_t) snprintf(rel, sizeof(rel), "%s/%s", odir, oname) >= sizeof(rel))
                return -ENAMETOOLONG;
        r = both_paths(rel, om, ob);
        if (r < 0)
                return r;
        r = touch_parent(c->touched, om);
        if (r >= 0)
                r = touch_parent(c->touched, ob);
        if (r < 0)
                return r;
        if (!ndir) {
                if (unlinkat(c->dfd, om, 0) < 0 && errno != ENOENT)
                        return -errno;
                if (unlinkat(c->dfd, ob, 0) < 0 && errno != ENOENT)
                        return -errno;
                return 0;
        }
        if ((size_t) snprintf(rel, sizeof(rel), "%s/%s", ndir, nname) >= sizeof(rel))
                return -ENAMETOOLONG;
        r = both_paths(rel, nm, nb);
        if (r >= 0)
                r = mkdir_parents_at(c->dfd, nm);
        if (r < 0)
                return r;
        if (renameat(c->dfd, om, c->dfd, nm) < 0)
                return -errno;
        if (fstatat(c->dfd, ob, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                r = mkdir_parents_at(c->dfd, nb);
                if (r < 0)
                        return r;
                if (renameat(c->dfd, ob, c->dfd, nb) < 0)
                        return -errno;
        }
        r = touch_parents(c, nm);
        return r < 0 ? r : touch_parents(c, nb);
}

typedef enum PhotoOp { OP_RENAME, OP_MOVE, OP_DELETE } PhotoOp;

/* Rename, move or delete the item whose primary file is media/<dir>/<name>, with its Live
 * Photo MOV and AAE, and its ZASSET row. */
static int photo_op(PhotoCtx *c, Rng *r, PhotoOp op, const char *dir, const char *name) {
        static const char *const exts[] = { "MOV", "AAE" };
        MediaKind mk = media_kind_of(name);
        char members[3][PATH_MAX], ndir[PATH_MAX], nname[PATH_MAX], base[PATH_MAX];
        unsigned n = 0, number = 0;
        int k;

        snprintf(members[n++], sizeof(members[0]), "%s", name);
        for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                char s[PATH_MAX];

                if (i == 0 && mk != MEDIA_HEIC && mk != MEDIA_JPEG)
                        continue;
                sibling(name, exts[i], s, sizeof(s));
                if (strcmp(s, name) != 0 && strlen(s) < sizeof(members[0]) &&
                    media_exists(c->dfd, dir, s))
                        snprintf(members[n++], sizeof(members[0]), "%s", s);
        }

        if ((size_t) snprintf(ndir, sizeof(ndir), "%s", dir) >= sizeof(ndir))
                return -ENAMETOOLONG;
        if (op == OP_MOVE) {
                unsigned folders[64], cur = 0, pick;
                size_t nf = 0, others = 0;

                k = list_folders(c->dfd, folders, ELEMENTSOF(folders), &nf);
                if (k < 0)
                        return k;
                (void) sscanf(dir, "DCIM/%3u", &cur);
                for (size_t i = 0; i < nf; i++)
                        others += folders[i] != cur;
                if (others == 0)
                        pick = (nf > 0 ? folders[nf - 1] : cur) + 1;
                else {
                        size_t want = (size_t) rng_range(r, others);

                        pick = 0;
                        for (size_t i = 0; i < nf && !pick; i++)
                                if (folders[i] != cur && want-- == 0)
                                        pick = folders[i];
                }
                if (pick > 999)
                        return -ENOSPC;
                snprintf(ndir, sizeof(ndir), "DCIM/%03uAPPLE", pick);
                for (unsigned i = 0; i < n; i++)
                        if (media_exists(c->dfd, ndir, members[i]))
                                number = 1;     /* the name is taken there: renumber */
        }
        if (op == OP_RENAME || number) {
                if (c->next_number > 9999)
                        return -ENOSPC;
                number = c->next_number++;
        }

        for (unsigned i = 0; i < n; i++) {
                const char *ext = strrchr(members[i], '.') + 1;

                if (number)
                        snprintf(base, sizeof(base), "IMG_%04u.%s", number, ext);
                else
                        memcpy(base, members[i], sizeof(base));
                if (i == 0)
                        snprintf(nname, sizeof(nname), "%s", base);
                k = relocate(c, dir, members[i], op == OP_DELETE ? NULL : ndir, base);
                if (k < 0)
                        return k;
        }
        return db_update(c, dir, name, op == OP_DELETE ? NULL : ndir, nname);
}

/**
 * photos_mutate_ops: --photos-rename, --photos-move, --photos-delete (distinct items picked
 * by r among the camera roll's items, in that order), then --photos-add (new items in the
 * last 1nnAPPLE folder). Returns 0, -EINVAL if there are fewer items than asked for, or
 * -errno.
 */
int photos_mutate_ops(PhotoCtx *c, Rng *r, const MutateOptions *o) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(freep) size_t *items = NULL;
        size_t n = 0, want = (size_t) o->photos_rename + o->photos_move + o->photos_delete;
        unsigned folders[64];
        size_t nf = 0;
        char last[16];
        int k;

        k = list_media(c->dfd, false, &l);
        if (k < 0)
                return k;
        items = calloc(l.n ? l.n : 1, sizeof(*items));
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < l.n; i++) {
                char d[PATH_MAX];
                const char *name;

                if (split_media_path(l.e[i].path, d, sizeof(d), &name) >= 0 &&
                    is_primary(c->dfd, d, name))
                        items[n++] = i;
        }
        if (want > n) {
                log_warn("mutate: '%s' has %zu camera-roll items, cannot rename %u, move %u and "
                         "delete %u", c->dir, n, o->photos_rename, o->photos_move,
                         o->photos_delete);
                return -EINVAL;
        }
        for (size_t i = 0; i < want; i++) {
                size_t j = i + (size_t) rng_range(r, n - i), x = items[i];

                items[i] = items[j];
                items[j] = x;
        }
        for (size_t i = 0; i < want; i++) {
                PhotoOp op = i < o->photos_rename                    ? OP_RENAME
                             : i < o->photos_rename + o->photos_move ? OP_MOVE
                                                                     : OP_DELETE;
                char d[PATH_MAX];
                const char *name;

                k = split_media_path(l.e[items[i]].path, d, sizeof(d), &name);
                if (k >= 0)
                        k = photo_op(c, r, op, d, name);
                if (k < 0)
                        return k;
        }

        k = list_folders(c->dfd, folders, ELEMENTSOF(folders), &nf);
        if (k < 0)
                return k;
        snprintf(last, sizeof(last), "%03uAPPLE", nf > 0 ? folders[nf - 1] : 100);
        for (unsigned i = 0; i < o->photos_add; i++) {
                k = photo_add(c, r, last, false);
                if (k < 0)
                        return k;
        }
        return 0;
}

/**
 * photo_ctx_finish: make Photos.sqlite agree with DCIM after a mutation (rows of deleted
 * files go unless they were iCloud-only before; a photo or video without a row gets one,
 * dated by its EXIF or mtime), close it, and rewrite photos.tsv. Everything written gets the
 * mtime t. Returns 0 or -errno.
 */
int photo_ctx_finish(PhotoCtx *c, Rng *r, int64_t t) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(rows_done) Rows rows = {};
        char *dot;
        int k;

        k = rows_load(c->db, &rows);
        if (k >= 0)
                k = list_media(c->dfd, false, &l);
        if (k >= 0)
                k = db_exec(c->db, "BEGIN");
        if (k < 0)
                return k;
        for (size_t i = 0; i < rows.n; i++) {
                bool keep = false;

                if (media_exists(c->dfd, rows.v[i].dir, rows.v[i].name))
                        continue;
                for (size_t j = 0; j < c->n_keep && !keep; j++)
                        keep = c->keep[j] == rows.v[i].pk;
                if (!keep) {
                        k = db_update(c, rows.v[i].dir, rows.v[i].name, NULL, NULL);
                        if (k < 0)
                                return k;
                }
        }
        for (size_t i = 0; i < l.n; i++) {
                char d[PATH_MAX];
                const char *name;
                int64_t capture = l.e[i].st.st_mtime;
                MediaKind mk;

                if (split_media_path(l.e[i].path, d, sizeof(d), &name) < 0 ||
                    !is_primary(c->dfd, d, name) || rows_find(&rows, d, name))
                        continue;
                mk = media_kind_of(name);
                (void) media_read_capture(c->dfd, l.e[i].path, &capture);
                k = db_insert(c->db, r, d, name, mk == MEDIA_MOV || mk == MEDIA_MP4, capture);
                if (k < 0)
                        return k;
        }
        k = db_exec(c->db, "COMMIT");
        if (k < 0)
                return k;
        (void) sqlite3_close(c->db);
        c->db = NULL;

        k = set_mtime_at(c->dfd, db_path, t);
        if (k >= 0)
                k = touch_parent(c->touched, db_path);
        if (k < 0)
                return k;
        dot = strdup(".");                      /* photos.tsv is replaced by a rename */
        if (!dot)
                return -ENOMEM;
        k = entry_list_add(c->touched, dot, NULL);
        if (k < 0)
                return k;
        return photos_write_tsv(c->dir, c->dfd, t, c->buf);
}
