/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of the emulator's IPA reader (ipa.c): ZIP archives built here byte by byte
 * (APPNOTE.TXT's local headers, central directory and end record; stored or deflated
 * members) give the Info.plist's bundle id, name and versions, in XML and in binary form;
 * the "signed for this device" rule follows embedded.mobileprovision; and damaged or
 * hostile archives (no end record, offsets past the end, an encrypted member, an unknown
 * compression, a member whose inflated size lies, no Info.plist, an Info.plist deeper
 * than Payload/<X>.app/) are errors, never crashes.
 *
 * Files live in a mkdtemp() directory that is removed at the end. Prints "FAIL: <expr> at
 * file:line" for each failed check; exits 0 only if none failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plist/plist.h>
#include <zlib.h>

#include "emu.h"
#include "test-emu-util.h"

#define UDID "00008030-0000000000000777"
#define MAX_MEMBERS 4

typedef struct Member {
        const char *name;
        const uint8_t *data;
        size_t size;
        uint16_t method;                        /* 0 stored, 8 deflate, else written as is */
        uint16_t flags;
        int32_t size_lie;                       /* added to the uncompressed size written */
} Member;

typedef struct Buf {
        uint8_t d[1 << 16];
        size_t n;
} Buf;

static void put16(Buf *b, uint16_t v) {
        b->d[b->n++] = (uint8_t) v;
        b->d[b->n++] = (uint8_t) (v >> 8);
}

static void put32(Buf *b, uint32_t v) {
        put16(b, (uint16_t) v);
        put16(b, (uint16_t) (v >> 16));
}

static void put(Buf *b, const void *p, size_t n) {
        memcpy(b->d + b->n, p, n);
        b->n += n;
}

/* Deflate (raw, as ZIP stores it) src into dst; the compressed size. */
static size_t deflate_raw(const uint8_t *src, size_t n, uint8_t *dst, size_t cap) {
        z_stream s = { .next_in = (Bytef *) src, .avail_in = (uInt) n, .next_out = dst,
                       .avail_out = (uInt) cap };

        if (deflateInit2(&s, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                return 0;
        (void) deflate(&s, Z_FINISH);
        deflateEnd(&s);
        return s.total_out;
}

/* An archive of m[0..n) into b; cd_shift moves the central directory offset the end record
 * names (0: right). */
static void zip_build(Buf *b, const Member *m, size_t n, int32_t cd_shift) {
        uint32_t offsets[MAX_MEMBERS], csizes[MAX_MEMBERS];
        uint8_t packed[8192];
        size_t cd_start;

        b->n = 0;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *data = m[i].data;
                size_t csize = m[i].size;

                if (m[i].method == 8) {
                        csize = deflate_raw(m[i].data, m[i].size, packed, sizeof(packed));
                        data = packed;
                }
                offsets[i] = (uint32_t) b->n;
                csizes[i] = (uint32_t) csize;
                put32(b, 0x04034b50);
                put16(b, 20);
                put16(b, m[i].flags);
                put16(b, m[i].method);
                put32(b, 0);                    /* time, date */
                put32(b, (uint32_t) crc32(0, m[i].data, (uInt) m[i].size));
                put32(b, (uint32_t) csize);
                put32(b, (uint32_t) ((int64_t) m[i].size + m[i].size_lie));
                put16(b, (uint16_t) strlen(m[i].name));
                put16(b, 0);
                put(b, m[i].name, strlen(m[i].name));
                put(b, data, csize);
        }
        cd_start = b->n;
        for (size_t i = 0; i < n; i++) {
                put32(b, 0x02014b50);
                put16(b, 20);
                put16(b, 20);
                put16(b, m[i].flags);
                put16(b, m[i].method);
                put32(b, 0);
                put32(b, (uint32_t) crc32(0, m[i].data, (uInt) m[i].size));
                put32(b, csizes[i]);
                put32(b, (uint32_t) ((int64_t) m[i].size + m[i].size_lie));
                put16(b, (uint16_t) strlen(m[i].name));
                put16(b, 0);                    /* extra */
                put16(b, 0);                    /* comment */
                put16(b, 0);                    /* disk */
                put16(b, 0);                    /* internal attributes */
                put32(b, 0);                    /* external attributes */
                put32(b, offsets[i]);
                put(b, m[i].name, strlen(m[i].name));
        }
        put32(b, 0x06054b50);
        put16(b, 0);
        put16(b, 0);
        put16(b, (uint16_t) n);
        put16(b, (uint16_t) n);
        put32(b, 0);                            /* the directory's size, patched below */
        put32(b, (uint32_t) ((int64_t) cd_start + cd_shift));
        put16(b, 0);
        /* The central directory's size: from its start to the end record. */
        {
                uint32_t cd_size = (uint32_t) (b->n - 22 - cd_start);
                uint8_t *p = b->d + b->n - 22 + 12;

                p[0] = (uint8_t) cd_size;
                p[1] = (uint8_t) (cd_size >> 8);
                p[2] = (uint8_t) (cd_size >> 16);
                p[3] = (uint8_t) (cd_size >> 24);
        }
}

/* Info.plist text (XML or binary) with these keys; the caller frees *ret. */
static size_t info_plist(bool binary, const char *id, char **ret) {
        plist_t d = plist_new_dict();
        uint32_t n = 0;

        if (id)
                plist_dict_set_item(d, "CFBundleIdentifier", plist_new_string(id));
        plist_dict_set_item(d, "CFBundleName", plist_new_string("Tester"));
        plist_dict_set_item(d, "CFBundleDisplayName", plist_new_string("Test App"));
        plist_dict_set_item(d, "CFBundleShortVersionString", plist_new_string("2.1"));
        plist_dict_set_item(d, "CFBundleVersion", plist_new_string("210"));
        plist_dict_set_item(d, "UIFileSharingEnabled", plist_new_bool(1));
        if (binary)
                plist_to_bin(d, ret, &n);
        else
                plist_to_xml(d, ret, &n);
        plist_free(d);
        return n;
}

static int inspect(const char *dir, const Buf *b, IpaInfo **ret) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/t.ipa", dir);
        f = fopen(path, "we");
        if (!f)
                return -errno;
        fwrite(b->d, 1, b->n, f);
        fclose(f);
        return ipa_inspect(path, UDID, ret);
}

