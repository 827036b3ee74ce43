/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync records ↔ contact (lib/pim-records-contacts.c), from the record side:
 * records written the way sync-protocols.md §5 shows them (an XML plist, as a device or the
 * emulator sends it) read to the contract's fields; a custom "label" wins over "type"; a
 * contact written back gives a built-in label as "type" alone and a custom one as type
 * "other" + "label", dates at noon UTC (1604 for no year), children linking by
 * "contact" = [parent]; hostile records (wrong types, missing keys, giant strings) are
 * dropped, never crash; 5,000 contacts go to records and back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <plist/plist.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim.h"
#include "test-util.h"

#define S PIM_SEP

static bool has(PimItem *it, const char *name, const char *value) {
        for (size_t i = 0; it && i < it->n_fields; i++)
                if (strcmp(it->fields[i].name, name) == 0 &&
                    strcmp(it->fields[i].value, value) == 0)
                        return true;
        return false;
}

static plist_t xml(const char *body) {
        char *text = NULL;
        plist_t p = NULL;

        ASSERT(asprintf(&text, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist "
                        "version=\"1.0\">%s</plist>", body) > 0);
        plist_from_xml(text, (uint32_t) strlen(text), &p);
        free(text);
        ASSERT(p);
        return p;
}

#define ENT "<key>com.apple.syncservices.RecordEntityName</key><string>com.apple.contacts."

/* A contact as §5 shows it, with one child of each kind. */
static void test_documented_shape(void) {
        plist_t main_rec = xml("<dict>" ENT "Contact</string>"
                "<key>display as company</key><string>person</string>"
                "<key>first name</key><string>Ada</string>"
                "<key>last name</key><string>Lovelace</string>"
                "<key>title</key><string>Countess</string>"
                "<key>company name</key><string>Analytical; Engines</string>"
                "<key>first name yomi</key><string>エイダ</string>"
                "<key>notes</key><string>line 1\nline 2</string>"
                "<key>birthday</key><date>1815-12-10T12:00:00Z</date></dict>");
        plist_t kids[] = {
                xml("<dict>" ENT "Phone Number</string><key>value</key><string>+44 20 1234"
                    "</string><key>type</key><string>mobile</string><key>contact</key>"
                    "<array><string>1</string></array></dict>"),
                xml("<dict>" ENT "Email Address</string><key>value</key><string>ada@example."
                    "org</string><key>type</key><string>other</string><key>label</key>"
                    "<string>Mathematics</string><key>contact</key><array><string>1</string>"
                    "</array></dict>"),
                xml("<dict>" ENT "Street Address</string><key>street</key><string>12 St "
                    "James's Square\nFlat 2</string><key>city</key><string>London</string>"
                    "<key>postal code</key><string>SW1Y</string><key>country</key><string>"
                    "United Kingdom</string><key>country code</key><string>gb</string>"
                    "<key>type</key><string>home</string><key>contact</key><array><string>1"
                    "</string></array></dict>"),
                xml("<dict>" ENT "IM</string><key>user</key><string>ada</string><key>service"
                    "</key><string>Jabber</string><key>type</key><string>work</string>"
                    "<key>contact</key><array><string>1</string></array></dict>"),
                xml("<dict>" ENT "Date</string><key>value</key><date>1604-07-08T12:00:00Z"
                    "</date><key>type</key><string>anniversary</string><key>contact</key>"
                    "<array><string>1</string></array></dict>"),
                xml("<dict>" ENT "Related Name</string><key>value</key><string>Byron</string>"
                    "<key>type</key><string>other</string><key>label</key><string>father"
                    "</string><key>contact</key><array><string>1</string></array></dict>"),
        };
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        char *reason = NULL;

        ASSERT_OK(pim_from_records(PIM_CONTACT, &(PimRecords) { main_rec, kids,
                                                                ELEMENTSOF(kids) },
                                   NULL, &it, &reason));
        ASSERT(it);
        ASSERT_STREQ(pim_get(it, "first name"), "Ada");
        ASSERT_STREQ(pim_get(it, "last name"), "Lovelace");
        ASSERT_STREQ(pim_get(it, "prefix"), "Countess");
        ASSERT_STREQ(pim_get(it, "organization"), "Analytical; Engines");
        ASSERT_STREQ(pim_get(it, "first name phonetic"), "エイダ");
        ASSERT_STREQ(pim_get(it, "notes"), "line 1\nline 2");
        ASSERT_STREQ(pim_get(it, "birthday"), "1815-12-10");
        ASSERT(pim_get(it, "kind") == NULL);
        ASSERT(has(it, "phone", "mobile" S "+44 20 1234"));
        ASSERT(has(it, "email", "Mathematics" S "ada@example.org"));
        ASSERT(has(it, "address", "home" S "12 St James's Square\nFlat 2" S "London" S S
                   "SW1Y" S "United Kingdom" S "gb"));
        ASSERT(has(it, "im", "work" S "Jabber" S "ada"));
        ASSERT(has(it, "date", "anniversary" S "--07-08"));
        ASSERT(has(it, "related", "father" S "Byron"));
        free(reason);
        plist_free(main_rec);
        for (size_t i = 0; i < ELEMENTSOF(kids); i++)
                plist_free(kids[i]);
}

