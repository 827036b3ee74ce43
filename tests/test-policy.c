/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/policy.c: one table row per rule (and the cases where a rule does
 * not apply), each checking the verdict, the exact reason the bus shows and when to look
 * again.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"
#include "test-util.h"

#define SEC 1000000ull
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define GIB (1024ull * 1024 * 1024)
/* 2026-12-03 12:00:00 UTC, a whole minute. */
#define NOW (1796299200ull * SEC)

typedef struct Case {
        const char *name;
        void (*setup)(Policy *p, PolicyFacts *f);
        PolicyVerdict verdict;
        const char *reason;
        uint64_t next;
} Case;

static void nothing(Policy *p, PolicyFacts *f) {
}

static void running(Policy *p, PolicyFacts *f) {
        f->running_job = "backup";
}

static void interval_recent(Policy *p, PolicyFacts *f) {
        p->backup.min_interval = 12 * HOUR;
        f->last_backup = NOW - HOUR;
}

static void interval_failed(Policy *p, PolicyFacts *f) {
        interval_recent(p, f);
        f->last_backup_ok = false;
}

static void interval_old(Policy *p, PolicyFacts *f) {
        p->backup.min_interval = 12 * HOUR;
        f->last_backup = NOW - 13 * HOUR;
}

static void window_outside(Policy *p, PolicyFacts *f) {
        p->backup.time_window = (TimeWindow) { .enabled = true, .start = 22 * 60, .end = 6 * 60 };
        f->minute_of_day = 12 * 60;
}

static void window_inside(Policy *p, PolicyFacts *f) {
        window_outside(p, f);
        f->minute_of_day = 23 * 60;
}

static void battery_low(Policy *p, PolicyFacts *f) {
        p->backup.min_battery = 30;
        f->battery = 20;
}

static void battery_low_charging(Policy *p, PolicyFacts *f) {
        battery_low(p, f);
        f->charging = true;
}

static void battery_unknown(Policy *p, PolicyFacts *f) {
        battery_low(p, f);
        f->battery = -1;
}

static void not_charging(Policy *p, PolicyFacts *f) {
        p->backup.require_charging = true;
}

static void disk_bytes(Policy *p, PolicyFacts *f) {
        p->backup.min_free_space = (SpaceLimit) { .kind = SPACE_BYTES, .value = 20 * GIB };
        f->space_avail = 10 * GIB;
}

static void disk_percent(Policy *p, PolicyFacts *f) {
        p->backup.min_free_space = (SpaceLimit) { .kind = SPACE_PERCENT, .value = 10 };
        f->space_total = 100 * GIB;
        f->space_avail = 5 * GIB;
}

static void disk_unknown(Policy *p, PolicyFacts *f) {
        disk_bytes(p, f);
        f->have_space = false;
}

static void job_and_battery(Policy *p, PolicyFacts *f) {
        battery_low(p, f);
        f->running_job = "verify";              /* the first rule that holds wins */
}

static const Case cases[] = {
        { "defaults", nothing, POLICY_ELIGIBLE, "", 0 },
        { "running job", running, POLICY_DEFERRED, "A backup job is running.", NOW + MIN },
        { "MinInterval, recent", interval_recent, POLICY_DEFERRED,
          "The last backup is less than MinInterval=12h00min old.", NOW + 11 * HOUR },
        { "MinInterval, last failed", interval_failed, POLICY_ELIGIBLE, "", 0 },
        { "MinInterval, old", interval_old, POLICY_ELIGIBLE, "", 0 },
        { "TimeWindow, outside", window_outside, POLICY_DEFERRED,
          "Outside TimeWindow=22:00-06:00.", NOW + 10 * HOUR },
        { "TimeWindow, inside", window_inside, POLICY_ELIGIBLE, "", 0 },
        { "MinBattery", battery_low, POLICY_DEFERRED,
          "The battery is at 20%, below MinBattery=30%, and not charging.",
          NOW + POLICY_RECHECK_USEC },
        { "MinBattery, charging", battery_low_charging, POLICY_ELIGIBLE, "", 0 },
        { "MinBattery, unknown", battery_unknown, POLICY_ELIGIBLE, "", 0 },
        { "RequireCharging", not_charging, POLICY_DEFERRED,
          "The device is not charging (RequireCharging=yes).", NOW + POLICY_RECHECK_USEC },
        { "MinFreeSpace, bytes", disk_bytes, POLICY_DEFERRED,
          "Only 10240 MiB free for backups, below MinFreeSpace (20480 MiB).",
          NOW + POLICY_RECHECK_USEC },
        { "MinFreeSpace, percent", disk_percent, POLICY_DEFERRED,
          "Only 5120 MiB free for backups, below MinFreeSpace (10240 MiB).",
          NOW + POLICY_RECHECK_USEC },
        { "MinFreeSpace, unknown", disk_unknown, POLICY_ELIGIBLE, "", 0 },
        { "first rule wins", job_and_battery, POLICY_DEFERRED, "A verify job is running.",
          NOW + MIN },
};

int main(void) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const Case *c = &cases[i];
                Policy p;
                PolicyFacts f = {
                        .now = NOW,
                        .minute_of_day = 12 * 60,
                        .last_backup_ok = true,
                        .battery = 80,
                        .have_space = true,
                        .space_total = 1000 * GIB,
                        .space_avail = 500 * GIB,
                };
                PolicyDecision d;

                policy_init_defaults(&p);
                p.backup.min_free_space = (SpaceLimit) { .kind = SPACE_BYTES, .value = 0 };
                c->setup(&p, &f);
                policy_evaluate(&p, &f, &d);
                if (d.verdict != c->verdict || strcmp(d.reason, c->reason) != 0 ||
                    d.next != c->next)
                        printf("FAIL: case '%s': got %d '%s' next=%" PRIu64 ", expected %d '%s' "
                               "next=%" PRIu64 " at %s:%d\n", c->name, d.verdict, d.reason,
                               d.next, c->verdict, c->reason, c->next, __FILE__, __LINE__);
                ASSERT_EQ(d.verdict, c->verdict);
                ASSERT_STREQ(d.reason, c->reason);
                ASSERT_EQ_U64(d.next, c->next);
                policy_done(&p);
        }
        return test_exit_status();
}
