/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * org.idevicesync1.Device: vtable, emission and bus glue only. Mutating methods: check the
 * caller (root) → validate → act (device_start_job()) → reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "device.h"
#include "restore-offer.h"
#include "idevicesync.h"
#include "job-type.h"
#include "log.h"
#include "macro.h"

static int property_get_bool(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Device *d = userdata;
        int v = strcmp(property, "Connected") == 0 ? d->connected : d->encrypted;

        return sd_bus_message_append(reply, "b", v);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Device *d = userdata;

        return sd_bus_message_append(reply, "s", device_state_to_string(d->state));
}

static int property_get_job(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error) {
        Device *d = userdata;

        return sd_bus_message_append(reply, "o", d->job && d->job->path ? d->job->path : "/");
}

/* The device mirrors its current job: Phase, Progress and the counters. */
static int property_get_mirror(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Device *d = userdata;
        Job *j = d->job;

        if (strcmp(property, "Phase") == 0)
                return sd_bus_message_append(reply, "s", j && j->phase >= 0 ?
                                                     ids_phase_to_string(j->phase) : "");
        if (strcmp(property, "Progress") == 0)
                return sd_bus_message_append(reply, "u", j ? j->progress : 0u);
        if (strcmp(property, "BytesDone") == 0)
                return sd_bus_message_append(reply, "t", j ? j->bytes_done : UINT64_C(0));
        if (strcmp(property, "BytesTotal") == 0)
                return sd_bus_message_append(reply, "t", j ? j->bytes_total : UINT64_C(0));
        if (strcmp(property, "FilesDone") == 0)
                return sd_bus_message_append(reply, "t", j ? j->files_done : UINT64_C(0));
        return sd_bus_message_append(reply, "t", j ? j->files_total : UINT64_C(0));
}

static int read_options(sd_bus_message *msg, const char *const *allowed, bool *values,
                        sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key;
                int v, i;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                for (i = 0; allowed[i]; i++)
                        if (strcmp(allowed[i], key) == 0)
                                break;
                if (!allowed[i])
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s'.", key);
                r = sd_bus_message_read(msg, "v", "b", &v);
                if (r < 0)
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Option '%s' must be a boolean.", key);
                values[i] = v;
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

/* What StartBackup() and StartSync() check first: the caller is root, the options are
 * known booleans, the device is plugged in and has no job running. */
static int job_method_prepare(sd_bus_message *msg, Device *d, const char *const *allowed,
                              bool *values, sd_bus_error *error) {
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        r = read_options(msg, allowed, values, error);
        if (r < 0)
                return r;
        manager_note_activity(d->manager);
        if (!d->connected)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_CONNECTED,
                                         "Device %s is not connected.", d->udid);
        if (d->job)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A %s job is already running.",
                                         job_kind_to_string(d->job->kind));
        return 0;
}

static int method_start_backup(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "full", "force", NULL };
        Device *d = userdata;
        bool opt[2] = {};
        _cleanup_free_ char *reason = NULL;
        uint64_t next = 0;
        Job *j = NULL;
        int r;

        r = job_method_prepare(msg, d, allowed, opt, error);
        if (r < 0)
                return r;
        if (d->state == DEVICE_WAITING_FOR_TRUST || d->state == DEVICE_LOCKED)
                return sd_bus_error_setf(error, BUS_ERROR_POLICY_DENIED, "%s", d->reason);
        if (!opt[1]) {
                r = device_check_policy(d, true, &reason, &next);
                if (r < 0)
                        return r;
                if (r > 0)
                        return sd_bus_error_setf(error, BUS_ERROR_POLICY_DENIED,
                                                 "%s Use force to back up anyway.", reason);
        }
        d->probe_failures = 0;
        r = device_start_job(d, JOB_BACKUP, &(JobParams) { .full = opt[0] }, &j);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A job is already running.");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

static int method_start_sync(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "dry-run", NULL };
        Device *d = userdata;
        bool opt[1] = {};
        Job *j = NULL;
        int r;

        r = job_method_prepare(msg, d, allowed, opt, error);
        if (r < 0)
                return r;
        r = device_start_job(d, JOB_SYNC, &(JobParams) { .dry_run = opt[0] }, &j);
        if (r == -EBUSY)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A job is already running.");
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

