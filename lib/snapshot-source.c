/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A committed snapshot opened for reading (snapshot-source.h): its store (holding the
 * device lock, unless the caller holds it), its Manifest.db (decrypted with the password
 * for an encrypted snapshot) and its rows, each read as hostile again: the store is a
 * directory on disk that anything with its permissions can change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <plist/plist.h>
#include <sqlite3.h>

#include "fs-util.h"
#include "snapshot-source.h"
#include "udid.h"
#include "plist-util.h"
#include "util.h"

void source_done(Source *s) {
        sqlite3_close(s->db);
        s->db = NULL;
        keybag_wipe(&s->kb);
        if (s->dir_fd >= 0)
                close(s->dir_fd);
        s->dir_fd = -EBADF;
        free(s->dir);
        s->dir = NULL;
        s->store = store_close(s->store);
}

void source_problem(char *buf, size_t len, const char *fmt, ...) {
        va_list ap;

        if (!buf || len == 0 || buf[0])
                return;
        va_start(ap, fmt);
        vsnprintf(buf, len, fmt, ap);
        va_end(ap);
}

static int open_plain_db(const char *dir, sqlite3 **ret) {
        _cleanup_(freep) char *esc = NULL, *uri = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        int r = 0;

        esc = sqlite_uri_escape(dir);
        if (!esc || asprintf(&uri, "file:%s/Manifest.db?mode=ro&immutable=1", esc) < 0)
                return -ENOMEM;
        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) !=
                    SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT count(*) FROM Files", -1, &st, NULL) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW)
                r = IDS_E_PROTOCOL;
        sqlite3_finalize(st);
        if (r != 0) {
                sqlite3_close(db);
                return r;
        }
        *ret = db;
        return 0;
}

/* Lock the store, find the snapshot, open its Manifest.db (decrypting it with password
 * when it is encrypted). 0; IDS_E_WRONG_PASSWORD, IDS_E_PROTOCOL, IDS_E_BUSY, -ENOENT,
 * -errno; why (may be NULL) gets a sentence for anything but 0. */
int source_open(const char *udid_in, const char *snapshot, const char *state_dir,
                const char *backup_dir, const char *password, bool lock_held, Source *s,
                char *why, size_t why_len) {
        char canonical[UDID_MAX + 1];
        _cleanup_(freep) char *snap = NULL;
        uint8_t mkey[CRYPT_BLOB_SIZE];
        SnapshotInfo info;
        const char *udid;
        int r;

        *s = (Source) { .dir_fd = -EBADF };
        if (!(udid = udid_canonical_copy(udid_in, canonical)))
                return -EINVAL;
        state_dir = ids_state_dir(state_dir);
        snprintf(s->tmp_dir, sizeof(s->tmp_dir), "%s", state_dir);
        r = lock_held ? store_open_held(backup_dir ?: state_dir, udid, &s->store) :
                        store_open(backup_dir ?: state_dir, state_dir, udid, &s->store);
        if (r == -EBUSY)
                r = IDS_E_BUSY;
        if (r != 0) {
                source_problem(why, why_len, "the device's store cannot be opened");
                return r;
        }
        r = snapshot && *snapshot ? store_get(s->store, snapshot, &info) :
                                    store_latest(s->store, &info);
        if (r == -ENOENT)
                source_problem(why, why_len, "no such snapshot");
        if (r == 0) {
                snprintf(s->id, sizeof(s->id), "%s", info.id);
                snprintf(s->ios, sizeof(s->ios), "%s", info.ios_version);
                r = store_snapshot_path(s->store, info.id, &snap);
        }
        if (r == 0 && asprintf(&s->dir, "%s/%s", snap, udid) < 0) {
                s->dir = NULL;
                r = -ENOMEM;
        }
        if (r != 0)
                goto fail;
        s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->dir_fd < 0) {
                r = errno == ENOENT ? IDS_E_PROTOCOL : -errno;
                source_problem(why, why_len, "the snapshot has no backup directory");
                goto fail;
        }

        r = crypt_manifest_plist_read(s->dir, &s->encrypted, &s->kb, mkey);
        if (r == 0 && info.encrypted && !s->encrypted)
                r = IDS_E_PROTOCOL;
        if (r == IDS_E_PROTOCOL || r == -ENOENT) {
                source_problem(why, why_len, "Manifest.plist is missing or has no usable keybag");
                r = IDS_E_PROTOCOL;
        }
        if (r != 0)
                goto fail;

        if (!s->encrypted) {
                r = open_plain_db(s->dir, &s->db);
                if (r == IDS_E_PROTOCOL)
                        source_problem(why, why_len, "Manifest.db cannot be read");
                if (r != 0)
                        goto fail;
                return 0;
        }

        if (!password) {
                source_problem(why, why_len, "encrypted snapshot: a password is needed");
                r = IDS_E_WRONG_PASSWORD;
                goto fail;
        }
        r = keybag_unlock(&s->kb, password, strlen(password));
        if (r == IDS_E_WRONG_PASSWORD)
                source_problem(why, why_len,
                            "encrypted snapshot: the password does not unlock its keybag");
        else if (r == IDS_E_PROTOCOL)
                source_problem(why, why_len, "encrypted snapshot: its keybag is damaged");
        if (r != 0)
                goto fail;
        r = crypt_manifest_db_open(s->dir, &s->kb, mkey, state_dir, &s->db);
        if (r == IDS_E_PROTOCOL)
                source_problem(why, why_len,
                            "encrypted snapshot: Manifest.db does not decrypt to a database");
        if (r != 0)
                goto fail;
        explicit_bzero(mkey, sizeof(mkey));
        return 0;
