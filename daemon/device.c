/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-device state machine (see device.h). Every state carries a one-sentence reason.
 * Once per connection the device is probed (pairing, values), checked against its policy,
 * backed up, then synced; a failed or cancelled backup never proceeds to sync. Human steps
 * (Trust, passcode, locked) are states that are retried, never hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "device.h"
#include "idevicesync.h"
#include "job.h"
#include "log.h"
#include "macro.h"

#define USEC_PER_SEC 1000000ull
#define RETRY_TRUST_USEC (2 * USEC_PER_SEC)
#define RETRY_LOCKED_USEC (3 * USEC_PER_SEC)
#define RETRY_BUSY_USEC (5 * USEC_PER_SEC)
#define RETRY_DEFERRED_MAX_USEC (600 * USEC_PER_SEC)    /* battery and disk are re-read */

static const char *const states[_DEVICE_STATE_MAX] = {
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
};

const char *const device_prop_names[_DEVICE_PROP_MAX] = {
        [DEVICE_PROP_NAME] = "Name",
        [DEVICE_PROP_PRODUCT_TYPE] = "ProductType",
        [DEVICE_PROP_PRODUCT_VERSION] = "ProductVersion",
        [DEVICE_PROP_CONNECTED] = "Connected",
        [DEVICE_PROP_STATE] = "State",
        [DEVICE_PROP_STATE_REASON] = "StateReason",
        [DEVICE_PROP_PHASE] = "Phase",
        [DEVICE_PROP_PROGRESS] = "Progress",
        [DEVICE_PROP_BYTES_DONE] = "BytesDone",
        [DEVICE_PROP_BYTES_TOTAL] = "BytesTotal",
        [DEVICE_PROP_FILES_DONE] = "FilesDone",
        [DEVICE_PROP_FILES_TOTAL] = "FilesTotal",
        [DEVICE_PROP_JOB] = "Job",
        [DEVICE_PROP_LAST_BACKUP] = "LastBackup",
        [DEVICE_PROP_LAST_RESULT] = "LastResult",
        [DEVICE_PROP_NEXT_ELIGIBLE] = "NextEligible",
        [DEVICE_PROP_ENCRYPTED] = "Encrypted",
};

const char *device_state_to_string(DeviceState s) {
        return (unsigned) s < _DEVICE_STATE_MAX ? states[s] : NULL;
}

static uint64_t now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

void device_mark_dirty(Device *d, DeviceProp p) {
        d->dirty |= 1ull << p;
        manager_schedule_flush(d->manager);
}

int device_new(Manager *m, const char *udid, Device **ret) {
        Device *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = (Device) {
                .manager = m,
                .udid = strdup(udid),
                .name = strdup(""),
                .product_type = strdup(""),
                .product_version = strdup(""),
                .reason = strdup("The device is not connected."),
                .last_result = strdup(""),
                .last_message = strdup(""),
                .battery = -1,
                .state = DEVICE_DISCONNECTED,
        };
        policy_init_defaults(&d->policy);
        if (!d->udid || !d->name || !d->product_type || !d->product_version || !d->reason ||
            !d->last_result || !d->last_message) {
                device_free(d);
                return -ENOMEM;
        }
        r = sd_bus_path_encode(DBUS_DEVICE_PREFIX, udid, &d->path);
        if (r < 0) {
                device_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->retry_timer);
        sd_event_source_disable_unref(d->passcode_timer);
        policy_done(&d->policy);
        free(d->udid);
        free(d->path);
        free(d->name);
        free(d->product_type);
        free(d->product_version);
        free(d->usb_syspath);
        free(d->reason);
        free(d->last_result);
        free(d->last_message);
        free(d);
        return NULL;
}

void device_set_state(Device *d, DeviceState s, const char *fmt, ...) {
        char reason[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (d->state == s && strcmp(d->reason, reason) == 0)
                return;
        if (d->state != s)
                device_mark_dirty(d, DEVICE_PROP_STATE);
        if (strcmp(d->reason, reason) != 0)
                device_mark_dirty(d, DEVICE_PROP_STATE_REASON);
        d->state = s;
        (void) free_and_strdup(&d->reason, reason);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s: %s (%s)", d->udid, states[s], reason);
        if (d->manager->bus)
                (void) sd_bus_emit_signal(d->manager->bus, d->path, "org.idevicesync1.Device",
                                          "StateChanged", "ss", states[s], reason);
        manager_update_status(d->manager);
}

/* ---- persistence: <state>/<UDID>/device.state (key=value) ------------------------------ */

static char *state_file(Device *d) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s/device.state", d->manager->state_dir, d->udid) < 0)
                return NULL;
        return p;
}

