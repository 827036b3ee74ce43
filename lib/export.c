/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every export type uses (export.h): reading the snapshot's files through a backend
 * (a committed snapshot, decrypted when it is encrypted; or, for tests and tools, a plain
 * directory laid out as <domain>/<path>), private database copies, safe names and new
 * files beneath the output directory. The sync category around it is export-sync.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export-internal.h"
#include "fs-util.h"
#include "util.h"

#define COPY_CHUNK (256 * 1024)

const char *export_ios_version(ExportCtx *x) {
        return x->ios;
}

const char *export_snapshot_id(ExportCtx *x) {
        return x->snapshot_id;
}

int export_root_fd(ExportCtx *x) {
        return x->root_fd;
}

void export_count(ExportCtx *x, uint64_t items) {
        x->items += items;
}

int export_check_cancel(ExportCtx *x) {
        return ids_cancel_requested(x->cancel) ? IDS_E_CANCELLED : 0;
}

static void reason_appendv(ExportCtx *x, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
static void reason_appendv(ExportCtx *x, const char *fmt, va_list ap) {
        size_t len = strlen(x->reason);

        if (len > 0 && len + 1 < sizeof(x->reason))
                x->reason[len++] = ' ', x->reason[len] = 0;
        if (len < sizeof(x->reason))
                vsnprintf(x->reason + len, sizeof(x->reason) - len, fmt, ap);
}

void export_note(ExportCtx *x, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        reason_appendv(x, fmt, ap);
        va_end(ap);
}

int export_unknown_schema(ExportCtx *x, const char *what, const char *detail_fmt, ...) {
        char detail[160];
        va_list ap;

        va_start(ap, detail_fmt);
        vsnprintf(detail, sizeof(detail), detail_fmt, ap);
        va_end(ap);
        snprintf(x->reason, sizeof(x->reason), "%s database schema of iOS %s is not known (%s)",
                 what, x->ios[0] ? x->ios : "(unknown version)", detail);
        return IDS_E_UNSUPPORTED;
}

int export_missing(ExportCtx *x, const char *what) {
        snprintf(x->reason, sizeof(x->reason), "No %s database in the backup.", what);
        return -ENOENT;
}

bool export_has_column(sqlite3 *db, const char *table, const char *column) {
        sqlite3_stmt *st = NULL;
        bool found = false;

        /* table_xinfo: a table name cannot be bound, but pragma functions take arguments. */
        if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_xinfo(?1) WHERE name = ?2", -1,
                               &st, NULL) != SQLITE_OK)
                return false;
        if (sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC) == SQLITE_OK)
                found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return found;
}

static bool has_table(sqlite3 *db, const char *table) {
        sqlite3_stmt *st = NULL;
        bool found = false;

        if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE type IN ('table', 'view') "
                                   "AND name = ?1", -1, &st, NULL) != SQLITE_OK)
                return false;
        if (sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK)
                found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return found;
}

int export_need_columns(ExportCtx *x, sqlite3 *db, const char *what, const char *table,
                        const char *const *columns) {
        if (!has_table(db, table))
                return export_unknown_schema(x, what, "no table %s", table);
        for (size_t i = 0; columns && columns[i]; i++)
                if (!export_has_column(db, table, columns[i]))
                        return export_unknown_schema(x, what, "%s has no column %s", table,
                                                     columns[i]);
        return 0;
}

int export_open_checked(ExportCtx *x, const char *domain, const char *path, const char *what,
                        const ExportTable *tables, sqlite3 **ret) {
        sqlite3 *db = NULL;
        int r;

        r = export_open_db(x, domain, path, &db);
        if (r == -ENOENT)
                return export_missing(x, what);
        if (r != 0)
                return r;
        for (const ExportTable *t = tables; t && t->name; t++) {
                r = export_need_columns(x, db, what, t->name, t->columns);
                if (r != 0) {
                        sqlite3_close(db);
                        return r;
                }
        }
        *ret = db;
        return 0;
}

/* ---- names ------------------------------------------------------------------------------ */

