/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The body of an Apple Note (ZICNOTEDATA.ZDATA): gzip'd protobuf, decoded by a small
 * bounds-checked wire-format reader of our own, and rendered as Markdown. Kept apart from
 * the database side (export-notes.c) so the fuzz target (tests/fuzz/fuzz-note-body.c) and
 * the unit test reach it with only zlib.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What ZDATA may inflate to at most; more is refused (-EFBIG), never allocated. */
#define NOTE_BODY_MAX (64u * 1024 * 1024)

/* ParagraphStyle.style_type as Notes writes it; NOTE_STYLE_BODY when absent. */
enum {
        NOTE_STYLE_BODY = -1,
        NOTE_STYLE_TITLE = 0,
        NOTE_STYLE_HEADING = 1,
        NOTE_STYLE_SUBHEADING = 2,
        NOTE_STYLE_MONOSPACED = 4,
        NOTE_STYLE_DOTTED = 100,
        NOTE_STYLE_DASHED = 101,
        NOTE_STYLE_NUMBERED = 102,
        NOTE_STYLE_CHECKBOX = 103,
};

/* One AttributeRun: the next `length` characters (UTF-16 code units) of the text. */
typedef struct NoteRun {
        uint64_t length;
        int style;              /* NOTE_STYLE_* or another value Notes wrote */
        unsigned indent;        /* list nesting, capped */
        bool checklist;         /* the run carries a checklist item */
        bool done;              /* … and it is ticked */
        char *attachment_id;    /* AttachmentInfo.attachment_identifier, NUL-free, or NULL */
        char *attachment_uti;   /* AttachmentInfo.type_uti, or NULL */
} NoteRun;

typedef struct NoteBody {
        char *text;             /* note_text, NUL-terminated (embedded NULs become U+FFFD) */
        size_t text_len;
        NoteRun *runs;
        size_t n_runs;
} NoteBody;

NoteBody *note_body_free(NoteBody *b);
static inline void note_body_freep(NoteBody **b) {
        note_body_free(*b);
}

/* Parse a NoteStoreProto (already inflated) of size bytes. Unknown fields are skipped;
 * every length is checked against what remains. *ret is the caller's. 0; -EBADMSG (not
 * the wire format, or no note_text); -E2BIG (more runs than we accept); -ENOMEM. */
int note_body_parse(const void *pb, size_t size, NoteBody **ret);

/* Inflate gzip'd (or zlib'd) ZDATA into a malloc'd buffer of at most max bytes. 0;
 * -EBADMSG (not gzip/zlib, truncated); -EFBIG (would inflate beyond max); -ENOMEM. */
int note_body_inflate(const void *data, size_t size, size_t max, uint8_t **ret,
                      size_t *ret_size);

/* note_body_inflate() with NOTE_BODY_MAX, then note_body_parse(). */
int note_body_decode(const void *data, size_t size, NoteBody **ret);

/* Markdown for the attachment whose U+FFFC stands at this place: the callback returns a
 * malloc'd string (the caller frees it), or NULL to have "[attachment]" written. */
typedef char *(*NoteAttachmentFn)(const char *id, const char *uti, void *userdata);

/* Render b as Markdown into a malloc'd, NUL-terminated *ret. Paragraph styles: title "# ",
 * heading "## ", subheading "### ", dotted/dashed list "- ", numbered list "N. ", checklist
 * "- [ ] " / "- [x] ", list items indented two spaces per level, runs of monospaced
 * paragraphs in ``` fences; body text as it is (no Markdown escaping, so every paragraph
 * of the note stays findable as written); link URLs are not rendered. Blank lines
 * separate paragraphs outside lists and fences, and lists of another kind. 0 or -ENOMEM. */
int note_body_markdown(const NoteBody *b, NoteAttachmentFn fn, void *userdata, char **ret,
                       size_t *ret_len);

/* A table attachment's ZMERGEABLEDATA1 (gzip'd MergableDataProto, the CRDT Notes keeps
 * tables in) as a Markdown table: the first row is the header, '|' in a cell becomes "\|",
 * newlines spaces; no newline at the end. Read as the published parser reads it: the
 * entry typed com.apple.notes.ICTable, its crRows / crColumns ordered sets (with their
 * aliases) and cellColumns dictionaries. 0; -EBADMSG (not a table we can read); -E2BIG
 * (more than 256 rows or columns); -EFBIG; -ENOMEM. */
int note_table_markdown(const void *data, size_t size, char **ret);
/* The same on the inflated MergableDataProto. */
int note_table_parse(const void *pb, size_t size, char **ret);
