/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync records ↔ event (pim.h's contract), data class com.apple.Calendars
 * (sync-protocols.md §5): the main com.apple.calendars.Event record carries the scalars,
 * its "calendar" link names a Calendar record, and the RRULE, the people and the alarms
 * are child records linking back through "owner" = [event id].
 *
 * Forms chosen (the first three decided by this project; the emulator does the same):
 *  - "start date"/"end date" are plist dates (seconds since 2001-01-01 UTC). An all-day
 *    event's are midnight UTC of its first day and of the day after its last; read
 *    robustly, every all-day date (start, end, exception dates, until) is rounded to the
 *    nearest midnight UTC: an end stored as the last second of the last day, or a local
 *    midnight of a zone up to 12 hours off UTC, reads the same. The end is at least one
 *    day after the start.
 *  - "timezone" is an Olson name; "UTC", "GMT", iOS's "_float" and names libical does not
 *    know give no "timezone" (the iCalendar writer could not give them a VTIMEZONE).
 *  - A Recurrence's "bydaydays" are weekday numbers 1 = Sunday … 7 = Saturday (inferred:
 *    iOS's EKWeekday and the Calendar database number them so, as libical does) and
 *    "bydayfreq" the parallel ordinals (0: every such weekday; -1: the last); a missing
 *    ordinal is 0. "weekstartday" uses the same numbers.
 *  - Integers may come as unsigned 64-bit two's complements of negative numbers
 *    ("triggerduration" -900): every integer is read as signed.
 *  - Addresses are written as "mailto:<email>", as iOS keeps them; read with or without.
 *  - Status and classification are the contract's lower-case words on the device too
 *    [inferred: no source shows the device's values]; other values are dropped.
 * Text goes through pim_text_clean() and the RRULE through pim_rrule_format(), the same
 * functions the iCalendar reader uses, so an event reads the same from either side.
 * What cannot be carried is dropped: an RRULE with FREQ=HOURLY or finer, or BYHOUR,
 * BYMINUTE, BYSECOND (a Recurrence has no such keys), dates outside the plist date range
 * (1933–2069). Hostile records never fail the item: a value of the wrong type is no value.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <plist/plist.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim-ical.h"
#include "pim-records-internal.h"
#include "pim.h"
#include "plist-util.h"

#define ENTITY_KEY "com.apple.syncservices.RecordEntityName"
#define E_EVENT "com.apple.calendars.Event"
#define E_RECURRENCE "com.apple.calendars.Recurrence"
#define E_ATTENDEE "com.apple.calendars.Attendee"
#define E_ORGANIZER "com.apple.calendars.Organizer"
#define E_DISPLAY_ALARM "com.apple.calendars.DisplayAlarm"
#define E_AUDIO_ALARM "com.apple.calendars.AudioAlarm"

#define MAC_EPOCH INT64_C(978307200)    /* 2001-01-01T00:00:00Z in Unix time */
#define DAY INT64_C(86400)
#define MAX_TRIGGER (10 * 366 * 86400)  /* an alarm more than ten years away is garbage */
#define MAX_LIST 400                    /* entries of one BY… array */

static const char *const roles[] = {
        "CHAIR", "REQ-PARTICIPANT", "OPT-PARTICIPANT", "NON-PARTICIPANT", NULL,
};
static const char *const partstats[] = {
        "NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED", "COMPLETED",
        "IN-PROCESS", NULL,
};
static const char *const statuses[] = { "confirmed", "tentative", "cancelled", NULL };
static const char *const classes[] = { "public", "private", "confidential", NULL };

/* The entry of words that s is (case folded), or NULL. */
static const char *word(const char *const *words, const char *s) {
        if (!s)
                return NULL;
        for (; *words; words++)
                if (strcasecmp(*words, s) == 0)
                        return *words;
        return NULL;
}

/* ---- reading plist values ----------------------------------------------------------------- */

static plist_t item(plist_t d, const char *key) {
        return d && plist_get_node_type(d) == PLIST_DICT ? plist_dict_get_item(d, key) : NULL;
}

/* A string value (NULL for another type, or ""). Borrowed. */
static const char *get_str(plist_t d, const char *key) {
        plist_t n = item(d, key);
        const char *s;

        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        s = plist_get_string_ptr(n, NULL);
        return isempty(s) ? NULL : s;
}

static const char *entity_of(plist_t rec) {
        return get_str(rec, ENTITY_KEY);
}

/* An integer node, read as signed (see the top of the file). */
static bool node_int(plist_t n, int64_t *ret) {
        uint64_t v = 0;

        if (!n || plist_get_node_type(n) != PLIST_UINT)
                return false;
        plist_get_uint_val(n, &v);
        *ret = (int64_t) v;
        return true;
}

static bool get_int(plist_t d, const char *key, int64_t *ret) {
        return node_int(item(d, key), ret);
}

/* A date node as Unix seconds (rounded down). */
static bool node_date(plist_t n, int64_t *ret) {
        int32_t sec = 0, usec = 0;

        if (!n || plist_get_node_type(n) != PLIST_DATE)
                return false;
        plist_get_date_val(n, &sec, &usec);
        *ret = (int64_t) sec + MAC_EPOCH - (usec < 0);
        return true;
}

static bool get_date(plist_t d, const char *key, int64_t *ret) {
        return node_date(item(d, key), ret);
}

/* 1 true, 0 false, -1 absent or not a boolean. */
static int get_bool(plist_t d, const char *key) {
        plist_t n = item(d, key);
        uint8_t v = 0;

        if (!n || plist_get_node_type(n) != PLIST_BOOLEAN)
                return -1;
        plist_get_bool_val(n, &v);
        return v ? 1 : 0;
}

/* ---- times -------------------------------------------------------------------------------- */

static int64_t floor_day(int64_t t) {
        return t >= 0 ? t / DAY * DAY : -((-t + DAY - 1) / DAY) * DAY;
}

/* The midnight UTC nearest to t (the day an all-day date means). */
static int64_t round_day(int64_t t) {
        return floor_day(t + DAY / 2);
}

static void fmt_time(int64_t t, bool date, char buf[static 64]) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm)) {
                buf[0] = 0;
                return;
        }
        if (date)
                snprintf(buf, 64, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        else
                snprintf(buf, 64, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* A contract time as Unix seconds (a date: its midnight UTC); false if it is neither form
 * or is outside what a plist date holds. */
static bool parse_time(const char *s, int64_t *ret, bool *ret_date) {
        struct tm tm = {}, chk;
        int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
        bool date;
        time_t t;

        if (!s)
                return false;
        if (strlen(s) == 10 && sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 && n == 10)
                date = true;
        else if (strlen(s) == 20 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi,
                                           &sec, &n) == 6 && n == 20)
                date = false;
        else
                return false;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        t = timegm(&tm);
        /* timegm() normalizes 30 February into March: refuse what moved. */
        if (!gmtime_r(&t, &chk) || chk.tm_year != y - 1900 || chk.tm_mon != mo - 1 ||
            chk.tm_mday != d || chk.tm_hour != h || chk.tm_min != mi || chk.tm_sec != sec)
                return false;
        if ((int64_t) t - MAC_EPOCH < INT32_MIN || (int64_t) t - MAC_EPOCH > INT32_MAX)
                return false;
        *ret = (int64_t) t;
        if (ret_date)
                *ret_date = date;
        return true;
}

/* Unix seconds in the plist date range (so what is read can be written back). */
static bool in_range(int64_t t) {
        return t - MAC_EPOCH >= INT32_MIN && t - MAC_EPOCH <= INT32_MAX;
}

/* ---- records → item ----------------------------------------------------------------------- */

static int protocol(char **ret_reason, const char *why) {
        if (ret_reason)
                *ret_reason = strdup(why);
        return IDS_E_PROTOCOL;
}

/* Large values are dropped one by one, not refused: the rest of the event stays. */
static int add_checked(int r) {
        return r == -E2BIG ? 0 : r;
}

static int read_times(PimItem *it, plist_t ev) {
        bool all_day = get_bool(ev, "all day") == 1;
        int64_t start, end;
        char buf[64];
        int r;

        if (!get_date(ev, "start date", &start))
                return 0;
        if (all_day) {
                start = round_day(start);
                if (get_date(ev, "end date", &end))
                        end = round_day(end);
                else
                        end = start + DAY;
                if (end <= start)
                        end = start + DAY;
                if (!in_range(end))
                        end = start;
                if (!in_range(start))
                        return 0;
        } else if (!get_date(ev, "end date", &end))
                end = start;

        if (all_day)
                r = add_checked(pim_add(it, "all day", "1"));
        else {
                const char *tz = get_str(ev, "timezone");

                r = tz && pim_tz_known(tz) ? add_checked(pim_add(it, "timezone", tz)) : 0;
        }
        if (r < 0)
                return r;
        fmt_time(start, all_day, buf);
        if ((r = add_checked(pim_add(it, "start", buf))) < 0)
                return r;
        fmt_time(end, all_day, buf);
        if ((r = add_checked(pim_add(it, "end", buf))) < 0)
                return r;

        {
                plist_t a = item(ev, "exception dates");
                uint32_t n = a && plist_get_node_type(a) == PLIST_ARRAY ?
                             plist_array_get_size(a) : 0;

                for (uint32_t i = 0; i < n; i++) {
                        int64_t t;

                        if (!node_date(plist_array_get_item(a, i), &t))
                                continue;
                        if (all_day)
                                t = round_day(t);
                        if (!in_range(t))
                                continue;
                        fmt_time(t, all_day, buf);
                        if ((r = add_checked(pim_add(it, "exdate", buf))) < 0)
                                return r;
                }
        }
        return 0;
}

/* The integers of array key into a libical BY list (terminated as libical wants). */
static void read_list(plist_t rec, const char *key, short *list, size_t size) {
        plist_t a = item(rec, key);
        uint32_t n = a && plist_get_node_type(a) == PLIST_ARRAY ? plist_array_get_size(a) : 0;
        size_t k = 0;

        for (uint32_t i = 0; i < n && i < MAX_LIST && k + 1 < size; i++) {
                int64_t v;

                /* Out-of-range values are left out by pim_rrule_format(). */
                if (node_int(plist_array_get_item(a, i), &v) && v >= -1000 && v <= 1000)
                        list[k++] = (short) v;
        }
}

static int read_recurrence(PimItem *it, plist_t rec, bool all_day) {
        static const struct { const char *w; icalrecurrencetype_frequency f; } freqs[] = {
                { "daily", ICAL_DAILY_RECURRENCE }, { "weekly", ICAL_WEEKLY_RECURRENCE },
                { "monthly", ICAL_MONTHLY_RECURRENCE }, { "yearly", ICAL_YEARLY_RECURRENCE },
        };
        const char *freq = get_str(rec, "frequency");
        _cleanup_free_ char *s = NULL;
        struct icalrecurrencetype r;
        plist_t days, ords;
        int64_t v;
        int k;

        icalrecurrencetype_clear(&r);
        for (size_t i = 0; freq && i < ELEMENTSOF(freqs); i++)
                if (strcasecmp(freq, freqs[i].w) == 0)
                        r.freq = freqs[i].f;
        if (r.freq == ICAL_NO_RECURRENCE)
                return 0;
        if (get_int(rec, "interval", &v) && v >= 1 && v <= 1000)
                r.interval = (short) v;
        if (get_int(rec, "count", &v) && v >= 1 && v <= 100000)
                r.count = (int) v;
        if (get_date(rec, "until", &v) && in_range(v)) {
                time_t t = (time_t) (all_day ? round_day(v) : v);
                struct tm tm;

                if (gmtime_r(&t, &tm)) {
                        r.until = icaltime_null_time();
                        r.until.year = tm.tm_year + 1900;
                        r.until.month = tm.tm_mon + 1;
                        r.until.day = tm.tm_mday;
                        r.until.hour = tm.tm_hour;
                        r.until.minute = tm.tm_min;
                        r.until.second = tm.tm_sec;
                        r.until.is_date = all_day;
                        r.until.zone = all_day ? NULL : icaltimezone_get_utc_timezone();
                }
        }
        read_list(rec, "bymonth", r.by_month, ICAL_BY_MONTH_SIZE);
        read_list(rec, "bymonthday", r.by_month_day, ICAL_BY_MONTHDAY_SIZE);
        read_list(rec, "byyearday", r.by_year_day, ICAL_BY_YEARDAY_SIZE);
        read_list(rec, "byweeknumber", r.by_week_no, ICAL_BY_WEEKNO_SIZE);
        read_list(rec, "bysetpos", r.by_set_pos, ICAL_BY_SETPOS_SIZE);

        days = item(rec, "bydaydays");
        ords = item(rec, "bydayfreq");
        if (days && plist_get_node_type(days) == PLIST_ARRAY) {
                uint32_t n = plist_array_get_size(days), k2 = 0;
                uint32_t no = ords && plist_get_node_type(ords) == PLIST_ARRAY ?
                              plist_array_get_size(ords) : 0;

                for (uint32_t i = 0; i < n && i < MAX_LIST && k2 + 1 < ICAL_BY_DAY_SIZE; i++) {
                        int64_t dow, pos = 0;

                        if (!node_int(plist_array_get_item(days, i), &dow) || dow < 1 || dow > 7)
                                continue;
                        if (i < no && !node_int(plist_array_get_item(ords, i), &pos))
                                pos = 0;
                        if (pos < -53 || pos > 53)
                                continue;
                        /* libical's encoding: sign(pos) * (|pos| * 8 + weekday). */
                        r.by_day[k2++] = (short) ((pos < 0 ? -1 : 1) *
                                                  ((pos < 0 ? -pos : pos) * 8 + dow));
                }
        }
        if (get_int(rec, "weekstartday", &v) && v >= 1 && v <= 7)
                r.week_start = (icalrecurrencetype_weekday) v;

        k = pim_rrule_format(&r, &s);
        if (k == -EINVAL)
                return 0;
        if (k < 0)
                return k;
        return add_checked(pim_add(it, "rrule", s));
}

static int read_person(PimItem *it, plist_t rec, bool organizer) {
        _cleanup_free_ char *email = NULL, *cn = NULL, *v = NULL;
        const char *c[5];
        bool oom;

        email = pim_cal_address(get_str(rec, "email"), &oom);
        if (!email)
                return oom ? -ENOMEM : 0;
        cn = pim_name_clean(get_str(rec, "common name") ?: "");
        if (!cn)
                return -ENOMEM;
        if (organizer) {
                /* By hand, as the iCalendar reader does: a name-less organizer is one too. */
                if (asprintf(&v, "%s" PIM_SEP "%s", email, cn) < 0)
                        return -ENOMEM;
                return add_checked(pim_add(it, "organizer", v));
        }
        c[0] = email;
        c[1] = cn;
        c[2] = word(roles, get_str(rec, "role")) ?: "REQ-PARTICIPANT";
        c[3] = word(partstats, get_str(rec, "status")) ?: "NEEDS-ACTION";
        c[4] = get_bool(rec, "rsvp") == 1 ? "1" : "";
        return add_checked(pim_add_multi(it, "attendee", c, ELEMENTSOF(c)));
}

static int read_alarm(PimItem *it, plist_t rec, const char *action) {
        _cleanup_free_ char *desc = NULL;
        const char *c[3];
        char trig[64];
        int64_t v;

        if (get_int(rec, "triggerduration", &v)) {
                if (v < -MAX_TRIGGER || v > MAX_TRIGGER)
                        return 0;
                snprintf(trig, sizeof(trig), "%" PRId64, v);
        } else if (get_date(rec, "triggerdate", &v) && in_range(v))
                fmt_time(v, false, trig);
        else
                return 0;
        desc = pim_text_clean(get_str(rec, "description") ?: "", false);
        if (!desc)
                return -ENOMEM;
        c[0] = action;
        c[1] = trig;
        c[2] = desc;
        return add_checked(pim_add_multi(it, "alarm", c, ELEMENTSOF(c)));
}

int pim_event_from_records(const PimRecords *r, const char *calendar_title, PimItem **ret,
                           char **ret_reason) {
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        static const struct { const char *key, *name; bool one_line; } texts[] = {
                { "summary", "summary", false }, { "description", "description", false },
                { "location", "location", false }, { "url", "url", true },
        };
        bool all_day, have_rrule = false, have_organizer = false;
        const char *w;
        int k;

        if (!r || !ret)
                return -EINVAL;
        if (ret_reason)
                *ret_reason = NULL;
        if (!r->main || plist_get_node_type(r->main) != PLIST_DICT ||
            !streq_ptr(entity_of(r->main), E_EVENT))
                return protocol(ret_reason, "the main record is not a " E_EVENT " dict");

        it = pim_item_new(PIM_EVENT);
        if (!it)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(texts); i++)
                if ((k = pim_add_text(it, texts[i].name, get_str(r->main, texts[i].key),
                                  texts[i].one_line)) < 0)
                        return k;
        if ((w = word(statuses, get_str(r->main, "status"))) &&
            (k = add_checked(pim_add(it, "status", w))) < 0)
                return k;
        if ((w = word(classes, get_str(r->main, "classification"))) &&
            (k = add_checked(pim_add(it, "class", w))) < 0)
                return k;
        if ((k = pim_add_text(it, "calendar", calendar_title, true)) < 0)
                return k;
        if ((k = read_times(it, r->main)) < 0)
                return k;
        all_day = streq_ptr(pim_get(it, "all day"), "1");

        for (size_t i = 0; r->children && i < r->n_children; i++) {
                plist_t c = r->children[i];
                const char *e = entity_of(c);

                if (!e)
                        continue;
                if (strcmp(e, E_RECURRENCE) == 0 && !have_rrule) {
                        /* The contract has one RRULE: the first that reads is it. */
                        if ((k = read_recurrence(it, c, all_day)) < 0)
                                return k;
                        have_rrule = pim_get(it, "rrule") != NULL;
                } else if (strcmp(e, E_ATTENDEE) == 0) {
                        if ((k = read_person(it, c, false)) < 0)
                                return k;
                } else if (strcmp(e, E_ORGANIZER) == 0 && !have_organizer) {
                        if ((k = read_person(it, c, true)) < 0)
                                return k;
                        have_organizer = pim_get(it, "organizer") != NULL;
                } else if (strcmp(e, E_DISPLAY_ALARM) == 0 || strcmp(e, E_AUDIO_ALARM) == 0) {
                        k = read_alarm(it, c, strcmp(e, E_DISPLAY_ALARM) == 0 ? "display" :
                                       "audio");
                        if (k < 0)
                                return k;
                }
        }
        pim_normalize(it);
        *ret = TAKE_PTR(it);
        return 0;
}

