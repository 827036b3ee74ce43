/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of mobilesync-store.c: generation is deterministic and has what the brief asks
 * (sub-records linked to their parents, unicode names, all-day and recurring events,
 * iCloud-hidden records), the store survives a save and a load, the anchor rules (slow on
 * first contact, fast only with both anchors, slow after a session that never finished,
 * reset after ClearAll), fresh ids, cascading deletes, the change log, the JSON ground
 * truth, tethered_sync and the device.ini keys.
 *
 * Works in a mkdtemp() directory under $TMPDIR (or /tmp), removed at the end. Prints
 * "FAIL: <expr> at file:line" for each failed check; exits 0 only if none failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mobilesync.h"
#include "test-emu-util.h"

static char base[4096];

static const MsClass *contacts, *calendars;

static char *read_file(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "rb");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = calloc(1, (size_t) n + 1);
        if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        if (ret_n)
                *ret_n = (size_t) n;
        return buf;
}

static unsigned count_entity(plist_t dict, const char *entity) {
        plist_dict_iter it = NULL;
        unsigned n = 0;

        plist_dict_new_iter(dict, &it);
        for (;;) {
                char *k = NULL;
                plist_t v = NULL;
                const char *e;

                plist_dict_next_item(dict, it, &k, &v);
                if (!k)
                        break;
                e = ms_record_entity(v);
                n += e && strcmp(e, entity) == 0;
                free(k);
        }
        free(it);
        return n;
}

/* Every sub-record's link names an existing record of the right parent entity. */
static void check_links(MsStore *s, plist_t dict) {
        plist_dict_iter it = NULL;

        plist_dict_new_iter(dict, &it);
        for (;;) {
                char *k = NULL;
                plist_t v = NULL, link;
                const char *e, *want = NULL, *key = NULL, *to;

                plist_dict_next_item(dict, it, &k, &v);
                if (!k)
                        break;
                e = ms_record_entity(v);
                ASSERT(ms_entity_valid(s->cls, e));
                if (strcmp(e, "com.apple.contacts.Contact") == 0 ||
                    strcmp(e, "com.apple.calendars.Calendar") == 0 ||
                    strcmp(e, "com.apple.contacts.Group") == 0) {
                        free(k);
                        continue;
                }
                if (strncmp(e, "com.apple.contacts.", 19) == 0) {
                        key = "contact";
                        want = "com.apple.contacts.Contact";
                } else if (strcmp(e, "com.apple.calendars.Event") == 0) {
                        key = "calendar";
                        want = "com.apple.calendars.Calendar";
                } else {
                        key = "owner";
                        want = "com.apple.calendars.Event";
                }
                link = plist_dict_get_item(v, key);
                ASSERT(link && plist_get_node_type(link) == PLIST_ARRAY &&
                       plist_array_get_size(link) == 1);
                to = link ? plist_str(plist_array_get_item(link, 0)) : NULL;
                ASSERT(to && ms_record_entity(plist_dict_get_item(dict, to)) &&
                       strcmp(ms_record_entity(plist_dict_get_item(dict, to)), want) == 0);
                free(k);
        }
        free(it);
}

static MsStore *load(const char *dir, const MsClass *cls, const MsGenOptions *o) {
        MsStore *s = NULL;
        int r = ms_store_load(dir, cls, o, &s);

        ASSERT(r == 0);
        return s;
}

