/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idevicesync: the command-line client of idevicesyncd (idevicesync(1)), as hostnamectl
 * is to hostnamed. It talks only D-Bus, to org.idevicesync1 on the system bus (so
 * DBUS_SYSTEM_BUS_ADDRESS redirects it, which is how the tests run it), and adds nothing
 * that `busctl` could not do: it just says it better — one line per device, tables of
 * snapshots, a progress bar, and exit codes a script can act on.
 *
 * Following a job (--wait) is race-free by construction: the JobRemoved and
 * PropertiesChanged matches are installed before the method that starts the job is
 * called, so no signal about the new job can be missed; signals that arrive while the
 * call is in flight wait in sd-bus' queue until the event loop runs. The job's current
 * values are then fetched with an asynchronous GetAll, whose reply is dispatched in bus
 * order with the signals, so a stale value never overwrites a newer one.
 *
 * Output safety: every string that comes from the bus (device names are chosen on the
 * phone) passes text_sanitize() before it reaches the terminal.
 */
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cli-format.h"
#include "udid.h"

#ifndef PROJECT_VERSION
#define PROJECT_VERSION "0.1"
#endif

#define BUS_NAME "org.idevicesync1"
#define MANAGER_PATH "/org/idevicesync1"
#define DEVICE_PREFIX "/org/idevicesync1/device"
#define JOB_PREFIX "/org/idevicesync1/job"
#define MANAGER_IFACE "org.idevicesync1.Manager"
#define DEVICE_IFACE "org.idevicesync1.Device"
#define JOB_IFACE "org.idevicesync1.Job"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

#define PLAIN_INTERVAL USEC_PER_SEC     /* at most one plain progress line per second */
#define REDRAW_INTERVAL USEC_PER_SEC    /* a TTY line is redrawn this often, for rate/ETA */
#define REGION_LINES_MAX 8U             /* monitor: progress lines kept at the bottom */
#define TABLE_LAST_MIN 12U              /* narrowest last column worth truncating to */

#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) ({ typeof(p) _p_ = (p); (p) = NULL; _p_; })
#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define BIT(i) (UINT64_C(1) << (i))

static void freep(void *p) {
        free(*(void **) p);
}

#define _cleanup_free_ _cleanup_(freep)

static bool streq_ptr(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}

static bool isempty(const char *s) {
        return !s || !s[0];
}

static char **strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
        return NULL;
}

static void strv_freep(char ***l) {
        *l = strv_free(*l);
}

/* Reads an "ao" into a NULL-terminated array (libsystemd 252's sd_bus_message_read_strv()
 * takes only "as"). Returns 0 or a negative errno; *ret is set only on success. */
static int read_object_paths(sd_bus_message *m, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        const char *path;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "o");
        if (r < 0)
                return r;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while ((r = sd_bus_message_read_basic(m, 'o', &path)) > 0) {
                char **grown = reallocarray(l, n + 2, sizeof(char *));

                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n] = strdup(path);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(l);
        return 0;
}

static usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* A copy of a string from the bus, made safe for the terminal; NULL stays NULL. */
static char *strdup_sanitized(const char *s) {
        return s ? text_sanitize(strdup(s)) : NULL;
}

/* ---- command line -------------------------------------------------------------------- */

enum {
        OPT_NO_LEGEND = 1 << 0,
        OPT_FULL = 1 << 1,
        OPT_FORCE = 1 << 2,
        OPT_WAIT = 1 << 3,
        OPT_TO = 1 << 4,
        OPT_NO_REBOOT = 1 << 5,
};

static bool arg_legend = true;
static bool arg_full;
static bool arg_force;
static bool arg_wait;
static const char *arg_to;              /* borrowed from argv */
static bool arg_reboot = true;
static unsigned arg_given;              /* OPT_* of the options on the command line */

/* ---- the terminal -------------------------------------------------------------------- */

/*
 * On a terminal, running jobs' progress lines sit below everything else (the region):
 * the cursor stays at the end of the last one, so one line is redrawn with "\r" and
 * more are erased by moving up. Whatever else is printed first erases the region; the
 * next redraw (an update or the one-second tick) brings it back.
 */
static struct {
        bool tty;                       /* stdout is a terminal that understands ANSI */
        size_t lines;                   /* progress lines now on the screen */
} screen;

static void screen_init(void) {
        const char *term = getenv("TERM");

        screen.tty = isatty(STDOUT_FILENO) && !streq_ptr(term, "dumb");
}

static size_t terminal_columns(void) {
        struct winsize ws = {};
        const char *e;
        long c;

        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        e = getenv("COLUMNS");
        if (e && (c = strtol(e, NULL, 10)) > 0 && c < 10000)
                return (size_t) c;
        return 80;
}

static void screen_clear(void) {
        if (screen.lines == 0)
                return;

        fputs("\r\033[K", stdout);
        for (size_t i = 1; i < screen.lines; i++)
                fputs("\033[A\033[K", stdout);
        screen.lines = 0;
        fflush(stdout);
}

/* Leave the progress lines on the screen as they are (the final state of a job). */
static void screen_keep(void) {
        if (screen.lines == 0)
                return;
        fputc('\n', stdout);
        screen.lines = 0;
        fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
static void log_error(const char *fmt, ...) {
        va_list ap;

        screen_clear();
        fflush(stdout);
        fputs("idevicesync: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/*
 * Reports a failed method call: the daemon's message (per the man page), or the local
 * errno with `what` for context. UnknownObject on a device path means the UDID is not
 * known. Returns the exit code (> 0) that goes with the error.
 */
static int log_bus_error(const sd_bus_error *error, int r, const char *udid, const char *what) {
        _cleanup_free_ char *message = NULL;
        int code;

        if (udid && sd_bus_error_has_name(error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                _cleanup_free_ char *u = strdup_sanitized(udid);

                log_error("No device '%s' is known to idevicesyncd.", u ? u : "?");
                return CLI_EXIT_FAILED;
        }

        if (error && (error->message || error->name)) {
                message = strdup_sanitized(error->message ? error->message : error->name);
                log_error("%s", message ? message : "Out of memory.");
        } else
                log_error("%s: %s", what, strerror(r < 0 ? -r : EIO));

        code = bus_error_to_exit_code(error ? error->name : NULL, r);
        if (code == CLI_EXIT_ACCESS && geteuid() != 0)
                log_error("This operation needs root privileges.");
        return code;
}

/* ---- properties ---------------------------------------------------------------------- */

/* One property read into a struct field: 's' (char *, sanitized), 'o' (char *),
 * 'b' (bool), 'u' (uint32_t) or 't' (uint64_t). */
typedef struct PropertyMap {
        const char *name;
        char type;
        size_t offset;
} PropertyMap;

static int read_property(sd_bus_message *m, const PropertyMap *p, void *obj) {
        char sig[2] = { p->type, '\0' };
        void *field = (char *) obj + p->offset;
        int r;

        r = sd_bus_message_enter_container(m, 'v', sig);
        if (r < 0)
                return r;

        switch (p->type) {
        case 's':
        case 'o': {
                const char *s;
                char *copy;

                r = sd_bus_message_read_basic(m, p->type, &s);
                if (r < 0)
                        return r;
                copy = p->type == 's' ? strdup_sanitized(s) : strdup(s);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) field);
                *(char **) field = copy;
                break;
        }
        case 'b': {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                *(bool *) field = b;
                break;
        }
        case 'u':
                r = sd_bus_message_read_basic(m, 'u', field);
                if (r < 0)
                        return r;
                break;
        case 't':
                r = sd_bus_message_read_basic(m, 't', field);
                if (r < 0)
                        return r;
                break;
        default:
                return -EINVAL;
        }

        return sd_bus_message_exit_container(m);
}

/*
 * Reads an a{sv} at the message's read position into obj per map (terminated by an entry
 * with name NULL; at most 64 entries). Unknown names and values of an unexpected type are
 * skipped, so a newer daemon never breaks an older client. *ret_set (optional) gets a bit
 * per map index that was read. Returns 0 or a negative errno.
 */
static int map_properties(sd_bus_message *m, const PropertyMap *map, void *obj,
                          uint64_t *ret_set) {
        uint64_t set = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *contents = NULL;
                const PropertyMap *p;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r < 0)
                        return r;

                for (p = map; p->name && strcmp(p->name, name) != 0; p++)
                        ;
                if (p->name) {
                        r = sd_bus_message_peek_type(m, NULL, &contents);
                        if (r < 0)
                                return r;
                }

                if (p->name && contents && contents[0] == p->type && contents[1] == '\0') {
                        r = read_property(m, p, obj);
                        set |= BIT(p - map);
                } else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0)
                        return r;

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        if (ret_set)
                *ret_set = set;
        return 0;
}

