/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * idevicesync: the command-line client of idevicesyncd (idevicesync(1)), as hostnamectl
 * is to hostnamed. It talks only D-Bus, to org.idevicesync1 on the system bus (so
 * DBUS_SYSTEM_BUS_ADDRESS redirects it, which is how the tests run it), and adds nothing
 * that `busctl` could not do: it just says it better — one line per device, tables of
 * snapshots, a progress bar, and exit codes a script can act on.
 *
 * Following a job (--wait) is race-free by construction: the JobRemoved and
 * PropertiesChanged matches are installed before the method that starts the job is
 * called, so no signal about the new job can be missed; signals that arrive while the
 * call is in flight wait in sd-bus' queue until the event loop runs. The job's current
 * values are then fetched with an asynchronous GetAll, whose reply is dispatched in bus
 * order with the signals, so a stale value never overwrites a newer one.
 *
 * Output safety: every string that comes from the bus (device names are chosen on the
 * phone) passes text_sanitize() before it reaches the terminal.
 */
#include "cli.h"
#include "macro.h"

char **strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
        return NULL;
}

void strv_freep(char ***l) {
        *l = strv_free(*l);
}

/* Reads an "ao" into a NULL-terminated array (libsystemd 252's sd_bus_message_read_strv()
 * takes only "as"). Returns 0 or a negative errno; *ret is set only on success. */
int read_object_paths(sd_bus_message *m, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        const char *path;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "o");
        if (r < 0)
                return r;
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while ((r = sd_bus_message_read_basic(m, 'o', &path)) > 0) {
                char **grown = reallocarray(l, n + 2, sizeof(char *));

                if (!grown)
                        return -ENOMEM;
                l = grown;
                l[n] = strdup(path);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(l);
        return 0;
}

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* A copy of a string from the bus, made safe for the terminal; NULL stays NULL. */
char *strdup_sanitized(const char *s) {
        return s ? text_sanitize(strdup(s)) : NULL;
}

/* ---- command line -------------------------------------------------------------------- */

enum {
        OPT_NO_LEGEND = 1 << 0,
        OPT_FULL = 1 << 1,
        OPT_FORCE = 1 << 2,
        OPT_WAIT = 1 << 3,
        OPT_TO = 1 << 4,
        OPT_NO_REBOOT = 1 << 5,
        OPT_DRY_RUN = 1 << 6,
        OPT_ITEMS = 1 << 7,
        OPT_DOMAIN = 1 << 8,
        OPT_ALL = 1 << 9,
        OPT_ASK_PASSWORD = 1 << 10,
        OPT_SKIP_CHECKS = 1 << 11,
};

bool arg_legend = true;
static bool arg_full;
static bool arg_force;
bool arg_wait;
bool arg_dry_run;
const char *arg_to;                     /* borrowed from argv */
const char *arg_domain;
bool arg_all;
bool arg_ask_password;
static bool arg_reboot = true;
static bool arg_skip_checks;
static unsigned arg_given;              /* OPT_* of the options on the command line */

/* ---- status -------------------------------------------------------------------------- */

const PropertyMap device_map[] = {
        { "UDID", 's', offsetof(DeviceInfo, udid) },
        { "Name", 's', offsetof(DeviceInfo, name) },
        { "ProductType", 's', offsetof(DeviceInfo, product_type) },
        { "ProductVersion", 's', offsetof(DeviceInfo, product_version) },
        { "Connected", 'b', offsetof(DeviceInfo, connected) },
        { "State", 's', offsetof(DeviceInfo, state) },
        { "StateReason", 's', offsetof(DeviceInfo, state_reason) },
        { "Phase", 's', offsetof(DeviceInfo, phase) },
        { "Progress", 'u', offsetof(DeviceInfo, progress) },
        { "Job", 'o', offsetof(DeviceInfo, job) },
        { "LastBackup", 't', offsetof(DeviceInfo, last_backup) },
        { "LastResult", 's', offsetof(DeviceInfo, last_result) },
        { "NextEligible", 't', offsetof(DeviceInfo, next_eligible) },
        { "Encrypted", 'b', offsetof(DeviceInfo, encrypted) },
        { "LastSync", 't', offsetof(DeviceInfo, last_sync) },
        { "LastSyncResult", 's', offsetof(DeviceInfo, last_sync_result) },
        {}
};

