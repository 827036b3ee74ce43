/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Extract from a snapshot (Extract()): the helper writes decrypted copies of the chosen
 * files beneath the directory the caller opened and passed over the bus (the sandboxed
 * service cannot open a caller's directory by name), with ids_snapshot_extract(): beneath
 * that fd only, no symlink followed, nothing replaced, unsafe names refused. An encrypted
 * snapshot opens with the service's backup password, or one the caller typed and passed
 * through a pipe (never in a message).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job-type.h"
#include "macro.h"

static int extract_request(Device *d, const JobParams *p, WorkerRequest *req) {
        if (!p->has_fd)
                return -EINVAL;
        req->snapshot = p->snapshot;
        req->domain = p->domain && p->domain[0] ? p->domain : NULL;
        req->prefix = p->prefix && p->prefix[0] ? p->prefix : NULL;
        req->items = p->items && p->items[0] ? p->items : NULL;
        req->all = p->all;
        req->has_pass_fd = true;
        req->pass_fd = p->fd;
        req->has_password_fd = p->has_password_fd;
        req->password_fd = p->password_fd;
        return 0;
}

/* "<domain>\x1f<path>\x1e…" into items (pointing into buf, which it changes). */
static int parse_items(char *buf, ids_extract_item **ret, size_t *ret_n) {
        ids_extract_item *items = NULL;
        size_t n = 0;
        char *save = NULL;

        for (char *t = strtok_r(buf, "\x1e", &save); t; t = strtok_r(NULL, "\x1e", &save)) {
                char *sep = strchr(t, '\x1f');
                ids_extract_item *x = reallocarray(items, n + 1, sizeof(*x));

                if (!x) {
                        free(items);
                        return -ENOMEM;
                }
                items = x;
                if (sep)
                        *sep = 0;
                items[n++] = (ids_extract_item) { .domain = t, .path = sep ? sep + 1 : "" };
        }
        *ret = items;
        *ret_n = n;
        return 0;
}

static void format_size(uint64_t b, char *buf, size_t n) {
        if (b < 1024 * 1024)
                snprintf(buf, n, "%" PRIu64 " KiB", (b + 1023) / 1024);
        else
                snprintf(buf, n, "%.1f MiB", (double) b / (1024.0 * 1024.0));
}

static int extract_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        _cleanup_free_ char *buf = req->items ? strdup(req->items) : NULL;
        _cleanup_free_ ids_extract_item *items = NULL;
        ids_extract_report rep = {};
        char size[32];
        size_t n = 0;
        char *pw;
        int r;

        if (req->items && !buf)
                return -ENOMEM;
        if (buf) {
                r = parse_items(buf, &items, &n);
                if (r < 0)
                        return r;
        }
        pw = worker_read_password_for(req);
        r = ids_snapshot_extract(&(ids_extract_options) {
                                         .udid = req->udid,
                                         .snapshot = req->snapshot,
                                         .state_dir = req->state_dir,
                                         .backup_dir = req->backup_dir,
                                         .password = pw,
                                         .target_fd = WORKER_PASS_FD,
                                         .all = req->all,
                                         .items = items,
                                         .n_items = n,
                                         .domain = req->domain,
                                         .prefix = req->prefix,
                                         .progress = worker_on_progress,
                                         .cancel = cancel,
                                 },
                                 &rep);
        worker_password_free(pw);
        res->files = rep.files;
        res->bytes = rep.bytes;
        format_size(rep.bytes, size, sizeof(size));
        if (r == IDS_E_WRONG_PASSWORD || r == IDS_E_BUSY || r == IDS_E_CANCELLED ||
            r == -ENOENT)
                snprintf(res->message, sizeof(res->message), "%.200s",
                         rep.first_problem[0] ? rep.first_problem :
                         r == -ENOENT ? "No such snapshot." : ids_result_message(r));
        else
                snprintf(res->message, sizeof(res->message),
                         "%" PRIu64 " files (%s) extracted, %" PRIu64 " directories; %" PRIu64
                         " already there, %" PRIu64 " refused, %" PRIu64 " failed, %" PRIu64
                         " symlinks not created%s%.100s",
                         rep.files, size, rep.directories, rep.skipped, rep.refused + rep.not_found,
                         rep.failed, rep.symlinks, rep.first_problem[0] ? ": " : ".",
                         rep.first_problem);
        return r;
}

const JobType job_type_extract = {
        .name = "extract",
        .on_bus = true,
        .clean_cancel = true,
        .request = extract_request,
        .finished = device_after_side_job,
        .run = extract_run,
};
