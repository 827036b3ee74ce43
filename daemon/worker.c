/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job helper processes: spawning (daemon side) and the helper's own main (see worker.h).
 *
 * The helper's argv carries everything it needs (no shared memory, no inherited state);
 * the encryption password, if any, is read by the helper from $CREDENTIALS_DIRECTORY and
 * never passes through argv, the socket or a log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "idevicesync.h"
#include "worker.h"

#define WORKER_FD 3

static const char *const kinds[_WORKER_KIND_MAX] = {
        [WORKER_PROBE] = "probe",
        [WORKER_BACKUP] = "backup",
        [WORKER_VERIFY] = "verify",
        [WORKER_RESTORE] = "restore",
};

const char *worker_kind_to_string(WorkerKind k) {
        return (unsigned) k < _WORKER_KIND_MAX ? kinds[k] : NULL;
}

WorkerKind worker_kind_from_string(const char *s) {
        for (int i = 0; i < _WORKER_KIND_MAX; i++)
                if (s && strcmp(kinds[i], s) == 0)
                        return (WorkerKind) i;
        return _WORKER_KIND_INVALID;
}

int worker_spawn(const WorkerArgs *a, pid_t *ret_pid, int *ret_fd) {
        char *argv[32], num[8][32];
        int sv[2], n = 0, k = 0;
        pid_t pid, parent;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;

        argv[n++] = (char *) "idevicesyncd";
        argv[n++] = (char *) "--worker";
        argv[n++] = (char *) worker_kind_to_string(a->kind);
        argv[n++] = (char *) a->udid;
        if (a->state_dir) {
                argv[n++] = (char *) "--state";
                argv[n++] = (char *) a->state_dir;
        }
        if (a->snapshot && a->snapshot[0]) {
                argv[n++] = (char *) "--snapshot";
                argv[n++] = (char *) a->snapshot;
        }
        if (a->target) {
                argv[n++] = (char *) "--target";
                argv[n++] = (char *) a->target;
        }
        if (a->full)
                argv[n++] = (char *) "--full";
        if (!a->reboot)
                argv[n++] = (char *) "--no-reboot";
        if (a->require_encryption)
                argv[n++] = (char *) "--require-encryption";
        snprintf(num[k], sizeof(num[k]), "--keep=%u", a->keep);
        argv[n++] = num[k++];
        snprintf(num[k], sizeof(num[k]), "--keep-days=%u", a->keep_days);
        argv[n++] = num[k++];
        snprintf(num[k], sizeof(num[k]), "--min-free=%" PRIu64, a->min_free_bytes);
        argv[n++] = num[k++];
        snprintf(num[k], sizeof(num[k]), "--min-free-percent=%u", a->min_free_percent);
        argv[n++] = num[k++];
        argv[n] = NULL;

        parent = getpid();
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                /* Child: only async-signal-safe calls until exec. */
                sigset_t all;

                /* A helper never outlives the daemon (a killed daemon must not leave a backup
                 * running that nobody watches). */
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(127);
                if (dup2(sv[1], WORKER_FD) < 0)
                        _exit(127);
                sigemptyset(&all);
                sigprocmask(SIG_SETMASK, &all, NULL);
                signal(SIGTERM, SIG_DFL);
                execv("/proc/self/exe", argv);
                _exit(127);
        }
        close(sv[1]);
        (void) fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
        *ret_pid = pid;
        *ret_fd = sv[0];
        return 0;
}

/* ---- the helper ------------------------------------------------------------------------ */

static ids_cancel *cancel;
static struct timespec last_sent;
static int last_phase = -1;

static void on_sigterm(int sig) {
        ids_cancel_request(cancel);     /* async-signal-safe */
}

