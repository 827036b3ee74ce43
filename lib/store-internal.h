/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the store's three files share (store.c: records, listing, open, queries;
 * store-index.c: the staging copy, walks, the integrity index and verify; store-commit.c:
 * publishing and removing snapshots). Internal to lib/; the store's API is store.h.
 */
#pragma once

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

static inline bool is_dot_or_dotdot(const char *name) {
        return name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]));
}

/* The CRC noted while the file of sb arrived, if still valid (staging_note_crc()). */
bool store_known_lookup(Staging *st, const struct stat *sb, uint32_t *ret);
/* Call the test crash hook, if set (store_set_crash_hook()). */
void store_crash_point(StoreCrashPoint point);
/* CLOCK_REALTIME in µs. */
uint64_t store_now_usec(void);
/* FNV-1a 64 of the n bytes at p: the key of the CRC and path tables. */
uint64_t store_path_hash(const char *p, size_t n);
/* Order of two snapshot ids: time, then the -N suffix. */
int store_id_compare(const char *a, const char *b);
/* The id of a snapshot started at usec, with suffix N ≥ 2 (0: none). 0 or -EINVAL. */
int store_id_format(uint64_t usec, unsigned suffix, char id[static 32]);
/* Percent-escape n bytes of s into out (3 * n + 1 bytes); returns the length. */
size_t store_escape(const char *s, size_t n, char *out);
/* Undo store_escape() in place; *len is the result. 0 or -EBADMSG. */
int store_unescape(char *s, size_t *len);
/* A plain decimal. 0 or -EBADMSG. */
int store_parse_u64(const char *s, uint64_t *ret);
/* Eight hex digits. 0 or -EBADMSG. */
int store_parse_crc(const char *s, uint32_t *ret);
/* zlib's CRC32 over any length. */
uint32_t store_crc_update(uint32_t crc, const void *p, size_t n);
/* The commit record of info (format in store.c) into buf. Length or -ENOBUFS. */
int store_commit_format(const char *udid, const SnapshotInfo *info, char *buf, size_t size);
/* Every committed snapshot (sorted), and those whose record is bad. 0 or -errno. */
int store_scan(Store *s, SnapshotInfo **ret, size_t *ret_n, SnapshotInfo **ret_bad,
               size_t *ret_nbad);
/* The newest committed snapshot. 0, -ENOENT or -errno. */
int store_newest_committed(Store *s, SnapshotInfo *ret);
/* Point `latest` at id, atomically. 0 or -errno. */
int store_latest_update(Store *s, const char *id);
/* Make `latest` name the newest committed snapshot after a crash. 0 or -errno. */
int store_latest_repair(Store *s);
/* Remove a staging snapshot that will not be committed. */
void store_staging_discard(Staging *st);
/* Write the index of st, reusing CRCs of unchanged files; its totals. 0 or -errno. */
int store_index_build(Store *s, Staging *st, uint64_t *ret_files, uint64_t *ret_bytes);
