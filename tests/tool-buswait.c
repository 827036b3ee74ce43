/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-buswait: wait on the system bus for what a test can observe, instead of sleeping.
 *
 *   tool-buswait prop PATH INTERFACE PROPERTY VALUE [VALUE...]
 *        until the property (s, o, b, u or t, compared as text) equals one of the values;
 *        prints the value that matched.
 *   tool-buswait get PATH INTERFACE PROPERTY
 *        print the current value (unescaped), once.
 *   tool-buswait object PATH
 *        until a device or job object exists at PATH.
 *   tool-buswait after MEMBER -- COMMAND [ARG...]
 *        subscribe to the Manager's signal MEMBER (JobRemoved, RequestAdded,
 *        RequestRemoved), run COMMAND, then wait for the first such signal after it and
 *        print its arguments separated by spaces. Exit 1 when COMMAND fails.
 *
 * It subscribes to PropertiesChanged/InterfacesAdded first and then reads the current
 * value, so nothing is missed. The bus is closed with sd_bus_flush_close_unref(): signals
 * read but not yet processed hold references to it, and a plain unref would leak it
 * (LeakSanitizer fails the tool under check-asan after a burst of signals). $BUSWAIT_TIMEOUT (seconds, default 120) is a hang guard,
 * not a timing assertion: exit 1 with the last value seen.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdbool.h>

#include <systemd/sd-bus.h>

static char last[512];

static int read_value(sd_bus *bus, const char *path, const char *iface, const char *prop) {
        sd_bus_error err = SD_BUS_ERROR_NULL;
        sd_bus_message *reply = NULL;
        const char *contents = NULL;
        char type;
        int r;

        /* Properties.Get by hand: sd_bus_get_property() wants the type up front. */
        r = sd_bus_call_method(bus, "org.idevicesync1", path, "org.freedesktop.DBus.Properties",
                               "Get", &err, &reply, "ss", iface, prop);
        sd_bus_error_free(&err);
        if (r < 0)
                return r;
        r = sd_bus_message_peek_type(reply, &type, &contents);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'v', contents);
        if (r >= 0) {
                switch (contents[0]) {
                case 's':
                case 'o': {
                        const char *s;
                        r = sd_bus_message_read_basic(reply, contents[0], &s);
                        if (r >= 0)
                                snprintf(last, sizeof(last), "%s", s);
                        break;
                }
                case 'b': {
                        int b;
                        r = sd_bus_message_read_basic(reply, 'b', &b);
                        if (r >= 0)
                                snprintf(last, sizeof(last), "%s", b ? "true" : "false");
                        break;
                }
                case 'u': {
                        uint32_t u;
                        r = sd_bus_message_read_basic(reply, 'u', &u);
                        if (r >= 0)
                                snprintf(last, sizeof(last), "%" PRIu32, u);
                        break;
                }
                case 't': {
                        uint64_t t;
                        r = sd_bus_message_read_basic(reply, 't', &t);
                        if (r >= 0)
                                snprintf(last, sizeof(last), "%" PRIu64, t);
                        break;
                }
                default:
                        r = -EINVAL;
                }
        }
        sd_bus_message_unref(reply);
        return r;
}

static char signal_args[1024];
static bool signal_seen;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        size_t o = 0;

        if (signal_seen)
                return 0;
        for (;;) {
                const char *contents = NULL, *v;
                char type;
                int r = sd_bus_message_peek_type(m, &type, &contents);

                if (r <= 0 || (type != 's' && type != 'o'))
                        break;
                if (sd_bus_message_read_basic(m, type, &v) < 0)
                        break;
                o += (size_t) snprintf(signal_args + o, sizeof(signal_args) - o, "%s%s",
                                       o ? " " : "", v);
                if (o >= sizeof(signal_args))
                        break;
        }
        signal_seen = true;
        return 0;
}