/* ---- item → records ----------------------------------------------------------------------- */

static plist_t record_new(const char *entity) {
        plist_t d = plist_new_dict();

        if (d)
                plist_dict_set_item(d, ENTITY_KEY, plist_new_string(entity));
        return d;
}

static void set_link(plist_t d, const char *key, const char *id) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(id));
        plist_dict_set_item(d, key, a);
}

static void set_str(plist_t d, const char *key, const char *v) {
        if (!isempty(v))
                plist_dict_set_item(d, key, plist_new_string(v));
}

static plist_t date_new(int64_t t) {
        return plist_new_date((int32_t) (t - MAC_EPOCH), 0);
}

static void set_date(plist_t d, const char *key, const char *contract_time) {
        int64_t t;

        if (parse_time(contract_time, &t, NULL))
                plist_dict_set_item(d, key, date_new(t));
}

/* A signed integer as the device stores one (negatives as two's complement). */
static plist_t int_new(int64_t v) {
        return plist_new_uint((uint64_t) v);
}

int pim_event_main_record(PimItem *it, const char *calendar_id, plist_t *ret) {
        _cleanup_(plist_freep) plist_t d = NULL;
        plist_t ex = NULL;
        bool all_day;
        const char *v;

        if (!it || it->kind != PIM_EVENT || isempty(calendar_id) || !ret)
                return -EINVAL;
        pim_normalize(it);
        d = record_new(E_EVENT);
        if (!d)
                return -ENOMEM;
        set_str(d, "summary", pim_get(it, "summary"));
        set_str(d, "description", pim_get(it, "description"));
        set_str(d, "location", pim_get(it, "location"));
        set_str(d, "url", pim_get(it, "url"));
        set_str(d, "status", word(statuses, pim_get(it, "status")));
        set_str(d, "classification", word(classes, pim_get(it, "class")));
        all_day = streq_ptr(pim_get(it, "all day"), "1");
        plist_dict_set_item(d, "all day", plist_new_bool(all_day));
        set_date(d, "start date", pim_get(it, "start"));
        set_date(d, "end date", pim_get(it, "end"));
        if (!all_day && (v = pim_get(it, "timezone")))
                set_str(d, "timezone", v);
        set_link(d, "calendar", calendar_id);
        for (size_t i = 0; i < it->n_fields; i++) {
                int64_t t;

                if (strcmp(it->fields[i].name, "exdate") != 0 ||
                    !parse_time(it->fields[i].value, &t, NULL))
                        continue;
                if (!ex) {
                        ex = plist_new_array();
                        plist_dict_set_item(d, "exception dates", ex);
                }
                plist_array_append_item(ex, date_new(t));
        }
        *ret = TAKE_PTR(d);
        return 0;
}

