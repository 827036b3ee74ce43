/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/cli-format.c: the pure helpers of idevicesync(1) — sizes, rates,
 * ETAs and times as text, the progress line and how it fits a width, the moving-average
 * rate estimator, SNAPSHOT argument parsing, exit codes, and text made safe for a
 * terminal.
 *
 * Table driven; every failed check prints "FAIL: … at file:line" and the run exits 1.
 * Times are checked in fixed zones (TZ=UTC and a POSIX TZ rule), so the result does not
 * depend on the machine's zone or on tzdata.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli-format.h"
#include "macro.h"
#include "udid.h"
#include "test-util.h"

#define MIB (1024ULL * 1024ULL)
#define MSEC (USEC_PER_SEC / 1000)
#define UDID "00008030-001A2B3C4D5E6F70"


/* a rate within 0.01 B/s of what is expected (-1 = unknown must match exactly) */
#define ASSERT_RATE(expr, expected)                                                           \
        do {                                                                                  \
                double _a = (expr), _e = (expected);                                          \
                checks++;                                                                     \
                if (!(fabs(_a - _e) < 0.01)) {                                                \
                        printf("FAIL: %s: expected %.3f, got %.3f at %s:%d\n", #expr, _e, _a, \
                               __FILE__, __LINE__);                                           \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

/* The same, for a table row: names the row, and the line of the row's table. */
#define ASSERT_ROW_STREQ(what, row, got, expected)                                            \
        do {                                                                                  \
                const char *_a = (got), *_e = (expected);                                     \
                checks++;                                                                     \
                if (!(_a == _e || (_a && _e && strcmp(_a, _e) == 0))) {                       \
                        printf("FAIL: %s(%s): expected '%s', got '%s' at %s:%d\n", what, row, \
                               _e ? _e : "(null)", _a ? _a : "(null)", __FILE__, __LINE__);   \
                        failures++;                                                           \
                }                                                                             \
        } while (0)

/* ---- numbers and times -------------------------------------------------------------- */

static void test_format_bytes(void) {
        static const struct {
                uint64_t bytes;
                const char *text;
        } table[] = {
                { 0, "0B" },
                { 1, "1B" },
                { 512, "512B" },
                { 1023, "1023B" },
                { 1024, "1.0K" },
                { 1536, "1.5K" },
                { 1075, "1.0K" },                       /* 1.0498 rounds down */
                { 1076, "1.1K" },                       /* 1.0508 rounds up */
                { 1048524, "1023.9K" },
                { 1048525, "1.0M" },                    /* 1023.95K would show as 1024.0K */
                { MIB, "1.0M" },
                { 1288490189, "1.2G" },
                { 3113851290, "2.9G" },
                { 1610612736, "1.5G" },                 /* 1.5 GiB exactly */
                { 2147483648, "2.0G" },
                { 1099511627776ULL, "1.0T" },
                { 1125899906842624ULL, "1.0P" },
                { 1152921504606846976ULL, "1.0E" },
                { UINT64_MAX, "16.0E" },
        };
        char buf[FORMAT_BYTES_MAX], row[32], small[4];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                snprintf(row, sizeof(row), "%" PRIu64, table[i].bytes);
                ASSERT_ROW_STREQ("format_bytes", row, format_bytes(buf, sizeof(buf),
                                                                   table[i].bytes),
                                 table[i].text);
        }

        /* a short buffer is cut, never overrun */
        ASSERT_TRUE(format_bytes(small, sizeof(small), 1536) == small);
        ASSERT_STREQ(small, "1.5");
}

static void test_format_rate(void) {
        static const struct {
                double rate;
                const char *text;
        } table[] = {
                { -1, "-- B/s" },
                { 0, "0 B/s" },
                { 512, "512 B/s" },
                { 1023.4, "1023 B/s" },
                { 1023.6, "1.0 KB/s" },
                { 1536, "1.5 KB/s" },
                { 85.3 * MIB, "85.3 MB/s" },
                { 1048524, "1023.9 KB/s" },
                { 1023.99 * MIB, "1.0 GB/s" },
                { 2.5 * 1024 * MIB, "2.5 GB/s" },
        };
        char buf[FORMAT_RATE_MAX], row[32];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                snprintf(row, sizeof(row), "%.2f", table[i].rate);
                ASSERT_ROW_STREQ("format_rate", row, format_rate(buf, sizeof(buf),
                                                                 table[i].rate),
                                 table[i].text);
        }
        ASSERT_STREQ(format_rate(buf, sizeof(buf), NAN), "-- B/s");
        ASSERT_STREQ(format_rate(buf, sizeof(buf), INFINITY), "-- B/s");
}

