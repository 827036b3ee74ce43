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
 * tables: committing an incremental run keeps the previous snapshot's CRCs keyed by a
 * 64-bit hash of the path (16 bytes per file, about 1.6-2 MiB per 100,000 files, so that
 * unchanged files are not re-read), and verify keeps one 64-bit hash per indexed path
 * (8 bytes per file) to find files the index does not name. Walks hold one directory
 * stream per level (two when committing) and are bounded by FS_DEPTH_MAX.
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

#include "fs-util.h"
#include "store.h"
#include "util.h"
#include "udid.h"
#include "lock.h"

#define STAGING_PREFIX  ".staging-"
#define REMOVING_PREFIX ".staging-rm-"  /* a snapshot being removed; store_open() finishes */
#define INDEX_MAGIC     "idevicesync-index 1\n"
#define COMMIT_MAX      4096            /* a record is ~300 bytes */
#define CRC_BUF_SIZE    (1024 * 1024)
#define WALK_PATH_MAX   4096
#define INDEX_LINE_MAX  (3 * WALK_PATH_MAX + 64)
#define ID_BASE_LEN     16              /* 20261124T153000Z */
#define USEC_PER_SEC    UINT64_C(1000000)
#define USEC_PER_DAY    (UINT64_C(86400) * USEC_PER_SEC)

struct Store {
        char *udid;
        char *device_dir;       /* absolute <state>/<UDID> */
        int device_fd;
        int snapshots_fd;
        int lock_fd;            /* holds the flock */
        Staging *staging;       /* borrowed: the run in progress, if any */
};

typedef struct KnownCrc {
        uint64_t ino, size, mtime_ns;
        uint32_t crc, seq;      /* seq: later notes of a reused inode win */
} KnownCrc;

/* CRCs computed while files arrived; beyond this many the rest are read again at commit,
 * so memory stays bounded (24 bytes per entry). */
#define KNOWN_CRC_MAX 262144u

struct Staging {
        Store *store;           /* borrowed; NULL once store_close() discarded the staging */
        char name[32];          /* .staging-XXXXXXXX in snapshots/, "" until created */
        char *path;             /* absolute path of the staging root */
        int root_fd;
        char base_id[32];       /* the snapshot it was linked from, "" if none */
        KnownCrc *known;        /* staging_note_crc() */
        size_t n_known, cap_known;
        bool known_sorted;
};

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

