/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/mobilesync.c and lib/dl-message.c: a scripted device (a queue of the
 * messages it will send, and a log of what the host sent) plays every message of
 * sync-protocols.md §5, then hostile variants — wrong types, missing fields, other data
 * classes, huge batches, deep nesting, ids that are not strings — which must all end as
 * IDS_E_PROTOCOL (never a crash, never a callback with half a batch).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "dl-message.h"
#include "macro.h"
#include "mobilesync.h"
#include "test-util.h"

#define E DL_EMPTY

static plist_t load_bin(const char *path) {
        char buf[4096];
        plist_t p = NULL;
        size_t n;
        FILE *f = fopen(path, "rbe");

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        plist_from_bin(buf, (uint32_t) n, &p);
        return p;
}

typedef struct Fake {
        plist_t queue[16];                      /* the device's next messages, owned */
        uint32_t n, next;
        bool pinging;                           /* when the queue is empty: ping forever */
        plist_t sent;                           /* array: what the host sent */
        bool silent;                            /* receive times out instead of EOF */
} Fake;

static int fake_send(void *userdata, plist_t msg) {
        Fake *f = userdata;

        plist_array_append_item(f->sent, plist_copy(msg));
        return 0;
}

static int fake_receive(void *userdata, plist_t *ret, unsigned timeout_ms) {
        Fake *f = userdata;

        if (f->next >= f->n && f->pinging) {
                plist_t p = plist_new_array();

                plist_array_append_item(p, plist_new_string("DLMessagePing"));
                *ret = p;
                return 0;
        }
        if (f->next >= f->n)
                return f->silent ? -EAGAIN : IDS_E_DISCONNECTED;
        *ret = f->queue[f->next];              /* handed over, as a receive does */
        f->queue[f->next++] = NULL;
        return 0;
}

static void fake_init(Fake *f) {
        memset(f, 0, sizeof(*f));
        f->sent = plist_new_array();
}

static void fake_done(Fake *f) {
        for (uint32_t i = 0; i < f->n; i++)
                if (f->queue[i])
                        plist_free(f->queue[i]);
        plist_free(f->sent);
}

/* Queue a device message written as XML-ish shorthand: an array built by the caller. */
static void q(Fake *f, plist_t msg) {
        if (f->n < ELEMENTSOF(f->queue))
                f->queue[f->n++] = msg;
        else
                plist_free(msg);
}

/* [name, str…] with NULL-terminated string arguments. */
static plist_t msg_s(const char *name, ...) {
        plist_t a = plist_new_array();
        va_list ap;
        const char *s;

        plist_array_append_item(a, plist_new_string(name));
        va_start(ap, name);
        while ((s = va_arg(ap, const char *)))
                plist_array_append_item(a, plist_new_string(s));
        va_end(ap);
        return a;
}

static plist_t version_msg(uint64_t major, uint64_t minor) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string("DLMessageVersionExchange"));
        plist_array_append_item(a, plist_new_uint(major));
        plist_array_append_item(a, plist_new_uint(minor));
        return a;
}

static void q_hello(Fake *f) {
        q(f, version_msg(400, 0));
        q(f, msg_s("DLMessageDeviceReady", NULL));
}

static plist_t start_reply(const char *cls, const char *type) {
        plist_t a = msg_s("SDMessageSyncDataClassWithComputer", cls, "dev-2", "comp-2", type,
                          NULL);

        plist_array_append_item(a, plist_new_uint(106));
        plist_array_append_item(a, plist_new_string(E));
        return a;
}

static plist_t contact(const char *first) {
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, "com.apple.syncservices.RecordEntityName",
                            plist_new_string("com.apple.contacts.Contact"));
        plist_dict_set_item(d, "first name", plist_new_string(first));
        plist_dict_set_item(d, "display as company", plist_new_string("person"));
        return d;
}

static plist_t phone(const char *parent, const char *value) {
        plist_t d = plist_new_dict(), link = plist_new_array();

        plist_dict_set_item(d, "com.apple.syncservices.RecordEntityName",
                            plist_new_string("com.apple.contacts.Phone Number"));
        plist_dict_set_item(d, "value", plist_new_string(value));
        plist_dict_set_item(d, "type", plist_new_string("mobile"));
        plist_array_append_item(link, plist_new_string(parent));
        plist_dict_set_item(d, "contact", link);
        return d;
}

static plist_t batch_msg(const char *cls, plist_t records, bool more) {
        plist_t a = msg_s("SDMessageProcessChanges", cls, NULL), actions = plist_new_dict();

        plist_array_append_item(a, records);
        plist_array_append_item(a, plist_new_bool(more));
        plist_dict_set_item(actions, "SyncDeviceLinkEntityNamesKey", plist_new_array());
        plist_dict_set_item(actions, "SyncDeviceLinkAllRecordsOfPulledEntityTypeSentKey",
                            plist_new_bool(!more));
        plist_array_append_item(a, actions);
        return a;
}

