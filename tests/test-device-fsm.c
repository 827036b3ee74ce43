/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/device-fsm.c, the device state machine. Three parts: a table of
 * (state, event, facts) → (state, whether the event sets it) rows, one for every event from
 * every state where it happens and for the combinations that cannot happen (those must
 * leave the state alone); properties every answer has, checked over every state × event ×
 * facts; and whole connections walked event by event as the daemon meets them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "device-fsm.h"
#include "macro.h"
#include "test-util.h"

/* Facts as letters: Connected (usbmuxd), Usb (udev sees the cable), Job running,
 * Attempted (this connection's backup), auto Run, a Question holds the sync up. */
#define C (1u << 0)
#define U (1u << 1)
#define J (1u << 2)
#define A (1u << 3)
#define R (1u << 4)
#define Q (1u << 5)
#define ALL_FACTS 64u

#define KEEP (-1)       /* expected: the event leaves state and reason alone */

typedef struct Case {
        DeviceState from;
        DeviceEvent event;
        unsigned facts;
        int to;         /* the state the event sets, or KEEP */
} Case;

#define S(x) DEVICE_##x
#define E(x) DEVICE_EVENT_##x

static const Case cases[] = {
        /* usbmux-add: the plan's probe sets the state, a job left from before keeps it. */
        { S(DISCONNECTED), E(USBMUX_ADD), C | R, KEEP },
        { S(WAITING_FOR_USBMUXD), E(USBMUX_ADD), C | U | R, KEEP },
        { S(BACKING_UP), E(USBMUX_ADD), C | U | J, KEEP },

        /* usbmux-remove: unplugged unless a job runs (it reports the pull itself). */
        { S(IDLE), E(USBMUX_REMOVE), A, S(DISCONNECTED) },
        { S(IDLE), E(USBMUX_REMOVE), U | A, S(WAITING_FOR_USBMUXD) },
        { S(PAIRING), E(USBMUX_REMOVE), 0, S(DISCONNECTED) },
        { S(WAITING_FOR_TRUST), E(USBMUX_REMOVE), U, S(WAITING_FOR_USBMUXD) },
        { S(LOCKED), E(USBMUX_REMOVE), 0, S(DISCONNECTED) },
        { S(DEFERRED), E(USBMUX_REMOVE), R, S(DISCONNECTED) },
        { S(BACKING_UP), E(USBMUX_REMOVE), J | A, KEEP },
        { S(WAITING_FOR_PASSCODE), E(USBMUX_REMOVE), U | J | A, KEEP },
        { S(SYNCING), E(USBMUX_REMOVE), J | A, KEEP },
        { S(VERIFYING), E(USBMUX_REMOVE), J | A, KEEP },
        { S(RESTORING), E(USBMUX_REMOVE), J | A, KEEP },
        { S(IDLE), E(USBMUX_REMOVE), C | A, KEEP },     /* impossible: still connected */

        /* udev: only while usbmuxd does not publish the device and no job runs. */
        { S(DISCONNECTED), E(UDEV_PRESENT), U, S(WAITING_FOR_USBMUXD) },
        { S(WAITING_FOR_USBMUXD), E(UDEV_PRESENT), U, S(WAITING_FOR_USBMUXD) },
        { S(IDLE), E(UDEV_PRESENT), C | U | A, KEEP },
        { S(PAIRING), E(UDEV_PRESENT), C | U, KEEP },
        { S(VERIFYING), E(UDEV_PRESENT), U | J, KEEP },
        { S(DISCONNECTED), E(UDEV_PRESENT), U | J, KEEP },      /* verifying, unplugged */
        { S(WAITING_FOR_USBMUXD), E(UDEV_ABSENT), 0, S(DISCONNECTED) },
        { S(DISCONNECTED), E(UDEV_ABSENT), 0, S(DISCONNECTED) },
        { S(IDLE), E(UDEV_ABSENT), C | A, KEEP },
        { S(BACKING_UP), E(UDEV_ABSENT), J | A, KEEP },

        /* probe-started: pairing, except a retry while deferred. */
        { S(DISCONNECTED), E(PROBE_STARTED), C | R, S(PAIRING) },
        { S(WAITING_FOR_USBMUXD), E(PROBE_STARTED), C | U | R, S(PAIRING) },
        { S(WAITING_FOR_TRUST), E(PROBE_STARTED), C, S(PAIRING) },
        { S(LOCKED), E(PROBE_STARTED), C, S(PAIRING) },
        { S(IDLE), E(PROBE_STARTED), C, S(PAIRING) },   /* retry after a failed probe */
        { S(DEFERRED), E(PROBE_STARTED), C | R, KEEP },
        { S(DISCONNECTED), E(PROBE_STARTED), 0, KEEP }, /* impossible: not connected */

        /* probe-ok: the policy, unless tried already, AutoRun=no, or a job runs. */
        { S(PAIRING), E(PROBE_OK), C | R, S(CHECKING_POLICY) },
        { S(DEFERRED), E(PROBE_OK), C | R, S(CHECKING_POLICY) },
        { S(PAIRING), E(PROBE_OK), C, S(IDLE) },
        { S(PAIRING), E(PROBE_OK), C | A | R, S(IDLE) },
        { S(DEFERRED), E(PROBE_OK), C | J | R, KEEP },  /* StartBackup during the retry */
        { S(PAIRING), E(PROBE_OK), U | R, S(WAITING_FOR_USBMUXD) },
        { S(PAIRING), E(PROBE_OK), R, S(DISCONNECTED) },

        /* The probe's human steps and failures; each unplugged if the device went away. */
        { S(PAIRING), E(PROBE_TRUST_PENDING), C, S(WAITING_FOR_TRUST) },
        { S(DEFERRED), E(PROBE_TRUST_PENDING), C | R, S(WAITING_FOR_TRUST) },
        { S(PAIRING), E(PROBE_TRUST_PENDING), 0, S(DISCONNECTED) },
        { S(PAIRING), E(PROBE_NOT_TRUSTED), C, S(IDLE) },
        { S(WAITING_FOR_TRUST), E(PROBE_NOT_TRUSTED), C, S(IDLE) },
        { S(PAIRING), E(PROBE_NOT_TRUSTED), U, S(WAITING_FOR_USBMUXD) },
        { S(PAIRING), E(PROBE_LOCKED), C, S(LOCKED) },
        { S(LOCKED), E(PROBE_LOCKED), C, S(LOCKED) },
        { S(PAIRING), E(PROBE_LOCKED), 0, S(DISCONNECTED) },
        { S(PAIRING), E(PROBE_FAILED), C, S(IDLE) },
        { S(PAIRING), E(PROBE_FAILED), U, S(WAITING_FOR_USBMUXD) },

        /* The policy's verdict, right after checking-policy is shown. */
        { S(CHECKING_POLICY), E(POLICY_DEFERRED), C | R, S(DEFERRED) },
        { S(CHECKING_POLICY), E(POLICY_ELIGIBLE), C | R, KEEP },
        { S(IDLE), E(POLICY_DEFERRED), C | R, KEEP },           /* impossible: not asked */
        { S(CHECKING_POLICY), E(POLICY_DEFERRED), R, KEEP },    /* impossible: unplugged */
        { S(CHECKING_POLICY), E(POLICY_DEFERRED), C | J | R, KEEP },

        /* backup-started: automatic or StartBackup(), from wherever the device waits. */
        { S(CHECKING_POLICY), E(BACKUP_STARTED), C | J | A | R, S(BACKING_UP) },
        { S(DEFERRED), E(BACKUP_STARTED), C | J | A, S(BACKING_UP) },
        { S(IDLE), E(BACKUP_STARTED), C | J | A, S(BACKING_UP) },
        { S(IDLE), E(BACKUP_STARTED), C | A, KEEP },            /* impossible: no job */
        { S(DISCONNECTED), E(BACKUP_STARTED), J, KEEP },        /* impossible: unplugged */

        /* The passcode (iOS ≥ 16.1), also after a pull until the job notices. */
        { S(BACKING_UP), E(PASSCODE_ASKED), C | J | A, S(WAITING_FOR_PASSCODE) },
        { S(WAITING_FOR_PASSCODE), E(PASSCODE_ASKED), C | J | A, S(WAITING_FOR_PASSCODE) },
        { S(BACKING_UP), E(PASSCODE_ASKED), J | A, S(WAITING_FOR_PASSCODE) },
        { S(IDLE), E(PASSCODE_ASKED), C | A, KEEP },            /* impossible: no job */
        { S(WAITING_FOR_PASSCODE), E(PASSCODE_ENTERED), C | J | A, S(BACKING_UP) },
        { S(BACKING_UP), E(PASSCODE_ENTERED), C | J | A, S(BACKING_UP) },
        { S(DISCONNECTED), E(PASSCODE_ENTERED), 0, KEEP },      /* impossible: no job */

        /* backup-done: still plugged in, the plan goes on (sync, or probe after a re-plug). */
        { S(BACKING_UP), E(BACKUP_DONE), C | A, KEEP },
        { S(BACKING_UP), E(BACKUP_DONE), C, KEEP },             /* re-plugged meanwhile */
        { S(BACKING_UP), E(BACKUP_DONE), A, S(DISCONNECTED) },
        { S(BACKING_UP), E(BACKUP_DONE), U | A, S(WAITING_FOR_USBMUXD) },
        { S(DISCONNECTED), E(BACKUP_DONE), A, S(DISCONNECTED) },        /* stays unplugged */
        { S(WAITING_FOR_USBMUXD), E(BACKUP_DONE), U | A, S(WAITING_FOR_USBMUXD) },
        { S(BACKING_UP), E(BACKUP_DONE), C | J | A, KEEP },     /* impossible: a job runs */

        /* backup-failed: idle, unless re-plugged (the plan starts over) or unplugged. */
        { S(BACKING_UP), E(BACKUP_FAILED), C | A, S(IDLE) },
        { S(WAITING_FOR_PASSCODE), E(BACKUP_FAILED), C | A, S(IDLE) },  /* timed out */
        { S(BACKING_UP), E(BACKUP_FAILED), C, KEEP },
        { S(BACKING_UP), E(BACKUP_FAILED), A, S(DISCONNECTED) },
        { S(WAITING_FOR_PASSCODE), E(BACKUP_FAILED), U | A, S(WAITING_FOR_USBMUXD) },
        { S(DISCONNECTED), E(BACKUP_FAILED), A, S(DISCONNECTED) },      /* stays unplugged */
        { S(BACKING_UP), E(BACKUP_FAILED), C | J | A, KEEP },   /* impossible: a job runs */

        /* backup-busy: deferred and retried while plugged in. */
        { S(BACKING_UP), E(BACKUP_BUSY), C, S(DEFERRED) },
        { S(BACKING_UP), E(BACKUP_BUSY), C | A, S(DEFERRED) },
        { S(BACKING_UP), E(BACKUP_BUSY), A, S(DISCONNECTED) },
        { S(BACKING_UP), E(BACKUP_BUSY), U | A, S(WAITING_FOR_USBMUXD) },

        /* The sync. */
        { S(BACKING_UP), E(SYNC_STARTED), C | J | A, S(SYNCING) },
        { S(IDLE), E(SYNC_STARTED), C | J | A, S(SYNCING) },    /* StartSync() */
        { S(DEFERRED), E(SYNC_STARTED), C | J, S(SYNCING) },
        { S(IDLE), E(SYNC_STARTED), J | A, KEEP },              /* impossible: unplugged */
        { S(IDLE), E(SYNC_STARTED), C | A, KEEP },              /* impossible: no job */
        { S(SYNCING), E(SYNC_PROGRESS), C | J | A, S(SYNCING) },
        { S(SYNCING), E(SYNC_PROGRESS), J | A, S(SYNCING) },    /* pulled, not yet noticed */
        { S(IDLE), E(SYNC_PROGRESS), C | A, KEEP },             /* impossible: no job */
        { S(SYNCING), E(SYNC_DONE), C | A, S(IDLE) },
        { S(SYNCING), E(SYNC_DONE), A, S(DISCONNECTED) },
        { S(SYNCING), E(SYNC_DONE), U | A, S(WAITING_FOR_USBMUXD) },
        { S(DISCONNECTED), E(SYNC_DONE), A, S(DISCONNECTED) },
        { S(SYNCING), E(SYNC_DONE), C | J | A, KEEP },          /* impossible: a job runs */
        { S(SYNCING), E(SYNC_FAILED), C | A, S(IDLE) },
        { S(SYNCING), E(SYNC_FAILED), U | A, S(WAITING_FOR_USBMUXD) },
        { S(SYNCING), E(SYNC_FAILED), A, S(DISCONNECTED) },
        { S(BACKING_UP), E(SYNC_DISABLED), C | A, S(IDLE) },
        { S(BACKING_UP), E(SYNC_DISABLED), A, KEEP },           /* impossible: unplugged */
        { S(IDLE), E(SYNC_DISABLED), C | J | A, KEEP },         /* impossible: a job runs */

        /* Jobs outside the plan: verify, restore, delete, a sync dry run. */
        { S(IDLE), E(VERIFY_STARTED), C | J | A, S(VERIFYING) },
        { S(DEFERRED), E(VERIFY_STARTED), C | J, S(VERIFYING) },
        { S(DISCONNECTED), E(VERIFY_STARTED), J, KEEP },        /* an unplugged device */
        { S(WAITING_FOR_USBMUXD), E(VERIFY_STARTED), U | J, KEEP },
        { S(IDLE), E(RESTORE_STARTED), C | J | A, S(RESTORING) },
        { S(DEFERRED), E(RESTORE_STARTED), C | J, S(RESTORING) },
        { S(DISCONNECTED), E(RESTORE_STARTED), J, KEEP },       /* impossible: unplugged */
        { S(VERIFYING), E(SIDE_JOB_ENDED), C | A, S(IDLE) },
        { S(RESTORING), E(SIDE_JOB_ENDED), C | A, S(IDLE) },
        { S(SYNCING), E(SIDE_JOB_ENDED), C | A, S(IDLE) },      /* the dry run ended */
        { S(VERIFYING), E(SIDE_JOB_ENDED), C, KEEP },           /* plugged in meanwhile */
        { S(DISCONNECTED), E(SIDE_JOB_ENDED), 0, S(DISCONNECTED) },
        { S(WAITING_FOR_USBMUXD), E(SIDE_JOB_ENDED), U, S(WAITING_FOR_USBMUXD) },
        { S(VERIFYING), E(SIDE_JOB_ENDED), U | A, S(WAITING_FOR_USBMUXD) },
        { S(RESTORING), E(SIDE_JOB_ENDED), A, S(DISCONNECTED) },
        { S(IDLE), E(SIDE_JOB_ENDED), C | J | A, KEEP },        /* impossible: a job runs */
        { S(VERIFYING), E(SIDE_JOB_ENDED), C | A | Q, S(WAITING_FOR_DECISION) },
        { S(DISCONNECTED), E(SIDE_JOB_ENDED), A | Q, S(DISCONNECTED) },   /* apply, unplugged */

        /* A question that holds the sync up (a first sync): shown while connected and
         * idle, gone when the last one is answered; a running job's end decides. */
        { S(SYNCING), E(SYNC_DONE), C | A | Q, S(WAITING_FOR_DECISION) },
        { S(SYNCING), E(SYNC_DONE), A | Q, S(DISCONNECTED) },
        { S(SYNCING), E(SYNC_DONE), U | A | Q, S(WAITING_FOR_USBMUXD) },
        { S(SYNCING), E(SYNC_FAILED), C | A | Q, S(IDLE) },    /* says why it failed */
        { S(PAIRING), E(PROBE_OK), C | A | Q, S(WAITING_FOR_DECISION) },
        { S(PAIRING), E(PROBE_OK), C | Q | R, S(CHECKING_POLICY) }, /* backup first */
        { S(IDLE), E(QUESTION_ASKED), C | A | Q, S(WAITING_FOR_DECISION) },
        { S(WAITING_FOR_DECISION), E(QUESTION_ASKED), C | A | Q, S(WAITING_FOR_DECISION) },
        { S(IDLE), E(QUESTION_ASKED), C | A, KEEP },            /* a held deletion: no hold */
        { S(IDLE), E(QUESTION_ASKED), C | J | A | Q, KEEP },    /* the job owns the state */
        { S(SYNCING), E(QUESTION_ASKED), C | J | A | Q, KEEP },
        { S(DISCONNECTED), E(QUESTION_ASKED), A | Q, KEEP },    /* shown when plugged in */
        { S(DEFERRED), E(QUESTION_ASKED), C | Q, KEEP },        /* the plan goes on */
        { S(WAITING_FOR_DECISION), E(QUESTION_ANSWERED), C | A, S(IDLE) },
        { S(WAITING_FOR_DECISION), E(QUESTION_ANSWERED), C | A | Q, KEEP },  /* one more */
        { S(WAITING_FOR_DECISION), E(QUESTION_ANSWERED), C | J | A, KEEP },  /* sync runs */
        { S(IDLE), E(QUESTION_ANSWERED), C | A, KEEP },
        { S(DISCONNECTED), E(QUESTION_ANSWERED), A, KEEP },
        { S(WAITING_FOR_DECISION), E(USBMUX_REMOVE), A | Q, S(DISCONNECTED) },
        { S(WAITING_FOR_DECISION), E(BACKUP_STARTED), C | J | A | Q, S(BACKING_UP) },
        { S(WAITING_FOR_DECISION), E(SYNC_STARTED), C | J | A | Q, S(SYNCING) },
};

