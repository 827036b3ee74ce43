/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * export_bookmarks on Bookmarks.db files this test creates with SQLite: Favorites and
 * nested folders in order_index order, a deleted row, a hidden one, a javascript:
 * bookmarklet, HTML-special characters, a parent cycle cut off from the root, the Reading
 * List with and without DateAdded, and the "future" schema (no order_index) refused as
 * unknown.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "export.h"
#include "test-util.h"

static void mkdir_p(const char *path) {
        char buf[1024];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        (void) mkdir(buf, 0755);
                        *p = '/';
                }
        (void) mkdir(buf, 0755);
}

static char *read_all(const char *path) {
        static char buf[65536];
        FILE *f = fopen(path, "re");
        size_t n;

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = 0;
        fclose(f);
        return buf;
}

static void exec_sql(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                printf("FAIL: SQL %s: %s\n", sql, err);
                failures++;
        }
        sqlite3_free(err);
}

static int run_plain(const char *src, const char *out, char *reason, uint64_t *items) {
        int fd, r;

        mkdir_p(out);
        fd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = export_run_plain(&export_bookmarks, src, "17.5", fd, reason, 512, items);
        close(fd);
        return r;
}

/* DateAdded 2023-01-01T10:10:10Z (Mac 694260610) in a binary plist (Python's plistlib):
 * {"com.apple.ReadingList": {"DateAdded": <date>, "PreviewText": "p"}} */
static const char extra_hex[] =
        "62706c6973743030d101025f1015636f6d2e6170706c652e52656164696e674c697374d20304"
        "0506594461746541646465645b50726576696577546578743341c4b0c9c10000005170080b23"
        "28323e470000000000000101000000000000000700000000000000000000000000000049";

static void test_bookmarks(const char *tmp) {
        char src[512], dom[600], path[1024], out[512], reason[512] = "", sql[2048];
        sqlite3 *db = NULL;
        uint64_t items = 0;
        const char *html;

        snprintf(src, sizeof(src), "%s/src", tmp);
        snprintf(dom, sizeof(dom), "%s/HomeDomain/Library/Safari", src);
        mkdir_p(dom);
        snprintf(path, sizeof(path), "%s/Bookmarks.db", dom);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        exec_sql(db, "CREATE TABLE bookmarks (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                     " special_id INTEGER DEFAULT 0, parent INTEGER, type INTEGER, title TEXT,"
                     " url TEXT, hidden INTEGER DEFAULT 0, order_index INTEGER NOT NULL,"
                     " deleted INTEGER DEFAULT 0, extra_attributes BLOB);"
                     "INSERT INTO bookmarks (id, parent, type, title, url, order_index) VALUES"
                     " (0, NULL, 1, '', NULL, 0),"
                     " (1, 0, 1, 'BookmarksBar', NULL, 1),"
                     " (2, 0, 1, 'com.apple.ReadingList', NULL, 2),"
                     " (3, 1, 0, 'Second', 'https://b.example/', 1),"
                     " (4, 1, 0, 'First', 'https://a.example/?x=1&y=<2>', 0),"
                     " (5, 1, 1, 'News \"&\" more', NULL, 2),"
                     " (6, 5, 0, 'Paper', 'http://news.example/', 0),"
                     " (7, 0, 0, 'Top level', 'ftp://ftp.example/', 0),"
                     " (8, 0, 0, 'Bookmarklet', 'javascript:alert(1)', 3),"
                     " (9, 1, 0, 'Gone', 'https://gone.example/', 3),"
                     " (10, 11, 1, 'Cycle A', NULL, 0),"
                     " (11, 10, 1, 'Cycle B', NULL, 0),"
                     " (12, 10, 0, 'In cycle', 'https://cycle.example/', 0),"
                     " (13, 0, 0, 'Hidden', 'https://hidden.example/', 4),"
                     " (14, 2, 0, 'Later', 'https://later.example/', 1),"
                     " (15, 2, 0, 'Read me', 'https://read.example/', 0),"
                     " (16, 0, 0, NULL, 'https://untitled.example/', 5);"
                     "UPDATE bookmarks SET deleted = 1 WHERE id = 9;"
                     "UPDATE bookmarks SET hidden = 1 WHERE id = 13;");
        snprintf(sql, sizeof(sql), "UPDATE bookmarks SET extra_attributes = X'%s' WHERE id = 15",
                 extra_hex);
        exec_sql(db, sql);
        sqlite3_close(db);

        snprintf(out, sizeof(out), "%s/out", tmp);
        ASSERT_EQ(run_plain(src, out, reason, &items), 0);
        ASSERT_EQ_U64(items, 7);
        ASSERT_TRUE(strstr(reason, "2 of them in the Reading List"));
        ASSERT_TRUE(strstr(reason, "1 bookmarks with other"));

        snprintf(path, sizeof(path), "%s/bookmarks.html", out);
        html = read_all(path);
        ASSERT_STREQ(html,
                     "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
                     "<!-- Exported by idevicesync from Safari's Bookmarks.db. -->\n"
                     "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=UTF-8\">\n"
                     "<TITLE>Bookmarks</TITLE>\n<H1>Bookmarks</H1>\n<DL><p>\n"
                     "    <DT><A HREF=\"ftp://ftp.example/\">Top level</A>\n"
                     "    <DT><H3>Favorites</H3>\n"
                     "    <DL><p>\n"
                     "        <DT><A HREF=\"https://a.example/?x=1&amp;y=&lt;2&gt;\">First</A>\n"
                     "        <DT><A HREF=\"https://b.example/\">Second</A>\n"
                     "        <DT><H3>News &quot;&amp;&quot; more</H3>\n"
                     "        <DL><p>\n"
                     "            <DT><A HREF=\"http://news.example/\">Paper</A>\n"
                     "        </DL><p>\n"
                     "    </DL><p>\n"
                     "    <DT><A HREF=\"https://untitled.example/\">https://untitled.example/</A>\n"
                     "</DL><p>\n");

        snprintf(path, sizeof(path), "%s/reading-list.html", out);
        html = read_all(path);
        ASSERT_TRUE(html && strstr(html, "<TITLE>Reading List</TITLE>"));
        /* 694260610 + 978307200 */
        ASSERT_TRUE(html && strstr(html, "    <DT><A HREF=\"https://read.example/\" "
                                         "ADD_DATE=\"1672567810\">Read me</A>\n"
                                         "    <DT><A HREF=\"https://later.example/\">Later</A>\n"));

        /* the "future" schema: no order_index */
        snprintf(path, sizeof(path), "%s/Bookmarks.db", dom);
        ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
        exec_sql(db, "ALTER TABLE bookmarks RENAME COLUMN order_index TO position");
        sqlite3_close(db);
        snprintf(out, sizeof(out), "%s/out2", tmp);
        ASSERT_EQ(run_plain(src, out, reason, &items), IDS_E_UNSUPPORTED);
        ASSERT_TRUE(strstr(reason, "order_index"));

        /* no database at all */
        ASSERT_EQ(unlink(path), 0);
        snprintf(out, sizeof(out), "%s/out3", tmp);
        ASSERT_EQ(run_plain(src, out, reason, &items), -ENOENT);
}

int main(void) {
        char tmp[] = "/tmp/test-export-bookmarks.XXXXXX";

        if (!mkdtemp(tmp))
                return 1;
        test_bookmarks(tmp);
        if (failures == 0 && !getenv("KEEP")) {
                char cmd[128];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
                (void) system(cmd);
        }
        return test_exit_status();
}
