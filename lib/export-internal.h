/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The inside of ExportCtx (export.h), shared by export.c (what types use, the plain
 * backend) and export-sync.c (the sync category and the snapshot backend).
 */
#pragma once

#include <dirent.h>

#include "cancel.h"
#include "export.h"

typedef struct ExportFileInfo {
        uint64_t size;                          /* plaintext bytes */
        int64_t mtime;                          /* seconds since the epoch; 0: unknown */
} ExportFileInfo;

typedef struct ExportBackend {
        /* A readable fd of the plaintext of domain/path. -ENOENT when absent. */
        int (*open)(ExportCtx *x, const char *domain, const char *path, int *ret_fd,
                    ExportFileInfo *info);
        int (*list)(ExportCtx *x, const char *domain, const char *prefix,
                    int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata),
                    void *userdata);
} ExportBackend;

struct ExportCtx {
        const ExportType *type;
        const ExportBackend *backend;
        void *backend_data;                     /* the snapshot backend's Source */
        char ios[32];
        char snapshot_id[64];
        int root_fd;                            /* where the type writes */
        char *work_dir;                         /* private copies of databases */
        int work_fd;
        unsigned n_dbs;
        int plain_fd;                           /* the plain backend's directory */
        int prev_fd;                            /* <library>/, for reusing unchanged copies */
        ids_cancel *cancel;
        uint64_t items;
        char reason[256];
};

/* Set up x for t, with a private work directory beneath work_parent (NULL: /tmp; the sync
 * uses the state directory, 0700, as decrypted databases go there). The caller sets
 * backend and the rest; export_ctx_done() in any case. */
int export_ctx_init(ExportCtx *x, const ExportType *t, const char *ios, int root_fd,
                    const char *work_parent);
void export_ctx_done(ExportCtx *x);
