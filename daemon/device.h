/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One Device per phone the daemon knows, plugged in or not: identity, the per-connection
 * state machine, policy decisions, the mirror of its current job, and what survives a
 * restart (device.c; bus glue in device-dbus.c).
 *
 *   usbmuxd Attached → pairing (probe helper) → waiting-for-trust / locked (retried) →
 *   checking-policy → deferred (timer) | backing-up ⇄ waiting-for-passcode → syncing → idle
 *   usbmuxd Detached → disconnected (waiting-for-usbmuxd while udev still sees the cable)
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "manager.h"

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
        _DEVICE_STATE_MAX,
        _DEVICE_STATE_INVALID = -22,
} DeviceState;

const char *device_state_to_string(DeviceState s);

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
        uint64_t next_eligible;                 /* µs, 0 = none */
        bool encrypted;
        int battery;                            /* -1 unknown */
        bool charging;
        bool attempted;                         /* the backup of this connection was tried */
        unsigned probe_failures;
        Policy policy;
        sd_event_source *retry_timer;
        sd_event_source *passcode_timer;

        uint64_t dirty;                         /* DeviceProp bits */
        bool progress_forced;
        uint64_t last_progress_emit;
};

int device_new(Manager *m, const char *udid, Device **ret);
Device *device_free(Device *d);

/* Load devices.d policy and the persisted state. */
int device_load(Device *d);
/* Write the persisted state atomically (last backup, result, identity). */
int device_save(Device *d);

void device_set_state(Device *d, DeviceState s, const char *reason_fmt, ...)
        __attribute__((format(printf, 3, 4)));
void device_mark_dirty(Device *d, DeviceProp p);

/* Events from the manager. */
void device_on_usbmux_add(Device *d);
void device_on_usbmux_remove(Device *d);
void device_on_usbmux_paired(Device *d);
void device_on_udev(Device *d, bool present, const char *syspath);
/* A job of this device changed or ended (job.c calls these). */
void device_on_job_progress(Device *d, Job *j);
void device_on_job_finished(Device *d, Job *j);
/* Probe finished (info valid when r == 0). */
void device_on_probe_result(Device *d, int r, const char *name, const char *product_type,
                            const char *product_version, int battery, bool charging,
                            bool will_encrypt);

/* Policy check. 0: eligible; > 0: deferred (*ret_reason set, *ret_next = when to check
 * again, µs); -errno. manual: StartBackup (ignores AutoRun and once-per-connection). */
int device_check_policy(Device *d, bool manual, char **ret_reason, uint64_t *ret_next);
/* Start a backup job now. */
int device_start_backup(Device *d, bool full, Job **ret);
/* Start the sync stage now (after a backup, or StartSync()). */
int device_start_sync(Device *d, Job **ret);
/* Reload the device's policy. */
int device_reload_policy(Device *d);

/* Bus (device-dbus.c). */
extern const sd_bus_vtable device_vtable[];
int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                       void **found, sd_bus_error *error);
int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                           sd_bus_error *error);
/* Emit PropertiesChanged for the dirty properties (force: ignore the progress rate limit).
 * Returns 1 if something is left for later (rate-limited). */
int device_flush(Device *d, uint64_t now);
