/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host's mobilesync client (mobilesync.c, sync-protocols.md §5): DeviceLink 400 over
 * com.apple.mobilesync, one data class at a time (com.apple.Contacts, com.apple.Calendars,
 * com.apple.Bookmarks), and the lockdownd preconditions (SyncDataClasses, tethered_sync).
 * It moves records; what they mean (vCards, events, anchors in sync.db, first-sync
 * choices) belongs to the sync category built on it.
 *
 * Sequence for one class:
 *   mobilesync_open() → mobilesync_start() → [mobilesync_clear_all()] →
 *   mobilesync_pull() → [mobilesync_push()…] → mobilesync_finish() (or mobilesync_cancel())
 *   → mobilesync_start() for the next class … → mobilesync_free() (disconnects).
 *
 * Results: 0, negative errno, IDS_E_* (IDS_E_PROTOCOL with m->dl.reason for anything the
 * device sends that is malformed or out of order, IDS_E_DISCONNECTED for an unplug,
 * IDS_E_CANCELLED, IDS_E_TIMEOUT) or one of the named outcomes MS_* below (positive,
 * above _IDS_E_MAX so they never mix with IDS_E_*), each with its reason where the device
 * gave one.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <plist/plist.h>

#include "dl-message.h"
#include "session.h"

#define MS_SERVICE_NAME "com.apple.mobilesync"
#define MS_DEVICELINK_MAJOR 400
#define MS_CLASS_CONTACTS "com.apple.Contacts"
#define MS_CLASS_CALENDARS "com.apple.Calendars"
#define MS_CLASS_BOOKMARKS "com.apple.Bookmarks"
/* The computer's data class versions the device expects (§5, table row 4). */
#define MS_VERSION_CONTACTS 106
#define MS_VERSION_CALENDARS 107

/* Caps against a hostile device: a batch beyond them is IDS_E_PROTOCOL, not memory. */
#define MS_MAX_BATCH_RECORDS 20000u     /* records in one SDMessageProcessChanges */
#define MS_MAX_RECORD_FIELDS 512u       /* keys of one record */
#define MS_MAX_ARRAY_ITEMS 1000000u     /* one array value: a Group's members are a link
                                         * array as long as the address book */
#define MS_MAX_ID_LEN 1024u             /* a record id or an entity name */
#define MS_MAX_VALUE_BYTES (16u << 20)  /* one string or data value (contact photos) */
#define MS_MAX_DEPTH 4u                 /* record → array (links) → value */
#define MS_MAX_SESSION_RECORDS 5000000u /* records pulled in one session */

typedef enum MSOutcome {
        MS_REFUSED = 1000,              /* SDMessageRefuseToSyncDataClassWithComputer */
        MS_DEVICE_CANCELLED,            /* SDMessageCancelSession from the device */
        MS_NOT_OFFERED,                 /* the class is not in SyncDataClasses */
        MS_TETHERED_DISABLED,           /* tethered_sync disables the class (or is absent) */
        MS_EMPTY,                       /* a slow/reset pull that gave no record: the caller
                                         * decides whether that means "managed by iCloud" */
} MSOutcome;

/* "refused", "device-cancelled", "not-offered", "tethered-disabled", "empty"; NULL for
 * anything else. */
const char *ms_outcome_to_string(int r);

typedef enum MSSyncType {
        MS_SYNC_FAST,
        MS_SYNC_SLOW,
        MS_SYNC_RESET,
        _MS_SYNC_TYPE_MAX,
        _MS_SYNC_TYPE_INVALID = -EINVAL,
} MSSyncType;

/* "fast", "slow", "reset". */
const char *ms_sync_type_to_string(MSSyncType t);

/* ---- preconditions through lockdownd (the session's lockdown must still be open) ---- */

/* Whether the device offers data_class in com.apple.mobile.iTunes/SyncDataClasses (listed
 * by its short name, "Contacts", or its full one).
 * 0 = offered, MS_NOT_OFFERED, IDS_E_PROTOCOL (the value is not an array of strings),
 * -ENOTCONN (lockdown closed), other IDS_E_* from lockdownd. */
int mobilesync_check_offered(Session *s, const char *data_class);

