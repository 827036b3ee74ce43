/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Delete one committed snapshot. Removing a tree of thousands of files takes time, so it
 * runs in a helper like every other job and never on the event loop; DeleteSnapshot()'s
 * caller gets its answer when the job ends (the pending call is answered from the result).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "job-type.h"
#include "log.h"

static int delete_request(Device *d, const JobParams *p, WorkerRequest *req) {
        if (!p->snapshot || !p->snapshot[0])
                return -EINVAL;         /* no shorthand for the latest here */
        req->snapshot = p->snapshot;
        return 0;
}

static void delete_finished(Device *d, Job *j) {
        if (j->code == 0)
                log_device(LOG_INFO, d->udid, j->path, NULL, "Deleted snapshot %s of %s",
                           j->report.snapshot, d->udid);
        device_after_side_job(d, j);
}

static int delete_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        int r;

        snprintf(res->snapshot, sizeof(res->snapshot), "%s", req->snapshot);
        r = ids_snapshot_delete(req->state_dir, req->backup_dir, req->udid, req->snapshot);
        if (r == -ENOENT)
                snprintf(res->message, sizeof(res->message), "No snapshot '%.40s' of %s.",
                         req->snapshot, req->udid);
        else if (r < 0)
                snprintf(res->message, sizeof(res->message),
                         "Cannot delete snapshot '%.40s' of %s: %s.", req->snapshot, req->udid,
                         strerror(-r));
        return r;
}

const JobType job_type_delete = {
        .name = "delete",
        .on_bus = true,
        .request = delete_request,
        .finished = delete_finished,
        .run = delete_run,
};
