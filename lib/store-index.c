/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store's integrity side (store-internal.h): a run's staging snapshot as a hard-link
 * copy of the latest one, walks of a snapshot tree, the index (path, size, CRC32 of every
 * file; format in store.c), and verify, which checks a snapshot against its index.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "macro.h"
#include "store-internal.h"

/* ---- staging: hard-link copy --------------------------------------------------------- */

/* A plain copy, for a file that cannot take one more hard link (EMLINK). */
static int copy_file_at(int src_dir, const char *name, int dst_dir) {
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        bool plain = false;
        int r = 0;

        in = openat(src_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (in < 0)
                return -errno;
        out = openat(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;

        for (;;) {
                ssize_t l;

                if (!plain) {
                        l = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
                        if (l < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                                      errno == EOPNOTSUPP)) {
                                plain = true;
                                continue;
                        }
                } else {
                        if (!buf) {
                                buf = malloc(128 * 1024);
                                if (!buf) {
                                        r = -ENOMEM;
                                        break;
                                }
                        }
                        l = read(in, buf, 128 * 1024);
                        if (l > 0) {
                                r = fs_write_all(out, buf, (size_t) l);
                                if (r < 0)
                                        break;
                        }
                }
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (l == 0)
                        break;
        }

        if (r >= 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dst_dir, name, 0);
        return r;
}

/* Recreate the tree of src_fd (owned) in dst_fd (borrowed): directories 0700, regular files
 * as hard links; anything else is skipped. */
static int link_tree(int src_fd, int dst_fd, unsigned depth, uint64_t *n_files) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        d = fdopendir(src_fd);
        if (!d) {
                r = -errno;
                close(src_fd);
                return r;
        }

        for (;;) {
                unsigned char type;
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? -errno : 0;
                if (is_dot_or_dotdot(de->d_name))
                        continue;

                type = de->d_type;
                if (type == DT_UNKNOWN) {
                        struct stat st;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                return -errno;
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG :
                                                                                    DT_LNK;
                }

                if (type == DT_DIR) {
                        _cleanup_(closep) int child_dst = -EBADF;
                        int child_src;

                        if (depth + 1 >= FS_DEPTH_MAX)
                                return -ELOOP;
                        child_dst = fs_open_subdir(dst_fd, de->d_name, true);
                        if (child_dst < 0)
                                return child_dst;
                        child_src = fs_open_subdir(dirfd(d), de->d_name, false);
                        if (child_src < 0)
                                return child_src;
                        r = link_tree(child_src, child_dst, depth + 1, n_files);
                        if (r < 0)
                                return r;
                } else if (type == DT_REG) {
                        if (linkat(dirfd(d), de->d_name, dst_fd, de->d_name, 0) < 0) {
                                if (errno != EMLINK)
                                        return -errno;
                                r = copy_file_at(dirfd(d), de->d_name, dst_fd);
                                if (r < 0)
                                        return r;
                        }
                        if (++*n_files == 1)
                                store_crash_point(STORE_CRASH_BEGIN_LINKED_ONE);
                } else
                        ids_debug("store: not copying '%.200s': not a regular file",
                                  de->d_name);
        }
}

