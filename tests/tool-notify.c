/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-notify SOCKET_PATH: a stand-in for systemd's notification socket. Binds a datagram
 * socket and prints every message it receives as one line (newlines become spaces), so a
 * test can wait for READY=1, read STATUS= and count WATCHDOG=1 pings. Exits on SIGTERM.
 *
 * tool-notify --stall-after-ready SOCKET_PATH: the same until READY=1, then it stops
 * reading, as a busy or wedged service manager would: the socket's queue fills up and a
 * sender that blocks on it stops with it.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int stall = 0, fd;

        if (argc == 3 && strcmp(argv[1], "--stall-after-ready") == 0) {
                stall = 1;
                argv++;
                argc--;
        }
        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: tool-notify [--stall-after-ready] SOCKET_PATH\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        (void) unlink(argv[1]);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("tool-notify");
                return 1;
        }
        printf("LISTENING\n");
        fflush(stdout);
        for (;;) {
                ssize_t k = recv(fd, buf, sizeof(buf) - 1, 0);
                if (k < 0)
                        return 1;
                buf[k] = 0;
                for (ssize_t i = 0; i < k; i++)
                        if (buf[i] == '\n')
                                buf[i] = ' ';
                printf("%s\n", buf);
                fflush(stdout);
                if (stall && strstr(buf, "READY=1"))
                        for (;;)
                                pause();        /* never read again; SIGTERM ends us */
        }
}