/* ---- tables -------------------------------------------------------------------------- */

/* Rows of sanitized cells; the first row is the header. The last column is not padded
 * and is truncated to the terminal's width. */
typedef struct Table {
        size_t n_columns;
        uint64_t right;                 /* bit per right-aligned column */
        char **cells;                   /* row-major, owned */
        size_t n_cells;
} Table;

static void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (Table) {};
}

__attribute__((format(printf, 2, 3)))
static int table_addf(Table *t, const char *fmt, ...) {
        char **cells, *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        cells = reallocarray(t->cells, t->n_cells + 1, sizeof(char *));
        if (!cells) {
                free(s);
                return -ENOMEM;
        }
        t->cells = cells;
        t->cells[t->n_cells++] = text_sanitize(s);
        return 0;
}

static void table_print(const Table *t) {
        size_t widths[16] = {}, first = arg_legend ? 0 : 1, rows, used = 0, last_max = 0;

        assert(t->n_columns > 0 && t->n_columns <= ELEMENTSOF(widths));
        rows = t->n_cells / t->n_columns;

        for (size_t row = first; row < rows; row++)
                for (size_t c = 0; c < t->n_columns; c++) {
                        size_t w = text_width(t->cells[row * t->n_columns + c]);

                        if (w > widths[c])
                                widths[c] = w;
                }

        if (screen.tty) {
                size_t cols = terminal_columns();

                for (size_t c = 0; c + 1 < t->n_columns; c++)
                        used += widths[c] + 2;
                if (cols > used + TABLE_LAST_MIN)
                        last_max = cols - used - 1;
        }

        for (size_t row = first; row < rows; row++) {
                for (size_t c = 0; c < t->n_columns; c++) {
                        char *cell = t->cells[row * t->n_columns + c];
                        size_t pad = widths[c] - text_width(cell);

                        if (c + 1 == t->n_columns) {
                                if (last_max > 0)
                                        text_truncate(cell, last_max);
                                fputs(cell, stdout);
                                break;
                        }
                        if (t->right & BIT(c))
                                printf("%*s%s  ", (int) pad, "", cell);
                        else
                                printf("%s%*s  ", cell, (int) pad, "");
                }
                fputc('\n', stdout);
        }
}

/* ---- connecting ---------------------------------------------------------------------- */

static void bus_closep(sd_bus **bus) {
        *bus = sd_bus_flush_close_unref(*bus);
}

static int bus_connect(sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_error("Failed to connect to the system bus: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        *ret = bus;
        return 0;
}

/* The device object's path, or a usage error (exit code > 0, reported). */
static int device_path_of(const char *udid, char **ret) {
        char canonical[UDID_MAX + 1];
        int r;

        if (!udid_is_valid(udid)) {
                _cleanup_free_ char *u = strdup_sanitized(udid);

                log_error("'%s' is not a valid UDID (1 to %u characters of 0-9, A-F and '-').",
                          u ? u : "?", UDID_MAX);
                return CLI_EXIT_USAGE;
        }
        /* Any letter case names the device; its object is under the daemon's spelling. */
        strcpy(canonical, udid);
        (void) udid_canonicalize(canonical);
        r = sd_bus_path_encode(DEVICE_PREFIX, canonical, ret);
        if (r < 0)
                return r;
        return 0;
}

static int snapshot_arg(const char *arg, bool need_id, char **ret_udid, char **ret_id) {
        _cleanup_free_ char *udid = NULL, *id = NULL;
        int r;

        r = parse_snapshot_arg(arg, &udid, &id);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || (need_id && isempty(id))) {
                _cleanup_free_ char *a = strdup_sanitized(arg);

                log_error("'%s' is not a valid snapshot: expected %s.", a ? a : "?",
                          need_id ? "UDID/ID" : "UDID/ID or UDID (the latest snapshot)");
                return CLI_EXIT_USAGE;
        }
        *ret_udid = TAKE_PTR(udid);
        *ret_id = TAKE_PTR(id);
        return 0;
}

/* ---- status -------------------------------------------------------------------------- */

typedef struct DeviceInfo {
        char *udid, *name, *product_type, *product_version, *state, *state_reason, *phase;
        char *job, *last_result;
        bool connected, encrypted;
        uint32_t progress;
        uint64_t last_backup, next_eligible;
} DeviceInfo;

static const PropertyMap device_map[] = {
        { "UDID", 's', offsetof(DeviceInfo, udid) },
        { "Name", 's', offsetof(DeviceInfo, name) },
        { "ProductType", 's', offsetof(DeviceInfo, product_type) },
        { "ProductVersion", 's', offsetof(DeviceInfo, product_version) },
        { "Connected", 'b', offsetof(DeviceInfo, connected) },
        { "State", 's', offsetof(DeviceInfo, state) },
        { "StateReason", 's', offsetof(DeviceInfo, state_reason) },
        { "Phase", 's', offsetof(DeviceInfo, phase) },
        { "Progress", 'u', offsetof(DeviceInfo, progress) },
        { "Job", 'o', offsetof(DeviceInfo, job) },
        { "LastBackup", 't', offsetof(DeviceInfo, last_backup) },
        { "LastResult", 's', offsetof(DeviceInfo, last_result) },
        { "NextEligible", 't', offsetof(DeviceInfo, next_eligible) },
        { "Encrypted", 'b', offsetof(DeviceInfo, encrypted) },
        {}
};

/* Frees what a DeviceInfo owns; the struct itself is the caller's (a cleanup target). */
static void device_info_done(DeviceInfo *d) {
        free(d->udid);
        free(d->name);
        free(d->product_type);
        free(d->product_version);
        free(d->state);
        free(d->state_reason);
        free(d->phase);
        free(d->job);
        free(d->last_result);
        *d = (DeviceInfo) {};
}

/* qsort() comparator for object paths: a stable order between runs, by escaped UDID. */
static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int status_row(Table *t, const char *path, const DeviceInfo *d) {
        _cleanup_free_ char *udid = NULL, *reason = NULL;
        char when[FORMAT_TIMESTAMP_MAX], next[FORMAT_TIMESTAMP_MAX];
        bool running = !isempty(d->job) && strcmp(d->job, "/") != 0;
        int r;

        if (isempty(d->udid) && sd_bus_path_decode(path, DEVICE_PREFIX, &udid) <= 0)
                udid = NULL;

        if (streq_ptr(d->state, "deferred") && d->next_eligible > 0)
                r = asprintf(&reason, "%s (eligible %s)", d->state_reason ? d->state_reason : "",
                             format_timestamp_usec(next, sizeof(next), d->next_eligible));
        else
                r = asprintf(&reason, "%s", d->state_reason ? d->state_reason : "");
        if (r < 0)
                return -ENOMEM;

        if ((r = table_addf(t, "%s", !isempty(d->udid) ? d->udid : udid ? udid : path)) < 0 ||
            (r = table_addf(t, "%s", !isempty(d->name) ? d->name : "-")) < 0 ||
            (r = table_addf(t, "%s", d->connected ? "plugged" : "unplugged")) < 0)
                return r;
        if (running)
                r = table_addf(t, "%s %" PRIu32 "%%", d->state ? d->state : "-",
                               d->progress > 100 ? 100 : d->progress);
        else
                r = table_addf(t, "%s", !isempty(d->state) ? d->state : "-");
        if (r < 0 ||
            (r = table_addf(t, "%s", format_timestamp_usec(when, sizeof(when),
                                                           d->last_backup))) < 0 ||
            (r = table_addf(t, "%s", !isempty(d->last_result) ? d->last_result : "-")) < 0 ||
            (r = table_addf(t, "%s", reason)) < 0)
                return r;
        return 0;
}

