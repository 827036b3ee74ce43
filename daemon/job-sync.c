/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sync stage: the last step of a connection's plan, after a backup that ended "done",
 * or on StartSync(). The helper runs ids_sync_run() with the device's [Sync] policy; the
 * result's per-category summary becomes the device's SyncSummary (or, for a dry run, its
 * SyncPlan, and nothing else changes). The state the sync remembers is in sync.db, which
 * only the helper writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job-type.h"
#include "log.h"
#include "macro.h"
#include "request.h"

int job_sync_request(Device *d, WorkerRequest *req) {
        const PolicySync *s = &d->policy.sync;
        static char exports[128];               /* the request borrows it until it is sent */
        static char media[64], to_device[64];

        req->photos = SYNC_MODE(s->photos) == SYNC_PHOTOS_IMPORT ? "import" : "no";
        req->photos_dir = s->photos_dir;
        snprintf(media, sizeof(media), "%s%s%s%s",
                 SYNC_MODE(s->music) == SYNC_MEDIA_IMPORT ? "music " : "",
                 SYNC_MODE(s->videos) == SYNC_MEDIA_IMPORT ? "videos " : "",
                 SYNC_MODE(s->books) == SYNC_MEDIA_IMPORT ? "books " : "",
                 SYNC_MODE(s->ringtones) == SYNC_MEDIA_IMPORT ? "ringtones" : "");
        req->media = media;
        snprintf(to_device, sizeof(to_device), "%s%s%s%s%s",
                 s->photos & SYNC_TO_DEVICE_ASKED ? "photos " : "",
                 s->music & SYNC_TO_DEVICE_ASKED ? "music " : "",
                 s->videos & SYNC_TO_DEVICE_ASKED ? "videos " : "",
                 s->books & SYNC_TO_DEVICE_ASKED ? "books " : "",
                 s->ringtones & SYNC_TO_DEVICE_ASKED ? "ringtones" : "");
        req->to_device = to_device;
        req->crash_logs = s->crash_logs == SYNC_CRASHLOGS_MOVE ? "move" :
                          s->crash_logs == SYNC_CRASHLOGS_COPY ? "copy" : "no";
        req->min_free_bytes = d->policy.backup.min_free_space.kind == SPACE_BYTES ?
                                      d->policy.backup.min_free_space.value : 0;
        req->documents = sync_documents_mode_to_string(s->documents);
        req->documents_dir = s->documents_dir;
        req->documents_apps = s->documents_apps;
        req->deletions = sync_deletions_mode_to_string(s->deletions);
        req->first_sync = sync_first_sync_mode_to_string(s->first_sync);
        req->trash_days = s->trash_days;
        sync_exports_to_string(s, exports, sizeof(exports));
        req->exports = exports;
        req->apps = sync_apps_mode_to_string(s->apps);
        req->apps_dir = s->apps_dir;
        /* A person's answers go with every sync until one that had them ends "done". */
        return device_fill_decisions(d, req);
}

static int sync_request(Device *d, const JobParams *p, WorkerRequest *req) {
        req->dry_run = p->dry_run;
        return job_sync_request(d, req);
}

static void sync_started(Device *d, Job *j, const JobParams *p) {
        DeviceState s;

        if (device_next_state(d, DEVICE_EVENT_SYNC_STARTED, &s) > 0)
                device_set_state(d, s, p->dry_run ? "Planning a sync (dry run)." : "Syncing.");
}

static void sync_progress(Device *d, Job *j) {
        DeviceState s;

        if (j->category[0] && device_next_state(d, DEVICE_EVENT_SYNC_PROGRESS, &s) > 0)
                device_set_state(d, s, "Syncing %s (%s).", j->category,
                                 j->phase >= 0 ? ids_phase_to_string(j->phase) : "starting");
}

