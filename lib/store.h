/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshot store: versioned, crash-safe, iTunes-format backups of one device.
 *
 *   <lock dir>/<UDID>/lock                   flock: one operation per device at a time
 *                                            (lock.h; the state directory, wherever the
 *                                            store is: BackupDir=)
 *   <state>/<UDID>/latest -> snapshots/<id>  newest committed snapshot (relative symlink)
 *   <state>/<UDID>/snapshots/<id>/           one snapshot; <id> = UTC time 20261124T153000Z,
 *                                            a second one in the same second gets -2, -3, …
 *   <state>/<UDID>/snapshots/<id>/<UDID>/…   the iTunes-format backup (what
 *                                            `idevicebackup2 restore <id dir>` reads)
 *   <state>/<UDID>/snapshots/<id>/commit     the commit record, written last (key=value)
 *   <state>/<UDID>/snapshots/<id>/index      integrity index: path, size, CRC32 per file
 *   <state>/<UDID>/snapshots/.staging-*      a run in progress (or a crashed one: removed
 *                                            by store_open())
 *
 * A run starts a staging snapshot as a hard-link copy of the latest committed one; the
 * device's changes replace links by new files (written to a temp name, renamed over), so no
 * committed snapshot ever changes. Commit: syncfs beside writing and fsync'ing the index,
 * then (both done) write the commit record, fsync, rename staging → snapshots/<id>, fsync
 * the directory, move `latest` atomically.
 * A snapshot without a valid commit record does not exist for listings, `latest`, restore
 * or prune. Files are created 0600, directories 0700.
 *
 * Not thread-safe; one Store per process at a time per device (the flock enforces it).
 * Never logs above debug.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define STORE_FORMAT_VERSION 1

typedef struct Store Store;
typedef struct Staging Staging;

typedef struct SnapshotInfo {
        char id[32];                    /* e.g. 20261124T153000Z or 20261124T153000Z-2 */
        uint64_t start_usec, end_usec;  /* CLOCK_REALTIME µs */
        uint64_t files, bytes;          /* regular files and their bytes in <UDID>/ */
        uint64_t new_bytes;             /* bytes the run wrote (not hard-linked) */
        bool encrypted;
        bool full;                      /* the device sent a full backup */
        char ios_version[32];
        char result[32];                /* "done" for every committed snapshot */
} SnapshotInfo;

/* Open (create) the store of udid under state_dir and take the device's one lock under
 * lock_dir (lock.h; NULL: state_dir) without waiting. Removes stale staging directories.
 * 0, -EBUSY (another operation holds the lock), -EINVAL (bad udid: 1..64 of
 * [0-9A-Fa-f-]), -errno. */
int store_open(const char *state_dir, const char *lock_dir, const char *udid, Store **ret);
/* store_open() for a caller that holds the device lock already (lock.h: a sync run, which
 * reads the snapshot it exports from). */
int store_open_held(const char *state_dir, const char *udid, Store **ret);
/* Release the lock and free. Accepts NULL; returns NULL. */
Store *store_close(Store *s);

/* Path of the device directory <state>/<UDID> (borrowed). */
const char *store_device_dir(Store *s);

/* Committed snapshots of udid without taking the device lock (read-only, safe while a
 * backup runs), oldest first; -ENOENT if the device has no store. Caller frees *ret. */
int store_list_readonly(const char *state_dir, const char *udid, SnapshotInfo **ret,
                        size_t *ret_n);

/* Committed snapshots, oldest first. *ret is a malloc'd array the caller frees. */
int store_list(Store *s, SnapshotInfo **ret, size_t *ret_n);
/* The snapshot `latest` points to: 0, -ENOENT if there is none. */
int store_latest(Store *s, SnapshotInfo *ret);
/* Info of a committed snapshot by id: 0, -ENOENT. */
int store_get(Store *s, const char *id, SnapshotInfo *ret);
/* Absolute path of a committed snapshot dir (<…>/snapshots/<id>); caller frees. */
int store_snapshot_path(Store *s, const char *id, char **ret);

/* Start a staging snapshot: hard-link copy of the latest committed one (empty if none, or
 * if from_scratch). 0 or -errno. The staging root contains <UDID>/. */
int store_begin(Store *s, bool from_scratch, Staging **ret);
/* Directory fd of the staging root (the directory that contains <UDID>/); borrowed. All
 * device paths ("<UDID>/Snapshot/…") are resolved beneath it with fs-util. */
