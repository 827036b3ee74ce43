/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench-store DIR [N] [--unnoted]: the cost of the snapshot store per N files (default
 * 100,000): committing a first snapshot, the hard-link copy of the next run (store_begin),
 * and the commit of a 1 %-changed incremental. Prints seconds, CPU seconds (getrusage, less
 * noisy than wall time on a shared machine) and peak RSS. Like the backup engine
 * (devicelink.c), each file's CRC32 is noted as it is written (staging_note_crc()), so that
 * commit need not read it again; --unnoted leaves that out (every file is read at commit).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "fs-util.h"
#include "idevicesync.h"
#include "store.h"

/* The store's own account of each commit (its phases), indented under the summary. */
static void on_debug(const char *msg) {
        if (strncmp(msg, "store: commit ", 14) == 0 || strncmp(msg, "store: indexed ", 15) == 0)
                fprintf(stderr, "  %s\n", msg);
}

static double now(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static bool arg_unnoted;

static double cpu(void) {
        struct rusage ru;

        getrusage(RUSAGE_SELF, &ru);
        return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
               (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
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
        if (!arg_unnoted) {
                struct stat sb;

                if (fstat(fd, &sb) < 0) {
                        close(fd);
                        return -1;
                }
                (void) staging_note_crc(st, (uint64_t) sb.st_ino, (uint64_t) sb.st_size,
                                        (uint64_t) sb.st_mtim.tv_sec * 1000000000u +
                                                (uint64_t) sb.st_mtim.tv_nsec,
                                        (uint32_t) crc32(0, (const Bytef *) data, (uInt) n));
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
        double a, b, c, d, e, ca, cb, cd, ce;

        arg_unnoted = argc > 3 && strcmp(argv[3], "--unnoted") == 0;
        ids_set_debug_log(on_debug);
        if (argc < 2 || store_open(argv[1], NULL, "00008030-00000000000000BB", &s) < 0 ||
            store_begin(s, true, &st) < 0)
                return 1;
        for (unsigned i = 0; i < n; i++)
                if (put(st, i, 0) < 0)
                        return 1;
        a = now();
        ca = cpu();
        if (staging_commit(st, &info) < 0)
                return 1;
        b = now();
        cb = cpu();
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
        cd = cpu();
        memset(&info, 0, sizeof(info));
        if (staging_commit(st, &info) < 0)
                return 1;
        e = now();
        ce = cpu();
        getrusage(RUSAGE_SELF, &ru);
        printf("%u files%s: first commit %.2f s (cpu %.2f s), hard-link copy %.2f s, "
               "incremental commit %.2f s (cpu %.2f s; 1 %% changed), peak RSS %ld KiB\n", n,
               arg_unnoted ? " (CRCs not noted)" : "", b - a, cb - ca, c - b, e - d, ce - cd,
               ru.ru_maxrss);
        store_close(s);
        return 0;
}
