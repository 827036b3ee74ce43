/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The notes export: the note body decoder (lib/export-notes-proto.c) on protobufs built
 * here field by field (styles, checklists, attachments, unknown fields of every wire type,
 * every prefix of a body, lengths past the end, an over-long varint, a gzip bomb against
 * the cap) and the Markdown it renders; then export_notes and export_voice_memos on
 * databases this test creates with SQLite (folders nested and in a parent cycle, Recently
 * Deleted, a locked note, an attachment, hostile titles), and a table's CRDT built here.
 * With a directory argument it writes the seed corpus of fuzz-note-body there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zlib.h>

#include "export-notes-proto.h"
#include "export.h"
#include "test-export-util.h"
#include "test-util.h"

typedef struct Buf {
        uint8_t d[65536];
        size_t n;
} Buf;

static void varint(Buf *b, uint64_t v) {
        do {
                b->d[b->n++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
                v >>= 7;
        } while (v);
}
static void key(Buf *b, unsigned field, unsigned type) {
        varint(b, (uint64_t) field << 3 | type);
}
static void field_varint(Buf *b, unsigned field, uint64_t v) {
        key(b, field, 0);
        varint(b, v);
}
static void field_bytes(Buf *b, unsigned field, const void *p, size_t n) {
        key(b, field, 2);
        varint(b, n);
        memcpy(b->d + b->n, p, n);
        b->n += n;
}
static void field_str(Buf *b, unsigned field, const char *s) {
        field_bytes(b, field, s, strlen(s));
}
static void field_msg(Buf *b, unsigned field, const Buf *m) {
        field_bytes(b, field, m->d, m->n);
}

typedef struct RunSpec {
        unsigned length;
        int style;              /* -1: no paragraph style */
        int checked;            /* -1: no checklist */
        unsigned indent;
        const char *attachment, *uti;
} RunSpec;

/* A NoteStoreProto with unknown fields of every wire type sprinkled in. */
static void build_note(Buf *out, const char *text, const RunSpec *runs, size_t n_runs) {
        static Buf note, doc, run, para, check, att;

        note.n = 0;
        field_varint(&note, 1, 7);                      /* unknown varint */
        field_str(&note, 2, text);
        key(&note, 9, 1);                               /* unknown fixed64 */
        memset(note.d + note.n, 0xff, 8);
        note.n += 8;
        for (size_t i = 0; i < n_runs; i++) {
                run.n = 0;
                field_varint(&run, 1, runs[i].length);
                if (runs[i].style >= 0 || runs[i].checked >= 0) {
                        para.n = 0;
                        if (runs[i].style >= 0)
                                field_varint(&para, 1, (uint64_t) runs[i].style);
                        field_varint(&para, 4, runs[i].indent);
                        if (runs[i].checked >= 0) {
                                check.n = 0;
                                field_str(&check, 1, "0123456789abcdef");
                                field_varint(&check, 2, (uint64_t) runs[i].checked);
                                field_msg(&para, 5, &check);
                        }
                        field_msg(&run, 2, &para);
                }
                key(&run, 13, 5);                       /* unknown fixed32 */
                memset(run.d + run.n, 0, 4);
                run.n += 4;
                if (runs[i].attachment) {
                        att.n = 0;
                        field_str(&att, 1, runs[i].attachment);
                        field_str(&att, 2, runs[i].uti);
                        field_msg(&run, 12, &att);
                }
                field_msg(&note, 5, &run);
        }
        doc.n = 0;
        field_varint(&doc, 2, 0);
        field_msg(&doc, 3, &note);
        out->n = 0;
        field_varint(out, 1, 0);
        field_msg(out, 2, &doc);
}

static size_t gzip(const Buf *in, uint8_t *out, size_t cap) {
        z_stream z = {};
        size_t n;

        if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return 0;
        z.next_in = (Bytef *) in->d;
        z.avail_in = (uInt) in->n;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
                n = 0;
        else
                n = cap - z.avail_out;
        deflateEnd(&z);
        return n;
}

static const char sample_text[] = "Shopping\nHeading\nplain para\nMilk\nEggs\nfirst\nsecond\n"
                                  "code 1\ncode 2\nsee \xef\xbf\xbc here\nend \xf0\x9f\x98\x80 x";
/* UTF-16 lengths: the emoji counts 2 */
static const RunSpec sample_runs[] = {
        { 9, 0, -1, 0, NULL, NULL },            /* "Shopping\n" title */
        { 8, 1, -1, 0, NULL, NULL },            /* "Heading\n" */
        { 11, -1, -1, 0, NULL, NULL },          /* "plain para\n" */
        { 5, 103, 1, 0, NULL, NULL },           /* "Milk\n" done */
        { 5, 103, 0, 1, NULL, NULL },           /* "Eggs\n" open, indented */
        { 6, 102, -1, 0, NULL, NULL },          /* "first\n" */
        { 7, 102, -1, 0, NULL, NULL },          /* "second\n" */
        { 14, 4, -1, 0, NULL, NULL },           /* "code 1\ncode 2\n" */
        { 4, -1, -1, 0, NULL, NULL },           /* "see " */
        { 1, -1, -1, 0, "ATT-1", "public.jpeg" },
        { 6, -1, -1, 0, NULL, NULL },           /* " here\n" */
        { 8, -1, -1, 0, NULL, NULL },           /* "end 😀 x" */
};

#define N_SAMPLE_RUNS (sizeof(sample_runs) / sizeof(sample_runs[0]))

static char *fake_attachment(const char *id, const char *uti, void *userdata) {
        char *s = NULL;

        (*(unsigned *) userdata)++;
        if (asprintf(&s, "![%s](<%s>)", id, uti) < 0)
                return NULL;
        return s;
}

static void test_parse_render(void) {
        static Buf pb;
        NoteBody *b = NULL;
        char *md = NULL;
        unsigned calls = 0;

        build_note(&pb, sample_text, sample_runs, N_SAMPLE_RUNS);
        ASSERT_OK(note_body_parse(pb.d, pb.n, &b));
        if (!b)
                return;
        ASSERT_STREQ(b->text, sample_text);
        ASSERT_EQ(b->n_runs, 12);
        ASSERT_EQ(b->runs[3].style, NOTE_STYLE_CHECKBOX);
        ASSERT_TRUE(b->runs[3].checklist && b->runs[3].done);
        ASSERT_TRUE(b->runs[4].checklist && !b->runs[4].done);
        ASSERT_STREQ(b->runs[9].attachment_id, "ATT-1");
        ASSERT_OK(note_body_markdown(b, fake_attachment, &calls, &md, NULL));
        ASSERT_EQ(calls, 1);
        ASSERT_STREQ(md, "# Shopping\n\n## Heading\n\nplain para\n\n- [x] Milk\n  - [ ] Eggs\n"
                         "\n1. first\n2. second\n\n```\ncode 1\ncode 2\n```\n\n"
                         "see ![ATT-1](<public.jpeg>) here\n\nend \xf0\x9f\x98\x80 x\n");
        free(md);
        note_body_free(b);

        /* Without runs: all body text; without a fn: "[attachment]". */
        build_note(&pb, "a\n\nb \xef\xbf\xbc", NULL, 0);
        ASSERT_OK(note_body_parse(pb.d, pb.n, &b));
        ASSERT_OK(note_body_markdown(b, NULL, NULL, &md, NULL));
        ASSERT_STREQ(md, "a\n\nb [attachment]\n");
        free(md);
        note_body_free(b);
}

/* Every prefix and every single-byte change of a valid body: never a crash, never a read
 * out of bounds (ASan/valgrind builds), and a result either way. */
static void test_hostile(void) {
        static Buf pb, bad;
        NoteBody *b = NULL;
        char *md = NULL;

        build_note(&pb, sample_text, sample_runs, N_SAMPLE_RUNS);
        for (size_t n = 0; n < pb.n; n++) {
                int r = note_body_parse(pb.d, n, &b);
                if (r == 0) {
                        unsigned calls = 0;

                        ASSERT_OK(note_body_markdown(b, fake_attachment, &calls, &md, NULL));
                        free(md);
                        b = note_body_free(b);
                }
        }
        for (size_t i = 0; i < pb.n; i++)
                for (unsigned v = 0; v < 256; v += 51) {
                        bad = pb;
                        bad.d[i] ^= (uint8_t) (v | 1);
                        if (note_body_parse(bad.d, bad.n, &b) == 0) {
                                ASSERT_OK(note_body_markdown(b, NULL, NULL, &md, NULL));
                                free(md);
                                b = note_body_free(b);
                        }
                }

        /* a length past the end, an 11-byte varint, a group, no note_text */
        static const uint8_t past[] = { 0x12, 0x05, 0x1a, 0x10, 0x12 };
        static const uint8_t longv[] = { 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xff, 0xff, 0x01 };
        static const uint8_t group[] = { 0x13, 0x14 };
        static const uint8_t empty_doc[] = { 0x12, 0x02, 0x1a, 0x00 };
        ASSERT_EQ(note_body_parse(past, sizeof(past), &b), -EBADMSG);
        ASSERT_EQ(note_body_parse(longv, sizeof(longv), &b), -EBADMSG);
        ASSERT_EQ(note_body_parse(group, sizeof(group), &b), -EBADMSG);
        ASSERT_EQ(note_body_parse(empty_doc, sizeof(empty_doc), &b), -EBADMSG);
        ASSERT_EQ(note_body_parse("", 0, &b), -EBADMSG);

        /* a run longer than the text, runs of length 0, a NUL in the text */
        static const RunSpec odd[] = {
                { 0, 0, -1, 0, NULL, NULL },
                { 1000000, 103, 1, 99, NULL, NULL },
        };
        build_note(&pb, "x\ny", odd, 2);
        ASSERT_OK(note_body_parse(pb.d, pb.n, &b));
        ASSERT_OK(note_body_markdown(b, NULL, NULL, &md, NULL));
        ASSERT_STREQ(md, "                - [x] x\n                - [x] y\n");
        free(md);
        b = note_body_free(b);
        bad.n = 0;
        static Buf note, doc;
        note.n = doc.n = 0;
        field_bytes(&note, 2, "a\0b", 3);
        field_msg(&doc, 3, &note);
        field_msg(&bad, 2, &doc);
        ASSERT_OK(note_body_parse(bad.d, bad.n, &b));
        ASSERT_STREQ(b ? b->text : NULL, "a\xef\xbf\xbd" "b");
        b = note_body_free(b);
}

static void test_inflate(void) {
        static Buf pb;
        static uint8_t gz[65536];
        uint8_t *out = NULL;
        size_t n, out_n = 0;
        NoteBody *b = NULL;

        build_note(&pb, sample_text, sample_runs, N_SAMPLE_RUNS);
        n = gzip(&pb, gz, sizeof(gz));
        ASSERT_TRUE(n > 0);
        ASSERT_OK(note_body_decode(gz, n, &b));
        ASSERT_STREQ(b ? b->text : NULL, sample_text);
        b = note_body_free(b);

        /* the cap: exactly max is fine, one byte less is refused */
        ASSERT_OK(note_body_inflate(gz, n, pb.n, &out, &out_n));
        ASSERT_EQ(out_n, pb.n);
        ASSERT_TRUE(out && memcmp(out, pb.d, pb.n) == 0);
        free(out);
        ASSERT_EQ(note_body_inflate(gz, n, pb.n - 1, &out, &out_n), -EFBIG);
        /* truncated, corrupt, not gzip at all */
        ASSERT_EQ(note_body_decode(gz, n - 5, &b), -EBADMSG);
        ASSERT_EQ(note_body_decode(pb.d, pb.n, &b), -EBADMSG);
        gz[n / 2] ^= 0x55;
        ASSERT_TRUE(note_body_decode(gz, n, &b) < 0 || (b = note_body_free(b), true));

        /* a bomb: 80 MiB of zeros is refused at NOTE_BODY_MAX without inflating it all */
        {
                size_t big = 80u * 1024 * 1024, cap = big / 100;
                uint8_t *zeros = calloc(1, big), *bomb = malloc(cap);
                z_stream z = {};
                ASSERT_TRUE(zeros && bomb);
                if (zeros && bomb && deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8,
                                                  Z_DEFAULT_STRATEGY) == Z_OK) {
                        z.next_in = zeros;
                        z.avail_in = (uInt) big;
                        z.next_out = bomb;
                        z.avail_out = (uInt) cap;
                        ASSERT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
                        ASSERT_EQ(note_body_decode(bomb, cap - z.avail_out, &b), -EFBIG);
                        deflateEnd(&z);
                }
                free(zeros);
                free(bomb);
        }
}

