/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync records ↔ event (lib/pim-records-events.c): an event made into its Event
 * record and children and read back is the same item (zoned and all-day, a Recurrence with
 * by-day rules, people, alarms); the records have the documented shapes (plist dates,
 * "calendar" and "owner" links, child ids "<prefix><n>", negative integers as two's
 * complements, bydaydays 1 = Sunday); records as the emulator makes them read to the
 * expected fields; an iCalendar event goes to records and back unchanged, and what random
 * records read to goes to records and to iCalendar and back unchanged; hostile records
 * give IDS_E_PROTOCOL (wrong main record) or drop what is wrong, never crash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim-records-internal.h"
#include "pim.h"
#include "plist-util.h"
#include "test-util.h"

#define S PIM_SEP
#define MAC_EPOCH 978307200
#define ENTITY "com.apple.syncservices.RecordEntityName"

static const char *get(PimItem *it, const char *name) {
        return it ? pim_get(it, name) : NULL;
}

static bool has(PimItem *it, const char *name, const char *value) {
        for (size_t i = 0; it && i < it->n_fields; i++)
                if (strcmp(it->fields[i].name, name) == 0 &&
                    strcmp(it->fields[i].value, value) == 0)
                        return true;
        return false;
}

static char *canon(PimItem *it) {
        char *s = NULL;

        ASSERT_OK(pim_canonical(it, &s));
        return s;
}

/* The values of a dict of children, in dict order, for PimRecords. */
static size_t children_of(plist_t dict, plist_t *out, size_t max) {
        plist_dict_iter iter = NULL;
        size_t n = 0;

        if (!dict)
                return 0;
        plist_dict_new_iter(dict, &iter);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;

                plist_dict_next_item(dict, iter, &key, &v);
                if (!key)
                        break;
                free(key);
                if (n < max)
                        out[n++] = v;
        }
        free(iter);
        return n;
}

/* it → records → item: the same canonical text. *ret_main and *ret_children (optional)
 * get the records. */
static void round_trip(PimItem *it, const char *title, plist_t *ret_main, plist_t *ret_children) {
        _cleanup_(plist_freep) plist_t main = NULL, kids = NULL;
        _cleanup_(pim_item_freep) PimItem *back = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *reason = NULL;
        plist_t c[64];
        PimRecords r;

        ASSERT_OK(pim_event_main_record(it, "cal-1", &main));
        ASSERT_OK(pim_event_child_records(it, "ev-1", "c", &kids));
        r = (PimRecords) { .main = main, .children = c, .n_children = children_of(kids, c, 64) };
        ASSERT_EQ(pim_event_from_records(&r, title, &back, &reason), 0);
        a = canon(it);
        if (back)
                b = canon(back);
        ASSERT_STREQ(b, a);
        if (ret_main)
                *ret_main = TAKE_PTR(main);
        if (ret_children)
                *ret_children = TAKE_PTR(kids);
}

static int64_t date_of(plist_t d, const char *key) {
        plist_t n = d ? plist_dict_get_item(d, key) : NULL;
        int32_t sec = 0, usec = 0;

        if (!n || plist_get_node_type(n) != PLIST_DATE)
                return -1;
        plist_get_date_val(n, &sec, &usec);
        return (int64_t) sec + MAC_EPOCH;
}

static const char *str_of(plist_t d, const char *key) {
        plist_t n = d ? plist_dict_get_item(d, key) : NULL;

        return n && plist_get_node_type(n) == PLIST_STRING ? plist_get_string_ptr(n, NULL) : NULL;
}

static int64_t int_at(plist_t a, uint32_t i) {
        plist_t n = a ? plist_array_get_item(a, i) : NULL;
        uint64_t v = 0;

        if (!n || plist_get_node_type(n) != PLIST_UINT)
                return -12345;
        plist_get_uint_val(n, &v);
        return (int64_t) v;
}

/* The child of entity (the first one) in a children dict. */
static plist_t child(plist_t kids, const char *entity) {
        plist_t c[64];
        size_t n = children_of(kids, c, 64);

        for (size_t i = 0; i < n; i++)
                if (str_of(c[i], ENTITY) && strcmp(str_of(c[i], ENTITY), entity) == 0)
                        return c[i];
        return NULL;
}

