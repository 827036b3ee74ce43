/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Music, videos, books and ringtones a computer synced to the phone (profile-itunes.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct ItunesOptions {
        unsigned songs;         /* 0: the default mix; N: N songs of about 1 MiB, nothing else
                                 * of the library (a benchmark) */
        bool hostile;           /* rows and plist entries that point outside */
} ItunesOptions;

/* Write the media of gen-profile --media into the profile DIR, and DIR/media.json. */
int itunes_generate(const char *dir, uint64_t seed, const ItunesOptions *o);
/* mutate --media-add N: N new songs (rows, files, truth). */
int itunes_add_songs(const char *dir, uint64_t seed, unsigned n);
