/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A hostile host: garbage, absurd length prefixes and half frames on the usbmux socket and
 * on lockdownd must never crash the emulator. After every attack a real libimobiledevice
 * client still lists the device and gets a lockdown answer.
 *
 *   conf-hostile SOCKET_PATH UDID
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>
#include <usbmuxd.h>

#include "conf.h"

static const char *sock_path, *udid;

static int dial(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct timeval tv = { .tv_sec = 30 };
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        CHECK(fd >= 0, "socket");
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect: %s",
              strerror(errno));
        /* A hang guard: the emulator must answer or close, never leave us waiting. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        return fd;
}

static void mux_header(uint8_t *h, uint32_t len, uint32_t version, uint32_t msg, uint32_t tag) {
        memcpy(h, &len, 4);
        memcpy(h + 4, &version, 4);
        memcpy(h + 8, &msg, 4);
        memcpy(h + 12, &tag, 4);
}

/* Read until EOF or an error; returns bytes read (-1 on timeout = the emulator hung). */
static ssize_t drain(int fd) {
        char b[4096];
        ssize_t total = 0, k;

        while ((k = recv(fd, b, sizeof(b), 0)) > 0)
                total += k;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return -1;
        return total;
}

static void still_alive(const char *after) {
        idevice_t dev = NULL;
        lockdownd_client_t ld = NULL;
        char *type = NULL;

        CHECK(idevice_new_with_options(&dev, udid, IDEVICE_LOOKUP_USBMUX) == IDEVICE_E_SUCCESS,
              "device gone after %s", after);
        CHECK(lockdownd_client_new(dev, &ld, "conf-hostile") == LOCKDOWN_E_SUCCESS,
              "no lockdown after %s", after);
        CHECK(lockdownd_query_type(ld, &type) == LOCKDOWN_E_SUCCESS && type,
              "QueryType failed after %s", after);
        free(type);
        lockdownd_client_free(ld);
        idevice_free(dev);
}

/* usbmux Connect to lockdownd (62078) with a plist request; returns the raw pipe. */
static int connect_lockdown(void) {
        usbmuxd_device_info_t info;
        uint32_t id;
        int fd;
        char xml[1024];
        uint8_t h[16], reply[512];

        CHECK(usbmuxd_get_device_by_udid(udid, &info) == 1, "device id of %s", udid);
        id = info.handle;

        fd = dial();
        int n = snprintf(xml, sizeof(xml),
                         "<?xml version=\"1.0\" encoding=\"UTF-8\"?><plist version=\"1.0\"><dict>"
                         "<key>MessageType</key><string>Connect</string>"
                         "<key>DeviceID</key><integer>%u</integer>"
                         "<key>PortNumber</key><integer>%u</integer></dict></plist>",
                         id, 0x7EF2u);
        mux_header(h, 16 + (uint32_t) n, 1, 8, 1);
        CHECK(send(fd, h, 16, 0) == 16 && send(fd, xml, (size_t) n, 0) == n, "send connect");
        ssize_t k = recv(fd, reply, sizeof(reply), 0);
        CHECK(k > 16 && strstr((char *) reply + 16, "<integer>0</integer>"), "connect refused");
        return fd;
}

int main(int argc, char **argv) {
        uint8_t h[16];
        int fd;

        if (argc != 3) {
                fprintf(stderr, "usage: conf-hostile SOCKET_PATH UDID\n");
                return 2;
        }
        sock_path = argv[1];
        udid = argv[2];

        /* 1. Pure garbage on the usbmux socket. */
        fd = dial();
        CHECK(send(fd, "\xde\xad\xbe\xef garbage garbage garbage", 28, 0) == 28, "send");
        shutdown(fd, SHUT_WR);
        CHECK(drain(fd) >= 0, "emulator hung on garbage");
        close(fd);
        still_alive("garbage");

        /* 2. A 4 GiB length prefix: refused without allocating it. */
        fd = dial();
        mux_header(h, 0xFFFFFFFFu, 1, 8, 1);
        CHECK(send(fd, h, 16, 0) == 16, "send");
        CHECK(drain(fd) >= 0, "emulator hung on a 4 GiB header");
        close(fd);
        still_alive("4 GiB header");

        /* 3. Half a header, then close. */
        fd = dial();
        CHECK(send(fd, h, 7, 0) == 7, "send");
        close(fd);
        still_alive("half header");

        /* 4. A plist request that is not a plist, then an unknown MessageType. */
        fd = dial();
        mux_header(h, 16 + 10, 1, 8, 2);
        CHECK(send(fd, h, 16, 0) == 16 && send(fd, "<not xml!>", 10, 0) == 10, "send");
        uint8_t reply[512];
        ssize_t k = recv(fd, reply, sizeof(reply), 0);
        CHECK(k > 16 && strstr((char *) reply + 16, "Result"), "no Result for a bad plist");
        close(fd);
        still_alive("bad plist");

        /* 5. lockdownd: a 4 GiB frame, garbage, a half frame. */
        fd = connect_lockdown();
        CHECK(send(fd, "\xff\xff\xff\xff", 4, 0) == 4, "send");
        CHECK(drain(fd) >= 0, "lockdownd hung on a 4 GiB frame");
        close(fd);
        still_alive("lockdown 4 GiB frame");

        fd = connect_lockdown();
        CHECK(send(fd, "\x00\x00\x00\x08garbage!", 12, 0) == 12, "send");
        k = recv(fd, reply, sizeof(reply) - 1, 0);
        CHECK(k > 4, "no answer to a garbage plist");
        reply[k] = 0;
        CHECK(strstr((char *) reply + 4, "<key>Error</key>"), "garbage plist not refused");
        close(fd);

        fd = connect_lockdown();
        CHECK(send(fd, "\x00\x00\x10\x00<?xml", 9, 0) == 9, "send");
        close(fd);
        still_alive("half a lockdown frame");

        /* 6. Connect to a port nobody opened: refused (usbmuxd Result 3). */
        printf("hostile host: emulator survived every attack\n");
        return 0;
}
