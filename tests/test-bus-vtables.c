/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's three vtables (Manager, Device, Job) over an sd-bus socketpair peer, no
 * dbus-daemon and no device: a Manager made by manager_new() with one known Device (not
 * plugged in) and one Job (no helper) serves the objects the way manager_bus_setup()
 * registers them, on one end; a client bus on the other. Checked against the contract,
 * daemon/org.idevicesync1.xml: GetAll of each interface returns every property it lists,
 * with its signature, and no other; Introspect shows every method; ListDevices, ListJobs
 * and the object manager find the objects. Then the walls: a caller that is not root is
 * refused every mutating method (AccessDenied) but may read, and root's calls with bad
 * arguments get the named errors (InvalidArgs, NoSuchSnapshot, NoJob, NotConnected).
 *
 * The non-root caller is real: the socketpair is made with the effective uid of nobody
 * (SO_PEERCRED records it), so bus_check_root() sees what a dbus-daemon would report.
 */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "device.h"
#include "job.h"
#include "macro.h"
#include "manager.h"
#include "request.h"
#include "test-util.h"

#define UDID "00008030-000A1B2C3D4E5F60"
#define NOBODY 65534
#define CALL_TIMEOUT_USEC (10 * 1000000ull)
#define MAX_PROPS 64

/* ---- the contract ------------------------------------------------------------------- */

typedef struct Member {
        char name[64];
        char type[64];                          /* properties: the signature */
} Member;

typedef struct Interface {
        Member props[MAX_PROPS], methods[MAX_PROPS];
        size_t n_props, n_methods;
} Interface;

