/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of common/udid.c: which strings are UDIDs, the one canonical spelling (the
 * form usbmuxd reports), case-insensitive equality and the USB serial → UDID mapping.
 */
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "udid.h"

static void test_valid(void) {
        static const struct {
                const char *s;
                bool valid;
        } cases[] = {
                { "00008030-0000000000000ABC", true },
                { "00008030-0000000000000abc", true },
                { "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8", true },
                { "abc", true },
                { "", false },
                { "00008030-000000000000ABCG", false },
                { "../etc", false },
                { "0000 8030", false },
                { "x0000000000000000000000000000000000000000000000000000000000000000", false },
        };
        char max[UDID_MAX + 2];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                ASSERT_EQ(udid_is_valid(cases[i].s), cases[i].valid);
        ASSERT_EQ(udid_is_valid(NULL), false);
        memset(max, 'a', UDID_MAX);
        max[UDID_MAX] = 0;
        ASSERT_EQ(udid_is_valid(max), true);
        max[UDID_MAX] = 'a';
        max[UDID_MAX + 1] = 0;
        ASSERT_EQ(udid_is_valid(max), false);
}

static void test_canonicalize(void) {
        static const struct {
                const char *in, *out;
                bool changed;
        } cases[] = {
                /* Dashed: upper case, as usbmuxd turns the USB serial into it. */
                { "00008030-0000000000000abc", "00008030-0000000000000ABC", true },
                { "00008030-0000000000000ABC", "00008030-0000000000000ABC", false },
                { "00008030-0000000000000aBc", "00008030-0000000000000ABC", true },
                /* 40 hex digits: lower case. */
                { "00008030001A2B3C4D5E6F708192A3B4C5D6E7F8",
                  "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8", true },
                { "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8",
                  "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8", false },
                /* Other valid forms are left as they are. */
                { "abc-DEF", "abc-DEF", false },
                { "0000803-00000000000000abc", "0000803-00000000000000abc", false },
                /* Not a UDID: untouched. */
                { "xyz", "xyz", false },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[128];

                snprintf(buf, sizeof(buf), "%s", cases[i].in);
                ASSERT_EQ(udid_canonicalize(buf), cases[i].changed);
                ASSERT_STREQ(buf, cases[i].out);
                /* Idempotent. */
                ASSERT_EQ(udid_canonicalize(buf), false);
        }
}

static void test_canonical_copy(void) {
        char buf[UDID_MAX + 1] = "untouched";

        ASSERT_TRUE(udid_canonical_copy("00008030-0000000000000abc", buf) == buf);
        ASSERT_STREQ(buf, "00008030-0000000000000ABC");
        snprintf(buf, sizeof(buf), "untouched");
        ASSERT_TRUE(udid_canonical_copy("../etc", buf) == NULL);
        ASSERT_TRUE(udid_canonical_copy(NULL, buf) == NULL);
        ASSERT_STREQ(buf, "untouched");
}

static void test_equal(void) {
        ASSERT_EQ(udid_equal("00008030-0000000000000abc", "00008030-0000000000000ABC"), true);
        ASSERT_EQ(udid_equal("00008030-0000000000000abc", "00008030-0000000000000abd"), false);
        ASSERT_EQ(udid_equal("abc", "abcd"), false);
        ASSERT_EQ(udid_equal(NULL, "abc"), false);
}

static void test_usb_serial(void) {
        static const struct {
                const char *serial, *udid;
        } cases[] = {
                { "000080300000000000000abc", "00008030-0000000000000ABC" },
                { "000080300000000000000ABC", "00008030-0000000000000ABC" },
                { "00008030001A2B3C4D5E6F708192A3B4C5D6E7F8",
                  "00008030001a2b3c4d5e6f708192a3b4c5d6e7f8" },
                { "00008030000000000000abc", NULL },            /* 23 digits */
                { "000080300000000000000abg", NULL },
                { "", NULL },
                { NULL, NULL },
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                char buf[UDID_MAX + 1] = "untouched";

                ASSERT_EQ(udid_from_usb_serial(cases[i].serial, buf, sizeof(buf)),
                          cases[i].udid != NULL);
                ASSERT_STREQ(buf, cases[i].udid ?: "untouched");
        }
        /* Too small a buffer is refused, not overrun. */
        {
                char small[10] = "untouched";

                ASSERT_EQ(udid_from_usb_serial("000080300000000000000abc", small, sizeof(small)),
                          false);
                ASSERT_STREQ(small, "untouched");
        }
}

int main(void) {
        test_valid();
        test_canonicalize();
        test_canonical_copy();
        test_equal();
        test_usb_serial();
        return test_exit_status();
}
