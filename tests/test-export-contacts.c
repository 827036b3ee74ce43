/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The contacts export (lib/export-contacts.c) on address books built here with SQLite:
 * every property of a full contact (escaping of TEXT and structured values, label → TYPE
 * and X-ABLabel, dates with and without a year, groups, the photo as a data: URI, UID from
 * guid), hostile rows (NULL everywhere, wrong types, a name with '/' and "..", control
 * characters, a 200 kB note, a label id pointing nowhere, unknown properties), duplicate
 * display names (" (2)"), the sort order, folding at 75 octets on UTF-8 boundaries with
 * CRLF, a missing database and an unknown schema (result and reason, nothing written).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "export.h"
#include "test-export-util.h"
#include "test-util.h"

static char tmp[] = "/tmp/test-export-contacts.XXXXXX";

static int run(const char *src, const char *out, char *reason, uint64_t *items) {
        return test_export_run(&export_contacts, src, out, reason, 256, items);
}

/* Every line ends in CRLF, has at most 75 octets and starts on a UTF-8 boundary. */
static void check_lines(const char *text) {
        for (const char *p = text; *p;) {
                const char *e = strstr(p, "\r\n");

                ASSERT_TRUE(e != NULL);
                if (!e)
                        return;
                ASSERT_TRUE(e - p <= 75);
                ASSERT_TRUE(((unsigned char) *p & 0xC0) != 0x80 || p == text);
                ASSERT_TRUE(memchr(p, '\n', (size_t) (e - p)) == NULL);
                p = e + 2;
        }
}

static void expect(const char *text, const char *what) {
        if (!text || !strstr(text, what))
                printf("missing: %s\n", what);
        ASSERT_TRUE(text && strstr(text, what));
}

static const char schema[] =
        "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, First TEXT, Last TEXT, "
        "Middle TEXT, Prefix TEXT, Suffix TEXT, Nickname TEXT, Organization TEXT, "
        "Department TEXT, JobTitle TEXT, Note TEXT, Birthday TEXT, Kind INTEGER, "
        "ModificationDate INTEGER, guid TEXT, Extra BLOB);"
        "CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, property INTEGER, "
        "identifier INTEGER, label INTEGER, value TEXT, guid TEXT);"
        "CREATE TABLE ABMultiValueLabel (value TEXT, UNIQUE(value));"
        "CREATE TABLE ABMultiValueEntry (parent_id INTEGER, key INTEGER, value TEXT, "
        "UNIQUE(parent_id, key));"
        "CREATE TABLE ABMultiValueEntryKey (value TEXT, UNIQUE(value));"
        "CREATE TABLE ABGroup (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT);"
        "CREATE TABLE ABGroupMembers (UID INTEGER PRIMARY KEY, group_id INTEGER, "
        "member_type INTEGER, member_id INTEGER);";

