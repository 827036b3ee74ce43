/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fakeidevice: usbmuxd plus emulated iPhones for tests, and the tools that make and change
 * their content.
 *
 *   fakeidevice --socket PATH [--control PATH] [--tcp HOST:PORT] [-v]
 *               [--backup-password PW] [--backup-kdf-iterations DPIC:ITER|realistic]
 *               --device UDID=PROFILE_DIR[,untrusted][,locked][,detached] [--device ...]
 *   fakeidevice gen-profile DIR --seed S [--name NAME] [--product P] [--ios V] [--files N]
 *               [--bytes SIZE] [--photos N] [--apps N] [--crashlogs N] [--pim]
 *               [--contacts N] [--events N] [--bookmarks N] [--notes N] [--recordings N]
 *               [--media] [--media-hostile] [--songs N]
 *               [--new-phone]
 *   fakeidevice mutate DIR --seed S [--change N] [--add N] [--delete N] [--photos-add N]
 *               [--photos-rename N] [--photos-move N] [--photos-delete N]
 *               [--documents-add N] [--documents-change N] [--documents-delete N]
 *               [--pim-change N] [--pim-add N] [--pim-delete N] [--media-add N]
 *   fakeidevice ctl CONTROL_PATH COMMAND [ARG...]
 *
 * Control commands (one line each, answered "ok ..." or "err ..."): list, quit, attach|detach|
 * reboot|trust|deny|lock|unlock UDID, battery UDID PERCENT CHARGING, stats UDID, stats-reset
 * UDID, crash UDID N, doc UDID BUNDLE_ID RELPATH [BYTES] (rewrite one app document, RELPATH
 * percent-decoded, see profile-docs.c), fault UDID MODE [ARG] (afc.c, backup.c),
 * backup-password UDID PW|off (set or clear the backup password, as ChangePassword does,
 * without asking for the old one; PW without blanks).
 *
 * gen-profile --pim adds every personal database (contacts, calendars, bookmarks, notes,
 * voice memos) with default counts; --contacts N etc. add one kind. They come on top of
 * --files/--bytes; mutate --pim-change/--pim-add/--pim-delete change them (profile-pim.h).
 * gen-profile --media adds what a computer once synced (music, videos, books, ringtones with
 * MediaLibrary.sqlitedb and the plists, profile-itunes.c; --media-hostile with rows that point
 * outside; --songs N: N songs of about 1 MiB instead); mutate --media-add N adds songs.
 * gen-profile --new-phone is a preset (emu.h): activated, no user data, a small backup;
 * the options after it change it.
 *
 * --backup-password gives every device that backup password, as if `idevicebackup2 encryption
 * on PW` had run: WillEncrypt is true and backups are encrypted as iOS does (backup-crypt.c).
 * --backup-kdf-iterations sets the PBKDF2 rounds of the keybags the devices make: DPIC for
 * PBKDF2-SHA256, ITER for PBKDF2-SHA1; default 1000:1000 (fast tests), `realistic` is iOS's
 * 10000000:10000.
 *
 * The server prints READY once every socket listens. The main thread only accepts; each
 * accepted socket gets a thread (usbmux client or control client). On quit (control `quit`,
 * SIGTERM, SIGINT) the usbmux socket is unlinked first, every stream is cut, every thread
 * joined and everything freed, so valgrind sees no leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "device.h"
#include "emu.h"

typedef enum WorkerKind { WORKER_USBMUX, WORKER_CONTROL } WorkerKind;

typedef struct Worker {
        pthread_t thread;
        int fd;                 /* -1 once the thread closed it; guarded by the global lock */
        WorkerKind kind;
        bool done;
        struct Worker *next;
} Worker;

static Worker *workers;                 /* guarded by the global lock */
static int wake_pipe[2] = { -1, -1 };   /* threads and signals wake the accept loop */
static const char *arg_socket;
static const char *arg_control;
static const char *arg_tcp;
static const char *arg_backup_password;

