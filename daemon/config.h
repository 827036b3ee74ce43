/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config: the daemon's configuration and the per-device backup policy (STYLE.md §8,
 * idevicesync.conf(5)).
 *
 * A Policy is what the daemon needs to decide whether, when and how to back a device up.
 * It is built from compiled-in defaults, then /etc/idevicesync/idevicesync.conf, then the
 * drop-ins idevicesync.conf.d/ (*.conf from /etc, /run and /usr/lib, sorted by file name
 * across the three directories; a name in an earlier directory masks the same name in a
 * later one), then devices.d/<UDID>.conf; a later assignment wins. The parser is table
 * driven (key → parse function → field offset). Bad input never fails a load: a bad line
 * is logged as "file:line: …, ignoring", the key keeps its earlier value and parsing goes
 * on. Only a file that exists but cannot be read (EACCES, EISDIR, EFBIG, EIO…) fails the
 * load, so the caller can keep the policy it had.
 *
 * Not thread-safe (the log hook is process-wide); the daemon calls it from its event loop.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

typedef uint64_t usec_t;

#define POLICY_LINE_MAX 4096U           /* bytes per line, without the newline */
#define POLICY_FILE_MAX (1024U * 1024U) /* bytes per file */
#define POLICY_DROPINS_MAX 1024U        /* drop-in files across all directories */

#define POLICY_CONFIG_DIR "/etc/idevicesync"
#define POLICY_RUNTIME_DIR "/run/idevicesync"
#define POLICY_VENDOR_DIR "/usr/lib/idevicesync"

/* MinFreeSpace= is either a percentage of the backup file system or an absolute size. */
typedef enum SpaceKind {
        SPACE_PERCENT,
        SPACE_BYTES,
        _SPACE_KIND_MAX,
        _SPACE_KIND_INVALID = -EINVAL,
} SpaceKind;

typedef struct SpaceLimit {
        SpaceKind kind;
        uint64_t value;                 /* percent 0..100, or bytes */
} SpaceLimit;

/* TimeWindow=: local wall-clock minutes since midnight. start > end wraps midnight. */
typedef struct TimeWindow {
        bool enabled;                   /* false: any time */
        uint16_t start;                 /* 0..1439 */
        uint16_t end;                   /* 0..1440, != start */
} TimeWindow;

typedef struct Policy {
        /* [Backup] */
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
        /* [Store] */
        char *backup_dir;               /* BackupDir=: owned; NULL = the state directory */
} Policy;

/* Where the files are looked up; every pointer is borrowed and must not be NULL. */
typedef struct PolicyDirs {
        const char *config_dir;         /* idevicesync.conf, idevicesync.conf.d/, devices.d/ */
        const char *runtime_dir;        /* idevicesync.conf.d/ */
        const char *vendor_dir;         /* idevicesync.conf.d/ */
} PolicyDirs;

/* Receives every message of the parser: level is a syslog priority (LOG_ERR for a file
 * that cannot be read, LOG_WARNING for an ignored line, LOG_DEBUG for notes), file is the
 * path, line is 1-based or 0 when the message concerns the whole file, message carries no
 * "file:line: " prefix and no newline. All pointers are borrowed for the call only. */
typedef void (*PolicyLogFunc)(int level, const char *file, unsigned line, const char *message,
                              void *userdata);

/* Route the parser's messages to func (NULL restores the default: "<N>file:line: message"
 * lines on stderr for every level but LOG_DEBUG). userdata is borrowed. */
void policy_set_log_func(PolicyLogFunc func, void *userdata);

/* Fill p with the compiled-in defaults. p is treated as uninitialized: nothing is freed. */
void policy_init_defaults(Policy *p);

/* Free what p owns and leave it at the defaults. Accepts NULL. */
void policy_done(Policy *p);

/* Deep copy of src into *ret (uninitialized on entry, set only on success). 0 or -ENOMEM. */
int policy_copy(const Policy *src, Policy *ret);

/*
 * Apply one file to p. main_file is true for idevicesync.conf and its drop-ins, false for
 * devices.d files (main-file-only keys are then reported and ignored). A regular file or a
 * symlink to /dev/null (which applies nothing: the way to mask a drop-in) is accepted.
 * Bad lines are logged and skipped; they never fail the call.
 * Returns 0 when the file was applied, -ENOENT when it does not exist (silently; p is
 * unchanged), or another negative errno when it exists but cannot be read: -EACCES,
 * -EISDIR, -EINVAL (not a regular file), -EFBIG (over POLICY_FILE_MAX), -ENOMEM, -EIO…;
 * that error is logged once at LOG_ERR and p is unchanged.
 */
