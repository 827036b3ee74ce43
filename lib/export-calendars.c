/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Calendars export: HomeDomain/Library/Calendar/Calendar.sqlitedb as iCalendar (RFC 5545),
 * calendars/<calendar title>.ics for each calendar that has events. libical builds the
 * components and gives the VTIMEZONE definitions (one per zone used, before the events):
 * the format has enough corners (folding, escaping, time forms, RRULE syntax) that a
 * well-kept library beats a writer of our own.
 *
 * Times: iOS keeps start_date/end_date as true UTC instants (Mac absolute time) with the
 * zone in start_tz. A zoned event is written in its zone (TZID), "UTC"/"GMT" as UTC (Z),
 * "_float" as floating local time (the stored value is the wall clock read as UTC), and
 * all-day events as VALUE=DATE with the exclusive end (iOS stores the last second of the
 * last day). A zone libical does not know is written in UTC (the instant stays right).
 * Only entity_type 2 rows are events; rows of legacy reminders (entity_type 3) are
 * counted in a note, since iOS keeps its reminders elsewhere.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libical/ical.h>

#include "export.h"
#include "macro.h"

#define CAL_DOMAIN "HomeDomain"
#define CAL_PATH "Library/Calendar/Calendar.sqlitedb"

#define MAX_EVENTS 1000000              /* per calendar */
#define MAX_ROWS 10000                  /* alarms, attendees, exdates, overrides of one event */
#define MAX_ZONES 256                   /* VTIMEZONEs of one file */

static void icalcomponent_freep(icalcomponent **c) {
        if (*c)
                icalcomponent_free(*c);
}

static const char *col_text(sqlite3_stmt *st, int i) {
        const char *s;

        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return NULL;
        s = (const char *) sqlite3_column_text(st, i);
        return isempty(s) ? NULL : s;
}

/* A Mac absolute time column as Unix seconds; false for NULL or nonsense. */
static bool col_time(sqlite3_stmt *st, int i, time_t *ret) {
        double d;

        /* A REAL (or INTEGER) only: text or a blob would read as 0, a wrong date. */
        if (sqlite3_column_type(st, i) != SQLITE_FLOAT &&
            sqlite3_column_type(st, i) != SQLITE_INTEGER)
                return false;
        d = sqlite3_column_double(st, i);
        if (!(d > -1e10 && d < 1e10))   /* also NaN */
                return false;
        *ret = (time_t) d + EXPORT_MAC_EPOCH;
        if ((double) (*ret - EXPORT_MAC_EPOCH) > d)
                (*ret)--;               /* floor, without libm */
        return true;
}

/* How an event's times are written. */
typedef struct TimeForm {
        bool all_day;
        icaltimezone *zone;             /* NULL: floating (or all-day); borrowed, libical's */
        bool utc;
} TimeForm;

static TimeForm time_form(const char *tz, bool all_day) {
        TimeForm f = { .all_day = all_day };

        if (all_day || !tz || strcmp(tz, "_float") == 0)
                return f;
        if (strcmp(tz, "UTC") == 0 || strcmp(tz, "GMT") == 0 || strcmp(tz, "Etc/UTC") == 0 ||
            strcmp(tz, "Etc/GMT") == 0) {
                f.utc = true;
                return f;
        }
        f.zone = icaltimezone_get_builtin_timezone(tz);
        f.utc = !f.zone;                /* unknown zone: the instant, in UTC */
        return f;
}

static struct icaltimetype make_time(const TimeForm *f, time_t t) {
        struct icaltimetype v;

        if (f->all_day)
                return icaltime_from_timet_with_zone(t, 1, NULL);
        if (f->utc)
                return icaltime_from_timet_with_zone(t, 0, icaltimezone_get_utc_timezone());
        v = icaltime_from_timet_with_zone(t, 0, NULL);  /* wall clock "as UTC", floating */
        if (f->zone) {
                v = icaltime_from_timet_with_zone(t, 0, icaltimezone_get_utc_timezone());
                v = icaltime_convert_to_zone(v, f->zone);
        }
        return v;
}

/* A time property (DTSTART, EXDATE …) with its TZID parameter when zoned. */
static void add_time(icalcomponent *c, icalproperty *p, const TimeForm *f) {
        if (!p)
                return;
        if (f->zone && !f->all_day && !f->utc &&
            !icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER))
                icalproperty_add_parameter(p, icalparameter_new_tzid(
                                                   icaltimezone_get_location(f->zone)));
        icalcomponent_add_property(c, p);
}

