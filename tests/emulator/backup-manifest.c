/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the emulated device knows of its backup: the profile's backup/ tree, the MBFile
 * blobs of Manifest.db, Manifest.db/Manifest.plist/Status.plist, and the previous backup as
 * the host has it.
 */
#include "backup-internal.h"

/* ---- the profile's backup/ tree -------------------------------------------------------- */

/* Frees every entry of sc and empties it (sc itself is the caller's). */
void scan_done(Scan *sc) {
        for (size_t i = 0; i < sc->n; i++) {
                free(sc->v[i].domain);
                free(sc->v[i].rel);
                free(sc->v[i].target);
        }
        free(sc->v);
        *sc = (Scan){};
}

/* Appends an entry to sc: domain, rel and target (NULL for none) copied, its fileID computed.
 * 0, or -ENOMEM with no entry added. */
int scan_add(Scan *sc, const char *domain, const char *rel, int flags, const struct stat *st,
             const char *target) {
        Entry *e;

        if (sc->n == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 256;
                Entry *v = realloc(sc->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                sc->v = v;
                sc->cap = cap;
        }
        e = &sc->v[sc->n];
        *e = (Entry){.flags = flags,
                     .st = *st,
                     .size = S_ISREG(st->st_mode) ? (uint64_t) st->st_size : 0};
        e->domain = strdup(domain);
        e->rel = strdup(rel);
        e->target = target ? strdup(target) : NULL;
        if (!e->domain || !e->rel || (target && !e->target)) {
                free(e->domain);
                free(e->rel);
                free(e->target);
                return -ENOMEM;
        }
        file_id(domain, rel, e->id);
        sc->n++;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names of a directory (without . and ..). */
int list_dir(int fd, char ***ret, size_t *ret_n) {
        int dfd = dup(fd);
        DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
        char **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (!dir) {
                r = -errno;
                if (dfd >= 0)
                        close(dfd);
                return r;
        }
        for (struct dirent *de; (de = readdir(dir));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        char **nv;
                        cap = cap ? cap * 2 : 32;
                        nv = realloc(v, cap * sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                if (!(v[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(dir);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(v[i]);
                free(v);
                return r;
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_str);
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Frees the n strings of v and v itself; v may be NULL when n is 0. */
void free_names(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* One directory of a domain, recursively, in sorted order (the manifest is deterministic).
 * Symlinks are recorded as such, never followed. */
static int scan_dir(Scan *sc, int fd, const char *domain, const char *rel, unsigned depth) {
        char **names = NULL;
        size_t n = 0;
        int r;

        if (depth > SCAN_DEPTH)
                return -ELOOP;
        r = list_dir(fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_(freep) char *path = NULL;
                struct stat st;

                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile (a concurrent mutate) */
                if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(fd, names[i],
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                continue;
                        r = scan_add(sc, domain, path, FLAG_DIR, &st, NULL);
                        if (r >= 0)
                                r = scan_dir(sc, cfd, domain, path, depth + 1);
                        close(cfd);
                } else if (S_ISREG(st.st_mode))
                        r = scan_add(sc, domain, path, FLAG_FILE, &st, NULL);
                else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t k = readlinkat(fd, names[i], target, sizeof(target) - 1);
                        if (k < 0)
                                continue;
                        target[k] = 0;
                        r = scan_add(sc, domain, path, FLAG_SYMLINK, &st, target);
                }
                /* sockets, fifos, devices: not part of a backup */
        }
        free_names(names, n);
        return r;
}

/* Everything beneath <profile>/backup/: one domain per top-level directory. Read now, never
 * cached, so a `mutate` between two backups is seen. A missing backup/ is an empty device. */
int scan_profile(const char *profile, Scan *sc) {
        _cleanup_(freep) char *root = NULL;
        _cleanup_(closep) int fd = -1;
        char **names = NULL;
        size_t n = 0;
        int r;

        if (asprintf(&root, "%s/backup", profile) < 0) {
                root = NULL;
                return -ENOMEM;
        }
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = list_dir(fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;
                int dfd;

                if (!domain_ok(names[i]) || fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                dfd = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                r = scan_add(sc, names[i], "", FLAG_DIR, &st, NULL);
                if (r >= 0)
                        r = scan_dir(sc, dfd, names[i], "", 1);
                close(dfd);
        }
        free_names(names, n);
        return r;
}

/* Open a file of the profile for reading, not through a symlink. fd or -errno. */
int entry_open(const char *profile, const Entry *e) {
        _cleanup_(freep) char *path = NULL;

        if (asprintf(&path, "%s/backup/%s/%s", profile, e->domain, e->rel) < 0)
                return -ENOMEM;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* SHA-1 and size of the content: the incremental compares this with the old Digest. */
int hash_fd(int fd, uint8_t out[20], uint64_t *ret_size) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        _cleanup_(freep) uint8_t *buf = malloc(BLOCK_MAX);
        uint64_t size = 0;

        if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf, BLOCK_MAX);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                EVP_DigestUpdate(c, buf, (size_t) k);
                size += (uint64_t) k;
        }
        EVP_DigestFinal_ex(c, out, NULL);
        *ret_size = size;
        return 0;
}

/* ---- MBFile: the NSKeyedArchiver blob in Manifest.db's `file` column -------------------- */

/* Frees what mbfile_parse() allocated in m and empties it. */
void mbinfo_done(MBInfo *m) {
        free(m->rel);
        free(m->target);
        *m = (MBInfo){};
}

/* Build the archive for e; the caller frees *ret with free(). */
static int mbfile_build(const Entry *e, bool encrypted, char **ret, uint32_t *ret_len) {
        _cleanup_(plist_freep) plist_t top = plist_new_dict();
        plist_t objs = plist_new_array(), root = plist_new_dict(), cls = plist_new_dict();
        plist_t top_ref = plist_new_dict(), classes = plist_new_array();
        uint64_t idx = 2;
        mode_t type = e->flags == FLAG_DIR ? S_IFDIR : e->flags == FLAG_SYMLINK ? S_IFLNK : S_IFREG;

        plist_array_append_item(objs, plist_new_string("$null"));
        plist_array_append_item(objs, root);
        plist_array_append_item(objs, plist_new_string(e->rel));
        plist_dict_set_item(root, "RelativePath", plist_new_uid(idx++));
        plist_dict_set_item(root, "LastModified", plist_new_uint((uint64_t) e->st.st_mtime));
        plist_dict_set_item(root, "LastStatusChange", plist_new_uint((uint64_t) e->st.st_ctime));
        plist_dict_set_item(root, "Birth", plist_new_uint((uint64_t) e->st.st_mtime));
        plist_dict_set_item(root, "Size", plist_new_uint(e->flags == FLAG_FILE ? e->size : 0));
        plist_dict_set_item(root, "Mode",
                            plist_new_uint((uint64_t) (type | (e->st.st_mode & 07777))));
        plist_dict_set_item(root, "UserID", plist_new_uint(BACKUP_UID));
        plist_dict_set_item(root, "GroupID", plist_new_uint(BACKUP_UID));
        plist_dict_set_item(root, "InodeNumber", plist_new_uint((uint64_t) e->st.st_ino));
        plist_dict_set_item(root, "ProtectionClass",
                            plist_new_uint(e->has_key              ? (uint64_t) e->key[0]
                                           : e->flags == FLAG_FILE ? 3
                                                                   : 0));
        plist_dict_set_item(root, "Flags", plist_new_uint(0));
        if (e->has_digest && e->flags == FLAG_FILE) {
                plist_array_append_item(objs, plist_new_data((const char *) e->digest, 20));
                plist_dict_set_item(root, "Digest", plist_new_uid(idx++));
        }
        if (e->target) {
                plist_array_append_item(objs, plist_new_string(e->target));
                plist_dict_set_item(root, "Target", plist_new_uid(idx++));
        }
        if ((encrypted && e->flags == FLAG_FILE) || e->has_key) {
                /* u32le protection class + the 40-byte wrapped key, as an NSMutableData. With
                 * a password the key is real (backup-crypt.c); under the fault `encrypted on`
                 * alone it is the shape only and the content is not encrypted. */
                plist_t kd = plist_new_dict(), kc = plist_new_dict(), kcl = plist_new_array();
                uint8_t key[KEY_BLOB_LEN] = {3, 0, 0, 0};

                if (e->has_key)
                        memcpy(key, e->key, sizeof(key));
                else
                        random_bytes(key + 4, 40);
                plist_dict_set_item(kd, "NS.data", plist_new_data((const char *) key, 44));
                plist_dict_set_item(kd, "$class", plist_new_uid(idx + 1));
                plist_array_append_item(objs, kd);
                plist_dict_set_item(root, "EncryptionKey", plist_new_uid(idx));
                idx += 2;
                plist_array_append_item(kcl, plist_new_string("NSMutableData"));
                plist_array_append_item(kcl, plist_new_string("NSData"));
                plist_array_append_item(kcl, plist_new_string("NSObject"));
                plist_dict_set_item(kc, "$classes", kcl);
                plist_dict_set_item(kc, "$classname", plist_new_string("NSMutableData"));
                plist_array_append_item(objs, kc);
        }
        plist_array_append_item(classes, plist_new_string("MBFile"));
        plist_array_append_item(classes, plist_new_string("NSObject"));
        plist_dict_set_item(cls, "$classes", classes);
        plist_dict_set_item(cls, "$classname", plist_new_string("MBFile"));
        plist_array_append_item(objs, cls);
        plist_dict_set_item(root, "$class", plist_new_uid(idx));

        plist_dict_set_item(top_ref, "root", plist_new_uid(1));
        plist_dict_set_item(top, "$version", plist_new_uint(100000));
        plist_dict_set_item(top, "$archiver", plist_new_string("NSKeyedArchiver"));
        plist_dict_set_item(top, "$top", top_ref);
        plist_dict_set_item(top, "$objects", objs);

        *ret = NULL;
        plist_to_bin(top, ret, ret_len);
        return *ret ? 0 : -ENOMEM;
}

/* Follow a UID reference of the archive; NULL if it is not one or out of range. */
static plist_t archive_deref(plist_t objs, plist_t ref) {
        uint64_t i = 0;

        if (!ref || plist_get_node_type(ref) != PLIST_UID)
                return NULL;
        plist_get_uid_val(ref, &i);
        if (i == 0 || i >= plist_array_get_size(objs))
                return NULL;
        return plist_array_get_item(objs, (uint32_t) i);
}

static uint64_t dict_uint(plist_t d, const char *key) {
        plist_t n = plist_dict_get_item(d, key);
        uint64_t v = 0;

        if (n && plist_get_node_type(n) == PLIST_UINT)
                plist_get_uint_val(n, &v);
        return v;
}

/* Parse an MBFile archive (from an untrusted host's Manifest.db). -EBADMSG if malformed. */
int mbfile_parse(const void *blob, size_t len, MBInfo *ret) {
        _cleanup_(plist_freep) plist_t p = NULL;
        plist_t objs, top, root, n;
        MBInfo m = {};

        if (!blob || len < 8 || len > MBFILE_MAX || memcmp(blob, "bplist00", 8) != 0)
                return -EBADMSG;
        plist_from_bin(blob, (uint32_t) len, &p);
        if (!p || plist_get_node_type(p) != PLIST_DICT)
                return -EBADMSG;
        objs = plist_dict_get_item(p, "$objects");
        top = plist_dict_get_item(p, "$top");
        if (!objs || plist_get_node_type(objs) != PLIST_ARRAY || !top ||
            plist_get_node_type(top) != PLIST_DICT)
                return -EBADMSG;
        root = archive_deref(objs, plist_dict_get_item(top, "root"));
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return -EBADMSG;

        m.size = dict_uint(root, "Size");
        m.mode = dict_uint(root, "Mode");
        m.mtime = (int64_t) dict_uint(root, "LastModified");
        n = archive_deref(objs, plist_dict_get_item(root, "Digest"));
        if (n && plist_get_node_type(n) == PLIST_DATA) {
                uint64_t dl = 0;
                const char *d = plist_get_data_ptr(n, &dl);
                if (d && dl == 20) {
                        memcpy(m.digest, d, 20);
                        m.has_digest = true;
                }
        }
        n = archive_deref(objs, plist_dict_get_item(root, "EncryptionKey"));
        if (n && plist_get_node_type(n) == PLIST_DICT)
                n = plist_dict_get_item(n, "NS.data");
        if (n && plist_get_node_type(n) == PLIST_DATA) {
                uint64_t dl = 0;
                const char *d = plist_get_data_ptr(n, &dl);
                if (d && dl == KEY_BLOB_LEN) {
                        memcpy(m.key, d, KEY_BLOB_LEN);
                        m.has_key = true;
                }
        }
        n = archive_deref(objs, plist_dict_get_item(root, "RelativePath"));
        if (plist_str(n) && !(m.rel = strdup(plist_str(n))))
                return -ENOMEM;
        n = archive_deref(objs, plist_dict_get_item(root, "Target"));
        if (plist_str(n) && !(m.target = strdup(plist_str(n)))) {
                mbinfo_done(&m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

/* ---- Manifest.db, Manifest.plist, Status.plist ----------------------------------------- */

static const char manifest_schema[] =
        "PRAGMA journal_mode=OFF;"
        "PRAGMA synchronous=OFF;"
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, "
        "flags INTEGER, file BLOB);"
        "CREATE INDEX FilesDomainIdx ON Files(domain);"
        "CREATE INDEX FilesRelativePathIdx ON Files(relativePath);"
        "CREATE INDEX FilesFlagsIdx ON Files(flags);"
        "CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);";

/* A new Manifest.db with the iOS 10+ schema; no journal (a scratch file). */
static int manifest_db_create(const char *path, sqlite3 **ret) {
        sqlite3 *db = NULL;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
                log_warn("sqlite: cannot create '%s': %s", path, db ? sqlite3_errmsg(db) : "?");
                sqlite3_close(db);
                return -EIO;
        }
        if (sqlite3_exec(db, manifest_schema, NULL, NULL, NULL) != SQLITE_OK) {
                log_warn("sqlite: schema: %s", sqlite3_errmsg(db));
                sqlite3_close(db);
                return -EIO;
        }
        *ret = db;
        return 0;
}

static int manifest_db_add(sqlite3_stmt *ins, const char *id, const char *domain, const char *rel,
                           int flags, const void *blob, uint32_t blob_len) {
        int rc;

        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, rel, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, flags);
        sqlite3_bind_blob(ins, 5, blob, (int) blob_len, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Manifest.db describing the entries (and extra, hostile ones) into a new file at path. */
int manifest_db_write(const char *path, const Scan *sc, const Scan *extra, bool encrypted) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
        const Scan *lists[2] = {sc, extra};
        int r;

        r = manifest_db_create(path, &db);
        if (r < 0)
                return r;
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO Files VALUES (?,?,?,?,?)", -1, &ins,
                               NULL) != SQLITE_OK)
                return -EIO;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
                        const Entry *e = &lists[l]->v[i];
                        _cleanup_(freep) char *blob = NULL;
                        uint32_t blob_len = 0;

                        r = mbfile_build(e, encrypted, &blob, &blob_len);
                        if (r < 0)
                                return r;
                        r = manifest_db_add(ins, e->id, e->domain, e->rel, e->flags, blob,
                                            blob_len);
                        if (r < 0) {
                                log_warn("sqlite: insert: %s", sqlite3_errmsg(db));
                                return r;
                        }
                }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                return -EIO;
        return 0;
}

/* Binary plist of p in *ret (the caller frees it) and its length. 0, or -ENOMEM. */
int plist_to_bin_buf(plist_t p, char **ret, size_t *ret_len) {
        uint32_t len = 0;

        *ret = NULL;
        plist_to_bin(p, ret, &len);
        if (!*ret)
                return -ENOMEM;
        *ret_len = len;
        return 0;
}

/* A keybag-shaped blob (TLV: VERS, TYPE, UUID, HMCK, WRAP, SALT, ITER): hosts store it and
 * need it for encrypted restores; nothing here decrypts with it. */
static plist_t fake_keybag(void) {
        uint8_t b[256];
        size_t o = 0;
        uint32_t be;

#define TLV(tag, ptr, len)                                                                         \
        do {                                                                                       \
                memcpy(b + o, tag, 4);                                                             \
                be = htonl(len);                                                                   \
                memcpy(b + o + 4, &be, 4);                                                         \
                memcpy(b + o + 8, ptr, len);                                                       \
                o += 8 + (len);                                                                    \
        } while (0)
        uint32_t vers = htonl(3), type = htonl(1), wrap = htonl(0), iter = htonl(10000);
        uint8_t uuid[16], hmck[40], salt[20];

        random_bytes(uuid, sizeof(uuid));
        random_bytes(hmck, sizeof(hmck));
        random_bytes(salt, sizeof(salt));
        TLV("VERS", &vers, 4);
        TLV("TYPE", &type, 4);
        TLV("UUID", uuid, 16);
        TLV("HMCK", hmck, 40);
        TLV("WRAP", &wrap, 4);
        TLV("SALT", salt, 20);
        TLV("ITER", &iter, 4);
#undef TLV
        return plist_new_data((const char *) b, o);
}

/* A new Manifest.plist (the caller frees it) for the device udid with profile directory
 * profile: keybag, Lockdown values from info, the profile's apps, encryption and passcode.
 * An encrypted backup passes its keybag kb and the 44-byte ManifestKey; else both NULL. */
plist_t manifest_plist_new(const DeviceInfo *info, const char *udid, const char *profile,
                           bool encrypted, bool passcode, const Keybag *kb,
                           const uint8_t *manifest_key) {
        plist_t m = plist_new_dict(), ld = plist_new_dict(), apps = plist_new_dict();
        AppInfo **list = NULL;
        size_t n = 0;

        plist_dict_set_item(m, "BackupKeyBag",
                            kb ? plist_new_data((const char *) kb->blob, kb->blob_len)
                               : fake_keybag());
        if (manifest_key)
                plist_dict_set_item(m, "ManifestKey",
                                    plist_new_data((const char *) manifest_key, KEY_BLOB_LEN));
        plist_dict_set_item(m, "Version", plist_new_string("10.0"));
        plist_dict_set_item(m, "Date", plist_now());
        plist_dict_set_item(m, "SystemDomainsVersion", plist_new_string("24.0"));
        plist_dict_set_item(m, "WasPasscodeSet", plist_new_bool(passcode));
        plist_dict_set_item(m, "IsEncrypted", plist_new_bool(encrypted));
        plist_dict_set_item(ld, "ProductVersion", plist_new_string(info->ios ?: "17.5"));
        plist_dict_set_item(ld, "BuildVersion", plist_new_string(info->build ?: "21F79"));
        plist_dict_set_item(ld, "ProductType", plist_new_string(info->product ?: "iPhone15,2"));
        plist_dict_set_item(ld, "UniqueDeviceID", plist_new_string(udid));
        plist_dict_set_item(ld, "SerialNumber", plist_new_string(info->serial ?: ""));
        plist_dict_set_item(ld, "DeviceName", plist_new_string(info->name ?: "iPhone"));
        plist_dict_set_item(ld, "com.apple.mobile.data_sync", plist_new_dict());
        plist_dict_set_item(ld, "com.apple.Accessibility", plist_new_dict());
        plist_dict_set_item(m, "Lockdown", ld);

        if (profile_list_apps(profile, &list, &n) >= 0) {
                for (size_t i = 0; i < n; i++) {
                        plist_t a = plist_new_dict();
                        char path[512];

                        snprintf(path, sizeof(path),
                                 "/private/var/containers/Bundle/Application/%s/%s.app",
                                 list[i]->bundle_id, list[i]->display_name ?: "App");
                        plist_dict_set_item(a, "CFBundleIdentifier",
                                            plist_new_string(list[i]->bundle_id));
                        plist_dict_set_item(a, "CFBundleVersion",
                                            plist_new_string(list[i]->version ?: "1"));
                        plist_dict_set_item(a, "ContainerContentClass",
                                            plist_new_string("Data/Application"));
                        plist_dict_set_item(a, "Path", plist_new_string(path));
                        plist_dict_set_item(apps, list[i]->bundle_id, a);
                }
                app_info_free_array(list, n);
        }
        plist_dict_set_item(m, "Applications", apps);
        return m;
}

/* Status.plist; idevicebackup2 calls a backup good only if SnapshotState is "finished". */
plist_t status_plist_new(bool full, const char *state) {
        plist_t s = plist_new_dict();
        char uuid[37];

        random_uuid(uuid);
        plist_dict_set_item(s, "BackupState", plist_new_string("new"));
        plist_dict_set_item(s, "Date", plist_now());
        plist_dict_set_item(s, "IsFullBackup", plist_new_bool(full));
        plist_dict_set_item(s, "SnapshotState", plist_new_string(state));
        plist_dict_set_item(s, "UUID", plist_new_string(uuid));
        plist_dict_set_item(s, "Version", plist_new_string("3.3"));
        return s;
}

/* Parse a small plist file fetched from the host. -ENOENT missing, -ENODATA empty,
 * -EBADMSG not a plist (dictionary). */
int load_plist(const Fetch *f, plist_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        plist_t p = NULL;
        int r;

        if (!f->received)
                return -ENOENT;
        r = read_file(f->local, META_MAX, &buf, &len);
        if (r < 0)
                return r == -EFBIG ? -EBADMSG : r;
        if (len == 0)
                return -ENODATA;
        plist_from_memory(buf, (uint32_t) len, &p);
        if (!p)
                return -EBADMSG;
        if (plist_get_node_type(p) != PLIST_DICT) {
                plist_free(p);
                return -EBADMSG;
        }
        *ret = p;
        return 0;
}

/* ---- the previous backup, as the host has it ------------------------------------------- */

/* Frees what old_load() filled in o and empties it. */
void old_done(Old *o) {
        free(o->v);
        free(o->by_digest);
        *o = (Old){};
}

static int cmp_old_id(const void *a, const void *b) {
        return strcmp(((const OldRow *) a)->id, ((const OldRow *) b)->id);
}

static int cmp_old_digest(const void *a, const void *b) {
        const OldRow *x = *(OldRow *const *) a, *y = *(OldRow *const *) b;
        int c = memcmp(x->digest, y->digest, 20);

        return c ? c : (x->size > y->size) - (x->size < y->size);
}

/* Read the host's Manifest.db (untrusted): rows with a valid fileID only. */
int old_load(const char *path, Old *ret) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        Old o = {};
        size_t cap = 0;
        int rc;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT fileID, flags, file FROM Files", -1, &st, NULL) !=
                    SQLITE_OK)
                return -EBADMSG;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const void *blob = sqlite3_column_blob(st, 2);
                int blen = sqlite3_column_bytes(st, 2);
                MBInfo m = {};
                OldRow *row;

                if (!file_id_ok(id))
                        continue;
                if (o.n == cap) {
                        OldRow *v;
                        cap = cap ? cap * 2 : 256;
                        v = realloc(o.v, cap * sizeof(*v));
                        if (!v) {
                                old_done(&o);
                                return -ENOMEM;
                        }
                        o.v = v;
                }
                row = &o.v[o.n++];
                *row = (OldRow){.flags = sqlite3_column_int(st, 1)};
                memcpy(row->id, id, 41);
                if (mbfile_parse(blob, blen > 0 ? (size_t) blen : 0, &m) >= 0) {
                        row->size = m.size;
                        row->has_digest = m.has_digest;
                        memcpy(row->digest, m.digest, 20);
                        row->has_key = m.has_key;
                        memcpy(row->key, m.key, KEY_BLOB_LEN);
                        mbinfo_done(&m);
                }
        }
        if (rc != SQLITE_DONE) {
                old_done(&o);
                return -EBADMSG;
        }
        if (o.n)
                qsort(o.v, o.n, sizeof(*o.v), cmp_old_id);
        o.by_digest = calloc(o.n ? o.n : 1, sizeof(*o.by_digest));
        if (!o.by_digest) {
                old_done(&o);
                return -ENOMEM;
        }
        for (size_t i = 0; i < o.n; i++)
                if (o.v[i].has_digest && o.v[i].flags == FLAG_FILE)
                        o.by_digest[o.n_digest++] = &o.v[i];
        if (o.n_digest)
                qsort(o.by_digest, o.n_digest, sizeof(*o.by_digest), cmp_old_digest);
        *ret = o;
        return 0;
}

/* The row of the previous backup with fileID id (41 bytes with the NUL), borrowed from o;
 * NULL if it had none. */
OldRow *old_find(Old *o, const char *id) {
        OldRow key = {};

        memcpy(key.id, id, 41);
        return o->n ? bsearch(&key, o->v, o->n, sizeof(*o->v), cmp_old_id) : NULL;
}

/* A file of the previous backup with this content, if any: it can be copied on the host
 * (DLMessageCopyItem) instead of sent again. */
OldRow *old_find_content(Old *o, const uint8_t digest[20], uint64_t size) {
        OldRow key = {.size = size}, *kp = &key, **hit;

        memcpy(key.digest, digest, 20);
        if (!o->n_digest)
                return NULL;
        hit = bsearch(&kp, o->by_digest, o->n_digest, sizeof(*o->by_digest), cmp_old_digest);
        return hit ? *hit : NULL;
}