static void test_zoned(void) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_EVENT);
        _cleanup_(plist_freep) plist_t main = NULL, kids = NULL;
        plist_t rec, a;

        pim_add(it, "calendar", "Work");
        pim_add(it, "summary", "Planung; Q3 \\ Café 📅");
        pim_add(it, "description", "eins\nzwei, drei");
        pim_add(it, "location", "Raum 4");
        pim_add(it, "url", "https://example.org/x?a=1");
        pim_add(it, "status", "confirmed");
        pim_add(it, "class", "private");
        pim_add(it, "timezone", "Europe/Paris");
        pim_add(it, "start", "2024-03-29T08:30:00Z");
        pim_add(it, "end", "2024-03-29T09:15:00Z");
        pim_add(it, "rrule", "FREQ=MONTHLY;COUNT=12;INTERVAL=2;BYDAY=MO,-1FR;BYMONTH=1,6;WKST=SU");
        pim_add(it, "exdate", "2024-05-31T07:30:00Z");
        pim_add(it, "organizer", "boss@example.com" S "Zoë Müller");
        pim_add(it, "attendee", "a@example.com" S "Ann" S "REQ-PARTICIPANT" S "ACCEPTED" S "1");
        pim_add(it, "attendee", "b@example.org" S "" S "OPT-PARTICIPANT" S "NEEDS-ACTION" S "");
        pim_add(it, "alarm", "display" S "-900" S "Gleich");
        pim_add(it, "alarm", "audio" S "2024-03-28T20:00:00Z" S "");
        round_trip(it, "Work", &main, &kids);

        ASSERT_STREQ(str_of(main, ENTITY), "com.apple.calendars.Event");
        ASSERT_EQ(date_of(main, "start date"), 1711701000);
        ASSERT_EQ(date_of(main, "end date"), 1711703700);
        ASSERT_STREQ(str_of(main, "timezone"), "Europe/Paris");
        ASSERT_STREQ(str_of(main, "status"), "confirmed");
        ASSERT_STREQ(str_of(main, "classification"), "private");
        a = main ? plist_dict_get_item(main, "calendar") : NULL;
        ASSERT_TRUE(a && plist_get_node_type(a) == PLIST_ARRAY && plist_array_get_size(a) == 1);
        ASSERT_STREQ(a ? plist_get_string_ptr(plist_array_get_item(a, 0), NULL) : NULL, "cal-1");
        a = main ? plist_dict_get_item(main, "exception dates") : NULL;
        ASSERT_TRUE(a && plist_array_get_size(a) == 1);

        /* 1 Recurrence, 1 Organizer, 2 Attendees, 2 alarms, ids c1…c6, each owned. */
        ASSERT_EQ(kids ? plist_dict_get_size(kids) : 0, 6);
        for (unsigned i = 1; i <= 6; i++) {
                char id[8];
                plist_t o;

                snprintf(id, sizeof(id), "c%u", i);
                rec = kids ? plist_dict_get_item(kids, id) : NULL;
                ASSERT_TRUE(rec != NULL);
                o = rec ? plist_dict_get_item(rec, "owner") : NULL;
                ASSERT_STREQ(o ? plist_get_string_ptr(plist_array_get_item(o, 0), NULL) : NULL,
                             "ev-1");
        }
        rec = child(kids, "com.apple.calendars.Recurrence");
        ASSERT_STREQ(str_of(rec, "frequency"), "monthly");
        ASSERT_EQ(int_at(rec ? plist_dict_get_item(rec, "bydaydays") : NULL, 0), 2);   /* MO */
        ASSERT_EQ(int_at(rec ? plist_dict_get_item(rec, "bydayfreq") : NULL, 0), 0);
        ASSERT_EQ(int_at(rec ? plist_dict_get_item(rec, "bydaydays") : NULL, 1), 6);   /* FR */
        ASSERT_EQ(int_at(rec ? plist_dict_get_item(rec, "bydayfreq") : NULL, 1), -1);
        ASSERT_EQ(int_at(rec ? plist_dict_get_item(rec, "bymonth") : NULL, 1), 6);
        {
                plist_t w = rec ? plist_dict_get_item(rec, "weekstartday") : NULL;
                uint64_t v = 0;

                if (w)
                        plist_get_uint_val(w, &v);
                ASSERT_EQ(v, 1);                /* Sunday */
        }
        rec = child(kids, "com.apple.calendars.DisplayAlarm");
        {
                plist_t t = rec ? plist_dict_get_item(rec, "triggerduration") : NULL;
                uint64_t v = 0;

                if (t)
                        plist_get_uint_val(t, &v);
                ASSERT_TRUE(v == (uint64_t) (int64_t) -900);
        }
        rec = child(kids, "com.apple.calendars.AudioAlarm");
        ASSERT_EQ(date_of(rec, "triggerdate"), 1711656000);
        rec = child(kids, "com.apple.calendars.Organizer");
        ASSERT_STREQ(str_of(rec, "email"), "mailto:boss@example.com");
        ASSERT_STREQ(str_of(rec, "common name"), "Zoë Müller");
}