static void test_format_eta(void) {
        static const struct {
                double seconds;
                const char *text;
        } table[] = {
                { -1, "--:--" },
                { 0, "0:00" },
                { 0.4, "0:00" },
                { 21, "0:21" },
                { 21.4, "0:21" },
                { 21.6, "0:22" },
                { 59.5, "1:00" },
                { 600, "10:00" },
                { 3599, "59:59" },
                { 3599.6, "1:00:00" },
                { 3600, "1:00:00" },
                { 3661, "1:01:01" },
                { 359999, "99:59:59" },
                { 359999.6, "--:--" },                  /* 100 hours: not worth showing */
                { 1e12, "--:--" },
        };
        char buf[FORMAT_ETA_MAX], row[32];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                snprintf(row, sizeof(row), "%.1f", table[i].seconds);
                ASSERT_ROW_STREQ("format_eta", row, format_eta(buf, sizeof(buf),
                                                               table[i].seconds),
                                 table[i].text);
        }
        ASSERT_STREQ(format_eta(buf, sizeof(buf), NAN), "--:--");
        ASSERT_STREQ(format_eta(buf, sizeof(buf), INFINITY), "--:--");
}

static void test_format_times(void) {
        static const struct {
                const char *tz;
                usec_t usec;
                const char *date, *clock;
        } table[] = {
                { "UTC", 0, "never", "00:00:00" },
                { "UTC", 1795534200ULL * USEC_PER_SEC, "2026-11-24 15:30", "15:30:00" },
                { "UTC", 1795534200ULL * USEC_PER_SEC + 59999999, "2026-11-24 15:30",
                  "15:30:59" },                         /* truncated, not rounded */
                { "UTC", 1782907259ULL * USEC_PER_SEC, "2026-07-01 12:00", "12:00:59" },
                /* Central European time, without tzdata: winter +1, summer +2 */
                { "CET-1CEST,M3.5.0,M10.5.0/3", 1795534200ULL * USEC_PER_SEC,
                  "2026-11-24 16:30", "16:30:00" },
                { "CET-1CEST,M3.5.0,M10.5.0/3", 1782907259ULL * USEC_PER_SEC,
                  "2026-07-01 14:00", "14:00:59" },
                { "EST5", 1795534200ULL * USEC_PER_SEC, "2026-11-24 10:30", "10:30:00" },
        };
        char buf[FORMAT_TIMESTAMP_MAX], row[64];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                setenv("TZ", table[i].tz, 1);
                tzset();
                snprintf(row, sizeof(row), "%s %" PRIu64, table[i].tz, table[i].usec);
                ASSERT_ROW_STREQ("format_timestamp_usec", row,
                                 format_timestamp_usec(buf, sizeof(buf), table[i].usec),
                                 table[i].date);
                ASSERT_ROW_STREQ("format_clock_usec", row,
                                 format_clock_usec(buf, sizeof(buf), table[i].usec),
                                 table[i].clock);
        }
        setenv("TZ", "UTC", 1);
        tzset();
}

/* ---- the progress line -------------------------------------------------------------- */

static const ProgressInfo example = {
        .percent = 42,
        .bytes_done = 1288490189,               /* 1.2G */
        .bytes_total = 3113851290,              /* 2.9G */
        .files_done = 3120,
        .files_total = 10000,
        .rate = 85.3 * MIB,                     /* ETA 20.4 s */
        .phase = "transfer",
};