static void send_msg(const WorkerMsg *m) {
        ssize_t k;

        do
                k = send(WORKER_FD, m, sizeof(*m), MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
}

/* At most ten progress messages a second, plus every phase change: the daemon coalesces
 * again for the bus. */
static void on_progress(const ids_progress *p, void *userdata) {
        struct timespec now;
        WorkerMsg m = { .type = WORKER_MSG_PROGRESS };
        long ms;

        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (now.tv_sec - last_sent.tv_sec) * 1000 + (now.tv_nsec - last_sent.tv_nsec) / 1000000;
        if ((int) p->phase == last_phase && ms < 100)
                return;
        last_sent = now;
        last_phase = p->phase;
        m.phase = p->phase;
        m.bytes_done = p->bytes_done;
        m.bytes_total = p->bytes_total;
        m.files_done = p->files_done;
        m.files_total = p->files_total;
        m.percent = p->percent;
        send_msg(&m);
}

static char *read_password(void) {
        const char *dir = getenv("CREDENTIALS_DIRECTORY");
        char path[4096], *buf;
        FILE *f;
        size_t n;

        if (!dir)
                return NULL;
        snprintf(path, sizeof(path), "%s/backup-password", dir);
        f = fopen(path, "re");
        if (!f)
                return NULL;
        buf = calloc(1, 1024);
        n = buf ? fread(buf, 1, 1023, f) : 0;
        fclose(f);
        /* One trailing newline is not part of the password; empty means none configured
         * (the unit's SetCredential= fallback is a lone newline). */
        if (buf && n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        if (buf && n == 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static void result_from(WorkerMsg *m, int r, const ids_backup_result *res) {
        m->type = WORKER_MSG_RESULT;
        m->result = r;
        if (!res)
                return;
        m->device_error = res->device_error;
        m->full = res->full;
        m->encrypted = res->encrypted;
        m->files = res->files;
        m->bytes = res->bytes;
        m->new_bytes = res->new_bytes;
        snprintf(m->snapshot_id, sizeof(m->snapshot_id), "%s", res->snapshot_id);
        snprintf(m->message, sizeof(m->message), "%s", res->message);
}

int worker_main(int argc, char **argv) {
        static const struct option opts[] = {
                { "state", required_argument, NULL, 's' },
                { "snapshot", required_argument, NULL, 'S' },
                { "target", required_argument, NULL, 't' },
                { "full", no_argument, NULL, 'f' },
                { "no-reboot", no_argument, NULL, 'n' },
                { "require-encryption", no_argument, NULL, 'e' },
                { "keep", required_argument, NULL, 'k' },
                { "keep-days", required_argument, NULL, 'K' },
                { "min-free", required_argument, NULL, 'm' },
                { "min-free-percent", required_argument, NULL, 'M' },
                {}
        };
        WorkerArgs a = { .reboot = true };
        WorkerMsg m = {};
        ids_backup_result res = {};
        struct sigaction sa = { .sa_handler = on_sigterm };
        int c, r;

        if (argc < 3)
                return 2;
        a.kind = worker_kind_from_string(argv[1]);
        a.udid = argv[2];
        optind = 3;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 's': a.state_dir = optarg; break;
                case 'S': a.snapshot = optarg; break;
                case 't': a.target = optarg; break;
                case 'f': a.full = true; break;
                case 'n': a.reboot = false; break;
                case 'e': a.require_encryption = true; break;
                case 'k': a.keep = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'K': a.keep_days = (unsigned) strtoul(optarg, NULL, 10); break;
                case 'm': a.min_free_bytes = strtoull(optarg, NULL, 10); break;
                case 'M': a.min_free_percent = (unsigned) strtoul(optarg, NULL, 10); break;
                default: return 2;
                }
        }
        if (a.kind < 0 || ids_cancel_new(&cancel) < 0)
                return 2;
        /* Backup and restore cancel cleanly (tell the device, release its lock, discard the
         * staging); a probe or a verify has nothing to undo: SIGTERM just ends them. */
        if (a.kind == WORKER_BACKUP || a.kind == WORKER_RESTORE) {
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGINT, &sa, NULL);
        }
        /* libimobiledevice 1.3.0 writes to sockets without MSG_NOSIGNAL. */
        signal(SIGPIPE, SIG_IGN);

        switch (a.kind) {
        case WORKER_PROBE: {
                ids_device_info info;

                r = ids_device_probe(a.udid, &info);
                if (r == 0) {
                        WorkerMsg i = { .type = WORKER_MSG_INFO, .battery = info.battery,
                                        .charging = info.charging,
                                        .will_encrypt = info.will_encrypt };
                        snprintf(i.name, sizeof(i.name), "%s", info.name);
                        snprintf(i.product_type, sizeof(i.product_type), "%s",
                                 info.product_type);
                        snprintf(i.product_version, sizeof(i.product_version), "%s",
                                 info.product_version);
                        send_msg(&i);
                }
                result_from(&m, r, NULL);
                snprintf(m.message, sizeof(m.message), "%s", r > 0 ? ids_result_message(r) : "");
                break;
        }
        case WORKER_BACKUP: {
                ids_backup_options o = {
                        .udid = a.udid,
                        .state_dir = a.state_dir,
                        .force_full = a.full,
                        .keep = a.keep,
                        .keep_days = a.keep_days,
                        .min_free_bytes = a.min_free_bytes,
                        .min_free_percent = a.min_free_percent,
                        .require_encryption = a.require_encryption,
                        .progress = on_progress,
                        .cancel = cancel,
                };
                r = ids_backup_run(&o, &res);
                result_from(&m, r, &res);
                break;
        }
        case WORKER_VERIFY: {
                ids_verify_report rep;

                r = ids_snapshot_verify(a.state_dir, a.udid, a.snapshot ?: "", &rep);
                result_from(&m, r, NULL);
                m.files = rep.files_checked;
                if (r == 0)
                        snprintf(m.message, sizeof(m.message), "%" PRIu64 " files verified",
                                 rep.files_checked);
                else if (r < 0 && !rep.first_problem[0])
                        /* Not a finding about the files: say what could not be done. */
                        snprintf(m.message, sizeof(m.message),
                                 "Cannot verify snapshot '%.40s' of %s: %s.",
                                 a.snapshot && *a.snapshot ? a.snapshot : "latest", a.udid,
                                 strerror(-r));
                else
                        snprintf(m.message, sizeof(m.message),
                                 "%" PRIu64 " missing, %" PRIu64 " changed, %" PRIu64
                                 " unexpected: %.150s", rep.missing, rep.changed, rep.unindexed,
                                 rep.first_problem[0] ? rep.first_problem : ids_result_message(r));
                break;
        }
        case WORKER_RESTORE: {
                char *pw = read_password();
                ids_restore_options o = {
                        .source_udid = a.udid,
                        .snapshot = a.snapshot,
                        .target_udid = a.target,
                        .state_dir = a.state_dir,
                        .system = true,
                        .settings = true,
                        .reboot = a.reboot,
                        .password = pw,
                        .progress = on_progress,
                        .cancel = cancel,
                };
                r = ids_restore_run(&o, &res);
                if (pw) {
                        explicit_bzero(pw, strlen(pw));
                        free(pw);
                }
                result_from(&m, r, &res);
                break;
        }
        default:
                return 2;
        }
        send_msg(&m);
        ids_cancel_free(cancel);
        return 0;
}