/* Frees what a DeviceInfo owns; the struct itself is the caller's (a cleanup target). */
void device_info_done(DeviceInfo *d) {
        free(d->udid);
        free(d->name);
        free(d->product_type);
        free(d->product_version);
        free(d->state);
        free(d->state_reason);
        free(d->phase);
        free(d->job);
        free(d->last_result);
        free(d->last_sync_result);
        *d = (DeviceInfo) {};
}

/* qsort() comparator for object paths: a stable order between runs, by escaped UDID. */
static int compare_strings(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int status_row(Table *t, const char *path, const DeviceInfo *d, size_t questions) {
        _cleanup_free_ char *udid = NULL, *reason = NULL;
        char when[FORMAT_TIMESTAMP_MAX], next[FORMAT_TIMESTAMP_MAX], synced[FORMAT_TIMESTAMP_MAX];
        bool running = !isempty(d->job) && strcmp(d->job, "/") != 0;
        int r;

        if (isempty(d->udid) && sd_bus_path_decode(path, BUS_PATH_DEVICE_PREFIX, &udid) <= 0)
                udid = NULL;

        if (streq_ptr(d->state, "deferred") && d->next_eligible > 0)
                r = asprintf(&reason, "%s (eligible %s)", d->state_reason ? d->state_reason : "",
                             format_timestamp_usec(next, sizeof(next), d->next_eligible));
        else if (questions > 0 && !streq_ptr(d->state, "waiting-for-decision"))
                /* A held deletion does not stop the device; say it is there anyway. */
                r = asprintf(&reason, "%zu question%s waiting; %s", questions,
                             questions == 1 ? "" : "s", d->state_reason ? d->state_reason : "");
        else
                r = asprintf(&reason, "%s", d->state_reason ? d->state_reason : "");
        if (r < 0)
                return -ENOMEM;

        if ((r = table_addf(t, "%s", !isempty(d->udid) ? d->udid : udid ? udid : path)) < 0 ||
            (r = table_addf(t, "%s", !isempty(d->name) ? d->name : "-")) < 0 ||
            (r = table_addf(t, "%s", d->connected ? "plugged" : "unplugged")) < 0)
                return r;
        if (running)
                r = table_addf(t, "%s %" PRIu32 "%%", d->state ? d->state : "-",
                               d->progress > 100 ? 100 : d->progress);
        else
                r = table_addf(t, "%s", !isempty(d->state) ? d->state : "-");
        if (r < 0 ||
            (r = table_addf(t, "%s", format_timestamp_usec(when, sizeof(when),
                                                           d->last_backup))) < 0 ||
            (r = table_addf(t, "%s", !isempty(d->last_result) ? d->last_result : "-")) < 0 ||
            (r = table_addf(t, "%s", d->last_sync ?
                                             format_timestamp_usec(synced, sizeof(synced),
                                                                   d->last_sync) : "-")) < 0 ||
            (r = table_addf(t, "%s", !isempty(d->last_sync_result) ? d->last_sync_result :
                                                                      "-")) < 0 ||
            (r = table_addf(t, "%s", reason)) < 0)
                return r;
        return 0;
}

/*
 * status: ListDevices, then one GetAll per device. Read-only calls, so they work for
 * everyone; a device forgotten between the two calls is skipped rather than an error.
 */
static int verb_status(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(strv_freep) char **paths = NULL, **asked = NULL;
        _cleanup_(table_done) Table t = { .n_columns = 9 };
        size_t n = 0;
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListDevices",
                               &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to list devices");
        r = read_object_paths(reply, &paths);
        if (r < 0)
                return r;

        for (char **p = paths; p && *p; p++)
                n++;
        if (n > 0)
                qsort_safe(paths, n, sizeof(char *), compare_strings);
        /* Which devices have requests: none when the daemon is older than requests. */
        if (requests_devices(bus, &asked) < 0)
                return -ENOMEM;

        r = table_addf(&t, "UDID");
        if (r < 0 || (r = table_addf(&t, "NAME")) < 0 || (r = table_addf(&t, "CONNECTED")) < 0 ||
            (r = table_addf(&t, "STATE")) < 0 || (r = table_addf(&t, "LAST BACKUP")) < 0 ||
            (r = table_addf(&t, "RESULT")) < 0 || (r = table_addf(&t, "LAST SYNC")) < 0 ||
            (r = table_addf(&t, "SYNC")) < 0 || (r = table_addf(&t, "REASON")) < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL;
                _cleanup_(device_info_done) DeviceInfo d = {};
                size_t questions = 0;

                sd_bus_error_free(&error);
                r = sd_bus_call_method(bus, BUS_NAME, paths[i], PROPERTIES_IFACE, "GetAll",
                                       &error, &props, "s", BUS_IFACE_DEVICE);
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        continue;               /* forgotten since ListDevices */
                if (r < 0)
                        return log_bus_error(&error, r, NULL, "Failed to read a device");

                r = map_properties(props, device_map, &d, NULL);
                if (r < 0) {
                        log_error("Failed to parse the properties of %s: %s", paths[i],
                                  strerror(-r));
                        return CLI_EXIT_FAILED;
                }
                for (char **q = asked; q && *q; q++)
                        questions += strcmp(*q, paths[i]) == 0;
                r = status_row(&t, paths[i], &d, questions);
                if (r < 0)
                        return r;
        }

        if (t.n_cells == t.n_columns) {
                if (arg_legend)
                        printf("No devices known.\n");
                return 0;
        }
        table_print(&t);
        return 0;
}

/* ---- list-snapshots ------------------------------------------------------------------ */

typedef struct SnapshotInfo {
        uint64_t files, bytes, new_bytes, start;
        bool full, encrypted;
        char *ios_version;
} SnapshotInfo;

static const PropertyMap snapshot_map[] = {
        { "files", 't', offsetof(SnapshotInfo, files) },
        { "bytes", 't', offsetof(SnapshotInfo, bytes) },
        { "new_bytes", 't', offsetof(SnapshotInfo, new_bytes) },
        { "full", 'b', offsetof(SnapshotInfo, full) },
        { "encrypted", 'b', offsetof(SnapshotInfo, encrypted) },
        { "ios_version", 's', offsetof(SnapshotInfo, ios_version) },
        { "start", 't', offsetof(SnapshotInfo, start) },
        {}
};

static int snapshot_row(Table *t, const char *id, uint64_t end, const SnapshotInfo *s) {
        char date[FORMAT_TIMESTAMP_MAX], size[FORMAT_BYTES_MAX], fresh[FORMAT_BYTES_MAX];
        int r;

        if ((r = table_addf(t, "%s", id)) < 0 ||
            (r = table_addf(t, "%s", format_timestamp_usec(date, sizeof(date), end))) < 0 ||
            (r = table_addf(t, "%" PRIu64, s->files)) < 0 ||
            (r = table_addf(t, "%s", format_bytes(size, sizeof(size), s->bytes))) < 0 ||
            (r = table_addf(t, "%s", format_bytes(fresh, sizeof(fresh), s->new_bytes))) < 0 ||
            (r = table_addf(t, "%s", s->full ? "full" : "incr")) < 0 ||
            (r = table_addf(t, "%s", s->encrypted ? "yes" : "no")) < 0 ||
            (r = table_addf(t, "%s", !isempty(s->ios_version) ? s->ios_version : "-")) < 0)
                return r;
        return 0;
}

/*
 * list-snapshots: ListSnapshots() → a(sta{sv}) of (id, end time, details). Details are a
 * dictionary so the daemon can add keys; unknown ones are skipped, missing ones show 0.
 */
static int verb_list_snapshots(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(table_done) Table t = { .n_columns = 8, .right = BIT(2) | BIT(3) | BIT(4) };
        _cleanup_free_ char *path = NULL;
        static const char *const header[] = {
                "ID", "DATE", "FILES", "SIZE", "NEW", "TYPE", "ENCRYPTED", "IOS",
        };
        int r;

        r = device_connect(argv[1], &path, &bus);
        if (r != 0)
                return r;

        r = sd_bus_call_method(bus, BUS_NAME, path, BUS_IFACE_DEVICE, "ListSnapshots", &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, argv[1], "Failed to list snapshots");

        for (size_t i = 0; i < ELEMENTSOF(header); i++) {
                r = table_addf(&t, "%s", header[i]);
                if (r < 0)
                        return r;
        }

        r = sd_bus_message_enter_container(reply, 'a', "(sta{sv})");
        if (r < 0)
                goto parse_error;
        while ((r = sd_bus_message_enter_container(reply, 'r', "sta{sv}")) > 0) {
                SnapshotInfo s = {};
                const char *id;
                uint64_t end;

                r = sd_bus_message_read(reply, "st", &id, &end);
                if (r >= 0)
                        r = map_properties(reply, snapshot_map, &s, NULL);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = snapshot_row(&t, id, end, &s);
                free(s.ios_version);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        goto parse_error;
        }
        if (r < 0)
                goto parse_error;

        if (t.n_cells == t.n_columns) {
                if (arg_legend)
                        printf("No snapshots.\n");
                return 0;
        }
        table_print(&t);
        return 0;

parse_error:
        log_error("Failed to parse the snapshot list: %s", strerror(-r));
        return CLI_EXIT_FAILED;
}

/* ---- commands that start jobs -------------------------------------------------------- */

static int new_device_call(sd_bus *bus, const char *path, const char *member,
                           sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, BUS_NAME, path, BUS_IFACE_DEVICE, member);
}

