/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the lexical check of device paths, fs_path_check() in
 * lib/fs-util.c: the raw input (not NUL-terminated, so ASan catches any read past size)
 * is checked, and whenever the check accepts it, the promises of fs-util.h are verified
 * independently: non-empty, at most FS_PATH_MAX bytes, no NUL, no leading '/', and no
 * empty, "." or ".." component and none longer than FS_NAME_MAX. A violation abort()s.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_accepted(const char *p, size_t n) {
        size_t start = 0;

        if (n == 0 || n > FS_PATH_MAX || memchr(p, 0, n) || p[0] == '/')
                abort();
        for (size_t i = 0; i <= n; i++) {
                size_t c;

                if (i < n && p[i] != '/')
                        continue;
                c = i - start;
                if (c == 0 || c > FS_NAME_MAX)
                        abort();
                if (p[start] == '.' && (c == 1 || (c == 2 && p[start + 1] == '.')))
                        abort();
                start = i + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data;

        if (fs_path_check(p, size) == 0)
                check_accepted(p, size);
        return 0;
}