static int cancel(sd_bus_message *msg, Device *d, bool force, sd_bus_error *error) {
        int r;

        manager_note_activity(d->manager);
        if (!d->job)
                return sd_bus_error_setf(error, BUS_ERROR_NO_JOB, "Nothing is running on %s.",
                                         d->udid);
        r = restore_cancel_check(d->job, force, error);
        if (r < 0)
                return r;
        log_device(LOG_INFO, d->udid, d->job->path, NULL, "Cancelling the %s of %s on request",
                   job_kind_to_string(d->job->kind), d->udid);
        job_cancel(d->job, "cancelled");
        return sd_bus_reply_method_return(msg, NULL);
}

static int method_cancel(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        int r = bus_check_root(msg, error);

        if (r < 0)
                return r;
        return cancel(msg, userdata, false, error);
}

/* CancelWithOptions(a{sv}): "force" b cancels a restore that is past the point of a
 * clean stop. */
static int method_cancel_with_options(sd_bus_message *msg, void *userdata,
                                      sd_bus_error *error) {
        static const char *const allowed[] = { "force", NULL };
        bool opt[1] = { false };
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        r = read_options(msg, allowed, opt, error);
        if (r < 0)
                return r;
        return cancel(msg, userdata, opt[0], error);
}

static int method_list_snapshots(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Device *d = userdata;
        ids_snapshot *list = NULL;
        size_t n = 0;
        int r;

        r = ids_snapshot_list(manager_backup_dir(d->manager), d->udid, &list, &n);
        if (r != 0)
                return r < 0 ? r : sd_bus_error_setf(error, BUS_ERROR_BUSY, "%s",
                                                     ids_result_message(r));
        r = sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sta{sv})");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(sta{sv})", list[i].id, list[i].end_usec, 7,
                                          "files", "t", list[i].files,
                                          "bytes", "t", list[i].bytes,
                                          "new_bytes", "t", list[i].new_bytes,
                                          "full", "b", (int) list[i].full,
                                          "encrypted", "b", (int) list[i].encrypted,
                                          "ios_version", "s", list[i].ios_version,
                                          "start", "t", list[i].start_usec);
        free(list);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* A name from a caller, fit for a message: at most 64 characters, control characters and
 * quotes shown as '?'. */
static void snapshot_name_for_message(const char *name, char *buf, size_t n) {
        size_t i = 0, len = strlen(name);

        for (; i < 64 && i + 4 < n && name[i]; i++)
                buf[i] = (unsigned char) name[i] < 0x20 || name[i] == 0x7f || name[i] == '\'' ?
                                 '?' : name[i];
        buf[i] = 0;
        if (len > i && i + 4 < n)
                strcat(buf, "...");
}

/* The one check of a snapshot name a caller gives (StartVerify, StartRestore,
 * DeleteSnapshot): it must be the id of a committed snapshot of d; "" means the latest
 * when allow_latest, and then at least one must exist. Answers NoSuchSnapshot otherwise,
 * before any job exists. 0 or a negative errno with error set. */
static int check_snapshot_name(Device *d, const char *name, bool allow_latest,
                               sd_bus_error *error) {
        ids_snapshot *list = NULL;
        char shown[80];
        size_t n = 0;
        bool found = false;
        int r;

        snapshot_name_for_message(name, shown, sizeof(shown));
        if (!name[0] && !allow_latest)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "A snapshot name is required.");
        /* Ids are short and plain (20261124T153000Z-2): anything else cannot be one. */
        if (strlen(name) < sizeof(list->id) && !strchr(name, '/') && name[0] != '.') {
                r = ids_snapshot_list(manager_backup_dir(d->manager), d->udid, &list, &n);
                if (r == IDS_E_BUSY)
                        return sd_bus_error_setf(error, BUS_ERROR_BUSY, "%s",
                                                 ids_result_message(r));
                if (r < 0 && r != -ENOENT)
                        return sd_bus_error_set_errnof(error, r, "Cannot list the snapshots "
                                                       "of %s: %m", d->udid);
                for (size_t i = 0; i < n && !found; i++)
                        found = !name[0] || strcmp(list[i].id, name) == 0;
                free(list);
        }
        if (found)
                return 0;
        if (!name[0])
                return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_SNAPSHOT,
                                         "%s has no snapshot yet.", d->udid);
        return sd_bus_error_setf(error, BUS_ERROR_NO_SUCH_SNAPSHOT,
                                 "No snapshot '%s' of %s; `idevicesync list-snapshots %s` "
                                 "lists them.", shown, d->udid, d->udid);
}

