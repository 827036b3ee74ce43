/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What survives a restart of the daemon for one device (device-state.c): the file
 * $STATE_DIRECTORY/<UDID>/device.state, versioned and in sections, written atomically
 * (temp file, fsync, rename, fsync the directory). Later issues add sections (a person's
 * decisions, sync state) without breaking older files: unknown sections and keys are kept
 * out of the way, not errors. Version 0 — the flat key=value file of earlier releases —
 * is read too and rewritten as version 1 on the next save. Never under /etc.
 *
 *   # idevicesync device state: written by idevicesyncd
 *   [State]
 *   Version=1
 *   [Device]
 *   Name=…  ProductType=…  ProductVersion=…  Encrypted=0|1
 *   [LastBackup]
 *   Time=<µs>  Result=done|failed|…
 *   [LastSync]
 *   Time=<µs>  Result=…
 *   [Job]
 *   Running=<kind of the job running when it was written, or empty>
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define DEVICE_STATE_VERSION 1
#define DEVICE_STATE_MAX (64 * 1024)

typedef struct DeviceStateFile {
        unsigned version;                       /* of the file read; writes are current */
        char name[128], product_type[64], product_version[32];
        bool encrypted;
        uint64_t last_backup;                   /* µs, 0 = never */
        char last_result[32];
        uint64_t last_sync;
        char last_sync_result[32];
        char running[16];                       /* job kind, "" = none */
} DeviceStateFile;

/* The text of s (NUL-terminated, newly allocated in *ret). Control characters in strings
 * become spaces. 0 or -ENOMEM. */
int device_state_format(const DeviceStateFile *s, char **ret);
/* Parse text (version 0 or 1; a newer version is read as far as it is understood).
 * Unknown sections and keys are ignored, numbers must be plain decimals, strings are
 * truncated to their fields. 0, or -EBADMSG when nothing in it is a state file. */
int device_state_parse(const char *text, DeviceStateFile *ret);
/* Read and parse path (at most DEVICE_STATE_MAX bytes). 0, -ENOENT, -EFBIG, -EBADMSG,
 * -errno. */
int device_state_read(const char *path, DeviceStateFile *ret);
/* Write s to path atomically (0600; the directory must exist). 0 or -errno. */
int device_state_write(const char *path, const DeviceStateFile *s);
