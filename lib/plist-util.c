/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libplist 2.2.0 asserts (Debian keeps asserts on) when a string or key it hands out holds
 * a NUL byte. Strings can be read length-checked with plist_get_string_ptr(); keys cannot,
 * so a dict from a device is screened here before its keys are read. Found by
 * tests/fuzz/fuzz-plist (corpus/plist/utf16-nul-key.bin).
 */
#include <stdlib.h>
#include <string.h>

#include "plist-util.h"

bool plist_dict_keys_safe(plist_t dict) {
        char *xml = NULL;
        uint32_t len = 0;
        bool ok;

        plist_to_xml(dict, &xml, &len);
        ok = xml && strlen(xml) == len;
        free(xml);
        return ok;
}

int plist_dict_foreach(plist_t dict, int (*fn)(const char *key, plist_t value, void *userdata),
                       void *userdata) {
        plist_dict_iter it = NULL;
        int r = 0;

        plist_dict_new_iter(dict, &it);
        if (!it)
                return 0;
        for (;;) {
                char *key = NULL;
                plist_t v = NULL;

                plist_dict_next_item(dict, it, &key, &v);
                if (!v) {
                        free(key);
                        break;
                }
                r = fn(key, v, userdata);
                free(key);
                if (r != 0)
                        break;
        }
        free(it);
        return r;
}