fail:
        explicit_bzero(mkey, sizeof(mkey));
        source_done(s);
        return r;
}

static bool has_control(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return true;
        return false;
}

/* Whether <domain>/<path> may be written beneath a target: both safe relative names, a
 * domain of one component, nothing a terminal or a shell script would misread. */
static bool row_is_safe(const char *domain, int domain_len, const char *path, int path_len) {
        size_t dl, pl;

        if (!domain || !path || domain_len < 0 || path_len < 0)
                return false;
        dl = (size_t) domain_len;
        pl = (size_t) path_len;
        if (strlen(domain) != dl || strlen(path) != pl)
                return false;           /* an embedded NUL */
        if (dl == 0 || memchr(domain, '/', dl) || fs_path_check(domain, dl) < 0 ||
            has_control(domain, dl))
                return false;
        if (pl > 0 && (fs_path_check(path, pl) < 0 || has_control(path, pl)))
                return false;
        return dl + 1 + pl <= FS_PATH_MAX;
}

bool source_id_is_valid(const char *id) {
        return id && strlen(id) == 40 && strspn(id, "0123456789abcdef") == 40;
}

/* LastModified of an MBFile (crypt_mbfile_parse() reads Size and EncryptionKey). */
static int64_t mbfile_mtime(const void *blob, size_t len) {
        _cleanup_(plist_freep) plist_t root = NULL;
        plist_t objects, top, uid, obj, v;
        uint64_t i = 0, t = 0;

        if (!blob || len < 8 || len > UINT32_MAX)
                return 0;
        plist_from_bin(blob, (uint32_t) len, &root);
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return 0;
        objects = plist_dict_get_item(root, "$objects");
        top = plist_dict_get_item(root, "$top");
        if (!objects || plist_get_node_type(objects) != PLIST_ARRAY || !top ||
            plist_get_node_type(top) != PLIST_DICT)
                return 0;
        uid = plist_dict_get_item(top, "root");
        if (!uid || plist_get_node_type(uid) != PLIST_UID)
                return 0;
        plist_get_uid_val(uid, &i);
        if (i >= plist_array_get_size(objects))
                return 0;
        obj = plist_array_get_item(objects, (uint32_t) i);
        if (!obj || plist_get_node_type(obj) != PLIST_DICT)
                return 0;
        v = plist_dict_get_item(obj, "LastModified");
        if (!v || plist_get_node_type(v) != PLIST_UINT)
                return 0;
        plist_get_uint_val(v, &t);
        return t > INT64_MAX ? 0 : (int64_t) t;
}

