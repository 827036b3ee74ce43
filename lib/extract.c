/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Browse and extract (issue 14): the files of a committed snapshot as its Manifest.db names
 * them, and decrypted copies of chosen ones beneath a directory the caller opened.
 *
 * A snapshot's Manifest.db was checked when it was published (manifest.c), but the store
 * is a directory on disk that anything with its permissions can change, so every row is
 * read as hostile again here: a name that is absolute, has "..", ".", an empty component or
 * a control character is listed as unsafe and never written. Copies are written beneath
 * the target's fd only (fs-util: openat2 RESOLVE_BENEATH, or an O_NOFOLLOW walk), each
 * through a temporary name that renameat2(RENAME_NOREPLACE) moves into place, so an
 * existing file is never replaced and a reader never sees half a file. The target is an fd
 * rather than a path because the daemon, sandboxed away from its callers' directories,
 * receives it over the bus.
 *
 * Both operations take the device lock as verify does: a delete or prune cannot remove the
 * snapshot while it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt.h"
#include "fs-util.h"
#include "idevicesync.h"
#include "snapshot-source.h"
#include "util.h"

#define CHUNK (256 * 1024)

/* ---- listing ---------------------------------------------------------------------------- */

typedef struct ListCtx {
        int (*fn)(const ids_snapshot_file *f, void *userdata);
        void *userdata;
} ListCtx;

static int list_row(const Source *s, const Row *row, void *userdata) {
        ListCtx *c = userdata;
        ids_snapshot_file f;

        source_row_file(s, row, &f);
        return c->fn(&f, c->userdata);
}

_public_ int ids_snapshot_files(const ids_files_options *o,
                                int (*fn)(const ids_snapshot_file *f, void *userdata),
                                void *userdata) {
        ListCtx c = { .fn = fn, .userdata = userdata };
        Source s;
        char why[512] = "";
        int r;

        if (!o || !fn || (o->problem && o->problem_size == 0))
                return -EINVAL;
        if (o->problem)
                o->problem[0] = 0;
        r = source_open(o->udid, o->snapshot, o->state_dir, o->backup_dir, o->password, false,
                        &s, why, sizeof(why));
        if (r == 0) {
                r = source_rows(&s, o->domain, o->prefix, list_row, &c, why, sizeof(why));
                source_done(&s);
        }
        if (r != 0 && why[0]) {
                ids_debug("files: %s", why);
                if (o->problem)
                        snprintf(o->problem, o->problem_size, "%s", why);
        }
        return r;
}

/* ---- extract ---------------------------------------------------------------------------- */

/* A chosen row, owned. */
typedef struct Pick {
        char *domain, *path;
        char id[41];
        unsigned flags;
        uint64_t size;
        int64_t mtime;
        bool mbfile_ok, has_key, safe;
        bool created;                   /* a directory this run created */
        uint8_t key[CRYPT_BLOB_SIZE];
} Pick;

typedef struct ExtractCtx {
        const ids_extract_options *o;
        ids_extract_report *rep;
        bool *item_seen;
        Pick *picks;
        size_t n_picks, n_alloc;
        uint64_t bytes_total, files_total;
        uint64_t bytes_seen;            /* of the files handled: written, skipped or failed */
} ExtractCtx;

static bool row_chosen(ExtractCtx *c, const Row *row) {
        const ids_extract_options *o = c->o;
        bool hit = false;

        if (o->all || o->n_items == 0)
                return true;            /* the domain and prefix filters already ran */
        for (size_t i = 0; i < o->n_items; i++) {
                const ids_extract_item *it = &o->items[i];
                const char *p = it->path ?: "";

                if (!it->domain || strcmp(it->domain, row->domain) != 0 ||
                    !source_path_under(row->path, p, source_prefix_len(p)))
                        continue;
                c->item_seen[i] = true;
                hit = true;
        }
        return hit;
}