int device_save(Device *d) {
        char *path = state_file(d), *tmp = NULL, dir[4096];
        FILE *f;
        int fd, r = 0;

        if (!path)
                return -ENOMEM;
        snprintf(dir, sizeof(dir), "%s/%s", d->manager->state_dir, d->udid);
        (void) mkdir(d->manager->state_dir, 0700);
        (void) mkdir(dir, 0700);
        if (asprintf(&tmp, "%s.tmp", path) < 0) {
                free(path);
                return -ENOMEM;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        f = fd >= 0 ? fdopen(fd, "we") : NULL;
        if (!f) {
                r = -errno;
                if (fd >= 0)
                        close(fd);
                goto out;
        }
        /* Values are validated strings from the device: strip newlines to keep lines. */
        fprintf(f, "name=%s\nproduct_type=%s\nproduct_version=%s\nlast_backup=%" PRIu64 "\n"
                   "last_result=%s\nencrypted=%d\nrunning=%s\n",
                d->name, d->product_type, d->product_version, d->last_backup, d->last_result,
                d->encrypted, d->job && d->job->kind == JOB_BACKUP ? "backup" : "");
        if (fflush(f) != 0 || fsync(fileno(f)) < 0)
                r = -errno;
        fclose(f);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r == 0) {
                int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd >= 0) {
                        (void) fsync(dfd);
                        close(dfd);
                }
        }
out:
        if (r < 0) {
                (void) unlink(tmp);
                log_warning_errno(r, "Failed to save the state of %s, ignoring: %m", d->udid);
        }
        free(tmp);
        free(path);
        return r;
}

static void sanitize(char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20)
                        *s = ' ';
}

int device_load(Device *d) {
        char *path = state_file(d), line[1024];
        FILE *f;
        bool interrupted = false;

        (void) device_reload_policy(d);
        if (!path)
                return -ENOMEM;
        f = fopen(path, "re");
        free(path);
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                char *eq = strchr(line, '='), *v;

                if (!eq)
                        continue;
                *eq = 0;
                v = eq + 1;
                v[strcspn(v, "\n")] = 0;
                sanitize(v);
                if (strcmp(line, "name") == 0)
                        (void) free_and_strdup(&d->name, v);
                else if (strcmp(line, "product_type") == 0)
                        (void) free_and_strdup(&d->product_type, v);
                else if (strcmp(line, "product_version") == 0)
                        (void) free_and_strdup(&d->product_version, v);
                else if (strcmp(line, "last_backup") == 0)
                        d->last_backup = strtoull(v, NULL, 10);
                else if (strcmp(line, "last_result") == 0)
                        (void) free_and_strdup(&d->last_result, v);
                else if (strcmp(line, "encrypted") == 0)
                        d->encrypted = strcmp(v, "1") == 0;
                else if (strcmp(line, "running") == 0)
                        interrupted = strcmp(v, "backup") == 0;
        }
        fclose(f);
        if (interrupted) {
                /* The daemon stopped mid-run: the engine cleans the staging on its next run. */
                (void) free_and_strdup(&d->last_result, "failed");
                (void) free_and_strdup(&d->reason, "The last backup was interrupted when the service "
                                           "stopped.");
                log_device(LOG_WARNING, d->udid, NULL, "failed",
                           "The last backup of %s was interrupted when the service stopped",
                           d->udid);
                (void) device_save(d);
        }
        return 0;
}

int device_reload_policy(Device *d) {
        Policy p;
        int r;

        r = config_policy_for_device(d->manager->config, d->udid, &p);
        if (r < 0)      /* the parser has reported the file */
                return log_debug_errno(r, "Keeping the previous policy of %s: %m", d->udid);
        policy_done(&d->policy);
        d->policy = p;
        return 0;
}

/* ---- timers ------------------------------------------------------------------------ */

static void device_probe(Device *d);
static void device_evaluate(Device *d);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Device *d = userdata;

        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        if (!d->connected || d->job || d->probe)
                return 0;
        /* Trust, lock or a deferral may have changed (battery and charging are read again). */
        device_probe(d);
        return 0;
}

static void arm_retry(Device *d, uint64_t usec_relative) {
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        (void) sd_event_add_time_relative(d->manager->event, &d->retry_timer, CLOCK_MONOTONIC,
                                          usec_relative, 0, on_retry, d);
}

