/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Assertions of the table-driven unit tests: each failed check prints
 * "FAIL: <expression and values> at file:line" (the runner shows the last one), is
 * counted, and the test goes on; main() returns test_exit_status().
 */
#pragma once

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static unsigned failures, checks;

#define ASSERT_TRUE(expr)                                                                     \
        do {                                                                                  \
                checks++;                                                                     \
                if (!(expr)) {                                                                \
                        printf("FAIL: %s is false at %s:%d\n", #expr, __FILE__, __LINE__);    \
                        failures++;                                                           \
                }                                                                             \
        } while (0)
#define ASSERT(expr) ASSERT_TRUE(expr)

#define ASSERT_EQ(expr, expected)                                                             \
        do {                                                                                  \
                long long _a = (long long) (expr), _e = (long long) (expected);               \
                checks++;                                                                     \
                if (_a != _e) {                                                               \
                        printf("FAIL: %s: expected %lld, got %lld at %s:%d\n", #expr, _e, _a, \
                               __FILE__, __LINE__);                                           \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

#define ASSERT_EQ_U64(expr, expected)                                                         \
        do {                                                                                  \
                uint64_t _a = (expr), _e = (expected);                                        \
                checks++;                                                                     \
                if (_a != _e) {                                                               \
                        printf("FAIL: %s: expected %" PRIu64 ", got %" PRIu64 " at %s:%d\n",  \
                               #expr, _e, _a, __FILE__, __LINE__);                            \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

#define ASSERT_STREQ(expr, expected)                                                          \
        do {                                                                                  \
                const char *_a = (expr), *_e = (expected);                                    \
                checks++;                                                                     \
                if (!(_a == _e || (_a && _e && strcmp(_a, _e) == 0))) {                       \
                        printf("FAIL: %s: expected '%s', got '%s' at %s:%d\n", #expr,         \
                               _e ? _e : "(null)", _a ? _a : "(null)", __FILE__, __LINE__);   \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

/* A call that returns 0/positive or -errno. */
#define ASSERT_OK(expr)                                                                       \
        do {                                                                                  \
                long long _r = (long long) (expr);                                            \
                checks++;                                                                     \
                if (_r < 0) {                                                                 \
                        printf("FAIL: %s (%s) at %s:%d\n", #expr, strerror((int) -_r),        \
                               __FILE__, __LINE__);                                           \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

/* A libc call that returns -1 and sets errno. */
#define ASSERT_SYS(expr)                                                                      \
        do {                                                                                  \
                checks++;                                                                     \
                if ((expr) < 0) {                                                             \
                        printf("FAIL: %s (%m) at %s:%d\n", #expr, __FILE__, __LINE__);        \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

/* Write n bytes to dir/name (a fuzz corpus file); nothing when dir is NULL. */
static inline void test_save(const char *dir, const char *name, const void *data, size_t n) {
        char path[4096];
        FILE *f;

        if (!dir)
                return;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        if (f) {
                fwrite(data, 1, n, f);
                fclose(f);
        }
}

static inline int test_exit_status(void) {
        return failures ? 1 : 0;
}
