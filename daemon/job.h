/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Job: one long operation of a device (probe, backup, sync, verify, restore, delete,
 * apply),
 * with its own bus object unless it is internal (the probe). Generic only: blocking work
 * runs in a helper process (worker.c); the job reads its reports from the socketpair,
 * reaps it, and tells its owner through the callbacks the owner set. What each kind asks
 * for and what its result does lives in job-<kind>.c (job-type.h); bus glue in job-dbus.c.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "bus-object.h"
#include "manager.h"
#include "worker.h"

typedef enum JobKind {
        JOB_PROBE,              /* internal: not on the bus */
        JOB_BACKUP,
        JOB_SYNC,
        JOB_VERIFY,
        JOB_RESTORE,
        JOB_DELETE,
        JOB_APPLY,              /* answers that need no device, e.g. into the host trash */
        JOB_FILES,              /* list a snapshot's files into the caller's pipe */
        JOB_EXTRACT,            /* decrypted copies beneath the caller's directory */
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -22,
} JobKind;

/* "probe", "backup", … (job-table.c); NULL / _JOB_KIND_INVALID for anything else. */
const char *job_kind_to_string(JobKind k);
JobKind job_kind_from_string(const char *s);

typedef enum JobProp {
        JOB_PROP_STATE,
        JOB_PROP_PHASE,
        JOB_PROP_PROGRESS,
        JOB_PROP_BYTES_DONE,
        JOB_PROP_BYTES_TOTAL,
        JOB_PROP_FILES_DONE,
        JOB_PROP_FILES_TOTAL,
        JOB_PROP_RESULT,
        JOB_PROP_MESSAGE,
        JOB_PROP_CATEGORY,
        _JOB_PROP_MAX,
} JobProp;

extern const char *const job_prop_names[_JOB_PROP_MAX];

/* How a job reports to whoever started it. Both run on the event loop. */
typedef struct JobCallbacks {
        void (*progress)(Job *j, void *userdata);       /* a progress report arrived */
        void (*finished)(Job *j, void *userdata);       /* result known; j is freed after */
        void *userdata;
} JobCallbacks;

struct Job {
        Manager *manager;                       /* borrowed */
        uint32_t id;
        char *path;                             /* bus object path, NULL when internal */
        JobKind kind;
        char *udid;                             /* the device it belongs to (logs) */
        char *device_path;                      /* that device's object path */
        JobCallbacks cb;
        bool finished;
        int phase;                              /* ids_phase, -1 = none yet */
        uint32_t progress;                      /* 0..100 */
        uint64_t bytes_done, bytes_total, files_done, files_total;
        char category[32];                      /* sync: the category running, "" = none */
        char *result;                           /* never NULL; "" while running */
        char *message;                          /* never NULL */
        int code;                               /* 0, IDS_E_*, -errno */
        WorkerReport info;                      /* the helper's INFO report (probe) */
        WorkerReport report;                    /* its RESULT report */
        bool have_info, have_result;
        char *forced_result;                    /* set by the daemon (cancel, timeout) */
        sd_bus_message *reply;                  /* a call answered when the job ends */

        pid_t pid;
        int fd;
        sd_event_source *io_source, *child_source, *kill_timer, *finish_source;

        BusObject bus;
};

/* A new job of kind for the device udid (object path device_path), registered with the
 * manager and, when on_bus, given an object and announced. cb is copied. 0 or -errno. */
int job_new(Manager *m, JobKind kind, bool on_bus, const char *udid, const char *device_path,
            const JobCallbacks *cb, Job **ret);
/* Unregistered jobs only (the manager frees registered ones); kills a live helper. */
Job *job_free(Job *j);
/* Start the helper with request r. 0 or -errno (logged). */
int job_start_worker(Job *j, const WorkerRequest *r);
/* Finish without a helper: result/message, then the owner is told and the job removed. */
void job_finish(Job *j, int code, const char *result, const char *message);
/* The same on the next loop iteration, so the caller can reply with the job's path first. */
int job_finish_later(Job *j, int code, const char *result, const char *message);
/* SIGTERM the helper, SIGKILL after a grace period. result, if set, overrides the word. */
void job_cancel(Job *j, const char *result);
void job_mark_dirty(Job *j, JobProp p);

/* Bus (job-dbus.c). */
extern const sd_bus_vtable job_vtable[];
int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error);
int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                        sd_bus_error *error);
/* PropertiesChanged for what is dirty (now = UINT64_MAX: everything). 1 = some left. */
int job_flush(Job *j, uint64_t now);
/* The job's object appeared / is finished: final values, JobRemoved, the object removed,
 * and the pending call (if any) answered from the result. */
void job_emit_added(Job *j);
void job_emit_finished(Job *j);