static void sync_finished(Device *d, Job *j) {
        const WorkerReport *rep = &j->report;
        size_t n = j->have_result ? rep->n_sync : 0;
        bool done = strcmp(j->result, "done") == 0;
        DeviceState s;

        if (j->have_result && rep->dry_run) {
                memcpy(d->sync_plan, rep->sync, n * sizeof(rep->sync[0]));
                d->n_sync_plan = n;
                device_mark_dirty(d, DEVICE_PROP_SYNC_PLAN);
                device_after_side_job(d, j);
                return;
        }
        /* Answers it was given are in sync.db now; what waits for a person is read anew
         * (before the state is chosen: a question shows as waiting-for-decision). */
        if (done)
                device_drop_sent_decisions(d);
        (void) request_reconcile_device(d);
        d->last_sync = device_now_realtime();
        (void) free_and_strdup(&d->last_sync_result, j->result);
        device_mark_dirty(d, DEVICE_PROP_LAST_SYNC);
        device_mark_dirty(d, DEVICE_PROP_LAST_SYNC_RESULT);
        if (n > 0) {
                memcpy(d->sync_summary, rep->sync, n * sizeof(rep->sync[0]));
                d->n_sync_summary = n;
                device_mark_dirty(d, DEVICE_PROP_SYNC_SUMMARY);
        }
        (void) device_save(d);
        if (device_next_state(d, done ? DEVICE_EVENT_SYNC_DONE : DEVICE_EVENT_SYNC_FAILED,
                              &s) == 0)
                return;
        if (s == DEVICE_WAITING_FOR_DECISION)
                device_set_decision_state(d, s, "");
        else if (s != DEVICE_IDLE)
                device_set_state(d, s, "The device was disconnected during the sync.");
        else if (done)
                device_set_state(d, s, "Backed up and synced. %s", j->message);
        else
                device_set_state(d, s, "The sync ended: %s",
                                 j->message[0] ? j->message : ids_result_message(j->code));
        /* Answers that came while it ran: apply them now. */
        if (done && d->n_decisions > 0)
                device_apply_answers(d, true);
}

/* IDS_SYNC_EXPORT_YES when word is one of the space-separated words of list,
 * IDS_SYNC_EXPORT_TWO_WAY when "word=two-way" is. */
static ids_sync_export word_listed(const char *list, const char *word) {
        size_t n = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p += n)
                if (p == list || p[-1] == ' ') {
                        if (p[n] == 0 || p[n] == ' ')
                                return IDS_SYNC_EXPORT_YES;
                        if (strncmp(p + n, "=two-way", 8) == 0 &&
                            (p[n + 8] == 0 || p[n + 8] == ' '))
                                return IDS_SYNC_EXPORT_TWO_WAY;
                }
        return IDS_SYNC_EXPORT_NO;
}

/* What a policy asked to send to the phone and iOS does not take from a computer: one
 * summary row each, `<category>-to-device`, unsupported, with the reason. */
static void add_to_device_rows(const char *list, ids_sync_result *out) {
        static const char *const names[] = { "photos", "music", "videos", "books", "ringtones" };

        for (size_t i = 0; list && i < ELEMENTSOF(names); i++) {
                ids_sync_category *c;

                if (!word_listed(list, names[i]) || out->n_categories >= IDS_SYNC_CATEGORIES_MAX)
                        continue;
                c = &out->categories[out->n_categories++];
                *c = (ids_sync_category) { .result = IDS_E_UNSUPPORTED };
                snprintf(c->name, sizeof(c->name), "%s-to-device", names[i]);
                snprintf(c->mode, sizeof(c->mode), "to-device");
                snprintf(c->reason, sizeof(c->reason),
                         "iOS takes %s from a computer only through Apple's AirTraffic service "
                         "(com.apple.atc), which needs Apple's FairPlay keys: no open host can "
                         "do it.", names[i]);
        }
}

static int parse_mode(const char *s, const char *const *words, int n, int fallback) {
        for (int i = 0; s && i < n; i++)
                if (strcmp(s, words[i]) == 0)
                        return i;
        return fallback;
}

/* The helper's side of a sync, shared with the offline apply job (job-apply.c): the
 * request's words and decisions into ids_sync_options, the result into res. */