/* The com.apple.mobile.tethered_sync entry of data_class ("com.apple.Contacts" → key
 * "Contacts" [inferred from users' dumps: the domain's keys are the class names without
 * "com.apple."]). *ret_entry: a copy of the entry dict, or NULL when absent (the caller
 * frees it). 0 = enabled (DisableTethered false), MS_TETHERED_DISABLED (true, 1, or no
 * entry), IDS_E_PROTOCOL (not a dict), -ENOTCONN, IDS_E_* from lockdownd. */
int mobilesync_tethered_get(Session *s, const char *data_class, plist_t *ret_entry);

/* Whether a tethered_sync entry (borrowed, may be NULL) disables sync: DisableTethered
 * true or non-zero, absent, or an entry that is not a dict. */
bool ms_tethered_entry_disabled(plist_t entry);

/* Set DisableTethered = !enabled in the class's entry, keeping its other keys (SyncingOS
 * is set to "Linux" when the entry is new). *ret_previous (may be NULL): the entry as it
 * was, NULL when there was none, for mobilesync_tethered_restore(). 0, -ENOTCONN, IDS_E_*. */
int mobilesync_tethered_set(Session *s, const char *data_class, bool enabled,
                            plist_t *ret_previous);

/* Put back what mobilesync_tethered_set() returned (previous borrowed; NULL removes the
 * entry, as before it existed). 0, -ENOTCONN, IDS_E_*. */
int mobilesync_tethered_restore(Session *s, const char *data_class, plist_t previous);

/* ---- the client --------------------------------------------------------------------- */

typedef enum MSState {
        MS_STATE_IDLE,                  /* connected, no class started */
        MS_STATE_STARTED,               /* device answered the start: pull, clear or push */
        MS_STATE_PULLED,                /* the last batch came and was acknowledged */
        MS_STATE_PUSHING,               /* the device is ready to receive changes */
        MS_STATE_BROKEN,                /* a failure: only free (or cancel) */
} MSState;

typedef struct MobileSync {
        DLConn dl;
        MSState state;
        char *data_class;               /* the class started, NULL when idle */
        bool ready_to_receive;          /* SDMessageDeviceReadyToReceiveChanges came */
        uint64_t session_records;       /* pulled this session (cap) */
        char *device_reason;            /* the device's reason of a refusal or cancel */
} MobileSync;

/* StartService com.apple.mobilesync through s (borrowed; its lockdown must be open),
 * DeviceLink version exchange (the device may say up to 400), DeviceReady. The stream is
 * registered with cancel (may be NULL); timeout_s bounds every wait (0: 60 s). 0 with
 * *ret (free with mobilesync_free()), IDS_E_PROTOCOL (a version we cannot speak), other
 * IDS_E_*, -errno. */
int mobilesync_open(Session *s, ids_cancel *cancel, unsigned timeout_s, MobileSync **ret);

/* The same over any transport (the unit tests play the device); t is copied. */
int mobilesync_open_transport(const DLTransport *t, ids_cancel *cancel, unsigned timeout_s,
                              MobileSync **ret);

/* Disconnect (DLMessageDisconnect, best effort, when still connected) and free. NULL-safe;
 * returns NULL. */
MobileSync *mobilesync_free(MobileSync *m);

typedef struct MSStart {
        MSSyncType type;
        char *device_anchor;            /* the device's new anchor: store it after finish */
        char *computer_anchor;          /* the echo of ours */
        uint64_t device_version;        /* the device's class version */
} MSStart;

/* Free the strings of r and zero it. */
void ms_start_done(MSStart *r);

/* The data class version the device expects from us: 106 Contacts, 107 Calendars, 106
 * otherwise [inferred for Bookmarks]. */
uint64_t ms_class_version(const char *data_class);

/* SDMessageSyncDataClassWithDevice: data_class with our last device anchor (NULL: none,
 * sent as "---", the first sync) and our new computer anchor (required, any opaque
 * string), version ms_class_version(). 0 with *ret filled (ms_start_done() frees it);
 * MS_REFUSED or MS_DEVICE_CANCELLED with the device's reason in m->device_reason (the
 * session can start another class); IDS_E_PROTOCOL, IDS_E_* otherwise. */