/* ---- tables ---------------------------------------------------------------------------- */

static void oid(Buf *b, unsigned field, unsigned index) {
        Buf o = { .n = 0 };

        field_varint(&o, 6, index);
        field_msg(b, field, &o);
}

static void entry(Buf *data, const Buf *e) {
        field_msg(data, 3, e);
}

/* A UUID entry: custom_map { type 1, map_entry { key 0, value { uint uuid_index } } } */
static void uuid_entry(Buf *data, unsigned uuid_index) {
        Buf v = { .n = 0 }, me = { .n = 0 }, map = { .n = 0 }, e = { .n = 0 };

        field_varint(&v, 2, uuid_index);
        field_varint(&me, 1, 0);
        field_msg(&me, 2, &v);
        field_varint(&map, 1, 1);
        field_msg(&map, 3, &me);
        field_msg(&e, 13, &map);
        entry(data, &e);
}

/* crRows / crColumns: ordered_set { ordering { array { attachment { uuid } … } } } */
static void axis_entry(Buf *data, const char *const *uuids, size_t n) {
        Buf arr = { .n = 0 }, ord = { .n = 0 }, set = { .n = 0 }, e = { .n = 0 };

        for (size_t i = 0; i < n; i++) {
                Buf att = { .n = 0 };
                field_varint(&att, 1, i);
                field_str(&att, 2, uuids[i]);
                field_msg(&arr, 2, &att);
        }
        field_msg(&ord, 1, &arr);
        field_msg(&set, 1, &ord);
        field_msg(&e, 16, &set);
        entry(data, &e);
}