static void wake_main(void) {
        char b = 1;

        (void) !write(wake_pipe[1], &b, 1);
}

static void on_signal(int sig) {
        int saved = errno;

        emu_quitting = true;    /* read under the lock by everyone else; a plain store here */
        wake_main();
        errno = saved;
}

/* ---- control socket ---------------------------------------------------------------- */

static void control_stats(Device *d, char *reply, size_t n) {
        snprintf(reply, n,
                 "ok connections=%llu sessions=%llu bytes_sent=%llu bytes_received=%llu "
                 "files_sent=%llu "
                 "files_received=%llu attached=%d locked=%d trust=%s afc_removes=%llu "
                 "dcim_removes=%llu crash_removes=%llu afc_read_bytes=%llu afc_opens=%llu "
                 "doc_writes=%llu doc_removes=%llu doc_renames=%llu",
                 (unsigned long long) d->stats.connections,
                 (unsigned long long) d->stats.sessions,
                 (unsigned long long) d->stats.bytes_sent,
                 (unsigned long long) d->stats.bytes_received,
                 (unsigned long long) d->stats.files_sent,
                 (unsigned long long) d->stats.files_received, d->attached, d->locked,
                 d->trust == TRUST_YES ? "yes" : d->trust == TRUST_PENDING ? "pending" : "denied",
                 (unsigned long long) d->stats.afc_removes,
                 (unsigned long long) d->stats.dcim_removes,
                 (unsigned long long) d->stats.crash_removes,
                 (unsigned long long) d->stats.afc_read_bytes,
                 (unsigned long long) d->stats.afc_opens,
                 (unsigned long long) d->stats.doc_writes,
                 (unsigned long long) d->stats.doc_removes,
                 (unsigned long long) d->stats.doc_renames);
}