/* path is prefix itself or lies beneath it; prefix has no trailing '/'. */
bool source_path_under(const char *path, const char *prefix, size_t n) {
        if (n == 0)
                return true;
        return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The length of prefix without trailing '/' (NULL: 0). */
size_t source_prefix_len(const char *prefix) {
        size_t n = prefix ? strlen(prefix) : 0;

        while (n > 0 && prefix[n - 1] == '/')
                n--;
        return n;
}


/* Every row of domain (NULL: all) beneath prefix, in domain and path order. 0, fn's
 * non-zero result, IDS_E_PROTOCOL (unreadable Manifest.db), -errno. */
int source_rows(const Source *s, const char *domain, const char *prefix, row_fn fn,
                       void *userdata, char *why, size_t why_len) {
        size_t plen = source_prefix_len(prefix);
        sqlite3_stmt *st = NULL;
        int r = 0, k;

        /* With a prefix, only its range: the path itself and [prefix + "/", prefix + "0")
         * ('/' + 1 = '0'), in byte order as SQLite compares; the filter below stays. */
        if (sqlite3_prepare_v2(s->db,
                               !domain ? "SELECT fileID, domain, relativePath, flags, file "
                                         "FROM Files ORDER BY domain, relativePath" :
                               plen == 0 ? "SELECT fileID, domain, relativePath, flags, file "
                                           "FROM Files WHERE domain = ?1 "
                                           "ORDER BY domain, relativePath" :
                                           "SELECT fileID, domain, relativePath, flags, file "
                                           "FROM Files WHERE domain = ?1 AND "
                                           "(relativePath = ?2 OR (relativePath >= ?2 || '/' "
                                           "AND relativePath < ?2 || '0')) "
                                           "ORDER BY domain, relativePath",
                               -1, &st, NULL) != SQLITE_OK) {
                source_problem(why, why_len, "Manifest.db has no usable Files table");
                return IDS_E_PROTOCOL;
        }
        if ((domain && sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) != SQLITE_OK) ||
            (domain && plen > 0 &&
             sqlite3_bind_text(st, 2, prefix, (int) plen, SQLITE_STATIC) != SQLITE_OK)) {
                r = -ENOMEM;
                goto out;
        }
        while ((k = sqlite3_step(st)) == SQLITE_ROW) {
                const void *blob = sqlite3_column_blob(st, 4);
                int n = sqlite3_column_bytes(st, 4);
                Row row = {
                        .id = (const char *) sqlite3_column_text(st, 0),
                        .domain = (const char *) sqlite3_column_text(st, 1),
                        .path = (const char *) sqlite3_column_text(st, 2),
                        .flags = (unsigned) sqlite3_column_int(st, 3),
                };

                row.safe = row_is_safe(row.domain, sqlite3_column_bytes(st, 1), row.path,
                                       sqlite3_column_bytes(st, 2));
                row.domain = row.domain ?: "";
                row.path = row.path ?: "";
                row.id = row.id ?: "";
                if (!source_path_under(row.path, prefix ? prefix : "", plen))
                        continue;
                if (row.flags != IDS_SNAPSHOT_FILE_REGULAR &&
                    row.flags != IDS_SNAPSHOT_FILE_DIRECTORY &&
                    row.flags != IDS_SNAPSHOT_FILE_SYMLINK)
                        row.flags = 0;
                if (blob && n > 0 &&
                    crypt_mbfile_parse(blob, (size_t) n, &row.size, row.key, &row.has_key) ==
                            0) {
                        row.mbfile_ok = true;
                        row.mtime = mbfile_mtime(blob, (size_t) n);
                } else if (!s->encrypted && row.flags == IDS_SNAPSHOT_FILE_REGULAR &&
                           source_id_is_valid(row.id)) {
                        /* No readable MBFile: the stored file's own size is all we know. */
                        char p[44];
                        struct stat sb;

                        snprintf(p, sizeof(p), "%.2s/%s", row.id, row.id);
                        if (fstatat(s->dir_fd, p, &sb, AT_SYMLINK_NOFOLLOW) >= 0 &&
                            S_ISREG(sb.st_mode))
                                row.size = (uint64_t) sb.st_size;
                }
                if (row.flags != IDS_SNAPSHOT_FILE_REGULAR)
                        row.size = 0;
                r = fn(s, &row, userdata);
                explicit_bzero(row.key, sizeof(row.key));
                if (r != 0)
                        goto out;
        }
        if (k != SQLITE_DONE) {
                source_problem(why, why_len, "Manifest.db cannot be read to its end");
                r = IDS_E_PROTOCOL;
        }
out:
        sqlite3_finalize(st);
        return r;
}