static void set_next_eligible(Device *d, uint64_t t) {
        if (d->next_eligible == t)
                return;
        d->next_eligible = t;
        device_mark_dirty(d, DEVICE_PROP_NEXT_ELIGIBLE);
}

static void set_last_result(Device *d, const char *result, const char *message) {
        if (strcmp(d->last_result, result) != 0) {
                (void) free_and_strdup(&d->last_result, result);
                device_mark_dirty(d, DEVICE_PROP_LAST_RESULT);
        }
        (void) free_and_strdup(&d->last_message, message);
}

/* ---- probe ------------------------------------------------------------------------- */

static void device_probe(Device *d) {
        WorkerArgs a = { .kind = WORKER_PROBE, .udid = d->udid, .reboot = true };
        Job *j;
        int r;

        if (d->probe || !d->connected)
                return;
        r = job_new(d->manager, d, JOB_PROBE, &j);
        if (r < 0) {
                log_error_errno(r, "Failed to probe %s: %m", d->udid);
                return;
        }
        d->probe = j;
        if (d->state != DEVICE_DEFERRED)
                device_set_state(d, DEVICE_PAIRING, "Connecting to the device.");
        r = job_start_worker(j, &a);
        if (r < 0)
                job_finish(j, r, "failed", "Cannot start the probe helper.");
}

void device_on_probe_result(Device *d, int r, const char *name, const char *product_type,
                            const char *product_version, int battery, bool charging,
                            bool will_encrypt) {
        if (!d->connected) {
                device_set_state(d, d->usb_present ? DEVICE_WAITING_FOR_USBMUXD :
                                                     DEVICE_DISCONNECTED,
                                 "The device is not connected.");
                return;
        }
        switch (r) {
        case 0:
                d->probe_failures = 0;
                if (strcmp(d->name, name) != 0) {
                        (void) free_and_strdup(&d->name, name);
                        device_mark_dirty(d, DEVICE_PROP_NAME);
                }
                if (strcmp(d->product_type, product_type) != 0) {
                        (void) free_and_strdup(&d->product_type, product_type);
                        device_mark_dirty(d, DEVICE_PROP_PRODUCT_TYPE);
                }
                if (strcmp(d->product_version, product_version) != 0) {
                        (void) free_and_strdup(&d->product_version, product_version);
                        device_mark_dirty(d, DEVICE_PROP_PRODUCT_VERSION);
                }
                if (d->encrypted != will_encrypt) {
                        d->encrypted = will_encrypt;
                        device_mark_dirty(d, DEVICE_PROP_ENCRYPTED);
                }
                d->battery = battery;
                d->charging = charging;
                (void) device_save(d);
                device_evaluate(d);
                return;
        case IDS_E_TRUST_PENDING:
                device_set_state(d, DEVICE_WAITING_FOR_TRUST,
                                 "Tap \"Trust\" on the device and enter its passcode.");
                arm_retry(d, RETRY_TRUST_USEC);
                return;
        case IDS_E_NOT_TRUSTED:
                set_last_result(d, "not-trusted", ids_result_message(r));
                device_set_state(d, DEVICE_IDLE, "The user tapped \"Don't Trust\" on the "
                                                 "device; reconnect it to be asked again.");
                d->attempted = true;
                (void) device_save(d);
                return;
        case IDS_E_LOCKED:
                device_set_state(d, DEVICE_LOCKED, "Unlock the device to continue.");
                arm_retry(d, RETRY_LOCKED_USEC);
                return;
        default:
                /* usbmuxd may still be settling; back off, then say so. */
                d->probe_failures++;
                device_set_state(d, DEVICE_IDLE, "Cannot talk to the device: %s",
                                 r > 0 ? ids_result_message(r) : strerror(-r));
                arm_retry(d, (d->probe_failures < 5 ? 2ull : 30ull) * USEC_PER_SEC);
                return;
        }
}

/* ---- policy ------------------------------------------------------------------------ */

static void format_span(char *buf, size_t n, uint64_t usec) {
        uint64_t s = usec / USEC_PER_SEC;

        if (s >= 3600)
                snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "min", s / 3600, (s % 3600) / 60);
        else if (s >= 60)
                snprintf(buf, n, "%" PRIu64 "min", s / 60);
        else
                snprintf(buf, n, "%" PRIu64 "s", s);
}