/* What StartVerify() and DeleteSnapshot() check first: the caller is root, the snapshot
 * is one of d's committed ones ("" the latest when allow_latest), d runs no job. */
static int snapshot_method_prepare(sd_bus_message *msg, Device *d, bool allow_latest,
                                   const char **ret_snapshot, sd_bus_error *error) {
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", ret_snapshot);
        if (r < 0)
                return r;
        manager_note_activity(d->manager);
        r = check_snapshot_name(d, *ret_snapshot, allow_latest, error);
        if (r < 0)
                return r;
        if (d->job)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A %s job is already running.",
                                         job_kind_to_string(d->job->kind));
        return 0;
}

static int method_start_verify(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        const char *snapshot;
        Job *j = NULL;
        int r;

        r = snapshot_method_prepare(msg, d, true, &snapshot, error);
        if (r < 0)
                return r;
        r = device_start_job(d, JOB_VERIFY, &(JobParams) { .snapshot = snapshot }, &j);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

/* ListFiles()/Extract() options: "password" (h: a pipe with a backup password the caller
 * typed) and, where allowed, "all" (b). */
static int read_file_options(sd_bus_message *msg, bool allow_all, bool *ret_all,
                             int *ret_password_fd, sd_bus_error *error) {
        int r;

        r = sd_bus_message_enter_container(msg, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(msg, 'e', "sv")) > 0) {
                const char *key;
                int v;

                r = sd_bus_message_read(msg, "s", &key);
                if (r < 0)
                        return r;
                if (allow_all && strcmp(key, "all") == 0) {
                        r = sd_bus_message_read(msg, "v", "b", &v);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option 'all' must be a boolean.");
                        *ret_all = v;
                } else if (strcmp(key, "password") == 0) {
                        r = sd_bus_message_read(msg, "v", "h", &v);
                        if (r < 0)
                                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                         "Option 'password' must be a file "
                                                         "descriptor (h).");
                        *ret_password_fd = v;   /* the message's: valid while it lives */
                } else
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Unknown option '%s'.", key);
                r = sd_bus_message_exit_container(msg);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(msg);
}

/* A domain or path a caller names: no control characters (they separate the helper's
 * items), a domain one non-empty component. */
static bool name_arg_ok(const char *s, bool domain) {
        if (domain && (!s[0] || strchr(s, '/')))
                return false;
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* A domain filter ("" for all) and a path prefix a caller gives. */
static bool filters_ok(const char *domain, const char *prefix) {
        return (!domain[0] || name_arg_ok(domain, true)) && name_arg_ok(prefix, false);
}

static int filters_error(sd_bus_error *error) {
        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                 "A domain is one name; neither it nor the path may hold "
                                 "control characters.");
}

