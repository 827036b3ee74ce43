/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The per-device state machine (see device.h). Every state carries a one-sentence reason.
 * Once per connection the plan runs: the device is probed (pairing, values), checked
 * against its policy, backed up, then synced; a failed or cancelled backup never proceeds
 * to sync. Human steps (Trust, passcode, locked) are states that are retried, never hangs.
 * What each job kind asks for and what its result does lives in job-<kind>.c; here is what
 * every job shares: starting it, mirroring its progress, and going on with the plan.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "device-state.h"
#include "device.h"
#include "restore-offer.h"
#include "idevicesync.h"
#include "job-type.h"
#include "log.h"
#include "macro.h"
#include "policy.h"
#include "request.h"

#define USEC_PER_SEC 1000000ull
#define RETRY_DEFERRED_MAX_USEC POLICY_RECHECK_USEC      /* battery and disk are re-read */

const char *const device_prop_names[_DEVICE_PROP_MAX] = {
        [DEVICE_PROP_NAME] = "Name",
        [DEVICE_PROP_PRODUCT_TYPE] = "ProductType",
        [DEVICE_PROP_PRODUCT_VERSION] = "ProductVersion",
        [DEVICE_PROP_CONNECTED] = "Connected",
        [DEVICE_PROP_STATE] = "State",
        [DEVICE_PROP_STATE_REASON] = "StateReason",
        [DEVICE_PROP_PHASE] = "Phase",
        [DEVICE_PROP_PROGRESS] = "Progress",
        [DEVICE_PROP_BYTES_DONE] = "BytesDone",
        [DEVICE_PROP_BYTES_TOTAL] = "BytesTotal",
        [DEVICE_PROP_FILES_DONE] = "FilesDone",
        [DEVICE_PROP_FILES_TOTAL] = "FilesTotal",
        [DEVICE_PROP_JOB] = "Job",
        [DEVICE_PROP_LAST_BACKUP] = "LastBackup",
        [DEVICE_PROP_LAST_RESULT] = "LastResult",
        [DEVICE_PROP_NEXT_ELIGIBLE] = "NextEligible",
        [DEVICE_PROP_ENCRYPTED] = "Encrypted",
        [DEVICE_PROP_LAST_SYNC] = "LastSync",
        [DEVICE_PROP_LAST_SYNC_RESULT] = "LastSyncResult",
        [DEVICE_PROP_SYNC_SUMMARY] = "SyncSummary",
        [DEVICE_PROP_SYNC_PLAN] = "SyncPlan",
        [DEVICE_PROP_LAST_RESTORE] = "LastRestore",
        [DEVICE_PROP_LAST_RESTORE_REPORT] = "LastRestoreReport",
};

uint64_t device_now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000u;
}

void device_mark_dirty(Device *d, DeviceProp p) {
        bus_object_mark(&d->bus, p);
        manager_schedule_flush(d->manager);
}

#define DEVICE_PROGRESS_MASK                                                                 \
        ((1ull << DEVICE_PROP_PROGRESS) | (1ull << DEVICE_PROP_BYTES_DONE) |                \
         (1ull << DEVICE_PROP_BYTES_TOTAL) | (1ull << DEVICE_PROP_FILES_DONE) |             \
         (1ull << DEVICE_PROP_FILES_TOTAL))

int device_new(Manager *m, const char *udid, Device **ret) {
        Device *d;
        int r;

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = (Device) {
                .manager = m,
                .udid = strdup(udid),
                .name = strdup(""),
                .product_type = strdup(""),
                .product_version = strdup(""),
                .reason = strdup("The device is not connected."),
                .last_result = strdup(""),
                .last_message = strdup(""),
                .last_sync_result = strdup(""),
                .last_restore_report = strdup(""),
                .battery = -1,
                .state = DEVICE_DISCONNECTED,
                .bus = { .progress_mask = DEVICE_PROGRESS_MASK },
        };
        policy_init_defaults(&d->policy);
        if (!d->udid || !d->name || !d->product_type || !d->product_version || !d->reason ||
            !d->last_result || !d->last_message || !d->last_sync_result ||
            !d->last_restore_report) {
                device_free(d);
                return -ENOMEM;
        }
        r = sd_bus_path_encode(BUS_PATH_DEVICE_PREFIX, udid, &d->path);
        if (r < 0) {
                device_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->retry_timer);
        sd_event_source_disable_unref(d->passcode_timer);
        policy_done(&d->policy);
        free(d->decisions);
        free(d->worker_decisions);
        free(d->saved_requests);
        free(d->udid);
        free(d->path);
        free(d->name);
        free(d->product_type);
        free(d->product_version);
        free(d->usb_syspath);
        free(d->reason);
        free(d->last_result);
        free(d->last_message);
        free(d->last_sync_result);
        free(d->last_restore_report);
        free(d);
        return NULL;
}