static DeviceFacts facts_of(unsigned f) {
        return (DeviceFacts) {
                .connected = f & C,
                .usb_present = f & U,
                .job_running = f & J,
                .attempted = f & A,
                .auto_run = f & R,
                .question = f & Q,
        };
}

static const char *to_string(int s) {
        return s == KEEP ? "(kept)" : device_state_to_string((DeviceState) s);
}

static void test_table(void) {
        bool seen[_DEVICE_EVENT_MAX] = {};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const Case *c = &cases[i];
                DeviceFacts f = facts_of(c->facts);
                DeviceState next = _DEVICE_STATE_INVALID;
                int r;

                seen[c->event] = true;
                r = device_fsm_next(c->from, c->event, &f, &next);
                if (r != (c->to != KEEP) || next != (c->to == KEEP ? c->from : c->to))
                        printf("FAIL: row %zu: %s + %s (facts %#x): expected %s, got %s%s\n",
                               i, device_state_to_string(c->from),
                               device_event_to_string(c->event), c->facts, to_string(c->to),
                               device_state_to_string(next), r == 0 ? " (kept)" : "");
                ASSERT_EQ(r, c->to != KEEP);
                ASSERT_EQ(next, c->to == KEEP ? (int) c->from : c->to);
        }
        /* Every event has rows. */
        for (int e = 0; e < _DEVICE_EVENT_MAX; e++) {
                if (!seen[e])
                        printf("FAIL: no table row for event %s\n",
                               device_event_to_string((DeviceEvent) e));
                ASSERT_TRUE(seen[e]);
        }
        printf("%zu table rows\n", ELEMENTSOF(cases));
}