int job_sync_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        static const char *const photos[] = { "no", "import" };
        static const char *const crash[] = { "no", "copy", "move" };
        static const char *const documents[] = { "no", "import", "two-way" };
        static const char *const apps_modes[] = { "no", "inventory", "install" };
        static const char *const deletions[] = { "hold", "propagate", "never" };
        static const char *const first[] = { "ask", "merge", "replace-device",
                                             "replace-computer" };
        _cleanup_free_ ids_sync_decision *decisions = NULL;
        _cleanup_free_ char *apps_buf = NULL;
        _cleanup_free_ const char **apps = NULL;
        ids_sync_options o = {
                .udid = req->udid,
                .state_dir = req->state_dir,
                .photos_dir = req->photos_dir,
                .photos = (ids_sync_photos) parse_mode(req->photos, photos, 2, 0),
                .crashlogs = (ids_sync_crashlogs) parse_mode(req->crash_logs, crash, 3, 0),
                .documents = (ids_sync_documents) parse_mode(req->documents, documents, 3,
                                                             IDS_SYNC_DOCUMENTS_NO),
                .documents_dir = req->documents_dir,
                .deletions = (ids_sync_deletions) parse_mode(req->deletions, deletions, 3,
                                                             IDS_SYNC_DELETIONS_HOLD),
                .first_sync = (ids_sync_first_sync) parse_mode(req->first_sync, first, 4,
                                                               IDS_SYNC_FIRST_ASK),
                .apps = (ids_sync_apps) parse_mode(req->apps, apps_modes, 3, IDS_SYNC_APPS_NO),
                .apps_dir = req->apps_dir,
                .trash_days = req->trash_days > 36500 ? 36500 : (unsigned) req->trash_days,
                .offline = req->offline,
                .dry_run = req->dry_run,
                .min_free_bytes = req->min_free_bytes,
                .progress = worker_on_progress,
                .cancel = cancel,
        };
        ids_sync_result out = {};
        char *pw = NULL;
        int r;

        /* DocumentsApps=: the validated, space-separated list, as a NULL-terminated array. */
        if (req->documents_apps && req->documents_apps[0]) {
                size_t n = 0;
                char *save = NULL;

                apps_buf = strdup(req->documents_apps);
                apps = calloc(strlen(req->documents_apps) / 2 + 2, sizeof(char *));
                if (!apps_buf || !apps)
                        return -ENOMEM;
                for (char *t = strtok_r(apps_buf, " ", &save); t; t = strtok_r(NULL, " ", &save))
                        apps[n++] = t;
                o.documents_apps = apps;
        }
        /* A first-sync choice names its category; a held item is known by its id alone. */
        if (req->n_decisions > 0) {
                decisions = calloc(req->n_decisions, sizeof(*decisions));
                if (!decisions)
                        return -ENOMEM;
                for (size_t i = 0; i < req->n_decisions; i++)
                        decisions[i] = (ids_sync_decision) {
                                .category = req->decisions[i].item > 0 ? NULL :
                                                                        req->decisions[i].category,
                                .choice = req->decisions[i].choice,
                                .item = req->decisions[i].item,
                        };
                o.decisions = decisions;
                o.n_decisions = req->n_decisions;
        }
        /* The exports read the latest snapshot: an encrypted one opens with the password from
         * the service's credentials, never from the request. */
        if (req->exports && req->exports[0] && !req->offline) {
                o.contacts = word_listed(req->exports, "contacts");
                o.calendars = word_listed(req->exports, "calendars");
                o.bookmarks = word_listed(req->exports, "bookmarks");
                o.notes = word_listed(req->exports, "notes");
                o.voice_memos = word_listed(req->exports, "voice-memos");
                o.backup_dir = req->backup_dir;
                pw = worker_read_password();
                o.password = pw;
        }
        if (req->media) {
                static const char *const words[] = { "music", "videos", "books", "ringtones" };
                ids_sync_media *const fields[] = { &o.music, &o.videos, &o.books, &o.ringtones };

                for (size_t i = 0; i < ELEMENTSOF(words); i++)
                        *fields[i] = word_listed(req->media, words[i]) ? IDS_SYNC_MEDIA_IMPORT :
                                                                         IDS_SYNC_MEDIA_NO;
        }
        r = ids_sync_run(&o, &out);
        worker_password_free(pw);
        if (r == 0 && !req->offline)
                add_to_device_rows(req->to_device, &out);
        res->dry_run = out.dry_run;
        res->n_sync = out.n_categories;
        memcpy(res->sync, out.categories, sizeof(out.categories));
        snprintf(res->message, sizeof(res->message), "%s", out.message);
        return r;
}

const JobType job_type_sync = {
        .name = "sync",
        .on_bus = true,
        .clean_cancel = true,
        .request = sync_request,
        .started = sync_started,
        .progress = sync_progress,
        .finished = sync_finished,
        .run = job_sync_run,
};