static plist_t child_with(plist_t dict, const char *entity) {
        plist_dict_iter iter = NULL;
        plist_t found = NULL;

        plist_dict_new_iter(dict, &iter);
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;

                plist_dict_next_item(dict, iter, &key, &v);
                if (!key)
                        break;
                free(key);
                if (plist_get_node_type(v) == PLIST_DICT) {
                        plist_t e = plist_dict_get_item(v, "com.apple.syncservices."
                                                           "RecordEntityName");
                        char *s = NULL;

                        if (e && plist_get_node_type(e) == PLIST_STRING)
                                plist_get_string_val(e, &s);
                        if (s && strcmp(s, entity) == 0 && !found)
                                found = v;
                        free(s);
                }
        }
        free(iter);
        return found;
}

static char *str_key(plist_t rec, const char *key) {
        plist_t v = rec ? plist_dict_get_item(rec, key) : NULL;
        char *s = NULL;

        if (v && plist_get_node_type(v) == PLIST_STRING)
                plist_get_string_val(v, &s);
        return s;
}

/* Writing: built-in label → "type" alone; custom → "other" + "label"; the link; noon UTC. */
static void test_write_shape(void) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_CONTACT);
        plist_t main_rec = NULL, kids = NULL, p, e, link;
        char *s = NULL, *x = NULL;
        uint32_t len = 0;

        ASSERT(it);
        ASSERT_OK(pim_add(it, "first name", "Grace"));
        ASSERT_OK(pim_add(it, "kind", "company"));
        ASSERT_OK(pim_add(it, "birthday", "1906-12-09"));
        ASSERT_OK(pim_add(it, "phone", "work fax" S "+1 555 0100"));
        ASSERT_OK(pim_add(it, "email", "Navy" S "grace@example.mil"));
        ASSERT_OK(pim_add(it, "date", "" S "--02-29"));
        ASSERT_OK(pim_main_record(it, NULL, &main_rec));
        ASSERT_OK(pim_child_records(it, "77", "c-", &kids));
        ASSERT(main_rec && kids);
        if (!main_rec || !kids)
                return;

        s = str_key(main_rec, "display as company");
        ASSERT_STREQ(s, "company");
        free(s);
        plist_to_xml(main_rec, &x, &len);
        ASSERT(x && strstr(x, "<date>1906-12-09T12:00:00Z</date>"));
        free(x);

        p = child_with(kids, "com.apple.contacts.Phone Number");
        s = str_key(p, "type");
        ASSERT_STREQ(s, "work fax");
        free(s);
        ASSERT(p && !plist_dict_get_item(p, "label"));
        link = p ? plist_dict_get_item(p, "contact") : NULL;
        ASSERT(link && plist_get_node_type(link) == PLIST_ARRAY && plist_array_get_size(link) == 1);
        s = NULL;
        if (link && plist_array_get_size(link) == 1)
                plist_get_string_val(plist_array_get_item(link, 0), &s);
        ASSERT_STREQ(s, "77");
        free(s);

        e = child_with(kids, "com.apple.contacts.Email Address");
        s = str_key(e, "type");
        ASSERT_STREQ(s, "other");
        free(s);
        s = str_key(e, "label");
        ASSERT_STREQ(s, "Navy");
        free(s);

        x = NULL;
        plist_to_xml(kids, &x, &len);
        ASSERT(x && strstr(x, "<date>1604-02-29T12:00:00Z</date>"));
        ASSERT(x && strstr(x, "<key>c-1</key>"));
        free(x);
        plist_free(main_rec);
        plist_free(kids);
}

