/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.idevicesync1.Request: vtable, emission and bus glue only (see request.h). Everyone
 * may read a request; Answer() is root's (the bus policy, and bus_check_root() here).
 *
 * Details (a{sv}), per Kind:
 *   deletions   "items" a(tsssstt): id, category, scope (the app's bundle id), path (as
 *               the side whose copy approve removes spells it),
 *               side (whose copy approve removes: "device" or "computer"), size, created;
 *               "remove-computer" t, "remove-device" t: how many approve-all removes there
 *   first-sync  "category" s; "files-device" t, "files-computer" t: what each side holds;
 *               "choices" a(sttttttt): choice, add_device, add_computer,
 *               overwrite_device, overwrite_computer, remove_device, remove_computer,
 *               conflicts (what that choice would do, in files)
 *   restore-offer "candidates" a(ssssssttb): udid, name, model (ProductType), iOS,
 *               snapshot id, choice (restore:<UDID>), date (µs), size (bytes), encrypted;
 *               newest first
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

#define ITEM_SIG "(tsssstt)"
#define CHOICE_SIG "(sttttttt)"

static int property_get_device(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Request *r = userdata;

        return sd_bus_message_append(reply, "o", r->device->path);
}

static int property_get_kind(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Request *r = userdata;

        return sd_bus_message_append(reply, "s", request_kind_to_string(r->kind));
}

static int property_get_choices(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Request *r = userdata;

        return sd_bus_message_append_strv(reply, r->choices ?: (char **) request_kind_choices(r->kind));
}

/* A Details entry whose value is an array: {key: <a SIG>}, opened down to the array's
 * elements; close_array_entry() closes the three containers again. */
static int open_array_entry(sd_bus_message *reply, const char *key, const char *sig) {
        char vsig[32];
        int k;

        snprintf(vsig, sizeof(vsig), "a%s", sig);
        k = sd_bus_message_open_container(reply, 'e', "sv");
        if (k >= 0)
                k = sd_bus_message_append(reply, "s", key);
        if (k >= 0)
                k = sd_bus_message_open_container(reply, 'v', vsig);
        if (k >= 0)
                k = sd_bus_message_open_container(reply, 'a', sig);
        return k;
}

static int close_array_entry(sd_bus_message *reply) {
        int k = sd_bus_message_close_container(reply);

        if (k >= 0)
                k = sd_bus_message_close_container(reply);
        if (k >= 0)
                k = sd_bus_message_close_container(reply);
        return k;
}

static int append_deletions(sd_bus_message *reply, const Request *r) {
        uint64_t comp = 0, dev = 0;
        int k;

        for (size_t i = 0; i < r->n_items; i++) {
                if (strcmp(r->items[i].side, "computer") == 0)
                        comp++;
                else
                        dev++;
        }
        k = open_array_entry(reply, "items", ITEM_SIG);
        for (size_t i = 0; k >= 0 && i < r->n_items; i++) {
                const RequestItem *it = &r->items[i];

                k = sd_bus_message_append(reply, ITEM_SIG, it->id, it->category, it->scope,
                                          it->path, it->side, it->size, it->created);
        }
        if (k >= 0)
                k = close_array_entry(reply);
        if (k >= 0)
                k = sd_bus_message_append(reply, "{sv}{sv}", "remove-computer", "t", comp,
                                          "remove-device", "t", dev);
        return k;
}

static int append_first_sync(sd_bus_message *reply, const Request *r) {
        const ids_sync_question *q = &r->question;
        int k;

        k = sd_bus_message_append(reply, "{sv}{sv}{sv}", "category", "s", r->category,
                                  "files-device", "t", q->files_device,
                                  "files-computer", "t", q->files_computer);
        if (k >= 0)
                k = open_array_entry(reply, "choices", CHOICE_SIG);
        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(q->choices); i++) {
                const ids_sync_choice_plan *c = &q->choices[i];

                if (!c->choice[0])
                        continue;
                k = sd_bus_message_append(reply, CHOICE_SIG, c->choice, c->add_device,
                                          c->add_computer, c->overwrite_device,
                                          c->overwrite_computer, c->remove_device,
                                          c->remove_computer, c->conflicts);
        }
        if (k >= 0)
                k = close_array_entry(reply);
        return k;
}

#define CANDIDATE_SIG "(ssssssttb)"