int device_check_policy(Device *d, bool manual, char **ret_reason, uint64_t *ret_next) {
        const Policy *p = &d->policy;
        uint64_t now = now_realtime();
        struct statvfs sv;
        char buf[512], span[64];
        time_t t = (time_t) (now / USEC_PER_SEC);
        struct tm tm;

        *ret_reason = NULL;
        *ret_next = 0;
        if (d->job) {
                snprintf(buf, sizeof(buf), "A %s job is running.", job_kind_to_string(d->job->kind));
                *ret_next = now + 60 * USEC_PER_SEC;
                goto deferred;
        }
        if (p->backup.min_interval > 0 && d->last_backup > 0 &&
            strcmp(d->last_result, "done") == 0 && d->last_backup + p->backup.min_interval > now) {
                *ret_next = d->last_backup + p->backup.min_interval;
                format_span(span, sizeof(span), p->backup.min_interval);
                snprintf(buf, sizeof(buf), "The last backup is less than MinInterval=%s old.",
                         span);
                goto deferred;
        }
        localtime_r(&t, &tm);
        if (!policy_time_window_contains(p, (unsigned) (tm.tm_hour * 60 + tm.tm_min))) {
                unsigned wait = policy_time_window_wait(p, (unsigned) (tm.tm_hour * 60 + tm.tm_min));
                *ret_next = (now / (60 * USEC_PER_SEC) + wait) * 60 * USEC_PER_SEC;
                snprintf(buf, sizeof(buf), "Outside TimeWindow=%02u:%02u-%02u:%02u.",
                         p->backup.time_window.start / 60, p->backup.time_window.start % 60,
                         p->backup.time_window.end / 60 % 24, p->backup.time_window.end % 60);
                goto deferred;
        }
        if (p->backup.min_battery > 0 && d->battery >= 0 &&
            (unsigned) d->battery < p->backup.min_battery && !d->charging) {
                *ret_next = now + RETRY_DEFERRED_MAX_USEC;
                snprintf(buf, sizeof(buf), "The battery is at %d%%, below MinBattery=%u%%, and "
                         "not charging.", d->battery, p->backup.min_battery);
                goto deferred;
        }
        if (p->backup.require_charging && !d->charging) {
                *ret_next = now + RETRY_DEFERRED_MAX_USEC;
                snprintf(buf, sizeof(buf), "The device is not charging (RequireCharging=yes).");
                goto deferred;
        }
        if (statvfs(manager_backup_dir(d->manager), &sv) == 0) {
                uint64_t total = (uint64_t) sv.f_blocks * sv.f_frsize;
                uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize;
                uint64_t floor_b = policy_min_free_bytes(p, total);

                if (avail < floor_b) {
                        *ret_next = now + RETRY_DEFERRED_MAX_USEC;
                        snprintf(buf, sizeof(buf), "Only %" PRIu64 " MiB free for backups, below "
                                 "MinFreeSpace (%" PRIu64 " MiB).", avail >> 20, floor_b >> 20);
                        goto deferred;
                }
        }
        (void) manual;
        return 0;

deferred:
        *ret_reason = strdup(buf);
        return *ret_reason ? 1 : -ENOMEM;
}

