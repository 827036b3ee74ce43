/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Verify: the helper checks one committed snapshot's files against its index and
 * Manifest.db (ids_verify_run()); it never needs the device, which may be gone. An
 * encrypted snapshot is opened with the backup password from the service's credentials
 * (worker_read_password()), never from the bus, and each file must decrypt.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "job-type.h"

static int verify_request(Device *d, const JobParams *p, WorkerRequest *req) {
        req->snapshot = p->snapshot;
        return 0;
}

static void verify_started(Device *d, Job *j, const JobParams *p) {
        DeviceState s;

        /* A snapshot of an unplugged device is verified without pretending it is here. */
        if (device_next_state(d, DEVICE_EVENT_VERIFY_STARTED, &s) > 0)
                device_set_state(d, s, "Verifying snapshot %s.",
                                 p->snapshot && p->snapshot[0] ? p->snapshot : "latest");
}

static int verify_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        const char *name = req->snapshot && *req->snapshot ? req->snapshot : "latest";
        ids_verify_report rep = {};
        char *pw = worker_read_password();
        ids_verify_options o = {
                .udid = req->udid,
                .snapshot = req->snapshot ?: "",
                .state_dir = req->state_dir,
                .backup_dir = req->backup_dir,
                .password = pw,
        };
        int r;

        r = ids_verify_run(&o, &rep);
        worker_password_free(pw);
        res->files = rep.files_checked;
        if (r == 0 && rep.encrypted)
                snprintf(res->message, sizeof(res->message),
                         "%" PRIu64 " files verified (encrypted: %" PRIu64 " decrypted)",
                         rep.files_checked, rep.decrypted);
        else if (r == 0)
                snprintf(res->message, sizeof(res->message), "%" PRIu64 " files verified",
                         rep.files_checked);
        else if (r < 0 && !rep.first_problem[0])
                /* Not a finding about the files: say what could not be done. */
                snprintf(res->message, sizeof(res->message),
                         "Cannot verify snapshot '%.40s' of %s: %s.", name, req->udid,
                         strerror(-r));
        else
                snprintf(res->message, sizeof(res->message),
                         "%" PRIu64 " missing, %" PRIu64 " changed, %" PRIu64 " unexpected: %.150s",
                         rep.missing, rep.changed, rep.unindexed,
                         rep.first_problem[0] ? rep.first_problem : ids_result_message(r));
        return r;
}

const JobType job_type_verify = {
        .name = "verify",
        .on_bus = true,
        .request = verify_request,
        .started = verify_started,
        .finished = device_after_side_job,
        .run = verify_run,
};
