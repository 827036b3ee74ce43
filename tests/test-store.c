/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/store.c, the snapshot store: the device lock, first and incremental
 * runs (hard links shared, older snapshots byte-identical), abort and stale staging
 * cleanup, invisibility of uncommitted or corrupt snapshots, a SIGKILL at every crash point
 * of store_begin/staging_commit/store_delete, write errors during commit, retention,
 * verify and file modes. Prints "FAIL: <expr> at file:line" per failed check; exit status
 * 0 or 1.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "fs-util.h"
#include "idevicesync.h"
#include "lock.h"
#include "store.h"
#include "util.h"
#include "test-util.h"

#define UDID "00008030-001A2B3C4D5E802E"

static char tmpdir[] = "/tmp/test-store.XXXXXX";

/* ---- helpers ------------------------------------------------------------------------- */

static void make_state(const char *name, char *ret, size_t size) {
        snprintf(ret, size, "%s/%s", tmpdir, name);
}

static Store *open_store(const char *state) {
        Store *s = NULL;
        int r = store_open(state, NULL, UDID, &s);

        if (r < 0) {
                printf("FAIL: store_open('%s'): %s at %s:%d\n", state, strerror(-r), __FILE__,
                       __LINE__);
                failures++;
                return NULL;
        }
        return s;
}

/* A new file beneath the staging root, the way the backup engine creates one. */
static void put_new(Staging *st, const char *path, const char *content) {
        int root = staging_root_fd(st), fd;
        const char *name;

        fd = fs_open_parent_beneath(root, path, true, &name);
        ASSERT(fd >= 0);
        if (fd >= 0)
                close(fd);
        fd = fs_open_beneath(root, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        ASSERT(fd >= 0);
        if (fd < 0)
                return;
        ASSERT_OK(fs_write_all(fd, content, strlen(content)));
        close(fd);
}

/* A changed file: temp name + rename over the hard link. */
static void put_replace(Staging *st, const char *path, const char *content) {
        ASSERT_OK(fs_write_atomic_beneath(staging_root_fd(st), path, content, strlen(content),
                                          false));
}

/* Commit; a successful commit consumes *st. */
static int commit(Staging **st, SnapshotInfo *info) {
        int r;

        *info = (SnapshotInfo) {
                .start_usec = 1000,
                .new_bytes = 42,
                .encrypted = false,
                .full = true,
        };
        strcpy(info->ios_version, "17.4 (21E219)");
        r = staging_commit(*st, info);
        if (r >= 0)
                *st = NULL;
        return r;
}

/* One whole run: begin, changes, commit. Returns 0 and the new id. */
static int run_backup(Store *s, const char *changed_content, char id[static 32]) {
        _cleanup_(staging_abortp) Staging *st = NULL;
        SnapshotInfo info;
        int r;

        r = store_begin(s, false, &st);
        if (r < 0)
                return r;
        put_replace(st, UDID "/Manifest.db", changed_content);
        put_replace(st, UDID "/Status.plist", "status");
        r = commit(&st, &info);
        if (r < 0)
                return r;
        strcpy(id, info.id);
        return 0;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* Order-independent digest of a whole tree: paths, types, modes, contents, link targets. */
static uint64_t tree_digest_fd(int dir_fd, const char *prefix) {
        uint64_t sum = 0;
        DIR *d;
        int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || !(d = fdopendir(fd))) {
                if (fd >= 0)
                        close(fd);
                return 0;
        }
        for (struct dirent *de; (de = readdir(d));) {
                char path[PATH_MAX];
                uint64_t h = UINT64_C(0xcbf29ce484222325);
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", prefix, de->d_name);
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                h = fnv(h, path, strlen(path) + 1);
                h = fnv(h, &st.st_mode, sizeof(st.st_mode));
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd(d), de->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (sub >= 0) {
                                h += tree_digest_fd(sub, path);
                                close(sub);
                        }
                } else if (S_ISREG(st.st_mode)) {
                        int f = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        char buf[4096];
                        ssize_t l;

                        while (f >= 0 && (l = read(f, buf, sizeof(buf))) > 0)
                                h = fnv(h, buf, (size_t) l);
                        if (f >= 0)
                                close(f);
                } else if (S_ISLNK(st.st_mode)) {
                        char t[PATH_MAX];
                        ssize_t l = readlinkat(dirfd(d), de->d_name, t, sizeof(t));

                        if (l > 0)
                                h = fnv(h, t, (size_t) l);
                }
                sum += h * 31 + 7;
        }
        closedir(d);
        return sum;
}

static uint64_t tree_digest(const char *path) {
        int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t h;

        if (fd < 0)
                return 0;
        h = tree_digest_fd(fd, "");
        close(fd);
        return h;
}

static uint64_t snapshot_digest(Store *s, const char *id) {
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/snapshots/%s", store_device_dir(s), id);
        return tree_digest(path);
}

static ino_t ino_of(const char *dir, const char *rel) {
        char path[PATH_MAX];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (lstat(path, &st) < 0)
                return 0;
        return st.st_ino;
}

/* Entries of <device>/snapshots whose name starts with prefix. */
static int count_entries(Store *s, const char *prefix) {
        char path[PATH_MAX];
        int n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "%s/snapshots", store_device_dir(s));
        d = opendir(path);
        if (!d)
                return -1;
        for (struct dirent *de; (de = readdir(d));)
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
                    strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void latest_target(Store *s, char *buf, size_t size) {
        char path[PATH_MAX];
        ssize_t l;

        snprintf(path, sizeof(path), "%s/latest", store_device_dir(s));
        l = readlink(path, buf, size - 1);
        buf[l < 0 ? 0 : l] = 0;
}

