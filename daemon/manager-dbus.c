/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.idevicesync1.Manager and the bus setup: object manager, the device and job
 * fallback vtables with their enumerators, named errors, access checks, the bus name.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "job.h"
#include "log.h"
#include "macro.h"
#include "manager.h"
#include "request.h"

#ifndef IDEVICESYNC_VERSION
#define IDEVICESYNC_VERSION "0.1"
#endif

const sd_bus_error_map idevicesync_errors[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_POLICY_DENIED, EPERM),
        SD_BUS_ERROR_MAP(BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_CONNECTED, ENOTCONN),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_SNAPSHOT, ENOENT),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_SUCH_DEVICE, ENODEV),
        SD_BUS_ERROR_MAP(BUS_ERROR_NO_JOB, ESRCH),
        SD_BUS_ERROR_MAP_END
};

/* The bus policy already keeps non-root callers out of everything but reading; this is the
 * second wall, so a loose policy file is not the only one. */
int bus_check_root(sd_bus_message *msg, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID | SD_BUS_CREDS_AUGMENT, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid != 0)
                return sd_bus_error_setf(error, SD_BUS_ERROR_ACCESS_DENIED,
                                         "Only root may call %s.%s().",
                                         sd_bus_message_get_interface(msg),
                                         sd_bus_message_get_member(msg));
        return 0;
}

typedef enum PathList { PATHS_DEVICES, PATHS_JOBS, PATHS_REQUESTS } PathList;

static int append_paths(sd_bus_message *msg, Manager *m, PathList what) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_message_new_method_return(msg, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "o");
        if (r < 0)
                return r;
        if (what == PATHS_JOBS) {
                for (size_t i = 0; i < m->n_jobs && r >= 0; i++)
                        if (m->jobs[i]->path)
                                r = sd_bus_message_append(reply, "o", m->jobs[i]->path);
        } else if (what == PATHS_REQUESTS) {
                for (size_t i = 0; i < m->n_requests && r >= 0; i++)
                        r = sd_bus_message_append(reply, "o", m->requests[i]->path);
        } else
                for (size_t i = 0; i < m->n_devices && r >= 0; i++)
                        r = sd_bus_message_append(reply, "o", m->devices[i]->path);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_list_devices(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return append_paths(msg, userdata, PATHS_DEVICES);
}

static int method_list_jobs(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return append_paths(msg, userdata, PATHS_JOBS);
}

static int method_list_requests(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        return append_paths(msg, userdata, PATHS_REQUESTS);
}

static int method_reload(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        r = manager_reload(m);
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "Reloading the configuration failed, "
                                               "the previous one stays: %m");
        return sd_bus_reply_method_return(msg, NULL);
}

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", IDEVICESYNC_VERSION);
}

const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_ARGS("ListDevices", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", devices),
                                method_list_devices, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", jobs),
                                method_list_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRequests", SD_BUS_NO_ARGS, SD_BUS_RESULT("ao", requests),
                                method_list_requests, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Reload", NULL, NULL, method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobRemoved", SD_BUS_ARGS("o", job, "s", result), 0),
        SD_BUS_SIGNAL_WITH_ARGS("RequestAdded", SD_BUS_ARGS("o", request), 0),
        SD_BUS_SIGNAL_WITH_ARGS("RequestRemoved", SD_BUS_ARGS("o", request, "s", answer), 0),
        SD_BUS_VTABLE_END
};

int manager_bus_setup(Manager *m) {
        int r;

        r = sd_bus_open_system(&m->bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_attach_event(m->bus, m->event, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        (void) sd_bus_error_add_map(idevicesync_errors);

        r = sd_bus_add_object_manager(m->bus, NULL, BUS_PATH_MANAGER);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object manager: %m");
        r = sd_bus_add_object_vtable(m->bus, NULL, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                     manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the manager object: %m");
        r = sd_bus_add_fallback_vtable(m->bus, NULL, BUS_PATH_DEVICE_PREFIX,
                                       BUS_IFACE_DEVICE, device_vtable,
                                       device_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the device objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, BUS_PATH_DEVICE_PREFIX, device_node_enumerator,
                                       m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, BUS_PATH_JOB_PREFIX, BUS_IFACE_JOB,
                                       job_vtable, job_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the job objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, BUS_PATH_JOB_PREFIX, job_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(m->bus, NULL, BUS_PATH_REQUEST_PREFIX, BUS_IFACE_REQUEST,
                                       request_vtable, request_object_find, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the request objects: %m");
        r = sd_bus_add_node_enumerator(m->bus, NULL, BUS_PATH_REQUEST_PREFIX,
                                       request_node_enumerator, m);
        if (r < 0)
                return r;

        r = sd_bus_request_name(m->bus, BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to acquire the bus name " BUS_NAME ": %m");
        return 0;
}
