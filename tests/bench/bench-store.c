/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-store DIR [N]: the cost of the snapshot store per N files (default 100,000):
 * committing a first snapshot, the hard-link copy of the next run (store_begin), and the
 * commit of a 1 %-changed incremental. Prints seconds and peak RSS.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "store.h"

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int put(Staging *st, unsigned i, unsigned gen) {
        char path[128], data[64];
        int fd, n;

        snprintf(path, sizeof(path), "00008030-00000000000000BB/%02x/%038x", i & 0xff, i);
        fd = fs_open_beneath(staging_root_fd(st), path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0) {
                if (fs_mkdir_p_beneath(staging_root_fd(st), "00008030-00000000000000BB", 0700) < 0)
                        return -1;
                snprintf(data, sizeof(data), "00008030-00000000000000BB/%02x", i & 0xff);
                if (fs_mkdir_p_beneath(staging_root_fd(st), data, 0700) < 0)
                        return -1;
                fd = fs_open_beneath(staging_root_fd(st), path, O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
                if (fd < 0)
                        return -1;
        }
        n = snprintf(data, sizeof(data), "file %u generation %u\n", i, gen);
        if (write(fd, data, (size_t) n) != n) {
                close(fd);
                return -1;
        }
        close(fd);
        return 0;
}

int main(int argc, char **argv) {
        unsigned n = argc > 2 ? (unsigned) strtoul(argv[2], NULL, 10) : 100000;
        Store *s = NULL;
        Staging *st = NULL;
        SnapshotInfo info = {};
        struct rusage ru;
        double a, b, c, d, e;

        if (argc < 2 || store_open(argv[1], NULL, "00008030-00000000000000BB", &s) < 0 ||
            store_begin(s, true, &st) < 0)
                return 1;
        for (unsigned i = 0; i < n; i++)
                if (put(st, i, 0) < 0)
                        return 1;
        a = now();
        if (staging_commit(st, &info) < 0)
                return 1;
        b = now();
        if (store_begin(s, false, &st) < 0)
                return 1;
        c = now();
        /* 1 %: write to a new file and rename over the link, as the engine does. */
        for (unsigned i = 0; i < n; i += 100) {
                char path[128];
                snprintf(path, sizeof(path), "00008030-00000000000000BB/%02x/%038x", i & 0xff, i);
                (void) fs_remove_beneath(staging_root_fd(st), path);
                if (put(st, i, 1) < 0)
                        return 1;
        }
        d = now();
        memset(&info, 0, sizeof(info));
        if (staging_commit(st, &info) < 0)
                return 1;
        e = now();
        getrusage(RUSAGE_SELF, &ru);
        printf("%u files: first commit %.2f s, hard-link copy %.2f s, incremental commit "
               "%.2f s (1 %% changed), peak RSS %ld KiB\n", n, b - a, c - b, e - d, ru.ru_maxrss);
        store_close(s);
        return 0;
}
