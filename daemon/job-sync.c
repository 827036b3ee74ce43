/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync stage: the last step of a connection's plan, after a backup that ended "done",
 * or on StartSync(). The helper runs ids_sync_run() with the device's [Sync] policy; the
 * result's per-category summary becomes the device's SyncSummary (or, for a dry run, its
 * SyncPlan, and nothing else changes). The state the sync remembers is in sync.db, which
 * only the helper writes.
 */
#include <stdio.h>
#include <string.h>

#include "job-type.h"
#include "log.h"
#include "macro.h"

static int sync_request(Device *d, const JobParams *p, WorkerRequest *req) {
        const PolicySync *s = &d->policy.sync;

        req->dry_run = p->dry_run;
        req->photos = s->photos == SYNC_PHOTOS_IMPORT ? "import" : "no";
        req->photos_dir = s->photos_dir;
        req->crash_logs = s->crash_logs == SYNC_CRASHLOGS_MOVE ? "move" :
                          s->crash_logs == SYNC_CRASHLOGS_COPY ? "copy" : "no";
        req->min_free_bytes = d->policy.backup.min_free_space.kind == SPACE_BYTES ?
                                      d->policy.backup.min_free_space.value : 0;
        return 0;
}

static void sync_started(Device *d, Job *j, const JobParams *p) {
        DeviceState s;

        if (device_next_state(d, DEVICE_EVENT_SYNC_STARTED, &s) > 0)
                device_set_state(d, s, p->dry_run ? "Planning a sync (dry run)." : "Syncing.");
}

static void sync_progress(Device *d, Job *j) {
        DeviceState s;

        if (j->category[0] && device_next_state(d, DEVICE_EVENT_SYNC_PROGRESS, &s) > 0)
                device_set_state(d, s, "Syncing %s (%s).", j->category,
                                 j->phase >= 0 ? ids_phase_to_string(j->phase) : "starting");
}

static void sync_finished(Device *d, Job *j) {
        const WorkerReport *rep = &j->report;
        size_t n = j->have_result ? rep->n_sync : 0;
        bool done = strcmp(j->result, "done") == 0;
        DeviceState s;

        if (j->have_result && rep->dry_run) {
                memcpy(d->sync_plan, rep->sync, n * sizeof(rep->sync[0]));
                d->n_sync_plan = n;
                device_mark_dirty(d, DEVICE_PROP_SYNC_PLAN);
                device_after_side_job(d, j);
                return;
        }
        d->last_sync = device_now_realtime();
        (void) free_and_strdup(&d->last_sync_result, j->result);
        device_mark_dirty(d, DEVICE_PROP_LAST_SYNC);
        device_mark_dirty(d, DEVICE_PROP_LAST_SYNC_RESULT);
        if (n > 0) {
                memcpy(d->sync_summary, rep->sync, n * sizeof(rep->sync[0]));
                d->n_sync_summary = n;
                device_mark_dirty(d, DEVICE_PROP_SYNC_SUMMARY);
        }
        (void) device_save(d);
        if (device_next_state(d, done ? DEVICE_EVENT_SYNC_DONE : DEVICE_EVENT_SYNC_FAILED,
                              &s) == 0)
                return;
        if (s != DEVICE_IDLE)
                device_set_state(d, s, "The device was disconnected during the sync.");
        else if (done)
                device_set_state(d, s, "Backed up and synced. %s", j->message);
        else
                device_set_state(d, s, "The sync ended: %s",
                                 j->message[0] ? j->message : ids_result_message(j->code));
}

static int parse_mode(const char *s, const char *const *words, int n, int fallback) {
        for (int i = 0; s && i < n; i++)
                if (strcmp(s, words[i]) == 0)
                        return i;
        return fallback;
}

static int sync_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        static const char *const photos[] = { "no", "import" };
        static const char *const crash[] = { "no", "copy", "move" };
        ids_sync_options o = {
                .udid = req->udid,
                .state_dir = req->state_dir,
                .photos_dir = req->photos_dir,
                .photos = (ids_sync_photos) parse_mode(req->photos, photos, 2, 0),
                .crashlogs = (ids_sync_crashlogs) parse_mode(req->crash_logs, crash, 3, 0),
                .dry_run = req->dry_run,
                .min_free_bytes = req->min_free_bytes,
                .progress = worker_on_progress,
                .cancel = cancel,
        };
        ids_sync_result out = {};
        int r;

        r = ids_sync_run(&o, &out);
        res->dry_run = out.dry_run;
        res->n_sync = out.n_categories;
        memcpy(res->sync, out.categories, sizeof(out.categories));
        snprintf(res->message, sizeof(res->message), "%s", out.message);
        return r;
}

const JobType job_type_sync = {
        .name = "sync",
        .on_bus = true,
        .clean_cancel = true,
        .request = sync_request,
        .started = sync_started,
        .progress = sync_progress,
        .finished = sync_finished,
        .run = sync_run,
};
