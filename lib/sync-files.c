/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every sync category shares (sync-internal.h): progress and cancel, device names
 * checked before they become host names, the AFC walk, and the batch that makes received
 * files durable and visible and records them, in that order.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <libimobiledevice/installation_proxy.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "cancel.h"
#include "fs-util.h"
#include "sync-internal.h"
#include "util.h"

#define READ_CHUNK (1u << 20)
#define REPORT_EVERY (64u << 10)

void sync_report(SyncRun *run, ids_phase phase, bool force) {
        bool changed = run->p.phase != phase;

        run->p.phase = phase;
        if (!run->o->progress)
                return;
        if (!force && !changed && run->p.bytes_done - run->last_report_bytes < REPORT_EVERY)
                return;
        run->last_report_bytes = run->p.bytes_done;
        run->o->progress(&run->p, run->o->userdata);
}

int sync_check_cancel(SyncRun *run) {
        return ids_cancel_requested(run->cancel) ? IDS_E_CANCELLED : 0;
}

int sync_afc_error(SyncRun *run, afc_error_t e) {
        if (ids_cancel_requested(run->cancel))
                return IDS_E_CANCELLED;
        switch (e) {
        case AFC_E_SUCCESS:
                return 0;
        case AFC_E_MUX_ERROR:
        case AFC_E_SERVICE_NOT_CONNECTED:
        case AFC_E_NOT_ENOUGH_DATA:
                return IDS_E_DISCONNECTED;
        case AFC_E_OBJECT_NOT_FOUND:
                return -ENOENT;
        case AFC_E_PERM_DENIED:
                return -EACCES;
        case AFC_E_NO_MEM:
                return -ENOMEM;
        default:
                return IDS_E_PROTOCOL;
        }
}

bool sync_name_ok(const char *name) {
        size_t n = strlen(name);

        /* fs-util's rules for device paths first, then one component and no control
         * characters (a name with a newline breaks every listing a person reads). */
        if (fs_path_check(name, n) < 0)
                return false;
        for (const unsigned char *c = (const unsigned char *) name; *c; c++)
                if (*c == '/' || *c < 0x20 || *c == 0x7f)
                        return false;
        return true;
}

/* ---- the device side ------------------------------------------------------------------- */

static int parse_i64(const char *s, int64_t *ret) {
        char *end;
        long long v;

        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int sync_afc_stat(SyncRun *run, afc_client_t afc, const char *path, SyncFileInfo *ret) {
        char **kv = NULL;
        afc_error_t e;
        bool have_size = false;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        e = afc_get_file_info(afc, path, &kv);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
                int64_t v = 0;

                if (strcmp(kv[i], "st_ifmt") == 0) {
                        ret->is_dir = strcmp(kv[i + 1], "S_IFDIR") == 0;
                        ret->is_reg = strcmp(kv[i + 1], "S_IFREG") == 0;
                } else if (strcmp(kv[i], "st_size") == 0) {
                        if (parse_i64(kv[i + 1], &v) < 0 || v < 0)
                                r = IDS_E_PROTOCOL;
                        ret->size = (uint64_t) v;
                        have_size = true;
                } else if (strcmp(kv[i], "st_mtime") == 0) {
                        if (parse_i64(kv[i + 1], &v) < 0)
                                r = IDS_E_PROTOCOL;
                        ret->mtime_ns = v;
                } else if (strcmp(kv[i], "st_birthtime") == 0) {
                        if (parse_i64(kv[i + 1], &v) < 0)
                                r = IDS_E_PROTOCOL;
                        ret->birthtime_ns = v;
                }
        }
        afc_dictionary_free(kv);
        if (r == 0 && ret->is_reg && !have_size)
                r = IDS_E_PROTOCOL;
        return r;
}

