/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of the emulator's AFC server (afc.c), driven over a socketpair by a tiny AFC
 * client of its own: reply layouts, READ_DIR order, file info, a 3 MiB round trip, seek/tell,
 * locks across two connections, path normalisation and every way out of the root we could
 * think of, the house_arrest "Documents only" view, a host's careful document upload through
 * VendDocuments (NFD names byte-exact, stats, doc-detach-after-bytes), and hostile frames,
 * which must make the server hang up without crashing or allocating what they declare.
 *
 * It also prints the raw FILE_READ throughput with 1 MiB reads (not a pass/fail criterion;
 * AFC_BENCH_MB sets how much is read, default 64).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <plist/plist.h>

#include "emu.h"

#define ASSERT_TRUE(expr)                                                                   \
        do {                                                                                \
                if (!(expr)) {                                                              \
                        fprintf(stderr, "FAIL: %s at %s:%d\n", #expr, __FILE__, __LINE__); \
                        return -1;                                                          \
                }                                                                           \
        } while (0)

#define ASSERT_EQ(a, b)                                                                     \
        do {                                                                                \
                long long _a = (long long) (a), _b = (long long) (b);                       \
                if (_a != _b) {                                                             \
                        fprintf(stderr, "FAIL: %s == %s (%lld != %lld) at %s:%d\n", #a, #b, \
                                _a, _b, __FILE__, __LINE__);                                \
                        return -1;                                                          \
                }                                                                           \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                  \
        do {                                                                                \
                const char *_a = (a), *_b = (b);                                            \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                    \
                        fprintf(stderr, "FAIL: %s == %s ('%s' != '%s') at %s:%d\n", #a, #b, \
                                _a ?: "(null)", _b ?: "(null)", __FILE__, __LINE__);        \
                        return -1;                                                          \
                }                                                                           \
        } while (0)

enum {
        OP_STATUS = 0x01,
        OP_DATA = 0x02,
        OP_READ_DIR = 0x03,
        OP_TRUNCATE = 0x07,
        OP_REMOVE_PATH = 0x08,
        OP_MAKE_DIR = 0x09,
        OP_GET_FILE_INFO = 0x0A,
        OP_GET_DEVINFO = 0x0B,
        OP_FILE_OPEN = 0x0D,
        OP_FILE_OPEN_RES = 0x0E,
        OP_FILE_READ = 0x0F,
        OP_FILE_WRITE = 0x10,
        OP_FILE_SEEK = 0x11,
        OP_FILE_TELL = 0x12,
        OP_FILE_TELL_RES = 0x13,
        OP_FILE_CLOSE = 0x14,
        OP_FILE_SET_SIZE = 0x15,
        OP_RENAME_PATH = 0x18,
        OP_FILE_LOCK = 0x1B,
        OP_MAKE_LINK = 0x1C,
        OP_GET_FILE_HASH = 0x1D,
        OP_SET_FILE_MOD_TIME = 0x1E,
        OP_REMOVE_PATH_AND_CONTENTS = 0x22,
};

enum {
        E_UNKNOWN = 1,
        E_HEADER_INVALID = 2,
        E_NO_RESOURCES = 3,
        E_INVALID_ARG = 7,
        E_NOT_FOUND = 8,
        E_IS_DIR = 9,
        E_PERM_DENIED = 10,
        E_TOO_MUCH_DATA = 13,
        E_NOT_SUPPORTED = 15,
        E_EXISTS = 16,
        E_WOULD_BLOCK = 19,
};

#define MiB (1024u * 1024u)
#define NOT_STATUS (-1000)              /* a reply that is no STATUS, or no reply at all */

/* ---- the server side: afc_serve() (or a service) in a thread ----------------------------- */

typedef enum ServerKind {
        SERVER_AFC,
        SERVER_HOUSE_ARREST,
        SERVER_MOVER,
} ServerKind;

typedef struct Server {
        ServerKind kind;
        pthread_t thread;
        bool running;
        int fd;                         /* the client's end */
        int server_fd;
        const char *root, *only;        /* SERVER_AFC */
        Device device;                  /* services: only profile_dir is used */
        uint64_t num;                   /* packet counter of the client */
} Server;

static void *server_main(void *arg) {
        Server *s = arg;
        Conn c = { .fd = s->server_fd };
        ServiceCtx ctx = { .device = &s->device };

        switch (s->kind) {
        case SERVER_AFC:
                afc_serve(&c, s->root, s->only);
                break;
        case SERVER_HOUSE_ARREST:
                /* counted and faulted like a device's (stats, doc-detach-after-bytes) */
                c.device = &s->device;
                ctx.name = "com.apple.mobile.house_arrest";
                serve_house_arrest(&c, &ctx);
                break;
        case SERVER_MOVER:
                ctx.name = "com.apple.crashreportmover";
                serve_crashreport_mover(&c, &ctx);
                break;
        }
        close(s->server_fd);
        return NULL;
}

static int server_start_kind(Server *s, ServerKind kind, const char *root, const char *only) {
        struct timeval tv = { .tv_sec = 3 };
        int sv[2];

        *s = (Server) { .kind = kind, .fd = -EBADF, .root = root, .only = only };
        s->device.profile_dir = (char *) root;
        s->device.udid = (char *) "TEST";
        s->device.attached = true;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        s->fd = sv[0];
        s->server_fd = sv[1];
        /* A server that hangs fails the test instead of hanging it. */
        (void) setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (pthread_create(&s->thread, NULL, server_main, s) != 0) {
                close(sv[0]);
                close(sv[1]);
                return -EAGAIN;
        }
        s->running = true;
        return 0;
}

static int server_start(Server *s, const char *root, const char *only) {
        return server_start_kind(s, SERVER_AFC, root, only);
}

/* Hang up and wait (at most 3 s) for the server to return. 0 or -ETIMEDOUT. */
static int server_stop(Server *s) {
        struct timespec ts;

        if (!s->running)
                return 0;
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -EBADF;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        s->running = false;
        return pthread_timedjoin_np(s->thread, NULL, &ts) == 0 ? 0 : -ETIMEDOUT;
}

static void server_stopp(Server *s) {
        (void) server_stop(s);
}

/* ---- the client side ------------------------------------------------------------------- */

typedef struct Reply {
        uint64_t op, num, entire, this_len;
        uint8_t *data;                  /* header data and payload, NUL-terminated for us */
        size_t len;
} Reply;

static void reply_done(Reply *r) {
        free(r->data);
        *r = (Reply) {};
}

static void put_le64(uint8_t *p, uint64_t v) {
        v = htole64(v);
        memcpy(p, &v, 8);
}

static uint64_t get_le64(const uint8_t *p) {
        uint64_t v;

        memcpy(&v, p, 8);
        return le64toh(v);
}

static int write_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int read_all(int fd, void *buf, size_t n) {
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = recv(fd, p, n, 0);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* Send one packet: header data in the header part, payload after it (as libimobiledevice). */
static int afc_send(Server *s, uint64_t op, const void *hdr, size_t hlen, const void *payload,
                    size_t plen) {
        _cleanup_(freep) uint8_t *p = malloc(40 + hlen);
        int r;

        if (!p)
                return -ENOMEM;
        memcpy(p, "CFA6LPAA", 8);
        put_le64(p + 8, 40 + hlen + plen);
        put_le64(p + 16, 40 + hlen);
        put_le64(p + 24, ++s->num);
        put_le64(p + 32, op);
        if (hlen)
                memcpy(p + 40, hdr, hlen);
        r = write_all(s->fd, p, 40 + hlen);
        if (r < 0 || plen == 0)
                return r;
        return write_all(s->fd, payload, plen);
}

static int afc_recv(Server *s, Reply *ret) {
        uint8_t h[40];
        int r;

        *ret = (Reply) {};
        r = read_all(s->fd, h, sizeof(h));
        if (r < 0)
                return r;
        if (memcmp(h, "CFA6LPAA", 8) != 0)
                return -EBADMSG;
        ret->entire = get_le64(h + 8);
        ret->this_len = get_le64(h + 16);
        ret->num = get_le64(h + 24);
        ret->op = get_le64(h + 32);
        if (ret->entire < 40 || ret->this_len < 40 || ret->this_len > ret->entire ||
            ret->entire > 64 * MiB)
                return -EBADMSG;
        ret->len = ret->entire - 40;
        ret->data = malloc(ret->len + 1);
        if (!ret->data)
                return -ENOMEM;
        ret->data[ret->len] = 0;
        return read_all(s->fd, ret->data, ret->len);
}

/* One request and its reply; checks the framing every client relies on. */
static int afc_call(Server *s, uint64_t op, const void *hdr, size_t hlen, const void *payload,
                    size_t plen, Reply *ret) {
        ASSERT_EQ(afc_send(s, op, hdr, hlen, payload, plen), 0);
        ASSERT_EQ(afc_recv(s, ret), 0);
        ASSERT_EQ(ret->num, s->num);
        if (ret->op == OP_STATUS || ret->op == OP_FILE_OPEN_RES || ret->op == OP_FILE_TELL_RES) {
                ASSERT_EQ(ret->entire, 48);
                ASSERT_EQ(ret->this_len, 48);
        } else {
                ASSERT_EQ(ret->op, OP_DATA);
                ASSERT_EQ(ret->this_len, 40);
        }
        return 0;
}

/* The STATUS code of the reply to a request, NOT_STATUS for any other reply. */
static long long call_status(Server *s, uint64_t op, const void *hdr, size_t hlen) {
        _cleanup_(reply_done) Reply r = {};

        if (afc_call(s, op, hdr, hlen, NULL, 0, &r) < 0 || r.op != OP_STATUS)
                return NOT_STATUS;
        return (long long) get_le64(r.data);
}

/* Request data: an optional u64, then a NUL-terminated path (nul = false: appium's form). */
static size_t make_path_req(uint8_t *buf, size_t size, const uint64_t *prefix, const char *path,
                            bool nul) {
        size_t n = 0, len = strlen(path);

        if (prefix) {
                put_le64(buf, *prefix);
                n = 8;
        }
        if (n + len + 1 > size)
                abort();
        memcpy(buf + n, path, len);
        n += len;
        if (nul)
                buf[n++] = 0;
        return n;
}

static long long path_status(Server *s, uint64_t op, const char *path) {
        uint8_t buf[PATH_MAX * 4];

        return call_status(s, op, buf, make_path_req(buf, sizeof(buf), NULL, path, true));
}

/* A DATA reply's NUL-separated list as "a|b|c" into out; returns 0, or the STATUS code. */
static long long call_list(Server *s, uint64_t op, const void *hdr, size_t hlen, char *out,
                           size_t size) {
        _cleanup_(reply_done) Reply r = {};

        if (afc_call(s, op, hdr, hlen, NULL, 0, &r) < 0)
                return NOT_STATUS;
        if (r.op == OP_STATUS)
                return (long long) get_le64(r.data);
        if (r.len >= size || (r.len > 0 && r.data[r.len - 1] != 0))
                return NOT_STATUS;
        out[0] = 0;
        for (size_t i = 0; i < r.len; i++)
                out[i] = r.data[i] == 0 ? '|' : (char) r.data[i];
        if (r.len > 0)
                out[r.len - 1] = 0;
        return 0;
}

static long long read_dir(Server *s, const char *path, char *out, size_t size) {
        uint8_t buf[PATH_MAX + 8];

        return call_list(s, OP_READ_DIR, buf, make_path_req(buf, sizeof(buf), NULL, path, true),
                         out, size);
}

/* Value of key in a "k|v|k|v" list (copied into val), NULL when absent. */
static const char *kv_get(const char *list, const char *key, char *val, size_t size) {
        char copy[8192], *save = NULL;

        snprintf(copy, sizeof(copy), "%s", list);
        for (char *k = strtok_r(copy, "|", &save); k; k = strtok_r(NULL, "|", &save)) {
                char *v = strtok_r(NULL, "|", &save);

                if (v && strcmp(k, key) == 0) {
                        snprintf(val, size, "%s", v);
                        return val;
                }
        }
        return NULL;
}

static long long file_info(Server *s, const char *path, char *out, size_t size) {
        uint8_t buf[PATH_MAX + 8];

        return call_list(s, OP_GET_FILE_INFO, buf,
                         make_path_req(buf, sizeof(buf), NULL, path, true), out, size);
}

/* The file type GET_FILE_INFO reports ("S_IFDIR", …), or "E<status>". */
static const char *file_type(Server *s, const char *path) {
        static char type[32];
        char list[4096];
        long long r = file_info(s, path, list, sizeof(list));

        if (r != 0) {
                snprintf(type, sizeof(type), "E%lld", r);
                return type;
        }
        return kv_get(list, "st_ifmt", type, sizeof(type)) ?: "none";
}

static long long file_open(Server *s, const char *path, uint64_t mode, uint64_t *ret) {
        _cleanup_(reply_done) Reply r = {};
        uint8_t buf[PATH_MAX + 16];
        size_t n = make_path_req(buf, sizeof(buf), &mode, path, true);

        if (afc_call(s, OP_FILE_OPEN, buf, n, NULL, 0, &r) < 0)
                return NOT_STATUS;
        if (r.op == OP_STATUS)
                return (long long) get_le64(r.data);
        if (r.op != OP_FILE_OPEN_RES || get_le64(r.data) == 0)
                return NOT_STATUS;
        *ret = get_le64(r.data);
        return 0;
}

static long long file_u64s(Server *s, uint64_t op, uint64_t a, uint64_t b, uint64_t c,
                           size_t count) {
        uint8_t buf[24];

        put_le64(buf, a);
        put_le64(buf + 8, b);
        put_le64(buf + 16, c);
        return call_status(s, op, buf, 8 * count);
}

static long long file_close(Server *s, uint64_t h) {
        return file_u64s(s, OP_FILE_CLOSE, h, 0, 0, 1);
}

static long long file_lock(Server *s, uint64_t h, uint64_t op) {
        return file_u64s(s, OP_FILE_LOCK, h, op, 0, 2);
}

static long long file_seek(Server *s, uint64_t h, uint64_t whence, int64_t off) {
        return file_u64s(s, OP_FILE_SEEK, h, whence, (uint64_t) off, 3);
}

static long long file_tell(Server *s, uint64_t h, uint64_t *ret) {
        _cleanup_(reply_done) Reply r = {};
        uint8_t buf[8];

        put_le64(buf, h);
        if (afc_call(s, OP_FILE_TELL, buf, 8, NULL, 0, &r) < 0)
                return NOT_STATUS;
        if (r.op == OP_STATUS)
                return (long long) get_le64(r.data);
        if (r.op != OP_FILE_TELL_RES)
                return NOT_STATUS;
        *ret = get_le64(r.data);
        return 0;
}

static long long file_write(Server *s, uint64_t h, const void *data, size_t n) {
        _cleanup_(reply_done) Reply r = {};
        uint8_t buf[8];

        put_le64(buf, h);
        if (afc_call(s, OP_FILE_WRITE, buf, 8, data, n, &r) < 0 || r.op != OP_STATUS)
                return NOT_STATUS;
        return (long long) get_le64(r.data);
}

/* FILE_READ of up to want bytes into out; *ret_n is what came. 0 or the STATUS code. */
static long long file_read(Server *s, uint64_t h, uint64_t want, void *out, size_t size,
                           size_t *ret_n) {
        _cleanup_(reply_done) Reply r = {};
        uint8_t buf[16];

        put_le64(buf, h);
        put_le64(buf + 8, want);
        if (afc_call(s, OP_FILE_READ, buf, 16, NULL, 0, &r) < 0)
                return NOT_STATUS;
        if (r.op == OP_STATUS)
                return (long long) get_le64(r.data);
        if (r.len > size)
                return NOT_STATUS;
        memcpy(out, r.data, r.len);
        *ret_n = r.len;
        return 0;
}

/* ---- fixtures -------------------------------------------------------------------------- */

typedef struct Fixture {
        char base[64];                  /* mkdtemp() */
        char root[128];                 /* base/root: the AFC root */
        char outside[128];              /* base/outside: must stay unreachable */
} Fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static void fixture_done(Fixture *fx) {
        if (fx->base[0])
                (void) nftw(fx->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        fx->base[0] = 0;
}

static int write_file(const char *dir, const char *name, const void *data, size_t n) {
        char path[PATH_MAX];
        int fd;
        ssize_t k;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        k = write(fd, data, n);
        close(fd);
        return k == (ssize_t) n ? 0 : -EIO;
}

static int make_dir(const char *dir, const char *name) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int make_symlink(const char *dir, const char *name, const char *target) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return symlink(target, path) < 0 ? -errno : 0;
}

static bool exists(const char *dir, const char *name) {
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        return lstat(path, &st) == 0;
}

static int fixture_init(Fixture *fx) {
        snprintf(fx->base, sizeof(fx->base), "/tmp/test-afc-XXXXXX");
        if (!mkdtemp(fx->base)) {
                fx->base[0] = 0;
                return -errno;
        }
        snprintf(fx->root, sizeof(fx->root), "%s/root", fx->base);
        snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->base);
        if (mkdir(fx->root, 0755) < 0 || mkdir(fx->outside, 0755) < 0)
                return -errno;
        return write_file(fx->outside, "secret", "secret", 6);
}

/* ---- tests ------------------------------------------------------------------------------ */

static int test_read_dir(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        uint8_t raw[8];
        char list[4096];

        ASSERT_EQ(write_file(fx->root, "b.txt", "b", 1), 0);
        ASSERT_EQ(write_file(fx->root, "a.txt", "a", 1), 0);
        ASSERT_EQ(make_dir(fx->root, "dir"), 0);
        ASSERT_EQ(write_file(fx->root, "dir/z", "z", 1), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        ASSERT_EQ(read_dir(&s, "/", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|a.txt|b.txt|dir");
        ASSERT_EQ(read_dir(&s, ".", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|a.txt|b.txt|dir");
        ASSERT_EQ(read_dir(&s, "", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|a.txt|b.txt|dir");
        ASSERT_EQ(read_dir(&s, "./dir", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|z");
        /* appium: no NUL, READ_DIR "/" is 41 bytes long */
        ASSERT_EQ(call_list(&s, OP_READ_DIR, "/", 1, list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|a.txt|b.txt|dir");
        ASSERT_EQ(call_list(&s, OP_READ_DIR, "dir", 3, list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|z");
        /* trailing NULs are ignored */
        ASSERT_EQ(call_list(&s, OP_READ_DIR, "dir\0\0\0", 6, list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|z");
        ASSERT_EQ(read_dir(&s, "missing", list, sizeof(list)), E_NOT_FOUND);
        ASSERT_EQ(read_dir(&s, "a.txt", list, sizeof(list)), E_NOT_FOUND);

        /* Requests the server does not know, and one packet without any data. */
        ASSERT_EQ(call_status(&s, 0x42, NULL, 0), E_NOT_SUPPORTED);
        ASSERT_EQ(call_status(&s, 0x10000000000ull, NULL, 0), E_NOT_SUPPORTED);
        ASSERT_EQ(call_status(&s, OP_FILE_OPEN, NULL, 0), E_INVALID_ARG);
        put_le64(raw, 1);
        ASSERT_EQ(call_status(&s, OP_FILE_READ, raw, 8), E_INVALID_ARG);
        return 0;
}

static int test_file_info(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { 1600000000, 123456789 } };
        char list[4096], val[256], path[PATH_MAX];
        static char data[1234];

        ASSERT_EQ(write_file(fx->root, "f", data, sizeof(data)), 0);
        snprintf(path, sizeof(path), "%s/f", fx->root);
        ASSERT_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
        ASSERT_EQ(make_dir(fx->root, "d"), 0);
        ASSERT_EQ(make_symlink(fx->root, "l", "f"), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        ASSERT_EQ(file_info(&s, "/f", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "st_size", val, sizeof(val)), "1234");
        ASSERT_STREQ(kv_get(list, "st_ifmt", val, sizeof(val)), "S_IFREG");
        ASSERT_STREQ(kv_get(list, "st_nlink", val, sizeof(val)), "1");
        ASSERT_STREQ(kv_get(list, "st_mtime", val, sizeof(val)), "1600000000123456789");
        ASSERT_TRUE(kv_get(list, "st_blocks", val, sizeof(val)));
        ASSERT_TRUE(kv_get(list, "st_birthtime", val, sizeof(val)));
        ASSERT_TRUE(atoll(val) > 0);
        ASSERT_TRUE(!kv_get(list, "LinkTarget", val, sizeof(val)));

        ASSERT_STREQ(file_type(&s, "d"), "S_IFDIR");
        ASSERT_STREQ(file_type(&s, "/"), "S_IFDIR");
        ASSERT_EQ(file_info(&s, "l", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "st_ifmt", val, sizeof(val)), "S_IFLNK");
        ASSERT_STREQ(kv_get(list, "LinkTarget", val, sizeof(val)), "f");
        ASSERT_EQ(file_info(&s, "nope", list, sizeof(list)), E_NOT_FOUND);
        ASSERT_EQ(file_info(&s, "f/x", list, sizeof(list)), E_NOT_FOUND);

        ASSERT_EQ(call_list(&s, OP_GET_DEVINFO, NULL, 0, list, sizeof(list)), 0);
        ASSERT_TRUE(kv_get(list, "Model", val, sizeof(val)));
        ASSERT_TRUE(kv_get(list, "FSTotalBytes", val, sizeof(val)) && atoll(val) > 0);
        ASSERT_TRUE(kv_get(list, "FSFreeBytes", val, sizeof(val)));
        ASSERT_TRUE(kv_get(list, "FSBlockSize", val, sizeof(val)) && atoll(val) > 0);
        return 0;
}

static int test_round_trip(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        _cleanup_(freep) uint8_t *data = malloc(3 * MiB), *back = malloc(8 * MiB);
        uint64_t h, pos = 0;
        size_t got, total = 0;
        struct stat st;
        char path[PATH_MAX];
        mode_t mask = umask(0);

        umask(mask);

        ASSERT_TRUE(data && back);
        for (size_t i = 0; i < 3 * MiB; i++)
                data[i] = (uint8_t) (i * 2654435761u >> 13);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        /* w: create, then 1 MiB writes */
        ASSERT_EQ(file_open(&s, "big", 3, &h), 0);
        for (size_t off = 0; off < 3 * MiB; off += MiB)
                ASSERT_EQ(file_write(&s, h, data + off, MiB), 0);
        ASSERT_EQ(file_tell(&s, h, &pos), 0);
        ASSERT_EQ(pos, 3 * MiB);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_EQ(file_close(&s, h), E_INVALID_ARG);
        snprintf(path, sizeof(path), "%s/big", fx->root);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 3 * MiB);
        ASSERT_EQ(st.st_mode & 0777, 0644 & ~mask);

        /* r: 1 MiB reads until a 0-byte DATA */
        ASSERT_EQ(file_open(&s, "/big", 1, &h), 0);
        for (;;) {
                ASSERT_EQ(file_read(&s, h, MiB, back + total, 8 * MiB - total, &got), 0);
                if (got == 0)
                        break;
                ASSERT_TRUE(got <= MiB);
                total += got;
        }
        ASSERT_EQ(total, 3 * MiB);
        ASSERT_TRUE(memcmp(data, back, 3 * MiB) == 0);
        /* writing a read-only handle fails */
        ASSERT_TRUE(file_write(&s, h, "x", 1) > 0);
        ASSERT_EQ(file_close(&s, h), 0);

        /* one oversized read is answered with what the file has (≤ the 4 MiB cap) */
        ASSERT_EQ(file_open(&s, "big", 1, &h), 0);
        ASSERT_EQ(file_read(&s, h, UINT64_MAX, back, 8 * MiB, &got), 0);
        ASSERT_EQ(got, 3 * MiB);
        ASSERT_TRUE(memcmp(data, back, 3 * MiB) == 0);
        ASSERT_EQ(file_close(&s, h), 0);

        /* a: appends; w+ truncates; FILE_SET_SIZE */
        ASSERT_EQ(file_open(&s, "big", 5, &h), 0);
        ASSERT_EQ(file_write(&s, h, "tail", 4), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 3 * MiB + 4);
        ASSERT_EQ(file_open(&s, "big", 4, &h), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 0);
        ASSERT_EQ(file_u64s(&s, OP_FILE_SET_SIZE, h, 4096, 0, 2), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 4096);
        return 0;
}

static int test_seek_tell(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        char data[1000], back[100];
        uint64_t h, pos;
        size_t got;

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (char) i;
        ASSERT_EQ(write_file(fx->root, "s", data, sizeof(data)), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        ASSERT_EQ(file_open(&s, "s", 1, &h), 0);
        ASSERT_EQ(file_tell(&s, h, &pos), 0);
        ASSERT_EQ(pos, 0);
        ASSERT_EQ(file_seek(&s, h, 0, 100), 0);
        ASSERT_EQ(file_tell(&s, h, &pos), 0);
        ASSERT_EQ(pos, 100);
        ASSERT_EQ(file_seek(&s, h, 1, 50), 0);
        ASSERT_EQ(file_tell(&s, h, &pos), 0);
        ASSERT_EQ(pos, 150);
        ASSERT_EQ(file_read(&s, h, 10, back, sizeof(back), &got), 0);
        ASSERT_EQ(got, 10);
        ASSERT_TRUE(memcmp(back, data + 150, 10) == 0);
        ASSERT_EQ(file_seek(&s, h, 2, -10), 0);
        ASSERT_EQ(file_tell(&s, h, &pos), 0);
        ASSERT_EQ(pos, sizeof(data) - 10);
        ASSERT_EQ(file_read(&s, h, 100, back, sizeof(back), &got), 0);
        ASSERT_EQ(got, 10);
        ASSERT_TRUE(memcmp(back, data + sizeof(data) - 10, 10) == 0);
        ASSERT_EQ(file_read(&s, h, 100, back, sizeof(back), &got), 0);
        ASSERT_EQ(got, 0);
        ASSERT_EQ(file_seek(&s, h, 3, 0), E_INVALID_ARG);
        ASSERT_EQ(file_seek(&s, h, 0, -5), E_INVALID_ARG);
        ASSERT_EQ(file_tell(&s, h + 1, &pos), E_INVALID_ARG);
        ASSERT_EQ(file_tell(&s, 0, &pos), E_INVALID_ARG);
        ASSERT_EQ(file_close(&s, h), 0);
        return 0;
}

static int test_lock(Fixture *fx) {
        _cleanup_(server_stopp) Server s1 = {}, s2 = {};
        uint64_t h1, h2;

        ASSERT_EQ(server_start(&s1, fx->root, NULL), 0);
        ASSERT_EQ(server_start(&s2, fx->root, NULL), 0);
        /* as idevicebackup2 does with /com.apple.itunes.lock_sync */
        ASSERT_EQ(file_open(&s1, "/com.apple.itunes.lock_sync", 2, &h1), 0);
        ASSERT_EQ(file_open(&s2, "/com.apple.itunes.lock_sync", 2, &h2), 0);
        ASSERT_EQ(file_lock(&s1, h1, 6), 0);
        ASSERT_EQ(file_lock(&s2, h2, 6), E_WOULD_BLOCK);
        ASSERT_EQ(file_lock(&s2, h2, 5), E_WOULD_BLOCK);
        ASSERT_EQ(file_lock(&s2, h2, 2), E_WOULD_BLOCK);   /* never blocks the server */
        ASSERT_EQ(file_lock(&s1, h1, 12), 0);
        ASSERT_EQ(file_lock(&s2, h2, 6), 0);
        ASSERT_EQ(file_lock(&s1, h1, 5), E_WOULD_BLOCK);
        ASSERT_EQ(file_lock(&s1, h1, 3), E_INVALID_ARG);
        /* a connection that goes away drops its locks */
        ASSERT_EQ(server_stop(&s2), 0);
        ASSERT_EQ(file_lock(&s1, h1, 6), 0);
        ASSERT_EQ(file_close(&s1, h1), 0);
        return 0;
}

static int test_paths(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        char list[4096], abs_target[PATH_MAX], path[PATH_MAX + 64], longp[PATH_MAX + 200];
        uint8_t buf[PATH_MAX * 2];
        uint64_t h, two = 2, one = 1;
        size_t n, got;

        ASSERT_EQ(make_dir(fx->root, "a"), 0);
        ASSERT_EQ(make_dir(fx->root, "a/b"), 0);
        ASSERT_EQ(write_file(fx->root, "a/b/f", "inside", 6), 0);
        ASSERT_EQ(make_symlink(fx->root, "evil", "../outside"), 0);
        snprintf(abs_target, sizeof(abs_target), "%s/secret", fx->outside);
        ASSERT_EQ(make_symlink(fx->root, "abs", abs_target), 0);
        ASSERT_EQ(make_symlink(fx->root, "absdir", fx->outside), 0);
        ASSERT_EQ(make_symlink(fx->root, "a/up", "../.."), 0);
        ASSERT_EQ(make_symlink(fx->root, "a/upup", "../../outside/secret"), 0);
        ASSERT_EQ(make_symlink(fx->root, "good", "a/b"), 0);
        ASSERT_EQ(make_symlink(fx->root, "a/b/sibling", "../b/f"), 0);
        ASSERT_EQ(make_symlink(fx->root, "loop", "loop"), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        /* normalisation */
        ASSERT_STREQ(file_type(&s, "."), "S_IFDIR");
        ASSERT_STREQ(file_type(&s, "./a/b"), "S_IFDIR");
        ASSERT_STREQ(file_type(&s, "//a"), "S_IFDIR");
        ASSERT_STREQ(file_type(&s, "/a/./b//f"), "S_IFREG");
        ASSERT_STREQ(file_type(&s, "a/../a/b/f"), "S_IFREG");
        ASSERT_STREQ(file_type(&s, "a/b/.."), "S_IFDIR");
        n = make_path_req(buf, sizeof(buf), NULL, "a/b/f", false);
        ASSERT_EQ(call_list(&s, OP_GET_FILE_INFO, buf, n, list, sizeof(list)), 0);
        n = make_path_req(buf, sizeof(buf), &one, "./a/b/f", false);
        {
                _cleanup_(reply_done) Reply r = {};

                ASSERT_EQ(afc_call(&s, OP_FILE_OPEN, buf, n, NULL, 0, &r), 0);
                ASSERT_EQ(r.op, OP_FILE_OPEN_RES);
                ASSERT_EQ(file_close(&s, get_le64(r.data)), 0);
        }

        /* ".." above the root */
        ASSERT_STREQ(file_type(&s, "../x"), "E10");
        ASSERT_STREQ(file_type(&s, ".."), "E10");
        ASSERT_STREQ(file_type(&s, "/../root/a"), "E10");
        ASSERT_STREQ(file_type(&s, "a/../../x"), "E10");
        ASSERT_STREQ(file_type(&s, "a/b/../../../outside/secret"), "E10");
        ASSERT_EQ(file_open(&s, "../outside/secret", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "a/../../outside/new", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(read_dir(&s, "..", list, sizeof(list)), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "../made"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "../outside/secret"), E_PERM_DENIED);
        ASSERT_TRUE(!exists(fx->base, "made"));

        /* symlinks: looked at, not followed out of the root */
        ASSERT_STREQ(file_type(&s, "evil"), "S_IFLNK");
        ASSERT_EQ(read_dir(&s, "evil", list, sizeof(list)), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "evil/secret", 1, &h), E_PERM_DENIED);
        ASSERT_STREQ(file_type(&s, "evil/secret"), "E10");
        ASSERT_EQ(file_open(&s, "abs", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "abs", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(read_dir(&s, "absdir", list, sizeof(list)), E_PERM_DENIED);
        ASSERT_EQ(read_dir(&s, "a/up", list, sizeof(list)), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "a/upup", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "evil/sub"), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "loop", 1, &h), E_PERM_DENIED);
        ASSERT_TRUE(!exists(fx->outside, "sub"));
        /* ... but followed inside it */
        ASSERT_EQ(read_dir(&s, "good", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|f|sibling");
        ASSERT_EQ(file_open(&s, "good/sibling", 1, &h), 0);
        ASSERT_EQ(file_read(&s, h, 100, list, sizeof(list), &got), 0);
        ASSERT_EQ(got, 6);
        ASSERT_EQ(file_close(&s, h), 0);
        /* removing a symlink removes the link, never its target */
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "evil"), 0);
        ASSERT_TRUE(exists(fx->outside, "secret"));

        /* MAKE_LINK: both ends beneath the root */
        n = make_path_req(buf, sizeof(buf), &two, "../outside/secret", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "l1", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), E_PERM_DENIED);
        n = make_path_req(buf, sizeof(buf), &two, "../../x", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "a/l2", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), E_PERM_DENIED);
        n = make_path_req(buf, sizeof(buf), &one, "../outside/secret", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "l3", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), E_PERM_DENIED);
        ASSERT_TRUE(!exists(fx->root, "l1") && !exists(fx->root, "a/l2"));
        ASSERT_TRUE(!exists(fx->root, "l3"));
        /* an absolute device path is the AFC root's, stored relative to the link */
        n = make_path_req(buf, sizeof(buf), &two, "/a/b/f", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "a/b/l4", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), 0);
        ASSERT_EQ(file_info(&s, "a/b/l4", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "LinkTarget", path, sizeof(path)), "../../a/b/f");
        ASSERT_EQ(file_open(&s, "a/b/l4", 1, &h), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        n = make_path_req(buf, sizeof(buf), &one, "a/b/f", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "hard", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), 0);
        ASSERT_EQ(file_info(&s, "hard", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "st_nlink", path, sizeof(path)), "2");

        /* the root itself cannot go away; names too long are invalid */
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "/"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH_AND_CONTENTS, "."), E_PERM_DENIED);
        memset(longp, 'x', sizeof(longp) - 1);
        longp[sizeof(longp) - 1] = 0;
        ASSERT_EQ(path_status(&s, OP_GET_FILE_INFO, longp), E_INVALID_ARG);
        for (size_t i = 0; i + 2 < sizeof(longp); i += 2)
                longp[i + 1] = '/';
        ASSERT_EQ(path_status(&s, OP_GET_FILE_INFO, longp), E_INVALID_ARG);
        /* the connection is still fine after all that */
        ASSERT_STREQ(file_type(&s, "a"), "S_IFDIR");
        return 0;
}

static int test_ops(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        uint64_t handles[64], h, size = 3, mtime = 1500000000ull * 1000000000ull + 42;
        uint8_t buf[PATH_MAX];
        char list[4096], val[64], path[PATH_MAX];
        struct stat st;
        size_t n;

        ASSERT_EQ(write_file(fx->root, "abc", "abc", 3), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);

        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "x/y/z"), 0);
        ASSERT_STREQ(file_type(&s, "x/y/z"), "S_IFDIR");
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "/x/y/z/"), 0);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "/"), 0);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "abc"), E_EXISTS);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "x"), E_UNKNOWN);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "x/y/z"), 0);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "x/y/z"), E_NOT_FOUND);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "x/y/z/w"), 0);
        ASSERT_EQ(write_file(fx->root, "x/y/file", "1", 1), 0);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH_AND_CONTENTS, "x"), 0);
        ASSERT_TRUE(!exists(fx->root, "x"));

        n = make_path_req(buf, sizeof(buf), NULL, "abc", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "/def", false);
        ASSERT_EQ(call_status(&s, OP_RENAME_PATH, buf, n), 0);
        ASSERT_TRUE(!exists(fx->root, "abc") && exists(fx->root, "def"));
        ASSERT_EQ(call_status(&s, OP_RENAME_PATH, "def", 3), E_INVALID_ARG);

        n = make_path_req(buf, sizeof(buf), NULL, "def", true);
        {
                _cleanup_(reply_done) Reply r = {};
                static const uint8_t sha1_abc[20] = {
                        0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e,
                        0x25, 0x71, 0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d,
                };

                ASSERT_EQ(afc_call(&s, OP_GET_FILE_HASH, buf, n, NULL, 0, &r), 0);
                ASSERT_EQ(r.op, OP_DATA);
                ASSERT_EQ(r.len, 20);
                ASSERT_TRUE(memcmp(r.data, sha1_abc, 20) == 0);
        }

        size = 1;
        n = make_path_req(buf, sizeof(buf), &size, "def", true);
        ASSERT_EQ(call_status(&s, OP_TRUNCATE, buf, n), 0);
        snprintf(path, sizeof(path), "%s/def", fx->root);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 1);

        n = make_path_req(buf, sizeof(buf), &mtime, "def", true);
        ASSERT_EQ(call_status(&s, OP_SET_FILE_MOD_TIME, buf, n), 0);
        ASSERT_EQ(file_info(&s, "def", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "st_mtime", val, sizeof(val)), "1500000000000000042");
        mtime = UINT64_MAX;
        n = make_path_req(buf, sizeof(buf), &mtime, "def", true);
        ASSERT_EQ(call_status(&s, OP_SET_FILE_MOD_TIME, buf, n), 0);
        ASSERT_EQ(file_info(&s, "def", list, sizeof(list)), 0);

        ASSERT_EQ(file_open(&s, "def", 9, &h), E_INVALID_ARG);
        ASSERT_EQ(file_open(&s, "def", 0, &h), E_INVALID_ARG);
        ASSERT_EQ(file_open(&s, "/", 1, &h), E_IS_DIR);
        ASSERT_EQ(make_dir(fx->root, "dir"), 0);
        ASSERT_EQ(file_open(&s, "dir", 1, &h), E_IS_DIR);
        ASSERT_EQ(file_open(&s, "dir", 3, &h), E_IS_DIR);
        ASSERT_EQ(file_open(&s, "nodir/new", 3, &h), E_NOT_FOUND);

        /* 64 handles per connection, then NO_RESOURCES; closing frees a slot */
        for (size_t i = 0; i < 64; i++)
                ASSERT_EQ(file_open(&s, "def", 1, &handles[i]), 0);
        ASSERT_EQ(file_open(&s, "def", 1, &h), E_NO_RESOURCES);
        ASSERT_EQ(file_close(&s, handles[10]), 0);
        ASSERT_EQ(file_open(&s, "def", 1, &handles[10]), 0);
        ASSERT_TRUE(handles[10] != handles[9]);
        for (size_t i = 0; i < 64; i++)
                ASSERT_EQ(file_close(&s, handles[i]), 0);

        /* a FIFO is not opened (that would block the server) */
        snprintf(path, sizeof(path), "%s/fifo", fx->root);
        ASSERT_EQ(mkfifo(path, 0644), 0);
        ASSERT_EQ(file_open(&s, "fifo", 1, &h), E_PERM_DENIED);
        ASSERT_STREQ(file_type(&s, "fifo"), "S_IFIFO");
        return 0;
}