static const char *sent_name(Fake *f, uint32_t i) {
        return dl_array_str(plist_array_get_item(f->sent, i), 0);
}

static const char *sent_str(Fake *f, uint32_t i, uint32_t j) {
        return dl_array_str(plist_array_get_item(f->sent, i), j);
}

typedef struct Seen {
        unsigned n, deletions;
        char ids[16][64];
        char entities[16][64];
} Seen;

static int on_record(const char *id, const char *entity, plist_t record, void *userdata) {
        Seen *s = userdata;

        if (!entity[0])
                s->deletions++;
        if (s->n < 16) {
                snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", id);
                snprintf(s->entities[s->n], sizeof(s->entities[0]), "%s", entity);
        }
        s->n++;
        return 0;
}

static int on_remap(const char *host_id, const char *device_id, void *userdata) {
        Seen *s = userdata;

        if (s->n < 16) {
                snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", host_id);
                snprintf(s->entities[s->n], sizeof(s->entities[0]), "%s", device_id);
        }
        s->n++;
        return 0;
}

/* Open a client on f after queueing the hello. */
static MobileSync *open_fake(Fake *f) {
        DLTransport t = { .send = fake_send, .receive = fake_receive, .userdata = f };
        MobileSync *m = NULL;
        int r;

        r = mobilesync_open_transport(&t, NULL, 2, &m);
        ASSERT_EQ(r, 0);
        return m;
}

static void test_version_exchange(void) {
        DLTransport t = { .send = fake_send, .receive = fake_receive };
        MobileSync *m = NULL;
        Fake f;

        /* 400.0, a ping in between (skipped), ready. */
        fake_init(&f);
        q(&f, version_msg(400, 0));
        q(&f, msg_s("DLMessagePing", "hello", NULL));
        q(&f, msg_s("DLMessageDeviceReady", NULL));
        m = open_fake(&f);
        ASSERT_TRUE(m != NULL);
        if (m) {
                plist_t reply = plist_array_get_item(f.sent, 0);
                uint64_t v = 0;

                ASSERT_STREQ(sent_name(&f, 0), "DLMessageVersionExchange");
                ASSERT_STREQ(dl_array_str(reply, 1), "DLVersionsOk");
                ASSERT_EQ(dl_array_uint(reply, 2, &v), 0);
                ASSERT_EQ(v, 400);
                m = mobilesync_free(m);
                /* free disconnects */
                ASSERT_STREQ(sent_name(&f, 1), "DLMessageDisconnect");
                ASSERT_STREQ(sent_str(&f, 1, 1), "All done, thanks for the memories");
        }
        fake_done(&f);

        /* 300.100 (an old device) is below us: accepted. */
        fake_init(&f);
        q(&f, version_msg(300, 100));
        q(&f, msg_s("DLMessageDeviceReady", NULL));
        t.userdata = &f;
        ASSERT_EQ(mobilesync_open_transport(&t, NULL, 2, &m), 0);
        m = mobilesync_free(m);
        fake_done(&f);

        /* Hostile and impossible versions. */
        for (int i = 0; i < 7; i++) {
                fake_init(&f);
                t.userdata = &f;
                switch (i) {
                case 0: q(&f, version_msg(500, 0)); break;
                case 1: q(&f, msg_s("DLMessageVersionExchange", "400", "0", NULL)); break;
                case 2: q(&f, plist_new_dict()); break;
                case 3: q(&f, plist_new_array()); break;
                case 4: q(&f, version_msg(400, 0)); q(&f, msg_s("SDMessageX", NULL)); break;
                case 5: {
                        plist_t a = plist_new_array();

                        plist_array_append_item(a, plist_new_uint(7));
                        q(&f, a);
                        break;
                }
                case 6: q(&f, version_msg(400, 0)); break;     /* then EOF */
                }
                m = NULL;
                ASSERT_EQ(mobilesync_open_transport(&t, NULL, 2, &m),
                          i == 6 ? IDS_E_DISCONNECTED : IDS_E_PROTOCOL);
                ASSERT_TRUE(m == NULL);
                fake_done(&f);
        }

        /* The device disconnects with a reason. */
        fake_init(&f);
        t.userdata = &f;
        q(&f, msg_s("DLMessageDisconnect", "bye", NULL));
        ASSERT_EQ(mobilesync_open_transport(&t, NULL, 2, &m), IDS_E_DISCONNECTED);
        fake_done(&f);
}