static const char prov_ok[] = "\x30\x80<plist><key>ProvisionedDevices</key><array><string>"
                              UDID "</string></array><key>get-task-allow</key><true/></plist>";
static const char prov_other[] = "\x30\x80<plist><array><string>00008030-000000000000FFFF"
                                 "</string></array></plist>";

static Buf b;

int main(void) {
        char dir[] = "/tmp/test-emu-ipa.XXXXXX";
        char *xml = NULL, *bin = NULL, *noid = NULL, path[600];
        size_t xml_n, bin_n, noid_n;
        IpaInfo *i = NULL;
        int r;

        if (!mkdtemp(dir))
                return 1;
        xml_n = info_plist(false, "org.example.Test", &xml);
        bin_n = info_plist(true, "org.example.Test", &bin);
        noid_n = info_plist(false, NULL, &noid);

        /* Deflated XML Info.plist, a profile naming this device: signed, development. */
        {
                Member m[] = {
                        { "Payload/", (const uint8_t *) "", 0, 0, 0, 0 },
                        { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n, 8, 0, 0 },
                        { "Payload/Test.app/embedded.mobileprovision",
                          (const uint8_t *) prov_ok, sizeof(prov_ok) - 1, 8, 0, 0 },
                };
                zip_build(&b, m, ELEMENTSOF(m), 0);
                r = inspect(dir, &b, &i);
                ASSERT_EQ_INT(r, 0);
                if (r == 0) {
                        ASSERT(strcmp(i->bundle_id, "org.example.Test") == 0);
                        ASSERT(strcmp(i->display_name, "Test App") == 0);
                        ASSERT(strcmp(i->short_version, "2.1") == 0);
                        ASSERT(strcmp(i->version, "210") == 0);
                        ASSERT(i->file_sharing);
                        ASSERT(i->signed_for_device);
                        ASSERT(i->development);
                }
                i = ipa_info_free(i);
        }
        /* Stored binary Info.plist, a profile for another device: not signed for this one. */
        {
                Member m[] = {
                        { "Payload/Test.app/embedded.mobileprovision",
                          (const uint8_t *) prov_other, sizeof(prov_other) - 1, 0, 0, 0 },
                        { "Payload/Test.app/Info.plist", (const uint8_t *) bin, bin_n, 0, 0, 0 },
                };
                zip_build(&b, m, ELEMENTSOF(m), 0);
                r = inspect(dir, &b, &i);
                ASSERT_EQ_INT(r, 0);
                if (r == 0) {
                        ASSERT(strcmp(i->bundle_id, "org.example.Test") == 0);
                        ASSERT(!i->signed_for_device);
                        ASSERT(!i->development);
                }
                i = ipa_info_free(i);
        }
        /* No profile at all: not signed. A nested Info.plist (a plug-in's) is not the app's. */
        {
                Member m[] = {
                        { "Payload/Test.app/PlugIns/X.appex/Info.plist", (const uint8_t *) noid,
                          noid_n, 8, 0, 0 },
                        { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n, 8, 0, 0 },
                };
                zip_build(&b, m, ELEMENTSOF(m), 0);
                r = inspect(dir, &b, &i);
                ASSERT_EQ_INT(r, 0);
                if (r == 0) {
                        ASSERT(!i->signed_for_device);
                        ASSERT(strcmp(i->bundle_id, "org.example.Test") == 0);
                }
                i = ipa_info_free(i);
        }

        /* What is not an app. */
        {
                Member none[] = { { "Payload/Test.app/Test", (const uint8_t *) "x", 1, 0, 0, 0 } };
                Member deep[] = { { "Payload/A/Test.app/Info.plist", (const uint8_t *) xml, xml_n,
                                    0, 0, 0 } };
                Member noidm[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) noid,
                                     noid_n, 0, 0, 0 } };
                Member garbage[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) "nope",
                                       4, 0, 0, 0 } };

                zip_build(&b, none, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -ENOENT);
                zip_build(&b, deep, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -ENOENT);
                zip_build(&b, noidm, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                zip_build(&b, garbage, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
        }
        /* Damaged and hostile archives. */
        {
                Member enc[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n,
                                   0, 1, 0 } };
                Member lzma[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n,
                                    14, 0, 0 } };
                Member lie[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n,
                                   8, 0, 100 } };
                Member ok[] = { { "Payload/Test.app/Info.plist", (const uint8_t *) xml, xml_n,
                                  0, 0, 0 } };

                zip_build(&b, enc, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EOPNOTSUPP);
                zip_build(&b, lzma, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EOPNOTSUPP);
                zip_build(&b, lie, 1, 0);
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                zip_build(&b, ok, 1, 1 << 20);          /* the directory past the end */
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                zip_build(&b, ok, 1, -3);               /* not where a directory entry is */
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                zip_build(&b, ok, 1, 0);
                b.n -= 22;                              /* no end record */
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                b.n = 10;                               /* shorter than an end record */
                ASSERT_EQ_INT(inspect(dir, &b, &i), -EBADMSG);
                /* Every truncation of a good archive fails cleanly or still reads. */
                zip_build(&b, ok, 1, 0);
                for (size_t full = b.n; b.n > 0; b.n--) {
                        r = inspect(dir, &b, &i);
                        ASSERT(r == 0 ? b.n == full : r < 0);
                        i = ipa_info_free(i);
                }
        }
        snprintf(path, sizeof(path), "%s/missing.ipa", dir);
        ASSERT_EQ_INT(ipa_inspect(path, UDID, &i), -ENOENT);

        free(xml);
        free(bin);
        free(noid);
        snprintf(path, sizeof(path), "%s/t.ipa", dir);
        (void) unlink(path);
        (void) rmdir(dir);
        printf("%s\n", failures ? "FAIL" : "ok");
        return failures ? 1 : 0;
}
