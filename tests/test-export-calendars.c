/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The calendars export (lib/export-calendars.c) on Calendar.sqlitedb files built here with
 * SQLite: a zoned weekly event with BYDAY, COUNT, an EXDATE, a modified occurrence, an
 * alarm, an organizer and attendees (one VTIMEZONE per zone, before the events); UTC,
 * floating and all-day events (DTEND the day after); monthly BYDAY=-1FR with UNTIL and
 * yearly BYMONTH; hostile rows (text where a date belongs, NULL summary, an unknown zone, an
 * unknown frequency, a garbled specifier); calendar titles with '/' and twice the same
 * title; a calendar without events (no file); legacy reminders (a note); a missing database
 * and the "future" schema (result and reason, nothing written).
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

static char tmp[] = "/tmp/test-export-calendars.XXXXXX";

static int run(const char *src, const char *out, char *reason, uint64_t *items) {
        return test_export_run(&export_calendars, src, out, reason, 256, items);
}

/* Mac absolute seconds of a UTC time. */
static long long mac(int y, int mo, int d, int h, int mi) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                         .tm_min = mi };

        return (long long) timegm(&tm) - EXPORT_MAC_EPOCH;
}

static const char schema[] =
        "CREATE TABLE Calendar (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);"
        "CREATE TABLE CalendarItem (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, summary TEXT, "
        "location_id INTEGER, description TEXT, start_date REAL, start_tz TEXT, end_date REAL, "
        "end_tz TEXT, all_day INTEGER, calendar_id INTEGER, orig_item_id INTEGER, "
        "orig_date REAL, organizer_id INTEGER, status INTEGER, entity_type INTEGER, "
        "unique_identifier TEXT, UUID TEXT, last_modified REAL, creation_date REAL, url TEXT);"
        "CREATE TABLE Location (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, "
        "address TEXT, item_owner_id INTEGER);"
        "CREATE TABLE Recurrence (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, frequency INTEGER, "
        "interval INTEGER, week_start INTEGER, count INTEGER, end_date REAL, specifier TEXT, "
        "owner_id INTEGER);"
        "CREATE TABLE ExceptionDate (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, "
        "date REAL);"
        "CREATE TABLE Alarm (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, trigger_date REAL, "
        "trigger_interval INTEGER, calendaritem_owner_id INTEGER);"
        "CREATE TABLE Participant (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, entity_type INTEGER, "
        "status INTEGER, role INTEGER, identity_id INTEGER, owner_id INTEGER, email TEXT);"
        "CREATE TABLE Identity (display_name TEXT, address TEXT, first_name TEXT, last_name TEXT);";

static void expect(const char *text, const char *what) {
        if (!text || !strstr(text, what))
                printf("missing: %s\n", what);
        ASSERT_TRUE(text && strstr(text, what));
}

