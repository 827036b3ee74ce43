/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * com.apple.mobilesync against the emulator, from the host side.
 *
 * First Debian's own client: libimobiledevice 1.3.0's mobilesync_client_new() speaks
 * DeviceLink 300 and must fail with MOBILESYNC_E_BAD_VERSION, as it does against a real
 * iOS ≥ 14 phone. Then a minimal DeviceLink 400 client of this file's own, on the exported
 * property_list_service (what sync-protocols.md §5 says a working host must do), drives
 * whole sessions and checks what the device says against its store file.
 *
 *   conf-mobilesync UDID PROFILE STATE badversion
 *   conf-mobilesync UDID PROFILE STATE sync CLASS TYPE [PUSH_N [DELETE_ID]]
 *        a session with the anchors kept in STATE.CLASS; TYPE (fast, slow, reset) is the
 *        sync type the device must answer; every record (or change) received must equal
 *        the store's; PUSH_N new records are sent and must come back remapped; DELETE_ID
 *        is sent with an empty value and must be gone. Prints "received N".
 *   conf-mobilesync UDID PROFILE STATE cut CLASS     a session that ends mid-GetAll
 *   conf-mobilesync UDID PROFILE STATE clearcut CLASS  ClearAll, then the stream ends
 *   conf-mobilesync UDID PROFILE STATE pushcut CLASS N  pushes N records, then the stream ends
 *   conf-mobilesync UDID PROFILE STATE cancel CLASS OTHER_CLASS
 *        cancels a session, then syncs OTHER_CLASS (slow) on the same connection
 *   conf-mobilesync UDID PROFILE STATE refuse CLASS VERSION SUBSTRING
 *   conf-mobilesync UDID PROFILE STATE oldversion    host answers DeviceLink 300
 *   conf-mobilesync UDID PROFILE STATE tethered SHORT_CLASS yes|no
 *        lockdown SetValue com.apple.mobile.tethered_sync SHORT_CLASS {DisableTethered},
 *        then GetValue must show it
 */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>
#include <libimobiledevice/mobilesync.h>
#include <libimobiledevice/property_list_service.h>
#include <plist/plist.h>

#include "conf.h"

#define EMPTY "___EmptyParameterString___"

static idevice_t device;
static const char *profile, *state;

static plist_t msg(const char *name, const char *cls) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(name));
        if (cls)
                plist_array_append_item(a, plist_new_string(cls));
        return a;
}

static void send_msg(property_list_service_client_t c, plist_t m) {
        CHECK(property_list_service_send_binary_plist(c, m) == PROPERTY_LIST_SERVICE_E_SUCCESS,
              "send");
        plist_free(m);
}

static plist_t recv_msg(property_list_service_client_t c) {
        plist_t m = NULL;
        property_list_service_error_t e =
                property_list_service_receive_plist_with_timeout(c, &m, 30000);

        CHECK(e == PROPERTY_LIST_SERVICE_E_SUCCESS && m, "receive: %d", e);
        CHECK(plist_get_node_type(m) == PLIST_ARRAY, "not an array");
        return m;
}

static const char *str_at(plist_t m, uint32_t i) {
        plist_t n = plist_array_get_item(m, i);
        static char buf[4][4096];
        static int k;
        char *s = NULL;

        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        plist_get_string_val(n, &s);
        k = (k + 1) % 4;
        snprintf(buf[k], sizeof(buf[k]), "%s", s);
        free(s);
        return buf[k];
}

static void expect_name(plist_t m, const char *name) {
        const char *n = str_at(m, 0);

        CHECK(n && strcmp(n, name) == 0, "expected %s, got %s", name, n ?: "(none)");
}

static property_list_service_client_t connect_ms(void) {
        lockdownd_client_t lck = NULL;
        lockdownd_service_descriptor_t svc = NULL;
        property_list_service_client_t c = NULL;

        CHECK(lockdownd_client_new_with_handshake(device, &lck, "conf-mobilesync") ==
                      LOCKDOWN_E_SUCCESS,
              "lockdown");
        CHECK(lockdownd_start_service(lck, "com.apple.mobilesync", &svc) == LOCKDOWN_E_SUCCESS,
              "StartService");
        CHECK(svc->ssl_enabled, "mobilesync must be TLS");
        CHECK(property_list_service_client_new(device, svc, &c) == PROPERTY_LIST_SERVICE_E_SUCCESS,
              "connect");
        lockdownd_service_descriptor_free(svc);
        lockdownd_client_free(lck);
        return c;
}