void device_set_state(Device *d, DeviceState s, const char *fmt, ...) {
        char reason[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (d->state == s && strcmp(d->reason, reason) == 0)
                return;
        if (d->state != s)
                device_mark_dirty(d, DEVICE_PROP_STATE);
        if (strcmp(d->reason, reason) != 0)
                device_mark_dirty(d, DEVICE_PROP_STATE_REASON);
        d->state = s;
        (void) free_and_strdup(&d->reason, reason);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s: %s (%s)", d->udid,
                   device_state_to_string(s), reason);
        device_emit_state_changed(d);
        manager_update_status(d->manager);
}

int device_next_state(Device *d, DeviceEvent event, DeviceState *ret_next) {
        DeviceFacts f = {
                .connected = d->connected,
                .usb_present = d->usb_present,
                .job_running = d->job != NULL,
                .attempted = d->attempted,
                .auto_run = d->policy.backup.auto_run,
                .question = request_device_blocked(d->manager, d),
        };
        int r;

        r = device_fsm_next(d->state, event, &f, ret_next);
        assert(r >= 0);                 /* d->state and every event we pass are valid */
        return r;
}

/* ---- persistence: <state>/<UDID>/device.state (device-state.c) --------------------------- */

static char *state_file(Device *d) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s/device.state", d->manager->state_dir, d->udid) < 0)
                return NULL;
        return p;
}

int device_save(Device *d) {
        _cleanup_free_ char *path = state_file(d), *dir = NULL;
        _cleanup_free_ DeviceStateRequest *reqs = NULL;
        Manager *m = d->manager;
        DeviceStateFile st = {
                .encrypted = d->encrypted,
                .last_backup = d->last_backup,
                .last_sync = d->last_sync,
                .last_restore = d->last_restore,
                .decisions = d->decisions,
                .n_decisions = d->n_decisions,
                .next_request = d->manager->next_request_id,
        };
        int r;

        if (!path || asprintf(&dir, "%s/%s", d->manager->state_dir, d->udid) < 0)
                return -ENOMEM;
        /* The open requests (and records not reconciled yet): their numbers survive. */
        reqs = calloc(m->n_requests + d->n_saved_requests + 2, sizeof(*reqs));
        if (!reqs)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_requests; i++) {
                const Request *q = m->requests[i];
                DeviceStateRequest *e;

                if (q->device != d || st.n_requests >= DEVICE_STATE_REQUESTS_MAX)
                        continue;
                e = &reqs[st.n_requests++];
                *e = (DeviceStateRequest) { .id = q->id, .created = q->created };
                snprintf(e->kind, sizeof(e->kind), "%s", request_kind_to_string(q->kind));
                snprintf(e->category, sizeof(e->category), "%s", q->category);
        }
        for (size_t i = 0; i < d->n_saved_requests && st.n_requests < DEVICE_STATE_REQUESTS_MAX;
             i++)
                reqs[st.n_requests++] = d->saved_requests[i];
        if (d->saved_offer.id != 0 && st.n_requests < DEVICE_STATE_REQUESTS_MAX)
                reqs[st.n_requests++] = d->saved_offer;
        snprintf(st.new_device_answer, sizeof(st.new_device_answer), "%s", d->new_device_answer);
        st.requests = reqs;
        (void) mkdir(d->manager->state_dir, 0700);
        (void) mkdir(dir, 0700);
        snprintf(st.name, sizeof(st.name), "%s", d->name);
        snprintf(st.product_type, sizeof(st.product_type), "%s", d->product_type);
        snprintf(st.product_version, sizeof(st.product_version), "%s", d->product_version);
        snprintf(st.last_result, sizeof(st.last_result), "%s", d->last_result);
        snprintf(st.last_sync_result, sizeof(st.last_sync_result), "%s", d->last_sync_result);
        snprintf(st.last_restore_report, sizeof(st.last_restore_report), "%s",
                 d->last_restore_report);
        snprintf(st.running, sizeof(st.running), "%s",
                 d->job ? job_kind_to_string(d->job->kind) : "");
        r = device_state_write(path, &st);
        if (r < 0)
                log_warning_errno(r, "Failed to save the state of %s, ignoring: %m", d->udid);
        return r;
}

