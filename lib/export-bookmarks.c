/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the bookmarks export is being written. */
#include "export.h"

static int run(ExportCtx *x) {
        return export_missing(x, "bookmarks");
}

const ExportType export_bookmarks = {
        .name = "bookmarks",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run,
};
