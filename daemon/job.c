/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Jobs: a helper process per job, its progress and result read from a socketpair, its exit
 * reaped by sd-event. A helper that dies without a result (SIGKILL, crash) ends its job as
 * "failed" and nothing else: the daemon and other devices go on.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "device.h"
#include "idevicesync.h"
#include "job.h"
#include "log.h"
#include "macro.h"

#define KILL_GRACE_USEC (10ull * 1000000ull)

static const char *const kinds[_JOB_KIND_MAX] = {
        [JOB_BACKUP] = "backup",
        [JOB_SYNC] = "sync",
        [JOB_VERIFY] = "verify",
        [JOB_RESTORE] = "restore",
        [JOB_PROBE] = "probe",
};

const char *const job_prop_names[_JOB_PROP_MAX] = {
        [JOB_PROP_STATE] = "State",
        [JOB_PROP_PHASE] = "Phase",
        [JOB_PROP_PROGRESS] = "Progress",
        [JOB_PROP_BYTES_DONE] = "BytesDone",
        [JOB_PROP_BYTES_TOTAL] = "BytesTotal",
        [JOB_PROP_FILES_DONE] = "FilesDone",
        [JOB_PROP_FILES_TOTAL] = "FilesTotal",
        [JOB_PROP_RESULT] = "Result",
        [JOB_PROP_MESSAGE] = "Message",
};

const char *job_kind_to_string(JobKind k) {
        return (unsigned) k < _JOB_KIND_MAX ? kinds[k] : NULL;
}

void job_mark_dirty(Job *j, JobProp p) {
        if (!j->path)
                return;
        j->dirty |= 1ull << p;
        manager_schedule_flush(j->manager);
}

int job_new(Manager *m, Device *d, JobKind kind, Job **ret) {
        Job *j;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .manager = m,
                .id = ++m->next_job_id,
                .kind = kind,
                .device = d,
                .phase = -1,
                .pid = 0,
                .fd = -EBADF,
                .result = strdup(""),
                .message = strdup(""),
        };
        if (!j->result || !j->message) {
                job_free(j);
                return -ENOMEM;
        }
        if (kind != JOB_PROBE && asprintf(&j->path, DBUS_JOB_PREFIX "/%u", j->id) < 0) {
                j->path = NULL;
                job_free(j);
                return -ENOMEM;
        }
        r = manager_add_job(m, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        if (j->path && m->bus)
                (void) sd_bus_emit_object_added(m->bus, j->path);
        *ret = j;
        return 0;
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        sd_event_source_disable_unref(j->io_source);
        sd_event_source_disable_unref(j->child_source);
        sd_event_source_disable_unref(j->kill_timer);
        sd_event_source_disable_unref(j->finish_source);
        if (j->fd >= 0)
                close(j->fd);
        if (j->pid > 0) {
                /* Never leave a helper behind: the daemon is going away or the job is. */
                (void) kill(j->pid, SIGKILL);
                (void) waitpid(j->pid, NULL, 0);
        }
        free(j->path);
        free(j->result);
        free(j->message);
        free(j->snapshot_id);
        free(j->forced_result);
        free(j);
        return NULL;
}

/* Everything is known: tell the device, the bus (JobRemoved), and drop the job. */
static void job_done(Job *j) {
        Manager *m = j->manager;
        Device *d = j->device;

        j->finished = true;
        if (j->kind != JOB_PROBE)
                log_device(j->code == 0 ? LOG_INFO : LOG_WARNING, d ? d->udid : NULL,
                           j->path, j->result, "%s job %u of %s: %s%s%s", kinds[j->kind], j->id,
                           d ? d->udid : "?", j->result, j->message[0] ? ": " : "",
                           j->message);
        if (d)
                device_on_job_finished(d, j);
        if (j->path && m->bus) {
                /* The final values first, then the removal, so clients see the result. */
                job_flush(j, UINT64_MAX);
                (void) sd_bus_emit_signal(m->bus, DBUS_PATH, "org.idevicesync1.Manager",
                                          "JobRemoved", "os", j->path, j->result);
                (void) sd_bus_emit_object_removed(m->bus, j->path);
        }
        manager_remove_job(m, j);
        job_free(j);
        manager_update_status(m);
}