/* The length of the valid UTF-8 sequence at s (1–4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s) {
        unsigned c = s[0];
        size_t n;
        unsigned cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

void export_safe_name(const char *title, const char *ext, const char *fallback, char *buf,
                      size_t n) {
        const unsigned char *s = (const unsigned char *) (title ?: "");
        size_t ext_len = ext ? strlen(ext) : 0, max, len = 0;
        bool space = false;

        if (n == 0)
                return;
        buf[0] = 0;
        if (ext_len + 1 >= n)
                return;
        max = n - 1 - ext_len;
        if (max > 200)
                max = 200;              /* room for " (99)" and an extension in NAME_MAX */

        while (*s) {
                size_t k = utf8_len(s);
                const char *put = (const char *) s;
                size_t put_len = k;

                if (k == 0) {
                        put = "\xef\xbf\xbd";   /* U+FFFD for a byte that is not UTF-8 */
                        put_len = 3;
                        k = 1;
                } else if (k == 1 && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
                        space = len > 0;
                        s++;
                        continue;
                } else if (k == 1 && (*s < 0x20 || *s == 0x7f || strchr("/\\:*?\"<>|", *s))) {
                        put = "_";
                        put_len = 1;
                } else if (k == 1 && *s == '.' && len == 0) {
                        s++;            /* no hidden files, no "." or ".." */
                        continue;
                }
                if (len + space + put_len > max)
                        break;
                if (space)
                        buf[len++] = ' ';
                space = false;
                memcpy(buf + len, put, put_len);
                len += put_len;
                s += k;
        }
        while (len > 0 && (buf[len - 1] == '.' || buf[len - 1] == ' '))
                len--;
        buf[len] = 0;
        if (len == 0)
                snprintf(buf, max + 1, "%s", fallback && *fallback ? fallback : "untitled");
        if (ext_len)
                strcat(buf, ext);
}

/* name with " (k)" before its extension (the last '.' that is not the first byte). */
static int numbered_name(const char *name, unsigned k, char *buf, size_t n) {
        const char *dot = strrchr(name, '.');
        int r;

        if (!dot || dot == name)
                dot = name + strlen(name);
        r = snprintf(buf, n, "%.*s (%u)%s", (int) (dot - name), name, k, dot);
        return r < 0 || (size_t) r >= n ? -ENAMETOOLONG : 0;
}

static int check_component(const char *name) {
        size_t len = name ? strlen(name) : 0;

        if (len == 0 || len > FS_NAME_MAX || strchr(name, '/') || strcmp(name, ".") == 0 ||
            strcmp(name, "..") == 0)
                return -EINVAL;
        return 0;
}

int export_mkdir(ExportCtx *x, int dir_fd, const char *name, int *ret_fd) {
        int r = check_component(name), fd;

        if (r < 0)
                return r;
        if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
                return errno == ENOSPC || errno == EDQUOT ? IDS_E_DISK_FULL : -errno;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

/* A new file name, or name (k) when name is taken. The fd, or -errno. */
static int create_unique(int dir_fd, const char *name, char **ret_name) {
        char numbered[FS_NAME_MAX + 1];
        int r = check_component(name);

        if (r < 0)
                return r;
        for (unsigned k = 1; k < 10000; k++) {
                const char *use = name;
                int fd;

                if (k > 1) {
                        r = numbered_name(name, k, numbered, sizeof(numbered));
                        if (r < 0)
                                return r;
                        use = numbered;
                }
                fd = openat(dir_fd, use, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0644);
                if (fd >= 0) {
                        if (ret_name && !(*ret_name = strdup(use))) {
                                (void) unlinkat(dir_fd, use, 0);
                                close(fd);
                                return -ENOMEM;
                        }
                        return fd;
                }
                if (errno != EEXIST)
                        return errno == ENOSPC || errno == EDQUOT ? IDS_E_DISK_FULL : -errno;
        }
        return -EEXIST;
}

int export_create(ExportCtx *x, int dir_fd, const char *name, FILE **ret, char **ret_name) {
        FILE *f;
        int fd;

        if (ret_name)
                *ret_name = NULL;
        fd = create_unique(dir_fd, name, ret_name);
        if (fd < 0)
                return fd;
        f = fdopen(fd, "w");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

static int set_mtime(int fd, int64_t mtime) {
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = mtime } };

        if (mtime <= 0)
                return 0;
        return futimens(fd, ts) < 0 ? -errno : 0;
}

int export_close(ExportCtx *x, FILE *f, int64_t mtime) {
        int r = 0;

        if (fflush(f) != 0 || ferror(f))
                r = -errno ?: -EIO;
        if (r == 0)
                r = set_mtime(fileno(f), mtime);
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == -ENOSPC || r == -EDQUOT)
                r = IDS_E_DISK_FULL;
        return r;
}

int export_write(ExportCtx *x, int dir_fd, const char *name, const void *data, size_t len,
                 int64_t mtime, char **ret_name) {
        FILE *f;
        int r;

        r = export_create(x, dir_fd, name, &f, ret_name);
        if (r < 0)
                return r;
        if (len > 0 && fwrite(data, 1, len, f) != len)
                (void) 0;               /* export_close() sees the error */
        return export_close(x, f, mtime);
}

/* ---- reading the snapshot --------------------------------------------------------------- */