/* DeviceLink version exchange: the device offers 400, 0; we answer host_major. */
static property_list_service_client_t dl_connect(uint64_t host_major) {
        property_list_service_client_t c = connect_ms();
        plist_t m = recv_msg(c), a;
        uint64_t major = 0, minor = 1;

        expect_name(m, "DLMessageVersionExchange");
        plist_get_uint_val(plist_array_get_item(m, 1), &major);
        plist_get_uint_val(plist_array_get_item(m, 2), &minor);
        CHECK(major == 400 && minor == 0, "device version %" PRIu64 ".%" PRIu64, major, minor);
        plist_free(m);
        a = msg("DLMessageVersionExchange", "DLVersionsOk");
        plist_array_append_item(a, plist_new_uint(host_major));
        send_msg(c, a);
        if (host_major != 400)
                return c;
        m = recv_msg(c);
        expect_name(m, "DLMessageDeviceReady");
        plist_free(m);
        return c;
}

static void dl_disconnect(property_list_service_client_t c) {
        plist_t m = msg("DLMessageDisconnect", NULL);

        plist_array_append_item(m, plist_new_string("All done, thanks for the memories"));
        send_msg(c, m);
        property_list_service_client_free(c);
}

static uint64_t class_version(const char *cls) {
        return strcmp(cls, "com.apple.Calendars") == 0 ? 107 : 106;
}

static plist_t rehash(plist_t dict) {
        plist_t d = plist_new_dict();
        plist_dict_iter it = NULL;

        if (!dict)
                return d;
        plist_dict_new_iter(dict, &it);
        for (;;) {
                plist_t v = NULL;
                char *key = NULL;

                plist_dict_next_item(dict, it, &key, &v);
                if (!key)
                        break;
                plist_dict_set_item(d, key, plist_copy(v));
                free(key);
        }
        free(it);
        return d;
}

/* The store file the device keeps: read directly, as the ground truth. */
static plist_t read_store(const char *cls) {
        char path[4096];
        FILE *f;
        char *buf;
        long n;
        plist_t p = NULL;

        snprintf(path, sizeof(path), "%s/mobilesync/%s.plist", profile, cls);
        f = fopen(path, "rb");
        CHECK(f, "open %s", path);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = malloc((size_t) n);
        CHECK(buf && fread(buf, 1, (size_t) n, f) == (size_t) n, "read %s", path);
        fclose(f);
        plist_from_memory(buf, (uint32_t) n, &p);
        free(buf);
        CHECK(p, "parse %s", path);
        /* libplist 2.2 searches a parsed dict linearly; one built item by item has a hash
         * table. Rebuild the big ones. */
        plist_dict_set_item(p, "Records", rehash(plist_dict_get_item(p, "Records")));
        plist_dict_set_item(p, "Changes", rehash(plist_dict_get_item(p, "Changes")));
        return p;
}

static void anchor_path(const char *cls, char *buf, size_t n) {
        snprintf(buf, n, "%s.%s", state, cls);
}

static char *load_anchor(const char *cls) {
        char path[4096], line[512] = "";
        FILE *f;

        anchor_path(cls, path, sizeof(path));
        f = fopen(path, "r");
        if (!f)
                return strdup("---");
        if (!fgets(line, sizeof(line), f))
                line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\n")] = '\0';
        return strdup(line[0] ? line : "---");
}

static void save_anchor(const char *cls, const char *anchor) {
        char path[4096];
        FILE *f;

        anchor_path(cls, path, sizeof(path));
        f = fopen(path, "w");
        CHECK(f, "write %s", path);
        fprintf(f, "%s\n", anchor);
        fclose(f);
}

