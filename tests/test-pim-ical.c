/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iCalendar ↔ event (lib/pim-ical.c): rich events written and read back are the same item
 * (zoned, UTC, all-day; RRULE with COUNT/UNTIL/BYDAY; EXDATEs; people; alarms; text with
 * non-ASCII, newlines, ';' ',' '\\'); files in the styles of Thunderbird, Google, Apple and
 * Outlook (a Windows TZID with its VTIMEZONE) read to the expected fields; hostile text
 * gives IDS_E_PROTOCOL or a clean item, never a crash.
 *
 * With "--write DIR" it writes DIR/event.ics (pim_ical_write() of the rich zoned event)
 * for tests/engine/pim-ical-python.test, which reads it with python3-icalendar.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim-ical.h"
#include "pim.h"
#include "test-util.h"

#define S PIM_SEP

static PimItem *rich_zoned(void) {
        PimItem *it = pim_item_new(PIM_EVENT);

        it->uid = strdup("rich-1@idevicesync.test");
        pim_add(it, "calendar", "Work; \"Team\", ü");
        pim_add(it, "summary", "Café, Planung; Q3 \\ Budget 📅");
        pim_add(it, "description", "Line one\nLine two: a;b,c\\d\n\nDrei");
        pim_add(it, "location", "Raum 4, Stock 2; Haus B");
        pim_add(it, "url", "https://example.org/m?id=1&x=2,3;4");
        pim_add(it, "status", "tentative");
        pim_add(it, "class", "private");
        pim_add(it, "timezone", "Europe/Paris");
        pim_add(it, "start", "2024-03-29T08:30:00Z");       /* 09:30 CET */
        pim_add(it, "end", "2024-04-02T09:15:00Z");         /* across the DST change */
        pim_add(it, "rrule", "FREQ=MONTHLY;COUNT=10;INTERVAL=2;BYDAY=2TU,-1FR");
        pim_add(it, "exdate", "2024-04-12T08:30:00Z");
        pim_add(it, "exdate", "2024-04-26T07:30:00Z");
        pim_add(it, "organizer", "boss@example.com" S "Zoë \"Boss\" Müller");
        pim_add(it, "attendee", "a@example.com" S "Ann; A, \\x" S "REQ-PARTICIPANT" S
                                "ACCEPTED" S "1");
        pim_add(it, "attendee", "b@example.org" S "" S "OPT-PARTICIPANT" S "NEEDS-ACTION" S "");
        pim_add(it, "attendee", "c@example.net" S "Chair" S "CHAIR" S "DECLINED" S "");
        pim_add(it, "attendee", "d@example.net" S "x^^y ^n ^' ^" S "REQ-PARTICIPANT" S
                                "TENTATIVE" S "");
        pim_add(it, "attendee", "e@example.net" S "back\\slash" S "REQ-PARTICIPANT" S
                                "NEEDS-ACTION" S "1");
        pim_add(it, "alarm", "display" S "-900" S "Gleich: Café");
        pim_add(it, "alarm", "audio" S "0" S "");
        pim_add(it, "alarm", "display" S "2024-03-28T20:00:00Z" S "Am Vorabend");
        return it;
}

static char *canon(PimItem *it) {
        char *s = NULL;

        ASSERT_OK(pim_canonical(it, &s));
        return s;
}

/* write(it), parse it back: the same canonical text and uid. Returns the text written. */
static char *round_trip(PimItem *it) {
        _cleanup_(pim_item_freep) PimItem *back = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *reason = NULL;
        char *text = NULL;
        size_t len = 0;

        ASSERT_OK(pim_ical_write(it, &text, &len));
        if (!text)
                return NULL;
        ASSERT_EQ(len, strlen(text));
        ASSERT_EQ(pim_ical_parse(text, len, &back, &reason), 0);
        if (!back) {
                printf("reason: %s\ntext:\n%s", reason, text);
                return text;
        }
        a = canon(it);
        b = canon(back);
        ASSERT_STREQ(b, a);
        ASSERT_STREQ(back->uid, it->uid);
        if (a && b && strcmp(a, b) != 0)
                printf("text:\n%s", text);
        return text;
}

static PimItem *parse(const char *text) {
        PimItem *it = NULL;
        _cleanup_free_ char *reason = NULL;

        ASSERT_EQ(pim_ical_parse(text, strlen(text), &it, &reason), 0);
        if (!it)
                printf("reason: %s\n", reason);
        return it;
}

/* pim_get() that takes a failed parse (NULL) as "no field". */
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