static int test_only_documents(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        uint8_t buf[PATH_MAX];
        uint64_t h, two = 2;
        char list[4096];
        size_t n;

        ASSERT_EQ(make_dir(fx->root, "Documents"), 0);
        ASSERT_EQ(make_dir(fx->root, "Library"), 0);
        ASSERT_EQ(make_dir(fx->root, "tmp"), 0);
        ASSERT_EQ(write_file(fx->root, "Documents/d.txt", "d", 1), 0);
        ASSERT_EQ(write_file(fx->root, "Library/secret", "s", 1), 0);
        ASSERT_EQ(make_symlink(fx->root, "Documents/sneak", "../Library"), 0);
        ASSERT_EQ(make_symlink(fx->root, "Documents/self", "../Documents/d.txt"), 0);
        ASSERT_EQ(server_start(&s, fx->root, "Documents"), 0);

        ASSERT_EQ(read_dir(&s, "/", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|Documents");
        ASSERT_EQ(read_dir(&s, "/Documents", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|d.txt|self|sneak");
        ASSERT_STREQ(file_type(&s, "/"), "S_IFDIR");
        ASSERT_STREQ(file_type(&s, "Documents"), "S_IFDIR");

        ASSERT_STREQ(file_type(&s, "/Library"), "E10");
        ASSERT_STREQ(file_type(&s, "tmp"), "E10");
        ASSERT_EQ(file_open(&s, "Library/secret", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "Documents/../Library/secret", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "new.txt", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(read_dir(&s, "Documents/sneak", list, sizeof(list)), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "Documents/sneak/secret", 1, &h), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "Library2"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "Documents"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH_AND_CONTENTS, "/Documents"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "tmp"), E_PERM_DENIED);
        n = make_path_req(buf, sizeof(buf), NULL, "Documents/d.txt", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "x.txt", true);
        ASSERT_EQ(call_status(&s, OP_RENAME_PATH, buf, n), E_PERM_DENIED);
        n = make_path_req(buf, sizeof(buf), &two, "/Library", true);
        n += make_path_req(buf + n, sizeof(buf) - n, NULL, "Documents/l", true);
        ASSERT_EQ(call_status(&s, OP_MAKE_LINK, buf, n), E_PERM_DENIED);
        ASSERT_TRUE(exists(fx->root, "Library/secret") && exists(fx->root, "tmp"));

        ASSERT_EQ(file_open(&s, "Documents/self", 1, &h), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_EQ(file_open(&s, "/Documents/new.txt", 3, &h), 0);
        ASSERT_EQ(file_write(&s, h, "new", 3), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_TRUE(exists(fx->root, "Documents/new.txt"));
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "Documents/sub/dir"), 0);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH_AND_CONTENTS, "Documents/sub"), 0);
        return 0;
}

/* Send raw bytes, then expect (optionally) one STATUS with code status, then EOF; and the
 * server must have returned. */
static int expect_hangup(Fixture *fx, const void *bytes, size_t n, bool shut, long long status) {
        _cleanup_(server_stopp) Server s = {};
        uint8_t h[64];
        ssize_t k;

        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);
        ASSERT_EQ(write_all(s.fd, bytes, n), 0);
        if (shut)
                ASSERT_EQ(shutdown(s.fd, SHUT_WR), 0);
        if (status >= 0) {
                ASSERT_EQ(read_all(s.fd, h, 48), 0);
                ASSERT_TRUE(memcmp(h, "CFA6LPAA", 8) == 0);
                ASSERT_EQ(get_le64(h + 8), 48);
                ASSERT_EQ(get_le64(h + 32), OP_STATUS);
                ASSERT_EQ(get_le64(h + 40), status);
        }
        /* EOF (or a reset when bytes it did not read were left), not a timeout: the server
         * hung up by itself */
        k = recv(s.fd, h, sizeof(h), 0);
        ASSERT_TRUE(k == 0 || (k < 0 && errno == ECONNRESET));
        ASSERT_EQ(server_stop(&s), 0);
        return 0;
}

static void make_header(uint8_t *h, uint64_t entire, uint64_t this_len, uint64_t op) {
        memcpy(h, "CFA6LPAA", 8);
        put_le64(h + 8, entire);
        put_le64(h + 16, this_len);
        put_le64(h + 24, 1);
        put_le64(h + 32, op);
}

static int test_hostile(Fixture *fx) {
        uint8_t h[48] = "GARBAGE!GARBAGE!GARBAGE!GARBAGE!GARBAGE!";
        struct rusage before, after;

        ASSERT_EQ(getrusage(RUSAGE_SELF, &before), 0);

        /* bad magic */
        ASSERT_EQ(expect_hangup(fx, h, 40, false, E_HEADER_INVALID), 0);
        /* entire_length = 2^63 */
        make_header(h, 1ull << 63, 40, OP_READ_DIR);
        ASSERT_EQ(expect_hangup(fx, h, 40, false, E_TOO_MUCH_DATA), 0);
        /* 4 GiB declared, and the data is "on its way" */
        make_header(h, 4ull << 30, 48, OP_FILE_WRITE);
        ASSERT_EQ(expect_hangup(fx, h, 48, false, E_TOO_MUCH_DATA), 0);
        /* this_length > entire_length */
        make_header(h, 48, 100, OP_READ_DIR);
        ASSERT_EQ(expect_hangup(fx, h, 48, false, E_HEADER_INVALID), 0);
        /* lengths below the header size */
        make_header(h, 8, 8, OP_READ_DIR);
        ASSERT_EQ(expect_hangup(fx, h, 40, false, E_HEADER_INVALID), 0);
        make_header(h, 48, 39, OP_READ_DIR);
        ASSERT_EQ(expect_hangup(fx, h, 48, false, E_HEADER_INVALID), 0);
        /* half a header, then close */
        make_header(h, 48, 48, OP_READ_DIR);
        ASSERT_EQ(expect_hangup(fx, h, 20, true, -1), 0);
        /* a header that promises 60 MiB, 8 bytes of it, then close */
        make_header(h, 60 * MiB, 48, OP_FILE_WRITE);
        ASSERT_EQ(expect_hangup(fx, h, 48, true, -1), 0);

        /* Nothing above came near the declared sizes. */
        ASSERT_EQ(getrusage(RUSAGE_SELF, &after), 0);
        ASSERT_TRUE(after.ru_maxrss - before.ru_maxrss < 32 * 1024);
        return 0;
}

/* house_arrest: the plist command, its errors, then AFC on the same connection. */
static int house_arrest(Fixture *fx, const char *command, const char *id, const char *key,
                        const char *value, Server *s) {
        _cleanup_(plist_freep) plist_t req = plist_new_dict(), reply = NULL;
        _cleanup_(freep) char *xml = NULL, *in = NULL;
        uint32_t len = 0, be;
        plist_t node;

        ASSERT_EQ(server_start_kind(s, SERVER_HOUSE_ARREST, fx->root, NULL), 0);
        if (command)
                plist_dict_set_item(req, "Command", plist_new_string(command));
        if (id)
                plist_dict_set_item(req, "Identifier", plist_new_string(id));
        plist_to_xml(req, &xml, &len);
        ASSERT_TRUE(xml);
        be = htobe32(len);
        ASSERT_EQ(write_all(s->fd, &be, 4), 0);
        ASSERT_EQ(write_all(s->fd, xml, len), 0);

        ASSERT_EQ(read_all(s->fd, &be, 4), 0);
        len = be32toh(be);
        ASSERT_TRUE(len > 0 && len < 65536);
        in = malloc(len);
        ASSERT_TRUE(in);
        ASSERT_EQ(read_all(s->fd, in, len), 0);
        ASSERT_TRUE(memcmp(in, "<?xml", 5) == 0);
        plist_from_xml(in, len, &reply);
        ASSERT_TRUE(reply);
        ASSERT_EQ(plist_dict_get_size(reply), 1);
        node = plist_dict_get_item(reply, key);
        ASSERT_TRUE(node && plist_get_node_type(node) == PLIST_STRING);
        ASSERT_STREQ(plist_get_string_ptr(node, NULL), value);
        return 0;
}

static int test_house_arrest(Fixture *fx) {
        static const char shared[] = "[App]\nCFBundleIdentifier=com.example.shared\n"
                                     "UIFileSharingEnabled=yes\n";
        static const char private[] = "[App]\nCFBundleIdentifier=com.example.private\n"
                                      "UIFileSharingEnabled=no\n";
        char list[4096];

        ASSERT_EQ(make_dir(fx->root, "apps"), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.shared"), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.shared/Library"), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.shared/Info.ini", shared,
                             sizeof(shared) - 1), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.private"), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.private/Info.ini", private,
                             sizeof(private) - 1), 0);

        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendDocuments", "com.example.shared", "Status",
                                       "Complete", &s), 0);
                /* Documents is made on demand; the rest of the container is hidden */
                ASSERT_EQ(read_dir(&s, "/", list, sizeof(list)), 0);
                ASSERT_STREQ(list, ".|..|Documents");
                ASSERT_EQ(read_dir(&s, "/Library", list, sizeof(list)), E_PERM_DENIED);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendContainer", "com.example.private", "Status",
                                       "Complete", &s), 0);
                ASSERT_EQ(read_dir(&s, "/", list, sizeof(list)), 0);
                ASSERT_STREQ(list, ".|..|Info.ini");
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendDocuments", "com.example.private", "Error",
                                       "InstallationLookupFailed", &s), 0);
                ASSERT_EQ(recv(s.fd, list, 1, 0), 0);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendContainer", "com.example.none", "Error",
                                       "ApplicationLookupFailed", &s), 0);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendContainer", "../apps", "Error",
                                       "ApplicationLookupFailed", &s), 0);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "Vend", "com.example.shared", "Error",
                                       "UnknownCommand", &s), 0);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, NULL, "com.example.shared", "Error",
                                       "UnknownCommand", &s), 0);
        }
        {
                _cleanup_(server_stopp) Server s = {};

                ASSERT_EQ(house_arrest(fx, "VendDocuments", NULL, "Error",
                                       "MissingIdentifier", &s), 0);
        }
        return 0;
}

