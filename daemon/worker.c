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
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
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

int worker_send_request(int fd, const WorkerRequest *r) {
        _cleanup_free_ char *buf = malloc(WORKER_REQUEST_MAX);
        int len;

        if (!buf)
                return -ENOMEM;
        len = worker_request_encode(r, buf, WORKER_REQUEST_MAX);
        if (len < 0)
                return len;
        if (send(fd, buf, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

/* The longest kind name: a helper that may hand over gets room for it in its argv. */
static size_t kind_max(void) {
        size_t m = 0;

        for (JobKind k = 0; k < _JOB_KIND_MAX; k++)
                if (job_kind_to_string(k) && strlen(job_kind_to_string(k)) > m)
                        m = strlen(job_kind_to_string(k));
        return m;
}

int worker_spawn(const WorkerRequest *r, pid_t *ret_pid, int *ret_fd) {
        /* Kind and UDID only so that ps(1) shows what a helper does; the request itself
         * arrives as the first datagram. A helper that may hand over renames itself to the
         * kind it runs next (set_title()): trailing spaces after the UDID make room. */
        _cleanup_free_ char *udid_arg = NULL;
        _cleanup_(closep) int pass = -EBADF, password = -EBADF;
        int sv[2], e, sndbuf = 2 * WORKER_REQUEST_MAX;
        char *argv[5];
        pid_t pid, parent;
        size_t pad = 0;

        if (!r->kind || !r->udid)
                return -EINVAL;
        if (r->handover && kind_max() > strlen(r->kind))
                pad = kind_max() - strlen(r->kind);
        if (asprintf(&udid_arg, "%s%*s", r->udid, (int) pad, "") < 0) {
                udid_arg = NULL;
                return -ENOMEM;
        }
        argv[0] = (char *) "idevicesyncd";
        argv[1] = (char *) "--worker";
        argv[2] = (char *) r->kind;
        argv[3] = udid_arg;
        argv[4] = NULL;

        /* Above the numbers the child assigns, so no dup2() there overwrites another. */
        if (r->has_pass_fd && (pass = fcntl(r->pass_fd, F_DUPFD_CLOEXEC, 10)) < 0)
                return -errno;
        if (r->has_password_fd &&
            (password = fcntl(r->password_fd, F_DUPFD_CLOEXEC, 10)) < 0)
                return -errno;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        /* A request with many decisions is one large datagram; the default buffer is
         * usually big enough, this makes sure (capped by net.core.wmem_max). */
        (void) setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        /* Queued before the helper exists: it reads it first thing. */
        e = worker_send_request(sv[0], r);
        if (e < 0) {
                close(sv[0]);
                close(sv[1]);
                return e;
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

/* ps(1) shows a helper's argv, "idevicesyncd --worker KIND UDID": a helper that handed
 * over writes the kind it runs now over that area (as systemd's rename_process() does);
 * what does not fit is cut, the rest filled with spaces. */
static void set_title(int argc, char **argv, const char *kind, const char *udid) {
        char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
        size_t room = (size_t) (end - start);
        _cleanup_free_ char *t = NULL;
        int n;

        n = asprintf(&t, "idevicesyncd%c--worker%c%s%c%s", 0, 0, kind, 0, udid);
        if (n < 0)
                return;
        memset(start, ' ', room);
        memcpy(start, t, (size_t) n < room ? (size_t) n : room);
        *end = 0;
}

/* A helper that handed over waits this long for the daemon's next request; the daemon
 * sends it (or closes the socket) in the same turn of its event loop as it reads the
 * RESULT, so this only bounds a helper whose daemon went astray. */
#define HANDOVER_WAIT_MS (10 * 1000)

/* The next request into buf (decoded into *req). 0, or -1 on EOF, a timeout or a request
 * that cannot be decoded. */
static int receive_request(char *buf, int timeout_ms, WorkerRequest *req) {
        struct pollfd p = { .fd = WORKER_FD, .events = POLLIN };
        ssize_t n;
        int k;

        if (timeout_ms >= 0) {
                do
                        k = poll(&p, 1, timeout_ms);
                while (k < 0 && errno == EINTR);
                if (k <= 0)
                        return -1;
        }
        do
                n = recv(WORKER_FD, buf, WORKER_REQUEST_MAX, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0 || worker_request_decode(buf, (size_t) n, req) < 0)
                return -1;
        return 0;
}

/* Run one request and send its RESULT. Returns true when the helper handed over (stays for
 * the next request), -1 when the request names no kind a helper runs. */
static int run_request(const WorkerRequest *req) {
        struct sigaction sa = { .sa_handler = on_sigterm };
        struct sigaction dfl = { .sa_handler = SIG_DFL };
        const JobType *t = job_type_get(job_kind_from_string(req->kind));
        WorkerReport res;
        ids_cancel *c;
        int r;

        if (!t || !t->run || ids_cancel_new(&cancel) < 0)
                return -1;
        /* Kinds that cancel cleanly (tell the device, release its lock, discard the staging)
         * handle SIGTERM; for the others (a probe, a verify) SIGTERM just ends them. */
        sigaction(SIGTERM, t->clean_cancel ? &sa : &dfl, NULL);
        sigaction(SIGINT, t->clean_cancel ? &sa : &dfl, NULL);
        last_phase = -1;
        last_category = NULL;
        /* A probe that may hand over keeps its device session for the next request (which
         * takes it up; it stays on until the helper is done). */
        if (req->handover)
                ids_session_keep(true);

        worker_report_init(&res, WORKER_REPORT_RESULT);
        r = t->run(req, cancel, &res);
        res.code = r;
        res.handover = req->handover && r == 0;
        if (!res.handover)
                ids_session_keep(false);
        worker_send(&res);
        c = cancel;
        cancel = NULL;                  /* before it is freed: on_sigterm() reads it */
        ids_cancel_free(c);
        return res.handover;
}

int worker_main(int argc, char **argv) {
        _cleanup_free_ char *buf = NULL;
        WorkerRequest req;
        int r;

        if (argc < 2)
                return 2;
        /* libimobiledevice 1.3.0 mallocs a buffer for every read from the device (up to the
         * 1 MiB we ask for), copies it out and frees it. With glibc's defaults those buffers
         * were mapped, faulted in and unmapped, or the heap top trimmed and grown again, once
         * per read: a music import spent 3× the CPU it needs (media bench, 300 songs: 7.2 s →
         * 2.0 s). Keep them on the heap, and the heap as it is. */
        (void) mallopt(M_MMAP_THRESHOLD, 8 << 20);
        (void) mallopt(M_TRIM_THRESHOLD, 64 << 20);
        /* libimobiledevice 1.3.0 writes to sockets without MSG_NOSIGNAL. */
        signal(SIGPIPE, SIG_IGN);
        buf = malloc(WORKER_REQUEST_MAX + 1);
        if (!buf || receive_request(buf, -1, &req) < 0)
                return 2;
        /* A handed-over helper runs the device's next request, whatever its kind, with the
         * session the previous one left. */
        while ((r = run_request(&req)) > 0) {
                worker_request_done(&req);
                if (receive_request(buf, HANDOVER_WAIT_MS, &req) < 0) {
                        ids_session_keep(false);
                        return 0;
                }
                set_title(argc, argv, req.kind, req.udid);
        }
        worker_request_done(&req);
        ids_session_keep(false);
        return r < 0 ? 2 : 0;
}
