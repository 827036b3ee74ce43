/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The note body decoder (export-notes-proto.h). ZDATA is gzip'd protobuf; the messages we
 * read, as the published parsers describe them (field numbers):
 *   NoteStoreProto { 2: Document }   Document { 2: version, 3: Note }
 *   Note { 2: note_text (string), 5: AttributeRun (repeated) }
 *   AttributeRun { 1: length, 2: ParagraphStyle, 3: Font, 5: font_weight, 6: underlined,
 *                  7: strikethrough, 9: link, 10: Color, 12: AttachmentInfo }
 *   ParagraphStyle { 1: style_type, 2: alignment, 4: indent_amount, 5: Checklist }
 *   Checklist { 1: uuid, 2: done }   AttachmentInfo { 1: attachment_identifier, 2: type_uti }
 * Everything else (fonts, colours, the CRDT of tables) is skipped by wire type. The input
 * is hostile: every length is checked against what remains, varints are at most 10 bytes,
 * the inflated size and the number of runs are capped, and nothing recurses beyond the
 * fixed depth of the messages above.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "export-notes-proto.h"
#include "util.h"

#define MAX_RUNS (1u << 20)
#define MAX_INDENT 8u

/* A window of the input; every read advances p and never passes end. */
typedef struct Pb {
        const uint8_t *p, *end;
} Pb;

