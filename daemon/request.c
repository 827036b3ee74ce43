/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Requests: questions to a person (see request.h). What is asked comes from the library
 * (ids_sync_pending_read()); what is answered goes to the device's pending answers and
 * from there to the next helper. Nothing here blocks: reading sync.db is a read-only
 * SQLite query of a small table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "macro.h"
#include "request.h"
#include "restore-offer.h"

const char *const request_prop_names[_REQUEST_PROP_MAX] = {
        [REQUEST_PROP_SUMMARY] = "Summary",
        [REQUEST_PROP_DETAILS] = "Details",
};

static const char *const kind_names[_REQUEST_KIND_MAX] = {
        [REQUEST_DELETIONS] = "deletions",
        [REQUEST_FIRST_SYNC] = "first-sync",
        [REQUEST_RESTORE_OFFER] = "restore-offer",
};

const char *request_kind_to_string(RequestKind k) {
        return (unsigned) k < _REQUEST_KIND_MAX ? kind_names[k] : NULL;
}

RequestKind request_kind_from_string(const char *s) {
        for (int k = 0; s && k < _REQUEST_KIND_MAX; k++)
                if (strcmp(kind_names[k], s) == 0)
                        return (RequestKind) k;
        return _REQUEST_KIND_INVALID;
}

const char *const *request_kind_choices(RequestKind k) {
        static const char *const deletions[] = { "approve", "reject", NULL };
        static const char *const first_sync[] = { "merge", "replace-device", "replace-computer",
                                                  NULL };
        static const char *const none[] = { NULL };

        return k == REQUEST_DELETIONS ? deletions : k == REQUEST_FIRST_SYNC ? first_sync : none;
}

void request_mark_dirty(Request *r, RequestProp p) {
        bus_object_mark(&r->bus, p);
        manager_schedule_flush(r->manager);
}

static void items_free(RequestItem *items, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(items[i].scope);
                free(items[i].path);
        }
        free(items);
}

Request *request_free(Request *r) {
        if (!r)
                return NULL;
        items_free(r->items, r->n_items);
        free(r->path);
        free(r->summary);
        free(r->candidates);
        for (size_t i = 0; r->choices && r->choices[i]; i++)
                free(r->choices[i]);
        free(r->choices);
        free(r);
        return NULL;
}

static bool id_in_use(Manager *m, uint32_t id) {
        for (size_t i = 0; i < m->n_requests; i++)
                if (m->requests[i]->id == id)
                        return true;
        return false;
}

int request_new(Manager *m, Device *d, RequestKind kind, const char *category, uint32_t id,
                uint64_t created, Request **ret) {
        Request *r, **a;

        if ((unsigned) kind >= _REQUEST_KIND_MAX)
                return -EINVAL;
        /* A number from the state file that another request holds (a file copied by hand):
         * a fresh one, rather than two objects on one path. */
        if (id == 0 || id_in_use(m, id)) {
                do
                        id = ++m->next_request_id;
                while (id == 0 || id_in_use(m, id));
        } else if (id > m->next_request_id)
                m->next_request_id = id;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (Request) {
                .manager = m,
                .device = d,
                .id = id,
                .kind = kind,
                .created = created ?: device_now_realtime(),
                .summary = strdup(""),
        };
        snprintf(r->category, sizeof(r->category), "%s", category ?: "");
        if (!r->summary || asprintf(&r->path, BUS_PATH_REQUEST_PREFIX "/%" PRIu32, id) < 0) {
                r->path = NULL;
                request_free(r);
                return -ENOMEM;
        }
        a = realloc(m->requests, (m->n_requests + 1) * sizeof(*a));
        if (!a) {
                request_free(r);
                return -ENOMEM;
        }
        m->requests = a;
        m->requests[m->n_requests++] = r;
        *ret = r;
        return 0;
}

static void unregister(Request *r) {
        Manager *m = r->manager;

        for (size_t i = 0; i < m->n_requests; i++)
                if (m->requests[i] == r) {
                        memmove(m->requests + i, m->requests + i + 1,
                                (m->n_requests - i - 1) * sizeof(Request *));
                        m->n_requests--;
                        break;
                }
}

void request_remove(Request *r, const char *answer) {
        Manager *m = r->manager;
        const char *kind = request_kind_to_string(r->kind);

        answer = answer ?: "";
        log_device(LOG_INFO, r->device->udid, NULL, NULL, "Request %" PRIu32 " (%s) of %s %s%s",
                   r->id, kind ?: "?", r->device->udid,
                   answer[0] ? "answered: " : "no longer pending", answer);
        request_emit_removed(r, answer);
        unregister(r);
        request_free(r);
        manager_update_status(m);
}

