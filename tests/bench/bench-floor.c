/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-floor SIZES_FILE DIR: the floor of any backup writer on this machine.
 *
 * SIZES_FILE has one file size per line (the files a benchmark backup moves). A child
 * process sends that many bytes through a socketpair, as a device stream would arrive; the
 * parent reads them in 64 KiB blocks and writes each file under DIR (open, write, close: no
 * fsync, no checksum, no index), the least work that moves the same files and bytes onto
 * the same file system. It prints one line:
 *
 *   floor files=N bytes=B elapsed=S user=U sys=Y cpu_per_gib=C
 *
 * with the receiving side's CPU only (the sender stands in for the device).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (64 * 1024)

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static void sender(int fd, uint64_t total) {
        static char buf[BLOCK];

        for (size_t i = 0; i < sizeof(buf); i++)
                buf[i] = (char) (i * 131 + 7);
        while (total > 0) {
                size_t n = total < sizeof(buf) ? (size_t) total : sizeof(buf);

                if (write_all(fd, buf, n) < 0)
                        _exit(1);
                total -= n;
        }
        _exit(0);
}

static double tv(const struct timeval *t) {
        return (double) t->tv_sec + (double) t->tv_usec / 1e6;
}

int main(int argc, char **argv) {
        static char buf[BLOCK];
        uint64_t *sizes = NULL, total = 0;
        size_t n = 0, allocated = 0;
        struct timespec a, b;
        struct rusage ru;
        int sv[2], status;
        FILE *f;
        pid_t pid;

        if (argc != 3) {
                fprintf(stderr, "usage: bench-floor SIZES_FILE DIR\n");
                return 2;
        }
        f = fopen(argv[1], "re");
        if (!f) {
                fprintf(stderr, "bench-floor: %s: %s\n", argv[1], strerror(errno));
                return 1;
        }
        for (uint64_t s; fscanf(f, "%" SCNu64, &s) == 1;) {
                if (n == allocated) {
                        uint64_t *v = realloc(sizes, (allocated = allocated ? 2 * allocated : 1024) *
                                                             sizeof(*v));
                        if (!v)
                                return 1;
                        sizes = v;
                }
                sizes[n++] = s;
                total += s;
        }
        fclose(f);
        if (mkdir(argv[2], 0700) < 0 && errno != EEXIST) {
                fprintf(stderr, "bench-floor: %s: %s\n", argv[2], strerror(errno));
                return 1;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 1;
        pid = fork();
        if (pid < 0)
                return 1;
        if (pid == 0) {
                close(sv[0]);
                sender(sv[1], total);
        }
        close(sv[1]);

        clock_gettime(CLOCK_MONOTONIC, &a);
        for (size_t i = 0; i < n; i++) {
                char name[64];
                uint64_t left = sizes[i];
                int fd;

                /* 256 files per directory, as a backup's hash-prefix directories spread them */
                snprintf(name, sizeof(name), "%s/%02zx", argv[2], i % 256);
                if (i < 256 && mkdir(name, 0700) < 0 && errno != EEXIST)
                        return 1;
                snprintf(name, sizeof(name), "%s/%02zx/%zu", argv[2], i % 256, i);
                fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd < 0) {
                        fprintf(stderr, "bench-floor: %s: %s\n", name, strerror(errno));
                        return 1;
                }
                while (left > 0) {
                        size_t want = left < sizeof(buf) ? (size_t) left : sizeof(buf);
                        ssize_t k = read(sv[0], buf, want);

                        if (k <= 0) {
                                fprintf(stderr, "bench-floor: short stream\n");
                                return 1;
                        }
                        if (write_all(fd, buf, (size_t) k) < 0)
                                return 1;
                        left -= (uint64_t) k;
                }
                close(fd);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return 1;
        getrusage(RUSAGE_SELF, &ru);
        {
                double el = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
                double cpu = tv(&ru.ru_utime) + tv(&ru.ru_stime);

                printf("floor files=%zu bytes=%" PRIu64 " elapsed=%.2f user=%.2f sys=%.2f "
                       "cpu_per_gib=%.2f\n", n, total, el, tv(&ru.ru_utime), tv(&ru.ru_stime),
                       total ? cpu / ((double) total / 1073741824.0) : 0.0);
        }
        free(sizes);
        return 0;
}
