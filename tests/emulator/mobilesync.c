/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * com.apple.mobilesync, the device side: DeviceLink 400 and the SDMessage table of
 * sync-protocols.md §5, over the record store of mobilesync-store.c.
 *
 * One connection serves any number of data-class sessions one after another, until the
 * host sends DLMessageDisconnect or the stream ends. A session:
 *   host SyncDataClassWithDevice → device Refuse… (class not offered, tethered sync off,
 *   computer version too old) or SyncDataClassWithComputer (fast/slow/reset);
 *   then, in any order the host likes: GetAllRecords/GetChanges (device batches, each
 *   acknowledged, then DeviceReadyToReceiveChanges), ClearAllRecordsOnDevice
 *   (→ DeviceWillClearAllRecords), ProcessChanges from the host (→ RemapRecordIdentifiers
 *   after each batch), FinishSessionOnDevice (→ DeviceFinishedSession), CancelSession.
 * DLMessagePing is ignored wherever it comes. The store is saved after every step that
 * changes it, so a cable pulled anywhere leaves a consistent store, and the next session
 * is slow because the computer anchor is only committed at the finish.
 *
 * Decided here, not in any source [inferred]:
 *   - a record the host sends with an empty value (an empty dict, or a string such as ""
 *     or ___EmptyParameterString___) is a deletion; a fast sync reports a deletion on the
 *     device the same way, as an empty dict;
 *   - RemapRecordIdentifiers is sent after every host batch, with an empty dict when the
 *     batch made no new record;
 *   - a computer data-class version below the device's (106 Contacts, 107 Calendars) gets
 *     "Your computer's software is out of date…"; a higher one is accepted;
 *   - a host that answers the version exchange with anything but DLVersionsOk 400 is
 *     dropped without a word (what the client side of libimobiledevice does in reverse);
 *   - the refusal reasons for a class not offered or tethered sync turned off.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobilesync.h"

#define MS_BATCH 200u /* records per device → host ProcessChanges */

typedef struct MsSession {
        Conn *conn;
        const char *udid;
        const char *profile;
        const MsClass *cls;
        MsStore *store;
        MsSyncType type;
        char *computer_anchor;
        plist_t remap;     /* host id → device id, for the whole session */
        bool json_current; /* <class>.json written since the last change */
        bool db_current;   /* the backup's database rewritten since the last change */
} MsSession;

typedef enum {
        STEP_OK,
        STEP_END_SESSION, /* the host cancelled, or finished */
        STEP_DISCONNECT,  /* DLMessageDisconnect */
} StepResult;

static plist_t msg_new(const char *name, const char *dataclass) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(name));
        if (dataclass)
                plist_array_append_item(a, plist_new_string(dataclass));
        return a;
}

static int msg_send(Conn *c, plist_t msg) {
        _cleanup_(plist_freep) plist_t p = msg;

        return plistio_send(c, p, true);
}

static const char *msg_name(plist_t m) {
        return m && plist_get_node_type(m) == PLIST_ARRAY ? plist_str(plist_array_get_item(m, 0))
                                                          : NULL;
}

static const char *msg_arg_str(plist_t m, uint32_t i) {
        return plist_str(plist_array_get_item(m, i));
}

/* Receive the next message that is not a DLMessagePing. */
static int msg_recv(Conn *c, plist_t *ret) {
        for (;;) {
                plist_t m = NULL;
                const char *name;
                int r;

                r = plistio_recv(c, EMU_PLIST_MAX, &m);
                if (r < 0)
                        return r;
                name = msg_name(m);
                if (name && strcmp(name, "DLMessagePing") == 0) {
                        plist_free(m);
                        continue;
                }
                *ret = m;
                return 0;
        }
}

static bool is_empty_value(plist_t v) {
        const char *s;

        if (!v)
                return true;
        switch (plist_get_node_type(v)) {
        case PLIST_DICT:
                return plist_dict_get_size(v) == 0;
        case PLIST_STRING:
                s = plist_str(v);
                return !s || *s == '\0' || strcmp(s, MS_EMPTY) == 0;
        default:
                return false;
        }
}

