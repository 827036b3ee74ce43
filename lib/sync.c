/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One sync run: device lock → session → iTunes sync lock → each enabled category (scan
 * the device, scan the computer, plan, apply; a dry run stops after plan) → the run's
 * record in sync.db. A failure that concerns the whole connection (unplug, cancel, full
 * disk) stops the run and marks the categories not reached; any other failure is that
 * category's result and the next one runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cancel.h"
#include "fs-util.h"
#include "lock.h"
#include "mobilesync.h"
#include "sync-internal.h"
#include "udid.h"
#include "util.h"

#define LABEL "idevicesync"

/* In the order they run: the add-only imports first. */
static const SyncCategoryType *const category_types[] = {
        &sync_category_photos,
        &sync_category_music,
        &sync_category_videos,
        &sync_category_books,
        &sync_category_ringtones,
        &sync_category_crashlogs,
        &sync_category_documents,               /* two-way */
        &sync_category_apps,                    /* the inventory */
        /* From the latest snapshot, not the device (export-sync.c). */
        &sync_category_contacts,
        &sync_category_calendars,
        &sync_category_bookmarks,
        &sync_category_notes,
        &sync_category_voice_memos,
};

/* The category that runs in t's place under these options: contacts and calendars are the
 * backup exports unless the policy says two-way. */
static const SyncCategoryType *category_for(const SyncCategoryType *t, const ids_sync_options *o) {
        if (t == &sync_category_contacts && o->contacts == IDS_SYNC_EXPORT_TWO_WAY)
                return &sync_category_contacts_two_way;
        if (t == &sync_category_calendars && o->calendars == IDS_SYNC_EXPORT_TWO_WAY)
                return &sync_category_calendars_two_way;
        return t;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static bool stops_the_run(int r) {
        return r == IDS_E_DISCONNECTED || r == IDS_E_CANCELLED || r == IDS_E_DISK_FULL ||
               r == IDS_E_TIMEOUT || r == -ENOMEM;
}

/* From libimobiledevice's notification thread: the user tapped Cancel on the phone. */
static void on_notify(Session *s, const char *name, void *userdata) {
        SyncRun *run = userdata;

        if (strcmp(name, "com.apple.itunes-client.syncCancelRequest") == 0)
                ids_cancel_request(run->cancel);
}

static int run_category(SyncRun *run, SyncCat *c) {
        int r;

        run->p.category = c->type->name;
        run->p.bytes_done = run->p.bytes_total = 0;
        run->p.files_done = run->p.files_total = 0;
        run->last_report_bytes = 0;
        sync_report(run, IDS_PHASE_SCANNING, true);
        r = c->type->scan_device(run, c);
        if (r == 0 && c->type->scan_host)
                r = c->type->scan_host(run, c);
        if (r == 0)
                r = c->type->plan(run, c);
        if (r == 0 && !run->o->dry_run) {
                sync_report(run, IDS_PHASE_COPYING, true);
                r = c->type->apply(run, c);
        }
        return r;
}

/* "161.0 MiB" */
static void format_size(uint64_t b, char *buf, size_t n) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) b;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        if (u == 0)
                snprintf(buf, n, "%" PRIu64 " B", b);
        else
                snprintf(buf, n, "%.1f %s", v, units[u]);
}

