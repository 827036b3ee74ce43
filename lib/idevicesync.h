/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libidevicesync: the backup engine of idevicesync.
 *
 * Performs the host side of mobilebackup2 through libimobiledevice and keeps each backup as
 * a versioned, crash-safe, iTunes-format snapshot (see store.h for the layout). The API is
 * synchronous and keeps no global state, so a caller can fork a helper per job; it never
 * logs above debug (ids_set_debug_log()).
 *
 * Callers must ignore SIGPIPE: libimobiledevice 1.3.0 writes to device sockets without
 * MSG_NOSIGNAL, so a device that goes away mid-write would otherwise kill the process. (A
 * library must not change a process-wide signal disposition itself.)
 *
 * Return values: 0 on success, a negative errno for generic failures (-ENOMEM, -EIO, …),
 * or a positive IDS_E_* outcome a user can act on. ids_result_to_string() gives the one
 * word the daemon, the bus and the CLI use; ids_result_message() one sentence.
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Named outcomes (> 0). */
enum {
        IDS_E_NOT_PAIRED = 1,           /* the device forgot this host and cannot pair now */
        IDS_E_TRUST_PENDING,            /* the Trust dialog is on the device's screen */
        IDS_E_NOT_TRUSTED,              /* the user tapped "Don't Trust" */
        IDS_E_LOCKED,                   /* passcode-locked: unlock the device */
        IDS_E_PASSCODE_TIMEOUT,         /* 208: nobody entered the passcode in time */
        IDS_E_WRONG_PASSWORD,           /* 207: backup password wrong or missing */
        IDS_E_DISK_FULL,                /* 105, ENOSPC, or below the free-space floor */
        IDS_E_NEEDS_REBOOT,             /* 3: stale snapshot on the device */
        IDS_E_SETUP_NOT_DONE,           /* 212: the device's setup assistant is not done */
        IDS_E_BUSY,                     /* another program or operation holds the device */
        IDS_E_CANCELLED,
        IDS_E_DISCONNECTED,             /* the device went away mid-run */
        IDS_E_PROTOCOL,                 /* the device broke the protocol (or was hostile) */
        IDS_E_ENCRYPTION_REQUIRED,      /* policy wants encrypted backups; the device won't */
        IDS_E_DEVICE_ERROR,             /* the device ended with another error code */
        IDS_E_TIMEOUT,                  /* the device stopped answering */
        IDS_E_WAITING_DECISION,         /* sync: a question on the bus must be answered first */
        IDS_E_UNSUPPORTED,              /* a category this device or iOS cannot give (reason) */
        /* Restore pre-checks (issue 17): each before anything is sent to the target. */
        IDS_E_BACKUP_DAMAGED,           /* the snapshot does not verify */
        IDS_E_IOS_TOO_OLD,              /* the target runs an older iOS than the backup's */
        IDS_E_TARGET_FULL,              /* the target has less free space than the backup */
        IDS_E_FIND_MY,                  /* Find My is on (com.apple.fmip, or the device's 211) */
        _IDS_E_MAX,
};

/* "done", "cancelled", "disconnected", "not-trusted", … for r ≥ 0; "failed" for r < 0. */
const char *ids_result_to_string(int r);
/* One sentence for the user; for r < 0 a generic sentence (use strerror for the detail). */
const char *ids_result_message(int r);

typedef enum ids_phase {
        IDS_PHASE_CONNECTING,           /* lockdown session, pairing, services */
        IDS_PHASE_WAITING_PASSCODE,     /* the device asks for its passcode (iOS ≥ 16.1) */
        IDS_PHASE_PREPARING,            /* the device builds its snapshot, asks what we have */
        IDS_PHASE_TRANSFER,             /* file data flows */
        IDS_PHASE_FINISHING,            /* the device moves files into place */
        IDS_PHASE_COMMITTING,           /* syncing to disk, index, publishing the snapshot */
        IDS_PHASE_VERIFYING,            /* restore: the device verifies what it received */
        IDS_PHASE_SCANNING,             /* sync: listing the device and the computer */
        IDS_PHASE_COPYING,              /* sync: copying what the plan says */
        IDS_PHASE_VERIFYING_BACKUP,     /* restore: the pre-checks (the snapshot verifies) */
        IDS_PHASE_DEVICE_RESTORING,     /* restore: all sent; the device puts it in place */
        _IDS_PHASE_MAX,
} ids_phase;