/* Send SyncDataClassWithDevice, return the device's answer. */
static plist_t start(property_list_service_client_t c, const char *cls, const char *danchor,
                     uint64_t version) {
        plist_t m = msg("SDMessageSyncDataClassWithDevice", cls);

        plist_array_append_item(m, plist_new_string(danchor));
        plist_array_append_item(m, plist_new_string("computer-anchor-1"));
        plist_array_append_item(m, plist_new_uint(version));
        plist_array_append_item(m, plist_new_string(EMPTY));
        send_msg(c, m);
        return recv_msg(c);
}

/* Receive device batches until more = false, acknowledging each; the records merged into
 * *ret. Returns the number of records. */
static unsigned receive_all(property_list_service_client_t c, const char *cls, plist_t *ret,
                            bool ack_last) {
        plist_t all = plist_new_dict();
        unsigned batches = 0;

        for (;;) {
                plist_t m = recv_msg(c), recs, morep, actions;
                plist_dict_iter it = NULL;
                uint8_t more = 1;

                expect_name(m, "SDMessageProcessChanges");
                CHECK(strcmp(str_at(m, 1), cls) == 0, "class");
                recs = plist_array_get_item(m, 2);
                morep = plist_array_get_item(m, 3);
                actions = plist_array_get_item(m, 4);
                CHECK(recs && plist_get_node_type(recs) == PLIST_DICT, "records dict");
                CHECK(morep && plist_get_node_type(morep) == PLIST_BOOLEAN, "more bool");
                CHECK(actions && plist_get_node_type(actions) == PLIST_DICT &&
                              plist_dict_get_item(actions, "SyncDeviceLinkEntityNamesKey"),
                      "actions dict");
                plist_get_bool_val(morep, &more);
                plist_dict_new_iter(recs, &it);
                for (;;) {
                        char *k = NULL;
                        plist_t v = NULL;

                        plist_dict_next_item(recs, it, &k, &v);
                        if (!k)
                                break;
                        CHECK(!plist_dict_get_item(all, k), "record %s sent twice", k);
                        plist_dict_set_item(all, k, plist_copy(v));
                        free(k);
                }
                free(it);
                plist_free(m);
                batches++;
                if (!more && !ack_last)
                        break;
                m = msg("SDMessageAcknowledgeChangesFromDevice", cls);
                send_msg(c, m);
                if (!more)
                        break;
                /* A ping in between must not upset the device. */
                if (batches == 1) {
                        m = msg("DLMessagePing", NULL);
                        plist_array_append_item(m, plist_new_string("still here"));
                        send_msg(c, m);
                }
        }
        *ret = all;
        return plist_dict_get_size(all);
}

static unsigned dict_count(plist_t d) {
        return d ? plist_dict_get_size(d) : 0;
}

static plist_t new_record(const char *cls, unsigned k, const char *parent) {
        plist_t r = plist_new_dict(), a;
        char buf[64];

        if (strcmp(cls, "com.apple.Contacts") == 0) {
                if (!parent) {
                        plist_dict_set_item(r, "com.apple.syncservices.RecordEntityName",
                                            plist_new_string("com.apple.contacts.Contact"));
                        plist_dict_set_item(r, "display as company", plist_new_string("person"));
                        snprintf(buf, sizeof(buf), "Hôst %u", k);
                        plist_dict_set_item(r, "first name", plist_new_string(buf));
                        plist_dict_set_item(r, "last name", plist_new_string("Pushé"));
                        return r;
                }
                plist_dict_set_item(r, "com.apple.syncservices.RecordEntityName",
                                    plist_new_string("com.apple.contacts.Phone Number"));
                plist_dict_set_item(r, "value", plist_new_string("+49 30 1234567"));
                plist_dict_set_item(r, "type", plist_new_string("mobile"));
                a = plist_new_array();
                plist_array_append_item(a, plist_new_string(parent));
                plist_dict_set_item(r, "contact", a);
                return r;
        }
        if (!parent) {
                plist_dict_set_item(r, "com.apple.syncservices.RecordEntityName",
                                    plist_new_string("com.apple.calendars.Calendar"));
                plist_dict_set_item(r, "title", plist_new_string("Host calendar"));
                return r;
        }
        plist_dict_set_item(r, "com.apple.syncservices.RecordEntityName",
                            plist_new_string("com.apple.calendars.Event"));
        snprintf(buf, sizeof(buf), "Host event %u", k);
        plist_dict_set_item(r, "summary", plist_new_string(buf));
        plist_dict_set_item(r, "start date", plist_new_date(800000000, 0));
        plist_dict_set_item(r, "end date", plist_new_date(800003600, 0));
        a = plist_new_array();
        plist_array_append_item(a, plist_new_string(parent));
        plist_dict_set_item(r, "calendar", a);
        return r;
}

