/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager: one sd_event loop owning every source (signals, the bus, the udev monitor,
 * the usbmuxd event pipe, job helpers, timers), the device and job tables, configuration,
 * readiness and idle exit.
 *
 * usbmuxd events come from libusbmuxd's own thread (idevice_event_subscribe()); that thread
 * only writes a line to a pipe, which the loop reads, so no other thread touches sd-bus or
 * sd-event. The subscription outlives usbmuxd exiting and returning (libusbmuxd reconnects;
 * in production it waits with inotify on /var/run, without polling).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libudev.h>
#include <systemd/sd-daemon.h>
#include <libimobiledevice/libimobiledevice.h>
#include <usbmuxd.h>

#include "device.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "manager.h"

#define USEC_PER_SEC 1000000ull
#define FLUSH_RETRY_USEC 250000ull

static uint64_t now_monotonic(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

static bool udid_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

const char *manager_backup_dir(Manager *m) {
        const char *dir = config_base(m->config)->store.backup_dir;

        return dir && dir[0] ? dir : m->state_dir;
}

/* ---- tables ------------------------------------------------------------------------ */

Device *manager_find_device(Manager *m, const char *udid) {
        for (size_t i = 0; i < m->n_devices; i++)
                if (strcasecmp(m->devices[i]->udid, udid) == 0)
                        return m->devices[i];
        return NULL;
}

int manager_add_device(Manager *m, const char *udid, Device **ret) {
        Device *d, **a;
        int r;

        d = manager_find_device(m, udid);
        if (d) {
                if (ret)
                        *ret = d;
                return 0;
        }
        if (!udid_valid(udid))
                return -EINVAL;
        a = realloc(m->devices, (m->n_devices + 1) * sizeof(Device *));
        if (!a)
                return -ENOMEM;
        m->devices = a;
        r = device_new(m, udid, &d);
        if (r < 0)
                return r;
        m->devices[m->n_devices++] = d;
        (void) device_load(d);
        if (m->bus)
                (void) sd_bus_emit_object_added(m->bus, d->path);
        log_debug("Added device object %s", d->path);
        if (ret)
                *ret = d;
        return 0;
}

Job *manager_find_job(Manager *m, uint32_t id) {
        for (size_t i = 0; i < m->n_jobs; i++)
                if (m->jobs[i]->id == id)
                        return m->jobs[i];
        return NULL;
}

int manager_add_job(Manager *m, Job *j) {
        Job **a = realloc(m->jobs, (m->n_jobs + 1) * sizeof(Job *));

        if (!a)
                return -ENOMEM;
        m->jobs = a;
        m->jobs[m->n_jobs++] = j;
        return 0;
}

void manager_remove_job(Manager *m, Job *j) {
        for (size_t i = 0; i < m->n_jobs; i++)
                if (m->jobs[i] == j) {
                        memmove(m->jobs + i, m->jobs + i + 1, (m->n_jobs - i - 1) * sizeof(Job *));
                        m->n_jobs--;
                        break;
                }
        manager_note_activity(m);
}

/* ---- PropertiesChanged coalescing -------------------------------------------------------- */

static int on_flush(sd_event_source *s, void *userdata);

static int on_flush_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->flush_timer = sd_event_source_disable_unref(m->flush_timer);
        return on_flush(NULL, m);
}

static int on_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_monotonic();
        bool later = false;

        for (size_t i = 0; i < m->n_devices; i++)
                later |= device_flush(m->devices[i], now) > 0;
        for (size_t i = 0; i < m->n_jobs; i++)
                later |= job_flush(m->jobs[i], now) > 0;
        if (later && !m->flush_timer)
                (void) sd_event_add_time_relative(m->event, &m->flush_timer, CLOCK_MONOTONIC,
                                                  FLUSH_RETRY_USEC, 0, on_flush_timer, m);
        return 0;
}

void manager_schedule_flush(Manager *m) {
        if (!m->flush_source)
                return;
        (void) sd_event_source_set_enabled(m->flush_source, SD_EVENT_ONESHOT);
}

