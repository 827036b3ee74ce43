/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The in-memory model of a profile's AddressBook.sqlitedb and Calendar.sqlitedb
 * (profile-pim-contacts.c), shared with mobilesync-backupdb.c, which fills it from the
 * mobilesync record store so that the backup and mobilesync show one phone. Only the
 * model and its writers are shared: the schemas stay in profile-pim-contacts.c.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ==== contacts ========================================================================== */

/* Values of one kind per contact; a contact pushed through mobilesync may have more than
 * the generator makes (which stays below 4). */
#define MAX_VALUES 8
#define MAX_GROUPS 32 /* Contact.groups is a 32-bit mask */

/* ABMultiValue property numbers (docs/ios-databases-contacts-calendars.md). */
enum {
        PROP_PHONE = 3,
        PROP_EMAIL = 4,
        PROP_ADDRESS = 5,
        PROP_DATE = 12,
        PROP_IM = 13,
        PROP_URL = 22,
};

typedef struct LabeledValue {
        char *label; /* as stored: "_$!<Mobile>!$_" or a custom label, or NULL */
        char *value; /* phone, email, URL; dates: "YYYY-MM-DD" */
} LabeledValue;

typedef struct PostalAddress {
        char *label;
        char *street, *city, *region, *postcode, *country, *country_code;
} PostalAddress;

/* An instant-messaging account: ABMultiValue property 13 whose ABMultiValueEntry rows hold
 * the keys "service" and "username" (as real address books do; only mobilesync-driven
 * profiles have them). */
typedef struct ImAccount {
        char *label;
        char *service, *user;
} ImAccount;

typedef struct Contact {
        int64_t id; /* ABPerson.ROWID */
        char *guid;
        char *first, *last, *middle, *prefix, *suffix, *nickname;
        char *organization, *department, *title, *note;
        int bday_y, bday_m, bday_d; /* bday_m 0: none; bday_y 1604: no year */
        LabeledValue phones[MAX_VALUES], emails[MAX_VALUES], dates[MAX_VALUES], urls[MAX_VALUES];
        size_t n_phones, n_emails, n_dates, n_urls;
        PostalAddress addresses[MAX_VALUES];
        size_t n_addresses;
        ImAccount ims[MAX_VALUES];
        size_t n_ims;
        uint32_t groups; /* bit g: member of Book.groups[g] */
        uint8_t *photo;  /* ABFullSizeImage.data */
        size_t photo_size;
        int64_t created, modified; /* Unix */
} Contact;

typedef struct Book {
        Contact *c;
        size_t n;
        char *groups[MAX_GROUPS]; /* ABGroup.Name, ROWID = index + 1 */
        size_t n_groups;
        int64_t next_id; /* ABPerson ROWIDs are never reused */
} Book;

/* ==== calendars ========================================================================= */

#define MAX_EXDATES 8
#define MAX_OVERRIDES 4
#define MAX_ALARMS 3
#define MAX_ATTENDEES 4
#define MAX_CALENDARS 8
#define MAX_OCCURRENCES 800

enum { FREQ_NONE, FREQ_DAILY, FREQ_WEEKLY, FREQ_MONTHLY, FREQ_YEARLY };

/* Times: for an event in a zone (or UTC) Unix instants; for a floating or all-day one the
 * wall-clock time read as if it were UTC. All-day ends are exclusive (the next day). */
typedef struct Override {
        int64_t id; /* its CalendarItem.ROWID */
        char *uuid, *summary;
        int64_t orig, start, end;
} Override;

typedef struct Attendee {
        char *email, *name;
} Attendee;

typedef struct Event {
        int64_t id;
        size_t cal; /* index into Agenda.cals */
        char *uid, *uuid, *summary, *location, *description;
        char *url; /* CalendarItem.url, NULL for none */
        bool all_day;
        char tz[32]; /* IANA name, "UTC" or "_float" */
        int64_t start, end, created;
        int freq;
        unsigned interval, count; /* count 0: none */
        int64_t until;            /* 0: none */
        uint8_t byday;            /* bit 0 = MO … bit 6 = SU */
        int monthdays[4];
        size_t n_monthdays;
        int64_t exdates[MAX_EXDATES];
        size_t n_exdates;
        Override overrides[MAX_OVERRIDES];
        size_t n_overrides;
        int alarms[MAX_ALARMS];
        size_t n_alarms;
        Attendee attendees[MAX_ATTENDEES];
        size_t n_attendees;
} Event;

typedef struct Agenda {
        char *cals[MAX_CALENDARS];
        size_t n_cals;
        Event *e;
        size_t n;
        int64_t next_id;
} Agenda;

/* Free what b / a hold and empty it (the struct itself is the caller's). */
void book_done(Book *b);
void agenda_done(Agenda *a);
/* A new zeroed entry at the end; NULL on allocation failure. */
Contact *book_append(Book *b);
Event *agenda_append(Agenda *a);

/* Write AddressBook.sqlitedb + AddressBookImages.sqlitedb (pim_book_write) or
 * Calendar.sqlitedb (pim_agenda_write) beneath DIR/backup/HomeDomain/Library/ in the
 * schema of ProductVersion ios, and their ground truth DIR/contacts.json or
 * DIR/calendars.json, all with mtime t. Each file is renamed into place. 0 or -errno. */
int pim_book_write(const Book *b, const char *dir, const char *ios, int64_t t);
int pim_agenda_write(const Agenda *a, const char *dir, const char *ios, int64_t t);
