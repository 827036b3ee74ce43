/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the plist decoding lib/ does itself on device data (Status.plist in
 * lib/backup.c): "bplist00" inputs go to plist_from_bin(), everything else to
 * plist_from_xml(), and the tree is walked reading strings only through the length-checked
 * accessor pattern of docs/testing.md §7 (plist_get_string_ptr() and strlen() == len),
 * never plist_get_string_val(), which asserts on a NUL inside a string in libplist 2.2.0.
 * It guards that pattern and libplist's parsers against hostile input. Dict keys are read
 * only after plist_dict_keys_safe() (lib/plist-util.c) passed, as lib/devicelink.c does:
 * libplist 2.2.0 has no length-checked key accessor, and plist_dict_next_item() with a key
 * pointer asserts on a UTF-16 key holding U+0000 (corpus/plist/utf16-nul-key.bin).
 */

#include <plist/plist.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plist-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static const char *string_checked(plist_t n) {
        uint64_t len = 0;
        const char *s = plist_get_string_ptr(n, &len);

        return s && strlen(s) == len ? s : NULL;
}

static void walk(plist_t n, unsigned depth) {
        if (!n || depth > 64)
                return;
        switch (plist_get_node_type(n)) {
        case PLIST_STRING: {
                const char *s = string_checked(n);

                if (s)
                        sink += strlen(s);
                break;
        }
        case PLIST_ARRAY:
                for (uint32_t i = 0; i < plist_array_get_size(n); i++)
                        walk(plist_array_get_item(n, i), depth + 1);
                break;
        case PLIST_DICT: {
                plist_dict_iter it = NULL;
                plist_t v = NULL;
                bool keys = plist_dict_keys_safe(n);

                plist_dict_new_iter(n, &it);
                if (!it)
                        break;
                for (;;) {
                        char *key = NULL;

                        plist_dict_next_item(n, it, keys ? &key : NULL, &v);
                        if (!v)
                                break;
                        if (key)
                                sink += strlen(key);
                        free(key);
                        walk(v, depth + 1);
                }
                free(it);
                break;
        }
        default:
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        plist_t root = NULL;

        if (size == 0 || size > (1U << 20))
                return 0;
        if (size >= 8 && memcmp(data, "bplist00", 8) == 0)
                plist_from_bin((const char *) data, (uint32_t) size, &root);
        else
                plist_from_xml((const char *) data, (uint32_t) size, &root);
        if (!root)
                return 0;
        walk(root, 0);
        plist_free(root);
        return 0;
}
