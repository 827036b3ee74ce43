/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Crash logs, device → computer (sync-protocols.md §8), as idevicecrashreport does:
 * com.apple.crashreportmover first (it moves pending reports where they can be read and
 * says "ping"), then com.apple.crashreportcopymobile, an AFC server rooted at the
 * CrashReporter directory, walked recursively. Each report is copied byte for byte to
 * <library>/crashlogs/<its path> (an iOS 5 ".synced" suffix dropped). With CrashLogs=move
 * (iTunes' behaviour, the default) the device's copy is removed only after the host copy is
 * durable and recorded; CrashLogs=copy keeps it, and sync.db keeps it from being copied
 * twice.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libimobiledevice/service.h>

#include "sync-internal.h"
#include "util.h"

#define CATEGORY "crashlogs"
#define MOVER "com.apple.crashreportmover"
#define COPY "com.apple.crashreportcopymobile"

typedef struct CrashFile {
        char *device_path;
        char *rel_path;
        uint64_t size;
        int64_t mtime_ns;
        bool copy;                              /* new or changed: copy it */
        bool remove;                            /* move: safe on the computer, remove it */
} CrashFile;

typedef struct CrashLogs {
        afc_client_t afc;
        CrashFile *files;
        size_t n, allocated;
} CrashLogs;

static const char *crashlogs_mode(const ids_sync_options *o) {
        switch (o->crashlogs) {
        case IDS_SYNC_CRASHLOGS_MOVE:
                return "move";
        case IDS_SYNC_CRASHLOGS_COPY:
                return "copy";
        default:
                return "no";
        }
}

/* The mover answers "ping" once the pending reports are in place (10 × 2 s at most). */
static int wait_for_mover(SyncRun *run) {
        lockdownd_service_descriptor_t svc = NULL;
        service_client_t client = NULL;
        char buf[8];
        int r;

        r = session_start_service(run->session, MOVER, &svc);
        if (r != 0)
                return r;
        if (service_client_new(run->session->device, svc, &client) != SERVICE_E_SUCCESS) {
                lockdownd_service_descriptor_free(svc);
                return IDS_E_DISCONNECTED;
        }
        lockdownd_service_descriptor_free(svc);
        r = IDS_E_TIMEOUT;
        for (int attempt = 0; attempt < 10 && r == IDS_E_TIMEOUT; attempt++) {
                uint32_t got = 0;
                service_error_t e;

                if (sync_check_cancel(run) != 0) {
                        r = IDS_E_CANCELLED;
                        break;
                }
                e = service_receive_with_timeout(client, buf, 4, &got, 2000);
                if (got == 4 && memcmp(buf, "ping", 4) == 0)
                        r = 0;
                else if (e != SERVICE_E_SUCCESS && e != SERVICE_E_TIMEOUT)
                        r = IDS_E_DISCONNECTED;
        }
        service_client_free(client);
        return r;
}

static int add_file(SyncRun *run, const SyncEntry *e, void *userdata) {
        CrashLogs *cl = userdata;
        CrashFile *f;

        if (sync_grow((void **) &cl->files, &cl->allocated, cl->n, sizeof(*cl->files), 64) < 0)
                return -ENOMEM;
        f = &cl->files[cl->n];
        *f = (CrashFile) { .size = e->size, .mtime_ns = e->mtime_ns };
        f->device_path = strdup(e->device_path);
        f->rel_path = strdup(e->rel_path);
        if (!f->device_path || !f->rel_path) {
                free(f->device_path);
                free(f->rel_path);
                return -ENOMEM;
        }
        cl->n++;
        run->p.files_total = cl->n;
        return 0;
}

static int crashlogs_scan_device(SyncRun *run, SyncCat *c) {
        CrashLogs *cl = calloc(1, sizeof(*cl));
        int r;

        if (!cl)
                return -ENOMEM;
        c->state = cl;
        r = wait_for_mover(run);
        if (r != 0) {
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "The crash report mover did not answer: %s", ids_result_message(r));
                return r;
        }
        r = sync_afc_connect(run, COPY, &cl->afc);
        if (r != 0)
                return r;
        r = sync_afc_walk(run, cl->afc, "/", 8, &c->out->refused, add_file, cl);
        return r == -ENOENT ? 0 : r;
}