static int version_exchange(Conn *c, const char *udid) {
        _cleanup_(plist_freep) plist_t reply = NULL;
        plist_t m = msg_new("DLMessageVersionExchange", NULL);
        const char *a, *b;
        uint64_t v = 0;
        int r;

        plist_array_append_item(m, plist_new_uint(MS_DL_VERSION));
        plist_array_append_item(m, plist_new_uint(0));
        r = msg_send(c, m);
        if (r < 0)
                return r;
        r = plistio_recv(c, EMU_PLIST_MAX, &reply);
        if (r < 0)
                return r;
        a = msg_name(reply);
        b = a ? msg_arg_str(reply, 1) : NULL;
        if (a && strcmp(a, "DLMessageDisconnect") == 0) {
                /* What Debian's mobilesync_client_new() (DeviceLink 300) does on seeing
                 * 400: it hangs up, and its caller gets MOBILESYNC_E_BAD_VERSION. */
                log_info("%s: mobilesync: host hung up at the version exchange", udid);
                return -ECONNABORTED;
        }
        if (plist_get_node_type(plist_array_get_item(reply, 2)) == PLIST_UINT)
                plist_get_uint_val(plist_array_get_item(reply, 2), &v);
        if (!a || !b || strcmp(a, "DLMessageVersionExchange") != 0 ||
            strcmp(b, "DLVersionsOk") != 0 || v != MS_DL_VERSION) {
                log_warn("%s: mobilesync: host did not accept DeviceLink %d ('%s', '%s', %" PRIu64
                         ")",
                         udid, MS_DL_VERSION, a ?: "", b ?: "", v);
                return -EPROTO;
        }
        return msg_send(c, msg_new("DLMessageDeviceReady", NULL));
}

static int send_refuse(MsSession *s, const char *dataclass, const char *reason) {
        plist_t m = msg_new("SDMessageRefuseToSyncDataClassWithComputer", dataclass);

        log_info("%s: mobilesync: refusing %s: %s", s->udid, dataclass, reason);
        plist_array_append_item(m, plist_new_string(reason));
        return msg_send(s->conn, m);
}

/* Is short_name in the comma-separated list? */
static bool list_has(const char *list, const char *short_name) {
        size_t n = strlen(short_name);

        for (const char *p = list; p && *p;) {
                const char *e = strchr(p, ',');
                size_t l = e ? (size_t) (e - p) : strlen(p);

                while (l > 0 && *p == ' ')
                        p++, l--;
                while (l > 0 && p[l - 1] == ' ')
                        l--;
                if (l == n && strncmp(p, short_name, n) == 0)
                        return true;
                p = e ? e + 1 : NULL;
        }
        return false;
}

/* ---- device → host ---------------------------------------------------------------------- */

/* Wait for the host's acknowledgement of one batch. STEP_OK, STEP_END_SESSION when it
 * cancelled, STEP_DISCONNECT, or < 0. */
static int wait_ack(MsSession *s) {
        _cleanup_(plist_freep) plist_t m = NULL;
        const char *name;
        int r;

        r = msg_recv(s->conn, &m);
        if (r < 0)
                return r;
        name = msg_name(m);
        if (name && strcmp(name, "SDMessageAcknowledgeChangesFromDevice") == 0)
                return STEP_OK;
        if (name && strcmp(name, "SDMessageCancelSession") == 0)
                return STEP_END_SESSION;
        if (name && strcmp(name, "DLMessageDisconnect") == 0)
                return STEP_DISCONNECT;
        log_warn("%s: mobilesync: expected SDMessageAcknowledgeChangesFromDevice, got '%s'",
                 s->udid, name ?: "(not a message)");
        return -EBADMSG;
}

static plist_t batch_msg(MsSession *s, plist_t records, bool more, plist_t entities, bool all) {
        plist_t m = msg_new("SDMessageProcessChanges", s->cls->name), actions = plist_new_dict();

        plist_array_append_item(m, records);
        plist_array_append_item(m, plist_new_bool(more));
        plist_dict_set_item(actions, "SyncDeviceLinkEntityNamesKey", entities);
        plist_dict_set_item(actions, "SyncDeviceLinkAllRecordsOfPulledEntityTypeSentKey",
                            plist_new_bool(all));
        plist_array_append_item(m, actions);
        return m;
}

static void entities_add(plist_t entities, const char *entity) {
        if (!entity)
                return;
        for (uint32_t i = 0; i < plist_array_get_size(entities); i++) {
                const char *x = plist_str(plist_array_get_item(entities, i));
                if (x && strcmp(x, entity) == 0)
                        return;
        }
        plist_array_append_item(entities, plist_new_string(entity));
}

/* Send every visible record (all) or the change log, MS_BATCH a message, parents first,
 * each batch acknowledged; an empty set is one empty batch. Then ReadyToReceiveChanges. */
