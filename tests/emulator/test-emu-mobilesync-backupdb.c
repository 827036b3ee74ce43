/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of mobilesync-backupdb.c: the backup's AddressBook.sqlitedb and
 * Calendar.sqlitedb hold exactly the people and events of the mobilesync stores (names,
 * phones, emails; summaries and starts, joined by ROWID = record id), iCloud records
 * included; a change to the store reaches the databases, an unchanged store does not
 * rewrite them, and a profile without stores keeps the databases gen-profile wrote.
 *
 * Works in a mkdtemp() directory under $TMPDIR (or /tmp), removed at the end. Prints
 * "FAIL: <expr> at file:line" for each failed check; exits 0 only if none failed.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mobilesync.h"
#include "profile-pim.h"
#include "test-emu-util.h"

#define AB_DB "backup/HomeDomain/Library/AddressBook/AddressBook.sqlitedb"
/* The iOS every profile of this test reports. */
#define IOS "ProductVersion=17.5\n"
#define CAL_DB "backup/HomeDomain/Library/Calendar/Calendar.sqlitedb"

static char base[2048];
static const MsClass *contacts, *calendars;

static sqlite3 *db_open(const char *dir, const char *rel) {
        char path[4300];
        sqlite3 *db = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                sqlite3_close(db);
                return NULL;
        }
        return db;
}

static long long db_count(sqlite3 *db, const char *sql) {
        sqlite3_stmt *s = NULL;
        long long n = -1;

        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
                n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return n;
}

/* The text of one row's column (sql with one ? for rowid), "" if NULL, into buf. */
static bool db_text(sqlite3 *db, const char *sql, long long rowid, char *buf, size_t n) {
        sqlite3_stmt *s = NULL;
        bool ok = false;

        buf[0] = '\0';
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(s, 1, rowid);
                if (sqlite3_step(s) == SQLITE_ROW) {
                        const unsigned char *t = sqlite3_column_text(s, 0);

                        snprintf(buf, n, "%s", t ? (const char *) t : "");
                        ok = true;
                }
        }
        sqlite3_finalize(s);
        return ok;
}

/* The values of sub-records of entity linked to contact id, sorted and joined by '|'. */
static void store_values(MsStore *s, const char *entity, const char *id, char *buf, size_t n) {
        char **ids = NULL, *vals[64];
        size_t k = 0, m = 0;

        buf[0] = '\0';
        if (ms_store_sorted_ids(s, s->records, &ids, &k) < 0)
                return;
        for (size_t i = 0; i < k; i++) {
                plist_t rec = plist_dict_get_item(s->records, ids[i]);
                plist_t link = plist_dict_get_item(rec, "contact");
                const char *v = plist_dict_str(rec, "value");

                if (strcmp(ms_record_entity(rec) ?: "", entity) != 0 || !link || !v ||
                    strcmp(plist_str(plist_array_get_item(link, 0)) ?: "", id) != 0)
                        continue;
                if (m < 64)
                        vals[m++] = (char *) v;
        }
        for (size_t a = 1; a < m; a++)
                for (size_t b = a; b > 0 && strcmp(vals[b - 1], vals[b]) > 0; b--) {
                        char *t = vals[b];
                        vals[b] = vals[b - 1];
                        vals[b - 1] = t;
                }
        for (size_t i = 0; i < m; i++)
                snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? "|" : "", vals[i]);
        ms_ids_free(ids, k);
}

static void db_values(sqlite3 *db, long long person, int property, char *buf, size_t n) {
        sqlite3_stmt *s = NULL;

        buf[0] = '\0';
        if (sqlite3_prepare_v2(db,
                               "SELECT value FROM ABMultiValue WHERE record_id = ? AND "
                               "property = ? ORDER BY value",
                               -1, &s, NULL) != SQLITE_OK)
                return;
        sqlite3_bind_int64(s, 1, person);
        sqlite3_bind_int(s, 2, property);
        while (sqlite3_step(s) == SQLITE_ROW)
                snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", *buf ? "|" : "",
                         (const char *) sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
}

/* Every Contact of dict is an ABPerson with the same names, phones and emails; returns the
 * number compared. */