static void test_full(void) {
        char src[256], db[512], out[256], path[512], reason[256] = "", sql[8192];
        char *ics;
        uint64_t items = 0;

        snprintf(src, sizeof(src), "%s/full", tmp);
        snprintf(db, sizeof(db), "mkdir -p '%s/HomeDomain/Library/Calendar'", src);
        ASSERT_EQ(system(db), 0);
        snprintf(db, sizeof(db), "%s/HomeDomain/Library/Calendar/Calendar.sqlitedb", src);
        ASSERT_OK(test_make_db(db, schema));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO Calendar VALUES (1, 'Home'), (2, 'Work/Team'), (3, 'Empty'), "
                 "(4, 'Home');"
                 "INSERT INTO Location VALUES (1, 'Café, Berlin', 'Hauptstr. 1', 1);"
                 "INSERT INTO Identity VALUES ('Anna Müller', 'mailto:anna@example.com', NULL, "
                 "NULL), "
                 "('Ich', 'mailto:me@example.com', NULL, NULL);"
                 /* 1: Berlin, weekly MO,WE x5, exdate, override, alarm, people */
                 "INSERT INTO CalendarItem VALUES (1, 'Team, weekly; sync', 1, 'Line 1' || "
                 "char(10) "
                 "|| 'Line 2', %lld, 'Europe/Berlin', %lld, 'Europe/Berlin', 0, 1, 0, NULL, 3, 1, "
                 "2, "
                 "'uid-1@example.com', 'U1', %lld, NULL, NULL);"
                 "INSERT INTO Recurrence VALUES (1, 2, 1, 2, 5, NULL, 'D=0MO,0WE', 1);"
                 "INSERT INTO ExceptionDate VALUES (1, 1, %lld);"
                 "INSERT INTO CalendarItem VALUES (2, 'Team (moved)', NULL, NULL, %lld, "
                 "'Europe/Berlin', "
                 "%lld, 'Europe/Berlin', 0, 1, 1, %lld, 0, 0, 2, 'uid-1@example.com', 'U2', NULL, "
                 "NULL, NULL);"
                 "INSERT INTO Alarm VALUES (1, NULL, -900, 1);"
                 "INSERT INTO Participant VALUES (1, 7, 1, 1, 1, 1, 'anna@example.com'), "
                 "(2, 7, 0, 2, NULL, 1, 'bob@example.org'), (3, 8, 1, 3, 2, 1, 'me@example.com');"
                 /* 3: UTC; 4: floating; 5: all-day */
                 "INSERT INTO CalendarItem (ROWID, summary, start_date, end_date, start_tz, "
                 "all_day, "
                 "calendar_id, entity_type, unique_identifier) VALUES "
                 "(3, 'UTC call', %lld, %lld, 'UTC', 0, 1, 2, 'uid-3'), "
                 "(4, 'Floating', %lld, %lld, '_float', 0, 1, 2, 'uid-4'), "
                 "(5, 'Holiday', %lld, %lld, '_float', 1, 2, 2, 'uid-5'), "
                 /* 6: monthly last Friday until; 7: yearly in October; 8: hostile */
                 "(6, 'Last Friday', %lld, %lld, 'America/New_York', 0, 2, 2, 'uid-6'), "
                 "(7, 'Yearly', %lld, %lld, 'Asia/Tokyo', 0, 2, 2, 'uid-7'), "
                 "(8, NULL, 'yesterday', x'00', 'Mars/Base', 0, 2, 2, NULL), "
                 "(9, 'Reminder', %lld, %lld, '_float', 0, 1, 3, 'uid-9'), "
                 "(10, 'In the second Home', %lld, %lld, 'UTC', 0, 4, 2, 'uid-10');"
                 "INSERT INTO Recurrence VALUES (2, 3, 1, 2, 0, %lld, 'D=-1FR', 6), "
                 "(3, 4, 1, 2, 0, NULL, 'O=10;M=5', 7), (4, 9, 1000000, 2, -3, 'x', "
                 "'D=XX,+99MO,;M=abc,99;;=;O=13', 8);",
                 mac(2026, 3, 2, 9, 0), mac(2026, 3, 2, 10, 0), mac(2026, 1, 1, 0, 0),
                 mac(2026, 3, 4, 9, 0),
                 mac(2026, 3, 9, 10, 0), mac(2026, 3, 9, 11, 0), mac(2026, 3, 9, 9, 0),
                 mac(2026, 5, 1, 12, 0), mac(2026, 5, 1, 13, 0),
                 mac(2026, 8, 15, 16, 0), mac(2026, 8, 15, 17, 30),
                 mac(2026, 10, 30, 0, 0), mac(2026, 10, 31, 23, 59) + 59,
                 mac(2026, 1, 30, 14, 0), mac(2026, 1, 30, 15, 0),
                 mac(2026, 10, 5, 3, 0), mac(2026, 10, 5, 4, 0),
                 mac(2026, 1, 1, 0, 0), mac(2026, 1, 1, 1, 0),
                 mac(2026, 2, 1, 0, 0), mac(2026, 2, 1, 1, 0),
                 mac(2026, 12, 25, 14, 0));
        ASSERT_OK(test_make_db(db, sql));

        snprintf(out, sizeof(out), "%s/out-full", tmp);
        ASSERT_EQ(run(src, out, reason, &items), 0);
        ASSERT_EQ_U64(items, 9);        /* 8 masters of type 2 + 1 modified occurrence */
        ASSERT_TRUE(strstr(reason, "1 legacy reminder in the calendar database is not exported") != NULL);

        snprintf(path, sizeof(path), "%s/calendars/Home.ics", out);
        ics = test_slurp(path);
        ASSERT_TRUE(ics != NULL);
        if (ics) {
                const char *tz = strstr(ics, "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n");

                expect(ics, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
                expect(ics, "X-WR-CALNAME:Home\r\n");
                ASSERT_TRUE(tz && tz < strstr(ics, "BEGIN:VEVENT"));
                ASSERT_TRUE(tz && !strstr(tz + 1, "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"));
                expect(ics, "UID:uid-1@example.com\r\n");
                expect(ics, "DTSTART;TZID=Europe/Berlin:20260302T100000\r\n");
                expect(ics, "DTEND;TZID=Europe/Berlin:20260302T110000\r\n");
                expect(ics, "SUMMARY:Team\\, weekly\\; sync\r\n");
                expect(ics, "LOCATION:Café\\, Berlin\\nHauptstr. 1\r\n");
                expect(ics, "DESCRIPTION:Line 1\\nLine 2\r\n");
                expect(ics, "RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO,WE\r\n");
                expect(ics, "EXDATE;TZID=Europe/Berlin:20260304T100000\r\n");
                expect(ics, "STATUS:CONFIRMED\r\n");
                expect(ics, "ORGANIZER;CN=Ich:mailto:me@example.com\r\n");
                expect(ics, "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;CN=Anna Müller:");
                expect(ics, "ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=OPT-PARTICIPANT:");
                expect(ics, "BEGIN:VALARM\r\nACTION:DISPLAY\r\n");
                expect(ics, "TRIGGER:-PT15M\r\n");
                expect(ics, "RECURRENCE-ID;TZID=Europe/Berlin:20260309T100000\r\n");
                expect(ics, "DTSTART;TZID=Europe/Berlin:20260309T110000\r\n");
                expect(ics, "SUMMARY:Team (moved)\r\n");
                expect(ics, "DTSTART:20260501T120000Z\r\n");
                expect(ics, "DTSTART:20260815T160000\r\n");
                expect(ics, "DTEND:20260815T173000\r\n");
                ASSERT_TRUE(!strstr(ics, "Reminder\r\n"));
                free(ics);
        }
        snprintf(path, sizeof(path), "%s/calendars/Work_Team.ics", out);
        ics = test_slurp(path);
        ASSERT_TRUE(ics != NULL);
        if (ics) {
                expect(ics, "DTSTART;VALUE=DATE:20261030\r\n");
                expect(ics, "DTEND;VALUE=DATE:20261101\r\n");
                expect(ics, "RRULE:FREQ=MONTHLY;UNTIL=20261225T140000Z;BYDAY=-1FR\r\n");
                expect(ics, "DTSTART;TZID=America/New_York:20260130T090000\r\n");
                expect(ics, "RRULE:FREQ=YEARLY;BYMONTHDAY=5;BYMONTH=10\r\n");
                expect(ics, "TZID:Asia/Tokyo\r\n");
                /* The hostile row: no rule, a UID of its own, no zone anyone knows. */
                expect(ics, "UID:idevicesync-calendar-8\r\n");
                ASSERT_TRUE(!strstr(ics, "Mars"));
                ASSERT_TRUE(!strstr(ics, "FREQ=DAILY") && !strstr(ics, "INTERVAL=1000000"));
                free(ics);
        }
        snprintf(path, sizeof(path), "%s/calendars/Home (2).ics", out);
        ics = test_slurp(path);
        expect(ics, "SUMMARY:In the second Home\r\n");
        free(ics);
        snprintf(path, sizeof(path), "%s/calendars/Empty.ics", out);
        ASSERT_TRUE(access(path, F_OK) < 0);
}