/* dictionary { element { key oid, value oid } … } */
static void dict_entry(Buf *data, const unsigned (*kv)[2], size_t n) {
        Buf d = { .n = 0 }, e = { .n = 0 };

        for (size_t i = 0; i < n; i++) {
                Buf el = { .n = 0 };
                oid(&el, 1, kv[i][0]);
                oid(&el, 2, kv[i][1]);
                field_msg(&d, 1, &el);
        }
        field_msg(&e, 6, &d);
        entry(data, &e);
}

static void cell_entry(Buf *data, const char *text) {
        Buf note = { .n = 0 }, e = { .n = 0 };

        field_str(&note, 2, text);
        field_msg(&e, 10, &note);
        entry(data, &e);
}

/* A 2×2 table, rows R0 R1, columns C1 C0 (so the column order is the set's, not the
 * uuid_item's), one cell missing. */
static void build_table(Buf *out) {
        static const char *const rows[] = { "RRRRRRRRRRRRRRR0", "RRRRRRRRRRRRRRR1" };
        static const char *const cols[] = { "CCCCCCCCCCCCCCC1", "CCCCCCCCCCCCCCC0" };
        static const unsigned cell_cols[][2] = { { 4, 8 }, { 5, 9 } };
        static const unsigned col0[][2] = { { 6, 10 }, { 7, 11 } };
        static const unsigned col1[][2] = { { 6, 12 } };
        static Buf data, root, map, obj;
        static const char *const keys[] = { "UUIDIndex", "crRows", "crColumns", "cellColumns" };

        data.n = root.n = map.n = obj.n = 0;
        field_varint(&map, 1, 0);
        for (unsigned k = 1; k <= 3; k++) {
                Buf me = { .n = 0 };
                field_varint(&me, 1, k);
                oid(&me, 2, k);
                field_msg(&map, 3, &me);
        }
        field_msg(&root, 13, &map);
        entry(&data, &root);                            /* 0 */
        axis_entry(&data, rows, 2);                     /* 1 */
        axis_entry(&data, cols, 2);                     /* 2 */
        dict_entry(&data, cell_cols, 2);                /* 3 */
        uuid_entry(&data, 2);                           /* 4: C0 */
        uuid_entry(&data, 3);                           /* 5: C1 */
        uuid_entry(&data, 0);                           /* 6: R0 */
        uuid_entry(&data, 1);                           /* 7: R1 */
        dict_entry(&data, col0, 2);                     /* 8: column C0 */
        dict_entry(&data, col1, 1);                     /* 9: column C1 */
        cell_entry(&data, "Head 0");                    /* 10 */
        cell_entry(&data, "a|b\nc");                    /* 11 */
        cell_entry(&data, "Head 1");                    /* 12 */
        for (size_t i = 0; i < 4; i++)
                field_str(&data, 4, keys[i]);
        field_str(&data, 5, "com.apple.notes.ICTable");
        field_str(&data, 5, "com.apple.CRDT.NSUUID");
        field_str(&data, 6, rows[0]);
        field_str(&data, 6, rows[1]);
        field_str(&data, 6, cols[1]);
        field_str(&data, 6, cols[0]);
        field_varint(&obj, 2, 1);
        field_msg(&obj, 3, &data);
        out->n = 0;
        field_msg(out, 2, &obj);
}

