/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Safari's bookmarks and Reading List (HomeDomain/Library/Safari/Bookmarks.db) as Netscape
 * bookmark files, the one format every browser imports: bookmarks.html and
 * reading-list.html.
 *
 * The table `bookmarks` is a tree by `parent` (the root has id 0), siblings ordered by
 * `order_index`; `type` 1 is a folder, 0 a bookmark. Below the root Safari keeps its
 * special folders, told by title (their special_id differs between versions):
 * "BookmarksBar" (shown as Favorites, exported as a folder of that name), "BookmarksMenu"
 * (older Safari: its entries are shown at the top level) and "com.apple.ReadingList"
 * (exported to reading-list.html, ADD_DATE from the row's extra_attributes plist,
 * com.apple.ReadingList.DateAdded). Everything else below the root is kept in place.
 * Bookmarks have no date added in the database, so their links carry no ADD_DATE.
 *
 * The tree is walked from the root down, each row at most once, so a cycle in the parent
 * links only leaves the rows on it out; depth and row count are capped. Rows marked
 * deleted (sync tombstones) or hidden are left out with everything beneath them. Only http, https,
 * ftp and file URLs become links: anything else (javascript: bookmarklets, data:) is left
 * out, and a sentence in the reason says how many.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <plist/plist.h>

#include "export.h"
#include "macro.h"
#include "util.h"

#define BOOKMARKS_DOMAIN "HomeDomain"
#define BOOKMARKS_PATH "Library/Safari/Bookmarks.db"
#define MAX_ROWS 200000u
#define MAX_DEPTH 64u
#define MAX_EXTRA (256u * 1024)

typedef struct Row {
        int64_t id, parent, order;
        bool folder, deleted, visited, has_added;
        char *title, *url;
        int64_t added;                  /* Unix time, when has_added */
} Row;

typedef struct Tree {
        Row *rows;
        size_t n;
        size_t *by_parent;              /* row indices sorted by (parent, order, id) */
        uint64_t exported, skipped_scheme;
} Tree;

static void tree_done(Tree *t) {
        for (size_t i = 0; i < t->n; i++) {
                free(t->rows[i].title);
                free(t->rows[i].url);
        }
        free(t->rows);
        free(t->by_parent);
}

static char *column_text(sqlite3_stmt *s, int col) {
        const unsigned char *v;

        if (sqlite3_column_type(s, col) == SQLITE_NULL)
                return NULL;
        v = sqlite3_column_text(s, col);
        return strdup(v ? (const char *) v : "");
}

/* DateAdded from extra_attributes: a binary (or XML) plist dictionary with
 * com.apple.ReadingList = { DateAdded = <date> }. false when it says nothing usable. */
static bool reading_list_added(const void *blob, int len, int64_t *ret) {
        plist_t root = NULL, rl, d;
        bool ok = false;

        if (!blob || len <= 8 || (unsigned) len > MAX_EXTRA)
                return false;
        plist_from_memory(blob, (uint32_t) len, &root);
        if (!root)
                return false;
        if (plist_get_node_type(root) == PLIST_DICT &&
            (rl = plist_dict_get_item(root, "com.apple.ReadingList")) &&
            plist_get_node_type(rl) == PLIST_DICT &&
            (d = plist_dict_get_item(rl, "DateAdded")) && plist_get_node_type(d) == PLIST_DATE) {
                int32_t sec = 0, usec = 0;
                /* libplist 2.2 gives seconds since 2001-01-01 (Mac absolute time). */
                plist_get_date_val(d, &sec, &usec);
                *ret = (int64_t) sec + EXPORT_MAC_EPOCH;
                ok = true;
        }
        plist_free(root);
        return ok;
}

