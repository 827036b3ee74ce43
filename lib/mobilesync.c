/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync, host side (sync-protocols.md §5): our own client because Debian 12's
 * libimobiledevice offers DeviceLink 300 for it and iOS ≥ 14 answers 400.
 *
 * The device is untrusted. Every reply is checked whole (name, data class, types, record
 * counts, sizes, nesting) before anything in it is used or handed to a callback, and
 * anything unexpected is IDS_E_PROTOCOL with a reason in m->dl.reason; after such a
 * failure the client only accepts mobilesync_cancel() and mobilesync_free(). Sources of
 * the message shapes: libimobiledevice src/mobilesync.c (the host's sends and the replies
 * it accepts) and users' traces in libimobiledevice issues #1030, #1194, #864.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libimobiledevice/lockdown.h>

#include "error.h"
#include "mobilesync.h"
#include "plist-util.h"
#include "util.h"

#define ENTITY_KEY "com.apple.syncservices.RecordEntityName"
#define ENTITY_NAMES_KEY "SyncDeviceLinkEntityNamesKey"
#define ALL_SENT_KEY "SyncDeviceLinkAllRecordsOfPulledEntityTypeSentKey"
#define TETHERED_DOMAIN "com.apple.mobile.tethered_sync"
#define ITUNES_DOMAIN "com.apple.mobile.iTunes"
#define NO_ANCHOR "---"                 /* the device anchor of a first sync */
#define DEFAULT_BATCH 500u

static const char *const sync_type_names[_MS_SYNC_TYPE_MAX] = {
        [MS_SYNC_FAST] = "fast",
        [MS_SYNC_SLOW] = "slow",
        [MS_SYNC_RESET] = "reset",
};

const char *ms_sync_type_to_string(MSSyncType t) {
        if (t < 0 || t >= _MS_SYNC_TYPE_MAX)
                return NULL;
        return sync_type_names[t];
}

const char *ms_outcome_to_string(int r) {
        switch (r) {
        case MS_REFUSED: return "refused";
        case MS_DEVICE_CANCELLED: return "device-cancelled";
        case MS_NOT_OFFERED: return "not-offered";
        case MS_TETHERED_DISABLED: return "tethered-disabled";
        case MS_EMPTY: return "empty";
        default: return NULL;
        }
}

uint64_t ms_class_version(const char *data_class) {
        if (data_class && strcmp(data_class, MS_CLASS_CALENDARS) == 0)
                return MS_VERSION_CALENDARS;
        return MS_VERSION_CONTACTS;
}

/* ---- preconditions --------------------------------------------------------------------- */

/* "com.apple.Contacts" → "Contacts": the class's key in the tethered_sync domain and its name in SyncDataClasses. */
static const char *tethered_key(const char *data_class) {
        if (strncmp(data_class, "com.apple.", 10) == 0 && data_class[10])
                return data_class + 10;
        return data_class;
}

int mobilesync_check_offered(Session *s, const char *data_class) {
        lockdownd_error_t le;
        plist_t v = NULL;
        bool found = false;
        uint32_t n;

        if (!s || !data_class)
                return -EINVAL;
        if (!s->lockdown)
                return -ENOTCONN;
        le = lockdownd_get_value(s->lockdown, ITUNES_DOMAIN, "SyncDataClasses", &v);
        if (le == LOCKDOWN_E_MISSING_VALUE || le == LOCKDOWN_E_MISSING_KEY ||
            (le == LOCKDOWN_E_SUCCESS && !v))
                return MS_NOT_OFFERED;          /* a device that lists nothing offers nothing */
        if (le != LOCKDOWN_E_SUCCESS)
                return lockdown_error_to_result(le);
        if (plist_get_node_type(v) != PLIST_ARRAY) {
                plist_free(v);
                return IDS_E_PROTOCOL;
        }
        n = plist_array_get_size(v);
        for (uint32_t i = 0; i < n && !found; i++) {
                plist_t item = plist_array_get_item(v, i);
                const char *name;

                if (plist_get_node_type(item) != PLIST_STRING)
                        continue;               /* one odd entry does not hide the others */
                name = plist_get_string_ptr(item, NULL);
                /* Devices list the short names ("Contacts", "Mail Accounts") [reported by
                 * users' ideviceinfo dumps]; the full name is accepted too. */
                found = name && (strcmp(name, data_class) == 0 ||
                                 strcmp(name, tethered_key(data_class)) == 0);
        }
        plist_free(v);
        return found ? 0 : MS_NOT_OFFERED;
}