/*
 * status: ListDevices, then one GetAll per device. Read-only calls, so they work for
 * everyone; a device forgotten between the two calls is skipped rather than an error.
 */
static int verb_status(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(strv_freep) char **paths = NULL;
        _cleanup_(table_done) Table t = { .n_columns = 7 };
        size_t n = 0;
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = sd_bus_call_method(bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListDevices", &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to list devices");
        r = read_object_paths(reply, &paths);
        if (r < 0)
                return r;

        for (char **p = paths; p && *p; p++)
                n++;
        if (n > 0)
                qsort(paths, n, sizeof(char *), compare_strings);

        r = table_addf(&t, "UDID");
        if (r < 0 || (r = table_addf(&t, "NAME")) < 0 || (r = table_addf(&t, "CONNECTED")) < 0 ||
            (r = table_addf(&t, "STATE")) < 0 || (r = table_addf(&t, "LAST BACKUP")) < 0 ||
            (r = table_addf(&t, "RESULT")) < 0 || (r = table_addf(&t, "REASON")) < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL;
                _cleanup_(device_info_done) DeviceInfo d = {};

                sd_bus_error_free(&error);
                r = sd_bus_call_method(bus, BUS_NAME, paths[i], PROPERTIES_IFACE, "GetAll",
                                       &error, &props, "s", DEVICE_IFACE);
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        continue;               /* forgotten since ListDevices */
                if (r < 0)
                        return log_bus_error(&error, r, NULL, "Failed to read a device");

                r = map_properties(props, device_map, &d, NULL);
                if (r < 0) {
                        log_error("Failed to parse the properties of %s: %s", paths[i],
                                  strerror(-r));
                        return CLI_EXIT_FAILED;
                }
                r = status_row(&t, paths[i], &d);
                if (r < 0)
                        return r;
        }

        if (t.n_cells == t.n_columns) {
                if (arg_legend)
                        printf("No devices known.\n");
                return 0;
        }
        table_print(&t);
        return 0;
}

/* ---- list-snapshots ------------------------------------------------------------------ */

typedef struct SnapshotInfo {
        uint64_t files, bytes, new_bytes, start;
        bool full, encrypted;
        char *ios_version;
} SnapshotInfo;

static const PropertyMap snapshot_map[] = {
        { "files", 't', offsetof(SnapshotInfo, files) },
        { "bytes", 't', offsetof(SnapshotInfo, bytes) },
        { "new_bytes", 't', offsetof(SnapshotInfo, new_bytes) },
        { "full", 'b', offsetof(SnapshotInfo, full) },
        { "encrypted", 'b', offsetof(SnapshotInfo, encrypted) },
        { "ios_version", 's', offsetof(SnapshotInfo, ios_version) },
        { "start", 't', offsetof(SnapshotInfo, start) },
        {}
};

static int snapshot_row(Table *t, const char *id, uint64_t end, const SnapshotInfo *s) {
        char date[FORMAT_TIMESTAMP_MAX], size[FORMAT_BYTES_MAX], fresh[FORMAT_BYTES_MAX];
        int r;

        if ((r = table_addf(t, "%s", id)) < 0 ||
            (r = table_addf(t, "%s", format_timestamp_usec(date, sizeof(date), end))) < 0 ||
            (r = table_addf(t, "%" PRIu64, s->files)) < 0 ||
            (r = table_addf(t, "%s", format_bytes(size, sizeof(size), s->bytes))) < 0 ||
            (r = table_addf(t, "%s", format_bytes(fresh, sizeof(fresh), s->new_bytes))) < 0 ||
            (r = table_addf(t, "%s", s->full ? "full" : "incr")) < 0 ||
            (r = table_addf(t, "%s", s->encrypted ? "yes" : "no")) < 0 ||
            (r = table_addf(t, "%s", !isempty(s->ios_version) ? s->ios_version : "-")) < 0)
                return r;
        return 0;
}

/*
 * list-snapshots: ListSnapshots() → a(sta{sv}) of (id, end time, details). Details are a
 * dictionary so the daemon can add keys; unknown ones are skipped, missing ones show 0.
 */
static int verb_list_snapshots(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(table_done) Table t = { .n_columns = 8, .right = BIT(2) | BIT(3) | BIT(4) };
        _cleanup_free_ char *path = NULL;
        static const char *const header[] = {
                "ID", "DATE", "FILES", "SIZE", "NEW", "TYPE", "ENCRYPTED", "IOS",
        };
        int r;

        r = device_path_of(argv[1], &path);
        if (r != 0)
                return r;
        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = sd_bus_call_method(bus, BUS_NAME, path, DEVICE_IFACE, "ListSnapshots", &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, argv[1], "Failed to list snapshots");

        for (size_t i = 0; i < ELEMENTSOF(header); i++) {
                r = table_addf(&t, "%s", header[i]);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_enter_container(reply, 'a', "(sta{sv})");
        if (r < 0)
                goto parse_error;
        while ((r = sd_bus_message_enter_container(reply, 'r', "sta{sv}")) > 0) {
                SnapshotInfo s = {};
                const char *id;
                uint64_t end;

                r = sd_bus_message_read(reply, "st", &id, &end);
                if (r >= 0)
                        r = map_properties(reply, snapshot_map, &s, NULL);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = snapshot_row(&t, id, end, &s);
                free(s.ios_version);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        goto parse_error;
        }
        if (r < 0)
                goto parse_error;

        if (t.n_cells == t.n_columns) {
                if (arg_legend)
                        printf("No snapshots.\n");
                return 0;
        }
        table_print(&t);
        return 0;

parse_error:
        log_error("Failed to parse the snapshot list: %s", strerror(-r));
        return CLI_EXIT_FAILED;
}

/* ---- jobs ---------------------------------------------------------------------------- */

typedef struct Context Context;

typedef struct Job {
        Context *context;               /* borrowed: the loop that follows the job */
        sd_bus_slot *get_all;           /* the pending GetAll, if any */
        char *path;
        char *kind, *device, *state, *phase, *result, *message;
        uint32_t progress;
        uint64_t bytes_done, bytes_total, files_done, files_total;
        RateEstimator rate;
        bool loaded;                    /* its properties have been read at least once */
        usec_t plain_time;              /* CLOCK_MONOTONIC of its last plain line, 0 = none */
        char *plain_phase;              /* the phase that line showed */
        char *plain_line;               /* and the line itself */
        bool announced;                 /* monitor: its first line was printed */
        bool seeded;                    /* monitor: it ran already when monitor started */
} Job;

enum {
        JOB_KIND,
        JOB_DEVICE,
        JOB_STATE,
        JOB_PHASE,
        JOB_PROGRESS,
        JOB_BYTES_DONE,
        JOB_BYTES_TOTAL,
        JOB_FILES_DONE,
        JOB_FILES_TOTAL,
        JOB_RESULT,
        JOB_MESSAGE,
};

static const PropertyMap job_map[] = {
        [JOB_KIND] = { "Kind", 's', offsetof(Job, kind) },
        [JOB_DEVICE] = { "Device", 'o', offsetof(Job, device) },
        [JOB_STATE] = { "State", 's', offsetof(Job, state) },
        [JOB_PHASE] = { "Phase", 's', offsetof(Job, phase) },
        [JOB_PROGRESS] = { "Progress", 'u', offsetof(Job, progress) },
        [JOB_BYTES_DONE] = { "BytesDone", 't', offsetof(Job, bytes_done) },
        [JOB_BYTES_TOTAL] = { "BytesTotal", 't', offsetof(Job, bytes_total) },
        [JOB_FILES_DONE] = { "FilesDone", 't', offsetof(Job, files_done) },
        [JOB_FILES_TOTAL] = { "FilesTotal", 't', offsetof(Job, files_total) },
        [JOB_RESULT] = { "Result", 's', offsetof(Job, result) },
        [JOB_MESSAGE] = { "Message", 's', offsetof(Job, message) },
        {}
};

static Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_bus_slot_unref(j->get_all);  /* a pending reply is never dispatched to a freed job */
        free(j->path);
        free(j->kind);
        free(j->device);
        free(j->state);
        free(j->phase);
        free(j->result);
        free(j->message);
        free(j->plain_phase);
        free(j->plain_line);
        free(j);
        return NULL;
}

