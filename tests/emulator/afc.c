/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AFC (Apple File Conduit), the file service behind com.apple.afc (the profile's media/),
 * com.apple.crashreportcopymobile (crash/) and com.apple.mobile.house_arrest (apps/<id>/ after
 * one plist command); plus com.apple.crashreportmover, which only says "ping".
 *
 * The client is untrusted. A frame's lengths are checked before anything is allocated, and the
 * request buffer grows only as bytes actually arrive, so a declared 4 GiB costs nothing. Every
 * path is resolved beneath the service root one component at a time with openat(O_NOFOLLOW)
 * on directory fds: "..", absolute symlinks and symlinks that climb out of the root are
 * refused, and a symlink swapped in behind our back makes the final O_NOFOLLOW open fail
 * instead of leading outside. Relative symlinks that stay beneath the root are followed, as a
 * phone follows them within its own file system.
 *
 * FILE_READ is the emulator's hot path for throughput: the file is read straight behind the
 * reply header in one reused buffer and the reply leaves in a single write.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <plist/plist.h>

#include "emu.h"

#define AFC_MAGIC               "CFA6LPAA"
#define AFC_MAGIC_LEN           8
#define AFC_HEADER_SIZE         40u
#define AFC_PACKET_MAX          (64u << 20)     /* largest request we accept, header included */
#define AFC_READ_MAX            (4u << 20)      /* largest FILE_READ answer */
#define AFC_BODY_STEP           (64u << 10)     /* first allocation for a request body */
#define AFC_BUFFER_KEEP         (AFC_READ_MAX + AFC_HEADER_SIZE)  /* kept between requests */
#define AFC_FILES_MAX           64              /* open handles per connection */
#define AFC_SYMLINKS_MAX        40              /* as the kernel's MAXSYMLINKS */
#define AFC_DEPTH_MAX           128             /* directory levels a path may descend */
#define AFC_HASH_CHUNK          (256u << 10)
#define HOUSE_ARREST_REQUEST_MAX (64u << 10)

enum {
        AFC_OP_STATUS = 0x01,
        AFC_OP_DATA = 0x02,
        AFC_OP_READ_DIR = 0x03,
        AFC_OP_TRUNCATE = 0x07,
        AFC_OP_REMOVE_PATH = 0x08,
        AFC_OP_MAKE_DIR = 0x09,
        AFC_OP_GET_FILE_INFO = 0x0A,
        AFC_OP_GET_DEVINFO = 0x0B,
        AFC_OP_FILE_OPEN = 0x0D,
        AFC_OP_FILE_OPEN_RES = 0x0E,
        AFC_OP_FILE_READ = 0x0F,
        AFC_OP_FILE_WRITE = 0x10,
        AFC_OP_FILE_SEEK = 0x11,
        AFC_OP_FILE_TELL = 0x12,
        AFC_OP_FILE_TELL_RES = 0x13,
        AFC_OP_FILE_CLOSE = 0x14,
        AFC_OP_FILE_SET_SIZE = 0x15,
        AFC_OP_SET_CON_OPTIONS = 0x17,
        AFC_OP_RENAME_PATH = 0x18,
        AFC_OP_SET_FS_BS = 0x19,
        AFC_OP_SET_SOCKET_BS = 0x1A,
        AFC_OP_FILE_LOCK = 0x1B,
        AFC_OP_MAKE_LINK = 0x1C,
        AFC_OP_GET_FILE_HASH = 0x1D,
        AFC_OP_SET_FILE_MOD_TIME = 0x1E,
        AFC_OP_REMOVE_PATH_AND_CONTENTS = 0x22,
};

enum {
        AFC_E_SUCCESS = 0,
        AFC_E_UNKNOWN_ERROR = 1,
        AFC_E_OP_HEADER_INVALID = 2,
        AFC_E_NO_RESOURCES = 3,
        AFC_E_INVALID_ARG = 7,
        AFC_E_OBJECT_NOT_FOUND = 8,
        AFC_E_OBJECT_IS_DIR = 9,
        AFC_E_PERM_DENIED = 10,
        AFC_E_TOO_MUCH_DATA = 13,
        AFC_E_OP_NOT_SUPPORTED = 15,
        AFC_E_OBJECT_EXISTS = 16,
        AFC_E_OBJECT_BUSY = 17,
        AFC_E_NO_SPACE_LEFT = 18,
        AFC_E_OP_WOULD_BLOCK = 19,
        AFC_E_IO_ERROR = 20,
};

/* FILE_LOCK operations: each of SH/EX/UN may carry the non-blocking bit. */
enum {
        AFC_LOCK_SH = 1,
        AFC_LOCK_EX = 2,
        AFC_LOCK_NB = 4,
        AFC_LOCK_UN = 8,
};

enum {
        AFC_LINK_HARD = 1,
        AFC_LINK_SYMBOLIC = 2,
};

typedef struct AfcFile {
        uint64_t handle;                /* 0: free slot */
        int fd;                         /* -EBADF for a hostile name's made-up file */
        bool did_read, did_write;       /* for the device's files sent/received counters */
        uint64_t fake_left;             /* a hostile name's file: 'X' bytes still to read */
} AfcFile;

/* Which service an AFC connection is: what its stats and faults count. */
typedef enum AfcService {
        AFC_SERVICE_OTHER,              /* unit tests */
        AFC_SERVICE_MEDIA,              /* com.apple.afc */
        AFC_SERVICE_CRASH,              /* com.apple.crashreportcopymobile */
        AFC_SERVICE_HOUSE_ARREST,       /* house_arrest after VendDocuments/VendContainer */
} AfcService;

typedef struct Afc {
        Conn *conn;                     /* borrowed */
        int root_fd;                    /* O_PATH directory every path is resolved beneath */
        const char *only;               /* borrowed; the one top-level name allowed, or NULL */
        uint64_t packet_num;            /* of the request being answered */
        uint8_t *req;                   /* body of the current request, reused */
        size_t req_size;
        uint8_t *out;                   /* reply: 40 header bytes, then out_len data bytes */
        size_t out_size, out_len;
        uint64_t last_handle;
        AfcFile files[AFC_FILES_MAX];
        AfcService service;
} Afc;

/* Where a path leads beneath the root: the directory holding its last component, and that
 * component's name ("." when the path is a directory itself, e.g. the root). */
typedef struct AfcPath {
        int dir_fd;                     /* O_PATH, owned */
        bool is_root;                   /* the path is the AFC root itself */
        bool top;                       /* name lies directly in the root */
        char name[NAME_MAX + 1];
} AfcPath;

#define AFC_PATH_INIT { .dir_fd = -EBADF }

typedef int (*afc_op_fn)(Afc *a, const uint8_t *d, size_t n);

static void afc_path_done(AfcPath *p) {
        if (p->dir_fd >= 0)
                close(p->dir_fd);
        p->dir_fd = -EBADF;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static void put_le64(uint8_t *p, uint64_t v) {
        v = htole64(v);
        memcpy(p, &v, sizeof(v));
}

static uint64_t get_le64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return le64toh(v);
}

/* The u64 at d[off], false when the request is too short to hold it. */
static bool take_u64(const uint8_t *d, size_t n, size_t off, uint64_t *ret) {
        if (n < off || n - off < sizeof(uint64_t))
                return false;
        *ret = get_le64(d + off);
        return true;
}

static void afc_put_header(uint8_t *h, uint64_t entire, uint64_t this_len, uint64_t num,
                           uint64_t op) {
        memcpy(h, AFC_MAGIC, AFC_MAGIC_LEN);
        put_le64(h + 8, entire);
        put_le64(h + 16, this_len);
        put_le64(h + 24, num);
        put_le64(h + 32, op);
}

/* ---- replies ---------------------------------------------------------------------------- */

static uint64_t afc_status_from_errno(int r) {
        switch (-r) {
        case 0:
                return AFC_E_SUCCESS;
        case ENOENT:
        case ENOTDIR:
                return AFC_E_OBJECT_NOT_FOUND;
        case EISDIR:
                return AFC_E_OBJECT_IS_DIR;
        case EACCES:
        case EPERM:
        case EXDEV:                     /* our "escapes the root" */
        case ELOOP:
        case EROFS:
                return AFC_E_PERM_DENIED;
        case EEXIST:
                return AFC_E_OBJECT_EXISTS;
        case ENOTEMPTY:
                return AFC_E_UNKNOWN_ERROR;     /* libimobiledevice reads it as DIR_NOT_EMPTY */
        case ENOSPC:
        case EDQUOT:
        case EFBIG:
                return AFC_E_NO_SPACE_LEFT;
        case EWOULDBLOCK:
                return AFC_E_OP_WOULD_BLOCK;
        case EBUSY:
        case ETXTBSY:
                return AFC_E_OBJECT_BUSY;
        case EINVAL:
        case ENAMETOOLONG:
        case EBADF:
        case EOVERFLOW:
                return AFC_E_INVALID_ARG;
        case EMFILE:
        case ENFILE:
        case ENOMEM:
                return AFC_E_NO_RESOURCES;
        default:
                return AFC_E_IO_ERROR;
        }
}

/* STATUS, FILE_OPEN_RES and FILE_TELL_RES: one u64 in the header data (this = entire = 48),
 * where appium looks for it; libimobiledevice and pymobiledevice3 read it there as well. */
static int afc_send_u64(Afc *a, uint64_t op, uint64_t value) {
        uint8_t p[AFC_HEADER_SIZE + 8];

        afc_put_header(p, sizeof(p), sizeof(p), a->packet_num, op);
        put_le64(p + AFC_HEADER_SIZE, value);
        return conn_write_full(a->conn, p, sizeof(p));
}

static int afc_send_status(Afc *a, uint64_t status) {
        return afc_send_u64(a, AFC_OP_STATUS, status);
}

static int afc_send_errno(Afc *a, int r) {
        return afc_send_status(a, afc_status_from_errno(r));
}

/* Make room for n more data bytes behind the reply header. */
static int afc_out_reserve(Afc *a, size_t n) {
        size_t need = AFC_HEADER_SIZE + a->out_len + n, size;
        uint8_t *p;

        if (n > AFC_PACKET_MAX || need > AFC_PACKET_MAX)
                return -ENOMEM;
        if (need <= a->out_size)
                return 0;
        size = a->out_size < 4096 ? 4096 : a->out_size;
        while (size < need)
                size *= 2;
        p = realloc(a->out, size);
        if (!p)
                return -ENOMEM;
        a->out = p;
        a->out_size = size;
        return 0;
}

static int afc_out_add(Afc *a, const void *p, size_t n) {
        int r = afc_out_reserve(a, n);

        if (r < 0)
                return r;
        memcpy(a->out + AFC_HEADER_SIZE + a->out_len, p, n);
        a->out_len += n;
        return 0;
}

/* Append s with its NUL: the element of every list AFC sends (names, key/value pairs). */
static int afc_out_str(Afc *a, const char *s) {
        return afc_out_add(a, s, strlen(s) + 1);
}

static int afc_out_kv(Afc *a, const char *key, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int afc_out_kv(Afc *a, const char *key, const char *fmt, ...) {
        char value[64];
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vsnprintf(value, sizeof(value), fmt, ap);
        va_end(ap);
        if (r < 0 || (size_t) r >= sizeof(value))
                return -EINVAL;
        r = afc_out_str(a, key);
        if (r < 0)
                return r;
        return afc_out_str(a, value);
}

/* DATA: this = 40, the data is payload (appium reads it there; the others concatenate). */
static int afc_send_data(Afc *a) {
        int r = afc_out_reserve(a, 0);

        if (r < 0)
                return afc_send_errno(a, r);
        afc_put_header(a->out, AFC_HEADER_SIZE + a->out_len, AFC_HEADER_SIZE, a->packet_num,
                       AFC_OP_DATA);
        return conn_write_full(a->conn, a->out, AFC_HEADER_SIZE + a->out_len);
}

/* ---- paths ------------------------------------------------------------------------------ */

/* The string at d[*off]: up to its NUL, or to the end of the request (appium sends paths
 * without one). Moves *off past the string and its NUL. */
static const char *take_string(const uint8_t *d, size_t n, size_t *off, size_t *ret_len) {
        const char *s;
        const uint8_t *nul;
        size_t left;

        if (*off >= n) {
                *ret_len = 0;
                return "";
        }
        s = (const char *) d + *off;
        left = n - *off;
        nul = memchr(s, 0, left);
        *ret_len = nul ? (size_t) (nul - (const uint8_t *) s) : left;
        *off += nul ? *ret_len + 1 : *ret_len;
        return s;
}

/* Lexical normalisation of the n bytes at s into out: empty and "." components dropped, ".."
 * applied; "" is the root. -EXDEV when ".." climbs above the root, -ENAMETOOLONG. */
static int path_normalize(const char *s, size_t n, char out[static PATH_MAX]) {
        size_t len = 0, i = 0;

        while (i < n) {
                size_t start, clen;

                while (i < n && s[i] == '/')
                        i++;
                start = i;
                while (i < n && s[i] != '/')
                        i++;
                clen = i - start;

                if (clen == 0 || (clen == 1 && s[start] == '.'))
                        continue;
                if (clen == 2 && s[start] == '.' && s[start + 1] == '.') {
                        const char *slash;

                        if (len == 0)
                                return -EXDEV;
                        slash = memrchr(out, '/', len);
                        len = slash ? (size_t) (slash - out) : 0;
                        continue;
                }
                if (clen > NAME_MAX || len + 1 + clen >= PATH_MAX)
                        return -ENAMETOOLONG;
                if (len > 0)
                        out[len++] = '/';
                memcpy(out + len, s + start, clen);
                len += clen;
        }
        out[len] = 0;
        return 0;
}

/* Whether nothing but slashes and "." components follow. */
static bool rest_is_empty(const char *s) {
        for (;;) {
                while (*s == '/')
                        s++;
                if (*s == 0)
                        return true;
                if (s[0] != '.' || (s[1] != '/' && s[1] != 0))
                        return false;
                s++;
        }
}

/* Walk the normalised path beneath the root. Intermediate components must be directories
 * (symlinks among them followed while they stay beneath the root); the last one is followed
 * too if follow is set, and need not exist (so that callers can create it). With a->only set,
 * anything directly in the root but that name is -EACCES, also when a symlink leads there.
 * -EXDEV: a symlink leaves the root (absolute target, or ".." above it). */
static int afc_resolve(Afc *a, const char *path, bool follow, AfcPath *ret) {
        char todo[2 * PATH_MAX], comp[NAME_MAX + 1], target[PATH_MAX];
        int stack[AFC_DEPTH_MAX + 1];
        size_t depth = 0, pos = 0, plen = strlen(path);
        unsigned links = 0;
        int r;

        if (plen >= sizeof(todo))
                return -ENAMETOOLONG;
        memcpy(todo, path, plen + 1);

        stack[0] = fcntl(a->root_fd, F_DUPFD_CLOEXEC, 3);
        if (stack[0] < 0)
                return -errno;

        for (;;) {
                struct stat st;
                size_t start, clen;
                bool last;
                int fd;

                while (todo[pos] == '/')
                        pos++;
                if (todo[pos] == 0) {
                        /* Ended on a directory itself: the root, or "x/.." from a symlink. */
                        ret->is_root = depth == 0;
                        ret->top = false;
                        strcpy(ret->name, ".");
                        goto done;
                }
                start = pos;
                while (todo[pos] != 0 && todo[pos] != '/')
                        pos++;
                clen = pos - start;
                if (clen > NAME_MAX) {
                        r = -ENAMETOOLONG;
                        goto fail;
                }
                memcpy(comp, todo + start, clen);
                comp[clen] = 0;

                if (streq(comp, "."))
                        continue;
                if (streq(comp, "..")) {
                        if (depth == 0) {
                                r = -EXDEV;
                                goto fail;
                        }
                        close(stack[depth--]);
                        continue;
                }
                if (depth == 0 && a->only && !streq(comp, a->only)) {
                        r = -EACCES;
                        goto fail;
                }

                last = rest_is_empty(todo + pos);
                if (last && !follow)
                        goto found;

                fd = openat(stack[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0) {
                        if (errno == ENOENT && last)
                                goto found;
                        r = -errno;
                        goto fail;
                }
                if (fstat(fd, &st) < 0) {
                        r = -errno;
                        close(fd);
                        goto fail;
                }

                if (S_ISLNK(st.st_mode)) {
                        size_t rest;
                        ssize_t k;

                        if (++links > AFC_SYMLINKS_MAX) {
                                close(fd);
                                r = -ELOOP;
                                goto fail;
                        }
                        k = readlinkat(fd, "", target, sizeof(target));
                        r = -errno;
                        close(fd);
                        if (k < 0)
                                goto fail;
                        if (k == 0 || (size_t) k >= sizeof(target)) {
                                r = k == 0 ? -ENOENT : -ENAMETOOLONG;
                                goto fail;
                        }
                        if (target[0] == '/') {
                                r = -EXDEV;     /* a host path: outside the root by definition */
                                goto fail;
                        }
                        /* Go on with "<target>/<rest>". */
                        rest = strlen(todo + pos);
                        if ((size_t) k + 1 + rest + 1 > sizeof(todo)) {
                                r = -ENAMETOOLONG;
                                goto fail;
                        }
                        memmove(todo + k + 1, todo + pos, rest + 1);
                        memcpy(todo, target, (size_t) k);
                        todo[k] = '/';
                        pos = 0;
                        continue;
                }

                if (last) {
                        close(fd);
                        goto found;
                }
                if (!S_ISDIR(st.st_mode) || depth >= AFC_DEPTH_MAX) {
                        close(fd);
                        r = S_ISDIR(st.st_mode) ? -ELOOP : -ENOTDIR;
                        goto fail;
                }
                stack[++depth] = fd;
        }

found:
        ret->is_root = false;
        ret->top = depth == 0;
        strcpy(ret->name, comp);
done:
        ret->dir_fd = stack[depth];
        while (depth > 0)
                close(stack[--depth]);
        return 0;

fail:
        for (;;) {
                close(stack[depth]);
                if (depth == 0)
                        break;
                depth--;
        }
        return r;
}

/* Parse the path string at d[*off] and resolve it (see afc_resolve()). */
static int afc_take_path(Afc *a, const uint8_t *d, size_t n, size_t *off, bool follow,
                         AfcPath *ret) {
        char norm[PATH_MAX];
        const char *s;
        size_t len;
        int r;

        s = take_string(d, n, off, &len);
        r = path_normalize(s, len, norm);
        if (r < 0)
                return r;
        return afc_resolve(a, norm, follow, ret);
}

/* The root, and with a->only its one directory, can be read but never removed or renamed. */
static bool afc_path_protected(const Afc *a, const AfcPath *p) {
        return p->is_root || streq(p->name, ".") || (a->only && p->top);
}

/* Open the object p names; never follows a symlink (afc_resolve() already did, where allowed). */
static int afc_openat(const AfcPath *p, int flags, mode_t mode) {
        int fd = openat(p->dir_fd, p->name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, mode);

        return fd < 0 ? -errno : fd;
}

/* Open a regular file without blocking on FIFOs or devices; other types are refused. */
static int afc_open_regular(const AfcPath *p, int flags, mode_t mode) {
        struct stat st;
        int fd, fl;

        fd = afc_openat(p, flags | O_NONBLOCK, mode);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
            fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                close(fd);
                return S_ISDIR(st.st_mode) ? -EISDIR : -EPERM;
        }
        return fd;
}

/* ---- file handles ----------------------------------------------------------------------- */

/* The open file whose handle is the u64 at d[0], NULL if there is none. */
static AfcFile *afc_file_get(Afc *a, const uint8_t *d, size_t n) {
        uint64_t h;

        if (!take_u64(d, n, 0, &h) || h == 0)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(a->files); i++)
                if (a->files[i].handle == h)
                        return &a->files[i];
        return NULL;
}

static void afc_file_close(Afc *a, AfcFile *f, bool count) {
        if (count && a->conn->device && (f->did_read || f->did_write))
                device_count_files(a->conn->device, f->did_read, f->did_write);
        if (f->fd >= 0)
                close(f->fd);
        *f = (AfcFile) { .fd = -EBADF };
}

/* ---- stats and faults ------------------------------------------------------------------- */

typedef enum AfcCount {
        COUNT_REMOVE,                   /* a remove request; path decides dcim_removes */
        COUNT_RENAME,                   /* a rename request; dcim_removes if from /DCIM */
        COUNT_OPEN,
} AfcCount;

/* The request's first path string, normalised ("" when it climbs out or is too long). */
static void afc_peek_path(const uint8_t *d, size_t n, size_t off, char out[static PATH_MAX]) {
        size_t len;
        const char *s = take_string(d, n, &off, &len);

        if (path_normalize(s, len, out) < 0)
                out[0] = '\0';
}

static bool path_beneath(const char *p, const char *top) {
        size_t k = strlen(top);

        return strncmp(p, top, k) == 0 && (p[k] == '\0' || p[k] == '/');
}

/* Count one request of the device's AFC stats (nothing without a device). */
static void afc_count(Afc *a, AfcCount what, const uint8_t *d, size_t n, size_t off) {
        Device *dev = a->conn->device;
        char p[PATH_MAX];

        if (!dev)
                return;
        afc_peek_path(d, n, off, p);
        emu_lock();
        switch (what) {
        case COUNT_REMOVE:
                dev->stats.afc_removes++;
                if (a->service == AFC_SERVICE_HOUSE_ARREST)
                        dev->stats.doc_removes++;
                if (a->service == AFC_SERVICE_CRASH)
                        dev->stats.crash_removes++;
                if (a->service == AFC_SERVICE_MEDIA &&
                    (path_beneath(p, "DCIM") || path_beneath(p, "PhotoData")))
                        dev->stats.dcim_removes++;
                break;
        case COUNT_RENAME:
                if (a->service == AFC_SERVICE_MEDIA && path_beneath(p, "DCIM"))
                        dev->stats.dcim_removes++;
                if (a->service == AFC_SERVICE_HOUSE_ARREST)
                        dev->stats.doc_renames++;
                break;
        case COUNT_OPEN:
                if (a->service == AFC_SERVICE_MEDIA)
                        dev->stats.afc_opens++;
                break;
        }
        emu_unlock();
}

/* afc-hostile: names a careless host would turn into paths outside its library. They are
 * only ever listed and answered with made-up data; nothing is read or written for them. */
#define HOSTILE_LONG_LEN 4096
static const char *const hostile_names[] = {
        "../../escape.JPG", "a/../../b.JPG", "/etc/evil.JPG", "bad\nname.JPG", "link.JPG",
        NULL,                           /* the 4096-byte name, made on demand */
};

static const char *hostile_long_name(void) {
        static char name[HOSTILE_LONG_LEN + 1];

        if (!name[0]) {
                memset(name, 'L', HOSTILE_LONG_LEN - 4);
                memcpy(name + HOSTILE_LONG_LEN - 4, ".JPG", 5);
        }
        return name;
}

static bool afc_hostile_on(Afc *a) {
        bool on = false;

        if (!a->conn->device || (a->service != AFC_SERVICE_MEDIA &&
                                 a->service != AFC_SERVICE_CRASH &&
                                 a->service != AFC_SERVICE_HOUSE_ARREST))
                return false;
        emu_lock();
        on = a->conn->device->afc_faults.hostile;
        emu_unlock();
        return on;
}

/* The directory (raw, slashes and "." trimmed) where hostile names are listed: DCIM's first
 * folder, an app's Documents (house_arrest), or the crash-report root. */
static const char *hostile_dir(const Afc *a) {
        return a->service == AFC_SERVICE_MEDIA ? "DCIM/100APPLE" :
               a->service == AFC_SERVICE_HOUSE_ARREST ? "Documents" : "";
}

/* Skip leading slashes and "./" components of s[0…n). */
static size_t skip_slashes(const char *s, size_t n, size_t i) {
        for (;;) {
                if (i < n && s[i] == '/')
                        i++;
                else if (i + 1 < n && s[i] == '.' && s[i + 1] == '/')
                        i += 2;
                else
                        return i;
        }
}

/* Whether the request's path (raw, as a host would glue folder and name) names a hostile
 * entry; *ret_link tells the symlink. */
static bool afc_hostile_match(Afc *a, const uint8_t *d, size_t n, size_t off, bool *ret_link) {
        const char *dir, *s;
        size_t len, i, k;

        if (!afc_hostile_on(a))
                return false;
        s = take_string(d, n, &off, &len);
        dir = hostile_dir(a);
        k = strlen(dir);
        i = skip_slashes(s, len, 0);
        if (len - i < k || memcmp(s + i, dir, k) != 0)
                return false;
        i += k;
        if (k > 0) {
                if (i >= len || s[i] != '/')
                        return false;
                i = skip_slashes(s, len, i);
        }
        for (size_t j = 0; j < ELEMENTSOF(hostile_names); j++) {
                const char *h = hostile_names[j] ?: hostile_long_name();
                size_t hl;

                while (*h == '/')               /* "/etc/evil.JPG" glued after a slash */
                        h++;
                hl = strlen(h);
                if (len - i == hl && memcmp(s + i, h, hl) == 0) {
                        *ret_link = hostile_names[j] && streq(hostile_names[j], "link.JPG");
                        return true;
                }
        }
        return false;
}

/* The listing of a directory gets the hostile names if it is the one they go in. */
static int afc_hostile_list(Afc *a, const AfcPath *p, const uint8_t *d, size_t n) {
        char norm[PATH_MAX];
        int r = 0;

        if (!afc_hostile_on(a))
                return 0;
        afc_peek_path(d, n, 0, norm);
        if (!streq(norm, hostile_dir(a)))
                return 0;
        for (size_t j = 0; r >= 0 && j < ELEMENTSOF(hostile_names); j++)
                r = afc_out_str(a, hostile_names[j] ?: hostile_long_name());
        return r;
}

/* GET_FILE_INFO of a hostile name: a plausible 1000-byte photo, or the symlink. */
static int afc_hostile_info(Afc *a, bool link) {
        int r;

        a->out_len = 0;
        r = afc_out_kv(a, "st_size", "%u", link ? 11u : 1000u);
        if (r >= 0)
                r = afc_out_kv(a, "st_blocks", "%u", 8u);
        if (r >= 0)
                r = afc_out_kv(a, "st_nlink", "%u", 1u);
        if (r >= 0)
                r = afc_out_kv(a, "st_ifmt", "%s", link ? "S_IFLNK" : "S_IFREG");
        if (r >= 0)
                r = afc_out_kv(a, "st_mtime", "%" PRId64, INT64_C(1767225600000000000));
        if (r >= 0)
                r = afc_out_kv(a, "st_birthtime", "%" PRId64, INT64_C(1767225600000000000));
        if (r >= 0 && link)
                r = afc_out_kv(a, "LinkTarget", "%s", "/etc/passwd");
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_data(a);
}

/* FILE_READ accounting: counts content bytes, throttles (afc-slow), and fires
 * afc-detach-after-bytes. *got may shrink to what may still be sent; returns true if the
 * device is to be unplugged right after this reply. */
static bool afc_read_account(Afc *a, size_t *got, uint64_t *ret_slow) {
        Device *dev = a->conn->device;
        bool fire = false;

        *ret_slow = 0;
        if (!dev)
                return false;
        emu_lock();
        if (dev->afc_faults.detach_armed) {
                if (*got >= dev->afc_faults.detach_left) {
                        *got = (size_t) dev->afc_faults.detach_left;
                        dev->afc_faults.detach_armed = false;
                        dev->afc_faults.detach_left = 0;
                        fire = true;
                } else
                        dev->afc_faults.detach_left -= *got;
        }
        if (a->service == AFC_SERVICE_MEDIA)
                dev->stats.afc_read_bytes += *got;
        *ret_slow = dev->afc_faults.slow_bps;
        emu_unlock();
        return fire;
}

/**
 * afc_fault_command: the AFC faults of the control command `fault UDID MODE [ARG]`, with the
 * lock held: afc-detach-after-bytes N (unplug once N more FILE_READ bytes went out, on any
 * AFC connection; clears itself), afc-hostile (hostile names in /DCIM/100APPLE, every
 * vended app's Documents and the crash-report root), afc-slow BYTES_PER_SEC (0 = off), doc-detach-after-bytes N (unplug
 * once the host wrote N more bytes with FILE_WRITE on house_arrest connections: the write
 * that crosses N stores only the bytes up to it and gets no reply; clears itself).
 * @d: the device (borrowed). @argc, @argv: MODE and its argument (borrowed).
 * @reply, @n: the one-line answer, "ok ..." or "err ...".
 * Returns false (and writes nothing) if MODE is not one of these.
 */
bool afc_fault_command(Device *d, int argc, char **argv, char *reply, size_t n) {
        unsigned long long v = 0;
        char *end = NULL;

        if (argc < 1 || (strncmp(argv[0], "afc-", 4) != 0 &&
                         !streq(argv[0], "doc-detach-after-bytes")))
                return false;
        if (argc >= 2) {
                errno = 0;
                v = strtoull(argv[1], &end, 10);
        }
        if (streq(argv[0], "afc-hostile") && argc == 1) {
                d->afc_faults.hostile = true;
                snprintf(reply, n, "ok fault %s afc-hostile", d->udid);
        } else if (streq(argv[0], "afc-detach-after-bytes") && argc == 2 && !*end && !errno &&
                   argv[1][0] != '-') {
                d->afc_faults.detach_armed = true;
                d->afc_faults.detach_left = v;
                snprintf(reply, n, "ok fault %s afc-detach-after-bytes %llu", d->udid, v);
        } else if (streq(argv[0], "doc-detach-after-bytes") && argc == 2 && !*end && !errno &&
                   argv[1][0] != '-') {
                d->afc_faults.doc_detach_armed = true;
                d->afc_faults.doc_detach_left = v;
                snprintf(reply, n, "ok fault %s doc-detach-after-bytes %llu", d->udid, v);
        } else if (streq(argv[0], "afc-slow") && argc == 2 && !*end && !errno &&
                   argv[1][0] != '-') {
                d->afc_faults.slow_bps = v;
                snprintf(reply, n, "ok fault %s afc-slow %llu", d->udid, v);
        } else
                snprintf(reply, n, "err usage: fault UDID afc-detach-after-bytes N | afc-hostile | "
                                   "afc-slow BYTES_PER_SEC | doc-detach-after-bytes N");
        return true;
}

/* `fault UDID none`: no AFC fault any more. Lock held. */
void afc_faults_clear(Device *d) {
        d->afc_faults = (AfcFaults) {};
}

/* ---- operations ------------------------------------------------------------------------- */

static int cmp_names(const void *x, const void *y) {
        return strcmp(*(char *const *) x, *(char *const *) y);
}

typedef struct Names {
        char **v;
        size_t n, size;
} Names;

static void names_done(Names *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
}

static int names_add(Names *l, const char *s) {
        if (l->n == l->size) {
                size_t size = l->size ? l->size * 2 : 64;
                char **v = reallocarray(l->v, size, sizeof(char *));

                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->size = size;
        }
        l->v[l->n] = strdup(s);
        if (!l->v[l->n])
                return -ENOMEM;
        l->n++;
        return 0;
}

/* READ_DIR: ".", ".." (pymobiledevice3 drops the first two entries blindly), then the names
 * sorted, so listings are the same on every run. With a->only the root shows that name only. */
static int afc_op_read_dir(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        _cleanup_(names_done) Names names = {};
        _cleanup_(closedirp) DIR *dir = NULL;
        size_t off = 0;
        int fd, r;

        r = afc_take_path(a, d, n, &off, true, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        fd = afc_openat(&p, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return afc_send_errno(a, fd);
        dir = fdopendir(fd);
        if (!dir) {
                r = -errno;
                close(fd);
                return afc_send_errno(a, r);
        }

        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return afc_send_errno(a, -errno);
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (p.is_root && a->only && !streq(de->d_name, a->only))
                        continue;
                r = names_add(&names, de->d_name);
                if (r < 0)
                        return afc_send_errno(a, r);
        }
        if (names.n > 1)
                qsort(names.v, names.n, sizeof(char *), cmp_names);

        a->out_len = 0;
        r = afc_out_add(a, ".\0..", 5);
        for (size_t i = 0; r >= 0 && i < names.n; i++)
                r = afc_out_str(a, names.v[i]);
        if (r >= 0)
                r = afc_hostile_list(a, &p, d, n);
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_data(a);
}

static const char *ifmt_to_string(mode_t m) {
        switch (m & S_IFMT) {
        case S_IFREG:
                return "S_IFREG";
        case S_IFDIR:
                return "S_IFDIR";
        case S_IFLNK:
                return "S_IFLNK";
        case S_IFCHR:
                return "S_IFCHR";
        case S_IFBLK:
                return "S_IFBLK";
        case S_IFIFO:
                return "S_IFIFO";
        case S_IFSOCK:
                return "S_IFSOCK";
        default:
                return "S_IFREG";
        }
}

/* Nanoseconds since the epoch, clamped (SET_FILE_MOD_TIME lets clients store any u64). */
static int64_t timestamp_ns(const struct statx_timestamp *t) {
        int64_t ns;

        if (__builtin_mul_overflow(t->tv_sec, (int64_t) 1000000000, &ns) ||
            __builtin_add_overflow(ns, (int64_t) t->tv_nsec, &ns))
                return t->tv_sec < 0 ? INT64_MIN : INT64_MAX;
        return ns;
}

/* GET_FILE_INFO: lstat() of the path; times in ns; LinkTarget for symlinks (its stored text,
 * which idevicecrashreport reduces to the basename anyway). */
static int afc_op_get_file_info(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        struct statx stx;
        size_t off = 0;
        int64_t mtime, btime;
        bool link;
        int r;

        if (afc_hostile_match(a, d, n, 0, &link))
                return afc_hostile_info(a, link);
        r = afc_take_path(a, d, n, &off, false, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        if (statx(p.dir_fd, p.name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME,
                  &stx) < 0)
                return afc_send_errno(a, -errno);

        mtime = timestamp_ns(&stx.stx_mtime);
        btime = (stx.stx_mask & STATX_BTIME) ? timestamp_ns(&stx.stx_btime) : mtime;

        a->out_len = 0;
        r = afc_out_kv(a, "st_size", "%" PRIu64, (uint64_t) stx.stx_size);
        if (r >= 0)
                r = afc_out_kv(a, "st_blocks", "%" PRIu64, (uint64_t) stx.stx_blocks);
        if (r >= 0)
                r = afc_out_kv(a, "st_nlink", "%" PRIu32, (uint32_t) stx.stx_nlink);
        if (r >= 0)
                r = afc_out_kv(a, "st_ifmt", "%s", ifmt_to_string(stx.stx_mode));
        if (r >= 0)
                r = afc_out_kv(a, "st_mtime", "%" PRId64, mtime);
        if (r >= 0)
                r = afc_out_kv(a, "st_birthtime", "%" PRId64, btime);
        if (r >= 0 && S_ISLNK(stx.stx_mode)) {
                char target[PATH_MAX];
                ssize_t k = readlinkat(p.dir_fd, p.name, target, sizeof(target) - 1);

                if (k >= 0) {
                        target[k] = 0;
                        r = afc_out_str(a, "LinkTarget");
                        if (r >= 0)
                                r = afc_out_str(a, target);
                }
        }
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_data(a);
}

/* GET_DEVINFO: the profile's model and disk figures where it has them, else the host file
 * system's beneath the root. */
static int afc_op_get_devinfo(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        uint64_t total = 0, avail = 0, bsize = 4096;
        const char *model = "iPhone15,2";
        struct statvfs sv;
        int r;

        if (fstatvfs(a->root_fd, &sv) == 0) {
                total = (uint64_t) sv.f_blocks * sv.f_frsize;
                avail = (uint64_t) sv.f_bavail * sv.f_frsize;
                if (sv.f_bsize > 0)
                        bsize = sv.f_bsize;
        }
        if (a->conn->device && device_read_info(a->conn->device, &info) >= 0) {
                if (info->product)
                        model = info->product;
                if (info->disk_total > 0)
                        total = info->disk_total;
                if (info->disk_free > 0)
                        avail = info->disk_free;
                if (avail > total)
                        avail = total;
        }

        a->out_len = 0;
        r = afc_out_kv(a, "Model", "%s", model);
        if (r >= 0)
                r = afc_out_kv(a, "FSTotalBytes", "%" PRIu64, total);
        if (r >= 0)
                r = afc_out_kv(a, "FSFreeBytes", "%" PRIu64, avail);
        if (r >= 0)
                r = afc_out_kv(a, "FSBlockSize", "%" PRIu64, bsize);
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_data(a);
}

/* MAKE_DIR: like mkdir -p; an existing directory is success, an existing file is not. */
static int afc_op_make_dir(Afc *a, const uint8_t *d, size_t n) {
        char norm[PATH_MAX], prefix[PATH_MAX];
        const char *s;
        size_t off = 0, len;
        int r;

        s = take_string(d, n, &off, &len);
        r = path_normalize(s, len, norm);
        if (r < 0)
                return afc_send_errno(a, r);

        len = strlen(norm);
        for (size_t i = 0; i <= len; i++) {
                _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
                struct stat st;

                if (i < len && norm[i] != '/')
                        continue;
                memcpy(prefix, norm, i);
                prefix[i] = 0;

                r = afc_resolve(a, prefix, true, &p);
                if (r < 0)
                        return afc_send_errno(a, r);
                if (mkdirat(p.dir_fd, p.name, 0755) == 0)
                        continue;
                if (errno != EEXIST)
                        return afc_send_errno(a, -errno);
                if (fstatat(p.dir_fd, p.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return afc_send_errno(a, -errno);
                if (!S_ISDIR(st.st_mode))
                        return afc_send_errno(a, -EEXIST);
        }
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* REMOVE_PATH: a file, symlink or empty directory; a non-empty directory is UNKNOWN_ERROR,
 * which libimobiledevice reports as AFC_E_DIR_NOT_EMPTY. */
static int afc_op_remove_path(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        struct stat st;
        size_t off = 0;
        int r;

        afc_count(a, COUNT_REMOVE, d, n, 0);

        r = afc_take_path(a, d, n, &off, false, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        if (afc_path_protected(a, &p))
                return afc_send_errno(a, -EACCES);
        if (fstatat(p.dir_fd, p.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return afc_send_errno(a, -errno);
        r = unlinkat(p.dir_fd, p.name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
        if (r == -EEXIST)
                r = -ENOTEMPTY;                 /* rmdir(2) may say either */
        return afc_send_errno(a, r);
}

/* rm -r of name in dir_fd without following symlinks. */
static int remove_tree(int dir_fd, const char *name, unsigned level) {
        _cleanup_(closedirp) DIR *dir = NULL;
        struct stat st;
        int fd;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
        if (level >= AFC_DEPTH_MAX)
                return -ELOOP;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                int r = -errno;

                close(fd);
                return r;
        }
        for (;;) {
                struct dirent *de;
                int r;

                errno = 0;
                de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        break;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = remove_tree(dirfd(dir), de->d_name, level + 1);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* REMOVE_PATH_AND_CONTENTS: recursive delete (appium's rmdir). */
static int afc_op_remove_path_and_contents(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        size_t off = 0;
        int r;

        afc_count(a, COUNT_REMOVE, d, n, 0);

        r = afc_take_path(a, d, n, &off, false, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        if (afc_path_protected(a, &p))
                return afc_send_errno(a, -EACCES);
        r = remove_tree(p.dir_fd, p.name, 0);
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* RENAME_PATH: "from\0to\0"; the last NUL may be missing. */
static int afc_op_rename_path(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath from = AFC_PATH_INIT, to = AFC_PATH_INIT;
        size_t off = 0;
        int r;

        afc_count(a, COUNT_RENAME, d, n, 0);

        r = afc_take_path(a, d, n, &off, false, &from);
        if (r < 0)
                return afc_send_errno(a, r);
        if (off >= n)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        r = afc_take_path(a, d, n, &off, false, &to);
        if (r < 0)
                return afc_send_errno(a, r);
        if (afc_path_protected(a, &from) || afc_path_protected(a, &to))
                return afc_send_errno(a, -EACCES);
        if (renameat(from.dir_fd, from.name, to.dir_fd, to.name) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* FILE_OPEN: u64 mode + path; the handle (never 0) comes back in FILE_OPEN_RES. */
static int afc_op_file_open(Afc *a, const uint8_t *d, size_t n) {
        static const int modes[] = {
                [1] = O_RDONLY,                                 /* r */
                [2] = O_RDWR | O_CREAT,                         /* r+ */
                [3] = O_WRONLY | O_CREAT | O_TRUNC,             /* w */
                [4] = O_RDWR | O_CREAT | O_TRUNC,               /* w+ */
                [5] = O_WRONLY | O_APPEND | O_CREAT,            /* a */
                [6] = O_RDWR | O_APPEND | O_CREAT,              /* a+ */
        };
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        AfcFile *f = NULL;
        uint64_t mode;
        size_t off = 8;
        bool link;
        int fd, r;

        afc_count(a, COUNT_OPEN, d, n, 8);
        if (!take_u64(d, n, 0, &mode) || mode < 1 || mode >= ELEMENTSOF(modes))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        if (afc_hostile_match(a, d, n, 8, &link)) {
                /* Read-only opens get 1000 made-up bytes; nothing is written for them. */
                if (mode != 1)
                        return afc_send_status(a, AFC_E_PERM_DENIED);
                for (size_t i = 0; i < ELEMENTSOF(a->files); i++)
                        if (a->files[i].handle == 0) {
                                a->files[i] = (AfcFile) { .handle = ++a->last_handle,
                                                          .fd = -EBADF, .fake_left = 1000 };
                                return afc_send_u64(a, AFC_OP_FILE_OPEN_RES, a->files[i].handle);
                        }
                return afc_send_status(a, AFC_E_NO_RESOURCES);
        }
        r = afc_take_path(a, d, n, &off, true, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        if (streq(p.name, "."))
                return afc_send_status(a, AFC_E_OBJECT_IS_DIR);

        for (size_t i = 0; i < ELEMENTSOF(a->files); i++)
                if (a->files[i].handle == 0) {
                        f = &a->files[i];
                        break;
                }
        if (!f)
                return afc_send_status(a, AFC_E_NO_RESOURCES);

        fd = afc_open_regular(&p, modes[mode], 0644);
        if (fd < 0)
                return afc_send_errno(a, fd);
        *f = (AfcFile) { .handle = ++a->last_handle, .fd = fd };
        return afc_send_u64(a, AFC_OP_FILE_OPEN_RES, f->handle);
}

/* FILE_READ: u64 handle + u64 length; at most AFC_READ_MAX per reply, 0 bytes at EOF. */
static int afc_op_file_read(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);
        uint64_t want, slow;
        size_t got = 0;
        bool fire;
        int r;

        if (!f || !take_u64(d, n, 8, &want))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        if (want > AFC_READ_MAX)
                want = AFC_READ_MAX;

        a->out_len = 0;
        r = afc_out_reserve(a, want);
        if (r < 0)
                return afc_send_errno(a, r);
        if (f->fd < 0) {                        /* a hostile name's made-up file */
                got = want < f->fake_left ? (size_t) want : (size_t) f->fake_left;
                memset(a->out + AFC_HEADER_SIZE, 'X', got);
                f->fake_left -= got;
                want = got;
        }
        while (got < want) {
                ssize_t k = read(f->fd, a->out + AFC_HEADER_SIZE + got, want - got);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        if (got > 0)
                                break;
                        return afc_send_errno(a, -errno);
                }
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        f->did_read = true;
        fire = afc_read_account(a, &got, &slow);
        a->out_len = got;
        r = afc_send_data(a);
        if (r >= 0 && slow > 0 && got > 0)     /* afc-slow: as if the link carried slow B/s */
                (void) usleep((useconds_t) ((uint64_t) got * 1000000 / slow));
        if (fire) {                             /* afc-detach-after-bytes: the cable is out */
                log_info("%s: AFC read limit reached, detaching", a->conn->device->udid);
                emu_lock();
                device_detach(a->conn->device);
                emu_broadcast();
                emu_unlock();
                return -ECONNRESET;
        }
        return r;
}

/* doc-detach-after-bytes: counts a house_arrest FILE_WRITE of *n bytes; *n may shrink to
 * what may still be written. Returns true if the device is to be unplugged after it. */
static bool afc_write_account(Afc *a, size_t *n) {
        Device *dev = a->conn->device;
        bool fire = false;

        if (!dev || a->service != AFC_SERVICE_HOUSE_ARREST)
                return false;
        emu_lock();
        dev->stats.doc_writes++;
        if (dev->afc_faults.doc_detach_armed) {
                if (*n >= dev->afc_faults.doc_detach_left) {
                        *n = (size_t) dev->afc_faults.doc_detach_left;
                        dev->afc_faults.doc_detach_armed = false;
                        dev->afc_faults.doc_detach_left = 0;
                        fire = true;
                } else
                        dev->afc_faults.doc_detach_left -= *n;
        }
        emu_unlock();
        return fire;
}

/* FILE_WRITE: u64 handle, then the data (libimobiledevice and appium put it in the payload;
 * the split between header data and payload does not matter here). */
static int afc_op_file_write(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);
        bool fire;

        if (!f || f->fd < 0)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        d += 8;
        n -= 8;
        fire = afc_write_account(a, &n);
        while (n > 0) {
                ssize_t k = write(f->fd, d, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && !fire)
                        return afc_send_errno(a, -errno);
                if (k < 0)
                        break;
                d += k;
                n -= (size_t) k;
        }
        f->did_write = true;
        if (fire) {                             /* doc-detach-after-bytes: the cable is out */
                log_info("%s: house_arrest write limit reached, detaching",
                         a->conn->device->udid);
                emu_lock();
                device_detach(a->conn->device);
                emu_broadcast();
                emu_unlock();
                return -ECONNRESET;
        }
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* FILE_SEEK: u64 handle + u64 whence (0 SET, 1 CUR, 2 END) + i64 offset. */
static int afc_op_file_seek(Afc *a, const uint8_t *d, size_t n) {
        static const int whences[] = { SEEK_SET, SEEK_CUR, SEEK_END };
        AfcFile *f = afc_file_get(a, d, n);
        uint64_t whence, offset;

        if (!f || !take_u64(d, n, 8, &whence) || !take_u64(d, n, 16, &offset) ||
            whence >= ELEMENTSOF(whences))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        if (lseek(f->fd, (off_t) (int64_t) offset, whences[whence]) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

static int afc_op_file_tell(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);
        off_t pos;

        if (!f)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        pos = lseek(f->fd, 0, SEEK_CUR);
        if (pos < 0)
                return afc_send_errno(a, -errno);
        return afc_send_u64(a, AFC_OP_FILE_TELL_RES, (uint64_t) pos);
}

/* FILE_CLOSE: counts a file as sent or received for the device's stats if it was read or
 * written (a handle still open when the connection drops counts nothing). */
static int afc_op_file_close(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);

        if (!f)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        afc_file_close(a, f, true);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* FILE_SET_SIZE: u64 handle + u64 size. */
static int afc_op_file_set_size(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);
        uint64_t size;

        if (!f || !take_u64(d, n, 8, &size) || size > INT64_MAX)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        if (ftruncate(f->fd, (off_t) size) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* TRUNCATE: u64 size + path. */
static int afc_op_truncate(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        uint64_t size;
        size_t off = 8;
        int fd, r;

        if (!take_u64(d, n, 0, &size) || size > INT64_MAX)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        r = afc_take_path(a, d, n, &off, true, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        fd = afc_open_regular(&p, O_WRONLY, 0);
        if (fd < 0)
                return afc_send_errno(a, fd);
        r = ftruncate(fd, (off_t) size) < 0 ? -errno : 0;
        close(fd);
        return afc_send_errno(a, r);
}

/* FILE_LOCK: u64 handle + u64 op (5 shared, 6 exclusive, 12 unlock). A request without the
 * non-blocking bit is served non-blocking too: a blocked flock() could not be cut by a cable
 * pull, and every client we serve sets the bit. */
static int afc_op_file_lock(Afc *a, const uint8_t *d, size_t n) {
        AfcFile *f = afc_file_get(a, d, n);
        uint64_t op;
        int how;

        if (!f || !take_u64(d, n, 8, &op))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        switch (op & ~(uint64_t) AFC_LOCK_NB) {
        case AFC_LOCK_SH:
                how = LOCK_SH;
                break;
        case AFC_LOCK_EX:
                how = LOCK_EX;
                break;
        case AFC_LOCK_UN:
                how = LOCK_UN;
                break;
        default:
                return afc_send_status(a, AFC_E_INVALID_ARG);
        }
        if (flock(f->fd, how | LOCK_NB) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* The text to store for a symlink at link (normalised) pointing to target, or -EXDEV when the
 * target lies outside the root (or outside a->only). Relative targets are stored as given;
 * absolute ones (device paths, "/" = the AFC root) are made relative to the link. */
static int symlink_text(const Afc *a, const char *link, const char *target, size_t tlen,
                        char ret[static PATH_MAX]) {
        char joined[2 * PATH_MAX + 1], norm[PATH_MAX];
        const char *slash = strrchr(link, '/');
        size_t plen = slash ? (size_t) (slash - link) : 0, len = 0;
        int r;

        if (tlen == 0 || tlen >= PATH_MAX)
                return -EINVAL;
        if (target[0] == '/')
                r = path_normalize(target, tlen, norm);
        else {
                /* Where the target lies, seen from the root: the link's directory + target. */
                memcpy(joined, link, plen);
                joined[plen] = '/';
                memcpy(joined + plen + 1, target, tlen);
                r = path_normalize(joined, plen + 1 + tlen, norm);
        }
        if (r < 0)
                return r;
        if (a->only) {
                size_t olen = strlen(a->only);

                if (strncmp(norm, a->only, olen) != 0 || (norm[olen] != 0 && norm[olen] != '/'))
                        return -EXDEV;
        }

        if (target[0] != '/') {
                memcpy(ret, target, tlen);
                ret[tlen] = 0;
                return 0;
        }
        /* One "../" per directory level of the link, then the target from the root. */
        for (size_t i = 0; i < plen + (plen > 0); i++)
                if (i == plen || link[i] == '/') {
                        if (len + 3 >= PATH_MAX)
                                return -ENAMETOOLONG;
                        memcpy(ret + len, "../", 3);
                        len += 3;
                }
        if (norm[0] == 0)
                norm[0] = '.', norm[1] = 0;
        if (len + strlen(norm) >= PATH_MAX)
                return -ENAMETOOLONG;
        strcpy(ret + len, norm);
        return 0;
}

/* MAKE_LINK: u64 type (1 hard, 2 symbolic) + target\0 + linkname\0; both ends stay beneath
 * the root (and a->only). */
static int afc_op_make_link(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath target = AFC_PATH_INIT, link = AFC_PATH_INIT;
        char text[PATH_MAX], lnorm[PATH_MAX];
        const char *t, *l;
        size_t off = 8, tlen, llen;
        uint64_t type;
        int r;

        if (!take_u64(d, n, 0, &type) || (type != AFC_LINK_HARD && type != AFC_LINK_SYMBOLIC))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        t = take_string(d, n, &off, &tlen);
        if (off >= n)
                return afc_send_status(a, AFC_E_INVALID_ARG);
        l = take_string(d, n, &off, &llen);
        r = path_normalize(l, llen, lnorm);
        if (r < 0)
                return afc_send_errno(a, r);
        r = afc_resolve(a, lnorm, false, &link);
        if (r < 0)
                return afc_send_errno(a, r);
        if (afc_path_protected(a, &link))
                return afc_send_errno(a, -EEXIST);

        if (type == AFC_LINK_SYMBOLIC) {
                r = symlink_text(a, lnorm, t, tlen, text);
                if (r < 0)
                        return afc_send_errno(a, r);
                if (symlinkat(text, link.dir_fd, link.name) < 0)
                        return afc_send_errno(a, -errno);
                return afc_send_status(a, AFC_E_SUCCESS);
        }

        off = 8;
        r = afc_take_path(a, d, n, &off, false, &target);
        if (r < 0)
                return afc_send_errno(a, r);
        if (linkat(target.dir_fd, target.name, link.dir_fd, link.name, 0) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* SET_FILE_MOD_TIME: u64 mtime in ns + path. */
static int afc_op_set_file_mod_time(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT } };
        uint64_t ns;
        size_t off = 8;
        int r;

        if (!take_u64(d, n, 0, &ns))
                return afc_send_status(a, AFC_E_INVALID_ARG);
        r = afc_take_path(a, d, n, &off, true, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        ts[1].tv_sec = (time_t) (ns / 1000000000);
        ts[1].tv_nsec = (long) (ns % 1000000000);
        if (utimensat(p.dir_fd, p.name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return afc_send_errno(a, -errno);
        return afc_send_status(a, AFC_E_SUCCESS);
}

/* GET_FILE_HASH: the SHA-1 of a file's content, 20 raw bytes. */
static int afc_op_get_file_hash(Afc *a, const uint8_t *d, size_t n) {
        _cleanup_(afc_path_done) AfcPath p = AFC_PATH_INIT;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_MD_CTX *ctx = NULL;
        size_t off = 0;
        int fd, r;

        r = afc_take_path(a, d, n, &off, true, &p);
        if (r < 0)
                return afc_send_errno(a, r);
        fd = afc_open_regular(&p, O_RDONLY, 0);
        if (fd < 0)
                return afc_send_errno(a, fd);

        /* The reply buffer doubles as read buffer: the digest is all that is sent. */
        a->out_len = 0;
        r = afc_out_reserve(a, AFC_HASH_CHUNK);
        ctx = EVP_MD_CTX_new();
        if (r >= 0 && (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1))
                r = -ENOMEM;
        while (r >= 0) {
                ssize_t k = read(fd, a->out + AFC_HEADER_SIZE, AFC_HASH_CHUNK);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        r = -errno;
                else if (k == 0)
                        break;
                else if (EVP_DigestUpdate(ctx, a->out + AFC_HEADER_SIZE, (size_t) k) != 1)
                        r = -ENOMEM;
        }
        if (r >= 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -ENOMEM;
        EVP_MD_CTX_free(ctx);
        close(fd);
        if (r < 0)
                return afc_send_errno(a, r);
        r = afc_out_add(a, md, md_len);
        if (r < 0)
                return afc_send_errno(a, r);
        return afc_send_data(a);
}

/* Block sizes and connection options only tune a real device's buffers: accept them. */
static int afc_op_accept(Afc *a, const uint8_t *d, size_t n) {
        return afc_send_status(a, AFC_E_SUCCESS);
}

static const afc_op_fn afc_ops[] = {
        [AFC_OP_READ_DIR] = afc_op_read_dir,
        [AFC_OP_TRUNCATE] = afc_op_truncate,
        [AFC_OP_REMOVE_PATH] = afc_op_remove_path,
        [AFC_OP_MAKE_DIR] = afc_op_make_dir,
        [AFC_OP_GET_FILE_INFO] = afc_op_get_file_info,
        [AFC_OP_GET_DEVINFO] = afc_op_get_devinfo,
        [AFC_OP_FILE_OPEN] = afc_op_file_open,
        [AFC_OP_FILE_READ] = afc_op_file_read,
        [AFC_OP_FILE_WRITE] = afc_op_file_write,
        [AFC_OP_FILE_SEEK] = afc_op_file_seek,
        [AFC_OP_FILE_TELL] = afc_op_file_tell,
        [AFC_OP_FILE_CLOSE] = afc_op_file_close,
        [AFC_OP_FILE_SET_SIZE] = afc_op_file_set_size,
        [AFC_OP_SET_CON_OPTIONS] = afc_op_accept,
        [AFC_OP_RENAME_PATH] = afc_op_rename_path,
        [AFC_OP_SET_FS_BS] = afc_op_accept,
        [AFC_OP_SET_SOCKET_BS] = afc_op_accept,
        [AFC_OP_FILE_LOCK] = afc_op_file_lock,
        [AFC_OP_MAKE_LINK] = afc_op_make_link,
        [AFC_OP_GET_FILE_HASH] = afc_op_get_file_hash,
        [AFC_OP_SET_FILE_MOD_TIME] = afc_op_set_file_mod_time,
        [AFC_OP_REMOVE_PATH_AND_CONTENTS] = afc_op_remove_path_and_contents,
};

/* ---- the connection --------------------------------------------------------------------- */

/* Read the n body bytes of a request into a->req, growing it only as data arrives. */
static int afc_read_body(Afc *a, size_t n) {
        size_t got = 0;

        while (got < n) {
                size_t chunk;
                int r;

                if (got == a->req_size) {
                        size_t size = a->req_size < AFC_BODY_STEP ? AFC_BODY_STEP : a->req_size * 2;
                        uint8_t *p;

                        if (size > n)
                                size = n;
                        p = realloc(a->req, size);
                        if (!p)
                                return -ENOMEM;
                        a->req = p;
                        a->req_size = size;
                }
                chunk = (n < a->req_size ? n : a->req_size) - got;
                r = conn_read_full(a->conn, a->req + got, chunk);
                if (r < 0)
                        return r;
                got += chunk;
        }
        return 0;
}

static void afc_done(Afc *a) {
        for (size_t i = 0; i < ELEMENTSOF(a->files); i++)
                if (a->files[i].handle != 0)
                        afc_file_close(a, &a->files[i], false);
        if (a->root_fd >= 0)
                close(a->root_fd);
        free(a->req);
        free(a->out);
}

/* Serve one request. 0: go on; < 0: the connection is done (EOF, I/O error, or a frame we
 * cannot resynchronise after, which was answered with a STATUS first). */
static int afc_serve_one(Afc *a) {
        uint8_t h[AFC_HEADER_SIZE];
        uint64_t entire, this_len, op;
        afc_op_fn fn;
        int r;

        r = conn_read_full(a->conn, h, sizeof(h));
        if (r < 0)
                return r;
        entire = get_le64(h + 8);
        this_len = get_le64(h + 16);
        a->packet_num = get_le64(h + 24);
        op = get_le64(h + 32);

        if (memcmp(h, AFC_MAGIC, AFC_MAGIC_LEN) != 0) {
                log_warn("AFC: bad magic, closing");
                (void) afc_send_status(a, AFC_E_OP_HEADER_INVALID);
                return -EBADMSG;
        }
        if (entire < AFC_HEADER_SIZE || this_len < AFC_HEADER_SIZE || this_len > entire) {
                log_warn("AFC: bad lengths %" PRIu64 "/%" PRIu64 ", closing", this_len, entire);
                (void) afc_send_status(a, AFC_E_OP_HEADER_INVALID);
                return -EBADMSG;
        }
        if (entire > AFC_PACKET_MAX) {
                log_warn("AFC: %" PRIu64 " byte packet too large, closing", entire);
                (void) afc_send_status(a, AFC_E_TOO_MUCH_DATA);
                return -EMSGSIZE;
        }

        r = afc_read_body(a, entire - AFC_HEADER_SIZE);
        if (r < 0)
                return r;

        log_debug("AFC: op 0x%" PRIx64 " #%" PRIu64 ", %" PRIu64 " bytes", op, a->packet_num,
                  entire - AFC_HEADER_SIZE);
        fn = op < ELEMENTSOF(afc_ops) ? afc_ops[op] : NULL;
        if (fn)
                r = fn(a, a->req, entire - AFC_HEADER_SIZE);
        else
                r = afc_send_status(a, AFC_E_OP_NOT_SUPPORTED);

        /* Keep the buffers a FILE_READ needs, drop what a rare big request grew them to. */
        if (a->req_size > AFC_BUFFER_KEEP) {
                free(a->req);
                a->req = NULL;
                a->req_size = 0;
        }
        if (a->out_size > AFC_BUFFER_KEEP) {
                free(a->out);
                a->out = NULL;
                a->out_size = 0;
        }
        a->out_len = 0;
        return r;
}

static void afc_serve_as(Conn *c, const char *root, const char *only, AfcService service);

/**
 * afc_serve: serve AFC on c until the client hangs up, the stream fails, or a frame arrives
 * that cannot be answered (it gets a STATUS first where possible).
 * @c: the stream (borrowed); c->device may be NULL (unit tests), then nothing is counted.
 * @root: the AFC root, an existing directory (borrowed).
 * @only: NULL, or the one top-level name every path must lie beneath (borrowed): the root
 *        itself can still be listed and shows only that name, as house_arrest's VendDocuments
 *        lists "/" as just "Documents".
 *
 * Files opened with FILE_OPEN are closed on return; a root that cannot be opened or an
 * invalid @only is logged and ends the connection at once.
 */
void afc_serve(Conn *c, const char *root, const char *only) {
        afc_serve_as(c, root, only, AFC_SERVICE_OTHER);
}

/* afc_serve() for one of the device's services, which decides what is counted. */

static void afc_serve_as(Conn *c, const char *root, const char *only, AfcService service) {
        _cleanup_(afc_done) Afc a = { .conn = c, .root_fd = -EBADF, .only = only,
                                      .service = service };

        if (only && (!*only || strchr(only, '/') || streq(only, ".") || streq(only, ".."))) {
                log_warn("AFC: bad top-level restriction '%s'", only);
                return;
        }
        for (size_t i = 0; i < ELEMENTSOF(a.files); i++)
                a.files[i].fd = -EBADF;

        a.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (a.root_fd < 0) {
                log_warn("AFC: cannot open root '%s': %s", root, strerror(errno));
                return;
        }

        while (afc_serve_one(&a) >= 0)
                ;
}

/* ---- the services ----------------------------------------------------------------------- */

/* A copy of the device's profile directory (the field is guarded by the global lock). */
static char *device_profile_dir(Device *d) {
        char *s = NULL;

        if (!d)
                return NULL;
        emu_lock();
        if (d->profile_dir)
                s = strdup(d->profile_dir);
        emu_unlock();
        return s;
}

/* AFC over <profile>/<sub>, created if the profile lacks it: a phone always has it. */
static void serve_profile_subdir(Conn *c, const ServiceCtx *ctx, const char *sub,
                                 AfcService service) {
        _cleanup_(freep) char *dir = NULL, *root = NULL;

        dir = device_profile_dir(ctx->device);
        if (!dir || asprintf(&root, "%s/%s", dir, sub) < 0) {
                root = NULL;
                log_warn("%s: out of memory", ctx->name);
                return;
        }
        if (mkdir(root, 0755) < 0 && errno != EEXIST)
                log_warn("%s: cannot create '%s': %s", ctx->name, root, strerror(errno));
        afc_serve_as(c, root, NULL, service);
}

/**
 * serve_afc: com.apple.afc, AFC over <profile>/media (the phone's /var/mobile/Media).
 * @c: the stream (borrowed). @ctx: the service context (borrowed); ctx->device must be set.
 */
void serve_afc(Conn *c, const ServiceCtx *ctx) {
        serve_profile_subdir(c, ctx, "media", AFC_SERVICE_MEDIA);
}

/**
 * serve_crashreport_copy: com.apple.crashreportcopymobile, AFC over <profile>/crash.
 * @c: the stream (borrowed). @ctx: the service context (borrowed); ctx->device must be set.
 */
void serve_crashreport_copy(Conn *c, const ServiceCtx *ctx) {
        serve_profile_subdir(c, ctx, "crash", AFC_SERVICE_CRASH);
}

/**
 * serve_crashreport_mover: com.apple.crashreportmover. The reports already lie where
 * crashreportcopymobile serves them, so it only says "ping\0" and waits for the hang-up.
 * @c: the stream (borrowed). @ctx: unused.
 */
void serve_crashreport_mover(Conn *c, const ServiceCtx *ctx) {
        /* With its NUL: pymobiledevice3 reads 5 bytes, idevicecrashreport reads 4. */
        static const char ping[5] = "ping";
        char buf[256];

        if (conn_write_full(c, ping, sizeof(ping)) < 0)
                return;
        /* Clients keep the connection until they are done; leave when they close it. */
        while (conn_read_some(c, buf, sizeof(buf)) > 0)
                ;
}

static void app_info_freep(AppInfo **a) {
        if (*a)
                app_info_free(*a);
}

static int house_arrest_reply(Conn *c, const char *key, const char *value) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, key, plist_new_string(value));
        return plistio_send(c, p, false);
}

/**
 * serve_house_arrest: com.apple.mobile.house_arrest. One XML/binary plist request
 * {Command, Identifier}, one XML reply, then AFC on the same stream over
 * <profile>/apps/<Identifier>: the whole container for VendContainer, only Documents (made if
 * missing) for VendDocuments. Errors end the connection after the reply {Error: …}:
 * UnknownCommand (Command missing or not Vend*), MissingIdentifier, ApplicationLookupFailed
 * (no such app, or its Info.ini is broken), InstallationLookupFailed (VendDocuments of an app
 * without UIFileSharingEnabled, what phones answer for apps that do not share files).
 * @c: the stream (borrowed). @ctx: the service context (borrowed); ctx->device must be set.
 */
void serve_house_arrest(Conn *c, const ServiceCtx *ctx) {
        _cleanup_(plist_freep) plist_t req = NULL;
        _cleanup_(app_info_freep) AppInfo *app = NULL;
        _cleanup_(freep) char *dir = NULL, *root = NULL;
        const char *cmd, *id;
        bool documents;
        int r;

        r = plistio_recv(c, HOUSE_ARREST_REQUEST_MAX, &req);
        if (r < 0) {
                log_debug("house_arrest: no request: %s", strerror(-r));
                return;
        }
        cmd = plist_dict_str(req, "Command");
        id = plist_dict_str(req, "Identifier");

        if (cmd && streq(cmd, "VendDocuments"))
                documents = true;
        else if (cmd && streq(cmd, "VendContainer"))
                documents = false;
        else {
                log_info("house_arrest: unknown command '%s'", cmd ?: "(none)");
                (void) house_arrest_reply(c, "Error", "UnknownCommand");
                return;
        }
        if (!id) {
                (void) house_arrest_reply(c, "Error", "MissingIdentifier");
                return;
        }

        dir = device_profile_dir(ctx->device);
        r = dir ? profile_app_lookup(dir, id, &app) : -ENODEV;
        if (r < 0) {
                log_info("house_arrest: %s '%s': no such app", cmd, id);
                (void) house_arrest_reply(c, "Error", "ApplicationLookupFailed");
                return;
        }
        /* What a phone answers when the app does not allow it (no UIFileSharingEnabled). */
        if (documents && !app->file_sharing) {
                log_info("house_arrest: %s '%s': no file sharing", cmd, id);
                (void) house_arrest_reply(c, "Error", "InstallationLookupFailed");
                return;
        }

        if (asprintf(&root, "%s/apps/%s", dir, app->bundle_id) < 0) {
                root = NULL;
                return;
        }
        if (documents) {
                _cleanup_(freep) char *docs = NULL;

                /* An app with file sharing always has its Documents directory. */
                if (asprintf(&docs, "%s/Documents", root) < 0) {
                        docs = NULL;
                        return;
                }
                (void) mkdir(docs, 0755);
        }

        if (house_arrest_reply(c, "Status", "Complete") < 0)
                return;
        log_info("house_arrest: %s '%s'", cmd, id);
        afc_serve_as(c, root, documents ? "Documents" : NULL, AFC_SERVICE_HOUSE_ARREST);
}
