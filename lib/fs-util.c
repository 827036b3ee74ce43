/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Safe file system access beneath a root directory, for paths that come from a device.
 *
 * The device names every file of a backup, and a hostile or broken device must not be able
 * to reach anything outside the staging snapshot: not by "..", not by absolute paths, and
 * not by symlinks planted earlier in the tree. Every path is first checked lexically
 * (fs_path_check()), then resolved by the kernel with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS). Where openat2 is missing (ENOSYS) or filtered
 * (EPERM under seccomp), an equivalent walk opens one component at a time with O_NOFOLLOW,
 * which is safe because the lexical check has already excluded "..". Removal never follows
 * symlinks and is bounded in depth; writes that replace a file go through a temp name and
 * rename(2), so a reader sees the old or the new content, never a mix.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "macro.h"
#include "util.h"

/* 0: not probed yet, 1: openat2 works, -1: unavailable (or forced off by a test). Plain
 * process state that a fork inherits correctly. */
static int openat2_state;

static bool name_is_dot_or_dotdot(const char *c, size_t n) {
        return (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.');
}

int fs_path_check(const char *path, size_t len) {
        size_t start = 0;

        if (!path || len == 0)
                return -EINVAL;
        if (len > FS_PATH_MAX)
                return -ENAMETOOLONG;
        if (memchr(path, 0, len))
                return -EINVAL;

        /* Every component, including the first and the last, must be non-empty: this also
         * refuses a leading '/', "a//b" and a trailing '/'. */
        for (size_t i = 0; i <= len; i++) {
                size_t n;

                if (i < len && path[i] != '/')
                        continue;
                n = i - start;
                if (n == 0)
                        return -EINVAL;
                if (n > FS_NAME_MAX)
                        return -ENAMETOOLONG;
                if (name_is_dot_or_dotdot(path + start, n))
                        return -EINVAL;
                start = i + 1;
        }
        return 0;
}

static int path_check_str(const char *path) {
        if (!path)
                return -EINVAL;
        return fs_path_check(path, strnlen(path, FS_PATH_MAX + 1));
}

void fs_force_openat2_fallback(bool on) {
        openat2_state = on ? -1 : 0;
}

void fs_random_chars(char *buf, size_t n) {
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        uint8_t rnd[64];
        size_t done = 0;

        while (done < n) {
                size_t k = n - done < sizeof(rnd) ? n - done : sizeof(rnd);
                ssize_t l = getrandom(rnd, k, GRND_NONBLOCK);

                if (l <= 0) {
                        /* No entropy yet (early boot) or no getrandom: uniqueness is all
                         * that matters here, callers retry on EEXIST. */
                        struct timespec ts;
                        uint64_t x;

                        clock_gettime(CLOCK_MONOTONIC, &ts);
                        x = (uint64_t) ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^
                            ((uint64_t) getpid() << 32) ^ (uint64_t) ts.tv_sec ^ done;
                        for (size_t i = 0; i < k; i++, x = x * 6364136223846793005ULL + 1)
                                rnd[i] = (uint8_t) (x >> 56);
                        l = (ssize_t) k;
                }
                for (ssize_t i = 0; i < l; i++)
                        buf[done++] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
        }
        buf[n] = 0;
}

int fs_write_all(int fd, const void *data, size_t n) {
        const uint8_t *p = data;

        while (n > 0) {
                ssize_t l = write(fd, p, n);

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        return -EIO;
                p += l;
                n -= (size_t) l;
        }
        return 0;
}

uint8_t *fs_out_buffer(void) {
        void *p = NULL;

        return posix_memalign(&p, FS_OUT_ALIGN, FS_OUT_CAP) == 0 ? p : NULL;
}

static int fs_out_set_direct(FsOut *o, bool on) {
        int fl = fcntl(o->fd, F_GETFL);

        if (fl < 0 || fcntl(o->fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
                return -errno;
        o->direct = on;
        return 0;
}

static int fs_out_write(FsOut *o, const uint8_t *p, uint32_t n) {
        off_t start = o->direct ? lseek(o->fd, 0, SEEK_CUR) : 0;
        int r = fs_write_all(o->fd, p, n);

        if (r == -EINVAL && o->direct && start >= 0) {
                /* An alignment this file system does not take: buffered from here on. */
                off_t now = lseek(o->fd, 0, SEEK_CUR);

                if (now < start || now > start + (off_t) n)
                        return -EIO;
                if (o->no_direct)
                        *o->no_direct = true;
                if (fs_out_set_direct(o, false) < 0)
                        return -EIO;
                r = fs_write_all(o->fd, p + (now - start), n - (uint32_t) (now - start));
        }
        return r;
}

/* A full buffer goes direct once the file system takes it; at the end the rest: its whole
 * blocks direct (when the file is), the tail through the page cache. */
static int fs_out_flush(FsOut *o, bool last) {
        uint32_t n = o->fill, head = 0;
        int r;

        if (!last && !o->direct && !(o->no_direct && *o->no_direct) &&
            fs_out_set_direct(o, true) < 0 && o->no_direct)
                *o->no_direct = true;
        if (o->direct)
                head = last ? n & ~(FS_OUT_ALIGN - 1) : n;
        if (head > 0) {
                r = fs_out_write(o, o->buf, head);
                if (r < 0)
                        return r;
        }
        if (head < n) {
                if (o->direct && fs_out_set_direct(o, false) < 0)
                        return -EIO;
                r = fs_out_write(o, o->buf + head, n - head);
                if (r < 0)
                        return r;
        }
        o->fill = 0;
        return 0;
}

int fs_out_add(FsOut *o, uint32_t n) {
        o->fill += n;
        return o->fill == FS_OUT_CAP ? fs_out_flush(o, false) : 0;
}

int fs_out_finish(FsOut *o) {
        int r = fs_out_flush(o, true);

        if (o->direct && fs_out_set_direct(o, false) < 0 && r == 0)
                r = -EIO;
        return r;
}

/* An open(O_NOFOLLOW | O_DIRECTORY) of a symlink fails with ENOTDIR; report it as the
 * symlink refusal it is, the way openat2(RESOLVE_NO_SYMLINKS) does. */
static int symlink_errno(int dir_fd, const char *name, int err) {
        struct stat st;

        if (err == -ENOTDIR && fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 &&
            S_ISLNK(st.st_mode))
                return -ELOOP;
        return err;
}

/* Open the directory component name in dir_fd, never following a symlink. */
static int open_dir_component(int dir_fd, const char *name) {
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return symlink_errno(dir_fd, name, -errno);
        return fd;
}

/* The openat2 replacement: one component at a time, O_NOFOLLOW everywhere. Only called on
 * paths that passed fs_path_check(), so there is no ".." to climb out with. */
static int open_walk(int root_fd, const char *path, int flags, mode_t mode) {
        _cleanup_(closep) int dfd = -EBADF;
        char name[FS_NAME_MAX + 1];
        const char *p = path;
        int cur = root_fd, fd;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t n;

                if (!slash)
                        break;
                n = (size_t) (slash - p);
                memcpy(name, p, n);
                name[n] = 0;
                fd = open_dir_component(cur, name);
                if (fd < 0)
                        return fd;
                closep(&dfd);
                dfd = fd;
                cur = fd;
                p = slash + 1;
        }

        fd = openat(cur, p, flags, mode);
        if (fd < 0)
                return symlink_errno(cur, p, -errno);
        return fd;
}

static int open_openat2(int root_fd, const char *path, int flags, mode_t mode) {
        struct open_how how = {
                .flags = (uint64_t) (unsigned) flags,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        /* openat2 refuses a mode without O_CREAT/O_TMPFILE. */
        if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
                how.mode = mode;

        for (unsigned tries = 0;; tries++) {
                long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));

                if (fd >= 0)
                        return (int) fd;
                /* EAGAIN: a concurrent rename raced the resolution; try again a few times. */
                if (errno != EAGAIN || tries >= 8)
                        return -errno;
        }
}

/* With RESOLVE_NO_SYMLINKS, O_PATH | O_NOFOLLOW opens a trailing symlink itself. */
static bool final_is_symlink(int root_fd, const char *path) {
        struct stat st;
        bool r;
        int fd;

        fd = open_openat2(root_fd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        if (fd < 0)
                return false;
        r = fstat(fd, &st) >= 0 && S_ISLNK(st.st_mode);
        close(fd);
        return r;
}

int fs_open_beneath(int root_fd, const char *path, int flags, mode_t mode) {
        int r;

        r = path_check_str(path);
        if (r < 0)
                return r;
        if (root_fd < 0)
                return -EBADF;

        flags |= O_CLOEXEC | O_NOFOLLOW;

        if (openat2_state >= 0) {
                r = open_openat2(root_fd, path, flags, mode);
                if (r >= 0) {
                        openat2_state = 1;
                        return r;
                }
                if (r == -ENOTDIR && final_is_symlink(root_fd, path))
                        return -ELOOP;  /* O_DIRECTORY | O_NOFOLLOW at a symlink */
                if (r == -ENOSYS) {
                        ids_debug("openat2() not available, walking paths component-wise");
                        openat2_state = -1;
                } else if (r != -EPERM)
                        return r;
                /* EPERM may be a seccomp filter or a genuine refusal: the walk finds out,
                 * without remembering the answer. */
        }

        return open_walk(root_fd, path, flags, mode);
}

/* mkdir -p of path beneath root_fd; returns an O_RDONLY fd of the last directory. */
static int mkdir_p_fd(int root_fd, const char *path, mode_t mode) {
        _cleanup_(closep) int dfd = -EBADF;
        char name[FS_NAME_MAX + 1];
        const char *p = path;
        int cur = root_fd;

        for (;;) {
                const char *slash = strchr(p, '/');
                size_t n = slash ? (size_t) (slash - p) : strlen(p);
                int fd;

                memcpy(name, p, n);
                name[n] = 0;
                if (mkdirat(cur, name, mode) < 0 && errno != EEXIST)
                        return -errno;
                fd = open_dir_component(cur, name);
                if (fd < 0)
                        return fd;
                closep(&dfd);
                dfd = fd;
                cur = fd;
                if (!slash)
                        return TAKE_FD(dfd);
                p = slash + 1;
        }
}

int fs_mkdir_p_beneath(int root_fd, const char *path, mode_t mode) {
        int r, fd;

        r = path_check_str(path);
        if (r < 0)
                return r;
        if (root_fd < 0)
                return -EBADF;

        fd = mkdir_p_fd(root_fd, path, mode);
        if (fd < 0)
                return fd;
        close(fd);
        return 0;
}

int fs_open_parent_beneath(int root_fd, const char *path, bool create, const char **ret_name) {
        char parent[FS_PATH_MAX + 1];
        const char *slash;
        int r, fd;

        r = path_check_str(path);
        if (r < 0)
                return r;
        if (root_fd < 0)
                return -EBADF;

        slash = strrchr(path, '/');
        if (!slash) {
                /* A new open file description, not a dup: readdir offsets stay separate. */
                fd = openat(root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
        } else {
                memcpy(parent, path, (size_t) (slash - path));
                parent[slash - path] = 0;
                /* The parent usually exists (one upload per file into a few hundred
                 * directories): one resolve beneath, and mkdir -p only when it is missing. */
                fd = fs_open_beneath(root_fd, parent, O_RDONLY | O_DIRECTORY, 0);
                if (fd == -ENOENT && create)
                        fd = mkdir_p_fd(root_fd, parent, 0700);
                if (fd < 0)
                        return fd;
        }

        if (ret_name)
                *ret_name = slash ? slash + 1 : path;
        return fd;
}

int fs_rename_beneath(int root_fd, const char *src, const char *dst) {
        _cleanup_(closep) int sfd = -EBADF, dfd = -EBADF;
        const char *sname, *dname;
        struct stat sst, dst_st;
        int r;

        /* Both paths are checked before anything is created. */
        r = path_check_str(src);
        if (r < 0)
                return r;
        r = path_check_str(dst);
        if (r < 0)
                return r;

        sfd = fs_open_parent_beneath(root_fd, src, false, &sname);
        if (sfd < 0)
                return sfd;
        if (fstatat(sfd, sname, &sst, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;

        dfd = fs_open_parent_beneath(root_fd, dst, true, &dname);
        if (dfd < 0)
                return dfd;

        /* rename(2) cannot replace a non-empty directory (or a directory by a file). */
        if (fstatat(dfd, dname, &dst_st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(dst_st.st_mode) &&
            (dst_st.st_dev != sst.st_dev || dst_st.st_ino != sst.st_ino)) {
                r = fs_rm_rf_at(dfd, dname);
                if (r < 0)
                        return r;
        }

        if (renameat(sfd, sname, dfd, dname) < 0)
                return -errno;
        return 0;
}

int fs_remove_beneath(int root_fd, const char *path) {
        _cleanup_(closep) int pfd = -EBADF;
        const char *name;

        pfd = fs_open_parent_beneath(root_fd, path, false, &name);
        if (pfd == -ENOENT)
                return 0;
        if (pfd < 0)
                return pfd;

        return fs_rm_rf_at(pfd, name);
}

static int rm_rf_entry(int dir_fd, const char *name, unsigned char d_type, unsigned depth);

/* Remove everything inside the directory fd (owned: closed here). */
static int rm_rf_children(int fd, unsigned depth) {
        _cleanup_(closedirp) DIR *d = NULL;
        int r = 0;

        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                close(fd);
                return r;
        }

        for (;;) {
                struct dirent *de;
                int k;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0 && r == 0)
                                r = -errno;
                        break;
                }
                if (name_is_dot_or_dotdot(de->d_name, strlen(de->d_name)))
                        continue;

                /* Like rm -rf, go on after a failure and report the first one. */
                k = rm_rf_entry(dirfd(d), de->d_name, de->d_type, depth);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

static int rm_rf_entry(int dir_fd, const char *name, unsigned char d_type, unsigned depth) {
        int fd, r = 0;

        if (d_type != DT_DIR) {
                if (unlinkat(dir_fd, name, 0) >= 0 || errno == ENOENT)
                        return 0;
                /* Linux says EISDIR for a directory, POSIX allows EPERM. */
                if (errno != EISDIR && errno != EPERM)
                        return -errno;
                r = -errno;
        }

        if (depth >= FS_DEPTH_MAX)
                return -ELOOP;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                if (errno != ENOTDIR)
                        return -errno;
                if (d_type != DT_DIR)
                        return r;       /* EPERM meant what it said */
                /* readdir said directory, but it was replaced meanwhile: unlink that. */
                if (unlinkat(dir_fd, name, 0) >= 0 || errno == ENOENT)
                        return 0;
                return -errno;
        }

        r = rm_rf_children(fd, depth + 1);
        if (r < 0)
                return r;
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* Recursive removal of dir_fd/name, which is one path component. Symlinks are removed,
 * never followed; a missing entry is success (0); nesting deeper than FS_DEPTH_MAX gives
 * -ELOOP (with everything above that level left in place). 0 or -errno (-EINVAL for a
 * name that is not a single component). */
int fs_rm_rf_at(int dir_fd, const char *name) {
        if (!name || !*name || strchr(name, '/') || name_is_dot_or_dotdot(name, strlen(name)))
                return -EINVAL;

        return rm_rf_entry(dir_fd, name, DT_UNKNOWN, 0);
}

/* Temp file + rename in dir_fd. The temp name is ".#<name>.XXXXXX", with name shortened
 * where the whole would exceed NAME_MAX. */
static int write_atomic_at(int dir_fd, const char *name, const void *data, size_t n,
                           bool do_fsync) {
        _cleanup_(closep) int fd = -EBADF;
        char tmp[FS_NAME_MAX + 1];
        size_t len = strlen(name);
        int r;

        if (len == 0 || len > FS_NAME_MAX || strchr(name, '/') ||
            name_is_dot_or_dotdot(name, len))
                return -EINVAL;
        if (len > FS_NAME_MAX - 9)
                len = FS_NAME_MAX - 9;

        for (unsigned tries = 0;; tries++) {
                memcpy(tmp, ".#", 2);
                memcpy(tmp + 2, name, len);
                tmp[2 + len] = '.';
                fs_random_chars(tmp + 3 + len, 6);

                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                            0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || tries >= 100)
                        return -errno;
        }

        r = fs_write_all(fd, data, n);
        if (r >= 0 && do_fsync && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        if (do_fsync && fsync(dir_fd) < 0)
                return -errno;
        return 0;
}

int fs_write_atomic_beneath(int root_fd, const char *path, const void *data, size_t n,
                            bool do_fsync) {
        _cleanup_(closep) int pfd = -EBADF;
        const char *name;

        if (!data && n > 0)
                return -EINVAL;

        pfd = fs_open_parent_beneath(root_fd, path, true, &name);
        if (pfd < 0)
                return pfd;

        return write_atomic_at(pfd, name, data, n, do_fsync);
}

int fs_write_atomic(const char *path, const void *data, size_t n) {
        _cleanup_(closep) int dfd = -EBADF;
        _cleanup_(freep) char *dir = NULL;
        const char *slash, *name;

        if (!path || !*path || (!data && n > 0))
                return -EINVAL;

        slash = strrchr(path, '/');
        if (!slash) {
                dir = strdup(".");
                name = path;
        } else {
                dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
                name = slash + 1;
        }
        if (!dir)
                return -ENOMEM;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        return write_atomic_at(dfd, name, data, n, true);
}

int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_n) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, alloc = 0;
        struct stat st;

        if (!path || !ret || max >= SIZE_MAX - 1)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > max)
                return -EFBIG;

        /* Read up to max + 1 bytes: one byte more than allowed proves the file too big
         * even where st_size says nothing (pipes, /proc). */
        for (;;) {
                ssize_t l;

                if (size == alloc) {
                        size_t want = alloc * 2;
                        char *p;

                        if (alloc == 0)
                                want = S_ISREG(st.st_mode) && (size_t) st.st_size >= 4096 ?
                                               (size_t) st.st_size + 1 : 4096;

                        if (want > max + 1)
                                want = max + 1;
                        if (want <= alloc)
                                return -EFBIG;
                        p = realloc(buf, want + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = want;
                }
                l = read(fd, buf + size, alloc - size);
                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        break;
                size += (size_t) l;
                if (size > max)
                        return -EFBIG;
        }

        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_n)
                *ret_n = size;
        return 0;
}

int fs_fsync_dir(const char *path) {
        _cleanup_(closep) int fd = -EBADF;

        if (!path)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int fs_mkdir_parents(const char *path, mode_t mode) {
        _cleanup_(freep) char *p = NULL;

        if (mkdir(path, mode) >= 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;

        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
                *slash = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int fs_open_subdir(int dir_fd, const char *name, bool create) {
        int fd;

        if (create && mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fd;
}

static int names_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void fs_names_free(char **names, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
}

int fs_list_names(int dir_fd, char ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        char **names = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;
        int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == allocated) {
                        size_t m = allocated ? 2 * allocated : 32;
                        char **p = reallocarray(names, m, sizeof(*p));

                        if (!p)
                                goto oom;
                        names = p;
                        allocated = m;
                }
                if (!(names[n] = strdup(de->d_name)))
                        goto oom;
                n++;
        }
        if (n > 1)
                qsort_safe(names, n, sizeof(*names), names_cmp);
        *ret = names;
        *ret_n = n;
        return 0;
oom:
        fs_names_free(names, n);
        return -ENOMEM;
}

typedef int (*walk_fn)(int parent_fd, const char *name, const char *rel, const struct stat *st,
                       void *userdata);

static int walk_level(int dir_fd, const char *rel, unsigned depth, walk_fn fn, void *userdata) {
        char **names = NULL;
        size_t n = 0;
        int r;

        if (depth > FS_DEPTH_MAX)
                return -ELOOP;
        r = fs_list_names(dir_fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r == 0; i++) {
                _cleanup_(freep) char *path = NULL;
                struct stat st;

                if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                if (fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno != ENOENT)
                                r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dir_fd, names[i],
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

                        if (sub < 0) {
                                if (errno != ENOENT)
                                        r = -errno;
                                continue;
                        }
                        r = walk_level(sub, path, depth + 1, fn, userdata);
                        close(sub);
                } else
                        r = fn(dir_fd, names[i], path, &st, userdata);
        }
        fs_names_free(names, n);
        return r;
}

int fs_walk(int dir_fd, const char *prefix, walk_fn fn, void *userdata) {
        return walk_level(dir_fd, prefix ?: "", 0, fn, userdata);
}