static void test_timeout_and_cancel(void) {
        DLTransport t = { .send = fake_send, .receive = fake_receive };
        ids_cancel *c = NULL;
        MobileSync *m = NULL;
        Fake f;

        /* A silent device: IDS_E_TIMEOUT after timeout_s (1 s here), not a hang. */
        fake_init(&f);
        f.silent = true;
        t.userdata = &f;
        ASSERT_EQ(mobilesync_open_transport(&t, NULL, 1, &m), IDS_E_TIMEOUT);
        fake_done(&f);

        /* A device that only pings: IDS_E_TIMEOUT too. */
        fake_init(&f);
        f.pinging = true;
        t.userdata = &f;
        ASSERT_EQ(mobilesync_open_transport(&t, NULL, 1, &m), IDS_E_TIMEOUT);
        fake_done(&f);

        /* A cancel requested before: IDS_E_CANCELLED at once. */
        fake_init(&f);
        f.silent = true;
        ASSERT_EQ(ids_cancel_new(&c), 0);
        ids_cancel_request(c);
        ASSERT_EQ(mobilesync_open_transport(&t, c, 60, &m), IDS_E_CANCELLED);
        c = ids_cancel_free(c);
        fake_done(&f);
}

static void test_start(void) {
        MSStart st = {};
        MobileSync *m;
        uint64_t v = 0;
        Fake f;

        /* A first sync of contacts: "---" as device anchor, version 106; slow. */
        fake_init(&f);
        q_hello(&f);
        q(&f, start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow"));
        m = open_fake(&f);
        if (m) {
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_CONTACTS, NULL, "comp-2", &st), 0);
                ASSERT_STREQ(sent_name(&f, 1), "SDMessageSyncDataClassWithDevice");
                ASSERT_STREQ(sent_str(&f, 1, 1), MS_CLASS_CONTACTS);
                ASSERT_STREQ(sent_str(&f, 1, 2), "---");
                ASSERT_STREQ(sent_str(&f, 1, 3), "comp-2");
                ASSERT_EQ(dl_array_uint(plist_array_get_item(f.sent, 1), 4, &v), 0);
                ASSERT_EQ(v, 106);
                ASSERT_STREQ(sent_str(&f, 1, 5), E);
                ASSERT_EQ(st.type, MS_SYNC_SLOW);
                ASSERT_STREQ(st.device_anchor, "dev-2");
                ASSERT_STREQ(st.computer_anchor, "comp-2");
                ASSERT_EQ(st.device_version, 106);
                ASSERT_EQ(m->state, MS_STATE_STARTED);
                /* A second start while one runs is the caller's bug. */
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_CONTACTS, NULL, "c", &st), -EBUSY);
                ms_start_done(&st);
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Calendars: 107, the anchors passed through; fast and reset. */
        for (int i = 0; i < 2; i++) {
                fake_init(&f);
                q_hello(&f);
                q(&f, start_reply(MS_CLASS_CALENDARS, i ? "SDSyncTypeReset" : "SDSyncTypeFast"));
                m = open_fake(&f);
                if (m) {
                        ASSERT_EQ(mobilesync_start(m, MS_CLASS_CALENDARS, "dev-1", "comp-2",
                                                   &st), 0);
                        ASSERT_STREQ(sent_str(&f, 1, 2), "dev-1");
                        ASSERT_EQ(dl_array_uint(plist_array_get_item(f.sent, 1), 4, &v), 0);
                        ASSERT_EQ(v, 107);
                        ASSERT_EQ(st.type, i ? MS_SYNC_RESET : MS_SYNC_FAST);
                        ASSERT_STREQ(ms_sync_type_to_string(st.type), i ? "reset" : "fast");
                        ms_start_done(&st);
                        mobilesync_free(m);
                }
                fake_done(&f);
        }

        /* Refusal with its reason, then another class in the same connection. */
        fake_init(&f);
        q_hello(&f);
        q(&f, msg_s("SDMessageRefuseToSyncDataClassWithComputer", MS_CLASS_CONTACTS,
                    "Sync is disabled", NULL));
        q(&f, msg_s("SDMessageCancelSession", MS_CLASS_CALENDARS, "Busy", NULL));
        q(&f, start_reply(MS_CLASS_BOOKMARKS, "SDSyncTypeSlow"));
        m = open_fake(&f);
        if (m) {
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_CONTACTS, NULL, "c", &st), MS_REFUSED);
                ASSERT_STREQ(m->device_reason, "Sync is disabled");
                ASSERT_STREQ(ms_outcome_to_string(MS_REFUSED), "refused");
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_CALENDARS, NULL, "c", &st),
                          MS_DEVICE_CANCELLED);
                ASSERT_STREQ(m->device_reason, "Busy");
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_BOOKMARKS, NULL, "comp-2", &st), 0);
                ms_start_done(&st);
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Hostile replies. */
        for (int i = 0; i < 9; i++) {
                plist_t reply = NULL;

                switch (i) {
                case 0: reply = start_reply(MS_CLASS_CALENDARS, "SDSyncTypeSlow"); break;
                case 1: reply = start_reply(MS_CLASS_CONTACTS, "SDSyncTypeWhatever"); break;
                case 2: reply = msg_s("SDMessageSyncDataClassWithComputer", MS_CLASS_CONTACTS,
                                      NULL); break;
                case 3:
                        reply = start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow");
                        plist_array_set_item(reply, plist_new_uint(5), 2);
                        break;
                case 4:
                        reply = start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow");
                        plist_array_set_item(reply, plist_new_string("106"), 5);
                        break;
                case 5: reply = msg_s("SDMessageDeviceReadyToReceiveChanges", MS_CLASS_CONTACTS,
                                      NULL); break;
                case 6: reply = msg_s("SDMessageRefuseToSyncDataClassWithComputer", NULL); break;
                case 7: {
                        char big[MS_MAX_ID_LEN + 10];

                        memset(big, 'a', sizeof(big) - 1);
                        big[sizeof(big) - 1] = 0;
                        reply = start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow");
                        plist_array_set_item(reply, plist_new_string(big), 2);
                        break;
                }
                case 8:
                        reply = start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow");
                        plist_array_set_item(reply, plist_new_dict(), 1);
                        break;
                }
                fake_init(&f);
                q_hello(&f);
                q(&f, reply);
                m = open_fake(&f);
                if (m) {
                        memset(&st, 0, sizeof(st));
                        ASSERT_EQ(mobilesync_start(m, MS_CLASS_CONTACTS, NULL, "c", &st),
                                  IDS_E_PROTOCOL);
                        ASSERT_TRUE(m->dl.reason[0] != 0);
                        ASSERT_TRUE(st.device_anchor == NULL);
                        ASSERT_EQ(m->state, MS_STATE_BROKEN);
                        mobilesync_free(m);
                }
                fake_done(&f);
        }
}

