/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of the contacts and calendar databases of a profile (profile-pim-contacts.c,
 * and their plumbing in gen-profile and mutate): for iOS 15.7, 16.6, 17.5, 18.1 and 19.0
 * the databases carry the schema of that version (or the "future" one), their row counts
 * agree with contacts.json and calendars.json, the same seed gives the same bytes, the
 * file-count rule of gen-profile still holds with the databases on top, and mutate
 * --pim-* changes, adds and deletes as asked while the generic --change leaves the
 * databases alone.
 *
 * Everything happens in a mkdtemp() directory under $TMPDIR (or /tmp) that is removed at
 * the end. Prints "FAIL: <expr> at file:line" for each failed check; exits 0 only if none
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "emu.h"
#include "test-emu-util.h"

#define AB "/backup/HomeDomain/Library/AddressBook/AddressBook.sqlitedb"
#define ABI "/backup/HomeDomain/Library/AddressBook/AddressBookImages.sqlitedb"
#define CAL "/backup/HomeDomain/Library/Calendar/Calendar.sqlitedb"

static char top[4096];

/* The whole file at dir + rel (NUL-terminated), or NULL; *ret_n its size. */
static char *slurp(const char *dir, const char *rel, size_t *ret_n) {
        char path[8192];
        FILE *f;
        char *p;
        long n;

        snprintf(path, sizeof(path), "%s%s", dir, rel);
        f = fopen(path, "rb");
        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return NULL;
        }
        p = malloc((size_t) n + 1);
        if (p && fread(p, 1, (size_t) n, f) != (size_t) n) {
                free(p);
                p = NULL;
        }
        fclose(f);
        if (p) {
                p[n] = '\0';
                if (ret_n)
                        *ret_n = (size_t) n;
        }
        return p;
}

static size_t count_str(const char *hay, const char *needle) {
        size_t n = 0;

        for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

/* One integer from SQL on the database dir + rel; -1 on failure. */
static long long query_int(const char *dir, const char *rel, const char *sql) {
        char path[8192];
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        long long v = -1;

        snprintf(path, sizeof(path), "%s%s", dir, rel);
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
                v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

/* Whether table has column (PRAGMA table_info). */
static bool has_column(const char *dir, const char *rel, const char *table, const char *column) {
        char sql[256];

        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM pragma_table_info('%s') WHERE name = '%s'",
                 table, column);
        return query_int(dir, rel, sql) == 1;
}

static bool has_table(const char *dir, const char *rel, const char *table) {
        char sql[256];

        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND "
                 "name = '%s'", table);
        return query_int(dir, rel, sql) == 1;
}

static unsigned backup_files;

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *f) {
        if (flag == FTW_F && S_ISREG(st->st_mode))
                backup_files++;
        return 0;
}

static char *gen(const char *name, const char *ios, uint64_t seed) {
        GenOptions o = { .seed = seed, .ios = ios, .files = 40, .bytes = 1u << 20, .photos = 2,
                         .apps = 1, .crashlogs = 0, .contacts = 25, .events = 40 };
        char *dir;

        if (asprintf(&dir, "%s/%s", top, name) < 0)
                return NULL;
        if (profile_generate(dir, &o) < 0) {
                free(dir);
                return NULL;
        }
        return dir;
}