static int pick_row(const Source *s, const Row *row, void *userdata) {
        ExtractCtx *c = userdata;
        Pick *p;

        if (!row_chosen(c, row))
                return 0;
        if (c->n_picks == c->n_alloc) {
                size_t n = c->n_alloc ? 2 * c->n_alloc : 256;
                Pick *x = reallocarray(c->picks, n, sizeof(*x));

                if (!x)
                        return -ENOMEM;
                c->picks = x;
                c->n_alloc = n;
        }
        p = &c->picks[c->n_picks];
        *p = (Pick) {
                .flags = row->flags,
                .size = row->size,
                .mtime = row->mtime,
                .mbfile_ok = row->mbfile_ok,
                .has_key = row->has_key,
                .safe = row->safe,
                .domain = strdup(row->domain),
                .path = strdup(row->path),
        };
        snprintf(p->id, sizeof(p->id), "%s", source_id_is_valid(row->id) ? row->id : "");
        memcpy(p->key, row->key, sizeof(p->key));
        c->n_picks++;
        if (!p->domain || !p->path)
                return -ENOMEM;
        if (p->flags == IDS_SNAPSHOT_FILE_REGULAR && p->safe) {
                c->files_total++;
                c->bytes_total += p->size;
        }
        return 0;
}

static void report_progress(ExtractCtx *c) {
        const ids_extract_report *rep = c->rep;
        ids_progress p = {
                .phase = IDS_PHASE_COPYING,
                .bytes_done = rep->bytes,
                .bytes_total = c->bytes_total,
                .files_done = rep->files + rep->skipped + rep->failed,
                .files_total = c->files_total,
        };

        if (!c->o->progress)
                return;
        /* Skipped and failed files count as done, so a rerun into the same target ends at
         * 100 too. */
        p.percent = c->bytes_total > 0 ? 100.0 * (double) c->bytes_seen / (double) c->bytes_total :
                    c->files_total > 0 ? 100.0 * (double) p.files_done / (double) c->files_total :
                                         100.0;
        if (p.percent > 100.0)
                p.percent = 100.0;
        c->o->progress(&p, c->o->userdata);
}

/* Copy in_fd to out_fd, exactly size bytes, checking for cancellation: in the kernel
 * (copy_file_range(), no copy through user space, a reflink where the file system can),
 * else by read() and write(). 0, -EBADMSG (another length), IDS_E_CANCELLED, -errno. */
static int copy_plain(int in_fd, int out_fd, uint64_t size, ids_cancel *cancel) {
        _cleanup_(freep) uint8_t *buf = NULL;
        uint64_t total = 0;
        bool kernel = true;

        for (;;) {
                ssize_t k;
                int r;

                if (ids_cancel_requested(cancel))
                        return IDS_E_CANCELLED;
                if (kernel) {
                        /* One byte more than Size allows, to see a longer file. */
                        uint64_t want = size + 1 - total;

                        k = copy_file_range(in_fd, NULL, out_fd, NULL,
                                            want > CHUNK * 16 ? CHUNK * 16 : (size_t) want, 0);
                        if (k < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS ||
                                      errno == EOPNOTSUPP) && total == 0) {
                                kernel = false;
                                continue;
                        }
                } else {
                        if (!buf && !(buf = malloc(CHUNK)))
                                return -ENOMEM;
                        k = read(in_fd, buf, CHUNK);
                }
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                total += (uint64_t) k;
                if (total > size)
                        return -EBADMSG;
                if (!kernel) {
                        r = fs_write_all(out_fd, buf, (size_t) k);
                        if (r < 0)
                                return r;
                }
        }
        return total == size ? 0 : -EBADMSG;
}

static void fail_file(ExtractCtx *c, const Pick *p, const char *what) {
        c->rep->failed++;
        source_problem(c->rep->first_problem, sizeof(c->rep->first_problem), "%s/%s (%s): %s",
                    p->domain, p->path, p->id[0] ? p->id : "no fileID", what);
}

/* Write the data of p beneath the target. 0 (written, skipped or counted as failed),
 * IDS_E_CANCELLED, -errno (a failure of the target: stops the run). */
