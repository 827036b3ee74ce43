/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PimItem bag (lib/pim.c): scalars replace, multis accumulate, empty values are no
 * field; the canonical text is order-free, escapes newlines and backslashes and reads back
 * to the same item; the hash follows the content, not the uid; the three-way merge takes
 * each side's change and flags a scalar changed on both; the two-way merge is the union;
 * identity by folded name plus a phone (last 9 digits) or email, events by uid or summary
 * and start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "pim.h"
#include "test-util.h"

static PimItem *contact(const char *first, const char *last, const char *phone,
                        const char *email) {
        PimItem *it = pim_item_new(PIM_CONTACT);
        const char *p[2] = {"mobile", phone}, *e[2] = {"home", email};

        pim_add(it, "first name", first);
        pim_add(it, "last name", last);
        if (phone)
                pim_add_multi(it, "phone", p, 2);
        if (email)
                pim_add_multi(it, "email", e, 2);
        return it;
}

static char *canon(PimItem *it) {
        char *s = NULL;

        ASSERT_OK(pim_canonical(it, &s));
        return s;
}

static void test_build(void) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(PIM_CONTACT);
        const char *addr[7] = {"home", "Flat 2\n14 High St", "Lond\x1fon", NULL, "", NULL, NULL};
        const char *empty[3] = {"work", "", NULL};
        _cleanup_free_ char *buf = NULL;
        const char *comp[8];
        size_t n = 0;

        ASSERT_OK(pim_add(it, "first name", "Ada  "));
        ASSERT_OK(pim_add(it, "first name", "Augusta"));
        ASSERT_OK(pim_add(it, "notes", ""));
        ASSERT_OK(pim_add(it, "notes", NULL));
        ASSERT_STREQ(pim_get(it, "first name"), "Augusta");
        ASSERT_TRUE(pim_get(it, "notes") == NULL);
        ASSERT_OK(pim_add_multi(it, "address", addr, 7));
        ASSERT_OK(pim_add_multi(it, "phone", empty, 3));
        ASSERT_TRUE(pim_get(it, "phone") == NULL);
        ASSERT_OK(pim_split(pim_get(it, "address"), &buf, comp, 8, &n));
        ASSERT_EQ(n, 7);
        ASSERT_STREQ(comp[1], "Flat 2\n14 High St");
        ASSERT_STREQ(comp[2], "Lond on");
        ASSERT_STREQ(comp[6], "");
        ASSERT_EQ(pim_add(it, "", "x"), -EINVAL);
        ASSERT_TRUE(pim_field_multi(PIM_CONTACT, "email"));
        ASSERT_TRUE(!pim_field_multi(PIM_CONTACT, "birthday"));
        ASSERT_TRUE(pim_field_multi(PIM_EVENT, "attendee"));
        ASSERT_TRUE(!pim_field_multi(PIM_EVENT, "email"));
}