int mobilesync_start(MobileSync *m, const char *data_class, const char *device_anchor,
                     const char *computer_anchor, MSStart *ret);

/* SDMessageClearAllRecordsOnDevice → SDMessageDeviceWillClearAllRecords, right after a
 * start (the "replace the device's data" choice). 0, MS_DEVICE_CANCELLED, IDS_E_*. */
int mobilesync_clear_all(MobileSync *m);

/* One record: id and entity name (com.apple.syncservices.RecordEntityName) borrowed;
 * entity "" for a deletion (an empty dict or the placeholder string as value); record the
 * whole value (borrowed: plist_copy() to keep it). Return < 0 to stop (that
 * value is returned by the pull, after cancelling the session on the device). */
typedef int (*ms_record_fn)(const char *id, const char *entity, plist_t record, void *userdata);

typedef struct MSPullStats {
        uint64_t records, batches;
        bool all_sent;                  /* SyncDeviceLinkAllRecordsOfPulledEntityTypeSentKey */
} MSPullStats;

/* SDMessageGetAllRecordsFromDevice (all) or SDMessageGetChangesFromDevice, then every
 * SDMessageProcessChanges batch, each checked whole before any record is handed to fn,
 * and acknowledged (SDMessageAcknowledgeChangesFromDevice) after fn saw it, until one says
 * no more. 0 (stats in *ret, may be NULL), MS_EMPTY (all = true and not one record: ask
 * the caller whether the device is iCloud-managed), MS_DEVICE_CANCELLED, fn's negative
 * result, IDS_E_PROTOCOL (a malformed batch, caps above), IDS_E_*. */
int mobilesync_pull(MobileSync *m, bool all, ms_record_fn fn, void *userdata,
                    MSPullStats *ret);

/* One entry of SDMessageRemapRecordIdentifiers: our id became the device's. Return < 0 to
 * stop. */
typedef int (*ms_remap_fn)(const char *host_id, const char *device_id, void *userdata);

/* A record value that asks the device to delete the record with that id: an empty dict
 * [inferred: no source shows a deletion from the host; "the record id with an empty
 * value", sync-protocols.md §5 row 11]. The caller owns the result. */
plist_t ms_deletion_new(void);
/* Whether a record value is such a deletion. */
bool ms_record_is_deletion(plist_t record);

/* Send records (a dict host id → record dict, borrowed) to the device in batches of at
 * most batch_size (0: 500) records, entity order as the dict iterates (put parents first:
 * the device links sub-records by remapped ids — callers send parents in one push, then
 * the children with remapped links in the next), each as SDMessageProcessChanges with
 * "more" set but on the last batch of the last push (last = true), and read
 * SDMessageRemapRecordIdentifiers after each batch, handing every pair to fn (may be
 * NULL). The first push waits for SDMessageDeviceReadyToReceiveChanges and pings. 0,
 * MS_DEVICE_CANCELLED, fn's negative result, IDS_E_PROTOCOL, IDS_E_*, -EINVAL (records
 * not a dict of dicts with string ids). */
int mobilesync_push(MobileSync *m, plist_t records, bool last, unsigned batch_size,
                    ms_remap_fn fn, void *userdata);

/* SDMessageFinishSessionOnDevice → SDMessageDeviceFinishedSession: the class is done and
 * the anchors of its start are valid. The connection stays for another class. 0,
 * MS_DEVICE_CANCELLED, IDS_E_*. */
int mobilesync_finish(MobileSync *m);

/* SDMessageCancelSession with reason (NULL: a generic one): the device discards the
 * session's changes and the next start of the class is slow. Best effort. 0, IDS_E_*. */
int mobilesync_cancel(MobileSync *m, const char *reason);

/* Parsers, for the unit tests and the fuzzer. Each checks types and caps and returns 0 or
 * IDS_E_PROTOCOL with the reason in c->reason. */
int ms_parse_start_reply(DLConn *c, plist_t msg, const char *data_class, MSStart *ret,
                         char **ret_reason);
int ms_check_records(DLConn *c, plist_t records);
