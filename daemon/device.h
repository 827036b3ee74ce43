/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One Device per phone the daemon knows, plugged in or not: identity, the per-connection
 * state machine, policy decisions, the mirror of its current job, and what survives a
 * restart (device.c; bus glue in device-dbus.c).
 *
 *   usbmuxd Attached → pairing (probe helper) → waiting-for-trust / locked (retried) →
 *   checking-policy → deferred (timer) | backing-up ⇄ waiting-for-passcode → syncing → idle
 *   usbmuxd Detached → disconnected (waiting-for-usbmuxd while udev still sees the cable)
 *
 * Which state an event leads to is decided by the table in device-fsm.c; the handlers
 * here and in job-<kind>.c apply it (device_next_state()) and word the reason.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bus-object.h"
#include "config.h"
#include "device-fsm.h"
#include "device-state.h"
#include "idevicesync.h"
#include "job.h"
#include "manager.h"
#include "worker.h"

/* Properties that change; bit n = device_prop_names[n]. */
typedef enum DeviceProp {
        DEVICE_PROP_NAME,
        DEVICE_PROP_PRODUCT_TYPE,
        DEVICE_PROP_PRODUCT_VERSION,
        DEVICE_PROP_CONNECTED,
        DEVICE_PROP_STATE,
        DEVICE_PROP_STATE_REASON,
        DEVICE_PROP_PHASE,
        DEVICE_PROP_PROGRESS,
        DEVICE_PROP_BYTES_DONE,
        DEVICE_PROP_BYTES_TOTAL,
        DEVICE_PROP_FILES_DONE,
        DEVICE_PROP_FILES_TOTAL,
        DEVICE_PROP_JOB,
        DEVICE_PROP_LAST_BACKUP,
        DEVICE_PROP_LAST_RESULT,
        DEVICE_PROP_NEXT_ELIGIBLE,
        DEVICE_PROP_ENCRYPTED,
        DEVICE_PROP_LAST_SYNC,
        DEVICE_PROP_LAST_SYNC_RESULT,
        DEVICE_PROP_SYNC_SUMMARY,
        DEVICE_PROP_SYNC_PLAN,
        DEVICE_PROP_LAST_RESTORE,
        DEVICE_PROP_LAST_RESTORE_REPORT,
        _DEVICE_PROP_MAX,
} DeviceProp;

extern const char *const device_prop_names[_DEVICE_PROP_MAX];

struct Device {
        Manager *manager;                       /* borrowed */
        char *udid;
        char *path;                             /* bus object path */
        char *name, *product_type, *product_version;    /* never NULL */
        bool connected;                         /* usbmuxd published it */
        bool usb_present;                       /* udev sees the cable */
        char *usb_syspath;
        DeviceState state;
        char *reason;                           /* never NULL */
        Job *job;                               /* bus-visible job, borrowed */
        Job *probe;                             /* probe helper, borrowed */
        uint64_t last_backup;                   /* µs */
        char *last_result;                      /* never NULL; "" = none yet */
        char *last_message;
        uint64_t last_sync;                     /* µs of the last sync stage, 0 = never */
        char *last_sync_result;                 /* never NULL; "" = none yet */
        uint64_t last_restore;                  /* µs: the last restore onto it that
                                                 * worked ended, 0 = never */
        char *last_restore_report;              /* never NULL: that restore's report (files,
                                                 * bytes, source, apps to download), "" */
        ids_sync_category sync_summary[IDS_SYNC_CATEGORIES_MAX];   /* of the last sync */
        size_t n_sync_summary;
        ids_sync_category sync_plan[IDS_SYNC_CATEGORIES_MAX];      /* of the last dry run */
        size_t n_sync_plan;
        uint64_t next_eligible;                 /* µs, 0 = none */
        bool encrypted;
        int battery;                            /* -1 unknown */
        bool charging;
        bool attempted;                         /* the backup of this connection was tried */
        bool sync_pending;                      /* the plan's next step is the sync */
        unsigned probe_failures;
        Policy policy;
        DeviceStateDecision *decisions;         /* answers not yet applied (persisted) */
        size_t n_decisions;
        size_t n_decisions_sent;                /* the first n went to the running sync */
        WorkerDecision *worker_decisions;       /* scratch: the answers as a request sends
                                                 * them, pointing into decisions */
        DeviceStateRequest *saved_requests;     /* from the state file, until reconciled */
        size_t n_saved_requests;
        DeviceStateRequest saved_offer;         /* the state file's restore-offer (id 0: none),
                                                 * until restore_offer_resume() */
        char new_device_answer[80];             /* the restore-offer's answer, "" = none */
        char restoring_from[65];                /* the offer's restore job runs: its source */
        sd_event_source *retry_timer;
        sd_event_source *passcode_timer;