/* Execute one control line; the global lock is held. Returns true on `quit`. */
static bool control_command(char *line, char *reply, size_t n) {
        char *argv[8];
        int argc = 0;
        Device *d = NULL;

        for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && argc < 8;
             t = strtok_r(NULL, " \t\r\n", &save))
                argv[argc++] = t;
        if (argc == 0) {
                snprintf(reply, n, "err empty command");
                return false;
        }
        if (strcmp(argv[0], "quit") == 0) {
                snprintf(reply, n, "ok quitting");
                return true;
        }
        if (strcmp(argv[0], "list") == 0) {
                size_t off = (size_t) snprintf(reply, n, "ok");
                for (Device *x = emu_devices; x && off < n; x = x->next)
                        off += (size_t) snprintf(reply + off, n - off, " %s=%s", x->udid,
                                                 x->attached ? "attached" : "detached");
                return false;
        }
        if (argc < 2) {
                snprintf(reply, n, "err usage: %s UDID ...", argv[0]);
                return false;
        }
        d = device_find_udid(argv[1]);
        if (!d) {
                snprintf(reply, n, "err unknown device '%s'", argv[1]);
                return false;
        }

        if (strcmp(argv[0], "attach") == 0) {
                device_attach(d);
                snprintf(reply, n, "ok attached %s id=%u", d->udid, d->mux_id);
        } else if (strcmp(argv[0], "detach") == 0) {
                device_detach(d);
                snprintf(reply, n, "ok detached %s", d->udid);
        } else if (strcmp(argv[0], "reboot") == 0) {
                device_detach(d);
                backup_on_reboot(d);
                device_attach(d);
                snprintf(reply, n, "ok rebooted %s id=%u", d->udid, d->mux_id);
        } else if (strcmp(argv[0], "trust") == 0) {
                d->trust = TRUST_YES;
                emu_broadcast();
                snprintf(reply, n, "ok trusted %s", d->udid);
        } else if (strcmp(argv[0], "deny") == 0) {
                d->trust = TRUST_DENIED;
                emu_broadcast();
                snprintf(reply, n, "ok denied %s", d->udid);
        } else if (strcmp(argv[0], "lock") == 0) {
                d->locked = true;
                emu_broadcast();
                snprintf(reply, n, "ok locked %s", d->udid);
        } else if (strcmp(argv[0], "unlock") == 0) {
                d->locked = false;
                emu_broadcast();
                snprintf(reply, n, "ok unlocked %s", d->udid);
        } else if (strcmp(argv[0], "battery") == 0) {
                char *end;
                long pct = argc == 4 ? strtol(argv[2], &end, 10) : -1;

                if (argc != 4 || *end || pct < 0 || pct > 100 ||
                    (strcmp(argv[3], "0") != 0 && strcmp(argv[3], "1") != 0))
                        snprintf(reply, n, "err usage: battery UDID PERCENT(0-100) CHARGING(0|1)");
                else {
                        d->battery = (int) pct;
                        d->charging = argv[3][0] == '1';
                        snprintf(reply, n, "ok battery %s %ld%% charging=%d", d->udid, pct,
                                 d->charging);
                }
        } else if (strcmp(argv[0], "stats") == 0)
                control_stats(d, reply, n);
        else if (strcmp(argv[0], "stats-reset") == 0) {
                d->stats.afc_removes = d->stats.dcim_removes = d->stats.crash_removes = 0;
                d->stats.afc_read_bytes = d->stats.afc_opens = 0;
                d->stats.doc_writes = d->stats.doc_removes = d->stats.doc_renames = 0;
                snprintf(reply, n, "ok stats-reset %s", d->udid);
        } else if (strcmp(argv[0], "crash") == 0) {
                char *end;
                long count = argc == 3 ? strtol(argv[2], &end, 10) : -1;
                int r;

                if (argc != 3 || *end || count < 0 || count > 10000)
                        snprintf(reply, n, "err usage: crash UDID N(0-10000)");
                else if ((r = crash_add(d->profile_dir, (unsigned) count)) < 0)
                        snprintf(reply, n, "err cannot write crash reports: %s", strerror(-r));
                else
                        snprintf(reply, n, "ok crash %s %ld", d->udid, count);
        } else if (strcmp(argv[0], "doc") == 0)
                documents_doc_command(d->profile_dir, d->udid, argc - 2, argv + 2, reply, n);
        else if (strcmp(argv[0], "backup-password") == 0) {
                if (argc != 3)
                        snprintf(reply, n, "err usage: backup-password UDID PW|off");
                else if (strcmp(argv[2], "off") == 0) {
                        backup_clear_password(d);
                        snprintf(reply, n, "ok backup-password %s off", d->udid);
                } else if (backup_set_password(d, argv[2]) < 0)
                        snprintf(reply, n, "err invalid backup password");
                else
                        snprintf(reply, n, "ok backup-password %s set", d->udid);
        } else if (strcmp(argv[0], "fault") == 0) {
                if (argc < 3)
                        snprintf(reply, n, "err usage: fault UDID MODE [ARG]");
                else if (!afc_fault_command(d, argc - 2, argv + 2, reply, n)) {
                        if (strcmp(argv[2], "none") == 0)
                                afc_faults_clear(d);
                        backup_fault_command(d, argc - 2, argv + 2, reply, n);
                }
                emu_broadcast();
        } else
                snprintf(reply, n, "err unknown command '%s'", argv[0]);
        return false;
}

static void control_serve(int fd) {
        FILE *f = fdopen(dup(fd), "r");
        char line[1024], reply[1024];

        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                bool quit;
                size_t len;

                emu_lock();
                quit = control_command(line, reply, sizeof(reply) - 1);
                emu_unlock();
                log_debug("control: %s", reply);
                len = strlen(reply);
                reply[len++] = '\n';
                (void) !send(fd, reply, len, MSG_NOSIGNAL);
                if (quit) {
                        emu_quitting = true;
                        wake_main();
                        break;
                }
        }
        fclose(f);
}