/* after MEMBER -- COMMAND...: see the top of the file. */
static int run_after(sd_bus *bus, int argc, char **argv, uint64_t limit) {
        char match[256];
        struct timespec ts;
        uint64_t deadline;
        pid_t pid;
        int status, r;

        if (argc < 5 || strcmp(argv[3], "--") != 0)
                return 2;
        snprintf(match, sizeof(match), "type='signal',sender='org.idevicesync1',"
                 "path='/org/idevicesync1',interface='org.idevicesync1.Manager',member='%s'",
                 argv[2]);
        r = sd_bus_add_match(bus, NULL, match, on_signal, NULL);
        if (r < 0)
                return 1;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                execvp(argv[4], argv + 4);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "tool-buswait: '%s' failed\n", argv[4]);
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000 + limit;
        while (!signal_seen) {
                uint64_t now;

                while (!signal_seen && (r = sd_bus_process(bus, NULL)) > 0)
                        ;
                if (signal_seen)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000;
                if (now >= deadline) {
                        fprintf(stderr, "tool-buswait: no %s signal\n", argv[2]);
                        return 1;
                }
                (void) sd_bus_wait(bus, deadline - now);
        }
        printf("%s\n", signal_args);
        return 0;
}

int main(int argc, char **argv) {
        const char *t = getenv("BUSWAIT_TIMEOUT");
        uint64_t deadline, limit = (t ? strtoull(t, NULL, 10) : 120) * 1000000ull;
        struct timespec ts;
        sd_bus *bus = NULL;
        int r;

        if (argc < 3 || (strcmp(argv[1], "prop") == 0 && argc < 6)) {
                fprintf(stderr, "usage: tool-buswait prop PATH IFACE PROP VALUE...|object PATH\n");
                return 2;
        }
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                fprintf(stderr, "tool-buswait: cannot connect: %s\n", strerror(-r));
                return 1;
        }
        /* Any signal from the daemon wakes us up; then we re-read. */
        r = sd_bus_add_match(bus, NULL, "type='signal',sender='org.idevicesync1'", NULL, NULL);
        if (r < 0) {
                sd_bus_flush_close_unref(bus);
                return 1;
        }
        if (strcmp(argv[1], "after") == 0) {
                r = run_after(bus, argc, argv, limit);
                sd_bus_flush_close_unref(bus);
                return r;
        }
        if (strcmp(argv[1], "get") == 0 && argc == 5) {
                r = read_value(bus, argv[2], argv[3], argv[4]);
                printf("%s\n", last);
                sd_bus_flush_close_unref(bus);
                return r < 0 ? 1 : 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        deadline = (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000 + limit;

        for (;;) {
                uint64_t now;

                if (strcmp(argv[1], "prop") == 0) {
                        if (read_value(bus, argv[2], argv[3], argv[4]) >= 0)
                                for (int i = 5; i < argc; i++)
                                        if (strcmp(last, argv[i]) == 0) {
                                                printf("%s\n", last);
                                                sd_bus_flush_close_unref(bus);
                                                return 0;
                                        }
                } else if (read_value(bus, argv[2], strstr(argv[2], "/job/") ?
                                      "org.idevicesync1.Job" : "org.idevicesync1.Device",
                                      strstr(argv[2], "/job/") ? "Kind" : "UDID") >= 0) {
                        printf("%s\n", last);
                        sd_bus_flush_close_unref(bus);
                        return 0;
                }
                clock_gettime(CLOCK_MONOTONIC, &ts);
                now = (uint64_t) ts.tv_sec * 1000000ull + (uint64_t) ts.tv_nsec / 1000;
                if (now >= deadline) {
                        fprintf(stderr, "tool-buswait: timed out, last value '%s'\n", last);
                        printf("%s\n", last);
                        sd_bus_flush_close_unref(bus);
                        return 1;
                }
                /* Drain, then block until the next message (or the deadline). */
                while ((r = sd_bus_process(bus, NULL)) > 0)
                        ;
                (void) sd_bus_wait(bus, deadline - now);
        }
}