static int tethered_domain(Session *s, plist_t *ret) {
        lockdownd_error_t le;
        plist_t v = NULL;

        if (!s->lockdown)
                return -ENOTCONN;
        le = lockdownd_get_value(s->lockdown, TETHERED_DOMAIN, NULL, &v);
        if (le == LOCKDOWN_E_MISSING_VALUE || le == LOCKDOWN_E_MISSING_KEY ||
            (le == LOCKDOWN_E_SUCCESS && !v)) {
                *ret = NULL;
                return 0;
        }
        if (le != LOCKDOWN_E_SUCCESS)
                return lockdown_error_to_result(le);
        if (plist_get_node_type(v) != PLIST_DICT) {
                plist_free(v);
                return IDS_E_PROTOCOL;
        }
        *ret = v;
        return 0;
}

bool ms_tethered_entry_disabled(plist_t entry) {
        plist_t d;
        uint8_t b = 1;
        uint64_t u = 1;

        if (!entry || plist_get_node_type(entry) != PLIST_DICT)
                return true;
        d = plist_dict_get_item(entry, "DisableTethered");
        if (!d)
                return true;
        if (plist_get_node_type(d) == PLIST_BOOLEAN) {
                plist_get_bool_val(d, &b);
                return b != 0;
        }
        if (plist_get_node_type(d) == PLIST_UINT) {
                plist_get_uint_val(d, &u);
                return u != 0;
        }
        return true;
}

int mobilesync_tethered_get(Session *s, const char *data_class, plist_t *ret_entry) {
        plist_t domain = NULL, entry;
        int r;

        if (!s || !data_class)
                return -EINVAL;
        r = tethered_domain(s, &domain);
        if (r != 0)
                return r;
        entry = domain ? plist_dict_get_item(domain, tethered_key(data_class)) : NULL;
        if (entry && plist_get_node_type(entry) != PLIST_DICT) {
                plist_free(domain);
                return IDS_E_PROTOCOL;
        }
        r = ms_tethered_entry_disabled(entry) ? MS_TETHERED_DISABLED : 0;
        if (ret_entry)
                *ret_entry = entry ? plist_copy(entry) : NULL;
        if (domain)
                plist_free(domain);
        return r;
}

int mobilesync_tethered_set(Session *s, const char *data_class, bool enabled,
                            plist_t *ret_previous) {
        plist_t previous = NULL, entry;
        lockdownd_error_t le;
        int r;

        r = mobilesync_tethered_get(s, data_class, &previous);
        if (r < 0 || (r > 0 && r != MS_TETHERED_DISABLED))
                return r;
        entry = previous ? plist_copy(previous) : plist_new_dict();
        plist_dict_set_item(entry, "DisableTethered", plist_new_bool(!enabled));
        if (!plist_dict_get_item(entry, "SyncingOS"))
                plist_dict_set_item(entry, "SyncingOS", plist_new_string("Linux"));
        /* lockdownd_set_value() takes the value. */
        le = lockdownd_set_value(s->lockdown, TETHERED_DOMAIN, tethered_key(data_class), entry);
        if (le != LOCKDOWN_E_SUCCESS) {
                if (previous)
                        plist_free(previous);
                return lockdown_error_to_result(le);
        }
        if (ret_previous)
                *ret_previous = previous;
        else if (previous)
                plist_free(previous);
        return 0;
}

int mobilesync_tethered_restore(Session *s, const char *data_class, plist_t previous) {
        lockdownd_error_t le;

        if (!s || !data_class)
                return -EINVAL;
        if (!s->lockdown)
                return -ENOTCONN;
        if (previous)
                le = lockdownd_set_value(s->lockdown, TETHERED_DOMAIN, tethered_key(data_class),
                                         plist_copy(previous));
        else
                le = lockdownd_remove_value(s->lockdown, TETHERED_DOMAIN,
                                            tethered_key(data_class));
        return lockdown_error_to_result(le);
}

/* ---- the client: connection ------------------------------------------------------------ */

static int client_new(MobileSync **ret) {
        MobileSync *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->dl.stream_fd = -1;
        *ret = m;
        return 0;
}

