/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's trash (sync-internal.h): nothing a sync removes or replaces on the computer is
 * unlinked; it is moved to <library>/.trash/<YYYY-MM-DD>/<category>/<scope>/<path> and kept
 * for TrashDays= days, so a person can take it back. Day directories are named by the local
 * date of the move; expiry compares calendar days.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "sync-internal.h"
#include "util.h"

#define TRASH_DIR ".trash"
#define TRASH_DAYS_DEFAULT 30
#define COPY_CHUNK (1u << 20)

/* Days since 1970-01-01 of a calendar date (proleptic Gregorian). */
static int64_t day_number(int y, unsigned m, unsigned d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

static int today(SyncRun *run, char ret[11], int64_t *ret_day) {
        time_t t = (time_t) (run->now_usec / 1000000u);
        struct tm tm;

        if (!localtime_r(&t, &tm))
                return -EINVAL;
        if (tm.tm_year + 1900 < 1000 || tm.tm_year + 1900 > 9999)
                return -EINVAL;
        snprintf(ret, 11, "%04u-%02u-%02u", (unsigned) (tm.tm_year + 1900) % 10000u,
                 (unsigned) (tm.tm_mon + 1) % 100u, (unsigned) tm.tm_mday % 100u);
        if (ret_day)
                *ret_day = day_number(tm.tm_year + 1900, (unsigned) tm.tm_mon + 1,
                                      (unsigned) tm.tm_mday);
        return 0;
}

/* Copy name (in dir_fd) to a new file dst in to_fd, durable; for a move across filesystems. */
static int copy_file(int dir_fd, const char *name, int to_fd, const char *dst) {
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        struct stat st;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        in = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EISDIR;
        out = openat(to_fd, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;
        for (;;) {
                ssize_t n = read(in, buf, COPY_CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                r = fs_write_all(out, buf, (size_t) n);
                if (r < 0)
                        break;
        }
        if (r == 0) {
                (void) futimens(out, (const struct timespec[2]) { st.st_atim, st.st_mtim });
                if (fsync(out) < 0)
                        r = -errno;
        }
        if (r < 0)
                (void) unlinkat(to_fd, dst, 0);
        return r;
}

int sync_trash_move(SyncRun *run, int dir_fd, const char *name, const char *category,
                    const char *scope, const char *rel_path) {
        _cleanup_(closep) int lib = -EBADF, tdir = -EBADF;
        _cleanup_free_ char *sub = NULL;
        const char *slash = strrchr(rel_path, '/'), *base = slash ? slash + 1 : rel_path;
        char date[11], dst[FS_NAME_MAX + 1];
        struct stat st;
        int r;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        r = today(run, date, NULL);
        if (r < 0)
                return r;
        if (asprintf(&sub, "%s/%s/%s%s%s%s%.*s", TRASH_DIR, date, category, scope[0] ? "/" : "",
                     scope, slash ? "/" : "", slash ? (int) (slash - rel_path) : 0,
                     rel_path) < 0) {
                sub = NULL;
                return -ENOMEM;
        }
        lib = sync_open_library(run);
        if (lib < 0)
                return lib;
        r = fs_mkdir_p_beneath(lib, sub, 0700);
        if (r < 0)
                return r;
        tdir = fs_open_beneath(lib, sub, O_RDONLY | O_DIRECTORY, 0);
        if (tdir < 0)
                return tdir;
        for (unsigned k = 1; k < 1000; k++) {
                const char *dot = strrchr(base, '.');
                size_t stem = dot && dot != base ? (size_t) (dot - base) : strlen(base);
                int n = k == 1 ? snprintf(dst, sizeof(dst), "%s", base) :
                                 snprintf(dst, sizeof(dst), "%.*s (%u)%s", (int) stem, base, k,
                                          base + stem);

                if (n < 0 || (size_t) n >= sizeof(dst))
                        return -ENAMETOOLONG;
                if (renameat2(dir_fd, name, tdir, dst, RENAME_NOREPLACE) == 0)
                        break;
                if (errno == EEXIST)
                        continue;
                if (errno != EXDEV)
                        return -errno;
                /* Another filesystem (DocumentsDir= elsewhere): a durable copy, then the
                 * original goes. */
                r = copy_file(dir_fd, name, tdir, dst);
                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return r;
                if (fsync(tdir) < 0)
                        return -errno;
                if (unlinkat(dir_fd, name, 0) < 0)
                        return -errno;
                break;
        }
        if (fsync(tdir) < 0 || fsync(dir_fd) < 0)
                return -errno;
        ids_debug("sync: moved '%s' into the trash (%s)", rel_path, sub);
        return 0;
}

int sync_trash_expire(SyncRun *run, unsigned days, uint64_t *ret_removed) {
        _cleanup_(closep) int lib = -EBADF, trash = -EBADF;
        char date[11];
        int64_t now;
        uint64_t removed = 0;
        DIR *d;
        struct dirent *e;
        int r;

        if (days == 0)
                days = TRASH_DAYS_DEFAULT;
        r = today(run, date, &now);
        if (r < 0)
                return r;
        lib = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lib < 0)
                return errno == ENOENT ? 0 : -errno;
        trash = openat(lib, TRASH_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (trash < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fcntl(trash, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                int y;
                unsigned m, dd;
                char tail;

                if (sscanf(e->d_name, "%4d-%2u-%2u%c", &y, &m, &dd, &tail) != 3 ||
                    strlen(e->d_name) != 10 || m < 1 || m > 12 || dd < 1 || dd > 31)
                        continue;               /* not a day directory: not ours to remove */
                if (now - day_number(y, m, dd) <= (int64_t) days)
                        continue;
                r = fs_rm_rf_at(trash, e->d_name);
                if (r < 0 && r != -ENOENT) {
                        ids_debug("sync: cannot expire trash day %s: %s", e->d_name,
                                  strerror(-r));
                        continue;
                }
                removed++;
        }
        closedir(d);
        if (ret_removed)
                *ret_removed = removed;
        return 0;
}