/* The per-category summary of the last sync, from sync.db (read-only; the sync helper is
 * its only writer). */
static void load_sync_summary(Device *d) {
        ids_sync_totals *t = NULL;
        size_t n = 0;
        int r;

        r = ids_sync_state_read(d->manager->state_dir, d->udid, &t, &n);
        if (r < 0) {
                if (r != -ENOENT)
                        log_device(LOG_WARNING, d->udid, NULL, NULL,
                                   "Cannot read the sync state of %s: %s", d->udid,
                                   strerror(-r));
                return;
        }
        d->n_sync_summary = 0;
        for (size_t i = 0; i < n && d->n_sync_summary < IDS_SYNC_CATEGORIES_MAX; i++)
                if (t[i].last_run_usec > 0)
                        d->sync_summary[d->n_sync_summary++] = t[i].last;
        free(t);
}

int device_load(Device *d) {
        _cleanup_free_ char *path = state_file(d);
        DeviceStateFile st;
        int r;

        (void) device_reload_policy(d);
        load_sync_summary(d);
        if (!path)
                return -ENOMEM;
        r = device_state_read(path, &st);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_warning_errno(r, "Failed to read '%s', starting afresh: %m", path);
        (void) free_and_strdup(&d->name, st.name);
        (void) free_and_strdup(&d->product_type, st.product_type);
        (void) free_and_strdup(&d->product_version, st.product_version);
        (void) free_and_strdup(&d->last_result, st.last_result);
        (void) free_and_strdup(&d->last_sync_result, st.last_sync_result);
        d->last_backup = st.last_backup;
        d->last_sync = st.last_sync;
        d->last_restore = st.last_restore;
        (void) free_and_strdup(&d->last_restore_report, st.last_restore_report);
        d->encrypted = st.encrypted;
        /* Answers not applied yet, and the numbers of the open requests (request.c gives
         * them back to the same questions when it reconciles). */
        free(d->decisions);
        d->decisions = TAKE_PTR(st.decisions);
        d->n_decisions = st.n_decisions;
        d->n_decisions_sent = 0;
        free(d->saved_requests);
        d->saved_requests = TAKE_PTR(st.requests);
        d->n_saved_requests = st.n_requests;
        /* The restore-offer is the daemon's own (restore-offer.c): kept apart, so that the
         * reconcile with sync.db does not drop it. */
        d->saved_offer = (DeviceStateRequest) {};
        for (size_t i = 0; i < d->n_saved_requests; i++)
                if (strcmp(d->saved_requests[i].kind, "restore-offer") == 0) {
                        d->saved_offer = d->saved_requests[i];
                        memmove(d->saved_requests + i, d->saved_requests + i + 1,
                                (d->n_saved_requests - i - 1) * sizeof(*d->saved_requests));
                        d->n_saved_requests--;
                        break;
                }
        snprintf(d->new_device_answer, sizeof(d->new_device_answer), "%s",
                 st.new_device_answer);
        /* Numbers are never given out twice, even those of requests gone since. */
        if (st.next_request > d->manager->next_request_id)
                d->manager->next_request_id = st.next_request;
        for (size_t i = 0; i < d->n_saved_requests; i++)
                if (d->saved_requests[i].id > d->manager->next_request_id)
                        d->manager->next_request_id = d->saved_requests[i].id;
        if (d->saved_offer.id > d->manager->next_request_id)
                d->manager->next_request_id = d->saved_offer.id;
        device_state_file_done(&st);
        if (strcmp(st.running, "backup") == 0) {
                /* The daemon stopped mid-run: the engine cleans the staging on its next run. */
                (void) free_and_strdup(&d->last_result, "failed");
                (void) free_and_strdup(&d->reason,
                                       "The last backup was interrupted when the service "
                                           "stopped.");
                log_device(LOG_WARNING, d->udid, NULL, "failed",
                           "The last backup of %s was interrupted when the service stopped",
                           d->udid);
        }
        /* Interrupted or written by an older release: rewrite it, current and clean. */
        if (st.running[0] || st.version < DEVICE_STATE_VERSION)
                (void) device_save(d);
        return 0;
}