/* ---- threads ------------------------------------------------------------------------- */

static void *worker_main(void *arg) {
        Worker *w = arg;

        if (w->kind == WORKER_USBMUX)
                usbmux_serve(w->fd);
        else
                control_serve(w->fd);

        emu_lock();
        close(w->fd);
        w->fd = -1;
        w->done = true;
        emu_unlock();
        wake_main();
        return NULL;
}

static void spawn_worker(int fd, WorkerKind kind) {
        Worker *w = calloc(1, sizeof(*w));

        if (!w) {
                close(fd);
                return;
        }
        w->fd = fd;
        w->kind = kind;
        emu_lock();
        w->next = workers;
        workers = w;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
                workers = w->next;
                close(fd);
                free(w);
                log_warn("Cannot start a thread, dropping client");
        }
        emu_unlock();
}

/* Join finished threads (all of them when every stream has been cut). */
static void reap_workers(bool all) {
        for (;;) {
                Worker *w = NULL;

                emu_lock();
                for (Worker **p = &workers; *p; p = &(*p)->next)
                        if ((*p)->done || all) {
                                w = *p;
                                *p = w->next;
                                break;
                        }
                emu_unlock();
                if (!w)
                        return;
                pthread_join(w->thread, NULL);
                free(w);
        }
}

/* ---- sockets ------------------------------------------------------------------------- */

static int listen_unix(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path)) {
                log_warn("Socket path '%s' is too long", path);
                return -ENAMETOOLONG;
        }
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);           /* a stale socket of an earlier run */
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                log_warn("Cannot listen on '%s': %s", path, strerror(-r));
                close(fd);
                return r;
        }
        return fd;
}

static int listen_tcp(const char *spec) {
        _cleanup_(freep) char *host = strdup(spec);
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
        struct addrinfo *ai = NULL;
        char *port;
        int fd, one = 1;

        if (!host)
                return -ENOMEM;
        port = strrchr(host, ':');
        if (!port || port == host) {
                log_warn("--tcp needs HOST:PORT, got '%s'", spec);
                return -EINVAL;
        }
        *port++ = 0;
        if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
                log_warn("Cannot resolve '%s'", spec);
                return -EINVAL;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
                        log_warn("Cannot listen on '%s': %s", spec, strerror(errno));
                        close(fd);
                        fd = -1;
                }
        }
        freeaddrinfo(ai);
        return fd < 0 ? -EADDRNOTAVAIL : fd;
}

/* ---- server ---------------------------------------------------------------------------- */