static void test_all_day(void) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_EVENT);
        _cleanup_(plist_freep) plist_t main = NULL, kids = NULL;
        plist_t rec;

        pim_add(it, "calendar", "Home");
        pim_add(it, "summary", "Urlaub");
        pim_add(it, "all day", "1");
        pim_add(it, "start", "2024-02-28");
        pim_add(it, "end", "2024-03-02");
        pim_add(it, "rrule", "FREQ=YEARLY;UNTIL=20300228T000000Z;BYMONTHDAY=28;BYMONTH=2");
        pim_add(it, "exdate", "2025-02-28");
        pim_add(it, "alarm", "display" S "-86400" S "Morgen");
        round_trip(it, "Home", &main, &kids);
        ASSERT_EQ(date_of(main, "start date"), 1709078400);     /* midnight UTC */
        ASSERT_EQ(date_of(main, "end date"), 1709337600);       /* the exclusive end day */
        ASSERT_TRUE(main && plist_dict_get_item(main, "timezone") == NULL);
        rec = child(kids, "com.apple.calendars.Recurrence");
        ASSERT_EQ(date_of(rec, "until"), 1898467200);           /* 2030-02-28T00:00:00Z */
}

/* Records as the emulator (tests/emulator/mobilesync-store.c) makes them. */
static void test_emulator_style(void) {
        _cleanup_(plist_freep) plist_t ev = plist_new_dict(), rc = plist_new_dict();
        _cleanup_(plist_freep) plist_t al = plist_new_dict(), at = plist_new_dict();
        _cleanup_(pim_item_freep) PimItem *it = NULL, *day = NULL, *local = NULL;
        plist_t kids[3], a;
        PimRecords r;

        plist_dict_set_item(ev, ENTITY, plist_new_string("com.apple.calendars.Event"));
        plist_dict_set_item(ev, "summary", plist_new_string("Dentist"));
        plist_dict_set_item(ev, "start date", plist_new_date(1711701000 - MAC_EPOCH, 0));
        plist_dict_set_item(ev, "end date", plist_new_date(1711703700 - MAC_EPOCH, 0));
        plist_dict_set_item(ev, "all day", plist_new_bool(0));
        plist_dict_set_item(ev, "timezone", plist_new_string("America/New_York"));
        plist_dict_set_item(ev, "description", plist_new_string("Bring the slides.\r\nZweite"));
        a = plist_new_array();
        plist_array_append_item(a, plist_new_string("7"));
        plist_dict_set_item(ev, "calendar", a);

        plist_dict_set_item(rc, ENTITY, plist_new_string("com.apple.calendars.Recurrence"));
        plist_dict_set_item(rc, "frequency", plist_new_string("weekly"));
        plist_dict_set_item(rc, "interval", plist_new_uint(2));
        plist_dict_set_item(rc, "until", plist_new_date(1727740800 - MAC_EPOCH, 0));
        a = plist_new_array();
        plist_array_append_item(a, plist_new_uint(1));          /* Sunday */
        plist_array_append_item(a, plist_new_uint(7));          /* Saturday */
        plist_dict_set_item(rc, "bydaydays", a);
        a = plist_new_array();
        plist_array_append_item(a, plist_new_uint(2));
        plist_array_append_item(a, plist_new_uint((uint64_t) (int64_t) -1));
        plist_dict_set_item(rc, "bydayfreq", a);
        a = plist_new_array();
        plist_array_append_item(a, plist_new_uint(12));
        plist_array_append_item(a, plist_new_uint(1));
        plist_array_append_item(a, plist_new_uint(99));         /* no month: dropped */
        plist_dict_set_item(rc, "bymonth", a);

        plist_dict_set_item(al, ENTITY, plist_new_string("com.apple.calendars.DisplayAlarm"));
        plist_dict_set_item(al, "description", plist_new_string("Reminder"));
        plist_dict_set_item(al, "triggerduration", plist_new_uint((uint64_t) (int64_t) -1800));

        plist_dict_set_item(at, ENTITY, plist_new_string("com.apple.calendars.Attendee"));
        plist_dict_set_item(at, "email", plist_new_string("MAILTO:Guest1.0@Example.com"));
        plist_dict_set_item(at, "common name", plist_new_string("Zoë Müller"));
        plist_dict_set_item(at, "role", plist_new_string("REQ-PARTICIPANT"));
        plist_dict_set_item(at, "status", plist_new_string("accepted"));
        plist_dict_set_item(at, "user type", plist_new_string("INDIVIDUAL"));
        plist_dict_set_item(at, "rsvp", plist_new_bool(1));

        kids[0] = rc;
        kids[1] = al;
        kids[2] = at;
        r = (PimRecords) { .main = ev, .children = kids, .n_children = 3 };
        ASSERT_EQ(pim_event_from_records(&r, "Ünterricht 📚", &it, NULL), 0);
        ASSERT_STREQ(get(it, "calendar"), "Ünterricht 📚");
        ASSERT_STREQ(get(it, "summary"), "Dentist");
        ASSERT_STREQ(get(it, "description"), "Bring the slides.\nZweite");
        ASSERT_STREQ(get(it, "start"), "2024-03-29T08:30:00Z");
        ASSERT_STREQ(get(it, "end"), "2024-03-29T09:15:00Z");
        ASSERT_STREQ(get(it, "timezone"), "America/New_York");
        ASSERT_STREQ(get(it, "all day"), NULL);
        ASSERT_STREQ(get(it, "rrule"),
                     "FREQ=WEEKLY;UNTIL=20241001T000000Z;INTERVAL=2;BYDAY=-1SA,2SU;BYMONTH=1,12");
        ASSERT_TRUE(has(it, "alarm", "display" S "-1800" S "Reminder"));
        ASSERT_TRUE(has(it, "attendee", "guest1.0@example.com" S "Zoë Müller" S "REQ-PARTICIPANT"
                                        S "ACCEPTED" S "1"));

        /* All-day, its end stored as the last second of the last day; "_float" is no zone. */
        plist_dict_set_item(ev, "all day", plist_new_bool(1));
        plist_dict_set_item(ev, "start date", plist_new_date(1709078400 - MAC_EPOCH, 0));
        plist_dict_set_item(ev, "end date", plist_new_date(1709337600 - 1 - MAC_EPOCH, 0));
        plist_dict_set_item(ev, "timezone", plist_new_string("_float"));
        r.n_children = 0;
        ASSERT_EQ(pim_event_from_records(&r, NULL, &day, NULL), 0);
        ASSERT_STREQ(get(day, "all day"), "1");
        ASSERT_STREQ(get(day, "start"), "2024-02-28");
        ASSERT_STREQ(get(day, "end"), "2024-03-02");
        ASSERT_STREQ(get(day, "timezone"), NULL);
        ASSERT_STREQ(get(day, "calendar"), NULL);

        /* Local midnights (Paris: 23:00Z the day before; New York: 05:00Z) read as their
         * days too. */
        plist_dict_set_item(ev, "start date", plist_new_date(1709078400 - 3600 - MAC_EPOCH, 0));
        plist_dict_set_item(ev, "end date", plist_new_date(1709337600 + 5 * 3600 - MAC_EPOCH, 0));
        ASSERT_EQ(pim_event_from_records(&r, NULL, &local, NULL), 0);
        ASSERT_STREQ(get(local, "start"), "2024-02-28");
        ASSERT_STREQ(get(local, "end"), "2024-03-02");
}

