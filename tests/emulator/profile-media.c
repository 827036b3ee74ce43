/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Camera-roll files that a host can parse: the content of the profile's DCIM and
 * PhotoData/CPLAssets files.
 *
 * A photo sync engine is judged on what it reads from a file (the EXIF capture date, the
 * Live Photo pairing, the sidecars), so these files are the real formats, small and
 * deterministic: a baseline JPEG (8x8 grey) with an APP1 Exif segment, an ISO-BMFF HEIC
 * whose meta box points at an hvc1 item and an Exif item (HEIF Annex A), QuickTime and MP4
 * files (ftyp + mdat), a PNG (1x1 grey), and the XML plist .AAE edit sidecar. Each file is
 * padded to the size the generation plan gave it: COM segments in a JPEG, the hvc1 item in
 * a HEIC, mdat in a movie, a private ancillary chunk in a PNG, blanks in an AAE. A size
 * below the format's minimum (only in absurdly small --bytes budgets) cuts the file short,
 * so the byte rule of gen-profile always holds.
 *
 * The TIFF inside the Exif data is big-endian ("MM") or little-endian ("II") by the file's
 * content seed, so hosts must handle both; IFD0 holds Make and the ExifIFD pointer (0x8769),
 * the ExifIFD DateTimeOriginal (0x9003) and DateTimeDigitized (0x9004) as
 * "YYYY:MM:DD HH:MM:SS" in UTC.
 */
#include <strings.h>
#include <zlib.h>

#include <openssl/evp.h>

#include "profile-internal.h"

#define TIFF_SIZE 114u                  /* the TIFF block tiff_build() makes */
#define HEIC_META_SIZE 185u             /* the meta box heic_header() makes */
#define HEIC_EXIF_SIZE (4u + 6u + TIFF_SIZE)
#define HEIC_HEADER_SIZE (24u + HEIC_META_SIZE + 8u + HEIC_EXIF_SIZE)
#define JPEG_TIFF_OFFSET 12u            /* SOI, APP1 marker and length, "Exif\0\0" */
#define HEIC_TIFF_OFFSET (24u + HEIC_META_SIZE + 8u + 4u + 6u)

/* An 8x8 baseline greyscale JPEG after its APP1: all-ones quantisation, one-code Huffman
 * tables, one block whose DC difference and AC run are both "0" (a flat grey 128). */
static const uint8_t jpeg_body[] = {
        0xff, 0xdb, 0x00, 0x43, 0x00,                                   /* DQT */
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1,
        0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x08, 0x00, 0x08, 0x01,     /* SOF0 8x8, 1 comp */
        0x01, 0x11, 0x00,
        0xff, 0xc4, 0x00, 0x14, 0x00,                                   /* DHT DC 0 */
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
        0xff, 0xc4, 0x00, 0x14, 0x10,                                   /* DHT AC 0 */
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00,
        0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00,     /* SOS */
        0x3f,                                                           /* "00", 1-padded */
        0xff, 0xd9,                                                     /* EOI */
};

/* ---- a bounded, buffered writer: bytes past `limit` are dropped ------------------------- */

typedef struct Out {
        int fd;
        uint8_t *buf;           /* GEN_BUF_SIZE bytes, borrowed */
        size_t len;
        uint64_t done, limit;   /* bytes accepted so far; the file's size */
        int error;
} Out;

static void out_flush(Out *o) {
        if (o->len > 0 && o->error >= 0)
                o->error = write_all(o->fd, o->buf, o->len);
        o->len = 0;
}

static void out_put(Out *o, const void *p, size_t n) {
        const uint8_t *s = p;

        if (o->done + n > o->limit)
                n = (size_t) (o->limit - o->done);
        while (n > 0) {
                size_t k = GEN_BUF_SIZE - o->len < n ? GEN_BUF_SIZE - o->len : n;

                memcpy(o->buf + o->len, s, k);
                o->len += k;
                o->done += k;
                s += k;
                n -= k;
                if (o->len == GEN_BUF_SIZE)
                        out_flush(o);
        }
}