static int load_rows(ExportCtx *x, sqlite3 *db, Tree *t) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        bool has_deleted = export_has_column(db, "bookmarks", "deleted");
        bool has_extra = export_has_column(db, "bookmarks", "extra_attributes");
        bool has_hidden = export_has_column(db, "bookmarks", "hidden");
        char sql[300];
        size_t cap = 0;
        int q, r;

        snprintf(sql, sizeof(sql),
                 "SELECT id, parent, type, title, url, order_index, %s OR %s, %s FROM bookmarks",
                 has_deleted ? "deleted" : "0", has_hidden ? "hidden" : "0",
                 has_extra ? "extra_attributes" : "NULL");
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
                return export_unknown_schema(x, "bookmarks", "%s", sqlite3_errmsg(db));
        while ((q = sqlite3_step(s)) == SQLITE_ROW) {
                Row *row;

                if (t->n >= MAX_ROWS)
                        return export_unknown_schema(x, "bookmarks", "more than %u rows",
                                                     MAX_ROWS);
                if (t->n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        Row *n = reallocarray(t->rows, ncap, sizeof(Row));
                        if (!n)
                                return -ENOMEM;
                        t->rows = n;
                        cap = ncap;
                }
                row = &t->rows[t->n];
                *row = (Row) {
                        .id = sqlite3_column_int64(s, 0),
                        /* NULL parent (the root's) never matches a real id */
                        .parent = sqlite3_column_type(s, 1) == SQLITE_NULL ?
                                          INT64_MIN : sqlite3_column_int64(s, 1),
                        .folder = sqlite3_column_int64(s, 2) == 1,
                        .order = sqlite3_column_int64(s, 5),
                        .deleted = sqlite3_column_int64(s, 6) != 0,
                };
                t->n++;
                row->title = column_text(s, 3);
                row->url = column_text(s, 4);
                if ((sqlite3_column_type(s, 3) != SQLITE_NULL && !row->title) ||
                    (sqlite3_column_type(s, 4) != SQLITE_NULL && !row->url))
                        return -ENOMEM;
                if (sqlite3_column_type(s, 7) == SQLITE_BLOB)
                        row->has_added = reading_list_added(sqlite3_column_blob(s, 7),
                                                            sqlite3_column_bytes(s, 7),
                                                            &row->added);
                if ((t->n & 1023) == 0 && (r = export_check_cancel(x)) != 0)
                        return r;
        }
        if (q != SQLITE_DONE)
                return export_unknown_schema(x, "bookmarks", "%s", sqlite3_errmsg(db));
        return 0;
}

static const Tree *sort_tree;

static int by_parent_cmp(const void *a, const void *b) {
        const Row *x = &sort_tree->rows[*(const size_t *) a];
        const Row *y = &sort_tree->rows[*(const size_t *) b];

        if (x->parent != y->parent)
                return x->parent < y->parent ? -1 : 1;
        if (x->order != y->order)
                return x->order < y->order ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

static int tree_index(Tree *t) {
        t->by_parent = reallocarray(NULL, t->n ? t->n : 1, sizeof(size_t));
        if (!t->by_parent)
                return -ENOMEM;
        for (size_t i = 0; i < t->n; i++)
                t->by_parent[i] = i;
        sort_tree = t;
        qsort_safe(t->by_parent, t->n, sizeof(size_t), by_parent_cmp);
        sort_tree = NULL;
        return 0;
}

/* The range [*ret_from, *ret_to) of by_parent whose rows have this parent. */
static void children(const Tree *t, int64_t parent, size_t *ret_from, size_t *ret_to) {
        size_t lo = 0, hi = t->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->rows[t->by_parent[mid]].parent < parent)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *ret_from = lo;
        while (lo < t->n && t->rows[t->by_parent[lo]].parent == parent)
                lo++;
        *ret_to = lo;
}

static void put_escaped(FILE *f, const char *s) {
        for (; s && *s; s++)
                switch (*s) {
                case '&':
                        fputs("&amp;", f);
                        break;
                case '<':
                        fputs("&lt;", f);
                        break;
                case '>':
                        fputs("&gt;", f);
                        break;
                case '"':
                        fputs("&quot;", f);
                        break;
                default:
                        /* control characters would end up in attributes: one space */
                        fputc((unsigned char) *s < 0x20 ? ' ' : *s, f);
                }
}

static bool url_exportable(const char *url) {
        static const char *const schemes[] = { "http:", "https:", "ftp:", "file:" };

        if (!url)
                return false;
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0)
                        return true;
        return false;
}

static void put_indent(FILE *f, unsigned depth) {
        for (unsigned i = 0; i < depth; i++)
                fputs("    ", f);
}

static void put_link(FILE *f, const Row *row, unsigned depth) {
        put_indent(f, depth);
        fputs("<DT><A HREF=\"", f);
        put_escaped(f, row->url);
        fputc('"', f);
        if (row->has_added)
                fprintf(f, " ADD_DATE=\"%" PRId64 "\"", row->added);
        fputc('>', f);
        put_escaped(f, row->title ? row->title : row->url);
        fputs("</A>\n", f);
}

static void put_header(FILE *f, const char *title) {
        fprintf(f,
                "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
                "<!-- Exported by idevicesync from Safari's Bookmarks.db. -->\n"
                "<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=UTF-8\">\n"
                "<TITLE>%s</TITLE>\n<H1>%s</H1>\n<DL><p>\n",
                title, title);
}

/* Write the children of parent at depth in Safari's order; folders recurse. Each row is
 * written once. Below the root, "BookmarksBar" is the Favorites folder and the entries of
 * "BookmarksMenu" (older Safari) stand in its place at the top level. */
