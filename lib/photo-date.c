/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Finding the EXIF of a photo (photo-date.h).
 *
 * JPEG: the segments after SOI up to SOS; the first APP1 that starts with "Exif\0\0".
 * HEIF (ISO/IEC 23008-12; HEIC from iPhones): top-level boxes → ftyp (an image brand) and
 * meta → iinf (infe version 2/3 entries; the item of type 'Exif') and iloc (versions 0–2;
 * its first extent, construction method 0) → the item's data: a 4-byte big-endian offset
 * to the TIFF header, then the TIFF (usually after "Exif\0\0"). The TIFF goes to libexif.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libexif/exif-data.h>

#include "photo-date.h"
#include "util.h"

#define JPEG_SCAN_MAX (1u << 20)        /* APP1 comes first in practice */
#define JPEG_SEGMENTS_MAX 64
#define META_MAX (4u << 20)             /* an iPhone's meta box is a few KiB */
#define EXIF_MAX (256u << 10)
#define BOXES_MAX 64

static const uint8_t exif_header[6] = { 'E', 'x', 'i', 'f', 0, 0 };

/* Read exactly n bytes at off, or -ENODATA when the file is shorter. */
static int read_at(int fd, void *buf, size_t n, uint64_t off) {
        size_t done = 0;

        while (done < n) {
                ssize_t l = pread(fd, (uint8_t *) buf + done, n - done, (off_t) (off + done));

                if (l < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (l == 0)
                        return -ENODATA;
                done += (size_t) l;
        }
        return 0;
}

static uint32_t be16(const uint8_t *p) {
        return (uint32_t) p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p) {
        return (uint64_t) be32(p) << 32 | be32(p + 4);
}

/* "YYYY:MM:DD HH:MM:SS" (the separators as EXIF writes them, '-' tolerated in the date). */
static int parse_date(const char *s, size_t n, PhotoDate *ret) {
        PhotoDate d;
        char buf[20];

        if (n < 19)
                return -ENODATA;
        memcpy(buf, s, 19);
        buf[19] = 0;
        if (sscanf(buf, "%4d%*1[:-]%2d%*1[:-]%2d %2d:%2d:%2d", &d.year, &d.month, &d.day, &d.hour,
                   &d.minute, &d.second) != 6)
                return -ENODATA;
        if (d.year < 1900 || d.year > 2200 || d.month < 1 || d.month > 12 || d.day < 1 ||
            d.day > 31 || d.hour < 0 || d.hour > 23 || d.minute < 0 || d.minute > 59 ||
            d.second < 0 || d.second > 60)
                return -ENODATA;
        *ret = d;
        return 0;
}

/* data = "Exif\0\0" + TIFF. */
static int date_from_exif(const uint8_t *data, size_t n, PhotoDate *ret) {
        static const struct {
                ExifIfd ifd;
                ExifTag tag;
        } order[] = {
                { EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL },
                { EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_DIGITIZED },
                { EXIF_IFD_0, EXIF_TAG_DATE_TIME },
        };
        ExifData *ed;
        int r = -ENODATA;

        if (n < sizeof(exif_header) + 8 || n > EXIF_MAX)
                return -ENODATA;
        ed = exif_data_new();
        if (!ed)
                return -ENOMEM;
        /* Read what is there; change nothing (no "fixing" of the maker's data). */
        exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
        exif_data_load_data(ed, data, (unsigned) n);
        for (size_t i = 0; i < ELEMENTSOF(order) && r < 0; i++) {
                ExifEntry *e = exif_content_get_entry(ed->ifd[order[i].ifd], order[i].tag);

                if (e && e->format == EXIF_FORMAT_ASCII && e->data)
                        r = parse_date((const char *) e->data, e->size, ret);
        }
        exif_data_unref(ed);
        return r;
}

/* ---- JPEG ------------------------------------------------------------------------------- */

static int jpeg_date(int fd, PhotoDate *ret) {
        uint64_t off = 2;
        uint8_t m[4];
        int r;

        for (unsigned seg = 0; seg < JPEG_SEGMENTS_MAX && off < JPEG_SCAN_MAX; seg++) {
                uint32_t len;

                r = read_at(fd, m, 4, off);
                if (r < 0)
                        return r;
                if (m[0] != 0xff)
                        return -ENODATA;
                if (m[1] == 0xff) {             /* fill byte */
                        off++;
                        continue;
                }
                if (m[1] == 0xda || m[1] == 0xd9)       /* SOS, EOI: no more metadata */
                        return -ENODATA;
                if (m[1] == 0x01 || (m[1] >= 0xd0 && m[1] <= 0xd7)) {  /* no length */
                        off += 2;
                        continue;
                }
                len = be16(m + 2);
                if (len < 2)
                        return -ENODATA;
                if (m[1] == 0xe1 && len - 2 >= sizeof(exif_header) + 8) {
                        _cleanup_free_ uint8_t *buf = malloc(len - 2);

                        if (!buf)
                                return -ENOMEM;
                        r = read_at(fd, buf, len - 2, off + 4);
                        if (r < 0)
                                return r;
                        if (memcmp(buf, exif_header, sizeof(exif_header)) == 0)
                                return date_from_exif(buf, len - 2, ret);
                }
                off += 2 + (uint64_t) len;
        }
        return -ENODATA;
}

/* ---- HEIF -------------------------------------------------------------------------------- */

typedef struct Box {
        uint32_t type;
        uint64_t start, size;                   /* of the payload, within its parent */
} Box;

#define FOURCC(a, b, c, d) ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8 | (d))

/* The box at off of buf[0, n): its payload's place; -ENODATA if it does not fit. */
static int box_at(const uint8_t *buf, uint64_t n, uint64_t off, Box *ret) {
        uint64_t size, hdr = 8;

        if (off > n || n - off < 8)
                return -ENODATA;
        size = be32(buf + off);
        ret->type = be32(buf + off + 4);
        if (size == 1) {
                if (n - off < 16)
                        return -ENODATA;
                size = be64(buf + off + 8);
                hdr = 16;
        } else if (size == 0)
                size = n - off;
        if (size < hdr || size > n - off)
                return -ENODATA;
        ret->start = off + hdr;
        ret->size = size - hdr;
        return 0;
}

/* Read n bytes (1, 2, 4 or 8; 0 gives 0) big-endian from *p, bounded by end. */
static int take(const uint8_t **p, const uint8_t *end, unsigned n, uint64_t *ret) {
        uint64_t v = 0;

        if ((size_t) (end - *p) < n)
                return -ENODATA;
        for (unsigned i = 0; i < n; i++)
                v = v << 8 | (*p)[i];
        *p += n;
        *ret = v;
        return 0;
}

/* The item id of the first infe of type 'Exif' in iinf's payload. */
static int find_exif_item(const uint8_t *p, const uint8_t *end, uint64_t *ret) {
        uint64_t version, count, off;

        if (take(&p, end, 1, &version) < 0 || take(&p, end, 3, &off) < 0 ||
            take(&p, end, version == 0 ? 2 : 4, &count) < 0)
                return -ENODATA;
        for (uint64_t i = 0; i < count && i < 4096 && p < end; i++) {
                Box b;
                const uint8_t *q, *qend;
                uint64_t v, id, prot, type;

                if (box_at(p, (uint64_t) (end - p), 0, &b) < 0)
                        return -ENODATA;
                q = p + b.start;
                qend = q + b.size;
                p = q + b.size;
                if (b.type != FOURCC('i', 'n', 'f', 'e'))
                        continue;
                if (take(&q, qend, 1, &v) < 0 || take(&q, qend, 3, &off) < 0 || v < 2)
                        continue;
                if (take(&q, qend, v == 2 ? 2 : 4, &id) < 0 || take(&q, qend, 2, &prot) < 0 ||
                    take(&q, qend, 4, &type) < 0)
                        continue;
                if (type == FOURCC('E', 'x', 'i', 'f')) {
                        *ret = id;
                        return 0;
                }
        }
        return -ENODATA;
}

/* Where item id's data is: its first extent (construction method 0: the file). */
static int find_extent(const uint8_t *p, const uint8_t *end, uint64_t id, uint64_t *ret_off,
                       uint64_t *ret_len) {
        uint64_t version, flags, sizes, sizes2, count;
        unsigned offset_size, length_size, base_size, index_size;

        if (take(&p, end, 1, &version) < 0 || take(&p, end, 3, &flags) < 0 || version > 2 ||
            take(&p, end, 1, &sizes) < 0 || take(&p, end, 1, &sizes2) < 0 ||
            take(&p, end, version < 2 ? 2 : 4, &count) < 0)
                return -ENODATA;
        offset_size = (unsigned) (sizes >> 4);
        length_size = (unsigned) (sizes & 15);
        base_size = (unsigned) (sizes2 >> 4);
        index_size = version > 0 ? (unsigned) (sizes2 & 15) : 0;
        for (unsigned s = 0; s < 4; s++) {
                unsigned v = (unsigned[]) { offset_size, length_size, base_size, index_size }[s];
                if (v != 0 && v != 4 && v != 8)
                        return -ENODATA;
        }
        for (uint64_t i = 0; i < count && i < 65536; i++) {
                uint64_t item, method = 0, dref, base, extents;

                if (take(&p, end, version < 2 ? 2 : 4, &item) < 0)
                        return -ENODATA;
                if (version > 0) {
                        if (take(&p, end, 2, &method) < 0)
                                return -ENODATA;
                        method &= 15;
                }
                if (take(&p, end, 2, &dref) < 0 || take(&p, end, base_size, &base) < 0 ||
                    take(&p, end, 2, &extents) < 0)
                        return -ENODATA;
                for (uint64_t e = 0; e < extents; e++) {
                        uint64_t index, off, len;

                        if (take(&p, end, index_size, &index) < 0 ||
                            take(&p, end, offset_size, &off) < 0 ||
                            take(&p, end, length_size, &len) < 0)
                                return -ENODATA;
                        if (item == id && e == 0) {
                                if (method != 0 || dref != 0 || len == 0 ||
                                    __builtin_add_overflow(base, off, ret_off))
                                        return -ENODATA;
                                *ret_len = len;
                                return 0;
                        }
                }
        }
        return -ENODATA;
}

static bool image_brand(uint32_t b) {
        static const uint32_t brands[] = {
                FOURCC('h', 'e', 'i', 'c'), FOURCC('h', 'e', 'i', 'x'), FOURCC('h', 'e', 'i', 'm'),
                FOURCC('h', 'e', 'i', 's'), FOURCC('m', 'i', 'f', '1'), FOURCC('m', 's', 'f', '1'),
                FOURCC('a', 'v', 'i', 'f'),
        };

        for (size_t i = 0; i < ELEMENTSOF(brands); i++)
                if (b == brands[i])
                        return true;
        return false;
}

static int heif_date(int fd, PhotoDate *ret) {
        _cleanup_free_ uint8_t *meta = NULL, *exif = NULL;
        uint64_t off = 0, meta_size = 0, item = 0, xoff = 0, xlen = 0, tiff;
        bool brand = false;
        uint8_t h[16];
        int r;

        /* Top-level boxes, read header by header from the file (mdat may be gigabytes). */
        for (unsigned i = 0; i < BOXES_MAX && !meta; i++) {
                uint64_t size, hdr = 8;

                r = read_at(fd, h, 8, off);
                if (r < 0)
                        return r;
                size = be32(h);
                if (size == 1) {
                        r = read_at(fd, h + 8, 8, off + 8);
                        if (r < 0)
                                return r;
                        size = be64(h + 8);
                        hdr = 16;
                } else if (size == 0)
                        return -ENODATA;        /* to the end: nothing after it */
                if (size < hdr)
                        return -ENODATA;
                if (be32(h + 4) == FOURCC('f', 't', 'y', 'p')) {
                        uint8_t ft[64];
                        uint64_t n = size - hdr < sizeof(ft) ? size - hdr : sizeof(ft);

                        r = read_at(fd, ft, (size_t) n, off + hdr);
                        if (r < 0)
                                return r;
                        for (uint64_t k = 0; k + 4 <= n; k += 4)
                                if (k != 4 && image_brand(be32(ft + k)))     /* 4: minor version */
                                        brand = true;
                } else if (be32(h + 4) == FOURCC('m', 'e', 't', 'a')) {
                        if (!brand || size - hdr > META_MAX)
                                return -ENODATA;
                        meta_size = size - hdr;
                        meta = malloc(meta_size ? meta_size : 1);
                        if (!meta)
                                return -ENOMEM;
                        r = read_at(fd, meta, (size_t) meta_size, off + hdr);
                        if (r < 0)
                                return r;
                }
                if (__builtin_add_overflow(off, size, &off))
                        return -ENODATA;
        }
        if (!meta || meta_size < 4)
                return -ENODATA;

        /* meta is a full box: version and flags, then its children. */
        {
                const uint8_t *iinf = NULL, *iinf_end = NULL, *iloc = NULL, *iloc_end = NULL;

                for (uint64_t o = 4, k = 0; o < meta_size && k < BOXES_MAX; k++) {
                        Box b;

                        if (box_at(meta, meta_size, o, &b) < 0)
                                break;
                        if (b.type == FOURCC('i', 'i', 'n', 'f')) {
                                iinf = meta + b.start;
                                iinf_end = iinf + b.size;
                        } else if (b.type == FOURCC('i', 'l', 'o', 'c')) {
                                iloc = meta + b.start;
                                iloc_end = iloc + b.size;
                        }
                        o = b.start + b.size;
                }
                if (!iinf || !iloc || find_exif_item(iinf, iinf_end, &item) < 0 ||
                    find_extent(iloc, iloc_end, item, &xoff, &xlen) < 0)
                        return -ENODATA;
        }
        if (xlen < 4 + 8 || xlen > EXIF_MAX)
                return -ENODATA;
        /* Room for a "Exif\0\0" we may have to add in front of a bare TIFF. */
        exif = malloc(sizeof(exif_header) + xlen);
        if (!exif)
                return -ENOMEM;
        r = read_at(fd, exif + sizeof(exif_header), (size_t) xlen, xoff);
        if (r < 0)
                return r;
        tiff = be32(exif + sizeof(exif_header));
        if (tiff > xlen - 4 - 8)
                return -ENODATA;
        /* The TIFF header starts at 6 + 4 + tiff; put "Exif\0\0" right before it. */
        memcpy(exif + 4 + tiff, exif_header, sizeof(exif_header));
        return date_from_exif(exif + 4 + tiff, xlen - tiff + 2, ret);
}

int photo_capture_date(int fd, PhotoDate *ret) {
        uint8_t head[12];
        int r;

        r = read_at(fd, head, sizeof(head), 0);
        if (r < 0)
                return r;
        if (head[0] == 0xff && head[1] == 0xd8)
                return jpeg_date(fd, ret);
        if (be32(head + 4) == FOURCC('f', 't', 'y', 'p'))
                return heif_date(fd, ret);
        return -ENODATA;
}
