/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync's device side, shared by the service (mobilesync.c), the record store
 * (mobilesync-store.c), lockdown's tethered_sync domain and the unit test.
 *
 * The store of one data class lives in <profile>/mobilesync/<class>.plist (binary plist,
 * XML accepted on read; mobilesync-edit.py rewrites it while the device is detached). Its
 * root dict:
 *   Version          1
 *   DataClass        "com.apple.Contacts"
 *   NextId           next numeric record id to hand out (ids are decimal strings)
 *   DeviceAnchor     the anchor sent in the last SyncDataClassWithComputer ("" never synced)
 *   ComputerAnchor   the host's anchor of the last *finished* session ("" after a session
 *                    that was cut or cancelled, so the next one is slow)
 *   Sessions         sessions started so far (makes anchors unique)
 *   ResetPending     true after ClearAll (or `mobilesync-edit.py clear`) until a finish
 *   ICloud           true: the generated records live in CloudRecords, which mobilesync
 *                    never shows (a phone whose contacts are in iCloud returns an empty set)
 *   Records          {id: {com.apple.syncservices.RecordEntityName: entity, field: value…}}
 *   CloudRecords     same shape, invisible to the host
 *   Changes          {id: {Change: "add"|"modify"|"delete", Entity: entity}}: what changed
 *                    on the device since the last finished session (a fast sync sends these)
 * Beside it <class>.json, rewritten after every session: the ground truth for tests.
 *
 * The Contacts and Calendars stores are also what the phone's backup holds: after every
 * session and before every backup, ms_backupdb_refresh() rewrites the backup's
 * AddressBook and Calendar databases (and contacts.json, calendars.json) from them.
 */
#pragma once

#include "emu.h"

#define MS_ENTITY_KEY "com.apple.syncservices.RecordEntityName"
#define MS_EMPTY "___EmptyParameterString___"
#define MS_DL_VERSION 400

typedef enum MsClassBit {
        MS_CONTACTS = 1 << 0,
        MS_CALENDARS = 1 << 1,
        MS_BOOKMARKS = 1 << 2,
} MsClassBit;

typedef struct MsClass {
        const char *name;            /* "com.apple.Contacts" */
        const char *short_name;      /* "Contacts": SyncDataClasses, tethered_sync key */
        unsigned bit;                /* MsClassBit */
        uint64_t version;            /* the device's data class version; a computer
                                      * version below it is refused as out of date */
        const char *const *entities; /* NULL-terminated, parents first */
} MsClass;

typedef enum MsSyncType {
        MS_SYNC_FAST,
        MS_SYNC_SLOW,
        MS_SYNC_RESET,
} MsSyncType;

typedef struct MsStore {
        const MsClass *cls;
        char *path;                      /* <profile>/mobilesync/<class>.plist */
        char *json_path;                 /* <profile>/mobilesync/<class>.json */
        plist_t root;                    /* the file's dict, owned */
        plist_t records, cloud, changes; /* borrowed from root */
} MsStore;

/* What device.ini says about the sync store (profile.c fills it from DeviceInfo). */
typedef struct MsGenOptions {
        uint64_t seed;
        unsigned contacts; /* SyncContacts= */
        unsigned events;   /* SyncEvents= */
        unsigned icloud;   /* SyncICloud=, MsClassBit mask */
} MsGenOptions;

const MsClass *ms_class_lookup(const char *name); /* by full name; NULL if unknown */
const MsClass *ms_class_lookup_short(const char *short_name);
const char *ms_sync_type_to_string(MsSyncType t);

/* Load <profile>/mobilesync/<class>.plist, generating it from o first if it does not exist
 * (then also writing it and its JSON). 0 and *ret; -EBADMSG if the file is not a store,
 * -errno. */
int ms_store_load(const char *profile, const MsClass *cls, const MsGenOptions *o, MsStore **ret);
MsStore *ms_store_free(MsStore *s);
static inline void ms_store_freep(MsStore **s) {
        ms_store_free(*s);
}
/* Write the store atomically (temporary file, fsync, rename, fsync of the directory). */
int ms_store_save(MsStore *s);
/* Rewrite <class>.json from the store (atomically). */
int ms_store_write_json(MsStore *s);

const char *ms_store_str(MsStore *s, const char *key); /* "" when absent */
bool ms_store_bool(MsStore *s, const char *key);

/* Which sync the host gets for the anchors it sent (NULL or "---" for none). */
MsSyncType ms_store_sync_type(MsStore *s, const char *device_anchor, const char *computer_anchor);
/* A session starts: a fresh device anchor, and ComputerAnchor cleared until it finishes,
 * so a session that never finishes leads to a slow sync. Returns the new anchor
 * (borrowed from the store). */
