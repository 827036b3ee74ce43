/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config: the daemon's configuration and the per-device backup policy (STYLE.md §8,
 * idevicesync.conf(5)): one key table per section, filled by the generic engine of
 * conf-parser.c.
 *
 * A Policy is what the daemon needs to decide whether, when and how to back a device up.
 * It is built from compiled-in defaults, then /etc/idevicesync/idevicesync.conf, then the
 * drop-ins idevicesync.conf.d/ (*.conf from /etc, /run and /usr/lib, sorted by file name
 * across the three directories; a name in an earlier directory masks the same name in a
 * later one), then devices.d/<UDID>.conf; a later assignment wins. Bad input never fails a
 * load: a bad line is reported as "file:line: …, ignoring", the key keeps its earlier
 * value and parsing goes on. Only a file that exists but cannot be read (EACCES, EISDIR,
 * EFBIG, EIO…) fails the load, so the caller can keep the policy it had.
 *
 * Parse once: config_load() reads the main file and its drop-ins ONCE into the base policy
 * of a ConfigSet and lists devices.d; config_policy_for_device() copies the base and
 * applies that device's file on top. A reload is one config_load() and one
 * config_policy_for_device() per device, so every bad line is reported once per reload.
 *
 * devices.d file names are matched to UDIDs ignoring ASCII case (usbmuxd reports dashed
 * UDIDs in upper case, administrators type lower case). When two files differ only in
 * case, one warning names both and the later one in strcmp() order of the names wins.
 *
 * Not thread-safe (the log hook is process-wide); the daemon calls it from its event loop.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf-parser.h"

#define POLICY_LINE_MAX CONF_LINE_MAX
#define POLICY_FILE_MAX CONF_FILE_MAX
#define POLICY_DROPINS_MAX CONF_DIR_MAX /* drop-in files across all directories */

#define POLICY_CONFIG_DIR "/etc/idevicesync"
#define POLICY_RUNTIME_DIR "/run/idevicesync"
#define POLICY_VENDOR_DIR "/usr/lib/idevicesync"

/* NewDevice=: what happens when a device the daemon never backed up attaches while another
 * device has a committed snapshot (issue 17): ask (a restore-offer request), new (back it
 * up as a new phone), restore-latest (the newest snapshot of any other device),
 * restore-from:<UDID> (that device's newest snapshot). */
typedef enum NewDeviceMode {
        NEW_DEVICE_ASK,
        NEW_DEVICE_NEW,
        NEW_DEVICE_RESTORE_LATEST,
        NEW_DEVICE_RESTORE_FROM,
} NewDeviceMode;

typedef struct NewDevicePolicy {
        NewDeviceMode mode;
        char udid[65];                  /* restore-from: the source, canonical; else "" */
} NewDevicePolicy;

/* "ask", "new", "restore-latest", "restore-from" (without the UDID). */
const char *new_device_mode_to_string(NewDeviceMode m);

/* [Backup]: whether and when a device is backed up, and what is kept. */
typedef struct PolicyBackup {
        bool auto_run;                  /* AutoRun=: back up on connection */
        usec_t min_interval;            /* MinInterval=: since the last good backup; 0 = none */
        TimeWindow time_window;         /* TimeWindow= */
        unsigned min_battery;           /* MinBattery=: percent, 0 = no floor */
        bool require_charging;          /* RequireCharging= */
        bool require_encryption;        /* RequireEncryption= */
        unsigned keep;                  /* Keep=: snapshots to keep; 0 = no count limit */
        unsigned keep_days;             /* KeepDays=: 0 = no age limit */
        SpaceLimit min_free_space;      /* MinFreeSpace= */
        usec_t passcode_wait;           /* PasscodeWait=: 0 = do not wait */
        NewDevicePolicy new_device;     /* NewDevice=ask|new|restore-latest|restore-from:… */
} PolicyBackup;

