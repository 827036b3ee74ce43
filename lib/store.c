/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot store (layout in store.h): every backup run becomes a new, complete,
 * iTunes-format snapshot that shares unchanged files with the previous one by hard links,
 * and is published only once it is whole.
 *
 * Crash safety rests on one rule: a snapshot exists iff snapshots/<id>/commit is a valid
 * record, and that record is written, with everything it describes, inside a staging
 * directory before the single rename(2) that gives the directory its <id> name. Before the
 * rename, a crash leaves a .staging-* directory that store_open() removes; after it, the
 * snapshot is complete and `latest` (only a convenience for people and restore tools) is
 * repaired by store_open() if the crash came before it moved. Committed snapshots are never
 * written to: a run changes files by writing a new file and renaming it over the hard link.
 * Removal first renames a snapshot to a .staging-rm-* name, so a half-removed snapshot is
 * never mistaken for a whole one.
 *
 * Formats (all text, so a person can read them):
 *   commit  key=value lines: format_version, udid, ios_version (percent-escaped),
 *           start_usec, end_usec, result=done, files, bytes, new_bytes, encrypted (0/1),
 *           full (0/1), then "checksum=<crc32 of all preceding bytes, 8 hex digits>". A torn
 *           or altered record fails the checksum and the snapshot is not committed.
 *   index   "idevicesync-index 1", then per regular file below <UDID>/
 *           "f <size> <crc32, 8 hex> <path relative to <UDID>/, percent-escaped>", then
 *           "e <files> <bytes> <crc32 of all preceding bytes>". Escaped bytes: <= 0x20,
 *           '%', 0x7f (as %XX); everything else (UTF-8 included) is literal, so a line is
 *           never broken by a name and never contains a space inside the path.
 *
 * Memory is independent of file sizes and of the index size, except for two compact
 * tables: committing an incremental run keeps the previous snapshot's sizes and CRCs keyed
 * by a 64-bit hash of the path (24 bytes per file, about 2.4 MiB per 100,000 files, so that
 * unchanged files are neither read nor stat'ed: a file whose readdir inode number equals
 * that of the previous snapshot's file at the same path is that file), and verify keeps
 * one 64-bit hash per indexed path (8 bytes per file) to find files the index does not
 * name. Walks hold one directory stream per level (when committing, also the previous
 * snapshot's directory of that level as name hash → inode, 16 bytes per entry) and are
 * bounded by FS_DEPTH_MAX.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "lock.h"
#include "macro.h"
#include "store-internal.h"
#include "udid.h"

static int known_cmp(const void *a, const void *b) {
        const KnownCrc *x = a, *y = b;

        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int staging_note_crc(Staging *st, uint64_t ino, uint64_t size, uint64_t mtime_ns, uint32_t crc) {
        if (!st)
                return -EINVAL;
        if (st->n_known == st->cap_known) {
                size_t cap = st->cap_known ? st->cap_known * 2 : 1024;
                KnownCrc *k;

                if (st->cap_known >= KNOWN_CRC_MAX)
                        return 0;               /* read again at commit */
                k = realloc(st->known, cap * sizeof(KnownCrc));
                if (!k)
                        return 0;
                st->known = k;
                st->cap_known = cap;
        }
        st->known[st->n_known] = (KnownCrc) { .ino = ino, .size = size, .mtime_ns = mtime_ns,
                                              .crc = crc, .seq = (uint32_t) st->n_known };
        st->n_known++;
        st->known_sorted = false;
        return 1;
}

bool store_known_lookup(Staging *st, const struct stat *sb, uint32_t *ret) {
        uint64_t mt = (uint64_t) sb->st_mtim.tv_sec * 1000000000u + (uint64_t) sb->st_mtim.tv_nsec;
        size_t lo = 0, hi;

        if (st->n_known == 0)
                return false;
        if (!st->known_sorted) {
                qsort_safe(st->known, st->n_known, sizeof(KnownCrc), known_cmp);
                st->known_sorted = true;
        }
        /* The last entry with this inode (highest seq). */
        hi = st->n_known;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (st->known[mid].ino <= (uint64_t) sb->st_ino)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == 0)
                return false;
        const KnownCrc *k = &st->known[lo - 1];
        if (k->ino != (uint64_t) sb->st_ino || k->size != (uint64_t) sb->st_size ||
            k->mtime_ns != mt)
                return false;
        *ret = k->crc;
        return true;
}

static void (*crash_hook)(StoreCrashPoint point);

void store_crash_point(StoreCrashPoint point) {
        if (crash_hook)
                crash_hook(point);
}

void store_set_crash_hook(void (*hook)(StoreCrashPoint point)) {
        crash_hook = hook;
}

static bool ascii_digit(char c) {
        return c >= '0' && c <= '9';
}

static int hex_value(char c) {
        if (ascii_digit(c))
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

uint64_t store_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* FNV-1a: the tables only need a well-spread key; colliding paths are detected and
 * handled, so a weak (non-keyed) hash costs at most a re-read. */
uint64_t store_path_hash(const char *p, size_t n) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < n; i++) {
                h ^= (uint8_t) p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* 20261124T153000Z, optionally followed by -N (N >= 2, no leading zero, <= 6 digits). */
static bool id_is_valid(const char *id) {
        size_t n;

        if (!id)
                return false;
        n = strnlen(id, 32);
        if (n < ID_BASE_LEN || n >= 32)
                return false;
        for (size_t i = 0; i < ID_BASE_LEN; i++) {
                char want = i == 8 ? 'T' : i == 15 ? 'Z' : 0;

                if (want ? id[i] != want : !ascii_digit(id[i]))
                        return false;
        }
        if (n == ID_BASE_LEN)
                return true;
        if (id[ID_BASE_LEN] != '-' || n == ID_BASE_LEN + 1 || n > ID_BASE_LEN + 7 ||
            id[ID_BASE_LEN + 1] == '0')
                return false;
        for (size_t i = ID_BASE_LEN + 1; i < n; i++)
                if (!ascii_digit(id[i]))
                        return false;
        return !(n == ID_BASE_LEN + 2 && id[ID_BASE_LEN + 1] == '1');
}

static unsigned long id_suffix(const char *id) {
        return id[ID_BASE_LEN] == '-' ? strtoul(id + ID_BASE_LEN + 1, NULL, 10) : 1;
}

/* Time order, with -10 after -9. */
int store_id_compare(const char *a, const char *b) {
        int c = memcmp(a, b, ID_BASE_LEN);
        unsigned long sa, sb;

        if (c != 0)
                return c;
        sa = id_suffix(a);
        sb = id_suffix(b);
        return (sa > sb) - (sa < sb);
}

static int info_compare(const void *x, const void *y) {
        const SnapshotInfo *a = x, *b = y;

        if (a->end_usec != b->end_usec)
                return a->end_usec < b->end_usec ? -1 : 1;
        return store_id_compare(a->id, b->id);
}

int store_id_format(uint64_t usec, unsigned suffix, char id[static 32]) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(id, 32, "%Y%m%dT%H%M%SZ", &tm) != ID_BASE_LEN)
                return -ERANGE;
        if (suffix > 1)
                snprintf(id + ID_BASE_LEN, 32 - ID_BASE_LEN, "-%u", suffix);
        return id_is_valid(id) ? 0 : -ERANGE;
}

static bool byte_needs_escape(uint8_t c) {
        return c <= 0x20 || c == '%' || c == 0x7f;
}

/* Percent-store_escape s[0..n) into out (room for 3n + 1); returns the length written. */
size_t store_escape(const char *s, size_t n, char *out) {
        static const char hex[] = "0123456789ABCDEF";
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                uint8_t c = (uint8_t) s[i];

                if (byte_needs_escape(c)) {
                        out[k++] = '%';
                        out[k++] = hex[c >> 4];
                        out[k++] = hex[c & 15];
                } else
                        out[k++] = (char) c;
        }
        out[k] = 0;
        return k;
}