static void test_table(void) {
        static Buf pb, bad;
        static uint8_t gz[65536];
        char *md = NULL;
        size_t n;

        build_table(&pb);
        n = gzip(&pb, gz, sizeof(gz));
        ASSERT_OK(note_table_markdown(gz, n, &md));
        ASSERT_STREQ(md, "| Head 1 | Head 0 |\n|---|---|\n|  | a\\|b c |");
        free(md);
        /* every prefix and some changed bytes: an answer, never a crash */
        for (size_t k = 0; k < pb.n; k++)
                if (note_table_parse(pb.d, k, &md) == 0)
                        free(md);
        for (size_t i = 0; i < pb.n; i++) {
                bad = pb;
                bad.d[i] ^= 0x41;
                if (note_table_parse(bad.d, bad.n, &md) == 0)
                        free(md);
        }
        ASSERT_EQ(note_table_parse("", 0, &md), -EBADMSG);
}

/* ---- the exports on fixture databases ------------------------------------------------ */

static void mkdir_p(const char *path) {
        char buf[1024];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(buf, 0755);
                        *p = '/';
                }
        (void) mkdir(buf, 0755);
}

static void write_file(const char *path, const char *data) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        if (f) {
                fputs(data, f);
                fclose(f);
        }
}

static char *read_all(const char *path) {
        static char buf[65536];
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static void exec_sql(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                printf("FAIL: SQL %s: %s\n", sql, err);
                failures++;
        }
        sqlite3_free(err);
}

