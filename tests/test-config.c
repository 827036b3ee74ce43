/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/config.c: the configuration and per-device policy parser.
 *
 * Golden files: every tests/data/policy/good/NAME.conf parses without a warning into the
 * values the table below expects; every bad/NAME.conf warns exactly at the lines its
 * "# expect: LINE MESSAGE" comments name (MESSAGE is a substring of the message) and keeps
 * the earlier values the table expects. A "# mode: device" comment parses the file as a
 * devices.d file. Then the load order (main file, drop-ins sorted across three directories
 * with masking, devices.d), the environment, files that cannot be read (the previous
 * policy is kept), the line and file bounds, and tables for the value parsers.
 *
 * Unreadable files: root reads a mode-000 file anyway, so as root that case runs in a
 * forked child that drops to uid/gid 65534 first; it is skipped (and says so) only when
 * that is not possible.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"
#include "test-util.h"

#define USEC_PER_SEC 1000000ULL
#define USEC_PER_MINUTE (60ULL * USEC_PER_SEC)
#define USEC_PER_HOUR (60ULL * USEC_PER_MINUTE)
#define USEC_PER_DAY (24ULL * USEC_PER_HOUR)
#define UDID "00008030-001A2B3C4D5E6F70"


/* ---- captured log ------------------------------------------------------------------------ */

typedef struct LogEntry {
        int level;
        char file[PATH_MAX];
        unsigned line;
        char message[1100];
} LogEntry;

static LogEntry logs[64];
static size_t n_logs, n_dropped;

static void capture(int level, const char *file, unsigned line, const char *message,
                    void *userdata) {
        LogEntry *e;

        if (level > LOG_WARNING)
                return;                 /* notes are not warnings */
        if (n_logs >= sizeof(logs) / sizeof(logs[0])) {
                n_dropped++;
                return;
        }
        e = &logs[n_logs++];
        e->level = level;
        snprintf(e->file, sizeof(e->file), "%s", file);
        e->line = line;
        snprintf(e->message, sizeof(e->message), "%s", message);
}

static void logs_reset(void) {
        n_logs = n_dropped = 0;
}

static void logs_print(void) {
        for (size_t i = 0; i < n_logs; i++)
                printf("  logged <%d>%s:%u: %s\n", logs[i].level, logs[i].file, logs[i].line,
                       logs[i].message);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                abort();
        va_end(ap);
        return s;
}

static void write_file(const char *path, const char *data, size_t size) {
        FILE *f = fopen(path, "we");

        if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
                printf("FAIL: cannot write %s: %m\n", path);
                exit(1);
        }
}

static void put(const char *dir, const char *name, const char *text) {
        char *path = xasprintf("%s/%s", dir, name);

        write_file(path, text, strlen(text));
        free(path);
}

static void mkdir_p(const char *path) {
        char *p = xasprintf("%s", path);

        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        (void) mkdir(p, 0755);
                        *s = '/';
                }
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
                printf("FAIL: mkdir %s: %m\n", p);
                exit(1);
        }
        free(p);
}

/* lchown -R: used as root, to hand a tree to the uid that runs the unreadable-file case */
static void chown_r(const char *path, uid_t uid, gid_t gid) {
        struct stat st;
        DIR *d;

        if (lstat(path, &st) < 0 || lchown(path, uid, gid) < 0 || !S_ISDIR(st.st_mode))
                return;
        d = opendir(path);
        if (d) {
                struct dirent *de;

                while ((de = readdir(d))) {
                        char *sub;

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        sub = xasprintf("%s/%s", path, de->d_name);
                        chown_r(sub, uid, gid);
                        free(sub);
                }
                closedir(d);
        }
}

static int rm_rf(const char *path) {
        struct stat st;
        DIR *d;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        (void) chmod(path, 0700);
        d = opendir(path);
        if (d) {
                struct dirent *de;

                while ((de = readdir(d))) {
                        char *sub;

                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        sub = xasprintf("%s/%s", path, de->d_name);
                        (void) rm_rf(sub);
                        free(sub);
                }
                closedir(d);
        }
        return rmdir(path) < 0 ? -errno : 0;
}

/* Compare every field; ctx names the case in messages. */
static void assert_policy(const Policy *got, const Policy *want, const char *ctx, int line) {
#define CMP(f, fmt)                                                                           \
        do {                                                                                  \
                checks++;                                                                     \
                if (got->f != want->f) {                                                      \
                        printf("FAIL: %s: " #f ": expected " fmt ", got " fmt                 \
                               " at %s:%d\n", ctx, want->f, got->f, __FILE__, line);          \
                        failures++;                                                           \
                }                                                                             \
        } while (0)
        CMP(backup.auto_run, "%d");
        CMP(backup.min_interval, "%" PRIu64);
        CMP(backup.time_window.enabled, "%d");
        CMP(backup.time_window.start, "%u");
        CMP(backup.time_window.end, "%u");
        CMP(backup.min_battery, "%u");
        CMP(backup.require_charging, "%d");
        CMP(backup.require_encryption, "%d");
        CMP(backup.keep, "%u");
        CMP(backup.keep_days, "%u");
        CMP(backup.min_free_space.kind, "%d");
        CMP(backup.min_free_space.value, "%" PRIu64);
        CMP(backup.passcode_wait, "%" PRIu64);
        CMP(sync.enabled, "%d");
        CMP(sync.photos, "%d");
        CMP(sync.music, "%d");
        CMP(sync.videos, "%d");
        CMP(sync.books, "%d");
        CMP(sync.ringtones, "%d");
        CMP(sync.crash_logs, "%d");
        CMP(sync.documents, "%d");
        CMP(sync.deletions, "%d");
        CMP(sync.first_sync, "%d");
        CMP(sync.trash_days, "%u");
        CMP(sync.contacts, "%d");
        CMP(sync.calendars, "%d");
        CMP(sync.bookmarks, "%d");
        CMP(sync.notes, "%d");
        CMP(sync.voice_memos, "%d");
        CMP(sync.apps, "%d");
#undef CMP
#define CMP_STR(f)                                                                            \
        do {                                                                                  \
                checks++;                                                                     \
                if (!(got->f == want->f ||                                                    \
                      (got->f && want->f && strcmp(got->f, want->f) == 0))) {                 \
                        printf("FAIL: %s: " #f ": expected '%s', got '%s' at %s:%d\n", ctx,   \
                               want->f ? want->f : "(null)", got->f ? got->f : "(null)",      \
                               __FILE__, line);                                               \
                        failures++;                                                           \
                }                                                                             \
        } while (0)
        CMP_STR(sync.photos_dir);
        CMP_STR(sync.documents_dir);
        CMP_STR(sync.documents_apps);
        CMP_STR(sync.apps_dir);
#undef CMP_STR
        checks++;
        if (!(got->store.backup_dir == want->store.backup_dir ||
              (got->store.backup_dir && want->store.backup_dir &&
               strcmp(got->store.backup_dir, want->store.backup_dir) == 0))) {
                printf("FAIL: %s: backup_dir: expected '%s', got '%s' at %s:%d\n", ctx,
                       want->store.backup_dir ? want->store.backup_dir : "(null)",
                       got->store.backup_dir ? got->store.backup_dir : "(null)", __FILE__, line);
                failures++;
        }
}

/* ---- golden files -------------------------------------------------------------------- */

typedef void (*WantFunc)(Policy *p);

static void want_defaults(Policy *p) {
}

static void want_full(Policy *p) {
        p->backup.auto_run = false;
        p->backup.min_interval = 12 * USEC_PER_HOUR;
        p->backup.time_window = (TimeWindow) { .enabled = true, .start = 22 * 60, .end = 6 * 60 };
        p->backup.min_battery = 40;
        p->backup.require_charging = true;
        p->backup.require_encryption = true;
        p->backup.keep = 3;
        p->backup.keep_days = 30;
        p->backup.min_free_space = (SpaceLimit) { SPACE_BYTES, 20ULL << 30 };
        p->backup.passcode_wait = 10 * USEC_PER_MINUTE;
        p->store.backup_dir = (char *) "/srv/idevicesync";
}