int mobilesync_open(Session *s, ids_cancel *cancel, unsigned timeout_s, MobileSync **ret) {
        MobileSync *m = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;
        r = client_new(&m);
        if (r < 0)
                return r;
        r = dl_conn_connect(&m->dl, s, MS_SERVICE_NAME, MS_DEVICELINK_MAJOR, cancel, timeout_s);
        if (r != 0) {
                ids_debug("mobilesync: open failed: %s", m->dl.reason);
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

int mobilesync_open_transport(const DLTransport *t, ids_cancel *cancel, unsigned timeout_s,
                              MobileSync **ret) {
        MobileSync *m = NULL;
        int r;

        if (!t || !ret)
                return -EINVAL;
        r = client_new(&m);
        if (r < 0)
                return r;
        dl_conn_init(&m->dl, t, cancel, timeout_s);
        r = dl_version_exchange(&m->dl, MS_DEVICELINK_MAJOR);
        if (r != 0) {
                free(m);
                return r;
        }
        *ret = m;
        return 0;
}

MobileSync *mobilesync_free(MobileSync *m) {
        if (!m)
                return NULL;
        dl_disconnect(&m->dl, "All done, thanks for the memories");
        dl_conn_done(&m->dl);
        free(m->data_class);
        free(m->device_reason);
        free(m);
        return NULL;
}

void ms_start_done(MSStart *r) {
        free(r->device_anchor);
        free(r->computer_anchor);
        memset(r, 0, sizeof(*r));
}

/* ---- checks ---------------------------------------------------------------------------- */

/* A string of bounded length, not the placeholder. */
static bool id_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, MS_MAX_ID_LEN + 1);
        return n > 0 && n <= MS_MAX_ID_LEN;
}

typedef struct CheckArgs {
        DLConn *c;
        unsigned depth;
} CheckArgs;

static int check_value(DLConn *c, plist_t v, unsigned depth);

static int check_member(const char *key, plist_t v, void *userdata) {
        const CheckArgs *a = userdata;

        (void) key;
        return check_value(a->c, v, a->depth);
}

static int check_value(DLConn *c, plist_t v, unsigned depth) {
        uint64_t len = 0;

        if (depth > MS_MAX_DEPTH)
                return dl_note(c, "a record value nests deeper than %u", MS_MAX_DEPTH),
                       IDS_E_PROTOCOL;
        switch (plist_get_node_type(v)) {
        case PLIST_STRING:
                (void) plist_get_string_ptr(v, &len);
                break;
        case PLIST_DATA:
                (void) plist_get_data_ptr(v, &len);
                break;
        case PLIST_BOOLEAN:
        case PLIST_UINT:
        case PLIST_REAL:
        case PLIST_DATE:
                return 0;
        case PLIST_ARRAY: {
                uint32_t n = plist_array_get_size(v);

                if (n > MS_MAX_ARRAY_ITEMS)
                        return dl_note(c, "a record array holds %u items", n), IDS_E_PROTOCOL;
                for (uint32_t i = 0; i < n; i++) {
                        int r = check_value(c, plist_array_get_item(v, i), depth + 1);

                        if (r != 0)
                                return r;
                }
                return 0;
        }
        case PLIST_DICT: {
                uint32_t n = plist_dict_get_size(v);

                if (n > MS_MAX_RECORD_FIELDS)
                        return dl_note(c, "a record dict holds %u keys", n), IDS_E_PROTOCOL;
                return plist_dict_foreach(v, check_member,
                                          &(CheckArgs) { .c = c, .depth = depth + 1 });
        }
        default:
                return dl_note(c, "a record holds a value of an unknown type"), IDS_E_PROTOCOL;
        }
        if (len > MS_MAX_VALUE_BYTES)
                return dl_note(c, "a record value of %llu bytes", (unsigned long long) len),
                       IDS_E_PROTOCOL;
        return 0;
}

/* The entity of a record value: its name, "" for a deletion (empty dict or the
 * placeholder string), NULL when the value is malformed (reason noted). */
static const char *record_entity(DLConn *c, plist_t v) {
        plist_t e;
        const char *name;

        if (plist_get_node_type(v) == PLIST_STRING) {
                name = plist_get_string_ptr(v, NULL);
                if (name && strcmp(name, DL_EMPTY) == 0)
                        return "";
                dl_note(c, "a record is a string");
                return NULL;
        }
        if (plist_get_node_type(v) != PLIST_DICT) {
                dl_note(c, "a record is not a dict");
                return NULL;
        }
        if (plist_dict_get_size(v) == 0)
                return "";
        e = plist_dict_get_item(v, ENTITY_KEY);
        if (!e || plist_get_node_type(e) != PLIST_STRING) {
                dl_note(c, "a record has no entity name");
                return NULL;
        }
        name = plist_get_string_ptr(e, NULL);
        if (!id_ok(name)) {
                dl_note(c, "a record's entity name is empty or too long");
                return NULL;
        }
        return name;
}

