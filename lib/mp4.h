/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ISO base media files (MP4, M4A, M4V, M4P) as a device sends them (mp4.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The box header at p (got bytes of it at hand) in a space of `space` bytes: *ret_size
 * the whole box (a size of 0 is "to the end": space), *ret_head the header's length (8, or
 * 16 with a 64-bit size). false when the header is cut short or the box claims less than
 * its header or more than space. */
bool mp4_box_header(const uint8_t *p, size_t got, uint64_t space, uint64_t *ret_size,
                    size_t *ret_head);

/* Whether the boxes in p[0, n) (a moov box, or a whole file) describe protected media:
 * moov → trak → mdia → minf → stbl → stsd, whose sample entries are `drms`/`drmi` (Apple
 * FairPlay) or `enca`/`encv` (common encryption), or carry a `sinf` (protection scheme
 * information) box. Anything malformed is "not protected": the caller copies what it
 * cannot read, as it would copy a file that is no MP4. */
bool mp4_protected(const uint8_t *p, size_t n);