int store_begin(Store *s, bool from_scratch, Staging **ret) {
        _cleanup_(staging_abortp) Staging *st = NULL;
        _cleanup_(closep) int dst = -EBADF;
        SnapshotInfo base;
        uint64_t n_files = 0;
        int r;

        if (!s || !ret)
                return -EINVAL;
        if (s->staging)
                return -EBUSY;

        st = malloc(sizeof(*st));
        if (!st)
                return -ENOMEM;
        *st = (Staging) { .store = s, .root_fd = -EBADF };
        s->staging = st;

        for (unsigned tries = 0;; tries++) {
                char name[sizeof(st->name)];

                memcpy(name, STAGING_PREFIX, strlen(STAGING_PREFIX));
                fs_random_chars(name + strlen(STAGING_PREFIX), 8);
                if (mkdirat(s->snapshots_fd, name, 0700) >= 0) {
                        strcpy(st->name, name);
                        break;
                }
                if (errno != EEXIST || tries >= 100)
                        return -errno;
        }
        if (asprintf(&st->path, "%s/snapshots/%s", s->device_dir, st->name) < 0) {
                st->path = NULL;
                return -ENOMEM;
        }
        st->root_fd = fs_open_subdir(s->snapshots_fd, st->name, false);
        if (st->root_fd < 0)
                return st->root_fd;
        dst = fs_open_subdir(st->root_fd, s->udid, true);
        if (dst < 0)
                return dst;

        if (!from_scratch) {
                r = store_newest_committed(s, &base);
                if (r >= 0) {
                        char src_path[32 + 65 + 1];
                        int src;

                        snprintf(src_path, sizeof(src_path), "%s/%s", base.id, s->udid);
                        src = fs_open_beneath(s->snapshots_fd, src_path,
                                              O_RDONLY | O_DIRECTORY, 0);
                        if (src >= 0) {
                                r = link_tree(src, dst, 0, &n_files);
                                if (r < 0)
                                        return r;
                        } else if (src != -ENOENT)
                                return src;
                        strcpy(st->base_id, base.id);
                        ids_debug("store: staging %s from %s, %" PRIu64 " files linked",
                                  st->name, base.id, n_files);
                } else if (r != -ENOENT)
                        return r;
        }

        *ret = TAKE_PTR(st);
        return 0;
}

int staging_root_fd(Staging *st) {
        return st ? st->root_fd : -EINVAL;
}

const char *staging_root_path(Staging *st) {
        return st ? st->path : NULL;
}

/* Discards the staging directory (if still there) and frees; see store.h. */
Staging *staging_abort(Staging *st) {
        if (!st)
                return NULL;

        store_staging_discard(st);
        if (st->store)
                st->store->staging = NULL;
        closep(&st->root_fd);
        free(st->known);
        free(st->path);
        free(st);
        return NULL;
}

/* ---- walking a snapshot tree --------------------------------------------------------- */

typedef struct Walk Walk;
struct Walk {
        /* Called for every entry that is not a directory; w->path is its path relative to
         * <UDID>/. ino: the entry's inode number (readdir's d_ino); prev_ino: the inode
         * number of the entry of the same name in the same directory of the previous
         * snapshot, 0 if there is none (or no previous snapshot). */
        int (*on_entry)(Walk *w, int dir_fd, const char *name, unsigned char type,
                        uint64_t ino, uint64_t prev_ino);
        char path[WALK_PATH_MAX];
        size_t path_len;
};

/* A directory of the previous snapshot as name hash → inode number, from one readdir: what
 * lets commit recognise an unchanged hard link without an fstatat() per file. */
typedef struct NameIno {
        uint64_t hash;          /* store_path_hash() of the name */
        uint64_t ino;
} NameIno;

typedef struct PrevDir {
        NameIno *entries;       /* sorted by hash */
        size_t n;
} PrevDir;

static int name_ino_compare(const void *x, const void *y) {
        const NameIno *a = x, *b = y;

        return (a->hash > b->hash) - (a->hash < b->hash);
}

/* Read directory fd (borrowed) into *ret. A directory that cannot be read leaves *ret
 * empty: its files are then stat'ed and read as if new. 0 or -ENOMEM. */
static int prev_dir_load(int fd, PrevDir *ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        size_t alloc = 0;
        int dfd;

        *ret = (PrevDir) {};
        dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return 0;
        d = fdopendir(dfd);
        if (!d) {
                close(dfd);
                return 0;
        }
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de)
                        break;
                if (is_dot_or_dotdot(de->d_name))
                        continue;
                if (ret->n == alloc) {
                        size_t k = alloc ? alloc * 2 : 256;
                        NameIno *p = reallocarray(ret->entries, k, sizeof(*p));

                        if (!p) {
                                free(ret->entries);
                                *ret = (PrevDir) {};
                                return -ENOMEM;
                        }
                        ret->entries = p;
                        alloc = k;
                }
                ret->entries[ret->n++] = (NameIno) {
                        .hash = store_path_hash(de->d_name, strlen(de->d_name)),
                        .ino = (uint64_t) de->d_ino,
                };
        }
        if (errno != 0) {               /* a partial listing is still right where it has names */
                free(ret->entries);
                *ret = (PrevDir) {};
                return 0;
        }
        if (ret->n > 0)
                qsort_safe(ret->entries, ret->n, sizeof(*ret->entries), name_ino_compare);
        return 0;
}