/* The profile of test_documents_sync(): one app with file sharing and documents with NFD
 * and NFC names. */
static int documents_fixture(Fixture *fx) {
        static const char shared[] = "[App]\nCFBundleIdentifier=com.example.shared\n"
                                     "UIFileSharingEnabled=yes\n";

        ASSERT_EQ(make_dir(fx->root, "apps"), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.shared"), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.shared/Info.ini", shared,
                             sizeof(shared) - 1), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.shared/Documents"), 0);
        ASSERT_EQ(make_dir(fx->root, "apps/com.example.shared/Documents/Sub"), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.shared/Documents/Cafe\xcc\x81.txt",
                             "old", 3), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.shared/Documents/Caf\xc3\xa9 NFC.txt",
                             "nfc", 3), 0);
        ASSERT_EQ(write_file(fx->root, "apps/com.example.shared/Documents/Sub/empty", "", 0), 0);
        return 0;
}

static long long rename_path(Server *s, const char *from, const char *to) {
        uint8_t buf[2 * PATH_MAX];
        size_t n = make_path_req(buf, sizeof(buf), NULL, from, true);

        n += make_path_req(buf + n, sizeof(buf) - n, NULL, to, true);
        return call_status(s, OP_RENAME_PATH, buf, n);
}

static long long set_mtime(Server *s, const char *path, uint64_t ns) {
        uint8_t buf[PATH_MAX + 8];

        return call_status(s, OP_SET_FILE_MOD_TIME, buf,
                           make_path_req(buf, sizeof(buf), &ns, path, true));
}