/* Write a commit record by hand (the format of store.c), to fake times and damage:
 * flip_byte >= 0 flips a bit of that byte, -2 tears the record in half, -1 neither. */
static int write_record(const char *snapshot_dir, uint64_t end_usec, int version,
                        int flip_byte) {
        char rec[1024], path[PATH_MAX + 16];
        int n, fd;

        n = snprintf(rec, sizeof(rec),
                     "format_version=%d\nudid=" UDID "\nios_version=17.0\nstart_usec=1\n"
                     "end_usec=%" PRIu64 "\nresult=done\nfiles=0\nbytes=0\nnew_bytes=0\n"
                     "encrypted=0\nfull=1\n",
                     version, end_usec);
        n += snprintf(rec + n, sizeof(rec) - (size_t) n, "checksum=%08lx\n",
                      crc32(0, (const Bytef *) rec, (uInt) n));
        if (flip_byte >= 0 && flip_byte < n)
                rec[flip_byte] ^= 0x01;
        else if (flip_byte == -2)
                n /= 2;                         /* torn: half a record */
        snprintf(path, sizeof(path), "%s/commit", snapshot_dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        fs_write_all(fd, rec, (size_t) n);
        close(fd);
        return 0;
}

/* A committed, empty snapshot made by hand, ending at end_usec. */
static void fake_snapshot(Store *s, const char *id, uint64_t end_usec, int version,
                          int flip_byte) {
        char dir[1024], path[PATH_MAX], idx[128];
        int n, fd;

        snprintf(dir, sizeof(dir), "%s/snapshots/%s", store_device_dir(s), id);
        ASSERT_SYS(mkdir(dir, 0700));
        snprintf(path, sizeof(path), "%s/" UDID, dir);
        ASSERT_SYS(mkdir(path, 0700));
        n = snprintf(idx, sizeof(idx), "idevicesync-index 1\n");
        n += snprintf(idx + n, sizeof(idx) - (size_t) n, "e 0 0 %08lx\n",
                      crc32(0, (const Bytef *) idx, (uInt) n));
        snprintf(path, sizeof(path), "%s/index", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT(fd >= 0);
        if (fd >= 0) {
                ASSERT_OK(fs_write_all(fd, idx, (size_t) n));
                close(fd);
        }
        ASSERT_OK(write_record(dir, end_usec, version, flip_byte));
}

/* Rewrite the end time of a committed snapshot (with a valid checksum). */
static void set_end_usec(Store *s, const char *id, uint64_t end_usec) {
        char dir[1024], path[PATH_MAX], *data = NULL, *out, *line;
        size_t n;
        uLong crc;
        int fd;

        snprintf(dir, sizeof(dir), "%s/snapshots/%s", store_device_dir(s), id);
        snprintf(path, sizeof(path), "%s/commit", dir);
        ASSERT_OK(fs_read_file(path, 4096, &data, &n));
        if (!data)
                return;
        out = calloc(1, n + 64);
        ASSERT(out);
        if (!out)
                return;
        for (line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "checksum=", 9) == 0)
                        continue;
                if (strncmp(line, "end_usec=", 9) == 0)
                        sprintf(out + strlen(out), "end_usec=%" PRIu64 "\n", end_usec);
                else
                        sprintf(out + strlen(out), "%s\n", line);
        }
        crc = crc32(0, (const Bytef *) out, (uInt) strlen(out));
        sprintf(out + strlen(out), "checksum=%08lx\n", crc);
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ASSERT(fd >= 0);
        if (fd >= 0) {
                ASSERT_OK(fs_write_all(fd, out, strlen(out)));
                close(fd);
        }
        free(out);
        free(data);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Children report one byte through a pipe and then wait to be killed with SIGKILL from
 * outside: a real kill, and one that valgrind cannot turn into a leak report about the
 * parent's heap. */
static int child_fd = -1;

static _Noreturn void child_report(char c) {
        (void) !write(child_fd, &c, 1);
        for (;;)
                pause();
}

/* Run fn in a child; returns the byte it reported, 0 if it died without one. */
static char run_child(void (*fn)(void *userdata), void *userdata) {
        int p[2], status;
        char c = 0;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return 0;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                child_fd = p[1];
                fn(userdata);
                child_report('?');
        }
        close(p[1]);
        if (pid < 0) {
                close(p[0]);
                return 0;
        }
        if (read(p[0], &c, 1) != 1)
                c = 0;
        close(p[0]);
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, &status, 0);
        return c;
}

/* ---- tests --------------------------------------------------------------------------- */

static void lock_child(void *userdata) {
        Store *c = NULL;

        child_report(store_open(userdata, NULL, UDID, &c) == -EBUSY ? 'b' : 'x');
}

