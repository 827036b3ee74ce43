/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Public snapshot operations over the store: list, delete, verify (the integrity index and
 * the Manifest.db of the snapshot against its files; for an encrypted snapshot, with the
 * password, that every file decrypts to exactly its size).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "crypt.h"
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
        _cleanup_(freep) char *db_path = NULL, *esc = sqlite_uri_escape(snap);
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r = 0;

        if (!esc || asprintf(&db_path, "file:%s/%s/Manifest.db?mode=ro&immutable=1", esc,
                             udid) < 0) {
                db_path = NULL;
                return -ENOMEM;
        }
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

static void problem(ids_verify_report *rep, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static void problem(ids_verify_report *rep, const char *fmt, ...) {
        va_list ap;

        if (rep->first_problem[0])
                return;
        va_start(ap, fmt);
        vsnprintf(rep->first_problem, sizeof(rep->first_problem), fmt, ap);
        va_end(ap);
}

/* One stored file of an encrypted snapshot: its size fits a CBC stream of Size bytes, its
 * key unwraps, and it decrypts with valid padding to exactly Size bytes. 0 good, 1 bad
 * (reported), -errno. */
static int check_encrypted_file(const char *dir, const Keybag *kb, const char *id,
                                const void *blob, size_t blob_len, ids_verify_report *rep) {
        _cleanup_(closep) int fd = -EBADF;
        uint8_t wrapped[CRYPT_BLOB_SIZE], key[CRYPT_KEY_SIZE];
        char path[4096];
        uint64_t size = 0;
        bool has_key = false;
        struct stat sb;
        int r;

        if (crypt_mbfile_parse(blob, blob_len, &size, wrapped, &has_key) != 0) {
                problem(rep, "%s: its Manifest.db record is not a readable MBFile", id);
                return 1;
        }
        snprintf(path, sizeof(path), "%s/%.2s/%s", dir, id, id);
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                problem(rep, "Manifest.db lists %s but the file is missing", id);
                return 1;
        }
        /* An empty file may be stored empty; anything else is a whole CBC stream. */
        if (size == 0 && sb.st_size == 0)
                return 0;
        if ((uint64_t) sb.st_size != crypt_cbc_size(size)) {
                problem(rep, "%s: %llu bytes stored, an encrypted file of %llu bytes has %llu",
                        id, (unsigned long long) sb.st_size, (unsigned long long) size,
                        (unsigned long long) crypt_cbc_size(size));
                return 1;
        }
        if (!has_key) {
                problem(rep, "%s: its Manifest.db record has no EncryptionKey", id);
                return 1;
        }
        if (keybag_unwrap_blob(kb, wrapped, sizeof(wrapped), key) != 0) {
                problem(rep, "%s: its EncryptionKey does not unwrap with the keybag", id);
                return 1;
        }
        r = crypt_decrypt_fd(key, fd, -1, size, NULL);
        explicit_bzero(key, sizeof(key));
        if (r == -EBADMSG) {
                problem(rep, "%s: does not decrypt to its %llu bytes (bad padding or length)",
                        id, (unsigned long long) size);
                return 1;
        }
        return r;
}

/* The encrypted half of verify, on dir = <snapshot>/<UDID>. 0 when everything decrypts;
 * 1 when something does not (reported); IDS_E_WRONG_PASSWORD; -errno. */
static int check_encrypted(const char *dir, const Keybag *kb_locked, const uint8_t *mkey,
                           const char *password, const char *tmp_dir,
                           ids_verify_report *rep) {
        Keybag kb = *kb_locked;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r, k, bad = 0;

        if (!password) {
                problem(rep, "encrypted snapshot: a password is needed to verify it");
                r = IDS_E_WRONG_PASSWORD;
                goto out;
        }
        r = keybag_unlock(&kb, password, strlen(password));
        if (r == IDS_E_WRONG_PASSWORD) {
                problem(rep, "encrypted snapshot: the password does not unlock its keybag");
                goto out;
        }
        if (r == IDS_E_PROTOCOL) {
                problem(rep, "encrypted snapshot: its keybag is damaged");
                r = 1;
                goto out;
        }
        if (r < 0)
                goto out;

        r = crypt_manifest_db_open(dir, &kb, mkey, tmp_dir, &db);
        if (r == IDS_E_PROTOCOL) {
                problem(rep, "encrypted snapshot: Manifest.db does not decrypt to a database");
                r = 1;
                goto out;
        }
        if (r < 0)
                goto out;
        if (sqlite3_prepare_v2(db, "SELECT fileID, file FROM Files WHERE flags = 1", -1, &st,
                               NULL) != SQLITE_OK) {
                problem(rep, "encrypted snapshot: Manifest.db has no Files table");
                r = 1;
                goto out;
        }
        while ((k = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const void *blob = sqlite3_column_blob(st, 1);
                int n = sqlite3_column_bytes(st, 1);

                if (!id || strlen(id) != 40 || strspn(id, "0123456789abcdef") != 40) {
                        problem(rep, "Manifest.db has a row with a bad fileID");
                        bad = 1;
                        continue;
                }
                r = check_encrypted_file(dir, &kb, id, blob, n > 0 ? (size_t) n : 0, rep);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        rep->undecryptable++;
                        bad = 1;
                } else
                        rep->decrypted++;
        }
        if (k != SQLITE_DONE) {
                problem(rep, "encrypted snapshot: Manifest.db cannot be read to its end");
                bad = 1;
        }
        r = bad;
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        keybag_wipe(&kb);
        return r;
}