/* "connecting", "waiting-for-passcode", "preparing", "transfer", … */
const char *ids_phase_to_string(ids_phase p);

typedef struct ids_progress {
        ids_phase phase;
        uint64_t bytes_done;            /* file bytes moved in this run */
        uint64_t bytes_total;           /* 0 = not known yet */
        uint64_t files_done;
        uint64_t files_total;           /* 0 = not known yet */
        double percent;                 /* 0..100, the device's own estimate */
        const char *category;           /* sync: "photos", "crashlogs"; NULL otherwise */
} ids_progress;

/* Called on every phase change and at most every 64 KiB of progress; may be called from a
 * libimobiledevice notification thread (phase changes), never concurrently. */
typedef void (*ids_progress_fn)(const ids_progress *p, void *userdata);

/* Cancellation: a flag plus the current device stream. ids_cancel_request() is
 * async-signal-safe and thread-safe: it sets the flag and shuts the stream down, so a
 * blocked receive returns at once; the run then tells the device it is over, releases
 * the sync lock and discards its staging snapshot. */
typedef struct ids_cancel ids_cancel;
int ids_cancel_new(ids_cancel **ret);
ids_cancel *ids_cancel_free(ids_cancel *c);
void ids_cancel_request(ids_cancel *c);
bool ids_cancel_requested(const ids_cancel *c);

typedef struct ids_backup_options {
        const char *udid;               /* required */
        const char *state_dir;          /* NULL: $STATE_DIRECTORY, else /var/lib/idevicesync */
        const char *backup_dir;         /* the snapshot stores; NULL: state_dir */
        bool force_full;                /* ask the device for a full backup */
        unsigned keep;                  /* retention: snapshots to keep (0 = unlimited) */
        unsigned keep_days;             /* retention: max age in days (0 = off) */
        uint64_t min_free_bytes;        /* free-space floor on the store's filesystem */
        unsigned min_free_percent;      /* floor as a percentage (used if larger) */
        /* Encrypted backups only: a device that does not encrypt is asked to, with
         * password (mobilebackup2 ChangePassword), and that backup is a full one; without
         * a password the run is IDS_E_ENCRYPTION_REQUIRED. */
        bool require_encryption;
        const char *password;           /* encrypted backups; never logged */
        unsigned timeout_preparing_s;   /* device silent before data flows (0: 900) */
        unsigned timeout_transfer_s;    /* device silent while data flows (0: 120) */
        ids_progress_fn progress;
        void *userdata;
        ids_cancel *cancel;             /* may be NULL */
} ids_backup_options;

typedef struct ids_backup_result {
        char snapshot_id[32];           /* the committed snapshot, "" if none */
        bool full;                      /* the device sent everything */
        bool encrypted;
        uint64_t files, bytes;          /* of the snapshot */
        uint64_t new_bytes;             /* written by this run (not hard-linked) */
        int device_error;               /* the device's final ErrorCode, 0 if none */
        char message[256];              /* detail for logs: what went wrong, "" if nothing */
} ids_backup_result;

/* Back up one device into a new snapshot. result may be NULL. */
int ids_backup_run(const ids_backup_options *o, ids_backup_result *result);

/* Restore snapshot (an id of source_udid's store, NULL = latest) to target_udid. */
typedef struct ids_restore_options {
        const char *source_udid;        /* whose snapshot; the device may be gone */
        const char *snapshot;           /* NULL: latest */
        const char *target_udid;        /* the connected device to restore */
        const char *state_dir;          /* the device lock (as for a backup) */
        const char *backup_dir;         /* the snapshot stores; NULL: state_dir */
        bool system;                    /* RestoreSystemFiles */
        bool settings;                  /* RestorePreserveSettings = !settings */
        bool reboot;                    /* RestoreShouldReboot */
        /* Skip the pre-checks (snapshot verifies, target iOS, free space, Find My, the
         * password of an encrypted backup): for experts; the device still refuses what it
         * cannot do. */
        bool skip_checks;
        /* Write the backup's app list (Info.plist "Applications") to
         * /iTunesRestore/RestoreApplications.plist over AFC, so that the device downloads
         * its App Store apps again (sync-protocols.md §9 step 2). */
        bool app_list;
        bool remove_items_not_restored;
        const char *password;
        ids_progress_fn progress;
        void *userdata;
        ids_cancel *cancel;
} ids_restore_options;