static void want_spelling(Policy *p) {
        p->backup.auto_run = true;
        p->backup.require_charging = true;
        p->backup.require_encryption = true;
        p->backup.min_battery = 25;
        p->backup.time_window = (TimeWindow) { .enabled = true, .start = 9 * 60 + 30,
                                               .end = 17 * 60 };
        p->backup.min_free_space = (SpaceLimit) { SPACE_PERCENT, 10 };
        p->backup.keep = 8;
        p->store.backup_dir = (char *) "/srv/backups";
}

static void want_timespans(Policy *p) {
        p->backup.min_interval = 90 * USEC_PER_MINUTE;
        p->backup.passcode_wait = 90 * USEC_PER_SEC;
}

static void want_reset(Policy *p) {
        p->backup.min_interval = 2 * USEC_PER_DAY;
}

static void want_sync(Policy *p) {
        p->sync.enabled = false;
        p->sync.photos = SYNC_PHOTOS_NO;
        p->sync.photos_dir = (char *) "/srv/photos/alice";     /* compared, never freed */
        p->sync.music = SYNC_MEDIA_NO;
        p->sync.videos = SYNC_MEDIA_NO;
        p->sync.books = SYNC_MEDIA_NO;
        p->sync.ringtones = SYNC_MEDIA_NO;
        p->sync.crash_logs = SYNC_CRASHLOGS_COPY;
        p->sync.documents = SYNC_DOCUMENTS_IMPORT;
        p->sync.documents_dir = (char *) "/srv/docs/alice";
        p->sync.documents_apps = (char *) "com.example.notes org.example.Pages-2";
        p->sync.deletions = SYNC_DELETIONS_PROPAGATE;
        p->sync.first_sync = SYNC_FIRST_REPLACE_COMPUTER;
        p->sync.trash_days = 7;
        p->sync.apps = SYNC_APPS_INSTALL;
        p->sync.apps_dir = (char *) "/srv/ipas/alice";
        p->backup.keep = 0;
        p->backup.keep_days = 36500;
        p->backup.min_free_space = (SpaceLimit) { SPACE_BYTES, 0 };
        p->backup.passcode_wait = 0;
}

static void want_device(Policy *p) {
        p->backup.min_interval = 7 * USEC_PER_DAY;
        p->backup.min_battery = 50;
        p->backup.require_charging = true;
}

static void want_bad_sync(Policy *p) {
        /* to-device is refused, the mode stays, and the ask is kept for the summary */
        p->sync.photos = SYNC_PHOTOS_NO | SYNC_TO_DEVICE_ASKED;
        p->sync.music = SYNC_MEDIA_IMPORT | SYNC_TO_DEVICE_ASKED;
        p->sync.videos = SYNC_MEDIA_IMPORT | SYNC_TO_DEVICE_ASKED;
        p->sync.books = SYNC_MEDIA_IMPORT | SYNC_TO_DEVICE_ASKED;
        p->sync.ringtones = SYNC_MEDIA_IMPORT | SYNC_TO_DEVICE_ASKED;
        p->sync.crash_logs = SYNC_CRASHLOGS_COPY;
        p->sync.documents = SYNC_DOCUMENTS_IMPORT;
        p->sync.documents_apps = (char *) "com.example.ok";
        p->sync.deletions = SYNC_DELETIONS_NEVER;
        p->sync.voice_memos = SYNC_EXPORT_NO;
        p->sync.apps = SYNC_APPS_INSTALL;               /* a bad AppsDir= keeps the earlier */
        p->sync.apps_dir = (char *) "/srv/ipas";
}

static void want_unknown(Policy *p) {
        p->backup.keep = 4;
}

static void want_unknown_section(Policy *p) {
        p->backup.keep = 4;
        p->backup.keep_days = 3;
}

static void want_boolean(Policy *p) {
        p->backup.auto_run = false;
        p->backup.require_charging = true;
}

static void want_battery(Policy *p) {
        p->backup.min_battery = 20;
}

static void want_timespan(Policy *p) {
        p->backup.min_interval = 12 * USEC_PER_HOUR;
}

static void want_time_window(Policy *p) {
        p->backup.time_window = (TimeWindow) { .enabled = true, .start = 22 * 60, .end = 6 * 60 };
}

static void want_free_space(Policy *p) {
        p->backup.min_free_space = (SpaceLimit) { SPACE_BYTES, 20ULL << 30 };
}

static void want_keep(Policy *p) {
        p->backup.keep = 5;
        p->backup.keep_days = 7;
}

static void want_syntax(Policy *p) {
        p->backup.keep = 6;
        p->backup.keep_days = 2;
}

static void want_backup_dir(Policy *p) {
        p->store.backup_dir = (char *) "/srv/backups";
}

static void want_device_backup_dir(Policy *p) {
        p->backup.keep = 2;
}

static const struct {
        const char *name;
        WantFunc want;
} good_files[] = {
        { "empty.conf", want_defaults },
        { "full.conf", want_full },
        { "spelling.conf", want_spelling },
        { "timespans.conf", want_timespans },
        { "reset.conf", want_reset },
        { "sync.conf", want_sync },
        { "device.conf", want_device },
}, bad_files[] = {
        { "unknown-key.conf", want_unknown },
        { "unknown-section.conf", want_unknown_section },
        { "boolean.conf", want_boolean },
        { "battery.conf", want_battery },
        { "timespan.conf", want_timespan },
        { "time-window.conf", want_time_window },
        { "free-space.conf", want_free_space },
        { "keep.conf", want_keep },
        { "syntax.conf", want_syntax },
        { "backup-dir.conf", want_backup_dir },
        { "device-backup-dir.conf", want_device_backup_dir },
        { "sync.conf", want_bad_sync },
};

typedef struct Expect {
        unsigned line;
        char message[512];
        bool seen;
} Expect;

/* Read the "# mode:" and "# expect:" comments of a golden file. */
static size_t read_directives(const char *path, bool *ret_main, Expect *ex, size_t max) {
        char buf[1024];
        size_t n = 0;
        FILE *f;

        *ret_main = true;
        f = fopen(path, "re");
        if (!f)
                return 0;
        while (fgets(buf, sizeof(buf), f)) {
                unsigned line;
                int off = 0;

                buf[strcspn(buf, "\n")] = '\0';
                if (strcmp(buf, "# mode: device") == 0)
                        *ret_main = false;
                else if (sscanf(buf, "# expect: %u %n", &line, &off) == 1 && off > 0 && n < max) {
                        ex[n] = (Expect) { .line = line };
                        snprintf(ex[n].message, sizeof(ex[n].message), "%s", buf + off);
                        n++;
                }
        }
        fclose(f);
        return n;
}

static void test_golden_file(const char *dir, const char *name, WantFunc want, bool bad) {
        Expect ex[32];
        bool main_file;
        char *path = xasprintf("%s/%s", dir, name);
        char *ctx = xasprintf("%s/%s", bad ? "bad" : "good", name);
        Policy p, w;
        size_t n_ex;
        int r;

        n_ex = read_directives(path, &main_file, ex, ELEMENTSOF(ex));
        if (bad && n_ex == 0) {
                printf("FAIL: %s has no '# expect: LINE MESSAGE' comment at %s:%d\n", ctx,
                       __FILE__, __LINE__);
                failures++;
        }
        if (!bad && n_ex > 0) {
                printf("FAIL: good file %s expects warnings at %s:%d\n", ctx, __FILE__, __LINE__);
                failures++;
        }

        policy_init_defaults(&p);
        logs_reset();
        r = policy_parse_file(path, main_file, &p);
        ASSERT_EQ(r, 0);

        for (size_t i = 0; i < n_logs; i++) {
                bool matched = false;

                ASSERT_STREQ(logs[i].file, path);
                for (size_t j = 0; j < n_ex; j++)
                        if (!ex[j].seen && ex[j].line == logs[i].line &&
                            strstr(logs[i].message, ex[j].message)) {
                                ex[j].seen = matched = true;
                                break;
                        }
                checks++;
                if (!matched) {
                        printf("FAIL: %s: unexpected warning %s:%u: %s at %s:%d\n", ctx,
                               logs[i].file, logs[i].line, logs[i].message, __FILE__, __LINE__);
                        failures++;
                }
        }
        for (size_t j = 0; j < n_ex; j++) {
                checks++;
                if (!ex[j].seen) {
                        printf("FAIL: %s: no warning at line %u containing '%s' at %s:%d\n", ctx,
                               ex[j].line, ex[j].message, __FILE__, __LINE__);
                        logs_print();
                        failures++;
                }
        }
        ASSERT_EQ(n_dropped, 0);

        policy_init_defaults(&w);
        want(&w);
        assert_policy(&p, &w, ctx, __LINE__);

        policy_done(&p);
        free(path);
        free(ctx);
}

