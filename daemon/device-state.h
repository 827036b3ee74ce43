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
 *   [Requests]                                  (version 2)
 *   Next=<the highest request number given out, by any device>
 *   Request=<number> <kind> <created µs> <category or ->     one per open request
 *   [Decisions]
 *   Decision=<category>/<choice>/<item>         one per answer not yet applied
 *   [NewDevice]
 *   Answer=new|restore:<UDID>                   the restore-offer, answered (once)
 *
 * The requests' numbers and creation times are kept so that a restart or an unplug keeps
 * the same object paths; what is asked is read again from sync.db. Answers stay until a
 * sync job that was given them ends "done" (the library records them first and treats a
 * repeat as harmless).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#define DEVICE_STATE_VERSION 2
#define DEVICE_STATE_MAX (1024 * 1024)
#define DEVICE_STATE_REQUESTS_MAX 256U
#define DEVICE_STATE_DECISIONS_MAX 8192U

/* An open request of the device: what keeps its object path. */
typedef struct DeviceStateRequest {
        uint32_t id;                            /* /org/idevicesync1/request/<id>, > 0 */
        char kind[16];                          /* "deletions", "first-sync" */
        char category[32];                      /* first-sync: the category; else "" */
        uint64_t created;                       /* µs */
} DeviceStateRequest;

/* An answer not yet applied by a helper (see WorkerDecision). */
typedef struct DeviceStateDecision {
        char category[32];
        char choice[24];                        /* approve, reject, merge, replace-… */
        uint64_t item;                          /* held item id; 0 for a first-sync choice */
} DeviceStateDecision;

typedef struct DeviceStateFile {
        unsigned version;                       /* of the file read; writes are current */
        char name[128], product_type[64], product_version[32];
        bool encrypted;
        uint64_t last_backup;                   /* µs, 0 = never */
        char last_result[32];
        uint64_t last_sync;
        char last_sync_result[32];
        uint64_t last_restore;                  /* [LastRestore] Time=: µs, 0 = never */
        char last_restore_report[256];          /* [LastRestore] Report= */
        char running[16];                       /* job kind, "" = none */
        char new_device_answer[80];             /* [NewDevice] Answer=: the restore-offer's
                                                 * answer ("new", "restore:<UDID>"), "" none */
        uint32_t next_request;                  /* the manager's counter when written: a
                                                 * number is never given out twice */
        DeviceStateRequest *requests;           /* owned; device_state_file_done() */
        size_t n_requests;
        DeviceStateDecision *decisions;         /* owned */
        size_t n_decisions;
} DeviceStateFile;

/* Free the arrays s owns (not s itself). */
void device_state_file_done(DeviceStateFile *s);
/* Whether the line values are well formed: kind deletions|first-sync (first-sync with a
 * category), id > 0; a decision's category a lower-case word, choice one of approve,
 * reject (item > 0), merge, replace-device, replace-computer (item 0). */
bool device_state_request_is_valid(const DeviceStateRequest *r);
bool device_state_decision_is_valid(const DeviceStateDecision *d);

/* The text of s (NUL-terminated, newly allocated in *ret). Control characters in strings
 * become spaces. 0 or -ENOMEM. */
int device_state_format(const DeviceStateFile *s, char **ret);
/* Parse text (version 0 to 2; a newer version is read as far as it is understood).
 * Unknown sections and keys are ignored, numbers must be plain decimals, strings are
 * truncated to their fields; a malformed Request= or Decision= line, or one beyond the
 * bounds, is dropped. 0 (free *ret with device_state_file_done()), -ENOMEM, or -EBADMSG
 * when nothing in it is a state file. */
int device_state_parse(const char *text, DeviceStateFile *ret);
/* Read and parse path (at most DEVICE_STATE_MAX bytes). 0, -ENOENT, -EFBIG, -EBADMSG,
 * -errno. */
int device_state_read(const char *path, DeviceStateFile *ret);
/* Write s to path atomically (0600; the directory must exist). 0 or -errno. */
int device_state_write(const char *path, const DeviceStateFile *s);