static void test_render_fields(void) {
        ProgressInfo unknown_totals = example, no_rate = example, zero = { .rate = -1 },
                     over = example, finished = example, escape = example, stalled = example,
                     zero_rate = { .phase = "" };
        static const char *const full =
                "[########............]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  "
                "ETA 0:20  transfer";
        const struct {
                const char *name;
                const ProgressInfo *p;
                bool bar;
                const char *line;
        } table[] = {
                { "example", &example, true, full },
                { "plain", &example, false,
                  "42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  ETA 0:20  transfer" },
                { "totals unknown", &unknown_totals, true,
                  "[########............]  42%  1.2G  3120 files  85.3 MB/s  transfer" },
                { "rate unknown", &no_rate, true,
                  "[########............]  42%  1.2G/2.9G  3120/10000 files  ETA --:--  "
                  "transfer" },
                { "stalled", &stalled, false,
                  "42%  1.2G/2.9G  3120/10000 files  0 B/s  ETA --:--  transfer" },
                { "nothing yet", &zero, true, "[....................]   0%" },
                { "nothing yet, plain", &zero, false, "0%" },
                { "over 100", &over, true,
                  "[####################] 100%  1.2G/2.9G  3120/10000 files  85.3 MB/s  "
                  "ETA 0:20  transfer" },
                { "finished", &finished, true,
                  "[####################] 100%  2.9G/2.9G  10000/10000 files  85.3 MB/s  "
                  "finishing" },
                { "zero rate, no bytes yet", &zero_rate, false, "0%" },
                { "escape in phase", &escape, false,
                  "42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  ETA 0:20  ?[2Jx" },
        };
        char buf[256];

        unknown_totals.bytes_total = unknown_totals.files_total = 0;
        no_rate.rate = -1;
        stalled.rate = 0;
        over.percent = 250;
        finished.percent = 100;
        finished.bytes_done = finished.bytes_total;
        finished.files_done = finished.files_total;
        finished.phase = "finishing";
        escape.phase = "\033[2Jx";

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t n = render_progress_line(buf, sizeof(buf), 0, table[i].bar, table[i].p);

                ASSERT_ROW_STREQ("render_progress_line", table[i].name, buf, table[i].line);
                ASSERT_EQ(n, strlen(buf));
        }

        ASSERT_RATE(progress_eta(&example), (3113851290.0 - 1288490189.0) / (85.3 * MIB));
        ASSERT_RATE(progress_eta(&no_rate), -1);
        ASSERT_RATE(progress_eta(&unknown_totals), -1);
        ASSERT_RATE(progress_eta(&stalled), -1);
        ASSERT_RATE(progress_eta(&finished), 0);
        ASSERT_RATE(progress_eta(NULL), -1);
}

static void test_render_width(void) {
        /* the example narrowed step by step: bar 10, then rate, files, ETA, bytes, phase, bar */
        static const struct {
                size_t width;
                const char *line;
        } table[] = {
                { 0, "[########............]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  "
                     "ETA 0:20  transfer" },
                { 87, "[########............]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  "
                      "ETA 0:20  transfer" },
                { 86, "[####......]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  ETA 0:20  "
                      "transfer" },
                { 77, "[####......]  42%  1.2G/2.9G  3120/10000 files  85.3 MB/s  ETA 0:20  "
                      "transfer" },
                { 76, "[####......]  42%  1.2G/2.9G  3120/10000 files  ETA 0:20  transfer" },
                { 66, "[####......]  42%  1.2G/2.9G  3120/10000 files  ETA 0:20  transfer" },
                { 65, "[####......]  42%  1.2G/2.9G  ETA 0:20  transfer" },
                { 48, "[####......]  42%  1.2G/2.9G  ETA 0:20  transfer" },
                { 47, "[####......]  42%  1.2G/2.9G  transfer" },
                { 38, "[####......]  42%  1.2G/2.9G  transfer" },
                { 37, "[####......]  42%  transfer" },
                { 27, "[####......]  42%  transfer" },
                { 26, "[####......]  42%" },
                { 17, "[####......]  42%" },
                { 16, "42%" },                          /* the bar goes last */
                { 3, "42%" },
                { 2, "42" },                            /* cut: nothing else fits */
                { 1, "4" },
        };
        char buf[256], row[16];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t n = render_progress_line(buf, sizeof(buf), table[i].width, true,
                                                &example);

                snprintf(row, sizeof(row), "%zu", table[i].width);
                ASSERT_ROW_STREQ("render_progress_line width", row, buf, table[i].line);
                ASSERT_TRUE(table[i].width == 0 || n <= table[i].width);
        }

        /* every width from 1 to 120 fits, with and without the bar */
        for (size_t w = 1; w <= 120; w++) {
                ASSERT_TRUE(render_progress_line(buf, sizeof(buf), w, true, &example) <= w);
                ASSERT_TRUE(strlen(buf) <= w);
                ASSERT_TRUE(render_progress_line(buf, sizeof(buf), w, false, &example) <= w);
                ASSERT_TRUE(strlen(buf) <= w);
        }

        /* a small buffer is cut and terminated */
        ASSERT_EQ(render_progress_line(buf, 8, 0, true, &example), 7);
        ASSERT_STREQ(buf, "[######");
        ASSERT_EQ(render_progress_line(buf, 1, 0, true, &example), 0);
        ASSERT_STREQ(buf, "");
        ASSERT_EQ(render_progress_line(buf, sizeof(buf), 0, true, NULL), 0);
        ASSERT_STREQ(buf, "");
}