static bool is_job_state(DeviceState s) {
        return s == DEVICE_BACKING_UP || s == DEVICE_WAITING_FOR_PASSCODE ||
               s == DEVICE_SYNCING || s == DEVICE_VERIFYING || s == DEVICE_RESTORING;
}

static bool is_ending(DeviceEvent e) {
        return e == DEVICE_EVENT_BACKUP_DONE || e == DEVICE_EVENT_BACKUP_FAILED ||
               e == DEVICE_EVENT_BACKUP_BUSY || e == DEVICE_EVENT_SYNC_DONE ||
               e == DEVICE_EVENT_SYNC_FAILED || e == DEVICE_EVENT_SIDE_JOB_ENDED;
}

static bool is_probe_result(DeviceEvent e) {
        return e >= DEVICE_EVENT_PROBE_OK && e <= DEVICE_EVENT_PROBE_FAILED;
}

/* What holds for every answer, over every state × event × facts. */
static void test_properties(void) {
        for (int s = 0; s < _DEVICE_STATE_MAX; s++)
                for (int e = 0; e < _DEVICE_EVENT_MAX; e++)
                        for (unsigned fl = 0; fl < ALL_FACTS; fl++) {
                                DeviceFacts f = facts_of(fl);
                                DeviceState next = _DEVICE_STATE_INVALID;
                                int r = device_fsm_next((DeviceState) s, (DeviceEvent) e, &f,
                                                        &next);

                                ASSERT_TRUE(r == 0 || r == 1);
                                ASSERT_TRUE(device_state_to_string(next) != NULL);
                                /* Left alone means the same state. */
                                if (r == 0)
                                        ASSERT_EQ(next, s);
                                if (r == 0)
                                        continue;
                                /* Only a running job's own events show it. */
                                if (is_job_state(next))
                                        ASSERT_TRUE(f.job_running);
                                /* Unplugged, nothing but the unplugged states or a job's
                                 * own progress; the cable alone picks which unplugged. */
                                if (!f.connected && !is_job_state(next))
                                        ASSERT_TRUE(next == DEVICE_DISCONNECTED ||
                                                    next == DEVICE_WAITING_FOR_USBMUXD);
                                if (!f.connected && (is_ending((DeviceEvent) e) ||
                                                     is_probe_result((DeviceEvent) e)))
                                        ASSERT_EQ(next, f.usb_present ?
                                                                DEVICE_WAITING_FOR_USBMUXD :
                                                                DEVICE_DISCONNECTED);
                                /* Waiting for a decision: plugged in, a question, no job. */
                                if (next == DEVICE_WAITING_FOR_DECISION)
                                        ASSERT_TRUE(f.connected && f.question &&
                                                    !f.job_running);
                                /* A job that ended never leaves its state behind. */
                                if (is_ending((DeviceEvent) e))
                                        ASSERT_TRUE(!is_job_state(next));
                                /* Connection events never touch a running job's state. */
                                if (e <= DEVICE_EVENT_UDEV_ABSENT)
                                        ASSERT_TRUE(!f.job_running && !f.connected);
                        }
}