/* Every file in dir is in the table and every table entry is a file. */
static void test_golden_dir(const char *top, const char *sub, bool bad) {
        char *dir = xasprintf("%s/tests/data/policy/%s", top, sub);
        size_t n_table = bad ? sizeof(bad_files) / sizeof(bad_files[0])
                             : sizeof(good_files) / sizeof(good_files[0]);
        struct dirent *de;
        size_t found = 0;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                printf("FAIL: cannot open %s: %m at %s:%d\n", dir, __FILE__, __LINE__);
                failures++;
                free(dir);
                return;
        }
        while ((de = readdir(d))) {
                bool known = false;

                if (de->d_name[0] == '.' || !strstr(de->d_name, ".conf"))
                        continue;
                for (size_t i = 0; i < n_table; i++) {
                        const char *name = bad ? bad_files[i].name : good_files[i].name;

                        if (strcmp(name, de->d_name) == 0)
                                known = true;
                }
                checks++;
                if (!known) {
                        printf("FAIL: %s/%s has no entry in the table at %s:%d\n", sub,
                               de->d_name, __FILE__, __LINE__);
                        failures++;
                }
                found++;
        }
        closedir(d);
        ASSERT_EQ(found, n_table);

        for (size_t i = 0; i < n_table; i++) {
                if (bad)
                        test_golden_file(dir, bad_files[i].name, bad_files[i].want, true);
                else
                        test_golden_file(dir, good_files[i].name, good_files[i].want, false);
        }
        free(dir);
}

/* ---- value parsers ----------------------------------------------------------------------- */

static void test_parse_boolean(void) {
        static const struct {
                const char *s;
                int r;
        } t[] = {
                { "yes", 1 }, { "YES", 1 }, { "true", 1 }, { "on", 1 }, { "1", 1 },
                { "no", 0 }, { "False", 0 }, { "off", 0 }, { "0", 0 },
                { "", -EINVAL }, { "2", -EINVAL }, { "yess", -EINVAL }, { " yes", -EINVAL },
                { "y", -EINVAL }, { "enable", -EINVAL },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                int r = parse_boolean(t[i].s);

                checks++;
                if (r != t[i].r) {
                        printf("FAIL: parse_boolean('%s') = %d, expected %d at %s:%d\n", t[i].s,
                               r, t[i].r, __FILE__, __LINE__);
                        failures++;
                }
        }
        ASSERT_EQ(parse_boolean(NULL), -EINVAL);
}