/* Undo store_escape() in place; NUL-terminates. -EBADMSG for a bad or NUL store_escape. */
int store_unescape(char *s, size_t *len) {
        size_t k = 0, n = *len;

        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int hi, lo;

                        if (i + 2 >= n)
                                return -EBADMSG;
                        hi = hex_value(s[i + 1]);
                        lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
                        if (lo < 0 || (hi == 0 && lo == 0))
                                return -EBADMSG;
                        s[k++] = (char) (hi << 4 | lo);
                        i += 2;
                } else if ((uint8_t) s[i] <= 0x20 || s[i] == 0x7f)
                        return -EBADMSG;
                else
                        s[k++] = s[i];
        }
        s[k] = 0;
        *len = k;
        return 0;
}

int store_parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!ascii_digit(*s))
                return -EBADMSG;
        for (; *s; s++) {
                if (!ascii_digit(*s) || v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

int store_parse_crc(const char *s, uint32_t *ret) {
        uint32_t v = 0;

        for (unsigned i = 0; i < 8; i++) {
                int h = hex_value(s[i]);

                if (h < 0)
                        return -EBADMSG;
                v = v << 4 | (uint32_t) h;
        }
        *ret = v;
        return 0;
}

uint32_t store_crc_update(uint32_t crc, const void *p, size_t n) {
        const Bytef *b = p;

        /* zlib takes uInt lengths. */
        while (n > 0) {
                uInt k = n > (1u << 30) ? 1u << 30 : (uInt) n;

                crc = (uint32_t) crc32(crc, b, k);
                b += k;
                n -= k;
        }
        return crc;
}

/* ---- commit record ------------------------------------------------------------------- */

int store_commit_format(const char *udid, const SnapshotInfo *info, char *buf, size_t size) {
        char ios[3 * sizeof(info->ios_version) + 1];
        int n, m;

        store_escape(info->ios_version, strnlen(info->ios_version, sizeof(info->ios_version)), ios);
        n = snprintf(buf, size,
                     "format_version=%d\nudid=%s\nios_version=%s\nstart_usec=%" PRIu64 "\n"
                     "end_usec=%" PRIu64 "\nresult=done\nfiles=%" PRIu64 "\nbytes=%" PRIu64 "\n"
                     "new_bytes=%" PRIu64 "\nencrypted=%d\nfull=%d\n",
                     STORE_FORMAT_VERSION, udid, ios, info->start_usec, info->end_usec,
                     info->files, info->bytes, info->new_bytes, info->encrypted ? 1 : 0,
                     info->full ? 1 : 0);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        m = snprintf(buf + n, size - (size_t) n, "checksum=%08" PRIx32 "\n",
                     store_crc_update(0, buf, (size_t) n));
        if (m < 0 || (size_t) m >= size - (size_t) n)
                return -ENOBUFS;
        return n + m;
}

/* Parse a commit record (buf[n] == 0). 0: a committed snapshot of udid; -EBADMSG: torn,
 * corrupt or incomplete; -EPROTONOSUPPORT: intact, but of a newer format, of another device
 * or not "done", which this version must neither use nor judge. */
static int commit_parse(const char *udid, char *buf, size_t n, SnapshotInfo *ret) {
        enum {
                SEEN_VERSION = 1 << 0,
                SEEN_UDID = 1 << 1,
                SEEN_RESULT = 1 << 2,
                SEEN_START = 1 << 3,
                SEEN_END = 1 << 4,
                SEEN_FILES = 1 << 5,
                SEEN_BYTES = 1 << 6,
                SEEN_ALL = (1 << 7) - 1,
        };
        SnapshotInfo info = {};
        bool foreign = false;
        unsigned seen = 0;
        uint64_t version = 0;
        uint32_t crc;
        size_t last;
        char *p;

        if (n == 0 || buf[n - 1] != '\n' || memchr(buf, 0, n))
                return -EBADMSG;
        for (last = n - 1; last > 0 && buf[last - 1] != '\n'; last--)
                ;
        if (n - last != strlen("checksum=") + 8 + 1 || strncmp(buf + last, "checksum=", 9) != 0)
                return -EBADMSG;
        if (store_parse_crc(buf + last + 9, &crc) < 0 || crc != store_crc_update(0, buf, last))
                return -EBADMSG;

        buf[last] = 0;
        for (p = buf; *p;) {
                char *nl = strchr(p, '\n'), *eq;
                uint64_t *num = NULL;
                unsigned bit = 0;

                if (!nl)
                        return -EBADMSG;
                *nl = 0;
                eq = strchr(p, '=');
                if (!eq)
                        return -EBADMSG;
                *eq++ = 0;

                if (strcmp(p, "format_version") == 0)
                        num = &version, bit = SEEN_VERSION;
                else if (strcmp(p, "start_usec") == 0)
                        num = &info.start_usec, bit = SEEN_START;
                else if (strcmp(p, "end_usec") == 0)
                        num = &info.end_usec, bit = SEEN_END;
                else if (strcmp(p, "files") == 0)
                        num = &info.files, bit = SEEN_FILES;
                else if (strcmp(p, "bytes") == 0)
                        num = &info.bytes, bit = SEEN_BYTES;
                else if (strcmp(p, "new_bytes") == 0)
                        num = &info.new_bytes;
                else if (strcmp(p, "encrypted") == 0 || strcmp(p, "full") == 0) {
                        if (strcmp(eq, "0") != 0 && strcmp(eq, "1") != 0)
                                return -EBADMSG;
                        *(p[0] == 'e' ? &info.encrypted : &info.full) = eq[0] == '1';
                } else if (strcmp(p, "udid") == 0) {
                        foreign = foreign || strcmp(eq, udid) != 0;
                        bit = SEEN_UDID;
                } else if (strcmp(p, "result") == 0) {
                        if (strlen(eq) >= sizeof(info.result))
                                return -EBADMSG;
                        strcpy(info.result, eq);
                        bit = SEEN_RESULT;
                } else if (strcmp(p, "ios_version") == 0) {
                        size_t l = strlen(eq);

                        if (store_unescape(eq, &l) < 0 || l >= sizeof(info.ios_version))
                                return -EBADMSG;
                        memcpy(info.ios_version, eq, l + 1);
                }
                /* Unknown keys: additions of the same format version, ignored. */

                if (num && store_parse_u64(eq, num) < 0)
                        return -EBADMSG;
                seen |= bit;
                p = nl + 1;
        }

        if (seen != SEEN_ALL)
                return -EBADMSG;
        if (version == 0)
                return -EBADMSG;
        if (version > STORE_FORMAT_VERSION || foreign || strcmp(info.result, "done") != 0)
                return -EPROTONOSUPPORT;

        *ret = info;
        return 0;
}

/* Read a small regular file dir_fd/name, NUL-terminated, at most max bytes (else
 * -EBADMSG: for the store's own records, too big means corrupt). */
static int read_small_at(int dir_fd, const char *name, char *buf, size_t max, size_t *ret_n) {
        _cleanup_(closep) int fd = -EBADF;
        struct stat st;
        size_t n = 0;

        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;

        for (;;) {
                ssize_t l = read(fd, buf + n, max + 1 - n);

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        break;
                n += (size_t) l;
                if (n > max)
                        return -EBADMSG;
        }
        buf[n] = 0;
        *ret_n = n;
        return 0;
}

/* 0 and *ret filled: snapshots/<id> is committed. -ENOENT: no such directory, or no record;
 * -ENOTDIR: not a directory; -EBADMSG / -EPROTONOSUPPORT as commit_parse(); -errno. */
static int read_commit(Store *s, const char *id, SnapshotInfo *ret) {
        _cleanup_(closep) int dfd = -EBADF;
        char buf[COMMIT_MAX + 1];
        size_t n = 0;
        int r;

        dfd = openat(s->snapshots_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ELOOP ? -ENOTDIR : -errno;

        r = read_small_at(dfd, "commit", buf, COMMIT_MAX, &n);
        if (r < 0)
                return r;
        r = commit_parse(s->udid, buf, n, ret);
        if (r < 0)
                return r;
        strcpy(ret->id, id);
        return 0;
}

/* ---- listing and `latest` ------------------------------------------------------------ */

static int push_info(SnapshotInfo **a, size_t *n, size_t *alloc, const SnapshotInfo *x) {
        if (*n == *alloc) {
                size_t k = *alloc ? *alloc * 2 : 16;
                SnapshotInfo *p = reallocarray(*a, k, sizeof(**a));

                if (!p)
                        return -ENOMEM;
                *a = p;
                *alloc = k;
        }
        (*a)[(*n)++] = *x;
        return 0;
}

/* All committed snapshots, oldest first. If ret_bad, also the snapshot-named directories
 * whose record is missing or corrupt (only their ids are filled), in id order. */
int store_scan(Store *s, SnapshotInfo **ret, size_t *ret_n, SnapshotInfo **ret_bad,
                size_t *ret_nbad) {
        _cleanup_(freep) SnapshotInfo *list = NULL, *bad = NULL;
        size_t n = 0, alloc = 0, nbad = 0, alloc_bad = 0;
        _cleanup_(closedirp) DIR *d = NULL;
        int fd, r;

        /* A fresh open file description: a dup would share (and move) the offset. */
        fd = openat(s->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }

        for (;;) {
                SnapshotInfo info = {};
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;
                if (!id_is_valid(de->d_name)) {
                        ids_debug("store: ignoring snapshots/%.64s: not a snapshot name",
                                  de->d_name);
                        continue;
                }

                r = read_commit(s, de->d_name, &info);
                if (r == 0)
                        r = push_info(&list, &n, &alloc, &info);
                else if ((r == -ENOENT || r == -EBADMSG) && ret_bad) {
                        strcpy(info.id, de->d_name);
                        r = push_info(&bad, &nbad, &alloc_bad, &info);
                } else {
                        ids_debug("store: snapshots/%s is not a committed snapshot: %s",
                                  de->d_name, strerror(-r));
                        r = 0;
                }
                if (r < 0)
                        return r;
        }

        if (n > 0)
                qsort_safe(list, n, sizeof(*list), info_compare);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        if (ret_bad) {
                for (size_t i = 1; i < nbad; i++)       /* insertion sort: a handful */
                        for (size_t j = i; j > 0 && store_id_compare(bad[j - 1].id, bad[j].id) > 0;
                             j--) {
                                SnapshotInfo t = bad[j];

                                bad[j] = bad[j - 1];
                                bad[j - 1] = t;
                        }
                *ret_bad = TAKE_PTR(bad);
                *ret_nbad = nbad;
        }
        return 0;
}

/* The newest committed snapshot: 0, -ENOENT if there is none, -errno. */
int store_newest_committed(Store *s, SnapshotInfo *ret) {
        _cleanup_(freep) SnapshotInfo *list = NULL;
        size_t n;
        int r;

        r = store_scan(s, &list, &n, NULL, NULL);
        if (r < 0)
                return r;
        if (n == 0)
                return -ENOENT;
        *ret = list[n - 1];
        return 0;
}

/* The id `latest` names (not checked for being committed): 0, -ENOENT, -EINVAL. */
static int latest_read(Store *s, char id[static 32]) {
        char buf[64];
        ssize_t l;

        l = readlinkat(s->device_fd, "latest", buf, sizeof(buf) - 1);
        if (l < 0)
                return errno == EINVAL ? -EINVAL : -errno;      /* EINVAL: not a symlink */
        buf[l] = 0;
        if (strncmp(buf, "snapshots/", 10) != 0 || !id_is_valid(buf + 10))
                return -EINVAL;
        strcpy(id, buf + 10);
        return 0;
}

/* Point `latest` at snapshots/<id> atomically (symlink to a temp name, rename over), or
 * remove it if id is NULL; then fsync <UDID>/. */
int store_latest_update(Store *s, const char *id) {
        char target[64];
        int r;

        if (!id) {
                r = fs_rm_rf_at(s->device_fd, "latest");
                if (r < 0)
                        return r;
        } else {
                snprintf(target, sizeof(target), "snapshots/%s", id);

                r = fs_rm_rf_at(s->device_fd, "latest.tmp");
                if (r < 0)
                        return r;
                if (symlinkat(target, s->device_fd, "latest.tmp") < 0)
                        return -errno;
                store_crash_point(STORE_CRASH_COMMIT_LATEST_TMP);

                if (renameat(s->device_fd, "latest.tmp", s->device_fd, "latest") < 0) {
                        /* Something that is not a symlink sits there: replace it. */
                        r = -errno;
                        if (r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST) {
                                r = fs_rm_rf_at(s->device_fd, "latest");
                                if (r >= 0 && renameat(s->device_fd, "latest.tmp",
                                                       s->device_fd, "latest") < 0)
                                        r = -errno;
                        }
                        if (r < 0) {
                                (void) unlinkat(s->device_fd, "latest.tmp", 0);
                                return r;
                        }
                }
                store_crash_point(STORE_CRASH_COMMIT_LATEST_MOVED);
        }

        if (fsync(s->device_fd) < 0)
                return -errno;
        return 0;
}

/* Make `latest` name the newest committed snapshot (or vanish if there is none). */
int store_latest_repair(Store *s) {
        SnapshotInfo newest;
        char cur[32];
        int r, k;

        (void) fs_rm_rf_at(s->device_fd, "latest.tmp");

        r = store_newest_committed(s, &newest);
        if (r == -ENOENT) {
                struct stat st;

                if (fstatat(s->device_fd, "latest", &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 0;
                ids_debug("store: no committed snapshot, removing 'latest'");
                return store_latest_update(s, NULL);
        }
        if (r < 0)
                return r;

        k = latest_read(s, cur);
        if (k == 0 && strcmp(cur, newest.id) == 0)
                return 0;
        ids_debug("store: pointing 'latest' at %s", newest.id);
        return store_latest_update(s, newest.id);
}

/* ---- open/close ---------------------------------------------------------------------- */

/* Remove what crashed or killed runs left: .staging-* (runs and removals in progress). */
static void remove_stale(Store *s) {
        _cleanup_(closedirp) DIR *d = NULL;
        int fd;

        fd = openat(s->snapshots_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }

        for (struct dirent *de; (de = readdir(d));) {
                int r;

                if (strncmp(de->d_name, STAGING_PREFIX, strlen(STAGING_PREFIX)) != 0)
                        continue;
                ids_debug("store: removing stale snapshots/%.64s", de->d_name);
                r = fs_rm_rf_at(dirfd(d), de->d_name);
                if (r < 0)
                        ids_debug("store: failed to remove snapshots/%.64s: %s", de->d_name,
                                  strerror(-r));
        }
}

static Store *store_new(const char *abs_state_dir, const char *udid) {
        Store *s = malloc(sizeof(*s));

        if (!s)
                return NULL;
        *s = (Store) { .device_fd = -EBADF, .snapshots_fd = -EBADF, .lock_fd = -EBADF };
        s->udid = strdup(udid);
        if (asprintf(&s->device_dir, "%s/%s",
                     strcmp(abs_state_dir, "/") == 0 ? "" : abs_state_dir, udid) < 0)
                s->device_dir = NULL;
        if (!s->udid || !s->device_dir)
                return store_close(s);
        return s;
}

static int open_internal(const char *state_dir, const char *lock_dir, bool take_lock,
                         const char *udid, Store **ret) {
        _cleanup_(store_closep) Store *s = NULL;
        _cleanup_(closep) int state_fd = -EBADF;
        _cleanup_(freep) char *abs = NULL;
        int r;

        if (!state_dir || !*state_dir || !ret || !udid_is_valid(udid))
                return -EINVAL;

        r = fs_mkdir_parents(state_dir, 0700);
        if (r < 0)
                return r;
        abs = realpath(state_dir, NULL);
        if (!abs)
                return -errno;

        s = store_new(abs, udid);
        if (!s)
                return -ENOMEM;

        state_fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0)
                return -errno;
        s->device_fd = fs_open_subdir(state_fd, udid, true);
        if (s->device_fd < 0)
                return s->device_fd;

        /* The device's one lock, wherever the snapshots live (lock.h). */
        if (take_lock) {
                s->lock_fd = device_lock_take(lock_dir ?: abs, udid);
                if (s->lock_fd < 0)
                        return s->lock_fd;
        }

        s->snapshots_fd = fs_open_subdir(s->device_fd, "snapshots", true);
        if (s->snapshots_fd < 0)
                return s->snapshots_fd;

        remove_stale(s);
        r = store_latest_repair(s);
        if (r < 0)
                ids_debug("store: failed to repair 'latest', ignoring: %s", strerror(-r));

        *ret = TAKE_PTR(s);
        return 0;
}

int store_open(const char *state_dir, const char *lock_dir, const char *udid, Store **ret) {
        return open_internal(state_dir, lock_dir, true, udid, ret);
}

int store_open_held(const char *state_dir, const char *udid, Store **ret) {
        return open_internal(state_dir, NULL, false, udid, ret);
}

void store_staging_discard(Staging *st) {
        int r;

        if (!st->store || !st->name[0])
                return;
        r = fs_rm_rf_at(st->store->snapshots_fd, st->name);
        if (r < 0)
                ids_debug("store: failed to remove snapshots/%s: %s", st->name, strerror(-r));
        st->name[0] = 0;
}

Store *store_close(Store *s) {
        if (!s)
                return NULL;

        if (s->staging) {
                store_staging_discard(s->staging);
                closep(&s->staging->root_fd);
                s->staging->root_fd = -EBADF;
                s->staging->store = NULL;
        }
        closep(&s->snapshots_fd);
        closep(&s->device_fd);
        closep(&s->lock_fd);            /* releases the flock */
        free(s->device_dir);
        free(s->udid);
        free(s);
        return NULL;
}

const char *store_device_dir(Store *s) {
        return s ? s->device_dir : NULL;
}

/* ---- queries ------------------------------------------------------------------------- */

int store_list(Store *s, SnapshotInfo **ret, size_t *ret_n) {
        if (!s || !ret || !ret_n)
                return -EINVAL;

        return store_scan(s, ret, ret_n, NULL, NULL);
}

/* A malformed id is -EINVAL (it can name nothing in the store). */
int store_get(Store *s, const char *id, SnapshotInfo *ret) {
        SnapshotInfo info;
        int r;

        if (!s || !ret || !id_is_valid(id))
                return -EINVAL;

        r = read_commit(s, id, &info);
        if (r < 0)
                return r == -ENOENT || r == -ENOTDIR || r == -EBADMSG ||
                                       r == -EPROTONOSUPPORT ? -ENOENT : r;
        *ret = info;
        return 0;
}

/* Reads only: no lock, no cleanup, nothing created. A snapshot that a concurrent commit
 * publishes or a concurrent removal moves aside is listed or not, never half. */
int store_list_readonly(const char *state_dir, const char *udid, SnapshotInfo **ret,
                        size_t *ret_n) {
        _cleanup_(freep) char *path = NULL;
        Store ro;
        int r;

        if (!state_dir || !*state_dir || !ret || !ret_n || !udid_is_valid(udid))
                return -EINVAL;

        if (asprintf(&path, "%s/%s/snapshots", state_dir, udid) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        ro = (Store) {
                .udid = (char *) udid,
                .device_fd = -EBADF,
                .lock_fd = -EBADF,
                .snapshots_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC),
        };
        if (ro.snapshots_fd < 0)
                return -errno;

        r = store_scan(&ro, ret, ret_n, NULL, NULL);
        close(ro.snapshots_fd);
        return r;
}

/* If `latest` is missing or names no committed snapshot (it is repaired by store_open()
 * and kept right by this Store), the newest committed snapshot is returned. */
int store_latest(Store *s, SnapshotInfo *ret) {
        char id[32];

        if (!s || !ret)
                return -EINVAL;

        if (latest_read(s, id) >= 0 && store_get(s, id, ret) >= 0)
                return 0;
        return store_newest_committed(s, ret);
}

int store_snapshot_path(Store *s, const char *id, char **ret) {
        SnapshotInfo info;
        int r;

        if (!ret)
                return -EINVAL;

        r = store_get(s, id, &info);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s/snapshots/%s", s->device_dir, id) < 0)
                return -ENOMEM;
        return 0;
}

int store_free_space(Store *s, uint64_t *ret) {
        struct statvfs sv;

        if (!s || !ret)
                return -EINVAL;

        if (fstatvfs(s->snapshots_fd, &sv) < 0)
                return -errno;
        *ret = (uint64_t) sv.f_bavail * (uint64_t) sv.f_frsize;
        return 0;
}
