/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The manager: one sd_event loop owning every source (signals, the bus, the first hop's
 * sources from udev.c and usbmux.c, job helpers, timers), the device and job tables,
 * configuration, readiness and idle exit. Hotplug events arrive as manager_on_*() calls
 * and are routed to their Device.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "device.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "notify.h"
#include "request.h"
#include "udid.h"

#define USEC_PER_SEC 1000000ull
#define FLUSH_RETRY_USEC 250000ull

static uint64_t now_monotonic(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

const char *manager_backup_dir(Manager *m) {
        const char *dir = config_base(m->config)->store.backup_dir;

        return dir && dir[0] ? dir : m->state_dir;
}

/* ---- tables ------------------------------------------------------------------------ */

Device *manager_find_device(Manager *m, const char *udid) {
        for (size_t i = 0; i < m->n_devices; i++)
                if (udid_equal(m->devices[i]->udid, udid))
                        return m->devices[i];
        return NULL;
}

int manager_add_device(Manager *m, const char *udid, Device **ret) {
        char canonical[UDID_MAX + 1];
        Device *d, **a;
        int r;

        d = manager_find_device(m, udid);
        if (d) {
                if (ret)
                        *ret = d;
                return 0;
        }
        if (!udid_is_valid(udid))
                return -EINVAL;
        /* However it was spelled (usbmuxd, udev, devices.d, a directory), one device. */
        strcpy(canonical, udid);
        (void) udid_canonicalize(canonical);
        a = realloc(m->devices, (m->n_devices + 1) * sizeof(Device *));
        if (!a)
                return -ENOMEM;
        m->devices = a;
        r = device_new(m, canonical, &d);
        if (r < 0)
                return r;
        m->devices[m->n_devices++] = d;
        (void) device_load(d);
        device_emit_added(d);
        /* At start-up every device is loaded first (the state files hold request numbers),
         * then manager_start() reconciles them all; a device seen later does it now. */
        if (m->bus)
                (void) request_reconcile_device(d);
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
        for (size_t i = 0; i < m->n_requests; i++)
                (void) request_flush(m->requests[i], now);
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
        char questions[64] = "";

        for (size_t i = 0; i < m->n_devices; i++)
                connected += m->devices[i]->connected;
        for (size_t i = 0; i < m->n_jobs; i++)
                jobs += m->jobs[i]->path != NULL;
        if (m->n_requests > 0)
                snprintf(questions, sizeof(questions), ", %zu question%s waiting",
                         m->n_requests, m->n_requests == 1 ? "" : "s");
        /* Coalesced and non-blocking: a burst of events costs at most one message a second. */
        notifier_status(m->notifier, "%zu device%s connected, %zu job%s running%s", connected,
                        connected == 1 ? "" : "s", jobs, jobs == 1 ? "" : "s", questions);
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

/* ---- the first hop: udev and usbmuxd events (udev.c, usbmux.c) ---------------------- */

void manager_on_usbmux_event(Manager *m, ManagerUsbmuxEvent event, const char *udid) {
        Device *d = NULL;

        if (!udid_is_valid(udid)) {
                log_warning("usbmuxd reported an invalid UDID, ignoring");
                return;
        }
        if (event == MANAGER_USBMUX_ADD) {
                if (manager_add_device(m, udid, &d) >= 0)
                        device_on_usbmux_add(d);
        } else if ((d = manager_find_device(m, udid))) {
                if (event == MANAGER_USBMUX_REMOVE)
                        device_on_usbmux_remove(d);
                else
                        device_on_usbmux_paired(d);
        }
        manager_note_activity(m);
        manager_update_status(m);
}

void manager_on_usb_plugged(Manager *m, const char *udid, const char *syspath) {
        Device *d;

        if (manager_add_device(m, udid, &d) >= 0)
                device_on_udev(d, true, syspath);
        manager_note_activity(m);
}

void manager_on_usb_unplugged(Manager *m, const char *syspath) {
        /* Sysattrs are gone on remove: match the device by its syspath. */
        for (size_t i = 0; i < m->n_devices; i++) {
                Device *d = m->devices[i];

                if (d->usb_present && d->usb_syspath && syspath &&
                    strcmp(d->usb_syspath, syspath) == 0)
                        device_on_udev(d, false, NULL);
        }
        manager_note_activity(m);
}

/* ---- known devices ------------------------------------------------------------------ */

/* Give the directory base/name of a device, spelled in another letter case than the
 * canonical one, its canonical name. Each step is one rename(), so the move is atomic for
 * anyone using the store, and a crash halfway is finished by the next start: first the
 * iTunes-format folder inside each snapshot (<id>/<UDID>/), then the device directory
 * itself, which is the only step that makes the store visible under the new name. A
 * canonical directory that exists already is never merged into: both are left alone. */
static void migrate_udid_dir(const char *base, const char *name) {
        char canonical[UDID_MAX + 1], from[PATH_MAX], to[PATH_MAX], snaps[PATH_MAX];
        struct dirent *e;
        struct stat st;
        DIR *dir;

        strcpy(canonical, name);
        if (!udid_canonicalize(canonical))
                return;
        if ((size_t) snprintf(to, sizeof(to), "%s/%s", base, canonical) >= sizeof(to) ||
            (size_t) snprintf(from, sizeof(from), "%s/%s", base, name) >= sizeof(from) ||
            (size_t) snprintf(snaps, sizeof(snaps), "%s/snapshots", from) >= sizeof(snaps))
                return;
        if (lstat(to, &st) == 0) {
                log_warning("'%s' and '%s' are the same device spelled in another letter case; "
                            "using '%s' and leaving '%s' alone, ignoring", to, from, to, from);
                return;
        }
        dir = opendir(snaps);
        while (dir && (e = readdir(dir))) {
                char inner_from[PATH_MAX], inner_to[PATH_MAX];

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                if ((size_t) snprintf(inner_from, sizeof(inner_from), "%s/%s/%s", snaps,
                                      e->d_name, name) >= sizeof(inner_from) ||
                    (size_t) snprintf(inner_to, sizeof(inner_to), "%s/%s/%s", snaps,
                                      e->d_name, canonical) >= sizeof(inner_to))
                        continue;
                if (lstat(inner_from, &st) == 0 && S_ISDIR(st.st_mode) &&
                    renameat2(AT_FDCWD, inner_from, AT_FDCWD, inner_to, RENAME_NOREPLACE) < 0)
                        log_warning_errno(-errno, "Failed to rename '%s' to '%s', ignoring: %m",
                                          inner_from, inner_to);
        }
        if (dir)
                closedir(dir);
        if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
                log_warning_errno(-errno, "Failed to rename '%s' to '%s', ignoring: %m", from, to);
                return;
        }
        log_info("Renamed '%s' to '%s': UDIDs are spelled as usbmuxd reports them", from, to);
}

/* Devices seen before (state or snapshots) and devices with a policy file get objects. */
static void load_known_devices(Manager *m) {
        struct dirent *e;
        DIR *dir;

        for (int k = 0; k < 2; k++) {
                const char *base = k == 0 ? m->state_dir : manager_backup_dir(m);

                if (k == 1 && strcmp(base, m->state_dir) == 0)
                        break;
                dir = opendir(base);
                while (dir && (e = readdir(dir)))
                        if (e->d_name[0] != '.' && udid_is_valid(e->d_name)) {
                                migrate_udid_dir(base, e->d_name);
                                (void) manager_add_device(m, e->d_name, NULL);
                        }
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
        /* Not sd_event_set_watchdog(): its pings use sd_notify(), which blocks when the
         * service manager reads slowly. The notifier's never do. */
        r = notifier_new(m->event, &m->notifier);
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
        manager_usbmux_stop(m);

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
        for (size_t i = 0; i < m->n_requests; i++)
                request_free(m->requests[i]);
        free(m->requests);
        for (size_t i = 0; i < m->n_devices; i++)
                device_free(m->devices[i]);
        free(m->devices);

        sd_event_source_disable_unref(m->flush_source);
        sd_event_source_disable_unref(m->flush_timer);
        sd_event_source_disable_unref(m->idle_timer);
        manager_udev_stop(m);
        if (m->bus)
                sd_bus_flush_close_unref(m->bus);
        notifier_free(m->notifier);
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

        (void) notifier_send(m->notifier, "RELOADING=1");
        r = manager_load_config(m);
        for (size_t i = 0; i < m->n_devices; i++)
                (void) device_reload_policy(m->devices[i]);
        /* A devices.d file added since makes a device known (and gives it an object). */
        load_known_devices(m);
        (void) notifier_send(m->notifier, "READY=1");
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
        /* Every device is loaded (and its request numbers known): show what waits for a
         * person. */
        for (size_t i = 0; i < m->n_devices; i++)
                (void) request_reconcile_device(m->devices[i]);

        (void) manager_udev_start(m);   /* without udev, plugs are seen through usbmuxd */
        r = manager_usbmux_start(m);
        if (r < 0)
                return r;

        r = notifier_start_watchdog(m->notifier);
        if (r < 0)
                log_warning_errno(r, "Failed to start the watchdog pings, ignoring: %m");

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