/* One line: "Copied 123 files (161.0 MiB): photos 118, crashlogs 5; 2 names refused." */
static void summarize(ids_sync_result *res, int r) {
        uint64_t files = 0, bytes = 0, refused = 0;
        const ids_sync_category *failed = NULL;
        char size[32], parts[160] = "";
        size_t len = 0;

        for (size_t i = 0; i < res->n_categories; i++) {
                const ids_sync_category *c = &res->categories[i];
                uint64_t f = c->files_in + c->files_out;

                files += f;
                bytes += c->bytes_in + c->bytes_out;
                refused += c->refused;
                if (c->result != 0 && !failed)
                        failed = c;
                if (f > 0 && len < sizeof(parts))
                        len += (size_t) snprintf(parts + len, sizeof(parts) - len, "%s%s %" PRIu64,
                                                 len ? ", " : "", c->name, f);
        }
        if (r != 0) {
                if (!res->message[0])
                        snprintf(res->message, sizeof(res->message), "%s",
                                 ids_result_message(r));
                return;
        }
        if (failed) {
                snprintf(res->message, sizeof(res->message), "%s: %.200s", failed->name,
                         failed->reason[0] ? failed->reason : ids_result_message(failed->result));
                return;
        }
        format_size(bytes, size, sizeof(size));
        if (files == 0)
                snprintf(res->message, sizeof(res->message), "%s%s", res->dry_run ?
                         "Nothing new to copy." : "Nothing new: 0 files copied.",
                         refused ? " Some device names were refused as unsafe." : "");
        else
                snprintf(res->message, sizeof(res->message), "%s %" PRIu64 " files (%s): %s.%s",
                         res->dry_run ? "Would copy" : "Copied", files, size, parts,
                         refused ? " Some device names were refused as unsafe." : "");
}

/* No device: what the decisions allow without one; the categories do not run. */
static int run_offline(SyncRun *run) {
        uint64_t trashed = 0, waiting = 0, expired = 0;
        int r;

        r = sync_documents_offline(run, &trashed, &waiting);
        if (r == 0 && !run->o->dry_run)
                r = sync_trash_expire(run, run->o->trash_days, &expired);
        if (r < 0) {
                snprintf(run->res->message, sizeof(run->res->message),
                         "Cannot apply the decisions without the device: %s", strerror(-r));
                return r;
        }
        for (size_t i = 0; i < run->res->n_categories; i++)
                snprintf(run->res->categories[i].reason, sizeof(run->res->categories[i].reason),
                         "Not run: no device (offline).");
        snprintf(run->res->message, sizeof(run->res->message),
                 "Offline: %s %" PRIu64 " approved removals into the trash; %" PRIu64
                 " decisions wait for the device; %" PRIu64 " old trash days removed.",
                 run->o->dry_run ? "would move" : "moved", trashed, waiting, expired);
        return 0;
}

