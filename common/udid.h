/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * UDIDs: what a valid one looks like, its one canonical spelling, and the UDID usbmuxd
 * derives from a USB serial number (udid.c). Shared by lib/, the daemon and the CLI; the
 * emulator never links it (it keeps its own, independent rules).
 *
 * The canonical form is the one usbmuxd reports for a real device, so object paths, state
 * and backup directories, policy lookups and snapshots all agree with what
 * `idevice_id -l` prints:
 *   - a dashed UDID (8 hex, '-', 16 hex: 00008030-001A2B3C4D5E6F70) in upper case;
 *   - the older 40-hex-digit UDID in lower case;
 *   - any other valid UDID (test devices) unchanged.
 * Two UDIDs that differ only in letter case name the same device.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* The longest UDID accepted, without the terminating NUL. */
#define UDID_MAX 64

/* Whether s is 1..UDID_MAX characters of [0-9A-Fa-f-]. NULL is not valid. */
bool udid_is_valid(const char *s);

/* Rewrite the valid UDID s in place to its canonical spelling (see above). Returns true if
 * s changed, false if it was canonical already (or is not a valid UDID: left alone). */
bool udid_canonicalize(char *s);

/* Copy the valid UDID s into buf (UDID_MAX + 1 bytes) in its canonical spelling. Returns
 * buf, or NULL if s is not a valid UDID (buf untouched). */
char *udid_canonical_copy(const char *s, char *buf);

/* Whether two UDIDs name the same device (equal ignoring ASCII letter case). */
bool udid_equal(const char *a, const char *b);

/* The canonical UDID usbmuxd gives a device with USB serial number serial: 24 hex digits
 * become XXXXXXXX-XXXXXXXXXXXXXXXX, 40 hex digits stay. Writes it to buf (n ≥ 41 for every
 * form) and returns true, or returns false for any other serial (buf untouched). */
bool udid_from_usb_serial(const char *serial, char *buf, size_t n);
