/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Restore: a committed snapshot of one device (which may be gone) onto a connected target.
 * The job belongs to the target, the device that is busy and changes; the helper reads the
 * backup password from the service's credentials, never from the bus. A restore that worked
 * leaves its report (the Job's Message) on the target as LastRestore/LastRestoreReport.
 */
#include <stdio.h>
#include <string.h>

#include "job-type.h"
#include "macro.h"
#include "restore-offer.h"

static int restore_request(Device *d, const JobParams *p, WorkerRequest *req) {
        req->snapshot = p->snapshot;
        req->target = p->target->udid;
        req->reboot = p->reboot;
        req->skip_checks = p->skip_checks;
        /* What is carried is the target's policy: it is the phone that changes. */
        req->restore_system = p->target->policy.restore.system_files;
        req->restore_settings = p->target->policy.restore.settings;
        req->restore_remove = p->target->policy.restore.remove_items;
        req->restore_app_list = p->target->policy.restore.app_list;
        return 0;
}

static void restore_started(Device *target, Job *j, const JobParams *p) {
        DeviceState s;

        if (device_next_state(target, DEVICE_EVENT_RESTORE_STARTED, &s) > 0)
                device_set_state(target, s, "Restoring from %s of %s.",
                                 p->snapshot && p->snapshot[0] ? p->snapshot :
                                                                 "the latest snapshot",
                                 p->source->udid);
}

static void restore_finished(Device *target, Job *j) {
        /* The report outlives the Job object: the phone reboots and is backed up next, and
         * "what came over" is still a question after that. */
        if (strcmp(j->result, "done") == 0) {
                target->last_restore = device_now_realtime();
                (void) free_and_strdup(&target->last_restore_report, j->message);
                device_mark_dirty(target, DEVICE_PROP_LAST_RESTORE);
                device_mark_dirty(target, DEVICE_PROP_LAST_RESTORE_REPORT);
                (void) device_save(target);
        }
        restore_offer_job_ended(target, j);
        device_after_side_job(target, j);
}

static int restore_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        char *pw = worker_read_password();
        ids_restore_options o = {
                .source_udid = req->udid,
                .snapshot = req->snapshot && *req->snapshot ? req->snapshot : NULL,
                .target_udid = req->target,
                .state_dir = req->state_dir,
                .backup_dir = req->backup_dir,
                .system = req->restore_system,
                .settings = req->restore_settings,
                .remove_items_not_restored = req->restore_remove,
                .app_list = req->restore_app_list,
                .reboot = req->reboot,
                .skip_checks = req->skip_checks,
                .password = pw,
                .progress = worker_on_progress,
                .cancel = cancel,
        };
        ids_backup_result out = {};
        int r;

        r = ids_restore_run(&o, &out);
        worker_password_free(pw);
        res->device_error = out.device_error;
        snprintf(res->message, sizeof(res->message), "%s", out.message);
        return r;
}

const JobType job_type_restore = {
        .name = "restore",
        .on_bus = true,
        .clean_cancel = true,
        .request = restore_request,
        .started = restore_started,
        .finished = restore_finished,
        .run = restore_run,
};