/* What a careful host does to upload a document through VendDocuments: a temporary name
 * (mode 3), write, close, rename over the old file, set its mtime; directories with
 * MAKE_DIR. Names come back byte-exact (NFD stays NFD); the stats count it; nothing outside
 * Documents can be reached. */
static int test_documents_sync(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        static const char docs[] = "apps/com.example.shared/Documents";
        static const uint64_t mtime = UINT64_C(1767225600123456789);
        char list[4096], val[64], path[PATH_MAX];
        uint8_t content[64] = "";
        struct stat st;
        uint64_t h;
        int fd;

        ASSERT_EQ(documents_fixture(fx), 0);
        ASSERT_EQ(house_arrest(fx, "VendDocuments", "com.example.shared", "Status", "Complete",
                               &s), 0);

        /* READ_DIR: the raw bytes of every name, NFD and NFC alike. */
        ASSERT_EQ(read_dir(&s, "/Documents", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|Cafe\xcc\x81.txt|Caf\xc3\xa9 NFC.txt|Sub");
        ASSERT_EQ(read_dir(&s, "Documents/Sub", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|empty");
        ASSERT_STREQ(file_type(&s, "Documents/Cafe\xcc\x81.txt"), "S_IFREG");
        ASSERT_STREQ(file_type(&s, "Documents/Cafe\xcc\x81 .txt"), "E8");
        ASSERT_STREQ(file_type(&s, "Documents/Caf\xc3\xa9.txt"), "E8");   /* no normalising */

        /* The upload. */
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "Documents/New/De\xcc\x81jà"), 0);
        ASSERT_EQ(file_open(&s, "Documents/.Cafe\xcc\x81.txt.partial", 3, &h), 0);
        ASSERT_EQ(file_write(&s, h, "new ", 4), 0);
        ASSERT_EQ(file_write(&s, h, "content", 7), 0);
        ASSERT_EQ(file_close(&s, h), 0);
        ASSERT_EQ(rename_path(&s, "Documents/.Cafe\xcc\x81.txt.partial",
                              "Documents/Cafe\xcc\x81.txt"), 0);
        ASSERT_EQ(set_mtime(&s, "Documents/Cafe\xcc\x81.txt", mtime), 0);
        ASSERT_EQ(file_info(&s, "Documents/Cafe\xcc\x81.txt", list, sizeof(list)), 0);
        ASSERT_STREQ(kv_get(list, "st_mtime", val, sizeof(val)), "1767225600123456789");
        ASSERT_STREQ(kv_get(list, "st_size", val, sizeof(val)), "11");
        ASSERT_EQ(read_dir(&s, "/Documents", list, sizeof(list)), 0);
        ASSERT_STREQ(list, ".|..|Cafe\xcc\x81.txt|Caf\xc3\xa9 NFC.txt|New|Sub");

        snprintf(path, sizeof(path), "%s/%s/Cafe\xcc\x81.txt", fx->root, docs);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(read(fd, content, sizeof(content)), 11);
        close(fd);
        ASSERT_TRUE(memcmp(content, "new content", 11) == 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mtim.tv_sec, 1767225600);
        ASSERT_EQ(st.st_mtim.tv_nsec, 123456789);
        snprintf(path, sizeof(path), "%s/%s/New/De\xcc\x81jà", fx->root, docs);
        ASSERT_TRUE(stat(path, &st) == 0 && S_ISDIR(st.st_mode));

        /* Nothing outside Documents: not by "..", not by an absolute path, not by a rename
         * or a symlink. */
        ASSERT_EQ(make_symlink(fx->root, "apps/com.example.shared/Documents/out", fx->outside),
                  0);
        ASSERT_EQ(rename_path(&s, "Documents/Sub/empty", "../Info.ini"), E_PERM_DENIED);
        ASSERT_EQ(rename_path(&s, "Documents/Sub/empty", "Info.ini"), E_PERM_DENIED);
        ASSERT_EQ(rename_path(&s, "Documents/Sub/empty", "/Documents/../../x"), E_PERM_DENIED);
        ASSERT_EQ(rename_path(&s, "Documents/Sub/empty", "Documents/out/x"), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "Documents/../Info.ini", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "/../../outside/secret", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(file_open(&s, "Documents/out/secret", 3, &h), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "../x"), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_MAKE_DIR, "Documents/out/x"), E_PERM_DENIED);
        ASSERT_EQ(set_mtime(&s, "Documents/../Info.ini", 1), E_PERM_DENIED);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "Documents/out/secret"), E_PERM_DENIED);
        ASSERT_TRUE(exists(fx->outside, "secret") && !exists(fx->outside, "x"));
        ASSERT_TRUE(exists(fx->root, "apps/com.example.shared/Info.ini"));
        ASSERT_TRUE(exists(fx->root, "apps/com.example.shared/Documents/Sub/empty"));

        /* Removes. */
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH, "Documents/Caf\xc3\xa9 NFC.txt"), 0);
        ASSERT_EQ(path_status(&s, OP_REMOVE_PATH_AND_CONTENTS, "Documents/New"), 0);
        ASSERT_TRUE(!exists(fx->root, "apps/com.example.shared/Documents/New"));

        /* What was counted: every request, refused ones too. */
        ASSERT_EQ(s.device.stats.doc_writes, 2);
        ASSERT_EQ(s.device.stats.doc_renames, 5);
        ASSERT_EQ(s.device.stats.doc_removes, 3);
        ASSERT_EQ(s.device.stats.afc_removes, 3);
        ASSERT_EQ(s.device.stats.files_received, 1);
        ASSERT_EQ(s.device.stats.dcim_removes, 0);
        return 0;
}

