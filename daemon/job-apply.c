/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Apply answers that need no device: when root approves removing a computer copy while
 * the phone is away (or busy), a short helper runs ids_sync_run() with offline=true. The
 * library records every answer first, moves the approved computer copies into the host
 * trash and leaves what the device must do for its next sync, so the person sees the
 * file go at once instead of at the next plug. Runs like every job, in a helper.
 */
#include <string.h>

#include "job-type.h"
#include "log.h"
#include "request.h"

static int apply_request(Device *d, const JobParams *p, WorkerRequest *req) {
        req->offline = true;
        return job_sync_request(d, req);
}

static void apply_finished(Device *d, Job *j) {
        if (strcmp(j->result, "done") == 0)
                device_drop_sent_decisions(d);
        else
                log_device(LOG_WARNING, d->udid, j->path, j->result,
                           "Applying the answers for %s offline did not finish (%s); the "
                           "next sync applies them", d->udid, j->message);
        (void) request_reconcile_device(d);
        device_after_side_job(d, j);
        /* Answers that came while it ran. */
        if (strcmp(j->result, "done") == 0 && d->n_decisions > 0)
                device_apply_answers(d, true);
}

const JobType job_type_apply = {
        .name = "apply",
        .on_bus = true,
        .clean_cancel = true,
        .request = apply_request,
        .finished = apply_finished,
        .run = job_sync_run,
};
