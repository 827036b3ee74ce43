/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The personal databases of a backup profile (gen-profile --pim and its counts; mutate
 * --pim-change): each writes its database(s) and files beneath DIR/backup/<Domain>/<path>,
 * with the schema of the real iOS version `ios` (ProductVersion: 15.x … 18.x; a version
 * above 18 gets a "future" schema that a host must report as unknown), and its ground truth
 * DIR/<name>.json (contacts, calendars, bookmarks, notes, voice-memos; the format is in
 * docs/ios-databases-contacts-calendars.md). Deterministic from seed. 0 or negative errno (already logged).
 *
 * profile-pim-contacts.c: contacts and calendars; profile-pim-notes.c: bookmarks, notes and
 * voice memos.
 */
#pragma once

#include <stdint.h>

int pim_contacts_generate(const char *dir, const char *ios, uint64_t seed, unsigned n);
int pim_calendars_generate(const char *dir, const char *ios, uint64_t seed, unsigned n_events);
int pim_bookmarks_generate(const char *dir, const char *ios, uint64_t seed, unsigned n);
int pim_notes_generate(const char *dir, const char *ios, uint64_t seed, unsigned n);
int pim_recordings_generate(const char *dir, const char *ios, uint64_t seed, unsigned n);

/* mutate: in a profile that has the database, change `change` items, add `add` and delete
 * `del` (deterministic from seed), rewriting the database and its JSON. No database: 0. */
int pim_contacts_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                        unsigned add, unsigned del);
int pim_calendars_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                         unsigned add, unsigned del);
int pim_bookmarks_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                         unsigned add, unsigned del);
int pim_notes_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                     unsigned add, unsigned del);
int pim_recordings_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                          unsigned add, unsigned del);