static int pb_varint(Pb *b, uint64_t *ret) {
        uint64_t v = 0;

        for (unsigned i = 0; i < 10; i++) {
                if (b->p >= b->end)
                        return -EBADMSG;
                uint8_t c = *b->p++;
                v |= (uint64_t) (c & 0x7f) << (7 * i);
                if (!(c & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* The next field: its number, wire type, and for wire type 2 the window of its bytes;
 * for wire type 0 its value. Fixed-size types are skipped here. 0, 1 at the end, or
 * -EBADMSG. */
static int pb_next(Pb *b, uint32_t *ret_field, unsigned *ret_type, uint64_t *ret_value,
                   Pb *ret_sub) {
        uint64_t key, v;
        int r;

        if (b->p >= b->end)
                return 1;
        r = pb_varint(b, &key);
        if (r < 0)
                return r;
        if (key >> 3 == 0 || key >> 3 > UINT32_MAX)
                return -EBADMSG;
        *ret_field = (uint32_t) (key >> 3);
        *ret_type = key & 7;
        *ret_value = 0;
        *ret_sub = (Pb) {};
        switch (key & 7) {
        case 0:
                return pb_varint(b, ret_value);
        case 1:
                if (b->end - b->p < 8)
                        return -EBADMSG;
                b->p += 8;
                return 0;
        case 2:
                r = pb_varint(b, &v);
                if (r < 0)
                        return r;
                if (v > (uint64_t) (b->end - b->p))
                        return -EBADMSG;
                *ret_sub = (Pb) { b->p, b->p + v };
                b->p += v;
                return 0;
        case 5:
                if (b->end - b->p < 4)
                        return -EBADMSG;
                b->p += 4;
                return 0;
        default:
                /* Groups (3, 4) are long deprecated and Notes does not write them. */
                return -EBADMSG;
        }
}

/* The first field number `field` of wire type `type` in b: its value (varint) or its bytes
 * (length-delimited). 0 (found), -ENOENT, -EBADMSG. */
static int pb_find_typed(Pb b, uint32_t field, unsigned type, uint64_t *ret_v, Pb *ret_sub) {
        for (;;) {
                uint32_t f;
                unsigned t;
                uint64_t v;
                Pb sub;
                int r = pb_next(&b, &f, &t, &v, &sub);

                if (r < 0)
                        return r;
                if (r > 0)
                        return -ENOENT;
                if (f == field && t == type) {
                        if (ret_v)
                                *ret_v = v;
                        if (ret_sub)
                                *ret_sub = sub;
                        return 0;
                }
        }
}

/* The first length-delimited field number `field` in b. 0, -ENOENT, -EBADMSG. */
static int pb_find(Pb b, uint32_t field, Pb *ret) {
        return pb_find_typed(b, field, 2, NULL, ret);
}

/* A string field as a C string: NUL bytes become U+FFFD, so nothing later cuts it short. */
static char *pb_strdup(Pb s, size_t *ret_len) {
        size_t n = (size_t) (s.end - s.p), nul = 0, k = 0;
        char *c;

        for (size_t i = 0; i < n; i++)
                nul += s.p[i] == 0;
        c = malloc(n + 2 * nul + 1);
        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s.p[i] == 0) {
                        memcpy(c + k, "\xef\xbf\xbd", 3);
                        k += 3;
                } else
                        c[k++] = (char) s.p[i];
        }
        c[k] = 0;
        if (ret_len)
                *ret_len = k;
        return c;
}

static int parse_paragraph_style(Pb b, NoteRun *run) {
        for (;;) {
                uint32_t f;
                unsigned t;
                uint64_t v;
                Pb sub;
                int r = pb_next(&b, &f, &t, &v, &sub);

                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                if (f == 1 && t == 0)
                        run->style = v > 1000 ? 1000 : (int) v;
                else if (f == 4 && t == 0)
                        run->indent = v > MAX_INDENT ? MAX_INDENT : (unsigned) v;
                else if (f == 5 && t == 2) {
                        run->checklist = true;
                        for (;;) {
                                r = pb_next(&sub, &f, &t, &v, &(Pb) {});
                                if (r < 0)
                                        return r;
                                if (r > 0)
                                        break;
                                if (f == 2 && t == 0)
                                        run->done = v != 0;
                        }
                }
        }
}

static int parse_attachment_info(Pb b, NoteRun *run) {
        for (;;) {
                uint32_t f;
                unsigned t;
                uint64_t v;
                Pb sub;
                int r = pb_next(&b, &f, &t, &v, &sub);

                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                if (t != 2 || (f != 1 && f != 2))
                        continue;
                char **field = f == 1 ? &run->attachment_id : &run->attachment_uti;
                free(*field);
                *field = pb_strdup(sub, NULL);
                if (!*field)
                        return -ENOMEM;
        }
}

static int parse_run(Pb b, NoteRun *run) {
        *run = (NoteRun) { .style = NOTE_STYLE_BODY };
        for (;;) {
                uint32_t f;
                unsigned t;
                uint64_t v;
                Pb sub;
                int r = pb_next(&b, &f, &t, &v, &sub);

                if (r < 0)
                        return r;
                if (r > 0)
                        return 0;
                if (f == 1 && t == 0)
                        run->length = v;
                else if (f == 2 && t == 2)
                        r = parse_paragraph_style(sub, run);
                else if (f == 12 && t == 2)
                        r = parse_attachment_info(sub, run);
                if (r < 0)
                        return r;
        }
}

static void run_done(NoteRun *run) {
        free(run->attachment_id);
        free(run->attachment_uti);
}

NoteBody *note_body_free(NoteBody *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_runs; i++)
                run_done(&b->runs[i]);
        free(b->runs);
        free(b->text);
        free(b);
        return NULL;
}

int note_body_parse(const void *pb, size_t size, NoteBody **ret) {
        _cleanup_(note_body_freep) NoteBody *b = NULL;
        Pb top = { pb, (const uint8_t *) pb + size }, doc, note, text;
        size_t cap = 0;
        int r;

        if (!pb && size > 0)
                return -EINVAL;
        r = pb_find(top, 2, &doc);
        if (r >= 0)
                r = pb_find(doc, 3, &note);
        if (r >= 0)
                r = pb_find(note, 2, &text);
        if (r < 0)
                return -EBADMSG;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->text = pb_strdup(text, &b->text_len);
        if (!b->text)
                return -ENOMEM;

        /* The runs, in order: field 5 of Note, wherever they stand among other fields. */
        for (Pb it = note;;) {
                uint32_t f;
                unsigned t;
                uint64_t v;
                Pb sub;

                r = pb_next(&it, &f, &t, &v, &sub);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (f != 5 || t != 2)
                        continue;
                if (b->n_runs >= MAX_RUNS)
                        return -E2BIG;
                if (b->n_runs == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        NoteRun *n = reallocarray(b->runs, ncap, sizeof(NoteRun));
                        if (!n)
                                return -ENOMEM;
                        b->runs = n;
                        cap = ncap;
                }
                r = parse_run(sub, &b->runs[b->n_runs]);
                b->n_runs++;            /* counted even when half-parsed, so it is freed */
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(b);
        return 0;
}

int note_body_inflate(const void *data, size_t size, size_t max, uint8_t **ret,
                      size_t *ret_size) {
        _cleanup_free_ uint8_t *out = NULL;
        z_stream z = {};
        size_t cap = 0, n = 0;
        int r, zr;

        if (!data || size == 0 || size > UINT32_MAX)
                return -EBADMSG;
        /* 15 + 32: a gzip or a zlib header, detected; raw deflate is not what Notes writes. */
        if (inflateInit2(&z, 15 + 32) != Z_OK)
                return -ENOMEM;
        z.next_in = (Bytef *) data;
        z.avail_in = (uInt) size;
        for (;;) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : (size < 4096 ? 16384 : size * 4);
                        if (cap >= max + 1) {
                                r = -EFBIG;
                                break;
                        }
                        if (ncap > max + 1)
                                ncap = max + 1;         /* one byte more tells "too big" */
                        uint8_t *p = realloc(out, ncap);
                        if (!p) {
                                r = -ENOMEM;
                                break;
                        }
                        out = p;
                        cap = ncap;
                }
                z.next_out = out + n;
                z.avail_out = (uInt) (cap - n);
                zr = inflate(&z, Z_NO_FLUSH);
                n = cap - z.avail_out;
                if (n > max) {
                        r = -EFBIG;
                        break;
                }
                if (zr == Z_STREAM_END) {
                        r = 0;
                        break;
                }
                if (zr == Z_MEM_ERROR) {
                        r = -ENOMEM;
                        break;
                }
                if (zr != Z_OK || (z.avail_in == 0 && z.avail_out > 0)) {
                        r = -EBADMSG;   /* corrupt, or truncated: no more input, no end */
                        break;
                }
        }
        inflateEnd(&z);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        *ret_size = n;
        return 0;
}