/* The first of n entries (each size bytes, sorted by the uint64_t at offset off) whose
 * hash is >= h. */
static size_t hash_lower_bound(const void *base, size_t n, size_t size, size_t off, uint64_t h) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                uint64_t v;

                memcpy(&v, (const char *) base + mid * size + off, sizeof(v));
                if (v < h)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* The inode number of name in d, 0 if absent or if another name has the same hash. */
static uint64_t prev_dir_ino(const PrevDir *d, const char *name, size_t len) {
        uint64_t h;
        size_t lo;

        if (d->n == 0)
                return 0;
        h = store_path_hash(name, len);
        lo = hash_lower_bound(d->entries, d->n, sizeof(d->entries[0]),
                              offsetof(typeof(d->entries[0]), hash), h);
        if (lo >= d->n || d->entries[lo].hash != h)
                return 0;
        if (lo + 1 < d->n && d->entries[lo + 1].hash == h)
                return 0;
        return d->entries[lo].ino;
}

/* Walk fd (owned) and, in parallel where it exists, prev_fd (owned, may be -EBADF). */
static int walk_dir(Walk *w, int fd, int prev_fd, unsigned depth) {
        _cleanup_(closep) int pfd = prev_fd;
        _cleanup_(closedirp) DIR *d = NULL;
        PrevDir prev = {};
        int r;

        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }
        if (pfd >= 0) {
                r = prev_dir_load(pfd, &prev);
                if (r < 0)
                        return r;
        }

        for (;;) {
                size_t saved = w->path_len, nlen;
                unsigned char type;
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = errno != 0 ? -errno : 0;
                        break;
                }
                if (is_dot_or_dotdot(de->d_name))
                        continue;

                nlen = strlen(de->d_name);
                if (saved + 1 + nlen >= sizeof(w->path)) {
                        r = -ENAMETOOLONG;
                        break;
                }
                if (saved > 0)
                        w->path[w->path_len++] = '/';
                memcpy(w->path + w->path_len, de->d_name, nlen + 1);
                w->path_len += nlen;

                type = de->d_type;
                if (type == DT_UNKNOWN) {
                        struct stat st;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                r = -errno;
                                break;
                        }
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG :
                                                                                    DT_LNK;
                }

                if (type == DT_DIR) {
                        int cfd, cpfd = -EBADF;

                        if (depth + 1 >= FS_DEPTH_MAX) {
                                r = -ELOOP;
                                break;
                        }
                        cfd = fs_open_subdir(dirfd(d), de->d_name, false);
                        if (cfd < 0) {
                                r = cfd;
                                break;
                        }
                        if (pfd >= 0)
                                cpfd = fs_open_subdir(pfd, de->d_name, false);
                        r = walk_dir(w, cfd, cpfd < 0 ? -EBADF : cpfd, depth + 1);
                } else
                        r = w->on_entry(w, dirfd(d), de->d_name, type, (uint64_t) de->d_ino,
                                        prev_dir_ino(&prev, de->d_name, nlen));
                if (r < 0)
                        break;

                w->path_len = saved;
                w->path[saved] = 0;
        }
        free(prev.entries);
        return r;
}

/* ---- the index ----------------------------------------------------------------------- */

typedef struct CrcEntry {
        uint64_t hash;          /* store_path_hash() of the path relative to <UDID>/ */
        uint64_t size;
        uint32_t crc;
} CrcEntry;

typedef struct CrcTable {
        CrcEntry *entries;
        size_t n, alloc;
} CrcTable;

static int crc_entry_compare(const void *x, const void *y) {
        const CrcEntry *a = x, *b = y;

        return (a->hash > b->hash) - (a->hash < b->hash);
}

/* First entry with hash >= h. */
static size_t crc_table_lower_bound(const CrcTable *t, uint64_t h) {
        return hash_lower_bound(t->entries, t->n, sizeof(t->entries[0]),
                                offsetof(typeof(t->entries[0]), hash), h);
}

