/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config: loads idevicesync.conf, its drop-ins and the devices.d policy files into a
 * Policy (see config.h for the rules, idevicesync.conf(5) for the user's view).
 *
 * Why it looks like this: configuration is written by people, so a typo must cost one
 * line, never the daemon or the rest of the file (every bad line is logged with its
 * file:line and skipped; each key keeps its earlier value). A file is read whole, within a
 * size bound, before anything is applied, so a read error never leaves a half-applied
 * file. Keys live in one table (section, key, parse function, field offset), which keeps
 * the parser, the defaults reset by an empty value, and the man page in step.
 */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "udid.h"
#include "util.h"

#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)
#define USEC_PER_WEEK (7ULL * USEC_PER_DAY)
#define MINUTES_PER_DAY 1440U

#define MAIN_FILE "idevicesync.conf"
#define DROPIN_DIR "idevicesync.conf.d"
#define DEVICES_DIR "devices.d"
#define ECHO_MAX 64U                    /* bytes of an untrusted value quoted in a message */
#define ECHO_BUF (ECHO_MAX * 4 + 4)     /* every byte may become \xNN, plus "..." and NUL */

static void *mfree_ptr(void *p) {
        free(p);
        return NULL;
}

/* ---- logging ------------------------------------------------------------------------- */

static PolicyLogFunc log_func;
static void *log_userdata;

void policy_set_log_func(PolicyLogFunc func, void *userdata) {
        log_func = func;
        log_userdata = userdata;
}

/* Without a journal the daemon logs to stderr with a <N> priority prefix (STYLE.md). */
static void log_default(int level, const char *file, unsigned line, const char *message) {
        if (level >= LOG_DEBUG)
                return;
        if (line > 0)
                fprintf(stderr, "<%d>%s:%u: %s\n", level, file, line, message);
        else
                fprintf(stderr, "<%d>%s: %s\n", level, file, message);
}

__attribute__((format(printf, 4, 5)))
static void log_at(int level, const char *file, unsigned line, const char *fmt, ...) {
        char message[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);

        if (log_func)
                log_func(level, file, line, message, log_userdata);
        else
                log_default(level, file, line, message);
}

/* Quote an untrusted string for a log line: control bytes, quotes and backslashes become
 * \xNN, and anything past ECHO_MAX bytes is cut with "...". Returns buf. */
static const char *echo(const char *s, char buf[static ECHO_BUF]) {
        size_t o = 0;

        for (size_t i = 0; s[i]; i++) {
                unsigned char c = (unsigned char) s[i];

                if (i >= ECHO_MAX) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\')
                        o += (size_t) snprintf(buf + o, ECHO_BUF - o, "\\x%02x", c);
                else
                        buf[o++] = (char) c;
        }
        buf[o] = '\0';
        return buf;
}

/* ---- value parsers ----------------------------------------------------------------- */

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const char *skip_space(const char *s) {
        while (is_space(*s))
                s++;
        return s;
}

/* Decimal digits at *p (no sign, no space) into *ret; *p moves past them. */
static int parse_digits(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *p = s;
        *ret = v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

static const struct {
        const char *unit;
        usec_t usec;
} time_units[] = {
        { "us", 1 },
        { "usec", 1 },
        { "ms", USEC_PER_MSEC },
        { "msec", USEC_PER_MSEC },
        { "s", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "seconds", USEC_PER_SEC },
        { "m", USEC_PER_MINUTE },
        { "min", USEC_PER_MINUTE },
        { "minute", USEC_PER_MINUTE },
        { "minutes", USEC_PER_MINUTE },
        { "h", USEC_PER_HOUR },
        { "hr", USEC_PER_HOUR },
        { "hour", USEC_PER_HOUR },
        { "hours", USEC_PER_HOUR },
        { "d", USEC_PER_DAY },
        { "day", USEC_PER_DAY },
        { "days", USEC_PER_DAY },
        { "w", USEC_PER_WEEK },
        { "week", USEC_PER_WEEK },
        { "weeks", USEC_PER_WEEK },
};

int parse_timespan(const char *s, usec_t *ret) {
        usec_t total = 0;
        unsigned parts = 0;
        bool unitless = false;

        if (!s || !ret)
                return -EINVAL;

        s = skip_space(s);
        if (*s == '\0')
                return -EINVAL;

        while (*s) {
                const char *unit;
                usec_t mult = 0;
                uint64_t v;
                size_t len;
                int r;

                r = parse_digits(&s, &v);
                if (r < 0)
                        return r;
                s = skip_space(s);
                for (unit = s; is_alpha(*s); s++)
                        ;
                len = (size_t) (s - unit);
                if (len == 0) {
                        mult = USEC_PER_SEC;    /* a bare number means seconds */
                        unitless = true;
                } else
                        for (size_t i = 0; i < ELEMENTSOF(time_units); i++)
                                if (strlen(time_units[i].unit) == len &&
                                    memcmp(time_units[i].unit, unit, len) == 0) {
                                        mult = time_units[i].usec;
                                        break;
                                }
                if (mult == 0)
                        return -EINVAL;
                if (v > UINT64_MAX / mult)
                        return -ERANGE;
                v *= mult;
                if (total > UINT64_MAX - v)
                        return -ERANGE;
                total += v;
                parts++;
                s = skip_space(s);
        }

        /* "1h 30" is more likely a typo than 1 h 30 s: only a lone number may omit its unit. */
        if (unitless && parts > 1)
                return -EINVAL;

        *ret = total;
        return 0;
}

int parse_size_or_percent(const char *s, SpaceLimit *ret) {
        unsigned shift;
        uint64_t v;
        int r;

        if (!s || !ret)
                return -EINVAL;

        r = parse_digits(&s, &v);
        if (r < 0)
                return r;

        if (s[0] == '%' && s[1] == '\0') {
                if (v > 100)
                        return -ERANGE;
                *ret = (SpaceLimit) { .kind = SPACE_PERCENT, .value = v };
                return 0;
        }

        switch (s[0]) {
        case '\0': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: return -EINVAL;
        }
        if (shift > 0 && s[1] != '\0')
                return -EINVAL;
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;

        *ret = (SpaceLimit) { .kind = SPACE_BYTES, .value = v << shift };
        return 0;
}

/* "H:MM" or "HH:MM" at *p into minutes since midnight; 24:00 only when allow_24. */
static int parse_clock(const char **p, bool allow_24, uint16_t *ret) {
        const char *s = *p;
        unsigned h, m;

        if (!is_digit(s[0]))
                return -EINVAL;
        h = (unsigned) (*s++ - '0');
        if (is_digit(*s))
                h = h * 10 + (unsigned) (*s++ - '0');
        if (*s++ != ':')
                return -EINVAL;
        if (!is_digit(s[0]) || !is_digit(s[1]))
                return -EINVAL;
        m = (unsigned) (s[0] - '0') * 10 + (unsigned) (s[1] - '0');
        s += 2;
        if (is_digit(*s))
                return -EINVAL;
        if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
                return -ERANGE;

        *p = s;
        *ret = (uint16_t) (h * 60 + m);
        return 0;
}

int parse_time_window(const char *s, TimeWindow *ret) {
        uint16_t start, end;
        int r;

        if (!s || !ret)
                return -EINVAL;

        s = skip_space(s);
        r = parse_clock(&s, false, &start);
        if (r < 0)
                return r;
        s = skip_space(s);
        if (*s++ != '-')
                return -EINVAL;
        s = skip_space(s);
        r = parse_clock(&s, true, &end);
        if (r < 0)
                return r;
        s = skip_space(s);
        if (*s != '\0')
                return -EINVAL;
        if (start == end)               /* empty, or a whole day spelled ambiguously */
                return -EINVAL;

        *ret = (TimeWindow) { .enabled = true, .start = start, .end = end };
        return 0;
}

/* ---- the key table --------------------------------------------------------------------- */

typedef struct ConfigItem ConfigItem;
typedef int (*ConfigParseFunc)(const ConfigItem *item, const char *value, void *field);

struct ConfigItem {
        const char *section;
        const char *key;
        ConfigParseFunc parse;
        size_t offset;                  /* of the field in Policy */
        size_t size;                    /* bytes an empty value resets; 0: parse() handles it */
        uint64_t min, max;              /* range, for numbers */
        bool main_only;                 /* only in idevicesync.conf and its drop-ins */
        const char *expect;             /* what a valid value looks like, for messages */
};

static int config_parse_bool(const ConfigItem *item, const char *value, void *field) {
        int r;

        r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) field = r;
        return 0;
}

/* Unsigned within [min, max]; a trailing '%' is accepted when max is 100. */
static int config_parse_unsigned(const ConfigItem *item, const char *value, void *field) {
        uint64_t v;
        int r;

        r = parse_digits(&value, &v);
        if (r < 0)
                return r;
        if (item->max == 100 && value[0] == '%')
                value++;
        if (*value != '\0')
                return -EINVAL;
        if (v < item->min || v > item->max)
                return -ERANGE;
        *(unsigned *) field = (unsigned) v;
        return 0;
}

static int config_parse_timespan(const ConfigItem *item, const char *value, void *field) {
        usec_t v;
        int r;

        r = parse_timespan(value, &v);
        if (r < 0)
                return r;
        *(usec_t *) field = v;
        return 0;
}

static int config_parse_time_window(const ConfigItem *item, const char *value, void *field) {
        TimeWindow w;
        int r;

        r = parse_time_window(value, &w);
        if (r < 0)
                return r;
        *(TimeWindow *) field = w;
        return 0;
}

static int config_parse_space(const ConfigItem *item, const char *value, void *field) {
        SpaceLimit l;
        int r;

        r = parse_size_or_percent(value, &l);
        if (r < 0)
                return r;
        *(SpaceLimit *) field = l;
        return 0;
}

/* An absolute directory path, normalized (no "//", no trailing '/'); "." and ".."
 * components and control characters are refused. Empty resets to NULL (the default). */
static int config_parse_path(const ConfigItem *item, const char *value, void *field) {
        char **dst = field;
        _cleanup_(freep) char *norm = NULL;
        size_t len = strlen(value), o = 0;

        if (len == 0) {
                *dst = mfree_ptr(*dst);
                return 0;
        }
        if (value[0] != '/')
                return -EINVAL;
        if (len >= PATH_MAX)
                return -ERANGE;

        norm = malloc(len + 1);
        if (!norm)
                return -ENOMEM;
        for (const char *s = value; *s;) {
                size_t n;

                while (*s == '/')
                        s++;
                n = strcspn(s, "/");
                if (n == 0)
                        break;
                if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                        return -EINVAL;
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                                return -EINVAL;
                norm[o++] = '/';
                memcpy(norm + o, s, n);
                o += n;
                s += n;
        }
        if (o == 0)
                norm[o++] = '/';
        norm[o] = '\0';

        free(*dst);
        *dst = TAKE_PTR(norm);
        return 0;
}

#define ITEM(sec, k, fn, field, lo, hi, what)                                                 \
        { .section = sec, .key = k, .parse = fn, .offset = offsetof(Policy, field),           \
          .size = sizeof(((Policy *) NULL)->field), .min = lo, .max = hi, .expect = what }

static const ConfigItem config_items[] = {
        ITEM("Backup", "AutoRun", config_parse_bool, auto_run, 0, 0, "a boolean"),
        ITEM("Backup", "MinInterval", config_parse_timespan, min_interval, 0, 0,
             "a time span such as 0, 30min, 12h or 1h30min"),
        ITEM("Backup", "TimeWindow", config_parse_time_window, time_window, 0, 0,
             "HH:MM-HH:MM with different start and end, or empty"),
        ITEM("Backup", "MinBattery", config_parse_unsigned, min_battery, 0, 100,
             "a percentage from 0 to 100"),
        ITEM("Backup", "RequireCharging", config_parse_bool, require_charging, 0, 0, "a boolean"),
        ITEM("Backup", "RequireEncryption", config_parse_bool, require_encryption, 0, 0,
             "a boolean"),
        ITEM("Backup", "Keep", config_parse_unsigned, keep, 0, UINT_MAX,
             "a number of snapshots, 0 for no limit"),
        ITEM("Backup", "KeepDays", config_parse_unsigned, keep_days, 0, 36500,
             "a number of days from 0 to 36500"),
        ITEM("Backup", "MinFreeSpace", config_parse_space, min_free_space, 0, 0,
             "a percentage such as 5% or a size such as 20G"),
        ITEM("Backup", "PasscodeWait", config_parse_timespan, passcode_wait, 0, 0,
             "a time span such as 5min"),
        { .section = "Store", .key = "BackupDir", .parse = config_parse_path,
          .offset = offsetof(Policy, backup_dir), .size = 0, .main_only = true,
          .expect = "an absolute path without . or .. components" },
};

/* Sections whose keys belong to a later version: accepted, noted at debug level, ignored. */
static const char *const reserved_sections[] = { "Sync" };

static bool section_is_known(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                if (strcmp(config_items[i].section, name) == 0)
                        return true;
        return false;
}

static bool section_is_reserved(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(reserved_sections); i++)
                if (strcmp(reserved_sections[i], name) == 0)
                        return true;
        return false;
}

