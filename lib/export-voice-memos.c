/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder: the voice-memos export is being written. */
#include "export.h"

static int run(ExportCtx *x) {
        return export_missing(x, "voice-memos");
}

const ExportType export_voice_memos = {
        .name = "voice-memos",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run,
};