static void test_parse_timespan(void) {
        static const struct {
                const char *s;
                int r;
                usec_t v;
        } t[] = {
                { "0", 0, 0 },
                { "30", 0, 30 * USEC_PER_SEC },
                { "30s", 0, 30 * USEC_PER_SEC },
                { "30 sec", 0, 30 * USEC_PER_SEC },
                { "5min", 0, 5 * USEC_PER_MINUTE },
                { "5m", 0, 5 * USEC_PER_MINUTE },
                { "5minutes", 0, 5 * USEC_PER_MINUTE },
                { "12h", 0, 12 * USEC_PER_HOUR },
                { "2d", 0, 2 * USEC_PER_DAY },
                { "1w", 0, 7 * USEC_PER_DAY },
                { "1h30min", 0, 90 * USEC_PER_MINUTE },
                { "1h 30min", 0, 90 * USEC_PER_MINUTE },
                { "1d 2h 3min 4s", 0, USEC_PER_DAY + 2 * USEC_PER_HOUR + 3 * USEC_PER_MINUTE +
                                              4 * USEC_PER_SEC },
                { "250ms", 0, 250000 },
                { "7us", 0, 7 },
                { " 5min ", 0, 5 * USEC_PER_MINUTE },
                { "18446744073709551615us", 0, UINT64_MAX },
                { "18446744073709551616us", -ERANGE, 0 },
                { "18446744073709551615s", -ERANGE, 0 },
                { "213503982335d", -ERANGE, 0 },
                { "18446744073709551615us 1us", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "   ", -EINVAL, 0 },
                { "-5min", -EINVAL, 0 },
                { "+5min", -EINVAL, 0 },
                { "1.5h", -EINVAL, 0 },
                { "h", -EINVAL, 0 },
                { "5 10", -EINVAL, 0 },
                { "1h 30", -EINVAL, 0 },
                { "5 parsecs", -EINVAL, 0 },
                { "5M", -EINVAL, 0 },
                { "5min,", -EINVAL, 0 },
                { "infinity", -EINVAL, 0 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                usec_t v = 4242;
                int r = parse_timespan(t[i].s, &v);

                checks++;
                if (r != t[i].r || (r == 0 && v != t[i].v) || (r < 0 && v != 4242)) {
                        printf("FAIL: parse_timespan('%s') = %d, %" PRIu64 "; expected %d, %"
                               PRIu64 " at %s:%d\n", t[i].s, r, v, t[i].r, t[i].v, __FILE__,
                               __LINE__);
                        failures++;
                }
        }
}

static void test_parse_size_or_percent(void) {
        static const struct {
                const char *s;
                int r;
                SpaceKind kind;
                uint64_t v;
        } t[] = {
                { "5%", 0, SPACE_PERCENT, 5 },
                { "0%", 0, SPACE_PERCENT, 0 },
                { "100%", 0, SPACE_PERCENT, 100 },
                { "0", 0, SPACE_BYTES, 0 },
                { "123", 0, SPACE_BYTES, 123 },
                { "1K", 0, SPACE_BYTES, 1024 },
                { "512M", 0, SPACE_BYTES, 512ULL << 20 },
                { "20G", 0, SPACE_BYTES, 20ULL << 30 },
                { "7T", 0, SPACE_BYTES, 7ULL << 40 },
                { "16777215T", 0, SPACE_BYTES, 16777215ULL << 40 },
                { "18446744073709551615", 0, SPACE_BYTES, UINT64_MAX },
                { "16777216T", -ERANGE, 0, 0 },
                { "18446744073709551616", -ERANGE, 0, 0 },
                { "101%", -ERANGE, 0, 0 },
                { "99999999999999999999%", -ERANGE, 0, 0 },
                { "", -EINVAL, 0, 0 },
                { "%", -EINVAL, 0, 0 },
                { "G", -EINVAL, 0, 0 },
                { "-1G", -EINVAL, 0, 0 },
                { "1.5G", -EINVAL, 0, 0 },
                { "20GB", -EINVAL, 0, 0 },
                { "20g", -EINVAL, 0, 0 },
                { "20 G", -EINVAL, 0, 0 },
                { "5 %", -EINVAL, 0, 0 },
                { "5%%", -EINVAL, 0, 0 },
                { "1P", -EINVAL, 0, 0 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                SpaceLimit l = { SPACE_BYTES, 4242 };
                int r = parse_size_or_percent(t[i].s, &l);

                checks++;
                if (r != t[i].r || (r == 0 && (l.kind != t[i].kind || l.value != t[i].v)) ||
                    (r < 0 && l.value != 4242)) {
                        printf("FAIL: parse_size_or_percent('%s') = %d, %d/%" PRIu64
                               "; expected %d, %d/%" PRIu64 " at %s:%d\n", t[i].s, r, l.kind,
                               l.value, t[i].r, t[i].kind, t[i].v, __FILE__, __LINE__);
                        failures++;
                }
        }
}

static void test_parse_time_window(void) {
        static const struct {
                const char *s;
                int r;
                unsigned start, end;
        } t[] = {
                { "22:00-06:00", 0, 1320, 360 },
                { "9:30-17:00", 0, 570, 1020 },
                { "09:30 - 17:00", 0, 570, 1020 },
                { "00:00-24:00", 0, 0, 1440 },
                { "23:59-00:00", 0, 1439, 0 },
                { "18:00-24:00", 0, 1080, 1440 },
                { "12:00-12:00", -EINVAL, 0, 0 },
                { "00:00-00:00", -EINVAL, 0, 0 },
                { "24:00-06:00", -ERANGE, 0, 0 },
                { "25:00-06:00", -ERANGE, 0, 0 },
                { "22:60-06:00", -ERANGE, 0, 0 },
                { "22:00-24:01", -ERANGE, 0, 0 },
                { "22:00", -EINVAL, 0, 0 },
                { "22:00-", -EINVAL, 0, 0 },
                { "-06:00", -EINVAL, 0, 0 },
                { "22-06", -EINVAL, 0, 0 },
                { "22:0-06:00", -EINVAL, 0, 0 },
                { "22:000-06:00", -EINVAL, 0, 0 },
                { "122:00-06:00", -EINVAL, 0, 0 },
                { "22:00-06:00x", -EINVAL, 0, 0 },
                { "22:00–06:00", -EINVAL, 0, 0 },       /* an en dash */
                { "", -EINVAL, 0, 0 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                TimeWindow w = { .enabled = false, .start = 7, .end = 7 };
                int r = parse_time_window(t[i].s, &w);

                checks++;
                if (r != t[i].r ||
                    (r == 0 && (!w.enabled || w.start != t[i].start || w.end != t[i].end)) ||
                    (r < 0 && (w.enabled || w.start != 7))) {
                        printf("FAIL: parse_time_window('%s') = %d, %u-%u; expected %d, %u-%u"
                               " at %s:%d\n", t[i].s, r, w.start, w.end, t[i].r, t[i].start,
                               t[i].end, __FILE__, __LINE__);
                        failures++;
                }
        }
}

static void test_time_window(void) {
        static const struct {
                const char *window;
                unsigned minute;
                bool inside;
                unsigned wait;
        } t[] = {
                { NULL, 0, true, 0 },
                { NULL, 1439, true, 0 },
                { "22:00-06:00", 22 * 60, true, 0 },
                { "22:00-06:00", 23 * 60 + 59, true, 0 },
                { "22:00-06:00", 0, true, 0 },
                { "22:00-06:00", 5 * 60 + 59, true, 0 },
                { "22:00-06:00", 6 * 60, false, 16 * 60 },
                { "22:00-06:00", 21 * 60 + 59, false, 1 },
                { "22:00-06:00", 12 * 60, false, 10 * 60 },
                { "22:00-06:00", 1440 + 60, true, 0 },  /* taken modulo a day */
                { "09:00-17:00", 9 * 60, true, 0 },
                { "09:00-17:00", 17 * 60, false, 16 * 60 },
                { "09:00-17:00", 8 * 60 + 59, false, 1 },
                { "09:00-17:00", 23 * 60, false, 10 * 60 },
                { "00:00-24:00", 1439, true, 0 },
                { "18:00-24:00", 0, false, 18 * 60 },
        };

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                Policy p;
                bool inside;
                unsigned wait;

                policy_init_defaults(&p);
                if (t[i].window)
                        ASSERT_EQ(parse_time_window(t[i].window, &p.backup.time_window), 0);
                inside = policy_time_window_contains(&p, t[i].minute);
                wait = policy_time_window_wait(&p, t[i].minute);
                checks++;
                if (inside != t[i].inside || wait != t[i].wait) {
                        printf("FAIL: window %s at minute %u: inside=%d wait=%u; expected %d %u"
                               " at %s:%d\n", t[i].window ? t[i].window : "(any)", t[i].minute,
                               inside, wait, t[i].inside, t[i].wait, __FILE__, __LINE__);
                        failures++;
                }
        }
}

static void test_min_free_bytes(void) {
        Policy p;

        policy_init_defaults(&p);
        ASSERT_EQ_U64(policy_min_free_bytes(&p, 1000), 50);            /* 5 % default */
        ASSERT_EQ_U64(policy_min_free_bytes(&p, 0), 0);
        ASSERT_EQ_U64(policy_min_free_bytes(&p, 199), 9);
        ASSERT_EQ_U64(policy_min_free_bytes(&p, UINT64_MAX), UINT64_MAX / 100 * 5 + 15 * 5 / 100);
        p.backup.min_free_space = (SpaceLimit) { SPACE_PERCENT, 100 };
        ASSERT_EQ_U64(policy_min_free_bytes(&p, UINT64_MAX), UINT64_MAX);
        p.backup.min_free_space = (SpaceLimit) { SPACE_BYTES, 20ULL << 30 };
        ASSERT_EQ_U64(policy_min_free_bytes(&p, 1000), 20ULL << 30);
}

static void test_defaults_and_copy(void) {
        Policy p, c;

        policy_init_defaults(&p);
        ASSERT_TRUE(p.backup.auto_run);
        ASSERT_EQ_U64(p.backup.min_interval, 0);
        ASSERT_TRUE(!p.backup.time_window.enabled);
        ASSERT_EQ(p.backup.min_battery, 0);
        ASSERT_TRUE(!p.backup.require_charging);
        ASSERT_TRUE(!p.backup.require_encryption);
        ASSERT_EQ(p.backup.keep, 10);
        ASSERT_EQ(p.backup.keep_days, 0);
        ASSERT_EQ(p.backup.min_free_space.kind, SPACE_PERCENT);
        ASSERT_EQ_U64(p.backup.min_free_space.value, 5);
        ASSERT_EQ_U64(p.backup.passcode_wait, 5 * USEC_PER_MINUTE);
        ASSERT_TRUE(p.store.backup_dir == NULL);
        ASSERT_TRUE(p.sync.enabled);
        ASSERT_EQ(p.sync.photos, SYNC_PHOTOS_IMPORT);
        ASSERT_EQ(p.sync.music, SYNC_MEDIA_IMPORT);
        ASSERT_EQ(p.sync.videos, SYNC_MEDIA_IMPORT);
        ASSERT_EQ(p.sync.books, SYNC_MEDIA_IMPORT);
        ASSERT_EQ(p.sync.ringtones, SYNC_MEDIA_IMPORT);
        ASSERT_TRUE(p.sync.photos_dir == NULL);
        ASSERT_EQ(p.sync.crash_logs, SYNC_CRASHLOGS_MOVE);
        ASSERT_EQ(p.sync.documents, SYNC_DOCUMENTS_TWO_WAY);
        ASSERT_TRUE(p.sync.documents_dir == NULL);
        ASSERT_TRUE(p.sync.documents_apps == NULL);
        ASSERT_EQ(p.sync.deletions, SYNC_DELETIONS_HOLD);
        ASSERT_EQ(p.sync.first_sync, SYNC_FIRST_ASK);
        ASSERT_EQ(p.sync.trash_days, 30);
        ASSERT_EQ(p.sync.apps, SYNC_APPS_INVENTORY);
        ASSERT_TRUE(p.sync.apps_dir == NULL);
        ASSERT_STREQ(sync_apps_mode_to_string(SYNC_APPS_INSTALL), "install");
        ASSERT_STREQ(sync_documents_mode_to_string(p.sync.documents), "two-way");
        ASSERT_STREQ(sync_deletions_mode_to_string(SYNC_DELETIONS_PROPAGATE), "propagate");
        ASSERT_STREQ(sync_first_sync_mode_to_string(SYNC_FIRST_REPLACE_DEVICE),
                     "replace-device");
        ASSERT_TRUE(sync_first_sync_mode_to_string((SyncFirstSyncMode) 9) == NULL);

        p.store.backup_dir = strdup("/srv/x");
        p.sync.photos_dir = strdup("/srv/p");
        p.sync.documents_dir = strdup("/srv/d");
        p.sync.documents_apps = strdup("com.example.a com.example.b");
        p.sync.apps_dir = strdup("/srv/ipas");
        p.backup.keep = 3;
        ASSERT_EQ(policy_copy(&p, &c), 0);
        assert_policy(&c, &p, "copy", __LINE__);
        ASSERT_TRUE(c.store.backup_dir != p.store.backup_dir);
        policy_done(&p);
        ASSERT_TRUE(p.store.backup_dir == NULL);
        ASSERT_EQ(p.backup.keep, 10);
        ASSERT_STREQ(c.store.backup_dir, "/srv/x");
        ASSERT_TRUE(c.sync.photos_dir != p.sync.photos_dir);
        ASSERT_STREQ(c.sync.photos_dir, "/srv/p");
        ASSERT_STREQ(c.sync.documents_dir, "/srv/d");
        ASSERT_TRUE(c.sync.apps_dir != p.sync.apps_dir);
        ASSERT_STREQ(c.sync.apps_dir, "/srv/ipas");
        ASSERT_STREQ(c.sync.documents_apps, "com.example.a com.example.b");
        ASSERT_TRUE(c.sync.documents_apps != p.sync.documents_apps);
        policy_done(&c);
        policy_done(NULL);
}

/* DocumentsApps=: bundle ids checked one by one, each kept once; empty means every app;
 * one bad id rejects the line. */
static void test_documents_apps(const char *tmp) {
        static const struct {
                const char *id;
                bool valid;
        } ids[] = {
                { "com.example.app", true },
                { "org.example.Pages-2", true },
                { "a", true },
                { "", false },
                { ".com.example", false },
                { "com.example.", false },
                { "com..example", false },
                { "com.example/evil", false },
                { "com.example app", false },
                { "com.exämple", false },
                { "com_example", false },
        };
        static const struct {
                const char *value;
                const char *want;               /* NULL: every app */
                bool warns;
        } lines[] = {
                { "com.a com.b", "com.a com.b", false },
                { "  com.a\tcom.b  com.a ", "com.a com.b", false },
                { "com.ab com.a", "com.ab com.a", false },
                { "", NULL, false },
                { "com.a ../etc", "com.z", true },
        };
        char *path = xasprintf("%s/apps.conf", tmp);
        char long_id[POLICY_BUNDLE_ID_MAX + 2];

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                if (bundle_id_is_valid(ids[i].id) != ids[i].valid)
                        printf("FAIL: bundle id '%s'\n", ids[i].id);
                ASSERT_EQ(bundle_id_is_valid(ids[i].id), ids[i].valid);
        }
        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[POLICY_BUNDLE_ID_MAX] = '\0';
        ASSERT_TRUE(bundle_id_is_valid(long_id));
        long_id[POLICY_BUNDLE_ID_MAX] = 'a';
        long_id[POLICY_BUNDLE_ID_MAX + 1] = '\0';
        ASSERT_TRUE(!bundle_id_is_valid(long_id));

        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                char *text = xasprintf("[Sync]\nDocumentsApps=com.z\nDocumentsApps=%s\n",
                                       lines[i].value);
                Policy p;

                put(tmp, "apps.conf", text);
                policy_init_defaults(&p);
                logs_reset();
                ASSERT_OK(policy_parse_file(path, true, &p));
                ASSERT_STREQ(p.sync.documents_apps, lines[i].want);
                ASSERT_EQ(n_logs, lines[i].warns ? 1 : 0);
                if (lines[i].warns && n_logs > 0)
                        ASSERT_EQ(logs[0].line, 3);
                policy_done(&p);
                free(text);
        }
        free(path);
}