size_t request_count_device(Manager *m, const Device *d, RequestKind kind) {
        size_t n = 0;

        for (size_t i = 0; i < m->n_requests; i++)
                n += m->requests[i]->device == d && m->requests[i]->kind == kind;
        return n;
}

Request *request_find_device(Manager *m, const Device *d, RequestKind kind,
                             const char *category) {
        for (size_t i = 0; i < m->n_requests; i++) {
                Request *r = m->requests[i];

                if (r->device == d && r->kind == kind &&
                    (kind != REQUEST_FIRST_SYNC || strcmp(r->category, category ?: "") == 0))
                        return r;
        }
        return NULL;
}

bool request_device_blocked(Manager *m, const Device *d) {
        return request_count_device(m, d, REQUEST_FIRST_SYNC) > 0 ||
               request_count_device(m, d, REQUEST_RESTORE_OFFER) > 0;
}

/* ---- what a request says --------------------------------------------------------------- */

static const char *device_label(const Device *d) {
        return d->name && d->name[0] ? d->name : "the device";
}

static void update_summary(Request *r) {
        char buf[512];

        if (r->kind == REQUEST_DELETIONS) {
                uint64_t comp = 0, dev = 0, apps = 0;
                const char *app = NULL;
                size_t len;

                for (size_t i = 0; i < r->n_items; i++) {
                        /* Apps=install: an app whose IPA left AppsDir=; approve uninstalls. */
                        if (strcmp(r->items[i].category, "apps") == 0) {
                                apps++;
                                app = r->items[i].path;
                        } else if (strcmp(r->items[i].side, "computer") == 0)
                                comp++;
                        else
                                dev++;
                }
                if (comp + dev == 0)
                        buf[0] = 0;
                else if (dev == 0)
                        snprintf(buf, sizeof(buf), "Remove %" PRIu64 " file%s from the computer "
                                 "that %s deleted on %s?", comp, comp == 1 ? "" : "s",
                                 comp == 1 ? "was" : "were", device_label(r->device));
                else if (comp == 0)
                        snprintf(buf, sizeof(buf), "Remove %" PRIu64 " file%s from %s that %s "
                                 "deleted on the computer?", dev, dev == 1 ? "" : "s",
                                 device_label(r->device), dev == 1 ? "was" : "were");
                else
                        snprintf(buf, sizeof(buf), "Remove %" PRIu64 " file%s from the computer "
                                 "and %" PRIu64 " from %s, each deleted on the other side?",
                                 comp, comp == 1 ? "" : "s", dev, device_label(r->device));
                len = strlen(buf);
                if (apps == 1)
                        snprintf(buf + len, sizeof(buf) - len, "%sUninstall the app '%.100s' "
                                 "from %s? Its IPA was removed from AppsDir=.", len ? " " : "",
                                 app, device_label(r->device));
                else if (apps > 1)
                        snprintf(buf + len, sizeof(buf) - len, "%sUninstall %" PRIu64 " apps "
                                 "from %s? Their IPA files were removed from AppsDir=.",
                                 len ? " " : "", apps, device_label(r->device));
        } else {
                /* Contacts and calendars count items, the others files. */
                const char *unit = streq_ptr(r->category, "contacts") ? "contact" :
                                   streq_ptr(r->category, "calendars") ? "event" : "file";

                snprintf(buf, sizeof(buf), "The %s are on both %s (%" PRIu64 " %s%s) and "
                         "the computer (%" PRIu64 " %s%s): merge them, or replace one side "
                         "with the other?", r->category, device_label(r->device),
                         r->question.files_device, unit, r->question.files_device == 1 ? "" : "s",
                         r->question.files_computer, unit,
                         r->question.files_computer == 1 ? "" : "s");
        }
        if (strcmp(buf, r->summary) != 0) {
                (void) free_and_strdup(&r->summary, buf);
                request_mark_dirty(r, REQUEST_PROP_SUMMARY);
        }
}

static bool items_equal(const RequestItem *a, size_t na, const RequestItem *b, size_t nb) {
        if (na != nb)
                return false;
        for (size_t i = 0; i < na; i++)
                if (a[i].id != b[i].id || a[i].size != b[i].size ||
                    strcmp(a[i].side, b[i].side) != 0 || strcmp(a[i].path, b[i].path) != 0 ||
                    strcmp(a[i].scope, b[i].scope) != 0)
                        return false;
        return true;
}

