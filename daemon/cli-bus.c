/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CLI's plumbing (cli.h): the terminal and its progress region, reading a bus object's
 * properties into a struct, tables, errors worth a sentence, and connecting to the daemon.
 */
#include "cli.h"

/* ---- the terminal -------------------------------------------------------------------- */

/*
 * On a terminal, running jobs' progress lines sit below everything else (the region):
 * the cursor stays at the end of the last one, so one line is redrawn with "\r" and
 * more are erased by moving up. Whatever else is printed first erases the region; the
 * next redraw (an update or the one-second tick) brings it back.
 */
Screen screen;

void screen_init(void) {
        const char *term = getenv("TERM");

        screen.tty = isatty(STDOUT_FILENO) && !streq_ptr(term, "dumb");
}

size_t terminal_columns(void) {
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

void screen_clear(void) {
        if (screen.lines == 0)
                return;

        fputs("\r\033[K", stdout);
        for (size_t i = 1; i < screen.lines; i++)
                fputs("\033[A\033[K", stdout);
        screen.lines = 0;
        fflush(stdout);
}

/* Leave the progress lines on the screen as they are (the final state of a job). */
void screen_keep(void) {
        if (screen.lines == 0)
                return;
        fputc('\n', stdout);
        screen.lines = 0;
        fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
void log_error(const char *fmt, ...) {
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
int log_bus_error(const sd_bus_error *error, int r, const char *udid, const char *what) {
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
int map_properties(sd_bus_message *m, const PropertyMap *map, void *obj,
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

void table_done(Table *t) {
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        *t = (Table) {};
}

__attribute__((format(printf, 2, 3)))
int table_addf(Table *t, const char *fmt, ...) {
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

void table_print(const Table *t) {
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

void bus_closep(sd_bus **bus) {
        *bus = sd_bus_flush_close_unref(*bus);
}

int bus_connect(sd_bus **ret) {
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
int device_path_of(const char *udid, char **ret) {
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
        r = sd_bus_path_encode(BUS_PATH_DEVICE_PREFIX, canonical, ret);
        if (r < 0)
                return r;
        return 0;
}

/* device_path_of() and bus_connect() together, for the verbs about one device. */
int device_connect(const char *udid, char **ret_path, sd_bus **ret_bus) {
        int r;

        r = device_path_of(udid, ret_path);
        if (r != 0)
                return r;
        return bus_connect(ret_bus);
}

int snapshot_arg(const char *arg, bool need_id, char **ret_udid, char **ret_id) {
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