void manager_update_status(Manager *m) {
        size_t connected = 0, jobs = 0;

        for (size_t i = 0; i < m->n_devices; i++)
                connected += m->devices[i]->connected;
        for (size_t i = 0; i < m->n_jobs; i++)
                jobs += m->jobs[i]->path != NULL;
        (void) sd_notifyf(false, "STATUS=%zu device%s connected, %zu job%s running", connected,
                          connected == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s");
}

/* ---- idle exit --------------------------------------------------------------------- */

void manager_note_activity(Manager *m) {
        m->last_activity = now_monotonic();
}

static int on_idle_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t now = now_monotonic();
        bool busy = m->n_jobs > 0;

        for (size_t i = 0; i < m->n_devices; i++)
                busy |= m->devices[i]->connected || m->devices[i]->usb_present;
        if (busy)
                manager_note_activity(m);
        if (!busy && now - m->last_activity >= m->idle_timeout) {
                log_info("No device, no job and no client for a while, exiting");
                return sd_event_exit(m->event, 0);
        }
        (void) sd_event_source_set_time(s, m->last_activity + m->idle_timeout);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static int on_bus_message(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        /* Any method call addressed to us counts as a client being around. */
        uint8_t type = 0;

        if (sd_bus_message_get_type(msg, &type) >= 0 && type == SD_BUS_MESSAGE_METHOD_CALL)
                manager_note_activity(m);
        return 0;
}

/* ---- usbmuxd events ----------------------------------------------------------------- */

static void on_idevice_event(const idevice_event_t *e, void *userdata) {
        Manager *m = userdata;
        char line[128];
        int n;

        /* libusbmuxd's thread: only hand the event to the loop. */
        if (!e || !e->udid || e->conn_type != CONNECTION_USBMUXD)
                return;
        n = snprintf(line, sizeof(line), "%c%s\n",
                     e->event == IDEVICE_DEVICE_ADD ? 'A' :
                     e->event == IDEVICE_DEVICE_REMOVE ? 'R' : 'P', e->udid);
        if (n > 0 && (size_t) n < sizeof(line))
                (void) !write(m->usbmux_pipe[1], line, (size_t) n);
}

static int on_usbmux_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        char buf[4096];
        ssize_t k;

        k = read(fd, buf, sizeof(buf) - 1);
        if (k <= 0)
                return 0;
        buf[k] = 0;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                Device *d = NULL;

                if (!udid_valid(l + 1)) {
                        log_warning("usbmuxd reported an invalid UDID, ignoring");
                        continue;
                }
                if (l[0] == 'A') {
                        if (manager_add_device(m, l + 1, &d) < 0)
                                continue;
                        device_on_usbmux_add(d);
                } else if ((d = manager_find_device(m, l + 1))) {
                        if (l[0] == 'R')
                                device_on_usbmux_remove(d);
                        else
                                device_on_usbmux_paired(d);
                }
        }
        manager_note_activity(m);
        manager_update_status(m);
        return 0;
}

/* ---- udev --------------------------------------------------------------------------- */

/* usbmuxd turns a 24-hex-digit USB serial into XXXXXXXX-XXXXXXXXXXXXXXXX; 40 hex stay. */
static bool serial_to_udid(const char *serial, char *udid, size_t n) {
        size_t len = serial ? strlen(serial) : 0;

        if (len == 24 && strspn(serial, "0123456789abcdefABCDEF") == 24 && n > 25) {
                snprintf(udid, n, "%.8s-%.16s", serial, serial + 8);
                return true;
        }
        if (len == 40 && strspn(serial, "0123456789abcdefABCDEF") == 40 && n > 40) {
                snprintf(udid, n, "%s", serial);
                return true;
        }
        return false;
}

static void handle_udev_device(Manager *m, struct udev_device *dev, const char *action) {
        const char *syspath = udev_device_get_syspath(dev);
        const char *vendor, *product, *serial;
        char udid[65];
        Device *d;

        /* unbind/offline come just before remove on a real unplug: not a plug. */
        if (action && strcmp(action, "add") != 0 && strcmp(action, "change") != 0 &&
            strcmp(action, "bind") != 0 && strcmp(action, "remove") != 0)
                return;
        if (action && strcmp(action, "remove") == 0) {
                /* Sysattrs are gone on remove: match the device by its syspath. */
                for (size_t i = 0; i < m->n_devices; i++) {
                        d = m->devices[i];
                        if (d->usb_present && d->usb_syspath && syspath &&
                            strcmp(d->usb_syspath, syspath) == 0)
                                device_on_udev(d, false, NULL);
                }
                return;
        }
        vendor = udev_device_get_property_value(dev, "ID_VENDOR_ID");
        if (!vendor)
                vendor = udev_device_get_sysattr_value(dev, "idVendor");
        product = udev_device_get_property_value(dev, "ID_MODEL_ID");
        if (!product)
                product = udev_device_get_sysattr_value(dev, "idProduct");
        if (!vendor || strcasecmp(vendor, "05ac") != 0 || !product)
                return;
        /* iPhone, iPad, iPod touch: 0x1290…0x12af (what usbmuxd handles). */
        unsigned long pid = strtoul(product, NULL, 16);
        if (pid < 0x1290 || pid > 0x12af)
                return;
        serial = udev_device_get_property_value(dev, "ID_SERIAL_SHORT");
        if (!serial)
                serial = udev_device_get_sysattr_value(dev, "serial");
        if (!serial_to_udid(serial, udid, sizeof(udid)))
                return;
        if (manager_add_device(m, udid, &d) < 0)
                return;
        device_on_udev(d, true, syspath);
}