/* Zones used in one file, for the VTIMEZONEs. */
typedef struct Zones {
        icaltimezone *z[MAX_ZONES];
        size_t n;
} Zones;

static void zones_add(Zones *zs, icaltimezone *z) {
        if (!z)
                return;
        for (size_t i = 0; i < zs->n; i++)
                if (zs->z[i] == z)
                        return;
        if (zs->n < MAX_ZONES)
                zs->z[zs->n++] = z;
}

enum {
        E_ROWID, E_SUMMARY, E_DESCRIPTION, E_START, E_END, E_TZ, E_ALL_DAY, E_UID,
        E_ORIG_DATE, E_LOCATION, E_ADDRESS, E_STATUS, E_ORGANIZER, E_MODIFIED, E_CREATED,
        E_URL, E_UUID,
};

#define EVENT_COLUMNS                                                                        \
        "SELECT i.ROWID, i.summary, i.description, i.start_date, i.end_date, i.start_tz, "   \
        "i.all_day, i.unique_identifier, i.orig_date, l.title, l.address, i.status, "        \
        "i.organizer_id, i.last_modified, i.creation_date, %s, i.UUID "                      \
        "FROM CalendarItem i LEFT JOIN Location l ON l.ROWID = i.location_id "

typedef struct Cal {
        ExportCtx *x;
        sqlite3 *db;
        sqlite3_stmt *overrides, *recurrence, *exdates, *alarms, *attendees;
        uint64_t events;
} Cal;

static short encode_day(const char *s, size_t len) {
        static const char days[] = "SUMOTUWETHFRSA";
        int pos = 0, sign = 1;
        size_t i = 0;

        if (i < len && (s[i] == '+' || s[i] == '-'))
                sign = s[i++] == '-' ? -1 : 1;
        for (; i < len && s[i] >= '0' && s[i] <= '9' && pos < 100; i++)
                pos = pos * 10 + (s[i] - '0');
        if (len - i != 2 || pos > 53)
                return 0;
        for (int d = 0; d < 7; d++)
                if (strncmp(days + 2 * d, s + i, 2) == 0)
                        /* libical's encoding: (|pos| * 8 + weekday) with pos's sign,
                         * weekday 1 = Sunday. */
                        return (short) (sign * (pos * 8 + d + 1));
        return 0;
}

/* Parse "D=0MO,+2TU;M=1,15;O=10;P=-1" into r's BY* lists. Unknown parts are ignored. */
static void parse_specifier(const char *spec, struct icalrecurrencetype *r) {
        size_t nd = 0, nm = 0, no = 0, np = 0;

        while (spec && *spec) {
                size_t plen = strcspn(spec, ";");
                char key = spec[0];
                const char *v = plen > 2 && spec[1] == '=' ? spec + 2 : NULL;
                const char *end = spec + plen;

                while (v && v < end) {
                        size_t ilen = strcspn(v, ",;");
                        char item[16] = "";
                        long n;

                        if (v + ilen > end)
                                ilen = (size_t) (end - v);
                        if (ilen < sizeof(item))
                                memcpy(item, v, ilen);
                        n = strtol(item, NULL, 10);
                        switch (key) {
                        case 'D':
                                if (nd < 53 && encode_day(item, strlen(item)) != 0)
                                        r->by_day[nd++] = encode_day(item, strlen(item));
                                break;
                        case 'M':
                                if (nm < ICAL_BY_MONTHDAY_SIZE - 1 && n != 0 && n >= -31 && n <= 31)
                                        r->by_month_day[nm++] = (short) n;
                                break;
                        case 'O':
                                if (no < ICAL_BY_MONTH_SIZE - 1 && n >= 1 && n <= 12)
                                        r->by_month[no++] = (short) n;
                                break;
                        case 'P':
                                if (np < 53 && n != 0 && n >= -366 && n <= 366)
                                        r->by_set_pos[np++] = (short) n;
                                break;
                        }
                        v += ilen;
                        if (v < end && *v == ',')
                                v++;
                }
                spec = *end ? end + 1 : end;
        }
}