int export_list(ExportCtx *x, const char *domain, const char *prefix,
                int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata),
                void *userdata) {
        return x->backend->list(x, domain, prefix ?: "", fn, userdata);
}

/* Copy all of in_fd to out_fd. 0 or -errno. */
static int copy_fd(ExportCtx *x, int in_fd, int out_fd) {
        _cleanup_(freep) char *buf = malloc(COPY_CHUNK);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(in_fd, buf, COPY_CHUNK);
                int r;

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                r = fs_write_all(out_fd, buf, (size_t) k);
                if (r < 0)
                        return r;
                r = export_check_cancel(x);
                if (r != 0)
                        return r;
        }
}

int export_read_file(ExportCtx *x, const char *domain, const char *path, size_t max,
                     void **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        ExportFileInfo info;
        size_t got = 0;
        int r;

        r = x->backend->open(x, domain, path, &fd, &info);
        if (r < 0)
                return r;
        if (info.size > max)
                return -EFBIG;
        buf = malloc((size_t) info.size + 1);
        if (!buf)
                return -ENOMEM;
        while (got < info.size) {
                ssize_t k = read(fd, buf + got, (size_t) info.size - got);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return IDS_E_PROTOCOL;
                got += (size_t) k;
        }
        buf[got] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = got;
        return 0;
}

int export_copy_file(ExportCtx *x, int dir_fd, const char *name, const char *domain,
                     const char *path, int64_t mtime, char **ret_name) {
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        _cleanup_(freep) char *used = NULL;
        ExportFileInfo info;
        int r;

        if (ret_name)
                *ret_name = NULL;
        r = x->backend->open(x, domain, path, &in, &info);
        if (r < 0)
                return r;
        out = create_unique(dir_fd, name, &used);
        if (out < 0)
                return out;
        r = copy_fd(x, in, out);
        if (r == 0)
                r = set_mtime(out, mtime > 0 ? mtime : info.mtime);
        if (r == 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, used, 0);
                return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
        }
        if (ret_name)
                *ret_name = TAKE_PTR(used);
        return 0;
}

/* Copy domain/path of the snapshot to name in the work directory. -ENOENT when absent. */
static int copy_to_work(ExportCtx *x, const char *domain, const char *path, const char *name) {
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        ExportFileInfo info;
        int r;

        r = x->backend->open(x, domain, path, &in, &info);
        if (r < 0)
                return r;
        out = openat(x->work_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     0600);
        if (out < 0)
                return -errno;
        r = copy_fd(x, in, out);
        if (r == 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
}

int export_open_db(ExportCtx *x, const char *domain, const char *path, sqlite3 **ret) {
        static const char *const suffixes[] = { "-wal", "-shm" };
        char name[32], side[40];
        _cleanup_(freep) char *full = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r;

        snprintf(name, sizeof(name), "db%u.sqlite", x->n_dbs++);
        r = copy_to_work(x, domain, path, name);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_(freep) char *p = NULL;

                if (asprintf(&p, "%s%s", path, suffixes[i]) < 0)
                        return -ENOMEM;
                snprintf(side, sizeof(side), "%s%s", name, suffixes[i]);
                r = copy_to_work(x, domain, p, side);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (asprintf(&full, "%s/%s", x->work_dir, name) < 0)
                return -ENOMEM;
        if (sqlite3_open_v2(full, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
                sqlite3_close(db);
                return -ENOMEM;
        }
        /* A database from a device is hostile input: no schema-defined functions or
         * triggers that run as we read, and corruption checks on every page. */
        (void) sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        (void) sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        (void) sqlite3_exec(db, "PRAGMA cell_size_check = ON", NULL, NULL, NULL);
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL) !=
                    SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW) {
                sqlite3_finalize(st);
                sqlite3_close(db);
                snprintf(x->reason, sizeof(x->reason), "%s/%s is not a database it can read.",
                         domain, path);
                return IDS_E_PROTOCOL;
        }
        sqlite3_finalize(st);
        *ret = db;
        return 0;
}

/* ---- the plain backend: <src_dir>/<domain>/<path> --------------------------------------- */

static int plain_open(ExportCtx *x, const char *domain, const char *path, int *ret_fd,
                      ExportFileInfo *info) {
        _cleanup_(freep) char *rel = NULL;
        struct stat st;
        int fd;

        if (!domain || !*domain || strchr(domain, '/') || !path || !*path ||
            fs_path_check(path, strlen(path)) < 0)
                return -ENOENT;
        if (asprintf(&rel, "%s/%s", domain, path) < 0)
                return -ENOMEM;
        fd = fs_open_beneath(x->plain_fd, rel, O_RDONLY, 0);
        if (fd < 0)
                return fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP || fd == -EXDEV ?
                               -ENOENT : fd;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return -ENOENT;
        }
        *info = (ExportFileInfo) { .size = (uint64_t) st.st_size, .mtime = st.st_mtime };
        *ret_fd = fd;
        return 0;
}

