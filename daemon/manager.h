/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The top object of idevicesyncd: the event loop, the bus, the udev monitor, the usbmuxd
 * event stream, the configuration and the tables of devices and jobs (manager.c).
 * Only the main thread touches any of it; libusbmuxd's event thread only writes to a pipe.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config.h"

typedef struct Manager Manager;
typedef struct Device Device;
typedef struct Job Job;

#define DBUS_NAME "org.idevicesync1"
#define DBUS_PATH "/org/idevicesync1"
#define DBUS_DEVICE_PREFIX "/org/idevicesync1/device"
#define DBUS_JOB_PREFIX "/org/idevicesync1/job"

struct Manager {
        sd_event *event;
        sd_bus *bus;
        sd_event_source *flush_source;          /* defer: PropertiesChanged of dirty objects */
        sd_event_source *flush_timer;           /* rate-limited progress */
        sd_event_source *idle_timer;
        sd_event_source *usbmux_source;
        sd_event_source *udev_source;
        int usbmux_pipe[2];
        struct udev *udev;
        struct udev_monitor *udev_monitor;

        Device **devices;                       /* owned */
        size_t n_devices;
        Job **jobs;                             /* owned, bus-visible and probes */
        size_t n_jobs;
        uint32_t next_job_id;

        char *state_dir;                        /* $STATE_DIRECTORY or /var/lib/idevicesync */
        ConfigSet *config;                      /* NULL: nothing loaded, the defaults */
        usec_t idle_timeout;                    /* 0: never exit on idle */
        usec_t last_activity;
        bool subscribed;
};

int manager_new(Manager **ret);
Manager *manager_free(Manager *m);
static inline void manager_freep(Manager **m) {
        manager_free(*m);
}

/* Config, udev monitor + coldplug, usbmuxd events, bus name. 0 or -errno (logged). */
int manager_start(Manager *m);
/* Re-read configuration (Reload(), SIGHUP). */
int manager_reload(Manager *m);

/* Where snapshots live: BackupDir= from the main configuration, else the state directory. */
const char *manager_backup_dir(Manager *m);

Device *manager_find_device(Manager *m, const char *udid);
/* Find or create (and announce on the bus) the device object of udid. */
int manager_add_device(Manager *m, const char *udid, Device **ret);
Job *manager_find_job(Manager *m, uint32_t id);
int manager_add_job(Manager *m, Job *j);
void manager_remove_job(Manager *m, Job *j);

/* Something changed: schedule one PropertiesChanged per dirty object. */
void manager_schedule_flush(Manager *m);
/* A client or device did something: push the idle exit back. */
void manager_note_activity(Manager *m);
void manager_update_status(Manager *m);

/* D-Bus glue (manager-dbus.c). */
int manager_bus_setup(Manager *m);
extern const sd_bus_error_map idevicesync_errors[];
int bus_check_root(sd_bus_message *msg, sd_bus_error *error);

#define BUS_ERROR_POLICY_DENIED "org.idevicesync1.Error.PolicyDenied"
#define BUS_ERROR_BUSY "org.idevicesync1.Error.Busy"
#define BUS_ERROR_NOT_CONNECTED "org.idevicesync1.Error.NotConnected"
#define BUS_ERROR_NO_SUCH_SNAPSHOT "org.idevicesync1.Error.NoSuchSnapshot"
#define BUS_ERROR_NO_SUCH_DEVICE "org.idevicesync1.Error.NoSuchDevice"
#define BUS_ERROR_NO_JOB "org.idevicesync1.Error.NoJob"
