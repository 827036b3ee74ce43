/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ownership helpers of the daemon (STYLE.md §5). */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define TAKE_PTR(p) ({ typeof(p) _p_ = (p); (p) = NULL; _p_; })
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Replace *field by a copy of v (NULL: ""). 0 or -ENOMEM (then *field is unchanged). */
static inline int free_and_strdup(char **field, const char *v) {
        char *c = strdup(v ? v : "");

        if (!c)
                return -ENOMEM;
        free(*field);
        *field = c;
        return 0;
}
