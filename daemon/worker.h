/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job helpers (worker.c). Every blocking piece of work — the lockdown probe, a backup, a
 * verify, a restore, a snapshot delete, later sync — runs in a helper process: the daemon
 * forks and re-executes itself with --worker, and the helper calls libidevicesync. A hung
 * libimobiledevice call, a crash or a leak costs one job, never the daemon; exec gives the
 * helper a clean process (no inherited threads or locks). Cancel = SIGTERM (the helper
 * cancels cleanly through ids_cancel_request()).
 *
 * The two talk over a SOCK_SEQPACKET socketpair, in text, one datagram per message:
 *   - the request, daemon → helper, sent right after the fork: KEY=value lines
 *     (KIND=backup, UDID=…, STATE_DIR=…, FULL=1, …), encoded and decoded by one table;
 *     a probe's request carries HANDOVER=1: when the probe succeeds, its RESULT says
 *     HANDOVER=1 and the helper waits, its device session open, for one more request,
 *     which the daemon sends when its policy starts the device's job at once (the job
 *     then saves a process and a TLS handshake); EOF instead ends the helper;
 *     a sync also carries a person's answers, one DECISION=<category>/<choice>/<item>
 *     line each (item 0 for a first-sync choice, the held item's id for approve/reject);
 *   - reports, helper → daemon: KEY=value lines too, TYPE=progress|info|result first
 *     (PHASE=transfer, BYTES_DONE=…, RESULT=…, MESSAGE=…, SNAPSHOT=…; a sync's result
 *     has one SYNC=<name> <mode> <code> <nine counters> <reason> line per category,
 *     the counters in the order of ids_sync_category). The daemon checks
 *     every value on receipt (a helper is as untrusted as the device it talks to) and
 *     ignores keys it does not know, so either side can grow new ones.
 * What each kind does in the helper lives in its job-<kind>.c (JobType.run).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "idevicesync.h"

/* The largest report either side sends or accepts. */
#define WORKER_MSG_MAX 16384
/* The largest request (it carries up to WORKER_DECISIONS_MAX decision lines). */
#define WORKER_REQUEST_MAX (128 * 1024)
#define WORKER_DECISIONS_MAX 2048

/* A person's answer for the sync helper (ids_sync_decision, in words). */
typedef struct WorkerDecision {
        const char *category;                   /* "documents" */
        const char *choice;                     /* approve, reject (held items); merge,
                                                 * replace-device, replace-computer */
        uint64_t item;                          /* held item id; 0 for a first-sync choice */
} WorkerDecision;

/* Whether d is well formed: category a lower-case word, choice one of the five, item > 0
 * exactly for approve/reject. */
bool worker_decision_is_valid(const WorkerDecision *d);

/* What a helper is asked to do. In the daemon the strings are borrowed from the caller;
 * in the helper they point into the received datagram. NULL = not given. */
typedef struct WorkerRequest {
        const char *kind;                       /* job kind name, e.g. "backup" */
        const char *udid;                       /* the device the job is about */
        const char *state_dir;                  /* $STATE_DIRECTORY (locks, device state) */
        const char *backup_dir;                 /* where snapshots live (BackupDir=) */
        const char *snapshot;                   /* verify/restore/delete: "" = the latest */
        const char *target;                     /* restore: the device restored */
        bool full;                              /* backup: ask for a full backup */
        bool dry_run;                           /* sync: plan only */
        const char *photos;                     /* sync: "import" | "no" */
        const char *photos_dir;                 /* sync: NULL = <library>/photos */
        const char *media;                      /* sync: the imported ones of "music videos
                                                 * books ringtones", space-separated */
        const char *to_device;                  /* sync: the ones of "photos music videos
                                                 * books ringtones" a policy asked to send to
                                                 * the phone (refused: a summary row each) */
        const char *crash_logs;                 /* sync: "move" | "copy" | "no" */
        const char *documents;                  /* sync: "two-way" | "import" | "no" */
        const char *documents_dir;              /* sync: NULL = <library>/documents */
        const char *documents_apps;             /* sync: bundle ids separated by spaces */
        const char *deletions;                  /* sync: "hold" | "propagate" | "never" */
        const char *first_sync;                 /* sync: "ask" | "merge" | "replace-…" */
        uint64_t trash_days;                    /* sync: 0 = the library's default */
        const char *exports;                    /* sync: "contacts calendars …" turned on */
        const char *apps;                       /* sync: "inventory" | "install" | "no" */
        const char *apps_dir;                   /* sync: NULL = <library>/apps-to-install */
        bool offline;                           /* sync: no device (apply decisions) */
        const WorkerDecision *decisions;        /* sync: answers to record and apply */
        size_t n_decisions;
        WorkerDecision *decisions_owned;        /* the decoder's array (worker_request_done) */
        bool reboot;                            /* probe/restore: reboot when needed */
        bool handover;                          /* probe: when it succeeds, stay for the
                                                 * device's next request (job.c) */
        bool skip_checks;                       /* restore: no pre-checks */
        bool restore_system;                    /* restore: [Restore] of the target */
        bool restore_settings;
        bool restore_remove;
        bool restore_app_list;
        bool require_encryption;
        uint64_t keep, keep_days;               /* retention */
        uint64_t min_free_bytes, min_free_percent;
        /* files/extract: what to list or extract. items: "<domain>\x1f<path>" entries
         * separated by '\x1e' (a caller's names never hold control characters). */
        const char *domain, *prefix, *items;
        bool all;
        /* Descriptors the helper gets beside its socket: the caller's (files: where the
         * listing goes; extract: the target directory) as WORKER_PASS_FD, and a pipe with a
         * backup password the caller typed as WORKER_PASSWORD_FD. The flags travel in the
         * request; the numbers are the daemon's (borrowed, not encoded). */
        bool has_pass_fd, has_password_fd;
        int pass_fd, password_fd;
} WorkerRequest;

#define WORKER_PASS_FD 4
#define WORKER_PASSWORD_FD 5

/* Encode r as KEY=value lines into buf (NUL-terminated). Returns the length, -EINVAL if
 * a string holds a newline or r->kind/r->udid is missing, -ENOBUFS if it does not fit. */
int worker_request_encode(const WorkerRequest *r, char *buf, size_t size);
/* Decode the datagram buf (n bytes, modified: strings end up pointing into it; buf has
 * room for n + 1 bytes). 0, -ENOMEM, or -EBADMSG for a malformed line, a bad number or
 * decision, more than WORKER_DECISIONS_MAX decisions or a missing KIND/UDID. Free what it
 * allocated with worker_request_done(). */
int worker_request_decode(char *buf, size_t n, WorkerRequest *ret);
/* Free what worker_request_decode() allocated (the decisions array). Accepts a request
 * built by hand (decisions_owned NULL). */
void worker_request_done(WorkerRequest *r);

typedef enum WorkerReportType {
        WORKER_REPORT_PROGRESS = 1,
        WORKER_REPORT_INFO,                     /* probe: what the device told us */
        WORKER_REPORT_RESULT,                   /* the last report of a helper */
        _WORKER_REPORT_TYPE_MAX,
} WorkerReportType;

/* One report. Strings are always NUL-terminated and free of control characters. */
typedef struct WorkerReport {
        WorkerReportType type;
        int phase;                              /* ids_phase, -1 = not given */
        uint64_t bytes_done, bytes_total, files_done, files_total;
        unsigned percent;                       /* the device's own estimate, 0..100 */
        int code;                               /* result: 0, IDS_E_*, -errno */
        int device_error;
        int battery;                            /* -1 unknown */
        bool charging, will_encrypt, full, encrypted;
        uint64_t files, bytes, new_bytes;
        char name[128], product_type[64], product_version[32];
        char snapshot[32];
        char message[256];
        char category[32];                      /* progress of a sync: the category */
        bool dry_run;                           /* result of a sync: sync[] is a plan */
        bool handover;                          /* result: the helper stays with its
                                                 * device session and waits for the next
                                                 * request (or EOF) */
        size_t n_sync;                          /* result of a sync: one SYNC= line each */
        ids_sync_category sync[IDS_SYNC_CATEGORIES_MAX];
} WorkerReport;

/* A report with nothing set: phase and battery -1, the rest 0 or "". */
void worker_report_init(WorkerReport *r, WorkerReportType type);
/* Encode r into buf: TYPE first, then the keys that type carries. Control characters in
 * strings become spaces. Returns the length or -ENOBUFS. */
int worker_report_format(const WorkerReport *r, char *buf, size_t size);
/* Parse and check one report (n bytes, need not be NUL-terminated). 0, or -EBADMSG: no or
 * unknown TYPE, a line without '=', a key that is not [A-Z_]+, a number out of range, a
 * string too long or with control characters. Unknown keys are ignored. */
int worker_report_parse(const char *buf, size_t n, WorkerReport *ret);

/* Daemon side: send the request r on fd, the daemon's end of a helper's socketpair (a
 * helper that handed over takes its next request so). 0 or -errno (-EAGAIN: no room). */
int worker_send_request(int fd, const WorkerRequest *r);
/* Daemon side: fork + exec a helper and send it r. *ret_fd is the daemon's end of the
 * socketpair (non-blocking, CLOEXEC), *ret_pid the helper. 0 or -errno. */
int worker_spawn(const WorkerRequest *r, pid_t *ret_pid, int *ret_fd);

/* Helper side: send one report to the daemon (blocking; the daemon always reads). */
void worker_send(const WorkerReport *r);
/* Helper side: the progress callback of libidevicesync (ids_progress_fn): at most ten
 * reports a second, and every phase change. */
void worker_on_progress(const ids_progress *p, void *userdata);
/* Helper side: the backup password from $CREDENTIALS_DIRECTORY/backup-password, or NULL.
 * Free with worker_password_free() (wipes it). */
char *worker_read_password(void);
/* Helper side: a password the caller passed on WORKER_PASSWORD_FD (the request says so),
 * else worker_read_password(). */
char *worker_read_password_for(const WorkerRequest *req);
void worker_password_free(char *pw);

/* The helper's main(): main()'s argc and argv ("idevicesyncd --worker KIND UDID", for ps(1)
 * only). Reads the request, runs the kind's JobType.run and reports (and after a handover
 * the next request, renaming itself for ps). Returns the process exit status. */
int worker_main(int argc, char **argv);
