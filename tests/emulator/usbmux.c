/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The usbmuxd side of the emulator: protocol version 1 (16-byte little-endian header, XML
 * plists) as libusbmuxd 2.0.2 and appium speak it, plus the legacy binary Connect/Listen.
 *
 * One thread serves one client socket: any number of requests, until Listen turns it into
 * an event stream or Connect turns it into a raw pipe to a device port (lockdownd on 62078,
 * or a port StartService handed out). usbmuxd's own state lives here too: the BUID and the
 * host-side pair records (SavePairRecord/ReadPairRecord), kept in memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "device.h"
#include "emu.h"

#define MUX_MSG_RESULT 1
#define MUX_MSG_CONNECT 2
#define MUX_MSG_LISTEN 3
#define MUX_MSG_ADD 4
#define MUX_MSG_REMOVE 5
#define MUX_MSG_PLIST 8

#define MUX_RESULT_OK 0
#define MUX_RESULT_BADCOMMAND 1
#define MUX_RESULT_BADDEV 2
#define MUX_RESULT_CONNREFUSED 3
#define MUX_RESULT_BADVERSION 6

/* usbmuxd reads requests into a 64 KiB buffer; a pair record is ~5 KiB. */
#define MUX_MAX_PACKET (64u * 1024u)
#define LOCKDOWN_PORT 62078

typedef struct MuxHeader {
        uint32_t length, version, message, tag;
} MuxHeader;

typedef struct Listener {
        int fd;
        uint32_t version;
        struct Listener *next;
} Listener;

typedef struct HostPairRecord {
        char *udid;
        char *data;
        uint64_t len;
        struct HostPairRecord *next;
} HostPairRecord;

static Listener *listeners;             /* guarded by the global lock */
static HostPairRecord *host_records;    /* guarded by the global lock */
static char buid[37];

static void buid_init(void) {
        uint8_t b[16];

        if (buid[0])
                return;
        if (RAND_bytes(b, sizeof(b)) != 1)
                memset(b, 0x42, sizeof(b));
        snprintf(buid, sizeof(buid),
                 "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", b[0],
                 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
                 b[14], b[15]);
}

