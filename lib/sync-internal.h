/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync engine's inside (sync.c runs it; sync-files.c has what categories share;
 * sync-<category>.c are the categories).
 *
 * A category is a module of one shape: scan the device, scan the computer, plan, apply. The
 * engine calls the four steps in order for each enabled category, and stops after plan in a
 * dry run, so nothing a category writes can happen before its plan exists. A category
 * fills its ids_sync_category (counters, result, reason) as it goes.
 *
 * Host-side writes go through a Batch: each file is received into a temporary name in the
 * category's partial directory (<root>/.idevicesync-partial/, same filesystem), then, at
 * the end of the batch, the files are made durable (one syncfs), renamed into place without
 * replacing anything (RENAME_NOREPLACE; a clash with other content takes a " (2)" suffix, a
 * clash with the same content adopts the file already there), the renames made durable (a
 * second syncfs), and only then the rows committed to sync.db. A crash at any point leaves no partial file
 * under a final name, and nothing recorded that is not durable; a file renamed but not yet
 * recorded is found again by content the next time, never duplicated.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libimobiledevice/afc.h>

#include "fs-util.h"
#include "idevicesync.h"
#include "session.h"
#include "sync-db.h"

#define SYNC_PARTIAL_DIR ".idevicesync-partial"

typedef struct SyncRun SyncRun;
typedef struct ExportShared ExportShared;
typedef struct SyncCat SyncCat;

typedef struct SyncCategoryType {
        const char *name;                       /* "photos": sync.db category, bus, logs */
        /* The mode the options give this category; "no" disables it. */
        const char *(*mode)(const ids_sync_options *o);
        int (*scan_device)(SyncRun *run, SyncCat *c);
        int (*scan_host)(SyncRun *run, SyncCat *c);
        int (*plan)(SyncRun *run, SyncCat *c);
        int (*apply)(SyncRun *run, SyncCat *c);
        void (*free_state)(SyncCat *c);
        const void *userdata;                   /* the type's own (an export's ExportType) */
} SyncCategoryType;

struct SyncCat {
        const SyncCategoryType *type;
        ids_sync_category *out;
        void *state;                            /* the category's own */
};

struct SyncRun {
        const ids_sync_options *o;
        ids_sync_result *res;
        const char *state_dir;
        char *library_dir;
        Session *session;
        SyncDb *db;
        ids_cancel *cancel;
        ids_progress p;
        uint64_t last_report_bytes;
        uint64_t now_usec;
        ExportShared *exports;                  /* the snapshot the exports read (export-sync.c) */
        struct MobileSync *mobilesync;          /* shared by the mobilesync categories */
        struct MediaLib *medialib;              /* read once for music and videos */
        afc_client_t media_afc;                 /* one AFC connection for the media categories */
};

extern const SyncCategoryType sync_category_photos, sync_category_crashlogs,
        sync_category_documents, sync_category_apps, sync_category_contacts, sync_category_calendars,
        sync_category_bookmarks, sync_category_notes, sync_category_voice_memos,
        sync_category_contacts_two_way, sync_category_calendars_two_way, sync_category_music,
        sync_category_videos, sync_category_books, sync_category_ringtones;

/* ---- sync-media.c --------------------------------------------------------------------------- */

/* Drop what the media categories share: the library music and videos read
 * (run->medialib) and their AFC connection (run->media_afc). */
void sync_media_library_free(SyncRun *run);

/* ---- export-sync.c ---------------------------------------------------------------------- */

/* Close the snapshot the exports of the run opened. */
void export_shared_free(SyncRun *run);
/* The rows of table in the database domain/path of the latest committed snapshot: 0 with
 * *ret; -ENOENT (no snapshot, or no such database in it), -EBADMSG (no such table), -errno. */
int export_backup_count(SyncRun *run, const char *domain, const char *path, const char *table,
                        uint64_t *ret);

/* ---- sync-files.c ----------------------------------------------------------------------- */