int note_body_decode(const void *data, size_t size, NoteBody **ret) {
        _cleanup_free_ uint8_t *pb = NULL;
        size_t n;
        int r;

        r = note_body_inflate(data, size, NOTE_BODY_MAX, &pb, &n);
        if (r < 0)
                return r;
        return note_body_parse(pb, n, ret);
}

/* ---- Markdown ------------------------------------------------------------------------ */

typedef struct Out {
        char *buf;
        size_t n, cap;
        bool oom;
} Out;

static void out_add(Out *o, const char *s, size_t len) {
        if (o->oom)
                return;
        if (o->n + len + 1 > o->cap) {
                size_t ncap = o->cap ? o->cap : 256;
                while (ncap < o->n + len + 1)
                        ncap *= 2;
                char *p = realloc(o->buf, ncap);
                if (!p) {
                        o->oom = true;
                        return;
                }
                o->buf = p;
                o->cap = ncap;
        }
        memcpy(o->buf + o->n, s, len);
        o->n += len;
        o->buf[o->n] = 0;
}

static void out_str(Out *o, const char *s) {
        out_add(o, s, strlen(s));
}

/* The length of the UTF-8 sequence at s (1 for an invalid byte) and its UTF-16 length. */
static size_t utf8_step(const char *s, size_t left, unsigned *ret_units, uint32_t *ret_cp) {
        const unsigned char *u = (const unsigned char *) s;
        size_t len = u[0] < 0x80 ? 1 : u[0] >= 0xf0 ? 4 : u[0] >= 0xe0 ? 3 : u[0] >= 0xc0 ? 2 : 1;
        uint32_t cp = u[0];

        if (len > left)
                len = 1;
        for (size_t i = 1; i < len; i++)
                if ((u[i] & 0xc0) != 0x80)
                        len = 1;
        if (len == 2)
                cp = (u[0] & 0x1fu) << 6 | (u[1] & 0x3fu);
        else if (len == 3)
                cp = (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
        else if (len == 4)
                cp = (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 | (u[2] & 0x3fu) << 6 |
                     (u[3] & 0x3fu);
        *ret_units = len == 4 ? 2 : 1;
        *ret_cp = cp;
        return len;
}

/* Where the runs stand while the text is walked: the run covering the current unit. */
typedef struct RunCursor {
        const NoteBody *b;
        size_t i;               /* current run; n_runs when past the last */
        uint64_t left;          /* units left in it */
} RunCursor;

static void cursor_settle(RunCursor *c) {
        while (c->i < c->b->n_runs && c->left == 0) {
                c->i++;
                if (c->i < c->b->n_runs)
                        c->left = c->b->runs[c->i].length;
        }
}

static const NoteRun *cursor_run(RunCursor *c) {
        cursor_settle(c);
        return c->i < c->b->n_runs ? &c->b->runs[c->i] : NULL;
}

static void cursor_advance(RunCursor *c, unsigned units) {
        while (units > 0) {
                cursor_settle(c);
                if (c->i >= c->b->n_runs)
                        return;
                unsigned k = c->left < units ? (unsigned) c->left : units;
                c->left -= k;
                units -= k;
        }
}

typedef enum Block { BLOCK_NONE, BLOCK_TEXT, BLOCK_LIST, BLOCK_CODE } Block;

static bool style_is_list(int style) {
        return style == NOTE_STYLE_DOTTED || style == NOTE_STYLE_DASHED ||
               style == NOTE_STYLE_NUMBERED || style == NOTE_STYLE_CHECKBOX;
}

/* Bullets (dotted or dashed), numbers and checklists are three kinds of Markdown list. */
static int list_kind(int style) {
        return style == NOTE_STYLE_DASHED ? NOTE_STYLE_DOTTED : style;
}

int note_body_markdown(const NoteBody *b, NoteAttachmentFn fn, void *userdata, char **ret,
                       size_t *ret_len) {
        RunCursor c = { .b = b, .left = b->n_runs > 0 ? b->runs[0].length : 0 };
        Out o = {};
        Block prev = BLOCK_NONE;
        int prev_kind = 0;
        unsigned number = 0;
        size_t i = 0;

        while (i <= b->text_len) {
                size_t end = i;
                while (end < b->text_len && b->text[end] != '\n')
                        end++;

                /* A paragraph's style is that of the run at its first character (or at its
                 * newline when it is empty). Without runs everything is body text. */
                const NoteRun *run = cursor_run(&c);
                NoteRun none = { .style = NOTE_STYLE_BODY };
                if (!run)
                        run = &none;
                int style = run->style;
                if (run->checklist)
                        style = NOTE_STYLE_CHECKBOX;
                Block blk = style == NOTE_STYLE_MONOSPACED ? BLOCK_CODE :
                            style_is_list(style)           ? BLOCK_LIST :
                                                             BLOCK_TEXT;

                /* Empty paragraphs only space the text; inside a fence they are kept. */
                bool empty = end == i;
                if (!(empty && blk != BLOCK_CODE)) {
                        if (prev == BLOCK_CODE && blk != BLOCK_CODE)
                                out_str(&o, "```\n");
                        /* a blank line between blocks, and between lists of another kind
                         * (CommonMark would otherwise run them together) */
                        if (prev != BLOCK_NONE &&
                            !(prev == blk && blk != BLOCK_TEXT &&
                              (blk != BLOCK_LIST || list_kind(style) == prev_kind)))
                                out_str(&o, "\n");
                        prev_kind = list_kind(style);
                        if (blk == BLOCK_CODE && prev != BLOCK_CODE)
                                out_str(&o, "```\n");
                        if (style != NOTE_STYLE_NUMBERED)
                                number = 0;
                        if (blk == BLOCK_LIST)
                                for (unsigned k = 0; k < run->indent; k++)
                                        out_str(&o, "  ");
                        switch (style) {
                        case NOTE_STYLE_TITLE:
                                out_str(&o, "# ");
                                break;
                        case NOTE_STYLE_HEADING:
                                out_str(&o, "## ");
                                break;
                        case NOTE_STYLE_SUBHEADING:
                                out_str(&o, "### ");
                                break;
                        case NOTE_STYLE_DOTTED:
                        case NOTE_STYLE_DASHED:
                                out_str(&o, "- ");
                                break;
                        case NOTE_STYLE_NUMBERED: {
                                char num[24];
                                snprintf(num, sizeof(num), "%u. ", ++number);
                                out_str(&o, num);
                                break;
                        }
                        case NOTE_STYLE_CHECKBOX:
                                out_str(&o, run->done ? "- [x] " : "- [ ] ");
                                break;
                        default:
                                break;
                        }
                        prev = blk;
                }

                /* The text, character by character only where an attachment may stand. */
                size_t seg = i;
                while (i < end) {
                        unsigned units;
                        uint32_t cp;
                        size_t len = utf8_step(b->text + i, end - i, &units, &cp);

                        if (cp == 0xfffc) {
                                const NoteRun *r = cursor_run(&c);
                                _cleanup_free_ char *md = NULL;

                                out_add(&o, b->text + seg, i - seg);
                                if (fn && r && r->attachment_id)
                                        md = fn(r->attachment_id, r->attachment_uti, userdata);
                                out_str(&o, md ? md : "[attachment]");
                                seg = i + len;
                        }
                        cursor_advance(&c, units);
                        i += len;
                }
                out_add(&o, b->text + seg, end - seg);
                if (!(empty && blk != BLOCK_CODE))
                        out_str(&o, "\n");
                if (end >= b->text_len)
                        break;
                cursor_advance(&c, 1);  /* the newline */
                i = end + 1;
        }
        if (prev == BLOCK_CODE)
                out_str(&o, "```\n");
        out_add(&o, "", 0);
        if (o.oom) {
                free(o.buf);
                return -ENOMEM;
        }
        *ret = o.buf;
        if (ret_len)
                *ret_len = o.n;
        return 0;
}

/* ---- tables ---------------------------------------------------------------------------- */

/* A table's CRDT (MergableDataProto), as the published parser reads it: one list of
 * entries that point at each other by index, and lists of the key names, type names and
 * UUIDs the entries refer to by index. */
typedef struct Table {
        Pb *entries, *keys, *types, *uuids;
        size_t n_entries, n_keys, n_types, n_uuids;
        size_t cap_entries, cap_keys, cap_types, cap_uuids;
} Table;

#define MAX_TABLE_ITEMS 100000u
#define MAX_TABLE_DIM 256u

static int push(Pb **list, size_t *n, size_t *cap, Pb p) {
        if (*n >= MAX_TABLE_ITEMS)
                return -E2BIG;
        if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                Pb *l = reallocarray(*list, ncap, sizeof(Pb));
                if (!l)
                        return -ENOMEM;
                *list = l;
                *cap = ncap;
        }
        (*list)[(*n)++] = p;
        return 0;
}

/* The first varint field number `field` in b. 0, -ENOENT, -EBADMSG. */
static int pb_find_varint(Pb b, uint32_t field, uint64_t *ret) {
        return pb_find_typed(b, field, 0, ret, NULL);
}

static bool pb_streq(Pb p, const char *s) {
        size_t n = strlen(s);

        return (size_t) (p.end - p.p) == n && memcmp(p.p, s, n) == 0;
}

/* ObjectID.object_index of the ObjectID message o, checked against the entries. */
static int object_entry(const Table *t, Pb o, Pb *ret) {
        uint64_t i;
        int r = pb_find_varint(o, 6, &i);

        if (r < 0)
                return r;
        if (i >= t->n_entries)
                return -EBADMSG;
        *ret = t->entries[i];
        return 0;
}

/* The uuid_item index a UUID entry stands for: its custom_map's first map_entry's value's
 * unsigned_integer_value. */
static int entry_uuid(const Table *t, Pb entry, size_t *ret) {
        Pb map, me, value;
        uint64_t i;
        int r;

        r = pb_find(entry, 13, &map);
        if (r >= 0)
                r = pb_find(map, 3, &me);
        if (r >= 0)
                r = pb_find(me, 2, &value);
        if (r >= 0)
                r = pb_find_varint(value, 2, &i);
        if (r < 0)
                return -EBADMSG;
        if (i >= t->n_uuids)
                return -EBADMSG;
        *ret = (size_t) i;
        return 0;
}

/* Rows or columns: the positions (index by uuid_item, -1 none) and their count. */
static int table_axis(const Table *t, Pb entry, int *pos, size_t *ret_n) {
        Pb set, ordering, array, contents;
        size_t n = 0;
        int r;

        for (size_t i = 0; i < t->n_uuids; i++)
                pos[i] = -1;
        r = pb_find(entry, 16, &set);
        if (r >= 0)
                r = pb_find(set, 1, &ordering);
        if (r >= 0)
                r = pb_find(ordering, 1, &array);
        if (r < 0)
                return -EBADMSG;
        for (Pb it = array;;) {
                uint32_t f;
                unsigned ty;
                uint64_t v;
                Pb att, uuid;

                r = pb_next(&it, &f, &ty, &v, &att);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (f != 2 || ty != 2 || pb_find(att, 2, &uuid) < 0)
                        continue;
                for (size_t i = 0; i < t->n_uuids; i++)
                        if (t->uuids[i].end - t->uuids[i].p == uuid.end - uuid.p &&
                            memcmp(t->uuids[i].p, uuid.p, (size_t) (uuid.end - uuid.p)) == 0) {
                                if (n >= MAX_TABLE_DIM)
                                        return -E2BIG;
                                pos[i] = (int) n++;
                                break;
                        }
        }
        /* contents: aliases, a UUID entry standing for another one's place */
        if (pb_find(ordering, 2, &contents) >= 0)
                for (Pb it = contents;;) {
                        uint32_t f;
                        unsigned ty;
                        uint64_t v;
                        Pb el, k, val, ke, ve;
                        size_t ku, vu;

                        r = pb_next(&it, &f, &ty, &v, &el);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;
                        if (f != 1 || ty != 2 || pb_find(el, 1, &k) < 0 ||
                            pb_find(el, 2, &val) < 0 || object_entry(t, k, &ke) < 0 ||
                            object_entry(t, val, &ve) < 0 || entry_uuid(t, ke, &ku) < 0 ||
                            entry_uuid(t, ve, &vu) < 0)
                                continue;
                        pos[vu] = pos[ku];
                }
        *ret_n = n;
        return 0;
}

static void table_done(Table *t) {
        free(t->entries);
        free(t->keys);
        free(t->types);
        free(t->uuids);
}

static void out_cell(Out *o, const char *s, size_t n) {
        out_str(o, " ");
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '|')
                        out_str(o, "\\|");
                else if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
                        out_str(o, " ");
                else
                        out_add(o, s + i, 1);
        }
        out_str(o, " |");
}