_public_ int ids_sync_run(const ids_sync_options *o, ids_sync_result *result) {
        ids_sync_result dummy = {};
        ids_sync_options oc;
        char udid[UDID_MAX + 1], db_path[FS_PATH_MAX * 2];
        SyncRun run = {};
        SyncCat cats[ELEMENTSOF(category_types)] = {};
        ids_cancel *own_cancel = NULL;
        _cleanup_(closep) int lock_fd = -EBADF;
        int r;

        if (result)                             /* filled whatever happens */
                memset(result, 0, sizeof(*result));
        if (!o || !udid_canonical_copy(o->udid, udid))
                return -EINVAL;
        if (o->n_decisions > 0 && !o->decisions)
                return -EINVAL;
        for (size_t i = 0; i < o->n_decisions; i++)
                if (!sync_decision_valid(&o->decisions[i]))
                        return -EINVAL;
        oc = *o;
        oc.udid = udid;
        run.o = &oc;
        run.res = result ?: &dummy;
        memset(run.res, 0, sizeof(*run.res));
        run.res->dry_run = o->dry_run;
        run.state_dir = ids_state_dir(o->state_dir);
        run.now_usec = now_usec();
        if (o->cancel)
                run.cancel = o->cancel;
        else {
                r = ids_cancel_new(&own_cancel);
                if (r < 0)
                        return r;
                run.cancel = own_cancel;
        }
        if (o->library_dir)
                run.library_dir = strdup(o->library_dir);
        else if (asprintf(&run.library_dir, "%s/%s/library", run.state_dir, udid) < 0)
                run.library_dir = NULL;
        if (!run.library_dir) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < ELEMENTSOF(category_types); i++) {
                ids_sync_category *out = &run.res->categories[i];
                const SyncCategoryType *t = category_for(category_types[i], &oc);
                const char *mode = t->mode(&oc);

                cats[i].type = t;
                cats[i].out = out;
                snprintf(out->name, sizeof(out->name), "%s", t->name);
                snprintf(out->mode, sizeof(out->mode), "%s", mode);
                run.res->n_categories++;
        }

        run.p.phase = IDS_PHASE_CONNECTING;
        sync_report(&run, IDS_PHASE_CONNECTING, true);
        /* A dry run only reads (as ids_snapshot_list() does): no lock, no file created. */
        if (!o->dry_run) {
                lock_fd = device_lock_take(run.state_dir, udid);
                if (lock_fd < 0) {
                        r = lock_fd == -EBUSY ? IDS_E_BUSY : lock_fd;
                        goto out;
                }
        }
        snprintf(db_path, sizeof(db_path), "%s/%s/sync.db", run.state_dir, udid);
        /* A dry run writes nothing, not even a new sync.db: without one, all is new. */
        r = sync_db_open(db_path, o->dry_run, &run.db);
        if (r == -ENOENT && o->dry_run)
                r = 0;
        if (r < 0) {
                snprintf(run.res->message, sizeof(run.res->message),
                         "Cannot open the sync state %.160s: %s", db_path, strerror(-r));
                goto out;
        }
        /* A person's answers are kept before anything else, so a run cut short (unplug,
         * cancel) does not lose them. A dry run records nothing; its categories read the
         * answers from the options. */
        if (!o->dry_run) {
                r = sync_db_record_decisions(run.db, o->decisions, o->n_decisions,
                                             run.now_usec);
                if (r < 0) {
                        snprintf(run.res->message, sizeof(run.res->message),
                                 "Cannot record the decisions: %s", strerror(-r));
                        goto out;
                }
        }
        if (o->offline) {
                r = run_offline(&run);
                goto out;
        }

        r = session_open(udid, LABEL, &run.session);
        if (r == 0)
                r = session_observe(run.session, on_notify, &run);
        if (r == 0)
                r = session_sync_lock(run.session);
        if (r != 0)
                goto out;

        for (size_t i = 0; i < ELEMENTSOF(cats); i++) {
                SyncCat *c = &cats[i];
                int cr;

                if (strcmp(c->out->mode, "no") == 0) {
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "Turned off by the policy.");
                        continue;
                }
                if (r != 0) {
                        c->out->result = r;     /* not reached */
                        snprintf(c->out->reason, sizeof(c->out->reason), "Not run: %s",
                                 ids_result_message(r));
                        continue;
                }
                cr = run_category(&run, c);
                c->out->result = cr;
                if (cr != 0 && !c->out->reason[0])
                        snprintf(c->out->reason, sizeof(c->out->reason), "%s",
                                 cr < 0 ? strerror(-cr) : ids_result_message(cr));
                if (run.db && !o->dry_run) {
                        int k = sync_db_set_run(run.db, c->out, run.now_usec);
                        if (k < 0)
                                ids_debug("sync.db: cannot record the run: %s", strerror(-k));
                }
                if (stops_the_run(cr))
                        r = cr;
        }
        run.p.category = NULL;
        sync_report(&run, IDS_PHASE_COMMITTING, true);
        if (!o->dry_run) {
                int k = sync_trash_expire(&run, o->trash_days, NULL);
                if (k < 0)
                        ids_debug("sync: cannot expire the trash: %s", strerror(-k));
        }

out:
        if (r != 0 && ids_cancel_requested(run.cancel))
                r = IDS_E_CANCELLED;
        if (!o->offline || r != 0)
                summarize(run.res, r);
        for (size_t i = 0; i < ELEMENTSOF(cats); i++)
                if (cats[i].type && cats[i].type->free_state)
                        cats[i].type->free_state(&cats[i]);
        export_shared_free(&run);
        run.mobilesync = mobilesync_free(run.mobilesync);
        sync_media_library_free(&run);
        run.session = session_free(run.session);        /* unlock, syncDidFinish */
        run.db = sync_db_close(run.db);
        free(run.library_dir);
        ids_cancel_free(own_cancel);
        return r;
}