static char *read_contract(void) {
        const char *top = getenv("TOP");
        char path[4096];
        char *buf;
        FILE *f;
        long n;

        snprintf(path, sizeof(path), "%s/daemon/org.idevicesync1.xml", top && *top ? top : ".");
        f = fopen(path, "re");
        if (!f)
                return NULL;
        (void) fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = n > 0 ? calloc(1, (size_t) n + 1) : NULL;
        if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* The value of attr="…" in the element that starts at p (up to its '>'), into out. */
static bool xml_attr(const char *p, const char *attr, char *out, size_t size) {
        const char *end = strchr(p, '>'), *a, *q;
        char key[32];

        snprintf(key, sizeof(key), " %s=\"", attr);
        a = strstr(p, key);
        if (!end || !a || a > end)
                return false;
        a += strlen(key);
        q = strchr(a, '"');
        if (!q || (size_t) (q - a) >= size)
                return false;
        memcpy(out, a, (size_t) (q - a));
        out[q - a] = 0;
        return true;
}

/* The properties and methods the contract lists for interface name. */
static bool contract_interface(const char *xml, const char *name, Interface *ret) {
        char key[128];
        const char *start, *end;

        *ret = (Interface) {};
        snprintf(key, sizeof(key), "<interface name=\"%s\">", name);
        start = strstr(xml, key);
        if (!start)
                return false;
        end = strstr(start, "</interface>");
        if (!end)
                return false;
        for (const char *p = start; (p = strstr(p, "<property ")) && p < end; p++) {
                Member *m = &ret->props[ret->n_props];

                if (ret->n_props >= MAX_PROPS || !xml_attr(p, "name", m->name, sizeof(m->name)) ||
                    !xml_attr(p, "type", m->type, sizeof(m->type)))
                        return false;
                ret->n_props++;
        }
        for (const char *p = start; (p = strstr(p, "<method ")) && p < end; p++) {
                Member *m = &ret->methods[ret->n_methods];

                if (ret->n_methods >= MAX_PROPS ||
                    !xml_attr(p, "name", m->name, sizeof(m->name)))
                        return false;
                ret->n_methods++;
        }
        return ret->n_props + ret->n_methods > 0;
}

/* ---- the peer ------------------------------------------------------------------------ */

typedef struct Peer {
        sd_bus *server, *client;
} Peer;

static void peer_done(Peer *p) {
        p->client = sd_bus_flush_close_unref(p->client);
        p->server = sd_bus_flush_close_unref(p->server);
}

/* What manager_bus_setup() registers, on a server bus instead of the system bus. */
static int register_objects(sd_bus *bus, Manager *m) {
        int r;

        r = sd_bus_add_object_manager(bus, NULL, BUS_PATH_MANAGER);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, BUS_PATH_MANAGER, BUS_IFACE_MANAGER,
                                     manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(bus, NULL, BUS_PATH_DEVICE_PREFIX, BUS_IFACE_DEVICE,
                                       device_vtable, device_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(bus, NULL, BUS_PATH_DEVICE_PREFIX,
                                       device_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(bus, NULL, BUS_PATH_JOB_PREFIX, BUS_IFACE_JOB,
                                       job_vtable, job_object_find, m);
        if (r < 0)
                return r;
        r = sd_bus_add_node_enumerator(bus, NULL, BUS_PATH_JOB_PREFIX, job_node_enumerator, m);
        if (r < 0)
                return r;
        r = sd_bus_add_fallback_vtable(bus, NULL, BUS_PATH_REQUEST_PREFIX, BUS_IFACE_REQUEST,
                                       request_vtable, request_object_find, m);
        if (r < 0)
                return r;
        return sd_bus_add_node_enumerator(bus, NULL, BUS_PATH_REQUEST_PREFIX,
                                          request_node_enumerator, m);
}

/* The one request (a first-sync question of the device), made in main(). */
static const char *request_path;

/* A socketpair, its creator's credentials recorded by the kernel (SO_PEERCRED): as
 * nobody when unprivileged (and we are root), else as ourselves. 0 or -errno. */
static int make_socketpair(bool unprivileged, int fds[2]) {
        int r = 0;

        if (unprivileged && geteuid() == 0 && seteuid(NOBODY) < 0)
                return -errno;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) < 0)
                r = -errno;
        if (unprivileged && getuid() == 0 && seteuid(0) < 0)
                return -errno;
        return r;
}

static int peer_new(Manager *m, bool unprivileged, Peer *ret) {
        Peer p = {};
        sd_id128_t id;
        int fds[2], r;

        r = make_socketpair(unprivileged, fds);
        if (r < 0)
                return r;
        r = sd_id128_randomize(&id);
        if (r >= 0)
                r = sd_bus_new(&p.server);
        if (r >= 0)
                r = sd_bus_set_fd(p.server, fds[0], fds[0]);
        else
                close(fds[0]);
        if (r >= 0)
                r = sd_bus_set_server(p.server, 1, id);
        if (r >= 0)
                r = sd_bus_set_anonymous(p.server, 1);
        if (r >= 0)
                r = register_objects(p.server, m);
        if (r >= 0)
                r = sd_bus_start(p.server);
        if (r >= 0)
                r = sd_bus_new(&p.client);
        if (r >= 0)
                r = sd_bus_set_fd(p.client, fds[1], fds[1]);
        else
                close(fds[1]);
        if (r >= 0)
                r = sd_bus_set_anonymous(p.client, 1);
        if (r >= 0)
                r = sd_bus_start(p.client);
        if (r < 0) {
                peer_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

typedef struct Pending {
        sd_bus_message *reply;
        bool done;
} Pending;

static int on_reply(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Pending *p = userdata;

        p->reply = sd_bus_message_ref(msg);
        p->done = true;
        return 0;
}

/* Send msg from the client, serve it on the server, and return the reply (a method
 * return or an error message, owned by the caller); NULL if none came. One thread: the
 * two ends take turns. */
static sd_bus_message *call(Peer *p, sd_bus_message *msg) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        Pending pending = {};
        int r;

        r = sd_bus_call_async(p->client, &slot, msg, on_reply, &pending, CALL_TIMEOUT_USEC);
        if (r < 0)
                return NULL;
        for (int rounds = 0; !pending.done && rounds < 1000; rounds++) {
                int a = sd_bus_process(p->server, NULL), b;

                b = sd_bus_process(p->client, NULL);
                if (a < 0 || b < 0)
                        break;
                if (a == 0 && b == 0) {
                        struct pollfd pfd[2] = {
                                { .fd = sd_bus_get_fd(p->server),
                                  .events = (short) sd_bus_get_events(p->server) },
                                { .fd = sd_bus_get_fd(p->client),
                                  .events = (short) sd_bus_get_events(p->client) },
                        };

                        (void) poll(pfd, 2, 10);
                }
        }
        return pending.reply;
}

static sd_bus_message *callv(Peer *p, const char *path, const char *iface,
                             const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(p->client, &msg, NULL, path, iface, member);
        if (r < 0)
                return NULL;
        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(msg, types, ap);
                va_end(ap);
                if (r < 0)
                        return NULL;
        }
        return call(p, msg);
}

/* The error name of a reply, "" for a method return, "(none)" for no reply. */
static const char *error_of(sd_bus_message *reply) {
        const sd_bus_error *e;

        if (!reply)
                return "(none)";
        e = sd_bus_message_get_error(reply);
        return e ? e->name : "";
}

/* Call and check the error name ("" = success); the reply is dropped. */
#define ASSERT_CALL(expected, peer, path, iface, member, ...)                                 \
        do {                                                                                  \
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *_rep =                       \
                        callv(peer, path, iface, member, __VA_ARGS__);                        \
                const sd_bus_error *_err = _rep ? sd_bus_message_get_error(_rep) : NULL;      \
                                                                                              \
                if (strcmp(error_of(_rep), expected) != 0)                                    \
                        printf("FAIL: %s.%s on %s: %s (%s)\n", iface, member, path,           \
                               error_of(_rep), _err && _err->message ? _err->message : "");   \
                ASSERT_STREQ(error_of(_rep), expected);                                       \
        } while (0)

/* ---- the checks ----------------------------------------------------------------------- */

/* GetAll returns exactly the contract's properties, each with its signature. */
static void check_get_all(Peer *p, const char *path, const char *iface, const Interface *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool seen[MAX_PROPS] = {};
        size_t n = 0;
        int r;

        reply = callv(p, path, "org.freedesktop.DBus.Properties", "GetAll", "s", iface);
        ASSERT_STREQ(error_of(reply), "");
        if (!reply || sd_bus_message_is_method_error(reply, NULL))
                return;
        ASSERT_OK(r = sd_bus_message_enter_container(reply, 'a', "{sv}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *name, *sig = NULL;
                char type = 0;
                size_t i;

                ASSERT_OK(sd_bus_message_read(reply, "s", &name));
                ASSERT_OK(sd_bus_message_peek_type(reply, &type, &sig));
                ASSERT_EQ(type, 'v');
                for (i = 0; i < c->n_props; i++)
                        if (strcmp(c->props[i].name, name) == 0)
                                break;
                if (i == c->n_props)
                        printf("FAIL: %s.%s is not in the contract\n", iface, name);
                ASSERT_TRUE(i < c->n_props);
                if (i < c->n_props) {
                        if (!sig || strcmp(sig, c->props[i].type) != 0)
                                printf("FAIL: %s.%s has signature '%s', the contract says "
                                       "'%s'\n", iface, name, sig, c->props[i].type);
                        ASSERT_STREQ(sig, c->props[i].type);
                        ASSERT_TRUE(!seen[i]);
                        seen[i] = true;
                }
                n++;
                ASSERT_OK(sd_bus_message_skip(reply, "v"));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        ASSERT_OK(sd_bus_message_exit_container(reply));
        for (size_t i = 0; i < c->n_props; i++) {
                if (!seen[i])
                        printf("FAIL: GetAll of %s on %s lacks %s\n", iface, path,
                               c->props[i].name);
                ASSERT_TRUE(seen[i]);
        }
        ASSERT_EQ(n, c->n_props);
}

/* Introspect shows the interface and each of the contract's methods and properties. */
static void check_introspect(Peer *p, const char *path, const char *iface,
                             const Interface *c) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *xml = NULL, *start = NULL;
        char want[192];

        reply = callv(p, path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL);
        ASSERT_STREQ(error_of(reply), "");
        if (!reply || sd_bus_message_is_method_error(reply, NULL))
                return;
        ASSERT_OK(sd_bus_message_read(reply, "s", &xml));
        if (!xml)
                return;
        snprintf(want, sizeof(want), "<interface name=\"%s\">", iface);
        start = strstr(xml, want);
        ASSERT_TRUE(start != NULL);
        if (!start)
                return;
        for (size_t i = 0; i < c->n_methods; i++) {
                snprintf(want, sizeof(want), "<method name=\"%s\">", c->methods[i].name);
                if (!strstr(start, want))
                        printf("FAIL: Introspect of %s lacks %s.%s()\n", path, iface,
                               c->methods[i].name);
                ASSERT_TRUE(strstr(start, want) != NULL);
        }
        for (size_t i = 0; i < c->n_props; i++) {
                snprintf(want, sizeof(want), "<property name=\"%s\" type=\"%s\"",
                         c->props[i].name, c->props[i].type);
                ASSERT_TRUE(strstr(start, want) != NULL);
        }
}

/* A method returning "ao" lists exactly path. */
static void check_list(Peer *p, const char *member, const char *path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *got = NULL;

        reply = callv(p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, member, NULL);
        ASSERT_STREQ(error_of(reply), "");
        if (!reply || sd_bus_message_is_method_error(reply, NULL))
                return;
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "o"));
        ASSERT_EQ(sd_bus_message_read(reply, "o", &got), 1);
        ASSERT_STREQ(got, path);
        ASSERT_EQ(sd_bus_message_read(reply, "o", &got), 0);   /* only that one */
}

