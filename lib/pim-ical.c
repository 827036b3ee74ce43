/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iCalendar text ↔ event (pim.h's contract) for the two-way sync of calendars: the host
 * side of a calendar is a directory of .ics files that Thunderbird, Evolution or a CalDAV
 * tool edits, so the reader takes what those write and the writer gives what they read.
 * libical does the syntax (folding, escaping, RFC 6868 parameters, VTIMEZONE rules); this
 * file maps its structures to the contract's fields and back, and owns the forms:
 *
 *  - Times: a TZID time becomes its UTC instant. The zone is looked up in the file's own
 *    VTIMEZONE first (what the sender meant), then in libical's builtin zones by name (also
 *    after a "/vendor/..." prefix, or by the VTIMEZONE's X-LIC-LOCATION). "timezone" is
 *    set only when the TZID names an Olson zone libical knows; a Microsoft name ("W. Europe
 *    Standard Time") converts through its VTIMEZONE and leaves "timezone" out. A TZID that
 *    resolves to nothing, and floating times, are read as UTC (the wall clock stays what
 *    the file says; without a zone nothing better is known).
 *  - An event with a start always gets an end: DTEND, else DTSTART + DURATION, else RFC
 *    5545's default (the same instant; all-day: the next day).
 *  - Alarms: a trigger RELATED=END becomes one relative to the start by adding the
 *    event's length (no start: the alarm is dropped). ACTIONs other than DISPLAY and AUDIO
 *    are dropped.
 *  - Text: CR LF and lone CR become LF, other control characters a space, bytes that are
 *    not UTF-8 '?'; one-line values (emails, names in parameters, UID, URL) get a space for
 *    LF and TAB as well; leading blanks go (libical's parser drops them anyway). This
 *    makes the reader's output a fixed point of write + read.
 *  - The writer's DTSTAMP is the event's start (a rewrite of an unchanged event gives the
 *    same bytes, so directory sync tools see no change), 1970-01-01 without one.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libical/ical.h>
#include <unistr.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim-ical.h"
#include "pim.h"

#define MAX_VALARMS 64                  /* alarms read from one event */
#define MAX_DURATION (10 * 366 * 86400)   /* ten years, in seconds; fits an int */

static void icalcomponent_freep(icalcomponent **c) {
        if (*c)
                icalcomponent_free(*c);
}

/* ---- zone names --------------------------------------------------------------------------- */

bool pim_tz_name_ok(const char *s) {
        size_t n = 0;

        if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z')))
                return false;
        for (const char *p = s; *p; p++, n++) {
                char c = *p;

                if (n >= 64)
                        return false;
                if (c == '/') {
                        if (p[1] == '/' || p[1] == 0 || p[1] == '.')
                                return false;
                        continue;
                }
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '+'))
                        return false;
        }
        return true;
}

bool pim_tz_is_utc(const char *s) {
        static const char *const names[] = {
                "UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "Etc/UCT", "Etc/Universal", "Etc/Zulu",
                "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0", "Etc/Greenwich", "UCT", "Universal",
                "Zulu", "GMT0", "Greenwich", "Coordinated Universal Time",
        };

        if (!s)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return true;
        return false;
}

/* libical's builtin zone of an Olson name, or NULL (also for UTC, which is no zone here). */
static icaltimezone *builtin_zone(const char *name) {
        icaltimezone *z;

        if (!pim_tz_name_ok(name) || pim_tz_is_utc(name))
                return NULL;
        z = icaltimezone_get_builtin_timezone(name);
        if (!z || z == icaltimezone_get_utc_timezone())
                return NULL;
        /* Loading the definition replaces the zone's location string: load it now, so a
         * location taken afterwards stays valid (and a zone without one is no zone). */
        if (!icaltimezone_get_component(z))
                return NULL;
        return z;
}

bool pim_tz_known(const char *s) {
        return builtin_zone(s) != NULL;
}

/* ---- RRULE -------------------------------------------------------------------------------- */

static int int_compare(const void *x, const void *y) {
        int a = *(const int *) x, b = *(const int *) y;

        return (a > b) - (a < b);
}

/* BYDAY's order key: weekday from Monday (0) to Sunday (6), then the ordinal. */
static int day_key(short v) {
        int dow = (int) icalrecurrencetype_day_day_of_week(v);
        int pos = icalrecurrencetype_day_position(v);

        if (dow < 1 || dow > 7 || pos < -53 || pos > 53)
                return -1;
        return ((dow + 5) % 7) * 1000 + pos + 500;
}

/* ";NAME=a,b" of the valid entries of a libical BY list (sorted, no repeats). */
static void put_list(FILE *f, const char *name, const short *a, size_t size, int lo, int hi,
                     bool zero_ok) {
        int v[ICAL_BY_DAY_SIZE];
        size_t n = 0, k = 0;

        for (size_t i = 0; i < size && a[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
                if (a[i] >= lo && a[i] <= hi && (zero_ok || a[i] != 0) && n < ELEMENTSOF(v))
                        v[n++] = a[i];
        if (n == 0)
                return;
        qsort_safe(v, n, sizeof(int), int_compare);
        fprintf(f, ";%s=", name);
        for (size_t i = 0; i < n; i++) {
                if (i > 0 && v[i] == v[i - 1])
                        continue;
                fprintf(f, "%s%d", k++ ? "," : "", v[i]);
        }
}

static void put_days(FILE *f, const short *a, size_t size) {
        static const char *const names[] = {"", "SU", "MO", "TU", "WE", "TH", "FR", "SA"};
        int v[ICAL_BY_DAY_SIZE];
        size_t n = 0, k = 0;

        for (size_t i = 0; i < size && a[i] != ICAL_RECURRENCE_ARRAY_MAX; i++)
                if (day_key(a[i]) >= 0 && n < ELEMENTSOF(v))
                        v[n++] = day_key(a[i]);
        if (n == 0)
                return;
        qsort_safe(v, n, sizeof(int), int_compare);
        fputs(";BYDAY=", f);
        for (size_t i = 0; i < n; i++) {
                int pos = v[i] % 1000 - 500, dow = (v[i] / 1000 + 1) % 7 + 1;

                if (i > 0 && v[i] == v[i - 1])
                        continue;
                if (pos != 0)
                        fprintf(f, "%s%d%s", k++ ? "," : "", pos, names[dow]);
                else
                        fprintf(f, "%s%s", k++ ? "," : "", names[dow]);
        }
}

int pim_rrule_format(const struct icalrecurrencetype *r, char **ret) {
        static const char *const freqs[] = {
                [ICAL_SECONDLY_RECURRENCE] = "SECONDLY", [ICAL_MINUTELY_RECURRENCE] = "MINUTELY",
                [ICAL_HOURLY_RECURRENCE] = "HOURLY",     [ICAL_DAILY_RECURRENCE] = "DAILY",
                [ICAL_WEEKLY_RECURRENCE] = "WEEKLY",     [ICAL_MONTHLY_RECURRENCE] = "MONTHLY",
                [ICAL_YEARLY_RECURRENCE] = "YEARLY",
        };
        static const char *const days[] = {"", "SU", "MO", "TU", "WE", "TH", "FR", "SA"};
        const struct icaltimetype *u = &r->until;
        bool until = false;
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        if ((int) r->freq < ICAL_SECONDLY_RECURRENCE || r->freq > ICAL_YEARLY_RECURRENCE)
                return -EINVAL;
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "FREQ=%s", freqs[r->freq]);
        if (!icaltime_is_null_time(*u) && u->year >= 1 && u->year <= 3000 && u->month >= 1 &&
            u->month <= 12 && u->day >= 1 && u->day <= 31) {
                bool d = u->is_date;

                fprintf(f, ";UNTIL=%04d%02d%02dT%02d%02d%02dZ", u->year, u->month, u->day,
                        d ? 0 : u->hour, d ? 0 : u->minute, d ? 0 : u->second);
                until = true;
        }
        /* RFC 5545 allows one of UNTIL and COUNT (libical refuses a rule with both). */
        if (r->count > 0 && !until)
                fprintf(f, ";COUNT=%d", r->count);
        if (r->interval > 1)
                fprintf(f, ";INTERVAL=%d", r->interval);
        put_list(f, "BYSECOND", r->by_second, ICAL_BY_SECOND_SIZE, 0, 60, true);
        put_list(f, "BYMINUTE", r->by_minute, ICAL_BY_MINUTE_SIZE, 0, 59, true);
        put_list(f, "BYHOUR", r->by_hour, ICAL_BY_HOUR_SIZE, 0, 23, true);
        put_days(f, r->by_day, ICAL_BY_DAY_SIZE);
        put_list(f, "BYMONTHDAY", r->by_month_day, ICAL_BY_MONTHDAY_SIZE, -31, 31, false);
        put_list(f, "BYYEARDAY", r->by_year_day, ICAL_BY_YEARDAY_SIZE, -366, 366, false);
        put_list(f, "BYWEEKNO", r->by_week_no, ICAL_BY_WEEKNO_SIZE, -53, 53, false);
        put_list(f, "BYMONTH", r->by_month, ICAL_BY_MONTH_SIZE, 1, 12, false);
        put_list(f, "BYSETPOS", r->by_set_pos, ICAL_BY_SETPOS_SIZE, -366, 366, false);
        if (r->week_start > ICAL_NO_WEEKDAY && r->week_start <= ICAL_SATURDAY_WEEKDAY &&
            r->week_start != ICAL_MONDAY_WEEKDAY)
                fprintf(f, ";WKST=%s", days[r->week_start]);
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

int pim_rrule_parse(const char *value, struct icalrecurrencetype *ret) {
        struct icalrecurrencetype r;

        if (isempty(value))
                return -EINVAL;
        r = icalrecurrencetype_from_string(value);
        if ((int) r.freq < ICAL_SECONDLY_RECURRENCE || r.freq > ICAL_YEARLY_RECURRENCE)
                return -EINVAL;
        *ret = r;
        return 0;
}

/* ---- text --------------------------------------------------------------------------------- */

char *pim_text_clean(const char *s, bool one_line) {
        size_t n = strlen(s), k = 0;
        char *out = malloc(n + 1);

        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                unsigned char c = (unsigned char) s[i];
                ucs4_t uc;
                int l;

                if (c >= 0x80) {
                        l = u8_mbtoucr(&uc, (const uint8_t *) s + i, n - i);
                        if (l <= 0) {
                                out[k++] = '?';
                                i++;
                                continue;
                        }
                        memcpy(out + k, s + i, (size_t) l);
                        k += (size_t) l;
                        i += (size_t) l;
                        continue;
                }
                if (c == '\r') {
                        if (i + 1 < n && s[i + 1] == '\n')
                                i++;
                        c = '\n';
                }
                if (c == '\n' || c == '\t')
                        out[k++] = one_line ? ' ' : (char) c;
                else if (c < 0x20 || c == 0x7f)
                        out[k++] = ' ';
                else
                        out[k++] = (char) c;
                i++;
        }
        out[k] = 0;
        /* libical drops the blanks a value starts with: so does the contract. */
        k = strspn(out, " \t");
        if (k > 0)
                memmove(out, out + k, strlen(out + k) + 1);
        return out;
}

char *pim_name_clean(const char *s) {
        char *c = pim_text_clean(s, true);
        size_t n;

        if (!c)
                return NULL;
        /* libical writes a parameter ending in '\\' unquoted and its parser then reads
         * "\\;" as an escaped ';', swallowing the next parameter: such a name ends without. */
        n = strlen(c);
        while (n > 0 && (c[n - 1] == '\\' || c[n - 1] == ' '))
                c[--n] = 0;
        return c;
}

/* Large values are dropped one by one, not refused: the rest of the event stays. */
static int add_checked(int r) {
        return r == -E2BIG ? 0 : r;
}

int pim_add_text(PimItem *it, const char *name, const char *s, bool one_line) {
        _cleanup_free_ char *c = NULL;
        int r;

        if (isempty(s))
                return 0;
        c = pim_text_clean(s, one_line);
        if (!c)
                return -ENOMEM;
        r = pim_add(it, name, c);
        return r == -E2BIG ? 0 : r;
}

/* The text of the first property of kind in c (TEXT or URI values only), or NULL. */
static const char *prop_text(icalcomponent *c, icalproperty_kind kind) {
        icalproperty *p = icalcomponent_get_first_property(c, kind);
        icalvalue *v = p ? icalproperty_get_value(p) : NULL;

        if (!v)
                return NULL;
        switch (icalvalue_isa(v)) {
        case ICAL_TEXT_VALUE:
                return icalvalue_get_text(v);
        case ICAL_URI_VALUE:
                return icalvalue_get_uri(v);
        default:
                return NULL;
        }
}

/* ---- times -------------------------------------------------------------------------------- */

/* Whether libical can write t back: its times end with the year 3000. */
static bool time_sane(const struct icaltimetype *t) {
        if (t->year < 1 || t->year > 3000 || t->month < 1 || t->month > 12 || t->day < 1 ||
            t->day > icaltime_days_in_month(t->month, t->year))
                return false;
        return t->is_date || (t->hour >= 0 && t->hour <= 23 && t->minute >= 0 &&
                              t->minute <= 59 && t->second >= 0 && t->second <= 59);
}

/* t with a leap second (:60, which RFC 5545 allows) as the next minute, the form every
 * writer gives back. */
static struct icaltimetype no_leap_second(struct icaltimetype t) {
        if (!t.is_date && t.second == 60)
                icaltime_adjust(&t, 0, 0, 0, 0);
        return t;
}

static void fmt_date(const struct icaltimetype *t, char buf[static 16]) {
        snprintf(buf, 16, "%04d-%02d-%02d", t->year, t->month, t->day);
}

static void fmt_instant(const struct icaltimetype *t, char buf[static 32]) {
        snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", t->year, t->month, t->day, t->hour,
                 t->minute, t->second);
}

/* Seconds since 1970 of a UTC date-time (dates at midnight), for durations only. */
static int64_t epoch_seconds(const struct icaltimetype *t) {
        /* days_from_civil (H. Hinnant), valid for every year this file accepts. */
        int y = t->year - (t->month <= 2);
        int era = (y >= 0 ? y : y - 399) / 400;
        int yoe = y - era * 400;
        int doy = (153 * (t->month + (t->month > 2 ? -3 : 9)) + 2) / 5 + t->day - 1;
        int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        int64_t days = (int64_t) era * 146097 + doe - 719468;

        return days * 86400 + (t->is_date ? 0 : t->hour * 3600 + t->minute * 60 + t->second);
}

/* How a TZID resolves: the zone that converts its wall clock (NULL: read as UTC) and the
 * Olson name of the contract ("": none). */
typedef struct Zone {
        icaltimezone *conv;
        char olson[72];                 /* "" when none */
} Zone;

/* Whether a VTIMEZONE is one libical can expand in bounded time: its observances recur
 * yearly at most (a real zone's rules do), with a bounded number of RDATEs. */
static bool vtimezone_sane(icalcomponent *tz) {
        unsigned rdates = 0;

        if (!tz)
                return false;
        for (icalcomponent *o = icalcomponent_get_first_component(tz, ICAL_ANY_COMPONENT); o;
             o = icalcomponent_get_next_component(tz, ICAL_ANY_COMPONENT)) {
                for (icalproperty *p = icalcomponent_get_first_property(o, ICAL_RRULE_PROPERTY);
                     p; p = icalcomponent_get_next_property(o, ICAL_RRULE_PROPERTY)) {
                        struct icalrecurrencetype r = icalproperty_get_rrule(p);

                        if (r.freq != ICAL_YEARLY_RECURRENCE || r.interval < 1)
                                return false;
                }
                for (icalproperty *p = icalcomponent_get_first_property(o, ICAL_RDATE_PROPERTY);
                     p; p = icalcomponent_get_next_property(o, ICAL_RDATE_PROPERTY))
                        if (++rdates > 1000)
                                return false;
        }
        return true;
}

/* The builtin zone named by tzid or one of its tails after a '/' ("/mozilla.org/2005/
 * Europe/Paris" → "Europe/Paris"). */
static icaltimezone *builtin_from_tzid(const char *tzid) {
        for (const char *p = tzid; p && *p; p = strchr(p, '/')) {
                icaltimezone *z;

                while (*p == '/')
                        p++;
                z = builtin_zone(p);
                if (z)
                        return z;
        }
        return NULL;
}

/* Every event file carries its zone's VTIMEZONE, and libical expands a definition from its
 * first observance to 20 years past today (through ICU's calendar, a year at a time: an
 * Outlook zone starts in 1601), for each file anew: a quarter of the CPU of a sync that
 * reads 20,000 unchanged events. So the definitions read in this process are kept, each
 * once, keyed by their whole text (the same TZID may be defined differently by two
 * files), and times are converted with the kept copy, whose expansion libical keeps. Our
 * writer cuts a zone at the start of a year (pim_ical_write()), so its files share a
 * definition per zone and year. Bounded: at most ZONES_MAX definitions of at most
 * ZONE_TEXT_MAX bytes; beyond that a file's own zone is used as before. Entries are never
 * freed (a caller may still use one), hence the lock only around the table. */
#define ZONES_MAX 128
#define ZONE_TEXT_MAX (16 * 1024)

static struct {
        uint32_t hash;
        char *text;
        icaltimezone *zone;
} zones[ZONES_MAX];
static size_t n_zones;
static pthread_mutex_t zones_lock = PTHREAD_MUTEX_INITIALIZER;

/* FNV-1a: a first filter before comparing whole definitions. */
static uint32_t text_hash(const char *s) {
        uint32_t h = 2166136261u;

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * 16777619u;
        return h;
}

/* The kept zone defined as file is, or file itself. */
static icaltimezone *zone_kept(icaltimezone *file) {
        icalcomponent *c = icaltimezone_get_component(file);
        icaltimezone *found = NULL;
        char *text = c ? icalcomponent_as_ical_string_r(c) : NULL;
        uint32_t hash;

        if (!text)
                return file;
        hash = text_hash(text);
        pthread_mutex_lock(&zones_lock);
        for (size_t i = 0; i < n_zones && !found; i++)
                if (zones[i].hash == hash && strcmp(zones[i].text, text) == 0)
                        found = zones[i].zone;
        if (!found && n_zones < ZONES_MAX && strlen(text) <= ZONE_TEXT_MAX) {
                icalcomponent *copy = icalcomponent_new_clone(c);
                icaltimezone *z = icaltimezone_new();

                if (copy && z && icaltimezone_set_component(z, copy)) {
                        zones[n_zones].hash = hash;
                        zones[n_zones].text = TAKE_PTR(text);
                        zones[n_zones++].zone = found = z;
                } else {
                        if (copy)
                                icalcomponent_free(copy);
                        if (z)
                                icaltimezone_free(z, 1);
                }
        }
        pthread_mutex_unlock(&zones_lock);
        free(text);
        return found ?: file;
}

static Zone resolve_tzid(icalcomponent *vcal, const char *tzid) {
        icaltimezone *file = NULL, *builtin;
        Zone z = {};

        if (isempty(tzid) || pim_tz_is_utc(tzid))
                return z;
        if (vcal) {
                file = icalcomponent_get_timezone(vcal, tzid);
                if (file && !vtimezone_sane(icaltimezone_get_component(file)))
                        file = NULL;
                if (file)
                        file = zone_kept(file);
        }
        builtin = builtin_from_tzid(tzid);
        if (!builtin && file) {
                icalcomponent *c = icaltimezone_get_component(file);
                icalproperty *p = c ? icalcomponent_get_first_property(
                                              c, ICAL_LOCATION_PROPERTY) : NULL;
                const char *loc = p ? icalproperty_get_location(p) : NULL;

                /* X-LIC-LOCATION, which libical and Evolution write. */
                for (p = c ? icalcomponent_get_first_property(c, ICAL_X_PROPERTY) : NULL;
                     !loc && p; p = icalcomponent_get_next_property(c, ICAL_X_PROPERTY))
                        if (streq_ptr(icalproperty_get_x_name(p), "X-LIC-LOCATION"))
                                loc = icalproperty_get_x(p);
                if (loc)
                        builtin = builtin_zone(loc);
        }
        z.conv = file ?: builtin;
        if (builtin) {
                snprintf(z.olson, sizeof(z.olson), "%s", icaltimezone_get_location(builtin));
        }
        return z;
}

/* A DATE or DATE-TIME property value: *ret is the date, or the UTC instant (is_date 0);
 * *ret_zone (optional) how its TZID resolved. false when there is no usable value. */
static bool read_time(icalcomponent *vcal, icalproperty *p, struct icaltimetype *ret,
                      Zone *ret_zone) {
        icalvalue *v = p ? icalproperty_get_value(p) : NULL;
        icalparameter *tzp;
        struct icaltimetype t;
        Zone z = {};

        if (!v)
                return false;
        if (icalvalue_isa(v) == ICAL_DATE_VALUE)
                t = icalvalue_get_date(v);
        else if (icalvalue_isa(v) == ICAL_DATETIME_VALUE)
                t = icalvalue_get_datetime(v);
        else
                return false;
        t = no_leap_second(t);
        if (icaltime_is_null_time(t) || !time_sane(&t))
                return false;
        if (t.is_date) {
                t.zone = NULL;
                *ret = t;
                if (ret_zone)
                        *ret_zone = z;
                return true;
        }
        tzp = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
        if (!icaltime_is_utc(t) && tzp) {
                z = resolve_tzid(vcal, icalparameter_get_tzid(tzp));
                t.zone = NULL;
                if (z.conv)
                        icaltimezone_convert_time(&t, z.conv, icaltimezone_get_utc_timezone());
        }
        t.zone = icaltimezone_get_utc_timezone();
        if (!time_sane(&t))
                return false;
        *ret = t;
        if (ret_zone)
                *ret_zone = z;
        return true;
}

/* t in the form of the event's start: a date for all-day events, else an instant. */
static void time_text(struct icaltimetype t, bool all_day, char buf[static 32]) {
        if (all_day)
                fmt_date(&t, buf);
        else {
                if (t.is_date) {
                        t.is_date = 0;
                        t.hour = t.minute = t.second = 0;
                }
                fmt_instant(&t, buf);
        }
}

/* ---- reading ------------------------------------------------------------------------------ */

static int protocol(char **ret_reason, const char *why) {
        if (ret_reason)
                *ret_reason = strdup(why);
        return IDS_E_PROTOCOL;
}

char *pim_cal_address(const char *v, bool *ret_oom) {
        _cleanup_free_ char *c = NULL;
        char *s;

        *ret_oom = false;
        if (isempty(v))
                return NULL;
        c = pim_text_clean(v, true);
        if (!c) {
                *ret_oom = true;
                return NULL;
        }
        s = c;
        while (*s == ' ')
                s++;
        if (strncasecmp(s, "mailto:", 7) == 0)
                s += 7;
        while (*s == ' ')
                s++;
        for (char *e = s + strlen(s); e > s && e[-1] == ' ';)
                *--e = 0;
        /* Another scheme (urn:uuid:…) is no address this sync can carry. */
        if (!*s || strchr(s, ':'))
                return NULL;
        for (char *q = s; *q; q++)
                if (*q >= 'A' && *q <= 'Z')
                        *q = (char) (*q - 'A' + 'a');
        s = strdup(s);
        if (!s)
                *ret_oom = true;
        return s;
}

static const char *param_cn(icalproperty *p) {
        icalparameter *cn = icalproperty_get_first_parameter(p, ICAL_CN_PARAMETER);

        return cn ? icalparameter_get_cn(cn) : NULL;
}

static int read_organizer(PimItem *it, icalcomponent *ev) {
        icalproperty *p = icalcomponent_get_first_property(ev, ICAL_ORGANIZER_PROPERTY);
        _cleanup_free_ char *email = NULL, *cn = NULL, *v = NULL;
        bool oom;

        if (!p)
                return 0;
        email = pim_cal_address(icalproperty_get_organizer(p), &oom);
        if (!email)
                return oom ? -ENOMEM : 0;
        cn = pim_name_clean(param_cn(p) ?: "");
        if (!cn)
                return -ENOMEM;
        /* Built by hand: pim_add_multi() drops a value whose components after the first are
         * empty, and an organizer without a name is still one. */
        if (asprintf(&v, "%s" PIM_SEP "%s", email, cn) < 0)
                return -ENOMEM;
        return add_checked(pim_add(it, "organizer", v));
}

static const char *role_word(icalproperty *p) {
        icalparameter *x = icalproperty_get_first_parameter(p, ICAL_ROLE_PARAMETER);

        switch (x ? icalparameter_get_role(x) : ICAL_ROLE_NONE) {
        case ICAL_ROLE_CHAIR: return "CHAIR";
        case ICAL_ROLE_OPTPARTICIPANT: return "OPT-PARTICIPANT";
        case ICAL_ROLE_NONPARTICIPANT: return "NON-PARTICIPANT";
        default: return "REQ-PARTICIPANT";      /* RFC 5545's default */
        }
}

static const char *partstat_word(icalproperty *p) {
        icalparameter *x = icalproperty_get_first_parameter(p, ICAL_PARTSTAT_PARAMETER);

        switch (x ? icalparameter_get_partstat(x) : ICAL_PARTSTAT_NONE) {
        case ICAL_PARTSTAT_ACCEPTED: return "ACCEPTED";
        case ICAL_PARTSTAT_DECLINED: return "DECLINED";
        case ICAL_PARTSTAT_TENTATIVE: return "TENTATIVE";
        case ICAL_PARTSTAT_DELEGATED: return "DELEGATED";
        case ICAL_PARTSTAT_COMPLETED: return "COMPLETED";
        case ICAL_PARTSTAT_INPROCESS: return "IN-PROCESS";
        default: return "NEEDS-ACTION";         /* RFC 5545's default */
        }
}

static int read_attendees(PimItem *it, icalcomponent *ev) {
        for (icalproperty *p = icalcomponent_get_first_property(ev, ICAL_ATTENDEE_PROPERTY); p;
             p = icalcomponent_get_next_property(ev, ICAL_ATTENDEE_PROPERTY)) {
                _cleanup_free_ char *email = NULL, *cn = NULL;
                icalparameter *rsvp = icalproperty_get_first_parameter(p, ICAL_RSVP_PARAMETER);
                const char *c[5];
                bool oom;
                int r;

                email = pim_cal_address(icalproperty_get_attendee(p), &oom);
                if (!email) {
                        if (oom)
                                return -ENOMEM;
                        continue;
                }
                cn = pim_name_clean(param_cn(p) ?: "");
                if (!cn)
                        return -ENOMEM;
                c[0] = email;
                c[1] = cn;
                c[2] = role_word(p);
                c[3] = partstat_word(p);
                c[4] = rsvp && icalparameter_get_rsvp(rsvp) == ICAL_RSVP_TRUE ? "1" : "";
                r = add_checked(pim_add_multi(it, "attendee", c, ELEMENTSOF(c)));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The event's times, for alarms relative to its end. */
typedef struct Span {
        bool set;
        struct icaltimetype start, end;
} Span;

static int read_alarms(PimItem *it, icalcomponent *ev, const Span *span) {
        unsigned n = 0;

        for (icalcomponent *a = icalcomponent_get_first_component(ev, ICAL_VALARM_COMPONENT);
             a && n < MAX_VALARMS;
             a = icalcomponent_get_next_component(ev, ICAL_VALARM_COMPONENT), n++) {
                icalproperty *ap = icalcomponent_get_first_property(a, ICAL_ACTION_PROPERTY);
                icalproperty *tp = icalcomponent_get_first_property(a, ICAL_TRIGGER_PROPERTY);
                _cleanup_free_ char *desc = NULL;
                struct icaltriggertype tr;
                const char *action, *c[3];
                char trig[32];
                int r;

                if (!ap || !tp || !icalproperty_get_value(tp))
                        continue;
                switch (icalproperty_get_action(ap)) {
                case ICAL_ACTION_DISPLAY: action = "display"; break;
                case ICAL_ACTION_AUDIO: action = "audio"; break;
                default: continue;
                }
                tr = icalproperty_get_trigger(tp);
                if (!icaltime_is_null_time(tr.time)) {
                        struct icaltimetype t = no_leap_second(tr.time);

                        /* An absolute trigger is UTC (RFC 5545); a floating one is read so. */
                        if (t.is_date || !time_sane(&t))
                                continue;
                        fmt_instant(&t, trig);
                } else {
                        icalparameter *rel = icalproperty_get_first_parameter(
                                tp, ICAL_RELATED_PARAMETER);
                        int64_t s;

                        if (icaldurationtype_is_bad_duration(tr.duration))
                                continue;
                        s = icaldurationtype_as_int(tr.duration);
                        if (s < -MAX_DURATION || s > MAX_DURATION)
                                continue;
                        if (rel && icalparameter_get_related(rel) == ICAL_RELATED_END) {
                                /* The contract counts from the start: add the length. */
                                if (!span->set)
                                        continue;
                                s += epoch_seconds(&span->end) - epoch_seconds(&span->start);
                                if (s < -MAX_DURATION || s > MAX_DURATION)
                                        continue;
                        }
                        snprintf(trig, sizeof(trig), "%" PRId64, s);
                }
                desc = pim_text_clean(prop_text(a, ICAL_DESCRIPTION_PROPERTY) ?: "", false);
                if (!desc)
                        return -ENOMEM;
                c[0] = action;
                c[1] = trig;
                c[2] = desc;
                r = add_checked(pim_add_multi(it, "alarm", c, ELEMENTSOF(c)));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* RRULE with UNTIL in UTC (a floating UNTIL, which Outlook writes, in the start's zone);
 * all-day events keep UNTIL's date only, as the writer gives it back. */
static int read_rrule(PimItem *it, icalproperty *p, const Zone *zone, bool all_day) {
        struct icalrecurrencetype r = icalproperty_get_rrule(p);
        _cleanup_free_ char *s = NULL;
        int k;

        if (!icaltime_is_null_time(r.until)) {
                struct icaltimetype u = no_leap_second(r.until);

                if (!time_sane(&u))
                        u = icaltime_null_time();
                else if (u.is_date && !all_day) {
                        /* A date UNTIL on a timed event: through the end of that day. */
                        u.is_date = 0;
                        u.hour = 23;
                        u.minute = 59;
                        u.second = 59;
                        u.zone = NULL;
                }
                if (!icaltime_is_null_time(u) && !u.is_date && !icaltime_is_utc(u) &&
                    zone->conv) {
                        u.zone = NULL;
                        icaltimezone_convert_time(&u, zone->conv,
                                                  icaltimezone_get_utc_timezone());
                        if (!time_sane(&u))
                                u = icaltime_null_time();
                }
                if (all_day && !icaltime_is_null_time(u))
                        u.is_date = 1;
                r.until = u;
        }
        k = pim_rrule_format(&r, &s);
        if (k == -EINVAL)
                return 0;
        if (k < 0)
                return k;
        return add_checked(pim_add(it, "rrule", s));
}

static int read_event(PimItem *it, icalcomponent *vcal, icalcomponent *ev) {
        static const struct { icalproperty_kind kind; const char *name; bool one_line; } texts[] = {
                { ICAL_SUMMARY_PROPERTY, "summary", false },
                { ICAL_DESCRIPTION_PROPERTY, "description", false },
                { ICAL_LOCATION_PROPERTY, "location", false },
                { ICAL_URL_PROPERTY, "url", true },
        };
        struct icaltimetype start, end;
        Zone zone = {};
        Span span = {};
        bool all_day = false;
        icalproperty *p;
        char buf[32];
        int r;

        for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                r = pim_add_text(it, texts[i].name, prop_text(ev, texts[i].kind), texts[i].one_line);
                if (r < 0)
                        return r;
        }
        p = icalcomponent_get_first_property(ev, ICAL_STATUS_PROPERTY);
        if (p && icalproperty_get_value(p)) {
                icalproperty_status s = icalproperty_get_status(p);
                const char *w = s == ICAL_STATUS_CONFIRMED ? "confirmed" :
                                s == ICAL_STATUS_TENTATIVE ? "tentative" :
                                s == ICAL_STATUS_CANCELLED ? "cancelled" : NULL;

                if (w && (r = add_checked(pim_add(it, "status", w))) < 0)
                        return r;
        }
        p = icalcomponent_get_first_property(ev, ICAL_CLASS_PROPERTY);
        if (p && icalproperty_get_value(p)) {
                icalproperty_class c = icalproperty_get_class(p);
                const char *w = c == ICAL_CLASS_PUBLIC ? "public" :
                                c == ICAL_CLASS_PRIVATE ? "private" :
                                c == ICAL_CLASS_CONFIDENTIAL ? "confidential" : NULL;

                if (w && (r = add_checked(pim_add(it, "class", w))) < 0)
                        return r;
        }

        if (read_time(vcal, icalcomponent_get_first_property(ev, ICAL_DTSTART_PROPERTY),
                      &start, &zone)) {
                all_day = start.is_date;
                p = icalcomponent_get_first_property(ev, ICAL_DTEND_PROPERTY);
                if (p && read_time(vcal, p, &end, NULL)) {
                        if (all_day && !end.is_date)
                                end.is_date = 1;        /* a DATE-TIME end of a DATE start */
                        else if (!all_day && end.is_date) {
                                end.is_date = 0;
                                end.hour = end.minute = end.second = 0;
                        }
                } else if ((p = icalcomponent_get_first_property(ev, ICAL_DURATION_PROPERTY)) &&
                           icalproperty_get_value(p) &&
                           !icaldurationtype_is_bad_duration(icalproperty_get_duration(p)) &&
                           llabs((long long) icaldurationtype_as_int(
                                   icalproperty_get_duration(p))) <= MAX_DURATION) {
                        end = icaltime_add(start, icalproperty_get_duration(p));
                        end.is_date = start.is_date;
                } else {
                        /* RFC 5545 3.6.1: a date lasts its day, a date-time no time. */
                        end = start;
                        if (all_day)
                                icaltime_adjust(&end, 1, 0, 0, 0);
                }
                if (all_day && icaltime_compare_date_only(end, start) <= 0) {
                        /* An all-day event lasts a day at least (as the records reader
                         * has it, so both sides read such a file the same). */
                        end = start;
                        icaltime_adjust(&end, 1, 0, 0, 0);
                }
                if (!time_sane(&end))
                        end = start;
                span = (Span) { true, start, end };
                if (all_day)
                        r = add_checked(pim_add(it, "all day", "1"));
                else if (zone.olson[0])
                        r = add_checked(pim_add(it, "timezone", zone.olson));
                else
                        r = 0;
                if (r < 0)
                        return r;
                time_text(start, all_day, buf);
                if ((r = add_checked(pim_add(it, "start", buf))) < 0)
                        return r;
                time_text(end, all_day, buf);
                if ((r = add_checked(pim_add(it, "end", buf))) < 0)
                        return r;
        }

        p = icalcomponent_get_first_property(ev, ICAL_RRULE_PROPERTY);
        if (p && icalproperty_get_value(p) && (r = read_rrule(it, p, &zone, all_day)) < 0)
                return r;
        for (p = icalcomponent_get_first_property(ev, ICAL_EXDATE_PROPERTY); p;
             p = icalcomponent_get_next_property(ev, ICAL_EXDATE_PROPERTY)) {
                struct icaltimetype t;

                if (!read_time(vcal, p, &t, NULL))
                        continue;
                time_text(t, all_day, buf);
                if ((r = add_checked(pim_add(it, "exdate", buf))) < 0)
                        return r;
        }
        if ((r = read_organizer(it, ev)) < 0 || (r = read_attendees(it, ev)) < 0 ||
            (r = read_alarms(it, ev, &span)) < 0)
                return r;
        return 0;
}

/* The calendar's title as X-WR-CALNAME (Apple, Google and our writer put it there). */
static int read_calname(PimItem *it, icalcomponent *vcal) {
        for (icalproperty *p = icalcomponent_get_first_property(vcal, ICAL_X_PROPERTY); p;
             p = icalcomponent_get_next_property(vcal, ICAL_X_PROPERTY))
                if (streq_ptr(icalproperty_get_x_name(p), "X-WR-CALNAME"))
                        return pim_add_text(it, "calendar", icalproperty_get_x(p), true);
        return 0;
}

static icalcomponent *find_vcalendar(icalcomponent *root) {
        if (icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT)
                return root;
        if (icalcomponent_isa(root) == ICAL_XROOT_COMPONENT)
                return icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT);
        return NULL;
}

int pim_ical_parse(const char *text, size_t len, PimItem **ret, char **ret_reason) {
        _cleanup_(icalcomponent_freep) icalcomponent *root = NULL;
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        _cleanup_free_ char *buf = NULL;
        icalcomponent *vcal, *ev;
        const char *uid;
        int r;

        if (!text || !ret)
                return -EINVAL;
        if (ret_reason)
                *ret_reason = NULL;
        if (len > PIM_MAX_VALUE)
                return protocol(ret_reason, "iCalendar text too large");
        buf = strndup(text, len);
        if (!buf)
                return -ENOMEM;

        icalerror_set_errors_are_fatal(0);
        root = icalparser_parse_string(buf);
        if (!root)
                return protocol(ret_reason, "not iCalendar text");
        vcal = find_vcalendar(root);
        if (!vcal)
                return protocol(ret_reason, "no VCALENDAR");
        /* The master: the first VEVENT that does not override one occurrence. */
        for (ev = icalcomponent_get_first_component(vcal, ICAL_VEVENT_COMPONENT); ev;
             ev = icalcomponent_get_next_component(vcal, ICAL_VEVENT_COMPONENT))
                if (!icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY))
                        break;
        if (!ev)
                return protocol(ret_reason, "no VEVENT (other than overrides)");

        it = pim_item_new(PIM_EVENT);
        if (!it)
                return -ENOMEM;
        r = read_calname(it, vcal);
        if (r < 0)
                return r;
        r = read_event(it, vcal, ev);
        if (r < 0)
                return r;
        uid = prop_text(ev, ICAL_UID_PROPERTY);
        if (!isempty(uid)) {
                _cleanup_free_ char *c = pim_text_clean(uid, true);
                size_t n;

                if (!c)
                        return -ENOMEM;
                n = strlen(c);
                while (n > 0 && c[n - 1] == ' ')
                        c[--n] = 0;
                if (n > 0)
                        it->uid = TAKE_PTR(c);
        }
        pim_normalize(it);
        *ret = TAKE_PTR(it);
        return 0;
}

/* ---- writing ------------------------------------------------------------------------------ */

/* A contract time ("YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ") as libical's; false if neither. */
static bool parse_contract_time(const char *s, struct icaltimetype *ret) {
        struct icaltimetype t = icaltime_null_time();
        int n = 0;

        if (!s)
                return false;
        if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &t.year, &t.month, &t.day, &n) == 3 &&
            n == 10)
                t.is_date = 1;
        else if (strlen(s) == 20 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &t.year, &t.month,
                                           &t.day, &t.hour, &t.minute, &t.second, &n) == 6 &&
                 n == 20)
                t.zone = icaltimezone_get_utc_timezone();
        else
                return false;
        if (!time_sane(&t))
                return false;
        *ret = t;
        return true;
}