static int walk_dir(SyncRun *run, afc_client_t afc, char *path, size_t root_len,
                    unsigned depth, unsigned max_depth, uint64_t *refused,
                    int (*fn)(SyncRun *run, const SyncEntry *e, void *userdata),
                    void *userdata) {
        char **list = NULL;
        size_t len = strlen(path);
        afc_error_t e;
        int r = 0;

        e = afc_read_directory(afc, path, &list);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (size_t i = 0; list && list[i] && r >= 0; i++) {
                const char *name = list[i];
                SyncFileInfo fi;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                r = sync_check_cancel(run);
                if (r != 0)
                        break;
                if (!sync_name_ok(name) || len + 1 + strlen(name) >= FS_PATH_MAX) {
                        ids_debug("sync: refusing device name in %s (%zu bytes)", path,
                                  strlen(name));
                        (*refused)++;
                        continue;
                }
                if (name[0] == '.')
                        continue;               /* .MISC, .Trashes: the device's own */
                snprintf(path + len, FS_PATH_MAX - len, "%s%s",
                         len > 0 && path[len - 1] == '/' ? "" : "/", name);
                r = sync_afc_stat(run, afc, path, &fi);
                if (r == -ENOENT) {
                        r = 0;                  /* gone meanwhile */
                } else if (r == 0 && fi.is_dir) {
                        if (depth < max_depth)
                                r = walk_dir(run, afc, path, root_len, depth + 1, max_depth,
                                             refused, fn, userdata);
                } else if (r == 0 && fi.is_reg) {
                        SyncEntry ent = {
                                .device_path = path,
                                .rel_path = path + root_len + (path[root_len] == '/'),
                                .name = path + strlen(path) - strlen(name),
                                .size = fi.size,
                                .mtime_ns = fi.mtime_ns,
                                .birthtime_ns = fi.birthtime_ns ? fi.birthtime_ns : fi.mtime_ns,
                        };
                        r = fn(run, &ent, userdata);
                } else if (r == 0) {
                        ids_debug("sync: skipping %s: not a regular file", path);
                        (*refused)++;           /* symlinks, devices: never followed */
                } else if (r == IDS_E_PROTOCOL) {
                        (*refused)++;           /* nonsense metadata: that entry only */
                        r = 0;
                }
                path[len] = 0;
        }
        afc_dictionary_free(list);
        return r;
}

int sync_afc_walk(SyncRun *run, afc_client_t afc, const char *root, unsigned max_depth,
                  uint64_t *refused,
                  int (*fn)(SyncRun *run, const SyncEntry *e, void *userdata), void *userdata) {
        char path[FS_PATH_MAX];
        size_t root_len;

        root_len = (size_t) snprintf(path, sizeof(path), "%s", root);
        if (root_len >= sizeof(path))
                return -ENAMETOOLONG;
        while (root_len > 1 && path[root_len - 1] == '/')
                path[--root_len] = 0;
        return walk_dir(run, afc, path, root_len, 1, max_depth, refused, fn, userdata);
}