int staging_root_fd(Staging *st);
const char *staging_root_path(Staging *st);
/* Commit: fills id/end/files/bytes of info (the caller sets start, ios_version, encrypted,
 * full, new_bytes), publishes atomically, moves latest. 0 or -errno; on error the staging
 * is still there for store_abort(). */
int staging_commit(Staging *st, SnapshotInfo *info);
/* The CRC32 of a file that was just written into the staging tree (computed while it
 * arrived), keyed by inode, size and mtime so that a later rename by the device keeps it:
 * staging_commit() then does not read the file again. 1 if noted, 0 if the (bounded)
 * table is full, -EINVAL. */
int staging_note_crc(Staging *st, uint64_t ino, uint64_t size, uint64_t mtime_ns, uint32_t crc);
/* Discard the staging snapshot. Accepts NULL; returns NULL. */
Staging *staging_abort(Staging *st);

/* Retention: keep at least `keep` newest committed snapshots (0 = no count limit) and drop
 * those older than keep_days (0 = off); the newest committed snapshot is never removed.
 * If need_bytes > 0, additionally removes oldest snapshots (never the newest) until
 * need_bytes are free on the filesystem or nothing more may go. Returns the number of
 * snapshots removed (≥ 0) or -errno. */
int store_prune(Store *s, unsigned keep, unsigned keep_days, uint64_t need_bytes);
/* Delete one committed snapshot. -EBUSY if it is the only one? No: allowed, but `latest`
 * then moves to the newest remaining (or is removed). 0, -ENOENT. */
int store_delete(Store *s, const char *id);

typedef struct VerifyReport {
        uint64_t files_checked;
        uint64_t missing;               /* in the index, not on disk */
        uint64_t changed;               /* size or CRC32 differs */
        uint64_t unindexed;             /* on disk, not in the index */
        char first_problem[512];        /* a path and what is wrong with it, "" if none */
} VerifyReport;

/* Re-read every file of a committed snapshot against its index. 0 (report filled, check
 * its counters), -ENOENT, -errno. */
int store_verify(Store *s, const char *id, VerifyReport *ret);

/* Free bytes on the store's filesystem (statvfs f_bavail * f_frsize). */
int store_free_space(Store *s, uint64_t *ret);

/* ---- additions ---------------------------------------------------------------------------
 * Lifetime of a Staging: a successful staging_commit() consumes it (frees it; the caller
 * forgets its pointer), a failed one leaves it for a retry or staging_abort(). So every
 * store_begin() ends in exactly one successful staging_commit() or one staging_abort();
 * with the cleanup helper below: `r = staging_commit(st, &info); if (r >= 0) st = NULL;`.
 * store_close() with a staging still open discards its directory; the Staging then only
 * accepts staging_abort() (staging_commit() gives -ESTALE). */
static inline void store_closep(Store **s) {
        if (*s)
                store_close(*s);
}
static inline void staging_abortp(Staging **st) {
        if (*st)
                staging_abort(*st);
}

/* Crash points for tests: a hook installed with store_set_crash_hook() is called with each
 * point as the store passes it; a test's hook, in a forked child, stops there to be killed
 * with SIGKILL, and the test then checks that the store recovers (tests/test-store.c).
 * NULL (the default) = none; production code never installs a hook. */
typedef enum StoreCrashPoint {
        STORE_CRASH_BEGIN_LINKED_ONE = 1,       /* store_begin: first file hard-linked */
        STORE_CRASH_COMMIT_SYNCED,              /* staging_commit: after syncfs() */
        STORE_CRASH_COMMIT_INDEXING,            /* first index line written */
        STORE_CRASH_COMMIT_INDEX_DONE,          /* index complete and fsync'ed */
        STORE_CRASH_COMMIT_RECORD_HALF,         /* half of the commit record written */
        STORE_CRASH_COMMIT_RECORD_DONE,         /* record and staging dir fsync'ed */
        STORE_CRASH_COMMIT_RENAMED,             /* staging renamed to snapshots/<id> */
        STORE_CRASH_COMMIT_LATEST_TMP,          /* latest.tmp symlink created */
        STORE_CRASH_COMMIT_LATEST_MOVED,        /* latest.tmp renamed over latest */
        STORE_CRASH_REMOVE_RENAMED,             /* delete/prune: snapshot moved aside */
        STORE_CRASH_REMOVE_LATEST_MOVED,        /* … latest updated, files not yet removed */
        _STORE_CRASH_MAX,
} StoreCrashPoint;

void store_set_crash_hook(void (*hook)(StoreCrashPoint point));