/* ---- rate estimation ---------------------------------------------------------------- */

static void test_rate_estimator(void) {
        RateEstimator e;
        usec_t t;

        /* no samples, one sample, and less than RATE_SPAN_MIN of history: unknown */
        rate_estimator_init(&e, 0);
        ASSERT_RATE(rate_estimator_get(&e, 0), -1);
        rate_estimator_add(&e, 10 * USEC_PER_SEC, 1000);
        ASSERT_RATE(rate_estimator_get(&e, 10 * USEC_PER_SEC), -1);
        ASSERT_RATE(rate_estimator_get(&e, 10 * USEC_PER_SEC + 999 * MSEC), -1);
        ASSERT_RATE(rate_estimator_get(&e, 9 * USEC_PER_SEC), -1);   /* before the newest */
        /* one sample a second ago and no growth since: standing still */
        ASSERT_RATE(rate_estimator_get(&e, 11 * USEC_PER_SEC), 0);

        /* a young estimate averages from the first sample */
        rate_estimator_add(&e, 11 * USEC_PER_SEC, 1000 + 100 * MIB);
        rate_estimator_add(&e, 12 * USEC_PER_SEC, 1000 + 200 * MIB);
        ASSERT_RATE(rate_estimator_get(&e, 12 * USEC_PER_SEC), 100.0 * MIB);

        /* steady 10 MiB/s, four samples a second, for 20 s: exactly 10 MiB/s */
        rate_estimator_init(&e, 0);
        for (t = 0; t <= 20 * USEC_PER_SEC; t += 250 * MSEC)
                rate_estimator_add(&e, 100 * USEC_PER_SEC + t, t / MSEC * 10 * MIB / 1000);
        t = 120 * USEC_PER_SEC;
        ASSERT_RATE(rate_estimator_get(&e, t), 10.0 * MIB);
        ASSERT_TRUE(e.n <= 5 * 4 + 1);                  /* the window and its anchor only */

        /* then a stall: the rate falls to half in half a window and to 0 after one */
        ASSERT_RATE(rate_estimator_get(&e, t + 2500 * MSEC), 5.0 * MIB);
        ASSERT_RATE(rate_estimator_get(&e, t + 5 * USEC_PER_SEC), 0);
        ASSERT_RATE(rate_estimator_get(&e, t + 60 * USEC_PER_SEC), 0);

        /* a faster phase: after a full window only the new rate counts */
        for (usec_t u = 250 * MSEC; u <= 10 * USEC_PER_SEC; u += 250 * MSEC)
                rate_estimator_add(&e, t + u, 200 * MIB + u / MSEC * 50 * MIB / 1000);
        ASSERT_RATE(rate_estimator_get(&e, t + 10 * USEC_PER_SEC), 50.0 * MIB);

        /* a counter that goes backwards starts afresh */
        rate_estimator_add(&e, t + 11 * USEC_PER_SEC, 5);
        ASSERT_EQ(e.n, 1);
        ASSERT_RATE(rate_estimator_get(&e, t + 11 * USEC_PER_SEC), -1);
        rate_estimator_add(&e, t + 13 * USEC_PER_SEC, 5 + 4 * MIB);
        ASSERT_RATE(rate_estimator_get(&e, t + 13 * USEC_PER_SEC), 2.0 * MIB);

        /* a sample at the same time replaces the previous one */
        rate_estimator_add(&e, t + 13 * USEC_PER_SEC, 5 + 8 * MIB);
        ASSERT_EQ(e.n, 2);
        ASSERT_RATE(rate_estimator_get(&e, t + 13 * USEC_PER_SEC), 4.0 * MIB);

        /* a time that goes backwards starts afresh too */
        rate_estimator_add(&e, t, 5 + 9 * MIB);
        ASSERT_EQ(e.n, 1);

        /* a custom window of 2 s */
        rate_estimator_init(&e, 2 * USEC_PER_SEC);
        rate_estimator_add(&e, 0, 0);
        rate_estimator_add(&e, 1 * USEC_PER_SEC, 100);
        rate_estimator_add(&e, 2 * USEC_PER_SEC, 200);
        rate_estimator_add(&e, 3 * USEC_PER_SEC, 1200);
        ASSERT_RATE(rate_estimator_get(&e, 3 * USEC_PER_SEC), 550);   /* (1200 - 100) / 2 */

        /* more samples than the ring holds: the oldest go, the estimate stays sane */
        rate_estimator_init(&e, 0);
        for (unsigned i = 0; i < 3 * RATE_SAMPLES_MAX; i++)
                rate_estimator_add(&e, (usec_t) i * 10 * MSEC, (uint64_t) i * 1000);
        ASSERT_EQ(e.n, RATE_SAMPLES_MAX);
        /* ring holds samples 128..191 (1.28 s .. 1.91 s); at 3 s: 63000 B over 1.72 s */
        ASSERT_RATE(rate_estimator_get(&e, 3 * USEC_PER_SEC),
                    (191000.0 - 128000.0) / 1.72);
}

