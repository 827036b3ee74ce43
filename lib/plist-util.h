/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading plists from a device without tripping libplist 2.2.0's assertions (plist-util.c). */
#pragma once

#include <stdbool.h>

#include <plist/plist.h>

/* Whether every key of dict (and of dicts nested in it) can be read without libplist
 * 2.2.0 aborting: plist_dict_next_item() asserts on a key with an embedded NUL, which a
 * binary plist from a device can carry. Checked through plist_to_xml(), which writes keys
 * with their full length. */
bool plist_dict_keys_safe(plist_t dict);

/* Call fn with each key (borrowed for the call) and value of dict, in libplist's order,
 * until fn returns non-zero, which is returned. The keys must be safe to read
 * (plist_dict_keys_safe() for a dict from a device). */
int plist_dict_foreach(plist_t dict, int (*fn)(const char *key, plist_t value, void *userdata),
                       void *userdata);

static inline void plist_freep(plist_t *p) {
        if (*p)
                plist_free(*p);
}
