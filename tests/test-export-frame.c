/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The exports' frame (lib/export.c) through a type defined here and the plain backend:
 * safe names (slashes, control characters, dots, invalid UTF-8, cut at a character
 * boundary), new files never replacing (" (2)" before the extension), a database copy
 * that is not a database, an unknown schema named with the iOS version, copies of files
 * with their mtime, the listing in path order, and nothing reaching the source directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "fs-util.h"
#include "test-util.h"

static void safe_names(void) {
        static const struct {
                const char *in, *ext, *want;
        } t[] = {
                { "Ada Lovelace", ".vcf", "Ada Lovelace.vcf" },
                { "a/b\\c", ".vcf", "a_b_c.vcf" },
                { "  ..hidden  ", "", "hidden" },
                { "..", ".md", "untitled.md" },
                { "", ".md", "untitled.md" },
                { "tab\there\nnew", "", "tab here new" },
                { "ctl\001x", "", "ctl_x" },
                { "trailing dots...", ".ics", "trailing dots.ics" },
                { "bad \xff byte", "", "bad \xef\xbf\xbd byte" },
                { "q?\"<>|*:", "", "q_______" },
                { "Zoë 中文 🎉", ".vcf", "Zoë 中文 🎉.vcf" },
        };
        char buf[256];

        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
                export_safe_name(t[i].in, t[i].ext, NULL, buf, sizeof(buf));
                ASSERT_STREQ(buf, t[i].want);
        }

        /* Long titles are cut at a character boundary, never in the middle of one. */
        {
                char title[1200] = "";

                for (int i = 0; i < 300; i++)
                        strcat(title, "ü");     /* 2 bytes each */
                export_safe_name(title, ".md", NULL, buf, sizeof(buf));
                ASSERT_TRUE(strlen(buf) <= 200 + 3);
                ASSERT_TRUE(strcmp(buf + strlen(buf) - 3, ".md") == 0);
                ASSERT_EQ((strlen(buf) - 3) % 2, 0);
                ASSERT_TRUE(strncmp(buf, "üü", 4) == 0);
        }
        export_safe_name("x", ".vcf", NULL, buf, 4);    /* no room for the extension */
        ASSERT_STREQ(buf, "");
        export_safe_name(NULL, "", "fallback", buf, sizeof(buf));
        ASSERT_STREQ(buf, "fallback");
}

static int seen_paths;
static char listed[4][64];

static int list_cb(ExportCtx *x, const ids_snapshot_file *f, void *userdata) {
        if (seen_paths < 4)
                snprintf(listed[seen_paths], sizeof(listed[0]), "%s", f->path);
        seen_paths++;
        return 0;
}

/* The type under test: everything the frame offers, once. */
static int run_probe(ExportCtx *x) {
        static const char *const cols[] = { "ROWID", "First", NULL };
        static const char *const missing[] = { "ROWID", "GivenName", NULL };
        sqlite3 *db = NULL;
        FILE *f;
        char *name = NULL;
        int dir = -1, r;

        /* Not a database: a clear protocol error. */
        ASSERT_EQ(export_open_db(x, "HomeDomain", "garbage.sqlitedb", &db), IDS_E_PROTOCOL);
        ASSERT_EQ(export_open_db(x, "HomeDomain", "absent.sqlitedb", &db), -ENOENT);
        ASSERT_EQ(export_open_db(x, "HomeDomain", "../escape.sqlitedb", &db), -ENOENT);

        r = export_open_db(x, "HomeDomain", "people.sqlitedb", &db);
        ASSERT_EQ(r, 0);
        if (r == 0) {
                ASSERT_EQ(export_need_columns(x, db, "contacts", "ABPerson", cols), 0);
                ASSERT_TRUE(export_has_column(db, "ABPerson", "Last"));
                ASSERT_TRUE(!export_has_column(db, "ABPerson", "Nope"));
                ASSERT_TRUE(!export_has_column(db, "NoTable", "First"));
                ASSERT_EQ(export_need_columns(x, db, "contacts", "ABPerson", missing),
                          IDS_E_UNSUPPORTED);
                sqlite3_close(db);
        }

        ASSERT_EQ(export_mkdir(x, export_root_fd(x), "out", &dir), 0);
        ASSERT_EQ(export_mkdir(x, export_root_fd(x), "../x", &r), -EINVAL);
        ASSERT_EQ(export_write(x, dir, "card.vcf", "one", 3, 1000000000, NULL), 0);
        ASSERT_EQ(export_write(x, dir, "card.vcf", "two", 3, 0, &name), 0);
        ASSERT_STREQ(name, "card (2).vcf");
        free(name);
        ASSERT_EQ(export_create(x, dir, "card.vcf", &f, &name), 0);
        ASSERT_STREQ(name, "card (3).vcf");
        free(name);
        fputs("three", f);
        ASSERT_EQ(export_close(x, f, 0), 0);
        ASSERT_EQ(export_write(x, dir, "noext", "", 0, 0, &name), 0);
        free(name);
        ASSERT_EQ(export_write(x, dir, "noext", "", 0, 0, &name), 0);
        ASSERT_STREQ(name, "noext (2)");
        free(name);
        ASSERT_EQ(export_write(x, dir, "a/b", "", 0, 0, NULL), -EINVAL);

        ASSERT_EQ(export_copy_file(x, dir, "memo.m4a", "MediaDomain", "Media/rec.m4a", 0,
                                   &name), 0);
        ASSERT_STREQ(name, "memo.m4a");
        free(name);
        ASSERT_EQ(export_copy_file(x, dir, "x", "MediaDomain", "Media/none", 0, NULL), -ENOENT);

        {
                void *data = NULL;
                size_t size = 0;

                ASSERT_EQ(export_read_file(x, "MediaDomain", "Media/rec.m4a", 1024, &data,
                                           &size), 0);
                ASSERT_EQ(size, 9);
                ASSERT_TRUE(data && memcmp(data, "recording", 9) == 0);
                free(data);
                ASSERT_EQ(export_read_file(x, "MediaDomain", "Media/rec.m4a", 4, &data, &size),
                          -EFBIG);
        }

        ASSERT_EQ(export_list(x, "MediaDomain", "Media", list_cb, NULL), 0);
        ASSERT_EQ(seen_paths, 3);
        ASSERT_STREQ(listed[0], "Media/a/z.txt");
        ASSERT_STREQ(listed[1], "Media/b.txt");
        ASSERT_STREQ(listed[2], "Media/rec.m4a");

        export_count(x, 7);
        export_note(x, "First note.");
        export_note(x, "Second %d.", 2);
        ASSERT_EQ(export_check_cancel(x), 0);
        close(dir);
        return 0;
}

