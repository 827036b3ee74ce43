/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy evaluation (see policy.h). The rules, in order: a running job, MinInterval=
 * (counted from the last good backup), TimeWindow=, MinBattery= unless charging,
 * RequireCharging=, MinFreeSpace= on the backup filesystem. The first that holds defers,
 * with a sentence that names the setting.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"

#define USEC_PER_SEC 1000000ull
#define USEC_PER_MINUTE (60ull * USEC_PER_SEC)
#define RUNNING_JOB_RECHECK_USEC (60ull * USEC_PER_SEC)

static void format_span(char *buf, size_t n, uint64_t usec) {
        uint64_t s = usec / USEC_PER_SEC;

        if (s >= 3600)
                snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "min", s / 3600, (s % 3600) / 60);
        else if (s >= 60)
                snprintf(buf, n, "%" PRIu64 "min", s / 60);
        else
                snprintf(buf, n, "%" PRIu64 "s", s);
}

static void defer(PolicyDecision *ret, uint64_t next, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void defer(PolicyDecision *ret, uint64_t next, const char *fmt, ...) {
        va_list ap;

        ret->verdict = POLICY_DEFERRED;
        ret->next = next;
        va_start(ap, fmt);
        vsnprintf(ret->reason, sizeof(ret->reason), fmt, ap);
        va_end(ap);
}

void policy_evaluate(const Policy *p, const PolicyFacts *f, PolicyDecision *ret) {
        char span[64];

        *ret = (PolicyDecision) { .verdict = POLICY_ELIGIBLE };
        if (f->running_job) {
                defer(ret, f->now + RUNNING_JOB_RECHECK_USEC, "A %s job is running.",
                      f->running_job);
                return;
        }
        if (p->backup.min_interval > 0 && f->last_backup > 0 && f->last_backup_ok &&
            f->last_backup + p->backup.min_interval > f->now) {
                format_span(span, sizeof(span), p->backup.min_interval);
                defer(ret, f->last_backup + p->backup.min_interval,
                      "The last backup is less than MinInterval=%s old.", span);
                return;
        }
        if (!policy_time_window_contains(p, f->minute_of_day)) {
                unsigned wait = policy_time_window_wait(p, f->minute_of_day);

                defer(ret, (f->now / USEC_PER_MINUTE + wait) * USEC_PER_MINUTE,
                      "Outside TimeWindow=%02u:%02u-%02u:%02u.", p->backup.time_window.start / 60,
                      p->backup.time_window.start % 60, p->backup.time_window.end / 60 % 24,
                      p->backup.time_window.end % 60);
                return;
        }
        if (p->backup.min_battery > 0 && f->battery >= 0 &&
            (unsigned) f->battery < p->backup.min_battery &&
            !f->charging) {
                defer(ret, f->now + POLICY_RECHECK_USEC,
                      "The battery is at %d%%, below MinBattery=%u%%, and not charging.",
                      f->battery, p->backup.min_battery);
                return;
        }
        if (p->backup.require_charging && !f->charging) {
                defer(ret, f->now + POLICY_RECHECK_USEC,
                      "The device is not charging (RequireCharging=yes).");
                return;
        }
        if (f->have_space) {
                uint64_t floor_b = policy_min_free_bytes(p, f->space_total);

                if (f->space_avail < floor_b)
                        defer(ret, f->now + POLICY_RECHECK_USEC,
                              "Only %" PRIu64 " MiB free for backups, below MinFreeSpace (%" PRIu64
                              " MiB).", f->space_avail >> 20, floor_b >> 20);
        }
}