static const ConfigItem *config_item_find(const char *section, const char *key) {
        for (size_t i = 0; i < ELEMENTSOF(config_items); i++)
                if (strcmp(config_items[i].section, section) == 0 &&
                    strcmp(config_items[i].key, key) == 0)
                        return config_items + i;
        return NULL;
}

/* ---- Policy ------------------------------------------------------------------------------ */

void policy_init_defaults(Policy *p) {
        assert(p);

        *p = (Policy) {
                .auto_run = true,
                .min_interval = 0,
                .time_window = { .enabled = false },
                .min_battery = 0,
                .require_charging = false,
                .require_encryption = false,
                .keep = 10,
                .keep_days = 0,
                .min_free_space = { .kind = SPACE_PERCENT, .value = 5 },
                .passcode_wait = 5 * USEC_PER_MINUTE,
                .backup_dir = NULL,
        };
}

void policy_done(Policy *p) {
        if (!p)
                return;
        free(p->backup_dir);
        policy_init_defaults(p);
}

int policy_copy(const Policy *src, Policy *ret) {
        char *dir = NULL;

        assert(src);
        assert(ret);

        if (src->backup_dir) {
                dir = strdup(src->backup_dir);
                if (!dir)
                        return -ENOMEM;
        }
        *ret = *src;
        ret->backup_dir = dir;
        return 0;
}