void job_finish(Job *j, int code, const char *result, const char *message) {
        j->code = code;
        (void) free_and_strdup(&j->result, result ?: ids_result_to_string(code));
        (void) free_and_strdup(&j->message, message ?: "");
        job_mark_dirty(j, JOB_PROP_STATE);
        job_mark_dirty(j, JOB_PROP_RESULT);
        job_mark_dirty(j, JOB_PROP_MESSAGE);
        job_done(j);
}

static int on_finish_later(sd_event_source *s, void *userdata) {
        Job *j = userdata;

        j->finish_source = sd_event_source_disable_unref(j->finish_source);
        job_done(j);
        return 0;
}

int job_finish_later(Job *j, int code, const char *result, const char *message) {
        j->code = code;
        (void) free_and_strdup(&j->result, result ?: ids_result_to_string(code));
        (void) free_and_strdup(&j->message, message ?: "");
        job_mark_dirty(j, JOB_PROP_STATE);
        job_mark_dirty(j, JOB_PROP_RESULT);
        job_mark_dirty(j, JOB_PROP_MESSAGE);
        return sd_event_add_defer(j->manager->event, &j->finish_source, on_finish_later, j);
}

static void handle_msg(Job *j, const WorkerMsg *msg) {
        switch (msg->type) {
        case WORKER_MSG_PROGRESS: {
                uint32_t pct;

                if (msg->phase != j->phase) {
                        j->phase = msg->phase;
                        job_mark_dirty(j, JOB_PROP_PHASE);
                }
                if (msg->bytes_done != j->bytes_done)
                        job_mark_dirty(j, JOB_PROP_BYTES_DONE);
                if (msg->bytes_total != j->bytes_total)
                        job_mark_dirty(j, JOB_PROP_BYTES_TOTAL);
                if (msg->files_done != j->files_done)
                        job_mark_dirty(j, JOB_PROP_FILES_DONE);
                if (msg->files_total != j->files_total)
                        job_mark_dirty(j, JOB_PROP_FILES_TOTAL);
                j->bytes_done = msg->bytes_done;
                j->bytes_total = msg->bytes_total;
                j->files_done = msg->files_done;
                j->files_total = msg->files_total;
                pct = msg->bytes_total > 0 ?
                              (uint32_t) (msg->bytes_done * 100 / msg->bytes_total) :
                              (uint32_t) (msg->percent >= 0 && msg->percent <= 100 ?
                                                  msg->percent : 0);
                if (pct > 99 && !j->finished)
                        pct = 99;       /* 100 means done: committed, not just sent */
                if (pct != j->progress) {
                        j->progress = pct;
                        job_mark_dirty(j, JOB_PROP_PROGRESS);
                }
                if (j->device)
                        device_on_job_progress(j->device, j);
                break;
        }
        case WORKER_MSG_INFO:
                j->info = *msg;
                j->info.name[sizeof(j->info.name) - 1] = 0;
                j->info.product_type[sizeof(j->info.product_type) - 1] = 0;
                j->info.product_version[sizeof(j->info.product_version) - 1] = 0;
                j->have_info = true;
                break;
        case WORKER_MSG_RESULT: {
                char msgtext[sizeof(msg->message)];
                char snap[sizeof(msg->snapshot_id)];

                memcpy(msgtext, msg->message, sizeof(msgtext));
                msgtext[sizeof(msgtext) - 1] = 0;
                memcpy(snap, msg->snapshot_id, sizeof(snap));
                snap[sizeof(snap) - 1] = 0;
                j->have_result = true;
                j->code = msg->result;
                (void) free_and_strdup(&j->result, ids_result_to_string(msg->result));
                /* A failure always says what failed, never only "The operation failed." */
                if (!msgtext[0] && msg->result < 0)
                        snprintf(msgtext, sizeof(msgtext), "The %s failed: %s.",
                                 job_kind_to_string(j->kind), strerror(-msg->result));
                else if (!msgtext[0] && msg->result > 0)
                        snprintf(msgtext, sizeof(msgtext), "%s", ids_result_message(msg->result));
                (void) free_and_strdup(&j->message, msgtext);
                (void) free_and_strdup(&j->snapshot_id, snap);
                if (msg->result == 0) {
                        j->progress = 100;
                        j->progress_forced = true;
                        job_mark_dirty(j, JOB_PROP_PROGRESS);
                }
                if (j->device)
                        j->device->encrypted = msg->encrypted || j->device->encrypted;
                break;
        }
        default:
                break;
        }
}

