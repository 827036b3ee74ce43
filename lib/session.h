/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A device session for one job: lockdown handshake (pairing on first use, recovery from a
 * host record the device forgot), the values a backup needs, notification_proxy (passcode
 * prompt, cancel from the device) and the iTunes sync lock over AFC (session.c).
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <libimobiledevice/afc.h>
#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>
#include <libimobiledevice/notification_proxy.h>
#include <libimobiledevice/property_list_service.h>
#include <plist/plist.h>

typedef struct Session Session;
typedef void (*session_notify_fn)(Session *s, const char *name, void *userdata);

struct Session {
        char *udid;
        idevice_t device;
        lockdownd_client_t lockdown;            /* open until session_close_lockdown() */
        property_list_service_client_t observer; /* notification_proxy, observed */
        int observer_fd;                        /* its stream, -1 if not found */
        pthread_t observer_thread;
        bool observer_running;
        atomic_bool observer_stop;
        np_client_t np_post;                    /* posting: a client of its own */
        afc_client_t afc;
        uint64_t lock_handle;
        bool sync_locked;
        bool did_start;                         /* syncDidStart posted: post syncDidFinish */
        plist_t values;                         /* lockdown global domain */
        bool will_encrypt;
        char *product_version;
        session_notify_fn on_notify;            /* from the notification thread */
        void *notify_userdata;
        bool opened;                            /* session_open() succeeded: may be kept */
};

/* Connect and do the lockdown handshake. 0, IDS_E_* (trust pending, denied, locked,
 * disconnected), -errno. On failure *ret is untouched and nothing stays open. */
int session_open(const char *udid, const char *label, Session **ret);
/* Release the sync lock (if held), post syncDidFinish, free everything; or, with
 * ids_session_keep(true), keep the lockdown session for the next session_open() of the
 * same device in this process. NULL-safe. */
Session *session_free(Session *s);

/* Start service name with the pair record's escrow bag (mobilebackup2 needs it). */
int session_start_service(Session *s, const char *name, lockdownd_service_descriptor_t *ret);
/* Makes the client of a started service: a libimobiledevice *_client_new() wrapped to
 * return 0 or an IDS_E_* outcome, the client in *ret_client. */
typedef int (*session_client_new_fn)(idevice_t device, lockdownd_service_descriptor_t service,
                                     void **ret_client);

/* One way to reach a device service, for every operation (mobilebackup2 now; AFC,
 * house_arrest and mobilesync for sync): start name (with the escrow bag), make its client
 * with client_new, find the usbmuxd stream the client reads and register it with cancel,
 * so that a cancel shuts it down and EOF can be told from a slow device. 0 with
 * *ret_client and *ret_stream_fd (-1 if not found) set; IDS_E_CANCELLED when a cancel came
 * meanwhile (the client is still returned: the caller frees it); other IDS_E_* or -errno
 * (nothing is returned). */
int session_connect_service(Session *s, const char *name, ids_cancel *cancel,
                            session_client_new_fn client_new, void **ret_client,
                            int *ret_stream_fd);

/* Close the lockdown connection (services stay up), as iTunes does before the DL loop. */
void session_close_lockdown(Session *s);

/* notification_proxy: observe the backup-relevant names, calling fn from the session's
 * observer thread (stopped and joined at once by session_free()). */
int session_observe(Session *s, session_notify_fn fn, void *userdata);
/* The iTunes sync lock dance (protocols.md §5.3). IDS_E_BUSY if another host holds it. */
int session_sync_lock(Session *s);

/* Info.plist for the backup root, as iTunes writes it before every backup. */
int session_build_info_plist(Session *s, plist_t *ret);

/* String value of the global domain (borrowed), NULL if absent. */
const char *session_value_str(Session *s, const char *key);
