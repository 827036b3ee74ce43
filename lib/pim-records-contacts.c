/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync records ↔ contacts (sync-protocols.md §5, "Record format (Contacts)"): the main
 * record com.apple.contacts.Contact holds the scalar fields; phones, e-mails, URLs, street
 * addresses, IMs, dates and related names are sub-records that link back through
 * "contact" = [main id]. Each sub-record has a "type" (home, work, other, mobile, …) and,
 * for a label of the person's own, "label" with type "other": a "label" wins when present.
 *
 * Dates are plist dates (seconds since 2001-01-01 UTC); a contact's date is its UTC
 * calendar day, written back at noon UTC so every time zone sees the same day; the year
 * 1604 is iOS's "no year" (written as --MM-DD).
 *
 * Events (pim-records-events.c) share the dispatch below.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim.h"
#include "pim-records-internal.h"
#include "plist-util.h"

#define ENTITY_KEY "com.apple.syncservices.RecordEntityName"
#define CONTACT_ENTITY "com.apple.contacts.Contact"
#define MAC_EPOCH INT64_C(978307200)
#define NO_YEAR 1604

/* The scalar fields: record key ↔ field name. */
static const struct {
        const char *key, *field;
} scalars[] = {
        { "first name", "first name" },
        { "last name", "last name" },
        { "middle name", "middle name" },
        { "title", "prefix" },
        { "suffix", "suffix" },
        { "nickname", "nickname" },
        { "first name yomi", "first name phonetic" },
        { "last name yomi", "last name phonetic" },
        { "company name", "organization" },
        { "department", "department" },
        { "job title", "job title" },
        { "notes", "notes" },
};

/* The sub-records: entity ↔ field, and the record keys of the components after the label. */
typedef struct SubKind {
        const char *entity, *field;
        const char *keys[6];
        bool date;                      /* the one component is a date */
} SubKind;

static const SubKind subs[] = {
        { "com.apple.contacts.Phone Number", "phone", { "value" }, false },
        { "com.apple.contacts.Email Address", "email", { "value" }, false },
        { "com.apple.contacts.URL", "url", { "value" }, false },
        { "com.apple.contacts.IM", "im", { "service", "user" }, false },
        { "com.apple.contacts.Date", "date", { "value" }, true },
        { "com.apple.contacts.Related Name", "related", { "value" }, false },
        /* "state" for the region [inferred: the field table read for §5 lists street,
         * city, postal code, country, country code; the region's key is not shown]. */
        { "com.apple.contacts.Street Address", "address",
          { "street", "city", "state", "postal code", "country", "country code" }, false },
};

/* Labels iOS has a type word for; anything else travels as "label" with type "other". */
static const char *const builtin_types[] = {
        "home", "work", "other", "mobile", "iphone", "main", "pager", "home fax", "work fax",
        "other fax", "homepage", "anniversary",
};

const char *pim_main_entity(PimKind kind) {
        return kind == PIM_EVENT ? "com.apple.calendars.Event" : CONTACT_ENTITY;
}

const char *pim_child_link(PimKind kind) {
        return kind == PIM_EVENT ? "owner" : "contact";
}

static const char *str_of(plist_t d, const char *key) {
        plist_t v = plist_dict_get_item(d, key);
        uint64_t len = 0;
        const char *s;

        if (!v || plist_get_node_type(v) != PLIST_STRING)
                return NULL;
        s = plist_get_string_ptr(v, &len);
        return s && len == strlen(s) && len <= PIM_MAX_VALUE ? s : NULL;
}

/* A plist date as "YYYY-MM-DD" (its UTC day), "--MM-DD" for iOS's year 1604. Read through
 * the XML text: libplist 2.2's plist_get_date_val() gives 32-bit seconds from 2001, which
 * cannot hold a birthday before 1933, nor iOS's 1604. */