static size_t count(PimItem *it, const char *name) {
        size_t n = 0;

        for (size_t i = 0; it && i < it->n_fields; i++)
                n += strcmp(it->fields[i].name, name) == 0;
        return n;
}

static void test_round_trips(void) {
        _cleanup_(pim_item_freep) PimItem *zoned = rich_zoned(), *utc = NULL, *allday = NULL;
        _cleanup_(pim_item_freep) PimItem *bare = NULL, *until = NULL, *far = NULL;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL;
        _cleanup_free_ char *t6 = NULL;

        t1 = round_trip(zoned);
        /* Written in its zone, with the zone's definition under its plain name. */
        ASSERT_TRUE(t1 && strstr(t1, "DTSTART;TZID=Europe/Paris:20240329T093000"));
        ASSERT_TRUE(t1 && strstr(t1, "DTEND;TZID=Europe/Paris:20240402T111500"));
        ASSERT_TRUE(t1 && strstr(t1, "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris"));
        /* Only the zone's rules from the event's first time on (not Paris Mean Time). */
        ASSERT_TRUE(t1 && !strstr(t1, "TZNAME:PMT") && strlen(t1) < 2500);
        ASSERT_TRUE(t1 && strstr(t1, "PRODID:-//idevicesync//EN"));
        ASSERT_TRUE(t1 && strstr(t1, "UID:rich-1@idevicesync.test"));

        utc = pim_item_new(PIM_EVENT);
        pim_add(utc, "summary", "UTC call");
        pim_add(utc, "start", "2025-01-01T23:00:00Z");
        pim_add(utc, "end", "2025-01-02T00:30:00Z");
        pim_add(utc, "rrule", "FREQ=MONTHLY;UNTIL=20251231T230000Z;BYMONTHDAY=-1,1,15");
        pim_add(utc, "exdate", "2025-02-01T23:00:00Z");
        pim_add(utc, "status", "cancelled");
        t2 = round_trip(utc);
        ASSERT_TRUE(t2 && strstr(t2, "DTSTART:20250101T230000Z"));
        ASSERT_TRUE(t2 && !strstr(t2, "VTIMEZONE"));
        ASSERT_TRUE(t2 && !strstr(t2, "UID:"));         /* no uid: none written */

        allday = pim_item_new(PIM_EVENT);
        allday->uid = strdup("allday@x");
        pim_add(allday, "summary", "Urlaub");
        pim_add(allday, "all day", "1");
        pim_add(allday, "start", "2024-02-28");
        pim_add(allday, "end", "2024-03-02");
        pim_add(allday, "rrule", "FREQ=YEARLY;UNTIL=20300228T000000Z;BYMONTHDAY=28;BYMONTH=2");
        pim_add(allday, "exdate", "2025-02-28");
        pim_add(allday, "alarm", "display" S "-86400" S "Morgen");
        pim_add(allday, "class", "confidential");
        t3 = round_trip(allday);
        ASSERT_TRUE(t3 && strstr(t3, "DTSTART;VALUE=DATE:20240228"));
        ASSERT_TRUE(t3 && strstr(t3, "DTEND;VALUE=DATE:20240302"));
        ASSERT_TRUE(t3 && strstr(t3, "UNTIL=20300228;"));
        ASSERT_TRUE(t3 && strstr(t3, "EXDATE;VALUE=DATE:20250228"));

        bare = pim_item_new(PIM_EVENT);
        pim_add(bare, "summary", "Just a title");
        t4 = round_trip(bare);

        until = pim_item_new(PIM_EVENT);
        pim_add(until, "timezone", "America/New_York");
        pim_add(until, "start", "2024-11-01T13:00:00Z");
        pim_add(until, "end", "2024-11-01T14:00:00Z");
        pim_add(until, "rrule", "FREQ=DAILY;UNTIL=20241110T135959Z;BYHOUR=9,13;WKST=SU");
        pim_add(until, "summary", "Standup");
        t5 = round_trip(until);
        ASSERT_TRUE(t5 && strstr(t5, "UNTIL=20241110T135959Z"));

        /* Centuries on, the zone is written whole (libical's cut of it is off by an hour
         * there), and the instant still comes back. */
        far = pim_item_new(PIM_EVENT);
        pim_add(far, "timezone", "America/New_York");
        pim_add(far, "start", "2913-11-08T15:00:00Z");
        pim_add(far, "end", "2913-11-08T15:00:00Z");
        t6 = round_trip(far);
}

