/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What installd reads from an IPA before it installs one (installation_proxy Install,
 * services.c): an IPA is a ZIP whose Payload/<X>.app/ holds the app; its Info.plist (XML or
 * binary) names the app, and for a development or ad-hoc signed app
 * Payload/<X>.app/embedded.mobileprovision is a CMS-signed plist whose ProvisionedDevices
 * lists the UDIDs it may run on. The emulator's "signed for this device" rule is the
 * readable half of that: the profile's text contains this device's UDID. The code
 * signature itself is not checked (there is none to check in a test IPA).
 *
 * A small reader of the ZIP central directory (APPNOTE.TXT §4.3.12–4.3.16; no ZIP64, no
 * encryption, stored or deflated members) is enough for that, so the emulator needs no
 * libzip. The archive is untrusted: every offset and length is checked against the file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plist/plist.h>
#include <zlib.h>

#include "emu.h"

#define IPA_MAX_SIZE (1ull << 32)               /* no ZIP64: offsets are 32-bit */
#define MEMBER_MAX (4u << 20)                   /* Info.plist, the provisioning profile */
#define EOCD_SIG 0x06054b50u
#define CDIR_SIG 0x02014b50u
#define LOCAL_SIG 0x04034b50u

static void fd_closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

/* Whether name is Payload/<X>.app/<leaf> with X one plain component. */
static bool app_member(const char *name, size_t n, const char *leaf) {
        const char *slash, *app;
        size_t ll = strlen(leaf);

        if (n < 8 || memcmp(name, "Payload/", 8) != 0)
                return false;
        slash = memchr(name + 8, '/', n - 8);
        if (!slash || slash == name + 8 || (size_t) (slash - name) < 12)
                return false;
        app = slash - 4;
        if (memcmp(app, ".app", 4) != 0)
                return false;
        return (size_t) (name + n - (slash + 1)) == ll && memcmp(slash + 1, leaf, ll) == 0;
}

/* The content of the member whose central directory entry is at cd. */
static int member_read(const uint8_t *z, size_t size, const uint8_t *cd, uint8_t **ret,
                       size_t *ret_n) {
        uint16_t method = le16(cd + 10), flags = le16(cd + 8);
        uint32_t csize = le32(cd + 20), usize = le32(cd + 24), off = le32(cd + 42);
        const uint8_t *lh, *data;
        _cleanup_(freep) uint8_t *out = NULL;
        size_t start;

        if (flags & 1)
                return -EOPNOTSUPP;             /* encrypted */
        if (usize > MEMBER_MAX || (size_t) off + 30 > size)
                return -EBADMSG;
        lh = z + off;
        if (le32(lh) != LOCAL_SIG)
                return -EBADMSG;
        start = (size_t) off + 30 + le16(lh + 26) + le16(lh + 28);
        if (start > size || csize > size - start)
                return -EBADMSG;
        data = z + start;
        out = malloc(usize + 1);
        if (!out)
                return -ENOMEM;
        if (method == 0) {
                if (csize != usize)
                        return -EBADMSG;
                memcpy(out, data, usize);
        } else if (method == 8) {
                z_stream s = { .next_in = (Bytef *) data, .avail_in = csize,
                               .next_out = out, .avail_out = usize };
                int rc;

                if (inflateInit2(&s, -MAX_WBITS) != Z_OK)
                        return -ENOMEM;
                rc = inflate(&s, Z_FINISH);
                inflateEnd(&s);
                if (rc != Z_STREAM_END || s.total_out != usize)
                        return -EBADMSG;
        } else
                return -EOPNOTSUPP;
        out[usize] = 0;                         /* the profile is searched as text */
        *ret_n = usize;
        *ret = TAKE_PTR(out);
        return 0;
}

/* A string of the Info.plist that can go into Info.ini (one line, no control character),
 * copied, or NULL. */
static char *info_string(plist_t info, const char *key) {
        const char *s = plist_dict_str(info, key);

        if (!s || !s[0] || strlen(s) > 255)
                return NULL;
        for (const char *c = s; *c; c++)
                if ((uint8_t) *c < 0x20 || *c == 0x7f)
                        return NULL;
        return strdup(s);
}