void sync_report(SyncRun *run, ids_phase phase, bool force);
/* IDS_E_CANCELLED once a cancel was asked for, else 0. */
int sync_check_cancel(SyncRun *run);
/* An AFC error as a result: the device gone, a cancel, or a protocol error. */
int sync_afc_error(SyncRun *run, afc_error_t e);

typedef struct SyncFileInfo {
        bool is_dir, is_reg;
        uint64_t size;
        int64_t mtime_ns, birthtime_ns;
} SyncFileInfo;

/* GET_FILE_INFO of path: 0, -ENOENT, IDS_E_PROTOCOL (nonsense metadata) or an AFC error
 * as sync_afc_error() gives it. */
int sync_afc_stat(SyncRun *run, afc_client_t afc, const char *path, SyncFileInfo *ret);

/* SHA-256 of d (n bytes) in hex; of a whole file read from fd (from offset 0). */
void sync_hex(const unsigned char *d, unsigned n, char ret[SYNC_HASH_HEX]);
int sync_hash_fd(int fd, char ret[SYNC_HASH_HEX]);
/* IDS_E_DISK_FULL when need more bytes would take fd's filesystem below the floor. */
int sync_check_space(SyncRun *run, int fd, uint64_t need);

/* ---- sync-apps-install.c: Apps=install, run by sync-apps.c --------------------------------- */

typedef struct AppsInstall AppsInstall;

/* AppsDir (each *.ipa hashed, its Info.plist read), the meta rows and the held items of
 * earlier runs, this run's decisions. *ret is set even on failure (free it). 0 or -errno. */
int apps_install_scan(SyncRun *run, ids_sync_category *out, AppsInstall **ret);
/* What to install, forget, ask about or uninstall; on_device(userdata, bundle id) says
 * whether the phone lists an app. Fills out's plan counters (files_out, bytes_out, held). */
int apps_install_plan(SyncRun *run, AppsInstall *ai, bool (*on_device)(void *, const char *),
                      void *userdata, ids_sync_category *out);
/* Do the plan; *ret_changed when the phone's app list changed. 0, IDS_E_* that stop the
 * run, -errno. A refused IPA is recorded and counted (apps_install_failed()), not an
 * error. */
int apps_install_apply(SyncRun *run, AppsInstall *ai, ids_sync_category *out, bool *ret_changed);
/* The install part of the category's reason: the plan ("Would install 2 IPAs. ") until
 * apps_install_apply() ran, then what it did ("Installed 1 IPA, 1 failed (…). "). */
void apps_install_reason(const AppsInstall *ai, char *buf, size_t n);
/* Whether the device refused an IPA or an uninstall in this run. */
bool apps_install_failed(const AppsInstall *ai);
AppsInstall *apps_install_free(AppsInstall *ai);

/* ---- sync-trash.c: <library>/.trash/<YYYY-MM-DD>/<category>/<scope>/<rel_path> ----------- */

/* Move name (in dir_fd, not followed if a symlink) into today's trash as rel_path below
 * <category>/<scope> (scope may be ""), never replacing anything there (" (2)" suffixes);
 * durable (both directories fsync'ed) when it returns 0. Across filesystems the file is
 * copied, made durable, and only then unlinked. 0, -ENOENT (name is gone), -errno. */
int sync_trash_move(SyncRun *run, int dir_fd, const char *name, const char *category,
                    const char *scope, const char *rel_path);
/* Remove the trash's day directories older than days (0: 30) days; *ret_removed (may be
 * NULL) counts them. 0 or -errno. */
int sync_trash_expire(SyncRun *run, unsigned days, uint64_t *ret_removed);

/* ---- sync-documents.c ------------------------------------------------------------------- */

/* No device: apply the approved removals of computer copies (into the trash; a copy that
 * changed since it was synced is kept and its item dropped). *ret_trashed and *ret_waiting
 * (items that need the device) are counted; dry_run only counts. 0 or -errno. */
int sync_documents_offline(SyncRun *run, uint64_t *ret_trashed, uint64_t *ret_waiting);

/* A file name a device gave: usable as one host path component (not empty, ".", "..",
 * no '/', no control character, at most 255 bytes). Dot files are the caller's choice. */