static void device_evaluate(Device *d) {
        _cleanup_free_ char *reason = NULL;
        uint64_t next = 0;
        int r;

        if (!d->connected || d->job)
                return;
        if (d->attempted) {
                device_set_state(d, DEVICE_IDLE, "%s", d->reason[0] && d->state == DEVICE_IDLE ?
                                 d->reason : "Backed up for this connection.");
                return;
        }
        if (!d->policy.backup.auto_run) {
                device_set_state(d, DEVICE_IDLE, "Automatic backups are off (AutoRun=no).");
                return;
        }
        device_set_state(d, DEVICE_CHECKING_POLICY, "Checking the backup policy.");
        r = device_check_policy(d, false, &reason, &next);
        if (r < 0) {
                log_error_errno(r, "Policy check of %s failed: %m", d->udid);
                return;
        }
        if (r > 0) {
                uint64_t now = now_realtime();

                set_next_eligible(d, next);
                device_set_state(d, DEVICE_DEFERRED, "%s", reason);
                arm_retry(d, next > now ? (next - now < RETRY_DEFERRED_MAX_USEC ?
                                           next - now : RETRY_DEFERRED_MAX_USEC) :
                                          USEC_PER_SEC);
                return;
        }
        set_next_eligible(d, 0);
        r = device_start_backup(d, false, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to start the backup of %s: %m", d->udid);
}

/* ---- jobs -------------------------------------------------------------------------- */

int device_start_backup(Device *d, bool full, Job **ret) {
        const PolicyBackup *p = &d->policy.backup;
        WorkerArgs a = {
                .kind = WORKER_BACKUP,
                .udid = d->udid,
                .state_dir = manager_backup_dir(d->manager),
                .full = full,
                .reboot = true,
                .keep = p->keep,
                .keep_days = p->keep_days,
                .min_free_bytes = p->min_free_space.kind == SPACE_BYTES ? p->min_free_space.value : 0,
                .min_free_percent = p->min_free_space.kind == SPACE_PERCENT ?
                                            (unsigned) p->min_free_space.value : 0,
                .require_encryption = p->require_encryption,
        };
        Job *j;
        int r;

        if (d->job)
                return -EBUSY;
        r = job_new(d->manager, d, JOB_BACKUP, &j);
        if (r < 0)
                return r;
        d->job = j;
        d->attempted = true;
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        device_mark_dirty(d, DEVICE_PROP_JOB);
        device_set_state(d, DEVICE_BACKING_UP, "Backing up.");
        (void) device_save(d);          /* running=backup: a restart reports the interruption */
        r = job_start_worker(j, &a);
        if (r < 0) {
                job_finish(j, r, "failed", "Cannot start the backup helper.");
                return r;
        }
        if (ret)
                *ret = j;
        return 0;
}

static void mirror_progress(Device *d, Job *j) {
        d->dirty |= (1ull << DEVICE_PROP_PHASE) | (1ull << DEVICE_PROP_PROGRESS) |
                    (1ull << DEVICE_PROP_BYTES_DONE) | (1ull << DEVICE_PROP_BYTES_TOTAL) |
                    (1ull << DEVICE_PROP_FILES_DONE) | (1ull << DEVICE_PROP_FILES_TOTAL);
        d->progress_forced = j->progress_forced || j->progress == 0 || j->progress == 100;
        manager_schedule_flush(d->manager);
}

static int on_passcode_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Device *d = userdata;

        d->passcode_timer = sd_event_source_disable_unref(d->passcode_timer);
        if (d->job && d->state == DEVICE_WAITING_FOR_PASSCODE) {
                log_device(LOG_NOTICE, d->udid, d->job->path, "passcode-timeout",
                           "Nobody entered the passcode of %s within PasscodeWait=, giving up",
                           d->udid);
                job_cancel(d->job, "passcode-timeout");
        }
        return 0;
}

void device_on_job_progress(Device *d, Job *j) {
        if (j != d->job)
                return;
        mirror_progress(d, j);
        if (j->kind != JOB_BACKUP)
                return;
        if (j->phase == IDS_PHASE_WAITING_PASSCODE) {
                device_set_state(d, DEVICE_WAITING_FOR_PASSCODE,
                                 "Enter the passcode on the device to allow the backup.");
                /* PasscodeWait=0: nobody is expected to answer, give up at once. */
                if (!d->passcode_timer)
                        (void) sd_event_add_time_relative(d->manager->event, &d->passcode_timer,
                                                          CLOCK_MONOTONIC,
                                                          d->policy.backup.passcode_wait, 0,
                                                          on_passcode_timeout, d);
        } else {
                d->passcode_timer = sd_event_source_disable_unref(d->passcode_timer);
                device_set_state(d, DEVICE_BACKING_UP, "Backing up (%s).",
                                 ids_phase_to_string(j->phase));
        }
}

int device_start_sync(Device *d, Job **ret) {
        Job *j;
        int r;

        if (d->job)
                return -EBUSY;
        r = job_new(d->manager, d, JOB_SYNC, &j);
        if (r < 0)
                return log_error_errno(r, "Failed to create the sync job of %s: %m", d->udid);
        d->job = j;
        device_mark_dirty(d, DEVICE_PROP_JOB);
        device_set_state(d, DEVICE_SYNCING, "Syncing.");
        /* The sync stage lands with the sync issue: until then it honestly has nothing to do. */
        if (job_finish_later(j, 0, "done", "Nothing is configured to sync.") < 0)
                job_finish(j, 0, "done", "Nothing is configured to sync.");
        if (ret)
                *ret = j;
        return 0;
}