static int add_device_arg(const char *arg) {
        _cleanup_(freep) char *copy = strdup(arg);
        char *eq, *opts, *save = NULL;
        bool untrusted = false, locked = false, detached = false;
        Device *d = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        eq = strchr(copy, '=');
        if (!eq) {
                log_warn("--device needs UDID=PROFILE_DIR[,flags], got '%s'", arg);
                return -EINVAL;
        }
        *eq = 0;
        opts = strchr(eq + 1, ',');
        if (opts)
                *opts++ = 0;
        for (char *t = opts ? strtok_r(opts, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
                if (strcmp(t, "untrusted") == 0)
                        untrusted = true;
                else if (strcmp(t, "locked") == 0)
                        locked = true;
                else if (strcmp(t, "detached") == 0)
                        detached = true;
                else {
                        log_warn("Unknown device flag '%s' (untrusted, locked, detached)", t);
                        return -EINVAL;
                }
        }
        if (device_find_udid(copy)) {
                log_warn("Device '%s' given twice", copy);
                return -EEXIST;
        }

        r = device_new(copy, eq + 1, &d);
        if (r < 0)
                return r;
        d->trust = untrusted ? TRUST_PENDING : TRUST_YES;
        d->locked = locked;
        /* Keep the command-line order: append. */
        Device **p = &emu_devices;
        while (*p)
                p = &(*p)->next;
        *p = d;
        if (!detached)
                device_attach(d);
        return 0;
}

static int serve(void) {
        int mux_fd = -1, ctl_fd = -1, tcp_fd = -1, r = 0;
        struct sigaction sa = { .sa_handler = on_signal };

        if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        mux_fd = listen_unix(arg_socket);
        if (mux_fd < 0)
                return mux_fd;
        if (arg_control) {
                ctl_fd = listen_unix(arg_control);
                if (ctl_fd < 0) {
                        r = ctl_fd;
                        goto out;
                }
        }
        if (arg_tcp) {
                tcp_fd = listen_tcp(arg_tcp);
                if (tcp_fd < 0) {
                        r = tcp_fd;
                        goto out;
                }
        }

        printf("READY\n");
        fflush(stdout);

        while (!emu_quitting) {
                struct pollfd p[] = {
                        { .fd = wake_pipe[0], .events = POLLIN },
                        { .fd = mux_fd, .events = POLLIN },
                        { .fd = ctl_fd, .events = POLLIN },
                        { .fd = tcp_fd, .events = POLLIN },
                };
                char drain[64];

                if (poll(p, ELEMENTSOF(p), -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                while (read(wake_pipe[0], drain, sizeof(drain)) > 0)
                        ;
                for (size_t i = 1; i < ELEMENTSOF(p); i++) {
                        int fd;

                        if (!(p[i].revents & POLLIN))
                                continue;
                        fd = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
                        if (fd >= 0)
                                spawn_worker(fd, i == 2 ? WORKER_CONTROL : WORKER_USBMUX);
                }
                reap_workers(false);
        }

out:
        /* Unlink first: a reconnecting libusbmuxd must not reach a half-dead server. */
        (void) unlink(arg_socket);
        if (arg_control)
                (void) unlink(arg_control);
        if (mux_fd >= 0)
                close(mux_fd);
        if (ctl_fd >= 0)
                close(ctl_fd);
        if (tcp_fd >= 0)
                close(tcp_fd);

        emu_lock();
        emu_quitting = true;
        for (Worker *w = workers; w; w = w->next)
                if (w->fd >= 0)
                        (void) shutdown(w->fd, SHUT_RDWR);
        emu_broadcast();
        emu_unlock();
        reap_workers(true);
        return r;
}

/* ---- subcommands ----------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (!*s || *end || errno || s[0] == '-')
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned *ret) {
        uint64_t v;

        if (parse_u64(s, &v) < 0 || v > 100000000) {
                log_warn("Invalid number for %s: '%s'", opt, s);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static int cmd_gen_profile(int argc, char **argv) {
        static const struct option opts[] = {
                { "seed", required_argument, NULL, 's' },
                { "name", required_argument, NULL, 'n' },
                { "product", required_argument, NULL, 'p' },
                { "ios", required_argument, NULL, 'i' },
                { "files", required_argument, NULL, 'f' },
                { "bytes", required_argument, NULL, 'b' },
                { "photos", required_argument, NULL, 'P' },
                { "apps", required_argument, NULL, 'a' },
                { "crashlogs", required_argument, NULL, 'c' },
                { "pim", no_argument, NULL, 'I' },
                { "contacts", required_argument, NULL, 'C' },
                { "events", required_argument, NULL, 'E' },
                { "bookmarks", required_argument, NULL, 'B' },
                { "notes", required_argument, NULL, 'N' },
                { "recordings", required_argument, NULL, 'R' },
                { "media", no_argument, NULL, 'M' },
                { "media-hostile", no_argument, NULL, 'H' },
                { "songs", required_argument, NULL, 'S' },
                { "new-phone", no_argument, NULL, 'W' },
                {}
        };
        GenOptions o = { .files = 50, .bytes = 4u << 20, .photos = 5, .apps = 2, .crashlogs = 3 };
        bool have_seed = false;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                int r = 0;

                switch (c) {
                case 's':
                        r = parse_u64(optarg, &o.seed);
                        if (r < 0)
                                log_warn("Invalid --seed '%s'", optarg);
                        have_seed = true;
                        break;
                case 'n': o.name = optarg; break;
                case 'p': o.product = optarg; break;
                case 'i': o.ios = optarg; break;
                case 'f': r = parse_uint("--files", optarg, &o.files); break;
                case 'b':
                        r = parse_size(optarg, &o.bytes);
                        if (r < 0)
                                log_warn("Invalid --bytes '%s' (bytes, or a K/M/G suffix)", optarg);
                        break;
                case 'P': r = parse_uint("--photos", optarg, &o.photos); break;
                case 'a': r = parse_uint("--apps", optarg, &o.apps); break;
                case 'c': r = parse_uint("--crashlogs", optarg, &o.crashlogs); break;
                case 'I':
                        o.contacts = PIM_DEFAULT_CONTACTS;
                        o.events = PIM_DEFAULT_EVENTS;
                        o.bookmarks = PIM_DEFAULT_BOOKMARKS;
                        o.notes = PIM_DEFAULT_NOTES;
                        o.recordings = PIM_DEFAULT_RECORDINGS;
                        break;
                case 'C': r = parse_uint("--contacts", optarg, &o.contacts); break;
                case 'E': r = parse_uint("--events", optarg, &o.events); break;
                case 'B': r = parse_uint("--bookmarks", optarg, &o.bookmarks); break;
                case 'N': r = parse_uint("--notes", optarg, &o.notes); break;
                case 'R': r = parse_uint("--recordings", optarg, &o.recordings); break;
                case 'M': o.media = true; break;
                case 'H': o.media = o.media_hostile = true; break;
                case 'S': r = parse_uint("--songs", optarg, &o.songs); break;
                case 'W': gen_options_new_phone(&o); break;
                default: return 2;
                }
                if (r < 0)
                        return 2;
        }
        if (optind != argc - 1 || !have_seed) {
                fprintf(stderr, "usage: fakeidevice gen-profile DIR --seed S [options]\n");
                return 2;
        }
        return profile_generate(argv[optind], &o) < 0 ? 1 : 0;
}

static int cmd_mutate(int argc, char **argv) {
        static const struct option opts[] = {
                { "seed", required_argument, NULL, 's' },
                { "change", required_argument, NULL, 'c' },
                { "add", required_argument, NULL, 'a' },
                { "delete", required_argument, NULL, 'd' },
                { "photos-add", required_argument, NULL, 'A' },
                { "photos-rename", required_argument, NULL, 'R' },
                { "photos-move", required_argument, NULL, 'M' },
                { "photos-delete", required_argument, NULL, 'D' },
                { "documents-add", required_argument, NULL, 'x' },
                { "documents-change", required_argument, NULL, 'y' },
                { "documents-delete", required_argument, NULL, 'z' },
                { "pim-change", required_argument, NULL, 'p' },
                { "pim-add", required_argument, NULL, 'q' },
                { "pim-delete", required_argument, NULL, 'r' },
                { "media-add", required_argument, NULL, 'm' },
                {}
        };
        MutateOptions o = {};
        bool have_seed = false;
        int c;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                int r = 0;

                switch (c) {
                case 's':
                        r = parse_u64(optarg, &o.seed);
                        if (r < 0)
                                log_warn("Invalid --seed '%s'", optarg);
                        have_seed = true;
                        break;
                case 'c': r = parse_uint("--change", optarg, &o.change); break;
                case 'a': r = parse_uint("--add", optarg, &o.add); break;
                case 'd': r = parse_uint("--delete", optarg, &o.del); break;
                case 'A': r = parse_uint("--photos-add", optarg, &o.photos_add); break;
                case 'R': r = parse_uint("--photos-rename", optarg, &o.photos_rename); break;
                case 'M': r = parse_uint("--photos-move", optarg, &o.photos_move); break;
                case 'D': r = parse_uint("--photos-delete", optarg, &o.photos_delete); break;
                case 'x': r = parse_uint("--documents-add", optarg, &o.documents_add); break;
                case 'y':
                        r = parse_uint("--documents-change", optarg, &o.documents_change);
                        break;
                case 'z':
                        r = parse_uint("--documents-delete", optarg, &o.documents_delete);
                        break;
                case 'p': r = parse_uint("--pim-change", optarg, &o.pim_change); break;
                case 'q': r = parse_uint("--pim-add", optarg, &o.pim_add); break;
                case 'r': r = parse_uint("--pim-delete", optarg, &o.pim_delete); break;
                case 'm': r = parse_uint("--media-add", optarg, &o.media_add); break;
                default: return 2;
                }
                if (r < 0)
                        return 2;
        }
        if (optind != argc - 1 || !have_seed) {
                fprintf(stderr, "usage: fakeidevice mutate DIR --seed S [--change N] [--add N] "
                                "[--delete N] [--photos-add N] [--photos-rename N] "
                                "[--photos-move N] [--photos-delete N] [--documents-add N] "
                                "[--documents-change N] [--documents-delete N] "
                                "[--pim-change N] [--pim-add N] [--pim-delete N]\n");
                return 2;
        }
        return profile_mutate(argv[optind], &o) < 0 ? 1 : 0;
}

/* ctl PATH COMMAND...: one control command for scripts; prints the answer; 0 on "ok". */
static int cmd_ctl(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char line[1024], reply[4096];
        size_t off = 0;
        ssize_t k;
        int fd;

        if (argc < 3) {
                fprintf(stderr, "usage: fakeidevice ctl CONTROL_PATH COMMAND [ARG...]\n");
                return 2;
        }
        if (strlen(argv[1]) >= sizeof(sa.sun_path))
                return 2;
        strcpy(sa.sun_path, argv[1]);
        line[0] = 0;
        for (int i = 2; i < argc; i++) {
                size_t used = strlen(line);
                snprintf(line + used, sizeof(line) - used, "%s%s", i > 2 ? " " : "", argv[i]);
        }
        strncat(line, "\n", sizeof(line) - strlen(line) - 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "fakeidevice ctl: cannot connect to '%s': %s\n", argv[1],
                        strerror(errno));
                if (fd >= 0)
                        close(fd);
                return 1;
        }
        if (send(fd, line, strlen(line), MSG_NOSIGNAL) < 0) {
                close(fd);
                return 1;
        }
        while (off < sizeof(reply) - 1 && (k = recv(fd, reply + off, sizeof(reply) - 1 - off, 0)) > 0) {
                off += (size_t) k;
                if (memchr(reply, '\n', off))
                        break;
        }
        close(fd);
        reply[off] = 0;
        fputs(reply, stdout);
        return strncmp(reply, "ok", 2) == 0 ? 0 : 1;
}

/* --backup-kdf-iterations DPIC:ITER or "realistic". */
static int parse_kdf_iterations(const char *s) {
        _cleanup_(freep) char *copy = strdup(s);
        uint64_t dpic, iter;
        char *colon;

        if (!copy)
                return -ENOMEM;
        if (strcmp(s, "realistic") == 0) {
                backup_kdf_dpic = 10000000;
                backup_kdf_iter = 10000;
                return 0;
        }
        colon = strchr(copy, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if (parse_u64(copy, &dpic) < 0 || parse_u64(colon + 1, &iter) < 0 || dpic == 0 ||
            iter == 0 || dpic > 100000000 || iter > 100000000)
                return -EINVAL;
        backup_kdf_dpic = (uint32_t) dpic;
        backup_kdf_iter = (uint32_t) iter;
        return 0;
}

static void usage(void) {
        fputs("usage: fakeidevice --socket PATH [--control PATH] [--tcp HOST:PORT] [-v]\n"
              "                   [--backup-password PW] "
              "[--backup-kdf-iterations DPIC:ITER|realistic]\n"
              "                   --device UDID=PROFILE_DIR[,untrusted][,locked][,detached] ...\n"
              "       fakeidevice gen-profile DIR --seed S [--name NAME] [--product P] [--ios V]\n"
              "                   [--files N] [--bytes SIZE] [--photos N] [--apps N] "
              "[--crashlogs N]\n"
              "                   [--pim] [--contacts N] [--events N] [--bookmarks N] "
              "[--notes N]\n"
              "                   [--recordings N]   (personal databases, on top of "
              "--files/--bytes)\n"
              "                   [--media] [--media-hostile] [--songs N]\n"
              "                   [--new-phone]   (a preset: no user data, a small backup)\n"
              "       fakeidevice mutate DIR --seed S [--change N] [--add N] [--delete N]\n"
              "                   [--photos-add N] [--photos-rename N] [--photos-move N]\n"
              "                   [--photos-delete N] [--documents-add N] [--documents-change N]\n"
              "                   [--documents-delete N] [--pim-change N] [--pim-add N] "
              "[--pim-delete N]\n"
              "                   [--media-add N]\n"
              "       fakeidevice ctl CONTROL_PATH COMMAND [ARG...]\n"
              "control commands: list | quit | attach|detach|reboot|trust|deny|lock|unlock UDID\n"
              "                  | battery UDID PERCENT CHARGING | stats UDID | stats-reset UDID\n"
              "                  | crash UDID N | doc UDID BUNDLE_ID RELPATH [BYTES]\n"
              "                  | backup-password UDID PW|off\n"
              "                  | fault UDID MODE [ARG]  (RELPATH: %XX for a byte, e.g. %20)\n",
              stderr);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "socket", required_argument, NULL, 's' },
                { "control", required_argument, NULL, 'c' },
                { "tcp", required_argument, NULL, 't' },
                { "device", required_argument, NULL, 'd' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "backup-password", required_argument, NULL, 'P' },
                { "backup-kdf-iterations", required_argument, NULL, 'K' },
                {}
        };
        int c, r = 0;

        if (getenv("FAKEIDEVICE_DEBUG"))
                emu_verbose = 2;
        if (argc > 1 && strcmp(argv[1], "gen-profile") == 0)
                return cmd_gen_profile(argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "mutate") == 0)
                return cmd_mutate(argc - 1, argv + 1);
        if (argc > 1 && strcmp(argv[1], "ctl") == 0)
                return cmd_ctl(argc - 1, argv + 1);

        while ((c = getopt_long(argc, argv, "vh", opts, NULL)) >= 0) {
                switch (c) {
                case 's': arg_socket = optarg; break;
                case 'c': arg_control = optarg; break;
                case 't': arg_tcp = optarg; break;
                case 'd':
                        r = add_device_arg(optarg);
                        if (r < 0)
                                goto out;
                        break;
                case 'v': emu_verbose++; break;
                case 'P': arg_backup_password = optarg; break;
                case 'K':
                        r = parse_kdf_iterations(optarg);
                        if (r < 0) {
                                log_warn("Invalid --backup-kdf-iterations '%s' (DPIC:ITER or "
                                         "realistic)", optarg);
                                goto out;
                        }
                        break;
                case 'h': usage(); return 0;
                default: usage(); r = -EINVAL; goto out;
                }
        }
        if (optind != argc || !arg_socket || !emu_devices) {
                usage();
                r = -EINVAL;
                goto out;
        }
        for (Device *d = emu_devices; arg_backup_password && d; d = d->next) {
                r = backup_set_password(d, arg_backup_password);
                if (r < 0) {
                        log_warn("Invalid --backup-password: %s", strerror(-r));
                        goto out;
                }
        }

        r = serve();
out:
        while (emu_devices) {
                Device *d = emu_devices;
                emu_devices = d->next;
                device_free(d);
        }
        usbmux_free_all();
        return r < 0 ? 1 : 0;
}
