/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Notes (AppDomainGroup-group.com.apple.notes/NoteStore.sqlite) as Markdown files: notes/
 * holds one directory per folder (nested by the folders' parent links) and one
 * "<title>.md" per note, its mtime the note's modification date; a note's attachments are
 * copied into "<title> attachments/" beside it and linked where their U+FFFC stands. The
 * body is decoded by export-notes-proto.c (what it renders is said there); a table
 * attachment becomes a Markdown table from its CRDT (ZMERGEABLEDATA1; "[table]" when that
 * does not read), a drawing "[drawing]".
 *
 * The schema (Core Data, one table ZICCLOUDSYNCINGOBJECT for notes, folders, attachments
 * and media, told apart by which columns are set): a note has ZNOTEDATA (→ ZICNOTEDATA
 * .ZDATA, the gzip'd body), ZTITLE1, ZFOLDER, a creation date (ZCREATIONDATE3 on newer
 * iOS, ZCREATIONDATE1 before), ZMODIFICATIONDATE1, ZISPASSWORDPROTECTED; a folder ZTITLE2,
 * ZPARENT, ZFOLDERTYPE (1: Recently Deleted); notes are told by Z_ENT (looked up by the
 * name ICNote in Z_PRIMARYKEY: the numbers differ between versions) and a ZNOTEDATA; an
 * attachment ZIDENTIFIER (the body's
 * attachment_identifier), ZTYPEUTI, ZMEDIA (→ the media row: ZIDENTIFIER, ZFILENAME,
 * stored as Accounts/<account>/Media/<media identifier>/[<generation>/]<file name>).
 *
 * Password-locked notes are not decrypted: notes/Locked notes.md lists them. Notes in a
 * Recently Deleted folder, or marked for deletion, are left out. Folder parent cycles are
 * refused (such a folder is placed at the top); loops and allocations are bounded.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "export-notes-proto.h"
#include "export.h"
#include "util.h"

#define NOTES_DOMAIN "AppDomainGroup-group.com.apple.notes"
#define NOTES_PATH "NoteStore.sqlite"
#define OBJ "ZICCLOUDSYNCINGOBJECT"
#define MAX_FOLDER_DEPTH 32u
#define MAX_MEDIA_FILES 200000u
#define MAX_ZDATA (64u * 1024 * 1024)

/* Every file beneath Accounts/ of the notes domain, to find a media file by its media
 * identifier whatever generation directory it sits in. */
typedef struct MediaFiles {
        char **paths;
        size_t n, cap;
} MediaFiles;

typedef struct Notes {
        ExportCtx *x;
        sqlite3 *db;
        int notes_fd;                   /* notes/ */
        MediaFiles media;
        uint64_t exported, locked, unreadable, cycles, attachments_missing;
        FILE *locked_md;                /* Locked notes.md, created with the first one */
        char created[64];               /* the creation date expression */
        char note_ent[96];              /* "AND Z_ENT = …" when Z_PRIMARYKEY names ICNote */
        bool has_alt, has_mergeable;
} Notes;

static int collect_media(ExportCtx *x, const ids_snapshot_file *f, void *userdata) {
        MediaFiles *m = userdata;

        if (!f->safe || f->flags == IDS_SNAPSHOT_FILE_DIRECTORY || !strstr(f->path, "/Media/"))
                return 0;
        if (m->n >= MAX_MEDIA_FILES)
                return 0;
        if (m->n == m->cap) {
                size_t ncap = m->cap ? m->cap * 2 : 64;
                char **p = reallocarray(m->paths, ncap, sizeof(char *));
                if (!p)
                        return -ENOMEM;
                m->paths = p;
                m->cap = ncap;
        }
        m->paths[m->n] = strdup(f->path);
        if (!m->paths[m->n])
                return -ENOMEM;
        m->n++;
        return 0;
}

/* The stored path of media `id` named `filename`: ".../Media/<id>/.../<filename>". */
static const char *media_find(const MediaFiles *m, const char *id, const char *filename) {
        size_t idlen = strlen(id), fnlen = strlen(filename);

        if (idlen == 0 || fnlen == 0 || strchr(id, '/') || strchr(filename, '/'))
                return NULL;
        for (size_t i = 0; i < m->n; i++) {
                const char *p = m->paths[i], *at = strstr(p, "/Media/");
                size_t plen = strlen(p);

                if (!at || strncmp(at + 7, id, idlen) != 0 || at[7 + idlen] != '/')
                        continue;
                if (plen > fnlen && p[plen - fnlen - 1] == '/' &&
                    strcmp(p + plen - fnlen, filename) == 0)
                        return p;
        }
        return NULL;
}

static char *column_strdup(sqlite3_stmt *s, int col) {
        const unsigned char *v;

        if (sqlite3_column_type(s, col) == SQLITE_NULL)
                return NULL;
        v = sqlite3_column_text(s, col);
        return v ? strdup((const char *) v) : NULL;
}

/* Mac absolute time in a REAL (or INTEGER) column to Unix seconds; 0 when NULL or absurd. */
static int64_t column_time(sqlite3_stmt *s, int col) {
        double d;

        if (sqlite3_column_type(s, col) == SQLITE_NULL)
                return 0;
        d = sqlite3_column_double(s, col);
        if (!(d > -1e10 && d < 1e10))
                return 0;
        return (int64_t) d + EXPORT_MAC_EPOCH;
}

static void format_time(int64_t t, char *buf, size_t n) {
        struct tm tm;
        time_t tt = (time_t) t;

        if (t == 0 || !gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm) == 0)
                snprintf(buf, n, "unknown");
}