/* [Sync]: the sync stage after each successful backup, per category. */
typedef enum SyncPhotosMode { SYNC_PHOTOS_NO, SYNC_PHOTOS_IMPORT } SyncPhotosMode;
/* Or'ed into a Photos=/Music=/Videos=/Books=/Ringtones= value when a file asked for
 * to-device: refused (the mode stays), and the sync's summary says why in a row of its own. */
#define SYNC_TO_DEVICE_ASKED 0x100
#define SYNC_MODE(v) ((v) & ~SYNC_TO_DEVICE_ASKED)
/* Music=, Videos=, Books=, Ringtones=: device → computer only, like Photos=. */
typedef enum SyncMediaMode { SYNC_MEDIA_NO, SYNC_MEDIA_IMPORT } SyncMediaMode;
typedef enum SyncCrashLogsMode {
        SYNC_CRASHLOGS_NO,
        SYNC_CRASHLOGS_COPY,
        SYNC_CRASHLOGS_MOVE,
} SyncCrashLogsMode;

typedef enum SyncDocumentsMode {
        SYNC_DOCUMENTS_NO,
        SYNC_DOCUMENTS_IMPORT,
        SYNC_DOCUMENTS_TWO_WAY,
} SyncDocumentsMode;
typedef enum SyncDeletionsMode {
        SYNC_DELETIONS_HOLD,
        SYNC_DELETIONS_PROPAGATE,
        SYNC_DELETIONS_NEVER,
} SyncDeletionsMode;
typedef enum SyncFirstSyncMode {
        SYNC_FIRST_ASK,
        SYNC_FIRST_MERGE,
        SYNC_FIRST_REPLACE_DEVICE,
        SYNC_FIRST_REPLACE_COMPUTER,
} SyncFirstSyncMode;

/* Contacts=, Calendars=, Bookmarks=, Notes=, VoiceMemos=: exported from each new backup;
 * Contacts= and Calendars= may also be two-way (with the phone through mobilesync). */
typedef enum SyncExportMode {
        SYNC_EXPORT_NO,
        SYNC_EXPORT_YES,
        SYNC_EXPORT_TWO_WAY,                    /* Contacts= and Calendars= only */
} SyncExportMode;

/* Apps=: the inventory (<library>/apps.json), the inventory and the IPAs of AppsDir=
 * installed on the phone, or nothing. */
typedef enum SyncAppsMode {
        SYNC_APPS_NO,
        SYNC_APPS_INVENTORY,
        SYNC_APPS_INSTALL,
} SyncAppsMode;

/* DocumentsApps=: at most this many bundle ids, each at most this long (Apple's limit). */
#define POLICY_DOCUMENTS_APPS_MAX 256U
#define POLICY_BUNDLE_ID_MAX 155U

typedef struct PolicySync {
        bool enabled;                   /* Enabled=: the sync stage runs after a backup */
        SyncPhotosMode photos;          /* Photos=import|no */
        char *photos_dir;               /* PhotosDir=: owned; NULL = <library>/photos */
        SyncMediaMode music;            /* Music=import|no */
        SyncMediaMode videos;           /* Videos=import|no */
        SyncMediaMode books;            /* Books=import|no */
        SyncMediaMode ringtones;        /* Ringtones=import|no */
        SyncCrashLogsMode crash_logs;   /* CrashLogs=move|copy|no */
        SyncDocumentsMode documents;    /* Documents=two-way|import|no */
        char *documents_dir;            /* DocumentsDir=: owned; NULL = <library>/documents */
        char *documents_apps;           /* DocumentsApps=: owned; the validated bundle ids,
                                         * separated by one space; NULL = every app with
                                         * File Sharing */
        SyncDeletionsMode deletions;    /* Deletions=hold|propagate|never */
        SyncFirstSyncMode first_sync;   /* FirstSync=ask|merge|replace-device|… */
        unsigned trash_days;            /* TrashDays=: days the host trash keeps a file */
        SyncExportMode contacts, calendars;     /* export|two-way|no */
        SyncExportMode bookmarks, notes, voice_memos;  /* export|no */
        SyncAppsMode apps;              /* Apps=inventory|install|no */
        char *apps_dir;                 /* AppsDir=: owned; NULL = <library>/apps-to-install */
} PolicySync;

