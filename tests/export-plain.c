/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export-plain TYPE SRC_DIR OUT_DIR [IOS]: run one export type (contacts, calendars,
 * bookmarks, notes, voice-memos) on a directory laid out as <domain>/<path> (an emulator
 * profile's backup/) into OUT_DIR (created, must not exist). Prints "items N" and
 * "reason ..." and exits 0 on success, 3 for an unknown schema, 4 when the database is
 * missing, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"

static const ExportType *const types[] = {
        &export_contacts, &export_calendars, &export_bookmarks, &export_notes,
        &export_voice_memos,
};

int main(int argc, char **argv) {
        const ExportType *t = NULL;
        char reason[256] = "";
        uint64_t items = 0;
        int fd, r;

        if (argc < 4 || argc > 5) {
                fprintf(stderr, "usage: export-plain TYPE SRC_DIR OUT_DIR [IOS]\n");
                return 2;
        }
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
                if (strcmp(types[i]->name, argv[1]) == 0)
                        t = types[i];
        if (!t) {
                fprintf(stderr, "unknown export type '%s'\n", argv[1]);
                return 2;
        }
        if (mkdir(argv[3], 0755) < 0) {
                fprintf(stderr, "mkdir %s: %s\n", argv[3], strerror(errno));
                return 1;
        }
        fd = open(argv[3], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return 1;
        r = export_run_plain(t, argv[2], argc == 5 ? argv[4] : "17.5", fd, reason,
                             sizeof(reason), &items);
        printf("items %llu\nreason %s\nresult %d\n", (unsigned long long) items, reason, r);
        close(fd);
        return r == 0 ? 0 : r == IDS_E_UNSUPPORTED ? 3 : r == -ENOENT ? 4 : 1;
}