/* An iCalendar event goes to records and back unchanged (both readers share the forms). */
static void test_from_ical(void) {
        static const char ics[] =
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-CALNAME:Team\r\nBEGIN:VEVENT\r\n"
                "UID:x@y\r\nDTSTART;TZID=America/New_York:20240108T100000\r\n"
                "DTEND;TZID=America/New_York:20240108T103000\r\n"
                "RRULE:FREQ=WEEKLY;WKST=SU;UNTIL=20240401T035959Z;BYDAY=FR,MO,WE\r\n"
                "EXDATE;TZID=America/New_York:20240110T100000\r\n"
                "ORGANIZER;CN=Pat:mailto:Pat@Example.COM\r\n"
                "ATTENDEE;PARTSTAT=TENTATIVE;RSVP=TRUE;CN=\"Kim, K.\":mailto:kim@example.org\r\n"
                "SUMMARY:Standup\\, daily\r\nDESCRIPTION:a\\nb\r\nSTATUS:TENTATIVE\r\n"
                "CLASS:CONFIDENTIAL\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT10M\r\n"
                "DESCRIPTION:soon\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        _cleanup_(pim_item_freep) PimItem *it = NULL;

        ASSERT_EQ(pim_ical_parse(ics, strlen(ics), &it, NULL), 0);
        if (!it)
                return;
        ASSERT_STREQ(get(it, "rrule"), "FREQ=WEEKLY;UNTIL=20240401T035959Z;BYDAY=MO,WE,FR;WKST=SU");
        round_trip(it, "Team", NULL, NULL);
}