static void test_open_lock(void) {
        char state[PATH_MAX], path[PATH_MAX + 64];
        Store *s, *s2 = NULL;
        struct stat st;

        make_state("lock/state", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;

        ASSERT(stat(state, &st) == 0 && (st.st_mode & 07777) == 0700);
        snprintf(path, sizeof(path), "%s/" UDID, state);
        ASSERT_STREQ(store_device_dir(s), path);
        ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700);
        snprintf(path, sizeof(path), "%s/" UDID "/lock", state);
        ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        snprintf(path, sizeof(path), "%s/" UDID "/snapshots", state);
        ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700);

        /* Another process: busy, without waiting. */
        ASSERT_EQ(run_child(lock_child, state), 'b');

        /* Another device in the same state dir is independent. */
        ASSERT_OK(store_open(state, NULL, "abcdef0123456789", &s2));
        s2 = store_close(s2);

        ASSERT_EQ(store_open(state, NULL, "../etc", &s2), -EINVAL);
        ASSERT_EQ(store_open(state, NULL, "", &s2), -EINVAL);
        ASSERT_EQ(store_open(state, NULL, "xyz", &s2), -EINVAL);
        ASSERT_EQ(store_open(state, NULL, "0123456789abcdef0123456789abcdef"
                                    "0123456789abcdef0123456789abcdef0", &s2), -EINVAL);
        ASSERT_EQ(store_open(NULL, NULL, UDID, &s2), -EINVAL);
        ASSERT(!s2);

        s = store_close(s);
        ASSERT(!s);
        ASSERT(!store_close(NULL));

        /* Released with the Store. */
        s = open_store(state);
        store_close(s);
}

static void test_empty(void) {
        char state[PATH_MAX];
        SnapshotInfo *list = (SnapshotInfo *) 1, info;
        size_t n = 99;
        uint64_t avail = 0;
        char *path = NULL;
        Store *s;

        make_state("empty", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;

        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 0);
        free(list);
        ASSERT_EQ(store_latest(s, &info), -ENOENT);
        ASSERT_EQ(store_get(s, "20260101T000000Z", &info), -ENOENT);
        ASSERT_EQ(store_get(s, "../../etc", &info), -EINVAL);
        ASSERT_EQ(store_get(s, "20260101T000000Z-1", &info), -EINVAL);
        ASSERT_EQ(store_get(s, "20260101T000000Z/..", &info), -EINVAL);
        ASSERT_EQ(store_snapshot_path(s, "20260101T000000Z", &path), -ENOENT);
        ASSERT_EQ(store_delete(s, "20260101T000000Z"), -ENOENT);
        ASSERT_EQ(store_prune(s, 1, 1, 1), 0);
        ASSERT_OK(store_free_space(s, &avail));
        ASSERT(avail > 0);
        store_close(s);
}