static bool date_text(plist_t v, char buf[32]) {
        _cleanup_free_ char *xml = NULL;
        uint32_t len = 0;
        const char *d;
        int y, m, day;

        if (!v || plist_get_node_type(v) != PLIST_DATE)
                return false;
        plist_to_xml(v, &xml, &len);
        d = xml ? strstr(xml, "<date>") : NULL;
        if (!d || sscanf(d + 6, "%d-%d-%d", &y, &m, &day) != 3 || m < 1 || m > 12 || day < 1 ||
            day > 31)
                return false;
        if (y == NO_YEAR)
                snprintf(buf, 32, "--%02d-%02d", m, day);
        else if (y >= 1 && y <= 9999)
                snprintf(buf, 32, "%04d-%02d-%02d", y, m, day);
        else
                return false;
        return true;
}

/* "YYYY-MM-DD" or "--MM-DD" → a plist date at noon UTC of that day (made from XML text, for
 * the same reason); NULL if not one. */
static plist_t date_value(const char *s) {
        int y = NO_YEAR, m = 0, d = 0;
        char tail, xml[160];
        plist_t p = NULL;

        if (sscanf(s, "--%2d-%2d%c", &m, &d, &tail) == 2)
                ;
        else if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3)
                return NULL;
        if (y < 1 || m < 1 || m > 12 || d < 1 || d > 31)
                return NULL;
        snprintf(xml, sizeof(xml), "<plist version=\"1.0\"><date>%04d-%02d-%02dT12:00:00Z</date>"
                 "</plist>", y, m, d);
        plist_from_xml(xml, (uint32_t) strlen(xml), &p);
        if (p && plist_get_node_type(p) != PLIST_DATE) {
                plist_free(p);
                return NULL;
        }
        return p;
}

static const SubKind *sub_of_entity(const char *entity) {
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                if (strcmp(subs[i].entity, entity) == 0)
                        return &subs[i];
        return NULL;
}

static const SubKind *sub_of_field(const char *field) {
        for (size_t i = 0; i < ELEMENTSOF(subs); i++)
                if (strcmp(subs[i].field, field) == 0)
                        return &subs[i];
        return NULL;
}

static int add_sub(PimItem *it, const SubKind *k, plist_t rec) {
        const char *c[7] = {};
        char date[32];
        size_t n = 1;

        /* A label of the person's own wins over the type word. */
        c[0] = str_of(rec, "label") ?: str_of(rec, "type") ?: "";
        for (; n <= ELEMENTSOF(k->keys) && k->keys[n - 1]; n++) {
                if (k->date) {
                        if (!date_text(plist_dict_get_item(rec, k->keys[n - 1]), date))
                                return 0;
                        c[n] = date;
                } else
                        c[n] = str_of(rec, k->keys[n - 1]);
        }
        return pim_add_multi(it, k->field, c, n);
}

static int contact_from_records(const PimRecords *r, PimItem **ret, char **ret_reason) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_CONTACT);
        plist_t v;
        char date[32];
        int k;

        if (!it)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(scalars); i++)
                if ((k = pim_add(it, scalars[i].field, str_of(r->main, scalars[i].key))) < 0 &&
                    k != -E2BIG)
                        return k;
        if (streq_ptr(str_of(r->main, "display as company"), "company") &&
            (k = pim_add(it, "kind", "company")) < 0)
                return k;
        if (date_text(plist_dict_get_item(r->main, "birthday"), date) &&
            (k = pim_add(it, "birthday", date)) < 0)
                return k;
        v = plist_dict_get_item(r->main, "image");
        if (v && plist_get_node_type(v) == PLIST_DATA) {
                uint64_t len = 0;
                const char *data = plist_get_data_ptr(v, &len);
                _cleanup_free_ char *b64 = NULL;

                if (data && len > 0 && len <= PIM_MAX_VALUE / 4 * 3) {
                        b64 = pim_base64_encode(data, (size_t) len);
                        if (!b64)
                                return -ENOMEM;
                        if ((k = pim_add(it, "photo", b64)) < 0)
                                return k;
                }
        }
        for (size_t i = 0; i < r->n_children; i++) {
                plist_t c = r->children[i];
                const SubKind *sk;

                if (!c || plist_get_node_type(c) != PLIST_DICT)
                        continue;
                sk = sub_of_entity(str_of(c, ENTITY_KEY) ?: "");
                if (sk && (k = add_sub(it, sk, c)) < 0 && k != -E2BIG)
                        return k;
        }
        pim_normalize(it);
        *ret = TAKE_PTR(it);
        (void) ret_reason;
        return 0;
}