/* backup: StartBackup({"full": b, "force": b}); both are always sent, so the daemon never
 * has to guess a default that could differ from the man page. */
static int verb_backup(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_connect(argv[1], &path, &bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartBackup", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 2, "full", "b", arg_full, "force", "b",
                                          arg_force);
        if (r < 0)
                return r;
        return run_job(bus, call, argv[1], "Backup");
}

/* restore: StartRestore(id, target, {"reboot": b}) on the SOURCE device's object, which
 * exists even when that device is unplugged or gone. "" is its latest snapshot. */
static int verb_restore(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL, *target = NULL;
        int r;

        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        if (!arg_to) {
                log_error("restore needs --to=UDID: the device to restore onto.");
                return CLI_EXIT_USAGE;
        }
        r = device_path_of(arg_to, &target);    /* validates the target's UDID */
        if (r != 0)
                return r;
        r = device_connect(udid, &path, &bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartRestore", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "ssa{sv}", id, arg_to, 2, "reboot", "b",
                                          arg_reboot, "skip-checks", "b", arg_skip_checks);
        if (r < 0)
                return r;
        return run_job(bus, call, udid, "Restore");
}

static int verb_verify(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        int r;

        r = snapshot_arg(argv[1], false, &udid, &id);
        if (r != 0)
                return r;
        r = device_connect(udid, &path, &bus);
        if (r != 0)
                return r;

        r = new_device_call(bus, path, "StartVerify", &call);
        if (r >= 0)
                r = sd_bus_message_append(call, "s", id);
        if (r < 0)
                return r;
        return run_job(bus, call, udid, "Verification");
}