int ids_restore_run(const ids_restore_options *o, ids_backup_result *result);

typedef struct ids_snapshot {
        char id[32];
        uint64_t start_usec, end_usec;
        uint64_t files, bytes, new_bytes;
        bool encrypted, full;
        char ios_version[32];
} ids_snapshot;

/* Committed snapshots of udid in backup_dir (NULL: the state directory), oldest first;
 * free *ret with free(). Read-only: takes no lock and is safe while a backup runs. */
int ids_snapshot_list(const char *backup_dir, const char *udid, ids_snapshot **ret,
                      size_t *ret_n);
/* Delete one committed snapshot; takes the device lock under state_dir (IDS_E_BUSY while
 * another operation holds it). backup_dir NULL: state_dir. 0, -ENOENT, IDS_E_BUSY, -errno. */
int ids_snapshot_delete(const char *state_dir, const char *backup_dir, const char *udid,
                        const char *id);

typedef struct ids_verify_report {
        uint64_t files_checked, missing, changed, unindexed;
        bool manifest_ok;               /* Manifest.db lists exactly the stored files */
        char first_problem[512];
        /* Encrypted snapshots (Manifest.plist IsEncrypted): */
        bool encrypted;
        uint64_t decrypted;             /* files that decrypted to exactly their Size */
        uint64_t undecryptable;         /* wrong stored size, bad key, bad padding, … */
} ids_verify_report;

/* Verify snapshot id (NULL or "": the latest) of udid's store in backup_dir (NULL:
 * state_dir), under the device lock in state_dir. 0 = verified clean; IDS_E_PROTOCOL when
 * something is missing or changed, -ENOENT, IDS_E_BUSY or -errno; report filled either
 * way when non-NULL. Without a password: an encrypted snapshot gives IDS_E_WRONG_PASSWORD
 * ("a password is needed"); use ids_verify_run() to pass one. */
int ids_snapshot_verify(const char *state_dir, const char *backup_dir, const char *udid,
                        const char *id,
                        ids_verify_report *report);

typedef struct ids_verify_options {
        const char *udid;               /* required */
        const char *snapshot;           /* NULL or "": the latest */
        const char *state_dir;          /* the device lock; NULL: $STATE_DIRECTORY, … */
        const char *backup_dir;         /* the snapshot stores; NULL: state_dir */
        /* The backup password, needed for an encrypted snapshot; never logged, never in a
         * message. NULL: an encrypted snapshot cannot be verified (IDS_E_WRONG_PASSWORD
         * with first_problem saying a password is needed). */
        const char *password;
} ids_verify_options;

/* Verify a snapshot as ids_snapshot_verify() does, and for an encrypted one also: the
 * password unlocks its keybag, Manifest.db decrypts and opens, every file's stored size
 * fits an AES-CBC stream of its Size and it decrypts with valid padding to exactly Size
 * bytes (constant memory; the decrypted Manifest.db lives in a 0600 temporary file in the
 * state directory whose name is removed as soon as it is open). 0 = verified clean;
 * IDS_E_WRONG_PASSWORD (the password does not unlock the keybag, or none was given for an
 * encrypted snapshot); IDS_E_PROTOCOL when something is missing, changed or does not
 * decrypt (first_problem names the first file); -ENOENT, IDS_E_BUSY, -errno. report
 * (may be NULL) is filled either way. */
int ids_verify_run(const ids_verify_options *o, ids_verify_report *report);

typedef struct ids_device_info {
        char name[128];
        char product_type[64];
        char product_version[32];
        int battery;                    /* percent, -1 if unknown */
        bool charging;
        bool will_encrypt;
} ids_device_info;

/* Connect, pair if needed (the Trust dialog), and read what policy decisions need.
 * 0, IDS_E_TRUST_PENDING, IDS_E_NOT_TRUSTED, IDS_E_LOCKED, IDS_E_DISCONNECTED, … */
int ids_device_probe(const char *udid, ids_device_info *ret);