static int job_new(Context *c, const char *path, Job **ret) {
        Job *j;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->context = c;
        j->path = strdup(path);
        if (!j->path) {
                free(j);
                return -ENOMEM;
        }
        rate_estimator_init(&j->rate, 0);
        *ret = j;
        return 0;
}

/* Drawn only once something is known about it, and until it says it finished. */
static bool job_is_running(const Job *j) {
        return j->loaded && !streq_ptr(j->state, "finished");
}

/* Reads an a{sv} of job properties; feeds the rate estimator when BytesDone came. */
static int job_apply(Job *j, sd_bus_message *m) {
        uint64_t set;
        int r;

        r = map_properties(m, job_map, j, &set);
        if (r < 0)
                return r;
        if (set & BIT(JOB_BYTES_DONE))
                rate_estimator_add(&j->rate, now_usec(CLOCK_MONOTONIC), j->bytes_done);
        if (set != 0)
                j->loaded = true;
        return 0;
}

static ProgressInfo job_progress(const Job *j) {
        return (ProgressInfo) {
                .percent = j->progress,
                .bytes_done = j->bytes_done,
                .bytes_total = j->bytes_total,
                .files_done = j->files_done,
                .files_total = j->files_total,
                .rate = rate_estimator_get(&j->rate, now_usec(CLOCK_MONOTONIC)),
                .phase = j->phase,
        };
}

/* "3" for /org/idevicesync1/job/3 (the path itself if it is not below JOB_PREFIX). */
static char *job_number(const char *path) {
        char *n = NULL;

        if (sd_bus_path_decode(path, JOB_PREFIX, &n) <= 0 || !n)
                return strdup(path);
        return text_sanitize(n);
}

/* "job 3 (backup, 00008030-001A2B3C4D5E6F70)", as far as it is known. */
static char *job_label(const Job *j, const char *path) {
        _cleanup_free_ char *number = job_number(j ? j->path : path), *udid = NULL;
        char *label = NULL;
        int r;

        if (!number)
                return NULL;
        if (j && j->device && sd_bus_path_decode(j->device, DEVICE_PREFIX, &udid) > 0)
                text_sanitize(udid);

        if (j && j->kind && udid)
                r = asprintf(&label, "job %s (%s, %s)", number, j->kind, udid);
        else if (j && j->kind)
                r = asprintf(&label, "job %s (%s)", number, j->kind);
        else
                r = asprintf(&label, "job %s", number);
        return r < 0 ? NULL : label;
}

/* ---- following jobs and events ------------------------------------------------------- */

struct Context {
        sd_event *event;                /* borrowed */
        sd_bus *bus;                    /* borrowed */
        bool monitor;                   /* following everything, or waiting for one job */
        const char *noun;               /* wait: "Backup", "Restore", "Verification" */
        Job **jobs;                     /* owned; wait: the one job, once its path is known */
        size_t n_jobs;
        unsigned interrupts;            /* SIGINT/SIGTERM received */
        sd_bus_slot *slots[8];          /* matches */
        size_t n_slots;
        sd_bus_slot *cancel;            /* wait: the pending Job.Cancel() */
        sd_event_source *tick;          /* TTY: redraws rate and ETA */
};

static void context_done(Context *c) {
        for (size_t i = 0; i < c->n_jobs; i++)
                job_free(c->jobs[i]);
        free(c->jobs);
        for (size_t i = 0; i < c->n_slots; i++)
                sd_bus_slot_unref(c->slots[i]);
        sd_bus_slot_unref(c->cancel);
        sd_event_source_unref(c->tick);
        *c = (Context) {};
}

static Job *context_find_job(Context *c, const char *path) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (streq_ptr(c->jobs[i]->path, path))
                        return c->jobs[i];
        return NULL;
}

/* Unlinks and frees a job; its pending GetAll is cancelled with it (job_free()). */
static void context_remove_job(Context *c, Job *j) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i] == j) {
                        memmove(c->jobs + i, c->jobs + i + 1,
                                (c->n_jobs - i - 1) * sizeof(Job *));
                        c->n_jobs--;
                        job_free(j);
                        return;
                }
}

static void context_remove_all_jobs(Context *c) {
        while (c->n_jobs > 0)
                context_remove_job(c, c->jobs[c->n_jobs - 1]);
}

static int context_keep_slot(Context *c, sd_bus_slot *slot) {
        if (c->n_slots >= ELEMENTSOF(c->slots)) {
                sd_bus_slot_unref(slot);
                return -ENOBUFS;
        }
        c->slots[c->n_slots++] = slot;
        return 0;
}

static void wait_finish(Context *c, Job *j, const char *result);

/* ---- drawing ------------------------------------------------------------------------- */

/* The prefix of a job's progress line in monitor ("job 3 (backup): "); NULL when waiting. */
static char *progress_prefix(const Context *c, const Job *j) {
        _cleanup_free_ char *number = NULL;
        char *prefix;

        if (!c->monitor)
                return NULL;
        number = job_number(j->path);
        if (asprintf(&prefix, "job %s%s%s%s: ", number ? number : "?", j->kind ? " (" : "",
                     j->kind ? j->kind : "", j->kind ? ")" : "") < 0)
                return NULL;
        return prefix;
}

static void draw_job_line(const Context *c, const Job *j, size_t cols) {
        _cleanup_free_ char *prefix = progress_prefix(c, j);
        ProgressInfo p = job_progress(j);
        size_t width = cols > 1 ? cols - 1 : 1;        /* never the last column: no wrap */
        char line[512];

        if (prefix && text_width(prefix) + 10 < width)
                width -= text_width(prefix);
        else if (prefix) {
                free(prefix);
                prefix = NULL;
        }

        render_progress_line(line, sizeof(line), width, true, &p);
        if (prefix)
                fputs(prefix, stdout);
        fputs(line, stdout);
}

/* TTY: (re)draws the running jobs' progress lines at the bottom. */
static void screen_draw(Context *c) {
        size_t cols, drawn = 0;

        if (!screen.tty)
                return;

        screen_clear();
        cols = terminal_columns();
        for (size_t i = 0; i < c->n_jobs && drawn < REGION_LINES_MAX; i++) {
                if (!job_is_running(c->jobs[i]))
                        continue;
                if (drawn++ > 0)
                        fputc('\n', stdout);
                draw_job_line(c, c->jobs[i], cols);
        }
        screen.lines = drawn;
        fflush(stdout);
}