static void q_start(Fake *f) {
        q_hello(f);
        q(f, start_reply(MS_CLASS_CONTACTS, "SDSyncTypeSlow"));
}

/* Open and start contacts (q_start() queued the device's side before the rest). */
static MobileSync *started(Fake *f) {
        MSStart st = {};
        MobileSync *m;

        m = open_fake(f);
        if (m) {
                ASSERT_EQ(mobilesync_start(m, MS_CLASS_CONTACTS, NULL, "comp-2", &st), 0);
                ms_start_done(&st);
        }
        return m;
}

static void test_pull(void) {
        MSPullStats ps = {};
        MobileSync *m;
        Seen seen = {};
        plist_t recs;
        Fake f;

        /* Two batches, acknowledged each, then ready-to-receive, finish. */
        fake_init(&f);
        q_start(&f);
        recs = plist_new_dict();
        plist_dict_set_item(recs, "1", contact("Ada"));
        plist_dict_set_item(recs, "2", phone("1", "+44 1"));
        q(&f, batch_msg(MS_CLASS_CONTACTS, recs, true));
        recs = plist_new_dict();
        plist_dict_set_item(recs, "3", contact("Grace"));
        plist_dict_set_item(recs, "4", plist_new_dict());      /* a deletion */
        q(&f, batch_msg(MS_CLASS_CONTACTS, recs, false));
        q(&f, msg_s("SDMessageDeviceReadyToReceiveChanges", MS_CLASS_CONTACTS, NULL));
        q(&f, msg_s("SDMessageDeviceFinishedSession", MS_CLASS_CONTACTS, NULL));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_pull(m, true, on_record, &seen, &ps), 0);
                ASSERT_EQ(ps.records, 4);
                ASSERT_EQ(ps.batches, 2);
                ASSERT_TRUE(ps.all_sent);
                ASSERT_EQ(seen.n, 4);
                ASSERT_EQ(seen.deletions, 1);
                ASSERT_STREQ(sent_name(&f, 2), "SDMessageGetAllRecordsFromDevice");
                ASSERT_STREQ(sent_str(&f, 2, 1), MS_CLASS_CONTACTS);
                ASSERT_STREQ(sent_name(&f, 3), "SDMessageAcknowledgeChangesFromDevice");
                ASSERT_STREQ(sent_name(&f, 4), "SDMessageAcknowledgeChangesFromDevice");
                for (unsigned i = 0; i < 4; i++)
                        if (strcmp(seen.ids[i], "2") == 0)
                                ASSERT_STREQ(seen.entities[i], "com.apple.contacts.Phone Number");
                ASSERT_EQ(mobilesync_finish(m), 0);
                ASSERT_STREQ(sent_name(&f, 5), "SDMessageFinishSessionOnDevice");
                ASSERT_EQ(m->state, MS_STATE_IDLE);
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Get changes, nothing changed: 0, not MS_EMPTY; get all, nothing: MS_EMPTY. */
        for (int all = 0; all < 2; all++) {
                fake_init(&f);
                q_start(&f);
                q(&f, batch_msg(MS_CLASS_CONTACTS, plist_new_dict(), false));
                m = started(&f);
                if (m) {
                        ASSERT_EQ(mobilesync_pull(m, all, on_record, &seen, NULL),
                                  all ? MS_EMPTY : 0);
                        ASSERT_STREQ(sent_name(&f, 2), all ? "SDMessageGetAllRecordsFromDevice" :
                                                             "SDMessageGetChangesFromDevice");
                        mobilesync_free(m);
                }
                fake_done(&f);
        }

        /* The device cancels mid-pull. */
        fake_init(&f);
        q_start(&f);
        q(&f, msg_s("SDMessageCancelSession", MS_CLASS_CONTACTS, "Locked", NULL));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_pull(m, true, on_record, &seen, NULL), MS_DEVICE_CANCELLED);
                ASSERT_STREQ(m->device_reason, "Locked");
                mobilesync_free(m);
        }
        fake_done(&f);

        /* The cable is pulled mid-pull: the queue ends. */
        fake_init(&f);
        q_start(&f);
        recs = plist_new_dict();
        plist_dict_set_item(recs, "1", contact("Ada"));
        q(&f, batch_msg(MS_CLASS_CONTACTS, recs, true));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_pull(m, true, on_record, &seen, NULL), IDS_E_DISCONNECTED);
                mobilesync_free(m);
        }
        fake_done(&f);
}

