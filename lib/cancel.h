/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cancel token of one operation (cancel.c): a flag, plus the device stream the
 * operation is blocked on, so that ids_cancel_request() — from a signal handler, another
 * thread or the device's own "cancel" notification — makes a blocked receive return at
 * once. Every operation on a device (backup, restore, later sync over AFC and
 * house_arrest) registers its stream here through session_connect_service().
 */
#pragma once

#include <signal.h>
#include <stdbool.h>

#include "idevicesync.h"

struct ids_cancel {
        volatile sig_atomic_t requested;
        volatile sig_atomic_t fd;               /* the device stream, -1 if none */
};

/* The stream a cancel must shut down (fd ≥ 0), or none (-1). c may be NULL. */
void cancel_set_stream(ids_cancel *c, int fd);
