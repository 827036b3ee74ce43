/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A job kind is a module: one JobType per kind in job-<kind>.c, listed once in
 * job-table.c. A type says whether its jobs have a bus object, how the helper's request is
 * made from the device, its policy and the caller's parameters, what the device shows
 * while it runs, what the helper does (run, in the helper process), and what the result
 * does to the device. device_start_job() is the only way to start one.
 *
 * Adding a kind: a job-<kind>.c with its JobType, a row in job-table.c, the JobKind value,
 * the bus method that starts it (device-dbus.c), the XML contract and a CLI noun.
 */
#pragma once

#include <stdbool.h>

#include <systemd/sd-bus.h>

#include "device.h"
#include "idevicesync.h"
#include "job.h"
#include "worker.h"

/* What a caller asks of a job. Strings and objects borrowed for the duration of the call. */
typedef struct JobParams {
        bool full;                              /* backup: ask the device for everything */
        bool dry_run;                           /* sync: compute the plan, change nothing */
        const char *snapshot;                   /* verify/restore/delete: checked; "" latest */
        Device *target;                         /* restore: the device restored (its owner) */
        bool reboot;                            /* restore: reboot the target at the end */
        bool skip_checks;                       /* restore: no pre-checks (experts) */
        sd_bus_message *reply;                  /* a call to answer when the job ends */
        Device *source;                         /* set by device_start_job(): the caller's */
        /* files/extract: the filters, the caller's fd (files: the listing goes there;
         * extract: the target directory) and an optional pipe with a password the caller
         * typed; borrowed until the helper is started. */
        const char *domain, *prefix, *items;
        bool all;
        bool has_fd, has_password_fd;
        int fd, password_fd;
} JobParams;

typedef struct JobType {
        const char *name;                       /* "backup": Job.Kind on the bus, logs */
        bool on_bus;                            /* has an org.idevicesync1.Job object */
        bool clean_cancel;                      /* the helper turns SIGTERM into a clean cancel */
        /* Daemon: complete req (kind, udid and both directories are set) from the device,
         * its policy and p. NULL: the kind needs no helper, started() ends the job. */
        int (*request)(Device *d, const JobParams *p, WorkerRequest *req);
        /* Daemon: the job exists and is owner's job; show it in the owner's state. */
        void (*started)(Device *owner, Job *j, const JobParams *p);
        /* Daemon: a progress report arrived (after the device mirrored it). May be NULL. */
        void (*progress)(Device *owner, Job *j);
        /* Daemon: the job ended; owner->job is already cleared. */
        void (*finished)(Device *owner, Job *j);
        /* Helper process: do the work, fill res (message, snapshot, counters). Returns 0, an
         * IDS_E_* outcome or -errno, which becomes the result. NULL: no helper. */
        int (*run)(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res);
} JobType;

extern const JobType job_type_probe, job_type_backup, job_type_sync, job_type_verify,
        job_type_restore, job_type_delete, job_type_apply, job_type_files, job_type_extract;

/* The [Sync] policy and the device's answers into req (job-sync.c), shared with the
 * offline apply job. 0 or -ENOMEM. */
int job_sync_request(Device *d, WorkerRequest *req);
/* The helper's side of a sync (job-sync.c), shared with the offline apply job. */
int job_sync_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res);

/* The type of kind, NULL for an invalid kind. */
const JobType *job_type_get(JobKind kind);