/* The folder's path as titles from the top, '/'-separated (raw titles, for the list of
 * locked notes), and whether it is in Recently Deleted. A cycle or a chain deeper than
 * MAX_FOLDER_DEPTH is refused: the folder then stands alone at the top. */
typedef struct FolderInfo {
        char *titles[MAX_FOLDER_DEPTH];
        size_t depth;
        bool trash, cycle;
} FolderInfo;

static void folder_info_done(FolderInfo *fi) {
        for (size_t i = 0; i < fi->depth; i++)
                free(fi->titles[i]);
        fi->depth = 0;
}

static int folder_info(Notes *n, int64_t folder, FolderInfo *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int64_t seen[MAX_FOLDER_DEPTH + 1];
        char *rev[MAX_FOLDER_DEPTH];
        size_t k = 0;
        bool has_type = export_has_column(n->db, OBJ, "ZFOLDERTYPE");
        int64_t cur = folder;

        *ret = (FolderInfo) {};
        if (sqlite3_prepare_v2(n->db,
                               has_type ? "SELECT ZTITLE2, ZPARENT, ZFOLDERTYPE FROM " OBJ
                                          " WHERE Z_PK = ?" :
                                          "SELECT ZTITLE2, ZPARENT, 0 FROM " OBJ " WHERE Z_PK = ?",
                               -1, &s, NULL) != SQLITE_OK)
                return -EPROTO;
        for (;;) {
                bool loop = false;

                for (size_t i = 0; i < k; i++)
                        loop = loop || seen[i] == cur;
                if (loop || k >= MAX_FOLDER_DEPTH) {
                        /* refused: keep only the folder itself */
                        for (size_t i = 1; i < k; i++)
                                free(rev[i]);
                        k = k > 0 ? 1 : 0;
                        ret->cycle = true;
                        break;
                }
                seen[k] = cur;
                sqlite3_reset(s);
                sqlite3_bind_int64(s, 1, cur);
                if (sqlite3_step(s) != SQLITE_ROW)
                        break;
                if (sqlite3_column_int64(s, 2) == 1)
                        ret->trash = true;
                rev[k] = column_strdup(s, 0);
                if (!rev[k]) {
                        rev[k] = strdup(sqlite3_column_type(s, 0) == SQLITE_NULL ? "Folder" : "");
                        if (!rev[k]) {
                                for (size_t i = 0; i < k; i++)
                                        free(rev[i]);
                                return -ENOMEM;
                        }
                }
                k++;
                if (sqlite3_column_type(s, 1) == SQLITE_NULL)
                        break;
                cur = sqlite3_column_int64(s, 1);
        }
        for (size_t i = 0; i < k; i++)
                ret->titles[i] = rev[k - 1 - i];
        ret->depth = k;
        return 0;
}

static void folder_path(const FolderInfo *fi, char *buf, size_t n) {
        size_t used = 0;

        buf[0] = 0;
        for (size_t i = 0; i < fi->depth && used < n; i++)
                used += (size_t) snprintf(buf + used, n - used, "%s%s", i ? "/" : "",
                                          fi->titles[i]);
        if (fi->depth == 0)
                snprintf(buf, n, "Notes");
}

/* Open (creating) the note's directory beneath notes/. The fd is the caller's. */
static int folder_open(Notes *n, const FolderInfo *fi, int *ret_fd) {
        int fd = dup(n->notes_fd);

        if (fd < 0)
                return -errno;
        for (size_t i = 0; i < fi->depth; i++) {
                char name[256];
                int sub, r;

                export_safe_name(fi->titles[i], NULL, "Folder", name, sizeof(name));
                r = export_mkdir(n->x, fd, name, &sub);
                close(fd);
                if (r != 0)
                        return r;
                fd = sub;
        }
        *ret_fd = fd;
        return 0;
}