static void add_rrule(Cal *c, icalcomponent *ev, int64_t rowid, const TimeForm *f) {
        struct icalrecurrencetype r;
        sqlite3_stmt *st = c->recurrence;
        int freq, interval, count;
        time_t until;

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rowid);
        if (sqlite3_step(st) != SQLITE_ROW)
                return;
        freq = sqlite3_column_int(st, 0);
        interval = sqlite3_column_int(st, 1);
        count = sqlite3_column_int(st, 2);

        icalrecurrencetype_clear(&r);
        switch (freq) {
        case 1: r.freq = ICAL_DAILY_RECURRENCE; break;
        case 2: r.freq = ICAL_WEEKLY_RECURRENCE; break;
        case 3: r.freq = ICAL_MONTHLY_RECURRENCE; break;
        case 4: r.freq = ICAL_YEARLY_RECURRENCE; break;
        default: return;                /* unknown frequency: no rule rather than a wrong one */
        }
        r.interval = (short) (interval >= 1 && interval <= 1000 ? interval : 1);
        r.week_start = ICAL_MONDAY_WEEKDAY;
        if (count > 0)
                r.count = count;
        else if (col_time(st, 3, &until))
                /* UNTIL has the form of DTSTART, but in UTC for zoned events (RFC 5545). */
                r.until = f->all_day ? icaltime_from_timet_with_zone(until, 1, NULL) :
                          f->zone || f->utc ?
                          icaltime_from_timet_with_zone(until, 0, icaltimezone_get_utc_timezone()) :
                          icaltime_from_timet_with_zone(until, 0, NULL);
        parse_specifier(col_text(st, 4), &r);
        icalcomponent_add_property(ev, icalproperty_new_rrule(r));
}

static void add_alarms(Cal *c, icalcomponent *ev, int64_t rowid, const char *summary) {
        sqlite3_stmt *st = c->alarms;

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rowid);
        for (unsigned i = 0; i < MAX_ROWS && sqlite3_step(st) == SQLITE_ROW; i++) {
                icalcomponent *a;
                struct icaltriggertype tr;
                time_t at;

                if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
                        int64_t s = sqlite3_column_int64(st, 0);

                        if (s < -100000000 || s > 100000000)
                                continue;
                        tr = icaltriggertype_from_int((int) s);
                } else if (col_time(st, 1, &at)) {
                        tr = icaltriggertype_from_int(0);
                        tr.time = icaltime_from_timet_with_zone(
                                at, 0, icaltimezone_get_utc_timezone());
                } else
                        continue;
                a = icalcomponent_new_valarm();
                icalcomponent_add_property(a, icalproperty_new_action(ICAL_ACTION_DISPLAY));
                icalcomponent_add_property(a, icalproperty_new_description(summary ?: "Reminder"));
                icalcomponent_add_property(a, icalproperty_new_trigger(tr));
                icalcomponent_add_component(ev, a);
        }
}

/* "mailto:" + address; NULL when there is none. */
static char *mailto(const char *email, const char *address) {
        char *r = NULL;

        if (email) {
                if (asprintf(&r, "mailto:%s", email) < 0)
                        return NULL;
                return r;
        }
        if (address)
                return strdup(address);
        return NULL;
}

static void add_people(Cal *c, icalcomponent *ev, int64_t rowid, int64_t organizer) {
        static const icalparameter_partstat partstat[] = {
                ICAL_PARTSTAT_NEEDSACTION, ICAL_PARTSTAT_ACCEPTED, ICAL_PARTSTAT_DECLINED,
                ICAL_PARTSTAT_TENTATIVE,
        };
        sqlite3_stmt *st = c->attendees;

        /* Columns: entity_type, email, display_name, address, status, role, ROWID */
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rowid);
        for (unsigned i = 0; i < MAX_ROWS && sqlite3_step(st) == SQLITE_ROW; i++) {
                _cleanup_free_ char *uri = mailto(col_text(st, 1), col_text(st, 3));
                const char *name = col_text(st, 2);
                int type = sqlite3_column_int(st, 0), status = sqlite3_column_int(st, 4);
                int role = sqlite3_column_int(st, 5);
                icalproperty *p;

                if (!uri)
                        continue;
                if (type == 8 || sqlite3_column_int64(st, 6) == organizer) {
                        if (icalcomponent_get_first_property(ev, ICAL_ORGANIZER_PROPERTY))
                                continue;
                        p = icalproperty_new_organizer(uri);
                } else if (type == 7) {
                        p = icalproperty_new_attendee(uri);
                        if (status >= 0 && status < 4)
                                icalproperty_add_parameter(p, icalparameter_new_partstat(
                                                                   partstat[status]));
                        if (role == 1 || role == 2 || role == 3)
                                icalproperty_add_parameter(p, icalparameter_new_role(
                                        role == 1 ? ICAL_ROLE_REQPARTICIPANT :
                                        role == 2 ? ICAL_ROLE_OPTPARTICIPANT : ICAL_ROLE_CHAIR));
                } else
                        continue;
                if (name)
                        icalproperty_add_parameter(p, icalparameter_new_cn(name));
                icalcomponent_add_property(ev, p);
        }
}

