/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the vCard reader (lib/pim-vcard.c): the input is a .vcf file a
 * person (or a program) put in the contacts directory. Nothing may crash, read out of
 * bounds or leak; a card that parses is written as vCard 4.0 and read again, and the two
 * must be the same contact (the writer and the reader agree on everything the reader
 * accepts). Build: see tests/fuzz/run-fuzz. Seeds: tests/fuzz/corpus/vcard/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        PimItem *it = NULL, *back = NULL;
        char *why = NULL, *text = NULL, *c1 = NULL, *c2 = NULL;
        size_t len = 0;

        if (pim_vcard_parse((const char *) data, size, &it, &why) == 0) {
                if (pim_vcard_write(it, &text, &len) != 0)
                        abort();
                if (pim_vcard_parse(text, len, &back, NULL) != 0)
                        abort();
                if (pim_canonical(it, &c1) != 0 || pim_canonical(back, &c2) != 0)
                        abort();
                if (strcmp(c1, c2) != 0)
                        abort();
        }
        free(why);
        free(text);
        free(c1);
        free(c2);
        pim_item_free(it);
        pim_item_free(back);
        return 0;
}
