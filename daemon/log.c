/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging to the journal (structured) or to stderr with "<N>" prefixes. See log.h.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <systemd/sd-journal.h>

#include "log.h"

static int max_level = LOG_INFO;
static int use_journal = -1;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

/* $JOURNAL_STREAM is "dev:ino" of stderr when systemd connected it to the journal. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *udid, const char *job, const char *result, const char *fmt, ...) {
        char msg[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        errno = error;                  /* for %m */
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);

        if (use_journal < 0)
                use_journal = stderr_is_journal();
        if (use_journal)
                /* Field values go through "%s": nothing from a device becomes a format. */
                sd_journal_send_with_location("CODE_FILE=idevicesyncd", "CODE_LINE=0", func,
                                              "MESSAGE=%s", msg, "PRIORITY=%i", level,
                                              "IDEVICESYNC_UDID=%s", udid ?: "",
                                              "IDEVICESYNC_JOB=%s", job ?: "",
                                              "IDEVICESYNC_RESULT=%s", result ?: "",
                                              error ? "ERRNO=%i" : NULL, error, NULL);
        else
                fprintf(stderr, "<%i>%s\n", level, msg);
        (void) file;
        (void) line;
        errno = saved;
        return -error;
}
