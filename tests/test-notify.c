/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/notify.c against a real datagram socket standing in for the service
 * manager: STATUS= is coalesced (one datagram for a burst, then the newest text after the
 * one-second limit, nothing for an unchanged text); a receiver that stops reading never
 * blocks the sender, and once it reads again every state message arrives, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-event.h>

#include "notify.h"
#include "test-util.h"

static int receiver(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return fd;
}

/* The next datagram, or "" when none is queued. */
static const char *next_msg(int fd) {
        static char buf[512];
        ssize_t k = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

        buf[k > 0 ? k : 0] = 0;
        return buf;
}

static void test_status(sd_event *e, int fd, Notifier *n) {
        /* A burst: the first text goes out at once, the rest waits for the rate limit. */
        for (int i = 0; i < 100; i++)
                notifier_status(n, "%d devices", i);
        ASSERT_STREQ(next_msg(fd), "STATUS=0 devices");
        ASSERT_STREQ(next_msg(fd), "");
        ASSERT_EQ(notifier_sent(n), 1u);

        /* The timer sends the newest text, once. */
        while (notifier_sent(n) < 2)
                ASSERT_OK(sd_event_run(e, 5 * 1000000));
        ASSERT_STREQ(next_msg(fd), "STATUS=99 devices");
        ASSERT_STREQ(next_msg(fd), "");

        /* The same text again is no news. */
        notifier_status(n, "%d devices", 99);
        ASSERT_OK(sd_event_run(e, 0));
        ASSERT_STREQ(next_msg(fd), "");
        ASSERT_EQ(notifier_sent(n), 2u);

        /* Newlines would start another assignment. */
        while (notifier_sent(n) < 3) {
                notifier_status(n, "two\nlines");
                ASSERT_OK(sd_event_run(e, 5 * 1000000));
        }
        ASSERT_STREQ(next_msg(fd), "STATUS=two lines");
}

static void test_stalled_receiver(sd_event *e, int fd, Notifier *n) {
        char want[32];
        int got = 0;

        /* Nobody reads: the socket's queue fills after a few datagrams, and no call blocks
         * (if one did, this test would hang and the runner's guard would fail it). */
        for (int i = 0; i < 20; i++) {
                snprintf(want, sizeof(want), "X=%d", i);
                ASSERT_OK(notifier_send(n, want));
        }
        ASSERT_TRUE(notifier_would_block(n) > 0);

        /* Reading again: the rest follows from the retry timer, in order, none lost. */
        while (got < 20) {
                const char *m = next_msg(fd);

                if (!*m) {
                        ASSERT_OK(sd_event_run(e, 5 * 1000000));
                        continue;
                }
                snprintf(want, sizeof(want), "X=%d", got);
                ASSERT_STREQ(m, want);
                got++;
        }
        ASSERT_STREQ(next_msg(fd), "");
}

int main(void) {
        char dir[] = "/tmp/test-notify.XXXXXX", path[128];
        sd_event *e = NULL;
        Notifier *n = NULL;
        int fd;

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        snprintf(path, sizeof(path), "%s/notify", dir);
        fd = receiver(path);
        ASSERT_OK(fd);
        ASSERT_OK(setenv("NOTIFY_SOCKET", path, 1));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(notifier_new(e, &n));
        if (fd >= 0 && n) {
                test_status(e, fd, n);
                test_stalled_receiver(e, fd, n);
        }
        notifier_free(n);
        sd_event_unref(e);

        /* Without $NOTIFY_SOCKET everything is a no-op. */
        ASSERT_OK(unsetenv("NOTIFY_SOCKET"));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(notifier_new(e, &n));
        ASSERT_OK(notifier_send(n, "READY=1"));
        notifier_status(n, "x");
        ASSERT_EQ(notifier_sent(n), 0u);
        notifier_free(n);
        sd_event_unref(e);

        /* A relative path is refused. */
        ASSERT_OK(setenv("NOTIFY_SOCKET", "relative", 1));
        ASSERT_OK(sd_event_new(&e));
        ASSERT_EQ(notifier_new(e, &n), -EINVAL);
        sd_event_unref(e);

        if (fd >= 0)
                close(fd);
        unlink(path);
        rmdir(dir);
        return test_exit_status();
}