static int list_locked(Notes *n, const char *title, const FolderInfo *fi, int64_t created,
                       int64_t modified) {
        char path[1024], c[40], m[40];
        int r;

        if (!n->locked_md) {
                r = export_create(n->x, n->notes_fd, "Locked notes.md", &n->locked_md, NULL);
                if (r != 0)
                        return r;
                fputs("# Locked notes\n\nThese notes are locked with a password; their text is "
                      "not in this export.\n\n| Title | Folder | Created | Modified |\n"
                      "|---|---|---|---|\n",
                      n->locked_md);
        }
        folder_path(fi, path, sizeof(path));
        format_time(created, c, sizeof(c));
        format_time(modified, m, sizeof(m));
        fputs("| ", n->locked_md);
        /* '|' and newlines would break the table row */
        for (const char *p = title; *p; p++)
                fputc(*p == '|' ? '/' : (unsigned char) *p < 0x20 ? ' ' : *p, n->locked_md);
        fputs(" | ", n->locked_md);
        for (const char *p = path; *p; p++)
                fputc(*p == '|' ? '/' : (unsigned char) *p < 0x20 ? ' ' : *p, n->locked_md);
        fprintf(n->locked_md, " | %s | %s |\n", c, m);
        n->locked++;
        return 0;
}

/* What the attachment callback needs: where the note's attachments go. */
typedef struct NoteFiles {
        Notes *n;
        int dir_fd;                     /* the note's folder */
        char dir_name[300];             /* "<note file base> attachments" */
        int att_fd;                     /* opened with the first attachment */
        int error;
} NoteFiles;

static bool uti_is_image(const char *uti) {
        return uti && (strstr(uti, "jpeg") || strstr(uti, "png") || strstr(uti, "heic") ||
                       strstr(uti, "gif") || strstr(uti, "image") || strstr(uti, "tiff"));
}

/* "<a>" link destinations take spaces; '<', '>' and newlines are never in our names. */
static char *attachment_markdown(const char *id, const char *uti, void *userdata) {
        NoteFiles *nf = userdata;
        Notes *n = nf->n;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_free_ char *used = NULL, *alt = NULL, *media_id = NULL, *filename = NULL;
        _cleanup_free_ char *att_uti = NULL;
        const char *path;
        char name[256], sql[400], *md = NULL;
        int r;

        if (nf->error < 0)
                return NULL;
        snprintf(sql, sizeof(sql),
                 "SELECT a.ZTYPEUTI, %s, m.ZIDENTIFIER, m.ZFILENAME, %s FROM " OBJ " a"
                 " LEFT JOIN " OBJ " m ON m.Z_PK = a.ZMEDIA WHERE a.ZIDENTIFIER = ? LIMIT 1",
                 n->has_alt ? "a.ZALTTEXT" : "NULL",
                 n->has_mergeable ? "a.ZMERGEABLEDATA1" : "NULL");
        if (sqlite3_prepare_v2(n->db, sql, -1, &s, NULL) != SQLITE_OK)
                return NULL;
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_ROW) {
                n->attachments_missing++;
                return NULL;
        }
        att_uti = column_strdup(s, 0);
        alt = column_strdup(s, 1);
        media_id = column_strdup(s, 2);
        filename = column_strdup(s, 3);
        if (!uti)
                uti = att_uti;

        if (uti && strstr(uti, "table")) {
                /* the table's CRDT as a Markdown table: Notes puts a table on a line of
                 * its own, so it stands as a paragraph */
                if (sqlite3_column_type(s, 4) == SQLITE_BLOB &&
                    note_table_markdown(sqlite3_column_blob(s, 4),
                                        (size_t) sqlite3_column_bytes(s, 4), &md) == 0)
                        return md;
                return strdup("[table]");
        }
        if (uti && (strstr(uti, "drawing") || strstr(uti, "paper")))
                return strdup("[drawing]");
        if (!media_id || !filename) {
                /* inline attachments (hashtags, mentions, links) carry their text */
                if (alt && *alt)
                        return strdup(alt);
                n->attachments_missing++;
                return NULL;
        }
        path = media_find(&n->media, media_id, filename);
        if (!path) {
                n->attachments_missing++;
                return NULL;
        }
        if (nf->att_fd < 0) {
                r = export_mkdir(n->x, nf->dir_fd, nf->dir_name, &nf->att_fd);
                if (r != 0) {
                        nf->error = r;
                        return NULL;
                }
        }
        export_safe_name(filename, NULL, "attachment", name, sizeof(name));
        r = export_copy_file(n->x, nf->att_fd, name, NOTES_DOMAIN, path, 0, &used);
        if (r == -ENOENT) {
                n->attachments_missing++;
                return NULL;
        }
        if (r != 0) {
                nf->error = r;
                return NULL;
        }
        if (asprintf(&md, "%s[%s](<%s/%s>)", uti_is_image(uti) ? "!" : "", used, nf->dir_name,
                     used) < 0)
                return NULL;
        return md;
}