bool policy_time_window_contains(const Policy *p, unsigned minute_of_day) {
        const TimeWindow *w = &p->time_window;
        unsigned m = minute_of_day % MINUTES_PER_DAY;

        if (!w->enabled)
                return true;
        if (w->start < w->end)
                return m >= w->start && m < w->end;
        return m >= w->start || m < w->end;     /* wraps midnight */
}

unsigned policy_time_window_wait(const Policy *p, unsigned minute_of_day) {
        unsigned m = minute_of_day % MINUTES_PER_DAY;

        if (policy_time_window_contains(p, m))
                return 0;
        return (p->time_window.start + MINUTES_PER_DAY - m) % MINUTES_PER_DAY;
}

uint64_t policy_min_free_bytes(const Policy *p, uint64_t total_bytes) {
        const SpaceLimit *l = &p->min_free_space;

        if (l->kind == SPACE_BYTES)
                return l->value;
        /* total / 100 * pct + remainder: no overflow for any 64-bit total */
        return total_bytes / 100 * l->value + total_bytes % 100 * l->value / 100;
}

/* ---- files ------------------------------------------------------------------------------ */

/* Read a whole file of at most POLICY_FILE_MAX bytes into a NUL-terminated buffer. A
 * character device that is /dev/null reads as empty (a masked drop-in). */