/* One line of monitor output, "HH:MM:SS text", printed above the progress lines. */
__attribute__((format(printf, 2, 3)))
static void event_line(Context *c, const char *fmt, ...) {
        char stamp[FORMAT_TIMESTAMP_MAX];
        va_list ap;

        screen_clear();
        printf("%s ", format_clock_usec(stamp, sizeof(stamp), now_usec(CLOCK_REALTIME)));
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        screen_draw(c);
}

/*
 * Not a TTY: one plain progress line, at most one a second per job; `force` (the final
 * line) and, when waiting, a new phase print it at once. A line that would repeat the
 * previous one is left out.
 */
static void job_print_plain(Context *c, Job *j, bool force) {
        ProgressInfo p = job_progress(j);
        usec_t now = now_usec(CLOCK_MONOTONIC);
        bool new_phase = !c->monitor && !streq_ptr(j->phase, j->plain_phase);
        char line[512];

        if (!force && !new_phase && j->plain_time > 0 && now < j->plain_time + PLAIN_INTERVAL)
                return;

        render_progress_line(line, sizeof(line), 0, false, &p);
        if (streq_ptr(line, j->plain_line))
                return;                 /* nothing new to say */
        if (c->monitor) {
                _cleanup_free_ char *label = job_label(j, NULL);

                event_line(c, "%s: %s", label ? label : j->path, line);
        } else {
                printf("%s\n", line);
                fflush(stdout);
        }

        j->plain_time = now;
        free(j->plain_phase);
        j->plain_phase = j->phase ? strdup(j->phase) : NULL;
        free(j->plain_line);
        j->plain_line = strdup(line);
}

static void job_show_progress(Context *c, Job *j) {
        if (!job_is_running(j))
                return;
        if (screen.tty)
                screen_draw(c);
        else
                job_print_plain(c, j, false);
}

static const char *noun_of_kind(const char *kind) {
        if (streq_ptr(kind, "backup"))
                return "Backup";
        if (streq_ptr(kind, "restore"))
                return "Restore";
        if (streq_ptr(kind, "verify"))
                return "Verification";
        if (streq_ptr(kind, "sync"))
                return "Sync";
        return "Job";
}

/* ---- jobs appear --------------------------------------------------------------------- */

/* monitor: the first line about a job, once its kind and state are known. */
static void job_announce(Context *c, Job *j, const char *verb) {
        _cleanup_free_ char *label = NULL;

        if (!c->monitor || j->announced || !job_is_running(j))
                return;
        j->announced = true;
        label = job_label(j, NULL);
        event_line(c, "%s: %s%s%s", label ? label : j->path, verb,
                   isempty(j->phase) ? "" : ", phase ", j->phase ? j->phase : "");
}

static int on_job_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Job *j = userdata;
        Context *c = j->context;
        int r;

        j->get_all = sd_bus_slot_unref(j->get_all);

        if (sd_bus_message_is_method_error(m, NULL)) {
                /* gone already: its JobRemoved came or is on its way; nothing to show */
                if (c->monitor && !j->announced)
                        context_remove_job(c, j);
                return 0;
        }

        r = job_apply(j, m);
        if (r < 0) {
                log_error("Failed to parse the properties of %s: %s", j->path, strerror(-r));
                return 0;
        }

        if (c->monitor && !j->announced) {
                if (!job_is_running(j)) {
                        context_remove_job(c, j);       /* finished before we looked */
                        return 0;
                }
                job_announce(c, j, j->seeded ? "running" : "started");
        }
        job_show_progress(c, j);
        return 0;
}

/*
 * Starts following a job: adds it (once) and asks for its properties asynchronously, so
 * the reply is ordered with the job's signals. Returns 1 if it was new, 0 if it was
 * known already, or a negative errno.
 */
static int context_track_job(Context *c, const char *path, Job **ret) {
        Job **jobs, *j;
        int r;

        j = context_find_job(c, path);
        if (j) {
                if (ret)
                        *ret = j;
                return 0;
        }

        r = job_new(c, path, &j);
        if (r < 0)
                return r;
        jobs = reallocarray(c->jobs, c->n_jobs + 1, sizeof(Job *));
        if (!jobs) {
                job_free(j);
                return -ENOMEM;
        }
        c->jobs = jobs;
        c->jobs[c->n_jobs++] = j;

        r = sd_bus_call_method_async(c->bus, &j->get_all, BUS_NAME, path, PROPERTIES_IFACE,
                                     "GetAll", on_job_get_all, j, "s", JOB_IFACE);
        if (r < 0)
                return r;
        if (ret)
                *ret = j;
        return 1;
}

/* ---- signal handlers ----------------------------------------------------------------- */

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_free_ char *label = NULL, *res = NULL;
        const char *path, *result;
        Job *j;
        int r;

        r = sd_bus_message_read(m, "os", &path, &result);
        if (r < 0)
                return 0;                       /* not what the contract says: ignore */
        j = context_find_job(c, path);

        if (!c->monitor) {
                if (j)
                        wait_finish(c, j, result);
                return 0;
        }

        res = strdup_sanitized(result);
        label = job_label(j, path);
        event_line(c, "%s: finished, result %s%s%s", label ? label : path,
                   isempty(res) ? "-" : res, j && !isempty(j->message) ? ": " : "",
                   j && !isempty(j->message) ? j->message : "");
        if (j) {
                context_remove_job(c, j);
                screen_draw(c);
        }
        return 0;
}

static void job_properties_changed(Context *c, const char *path, sd_bus_message *m) {
        _cleanup_free_ char *old_phase = NULL;
        Job *j;
        int r;

        j = context_find_job(c, path);
        if (!j) {
                if (!c->monitor)
                        return;                 /* someone else's job */
                r = context_track_job(c, path, &j);
                if (r < 0) {
                        log_error("Failed to follow %s: %s", path, strerror(-r));
                        return;
                }
        }

        if (j->phase) {
                old_phase = strdup(j->phase);
                if (!old_phase)
                        return;
        }
        r = job_apply(j, m);
        if (r < 0) {
                log_error("Failed to parse a change of %s: %s", path, strerror(-r));
                return;
        }

        if (c->monitor && j->announced && !isempty(j->phase) &&
            !streq_ptr(old_phase, j->phase)) {
                _cleanup_free_ char *label = job_label(j, NULL);

                event_line(c, "%s: phase %s", label ? label : path, j->phase);
        }
        job_show_progress(c, j);
}

static bool is_progress_property(const char *name) {
        static const char *const names[] = {
                "State", "StateReason",         /* StateChanged says these, with the reason */
                "Phase", "Progress", "BytesDone", "BytesTotal", "FilesDone", "FilesTotal",
                "Job",                          /* the job's own lines say these */
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(names[i], name) == 0)
                        return true;
        return false;
}

/* "Name=value" of one property whose variant is at m's read position. */
static int format_property(FILE *f, const char *name, sd_bus_message *m) {
        const char *contents;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (!contents || strlen(contents) != 1 || !strchr("sobut", contents[0]))
                return sd_bus_message_skip(m, "v");

        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        switch (contents[0]) {
        case 's':
        case 'o': {
                _cleanup_free_ char *copy = NULL;
                const char *s;

                r = sd_bus_message_read_basic(m, contents[0], &s);
                if (r < 0)
                        return r;
                copy = strdup_sanitized(s);
                if (!copy)
                        return -ENOMEM;
                fprintf(f, contents[0] == 's' ? " %s=\"%s\"" : " %s=%s", name, copy);
                break;
        }
        case 'b': {
                int b;

                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r < 0)
                        return r;
                fprintf(f, " %s=%s", name, b ? "yes" : "no");
                break;
        }
        case 'u': {
                uint32_t u;

                r = sd_bus_message_read_basic(m, 'u', &u);
                if (r < 0)
                        return r;
                fprintf(f, " %s=%" PRIu32, name, u);
                break;
        }
        case 't': {
                char when[FORMAT_TIMESTAMP_MAX];
                uint64_t t;

                r = sd_bus_message_read_basic(m, 't', &t);
                if (r < 0)
                        return r;
                if (strcmp(name, "LastBackup") == 0 || strcmp(name, "NextEligible") == 0)
                        fprintf(f, " %s=\"%s\"", name,
                                format_timestamp_usec(when, sizeof(when), t));
                else
                        fprintf(f, " %s=%" PRIu64, name, t);
                break;
        }
        }
        return sd_bus_message_exit_container(m);
}