/* One note: its body decoded and rendered, written into its folder. */
static int export_one(Notes *n, int64_t note, const char *title_in, const FolderInfo *fi,
                      int64_t modified) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_(note_body_freep) NoteBody *body = NULL;
        _cleanup_free_ char *md = NULL, *used = NULL, *title_alloc = NULL;
        _cleanup_(fclosep) FILE *f = NULL;
        NoteFiles nf = { .n = n, .dir_fd = -EBADF, .att_fd = -EBADF };
        const char *title = title_in;
        char name[256];
        size_t len;
        int r;

        if (sqlite3_prepare_v2(n->db, "SELECT ZDATA FROM ZICNOTEDATA WHERE ZNOTE = ? LIMIT 1",
                               -1, &s, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(s, 1, note);
                if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB &&
                    sqlite3_column_bytes(s, 0) > 0) {
                        if ((size_t) sqlite3_column_bytes(s, 0) > MAX_ZDATA)
                                r = -EFBIG;
                        else
                                r = note_body_decode(sqlite3_column_blob(s, 0),
                                                     (size_t) sqlite3_column_bytes(s, 0), &body);
                        if (r == -ENOMEM)
                                return r;
                        if (r != 0)
                                n->unreadable++;
                }
        }

        /* No title column value: the first line of the text, as Notes shows it. */
        if (!title || !*title) {
                if (body && body->text_len > 0)
                        title = title_alloc = strndup(body->text, strcspn(body->text, "\n"));
                if (!title || !*title)
                        title = "Untitled";
        }

        r = folder_open(n, fi, &nf.dir_fd);
        if (r != 0)
                return r;
        export_safe_name(title, ".md", "Untitled", name, sizeof(name));
        r = export_create(n->x, nf.dir_fd, name, &f, &used);
        if (r != 0)
                goto finish;
        /* The attachments' directory follows the name the note got (" (2)" included). */
        len = strlen(used);
        snprintf(nf.dir_name, sizeof(nf.dir_name), "%.*s attachments",
                 (int) (len > 3 ? len - 3 : len), used);

        if (body) {
                r = note_body_markdown(body, attachment_markdown, &nf, &md, NULL);
                if (r != 0)
                        goto finish;
                if (nf.error < 0) {
                        r = nf.error;
                        goto finish;
                }
                fputs(md, f);
        } else {
                fputs("# ", f);
                for (const char *p = title; *p; p++)
                        fputc(*p == '\n' ? ' ' : *p, f);
                fputs("\n\n(The text of this note could not be read.)\n", f);
        }
        r = export_close(n->x, TAKE_PTR(f), modified);
        if (r == 0)
                n->exported++;
finish:
        if (nf.att_fd >= 0)
                close(nf.att_fd);
        close(nf.dir_fd);
        return r;
}

static int export_all(Notes *n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        bool has_locked = export_has_column(n->db, OBJ, "ZISPASSWORDPROTECTED");
        bool has_mark = export_has_column(n->db, OBJ, "ZMARKEDFORDELETION");
        char sql[512];
        int q, r;

        snprintf(sql, sizeof(sql),
                 "SELECT Z_PK, ZTITLE1, ZFOLDER, %s, ZMODIFICATIONDATE1, %s, %s FROM " OBJ
                 " WHERE ZNOTEDATA IS NOT NULL %s ORDER BY Z_PK",
                 n->created, has_locked ? "ZISPASSWORDPROTECTED" : "0",
                 has_mark ? "ZMARKEDFORDELETION" : "0", n->note_ent);
        if (sqlite3_prepare_v2(n->db, sql, -1, &s, NULL) != SQLITE_OK)
                return export_unknown_schema(n->x, "notes", "%s", sqlite3_errmsg(n->db));
        while ((q = sqlite3_step(s)) == SQLITE_ROW) {
                _cleanup_free_ char *title = column_strdup(s, 1);
                int64_t id = sqlite3_column_int64(s, 0);
                int64_t created = column_time(s, 3), modified = column_time(s, 4);
                FolderInfo fi;

                r = export_check_cancel(n->x);
                if (r != 0)
                        return r;
                if (sqlite3_column_int64(s, 6) != 0)
                        continue;               /* marked for deletion */
                if (sqlite3_column_type(s, 2) == SQLITE_NULL)
                        fi = (FolderInfo) {};
                else {
                        r = folder_info(n, sqlite3_column_int64(s, 2), &fi);
                        if (r != 0)
                                return r;
                }
                if (fi.trash) {
                        folder_info_done(&fi);
                        continue;               /* in Recently Deleted */
                }
                n->cycles += fi.cycle;
                if (sqlite3_column_int64(s, 5) != 0)
                        r = list_locked(n, title ? title : "Untitled", &fi, created, modified);
                else
                        r = export_one(n, id, title, &fi, modified);
                folder_info_done(&fi);
                if (r != 0)
                        return r;
        }
        if (q != SQLITE_DONE)
                return export_unknown_schema(n->x, "notes", "%s", sqlite3_errmsg(n->db));
        return 0;
}

