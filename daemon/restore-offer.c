/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The restore-offer (see restore-offer.h). Candidates are read fresh from the snapshot
 * stores each time the offer is made or comes back: ids_snapshot_list() is read-only and
 * takes no lock, so it is safe while another device backs up.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "job-type.h"
#include "log.h"
#include "macro.h"
#include "restore-offer.h"
#include "udid.h"

#define CHOICE_RESTORE_PREFIX "restore:"

static const char *label(const char *name) {
        return name && name[0] ? name : "the device";
}

/* Whether d has a committed snapshot of its own: then it is not new, whatever it says. */
static bool has_snapshots(Device *d) {
        ids_snapshot *list = NULL;
        size_t n = 0;

        if (ids_snapshot_list(manager_backup_dir(d->manager), d->udid, &list, &n) != 0)
                return d->last_backup > 0;
        free(list);
        return n > 0 || d->last_backup > 0;
}

/* Every other device's latest committed snapshot, newest first. */
static int find_candidates(Device *d, RequestCandidate **ret, size_t *ret_n) {
        Manager *m = d->manager;
        RequestCandidate *c;
        size_t n = 0;

        c = calloc(m->n_devices + 1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_devices; i++) {
                Device *o = m->devices[i];
                ids_snapshot *list = NULL;
                size_t k = 0;

                if (o == d || ids_snapshot_list(manager_backup_dir(m), o->udid, &list, &k) != 0)
                        continue;
                if (k > 0) {
                        const ids_snapshot *s = &list[k - 1];     /* oldest first */
                        RequestCandidate *e = &c[n++];

                        snprintf(e->udid, sizeof(e->udid), "%s", o->udid);
                        snprintf(e->name, sizeof(e->name), "%s", o->name);
                        snprintf(e->model, sizeof(e->model), "%s", o->product_type);
                        snprintf(e->ios, sizeof(e->ios), "%s",
                                 s->ios_version[0] ? s->ios_version : o->product_version);
                        snprintf(e->snapshot, sizeof(e->snapshot), "%s", s->id);
                        e->date = s->end_usec;
                        e->size = s->bytes;
                        e->encrypted = s->encrypted;
                }
                free(list);
        }
        /* Newest first: the first one is what "restore-latest" takes. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && c[j].date > c[j - 1].date; j--) {
                        RequestCandidate t = c[j];
                        c[j] = c[j - 1];
                        c[j - 1] = t;
                }
        *ret = c;
        *ret_n = n;
        return 0;
}

static void format_size(char *buf, size_t n, uint64_t bytes) {
        static const char units[] = "BKMGT";
        double v = (double) bytes;
        size_t u = 0;

        while (v >= 1024 && u + 1 < sizeof(units) - 1) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, n, "%" PRIu64 " B", bytes);
        else
                snprintf(buf, n, "%.1f %ciB", v, units[u]);
}

/* Take cands (owned) as r's candidates: choices, summary. */
static int set_candidates(Request *r, RequestCandidate *cands, size_t n) {
        char **choices, date[32] = "?", size[32], buf[512];
        time_t t;
        struct tm tm;

        choices = calloc(n + 2, sizeof(char *));
        if (!choices)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (asprintf(&choices[i], CHOICE_RESTORE_PREFIX "%s", cands[i].udid) < 0) {
                        choices[i] = NULL;
                        goto oom;
                }
        choices[n] = strdup("new");
        if (!choices[n])
                goto oom;
        for (size_t i = 0; r->choices && r->choices[i]; i++)
                free(r->choices[i]);
        free(r->choices);
        free(r->candidates);
        r->choices = choices;
        r->candidates = cands;
        r->n_candidates = n;

        if (n > 0) {
                t = (time_t) (cands[0].date / 1000000);
                if (localtime_r(&t, &tm))
                        strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
                format_size(size, sizeof(size), cands[0].size);
                snprintf(buf, sizeof(buf), "Set up %s from the backup of %s (%s, %s)?%s",
                         label(r->device->name), label(cands[0].name), date, size,
                         n > 1 ? " Other backups are among the choices." : "");
        } else
                snprintf(buf, sizeof(buf), "Set up %s as a new phone?", label(r->device->name));
        if (strcmp(buf, r->summary) != 0) {
                (void) free_and_strdup(&r->summary, buf);
                request_mark_dirty(r, REQUEST_PROP_SUMMARY);
        }
        request_mark_dirty(r, REQUEST_PROP_DETAILS);
        return 0;
oom:
        for (size_t i = 0; choices[i]; i++)
                free(choices[i]);
        free(choices);
        free(cands);
        return -ENOMEM;
}

static bool same_phones(const Request *r, const RequestCandidate *c, size_t n) {
        if (n != r->n_candidates)
                return false;
        for (size_t i = 0; i < n; i++)
                if (strcmp(c[i].udid, r->candidates[i].udid) != 0)
                        return false;
        return true;
}

static void set_waiting(Device *d, Request *r) {
        device_set_state(d, DEVICE_WAITING_FOR_DECISION, "A new device: %s", r->summary);
}

static int start_restore(Device *d, const RequestCandidate *c) {
        Device *src = manager_find_device(d->manager, c->udid);
        int k;

        if (!src)
                return -ENODEV;
        log_device(LOG_NOTICE, d->udid, NULL, NULL, "Restoring %s from snapshot %s of %s",
                   d->udid, c->snapshot, c->udid);
        /* Set first: the job's start may already end it (a helper that cannot start). */
        snprintf(d->restoring_from, sizeof(d->restoring_from), "%s", c->udid);
        k = device_start_job(src, JOB_RESTORE,
                             &(JobParams) { .snapshot = c->snapshot, .target = d,
                                            .reboot = true }, NULL);
        if (k < 0)
                d->restoring_from[0] = '\0';
        return k;
}

/* Make (or bring back, with saved's number) d's offer. */
static int make_offer(Device *d, const DeviceStateRequest *saved, RequestCandidate *cands,
                      size_t n, Request **ret) {
        Request *r;
        int k;

        k = request_new(d->manager, d, REQUEST_RESTORE_OFFER, "", saved ? saved->id : 0,
                        saved ? saved->created : 0, &r);
        if (k < 0) {
                free(cands);
                return k;
        }
        k = set_candidates(r, cands, n);
        if (k < 0) {
                request_remove(r, "");
                return k;
        }
        log_device(LOG_NOTICE, d->udid, NULL, NULL, "Request %" PRIu32 " for %s: %s", r->id,
                   d->udid, r->summary);
        request_emit_added(r);
        manager_update_status(d->manager);
        *ret = r;
        return 0;
}

int restore_offer_check(Device *d) {
        const NewDevicePolicy *p = &d->policy.backup.new_device;
        RequestCandidate *cands = NULL;
        Request *r;
        size_t n = 0;
        int k;

        r = request_find_device(d->manager, d, REQUEST_RESTORE_OFFER, NULL);
        if (r) {
                /* Open: a candidate may have backed up since; its newest snapshot is what
                 * is offered. Choices is a constant property, so only when the same
                 * phones are offered in the same order. */
                if (!d->restoring_from[0] && find_candidates(d, &cands, &n) == 0 &&
                    same_phones(r, cands, n))
                        (void) set_candidates(r, cands, n);
                else
                        free(cands);
                set_waiting(d, r);
                return 1;
        }
        if (d->new_device_answer[0] || p->mode == NEW_DEVICE_NEW || has_snapshots(d))
                return 0;
        k = find_candidates(d, &cands, &n);
        if (k < 0)
                return log_warning_errno(k, "Cannot list the candidates for %s: %m", d->udid);
        if (n == 0) {
                free(cands);
                return 0;
        }
        if (p->mode == NEW_DEVICE_RESTORE_LATEST || p->mode == NEW_DEVICE_RESTORE_FROM) {
                size_t i = 0;

                if (p->mode == NEW_DEVICE_RESTORE_FROM)
                        while (i < n && !udid_equal(cands[i].udid, p->udid))
                                i++;
                if (i < n) {
                        k = start_restore(d, &cands[i]);
                        free(cands);
                        if (k < 0)
                                return log_warning_errno(k, "Cannot restore %s: %m", d->udid);
                        return 1;
                }
                /* The configured source has no snapshot: ask rather than guess. */
                log_device(LOG_WARNING, d->udid, NULL, NULL, "NewDevice=restore-from:%s: "
                           "that device has no committed snapshot; asking instead", p->udid);
        }
        k = make_offer(d, NULL, cands, n, &r);
        if (k < 0)
                return log_warning_errno(k, "Cannot make the restore offer for %s: %m",
                                         d->udid);
        (void) device_save(d);
        set_waiting(d, r);
        return 1;
}

int restore_offer_resume(Device *d) {
        RequestCandidate *cands = NULL;
        Request *r;
        size_t n = 0;
        int k;

        if (d->saved_offer.id == 0)
                return 0;
        if (request_find_device(d->manager, d, REQUEST_RESTORE_OFFER, NULL) ||
            d->new_device_answer[0]) {
                d->saved_offer.id = 0;
                return 0;
        }
        k = find_candidates(d, &cands, &n);
        if (k < 0)
                return k;
        if (n == 0) {                   /* the other snapshots are gone: nothing to offer */
                free(cands);
                d->saved_offer.id = 0;
                return 1;
        }
        k = make_offer(d, &d->saved_offer, cands, n, &r);
        if (k < 0)
                return k;
        d->saved_offer.id = 0;
        return 1;
}

static void remember(Device *d, const char *answer) {
        snprintf(d->new_device_answer, sizeof(d->new_device_answer), "%s", answer);
}

int restore_offer_answer(Request *r, const char *choice, sd_bus_error *error) {
        Device *d = r->device;
        const RequestCandidate *c = NULL;
        const char *udid;
        bool found = false;
        int k;

        for (size_t i = 0; r->choices && r->choices[i] && !found; i++)
                found = strcmp(r->choices[i], choice) == 0;
        if (!found)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "'%s' is not a choice of this request.", choice);
        if (d->restoring_from[0])
                return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                         "The restore this request started is running.");
        if (strcmp(choice, "new") == 0) {
                log_device(LOG_INFO, d->udid, NULL, NULL, "Request %" PRIu32 " of %s answered: "
                           "new", r->id, d->udid);
                remember(d, "new");
                request_remove(r, choice);
                (void) device_save(d);
                /* The plan of this connection goes on where it waited: its backup. */
                if (d->connected && !d->job && !d->probe && !d->attempted)
                        device_evaluate(d);
                return 0;
        }
        udid = choice + strlen(CHOICE_RESTORE_PREFIX);
        for (size_t i = 0; i < r->n_candidates && !c; i++)
                if (strcmp(r->candidates[i].udid, udid) == 0)
                        c = &r->candidates[i];
        if (!c)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "'%s' is not a choice of this request.", choice);
        if (!d->connected)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_CONNECTED,
                                         "%s is not connected; connect it and answer again.",
                                         d->udid);
        if (d->job)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A job is already running.");
        log_device(LOG_INFO, d->udid, NULL, NULL, "Request %" PRIu32 " of %s answered: %s",
                   r->id, d->udid, choice);
        k = start_restore(d, c);
        if (k < 0) {
                if (k == -EBUSY)
                        return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                                 "%s is busy with another job.", udid);
                return k;
        }
        return 0;
}