static int table_render(const Table *t, Out *o) {
        _cleanup_free_ int *row_pos = NULL, *col_pos = NULL;
        _cleanup_free_ Pb *cells = NULL;
        Pb root = {}, rows = {}, cols = {}, cell_cols = {}, map;
        size_t n_rows = 0, n_cols = 0;
        bool found = false;
        int r;

        /* the root: the first entry whose custom_map's type is com.apple.notes.ICTable */
        for (size_t i = 0; i < t->n_entries && !found; i++) {
                uint64_t ty;
                if (pb_find(t->entries[i], 13, &map) >= 0 &&
                    pb_find_varint(map, 1, &ty) >= 0 && ty < t->n_types &&
                    pb_streq(t->types[ty], "com.apple.notes.ICTable")) {
                        root = t->entries[i];
                        found = true;
                }
        }
        if (!found || pb_find(root, 13, &map) < 0)
                return -EBADMSG;
        for (Pb it = map;;) {
                uint32_t f;
                unsigned ty;
                uint64_t v, key;
                Pb me, val, e;

                r = pb_next(&it, &f, &ty, &v, &me);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (f != 3 || ty != 2 || pb_find_varint(me, 1, &key) < 0 || key >= t->n_keys ||
                    pb_find(me, 2, &val) < 0 || object_entry(t, val, &e) < 0)
                        continue;
                if (pb_streq(t->keys[key], "crRows"))
                        rows = e;
                else if (pb_streq(t->keys[key], "crColumns"))
                        cols = e;
                else if (pb_streq(t->keys[key], "cellColumns"))
                        cell_cols = e;
        }
        if (!rows.p || !cols.p || !cell_cols.p)
                return -EBADMSG;
        row_pos = calloc(t->n_uuids + 1, sizeof(int));
        col_pos = calloc(t->n_uuids + 1, sizeof(int));
        if (!row_pos || !col_pos)
                return -ENOMEM;
        r = table_axis(t, rows, row_pos, &n_rows);
        if (r >= 0)
                r = table_axis(t, cols, col_pos, &n_cols);
        if (r < 0)
                return r;
        if (n_rows == 0 || n_cols == 0)
                return -EBADMSG;
        cells = calloc(n_rows * n_cols, sizeof(Pb));
        if (!cells)
                return -ENOMEM;

        /* cellColumns: column UUID → { row UUID → cell (a Note: its note_text) } */
        Pb dict;
        if (pb_find(cell_cols, 6, &dict) < 0)
                return -EBADMSG;
        for (Pb it = dict;;) {
                uint32_t f;
                unsigned ty;
                uint64_t v;
                Pb el, k, val, ke, column, cdict;
                size_t cu;

                r = pb_next(&it, &f, &ty, &v, &el);
                if (r < 0)
                        return r;
                if (r > 0)
                        break;
                if (f != 1 || ty != 2 || pb_find(el, 1, &k) < 0 || pb_find(el, 2, &val) < 0 ||
                    object_entry(t, k, &ke) < 0 || entry_uuid(t, ke, &cu) < 0 ||
                    col_pos[cu] < 0 || object_entry(t, val, &column) < 0 ||
                    pb_find(column, 6, &cdict) < 0)
                        continue;
                for (Pb it2 = cdict;;) {
                        Pb el2, k2, val2, ke2, cell, note, text;
                        size_t ru;

                        r = pb_next(&it2, &f, &ty, &v, &el2);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                break;
                        if (f != 1 || ty != 2 || pb_find(el2, 1, &k2) < 0 ||
                            pb_find(el2, 2, &val2) < 0 || object_entry(t, k2, &ke2) < 0 ||
                            entry_uuid(t, ke2, &ru) < 0 || row_pos[ru] < 0 ||
                            object_entry(t, val2, &cell) < 0 || pb_find(cell, 10, &note) < 0 ||
                            pb_find(note, 2, &text) < 0)
                                continue;
                        cells[(size_t) row_pos[ru] * n_cols + (size_t) col_pos[cu]] = text;
                }
        }

        /* Markdown: the first row is the header, as Notes shows it */
        for (size_t row = 0; row < n_rows; row++) {
                out_str(o, "|");
                for (size_t c = 0; c < n_cols; c++) {
                        Pb cell = cells[row * n_cols + c];
                        out_cell(o, (const char *) cell.p, (size_t) (cell.end - cell.p));
                }
                out_str(o, "\n");
                if (row == 0) {
                        out_str(o, "|");
                        for (size_t c = 0; c < n_cols; c++)
                                out_str(o, "---|");
                        out_str(o, "\n");
                }
        }
        return 0;
}