/* Take items (owned) as r's item set; 1 when it differs from the old one. */
static int set_items(Request *r, RequestItem *items, size_t n) {
        bool same = items_equal(r->items, r->n_items, items, n);

        items_free(r->items, r->n_items);
        r->items = items;
        r->n_items = n;
        if (!same)
                request_mark_dirty(r, REQUEST_PROP_DETAILS);
        update_summary(r);
        return !same;
}

/* ---- reconcile with the library --------------------------------------------------------- */

/* The state file's record of d's request of kind/category, consumed by the caller. */
static const DeviceStateRequest *saved_record(Device *d, RequestKind kind, const char *category) {
        for (size_t i = 0; i < d->n_saved_requests; i++) {
                const DeviceStateRequest *s = &d->saved_requests[i];

                if (request_kind_from_string(s->kind) == kind &&
                    (kind != REQUEST_FIRST_SYNC || strcmp(s->category, category) == 0))
                        return s;
        }
        return NULL;
}

static int ensure(Device *d, RequestKind kind, const char *category, bool *added,
                  Request **ret) {
        Manager *m = d->manager;
        const DeviceStateRequest *s;
        Request *r;
        int k;

        r = request_find_device(m, d, kind, category);
        if (!r) {
                s = saved_record(d, kind, category);
                k = request_new(m, d, kind, category, s ? s->id : 0, s ? s->created : 0, &r);
                if (k < 0)
                        return k;
                *added = true;
        }
        r->seen = true;
        *ret = r;
        return 0;
}

static int copy_held(const ids_sync_held *h, RequestItem *ret) {
        *ret = (RequestItem) {
                .id = h->id,
                .size = h->size,
                .created = h->created_usec,
                .scope = strdup(h->scope ?: ""),
                .path = strdup(h->path ?: ""),
        };
        snprintf(ret->category, sizeof(ret->category), "%s", h->category);
        snprintf(ret->side, sizeof(ret->side), "%s", h->side);
        return ret->scope && ret->path ? 0 : -ENOMEM;
}

int request_reconcile_device(Device *d) {
        Manager *m = d->manager;
        ids_sync_pending p = {};
        Request **fresh = NULL;
        size_t n_fresh = 0;
        bool changed = false;
        int r;

        r = ids_sync_pending_read(m->state_dir, d->udid, &p);
        if (r < 0) {
                log_device(LOG_WARNING, d->udid, NULL, NULL,
                           "Cannot read what waits for a decision on %s, ignoring: %s",
                           d->udid, strerror(-r));
                return r;
        }
        for (size_t i = 0; i < m->n_requests; i++)
                if (m->requests[i]->device == d)
                        /* A restore-offer is the daemon's, not sync.db's: it stays. */
                        m->requests[i]->seen = m->requests[i]->kind == REQUEST_RESTORE_OFFER;

        /* Held deletions, minus those answered but not yet applied: one request. */
        {
                RequestItem *items = calloc(p.n_held + 1, sizeof(*items));
                size_t n = 0;

                if (!items) {
                        r = -ENOMEM;
                        goto finish;
                }
                for (size_t i = 0; i < p.n_held; i++) {
                        if (device_has_decision(d, NULL, p.held[i].id))
                                continue;
                        r = copy_held(&p.held[i], &items[n++]);
                        if (r < 0) {
                                items_free(items, n);
                                goto finish;
                        }
                }
                if (n > 0) {
                        Request *req;
                        bool added = false;

                        r = ensure(d, REQUEST_DELETIONS, "", &added, &req);
                        if (r < 0) {
                                items_free(items, n);
                                goto finish;
                        }
                        changed |= set_items(req, items, n) > 0 || added;
                        if (added) {
                                Request **a = realloc(fresh, (n_fresh + 1) * sizeof(*a));
                                if (a) {
                                        fresh = a;
                                        fresh[n_fresh++] = req;
                                }
                        }
                } else
                        items_free(items, n);
        }

        /* First-sync questions, minus those answered: one request each. */
        for (size_t i = 0; i < p.n_questions; i++) {
                const ids_sync_question *q = &p.questions[i];
                Request *req;
                bool added = false;

                if (device_has_decision(d, q->category, 0))
                        continue;
                r = ensure(d, REQUEST_FIRST_SYNC, q->category, &added, &req);
                if (r < 0)
                        goto finish;
                if (added || memcmp(&req->question, q, sizeof(*q)) != 0) {
                        req->question = *q;
                        request_mark_dirty(req, REQUEST_PROP_DETAILS);
                        changed = true;
                }
                update_summary(req);
                if (added) {
                        Request **a = realloc(fresh, (n_fresh + 1) * sizeof(*a));
                        if (a) {
                                fresh = a;
                                fresh[n_fresh++] = req;
                        }
                }
        }

        /* What is no longer pending goes. */
        for (size_t i = m->n_requests; i > 0; i--) {
                Request *req = m->requests[i - 1];

                if (req->device == d && !req->seen) {
                        request_remove(req, "");
                        changed = true;
                }
        }
        r = 0;

finish:
        /* Announced once complete: a client that reacts to RequestAdded reads the items. */
        for (size_t i = 0; i < n_fresh; i++) {
                log_device(LOG_NOTICE, d->udid, NULL, NULL, "Request %" PRIu32 " for %s: %s",
                           fresh[i]->id, d->udid, fresh[i]->summary);
                request_emit_added(fresh[i]);
        }
        free(fresh);
        ids_sync_pending_done(&p);
        if (r < 0)
                return log_warning_errno(r, "Failed to update the requests of %s: %m", d->udid);
        /* The state file's records have found their requests (or are gone for good). */
        if (d->n_saved_requests > 0) {
                free(d->saved_requests);
                d->saved_requests = NULL;
                d->n_saved_requests = 0;
                changed = true;
        }
        /* A restore-offer of the state file comes back once every device is known. */
        if (restore_offer_resume(d) > 0)
                changed = true;
        if (changed) {
                (void) device_save(d);
                manager_update_status(m);
        }
        device_update_decision_state(d);
        return changed;
}