int ms_check_records(DLConn *c, plist_t records) {
        plist_dict_iter it = NULL;
        uint32_t n;
        int r = 0;

        if (!records || plist_get_node_type(records) != PLIST_DICT)
                return dl_note(c, "the records are not a dict"), IDS_E_PROTOCOL;
        n = plist_dict_get_size(records);
        if (n > MS_MAX_BATCH_RECORDS)
                return dl_note(c, "a batch of %u records (at most %u)", n, MS_MAX_BATCH_RECORDS),
                       IDS_E_PROTOCOL;
        /* libplist 2.2 aborts on a key with a NUL in it: screen before iterating. */
        if (!plist_dict_keys_safe(records))
                return dl_note(c, "a record id holds a NUL"), IDS_E_PROTOCOL;
        plist_dict_new_iter(records, &it);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;

                plist_dict_next_item(records, it, &key, &v);
                if (!v) {
                        free(key);
                        break;
                }
                if (!id_ok(key)) {
                        dl_note(c, "a record id is empty or too long");
                        r = IDS_E_PROTOCOL;
                } else if (!record_entity(c, v))
                        r = IDS_E_PROTOCOL;
                else if (plist_get_node_type(v) == PLIST_DICT)
                        r = check_value(c, v, 1);
                free(key);
                if (r != 0)
                        break;
        }
        free(it);
        return r;
}

/* Element 1 must be our data class. */
static int check_class(MobileSync *m, plist_t msg, const char *name) {
        const char *cls = dl_array_str(msg, 1);

        if (!cls || !m->data_class || strcmp(cls, m->data_class) != 0) {
                dl_note(&m->dl, "%s for another data class", name);
                return IDS_E_PROTOCOL;
        }
        return 0;
}

/* The device's SDMessageCancelSession: keep its reason. */
static int device_cancelled(MobileSync *m, plist_t msg) {
        const char *why = dl_array_str(msg, 2);

        free(m->device_reason);
        m->device_reason = strdup(why && id_ok(why) && strcmp(why, DL_EMPTY) != 0 ?
                                  why : "no reason given");
        dl_note(&m->dl, "the device cancelled the session: %s", m->device_reason ?: "");
        free(m->data_class);
        m->data_class = NULL;
        m->state = MS_STATE_IDLE;
        return MS_DEVICE_CANCELLED;
}

/* Receive the next message, expecting `want` for our class; the device's cancel and any
 * failure are returned, anything else is a protocol error. *ret: the message. */
static int expect(MobileSync *m, const char *want, plist_t *ret) {
        plist_t msg = NULL;
        const char *name;
        int r;

        r = dl_receive(&m->dl, &msg);
        if (r != 0)
                goto broken;
        name = dl_message_name(msg);
        if (strcmp(name, "SDMessageCancelSession") == 0) {
                r = device_cancelled(m, msg);
                plist_free(msg);
                return r;
        }
        if (strcmp(name, want) != 0) {
                dl_note(&m->dl, "expected %s, got %.64s", want, name);
                plist_free(msg);
                r = IDS_E_PROTOCOL;
                goto broken;
        }
        r = check_class(m, msg, name);
        if (r != 0) {
                plist_free(msg);
                goto broken;
        }
        *ret = msg;
        return 0;
broken:
        m->state = MS_STATE_BROKEN;
        return r;
}

static int send_simple(MobileSync *m, const char *name, size_t n, const char *const *args) {
        plist_t msg = dl_message_new(name, n, args);
        int r = dl_send(&m->dl, msg);

        plist_free(msg);
        if (r != 0)
                m->state = MS_STATE_BROKEN;
        return r;
}

/* ---- start ----------------------------------------------------------------------------- */