static int on_udev(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct udev_device *dev;

        while ((dev = udev_monitor_receive_device(m->udev_monitor))) {
                handle_udev_device(m, dev, udev_device_get_action(dev));
                udev_device_unref(dev);
        }
        manager_note_activity(m);
        return 0;
}

static int udev_setup(Manager *m) {
        struct udev_enumerate *en;
        struct udev_list_entry *e;
        int r;

        m->udev = udev_new();
        if (!m->udev)
                return -ENOMEM;
        m->udev_monitor = udev_monitor_new_from_netlink(m->udev, "udev");
        if (!m->udev_monitor)
                log_warning("No udev monitor, USB plugs are only seen through usbmuxd");
        else {
                (void) udev_monitor_filter_add_match_subsystem_devtype(m->udev_monitor, "usb",
                                                                       "usb_device");
                /* A burst (a hub with several phones) must not overflow the socket. */
                (void) udev_monitor_set_receive_buffer_size(m->udev_monitor, 4 * 1024 * 1024);
                r = udev_monitor_enable_receiving(m->udev_monitor);
                if (r < 0)
                        log_warning_errno(r, "Cannot receive udev events, ignoring: %m");
                else {
                        r = sd_event_add_io(m->event, &m->udev_source,
                                            udev_monitor_get_fd(m->udev_monitor), EPOLLIN,
                                            on_udev, m);
                        if (r < 0)
                                return r;
                }
        }

        /* Monitor first, then enumerate: nothing falls into the gap. */
        en = udev_enumerate_new(m->udev);
        if (!en)
                return -ENOMEM;
        (void) udev_enumerate_add_match_subsystem(en, "usb");
        (void) udev_enumerate_add_match_property(en, "DEVTYPE", "usb_device");
        (void) udev_enumerate_scan_devices(en);
        udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en)) {
                struct udev_device *dev =
                        udev_device_new_from_syspath(m->udev, udev_list_entry_get_name(e));
                if (dev) {
                        handle_udev_device(m, dev, NULL);
                        udev_device_unref(dev);
                }
        }
        udev_enumerate_unref(en);
        return 0;
}

/* ---- known devices ------------------------------------------------------------------ */