static plist_t process_changes(property_list_service_client_t c, const char *cls, plist_t recs,
                               bool more) {
        plist_t m = msg("SDMessageProcessChanges", cls), reply, map;

        plist_array_append_item(m, recs);
        plist_array_append_item(m, plist_new_bool(more));
        plist_array_append_item(m, plist_new_string(EMPTY));
        send_msg(c, m);
        reply = recv_msg(c);
        expect_name(reply, "SDMessageRemapRecordIdentifiers");
        map = plist_copy(plist_array_get_item(reply, 2));
        CHECK(map && plist_get_node_type(map) == PLIST_DICT, "remap dict");
        plist_free(reply);
        return map;
}

static const char *dict_str(plist_t d, const char *key) {
        plist_t n = plist_dict_get_item(d, key);
        static char buf[2][1024];
        static int k;
        char *s = NULL;

        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        plist_get_string_val(n, &s);
        k = (k + 1) % 2;
        snprintf(buf[k], sizeof(buf[k]), "%s", s);
        free(s);
        return buf[k];
}

static int cmd_sync(const char *cls, const char *want_type, unsigned push, const char *del) {
        property_list_service_client_t c = dl_connect(400);
        char *danchor = load_anchor(cls);
        plist_t m = start(c, cls, danchor, class_version(cls)), got = NULL, store, recs, changes;
        char new_anchor[512];
        const char *type;
        unsigned n;

        expect_name(m, "SDMessageSyncDataClassWithComputer");
        CHECK(strcmp(str_at(m, 1), cls) == 0, "class echo");
        snprintf(new_anchor, sizeof(new_anchor), "%s", str_at(m, 2));
        CHECK(strcmp(str_at(m, 3), "computer-anchor-1") == 0, "computer anchor echo");
        type = str_at(m, 4);
        CHECK(type && strcasecmp(type + strlen("SDSyncType"), want_type) == 0,
              "sync type %s, wanted %s", type ?: "(none)", want_type);
        plist_free(m);

        /* What the device must send: the store as it stands now (read before any push). */
        store = read_store(cls);
        recs = plist_dict_get_item(store, "Records");
        changes = plist_dict_get_item(store, "Changes");
        send_msg(c, msg(strcmp(want_type, "fast") == 0 ? "SDMessageGetChangesFromDevice"
                                                       : "SDMessageGetAllRecordsFromDevice",
                        cls));
        n = receive_all(c, cls, &got, true);
        if (strcmp(want_type, "fast") == 0)
                CHECK(n == dict_count(changes), "%u changes received, %u in the log", n,
                      dict_count(changes));
        else
                CHECK(n == dict_count(recs), "%u records received, %u visible in the store", n,
                      dict_count(recs));
        {
                plist_dict_iter it = NULL;

                plist_dict_new_iter(got, &it);
                for (;;) {
                        char *k = NULL;
                        plist_t v = NULL, want;

                        plist_dict_next_item(got, it, &k, &v);
                        if (!k)
                                break;
                        want = plist_dict_get_item(recs, k);
                        if (plist_dict_get_size(v) == 0)
                                CHECK(!want, "record %s sent as deleted but still stored", k);
                        else {
                                char *x1 = NULL, *x2 = NULL;
                                uint32_t l1 = 0, l2 = 0;

                                CHECK(want, "record %s not in the store", k);
                                plist_to_xml(v, &x1, &l1);
                                plist_to_xml(want, &x2, &l2);
                                CHECK(l1 == l2 && memcmp(x1, x2, l1) == 0,
                                      "record %s differs from the store", k);
                                free(x1);
                                free(x2);
                        }
                        free(k);
                }
                free(it);
        }
        printf("received %u\n", n);
        m = recv_msg(c);
        expect_name(m, "SDMessageDeviceReadyToReceiveChanges");
        plist_free(m);
        m = msg("DLMessagePing", NULL);
        plist_array_append_item(m, plist_new_string("Preparing to get changes for device"));
        send_msg(c, m);

        if (push) {
                /* Parents first, then children naming the parents' host ids: the device
                 * must remap those links too. Two batches. */
                plist_t parents = plist_new_dict(), children = plist_new_dict(), map1, map2;
                char hid[64], cid[64];

                for (unsigned k = 0; k < push; k++) {
                        snprintf(hid, sizeof(hid), "host/%u", k);
                        plist_dict_set_item(parents, hid, new_record(cls, k, NULL));
                }
                map1 = process_changes(c, cls, parents, true);
                CHECK(dict_count(map1) == push, "remap of %u, sent %u", dict_count(map1), push);
                for (unsigned k = 0; k < push; k++) {
                        snprintf(hid, sizeof(hid), "host/%u", k);
                        snprintf(cid, sizeof(cid), "host/%u/3", k);
                        plist_dict_set_item(children, cid, new_record(cls, k, hid));
                }
                map2 = process_changes(c, cls, children, del != NULL);
                CHECK(dict_count(map2) == push, "remap of children");
                plist_free(store);
                store = read_store(cls);
                recs = plist_dict_get_item(store, "Records");
                for (unsigned k = 0; k < push; k++) {
                        const char *pid, *chid;
                        plist_t child, link;

                        snprintf(hid, sizeof(hid), "host/%u", k);
                        snprintf(cid, sizeof(cid), "host/%u/3", k);
                        pid = dict_str(map1, hid);
                        chid = dict_str(map2, cid);
                        CHECK(pid && chid && strtoul(pid, NULL, 10) > 0, "numeric device ids");
                        CHECK(plist_dict_get_item(recs, pid), "pushed parent %s stored", pid);
                        child = plist_dict_get_item(recs, chid);
                        CHECK(child, "pushed child %s stored", chid);
                        link = plist_dict_get_item(child, strcmp(cls, "com.apple.Contacts") == 0
                                                                  ? "contact"
                                                                  : "calendar");
                        CHECK(link && strcmp(str_at(link, 0), pid) == 0,
                              "child %s links to %s, not the remapped %s", chid,
                              str_at(link, 0) ?: "?", pid);
                }
                plist_free(map1);
                plist_free(map2);
        }
        if (del) {
                plist_t d = plist_new_dict(), map;

                plist_dict_set_item(d, del, plist_new_dict());
                map = process_changes(c, cls, d, false);
                CHECK(dict_count(map) == 0, "a deletion remaps nothing");
                plist_free(map);
                plist_free(store);
                store = read_store(cls);
                CHECK(!plist_dict_get_item(plist_dict_get_item(store, "Records"), del),
                      "record %s not deleted", del);
        }

        send_msg(c, msg("SDMessageFinishSessionOnDevice", cls));
        m = recv_msg(c);
        expect_name(m, "SDMessageDeviceFinishedSession");
        plist_free(m);
        dl_disconnect(c);
        save_anchor(cls, new_anchor);
        plist_free(store);
        plist_free(got);
        free(danchor);
        return 0;
}