int ms_parse_start_reply(DLConn *c, plist_t msg, const char *data_class, MSStart *ret,
                         char **ret_reason) {
        const char *name = dl_message_name(msg), *cls, *anchor, *echo, *type;
        MSStart res = {};
        uint64_t version = 0;

        if (!name)
                return dl_note(c, "the start reply is no message"), IDS_E_PROTOCOL;
        cls = dl_array_str(msg, 1);
        if (strcmp(name, "SDMessageRefuseToSyncDataClassWithComputer") == 0 ||
            strcmp(name, "SDMessageCancelSession") == 0) {
                const char *why = dl_array_str(msg, 2);

                if (!cls || strcmp(cls, data_class) != 0)
                        return dl_note(c, "%s for another data class", name), IDS_E_PROTOCOL;
                if (ret_reason)
                        *ret_reason = strdup(why && id_ok(why) && strcmp(why, DL_EMPTY) != 0 ?
                                             why : "no reason given");
                return name[9] == 'R' ? MS_REFUSED : MS_DEVICE_CANCELLED;
        }
        if (strcmp(name, "SDMessageSyncDataClassWithComputer") != 0)
                return dl_note(c, "expected SDMessageSyncDataClassWithComputer, got %.64s", name),
                       IDS_E_PROTOCOL;
        if (!cls || strcmp(cls, data_class) != 0)
                return dl_note(c, "%s for another data class", name), IDS_E_PROTOCOL;
        anchor = dl_array_str(msg, 2);
        echo = dl_array_str(msg, 3);
        type = dl_array_str(msg, 4);
        if (!id_ok(anchor) || !id_ok(echo) || !type)
                return dl_note(c, "the start reply's anchors or sync type are missing"),
                       IDS_E_PROTOCOL;
        if (plist_array_get_size(msg) > 5 && dl_array_uint(msg, 5, &version) < 0)
                return dl_note(c, "the start reply's class version is not an integer"),
                       IDS_E_PROTOCOL;
        if (strcmp(type, "SDSyncTypeFast") == 0)
                res.type = MS_SYNC_FAST;
        else if (strcmp(type, "SDSyncTypeSlow") == 0)
                res.type = MS_SYNC_SLOW;
        else if (strcmp(type, "SDSyncTypeReset") == 0)
                res.type = MS_SYNC_RESET;
        else
                return dl_note(c, "unknown sync type %.64s", type), IDS_E_PROTOCOL;
        /* The placeholder is "no anchor" (seen after a reset, issue #1030). */
        res.device_anchor = strdup(strcmp(anchor, DL_EMPTY) == 0 ? "" : anchor);
        res.computer_anchor = strdup(strcmp(echo, DL_EMPTY) == 0 ? "" : echo);
        res.device_version = version;
        if (!res.device_anchor || !res.computer_anchor) {
                ms_start_done(&res);
                return -ENOMEM;
        }
        *ret = res;
        return 0;
}

int mobilesync_start(MobileSync *m, const char *data_class, const char *device_anchor,
                     const char *computer_anchor, MSStart *ret) {
        plist_t msg, reply = NULL;
        char *reason = NULL;
        int r;

        if (!m || !id_ok(data_class) || !id_ok(computer_anchor) || !ret ||
            (device_anchor && !id_ok(device_anchor)))
                return -EINVAL;
        if (m->state != MS_STATE_IDLE)
                return -EBUSY;
        msg = plist_new_array();
        plist_array_append_item(msg, plist_new_string("SDMessageSyncDataClassWithDevice"));
        plist_array_append_item(msg, plist_new_string(data_class));
        plist_array_append_item(msg, plist_new_string(device_anchor ?: NO_ANCHOR));
        plist_array_append_item(msg, plist_new_string(computer_anchor));
        plist_array_append_item(msg, plist_new_uint(ms_class_version(data_class)));
        plist_array_append_item(msg, plist_new_string(DL_EMPTY));
        r = dl_send(&m->dl, msg);
        plist_free(msg);
        if (r == 0)
                r = dl_receive(&m->dl, &reply);
        if (r != 0) {
                m->state = MS_STATE_BROKEN;
                return r;
        }
        r = ms_parse_start_reply(&m->dl, reply, data_class, ret, &reason);
        plist_free(reply);
        if (r == MS_REFUSED || r == MS_DEVICE_CANCELLED) {
                free(m->device_reason);
                m->device_reason = reason;
                ids_debug("mobilesync: %s %s: %s", data_class, ms_outcome_to_string(r),
                          reason ?: "");
                return r;                       /* idle: another class may be started */
        }
        if (r != 0) {
                m->state = MS_STATE_BROKEN;
                return r;
        }
        m->data_class = strdup(data_class);
        if (!m->data_class) {
                ms_start_done(ret);
                return -ENOMEM;
        }
        m->state = MS_STATE_STARTED;
        m->ready_to_receive = false;
        return 0;
}

int mobilesync_clear_all(MobileSync *m) {
        plist_t reply = NULL;
        int r;

        if (!m)
                return -EINVAL;
        if (m->state != MS_STATE_STARTED)
                return -EBUSY;
        r = send_simple(m, "SDMessageClearAllRecordsOnDevice", 2,
                        (const char *[]) { m->data_class, DL_EMPTY });
        if (r != 0)
                return r;
        r = expect(m, "SDMessageDeviceWillClearAllRecords", &reply);
        if (r != 0)
                return r;
        plist_free(reply);
        return 0;
}

/* ---- pull ------------------------------------------------------------------------------ */