int note_table_markdown(const void *data, size_t size, char **ret) {
        _cleanup_free_ uint8_t *pb = NULL;
        size_t n;
        int r;

        r = note_body_inflate(data, size, NOTE_BODY_MAX, &pb, &n);
        if (r < 0)
                return r;
        return note_table_parse(pb, n, ret);
}

int note_table_parse(const void *pb, size_t size, char **ret) {
        Pb top = { pb, (const uint8_t *) pb + size }, obj, d;
        Table t = {};
        Out o = {};
        int r;

        if (!pb)
                return -EBADMSG;
        if (pb_find(top, 2, &obj) < 0 || pb_find(obj, 3, &d) < 0)
                return -EBADMSG;
        for (Pb it = d;;) {
                uint32_t f;
                unsigned ty;
                uint64_t v;
                Pb sub;

                r = pb_next(&it, &f, &ty, &v, &sub);
                if (r < 0)
                        goto finish;
                if (r > 0)
                        break;
                if (ty != 2)
                        continue;
                r = f == 3 ? push(&t.entries, &t.n_entries, &t.cap_entries, sub) :
                    f == 4 ? push(&t.keys, &t.n_keys, &t.cap_keys, sub) :
                    f == 5 ? push(&t.types, &t.n_types, &t.cap_types, sub) :
                    f == 6 ? push(&t.uuids, &t.n_uuids, &t.cap_uuids, sub) : 0;
                if (r < 0)
                        goto finish;
        }
        r = table_render(&t, &o);
        if (r >= 0 && o.oom)
                r = -ENOMEM;
        if (r >= 0) {
                /* without the last newline: the caller ends the paragraph */
                if (o.n > 0 && o.buf[o.n - 1] == '\n')
                        o.buf[--o.n] = 0;
                *ret = TAKE_PTR(o.buf);
        }
finish:
        free(o.buf);
        table_done(&t);
        return r < 0 ? r : 0;
}