/* The RRULE text is the contract's whatever order the source used. */
static void test_rrule_form(void) {
        static const struct { const char *in, *out; } t[] = {
                { "BYDAY=TU,SU,MO,-1FR;FREQ=MONTHLY;INTERVAL=1;WKST=MO",
                  "FREQ=MONTHLY;BYDAY=MO,TU,-1FR,SU" },
                { "FREQ=YEARLY;BYSETPOS=-1;BYMONTH=3,1;INTERVAL=3;COUNT=4;WKST=SU",
                  "FREQ=YEARLY;COUNT=4;INTERVAL=3;BYMONTH=1,3;BYSETPOS=-1;WKST=SU" },
                { "FREQ=WEEKLY;BYWEEKNO=20;BYYEARDAY=-1,100;BYMINUTE=30,0;BYSECOND=0",
                  "FREQ=WEEKLY;BYSECOND=0;BYMINUTE=0,30;BYYEARDAY=-1,100;BYWEEKNO=20" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                struct icalrecurrencetype r;
                _cleanup_free_ char *s = NULL;

                ASSERT_OK(pim_rrule_parse(t[i].in, &r));
                ASSERT_OK(pim_rrule_format(&r, &s));
                ASSERT_STREQ(s, t[i].out);
        }
        {
                struct icalrecurrencetype r;

                _cleanup_free_ char *s = NULL;

                /* Both UNTIL and COUNT (a Recurrence record can say so): UNTIL wins, as
                 * libical reads no rule with both. */
                ASSERT_OK(pim_rrule_parse("FREQ=DAILY;UNTIL=20240101T000000Z", &r));
                r.count = 3;
                ASSERT_OK(pim_rrule_format(&r, &s));
                ASSERT_STREQ(s, "FREQ=DAILY;UNTIL=20240101T000000Z");
                ASSERT_EQ(pim_rrule_parse("COUNT=3", &r), -EINVAL);
                ASSERT_EQ(pim_rrule_parse("", &r), -EINVAL);
        }
}

static const char thunderbird[] =
        "BEGIN:VCALENDAR\r\n"
        "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
        "VERSION:2.0\r\n"
        "BEGIN:VTIMEZONE\r\n"
        "TZID:Europe/Berlin\r\n"
        "X-LIC-LOCATION:Europe/Berlin\r\n"
        "BEGIN:DAYLIGHT\r\n"
        "TZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\n"
        "TZNAME:CEST\r\n"
        "DTSTART:19700329T020000\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
        "END:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\n"
        "TZOFFSETFROM:+0200\r\n"
        "TZOFFSETTO:+0100\r\n"
        "TZNAME:CET\r\n"
        "DTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
        "END:STANDARD\r\n"
        "END:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\n"
        "CREATED:20240101T120000Z\r\n"
        "LAST-MODIFIED:20240101T120100Z\r\n"
        "DTSTAMP:20240101T120100Z\r\n"
        "UID:0e5a3c1e-6d9f-4d1c-9f6b-2b1f0b7c1a11\r\n"
        "SUMMARY:Zahnarzt\r\n"
        "STATUS:CONFIRMED\r\n"
        "CATEGORIES:Gesundheit\r\n"
        "DTSTART;TZID=Europe/Berlin:20240715T140000\r\n"
        "DTEND;TZID=Europe/Berlin:20240715T150000\r\n"
        "LOCATION:Hauptstr. 1\\, Berlin\r\n"
        "DESCRIPTION:Versichertenkarte mitbringen\\nund Termin\\;bestätigen\r\n"
        "TRANSP:OPAQUE\r\n"
        "X-MOZ-GENERATION:2\r\n"
        "BEGIN:VALARM\r\n"
        "ACTION:DISPLAY\r\n"
        "TRIGGER;VALUE=DURATION:-PT1H\r\n"
        "DESCRIPTION:Default Mozilla Description\r\n"
        "END:VALARM\r\n"
        "BEGIN:VALARM\r\n"
        "ACTION:DISPLAY\r\n"
        "TRIGGER;RELATED=END:PT5M\r\n"
        "DESCRIPTION:After\r\n"
        "END:VALARM\r\n"
        "BEGIN:VALARM\r\n"
        "ACTION:EMAIL\r\n"
        "TRIGGER:-PT1H\r\n"
        "END:VALARM\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n";

static const char google[] =
        "BEGIN:VCALENDAR\r\n"
        "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
        "VERSION:2.0\r\n"
        "CALSCALE:GREGORIAN\r\n"
        "METHOD:PUBLISH\r\n"
        "X-WR-CALNAME:Team\r\n"
        "X-WR-TIMEZONE:America/New_York\r\n"
        "BEGIN:VTIMEZONE\r\n"
        "TZID:America/New_York\r\n"
        "X-LIC-LOCATION:America/New_York\r\n"
        "BEGIN:DAYLIGHT\r\n"
        "TZOFFSETFROM:-0500\r\n"
        "TZOFFSETTO:-0400\r\n"
        "TZNAME:EDT\r\n"
        "DTSTART:19700308T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n"
        "END:DAYLIGHT\r\n"
        "BEGIN:STANDARD\r\n"
        "TZOFFSETFROM:-0400\r\n"
        "TZOFFSETTO:-0500\r\n"
        "TZNAME:EST\r\n"
        "DTSTART:19701101T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n"
        "END:STANDARD\r\n"
        "END:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\n"
        "DTSTART;TZID=America/New_York:20240108T100000\r\n"
        "DTEND;TZID=America/New_York:20240108T103000\r\n"
        "RRULE:FREQ=WEEKLY;WKST=SU;UNTIL=20240401T035959Z;BYDAY=MO,WE,FR\r\n"
        "EXDATE;TZID=America/New_York:20240110T100000,20240112T100000\r\n"
        "EXDATE;TZID=America/New_York:20240311T100000\r\n"
        "DTSTAMP:20240105T101010Z\r\n"
        "ORGANIZER;CN=Pat Lead:mailto:Pat.Lead@Example.COM\r\n"
        "UID:abc123def456@google.com\r\n"
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Pat Lead;\r\n"
        " X-NUM-GUESTS=0:mailto:pat.lead@example.com\r\n"
        "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=\r\n"
        " TRUE;CN=kim@example.org;X-NUM-GUESTS=0:mailto:kim@example.org\r\n"
        "ATTENDEE;CUTYPE=RESOURCE:urn:uuid:00000000-room\r\n"
        "CREATED:20240105T101000Z\r\n"
        "DESCRIPTION:Join: https://meet.example.com/abc-defg-hij\r\n"
        "LAST-MODIFIED:20240105T101010Z\r\n"
        "LOCATION:\r\n"
        "SEQUENCE:0\r\n"
        "STATUS:CONFIRMED\r\n"
        "SUMMARY:Standup\r\n"
        "TRANSP:OPAQUE\r\n"
        "BEGIN:VALARM\r\n"
        "ACTION:DISPLAY\r\n"
        "DESCRIPTION:This is an event reminder\r\n"
        "TRIGGER:-P0DT0H10M0S\r\n"
        "END:VALARM\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\n"
        "DTSTART;TZID=America/New_York:20240115T110000\r\n"
        "DTEND;TZID=America/New_York:20240115T113000\r\n"
        "RECURRENCE-ID;TZID=America/New_York:20240115T100000\r\n"
        "UID:abc123def456@google.com\r\n"
        "SUMMARY:Standup (moved)\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n";

/* Outlook: a Windows zone name, defined only by the file's VTIMEZONE. */
static const char outlook[] =
        "BEGIN:VCALENDAR\r\n"
        "PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\n"
        "VERSION:2.0\r\n"
        "METHOD:REQUEST\r\n"
        "X-MS-OLK-FORCEINSPECTOROPEN:TRUE\r\n"
        "BEGIN:VTIMEZONE\r\n"
        "TZID:W. Europe Standard Time\r\n"
        "BEGIN:STANDARD\r\n"
        "DTSTART:16011028T030000\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n"
        "TZOFFSETFROM:+0200\r\n"
        "TZOFFSETTO:+0100\r\n"
        "END:STANDARD\r\n"
        "BEGIN:DAYLIGHT\r\n"
        "DTSTART:16010325T020000\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n"
        "TZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\n"
        "END:DAYLIGHT\r\n"
        "END:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\n"
        "CLASS:PUBLIC\r\n"
        "CREATED:20240601T080000Z\r\n"
        "DESCRIPTION:Agenda:\\n1. Zahlen\\n2. Sonstiges\\n\r\n"
        "DTEND;TZID=\"W. Europe Standard Time\":20240610T110000\r\n"
        "DTSTAMP:20240601T080000Z\r\n"
        "DTSTART;TZID=\"W. Europe Standard Time\":20240610T100000\r\n"
        "LAST-MODIFIED:20240601T080000Z\r\n"
        "LOCATION:Besprechungsraum 2\r\n"
        "ORGANIZER;CN=\"Meier, Hans\":mailto:hans.meier@firma.example\r\n"
        "ATTENDEE;CN=\"Schulz, Eva\";RSVP=TRUE;ROLE=OPT-PARTICIPANT:mailto:EVA.SCHULZ@\r\n"
        " firma.example\r\n"
        "PRIORITY:5\r\n"
        "RRULE:FREQ=MONTHLY;UNTIL=20241210T100000;BYDAY=2MO\r\n"
        "SEQUENCE:0\r\n"
        "SUMMARY;LANGUAGE=de-de:Monatsrunde\r\n"
        "TRANSP:OPAQUE\r\n"
        "UID:040000008200E00074C5B7101A82E00800000000\r\n"
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\n"
        "BEGIN:VALARM\r\n"
        "DESCRIPTION:REMINDER\r\n"
        "TRIGGER;RELATED=START:-PT15M\r\n"
        "ACTION:DISPLAY\r\n"
        "END:VALARM\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n";

/* Apple Calendar: an all-day event with DURATION, a floating event after it. */
static const char apple[] =
        "BEGIN:VCALENDAR\n"
        "VERSION:2.0\n"
        "PRODID:-//Apple Inc.//macOS 14.4//EN\n"
        "CALSCALE:GREGORIAN\n"
        "BEGIN:VEVENT\n"
        "UID:5B1B3E3F-0F0B-4B1E-9E7A-7C3B2F6E0A01\n"
        "DTSTART;VALUE=DATE:20241224\n"
        "DURATION:P3D\n"
        "SUMMARY:Weihnachten\n"
        "TRANSP:TRANSPARENT\n"
        "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\n"
        "BEGIN:VALARM\n"
        "ACTION:AUDIO\n"
        "TRIGGER;VALUE=DATE-TIME:20241223T090000Z\n"
        "ATTACH;VALUE=URI:Chord\n"
        "END:VALARM\n"
        "END:VEVENT\n"
        "END:VCALENDAR\n";

/* The VTIMEZONE block of a written file (a copy), NULL if none. */
static char *vtimezone_of(const char *text) {
        const char *a = text ? strstr(text, "BEGIN:VTIMEZONE") : NULL;
        const char *b = a ? strstr(a, "END:VTIMEZONE") : NULL;

        return b ? strndup(a, (size_t) (b - a)) : NULL;
}

/* The writer cuts a zone's history at January 1st of the year before the event: two events
 * of one year and zone carry the same definition (the reader expands it once), and times
 * at the turn of the year, hours off UTC, read back as written. */
static void test_zone_cut(void) {
        static const struct {
                const char *zone, *start, *end;
        } ev[] = {
                { "America/Los_Angeles", "2025-01-01T02:00:00Z", "2025-01-01T03:00:00Z" },
                { "America/Los_Angeles", "2025-07-04T16:00:00Z", "2025-07-04T18:00:00Z" },
                { "America/Los_Angeles", "2025-12-31T23:30:00Z", "2026-01-01T08:30:00Z" },
                { "Pacific/Kiritimati", "2024-12-31T10:30:00Z", "2024-12-31T11:00:00Z" },
                { "Europe/Paris", "2025-03-30T00:59:00Z", "2025-03-30T01:01:00Z" },
        };
        _cleanup_free_ char *first = NULL;

        for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
                _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_EVENT);
                _cleanup_free_ char *text = NULL, *tz = NULL;

                pim_add(it, "summary", "Turn of the year");
                pim_add(it, "timezone", ev[i].zone);
                pim_add(it, "start", ev[i].start);
                pim_add(it, "end", ev[i].end);
                text = round_trip(it);          /* reads back to the same instants */
                tz = vtimezone_of(text);
                ASSERT_TRUE(tz != NULL);
                if (i == 0)
                        first = TAKE_PTR(tz);
                else if (i == 1)
                        ASSERT_STREQ(tz, first);        /* one year, one zone: the same */
        }
}