static const ExportType probe = {
        .name = "probe",
        .version = 1,
        .sources = (const ExportSource[]) { { "HomeDomain", "" }, {} },
        .run = run_probe,
};

static int run_unknown(ExportCtx *x) {
        return export_unknown_schema(x, "calendar", "CalendarItem has no column %s", "summary");
}

static const ExportType unknown = {
        .name = "unknown",
        .version = 1,
        .sources = (const ExportSource[]) { {} },
        .run = run_unknown,
};

static void write_file(const char *path, const char *data, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        ASSERT_TRUE(fd >= 0);
        if (fd < 0)
                return;
        ASSERT_EQ(fs_write_all(fd, data, n), 0);
        close(fd);
}

int main(void) {
        char src[] = "/tmp/test-export-frame.XXXXXX", path[512], out[256], reason[256];
        uint64_t items = 0;
        struct stat st;
        sqlite3 *db = NULL;
        int out_fd;

        safe_names();

        ASSERT_TRUE(mkdtemp(src) != NULL);
        snprintf(path, sizeof(path), "%s/HomeDomain", src);
        ASSERT_EQ(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/MediaDomain/Media/a", src);
        ASSERT_EQ(fs_mkdir_parents(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/HomeDomain/garbage.sqlitedb", src);
        write_file(path, "this is not a database, not at all, no no no no no", 51);
        snprintf(path, sizeof(path), "%s/HomeDomain/people.sqlitedb", src);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY, "
                                   "First TEXT, Last TEXT); INSERT INTO ABPerson "
                                   "VALUES (1, 'Ada', 'Lovelace')", NULL, NULL, NULL),
                  SQLITE_OK);
        sqlite3_close(db);
        snprintf(path, sizeof(path), "%s/MediaDomain/Media/rec.m4a", src);
        write_file(path, "recording", 9);
        snprintf(path, sizeof(path), "%s/MediaDomain/Media/b.txt", src);
        write_file(path, "b", 1);
        snprintf(path, sizeof(path), "%s/MediaDomain/Media/a/z.txt", src);
        write_file(path, "z", 1);

        snprintf(out, sizeof(out), "%s/out", src);
        ASSERT_EQ(mkdir(out, 0755), 0);
        out_fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(out_fd >= 0);
        ASSERT_EQ(export_run_plain(&probe, src, "17.5", out_fd, reason, sizeof(reason), &items),
                  0);
        ASSERT_EQ(items, 7);
        ASSERT_STREQ(reason, "contacts database schema of iOS 17.5 is not known (ABPerson has "
                             "no column GivenName) First note. Second 2.");
        snprintf(path, sizeof(path), "%s/out/card.vcf", out);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_mtime, 1000000000);
        ASSERT_EQ(st.st_size, 3);
        snprintf(path, sizeof(path), "%s/out/memo.m4a", out);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_size, 9);
        /* The source is untouched: the database was read from a private copy. */
        snprintf(path, sizeof(path), "%s/HomeDomain", src);
        {
                DIR *d = opendir(path);
                int n = 0;

                for (struct dirent *de; d && (de = readdir(d));)
                        n += de->d_name[0] != '.';
                if (d)
                        closedir(d);
                ASSERT_EQ(n, 2);
        }

        ASSERT_EQ(export_run_plain(&unknown, src, "19.0", out_fd, reason, sizeof(reason), &items),
                  IDS_E_UNSUPPORTED);
        ASSERT_STREQ(reason, "calendar database schema of iOS 19.0 is not known (CalendarItem "
                             "has no column summary)");
        close(out_fd);
        ASSERT_SYS(chdir("/tmp"));
        ASSERT_EQ(fs_rm_rf_at(AT_FDCWD, src + strlen("/tmp/")), 0);
        return test_exit_status();
}
