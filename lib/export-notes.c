/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the notes export is being written. */
#include "export.h"

static int run(ExportCtx *x) {
        return export_missing(x, "notes");
}

const ExportType export_notes = {
        .name = "notes",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run,
};