/* For a process that runs one operation after another on a device (the daemon's helper
 * probes, then backs up): with keep on, the lockdown session an operation ends with stays
 * open, and the next operation on the same device within 10 s starts from it instead of
 * a new connection and TLS handshake, once the device has answered on it. Turning keep
 * off closes a kept session. Off by default; not thread-safe. */
void ids_session_keep(bool keep);

/* ---- sync --------------------------------------------------------------------------------
 *
 * A sync brings what lives on both sides up to date, category by category (photos, crash
 * logs; later documents, contacts, …). It never removes or overwrites anything silently:
 * photos are add-only, a category computes its plan before it writes, and a dry run
 * returns that plan and changes nothing. What was synced is remembered in
 * <state_dir>/<UDID>/sync.db (SQLite), which only ids_sync_run() writes. */

typedef enum ids_sync_photos {
        IDS_SYNC_PHOTOS_NO,
        IDS_SYNC_PHOTOS_IMPORT,                 /* device → computer, add-only */
} ids_sync_photos;

/* music, videos, books, ringtones: device → computer only; iOS takes them from a computer
 * only through AirTraffic (com.apple.atc, FairPlay), which no open host can speak. */
typedef enum ids_sync_media {
        IDS_SYNC_MEDIA_NO,
        IDS_SYNC_MEDIA_IMPORT,                  /* device → computer, add-only */
} ids_sync_media;

typedef enum ids_sync_crashlogs {
        IDS_SYNC_CRASHLOGS_NO,
        IDS_SYNC_CRASHLOGS_COPY,                /* copy, keep the device's */
        IDS_SYNC_CRASHLOGS_MOVE,                /* remove from the device once the copy is safe */
} ids_sync_crashlogs;

typedef enum ids_sync_documents {
        IDS_SYNC_DOCUMENTS_NO,
        IDS_SYNC_DOCUMENTS_IMPORT,              /* device → computer, add-only */
        IDS_SYNC_DOCUMENTS_TWO_WAY,             /* both ways, three-way against sync.db */
} ids_sync_documents;

/* What happens when a file synced before is deleted on one side. */
typedef enum ids_sync_deletions {
        IDS_SYNC_DELETIONS_HOLD,                /* a held item: a question on the bus */
        IDS_SYNC_DELETIONS_PROPAGATE,           /* removed on the other side (computer: trash) */
        IDS_SYNC_DELETIONS_NEVER,               /* recorded; nothing is removed */
} ids_sync_deletions;

/* The first sync of a two-way category with data on both sides. */
typedef enum ids_sync_first_sync {
        IDS_SYNC_FIRST_ASK,                     /* a question; the category waits for it */
        IDS_SYNC_FIRST_MERGE,                   /* the union; changed on both: both kept */
        IDS_SYNC_FIRST_REPLACE_DEVICE,          /* the computer's set wins */
        IDS_SYNC_FIRST_REPLACE_COMPUTER,        /* the device's set wins */
} ids_sync_first_sync;

/* A person's answer, carried to the next run. The run records every decision in sync.db
 * before it does anything else, so a run cut short still keeps it; giving the same
 * decision twice is harmless. */
typedef struct ids_sync_decision {
        const char *category;                   /* first sync: the category; held item: NULL */
        /* first sync: "merge", "replace-device", "replace-computer";
         * held item: "approve" (remove the other side's copy) or "reject" (copy it back) */
        const char *choice;
        uint64_t item;                          /* held item: its id (ids_sync_held.id) */
} ids_sync_decision;

/* Contacts, calendars, bookmarks, notes and voice memos: exported from the latest snapshot
 * into <library>/ in open formats (vCard, iCalendar, HTML, Markdown, the recordings),
 * regenerated when their databases changed. */
typedef enum ids_sync_export {
        IDS_SYNC_EXPORT_NO,
        IDS_SYNC_EXPORT_YES,
        /* Contacts and calendars only: both ways with the phone through mobilesync (the
         * per-item files are the computer's side; the export no longer rewrites them). */
        IDS_SYNC_EXPORT_TWO_WAY,
} ids_sync_export;

/* Apps: the inventory in <library>/apps.json; install adds the IPA files of apps_dir to
 * the device, each once (an app whose IPA is removed is a held deletion: "approve"
 * uninstalls it, "reject" keeps it and forgets it). */