/* A DTSTART-like property of a contract time: dates as VALUE=DATE, instants in zone (with
 * TZID) or in UTC. NULL when s is not a contract time. */
static icalproperty *time_prop(icalproperty *(*make)(struct icaltimetype), const char *s,
                               icaltimezone *zone) {
        struct icaltimetype t;
        icalproperty *p;

        if (!parse_contract_time(s, &t))
                return NULL;
        if (!t.is_date && zone)
                t = icaltime_convert_to_zone(t, zone);
        p = make(t);
        if (p && !t.is_date && zone)
                icalproperty_add_parameter(p, icalparameter_new_tzid(
                                                   icaltimezone_get_location(zone)));
        return p;
}

static void add_prop(icalcomponent *c, icalproperty *p) {
        if (p)
                icalcomponent_add_property(c, p);
}

static icalproperty *address_prop(icalproperty *(*make)(const char *), const char *email,
                                  const char *cn) {
        _cleanup_free_ char *uri = NULL;
        icalproperty *p;

        if (isempty(email) || asprintf(&uri, "mailto:%s", email) < 0)
                return NULL;
        p = make(uri);
        if (p && !isempty(cn)) {
                _cleanup_free_ char *clean = pim_name_clean(cn), *enc = NULL;
                size_t k = 0;

                if (clean)
                        enc = malloc(2 * strlen(clean) + 1);
                if (!enc) {
                        icalproperty_free(p);
                        return NULL;
                }
                /* libical 3.0 writes '"' and LF of a parameter as RFC 6868's ^' and ^n but
                 * leaves '^' alone, while its parser reads ^^ as '^': double each '^' here
                 * so "a^^b" or a literal "^n" come back as they were. */
                for (const char *c = clean; *c; c++) {
                        if (*c == '^')
                                enc[k++] = '^';
                        enc[k++] = *c;
                }
                enc[k] = 0;
                if (enc[0])
                        icalproperty_add_parameter(p, icalparameter_new_cn(enc));
        }
        return p;
}