static unsigned compare_people(MsStore *s, plist_t dict, sqlite3 *db) {
        char **ids = NULL, a[1024], b[1024];
        size_t n = 0;
        unsigned seen = 0;

        if (ms_store_sorted_ids(s, dict, &ids, &n) < 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                plist_t rec = plist_dict_get_item(dict, ids[i]);
                long long row = strtoll(ids[i], NULL, 10);

                if (strcmp(ms_record_entity(rec), "com.apple.contacts.Contact") != 0)
                        continue;
                seen++;
                ASSERT(db_text(db, "SELECT First FROM ABPerson WHERE ROWID = ?", row, a,
                               sizeof(a)));
                ASSERT(strcmp(a, plist_dict_str(rec, "first name") ?: "") == 0);
                ASSERT(db_text(db, "SELECT Last FROM ABPerson WHERE ROWID = ?", row, a, sizeof(a)));
                ASSERT(strcmp(a, plist_dict_str(rec, "last name") ?: "") == 0);
                if (dict == s->records) { /* store_values() reads Records */
                        store_values(s, "com.apple.contacts.Phone Number", ids[i], a, sizeof(a));
                        db_values(db, row, 3, b, sizeof(b));
                        ASSERT(*a && strcmp(a, b) == 0);
                        store_values(s, "com.apple.contacts.Email Address", ids[i], a, sizeof(a));
                        db_values(db, row, 4, b, sizeof(b));
                        ASSERT(strcmp(a, b) == 0);
                }
        }
        ms_ids_free(ids, n);
        return seen;
}

