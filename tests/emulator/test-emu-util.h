/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the emulator's unit tests (test-emu-*.c) share: the failure counter, the assertions
 * (each prints "FAIL: … at file:line" and counts; ASSERT_OR_RETURN also leaves the test
 * function, for checks the rest of it depends on) and removing a temporary tree.
 */
#pragma once

#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static unsigned failures;

#define ASSERT(expr)                                                                         \
        do {                                                                                 \
                if (!(expr)) {                                                               \
                        printf("FAIL: %s at %s:%d\n", #expr, __FILE__, __LINE__);            \
                        failures++;                                                          \
                }                                                                            \
        } while (0)

#define ASSERT_OR_RETURN(expr)                                                               \
        do {                                                                                 \
                if (!(expr)) {                                                               \
                        printf("FAIL: %s at %s:%d\n", #expr, __FILE__, __LINE__);            \
                        failures++;                                                          \
                        return;                                                              \
                }                                                                            \
        } while (0)

#define ASSERT_EQ_INT(a, b)                                                                  \
        do {                                                                                 \
                long long _a = (a), _b = (b);                                                \
                if (_a != _b) {                                                              \
                        printf("FAIL: %s == %s (%lld vs %lld) at %s:%d\n", #a, #b, _a, _b,   \
                               __FILE__, __LINE__);                                          \
                        failures++;                                                          \
                }                                                                            \
        } while (0)

#define ASSERT_EQ_U64(a, b)                                                                  \
        do {                                                                                 \
                uint64_t _a = (a), _b = (b);                                                 \
                if (_a != _b) {                                                              \
                        printf("FAIL: %s == %s (%" PRIu64 " vs %" PRIu64 ") at %s:%d\n", #a, \
                               #b, _a, _b, __FILE__, __LINE__);                              \
                        failures++;                                                          \
                }                                                                            \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                   \
        do {                                                                                 \
                const char *_a = (a), *_b = (b);                                             \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                     \
                        printf("FAIL: %s == %s ('%s' vs '%s') at %s:%d\n", #a, #b,           \
                               _a ?: "(null)", _b ?: "(null)", __FILE__, __LINE__);          \
                        failures++;                                                          \
                }                                                                            \
        } while (0)

static inline int emu_test_rm_one(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        (void) remove(path);
        return 0;
}

/* Remove a temporary tree (no symlink followed). */
static inline void emu_test_rm_rf(const char *path) {
        (void) nftw(path, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh profile directory base/name (into out) whose device.ini is "[Device]", "Name=Test"
 * and the lines of ini. */
static inline void emu_test_make_profile(const char *base, const char *name, const char *ini,
                                         char *out, size_t n) {
        char path[4200];
        FILE *f;

        snprintf(out, n, "%s/%s", base, name);
        (void) mkdir(out, 0755);
        snprintf(path, sizeof(path), "%s/device.ini", out);
        f = fopen(path, "w");
        if (f) {
                fprintf(f, "[Device]\nName=Test\n%s", ini);
                fclose(f);
        }
}
