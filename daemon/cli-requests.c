/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The CLI's requests (cli.h): `requests` lists the questions waiting for a person
 * (Manager.ListRequests(), then each request's properties), `answer REQUEST CHOICE
 * [--items ID…]` calls Request.Answer(). REQUEST is the number shown by `requests` or the
 * object path. Reading is everyone's; answering is root's (exit status 5 otherwise).
 */
#include "cli.h"

uint64_t *arg_items;
size_t arg_n_items;

typedef struct RequestInfo {
        char *device, *kind, *summary;
        uint64_t created;
} RequestInfo;

static const PropertyMap request_map[] = {
        { "Device", 'o', offsetof(RequestInfo, device) },
        { "Kind", 's', offsetof(RequestInfo, kind) },
        { "Summary", 's', offsetof(RequestInfo, summary) },
        { "Created", 't', offsetof(RequestInfo, created) },
        {}
};

static void request_info_done(RequestInfo *r) {
        free(r->device);
        free(r->kind);
        free(r->summary);
        *r = (RequestInfo) {};
}

/* Item ids: "5", "5,7", "5 7"; appended to arg_items. 0, or -EINVAL for anything that is
 * not a positive decimal. */
int parse_items(const char *s) {
        while (*s) {
                uint64_t *a;
                char *end;
                unsigned long long v;

                s += strspn(s, ", ");
                if (!*s)
                        break;
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                errno = 0;
                v = strtoull(s, &end, 10);
                if (errno != 0 || v == 0 || (*end && *end != ',' && *end != ' '))
                        return -EINVAL;
                a = reallocarray(arg_items, arg_n_items + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                arg_items = a;
                arg_items[arg_n_items++] = (uint64_t) v;
                s = end;
        }
        return 0;
}

static int read_request(sd_bus *bus, const char *path, RequestInfo *ret, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *props = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, path, PROPERTIES_IFACE, "GetAll", error, &props,
                               "s", BUS_IFACE_REQUEST);
        if (r < 0)
                return r;
        return map_properties(props, request_map, ret, NULL);
}

/* ListRequests(); quiet: no message when it fails (status, with an older daemon). */
static int list_requests(sd_bus *bus, bool quiet, char ***ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_call_method(bus, BUS_NAME, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListRequests",
                               &error, &reply, NULL);
        if (r < 0 && quiet)
                return CLI_EXIT_FAILED;
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to list requests");
        r = read_object_paths(reply, ret);
        if (r < 0)
                return r;
        return 0;
}

/* The device path of every request, one entry per request (for status), in *ret (a
 * NULL-terminated array). 0, or an exit code / -errno, quietly (an older daemon). */
int requests_devices(sd_bus *bus, char ***ret) {
        _cleanup_(strv_freep) char **paths = NULL, **devices = NULL;
        size_t n = 0;
        int r;

        r = list_requests(bus, true, &paths);
        if (r != 0)
                return r;
        for (char **p = paths; p && *p; p++)
                n++;
        devices = calloc(n + 1, sizeof(char *));
        if (!devices)
                return -ENOMEM;
        n = 0;
        for (char **p = paths; p && *p; p++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(request_info_done) RequestInfo info = {};

                if (read_request(bus, *p, &info, &error) < 0 || !info.device)
                        continue;               /* answered meanwhile */
                devices[n++] = TAKE_PTR(info.device);
        }
        *ret = TAKE_PTR(devices);
        return 0;
}

/* The number at the end of a request's path ("3"), or the path itself. */
static const char *request_number(const char *path) {
        const char *prefix = BUS_PATH_REQUEST_PREFIX "/";

        return strncmp(path, prefix, strlen(prefix)) == 0 ? path + strlen(prefix) : path;
}

/* REQUEST as given (a number or a path) → the object path, or a usage error (reported). */
static int request_path_of(const char *req, char **ret) {
        const char *prefix = BUS_PATH_REQUEST_PREFIX "/";
        char *path = NULL;

        if (req[0] == '/') {
                if (strncmp(req, prefix, strlen(prefix)) != 0 || !req[strlen(prefix)] ||
                    !sd_bus_object_path_is_valid(req)) {
                        _cleanup_free_ char *a = strdup_sanitized(req);

                        log_error("'%s' is not a request path (%s<N>).", a ? a : "?", prefix);
                        return CLI_EXIT_USAGE;
                }
                path = strdup(req);
        } else {
                if (!*req || strspn(req, "0123456789") != strlen(req) || strlen(req) > 10) {
                        _cleanup_free_ char *a = strdup_sanitized(req);

                        log_error("'%s' is not a request: give its number, as 'idevicesync "
                                  "requests' shows it.", a ? a : "?");
                        return CLI_EXIT_USAGE;
                }
                if (asprintf(&path, "%s%s", prefix, req) < 0)
                        path = NULL;
        }
        if (!path)
                return -ENOMEM;
        *ret = path;
        return 0;
}

/* One request in full: its summary, then per held file (deletions) its id, whose copy
 * approve removes, app, path and size; or per choice (first-sync) what it would do. */
static int show_request(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(request_info_done) RequestInfo info = {};
        _cleanup_(table_done) Table items = { .n_columns = 5, .right = BIT(0) | BIT(3) };
        _cleanup_(table_done) Table choices = { .n_columns = 8, .right = 0xfe };
        _cleanup_(table_done) Table cands = { .n_columns = 7, .right = BIT(5) };
        int r;

        r = read_request(bus, path, &info, &error);
        if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                log_error("No request %s: it was answered already, or never existed "
                          "('idevicesync requests' lists them).", request_number(path));
                return CLI_EXIT_FAILED;
        }
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to read the request");
        r = sd_bus_call_method(bus, BUS_NAME, path, PROPERTIES_IFACE, "Get", &error, &reply,
                               "ss", BUS_IFACE_REQUEST, "Details");
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to read the request");
        if (arg_legend)
                printf("Request %s (%s): %s\n", request_number(path), info.kind ? info.kind : "?",
                       info.summary ? info.summary : "");
        if ((r = table_addf(&items, "ID")) < 0 || (r = table_addf(&items, "REMOVES")) < 0 ||
            (r = table_addf(&items, "APP")) < 0 || (r = table_addf(&items, "SIZE")) < 0 ||
            (r = table_addf(&items, "PATH")) < 0)
                return r;
        static const char *const hdr[] = { "CHOICE", "TO DEVICE", "TO COMPUTER",
                                           "OVERWRITE DEV", "OVERWRITE COMP", "REMOVE DEV",
                                           "REMOVE COMP", "BOTH KEPT" };
        for (size_t i = 0; i < ELEMENTSOF(hdr); i++)
                if ((r = table_addf(&choices, "%s", hdr[i])) < 0)
                        return r;
        static const char *const chdr[] = { "CHOICE", "NAME", "MODEL", "IOS", "DATE", "SIZE",
                                            "ENCRYPTED" };
        for (size_t i = 0; i < ELEMENTSOF(chdr); i++)
                if ((r = table_addf(&cands, "%s", chdr[i])) < 0)
                        return r;

        r = sd_bus_message_enter_container(reply, 'v', "a{sv}");
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(reply, "s", &key);
                if (r < 0)
                        break;
                if (strcmp(key, "items") == 0 &&
                    sd_bus_message_enter_container(reply, 'v', "a(tsssstt)") > 0) {
                        uint64_t id, size, created;
                        const char *cat, *scope, *p, *side;
                        char sz[FORMAT_BYTES_MAX];

                        r = sd_bus_message_enter_container(reply, 'a', "(tsssstt)");
                        while (r >= 0 && (r = sd_bus_message_read(reply, "(tsssstt)", &id, &cat,
                                                                  &scope, &p, &side, &size,
                                                                  &created)) > 0)
                                if ((r = table_addf(&items, "%" PRIu64, id)) < 0 ||
                                    (r = table_addf(&items, "%s", streq_ptr(side, "device") ?
                                                                  "device" : "computer")) < 0 ||
                                    (r = table_addf(&items, "%s", scope)) < 0 ||
                                    (r = table_addf(&items, "%s", format_bytes(sz, sizeof(sz),
                                                                               size))) < 0 ||
                                    (r = table_addf(&items, "%s", p)) < 0)
                                        break;
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else if (strcmp(key, "choices") == 0 &&
                           sd_bus_message_enter_container(reply, 'v', "a(sttttttt)") > 0) {
                        const char *choice;
                        uint64_t v[7];

                        r = sd_bus_message_enter_container(reply, 'a', "(sttttttt)");
                        while (r >= 0 && (r = sd_bus_message_read(reply, "(sttttttt)", &choice,
                                                                  &v[0], &v[1], &v[2], &v[3],
                                                                  &v[4], &v[5], &v[6])) > 0) {
                                r = table_addf(&choices, "%s", choice);
                                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(v); i++)
                                        r = table_addf(&choices, "%" PRIu64, v[i]);
                        }
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else if (strcmp(key, "candidates") == 0 &&
                           sd_bus_message_enter_container(reply, 'v', "a(ssssssttb)") > 0) {
                        /* restore-offer: one row per phone whose backup it offers. */
                        const char *udid, *name, *model, *ios, *snap, *choice;
                        uint64_t date, size;
                        int enc;
                        char sz[FORMAT_BYTES_MAX], ts[FORMAT_TIMESTAMP_MAX];

                        r = sd_bus_message_enter_container(reply, 'a', "(ssssssttb)");
                        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssssttb)", &udid,
                                                                  &name, &model, &ios, &snap,
                                                                  &choice, &date, &size,
                                                                  &enc)) > 0)
                                if ((r = table_addf(&cands, "%s", choice)) < 0 ||
                                    (r = table_addf(&cands, "%s", name)) < 0 ||
                                    (r = table_addf(&cands, "%s", model)) < 0 ||
                                    (r = table_addf(&cands, "%s", ios)) < 0 ||
                                    (r = table_addf(&cands, "%s", format_timestamp_usec(
                                                                          ts, sizeof(ts),
                                                                          date))) < 0 ||
                                    (r = table_addf(&cands, "%s", format_bytes(sz, sizeof(sz),
                                                                               size))) < 0 ||
                                    (r = table_addf(&cands, "%s", enc ? "yes" : "no")) < 0)
                                        break;
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                        if (r >= 0)
                                r = sd_bus_message_exit_container(reply);
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r < 0) {
                log_error("Failed to parse the request's details: %s", strerror(-r));
                return CLI_EXIT_FAILED;
        }
        if (items.n_cells > items.n_columns)
                table_print(&items);
        if (choices.n_cells > choices.n_columns)
                table_print(&choices);
        if (cands.n_cells > cands.n_columns)
                table_print(&cands);
        return 0;
}

/* requests [REQUEST]: one row per request, in the order of their numbers; or one in full. */
int verb_requests(int argc, char **argv) {
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_(strv_freep) char **paths = NULL;
        _cleanup_(table_done) Table t = { .n_columns = 4, .right = BIT(0) };
        int r;

        if (argc > 2) {
                log_error("'requests' takes at most one argument: REQUEST.");
                return CLI_EXIT_USAGE;
        }
        if (argc == 2) {
                _cleanup_free_ char *path = NULL;

                r = request_path_of(argv[1], &path);
                if (r != 0)
                        return r;
                r = bus_connect(&bus);
                if (r != 0)
                        return r;
                return show_request(bus, path);
        }
        r = bus_connect(&bus);
        if (r != 0)
                return r;
        r = list_requests(bus, false, &paths);
        if (r != 0)
                return r;
        if ((r = table_addf(&t, "REQUEST")) < 0 || (r = table_addf(&t, "DEVICE")) < 0 ||
            (r = table_addf(&t, "KIND")) < 0 || (r = table_addf(&t, "SUMMARY")) < 0)
                return r;
        for (char **p = paths; p && *p; p++) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                _cleanup_(request_info_done) RequestInfo info = {};
                _cleanup_free_ char *udid = NULL;

                r = read_request(bus, *p, &info, &error);
                if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT))
                        continue;               /* answered since ListRequests */
                if (r < 0)
                        return log_bus_error(&error, r, NULL, "Failed to read a request");
                if (!info.device ||
                    sd_bus_path_decode(info.device, BUS_PATH_DEVICE_PREFIX, &udid) <= 0)
                        udid = NULL;
                if ((r = table_addf(&t, "%s", request_number(*p))) < 0 ||
                    (r = table_addf(&t, "%s", udid ? udid : info.device ? info.device : "-")) < 0 ||
                    (r = table_addf(&t, "%s", info.kind ? info.kind : "-")) < 0 ||
                    (r = table_addf(&t, "%s", info.summary ? info.summary : "")) < 0)
                        return r;
        }
        if (t.n_cells == t.n_columns) {
                if (arg_legend)
                        printf("No requests.\n");
                return 0;
        }
        table_print(&t);
        return 0;
}

/* answer REQUEST CHOICE [ID…]: the IDs after the choice, and --items, name the items. */
int verb_answer(int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *call = NULL, *reply = NULL;
        _cleanup_(bus_closep) sd_bus *bus = NULL;
        _cleanup_free_ char *path = NULL;
        const char *req = argv[1];
        int r;

        r = request_path_of(req, &path);
        if (r != 0)
                return r;
        for (int i = 3; i < argc; i++)
                if (parse_items(argv[i]) < 0) {
                        _cleanup_free_ char *a = strdup_sanitized(argv[i]);

                        log_error("'%s' is not an item id.", a ? a : "?");
                        return CLI_EXIT_USAGE;
                }

        r = bus_connect(&bus);
        if (r != 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &call, BUS_NAME, path, BUS_IFACE_REQUEST,
                                           "Answer");
        if (r >= 0)
                r = sd_bus_message_append(call, "s", argv[2]);
        if (r >= 0)
                r = sd_bus_message_open_container(call, 'a', "{sv}");
        if (r >= 0 && arg_n_items > 0) {
                r = sd_bus_message_open_container(call, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(call, "s", "items");
                if (r >= 0)
                        r = sd_bus_message_open_container(call, 'v', "at");
                if (r >= 0)
                        r = sd_bus_message_append_array(call, 't', arg_items,
                                                        arg_n_items * sizeof(uint64_t));
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
                if (r >= 0)
                        r = sd_bus_message_close_container(call);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(call);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, call, 0, &error, &reply);
        if (sd_bus_error_has_name(&error, SD_BUS_ERROR_UNKNOWN_OBJECT)) {
                log_error("No request %s: it was answered already, or never existed "
                          "('idevicesync requests' lists them).", request_number(path));
                return CLI_EXIT_FAILED;
        }
        if (r < 0)
                return log_bus_error(&error, r, NULL, "Failed to answer");
        return CLI_EXIT_DONE;
}