/* One VEVENT from the current row of st (a master or a modified occurrence). */
static icalcomponent *make_event(Cal *c, sqlite3_stmt *st, const TimeForm *master,
                                 Zones *zs, TimeForm *ret_form) {
        const char *summary = col_text(st, E_SUMMARY), *loc = col_text(st, E_LOCATION);
        const char *addr = col_text(st, E_ADDRESS), *uid = col_text(st, E_UID);
        int64_t rowid = sqlite3_column_int64(st, E_ROWID);
        TimeForm f = time_form(col_text(st, E_TZ), sqlite3_column_int(st, E_ALL_DAY) != 0);
        icalcomponent *ev = icalcomponent_new_vevent();
        time_t start = 0, end, stamp;
        int status = sqlite3_column_int(st, E_STATUS);
        char fallback_uid[64];

        (void) col_time(st, E_START, &start);
        if (!col_time(st, E_END, &end) || end < start)
                end = f.all_day ? start + 86399 : start;
        zones_add(zs, f.zone);

        if (!uid) {
                uid = col_text(st, E_UUID);
                if (!uid) {
                        snprintf(fallback_uid, sizeof(fallback_uid),
                                 "idevicesync-calendar-%" PRId64, rowid);
                        uid = fallback_uid;
                }
        }
        icalcomponent_add_property(ev, icalproperty_new_uid(uid));
        if (!col_time(st, E_MODIFIED, &stamp) && !col_time(st, E_CREATED, &stamp))
                stamp = start;
        icalcomponent_add_property(ev, icalproperty_new_dtstamp(icaltime_from_timet_with_zone(
                                           stamp, 0, icaltimezone_get_utc_timezone())));
        add_time(ev, icalproperty_new_dtstart(make_time(&f, start)), &f);
        /* All-day: iOS ends on the last second of the last day; DTEND is the day after. */
        add_time(ev, icalproperty_new_dtend(make_time(&f, f.all_day ? end + 1 : end)), &f);
        if (master) {
                time_t orig;

                if (col_time(st, E_ORIG_DATE, &orig))
                        add_time(ev, icalproperty_new_recurrenceid(make_time(master, orig)),
                                 master);
        }
        if (summary)
                icalcomponent_add_property(ev, icalproperty_new_summary(summary));
        if (loc || addr) {
                _cleanup_free_ char *both = NULL;

                if (loc && addr && strcmp(loc, addr) != 0 &&
                    asprintf(&both, "%s\n%s", loc, addr) < 0)
                        both = NULL;
                icalcomponent_add_property(ev, icalproperty_new_location(both ?: loc ?: addr));
        }
        if (col_text(st, E_DESCRIPTION))
                icalcomponent_add_property(ev, icalproperty_new_description(
                                                   col_text(st, E_DESCRIPTION)));
        if (col_text(st, E_URL))
                icalcomponent_add_property(ev, icalproperty_new_url(col_text(st, E_URL)));
        if (status >= 1 && status <= 3)
                icalcomponent_add_property(ev, icalproperty_new_status(
                        status == 1 ? ICAL_STATUS_CONFIRMED :
                        status == 2 ? ICAL_STATUS_TENTATIVE : ICAL_STATUS_CANCELLED));
        add_people(c, ev, rowid, sqlite3_column_int64(st, E_ORGANIZER));
        add_alarms(c, ev, rowid, summary);
        c->events++;
        *ret_form = f;
        return ev;
}

static void add_exdates(Cal *c, icalcomponent *ev, int64_t rowid, const TimeForm *f) {
        sqlite3_stmt *st = c->exdates;

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rowid);
        for (unsigned i = 0; i < MAX_ROWS && sqlite3_step(st) == SQLITE_ROW; i++) {
                time_t t;

                if (col_time(st, 0, &t))
                        add_time(ev, icalproperty_new_exdate(make_time(f, t)), f);
        }
}