void source_row_file(const Source *s, const Row *row, ids_snapshot_file *ret) {
        *ret = (ids_snapshot_file) {
                .domain = row->domain,
                .path = row->path,
                .size = row->size,
                .mtime = row->mtime,
                .flags = row->flags,
                .encrypted = s->encrypted && row->has_key,
                .safe = row->safe,
        };
}

int source_stored_open(const Source *s, const char *id, uint64_t size, bool mbfile_ok,
                       bool has_key, const uint8_t blob[CRYPT_BLOB_SIZE], int *ret_fd,
                       uint8_t key[CRYPT_KEY_SIZE], const char **why) {
        _cleanup_(closep) int fd = -EBADF;
        char stored[44];
        struct stat sb;

        if (!source_id_is_valid(id)) {
                *why = "its fileID is not valid";
                return IDS_E_PROTOCOL;
        }
        snprintf(stored, sizeof(stored), "%.2s/%s", id, id);
        fd = openat(s->dir_fd, stored, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                *why = "its data is missing from the snapshot";
                return IDS_E_PROTOCOL;
        }
        if (s->encrypted) {
                if (!mbfile_ok || !has_key) {
                        *why = "its Manifest.db record has no EncryptionKey";
                        return IDS_E_PROTOCOL;
                }
                if (!(size == 0 && sb.st_size == 0) &&
                    (uint64_t) sb.st_size != crypt_cbc_size(size)) {
                        *why = "its stored size does not fit its Size";
                        return IDS_E_PROTOCOL;
                }
                if (keybag_unwrap_blob(&s->kb, blob, CRYPT_BLOB_SIZE, key) != 0) {
                        *why = "its EncryptionKey does not unwrap with the keybag";
                        return IDS_E_PROTOCOL;
                }
        } else if ((uint64_t) sb.st_size != size) {
                *why = "its stored size differs from its Size";
                return IDS_E_PROTOCOL;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

typedef struct FindCtx {
        const char *path;
        int r;
        int fd;
        uint64_t size;
        int64_t mtime;
} FindCtx;

static int find_row(const Source *s, const Row *row, void *userdata) {
        FindCtx *c = userdata;
        _cleanup_(closep) int in = -EBADF, out = -EBADF;
        uint8_t key[CRYPT_KEY_SIZE];
        const char *why = NULL;
        int r;

        if (strcmp(row->path, c->path) != 0 || !row->safe ||
            row->flags != IDS_SNAPSHOT_FILE_REGULAR)
                return 1;               /* c->r stays -ENOENT: not this path, or no file */
        r = source_stored_open(s, row->id, row->size, row->mbfile_ok, row->has_key, row->key,
                               &in, key, &why);
        if (r != 0) {
                ids_debug("snapshot %s: %s/%s: %s", s->id, row->domain, row->path, why);
                c->r = r;
                return 1;
        }
        c->size = row->size;
        c->mtime = row->mbfile_ok ? row->mtime : 0;
        if (!s->encrypted) {
                c->fd = TAKE_FD(in);
                c->r = 0;
                return 1;
        }
        out = open(s->tmp_dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
        if (out < 0) {
                explicit_bzero(key, sizeof(key));
                c->r = -errno;
                return 1;
        }
        r = row->size == 0 ? 0 : crypt_decrypt_fd(key, in, out, row->size, NULL);
        explicit_bzero(key, sizeof(key));
        if (r == -EBADMSG)
                r = IDS_E_PROTOCOL;
        if (r == 0 && lseek(out, 0, SEEK_SET) < 0)
                r = -errno;
        if (r == 0)
                c->fd = TAKE_FD(out);
        c->r = r;
        return 1;
}

int source_plaintext_open(const Source *s, const char *domain, const char *path,
                          int *ret_fd, uint64_t *ret_size, int64_t *ret_mtime) {
        FindCtx c = { .path = path, .r = -ENOENT, .fd = -EBADF };
        int r;

        if (!domain || !path || !*path)
                return -ENOENT;
        /* Through source_rows()' checks; the first row is the path itself when it exists
         * (rows beneath it sort after it), and the callback stops there. */
        r = source_rows(s, domain, path, find_row, &c, NULL, 0);
        if (r < 0 || (r != 0 && r != 1))
                return r;
        if (c.r != 0)
                return c.r;
        *ret_fd = c.fd;
        *ret_size = c.size;
        *ret_mtime = c.mtime;
        return 0;
}
