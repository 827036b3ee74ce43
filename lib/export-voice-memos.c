/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Voice Memos: every recording copied to voice-memos/"<YYYY-MM-DD HH.MM> <title>.m4a", the
 * date and time of the recording in UTC (a backup does not say which zone the phone was
 * in, and UTC names sort and compare the same everywhere), the file's mtime that instant.
 *
 * The database of iOS 14 and later (the versions we export from):
 * AppDomainGroup-group.com.apple.VoiceMemos.shared/Recordings/CloudRecordings.db, table
 * ZCLOUDRECORDING: the title in ZENCRYPTEDTITLE (plain text despite the name) or, when that
 * is empty, ZCUSTOMLABEL; ZDATE (Mac absolute time); ZPATH (the file name, or a device path
 * whose last component is the file name, in Recordings/ beside the database). Rows with
 * ZEVICTIONDATE set are in Recently Deleted and left out. The .m4a files that old iOS kept
 * in MediaDomain/Media/Recordings/ are not taken for recordings: nothing there says which
 * recording they are (the table array below is where another place would go).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "util.h"

typedef struct Place {
        const char *domain, *db, *dir, *table;
} Place;

static const Place places[] = {
        { "AppDomainGroup-group.com.apple.VoiceMemos.shared", "Recordings/CloudRecordings.db",
          "Recordings", "ZCLOUDRECORDING" },
};

static int export_place(ExportCtx *x, const Place *p, sqlite3 *db) {
        static const char *const columns[] = { "Z_PK", "ZDATE", "ZPATH", "ZCUSTOMLABEL", NULL };
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        bool has_title = export_has_column(db, p->table, "ZENCRYPTEDTITLE");
        bool has_evicted = export_has_column(db, p->table, "ZEVICTIONDATE");
        uint64_t n = 0, missing = 0;
        int out_fd = -EBADF, q, r;
        char sql[300];

        r = export_need_columns(x, db, "voice memos", p->table, columns);
        if (r != 0)
                return r;
        /* ZEVICTIONDATE set: in Recently Deleted, left out */
        snprintf(sql, sizeof(sql),
                 "SELECT ZDATE, ZPATH, %s, ZCUSTOMLABEL FROM %s WHERE %s IS NULL "
                 "ORDER BY ZDATE, Z_PK",
                 has_title ? "ZENCRYPTEDTITLE" : "NULL", p->table,
                 has_evicted ? "ZEVICTIONDATE" : "NULL");
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
                return export_unknown_schema(x, "voice memos", "%s", sqlite3_errmsg(db));
        r = export_mkdir(x, export_root_fd(x), "voice-memos", &out_fd);
        if (r != 0)
                return r;
        /* r: the first failure of the frame (positive IDS_E_* too); q: SQLite's step */
        while ((q = sqlite3_step(s)) == SQLITE_ROW) {
                const char *zpath = (const char *) sqlite3_column_text(s, 1);
                const char *title = (const char *) sqlite3_column_text(s, 2);
                const char *base;
                _cleanup_free_ char *src = NULL;
                char when[32] = "", full[600], name[256];
                double d = sqlite3_column_double(s, 0);
                int64_t t = 0;

                r = export_check_cancel(x);
                if (r != 0)
                        break;
                if (!title || !*title)
                        title = (const char *) sqlite3_column_text(s, 3);
                if (!title || !*title)
                        title = "Recording";
                if (!zpath || !*zpath) {
                        missing++;
                        continue;
                }
                /* Only the last component: a stored device path never leads elsewhere. */
                base = strrchr(zpath, '/');
                base = base ? base + 1 : zpath;
                if (!*base || streq_ptr(base, ".") || streq_ptr(base, "..")) {
                        missing++;
                        continue;
                }
                if (asprintf(&src, "%s/%s", p->dir, base) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (sqlite3_column_type(s, 0) != SQLITE_NULL && d > -1e10 && d < 1e10) {
                        struct tm tm;
                        time_t tt;

                        t = (int64_t) d + EXPORT_MAC_EPOCH;
                        tt = (time_t) t;
                        if (gmtime_r(&tt, &tm))
                                strftime(when, sizeof(when), "%Y-%m-%d %H.%M ", &tm);
                }
                snprintf(full, sizeof(full), "%s%s", when, title);
                export_safe_name(full, ".m4a", "Recording", name, sizeof(name));
                r = export_copy_file(x, out_fd, name, p->domain, src, t, NULL);
                if (r == -ENOENT) {
                        missing++;
                        r = 0;
                        continue;
                }
                if (r != 0)
                        break;
                n++;
        }
        close(out_fd);
        if (r != 0)
                return r;
        if (q != SQLITE_DONE)
                return export_unknown_schema(x, "voice memos", "%s", sqlite3_errmsg(db));
        export_count(x, n);
        if (missing > 0)
                export_note(x, "%" PRIu64 " recordings are listed but their audio is not in "
                            "the backup.", missing);
        return 0;
}

static int run(ExportCtx *x) {
        for (size_t i = 0; i < ELEMENTSOF(places); i++) {
                _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
                int r;

                r = export_open_db(x, places[i].domain, places[i].db, &db);
                if (r == -ENOENT)
                        continue;
                if (r != 0)
                        return r;
                return export_place(x, &places[i], db);
        }
        return export_missing(x, "voice memos");
}

const ExportType export_voice_memos = {
        .name = "voice-memos",
        .version = 1,
        .sources = (const ExportSource[]) {
                { "AppDomainGroup-group.com.apple.VoiceMemos.shared", "Recordings" },
                {},
        },
        .run = run,
};
