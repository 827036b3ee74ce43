/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A Request: one question to a person, on the bus as /org/idevicesync1/request/<n>
 * (org.idevicesync1.Request; request.c, bus glue in request-dbus.c). The library decides
 * what needs asking and keeps it in sync.db; the daemon only shows it and carries the
 * answer to the next helper, which never waits on the bus:
 *
 *   sync job ends (or device load, or daemon start) → request_reconcile_device():
 *   ids_sync_pending_read() minus the answers not yet applied → one "deletions" request
 *   per device holding every held item (updated in place), one "first-sync" request per
 *   question; a request whose question is gone goes away (RequestRemoved(o, "")).
 *   Answer() → the decision joins the device's pending answers (persisted) → the request
 *   shrinks or goes (RequestRemoved(o, choice)) → a sync job now if the device is
 *   connected and idle, else an offline apply job when a computer copy was approved.
 *
 * Request numbers come from one counter of the manager and are kept, with the creation
 * time, in the device's state file, so a restart or an unplug keeps the object paths.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "bus-object.h"
#include "idevicesync.h"
#include "manager.h"

typedef struct Request Request;

/* A restore-offer's candidate: another device's latest committed snapshot. */
typedef struct RequestCandidate {
        char udid[65];
        char name[128], model[64], ios[32];
        char snapshot[32];                      /* its id */
        uint64_t date;                          /* µs: the snapshot's end */
        uint64_t size;                          /* bytes of the backup's data */
        bool encrypted;
} RequestCandidate;

typedef enum RequestKind {
        REQUEST_DELETIONS,                      /* held deletions: approve, reject */
        REQUEST_FIRST_SYNC,                     /* merge, replace-device, replace-computer */
        REQUEST_RESTORE_OFFER,                  /* restore:<UDID> per candidate, new (the
                                                 * daemon's own: restore-offer.c) */
        _REQUEST_KIND_MAX,
        _REQUEST_KIND_INVALID = -22,
} RequestKind;

typedef enum RequestProp {
        REQUEST_PROP_SUMMARY,
        REQUEST_PROP_DETAILS,
        _REQUEST_PROP_MAX,
} RequestProp;

extern const char *const request_prop_names[_REQUEST_PROP_MAX];

/* One held item of a deletions request (ids_sync_held, owned copies). */
typedef struct RequestItem {
        uint64_t id;
        char category[32];
        char *scope;                            /* documents: the bundle id */
        char *path;
        char side[16];                          /* whose copy "approve" removes */
        uint64_t size;
        uint64_t created;
} RequestItem;

struct Request {
        Manager *manager;                       /* borrowed */
        Device *device;                         /* borrowed: the device it is about */
        uint32_t id;
        char *path;
        RequestKind kind;
        char category[32];                      /* first-sync: the category; else "" */
        uint64_t created;                       /* µs */
        RequestItem *items;                     /* deletions */
        size_t n_items;
        ids_sync_question question;             /* first-sync */
        char *summary;                          /* never NULL */
        RequestCandidate *candidates;           /* restore-offer, newest first */
        size_t n_candidates;
        char **choices;                         /* restore-offer: owned strv; NULL: the kind's */
        bool seen;                              /* reconcile: still pending */
        BusObject bus;
};

/* "deletions", "first-sync", "restore-offer"; NULL / _REQUEST_KIND_INVALID for anything else. */
const char *request_kind_to_string(RequestKind k);
RequestKind request_kind_from_string(const char *s);
/* The choices of kind, NULL-terminated (static). */
const char *const *request_kind_choices(RequestKind k);

/* A new request of kind about d, registered with the manager and announced
 * (InterfacesAdded, RequestAdded). id 0 takes the next free number; created 0 is now.
 * 0 or -errno. */
int request_new(Manager *m, Device *d, RequestKind kind, const char *category, uint32_t id,
                uint64_t created, Request **ret);
/* Unregistered requests only (request_remove() for the rest). */
Request *request_free(Request *r);
/* The request goes: RequestRemoved(o, answer) ("" when it went away unanswered),
 * InterfacesRemoved, unregistered and freed. */
void request_remove(Request *r, const char *answer);

/* How many requests of kind d has. */
size_t request_count_device(Manager *m, const Device *d, RequestKind kind);
/* d's request of kind (and category, for first-sync), or NULL. */
Request *request_find_device(Manager *m, const Device *d, RequestKind kind,
                             const char *category);
/* Record the answer choice to r (items: the held item ids it applies to, all when
 * n_items is 0; deletions only): the decisions join the device's pending answers, r
 * shrinks or goes, the device state is saved, and the device applies them
 * (device_apply_answers()). 0, or a negative errno with error set (InvalidArgs for a
 * choice or item that is not r's, Busy when too many answers wait already). */
int request_answer(Request *r, const char *choice, const uint64_t *items, size_t n_items,
                   sd_bus_error *error);
/* Whether d has a request that holds its sync up (a first-sync question, or a
 * restore-offer, which holds up even the first backup). */
bool request_device_blocked(Manager *m, const Device *d);

/* Read what the library keeps pending for d and make the bus show exactly that (see the
 * top of this file). Saves the device's state when a request came or went. 1 when a
 * request came, went or changed, 0 when nothing did, -errno (logged) when the pending
 * list could not be read (the requests stay as they are). */
int request_reconcile_device(Device *d);

/* Bus (request-dbus.c). */
extern const sd_bus_vtable request_vtable[];
int request_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                        void **found, sd_bus_error *error);
int request_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                            sd_bus_error *error);
/* PropertiesChanged for what is dirty (requests have no rate-limited counters, so now
 * is not needed). Returns 0. */
int request_flush(Request *r, uint64_t now);
/* Property p changed: one PropertiesChanged with the others on the next flush. */
void request_mark_dirty(Request *r, RequestProp p);
/* InterfacesAdded and RequestAdded(o): the request is complete (items, numbers). */
void request_emit_added(Request *r);
/* RequestRemoved(o, answer) and InterfacesRemoved; r must still be registered. */
void request_emit_removed(Request *r, const char *answer);