/* ---- simple commands ----------------------------------------------------------------- */

/* Calls a method without a reply worth showing. Returns 0 or an exit code (reported). */
/* timeout_usec: 0 for sd-bus' default (25 s). */
static int call_simple(const char *path, const char *iface, const char *member,
                       uint64_t timeout_usec, const char *udid, const char *what,
                       const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        va_list ap;
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;

        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, iface, member);
        if (r < 0)
                return r;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(call, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }

        r = sd_bus_call(bus, call, timeout_usec, &error, &reply);
        if (r < 0)
                return log_bus_error(&error, r, udid, what);
        return CLI_EXIT_DONE;
}

static int verb_cancel(int argc, char **argv) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = device_path_of(argv[1], &path);
        if (r != 0)
                return r;
        /* --force: a restore past the point of a clean stop (CancelWithOptions). */
        if (arg_force)
                return call_simple(path, BUS_IFACE_DEVICE, "CancelWithOptions", 0, argv[1],
                                   "Failed to cancel", "a{sv}", 1, "force", "b", 1);
        return call_simple(path, BUS_IFACE_DEVICE, "Cancel", 0, argv[1], "Failed to cancel",
                           NULL);
}

/* delete-snapshot: only with an explicit id — "the latest" is too easy to get wrong here. */
static int verb_delete_snapshot(int argc, char **argv) {
        _cleanup_free_ char *udid = NULL, *id = NULL, *path = NULL;
        int r;

        r = snapshot_arg(argv[1], true, &udid, &id);
        if (r != 0)
                return r;
        r = device_path_of(udid, &path);
        if (r != 0)
                return r;
        /* The call returns when a helper has removed the tree: a snapshot of a million
         * files can take longer than sd-bus' 25 s default. */
        return call_simple(path, BUS_IFACE_DEVICE, "DeleteSnapshot", DELETE_TIMEOUT_USEC, udid,
                           "Failed to delete the snapshot", "s", id);
}

