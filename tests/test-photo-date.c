/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * photo_capture_date() (lib/photo-date.c) on JPEGs and HEICs built here byte by byte:
 * both TIFF byte orders, the three date tags in their order of preference, iloc versions
 * 0/1/2 with 4- and 8-byte offsets and a base offset, 64-bit and to-the-end box sizes,
 * bare TIFF in an Exif item, and every prefix of each file (never a crash, never a wrong
 * date), a huge declared box, an extent past the end, a zero date. Also writes the seed
 * corpus of fuzz-photo-date when given a directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "photo-date.h"
#include "test-util.h"

typedef struct Buf {
        uint8_t d[8192];
        size_t n;
} Buf;

static void put(Buf *b, const void *p, size_t n) {
        memcpy(b->d + b->n, p, n);
        b->n += n;
}
static void u8(Buf *b, unsigned v) {
        b->d[b->n++] = (uint8_t) v;
}
static void be16(Buf *b, unsigned v) {
        u8(b, v >> 8);
        u8(b, v);
}
static void be32(Buf *b, uint32_t v) {
        be16(b, v >> 16);
        be16(b, v & 0xffff);
}
static void be64(Buf *b, uint64_t v) {
        be32(b, (uint32_t) (v >> 32));
        be32(b, (uint32_t) v);
}
static void w16(Buf *b, bool le, unsigned v) {
        if (le) {
                u8(b, v);
                u8(b, v >> 8);
        } else
                be16(b, v);
}
static void w32(Buf *b, bool le, uint32_t v) {
        if (le) {
                w16(b, true, v & 0xffff);
                w16(b, true, v >> 16);
        } else
                be32(b, v);
}
static void set_be32(Buf *b, size_t at, uint32_t v) {
        b->d[at] = (uint8_t) (v >> 24);
        b->d[at + 1] = (uint8_t) (v >> 16);
        b->d[at + 2] = (uint8_t) (v >> 8);
        b->d[at + 3] = (uint8_t) v;
}

/* A TIFF: IFD0 (DateTime if dt0, the Exif IFD pointer) → Exif IFD (tag if tag != 0). */
static void tiff(Buf *b, bool le, const char *dt0, unsigned tag, const char *date) {
        size_t base = b->n;
        unsigned n0 = dt0 ? 2 : 1;
        uint32_t ifd0 = 8, exif_ifd = ifd0 + 2 + 12 * n0 + 4, data = exif_ifd + 2 + 12 + 4;

        put(b, le ? "II" : "MM", 2);
        w16(b, le, 42);
        w32(b, le, ifd0);
        w16(b, le, n0);
        if (dt0) {
                w16(b, le, 0x0132);
                w16(b, le, 2);                  /* ASCII */
                w32(b, le, 20);
                w32(b, le, data + 20);
        }
        w16(b, le, 0x8769);
        w16(b, le, 4);                          /* LONG */
        w32(b, le, 1);
        w32(b, le, exif_ifd);
        w32(b, le, 0);
        w16(b, le, 1);
        w16(b, le, tag ? tag : 0x9286);         /* UserComment when no date is wanted */
        w16(b, le, 2);
        w32(b, le, 20);
        w32(b, le, data);
        w32(b, le, 0);
        put(b, date, 19);
        u8(b, 0);
        put(b, dt0 ? dt0 : "0000:00:00 00:00:00", 19);
        u8(b, 0);
        (void) base;
}

static void jpeg(Buf *b, bool le, const char *dt0, unsigned tag, const char *date) {
        Buf t = {};
        static const uint8_t tail[] = { 0xff, 0xda, 0x00, 0x02, 0x12, 0x34, 0xff, 0xd9 };

        put(&t, "Exif\0\0", 6);
        tiff(&t, le, dt0, tag, date);
        b->n = 0;
        u8(b, 0xff);
        u8(b, 0xd8);
        u8(b, 0xff);                            /* an APP0 first, as cameras write */
        u8(b, 0xe0);
        be16(b, 2 + 5);
        put(b, "JFIF\0", 5);
        u8(b, 0xff);
        u8(b, 0xe1);
        be16(b, (unsigned) (2 + t.n));
        put(b, t.d, t.n);
        u8(b, 0xff);
        u8(b, 0xfe);                            /* a comment */
        be16(b, 2 + 3);
        put(b, "abc", 3);
        put(b, tail, sizeof(tail));
}