/* The words of the modes above, as the config file, the helper protocol and the library
 * spell them ("two-way", "hold", "replace-device", …). */
const char *sync_documents_mode_to_string(SyncDocumentsMode m);
const char *sync_deletions_mode_to_string(SyncDeletionsMode m);
const char *sync_first_sync_mode_to_string(SyncFirstSyncMode m);
const char *sync_apps_mode_to_string(SyncAppsMode m);
/* The exports the policy turns on, as the helper protocol spells them: names separated by
 * one space ("contacts calendars voice-memos"; a two-way one as "contacts=two-way"), into
 * buf. */
void sync_exports_to_string(const PolicySync *s, char *buf, size_t n);

/* Whether s is a bundle id DocumentsApps= accepts: 1..POLICY_BUNDLE_ID_MAX characters of
 * [A-Za-z0-9.-], no leading, trailing or doubled '.'. */
bool bundle_id_is_valid(const char *s);

/* [Store]: where snapshots live. */
typedef struct PolicyStore {
        char *backup_dir;               /* BackupDir=: owned; NULL = the state directory;
                                         * main file only */
} PolicyStore;

/* [Restore]: what a restore onto this device carries (sync-protocols.md §9: the options
 * the working open restores on iOS 17/18 use). */
typedef struct PolicyRestore {
        bool system_files;              /* SystemFiles=: RestoreSystemFiles */
        bool settings;                  /* Settings=: RestorePreserveSettings = !settings */
        bool remove_items;              /* RemoveItemsNotRestored=: so that iOS migrates and
                                         * re-downloads the apps (pymobiledevice3#1053) */
        bool app_list;                  /* AppList=: RestoreApplications.plist */
} PolicyRestore;

typedef struct Policy {
        PolicyBackup backup;
        PolicySync sync;
        PolicyStore store;
        PolicyRestore restore;
} Policy;

/* Where the files are looked up; every pointer is borrowed and must not be NULL. */
typedef struct PolicyDirs {
        const char *config_dir;         /* idevicesync.conf, idevicesync.conf.d/, devices.d/ */
        const char *runtime_dir;        /* idevicesync.conf.d/ */
        const char *vendor_dir;         /* idevicesync.conf.d/ */
} PolicyDirs;

/* The parser's log hook (see ConfLogFunc in conf-parser.h). */
typedef ConfLogFunc PolicyLogFunc;

static inline void policy_set_log_func(PolicyLogFunc func, void *userdata) {
        conf_set_log_func(func, userdata);
}

/* Fill p with the compiled-in defaults. p is treated as uninitialized: nothing is freed. */
void policy_init_defaults(Policy *p);

/* Free what p owns and leave it at the defaults. Accepts NULL. */
void policy_done(Policy *p);

/* Deep copy of src into *ret (uninitialized on entry, set only on success). 0 or -ENOMEM. */
int policy_copy(const Policy *src, Policy *ret);

/*
 * Apply one file to p. main_file is true for idevicesync.conf and its drop-ins, false for
 * devices.d files (main-file-only keys are then reported and ignored). Same returns as
 * conf_parse_file(): 0, -ENOENT (silently; p unchanged) or the reported read error.
 */
int policy_parse_file(const char *path, bool main_file, Policy *p);

/* ---- a loaded configuration ------------------------------------------------------------- */

/* The base policy (main file + drop-ins) and the devices.d listing of one load. Immutable
 * once loaded; a NULL ConfigSet stands for "nothing loaded": the defaults, no devices. */
typedef struct ConfigSet ConfigSet;