static void write_attendee(icalcomponent *ev, const char *value) {
        static const struct { const char *w; icalparameter_role v; } roles[] = {
                { "CHAIR", ICAL_ROLE_CHAIR }, { "REQ-PARTICIPANT", ICAL_ROLE_REQPARTICIPANT },
                { "OPT-PARTICIPANT", ICAL_ROLE_OPTPARTICIPANT },
                { "NON-PARTICIPANT", ICAL_ROLE_NONPARTICIPANT },
        };
        static const struct { const char *w; icalparameter_partstat v; } stats[] = {
                { "NEEDS-ACTION", ICAL_PARTSTAT_NEEDSACTION },
                { "ACCEPTED", ICAL_PARTSTAT_ACCEPTED },
                { "DECLINED", ICAL_PARTSTAT_DECLINED }, { "TENTATIVE", ICAL_PARTSTAT_TENTATIVE },
                { "DELEGATED", ICAL_PARTSTAT_DELEGATED }, { "COMPLETED", ICAL_PARTSTAT_COMPLETED },
                { "IN-PROCESS", ICAL_PARTSTAT_INPROCESS },
        };
        _cleanup_free_ char *buf = NULL;
        const char *c[5] = {};
        size_t n = 0;
        icalproperty *p;

        if (pim_split(value, &buf, c, ELEMENTSOF(c), &n) < 0)
                return;
        p = address_prop(icalproperty_new_attendee, c[0], n > 1 ? c[1] : NULL);
        if (!p)
                return;
        for (size_t i = 0; n > 2 && i < ELEMENTSOF(roles); i++)
                if (strcmp(c[2], roles[i].w) == 0)
                        icalproperty_add_parameter(p, icalparameter_new_role(roles[i].v));
        for (size_t i = 0; n > 3 && i < ELEMENTSOF(stats); i++)
                if (strcmp(c[3], stats[i].w) == 0)
                        icalproperty_add_parameter(p, icalparameter_new_partstat(stats[i].v));
        if (n > 4 && strcmp(c[4], "1") == 0)
                icalproperty_add_parameter(p, icalparameter_new_rsvp(ICAL_RSVP_TRUE));
        icalcomponent_add_property(ev, p);
}

