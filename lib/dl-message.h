/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The DeviceLink message layer (dl-message.c, protocols.md §3.1–3.2): plist arrays over a
 * BE32-framed property_list_service stream, the version exchange with the device speaking
 * first, bounded waits that tell a cancel, a cable pull and a silent device apart, and
 * DLMessageDisconnect. It is our own because Debian 12's libimobiledevice 1.3.0 keeps
 * device_link_service_* private and its mobilesync client offers major 300, which iOS ≥ 14
 * refuses (sync-protocols.md §5). The mobilebackup2 host (devicelink.c) still reaches the
 * same protocol through mobilebackup2_client_new(), which Debian patched to 400 and which
 * owns its stream; it shares the DL_EMPTY placeholder and dl_stream_dead() below.
 *
 * The transport is a pair of functions so that the unit tests can play the device.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>
#include <libimobiledevice/property_list_service.h>
#include <plist/plist.h>

#include "idevicesync.h"
#include "session.h"

#define DL_EMPTY "___EmptyParameterString___"

/* One message each way. send: 0 or IDS_E_DISCONNECTED; msg stays the caller's.
 * receive: 0 with *ret (the caller frees it), -EAGAIN when nothing came within
 * timeout_ms, IDS_E_DISCONNECTED when the stream is broken or gone. */
typedef struct DLTransport {
        int (*send)(void *userdata, plist_t msg);
        int (*receive)(void *userdata, plist_t *ret, unsigned timeout_ms);
        void *userdata;
} DLTransport;

typedef struct DLConn {
        DLTransport transport;
        property_list_service_client_t plc;     /* owned when opened by dl_conn_connect() */
        int stream_fd;                          /* the usbmuxd socket under plc, or -1 */
        ids_cancel *cancel;                     /* borrowed, may be NULL */
        unsigned timeout_s;                     /* longest silence of the device; 0: 60 s */
        uint64_t device_major, device_minor;    /* from the version exchange */
        bool connected;                         /* version exchange done, not disconnected */
        char reason[256];                       /* first problem seen, for logs and callers */
} DLConn;

/* Fill c for a transport (borrowed by c). */
void dl_conn_init(DLConn *c, const DLTransport *t, ids_cancel *cancel, unsigned timeout_s);

/* Start service name through the session (Session from session.h, borrowed), make a
 * property_list_service client on it and register its stream with cancel, then run the
 * version exchange accepting device majors up to host_major. 0 with c filled (free with
 * dl_conn_done()); IDS_E_PROTOCOL (with c->reason) for a version the host cannot speak or a
 * malformed exchange; IDS_E_CANCELLED, IDS_E_DISCONNECTED, IDS_E_TIMEOUT, other IDS_E_*
 * from lockdownd, -errno. On failure nothing stays open. */
int dl_conn_connect(DLConn *c, Session *s, const char *service, uint64_t host_major,
                    ids_cancel *cancel, unsigned timeout_s);

/* The version exchange on an initialised connection (the device speaks first):
 * ["DLMessageVersionExchange", major, minor] → ["DLMessageVersionExchange", "DLVersionsOk",
 * host_major] → ["DLMessageDeviceReady"]. Rejects a device major above host_major (a
 * minor is not compared: hosts accept 400.x). 0, IDS_E_PROTOCOL, or a receive outcome. */
int dl_version_exchange(DLConn *c, uint64_t host_major);

/* Send msg as a binary plist (msg stays the caller's). 0, IDS_E_CANCELLED,
 * IDS_E_DISCONNECTED. */
int dl_send(DLConn *c, plist_t msg);

/* Receive the next DeviceLink message: a non-empty array whose first element is a string.
 * Waits in 1 s slices up to c->timeout_s of silence, checking the cancel token between.
 * A device's DLMessagePing is skipped (and does not count as an answer for the timeout). A device's
 * DLMessageDisconnect ends the connection: IDS_E_DISCONNECTED with its reason in
 * c->reason. 0 with *ret (the caller frees it), IDS_E_PROTOCOL (not an array, no name),
 * IDS_E_CANCELLED, IDS_E_DISCONNECTED, IDS_E_TIMEOUT. */
int dl_receive(DLConn *c, plist_t *ret);

/* ["DLMessageDisconnect", reason] (best effort) and mark c disconnected. */
void dl_disconnect(DLConn *c, const char *reason);

/* Free the property_list_service client (if c owns one) and unregister its stream from
 * the cancel token. c can be re-initialised afterwards. */
void dl_conn_done(DLConn *c);

/* Is the device stream fd (-1: unknown) gone: EOF or error with nothing left to read?
 * libimobiledevice reports a timeout for EOF too, so every DeviceLink host (this layer
 * and the mobilebackup2 host) asks this after a receive that brought nothing. */
bool dl_stream_dead(int fd);

/* Name of a DeviceLink message (element 0), borrowed; NULL if msg is no such message. */
const char *dl_message_name(plist_t msg);
/* Element i of an array as a string (borrowed) if it is one, else NULL. */
const char *dl_array_str(plist_t msg, uint32_t i);
/* Element i of an array as an unsigned integer. 0 or -EBADMSG (absent, not an integer). */
int dl_array_uint(plist_t msg, uint32_t i, uint64_t *ret);
/* Build an array message: name followed by n string arguments (NULL → DL_EMPTY). */
plist_t dl_message_new(const char *name, size_t n, const char *const *args);

/* Record the first problem in c->reason (later ones are only logged at debug level). */
void dl_note(DLConn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