/* The schema, the counts against the JSON, and the file-count rule of one version. */
static void check_profile(const char *ios, bool *saw_yearless) {
        char name[32], want[64], *dir;
        char *contacts, *calendars;
        bool future = strcmp(ios, "19.0") == 0;
        int major = atoi(ios);
        const char *items = future ? "CalendarEvent" : "CalendarItem";
        char sql[256];
        char path[8192];

        snprintf(name, sizeof(name), "v%s", ios);
        dir = gen(name, ios, 11);
        ASSERT_OR_RETURN(dir);
        contacts = slurp(dir, "/contacts.json", NULL);
        calendars = slurp(dir, "/calendars.json", NULL);
        ASSERT_OR_RETURN(contacts && calendars);

        snprintf(want, sizeof(want), "{\"ios\":\"%s\",\"schema\":\"%s\"", ios,
                 future ? "future" : major == 15 ? "ios15" : major == 16 ? "ios16"
                                   : major == 17 ? "ios17" : "ios18");
        ASSERT(strncmp(contacts, want, strlen(want)) == 0);
        ASSERT(strncmp(calendars, want, strlen(want)) == 0);

        /* AddressBook: the name columns, the version's trailing columns, the rows. */
        ASSERT(has_column(dir, AB, "ABPerson", "First") == !future);
        ASSERT(has_column(dir, AB, "ABPerson", "Last") == !future);
        ASSERT(has_column(dir, AB, "ABPerson", "GivenName") == future);
        ASSERT(has_column(dir, AB, "ABPerson", "guid"));
        ASSERT(has_column(dir, AB, "ABPerson", "Birthday"));
        ASSERT(has_column(dir, AB, "ABPerson", "Wallpaper") == (major >= 17));
        ASSERT(has_column(dir, AB, "ABPerson", "WallpaperURI") == (major >= 18));
        ASSERT(has_column(dir, AB, "ABMultiValue", "property"));
        ASSERT(has_table(dir, AB, "ABMultiValueEntryKey"));
        ASSERT(has_table(dir, AB, "ABGroupMembers"));
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABPerson"),
                      count_str(contacts, "\n{\"id\":"));
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABPerson"), 25);
        ASSERT_EQ_INT(query_int(dir, ABI, "SELECT COUNT(*) FROM ABFullSizeImage"),
                      count_str(contacts, "\"photo_sha256\":\""));
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABMultiValue WHERE property = 5"),
                      count_str(contacts, "\"street\":"));
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABMultiValue WHERE property = 22"),
                      count_str(contacts, "\"value\":\"https://"));
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABGroup"), 4);
        ASSERT(query_int(dir, AB, "SELECT COUNT(*) FROM ABMultiValueLabel WHERE value = "
                                  "'_$!<Mobile>!$_' OR value = '_$!<Home>!$_'") >= 1);
        /* Year-less birthdays are year 1604 in the database, "--MM-DD" in the JSON. */
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABPerson WHERE Birthday IS NOT "
                                         "NULL AND CAST(Birthday AS REAL) < -12000000000"),
                      count_str(contacts, "\"birthday\":\"--"));
        if (strstr(contacts, "\"birthday\":\"--"))
                *saw_yearless = true;

        /* Calendar: the events table by its version's name, masters and modified
         * occurrences, rules, exceptions. */
        ASSERT(has_table(dir, CAL, items));
        ASSERT(has_table(dir, CAL, "CalendarItem") == !future);
        ASSERT(has_column(dir, CAL, items, "start_tz"));
        ASSERT(has_column(dir, CAL, items, "orig_item_id"));
        ASSERT(has_column(dir, CAL, items, "conference_url_detected") == (major >= 17));
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE orig_item_id = 0", items);
        ASSERT_EQ_INT(query_int(dir, CAL, sql), count_str(calendars, "{\"uid\":"));
        ASSERT_EQ_INT(query_int(dir, CAL, sql), 40);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE orig_item_id != 0", items);
        ASSERT_EQ_INT(query_int(dir, CAL, sql), count_str(calendars, "\"recurrence_id\":"));
        ASSERT(query_int(dir, CAL, sql) > 0);
        ASSERT_EQ_INT(query_int(dir, CAL, "SELECT COUNT(*) FROM Recurrence"),
                      40 - count_str(calendars, "\"rrule\":null"));
        ASSERT(query_int(dir, CAL, "SELECT COUNT(*) FROM ExceptionDate") > 0);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE start_tz = '_float' AND "
                 "all_day = 0", items);
        ASSERT_EQ_INT(query_int(dir, CAL, sql), count_str(calendars, "\"tz\":\"floating\"") -
                                                        count_str(calendars, "\"all_day\":true"));
        ASSERT_EQ_INT(query_int(dir, CAL, "SELECT COUNT(*) FROM Participant WHERE entity_type = 7"),
                      count_str(calendars, "{\"email\":"));
        ASSERT_EQ_INT(query_int(dir, CAL, "SELECT COUNT(*) FROM Calendar"), 4);
        ASSERT(strstr(calendars, "\"tz\":\"America/New_York\""));
        ASSERT(strstr(calendars, "\"tz\":\"Asia/Tokyo\""));
        ASSERT(strstr(calendars, "\"tz\":\"UTC\""));

        /* gen-profile's 40 files, and the three databases on top of them. */
        backup_files = 0;
        snprintf(path, sizeof(path), "%s/backup", dir);
        ASSERT(nftw(path, count_file, 16, FTW_PHYS) == 0);
        ASSERT_EQ_INT(backup_files, 40 + 3);

        free(contacts);
        free(calendars);
        free(dir);
}

static void test_versions(void) {
        static const char *const versions[] = { "15.7", "16.6", "17.5", "18.1", "19.0" };
        bool yearless = false;

        for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
                check_profile(versions[i], &yearless);
        ASSERT(yearless);
}

/* Same seed, same bytes; another seed, other data. */
static void test_determinism(void) {
        static const char *const files[] = { "/contacts.json", "/calendars.json", AB, ABI, CAL };
        char *a = gen("det-a", "17.5", 5), *b = gen("det-b", "17.5", 5), *c = gen("det-c", "17.5", 6);

        ASSERT_OR_RETURN(a && b && c);
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                size_t na = 0, nb = 0, nc = 0;
                char *x = slurp(a, files[i], &na), *y = slurp(b, files[i], &nb);
                char *z = slurp(c, files[i], &nc);

                ASSERT(x && y && z);
                ASSERT(x && y && na == nb && memcmp(x, y, na) == 0);
                ASSERT(x && z && (na != nc || memcmp(x, z, na) != 0));
                free(x);
                free(y);
                free(z);
        }
        free(a);
        free(b);
        free(c);
}