/*
 * Load the configuration from dirs: defaults, the main file, the drop-ins (each parsed
 * once) and the list of devices.d files. On success *ret is a new ConfigSet (free with
 * config_set_free()); on failure *ret is untouched, so the caller keeps the one it had.
 * Returns 0, -EINVAL (dirs incomplete), -E2BIG (more than POLICY_DROPINS_MAX drop-ins),
 * -ENOMEM, or the error of the first file or directory that exists but cannot be read
 * (already reported with its path). A devices.d directory that cannot be listed does not
 * fail the load (it is reported once; config_policy_for_device() then fails with its
 * error, so every device keeps the policy it had).
 */
int config_load_from(const PolicyDirs *dirs, ConfigSet **ret);

/*
 * config_load_from() with the directories of the environment, resolved here and nowhere
 * else:
 *   config:  $CONFIGURATION_DIRECTORY (its first entry when ':'-separated), else /etc/idevicesync
 *   runtime: $IDEVICESYNC_RUNTIME_CONFIG_DIR, else $RUNTIME_DIRECTORY, else /run/idevicesync
 *   vendor:  $IDEVICESYNC_VENDOR_CONFIG_DIR, else /usr/lib/idevicesync
 * Same returns as config_load_from(), plus -ENAMETOOLONG for an absurd environment.
 */
int config_load(ConfigSet **ret);

/* Free c and everything it owns. Accepts NULL; returns NULL. */
ConfigSet *config_set_free(ConfigSet *c);
static inline void config_set_freep(ConfigSet **c) {
        config_set_free(*c);
}

/* The base policy: main file and drop-ins, no devices.d (the compiled-in defaults when c
 * is NULL). Borrowed from c. */
const Policy *config_base(const ConfigSet *c);

/*
 * The policy of the device udid: a copy of the base with the devices.d file whose name,
 * minus ".conf", equals udid ignoring ASCII case applied on top (bad lines of that file are
 * reported as it is applied). *ret is uninitialized on entry and set only on success (free
 * with policy_done()). Returns 0 (also when there is no such file), -EINVAL (udid is not
 * 1..64 of [0-9A-Fa-f-]), -ENOMEM, or the error of the devices.d directory or of the file
 * when it exists but cannot be read (already reported with its path).
 */
int config_policy_for_device(const ConfigSet *c, const char *udid, Policy *ret);

/* The devices.d directory of c's configuration directory ("/etc/idevicesync/devices.d"
 * for a NULL c). Borrowed. */
const char *config_devices_dir(const ConfigSet *c);

/* The UDIDs that have a devices.d file, each once, in the form usbmuxd reports (dashed
 * UDIDs in upper case, others in lower case), sorted. A NULL-terminated array borrowed from
 * c (empty for a NULL c). */
const char *const *config_device_udids(const ConfigSet *c);

/* ---- one-shot loads --------------------------------------------------------------------- */

/*
 * Build one policy from dirs: config_load_from(), then the base (udid NULL) or
 * config_policy_for_device(). *p must be an initialized Policy; on success its old
 * contents are freed and replaced, on failure it is untouched. Returns 0 or the errors of
 * those two functions. For tools and tests: the daemon keeps a ConfigSet instead, so that a
 * reload parses the main file once, not once per device.
 */
int policy_load_from(const PolicyDirs *dirs, const char *udid, Policy *p);

/* policy_load_from() with the directories of the environment (see config_load()). */
int policy_load(const char *udid, Policy *p);

/* Whether minute_of_day (taken modulo 1440) lies in the policy's window (always true when
 * TimeWindow= is unset). */
bool policy_time_window_contains(const Policy *p, unsigned minute_of_day);

/* Minutes from minute_of_day until the window next opens: 0 when inside it. */
unsigned policy_time_window_wait(const Policy *p, unsigned minute_of_day);

/* The free-space floor in bytes for a file system of total_bytes (percent rounded down). */
uint64_t policy_min_free_bytes(const Policy *p, uint64_t total_bytes);