/* One calendar's file: VTIMEZONEs first, then the events; nothing when it has none. */
static int export_calendar(Cal *c, int dir, int64_t cal_id, const char *title,
                           sqlite3_stmt *masters) {
        _cleanup_(icalcomponent_freep) icalcomponent *vcal = NULL, *holder = NULL;
        _cleanup_free_ char *text = NULL;
        Zones zs = {};
        size_t n = 0;
        char name[256];
        int r;

        vcal = icalcomponent_new_vcalendar();
        if (!vcal)
                return -ENOMEM;
        icalcomponent_add_property(vcal, icalproperty_new_version("2.0"));
        icalcomponent_add_property(vcal, icalproperty_new_prodid(
                                                 "-//idevicesync//Calendar export//EN"));
        if (title) {
                icalproperty *p = icalproperty_new_x(title);

                icalproperty_set_x_name(p, "X-WR-CALNAME");
                icalcomponent_add_property(vcal, p);
        }

        /* Events go into a holder first: the VTIMEZONEs must come before them. */
        holder = icalcomponent_new_vcalendar();
        if (!holder)
                return -ENOMEM;

        sqlite3_reset(masters);
        sqlite3_bind_int64(masters, 1, cal_id);
        for (;;) {
                int s = sqlite3_step(masters);
                int64_t rowid;
                TimeForm f;
                icalcomponent *ev;

                if (s == SQLITE_DONE)
                        break;
                if (s != SQLITE_ROW)
                        return -EPROTO;
                r = export_check_cancel(c->x);
                if (r != 0)
                        return r;
                if (n++ >= MAX_EVENTS)
                        break;
                rowid = sqlite3_column_int64(masters, E_ROWID);
                ev = make_event(c, masters, NULL, &zs, &f);
                add_rrule(c, ev, rowid, &f);
                add_exdates(c, ev, rowid, &f);
                icalcomponent_add_component(holder, ev);

                sqlite3_reset(c->overrides);
                sqlite3_bind_int64(c->overrides, 1, rowid);
                for (unsigned i = 0; i < MAX_ROWS; i++) {
                        TimeForm of;

                        if (sqlite3_step(c->overrides) != SQLITE_ROW)
                                break;
                        icalcomponent_add_component(holder, make_event(c, c->overrides, &f, &zs,
                                                                       &of));
                }
        }
        if (n == 0)
                return 0;

        for (size_t i = 0; i < zs.n; i++) {
                icalcomponent *tzc = icalcomponent_new_clone(icaltimezone_get_component(zs.z[i]));
                icalproperty *p;

                if (!tzc)
                        continue;
                /* The plain IANA name as TZID (libical may prefix its own), so readers
                 * that know the zone by name find it. */
                p = icalcomponent_get_first_property(tzc, ICAL_TZID_PROPERTY);
                if (p)
                        icalproperty_set_tzid(p, icaltimezone_get_location(zs.z[i]));
                icalcomponent_add_component(vcal, tzc);
        }
        for (icalcomponent *ev = icalcomponent_get_first_component(holder, ICAL_VEVENT_COMPONENT);
             ev; ev = icalcomponent_get_first_component(holder, ICAL_VEVENT_COMPONENT)) {
                icalcomponent_remove_component(holder, ev);
                icalcomponent_add_component(vcal, ev);
        }

        text = icalcomponent_as_ical_string_r(vcal);
        if (!text)
                return -ENOMEM;
        export_safe_name(title, ".ics", "Calendar", name, sizeof(name));
        return export_write(c->x, dir, name, text, strlen(text), 0, NULL);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        return sqlite3_prepare_v2(db, sql, -1, ret, NULL) == SQLITE_OK ? 0 : -EPROTO;
}

