/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the iCalendar reader (lib/pim-ical.c): the input is a .ics file a
 * user or a CalDAV tool dropped into the calendars directory. Whatever pim_ical_parse()
 * accepts must write (pim_ical_write()) and read back to the same canonical text and uid,
 * so a file read once is a fixed point of the sync; what it refuses must come with
 * IDS_E_PROTOCOL or -ENOMEM. Nothing may crash, hang, read out of bounds or leak.
 * Build: clang -fsanitize=fuzzer,address,undefined -Ilib -Icommon tests/fuzz/fuzz-ical.c
 * lib/pim-ical.c lib/pim.c $(pkg-config --cflags --libs libical openssl) -lunistring.
 * Seeds: tests/fuzz/corpus/ical (files in the styles of Thunderbird, Google, Outlook,
 * Apple, and one of our own writer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idevicesync.h"
#include "pim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PimItem *it = NULL, *back = NULL;
        char *reason = NULL, *text = NULL, *a = NULL, *b = NULL;
        size_t len = 0;
        int r;

        /* libical's parser is quadratic in places; large inputs only slow the search. */
        if (size > 64 * 1024)
                return 0;
        r = pim_ical_parse((const char *) data, size, &it, &reason);
        free(reason);
        reason = NULL;
        if (r == IDS_E_PROTOCOL || r == -ENOMEM)
                return 0;
        if (r != 0 || !it)
                abort();
        if (pim_ical_write(it, &text, &len) < 0 || strlen(text) != len)
                abort();
        r = pim_ical_parse(text, len, &back, &reason);
        if (r != 0) {
                fprintf(stderr, "written text does not parse (%s):\n%s", reason, text);
                abort();
        }
        if (pim_canonical(it, &a) < 0 || pim_canonical(back, &b) < 0)
                abort();
        if (strcmp(a, b) != 0 || (it->uid && (!back->uid || strcmp(it->uid, back->uid) != 0)) ||
            (!it->uid && back->uid)) {
                fprintf(stderr, "round trip differs:\n--- read (uid '%s')\n%s"
                        "--- reread (uid '%s')\n%s--- text\n%s", it->uid ?: "", a,
                        back->uid ?: "", b, text);
                abort();
        }
        free(a);
        free(b);
        free(text);
        free(reason);
        pim_item_free(it);
        pim_item_free(back);
        return 0;
}