/* doc-detach-after-bytes N: the write that crosses N stores up to N and is not answered;
 * the device is unplugged and the fault is gone. */
static int test_documents_detach(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        char *argv[] = { (char *) "doc-detach-after-bytes", (char *) "10" };
        char *none[] = { (char *) "none" };
        char reply[256], path[PATH_MAX];
        Reply r = {};
        struct stat st;
        uint64_t h;

        ASSERT_EQ(documents_fixture(fx), 0);
        ASSERT_EQ(house_arrest(fx, "VendDocuments", "com.example.shared", "Status", "Complete",
                               &s), 0);
        emu_lock();
        ASSERT_TRUE(afc_fault_command(&s.device, 2, argv, reply, sizeof(reply)));
        emu_unlock();
        ASSERT_STREQ(reply, "ok fault TEST doc-detach-after-bytes 10");

        ASSERT_EQ(file_open(&s, "Documents/upload.tmp", 3, &h), 0);
        ASSERT_EQ(file_write(&s, h, "123456", 6), 0);
        ASSERT_EQ(afc_send(&s, OP_FILE_WRITE, &(uint64_t) { htole64(h) }, 8, "abcdefgh", 8), 0);
        ASSERT_TRUE(afc_recv(&s, &r) < 0);              /* cut, no reply */
        reply_done(&r);
        ASSERT_EQ(server_stop(&s), 0);

        snprintf(path, sizeof(path), "%s/apps/com.example.shared/Documents/upload.tmp",
                 fx->root);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 10);
        ASSERT_TRUE(!s.device.attached);
        ASSERT_TRUE(!s.device.afc_faults.doc_detach_armed);
        ASSERT_EQ(s.device.stats.doc_writes, 2);

        /* Armed again, then cleared by `fault none`: writes go through. */
        emu_lock();
        ASSERT_TRUE(afc_fault_command(&s.device, 2, argv, reply, sizeof(reply)));
        ASSERT_TRUE(!afc_fault_command(&s.device, 1, none, reply, sizeof(reply)));
        afc_faults_clear(&s.device);
        emu_unlock();
        ASSERT_TRUE(!s.device.afc_faults.doc_detach_armed);
        {
                _cleanup_(server_stopp) Server t = {};

                ASSERT_EQ(house_arrest(fx, "VendDocuments", "com.example.shared", "Status",
                                       "Complete", &t), 0);
                ASSERT_EQ(file_open(&t, "Documents/upload.tmp", 3, &h), 0);
                ASSERT_EQ(file_write(&t, h, "0123456789abcdef", 16), 0);
                ASSERT_EQ(file_close(&t, h), 0);
                ASSERT_TRUE(t.device.attached);
        }
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 16);
        return 0;
}