static void test_invalid(void) {
        DeviceFacts f = {};
        DeviceState next = DEVICE_IDLE;

        ASSERT_EQ(device_fsm_next(_DEVICE_STATE_MAX, DEVICE_EVENT_USBMUX_ADD, &f, &next),
                  -EINVAL);
        ASSERT_EQ(device_fsm_next(_DEVICE_STATE_INVALID, DEVICE_EVENT_USBMUX_ADD, &f, &next),
                  -EINVAL);
        ASSERT_EQ(device_fsm_next(DEVICE_IDLE, _DEVICE_EVENT_MAX, &f, &next), -EINVAL);
        ASSERT_EQ(device_fsm_next(DEVICE_IDLE, _DEVICE_EVENT_INVALID, &f, &next), -EINVAL);
        ASSERT_EQ(next, DEVICE_IDLE);
        ASSERT_TRUE(device_state_to_string(_DEVICE_STATE_MAX) == NULL);
        ASSERT_TRUE(device_event_to_string(_DEVICE_EVENT_MAX) == NULL);
        for (int s = 0; s < _DEVICE_STATE_MAX; s++)
                ASSERT_TRUE(device_state_to_string((DeviceState) s) != NULL);
        for (int e = 0; e < _DEVICE_EVENT_MAX; e++)
                ASSERT_TRUE(device_event_to_string((DeviceEvent) e) != NULL);
        ASSERT_STREQ(device_state_to_string(DEVICE_WAITING_FOR_USBMUXD), "waiting-for-usbmuxd");
        ASSERT_STREQ(device_event_to_string(DEVICE_EVENT_SIDE_JOB_ENDED), "side-job-ended");
}

