/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App documents: what a host syncs both ways through house_arrest VendDocuments + AFC.
 *
 * The ground truth a test compares a host's result with is <profile>/documents.tsv, beside
 * photos.tsv and outside media/ and apps/, so that no AFC service ever shows it. One line per
 * regular file beneath apps/<id>/Documents/ of every app with UIFileSharingEnabled:
 *
 *   bundle_id<TAB>path below Documents<TAB>sha256<TAB>size<TAB>mtime_ns
 *
 * sorted by bundle id, then by path (bytewise, strcmp()); the path is the file's raw bytes
 * (NFD stays NFD), with '\\', TAB, LF and CR written as \\, \t, \n, \r; mtime_ns is the
 * file's mtime in nanoseconds since the epoch, as AFC's st_mtime reports it. Apps without
 * file sharing are not listed (a host cannot see their documents). gen-profile writes it,
 * every `mutate` and the control command `doc` rewrite it; what a host writes over AFC does
 * not, so a test reads the tree (or documents.tsv before the sync) itself.
 *
 * mutate --documents-add/-change/-delete work on the same files, keep their hard-linked
 * twins backup/AppDomain-<id>/Documents/<path> in step (one inode in both places), and are
 * deterministic from the seed; `doc` (documents_write_one()) rewrites one document with
 * pseudo-random bytes while the emulator runs, as an app saving a file would: a new inode
 * renamed over the old one, so a reader that has the old one open keeps reading it.
 */
#include <openssl/evp.h>

#include "profile-internal.h"

#define DOC_TMP ".doc.tmp"

/* The apps with file sharing, sorted by bundle id; the caller frees them with
 * app_info_free_array(). */
static int sharing_apps(const char *dir, AppInfo ***ret, size_t *ret_n) {
        AppInfo **apps = NULL;
        size_t n = 0, m = 0;
        int r;

        r = profile_list_apps(dir, &apps, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (apps[i]->file_sharing)
                        apps[m++] = apps[i];
                else
                        app_info_free(apps[i]);
        }
        *ret = apps;
        *ret_n = m;
        return 0;
}

/* Every regular file beneath apps/<id>/Documents/ of the sharing apps, as paths relative to
 * the profile, sorted by bundle id and then by path (the order of documents.tsv). Also the
 * sharing apps themselves if ret_apps is set. */
static int list_documents(const char *dir, int dfd, EntryList *l, AppInfo ***ret_apps,
                          size_t *ret_n) {
        AppInfo **apps = NULL;
        size_t n = 0;
        int r;

        r = sharing_apps(dir, &apps, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                char top[PATH_MAX];
                size_t first = l->n;

                snprintf(top, sizeof(top), "apps/%s/Documents", apps[i]->bundle_id);
                r = list_tree(dfd, top, false, true, l);
                if (r == -ENOENT || r == -ENOTDIR)
                        r = 0;
                if (r >= 0 && l->n - first > 1)
                        qsort(l->e + first, l->n - first, sizeof(*l->e), entry_compare);
        }
        if (r < 0 || !ret_apps)
                app_info_free_array(apps, n);
        else {
                *ret_apps = apps;
                *ret_n = n;
        }
        return r;
}

/* "apps/<id>/Documents/<rel>": the bundle id's length and rel; false for other paths. */
static bool split_doc_path(const char *path, size_t *ret_id_len, const char **ret_rel) {
        const char *id, *slash;

        if (!startswith(path, "apps/"))
                return false;
        id = path + strlen("apps/");
        slash = strchr(id, '/');
        if (!slash || !startswith(slash, "/Documents/"))
                return false;
        *ret_id_len = (size_t) (slash - id);
        *ret_rel = slash + strlen("/Documents/");
        return true;
}

