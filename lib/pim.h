/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contacts and events as the two-way sync sees them (sync part 4, issue 15): a PimItem is a
 * bag of named text fields, the same whatever side it came from, so one engine compares,
 * merges and plans contacts and events alike.
 *
 *   pim.c                 the bag: build, normalize, canonical text, hash, merges, matching
 *   pim-vcard.c           vCard 4.0 text ↔ contact (also the writer of the backup export)
 *   pim-ical.c            iCalendar text ↔ event (libical; also used by the backup export)
 *   pim-records.c         mobilesync records (sync-protocols.md §5) ↔ contact / event
 *
 * Field names and value forms (the contract between the converters; every converter writes
 * exactly these forms, so an item that went vCard → bag → records → bag compares equal):
 *
 * Contacts (scalar: at most one value)
 *   kind            "person" | "company"   (absent = person)
 *   first name, last name, middle name, prefix, suffix, nickname,
 *   first name phonetic, last name phonetic,
 *   organization, department, job title, notes      free text (may hold '\n')
 *   birthday        "YYYY-MM-DD", or "--MM-DD" without a year
 *   photo           the image bytes in base64 (RFC 4648, no line breaks)
 * Contacts (multi: any number of values; a value is components joined by PIM_SEP, the
 * first component always the label)
 *   phone           label SEP number
 *   email           label SEP address
 *   url             label SEP url
 *   im              label SEP service SEP user
 *   date            label SEP YYYY-MM-DD | --MM-DD       ("anniversary" is a label)
 *   related         label SEP name
 *   address         label SEP street SEP city SEP region SEP postal code SEP country
 *                   SEP country code
 *   Labels are iOS's own words: "mobile", "iphone", "home", "work", "other", "main",
 *   "home fax", "work fax", "other fax", "pager", "homepage", "anniversary", or the
 *   person's custom text; "" when there is none.
 *
 * Events (scalar)
 *   calendar        the calendar's title (the host's directory; the engine maps it to a
 *                   device Calendar record)
 *   summary, description, location, url, status ("confirmed" | "tentative" | "cancelled"),
 *   class ("public" | "private" | "confidential")
 *   all day         "1" when the event is all-day (absent otherwise)
 *   start, end      all-day: "YYYY-MM-DD" (end exclusive, as iCalendar's DTEND);
 *                   else the UTC instant "YYYY-MM-DDTHH:MM:SSZ"
 *   timezone        an Olson name ("Europe/Paris") the event was made in; absent for
 *                   UTC, floating and all-day events
 *   rrule           RFC 5545 RRULE value with its parts in this order, only those present:
 *                   FREQ, UNTIL (UTC, YYYYMMDDTHHMMSSZ), COUNT, INTERVAL (only when > 1),
 *                   BYSECOND … BYSETPOS in RFC 5545 order, WKST
 *   organizer       email SEP common name   (email without "mailto:", lower-case)
 * Events (multi)
 *   exdate          an excluded start as "start" above
 *   attendee        email SEP common name SEP role SEP status SEP rsvp ("1" | "")
 *                   (email as organizer's; role and status upper-case RFC 5545 words)
 *   alarm           action SEP trigger SEP description
 *                   action "display" | "audio"; trigger seconds relative to the start
 *                   ("-900"), or an absolute UTC instant as "start"
 *
 * Every text value is UTF-8 in NFC as received, without the separator (converters replace
 * a PIM_SEP they meet in input with a space) and without trailing blanks; an empty value
 * is no field. Unknown fields of a source are dropped, not guessed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <plist/plist.h>

#define PIM_SEP "\x1f"                  /* joins the components of a multi value */
#define PIM_SEP_CHAR '\x1f'
#define PIM_HASH_HEX 65                 /* SHA-256 of the canonical text, hex, with NUL */

/* Caps against hostile input (a vCard a user dropped in, a device's record). */
#define PIM_MAX_FIELDS 4096u
#define PIM_MAX_VALUE (16u << 20)       /* a photo, base64 */

typedef enum PimKind {
        PIM_CONTACT,
        PIM_EVENT,
        _PIM_KIND_MAX,
} PimKind;

typedef struct PimField {
        char *name;
        char *value;
} PimField;

typedef struct PimItem {
        PimKind kind;
        char *uid;                      /* vCard/iCalendar UID as read; NULL when none. Not
                                         * a field: it names the item, it is not content */
        PimField *fields;
        size_t n_fields, allocated;
        bool normalized;                /* sorted by (name, value), duplicates dropped */
} PimItem;

PimItem *pim_item_new(PimKind kind);
PimItem *pim_item_free(PimItem *it);
static inline void pim_item_freep(PimItem **p) {
        if (*p)
                pim_item_free(*p);
}
PimItem *pim_item_copy(const PimItem *it);

/* Whether name is a multi-valued field of kind (the tables above); every other name is
 * scalar. */
bool pim_field_multi(PimKind kind, const char *name);

/* Add a field (name and value copied; NULL or "" value: nothing added, 0). A scalar set
 * twice keeps the last value. -ENOMEM, -E2BIG (PIM_MAX_FIELDS or PIM_MAX_VALUE). */
int pim_add(PimItem *it, const char *name, const char *value);
/* Add a multi value from its components (n of them; NULL components are ""), joined by
 * PIM_SEP, trailing empty components kept so every value of a name has the same count. */
int pim_add_multi(PimItem *it, const char *name, const char *const *components, size_t n);
/* The value of scalar name, or NULL. */
const char *pim_get(const PimItem *it, const char *name);
/* Remove every value of name. */
void pim_remove(PimItem *it, const char *name);

/* Split a multi value into at most max components (pointers into buf, a copy the caller
 * frees); *ret_n gets the count. 0 or -ENOMEM. */
int pim_split(const char *value, char **ret_buf, const char **components, size_t max,
              size_t *ret_n);

/* Sort fields by (name, value) and drop exact duplicates. Idempotent. */
void pim_normalize(PimItem *it);

/* The canonical text: "name=value\n" per field in normalized order, '\\' and '\n' in
 * name and value escaped as "\\\\" and "\\n". Two items are the same content iff their
 * canonical texts are equal (the uid is not part of it). The caller frees *ret. */
int pim_canonical(PimItem *it, char **ret);
/* Parse canonical text back (the stored base of a three-way merge). -EINVAL on garbage. */
int pim_from_canonical(PimKind kind, const char *text, PimItem **ret);
/* SHA-256 of the canonical text, in hex. */
int pim_hash(PimItem *it, char ret[PIM_HASH_HEX]);

/* A short name for logs, requests and file names: contacts "First Last" (or the
 * organization, or the first email/phone), events the summary; "" when nothing names it.
 * Borrowed from it or written into buf. */
const char *pim_display_name(const PimItem *it, char *buf, size_t size);

/* Merge what changed on each side since base (all three normalized by the call):
 * scalars take the side that changed; multis take base minus what either side removed
 * plus what either side added. *ret_conflict is set when one scalar changed on both sides
 * to different values; *ret is then the merge with side a's value for those (the caller
 * keeps b as its own item). base NULL: a two-way merge (first sync): multis are the union,
 * a scalar present on one side only is taken, present on both and different is a
 * conflict. */
int pim_merge(PimItem *base, PimItem *a, PimItem *b, PimItem **ret, bool *ret_conflict);

/* Whether two items are the same person (or event) for a first sync or a slow sync:
 * contacts: the same display name (case and blanks folded) and a shared phone (digits
 * only, last 9 compared) or email (case folded), or the same display name when neither
 * has a phone or email; events: the same summary and the same uid or start. */
bool pim_same_identity(const PimItem *a, const PimItem *b);
/* The folded display name pim_same_identity() compares first (allocated; "" when nothing
 * names the item): items with different keys are never the same, so a caller can sort by
 * it and compare only within equal keys. NULL on -ENOMEM. */
char *pim_identity_key(const PimItem *it);

/* Base64 (RFC 4648, no line breaks) of n bytes: allocated, NULL on -ENOMEM. */
char *pim_base64_encode(const void *data, size_t n);
/* Decode base64 (blanks and line breaks skipped, padding optional): allocated, its length
 * in *ret_n; NULL when the text is not base64 (or on -ENOMEM). */
void *pim_base64_decode(const char *text, size_t *ret_n);

/* ---- vCard (pim-vcard.c) ------------------------------------------------------------------ */

/* Parse one vCard (3.0 or 4.0; the first BEGIN:VCARD … END:VCARD of text; folded lines,
 * escapes, item groups with X-ABLabel, TYPE parameters, ENCODING=b / data: URIs for PHOTO)
 * into a normalized contact. IDS_E_PROTOCOL with *ret_reason (allocated, may be NULL) for
 * text that is not a vCard; fields it does not know are dropped. */
int pim_vcard_parse(const char *text, size_t len, PimItem **ret, char **ret_reason);
/* Write a contact as one vCard 4.0 (CRLF, folded at 75 octets, UID when it has one, the
 * label conventions of the backup export). *ret allocated, *ret_len its length. */
int pim_vcard_write(PimItem *it, char **ret, size_t *ret_len);

/* ---- iCalendar (pim-ical.c) --------------------------------------------------------------- */

/* Parse the first VEVENT of an iCalendar text (with the VTIMEZONEs it refers to) into a
 * normalized event; a VEVENT with RECURRENCE-ID (an override) is not the master: the first
 * one without is taken. IDS_E_PROTOCOL with *ret_reason for anything that is not. */
int pim_ical_parse(const char *text, size_t len, PimItem **ret, char **ret_reason);
/* Write an event as one VCALENDAR (PRODID of idevicesync, the VTIMEZONE of its zone when it
 * has one, one VEVENT with UID). */
int pim_ical_write(PimItem *it, char **ret, size_t *ret_len);

/* ---- mobilesync records (pim-records-contacts.c, pim-records-events.c) -------------------- */

/* The device's view of one item: its main record (com.apple.contacts.Contact,
 * com.apple.calendars.Event) and the sub-records that link to it ("contact" for contacts,
 * "owner" for events: an array holding the main record's id). Values are borrowed. */
typedef struct PimRecords {
        plist_t main;
        const plist_t *children;
        size_t n_children;
} PimRecords;

/* The main record's entity of kind, and the key a child links to its parent by. */
const char *pim_main_entity(PimKind kind);
const char *pim_child_link(PimKind kind);

/* Records → a normalized item. Events: calendar_title is the title of the Calendar record
 * the event's "calendar" link names (NULL: none). Values of a type the record format does
 * not give are dropped; IDS_E_PROTOCOL with *ret_reason only when the main record is not a
 * dict of the right entity. */
int pim_from_records(PimKind kind, const PimRecords *r, const char *calendar_title,
                     PimItem **ret, char **ret_reason);

/* An item → its main record (a new dict: entity, the scalar fields; events also the
 * "calendar" link to calendar_id, which must be given) and its children (a new dict,
 * id → record, ids "<child_prefix><n>" from 1, each linking to parent_id). The engine sends
 * mains first and the children once the device has remapped the mains' ids. */
int pim_main_record(PimItem *it, const char *calendar_id, plist_t *ret);
int pim_child_records(PimItem *it, const char *parent_id, const char *child_prefix,
                      plist_t *ret);
