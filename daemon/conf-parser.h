/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conf-parser: the generic engine behind idevicesync.conf and devices.d (STYLE.md §8). It
 * knows files, lines, sections, key tables and value types, and nothing about what the
 * keys mean: config.c owns the tables and the Policy they fill.
 *
 * A file is read whole, within CONF_FILE_MAX bytes, before anything is applied, so a read
 * error never leaves a half-applied file. A ConfigTable lists the sections a file may
 * have; each section lists its keys (key → parse function → offset of the field). A bad
 * line is reported once through the log hook as "file:line: …, ignoring", the key keeps
 * its earlier value and parsing goes on; only a file that exists but cannot be read fails.
 *
 * Not thread-safe (the log hook is process-wide); the daemon calls it from its event loop.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;

#define CONF_LINE_MAX 4096U             /* bytes per line, without the newline */
#define CONF_FILE_MAX (1024U * 1024U)   /* bytes per file */
#define CONF_DIR_MAX 1024U              /* *.conf files gathered from directories */

/* A size given either as a percentage of a file system or in bytes. */
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

/* A daily window: local wall-clock minutes since midnight. start > end wraps midnight. */
typedef struct TimeWindow {
        bool enabled;                   /* false: any time */
        uint16_t start;                 /* 0..1439 */
        uint16_t end;                   /* 0..1440, != start */
} TimeWindow;

/* ---- messages ------------------------------------------------------------------------- */

/* Receives every message of the parser: level is a syslog priority (LOG_ERR for a file
 * that cannot be read, LOG_WARNING for an ignored line, LOG_DEBUG for notes), file is the
 * path, line is 1-based or 0 when the message concerns the whole file, message carries no
 * "file:line: " prefix and no newline. All pointers are borrowed for the call only. */
typedef void (*ConfLogFunc)(int level, const char *file, unsigned line, const char *message,
                            void *userdata);

/* Route the messages to func (NULL restores the default: "<N>file:line: message" lines on
 * stderr for every level but LOG_DEBUG). userdata is borrowed. */
void conf_set_log_func(ConfLogFunc func, void *userdata);

/* Send one message through the hook (users of the engine report their own findings about
 * files, e.g. config.c about devices.d, the same way). line 0: about the whole file. */
void conf_log(int level, const char *file, unsigned line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- key tables ----------------------------------------------------------------------- */

typedef struct ConfigTableItem ConfigTableItem;

/* Parse value into field (the item's field inside the target). 0 on success; -EINVAL
 * (reported as "Failed to parse"), -ERANGE ("out of range"), -EOPNOTSUPP (a known value
 * that cannot be done: the item's refused text says why; the parser may record the ask in
 * a flag of the field, its value stays) or -ENOMEM, field untouched. */
typedef int (*ConfigParseFunc)(const ConfigTableItem *item, const char *value, void *field);

struct ConfigTableItem {
        const char *key;
        ConfigParseFunc parse;
        size_t offset;                  /* of the field in its section's struct */
        size_t size;                    /* bytes an empty value resets; 0: parse() handles it */
        uint64_t min, max;              /* range, for config_parse_unsigned() */
        bool main_only;                 /* only in the main file and its drop-ins */
        const char *expect;             /* what a valid value looks like, for messages */
        /* Why parse()'s -EOPNOTSUPP values cannot be done (a direction iOS does not allow an
         * open host, e.g. Photos=to-device): the warning says it, the default stays. */
        const char *refused;
};

typedef struct ConfigSection {
        const char *name;
        const ConfigTableItem *items;
        size_t n_items;
        size_t offset;                  /* of the section's struct in the target */
        bool reserved;                  /* keys of a later version: unknown keys are noted at
                                         * debug level instead of warned about */
} ConfigSection;

typedef struct ConfigTable {
        const ConfigSection *sections;
        size_t n_sections;
        const void *defaults;           /* a target holding the defaults (empty values) */
        const char *main_file;          /* name used in "only allowed in …" messages */
} ConfigTable;

/* Table entry helpers: field of section struct type S. */
#define CONFIG_ITEM(S, k, fn, field, lo, hi, what)                                            \
        { .key = k, .parse = fn, .offset = offsetof(S, field),                                \
          .size = sizeof(((S *) NULL)->field), .min = lo, .max = hi, .expect = what }

/* Parse functions for tables. config_parse_unsigned() honours item->min/max and accepts a
 * trailing '%' when max is 100; config_parse_path() takes an absolute path (normalized,
 * no "." or ".." components, owned char* field, empty resets to NULL: use size 0). */
int config_parse_bool(const ConfigTableItem *item, const char *value, void *field);
int config_parse_unsigned(const ConfigTableItem *item, const char *value, void *field);
int config_parse_timespan(const ConfigTableItem *item, const char *value, void *field);
int config_parse_time_window(const ConfigTableItem *item, const char *value, void *field);
int config_parse_space(const ConfigTableItem *item, const char *value, void *field);
int config_parse_path(const ConfigTableItem *item, const char *value, void *field);

/* ---- files ---------------------------------------------------------------------------- */

/*
 * Apply one file to target (a struct the table describes). main_file is false for files
 * that may not set main_only keys (those are reported and ignored). A regular file or a
 * symlink to /dev/null (which applies nothing: the way to mask a drop-in) is accepted.
 * Bad lines are reported and skipped; they never fail the call.
 * Returns 0 when the file was applied, -ENOENT when it does not exist (silently; target is
 * unchanged), or another negative errno when it exists but cannot be read: -EACCES,
 * -EISDIR, -EINVAL (not a regular file), -EFBIG (over CONF_FILE_MAX), -ENOMEM, -EIO…;
 * that error is reported once at LOG_ERR and target is unchanged.
 */
int conf_parse_file(const ConfigTable *table, const char *path, bool main_file, void *target);

/*
 * The *.conf names in dir (no hidden names, no control characters), sorted with strcmp().
 * *ret is a NULL-terminated array of owned strings (free with conf_strv_free()).
 * Returns 0 (a missing directory, ENOENT or ENOTDIR, is an empty list), -E2BIG above
 * CONF_DIR_MAX names, -ENOMEM, or the error of opening or reading the directory; errors
 * other than -ENOMEM are reported once at LOG_ERR with the directory's path.
 */
int conf_list_dir(const char *dir, char ***ret);

/*
 * Apply main (when not NULL) and then the drop-ins: the *.conf files of the directories
 * dropin_dirs[0..n_dirs), in the order of their names across all directories; a name in
 * an earlier directory masks the same name in a later one. Missing files and directories
 * are fine. On success target holds the result; on failure it may be partly applied (pass
 * a scratch copy). Returns 0, -E2BIG (over CONF_DIR_MAX drop-ins), -ENOMEM or the error of
 * the first file or directory that exists but cannot be read (already reported).
 */
int conf_parse_with_dropins(const ConfigTable *table, const char *main,
                            const char *const *dropin_dirs, size_t n_dirs, void *target);

/* "dir/name" in a new string (owned by the caller), or NULL when out of memory. */
char *conf_path_join(const char *dir, const char *name);

/* Free a NULL-terminated array of strings. Accepts NULL; returns NULL. */
char **conf_strv_free(char **l);

/* ---- values --------------------------------------------------------------------------- */

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
