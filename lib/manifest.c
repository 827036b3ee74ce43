/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Consistency of a device's Manifest.db before a snapshot is published: the manifest is
 * what a restore (ours or iTunes') trusts, so a device must not be able to publish rows
 * that lie. Every row must name a safe relative path, its fileID must be the SHA-1 of
 * "domain-relativePath", no row may live beneath a symlink row of its domain (a path that
 * would walk out of the domain when materialised), and every file row must have its data.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "manifest.h"
#include "util.h"

static bool rel_path_ok(const char *p) {
        const char *c = p;

        if (p[0] == '/')
                return false;
        /* No ".." component anywhere. */
        while (*c) {
                size_t n = strcspn(c, "/");
                if (n == 2 && c[0] == '.' && c[1] == '.')
                        return false;
                c += n;
                if (*c == '/')
                        c++;
        }
        return true;
}

static void hex(const unsigned char *d, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 15];
        }
        out[2 * n] = 0;
}

int manifest_check(const char *backup_dir, char *why, size_t why_len) {
        _cleanup_(freep) char *uri = NULL, *esc = sqlite_uri_escape(backup_dir);
        sqlite3 *db = NULL;
        int r;

        why[0] = 0;
        if (!esc || asprintf(&uri, "file:%s/Manifest.db?mode=ro&immutable=1", esc) < 0) {
                uri = NULL;
                return -ENOMEM;
        }
        if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
                snprintf(why, why_len, "Manifest.db cannot be read: %s",
                         db ? sqlite3_errmsg(db) : "out of memory");
                sqlite3_close(db);
                ids_debug("%s", why);
                return -EBADMSG;
        }
        r = manifest_check_db(db, backup_dir, why, why_len);
        sqlite3_close(db);
        return r;
}

int manifest_check_db(sqlite3 *db, const char *backup_dir, char *why, size_t why_len) {
        sqlite3_stmt *st = NULL;
        int r = 0, k;

        why[0] = 0;
        if (sqlite3_prepare_v2(db, "SELECT fileID, domain, relativePath, flags FROM Files", -1,
                               &st, NULL) != SQLITE_OK) {
                snprintf(why, why_len, "Manifest.db cannot be read: %s", sqlite3_errmsg(db));
                r = -EBADMSG;
                goto out;
        }
        while ((k = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const char *dom = (const char *) sqlite3_column_text(st, 1);
                const char *rel = (const char *) sqlite3_column_text(st, 2);
                int domlen = sqlite3_column_bytes(st, 1), rellen = sqlite3_column_bytes(st, 2);
                int flags = sqlite3_column_int(st, 3);
                unsigned char md[SHA_DIGEST_LENGTH];
                char want[2 * SHA_DIGEST_LENGTH + 1], path[4096], key[2048];
                struct stat sb;

                if (!id || !dom || !rel || strlen(dom) != (size_t) domlen ||
                    strlen(rel) != (size_t) rellen || !rel_path_ok(rel) ||
                    strchr(dom, '/') || strcmp(dom, "..") == 0) {
                        snprintf(why, why_len, "Manifest.db has an unsafe row (%.60s)",
                                 id ? id : "?");
                        r = -EBADMSG;
                        goto out;
                }
                k = snprintf(key, sizeof(key), "%s-%s", dom, rel);
                if (k < 0 || (size_t) k >= sizeof(key) ||
                    EVP_Digest(key, (size_t) k, md, NULL, EVP_sha1(), NULL) != 1) {
                        snprintf(why, why_len, "Manifest.db row %.60s has an over-long path", id);
                        r = -EBADMSG;
                        goto out;
                }
                hex(md, sizeof(md), want);
                if (strcmp(id, want) != 0) {
                        snprintf(why, why_len, "Manifest.db row %.60s does not match its path",
                                 id);
                        r = -EBADMSG;
                        goto out;
                }
                if (flags == 1) {
                        snprintf(path, sizeof(path), "%s/%.2s/%s", backup_dir, id, id);
                        if (lstat(path, &sb) < 0 || !S_ISREG(sb.st_mode)) {
                                snprintf(why, why_len, "Manifest.db lists %s but the device "
                                         "sent no data for it", id);
                                r = -EBADMSG;
                                goto out;
                        }
                }
        }
        if (k != SQLITE_DONE) {
                snprintf(why, why_len, "Manifest.db cannot be read: %s", sqlite3_errmsg(db));
                r = -EBADMSG;
                goto out;
        }
        sqlite3_finalize(st);
        st = NULL;

        /* Nothing may live beneath a symlink of its own domain. */
        if (sqlite3_prepare_v2(db,
                               "SELECT a.domain, a.relativePath FROM Files a JOIN Files b "
                               "ON a.domain = b.domain AND b.flags = 4 AND a.fileID != b.fileID "
                               "AND substr(a.relativePath, 1, length(b.relativePath) + 1) = "
                               "b.relativePath || '/' LIMIT 1", -1, &st, NULL) != SQLITE_OK) {
                r = -EBADMSG;
                goto out;
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
                snprintf(why, why_len, "Manifest.db puts %.60s-%.120s beneath a symlink",
                         (const char *) sqlite3_column_text(st, 0),
                         (const char *) sqlite3_column_text(st, 1));
                r = -EBADMSG;
        }
out:
        sqlite3_finalize(st);
        if (r < 0)
                ids_debug("%s", why);
        return r;
}
