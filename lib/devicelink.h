/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The host side of the DeviceLink file-server loop that mobilebackup2 runs (devicelink.c):
 * the device sends DL messages (upload, download, move, remove, …) and the host obeys,
 * beneath one root directory, until the device sends its final result.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <libimobiledevice/mobilebackup2.h>

#include "idevicesync.h"
#include "plist-util.h"
#include "store.h"

typedef struct DLHost {
        mobilebackup2_client_t mb2;             /* borrowed */
        int stream_fd;                          /* the usbmuxd socket under mb2, or -1 */
        int root_fd;                            /* borrowed: the directory holding <UDID>/ */
        const char *udid;                       /* every device path must start "<udid>/" */
        bool read_only;                         /* restore: only downloads are served */
        Store *store;                           /* borrowed, may be NULL: free space, purge */
        Staging *staging;                       /* borrowed, may be NULL: CRCs of uploads */
        uint64_t floor_bytes;                   /* keep this much free on the store's fs */
        unsigned keep, keep_days;               /* retention for PurgeDiskSpace */
        ids_cancel *cancel;                     /* may be NULL */
        unsigned timeout_preparing_s, timeout_transfer_s;

        ids_progress_fn progress;
        void *userdata;
        ids_progress p;                         /* current counters */
        uint64_t last_report_bytes;

        /* Results. */
        bool finished;                          /* got the device's final message */
        int device_error;                       /* its ErrorCode */
        char message[256];                      /* first problem seen, for logs */
        uint64_t new_bytes;

        bool no_direct;                         /* private: the file system refused O_DIRECT */
} DLHost;

/* Run the loop until the device's final result (0: h->finished, h->device_error set),
 * or an outcome: IDS_E_CANCELLED, IDS_E_DISCONNECTED, IDS_E_PROTOCOL, IDS_E_DISK_FULL,
 * IDS_E_TIMEOUT, or -errno (local I/O). */
int dl_run(DLHost *h);

/* Report progress now (phase changes always go out; bytes at most every 64 KiB). */
void dl_report(DLHost *h, bool force);

/* session_client_new_fn for mobilebackup2 (session_connect_service()). */
int dl_mb2_client_new(idevice_t device, lockdownd_service_descriptor_t service,
                      void **ret_client);