bool sync_name_ok(const char *name);

typedef struct SyncEntry {
        const char *device_path;                /* AFC path, e.g. /DCIM/100APPLE/IMG_0001.HEIC */
        const char *rel_path;                   /* below the walk's root, every part checked */
        const char *name;                       /* last component */
        uint64_t size;
        int64_t mtime_ns, birthtime_ns;
} SyncEntry;

/* Walk root on the device (regular files; directories up to max_depth deep). Entries
 * whose name is unsafe, symlinks and other non-files are counted in *refused and skipped;
 * names starting with '.' are skipped silently. fn's negative return stops the walk. */
int sync_afc_walk(SyncRun *run, afc_client_t afc, const char *root, unsigned max_depth,
                  uint64_t *refused,
                  int (*fn)(SyncRun *run, const SyncEntry *e, void *userdata), void *userdata);

/* Make room for one more element in *array (n used of *allocated, each size bytes),
 * doubling from first. 0 or -ENOMEM (the array unchanged). */
int sync_grow(void **array, size_t *allocated, size_t n, size_t size, size_t first);

typedef struct BatchFile {
        char tmp[32];                           /* in the partial directory */
        char *device_path;
        char *dir;                              /* final directory below the root; "" = root */
        char *name;                             /* wanted final name */
        unsigned group;                         /* files of one group share a name suffix */
        SyncItem item;                          /* size, mtime, hash; host_path set on commit */
        bool adopted;                           /* the same content was already there */
        long dup_of;                            /* ≥ 0: same content as that file of the batch */
} BatchFile;

typedef struct Batch {
        SyncRun *run;
        const char *category;
        int root_fd;                            /* the category's root on the host */
        int partial_fd;
        BatchFile *files;
        size_t n, allocated;
        uint64_t bytes;
        unsigned next_group;
        uint64_t placed_files, placed_bytes;    /* new files made visible, over all commits */
        uint64_t duplicates;                    /* content that was on the computer already */
        uint8_t *out_buf;                       /* batch_fetch()'s FsOut buffer, or NULL */
        bool no_direct;                         /* the file system refused O_DIRECT */
        /* After the rows of a batch are committed, before the next: may be NULL. */
        int (*committed)(SyncRun *run, BatchFile *f, void *userdata);
        void *userdata;
} Batch;

#define BATCH_MAX_FILES 64
#define BATCH_MAX_BYTES (256ull << 20)

/* Open (creating) root below the library or at an absolute path, and a clean partial
 * directory in it. */
int batch_init(Batch *b, SyncRun *run, const char *category, const char *root);
/* batch_init() for category c, its failure told in c's reason ("Cannot use ROOT: why"); a
 * full disk is IDS_E_DISK_FULL. */
int batch_open(Batch *b, SyncRun *run, SyncCat *c, const char *root);
/* Remove the partial directory and close everything (files not committed are dropped). */
void batch_done(Batch *b);
/* Receive device_path into a new temporary file of the batch, hashing it. On success the
 * file is the batch's last; the caller sets dir and name (and group) before the commit.
 * A file that grew past its listed size is -EAGAIN (changed while read: skipped). */
int batch_fetch(Batch *b, afc_client_t afc, const SyncEntry *e, BatchFile **ret);
/* The library directory (created 0700 with its parents): an fd, or -errno. */
int sync_open_library(SyncRun *run);
/* installation_proxy Browse of the User apps with these attributes (NULL-terminated): the
 * array of app dicts (hostile: check every type). 0 or IDS_E_*. */
int sync_browse_apps(SyncRun *run, const char *const *attributes, plist_t *ret);
/* A first sync whose choice came from FirstSync=, not a person: recorded like an answer,
 * so a run cut short goes on with the same choice (nothing in a dry run). 0 or -errno. */
int sync_first_sync_remember(SyncRun *run, const char *category, const char *choice);
/* Write what fd holds (read from offset 0 to its end) into the open AFC file handle, in
 * 1 MiB pieces, adding each to md_ctx (an EVP_MD_CTX, may be NULL) and to the progress;
 * *ret_total: the bytes sent. 0, IDS_E_CANCELLED, an AFC error as sync_afc_error() gives
 * it, IDS_E_PROTOCOL (the device took nothing), -errno. */