/* Contacts= and Calendars= take two-way, the other exports do not (a file:line warning,
 * the default stays); the helper's word list spells a two-way one "name=two-way". */
static void test_pim_modes(const char *tmp) {
        char *path = xasprintf("%s/pim.conf", tmp);
        char words[128];
        Policy p;

        put(tmp, "pim.conf", "[Sync]\nContacts=two-way\nCalendars=two-way\nBookmarks=two-way\n"
            "Notes=no\n");
        policy_init_defaults(&p);
        logs_reset();
        ASSERT_OK(policy_parse_file(path, true, &p));
        ASSERT_EQ(p.sync.contacts, SYNC_EXPORT_TWO_WAY);
        ASSERT_EQ(p.sync.calendars, SYNC_EXPORT_TWO_WAY);
        ASSERT_EQ(p.sync.bookmarks, SYNC_EXPORT_YES);
        ASSERT_EQ(n_logs, 1);
        if (n_logs > 0)
                ASSERT_EQ(logs[0].line, 4);
        sync_exports_to_string(&p.sync, words, sizeof(words));
        ASSERT_STREQ(words, "contacts=two-way calendars=two-way bookmarks voice-memos");
        policy_done(&p);
        free(path);
}

/* NewDevice=: the four forms; restore-from needs a valid UDID, kept canonical; a bad value
 * warns and keeps the earlier one. */
static void test_new_device(const char *tmp) {
        static const struct {
                const char *value;
                NewDeviceMode mode;
                const char *udid;
                bool warns;
        } lines[] = {
                { "ask", NEW_DEVICE_ASK, "", false },
                { "new", NEW_DEVICE_NEW, "", false },
                { "restore-latest", NEW_DEVICE_RESTORE_LATEST, "", false },
                { "restore-from:00008030-001a2b3c4d5e6f70", NEW_DEVICE_RESTORE_FROM,
                  "00008030-001A2B3C4D5E6F70", false },
                { "restore-from", NEW_DEVICE_NEW, "", true },
                { "restore-from:", NEW_DEVICE_NEW, "", true },
                { "restore-from:not/a/udid", NEW_DEVICE_NEW, "", true },
                { "Restore-Latest", NEW_DEVICE_NEW, "", true },
        };
        char *path = xasprintf("%s/newdev.conf", tmp);
        Policy p;

        policy_init_defaults(&p);
        ASSERT_EQ(p.backup.new_device.mode, NEW_DEVICE_ASK);
        ASSERT_TRUE(p.restore.system_files && p.restore.settings && p.restore.remove_items);
        policy_done(&p);
        /* [Restore]: each of what a restore carries can be turned off. */
        put(tmp, "newdev.conf", "[Restore]\nSystemFiles=no\nRemoveItemsNotRestored=0\n");
        policy_init_defaults(&p);
        logs_reset();
        ASSERT_OK(policy_parse_file(path, false, &p));
        ASSERT_TRUE(!p.restore.system_files && p.restore.settings && !p.restore.remove_items);
        ASSERT_EQ(n_logs, 0);
        policy_done(&p);
        ASSERT_STREQ(new_device_mode_to_string(NEW_DEVICE_RESTORE_LATEST), "restore-latest");
        ASSERT_TRUE(new_device_mode_to_string((NewDeviceMode) 9) == NULL);
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                char *text = xasprintf("[Backup]\nNewDevice=new\nNewDevice=%s\n",
                                       lines[i].value);

                put(tmp, "newdev.conf", text);
                policy_init_defaults(&p);
                logs_reset();
                ASSERT_OK(policy_parse_file(path, false, &p));
                if (p.backup.new_device.mode != lines[i].mode)
                        printf("FAIL: NewDevice=%s\n", lines[i].value);
                ASSERT_EQ(p.backup.new_device.mode, lines[i].mode);
                ASSERT_STREQ(p.backup.new_device.udid, lines[i].udid);
                ASSERT_EQ(n_logs, lines[i].warns ? 1 : 0);
                policy_done(&p);
                free(text);
        }
        free(path);
}

/* ---- bounds and odd files ---------------------------------------------------------------- */