/* ---- answers ---------------------------------------------------------------------------- */

int request_answer(Request *r, const char *choice, const uint64_t *items, size_t n_items,
                   sd_bus_error *error) {
        Device *d = r->device;
        const char *const *c;
        bool computer = false, all;
        size_t n_new, before = d->n_decisions;
        int k;

        if (r->kind == REQUEST_RESTORE_OFFER) {
                if (n_items > 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Only a deletions request takes items.");
                return restore_offer_answer(r, choice, error);
        }

        for (c = request_kind_choices(r->kind); *c && strcmp(*c, choice) != 0; c++)
                ;
        if (!*c)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "'%s' is not a choice of this request.", choice);
        if (n_items > 0 && r->kind != REQUEST_DELETIONS)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Only a deletions request takes items.");
        for (size_t i = 0; i < n_items; i++) {
                bool found = false;

                for (size_t j = 0; j < r->n_items && !found; j++)
                        found = r->items[j].id == items[i];
                if (!found)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "No item %" PRIu64 " in this request.",
                                                 items[i]);
        }
        all = n_items == 0;
        n_new = r->kind == REQUEST_FIRST_SYNC ? 1 : all ? r->n_items : n_items;
        if (d->n_decisions + n_new > DEVICE_STATE_DECISIONS_MAX)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY,
                                         "%zu answers for %s are waiting to be applied "
                                         "already; connect the device first.",
                                         d->n_decisions, d->udid);

        if (r->kind == REQUEST_FIRST_SYNC) {
                k = device_add_decision(d, r->category, choice, 0);
                if (k < 0)
                        return k;
        } else {
                RequestItem *keep = calloc(r->n_items + 1, sizeof(*keep));
                size_t n_keep = 0;

                if (!keep)
                        return -ENOMEM;
                for (size_t j = 0; j < r->n_items; j++) {
                        bool chosen = all;

                        for (size_t i = 0; i < n_items && !chosen; i++)
                                chosen = r->items[j].id == items[i];
                        if (!chosen) {
                                keep[n_keep++] = r->items[j];
                                continue;
                        }
                        k = device_add_decision(d, r->items[j].category, choice, r->items[j].id);
                        if (k < 0) {
                                free(keep);
                                return k;
                        }
                        computer |= strcmp(choice, "approve") == 0 &&
                                    strcmp(r->items[j].side, "computer") == 0;
                        free(r->items[j].scope);
                        free(r->items[j].path);
                }
                /* keep now owns the strings of what stays; the chosen ones are freed. */
                free(r->items);
                r->items = keep;
                r->n_items = n_keep;
                request_mark_dirty(r, REQUEST_PROP_DETAILS);
                update_summary(r);
        }
        n_new = d->n_decisions - before;
        log_device(LOG_INFO, d->udid, NULL, NULL, "Request %" PRIu32 " of %s answered: %s "
                   "(%zu decision%s)", r->id, d->udid, choice, n_new, n_new == 1 ? "" : "s");
        if (r->kind == REQUEST_FIRST_SYNC || r->n_items == 0)
                request_remove(r, choice);
        (void) device_save(d);
        device_update_decision_state(d);
        device_apply_answers(d, computer);
        return 0;
}