/* One step of a walk: the event, the facts when it is handled, the state after it. */
typedef struct Step {
        DeviceEvent event;
        unsigned facts;
        DeviceState then;
} Step;

static void walk(const char *name, const Step *steps, size_t n) {
        DeviceState s = DEVICE_DISCONNECTED;

        for (size_t i = 0; i < n; i++) {
                DeviceFacts f = facts_of(steps[i].facts);
                DeviceState next;

                ASSERT_OK(device_fsm_next(s, steps[i].event, &f, &next));
                if (next != steps[i].then)
                        printf("FAIL: %s, step %zu (%s): expected %s, got %s\n", name, i,
                               device_event_to_string(steps[i].event),
                               device_state_to_string(steps[i].then),
                               device_state_to_string(next));
                ASSERT_EQ(next, steps[i].then);
                s = next;
        }
}

#define WALK(name, ...)                                                                       \
        do {                                                                                  \
                static const Step _s[] = { __VA_ARGS__ };                                     \
                walk(name, _s, ELEMENTSOF(_s));                                               \
        } while (0)

static void test_walks(void) {
        WALK("plug, backup, sync",
             { E(UDEV_PRESENT), U, S(WAITING_FOR_USBMUXD) },
             { E(USBMUX_ADD), C | U | R, S(WAITING_FOR_USBMUXD) },
             { E(PROBE_STARTED), C | U | R, S(PAIRING) },
             { E(PROBE_OK), C | U | R, S(CHECKING_POLICY) },
             { E(POLICY_ELIGIBLE), C | U | R, S(CHECKING_POLICY) },
             { E(BACKUP_STARTED), C | U | J | A | R, S(BACKING_UP) },
             { E(PASSCODE_ASKED), C | U | J | A | R, S(WAITING_FOR_PASSCODE) },
             { E(PASSCODE_ENTERED), C | U | J | A | R, S(BACKING_UP) },
             { E(BACKUP_DONE), C | U | A | R, S(BACKING_UP) },
             { E(SYNC_STARTED), C | U | J | A | R, S(SYNCING) },
             { E(SYNC_PROGRESS), C | U | J | A | R, S(SYNCING) },
             { E(SYNC_DONE), C | U | A | R, S(IDLE) },
             { E(USBMUX_REMOVE), U | A | R, S(WAITING_FOR_USBMUXD) },
             { E(UDEV_ABSENT), A | R, S(DISCONNECTED) });
        WALK("trust, then locked, then deferred and retried",
             { E(USBMUX_ADD), C | R, S(DISCONNECTED) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_TRUST_PENDING), C | R, S(WAITING_FOR_TRUST) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_LOCKED), C | R, S(LOCKED) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(POLICY_DEFERRED), C | R, S(DEFERRED) },
             { E(PROBE_STARTED), C | R, S(DEFERRED) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(POLICY_DEFERRED), C | R, S(DEFERRED) },
             { E(USBMUX_REMOVE), R, S(DISCONNECTED) });
        WALK("pulled mid-backup, re-plugged before it noticed",
             { E(USBMUX_ADD), C | R, S(DISCONNECTED) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(BACKUP_STARTED), C | J | A | R, S(BACKING_UP) },
             { E(USBMUX_REMOVE), J | A | R, S(BACKING_UP) },
             { E(USBMUX_ADD), C | J | R, S(BACKING_UP) },
             { E(BACKUP_FAILED), C | R, S(BACKING_UP) },      /* the plan starts over */
             { E(PROBE_STARTED), C | R, S(PAIRING) });
        WALK("pulled mid-sync",
             { E(SYNC_STARTED), C | J | A, S(SYNCING) },
             { E(USBMUX_REMOVE), J | A, S(SYNCING) },
             { E(SYNC_PROGRESS), J | A, S(SYNCING) },
             { E(SYNC_FAILED), A, S(DISCONNECTED) });
        WALK("busy, then Enabled=no",
             { E(USBMUX_ADD), C | R, S(DISCONNECTED) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(BACKUP_STARTED), C | J | A | R, S(BACKING_UP) },
             { E(BACKUP_BUSY), C | R, S(DEFERRED) },
             { E(PROBE_STARTED), C | R, S(DEFERRED) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(BACKUP_STARTED), C | J | A | R, S(BACKING_UP) },
             { E(BACKUP_DONE), C | A | R, S(BACKING_UP) },
             { E(SYNC_DISABLED), C | A | R, S(IDLE) });
        WALK("a first-sync question, answered, then synced",
             { E(USBMUX_ADD), C | R, S(DISCONNECTED) },
             { E(PROBE_STARTED), C | R, S(PAIRING) },
             { E(PROBE_OK), C | R, S(CHECKING_POLICY) },
             { E(BACKUP_STARTED), C | J | A | R, S(BACKING_UP) },
             { E(BACKUP_DONE), C | A | R, S(BACKING_UP) },
             { E(SYNC_STARTED), C | J | A | R, S(SYNCING) },
             { E(QUESTION_ASKED), C | J | A | R | Q, S(SYNCING) },
             { E(SYNC_DONE), C | A | R | Q, S(WAITING_FOR_DECISION) },
             { E(QUESTION_ANSWERED), C | A | R, S(IDLE) },
             { E(SYNC_STARTED), C | J | A | R, S(SYNCING) },
             { E(SYNC_DONE), C | A | R, S(IDLE) },
             { E(QUESTION_ASKED), C | A | R | Q, S(WAITING_FOR_DECISION) },
             { E(USBMUX_REMOVE), A | R | Q, S(DISCONNECTED) },
             { E(QUESTION_ANSWERED), A | R, S(DISCONNECTED) });
        WALK("verify an unplugged device, then restore onto a plugged one",
             { E(VERIFY_STARTED), J, S(DISCONNECTED) },
             { E(SIDE_JOB_ENDED), 0, S(DISCONNECTED) },
             { E(USBMUX_ADD), C, S(DISCONNECTED) },
             { E(PROBE_STARTED), C, S(PAIRING) },
             { E(PROBE_OK), C, S(IDLE) },                     /* AutoRun=no */
             { E(RESTORE_STARTED), C | J, S(RESTORING) },
             { E(SIDE_JOB_ENDED), C, S(RESTORING) },          /* the plan starts */
             { E(PROBE_STARTED), C, S(PAIRING) });
}

int main(void) {
        test_table();
        test_properties();
        test_invalid();
        test_walks();
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