/* One TZID, two definitions: each file's times convert with its own VTIMEZONE, however
 * often a definition was read before (the reader keeps the definitions it has expanded). */
static void test_zone_definitions(void) {
        static const char fmt[] =
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                "BEGIN:VTIMEZONE\r\nTZID:Office Time\r\n"
                "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\n"
                "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=1\r\n"
                "TZOFFSETFROM:%s\r\nTZOFFSETTO:%s\r\nEND:STANDARD\r\n"
                "END:VTIMEZONE\r\n"
                "BEGIN:VEVENT\r\nUID:zone-%d@example.org\r\nSUMMARY:Meeting\r\n"
                "DTSTART;TZID=Office Time:20250610T100000\r\n"
                "DTEND;TZID=Office Time:20250610T110000\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n";
        static const struct {
                const char *offset, *start;
        } cases[] = {
                { "+0100", "2025-06-10T09:00:00Z" },
                { "+0500", "2025-06-10T05:00:00Z" },
                { "+0100", "2025-06-10T09:00:00Z" },
                { "-0330", "2025-06-10T13:30:00Z" },
                { "+0500", "2025-06-10T05:00:00Z" },
        };

        for (int round = 0; round < 2; round++)
                for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                        char text[1024];
                        _cleanup_(pim_item_freep) PimItem *it = NULL;

                        snprintf(text, sizeof(text), fmt, cases[i].offset, cases[i].offset,
                                 (int) i);
                        it = parse(text);
                        ASSERT_STREQ(get(it, "start"), cases[i].start);
                        ASSERT_TRUE(get(it, "timezone") == NULL);
                }
}

