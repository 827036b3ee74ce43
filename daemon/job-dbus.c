/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.idevicesync1.Job: vtable and bus glue only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "idevicesync.h"
#include "job.h"
#include "log.h"

#define PROGRESS_INTERVAL_USEC 250000u          /* ≤ 4 PropertiesChanged per second */

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

        return sd_bus_message_append(reply, "o", j->device ? j->device->path : "/");
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

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Job *j = userdata;
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        manager_note_activity(j->manager);
        log_device(LOG_INFO, j->device ? j->device->udid : NULL, j->path, NULL,
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
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

int job_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **found, sd_bus_error *error) {
        Manager *m = userdata;
        const char *p = path + strlen(DBUS_JOB_PREFIX "/");
        char *end;
        unsigned long id;
        Job *j;

        if (strncmp(path, DBUS_JOB_PREFIX "/", strlen(DBUS_JOB_PREFIX "/")) != 0)
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

int job_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                        sd_bus_error *error) {
        Manager *m = userdata;
        char **l = calloc(m->n_jobs + 1, sizeof(char *));
        size_t k = 0;

        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_jobs; i++) {
                if (!m->jobs[i]->path)
                        continue;
                l[k] = strdup(m->jobs[i]->path);
                if (!l[k]) {
                        for (size_t x = 0; x < k; x++)
                                free(l[x]);
                        free(l);
                        return -ENOMEM;
                }
                k++;
        }
        *nodes = l;
        return 0;
}

/* Properties whose changes are rate-limited (0 and 100 always go out). */
#define JOB_PROGRESS_MASK                                                                    \
        ((1ull << JOB_PROP_PROGRESS) | (1ull << JOB_PROP_BYTES_DONE) |                      \
         (1ull << JOB_PROP_BYTES_TOTAL) | (1ull << JOB_PROP_FILES_DONE) |                   \
         (1ull << JOB_PROP_FILES_TOTAL))

int job_flush(Job *j, uint64_t now) {
        const char *names[_JOB_PROP_MAX + 1];
        uint64_t send = j->dirty;
        size_t n = 0;

        if (!j->path || !j->dirty || !j->manager->bus)
                return 0;
        if (now != UINT64_MAX && !j->progress_forced && !(send & ~JOB_PROGRESS_MASK) &&
            now - j->last_progress_emit < PROGRESS_INTERVAL_USEC &&
            j->progress != 0 && j->progress != 100)
                return 1;               /* only progress, and too soon: later */
        for (int p = 0; p < _JOB_PROP_MAX; p++)
                if (send & (1ull << p))
                        names[n++] = job_prop_names[p];
        names[n] = NULL;
        j->dirty = 0;
        j->progress_forced = false;
        if (send & JOB_PROGRESS_MASK)
                j->last_progress_emit = now == UINT64_MAX ? 0 : now;
        (void) sd_bus_emit_properties_changed_strv(j->manager->bus, j->path,
                                                   "org.idevicesync1.Job", (char **) names);
        return 0;
}