/* ---- arguments ---------------------------------------------------------------------- */

static void test_udid_and_id(void) {
        static const struct {
                const char *s;
                bool udid, id;
        } table[] = {
                { UDID, true, true },
                { "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8", true, true },
                { "-", true, true },
                { "0123456789012345678901234567890123456789012345678901234567890123", true,
                  true },                               /* 64 characters */
                { "01234567890123456789012345678901234567890123456789012345678901234", false,
                  true },                               /* 65 */
                { "", false, false },
                { "xyz", false, true },
                { "0000 1", false, false },
                { "20261124T153000Z", false, true },
                { "1", true, true },
                { "a.b", false, true },
                { ".", false, false },
                { "..", false, false },
                { "a..b", false, false },
                { "a/b", false, false },
                { "a\tb", false, false },
                { "a\x7f", false, false },
                { "\xc3\xa9", false, false },           /* non-ASCII */
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                checks++;
                if (udid_is_valid(table[i].s) != table[i].udid ||
                    snapshot_id_is_valid(table[i].s) != table[i].id) {
                        printf("FAIL: '%s': expected udid=%d id=%d at %s:%d\n", table[i].s,
                               table[i].udid, table[i].id, __FILE__, __LINE__);
                        failures++;
                }
        }
        ASSERT_TRUE(!udid_is_valid(NULL));
        ASSERT_TRUE(!snapshot_id_is_valid(NULL));

        char id[CLI_SNAPSHOT_ID_MAX + 2];
        memset(id, 'a', sizeof(id) - 1);
        id[sizeof(id) - 1] = '\0';
        ASSERT_TRUE(!snapshot_id_is_valid(id));         /* 256 characters */
        id[CLI_SNAPSHOT_ID_MAX] = '\0';
        ASSERT_TRUE(snapshot_id_is_valid(id));          /* 255 */
}