static void test_same_phone(void) {
        _cleanup_(ms_store_freep) MsStore *cs = NULL, *es = NULL;
        MsGenOptions o = {.seed = 5, .contacts = 20, .events = 15};
        char d[4096], a[512], **ids = NULL;
        sqlite3 *db;
        size_t n = 0;
        unsigned events = 0;

        emu_test_make_profile(base, "same", IOS "SyncContacts=20\nSyncEvents=15\nSyncSeed=5\n", d,
                              sizeof(d));
        /* gen-profile --pim's people first: the store must replace them. */
        ASSERT_OR_RETURN(pim_contacts_generate(d, "17.5", 9, 7) == 0);
        ASSERT_OR_RETURN(ms_backupdb_refresh(d, MS_CONTACTS | MS_CALENDARS, false) == 0);

        ASSERT_OR_RETURN(ms_store_load(d, contacts, &o, &cs) == 0);
        db = db_open(d, AB_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson") == 20);
        ASSERT(compare_people(cs, cs->records, db) == 20);
        ASSERT(db_count(db, "SELECT count(*) FROM ABGroup") == 2);
        sqlite3_close(db);

        ASSERT_OR_RETURN(ms_store_load(d, calendars, &o, &es) == 0);
        db = db_open(d, CAL_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM CalendarItem") == 15);
        ASSERT(db_count(db, "SELECT count(*) FROM Calendar") == 3);
        ASSERT_OR_RETURN(ms_store_sorted_ids(es, es->records, &ids, &n) == 0);
        for (size_t i = 0; i < n; i++) {
                plist_t rec = plist_dict_get_item(es->records, ids[i]);
                long long row = strtoll(ids[i], NULL, 10);
                int32_t sec = 0, usec = 0;

                if (strcmp(ms_record_entity(rec), "com.apple.calendars.Event") != 0)
                        continue;
                events++;
                ASSERT(db_text(db, "SELECT summary FROM CalendarItem WHERE ROWID = ?", row, a,
                               sizeof(a)));
                ASSERT(strcmp(a, plist_dict_str(rec, "summary")) == 0);
                plist_get_date_val(plist_dict_get_item(rec, "start date"), &sec, &usec);
                ASSERT(db_text(db,
                               "SELECT CAST(start_date AS INTEGER) FROM CalendarItem "
                               "WHERE ROWID = ?",
                               row, a, sizeof(a)));
                ASSERT(strtoll(a, NULL, 10) == sec);
        }
        ASSERT(events == 15);
        ms_ids_free(ids, n);
        /* Sub-records: recurrences, alarms, attendees as the store has them. */
        ASSERT(db_count(db, "SELECT count(*) FROM Recurrence") > 0);
        ASSERT(db_count(db, "SELECT count(*) FROM Alarm") > 0);
        ASSERT(db_count(db, "SELECT count(*) FROM Participant WHERE is_self = 0") > 0);
        sqlite3_close(db);
}

static void test_changes(void) {
        _cleanup_(ms_store_freep) MsStore *s = NULL, *again = NULL;
        MsGenOptions o = {.seed = 6, .contacts = 10};
        char d[4096], path[4300], a[256], id[21], sub[21];
        struct stat st1, st2;
        plist_t rec, link;
        sqlite3 *db;

        emu_test_make_profile(base, "changes", IOS "SyncContacts=10\nSyncSeed=6\n", d,
                              sizeof(d));
        ASSERT_OR_RETURN(ms_backupdb_refresh(d, MS_CONTACTS, false) == 0);
        snprintf(path, sizeof(path), "%s/%s", d, AB_DB);
        ASSERT_OR_RETURN(stat(path, &st1) == 0);

        /* A store whose anchors alone changed: the database stays. */
        ASSERT_OR_RETURN(ms_store_load(d, contacts, &o, &s) == 0);
        ms_store_begin(s);
        ASSERT_OR_RETURN(ms_store_save(s) == 0);
        ASSERT(ms_backupdb_refresh(d, MS_CONTACTS, false) == 0);
        ASSERT_OR_RETURN(stat(path, &st2) == 0);
        ASSERT(st1.st_ino == st2.st_ino);

        /* A person added with a phone, another deleted: both in the database. */
        rec = plist_new_dict();
        plist_dict_set_item(rec, MS_ENTITY_KEY, plist_new_string("com.apple.contacts.Contact"));
        plist_dict_set_item(rec, "first name", plist_new_string("Pushed"));
        plist_dict_set_item(rec, "last name", plist_new_string("Person"));
        ASSERT_OR_RETURN(ms_store_add(s, rec, false, id) == 0);
        rec = plist_new_dict();
        plist_dict_set_item(rec, MS_ENTITY_KEY,
                            plist_new_string("com.apple.contacts.Phone Number"));
        plist_dict_set_item(rec, "value", plist_new_string("+1 555 0199"));
        plist_dict_set_item(rec, "type", plist_new_string("work fax"));
        link = plist_new_array();
        plist_array_append_item(link, plist_new_string(id));
        plist_dict_set_item(rec, "contact", link);
        ASSERT_OR_RETURN(ms_store_add(s, rec, false, sub) == 0);
        rec = plist_new_dict();
        plist_dict_set_item(rec, MS_ENTITY_KEY, plist_new_string("com.apple.contacts.IM"));
        plist_dict_set_item(rec, "user", plist_new_string("pushed@jabber.example"));
        plist_dict_set_item(rec, "service", plist_new_string("Jabber"));
        plist_dict_set_item(rec, "type", plist_new_string("home"));
        link = plist_new_array();
        plist_array_append_item(link, plist_new_string(id));
        plist_dict_set_item(rec, "contact", link);
        ASSERT_OR_RETURN(ms_store_add(s, rec, false, sub) == 0);
        ASSERT(ms_store_delete(s, "3", false) > 0);
        ASSERT_OR_RETURN(ms_store_save(s) == 0);
        ASSERT(ms_backupdb_refresh(d, MS_CONTACTS, false) == 0);

        db = db_open(d, AB_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson") == 10);
        ASSERT(db_text(db, "SELECT First || ' ' || Last FROM ABPerson WHERE ROWID = ?",
                       strtoll(id, NULL, 10), a, sizeof(a)));
        ASSERT(strcmp(a, "Pushed Person") == 0);
        ASSERT(db_text(db,
                       "SELECT v.value || ' ' || l.value FROM ABMultiValue v JOIN "
                       "ABMultiValueLabel l ON l.ROWID = v.label WHERE v.record_id = ? AND "
                       "v.property = 3",
                       strtoll(id, NULL, 10), a, sizeof(a)));
        ASSERT(strcmp(a, "+1 555 0199 _$!<WorkFAX>!$_") == 0);
        ASSERT(db_text(db,
                       "SELECT group_concat(e.value, '/') FROM ABMultiValue v JOIN "
                       "ABMultiValueEntry e ON e.parent_id = v.UID WHERE v.record_id = ? AND "
                       "v.property = 13",
                       strtoll(id, NULL, 10), a, sizeof(a)));
        ASSERT(strstr(a, "Jabber") && strstr(a, "pushed@jabber.example"));
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson WHERE ROWID = 3") == 0);
        ASSERT(db_count(db, "SELECT count(*) FROM ABMultiValue WHERE record_id = 3") == 0);
        sqlite3_close(db);

        /* The truth JSON says the same. */
        ASSERT_OR_RETURN(ms_store_load(d, contacts, &o, &again) == 0);
        {
                FILE *f;
                char line[1 << 16];
                size_t people = 0;

                snprintf(path, sizeof(path), "%s/contacts.json", d);
                f = fopen(path, "r");
                ASSERT_OR_RETURN(f);
                while (fgets(line, sizeof(line), f))
                        people += strncmp(line, "{\"id\":", 6) == 0;
                fclose(f);
                ASSERT(people == 10);
        }
}

static void test_icloud(void) {
        _cleanup_(ms_store_freep) MsStore *s = NULL;
        MsGenOptions o = {.seed = 8, .contacts = 12, .icloud = MS_CONTACTS};
        char d[4096];
        sqlite3 *db;

        emu_test_make_profile(base, "icloud",
                              IOS "SyncContacts=12\nSyncSeed=8\nSyncICloud=contacts\n", d,
                              sizeof(d));
        ASSERT_OR_RETURN(ms_backupdb_refresh(d, MS_CONTACTS | MS_CALENDARS, false) == 0);
        ASSERT_OR_RETURN(ms_store_load(d, contacts, &o, &s) == 0);
        ASSERT(plist_dict_get_size(s->records) == 0);
        db = db_open(d, AB_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson") == 12);
        ASSERT(compare_people(s, s->cloud, db) == 12);
        sqlite3_close(db);
}

static void test_no_store(void) {
        char d[4096], path[4300];
        struct stat st1, st2;

        /* No Sync* counts, no store: gen-profile's databases stay, no store is made. */
        emu_test_make_profile(base, "plain", IOS, d, sizeof(d));
        ASSERT_OR_RETURN(pim_contacts_generate(d, "17.5", 3, 5) == 0);
        snprintf(path, sizeof(path), "%s/%s", d, AB_DB);
        ASSERT_OR_RETURN(stat(path, &st1) == 0);
        ASSERT(ms_backupdb_refresh(d, MS_CONTACTS | MS_CALENDARS, false) == 0);
        ASSERT_OR_RETURN(stat(path, &st2) == 0);
        ASSERT(st1.st_ino == st2.st_ino);
        snprintf(path, sizeof(path), "%s/mobilesync/com.apple.Contacts.plist", d);
        ASSERT(access(path, F_OK) < 0 && errno == ENOENT);
}

static void test_mutate(void) {
        _cleanup_(ms_store_freep) MsStore *cs = NULL, *es = NULL;
        MsGenOptions o = {.seed = 4, .contacts = 10, .events = 6};
        unsigned classes = 0;
        char d[4096];
        sqlite3 *db;

        emu_test_make_profile(base, "mutate", IOS "SyncContacts=10\nSyncEvents=6\nSyncSeed=4\n", d,
                              sizeof(d));
        ASSERT_OR_RETURN(ms_backupdb_refresh(d, MS_CONTACTS | MS_CALENDARS, false) == 0);
        /* As `fakeidevice mutate --pim-change 2 --pim-add 1 --pim-delete 1`. */
        ASSERT_OR_RETURN(ms_profile_mutate(d, 3, 2, 1, 1, &classes) == 0);
        ASSERT(classes == (MS_CONTACTS | MS_CALENDARS));
        ASSERT(ms_profile_mutate(d, 3, 10, 0, 1, &classes) == -EINVAL);

        ASSERT_OR_RETURN(ms_store_load(d, contacts, &o, &cs) == 0);
        /* 2 changed, 1 added with its phone, 1 deleted with its sub-records (≥ 2). */
        ASSERT(plist_dict_get_size(cs->changes) >= 6);
        db = db_open(d, AB_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson") == 10);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson WHERE First = 'Añadido'") == 1);
        ASSERT(db_count(db, "SELECT count(*) FROM ABPerson WHERE Note LIKE 'Changed on the "
                            "phone%'") == 2);
        ASSERT(compare_people(cs, cs->records, db) == 10);
        sqlite3_close(db);

        ASSERT_OR_RETURN(ms_store_load(d, calendars, &o, &es) == 0);
        db = db_open(d, CAL_DB);
        ASSERT_OR_RETURN(db);
        ASSERT(db_count(db, "SELECT count(*) FROM CalendarItem") == 6);
        ASSERT(db_count(db, "SELECT count(*) FROM CalendarItem WHERE summary LIKE '%(moved%'") ==
               2);
        ASSERT(db_count(db, "SELECT count(*) FROM CalendarItem WHERE summary LIKE 'Added on "
                            "the phone%'") == 1);
        sqlite3_close(db);
}

int main(void) {
        const char *tmp = getenv("TMPDIR");

        emu_verbose = 0;
        snprintf(base, sizeof(base), "%s/test-emu-mobilesync-backupdb.XXXXXX",
                 tmp && *tmp == '/' ? tmp : "/tmp");
        if (!mkdtemp(base)) {
                printf("FAIL: mkdtemp\n");
                return 1;
        }
        contacts = ms_class_lookup("com.apple.Contacts");
        calendars = ms_class_lookup("com.apple.Calendars");

        test_same_phone();
        test_changes();
        test_icloud();
        test_no_store();
        test_mutate();

        nftw(base, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        if (failures) {
                printf("%u check(s) failed\n", failures);
                return 1;
        }
        printf("all mobilesync backup database checks passed\n");
        return 0;
}