static void test_hostile(void) {
        _cleanup_(plist_freep) plist_t arr = plist_new_array(), other = plist_new_dict();
        _cleanup_(plist_freep) plist_t ev = plist_new_dict(), k1 = plist_new_dict();
        _cleanup_(plist_freep) plist_t k2 = plist_new_string("not a dict");
        _cleanup_(plist_freep) plist_t k3 = plist_new_dict(), k4 = plist_new_dict();
        _cleanup_(plist_freep) plist_t k5 = plist_new_dict();
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        _cleanup_free_ char *reason = NULL;
        plist_t kids[6], a;
        PimRecords r = { .main = arr };

        ASSERT_EQ(pim_event_from_records(&r, NULL, &it, &reason), IDS_E_PROTOCOL);
        ASSERT_TRUE(reason != NULL);
        free(reason);
        reason = NULL;
        plist_dict_set_item(other, ENTITY, plist_new_string("com.apple.contacts.Contact"));
        r.main = other;
        ASSERT_EQ(pim_event_from_records(&r, NULL, &it, &reason), IDS_E_PROTOCOL);
        r.main = NULL;
        ASSERT_EQ(pim_event_from_records(&r, NULL, &it, NULL), IDS_E_PROTOCOL);

        /* Every value of the wrong type. */
        plist_dict_set_item(ev, ENTITY, plist_new_string("com.apple.calendars.Event"));
        plist_dict_set_item(ev, "summary", plist_new_uint(5));
        plist_dict_set_item(ev, "start date", plist_new_string("yesterday"));
        plist_dict_set_item(ev, "all day", plist_new_string("yes"));
        plist_dict_set_item(ev, "exception dates", plist_new_string("x"));
        plist_dict_set_item(ev, "status", plist_new_string("maybe"));
        plist_dict_set_item(ev, "location", plist_new_string(" \t ok\x1f" "fine\x01"));
        plist_dict_set_item(k1, ENTITY, plist_new_string("com.apple.calendars.Recurrence"));
        plist_dict_set_item(k1, "frequency", plist_new_string("hourly"));
        plist_dict_set_item(k3, ENTITY, plist_new_string("com.apple.calendars.Attendee"));
        plist_dict_set_item(k3, "email", plist_new_uint(1));
        plist_dict_set_item(k4, ENTITY, plist_new_string("com.apple.calendars.DisplayAlarm"));
        plist_dict_set_item(k4, "triggerduration", plist_new_uint(UINT64_C(1) << 62));
        a = plist_new_array();
        plist_array_append_item(a, plist_new_string("x"));
        plist_dict_set_item(k1, "bydaydays", a);
        kids[0] = k1;
        kids[1] = k2;
        kids[2] = NULL;
        kids[3] = k3;
        kids[4] = k4;
        /* A name ending in '\\' (which the iCalendar writer could not carry) ends without. */
        plist_dict_set_item(k5, ENTITY, plist_new_string("com.apple.calendars.Attendee"));
        plist_dict_set_item(k5, "email", plist_new_string("k@x"));
        plist_dict_set_item(k5, "common name", plist_new_string("Kim \\\\ "));
        kids[5] = k5;
        r = (PimRecords) { .main = ev, .children = kids, .n_children = 6 };
        ASSERT_EQ(pim_event_from_records(&r, NULL, &it, NULL), 0);
        ASSERT_TRUE(it && it->n_fields == 2);
        ASSERT_STREQ(get(it, "location"), "ok fine");
        ASSERT_STREQ(get(it, "attendee"), "k@x" S "Kim" S "REQ-PARTICIPANT" S "NEEDS-ACTION" S "");

        /* Writing: a calendar id is required; an unrepresentable rule is left out. */
        {
                _cleanup_(pim_item_freep) PimItem *e = pim_item_new(PIM_EVENT);
                _cleanup_(plist_freep) plist_t m = NULL, c = NULL;

                pim_add(e, "rrule", "FREQ=HOURLY;COUNT=3");
                pim_add(e, "start", "2099-01-01T00:00:00Z");    /* beyond a plist date */
                ASSERT_EQ(pim_event_main_record(e, NULL, &m), -EINVAL);
                ASSERT_OK(pim_event_main_record(e, "1", &m));
                ASSERT_TRUE(m && plist_dict_get_item(m, "start date") == NULL);
                ASSERT_OK(pim_event_child_records(e, "1", "x", &c));
                ASSERT_EQ(c ? plist_dict_get_size(c) : 99, 0);
        }
}

