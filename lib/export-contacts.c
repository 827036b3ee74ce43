/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the contacts export is being written. */
#include "export.h"

static int run(ExportCtx *x) {
        return export_missing(x, "contacts");
}

const ExportType export_contacts = {
        .name = "contacts",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run,
};