static int append_restore_offer(sd_bus_message *reply, const Request *r) {
        int k = open_array_entry(reply, "candidates", CANDIDATE_SIG);

        for (size_t i = 0; k >= 0 && i < r->n_candidates; i++) {
                const RequestCandidate *c = &r->candidates[i];
                char choice[80];

                snprintf(choice, sizeof(choice), "restore:%s", c->udid);
                k = sd_bus_message_append(reply, CANDIDATE_SIG, c->udid, c->name, c->model,
                                          c->ios, c->snapshot, choice, c->date, c->size,
                                          (int) c->encrypted);
        }
        if (k >= 0)
                k = close_array_entry(reply);
        return k;
}

static int property_get_details(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Request *r = userdata;
        int k;

        k = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (k < 0)
                return k;
        k = r->kind == REQUEST_DELETIONS     ? append_deletions(reply, r) :
            r->kind == REQUEST_RESTORE_OFFER ? append_restore_offer(reply, r) :
                                               append_first_sync(reply, r);
        if (k < 0)
                return k;
        return sd_bus_message_close_container(reply);
}

/* Answer(s choice, a{sv} options): options "items" (at) for a deletions request. */
static int method_answer(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_free_ uint64_t *items = NULL;
        Request *r = userdata;
        const char *choice;
        size_t n_items = 0;
        int k;

        k = bus_check_root(msg, error);
        if (k < 0)
                return k;
        k = sd_bus_message_read(msg, "s", &choice);
        if (k < 0)
                return k;
        k = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (k < 0)
                return k;
        while ((k = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const void *v;
                const char *key;
                size_t size;

                k = sd_bus_message_read(msg, "s", &key);
                if (k < 0)
                        return k;
                if (strcmp(key, "items") != 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s'.", key);
                k = sd_bus_message_enter_container(msg, 'v', "at");
                if (k < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'items' must be an array of item "
                                                 "ids (at).");
                k = sd_bus_message_read_array(msg, 't', &v, &size);
                if (k < 0)
                        return k;
                free(items);
                n_items = size / sizeof(uint64_t);
                items = n_items ? malloc(size) : NULL;
                if (n_items && !items)
                        return -ENOMEM;
                if (n_items)
                        memcpy(items, v, size);
                if (n_items == 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option 'items' is empty; leave it out to "
                                                 "answer for every item.");
                k = sd_bus_message_exit_container(msg);
                if (k >= 0)
                        k = sd_bus_message_exit_container(msg);
                if (k < 0)
                        return k;
        }
        if (k < 0)
                return k;
        k = sd_bus_message_exit_container(msg);
        if (k < 0)
                return k;
        manager_note_activity(r->manager);
        k = request_answer(r, choice, items, n_items, error);
        if (k < 0)
                return k;
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable request_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Device", "o", property_get_device, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Summary", "s", NULL, offsetof(Request, summary),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Details", "a{sv}", property_get_details, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Choices", "as", property_get_choices, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Created", "t", NULL, offsetof(Request, created),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("Answer", SD_BUS_ARGS("s", choice, "a{sv}", options),
                                SD_BUS_NO_RESULT, method_answer, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int request_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                        void **found, sd_bus_error *error) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_requests; i++)
                if (strcmp(m->requests[i]->path, path) == 0) {
                        *found = m->requests[i];
                        return 1;
                }
        return 0;
}

static const char *request_path_of(void *objects, size_t i) {
        return ((Request **) objects)[i]->path;
}

int request_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                            sd_bus_error *error) {
        Manager *m = userdata;

        return bus_object_node_list(m->requests, m->n_requests, request_path_of, nodes);
}

int request_flush(Request *r, uint64_t now) {
        return bus_object_flush(&r->bus, r->manager->bus, r->path, BUS_IFACE_REQUEST,
                                request_prop_names, _REQUEST_PROP_MAX, UINT64_MAX);
}

void request_emit_added(Request *r) {
        if (!r->manager->bus)
                return;
        (void) sd_bus_emit_object_added(r->manager->bus, r->path);
        (void) sd_bus_emit_signal(r->manager->bus, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                  "RequestAdded", "o", r->path);
}

void request_emit_removed(Request *r, const char *answer) {
        if (!r->manager->bus)
                return;
        (void) sd_bus_emit_signal(r->manager->bus, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                  "RequestRemoved", "os", r->path, answer);
        (void) sd_bus_emit_object_removed(r->manager->bus, r->path);
}