static int test_crashreport_mover(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        char ping[5];

        ASSERT_EQ(server_start_kind(&s, SERVER_MOVER, fx->root, NULL), 0);
        ASSERT_EQ(read_all(s.fd, ping, 5), 0);
        ASSERT_TRUE(memcmp(ping, "ping", 5) == 0);
        ASSERT_EQ(server_stop(&s), 0);
        return 0;
}

/* Raw FILE_READ throughput with 1 MiB reads; printed, not judged. */
static int bench_read(Fixture *fx) {
        _cleanup_(server_stopp) Server s = {};
        _cleanup_(freep) uint8_t *data = calloc(1, 8 * MiB);
        const char *env = getenv("AFC_BENCH_MB");
        uint64_t want = (env ? strtoull(env, NULL, 10) : 64) * MiB, total = 0, h;
        struct timespec t0, t1;
        double secs;
        uint8_t req[16];

        ASSERT_TRUE(data);
        ASSERT_EQ(write_file(fx->root, "bench", data, 8 * MiB), 0);
        ASSERT_EQ(server_start(&s, fx->root, NULL), 0);
        ASSERT_EQ(file_open(&s, "bench", 1, &h), 0);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        while (total < want) {
                uint8_t hdr[40];
                uint64_t n;

                put_le64(req, h);
                put_le64(req + 8, MiB);
                ASSERT_EQ(afc_send(&s, OP_FILE_READ, req, 16, NULL, 0), 0);
                ASSERT_EQ(read_all(s.fd, hdr, 40), 0);
                ASSERT_EQ(get_le64(hdr + 32), OP_DATA);
                n = get_le64(hdr + 8) - 40;
                ASSERT_TRUE(n <= MiB);
                ASSERT_EQ(read_all(s.fd, data, n), 0);
                if (n == 0)
                        ASSERT_EQ(file_seek(&s, h, 0, 0), 0);
                total += n;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ASSERT_EQ(file_close(&s, h), 0);

        secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("afc: FILE_READ %.0f MB/s (%" PRIu64 " MiB in 1 MiB reads over a socketpair)\n",
               (double) total / 1e6 / (secs > 0 ? secs : 1e-9), total / MiB);
        return 0;
}

static const struct {
        const char *name;
        int (*fn)(Fixture *fx);
} tests[] = {
        { "read_dir", test_read_dir },
        { "file_info", test_file_info },
        { "round_trip", test_round_trip },
        { "seek_tell", test_seek_tell },
        { "lock", test_lock },
        { "paths", test_paths },
        { "ops", test_ops },
        { "only_documents", test_only_documents },
        { "hostile", test_hostile },
        { "house_arrest", test_house_arrest },
        { "documents_sync", test_documents_sync },
        { "documents_detach", test_documents_detach },
        { "crashreport_mover", test_crashreport_mover },
        { "bench_read", bench_read },
};

int main(int argc, char *argv[]) {
        int failed = 0;

        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                _cleanup_(fixture_done) Fixture fx = {};
                int r = fixture_init(&fx);

                if (r < 0) {
                        fprintf(stderr, "FAIL: fixture for %s: %s at %s:%d\n", tests[i].name,
                                strerror(-r), __FILE__, __LINE__);
                        return 1;
                }
                if (tests[i].fn(&fx) < 0) {
                        fprintf(stderr, "FAIL: test %s\n", tests[i].name);
                        failed++;
                }
        }
        return failed ? 1 : 0;
}