static int method_list_files(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        const char *snapshot, *domain, *prefix;
        int out_fd, password_fd = -EBADF, fl;
        Job *j = NULL;
        int r;

        r = snapshot_method_prepare(msg, d, true, &snapshot, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "ssh", &domain, &prefix, &out_fd);
        if (r < 0)
                return r;
        r = read_file_options(msg, false, NULL, &password_fd, error);
        if (r < 0)
                return r;
        if (!filters_ok(domain, prefix))
                return filters_error(error);
        fl = fcntl(out_fd, F_GETFL);
        if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The output must be open for writing (a pipe).");
        r = device_start_job(d, JOB_FILES,
                             &(JobParams) { .snapshot = snapshot, .domain = domain,
                                            .prefix = prefix, .has_fd = true, .fd = out_fd,
                                            .has_password_fd = password_fd >= 0,
                                            .password_fd = password_fd },
                             &j);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

static int method_extract(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        _cleanup_free_ char *items = NULL;
        const char *snapshot, *domain, *prefix, *idomain, *ipath;
        size_t len = 0, n = 0;
        int dir_fd, password_fd = -EBADF;
        bool all = false;
        struct stat st;
        Job *j = NULL;
        FILE *f;
        int r;

        r = snapshot_method_prepare(msg, d, true, &snapshot, error);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(msg, 'a', "(ss)");
        if (r < 0)
                return r;
        f = open_memstream(&items, &len);
        if (!f)
                return -ENOMEM;
        while ((r = sd_bus_message_read(msg, "(ss)", &idomain, &ipath)) > 0) {
                if (!name_arg_ok(idomain, true) || !name_arg_ok(ipath, false) ||
                    ++n > 4096) {
                        fclose(f);
                        return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                                 "Items are (domain, path) pairs without "
                                                 "control characters, at most 4096.");
                }
                fprintf(f, "%s%s\x1f%s", n > 1 ? "\x1e" : "", idomain, ipath);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(msg);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "ssh", &domain, &prefix, &dir_fd);
        if (r < 0)
                return r;
        r = read_file_options(msg, true, &all, &password_fd, error);
        if (r < 0)
                return r;
        if (!filters_ok(domain, prefix))
                return filters_error(error);
        if (n == 0 && !all && !domain[0])
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "Name what to extract: items, a domain, or all.");
        if (fstat(dir_fd, &st) < 0 || !S_ISDIR(st.st_mode))
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS,
                                         "The target must be an open directory.");
        r = device_start_job(d, JOB_EXTRACT,
                             &(JobParams) { .snapshot = snapshot, .domain = domain,
                                            .prefix = prefix, .items = items, .all = all,
                                            .has_fd = true, .fd = dir_fd,
                                            .has_password_fd = password_fd >= 0,
                                            .password_fd = password_fd },
                             &j);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

static int method_start_restore(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        static const char *const allowed[] = { "reboot", "skip-checks", NULL };
        Device *d = userdata, *target;
        const char *snapshot, *target_udid;
        bool opt[2] = { true, false };
        Job *j = NULL;
        int r;

        r = bus_check_root(msg, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "ss", &snapshot, &target_udid);
        if (r < 0)
                return r;
        r = read_options(msg, allowed, opt, error);
        if (r < 0)
                return r;
        manager_note_activity(d->manager);
        r = check_snapshot_name(d, snapshot, true, error);
        if (r < 0)
                return r;
        target = manager_find_device(d->manager, target_udid);
        if (!target || !target->connected)
                return sd_bus_error_setf(error, BUS_ERROR_NOT_CONNECTED,
                                         "Target device '%s' is not connected.", target_udid);
        if (target->job || d->job)
                return sd_bus_error_setf(error, BUS_ERROR_BUSY, "A job is already running.");
        /* The job belongs to the device being restored: that is the one that is busy. */
        r = device_start_job(d, JOB_RESTORE,
                             &(JobParams) { .snapshot = snapshot, .target = target,
                                            .reboot = opt[0], .skip_checks = opt[1] }, &j);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(msg, "o", j->path);
}

static int method_delete_snapshot(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Device *d = userdata;
        const char *snapshot;
        int r;

        r = snapshot_method_prepare(msg, d, false, &snapshot, error);
        if (r < 0)
                return r;
        /* Removing a tree takes time: a helper does it, and the call is answered when the
         * job ends (job_emit_finished()). */
        r = device_start_job(d, JOB_DELETE, &(JobParams) { .snapshot = snapshot, .reply = msg },
                             NULL);
        if (r < 0)
                return r;
        return 1;
}

/* SyncSummary / SyncPlan: a(sssttttttttts), one struct per category (see the XML). */
#define SYNC_CATEGORY_SIG "(sssttttttttts)"

