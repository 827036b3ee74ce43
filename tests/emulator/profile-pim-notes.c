/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bookmarks, notes and voice memos of a backup profile: placeholders until written. */
#include "profile-pim.h"

int pim_bookmarks_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        return 0;
}
int pim_notes_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        return 0;
}
int pim_recordings_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        return 0;
}
int pim_bookmarks_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                         unsigned add, unsigned del) {
        return 0;
}
int pim_notes_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                     unsigned add, unsigned del) {
        return 0;
}
int pim_recordings_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                          unsigned add, unsigned del) {
        return 0;
}
