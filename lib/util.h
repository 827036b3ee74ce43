/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Small helpers shared by every file of lib/: the export marker, common/macro.h's ownership
 * helpers (STYLE.md §5), and debug logging a caller can switch on (never above debug).
 */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"

#define _public_ __attribute__((visibility("default")))

/* Debug log hook: NULL (default) = silent. Set through ids_set_debug_log(). */
void ids_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The state directory: given, else $STATE_DIRECTORY (set by systemd), else
 * /var/lib/idevicesync. Borrowed. */
const char *ids_state_dir(const char *given);

/* path for a SQLite "file:" URI: %, ? and # escaped. Allocated; NULL when out of memory. */
char *sqlite_uri_escape(const char *path);