static int send_records(MsSession *s, bool all) {
        plist_t src = all ? s->store->records : s->store->changes;
        char **ids = NULL;
        size_t n = 0, i = 0;
        int r;

        r = ms_store_sorted_ids(s->store, src, &ids, &n);
        if (r < 0)
                return r;
        if (!all) {
                /* The change log's ids sorted by the entity they had. */
                for (size_t a = 1; a < n; a++)
                        for (size_t b = a; b > 0; b--) {
                                const char *ea = plist_dict_str(
                                        plist_dict_get_item(src, ids[b - 1]), "Entity");
                                const char *eb =
                                        plist_dict_str(plist_dict_get_item(src, ids[b]), "Entity");
                                if (ms_entity_rank(s->cls, ea) <= ms_entity_rank(s->cls, eb))
                                        break;
                                char *t = ids[b - 1];
                                ids[b - 1] = ids[b];
                                ids[b] = t;
                        }
        }
        do {
                plist_t records = plist_new_dict(), entities = plist_new_array();
                size_t end = i + MS_BATCH < n ? i + MS_BATCH : n;

                for (; i < end; i++) {
                        plist_t rec = plist_dict_get_item(s->store->records, ids[i]);

                        if (all || rec) {
                                entities_add(entities, ms_record_entity(rec));
                                plist_dict_set_item(records, ids[i], plist_copy(rec));
                        } else {
                                /* Deleted on the device since the last sync. */
                                entities_add(
                                        entities,
                                        plist_dict_str(plist_dict_get_item(src, ids[i]), "Entity"));
                                plist_dict_set_item(records, ids[i], plist_new_dict());
                        }
                }
                r = msg_send(s->conn, batch_msg(s, records, i < n, entities, all));
                if (r >= 0)
                        r = wait_ack(s);
        } while (r == STEP_OK && i < n);
        ms_ids_free(ids, n);
        if (r != STEP_OK)
                return r;
        log_debug("%s: mobilesync: sent %zu %s of %s", s->udid, n, all ? "records" : "changes",
                  s->cls->name);
        r = msg_send(s->conn, msg_new("SDMessageDeviceReadyToReceiveChanges", s->cls->name));
        return r < 0 ? r : STEP_OK;
}

/* ---- host → device ---------------------------------------------------------------------- */

/* Replace link ids the host made up by the device ids they were given. */
static void remap_links(MsSession *s, plist_t rec) {
        static const char *const keys[] = {"contact", "owner", "calendar", "parent"};

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                plist_t a = plist_dict_get_item(rec, keys[k]);

                if (!a || plist_get_node_type(a) != PLIST_ARRAY)
                        continue;
                for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
                        const char *x = plist_str(plist_array_get_item(a, i));
                        const char *to = x ? plist_dict_str(s->remap, x) : NULL;

                        if (to)
                                plist_array_set_item(a, plist_new_string(to), i);
                }
        }
}

static int apply_host_changes(MsSession *s, plist_t msg) {
        plist_t records = plist_array_get_item(msg, 2), remapped = plist_new_dict();
        _cleanup_(plist_freep) plist_t reply = NULL;
        char **ids = NULL;
        size_t n = 0;
        unsigned added = 0, changed = 0, deleted = 0;
        int r = 0;

        reply = msg_new("SDMessageRemapRecordIdentifiers", s->cls->name);
        plist_array_append_item(reply, remapped);
        if (records && plist_get_node_type(records) == PLIST_DICT) {
                /* Parents first, so that children of this same batch can name them. A parsed
                 * dict is slow to search: work on a fast copy. */
                plist_t fast = ms_dict_rehash(records);

                plist_array_set_item(msg, fast, 2);
                records = fast;
                r = ms_store_sorted_ids(s->store, records, &ids, &n);
                if (r < 0)
                        return r;
        } else if (records && !is_empty_value(records)) {
                log_warn("%s: mobilesync: ProcessChanges without a record dict", s->udid);
                return -EBADMSG;
        }

        for (size_t i = 0; i < n && r >= 0; i++) {
                plist_t v = plist_dict_get_item(records, ids[i]);
                const char *entity = ms_record_entity(v);
                char id[21];

                if (is_empty_value(v)) {
                        const char *dev = plist_dict_str(s->remap, ids[i]) ?: ids[i];

                        r = ms_store_delete(s->store, dev, false);
                        deleted += r > 0;
                        continue;
                }
                if (plist_get_node_type(v) != PLIST_DICT || !ms_entity_valid(s->cls, entity)) {
                        log_warn("%s: mobilesync: record '%s' of unknown entity '%s' for %s",
                                 s->udid, ids[i], entity ?: "(none)", s->cls->name);
                        r = -EBADMSG;
                        break;
                }
                v = plist_copy(v);
                remap_links(s, v);
                if (plist_dict_get_item(s->store->records, ids[i])) {
                        r = ms_store_put(s->store, ids[i], v, false);
                        changed++;
                        continue;
                }
                r = ms_store_add(s->store, v, false, id);
                if (r < 0)
                        break;
                added++;
                plist_dict_set_item(remapped, ids[i], plist_new_string(id));
                plist_dict_set_item(s->remap, ids[i], plist_new_string(id));
        }
        ms_ids_free(ids, n);
        if (r < 0)
                return r;
        r = ms_store_save(s->store);
        if (r < 0)
                return r;
        log_debug("%s: mobilesync: host batch for %s: %u new, %u changed, %u deleted", s->udid,
                  s->cls->name, added, changed, deleted);
        return msg_send(s->conn, TAKE_PTR(reply));
}

