/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer target for the note body decoder (lib/export-notes-proto.c): the input is a
 * ZICNOTEDATA.ZDATA blob from a backup. Input starting with the gzip magic goes through
 * note_body_decode() (inflate with its cap, then the protobuf reader); anything else
 * straight to note_body_parse() and to note_table_parse() (a table's CRDT). Whatever is
 * parsed is rendered as Markdown. Nothing may
 * crash, read out of bounds or leak, and the Markdown's length must be what was returned.
 * Build: clang -fsanitize=fuzzer,address,undefined -Ilib -Icommon tests/fuzz/fuzz-note-body.c
 * lib/export-notes-proto.c -lz. Seeds: build/tests/test-export-notes DIR writes two.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export-notes-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *attachment(const char *id, const char *uti, void *userdata) {
        (*(size_t *) userdata)++;
        return strdup(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NoteBody *b = NULL;
        size_t calls = 0, len = 0;
        char *md = NULL;
        int r;

        if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
                r = note_body_decode(data, size, &b);
        else {
                /* the same bytes as a table's CRDT */
                if (note_table_parse(data, size, &md) == 0) {
                        if (strlen(md) == 0)
                                abort();
                        free(md);
                        md = NULL;
                }
                r = note_body_parse(data, size, &b);
        }
        if (r < 0)
                return 0;
        if (strlen(b->text) != b->text_len)
                abort();
        if (note_body_markdown(b, attachment, &calls, &md, &len) == 0) {
                if (strlen(md) != len)
                        abort();
                free(md);
        }
        note_body_free(b);
        return 0;
}
