/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Jobs, generically: a helper process per job, its reports read from a socketpair and
 * checked, its exit reaped by sd-event, the owner told through its callbacks. A helper that
 * dies without a result (SIGKILL, crash) ends its job as "failed" and nothing else: the
 * daemon and other devices go on. Nothing here knows a Device or a particular kind.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "idevicesync.h"
#include "job.h"
#include "log.h"
#include "macro.h"

#define KILL_GRACE_USEC (10ull * 1000000ull)

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
        [JOB_PROP_CATEGORY] = "Category",
};

#define JOB_PROGRESS_MASK                                                                    \
        ((1ull << JOB_PROP_PROGRESS) | (1ull << JOB_PROP_BYTES_DONE) |                      \
         (1ull << JOB_PROP_BYTES_TOTAL) | (1ull << JOB_PROP_FILES_DONE) |                   \
         (1ull << JOB_PROP_FILES_TOTAL))

void job_mark_dirty(Job *j, JobProp p) {
        if (!j->path)
                return;
        bus_object_mark(&j->bus, p);
        manager_schedule_flush(j->manager);
}

int job_new(Manager *m, JobKind kind, bool on_bus, const char *udid, const char *device_path,
            const JobCallbacks *cb, Job **ret) {
        Job *j;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (Job) {
                .manager = m,
                .id = ++m->next_job_id,
                .kind = kind,
                .cb = *cb,
                .phase = -1,
                .pid = 0,
                .fd = -EBADF,
                .udid = strdup(udid),
                .device_path = strdup(device_path),
                .result = strdup(""),
                .message = strdup(""),
                .bus = { .progress_mask = JOB_PROGRESS_MASK },
        };
        worker_report_init(&j->info, WORKER_REPORT_INFO);
        worker_report_init(&j->report, WORKER_REPORT_RESULT);
        if (!j->result || !j->message || !j->udid || !j->device_path) {
                job_free(j);
                return -ENOMEM;
        }
        if (on_bus && asprintf(&j->path, BUS_PATH_JOB_PREFIX "/%u", j->id) < 0) {
                j->path = NULL;
                job_free(j);
                return -ENOMEM;
        }
        r = manager_add_job(m, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        job_emit_added(j);
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
        if (j->reply) {
                /* Never leave a caller waiting: the daemon is going away. */
                (void) sd_bus_reply_method_errorf(j->reply, SD_BUS_ERROR_FAILED,
                                                  "The service stopped before the %s ended.",
                                                  job_kind_to_string(j->kind));
                sd_bus_message_unref(j->reply);
        }
        free(j->path);
        free(j->udid);
        free(j->device_path);
        free(j->result);
        free(j->message);
        free(j->forced_result);
        free(j);
        return NULL;
}

/* Everything is known: tell the device, the bus (JobRemoved), and drop the job. */
static void job_done(Job *j) {
        Manager *m = j->manager;

        j->finished = true;
        if (j->path)
                log_device(j->code == 0 ? LOG_INFO : LOG_WARNING, j->udid, j->path, j->result,
                           "%s job %u of %s: %s%s%s", job_kind_to_string(j->kind), j->id,
                           j->udid, j->result, j->message[0] ? ": " : "", j->message);
        if (j->cb.finished)
                j->cb.finished(j, j->cb.userdata);
        job_emit_finished(j);
        manager_remove_job(m, j);
        job_free(j);
        manager_update_status(m);
}

static void set_result(Job *j, int code, const char *result, const char *message) {
        j->code = code;
        (void) free_and_strdup(&j->result, result ?: ids_result_to_string(code));
        (void) free_and_strdup(&j->message, message ?: "");
        job_mark_dirty(j, JOB_PROP_STATE);
        job_mark_dirty(j, JOB_PROP_RESULT);
        job_mark_dirty(j, JOB_PROP_MESSAGE);
}

void job_finish(Job *j, int code, const char *result, const char *message) {
        set_result(j, code, result, message);
        job_done(j);
}

static int on_finish_later(sd_event_source *s, void *userdata) {
        Job *j = userdata;

        j->finish_source = sd_event_source_disable_unref(j->finish_source);
        job_done(j);
        return 0;
}

int job_finish_later(Job *j, int code, const char *result, const char *message) {
        set_result(j, code, result, message);
        return sd_event_add_defer(j->manager->event, &j->finish_source, on_finish_later, j);
}

static void handle_progress(Job *j, const WorkerReport *msg) {
        uint32_t pct;

        if (msg->phase >= 0 && msg->phase != j->phase) {
                j->phase = msg->phase;
                job_mark_dirty(j, JOB_PROP_PHASE);
        }
        if (strcmp(msg->category, j->category) != 0) {
                memcpy(j->category, msg->category, sizeof(j->category));
                job_mark_dirty(j, JOB_PROP_CATEGORY);
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
        pct = msg->bytes_total == 0 ? msg->percent :
              msg->bytes_done >= msg->bytes_total ? 99 :
              (uint32_t) ((double) msg->bytes_done * 100.0 / (double) msg->bytes_total);
        if (pct >= 100)
                pct = 99;       /* 100 means done: committed, not just sent */
        if (pct != j->progress) {
                j->progress = pct;
                job_mark_dirty(j, JOB_PROP_PROGRESS);
        }
        if (j->progress == 0)
                j->bus.forced = true;
        if (j->cb.progress)
                j->cb.progress(j, j->cb.userdata);
}

static void handle_result(Job *j, const WorkerReport *msg) {
        char text[sizeof(msg->message)];

        j->report = *msg;
        j->have_result = true;
        j->code = msg->code;
        /* A failure always says what failed, never only "The operation failed." */
        if (!msg->message[0] && msg->code < 0)
                snprintf(text, sizeof(text), "The %s failed: %s.", job_kind_to_string(j->kind),
                         strerror(-msg->code));
        else if (!msg->message[0] && msg->code > 0)
                snprintf(text, sizeof(text), "%s", ids_result_message(msg->code));
        else
                snprintf(text, sizeof(text), "%s", msg->message);
        (void) free_and_strdup(&j->result, ids_result_to_string(msg->code));
        (void) free_and_strdup(&j->message, text);
        if (msg->code == 0) {
                j->progress = 100;
                j->bus.forced = true;
                job_mark_dirty(j, JOB_PROP_PROGRESS);
        }
}

static void handle_msg(Job *j, const char *buf, size_t n) {
        WorkerReport msg;

        if (worker_report_parse(buf, n, &msg) < 0) {
                log_warning("Job %u: a malformed report from its helper, ignoring", j->id);
                return;
        }
        switch (msg.type) {
        case WORKER_REPORT_PROGRESS:
                handle_progress(j, &msg);
                break;
        case WORKER_REPORT_INFO:
                j->info = msg;
                j->have_info = true;
                break;
        case WORKER_REPORT_RESULT:
                handle_result(j, &msg);
                break;
        default:
                break;
        }
}

/* ---- handover ------------------------------------------------------------------------ *
 *
 * A helper whose RESULT says HANDOVER=1 (a probe that succeeded) stays, with its device
 * session open, for one more request. Its job ends at once; while the owner is told
 * (job_done() → the device's policy, which may start the device's next job), the helper is
 * on offer here, and job_start_worker() of the same device sends it the request instead of
 * starting a helper: the job saves a process start and a lockdown session (its TLS
 * handshake). Whatever is not taken by the end of job_done() is released: its socket
 * closed, it exits, and a floating child source reaps it. */
static struct {
        char *udid;
        pid_t pid;
        int fd;
} handover = { .fd = -EBADF };

static int on_released_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        /* The source floats: the loop holds it. Hold it ourselves, end the floating (which
         * drops the loop's reference), and drop ours: it is freed after this call. */
        sd_event_source_ref(s);
        (void) sd_event_source_set_floating(s, false);
        sd_event_source_disable_unref(s);
        return 0;
}

static void handover_release(sd_event *e) {
        if (handover.fd >= 0)
                close(TAKE_FD(handover.fd));    /* EOF: the helper ends */
        /* A floating child source (ret NULL) reaps it; if there is none, it is reaped now. */
        if (handover.pid > 0 &&
            sd_event_add_child(e, NULL, handover.pid, WEXITED, on_released_exit, NULL) < 0) {
                (void) kill(handover.pid, SIGKILL);
                (void) waitpid(handover.pid, NULL, 0);
        }
        handover.pid = 0;
        free(TAKE_PTR(handover.udid));
}

/* j's helper handed over: offer it while j ends, release what is left. */
static void job_hand_over(Job *j) {
        Manager *m = j->manager;

        handover_release(m->event);             /* never two on offer */
        handover.udid = strdup(j->udid);
        if (!handover.udid) {
                (void) shutdown(j->fd, SHUT_WR);        /* it ends; its exit ends the job */
                return;
        }
        j->io_source = sd_event_source_disable_unref(j->io_source);
        j->child_source = sd_event_source_disable_unref(j->child_source);
        handover.pid = j->pid;
        handover.fd = j->fd;
        j->pid = 0;
        j->fd = -EBADF;
        log_debug("Job %u: helper %d stays for the next job of %s", j->id, handover.pid,
                  handover.udid);
        job_done(j);
        handover_release(m->event);
}

/* Whether r can go to the helper on offer: the same device, and no descriptors to pass
 * (those are given at exec). On success the helper is j's. */
static bool job_take_handover(Job *j, const WorkerRequest *r) {
        int k;

        if (handover.pid <= 0 || !streq_ptr(handover.udid, r->udid) || r->has_pass_fd ||
            r->has_password_fd)
                return false;
        k = worker_send_request(handover.fd, r);
        if (k < 0) {
                log_debug_errno(k, "Job %u: cannot hand the %s to helper %d: %m", j->id,
                                r->kind, handover.pid);
                return false;
        }
        j->pid = handover.pid;
        j->fd = handover.fd;
        handover.pid = 0;
        handover.fd = -EBADF;
        free(TAKE_PTR(handover.udid));
        return true;
}

static int on_worker_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        for (;;) {
                char buf[WORKER_MSG_MAX];
                ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return 0;
                if (k <= 0) {
                        /* EOF: the helper is gone; its exit (child source) finishes the job. */
                        j->io_source = sd_event_source_disable_unref(j->io_source);
                        return 0;
                }
                if ((size_t) k > sizeof(buf)) {
                        log_warning("Job %u: an oversized report from its helper, ignoring",
                                    j->id);
                        continue;
                }
                handle_msg(j, buf, (size_t) k);
                if (j->have_result && j->report.handover) {
                        /* Not from on_worker_exit() (s is NULL there: the helper is gone),
                         * nor for a job being cancelled: then EOF ends the helper. */
                        if (s && !j->forced_result) {
                                job_hand_over(j);
                                return 0;
                        }
                        (void) shutdown(fd, SHUT_WR);
                }
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

int job_start_worker(Job *j, const WorkerRequest *args) {
        bool taken = job_take_handover(j, args);
        int r;

        if (!taken) {
                r = worker_spawn(args, &j->pid, &j->fd);
                if (r < 0)
                        return log_error_errno(r, "Failed to start a job helper: %m");
        }
        r = sd_event_add_io(j->manager->event, &j->io_source, j->fd, EPOLLIN, on_worker_io, j);
        if (r < 0)
                return r;
        r = sd_event_add_child(j->manager->event, &j->child_source, j->pid, WEXITED,
                               on_worker_exit, j);
        if (r < 0)
                return r;
        log_debug("%s %s helper %d for %s", taken ? "Handed over to" : "Started", args->kind,
                  j->pid, args->udid);
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