int pim_from_records(PimKind kind, const PimRecords *r, const char *calendar_title,
                     PimItem **ret, char **ret_reason) {
        if (ret_reason)
                *ret_reason = NULL;
        if (!r || !r->main || plist_get_node_type(r->main) != PLIST_DICT ||
            !streq_ptr(str_of(r->main, ENTITY_KEY), pim_main_entity(kind))) {
                if (ret_reason)
                        *ret_reason = strdup("not a main record of its kind");
                return IDS_E_PROTOCOL;
        }
        if (kind == PIM_EVENT)
                return pim_event_from_records(r, calendar_title, ret, ret_reason);
        return contact_from_records(r, ret, ret_reason);
}

static void set_str(plist_t d, const char *key, const char *value) {
        if (value)
                plist_dict_set_item(d, key, plist_new_string(value));
}

int pim_main_record(PimItem *it, const char *calendar_id, plist_t *ret) {
        plist_t d;
        const char *v;

        if (it->kind == PIM_EVENT)
                return pim_event_main_record(it, calendar_id, ret);
        d = plist_new_dict();
        if (!d)
                return -ENOMEM;
        set_str(d, ENTITY_KEY, CONTACT_ENTITY);
        set_str(d, "display as company",
                streq_ptr(pim_get(it, "kind"), "company") ? "company" : "person");
        for (size_t i = 0; i < ELEMENTSOF(scalars); i++)
                set_str(d, scalars[i].key, pim_get(it, scalars[i].field));
        if ((v = pim_get(it, "birthday"))) {
                plist_t date = date_value(v);

                if (date)
                        plist_dict_set_item(d, "birthday", date);
        }
        if ((v = pim_get(it, "photo"))) {
                size_t len = 0;
                _cleanup_free_ uint8_t *data = pim_base64_decode(v, &len);

                if (data && len > 0)
                        plist_dict_set_item(d, "image", plist_new_data((const char *) data, len));
        }
        *ret = d;
        return 0;
}

static bool builtin_type(const char *label) {
        for (size_t i = 0; i < ELEMENTSOF(builtin_types); i++)
                if (strcmp(builtin_types[i], label) == 0)
                        return true;
        return false;
}

int pim_child_records(PimItem *it, const char *parent_id, const char *child_prefix,
                      plist_t *ret) {
        _cleanup_(plist_freep) plist_t out = NULL;
        unsigned n = 0;

        if (it->kind == PIM_EVENT)
                return pim_event_child_records(it, parent_id, child_prefix, ret);
        out = plist_new_dict();
        if (!out)
                return -ENOMEM;
        pim_normalize(it);
        for (size_t i = 0; i < it->n_fields; i++) {
                const SubKind *k = sub_of_field(it->fields[i].name);
                _cleanup_free_ char *buf = NULL;
                const char *c[7];
                size_t nc = 0;
                plist_t rec, link;
                char id[64];
                int r;

                if (!k)
                        continue;
                r = pim_split(it->fields[i].value, &buf, c, ELEMENTSOF(c), &nc);
                if (r < 0)
                        return r;
                rec = plist_new_dict();
                set_str(rec, ENTITY_KEY, k->entity);
                if (builtin_type(c[0]))
                        set_str(rec, "type", c[0]);
                else if (c[0][0]) {
                        set_str(rec, "type", "other");
                        set_str(rec, "label", c[0]);
                }
                for (size_t j = 1; j < nc && j <= ELEMENTSOF(k->keys) && k->keys[j - 1]; j++) {
                        if (!c[j][0])
                                continue;
                        if (k->date) {
                                plist_t date = date_value(c[j]);

                                if (date)
                                        plist_dict_set_item(rec, k->keys[j - 1], date);
                        } else
                                set_str(rec, k->keys[j - 1], c[j]);
                }
                link = plist_new_array();
                plist_array_append_item(link, plist_new_string(parent_id));
                plist_dict_set_item(rec, "contact", link);
                snprintf(id, sizeof(id), "%s%u", child_prefix, ++n);
                plist_dict_set_item(out, id, rec);
        }
        *ret = TAKE_PTR(out);
        return 0;
}