static int run(ExportCtx *x) {
        static const char *const note_columns[] = { "Z_PK", "ZTITLE1", "ZFOLDER", "ZNOTEDATA",
                                                    "ZMODIFICATIONDATE1", "ZTITLE2",
                                                    "ZPARENT", "ZIDENTIFIER", "ZTYPEUTI",
                                                    "ZMEDIA", "ZFILENAME", NULL };
        static const char *const data_columns[] = { "Z_PK", "ZNOTE", "ZDATA", NULL };
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        Notes n = { .x = x, .notes_fd = -EBADF };
        int r;

        r = export_open_checked(x, NOTES_DOMAIN, NOTES_PATH, "notes",
                                (const ExportTable[]) { { OBJ, note_columns },
                                                        { "ZICNOTEDATA", data_columns }, {} },
                                &db);
        if (r != 0)
                return r;
        n.db = db;
        n.has_alt = export_has_column(db, OBJ, "ZALTTEXT");
        n.has_mergeable = export_has_column(db, OBJ, "ZMERGEABLEDATA1");
        /* iOS 17+ writes ZCREATIONDATE3, before ZCREATIONDATE1: the first one set */
        snprintf(n.created, sizeof(n.created), "COALESCE(%s, %s)",
                 export_has_column(db, OBJ, "ZCREATIONDATE3") ? "ZCREATIONDATE3" : "NULL",
                 export_has_column(db, OBJ, "ZCREATIONDATE1") ? "ZCREATIONDATE1" : "NULL");
        /* Entity numbers differ between versions: by name, when the store says */
        if (export_has_column(db, "Z_PRIMARYKEY", "Z_NAME"))
                snprintf(n.note_ent, sizeof(n.note_ent),
                         "AND Z_ENT IN (SELECT Z_ENT FROM Z_PRIMARYKEY WHERE Z_NAME = 'ICNote')");

        r = export_list(x, NOTES_DOMAIN, "Accounts", collect_media, &n.media);
        if (r == 0)
                r = export_mkdir(x, export_root_fd(x), "notes", &n.notes_fd);
        if (r == 0)
                r = export_all(&n);
        if (n.locked_md) {
                int k = export_close(x, TAKE_PTR(n.locked_md), 0);
                if (r == 0)
                        r = k;
        }
        if (r == 0) {
                export_count(x, n.exported);
                if (n.locked > 0)
                        export_note(x, "%" PRIu64 " locked notes are listed in Locked notes.md, "
                                    "not decrypted.", n.locked);
                if (n.unreadable > 0)
                        export_note(x, "%" PRIu64 " note bodies could not be decoded.",
                                    n.unreadable);
                if (n.attachments_missing > 0)
                        export_note(x, "%" PRIu64 " attachments are not in the backup.",
                                    n.attachments_missing);
                if (n.cycles > 0)
                        export_note(x, "%" PRIu64 " notes are in folders whose parent links "
                                    "loop; those folders are placed at the top.", n.cycles);
        }
        if (n.notes_fd >= 0)
                close(n.notes_fd);
        for (size_t i = 0; i < n.media.n; i++)
                free(n.media.paths[i]);
        free(n.media.paths);
        return r;
}

const ExportType export_notes = {
        .name = "notes",
        .version = 1,
        .sources = (const ExportSource[]) {
                /* a prefix matches whole components: the WAL is a source of its own */
                { NOTES_DOMAIN, NOTES_PATH },
                { NOTES_DOMAIN, NOTES_PATH "-wal" },
                { NOTES_DOMAIN, "Accounts" },
                {},
        },
        .run = run,
};