static void write_alarm(icalcomponent *ev, const char *value) {
        _cleanup_free_ char *buf = NULL;
        const char *c[3] = {};
        struct icaltriggertype tr = { .time = icaltime_null_time() };
        struct icaltimetype at;
        icalcomponent *a;
        icalproperty *tp;
        size_t n = 0;
        char *end;
        long long s;

        if (pim_split(value, &buf, c, ELEMENTSOF(c), &n) < 0 || n < 2)
                return;
        if (strcmp(c[0], "display") != 0 && strcmp(c[0], "audio") != 0)
                return;
        if (parse_contract_time(c[1], &at) && !at.is_date) {
                tr.time = at;
                tr.duration = icaldurationtype_null_duration();
        } else {
                errno = 0;
                s = strtoll(c[1], &end, 10);
                if (errno != 0 || end == c[1] || *end || s < -MAX_DURATION || s > MAX_DURATION)
                        return;
                tr.duration = icaldurationtype_from_int((int) s);
        }
        tp = icalproperty_new_trigger(tr);
        if (!tp)
                return;
        a = icalcomponent_new_valarm();
        if (!a) {
                icalproperty_free(tp);
                return;
        }
        icalcomponent_add_property(a, icalproperty_new_action(c[0][0] == 'd' ?
                                                              ICAL_ACTION_DISPLAY :
                                                              ICAL_ACTION_AUDIO));
        icalcomponent_add_property(a, tp);
        /* An empty DESCRIPTION is a parse error to libical: none is written instead. */
        if (n > 2 && !isempty(c[2]))
                add_prop(a, icalproperty_new_description(c[2]));
        icalcomponent_add_component(ev, a);
}

