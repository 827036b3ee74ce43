/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one per-device lock (lock.c): <state_dir>/<UDID>/lock, an flock taken without
 * waiting by every operation that changes or reads a device's data as a whole — backup,
 * restore, verify, snapshot delete, and sync — wherever the snapshots themselves live
 * (BackupDir=). Two operations on one device never overlap; a second one gets -EBUSY.
 */
#pragma once

/* Take the lock of udid (a valid UDID, in the caller's spelling: callers canonicalize)
 * under state_dir, creating the directories (0700) and the file (0600) as needed. Returns
 * the lock's fd (≥ 0; close it to release), -EBUSY if another operation holds it, or
 * -errno. */
int device_lock_take(const char *state_dir, const char *udid);