/* The object manager at the root announces the device and the job. */
static void check_managed_objects(Peer *p, const char *device, const char *job) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        bool have_device = false, have_job = false;
        const char *path;
        int r;

        reply = callv(p, BUS_PATH_MANAGER, "org.freedesktop.DBus.ObjectManager",
                      "GetManagedObjects", NULL);
        ASSERT_STREQ(error_of(reply), "");
        if (!reply || sd_bus_message_is_method_error(reply, NULL))
                return;
        ASSERT_OK(sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}"));
        while ((r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
                ASSERT_OK(sd_bus_message_read(reply, "o", &path));
                have_device |= strcmp(path, device) == 0;
                have_job |= strcmp(path, job) == 0;
                ASSERT_OK(sd_bus_message_skip(reply, "a{sa{sv}}"));
                ASSERT_OK(sd_bus_message_exit_container(reply));
        }
        ASSERT_OK(r);
        ASSERT_TRUE(have_device);
        ASSERT_TRUE(have_job);
}

static void check_contract(Peer *p, const char *xml, const char *device, const char *job) {
        static const struct {
                const char *iface;
                int object;             /* 0 manager, 1 device, 2 job */
        } objs[] = {
                { BUS_IFACE_MANAGER, 0 },
                { BUS_IFACE_DEVICE, 1 },
                { BUS_IFACE_JOB, 2 },
                { BUS_IFACE_REQUEST, 3 },
        };

        for (size_t i = 0; i < ELEMENTSOF(objs); i++) {
                const char *path = objs[i].object == 0 ? BUS_PATH_MANAGER :
                                   objs[i].object == 1 ? device :
                                   objs[i].object == 2 ? job : request_path;
                Interface c;

                ASSERT_TRUE(contract_interface(xml, objs[i].iface, &c));
                check_get_all(p, path, objs[i].iface, &c);
                check_introspect(p, path, objs[i].iface, &c);
        }
        check_list(p, "ListDevices", device);
        check_list(p, "ListJobs", job);
        check_list(p, "ListRequests", request_path);
        check_managed_objects(p, device, job);
        ASSERT_CALL("org.freedesktop.DBus.Error.UnknownObject", p,
                    BUS_PATH_REQUEST_PREFIX "/999", "org.freedesktop.DBus.Properties", "GetAll",
                    "s", BUS_IFACE_REQUEST);
        ASSERT_CALL("org.freedesktop.DBus.Error.UnknownObject", p,
                    BUS_PATH_DEVICE_PREFIX "/nope", "org.freedesktop.DBus.Properties", "GetAll",
                    "s", BUS_IFACE_DEVICE);
        ASSERT_CALL("org.freedesktop.DBus.Error.UnknownObject", p, BUS_PATH_JOB_PREFIX "/999",
                    "org.freedesktop.DBus.Properties", "GetAll", "s", BUS_IFACE_JOB);
}

