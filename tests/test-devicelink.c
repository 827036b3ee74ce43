/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of lib/plist-util.c: the screen that keeps libplist 2.2.0 from aborting on
 * dict keys with an embedded NUL (used by lib/devicelink.c before it reads move requests) (found by tests/fuzz/fuzz-plist), on the
 * fuzzer's reproducer and on ordinary move requests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plist/plist.h>

#include "plist-util.h"
#include "test-util.h"

static plist_t load_bin(const char *path) {
        char buf[4096];
        plist_t p = NULL;
        size_t n;
        FILE *f = fopen(path, "rbe");

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        plist_from_bin(buf, (uint32_t) n, &p);
        return p;
}

int main(void) {
        const char *top = getenv("TOP") ?: ".";
        char path[4096];
        plist_t msg, d, nested;

        /* The reproducer: ["DLMessageMoveItems", {"é\0": "b"}] with a UTF-16 key. */
        snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/plist/utf16-nul-key.bin", top);
        msg = load_bin(path);
        ASSERT_TRUE(msg != NULL);
        if (msg) {
                d = plist_array_get_item(msg, 1);
                ASSERT_TRUE(d && plist_get_node_type(d) == PLIST_DICT);
                ASSERT_TRUE(!plist_dict_keys_safe(d));
                plist_free(msg);
        }

        /* An ordinary move request passes, also with UTF-8 and nested dicts. */
        d = plist_new_dict();
        plist_dict_set_item(d, "U/Snapshot/ab/ab12", plist_new_string("U/ab/ab12"));
        plist_dict_set_item(d, "U/Snapshot/Café ☕", plist_new_string("U/x"));
        nested = plist_new_dict();
        plist_dict_set_item(nested, "inner", plist_new_bool(1));
        plist_dict_set_item(d, "U/nested", nested);
        ASSERT_TRUE(plist_dict_keys_safe(d));
        plist_free(d);

        d = plist_new_dict();
        ASSERT_TRUE(plist_dict_keys_safe(d));
        plist_free(d);
        return test_exit_status();
}