typedef struct PlainWalk {
        ExportCtx *x;
        const char *domain;
        int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata);
        void *userdata;
} PlainWalk;

static int plain_file(int parent_fd, const char *name, const char *rel, const struct stat *st,
                      void *userdata) {
        PlainWalk *w = userdata;
        ids_snapshot_file f = {
                .domain = w->domain,
                .path = rel,
                .size = (uint64_t) st->st_size,
                .mtime = st->st_mtime,
                .flags = IDS_SNAPSHOT_FILE_REGULAR,
                .safe = true,
        };

        return S_ISREG(st->st_mode) ? w->fn(w->x, &f, w->userdata) : 0;
}

static int plain_list(ExportCtx *x, const char *domain, const char *prefix,
                      int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata),
                      void *userdata) {
        PlainWalk w = { .x = x, .domain = domain, .fn = fn, .userdata = userdata };
        _cleanup_(freep) char *rel = NULL;
        _cleanup_(closep) int fd = -EBADF;
        size_t plen = strlen(prefix);

        while (plen > 0 && prefix[plen - 1] == '/')
                plen--;
        if (!domain || !*domain || strchr(domain, '/'))
                return 0;
        if (asprintf(&rel, "%s%s%.*s", domain, plen ? "/" : "", (int) plen, prefix) < 0)
                return -ENOMEM;
        fd = fs_open_beneath(x->plain_fd, rel, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) {
                /* The prefix may name a file. */
                ExportFileInfo info;
                _cleanup_(freep) char *path = strndup(prefix, plen);
                int ffd;

                if (!path)
                        return -ENOMEM;
                if (plen == 0 || plain_open(x, domain, path, &ffd, &info) < 0)
                        return 0;
                close(ffd);
                return fn(x, &(ids_snapshot_file) { .domain = domain, .path = path,
                                                     .size = info.size, .mtime = info.mtime,
                                                     .flags = IDS_SNAPSHOT_FILE_REGULAR,
                                                     .safe = true }, userdata);
        }
        {
                _cleanup_(freep) char *base = strndup(prefix, plen);

                if (!base)
                        return -ENOMEM;
                return fs_walk(fd, base, plain_file, &w);
        }
}

static const ExportBackend plain_backend = {
        .open = plain_open,
        .list = plain_list,
};

/* ---- running a type --------------------------------------------------------------------- */

int export_ctx_init(ExportCtx *x, const ExportType *t, const char *ios, int root_fd,
                    const char *work_parent) {
        *x = (ExportCtx) { .type = t, .root_fd = root_fd, .work_fd = -EBADF,
                           .plain_fd = -EBADF, .prev_fd = -EBADF };
        snprintf(x->ios, sizeof(x->ios), "%s", ios ?: "");
        if (asprintf(&x->work_dir, "%s/.export-work.XXXXXX", work_parent ?: "/tmp") < 0) {
                x->work_dir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(x->work_dir)) {
                free(x->work_dir);
                x->work_dir = NULL;
                return -errno;
        }
        x->work_fd = open(x->work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return x->work_fd < 0 ? -errno : 0;
}

void export_ctx_done(ExportCtx *x) {
        if (x->work_fd >= 0) {
                close(x->work_fd);
                x->work_fd = -EBADF;
        }
        if (x->work_dir) {
                char *slash = strrchr(x->work_dir, '/');
                int parent;

                *slash = 0;
                parent = open(slash == x->work_dir ? "/" : x->work_dir,
                              O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (parent >= 0) {
                        (void) fs_rm_rf_at(parent, slash + 1);
                        close(parent);
                }
                free(x->work_dir);
                x->work_dir = NULL;
        }
        if (x->plain_fd >= 0)
                close(x->plain_fd);
        x->plain_fd = -EBADF;
}

int export_run_plain(const ExportType *t, const char *src_dir, const char *ios, int out_fd,
                     char *reason, size_t reason_size, uint64_t *ret_items) {
        ExportCtx x;
        int r;

        r = export_ctx_init(&x, t, ios, out_fd, NULL);
        if (r < 0) {
                export_ctx_done(&x);
                return r;
        }
        x.backend = &plain_backend;
        snprintf(x.snapshot_id, sizeof(x.snapshot_id), "plain");
        x.plain_fd = open(src_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = x.plain_fd < 0 ? -errno : t->run(&x);
        if (reason && reason_size)
                snprintf(reason, reason_size, "%s", x.reason);
        if (ret_items)
                *ret_items = x.items;
        export_ctx_done(&x);
        return r;
}