/* ---- random records ---------------------------------------------------------------------- */

static uint64_t rng = 88172645463325252ULL;

static uint64_t rnd(uint64_t n) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return n ? rng % n : rng;
}

/* A value of a random type; plausible values often, so the readers take them. */
static plist_t random_value(unsigned depth) {
        static const char *const strs[] = {
                "daily", "weekly", "monthly", "yearly", "hourly", "Europe/Paris", "UTC", "_float",
                "mailto:A@B.c", "x@y", "ACCEPTED", "chair", "confirmed", "PRIVATE", "",
                " lead", "a\r\nb\x1f", "\xff\xfe", "Asia/Tokyo", "mailto:", "urn:uuid:1",
                "end\\\\", "^^n^",
        };
        static const int64_t ints[] = { 0, 1, 2, -1, 7, 8, 12, 13, 53, -53, 366, -900, 32767,
                                        INT64_MIN, INT64_MAX, 1000, -1001 };

        switch (rnd(depth > 1 ? 4 : 5)) {
        case 0:
                return plist_new_string(strs[rnd(ELEMENTSOF(strs))]);
        case 1:
                return plist_new_uint((uint64_t) ints[rnd(ELEMENTSOF(ints))]);
        case 2:
                return plist_new_date((int32_t) rnd(UINT32_MAX), (int32_t) rnd(3) - 1);
        case 3:
                return plist_new_bool(rnd(2));
        default: {
                plist_t a = plist_new_array();

                for (uint64_t i = rnd(6); i > 0; i--)
                        plist_array_append_item(a, random_value(depth + 1));
                return a;
        }
        }
}

static plist_t random_record(const char *entity, const char *const *keys, size_t n) {
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, ENTITY, plist_new_string(entity));
        for (size_t i = 0; i < n; i++)
                if (rnd(3))
                        plist_dict_set_item(d, keys[i], random_value(0));
        return d;
}

