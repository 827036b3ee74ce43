/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Job: one long operation of a device (backup, sync, verify, restore) with its own bus
 * object, or an internal probe. Blocking work runs in a helper process (worker.c); the job
 * reads its progress and result from the socketpair and reaps it (job.c, job-dbus.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "manager.h"
#include "worker.h"

typedef enum JobKind {
        JOB_BACKUP,
        JOB_SYNC,
        JOB_VERIFY,
        JOB_RESTORE,
        JOB_PROBE,              /* internal: not on the bus */
        _JOB_KIND_MAX,
        _JOB_KIND_INVALID = -22,
} JobKind;

const char *job_kind_to_string(JobKind k);

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
        _JOB_PROP_MAX,
} JobProp;

extern const char *const job_prop_names[_JOB_PROP_MAX];

struct Job {
        Manager *manager;                       /* borrowed */
        uint32_t id;
        char *path;                             /* NULL for probes */
        JobKind kind;
        Device *device;                         /* borrowed */
        bool finished;
        int phase;                              /* ids_phase, -1 = none yet */
        uint32_t progress;                      /* 0..100 */
        uint64_t bytes_done, bytes_total, files_done, files_total;
        char *result;                           /* never NULL; "" while running */
        char *message;                          /* never NULL */
        int code;                               /* 0, IDS_E_*, -errno */
        WorkerMsg info;                         /* probe: the INFO message */
        bool have_info, have_result;
        char *snapshot_id;                      /* backup: the new snapshot */
        char *forced_result;                    /* set by the daemon (passcode wait) */

        pid_t pid;
        int fd;
        sd_event_source *io_source, *child_source, *kill_timer, *finish_source;

        uint64_t dirty;
        bool progress_forced;
        uint64_t last_progress_emit;
};

/* New job of kind for d; registered with the manager (and announced, unless a probe). */
int job_new(Manager *m, Device *d, JobKind kind, Job **ret);
Job *job_free(Job *j);
/* Start the helper with args. */
int job_start_worker(Job *j, const WorkerArgs *args);
/* Finish without a helper: result/message, then removal. */
void job_finish(Job *j, int code, const char *result, const char *message);
/* The same on the next loop iteration, so the caller can reply with the job's path first. */
int job_finish_later(Job *j, int code, const char *result, const char *message);
/* SIGTERM the helper, SIGKILL after a grace period. result, if set, overrides the word. */
void job_cancel(Job *j, const char *result);
void job_mark_dirty(Job *j, JobProp p);

extern const sd_bus_vtable job_vtable[];
int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error);
int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                        sd_bus_error *error);
int job_flush(Job *j, uint64_t now);