_public_ int ids_verify_run(const ids_verify_options *o, ids_verify_report *report) {
        char canonical[UDID_MAX + 1];
        ids_verify_report dummy = {};
        ids_verify_report *rep = report ?: &dummy;
        _cleanup_(freep) char *snap = NULL, *dir = NULL;
        uint8_t mkey[CRYPT_BLOB_SIZE];
        SnapshotInfo info;
        VerifyReport vr = {};
        Keybag kb = {};
        const char *udid;
        bool encrypted = false;
        Store *s = NULL;
        int r;

        if (!o || !(udid = udid_canonical_copy(o->udid, canonical)))
                return -EINVAL;
        memset(rep, 0, sizeof(*rep));
        r = open_locked(o->state_dir, o->backup_dir, udid, &s);
        if (r != 0)
                return r;
        /* NULL or "" means the latest snapshot. */
        r = o->snapshot && *o->snapshot ? store_get(s, o->snapshot, &info) :
                                          store_latest(s, &info);
        if (r == 0)
                r = store_verify(s, info.id, &vr);
        if (r == 0)
                r = store_snapshot_path(s, info.id, &snap);
        if (r == 0 && asprintf(&dir, "%s/%s", snap, udid) < 0)
                r = -ENOMEM;
        if (r != 0)
                goto out;

        rep->files_checked = vr.files_checked;
        rep->missing = vr.missing;
        rep->changed = vr.changed;
        rep->unindexed = vr.unindexed;
        snprintf(rep->first_problem, sizeof(rep->first_problem), "%s", vr.first_problem);

        /* Manifest.plist says whether the backup is encrypted; the commit record too (a
         * snapshot that says so but has no keybag cannot be verified: a problem). */
        r = crypt_manifest_plist_read(dir, &encrypted, &kb, mkey);
        if (r == 0 && info.encrypted && !encrypted) {
                problem(rep, "the snapshot was made encrypted but Manifest.plist says not");
                r = IDS_E_PROTOCOL;
        } else if (r == IDS_E_PROTOCOL || r == -ENOENT) {
                problem(rep, "Manifest.plist is missing or has no usable keybag");
                encrypted = encrypted || info.encrypted;
                r = IDS_E_PROTOCOL;
        }
        rep->encrypted = encrypted;
        if (r < 0)
                goto out;
        if (r == 0 && encrypted) {
                r = check_encrypted(dir, &kb, mkey, o->password, ids_state_dir(o->state_dir),
                                    rep);
                rep->manifest_ok = r == 0;
        } else if (r == 0)
                rep->manifest_ok = check_manifest(snap, udid, rep) == 0;
        if (r < 0)
                goto out;
        /* A missing or changed file is named by the index check already, and it outranks
         * a missing or wrong password. */
        if (r == IDS_E_WRONG_PASSWORD && !vr.missing && !vr.changed && !vr.unindexed)
                goto out;
        if (r != 0 || vr.missing || vr.changed || vr.unindexed || !rep->manifest_ok)
                r = IDS_E_PROTOCOL;
out:
        keybag_wipe(&kb);
        explicit_bzero(mkey, sizeof(mkey));
        store_close(s);
        return r;
}

_public_ int ids_snapshot_verify(const char *state_dir, const char *backup_dir, const char *udid,
                                 const char *id, ids_verify_report *report) {
        return ids_verify_run(&(ids_verify_options) {
                                      .udid = udid,
                                      .snapshot = id,
                                      .state_dir = state_dir,
                                      .backup_dir = backup_dir,
                              },
                              report);
}