typedef enum ids_sync_apps {
        IDS_SYNC_APPS_NO,
        IDS_SYNC_APPS_INVENTORY,
        IDS_SYNC_APPS_INSTALL,                  /* the inventory, and the IPAs of apps_dir */
} ids_sync_apps;

typedef struct ids_sync_options {
        const char *udid;                       /* required */
        const char *state_dir;                  /* NULL: $STATE_DIRECTORY, else /var/lib/… */
        const char *library_dir;                /* NULL: <state_dir>/<UDID>/library */
        const char *photos_dir;                 /* NULL: <library>/photos */
        ids_sync_photos photos;
        ids_sync_media music;                   /* music, podcasts, audiobooks */
        ids_sync_media videos;                  /* movies, TV shows, music videos */
        ids_sync_media books;
        ids_sync_media ringtones;
        ids_sync_crashlogs crashlogs;
        ids_sync_documents documents;
        const char *documents_dir;              /* NULL: <library>/documents (<bundle id>/…) */
        const char *const *documents_apps;      /* NULL-terminated bundle ids; NULL: all apps
                                                 * with File Sharing */
        ids_sync_deletions deletions;
        ids_sync_first_sync first_sync;
        unsigned trash_days;                    /* <library>/.trash/<date>/ kept; 0: 30 */
        const ids_sync_decision *decisions;     /* answers to record and apply */
        size_t n_decisions;
        /* No device: record the decisions and do what needs none (approved removals of
         * computer copies into the trash, trash expiry); no lock on the device's USB side,
         * no session. */
        bool offline;
        bool dry_run;                           /* plan only: read metadata, write nothing */
        uint64_t min_free_bytes;                /* free-space floor on the library's fs */
        ids_progress_fn progress;
        void *userdata;
        ids_cancel *cancel;                     /* may be NULL */
        /* The exports from the latest committed snapshot (in backup_dir, NULL: state_dir;
         * an encrypted one needs password, never logged). */
        ids_sync_export contacts, calendars, bookmarks, notes, voice_memos;
        const char *backup_dir;
        const char *password;
        ids_sync_apps apps;
        const char *apps_dir;                   /* IDS_SYNC_APPS_INSTALL: the *.ipa files;
                                                 * NULL: <library>/apps-to-install */
} ids_sync_options;

#define IDS_SYNC_CATEGORIES_MAX 24

/* One category's outcome, or in a dry run its plan. "in" = device → computer. */
typedef struct ids_sync_category {
        char name[32];                          /* "photos", "crashlogs" */
        char mode[16];                          /* "import", "move", "copy", "no" */
        int result;                             /* 0, IDS_E_* or -errno */
        uint64_t files_in, bytes_in;            /* copied (planned) to the computer */
        uint64_t files_out, bytes_out;          /* copied (planned) to the device */
        uint64_t held;                          /* deletions held for a decision */
        uint64_t refused;                       /* device names refused (unsafe); apps:
                                                 * IPAs the phone refused to install */
        uint64_t conflicts;                     /* changed on both sides: both kept */
        uint64_t duplicates;                    /* new on the device, already on the computer */
        uint64_t removed_device;                /* removed from the device (crash logs: move) */
        char reason[256];                       /* why it could not run, or a note */
        uint64_t removed_computer;              /* moved into <library>/.trash/ */
} ids_sync_category;

typedef struct ids_sync_result {
        bool dry_run;
        size_t n_categories;
        ids_sync_category categories[IDS_SYNC_CATEGORIES_MAX];
        char message[256];                      /* one line for logs and the bus */
} ids_sync_result;

/* Sync one device: session, sync lock, every enabled category in order, one commit of the
 * sync state. 0 when every category ran (each category's own result is in result), else
 * the first failure that stopped the run (IDS_E_DISCONNECTED, IDS_E_CANCELLED,
 * IDS_E_DISK_FULL, IDS_E_BUSY, …). result may be NULL. */
int ids_sync_run(const ids_sync_options *o, ids_sync_result *result);

/* Read-only: what sync.db of udid remembers, per category: the items it knows and the
 * category's last run. Takes no lock; safe while a sync runs. -ENOENT when it never
 * synced; free *ret with free(). */