static void test_samples(void) {
        _cleanup_(pim_item_freep) PimItem *tb = parse(thunderbird), *g = parse(google);
        _cleanup_(pim_item_freep) PimItem *ol = parse(outlook), *ap = parse(apple);
        _cleanup_(pim_item_freep) PimItem *fl = NULL;

        ASSERT_STREQ(tb ? tb->uid : NULL, "0e5a3c1e-6d9f-4d1c-9f6b-2b1f0b7c1a11");
        ASSERT_STREQ(get(tb, "summary"), "Zahnarzt");
        ASSERT_STREQ(get(tb, "status"), "confirmed");
        ASSERT_STREQ(get(tb, "timezone"), "Europe/Berlin");
        ASSERT_STREQ(get(tb, "start"), "2024-07-15T12:00:00Z");      /* CEST */
        ASSERT_STREQ(get(tb, "end"), "2024-07-15T13:00:00Z");
        ASSERT_STREQ(get(tb, "location"), "Hauptstr. 1, Berlin");
        ASSERT_STREQ(get(tb, "description"), "Versichertenkarte mitbringen\nund Termin;bestätigen");
        ASSERT_TRUE(has(tb, "alarm", "display" S "-3600" S "Default Mozilla Description"));
        /* RELATED=END +5 min of a one-hour event: 65 min after the start. */
        ASSERT_TRUE(has(tb, "alarm", "display" S "3900" S "After"));
        ASSERT_EQ(count(tb, "alarm"), 2);       /* EMAIL dropped */
        ASSERT_TRUE(get(tb, "categories") == NULL);

        ASSERT_STREQ(g ? g->uid : NULL, "abc123def456@google.com");
        ASSERT_STREQ(get(g, "summary"), "Standup");   /* the master, not the override */
        ASSERT_STREQ(get(g, "calendar"), "Team");
        ASSERT_STREQ(get(g, "timezone"), "America/New_York");
        ASSERT_STREQ(get(g, "start"), "2024-01-08T15:00:00Z");
        ASSERT_STREQ(get(g, "end"), "2024-01-08T15:30:00Z");
        ASSERT_STREQ(get(g, "rrule"), "FREQ=WEEKLY;UNTIL=20240401T035959Z;BYDAY=MO,WE,FR;WKST=SU");
        ASSERT_TRUE(has(g, "exdate", "2024-01-10T15:00:00Z"));
        ASSERT_TRUE(has(g, "exdate", "2024-01-12T15:00:00Z"));
        ASSERT_TRUE(has(g, "exdate", "2024-03-11T14:00:00Z"));   /* EDT */
        ASSERT_EQ(count(g, "exdate"), 3);
        ASSERT_STREQ(get(g, "organizer"), "pat.lead@example.com" S "Pat Lead");
        ASSERT_TRUE(has(g, "attendee", "pat.lead@example.com" S "Pat Lead" S "REQ-PARTICIPANT" S
                                       "ACCEPTED" S ""));
        ASSERT_TRUE(has(g, "attendee", "kim@example.org" S "kim@example.org" S "REQ-PARTICIPANT"
                                       S "NEEDS-ACTION" S "1"));
        ASSERT_EQ(count(g, "attendee"), 2);     /* the urn:uuid: room is no address */
        ASSERT_TRUE(has(g, "alarm", "display" S "-600" S "This is an event reminder"));
        ASSERT_TRUE(get(g, "location") == NULL);

        ASSERT_STREQ(get(ol, "timezone"), NULL);      /* a Windows name: no Olson zone */
        ASSERT_STREQ(get(ol, "start"), "2024-06-10T08:00:00Z");      /* via the VTIMEZONE */
        ASSERT_STREQ(get(ol, "end"), "2024-06-10T09:00:00Z");
        ASSERT_STREQ(get(ol, "class"), "public");
        ASSERT_STREQ(get(ol, "summary"), "Monatsrunde");
        ASSERT_STREQ(get(ol, "description"), "Agenda:\n1. Zahlen\n2. Sonstiges");
        /* A floating UNTIL (Outlook's) is in the start's zone: 10:00 CET = 09:00Z. */
        ASSERT_STREQ(get(ol, "rrule"), "FREQ=MONTHLY;UNTIL=20241210T090000Z;BYDAY=2MO");
        ASSERT_STREQ(get(ol, "organizer"), "hans.meier@firma.example" S "Meier, Hans");
        ASSERT_TRUE(has(ol, "attendee", "eva.schulz@firma.example" S "Schulz, Eva" S
                                        "OPT-PARTICIPANT" S "NEEDS-ACTION" S "1"));
        ASSERT_TRUE(has(ol, "alarm", "display" S "-900" S "REMINDER"));

        ASSERT_STREQ(get(ap, "all day"), "1");
        ASSERT_STREQ(get(ap, "start"), "2024-12-24");
        ASSERT_STREQ(get(ap, "end"), "2024-12-27");
        ASSERT_STREQ(get(ap, "timezone"), NULL);
        ASSERT_TRUE(has(ap, "alarm", "audio" S "2024-12-23T09:00:00Z" S ""));
        {
                /* An all-day DTEND not after DTSTART: one day, as the records reader has it. */
                _cleanup_(pim_item_freep) PimItem *z = parse(
                        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20240301\r\n"
                        "DTEND;VALUE=DATE:20240301\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");

                ASSERT_STREQ(get(z, "end"), "2024-03-02");
        }
        {
                /* A name ending in '\\' would swallow the next parameter (libical writes
                 * it unquoted and reads "\\;" as an escape): it is written without. */
                _cleanup_(pim_item_freep) PimItem *z = pim_item_new(PIM_EVENT), *back = NULL;
                _cleanup_free_ char *text = NULL;
                size_t len = 0;

                pim_add(z, "attendee", "k@x" S "Kim \\\\" S "CHAIR" S "ACCEPTED" S "1");
                ASSERT_OK(pim_ical_write(z, &text, &len));
                ASSERT_EQ(text ? pim_ical_parse(text, len, &back, NULL) : -1, 0);
                ASSERT_TRUE(has(back, "attendee", "k@x" S "Kim" S "CHAIR" S "ACCEPTED" S "1"));
        }
        {
                /* A leap second is the next minute. */
                _cleanup_(pim_item_freep) PimItem *z = parse(
                        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20161231T235960Z\r\n"
                        "EXDATE:20170101T235960Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");

                ASSERT_STREQ(get(z, "start"), "2017-01-01T00:00:00Z");
                ASSERT_TRUE(has(z, "exdate", "2017-01-02T00:00:00Z"));
                if (z)
                        free(round_trip(z));
        }

        /* Floating: the wall clock read as UTC, no zone; no DTEND: no length. An unknown
         * TZID without a VTIMEZONE reads the same. */
        fl = parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:f\r\n"
                   "DTSTART:20240301T080000\r\nSUMMARY:Floating\r\n"
                   "EXDATE;TZID=Mars/Olympus:20240302T080000\r\nRRULE:FREQ=DAILY;COUNT=3\r\n"
                   "END:VEVENT\r\nEND:VCALENDAR\r\n");
        ASSERT_STREQ(get(fl, "start"), "2024-03-01T08:00:00Z");
        ASSERT_STREQ(get(fl, "end"), "2024-03-01T08:00:00Z");
        ASSERT_TRUE(has(fl, "exdate", "2024-03-02T08:00:00Z"));
        ASSERT_STREQ(get(fl, "timezone"), NULL);

        /* Each sample is a fixed point of write + parse. */
        if (tb)
                free(round_trip(tb));
        if (g)
                free(round_trip(g));
        if (ol)
                free(round_trip(ol));
        if (ap)
                free(round_trip(ap));
        if (fl)
                free(round_trip(fl));
}