typedef struct TotalsList {
        ids_sync_totals *v;
        size_t n;
} TotalsList;

static int add_totals(const ids_sync_totals *t, void *userdata) {
        TotalsList *l = userdata;
        ids_sync_totals *nv = realloc(l->v, (l->n + 1) * sizeof(*nv));

        if (!nv)
                return -ENOMEM;
        l->v = nv;
        nv[l->n++] = *t;
        return 0;
}

_public_ int ids_sync_state_read(const char *state_dir, const char *udid, ids_sync_totals **ret,
                                 size_t *ret_n) {
        char canon[UDID_MAX + 1], path[FS_PATH_MAX * 2];
        TotalsList t = {};
        SyncDb *db = NULL;
        int r;

        if (!ret || !ret_n || !udid_canonical_copy(udid, canon))
                return -EINVAL;
        snprintf(path, sizeof(path), "%s/%s/sync.db", ids_state_dir(state_dir), canon);
        r = sync_db_open(path, true, &db);
        if (r < 0)
                return r;
        r = sync_db_totals(db, add_totals, &t);
        sync_db_close(db);
        if (r < 0) {
                free(t.v);
                return r;
        }
        *ret = t.v;
        *ret_n = t.n;
        return 0;
}

typedef struct PendingList {
        ids_sync_pending *p;
        size_t held_allocated, questions_allocated;
} PendingList;

static int add_held(const SyncHeld *h, void *userdata) {
        PendingList *l = userdata;
        ids_sync_held *e;
        int r;

        r = sync_grow((void **) &l->p->held, &l->held_allocated, l->p->n_held,
                      sizeof(*l->p->held), 8);
        if (r < 0)
                return r;
        e = &l->p->held[l->p->n_held];
        *e = h->pub;
        e->scope = strdup(h->pub.scope);
        e->path = strdup(h->pub.path);
        if (!e->scope || !e->path) {
                free(e->scope);
                free(e->path);
                return -ENOMEM;
        }
        l->p->n_held++;
        return 0;
}

static int add_question(const ids_sync_question *q, const char *choice, void *userdata) {
        PendingList *l = userdata;
        int r;

        r = sync_grow((void **) &l->p->questions, &l->questions_allocated, l->p->n_questions,
                      sizeof(*l->p->questions), 2);
        if (r < 0)
                return r;
        l->p->questions[l->p->n_questions++] = *q;
        return 0;
}

_public_ int ids_sync_pending_read(const char *state_dir, const char *udid,
                                   ids_sync_pending *ret) {
        char canon[UDID_MAX + 1], path[FS_PATH_MAX * 2];
        ids_sync_pending p = {};
        PendingList l = { .p = &p };
        SyncDb *db = NULL;
        int r;

        if (!ret || !udid_canonical_copy(udid, canon))
                return -EINVAL;
        snprintf(path, sizeof(path), "%s/%s/sync.db", ids_state_dir(state_dir), canon);
        r = sync_db_open(path, true, &db);
        if (r == -ENOENT) {                     /* never synced (or not since migration 2) */
                *ret = p;
                return 0;
        }
        if (r < 0)
                return r;
        r = sync_db_held_list(db, NULL, true, add_held, &l);
        if (r >= 0)
                r = sync_db_question_list(db, NULL, true, add_question, &l);
        sync_db_close(db);
        if (r < 0) {
                ids_sync_pending_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

_public_ void ids_sync_pending_done(ids_sync_pending *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n_held; i++) {
                free(p->held[i].scope);
                free(p->held[i].path);
        }
        free(p->held);
        free(p->questions);
        *p = (ids_sync_pending) {};
}
