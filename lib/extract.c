/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Browse and extract (issue 14): the files of a committed snapshot as its Manifest.db names
 * them, and decrypted copies of chosen ones beneath a directory the caller opened.
 *
 * A snapshot's Manifest.db was checked when it was published (manifest.c), but the store
 * is a directory on disk that anything with its permissions can change, so every row is
 * read as hostile again here: a name that is absolute, has "..", ".", an empty component or
 * a control character is listed as unsafe and never written. Copies are written beneath
 * the target's fd only (fs-util: openat2 RESOLVE_BENEATH, or an O_NOFOLLOW walk), each
 * through a temporary name that renameat2(RENAME_NOREPLACE) moves into place, so an
 * existing file is never replaced and a reader never sees half a file. The target is an fd
 * rather than a path because the daemon, sandboxed away from its callers' directories,
 * receives it over the bus.
 *
 * Both operations take the device lock as verify does: a delete or prune cannot remove the
 * snapshot while it is read.
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

#include "crypt.h"
#include "fs-util.h"
#include "idevicesync.h"
#include "store.h"
#include "udid.h"
#include "util.h"

#define CHUNK (256 * 1024)

/* An opened snapshot: its store (holding the device lock), the <snapshot>/<UDID> directory
 * and its Manifest.db (for an encrypted snapshot the decrypted copy, and the unlocked
 * keybag that opens its files). */
typedef struct Source {
        Store *store;
        char *dir;
        int dir_fd;
        bool encrypted;
        Keybag kb;
        sqlite3 *db;
} Source;

/* One row of Files, with what its MBFile says. Strings borrowed from the statement. */
typedef struct Row {
        const char *id, *domain, *path;
        unsigned flags;
        uint64_t size;
        int64_t mtime;
        bool mbfile_ok;                 /* the MBFile could be read */
        bool has_key;
        bool safe;
        uint8_t key[CRYPT_BLOB_SIZE];
} Row;

static void plist_freep(plist_t *p) {
        if (*p)
                plist_free(*p);
}

