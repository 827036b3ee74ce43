/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync stage: the last step of a connection's plan, after a backup that ended "done",
 * or on StartSync(). No category exists yet (the sync engine lands with the sync issues),
 * so it says so honestly instead of pretending to have synced something.
 */
#include "job-type.h"
#include "log.h"
#include "macro.h"

#define NOTHING_TO_SYNC "Nothing is configured to sync."

static void sync_started(Device *d, Job *j, const JobParams *p) {
        device_set_state(d, DEVICE_SYNCING, "Syncing.");
        if (job_finish_later(j, 0, "done", NOTHING_TO_SYNC) < 0)
                job_finish(j, 0, "done", NOTHING_TO_SYNC);
}

static void sync_finished(Device *d, Job *j) {
        d->last_sync = device_now_realtime();
        (void) free_and_strdup(&d->last_sync_result, j->result);
        (void) device_save(d);
        if (d->connected)
                device_set_state(d, DEVICE_IDLE, "Backed up. %s",
                                 j->message[0] ? j->message : "Synced.");
}

const JobType job_type_sync = {
        .name = "sync",
        .on_bus = true,
        .started = sync_started,
        .finished = sync_finished,
};
