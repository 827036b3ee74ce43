/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job helper processes: spawning (daemon side) and the helper's generic main (see
 * worker.h); the message codecs are in worker-msg.c. What a helper does for each kind is
 * its JobType.run in job-<kind>.c.
 *
 * The helper's argv says only what ps(1) should show ("--worker backup UDID"); the request
 * arrives as the first datagram and is all the helper goes by. The encryption password,
 * if any, is read by the helper from $CREDENTIALS_DIRECTORY and never passes through argv,
 * the socket or a log.
 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "idevicesync.h"
#include "job-type.h"
#include "macro.h"
#include "worker.h"

#define WORKER_FD 3

/* ---- the daemon's side ------------------------------------------------------------------- */

int worker_spawn(const WorkerRequest *r, pid_t *ret_pid, int *ret_fd) {
        /* Kind and UDID only so that ps(1) shows what a helper does; the request itself
         * arrives as the first datagram. */
        char *const argv[] = { (char *) "idevicesyncd", (char *) "--worker", (char *) r->kind,
                               (char *) r->udid, NULL };
        _cleanup_free_ char *buf = malloc(WORKER_REQUEST_MAX);
        _cleanup_(closep) int pass = -EBADF, password = -EBADF;
        int sv[2], len, e, sndbuf = 2 * WORKER_REQUEST_MAX;
        pid_t pid, parent;

        if (!buf)
                return -ENOMEM;
        /* Above the numbers the child assigns, so no dup2() there overwrites another. */
        if (r->has_pass_fd && (pass = fcntl(r->pass_fd, F_DUPFD_CLOEXEC, 10)) < 0)
                return -errno;
        if (r->has_password_fd &&
            (password = fcntl(r->password_fd, F_DUPFD_CLOEXEC, 10)) < 0)
                return -errno;
        len = worker_request_encode(r, buf, WORKER_REQUEST_MAX);
        if (len < 0)
                return len;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        /* A request with many decisions is one large datagram; the default buffer is
         * usually big enough, this makes sure (capped by net.core.wmem_max). */
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        /* Queued before the helper exists: it reads it first thing. */
        if (send(sv[0], buf, (size_t) len, MSG_NOSIGNAL) != len) {
                e = -errno;
                close(sv[0]);
                close(sv[1]);
                return e < 0 ? e : -EIO;
        }

        parent = getpid();
        pid = fork();
        if (pid < 0) {
                e = -errno;
                close(sv[0]);
                close(sv[1]);
                return e;
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
                if (pass >= 0 && dup2(pass, WORKER_PASS_FD) < 0)
                        _exit(127);
                if (password >= 0 && dup2(password, WORKER_PASSWORD_FD) < 0)
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

/* ---- the helper's side ------------------------------------------------------------------- */

static ids_cancel *cancel;
static struct timespec last_sent;
static int last_phase = -1;

static void on_sigterm(int sig) {
        ids_cancel_request(cancel);     /* async-signal-safe */
}

void worker_send(const WorkerReport *r) {
        char buf[WORKER_MSG_MAX];
        int len = worker_report_format(r, buf, sizeof(buf));
        ssize_t k;

        if (len < 0)
                return;
        do
                k = send(WORKER_FD, buf, (size_t) len, MSG_NOSIGNAL);
        while (k < 0 && errno == EINTR);
}

static const char *last_category;

void worker_on_progress(const ids_progress *p, void *userdata) {
        struct timespec now;
        WorkerReport m;
        long ms;

        clock_gettime(CLOCK_MONOTONIC, &now);
        ms = (now.tv_sec - last_sent.tv_sec) * 1000 + (now.tv_nsec - last_sent.tv_nsec) / 1000000;
        if ((int) p->phase == last_phase && p->category == last_category && ms < 100)
                return;
        last_sent = now;
        last_phase = p->phase;
        last_category = p->category;    /* static strings of the library */
        worker_report_init(&m, WORKER_REPORT_PROGRESS);
        m.phase = p->phase;
        m.bytes_done = p->bytes_done;
        m.bytes_total = p->bytes_total;
        m.files_done = p->files_done;
        m.files_total = p->files_total;
        m.percent = p->percent < 0 ? 0 : p->percent > 100 ? 100 : (unsigned) p->percent;
        if (p->category)
                snprintf(m.category, sizeof(m.category), "%s", p->category);
        worker_send(&m);
}

char *worker_read_password(void) {
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

char *worker_read_password_for(const WorkerRequest *req) {
        char buf[1024], *pw;
        size_t n = 0;

        if (!req->has_password_fd)
                return worker_read_password();
        for (;;) {
                ssize_t k = read(WORKER_PASSWORD_FD, buf + n, sizeof(buf) - 1 - n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n == sizeof(buf) - 1)
                        break;
        }
        (void) close(WORKER_PASSWORD_FD);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = 0;
        pw = n > 0 ? strdup(buf) : NULL;
        explicit_bzero(buf, sizeof(buf));
        return pw;
}

void worker_password_free(char *pw) {
        if (!pw)
                return;
        explicit_bzero(pw, strlen(pw));
        free(pw);
}

int worker_main(int argc, char **argv) {
        struct sigaction sa = { .sa_handler = on_sigterm };
        _cleanup_free_ char *buf = NULL;
        const JobType *t;
        WorkerRequest req;
        WorkerReport res;
        ssize_t n;
        int r;

        if (argc < 1)
                return 2;
        /* libimobiledevice 1.3.0 mallocs a buffer for every read from the device (up to the
         * 1 MiB we ask for), copies it out and frees it. With glibc's defaults those buffers
         * were mapped, faulted in and unmapped, or the heap top trimmed and grown again, once
         * per read: a music import spent 3× the CPU it needs (media bench, 300 songs: 7.2 s →
         * 2.0 s). Keep them on the heap, and the heap as it is. */
        (void) mallopt(M_MMAP_THRESHOLD, 8 << 20);
        (void) mallopt(M_TRIM_THRESHOLD, 64 << 20);
        buf = malloc(WORKER_REQUEST_MAX + 1);
        if (!buf)
                return 2;
        do
                n = recv(WORKER_FD, buf, WORKER_REQUEST_MAX, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0 || worker_request_decode(buf, (size_t) n, &req) < 0)
                return 2;
        t = job_type_get(job_kind_from_string(req.kind));
        if (!t || !t->run || ids_cancel_new(&cancel) < 0) {
                worker_request_done(&req);
                return 2;
        }
        /* Kinds that cancel cleanly (tell the device, release its lock, discard the staging)
         * handle SIGTERM; for the others (a probe, a verify) SIGTERM just ends them. */
        if (t->clean_cancel) {
                sigaction(SIGTERM, &sa, NULL);
                sigaction(SIGINT, &sa, NULL);
        }
        /* libimobiledevice 1.3.0 writes to sockets without MSG_NOSIGNAL. */
        signal(SIGPIPE, SIG_IGN);

        worker_report_init(&res, WORKER_REPORT_RESULT);
        r = t->run(&req, cancel, &res);
        res.code = r;
        worker_send(&res);
        ids_cancel_free(cancel);
        worker_request_done(&req);
        return 0;
}