/* The backup twin of a document path: backup/AppDomain-<id>/Documents/<rel>. */
static int backup_path_of(const char *path, char *buf, size_t n) {
        const char *rel;
        size_t id_len;
        int k;

        if (!split_doc_path(path, &id_len, &rel))
                return -EINVAL;
        k = snprintf(buf, n, "backup/AppDomain-%.*s/Documents/%s", (int) id_len,
                     path + strlen("apps/"), rel);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

static void put_escaped(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '\t':
                        fputs("\\t", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                case '\r':
                        fputs("\\r", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

/**
 * documents_write_tsv: (re)write DIR/documents.tsv (format at the top of this file) from the
 * tree, atomically (temporary file + rename).
 * @dir: the profile (borrowed). @dfd: dir opened (borrowed).
 * @t: the file's mtime in seconds, or < 0 to leave it at the time of writing.
 * @buf: GEN_BUF_SIZE bytes of scratch space.
 *
 * Returns 0 or -errno (-EBADMSG if an Info.ini is malformed).
 */
int documents_write_tsv(const char *dir, int dfd, int64_t t, uint8_t *buf) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(fclosep) FILE *f = NULL;
        int fd, r;

        r = list_documents(dir, dfd, &l, NULL, NULL);
        if (r < 0)
                return r;

        (void) unlinkat(dfd, "documents.tsv.tmp", 0);
        fd = openat(dfd, "documents.tsv.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        f = fdopen(fd, "w");
        if (!f) {
                r = -errno;
                (void) close(fd);
                return r;
        }

        for (size_t i = 0; i < l.n; i++) {
                const struct stat *st = &l.e[i].st;
                const char *rel;
                size_t id_len;
                char hex[65];
                uint64_t size;

                if (!split_doc_path(l.e[i].path, &id_len, &rel))
                        continue;
                r = sha256_file_at(dfd, l.e[i].path, buf, hex, &size);
                if (r == -ENOENT)
                        continue;               /* gone meanwhile: a host removed it */
                if (r < 0)
                        return r;
                fprintf(f, "%.*s\t", (int) id_len, l.e[i].path + strlen("apps/"));
                put_escaped(f, rel);
                fprintf(f, "\t%s\t%" PRIu64 "\t%" PRId64 "\n", hex, size,
                        (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec);
        }
        if (fflush(f) != 0)
                return -errno;
        if (t >= 0) {
                r = set_mtime_at(dfd, "documents.tsv.tmp", t);
                if (r < 0)
                        return r;
        }
        if (renameat(dfd, "documents.tsv.tmp", dfd, "documents.tsv") < 0)
                return -errno;
        return 0;
}

/* Hard-link from (relative to dfd) at to, replacing whatever is there, creating the missing
 * directories above it: a link beside it under a temporary name, then a rename. */
static int link_replace_at(int dfd, const char *from, const char *to) {
        char tmp[PATH_MAX];
        const char *slash = strrchr(to, '/');
        int r;

        if ((size_t) snprintf(tmp, sizeof(tmp), "%.*s" DOC_TMP,
                              slash ? (int) (slash - to + 1) : 0, to) >= sizeof(tmp))
                return -ENAMETOOLONG;
        (void) unlinkat(dfd, tmp, 0);
        if (linkat(dfd, from, dfd, tmp, 0) < 0) {
                r = errno == ENOENT ? mkdir_parents_at(dfd, tmp) : -errno;
                if (r >= 0 && linkat(dfd, from, dfd, tmp, 0) < 0)
                        r = -errno;
                if (r < 0)
                        return r;
        }
        if (renameat(dfd, tmp, dfd, to) < 0) {
                r = -errno;
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return 0;
}

/* ---- mutate --documents-* ---------------------------------------------------------------- */

/**
 * documents_count: the number of documents of the sharing apps (the lines of documents.tsv)
 * into *ret_files, and of sharing apps into *ret_apps. Returns 0 or -errno.
 */
int documents_count(const char *dir, int dfd, size_t *ret_files, size_t *ret_apps) {
        _cleanup_(entry_list_done) EntryList l = {};
        AppInfo **apps = NULL;
        size_t n = 0;
        int r;

        r = list_documents(dir, dfd, &l, &apps, &n);
        if (r < 0)
                return r;
        app_info_free_array(apps, n);
        *ret_files = l.n;
        *ret_apps = n;
        return 0;
}

/* Give path (a document, relative to the profile) new content of size bytes and the mtime
 * t: a new file beside it, linked over its backup twin, then renamed over it. */
static int doc_replace(int dfd, const char *path, uint64_t size, uint64_t cseed, int64_t t,
                       uint8_t *buf) {
        char tmp[PATH_MAX], bpath[PATH_MAX];
        const char *slash = strrchr(path, '/');
        int r;

        r = backup_path_of(path, bpath, sizeof(bpath));
        if (r < 0)
                return r;
        if ((size_t) snprintf(tmp, sizeof(tmp), "%.*s" DOC_TMP, (int) (slash - path + 1),
                              path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        (void) unlinkat(dfd, tmp, 0);
        r = write_content_at(dfd, tmp, size, cseed, t, buf);
        if (r >= 0)
                r = link_replace_at(dfd, tmp, bpath);
        if (r >= 0 && renameat(dfd, tmp, dfd, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* touch_parent() of a document and of its backup twin. */
static int touch_doc(EntryList *touched, const char *path) {
        char bpath[PATH_MAX];
        int r;

        r = backup_path_of(path, bpath, sizeof(bpath));
        if (r >= 0)
                r = touch_parent(touched, path);
        if (r >= 0)
                r = touch_parent(touched, bpath);
        return r;
}

/* The directories beneath apps/<id>/Documents (itself first, as ""), sorted. */
static int list_doc_dirs(int dfd, const char *id, EntryList *l) {
        char top[PATH_MAX];
        char *root;
        int r;

        snprintf(top, sizeof(top), "apps/%s/Documents", id);
        root = strdup(top);
        if (!root)
                return -ENOMEM;
        r = entry_list_add(l, root, NULL);
        if (r >= 0)
                r = list_tree(dfd, top, true, false, l);
        if (r >= 0 && l->n > 1)
                qsort(l->e + 1, l->n - 1, sizeof(*l->e), entry_compare);
        return r;
}

/* One new document of a random sharing app: in Documents itself, in one of its existing
 * directories, or (one in three) in a new one, some with NFD names. */
static int doc_add(int dfd, Rng *r, uint64_t seed, AppInfo **apps, size_t n_apps, int64_t t,
                   uint8_t *buf, EntryList *touched) {
        static const char *const names[][2] = {
                { "Document ", ".txt" },
                { "Re\xcc\x81sume\xcc\x81 ", ".md" },   /* NFD "Résumé" */
                { "Scan ", ".pdf" },
                { "data-", ".json" },
                { "Notiz fu\xcc\x88r ", ".txt" },       /* NFD "für" */
        };
        static const char *const folders[] = {
                "New Folder ",
                "A\xcc\x88nderungen ",                  /* NFD "Änderungen" */
        };
        _cleanup_(entry_list_done) EntryList dirs = {};
        const AppInfo *app = apps[rng_range(r, n_apps)];
        uint64_t where = rng_range(r, 3);
        char parent[PATH_MAX], name[NAME_MAX + 1], path[PATH_MAX], bpath[PATH_MAX];
        bool new_dir = false;
        int k;

        k = list_doc_dirs(dfd, app->bundle_id, &dirs);
        if (k < 0)
                return k;
        if (where == 0) {
                for (unsigned attempt = 0;; attempt++) {
                        struct stat st;

                        if (attempt >= 100)
                                return -EEXIST;
                        snprintf(name, sizeof(name), "%s%04x",
                                 folders[rng_range(r, ELEMENTSOF(folders))],
                                 (unsigned) rng_range(r, 0x10000));
                        k = snprintf(parent, sizeof(parent), "%s/%s", dirs.e[0].path, name);
                        if (k < 0 || (size_t) k >= sizeof(parent))
                                return -ENAMETOOLONG;
                        if (fstatat(dfd, parent, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                break;
                }
                new_dir = true;
        } else {
                size_t d = where == 1 || dirs.n == 1 ? 0 : 1 + (size_t) rng_range(r, dirs.n - 1);

                snprintf(parent, sizeof(parent), "%s", dirs.e[d].path);
        }

        for (unsigned attempt = 0;; attempt++) {
                size_t pick = (size_t) rng_range(r, ELEMENTSOF(names));
                struct stat st;

                if (attempt >= 100)
                        return -EEXIST;
                snprintf(name, sizeof(name), "%s%08x%s", names[pick][0], (unsigned) rng_next(r),
                         names[pick][1]);
                k = snprintf(path, sizeof(path), "%s/%s", parent, name);
                if (k < 0 || (size_t) k >= sizeof(path))
                        return -ENAMETOOLONG;
                if (fstatat(dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        break;
        }

        k = backup_path_of(path, bpath, sizeof(bpath));
        if (k >= 0)
                k = write_content_at(dfd, path, natural_size(r, SIZE_SMALL),
                                     content_seed(seed, path), t, buf);
        if (k >= 0)
                k = link_replace_at(dfd, path, bpath);
        if (k >= 0)
                k = touch_doc(touched, path);
        if (k >= 0 && new_dir)
                k = touch_doc(touched, parent);
        return k;
}

/**
 * documents_mutate: the --documents-change, --documents-delete and --documents-add part of
 * `mutate`, with a PRNG of its own (so the other options do what they did before).
 * @dir, @dfd: the profile and its fd (borrowed). @o: the options (borrowed).
 * @t: the mutation's time: changed and new documents get mtimes in [t, t + 3600).
 * @buf: GEN_BUF_SIZE bytes of scratch. @touched: directories whose mtime the caller sets.
 *
 * Picks change + delete distinct documents of the sharing apps (sorted as in documents.tsv):
 * the first get new content (a size 1 byte to 10 % away, so the hash changes too) and a new
 * mtime, the others are removed with their backup twin (their directories stay). Then add
 * new ones (doc_add()). Twins in backup/ follow every change.
 *
 * Returns 0, -EINVAL if there are fewer documents than change + delete or no sharing app to
 * add to, or -errno.
 */
int documents_mutate(const char *dir, int dfd, const MutateOptions *o, int64_t t, uint8_t *buf,
                     EntryList *touched) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(freep) size_t *perm = NULL;
        size_t pick = (size_t) o->documents_change + o->documents_delete, n_apps = 0;
        AppInfo **apps = NULL;
        Rng rng;
        int r;

        if (pick == 0 && o->documents_add == 0)
                return 0;
        r = list_documents(dir, dfd, &l, &apps, &n_apps);
        if (r < 0)
                return r;
        if (pick > l.n || (o->documents_add > 0 && n_apps == 0)) {
                log_warn("mutate: '%s' has %zu documents in %zu apps with file sharing, cannot "
                         "change %u, delete %u and add %u", dir, l.n, n_apps,
                         o->documents_change, o->documents_delete, o->documents_add);
                r = -EINVAL;
                goto out;
        }
        perm = calloc(l.n ? l.n : 1, sizeof(*perm));
        if (!perm) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < l.n; i++)
                perm[i] = i;

        rng_init(&rng, o->seed ^ UINT64_C(0x646f63756d656e74));        /* "document" */
        for (size_t i = 0; i < pick; i++) {
                size_t j = i + (size_t) rng_range(&rng, l.n - i), x = perm[i];

                perm[i] = perm[j];
                perm[j] = x;
        }

        for (size_t i = 0; i < o->documents_change && r >= 0; i++) {
                const Entry *e = &l.e[perm[i]];
                uint64_t old = (uint64_t) e->st.st_size, delta, size;

                delta = 1 + rng_range(&rng, old / 10 > 64 ? old / 10 : 64);
                size = (rng_next(&rng) & 1) && delta <= old ? old - delta : old + delta;
                r = doc_replace(dfd, e->path, size,
                                content_seed(o->seed ^ UINT64_C(0x646368616e6765), e->path),
                                t + (int64_t) rng_range(&rng, 3600), buf);
                if (r >= 0)
                        r = touch_doc(touched, e->path);
        }
        for (size_t i = o->documents_change; i < pick && r >= 0; i++) {
                const Entry *e = &l.e[perm[i]];
                char bpath[PATH_MAX];

                r = backup_path_of(e->path, bpath, sizeof(bpath));
                if (r >= 0 && unlinkat(dfd, e->path, 0) < 0)
                        r = -errno;
                if (r >= 0 && unlinkat(dfd, bpath, 0) < 0 && errno != ENOENT)
                        r = -errno;
                if (r >= 0)
                        r = touch_doc(touched, e->path);
        }
        for (unsigned i = 0; i < o->documents_add && r >= 0; i++)
                r = doc_add(dfd, &rng, o->seed ^ UINT64_C(0x646164640a), apps, n_apps,
                            t + (int64_t) rng_range(&rng, 3600), buf, touched);
out:
        app_info_free_array(apps, n_apps);
        return r;
}

/* ---- the control command `doc` ----------------------------------------------------------- */

/* A path below Documents a test may name: relative, non-empty components, no "." or "..". */
static bool doc_relpath_ok(const char *rel) {
        const char *p = rel;

        if (!*rel || *rel == '/' || strlen(rel) >= PATH_MAX)
                return false;
        for (;;) {
                const char *slash = strchr(p, '/');
                size_t len = slash ? (size_t) (slash - p) : strlen(p);

                if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') ||
                    (len == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (!slash)
                        return true;
                p = slash + 1;
        }
}

/* Open (creating what is missing) the directory holding rel beneath the directory fd top,
 * one component at a time without following symlinks; *ret_name points at rel's last
 * component. Returns a directory fd or -errno. */
static int open_parent_beneath(int top, const char *rel, const char **ret_name) {
        char comp[NAME_MAX + 1];
        const char *p = rel, *slash;
        int fd;

        fd = fcntl(top, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return -errno;
        while ((slash = strchr(p, '/'))) {
                int next;

                memcpy(comp, p, (size_t) (slash - p));
                comp[slash - p] = '\0';
                if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;

                        (void) close(fd);
                        return r;
                }
                next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                (void) close(fd);
                if (next < 0)
                        return errno == ELOOP ? -EPERM : -errno;
                fd = next;
                p = slash + 1;
        }
        *ret_name = p;
        return fd;
}

/* Open <profile>/<sub> (creating it and its parents), a directory, not through a symlink at
 * its last component. */
static int open_dir_p(int dfd, const char *sub) {
        char buf[PATH_MAX];
        int fd, r;

        snprintf(buf, sizeof(buf), "%s", sub);
        r = mkdir_p_at(dfd, buf);
        if (r < 0)
                return r;
        fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* Write n pseudo-random bytes (from r) to fd and hash them into hex. */
static int write_random(int fd, Rng *r, uint64_t n, char hex[static 65]) {
        _cleanup_(freep) uint8_t *buf = malloc(64u << 10);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int k = 0;

        if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                k = -ENOMEM;
        while (k >= 0 && n > 0) {
                size_t chunk = n > (64u << 10) ? (64u << 10) : (size_t) n;

                rng_fill(r, buf, chunk);
                k = write_all(fd, buf, chunk);
                if (k >= 0 && EVP_DigestUpdate(ctx, buf, chunk) != 1)
                        k = -EIO;
                n -= chunk;
        }
        if (k >= 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                k = -EIO;
        EVP_MD_CTX_free(ctx);
        for (unsigned i = 0; k >= 0 && i < md_len && i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        hex[64] = '\0';
        return k;
}

/**
 * documents_write_one: the control command `doc`: give apps/<bundle_id>/Documents/<rel>
 * @bytes new pseudo-random bytes (seeded from the clock) and a new mtime, creating it and
 * its directories if missing, as an app saving a file does: a new inode renamed over the
 * old one. Its backup twin becomes a hard link to it; documents.tsv is rewritten.
 * @dir: the profile (borrowed). @bundle_id: an existing app, with or without file sharing.
 * @rel: the path below Documents: relative, without empty, "." or ".." components; no
 *       symlink on the way is followed.
 * @bytes: the new size.
 * @ret: on success, the new size, SHA-256 and mtime (ns): the file's documents.tsv line.
 *
 * The new mtime is the current time, or 1 s after the old one if that is later, so it
 * always changes. Returns 0; -ENOENT (no such app), -EINVAL (a bad @rel), -EISDIR (@rel is
 * a directory), -EPERM (a symlink on the way), or another -errno.
 */
int documents_write_one(const char *dir, const char *bundle_id, const char *rel,
                        uint64_t bytes, DocWritten *ret) {
        _cleanup_(closep) int dfd = -EBADF, top = -EBADF, pfd = -EBADF, btop = -EBADF,
                              bfd = -EBADF, fd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        char sub[PATH_MAX], hex[65];
        AppInfo *app = NULL;
        const char *name = NULL, *bname = NULL;
        struct timespec now, ts[2];
        struct stat st;
        int64_t old_ns = 0, ns;
        Rng rng;
        int r;

        if (!dir || !bundle_id || !rel || !ret)
                return -EINVAL;
        if (!doc_relpath_ok(rel))
                return -EINVAL;
        r = profile_app_lookup(dir, bundle_id, &app);
        if (r < 0)
                return r;
        app_info_free(app);

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        snprintf(sub, sizeof(sub), "apps/%s/Documents", bundle_id);
        top = open_dir_p(dfd, sub);
        if (top < 0)
                return top;
        pfd = open_parent_beneath(top, rel, &name);
        if (pfd < 0)
                return pfd;
        if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (S_ISDIR(st.st_mode))
                        return -EISDIR;
                if (!S_ISREG(st.st_mode))
                        return -EPERM;
                old_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        } else if (errno != ENOENT)
                return -errno;

        (void) clock_gettime(CLOCK_REALTIME, &now);
        ns = (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
        if (ns <= old_ns)
                ns = old_ns + 1000000000;
        rng_init(&rng, (uint64_t) ns);

        (void) unlinkat(pfd, DOC_TMP, 0);
        fd = openat(pfd, DOC_TMP, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_random(fd, &rng, bytes, hex);
        ts[0] = ts[1] = (struct timespec) { .tv_sec = (time_t) (ns / 1000000000),
                                            .tv_nsec = (long) (ns % 1000000000) };
        if (r >= 0 && futimens(fd, ts) < 0)
                r = -errno;
        if (r >= 0 && renameat(pfd, DOC_TMP, pfd, name) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(pfd, DOC_TMP, 0);
                return r;
        }

        /* The backup twin: the same inode under backup/AppDomain-<id>/Documents/. */
        snprintf(sub, sizeof(sub), "backup/AppDomain-%s/Documents", bundle_id);
        btop = open_dir_p(dfd, sub);
        if (btop < 0)
                return btop;
        bfd = open_parent_beneath(btop, rel, &bname);
        if (bfd < 0)
                return bfd;
        (void) unlinkat(bfd, DOC_TMP, 0);
        if (linkat(pfd, name, bfd, DOC_TMP, 0) < 0)
                return -errno;
        if (renameat(bfd, DOC_TMP, bfd, bname) < 0) {
                r = -errno;
                (void) unlinkat(bfd, DOC_TMP, 0);
                return r;
        }

        buf = malloc(GEN_BUF_SIZE);
        if (!buf)
                return -ENOMEM;
        r = documents_write_tsv(dir, dfd, -1, buf);
        if (r < 0)
                return r;
        *ret = (DocWritten) { .size = bytes, .mtime_ns = ns };
        memcpy(ret->sha256, hex, sizeof(hex));
        return 0;
}

/* %XX (hex) → that byte, in place: the control line splits at blanks, so a test names
 * "My Files/a b.txt" as "My%20Files/a%20b.txt". -EINVAL for a bad escape or %00. */
static int percent_decode(char *s) {
        char *o = s;

        for (; *s; s++) {
                unsigned v;

                if (*s != '%') {
                        *o++ = *s;
                        continue;
                }
                if (!isxdigit((unsigned char) s[1]) || !isxdigit((unsigned char) s[2]) ||
                    sscanf(s + 1, "%2x", &v) != 1 || v == 0)
                        return -EINVAL;
                *o++ = (char) v;
                s += 2;
        }
        *o = '\0';
        return 0;
}

/**
 * documents_doc_command: the control command `doc UDID BUNDLE_ID RELPATH [BYTES]` (argv[0] =
 * BUNDLE_ID), with the global lock held: documents_write_one() of RELPATH (percent-decoded:
 * %XX is the byte XX, %25 a '%') with BYTES (a size as parse_size() takes it, at most 1G;
 * default 100) bytes.
 * @dir: the device's profile (borrowed). @udid: for the reply (borrowed).
 * @reply, @n: "ok doc UDID BUNDLE_ID RELPATH size=N sha256=HEX mtime_ns=T" (RELPATH as
 *             given), or "err …".
 */
void documents_doc_command(const char *dir, const char *udid, int argc, char **argv,
                           char *reply, size_t n) {
        char rel[PATH_MAX];
        uint64_t bytes = 100;
        AppInfo *app = NULL;
        DocWritten w;
        int r;

        if (argc < 2 || argc > 3 || (argc == 3 && (parse_size(argv[2], &bytes) < 0 ||
                                                   bytes > (UINT64_C(1) << 30)))) {
                snprintf(reply, n, "err usage: doc UDID BUNDLE_ID RELPATH [BYTES(0-1G)]");
                return;
        }
        if (strlen(argv[1]) >= sizeof(rel) || (strcpy(rel, argv[1]), percent_decode(rel) < 0) ||
            !doc_relpath_ok(rel)) {
                snprintf(reply, n, "err bad path '%s': relative, no empty, '.' or '..' "
                         "components, %%XX for a byte", argv[1]);
                return;
        }
        r = profile_app_lookup(dir, argv[0], &app);
        if (r < 0) {
                snprintf(reply, n, "err no such app '%s'", argv[0]);
                return;
        }
        app_info_free(app);
        r = documents_write_one(dir, argv[0], rel, bytes, &w);
        if (r < 0)
                snprintf(reply, n, "err cannot write '%s' of '%s': %s", argv[1], argv[0],
                         strerror(-r));
        else
                snprintf(reply, n, "ok doc %s %s %s size=%" PRIu64 " sha256=%s mtime_ns=%" PRId64,
                         udid, argv[0], argv[1], w.size, w.sha256, w.mtime_ns);
}