static void test_full(void) {
        char src[256], ab[512], img[512], out[256], path[512], reason[256] = "", sql[8192];
        char *all, *one, *note;
        uint64_t items = 0;
        time_t yearless;
        struct tm tm = { .tm_year = 1604 - 1900, .tm_mon = 2, .tm_mday = 1, .tm_hour = 12 };

        snprintf(src, sizeof(src), "%s/full", tmp);
        snprintf(ab, sizeof(ab), "mkdir -p '%s/HomeDomain/Library/AddressBook'", src);
        ASSERT_EQ(system(ab), 0);
        snprintf(ab, sizeof(ab), "%s/HomeDomain/Library/AddressBook/AddressBook.sqlitedb", src);
        snprintf(img, sizeof(img), "%s/HomeDomain/Library/AddressBook/AddressBookImages.sqlitedb",
                 src);
        yearless = timegm(&tm) - EXPORT_MAC_EPOCH;
        ASSERT_OK(test_make_db(ab, schema));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO ABPerson (ROWID, First, Last, Middle, Nickname, Organization, "
                 "Department, JobTitle, Note, Birthday, ModificationDate, guid) VALUES "
                 "(1, 'Jörg', 'Müller', 'K.', 'Jo', 'ACME, Inc.', 'R;D', 'Boss', "
                 "'line1' || char(10) || 'line2, with; semi \\ back', '330609600.000000', "
                 "800000000, '0A1B2C3D-0000-4000-8000-000000000001');"
                 "INSERT INTO ABPerson (ROWID, Organization, Birthday) VALUES (2, 'Only Org', "
                 "'%lld');"
                 "INSERT INTO ABPerson (ROWID, First, Last, Birthday, ModificationDate, guid, "
                 "Note) "
                 "VALUES (3, 'A/..', 'Ctl' || char(1) || 'x', x'0102', 'abc', 'not a uuid', "
                 "hex(zeroblob(100000)));"
                 "INSERT INTO ABPerson (ROWID, First, Last) VALUES (4, 'Same', 'Name'), "
                 "(5, 'Same', 'Name'), (6, NULL, NULL);"
                 "UPDATE ABPerson SET Note = printf('%%.69c', 'a') || char(10) || 'b' "
                 "WHERE ROWID = 6;"
                 "INSERT INTO ABMultiValueLabel VALUES ('_$!<Mobile>!$_'), ('_$!<iPhone>!$_'), "
                 "('_$!<HomeFAX>!$_'), ('Custom, label'), ('_$!<Anniversary>!$_'), "
                 "('_$!<HomePage>!$_'), ('_$!<Home>!$_');"
                 "INSERT INTO ABMultiValue VALUES (1, 1, 3, 0, 1, '+49 151 1', NULL), "
                 "(2, 1, 3, 1, 2, '+49 151 2', NULL), (3, 1, 3, 2, 3, '+49 30 3', NULL), "
                 "(4, 1, 4, 0, 4, 'a@b.example', NULL), (5, 1, 12, 0, 5, '400000000', NULL), "
                 "(6, 1, 12, 1, 4, '400000000', NULL), (7, 1, 22, 0, 6, 'https://x.example/a', "
                 "NULL), "
                 "(8, 1, 5, 0, 7, NULL, NULL), (9, 3, 3, 0, 999, '+1 555', NULL), "
                 "(10, 3, 99, 0, NULL, 'unknown property', NULL), (11, 3, 3, 1, 1, NULL, NULL), "
                 "(12, 3, 12, 0, 5, 'not a date', NULL), (13, 6, 4, 0, NULL, 'x@y.example', NULL);"
                 "INSERT INTO ABMultiValueEntryKey VALUES ('Street'), ('City'), ('ZIP');"
                 "INSERT INTO ABMultiValueEntry VALUES (8, 1, 'Hauptstr. 1' || char(10) || 'Hof'), "
                 "(8, 2, 'Berlin'), (8, 3, '10115');"
                 "INSERT INTO ABGroup VALUES (1, 'Family'), (2, 'A,B');"
                 "INSERT INTO ABGroupMembers VALUES (1, 1, 0, 1), (2, 2, 0, 1), (3, 1, 1, 2);",
                 (long long) yearless);
        ASSERT_OK(test_make_db(ab, sql));
        ASSERT_OK(test_make_db(img, "CREATE TABLE ABFullSizeImage (ROWID INTEGER PRIMARY KEY, "
                               "record_id INTEGER, data BLOB);"
                               "INSERT INTO ABFullSizeImage VALUES (1, 1, x'FFD8FFE000');"));

        snprintf(out, sizeof(out), "%s/out-full", tmp);
        ASSERT_EQ(run(src, out, reason, &items), 0);
        ASSERT_EQ_U64(items, 6);
        ASSERT_STREQ(reason, "");

        snprintf(path, sizeof(path), "%s/contacts/Jörg K. Müller.vcf", out);
        one = test_slurp(path);
        ASSERT_TRUE(one != NULL);
        if (one) {
                check_lines(one);
                ASSERT_TRUE(strncmp(one, "BEGIN:VCARD\r\nVERSION:4.0\r\n", 26) == 0);
                expect(one, "\r\nUID:urn:uuid:0A1B2C3D-0000-4000-8000-000000000001\r\n");
                expect(one, "\r\nFN:Jörg K. Müller\r\n");
                expect(one, "\r\nN:Müller;Jörg;K.;;\r\n");
                expect(one, "\r\nNICKNAME:Jo\r\n");
                expect(one, "\r\nORG:ACME\\, Inc.;R\\;D\r\n");
                expect(one, "\r\nTITLE:Boss\r\n");
                expect(one, "\r\nNOTE:line1\\nline2\\, with\\; semi \\\\ back\r\n");
                expect(one, "\r\nBDAY:20110624\r\n");
                expect(one, "\r\nTEL;TYPE=cell:+49 151 1\r\n");
                ASSERT_TRUE(strstr(one, "\r\nitem1.TEL;TYPE=cell:+49 151 2\r\n"
                                        "item1.X-ABLabel:iphone\r\n"));
                expect(one, "\r\nTEL;TYPE=fax,home:+49 30 3\r\n");
                expect(one, "\r\nitem2.EMAIL:a@b.example\r\nitem2.X-ABLabel:Custom\\, label\r\n");
                expect(one, "\r\nADR;TYPE=home:;;Hauptstr. 1\\nHof;Berlin;;10115;\r\n");
                expect(one, "\r\nANNIVERSARY:20130904\r\n");
                expect(one, "\r\nitem3.X-ABDATE:20130904\r\nitem3.X-ABLabel:Custom\\, label\r\n");
                expect(one, "\r\nitem4.URL:https://x.example/a\r\nitem4.X-ABLabel:homepage\r\n");
                expect(one, "\r\nCATEGORIES:Family,A\\,B\r\n");
                expect(one, "\r\nPHOTO:data:image/jpeg;base64,/9j/4AA=\r\n");
                expect(one, "\r\nREV:20260509T061320Z\r\n");
                ASSERT_TRUE(strstr(one, "END:VCARD\r\n") != NULL);
                free(one);
        }

        snprintf(path, sizeof(path), "%s/contacts/Only Org.vcf", out);
        one = test_slurp(path);
        ASSERT_TRUE(one && strstr(one, "\r\nBDAY:--0301\r\n"));
        ASSERT_TRUE(one && strstr(one, "\r\nUID:urn:x-idevicesync:addressbook:local:2\r\n"));
        ASSERT_TRUE(one && !strstr(one, "CATEGORIES"));     /* member_type 1 is no person */
        free(one);

        /* '/' and control characters do not reach the name; hostile values give no property. */
        snprintf(path, sizeof(path), "%s/contacts/A_.. Ctl_x.vcf", out);
        one = test_slurp(path);
        ASSERT_TRUE(one != NULL);
        if (one) {
                check_lines(one);
                expect(one, "\r\nFN:A/.. Ctl x\r\n");
                expect(one, "\r\nUID;VALUE=text:not a uuid\r\n");
                expect(one, "\r\nTEL:+1 555\r\n");  /* label 999 is nowhere */
                ASSERT_TRUE(!strstr(one, "BDAY") && !strstr(one, "REV"));
                ASSERT_TRUE(!strstr(one, "X-ABDATE"));
                ASSERT_TRUE(!strstr(one, "unknown property"));
                note = strstr(one, "\r\nNOTE:");
                ASSERT_TRUE(note && strlen(note) > 200000);
                free(one);
        }
        snprintf(path, sizeof(path), "%s/contacts/Same Name.vcf", out);
        ASSERT_SYS(access(path, F_OK));
        snprintf(path, sizeof(path), "%s/contacts/Same Name (2).vcf", out);
        ASSERT_SYS(access(path, F_OK));
        /* No name, organisation or phone: the first e-mail is the name. */
        snprintf(path, sizeof(path), "%s/contacts/x@y.example.vcf", out);
        one = test_slurp(path);
        ASSERT_TRUE(one != NULL);
        if (one) {
                char want[128];

                /* 74 octets, and the escape does not fit: the fold comes before it. */
                snprintf(want, sizeof(want), "\r\nNOTE:%.69s\r\n \\nb\r\n",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
                expect(one, want);
                free(one);
        }

        snprintf(path, sizeof(path), "%s/contacts.vcf", out);
        all = test_slurp(path);
        ASSERT_TRUE(all != NULL);
        if (all) {
                const char *a = strstr(all, "FN:Only Org"), *b = strstr(all, "FN:A/.. Ctl x");
                const char *c = strstr(all, "FN:Jörg"), *d = strstr(all, "FN:Same Name");
                unsigned n = 0;

                check_lines(all);
                for (const char *p = all; (p = strstr(p, "BEGIN:VCARD")); p++)
                        n++;
                ASSERT_EQ(n, 6);
                /* By last name ("" first), then first name, then ROWID. */
                ASSERT_TRUE(a && b && c && d && a < b && b < c && c < d);
                free(all);
        }
}

static void test_missing_and_unknown(void) {
        char src[256], out[256], path[512], reason[256] = "";
        uint64_t items = 7;

        snprintf(src, sizeof(src), "%s/empty", tmp);
        ASSERT_SYS(mkdir(src, 0755));
        snprintf(out, sizeof(out), "%s/out-empty", tmp);
        ASSERT_EQ(run(src, out, reason, &items), -ENOENT);
        ASSERT_TRUE(strstr(reason, "contacts") != NULL);
        ASSERT_TRUE(test_dir_empty(out));

        snprintf(src, sizeof(src), "%s/future", tmp);
        snprintf(path, sizeof(path), "mkdir -p '%s/HomeDomain/Library/AddressBook'", src);
        ASSERT_EQ(system(path), 0);
        snprintf(path, sizeof(path), "%s/HomeDomain/Library/AddressBook/AddressBook.sqlitedb", src);
        ASSERT_OK(test_make_db(path, "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, GivenName TEXT, "
                                "FamilyName TEXT); INSERT INTO ABPerson VALUES (1, 'A', 'B');"));
        snprintf(out, sizeof(out), "%s/out-future", tmp);
        reason[0] = 0;
        ASSERT_EQ(run(src, out, reason, &items), IDS_E_UNSUPPORTED);
        ASSERT_STREQ(reason, "contacts database schema of iOS 17.5 is not known "
                             "(ABPerson has no column First)");
        ASSERT_TRUE(test_dir_empty(out));

        /* Not a database at all. */
        ASSERT_OK(unlink(path));
        ASSERT_OK(test_make_db(path, ""));
        {
                FILE *f = fopen(path, "we");

                ASSERT_TRUE(f != NULL);
                if (f) {
                        fputs("this is not SQLite", f);
                        fclose(f);
                }
        }
        snprintf(out, sizeof(out), "%s/out-garbage", tmp);
        ASSERT_TRUE(run(src, out, reason, &items) != 0);
        ASSERT_TRUE(test_dir_empty(out));
}

int main(void) {
        char cmd[128];

        if (!mkdtemp(tmp)) {
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }
        test_full();
        test_missing_and_unknown();
        if (getenv("KEEP"))             /* to look at the output */
                return test_exit_status();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        (void) system(cmd);
        return test_exit_status();
}