static void check_mutate(const char *ios) {
        char name[32], *dir, *before_c, *before_e, *after_c, *after_e, *ab_before, *ab_after;
        MutateOptions m = { .seed = 9, .pim_change = 3, .pim_add = 2, .pim_delete = 1 };
        MutateOptions generic = { .seed = 10, .change = 10, .del = 5, .add = 5 };
        bool future = strcmp(ios, "19.0") == 0;
        size_t n1 = 0, n2 = 0;
        char sql[128];

        snprintf(name, sizeof(name), "mut%s", ios);
        dir = gen(name, ios, 12);
        ASSERT_OR_RETURN(dir);
        before_c = slurp(dir, "/contacts.json", NULL);
        before_e = slurp(dir, "/calendars.json", NULL);
        ASSERT_OR_RETURN(before_c && before_e);

        /* The generic mutation does not touch the databases nor their truth. */
        ab_before = slurp(dir, AB, &n1);
        ASSERT(profile_mutate(dir, &generic) == 0);
        ab_after = slurp(dir, AB, &n2);
        ASSERT(ab_before && ab_after && n1 == n2 && memcmp(ab_before, ab_after, n1) == 0);
        free(ab_before);
        free(ab_after);
        after_c = slurp(dir, "/contacts.json", NULL);
        ASSERT(after_c && strcmp(after_c, before_c) == 0);
        free(after_c);

        ASSERT_OR_RETURN(profile_mutate(dir, &m) == 0);
        after_c = slurp(dir, "/contacts.json", NULL);
        after_e = slurp(dir, "/calendars.json", NULL);
        ASSERT_OR_RETURN(after_c && after_e);
        ASSERT(strcmp(after_c, before_c) != 0);
        ASSERT(strcmp(after_e, before_e) != 0);
        ASSERT_EQ_INT(count_str(after_c, "\n{\"id\":"), 25 + 2 - 1);
        ASSERT_EQ_INT(count_str(after_e, "{\"uid\":"), 40 + 2 - 1);
        ASSERT_EQ_INT(query_int(dir, AB, "SELECT COUNT(*) FROM ABPerson"), 26);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE orig_item_id = 0",
                 future ? "CalendarEvent" : "CalendarItem");
        ASSERT_EQ_INT(query_int(dir, CAL, sql), 41);
        /* New contacts get new ROWIDs, never a deleted one's. */
        ASSERT(strstr(after_c, "\n{\"id\":26,") && strstr(after_c, "\n{\"id\":27,"));
        ASSERT(strstr(after_c, "(geändert)") || strstr(after_c, "Geändert") ||
               strstr(after_c, "Neumann"));
        ASSERT(strstr(after_e, "(geändert)") || strstr(after_e, "Neuer Ort"));
        /* The schema stays the version's. */
        ASSERT(strstr(after_c, future ? "\"schema\":\"future\"" : "\"schema\":\"ios16\""));

        free(before_c);
        free(before_e);
        free(after_c);
        free(after_e);
        free(dir);
}

static void test_mutate(void) {
        check_mutate("16.6");
        check_mutate("19.0");
}

/* Without --pim nothing of this appears: old profiles stay as they were. */
static void test_off_by_default(void) {
        GenOptions o = { .seed = 3, .files = 40, .bytes = 1u << 20, .photos = 2, .apps = 1 };
        char *dir, *p;

        ASSERT_OR_RETURN(asprintf(&dir, "%s/plain", top) >= 0);
        ASSERT_OR_RETURN(profile_generate(dir, &o) == 0);
        p = slurp(dir, "/contacts.json", NULL);
        ASSERT(!p);
        free(p);
        p = slurp(dir, "/calendars.json", NULL);
        ASSERT(!p);
        free(p);
        /* The core file at the AddressBook's path is filler, not a database. */
        ASSERT(query_int(dir, AB, "SELECT COUNT(*) FROM ABPerson") == -1);
        free(dir);
}

int main(void) {
        const char *tmp = getenv("TMPDIR");

        snprintf(top, sizeof(top), "%s/test-pim-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(top)) {
                perror("mkdtemp");
                return 1;
        }
        emu_verbose = 0;

        test_versions();
        test_determinism();
        test_mutate();
        test_off_by_default();

        (void) nftw(top, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        if (failures) {
                printf("%u check(s) failed\n", failures);
                return 1;
        }
        printf("all checks passed\n");
        return 0;
}