static void source_done(Source *s) {
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

static void set_problem(char *buf, size_t len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_problem(char *buf, size_t len, const char *fmt, ...) {
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
static int source_open(const char *udid_in, const char *snapshot, const char *state_dir,
                       const char *backup_dir, const char *password, Source *s, char *why,
                       size_t why_len) {
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
        r = store_open(backup_dir ?: state_dir, state_dir, udid, &s->store);
        if (r == -EBUSY)
                r = IDS_E_BUSY;
        if (r != 0) {
                set_problem(why, why_len, "the device's store cannot be opened");
                return r;
        }
        r = snapshot && *snapshot ? store_get(s->store, snapshot, &info) :
                                    store_latest(s->store, &info);
        if (r == -ENOENT)
                set_problem(why, why_len, "no such snapshot");
        if (r == 0)
                r = store_snapshot_path(s->store, info.id, &snap);
        if (r == 0 && asprintf(&s->dir, "%s/%s", snap, udid) < 0) {
                s->dir = NULL;
                r = -ENOMEM;
        }
        if (r != 0)
                goto fail;
        s->dir_fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s->dir_fd < 0) {
                r = errno == ENOENT ? IDS_E_PROTOCOL : -errno;
                set_problem(why, why_len, "the snapshot has no backup directory");
                goto fail;
        }

        r = crypt_manifest_plist_read(s->dir, &s->encrypted, &s->kb, mkey);
        if (r == 0 && info.encrypted && !s->encrypted)
                r = IDS_E_PROTOCOL;
        if (r == IDS_E_PROTOCOL || r == -ENOENT) {
                set_problem(why, why_len, "Manifest.plist is missing or has no usable keybag");
                r = IDS_E_PROTOCOL;
        }
        if (r != 0)
                goto fail;

        if (!s->encrypted) {
                r = open_plain_db(s->dir, &s->db);
                if (r == IDS_E_PROTOCOL)
                        set_problem(why, why_len, "Manifest.db cannot be read");
                if (r != 0)
                        goto fail;
                return 0;
        }

        if (!password) {
                set_problem(why, why_len, "encrypted snapshot: a password is needed");
                r = IDS_E_WRONG_PASSWORD;
                goto fail;
        }
        r = keybag_unlock(&s->kb, password, strlen(password));
        if (r == IDS_E_WRONG_PASSWORD)
                set_problem(why, why_len,
                            "encrypted snapshot: the password does not unlock its keybag");
        else if (r == IDS_E_PROTOCOL)
                set_problem(why, why_len, "encrypted snapshot: its keybag is damaged");
        if (r != 0)
                goto fail;
        r = crypt_manifest_db_open(s->dir, &s->kb, mkey, state_dir, &s->db);
        if (r == IDS_E_PROTOCOL)
                set_problem(why, why_len,
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

static bool id_is_valid(const char *id) {
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
static bool path_under(const char *path, const char *prefix, size_t n) {
        if (n == 0)
                return true;
        return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

/* The length of prefix without trailing '/' (NULL: 0). */
static size_t prefix_len(const char *prefix) {
        size_t n = prefix ? strlen(prefix) : 0;

        while (n > 0 && prefix[n - 1] == '/')
                n--;
        return n;
}

typedef int (*row_fn)(const Source *s, const Row *row, void *userdata);

/* Every row of domain (NULL: all) beneath prefix, in domain and path order. 0, fn's
 * non-zero result, IDS_E_PROTOCOL (unreadable Manifest.db), -errno. */
static int source_rows(const Source *s, const char *domain, const char *prefix, row_fn fn,
                       void *userdata, char *why, size_t why_len) {
        size_t plen = prefix_len(prefix);
        sqlite3_stmt *st = NULL;
        int r = 0, k;

        if (sqlite3_prepare_v2(s->db,
                               domain ? "SELECT fileID, domain, relativePath, flags, file "
                                        "FROM Files WHERE domain = ?1 "
                                        "ORDER BY domain, relativePath" :
                                        "SELECT fileID, domain, relativePath, flags, file "
                                        "FROM Files ORDER BY domain, relativePath",
                               -1, &st, NULL) != SQLITE_OK) {
                set_problem(why, why_len, "Manifest.db has no usable Files table");
                return IDS_E_PROTOCOL;
        }
        if (domain && sqlite3_bind_text(st, 1, domain, -1, SQLITE_STATIC) != SQLITE_OK) {
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
                if (!path_under(row.path, prefix ? prefix : "", plen))
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
                           id_is_valid(row.id)) {
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
                set_problem(why, why_len, "Manifest.db cannot be read to its end");
                r = IDS_E_PROTOCOL;
        }
out:
        sqlite3_finalize(st);
        return r;
}

/* ---- listing ---------------------------------------------------------------------------- */

typedef struct ListCtx {
        int (*fn)(const ids_snapshot_file *f, void *userdata);
        void *userdata;
} ListCtx;

static int list_row(const Source *s, const Row *row, void *userdata) {
        ListCtx *c = userdata;
        ids_snapshot_file f = {
                .domain = row->domain,
                .path = row->path,
                .size = row->size,
                .mtime = row->mtime,
                .flags = row->flags,
                .encrypted = s->encrypted && row->has_key,
                .safe = row->safe,
        };

        return c->fn(&f, c->userdata);
}

_public_ int ids_snapshot_files(const ids_files_options *o,
                                int (*fn)(const ids_snapshot_file *f, void *userdata),
                                void *userdata) {
        ListCtx c = { .fn = fn, .userdata = userdata };
        Source s;
        char why[512] = "";
        int r;

        if (!o || !fn || (o->problem && o->problem_size == 0))
                return -EINVAL;
        if (o->problem)
                o->problem[0] = 0;
        r = source_open(o->udid, o->snapshot, o->state_dir, o->backup_dir, o->password, &s,
                        why, sizeof(why));
        if (r == 0) {
                r = source_rows(&s, o->domain, o->prefix, list_row, &c, why, sizeof(why));
                source_done(&s);
        }
        if (r != 0 && why[0]) {
                ids_debug("files: %s", why);
                if (o->problem)
                        snprintf(o->problem, o->problem_size, "%s", why);
        }
        return r;
}

/* ---- extract ---------------------------------------------------------------------------- */

/* A chosen row, owned. */
typedef struct Pick {
        char *domain, *path;
        char id[41];
        unsigned flags;
        uint64_t size;
        int64_t mtime;
        bool mbfile_ok, has_key, safe;
        bool created;                   /* a directory this run created */
        uint8_t key[CRYPT_BLOB_SIZE];
} Pick;

typedef struct ExtractCtx {
        const ids_extract_options *o;
        ids_extract_report *rep;
        bool *item_seen;
        Pick *picks;
        size_t n_picks, n_alloc;
        uint64_t bytes_total, files_total;
        uint64_t bytes_seen;            /* of the files handled: written, skipped or failed */
} ExtractCtx;

static bool row_chosen(ExtractCtx *c, const Row *row) {
        const ids_extract_options *o = c->o;
        bool hit = false;

        if (o->all || o->n_items == 0)
                return true;            /* the domain and prefix filters already ran */
        for (size_t i = 0; i < o->n_items; i++) {
                const ids_extract_item *it = &o->items[i];
                const char *p = it->path ?: "";

                if (!it->domain || strcmp(it->domain, row->domain) != 0 ||
                    !path_under(row->path, p, prefix_len(p)))
                        continue;
                c->item_seen[i] = true;
                hit = true;
        }
        return hit;
}

static int pick_row(const Source *s, const Row *row, void *userdata) {
        ExtractCtx *c = userdata;
        Pick *p;

        if (!row_chosen(c, row))
                return 0;
        if (c->n_picks == c->n_alloc) {
                size_t n = c->n_alloc ? 2 * c->n_alloc : 256;
                Pick *x = reallocarray(c->picks, n, sizeof(*x));

                if (!x)
                        return -ENOMEM;
                c->picks = x;
                c->n_alloc = n;
        }
        p = &c->picks[c->n_picks];
        *p = (Pick) {
                .flags = row->flags,
                .size = row->size,
                .mtime = row->mtime,
                .mbfile_ok = row->mbfile_ok,
                .has_key = row->has_key,
                .safe = row->safe,
                .domain = strdup(row->domain),
                .path = strdup(row->path),
        };
        snprintf(p->id, sizeof(p->id), "%s", id_is_valid(row->id) ? row->id : "");
        memcpy(p->key, row->key, sizeof(p->key));
        c->n_picks++;
        if (!p->domain || !p->path)
                return -ENOMEM;
        if (p->flags == IDS_SNAPSHOT_FILE_REGULAR && p->safe) {
                c->files_total++;
                c->bytes_total += p->size;
        }
        return 0;
}

static void report_progress(ExtractCtx *c) {
        const ids_extract_report *rep = c->rep;
        ids_progress p = {
                .phase = IDS_PHASE_COPYING,
                .bytes_done = rep->bytes,
                .bytes_total = c->bytes_total,
                .files_done = rep->files + rep->skipped + rep->failed,
                .files_total = c->files_total,
        };

        if (!c->o->progress)
                return;
        /* Skipped and failed files count as done, so a rerun into the same target ends at
         * 100 too. */
        p.percent = c->bytes_total > 0 ? 100.0 * (double) c->bytes_seen / (double) c->bytes_total :
                    c->files_total > 0 ? 100.0 * (double) p.files_done / (double) c->files_total :
                                         100.0;
        if (p.percent > 100.0)
                p.percent = 100.0;
        c->o->progress(&p, c->o->userdata);
}

/* Copy in_fd to out_fd, exactly size bytes, checking for cancellation. 0, -EBADMSG (another
 * length), IDS_E_CANCELLED, -errno. */
static int copy_plain(int in_fd, int out_fd, uint64_t size, ids_cancel *cancel) {
        _cleanup_(freep) uint8_t *buf = malloc(CHUNK);
        uint64_t total = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;
                int r;

                if (ids_cancel_requested(cancel))
                        return IDS_E_CANCELLED;
                k = read(in_fd, buf, CHUNK);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                total += (uint64_t) k;
                if (total > size)
                        return -EBADMSG;
                r = fs_write_all(out_fd, buf, (size_t) k);
                if (r < 0)
                        return r;
        }
        return total == size ? 0 : -EBADMSG;
}

static void fail_file(ExtractCtx *c, const Pick *p, const char *what) {
        c->rep->failed++;
        set_problem(c->rep->first_problem, sizeof(c->rep->first_problem), "%s/%s (%s): %s",
                    p->domain, p->path, p->id[0] ? p->id : "no fileID", what);
}

/* Write the data of p beneath the target. 0 (written, skipped or counted as failed),
 * IDS_E_CANCELLED, -errno (a failure of the target: stops the run). */
static int extract_file(ExtractCtx *c, const Source *s, const Pick *p, const char *full) {
        _cleanup_(closep) int parent = -EBADF, in = -EBADF, out = -EBADF;
        const ids_extract_options *o = c->o;
        uint8_t key[CRYPT_KEY_SIZE];
        char stored[44], tmp[32];
        const char *name = NULL;
        struct stat sb;
        int r;

        parent = fs_open_parent_beneath(o->target_fd, full, true, &name);
        if (parent == -ENOTDIR || parent == -EEXIST) {
                c->rep->skipped++;      /* a file of the target is where a directory goes */
                return 0;
        }
        if (parent == -ELOOP || parent == -EXDEV) {
                c->rep->refused++;
                set_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                            "%s/%s: a symlink in the target is in the way", p->domain, p->path);
                return 0;
        }
        if (parent < 0)
                return parent;
        if (fstatat(parent, name, &sb, AT_SYMLINK_NOFOLLOW) >= 0) {
                c->rep->skipped++;
                return 0;
        }

        if (!p->id[0]) {
                fail_file(c, p, "its fileID is not valid");
                return 0;
        }
        snprintf(stored, sizeof(stored), "%.2s/%s", p->id, p->id);
        in = openat(s->dir_fd, stored, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (in < 0 || fstat(in, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                fail_file(c, p, "its data is missing from the snapshot");
                return 0;
        }
        if (s->encrypted) {
                if (!p->mbfile_ok || !p->has_key) {
                        fail_file(c, p, "its Manifest.db record has no EncryptionKey");
                        return 0;
                }
                if (!(p->size == 0 && sb.st_size == 0) &&
                    (uint64_t) sb.st_size != crypt_cbc_size(p->size)) {
                        fail_file(c, p, "its stored size does not fit its Size");
                        return 0;
                }
                if (keybag_unwrap_blob(&s->kb, p->key, sizeof(p->key), key) != 0) {
                        fail_file(c, p, "its EncryptionKey does not unwrap with the keybag");
                        return 0;
                }
        } else if ((uint64_t) sb.st_size != p->size) {
                fail_file(c, p, "its stored size differs from its Size");
                return 0;
        }

        for (unsigned tries = 0;; tries++) {
                memcpy(tmp, ".#extract-", 10);
                fs_random_chars(tmp + 10, 12);
                out = openat(parent, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0600);
                if (out >= 0 || errno != EEXIST || tries >= 16)
                        break;
        }
        if (out < 0) {
                r = -errno;
                explicit_bzero(key, sizeof(key));
                return r;
        }

        if (s->encrypted && p->size == 0 && sb.st_size == 0)
                r = 0;
        else if (s->encrypted)
                r = crypt_decrypt_fd(key, in, out, p->size, NULL);
        else
                r = copy_plain(in, out, p->size, o->cancel);
        explicit_bzero(key, sizeof(key));
        if (r == 0 && p->mbfile_ok && p->mtime > 0) {
                /* Without a LastModified the file keeps the time it was written. */
                struct timespec ts[2] = { { .tv_sec = p->mtime }, { .tv_sec = p->mtime } };

                if (futimens(out, ts) < 0)
                        r = -errno;
        }
        if (r == 0 && close(TAKE_FD(out)) < 0)
                r = -errno;
        if (r == 0 && renameat2(parent, tmp, parent, name, RENAME_NOREPLACE) < 0) {
                r = -errno;
                if (r == -EINVAL) {
                        /* No RENAME_NOREPLACE here: a hard link refuses to replace too. */
                        r = linkat(parent, tmp, parent, name, 0) < 0 ? -errno : 0;
                        (void) unlinkat(parent, tmp, 0);
                }
        }
        if (r == 0) {
                c->rep->files++;
                c->rep->bytes += p->size;
                return 0;
        }
        (void) unlinkat(parent, tmp, 0);
        if (r == -EEXIST) {
                c->rep->skipped++;      /* it appeared while we wrote */
                return 0;
        }
        if (r == -EBADMSG) {
                fail_file(c, p, s->encrypted ? "does not decrypt to its Size (bad padding or "
                                               "length)" :
                                               "its stored size differs from its Size");
                return 0;
        }
        return r;
}

static int extract_one(ExtractCtx *c, const Source *s, Pick *p) {
        _cleanup_(freep) char *full = NULL;
        int r, fd;

        if (!p->safe) {
                c->rep->refused++;
                set_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                            "%s: an unsafe name in Manifest.db, refused",
                            p->id[0] ? p->id : "a row");
                return 0;
        }
        if (p->flags == IDS_SNAPSHOT_FILE_SYMLINK) {
                c->rep->symlinks++;
                return 0;
        }
        if (p->flags == 0) {
                fail_file(c, p, "an unknown kind of file");
                return 0;
        }
        if (asprintf(&full, "%s%s%s", p->domain, p->path[0] ? "/" : "", p->path) < 0)
                return -ENOMEM;
        if (p->flags == IDS_SNAPSHOT_FILE_DIRECTORY) {
                /* Only a directory this run creates gets its mtime (at the end, once its
                 * files are in): the target's own directories are left as they are. */
                fd = fs_open_beneath(c->o->target_fd, full, O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0)
                        close(fd);
                r = fs_mkdir_p_beneath(c->o->target_fd, full, 0700);
                if (r == -ELOOP || r == -EXDEV) {
                        c->rep->refused++;
                        set_problem(c->rep->first_problem, sizeof(c->rep->first_problem),
                                    "%s: a symlink in the target is in the way", full);
                        return 0;
                }
                if (r == -ENOTDIR || r == -EEXIST) {
                        c->rep->skipped++;
                        return 0;
                }
                if (r < 0)
                        return r;
                p->created = fd == -ENOENT;
                c->rep->directories++;
                return 0;
        }
        if (!p->path[0]) {
                fail_file(c, p, "a file without a path");
                return 0;
        }
        return extract_file(c, s, p, full);
}

/* The LastModified of a directory this run created; a failure only costs the time. */
static void set_dir_mtime(int target_fd, const Pick *p) {
        _cleanup_(freep) char *full = NULL;
        _cleanup_(closep) int fd = -EBADF;
        struct timespec ts[2] = { { .tv_sec = p->mtime }, { .tv_sec = p->mtime } };

        if (!p->created || !p->mbfile_ok || p->mtime <= 0)
                return;
        if (asprintf(&full, "%s%s%s", p->domain, p->path[0] ? "/" : "", p->path) < 0)
                return;
        fd = fs_open_beneath(target_fd, full, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0 || futimens(fd, ts) < 0)
                ids_debug("extract: cannot set the mtime of %s, ignoring", full);
}

_public_ int ids_snapshot_extract(const ids_extract_options *o, ids_extract_report *report) {
        ids_extract_report dummy = {};
        ids_extract_report *rep = report ?: &dummy;
        ExtractCtx c = { .o = o, .rep = rep };
        struct stat sb;
        Source s;
        int r;

        memset(rep, 0, sizeof(*rep));
        if (!o || o->target_fd < 0 || (!o->all && o->n_items == 0 && !o->domain) ||
            (o->n_items > 0 && !o->items))
                return -EINVAL;
        if (fstat(o->target_fd, &sb) < 0 || !S_ISDIR(sb.st_mode))
                return -ENOTDIR;
        if (o->n_items > 0) {
                c.item_seen = calloc(o->n_items, sizeof(bool));
                if (!c.item_seen)
                        return -ENOMEM;
        }

        r = source_open(o->udid, o->snapshot, o->state_dir, o->backup_dir, o->password, &s,
                        rep->first_problem, sizeof(rep->first_problem));
        if (r != 0)
                goto out;
        r = source_rows(&s, o->domain, o->prefix, pick_row, &c, rep->first_problem,
                        sizeof(rep->first_problem));
        for (size_t i = 0; r == 0 && i < o->n_items; i++)
                if (!c.item_seen[i]) {
                        rep->not_found++;
                        set_problem(rep->first_problem, sizeof(rep->first_problem),
                                    "%s/%s: not in the snapshot", o->items[i].domain ?: "",
                                    o->items[i].path ?: "");
                }

        report_progress(&c);
        for (size_t i = 0; r == 0 && i < c.n_picks; i++) {
                if (ids_cancel_requested(o->cancel)) {
                        r = IDS_E_CANCELLED;
                        break;
                }
                r = extract_one(&c, &s, &c.picks[i]);
                if (r == -ENOSPC || r == -EDQUOT)
                        r = IDS_E_DISK_FULL;
                if (c.picks[i].flags == IDS_SNAPSHOT_FILE_REGULAR && c.picks[i].safe) {
                        c.bytes_seen += c.picks[i].size;
                        report_progress(&c);
                }
        }
        for (size_t i = 0; r == 0 && i < c.n_picks; i++)
                set_dir_mtime(o->target_fd, &c.picks[i]);
        if (r == 0 && (rep->failed > 0 || rep->refused > 0 || rep->not_found > 0))
                r = IDS_E_PROTOCOL;
        source_done(&s);
out:
        for (size_t i = 0; i < c.n_picks; i++) {
                explicit_bzero(c.picks[i].key, sizeof(c.picks[i].key));
                free(c.picks[i].domain);
                free(c.picks[i].path);
        }
        free(c.picks);
        free(c.item_seen);
        if (r != 0)
                ids_debug("extract: %s", rep->first_problem[0] ? rep->first_problem :
                                                                 ids_result_message(r));
        return r;
}