typedef struct HeifShape {
        unsigned iloc_version;                  /* 0, 1, 2 */
        unsigned offset_size;                   /* 4 or 8 */
        uint64_t base;                          /* base_offset (size 8 when non-zero) */
        bool large_mdat;                        /* mdat with a 64-bit size */
        bool bare_tiff;                         /* exif_tiff_header_offset 0, no "Exif\0\0" */
        bool mdat_to_end;                       /* mdat size 0: to the end of the file */
} HeifShape;

/* ftyp, meta (hdlr, pitm, iinf: hvc1 item 1 + Exif item 2, iloc), mdat (image, Exif). */
static void heic(Buf *b, const HeifShape *s, const char *date) {
        Buf ex = {};
        size_t meta_at, iloc_at, off_field, mdat_data;
        unsigned osz = s->offset_size, bsz = s->base ? 8 : 0;

        if (s->bare_tiff)
                be32(&ex, 0);
        else {
                be32(&ex, 6);
                put(&ex, "Exif\0\0", 6);
        }
        tiff(&ex, true, NULL, 0x9003, date);

        b->n = 0;
        be32(b, 24);
        put(b, "ftypheic", 8);
        be32(b, 0);
        put(b, "mif1heic", 8);
        meta_at = b->n;
        be32(b, 0);                             /* size, set below */
        put(b, "meta", 4);
        be32(b, 0);                             /* version, flags */
        be32(b, 33);
        put(b, "hdlr", 4);
        be32(b, 0);
        be32(b, 0);
        put(b, "pict", 4);
        be32(b, 0);
        be32(b, 0);
        be32(b, 0);
        u8(b, 0);
        be32(b, 14);
        put(b, "pitm", 4);
        be32(b, 0);
        be16(b, 1);
        /* iinf v0: two infe v2 */
        be32(b, 14 + 2 * 21);
        put(b, "iinf", 4);
        be32(b, 0);
        be16(b, 2);
        for (unsigned id = 1; id <= 2; id++) {
                be32(b, 21);
                put(b, "infe", 4);
                be32(b, 2u << 24);
                be16(b, id);
                be16(b, 0);
                put(b, id == 1 ? "hvc1" : "Exif", 4);
                u8(b, 0);                       /* item_name "" */
        }
        iloc_at = b->n;
        be32(b, 0);
        put(b, "iloc", 4);
        be32(b, s->iloc_version << 24);
        u8(b, osz << 4 | 4);
        u8(b, bsz << 4 | 0);
        if (s->iloc_version < 2)
                be16(b, 2);
        else
                be32(b, 2);
        off_field = 0;
        for (unsigned id = 1; id <= 2; id++) {
                if (s->iloc_version < 2)
                        be16(b, id);
                else
                        be32(b, id);
                if (s->iloc_version > 0)
                        be16(b, 0);             /* construction method 0 */
                be16(b, 0);
                if (bsz)
                        be64(b, s->base);
                be16(b, 1);
                if (id == 2)
                        off_field = b->n;
                if (osz == 8)
                        be64(b, 0);
                else
                        be32(b, 0);
                be32(b, id == 1 ? 16 : (uint32_t) ex.n);
        }
        set_be32(b, iloc_at, (uint32_t) (b->n - iloc_at));
        set_be32(b, meta_at, (uint32_t) (b->n - meta_at));
        if (s->large_mdat) {
                be32(b, 1);
                put(b, "mdat", 4);
                be64(b, 16 + 16 + ex.n);
        } else {
                be32(b, s->mdat_to_end ? 0 : (uint32_t) (8 + 16 + ex.n));
                put(b, "mdat", 4);
        }
        mdat_data = b->n;
        for (int i = 0; i < 16; i++)
                u8(b, 0xaa);                    /* the "image" */
        {
                uint64_t at = mdat_data + 16 - s->base;
                Buf o = {};

                if (osz == 8)
                        be64(&o, at);
                else
                        be32(&o, (uint32_t) at);
                memcpy(b->d + off_field, o.d, o.n);
        }
        put(b, ex.d, ex.n);
}

static int memfd_of(const Buf *b, size_t n) {
        int fd = memfd_create("photo", MFD_CLOEXEC);

        if (fd < 0 || write(fd, b->d, n) != (ssize_t) n)
                abort();
        return fd;
}

static int date_of(const Buf *b, size_t n, PhotoDate *d) {
        int fd = memfd_of(b, n), r;

        r = photo_capture_date(fd, d);
        close(fd);
        return r;
}