static void test_missing_and_unknown(void) {
        char src[256], out[256], path[512], reason[256] = "";
        uint64_t items = 7;

        snprintf(src, sizeof(src), "%s/empty", tmp);
        ASSERT_SYS(mkdir(src, 0755));
        snprintf(out, sizeof(out), "%s/out-empty", tmp);
        ASSERT_EQ(run(src, out, reason, &items), -ENOENT);
        ASSERT_TRUE(strstr(reason, "calendar") != NULL);
        ASSERT_TRUE(test_dir_empty(out));

        snprintf(src, sizeof(src), "%s/future", tmp);
        snprintf(path, sizeof(path), "mkdir -p '%s/HomeDomain/Library/Calendar'", src);
        ASSERT_EQ(system(path), 0);
        snprintf(path, sizeof(path), "%s/HomeDomain/Library/Calendar/Calendar.sqlitedb", src);
        ASSERT_OK(test_make_db(path, "CREATE TABLE Calendar (ROWID INTEGER PRIMARY KEY, title TEXT);"
                                "CREATE TABLE CalendarEvent (ROWID INTEGER PRIMARY KEY, summary "
                                "TEXT);"));
        snprintf(out, sizeof(out), "%s/out-future", tmp);
        reason[0] = 0;
        ASSERT_EQ(run(src, out, reason, &items), IDS_E_UNSUPPORTED);
        ASSERT_STREQ(reason, "calendar database schema of iOS 17.5 is not known "
                             "(no table CalendarItem)");
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