/* Wrong types, missing keys, giant strings: dropped, never a crash. */
static void test_hostile(void) {
        size_t big = (size_t) PIM_MAX_VALUE + 16;
        char *giant = malloc(big + 1);
        plist_t main_rec = xml("<dict>" ENT "Contact</string>"
                               "<key>first name</key><integer>5</integer>"
                               "<key>last name</key><array/>"
                               "<key>birthday</key><string>yesterday</string>"
                               "<key>image</key><string>not data</string>"
                               "<key>middle name</key><string>Kept</string></dict>");
        plist_t kids[] = {
                xml("<dict>" ENT "Phone Number</string><key>type</key><string>home</string>"
                    "</dict>"),
                xml("<dict>" ENT "Email Address</string><key>value</key><true/></dict>"),
                xml("<dict>" ENT "Date</string><key>value</key><string>1999</string></dict>"),
                xml("<dict>" ENT "Nonsense</string><key>value</key><string>x</string></dict>"),
                xml("<array><string>not a dict</string></array>"),
                plist_new_dict(),
        };
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        PimItem *bad = NULL;
        char *reason = NULL;

        ASSERT(giant);
        memset(giant, 'a', big);
        giant[big] = 0;
        plist_dict_set_item(kids[5], "com.apple.syncservices.RecordEntityName",
                            plist_new_string("com.apple.contacts.URL"));
        plist_dict_set_item(kids[5], "value", plist_new_string(giant));
        free(giant);

        ASSERT_OK(pim_from_records(PIM_CONTACT, &(PimRecords) { main_rec, kids,
                                                                ELEMENTSOF(kids) },
                                   NULL, &it, &reason));
        ASSERT(it);
        ASSERT_STREQ(pim_get(it, "middle name"), "Kept");
        ASSERT(pim_get(it, "first name") == NULL);
        ASSERT(pim_get(it, "last name") == NULL);
        ASSERT(pim_get(it, "birthday") == NULL);
        ASSERT(pim_get(it, "photo") == NULL);
        for (size_t i = 0; it && i < it->n_fields; i++)
                ASSERT(strlen(it->fields[i].value) <= PIM_MAX_VALUE);
        free(reason);
        reason = NULL;

        /* Not a Contact: a protocol error with a reason. */
        ASSERT_EQ(pim_from_records(PIM_CONTACT, &(PimRecords) { kids[0], NULL, 0 }, NULL,
                                   &bad, &reason), IDS_E_PROTOCOL);
        ASSERT(bad == NULL);
        free(reason);
        reason = NULL;
        ASSERT_EQ(pim_from_records(PIM_CONTACT, &(PimRecords) { kids[4], NULL, 0 }, NULL,
                                   &bad, &reason), IDS_E_PROTOCOL);
        free(reason);
        plist_free(main_rec);
        for (size_t i = 0; i < ELEMENTSOF(kids); i++)
                plist_free(kids[i]);
}

/* 5,000 contacts to records and back, equal, in well under a second of CPU. */
static void test_many(void) {
        clock_t t0 = clock();
        unsigned equal = 0;

        for (unsigned n = 0; n < 5000; n++) {
                _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_CONTACT), *back = NULL;
                _cleanup_free_ char *a = NULL, *b = NULL;
                plist_t main_rec = NULL, kids = NULL, list[8];
                plist_dict_iter iter = NULL;
                char buf[64];
                size_t k = 0;

                snprintf(buf, sizeof(buf), "Person %u", n);
                pim_add(it, "first name", buf);
                pim_add(it, "last name", "Sørensen");
                snprintf(buf, sizeof(buf), "mobile" S "+45 %08u", n);
                pim_add(it, "phone", buf);
                snprintf(buf, sizeof(buf), "Club" S "p%u@example.dk", n);
                pim_add(it, "email", buf);
                pim_add(it, "address", "work" S "Vej 1" S "Aarhus" S S "8000" S "Denmark" S "dk");
                pim_add(it, "birthday", "--03-14");
                if (pim_main_record(it, NULL, &main_rec) < 0 ||
                    pim_child_records(it, "1", "c", &kids) < 0)
                        break;
                plist_dict_new_iter(kids, &iter);
                for (;;) {
                        char *key = NULL;
                        plist_t v = NULL;

                        plist_dict_next_item(kids, iter, &key, &v);
                        if (!key)
                                break;
                        free(key);
                        if (k < ELEMENTSOF(list))
                                list[k++] = v;
                }
                free(iter);
                if (pim_from_records(PIM_CONTACT, &(PimRecords) { main_rec, list, k }, NULL,
                                     &back, NULL) == 0 &&
                    pim_canonical(it, &a) == 0 && pim_canonical(back, &b) == 0 &&
                    strcmp(a, b) == 0)
                        equal++;
                plist_free(main_rec);
                plist_free(kids);
        }
        ASSERT_EQ(equal, 5000u);
        /* Generous for ASan and two shared cores; the plain build takes a fraction. */
        ASSERT((double) (clock() - t0) / CLOCKS_PER_SEC < 5.0);
}

int main(void) {
        test_documented_shape();
        test_write_shape();
        test_hostile();
        test_many();
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
