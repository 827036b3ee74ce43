/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job helpers (worker.c). Every blocking piece of work — the lockdown probe, a backup, a
 * verify, a restore — runs in a helper process: the daemon forks and re-executes itself
 * with --worker, and the helper calls libidevicesync and reports over a SOCK_SEQPACKET
 * socketpair. A hung libimobiledevice call, a crash or a leak costs one job, never the
 * daemon; exec gives the helper a clean process (no inherited threads or locks).
 * Cancel = SIGTERM (the helper cancels cleanly through ids_cancel_request()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum WorkerKind {
        WORKER_PROBE,
        WORKER_BACKUP,
        WORKER_VERIFY,
        WORKER_RESTORE,
        _WORKER_KIND_MAX,
        _WORKER_KIND_INVALID = -22,
} WorkerKind;

const char *worker_kind_to_string(WorkerKind k);
WorkerKind worker_kind_from_string(const char *s);

typedef enum WorkerMsgType {
        WORKER_MSG_PROGRESS = 1,
        WORKER_MSG_INFO,                /* probe: what the device told us */
        WORKER_MSG_RESULT,              /* last message */
} WorkerMsgType;

/* One datagram. Strings are NUL-terminated (the receiver terminates them again). */
typedef struct WorkerMsg {
        uint32_t type;
        int32_t phase;                  /* ids_phase */
        uint64_t bytes_done, bytes_total, files_done, files_total;
        double percent;
        int32_t result;                 /* 0, IDS_E_*, -errno */
        int32_t device_error;
        int32_t battery;                /* -1 unknown */
        uint8_t charging, will_encrypt, full, encrypted;
        uint64_t files, bytes, new_bytes;
        char name[128], product_type[64], product_version[32];
        char snapshot_id[32];
        char message[256];
} WorkerMsg;

/* What a helper is asked to do. Strings borrowed. */
typedef struct WorkerArgs {
        WorkerKind kind;
        const char *udid;
        const char *state_dir;
        const char *snapshot;           /* verify/restore: "" or NULL = latest */
        const char *target;             /* restore target */
        bool full;
        bool reboot;
        unsigned keep, keep_days;
        uint64_t min_free_bytes;
        unsigned min_free_percent;
        bool require_encryption;
} WorkerArgs;

/* Fork + exec a helper; *ret_fd is the parent's end of the socketpair (non-blocking,
 * CLOEXEC), *ret_pid the helper. 0 or -errno. */
int worker_spawn(const WorkerArgs *a, pid_t *ret_pid, int *ret_fd);

/* The helper's main(): argv after "--worker". Returns the process exit status. */
int worker_main(int argc, char **argv);