static void insert_body(sqlite3 *db, int pk, int note, const char *text, const RunSpec *runs,
                        size_t n_runs) {
        static Buf pb;
        static uint8_t gz[65536];
        sqlite3_stmt *s = NULL;
        size_t n;

        build_note(&pb, text, runs, n_runs);
        n = gzip(&pb, gz, sizeof(gz));
        ASSERT_EQ(sqlite3_prepare_v2(db, "INSERT INTO ZICNOTEDATA VALUES (?, ?, ?)", -1, &s, NULL),
                  SQLITE_OK);
        sqlite3_bind_int(s, 1, pk);
        sqlite3_bind_int(s, 2, note);
        sqlite3_bind_blob(s, 3, gz, (int) n, SQLITE_STATIC);
        ASSERT_EQ(sqlite3_step(s), SQLITE_DONE);
        sqlite3_finalize(s);
}

static int run_plain(const ExportType *t, const char *src, const char *out, char *reason,
                     uint64_t *items) {
        return test_export_run(t, src, out, reason, 512, items);
}

static void test_notes_export(const char *tmp) {
        char src[512], dom[600], path[1024], out[512], reason[512] = "";
        sqlite3 *db = NULL;
        uint64_t items = 0;
        struct stat st;
        const char *md;

        snprintf(src, sizeof(src), "%s/notes-src", tmp);
        snprintf(dom, sizeof(dom), "%s/AppDomainGroup-group.com.apple.notes", src);
        snprintf(path, sizeof(path), "%s/Accounts/ACC-1/Media/MED-1/1_GEN", dom);
        mkdir_p(path);
        snprintf(path, sizeof(path), "%s/Accounts/ACC-1/Media/MED-1/1_GEN/IMG_0001.jpeg", dom);
        write_file(path, "JPEGDATA");
        snprintf(path, sizeof(path), "%s/NoteStore.sqlite", dom);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        exec_sql(db, "CREATE TABLE ZICCLOUDSYNCINGOBJECT (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER,"
                     " ZTITLE1 VARCHAR, ZFOLDER INTEGER, ZNOTEDATA INTEGER,"
                     " ZCREATIONDATE3 TIMESTAMP,"
                     " ZMODIFICATIONDATE1 TIMESTAMP, ZISPASSWORDPROTECTED INTEGER,"
                     " ZMARKEDFORDELETION INTEGER, ZTITLE2 VARCHAR, ZPARENT INTEGER,"
                     " ZFOLDERTYPE INTEGER, ZIDENTIFIER VARCHAR, ZTYPEUTI VARCHAR, ZMEDIA INTEGER,"
                     " ZFILENAME VARCHAR, ZALTTEXT VARCHAR, ZNOTE INTEGER);"
                     "CREATE TABLE ZICNOTEDATA (Z_PK INTEGER PRIMARY KEY, ZNOTE INTEGER,"
                     " ZDATA BLOB);"
                     "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, ZTITLE2, ZPARENT, ZFOLDERTYPE)"
                     " VALUES"
                     " (1, 'Notes', NULL, 0), (2, 'Work', NULL, 0), (3, 'Pro/jects', 2, 0),"
                     " (4, 'Recently Deleted', NULL, 1), (5, 'Loop A', 6, 0), (6, 'Loop B', 5, 0);"
                     "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, ZTITLE1, ZFOLDER, ZNOTEDATA,"
                     " ZCREATIONDATE3, ZMODIFICATIONDATE1, ZISPASSWORDPROTECTED) VALUES"
                     " (10, 'Shopping', 1, 1, 700000000, 700000100.5, 0),"
                     " (11, '../a/b' || char(1), 3, 2, 700000000, 700000200, 0),"
                     " (12, 'Secret', 2, 3, 700000000, 700000300, 1),"
                     " (13, 'Binned', 4, 4, 700000000, 700000400, 0),"
                     " (14, 'Looped', 5, 5, 700000000, 700000500, 0),"
                     " (15, 'Shopping', 1, 6, 700000000, 700000600, 0),"
                     " (16, NULL, 1, 7, NULL, NULL, 0);"
                     "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR,"
                     " Z_SUPER INTEGER, Z_MAX INTEGER);"
                     "INSERT INTO Z_PRIMARYKEY VALUES (5, 'ICAttachment', 0, 0),"
                     " (12, 'ICNote', 0, 0), (14, 'ICFolder', 0, 0);"
                     "UPDATE ZICCLOUDSYNCINGOBJECT SET Z_ENT = 12 WHERE ZNOTEDATA IS NOT NULL;"
                     /* not an ICNote: a ZNOTEDATA of another entity is not a note */
                     "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, Z_ENT, ZTITLE1, ZFOLDER, ZNOTEDATA)"
                     " VALUES (17, 5, 'Not a note', 1, 1);"
                     "INSERT INTO ZICCLOUDSYNCINGOBJECT"
                     " (Z_PK, ZIDENTIFIER, ZTYPEUTI, ZMEDIA, ZNOTE)"
                     " VALUES (20, 'ATT-1', 'public.jpeg', 21, 10);"
                     "INSERT INTO ZICCLOUDSYNCINGOBJECT (Z_PK, ZIDENTIFIER, ZFILENAME) VALUES"
                     " (21, 'MED-1', 'IMG_0001.jpeg');");
        insert_body(db, 1, 10, sample_text, sample_runs, N_SAMPLE_RUNS);
        insert_body(db, 2, 11, "hostile\nbody", NULL, 0);
        insert_body(db, 3, 12, "Secret text", NULL, 0);
        insert_body(db, 4, 13, "binned text", NULL, 0);
        insert_body(db, 5, 14, "looped text", NULL, 0);
        insert_body(db, 6, 15, "Shopping\nagain", NULL, 0);
        exec_sql(db, "INSERT INTO ZICNOTEDATA VALUES (7, 16, X'1f8b0800')");   /* corrupt */
        sqlite3_close(db);

        snprintf(out, sizeof(out), "%s/notes-out", tmp);
        ASSERT_EQ(run_plain(&export_notes, src, out, reason, &items), 0);
        ASSERT_EQ_U64(items, 5);
        ASSERT_TRUE(strstr(reason, "1 locked notes"));
        ASSERT_TRUE(strstr(reason, "1 note bodies could not be decoded"));
        ASSERT_TRUE(strstr(reason, "loop"));

        snprintf(path, sizeof(path), "%s/notes/Notes/Shopping.md", out);
        md = read_all(path);
        ASSERT_TRUE(md && strstr(md, "# Shopping\n") && strstr(md, "- [x] Milk\n") &&
                    strstr(md, "see ![IMG_0001.jpeg](<Shopping attachments/IMG_0001.jpeg>) here"));
        ASSERT_SYS(stat(path, &st));
        ASSERT_EQ(st.st_mtime, 700000100 + 978307200);
        snprintf(path, sizeof(path), "%s/notes/Notes/Shopping attachments/IMG_0001.jpeg", out);
        md = read_all(path);
        ASSERT_STREQ(md, "JPEGDATA");
        snprintf(path, sizeof(path), "%s/notes/Notes/Shopping (2).md", out);
        md = read_all(path);
        ASSERT_TRUE(md && strstr(md, "again"));
        snprintf(path, sizeof(path), "%s/notes/Work/Pro_jects/_a_b_.md", out);
        md = read_all(path);
        ASSERT_TRUE(md && strstr(md, "hostile\n\nbody"));
        snprintf(path, sizeof(path), "%s/notes/Loop A/Looped.md", out);
        ASSERT_TRUE(read_all(path) != NULL);
        snprintf(path, sizeof(path), "%s/notes/Notes/Untitled.md", out);
        md = read_all(path);
        ASSERT_TRUE(md && strstr(md, "could not be read"));
        snprintf(path, sizeof(path), "%s/notes/Locked notes.md", out);
        md = read_all(path);
        ASSERT_TRUE(md && strstr(md, "| Secret | Work |") && !strstr(md, "Secret text"));
        snprintf(path, sizeof(path), "%s/notes/Recently Deleted", out);
        ASSERT_TRUE(stat(path, &st) < 0);

        /* an unknown schema is a clear result */
        snprintf(path, sizeof(path), "%s/NoteStore.sqlite", dom);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        exec_sql(db, "ALTER TABLE ZICNOTEDATA RENAME COLUMN ZDATA TO ZDATA2");
        sqlite3_close(db);
        snprintf(out, sizeof(out), "%s/notes-out2", tmp);
        ASSERT_EQ(run_plain(&export_notes, src, out, reason, &items), IDS_E_UNSUPPORTED);
        ASSERT_TRUE(strstr(reason, "ZDATA"));
}