static int read_file_bounded(const char *path, char **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0, cap;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3)) {
                buf = strdup("");
                if (!buf)
                        return -ENOMEM;
                *ret = TAKE_PTR(buf);
                *ret_size = 0;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if (st.st_size > (off_t) POLICY_FILE_MAX)
                return -EFBIG;

        cap = (size_t) st.st_size + 1;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (size == cap) {      /* the file grew since fstat() */
                        char *nbuf;

                        if (cap > POLICY_FILE_MAX)
                                return -EFBIG;
                        cap = cap * 2 > POLICY_FILE_MAX + 1 ? POLICY_FILE_MAX + 1 : cap * 2;
                        nbuf = realloc(buf, cap);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                }
                n = read(fd, buf + size, cap - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > POLICY_FILE_MAX)
                return -EFBIG;
        if (size == cap) {
                char *nbuf = realloc(buf, size + 1);

                if (!nbuf)
                        return -ENOMEM;
                buf = nbuf;
        }
        buf[size] = '\0';

        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static char *trim(char *s) {
        char *e;

        while (is_space(*s))
                s++;
        e = s + strlen(s);
        while (e > s && is_space(e[-1]))
                *--e = '\0';
        return s;
}

/* Apply one assignment of a known section. */
static void apply_assignment(const char *path, unsigned line, const char *section,
                             const char *key, const char *value, bool main_file, Policy *p) {
        char ebuf[ECHO_BUF], vbuf[ECHO_BUF];
        const ConfigItem *item;
        void *field;
        int r;

        item = config_item_find(section, key);
        if (!item) {
                log_at(LOG_WARNING, path, line, "Unknown key '%s' in section [%s], ignoring",
                       echo(key, ebuf), section);
                return;
        }
        if (item->main_only && !main_file) {
                log_at(LOG_WARNING, path, line, "%s= is only allowed in %s, ignoring", item->key,
                       MAIN_FILE);
                return;
        }

        field = (uint8_t *) p + item->offset;
        if (value[0] == '\0' && item->size > 0) {       /* empty: back to the default */
                Policy defaults;

                policy_init_defaults(&defaults);
                memcpy(field, (const uint8_t *) &defaults + item->offset, item->size);
                return;
        }

        r = item->parse(item, value, field);
        if (r == -ERANGE)
                log_at(LOG_WARNING, path, line,
                       "%s='%s' is out of range (expected %s), ignoring", item->key,
                       echo(value, vbuf), item->expect);
        else if (r == -ENOMEM)
                log_at(LOG_WARNING, path, line, "Out of memory for %s=, ignoring", item->key);
        else if (r < 0)
                log_at(LOG_WARNING, path, line, "Failed to parse %s='%s' (expected %s), ignoring",
                       item->key, echo(value, vbuf), item->expect);
}

/* Parse a NUL-terminated buffer of size bytes (modified in place) into p. */
static void parse_buffer(const char *path, char *buf, size_t size, bool main_file, Policy *p) {
        enum { NO_SECTION, KNOWN, RESERVED, IGNORED } state = NO_SECTION;
        char ebuf[ECHO_BUF];
        const char *section = NULL;
        unsigned line_no = 0;
        size_t pos = 0;

        if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)  /* UTF-8 byte order mark */
                pos = 3;

        while (pos < size) {
                char *line = buf + pos, *nl, *eq, *key, *value;
                size_t len;

                nl = memchr(line, '\n', size - pos);
                len = nl ? (size_t) (nl - line) : size - pos;
                pos += len + (nl ? 1 : 0);
                line[len] = '\0';
                line_no++;

                if (len > POLICY_LINE_MAX) {
                        log_at(LOG_WARNING, path, line_no,
                               "Line too long (%zu bytes, at most %u), ignoring", len,
                               POLICY_LINE_MAX);
                        continue;
                }
                if (strlen(line) != len) {
                        log_at(LOG_WARNING, path, line_no, "Line contains a NUL byte, ignoring");
                        continue;
                }

                line = trim(line);
                if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
                        continue;

                if (line[0] == '[') {
                        size_t n = strlen(line);

                        if (n < 3 || line[n - 1] != ']' || strcspn(line + 1, "[] \t") != n - 2) {
                                log_at(LOG_WARNING, path, line_no,
                                       "Invalid section header '%s', ignoring", echo(line, ebuf));
                                /* what follows belongs to no section we know */
                                state = IGNORED;
                                continue;
                        }
                        line[n - 1] = '\0';
                        section = line + 1;
                        if (section_is_known(section))
                                state = KNOWN;
                        else if (section_is_reserved(section))
                                state = RESERVED;
                        else {
                                state = IGNORED;
                                if (strncmp(section, "X-", 2) == 0)
                                        log_at(LOG_DEBUG, path, line_no,
                                               "Ignoring extension section [%s]",
                                               echo(section, ebuf));
                                else
                                        log_at(LOG_WARNING, path, line_no,
                                               "Unknown section [%s], ignoring its assignments",
                                               echo(section, ebuf));
                        }
                        continue;
                }

                eq = strchr(line, '=');
                if (!eq) {
                        log_at(LOG_WARNING, path, line_no,
                               "Missing '=' in '%s', ignoring", echo(line, ebuf));
                        continue;
                }
                *eq = '\0';
                key = trim(line);
                value = trim(eq + 1);
                if (key[0] == '\0') {
                        log_at(LOG_WARNING, path, line_no, "Missing key name before '=', ignoring");
                        continue;
                }

                switch (state) {
                case NO_SECTION:
                        log_at(LOG_WARNING, path, line_no,
                               "Assignment '%s=' outside of any section, ignoring",
                               echo(key, ebuf));
                        break;
                case IGNORED:
                        break;          /* reported once at the section header */
                case RESERVED:
                        log_at(LOG_DEBUG, path, line_no,
                               "Section [%s] is reserved for a later version, ignoring %s=",
                               section, echo(key, ebuf));
                        break;
                case KNOWN:
                        apply_assignment(path, line_no, section, key, value, main_file, p);
                        break;
                }
        }
}