static int hand_out(MobileSync *m, plist_t records, ms_record_fn fn, void *userdata) {
        plist_dict_iter it = NULL;
        int r = 0;

        plist_dict_new_iter(records, &it);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;
                const char *entity;

                plist_dict_next_item(records, it, &key, &v);
                if (!v) {
                        free(key);
                        break;
                }
                entity = record_entity(&m->dl, v);       /* checked: never NULL here */
                if (fn)
                        r = fn(key, entity ?: "", v, userdata);
                free(key);
                if (r < 0)
                        break;
                r = 0;
        }
        free(it);
        return r;
}

/* The actions of a batch: {EntityNames: [string…], AllRecordsSent: bool}, or the
 * placeholder, or absent. */
static int parse_actions(MobileSync *m, plist_t msg, bool *all_sent) {
        plist_t a = plist_array_get_size(msg) > 4 ? plist_array_get_item(msg, 4) : NULL;
        plist_t v;

        if (!a || plist_get_node_type(a) == PLIST_STRING)
                return 0;
        if (plist_get_node_type(a) != PLIST_DICT)
                return dl_note(&m->dl, "a batch's actions are not a dict"), IDS_E_PROTOCOL;
        v = plist_dict_get_item(a, ENTITY_NAMES_KEY);
        if (v && plist_get_node_type(v) != PLIST_ARRAY)
                return dl_note(&m->dl, "a batch's entity names are not an array"),
                       IDS_E_PROTOCOL;
        v = plist_dict_get_item(a, ALL_SENT_KEY);
        if (v && plist_get_node_type(v) == PLIST_BOOLEAN) {
                uint8_t b = 0;

                plist_get_bool_val(v, &b);
                *all_sent = b;
        }
        return 0;
}

int mobilesync_pull(MobileSync *m, bool all, ms_record_fn fn, void *userdata,
                    MSPullStats *ret) {
        MSPullStats st = {};
        int r;

        if (!m)
                return -EINVAL;
        if (m->state != MS_STATE_STARTED)
                return -EBUSY;
        r = send_simple(m, all ? "SDMessageGetAllRecordsFromDevice" :
                               "SDMessageGetChangesFromDevice", 1,
                        (const char *[]) { m->data_class });
        if (r != 0)
                return r;
        for (;;) {
                plist_t msg = NULL, records, more_node;
                uint8_t more = 0;
                uint32_t n;

                r = expect(m, "SDMessageProcessChanges", &msg);
                if (r != 0)
                        return r;
                records = plist_array_get_item(msg, 2);
                more_node = plist_array_get_item(msg, 3);
                if (!more_node || plist_get_node_type(more_node) != PLIST_BOOLEAN) {
                        dl_note(&m->dl, "a batch's \"more\" flag is not a boolean");
                        r = IDS_E_PROTOCOL;
                } else if (records && plist_get_node_type(records) == PLIST_STRING &&
                           strcmp(plist_get_string_ptr(records, NULL), DL_EMPTY) == 0)
                        records = NULL;         /* an empty batch */
                else
                        r = ms_check_records(&m->dl, records);
                if (r == 0)
                        r = parse_actions(m, msg, &st.all_sent);
                n = records ? plist_dict_get_size(records) : 0;
                if (r == 0 && m->session_records + n > MS_MAX_SESSION_RECORDS) {
                        dl_note(&m->dl, "more than %u records in one session",
                                MS_MAX_SESSION_RECORDS);
                        r = IDS_E_PROTOCOL;
                }
                if (r != 0) {
                        plist_free(msg);
                        m->state = MS_STATE_BROKEN;
                        return r;
                }
                plist_get_bool_val(more_node, &more);
                m->session_records += n;
                st.records += n;
                st.batches++;
                if (records)
                        r = hand_out(m, records, fn, userdata);
                plist_free(msg);
                if (r < 0) {
                        (void) mobilesync_cancel(m, "The computer stopped the sync");
                        return r;
                }
                r = send_simple(m, "SDMessageAcknowledgeChangesFromDevice", 1,
                                (const char *[]) { m->data_class });
                if (r != 0)
                        return r;
                if (!more)
                        break;
        }
        m->state = MS_STATE_PULLED;
        if (ret)
                *ret = st;
        return all && st.records == 0 ? MS_EMPTY : 0;
}

/* ---- push ------------------------------------------------------------------------------ */

plist_t ms_deletion_new(void) {
        return plist_new_dict();
}

bool ms_record_is_deletion(plist_t record) {
        return record && plist_get_node_type(record) == PLIST_DICT &&
               plist_dict_get_size(record) == 0;
}

