/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/fs-util.c: the lexical path rules (table-driven) and the guarantee that
 * nothing outside the root is opened, created, renamed or removed through a symlink, run
 * twice: with openat2(2) and with the component walk that replaces it where openat2 is
 * missing. Prints "FAIL: <expr> at file:line" per failed check; exit status 0 or 1.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "fs-util.h"
#include "util.h"
#include "test-util.h"


static void test_path_check(void) {
        static char name255[256], name256[257], path1024[1025], path1025[1026];
        static const struct {
                const char *path;
                size_t len;             /* 0: strlen */
                int expect;
        } table[] = {
                { "a", 0, 0 },
                { "UDID/Snapshot/ab/abcdef", 0, 0 },
                { "Café ☕/x y", 0, 0 },
                { ".hidden/..x/x..", 0, 0 },
                { "a\tb\x01", 0, 0 },           /* control characters are legal names */
                { name255, 0, 0 },
                { path1024, 0, 0 },
                { "", 0, -EINVAL },
                { "/abs", 0, -EINVAL },
                { "../x", 0, -EINVAL },
                { "..", 0, -EINVAL },
                { ".", 0, -EINVAL },
                { "a/../b", 0, -EINVAL },
                { "a/./b", 0, -EINVAL },
                { "a/..", 0, -EINVAL },
                { "a//b", 0, -EINVAL },
                { "a/", 0, -EINVAL },
                { "/", 0, -EINVAL },
                { name256, 0, -ENAMETOOLONG },
                { path1025, 0, -ENAMETOOLONG },
                { "a\0b", 3, -EINVAL },
                { "ab\0", 3, -EINVAL },
        };

        memset(name255, 'n', 255);
        memset(name256, 'n', 256);
        for (size_t i = 0; i < 1024; i++)
                path1024[i] = i % 4 == 3 && i < 1023 ? '/' : 'p';
        memcpy(path1025, path1024, 1024);
        path1025[1024] = 'p';

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t len = table[i].len ? table[i].len : strlen(table[i].path);
                int r = fs_path_check(table[i].path, len);

                if (r != table[i].expect) {
                        printf("FAIL: fs_path_check(#%zu '%.40s') = %d, expected %d at %s:%d\n",
                               i, table[i].path, r, table[i].expect, __FILE__, __LINE__);
                        failures++;
                }
        }
        ASSERT_EQ(fs_path_check(NULL, 1), -EINVAL);
        ASSERT_EQ(fs_path_check("abc", 2), 0);          /* only len bytes count */
}