static int run(ExportCtx *x) {
        static const char *const item[] = {
                "ROWID", "summary", "description", "start_date", "end_date", "start_tz",
                "all_day", "calendar_id", "entity_type", "unique_identifier", "orig_item_id",
                "orig_date", "location_id", "status", "organizer_id", "last_modified",
                "creation_date", "UUID", NULL };
        static const char *const calendar[] = { "ROWID", "title", NULL };
        static const char *const location[] = { "ROWID", "title", "address", NULL };
        static const char *const recurrence[] = { "frequency", "interval", "count", "end_date",
                                                  "specifier", "owner_id", NULL };
        static const char *const exdate[] = { "owner_id", "date", NULL };
        static const char *const alarm[] = { "trigger_interval", "trigger_date",
                                             "calendaritem_owner_id", NULL };
        static const char *const participant[] = { "entity_type", "email", "identity_id",
                                                   "owner_id", "status", "role", NULL };
        static const char *const identity[] = { "display_name", "address", NULL };
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *cals = NULL, *masters = NULL, *rem = NULL;
        _cleanup_(closep) int dir = -EBADF;
        Cal c = { .x = x };
        const char *url;
        char sql[1024];
        int r;

        r = export_open_checked(x, CAL_DOMAIN, CAL_PATH, "calendar",
                                (const ExportTable[]) { { "CalendarItem", item },
                                                        { "Calendar", calendar },
                                                        { "Location", location },
                                                        { "Recurrence", recurrence },
                                                        { "ExceptionDate", exdate },
                                                        { "Alarm", alarm },
                                                        { "Participant", participant },
                                                        { "Identity", identity }, {} },
                                &db);
        if (r != 0)
                return r;
        c.db = db;
        icalerror_set_errors_are_fatal(0);

        url = export_has_column(db, "CalendarItem", "url") ? "i.url" : "NULL";
        r = -EPROTO;
        snprintf(sql, sizeof(sql), EVENT_COLUMNS "WHERE i.calendar_id = ?1 AND "
                 "i.entity_type = 2 AND coalesce(i.orig_item_id, 0) = 0 ORDER BY i.ROWID", url);
        if (prepare(db, sql, &masters) < 0)
                goto out;
        snprintf(sql, sizeof(sql), EVENT_COLUMNS "WHERE i.orig_item_id = ?1 AND "
                 "i.entity_type = 2 ORDER BY i.orig_date, i.ROWID", url);
        if (prepare(db, sql, &c.overrides) < 0 ||
            prepare(db, "SELECT frequency, interval, count, end_date, specifier FROM "
                        "Recurrence WHERE owner_id = ?1 ORDER BY ROWID LIMIT 1",
                    &c.recurrence) < 0 ||
            prepare(db, "SELECT date FROM ExceptionDate WHERE owner_id = ?1 ORDER BY date",
                    &c.exdates) < 0 ||
            prepare(db, "SELECT trigger_interval, trigger_date FROM Alarm WHERE "
                        "calendaritem_owner_id = ?1 ORDER BY ROWID", &c.alarms) < 0 ||
            prepare(db, "SELECT p.entity_type, p.email, d.display_name, d.address, p.status, "
                        "p.role, p.ROWID FROM Participant p LEFT JOIN Identity d ON "
                        "d.ROWID = p.identity_id WHERE p.owner_id = ?1 ORDER BY p.ROWID",
                    &c.attendees) < 0 ||
            prepare(db, "SELECT ROWID, title FROM Calendar ORDER BY ROWID", &cals) < 0)
                goto out;

        r = export_mkdir(x, export_root_fd(x), "calendars", &dir);
        if (r != 0)
                goto out;
        for (unsigned i = 0; i < 100000; i++) {
                int s = sqlite3_step(cals);

                if (s == SQLITE_DONE)
                        break;
                r = -EPROTO;
                if (s != SQLITE_ROW)
                        goto out;
                r = export_calendar(&c, dir, sqlite3_column_int64(cals, 0), col_text(cals, 1),
                                    masters);
                if (r != 0)
                        goto out;
        }

        /* iOS 13 and later keep reminders in the Reminders app's store, not here; rows of
         * legacy tasks are not events and are said, not exported. */
        if (prepare(db, "SELECT count(*) FROM CalendarItem WHERE entity_type = 3", &rem) == 0 &&
            sqlite3_step(rem) == SQLITE_ROW && sqlite3_column_int64(rem, 0) > 0) {
                int64_t n = sqlite3_column_int64(rem, 0);

                export_note(x, "%" PRId64 " legacy reminder%s in the calendar database %s not "
                            "exported (iOS keeps reminders in the Reminders app's database).",
                            n, n == 1 ? "" : "s", n == 1 ? "is" : "are");
        }
        /* The count: every VEVENT, masters and modified occurrences alike. */
        export_count(x, c.events);
        r = 0;
out:
        sqlite3_finalize(c.overrides);
        sqlite3_finalize(c.recurrence);
        sqlite3_finalize(c.exdates);
        sqlite3_finalize(c.alarms);
        sqlite3_finalize(c.attendees);
        return r;
}

const ExportType export_calendars = {
        .name = "calendars",
        .version = 1,
        .sources = (const ExportSource[]) {
                /* The -wal and -shm too: a WAL holds changes the main file lacks. */
                { CAL_DOMAIN, CAL_PATH },
                { CAL_DOMAIN, CAL_PATH "-wal" },
                { CAL_DOMAIN, CAL_PATH "-shm" },
                {}
        },
        .run = run,
};
