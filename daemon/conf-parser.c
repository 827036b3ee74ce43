/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * conf-parser: files, lines, sections, key tables and value types for idevicesync.conf and
 * devices.d (see conf-parser.h; config.c has the tables, idevicesync.conf(5) the user's view).
 *
 * Why it looks like this: configuration is written by people, so a typo must cost one
 * line, never the daemon or the rest of the file (every bad line is reported with its
 * file:line and skipped; each key keeps its earlier value). Keys live in tables (section,
 * key, parse function, field offset), which keeps the parser, the defaults an empty value
 * restores, and the man page in step.
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <syslog.h>
#include <unistd.h>

#include "conf-parser.h"
#include "macro.h"
#include "util.h"

#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)
#define USEC_PER_WEEK (7ULL * USEC_PER_DAY)

#define ECHO_MAX 64U                    /* bytes of an untrusted value quoted in a message */
#define ECHO_BUF (ECHO_MAX * 4 + 4)     /* every byte may become \xNN, plus "..." and NUL */

static void *mfree_ptr(void *p) {
        free(p);
        return NULL;
}

/* ---- logging ------------------------------------------------------------------------- */

static ConfLogFunc log_func;
static void *log_userdata;

void conf_set_log_func(ConfLogFunc func, void *userdata) {
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

void conf_log(int level, const char *file, unsigned line, const char *fmt, ...) {
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

/* ---- parse functions for tables ----------------------------------------------------- */

int config_parse_bool(const ConfigTableItem *item, const char *value, void *field) {
        int r;

        r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) field = r;
        return 0;
}

/* Unsigned within [min, max]; a trailing '%' is accepted when max is 100. */
int config_parse_unsigned(const ConfigTableItem *item, const char *value, void *field) {
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

int config_parse_timespan(const ConfigTableItem *item, const char *value, void *field) {
        usec_t v;
        int r;

        r = parse_timespan(value, &v);
        if (r < 0)
                return r;
        *(usec_t *) field = v;
        return 0;
}

int config_parse_time_window(const ConfigTableItem *item, const char *value, void *field) {
        TimeWindow w;
        int r;

        r = parse_time_window(value, &w);
        if (r < 0)
                return r;
        *(TimeWindow *) field = w;
        return 0;
}

int config_parse_space(const ConfigTableItem *item, const char *value, void *field) {
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
int config_parse_path(const ConfigTableItem *item, const char *value, void *field) {
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

/* ---- files ------------------------------------------------------------------------------ */

/* Read a whole file of at most CONF_FILE_MAX bytes into a NUL-terminated buffer. A
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
        if (st.st_size > (off_t) CONF_FILE_MAX)
                return -EFBIG;

        cap = (size_t) st.st_size + 1;
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (size == cap) {      /* the file grew since fstat() */
                        char *nbuf;

                        if (cap > CONF_FILE_MAX)
                                return -EFBIG;
                        cap = cap * 2 > CONF_FILE_MAX + 1 ? CONF_FILE_MAX + 1 : cap * 2;
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
        if (size > CONF_FILE_MAX)
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

/* ---- sections and assignments ---------------------------------------------------------- */

static const ConfigSection *table_find_section(const ConfigTable *t, const char *name) {
        for (size_t i = 0; i < t->n_sections; i++)
                if (strcmp(t->sections[i].name, name) == 0)
                        return t->sections + i;
        return NULL;
}

static const ConfigTableItem *section_find_item(const ConfigSection *s, const char *key) {
        for (size_t i = 0; i < s->n_items; i++)
                if (strcmp(s->items[i].key, key) == 0)
                        return s->items + i;
        return NULL;
}

/* Apply one assignment of a known section. */
static void apply_assignment(const ConfigTable *t, const char *path, unsigned line,
                             const ConfigSection *sec, const char *key, const char *value,
                             bool main_file, void *target) {
        char ebuf[ECHO_BUF], vbuf[ECHO_BUF];
        const ConfigTableItem *item;
        size_t offset;
        int r;

        item = section_find_item(sec, key);
        if (!item && sec->reserved) {
                conf_log(LOG_DEBUG, path, line,
                         "Section [%s] is reserved for a later version, ignoring %s=", sec->name,
                         echo(key, ebuf));
                return;
        }
        if (!item) {
                conf_log(LOG_WARNING, path, line, "Unknown key '%s' in section [%s], ignoring",
                         echo(key, ebuf), sec->name);
                return;
        }
        if (item->main_only && !main_file) {
                conf_log(LOG_WARNING, path, line, "%s= is only allowed in %s, ignoring",
                         item->key, t->main_file);
                return;
        }

        offset = sec->offset + item->offset;
        if (value[0] == '\0' && item->size > 0) {       /* empty: back to the default */
                memcpy((uint8_t *) target + offset, (const uint8_t *) t->defaults + offset,
                       item->size);
                return;
        }

        r = item->parse(item, value, (uint8_t *) target + offset);
        if (r == -ERANGE)
                conf_log(LOG_WARNING, path, line,
                         "%s='%s' is out of range (expected %s), ignoring", item->key,
                         echo(value, vbuf), item->expect);
        else if (r == -ENOMEM)
                conf_log(LOG_WARNING, path, line, "Out of memory for %s=, ignoring", item->key);
        else if (r == -EOPNOTSUPP)
                conf_log(LOG_WARNING, path, line, "%s='%s' cannot be done: %s Ignoring it.",
                         item->key, echo(value, vbuf), item->refused ?: "");
        else if (r < 0)
                conf_log(LOG_WARNING, path, line,
                         "Failed to parse %s='%s' (expected %s), ignoring", item->key,
                         echo(value, vbuf), item->expect);
}

/* Parse a NUL-terminated buffer of size bytes (modified in place) into target. */
static void parse_buffer(const ConfigTable *t, const char *path, char *buf, size_t size,
                         bool main_file, void *target) {
        enum { NO_SECTION, KNOWN, IGNORED } state = NO_SECTION;
        char ebuf[ECHO_BUF];
        const ConfigSection *sec = NULL;
        const char *section;
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

                if (len > CONF_LINE_MAX) {
                        conf_log(LOG_WARNING, path, line_no,
                                 "Line too long (%zu bytes, at most %u), ignoring", len,
                                 CONF_LINE_MAX);
                        continue;
                }
                if (strlen(line) != len) {
                        conf_log(LOG_WARNING, path, line_no, "Line contains a NUL byte, ignoring");
                        continue;
                }

                line = trim(line);
                if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
                        continue;

                if (line[0] == '[') {
                        size_t n = strlen(line);

                        if (n < 3 || line[n - 1] != ']' || strcspn(line + 1, "[] \t") != n - 2) {
                                conf_log(LOG_WARNING, path, line_no,
                                         "Invalid section header '%s', ignoring", echo(line, ebuf));
                                /* what follows belongs to no section we know */
                                state = IGNORED;
                                continue;
                        }
                        line[n - 1] = '\0';
                        section = line + 1;
                        sec = table_find_section(t, section);
                        if (sec)
                                state = KNOWN;
                        else {
                                state = IGNORED;
                                if (strncmp(section, "X-", 2) == 0)
                                        conf_log(LOG_DEBUG, path, line_no,
                                                 "Ignoring extension section [%s]",
                                                 echo(section, ebuf));
                                else
                                        conf_log(LOG_WARNING, path, line_no,
                                                 "Unknown section [%s], ignoring its assignments",
                                                 echo(section, ebuf));
                        }
                        continue;
                }

                eq = strchr(line, '=');
                if (!eq) {
                        conf_log(LOG_WARNING, path, line_no,
                                 "Missing '=' in '%s', ignoring", echo(line, ebuf));
                        continue;
                }
                *eq = '\0';
                key = trim(line);
                value = trim(eq + 1);
                if (key[0] == '\0') {
                        conf_log(LOG_WARNING, path, line_no,
                                 "Missing key name before '=', ignoring");
                        continue;
                }

                switch (state) {
                case NO_SECTION:
                        conf_log(LOG_WARNING, path, line_no,
                                 "Assignment '%s=' outside of any section, ignoring",
                                 echo(key, ebuf));
                        break;
                case IGNORED:
                        break;          /* reported once at the section header */
                case KNOWN:
                        apply_assignment(t, path, line_no, sec, key, value, main_file, target);
                        break;
                }
        }
}

int conf_parse_file(const ConfigTable *table, const char *path, bool main_file, void *target) {
        _cleanup_(freep) char *buf = NULL;
        size_t size;
        int r;

        if (!table || !path || !target)
                return -EINVAL;

        r = read_file_bounded(path, &buf, &size);
        if (r == -ENOENT) {
                conf_log(LOG_DEBUG, path, 0, "Not found, skipping");
                return r;
        }
        if (r == -EFBIG) {
                conf_log(LOG_ERR, path, 0, "File is larger than %u bytes, refusing",
                         CONF_FILE_MAX);
                return r;
        }
        if (r == -EINVAL) {
                conf_log(LOG_ERR, path, 0, "Not a regular file, refusing");
                return r;
        }
        if (r < 0) {
                conf_log(LOG_ERR, path, 0, "Failed to read: %s", strerror(-r));
                return r;
        }

        parse_buffer(table, path, buf, size, main_file, target);
        conf_log(LOG_DEBUG, path, 0, "Applied");
        return 0;
}

/* ---- directories ---------------------------------------------------------------------- */

char *conf_path_join(const char *dir, const char *name) {
        char *p;

        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

char **conf_strv_free(char **l) {
        if (l)
                for (char **s = l; *s; s++)
                        free(*s);
        free(l);
        return NULL;
}

static void conf_strv_freep(char ***l) {
        conf_strv_free(*l);
}

static bool conf_name_is_valid(const char *name) {
        size_t n = strlen(name);

        if (name[0] == '.' || n <= strlen(".conf") || strcmp(name + n - 5, ".conf") != 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) name[i] < 0x20 || name[i] == 0x7f)
                        return false;
        return true;
}

static int strv_compare(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int conf_list_dir(const char *path, char ***ret) {
        _cleanup_(conf_strv_freep) char **list = NULL;
        size_t n = 0;
        DIR *dir;
        int r = 0;

        assert(path);
        assert(ret);

        dir = opendir(path);
        if (!dir) {
                if (errno != ENOENT && errno != ENOTDIR) {
                        r = -errno;
                        conf_log(LOG_ERR, path, 0, "Failed to open directory: %s", strerror(-r));
                        return r;
                }
        } else
                for (;;) {
                        struct dirent *de;
                        char **nlist;

                        errno = 0;
                        de = readdir(dir);
                        if (!de) {
                                r = -errno;
                                break;
                        }
                        if (!conf_name_is_valid(de->d_name))
                                continue;
                        if (n >= CONF_DIR_MAX) {
                                r = -E2BIG;
                                break;
                        }
                        nlist = realloc(list, (n + 2) * sizeof(*list));
                        if (!nlist) {
                                r = -ENOMEM;
                                break;
                        }
                        list = nlist;
                        list[n] = strdup(de->d_name);
                        if (!list[n]) {
                                r = -ENOMEM;
                                break;
                        }
                        list[++n] = NULL;
                }
        if (dir)
                (void) closedir(dir);
        if (r == -E2BIG)
                conf_log(LOG_ERR, path, 0, "More than %u files, refusing", CONF_DIR_MAX);
        else if (r < 0 && r != -ENOMEM)
                conf_log(LOG_ERR, path, 0, "Failed to read directory: %s", strerror(-r));
        if (r < 0)
                return r;

        if (!list) {
                list = calloc(1, sizeof(*list));
                if (!list)
                        return -ENOMEM;
        }
        qsort_safe(list, n, sizeof(*list), strv_compare);
        *ret = TAKE_PTR(list);
        return 0;
}

typedef struct DropIn {
        const char *name;               /* borrowed from names[dir] */
        size_t dir;                     /* index into the directory list */
} DropIn;

static int dropin_compare(const void *a, const void *b) {
        return strcmp(((const DropIn *) a)->name, ((const DropIn *) b)->name);
}

/* The drop-ins of dirs, sorted by name; a name of an earlier directory masks later ones.
 * names[] receives the listings (the entries of *ret point into them). */
static int dropins_collect(const char *const *dirs, size_t n_dirs, char ***names,
                           DropIn **ret, size_t *ret_n) {
        _cleanup_(freep) DropIn *list = NULL;
        size_t n = 0;
        int r;

        for (size_t d = 0; d < n_dirs; d++) {
                r = conf_list_dir(dirs[d], &names[d]);
                if (r < 0)
                        return r;
                for (char **s = names[d]; *s; s++) {
                        bool masked = false;
                        DropIn *nlist;

                        for (size_t i = 0; i < n && !masked; i++)
                                masked = strcmp(list[i].name, *s) == 0;
                        if (masked) {
                                conf_log(LOG_DEBUG, dirs[d], 0, "%s is masked by a directory "
                                         "earlier in the search order", *s);
                                continue;
                        }
                        if (n >= CONF_DIR_MAX) {
                                conf_log(LOG_ERR, dirs[d], 0, "More than %u drop-in files, "
                                         "refusing", CONF_DIR_MAX);
                                return -E2BIG;
                        }
                        nlist = realloc(list, (n + 1) * sizeof(*list));
                        if (!nlist)
                                return -ENOMEM;
                        list = nlist;
                        list[n++] = (DropIn) { .name = *s, .dir = d };
                }
        }

        if (n > 0)
                qsort_safe(list, n, sizeof(*list), dropin_compare);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

int conf_parse_with_dropins(const ConfigTable *table, const char *main,
                            const char *const *dropin_dirs, size_t n_dirs, void *target) {
        _cleanup_(freep) char ***names = NULL;
        _cleanup_(freep) DropIn *dropins = NULL;
        size_t n_dropins = 0;
        int r;

        assert(table);
        assert(dropin_dirs || n_dirs == 0);
        assert(target);

        if (main) {
                r = conf_parse_file(table, main, true, target);
                if (r < 0 && r != -ENOENT)
                        return r;
        }

        names = calloc(n_dirs + 1, sizeof(*names));
        if (!names)
                return -ENOMEM;
        r = dropins_collect(dropin_dirs, n_dirs, names, &dropins, &n_dropins);
        for (size_t i = 0; r >= 0 && i < n_dropins; i++) {
                _cleanup_(freep) char *path = NULL;

                path = conf_path_join(dropin_dirs[dropins[i].dir], dropins[i].name);
                if (!path) {
                        r = -ENOMEM;
                        break;
                }
                r = conf_parse_file(table, path, true, target);
                if (r == -ENOENT)       /* removed since we listed it */
                        r = 0;
        }
        for (size_t d = 0; d < n_dirs; d++)
                conf_strv_free(names[d]);
        return r < 0 ? r : 0;
}