static void test_parse_snapshot_arg(void) {
        static const struct {
                const char *arg;
                int r;
                const char *udid, *id;
        } table[] = {
                { UDID "/20261124T153000Z", 0, UDID, "20261124T153000Z" },
                { UDID, 0, UDID, "" },                  /* the latest */
                { UDID "/7", 0, UDID, "7" },
                { "abc/1", 0, "abc", "1" },
                /* any letter case: the daemon's spelling comes back */
                { "00008030-001a2b3c4d5e6f70/1", 0, "00008030-001A2B3C4D5E6F70", "1" },
                { "00008030001A2B3C4D5E6F708192A3B4C5D6E7F8", 0,
                  "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8", "" },
                { "", -EINVAL, NULL, NULL },
                { "/", -EINVAL, NULL, NULL },
                { "/1", -EINVAL, NULL, NULL },
                { UDID "/", -EINVAL, NULL, NULL },
                { UDID "/a/b", -EINVAL, NULL, NULL },
                { UDID "//a", -EINVAL, NULL, NULL },
                { UDID "/..", -EINVAL, NULL, NULL },
                { UDID "/.", -EINVAL, NULL, NULL },
                { UDID "/a..b", -EINVAL, NULL, NULL },
                { UDID "/../etc", -EINVAL, NULL, NULL },
                { UDID "/a b", -EINVAL, NULL, NULL },
                { "xyz/1", -EINVAL, NULL, NULL },
                { "xyz", -EINVAL, NULL, NULL },
                { "../" UDID, -EINVAL, NULL, NULL },
                { UDID " ", -EINVAL, NULL, NULL },
        };
        char sentinel[] = "untouched";

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char *udid = sentinel, *id = sentinel;
                int r = parse_snapshot_arg(table[i].arg, &udid, &id);

                checks++;
                if (r != table[i].r) {
                        printf("FAIL: parse_snapshot_arg('%s'): expected %d, got %d at %s:%d\n",
                               table[i].arg, table[i].r, r, __FILE__, __LINE__);
                        failures++;
                }
                if (r == 0) {
                        ASSERT_ROW_STREQ("parse_snapshot_arg udid", table[i].arg, udid,
                                         table[i].udid);
                        ASSERT_ROW_STREQ("parse_snapshot_arg id", table[i].arg, id,
                                         table[i].id);
                        free(udid);
                        free(id);
                } else {
                        /* outputs are set only on success */
                        ASSERT_TRUE(udid == sentinel);
                        ASSERT_TRUE(id == sentinel);
                }
        }

        char *udid, *id;
        ASSERT_EQ(parse_snapshot_arg(NULL, &udid, &id), -EINVAL);
        ASSERT_EQ(parse_snapshot_arg(UDID, NULL, &id), -EINVAL);
}

/* ---- exit codes --------------------------------------------------------------------- */