/* First and second run, abort, from_scratch, the same-second suffix. */
static void test_runs(void) {
        char state[PATH_MAX], snap1[PATH_MAX], snap2[PATH_MAX], target[64], id3[32];
        _cleanup_(staging_abortp) Staging *st = NULL;
        SnapshotInfo info, info2, got, *list = NULL;
        uint64_t before, after;
        char *path = NULL;
        Staging *other;
        size_t n = 0;
        Store *s;

        make_state("runs", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;

        /* Run 1: a full backup. */
        ASSERT_OK(store_begin(s, false, &st));
        if (!st)
                goto out;
        ASSERT_EQ(store_begin(s, false, &other), -EBUSY);
        ASSERT(strstr(staging_root_path(st), "/snapshots/.staging-"));
        put_new(st, UDID "/ab/abcdef0123456789abcdef0123456789abcdef01", "file one");
        put_new(st, UDID "/cd/cdef0123456789abcdef0123456789abcdef0123", "file two");
        put_new(st, UDID "/Manifest.db", "manifest v1");
        put_new(st, UDID "/Info.plist", "info");
        put_new(st, UDID "/Status.plist", "status");
        ASSERT_OK(commit(&st, &info));
        ASSERT_EQ(info.files, 5);
        ASSERT_EQ(info.bytes, 8 + 8 + 11 + 4 + 6);
        ASSERT_STREQ(info.result, "done");
        ASSERT(info.end_usec > 0 && strlen(info.id) >= 16);
        ASSERT(!st);                    /* consumed by the commit */

        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        if (n == 1) {
                ASSERT_STREQ(list[0].id, info.id);
                ASSERT_STREQ(list[0].ios_version, "17.4 (21E219)");
                ASSERT_EQ(list[0].files, 5);
                ASSERT_EQ(list[0].new_bytes, 42);
                ASSERT_EQ(list[0].start_usec, 1000);
                ASSERT_EQ(list[0].end_usec, info.end_usec);
                ASSERT(list[0].full && !list[0].encrypted);
        }
        free(list);
        ASSERT_OK(store_latest(s, &got));
        ASSERT_STREQ(got.id, info.id);
        latest_target(s, target, sizeof(target));
        ASSERT(strncmp(target, "snapshots/", 10) == 0 && strcmp(target + 10, info.id) == 0);
        ASSERT_OK(store_snapshot_path(s, info.id, &path));
        snprintf(snap1, sizeof(snap1), "%s/snapshots/%s", store_device_dir(s), info.id);
        ASSERT_STREQ(path, snap1);
        free(path);
        ASSERT_EQ(count_entries(s, ".staging-"), 0);

        /* Run 2: incremental; hard links; snapshot 1 never changes. */
        before = tree_digest(snap1);
        ASSERT_OK(store_begin(s, false, &st));
        if (!st)
                goto out;
        {
                char stage[PATH_MAX];

                snprintf(stage, sizeof(stage), "%s/" UDID, staging_root_path(st));
                ASSERT_EQ(ino_of(stage, "Manifest.db"), ino_of(snap1, UDID "/Manifest.db"));
                ASSERT_EQ(ino_of(stage, "ab/abcdef0123456789abcdef0123456789abcdef01"),
                          ino_of(snap1, UDID "/ab/abcdef0123456789abcdef0123456789abcdef01"));
                ASSERT(ino_of(stage, "ab") != ino_of(snap1, UDID "/ab"));
        }
        put_replace(st, UDID "/Manifest.db", "manifest v2, longer");
        ASSERT_OK(fs_remove_beneath(staging_root_fd(st),
                                    UDID "/ab/abcdef0123456789abcdef0123456789abcdef01"));
        put_new(st, UDID "/ef/ef0123456789abcdef0123456789abcdef012345", "file three");
        ASSERT_OK(commit(&st, &info2));
        after = tree_digest(snap1);
        ASSERT(before != 0 && before == after);
        ASSERT(strcmp(info.id, info2.id) != 0);
        if (strncmp(info.id, info2.id, 16) == 0) {
                char want[40];

                snprintf(want, sizeof(want), "%.16s-2", info.id);
                ASSERT_STREQ(info2.id, want);
        }
        ASSERT(info2.end_usec > info.end_usec);
        ASSERT_EQ(info2.files, 5);
        snprintf(snap2, sizeof(snap2), "%s/snapshots/%s", store_device_dir(s), info2.id);
        ASSERT_EQ(ino_of(snap1, UDID "/Info.plist"), ino_of(snap2, UDID "/Info.plist"));
        ASSERT_EQ(ino_of(snap1, UDID "/cd/cdef0123456789abcdef0123456789abcdef0123"),
                  ino_of(snap2, UDID "/cd/cdef0123456789abcdef0123456789abcdef0123"));
        ASSERT(ino_of(snap1, UDID "/Manifest.db") != ino_of(snap2, UDID "/Manifest.db"));
        ASSERT(ino_of(snap2, UDID "/ab/abcdef0123456789abcdef0123456789abcdef01") == 0);
        ASSERT_OK(store_latest(s, &got));
        ASSERT_STREQ(got.id, info2.id);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 2);
        if (n == 2) {
                ASSERT_STREQ(list[0].id, info.id);
                ASSERT_STREQ(list[1].id, info2.id);
        }
        free(list);
        /* Without the lock (which this Store holds), for listings during a backup. */
        ASSERT_OK(store_list_readonly(state, UDID, &list, &n));
        ASSERT_EQ(n, 2);
        if (n == 2)
                ASSERT_STREQ(list[1].id, info2.id);
        free(list);
        ASSERT_EQ(store_list_readonly(state, "abcdef", &list, &n), -ENOENT);
        ASSERT_EQ(store_list_readonly(state, "../" UDID, &list, &n), -EINVAL);
        {
                VerifyReport rep;

                /* The reused CRCs must be right: verify re-reads everything. */
                ASSERT_OK(store_verify(s, info2.id, &rep));
                ASSERT_EQ(rep.files_checked, 5);
                ASSERT_EQ(rep.changed + rep.missing + rep.unindexed, 0);
        }

        /* Abort leaves nothing. */
        before = tree_digest(store_device_dir(s));
        ASSERT_OK(store_begin(s, false, &st));
        put_replace(st, UDID "/Manifest.db", "never committed");
        put_new(st, UDID "/new/file", "never committed");
        st = staging_abort(st);
        ASSERT_EQ(count_entries(s, ".staging-"), 0);
        ASSERT(tree_digest(store_device_dir(s)) == before);

        /* From scratch: an empty <UDID>/. */
        ASSERT_OK(store_begin(s, true, &st));
        if (st) {
                char stage[PATH_MAX];
                struct stat sb;

                snprintf(stage, sizeof(stage), "%s/" UDID, staging_root_path(st));
                ASSERT(stat(stage, &sb) == 0 && S_ISDIR(sb.st_mode));
                ASSERT_EQ(ino_of(stage, "Manifest.db"), 0);
                st = staging_abort(st);
        }

        /* Closing the store discards an open staging; the Staging then only frees. */
        ASSERT_OK(store_begin(s, false, &st));
        s = store_close(s);
        ASSERT_EQ(staging_commit(st, &info), -ESTALE);
        st = staging_abort(st);
        s = open_store(state);
        if (!s)
                return;
        ASSERT_EQ(count_entries(s, ".staging-"), 0);

        /* A newest snapshot from the future (clock went back): the next one still sorts
         * last, in the same second, as -2. */
        fake_snapshot(s, "20991231T235958Z", UINT64_C(4102444798500000), 1, -1);
        ASSERT_OK(run_backup(s, "after future", id3));
        ASSERT_STREQ(id3, "20991231T235958Z-2");
        ASSERT_OK(store_latest(s, &got));
        ASSERT_STREQ(got.id, "20991231T235958Z-2");
        ASSERT_EQ(got.end_usec, UINT64_C(4102444798500001));
        ASSERT_OK(run_backup(s, "after future 2", id3));
        ASSERT_STREQ(id3, "20991231T235958Z-3");
out:
        store_close(s);
}

