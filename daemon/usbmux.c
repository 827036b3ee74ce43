/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first hop of a plug, as usbmuxd sees the device: its Attached, Detached and Paired
 * events through libimobiledevice's subscription, handed to manager_on_usbmux_event().
 *
 * The events come from libusbmuxd's own thread; that thread only writes a line to a pipe,
 * which the loop reads, so no other thread touches sd-bus or sd-event. The pipe's writing
 * end blocks: under a burst the thread waits for the loop rather than drop an event. The
 * subscription outlives usbmuxd exiting and returning (libusbmuxd reconnects; in
 * production it waits with inotify on /var/run, without polling).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libimobiledevice/libimobiledevice.h>
#include <usbmuxd.h>

#include "log.h"
#include "manager.h"

static void on_idevice_event(const idevice_event_t *e, void *userdata) {
        Manager *m = userdata;
        char line[128];
        int n;

        /* libusbmuxd's thread: only hand the event to the loop. */
        if (!e || !e->udid || e->conn_type != CONNECTION_USBMUXD)
                return;
        n = snprintf(line, sizeof(line), "%c%s\n",
                     e->event == IDEVICE_DEVICE_ADD ? 'A' :
                     e->event == IDEVICE_DEVICE_REMOVE ? 'R' : 'P', e->udid);
        if (n > 0 && (size_t) n < sizeof(line))
                (void) !write(m->usbmux_pipe[1], line, (size_t) n);
}

/* One event line "A<udid>", "R<udid>" or "P<udid>". */
static void handle_usbmux_line(Manager *m, const char *l) {
        manager_on_usbmux_event(m, l[0] == 'A' ? MANAGER_USBMUX_ADD :
                                   l[0] == 'R' ? MANAGER_USBMUX_REMOVE : MANAGER_USBMUX_PAIRED,
                                l + 1);
}

static int on_usbmux_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        size_t start = 0;
        ssize_t k;

        /* A read may end inside a line (a burst fills the pipe): keep the partial line for
         * the next read instead of taking its first half for a UDID. */
        k = read(fd, m->usbmux_buf + m->usbmux_len, sizeof(m->usbmux_buf) - m->usbmux_len);
        if (k <= 0)
                return 0;
        m->usbmux_len += (size_t) k;
        for (size_t i = 0; i < m->usbmux_len; i++)
                if (m->usbmux_buf[i] == '\n') {
                        m->usbmux_buf[i] = 0;
                        handle_usbmux_line(m, m->usbmux_buf + start);
                        start = i + 1;
                }
        memmove(m->usbmux_buf, m->usbmux_buf + start, m->usbmux_len - start);
        m->usbmux_len -= start;
        if (m->usbmux_len == sizeof(m->usbmux_buf))
                m->usbmux_len = 0;      /* no line is that long: drop the garbage */
        return 0;
}

int manager_usbmux_start(Manager *m) {
        int r;

        /* Only the loop's end is non-blocking: when a burst fills the pipe, libusbmuxd's
         * thread waits for the loop instead of dropping an attach or a detach. */
        if (pipe2(m->usbmux_pipe, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        if (fcntl(m->usbmux_pipe[0], F_SETFL, O_NONBLOCK) < 0)
                return log_error_errno(errno, "Failed to make the pipe non-blocking: %m");
        r = sd_event_add_io(m->event, &m->usbmux_source, m->usbmux_pipe[0], EPOLLIN,
                            on_usbmux_pipe, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the usbmuxd event pipe: %m");
        /* A custom socket (tests) is never announced by inotify on /var/run: poll for it. */
        if (getenv("USBMUXD_SOCKET_ADDRESS"))
                libusbmuxd_set_use_inotify(0);
        if (idevice_event_subscribe(on_idevice_event, m) != IDEVICE_E_SUCCESS)
                return log_error_errno(-EIO, "Failed to subscribe to usbmuxd events");
        m->subscribed = true;
        return 0;
}

void manager_usbmux_stop(Manager *m) {
        if (m->subscribed)
                (void) idevice_event_unsubscribe();
        m->subscribed = false;
        m->usbmux_source = sd_event_source_disable_unref(m->usbmux_source);
        for (int i = 0; i < 2; i++)
                if (m->usbmux_pipe[i] >= 0) {
                        close(m->usbmux_pipe[i]);
                        m->usbmux_pipe[i] = -EBADF;
                }
}