static int extract_file(ExtractCtx *c, const Source *s, const Pick *p, const char *full) {
        _cleanup_(closep) int parent = -EBADF, in = -EBADF, out = -EBADF;
        const ids_extract_options *o = c->o;
        uint8_t key[CRYPT_KEY_SIZE];
        const char *name = NULL, *why = NULL;
        char tmp[32];
        struct stat sb;
        int r;

        parent = fs_open_parent_beneath(o->target_fd, full, true, &name);
        if (parent == -ENOTDIR || parent == -EEXIST) {
                c->rep->skipped++;      /* a file of the target is where a directory goes */
                return 0;
        }
        if (parent == -ELOOP || parent == -EXDEV) {
                c->rep->refused++;
                source_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                            "%s/%s: a symlink in the target is in the way", p->domain, p->path);
                return 0;
        }
        if (parent < 0)
                return parent;
        if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) >= 0) {
                c->rep->skipped++;
                return 0;
        }

        r = source_stored_open(s, p->id, p->size, p->mbfile_ok, p->has_key, p->key, &in, key,
                               &why);
        if (r != 0) {
                fail_file(c, p, why);
                return 0;
        }

        for (unsigned tries = 0;; tries++) {
                memcpy(tmp, ".#extract-", 10);
                fs_random_chars(tmp + 10, 12);
                out = openat(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0600);
                if (out >= 0 || errno != EEXIST || tries >= 16)
                        break;
        }
        if (out < 0) {
                r = -errno;
                explicit_bzero(key, sizeof(key));
                return r;
        }

        if (s->encrypted && p->size == 0 && sb.st_size == 0)
                r = 0;
        else if (s->encrypted)
                r = crypt_decrypt_fd(key, in, out, p->size, NULL);
        else
                r = copy_plain(in, out, p->size, o->cancel);
        explicit_bzero(key, sizeof(key));
        if (r == 0 && p->mbfile_ok && p->mtime > 0) {
                /* Without a LastModified the file keeps the time it was written. */
                struct timespec ts[2] = { { .tv_sec = p->mtime }, { .tv_sec = p->mtime } };

                if (futimens(out, ts) < 0)
                        r = -errno;
        }
        if (r == 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r == 0 && renameat2(parent, tmp, parent, name, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL) {
                        /* No RENAME_NOREPLACE here: a hard link refuses to replace too. */
                        r = linkat(parent, tmp, parent, name, 0) < 0 ? -errno : 0;
                        (void) unlinkat(parent, tmp, 0);
                }
        }
        if (r == 0) {
                c->rep->files++;
                c->rep->bytes += p->size;
                return 0;
        }
        (void) unlinkat(parent, tmp, 0);
        if (r == -EEXIST) {
                c->rep->skipped++;      /* it appeared while we wrote */
                return 0;
        }
        if (r == -EBADMSG) {
                fail_file(c, p, s->encrypted ? "does not decrypt to its Size (bad padding or "
                                               "length)" :
                                               "its stored size differs from its Size");
                return 0;
        }
        return r;
}

static int extract_one(ExtractCtx *c, const Source *s, Pick *p) {
        _cleanup_(freep) char *full = NULL;
        int r, fd;

        if (!p->safe) {
                c->rep->refused++;
                source_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                            "%s: an unsafe name in Manifest.db, refused",
                            p->id[0] ? p->id : "a row");
                return 0;
        }
        if (p->flags == IDS_SNAPSHOT_FILE_SYMLINK) {
                c->rep->symlinks++;
                return 0;
        }
        if (p->flags == 0) {
                fail_file(c, p, "an unknown kind of file");
                return 0;
        }
        if (asprintf(&full, "%s%s%s", p->domain, p->path[0] ? "/" : "", p->path) < 0)
                return -ENOMEM;
        if (p->flags == IDS_SNAPSHOT_FILE_DIRECTORY) {
                /* Only a directory this run creates gets its mtime (at the end, once its
                 * files are in): the target's own directories are left as they are. */
                fd = fs_open_beneath(c->o->target_fd, full, O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0)
                        close(fd);
                r = fs_mkdir_p_beneath(c->o->target_fd, full, 0700);
                if (r == -ELOOP || r == -EXDEV) {
                        c->rep->refused++;
                        source_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                                    "%s: a symlink in the target is in the way", full);
                        return 0;
                }
                if (r == -ENOTDIR || r == -EEXIST) {
                        c->rep->skipped++;
                        return 0;
                }
                if (r < 0)
                        return r;
                p->created = fd == -ENOENT;
                c->rep->directories++;
                return 0;
        }
        if (!p->path[0]) {
                fail_file(c, p, "a file without a path");
                return 0;
        }
        return extract_file(c, s, p, full);
}

