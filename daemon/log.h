/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Logging of idevicesyncd: the journal with structured fields when stderr is connected to
 * it ($JOURNAL_STREAM matches), else stderr lines with "<N>" syslog prefixes (what tests
 * read and what systemd parses too). log_*_errno() set errno for %m and return the error.
 * Never log secrets: the backup password goes nowhere near these functions.
 */
#pragma once

#include <errno.h>
#include <syslog.h>

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *udid, const char *job, const char *result, const char *fmt, ...)
        __attribute__((format(printf, 9, 10)));

void log_set_max_level(int level);
int log_get_max_level(void);

#define log_full_errno(level, error, ...)                                                   \
        log_internal(level, error, __FILE__, __LINE__, __func__, NULL, NULL, NULL, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
/* A message about one device (and job/result), with IDEVICESYNC_* journal fields. */
#define log_device(level, udid, job, result, ...)                                           \
        log_internal(level, 0, __FILE__, __LINE__, __func__, udid, job, result, __VA_ARGS__)
