/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Debug logging for lib/. The library never logs on its own (STYLE.md §4): a program that
 * wants lib/'s debug messages installs a hook with ids_set_debug_log(); by default every
 * ids_debug() is a cheap no-op. The hook is plain process state, so a forked helper keeps
 * it.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Public API (lib/idevicesync.h); declared here too so this file stands alone. */
void ids_set_debug_log(void (*fn)(const char *msg));

static void (*debug_fn)(const char *msg);

/* Install fn as the receiver of lib/'s debug messages (one line each, no newline, valid
 * only during the call); NULL switches debug logging off. */
_public_ void ids_set_debug_log(void (*fn)(const char *msg)) {
        debug_fn = fn;
}

void ids_debug(const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int saved_errno = errno;        /* callers log between a failure and its -errno */

        if (!debug_fn)
                return;

        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        debug_fn(buf);
        errno = saved_errno;
}

char *sqlite_uri_escape(const char *path) {
        char *out = malloc(3 * strlen(path) + 1), *o = out;

        if (!out)
                return NULL;
        for (; *path; path++)
                if (*path == '%' || *path == '?' || *path == '#')
                        o += sprintf(o, "%%%02X", (unsigned char) *path);
                else
                        *o++ = *path;
        *o = 0;
        return out;
}
