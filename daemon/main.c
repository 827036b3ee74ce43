/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idevicesyncd: back up iPhones and iPads when they are plugged in, visible and
 * controllable over D-Bus (org.idevicesync1). See idevicesyncd(8).
 *
 *   idevicesyncd [--exit-idle-time=SECONDS] [--debug]
 *   idevicesyncd --worker KIND UDID              (internal: a job helper, see worker.h)
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "idevicesync.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "notify.h"
#include "worker.h"

#define DEFAULT_EXIT_IDLE_SEC 300

static unsigned long arg_exit_idle_sec = DEFAULT_EXIT_IDLE_SEC;

static void help(void) {
        printf("idevicesyncd [OPTIONS]\n\n"
               "Back up Apple devices when they are connected; D-Bus service org.idevicesync1.\n\n"
               "  -h --help                  Show this help\n"
               "     --version               Show the version\n"
               "     --exit-idle-time=SEC    Exit after SEC seconds without a device, a job or\n"
               "                             a client (0: never; default %d)\n"
               "     --debug                 Log debug messages\n",
               DEFAULT_EXIT_IDLE_SEC);
}

static void lib_debug(const char *msg) {
        log_debug("libidevicesync: %s", msg);
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_VERSION = 0x100, ARG_EXIT_IDLE, ARG_DEBUG };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "exit-idle-time", required_argument, NULL, ARG_EXIT_IDLE },
                { "debug", no_argument, NULL, ARG_DEBUG },
                {}
        };
        char *end;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("idevicesyncd %s\n", "0.1");
                        return 0;
                case ARG_EXIT_IDLE:
                        errno = 0;
                        arg_exit_idle_sec = strtoul(optarg, &end, 10);
                        if (errno || *end || !*optarg || optarg[0] == '-') {
                                log_error("Invalid --exit-idle-time= value '%s'", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_DEBUG:
                        log_set_max_level(LOG_DEBUG);
                        ids_set_debug_log(lib_debug);
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("%s takes no arguments", argv[0]);
                return -EINVAL;
        }
        return 1;
}

static int run(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        r = manager_new(&m);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the manager: %m");
        m->idle_timeout = (uint64_t) arg_exit_idle_sec * 1000000ull;

        r = manager_start(m);
        if (r < 0)
                return r;               /* already logged */

        (void) notifier_send(m->notifier, "READY=1");
        manager_update_status(m);
        log_info("idevicesyncd ready, state in %s", m->state_dir);
        r = sd_event_loop(m->event);
        (void) notifier_send(m->notifier, "STOPPING=1");
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

int main(int argc, char **argv) {
        sigset_t ss;
        int r;

        if (argc > 1 && strcmp(argv[1], "--worker") == 0)
                return worker_main(argc, argv);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        /* Before any thread exists: children are reaped through sd-event, and the signals
         * sd-event turns into events must reach no thread of libusbmuxd. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = run();
        return r < 0 ? 1 : 0;
}
