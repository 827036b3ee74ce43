/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mp4_box_header() and mp4_protected() (lib/mp4.c) on files built here box by box: a plain
 * AAC track, FairPlay audio (drms + sinf) and video (drmi), common encryption (encv), a
 * plain entry that carries a sinf, 64-bit and to-the-end sizes, and hostile layouts (sizes
 * that lie, a box shorter than its header, nesting past the limit, a cut stsd). With a
 * directory argument the files are also written there, as the corpus of fuzz-mp4.
 */
#include <stdlib.h>

#include "mp4.h"
#include "test-util.h"

typedef struct Buf {
        uint8_t d[4096];
        size_t n;
} Buf;

static void put32(Buf *b, uint32_t v) {
        b->d[b->n++] = (uint8_t) (v >> 24);
        b->d[b->n++] = (uint8_t) (v >> 16);
        b->d[b->n++] = (uint8_t) (v >> 8);
        b->d[b->n++] = (uint8_t) v;
}

static void put(Buf *b, const void *p, size_t n) {
        memcpy(b->d + b->n, p, n);
        b->n += n;
}

/* Open a box: returns where its size goes, fixed by close_box(). */
static size_t open_box(Buf *b, const char *type) {
        size_t at = b->n;

        put32(b, 0);
        put(b, type, 4);
        return at;
}

static void close_box(Buf *b, size_t at) {
        uint32_t size = (uint32_t) (b->n - at);

        b->d[at] = (uint8_t) (size >> 24);
        b->d[at + 1] = (uint8_t) (size >> 16);
        b->d[at + 2] = (uint8_t) (size >> 8);
        b->d[at + 3] = (uint8_t) size;
}

/* ftyp, mdat, then moov/trak/mdia/minf/stbl/stsd with one entry of `entry` type; sinf
 * inside the entry when asked. */
static void movie(Buf *b, const char *entry, bool sinf) {
        static const uint8_t zeros[28];
        size_t moov, trak, mdia, minf, stbl, stsd, e, s;

        b->n = 0;
        s = open_box(b, "ftyp");
        put(b, "M4A \0\0\0\0", 8);
        close_box(b, s);
        s = open_box(b, "mdat");
        put(b, "samples!", 8);
        close_box(b, s);
        moov = open_box(b, "moov");
        trak = open_box(b, "trak");
        mdia = open_box(b, "mdia");
        minf = open_box(b, "minf");
        stbl = open_box(b, "stbl");
        stsd = open_box(b, "stsd");
        put32(b, 0);                            /* version, flags */
        put32(b, 1);                            /* one entry */
        e = open_box(b, entry);
        put(b, zeros, sizeof(zeros));
        if (sinf) {
                size_t si = open_box(b, "sinf"), f = open_box(b, "frma");
                put(b, "mp4a", 4);
                close_box(b, f);
                close_box(b, si);
        }
        close_box(b, e);
        close_box(b, stsd);
        close_box(b, stbl);
        close_box(b, minf);
        close_box(b, mdia);
        close_box(b, trak);
        close_box(b, moov);
}

static void save(const char *dir, const char *name, const Buf *b) {
        test_save(dir, name, b->d, b->n);
}

int main(int argc, char **argv) {
        const char *corpus = argc > 1 ? argv[1] : NULL;
        uint64_t size;
        size_t head;
        Buf b;

        /* Headers: 32-bit, 64-bit, to the end, and the lies. */
        {
                const uint8_t h32[] = { 0, 0, 0, 24, 'f', 'r', 'e', 'e' };
                const uint8_t h64[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 1, 0, 0, 0, 0 };
                const uint8_t h0[] = { 0, 0, 0, 0, 'm', 'd', 'a', 't' };
                const uint8_t small[] = { 0, 0, 0, 7, 'f', 'r', 'e', 'e' };
                const uint8_t h64small[] = { 0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 15 };

                ASSERT_TRUE(mp4_box_header(h32, 8, 100, &size, &head));
                ASSERT_EQ(size, 24);
                ASSERT_EQ(head, 8);
                ASSERT_TRUE(!mp4_box_header(h32, 8, 23, &size, &head));     /* past its space */
                ASSERT_TRUE(mp4_box_header(h64, 16, 1ull << 33, &size, &head));
                ASSERT_EQ_U64(size, 1ull << 32);
                ASSERT_EQ(head, 16);
                ASSERT_TRUE(!mp4_box_header(h64, 8, 1ull << 33, &size, &head)); /* cut short */
                ASSERT_TRUE(mp4_box_header(h0, 8, 5000, &size, &head));
                ASSERT_EQ(size, 5000);
                ASSERT_TRUE(!mp4_box_header(small, 8, 100, &size, &head));  /* < its header */
                ASSERT_TRUE(!mp4_box_header(h64small, 16, 100, &size, &head));
                ASSERT_TRUE(!mp4_box_header(h32, 7, 100, &size, &head));
                ASSERT_TRUE(!mp4_box_header(h32, 8, 7, &size, &head));
        }

        /* What is protected and what is not. */
        movie(&b, "mp4a", false);
        ASSERT_TRUE(!mp4_protected(b.d, b.n));
        save(corpus, "plain.m4a", &b);
        movie(&b, "drms", true);
        ASSERT_TRUE(mp4_protected(b.d, b.n));
        save(corpus, "fairplay.m4p", &b);
        movie(&b, "drmi", false);
        ASSERT_TRUE(mp4_protected(b.d, b.n));
        movie(&b, "encv", true);
        ASSERT_TRUE(mp4_protected(b.d, b.n));
        save(corpus, "cenc.mp4", &b);
        movie(&b, "mp4a", true);                /* a plain type that carries a sinf */
        ASSERT_TRUE(mp4_protected(b.d, b.n));
        movie(&b, "avc1", false);
        ASSERT_TRUE(!mp4_protected(b.d, b.n));

        /* Hostile: each of these is read without leaving the buffer, and is "not protected"
         * where the lie hides the sample description. */
        movie(&b, "drms", true);
        {
                Buf cut = b;

                cut.n -= 20;                    /* the moov cut short: its size lies */
                ASSERT_TRUE(!mp4_protected(cut.d, cut.n));
                save(corpus, "cut.m4p", &cut);
        }
        {
                Buf big = b;
                size_t moov = 16 + 16;          /* after ftyp and mdat */

                big.d[moov] = 0x7f;             /* moov claims 2 GiB */
                ASSERT_TRUE(!mp4_protected(big.d, big.n));
                big.d[moov] = 0;
                big.d[moov + 3] = 4;            /* moov shorter than its header */
                ASSERT_TRUE(!mp4_protected(big.d, big.n));
        }
        {
                /* 20 nested moov boxes: past the depth limit, nothing found, no recursion
                 * without end. */
                Buf deep = { .n = 0 };
                size_t at[20];

                for (size_t i = 0; i < 20; i++)
                        at[i] = open_box(&deep, "moov");
                put(&deep, "\0\0\0\x10stsd\0\0\0\0\0\0\0\0", 16);
                for (size_t i = 20; i-- > 0;)
                        close_box(&deep, at[i]);
                ASSERT_TRUE(!mp4_protected(deep.d, deep.n));
                save(corpus, "deep.mp4", &deep);
        }
        ASSERT_TRUE(!mp4_protected(b.d, 0));
        ASSERT_TRUE(!mp4_protected(b.d, 7));
        return test_exit_status();
}