static int verb_reload(int argc, char **argv) {
        return call_simple(BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "Reload", 0, NULL,
                           "Failed to reload", NULL);
}

/* ---- monitor ------------------------------------------------------------------------- */

/* The jobs that run when monitor starts, read synchronously (the matches are in place). */
static int monitor_seed(Context *c) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(strv_freep) char **paths = NULL;
        int r, running;

        r = sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s",
                               BUS_NAME);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to ask the bus");
        r = sd_bus_message_read(reply, "b", &running);
        if (r < 0)
                return r;
        if (!running) {
                event_line(c, "idevicesyncd is not running; waiting for it");
                return 0;
        }

        reply = sd_bus_message_unref(reply);
        r = sd_bus_call_method(c->bus, BUS_NAME, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListJobs",
                               &error,
                               &reply, NULL);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to list jobs");
        r = read_object_paths(reply, &paths);
        if (r < 0)
                return r;

        /* asynchronous GetAll: the replies come in order with the jobs' signals */
        for (char **p = paths; p && *p; p++) {
                Job *j;

                r = context_track_job(c, *p, &j);
                if (r < 0)
                        return r;
                j->seeded = true;
        }
        return 0;
}

/* monitor: subscribe first, then look at what runs, then follow signals until SIGINT. */
static int verb_monitor(int argc, char **argv) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(context_done) Context c = {};
        int r;

        r = bus_connect(&bus);
        if (r != 0)
                return r;
        r = context_setup(&c, bus, true, &event);
        if (r != 0)
                return r;
        r = monitor_seed(&c);
        if (r != 0)
                return r;
        return context_run(&c);
}

/* ---- main ---------------------------------------------------------------------------- */

static int help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n"
               "\n"
               "Back up and sync iPhones and iPads through idevicesyncd.\n"
               "\n"
               "Commands:\n"
               "  status                       Show every known device (the default)\n"
               "  list-snapshots UDID          List a device's snapshots\n"
               "  backup UDID                  Start a backup\n"
               "  cancel UDID                  Cancel the device's running job\n"
               "  restore SNAPSHOT --to=UDID   Restore a snapshot onto a device\n"
               "  verify SNAPSHOT              Verify a snapshot\n"
               "  sync UDID                    Sync photos, crash logs, documents now\n"
               "  sync-status UDID             Show the last sync, per category\n"
               "  delete-snapshot UDID/ID      Delete one snapshot\n"
               "  files SNAPSHOT [PREFIX]      List the files of a snapshot\n"
               "  extract SNAPSHOT [DOMAIN PATH]... --to=DIR\n"
               "                               Write decrypted copies of files of a snapshot\n"
               "  requests [REQUEST]           List the questions waiting for an answer\n"
               "  answer REQUEST CHOICE [ID...]\n"
               "                               Answer a request (only some items: IDs)\n"
               "  reload                       Reload the configuration and device policies\n"
               "  monitor                      Follow what the daemon does until Ctrl-C\n"
               "\n"
               "SNAPSHOT is UDID/ID, or UDID alone for the device's latest snapshot.\n"
               "\n"
               "Options:\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n"
               "     --no-pager      Accepted for compatibility; no pager is ever used\n"
               "     --no-legend     status, list-snapshots, requests: no column headers\n"
               "     --full          backup: a full backup, not an incremental one\n"
               "     --force         backup: run now even if the policy says not now;\n"
               "                     cancel: also a restore that is sending the backup\n"
               "     --wait          backup, restore, verify, sync: follow the job to its end\n"
               "     --dry-run       sync: print the plan, change nothing (implies --wait)\n"
               "     --to=UDID       restore: the device to restore onto\n"
               "     --to=DIR        extract: the directory to write into\n"
               "     --domain=DOMAIN files, extract: only this domain (e.g. HomeDomain)\n"
               "     --all           extract: every file of the snapshot\n"
               "     --ask-password  files, extract: ask for the backup password (also asked\n"
               "                     on a terminal when the service's password does not fit)\n"
               "     --no-reboot     restore: do not reboot the device afterwards\n"
               "     --skip-checks   restore: skip the pre-checks (experts only)\n"
               "     --items=ID[,ID] answer: only these items of a deletions request\n"
               "\n"
               "Exit status: 0 done, 1 failed, 2 usage, 3 cancelled, 4 deferred or denied\n"
               "by policy, 5 access denied. See idevicesync(1).\n",
               program_invocation_short_name);
        return 0;
}

