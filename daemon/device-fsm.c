/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The device state machine (see device-fsm.h) as one table of rules, read top to bottom:
 * the first rule of the event whose states and facts match decides. An event with no
 * matching rule leaves the state alone: that is how a combination that cannot happen (a
 * backup starting without a job, a policy verdict while unplugged) is made harmless. The
 * rules say what the daemon did before they were a table, case by case; the human reason
 * is worded by the handler that applies the answer.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>

#include "device-fsm.h"
#include "macro.h"

static const char *const state_names[_DEVICE_STATE_MAX] = {
        [DEVICE_DISCONNECTED] = "disconnected",
        [DEVICE_WAITING_FOR_USBMUXD] = "waiting-for-usbmuxd",
        [DEVICE_PAIRING] = "pairing",
        [DEVICE_WAITING_FOR_TRUST] = "waiting-for-trust",
        [DEVICE_LOCKED] = "locked",
        [DEVICE_CHECKING_POLICY] = "checking-policy",
        [DEVICE_DEFERRED] = "deferred",
        [DEVICE_BACKING_UP] = "backing-up",
        [DEVICE_WAITING_FOR_PASSCODE] = "waiting-for-passcode",
        [DEVICE_SYNCING] = "syncing",
        [DEVICE_VERIFYING] = "verifying",
        [DEVICE_RESTORING] = "restoring",
        [DEVICE_IDLE] = "idle",
        [DEVICE_WAITING_FOR_DECISION] = "waiting-for-decision",
};

static const char *const event_names[_DEVICE_EVENT_MAX] = {
        [DEVICE_EVENT_USBMUX_ADD] = "usbmux-add",
        [DEVICE_EVENT_USBMUX_REMOVE] = "usbmux-remove",
        [DEVICE_EVENT_UDEV_PRESENT] = "udev-present",
        [DEVICE_EVENT_UDEV_ABSENT] = "udev-absent",
        [DEVICE_EVENT_PROBE_STARTED] = "probe-started",
        [DEVICE_EVENT_PROBE_OK] = "probe-ok",
        [DEVICE_EVENT_PROBE_TRUST_PENDING] = "probe-trust-pending",
        [DEVICE_EVENT_PROBE_NOT_TRUSTED] = "probe-not-trusted",
        [DEVICE_EVENT_PROBE_LOCKED] = "probe-locked",
        [DEVICE_EVENT_PROBE_FAILED] = "probe-failed",
        [DEVICE_EVENT_POLICY_ELIGIBLE] = "policy-eligible",
        [DEVICE_EVENT_POLICY_DEFERRED] = "policy-deferred",
        [DEVICE_EVENT_BACKUP_STARTED] = "backup-started",
        [DEVICE_EVENT_PASSCODE_ASKED] = "passcode-asked",
        [DEVICE_EVENT_PASSCODE_ENTERED] = "passcode-entered",
        [DEVICE_EVENT_BACKUP_DONE] = "backup-done",
        [DEVICE_EVENT_BACKUP_FAILED] = "backup-failed",
        [DEVICE_EVENT_BACKUP_BUSY] = "backup-busy",
        [DEVICE_EVENT_SYNC_STARTED] = "sync-started",
        [DEVICE_EVENT_SYNC_PROGRESS] = "sync-progress",
        [DEVICE_EVENT_SYNC_DONE] = "sync-done",
        [DEVICE_EVENT_SYNC_FAILED] = "sync-failed",
        [DEVICE_EVENT_SYNC_DISABLED] = "sync-disabled",
        [DEVICE_EVENT_VERIFY_STARTED] = "verify-started",
        [DEVICE_EVENT_RESTORE_STARTED] = "restore-started",
        [DEVICE_EVENT_SIDE_JOB_ENDED] = "side-job-ended",
        [DEVICE_EVENT_QUESTION_ASKED] = "question-asked",
        [DEVICE_EVENT_QUESTION_ANSWERED] = "question-answered",
};

const char *device_state_to_string(DeviceState s) {
        return (unsigned) s < _DEVICE_STATE_MAX ? state_names[s] : NULL;
}

const char *device_event_to_string(DeviceEvent e) {
        return (unsigned) e < _DEVICE_EVENT_MAX ? event_names[e] : NULL;
}

/* The facts as bits, so a rule can ask for some to hold and others not to. */
enum {
        F_CONNECTED = 1u << 0,
        F_USB = 1u << 1,
        F_JOB = 1u << 2,
        F_ATTEMPTED = 1u << 3,
        F_AUTO_RUN = 1u << 4,
        F_QUESTION = 1u << 5,
};