/* A prefixed TZID (old Thunderbird, libical's own) still names its Olson zone. */
static void test_tzid_forms(void) {
        static const char *const tzids[] = {
                "/mozilla.org/20050126_1/Europe/Paris",
                "/freeassociation.sourceforge.net/Europe/Paris",
                "Europe/Paris",
        };

        for (size_t i = 0; i < ELEMENTSOF(tzids); i++) {
                _cleanup_(pim_item_freep) PimItem *it = NULL;
                _cleanup_free_ char *text = NULL;

                ASSERT_TRUE(asprintf(&text, "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"
                                     "DTSTART;TZID=%s:20240105T100000\r\nEND:VEVENT\r\n"
                                     "END:VCALENDAR\r\n", tzids[i]) > 0);
                it = parse(text);
                ASSERT_STREQ(get(it, "timezone"), "Europe/Paris");
                ASSERT_STREQ(get(it, "start"), "2024-01-05T09:00:00Z");
        }
        ASSERT_TRUE(pim_tz_name_ok("America/Argentina/Buenos_Aires"));
        ASSERT_TRUE(pim_tz_name_ok("Etc/GMT+5"));
        ASSERT_TRUE(!pim_tz_name_ok("../../etc/passwd"));
        ASSERT_TRUE(!pim_tz_name_ok("Europe/../../x"));
        ASSERT_TRUE(!pim_tz_name_ok("W. Europe Standard Time"));
        ASSERT_TRUE(!pim_tz_name_ok("/Europe/Paris"));
        ASSERT_TRUE(pim_tz_is_utc("Etc/UTC") && pim_tz_is_utc("utc"));
        ASSERT_TRUE(!pim_tz_is_utc("Europe/London"));
}