void device_on_job_finished(Device *d, Job *j) {
        if (j == d->probe) {
                d->probe = NULL;
                device_on_probe_result(d, j->code, j->info.name, j->info.product_type,
                                       j->info.product_version, j->have_info ? j->info.battery : -1,
                                       j->info.charging, j->info.will_encrypt);
                return;
        }
        if (j != d->job)
                return;
        d->job = NULL;
        d->passcode_timer = sd_event_source_disable_unref(d->passcode_timer);
        device_mark_dirty(d, DEVICE_PROP_JOB);
        mirror_progress(d, j);

        switch (j->kind) {
        case JOB_BACKUP:
                if (j->code == IDS_E_BUSY && d->connected) {
                        /* Another host or operation holds the device: transient, try again. */
                        uint64_t next = now_realtime() + RETRY_BUSY_USEC;

                        d->attempted = false;
                        set_next_eligible(d, next);
                        device_set_state(d, DEVICE_DEFERRED, "%s Trying again shortly.",
                                         j->message[0] ? j->message :
                                         ids_result_message(j->code));
                        arm_retry(d, RETRY_BUSY_USEC);
                        return;
                }
                set_last_result(d, j->result, j->message);
                if (strcmp(j->result, "done") == 0) {
                        d->last_backup = now_realtime();
                        device_mark_dirty(d, DEVICE_PROP_LAST_BACKUP);
                }
                (void) device_save(d);
                if (strcmp(j->result, "done") == 0 && d->connected) {
                        /* Backup first, then sync, in the same connection. */
                        (void) device_start_sync(d, NULL);
                        return;
                }
                if (!d->connected)
                        device_set_state(d, d->usb_present ? DEVICE_WAITING_FOR_USBMUXD :
                                                             DEVICE_DISCONNECTED,
                                         "The device was disconnected%s%s.",
                                         j->message[0] ? ": " : "", j->message);
                else if (!d->attempted)
                        device_probe(d);        /* re-plugged while the old run ended */
                else
                        device_set_state(d, DEVICE_IDLE, "The backup ended: %s",
                                         j->message[0] ? j->message :
                                         ids_result_message(j->code));
                return;
        case JOB_SYNC:
                if (d->connected)
                        device_set_state(d, DEVICE_IDLE, "Backed up. %s",
                                         j->message[0] ? j->message : "Synced.");
                return;
        case JOB_VERIFY:
        case JOB_RESTORE:
                if (d->connected && !d->attempted)
                        device_probe(d);        /* plugged in while the job ran */
                else if (d->connected)
                        device_set_state(d, DEVICE_IDLE, "The %s ended: %s.",
                                         job_kind_to_string(j->kind), j->result);
                else
                        device_set_state(d, d->usb_present ? DEVICE_WAITING_FOR_USBMUXD :
                                                             DEVICE_DISCONNECTED,
                                         "The device is not connected.");
                return;
        default:
                return;
        }
}

/* ---- connection events ------------------------------------------------------------ */

void device_on_usbmux_add(Device *d) {
        if (d->connected)
                return;
        d->connected = true;
        d->attempted = false;
        d->probe_failures = 0;
        device_mark_dirty(d, DEVICE_PROP_CONNECTED);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s connected", d->udid);
        if (!d->job)
                device_probe(d);
}

void device_on_usbmux_remove(Device *d) {
        if (!d->connected)
                return;
        d->connected = false;
        device_mark_dirty(d, DEVICE_PROP_CONNECTED);
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        set_next_eligible(d, 0);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s disconnected", d->udid);
        if (d->probe)
                job_cancel(d->probe, NULL);
        /* A running job notices the cable pull itself and reports "disconnected". */
        if (!d->job)
                device_set_state(d, d->usb_present ? DEVICE_WAITING_FOR_USBMUXD :
                                                     DEVICE_DISCONNECTED,
                                 d->usb_present ? "The cable is in, but usbmuxd has not "
                                                  "published the device yet." :
                                                  "The device is not connected.");
}

void device_on_usbmux_paired(Device *d) {
        /* The user tapped Trust: do not wait for the retry timer. */
        if (d->connected && d->state == DEVICE_WAITING_FOR_TRUST && !d->probe) {
                d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
                device_probe(d);
        }
}

void device_on_udev(Device *d, bool present, const char *syspath) {
        d->usb_present = present;
        if (present && syspath)
                (void) free_and_strdup(&d->usb_syspath, syspath);
        if (d->connected || d->job)
                return;
        if (present)
                device_set_state(d, DEVICE_WAITING_FOR_USBMUXD,
                                 "The cable is in, but usbmuxd has not published the device "
                                 "yet.");
        else
                device_set_state(d, DEVICE_DISCONNECTED, "The device is not connected.");
}
