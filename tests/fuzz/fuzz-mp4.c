/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for mp4_protected() (lib/mp4.c): the input is a moov box or a whole
 * file as a device sends it. Whatever it holds, the reader must not crash, read out of
 * bounds or recurse without end; and the answer must not depend on bytes past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mp4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *copy = malloc(size ? size : 1);        /* exact size: ASan sees overreads */
        uint64_t box;
        size_t head;

        if (!copy)
                return 0;
        memcpy(copy, data, size);
        (void) mp4_protected(copy, size);
        if (mp4_box_header(copy, size, size, &box, &head) && (box > size || head > box))
                abort();
        free(copy);
        return 0;
}