static char *udid_of_path(const char *path) {
        char *udid = NULL;

        if (sd_bus_path_decode(path, DEVICE_PREFIX, &udid) <= 0 || !udid)
                return strdup(path);
        return text_sanitize(udid);
}

/* monitor: a device's properties changed; one line with what a person cares about. */
static void device_properties_changed(Context *c, const char *path, sd_bus_message *m) {
        _cleanup_free_ char *udid = udid_of_path(path), *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        f = open_memstream(&text, &size);
        if (!f)
                return;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *job;

                r = sd_bus_message_read_basic(m, 's', &name);
                if (r < 0)
                        break;
                if (strcmp(name, "Job") == 0 &&
                    sd_bus_message_read(m, "v", "o", &job) >= 0) {
                        /* a job starts: follow it from here on */
                        if (strcmp(job, "/") != 0 && context_track_job(c, job, NULL) < 0)
                                log_error("Failed to follow %s.", job);
                        r = 0;
                } else if (is_progress_property(name))
                        r = sd_bus_message_skip(m, "v");
                else
                        r = format_property(f, name, m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (fclose(f) != 0 || r < 0 || !text)
                return;
        if (text[0])
                event_line(c, "%s:%s", udid ? udid : path, text);
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *path = sd_bus_message_get_path(m), *iface;

        if (!path || sd_bus_message_read_basic(m, 's', &iface) < 0)
                return 0;
        if (strcmp(iface, JOB_IFACE) == 0)
                job_properties_changed(c, path, m);
        else if (c->monitor && strcmp(iface, DEVICE_IFACE) == 0)
                device_properties_changed(c, path, m);
        return 0;
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        _cleanup_free_ char *udid = udid_of_path(sd_bus_message_get_path(m));
        _cleanup_free_ char *s = NULL, *why = NULL;
        const char *state, *reason;

        if (sd_bus_message_read(m, "ss", &state, &reason) < 0)
                return 0;
        s = strdup_sanitized(state);
        why = strdup_sanitized(reason);
        if (!s || !why)
                return 0;
        event_line(c, "%s: state %s%s%s", udid ? udid : "?", s, why[0] ? ": " : "", why);
        return 0;
}

static int on_interfaces_added(Context *c, sd_bus_message *m) {
        _cleanup_(device_info_done) DeviceInfo d = {};
        const char *path, *iface;
        bool device = false;
        Job *j = NULL;
        int r;

        r = sd_bus_message_read_basic(m, 'o', &path);
        if (r < 0)
                return r;
        if (strncmp(path, JOB_PREFIX "/", strlen(JOB_PREFIX "/")) == 0) {
                r = context_track_job(c, path, &j);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
                r = sd_bus_message_read_basic(m, 's', &iface);
                if (r < 0)
                        return r;
                if (strcmp(iface, DEVICE_IFACE) == 0) {
                        device = true;
                        r = map_properties(m, device_map, &d, NULL);
                } else if (j && strcmp(iface, JOB_IFACE) == 0)
                        r = job_apply(j, m);
                else
                        r = sd_bus_message_skip(m, "a{sv}");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        if (device) {
                _cleanup_free_ char *udid = udid_of_path(path);

                event_line(c, "%s: added%s%s%s", udid ? udid : path, isempty(d.name) ? "" : " (",
                           isempty(d.name) ? "" : d.name, isempty(d.name) ? "" : ")");
        }
        if (j) {
                job_announce(c, j, "started");
                job_show_progress(c, j);
        }
        return 0;
}

static int on_object_manager(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *path;

        if (sd_bus_message_is_signal(m, OBJECT_MANAGER_IFACE, "InterfacesAdded")) {
                if (on_interfaces_added(c, m) < 0)
                        log_error("Failed to parse an InterfacesAdded signal, ignoring.");
        } else if (sd_bus_message_is_signal(m, OBJECT_MANAGER_IFACE, "InterfacesRemoved") &&
                   sd_bus_message_read_basic(m, 'o', &path) >= 0 &&
                   strncmp(path, DEVICE_PREFIX "/", strlen(DEVICE_PREFIX "/")) == 0) {
                _cleanup_free_ char *udid = udid_of_path(path);

                event_line(c, "%s: removed", udid ? udid : path);
        }
        return 0;
}

/* The daemon's name lost its owner: a job waited for can never end, so stop waiting. */
static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            strcmp(name, BUS_NAME) != 0)
                return 0;

        if (!c->monitor) {
                if (isempty(new_owner)) {
                        screen_keep();
                        log_error("idevicesyncd exited before the job finished.");
                        (void) sd_event_exit(c->event, CLI_EXIT_FAILED);
                }
                return 0;
        }

        if (isempty(new_owner)) {
                context_remove_all_jobs(c);     /* its jobs are gone with it */
                event_line(c, "idevicesyncd stopped");
        } else if (isempty(old_owner))
                event_line(c, "idevicesyncd started");
        return 0;
}

/* A failed Cancel() is reported but does not end the wait: the job's own end still
 * decides the exit code; UnknownObject only means it ended first. */
static int on_cancel_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Context *c = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);

        c->cancel = sd_bus_slot_unref(c->cancel);
        if (e && !sd_bus_error_has_name(e, SD_BUS_ERROR_UNKNOWN_OBJECT))
                (void) log_bus_error(e, -sd_bus_message_get_errno(m), NULL,
                                     "Failed to cancel the job");
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Context *c = userdata;
        Job *j = c->n_jobs > 0 ? c->jobs[0] : NULL;
        int r;

        c->interrupts++;
        if (c->monitor) {
                screen_clear();
                return sd_event_exit(c->event, CLI_EXIT_DONE);
        }

        if (c->interrupts > 1 || !j) {
                screen_keep();
                log_error("Stopped waiting; the job may still be cancelling.");
                return sd_event_exit(c->event, 128 + (int) si->ssi_signo);
        }

        log_error("Cancelling %s (press Ctrl-C again to stop waiting)...", j->path);
        r = sd_bus_call_method_async(c->bus, &c->cancel, BUS_NAME, j->path, JOB_IFACE, "Cancel",
                                     on_cancel_reply, c, NULL);
        if (r < 0)
                log_error("Failed to cancel the job: %s", strerror(-r));
        screen_draw(c);
        return 0;
}

/* TTY: without updates (a stalled transfer) the rate must still fall and the ETA grow. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Context *c = userdata;
        int r;

        screen_draw(c);
        r = sd_event_source_set_time_relative(s, REDRAW_INTERVAL);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return r;
}

/* ---- the loop ------------------------------------------------------------------------ */

#define MATCH_PROPERTIES(ns)                                                                  \
        "type='signal',sender='" BUS_NAME "',interface='" PROPERTIES_IFACE "',"               \
        "member='PropertiesChanged',path_namespace='" ns "'"
#define MATCH_STATE_CHANGED                                                                   \
        "type='signal',sender='" BUS_NAME "',interface='" DEVICE_IFACE "',"                   \
        "member='StateChanged',path_namespace='" DEVICE_PREFIX "'"
#define MATCH_NAME_OWNER                                                                      \
        "type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"           \
        "interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" BUS_NAME "'"

static int context_add_match(Context *c, const char *match, sd_bus_message_handler_t cb) {
        sd_bus_slot *slot = NULL;
        int r;

        r = sd_bus_add_match(c->bus, &slot, match, cb, c);
        if (r < 0)
                return r;
        return context_keep_slot(c, slot);
}