static int cmd_cut(const char *cls, bool clear) {
        property_list_service_client_t c = dl_connect(400);
        char *danchor = load_anchor(cls);
        plist_t m = start(c, cls, danchor, class_version(cls)), got = NULL;

        expect_name(m, "SDMessageSyncDataClassWithComputer");
        plist_free(m);
        if (clear) {
                send_msg(c, msg("SDMessageClearAllRecordsOnDevice", cls));
                m = recv_msg(c);
                expect_name(m, "SDMessageDeviceWillClearAllRecords");
                plist_free(m);
        } else {
                send_msg(c, msg("SDMessageGetAllRecordsFromDevice", cls));
                /* Read the first batch, never acknowledge it, hang up. */
                m = recv_msg(c);
                expect_name(m, "SDMessageProcessChanges");
                plist_free(m);
        }
        property_list_service_client_free(c);
        plist_free(got);
        free(danchor);
        return 0;
}

static int cmd_pushcut(const char *cls, unsigned n) {
        property_list_service_client_t c = dl_connect(400);
        char *danchor = load_anchor(cls);
        plist_t m = start(c, cls, danchor, class_version(cls)), got = NULL, recs, map;
        char hid[64];

        expect_name(m, "SDMessageSyncDataClassWithComputer");
        plist_free(m);
        /* GetChanges in a slow session: the device sends everything. */
        send_msg(c, msg("SDMessageGetChangesFromDevice", cls));
        receive_all(c, cls, &got, true);
        m = recv_msg(c);
        expect_name(m, "SDMessageDeviceReadyToReceiveChanges");
        plist_free(m);
        recs = plist_new_dict();
        for (unsigned k = 0; k < n; k++) {
                snprintf(hid, sizeof(hid), "cut/%u", k);
                plist_dict_set_item(recs, hid, new_record(cls, k, NULL));
        }
        map = process_changes(c, cls, recs, true);
        CHECK(dict_count(map) == n, "remap");
        plist_free(map);
        property_list_service_client_free(c);
        plist_free(got);
        free(danchor);
        return 0;
}