typedef struct ids_sync_totals {
        char name[32];
        uint64_t items, bytes;                  /* known to the sync state */
        uint64_t last_run_usec;                 /* 0: never ran (only items) */
        ids_sync_category last;                 /* what that run did */
} ids_sync_totals;
int ids_sync_state_read(const char *state_dir, const char *udid, ids_sync_totals **ret,
                        size_t *ret_n);

/* What waits for a person, from sync.db (read-only, no lock; safe while a sync runs).
 *
 * A held item is a deletion seen on one side of a file synced before: "approve" removes
 * the other side's copy (a computer copy goes to <library>/.trash/<date>/), "reject"
 * copies it back to the side it was deleted on. It stays until decided, or until the
 * remaining copy changes (then it is copied back as a changed file, never removed).
 *
 * A question is the first sync of a category with data on both sides under
 * IDS_SYNC_FIRST_ASK: what each choice would do, in numbers. */
typedef struct ids_sync_held {
        uint64_t id;                            /* stable; > 0 */
        char category[32];                      /* "documents" */
        char *scope;                            /* documents: the app's bundle id */
        char *path;                             /* below the scope's root: the copy approve
                                                 * removes, as that side spells it (a device
                                                 * name may be NFD) */
        char side[16];                          /* whose copy "approve" removes: "device" or
                                                 * "computer" */
        uint64_t size;
        uint64_t created_usec;
} ids_sync_held;

typedef struct ids_sync_choice_plan {
        char choice[24];                        /* "merge", "replace-device", "replace-computer" */
        uint64_t add_device, add_computer;      /* files copied to that side */
        uint64_t overwrite_device, overwrite_computer;  /* replaced there (computer: old to trash) */
        uint64_t remove_device, remove_computer;        /* held for approval unless propagate */
        uint64_t conflicts;                     /* merge: differ on both sides, both kept */
} ids_sync_choice_plan;

typedef struct ids_sync_question {
        char category[32];
        uint64_t created_usec;
        uint64_t files_device, files_computer;  /* what each side holds now */
        ids_sync_choice_plan choices[3];        /* merge, replace-device, replace-computer */
} ids_sync_question;

typedef struct ids_sync_pending {
        ids_sync_held *held;
        size_t n_held;
        ids_sync_question *questions;
        size_t n_questions;
} ids_sync_pending;

/* 0 with *ret filled (both lists may be empty; a device that never synced has none),
 * -errno. Only what is still undecided is listed (an answer recorded by a run but not yet
 * applied is no longer a question). Free with ids_sync_pending_done(). */
int ids_sync_pending_read(const char *state_dir, const char *udid, ids_sync_pending *ret);
void ids_sync_pending_done(ids_sync_pending *p);

/* ---- browse and extract -------------------------------------------------------------------
 *
 * The files of a committed snapshot, from its Manifest.db (for an encrypted snapshot
 * decrypted with the password into a 0600 temporary file in the state directory whose name
 * is removed as soon as it is open), and decrypted copies of them beneath a directory the
 * caller opened. Both take the device lock as verify does (IDS_E_BUSY while a backup or
 * another operation holds it) and never need the device. */

typedef enum ids_snapshot_file_type {
        IDS_SNAPSHOT_FILE_REGULAR = 1,          /* Manifest.db's flags */
        IDS_SNAPSHOT_FILE_DIRECTORY = 2,
        IDS_SNAPSHOT_FILE_SYMLINK = 4,
} ids_snapshot_file_type;

typedef struct ids_snapshot_file {
        const char *domain;                     /* borrowed for the callback's duration */
        const char *path;                       /* relative to the domain; "" = its root */
        uint64_t size;                          /* plaintext bytes (regular files) */
        int64_t mtime;                          /* seconds since the epoch (LastModified) */
        unsigned flags;                         /* an ids_snapshot_file_type; 0: unknown */
        bool encrypted;                         /* stored encrypted (has an EncryptionKey) */
        /* false: a name extract refuses (absolute, "..", ".", an empty component, control
         * characters, too long); shown as it is, never written. */
        bool safe;
} ids_snapshot_file;