static void test_canonical(void) {
        _cleanup_(pim_item_freep) PimItem *a = contact("Zoë", "Müller", "+33 1 23 45 67 89", NULL);
        _cleanup_(pim_item_freep) PimItem *b = pim_item_new(PIM_CONTACT), *back = NULL;
        _cleanup_free_ char *ca = NULL, *cb = NULL, *cback = NULL;
        const char *p[2] = {"mobile", "+33 1 23 45 67 89"};
        char ha[PIM_HASH_HEX], hb[PIM_HASH_HEX];

        pim_add(a, "notes", "line 1\nback\\slash = x");
        /* Same fields, other order, a duplicate multi value, another uid. */
        pim_add(b, "notes", "line 1\nback\\slash = x");
        pim_add_multi(b, "phone", p, 2);
        pim_add_multi(b, "phone", p, 2);
        pim_add(b, "last name", "Müller");
        pim_add(b, "first name", "Zoë");
        b->uid = strdup("other-uid");
        ca = canon(a);
        cb = canon(b);
        ASSERT_STREQ(ca, cb);
        ASSERT_TRUE(strstr(ca, "notes=line 1\\nback\\\\slash = x\n") != NULL);
        ASSERT_OK(pim_hash(a, ha));
        ASSERT_OK(pim_hash(b, hb));
        ASSERT_STREQ(ha, hb);
        ASSERT_EQ(strlen(ha), 64);
        ASSERT_OK(pim_from_canonical(PIM_CONTACT, ca, &back));
        cback = canon(back);
        ASSERT_STREQ(cback, ca);
        pim_add(b, "nickname", "Z");
        ASSERT_OK(pim_hash(b, hb));
        ASSERT_TRUE(strcmp(ha, hb) != 0);
        pim_item_free(back);
        back = NULL;
        ASSERT_EQ(pim_from_canonical(PIM_CONTACT, "no equals\n", &back), -EINVAL);
        ASSERT_EQ(pim_from_canonical(PIM_CONTACT, "a=b", &back), -EINVAL);
        ASSERT_EQ(pim_from_canonical(PIM_CONTACT, "a=b\\q\n", &back), -EINVAL);
        ASSERT_OK(pim_from_canonical(PIM_CONTACT, "", &back));
        ASSERT_EQ(back->n_fields, 0);
}

static void test_merge3(void) {
        _cleanup_(pim_item_freep) PimItem *base = contact("Ada", "Lovelace", "111", "ada@x");
        _cleanup_(pim_item_freep) PimItem *a = pim_item_copy(base), *b = pim_item_copy(base);
        _cleanup_(pim_item_freep) PimItem *m = NULL, *m2 = NULL;
        const char *p2[2] = {"work", "222"}, *p1[2] = {"mobile", "111"}, *e[2] = {"work", "a@w"};
        bool conflict = true;

        /* a: new nickname, phone 111 removed; b: a work phone and email added, job title. */
        pim_add(a, "nickname", "Countess");
        pim_remove(a, "phone");
        pim_add_multi(b, "phone", p2, 2);
        pim_add_multi(b, "email", e, 2);
        pim_add(b, "job title", "Analyst");
        ASSERT_OK(pim_merge(base, a, b, &m, &conflict));
        ASSERT_TRUE(!conflict);
        ASSERT_STREQ(pim_get(m, "nickname"), "Countess");
        ASSERT_STREQ(pim_get(m, "job title"), "Analyst");
        ASSERT_STREQ(pim_get(m, "phone"), "work\x1f" "222");
        ASSERT_EQ(m->n_fields, 7); /* first, last, nickname, job, phone 222, 2 emails */

        /* The same scalar changed on both sides, differently: a conflict, a's value. */
        pim_add(a, "first name", "Augusta");
        pim_add(b, "first name", "Ava");
        ASSERT_OK(pim_merge(base, a, b, &m2, &conflict));
        ASSERT_TRUE(conflict);
        ASSERT_STREQ(pim_get(m2, "first name"), "Augusta");
        pim_item_free(m2);
        /* Changed on both to the same value: no conflict. */
        pim_add(b, "first name", "Augusta");
        ASSERT_OK(pim_merge(base, a, b, &m2, &conflict));
        ASSERT_TRUE(!conflict);
        pim_item_free(m2);
        /* A scalar removed on one side and unchanged on the other: removed. */
        pim_remove(a, "last name");
        ASSERT_OK(pim_merge(base, a, b, &m2, &conflict));
        ASSERT_TRUE(pim_get(m2, "last name") == NULL);
        (void) p1;
}

static void test_merge2(void) {
        _cleanup_(pim_item_freep) PimItem *a = contact("Ada", "Lovelace", "111", NULL);
        _cleanup_(pim_item_freep) PimItem *b = contact("Ada", "Lovelace", "222", "ada@x");
        _cleanup_(pim_item_freep) PimItem *m = NULL, *m2 = NULL;
        bool conflict = true;

        pim_add(b, "notes", "from b");
        ASSERT_OK(pim_merge(NULL, a, b, &m, &conflict));
        ASSERT_TRUE(!conflict);
        ASSERT_STREQ(pim_get(m, "notes"), "from b");
        ASSERT_EQ(m->n_fields, 6);
        pim_add(a, "notes", "from a");
        ASSERT_OK(pim_merge(NULL, a, b, &m2, &conflict));
        ASSERT_TRUE(conflict);
}