/* The LastModified of a directory this run created; a failure only costs the time. */
static void set_dir_mtime(int target_fd, const Pick *p) {
        _cleanup_(freep) char *full = NULL;
        _cleanup_(closep) int fd = -EBADF;
        struct timespec ts[2] = { { .tv_sec = p->mtime }, { .tv_sec = p->mtime } };

        if (!p->created || !p->mbfile_ok || p->mtime <= 0)
                return;
        if (asprintf(&full, "%s%s%s", p->domain, p->path[0] ? "/" : "", p->path) < 0)
                return;
        fd = fs_open_beneath(target_fd, full, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0 || futimens(fd, ts) < 0)
                ids_debug("extract: cannot set the mtime of %s, ignoring", full);
}

_public_ int ids_snapshot_extract(const ids_extract_options *o, ids_extract_report *report) {
        ids_extract_report dummy = {};
        ids_extract_report *rep = report ?: &dummy;
        ExtractCtx c = { .o = o, .rep = rep };
        struct stat sb;
        Source s;
        int r;

        memset(rep, 0, sizeof(*rep));
        if (!o || o->target_fd < 0 || (!o->all && o->n_items == 0 && !o->domain) ||
            (o->n_items > 0 && !o->items))
                return -EINVAL;
        if (fstat(o->target_fd, &sb) < 0 || !S_ISDIR(sb.st_mode))
                return -ENOTDIR;
        if (o->n_items > 0) {
                c.item_seen = calloc(o->n_items, sizeof(bool));
                if (!c.item_seen)
                        return -ENOMEM;
        }

        r = source_open(o->udid, o->snapshot, o->state_dir, o->backup_dir, o->password, false,
                        &s, rep->first_problem, sizeof(rep->first_problem));
        if (r != 0)
                goto out;
        r = source_rows(&s, o->domain, o->prefix, pick_row, &c, rep->first_problem,
                        sizeof(rep->first_problem));
        for (size_t i = 0; r == 0 && i < o->n_items; i++)
                if (!c.item_seen[i]) {
                        rep->not_found++;
                        source_problem(rep->first_problem, sizeof(rep->first_problem),
                                    "%s/%s: not in the snapshot", o->items[i].domain ?: "",
                                    o->items[i].path ?: "");
                }

        report_progress(&c);
        for (size_t i = 0; r == 0 && i < c.n_picks; i++) {
                if (ids_cancel_requested(o->cancel)) {
                        r = IDS_E_CANCELLED;
                        break;
                }
                r = extract_one(&c, &s, &c.picks[i]);
                if (r == -ENOSPC || r == -EDQUOT)
                        r = IDS_E_DISK_FULL;
                if (c.picks[i].flags == IDS_SNAPSHOT_FILE_REGULAR && c.picks[i].safe) {
                        c.bytes_seen += c.picks[i].size;
                        report_progress(&c);
                }
        }
        for (size_t i = 0; r == 0 && i < c.n_picks; i++)
                set_dir_mtime(o->target_fd, &c.picks[i]);
        if (r == 0 && (rep->failed > 0 || rep->refused > 0 || rep->not_found > 0))
                r = IDS_E_PROTOCOL;
        source_done(&s);
out:
        for (size_t i = 0; i < c.n_picks; i++) {
                explicit_bzero(c.picks[i].key, sizeof(c.picks[i].key));
                free(c.picks[i].domain);
                free(c.picks[i].path);
        }
        free(c.picks);
        free(c.item_seen);
        if (r != 0)
                ids_debug("extract: %s", rep->first_problem[0] ? rep->first_problem :
                                                                 ids_result_message(r));
        return r;
}