static void expect_date(const Buf *b, const char *what, int y, int mo, int da, int h, int mi,
                        int s) {
        PhotoDate d = {};
        int r = date_of(b, b->n, &d);

        if (r != 0 || d.year != y || d.month != mo || d.day != da || d.hour != h ||
            d.minute != mi || d.second != s)
                printf("FAIL: %s: r=%d %04d-%02d-%02d %02d:%02d:%02d at %s:%d\n", what, r, d.year,
                       d.month, d.day, d.hour, d.minute, d.second, __FILE__, __LINE__);
        ASSERT_EQ(r, 0);
        ASSERT_EQ(d.year, y);
        ASSERT_EQ(d.month, mo);
}

/* Every prefix: no crash, and either -ENODATA or the full file's date. */
static void expect_prefixes(const Buf *b, const char *what) {
        for (size_t n = 0; n < b->n; n++) {
                PhotoDate d = {};
                int r = date_of(b, n, &d);

                if (r != -ENODATA && !(r == 0 && d.year == 2021))
                        printf("FAIL: %s prefix %zu: r=%d year %d at %s:%d\n", what, n, r, d.year,
                               __FILE__, __LINE__);
                ASSERT_TRUE(r == -ENODATA || (r == 0 && d.year == 2021));
        }
}

static void save(const char *dir, const char *name, const Buf *b) {
        test_save(dir, name, b->d, b->n);
}

int main(int argc, char **argv) {
        const char *corpus = argc > 1 ? argv[1] : NULL;
        Buf b;
        PhotoDate d;

        /* JPEG: both byte orders; DateTimeOriginal, else Digitized, else IFD0 DateTime. */
        jpeg(&b, true, NULL, 0x9003, "2021:07:14 09:30:05");
        expect_date(&b, "jpeg LE original", 2021, 7, 14, 9, 30, 5);
        save(corpus, "le.jpg", &b);
        expect_prefixes(&b, "jpeg LE");
        jpeg(&b, false, "1999:01:02 03:04:05", 0x9003, "2021:12:31 23:59:60");
        expect_date(&b, "jpeg BE original", 2021, 12, 31, 23, 59, 60);
        save(corpus, "be.jpg", &b);
        jpeg(&b, false, NULL, 0x9004, "2021:03:04 05:06:07");
        expect_date(&b, "jpeg digitized", 2021, 3, 4, 5, 6, 7);
        jpeg(&b, true, "2021:02:03 04:05:06", 0, "2019:01:01 00:00:00");
        expect_date(&b, "jpeg IFD0 DateTime", 2021, 2, 3, 4, 5, 6);
        jpeg(&b, true, NULL, 0x9003, "0000:00:00 00:00:00");
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        jpeg(&b, true, NULL, 0x9003, "2021:13:01 00:00:00");
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        jpeg(&b, true, NULL, 0, "2021:01:01 00:00:00");                  /* no date at all */
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        /* an APP1 that claims more than the file has */
        jpeg(&b, true, NULL, 0x9003, "2021:07:14 09:30:05");
        b.d[2 + 2 + 7 + 2] = 0xff;
        b.d[2 + 2 + 7 + 3] = 0xff;
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);

        /* HEIC: iloc versions, offset sizes, base offsets, 64-bit and to-the-end sizes. */
        static const HeifShape shapes[] = {
                { 0, 4, 0, false, false, false },
                { 1, 4, 0, false, false, false },
                { 2, 4, 0, false, false, false },
                { 1, 8, 0, true, false, false },
                { 1, 8, 100, false, false, true },
                { 0, 4, 0, false, true, false },
        };
        for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
                char what[64], name[32];

                heic(&b, &shapes[i], "2021:08:09 10:11:12");
                snprintf(what, sizeof(what), "heic shape %zu", i);
                expect_date(&b, what, 2021, 8, 9, 10, 11, 12);
                expect_prefixes(&b, what);
                snprintf(name, sizeof(name), "shape%zu.heic", i);
                save(corpus, name, &b);
        }
        /* an Exif extent past the end of the file */
        heic(&b, &shapes[0], "2021:08:09 10:11:12");
        b.n -= 10;
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        /* a meta box declaring 4 GiB */
        heic(&b, &shapes[0], "2021:08:09 10:11:12");
        set_be32(&b, 24, 0xfffffff0u);
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        /* not an image brand */
        heic(&b, &shapes[0], "2021:08:09 10:11:12");
        memcpy(b.d + 8, "qt  ", 4);
        memcpy(b.d + 16, "isomqt  ", 8);
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);

        /* neither: PNG, empty */
        b.n = 0;
        put(&b, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
        ASSERT_EQ(date_of(&b, b.n, &d), -ENODATA);
        ASSERT_EQ(date_of(&b, 0, &d), -ENODATA);
        return test_exit_status();
}