/* ---- a session ---------------------------------------------------------------------------- */

/* The phone's backup holds what mobilesync wrote: rewrite its database of the class (a
 * no-op when the records did not change, or for Bookmarks). */
static int backupdb_refresh(MsSession *s) {
        if (!(s->cls->bit & (MS_CONTACTS | MS_CALENDARS)))
                return 0;
        return ms_backupdb_refresh(s->profile, s->cls->bit, false);
}

static int session_step(MsSession *s) {
        _cleanup_(plist_freep) plist_t m = NULL;
        const char *name;
        int r;

        r = msg_recv(s->conn, &m);
        if (r < 0)
                return r;
        name = msg_name(m);
        if (!name) {
                log_warn("%s: mobilesync: not a DeviceLink message", s->udid);
                return -EBADMSG;
        }
        if (strcmp(name, "DLMessageDisconnect") == 0)
                return STEP_DISCONNECT;
        if (strcmp(name, "SDMessageCancelSession") == 0) {
                log_info("%s: mobilesync: host cancelled %s: %s", s->udid, s->cls->name,
                         msg_arg_str(m, 2) ?: "");
                return STEP_END_SESSION;
        }
        if (strcmp(name, "SDMessageGetAllRecordsFromDevice") == 0)
                return send_records(s, true);
        if (strcmp(name, "SDMessageGetChangesFromDevice") == 0)
                /* Changes make sense only against matching anchors: else everything. */
                return send_records(s, s->type != MS_SYNC_FAST);
        if (strcmp(name, "SDMessageClearAllRecordsOnDevice") == 0) {
                ms_store_clear(s->store);
                r = ms_store_save(s->store);
                if (r < 0)
                        return r;
                r = msg_send(s->conn, msg_new("SDMessageDeviceWillClearAllRecords", s->cls->name));
                return r < 0 ? r : STEP_OK;
        }
        if (strcmp(name, "SDMessageProcessChanges") == 0) {
                r = apply_host_changes(s, m);
                return r < 0 ? r : STEP_OK;
        }
        if (strcmp(name, "SDMessageFinishSessionOnDevice") == 0) {
                ms_store_finish(s->store, s->computer_anchor);
                r = ms_store_save(s->store);
                if (r < 0)
                        return r;
                /* Before the answer: a test may read the JSON (and the backup's database)
                 * as soon as the host is done. */
                s->json_current = ms_store_write_json(s->store) >= 0;
                s->db_current = backupdb_refresh(s) >= 0;
                r = msg_send(s->conn, msg_new("SDMessageDeviceFinishedSession", s->cls->name));
                return r < 0 ? r : STEP_END_SESSION;
        }
        if (strcmp(name, "SDMessageAcknowledgeChangesFromDevice") == 0)
                return STEP_OK; /* a late duplicate: harmless */
        log_warn("%s: mobilesync: unexpected '%s' in a %s session", s->udid, name, s->cls->name);
        return -EBADMSG;
}

/* Answer SyncDataClassWithDevice and run the session. STEP_END_SESSION (the connection
 * goes on), STEP_DISCONNECT, or < 0 (the connection ends). */
