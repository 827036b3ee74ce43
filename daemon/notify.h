/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Messages to the service manager ($NOTIFY_SOCKET) that can never block the event loop
 * (notify.c). sd_notify() sends with a blocking send: when the receiver reads slowly its
 * queue fills (10 datagrams by default), the send blocks, and with it every bus call, every
 * helper's result and the watchdog. Here the socket is non-blocking: state messages
 * (READY=1, RELOADING=1, STOPPING=1) are queued and retried until sent, STATUS= is sent
 * only when its text changes and at most once a second (the newest text wins), and
 * WATCHDOG=1 goes out on our own timer (a ping that finds the socket full is dropped; the
 * next one follows at half the watchdog interval).
 */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

typedef struct Notifier Notifier;

/* A notifier for $NOTIFY_SOCKET on event e (borrowed; must outlive it). Without
 * $NOTIFY_SOCKET every call is a no-op. 0 or -errno (a bad address, no memory). */
int notifier_new(sd_event *e, Notifier **ret);
/* Try once more to send what is queued (without blocking), then free. NULL-safe. */
Notifier *notifier_free(Notifier *n);
static inline void notifier_freep(Notifier **n) {
        notifier_free(*n);
}

/* Queue a state message ("READY=1", "RELOADING=1", "STOPPING=1"): sent in order, retried
 * until the socket takes it. 0 or -ENOMEM. */
int notifier_send(Notifier *n, const char *msg);
/* Set STATUS= (printf format). Sent when the text differs from the last one sent, at most
 * once per second. */
void notifier_status(Notifier *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Start WATCHDOG=1 pings if the service manager asked for them ($WATCHDOG_USEC for this
 * pid). 0 (also when no watchdog is wanted) or -errno. */
int notifier_start_watchdog(Notifier *n);

/* Datagrams handed to the socket so far, and sends that found it full (tests, logs). */
unsigned notifier_sent(const Notifier *n);
unsigned notifier_would_block(const Notifier *n);
