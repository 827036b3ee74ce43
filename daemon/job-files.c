/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Browse a snapshot (ListFiles()): the helper lists the files of a committed snapshot from
 * its Manifest.db (decrypted with the backup password for an encrypted one) into the pipe
 * the caller passed, so the store and the password stay with the service and a listing of
 * any size never passes through the bus. One line per file, then one last line with the
 * outcome; the format is in org.idevicesync1.xml (ListFiles):
 *
 *   F <TAB> domain <TAB> path <TAB> size <TAB> mtime <TAB> type <TAB> flags
 *   E <TAB> result <TAB> message
 *
 * with '\\', TAB and newline in names written as \\, \t, \n; type file, dir, symlink or
 * unknown; flags "-" or a comma list of encrypted, unsafe.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "job-type.h"

static int files_request(Device *d, const JobParams *p, WorkerRequest *req) {
        if (!p->has_fd)
                return -EINVAL;
        req->snapshot = p->snapshot;
        req->domain = p->domain && p->domain[0] ? p->domain : NULL;
        req->prefix = p->prefix && p->prefix[0] ? p->prefix : NULL;
        req->has_pass_fd = true;
        req->pass_fd = p->fd;
        req->has_password_fd = p->has_password_fd;
        req->password_fd = p->password_fd;
        return 0;
}

static void put_escaped(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\t')
                        fputs("\\t", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
}

static int list_one(const ids_snapshot_file *f, void *userdata) {
        FILE *out = userdata;
        const char *type = f->flags == IDS_SNAPSHOT_FILE_REGULAR ? "file" :
                           f->flags == IDS_SNAPSHOT_FILE_DIRECTORY ? "dir" :
                           f->flags == IDS_SNAPSHOT_FILE_SYMLINK ? "symlink" : "unknown";

        fputs("F\t", out);
        put_escaped(out, f->domain);
        fputc('\t', out);
        put_escaped(out, f->path);
        fprintf(out, "\t%" PRIu64 "\t%" PRIi64 "\t%s\t%s%s%s\n", f->size, f->mtime, type,
                f->encrypted ? "encrypted" : "", f->encrypted && !f->safe ? "," : "",
                !f->safe ? "unsafe" : f->encrypted ? "" : "-");
        /* The reader went away: stop. */
        return ferror(out) ? -EPIPE : 0;
}

static int files_run(const WorkerRequest *req, ids_cancel *cancel, WorkerReport *res) {
        char *pw = worker_read_password_for(req);
        ids_files_options o = {
                .udid = req->udid,
                .snapshot = req->snapshot,
                .state_dir = req->state_dir,
                .backup_dir = req->backup_dir,
                .password = pw,
                .domain = req->domain,
                .prefix = req->prefix,
                .problem = res->message,
                .problem_size = sizeof(res->message),
        };
        FILE *out;
        int r;

        (void) signal(SIGPIPE, SIG_IGN);        /* a reader that quits is EPIPE, not death */
        out = fdopen(WORKER_PASS_FD, "w");
        if (!out) {
                worker_password_free(pw);
                return -errno;
        }
        r = ids_snapshot_files(&o, list_one, out);
        worker_password_free(pw);
        if (r == 0)
                snprintf(res->message, sizeof(res->message), "Listed.");
        else if (!res->message[0])
                snprintf(res->message, sizeof(res->message), "%s",
                         r < 0 ? strerror(-r) : ids_result_message(r));
        fprintf(out, "E\t%s\t", r == 0 ? "done" : ids_result_to_string(r));
        put_escaped(out, res->message);
        fputc('\n', out);
        (void) fclose(out);
        return r;
}

const JobType job_type_files = {
        .name = "files",
        .on_bus = true,
        .request = files_request,
        .finished = device_after_side_job,
        .run = files_run,
};