/* A Group lists its members in one link array, as long as the address book: 2,500 members
 * are a valid record (a cap of 512 items once refused a phone with 5,000 contacts). */
static void test_big_group(void) {
        plist_t recs = plist_new_dict(), g = plist_new_dict(), members = plist_new_array();
        DLConn c = {};

        plist_dict_set_item(g, "com.apple.syncservices.RecordEntityName",
                            plist_new_string("com.apple.contacts.Group"));
        plist_dict_set_item(g, "name", plist_new_string("Work"));
        for (unsigned i = 0; i < 2500; i++) {
                char id[16];

                snprintf(id, sizeof(id), "%u", 10 + i);
                plist_array_append_item(members, plist_new_string(id));
        }
        plist_dict_set_item(g, "contact", members);
        plist_dict_set_item(recs, "1", g);
        ASSERT_EQ(ms_check_records(&c, recs), 0);
        plist_free(recs);
}

static void test_pull_hostile(void) {
        for (int i = 0; i < 16; i++) {
                plist_t recs = plist_new_dict(), msg = NULL;
                Seen seen = {};
                MobileSync *m;
                Fake f;

                switch (i) {
                case 0:                         /* records are an array */
                        plist_free(recs);
                        recs = plist_new_array();
                        break;
                case 1:                         /* a record is a number */
                        plist_dict_set_item(recs, "1", plist_new_uint(3));
                        break;
                case 2:                         /* no entity name */
                        plist_dict_set_item(recs, "1", plist_new_dict());
                        plist_dict_set_item(plist_dict_get_item(recs, "1"), "x",
                                            plist_new_string("y"));
                        break;
                case 3: {                       /* entity name is a number */
                        plist_t c = contact("A");

                        plist_dict_set_item(c, "com.apple.syncservices.RecordEntityName",
                                            plist_new_uint(1));
                        plist_dict_set_item(recs, "1", c);
                        break;
                }
                case 4: {                       /* an id far too long */
                        char big[MS_MAX_ID_LEN + 10];

                        memset(big, 'x', sizeof(big) - 1);
                        big[sizeof(big) - 1] = 0;
                        plist_dict_set_item(recs, big, contact("A"));
                        break;
                }
                case 5:                         /* too many records in one batch */
                        for (unsigned n = 0; n <= MS_MAX_BATCH_RECORDS; n++) {
                                char id[16];

                                snprintf(id, sizeof(id), "%u", n);
                                plist_dict_set_item(recs, id, plist_new_dict());
                        }
                        break;
                case 6: {                       /* nested too deep */
                        plist_t c = contact("A"), a = plist_new_array();

                        for (int d = 0; d < 8; d++) {
                                plist_t b = plist_new_array();

                                plist_array_append_item(b, a);
                                a = b;
                        }
                        plist_dict_set_item(c, "deep", a);
                        plist_dict_set_item(recs, "1", c);
                        break;
                }
                case 7: {                       /* a value too large */
                        plist_t c = contact("A");
                        char *big = malloc(MS_MAX_VALUE_BYTES + 2);

                        memset(big, 'x', MS_MAX_VALUE_BYTES + 1);
                        plist_dict_set_item(c, "image", plist_new_data(big,
                                                                       MS_MAX_VALUE_BYTES + 1));
                        free(big);
                        plist_dict_set_item(recs, "1", c);
                        break;
                }
                case 8: {                       /* an id with a NUL (libplist aborts on it) */
                        char path[4096];
                        plist_t bad = NULL;

                        /* ["DLMessageMoveItems", {"é\0": "b"}] with a UTF-16 key, from
                         * the fuzzer: its dict as the batch (the message itself is
                         * queued, renamed, so the dict is never copied). */
                        snprintf(path, sizeof(path),
                                 "%s/tests/fuzz/corpus/plist/utf16-nul-key.bin",
                                 getenv("TOP") ?: ".");
                        plist_free(recs);
                        recs = NULL;
                        bad = load_bin(path);
                        ASSERT_TRUE(bad != NULL);
                        if (!bad)
                                continue;
                        plist_array_set_item(bad, plist_new_string("SDMessageProcessChanges"), 0);
                        plist_array_insert_item(bad, plist_new_string(MS_CLASS_CONTACTS), 1);
                        plist_array_append_item(bad, plist_new_bool(0));
                        msg = bad;
                        break;
                }
                case 9:                         /* an empty id */
                        plist_dict_set_item(recs, "", contact("A"));
                        break;
                case 10:                        /* a record of a wrong sub-type: a UID */
                        plist_dict_set_item(recs, "1", contact("A"));
                        plist_dict_set_item(plist_dict_get_item(recs, "1"), "u",
                                            plist_new_uid(3));
                        break;
                default:
                        plist_dict_set_item(recs, "1", contact("A"));
                        break;
                }
                if (!msg)
                        msg = batch_msg(MS_CLASS_CONTACTS, recs, false);
                switch (i) {
                case 11:                        /* "more" is a string */
                        plist_array_set_item(msg, plist_new_string("yes"), 3);
                        break;
                case 12:                        /* another class */
                        plist_array_set_item(msg, plist_new_string(MS_CLASS_CALENDARS), 1);
                        break;
                case 13:                        /* no "more" at all */
                        plist_array_remove_item(msg, 4);
                        plist_array_remove_item(msg, 3);
                        break;
                case 14:                        /* actions are a number */
                        plist_array_set_item(msg, plist_new_uint(1), 4);
                        break;
                case 15:                        /* an unexpected message */
                        plist_free(msg);
                        msg = msg_s("SDMessageRemapRecordIdentifiers", MS_CLASS_CONTACTS, NULL);
                        break;
                }
                fake_init(&f);
                q_start(&f);
                q(&f, msg);
                m = started(&f);
                if (m) {
                        int r = mobilesync_pull(m, true, on_record, &seen, NULL);

                        if (r != IDS_E_PROTOCOL)
                                printf("hostile pull case %d\n", i);
                        ASSERT_EQ(r, IDS_E_PROTOCOL);
                        ASSERT_EQ(seen.n, 0);   /* nothing of a bad batch is handed out */
                        ASSERT_TRUE(m->dl.reason[0] != 0);
                        ASSERT_EQ(m->state, MS_STATE_BROKEN);
                        /* only cancel and free work now */
                        ASSERT_EQ(mobilesync_finish(m), -EBUSY);
                        mobilesync_free(m);
                }
                fake_done(&f);
        }
}