int sync_grow(void **array, size_t *allocated, size_t n, size_t size, size_t first) {
        size_t want;
        void *p;

        if (n < *allocated)
                return 0;
        want = *allocated ? *allocated * 2 : first;
        if (want < *allocated || want > SIZE_MAX / size)
                return -ENOMEM;
        p = realloc(*array, want * size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *allocated = want;
        return 0;
}

/* ---- hashing ----------------------------------------------------------------------------- */

void sync_hex(const unsigned char *d, unsigned n, char ret[SYNC_HASH_HEX]) {
        for (unsigned i = 0; i < n && i < 32; i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
}

int sync_hash_fd(int fd, char ret[SYNC_HASH_HEX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        _cleanup_free_ uint8_t *buf = malloc(READ_CHUNK);
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        off_t off = 0;
        int r = 0;

        if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        for (;;) {
                ssize_t l = pread(fd, buf, READ_CHUNK, off);

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (l == 0)
                        break;
                EVP_DigestUpdate(ctx, buf, (size_t) l);
                off += l;
        }
        if (r == 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r == 0)
                sync_hex(md, md_len, ret);
        return r;
}

/* ---- space and places ------------------------------------------------------------------- */

int sync_check_space(SyncRun *run, int fd, uint64_t need) {
        struct statvfs sv;
        uint64_t avail;

        if (fstatvfs(fd, &sv) < 0)
                return -errno;
        avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        if (avail < need || avail - need < run->o->min_free_bytes)
                return IDS_E_DISK_FULL;
        return 0;
}

void sync_month_dir(int64_t t_ns, char ret[8]) {
        time_t t = (time_t) (t_ns / 1000000000);
        struct tm tm;

        if (!localtime_r(&t, &tm) || tm.tm_year + 1900 < 1900 || tm.tm_year + 1900 > 9999 ||
            tm.tm_mon < 0 || tm.tm_mon > 11)
                snprintf(ret, 8, "unknown");
        else
                snprintf(ret, 8, "%04u/%02u", (unsigned) (tm.tm_year + 1900) % 10000u,
                         (unsigned) (tm.tm_mon + 1) % 100u);
}

/* ---- batches ---------------------------------------------------------------------------- */

int batch_init(Batch *b, SyncRun *run, const char *category, const char *root) {
        _cleanup_(closep) int lib = -EBADF, fd = -EBADF;
        int r;

        *b = (Batch) { .run = run, .category = category, .root_fd = -EBADF,
                       .partial_fd = -EBADF };
        if (root[0] == '/') {
                r = fs_mkdir_parents(root, 0700);
                if (r < 0)
                        return r;
                fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else {
                lib = sync_open_library(run);
                if (lib < 0)
                        return lib;
                r = fs_mkdir_p_beneath(lib, root, 0700);
                if (r < 0)
                        return r;
                fd = fs_open_beneath(lib, root, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        return fd;
        }
        if (fd < 0)
                return -errno;
        /* Whatever an interrupted run left in the partial directory was never visible and
         * never recorded: start clean. */
        r = fs_rm_rf_at(fd, SYNC_PARTIAL_DIR);
        if (r < 0 && r != -ENOENT)
                return r;
        b->partial_fd = fs_open_subdir(fd, SYNC_PARTIAL_DIR, true);
        if (b->partial_fd < 0)
                return b->partial_fd;
        b->root_fd = TAKE_FD(fd);
        return 0;
}

static void batch_file_done(BatchFile *f) {
        free(f->device_path);
        free(f->dir);
        free(f->name);
        sync_item_done(&f->item);
}

static void batch_clear(Batch *b) {
        for (size_t i = 0; i < b->n; i++) {
                if (b->files[i].tmp[0])
                        (void) unlinkat(b->partial_fd, b->files[i].tmp, 0);
                batch_file_done(&b->files[i]);
        }
        b->n = 0;
        b->bytes = 0;
}

int batch_open(Batch *b, SyncRun *run, SyncCat *c, const char *root) {
        int r = batch_init(b, run, c->type->name, root);

        if (r >= 0)
                return 0;
        snprintf(c->out->reason, sizeof(c->out->reason), "Cannot use %s: %s", root, strerror(-r));
        return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
}

void batch_done(Batch *b) {
        if (b->partial_fd >= 0) {
                batch_clear(b);
                close(b->partial_fd);
                if (b->root_fd >= 0)
                        (void) fs_rm_rf_at(b->root_fd, SYNC_PARTIAL_DIR);
        }
        free(b->files);
        free(b->out_buf);
        if (b->root_fd >= 0)
                close(b->root_fd);
        *b = (Batch) { .root_fd = -EBADF, .partial_fd = -EBADF };
}

bool batch_full(const Batch *b) {
        return b->n >= BATCH_MAX_FILES || b->bytes >= BATCH_MAX_BYTES;
}

int sync_afc_receive(SyncRun *run, afc_client_t afc, uint64_t h, int fd, uint64_t size,
                     uint8_t *buf, bool *no_direct, char hash[SYNC_HASH_HEX]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        FsOut out = { .fd = fd, .buf = buf, .no_direct = no_direct };
        uint64_t total = 0;
        int r = 0;

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
                EVP_MD_CTX_free(ctx);
                return -ENOMEM;
        }
        for (;;) {
                uint8_t *p = buf;
                uint32_t room = fd >= 0 ? fs_out_room(&out, &p) : FS_OUT_CAP, got = 0;
                afc_error_t ae;

                r = sync_check_cancel(run);
                if (r != 0)
                        break;
                ae = afc_file_read(afc, h, (char *) p, room, &got);
                if (ae != AFC_E_SUCCESS) {
                        r = sync_afc_error(run, ae);
                        break;
                }
                if (got == 0)
                        break;
                if (got > room || total + got > size) {
                        r = -EAGAIN;            /* grew while read: next time */
                        break;
                }
                EVP_DigestUpdate(ctx, p, got);
                total += got;
                if (fd >= 0) {
                        r = fs_out_add(&out, got);
                        if (r < 0)
                                break;
                        run->p.bytes_done += got;
                        sync_report(run, IDS_PHASE_COPYING, false);
                }
        }
        if (r == 0 && fd >= 0)
                r = fs_out_finish(&out);
        if (r == -ENOSPC || r == -EDQUOT)
                r = IDS_E_DISK_FULL;
        if (r == 0 && total != size)
                r = -EAGAIN;                    /* shrank while read */
        if (r == 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r == 0)
                sync_hex(md, md_len, hash);
        return r;
}

/* A new temporary file in the partial directory, as the batch's next file (not yet
 * counted: batch_fetch() and batch_add_tmp() do that). */
static int batch_new_tmp(Batch *b, const char *device_path, uint64_t size, int64_t mtime_ns,
                         BatchFile **ret, int *ret_fd) {
        BatchFile *f;
        int fd, r;

        if (sync_grow((void **) &b->files, &b->allocated, b->n, sizeof(*b->files), 16) < 0)
                return -ENOMEM;
        r = sync_check_space(b->run, b->partial_fd, size);
        if (r != 0)
                return r;
        f = &b->files[b->n];
        *f = (BatchFile) { .item = { .size = size, .mtime_ns = mtime_ns, .on_device = true },
                           .dup_of = -1 };
        for (unsigned tries = 0;; tries++) {
                memcpy(f->tmp, "tmp-", 4);
                fs_random_chars(f->tmp + 4, 16);
                fd = openat(b->partial_fd, f->tmp,
                            O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || tries > 16)
                        return errno == ENOSPC ? IDS_E_DISK_FULL : -errno;
        }
        f->device_path = strdup(device_path);
        if (!f->device_path) {
                (void) unlinkat(b->partial_fd, f->tmp, 0);
                close(fd);
                return -ENOMEM;
        }
        *ret = f;
        *ret_fd = fd;
        return 0;
}

static void batch_drop_tmp(Batch *b, BatchFile *f) {
        (void) unlinkat(b->partial_fd, f->tmp, 0);
        free(f->device_path);
        f->device_path = NULL;
}

int batch_fetch(Batch *b, afc_client_t afc, const SyncEntry *e, BatchFile **ret) {
        _cleanup_(closep) int fd = -EBADF;
        BatchFile *f;
        uint64_t h = 0;
        afc_error_t ae;
        int r;

        if (!b->out_buf && !(b->out_buf = fs_out_buffer()))
                return -ENOMEM;
        r = batch_new_tmp(b, e->device_path, e->size, e->mtime_ns, &f, &fd);
        if (r != 0)
                return r;
        ae = afc_file_open(afc, e->device_path, AFC_FOPEN_RDONLY, &h);
        if (ae != AFC_E_SUCCESS) {
                r = sync_afc_error(b->run, ae);
                goto fail;
        }
        r = sync_afc_receive(b->run, afc, h, fd, e->size, b->out_buf, &b->no_direct,
                             f->item.hash);
        (void) afc_file_close(afc, h);
        if (r != 0)
                goto fail;
        /* Start writeback of what went through the page cache, so the syncfs() at the
         * batch's end has little left. */
        (void) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        /* The fd is closed here: the batch's end makes the whole batch durable with one
         * syncfs(), so a batch never holds more than a few descriptors. */
        b->n++;
        b->bytes += e->size;
        *ret = f;
        return 0;
fail:
        batch_drop_tmp(b, f);
        return r;
}

int batch_add_tmp(Batch *b, const char *device_path, uint64_t size, int64_t mtime_ns,
                  int (*fill)(int fd, void *userdata), void *userdata, BatchFile **ret) {
        _cleanup_(closep) int fd = -EBADF;
        BatchFile *f;
        struct stat st;
        int r;

        r = batch_new_tmp(b, device_path, size, mtime_ns, &f, &fd);
        if (r != 0)
                return r;
        r = fill(fd, userdata);
        if (r == 0)
                r = sync_hash_fd(fd, f->item.hash);
        if (r == 0 && fstat(fd, &st) < 0)
                r = -errno;
        if (r != 0) {
                batch_drop_tmp(b, f);
                return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
        }
        (void) sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
        b->n++;
        b->bytes += (uint64_t) st.st_size;
        *ret = f;
        return 0;
}

int sync_afc_fetch_plain(SyncRun *run, afc_client_t afc, const char *path, int dir_fd,
                         const char *name, uint64_t max) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_free_ char *buf = malloc(READ_CHUNK);
        uint64_t h = 0, total = 0;
        afc_error_t e;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        e = afc_file_open(afc, path, AFC_FOPEN_RDONLY, &h);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                r = -errno;
        while (r == 0) {
                uint32_t got = 0;

                e = afc_file_read(afc, h, buf, READ_CHUNK, &got);
                if (e != AFC_E_SUCCESS)
                        r = sync_afc_error(run, e);
                else if (got == 0)
                        break;
                else if ((total += got) > max)
                        r = -EFBIG;
                else
                        r = fs_write_all(fd, buf, got);
        }
        (void) afc_file_close(afc, h);
        return r;
}

int sync_afc_read_all(SyncRun *run, afc_client_t afc, const char *path, size_t max,
                      char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;
        uint64_t h = 0;
        afc_error_t e;
        int r = 0;

        e = afc_file_open(afc, path, AFC_FOPEN_RDONLY, &h);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (;;) {
                uint32_t got = 0;

                if (allocated - len < 65536) {
                        size_t want = allocated ? allocated * 2 : 65536 + 1;
                        char *n;

                        if (allocated > max + 1) {
                                r = -EFBIG;
                                break;
                        }
                        n = realloc(buf, want);
                        if (!n) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = n;
                        allocated = want;
                }
                e = afc_file_read(afc, h, buf + len, (uint32_t) (allocated - len - 1), &got);
                if (e != AFC_E_SUCCESS) {
                        r = sync_afc_error(run, e);
                        break;
                }
                if (got == 0)
                        break;
                if (got > allocated - len - 1 || (len += got) > max) {
                        r = -EFBIG;
                        break;
                }
        }
        (void) afc_file_close(afc, h);
        if (r != 0)
                return r;
        if (!buf) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

int sync_open_db_copy(const char *dir, sqlite3 **ret) {
        _cleanup_free_ char *path = NULL;
        sqlite3 *db = NULL;

        if (asprintf(&path, "%s/db", dir) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        /* Read-write on purpose: the copy is ours, and a read-only connection cannot
         * always replay a WAL whose -shm it may not create. query_only keeps us honest. */
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
                sqlite3_close(db);
                return -EIO;
        }
        *ret = db;
        return 0;
}

int sync_afc_copy_db(SyncRun *run, afc_client_t afc, const char *path, uint64_t max,
                     char ret_dir[FS_PATH_MAX]) {
        static const char *const suffixes[] = { "", "-wal", "-shm" };
        const char *tmpdir = getenv("TMPDIR");
        _cleanup_(closep) int dfd = -EBADF;
        int r = 0;

        snprintf(ret_dir, FS_PATH_MAX, "%s/idevicesync-db-XXXXXX",
                 tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp");
        if (!mkdtemp(ret_dir))
                return -errno;
        dfd = open(ret_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                r = -errno;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(suffixes); i++) {
                char dev[FS_PATH_MAX], local[32];

                if ((size_t) snprintf(dev, sizeof(dev), "%s%s", path, suffixes[i]) >= sizeof(dev))
                        r = -ENAMETOOLONG;
                snprintf(local, sizeof(local), "db%s", suffixes[i]);
                if (r == 0)
                        r = sync_afc_fetch_plain(run, afc, dev, dfd, local, max);
                if (r == -ENOENT && i > 0)
                        r = 0;                  /* not in WAL mode, or checkpointed */
        }
        if (r != 0)
                (void) fs_rm_rf_at(AT_FDCWD, ret_dir);
        return r;
}

unsigned batch_new_group(Batch *b) {
        return ++b->next_group;
}

int batch_dedup_within(Batch *b, BatchFile *f) {
        for (BatchFile *g = b->files; g < f; g++)
                if (g->dup_of < 0 && g->tmp[0] && strcmp(g->item.hash, f->item.hash) == 0) {
                        (void) unlinkat(b->partial_fd, f->tmp, 0);
                        f->tmp[0] = 0;
                        b->bytes -= f->item.size;
                        f->dup_of = g - b->files;
                        f->group = ++b->next_group + (1u << 30);
                        return 1;
                }
        return 0;
}

static int afc_new(idevice_t device, lockdownd_service_descriptor_t svc, void **ret) {
        afc_client_t c = NULL;

        if (afc_client_new(device, svc, &c) != AFC_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret = c;
        return 0;
}

int sync_afc_connect(SyncRun *run, const char *service, afc_client_t *ret) {
        void *client = NULL;
        int fd = -1, r;

        r = session_connect_service(run->session, service, run->cancel, afc_new, &client, &fd);
        if (r != 0) {
                if (client)
                        afc_client_free(client);
                return r;
        }
        *ret = client;
        return 0;
}

int batch_mark_duplicate(Batch *b, BatchFile *f, const char *host_path) {
        char *h = strdup(host_path);

        if (!h)
                return -ENOMEM;
        (void) unlinkat(b->partial_fd, f->tmp, 0);
        f->tmp[0] = 0;
        b->bytes -= f->item.size;
        free(f->item.host_path);
        f->item.host_path = h;
        f->group = ++b->next_group + (1u << 30);        /* a group of its own */
        return 0;
}

/* name with " (k)" before its extension; k = 1: name itself. */
static int suffixed(const char *name, unsigned k, char ret[FS_NAME_MAX + 1]) {
        const char *dot = strrchr(name, '.');
        size_t stem = dot && dot != name ? (size_t) (dot - name) : strlen(name);
        int n;

        if (k <= 1)
                n = snprintf(ret, FS_NAME_MAX + 1, "%s", name);
        else
                n = snprintf(ret, FS_NAME_MAX + 1, "%.*s (%u)%s", (int) stem, name, k,
                             name + stem);
        return n < 0 || n > FS_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* 0: name is free in dir; 1: it holds exactly this content; 2: other content. */
static int probe_name(int dir_fd, const char *name, const BatchFile *f) {
        _cleanup_(closep) int fd = -EBADF;
        char hash[SYNC_HASH_HEX];
        struct stat st;
        int r;

        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? 0 : 2;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != f->item.size)
                return 2;
        r = sync_hash_fd(fd, hash);
        if (r < 0)
                return r;
        return strcmp(hash, f->item.hash) == 0 ? 1 : 2;
}

/* Move files [from, to) (one group) into their directory under the first suffix that is
 * free, or holds the same content, for every one of them. */
static int place_group(Batch *b, size_t from, size_t to) {
        _cleanup_(closep) int dir_fd = -EBADF;
        const char *dir = b->files[from].dir ? b->files[from].dir : "";
        char name[FS_NAME_MAX + 1];
        int r;

        if (dir[0]) {
                r = fs_mkdir_p_beneath(b->root_fd, dir, 0700);
                if (r < 0)
                        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
                dir_fd = fs_open_beneath(b->root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        } else
                dir_fd = fcntl(b->root_fd, F_DUPFD_CLOEXEC, 3);
        if (dir_fd < 0)
                return dir_fd;

        for (unsigned k = 1; k < 10000; k++) {
                bool ok = true;

                for (size_t i = from; i < to && ok; i++) {
                        BatchFile *f = &b->files[i];

                        if (suffixed(f->name, k, name) < 0)
                                return -ENAMETOOLONG;
                        r = probe_name(dir_fd, name, f);
                        if (r < 0)
                                return r;
                        f->adopted = r == 1;
                        ok = r != 2;
                }
                if (!ok)
                        continue;
                for (size_t i = from; i < to && ok; i++) {
                        BatchFile *f = &b->files[i];

                        (void) suffixed(f->name, k, name);
                        if (f->adopted)
                                (void) unlinkat(b->partial_fd, f->tmp, 0);
                        else if (renameat2(b->partial_fd, f->tmp, dir_fd, name,
                                           RENAME_NOREPLACE) < 0) {
                                if (errno != EEXIST)
                                        return -errno;
                                ok = false;     /* appeared meanwhile: next suffix */
                                break;
                        }
                        f->tmp[0] = 0;
                        free(f->item.host_path);
                        if (asprintf(&f->item.host_path, "%s%s%s", dir, dir[0] ? "/" : "",
                                     name) < 0) {
                                f->item.host_path = NULL;
                                return -ENOMEM;
                        }
                }
                if (!ok)
                        continue;
                return 0;               /* made durable by the batch's second syncfs() */
        }
        return -EEXIST;
}

int batch_commit(Batch *b) {
        SyncRun *run = b->run;
        int r = 0;

        if (b->n == 0)
                return 0;
        /* 1. Durable under the temporary names: one syncfs() for the batch (one journal
         * commit instead of one per file; writeback began as each file arrived). */
        if (syncfs(b->partial_fd) < 0) {
                r = errno == ENOSPC ? IDS_E_DISK_FULL : -errno;
                goto fail;
        }
        /* 2. Visible under the final names, group by group. */
        for (size_t i = 0; i < b->n;) {
                size_t j = i + 1;

                while (j < b->n && b->files[j].group == b->files[i].group)
                        j++;
                if (b->files[i].tmp[0]) {
                        r = place_group(b, i, j);
                        if (r != 0)
                                goto fail;
                }
                i = j;
        }
        /* ... and the renames durable before anything is recorded. */
        if (syncfs(b->root_fd) < 0) {
                r = -errno;
                goto fail;
        }
        for (size_t i = 0; i < b->n; i++) {
                BatchFile *f = &b->files[i];

                if (f->dup_of >= 0) {
                        free(f->item.host_path);
                        f->item.host_path = strdup(b->files[f->dup_of].item.host_path ?: "");
                        if (!f->item.host_path) {
                                r = -ENOMEM;
                                goto fail;
                        }
                }
                if (f->adopted || f->dup_of >= 0 || !f->name)
                        b->duplicates++;
                else {
                        b->placed_files++;
                        b->placed_bytes += f->item.size;
                }
        }
        /* 3. Recorded, all at once. */
        sync_report(run, IDS_PHASE_COMMITTING, false);
        r = sync_db_begin(run->db);
        for (size_t i = 0; r >= 0 && i < b->n; i++)
                r = sync_db_put(run->db, b->category, b->files[i].device_path,
                                &b->files[i].item, run->now_usec);
        if (r >= 0)
                r = sync_db_commit(run->db);
        if (r < 0) {
                sync_db_rollback(run->db);
                if (r == -ENOSPC)
                        r = IDS_E_DISK_FULL;
                goto fail;
        }
        for (size_t i = 0; b->committed && i < b->n && r == 0; i++)
                r = b->committed(run, &b->files[i], b->userdata);
        batch_clear(b);
        sync_report(run, IDS_PHASE_COPYING, true);
        return r;
fail:
        batch_clear(b);
        return r;
}

int batch_finish(Batch *b, int r, ids_sync_category *out) {
        if (r == 0)
                r = batch_commit(b);
        else if (r == IDS_E_DISK_FULL)
                (void) batch_commit(b);         /* keep what fitted: it is whole */
        out->files_in = b->placed_files;
        out->bytes_in = b->placed_bytes;
        out->duplicates = b->duplicates;
        batch_done(b);
        return r;
}

int sync_open_library(SyncRun *run) {
        int r = fs_mkdir_parents(run->library_dir, 0700), fd;

        if (r < 0)
                return r;
        fd = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* ---- installation_proxy ------------------------------------------------------------------ */

static int instproxy_new(idevice_t device, lockdownd_service_descriptor_t svc, void **ret) {
        instproxy_client_t c = NULL;

        if (instproxy_client_new(device, svc, &c) != INSTPROXY_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret = c;
        return 0;
}

int sync_browse_apps(SyncRun *run, const char *const *attributes, plist_t *ret) {
        void *client = NULL;
        instproxy_client_t ip;
        plist_t opts, apps = NULL, attrs;
        instproxy_error_t e;
        int fd = -1, r;

        r = session_connect_service(run->session, INSTPROXY_SERVICE_NAME, run->cancel,
                                    instproxy_new, &client, &fd);
        if (r != 0) {
                if (client)
                        instproxy_client_free(client);
                return r;
        }
        ip = client;
        opts = instproxy_client_options_new();
        instproxy_client_options_add(opts, "ApplicationType", "User", NULL);
        attrs = plist_new_array();
        for (const char *const *a = attributes; a && *a; a++)
                plist_array_append_item(attrs, plist_new_string(*a));
        plist_dict_set_item(opts, "ReturnAttributes", attrs);
        e = instproxy_browse(ip, opts, &apps);
        instproxy_client_options_free(opts);
        instproxy_client_free(ip);
        cancel_set_stream(run->cancel, -1);
        if (e != INSTPROXY_E_SUCCESS || (apps && plist_get_node_type(apps) != PLIST_ARRAY)) {
                if (apps)
                        plist_free(apps);
                if (sync_check_cancel(run))
                        return IDS_E_CANCELLED;
                return e == INSTPROXY_E_CONN_FAILED || e == INSTPROXY_E_RECEIVE_TIMEOUT ?
                               IDS_E_DISCONNECTED : IDS_E_PROTOCOL;
        }
        *ret = apps ?: plist_new_array();
        return 0;
}

int sync_first_sync_remember(SyncRun *run, const char *category, const char *choice) {
        ids_sync_question q = { .created_usec = run->now_usec };
        int r;

        if (!run->db || run->o->dry_run)
                return 0;
        snprintf(q.category, sizeof(q.category), "%s", category);
        for (size_t i = 0; i < ELEMENTSOF(q.choices); i++)
                snprintf(q.choices[i].choice, sizeof(q.choices[i].choice), "%s",
                         sync_choice_names[i]);
        r = sync_db_question_put(run->db, &q);
        if (r >= 0)
                r = sync_db_question_choose(run->db, category, choice, run->now_usec);
        return r < 0 ? r : 0;
}

int sync_afc_send_fd(SyncRun *run, afc_client_t afc, uint64_t handle, int fd, void *md_ctx,
                     uint64_t *ret_total) {
        const size_t chunk = 1u << 20;
        _cleanup_free_ char *buf = malloc(chunk);
        uint64_t total = 0;
        afc_error_t ae;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        while (r == 0) {
                ssize_t n = pread(fd, buf, chunk, (off_t) total);
                uint32_t done = 0;

                r = sync_check_cancel(run);
                if (r != 0)
                        break;
                if (n < 0) {
                        r = errno == EINTR ? 0 : -errno;
                        continue;
                }
                if (n == 0)
                        break;
                if (md_ctx && EVP_DigestUpdate(md_ctx, buf, (size_t) n) != 1)
                        r = -EIO;
                for (uint32_t off = 0; r == 0 && off < (uint32_t) n; off += done) {
                        ae = afc_file_write(afc, handle, buf + off, (uint32_t) n - off, &done);
                        if (ae != AFC_E_SUCCESS)
                                r = sync_afc_error(run, ae);
                        else if (done == 0)
                                r = IDS_E_PROTOCOL;
                }
                total += (uint64_t) n;
                run->p.bytes_done += (uint64_t) n;
                sync_report(run, IDS_PHASE_COPYING, false);
        }
        *ret_total = total;
        return r;
}