int policy_parse_file(const char *path, bool main_file, Policy *p) {
        _cleanup_(freep) char *buf = NULL;
        size_t size;
        int r;

        if (!path || !p)
                return -EINVAL;

        r = read_file_bounded(path, &buf, &size);
        if (r == -ENOENT) {
                log_at(LOG_DEBUG, path, 0, "Not found, skipping");
                return r;
        }
        if (r == -EFBIG) {
                log_at(LOG_ERR, path, 0, "File is larger than %u bytes, refusing", POLICY_FILE_MAX);
                return r;
        }
        if (r == -EINVAL) {
                log_at(LOG_ERR, path, 0, "Not a regular file, refusing");
                return r;
        }
        if (r < 0) {
                log_at(LOG_ERR, path, 0, "Failed to read: %s", strerror(-r));
                return r;
        }

        parse_buffer(path, buf, size, main_file, p);
        log_at(LOG_DEBUG, path, 0, "Applied");
        return 0;
}

/* ---- loading ----------------------------------------------------------------------------- */

typedef struct DropIn {
        char *name;                     /* owned */
        unsigned dir;                   /* index into the directory list */
} DropIn;

static void dropins_free(DropIn *d, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(d[i].name);
        free(d);
}

static int dropin_compare(const void *a, const void *b) {
        return strcmp(((const DropIn *) a)->name, ((const DropIn *) b)->name);
}

