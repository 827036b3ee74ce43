/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the unit tests of the database exports (test-export-contacts, -calendars, -notes)
 * share: a database built from SQL, a whole file read back, one export run into a new
 * directory, and whether a directory is empty.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "export.h"

/* Create the database at path from sql. 0 or -EIO (said on stdout). */
static inline int test_make_db(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        char *err = NULL;
        int r;

        r = sqlite3_open(path, &db);
        if (r == SQLITE_OK)
                r = sqlite3_exec(db, sql, NULL, NULL, &err);
        if (r != SQLITE_OK)
                printf("FAIL: %s: %s\n", path, err ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        sqlite3_close(db);
        return r == SQLITE_OK ? 0 : -EIO;
}

/* The whole file, NUL-terminated (free() it), or NULL. */
static inline char *test_slurp(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        long n;

        if (!f)
                return NULL;
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = calloc(1, (size_t) n + 1);
        if (buf && fread(buf, 1, (size_t) n, f) != (size_t) n) {
                free(buf);
                buf = NULL;
        }
        fclose(f);
        return buf;
}

/* Export t from the plain backup src into out, a directory made here (iOS 17.5); reason
 * holds reason_size bytes. */
static inline int test_export_run(const ExportType *t, const char *src, const char *out,
                                  char *reason, size_t reason_size, uint64_t *items) {
        int fd, r;

        if (mkdir(out, 0755) < 0)
                return -errno;
        fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = export_run_plain(t, src, "17.5", fd, reason, reason_size, items);
        close(fd);
        return r;
}

static inline bool test_dir_empty(const char *path) {
        char cmd[512];

        snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", path);
        return system(cmd) == 0;
}