static void test_voice_memos_export(const char *tmp) {
        char src[512], dom[600], path[1024], out[512], reason[512] = "";
        sqlite3 *db = NULL;
        uint64_t items = 0;
        struct stat st;

        snprintf(src, sizeof(src), "%s/vm-src", tmp);
        snprintf(dom, sizeof(dom), "%s/AppDomainGroup-group.com.apple.VoiceMemos.shared/Recordings",
                 src);
        mkdir_p(dom);
        snprintf(path, sizeof(path), "%s/20230101 101010-ABCD.m4a", dom);
        write_file(path, "M4A1");
        snprintf(path, sizeof(path), "%s/CloudRecordings.db", dom);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        exec_sql(db, "CREATE TABLE ZCLOUDRECORDING (Z_PK INTEGER PRIMARY KEY, ZDATE TIMESTAMP,"
                     " ZDURATION FLOAT, ZPATH VARCHAR, ZCUSTOMLABEL VARCHAR,"
                     " ZENCRYPTEDTITLE VARCHAR);"
                     "INSERT INTO ZCLOUDRECORDING VALUES"
                     " (1, 694260610, 12.5, '20230101 101010-ABCD.m4a', 'label', 'Kitchen/3'),"
                     " (2, 694260620, 1, '/var/mobile/x/../../20230101 101010-ABCD.m4a',"
                     "  NULL, NULL),"
                     " (3, 694260630, 1, 'missing.m4a', 'gone', NULL),"
                     " (4, NULL, 1, '..', NULL, NULL);");
        sqlite3_close(db);
        snprintf(out, sizeof(out), "%s/vm-out", tmp);
        ASSERT_EQ(run_plain(&export_voice_memos, src, out, reason, &items), 0);
        ASSERT_EQ_U64(items, 2);
        ASSERT_TRUE(strstr(reason, "2 recordings"));
        /* 694260610 + 978307200 = 2023-01-01 10:10:10 UTC */
        snprintf(path, sizeof(path), "%s/voice-memos/2023-01-01 10.10 Kitchen_3.m4a", out);
        ASSERT_SYS(stat(path, &st));
        ASSERT_EQ(st.st_mtime, 694260610 + 978307200);
        ASSERT_STREQ(read_all(path), "M4A1");
        snprintf(path, sizeof(path), "%s/voice-memos/2023-01-01 10.10 Recording.m4a", out);
        ASSERT_SYS(stat(path, &st));
}