/*
 * Everything a loop needs, before the first method call: signals (blocked, then handled
 * by the loop), the matches (installed synchronously, so nothing about a job started
 * afterwards can be missed), and on a TTY the redraw tick. Returns 0, or an exit code
 * (> 0, reported).
 */
static int context_setup(Context *c, sd_bus *bus, bool monitor, sd_event **ret) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        sd_bus_slot *slot = NULL;
        sigset_t mask;
        int r;

        c->bus = bus;
        c->monitor = monitor;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        r = sd_event_new(&event);
        if (r < 0)
                return r;
        c->event = event;
        if ((r = sd_event_add_signal(event, NULL, SIGINT, on_signal, c)) < 0 ||
            (r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, c)) < 0)
                return r;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;

        if (screen.tty) {
                r = sd_event_add_time_relative(event, &c->tick, CLOCK_MONOTONIC, REDRAW_INTERVAL,
                                               0, on_tick, c);
                if (r >= 0)
                        r = sd_event_source_set_enabled(c->tick, SD_EVENT_ONESHOT);
                if (r < 0)
                        return r;
        }

        r = sd_bus_match_signal(bus, &slot, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "JobRemoved",
                                on_job_removed, c);
        if (r >= 0)
                r = context_keep_slot(c, slot);
        if (r >= 0)
                r = context_add_match(c, monitor ? MATCH_PROPERTIES(MANAGER_PATH) :
                                                   MATCH_PROPERTIES(JOB_PREFIX),
                                      on_properties_changed);
        if (r >= 0)
                r = context_add_match(c, MATCH_NAME_OWNER, on_name_owner_changed);
        if (r >= 0 && monitor)
                r = context_add_match(c, MATCH_STATE_CHANGED, on_state_changed);
        if (r >= 0 && monitor) {
                r = sd_bus_match_signal(bus, &slot, BUS_NAME, MANAGER_PATH, OBJECT_MANAGER_IFACE,
                                        NULL, on_object_manager, c);
                if (r >= 0)
                        r = context_keep_slot(c, slot);
        }
        if (r < 0) {
                log_error("Failed to subscribe to the daemon's signals: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }

        *ret = TAKE_PTR(event);
        return 0;
}

static int context_run(Context *c) {
        int r;

        r = sd_event_loop(c->event);
        screen_clear();
        if (r < 0) {
                log_error("Event loop failed: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return r;
}

/*
 * Calls the method that starts a job. Without --wait prints the job's path; with --wait
 * follows the job to its end. Returns the exit code (0 done; > 0 reported), or a
 * negative errno.
 */
static int run_job(sd_bus *bus, sd_bus_message *call, const char *udid, const char *noun) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(context_done) Context c = { .noun = noun };
        const char *path;
        int r;

        if (arg_wait) {
                r = context_setup(&c, bus, false, &event);
                if (r != 0)
                        return r;
        }

        r = sd_bus_call(bus, call, 0, &error, &reply);
        if (r < 0)
                return log_bus_error(&error, r, udid, "Failed to start the job");
        r = sd_bus_message_read_basic(reply, 'o', &path);
        if (r < 0) {
                log_error("Failed to parse the reply: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }

        if (!arg_wait) {
                printf("%s\n", path);
                return CLI_EXIT_DONE;
        }

        printf("%s job %s started.\n", noun, path);
        fflush(stdout);
        r = context_track_job(&c, path, NULL);
        if (r < 0)
                return r;
        return context_run(&c);
}

/* wait: the job ended; show its last state and the outcome, and leave the loop. */
static void wait_finish(Context *c, Job *j, const char *result) {
        _cleanup_free_ char *res = strdup_sanitized(result);
        const char *noun = j->kind ? noun_of_kind(j->kind) : c->noun;
        int code = result_to_exit_code(result);

        /* if its signals did not say why, the job may still exist for a moment to tell */
        if (isempty(j->message) && code != CLI_EXIT_DONE) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                char *message = NULL;

                if (sd_bus_get_property_string(c->bus, BUS_NAME, j->path, JOB_IFACE, "Message",
                                               &error, &message) >= 0) {
                        free(j->message);
                        j->message = text_sanitize(message);
                }
        }

        if (screen.tty) {
                screen_clear();
                draw_job_line(c, j, terminal_columns());
                fputc('\n', stdout);
        } else
                job_print_plain(c, j, true);
        fflush(stdout);

        if (code == CLI_EXIT_DONE)
                printf("%s done%s%s\n", noun, isempty(j->message) ? "." : ": ",
                       isempty(j->message) ? "" : j->message);
        else if (code == CLI_EXIT_CANCELLED)
                log_error("%s cancelled%s%s", noun, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);
        else if (isempty(res) || strcmp(res, "failed") == 0)
                log_error("%s failed%s%s", noun, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);
        else
                log_error("%s failed (%s)%s%s", noun, res, isempty(j->message) ? "." : ": ",
                          isempty(j->message) ? "" : j->message);

        free(j->state);
        j->state = strdup("finished");
        (void) sd_event_exit(c->event, code);
}

/* ---- commands that start jobs -------------------------------------------------------- */

static int new_device_call(sd_bus *bus, const char *path, const char *member,
                           sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, BUS_NAME, path, DEVICE_IFACE, member);
}

/* backup: StartBackup({"full": b, "force": b}); both are always sent, so the daemon never
 * has to guess a default that could differ from the man page. */
static int verb_backup(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_path_of(argv[1], &path);
        if (r != 0)
                return r;
        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartBackup", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 2, "full", "b", arg_full, "force", "b",
                                          arg_force);
        if (r < 0)
                return r;
        return run_job(bus, call, argv[1], "Backup");
}

/* restore: StartRestore(id, target, {"reboot": b}) on the SOURCE device's object, which
 * exists even when that device is unplugged or gone. "" is its latest snapshot. */
static int verb_restore(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL, *target = NULL;
        int r;

        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        if (!arg_to) {
                log_error("restore needs --to=UDID: the device to restore onto.");
                return CLI_EXIT_USAGE;
        }
        r = device_path_of(arg_to, &target);    /* validates the target's UDID */
        if (r != 0)
                return r;
        r = device_path_of(udid, &path);
        if (r != 0)
                return r;
        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartRestore", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "ssa{sv}", id, arg_to, 1, "reboot", "b",
                                          arg_reboot);
        if (r < 0)
                return r;
        return run_job(bus, call, udid, "Restore");
}

static int verb_verify(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        int r;

        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        r = device_path_of(udid, &path);
        if (r != 0)
                return r;
        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartVerify", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "s", id);
        if (r < 0)
                return r;
        return run_job(bus, call, udid, "Verification");
}

/* ---- simple commands ----------------------------------------------------------------- */

/* Calls a method without a reply worth showing. Returns 0 or an exit code (reported). */
static int call_simple(const char *path, const char *iface, const char *member,
                       const char *udid, const char *what, const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        va_list ap;
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, iface, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(call, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }

        r = sd_bus_call(bus, call, 0, &error, &reply);
        if (r < 0)
                return log_bus_error(&error, r, udid, what);
        return CLI_EXIT_DONE;
}

static int verb_cancel(int argc, char **argv) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_path_of(argv[1], &path);
        if (r != 0)
                return r;
        return call_simple(path, DEVICE_IFACE, "Cancel", argv[1], "Failed to cancel", NULL);
}

/* delete-snapshot: only with an explicit id — "the latest" is too easy to get wrong here. */
static int verb_delete_snapshot(int argc, char **argv) {
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        int r;

        r = snapshot_arg(argv[1], true, &udid, &id);
        if (r != 0)
                return r;
        r = device_path_of(udid, &path);
        if (r != 0)
                return r;
        return call_simple(path, DEVICE_IFACE, "DeleteSnapshot", udid,
                           "Failed to delete the snapshot", "s", id);
}