/* A CRC is only reused when exactly one path has this hash: colliding paths are re-read. */
static bool crc_table_lookup(const CrcTable *t, uint64_t h, uint64_t *ret_size,
                             uint32_t *ret_crc) {
        size_t i = crc_table_lower_bound(t, h);

        if (i >= t->n || t->entries[i].hash != h)
                return false;
        if (i + 1 < t->n && t->entries[i + 1].hash == h)
                return false;
        *ret_size = t->entries[i].size;
        *ret_crc = t->entries[i].crc;
        return true;
}

typedef struct IndexEntry {
        uint64_t size;
        uint32_t crc;
        char *path;             /* unescaped, NUL-terminated; borrowed from the reader */
        size_t path_len;
} IndexEntry;

typedef struct IndexReader {
        FILE *f;
        char line[INDEX_LINE_MAX + 2];
        uint32_t crc;           /* of every line before the current one */
        uint64_t files, bytes;
        bool started;
} IndexReader;

/* Next entry: 1 (in *ret), 0 at the end (trailer present and matching), -EBADMSG for a
 * torn or corrupt index, -errno. */
static int index_read(IndexReader *r, IndexEntry *ret) {
        uint64_t files, bytes;
        uint32_t crc;
        char *p, *q;
        size_t len;

        if (!fgets(r->line, sizeof(r->line), r->f))
                return ferror(r->f) ? -EIO : -EBADMSG;
        len = strlen(r->line);
        if (len == 0 || r->line[len - 1] != '\n')
                return -EBADMSG;

        if (!r->started) {
                if (strcmp(r->line, INDEX_MAGIC) != 0)
                        return -EBADMSG;
                r->started = true;
                r->crc = store_crc_update(0, r->line, len);
                return index_read(r, ret);
        }

        r->line[len - 1] = 0;
        if (r->line[0] == 'e' && r->line[1] == ' ') {
                /* e <files> <bytes> <crc> */
                p = r->line + 2;
                q = strchr(p, ' ');
                if (!q)
                        return -EBADMSG;
                *q++ = 0;
                if (store_parse_u64(p, &files) < 0)
                        return -EBADMSG;
                p = q;
                q = strchr(p, ' ');
                if (!q)
                        return -EBADMSG;
                *q++ = 0;
                if (store_parse_u64(p, &bytes) < 0 || strlen(q) != 8 ||
                    store_parse_crc(q, &crc) < 0)
                        return -EBADMSG;
                if (crc != r->crc || files != r->files || bytes != r->bytes)
                        return -EBADMSG;
                if (fgetc(r->f) != EOF)
                        return -EBADMSG;
                return 0;
        }

        if (r->line[0] != 'f' || r->line[1] != ' ')
                return -EBADMSG;
        r->crc = store_crc_update(r->crc, r->line, len - 1);
        r->crc = store_crc_update(r->crc, "\n", 1);

        /* f <size> <crc> <path> */
        p = r->line + 2;
        q = strchr(p, ' ');
        if (!q)
                return -EBADMSG;
        *q++ = 0;
        if (store_parse_u64(p, &ret->size) < 0)
                return -EBADMSG;
        if (strlen(q) < 10 || q[8] != ' ' || store_parse_crc(q, &ret->crc) < 0)
                return -EBADMSG;
        ret->path = q + 9;
        ret->path_len = strlen(ret->path);
        if (ret->path_len == 0 || store_unescape(ret->path, &ret->path_len) < 0)
                return -EBADMSG;

        r->files++;
        r->bytes += ret->size;
        return 1;
}

/* Load the CRCs of snapshot dir_fd's index into t (sorted by hash). A missing or corrupt
 * index just leaves t empty: every file is then read. */
