/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The device state machine as data: which Device.State an event leads to, given the few
 * facts the decision needs (device-fsm.c). Pure: no Device, no bus, no clock, so every
 * transition is a row of a table that tests/test-device-fsm.c checks. The handlers in
 * device.c and job-<kind>.c ask it which state to set and word the reason themselves.
 *
 *   usbmux-add → (the plan's probe) probe-started → pairing → probe-ok → checking-policy →
 *   policy-deferred → deferred | backup-started → backing-up ⇄ waiting-for-passcode →
 *   backup-done → sync-started → syncing → sync-done → idle (waiting-for-decision while a
 *   question holds the sync up: question-asked / question-answered)
 *   usbmux-remove → disconnected (waiting-for-usbmuxd while udev still sees the cable)
 */
#pragma once

#include <stdbool.h>

typedef enum DeviceState {
        DEVICE_DISCONNECTED,
        DEVICE_WAITING_FOR_USBMUXD,
        DEVICE_PAIRING,
        DEVICE_WAITING_FOR_TRUST,
        DEVICE_LOCKED,
        DEVICE_CHECKING_POLICY,
        DEVICE_DEFERRED,
        DEVICE_BACKING_UP,
        DEVICE_WAITING_FOR_PASSCODE,
        DEVICE_SYNCING,
        DEVICE_VERIFYING,
        DEVICE_RESTORING,
        DEVICE_IDLE,
        DEVICE_WAITING_FOR_DECISION,            /* idle, but a request holds the sync up */
        _DEVICE_STATE_MAX,
        _DEVICE_STATE_INVALID = -22,
} DeviceState;

/* What happens to a device. The *_STARTED and progress events come from the job that
 * owns the state (it is the device's job when they arrive); the ending events come after
 * the job was cleared. */
typedef enum DeviceEvent {
        DEVICE_EVENT_USBMUX_ADD,                /* usbmuxd published the device */
        DEVICE_EVENT_USBMUX_REMOVE,             /* usbmuxd withdrew it */
        DEVICE_EVENT_UDEV_PRESENT,              /* udev sees the cable */
        DEVICE_EVENT_UDEV_ABSENT,               /* udev saw it go */
        DEVICE_EVENT_PROBE_STARTED,             /* the probe helper runs (plug or retry) */
        DEVICE_EVENT_PROBE_OK,                  /* paired, values read */
        DEVICE_EVENT_PROBE_TRUST_PENDING,       /* the Trust dialog is up */
        DEVICE_EVENT_PROBE_NOT_TRUSTED,         /* "Don't Trust" */
        DEVICE_EVENT_PROBE_LOCKED,              /* locked with a passcode */
        DEVICE_EVENT_PROBE_FAILED,              /* anything else: retried */
        DEVICE_EVENT_POLICY_ELIGIBLE,           /* the policy allows the backup now */
        DEVICE_EVENT_POLICY_DEFERRED,           /* not now (NextEligible says when) */
        DEVICE_EVENT_BACKUP_STARTED,
        DEVICE_EVENT_PASSCODE_ASKED,            /* backup phase waiting-for-passcode */
        DEVICE_EVENT_PASSCODE_ENTERED,          /* any other backup phase */
        DEVICE_EVENT_BACKUP_DONE,
        DEVICE_EVENT_BACKUP_FAILED,             /* cancelled, timeout, any error but busy */
        DEVICE_EVENT_BACKUP_BUSY,               /* another host holds the device */
        DEVICE_EVENT_SYNC_STARTED,
        DEVICE_EVENT_SYNC_PROGRESS,             /* a category runs */
        DEVICE_EVENT_SYNC_DONE,
        DEVICE_EVENT_SYNC_FAILED,
        DEVICE_EVENT_SYNC_DISABLED,             /* the plan reached the sync: Enabled=no */
        DEVICE_EVENT_VERIFY_STARTED,
        DEVICE_EVENT_RESTORE_STARTED,           /* on the target */
        DEVICE_EVENT_SIDE_JOB_ENDED,            /* verify, restore, delete, apply, a dry run */
        DEVICE_EVENT_QUESTION_ASKED,            /* a request that holds the sync up came */
        DEVICE_EVENT_QUESTION_ANSWERED,         /* the last such request was answered */
        _DEVICE_EVENT_MAX,
        _DEVICE_EVENT_INVALID = -22,
} DeviceEvent;

/* What the decision needs to know, as it is when the event is handled (after the event's
 * own bookkeeping: on usbmux-remove, connected is already false). */
typedef struct DeviceFacts {
        bool connected;                         /* usbmuxd publishes the device */
        bool usb_present;                       /* udev sees the cable */
        bool job_running;                       /* the device has a (bus-visible) job */
        bool attempted;                         /* this connection's backup was tried */
        bool auto_run;                          /* the policy's AutoRun= */
        bool question;                          /* a request holds its sync up (first sync) */
} DeviceFacts;

/* "idle", "waiting-for-usbmuxd", …; NULL for anything else. */
const char *device_state_to_string(DeviceState s);
/* "usbmux-add", "probe-ok", …; NULL for anything else. */
const char *device_event_to_string(DeviceEvent e);

/* The transition for event in state current given facts (borrowed). Returns 1 with
 * *ret_next set when the event sets the state (and with it a new reason, which may come
 * with the same state: "Backing up (transfer)."); 0 with *ret_next = current when the event
 * leaves state and reason alone, because the plan's next step sets them (the probe after a
 * plug, the backup after an eligible policy, the sync after a good backup), a running job
 * owns the state, or the combination cannot happen; -EINVAL for an invalid state or
 * event. */
int device_fsm_next(DeviceState current, DeviceEvent event, const DeviceFacts *facts,
                    DeviceState *ret_next);