static plist_t remap_msg(const char *cls, plist_t map) {
        plist_t a = msg_s("SDMessageRemapRecordIdentifiers", cls, NULL);

        plist_array_append_item(a, map);
        return a;
}

static void test_push(void) {
        MobileSync *m;
        Seen seen = {};
        plist_t recs, map;
        uint8_t more = 0;
        Fake f;

        /* After a pull: ready → ping; 5 records in batches of 2 (2, 2, 1); remap after
         * each; a deletion sent as an empty dict. */
        fake_init(&f);
        q_start(&f);
        q(&f, batch_msg(MS_CLASS_CONTACTS, plist_new_dict(), false));
        q(&f, msg_s("SDMessageDeviceReadyToReceiveChanges", MS_CLASS_CONTACTS, NULL));
        map = plist_new_dict();
        plist_dict_set_item(map, "h1", plist_new_string("101"));
        plist_dict_set_item(map, "h2", plist_new_string("102"));
        q(&f, remap_msg(MS_CLASS_CONTACTS, map));
        q(&f, msg_s("SDMessageRemapRecordIdentifiers", MS_CLASS_CONTACTS, E, NULL));
        map = plist_new_dict();
        plist_dict_set_item(map, "h5", plist_new_string("105"));
        q(&f, remap_msg(MS_CLASS_CONTACTS, map));
        q(&f, msg_s("SDMessageDeviceFinishedSession", MS_CLASS_CONTACTS, NULL));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_pull(m, true, NULL, NULL, NULL), MS_EMPTY);
                recs = plist_new_dict();
                plist_dict_set_item(recs, "h1", contact("Ada"));
                plist_dict_set_item(recs, "h2", contact("Grace"));
                plist_dict_set_item(recs, "h3", contact("Linus"));
                plist_dict_set_item(recs, "77", ms_deletion_new());
                plist_dict_set_item(recs, "h5", contact("Ken"));
                ASSERT_TRUE(ms_record_is_deletion(plist_dict_get_item(recs, "77")));
                ASSERT_EQ(mobilesync_push(m, recs, true, 2, on_remap, &seen), 0);
                ASSERT_EQ(seen.n, 3);
                ASSERT_STREQ(seen.ids[0], "h1");
                ASSERT_STREQ(seen.entities[0], "101");
                ASSERT_STREQ(seen.ids[2], "h5");
                ASSERT_STREQ(seen.entities[2], "105");
                /* sent: 0 version, 1 start, 2 get all, 3 ack, 4 ping, 5-7 batches */
                ASSERT_STREQ(sent_name(&f, 4), "DLMessagePing");
                ASSERT_STREQ(sent_str(&f, 4, 1), "Preparing to get changes for device");
                for (uint32_t i = 5; i <= 7; i++) {
                        plist_t b = plist_array_get_item(f.sent, i);

                        ASSERT_STREQ(sent_name(&f, i), "SDMessageProcessChanges");
                        ASSERT_STREQ(sent_str(&f, i, 1), MS_CLASS_CONTACTS);
                        ASSERT_EQ(plist_dict_get_size(plist_array_get_item(b, 2)), i < 7 ? 2 : 1);
                        plist_get_bool_val(plist_array_get_item(b, 3), &more);
                        ASSERT_EQ(more, i < 7);
                        ASSERT_TRUE(plist_get_node_type(plist_array_get_item(b, 4)) == PLIST_DICT);
                }
                ASSERT_EQ(mobilesync_finish(m), 0);
                ASSERT_STREQ(sent_name(&f, 8), "SDMessageFinishSessionOnDevice");
                plist_free(recs);
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Right after a start with clear-all, an empty last push sends one empty batch. */
        fake_init(&f);
        q_start(&f);
        q(&f, msg_s("SDMessageDeviceWillClearAllRecords", MS_CLASS_CONTACTS, NULL));
        q(&f, msg_s("SDMessageDeviceReadyToReceiveChanges", MS_CLASS_CONTACTS, NULL));
        q(&f, msg_s("SDMessageRemapRecordIdentifiers", MS_CLASS_CONTACTS, E, NULL));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_clear_all(m), 0);
                ASSERT_STREQ(sent_name(&f, 2), "SDMessageClearAllRecordsOnDevice");
                ASSERT_STREQ(sent_str(&f, 2, 2), E);
                recs = plist_new_dict();
                ASSERT_EQ(mobilesync_push(m, recs, true, 0, NULL, NULL), 0);
                ASSERT_STREQ(sent_name(&f, 4), "SDMessageProcessChanges");
                plist_get_bool_val(plist_array_get_item(plist_array_get_item(f.sent, 4), 3),
                                   &more);
                ASSERT_EQ(more, 0);
                /* A push of something that is not records is the caller's bug. */
                plist_dict_set_item(recs, "x", plist_new_string("y"));
                ASSERT_EQ(mobilesync_push(m, recs, true, 0, NULL, NULL), -EINVAL);
                plist_free(recs);
                ASSERT_EQ(mobilesync_cancel(m, NULL), 0);
                ASSERT_STREQ(sent_name(&f, 5), "SDMessageCancelSession");
                ASSERT_STREQ(sent_str(&f, 5, 1), MS_CLASS_CONTACTS);
                ASSERT_EQ(m->state, MS_STATE_IDLE);
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Hostile remaps. */
        for (int i = 0; i < 5; i++) {
                plist_t reply = NULL;

                map = plist_new_dict();
                switch (i) {
                case 0: plist_dict_set_item(map, "h1", plist_new_uint(5)); break;
                case 1: plist_dict_set_item(map, "other", plist_new_string("5")); break;
                case 2: plist_dict_set_item(map, "h1", plist_new_string("")); break;
                case 3: plist_free(map); map = plist_new_array(); break;
                case 4:
                        plist_dict_set_item(map, "h1", plist_new_string("5"));
                        plist_dict_set_item(map, "h2", plist_new_string("6"));
                        break;
                }
                reply = remap_msg(i == 4 ? MS_CLASS_CALENDARS : MS_CLASS_CONTACTS, map);
                fake_init(&f);
                q_start(&f);
                q(&f, msg_s("SDMessageDeviceReadyToReceiveChanges", MS_CLASS_CONTACTS, NULL));
                q(&f, reply);
                m = started(&f);
                if (m) {
                        memset(&seen, 0, sizeof(seen));
                        recs = plist_new_dict();
                        plist_dict_set_item(recs, "h1", contact("Ada"));
                        ASSERT_EQ(mobilesync_push(m, recs, true, 0, on_remap, &seen),
                                  IDS_E_PROTOCOL);
                        ASSERT_EQ(seen.n, 0);
                        plist_free(recs);
                        mobilesync_free(m);
                }
                fake_done(&f);
        }
}