/* Not root: every mutating method is refused before it looks at its arguments; reading
 * is allowed. */
static void check_unprivileged(Peer *p, const char *device, const char *job) {
        const char *denied = SD_BUS_ERROR_ACCESS_DENIED;

        ASSERT_CALL(denied, p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "Reload", NULL);
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "StartBackup", "a{sv}", 0);
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "StartSync", "a{sv}", 1, "dry-run",
                    "b", 1);
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "Cancel", NULL);
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "StartVerify", "s", "");
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "StartRestore", "ssa{sv}", "", UDID,
                    0);
        ASSERT_CALL(denied, p, device, BUS_IFACE_DEVICE, "DeleteSnapshot", "s", "x");
        ASSERT_CALL(denied, p, job, BUS_IFACE_JOB, "Cancel", NULL);
        ASSERT_CALL(denied, p, request_path, BUS_IFACE_REQUEST, "Answer", "sa{sv}", "merge", 0);
        ASSERT_CALL("", p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListRequests", NULL);
        ASSERT_CALL("", p, request_path, "org.freedesktop.DBus.Properties", "GetAll", "s",
                    BUS_IFACE_REQUEST);

        ASSERT_CALL("", p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListDevices", NULL);
        ASSERT_CALL("", p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "ListJobs", NULL);
        ASSERT_CALL("", p, device, "org.freedesktop.DBus.Properties", "Get", "ss",
                    BUS_IFACE_DEVICE, "State");
        ASSERT_CALL("", p, job, "org.freedesktop.DBus.Properties", "GetAll", "s",
                    BUS_IFACE_JOB);
}

/* Root, with arguments the methods must refuse. */
static void check_bad_arguments(Peer *p, const char *device, const char *job) {
        const char *invalid = SD_BUS_ERROR_INVALID_ARGS;

        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "StartSync", "a{sv}", 1, "bogus",
                    "b", 1);
        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "StartSync", "a{sv}", 1, "dry-run",
                    "s", "yes");
        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "StartBackup", "a{sv}", 1, "fast",
                    "b", 1);
        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "StartRestore", "ssa{sv}", "", UDID,
                    1, "reboot", "u", 1);
        /* Good options, but the device is not plugged in. */
        ASSERT_CALL(BUS_ERROR_NOT_CONNECTED, p, device, BUS_IFACE_DEVICE, "StartBackup",
                    "a{sv}", 1, "full", "b", 1);
        ASSERT_CALL(BUS_ERROR_NOT_CONNECTED, p, device, BUS_IFACE_DEVICE, "StartSync",
                    "a{sv}", 0);
        /* Snapshot names: none exists; a path or a dot name cannot be one. */
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "StartVerify",
                    "s", "20261124T153000Z");
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "StartVerify",
                    "s", "../../etc");
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "StartVerify",
                    "s", ".staging-1");
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "StartVerify",
                    "s", "");                           /* the latest: there is none */
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "DeleteSnapshot",
                    "s", "20261124T153000Z");
        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "DeleteSnapshot", "s", "");
        ASSERT_CALL(BUS_ERROR_NO_SUCH_SNAPSHOT, p, device, BUS_IFACE_DEVICE, "StartRestore",
                    "ssa{sv}", "nope", UDID, 0);
        /* Cancel with nothing running on the device (the Job below is not its job). */
        ASSERT_CALL(BUS_ERROR_NO_JOB, p, device, BUS_IFACE_DEVICE, "Cancel", NULL);
        /* A wrong signature never reaches the handler. */
        ASSERT_CALL(invalid, p, device, BUS_IFACE_DEVICE, "StartVerify", "u", 1);
        ASSERT_CALL("org.freedesktop.DBus.Error.UnknownMethod", p, device, BUS_IFACE_DEVICE,
                    "StartTeleport", NULL);
        /* Answers the request does not have: nothing changes. */
        ASSERT_CALL(invalid, p, request_path, BUS_IFACE_REQUEST, "Answer", "sa{sv}",
                    "approve", 0);
        ASSERT_CALL(invalid, p, request_path, BUS_IFACE_REQUEST, "Answer", "sa{sv}", "merge",
                    1, "items", "at", 1, UINT64_C(1));
        ASSERT_CALL(invalid, p, request_path, BUS_IFACE_REQUEST, "Answer", "sa{sv}", "merge",
                    1, "bogus", "b", 1);
        ASSERT_CALL(invalid, p, request_path, BUS_IFACE_REQUEST, "Answer", "s", "merge");
        ASSERT_CALL("", p, request_path, "org.freedesktop.DBus.Properties", "Get", "ss",
                    BUS_IFACE_REQUEST, "Kind");
        /* Root may cancel the job (it has no helper, so this only records the word). */
        ASSERT_CALL("", p, job, BUS_IFACE_JOB, "Cancel", NULL);
        ASSERT_CALL("", p, BUS_PATH_MANAGER, BUS_IFACE_MANAGER, "Reload", NULL);
}

