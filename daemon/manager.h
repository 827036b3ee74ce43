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

#include "bus-names.h"
#include "config.h"

typedef struct Manager Manager;
typedef struct Device Device;
typedef struct Job Job;
typedef struct Notifier Notifier;
typedef struct Request Request;


struct Manager {
        sd_event *event;
        sd_bus *bus;
        sd_event_source *flush_source;          /* defer: PropertiesChanged of dirty objects */
        sd_event_source *flush_timer;           /* rate-limited progress */
        sd_event_source *idle_timer;
        sd_event_source *usbmux_source;
        sd_event_source *udev_source;
        int usbmux_pipe[2];                     /* libusbmuxd's thread → the loop */
        char usbmux_buf[1024];                  /* a partial event line between reads */
        size_t usbmux_len;
        Notifier *notifier;                     /* READY=1, STATUS=, WATCHDOG=1 */
        struct udev *udev;
        struct udev_monitor *udev_monitor;

        Device **devices;                       /* owned */
        size_t n_devices;
        Job **jobs;                             /* owned, bus-visible and probes */
        size_t n_jobs;
        uint32_t next_job_id;
        Request **requests;                     /* owned, questions to a person */
        size_t n_requests;
        uint32_t next_request_id;               /* the highest number given out */

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

/* The first hop (udev.c, usbmux.c): start and stop the event sources, and what they
 * report. Hotplug events never touch a Device directly. */
typedef enum ManagerUsbmuxEvent {
        MANAGER_USBMUX_ADD,
        MANAGER_USBMUX_REMOVE,
        MANAGER_USBMUX_PAIRED,
} ManagerUsbmuxEvent;

int manager_udev_start(Manager *m);
void manager_udev_stop(Manager *m);
int manager_usbmux_start(Manager *m);
void manager_usbmux_stop(Manager *m);
void manager_on_usbmux_event(Manager *m, ManagerUsbmuxEvent event, const char *udid);
/* udev saw an Apple device with this (canonical) UDID at syspath, or saw syspath go. */
void manager_on_usb_plugged(Manager *m, const char *udid, const char *syspath);
void manager_on_usb_unplugged(Manager *m, const char *syspath);

/* D-Bus glue (manager-dbus.c). */
extern const sd_bus_vtable manager_vtable[];
int manager_bus_setup(Manager *m);
extern const sd_bus_error_map idevicesync_errors[];
int bus_check_root(sd_bus_message *msg, sd_bus_error *error);

