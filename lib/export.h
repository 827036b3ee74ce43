/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Exports from the backup (issue 14): contacts, calendars, bookmarks, notes and voice memos
 * read from the databases of a committed snapshot and written in open formats beneath
 * <library>/. export.c is the frame (one sync category per export type: which snapshot,
 * whether its sources changed, a fresh directory to write into, the atomic swap, the state
 * it keeps); export-<name>.c are the types, which only read databases and write files
 * through the ExportCtx below.
 *
 * An export type writes into an empty directory (export_root_fd()); each entry it leaves at
 * the top of that directory ("contacts/", "contacts.vcf") replaces <library>/<entry> as a
 * whole when the type returns 0, so a reader sees the old export or the new one, never a
 * mix. When the type fails, nothing of <library>/ changes: the previous export stays.
 *
 * Everything read from the snapshot is hostile input: a database may have any schema, any
 * value in any column (SQLite does not enforce types), NULLs anywhere, cycles in parent
 * links, names with '/' or control characters. A type checks the schema it relies on first
 * (export_need_columns()) and reports anything else it does not know with
 * export_unknown_schema(), never a crash and never an empty export that looks like "no
 * contacts".
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "idevicesync.h"

typedef struct ExportCtx ExportCtx;

/* The snapshot files whose content decides whether an export is regenerated: every file of
 * domain beneath prefix (a path or a directory; "" = the whole domain). */
typedef struct ExportSource {
        const char *domain;
        const char *prefix;
} ExportSource;

typedef struct ExportType {
        const char *name;               /* "contacts": the sync category, the policy key */
        /* Bumped when the output changes for the same input, so old exports are redone. */
        unsigned version;
        const ExportSource *sources;    /* ended by { NULL, NULL } */
        /* Write the export beneath export_root_fd(x). 0, IDS_E_UNSUPPORTED (after
         * export_unknown_schema()), -ENOENT (the source database is not in the snapshot:
         * after export_missing()), IDS_E_CANCELLED, -errno. */
        int (*run)(ExportCtx *x);
} ExportType;

extern const ExportType export_contacts, export_calendars, export_bookmarks, export_notes,
        export_voice_memos;

/* ---- for export types ------------------------------------------------------------------- */

/* The snapshot's iOS version ("17.5"; "" when its Info.plist does not say). */
const char *export_ios_version(ExportCtx *x);
/* The snapshot's id ("2026-12-04T09-41-00Z"), for notes in files. */
const char *export_snapshot_id(ExportCtx *x);

/* A private decrypted copy of domain/path (with its -wal and -shm when the snapshot has
 * them), opened read-write on the copy so a WAL is applied; nothing reaches the snapshot.
 * The caller closes it with sqlite3_close(); the copy is removed at the end of the run.
 * 0; -ENOENT (not in the snapshot); IDS_E_PROTOCOL (not a database: the reason is set);
 * IDS_E_CANCELLED; -errno. */
int export_open_db(ExportCtx *x, const char *domain, const char *path, sqlite3 **ret);

/* 0 when table has every column of the NULL-terminated list, else IDS_E_UNSUPPORTED with
 * the reason set to "<what> database schema of iOS <v> is not known (<table> has no column
 * <c>)". what: "contacts", "calendar", … */
int export_need_columns(ExportCtx *x, sqlite3 *db, const char *what, const char *table,
                        const char *const *columns);
/* A table and the columns a type relies on (NULL-terminated). */
typedef struct ExportTable {
        const char *name;
        const char *const *columns;
} ExportTable;

/* export_open_db(), then export_need_columns() for every table (the list ends with
 * { NULL }): -ENOENT after export_missing(what) when the database is not in the snapshot;
 * IDS_E_UNSUPPORTED, IDS_E_PROTOCOL with the reason set; 0 with *ret open. */
int export_open_checked(ExportCtx *x, const char *domain, const char *path, const char *what,
                        const ExportTable *tables, sqlite3 **ret);

/* Whether table has column (for optional columns that differ between iOS versions). */
bool export_has_column(sqlite3 *db, const char *table, const char *column);

/* Set the category's reason to "<what> database schema of iOS <v> is not known (<detail>)"
 * and return IDS_E_UNSUPPORTED. */
