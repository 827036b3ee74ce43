/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device lifecycle and the pieces of device state only the server core (main, usbmux,
 * lockdown) manipulates. Service modules use emu.h only.
 */
#pragma once

#include "emu.h"

/* UDID as usbmuxd reports it: 1..64 of [0-9A-Fa-f-], not the 40×'f' form libusbmuxd mangles. */
bool udid_is_valid(const char *udid);

/* New detached device for profile_dir (must exist), trusted, unlocked. Loads or creates
 * the device key. 0, -EINVAL (bad UDID), -ENOENT (no profile dir), -ENOMEM. */
int device_new(const char *udid, const char *profile_dir, Device **ret);
Device *device_free(Device *d);
static inline void device_freep(Device **d) {
        device_free(*d);
}

/* Pairings (lock held). add takes ownership of p and replaces a record of the same host. */
PairRecord *device_find_pairing(Device *d, const char *host_id);
void device_add_pairing(Device *d, PairRecord *p);
void device_remove_pairing(Device *d, const char *host_id);

/* StartService ports (lock held). take removes the pending entry; the caller frees it. */
int device_add_service(Device *d, const ServiceDef *def, const char *host_id, uint16_t *ret);
Service *device_take_service(Device *d, uint16_t port);
void service_free(Service *s);

/* usbmux.c: free usbmuxd's pair records at exit. */
void usbmux_free_all(void);