static void write_rrule(icalcomponent *ev, const char *value, bool all_day) {
        struct icalrecurrencetype r;

        if (pim_rrule_parse(value, &r) < 0)
                return;
        if (!icaltime_is_null_time(r.until)) {
                /* UNTIL takes DTSTART's type: a date for all-day events, else UTC. */
                if (all_day) {
                        r.until.is_date = 1;
                        r.until.zone = NULL;
                } else if (!r.until.is_date)
                        r.until.zone = icaltimezone_get_utc_timezone();
        }
        add_prop(ev, icalproperty_new_rrule(r));
}

static icalcomponent *build_event(PimItem *it, icaltimezone *zone, bool all_day) {
        _cleanup_(icalcomponent_freep) icalcomponent *ev = icalcomponent_new_vevent();
        const char *start = pim_get(it, "start"), *v;
        struct icaltimetype stamp;

        if (!ev)
                return NULL;
        if (it->uid)
                add_prop(ev, icalproperty_new_uid(it->uid));
        if (!parse_contract_time(start, &stamp))
                stamp = icaltime_from_timet_with_zone(0, 0, NULL);
        stamp.is_date = 0;
        stamp.zone = icaltimezone_get_utc_timezone();
        add_prop(ev, icalproperty_new_dtstamp(stamp));
        add_prop(ev, time_prop(icalproperty_new_dtstart, start, zone));
        add_prop(ev, time_prop(icalproperty_new_dtend, pim_get(it, "end"), zone));
        if ((v = pim_get(it, "summary")))
                add_prop(ev, icalproperty_new_summary(v));
        if ((v = pim_get(it, "description")))
                add_prop(ev, icalproperty_new_description(v));
        if ((v = pim_get(it, "location")))
                add_prop(ev, icalproperty_new_location(v));
        if ((v = pim_get(it, "url")))
                add_prop(ev, icalproperty_new_url(v));
        if ((v = pim_get(it, "status"))) {
                icalproperty_status s = strcmp(v, "confirmed") == 0 ? ICAL_STATUS_CONFIRMED :
                                        strcmp(v, "tentative") == 0 ? ICAL_STATUS_TENTATIVE :
                                        strcmp(v, "cancelled") == 0 ? ICAL_STATUS_CANCELLED :
                                        ICAL_STATUS_NONE;

                if (s != ICAL_STATUS_NONE)
                        add_prop(ev, icalproperty_new_status(s));
        }
        if ((v = pim_get(it, "class"))) {
                icalproperty_class c = strcmp(v, "public") == 0 ? ICAL_CLASS_PUBLIC :
                                       strcmp(v, "private") == 0 ? ICAL_CLASS_PRIVATE :
                                       strcmp(v, "confidential") == 0 ? ICAL_CLASS_CONFIDENTIAL :
                                       ICAL_CLASS_NONE;

                if (c != ICAL_CLASS_NONE)
                        add_prop(ev, icalproperty_new_class(c));
        }
        if ((v = pim_get(it, "rrule")))
                write_rrule(ev, v, all_day);
        if ((v = pim_get(it, "organizer"))) {
                _cleanup_free_ char *buf = NULL;
                const char *c[2] = {};
                size_t n = 0;

                if (pim_split(v, &buf, c, ELEMENTSOF(c), &n) >= 0)
                        add_prop(ev, address_prop(icalproperty_new_organizer, c[0],
                                                  n > 1 ? c[1] : NULL));
        }
        for (size_t i = 0; i < it->n_fields; i++) {
                const char *name = it->fields[i].name, *value = it->fields[i].value;

                if (strcmp(name, "exdate") == 0)
                        add_prop(ev, time_prop(icalproperty_new_exdate, value, zone));
                else if (strcmp(name, "attendee") == 0)
                        write_attendee(ev, value);
                else if (strcmp(name, "alarm") == 0)
                        write_alarm(ev, value);
        }
        return TAKE_PTR(ev);
}

