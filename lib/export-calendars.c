/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the calendars export is being written. */
#include "export.h"

static int run(ExportCtx *x) {
        return export_missing(x, "calendars");
}

const ExportType export_calendars = {
        .name = "calendars",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run,
};
