/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ownership and small string helpers every part of the project shares (STYLE.md §5):
 * cleanup attributes, TAKE_PTR/TAKE_FD, ELEMENTSOF, and the few string predicates the
 * daemon and the CLI both need. Header-only.
 */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
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

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
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

static inline bool isempty(const char *s) {
        return !s || !s[0];
}

/* qsort() that takes an empty array too: glibc declares qsort()'s base nonnull, and an
 * empty array may well be NULL. */
static inline void qsort_safe(void *base, size_t n, size_t size,
                              int (*compare)(const void *, const void *)) {
        if (n > 1)
                qsort(base, n, size, compare);
}

static inline bool streq_ptr(const char *a, const char *b) {
        return a == b || (a && b && strcmp(a, b) == 0);
}