/* n pseudo-random bytes; crc (if non-NULL) runs over them. */
static void out_random(Out *o, Rng *r, uint64_t n, uLong *crc) {
        while (n > 0 && o->done < o->limit) {
                size_t k = GEN_BUF_SIZE - o->len;

                if (k > n)
                        k = (size_t) n;
                if (k > o->limit - o->done)
                        k = (size_t) (o->limit - o->done);
                rng_fill(r, o->buf + o->len, k);
                if (crc)
                        *crc = crc32(*crc, o->buf + o->len, (uInt) k);
                o->len += k;
                o->done += k;
                n -= k;
                if (o->len == GEN_BUF_SIZE)
                        out_flush(o);
        }
}

static void put_be16(uint8_t *p, unsigned v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* ---- EXIF ---------------------------------------------------------------------------- */

typedef struct Tiff {
        uint8_t *p;
        bool be;
} Tiff;

static void tiff_u16(const Tiff *t, size_t off, unsigned v) {
        if (t->be)
                put_be16(t->p + off, v);
        else {
                t->p[off] = (uint8_t) v;
                t->p[off + 1] = (uint8_t) (v >> 8);
        }
}

static void tiff_u32(const Tiff *t, size_t off, uint32_t v) {
        if (t->be)
                put_be32(t->p + off, v);
        else
                for (unsigned i = 0; i < 4; i++)
                        t->p[off + i] = (uint8_t) (v >> (8 * i));
}

/* One 12-byte IFD entry at off. */
static void tiff_entry(const Tiff *t, size_t off, unsigned tag, unsigned type, uint32_t count,
                       uint32_t value) {
        tiff_u16(t, off, tag);
        tiff_u16(t, off + 2, type);
        tiff_u32(t, off + 4, count);
        tiff_u32(t, off + 8, value);
}

/* The TIFF_SIZE-byte TIFF block: header, IFD0 {Make, ExifIFD} at 8, "Apple" at 38, ExifIFD
 * {DateTimeOriginal, DateTimeDigitized} at 44, the two date strings at 74 and 94. */
static void tiff_build(uint8_t *p, bool be, int64_t capture) {
        Tiff t = { .p = p, .be = be };
        time_t tt = (time_t) capture;
        char date[32];
        struct tm tm;

        (void) gmtime_r(&tt, &tm);
        (void) strftime(date, sizeof(date), "%Y:%m:%d %H:%M:%S", &tm);
        memset(p, 0, TIFF_SIZE);
        memcpy(p, be ? "MM\0*" : "II*\0", 4);
        tiff_u32(&t, 4, 8);
        tiff_u16(&t, 8, 2);
        tiff_entry(&t, 10, 0x010f, 2, 6, 38);           /* Make, ASCII */
        tiff_entry(&t, 22, 0x8769, 4, 1, 44);           /* ExifIFD pointer, LONG */
        tiff_u32(&t, 34, 0);                            /* no IFD1 */
        memcpy(p + 38, "Apple", 6);
        tiff_u16(&t, 44, 2);
        tiff_entry(&t, 46, 0x9003, 2, 20, 74);          /* DateTimeOriginal */
        tiff_entry(&t, 58, 0x9004, 2, 20, 94);          /* DateTimeDigitized */
        tiff_u32(&t, 70, 0);
        memcpy(p + 74, date, 20);
        memcpy(p + 94, date, 20);
}

/* ---- the formats ------------------------------------------------------------------------ */

static void write_jpeg(Out *o, Rng *r, bool be, int64_t capture) {
        uint8_t head[2 + 4 + 6 + TIFF_SIZE + 3] = { 0xff, 0xd8, 0xff, 0xe1 };
        uint64_t base = sizeof(head) - 3 + sizeof(jpeg_body), pad, extra = 0, segs;

        pad = o->limit > base ? o->limit - base : 0;
        if (pad < 4) {                                  /* too little for a COM segment */
                extra = pad;
                pad = 0;
        }
        put_be16(head + 4, (unsigned) (2 + 6 + TIFF_SIZE + extra));
        memcpy(head + 6, "Exif\0\0", 6);
        tiff_build(head + 12, be, capture);
        out_put(o, head, sizeof(head) - 3 + extra);

        /* COM segments of at most 65537 bytes, evenly sized so each holds at least 4. */
        segs = (pad + 65536) / 65537;
        for (uint64_t i = 0; i < segs; i++) {
                uint64_t s = pad / segs + (i < pad % segs);
                uint8_t com[4] = { 0xff, 0xfe };

                put_be16(com + 2, (unsigned) (s - 2));
                out_put(o, com, 4);
                out_random(o, r, s - 4, NULL);
        }
        out_put(o, jpeg_body, sizeof(jpeg_body));
}

/* ftyp, meta {hdlr, pitm, iinf {infe hvc1, infe Exif}, iref {cdsc}, iloc}, mdat {Exif item,
 * hvc1 item}; iloc version 0, offset and length size 4, no base offset. */
static void write_heic(Out *o, Rng *r, bool be, int64_t capture) {
        uint8_t h[HEIC_HEADER_SIZE] = {};
        uint64_t image = o->limit > HEIC_HEADER_SIZE ? o->limit - HEIC_HEADER_SIZE : 0;
        uint32_t exif_off = 24 + HEIC_META_SIZE + 8;
        size_t n = 0;

#define BOX(size, type)                                                                      \
        do {                                                                                 \
                put_be32(h + n, (size));                                                     \
                memcpy(h + n + 4, (type), 4);                                                \
                n += 8;                                                                      \
        } while (0)
#define FULL(v, flags)                                                                       \
        do {                                                                                 \
                put_be32(h + n, ((uint32_t) (v) << 24) | (flags));                           \
                n += 4;                                                                      \
        } while (0)
#define U16(v) (put_be16(h + n, (v)), n += 2)
#define U32(v) (put_be32(h + n, (v)), n += 4)
#define RAW(s, len) (memcpy(h + n, (s), (len)), n += (len))

        BOX(24, "ftyp");
        RAW("heic", 4);
        U32(0);
        RAW("mif1heic", 8);

        BOX(HEIC_META_SIZE, "meta");
        FULL(0, 0);
        BOX(33, "hdlr");
        FULL(0, 0);
        U32(0);
        RAW("pict", 4);
        n += 12 + 1;                                    /* reserved, empty name */
        BOX(14, "pitm");
        FULL(0, 0);
        U16(1);
        BOX(56, "iinf");
        FULL(0, 0);
        U16(2);
        BOX(21, "infe");
        FULL(2, 0);
        U16(1);
        U16(0);
        RAW("hvc1", 4);
        n += 1;
        BOX(21, "infe");
        FULL(2, 0);
        U16(2);
        U16(0);
        RAW("Exif", 4);
        n += 1;
        BOX(26, "iref");
        FULL(0, 0);
        BOX(14, "cdsc");                                /* the Exif describes the image */
        U16(2);
        U16(1);
        U16(1);
        BOX(44, "iloc");
        FULL(0, 0);
        h[n++] = 0x44;                                  /* offset_size 4, length_size 4 */
        h[n++] = 0x00;                                  /* base_offset_size 0 */
        U16(2);
        U16(1);                                         /* the image */
        U16(0);
        U16(1);
        U32(exif_off + HEIC_EXIF_SIZE);
        U32((uint32_t) image);
        U16(2);                                         /* the Exif data */
        U16(0);
        U16(1);
        U32(exif_off);
        U32(HEIC_EXIF_SIZE);

        BOX((uint32_t) (8 + HEIC_EXIF_SIZE + image), "mdat");
        U32(6);                                         /* exif_tiff_header_offset */
        RAW("Exif\0\0", 6);
        tiff_build(h + n, be, capture);
        n += TIFF_SIZE;
        assert(n == HEIC_HEADER_SIZE);
#undef BOX
#undef FULL
#undef U16
#undef U32
#undef RAW

        out_put(o, h, n);
        out_random(o, r, image, NULL);
}

/* QuickTime ('qt  ') or MP4 ('isom', compatible isom mp42): ftyp, then one mdat. */
static void write_movie(Out *o, Rng *r, bool mp4) {
        static const uint8_t qt[] = "\0\0\0\x14" "ftypqt  \0\0\0\0" "qt  ";
        static const uint8_t isom[] = "\0\0\0\x18" "ftypisom\0\0\x02\0" "isommp42";
        const uint8_t *ftyp = mp4 ? isom : qt;
        size_t flen = mp4 ? 24 : 20;
        uint64_t body = o->limit > flen + 8 ? o->limit - flen - 8 : 0;
        uint8_t mdat[8];

        out_put(o, ftyp, flen);
        put_be32(mdat, (uint32_t) (8 + body));
        memcpy(mdat + 4, "mdat", 4);
        out_put(o, mdat, 8);
        out_random(o, r, body, NULL);
}

static void png_chunk(Out *o, const char *type, const uint8_t *data, size_t n) {
        uint8_t h[8], c[4];
        uLong crc = crc32(0, (const Bytef *) type, 4);

        put_be32(h, (uint32_t) n);
        memcpy(h + 4, type, 4);
        out_put(o, h, 8);
        out_put(o, data, n);
        if (n > 0)                              /* crc32(…, NULL, 0) is 0, not crc */
                crc = crc32(crc, data, (uInt) n);
        put_be32(c, (uint32_t) crc);
        out_put(o, c, 4);
}

/* A 1x1 grey PNG: signature, IHDR, IDAT, the padding chunk "paDd" (ancillary, private,
 * safe to copy: decoders skip it), IEND. Padding of 1 to 11 bytes, too little for a chunk,
 * follows IEND as zeros. */
static void write_png(Out *o, Rng *r) {
        static const uint8_t ihdr[13] = { 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0 };
        static const uint8_t pixels[2] = { 0, 0x80 };  /* filter none, grey 128 */
        uint8_t z[64], zero[12] = {};
        uLongf zlen = sizeof(z);
        uint64_t base, pad;

        if (compress2(z, &zlen, pixels, sizeof(pixels), 9) != Z_OK)
                zlen = 0;                               /* cannot happen with 64 bytes */
        base = 8 + 25 + 12 + zlen + 12;
        pad = o->limit > base ? o->limit - base : 0;

        out_put(o, "\x89PNG\r\n\x1a\n", 8);
        png_chunk(o, "IHDR", ihdr, sizeof(ihdr));
        png_chunk(o, "IDAT", z, zlen);
        if (pad >= 12) {
                uint8_t h[8], c[4];
                uLong crc = crc32(0, (const Bytef *) "paDd", 4);

                put_be32(h, (uint32_t) (pad - 12));
                memcpy(h + 4, "paDd", 4);
                out_put(o, h, 8);
                out_random(o, r, pad - 12, &crc);
                put_be32(c, (uint32_t) crc);
                out_put(o, c, 4);
                pad = 0;
        }
        png_chunk(o, "IEND", NULL, 0);
        out_put(o, zero, pad);
}

/* An .AAE edit sidecar as iOS writes it: an XML plist with the adjustment format, its
 * version and the (here random) adjustment data as base64; blanks pad it to its size. */
static void write_aae(Out *o, Rng *r, int64_t capture) {
        static const char b64[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        static const char *const fmt =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
                "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
                "<plist version=\"1.0\">\n"
                "<dict>\n"
                "\t<key>adjustmentBaseVersion</key>\n"
                "\t<integer>0</integer>\n"
                "\t<key>adjustmentData</key>\n"
                "\t<data>\n"
                "\t%s\n"
                "\t</data>\n"
                "\t<key>adjustmentEditorBundleID</key>\n"
                "\t<string>com.apple.mobileslideshow</string>\n"
                "\t<key>adjustmentFormatIdentifier</key>\n"
                "\t<string>com.apple.photo</string>\n"
                "\t<key>adjustmentFormatVersion</key>\n"
                "\t<string>1.5</string>\n"
                "\t<key>adjustmentTimestamp</key>\n"
                "\t<date>%s</date>\n"
                "</dict>%s\n"
                "</plist>\n";
        _cleanup_(freep) char *data = NULL, *text = NULL;
        uint64_t room;
        size_t fixed, n, k = 0;
        time_t tt = (time_t) (capture + 2 * DAY);       /* edited two days later */
        char stamp[32];
        struct tm tm;
        int len;

        (void) gmtime_r(&tt, &tm);
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fixed = strlen(fmt) - 6 + strlen(stamp);
        room = o->limit > fixed ? o->limit - fixed : 0;
        n = (size_t) (room / 4 * 3);                    /* raw bytes whose base64 fits */
        if (n > 1u << 20)
                n = 1u << 20;
        data = malloc(n / 3 * 4 + 1);
        if (!data) {
                o->error = -ENOMEM;
                return;
        }
        for (size_t i = 0; i + 3 <= n; i += 3) {
                uint64_t v = rng_next(r);

                data[k++] = b64[v & 63];
                data[k++] = b64[(v >> 6) & 63];
                data[k++] = b64[(v >> 12) & 63];
                data[k++] = b64[(v >> 18) & 63];
        }
        data[k] = '\0';
        room -= k;
        {
                _cleanup_(freep) char *blanks = malloc(room + 1 > 1u << 20 ? 1u << 20 : room + 1);
                size_t b = room > (1u << 20) - 1 ? (1u << 20) - 1 : (size_t) room;

                if (!blanks) {
                        o->error = -ENOMEM;
                        return;
                }
                for (size_t i = 0; i < b; i++)
                        blanks[i] = i % 64 == 0 ? '\n' : ' ';
                blanks[b] = '\0';
                len = asprintf(&text, fmt, data, stamp, blanks);
        }
        if (len < 0) {
                o->error = -ENOMEM;
                return;
        }
        out_put(o, text, (size_t) len);
}

/* ---- public --------------------------------------------------------------------------- */

/* The extension (upper case, no dot) camera-roll files of format k have. */
const char *media_ext(MediaKind k) {
        switch (k) {
        case MEDIA_HEIC: return "HEIC";
        case MEDIA_JPEG: return "JPG";
        case MEDIA_PNG: return "PNG";
        case MEDIA_MOV: return "MOV";
        case MEDIA_MP4: return "MP4";
        case MEDIA_AAE: return "AAE";
        default: return "dat";
        }
}

/* The camera-roll format of path, by its extension (case-insensitive); MEDIA_NONE for any
 * other file. */
MediaKind media_kind_of(const char *path) {
        static const struct {
                const char *ext;
                MediaKind kind;
        } table[] = {
                { ".HEIC", MEDIA_HEIC }, { ".JPG", MEDIA_JPEG }, { ".PNG", MEDIA_PNG },
                { ".MOV", MEDIA_MOV },   { ".MP4", MEDIA_MP4 },  { ".AAE", MEDIA_AAE },
        };
        const char *dot = strrchr(path, '.');

        if (!dot)
                return MEDIA_NONE;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcasecmp(dot, table[i].ext) == 0)
                        return table[i].kind;
        return MEDIA_NONE;
}

/**
 * write_media_at: write a camera-roll file of format kind at path (relative to dfd; the file
 * must not exist, parents are created).
 * @size: its exact size; below the format's minimum the file is cut short.
 * @cseed: the content seed (random padding, TIFF byte order).
 * @capture: the capture time (Unix seconds) written into EXIF (JPEG, HEIC) or AAE.
 * @mtime: the file's modification time.
 * @buf: GEN_BUF_SIZE bytes of scratch space.
 *
 * Returns 0, -EINVAL for MEDIA_NONE, or -errno.
 */
int write_media_at(int dfd, const char *path, MediaKind kind, uint64_t size, uint64_t cseed,
                   int64_t capture, int64_t mtime, uint8_t *buf) {
        _cleanup_(closep) int fd = -EBADF;
        struct timespec ts[2] = { { .tv_sec = (time_t) mtime }, { .tv_sec = (time_t) mtime } };
        bool be = cseed & 1;
        Out o;
        Rng rng;

        if (kind == MEDIA_NONE)
                return -EINVAL;
        fd = create_at(dfd, path);
        if (fd < 0)
                return fd;
        o = (Out) { .fd = fd, .buf = buf, .limit = size };
        rng_init(&rng, cseed);

        switch (kind) {
        case MEDIA_JPEG:
                write_jpeg(&o, &rng, be, capture);
                break;
        case MEDIA_HEIC:
                write_heic(&o, &rng, be, capture);
                break;
        case MEDIA_MOV:
        case MEDIA_MP4:
                write_movie(&o, &rng, kind == MEDIA_MP4);
                break;
        case MEDIA_PNG:
                write_png(&o, &rng);
                break;
        case MEDIA_AAE:
                write_aae(&o, &rng, capture);
                break;
        default:
                return -EINVAL;
        }
        if (o.done < o.limit) {                         /* a rounding slip: zero-fill */
                uint64_t left = o.limit - o.done;

                while (left > 0 && o.error >= 0) {
                        uint8_t z[256] = {};
                        size_t k = left > sizeof(z) ? sizeof(z) : (size_t) left;

                        out_put(&o, z, k);
                        left -= k;
                }
        }
        out_flush(&o);
        if (o.error < 0)
                return o.error;
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

static unsigned tiff_get16(const uint8_t *p, bool be) {
        return be ? (unsigned) p[0] << 8 | p[1] : (unsigned) p[1] << 8 | p[0];
}

static uint32_t tiff_get32(const uint8_t *p, bool be) {
        return be ? (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3]
                  : (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

/* The value offset of tag in the IFD at off of the TIFF block t[0…n), or 0. */
static uint32_t tiff_find(const uint8_t *t, size_t n, bool be, uint32_t off, unsigned tag) {
        unsigned count;

        if (off + 2 > n)
                return 0;
        count = tiff_get16(t + off, be);
        for (unsigned i = 0; i < count; i++) {
                size_t e = off + 2 + 12 * (size_t) i;

                if (e + 12 > n)
                        return 0;
                if (tiff_get16(t + e, be) == tag)
                        return tiff_get32(t + e + 8, be);
        }
        return 0;
}

/**
 * media_read_capture: the EXIF DateTimeOriginal of a JPEG or HEIC this file wrote (the TIFF
 * block sits at a fixed place in both), as Unix seconds into *ret.
 * Returns 0, -ENODATA if path is no such file or has no readable date, -errno.
 */
int media_read_capture(int dfd, const char *path, int64_t *ret) {
        _cleanup_(closep) int fd = -EBADF;
        MediaKind kind = media_kind_of(path);
        uint8_t t[TIFF_SIZE];
        uint32_t ifd, date;
        struct tm tm = {};
        char s[20];
        bool be;

        if (kind != MEDIA_JPEG && kind != MEDIA_HEIC)
                return -ENODATA;
        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (pread(fd, t, sizeof(t), kind == MEDIA_JPEG ? JPEG_TIFF_OFFSET : HEIC_TIFF_OFFSET) !=
            (ssize_t) sizeof(t))
                return -ENODATA;
        if (memcmp(t, "MM\0*", 4) != 0 && memcmp(t, "II*\0", 4) != 0)
                return -ENODATA;
        be = t[0] == 'M';
        ifd = tiff_find(t, sizeof(t), be, tiff_get32(t + 4, be), 0x8769);
        date = ifd ? tiff_find(t, sizeof(t), be, ifd, 0x9003) : 0;
        if (date == 0 || date + 19 > sizeof(t))
                return -ENODATA;
        memcpy(s, t + date, 19);
        s[19] = '\0';
        if (sscanf(s, "%4d:%2d:%2d %2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
                return -ENODATA;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        *ret = (int64_t) timegm(&tm);
        return 0;
}

/**
 * sha256_file_at: the SHA-256 of path (relative to dfd) as 64 lower-case hex digits into
 * hex (65 bytes), its size into *ret_size. buf: GEN_BUF_SIZE bytes of scratch space.
 * Returns 0 or -errno (-EIO if the digest fails).
 */
int sha256_file_at(int dfd, const char *path, uint8_t *buf, char hex[static 65],
                   uint64_t *ret_size) {
        _cleanup_(closep) int fd = -EBADF;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        uint64_t size = 0;
        EVP_MD_CTX *ctx;
        int r = 0;

        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                r = -EIO;
        while (r >= 0) {
                ssize_t k = read(fd, buf, GEN_BUF_SIZE);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        r = -errno;
                else if (k == 0)
                        break;
                else if (EVP_DigestUpdate(ctx, buf, (size_t) k) != 1)
                        r = -EIO;
                else
                        size += (uint64_t) k;
        }
        if (r >= 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < md_len && i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        hex[64] = '\0';
        *ret_size = size;
        return 0;
}
