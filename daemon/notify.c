/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Non-blocking notifications to the service manager (see notify.h for why).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "macro.h"
#include "notify.h"

#define USEC_PER_SEC 1000000ull
#define STATUS_INTERVAL_USEC USEC_PER_SEC
#define RETRY_USEC (USEC_PER_SEC / 4)
#define QUEUE_MAX 16
#define STATUS_MAX 256

struct Notifier {
        sd_event *event;                        /* borrowed */
        int fd;                                 /* connected, non-blocking; -EBADF: none */
        char *queue[QUEUE_MAX];                 /* state messages not yet sent, oldest first */
        size_t n_queue;
        char status[STATUS_MAX];                /* wanted STATUS= text */
        char status_sent[STATUS_MAX];           /* last one the socket took */
        uint64_t status_last_usec;              /* CLOCK_MONOTONIC of that send */
        sd_event_source *timer;                 /* next attempt (rate limit or retry) */
        sd_event_source *watchdog;
        uint64_t watchdog_usec;
        unsigned sent, would_block;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

/* 0 sent, -EAGAIN the receiver's queue is full, other -errno: lost (logged by caller). */
static int send_now(Notifier *n, const char *msg) {
        if (send(n->fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
                n->sent++;
                return 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
                n->would_block++;
                return -EAGAIN;
        }
        return -errno;
}

static void arm(Notifier *n, uint64_t when);

/* Send what is due: queued state messages in order, then STATUS if it changed and the last
 * one is at least a second old. Arms the timer for whatever is left. */
static void flush(Notifier *n) {
        uint64_t now = now_usec(), next = 0;
        int r;

        if (n->fd < 0)
                return;
        while (n->n_queue > 0) {
                r = send_now(n, n->queue[0]);
                if (r == -EAGAIN) {
                        next = now + RETRY_USEC;
                        break;
                }
                if (r < 0)
                        log_debug_errno(r, "Failed to send '%s' to the service manager, "
                                           "ignoring: %m", n->queue[0]);
                free(n->queue[0]);
                memmove(n->queue, n->queue + 1, (n->n_queue - 1) * sizeof(char *));
                n->n_queue--;
        }
        if (n->n_queue == 0 && strcmp(n->status, n->status_sent) != 0) {
                if (n->status_last_usec > 0 && now < n->status_last_usec + STATUS_INTERVAL_USEC)
                        next = n->status_last_usec + STATUS_INTERVAL_USEC;
                else {
                        char msg[STATUS_MAX + 8];

                        snprintf(msg, sizeof(msg), "STATUS=%s", n->status);
                        r = send_now(n, msg);
                        if (r == -EAGAIN)
                                next = now + RETRY_USEC;
                        else {
                                /* Sent, or lost for good: either way do not resend this text. */
                                memcpy(n->status_sent, n->status, sizeof(n->status_sent));
                                n->status_last_usec = now;
                        }
                }
        }
        if (next > 0)
                arm(n, next);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Notifier *n = userdata;

        n->timer = sd_event_source_disable_unref(n->timer);
        flush(n);
        return 0;
}

static void arm(Notifier *n, uint64_t when) {
        if (n->timer)
                return;                 /* an earlier attempt is due anyway */
        if (sd_event_add_time(n->event, &n->timer, CLOCK_MONOTONIC, when, 0, on_timer, n) < 0)
                n->timer = NULL;
}

int notifier_new(sd_event *e, Notifier **ret) {
        _cleanup_(notifier_freep) Notifier *n = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = getenv("NOTIFY_SOCKET");
        socklen_t len;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        n->event = e;
        n->fd = -EBADF;
        if (path && *path) {
                size_t l = strlen(path);

                if ((path[0] != '/' && path[0] != '@') || l >= sizeof(sa.sun_path))
                        return -EINVAL;
                memcpy(sa.sun_path, path, l);
                if (path[0] == '@')
                        sa.sun_path[0] = 0;     /* abstract namespace */
                len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + l);
                n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (n->fd < 0)
                        return -errno;
                if (connect(n->fd, (struct sockaddr *) &sa, len) < 0)
                        return -errno;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

Notifier *notifier_free(Notifier *n) {
        if (!n)
                return NULL;
        if (n->fd >= 0) {
                /* One last non-blocking try (STOPPING=1 on the way out). */
                for (size_t i = 0; i < n->n_queue; i++)
                        (void) send_now(n, n->queue[i]);
                close(n->fd);
        }
        for (size_t i = 0; i < n->n_queue; i++)
                free(n->queue[i]);
        sd_event_source_disable_unref(n->timer);
        sd_event_source_disable_unref(n->watchdog);
        free(n);
        return NULL;
}

int notifier_send(Notifier *n, const char *msg) {
        char *c;

        if (!n || n->fd < 0)
                return 0;
        if (n->n_queue == QUEUE_MAX) {
                /* The manager has not read for a long while: the oldest state is stale. */
                free(n->queue[0]);
                memmove(n->queue, n->queue + 1, (QUEUE_MAX - 1) * sizeof(char *));
                n->n_queue--;
        }
        c = strdup(msg);
        if (!c)
                return -ENOMEM;
        n->queue[n->n_queue++] = c;
        flush(n);
        return 0;
}

void notifier_status(Notifier *n, const char *fmt, ...) {
        va_list ap;

        if (!n || n->fd < 0)
                return;
        va_start(ap, fmt);
        vsnprintf(n->status, sizeof(n->status), fmt, ap);
        va_end(ap);
        /* A newline would start another assignment: keep STATUS= one line. */
        for (char *p = n->status; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        flush(n);
}

static int on_watchdog(sd_event_source *s, uint64_t usec, void *userdata) {
        Notifier *n = userdata;

        /* A ping that finds the socket full is dropped: the next one is half an interval
         * away, and a queue that stays full is the manager's problem, not a reason to stop. */
        (void) send_now(n, "WATCHDOG=1");
        (void) sd_event_source_set_time(s, usec + n->watchdog_usec / 2);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

int notifier_start_watchdog(Notifier *n) {
        uint64_t usec = 0;
        int r;

        if (!n || n->fd < 0)
                return 0;
        r = sd_watchdog_enabled(false, &usec);
        if (r <= 0)
                return r < 0 ? r : 0;
        n->watchdog_usec = usec;
        return sd_event_add_time(n->event, &n->watchdog, CLOCK_MONOTONIC, now_usec(), 0,
                                 on_watchdog, n);
}

unsigned notifier_sent(const Notifier *n) {
        return n ? n->sent : 0;
}

unsigned notifier_would_block(const Notifier *n) {
        return n ? n->would_block : 0;
}
