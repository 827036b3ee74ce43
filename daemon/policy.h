/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Policy evaluation (policy.c): given a device's Policy and the facts of the moment, may an
 * automatic (or requested) backup run now? A pure function, so every rule is tested as a
 * table; the caller gathers the facts (clock, battery, the backup filesystem's free space)
 * and acts on the verdict. Parsing policy files is config.c's job.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

typedef enum PolicyVerdict {
        POLICY_ELIGIBLE,                        /* go ahead */
        POLICY_DEFERRED,                        /* not now: reason, and when to look again */
        POLICY_NEEDS_DECISION,                  /* a person must decide first: reason */
} PolicyVerdict;

/* What the decision depends on besides the policy. */
typedef struct PolicyFacts {
        uint64_t now;                           /* CLOCK_REALTIME µs */
        unsigned minute_of_day;                 /* local time of now, 0..1439 */
        uint64_t last_backup;                   /* µs of the last good backup, 0 = none */
        bool last_backup_ok;                    /* the last result was "done" */
        int battery;                            /* percent, -1 unknown */
        bool charging;
        bool have_space;                        /* the two below were read */
        uint64_t space_total, space_avail;      /* bytes of the backup filesystem */
        const char *running_job;                /* kind of the device's running job, or NULL */
} PolicyFacts;

typedef struct PolicyDecision {
        PolicyVerdict verdict;
        char reason[512];                       /* one sentence; "" when eligible */
        uint64_t next;                          /* deferred: when to look again (µs), else 0 */
} PolicyDecision;

/* How long a deferral for something that may change any time (battery, charging, disk)
 * waits before the facts are read again. */
#define POLICY_RECHECK_USEC (600ull * 1000000ull)

/* Decide for p and f; *ret is always filled. */
void policy_evaluate(const Policy *p, const PolicyFacts *f, PolicyDecision *ret);
