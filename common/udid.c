/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UDID validation and the canonical spelling (see udid.h for the rules and why).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "udid.h"

#define HEX "0123456789abcdefABCDEF"

bool udid_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n > 0 && n <= UDID_MAX && strspn(s, HEX "-") == n;
}

static bool is_dashed(const char *s) {
        return strlen(s) == 25 && s[8] == '-' && strspn(s, HEX) == 8 &&
               strspn(s + 9, HEX) == 16;
}

static bool is_hex40(const char *s) {
        return strlen(s) == 40 && strspn(s, HEX) == 40;
}

bool udid_canonicalize(char *s) {
        bool changed = false;
        int (*conv)(int);

        if (!udid_is_valid(s))
                return false;
        if (is_dashed(s))
                conv = toupper;
        else if (is_hex40(s))
                conv = tolower;
        else
                return false;
        for (; *s; s++) {
                char c = (char) conv((unsigned char) *s);

                changed |= c != *s;
                *s = c;
        }
        return changed;
}

char *udid_canonical_copy(const char *s, char *buf) {
        if (!udid_is_valid(s))
                return NULL;
        strcpy(buf, s);
        (void) udid_canonicalize(buf);
        return buf;
}

bool udid_equal(const char *a, const char *b) {
        return a && b && strcasecmp(a, b) == 0;
}

bool udid_from_usb_serial(const char *serial, char *buf, size_t n) {
        size_t len = serial ? strlen(serial) : 0;

        if (len == 24 && strspn(serial, HEX) == 24 && n > 25)
                snprintf(buf, n, "%.8s-%.16s", serial, serial + 8);
        else if (len == 40 && strspn(serial, HEX) == 40 && n > 40)
                snprintf(buf, n, "%s", serial);
        else
                return false;
        (void) udid_canonicalize(buf);
        return true;
}