int device_reload_policy(Device *d) {
        Policy p;
        int r;

        r = config_policy_for_device(d->manager->config, d->udid, &p);
        if (r < 0)      /* the parser has reported the file */
                return log_debug_errno(r, "Keeping the previous policy of %s: %m", d->udid);
        policy_done(&d->policy);
        d->policy = p;
        return 0;
}

/* ---- answers to requests (request.c) -------------------------------------------------- */

bool device_has_decision(Device *d, const char *category, uint64_t item) {
        for (size_t i = 0; i < d->n_decisions; i++) {
                const DeviceStateDecision *x = &d->decisions[i];

                if (item > 0 ? x->item == item :
                               x->item == 0 && strcmp(x->category, category ?: "") == 0)
                        return true;
        }
        return false;
}

int device_add_decision(Device *d, const char *category, const char *choice, uint64_t item) {
        DeviceStateDecision x = { .item = item }, *a;

        if (d->n_decisions >= DEVICE_STATE_DECISIONS_MAX)
                return -E2BIG;
        snprintf(x.category, sizeof(x.category), "%s", category);
        snprintf(x.choice, sizeof(x.choice), "%s", choice);
        if (!device_state_decision_is_valid(&x))
                return -EINVAL;
        a = realloc(d->decisions, (d->n_decisions + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        a[d->n_decisions++] = x;
        d->decisions = a;
        return 0;
}

int device_fill_decisions(Device *d, WorkerRequest *req) {
        size_t n = d->n_decisions < WORKER_DECISIONS_MAX ? d->n_decisions : WORKER_DECISIONS_MAX;
        WorkerDecision *a;

        a = realloc(d->worker_decisions, (n + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        d->worker_decisions = a;
        for (size_t i = 0; i < n; i++)
                a[i] = (WorkerDecision) {
                        .category = d->decisions[i].category,
                        .choice = d->decisions[i].choice,
                        .item = d->decisions[i].item,
                };
        req->decisions = a;
        req->n_decisions = n;
        d->n_decisions_sent = n;
        return 0;
}

void device_drop_sent_decisions(Device *d) {
        size_t n = d->n_decisions_sent <= d->n_decisions ? d->n_decisions_sent : d->n_decisions;

        if (n == 0)
                return;
        memmove(d->decisions, d->decisions + n, (d->n_decisions - n) * sizeof(*d->decisions));
        d->n_decisions -= n;
        d->n_decisions_sent = 0;
        (void) device_save(d);
}

void device_apply_answers(Device *d, bool computer) {
        int r;

        /* A running job was given the answers it could take; its end goes on. */
        if (d->job || d->n_decisions == 0)
                return;
        if (d->connected && !d->probe &&
            (d->state == DEVICE_IDLE || d->state == DEVICE_WAITING_FOR_DECISION)) {
                r = device_start_job(d, JOB_SYNC, &(JobParams) {}, NULL);
                if (r < 0)
                        log_error_errno(r, "Failed to start the sync of %s: %m", d->udid);
                return;
        }
        /* The plan of this connection is under way (probe, policy check): its sync takes
         * the answers shortly; an apply job now would only make the backup wait. */
        if (d->connected && (d->probe || d->state == DEVICE_PAIRING ||
                             d->state == DEVICE_CHECKING_POLICY))
                return;
        /* Removing a computer copy needs no device: into the trash now. What the device
         * must do waits for its next connection. */
        if (!computer)
                return;
        r = device_start_job(d, JOB_APPLY, &(JobParams) {}, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to apply the answers for %s: %m", d->udid);
}

/* "1 question waiting: <summary of the first>" for the state's reason. */
static void decision_reason(Device *d, char *buf, size_t size) {
        Manager *m = d->manager;
        Request *offer = request_find_device(m, d, REQUEST_RESTORE_OFFER, NULL);

        if (offer) {            /* restore-offer.c words it the same */
                snprintf(buf, size, "A new device: %s", offer->summary);
                return;
        }
        size_t n = request_count_device(m, d, REQUEST_FIRST_SYNC);
        const char *first = "";

        for (size_t i = 0; i < m->n_requests && !first[0]; i++)
                if (m->requests[i]->device == d && m->requests[i]->kind == REQUEST_FIRST_SYNC)
                        first = m->requests[i]->summary;
        snprintf(buf, size, "%zu question%s waiting: %s", n, n == 1 ? "" : "s", first);
}

void device_set_decision_state(Device *d, DeviceState s, const char *fallback) {
        char reason[512];

        if (s == DEVICE_WAITING_FOR_DECISION) {
                decision_reason(d, reason, sizeof(reason));
                device_set_state(d, s, "%s", reason);
        } else
                device_set_state(d, s, "%s", fallback);
}

void device_update_decision_state(Device *d) {
        DeviceState s;

        if (device_next_state(d, request_device_blocked(d->manager, d) ?
                                         DEVICE_EVENT_QUESTION_ASKED :
                                         DEVICE_EVENT_QUESTION_ANSWERED, &s) > 0)
                device_set_decision_state(d, s, "The questions were answered.");
}

/* ---- timers ------------------------------------------------------------------------ */

static void device_probe(Device *d);

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Device *d = userdata;

        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        if (!d->connected || d->job || d->probe)
                return 0;
        /* Trust, lock or a deferral may have changed (battery and charging are read again). */
        device_probe(d);
        return 0;
}

void device_arm_retry(Device *d, uint64_t usec_relative) {
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        (void) sd_event_add_time_relative(d->manager->event, &d->retry_timer, CLOCK_MONOTONIC,
                                          usec_relative, 0, on_retry, d);
}

void device_set_next_eligible(Device *d, uint64_t t) {
        if (d->next_eligible == t)
                return;
        d->next_eligible = t;
        device_mark_dirty(d, DEVICE_PROP_NEXT_ELIGIBLE);
}

void device_set_last_result(Device *d, const char *result, const char *message) {
        if (strcmp(d->last_result, result) != 0) {
                (void) free_and_strdup(&d->last_result, result);
                device_mark_dirty(d, DEVICE_PROP_LAST_RESULT);
        }
        (void) free_and_strdup(&d->last_message, message);
}

/* ---- policy ------------------------------------------------------------------------ */

int device_check_policy(Device *d, bool manual, char **ret_reason, uint64_t *ret_next) {
        uint64_t now = device_now_realtime();
        time_t t = (time_t) (now / USEC_PER_SEC);
        PolicyDecision dec;
        struct statvfs sv;
        struct tm tm;
        PolicyFacts f = {
                .now = now,
                .last_backup = d->last_backup,
                .last_backup_ok = strcmp(d->last_result, "done") == 0,
                .battery = d->battery,
                .charging = d->charging,
                .running_job = d->job ? job_kind_to_string(d->job->kind) : NULL,
        };

        localtime_r(&t, &tm);
        f.minute_of_day = (unsigned) (tm.tm_hour * 60 + tm.tm_min);
        if (statvfs(manager_backup_dir(d->manager), &sv) == 0) {
                f.have_space = true;
                f.space_total = (uint64_t) sv.f_blocks * sv.f_frsize;
                f.space_avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        }
        (void) manual;          /* AutoRun= and once-per-connection are the caller's */
        policy_evaluate(&d->policy, &f, &dec);
        *ret_reason = NULL;
        *ret_next = dec.next;
        if (dec.verdict == POLICY_ELIGIBLE)
                return 0;
        *ret_reason = strdup(dec.reason);
        return *ret_reason ? 1 : -ENOMEM;
}

void device_evaluate(Device *d) {
        _cleanup_free_ char *reason = NULL;
        uint64_t next = 0;
        DeviceState s;
        int r;

        if (!d->connected || device_next_state(d, DEVICE_EVENT_PROBE_OK, &s) == 0)
                return;                 /* gone meanwhile, or a job runs: it owns the state */
        if (s == DEVICE_WAITING_FOR_DECISION) {
                device_set_decision_state(d, s, "");
                return;
        }
        if (s == DEVICE_IDLE) {
                if (d->attempted)
                        device_set_state(d, s, "%s", d->reason[0] && d->state == DEVICE_IDLE ?
                                         d->reason : "Backed up for this connection.");
                else
                        device_set_state(d, s, "Automatic backups are off (AutoRun=no).");
                return;
        }
        /* A new phone: offer the latest backup of another before its first backup. */
        if (restore_offer_check(d) > 0)
                return;
        device_set_state(d, s, "Checking the backup policy.");
        r = device_check_policy(d, false, &reason, &next);
        if (r < 0) {
                log_error_errno(r, "Policy check of %s failed: %m", d->udid);
                return;
        }
        if (r > 0) {
                uint64_t now = device_now_realtime();

                device_set_next_eligible(d, next);
                if (device_next_state(d, DEVICE_EVENT_POLICY_DEFERRED, &s) > 0)
                        device_set_state(d, s, "%s", reason);
                device_arm_retry(d, next > now ? (next - now < RETRY_DEFERRED_MAX_USEC ?
                                           next - now : RETRY_DEFERRED_MAX_USEC) :
                                          USEC_PER_SEC);
                return;
        }
        /* DEVICE_EVENT_POLICY_ELIGIBLE leaves the state to the backup's start. */
        device_set_next_eligible(d, 0);
        r = device_start_job(d, JOB_BACKUP, &(JobParams) {}, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to start the backup of %s: %m", d->udid);
}

/* ---- jobs ---------------------------------------------------------------------------- */

static void mirror_progress(Device *d, Job *j) {
        d->bus.dirty |= (1ull << DEVICE_PROP_PHASE) | (1ull << DEVICE_PROP_PROGRESS) |
                        (1ull << DEVICE_PROP_BYTES_DONE) | (1ull << DEVICE_PROP_BYTES_TOTAL) |
                        (1ull << DEVICE_PROP_FILES_DONE) | (1ull << DEVICE_PROP_FILES_TOTAL);
        if (j->bus.forced || j->progress == 0 || j->progress == 100)
                d->bus.forced = true;
        manager_schedule_flush(d->manager);
}

static void on_job_progress(Job *j, void *userdata) {
        Device *d = userdata;
        const JobType *t = job_type_get(j->kind);

        if (j != d->job)
                return;
        mirror_progress(d, j);
        if (t->progress)
                t->progress(d, j);
}

static void on_job_finished(Job *j, void *userdata) {
        Device *d = userdata;
        const JobType *t = job_type_get(j->kind);

        if (j == d->probe)
                d->probe = NULL;
        else if (j == d->job) {
                d->job = NULL;
                device_mark_dirty(d, DEVICE_PROP_JOB);
                mirror_progress(d, j);
        } else
                return;
        if (t->finished)
                t->finished(d, j);
}

int device_start_job(Device *d, JobKind kind, const JobParams *params, Job **ret) {
        const JobType *t = job_type_get(kind);
        JobParams p = *params;
        Device *owner = p.target ?: d;
        WorkerRequest req = {
                .kind = t ? t->name : NULL,
                .udid = d->udid,
                .state_dir = d->manager->state_dir,
                .backup_dir = manager_backup_dir(d->manager),
        };
        JobCallbacks cb = {
                .progress = on_job_progress,
                .finished = on_job_finished,
                .userdata = owner,
        };
        Job *j;
        int r;

        if (!t)
                return -EINVAL;
        p.source = d;
        if (kind == JOB_PROBE ? owner->probe != NULL : owner->job != NULL)
                return -EBUSY;
        if (t->request) {
                r = t->request(d, &p, &req);
                if (r < 0)
                        return r;
        }
        r = job_new(d->manager, kind, t->on_bus, owner->udid, owner->path, &cb, &j);
        if (r < 0)
                return r;
        if (kind == JOB_PROBE)
                owner->probe = j;
        else {
                owner->job = j;
                device_mark_dirty(owner, DEVICE_PROP_JOB);
        }
        if (p.reply)
                j->reply = sd_bus_message_ref(p.reply);
        if (t->started)
                t->started(owner, j, &p);
        if (t->request) {
                r = job_start_worker(j, &req);
                if (r < 0) {
                        job_finish(j, r, "failed", "Cannot start the job helper.");
                        return r;
                }
        }
        if (ret)
                *ret = j;
        return 0;
}

static void device_probe(Device *d) {
        int r;

        if (d->probe || !d->connected)
                return;
        r = device_start_job(d, JOB_PROBE, &(JobParams) {}, NULL);
        if (r < 0)
                log_error_errno(r, "Failed to probe %s: %m", d->udid);
}

void device_plan_next(Device *d) {
        DeviceState s;
        int r;

        if (!d->connected || d->job || d->probe)
                return;
        /* Probe first (values are read fresh before every backup), which goes on to the
         * policy and the backup (device_evaluate()); a backup that ended "done" leaves the
         * sync pending. */
        if (!d->attempted) {
                device_probe(d);
                return;
        }
        if (d->sync_pending) {
                d->sync_pending = false;
                if (!d->policy.sync.enabled) {
                        if (device_next_state(d, DEVICE_EVENT_SYNC_DISABLED, &s) > 0)
                                device_set_state(d, s, "Backed up. Sync is turned off "
                                                       "(Enabled=no).");
                        return;
                }
                r = device_start_job(d, JOB_SYNC, &(JobParams) {}, NULL);
                if (r < 0)
                        log_error_errno(r, "Failed to start the sync of %s: %m", d->udid);
        }
}

void device_after_side_job(Device *d, Job *j) {
        DeviceState s;

        if (device_next_state(d, DEVICE_EVENT_SIDE_JOB_ENDED, &s) == 0)
                device_plan_next(d);    /* plugged in while the job ran */
        else if (s == DEVICE_WAITING_FOR_DECISION)
                device_set_decision_state(d, s, "");
        else if (s == DEVICE_IDLE)
                device_set_state(d, s, "The %s ended: %s.", job_kind_to_string(j->kind),
                                 j->result);
        else
                device_set_state(d, s, "The device is not connected.");
}

/* ---- connection events ------------------------------------------------------------ */

void device_on_usbmux_add(Device *d) {
        /* DEVICE_EVENT_USBMUX_ADD leaves the state to the plan: its probe sets pairing. */
        if (d->connected)
                return;
        d->connected = true;
        d->attempted = false;
        d->sync_pending = false;
        d->probe_failures = 0;
        device_mark_dirty(d, DEVICE_PROP_CONNECTED);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s connected", d->udid);
        device_plan_next(d);
}

void device_on_usbmux_remove(Device *d) {
        DeviceState s;

        if (!d->connected)
                return;
        d->connected = false;
        device_mark_dirty(d, DEVICE_PROP_CONNECTED);
        d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
        device_set_next_eligible(d, 0);
        log_device(LOG_INFO, d->udid, NULL, NULL, "%s disconnected", d->udid);
        if (d->probe)
                job_cancel(d->probe, NULL);
        /* A running job notices the cable pull itself and reports "disconnected". */
        if (device_next_state(d, DEVICE_EVENT_USBMUX_REMOVE, &s) > 0)
                device_set_state(d, s, s == DEVICE_WAITING_FOR_USBMUXD ?
                                               "The cable is in, but usbmuxd has not "
                                               "published the device yet." :
                                               "The device is not connected.");
}

void device_on_usbmux_paired(Device *d) {
        /* The user tapped Trust: do not wait for the retry timer. */
        if (d->connected && d->state == DEVICE_WAITING_FOR_TRUST && !d->probe) {
                d->retry_timer = sd_event_source_disable_unref(d->retry_timer);
                device_probe(d);
        }
}

void device_on_udev(Device *d, bool present, const char *syspath) {
        DeviceState s;

        d->usb_present = present;
        if (present && syspath)
                (void) free_and_strdup(&d->usb_syspath, syspath);
        /* Usbmuxd's view, or a running job, owns the state while there is one. */
        if (device_next_state(d, present ? DEVICE_EVENT_UDEV_PRESENT : DEVICE_EVENT_UDEV_ABSENT,
                              &s) == 0)
                return;
        if (s == DEVICE_WAITING_FOR_USBMUXD)
                device_set_state(d, s, "The cable is in, but usbmuxd has not published the "
                                       "device yet.");
        else
                device_set_state(d, s, "The device is not connected.");
}