int sync_afc_send_fd(SyncRun *run, afc_client_t afc, uint64_t handle, int fd, void *md_ctx,
                     uint64_t *ret_total);
/* Connect an AFC-speaking service (com.apple.afc, crashreportcopymobile), its stream
 * registered for cancel. */
int sync_afc_connect(SyncRun *run, const char *service, afc_client_t *ret);

/* A file the caller makes (an EPUB zipped from a directory): fill(fd, userdata) writes it
 * into a new temporary file of the batch, which then stands for device_path (size and
 * mtime_ns as the device gave them, for the next run's plan). 0, IDS_E_DISK_FULL, fill's
 * error, -errno. */
int batch_add_tmp(Batch *b, const char *device_path, uint64_t size, int64_t mtime_ns,
                  int (*fill)(int fd, void *userdata), void *userdata, BatchFile **ret);
/* Read the open device file h, which the plan says is size bytes, hashing it (SHA-256
 * into hash); with fd >= 0 also write it there (large files past the page cache, FsOut
 * with buf from fs_out_buffer() and the run's no_direct, may be NULL), counting progress.
 * 0, -EAGAIN (not size bytes long: changed while read), IDS_E_DISK_FULL, IDS_E_CANCELLED,
 * an AFC error as sync_afc_error() gives it, -errno. */
int sync_afc_receive(SyncRun *run, afc_client_t afc, uint64_t h, int fd, uint64_t size,
                     uint8_t *buf, bool *no_direct, char hash[SYNC_HASH_HEX]);
/* Copy one device file into dir_fd/name (a new file), at most max bytes: 0, -ENOENT,
 * -EFBIG, an AFC error as sync_afc_error() gives it, -errno. */
int sync_afc_fetch_plain(SyncRun *run, afc_client_t afc, const char *path, int dir_fd,
                         const char *name, uint64_t max);
/* A whole device file (at most max bytes) in memory, NUL-terminated: 0 with *ret (free
 * it), -ENOENT, -EFBIG, an AFC error. */
int sync_afc_read_all(SyncRun *run, afc_client_t afc, const char *path, size_t max,
                      char **ret, size_t *ret_len);
/* Copy a device SQLite database with its -wal and -shm (when present: the WAL holds rows
 * not yet in the main file) into a new private directory ret_dir, as ret_dir/db. Open it
 * with sync_open_db_copy() (never immutable=1, which ignores the WAL) and remove ret_dir
 * with fs_rm_rf_at() after. 0 or an error as sync_afc_fetch_plain() gives it. */
int sync_afc_copy_db(SyncRun *run, afc_client_t afc, const char *path, uint64_t max,
                     char ret_dir[FS_PATH_MAX]);
/* Open the copy sync_afc_copy_db() made (query-only). 0 or -EIO (not a database). */
struct sqlite3;
int sync_open_db_copy(const char *dir, struct sqlite3 **ret);

/* A new group id for the files that must share a name suffix. */
unsigned batch_new_group(Batch *b);
/* If the batch already holds f's content, make f a duplicate of that file (1), else 0. */
int batch_dedup_within(Batch *b, BatchFile *f);
/* f's content is already on the computer at host_path: drop its temporary file, keep the
 * row (so the next scan knows the device path without reading it). */
int batch_mark_duplicate(Batch *b, BatchFile *f, const char *host_path);
/* Whether the batch should be committed before the next file. */
bool batch_full(const Batch *b);
/* Make every file durable, move it into place, record it, commit. */
int batch_commit(Batch *b);
/* The end of a category's apply: commit what is left (after a full disk too: whatever
 * fitted is whole), put the batch's counters into out, clean up. Returns r, or the
 * commit's error when r was 0. */
int batch_finish(Batch *b, int r, ids_sync_category *out);

/* "2024/05" from a time in ns since the epoch (UTC). */
void sync_month_dir(int64_t t_ns, char ret[8]);