static int cmd_cancel(const char *cls, const char *other) {
        property_list_service_client_t c = dl_connect(400);
        plist_t m = start(c, cls, "---", class_version(cls)), got = NULL;

        expect_name(m, "SDMessageSyncDataClassWithComputer");
        plist_free(m);
        m = msg("SDMessageCancelSession", cls);
        plist_array_append_item(m, plist_new_string("The user cancelled"));
        send_msg(c, m);
        m = start(c, other, "---", class_version(other));
        expect_name(m, "SDMessageSyncDataClassWithComputer");
        CHECK(strcmp(str_at(m, 4), "SDSyncTypeFast") != 0, "fast without anchors");
        plist_free(m);
        send_msg(c, msg("SDMessageGetAllRecordsFromDevice", other));
        printf("received %u\n", receive_all(c, other, &got, true));
        m = recv_msg(c);
        expect_name(m, "SDMessageDeviceReadyToReceiveChanges");
        plist_free(m);
        send_msg(c, msg("SDMessageFinishSessionOnDevice", other));
        m = recv_msg(c);
        expect_name(m, "SDMessageDeviceFinishedSession");
        plist_free(m);
        dl_disconnect(c);
        plist_free(got);
        return 0;
}

static int cmd_refuse(const char *cls, uint64_t version, const char *substring) {
        property_list_service_client_t c = dl_connect(400);
        plist_t m = start(c, cls, "---", version);

        expect_name(m, "SDMessageRefuseToSyncDataClassWithComputer");
        CHECK(strcmp(str_at(m, 1), cls) == 0, "class echo");
        CHECK(str_at(m, 2) && strstr(str_at(m, 2), substring), "reason '%s' lacks '%s'",
              str_at(m, 2) ?: "", substring);
        printf("refused: %s\n", str_at(m, 2));
        plist_free(m);
        dl_disconnect(c);
        return 0;
}

static int cmd_badversion(void) {
        mobilesync_client_t ms = NULL;
        lockdownd_client_t lck = NULL;
        lockdownd_service_descriptor_t svc = NULL;
        mobilesync_error_t e;
        plist_t v = NULL;

        CHECK(lockdownd_client_new_with_handshake(device, &lck, "conf-mobilesync") ==
                      LOCKDOWN_E_SUCCESS,
              "lockdown");
        CHECK(lockdownd_get_value(lck, "com.apple.mobile.iTunes", "SyncDataClasses", &v) ==
                              LOCKDOWN_E_SUCCESS &&
                      v && plist_get_node_type(v) == PLIST_ARRAY,
              "SyncDataClasses");
        plist_free(v);
        v = NULL;
        CHECK(lockdownd_get_value(lck, "com.apple.mobile.tethered_sync", NULL, &v) ==
                              LOCKDOWN_E_SUCCESS &&
                      v && plist_get_node_type(v) == PLIST_DICT &&
                      plist_dict_get_item(v, "Contacts"),
              "tethered_sync domain");
        plist_free(v);
        CHECK(lockdownd_start_service(lck, "com.apple.mobilesync", &svc) == LOCKDOWN_E_SUCCESS,
              "StartService");
        e = mobilesync_client_new(device, svc, &ms);
        printf("mobilesync_client_new: %d\n", e);
        CHECK(e == MOBILESYNC_E_BAD_VERSION,
              "Debian's DeviceLink 300 client got %d, not "
              "MOBILESYNC_E_BAD_VERSION",
              e);
        CHECK(!ms, "no client on failure");
        lockdownd_service_descriptor_free(svc);
        lockdownd_client_free(lck);
        return 0;
}