/* SDMessageDeviceReadyToReceiveChanges, then our ping (as libimobiledevice does). */
static int wait_ready(MobileSync *m) {
        plist_t msg = NULL;
        int r;

        if (m->ready_to_receive)
                return 0;
        r = expect(m, "SDMessageDeviceReadyToReceiveChanges", &msg);
        if (r != 0)
                return r;
        plist_free(msg);
        m->ready_to_receive = true;
        return send_simple(m, "DLMessagePing", 1,
                           (const char *[]) { "Preparing to get changes for device" });
}

/* Check the device's remap against the batch we sent, then hand it out. */
static int read_remap(MobileSync *m, plist_t batch, ms_remap_fn fn, void *userdata) {
        plist_t msg = NULL, map;
        plist_dict_iter it = NULL;
        int r;

        r = expect(m, "SDMessageRemapRecordIdentifiers", &msg);
        if (r != 0)
                return r;
        map = plist_array_get_item(msg, 2);
        if (!map || (plist_get_node_type(map) == PLIST_STRING &&
                     strcmp(plist_get_string_ptr(map, NULL), DL_EMPTY) == 0)) {
                plist_free(msg);                /* nothing was renamed */
                return 0;
        }
        if (plist_get_node_type(map) != PLIST_DICT || !plist_dict_keys_safe(map) ||
            plist_dict_get_size(map) > plist_dict_get_size(batch)) {
                dl_note(&m->dl, "the remap is not a dict of our ids");
                r = IDS_E_PROTOCOL;
                goto out;
        }
        /* First check every pair, then hand them out: a bad map changes nothing. */
        for (int pass = 0; pass < 2 && r == 0; pass++) {
                plist_dict_new_iter(map, &it);
                for (;;) {
                        char *key = NULL;
                        plist_t v = NULL;
                        const char *dev;

                        plist_dict_next_item(map, it, &key, &v);
                        if (!v) {
                                free(key);
                                break;
                        }
                        dev = plist_get_node_type(v) == PLIST_STRING ?
                                plist_get_string_ptr(v, NULL) : NULL;
                        if (pass == 0 && (!id_ok(dev) || !plist_dict_get_item(batch, key))) {
                                dl_note(&m->dl, "the remap names an id we did not send or "
                                        "maps to something that is not an id");
                                r = IDS_E_PROTOCOL;
                        } else if (pass == 1 && fn)
                                r = fn(key, dev, userdata);
                        free(key);
                        if (r != 0)
                                break;
                }
                free(it);
                it = NULL;
        }
out:
        plist_free(msg);
        if (r == IDS_E_PROTOCOL)
                m->state = MS_STATE_BROKEN;
        return r;
}

static int check_push_record(const char *key, plist_t v, void *userdata) {
        (void) userdata;
        return !id_ok(key) || plist_get_node_type(v) != PLIST_DICT ? -EINVAL : 0;
}

static int check_push_records(plist_t records) {
        if (!records || plist_get_node_type(records) != PLIST_DICT ||
            !plist_dict_keys_safe(records))
                return -EINVAL;
        return plist_dict_foreach(records, check_push_record, NULL);
}

static int send_batch(MobileSync *m, plist_t batch, bool more, ms_remap_fn fn,
                      void *userdata) {
        plist_t msg, actions, names;
        plist_dict_iter it = NULL;
        int r;

        /* The entity names present, once each (what the device reads to know which
         * entities the batch touches [inferred from the actions the device sends]). */
        names = plist_new_array();
        plist_dict_new_iter(batch, &it);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL, e;
                bool seen = false;

                plist_dict_next_item(batch, it, &key, &v);
                free(key);
                if (!v)
                        break;
                e = plist_dict_get_item(v, ENTITY_KEY);
                if (!e || plist_get_node_type(e) != PLIST_STRING)
                        continue;
                for (uint32_t i = 0; i < plist_array_get_size(names) && !seen; i++)
                        seen = plist_compare_node_value(plist_array_get_item(names, i), e);
                if (!seen)
                        plist_array_append_item(names, plist_copy(e));
        }
        free(it);
        actions = plist_new_dict();
        plist_dict_set_item(actions, ENTITY_NAMES_KEY, names);
        plist_dict_set_item(actions, ALL_SENT_KEY, plist_new_bool(!more));

        msg = plist_new_array();
        plist_array_append_item(msg, plist_new_string("SDMessageProcessChanges"));
        plist_array_append_item(msg, plist_new_string(m->data_class));
        plist_array_append_item(msg, plist_copy(batch));
        plist_array_append_item(msg, plist_new_bool(more));
        plist_array_append_item(msg, actions);
        r = dl_send(&m->dl, msg);
        plist_free(msg);
        if (r != 0) {
                m->state = MS_STATE_BROKEN;
                return r;
        }
        return read_remap(m, batch, fn, userdata);
}