static void test_finish_and_messages(void) {
        MobileSync *m;
        plist_t msg;
        Fake f;

        /* Finish answered by something else, or for another class. */
        for (int i = 0; i < 2; i++) {
                fake_init(&f);
                q_start(&f);
                q(&f, msg_s(i ? "SDMessageDeviceFinishedSession" : "SDMessageProcessChanges",
                            MS_CLASS_CALENDARS, NULL));
                m = started(&f);
                if (m) {
                        ASSERT_EQ(mobilesync_finish(m), IDS_E_PROTOCOL);
                        mobilesync_free(m);
                }
                fake_done(&f);
        }

        /* Clear-all refused by a cancel. */
        fake_init(&f);
        q_start(&f);
        q(&f, msg_s("SDMessageCancelSession", MS_CLASS_CONTACTS, E, NULL));
        m = started(&f);
        if (m) {
                ASSERT_EQ(mobilesync_clear_all(m), MS_DEVICE_CANCELLED);
                ASSERT_STREQ(m->device_reason, "no reason given");
                mobilesync_free(m);
        }
        fake_done(&f);

        /* Message helpers. */
        msg = dl_message_new("DLMessageDisconnect", 1, (const char *[]) { NULL });
        ASSERT_STREQ(dl_message_name(msg), "DLMessageDisconnect");
        ASSERT_STREQ(dl_array_str(msg, 1), E);
        ASSERT_TRUE(dl_array_str(msg, 2) == NULL);
        plist_free(msg);
        ASSERT_TRUE(dl_message_name(NULL) == NULL);

        ASSERT_EQ(ms_class_version(MS_CLASS_CONTACTS), 106);
        ASSERT_EQ(ms_class_version(MS_CLASS_CALENDARS), 107);
        ASSERT_STREQ(ms_outcome_to_string(MS_NOT_OFFERED), "not-offered");
        ASSERT_STREQ(ms_outcome_to_string(MS_TETHERED_DISABLED), "tethered-disabled");
        ASSERT_STREQ(ms_outcome_to_string(MS_EMPTY), "empty");
        ASSERT_TRUE(ms_outcome_to_string(IDS_E_PROTOCOL) == NULL);
}