static void test_line_bounds(const char *tmp) {
        char *path = xasprintf("%s/lines.conf", tmp);
        size_t cap = 3 * POLICY_LINE_MAX, o = 0;
        char *buf = malloc(cap);
        Policy p;

        /* 1: BOM + header, 2: comment of exactly POLICY_LINE_MAX bytes (fine),
         * 3: POLICY_LINE_MAX + 1 bytes (too long), 4: NUL byte, 5: CRLF, 6: no final newline */
        o += (size_t) sprintf(buf + o, "\xef\xbb\xbf[Backup]\n#");
        memset(buf + o, 'x', POLICY_LINE_MAX - 1);
        o += POLICY_LINE_MAX - 1;
        o += (size_t) sprintf(buf + o, "\nMinBattery=");
        memset(buf + o, '7', POLICY_LINE_MAX + 1 - strlen("MinBattery="));
        o += POLICY_LINE_MAX + 1 - strlen("MinBattery=");
        memcpy(buf + o, "\nKeep=\0" "4\nKeep=8\r\nKeepDays=9", 27);
        o += 27;
        write_file(path, buf, o);

        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), 0);
        ASSERT_EQ(n_logs, 2);
        if (n_logs == 2) {
                ASSERT_EQ(logs[0].line, 3);
                ASSERT_TRUE(strstr(logs[0].message, "Line too long (4097 bytes, at most 4096)"));
                ASSERT_EQ(logs[1].line, 4);
                ASSERT_STREQ(logs[1].message, "Line contains a NUL byte, ignoring");
        } else
                logs_print();
        ASSERT_EQ(p.backup.min_battery, 0);
        ASSERT_EQ(p.backup.keep, 8);
        ASSERT_EQ(p.backup.keep_days, 9);
        policy_done(&p);

        /* exactly POLICY_FILE_MAX bytes is fine, one more is refused */
        free(buf);
        buf = malloc(POLICY_FILE_MAX + 1);
        memset(buf, '\n', POLICY_FILE_MAX + 1);
        memcpy(buf, "[Backup]\nKeep=2\n", 16);
        write_file(path, buf, POLICY_FILE_MAX);
        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), 0);
        ASSERT_EQ(p.backup.keep, 2);
        ASSERT_EQ(n_logs, 0);
        write_file(path, buf, POLICY_FILE_MAX + 1);
        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), -EFBIG);
        ASSERT_EQ(p.backup.keep, 10);
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1) {
                ASSERT_EQ(logs[0].level, LOG_ERR);
                ASSERT_EQ(logs[0].line, 0);
                ASSERT_STREQ(logs[0].file, path);
        }
        free(buf);

        /* untrusted text is escaped and cut in messages */
        put(tmp, "lines.conf", "[Backup]\nKeep=\x1b[31m'red'\\\nMinBattery="
            "123456789012345678901234567890123456789012345678901234567890123456789012345678"
            "90\n");
        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), 0);
        ASSERT_EQ(n_logs, 2);
        if (n_logs == 2) {
                ASSERT_STREQ(logs[0].message, "Failed to parse Keep='\\x1b[31m\\x27red\\x27\\x5c'"
                             " (expected a number of snapshots, 0 for no limit), ignoring");
                ASSERT_TRUE(strstr(logs[1].message, "='1234567890123456789012345678901234567890"
                                   "123456789012345678901234...' is out of range"));
        }
        policy_done(&p);
        free(path);
}

static void test_odd_files(const char *tmp) {
        char *path = xasprintf("%s/odd.conf", tmp);
        Policy p;

        policy_init_defaults(&p);
        p.backup.keep = 3;
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), -ENOENT);  /* missing: silent, unchanged */
        ASSERT_EQ(n_logs, 0);
        ASSERT_EQ(p.backup.keep, 3);

        mkdir_p(path);
        ASSERT_EQ(policy_parse_file(path, true, &p), -EISDIR);
        ASSERT_EQ(n_logs, 1);
        (void) rmdir(path);

        ASSERT_EQ(mkfifo(path, 0600), 0);       /* must not block in open() or read() */
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), -EINVAL);
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1)
                ASSERT_STREQ(logs[0].message, "Not a regular file, refusing");
        (void) unlink(path);

        ASSERT_EQ(symlink("/dev/null", path), 0);       /* a mask: applies nothing */
        logs_reset();
        ASSERT_EQ(policy_parse_file(path, true, &p), 0);
        ASSERT_EQ(n_logs, 0);
        ASSERT_EQ(p.backup.keep, 3);
        (void) unlink(path);

        ASSERT_EQ(policy_parse_file(NULL, true, &p), -EINVAL);
        ASSERT_EQ(policy_parse_file(path, true, NULL), -EINVAL);
        policy_done(&p);
        free(path);
}

/* The default log hook writes "<N>file:line: message" to stderr and drops debug notes. */
static void test_default_log(const char *tmp) {
        char *path = xasprintf("%s/log.conf", tmp);
        char *out = xasprintf("%s/stderr", tmp);
        char *want = xasprintf("<4>%s:2: Unknown key 'Bogus' in section [Backup], ignoring\n"
                               "<4>%s:3: Unknown section [Nope], ignoring its assignments\n"
                               "<4>%s:5: Unknown key 'X' in section [Sync], ignoring\n",
                               path, path, path);
        char got[2048] = "";
        int fd, saved;
        Policy p;
        FILE *f;

        put(tmp, "log.conf", "[Backup]\nBogus=1\n[Nope]\n[Sync]\nX=1\n");
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(saved >= 0 && fd >= 0);
        (void) dup2(fd, STDERR_FILENO);
        close(fd);

        policy_set_log_func(NULL, NULL);
        policy_init_defaults(&p);
        ASSERT_EQ(policy_parse_file(path, true, &p), 0);
        policy_set_log_func(capture, NULL);

        fflush(stderr);
        (void) dup2(saved, STDERR_FILENO);
        close(saved);
        f = fopen(out, "re");
        if (f) {
                size_t n = fread(got, 1, sizeof(got) - 1, f);

                got[n] = '\0';
                fclose(f);
        }
        ASSERT_STREQ(got, want);
        policy_done(&p);
        free(path);
        free(out);
        free(want);
}

/* ---- load order ---------------------------------------------------------------------------- */

typedef struct Tree {
        char *etc, *run, *lib;
        char *etc_d, *run_d, *lib_d, *devices;
        PolicyDirs dirs;
} Tree;

static void tree_make(Tree *t, const char *tmp) {
        t->etc = xasprintf("%s/etc/idevicesync", tmp);
        t->run = xasprintf("%s/run/idevicesync", tmp);
        t->lib = xasprintf("%s/usr/lib/idevicesync", tmp);
        t->etc_d = xasprintf("%s/idevicesync.conf.d", t->etc);
        t->run_d = xasprintf("%s/idevicesync.conf.d", t->run);
        t->lib_d = xasprintf("%s/idevicesync.conf.d", t->lib);
        t->devices = xasprintf("%s/devices.d", t->etc);
        mkdir_p(t->etc_d);
        mkdir_p(t->run_d);
        mkdir_p(t->lib_d);
        mkdir_p(t->devices);
        t->dirs = (PolicyDirs) { .config_dir = t->etc, .runtime_dir = t->run,
                                 .vendor_dir = t->lib };

        put(t->etc, "idevicesync.conf", "[Backup]\nKeep=1\nMinBattery=10\n");
        /* sorted by name across the three directories: 10, 20, 25, 30, 40, 50, 60 */
        put(t->lib_d, "10-vendor.conf", "[Backup]\nKeep=2\nKeepDays=7\n"
            "[Store]\nBackupDir=/srv/vendor\n");
        put(t->run_d, "20-runtime.conf", "[Backup]\nKeep=3\n");
        put(t->run_d, "25-masks.conf", "[Backup]\nRequireCharging=yes\n");
        put(t->lib_d, "25-masks.conf", "[Backup]\nRequireCharging=maybe\nAutoRun=no\n");
        put(t->etc_d, "30-admin.conf", "[Backup]\nMinBattery=30\n");
        put(t->lib_d, "30-admin.conf", "[Backup]\nMinBattery=99\nBogus=masked\n");
        put(t->run_d, "40-late.conf", "[Backup]\nKeep=4\n");
        put(t->lib_d, "50-vendor-last.conf", "[Backup]\nKeepDays=30\n");
        put(t->lib_d, "60-null.conf", "[Backup]\nKeep=99\n");
        {
                char *link = xasprintf("%s/60-null.conf", t->etc_d);

                ASSERT_EQ(symlink("/dev/null", link), 0);
                free(link);
        }
        /* not drop-ins: no .conf suffix, hidden, backup copies */
        put(t->etc_d, "README", "[Backup]\nKeep=77\n");
        put(t->etc_d, ".hidden.conf", "[Backup]\nKeep=77\n");
        put(t->etc_d, "70-old.conf~", "[Backup]\nKeep=77\n");
        put(t->run_d, ".conf", "[Backup]\nKeep=77\n");
        put(t->devices, UDID ".conf", "# a device file\n[Backup]\nKeep=5\n"
            "[Store]\nBackupDir=/srv/phone\n");
}