static void test_hostile(void) {
        static const char *const bad[] = {
                "",
                "hello",
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
                "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n",
                ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nRECURRENCE-ID:20240101T000000Z\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"),
                "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:unterminated\r\n",
                "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
        };
        /* Text that parses to an event, however broken its parts. */
        static const char *const odd[] = {
                ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:99999999T999999Z\r\nDTEND:x\r\n"
                "RRULE:FREQ=NEVER\r\nEXDATE:garbage\r\nATTENDEE:\r\nORGANIZER:mailto:\r\n"
                "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:P\r\nEND:VALARM\r\n"
                "BEGIN:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
                ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Bad:20240101T000000\r\n"
                "SUMMARY:a\x1f" "b\x01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
                /* A zone whose rule recurs every second must not be expanded. */
                ("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Evil\r\nBEGIN:STANDARD\r\n"
                "DTSTART:16010101T000000\r\nRRULE:FREQ=SECONDLY\r\nTZOFFSETFROM:+0100\r\n"
                "TZOFFSETTO:+0200\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n"
                "DTSTART;TZID=Evil:99990101T000000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"),
                ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:\xff\xfe ok \xc3\r\n"
                "DTSTART;VALUE=DATE:20240230\r\nDURATION:P99999W\r\nEND:VEVENT\r\n"
                "END:VCALENDAR\r\n"),
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(pim_item_freep) PimItem *it = NULL;
                _cleanup_free_ char *reason = NULL;

                ASSERT_EQ(pim_ical_parse(bad[i], strlen(bad[i]), &it, &reason), IDS_E_PROTOCOL);
                ASSERT_TRUE(reason != NULL);
                ASSERT_TRUE(it == NULL);
        }
        for (size_t i = 0; i < ELEMENTSOF(odd); i++) {
                _cleanup_(pim_item_freep) PimItem *it = parse(odd[i]);

                if (it)
                        free(round_trip(it));
        }
        {
                _cleanup_(pim_item_freep) PimItem *it = parse(odd[1]);

                ASSERT_STREQ(get(it, "summary"), "a b");
                ASSERT_STREQ(get(it, "start"), "2024-01-01T00:00:00Z");
        }
        {
                _cleanup_(pim_item_freep) PimItem *it = parse(odd[3]);

                ASSERT_STREQ(get(it, "summary"), "?? ok ?");
                ASSERT_TRUE(get(it, "start") == NULL);      /* 30 February */
        }
}

static int write_sample(const char *dir) {
        _cleanup_(pim_item_freep) PimItem *it = rich_zoned();
        _cleanup_free_ char *text = NULL, *path = NULL;
        size_t len;
        FILE *f;

        if (pim_ical_write(it, &text, &len) < 0 || asprintf(&path, "%s/event.ics", dir) < 0)
                return 1;
        f = fopen(path, "we");
        if (!f)
                return 1;
        fwrite(text, 1, len, f);
        return fclose(f) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        if (argc == 3 && strcmp(argv[1], "--write") == 0)
                return write_sample(argv[2]);
        test_round_trips();
        test_rrule_form();
        test_samples();
        test_zone_definitions();
        test_zone_cut();
        test_tzid_forms();
        test_hostile();
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
