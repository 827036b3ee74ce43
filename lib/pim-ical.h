/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What pim-ical.c shares with the mobilesync records of events (pim-records-events.c): one
 * RRULE form and one test of zone names, so an event that went iCalendar → item → records →
 * item meets the same text on both paths.
 */
#pragma once

#include <stdbool.h>

#include <libical/ical.h>

#include "pim.h"

/* The contract's RRULE text of r (pim.h): FREQ, UNTIL (r->until read as UTC; a date is its
 * midnight), COUNT (only without UNTIL), INTERVAL when > 1, BYSECOND … BYSETPOS in RFC 5545
 * order with each list sorted (numbers ascending; BYDAY by weekday from Monday, then
 * ordinal) and without repeats or out-of-range entries, WKST when it is not Monday (the
 * default). *ret is allocated. 0; -EINVAL when r has no frequency; -ENOMEM. */
int pim_rrule_format(const struct icalrecurrencetype *r, char **ret);

/* RRULE text → libical's structure (UNTIL as written). 0; -EINVAL when libical cannot read
 * it or it has no frequency. */
int pim_rrule_parse(const char *value, struct icalrecurrencetype *ret);

/* Whether s looks like an Olson zone name ("Europe/Paris", "America/Argentina/Salta",
 * "Etc/GMT+5"): letters, digits, '_', '-', '+' and single '/' between parts, ≤ 64 bytes.
 * Such a name is safe to hand to libical (which opens a file by it). */
bool pim_tz_name_ok(const char *s);

/* Whether libical has a zone of that Olson name (what the writer can give a VTIMEZONE);
 * false for UTC and for names pim_tz_name_ok() refuses. */
bool pim_tz_known(const char *s);

/* Whether s names UTC itself ("UTC", "GMT", "Etc/UTC", "Z", …): such an event has no
 * "timezone" in the contract. */
bool pim_tz_is_utc(const char *s);

/* Text as the event converters keep it, so that every path gives the same value: CR LF
 * and lone CR become LF, other control characters (PIM_SEP among them) a space, bytes
 * that are not UTF-8 '?'; with one_line, LF and TAB become a space too; blanks it starts
 * with are dropped (libical's parser drops them). NULL on OOM. */
char *pim_text_clean(const char *s, bool one_line);

/* Add s (NULL or "": nothing) to it as name, cleaned by pim_text_clean(); a value too large
 * for the item is dropped alone (the rest of the event stays). 0 or -ENOMEM. */
int pim_add_text(PimItem *it, const char *name, const char *s, bool one_line);

/* A person's name as the contract keeps it (a CN parameter, a record's "common name"):
 * pim_text_clean() as one line, without the backslashes and blanks it ends with. NULL on
 * OOM. */
char *pim_name_clean(const char *s);

/* An attendee's or organizer's address as the contract keeps it: cleaned as one line,
 * "mailto:" (any case) stripped, lower-case ASCII. NULL when nothing is left or it is
 * another scheme ("urn:uuid:…"); *ret_oom tells that apart from running out of memory. */
char *pim_cal_address(const char *v, bool *ret_oom);