int mobilesync_push(MobileSync *m, plist_t records, bool last, unsigned batch_size,
                    ms_remap_fn fn, void *userdata) {
        plist_dict_iter it = NULL;
        plist_t batch;
        uint32_t total, sent = 0;
        int r;

        if (!m)
                return -EINVAL;
        if (m->state != MS_STATE_STARTED && m->state != MS_STATE_PULLED &&
            m->state != MS_STATE_PUSHING)
                return -EBUSY;
        r = check_push_records(records);
        if (r < 0)
                return r;
        if (batch_size == 0 || batch_size > MS_MAX_BATCH_RECORDS)
                batch_size = DEFAULT_BATCH;
        r = wait_ready(m);
        if (r != 0)
                return r;
        m->state = MS_STATE_PUSHING;

        total = plist_dict_get_size(records);
        batch = plist_new_dict();
        plist_dict_new_iter(records, &it);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;

                plist_dict_next_item(records, it, &key, &v);
                if (v) {
                        plist_dict_set_item(batch, key, plist_copy(v));
                        sent++;
                }
                free(key);
                /* Send when full, and at the end what is left (an empty push still sends
                 * one batch: "replace the computer's data" ends with an empty one). Only
                 * the final batch of the last push says "no more". */
                if (v && plist_dict_get_size(batch) >= batch_size)
                        r = send_batch(m, batch, sent < total || !last, fn, userdata);
                else if (!v && (plist_dict_get_size(batch) > 0 || total == 0))
                        r = send_batch(m, batch, !last, fn, userdata);
                else if (v)
                        continue;
                else
                        break;
                plist_free(batch);
                batch = plist_new_dict();
                if (r != 0 || !v)
                        break;
        }
        free(it);
        plist_free(batch);
        if (r < 0 && r != IDS_E_PROTOCOL && m->state != MS_STATE_BROKEN)
                (void) mobilesync_cancel(m, "The computer stopped the sync");
        return r;
}

/* ---- end ------------------------------------------------------------------------------- */

int mobilesync_finish(MobileSync *m) {
        plist_t msg = NULL;
        int r;

        if (!m)
                return -EINVAL;
        if (m->state != MS_STATE_STARTED && m->state != MS_STATE_PULLED &&
            m->state != MS_STATE_PUSHING)
                return -EBUSY;
        r = send_simple(m, "SDMessageFinishSessionOnDevice", 1,
                        (const char *[]) { m->data_class });
        if (r != 0)
                return r;
        for (;;) {
                const char *name;

                r = dl_receive(&m->dl, &msg);
                if (r != 0) {
                        m->state = MS_STATE_BROKEN;
                        return r;
                }
                name = dl_message_name(msg);
                /* After a pull without a push, the device's "ready to receive" is still
                 * on its way: it comes before the finish reply. */
                if (strcmp(name, "SDMessageDeviceReadyToReceiveChanges") == 0 &&
                    !m->ready_to_receive) {
                        m->ready_to_receive = true;
                        plist_free(msg);
                        continue;
                }
                break;
        }
        if (strcmp(dl_message_name(msg), "SDMessageCancelSession") == 0) {
                r = device_cancelled(m, msg);
                plist_free(msg);
                return r;
        }
        if (strcmp(dl_message_name(msg), "SDMessageDeviceFinishedSession") != 0) {
                dl_note(&m->dl, "expected SDMessageDeviceFinishedSession, got %.64s",
                        dl_message_name(msg));
                r = IDS_E_PROTOCOL;
        } else
                r = check_class(m, msg, "SDMessageDeviceFinishedSession");
        plist_free(msg);
        if (r != 0) {
                m->state = MS_STATE_BROKEN;
                return r;
        }
        free(m->data_class);
        m->data_class = NULL;
        m->state = MS_STATE_IDLE;
        return 0;
}

int mobilesync_cancel(MobileSync *m, const char *reason) {
        plist_t msg;
        int r;

        if (!m)
                return -EINVAL;
        if (!m->data_class)
                return 0;                       /* nothing started */
        msg = dl_message_new("SDMessageCancelSession", 2,
                             (const char *[]) { m->data_class,
                                                reason ?: "The computer cancelled the sync" });
        r = dl_send(&m->dl, msg);
        plist_free(msg);
        free(m->data_class);
        m->data_class = NULL;
        m->state = r == 0 ? MS_STATE_IDLE : MS_STATE_BROKEN;
        return r;
}