/* Targets besides a DeviceState: leave state and reason alone; or the state of a device
 * usbmuxd does not publish (waiting-for-usbmuxd while udev sees the cable, else
 * disconnected). */
#define KEEP (-1)
#define UNPLUGGED (-2)

#define ANY 0u
#define IN(s) (1u << (s))

typedef struct Rule {
        DeviceEvent event;
        unsigned from;                          /* IN(state) | …, ANY: every state */
        unsigned need;                          /* F_* that must hold */
        unsigned unless;                        /* F_* that must not */
        int to;                                 /* DeviceState, KEEP or UNPLUGGED */
} Rule;

static const Rule rules[] = {
        /* Connection. A plug starts the plan, whose probe sets the state; a running job
         * notices a pull itself and reports it when it ends. */
        { DEVICE_EVENT_USBMUX_ADD, ANY, 0, 0, KEEP },
        { DEVICE_EVENT_USBMUX_REMOVE, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_UDEV_PRESENT, ANY, 0, F_CONNECTED | F_JOB, DEVICE_WAITING_FOR_USBMUXD },
        { DEVICE_EVENT_UDEV_ABSENT, ANY, 0, F_CONNECTED | F_JOB, DEVICE_DISCONNECTED },

        /* The probe. A retry while deferred stays deferred; whatever it found, a device
         * that went away meanwhile is unplugged. */
        { DEVICE_EVENT_PROBE_STARTED, IN(DEVICE_DEFERRED), 0, 0, KEEP },
        { DEVICE_EVENT_PROBE_STARTED, ANY, F_CONNECTED, 0, DEVICE_PAIRING },
        { DEVICE_EVENT_PROBE_OK, ANY, 0, F_CONNECTED, UNPLUGGED },
        { DEVICE_EVENT_PROBE_OK, ANY, F_JOB, 0, KEEP },
        { DEVICE_EVENT_PROBE_OK, ANY, F_ATTEMPTED | F_QUESTION, 0, DEVICE_WAITING_FOR_DECISION },
        { DEVICE_EVENT_PROBE_OK, ANY, F_ATTEMPTED, 0, DEVICE_IDLE },
        { DEVICE_EVENT_PROBE_OK, ANY, 0, F_AUTO_RUN, DEVICE_IDLE },
        { DEVICE_EVENT_PROBE_OK, ANY, 0, 0, DEVICE_CHECKING_POLICY },
        { DEVICE_EVENT_PROBE_TRUST_PENDING, ANY, 0, F_CONNECTED, UNPLUGGED },
        { DEVICE_EVENT_PROBE_TRUST_PENDING, ANY, 0, 0, DEVICE_WAITING_FOR_TRUST },
        { DEVICE_EVENT_PROBE_NOT_TRUSTED, ANY, 0, F_CONNECTED, UNPLUGGED },
        { DEVICE_EVENT_PROBE_NOT_TRUSTED, ANY, 0, 0, DEVICE_IDLE },
        { DEVICE_EVENT_PROBE_LOCKED, ANY, 0, F_CONNECTED, UNPLUGGED },
        { DEVICE_EVENT_PROBE_LOCKED, ANY, 0, 0, DEVICE_LOCKED },
        { DEVICE_EVENT_PROBE_FAILED, ANY, 0, F_CONNECTED, UNPLUGGED },
        { DEVICE_EVENT_PROBE_FAILED, ANY, 0, 0, DEVICE_IDLE },

        /* The policy, asked right after checking-policy is shown. Eligible: the backup's
         * start sets the state. */
        { DEVICE_EVENT_POLICY_ELIGIBLE, IN(DEVICE_CHECKING_POLICY), F_CONNECTED, F_JOB, KEEP },
        { DEVICE_EVENT_POLICY_DEFERRED, IN(DEVICE_CHECKING_POLICY), F_CONNECTED, F_JOB,
          DEVICE_DEFERRED },

        /* The backup. Done and still plugged in: the plan goes on to the sync. Ended while
         * re-plugged (the new connection has not tried yet): the plan starts over. */
        { DEVICE_EVENT_BACKUP_STARTED, ANY, F_CONNECTED | F_JOB, 0, DEVICE_BACKING_UP },
        { DEVICE_EVENT_PASSCODE_ASKED, ANY, F_JOB, 0, DEVICE_WAITING_FOR_PASSCODE },
        { DEVICE_EVENT_PASSCODE_ENTERED, ANY, F_JOB, 0, DEVICE_BACKING_UP },
        { DEVICE_EVENT_BACKUP_DONE, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_BACKUP_DONE, ANY, F_CONNECTED, F_JOB, KEEP },
        { DEVICE_EVENT_BACKUP_FAILED, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_BACKUP_FAILED, ANY, F_CONNECTED | F_ATTEMPTED, F_JOB, DEVICE_IDLE },
        { DEVICE_EVENT_BACKUP_BUSY, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_BACKUP_BUSY, ANY, F_CONNECTED, F_JOB, DEVICE_DEFERRED },

        /* The sync, the plan's last step (or StartSync()). */
        { DEVICE_EVENT_SYNC_STARTED, ANY, F_CONNECTED | F_JOB, 0, DEVICE_SYNCING },
        { DEVICE_EVENT_SYNC_PROGRESS, ANY, F_JOB, 0, DEVICE_SYNCING },
        { DEVICE_EVENT_SYNC_DONE, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_SYNC_DONE, ANY, F_CONNECTED | F_QUESTION, F_JOB,
          DEVICE_WAITING_FOR_DECISION },
        { DEVICE_EVENT_SYNC_DONE, ANY, F_CONNECTED, F_JOB, DEVICE_IDLE },
        { DEVICE_EVENT_SYNC_FAILED, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_SYNC_FAILED, ANY, F_CONNECTED, F_JOB, DEVICE_IDLE },
        { DEVICE_EVENT_SYNC_DISABLED, ANY, F_CONNECTED, F_JOB, DEVICE_IDLE },

        /* Jobs outside the plan. Verifying a snapshot of an unplugged device does not
         * pretend it is plugged in; when one ends on a device plugged in meanwhile, the
         * plan starts. */
        { DEVICE_EVENT_VERIFY_STARTED, ANY, F_CONNECTED | F_JOB, 0, DEVICE_VERIFYING },
        { DEVICE_EVENT_RESTORE_STARTED, ANY, F_CONNECTED | F_JOB, 0, DEVICE_RESTORING },
        { DEVICE_EVENT_SIDE_JOB_ENDED, ANY, 0, F_CONNECTED | F_JOB, UNPLUGGED },
        { DEVICE_EVENT_SIDE_JOB_ENDED, ANY, F_CONNECTED | F_ATTEMPTED | F_QUESTION, F_JOB,
          DEVICE_WAITING_FOR_DECISION },
        { DEVICE_EVENT_SIDE_JOB_ENDED, ANY, F_CONNECTED | F_ATTEMPTED, F_JOB, DEVICE_IDLE },

        /* Questions to a person. A first-sync question holds the sync up: an idle device
         * shows it, answering it (the last one) makes it idle again; a running job owns the
         * state, and its end decides (sync-done, side-job-ended). */
        { DEVICE_EVENT_QUESTION_ASKED, IN(DEVICE_IDLE) | IN(DEVICE_WAITING_FOR_DECISION),
          F_CONNECTED | F_QUESTION, F_JOB, DEVICE_WAITING_FOR_DECISION },
        { DEVICE_EVENT_QUESTION_ANSWERED, IN(DEVICE_WAITING_FOR_DECISION), F_CONNECTED,
          F_JOB | F_QUESTION, DEVICE_IDLE },
};