int main(int argc, char **argv) {
        char tmp[] = "/tmp/test-export-notes.XXXXXX";

        if (argc == 2) {
                /* the seed corpus of fuzz-note-body: gzip'd sample bodies */
                static Buf pb;
                static uint8_t gz[65536];
                char path[1024];
                FILE *f;
                size_t n;

                build_note(&pb, sample_text, sample_runs, N_SAMPLE_RUNS);
                n = gzip(&pb, gz, sizeof(gz));
                snprintf(path, sizeof(path), "%s/sample.gz", argv[1]);
                f = fopen(path, "we");
                if (!f || fwrite(gz, 1, n, f) != n)
                        return 1;
                fclose(f);
                snprintf(path, sizeof(path), "%s/sample.pb", argv[1]);
                f = fopen(path, "we");
                if (!f || fwrite(pb.d, 1, pb.n, f) != pb.n)
                        return 1;
                fclose(f);
                build_table(&pb);
                snprintf(path, sizeof(path), "%s/table.pb", argv[1]);
                f = fopen(path, "we");
                if (!f || fwrite(pb.d, 1, pb.n, f) != pb.n)
                        return 1;
                fclose(f);
                return 0;
        }

        test_parse_render();
        test_hostile();
        test_inflate();
        test_table();
        if (!mkdtemp(tmp))
                return 1;
        test_notes_export(tmp);
        test_voice_memos_export(tmp);
        if (failures == 0 && !getenv("KEEP")) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
                (void) system(cmd);
        }
        return test_exit_status();
}