const char *ms_store_begin(MsStore *s);
/* The host finished the session: remember its anchor, forget the change log and any
 * pending reset. */
void ms_store_finish(MsStore *s, const char *computer_anchor);

/* Add rec (consumed; its entity must be one of the class's) under a fresh id, written into
 * ret_id (≥ 21 bytes). log: record it in the change log (a change made on the device). */
int ms_store_add(MsStore *s, plist_t rec, bool log, char *ret_id);
/* Replace the record id with rec (consumed). -ENOENT if there is no such record. */
int ms_store_put(MsStore *s, const char *id, plist_t rec, bool log);
/* Delete id and what hangs off it: sub-records whose link (contact/owner/calendar) names it,
 * recursively; a Group only loses the member. Returns the number of records deleted (0 if
 * id did not exist). */
int ms_store_delete(MsStore *s, const char *id, bool log);
/* ClearAllRecordsOnDevice: every visible record goes, the next session is a reset. */
void ms_store_clear(MsStore *s);
/* The entity of a record dict, NULL if it has none. */
const char *ms_record_entity(plist_t rec);
/* Rank of an entity in its class (parents first), for ordering batches; unknown entities
 * (and NULL) rank after all known ones. */
unsigned ms_entity_rank(const MsClass *cls, const char *entity);
bool ms_entity_valid(const MsClass *cls, const char *entity);
/* The ids of dict (s->records or s->cloud) sorted by (entity rank, numeric id): a new
 * array of new strings, *ret_n entries, freed with ms_ids_free(). -ENOMEM. */
int ms_store_sorted_ids(MsStore *s, plist_t dict, char ***ret, size_t *ret_n);
void ms_ids_free(char **ids, size_t n);
/* A copy of dict that libplist can search fast (see mobilesync-store.c). Never NULL. */
plist_t ms_dict_rehash(plist_t dict);

/* Deterministic generation into an empty store (ms_store_load() calls it). */
int ms_generate(MsStore *s, const MsGenOptions *o);

/* The backup's AddressBook.sqlitedb (+ AddressBookImages) and Calendar.sqlitedb, and
 * their truth contacts.json / calendars.json, written from the Contacts and Calendars
 * stores (Records and CloudRecords; mobilesync-backupdb.c), for the classes of the
 * MsClassBit mask whose store exists or whose SyncContacts=/SyncEvents= makes one (then
 * it is made). Only when the store changed since the last write, as remembered in
 * <profile>/mobilesync/backupdb.stamp, unless force. ABPerson and CalendarItem ROWIDs are
 * the record ids. 0, or the first -errno (logged; the other class is still tried). */
int ms_backupdb_refresh(const char *profile, unsigned classes, bool force);

/* A person edits the phone (`fakeidevice mutate --pim-*` of a store-driven profile): of
 * the visible Contacts (or Events) change `change` (a contact's notes, an event's
 * summary), delete the last `del` with what hangs off them, and add `add` (a contact with a
 * phone; an event in the first calendar), all in the change log, deterministic from seed.
 * Bookmarks: nothing. 0; -EINVAL if change + del exceeds the records; -ENOMEM. */
int ms_store_mutate(MsStore *s, uint64_t seed, unsigned change, unsigned add, unsigned del);
/* ms_store_mutate() on the Contacts and Calendars stores of profile that exist (or that
 * SyncContacts=/SyncEvents= make), saved with their JSON, then ms_backupdb_refresh(). An
 * iCloud-managed store is left as it is. *ret_classes: the MsClassBit mask of the classes
 * whose databases the stores drive (their pim_*_mutate() must not run). 0 or -errno. */
int ms_profile_mutate(const char *profile, uint64_t seed, unsigned change, unsigned add,
                      unsigned del, unsigned *ret_classes);

/* com.apple.mobile.tethered_sync, persisted in <profile>/mobilesync/tethered_sync.plist and
 * first made from SyncDisabled= (disabled_mask): {Contacts: {DisableTethered: bool}, …}.
 * get: a copy of the whole domain dict. set: store value under key. 0 or -errno. */
int ms_tethered_get(const char *profile, unsigned disabled_mask, plist_t *ret);
int ms_tethered_set(const char *profile, unsigned disabled_mask, const char *key, plist_t value);
/* true when the domain disables tethered sync of the class (DisableTethered true, 1, or no
 * entry at all). */
bool ms_tethered_disabled(plist_t domain, const MsClass *cls);

/* Parse "contacts|calendars|bookmarks|both|none|all", also comma-separated lists, into an
 * MsClassBit mask. 0 or -EINVAL. */
int ms_parse_class_mask(const char *value, unsigned *ret);