static int property_get_sync(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Device *d = userdata;
        bool plan = strcmp(property, "SyncPlan") == 0;
        const ids_sync_category *v = plan ? d->sync_plan : d->sync_summary;
        size_t n = plan ? d->n_sync_plan : d->n_sync_summary;
        int r;

        r = sd_bus_message_open_container(reply, 'a', SYNC_CATEGORY_SIG);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const ids_sync_category *c = &v[i];

                r = sd_bus_message_append(reply, SYNC_CATEGORY_SIG, c->name, c->mode,
                                          ids_result_to_string(c->result), c->files_in,
                                          c->bytes_in, c->files_out, c->bytes_out, c->held,
                                          c->refused, c->conflicts, c->duplicates,
                                          c->removed_device, c->reason);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

const sd_bus_vtable device_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("UDID", "s", NULL, offsetof(Device, udid), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Device, name),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ProductType", "s", NULL, offsetof(Device, product_type),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ProductVersion", "s", NULL, offsetof(Device, product_version),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Connected", "b", property_get_bool, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StateReason", "s", NULL, offsetof(Device, reason),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Phase", "s", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Progress", "u", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesDone", "t", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BytesTotal", "t", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FilesDone", "t", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FilesTotal", "t", property_get_mirror, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Job", "o", property_get_job, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastBackup", "t", NULL, offsetof(Device, last_backup),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastResult", "s", NULL, offsetof(Device, last_result),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NextEligible", "t", NULL, offsetof(Device, next_eligible),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Encrypted", "b", property_get_bool, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastSync", "t", NULL, offsetof(Device, last_sync),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastSyncResult", "s", NULL, offsetof(Device, last_sync_result),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastRestore", "t", NULL, offsetof(Device, last_restore),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LastRestoreReport", "s", NULL, offsetof(Device, last_restore_report),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SyncSummary", "a" SYNC_CATEGORY_SIG, property_get_sync, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("SyncPlan", "a" SYNC_CATEGORY_SIG, property_get_sync, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("StartBackup", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("o", job), method_start_backup,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartSync", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_RESULT("o", job), method_start_sync,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Cancel", NULL, NULL, method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("CancelWithOptions", SD_BUS_ARGS("a{sv}", options),
                                SD_BUS_NO_RESULT, method_cancel_with_options,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListSnapshots", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sta{sv})", snapshots), method_list_snapshots,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartVerify", SD_BUS_ARGS("s", snapshot),
                                SD_BUS_RESULT("o", job), method_start_verify,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartRestore",
                                SD_BUS_ARGS("s", snapshot, "s", target_udid, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_start_restore,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DeleteSnapshot", SD_BUS_ARGS("s", snapshot), SD_BUS_NO_RESULT,
                                method_delete_snapshot, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListFiles",
                                SD_BUS_ARGS("s", snapshot, "s", domain, "s", prefix, "h", output,
                                            "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_list_files,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Extract",
                                SD_BUS_ARGS("s", snapshot, "a(ss)", items, "s", domain,
                                            "s", prefix, "h", directory, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_extract,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("StateChanged", SD_BUS_ARGS("s", state, "s", reason), 0),
        SD_BUS_VTABLE_END
};

int device_object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                       void **found, sd_bus_error *error) {
        Manager *m = userdata;
        _cleanup_free_ char *udid = NULL;
        Device *d;
        int r;

        r = sd_bus_path_decode(path, BUS_PATH_DEVICE_PREFIX, &udid);
        if (r <= 0)
                return 0;
        d = manager_find_device(m, udid);
        if (!d)
                return 0;
        *found = d;
        return 1;
}

static const char *device_path_of(void *objects, size_t i) {
        return ((Device **) objects)[i]->path;
}

int device_node_enumerator(sd_bus *bus, const char *path, void *userdata, char ***nodes,
                           sd_bus_error *error) {
        Manager *m = userdata;

        return bus_object_node_list(m->devices, m->n_devices, device_path_of, nodes);
}

int device_flush(Device *d, uint64_t now) {
        return bus_object_flush(&d->bus, d->manager->bus, d->path, BUS_IFACE_DEVICE,
                                device_prop_names, _DEVICE_PROP_MAX, now);
}

void device_emit_added(Device *d) {
        if (d->manager->bus)
                (void) sd_bus_emit_object_added(d->manager->bus, d->path);
}

void device_emit_state_changed(Device *d) {
        if (d->manager->bus)
                (void) sd_bus_emit_signal(d->manager->bus, d->path, BUS_IFACE_DEVICE,
                                          "StateChanged", "ss", device_state_to_string(d->state),
                                          d->reason);
}