static void on_job_event(Job *j, void *userdata) {
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) remove(path);
        return 0;
}

int main(void) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *xml = read_contract();
        char dir[] = "/tmp/test-bus-vtables-XXXXXX";
        JobCallbacks cb = { .progress = on_job_event, .finished = on_job_event };
        Peer root = {}, nobody = {};
        Device *d = NULL;
        Job *j = NULL;

        if (!xml) {
                printf("FAIL: cannot read daemon/org.idevicesync1.xml (run from the top)\n");
                return 1;
        }
        if (!mkdtemp(dir)) {
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }
        /* No configuration, no usbmuxd, no udev, no system bus: only the tables. */
        (void) setenv("CONFIGURATION_DIRECTORY", dir, 1);
        ASSERT_OK(manager_new(&m));
        if (!m)
                return test_exit_status();
        m->state_dir = strdup(dir);
        ASSERT_TRUE(m->state_dir != NULL);
        ASSERT_OK(manager_add_device(m, UDID, &d));
        ASSERT_TRUE(d != NULL);
        if (!d)
                return test_exit_status();
        ASSERT_OK(job_new(m, JOB_VERIFY, true, d->udid, d->path, &cb, &j));
        ASSERT_TRUE(j != NULL && j->path != NULL);
        if (!j)
                return test_exit_status();
        {
                Request *q = NULL;

                ASSERT_OK(request_new(m, d, REQUEST_FIRST_SYNC, "documents", 0, 0, &q));
                if (!q)
                        return test_exit_status();
                request_path = q->path;
        }

        ASSERT_OK(peer_new(m, false, &root));
        if (root.client)
                check_contract(&root, xml, d->path, j->path);
        if (geteuid() == 0) {
                if (root.client)
                        check_bad_arguments(&root, d->path, j->path);
                ASSERT_OK(peer_new(m, true, &nobody));
                if (nobody.client)
                        check_unprivileged(&nobody, d->path, j->path);
        } else if (root.client) {
                /* Not root ourselves: every caller here is refused, so the checks of the
                 * arguments (which come after the caller's) cannot run. */
                printf("not root: the argument checks are left out\n");
                check_unprivileged(&root, d->path, j->path);
        }

        peer_done(&nobody);
        peer_done(&root);
        m = manager_free(m);
        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