/* Devices seen before (state or snapshots) and devices with a policy file get objects. */
static void load_known_devices(Manager *m) {
        struct dirent *e;
        DIR *dir;

        for (int k = 0; k < 2; k++) {
                const char *base = k == 0 ? m->state_dir : manager_backup_dir(m);

                if (k == 1 && base == m->state_dir)
                        break;
                dir = opendir(base);
                while (dir && (e = readdir(dir)))
                        if (e->d_name[0] != '.' && udid_valid(e->d_name))
                                (void) manager_add_device(m, e->d_name, NULL);
                if (dir)
                        closedir(dir);
        }

        for (const char *const *u = config_device_udids(m->config); *u; u++)
                (void) manager_add_device(m, *u, NULL);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

int manager_new(Manager **ret) {
        Manager *m;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->usbmux_pipe[0] = m->usbmux_pipe[1] = -EBADF;

        r = sd_event_default(&m->event);
        if (r < 0)
                goto fail;
        r = sd_event_set_signal_exit(m->event, true);
        if (r < 0)
                goto fail;
        r = sd_event_add_signal(m->event, NULL, SIGHUP | SD_EVENT_SIGNAL_PROCMASK, on_sighup, m);
        if (r < 0)
                goto fail;
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                goto fail;
        r = sd_event_add_defer(m->event, &m->flush_source, on_flush, m);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(m->flush_source, SD_EVENT_OFF);
        *ret = m;
        return 0;
fail:
        manager_free(m);
        return r;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        if (m->subscribed)
                (void) idevice_event_unsubscribe();

        /* Ask every helper to stop cleanly (tells the device, releases its lock), briefly. */
        for (size_t i = 0; i < m->n_jobs; i++)
                if (m->jobs[i]->pid > 0)
                        (void) kill(m->jobs[i]->pid, SIGTERM);
        for (int round = 0; round < 100; round++) {
                bool left = false;

                for (size_t i = 0; i < m->n_jobs; i++)
                        if (m->jobs[i]->pid > 0) {
                                if (waitpid(m->jobs[i]->pid, NULL, WNOHANG) == m->jobs[i]->pid)
                                        m->jobs[i]->pid = 0;
                                else
                                        left = true;
                        }
                if (!left)
                        break;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 50000000 }, NULL);
        }
        for (size_t i = 0; i < m->n_jobs; i++)
                job_free(m->jobs[i]);
        free(m->jobs);
        for (size_t i = 0; i < m->n_devices; i++)
                device_free(m->devices[i]);
        free(m->devices);

        sd_event_source_disable_unref(m->flush_source);
        sd_event_source_disable_unref(m->flush_timer);
        sd_event_source_disable_unref(m->idle_timer);
        sd_event_source_disable_unref(m->usbmux_source);
        sd_event_source_disable_unref(m->udev_source);
        if (m->udev_monitor)
                udev_monitor_unref(m->udev_monitor);
        if (m->udev)
                udev_unref(m->udev);
        if (m->usbmux_pipe[0] >= 0)
                close(m->usbmux_pipe[0]);
        if (m->usbmux_pipe[1] >= 0)
                close(m->usbmux_pipe[1]);
        if (m->bus)
                sd_bus_flush_close_unref(m->bus);
        sd_event_unref(m->event);
        config_set_free(m->config);
        free(m->state_dir);
        free(m);
        return NULL;
}

/* Parse the configuration once; devices take their policies from it. On failure (the file
 * is reported by the parser) the previous configuration stays. */
static int manager_load_config(Manager *m) {
        ConfigSet *c;
        int r;

        r = config_load(&c);
        if (r < 0)
                return log_warning_errno(r, "Failed to load the configuration, keeping the "
                                            "previous one: %m");
        config_set_free(m->config);
        m->config = c;
        return 0;
}

int manager_reload(Manager *m) {
        int r;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading configuration");
        r = manager_load_config(m);
        for (size_t i = 0; i < m->n_devices; i++)
                (void) device_reload_policy(m->devices[i]);
        /* A devices.d file added since makes a device known (and gives it an object). */
        load_known_devices(m);
        (void) sd_notify(false, "READY=1");
        manager_update_status(m);
        log_info("Configuration reloaded");
        return r;
}

int manager_start(Manager *m) {
        const char *e = getenv("STATE_DIRECTORY");
        int r;

        m->state_dir = strdup(e && *e && !strchr(e, ':') ? e : "/var/lib/idevicesync");
        if (!m->state_dir)
                return -ENOMEM;
        if (mkdir(m->state_dir, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create '%s': %m", m->state_dir);

        (void) manager_load_config(m);          /* at start-up: the defaults on failure */

        load_known_devices(m);

        r = manager_bus_setup(m);
        if (r < 0)
                return r;
        r = sd_bus_add_filter(m->bus, NULL, on_bus_message, m);
        if (r < 0)
                return r;

        (void) udev_setup(m);

        if (pipe2(m->usbmux_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        r = sd_event_add_io(m->event, &m->usbmux_source, m->usbmux_pipe[0], EPOLLIN,
                            on_usbmux_pipe, m);
        if (r < 0)
                return r;
        /* A custom socket (tests) is never announced by inotify on /var/run: poll for it. */
        if (getenv("USBMUXD_SOCKET_ADDRESS"))
                libusbmuxd_set_use_inotify(0);
        if (idevice_event_subscribe(on_idevice_event, m) != IDEVICE_E_SUCCESS)
                return log_error_errno(-EIO, "Failed to subscribe to usbmuxd events");
        m->subscribed = true;

        manager_note_activity(m);
        if (m->idle_timeout > 0) {
                r = sd_event_add_time(m->event, &m->idle_timer, CLOCK_MONOTONIC,
                                      m->last_activity + m->idle_timeout, USEC_PER_SEC,
                                      on_idle_timer, m);
                if (r < 0)
                        return r;
        }
        return 0;
}
