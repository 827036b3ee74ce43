/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contacts as vCard text and as mobilesync records (lib/pim-vcard.c,
 * lib/pim-records-contacts.c): a contact with every field of the contract, every label form,
 * non-ASCII text, newlines and the characters vCard escapes comes back field for field from
 * vCard 4.0 and from records, and writing it again gives the same bytes; cards written by
 * other programs (Apple 3.0 with item groups and decorated labels, Google 3.0, Evolution
 * with quoted-printable, a 4.0 card with only FN) give the fields a person sees; lines
 * stay within 75 octets; hostile text (no END, NUL bytes, bad UTF-8, a card in a card,
 * garbage) is a clear refusal, never a crash. With an argument, writes the rich contact
 * as a vCard to that path (tests/engine/pim-vcard-vobject.test reads it with vobject).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim.h"
#include "plist-util.h"
#include "test-util.h"

static PimItem *rich(void) {
        PimItem *it = pim_item_new(PIM_CONTACT);
        const char *const multis[][8] = {
                { "phone", "mobile", "+33 6 12 34 56 78" },
                { "phone", "iphone", "+33 6 00 00 00 01" },
                { "phone", "home fax", "+33 1 00 00 00 02" },
                { "phone", "main", "+33 1 00 00 00 03" },
                { "phone", "Bateau ⛵", "+33 6 99 99 99 99" },
                { "phone", "", "+1 555 0100" },
                { "email", "home", "zoe@example.org" },
                { "email", "other", "zoe@other.example" },
                { "email", "work", "z.muller@work.example" },
                { "url", "homepage", "https://example.net/~zoë?q=a&b=ü,c" },
                { "im", "home", "Jabber", "zoe@jabber.example" },
                { "im", "work", "Skype", "zoe.skype" },
                { "date", "anniversary", "2015-06-20" },
                { "date", "first met", "--03-14" },
                { "related", "spouse", "Jean-Pierre" },
                { "address", "home", "Flat 2\n14 High Street", "München", "Bayern", "80331",
                  "Germany", "de" },
                { "address", "Ferienhaus", "12 Rue de l'Église; bât. B", "Paris", "", "75004",
                  "France", "" },
        };
        static const size_t counts[] = { 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 2, 2, 2, 7, 7 };

        pim_add(it, "first name", "Zoë");
        pim_add(it, "last name", "Müller-Łukasz");
        pim_add(it, "middle name", "Q.");
        pim_add(it, "prefix", "Dr.");
        pim_add(it, "suffix", "Jr.");
        pim_add(it, "nickname", "Zizou ⚽");
        pim_add(it, "first name phonetic", "ゾエ");
        pim_add(it, "last name phonetic", "ミュラー");
        pim_add(it, "organization", "Café Zoë & Söhne, Inc.");
        pim_add(it, "department", "R&D; Paris");
        pim_add(it, "job title", "Ingénieure en chef");
        pim_add(it, "notes", "Met at the conference.\nLikes crème brûlée 🍮; allergic to «nuts», "
                             "back\\slash.");
        pim_add(it, "birthday", "1984-02-29");
        pim_add(it, "photo", "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgAB"
                             "4iG8MwAAAABJRU5ErkJggg==");
        for (size_t i = 0; i < ELEMENTSOF(multis); i++)
                pim_add_multi(it, multis[i][0], &multis[i][1], counts[i]);
        it->uid = strdup("0D5C3A1E-1111-4F00-9A52-000000000001");
        return it;
}

static char *canon(PimItem *it) {
        char *s = NULL;

        ASSERT_OK(pim_canonical(it, &s));
        return s;
}