/* The earliest instant of start and exdates (the times written in the zone), in UTC. */
static bool earliest_time(PimItem *it, struct icaltimetype *ret) {
        bool found = false;

        for (size_t i = 0; i < it->n_fields; i++) {
                struct icaltimetype t;

                if ((strcmp(it->fields[i].name, "start") != 0 &&
                     strcmp(it->fields[i].name, "end") != 0 &&
                     strcmp(it->fields[i].name, "exdate") != 0) ||
                    !parse_contract_time(it->fields[i].value, &t) || t.is_date)
                        continue;
                if (!found || icaltime_compare(t, *ret) < 0)
                        *ret = t;
                found = true;
        }
        return found;
}

int pim_ical_write(PimItem *it, char **ret, size_t *ret_len) {
        _cleanup_(icalcomponent_freep) icalcomponent *vcal = NULL;
        struct icaltimetype first;
        icalcomponent *ev;
        icaltimezone *zone = NULL;
        const char *cal;
        bool all_day;
        char *text;

        if (!it || it->kind != PIM_EVENT || !ret)
                return -EINVAL;
        pim_normalize(it);
        icalerror_set_errors_are_fatal(0);
        all_day = streq_ptr(pim_get(it, "all day"), "1");
        if (!all_day)
                zone = builtin_zone(pim_get(it, "timezone"));

        vcal = icalcomponent_new_vcalendar();
        if (!vcal)
                return -ENOMEM;
        add_prop(vcal, icalproperty_new_version("2.0"));
        add_prop(vcal, icalproperty_new_prodid("-//idevicesync//EN"));
        cal = pim_get(it, "calendar");
        if (cal) {
                icalproperty *p = icalproperty_new_x(cal);

                if (p) {
                        icalproperty_set_x_name(p, "X-WR-CALNAME");
                        icalcomponent_add_property(vcal, p);
                }
        }
        if (zone) {
                icalcomponent *tz = icalcomponent_new_clone(icaltimezone_get_component(zone));
                icalproperty *p;

                if (!tz)
                        return -ENOMEM;
                /* The plain Olson name as TZID (libical prefixes its own), so every reader
                 * finds the zone by name as well as by this definition. */
                p = icalcomponent_get_first_property(tz, ICAL_TZID_PROPERTY);
                if (p)
                        icalproperty_set_tzid(p, icaltimezone_get_location(zone));
                /* The zone's history before the event says nothing about it (Europe/Paris
                 * goes back to 1891: 5 kB): keep the rules from January 1st of the year
                 * before its first time (a local time hours off UTC is never before that,
                 * and events of one year share the definition: zone_kept()).
                 * Not for times past 2037, the last year of explicit rules: libical's cut
                 * of a zone there converts some times centuries on an hour off. */
                if (earliest_time(it, &first) && first.year <= 2037) {
                        struct icaltimetype from = icaltime_null_time();

                        from.year = first.year - 1;
                        from.month = from.day = 1;
                        icaltimezone_truncate_vtimezone(tz, from, icaltime_null_time(), 0);
                }
                icalcomponent_add_component(vcal, tz);
        }
        ev = build_event(it, zone, all_day);
        if (!ev)
                return -ENOMEM;
        icalcomponent_add_component(vcal, ev);

        text = icalcomponent_as_ical_string_r(vcal);
        if (!text)
                return -ENOMEM;
        *ret = text;
        if (ret_len)
                *ret_len = strlen(text);
        return 0;
}