int export_unknown_schema(ExportCtx *x, const char *what, const char *detail_fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The source is not in the snapshot: sets the reason ("no <what> database in the backup:
 * <why>") and returns -ENOENT. */
int export_missing(ExportCtx *x, const char *what);

/* Every file of the snapshot in domain beneath prefix, in path order. fn returns 0 to go
 * on; anything else stops and is returned. Unsafe names are passed with f->safe false. */
int export_list(ExportCtx *x, const char *domain, const char *prefix,
                int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata),
                void *userdata);
/* The plaintext of a small file (at most max bytes, else -EFBIG) into a malloc'd buffer
 * (NUL-terminated beyond *ret_size). -ENOENT, IDS_E_PROTOCOL (does not decrypt), -errno. */
int export_read_file(ExportCtx *x, const char *domain, const char *path, size_t max,
                     void **ret, size_t *ret_size);

/* The directory the type writes into (borrowed). */
int export_root_fd(ExportCtx *x);
/* Create directory name (one component, made safe by the caller) beneath dir_fd, or open it
 * if this run made it already. The fd is the caller's. */
int export_mkdir(ExportCtx *x, int dir_fd, const char *name, int *ret_fd);
/* Create a new file beneath dir_fd. name is one component made with export_safe_name();
 * when it is taken (by an earlier file of this run), " (2)", " (3)" … go before the
 * extension. *ret (a FILE for writing, fully buffered) is closed with export_close(), which
 * sets mtime (seconds since the epoch; 0: leave it). ret_name (may be NULL) gets the name
 * used, malloc'd. */
int export_create(ExportCtx *x, int dir_fd, const char *name, FILE **ret, char **ret_name);
/* Flush, check for write errors, set the mtime, close. 0, IDS_E_DISK_FULL, -errno. */
int export_close(ExportCtx *x, FILE *f, int64_t mtime);
/* The whole of a file at once (export_create() + write + export_close()). */
int export_write(ExportCtx *x, int dir_fd, const char *name, const void *data, size_t len,
                 int64_t mtime, char **ret_name);
/* Copy domain/path of the snapshot (decrypted) to a new file name beneath dir_fd, named as
 * export_create() names it; mtime 0: the snapshot's LastModified. A copy already in the
 * previous export with the same size and mtime is hard-linked, not copied again. -ENOENT
 * when the snapshot has no such file. */
int export_copy_file(ExportCtx *x, int dir_fd, const char *name, const char *domain,
                     const char *path, int64_t mtime, char **ret_name);

/* One safe file name component from a title: '/', '\\', control characters and the
 * characters Windows refuses become '_', whitespace runs one space, leading dots and
 * spaces and trailing dots and spaces dropped, cut at a UTF-8 character boundary to fit
 * max_bytes (at most n - 1; ext not included), invalid UTF-8 bytes replaced; "" → fallback.
 * ext (may be NULL or "") is appended: export_safe_name("a/b", ".vcf", …) = "a_b.vcf". */
void export_safe_name(const char *title, const char *ext, const char *fallback, char *buf,
                      size_t n);

/* Items exported (contacts, events, notes …): the category's files_in. */
void export_count(ExportCtx *x, uint64_t items);
/* A sentence appended to the category's reason ("2 locked notes are listed, not
 * decrypted."). */
void export_note(ExportCtx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* IDS_E_CANCELLED once a cancel was asked for, else 0. */
int export_check_cancel(ExportCtx *x);

/* Results: 0, the positive IDS_E_* outcomes (IDS_E_UNSUPPORTED, IDS_E_PROTOCOL,
 * IDS_E_CANCELLED, IDS_E_DISK_FULL: test `r != 0`, not `r < 0`), or -errno. */

static inline void sqlite3_closep(sqlite3 **db) {
        sqlite3_close(*db);
}

static inline void sqlite3_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}

/* Mac absolute time (seconds since 2001-01-01 UTC, as Core Data stores it) to Unix time. */
#define EXPORT_MAC_EPOCH INT64_C(978307200)

/* ---- the frame's entry points ---------------------------------------------------------- */

/* Run one type outside a sync (tests, tools): read the snapshot layout from a plain
 * directory src_dir/<domain>/<path> (an emulator profile's backup/), write into out_fd's
 * directory (its top-level entries as they would be placed beneath <library>/). ios is
 * what export_ios_version() returns. reason gets the category's reason; *ret_items its
 * count. Returns what the type returned. */
int export_run_plain(const ExportType *t, const char *src_dir, const char *ios, int out_fd,
                     char *reason, size_t reason_size, uint64_t *ret_items);