typedef struct ids_files_options {
        const char *udid;                       /* required */
        const char *snapshot;                   /* NULL or "": the latest */
        const char *state_dir;                  /* the device lock; NULL: $STATE_DIRECTORY, … */
        const char *backup_dir;                 /* the snapshot stores; NULL: state_dir */
        const char *password;                   /* encrypted snapshots; never logged */
        const char *domain;                     /* NULL: every domain */
        /* NULL or "": every path; else the path itself and everything beneath it, compared
         * by whole components ("Media/DCIM" matches "Media/DCIM/1.jpg", not "Media/DCIMx");
         * a trailing '/' is ignored. */
        const char *prefix;
        /* Optional (NULL: none): problem_size bytes that get one sentence when the result
         * is not 0 ("encrypted snapshot: a password is needed", "Manifest.db cannot be
         * read", …); never the password. */
        char *problem;
        size_t problem_size;
} ids_files_options;

/* Call fn once per file of the snapshot that matches the filters, ordered by domain and
 * path (byte order). fn returns 0 to go on; anything else stops the listing and is
 * returned. 0; IDS_E_WRONG_PASSWORD (an encrypted snapshot and no password, or one that
 * does not unlock its keybag); IDS_E_PROTOCOL (Manifest.plist or Manifest.db damaged, or
 * Manifest.db does not decrypt); IDS_E_BUSY; -ENOENT (no such snapshot); -EINVAL; -errno. */
int ids_snapshot_files(const ids_files_options *o,
                       int (*fn)(const ids_snapshot_file *f, void *userdata), void *userdata);

/* One file or directory to extract: that row and everything beneath it. */
typedef struct ids_extract_item {
        const char *domain;
        const char *path;                       /* "" or NULL: the whole domain */
} ids_extract_item;

typedef struct ids_extract_options {
        const char *udid;                       /* required */
        const char *snapshot;                   /* NULL or "": the latest */
        const char *state_dir;                  /* the device lock; NULL: $STATE_DIRECTORY, … */
        const char *backup_dir;                 /* the snapshot stores; NULL: state_dir */
        const char *password;                   /* encrypted snapshots; never logged */
        /* Borrowed: the directory to write into (the daemon receives it over the bus, so no
         * path is needed). Copies go to <domain>/<path> beneath it; nothing is written
         * anywhere else, no symlink is followed, no existing file is replaced. */
        int target_fd;
        /* What to extract: all; or the items; or the files of domain (beneath prefix, as in
         * ids_files_options). domain and prefix also narrow all and the items. */
        bool all;
        const ids_extract_item *items;
        size_t n_items;
        const char *domain;
        const char *prefix;
        ids_progress_fn progress;               /* phase IDS_PHASE_COPYING */
        void *userdata;
        ids_cancel *cancel;                     /* may be NULL */
} ids_extract_options;

typedef struct ids_extract_report {
        uint64_t files, bytes;                  /* regular files written, their bytes */
        uint64_t directories;                   /* directories created or already there */
        uint64_t refused;                       /* unsafe names, never written */
        uint64_t skipped;                       /* already in the target: left alone */
        uint64_t failed;                        /* missing, wrong size, does not decrypt */
        uint64_t symlinks;                      /* symlinks are listed, never created */
        uint64_t not_found;                     /* items that match no file */
        char first_problem[512];                /* names the first refused or failed file */
} ids_extract_report;

/* Write decrypted copies of the chosen files of a snapshot beneath o->target_fd, each
 * through a temporary name renamed into place (never over an existing file), with its
 * LastModified as mtime (directories too, those this run creates); files 0600 and
 * directories 0700. A file that cannot be copied is counted, named in first_problem, and
 * the rest goes on. 0 when everything chosen was written or skipped; IDS_E_PROTOCOL when
 * something failed or was refused, or an item matches no file; IDS_E_WRONG_PASSWORD
 * (nothing written); IDS_E_CANCELLED; IDS_E_BUSY; IDS_E_DISK_FULL; -ENOENT (no such
 * snapshot); -ENOTDIR (target_fd is no directory); -EINVAL (nothing chosen, a bad fd);
 * -errno. report (may be NULL) is filled either way. */
int ids_snapshot_extract(const ids_extract_options *o, ids_extract_report *report);

/* Debug messages of the library go to fn (NULL: silent). Process-wide; set it before
 * starting threads. */
void ids_set_debug_log(void (*fn)(const char *msg));

#ifdef __cplusplus
}
#endif
