/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CLI's sync commands (cli.h): `sync UDID [--dry-run] [--wait]` starts the sync stage
 * (a dry run waits for its plan and prints it), `sync-status UDID` prints the per-category
 * table of the last sync. Both read Device.SyncSummary / Device.SyncPlan, whose element is
 * (category, mode, result, files_in, bytes_in, files_out, bytes_out, held, refused,
 * conflicts, duplicates, removed_from_device, reason).
 */
#include "cli.h"

#define SYNC_CATEGORY_SIG "(sssttttttttts)"

/* The NOTE column: the category's own reason, then what the counters alone do not say
 * (how many of the files went to the phone, conflicts, questions, removals). */
static int sync_note(char **ret, bool plan, const char *reason, uint64_t out,
                     uint64_t conflicts, uint64_t held, uint64_t removed) {
        char buf[512];
        size_t n = 0;

#define NOTE_ADD(...) do {                                                                     \
                if (n < sizeof(buf))                                                           \
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s", n ? "; " : ""); \
                if (n < sizeof(buf))                                                           \
                        n += (size_t) snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);         \
        } while (0)
        buf[0] = 0;
        if (!isempty(reason))
                NOTE_ADD("%s", reason);
        if (out > 0)
                NOTE_ADD("%" PRIu64 " %s the device", out, plan ? "to go to" : "went to");
        if (conflicts > 0)
                NOTE_ADD("%" PRIu64 " changed on both sides: both kept", conflicts);
        if (held > 0 && plan)
                NOTE_ADD("%" PRIu64 " deletion%s to be held for an answer", held,
                         held == 1 ? "" : "s");
        else if (held > 0)
                NOTE_ADD("%" PRIu64 " deletion%s wait%s for an answer (idevicesync requests)",
                         held, held == 1 ? "" : "s", held == 1 ? "s" : "");
        if (removed > 0)
                NOTE_ADD("%s %" PRIu64, plan ? "to remove from the device:" :
                                              "removed from the device:", removed);
#undef NOTE_ADD
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* Print a SyncSummary/SyncPlan array as a table; returns the number of rows or -errno. */
static int print_sync_table(sd_bus_message *m, bool plan) {
        _cleanup_(table_done) Table t = { .n_columns = 8, .right = 0x78 };
        int r, rows = 0;

        r = sd_bus_message_enter_container(m, 'v', "a" SYNC_CATEGORY_SIG);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', SYNC_CATEGORY_SIG);
        if (r < 0)
                return r;
        if ((r = table_addf(&t, "CATEGORY")) < 0 || (r = table_addf(&t, "MODE")) < 0 ||
            (r = table_addf(&t, "%s", plan ? "PLAN" : "RESULT")) < 0 ||
            (r = table_addf(&t, "%s", plan ? "TO COPY" : "COPIED")) < 0 ||
            (r = table_addf(&t, "SIZE")) < 0 || (r = table_addf(&t, "SAME")) < 0 ||
            (r = table_addf(&t, "REFUSED")) < 0 || (r = table_addf(&t, "NOTE")) < 0)
                return r;
        for (;;) {
                const char *name, *mode, *result, *reason;
                uint64_t in, bytes_in, out, bytes_out, held, refused, conflicts, dups, removed;
                char size[FORMAT_BYTES_MAX];
                _cleanup_free_ char *note = NULL;
                int k;

                r = sd_bus_message_read(m, SYNC_CATEGORY_SIG, &name, &mode, &result, &in,
                                        &bytes_in, &out, &bytes_out, &held, &refused,
                                        &conflicts, &dups, &removed, &reason);
                if (r <= 0)
                        break;
                k = sync_note(&note, plan, reason, out, conflicts, held, removed);
                if (k < 0)
                        return k;
                if ((r = table_addf(&t, "%s", name)) < 0 || (r = table_addf(&t, "%s", mode)) < 0 ||
                    (r = table_addf(&t, "%s", plan ? (strcmp(mode, "no") == 0 ? "off" : "ready") :
                                                     strcmp(mode, "no") == 0 ? "off" : result)) < 0 ||
                    (r = table_addf(&t, "%" PRIu64, in + out)) < 0 ||
                    (r = table_addf(&t, "%s", format_bytes(size, sizeof(size),
                                                           bytes_in + bytes_out))) < 0 ||
                    (r = table_addf(&t, "%" PRIu64, dups)) < 0 ||
                    (r = table_addf(&t, "%" PRIu64, refused)) < 0 ||
                    (r = table_addf(&t, "%s", isempty(note) ? "-" : note)) < 0)
                        return r;
                rows++;
        }
        if (r < 0)
                return r;
        if (rows == 0) {
                if (arg_legend)
                        printf("%s\n", plan ? "No plan." : "Never synced.");
                return 0;
        }
        table_print(&t);                /* leaves the header out with --no-legend */
        return rows;
}

static int show_sync_property(sd_bus *bus, const char *path, const char *property) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, path, PROPERTIES_IFACE, "Get", &error, &reply,
                               "ss", BUS_IFACE_DEVICE, property);
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to read the sync summary");
        r = print_sync_table(reply, strcmp(property, "SyncPlan") == 0);
        if (r < 0) {
                log_error("Failed to parse %s: %s", property, strerror(-r));
                return CLI_EXIT_FAILED;
        }
        return 0;
}

/* sync: StartSync({"dry-run": b}). A dry run always waits: its plan is the point. */
int verb_sync(int argc, char **argv) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        int r, k;

        r = device_connect(argv[1], &path, &bus);
        if (r != 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, BUS_IFACE_DEVICE,
                                           "StartSync");
        if (r >= 0)
                r = sd_bus_message_append(call, "a{sv}", 1, "dry-run", "b", arg_dry_run);
        if (r < 0)
                return r;
        if (arg_dry_run)
                arg_wait = true;
        r = run_job(bus, call, argv[1], arg_dry_run ? "Sync plan" : "Sync");
        if (!arg_wait || (r != CLI_EXIT_DONE && !arg_dry_run))
                return r;
        /* following the job ended that connection's event loop: read on a fresh one */
        bus = sd_bus_flush_close_unref(bus);
        k = bus_connect(&bus);
        if (k != 0)
                return k;
        k = show_sync_property(bus, path, arg_dry_run ? "SyncPlan" : "SyncSummary");
        return r != CLI_EXIT_DONE ? r : k;
}

/* sync-status: the last sync's time and result, and its per-category table. */
int verb_sync_status(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL, *result = NULL;
        char when[FORMAT_TIMESTAMP_MAX];
        uint64_t last = 0;
        int r;

        r = device_connect(argv[1], &path, &bus);
        if (r != 0)
                return r;
        r = sd_bus_get_property_trivial(bus, BUS_NAME, path, BUS_IFACE_DEVICE, "LastSync",
                                        &error, 't', &last);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, BUS_NAME, path, BUS_IFACE_DEVICE,
                                               "LastSyncResult", &error, &result);
        if (r < 0)
                return log_bus_error(&error, r, argv[1], "Failed to read the device");
        if (arg_legend)
                printf("Last sync: %s (%s)\n", format_timestamp_usec(when, sizeof(when), last),
                       isempty(result) ? "never" : text_sanitize(result));
        return show_sync_property(bus, path, "SyncSummary");
}