void restore_offer_job_ended(Device *d, Job *j) {
        Request *r = request_find_device(d->manager, d, REQUEST_RESTORE_OFFER, NULL);
        RequestCandidate *cands = NULL;
        char answer[80];
        size_t n = 0;
        int k;

        if (!d->restoring_from[0])
                return;                 /* a manual restore: not the offer's business */
        snprintf(answer, sizeof(answer), CHOICE_RESTORE_PREFIX "%s", d->restoring_from);
        d->restoring_from[0] = '\0';
        if (strcmp(j->result, "done") != 0 && r) {
                /* Nothing or not all was sent: the question is still open. */
                log_device(LOG_NOTICE, d->udid, NULL, j->result, "The restore of %s ended %s; "
                           "the offer stays open", d->udid, j->result);
                return;
        }
        if (strcmp(j->result, "done") != 0) {
                /* NewDevice=restore-latest or restore-from:, unasked, did not work. Started
                 * again it would fail again (the next evaluation would start it, for ever),
                 * and a backup would make the unrestored phone one with snapshots, never
                 * offered again: a person decides now, with every candidate. */
                k = find_candidates(d, &cands, &n);
                if (k >= 0 && n == 0) {
                        free(cands);
                        k = -ENOENT;
                } else if (k >= 0)
                        k = make_offer(d, NULL, cands, n, &r);
                if (k < 0) {
                        log_warning_errno(k, "The restore of %s ended %s; cannot ask instead: "
                                          "%m", d->udid, j->result);
                        return;
                }
                (void) device_save(d);
                log_device(LOG_NOTICE, d->udid, NULL, j->result, "The restore of %s ended %s; "
                           "asking instead (request %" PRIu32 ")", d->udid, j->result, r->id);
                return;
        }
        remember(d, answer);
        if (r)
                request_remove(r, answer);
        (void) device_save(d);
}

int restore_cancel_check(Job *j, bool force, sd_bus_error *error) {
        if (force || j->kind != JOB_RESTORE ||
            (j->phase != IDS_PHASE_TRANSFER && j->phase != IDS_PHASE_DEVICE_RESTORING))
                return 0;
        return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                 "The restore is sending the backup to the device; stopping "
                                 "now would leave a half-restored phone, which is worse than "
                                 "a finished one. Wait for it, or force the cancel "
                                 "(idevicesync cancel --force).");
}