        BusObject bus;                          /* dirty DeviceProp bits, rate limit */
};

int device_new(Manager *m, const char *udid, Device **ret);
Device *device_free(Device *d);

/* Load devices.d policy and the persisted state. */
int device_load(Device *d);
/* Write the persisted state atomically (last backup, result, identity). */
int device_save(Device *d);

void device_set_state(Device *d, DeviceState s, const char *reason_fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The state machine's answer (device_fsm_next()) for event, from d's facts now. 1 with
 * *ret_next the state to set, with a reason the caller words; 0 when the event leaves
 * state and reason alone (the plan's next step or a running job sets them). */
int device_next_state(Device *d, DeviceEvent event, DeviceState *ret_next);
void device_mark_dirty(Device *d, DeviceProp p);

/* Events from the manager. */
void device_on_usbmux_add(Device *d);
void device_on_usbmux_remove(Device *d);
void device_on_usbmux_paired(Device *d);
void device_on_udev(Device *d, bool present, const char *syspath);

typedef struct JobParams JobParams;

/* Start a job of kind for d (see job-type.h): the only way to start one. The job belongs
 * to p->target when set (restore), else to d. 0 with *ret (borrowed) set, -EBUSY if the
 * owner runs a job already, -errno. */
int device_start_job(Device *d, JobKind kind, const JobParams *p, Job **ret);
/* The per-connection plan: probe → backup (as the policy allows) → sync, each once per
 * connection. Starts whatever comes next, if anything. */
void device_plan_next(Device *d);
/* After a successful probe: AutoRun=, then the policy: a deferral or the backup. */
void device_evaluate(Device *d);
/* What a job that is not part of the plan (verify, restore, delete) leaves behind: the
 * plan goes on if the device was plugged in meanwhile, else a state that says it ended. */
void device_after_side_job(Device *d, Job *j);

/* Answers (request.c): whether an answer waits for held item item (item > 0) or for the
 * first sync of category (item 0); add one (-E2BIG beyond DEVICE_STATE_DECISIONS_MAX).
 * The caller saves. */
bool device_has_decision(Device *d, const char *category, uint64_t item);
int device_add_decision(Device *d, const char *category, const char *choice, uint64_t item);
/* A sync job that was given the first n_decisions_sent answers ended "done": they are
 * applied (recorded in sync.db), drop them. */
void device_drop_sent_decisions(Device *d);
/* Apply what was answered: a sync now if the device is connected and idle, else an
 * offline apply job when computer is set (an approved removal of a computer copy); other
 * answers wait for the next connection. */
void device_apply_answers(Device *d, bool computer);
/* The device's state after its requests changed: waiting-for-decision while a question
 * holds up its sync (connected, no job), idle again when answered. */
void device_update_decision_state(Device *d);
/* Set s; waiting-for-decision gets "N questions waiting: …" as its reason, any other
 * state fallback. */
void device_set_decision_state(Device *d, DeviceState s, const char *fallback);
/* Point req->decisions at d's answers (at most WORKER_DECISIONS_MAX, the oldest first) and
 * remember how many went (n_decisions_sent). 0 or -ENOMEM. */
int device_fill_decisions(Device *d, WorkerRequest *req);

/* Small setters the job kinds share. */
void device_arm_retry(Device *d, uint64_t usec_relative);
void device_set_next_eligible(Device *d, uint64_t t);
void device_set_last_result(Device *d, const char *result, const char *message);
uint64_t device_now_realtime(void);

/* Policy check. 0: eligible; > 0: deferred (*ret_reason set, *ret_next = when to check
 * again, µs); -errno. manual: StartBackup (ignores AutoRun and once-per-connection). */
int device_check_policy(Device *d, bool manual, char **ret_reason, uint64_t *ret_next);
/* Reload the device's policy. */
int device_reload_policy(Device *d);

/* Bus (device-dbus.c). */
extern const sd_bus_vtable device_vtable[];
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                       void **found, sd_bus_error *error);
int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                           sd_bus_error *error);
/* Emit PropertiesChanged for the dirty properties (now = UINT64_MAX: everything).
 * Returns 1 if something is left for later (rate-limited). */
int device_flush(Device *d, uint64_t now);
/* The object appeared (InterfacesAdded); the state changed (StateChanged(state, reason)). */
void device_emit_added(Device *d);
void device_emit_state_changed(Device *d);
