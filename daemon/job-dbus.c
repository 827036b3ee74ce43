/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.idevicesync1.Job: vtable, emission and bus glue only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idevicesync.h"
#include "job.h"
#include "restore-offer.h"
#include "log.h"

static int property_get_kind(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "s", job_kind_to_string(j->kind));
}

static int property_get_device(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "o", j->device_path);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "s", j->finished ? "finished" : "running");
}

static int property_get_phase(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "s",
                                     j->phase >= 0 ? ids_phase_to_string(j->phase) : "");
}

static int property_get_category(sd_bus *bus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply, void *userdata,
                                 sd_bus_error *error) {
        Job *j = userdata;

        return sd_bus_message_append(reply, "s", j->category);
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        manager_note_activity(j->manager);
        r = restore_cancel_check(j, false, error);
        if (r < 0)
                return r;
        log_device(LOG_INFO, j->udid, j->path, NULL,
                   "Cancelling job %u on request", j->id);
        job_cancel(j, "cancelled");
        return sd_bus_reply_method_return(msg, NULL);
}

const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Kind", "s", property_get_kind, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Device", "o", property_get_device, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Phase", "s", property_get_phase, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", NULL, offsetof(Job, progress),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", NULL, offsetof(Job, bytes_done),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", NULL, offsetof(Job, bytes_total),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FilesDone", "t", NULL, offsetof(Job, files_done),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FilesTotal", "t", NULL, offsetof(Job, files_total),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Result", "s", NULL, offsetof(Job, result),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Message", "s", NULL, offsetof(Job, message),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Category", "s", property_get_category, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error) {
        Manager *m = userdata;
        const char *p = path + strlen(BUS_PATH_JOB_PREFIX "/");
        char *end;
        unsigned long id;
        Job *j;

        if (strncmp(path, BUS_PATH_JOB_PREFIX "/", strlen(BUS_PATH_JOB_PREFIX "/")) != 0)
                return 0;
        id = strtoul(p, &end, 10);
        if (*p == 0 || *end || id == 0 || id > UINT32_MAX)
                return 0;
        j = manager_find_job(m, (uint32_t) id);
        if (!j || !j->path)
                return 0;
        *found = j;
        return 1;
}

static const char *job_path_of(void *objects, size_t i) {
        return ((Job **) objects)[i]->path;
}

int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                        sd_bus_error *error) {
        Manager *m = userdata;

        return bus_object_node_list(m->jobs, m->n_jobs, job_path_of, nodes);
}

int job_flush(Job *j, uint64_t now) {
        if (!j->path)
                return 0;
        return bus_object_flush(&j->bus, j->manager->bus, j->path, BUS_IFACE_JOB,
                                job_prop_names, _JOB_PROP_MAX, now);
}

void job_emit_added(Job *j) {
        if (j->path && j->manager->bus)
                (void) sd_bus_emit_object_added(j->manager->bus, j->path);
}

/* The named error a failed job's caller gets. */
static void reply_failed(Job *j) {
        if (j->code == IDS_E_BUSY)
                (void) sd_bus_reply_method_errorf(j->reply, BUS_ERROR_BUSY, "%s", j->message);
        else if (j->code == -ENOENT)
                (void) sd_bus_reply_method_errorf(j->reply, BUS_ERROR_NO_SUCH_SNAPSHOT, "%s",
                                                  j->message);
        else
                (void) sd_bus_reply_method_errnof(j->reply, j->code < 0 ? -j->code : EIO, "%s",
                                                  j->message);
}

void job_emit_finished(Job *j) {
        sd_bus *bus = j->manager->bus;

        if (j->reply) {
                if (j->code == 0)
                        (void) sd_bus_reply_method_return(j->reply, NULL);
                else
                        reply_failed(j);
                j->reply = sd_bus_message_unref(j->reply);
        }
        if (!j->path || !bus)
                return;
        /* The final values first, then the removal, so clients see the result. */
        (void) job_flush(j, UINT64_MAX);
        (void) sd_bus_emit_signal(bus, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "JobRemoved", "os",
                                  j->path, j->result);
        (void) sd_bus_emit_object_removed(bus, j->path);
}
