/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Publishing and removing snapshots (store-internal.h): commit (syncfs of the data while
 * the index is built and fsync'ed, then the commit record, fsync, rename, `latest`) and
 * removal (rename to .staging-rm-*, then delete), each step ordered so that a crash
 * anywhere leaves every committed snapshot whole.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "store-internal.h"

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
        store_crash_point(STORE_CRASH_COMMIT_RECORD_HALF);
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

typedef struct SyncJob {
        int fd;
        int r;                  /* 0 or -errno of syncfs() */
} SyncJob;

static void *sync_thread(void *userdata) {
        SyncJob *job = userdata;

        job->r = syncfs(job->fd) < 0 ? -errno : 0;
        return NULL;
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

int staging_commit(Staging *st, SnapshotInfo *info) {
        char record[COMMIT_MAX], id[32];
        SnapshotInfo c, newest;
        uint64_t t0, t1, t2;
        pthread_t sync_tid;
        SyncJob sync_job;
        bool syncing;
        Store *s;
        int r, n;

        if (!st || !info)
                return -EINVAL;
        s = st->store;
        if (!s)
                return -ESTALE;
        if (strnlen(info->ios_version, sizeof(info->ios_version)) >= sizeof(info->ios_version))
                return -EINVAL;

        /* Only the store writes these names; a previous failed commit may have left them. */
        r = fs_rm_rf_at(st->root_fd, "index");
        if (r >= 0)
                r = fs_rm_rf_at(st->root_fd, "commit");
        if (r < 0)
                return r;

        /* One syncfs instead of an fsync per file makes the data the device sent durable.
         * It mostly waits for the disk while building the index mostly uses the CPU, so
         * they run side by side; the index is fsync'ed on its own, and the commit record
         * (what makes the snapshot exist) is written only after both are done. Without a
         * thread, one after the other. */
        t0 = mono_usec();
        sync_job = (SyncJob) { .fd = st->root_fd };
        syncing = pthread_create(&sync_tid, NULL, sync_thread, &sync_job) == 0;
        if (!syncing)
                sync_thread(&sync_job);

        c = *info;
        r = store_index_build(s, st, &c.files, &c.bytes);
        t1 = mono_usec();
        if (syncing)
                (void) pthread_join(sync_tid, NULL);
        t2 = mono_usec();
        if (r < 0)
                return r;
        if (sync_job.r < 0)
                return sync_job.r;
        store_crash_point(STORE_CRASH_COMMIT_SYNCED);

        /* The new snapshot must sort last even if the clock went backwards. */
        c.end_usec = store_now_usec();
        r = store_newest_committed(s, &newest);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && c.end_usec <= newest.end_usec)
                c.end_usec = newest.end_usec + 1;
        strcpy(c.result, "done");

        n = store_commit_format(s->udid, &c, record, sizeof(record));
        if (n < 0)
                return n;
        r = commit_write(st, record, (size_t) n);
        if (r < 0)
                return r;
        if (fsync(st->root_fd) < 0)
                return -errno;
        store_crash_point(STORE_CRASH_COMMIT_RECORD_DONE);

        for (unsigned suffix = 1;; suffix++) {
                struct stat sb;

                if (suffix > 999999)
                        return -EEXIST;
                r = store_id_format(c.end_usec, suffix, id);
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
        store_crash_point(STORE_CRASH_COMMIT_RENAMED);
        if (fsync(s->snapshots_fd) < 0)
                ids_debug("store: fsync of snapshots/ failed: %s", strerror(errno));

        r = store_latest_update(s, id);
        if (r < 0)
                ids_debug("store: failed to move 'latest' to %s, ignoring: %s", id,
                          strerror(-r));

        /* The phases, for profiles (tests/bench/bench-store prints this line). */
        ids_debug("store: commit %s: index %" PRIu64 " ms, syncfs beside it until %" PRIu64
                  " ms, record and rename %" PRIu64 " ms", id, (t1 - t0) / 1000,
                  (t2 - t0) / 1000, (mono_usec() - t2) / 1000);
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
        store_crash_point(STORE_CRASH_REMOVE_RENAMED);

        r = store_latest_repair(s);
        if (r < 0)
                ids_debug("store: failed to repair 'latest', ignoring: %s", strerror(-r));
        store_crash_point(STORE_CRASH_REMOVE_LATEST_MOVED);

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
        uint64_t now = store_now_usec();
        int removed = 0, r;

        if (!s)
                return -EINVAL;

        r = store_scan(s, &list, &n, &bad, &nbad);
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
                if (store_id_compare(bad[i].id, list[n - 1].id) >= 0)
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