IpaInfo *ipa_info_free(IpaInfo *i) {
        if (!i)
                return NULL;
        free(i->bundle_id);
        free(i->display_name);
        free(i->short_version);
        free(i->version);
        free(i);
        return NULL;
}

int ipa_inspect(const char *path, const char *udid, IpaInfo **ret) {
        _cleanup_(fd_closep) int fd = -EBADF;
        _cleanup_(freep) uint8_t *info_buf = NULL, *prov = NULL;
        _cleanup_(plist_freep) plist_t info = NULL;
        _cleanup_(ipa_info_freep) IpaInfo *i = NULL;
        size_t info_n = 0, prov_n = 0, size, cd_off, cd_size, entries, p;
        const uint8_t *z, *eocd = NULL;
        struct stat st;
        plist_t fs;
        int r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size < 22 || (uint64_t) st.st_size >= IPA_MAX_SIZE)
                return -EBADMSG;
        size = (size_t) st.st_size;
        z = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (z == MAP_FAILED)
                return -errno;
        /* The end record is in the last 22 + 65535 (comment) bytes. */
        for (size_t k = size - 22 + 1; k-- > 0 && size - k <= 22 + 65535;)
                if (le32(z + k) == EOCD_SIG) {
                        eocd = z + k;
                        break;
                }
        if (!eocd) {
                r = -EBADMSG;
                goto out;
        }
        entries = le16(eocd + 10);
        cd_size = le32(eocd + 12);
        cd_off = le32(eocd + 16);
        if (cd_off > size || cd_size > size - cd_off) {
                r = -EBADMSG;
                goto out;
        }
        p = cd_off;
        for (size_t e = 0; e < entries && r == 0; e++) {
                const uint8_t *cd = z + p;
                size_t n, len;
                const char *name;

                if (p + 46 > cd_off + cd_size || le32(cd) != CDIR_SIG) {
                        r = -EBADMSG;
                        break;
                }
                n = le16(cd + 28);
                len = 46 + n + le16(cd + 30) + le16(cd + 32);
                if (len > cd_off + cd_size - p) {
                        r = -EBADMSG;
                        break;
                }
                name = (const char *) cd + 46;
                if (!info_buf && app_member(name, n, "Info.plist"))
                        r = member_read(z, size, cd, &info_buf, &info_n);
                else if (!prov && app_member(name, n, "embedded.mobileprovision"))
                        r = member_read(z, size, cd, &prov, &prov_n);
                p += len;
        }
out:
        munmap((void *) z, size);
        if (r < 0)
                return r;
        if (!info_buf)
                return -ENOENT;
        plist_from_memory((const char *) info_buf, (uint32_t) info_n, &info);
        if (!info || plist_get_node_type(info) != PLIST_DICT)
                return -EBADMSG;
        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        i->bundle_id = info_string(info, "CFBundleIdentifier");
        i->display_name = info_string(info, "CFBundleDisplayName") ?:
                          info_string(info, "CFBundleName");
        i->short_version = info_string(info, "CFBundleShortVersionString");
        i->version = info_string(info, "CFBundleVersion");
        fs = plist_dict_get_item(info, "UIFileSharingEnabled");
        if (fs && plist_get_node_type(fs) == PLIST_BOOLEAN) {
                uint8_t b = 0;

                plist_get_bool_val(fs, &b);
                i->file_sharing = b;
        }
        if (!i->bundle_id)
                return -EBADMSG;
        /* The profile is binary CMS around an XML plist: the UDID is plain text in it. */
        i->signed_for_device = prov && udid && udid[0] &&
                               memmem(prov, prov_n, udid, strlen(udid)) != NULL;
        /* Development profiles carry the get-task-allow entitlement (debuggable). */
        i->development = prov && memmem(prov, prov_n, "get-task-allow", 14) != NULL;
        *ret = TAKE_PTR(i);
        return 0;
}