static bool known_lookup(Staging *st, const struct stat *sb, uint32_t *ret) {
        uint64_t mt = (uint64_t) sb->st_mtim.tv_sec * 1000000000u + (uint64_t) sb->st_mtim.tv_nsec;
        size_t lo = 0, hi;

        if (st->n_known == 0)
                return false;
        if (!st->known_sorted) {
                qsort(st->known, st->n_known, sizeof(KnownCrc), known_cmp);
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

static void crash_point(StoreCrashPoint point) {
        if (crash_hook)
                crash_hook(point);
}

void store_set_crash_hook(void (*hook)(StoreCrashPoint point)) {
        crash_hook = hook;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

static bool is_dot_or_dotdot(const char *name) {
        return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
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

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* FNV-1a: the tables only need a well-spread key; colliding paths are detected and
 * handled, so a weak (non-keyed) hash costs at most a re-read. */
static uint64_t path_hash(const char *p, size_t n) {
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
static int id_compare(const char *a, const char *b) {
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
        return id_compare(a->id, b->id);
}

static int id_format(uint64_t usec, unsigned suffix, char id[static 32]) {
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

/* Percent-escape s[0..n) into out (room for 3n + 1); returns the length written. */
static size_t escape(const char *s, size_t n, char *out) {
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

/* Undo escape() in place; NUL-terminates. -EBADMSG for a bad or NUL escape. */
static int unescape(char *s, size_t *len) {
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

static int parse_u64(const char *s, uint64_t *ret) {
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

static int parse_crc(const char *s, uint32_t *ret) {
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

static uint32_t crc_update(uint32_t crc, const void *p, size_t n) {
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

static int commit_format(const char *udid, const SnapshotInfo *info, char *buf, size_t size) {
        char ios[3 * sizeof(info->ios_version) + 1];
        int n, m;

        escape(info->ios_version, strnlen(info->ios_version, sizeof(info->ios_version)), ios);
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
                     crc_update(0, buf, (size_t) n));
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
        if (parse_crc(buf + last + 9, &crc) < 0 || crc != crc_update(0, buf, last))
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

                        if (unescape(eq, &l) < 0 || l >= sizeof(info.ios_version))
                                return -EBADMSG;
                        memcpy(info.ios_version, eq, l + 1);
                }
                /* Unknown keys: additions of the same format version, ignored. */

                if (num && parse_u64(eq, num) < 0)
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
static int scan(Store *s, SnapshotInfo **ret, size_t *ret_n, SnapshotInfo **ret_bad,
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
                qsort(list, n, sizeof(*list), info_compare);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        if (ret_bad) {
                for (size_t i = 1; i < nbad; i++)       /* insertion sort: a handful */
                        for (size_t j = i; j > 0 && id_compare(bad[j - 1].id, bad[j].id) > 0;
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
static int newest_committed(Store *s, SnapshotInfo *ret) {
        _cleanup_(freep) SnapshotInfo *list = NULL;
        size_t n;
        int r;

        r = scan(s, &list, &n, NULL, NULL);
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
static int latest_update(Store *s, const char *id) {
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
                crash_point(STORE_CRASH_COMMIT_LATEST_TMP);

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
                crash_point(STORE_CRASH_COMMIT_LATEST_MOVED);
        }

        if (fsync(s->device_fd) < 0)
                return -errno;
        return 0;
}

/* Make `latest` name the newest committed snapshot (or vanish if there is none). */
static int latest_repair(Store *s) {
        SnapshotInfo newest;
        char cur[32];
        int r, k;

        (void) fs_rm_rf_at(s->device_fd, "latest.tmp");

        r = newest_committed(s, &newest);
        if (r == -ENOENT) {
                struct stat st;

                if (fstatat(s->device_fd, "latest", &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 0;
                ids_debug("store: no committed snapshot, removing 'latest'");
                return latest_update(s, NULL);
        }
        if (r < 0)
                return r;

        k = latest_read(s, cur);
        if (k == 0 && strcmp(cur, newest.id) == 0)
                return 0;
        ids_debug("store: pointing 'latest' at %s", newest.id);
        return latest_update(s, newest.id);
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

int store_open(const char *state_dir, const char *lock_dir, const char *udid, Store **ret) {
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
        s->lock_fd = device_lock_take(lock_dir ?: abs, udid);
        if (s->lock_fd < 0)
                return s->lock_fd;

        s->snapshots_fd = fs_open_subdir(s->device_fd, "snapshots", true);
        if (s->snapshots_fd < 0)
                return s->snapshots_fd;

        remove_stale(s);
        r = latest_repair(s);
        if (r < 0)
                ids_debug("store: failed to repair 'latest', ignoring: %s", strerror(-r));

        *ret = TAKE_PTR(s);
        return 0;
}

static void staging_discard(Staging *st) {
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
                staging_discard(s->staging);
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

        return scan(s, ret, ret_n, NULL, NULL);
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

        r = scan(&ro, ret, ret_n, NULL, NULL);
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
        return newest_committed(s, ret);
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
                                crash_point(STORE_CRASH_BEGIN_LINKED_ONE);
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
                r = newest_committed(s, &base);
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

        staging_discard(st);
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
         * <UDID>/. prev_dir_fd: the same directory in the previous snapshot, or -EBADF. */
        int (*on_entry)(Walk *w, int dir_fd, int prev_dir_fd, const char *name,
                        unsigned char type);
        char path[WALK_PATH_MAX];
        size_t path_len;
};

/* Walk fd (owned) and, in parallel where it exists, prev_fd (owned, may be -EBADF). */
static int walk_dir(Walk *w, int fd, int prev_fd, unsigned depth) {
        _cleanup_(closep) int pfd = prev_fd;
        _cleanup_(closedirp) DIR *d = NULL;
        int r;

        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }

        for (;;) {
                size_t saved = w->path_len, nlen;
                unsigned char type;
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? -errno : 0;
                if (is_dot_or_dotdot(de->d_name))
                        continue;

                nlen = strlen(de->d_name);
                if (saved + 1 + nlen >= sizeof(w->path))
                        return -ENAMETOOLONG;
                if (saved > 0)
                        w->path[w->path_len++] = '/';
                memcpy(w->path + w->path_len, de->d_name, nlen + 1);
                w->path_len += nlen;

                type = de->d_type;
                if (type == DT_UNKNOWN) {
                        struct stat st;

                        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                return -errno;
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG :
                                                                                    DT_LNK;
                }

                if (type == DT_DIR) {
                        int cfd, cpfd = -EBADF;

                        if (depth + 1 >= FS_DEPTH_MAX)
                                return -ELOOP;
                        cfd = fs_open_subdir(dirfd(d), de->d_name, false);
                        if (cfd < 0)
                                return cfd;
                        if (pfd >= 0)
                                cpfd = fs_open_subdir(pfd, de->d_name, false);
                        r = walk_dir(w, cfd, cpfd < 0 ? -EBADF : cpfd, depth + 1);
                } else
                        r = w->on_entry(w, dirfd(d), pfd, de->d_name, type);
                if (r < 0)
                        return r;

                w->path_len = saved;
                w->path[saved] = 0;
        }
}

/* ---- the index ----------------------------------------------------------------------- */

typedef struct CrcEntry {
        uint64_t hash;          /* path_hash() of the path relative to <UDID>/ */
        uint32_t size32;        /* low 32 bits of the size: a cross-check */
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
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (t->entries[mid].hash < h)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

/* A CRC is only reused when exactly one path has this hash: colliding paths are re-read. */
static bool crc_table_lookup(const CrcTable *t, uint64_t h, uint64_t size, uint32_t *ret) {
        size_t i = crc_table_lower_bound(t, h);

        if (i >= t->n || t->entries[i].hash != h)
                return false;
        if (i + 1 < t->n && t->entries[i + 1].hash == h)
                return false;
        if (t->entries[i].size32 != (uint32_t) size)
                return false;
        *ret = t->entries[i].crc;
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
                r->crc = crc_update(0, r->line, len);
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
                if (parse_u64(p, &files) < 0)
                        return -EBADMSG;
                p = q;
                q = strchr(p, ' ');
                if (!q)
                        return -EBADMSG;
                *q++ = 0;
                if (parse_u64(p, &bytes) < 0 || strlen(q) != 8 || parse_crc(q, &crc) < 0)
                        return -EBADMSG;
                if (crc != r->crc || files != r->files || bytes != r->bytes)
                        return -EBADMSG;
                if (fgetc(r->f) != EOF)
                        return -EBADMSG;
                return 0;
        }

        if (r->line[0] != 'f' || r->line[1] != ' ')
                return -EBADMSG;
        r->crc = crc_update(r->crc, r->line, len - 1);
        r->crc = crc_update(r->crc, "\n", 1);

        /* f <size> <crc> <path> */
        p = r->line + 2;
        q = strchr(p, ' ');
        if (!q)
                return -EBADMSG;
        *q++ = 0;
        if (parse_u64(p, &ret->size) < 0)
                return -EBADMSG;
        if (strlen(q) < 10 || q[8] != ' ' || parse_crc(q, &ret->crc) < 0)
                return -EBADMSG;
        ret->path = q + 9;
        ret->path_len = strlen(ret->path);
        if (ret->path_len == 0 || unescape(ret->path, &ret->path_len) < 0)
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
                        .hash = path_hash(e.path, e.path_len),
                        .size32 = (uint32_t) e.size,
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
                qsort(t->entries, t->n, sizeof(*t->entries), crc_entry_compare);
        return 0;
}

static int crc_file(int fd, uint8_t *buf, uint32_t *ret_crc, uint64_t *ret_size) {
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
                crc = crc_update(crc, buf, (size_t) l);
                size += (uint64_t) l;
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
        w->crc = crc_update(w->crc, p, n);
        return 0;
}

static int index_on_entry(Walk *walk, int dir_fd, int prev_dir_fd, const char *name,
                          unsigned char type) {
        IndexWriter *w = (IndexWriter *) walk;
        uint32_t crc = 0;
        uint64_t size = 0;
        bool have = false;
        struct stat st;
        size_t n;
        int r;

        if (type != DT_REG) {
                ids_debug("store: not indexing '%.200s': not a regular file", walk->path);
                return 0;
        }
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return 0;

        /* Still a hard link of the previous snapshot's file at the same path: its CRC is
         * already known. */
        if (prev_dir_fd >= 0 && st.st_nlink > 1) {
                struct stat pst;

                if (fstatat(prev_dir_fd, name, &pst, AT_SYMLINK_NOFOLLOW) >= 0 &&
                    pst.st_ino == st.st_ino && pst.st_dev == st.st_dev &&
                    crc_table_lookup(&w->prev, path_hash(walk->path, walk->path_len),
                                     (uint64_t) st.st_size, &crc)) {
                        size = (uint64_t) st.st_size;
                        have = true;
                        w->reused++;
                }
        }
        if (!have && w->staging && known_lookup(w->staging, &st, &crc)) {
                size = (uint64_t) st.st_size;
                have = true;
                w->reused++;
        }
        if (!have) {
                _cleanup_(closep) int fd = -EBADF;

                fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return -errno;
                r = crc_file(fd, w->buf, &crc, &size);
                if (r < 0)
                        return r;
        }

        n = (size_t) snprintf(w->line, sizeof(w->line), "f %" PRIu64 " %08" PRIx32 " ", size,
                              crc);
        n += escape(walk->path, walk->path_len, w->line + n);
        w->line[n++] = '\n';
        r = index_write_bytes(w, w->line, n);
        if (r < 0)
                return r;

        w->files++;
        w->bytes += size;
        if (w->files == 1)
                crash_point(STORE_CRASH_COMMIT_INDEXING);
        return 0;
}

/* Write root_fd/index for the tree root_fd/<UDID>, reusing the CRCs of base_id where files
 * are still its hard links. Returns files and bytes. */
static int index_build(Store *s, Staging *st, uint64_t *ret_files, uint64_t *ret_bytes) {
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
        crash_point(STORE_CRASH_COMMIT_INDEX_DONE);

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

/* ---- commit -------------------------------------------------------------------------- */

static int commit_write(Staging *st, const char *record, size_t n) {
        _cleanup_(closep) int fd = -EBADF;
        size_t half = n / 2;
        int r;

        fd = openat(st->root_fd, "commit", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
        if (fd < 0)
                return -errno;
        r = fs_write_all(fd, record, half);
        if (r < 0)
                return r;
        crash_point(STORE_CRASH_COMMIT_RECORD_HALF);
        r = fs_write_all(fd, record + half, n - half);
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        if (close(TAKE_FD(fd)) < 0)
                return -errno;
        return 0;
}

/* rename(2) that never replaces; where the file system lacks RENAME_NOREPLACE, a check
 * first (enough: the device lock keeps every other writer of the store out). */
static int rename_noreplace(int dir_fd, const char *from, const char *to) {
        struct stat st;

        if (renameat2(dir_fd, from, dir_fd, to, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        if (fstatat(dir_fd, to, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (renameat(dir_fd, from, dir_fd, to) < 0)
                return -errno;
        return 0;
}

int staging_commit(Staging *st, SnapshotInfo *info) {
        char record[COMMIT_MAX], id[32];
        SnapshotInfo c, newest;
        Store *s;
        int r, n;

        if (!st || !info)
                return -EINVAL;
        s = st->store;
        if (!s)
                return -ESTALE;
        if (strnlen(info->ios_version, sizeof(info->ios_version)) >= sizeof(info->ios_version))
                return -EINVAL;

        /* One syncfs instead of an fsync per file: the data the device sent is durable
         * before anything describes it. */
        if (syncfs(st->root_fd) < 0)
                return -errno;
        crash_point(STORE_CRASH_COMMIT_SYNCED);

        /* Only the store writes these names; a previous failed commit may have left them. */
        r = fs_rm_rf_at(st->root_fd, "index");
        if (r >= 0)
                r = fs_rm_rf_at(st->root_fd, "commit");
        if (r < 0)
                return r;

        c = *info;
        r = index_build(s, st, &c.files, &c.bytes);
        if (r < 0)
                return r;

        /* The new snapshot must sort last even if the clock went backwards. */
        c.end_usec = now_usec();
        r = newest_committed(s, &newest);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && c.end_usec <= newest.end_usec)
                c.end_usec = newest.end_usec + 1;
        strcpy(c.result, "done");

        n = commit_format(s->udid, &c, record, sizeof(record));
        if (n < 0)
                return n;
        r = commit_write(st, record, (size_t) n);
        if (r < 0)
                return r;
        if (fsync(st->root_fd) < 0)
                return -errno;
        crash_point(STORE_CRASH_COMMIT_RECORD_DONE);

        for (unsigned suffix = 1;; suffix++) {
                struct stat sb;

                if (suffix > 999999)
                        return -EEXIST;
                r = id_format(c.end_usec, suffix, id);
                if (r < 0)
                        return r;
                if (fstatat(s->snapshots_fd, id, &sb, AT_SYMLINK_NOFOLLOW) >= 0)
                        continue;
                r = rename_noreplace(s->snapshots_fd, st->name, id);
                if (r == -EEXIST || r == -ENOTEMPTY)
                        continue;
                if (r < 0)
                        return r;
                break;
        }

        /* Published. Nothing below may fail the commit: store_open() repairs `latest`. */
        st->name[0] = 0;
        strcpy(c.id, id);
        crash_point(STORE_CRASH_COMMIT_RENAMED);
        if (fsync(s->snapshots_fd) < 0)
                ids_debug("store: fsync of snapshots/ failed: %s", strerror(errno));

        r = latest_update(s, id);
        if (r < 0)
                ids_debug("store: failed to move 'latest' to %s, ignoring: %s", id,
                          strerror(-r));

        staging_abort(st);              /* nothing left to discard: only frees */
        *info = c;
        return 0;
}

/* ---- removal ------------------------------------------------------------------------- */

/* Move snapshots/<id> aside to .staging-rm-<id> (so that a crash never leaves a committed
 * record over a half-removed tree), repair `latest`, then delete the files. */
static int snapshot_remove(Store *s, const char *id) {
        char aside[64];
        int r;

        snprintf(aside, sizeof(aside), REMOVING_PREFIX "%s", id);
        r = fs_rm_rf_at(s->snapshots_fd, aside);
        if (r < 0)
                return r;
        if (renameat(s->snapshots_fd, id, s->snapshots_fd, aside) < 0)
                return -errno;
        if (fsync(s->snapshots_fd) < 0)
                return -errno;
        crash_point(STORE_CRASH_REMOVE_RENAMED);

        r = latest_repair(s);
        if (r < 0)
                ids_debug("store: failed to repair 'latest', ignoring: %s", strerror(-r));
        crash_point(STORE_CRASH_REMOVE_LATEST_MOVED);

        r = fs_rm_rf_at(s->snapshots_fd, aside);
        if (r < 0)
                ids_debug("store: failed to remove snapshots/%s (store_open() retries): %s",
                          aside, strerror(-r));
        return 0;
}

int store_delete(Store *s, const char *id) {
        SnapshotInfo info;
        int r;

        r = store_get(s, id, &info);
        if (r < 0)
                return r;

        return snapshot_remove(s, id);
}

/* Which snapshots go (list is sorted oldest first; the last one is the newest and stays):
 * with keep > 0 the newest `keep` are protected, with keep_days > 0 those younger than that
 * are protected, and a snapshot goes if a rule is set and it is protected by none of the
 * set rules. So Keep=5 alone keeps five, KeepDays=30 alone keeps a month, both together keep
 * the union (at least five, and all of the last month).
 *
 * Directories named like snapshots whose commit record is missing or fails its checksum,
 * older than the newest committed snapshot, are removed too: the commit protocol writes the
 * record before the directory gets its name, so such a directory is damage (or a foreign
 * copy), never a run in progress. A valid record this version cannot use (a newer format,
 * another device) is left alone. */
int store_prune(Store *s, unsigned keep, unsigned keep_days, uint64_t need_bytes) {
        _cleanup_(freep) SnapshotInfo *list = NULL, *bad = NULL;
        _cleanup_(freep) bool *gone = NULL;
        size_t n, nbad;
        uint64_t now = now_usec();
        int removed = 0, r;

        if (!s)
                return -EINVAL;

        r = scan(s, &list, &n, &bad, &nbad);
        if (r < 0)
                return r;
        if (n == 0)
                return 0;
        gone = calloc(n, sizeof(*gone));
        if (!gone)
                return -ENOMEM;

        if (keep > 0 || keep_days > 0)
                for (size_t i = 0; i + 1 < n; i++) {
                        bool by_count = keep > 0 && n - i <= keep;
                        bool by_age = keep_days > 0 &&
                                      list[i].end_usec + (uint64_t) keep_days * USEC_PER_DAY >=
                                              now;

                        if (by_count || by_age)
                                continue;
                        r = snapshot_remove(s, list[i].id);
                        if (r < 0)
                                return r;
                        gone[i] = true;
                        removed++;
                }

        for (size_t i = 0; i < nbad; i++) {
                if (id_compare(bad[i].id, list[n - 1].id) >= 0)
                        continue;
                ids_debug("store: removing snapshots/%s: no valid commit record", bad[i].id);
                r = snapshot_remove(s, bad[i].id);
                if (r < 0)
                        return r;
                removed++;
        }

        for (size_t i = 0; need_bytes > 0 && i + 1 < n; i++) {
                uint64_t avail = 0;

                r = store_free_space(s, &avail);
                if (r < 0)
                        return r;
                if (avail >= need_bytes)
                        break;
                if (gone[i])
                        continue;
                r = snapshot_remove(s, list[i].id);
                if (r < 0)
                        return r;
                gone[i] = true;
                removed++;
        }

        return removed;
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
        escape(path, len > 160 ? 160 : len, esc);
        snprintf(rep->first_problem, sizeof(rep->first_problem), "%s%s: %s", esc,
                 len > 160 ? "..." : "", what);
}

static int u64_compare(const void *x, const void *y) {
        uint64_t a = *(const uint64_t *) x, b = *(const uint64_t *) y;

        return (a > b) - (a < b);
}

static int verify_on_entry(Walk *walk, int dir_fd, int prev_dir_fd, const char *name,
                           unsigned char type) {
        Verifier *v = (Verifier *) walk;
        uint64_t h = path_hash(walk->path, walk->path_len);

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

        r = crc_file(fd, buf, &crc, &size);
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
                v->hashes[v->n_hashes++] = path_hash(e.path, e.path_len);

                r = verify_entry(&rep, udid_fd, &e, buf);
                if (r < 0)
                        break;
        }
        if (r >= 0 && rd->files != info.files)
                r = -EBADMSG;
        if (r >= 0 && udid_fd >= 0) {
                qsort(v->hashes, v->n_hashes, sizeof(*v->hashes), u64_compare);
                r = walk_dir(&v->walk, TAKE_FD(udid_fd), -EBADF, 0);
        }
        free(v->hashes);
        if (r < 0)
                return r;

        *ret = rep;
        return 0;
}
