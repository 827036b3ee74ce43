/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The probe: the first step of every connection's plan and of every retry. The helper
 * connects, pairs if needed (the Trust dialog) and reads what policy needs (name, model,
 * iOS version, battery, whether backups are encrypted). Its result moves the device to
 * policy evaluation, or to a human step that is retried: waiting-for-trust, locked.
 * A probe that succeeded hands its helper over (job.c): the job the policy starts at once
 * runs in it, on the probe's lockdown session.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "job-type.h"
#include "log.h"
#include "macro.h"

#define USEC_PER_SEC 1000000ull
#define RETRY_TRUST_USEC (2 * USEC_PER_SEC)
#define RETRY_LOCKED_USEC (3 * USEC_PER_SEC)

static int probe_request(Device *d, const JobParams *p, WorkerRequest *req) {
        req->reboot = true;
        /* The job its policy starts at once (the backup) takes this helper and session. */
        req->handover = true;
        return 0;
}

static void probe_started(Device *d, Job *j, const JobParams *p) {
        DeviceState s;

        /* A retry while deferred stays deferred (the reason says until when). */
        if (device_next_state(d, DEVICE_EVENT_PROBE_STARTED, &s) > 0)
                device_set_state(d, s, "Connecting to the device.");
}

static void set_str(Device *d, char **field, const char *v, DeviceProp p) {
        if (strcmp(*field, v) == 0)
                return;
        (void) free_and_strdup(field, v);
        device_mark_dirty(d, p);
}

static DeviceEvent probe_event(int r) {
        switch (r) {
        case 0:
                return DEVICE_EVENT_PROBE_OK;
        case IDS_E_TRUST_PENDING:
                return DEVICE_EVENT_PROBE_TRUST_PENDING;
        case IDS_E_NOT_TRUSTED:
                return DEVICE_EVENT_PROBE_NOT_TRUSTED;
        case IDS_E_LOCKED:
                return DEVICE_EVENT_PROBE_LOCKED;
        default:
                return DEVICE_EVENT_PROBE_FAILED;
        }
}

static void probe_finished(Device *d, Job *j) {
        const WorkerReport *info = &j->info;
        int r = j->code;
        DeviceState s;

        if (r == 0 && !j->have_info)
                r = IDS_E_PROTOCOL;     /* a helper that says "done" and told us nothing */
        if (!d->connected) {
                /* Whatever it found, the device went away meanwhile. */
                if (device_next_state(d, probe_event(r), &s) > 0)
                        device_set_state(d, s, "The device is not connected.");
                return;
        }
        switch (r) {
        case 0:
                d->probe_failures = 0;
                set_str(d, &d->name, info->name, DEVICE_PROP_NAME);
                set_str(d, &d->product_type, info->product_type, DEVICE_PROP_PRODUCT_TYPE);
                set_str(d, &d->product_version, info->product_version,
                        DEVICE_PROP_PRODUCT_VERSION);
                if (d->encrypted != info->will_encrypt) {
                        d->encrypted = info->will_encrypt;
                        device_mark_dirty(d, DEVICE_PROP_ENCRYPTED);
                }
                d->battery = info->battery;
                d->charging = info->charging;
                (void) device_save(d);
                device_evaluate(d);
                return;
        case IDS_E_TRUST_PENDING:
                if (device_next_state(d, DEVICE_EVENT_PROBE_TRUST_PENDING, &s) > 0)
                        device_set_state(d, s, "Tap \"Trust\" on the device and enter its "
                                               "passcode.");
                device_arm_retry(d, RETRY_TRUST_USEC);
                return;
        case IDS_E_NOT_TRUSTED:
                device_set_last_result(d, "not-trusted", ids_result_message(r));
                if (device_next_state(d, DEVICE_EVENT_PROBE_NOT_TRUSTED, &s) > 0)
                        device_set_state(d, s, "The user tapped \"Don't Trust\" on the "
                                               "device; reconnect it to be asked again.");
                d->attempted = true;
                (void) device_save(d);
                return;
        case IDS_E_LOCKED:
                if (device_next_state(d, DEVICE_EVENT_PROBE_LOCKED, &s) > 0)
                        device_set_state(d, s, "Unlock the device to continue.");
                device_arm_retry(d, RETRY_LOCKED_USEC);
                return;
        default:
                /* usbmuxd may still be settling; back off, then say so. */
                d->probe_failures++;
                if (device_next_state(d, DEVICE_EVENT_PROBE_FAILED, &s) > 0)
                        device_set_state(d, s, "Cannot talk to the device: %s",
                                         r > 0 ? ids_result_message(r) : strerror(-r));
                device_arm_retry(d, (d->probe_failures < 5 ? 2ull : 30ull) * USEC_PER_SEC);
                return;
        }
}

static int probe_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        ids_device_info info;
        int r;

        r = ids_device_probe(req->udid, &info);
        if (r == 0) {
                WorkerReport i;

                worker_report_init(&i, WORKER_REPORT_INFO);
                i.battery = info.battery;
                i.charging = info.charging;
                i.will_encrypt = info.will_encrypt;
                snprintf(i.name, sizeof(i.name), "%s", info.name);
                snprintf(i.product_type, sizeof(i.product_type), "%s", info.product_type);
                snprintf(i.product_version, sizeof(i.product_version), "%s",
                         info.product_version);
                worker_send(&i);
        } else if (r > 0)
                snprintf(res->message, sizeof(res->message), "%s", ids_result_message(r));
        return r;
}

const JobType job_type_probe = {
        .name = "probe",
        .on_bus = false,
        .request = probe_request,
        .started = probe_started,
        .finished = probe_finished,
        .run = probe_run,
};
