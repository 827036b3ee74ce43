/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by every file of lib/: cleanup attributes and ownership macros
 * (STYLE.md §5), and debug logging that a caller can switch on (never above debug).
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define _public_ __attribute__((visibility("default")))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) ({ typeof(p) _p_ = (p); (p) = NULL; _p_; })
#define TAKE_FD(fd) ({ int _fd_ = (fd); (fd) = -EBADF; _fd_; })
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

/* Debug log hook: NULL (default) = silent. Set through ids_set_debug_log(). */
void ids_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The state directory: given, else $STATE_DIRECTORY (set by systemd), else
 * /var/lib/idevicesync. Borrowed. */
const char *ids_state_dir(const char *given);