static int crc_table_load(CrcTable *t, int dir_fd) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) IndexReader *rd = NULL;
        int fd, r;

        fd = openat(dir_fd, "index", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return 0;
        f = fdopen(fd, "r");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        rd = calloc(1, sizeof(*rd));
        if (!rd)
                return -ENOMEM;
        rd->f = f;

        for (;;) {
                IndexEntry e;

                r = index_read(rd, &e);
                if (r <= 0)
                        break;
                if (t->n == t->alloc) {
                        size_t k = t->alloc ? t->alloc * 2 : 4096;
                        CrcEntry *p = reallocarray(t->entries, k, sizeof(*p));

                        if (!p)
                                return -ENOMEM;
                        t->entries = p;
                        t->alloc = k;
                }
                t->entries[t->n++] = (CrcEntry) {
                        .hash = store_path_hash(e.path, e.path_len),
                        .size = e.size,
                        .crc = e.crc,
                };
        }
        if (r < 0) {
                ids_debug("store: previous index unusable (%s), reading every file",
                          strerror(-r));
                free(t->entries);
                *t = (CrcTable) {};
                return r == -ENOMEM ? r : 0;
        }
        if (t->n > 0)
                qsort_safe(t->entries, t->n, sizeof(*t->entries), crc_entry_compare);
        return 0;
}

/* CRC32 and length of fd's contents. expect: the size fstat() gave (UINT64_MAX: unknown);
 * a short read that ends exactly there is taken as the end, which saves the read() that
 * would only return 0 (one syscall per file: most files of a backup are small). */
static int crc_file(int fd, uint8_t *buf, uint64_t expect, uint32_t *ret_crc,
                    uint64_t *ret_size) {
        uint32_t crc = 0;
        uint64_t size = 0;

        for (;;) {
                ssize_t l = read(fd, buf, CRC_BUF_SIZE);

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        break;
                crc = store_crc_update(crc, buf, (size_t) l);
                size += (uint64_t) l;
                if ((size_t) l < CRC_BUF_SIZE && size == expect)
                        break;
        }
        *ret_crc = crc;
        *ret_size = size;
        return 0;
}

typedef struct IndexWriter {
        Walk walk;              /* first: the callbacks get a Walk * */
        Staging *staging;       /* borrowed: CRCs noted while files arrived */
        FILE *f;
        uint32_t crc;           /* of every byte written so far */
        uint64_t files, bytes, reused;
        CrcTable prev;
        uint8_t *buf;           /* CRC_BUF_SIZE */
        char line[INDEX_LINE_MAX];
} IndexWriter;

static int index_write_bytes(IndexWriter *w, const char *p, size_t n) {
        if (fwrite(p, 1, n, w->f) != n)
                return errno > 0 ? -errno : -EIO;
        w->crc = store_crc_update(w->crc, p, n);
        return 0;
}

static int index_on_entry(Walk *walk, int dir_fd, const char *name, unsigned char type,
                          uint64_t ino, uint64_t prev_ino) {
        IndexWriter *w = (IndexWriter *) walk;
        uint32_t crc = 0;
        uint64_t size = 0;
        bool have = false;
        size_t n;
        int r;

        if (type != DT_REG) {
                ids_debug("store: not indexing '%.200s': not a regular file", walk->path);
                return 0;
        }

        /* The same inode as the previous snapshot's file at this path (both directory
         * listings say so, and both are on one file system): a hard link the run did not
         * replace, whose size and CRC that snapshot's index holds. Committed snapshots are
         * never written to, and the previous one still holds the inode, so it cannot have
         * been freed and reused meanwhile. No fstatat() needed. */
        if (prev_ino != 0 && prev_ino == ino &&
            crc_table_lookup(&w->prev, store_path_hash(walk->path, walk->path_len), &size,
                             &crc)) {
                have = true;
                w->reused++;
        }
        if (!have) {
                struct stat st;

                if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (!S_ISREG(st.st_mode))
                        return 0;
                if (w->staging && store_known_lookup(w->staging, &st, &crc)) {
                        size = (uint64_t) st.st_size;
                        have = true;
                        w->reused++;
                } else {
                        _cleanup_(closep) int fd = -EBADF;

                        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                        if (fd < 0)
                                return -errno;
                        r = crc_file(fd, w->buf, (uint64_t) st.st_size, &crc, &size);
                        if (r < 0)
                                return r;
                }
        }

        n = (size_t) snprintf(w->line, sizeof(w->line), "f %" PRIu64 " %08" PRIx32 " ", size,
                              crc);
        n += store_escape(walk->path, walk->path_len, w->line + n);
        w->line[n++] = '\n';
        r = index_write_bytes(w, w->line, n);
        if (r < 0)
                return r;

        w->files++;
        w->bytes += size;
        if (w->files == 1)
                store_crash_point(STORE_CRASH_COMMIT_INDEXING);
        return 0;
}