static int verb_reload(int argc, char **argv) {
        return call_simple(MANAGER_PATH, MANAGER_IFACE, "Reload", NULL, "Failed to reload",
                           NULL);
}

/* ---- monitor ------------------------------------------------------------------------- */

/* The jobs that run when monitor starts, read synchronously (the matches are in place). */
static int monitor_seed(Context *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **paths = NULL;
        int r, running;

        r = sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
                               BUS_NAME);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to ask the bus");
        r = sd_bus_message_read(reply, "b", &running);
        if (r < 0)
                return r;
        if (!running) {
                event_line(c, "idevicesyncd is not running; waiting for it");
                return 0;
        }

        reply = sd_bus_message_unref(reply);
        r = sd_bus_call_method(c->bus, BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListJobs", &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to list jobs");
        r = read_object_paths(reply, &paths);
        if (r < 0)
                return r;

        /* asynchronous GetAll: the replies come in order with the jobs' signals */
        for (char **p = paths; p && *p; p++) {
                Job *j;

                r = context_track_job(c, *p, &j);
                if (r < 0)
                        return r;
                j->seeded = true;
        }
        return 0;
}

/* monitor: subscribe first, then look at what runs, then follow signals until SIGINT. */
static int verb_monitor(int argc, char **argv) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(context_done) Context c = {};
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;
        r = context_setup(&c, bus, true, &event);
        if (r != 0)
                return r;
        r = monitor_seed(&c);
        if (r != 0)
                return r;
        return context_run(&c);
}

/* ---- main ---------------------------------------------------------------------------- */

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Back up iPhones and iPads through idevicesyncd.\n"
               "\n"
               "Commands:\n"
               "  status                       Show every known device (the default)\n"
               "  list-snapshots UDID          List a device's snapshots\n"
               "  backup UDID                  Start a backup\n"
               "  cancel UDID                  Cancel the device's running job\n"
               "  restore SNAPSHOT --to=UDID   Restore a snapshot onto a device\n"
               "  verify SNAPSHOT              Verify a snapshot\n"
               "  delete-snapshot UDID/ID      Delete one snapshot\n"
               "  reload                       Reload the configuration and device policies\n"
               "  monitor                      Follow what the daemon does until Ctrl-C\n"
               "\n"
               "SNAPSHOT is UDID/ID, or UDID alone for the device's latest snapshot.\n"
               "\n"
               "Options:\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n"
               "     --no-pager      Accepted for compatibility; no pager is ever used\n"
               "     --no-legend     status, list-snapshots: no column headers\n"
               "     --full          backup: a full backup, not an incremental one\n"
               "     --force         backup: run now even if the policy says not now\n"
               "     --wait          backup, restore, verify: follow the job to its end\n"
               "     --to=UDID       restore: the device to restore onto\n"
               "     --no-reboot     restore: do not reboot the device afterwards\n"
               "\n"
               "Exit status: 0 done, 1 failed, 2 usage, 3 cancelled, 4 deferred or denied\n"
               "by policy, 5 access denied. See idevicesync(1).\n",
               program_invocation_short_name);
        return 0;
}

typedef struct Verb {
        const char *name;
        unsigned args;                  /* exactly this many arguments after the verb */
        const char *usage;              /* of the arguments, for messages */
        unsigned options;               /* OPT_* allowed */
        int (*run)(int argc, char **argv);
} Verb;

static const Verb verbs[] = {
        { "status", 0, "", OPT_NO_LEGEND, verb_status },
        { "list-snapshots", 1, "UDID", OPT_NO_LEGEND, verb_list_snapshots },
        { "backup", 1, "UDID", OPT_FULL | OPT_FORCE | OPT_WAIT, verb_backup },
        { "cancel", 1, "UDID", 0, verb_cancel },
        { "restore", 1, "SNAPSHOT", OPT_TO | OPT_NO_REBOOT | OPT_WAIT, verb_restore },
        { "verify", 1, "SNAPSHOT", OPT_WAIT, verb_verify },
        { "delete-snapshot", 1, "UDID/ID", 0, verb_delete_snapshot },
        { "reload", 0, "", 0, verb_reload },
        { "monitor", 0, "", 0, verb_monitor },
};

static const char *option_name(unsigned opt) {
        switch (opt) {
        case OPT_NO_LEGEND:
                return "--no-legend";
        case OPT_FULL:
                return "--full";
        case OPT_FORCE:
                return "--force";
        case OPT_WAIT:
                return "--wait";
        case OPT_TO:
                return "--to";
        case OPT_NO_REBOOT:
                return "--no-reboot";
        default:
                return "?";
        }
}

/* Returns 1 to go on, 0 to exit successfully (--help, --version), or CLI_EXIT_USAGE
 * as a negative number. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_NO_LEGEND,
                ARG_FULL,
                ARG_FORCE,
                ARG_WAIT,
                ARG_TO,
                ARG_NO_REBOOT,
                ARG_NO_PAGER,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "full", no_argument, NULL, ARG_FULL },
                { "force", no_argument, NULL, ARG_FORCE },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "to", required_argument, NULL, ARG_TO },
                { "no-reboot", no_argument, NULL, ARG_NO_REBOOT },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        printf("idevicesync %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        arg_given |= OPT_NO_LEGEND;
                        break;
                case ARG_FULL:
                        arg_full = true;
                        arg_given |= OPT_FULL;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        arg_given |= OPT_FORCE;
                        break;
                case ARG_WAIT:
                        arg_wait = true;
                        arg_given |= OPT_WAIT;
                        break;
                case ARG_TO:
                        arg_to = optarg;
                        arg_given |= OPT_TO;
                        break;
                case ARG_NO_REBOOT:
                        arg_reboot = false;
                        arg_given |= OPT_NO_REBOOT;
                        break;
                case ARG_NO_PAGER:
                        break;          /* never a pager: accepted as systemd's tools do */
                case '?':
                        return -CLI_EXIT_USAGE;         /* getopt said why */
                default:
                        assert(!"unhandled option");
                        return -CLI_EXIT_USAGE;
                }
        return 1;
}

/* Finds the verb, checks its arguments and options, and runs it. Returns an exit code. */
static int dispatch(int argc, char **argv) {
        const char *name = argc > 0 ? argv[0] : "status";
        const Verb *v = NULL;
        unsigned extra;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        v = &verbs[i];
        if (!v) {
                _cleanup_free_ char *n = strdup_sanitized(name);

                log_error("Unknown command '%s'; see '%s --help'.", n ? n : "?",
                          program_invocation_short_name);
                return CLI_EXIT_USAGE;
        }

        if ((unsigned) (argc > 0 ? argc - 1 : 0) != v->args) {
                if (v->args == 0)
                        log_error("'%s' takes no arguments.", v->name);
                else
                        log_error("'%s' needs one argument: %s.", v->name, v->usage);
                return CLI_EXIT_USAGE;
        }

        extra = arg_given & ~v->options;
        if (extra) {
                log_error("%s is not an option of '%s'.", option_name(extra & -extra), v->name);
                return CLI_EXIT_USAGE;
        }

        if (argc == 0) {
                static char status[] = "status";
                char *args[] = { status, NULL };

                r = v->run(1, args);
        } else
                r = v->run(argc, argv);
        if (r < 0) {
                log_error("%s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return r;
}

/*
 * main() - parse the command line and run one command.
 *
 * Returns the exit status of idevicesync(1): 0 done, 1 failed, 2 usage, 3 cancelled,
 * 4 denied by policy, 5 access denied, 128 + N when --wait was stopped by signal N.
 */
int main(int argc, char *argv[]) {
        int r;

        screen_init();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return -r;

        return dispatch(argc - optind, argv + optind);
}