static bool dropin_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (name[0] == '.' || n <= strlen(".conf") || strcmp(name + n - 5, ".conf") != 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
                        return false;
        return true;
}

/* Gather the *.conf names of dir[i]/idevicesync.conf.d, first directory first; a name
 * already gathered from an earlier directory is masked. Sorted by name on return. */
static int dropins_collect(const char *const dirs[], unsigned n_dirs, DropIn **ret,
                           size_t *ret_n) {
        DropIn *list = NULL;
        size_t n = 0;
        int r = 0;

        for (unsigned d = 0; d < n_dirs; d++) {
                _cleanup_(freep) char *path = NULL;
                DIR *dir;

                if (asprintf(&path, "%s/%s", dirs[d], DROPIN_DIR) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        goto fail;
                }
                dir = opendir(path);
                if (!dir) {
                        if (errno == ENOENT || errno == ENOTDIR)
                                continue;
                        r = -errno;
                        log_at(LOG_ERR, path, 0, "Failed to open directory: %s", strerror(-r));
                        goto fail;
                }
                for (;;) {
                        struct dirent *de;
                        bool masked = false;

                        errno = 0;
                        de = readdir(dir);
                        if (!de) {
                                r = -errno;
                                break;
                        }
                        if (!dropin_name_is_valid(de->d_name))
                                continue;
                        for (size_t i = 0; i < n; i++)
                                if (strcmp(list[i].name, de->d_name) == 0) {
                                        masked = true;
                                        break;
                                }
                        if (masked) {
                                log_at(LOG_DEBUG, path, 0, "%s is masked by a directory earlier "
                                       "in the search order", de->d_name);
                                continue;
                        }
                        if (n >= POLICY_DROPINS_MAX) {
                                r = -E2BIG;
                                log_at(LOG_ERR, path, 0, "More than %u drop-in files, refusing",
                                       POLICY_DROPINS_MAX);
                                break;
                        }
                        if (n % 16 == 0) {
                                DropIn *nlist = realloc(list, (n + 16) * sizeof(*list));

                                if (!nlist) {
                                        r = -ENOMEM;
                                        break;
                                }
                                list = nlist;
                        }
                        list[n].name = strdup(de->d_name);
                        if (!list[n].name) {
                                r = -ENOMEM;
                                break;
                        }
                        list[n++].dir = d;
                }
                (void) closedir(dir);
                if (r < 0) {
                        if (r != -E2BIG)
                                log_at(LOG_ERR, path, 0, "Failed to read directory: %s",
                                       strerror(-r));
                        goto fail;
                }
        }

        if (n > 0)
                qsort(list, n, sizeof(*list), dropin_compare);
        *ret = list;
        *ret_n = n;
        return 0;

fail:
        dropins_free(list, n);
        return r;
}

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The devices.d file of udid: the one named <UDID>.conf with the UDID in any letter case
 * (administrators type them in lower case, usbmuxd reports upper case). When several
 * names differ only in case, the last by name (strcmp) wins and a warning names each
 * one passed over. *ret: the path, or NULL when the device has no file. 0 or -errno. */