int device_fsm_next(DeviceState current, DeviceEvent event, const DeviceFacts *facts,
                    DeviceState *ret_next) {
        unsigned f;

        assert(facts);
        assert(ret_next);

        if ((unsigned) current >= _DEVICE_STATE_MAX || (unsigned) event >= _DEVICE_EVENT_MAX)
                return -EINVAL;
        f = (facts->connected ? F_CONNECTED : 0) | (facts->usb_present ? F_USB : 0) |
            (facts->job_running ? F_JOB : 0) | (facts->attempted ? F_ATTEMPTED : 0) |
            (facts->auto_run ? F_AUTO_RUN : 0) | (facts->question ? F_QUESTION : 0);

        for (size_t i = 0; i < ELEMENTSOF(rules); i++) {
                const Rule *r = &rules[i];

                if (r->event != event || (r->from != ANY && !(r->from & IN(current))) ||
                    (f & r->need) != r->need || (f & r->unless) != 0)
                        continue;
                if (r->to == KEEP)
                        break;
                if (r->to == UNPLUGGED)
                        *ret_next = facts->usb_present ? DEVICE_WAITING_FOR_USBMUXD :
                                                         DEVICE_DISCONNECTED;
                else
                        *ret_next = (DeviceState) r->to;
                return 1;
        }
        *ret_next = current;                    /* no rule, or KEEP: left alone */
        return 0;
}
