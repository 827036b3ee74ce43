/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idevicesync files / extract: browse a snapshot and write decrypted copies of its files.
 * The service does the reading (the store and the backup password stay with it); the CLI
 * only hands it a pipe for the listing or the directory it opened for the copies. A
 * backup password the person types goes to the service through a pipe too, never in a
 * bus message or argv.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "cli.h"

/* Ask on the terminal, without echo. The password, or NULL (no terminal, or nothing
 * typed). The caller wipes and frees it. */
static char *ask_password(const char *udid) {
        _cleanup_(fclosep) FILE *tty = fopen("/dev/tty", "r+e");
        struct termios old, quiet;
        char *line = NULL;
        size_t n = 0;
        ssize_t k;

        if (!tty)
                return NULL;
        fprintf(tty, "Backup password for %s: ", udid);
        fflush(tty);
        if (tcgetattr(fileno(tty), &old) < 0)
                return NULL;
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t) ECHO;
        (void) tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        k = getline(&line, &n, tty);
        (void) tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputc('\n', tty);
        if (k <= 0) {
                free(line);
                return NULL;
        }
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
                line[--k] = 0;
        if (k == 0) {
                free(line);
                return NULL;
        }
        return line;
}

/* A pipe whose read end (returned) holds password, for the "password" option. */
static int password_pipe(char *password) {
        int p[2];
        size_t len = strlen(password);
        ssize_t k;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        k = write(p[1], password, len);         /* far below the pipe's buffer */
        close(p[1]);
        if (k < 0 || (size_t) k != len) {
                close(p[0]);
                return -EIO;
        }
        return p[0];
}

static void password_free(char *pw) {
        if (pw) {
                explicit_bzero(pw, strlen(pw));
                free(pw);
        }
}

/* With --ask-password, or on a second attempt: ask, and put the answer in a pipe. 0 with
 * *ret_fd (-EBADF when not asking), or an exit code. */
static int password_option(const char *udid, bool ask, int *ret_fd) {
        char *pw;
        int fd;

        *ret_fd = -EBADF;
        if (!ask)
                return 0;
        pw = ask_password(udid);
        if (!pw) {
                log_error("No password given.");
                return CLI_EXIT_FAILED;
        }
        fd = password_pipe(pw);
        password_free(pw);
        if (fd < 0) {
                log_error("Cannot pass the password: %s", strerror(-fd));
                return CLI_EXIT_FAILED;
        }
        *ret_fd = fd;
        return 0;
}

/* a{sv} with "password" when password_fd >= 0, and "all" when with_all. */
static int append_options(sd_bus_message *m, int password_fd, bool with_all) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");

        if (r >= 0 && password_fd >= 0)
                r = sd_bus_message_append(m, "{sv}", "password", "h", password_fd);
        if (r >= 0 && with_all)
                r = sd_bus_message_append(m, "{sv}", "all", "b", arg_all);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* "domain TAB path TAB size TAB mtime TAB type TAB flags" (fields may be empty). Returns
 * whether it was a regular file. */
static bool print_file_line(char *line, bool *header) {
        char *f[6], when[32] = "-";
        size_t n = 0;
        long long mtime;

        while (n < 6 && line)
                f[n++] = strsep(&line, "\t");
        if (n != 6 || line)
                return false;
        mtime = strtoll(f[3], NULL, 10);
        if (mtime > 0) {
                time_t t = (time_t) mtime;
                struct tm tm;

                if (localtime_r(&t, &tm))
                        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
        }
        if (*header) {
                printf("%12s  %-16s  %s\n", "SIZE", "MODIFIED", "DOMAIN/PATH [FLAGS]");
                *header = false;
        }
        text_sanitize(f[0]);
        text_sanitize(f[1]);
        printf("%12s  %-16s  %s%s%s%s%s%s%s\n", strcmp(f[4], "file") == 0 ? f[2] : "-", when,
               f[0], f[1][0] ? "/" : "", f[1], strcmp(f[4], "dir") == 0 ? "/" : "",
               strcmp(f[4], "symlink") == 0 ? " (symlink)" : "",
               strcmp(f[5], "-") != 0 ? " " : "", strcmp(f[5], "-") != 0 ? f[5] : "");
        return strcmp(f[4], "file") == 0;
}

/* The listing's job: its helper closes the pipe, and the job ends a moment later, when
 * the service has reaped it. `files` returns only then, so that the next command does not
 * find the device's job still running. */
typedef struct JobWait {
        char *path;
        bool removed;
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *job = NULL, *result = NULL;

        if (w->path && sd_bus_message_read(m, "os", &job, &result) >= 0 &&
            strcmp(job, w->path) == 0)
                w->removed = true;
        return 0;
}

/* Until w's JobRemoved arrived, or 30 s (a service that went away). */
static void job_wait(sd_bus *bus, JobWait *w) {
        uint64_t until = now_usec(CLOCK_MONOTONIC) + 30 * UINT64_C(1000000);

        while (w->path && !w->removed) {
                uint64_t t = now_usec(CLOCK_MONOTONIC);
                int r = sd_bus_process(bus, NULL);

                if (r < 0 || t >= until)
                        return;
                if (r == 0 && sd_bus_wait(bus, until - t) < 0)
                        return;
        }
}

