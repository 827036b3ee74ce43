/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cli-format: the pure parts of the idevicesync(1) client — turning numbers and times into
 * short human strings, drawing one progress line within a width, estimating a transfer
 * rate, parsing SNAPSHOT arguments and mapping job results and bus errors to exit codes.
 *
 * Why a module of its own: none of this needs a bus, a terminal or a clock of its own, so
 * tests/test-cli-format.c can check every case with plain tables, and the client itself
 * (daemon/idevicesync.c) is left with bus and terminal glue only. Nothing here allocates
 * except the functions that say so; the format_*() helpers write into a caller's buffer
 * and return it, so they fit straight into a printf() argument list.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t usec_t;

#define USEC_PER_SEC ((usec_t) 1000000ULL)

/* Exit codes of idevicesync(1); the man page has the same table. */
enum {
        CLI_EXIT_DONE = 0,              /* the operation (or the job waited for) succeeded */
        CLI_EXIT_FAILED = 1,            /* anything else that went wrong */
        CLI_EXIT_USAGE = 2,             /* bad command line */
        CLI_EXIT_CANCELLED = 3,         /* the job waited for was cancelled */
        CLI_EXIT_POLICY = 4,            /* deferred or denied by the device's policy */
        CLI_EXIT_ACCESS = 5,            /* the caller may not do this (not root) */
};

#define CLI_SNAPSHOT_ID_MAX 255U        /* characters of a snapshot id */

/* Buffer sizes that always suffice for the format_*() helpers below. */
#define FORMAT_BYTES_MAX 16U            /* "1023.9K", "16.0E" */
#define FORMAT_RATE_MAX 24U             /* "1023.9 MB/s", "-- B/s" */
#define FORMAT_ETA_MAX 16U              /* "99:59:59", "--:--" */
#define FORMAT_TIMESTAMP_MAX 64U        /* "2026-11-24 15:30", "never" */

/*
 * What one progress line shows. Every field is copied by the renderer; phase is borrowed.
 * A total of 0 means "unknown": then only the done count is shown, and no ETA.
 */
typedef struct ProgressInfo {
        unsigned percent;               /* 0..100 (larger values are shown as 100) */
        uint64_t bytes_done;
        uint64_t bytes_total;           /* 0 = unknown */
        uint64_t files_done;
        uint64_t files_total;           /* 0 = unknown */
        double rate;                    /* bytes per second; < 0 or NaN = unknown */
        const char *phase;              /* borrowed; NULL or "" = none */
} ProgressInfo;

/*
 * The moving-average rate of a growing byte counter: samples (time, bytes done) go in
 * as they arrive, and the rate is the growth over the last `window` µs before "now".
 * Between samples the counter is taken to stand still, so a stalled transfer's rate
 * falls towards 0 by itself. A counter that goes backwards (a new phase counting from
 * 0) starts the estimate afresh. Fixed size, no allocation; zero-initialise it or use
 * rate_estimator_init().
 */
#define RATE_SAMPLES_MAX 64U
#define RATE_WINDOW_DEFAULT (5 * USEC_PER_SEC)
#define RATE_SPAN_MIN (USEC_PER_SEC)    /* less history than this: the rate is unknown */

typedef struct RateSample {
        usec_t time;                    /* CLOCK_MONOTONIC µs */
        uint64_t bytes;
} RateSample;

typedef struct RateEstimator {
        usec_t window;                  /* 0 = RATE_WINDOW_DEFAULT */
        RateSample samples[RATE_SAMPLES_MAX];   /* a ring, oldest at [first] */
        size_t first;
        size_t n;
} RateEstimator;

const char *format_bytes(char *buf, size_t size, uint64_t bytes);
const char *format_rate(char *buf, size_t size, double bytes_per_sec);
const char *format_eta(char *buf, size_t size, double seconds);
const char *format_timestamp_usec(char *buf, size_t size, usec_t usec);
const char *format_clock_usec(char *buf, size_t size, usec_t usec);

size_t render_progress_line(char *buf, size_t size, size_t width, bool bar,
                            const ProgressInfo *p);
double progress_eta(const ProgressInfo *p);

void rate_estimator_init(RateEstimator *e, usec_t window);
void rate_estimator_add(RateEstimator *e, usec_t now, uint64_t bytes_done);
double rate_estimator_get(const RateEstimator *e, usec_t now);

bool snapshot_id_is_valid(const char *s);
int parse_snapshot_arg(const char *arg, char **ret_udid, char **ret_id);

int result_to_exit_code(const char *result);
int bus_error_to_exit_code(const char *name, int error);

char *text_sanitize(char *s);
size_t text_width(const char *s);
char *text_truncate(char *s, size_t width);
