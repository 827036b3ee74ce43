/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Safe file system access beneath a root directory, for paths that come from a device.
 *
 * A device is untrusted: every path it names is validated (relative, no "..", no NUL, no
 * empty or over-long component, bounded total length) and resolved beneath a root fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS), falling back to
 * a component walk with O_NOFOLLOW where openat2 is unavailable. Nothing outside the root
 * can be opened, created, renamed or removed through these functions.
 */
#pragma once

#include <sys/stat.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FS_NAME_MAX 255
#define FS_PATH_MAX 1024        /* device paths are < 300 bytes in practice */

/* 0 if path is an acceptable relative device path, else -EINVAL (empty, absolute, "..",
 * "." component, empty component, control characters? no: only NUL/'/' rules), or
 * -ENAMETOOLONG (component > 255 or path > FS_PATH_MAX). len is the byte length: a NUL
 * inside [0, len) is -EINVAL. */
int fs_path_check(const char *path, size_t len);

/* openat beneath root: flags as for openat (O_CLOEXEC and O_NOFOLLOW are always added);
 * mode for O_CREAT. Returns fd or -errno (-EXDEV/-ELOOP for escapes and symlinks). */
int fs_open_beneath(int root_fd, const char *path, int flags, mode_t mode);
/* mkdir -p beneath root with mode (0700). Existing directories are fine. 0 or -errno. */
int fs_mkdir_p_beneath(int root_fd, const char *path, mode_t mode);
/* Open the parent directory of path beneath root (creating it if create) and return its
 * fd; *ret_name points into path at the last component. */
int fs_open_parent_beneath(int root_fd, const char *path, bool create, const char **ret_name);
/* rename beneath root (both paths checked); replaces dst (a directory dst is removed
 * recursively first). Creates dst's parent. 0 or -errno. */
int fs_rename_beneath(int root_fd, const char *src, const char *dst);
/* Remove beneath root, recursively for directories; ENOENT is success. 0 or -errno. */
int fs_remove_beneath(int root_fd, const char *path);
/* Recursive removal of a directory given by dir fd + name (no symlink following). */
int fs_rm_rf_at(int dir_fd, const char *name);
/* Write data to a temp file in the same directory as path (beneath root), fsync optional,
 * rename over path. 0 or -errno. */
int fs_write_atomic_beneath(int root_fd, const char *path, const void *data, size_t n,
                            bool do_fsync);
/* Write a whole file atomically at an absolute or cwd-relative path (temp + fsync + rename
 * + fsync of the directory), mode 0600. */
int fs_write_atomic(const char *path, const void *data, size_t n);
/* Read a whole small file (at most max bytes, else -EFBIG); NUL-terminated. */
int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_n);
/* fsync a directory by path. */
int fs_fsync_dir(const char *path);

/* ---- additions (store.c and tests use them) ------------------------------------------- */

/* Deepest directory nesting the recursive walks (removal, copies) descend into; deeper
 * trees fail with -ELOOP instead of exhausting fds or stack. */
#define FS_DEPTH_MAX 256

/* Fill buf[0..n) with random characters of [A-Za-z0-9] and NUL-terminate it at buf[n]
 * (buf holds n + 1 bytes). For unique temp names; not for secrets. */
void fs_random_chars(char *buf, size_t n);
/* Write all n bytes to fd, retrying short writes and EINTR. 0 or -errno. */
int fs_write_all(int fd, const void *data, size_t n);

/* Writing a received file past the page cache once it proves large. Bytes are received
 * into an aligned buffer of FS_OUT_CAP bytes; a file that fills it is switched to O_DIRECT
 * and written from it a buffer at a time; at its end the whole blocks go direct and the
 * tail (under one block) through the page cache. Copying every byte into the page cache and
 * writing it back later was most of a backup's CPU; direct writes cost a fraction and leave
 * the final syncfs() little to do. Smaller files, and file systems that refuse O_DIRECT
 * (*no_direct is set then, so the run's later files skip the attempt), are written through
 * the page cache. Durability is the caller's, as before (syncfs or fsync). */
#define FS_OUT_CAP (1u << 20)
#define FS_OUT_ALIGN 4096u
typedef struct FsOut {
        int fd;                 /* borrowed */
        uint8_t *buf;           /* from fs_out_buffer(): FS_OUT_CAP bytes, aligned */
        uint32_t fill;
        bool direct;            /* fd has O_DIRECT now */
        bool *no_direct;        /* shared by a run's files; may be NULL */
} FsOut;
/* An aligned buffer for FsOut.buf (free() it), or NULL. */
uint8_t *fs_out_buffer(void);
/* Where the next bytes go and how many fit (> 0 until fs_out_add() writes them). */
static inline uint32_t fs_out_room(const FsOut *o, uint8_t **ret) {
        *ret = o->buf + o->fill;
        return FS_OUT_CAP - o->fill;
}
/* n bytes were received at fs_out_room()'s pointer; a full buffer is written. 0 or -errno. */
int fs_out_add(FsOut *o, uint32_t n);
/* Write what is left; the fd is without O_DIRECT again. 0 or -errno. */
int fs_out_finish(FsOut *o);
/* For tests: true makes every fs_open_beneath() use the component walk that replaces
 * openat2(2) on kernels or sandboxes without it; false returns to probing openat2. */
void fs_force_openat2_fallback(bool on);

/* The names in dir_fd (without "." and ".."), sorted with strcmp(); free them with
 * fs_names_free(). 0 or -errno. */
int fs_list_names(int dir_fd, char ***ret, size_t *ret_n);
void fs_names_free(char **names, size_t n);

/* Every entry beneath dir_fd that is not a directory, depth first, names sorted at each
 * level (fs_list_names()), never following a symlink: fn(parent_fd, name, rel, st) with
 * rel its path from dir_fd (prefixed by prefix/ when prefix is not ""). An entry that
 * vanishes meanwhile is skipped. fn's non-zero result stops the walk and is returned; also
 * -ELOOP beyond FS_DEPTH_MAX levels, -errno. */
int fs_walk(int dir_fd, const char *prefix,
            int (*fn)(int parent_fd, const char *name, const char *rel, const struct stat *st,
                      void *userdata),
            void *userdata);

/* mkdir -p path with mode for each directory created. 0 or -errno. */
int fs_mkdir_parents(const char *path, mode_t mode);
/* Open the directory name beneath dir_fd (O_NOFOLLOW), creating it 0700 first if create.
 * The fd, or -errno. */
int fs_open_subdir(int dir_fd, const char *name, bool create);