/* One ListFiles(); *ret_result gets the last line's result word. */
static int list_once(sd_bus *bus, const char *path, const char *udid, const char *id,
                     const char *prefix, int password_fd, char result[64]) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(fclosep) FILE *in = NULL;
        _cleanup_free_ char *line = NULL;
        bool header = arg_legend, ended = false;
        JobWait w = {};
        const char *job = NULL;
        size_t n = 0;
        uint64_t files = 0, others = 0;
        int p[2], r;

        result[0] = 0;
        /* Before the call: its JobRemoved cannot come earlier. Without it, no wait. */
        (void) sd_bus_match_signal(bus, &slot, BUS_NAME, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                   "JobRemoved", on_job_removed, &w);
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, BUS_IFACE_DEVICE,
                                           "ListFiles");
        if (r >= 0)
                r = sd_bus_message_append(call, "sssh", id, arg_domain ?: "", prefix, p[1]);
        if (r >= 0)
                r = append_options(call, password_fd, false);
        if (r >= 0)
                r = sd_bus_call(bus, call, 0, &error, &reply);
        close(p[1]);
        call = sd_bus_message_unref(call);      /* its copy of the write end too */
        if (r < 0) {
                close(p[0]);
                return log_bus_error(&error, r, udid, "Failed to list the files");
        }
        if (slot && sd_bus_message_read(reply, "o", &job) >= 0)
                w.path = strdup(job);
        in = fdopen(p[0], "re");
        if (!in) {
                close(p[0]);
                free(w.path);
                return -errno;
        }
        while (getline(&line, &n, in) > 0) {
                line[strcspn(line, "\n")] = 0;
                if (line[0] == 'F' && line[1] == '\t') {
                        if (print_file_line(line + 2, &header))
                                files++;
                        else
                                others++;
                } else if (line[0] == 'E' && line[1] == '\t') {
                        char *word = line + 2, *msg = strchr(word, '\t');

                        if (msg)
                                *msg++ = 0;
                        snprintf(result, 64, "%s", word);
                        if (strcmp(word, "done") != 0 && strcmp(word, "wrong-password") != 0)
                                log_error("Listing the files failed (%s): %s", word,
                                          text_sanitize(msg ?: (char *) ""));
                        ended = true;
                }
        }
        fflush(stdout);
        job_wait(bus, &w);
        free(w.path);
        if (!ended) {
                log_error("The listing ended without its result.");
                return CLI_EXIT_FAILED;
        }
        if (strcmp(result, "done") == 0 && arg_legend)
                fprintf(stderr, "%" PRIu64 " files, %" PRIu64 " directories and others.\n",
                        files, others);
        return strcmp(result, "done") == 0 ? CLI_EXIT_DONE : result_to_exit_code(result);
}

int verb_files(int argc, char **argv) {
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        char result[64];
        int r, pfd = -EBADF;

        if (argc > 3) {
                log_error("'files' takes a snapshot and at most one path prefix.");
                return CLI_EXIT_USAGE;
        }
        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        r = device_connect(udid, &path, &bus);
        if (r != 0)
                return r;
        for (unsigned attempt = 0;; attempt++) {
                r = password_option(udid, arg_ask_password || attempt > 0, &pfd);
                if (r != 0)
                        return r;
                r = list_once(bus, path, udid, id, argc == 3 ? argv[2] : "", pfd, result);
                if (pfd >= 0)
                        close(pfd);
                pfd = -EBADF;
                if (strcmp(result, "wrong-password") != 0)
                        return r;
                if (attempt > 0 || arg_ask_password || !isatty(STDIN_FILENO)) {
                        log_error("The snapshot is encrypted and the password does not open "
                                  "it%s.", isatty(STDIN_FILENO) ? "" :
                                  " (on a terminal, --ask-password asks for another)");
                        return CLI_EXIT_FAILED;
                }
        }
}

int verb_extract(int argc, char **argv) {
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        _cleanup_(closep) int dir = -EBADF;
        char result[64];
        int r;

        if (!arg_to) {
                log_error("extract needs --to=DIR: the directory to write the copies into.");
                return CLI_EXIT_USAGE;
        }
        if ((argc - 2) % 2 != 0) {
                log_error("extract takes DOMAIN PATH pairs after the snapshot.");
                return CLI_EXIT_USAGE;
        }
        if (argc == 2 && !arg_all && !arg_domain) {
                log_error("Name what to extract: DOMAIN PATH pairs, --domain=DOMAIN or --all.");
                return CLI_EXIT_USAGE;
        }
        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        /* Opened here, as the caller: the service cannot open the caller's directory. */
        if (mkdir(arg_to, 0700) < 0 && errno != EEXIST) {
                log_error("Cannot create %s: %s", arg_to, strerror(errno));
                return CLI_EXIT_FAILED;
        }
        dir = open(arg_to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) {
                log_error("Cannot open %s: %s", arg_to, strerror(errno));
                return CLI_EXIT_FAILED;
        }
        r = device_connect(udid, &path, &bus);
        if (r != 0)
                return r;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
                _cleanup_(closep) int pfd = -EBADF;

                r = password_option(udid, arg_ask_password || attempt > 0, &pfd);
                if (r != 0)
                        return r;
                r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, BUS_IFACE_DEVICE,
                                                   "Extract");
                if (r >= 0)
                        r = sd_bus_message_append(call, "s", id);
                if (r >= 0)
                        r = sd_bus_message_open_container(call, 'a', "(ss)");
                for (int i = 2; r >= 0 && i + 1 < argc; i += 2)
                        r = sd_bus_message_append(call, "(ss)", argv[i], argv[i + 1]);
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
                if (r >= 0)
                        r = sd_bus_message_append(call, "ssh", arg_domain ?: "", "", dir);
                if (r >= 0)
                        r = append_options(call, pfd, true);
                if (r < 0)
                        return r;
                r = run_job_result(bus, call, udid, "Extract", result);
                if (strcmp(result, "wrong-password") != 0 || attempt > 0 ||
                    arg_ask_password || !isatty(STDIN_FILENO))
                        return r;
        }
}