static int on_worker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        for (;;) {
                WorkerMsg msg;
                ssize_t k = recv(fd, &msg, sizeof(msg), MSG_DONTWAIT);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (k <= 0) {
                        /* EOF: the helper is gone; its exit (child source) finishes the job. */
                        j->io_source = sd_event_source_disable_unref(j->io_source);
                        return 0;
                }
                if ((size_t) k != sizeof(msg))
                        continue;       /* not ours: ignore */
                handle_msg(j, &msg);
        }
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;

        /* Read what is still queued: the RESULT may arrive together with the exit. */
        if (j->fd >= 0)
                (void) on_worker_io(NULL, j->fd, EPOLLIN, j);
        j->pid = 0;
        j->child_source = sd_event_source_disable_unref(j->child_source);
        j->kill_timer = sd_event_source_disable_unref(j->kill_timer);

        if (j->forced_result) {
                j->code = -ECANCELED;
                (void) free_and_strdup(&j->result, j->forced_result);
        } else if (!j->have_result) {
                j->code = -EIO;
                (void) free_and_strdup(&j->result, "failed");
                char buf[128];

                if (si->si_code == CLD_EXITED)
                        snprintf(buf, sizeof(buf),
                                 "The job helper exited with status %d without a result.",
                                 si->si_status);
                else
                        snprintf(buf, sizeof(buf), "The job helper was %s (signal %d).",
                                 si->si_status == SIGKILL ? "killed" : "terminated",
                                 si->si_status);
                (void) free_and_strdup(&j->message, buf);
        }
        job_mark_dirty(j, JOB_PROP_STATE);
        job_mark_dirty(j, JOB_PROP_RESULT);
        job_mark_dirty(j, JOB_PROP_MESSAGE);
        job_done(j);
        return 0;
}

int job_start_worker(Job *j, const WorkerArgs *args) {
        int r;

        r = worker_spawn(args, &j->pid, &j->fd);
        if (r < 0)
                return log_error_errno(r, "Failed to start a job helper: %m");
        r = sd_event_add_io(j->manager->event, &j->io_source, j->fd, EPOLLIN, on_worker_io, j);
        if (r < 0)
                return r;
        r = sd_event_add_child(j->manager->event, &j->child_source, j->pid, WEXITED,
                               on_worker_exit, j);
        if (r < 0)
                return r;
        log_debug("Started %s helper %d for %s", worker_kind_to_string(args->kind), j->pid,
                  args->udid);
        manager_update_status(j->manager);
        return 0;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        if (j->pid > 0) {
                log_warning("Job helper %d did not stop, killing it", j->pid);
                (void) kill(j->pid, SIGKILL);
        }
        return 0;
}

void job_cancel(Job *j, const char *result) {
        if (result && !j->forced_result)
                j->forced_result = strdup(result);
        if (j->pid <= 0)
                return;
        (void) kill(j->pid, SIGTERM);
        if (!j->kill_timer)
                (void) sd_event_add_time_relative(j->manager->event, &j->kill_timer,
                                                  CLOCK_MONOTONIC, KILL_GRACE_USEC, 0,
                                                  on_kill_timer, j);
}