static void test_exit_codes(void) {
        static const struct {
                const char *result;
                int code;
        } results[] = {
                { "done", CLI_EXIT_DONE },
                { "cancelled", CLI_EXIT_CANCELLED },
                { "failed", CLI_EXIT_FAILED },
                { "disconnected", CLI_EXIT_FAILED },
                { "not-trusted", CLI_EXIT_FAILED },
                { "locked", CLI_EXIT_FAILED },
                { "passcode-timeout", CLI_EXIT_FAILED },
                { "disk-full", CLI_EXIT_FAILED },
                { "needs-reboot", CLI_EXIT_FAILED },
                { "encryption-required", CLI_EXIT_FAILED },
                { "wrong-password", CLI_EXIT_FAILED },
                { "busy", CLI_EXIT_FAILED },
                { "protocol-error", CLI_EXIT_FAILED },
                { "", CLI_EXIT_FAILED },
                { "Done", CLI_EXIT_FAILED },            /* words are exact */
                { "something-new", CLI_EXIT_FAILED },
                { NULL, CLI_EXIT_FAILED },
        };
        static const struct {
                const char *name;
                int error, code;
        } errors[] = {
                { "org.idevicesync1.Error.PolicyDenied", -EIO, CLI_EXIT_POLICY },
                { "org.idevicesync1.Error.PolicyDenied", -EACCES, CLI_EXIT_POLICY },
                { "org.freedesktop.DBus.Error.AccessDenied", -EACCES, CLI_EXIT_ACCESS },
                { "org.freedesktop.DBus.Error.AccessDenied", -EIO, CLI_EXIT_ACCESS },
                { "org.freedesktop.DBus.Error.AuthFailed", -EACCES, CLI_EXIT_ACCESS },
                { NULL, -EACCES, CLI_EXIT_ACCESS },
                { NULL, -EPERM, CLI_EXIT_ACCESS },
                { "org.idevicesync1.Error.Busy", -EIO, CLI_EXIT_FAILED },
                { "org.idevicesync1.Error.NotConnected", -EIO, CLI_EXIT_FAILED },
                { "org.idevicesync1.Error.NoSuchSnapshot", -EIO, CLI_EXIT_FAILED },
                { "org.freedesktop.DBus.Error.ServiceUnknown", -EHOSTDOWN, CLI_EXIT_FAILED },
                { "org.freedesktop.DBus.Error.UnknownObject", -EBADR, CLI_EXIT_FAILED },
                { NULL, -ENOENT, CLI_EXIT_FAILED },
                { NULL, -ETIMEDOUT, CLI_EXIT_FAILED },
        };

        for (size_t i = 0; i < ELEMENTSOF(results); i++) {
                checks++;
                if (result_to_exit_code(results[i].result) != results[i].code) {
                        printf("FAIL: result_to_exit_code('%s'): expected %d, got %d at %s:%d\n",
                               results[i].result ? results[i].result : "(null)",
                               results[i].code, result_to_exit_code(results[i].result),
                               __FILE__, __LINE__);
                        failures++;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(errors); i++) {
                int code = bus_error_to_exit_code(errors[i].name, errors[i].error);

                checks++;
                if (code != errors[i].code) {
                        printf("FAIL: bus_error_to_exit_code('%s', %d): expected %d, got %d "
                               "at %s:%d\n", errors[i].name ? errors[i].name : "(null)",
                               errors[i].error, errors[i].code, code, __FILE__, __LINE__);
                        failures++;
                }
        }
}

/* ---- text for a terminal ------------------------------------------------------------ */

static void test_text(void) {
        static const struct {
                const char *in, *out;
        } sanitize[] = {
                { "", "" },
                { "Anna's iPhone", "Anna's iPhone" },
                { "a\033[31mb", "a?[31mb" },
                { "a\nb\rc\td", "a?b?c?d" },
                { "\x7f", "?" },
                { "x\xc2\x9b" "2J", "x?2J" },           /* C1 CSI */
                { "\xc2\x80\xc2\x9f", "??" },
                { "caf\xc3\xa9 \xc2\xa0", "caf\xc3\xa9 \xc2\xa0" },  /* é and NBSP stay */
                { "\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac" },
        };
        static const struct {
                const char *in;
                size_t width;
                const char *out;
        } truncate[] = {
                { "abcdefgh", 8, "abcdefgh" },
                { "abcdefgh", 100, "abcdefgh" },
                { "abcdefgh", 7, "abcd..." },
                { "abcdefgh", 4, "a..." },
                { "abcdefgh", 3, "abc" },
                { "abcdefgh", 0, "" },
                { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 4, "\xc3\xa9..." },
                { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 5,
                  "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9" },
                { "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 2, "\xc3\xa9\xc3\xa9" },
        };

        for (size_t i = 0; i < ELEMENTSOF(sanitize); i++) {
                char *s = strdup(sanitize[i].in);

                ASSERT_TRUE(s);
                ASSERT_ROW_STREQ("text_sanitize", sanitize[i].out, text_sanitize(s),
                                 sanitize[i].out);
                free(s);
        }
        ASSERT_TRUE(text_sanitize(NULL) == NULL);

        for (size_t i = 0; i < ELEMENTSOF(truncate); i++) {
                char *s = strdup(truncate[i].in);

                ASSERT_TRUE(s);
                ASSERT_ROW_STREQ("text_truncate", truncate[i].in,
                                 text_truncate(s, truncate[i].width), truncate[i].out);
                ASSERT_TRUE(text_width(s) <= truncate[i].width);
                free(s);
        }
        ASSERT_TRUE(text_truncate(NULL, 3) == NULL);

        ASSERT_EQ(text_width(NULL), 0);
        ASSERT_EQ(text_width(""), 0);
        ASSERT_EQ(text_width("abc"), 3);
        ASSERT_EQ(text_width("caf\xc3\xa9"), 4);
        ASSERT_EQ(text_width("\xe6\x97\xa5\xe6\x9c\xac"), 2);
        ASSERT_EQ(text_width("\xf0\x9f\x93\xb1 x"), 3);
}

int main(void) {
        setenv("TZ", "UTC", 1);
        tzset();

        test_format_bytes();
        test_format_rate();
        test_format_eta();
        test_format_times();
        test_render_fields();
        test_render_width();
        test_rate_estimator();
        test_udid_and_id();
        test_parse_snapshot_arg();
        test_exit_codes();
        test_text();

        printf("%u checks, %u failed\n", checks, failures);
        return failures > 0 ? 1 : 0;
}