static int crashlogs_plan(SyncRun *run, SyncCat *c) {
        CrashLogs *cl = c->state;
        bool move = run->o->crashlogs == IDS_SYNC_CRASHLOGS_MOVE;

        c->out->files_in = c->out->bytes_in = c->out->removed_device = 0;
        for (size_t i = 0; i < cl->n; i++) {
                CrashFile *f = &cl->files[i];
                SyncItem it = {};
                int r = run->db ? sync_db_get(run->db, CATEGORY, f->device_path, &it) : 0;

                if (r < 0)
                        return r;
                f->copy = !(r > 0 && it.size == f->size && it.mtime_ns == f->mtime_ns);
                f->remove = move;
                sync_item_done(&it);
                if (f->copy) {
                        c->out->files_in++;
                        c->out->bytes_in += f->size;
                }
                if (f->remove)
                        c->out->removed_device++;
        }
        run->p.files_total = c->out->files_in;
        run->p.bytes_total = c->out->bytes_in;
        run->p.files_done = 0;
        return 0;
}

static int remove_from_device(SyncRun *run, SyncCat *c, const char *device_path) {
        CrashLogs *cl = c->state;
        afc_error_t e = afc_remove_path(cl->afc, device_path);
        int r;

        if (e != AFC_E_SUCCESS && e != AFC_E_OBJECT_NOT_FOUND) {
                r = sync_afc_error(run, e);
                return r == -EACCES ? 0 : r;    /* the device keeps it: not ours to force */
        }
        c->out->removed_device++;
        r = sync_db_set_on_device(run->db, CATEGORY, device_path, false);
        return r < 0 ? r : 0;
}

/* After a batch is durable and recorded: only now may the device's copies go. */
static int after_commit(SyncRun *run, BatchFile *f, void *userdata) {
        SyncCat *c = userdata;

        if (run->o->crashlogs != IDS_SYNC_CRASHLOGS_MOVE)
                return 0;
        return remove_from_device(run, c, f->device_path);
}

static int crashlogs_apply(SyncRun *run, SyncCat *c) {
        CrashLogs *cl = c->state;
        Batch b;
        int r;

        r = batch_open(&b, run, c, "crashlogs");
        if (r != 0)
                return r;
        b.committed = after_commit;
        b.userdata = c;
        c->out->removed_device = 0;
        r = 0;
        for (size_t i = 0; i < cl->n && r == 0; i++) {
                CrashFile *f = &cl->files[i];
                SyncEntry e = { .device_path = f->device_path, .rel_path = f->rel_path,
                                .size = f->size, .mtime_ns = f->mtime_ns };
                const char *slash = strrchr(f->rel_path, '/');
                BatchFile *bf;
                size_t len;

                if (!f->copy) {
                        /* Copied by an earlier run (and recorded): remove it if moving. */
                        if (f->remove)
                                r = remove_from_device(run, c, f->device_path);
                        continue;
                }
                r = batch_fetch(&b, cl->afc, &e, &bf);
                if (r == -EAGAIN || r == -ENOENT) {
                        r = 0;                  /* still being written, or gone: next time */
                        continue;
                }
                if (r != 0)
                        break;
                run->p.files_done++;
                bf->group = batch_new_group(&b);
                bf->dir = strndup(f->rel_path, slash ? (size_t) (slash - f->rel_path) : 0);
                bf->name = strdup(slash ? slash + 1 : f->rel_path);
                if (!bf->dir || !bf->name) {
                        r = -ENOMEM;
                        break;
                }
                len = strlen(bf->name);
                if (len > 7 && strcmp(bf->name + len - 7, ".synced") == 0)
                        bf->name[len - 7] = 0;
                if (batch_full(&b))
                        r = batch_commit(&b);
        }
        return batch_finish(&b, r, c->out);
}

static void crashlogs_free(SyncCat *c) {
        CrashLogs *cl = c->state;

        if (!cl)
                return;
        for (size_t i = 0; i < cl->n; i++) {
                free(cl->files[i].device_path);
                free(cl->files[i].rel_path);
        }
        free(cl->files);
        if (cl->afc)
                afc_client_free(cl->afc);
        free(cl);
        c->state = NULL;
}

const SyncCategoryType sync_category_crashlogs = {
        .name = CATEGORY,
        .mode = crashlogs_mode,
        .scan_device = crashlogs_scan_device,
        .plan = crashlogs_plan,
        .apply = crashlogs_apply,
        .free_state = crashlogs_free,
};