static void tree_free(Tree *t) {
        free(t->etc);
        free(t->run);
        free(t->lib);
        free(t->etc_d);
        free(t->run_d);
        free(t->lib_d);
        free(t->devices);
}

static void want_tree_global(Policy *w) {
        policy_init_defaults(w);
        w->backup.keep = 4;                    /* 40-late.conf from /run, sorted after /etc's 30 */
        w->backup.min_battery = 30;            /* /etc's 30-admin.conf masks /usr/lib's */
        w->backup.keep_days = 30;              /* /usr/lib's 50-vendor-last.conf comes last */
        w->backup.require_charging = true;     /* /run's 25-masks.conf masks /usr/lib's */
        w->store.backup_dir = (char *) "/srv/vendor";       /* BackupDir= is fine in drop-ins */
}

static void test_load_order(const char *tmp) {
        Policy p, w;
        Tree t;

        tree_make(&t, tmp);

        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, NULL, &p), 0);
        ASSERT_EQ(n_logs, 0);
        logs_print();
        want_tree_global(&w);
        assert_policy(&p, &w, "global", __LINE__);

        /* the device file comes last; BackupDir= there is reported and ignored */
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, UDID, &p), 0);
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1) {
                char *f = xasprintf("%s/" UDID ".conf", t.devices);

                ASSERT_STREQ(logs[0].file, f);
                ASSERT_EQ(logs[0].line, 5);
                ASSERT_STREQ(logs[0].message,
                             "BackupDir= is only allowed in idevicesync.conf, ignoring");
                free(f);
        }
        w.backup.keep = 5;
        assert_policy(&p, &w, "device", __LINE__);

        /* a device without a file gets the global policy; a reload starts from defaults */
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, "00008030-0000000000000001", &p), 0);
        ASSERT_EQ(n_logs, 0);
        want_tree_global(&w);
        assert_policy(&p, &w, "other device", __LINE__);

        /* UDIDs are file names: only 1..64 of [0-9A-Fa-f-] */
        static const char *const bad_udids[] = {
                "", "../etc", "0000/0000", "00008030-0000000000000001.conf", "zzzz", " 0000",
                "00000000000000000000000000000000000000000000000000000000000000000",
        };
        for (size_t i = 0; i < sizeof(bad_udids) / sizeof(bad_udids[0]); i++) {
                p.backup.keep = 42;
                ASSERT_EQ(policy_load_from(&t.dirs, bad_udids[i], &p), -EINVAL);
                ASSERT_EQ(p.backup.keep, 42);
        }
        ASSERT_EQ(policy_load_from(&t.dirs, "00000000000000000000000000000000"
                                   "00000000000000000000000000000000", &p), 0);
        ASSERT_EQ(policy_load_from(&t.dirs, "abcdefABCDEF-0", &p), 0);

        /* nothing at all: the defaults */
        {
                char *empty = xasprintf("%s/nothing", tmp);
                PolicyDirs none = { .config_dir = empty, .runtime_dir = empty,
                                    .vendor_dir = empty };
                Policy d;

                policy_init_defaults(&d);
                ASSERT_EQ(policy_load_from(&none, UDID, &p), 0);
                assert_policy(&p, &d, "no files", __LINE__);
                free(empty);
        }
        ASSERT_EQ(policy_load_from(NULL, NULL, &p), -EINVAL);
        policy_done(&p);
        tree_free(&t);
}

/* policy_load(): $CONFIGURATION_DIRECTORY and the test overrides of /run and /usr/lib. */
static void test_environment(const char *tmp) {
        char *conf;
        Policy p, w;
        Tree t;

        tree_make(&t, tmp);
        conf = xasprintf("%s:/nonexistent", t.etc);     /* systemd's list form: first entry */
        setenv("CONFIGURATION_DIRECTORY", conf, 1);
        setenv("IDEVICESYNC_RUNTIME_CONFIG_DIR", t.run, 1);
        setenv("IDEVICESYNC_VENDOR_CONFIG_DIR", t.lib, 1);
        unsetenv("RUNTIME_DIRECTORY");

        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_load(NULL, &p), 0);
        ASSERT_EQ(n_logs, 0);
        want_tree_global(&w);
        assert_policy(&p, &w, "environment", __LINE__);

        /* $RUNTIME_DIRECTORY stands in for /run/idevicesync when the override is unset */
        unsetenv("IDEVICESYNC_RUNTIME_CONFIG_DIR");
        setenv("RUNTIME_DIRECTORY", t.run, 1);
        ASSERT_EQ(policy_load(NULL, &p), 0);
        assert_policy(&p, &w, "RUNTIME_DIRECTORY", __LINE__);

        /* without the runtime directory: 20-runtime, 25-masks and 40-late are gone, and
         * /usr/lib's 25-masks.conf (a bad line, AutoRun=no) now applies */
        setenv("RUNTIME_DIRECTORY", "/nonexistent", 1);
        logs_reset();
        ASSERT_EQ(policy_load(UDID, &p), 0);
        ASSERT_EQ(n_logs, 2);   /* RequireCharging=maybe, BackupDir= in devices.d */
        w.backup.keep = 5;
        w.backup.auto_run = false;
        w.backup.require_charging = false;
        assert_policy(&p, &w, "no runtime dir", __LINE__);

        unsetenv("CONFIGURATION_DIRECTORY");
        unsetenv("IDEVICESYNC_VENDOR_CONFIG_DIR");
        unsetenv("RUNTIME_DIRECTORY");
        policy_done(&p);
        free(conf);
        tree_free(&t);
}

/* Unreadable files keep the previous policy. Run as the user who cannot read them. */
static unsigned check_unreadable(const Tree *t) {
        unsigned before = failures;
        char *main_file = xasprintf("%s/idevicesync.conf", t->etc);
        char *dev = xasprintf("%s/" UDID ".conf", t->devices);
        Policy p, w;

        policy_init_defaults(&p);
        ASSERT_EQ(policy_load_from(&t->dirs, UDID, &p), 0);
        want_tree_global(&w);
        w.backup.keep = 5;
        assert_policy(&p, &w, "readable", __LINE__);

        ASSERT_EQ(chmod(main_file, 0), 0);
        logs_reset();
        ASSERT_EQ(policy_load_from(&t->dirs, UDID, &p), -EACCES);
        assert_policy(&p, &w, "main file unreadable", __LINE__);
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1) {
                ASSERT_STREQ(logs[0].file, main_file);
                ASSERT_EQ(logs[0].level, LOG_ERR);
                ASSERT_STREQ(logs[0].message, "Failed to read: Permission denied");
        }
        ASSERT_EQ(chmod(main_file, 0644), 0);

        ASSERT_EQ(chmod(dev, 0), 0);
        ASSERT_EQ(policy_load_from(&t->dirs, UDID, &p), -EACCES);
        assert_policy(&p, &w, "device file unreadable", __LINE__);
        ASSERT_EQ(policy_load_from(&t->dirs, NULL, &p), 0);    /* the global one still loads */
        ASSERT_EQ(chmod(dev, 0644), 0);

        ASSERT_EQ(chmod(t->run_d, 0), 0);
        logs_reset();
        ASSERT_EQ(policy_load_from(&t->dirs, UDID, &p), -EACCES);
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1)
                ASSERT_STREQ(logs[0].file, t->run_d);
        ASSERT_EQ(chmod(t->run_d, 0755), 0);

        ASSERT_EQ(policy_load_from(&t->dirs, UDID, &p), 0);
        w.backup.keep = 5;
        assert_policy(&p, &w, "readable again", __LINE__);
        policy_done(&p);
        free(main_file);
        free(dev);
        return failures - before;
}