static int device_file_find(const char *config_dir, const char *udid, char **ret) {
        _cleanup_(freep) char *dir_path = NULL;
        char **names = NULL;
        size_t n = 0;
        struct dirent *de;
        DIR *dir;
        int r = 0;

        *ret = NULL;
        if (asprintf(&dir_path, "%s/%s", config_dir, DEVICES_DIR) < 0) {
                dir_path = NULL;
                return -ENOMEM;
        }
        dir = opendir(dir_path);
        if (!dir)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        while ((de = readdir(dir))) {
                size_t l = strlen(de->d_name), u = strlen(udid);
                char **a;

                if (l != u + 5 || strcmp(de->d_name + u, ".conf") != 0 ||
                    strncasecmp(de->d_name, udid, u) != 0)
                        continue;
                a = realloc(names, (n + 1) * sizeof(char *));
                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                names = a;
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        (void) closedir(dir);
        if (r == 0 && n > 0) {
                qsort(names, n, sizeof(char *), name_compare);
                for (size_t i = 0; i + 1 < n; i++)
                        log_at(LOG_WARNING, dir_path, 0,
                               "%s and %s name the same device (UDIDs ignore letter case); "
                               "using %s, ignoring %s", names[i], names[n - 1], names[n - 1],
                               names[i]);
                if (asprintf(ret, "%s/%s", dir_path, names[n - 1]) < 0) {
                        *ret = NULL;
                        r = -ENOMEM;
                }
        }
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

int policy_load_base(const PolicyDirs *dirs, Policy *p) {
        _cleanup_(policy_done) Policy n;
        _cleanup_(freep) char *path = NULL;
        const char *search[3];
        DropIn *dropins = NULL;
        size_t n_dropins = 0;
        int r;

        policy_init_defaults(&n);

        if (!dirs || !dirs->config_dir || !dirs->runtime_dir || !dirs->vendor_dir || !p)
                return -EINVAL;

        if (asprintf(&path, "%s/%s", dirs->config_dir, MAIN_FILE) < 0) {
                path = NULL;
                return -ENOMEM;
        }
        r = policy_parse_file(path, true, &n);
        if (r < 0 && r != -ENOENT)
                return r;

        search[0] = dirs->config_dir;
        search[1] = dirs->runtime_dir;
        search[2] = dirs->vendor_dir;
        r = dropins_collect(search, ELEMENTSOF(search), &dropins, &n_dropins);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_dropins; i++) {
                path = mfree_ptr(path);
                if (asprintf(&path, "%s/%s/%s", search[dropins[i].dir], DROPIN_DIR,
                             dropins[i].name) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                r = policy_parse_file(path, true, &n);
                if (r == -ENOENT)       /* removed since we listed it */
                        r = 0;
                if (r < 0)
                        break;
        }
        dropins_free(dropins, n_dropins);
        if (r < 0)
                return r;

        policy_done(p);
        *p = n;
        n.backup_dir = NULL;            /* moved to *p */
        return 0;
}

int policy_apply_device(const PolicyDirs *dirs, const Policy *base, const char *udid,
                        Policy *p) {
        _cleanup_(policy_done) Policy n;
        _cleanup_(freep) char *path = NULL;
        int r;

        policy_init_defaults(&n);
        if (!dirs || !dirs->config_dir || !base || !p || !udid || !udid_is_valid(udid))
                return -EINVAL;
        policy_done(&n);
        r = policy_copy(base, &n);
        if (r < 0) {
                policy_init_defaults(&n);
                return r;
        }
        r = device_file_find(dirs->config_dir, udid, &path);
        if (r < 0)
                return r;
        if (path) {
                r = policy_parse_file(path, false, &n);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        policy_done(p);
        *p = n;
        n.backup_dir = NULL;            /* moved to *p */
        return 0;
}

int policy_load_from(const PolicyDirs *dirs, const char *udid, Policy *p) {
        _cleanup_(policy_done) Policy base;
        int r;

        policy_init_defaults(&base);
        if (udid && !udid_is_valid(udid))
                return -EINVAL;
        r = policy_load_base(dirs, &base);
        if (r < 0)
                return r;
        if (!udid) {
                policy_done(p);
                *p = base;
                base.backup_dir = NULL; /* moved to *p */
                return 0;
        }
        return policy_apply_device(dirs, &base, udid, p);
}

int policy_dirs_from_env(PolicyDirs *ret, char *config_dir, size_t n) {
        const char *e;
        size_t len;

        e = getenv("CONFIGURATION_DIRECTORY");
        if (e && *e) {
                len = strcspn(e, ":");  /* systemd joins several directories with ':' */
                if (len >= n)
                        return -ENAMETOOLONG;
                memcpy(config_dir, e, len);
                config_dir[len] = '\0';
        } else if (n > strlen(POLICY_CONFIG_DIR))
                strcpy(config_dir, POLICY_CONFIG_DIR);
        else
                return -ENAMETOOLONG;
        ret->config_dir = config_dir;

        e = getenv("IDEVICESYNC_RUNTIME_CONFIG_DIR");
        if (!e || !*e)
                e = getenv("RUNTIME_DIRECTORY");
        ret->runtime_dir = e && *e && !strchr(e, ':') ? e : POLICY_RUNTIME_DIR;

        e = getenv("IDEVICESYNC_VENDOR_CONFIG_DIR");
        ret->vendor_dir = e && *e ? e : POLICY_VENDOR_DIR;
        return 0;
}

int policy_load(const char *udid, Policy *p) {
        char config_dir[PATH_MAX];
        PolicyDirs dirs;
        int r;

        r = policy_dirs_from_env(&dirs, config_dir, sizeof(config_dir));
        if (r < 0)
                return r;
        return policy_load_from(&dirs, udid, p);
}