/* Add rec to dict under "<prefix><n>", linked to its owner. Takes rec. */
static int add_child(plist_t dict, plist_t rec, const char *prefix, unsigned *n,
                     const char *parent_id) {
        char id[256];

        if (!rec)
                return -ENOMEM;
        set_link(rec, "owner", parent_id);
        snprintf(id, sizeof(id), "%s%u", prefix, ++*n);
        plist_dict_set_item(dict, id, rec);
        return 0;
}

static plist_t int_array(const short *list, size_t size) {
        plist_t a = NULL;

        for (size_t i = 0; i < size && list[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
                if (!a)
                        a = plist_new_array();
                plist_array_append_item(a, int_new(list[i]));
        }
        return a;
}

static void set_array(plist_t d, const char *key, plist_t a) {
        if (a)
                plist_dict_set_item(d, key, a);
}

/* The RRULE as a Recurrence, or NULL when the record format cannot carry it. */
static plist_t recurrence_new(const char *rrule, bool all_day) {
        static const char *const freqs[] = {
                [ICAL_DAILY_RECURRENCE] = "daily", [ICAL_WEEKLY_RECURRENCE] = "weekly",
                [ICAL_MONTHLY_RECURRENCE] = "monthly", [ICAL_YEARLY_RECURRENCE] = "yearly",
        };
        struct icalrecurrencetype r;
        _cleanup_free_ char *canon = NULL;
        plist_t x, days = NULL, ords = NULL;

        if (pim_rrule_parse(rrule, &r) < 0 || r.freq < ICAL_DAILY_RECURRENCE ||
            r.freq > ICAL_YEARLY_RECURRENCE)
                return NULL;
        /* Sorted and cleaned as the contract has it, so the arrays come back in order. */
        if (pim_rrule_format(&r, &canon) < 0 || pim_rrule_parse(canon, &r) < 0)
                return NULL;
        x = record_new(E_RECURRENCE);
        if (!x)
                return NULL;
        plist_dict_set_item(x, "frequency", plist_new_string(freqs[r.freq]));
        plist_dict_set_item(x, "interval", int_new(r.interval > 1 ? r.interval : 1));
        if (r.count > 0)
                plist_dict_set_item(x, "count", int_new(r.count));
        if (!icaltime_is_null_time(r.until)) {
                struct tm tm = {
                        .tm_year = r.until.year - 1900, .tm_mon = r.until.month - 1,
                        .tm_mday = r.until.day,
                        .tm_hour = all_day || r.until.is_date ? 0 : r.until.hour,
                        .tm_min = all_day || r.until.is_date ? 0 : r.until.minute,
                        .tm_sec = all_day || r.until.is_date ? 0 : r.until.second,
                };
                int64_t t = (int64_t) timegm(&tm);

                if (in_range(t))
                        plist_dict_set_item(x, "until", date_new(t));
        }
        set_array(x, "bymonth", int_array(r.by_month, ICAL_BY_MONTH_SIZE));
        set_array(x, "bymonthday", int_array(r.by_month_day, ICAL_BY_MONTHDAY_SIZE));
        set_array(x, "byyearday", int_array(r.by_year_day, ICAL_BY_YEARDAY_SIZE));
        set_array(x, "byweeknumber", int_array(r.by_week_no, ICAL_BY_WEEKNO_SIZE));
        set_array(x, "bysetpos", int_array(r.by_set_pos, ICAL_BY_SETPOS_SIZE));
        for (size_t i = 0; i < ICAL_BY_DAY_SIZE && r.by_day[i] != ICAL_RECURRENCE_ARRAY_MAX; i++) {
                if (!days) {
                        days = plist_new_array();
                        ords = plist_new_array();
                        plist_dict_set_item(x, "bydaydays", days);
                        plist_dict_set_item(x, "bydayfreq", ords);
                }
                plist_array_append_item(days, int_new(
                        icalrecurrencetype_day_day_of_week(r.by_day[i])));
                plist_array_append_item(ords, int_new(
                        icalrecurrencetype_day_position(r.by_day[i])));
        }
        if (r.week_start > ICAL_NO_WEEKDAY && r.week_start <= ICAL_SATURDAY_WEEKDAY &&
            r.week_start != ICAL_MONDAY_WEEKDAY)
                plist_dict_set_item(x, "weekstartday", int_new(r.week_start));
        return x;
}

static plist_t person_new(const char *entity, const char *value) {
        _cleanup_free_ char *buf = NULL, *uri = NULL;
        const char *c[5] = {};
        size_t n = 0;
        plist_t x;

        if (pim_split(value, &buf, c, ELEMENTSOF(c), &n) < 0 || isempty(c[0]) ||
            asprintf(&uri, "mailto:%s", c[0]) < 0)
                return NULL;
        x = record_new(entity);
        if (!x)
                return NULL;
        plist_dict_set_item(x, "email", plist_new_string(uri));
        if (n > 1)
                set_str(x, "common name", c[1]);
        if (n > 2)
                set_str(x, "role", word(roles, c[2]));
        if (n > 3)
                set_str(x, "status", word(partstats, c[3]));
        if (n > 4)
                plist_dict_set_item(x, "rsvp", plist_new_bool(strcmp(c[4], "1") == 0));
        return x;
}

static plist_t alarm_new(const char *value) {
        _cleanup_free_ char *buf = NULL;
        const char *c[3] = {};
        size_t n = 0;
        plist_t x;
        int64_t t;
        char *end;
        long long s;

        if (pim_split(value, &buf, c, ELEMENTSOF(c), &n) < 0 || n < 2)
                return NULL;
        if (strcmp(c[0], "display") != 0 && strcmp(c[0], "audio") != 0)
                return NULL;
        x = record_new(c[0][0] == 'd' ? E_DISPLAY_ALARM : E_AUDIO_ALARM);
        if (!x)
                return NULL;
        if (parse_time(c[1], &t, NULL))
                plist_dict_set_item(x, "triggerdate", date_new(t));
        else {
                errno = 0;
                s = strtoll(c[1], &end, 10);
                if (errno != 0 || end == c[1] || *end || s < -MAX_TRIGGER || s > MAX_TRIGGER) {
                        plist_free(x);
                        return NULL;
                }
                plist_dict_set_item(x, "triggerduration", int_new(s));
        }
        if (n > 2)
                set_str(x, "description", c[2]);
        return x;
}

int pim_event_child_records(PimItem *it, const char *parent_id, const char *child_prefix,
                            plist_t *ret) {
        _cleanup_(plist_freep) plist_t dict = NULL;
        const char *prefix = child_prefix ?: "";
        bool all_day;
        unsigned n = 0;
        const char *v;
        int r;

        if (!it || it->kind != PIM_EVENT || isempty(parent_id) || !ret)
                return -EINVAL;
        pim_normalize(it);
        dict = plist_new_dict();
        if (!dict)
                return -ENOMEM;
        all_day = streq_ptr(pim_get(it, "all day"), "1");

        /* Unrepresentable values are left out (NULL), not failures. */
        if ((v = pim_get(it, "rrule"))) {
                plist_t x = recurrence_new(v, all_day);

                if (x && (r = add_child(dict, x, prefix, &n, parent_id)) < 0)
                        return r;
        }
        if ((v = pim_get(it, "organizer"))) {
                plist_t x = person_new(E_ORGANIZER, v);

                if (x && (r = add_child(dict, x, prefix, &n, parent_id)) < 0)
                        return r;
        }
        for (size_t i = 0; i < it->n_fields; i++) {
                const char *name = it->fields[i].name;
                plist_t x;

                if (strcmp(name, "attendee") == 0)
                        x = person_new(E_ATTENDEE, it->fields[i].value);
                else if (strcmp(name, "alarm") == 0)
                        x = alarm_new(it->fields[i].value);
                else
                        continue;
                if (x && (r = add_child(dict, x, prefix, &n, parent_id)) < 0)
                        return r;
        }
        *ret = TAKE_PTR(dict);
        return 0;
}