typedef struct Verb {
        const char *name;
        unsigned args;                  /* exactly this many arguments after the verb */
        bool more;                      /* … or more (answer: item ids) */
        const char *usage;              /* of the arguments, for messages */
        unsigned options;               /* OPT_* allowed */
        int (*run)(int argc, char **argv);
} Verb;

static const Verb verbs[] = {
        { "status", 0, false, "", OPT_NO_LEGEND, verb_status },
        { "list-snapshots", 1, false, "UDID", OPT_NO_LEGEND, verb_list_snapshots },
        { "backup", 1, false, "UDID", OPT_FULL | OPT_FORCE | OPT_WAIT, verb_backup },
        { "cancel", 1, false, "UDID", OPT_FORCE, verb_cancel },
        { "restore", 1, false, "SNAPSHOT", OPT_TO | OPT_NO_REBOOT | OPT_WAIT | OPT_SKIP_CHECKS,
          verb_restore },
        { "verify", 1, false, "SNAPSHOT", OPT_WAIT, verb_verify },
        { "sync", 1, false, "UDID", OPT_DRY_RUN | OPT_WAIT, verb_sync },
        { "sync-status", 1, false, "UDID", OPT_NO_LEGEND, verb_sync_status },
        { "delete-snapshot", 1, false, "UDID/ID", 0, verb_delete_snapshot },
        { "reload", 0, false, "", 0, verb_reload },
        { "requests", 0, true, "[REQUEST]", OPT_NO_LEGEND, verb_requests },
        { "answer", 2, true, "REQUEST CHOICE [ID...]", OPT_ITEMS, verb_answer },
        { "monitor", 0, false, "", 0, verb_monitor },
        { "files", 1, true, "SNAPSHOT [PATH-PREFIX]", OPT_DOMAIN | OPT_NO_LEGEND |
                  OPT_ASK_PASSWORD, verb_files },
        { "extract", 1, true, "SNAPSHOT [DOMAIN PATH]...", OPT_TO | OPT_DOMAIN | OPT_ALL |
                  OPT_ASK_PASSWORD, verb_extract },
};

static const char *option_name(unsigned opt) {
        switch (opt) {
        case OPT_NO_LEGEND:
                return "--no-legend";
        case OPT_FULL:
                return "--full";
        case OPT_FORCE:
                return "--force";
        case OPT_WAIT:
                return "--wait";
        case OPT_TO:
                return "--to";
        case OPT_NO_REBOOT:
                return "--no-reboot";
        case OPT_DRY_RUN:
                return "--dry-run";
        case OPT_ITEMS:
                return "--items";
        case OPT_DOMAIN:
                return "--domain";
        case OPT_ALL:
                return "--all";
        case OPT_ASK_PASSWORD:
                return "--ask-password";
        case OPT_SKIP_CHECKS:
                return "--skip-checks";
        default:
                return "?";
        }
}

/* Returns 1 to go on, 0 to exit successfully (--help, --version), or CLI_EXIT_USAGE
 * as a negative number. */
