/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public snapshot operations over the store: list, delete, verify (the integrity index and
 * the Manifest.db of the snapshot against its files).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "idevicesync.h"
#include "store.h"
#include "util.h"
#include "udid.h"

static void to_public(const SnapshotInfo *i, ids_snapshot *s) {
        memset(s, 0, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%s", i->id);
        s->start_usec = i->start_usec;
        s->end_usec = i->end_usec;
        s->files = i->files;
        s->bytes = i->bytes;
        s->new_bytes = i->new_bytes;
        s->encrypted = i->encrypted;
        s->full = i->full;
        snprintf(s->ios_version, sizeof(s->ios_version), "%s", i->ios_version);
}

_public_ int ids_snapshot_list(const char *backup_dir, const char *udid, ids_snapshot **ret,
                               size_t *ret_n) {
        char canonical[UDID_MAX + 1];
        _cleanup_(freep) SnapshotInfo *list = NULL;
        ids_snapshot *out;
        size_t n = 0;
        int r;

        if (!ret || !ret_n || !(udid = udid_canonical_copy(udid, canonical)))
                return -EINVAL;
        r = store_list_readonly(ids_state_dir(backup_dir), udid, &list, &n);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r;
        out = calloc(n ?: 1, sizeof(*out));
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                to_public(&list[i], &out[i]);
        *ret = out;
        *ret_n = n;
        return 0;
}

/* The store of udid in backup_dir (NULL: the state directory) under the device's lock in
 * state_dir. 0, IDS_E_BUSY (another operation holds the lock) or -errno. */
static int open_locked(const char *state_dir, const char *backup_dir, const char *udid,
                       Store **ret) {
        int r;

        state_dir = ids_state_dir(state_dir);
        r = store_open(backup_dir ?: state_dir, state_dir, udid, ret);
        return r == -EBUSY ? IDS_E_BUSY : r;
}

_public_ int ids_snapshot_delete(const char *state_dir, const char *backup_dir, const char *udid,
                                 const char *id) {
        char canonical[UDID_MAX + 1];
        Store *s = NULL;
        int r;

        if (!id || !(udid = udid_canonical_copy(udid, canonical)))
                return -EINVAL;
        r = open_locked(state_dir, backup_dir, udid, &s);
        if (r != 0)
                return r;
        r = store_delete(s, id);
        store_close(s);
        return r;
}

/* Every regular-file row of Manifest.db (fileID) has its file at <UDID>/<xx>/<fileID>. */
static int check_manifest(const char *snap, const char *udid, ids_verify_report *rep) {
        _cleanup_(freep) char *db_path = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (asprintf(&db_path, "file:%s/%s/Manifest.db?mode=ro&immutable=1", snap, udid) < 0)
                return -ENOMEM;
        if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
                    SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT fileID FROM Files WHERE flags = 1", -1, &st, NULL) !=
                    SQLITE_OK) {
                snprintf(rep->first_problem, sizeof(rep->first_problem),
                         "Manifest.db cannot be read");
                r = 1;
                goto out;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                char path[4096];
                struct stat sb;

                if (!id || strlen(id) != 40 || strspn(id, "0123456789abcdef") != 40) {
                        r = 1;
                        continue;
                }
                snprintf(path, sizeof(path), "%s/%s/%.2s/%s", snap, udid, id, id);
                if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                        if (!rep->first_problem[0])
                                snprintf(rep->first_problem, sizeof(rep->first_problem),
                                         "Manifest.db lists %s but the file is missing", id);
                        r = 1;
                }
        }
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        return r;
}

_public_ int ids_snapshot_verify(const char *state_dir, const char *backup_dir, const char *udid,
                                 const char *id, ids_verify_report *report) {
        char canonical[UDID_MAX + 1];
        ids_verify_report dummy = {};
        ids_verify_report *rep = report ?: &dummy;
        _cleanup_(freep) char *snap = NULL;
        SnapshotInfo info;
        VerifyReport vr = {};
        Store *s = NULL;
        int r;

        if (!(udid = udid_canonical_copy(udid, canonical)))
                return -EINVAL;
        memset(rep, 0, sizeof(*rep));
        r = open_locked(state_dir, backup_dir, udid, &s);
        if (r != 0)
                return r;
        /* NULL or "" means the latest snapshot. */
        r = id && *id ? store_get(s, id, &info) : store_latest(s, &info);
        if (r == 0)
                r = store_verify(s, info.id, &vr);
        if (r == 0)
                r = store_snapshot_path(s, info.id, &snap);
        if (r == 0) {
                rep->files_checked = vr.files_checked;
                rep->missing = vr.missing;
                rep->changed = vr.changed;
                rep->unindexed = vr.unindexed;
                snprintf(rep->first_problem, sizeof(rep->first_problem), "%s", vr.first_problem);
                /* An encrypted Manifest.db needs the password: its bytes are checked above. */
                rep->manifest_ok = info.encrypted || check_manifest(snap, udid, rep) == 0;
                if (vr.missing || vr.changed || vr.unindexed || !rep->manifest_ok)
                        r = IDS_E_PROTOCOL;
        }
        store_close(s);
        return r;
}