static int emit_children(ExportCtx *x, Tree *t, FILE *f, int64_t root, int64_t parent,
                         unsigned depth) {
        size_t from, to;
        int r;

        if (depth > MAX_DEPTH)
                return 0;
        children(t, parent, &from, &to);
        for (size_t k = from; k < to; k++) {
                Row *row = &t->rows[t->by_parent[k]];
                const char *title = row->title;

                if (row->visited || row->deleted)
                        continue;
                row->visited = true;
                if (row->folder && parent == root && streq_ptr(title, "BookmarksMenu")) {
                        r = emit_children(x, t, f, root, row->id, depth);
                        if (r != 0)
                                return r;
                } else if (row->folder) {
                        if (parent == root && streq_ptr(title, "BookmarksBar"))
                                title = "Favorites";
                        put_indent(f, depth);
                        fputs("<DT><H3>", f);
                        put_escaped(f, title ? title : "Untitled");
                        fputs("</H3>\n", f);
                        put_indent(f, depth);
                        fputs("<DL><p>\n", f);
                        r = emit_children(x, t, f, root, row->id, depth + 1);
                        if (r != 0)
                                return r;
                        put_indent(f, depth);
                        fputs("</DL><p>\n", f);
                } else if (url_exportable(row->url)) {
                        put_link(f, row, depth);
                        t->exported++;
                } else
                        t->skipped_scheme++;
        }
        return export_check_cancel(x);
}

static int write_bookmarks(ExportCtx *x, Tree *t) {
        FILE *f = NULL;
        size_t from, to;
        int64_t root = 0;
        int r;

        r = export_create(x, export_root_fd(x), "bookmarks.html", &f, NULL);
        if (r != 0)
                return r;
        put_header(f, "Bookmarks");

        /* The root: the row whose parent is NULL (id 0 in every Bookmarks.db we know). The
         * Reading List goes to its own file. */
        children(t, INT64_MIN, &from, &to);
        if (from < to)
                root = t->rows[t->by_parent[from]].id;
        for (size_t i = from; i < to; i++)
                t->rows[t->by_parent[i]].visited = true;
        for (size_t i = 0; i < t->n; i++)
                if (t->rows[i].folder && streq_ptr(t->rows[i].title, "com.apple.ReadingList"))
                        t->rows[i].visited = true;

        r = emit_children(x, t, f, root, root, 1);
        fputs("</DL><p>\n", f);
        if (r != 0) {
                (void) export_close(x, f, 0);
                return r;
        }
        return export_close(x, f, 0);
}

static int write_reading_list(ExportCtx *x, Tree *t, uint64_t *ret_n) {
        FILE *f = NULL;
        size_t from, to;
        uint64_t n = 0;
        int r;

        r = export_create(x, export_root_fd(x), "reading-list.html", &f, NULL);
        if (r != 0)
                return r;
        put_header(f, "Reading List");
        for (size_t i = 0; i < t->n; i++) {
                Row *list = &t->rows[i];

                if (!list->folder || list->deleted ||
                    !streq_ptr(list->title, "com.apple.ReadingList"))
                        continue;
                children(t, list->id, &from, &to);
                for (size_t k = from; k < to; k++) {
                        Row *row = &t->rows[t->by_parent[k]];

                        if (row->visited || row->deleted || row->folder)
                                continue;
                        row->visited = true;
                        if (!url_exportable(row->url)) {
                                t->skipped_scheme++;
                                continue;
                        }
                        put_link(f, row, 1);
                        n++;
                }
        }
        fputs("</DL><p>\n", f);
        *ret_n = n;
        return export_close(x, f, 0);
}

static int run(ExportCtx *x) {
        static const char *const columns[] = { "id", "parent", "type", "title", "url",
                                               "order_index", NULL };
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        Tree t = {};
        uint64_t reading = 0;
        int r;

        r = export_open_checked(x, BOOKMARKS_DOMAIN, BOOKMARKS_PATH, "bookmarks",
                                (const ExportTable[]) { { "bookmarks", columns }, {} }, &db);
        if (r != 0)
                return r;

        r = load_rows(x, db, &t);
        if (r == 0)
                r = tree_index(&t);
        if (r == 0)
                r = write_bookmarks(x, &t);
        if (r == 0)
                r = write_reading_list(x, &t, &reading);
        if (r == 0) {
                export_count(x, t.exported + reading);
                if (reading > 0)
                        export_note(x, "%" PRIu64 " of them in the Reading List.", reading);
                if (t.skipped_scheme > 0)
                        export_note(x, "%" PRIu64 " bookmarks with other than http, https, "
                                    "ftp or file URLs (javascript: …) are left out.",
                                    t.skipped_scheme);
        }
        tree_done(&t);
        return r;
}

const ExportType export_bookmarks = {
        .name = "bookmarks",
        .version = 1,
        .sources = (const ExportSource[]) {
                /* a prefix matches whole components: the WAL is a source of its own */
                { BOOKMARKS_DOMAIN, BOOKMARKS_PATH },
                { BOOKMARKS_DOMAIN, BOOKMARKS_PATH "-wal" },
                {},
        },
        .run = run,
};