static void test_stale_and_invalid(void) {
        char state[PATH_MAX], path[PATH_MAX + 64], id[32], target[64];
        SnapshotInfo *list = NULL, info;
        size_t n = 0;
        Store *s;
        int fd;

        make_state("stale", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;
        ASSERT_OK(run_backup(s, "m1", id));

        /* Leftovers of killed runs and removals. */
        snprintf(path, sizeof(path), "%s/snapshots/.staging-abcdefgh", store_device_dir(s));
        ASSERT_SYS(mkdir(path, 0700));
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT(fd >= 0);
        ASSERT_OK(fs_write_atomic_beneath(fd, UDID "/sub/file", "x", 1, false));
        ASSERT_OK(fs_write_atomic_beneath(fd, "commit", "garbage", 7, false));
        close(fd);
        snprintf(path, sizeof(path), "%s/snapshots/.staging-rm-20200101T000000Z",
                 store_device_dir(s));
        ASSERT_SYS(mkdir(path, 0700));
        snprintf(path, sizeof(path), "%s/latest.tmp", store_device_dir(s));
        ASSERT_SYS(symlink("snapshots/nothing", path));
        ASSERT_EQ(count_entries(s, ".staging-"), 2);
        store_close(s);
        s = open_store(state);
        if (!s)
                return;
        ASSERT_EQ(count_entries(s, ".staging-"), 0);
        snprintf(path, sizeof(path), "%s/latest.tmp", store_device_dir(s));
        ASSERT(access(path, F_OK) < 0);

        /* Invisible: no record, a flipped byte, a truncated record, a newer format. */
        snprintf(path, sizeof(path), "%s/snapshots/20200101T000000Z", store_device_dir(s));
        ASSERT_SYS(mkdir(path, 0700));
        fake_snapshot(s, "20200102T000000Z", UINT64_C(1577923200000000), 1, 40);
        fake_snapshot(s, "20200103T000000Z", UINT64_C(1578009600000000), 1, -2);
        fake_snapshot(s, "20200104T000000Z", UINT64_C(1578096000000000), 2, -1);
        fake_snapshot(s, "20991231T000000Z", UINT64_C(4102358400000000), 1, 5);
        snprintf(path, sizeof(path), "%s/snapshots/not-a-snapshot", store_device_dir(s));
        ASSERT_SYS(mkdir(path, 0700));
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        if (n == 1)
                ASSERT_STREQ(list[0].id, id);
        free(list);
        ASSERT_EQ(store_get(s, "20200101T000000Z", &info), -ENOENT);
        ASSERT_EQ(store_get(s, "20200102T000000Z", &info), -ENOENT);
        ASSERT_EQ(store_get(s, "20200103T000000Z", &info), -ENOENT);
        ASSERT_EQ(store_get(s, "20200104T000000Z", &info), -ENOENT);
        ASSERT_EQ(store_delete(s, "20200102T000000Z"), -ENOENT);
        ASSERT_OK(store_latest(s, &info));
        ASSERT_STREQ(info.id, id);

        /* A wrong `latest` (pointing at an invalid snapshot) is repaired on open; the
         * invalid directories are left alone by open. */
        snprintf(path, sizeof(path), "%s/latest", store_device_dir(s));
        ASSERT_SYS(unlink(path));
        ASSERT_SYS(symlink("snapshots/20991231T000000Z", path));
        ASSERT_OK(store_latest(s, &info));      /* falls back to the newest committed */
        ASSERT_STREQ(info.id, id);
        store_close(s);
        s = open_store(state);
        if (!s)
                return;
        latest_target(s, target, sizeof(target));
        ASSERT(strcmp(target + 10, id) == 0);
        ASSERT_EQ(count_entries(s, "2020010"), 4);

        /* Prune removes damaged ones older than the newest, keeps the newer format, the
         * newer damaged one and every committed one. */
        ASSERT_EQ(store_prune(s, 0, 0, 0), 3);
        ASSERT_EQ(count_entries(s, "2020010"), 1);
        ASSERT_EQ(count_entries(s, "20200104T000000Z"), 1);
        ASSERT_EQ(count_entries(s, "20991231T000000Z"), 1);
        ASSERT_EQ(count_entries(s, "not-a-snapshot"), 1);
        ASSERT_OK(store_get(s, id, &info));
        store_close(s);
}

static StoreCrashPoint crash_at;

static void crash_hook(StoreCrashPoint point) {
        if (point == crash_at)
                child_report('k');      /* and the parent kills us here */
}

typedef struct CrashRun {
        const char *state;
        const char *delete_id;          /* NULL: a backup run */
} CrashRun;

static void crash_child(void *userdata) {
        const CrashRun *run = userdata;
        Staging *st = NULL;
        SnapshotInfo info;
        Store *c = NULL;

        store_set_crash_hook(crash_hook);
        if (store_open(run->state, NULL, UDID, &c) < 0)
                child_report('o');
        if (run->delete_id) {
                (void) store_delete(c, run->delete_id);
                child_report('d');
        }
        if (store_begin(c, false, &st) < 0)
                child_report('b');
        put_replace(st, UDID "/Manifest.db", "crashing run");
        put_new(st, UDID "/crash/file", "new in crashing run");
        (void) commit(&st, &info);
        child_report('c');              /* the hook did not fire */
}

/* Kill a child at each crash point of begin + commit (and delete); afterwards every
 * earlier snapshot is byte-identical, `latest` is valid and the next run works. */
static void test_crash(void) {
        static const StoreCrashPoint commit_points[] = {
                STORE_CRASH_BEGIN_LINKED_ONE,     STORE_CRASH_COMMIT_SYNCED,
                STORE_CRASH_COMMIT_INDEXING,      STORE_CRASH_COMMIT_INDEX_DONE,
                STORE_CRASH_COMMIT_RECORD_HALF,   STORE_CRASH_COMMIT_RECORD_DONE,
                STORE_CRASH_COMMIT_RENAMED,       STORE_CRASH_COMMIT_LATEST_TMP,
                STORE_CRASH_COMMIT_LATEST_MOVED,  STORE_CRASH_REMOVE_RENAMED,
                STORE_CRASH_REMOVE_LATEST_MOVED,
        };
        char state[PATH_MAX], id[32];
        Store *s;

        make_state("crash", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;
        ASSERT_OK(run_backup(s, "base", id));
        ASSERT_OK(run_backup(s, "base 2", id));
        store_close(s);

        for (size_t i = 0; i < ELEMENTSOF(commit_points); i++) {
                bool removing = commit_points[i] >= STORE_CRASH_REMOVE_RENAMED;
                SnapshotInfo *before = NULL, *after = NULL, latest;
                uint64_t digests[64];
                size_t nb = 0, na = 0;
                char target[64], c;
                CrashRun run;

                s = open_store(state);
                if (!s)
                        return;
                ASSERT_OK(store_list(s, &before, &nb));
                ASSERT(nb >= 2 && nb < ELEMENTSOF(digests));
                for (size_t k = 0; k < nb && k < ELEMENTSOF(digests); k++)
                        digests[k] = snapshot_digest(s, before[k].id);
                store_close(s);

                crash_at = commit_points[i];
                run = (CrashRun) { state, removing ? before[nb - 1].id : NULL };
                c = run_child(crash_child, &run);
                if (c != 'k') {
                        printf("FAIL: crash point %d: child reported '%c' at %s:%d\n",
                               commit_points[i], c ? c : '0', __FILE__, __LINE__);
                        failures++;
                }

                s = open_store(state);
                if (!s) {
                        free(before);
                        return;
                }
                ASSERT_EQ(count_entries(s, ".staging-"), 0);
                ASSERT_OK(store_list(s, &after, &na));

                /* Every earlier snapshot is still there and unchanged, except the one a
                 * crashed delete had already moved aside. */
                for (size_t k = 0; k < nb; k++) {
                        bool found = false;

                        for (size_t j = 0; j < na; j++)
                                if (strcmp(before[k].id, after[j].id) == 0)
                                        found = true;
                        if (removing && k == nb - 1) {
                                ASSERT(!found);
                                continue;
                        }
                        if (!found || snapshot_digest(s, before[k].id) != digests[k]) {
                                printf("FAIL: crash point %d: snapshot %s lost or changed at "
                                       "%s:%d\n", commit_points[i], before[k].id, __FILE__,
                                       __LINE__);
                                failures++;
                        }
                }
                if (removing)
                        ASSERT_EQ(na, nb - 1);
                else if (commit_points[i] >= STORE_CRASH_COMMIT_RENAMED)
                        ASSERT_EQ(na, nb + 1);  /* published before the kill */
                else
                        ASSERT_EQ(na, nb);

                /* `latest` names the newest committed snapshot. */
                latest_target(s, target, sizeof(target));
                ASSERT(na > 0 && strcmp(target + 10, after[na - 1].id) == 0);
                ASSERT_OK(store_latest(s, &latest));
                ASSERT(na > 0 && strcmp(latest.id, after[na - 1].id) == 0);

                /* The next run works and is sound. */
                ASSERT_OK(run_backup(s, "after the crash", id));
                {
                        VerifyReport rep;

                        ASSERT_OK(store_verify(s, id, &rep));
                        ASSERT_EQ(rep.changed + rep.missing + rep.unindexed, 0);
                }
                free(before);
                free(after);
                store_close(s);
        }
}

/* A write error while committing (EFBIG via RLIMIT_FSIZE, standing in for ENOSPC): the
 * error is returned, nothing is published, and the staging can be retried or aborted. */
static void test_commit_error(void) {
        char state[PATH_MAX], id[32];
        _cleanup_(staging_abortp) Staging *st = NULL;
        SnapshotInfo info, *list = NULL;
        struct rlimit old, small;
        size_t n = 0;
        Store *s;
        int r;

        make_state("enospc", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;
        ASSERT_OK(run_backup(s, "m1", id));
        ASSERT_OK(store_begin(s, false, &st));
        if (!st)
                goto out;
        for (int i = 0; i < 200; i++) {
                char p[128];

                snprintf(p, sizeof(p), UDID "/%02x/%040d", i, i);
                put_new(st, p, "content");
        }

        ASSERT_SYS(getrlimit(RLIMIT_FSIZE, &old));
        small = old;
        small.rlim_cur = 512;
        signal(SIGXFSZ, SIG_IGN);
        ASSERT_SYS(setrlimit(RLIMIT_FSIZE, &small));
        r = commit(&st, &info);
        ASSERT_SYS(setrlimit(RLIMIT_FSIZE, &old));
        signal(SIGXFSZ, SIG_DFL);
        ASSERT_EQ(r, -EFBIG);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        free(list);
        ASSERT_EQ(count_entries(s, ".staging-"), 1);

        /* After space was made: the same staging commits. */
        ASSERT_OK(commit(&st, &info));
        ASSERT_EQ(info.files, 202);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 2);
        free(list);

        /* And a failed one can be aborted. */
        ASSERT_OK(store_begin(s, false, &st));
        small.rlim_cur = 64;
        signal(SIGXFSZ, SIG_IGN);
        ASSERT_SYS(setrlimit(RLIMIT_FSIZE, &small));
        r = commit(&st, &info);
        ASSERT_SYS(setrlimit(RLIMIT_FSIZE, &old));
        signal(SIGXFSZ, SIG_DFL);
        ASSERT(r < 0);
        st = staging_abort(st);
        ASSERT_EQ(count_entries(s, ".staging-"), 0);
out:
        store_close(s);
}

static void test_prune(void) {
        char state[PATH_MAX], ids[6][32], target[64];
        SnapshotInfo *list = NULL, info;
        uint64_t now = now_usec();
        size_t n = 0;
        Store *s;

        make_state("prune", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;
        for (int i = 0; i < 4; i++) {
                char content[32];

                snprintf(content, sizeof(content), "manifest %d", i);
                ASSERT_OK(run_backup(s, content, ids[i]));
        }

        /* Keep=2 of 4. */
        ASSERT_EQ(store_prune(s, 2, 0, 0), 2);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 2);
        if (n == 2) {
                ASSERT_STREQ(list[0].id, ids[2]);
                ASSERT_STREQ(list[1].id, ids[3]);
        }
        free(list);
        ASSERT_EQ(store_prune(s, 2, 0, 0), 0);
        ASSERT_EQ(store_prune(s, 1, 0, 0), 1);
        ASSERT_OK(store_latest(s, &info));
        ASSERT_STREQ(info.id, ids[3]);
        ASSERT_EQ(store_prune(s, 1, 0, 0), 0);

        /* KeepDays: ages faked in the records (valid checksums). */
        ASSERT_OK(run_backup(s, "m4", ids[4]));
        ASSERT_OK(run_backup(s, "m5", ids[5]));
        set_end_usec(s, ids[3], now - UINT64_C(10) * 86400 * 1000000);
        set_end_usec(s, ids[4], now - UINT64_C(5) * 86400 * 1000000);
        ASSERT_OK(store_get(s, ids[3], &info));
        ASSERT_EQ(store_prune(s, 0, 30, 0), 0);
        ASSERT_EQ(store_prune(s, 3, 7, 0), 0);  /* Keep=3 protects all three */
        ASSERT_EQ(store_prune(s, 0, 7, 0), 1);  /* 10 days old */
        ASSERT_EQ(store_get(s, ids[3], &info), -ENOENT);
        ASSERT_EQ(store_prune(s, 2, 1, 0), 0);  /* 5 days old, but among the newest 2 */
        ASSERT_EQ(store_prune(s, 1, 1, 0), 1);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        free(list);
        set_end_usec(s, ids[5], now - UINT64_C(100) * 86400 * 1000000);
        ASSERT_EQ(store_prune(s, 0, 1, 0), 0);  /* never the newest */

        /* need_bytes: removes oldest until enough is free, never the newest. */
        for (int i = 0; i < 3; i++)
                ASSERT_OK(run_backup(s, i == 1 ? "x" : "y", ids[i]));
        ASSERT_EQ(store_prune(s, 0, 0, UINT64_MAX), 3);
        ASSERT_OK(store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        if (n == 1)
                ASSERT_STREQ(list[0].id, ids[2]);
        free(list);
        ASSERT_EQ(store_prune(s, 0, 0, UINT64_MAX), 0);
        ASSERT_EQ(store_prune(s, 0, 0, 1), 0);

        /* Delete: `latest` follows, and goes with the last one. */
        ASSERT_OK(run_backup(s, "d1", ids[0]));
        ASSERT_OK(store_delete(s, ids[0]));
        latest_target(s, target, sizeof(target));
        ASSERT_STREQ(target + 10, ids[2]);
        ASSERT_OK(store_delete(s, ids[2]));
        latest_target(s, target, sizeof(target));
        ASSERT_STREQ(target, "");
        ASSERT_EQ(store_latest(s, &info), -ENOENT);
        ASSERT_EQ(count_entries(s, ""), 0);
        ASSERT_OK(run_backup(s, "fresh", ids[1]));      /* works from nothing again */
        ASSERT_OK(store_latest(s, &info));
        ASSERT_STREQ(info.id, ids[1]);
        store_close(s);
}

static void corrupt_byte(const char *path, off_t off) {
        int fd = open(path, O_RDWR | O_CLOEXEC);
        char c;

        ASSERT(fd >= 0);
        if (fd < 0)
                return;
        ASSERT(pread(fd, &c, 1, off) == 1);
        c ^= 0x20;
        ASSERT(pwrite(fd, &c, 1, off) == 1);
        close(fd);
}

static void test_verify(void) {
        char state[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 128];
        _cleanup_(staging_abortp) Staging *st = NULL;
        SnapshotInfo info;
        VerifyReport rep;
        Store *s;

        make_state("verify", state, sizeof(state));
        s = open_store(state);
        if (!s)
                return;
        ASSERT_OK(store_begin(s, false, &st));
        if (!st)
                goto out;
        put_new(st, UDID "/ab/ab01", "alpha");
        put_new(st, UDID "/ab/ab02", "beta");
        put_new(st, UDID "/Manifest.db", "manifest");
        put_new(st, UDID "/Snapshot/Café ☕/100% x\ty", "odd name");
        ASSERT_OK(commit(&st, &info));
        snprintf(dir, sizeof(dir), "%s/snapshots/%s/" UDID, store_device_dir(s), info.id);

        ASSERT_OK(store_verify(s, info.id, &rep));
        ASSERT_EQ(rep.files_checked, 4);
        ASSERT_EQ(rep.missing + rep.changed + rep.unindexed, 0);
        ASSERT_STREQ(rep.first_problem, "");
        ASSERT_EQ(store_verify(s, "20000101T000000Z", &rep), -ENOENT);
        ASSERT_EQ(store_verify(s, "../x", &rep), -EINVAL);

        /* One flipped byte. */
        snprintf(path, sizeof(path), "%s/ab/ab02", dir);
        corrupt_byte(path, 2);
        ASSERT_OK(store_verify(s, info.id, &rep));
        ASSERT_EQ(rep.changed, 1);
        ASSERT(strstr(rep.first_problem, "ab/ab02") && strstr(rep.first_problem, "CRC"));
        corrupt_byte(path, 2);
        ASSERT_OK(store_verify(s, info.id, &rep));
        ASSERT_EQ(rep.changed, 0);

        /* Missing, extra, a symlink in place of a file, a truncated file. */
        snprintf(path, sizeof(path), "%s/ab/ab01", dir);
        ASSERT_SYS(unlink(path));
        snprintf(path, sizeof(path), "%s/ab/extra", dir);
        ASSERT_SYS(symlink("/etc/passwd", path));
        snprintf(path, sizeof(path), "%s/Snapshot/extra file", dir);
        ASSERT_OK(fs_write_atomic(path, "x", 1));
        snprintf(path, sizeof(path), "%s/Manifest.db", dir);
        ASSERT_SYS(truncate(path, 3));
        ASSERT_OK(store_verify(s, info.id, &rep));
        ASSERT_EQ(rep.files_checked, 4);
        ASSERT_EQ(rep.missing, 1);
        ASSERT_EQ(rep.changed, 1);
        ASSERT_EQ(rep.unindexed, 2);
        ASSERT(rep.first_problem[0] != 0);

        /* A damaged index is an error, not a report. */
        snprintf(path, sizeof(path), "%s/snapshots/%s/index", store_device_dir(s), info.id);
        corrupt_byte(path, 25);
        ASSERT_EQ(store_verify(s, info.id, &rep), -EBADMSG);
out:
        store_close(s);
}

/* Every directory the store made is 0700, every file 0600 (under umask 022). */
static void check_modes(const char *path, int depth) {
        DIR *d = opendir(path);

        ASSERT(d);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                char sub[PATH_MAX];
                struct stat st;

                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
                if (lstat(sub, &st) < 0)
                        continue;
                if ((S_ISDIR(st.st_mode) && (st.st_mode & 07777) != 0700) ||
                    (S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0600)) {
                        printf("FAIL: mode of %s is %o at %s:%d\n", sub, st.st_mode & 07777,
                               __FILE__, __LINE__);
                        failures++;
                }
                if (S_ISDIR(st.st_mode) && depth < 16)
                        check_modes(sub, depth + 1);
        }
        closedir(d);
}

static void test_modes(void) {
        char state[PATH_MAX];

        /* The states of the runs and crash tests hold everything the store creates. */
        make_state("runs", state, sizeof(state));
        check_modes(state, 0);
        make_state("crash", state, sizeof(state));
        check_modes(state, 0);
}

/* One lock per device, in the state directory, whatever the backup directory is: a lock
 * held there excludes a store opened under another backup directory, and the public
 * operations that take it (delete, verify) answer IDS_E_BUSY. */
static void test_device_lock(void) {
        char state[256], b1[256], b2[256], path[PATH_MAX];
        Store *s = NULL;
        struct stat st;
        int fd;

        snprintf(state, sizeof(state), "%s/lock-state", tmpdir);
        snprintf(b1, sizeof(b1), "%s/lock-backups-1", tmpdir);
        snprintf(b2, sizeof(b2), "%s/lock-backups-2", tmpdir);

        fd = device_lock_take(state, UDID);
        ASSERT_OK(fd);
        ASSERT_EQ(device_lock_take(state, UDID), -EBUSY);
        ASSERT_EQ(store_open(b1, state, UDID, &s), -EBUSY);
        ASSERT(!s);
        ASSERT_EQ(ids_snapshot_delete(state, b1, UDID, "20261124T153000Z"), IDS_E_BUSY);
        ASSERT_EQ(ids_snapshot_verify(state, b2, UDID, NULL, NULL), IDS_E_BUSY);
        /* Listing takes no lock. */
        {
                ids_snapshot *list = NULL;
                size_t n = 9;

                ASSERT_OK(ids_snapshot_list(b1, UDID, &list, &n));
                ASSERT_EQ(n, 0u);
                free(list);
        }
        if (fd >= 0)
                close(fd);

        /* Released: the store opens, its lock is in the state directory, not beside it. */
        ASSERT_OK(store_open(b1, state, UDID, &s));
        snprintf(path, sizeof(path), "%s/" UDID "/lock", state);
        ASSERT(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        snprintf(path, sizeof(path), "%s/" UDID "/lock", b1);
        ASSERT(stat(path, &st) < 0 && errno == ENOENT);
        ASSERT_EQ(device_lock_take(state, UDID), -EBUSY);
        store_close(s);
        ASSERT_EQ(device_lock_take(state, "../x"), -EINVAL);
}

int main(void) {
        int fd;

        umask(022);
        if (!mkdtemp(tmpdir)) {
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }

        test_open_lock();
        test_device_lock();
        test_empty();
        test_runs();
        test_stale_and_invalid();
        test_crash();
        test_commit_error();
        test_prune();
        test_verify();
        test_modes();

        fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_OK(fs_rm_rf_at(fd, tmpdir + strlen("/tmp/")));
        close(fd);

        if (failures > 0) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all store checks passed\n");
        return 0;
}