static void test_identity(void) {
        _cleanup_(pim_item_freep) PimItem *a = contact("Zoë", "Müller", "+33 6 12 34 56 78", NULL);
        _cleanup_(pim_item_freep) PimItem *b = contact("ZOË ", " müller", "06 12 34 56 78", NULL);
        _cleanup_(pim_item_freep) PimItem *c = contact("Zoë", "Müller", "+33 6 99 99 99 99", NULL);
        _cleanup_(pim_item_freep) PimItem *d = contact("Zoë", "Müller", NULL, "ZOE@EXAMPLE.COM");
        _cleanup_(pim_item_freep) PimItem *e = contact("Zoë", "Müller", "+1 555", "zoe@example.com");
        _cleanup_(pim_item_freep) PimItem *f = contact("Zoë", "Müller", NULL, NULL);
        _cleanup_(pim_item_freep) PimItem *g = contact("Zoë", "Müller", NULL, NULL);
        _cleanup_(pim_item_freep) PimItem *x = pim_item_new(PIM_EVENT), *y = pim_item_new(PIM_EVENT);
        char buf[64];

        ASSERT_TRUE(pim_same_identity(a, b));
        ASSERT_TRUE(!pim_same_identity(a, c));
        ASSERT_TRUE(pim_same_identity(d, e));
        ASSERT_TRUE(!pim_same_identity(a, d));
        ASSERT_TRUE(pim_same_identity(f, g));
        ASSERT_TRUE(!pim_same_identity(f, a));
        ASSERT_STREQ(pim_display_name(a, buf, sizeof(buf)), "Zoë Müller");
        pim_add(x, "summary", "Stand-up");
        pim_add(x, "start", "2026-12-04T09:00:00Z");
        pim_add(y, "summary", "Stand-up");
        pim_add(y, "start", "2026-12-04T09:00:00Z");
        ASSERT_TRUE(pim_same_identity(x, y));
        pim_add(y, "start", "2026-12-05T09:00:00Z");
        ASSERT_TRUE(!pim_same_identity(x, y));
        x->uid = strdup("u1");
        y->uid = strdup("u1");
        ASSERT_TRUE(pim_same_identity(x, y));
        ASSERT_TRUE(!pim_same_identity(x, a));
}

static void test_base64(void) {
        static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
        static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                             "Zm9vYmFy" };

        for (size_t i = 0; i < ELEMENTSOF(plain); i++) {
                _cleanup_free_ char *e = pim_base64_encode(plain[i], strlen(plain[i]));
                _cleanup_free_ char *d = NULL;
                size_t n = 99;

                ASSERT_STREQ(e, coded[i]);
                d = pim_base64_decode(coded[i], &n);
                ASSERT_TRUE(d != NULL);
                ASSERT_EQ(n, strlen(plain[i]));
                ASSERT_TRUE(d && memcmp(d, plain[i], n) == 0);
        }
        {
                /* Line breaks and missing padding are fine; other bytes are not. */
                _cleanup_free_ char *d = NULL, *bad = NULL, *bad2 = NULL;
                size_t n = 0;

                d = pim_base64_decode("Zm9v\r\n YmE", &n);
                ASSERT_TRUE(d && n == 5 && memcmp(d, "fooba", 5) == 0);
                bad = pim_base64_decode("Zm9v!", &n);
                ASSERT_TRUE(bad == NULL);
                bad2 = pim_base64_decode("Zm9vY", &n);
                ASSERT_TRUE(bad2 == NULL);
        }
}

int main(void) {
        test_build();
        test_canonical();
        test_merge3();
        test_merge2();
        test_identity();
        test_base64();
        return test_exit_status();
}