static int session_run(Conn *c, const char *udid, const char *profile, plist_t msg) {
        const char *dataclass = msg_arg_str(msg, 1);
        const char *device_anchor = msg_arg_str(msg, 2);
        const char *computer_anchor = msg_arg_str(msg, 3);
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        _cleanup_(plist_freep) plist_t tethered = NULL;
        MsSession s = {.conn = c, .udid = udid, .profile = profile};
        plist_t vnode = plist_array_get_item(msg, 4), reply;
        MsGenOptions o = {};
        uint64_t version = 0;
        const char *anchor;
        int r;

        if (vnode && plist_get_node_type(vnode) == PLIST_UINT)
                plist_get_uint_val(vnode, &version);
        if (!dataclass || !computer_anchor)
                return send_refuse(&s, dataclass ?: "", "Invalid request");
        r = profile_read_info(profile, &info);
        if (r < 0)
                return r;
        s.cls = ms_class_lookup(dataclass);
        if (!s.cls || !list_has(info->sync_classes, s.cls->short_name)) {
                r = send_refuse(&s, dataclass, "This data class is not available on the device.");
                return r < 0 ? r : STEP_END_SESSION;
        }
        r = ms_tethered_get(profile, info->sync_disabled, &tethered);
        if (r < 0)
                return r;
        if (ms_tethered_disabled(tethered, s.cls)) {
                r = send_refuse(&s, dataclass,
                                "Syncing of this data class with a computer is turned off on "
                                "the device (tethered sync disabled).");
                return r < 0 ? r : STEP_END_SESSION;
        }
        if (version < s.cls->version) {
                r = send_refuse(&s, dataclass,
                                "Your computer's software is out of date. Please update and "
                                "try again!");
                return r < 0 ? r : STEP_END_SESSION;
        }

        o = (MsGenOptions){.seed = info->sync_seed,
                           .contacts = info->sync_contacts,
                           .events = info->sync_events,
                           .icloud = info->sync_icloud};
        r = ms_store_load(profile, s.cls, &o, &s.store);
        if (r < 0) {
                log_warn("%s: mobilesync: cannot load the %s store: %s", udid, dataclass,
                         strerror(-r));
                return r;
        }
        s.computer_anchor = strdup(computer_anchor);
        s.remap = plist_new_dict();
        if (!s.computer_anchor) {
                r = -ENOMEM;
                goto finish;
        }
        s.type = ms_store_sync_type(s.store, device_anchor, computer_anchor);
        anchor = ms_store_begin(s.store);
        r = ms_store_save(s.store);
        if (r < 0)
                goto finish;
        log_info("%s: mobilesync: %s session, %s", udid, dataclass, ms_sync_type_to_string(s.type));

        reply = msg_new("SDMessageSyncDataClassWithComputer", dataclass);
        plist_array_append_item(reply, plist_new_string(anchor));
        plist_array_append_item(reply, plist_new_string(computer_anchor));
        plist_array_append_item(reply, plist_new_string(ms_sync_type_to_string(s.type)));
        plist_array_append_item(reply, plist_new_uint(s.cls->version));
        plist_array_append_item(reply, plist_new_string(MS_EMPTY));
        r = msg_send(c, reply);
        while (r >= 0 && r != STEP_END_SESSION && r != STEP_DISCONNECT)
                r = session_step(&s);

finish:
        /* Ground truth for tests after every session, whichever way it ended. */
        if (!s.json_current)
                (void) ms_store_write_json(s.store);
        ms_store_free(s.store);
        /* A cut session leaves the records it committed in the store: the backup too. */
        if (!s.db_current)
                (void) backupdb_refresh(&s);
        free(s.computer_anchor);
        plist_free(s.remap);
        return r;
}

void serve_mobilesync(Conn *c, const ServiceCtx *ctx) {
        _cleanup_(freep) char *profile = NULL, *udid = NULL;

        emu_lock();
        profile = strdup(ctx->device->profile_dir);
        udid = strdup(ctx->device->udid);
        emu_unlock();
        if (!profile || !udid)
                return;

        if (version_exchange(c, udid) < 0)
                return;
        for (;;) {
                _cleanup_(plist_freep) plist_t m = NULL;
                const char *name;
                int r;

                if (msg_recv(c, &m) < 0)
                        return;
                name = msg_name(m);
                if (!name) {
                        log_warn("%s: mobilesync: not a DeviceLink message", udid);
                        return;
                }
                if (strcmp(name, "DLMessageDisconnect") == 0)
                        return;
                if (strcmp(name, "SDMessageSyncDataClassWithDevice") == 0) {
                        r = session_run(c, udid, profile, m);
                        if (r < 0 || r == STEP_DISCONNECT)
                                return;
                        continue;
                }
                /* A Cancel or Finish after a refusal: nothing is open, nothing to do. */
                log_debug("%s: mobilesync: '%s' outside a session, ignored", udid, name);
        }
}