static bool exists_at(int dir_fd, const char *path) {
        struct stat st;

        return fstatat(dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static mode_t mode_at(int dir_fd, const char *path) {
        struct stat st;

        if (fstatat(dir_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return (mode_t) -1;
        return st.st_mode & 07777;
}

static void write_file_at(int dir_fd, const char *path, const char *content) {
        int fd = openat(dir_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ASSERT(fd >= 0);
        if (fd < 0)
                return;
        ASSERT_OK(fs_write_all(fd, content, strlen(content)));
        close(fd);
}

static void test_deep_removal(int root) {
        int fd, top;

        /* 300 nested directories: deeper than FS_DEPTH_MAX. */
        ASSERT_SYS(mkdirat(root, "deep", 0700));
        fd = openat(root, "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT(fd >= 0);
        top = -1;
        for (int i = 0; fd >= 0 && i < 300; i++) {
                int next;

                ASSERT_SYS(mkdirat(fd, "n", 0700));
                next = openat(fd, "n", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (i == 99)
                        top = fcntl(next, F_DUPFD_CLOEXEC, 3);
                close(fd);
                fd = next;
        }
        if (fd >= 0)
                close(fd);

        ASSERT_EQ(fs_rm_rf_at(root, "deep"), -ELOOP);
        ASSERT(exists_at(root, "deep"));

        /* From level 100 the rest is within reach; then the whole tree is. */
        ASSERT(top >= 0);
        if (top >= 0) {
                ASSERT_EQ(fs_rm_rf_at(top, "n"), 0);
                close(top);
        }
        ASSERT_EQ(fs_rm_rf_at(root, "deep"), 0);
        ASSERT(!exists_at(root, "deep"));
}

/* The escape tests, with openat2 or with the fallback walk. tmp holds root/ and outside/. */
static void test_beneath(const char *tmp, bool fallback) {
        char path[PATH_MAX], longname[256];
        const char *name;
        int tmp_fd, root, fd;
        char *data = NULL;
        size_t n;

        fs_force_openat2_fallback(fallback);

        tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT(tmp_fd >= 0);
        ASSERT_SYS(mkdirat(tmp_fd, "root", 0700));
        ASSERT_SYS(mkdirat(tmp_fd, "outside", 0700));
        write_file_at(tmp_fd, "outside/secret", "secret");
        root = openat(tmp_fd, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT(root >= 0);
        if (tmp_fd < 0 || root < 0)
                return;

        snprintf(path, sizeof(path), "%s/outside", tmp);
        ASSERT_SYS(symlinkat("/etc", root, "link"));
        ASSERT_SYS(symlinkat("..", root, "dirlink"));
        ASSERT_SYS(symlinkat(path, root, "outlink"));
        ASSERT_SYS(symlinkat("../outside/created", root, "dangling"));

        /* Opening through or at a symlink is refused. */
        ASSERT_EQ(fs_open_beneath(root, "link/passwd", O_RDONLY, 0), -ELOOP);
        ASSERT_EQ(fs_open_beneath(root, "link", O_RDONLY, 0), -ELOOP);
        ASSERT_EQ(fs_open_beneath(root, "dirlink/outside/secret", O_RDONLY, 0), -ELOOP);
        ASSERT_EQ(fs_open_beneath(root, "outlink/secret", O_RDWR, 0), -ELOOP);
        ASSERT_EQ(fs_open_beneath(root, "dangling", O_WRONLY | O_CREAT, 0600), -ELOOP);
        ASSERT(!exists_at(tmp_fd, "outside/created"));
        ASSERT_EQ(fs_open_beneath(root, "../outside/secret", O_RDONLY, 0), -EINVAL);
        ASSERT_EQ(fs_open_beneath(root, "/etc/passwd", O_RDONLY, 0), -EINVAL);
        ASSERT_EQ(fs_mkdir_p_beneath(root, "dirlink/made", 0700), -ELOOP);
        ASSERT(!exists_at(tmp_fd, "made"));
        ASSERT_EQ(fs_mkdir_p_beneath(root, "outlink/made", 0700), -ELOOP);
        ASSERT(!exists_at(tmp_fd, "outside/made"));

        /* Good paths: UTF-8, spaces, creation modes. */
        ASSERT_OK(fs_mkdir_p_beneath(root, "UDID/ab", 0700));
        ASSERT_OK(fs_mkdir_p_beneath(root, "UDID/ab", 0700));  /* exists: fine */
        fd = fs_open_beneath(root, "UDID/ab/abcdef", O_WRONLY | O_CREAT | O_EXCL, 0600);
        ASSERT(fd >= 0);
        if (fd >= 0) {
                ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
                ASSERT_OK(fs_write_all(fd, "hello", 5));
                close(fd);
        }
        ASSERT_EQ(mode_at(root, "UDID"), 0700);
        ASSERT_EQ(mode_at(root, "UDID/ab"), 0700);
        ASSERT_EQ(mode_at(root, "UDID/ab/abcdef"), 0600);
        ASSERT_OK(fs_mkdir_p_beneath(root, "Café ☕/sub dir", 0700));
        fd = fs_open_beneath(root, "Café ☕/sub dir/x y", O_WRONLY | O_CREAT, 0600);
        ASSERT(fd >= 0);
        if (fd >= 0)
                close(fd);
        ASSERT(exists_at(root, "Café ☕/sub dir/x y"));
        fd = fs_open_beneath(root, "UDID", O_RDONLY | O_DIRECTORY, 0);
        ASSERT(fd >= 0);
        if (fd >= 0)
                close(fd);
        ASSERT_EQ(fs_open_beneath(root, "UDID/ab/abcdef/x", O_RDONLY, 0), -ENOTDIR);
        ASSERT_EQ(fs_open_beneath(root, "missing/x", O_RDONLY, 0), -ENOENT);

        /* Parent lookup. */
        fd = fs_open_parent_beneath(root, "UDID/ab/abcdef", false, &name);
        ASSERT(fd >= 0);
        if (fd >= 0) {
                ASSERT(strcmp(name, "abcdef") == 0);
                ASSERT(exists_at(fd, "abcdef"));
                close(fd);
        }
        fd = fs_open_parent_beneath(root, "top", false, &name);
        ASSERT(fd >= 0 && fd != root);
        if (fd >= 0) {
                ASSERT(strcmp(name, "top") == 0);
                close(fd);
        }
        ASSERT_EQ(fs_open_parent_beneath(root, "new/dir/f", false, &name), -ENOENT);
        fd = fs_open_parent_beneath(root, "new/dir/f", true, &name);
        ASSERT(fd >= 0);
        if (fd >= 0)
                close(fd);
        ASSERT_EQ(mode_at(root, "new/dir"), 0700);
        ASSERT_EQ(fs_open_parent_beneath(root, "dirlink/f", true, &name), -ELOOP);

        /* Rename: refuses escapes in either path, creates dst's parent, replaces a dir. */
        ASSERT_EQ(fs_rename_beneath(root, "link/passwd", "stolen"), -ELOOP);
        ASSERT_EQ(fs_rename_beneath(root, "UDID/ab/abcdef", "dirlink/evil"), -ELOOP);
        ASSERT_EQ(fs_rename_beneath(root, "UDID/ab/abcdef", "outlink/evil"), -ELOOP);
        ASSERT_EQ(fs_rename_beneath(root, "UDID/ab/abcdef", "../evil"), -EINVAL);
        ASSERT(!exists_at(tmp_fd, "evil") && !exists_at(tmp_fd, "outside/evil"));
        ASSERT(exists_at(root, "UDID/ab/abcdef"));
        ASSERT_OK(fs_rename_beneath(root, "UDID/ab/abcdef", "UDID/cd/moved"));
        ASSERT(exists_at(root, "UDID/cd/moved") && !exists_at(root, "UDID/ab/abcdef"));
        ASSERT_OK(fs_mkdir_p_beneath(root, "UDID/dirdst/sub", 0700));
        write_file_at(root, "UDID/dirdst/sub/f", "x");
        ASSERT_OK(fs_rename_beneath(root, "UDID/cd/moved", "UDID/dirdst"));
        {
                struct stat st;

                ASSERT(fstatat(root, "UDID/dirdst", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISREG(st.st_mode));
        }
        ASSERT_EQ(fs_rename_beneath(root, "UDID/nothere", "UDID/x"), -ENOENT);

        /* Remove: refuses to walk through symlinks, removes the link itself. */
        ASSERT_EQ(fs_remove_beneath(root, "dirlink/outside"), -ELOOP);
        ASSERT_EQ(fs_remove_beneath(root, "outlink/secret"), -ELOOP);
        ASSERT(exists_at(tmp_fd, "outside/secret"));
        ASSERT_EQ(fs_remove_beneath(root, "nothere/x"), 0);
        ASSERT_EQ(fs_remove_beneath(root, "nothere"), 0);
        ASSERT_EQ(fs_remove_beneath(root, "../outside"), -EINVAL);
        ASSERT_OK(fs_remove_beneath(root, "outlink"));
        ASSERT(!exists_at(root, "outlink") && exists_at(tmp_fd, "outside/secret"));
        ASSERT_OK(fs_remove_beneath(root, "new"));
        ASSERT(!exists_at(root, "new"));

        /* rm -rf does not follow a symlink to a directory outside the root. */
        ASSERT_OK(fs_mkdir_p_beneath(root, "tree/sub", 0700));
        write_file_at(root, "tree/sub/f", "x");
        ASSERT_SYS(symlinkat(path, root, "tree/sub/out"));
        ASSERT_SYS(symlinkat("../..", root, "tree/up"));
        ASSERT_EQ(fs_rm_rf_at(root, "tree"), 0);
        ASSERT(!exists_at(root, "tree"));
        ASSERT(exists_at(tmp_fd, "outside/secret") && exists_at(root, "UDID"));
        ASSERT_EQ(fs_rm_rf_at(root, "tree"), 0);        /* missing: success */
        ASSERT_EQ(fs_rm_rf_at(root, "a/b"), -EINVAL);
        ASSERT_EQ(fs_rm_rf_at(root, ".."), -EINVAL);
        ASSERT_EQ(fs_rm_rf_at(root, ""), -EINVAL);
        test_deep_removal(root);

        /* Atomic writes beneath the root. */
        ASSERT_OK(fs_write_atomic_beneath(root, "UDID/Status.plist", "one", 3, true));
        ASSERT_OK(fs_write_atomic_beneath(root, "UDID/Status.plist", "second", 6, false));
        snprintf(path, sizeof(path), "%s/root/UDID/Status.plist", tmp);
        ASSERT_OK(fs_read_file(path, 100, &data, &n));
        ASSERT(data && n == 6 && strcmp(data, "second") == 0);
        free(data);
        data = NULL;
        ASSERT_EQ(mode_at(root, "UDID/Status.plist"), 0600);
        ASSERT_OK(fs_write_atomic_beneath(root, "made/on/demand", "", 0, false));
        ASSERT_EQ(fs_write_atomic_beneath(root, "dirlink/x", "x", 1, false), -ELOOP);
        ASSERT_EQ(fs_write_atomic_beneath(root, "link", "x", 1, false), 0); /* replaces link */
        ASSERT(!exists_at(tmp_fd, "x"));
        {
                struct stat st;

                ASSERT(fstatat(root, "link", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                       S_ISREG(st.st_mode));
        }
        memset(longname, 'L', 255);
        longname[255] = 0;
        snprintf(path, sizeof(path), "UDID/%s", longname);
        ASSERT_OK(fs_write_atomic_beneath(root, path, "long", 4, false));
        ASSERT(exists_at(root, path));
        {
                /* No temp files left behind. */
                int dfd = openat(root, "UDID", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ASSERT(dfd >= 0);
                if (dfd >= 0) {
                        ASSERT(!exists_at(dfd, ".#Status.plist"));
                        close(dfd);
                }
        }

        /* Path-based helpers. */
        snprintf(path, sizeof(path), "%s/plain", tmp);
        ASSERT_OK(fs_write_atomic(path, "abc", 3));
        ASSERT_EQ(mode_at(tmp_fd, "plain"), 0600);
        ASSERT_OK(fs_read_file(path, 3, &data, &n));
        ASSERT(data && n == 3 && memcmp(data, "abc", 4) == 0);
        free(data);
        data = NULL;
        ASSERT_EQ(fs_read_file(path, 2, &data, &n), -EFBIG);
        ASSERT(!data);
        ASSERT_EQ(fs_read_file("/proc/self/status", 8, &data, &n), -EFBIG);
        ASSERT_OK(fs_read_file("/proc/self/status", 1 << 20, &data, &n));
        ASSERT(data && n > 0 && strlen(data) == n);
        free(data);
        ASSERT_OK(fs_fsync_dir(tmp));
        ASSERT_EQ(fs_fsync_dir(path), -ENOTDIR);

        close(root);
        ASSERT_OK(fs_rm_rf_at(tmp_fd, "root"));
        ASSERT_OK(fs_rm_rf_at(tmp_fd, "outside"));
        ASSERT_SYS(unlinkat(tmp_fd, "plain", 0));
        close(tmp_fd);
        fs_force_openat2_fallback(false);
}

static void test_random(void) {
        char a[17], b[17];

        fs_random_chars(a, 16);
        fs_random_chars(b, 16);
        ASSERT_EQ(strlen(a), 16);
        ASSERT(strcmp(a, b) != 0);
        ASSERT(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") == 16);
}

/* Bytes of fd's first size bytes that are in the page cache. */
static uint64_t resident_bytes(int fd, uint64_t size) {
        long page = sysconf(_SC_PAGESIZE);
        size_t pages = (size + (uint64_t) page - 1) / (uint64_t) page;
        unsigned char *vec;
        uint64_t n = 0;
        void *map;

        if (size == 0)
                return 0;
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        ASSERT_TRUE(map != MAP_FAILED);
        vec = calloc(pages, 1);
        ASSERT_TRUE(vec != NULL);
        if (map == MAP_FAILED || !vec) {
                free(vec);
                return UINT64_MAX;
        }
        ASSERT_SYS(mincore(map, size, vec));
        for (size_t i = 0; i < pages; i++)
                n += vec[i] & 1;
        munmap(map, size);
        free(vec);
        return n * (uint64_t) page;
}

/* FsOut: every size around the buffer and the block comes out byte for byte, received in
 * uneven pieces; a file that filled the buffer leaves at most its tail block in the page
 * cache, a smaller one is written through it (not checked on tmpfs: always resident). */
static void test_out(const char *dir) {
        static const uint64_t sizes[] = { 0, 1, 4095, 4096, FS_OUT_CAP - 1, FS_OUT_CAP,
                                          FS_OUT_CAP + 1, FS_OUT_CAP + 4096,
                                          3 * FS_OUT_CAP + 4097, 5 * FS_OUT_CAP };
        uint8_t *buf = fs_out_buffer(), *back = malloc(5 * FS_OUT_CAP + 8192);
        bool no_direct = false, tmpfs;
        struct statfs sf;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ASSERT_TRUE(buf && back && dfd >= 0);
        ASSERT_SYS(fstatfs(dfd, &sf));
        tmpfs = sf.f_type == 0x01021994;        /* TMPFS_MAGIC */
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                char name[32];
                FsOut out;
                uint64_t done = 0, res;
                uint32_t piece = 1000 + 777 * (uint32_t) i;
                int fd;

                snprintf(name, sizeof(name), "out%zu", i);
                fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                ASSERT_TRUE(fd >= 0);
                out = (FsOut) { .fd = fd, .buf = buf, .no_direct = &no_direct };
                while (done < sizes[i]) {
                        uint8_t *p;
                        uint32_t room = fs_out_room(&out, &p), k = piece;

                        ASSERT_TRUE(room > 0 && room <= FS_OUT_CAP);
                        if (k > room)
                                k = room;
                        if (k > sizes[i] - done)
                                k = (uint32_t) (sizes[i] - done);
                        for (uint32_t j = 0; j < k; j++)
                                p[j] = (uint8_t) ((done + j) * 31 + (done + j) / 4093);
                        ASSERT_OK(fs_out_add(&out, k));
                        done += k;
                        piece = piece * 3 % 300000 + 1;
                }
                ASSERT_OK(fs_out_finish(&out));
                res = resident_bytes(fd, sizes[i]);
                if (!tmpfs && !no_direct && sizes[i] >= FS_OUT_CAP)
                        ASSERT_TRUE(res <= 4096);
                if (!tmpfs && sizes[i] == FS_OUT_CAP - 1)
                        ASSERT_TRUE(res >= FS_OUT_CAP - 4096);
                ASSERT_EQ_U64((uint64_t) pread(fd, back, sizes[i] + 100, 0), sizes[i]);
                for (uint64_t j = 0; j < sizes[i]; j++)
                        if (back[j] != (uint8_t) (j * 31 + j / 4093)) {
                                printf("FAIL: out of %" PRIu64 " bytes: byte %" PRIu64
                                       " differs\n", sizes[i], j);
                                failures++;
                                break;
                        }
                close(fd);
        }
        if (no_direct)
                printf("note: this file system refused O_DIRECT; written through the cache\n");

        /* A file that refuses O_DIRECT (a character device) is written all the same, and the
         * refusal is remembered for the run's later files. */
        {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                bool refused = false;
                FsOut out = { .fd = fd, .buf = buf, .no_direct = &refused };

                ASSERT_TRUE(fd >= 0);
                for (int k = 0; k < 3; k++) {
                        uint8_t *p;
                        uint32_t room = fs_out_room(&out, &p);

                        memset(p, 'x', room);
                        ASSERT_OK(fs_out_add(&out, room));
                }
                ASSERT_OK(fs_out_finish(&out));
                ASSERT_TRUE(refused && !out.direct);
                close(fd);
        }
        free(buf);
        free(back);
        close(dfd);
}

int main(void) {
        char tmpl[] = "/tmp/test-fs-util.XXXXXX";
        char sub[PATH_MAX];

        umask(022);
        test_path_check();
        test_random();

        if (!mkdtemp(tmpl)) {
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }
        snprintf(sub, sizeof(sub), "%s/openat2", tmpl);
        ASSERT_SYS(mkdir(sub, 0700));
        test_beneath(sub, false);
        snprintf(sub, sizeof(sub), "%s/walk", tmpl);
        ASSERT_SYS(mkdir(sub, 0700));
        test_beneath(sub, true);
        test_out(tmpl);

        {
                int fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                ASSERT_OK(fs_rm_rf_at(fd, tmpl + strlen("/tmp/")));
                close(fd);
        }

        if (failures > 0) {
                printf("%d check(s) failed\n", failures);
                return 1;
        }
        printf("all fs-util checks passed\n");
        return 0;
}