static void test_unreadable(const char *tmp) {
        char *dropin;
        Policy p, w;
        Tree t;

        tree_make(&t, tmp);

        /* root can read anything, but not a directory or an oversized file */
        policy_init_defaults(&p);
        ASSERT_EQ(policy_load_from(&t.dirs, NULL, &p), 0);
        want_tree_global(&w);
        dropin = xasprintf("%s/20-runtime.conf", t.run_d);
        (void) unlink(dropin);
        mkdir_p(dropin);
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, NULL, &p), -EISDIR);
        ASSERT_EQ(n_logs, 1);
        assert_policy(&p, &w, "drop-in is a directory", __LINE__);
        (void) rmdir(dropin);
        put(t.run_d, "20-runtime.conf", "[Backup]\nKeep=3\n");
        free(dropin);

        if (geteuid() != 0) {
                (void) check_unreadable(&t);
        } else {
                pid_t pid;
                int st;

                /* root ignores mode 000: let uid 65534 try instead, in a child that owns
                 * the tree (so it can chmod it); the parents are 0755, see main() */
                chown_r(tmp, 65534, 65534);
                fflush(stdout);
                pid = fork();
                if (pid == 0) {
                        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
                            setresuid(65534, 65534, 65534) < 0) {
                                printf("cannot drop to uid 65534: %m\n");
                                _exit(77);
                        }
                        unsigned f = check_unreadable(&t);
                        tree_free(&t);
                        policy_done(&p);
                        fflush(stdout);
                        _exit(f > 0 ? 1 : 0);
                }
                checks++;
                if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st)) {
                        printf("FAIL: unreadable-file child died at %s:%d\n", __FILE__, __LINE__);
                        failures++;
                } else if (WEXITSTATUS(st) == 77)
                        printf("note: unreadable-file case skipped: cannot drop privileges\n");
                else if (WEXITSTATUS(st) != 0) {
                        printf("FAIL: unreadable-file checks failed as uid 65534 at %s:%d\n",
                               __FILE__, __LINE__);
                        failures++;
                }
        }
        policy_done(&p);
        tree_free(&t);
}

/* devices.d file names match UDIDs ignoring letter case (issue 10): a lower-case file
 * applies to the upper-case UDID usbmuxd reports and the other way round; two files that
 * differ only in case: the later by name wins, and one warning names both. */
static void test_udid_case(const char *tmp) {
        Policy p;
        Tree t;

        tree_make(&t, tmp);
        put(t.devices, "00008030-0000000000000abc.conf", "[Backup]\nAutoRun=no\n");
        put(t.devices, "00008030-0000000000000DEF.conf", "[Backup]\nKeep=7\n");

        policy_init_defaults(&p);
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, "00008030-0000000000000ABC", &p), 0);
        ASSERT_EQ(p.backup.auto_run, false);
        ASSERT_EQ(n_logs, 0);
        ASSERT_EQ(policy_load_from(&t.dirs, "00008030-0000000000000def", &p), 0);
        ASSERT_EQ(p.backup.keep, 7u);
        ASSERT_EQ(p.backup.auto_run, true);

        /* Both spellings: "...ABC.conf" < "...abc.conf" by strcmp, so the lower-case one wins. */
        put(t.devices, "00008030-0000000000000ABC.conf", "[Backup]\nAutoRun=yes\nKeep=3\n");
        logs_reset();
        ASSERT_EQ(policy_load_from(&t.dirs, "00008030-0000000000000ABC", &p), 0);
        ASSERT_EQ(p.backup.auto_run, false);
        ASSERT_EQ(p.backup.keep, 4u);   /* the main file's: the upper-case file is not applied */
        ASSERT_EQ(n_logs, 1);
        if (n_logs == 1) {
                ASSERT_TRUE(strstr(logs[0].message, "00008030-0000000000000ABC.conf") != NULL);
                ASSERT_TRUE(strstr(logs[0].message, "00008030-0000000000000abc.conf") != NULL);
                ASSERT_TRUE(strstr(logs[0].message, "using 00008030-0000000000000abc.conf") !=
                            NULL);
        }
        policy_done(&p);
        tree_free(&t);
}

/* The main file is parsed once per load (a ConfigSet); each device's policy is a copy of
 * that base with its devices.d file applied, so a bad line of the main file is reported
 * once however many devices there are (issue 11). */
static void test_base_once(const char *tmp) {
        ConfigSet *c = NULL;
        Policy a, b;
        Tree t;

        tree_make(&t, tmp);
        put(t.etc, "idevicesync.conf", "[Backup]\nBogus=1\n");
        put(t.devices, "00008030-00000000000000A1.conf", "[Backup]\nKeep=2\n");
        logs_reset();
        ASSERT_EQ(config_load_from(&t.dirs, &c), 0);
        ASSERT_EQ(n_logs, 1);
        ASSERT_EQ(config_policy_for_device(c, "00008030-00000000000000a1", &a), 0);
        ASSERT_EQ(config_policy_for_device(c, "00008030-00000000000000B2", &b), 0);
        ASSERT_EQ(n_logs, 1);
        ASSERT_EQ(a.backup.keep, 2u);
        ASSERT_EQ(b.backup.keep, config_base(c)->backup.keep);
        ASSERT_TRUE(config_base(c)->backup.keep != 2u);         /* the base is not touched */
        policy_done(&a);
        policy_done(&b);
        config_set_free(c);
        tree_free(&t);
}

int main(void) {
        const char *top = getenv("TOP");
        char tmpl[] = "/tmp/test-config.XXXXXX";
        char sub[PATH_MAX], *tmp;

        if (!top || !*top)
                top = ".";
        umask(022);
        tmp = mkdtemp(tmpl);
        if (!tmp || chmod(tmp, 0755) < 0) {     /* 0755: uid 65534 must reach the files */
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }
        policy_set_log_func(capture, NULL);

        test_golden_dir(top, "good", false);
        test_golden_dir(top, "bad", true);
        test_parse_boolean();
        test_parse_timespan();
        test_parse_size_or_percent();
        test_parse_time_window();
        test_time_window();
        test_min_free_bytes();
        test_defaults_and_copy();
        test_documents_apps(tmp);
        test_new_device(tmp);
        test_line_bounds(tmp);
        test_odd_files(tmp);
        test_default_log(tmp);
        test_pim_modes(tmp);

        /* fixed buffers: the child forked by test_unreadable() must not inherit heap memory
         * it cannot free (valgrind checks the child too) */
        snprintf(sub, sizeof(sub), "%s/order", tmp);
        mkdir_p(sub);
        test_load_order(sub);
        snprintf(sub, sizeof(sub), "%s/env", tmp);
        mkdir_p(sub);
        test_environment(sub);
        snprintf(sub, sizeof(sub), "%s/unreadable", tmp);
        mkdir_p(sub);
        test_unreadable(sub);
        snprintf(sub, sizeof(sub), "%s/case", tmp);
        mkdir_p(sub);
        test_udid_case(sub);
        snprintf(sub, sizeof(sub), "%s/base", tmp);
        mkdir_p(sub);
        test_base_once(sub);

        (void) rm_rf(tmp);
        if (failures > 0) {
                printf("FAIL: %u of %u checks failed\n", failures, checks);
                return 1;
        }
        printf("ok: %u checks passed\n", checks);
        return 0;
}