static void test_generation(void) {
        MsGenOptions o = {.seed = 42, .contacts = 30, .events = 25};
        char a[4200], b[4200], pa[4300], pb[4300];
        char *da, *db;
        size_t na = 0, nb = 0;
        MsStore *s;
        unsigned phones;

        emu_test_make_profile(base, "gen-a", "", a, sizeof(a));
        emu_test_make_profile(base, "gen-b", "", b, sizeof(b));
        s = load(a, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(count_entity(s->records, "com.apple.contacts.Contact") == 30);
        ASSERT(count_entity(s->records, "com.apple.contacts.Group") == 2);
        phones = count_entity(s->records, "com.apple.contacts.Phone Number");
        ASSERT(phones >= 30 && phones <= 90); /* one to three each */
        ASSERT(count_entity(s->records, "com.apple.contacts.Email Address") > 0);
        ASSERT(count_entity(s->records, "com.apple.contacts.Street Address") > 0);
        ASSERT(plist_dict_get_size(s->cloud) == 0);
        ASSERT(plist_dict_get_size(s->changes) == 0);
        ASSERT(ms_store_sync_type(s, "---", "x") == MS_SYNC_SLOW);
        check_links(s, s->records);
        ms_store_free(s);

        /* The same seed gives the same bytes, in another profile. */
        s = load(b, contacts, &o);
        ms_store_free(s);
        snprintf(pa, sizeof(pa), "%s/mobilesync/com.apple.Contacts.plist", a);
        snprintf(pb, sizeof(pb), "%s/mobilesync/com.apple.Contacts.plist", b);
        da = read_file(pa, &na);
        db = read_file(pb, &nb);
        ASSERT(da && db && na == nb && memcmp(da, db, na) == 0);
        free(da);
        free(db);

        s = load(a, calendars, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(count_entity(s->records, "com.apple.calendars.Event") == 25);
        ASSERT(count_entity(s->records, "com.apple.calendars.Calendar") == 3);
        ASSERT(count_entity(s->records, "com.apple.calendars.Recurrence") > 0);
        ASSERT(count_entity(s->records, "com.apple.calendars.DisplayAlarm") > 0);
        ASSERT(count_entity(s->records, "com.apple.calendars.Attendee") > 0);
        check_links(s, s->records);
        ms_store_free(s);

        /* The JSON names every record, unicode as UTF-8, dates as ISO strings. */
        snprintf(pa, sizeof(pa), "%s/mobilesync/com.apple.Calendars.json", a);
        da = read_file(pa, NULL);
        ASSERT(da && strstr(da, "\"entity\": \"com.apple.calendars.Event\""));
        ASSERT(da && strstr(da, "\"all day\": true"));
        ASSERT(da && strstr(da, "\"timezone\": \""));
        ASSERT(da && strstr(da, "T00:00:00Z\""));
        free(da);
}

static void test_icloud(void) {
        MsGenOptions o = {.seed = 7, .contacts = 10, .icloud = MS_CONTACTS};
        char d[4200], p[4300];
        char *json;
        MsStore *s;

        emu_test_make_profile(base, "icloud", "", d, sizeof(d));
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(plist_dict_get_size(s->records) == 0);
        ASSERT(count_entity(s->cloud, "com.apple.contacts.Contact") == 10);
        ASSERT(ms_store_bool(s, "ICloud"));
        ms_store_free(s);
        snprintf(p, sizeof(p), "%s/mobilesync/com.apple.Contacts.json", d);
        json = read_file(p, NULL);
        ASSERT(json && strstr(json, "\"icloud\": true"));
        free(json);

        /* Calendars are not iCloud-managed in this profile. */
        s = load(d, calendars, &(MsGenOptions){.seed = 7, .events = 4, .icloud = MS_CONTACTS});
        ASSERT_OR_RETURN(s);
        ASSERT(count_entity(s->records, "com.apple.calendars.Event") == 4);
        ms_store_free(s);
}

static void test_anchors(void) {
        MsGenOptions o = {.seed = 3, .contacts = 3};
        char d[4200], da[128], da2[128];
        MsStore *s;

        emu_test_make_profile(base, "anchors", "", d, sizeof(d));
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(ms_store_sync_type(s, "---", "C1") == MS_SYNC_SLOW);
        snprintf(da, sizeof(da), "%s", ms_store_begin(s));
        ASSERT(*da);
        ASSERT(ms_store_save(s) == 0);
        /* Not finished yet: the same anchors still give a slow sync. */
        ASSERT(ms_store_sync_type(s, da, "C1") == MS_SYNC_SLOW);
        ms_store_finish(s, "C1");
        ASSERT(ms_store_save(s) == 0);
        ms_store_free(s);

        /* Persisted: fast with both anchors, slow with either wrong. */
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(ms_store_sync_type(s, da, "C1") == MS_SYNC_FAST);
        ASSERT(ms_store_sync_type(s, da, "C2") == MS_SYNC_SLOW);
        ASSERT(ms_store_sync_type(s, "other", "C1") == MS_SYNC_SLOW);
        ASSERT(ms_store_sync_type(s, "---", "C1") == MS_SYNC_SLOW);
        ASSERT(ms_store_sync_type(s, MS_EMPTY, "C1") == MS_SYNC_SLOW);

        /* A session that starts and is cut: slow next time, whatever the host sends. */
        snprintf(da2, sizeof(da2), "%s", ms_store_begin(s));
        ASSERT(strcmp(da, da2) != 0);
        ASSERT(ms_store_save(s) == 0);
        ms_store_free(s);
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(ms_store_sync_type(s, da, "C1") == MS_SYNC_SLOW);
        ASSERT(ms_store_sync_type(s, da2, "C1") == MS_SYNC_SLOW);

        /* ClearAll: a reset until a session finishes. */
        ms_store_clear(s);
        ASSERT(plist_dict_get_size(s->records) == 0);
        ASSERT(ms_store_sync_type(s, da2, "C1") == MS_SYNC_RESET);
        snprintf(da2, sizeof(da2), "%s", ms_store_begin(s));
        ms_store_finish(s, "C9");
        ASSERT(ms_store_sync_type(s, da2, "C9") == MS_SYNC_FAST);
        ms_store_free(s);
}

static plist_t contact(const char *first) {
        plist_t r = plist_new_dict();

        plist_dict_set_item(r, MS_ENTITY_KEY, plist_new_string("com.apple.contacts.Contact"));
        plist_dict_set_item(r, "display as company", plist_new_string("person"));
        plist_dict_set_item(r, "first name", plist_new_string(first));
        return r;
}

static plist_t phone(const char *parent) {
        plist_t r = plist_new_dict(), a = plist_new_array();

        plist_dict_set_item(r, MS_ENTITY_KEY, plist_new_string("com.apple.contacts.Phone Number"));
        plist_dict_set_item(r, "value", plist_new_string("+1 555 0100"));
        plist_array_append_item(a, plist_new_string(parent));
        plist_dict_set_item(r, "contact", a);
        return r;
}

static const char *change_of(MsStore *s, const char *id) {
        return plist_dict_str(plist_dict_get_item(s->changes, id), "Change");
}

static void test_records(void) {
        MsGenOptions o = {.seed = 9, .contacts = 6};
        char d[4200], c1[21], p1[21], p2[21], c2[21], c3[21];
        plist_t group = NULL, bad;
        unsigned before;
        MsStore *s;
        char **ids = NULL;
        size_t n = 0;

        emu_test_make_profile(base, "records", "", d, sizeof(d));
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        before = plist_dict_get_size(s->records);

        /* Fresh numeric ids, never one in use. */
        ASSERT(ms_store_add(s, contact("Ünal"), true, c1) == 0);
        ASSERT(strtoul(c1, NULL, 10) > 0 && !plist_dict_get_item(s->cloud, c1));
        ASSERT(ms_store_add(s, phone(c1), true, p1) == 0);
        ASSERT(ms_store_add(s, phone(c1), false, p2) == 0);
        ASSERT(strcmp(c1, p1) != 0 && strcmp(p1, p2) != 0);
        ASSERT(plist_dict_get_size(s->records) == before + 3);
        bad = plist_new_dict();
        plist_dict_set_item(bad, MS_ENTITY_KEY, plist_new_string("com.apple.calendars.Event"));
        ASSERT(ms_store_add(s, bad, true, c2) == -EINVAL);

        /* Change log: an add stays an add when modified, vanishes when deleted. */
        ASSERT(change_of(s, c1) && strcmp(change_of(s, c1), "add") == 0);
        ASSERT(!change_of(s, p2)); /* the host's own: not logged */
        ASSERT(ms_store_put(s, c1, contact("Ünal 2"), true) == 0);
        ASSERT(strcmp(change_of(s, c1), "add") == 0);
        ASSERT(ms_store_put(s, "999999", contact("x"), true) == -ENOENT);
        ASSERT(ms_store_add(s, contact("Ola"), true, c2) == 0);
        ASSERT(ms_store_delete(s, c2, true) == 1);
        ASSERT(!change_of(s, c2));

        /* Cascade: the contact's phones go, a group only loses the member. */
        ASSERT(ms_store_sorted_ids(s, s->records, &ids, &n) == 0);
        for (size_t i = 0; i < n; i++)
                if (strcmp(ms_record_entity(plist_dict_get_item(s->records, ids[i])),
                           "com.apple.contacts.Group") == 0) {
                        group = plist_dict_get_item(s->records, ids[i]);
                        ASSERT(i > 0); /* groups sort after contacts */
                        break;
                }
        ms_ids_free(ids, n);
        ASSERT_OR_RETURN(group);
        plist_array_append_item(plist_dict_get_item(group, "contact"), plist_new_string(c1));
        ASSERT(ms_store_delete(s, c1, true) == 3);
        ASSERT(!plist_dict_get_item(s->records, p1) && !plist_dict_get_item(s->records, p2));
        ASSERT(plist_dict_get_size(s->records) == before);
        for (uint32_t i = 0; i < plist_array_get_size(plist_dict_get_item(group, "contact")); i++)
                ASSERT(strcmp(plist_str(plist_array_get_item(plist_dict_get_item(group, "contact"),
                                                             i)),
                              c1) != 0);

        /* A modification and a deletion of records the host knows are logged. */
        ASSERT(ms_store_add(s, contact("Known"), false, c3) == 0);
        ASSERT(ms_store_put(s, c3, contact("Known 2"), true) == 0);
        ASSERT(strcmp(change_of(s, c3), "modify") == 0);
        ASSERT(ms_store_delete(s, c3, true) == 1);
        ASSERT(strcmp(change_of(s, c3), "delete") == 0);
        ASSERT(strcmp(plist_dict_str(plist_dict_get_item(s->changes, c3), "Entity"),
                      "com.apple.contacts.Contact") == 0);
        ASSERT(ms_store_delete(s, c3, true) == 0);

        /* Saved and loaded again: the same. */
        ASSERT(ms_store_save(s) == 0);
        before = plist_dict_get_size(s->records);
        ms_store_free(s);
        s = load(d, contacts, &o);
        ASSERT_OR_RETURN(s);
        ASSERT(plist_dict_get_size(s->records) == before);
        ASSERT(strcmp(change_of(s, c3), "delete") == 0);
        /* The finish forgets the log. */
        ms_store_finish(s, "C");
        ASSERT(plist_dict_get_size(s->changes) == 0);
        ms_store_free(s);
}

static void test_tethered(void) {
        char d[4200];
        plist_t t = NULL, v;

        emu_test_make_profile(base, "tethered", "", d, sizeof(d));
        ASSERT(ms_tethered_get(d, MS_CALENDARS, &t) == 0);
        ASSERT(!ms_tethered_disabled(t, contacts));
        ASSERT(ms_tethered_disabled(t, calendars));
        ASSERT(ms_tethered_disabled(NULL, contacts)); /* absent: off */
        plist_free(t);

        v = plist_new_dict();
        plist_dict_set_item(v, "DisableTethered", plist_new_bool(0));
        ASSERT(ms_tethered_set(d, MS_CALENDARS, "Calendars", v) == 0);
        plist_free(v);
        /* Persisted: the initial mask no longer matters. */
        ASSERT(ms_tethered_get(d, MS_CALENDARS | MS_CONTACTS, &t) == 0);
        ASSERT(!ms_tethered_disabled(t, calendars));
        ASSERT(!ms_tethered_disabled(t, contacts));
        plist_free(t);
        ASSERT(ms_tethered_set(d, 0, "Contacts", NULL) == 0);
        ASSERT(ms_tethered_get(d, 0, &t) == 0);
        ASSERT(ms_tethered_disabled(t, contacts)); /* entry removed: off */
        plist_free(t);
}

static void test_profile_keys(void) {
        char d[4200];
        DeviceInfo *i = NULL;
        unsigned m = 0;

        ASSERT(ms_parse_class_mask("both", &m) == 0 && m == (MS_CONTACTS | MS_CALENDARS));
        ASSERT(ms_parse_class_mask("none", &m) == 0 && m == 0);
        ASSERT(ms_parse_class_mask("contacts,bookmarks", &m) == 0 &&
               m == (MS_CONTACTS | MS_BOOKMARKS));
        ASSERT(ms_parse_class_mask("calendars|contacts", &m) == 0 &&
               m == (MS_CONTACTS | MS_CALENDARS));
        ASSERT(ms_parse_class_mask("mail", &m) == -EINVAL);

        emu_test_make_profile(base, "keys", "SyncContacts=12\nSyncEvents=5\nSyncICloud=calendars\n"
                     "SyncDisabled=both\nSyncSeed=77\nSyncDataClasses=Contacts\n",
                     d, sizeof(d));
        ASSERT_OR_RETURN(profile_read_info(d, &i) == 0);
        ASSERT(i->sync_contacts == 12 && i->sync_events == 5);
        ASSERT(i->sync_icloud == MS_CALENDARS);
        ASSERT(i->sync_disabled == (MS_CONTACTS | MS_CALENDARS));
        ASSERT(i->sync_seed == 77);
        ASSERT(strcmp(i->sync_classes, "Contacts") == 0);
        device_info_free(i);
        i = NULL;

        emu_test_make_profile(base, "keys-default", "", d, sizeof(d));
        ASSERT_OR_RETURN(profile_read_info(d, &i) == 0);
        ASSERT(i->sync_contacts == 0 && i->sync_icloud == 0 && i->sync_disabled == 0);
        ASSERT(i->sync_seed != 0);
        ASSERT(strstr(i->sync_classes, "Calendars"));
        device_info_free(i);

        emu_test_make_profile(base, "keys-bad", "SyncICloud=everything\n", d, sizeof(d));
        ASSERT(profile_read_info(d, &i) == -EBADMSG);
        emu_test_make_profile(base, "keys-bad2", "SyncContacts=-1\n", d, sizeof(d));
        ASSERT(profile_read_info(d, &i) == -EBADMSG);
}

int main(void) {
        const char *tmp = getenv("TMPDIR");

        emu_verbose = 0;
        snprintf(base, sizeof(base), "%s/test-emu-mobilesync.XXXXXX",
                 tmp && *tmp == '/' ? tmp : "/tmp");
        if (!mkdtemp(base)) {
                printf("FAIL: mkdtemp\n");
                return 1;
        }
        contacts = ms_class_lookup("com.apple.Contacts");
        calendars = ms_class_lookup("com.apple.Calendars");
        ASSERT(contacts && calendars && !ms_class_lookup("com.apple.Notes"));
        ASSERT(ms_class_lookup_short("Bookmarks"));

        test_generation();
        test_icloud();
        test_anchors();
        test_records();
        test_tethered();
        test_profile_keys();

        nftw(base, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        if (failures) {
                printf("%u check(s) failed\n", failures);
                return 1;
        }
        printf("all mobilesync store checks passed\n");
        return 0;
}
