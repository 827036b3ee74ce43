/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DeviceLink messages over property_list_service (protocols.md §3.1–3.2), for services
 * whose libimobiledevice client cannot be used on Debian 12 (mobilesync: it offers
 * DeviceLink 300 and iOS ≥ 14 answers 400).
 *
 * The device is untrusted: every message is checked to be a named array before anyone
 * reads it, and every wait is bounded. Receives wait in 1 s slices so that a cancel (which
 * also shuts the stream down, see cancel.c) and a cable pull (EOF on the stream) are seen
 * at once, and only a device that stays silent for the whole timeout is IDS_E_TIMEOUT.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cancel.h"
#include "dl-message.h"
#include "util.h"

#define SLICE_MS 1000u

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

void dl_note(DLConn *c, const char *fmt, ...) {
        char buf[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        ids_debug("devicelink: %s", buf);
        if (!c->reason[0])              /* keep the first problem: it is the cause */
                snprintf(c->reason, sizeof(c->reason), "%s", buf);
}

/* ---- the property_list_service transport ------------------------------------------- */

static int plc_send(void *userdata, plist_t msg) {
        DLConn *c = userdata;

        if (property_list_service_send_binary_plist(c->plc, msg) != PROPERTY_LIST_SERVICE_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        return 0;
}

static int plc_receive(void *userdata, plist_t *ret, unsigned timeout_ms) {
        DLConn *c = userdata;
        property_list_service_error_t e;
        plist_t p = NULL;

        e = property_list_service_receive_plist_with_timeout(c->plc, &p, timeout_ms);
        if (e == PROPERTY_LIST_SERVICE_E_SUCCESS && p) {
                *ret = p;
                return 0;
        }
        if (p)
                plist_free(p);
        if (e == PROPERTY_LIST_SERVICE_E_RECEIVE_TIMEOUT)
                return -EAGAIN;
        if (e == PROPERTY_LIST_SERVICE_E_PLIST_ERROR)
                return IDS_E_PROTOCOL;          /* a frame that is no plist */
        return IDS_E_DISCONNECTED;
}

bool dl_stream_dead(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
        char b;

        if (fd < 0)
                return false;
        if (poll(&p, 1, 0) <= 0)
                return false;
        if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
                return true;
        return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* session_client_new_fn for a bare property_list_service client. */
static int plc_client_new(idevice_t device, lockdownd_service_descriptor_t service,
                          void **ret_client) {
        property_list_service_client_t plc = NULL;

        if (property_list_service_client_new(device, service, &plc) !=
            PROPERTY_LIST_SERVICE_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret_client = plc;
        return 0;
}

void dl_conn_init(DLConn *c, const DLTransport *t, ids_cancel *cancel, unsigned timeout_s) {
        memset(c, 0, sizeof(*c));
        c->transport = *t;
        c->stream_fd = -1;
        c->cancel = cancel;
        c->timeout_s = timeout_s;
}

int dl_conn_connect(DLConn *c, Session *s, const char *service, uint64_t host_major,
                    ids_cancel *cancel, unsigned timeout_s) {
        DLTransport t = { .send = plc_send, .receive = plc_receive, .userdata = c };
        void *client = NULL;
        int fd = -1, r;

        dl_conn_init(c, &t, cancel, timeout_s);
        r = session_connect_service(s, service, cancel, plc_client_new, &client, &fd);
        if (client) {
                c->plc = client;
                c->stream_fd = fd;
        }
        if (r != 0) {
                dl_conn_done(c);
                return r;
        }
        r = dl_version_exchange(c, host_major);
        if (r != 0) {
                dl_conn_done(c);
                return r;
        }
        return 0;
}

void dl_conn_done(DLConn *c) {
        if (c->plc) {
                cancel_set_stream(c->cancel, -1);
                property_list_service_client_free(c->plc);
                c->plc = NULL;
        }
        c->stream_fd = -1;
        c->connected = false;
}

/* ---- messages ------------------------------------------------------------------------ */

const char *dl_array_str(plist_t msg, uint32_t i) {
        plist_t n;

        if (!msg || plist_get_node_type(msg) != PLIST_ARRAY || i >= plist_array_get_size(msg))
                return NULL;
        n = plist_array_get_item(msg, i);
        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        return plist_get_string_ptr(n, NULL);     /* the node's own buffer */
}

int dl_array_uint(plist_t msg, uint32_t i, uint64_t *ret) {
        plist_t n;

        if (!msg || plist_get_node_type(msg) != PLIST_ARRAY || i >= plist_array_get_size(msg))
                return -EBADMSG;
        n = plist_array_get_item(msg, i);
        if (!n || plist_get_node_type(n) != PLIST_UINT)
                return -EBADMSG;
        plist_get_uint_val(n, ret);
        return 0;
}

const char *dl_message_name(plist_t msg) {
        const char *name = dl_array_str(msg, 0);

        /* A name is a short identifier; anything else is not a message we can act on. */
        if (!name || strlen(name) < 2 || strlen(name) > 128)
                return NULL;
        return name;
}

plist_t dl_message_new(const char *name, size_t n, const char *const *args) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(name));
        for (size_t i = 0; i < n; i++)
                plist_array_append_item(a, plist_new_string(args[i] ? args[i] : DL_EMPTY));
        return a;
}

int dl_send(DLConn *c, plist_t msg) {
        int r;

        if (ids_cancel_requested(c->cancel))
                return IDS_E_CANCELLED;
        r = c->transport.send(c->transport.userdata, msg);
        if (r != 0) {
                if (ids_cancel_requested(c->cancel))
                        return IDS_E_CANCELLED;
                dl_note(c, "the device stream broke while sending %s",
                        dl_message_name(msg) ?: "a message");
                return IDS_E_DISCONNECTED;
        }
        return 0;
}

int dl_receive(DLConn *c, plist_t *ret) {
        uint64_t limit = (uint64_t) (c->timeout_s ?: 60) * 1000u;
        uint64_t idle = now_ms();

        for (;;) {
                const char *name;
                plist_t p = NULL;
                int r;

                if (ids_cancel_requested(c->cancel))
                        return IDS_E_CANCELLED;
                r = c->transport.receive(c->transport.userdata, &p, SLICE_MS);
                if (r == -EAGAIN) {
                        if (ids_cancel_requested(c->cancel))
                                return IDS_E_CANCELLED;
                        if (dl_stream_dead(c->stream_fd)) {
                                dl_note(c, "the device stream ended");
                                return IDS_E_DISCONNECTED;
                        }
                        if (now_ms() - idle >= limit) {
                                dl_note(c, "the device sent nothing for %u s", c->timeout_s ?: 60);
                                return IDS_E_TIMEOUT;
                        }
                        continue;
                }
                if (r != 0) {
                        if (ids_cancel_requested(c->cancel))
                                return IDS_E_CANCELLED;
                        if (r == IDS_E_PROTOCOL)
                                dl_note(c, "the device sent a frame that is not a plist");
                        else
                                dl_note(c, "the device stream ended");
                        return r == IDS_E_PROTOCOL ? r : IDS_E_DISCONNECTED;
                }
                name = dl_message_name(p);
                if (!name) {
                        plist_free(p);
                        dl_note(c, "the device sent something that is not a DeviceLink message");
                        return IDS_E_PROTOCOL;
                }
                /* A ping does not reset the silence clock: a device that only pings forever
                 * still ends in IDS_E_TIMEOUT. */
                if (strcmp(name, "DLMessagePing") == 0) {
                        plist_free(p);
                        if (now_ms() - idle >= limit) {
                                dl_note(c, "the device only pinged for %u s", c->timeout_s ?: 60);
                                return IDS_E_TIMEOUT;
                        }
                        continue;
                }
                idle = now_ms();
                if (strcmp(name, "DLMessageDisconnect") == 0) {
                        const char *why = dl_array_str(p, 1);

                        dl_note(c, "the device disconnected: %s",
                                why && strcmp(why, DL_EMPTY) != 0 ? why : "no reason given");
                        plist_free(p);
                        c->connected = false;
                        return IDS_E_DISCONNECTED;
                }
                *ret = p;
                return 0;
        }
}

int dl_version_exchange(DLConn *c, uint64_t host_major) {
        plist_t msg = NULL, reply;
        uint64_t major, minor;
        const char *name;
        int r;

        r = dl_receive(c, &msg);
        if (r != 0)
                return r;
        name = dl_message_name(msg);
        if (strcmp(name, "DLMessageVersionExchange") != 0 ||
            dl_array_uint(msg, 1, &major) < 0 || dl_array_uint(msg, 2, &minor) < 0) {
                dl_note(c, "expected DLMessageVersionExchange with two integers, got %s", name);
                plist_free(msg);
                return IDS_E_PROTOCOL;
        }
        plist_free(msg);
        c->device_major = major;
        c->device_minor = minor;
        if (major > host_major) {
                dl_note(c, "the device speaks DeviceLink %llu.%llu, this host at most %llu",
                        (unsigned long long) major, (unsigned long long) minor,
                        (unsigned long long) host_major);
                return IDS_E_PROTOCOL;
        }

        reply = plist_new_array();
        plist_array_append_item(reply, plist_new_string("DLMessageVersionExchange"));
        plist_array_append_item(reply, plist_new_string("DLVersionsOk"));
        plist_array_append_item(reply, plist_new_uint(host_major));
        r = dl_send(c, reply);
        plist_free(reply);
        if (r != 0)
                return r;

        r = dl_receive(c, &msg);
        if (r != 0)
                return r;
        name = dl_message_name(msg);
        if (strcmp(name, "DLMessageDeviceReady") != 0) {
                dl_note(c, "expected DLMessageDeviceReady, got %s", name);
                plist_free(msg);
                return IDS_E_PROTOCOL;
        }
        plist_free(msg);
        c->connected = true;
        return 0;
}

void dl_disconnect(DLConn *c, const char *reason) {
        plist_t msg;

        if (!c->connected)
                return;
        msg = dl_message_new("DLMessageDisconnect", 1, (const char *[]) { reason });
        (void) c->transport.send(c->transport.userdata, msg);
        plist_free(msg);
        c->connected = false;
}