static void test_vcard_round_trip(void) {
        _cleanup_(pim_item_freep) PimItem *it = rich(), *back = NULL;
        _cleanup_free_ char *text = NULL, *text2 = NULL, *c1 = NULL, *c2 = NULL, *why = NULL;
        size_t len = 0, len2 = 0;

        ASSERT_OK(pim_vcard_write(it, &text, &len));
        ASSERT_EQ(strlen(text), len);
        ASSERT_TRUE(strncmp(text, "BEGIN:VCARD\r\nVERSION:4.0\r\n", 26) == 0);
        /* No physical line passes 75 octets. */
        for (const char *p = text; *p;) {
                const char *e = strstr(p, "\r\n");

                ASSERT_TRUE(e && e - p <= 75);
                if (!e)
                        break;
                p = e + 2;
        }
        ASSERT_TRUE(strstr(text, "TEL;TYPE=cell:+33 6 12 34 56 78\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "TEL;TYPE=fax,home:") != NULL);
        ASSERT_TRUE(strstr(text, ".X-ABLabel:iphone\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "ANNIVERSARY:20150620\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "X-ABDATE:--0314\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "BDAY:19840229\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "ORG:Café Zoë & Söhne\\, Inc.;R&D\\; Paris\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "UID:0D5C3A1E-1111-4F00-9A52-000000000001\r\n") != NULL);
        ASSERT_TRUE(strstr(text, "PHOTO:data:image/png;base64,") != NULL);

        ASSERT_OK(pim_vcard_parse(text, len, &back, &why));
        c1 = canon(it);
        c2 = canon(back);
        ASSERT_STREQ(c2, c1);
        ASSERT_STREQ(back->uid, it->uid);
        ASSERT_OK(pim_vcard_write(back, &text2, &len2));
        ASSERT_STREQ(text2, text);
}

static void test_records_round_trip(void) {
        _cleanup_(pim_item_freep) PimItem *it = rich(), *back = NULL;
        _cleanup_(plist_freep) plist_t main_rec = NULL, kids = NULL;
        _cleanup_free_ char *c1 = NULL, *c2 = NULL, *why = NULL;
        plist_t list[64];
        plist_dict_iter iter = NULL;
        size_t n = 0;
        plist_t v;

        ASSERT_OK(pim_main_record(it, NULL, &main_rec));
        ASSERT_STREQ(plist_get_string_ptr(plist_dict_get_item(main_rec,
                        "com.apple.syncservices.RecordEntityName"), NULL),
                     "com.apple.contacts.Contact");
        ASSERT_STREQ(plist_get_string_ptr(plist_dict_get_item(main_rec, "company name"), NULL),
                     "Café Zoë & Söhne, Inc.");
        ASSERT_OK(pim_child_records(it, "42", "c1-", &kids));
        ASSERT_EQ(plist_dict_get_size(kids), 17);
        v = plist_dict_get_item(kids, "c1-1");
        ASSERT_TRUE(v != NULL);
        plist_dict_new_iter(kids, &iter);
        for (;;) {
                char *key = NULL;
                plist_t x = NULL;
                plist_t link;

                plist_dict_next_item(kids, iter, &key, &x);
                free(key);
                if (!x)
                        break;
                link = plist_dict_get_item(x, "contact");
                ASSERT_TRUE(link && plist_array_get_size(link) == 1 &&
                            strcmp(plist_get_string_ptr(plist_array_get_item(link, 0), NULL),
                                   "42") == 0);
                /* A custom label travels as "label" with type "other". */
                if (plist_dict_get_item(x, "label"))
                        ASSERT_STREQ(plist_get_string_ptr(plist_dict_get_item(x, "type"), NULL),
                                     "other");
                list[n++] = x;
        }
        free(iter);
        ASSERT_OK(pim_from_records(PIM_CONTACT, &(PimRecords) { main_rec, list, n }, NULL, &back,
                                   &why));
        c1 = canon(it);
        c2 = canon(back);
        ASSERT_STREQ(c2, c1);
        /* Not a contact: refused with a reason. */
        {
                _cleanup_(pim_item_freep) PimItem *x = NULL;
                _cleanup_free_ char *reason = NULL;
                plist_t bad = plist_new_dict();

                ASSERT_EQ(pim_from_records(PIM_CONTACT, &(PimRecords) { bad, NULL, 0 }, NULL, &x,
                                           &reason), IDS_E_PROTOCOL);
                ASSERT_TRUE(reason != NULL);
                plist_free(bad);
        }
}

static PimItem *parse_ok(const char *text) {
        PimItem *it = NULL;
        _cleanup_free_ char *why = NULL;
        int r = pim_vcard_parse(text, strlen(text), &it, &why);

        if (r != 0)
                printf("parse: %d %s\n", r, why ? why : "");
        ASSERT_EQ(r, 0);
        return it;
}

static void test_other_programs(void) {
        /* Apple Contacts 3.0: item groups, decorated labels, X-ABADR, a folded PHOTO. */
        static const char apple[] =
                "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//macOS 14.0//EN\r\n"
                "N:Lovelace;Ada;;;\r\nFN:Ada Lovelace\r\nORG:Analytical Engines;\r\n"
                "item1.TEL;type=pref:+44 20 0000 0001\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n"
                "TEL;type=CELL;type=VOICE;type=pref:+44 7700 900001\r\n"
                "TEL;type=IPHONE;type=CELL;type=VOICE:+44 7700 900002\r\n"
                "EMAIL;type=INTERNET;type=HOME;type=pref:ada@example.org\r\n"
                "item2.ADR;type=HOME:;;12 St James's Sq;London;;SW1Y 4JH;United Kingdom\r\n"
                "item2.X-ABADR:gb\r\nitem3.URL:https://example.org/ada\r\n"
                "item3.X-ABLabel:_$!<HomePage>!$_\r\nitem4.X-ABDATE:1835-07-08\r\n"
                "item4.X-ABLabel:_$!<Anniversary>!$_\r\nBDAY;value=date:1815-12-10\r\n"
                "NOTE:First programmer\\nof the world\r\n"
                "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgICAgMCAgIDAw\r\n"
                " MDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwSExIQEw8QEBD/\r\n"
                "X-ABShowAs:PERSON\r\nEND:VCARD\r\n";
        /* Google 3.0 export with a custom TYPE and no labels. */
        static const char google[] =
                "BEGIN:VCARD\nVERSION:3.0\nFN:Grace Hopper\nN:Hopper;Grace;;;\n"
                "EMAIL;TYPE=INTERNET;TYPE=WORK:grace@navy.example\nTEL;TYPE=CELL:+1 555 0199\n"
                "TEL:+1 555 0100\nitem1.URL:http\\://www.navy.example\nitem1.X-ABLabel:\n"
                "CATEGORIES:myContacts\nEND:VCARD\n";
        /* Evolution (2.1-style quoted-printable with a soft break, X-EVOLUTION dates). */
        static const char evolution[] =
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:pas-id-1\r\n"
                "N;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:M=C3=BCller;J=C3=BCrgen;;;\r\n"
                "FN:J=C3=BCrgen M=C3=BCller\r\n"
                "NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Gr=C3=BC=C3=9Fe=20=\r\n"
                "aus M=C3=BCnchen\r\nX-EVOLUTION-ANNIVERSARY:2001-05-05\r\n"
                "X-JABBER;TYPE=HOME:juergen@jabber.example\r\nEND:VCARD\r\n";
        /* A 4.0 card with FN only, KIND:org, IMPP. */
        static const char fn_only[] =
                "BEGIN:VCARD\r\nVERSION:4.0\r\nKIND:org\r\nFN:Acme\\, Inc.\r\n"
                "TEL;VALUE=uri;TYPE=work:tel:+1-555-0123\r\n"
                "IMPP;TYPE=work:xmpp:sales@acme.example\r\nEND:VCARD\r\n";
        _cleanup_(pim_item_freep) PimItem *a = parse_ok(apple), *g = parse_ok(google),
                                          *e = NULL, *f = parse_ok(fn_only);
        const char *v;

        if (a) {
                ASSERT_STREQ(pim_get(a, "first name"), "Ada");
                ASSERT_STREQ(pim_get(a, "organization"), "Analytical Engines");
                ASSERT_STREQ(pim_get(a, "birthday"), "1815-12-10");
                ASSERT_STREQ(pim_get(a, "notes"), "First programmer\nof the world");
                ASSERT_TRUE(pim_get(a, "photo") != NULL);
                ASSERT_TRUE(pim_get(a, "kind") == NULL);
                /* every multi value, as canonical text lines */
                {
                        _cleanup_free_ char *c = canon(a);

                        ASSERT_TRUE(strstr(c, "phone=other\x1f+44 20 0000 0001\n") != NULL);
                        ASSERT_TRUE(strstr(c, "phone=mobile\x1f+44 7700 900001\n") != NULL);
                        ASSERT_TRUE(strstr(c, "phone=iphone\x1f+44 7700 900002\n") != NULL);
                        ASSERT_TRUE(strstr(c, "email=home\x1f" "ada@example.org\n") != NULL);
                        ASSERT_TRUE(strstr(c, "address=home\x1f" "12 St James's Sq\x1fLondon\x1f"
                                              "\x1fSW1Y 4JH\x1fUnited Kingdom\x1fgb\n") != NULL);
                        ASSERT_TRUE(strstr(c, "url=homepage\x1fhttps://example.org/ada\n") != NULL);
                        ASSERT_TRUE(strstr(c, "date=anniversary\x1f" "1835-07-08\n") != NULL);
                }
        }
        if (g) {
                _cleanup_free_ char *c = canon(g);

                ASSERT_TRUE(strstr(c, "email=work\x1fgrace@navy.example\n") != NULL);
                ASSERT_TRUE(strstr(c, "phone=mobile\x1f+1 555 0199\n") != NULL);
                ASSERT_TRUE(strstr(c, "phone=\x1f+1 555 0100\n") != NULL);
                ASSERT_TRUE(strstr(c, "url=\x1fhttp://www.navy.example\n") != NULL);
        }
        ASSERT_OK(pim_vcard_parse(evolution, strlen(evolution), &e, NULL));
        if (e) {
                ASSERT_STREQ(pim_get(e, "first name"), "Jürgen");
                ASSERT_STREQ(pim_get(e, "notes"), "Grüße aus München");
                ASSERT_STREQ(e->uid, "pas-id-1");
                v = pim_get(e, "im");
                ASSERT_STREQ(v, "home\x1fJabber\x1fjuergen@jabber.example");
                ASSERT_STREQ(pim_get(e, "date"), "anniversary\x1f" "2001-05-05");
        }
        if (f) {
                ASSERT_STREQ(pim_get(f, "kind"), "company");
                ASSERT_STREQ(pim_get(f, "first name"), "Acme, Inc.");
                ASSERT_STREQ(pim_get(f, "im"), "work\x1fJabber\x1fsales@acme.example");
                ASSERT_STREQ(pim_get(f, "phone"), "work\x1f+1-555-0123");
        }
}

static void test_hostile(void) {
        static const struct {
                const char *text;
                size_t len;                     /* 0: strlen */
        } bad[] = {
                { "", 0 },
                { "hello world", 0 },
                { "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\n", 0 },                     /* no END */
                { "BEGIN:VCARD\r\nFN:a\0b\r\nEND:VCARD\r\n", 28 },                    /* NUL */
                { "BEGIN:VCARD\r\nFN:\xff\xfe\r\nEND:VCARD\r\n", 0 },                 /* not UTF-8 */
                { "BEGIN:VCARD\r\nBEGIN:VCARD\r\nEND:VCARD\r\nEND:VCARD\r\n", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                PimItem *it = NULL;
                char *why = NULL;
                int r = pim_vcard_parse(bad[i].text, bad[i].len ? bad[i].len : strlen(bad[i].text),
                                        &it, &why);

                if (r != IDS_E_PROTOCOL)
                        printf("case %zu: %d\n", i, r);
                ASSERT_EQ(r, IDS_E_PROTOCOL);
                ASSERT_TRUE(it == NULL);
                ASSERT_TRUE(why != NULL);
                free(why);
        }
        {
                /* Oddities that are still a card: garbage lines, a bad date, bad base64, a
                 * parameter with an unterminated quote, an empty N. */
                static const char odd[] =
                        "BEGIN:VCARD\r\n\x01\x02 garbage\r\n:novalue\r\nN:;;;;\r\nFN:Odd\r\n"
                        "BDAY:not a date\r\nPHOTO;ENCODING=b:!!!!\r\nTEL;TYPE=\"cell:+1\r\n"
                        "EMAIL:odd@example.org\r\nEND:VCARD\r\n";
                _cleanup_(pim_item_freep) PimItem *it = parse_ok(odd);

                if (it) {
                        ASSERT_STREQ(pim_get(it, "first name"), "Odd");
                        ASSERT_TRUE(pim_get(it, "birthday") == NULL);
                        ASSERT_TRUE(pim_get(it, "photo") == NULL);
                        ASSERT_STREQ(pim_get(it, "email"), "\x1fodd@example.org");
                }
        }
        {
                /* A long line of one multi-byte character folds on character boundaries. */
                _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_CONTACT), *back = NULL;
                _cleanup_free_ char *text = NULL, *c1 = NULL, *c2 = NULL;
                char note[3 * 200 + 1];
                size_t len = 0;

                for (int i = 0; i < 200; i++)
                        memcpy(note + 3 * i, "€", 3);
                note[600] = 0;
                pim_add(it, "first name", "Long");
                pim_add(it, "notes", note);
                ASSERT_OK(pim_vcard_write(it, &text, &len));
                ASSERT_OK(pim_vcard_parse(text, len, &back, NULL));
                c1 = canon(it);
                c2 = back ? canon(back) : NULL;
                ASSERT_STREQ(c2, c1);
        }
}

int main(int argc, char **argv) {
        if (argc > 1) {
                _cleanup_(pim_item_freep) PimItem *it = rich();
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                FILE *f;

                if (pim_vcard_write(it, &text, &len) < 0 || !(f = fopen(argv[1], "w")))
                        return 1;
                fwrite(text, 1, len, f);
                return fclose(f) == 0 ? 0 : 1;
        }
        test_vcard_round_trip();
        test_records_round_trip();
        test_other_programs();
        test_hostile();
        return test_exit_status();
}
