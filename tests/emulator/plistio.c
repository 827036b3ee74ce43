/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "property list service" framing shared by lockdownd, DeviceLink and most services:
 * a 32-bit big-endian length, then an XML or binary plist. Every frame is bounded, and a
 * payload that is not a plist is reported, never trusted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"

int plistio_recv(Conn *c, uint32_t max, plist_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        plist_t p = NULL;
        uint32_t len;
        int r;

        r = conn_read_full(c, &len, sizeof(len));
        if (r < 0)
                return r;
        len = ntohl(len);
        if (len > max)
                return -EMSGSIZE;
        if (len == 0)
                return -EBADMSG;

        buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        r = conn_read_full(c, buf, len);
        if (r < 0)
                return r;
        buf[len] = 0;

        if (len >= 8 && memcmp(buf, "bplist00", 8) == 0)
                plist_from_bin(buf, len, &p);
        else if (memchr(buf, '<', len))
                plist_from_xml(buf, len, &p);
        if (!p)
                return -EBADMSG;
        *ret = p;
        return 0;
}

int plist_serialize(plist_t p, bool binary, char **ret, uint32_t *ret_len) {
        char *data = NULL;
        uint32_t len = 0;

        if (binary)
                plist_to_bin(p, &data, &len);
        else
                plist_to_xml(p, &data, &len);
        if (!data)
                return -ENOMEM;
        *ret = data;
        *ret_len = len;
        return 0;
}

int plistio_send(Conn *c, plist_t p, bool binary) {
        _cleanup_(freep) char *data = NULL;
        _cleanup_(freep) uint8_t *frame = NULL;
        uint32_t len = 0, be;
        int r;

        r = plist_serialize(p, binary, &data, &len);
        if (r < 0)
                return r;

        /* One write per frame: the header and payload must not become two TLS records. */
        frame = malloc((size_t) len + 4);
        if (!frame)
                return -ENOMEM;
        be = htonl(len);
        memcpy(frame, &be, 4);
        memcpy(frame + 4, data, len);
        return conn_write_full(c, frame, (size_t) len + 4);
}

const char *plist_str(plist_t node) {
        const char *s;
        uint64_t len = 0;

        if (!node || plist_get_node_type(node) != PLIST_STRING)
                return NULL;
        s = plist_get_string_ptr(node, &len);
        if (!s || strlen(s) != len)
                return NULL;
        return s;
}

const char *plist_dict_str(plist_t dict, const char *key) {
        if (!dict || plist_get_node_type(dict) != PLIST_DICT)
                return NULL;
        return plist_str(plist_dict_get_item(dict, key));
}
