/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The few ISO/IEC 14496-12 facts the media sync needs: box headers (32-bit size and type;
 * size 1 = a 64-bit size follows; size 0 = to the end of the enclosing space) and where a
 * track says its samples are encrypted (the sample description, stsd, whose entries are
 * renamed `drms`/`drmi` by FairPlay and `enca`/`encv` by common encryption, each with a
 * `sinf` box). Every size is checked against the bytes at hand, and nesting is bounded, so
 * a hostile file cannot make the reader leave its buffer or recurse without end.
 */
#include <string.h>

#include "mp4.h"
#include "util.h"

#define MAX_DEPTH 8

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

bool mp4_box_header(const uint8_t *p, size_t got, uint64_t space, uint64_t *ret_size,
                    size_t *ret_head) {
        uint64_t size;
        size_t head = 8;

        if (got < 8 || space < 8)
                return false;
        size = be32(p);
        if (size == 1) {
                if (got < 16)
                        return false;
                size = (uint64_t) be32(p + 8) << 32 | be32(p + 12);
                head = 16;
        } else if (size == 0)
                size = space;
        if (size < head || size > space)
                return false;
        *ret_size = size;
        *ret_head = head;
        return true;
}

static bool entry_protected(const uint8_t *e, size_t n) {
        static const char types[][5] = { "drms", "drmi", "enca", "encv" };

        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (memcmp(e + 4, types[i], 4) == 0)
                        return true;
        return memmem(e + 8, n - 8, "sinf", 4) != NULL;
}

static bool boxes_protected(const uint8_t *p, size_t n, unsigned depth) {
        static const char containers[][5] = { "moov", "trak", "mdia", "minf", "stbl" };

        if (depth > MAX_DEPTH)
                return false;
        while (n >= 8) {
                uint64_t size;
                size_t head;

                if (!mp4_box_header(p, n, n, &size, &head))
                        return false;
                for (size_t i = 0; i < ELEMENTSOF(containers); i++)
                        if (memcmp(p + 4, containers[i], 4) == 0 &&
                            boxes_protected(p + head, (size_t) size - head, depth + 1))
                                return true;
                if (memcmp(p + 4, "stsd", 4) == 0 && size >= head + 8) {
                        /* version and flags, entry count, then the entries */
                        const uint8_t *e = p + head + 8;
                        size_t left = (size_t) size - head - 8;
                        uint64_t es;
                        size_t eh;

                        while (mp4_box_header(e, left, left, &es, &eh)) {
                                if (entry_protected(e, (size_t) es))
                                        return true;
                                e += es;
                                left -= (size_t) es;
                        }
                }
                p += size;
                n -= (size_t) size;
        }
        return false;
}

bool mp4_protected(const uint8_t *p, size_t n) {
        return boxes_protected(p, n, 0);
}