int policy_parse_file(const char *path, bool main_file, Policy *p);

/*
 * Build the complete policy from dirs: defaults, the main file, the drop-ins, then, when
 * udid is not NULL, devices.d/<udid>.conf. *p must be an initialized Policy (defaults or
 * an earlier load); on success its old contents are freed and replaced, on failure it is
 * untouched, so the caller keeps the policy it had. Missing files and directories are
 * fine. Returns 0, -EINVAL (udid is not 1..64 of [0-9A-Fa-f-]), -E2BIG (more than
 * POLICY_DROPINS_MAX drop-ins), or the error of the first file or directory that exists
 * but cannot be read (already logged with its path; the caller need not log it again).
 */
int policy_load_from(const PolicyDirs *dirs, const char *udid, Policy *p);

/* The first half of policy_load_from(): defaults, the main file and the drop-ins, parsed
 * once per load however many devices there are (each bad line is reported once). Same
 * returns and contract for *p. */
int policy_load_base(const PolicyDirs *dirs, Policy *p);

/* The second half: a copy of base with devices.d's file of udid (matched ignoring letter
 * case) applied. On success *p is replaced; on failure it is untouched. 0, -EINVAL, -ENOMEM
 * or the error of a devices.d file that exists but cannot be read (logged). */
int policy_apply_device(const PolicyDirs *dirs, const Policy *base, const char *udid,
                        Policy *p);

/* The directories of the environment (see policy_load()), resolved once: config_dir (n
 * bytes) receives the configuration directory, ret's pointers are borrowed from it and the
 * environment. 0 or -ENAMETOOLONG. */
int policy_dirs_from_env(PolicyDirs *ret, char *config_dir, size_t n);

/*
 * policy_load_from() with the directories of the environment:
 *   config:  $CONFIGURATION_DIRECTORY (its first entry when ':'-separated), else /etc/idevicesync
 *   runtime: $IDEVICESYNC_RUNTIME_CONFIG_DIR, else $RUNTIME_DIRECTORY, else /run/idevicesync
 *   vendor:  $IDEVICESYNC_VENDOR_CONFIG_DIR, else /usr/lib/idevicesync
 * Same returns as policy_load_from(), plus -ENAMETOOLONG for an absurd environment.
 */
int policy_load(const char *udid, Policy *p);

/* Parse a yes/no/true/false/1/0/on/off (any case). Returns 1, 0 or -EINVAL. */
int parse_boolean(const char *s);

/* Parse a time span: integers with units, e.g. "0", "30" (seconds), "30s", "5min", "12h",
 * "2d", "1w", "1h30min", "1h 30min", "250ms". 0 and *ret set; -EINVAL for garbage, a sign,
 * a fraction or a missing unit inside a combination; -ERANGE when it overflows 64 bits. */
int parse_timespan(const char *s, usec_t *ret);

/* Parse "5%" (0..100) or a size "123", "20G" (K, M, G, T: powers of 1024). 0 and *ret set;
 * -EINVAL for garbage; -ERANGE above 100 % or 64 bits. */
int parse_size_or_percent(const char *s, SpaceLimit *ret);

/* Parse "HH:MM-HH:MM" (spaces around '-' allowed; end may be 24:00; start != end).
 * 0 and *ret set (enabled); -EINVAL for garbage or an empty window; -ERANGE for an hour
 * or minute out of range. */
int parse_time_window(const char *s, TimeWindow *ret);

/* Whether minute_of_day (taken modulo 1440) lies in the policy's window (always true when
 * TimeWindow= is unset). */
bool policy_time_window_contains(const Policy *p, unsigned minute_of_day);

/* Minutes from minute_of_day until the window next opens: 0 when inside it. */
unsigned policy_time_window_wait(const Policy *p, unsigned minute_of_day);

/* The free-space floor in bytes for a file system of total_bytes (percent rounded down). */
uint64_t policy_min_free_bytes(const Policy *p, uint64_t total_bytes);