/* A host that answers DLVersionsOk with 300: the device hangs up. */
static int cmd_oldversion(void) {
        property_list_service_client_t c = dl_connect(300);
        plist_t m = NULL;
        property_list_service_error_t e =
                property_list_service_receive_plist_with_timeout(c, &m, 10000);

        CHECK(e != PROPERTY_LIST_SERVICE_E_SUCCESS, "device went on after DeviceLink 300");
        property_list_service_client_free(c);
        return 0;
}

static int cmd_tethered(const char *short_class, bool disable) {
        lockdownd_client_t lck = NULL;
        plist_t v = plist_new_dict(), got = NULL, d;
        uint8_t b = !disable;

        CHECK(lockdownd_client_new_with_handshake(device, &lck, "conf-mobilesync") ==
                      LOCKDOWN_E_SUCCESS,
              "lockdown");
        plist_dict_set_item(v, "DisableTethered", plist_new_bool(disable));
        plist_dict_set_item(v, "SyncingOS", plist_new_string("Linux"));
        CHECK(lockdownd_set_value(lck, "com.apple.mobile.tethered_sync", short_class, v) ==
                      LOCKDOWN_E_SUCCESS,
              "SetValue");
        CHECK(lockdownd_get_value(lck, "com.apple.mobile.tethered_sync", NULL, &got) ==
                      LOCKDOWN_E_SUCCESS,
              "GetValue");
        d = plist_dict_get_item(got, short_class);
        CHECK(d && plist_dict_get_item(d, "DisableTethered"), "no %s entry", short_class);
        plist_get_bool_val(plist_dict_get_item(d, "DisableTethered"), &b);
        CHECK(b == disable, "DisableTethered not stored");
        plist_free(got);
        lockdownd_client_free(lck);
        return 0;
}

int main(int argc, char **argv) {
        const char *cmd;
        int r;

        if (argc < 5) {
                fprintf(stderr, "usage: conf-mobilesync UDID PROFILE STATE COMMAND [ARGS]\n");
                return 2;
        }
        /* TLS teardown on a stream the device closed must not kill us. */
        signal(SIGPIPE, SIG_IGN);
        profile = argv[2];
        state = argv[3];
        cmd = argv[4];
        CHECK(idevice_new_with_options(&device, argv[1], IDEVICE_LOOKUP_USBMUX) ==
                      IDEVICE_E_SUCCESS,
              "no device %s", argv[1]);
        if (strcmp(cmd, "badversion") == 0)
                r = cmd_badversion();
        else if (strcmp(cmd, "oldversion") == 0)
                r = cmd_oldversion();
        else if (strcmp(cmd, "sync") == 0 && argc >= 7)
                r = cmd_sync(argv[5], argv[6], argc > 7 ? (unsigned) atoi(argv[7]) : 0,
                             argc > 8 ? argv[8] : NULL);
        else if (strcmp(cmd, "tethered") == 0 && argc >= 7)
                r = cmd_tethered(argv[5], strcmp(argv[6], "yes") == 0);
        else if (strcmp(cmd, "cut") == 0 && argc >= 6)
                r = cmd_cut(argv[5], false);
        else if (strcmp(cmd, "clearcut") == 0 && argc >= 6)
                r = cmd_cut(argv[5], true);
        else if (strcmp(cmd, "pushcut") == 0 && argc >= 7)
                r = cmd_pushcut(argv[5], (unsigned) atoi(argv[6]));
        else if (strcmp(cmd, "cancel") == 0 && argc >= 7)
                r = cmd_cancel(argv[5], argv[6]);
        else if (strcmp(cmd, "refuse") == 0 && argc >= 8)
                r = cmd_refuse(argv[5], strtoull(argv[6], NULL, 10), argv[7]);
        else {
                fprintf(stderr, "bad command\n");
                r = 2;
        }
        idevice_free(device);
        return r;
}