static int send_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int recv_all(int fd, void *buf, size_t n) {
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = recv(fd, p, n, 0);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int send_packet(int fd, uint32_t version, uint32_t message, uint32_t tag,
                       const void *payload, size_t n) {
        _cleanup_(freep) uint8_t *buf = malloc(sizeof(MuxHeader) + n);
        MuxHeader h = {
                .length = (uint32_t) (sizeof(MuxHeader) + n),
                .version = version,
                .message = message,
                .tag = tag,
        };

        if (!buf)
                return -ENOMEM;
        /* The wire format is little-endian; so is every machine this runs on (x86, arm64). */
        memcpy(buf, &h, sizeof(h));
        if (n)
                memcpy(buf + sizeof(h), payload, n);
        return send_all(fd, buf, sizeof(h) + n);
}

static int send_plist(int fd, uint32_t tag, plist_t p) {
        _cleanup_(freep) char *xml = NULL;
        uint32_t len = 0;

        /* libusbmuxd 2.0.2 parses replies with the XML parser only. */
        plist_to_xml(p, &xml, &len);
        if (!xml)
                return -ENOMEM;
        return send_packet(fd, 1, MUX_MSG_PLIST, tag, xml, len);
}

static int send_result(int fd, uint32_t version, uint32_t tag, uint32_t number) {
        _cleanup_(plist_freep) plist_t p = NULL;

        if (version == 0)
                return send_packet(fd, 0, MUX_MSG_RESULT, tag, &number, sizeof(number));
        p = plist_new_dict();
        plist_dict_set_item(p, "MessageType", plist_new_string("Result"));
        plist_dict_set_item(p, "Number", plist_new_uint(number));
        return send_plist(fd, tag, p);
}

static plist_t device_entry(Device *d, bool with_type) {
        plist_t e = plist_new_dict(), props = plist_new_dict();

        plist_dict_set_item(props, "ConnectionSpeed", plist_new_uint(480000000));
        plist_dict_set_item(props, "ConnectionType", plist_new_string("USB"));
        plist_dict_set_item(props, "DeviceID", plist_new_uint(d->mux_id));
        plist_dict_set_item(props, "LocationID", plist_new_uint(0x14100000u + d->mux_id));
        plist_dict_set_item(props, "ProductID", plist_new_uint(0x12a8));
        plist_dict_set_item(props, "SerialNumber", plist_new_string(d->udid));
        if (with_type)
                plist_dict_set_item(e, "MessageType", plist_new_string("Attached"));
        plist_dict_set_item(e, "DeviceID", plist_new_uint(d->mux_id));
        plist_dict_set_item(e, "Properties", props);
        return e;
}

/* Legacy DEVICE_ADD payload: u32 id, u16 product, char serial[256], u16 pad, u32 location. */
static int send_binary_attached(int fd, Device *d) {
        uint8_t b[268] = {};
        uint32_t id = d->mux_id, loc = 0x14100000u + d->mux_id;
        uint16_t pid = 0x12a8;

        memcpy(b, &id, 4);
        memcpy(b + 4, &pid, 2);
        strncpy((char *) b + 6, d->udid, 255);
        memcpy(b + 264, &loc, 4);
        return send_packet(fd, 0, MUX_MSG_ADD, 0, b, sizeof(b));
}

static int listener_send_attached(Listener *l, Device *d) {
        _cleanup_(plist_freep) plist_t e = NULL;

        if (l->version == 0)
                return send_binary_attached(l->fd, d);
        e = device_entry(d, true);
        return send_plist(l->fd, 0, e);
}

void usbmux_broadcast_attached(Device *d) {
        for (Listener *l = listeners; l; l = l->next)
                (void) listener_send_attached(l, d);
}

void usbmux_broadcast_detached(uint32_t mux_id) {
        for (Listener *l = listeners; l; l = l->next) {
                if (l->version == 0) {
                        (void) send_packet(l->fd, 0, MUX_MSG_REMOVE, 0, &mux_id, 4);
                        continue;
                }
                _cleanup_(plist_freep) plist_t p = plist_new_dict();
                plist_dict_set_item(p, "MessageType", plist_new_string("Detached"));
                plist_dict_set_item(p, "DeviceID", plist_new_uint(mux_id));
                (void) send_plist(l->fd, 0, p);
        }
}

static void broadcast_paired(uint32_t mux_id) {
        for (Listener *l = listeners; l; l = l->next) {
                if (l->version == 0)
                        continue;
                _cleanup_(plist_freep) plist_t p = plist_new_dict();
                plist_dict_set_item(p, "MessageType", plist_new_string("Paired"));
                plist_dict_set_item(p, "DeviceID", plist_new_uint(mux_id));
                (void) send_plist(l->fd, 0, p);
        }
}

/* Listen: Result 0, one Attached per device, then events until the client goes away. */
static void serve_listen(int fd, uint32_t version, uint32_t tag) {
        Listener self = { .fd = fd, .version = version };
        struct timeval tv = { .tv_sec = 5 };
        char b;

        /* A listener that stops reading must not block every attach/detach forever. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        emu_lock();
        if (send_result(fd, version, tag, MUX_RESULT_OK) < 0) {
                emu_unlock();
                return;
        }
        for (Device *d = emu_devices; d; d = d->next)
                if (d->attached)
                        (void) listener_send_attached(&self, d);
        self.next = listeners;
        listeners = &self;
        emu_unlock();

        while (recv(fd, &b, 1, 0) > 0 || errno == EINTR)
                ;               /* clients send nothing more; EOF or an error ends it */

        emu_lock();
        for (Listener **p = &listeners; *p; p = &(*p)->next)
                if (*p == &self) {
                        *p = self.next;
                        break;
                }
        emu_unlock();
}

/* After Result 0 the socket is a byte pipe to the device port. */
static void serve_connected(int fd, Device *d, uint16_t port, Service *svc) {
        Conn c = { .fd = fd };

        if (conn_register(&c, d) < 0) {
                service_free(svc);
                return;
        }
        if (port == LOCKDOWN_PORT)
                lockdown_serve(&c);
        else {
                ServiceCtx ctx = { .device = d, .name = svc->def->name, .host_id = svc->host_id };

                log_debug("%s: %s on port %u", d->udid, svc->def->name, port);
                if (!svc->def->ssl || conn_start_tls(&c, svc->host_id) == 0)
                        svc->def->serve(&c, &ctx);
        }
        conn_unregister(&c);
        service_free(svc);
}

/* Returns 1 when the socket was handed over (Connect/Listen) and the thread is done. */
static int handle_connect(int fd, uint32_t version, uint32_t tag, uint32_t dev_id, uint16_t port) {
        Service *svc = NULL;
        Device *d;

        emu_lock();
        d = device_find_mux_id(dev_id);
        if (!d) {
                emu_unlock();
                (void) send_result(fd, version, tag, MUX_RESULT_BADDEV);
                return 0;
        }
        if (port != LOCKDOWN_PORT) {
                svc = device_take_service(d, port);
                if (!svc) {
                        emu_unlock();
                        (void) send_result(fd, version, tag, MUX_RESULT_CONNREFUSED);
                        return 0;
                }
        }
        emu_unlock();

        if (send_result(fd, version, tag, MUX_RESULT_OK) < 0) {
                service_free(svc);
                return 1;
        }
        serve_connected(fd, d, port, svc);
        return 1;
}

static plist_t list_devices(void) {
        plist_t r = plist_new_dict(), list = plist_new_array();

        emu_lock();
        for (Device *d = emu_devices; d; d = d->next)
                if (d->attached)
                        plist_array_append_item(list, device_entry(d, true));
        emu_unlock();
        plist_dict_set_item(r, "DeviceList", list);
        return r;
}

static HostPairRecord **find_host_record(const char *udid) {
        HostPairRecord **p;

        for (p = &host_records; *p; p = &(*p)->next)
                if (strcmp((*p)->udid, udid) == 0)
                        break;
        return p;
}

static int handle_plist(int fd, uint32_t tag, plist_t req) {
        const char *type = plist_dict_str(req, "MessageType");
        const char *rec_id = plist_dict_str(req, "PairRecordID");
        _cleanup_(plist_freep) plist_t reply = NULL;

        if (!type)
                return send_result(fd, 1, tag, MUX_RESULT_BADCOMMAND);
        log_debug("usbmux: %s", type);

        if (strcmp(type, "ListDevices") == 0) {
                reply = list_devices();
                return send_plist(fd, tag, reply);
        }
        if (strcmp(type, "Listen") == 0) {
                serve_listen(fd, 1, tag);
                return 1;
        }
        if (strcmp(type, "Connect") == 0) {
                plist_t id = plist_dict_get_item(req, "DeviceID");
                plist_t port = plist_dict_get_item(req, "PortNumber");
                uint64_t vid = 0, vport = 0;

                if (!id || plist_get_node_type(id) != PLIST_UINT || !port ||
                    plist_get_node_type(port) != PLIST_UINT)
                        return send_result(fd, 1, tag, MUX_RESULT_BADCOMMAND);
                plist_get_uint_val(id, &vid);
                plist_get_uint_val(port, &vport);
                /* PortNumber is the network-order u16 read as a host-order integer. */
                vport &= 0xffff;
                vport = ((vport & 0xff) << 8) | (vport >> 8);
                return handle_connect(fd, 1, tag, (uint32_t) vid, (uint16_t) vport);
        }
        if (strcmp(type, "ReadBUID") == 0) {
                reply = plist_new_dict();
                plist_dict_set_item(reply, "BUID", plist_new_string(buid));
                return send_plist(fd, tag, reply);
        }
        if (strcmp(type, "ReadPairRecord") == 0) {
                HostPairRecord *h;

                if (!rec_id)
                        return send_result(fd, 1, tag, EINVAL);
                emu_lock();
                h = *find_host_record(rec_id);
                if (h) {
                        reply = plist_new_dict();
                        plist_dict_set_item(reply, "PairRecordData", plist_new_data(h->data, h->len));
                }
                emu_unlock();
                if (!reply)
                        return send_result(fd, 1, tag, ENOENT);
                return send_plist(fd, tag, reply);
        }
        if (strcmp(type, "SavePairRecord") == 0) {
                plist_t data = plist_dict_get_item(req, "PairRecordData");
                plist_t devid = plist_dict_get_item(req, "DeviceID");
                HostPairRecord **p, *h;
                char *buf = NULL;
                uint64_t len = 0;

                if (!rec_id || !data || plist_get_node_type(data) != PLIST_DATA)
                        return send_result(fd, 1, tag, EINVAL);
                plist_get_data_val(data, &buf, &len);
                if (!buf)
                        return send_result(fd, 1, tag, EINVAL);
                emu_lock();
                p = find_host_record(rec_id);
                if (!*p) {
                        *p = calloc(1, sizeof(HostPairRecord));
                        if (*p)
                                (*p)->udid = strdup(rec_id);
                }
                h = *p;
                if (!h || !h->udid) {
                        emu_unlock();
                        free(buf);
                        return send_result(fd, 1, tag, ENOMEM);
                }
                free(h->data);
                h->data = buf;
                h->len = len;
                if (devid && plist_get_node_type(devid) == PLIST_UINT) {
                        uint64_t v = 0;
                        Device *d;

                        plist_get_uint_val(devid, &v);
                        d = device_find_mux_id((uint32_t) v);
                        if (d && strcmp(d->udid, rec_id) == 0)
                                broadcast_paired(d->mux_id);
                }
                emu_unlock();
                return send_result(fd, 1, tag, MUX_RESULT_OK);
        }
        if (strcmp(type, "DeletePairRecord") == 0) {
                HostPairRecord **p, *h;

                if (!rec_id)
                        return send_result(fd, 1, tag, EINVAL);
                emu_lock();
                p = find_host_record(rec_id);
                h = *p;
                if (h) {
                        *p = h->next;
                        free(h->udid);
                        free(h->data);
                        free(h);
                }
                emu_unlock();
                return send_result(fd, 1, tag, h ? MUX_RESULT_OK : ENOENT);
        }
        if (strcmp(type, "ListListeners") == 0) {
                plist_t list = plist_new_array();

                emu_lock();
                for (Listener *l = listeners; l; l = l->next) {
                        plist_t e = plist_new_dict();
                        plist_dict_set_item(e, "Blacklisted", plist_new_bool(0));
                        plist_dict_set_item(e, "ConnType", plist_new_uint(0));
                        plist_dict_set_item(e, "ID String", plist_new_string("fakeidevice"));
                        plist_array_append_item(list, e);
                }
                emu_unlock();
                reply = plist_new_dict();
                plist_dict_set_item(reply, "ListenerList", list);
                return send_plist(fd, tag, reply);
        }
        return send_result(fd, 1, tag, MUX_RESULT_BADCOMMAND);
}

void usbmux_serve(int fd) {
        buid_init();

        for (;;) {
                _cleanup_(freep) uint8_t *payload = NULL;
                MuxHeader h;
                size_t n;
                int r;

                if (recv_all(fd, &h, sizeof(h)) < 0)
                        return;
                if (h.length < sizeof(h) || h.length > MUX_MAX_PACKET) {
                        log_warn("usbmux: bad packet length %u, dropping client", h.length);
                        return;
                }
                n = h.length - sizeof(h);
                payload = malloc(n + 1);
                if (!payload || recv_all(fd, payload, n) < 0)
                        return;
                payload[n] = 0;

                if (h.version == 1 && h.message == MUX_MSG_PLIST) {
                        _cleanup_(plist_freep) plist_t req = NULL;

                        if (n >= 8 && memcmp(payload, "bplist00", 8) == 0)
                                plist_from_bin((char *) payload, (uint32_t) n, &req);
                        else
                                plist_from_xml((char *) payload, (uint32_t) n, &req);
                        if (!req || plist_get_node_type(req) != PLIST_DICT)
                                r = send_result(fd, 1, h.tag, MUX_RESULT_BADCOMMAND);
                        else
                                r = handle_plist(fd, h.tag, req);
                } else if (h.version == 0 && h.message == MUX_MSG_CONNECT && n >= 8) {
                        uint32_t id;
                        uint16_t port;

                        memcpy(&id, payload, 4);
                        memcpy(&port, payload + 4, 2);
                        port = (uint16_t) ((port >> 8) | (port << 8));
                        r = handle_connect(fd, 0, h.tag, id, port);
                } else if (h.version == 0 && h.message == MUX_MSG_LISTEN) {
                        serve_listen(fd, 0, h.tag);
                        r = 1;
                } else if (h.version > 1)
                        r = send_result(fd, 0, h.tag, MUX_RESULT_BADVERSION);
                else
                        r = send_result(fd, h.version, h.tag, MUX_RESULT_BADCOMMAND);
                if (r != 0)
                        return;         /* handed over, or the client is gone */
        }
}

void usbmux_free_all(void) {
        emu_lock();
        while (host_records) {
                HostPairRecord *h = host_records;
                host_records = h->next;
                free(h->udid);
                free(h->data);
                free(h);
        }
        emu_unlock();
}