/* Write root_fd/index for the tree root_fd/<UDID>, reusing the CRCs of base_id where files
 * are still its hard links. Returns files and bytes. */
int store_index_build(Store *s, Staging *st, uint64_t *ret_files, uint64_t *ret_bytes) {
        _cleanup_(freep) IndexWriter *w = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(closep) int base_fd = -EBADF;
        int fd, udid_fd, prev_fd = -EBADF, r;
        char trailer[96];

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->walk.on_entry = index_on_entry;
        w->staging = st;
        w->buf = malloc(CRC_BUF_SIZE);
        if (!w->buf) {
                r = -ENOMEM;
                goto finish;
        }

        if (st->base_id[0]) {
                base_fd = fs_open_subdir(s->snapshots_fd, st->base_id, false);
                if (base_fd >= 0) {
                        r = crc_table_load(&w->prev, base_fd);
                        if (r < 0)
                                goto finish;
                        prev_fd = fs_open_subdir(base_fd, s->udid, false);
                        if (prev_fd < 0)
                                prev_fd = -EBADF;
                }
        }

        fd = openat(st->root_fd, "index", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
        if (fd < 0) {
                r = -errno;
                goto finish;
        }
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                close(fd);
                goto finish;
        }
        (void) setvbuf(f, NULL, _IOFBF, 64 * 1024);
        w->f = f;

        r = index_write_bytes(w, INDEX_MAGIC, strlen(INDEX_MAGIC));
        if (r < 0)
                goto finish;

        udid_fd = fs_open_subdir(st->root_fd, s->udid, false);
        if (udid_fd < 0) {
                r = udid_fd;
                goto finish;
        }
        r = walk_dir(&w->walk, udid_fd, TAKE_FD(prev_fd), 0);
        if (r < 0)
                goto finish;

        snprintf(trailer, sizeof(trailer), "e %" PRIu64 " %" PRIu64 " %08" PRIx32 "\n",
                 w->files, w->bytes, w->crc);
        if (fputs(trailer, f) < 0 || fflush(f) != 0) {
                r = errno > 0 ? -errno : -EIO;
                goto finish;
        }
        if (fsync(fileno(f)) < 0) {
                r = -errno;
                goto finish;
        }
        r = fclose(TAKE_PTR(f)) != 0 ? -errno : 0;
        if (r < 0)
                goto finish;
        store_crash_point(STORE_CRASH_COMMIT_INDEX_DONE);

        ids_debug("store: indexed %" PRIu64 " files, %" PRIu64 " bytes, %" PRIu64
                  " CRCs reused", w->files, w->bytes, w->reused);
        *ret_files = w->files;
        *ret_bytes = w->bytes;
finish:
        closep(&prev_fd);
        free(w->prev.entries);
        free(w->buf);
        return r;
}


/* ---- verify -------------------------------------------------------------------------- */

typedef struct Verifier {
        Walk walk;              /* first: the callbacks get a Walk * */
        uint64_t *hashes;       /* sorted path hashes of the index */
        size_t n_hashes;
        VerifyReport *report;
} Verifier;

static void report_problem(VerifyReport *rep, const char *path, size_t len, const char *what) {
        char esc[3 * 160 + 1];

        if (rep->first_problem[0])
                return;
        store_escape(path, len > 160 ? 160 : len, esc);
        snprintf(rep->first_problem, sizeof(rep->first_problem), "%s%s: %s", esc,
                 len > 160 ? "..." : "", what);
}

static int u64_compare(const void *x, const void *y) {
        uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;

        return (a > b) - (a < b);
}