static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_NO_LEGEND,
                ARG_FULL,
                ARG_FORCE,
                ARG_WAIT,
                ARG_TO,
                ARG_NO_REBOOT,
                ARG_NO_PAGER,
                ARG_DRY_RUN,
                ARG_ITEMS,
                ARG_DOMAIN,
                ARG_ALL,
                ARG_ASK_PASSWORD,
                ARG_SKIP_CHECKS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "no-legend", no_argument, NULL, ARG_NO_LEGEND },
                { "full", no_argument, NULL, ARG_FULL },
                { "force", no_argument, NULL, ARG_FORCE },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "to", required_argument, NULL, ARG_TO },
                { "no-reboot", no_argument, NULL, ARG_NO_REBOOT },
                { "skip-checks", no_argument, NULL, ARG_SKIP_CHECKS },
                { "no-pager", no_argument, NULL, ARG_NO_PAGER },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "items", required_argument, NULL, ARG_ITEMS },
                { "domain", required_argument, NULL, ARG_DOMAIN },
                { "all", no_argument, NULL, ARG_ALL },
                { "ask-password", no_argument, NULL, ARG_ASK_PASSWORD },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case ARG_VERSION:
                        printf("idevicesync %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_NO_LEGEND:
                        arg_legend = false;
                        arg_given |= OPT_NO_LEGEND;
                        break;
                case ARG_FULL:
                        arg_full = true;
                        arg_given |= OPT_FULL;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        arg_given |= OPT_FORCE;
                        break;
                case ARG_WAIT:
                        arg_wait = true;
                        arg_given |= OPT_WAIT;
                        break;
                case ARG_TO:
                        arg_to = optarg;
                        arg_given |= OPT_TO;
                        break;
                case ARG_NO_REBOOT:
                        arg_reboot = false;
                        arg_given |= OPT_NO_REBOOT;
                        break;
                case ARG_SKIP_CHECKS:
                        arg_skip_checks = true;
                        arg_given |= OPT_SKIP_CHECKS;
                        break;
                case ARG_DRY_RUN:
                        arg_dry_run = true;
                        arg_given |= OPT_DRY_RUN;
                        break;
                case ARG_ITEMS:
                        if (parse_items(optarg) < 0) {
                                log_error("--items takes item ids such as 3 or 3,5,7.");
                                return -CLI_EXIT_USAGE;
                        }
                        arg_given |= OPT_ITEMS;
                        break;
                case ARG_DOMAIN:
                        arg_domain = optarg;
                        arg_given |= OPT_DOMAIN;
                        break;
                case ARG_ALL:
                        arg_all = true;
                        arg_given |= OPT_ALL;
                        break;
                case ARG_ASK_PASSWORD:
                        arg_ask_password = true;
                        arg_given |= OPT_ASK_PASSWORD;
                        break;
                case ARG_NO_PAGER:
                        break;          /* never a pager: accepted as systemd's tools do */
                case '?':
                        return -CLI_EXIT_USAGE;         /* getopt said why */
                default:
                        assert(!"unhandled option");
                        return -CLI_EXIT_USAGE;
                }
        return 1;
}

/* Finds the verb, checks its arguments and options, and runs it. Returns an exit code. */
static int dispatch(int argc, char **argv) {
        const char *name = argc > 0 ? argv[0] : "status";
        const Verb *v = NULL;
        unsigned extra;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(verbs[i].name, name) == 0)
                        v = &verbs[i];
        if (!v) {
                _cleanup_free_ char *n = strdup_sanitized(name);

                log_error("Unknown command '%s'; see '%s --help'.", n ? n : "?",
                          program_invocation_short_name);
                return CLI_EXIT_USAGE;
        }

        if ((unsigned) (argc > 0 ? argc - 1 : 0) != v->args &&
            !(v->more && (unsigned) (argc > 0 ? argc - 1 : 0) > v->args)) {
                if (v->more)
                        log_error("'%s' needs at least %u arguments: %s.", v->name, v->args,
                                  v->usage);
                else if (v->args == 0)
                        log_error("'%s' takes no arguments.", v->name);
                else
                        log_error("'%s' needs one argument: %s.", v->name, v->usage);
                return CLI_EXIT_USAGE;
        }

        extra = arg_given & ~v->options;
        if (extra) {
                log_error("%s is not an option of '%s'.", option_name(extra & -extra), v->name);
                return CLI_EXIT_USAGE;
        }

        if (argc == 0) {
                static char status[] = "status";
                char *args[] = { status, NULL };

                r = v->run(1, args);
        } else
                r = v->run(argc, argv);
        if (r < 0) {
                log_error("%s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return r;
}

/*
 * main() - parse the command line and run one command.
 *
 * Returns the exit status of idevicesync(1): 0 done, 1 failed, 2 usage, 3 cancelled,
 * 4 denied by policy, 5 access denied, 128 + N when --wait was stopped by signal N.
 */
int main(int argc, char *argv[]) {
        int r;

        screen_init();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return -r;

        return dispatch(argc - optind, argv + optind);
}