static void test_tethered_entry(void) {
        plist_t e = plist_new_dict();

        ASSERT_TRUE(ms_tethered_entry_disabled(NULL));
        ASSERT_TRUE(ms_tethered_entry_disabled(e));             /* no DisableTethered */
        plist_dict_set_item(e, "DisableTethered", plist_new_bool(0));
        ASSERT_TRUE(!ms_tethered_entry_disabled(e));
        plist_dict_set_item(e, "DisableTethered", plist_new_bool(1));
        ASSERT_TRUE(ms_tethered_entry_disabled(e));
        plist_dict_set_item(e, "DisableTethered", plist_new_uint(0));
        ASSERT_TRUE(!ms_tethered_entry_disabled(e));
        plist_dict_set_item(e, "DisableTethered", plist_new_string("no"));
        ASSERT_TRUE(ms_tethered_entry_disabled(e));
        plist_free(e);
        e = plist_new_string("x");
        ASSERT_TRUE(ms_tethered_entry_disabled(e));
        plist_free(e);
}

static void debug_log(const char *msg) {
        fprintf(stderr, "debug: %s\n", msg);
}

int main(void) {
        if (getenv("IDS_DEBUG"))
                ids_set_debug_log(debug_log);
        test_version_exchange();
        test_timeout_and_cancel();
        test_start();
        test_pull();
        test_pull_hostile();
        test_big_group();
        test_push();
        test_finish_and_messages();
        test_tethered_entry();
        printf("%u checks, %u failures\n", checks, failures);
        return test_exit_status();
}