static int verify_on_entry(Walk *walk, int dir_fd, const char *name, unsigned char type,
                           uint64_t ino, uint64_t prev_ino) {
        Verifier *v = (Verifier *) walk;
        uint64_t h = store_path_hash(walk->path, walk->path_len);

        if (type != DT_REG) {
                v->report->unindexed++;
                report_problem(v->report, walk->path, walk->path_len, "not a regular file");
                return 0;
        }
        if (!bsearch(&h, v->hashes, v->n_hashes, sizeof(*v->hashes), u64_compare)) {
                v->report->unindexed++;
                report_problem(v->report, walk->path, walk->path_len, "not in the index");
        }
        return 0;
}

/* Check one index entry against the file. */
static int verify_entry(VerifyReport *rep, int udid_fd, const IndexEntry *e, uint8_t *buf) {
        _cleanup_(closep) int fd = -EBADF;
        uint64_t size = 0;
        uint32_t crc = 0;
        struct stat st;
        int r;

        rep->files_checked++;
        if (udid_fd < 0) {
                rep->missing++;
                report_problem(rep, e->path, e->path_len, "missing");
                return 0;
        }

        fd = fs_open_beneath(udid_fd, e->path, O_RDONLY | O_NOCTTY, 0);
        if (fd == -ENOENT) {
                rep->missing++;
                report_problem(rep, e->path, e->path_len, "missing");
                return 0;
        }
        if (fd < 0 && fd != -ELOOP && fd != -ENOTDIR && fd != -EINVAL && fd != -ENAMETOOLONG)
                return fd;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                rep->changed++;
                report_problem(rep, e->path, e->path_len, "not a regular file");
                return 0;
        }

        r = crc_file(fd, buf, UINT64_MAX, &crc, &size);
        if (r < 0)
                return r;
        if (size != e->size) {
                rep->changed++;
                report_problem(rep, e->path, e->path_len, "size differs");
        } else if (crc != e->crc) {
                rep->changed++;
                report_problem(rep, e->path, e->path_len, "CRC32 differs");
        }
        return 0;
}

/* A missing or corrupt index of a committed snapshot is -EBADMSG. */
int store_verify(Store *s, const char *id, VerifyReport *ret) {
        _cleanup_(closep) int dfd = -EBADF, udid_fd = -EBADF;
        _cleanup_(freep) IndexReader *rd = NULL;
        _cleanup_(freep) Verifier *v = NULL;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        VerifyReport rep = {};
        SnapshotInfo info;
        size_t alloc = 0;
        int fd, r;

        if (!ret)
                return -EINVAL;
        r = store_get(s, id, &info);
        if (r < 0)
                return r;

        dfd = fs_open_subdir(s->snapshots_fd, id, false);
        if (dfd < 0)
                return dfd;
        udid_fd = fs_open_subdir(dfd, s->udid, false);
        if (udid_fd < 0 && udid_fd != -ENOENT)
                return udid_fd;

        fd = openat(dfd, "index", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -EBADMSG : -errno;
        f = fdopen(fd, "r");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        rd = calloc(1, sizeof(*rd));
        v = calloc(1, sizeof(*v));
        buf = malloc(CRC_BUF_SIZE);
        if (!rd || !v || !buf)
                return -ENOMEM;
        rd->f = f;
        v->report = &rep;
        v->walk.on_entry = verify_on_entry;

        for (;;) {
                IndexEntry e;

                r = index_read(rd, &e);
                if (r <= 0)
                        break;
                if (fs_path_check(e.path, e.path_len) < 0) {
                        r = -EBADMSG;
                        break;
                }
                if (v->n_hashes == alloc) {
                        size_t k = alloc ? alloc * 2 : 4096;
                        uint64_t *p = reallocarray(v->hashes, k, sizeof(*p));

                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        v->hashes = p;
                        alloc = k;
                }
                v->hashes[v->n_hashes++] = store_path_hash(e.path, e.path_len);

                r = verify_entry(&rep, udid_fd, &e, buf);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rd->files != info.files)
                r = -EBADMSG;
        if (r >= 0 && udid_fd >= 0) {
                qsort_safe(v->hashes, v->n_hashes, sizeof(*v->hashes), u64_compare);
                r = walk_dir(&v->walk, TAKE_FD(udid_fd), -EBADF, 0);
        }
        free(v->hashes);
        if (r < 0)
                return r;

        *ret = rep;
        return 0;
}
