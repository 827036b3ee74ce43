/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The backup: the policy's retention and free-space floor go to the helper, which runs
 * ids_backup_run() into a new snapshot. While the device asks for its passcode (iOS ≥ 16.1)
 * the device is waiting-for-passcode, given up after PasscodeWait=. A device busy with
 * another host is retried shortly; a backup that ends "done" lets the plan go on to sync.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "job-type.h"
#include "log.h"
#include "macro.h"

#define USEC_PER_SEC 1000000ull
#define RETRY_BUSY_USEC (5 * USEC_PER_SEC)

static int backup_request(Device *d, const JobParams *p, WorkerRequest *req) {
        const Policy *pol = &d->policy;

        req->full = p->full;
        req->reboot = true;
        req->keep = pol->backup.keep;
        req->keep_days = pol->backup.keep_days;
        req->min_free_bytes = pol->backup.min_free_space.kind == SPACE_BYTES ?
                                      pol->backup.min_free_space.value : 0;
        req->min_free_percent = pol->backup.min_free_space.kind == SPACE_PERCENT ?
                                        pol->backup.min_free_space.value : 0;
        req->require_encryption = pol->backup.require_encryption;
        return 0;
}

static void backup_started(Device *d, Job *j, const JobParams *p) {
        DeviceState s;

        d->attempted = true;
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        if (device_next_state(d, DEVICE_EVENT_BACKUP_STARTED, &s) > 0)
                device_set_state(d, s, "Backing up.");
        (void) device_save(d);          /* running=backup: a restart reports the interruption */
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

static void backup_progress(Device *d, Job *j) {
        DeviceState s;

        if (j->phase == IDS_PHASE_WAITING_PASSCODE) {
                if (device_next_state(d, DEVICE_EVENT_PASSCODE_ASKED, &s) > 0)
                        device_set_state(d, s, "Enter the passcode on the device to allow "
                                               "the backup.");
                /* PasscodeWait=0: nobody is expected to answer, give up at once. */
                if (!d->passcode_timer)
                        (void) sd_event_add_time_relative(d->manager->event, &d->passcode_timer,
                                                          CLOCK_MONOTONIC,
                                                          d->policy.backup.passcode_wait, 0,
                                                          on_passcode_timeout, d);
        } else {
                d->passcode_timer = sd_event_source_disable_unref(d->passcode_timer);
                if (device_next_state(d, DEVICE_EVENT_PASSCODE_ENTERED, &s) > 0)
                        device_set_state(d, s, "Backing up (%s).",
                                         ids_phase_to_string(j->phase));
        }
}

static void backup_finished(Device *d, Job *j) {
        const char *why = j->message[0] ? j->message : ids_result_message(j->code);
        DeviceState s;
        bool done;

        d->passcode_timer = sd_event_source_disable_unref(d->passcode_timer);
        if (j->have_result && j->report.encrypted && !d->encrypted) {
                d->encrypted = true;
                device_mark_dirty(d, DEVICE_PROP_ENCRYPTED);
        }
        if (j->code == IDS_E_BUSY && d->connected) {
                /* Another host or operation holds the device: transient, try again. */
                d->attempted = false;
                device_set_next_eligible(d, device_now_realtime() + RETRY_BUSY_USEC);
                if (device_next_state(d, DEVICE_EVENT_BACKUP_BUSY, &s) > 0)
                        device_set_state(d, s, "%s Trying again shortly.", why);
                device_arm_retry(d, RETRY_BUSY_USEC);
                return;
        }
        device_set_last_result(d, j->result, j->message);
        done = strcmp(j->result, "done") == 0;
        if (done) {
                d->last_backup = device_now_realtime();
                device_mark_dirty(d, DEVICE_PROP_LAST_BACKUP);
        }
        (void) device_save(d);
        if (device_next_state(d, done ? DEVICE_EVENT_BACKUP_DONE : DEVICE_EVENT_BACKUP_FAILED,
                              &s) == 0) {
                /* Still plugged in: the plan goes on, to the sync after a good run, or from
                 * the probe when the device was re-plugged while the old run ended. */
                if (done)
                        d->sync_pending = true; /* backup first, then sync */
                device_plan_next(d);
        } else if (s == DEVICE_IDLE)
                device_set_state(d, s, "The backup ended: %s", why);
        else
                device_set_state(d, s, "The device was disconnected%s%s.",
                                 j->message[0] ? ": " : "", j->message);
}

static int backup_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        ids_backup_options o = {
                .udid = req->udid,
                .state_dir = req->state_dir,
                .backup_dir = req->backup_dir,
                .force_full = req->full,
                .keep = (unsigned) req->keep,
                .keep_days = (unsigned) req->keep_days,
                .min_free_bytes = req->min_free_bytes,
                .min_free_percent = (unsigned) req->min_free_percent,
                .require_encryption = req->require_encryption,
                .progress = worker_on_progress,
                .cancel = cancel,
        };
        ids_backup_result out = {};
        char *pw = worker_read_password();
        int r;

        /* RequireEncryption=yes turns encryption on with it; an encrypted backup's
         * Manifest.db is checked with it before publishing. Never in a message. */
        o.password = pw;
        r = ids_backup_run(&o, &out);
        worker_password_free(pw);
        res->device_error = out.device_error;
        res->full = out.full;
        res->encrypted = out.encrypted;
        res->files = out.files;
        res->bytes = out.bytes;
        res->new_bytes = out.new_bytes;
        snprintf(res->snapshot, sizeof(res->snapshot), "%s", out.snapshot_id);
        snprintf(res->message, sizeof(res->message), "%s", out.message);
        return r;
}

const JobType job_type_backup = {
        .name = "backup",
        .on_bus = true,
        .clean_cancel = true,
        .request = backup_request,
        .started = backup_started,
        .progress = backup_progress,
        .finished = backup_finished,
        .run = backup_run,
};
