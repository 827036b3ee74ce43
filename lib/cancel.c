/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cancel token (see cancel.h and idevicesync.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "cancel.h"
#include "util.h"

_public_ int ids_cancel_new(ids_cancel **ret) {
        ids_cancel *c;

        if (!ret)
                return -EINVAL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -1;
        *ret = c;
        return 0;
}

_public_ ids_cancel *ids_cancel_free(ids_cancel *c) {
        free(c);
        return NULL;
}

_public_ void ids_cancel_request(ids_cancel *c) {
        int fd;

        if (!c)
                return;
        c->requested = 1;
        fd = c->fd;
        /* shutdown() is async-signal-safe: a receive blocked in libimobiledevice returns. */
        if (fd >= 0)
                (void) shutdown(fd, SHUT_RDWR);
}

_public_ bool ids_cancel_requested(const ids_cancel *c) {
        return c && c->requested;
}

void cancel_set_stream(ids_cancel *c, int fd) {
        if (!c)
                return;
        c->fd = fd;
        /* A request that came before the stream existed still ends it. */
        if (fd >= 0 && c->requested)
                (void) shutdown(fd, SHUT_RDWR);
}