/* Whatever random records read to, it goes to records and back unchanged. */
static void test_random(void) {
        static const char *const ev_keys[] = {
                "summary", "description", "location", "url", "status", "classification",
                "start date", "end date", "all day", "timezone", "exception dates", "calendar",
        };
        static const char *const rc_keys[] = {
                "frequency", "interval", "count", "until", "bymonth", "bymonthday", "byyearday",
                "byweeknumber", "bysetpos", "bydaydays", "bydayfreq", "weekstartday",
        };
        static const char *const p_keys[] = {
                "email", "common name", "role", "status", "rsvp", "user type",
        };
        static const char *const a_keys[] = {
                "description", "triggerduration", "triggerdate", "sound",
        };
        unsigned bad = 0;

        for (unsigned n = 0; n < 3000; n++) {
                _cleanup_(plist_freep) plist_t ev = random_record("com.apple.calendars.Event",
                                                                  ev_keys, ELEMENTSOF(ev_keys));
                _cleanup_(pim_item_freep) PimItem *it = NULL, *back = NULL;
                _cleanup_(plist_freep) plist_t main = NULL, kids = NULL;
                _cleanup_free_ char *a = NULL, *b = NULL;
                plist_t c[8], c2[64];
                size_t nc = rnd(ELEMENTSOF(c) + 1);
                PimRecords r;

                /* Sure-footed times half of the time, so the rule readers get their turn. */
                if (rnd(2)) {
                        plist_dict_set_item(ev, "start date",
                                            plist_new_date((int32_t) rnd(1u << 30), 0));
                        plist_dict_set_item(ev, "all day", plist_new_bool(rnd(2)));
                }
                for (size_t i = 0; i < nc; i++)
                        switch (rnd(4)) {
                        case 0:
                                c[i] = random_record("com.apple.calendars.Recurrence", rc_keys,
                                                     ELEMENTSOF(rc_keys));
                                break;
                        case 1:
                                c[i] = random_record(rnd(2) ? "com.apple.calendars.Attendee" :
                                                     "com.apple.calendars.Organizer", p_keys,
                                                     ELEMENTSOF(p_keys));
                                break;
                        case 2:
                                c[i] = random_record(rnd(2) ? "com.apple.calendars.DisplayAlarm" :
                                                     "com.apple.calendars.AudioAlarm", a_keys,
                                                     ELEMENTSOF(a_keys));
                                break;
                        default:
                                c[i] = random_value(0);
                        }
                r = (PimRecords) { .main = ev, .children = c, .n_children = nc };
                if (pim_event_from_records(&r, rnd(2) ? "Cal" : NULL, &it, NULL) != 0 || !it) {
                        bad++;
                        goto next;
                }
                if (pim_event_main_record(it, "cal", &main) < 0 ||
                    pim_event_child_records(it, "ev", "k", &kids) < 0) {
                        bad++;
                        goto next;
                }
                r = (PimRecords) { .main = main, .children = c2,
                                   .n_children = children_of(kids, c2, ELEMENTSOF(c2)) };
                if (pim_event_from_records(&r, pim_get(it, "calendar"), &back, NULL) != 0 ||
                    !back) {
                        bad++;
                        goto next;
                }
                a = canon(it);
                b = canon(back);
                if (!a || !b || strcmp(a, b) != 0) {
                        if (bad++ == 0)
                                printf("random %u:\n%s---\n%s", n, a, b);
                }
                /* And through an .ics file: the iCalendar reader gives the same item. */
                {
                        _cleanup_(pim_item_freep) PimItem *ics = NULL;
                        _cleanup_free_ char *text = NULL, *c3 = NULL;
                        size_t len;

                        if (pim_ical_write(it, &text, &len) < 0 ||
                            pim_ical_parse(text, len, &ics, NULL) != 0 || !(c3 = canon(ics)) ||
                            strcmp(a, c3) != 0) {
                                if (bad++ == 0)
                                        printf("random %u via iCalendar:\n%s---\n%s", n, a, c3);
                        }
                }
        next:
                for (size_t i = 0; i < nc; i++)
                        plist_free(c[i]);
        }
        ASSERT_EQ(bad, 0);
}

int main(void) {
        test_zoned();
        test_all_day();
        test_emulator_style();
        test_from_ical();
        test_hostile();
        test_random();
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
