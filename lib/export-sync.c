/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The exports as sync categories (export.h has the types): after the device's categories,
 * each enabled export reads the latest committed snapshot of the device (the backup that
 * ran just before, decrypted with the password when it is encrypted) and, when the content
 * of its source files changed since the last export, writes its output anew.
 *
 *   scan_device  open the snapshot (once per run), digest the type's source files
 *   scan_host    read <library>/.idevicesync-exports/<type>.state
 *   plan         the same digest and type version: nothing to do
 *   apply        run the type into a fresh directory beside the library, make it durable,
 *                then put each of its top-level entries in place as a whole
 *                (RENAME_EXCHANGE), then the new state
 *
 * Nothing a person changed is lost: the state lists every file the last export wrote with
 * its SHA-256; an output that holds anything else (an edited card, a file someone added, or
 * an output there before the first export) goes to the trash as a whole before the new one
 * takes its place. A failed type (an unknown schema, a full disk) leaves the previous export
 * as it was.
 *
 * A dry run reads no snapshot (that would mean decrypting databases to plan): it compares
 * the latest snapshot's id with the one the export came from.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "export-internal.h"
#include "fs-util.h"
#include "snapshot-source.h"
#include "store.h"
#include "sync-internal.h"
#include "util.h"

#define EXPORTS_DIR ".idevicesync-exports"
#define STATE_MAX (16u << 20)
#define HASH_CONTENT_MAX (UINT64_C(16) << 20)   /* bigger sources: size and mtime */

struct ExportShared {
        bool opened;
        int r;                                  /* of opening the snapshot */
        Source src;
        char why[256];
};

typedef struct StateFile {
        char *path;                             /* relative to the library */
        uint64_t size;
        char sha256[65];
} StateFile;

typedef struct ExportState {
        unsigned version;
        char snapshot[64];
        char digest[65];
        char **outputs;
        size_t n_outputs;
        StateFile *files;
        size_t n_files, allocated;
} ExportState;

typedef struct ExportCat {
        const ExportType *type;
        char digest[65];
        bool have_state;
        ExportState state;
        bool changed;
} ExportCat;

static const ExportType *type_of(const SyncCat *c) {
        return c->type->userdata;
}

/* ---- SHA-256 ---------------------------------------------------------------------------- */

static void hex(const unsigned char *md, unsigned n, char *out) {
        for (unsigned i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Feed fd from its current offset to its end into ctx. 0 or -errno. */
static int hash_fd(EVP_MD_CTX *ctx, int fd, ids_cancel *cancel) {
        _cleanup_(freep) char *buf = malloc(256 * 1024);

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf, 256 * 1024);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                if (EVP_DigestUpdate(ctx, buf, (size_t) k) != 1)
                        return -EIO;
                if (ids_cancel_requested(cancel))
                        return IDS_E_CANCELLED;
        }
}

static int sha256_fd(int fd, ids_cancel *cancel, char out[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int r;

        if (!ctx)
                return -ENOMEM;
        r = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 ? hash_fd(ctx, fd, cancel) : -EIO;
        if (r == 0 && EVP_DigestFinal_ex(ctx, md, &n) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        if (r == 0)
                hex(md, n, out);
        return r;
}

/* ---- the snapshot backend --------------------------------------------------------------- */

static int snap_open(ExportCtx *x, const char *domain, const char *path, int *ret_fd,
                     ExportFileInfo *info) {
        uint64_t size = 0;
        int64_t mtime = 0;
        int r;

        r = source_plaintext_open(x->backend_data, domain, path, ret_fd, &size, &mtime);
        if (r == 0)
                *info = (ExportFileInfo) { .size = size, .mtime = mtime };
        return r;
}

typedef struct SnapList {
        ExportCtx *x;
        int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata);
        void *userdata;
} SnapList;

static int snap_list_row(const Source *s, const Row *row, void *userdata) {
        SnapList *l = userdata;
        ids_snapshot_file f;

        if (row->flags != IDS_SNAPSHOT_FILE_REGULAR)
                return 0;
        source_row_file(s, row, &f);
        return l->fn(l->x, &f, l->userdata);
}

static int snap_list(ExportCtx *x, const char *domain, const char *prefix,
                     int (*fn)(ExportCtx *x, const ids_snapshot_file *f, void *userdata),
                     void *userdata) {
        SnapList l = { .x = x, .fn = fn, .userdata = userdata };

        if (!domain || !*domain)
                return 0;
        return source_rows(x->backend_data, domain, prefix, snap_list_row, &l, NULL, 0);
}

static const ExportBackend snapshot_backend = {
        .open = snap_open,
        .list = snap_list,
};

/* ---- the shared snapshot ---------------------------------------------------------------- */

static int shared_open(SyncRun *run) {
        ExportShared *sh = run->exports;

        if (!sh) {
                sh = calloc(1, sizeof(*sh));
                if (!sh)
                        return -ENOMEM;
                sh->src.dir_fd = -EBADF;
                run->exports = sh;
        }
        if (sh->opened)
                return sh->r;
        sh->opened = true;
        /* The run holds the device lock (sync.c), so the store is opened without it. */
        sh->r = source_open(run->o->udid, NULL, run->state_dir, run->o->backup_dir,
                            run->o->password, true, &sh->src, sh->why, sizeof(sh->why));
        return sh->r;
}

int export_backup_count(SyncRun *run, const char *domain, const char *path, const char *table,
                        uint64_t *ret) {
        _cleanup_free_ char *sql = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        ExportCtx x;
        int r;

        r = shared_open(run);
        if (r != 0)
                return -ENOENT;
        r = export_ctx_init(&x, &export_contacts, run->exports->src.ios, -EBADF, run->state_dir);
        if (r == 0) {
                x.backend = &snapshot_backend;
                x.backend_data = &run->exports->src;
                x.cancel = run->cancel;
                r = export_open_db(&x, domain, path, &db);
        }
        if (r == 0 && asprintf(&sql, "SELECT COUNT(*) FROM \"%s\"", table) < 0)
                r = -ENOMEM;
        if (r == 0 && sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                r = -EBADMSG;           /* not the schema we know: nothing to say */
        if (r == 0 && sqlite3_step(st) == SQLITE_ROW)
                *ret = (uint64_t) sqlite3_column_int64(st, 0);
        else if (r == 0)
                r = -EBADMSG;
        sqlite3_finalize(st);
        if (db)
                sqlite3_close(db);
        export_ctx_done(&x);
        return r;
}

void export_shared_free(SyncRun *run) {
        if (!run->exports)
                return;
        if (run->exports->opened && run->exports->r == 0)
                source_done(&run->exports->src);
        free(run->exports);
        run->exports = NULL;
}

/* ---- the state file --------------------------------------------------------------------- */

static void state_done(ExportState *st) {
        for (size_t i = 0; i < st->n_outputs; i++)
                free(st->outputs[i]);
        free(st->outputs);
        for (size_t i = 0; i < st->n_files; i++)
                free(st->files[i].path);
        free(st->files);
        *st = (ExportState) {};
}

static int state_add_file(ExportState *st, const char *path, uint64_t size, const char *sha) {
        if (st->n_files == st->allocated) {
                size_t n = st->allocated ? 2 * st->allocated : 64;
                StateFile *f = reallocarray(st->files, n, sizeof(*f));

                if (!f)
                        return -ENOMEM;
                st->files = f;
                st->allocated = n;
        }
        st->files[st->n_files] = (StateFile) { .path = strdup(path), .size = size };
        if (!st->files[st->n_files].path)
                return -ENOMEM;
        snprintf(st->files[st->n_files].sha256, 65, "%s", sha);
        st->n_files++;
        return 0;
}

static int state_add_output(ExportState *st, const char *name) {
        char **o = reallocarray(st->outputs, st->n_outputs + 1, sizeof(*o));

        if (!o)
                return -ENOMEM;
        st->outputs = o;
        if (!(o[st->n_outputs] = strdup(name)))
                return -ENOMEM;
        st->n_outputs++;
        return 0;
}

/* An output is one plain name at the top of the library, never one of ours. */
static bool output_name_ok(const char *name) {
        return name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) <= FS_NAME_MAX;
}

/* Read <library>/.idevicesync-exports/<type>.state. -ENOENT when there is none; a damaged
 * one is -EBADMSG (then everything there counts as a person's). */
static int state_read(int lib_fd, const char *type, ExportState *st) {
        _cleanup_(freep) char *rel = NULL, *data = NULL;
        _cleanup_(closep) int fd = -EBADF;
        char *line, *save = NULL;
        struct stat sb;
        ssize_t k;
        int r = 0;

        *st = (ExportState) {};
        if (asprintf(&rel, EXPORTS_DIR "/%s.state", type) < 0)
                return -ENOMEM;
        fd = fs_open_beneath(lib_fd, rel, O_RDONLY, 0);
        if (fd < 0)
                return fd == -ENOENT ? -ENOENT : fd;
        if (fstat(fd, &sb) < 0)
                return -errno;
        if (!S_ISREG(sb.st_mode) || sb.st_size > STATE_MAX)
                return -EBADMSG;
        data = malloc((size_t) sb.st_size + 1);
        if (!data)
                return -ENOMEM;
        k = read(fd, data, (size_t) sb.st_size);
        if (k != sb.st_size)
                return -EBADMSG;
        data[k] = 0;
        if (strncmp(data, "idevicesync-export 1\n", 21) != 0)
                return -EBADMSG;
        for (line = strtok_r(data + 21, "\n", &save); line && r == 0;
             line = strtok_r(NULL, "\n", &save)) {
                char sha[65];
                uint64_t size;
                int n = 0;

                if (sscanf(line, "version %u", &st->version) == 1)
                        continue;
                if (strncmp(line, "snapshot ", 9) == 0)
                        snprintf(st->snapshot, sizeof(st->snapshot), "%s", line + 9);
                else if (strncmp(line, "digest ", 7) == 0)
                        snprintf(st->digest, sizeof(st->digest), "%s", line + 7);
                else if (strncmp(line, "output ", 7) == 0 && output_name_ok(line + 7))
                        r = state_add_output(st, line + 7);
                else if (sscanf(line, "file %64[0-9a-f] %" SCNu64 " %n", sha, &size, &n) == 2 &&
                         n > 0 && line[n])
                        r = state_add_file(st, line + n, size, sha);
                else
                        r = -EBADMSG;
        }
        if (r < 0)
                state_done(st);
        return r;
}

static int state_write(int lib_fd, const char *type, const ExportState *st) {
        _cleanup_(freep) char *rel = NULL, *data = NULL;
        size_t len = 0;
        FILE *f;
        int r;

        f = open_memstream(&data, &len);
        if (!f)
                return -ENOMEM;
        fprintf(f, "idevicesync-export 1\nversion %u\nsnapshot %s\ndigest %s\n", st->version,
                st->snapshot, st->digest);
        for (size_t i = 0; i < st->n_outputs; i++)
                fprintf(f, "output %s\n", st->outputs[i]);
        for (size_t i = 0; i < st->n_files; i++)
                fprintf(f, "file %s %" PRIu64 " %s\n", st->files[i].sha256, st->files[i].size,
                        st->files[i].path);
        if (fclose(f) != 0)
                return -ENOMEM;
        r = fs_mkdir_p_beneath(lib_fd, EXPORTS_DIR, 0700);
        if (r < 0)
                return r;
        if (asprintf(&rel, EXPORTS_DIR "/%s.state", type) < 0)
                return -ENOMEM;
        return fs_write_atomic_beneath(lib_fd, rel, data, len, true);
}

/* ---- walking an output ------------------------------------------------------------------ */

typedef int (*file_fn)(int dir_fd, const char *name, const char *rel, void *userdata);

typedef struct FileWalk {
        file_fn fn;
        void *userdata;
} FileWalk;

/* Regular files by name; anything else with name NULL (so a check can count it). */
static int walk_one(int parent_fd, const char *name, const char *rel, const struct stat *st,
                    void *userdata) {
        FileWalk *w = userdata;

        return w->fn(parent_fd, S_ISREG(st->st_mode) ? name : NULL, rel, w->userdata);
}

/* Call fn for the entry name of dir_fd: its files when it is a directory, else itself. */
static int walk_entry(int dir_fd, const char *name, file_fn fn, void *userdata) {
        struct stat sb;
        int sub, r;

        if (fstatat(dir_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (!S_ISDIR(sb.st_mode))
                return fn(dir_fd, S_ISREG(sb.st_mode) ? name : NULL, name, userdata);
        sub = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
                return -errno;
        r = fs_walk(sub, name, walk_one, &(FileWalk) { .fn = fn, .userdata = userdata });
        close(sub);
        return r;
}

typedef struct HashWalk {
        ExportState *st;
        ids_cancel *cancel;
} HashWalk;

static int record_file(int dir_fd, const char *name, const char *rel, void *userdata) {
        HashWalk *h = userdata;
        _cleanup_(closep) int fd = -EBADF;
        struct stat sb;
        char sha[65];
        int r;

        if (!name)
                return 0;               /* we never write anything else */
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0)
                return -errno;
        r = sha256_fd(fd, h->cancel, sha);
        if (r < 0)
                return r;
        return state_add_file(h->st, rel, (uint64_t) sb.st_size, sha);
}

typedef struct CheckWalk {
        const ExportState *st;
        ids_cancel *cancel;
        bool personal;                  /* something the last export did not write */
} CheckWalk;

static int check_file(int dir_fd, const char *name, const char *rel, void *userdata) {
        CheckWalk *c = userdata;
        _cleanup_(closep) int fd = -EBADF;
        const StateFile *known = NULL;
        struct stat sb;
        char sha[65];
        int r;

        for (size_t i = 0; i < c->st->n_files && !known; i++)
                if (strcmp(c->st->files[i].path, rel) == 0)
                        known = &c->st->files[i];
        if (!name || !known) {
                c->personal = true;
                return 1;
        }
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &sb) < 0)
                return -errno;
        if ((uint64_t) sb.st_size != known->size) {
                c->personal = true;
                return 1;
        }
        r = sha256_fd(fd, c->cancel, sha);
        if (r < 0)
                return r;
        if (strcmp(sha, known->sha256) != 0) {
                c->personal = true;
                return 1;
        }
        return 0;
}

/* Take <library>/name out of the way of a new export at <library>/replacement (NULL: no
 * new one). What the last export wrote exactly (have_state) is replaced in one step
 * (RENAME_EXCHANGE: a reader sees the old or the new, never neither) and then removed;
 * anything else is moved to the trash as a whole first. 0 (nothing there), 1 (trashed),
 * 2 (replaced: the new one is in place), -errno. */
static int retire(SyncRun *run, int lib_fd, const char *name, const char *replacement,
                  const ExportState *st, bool have_state, const char *type) {
        CheckWalk c = { .st = st, .cancel = run->cancel, .personal = !have_state };
        struct stat sb;
        int r;

        if (fstatat(lib_fd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!c.personal) {
                r = walk_entry(lib_fd, name, check_file, &c);
                if (r < 0)
                        return r;
        }
        if (c.personal) {
                r = sync_trash_move(run, lib_fd, name, "exports", type, name);
                return r < 0 ? r : 1;
        }
        if (replacement) {
                if (renameat2(lib_fd, replacement, lib_fd, name, RENAME_EXCHANGE) < 0)
                        return -errno;
                r = fs_remove_beneath(lib_fd, replacement);     /* the old one, now there */
                return r < 0 ? r : 2;
        }
        r = fs_rm_rf_at(lib_fd, name);
        return r == -ENOENT ? 0 : r;
}

/* ---- the category ----------------------------------------------------------------------- */

static ExportCat *cat_state(SyncCat *c) {
        if (!c->state) {
                ExportCat *e = calloc(1, sizeof(*e));

                if (!e)
                        return NULL;
                e->type = type_of(c);
                c->state = e;
        }
        return c->state;
}

static void export_free_state(SyncCat *c) {
        ExportCat *e = c->state;

        if (!e)
                return;
        state_done(&e->state);
        free(e);
        c->state = NULL;
}

typedef struct DigestCtx {
        SyncRun *run;
        EVP_MD_CTX *md;
        uint64_t files;
} DigestCtx;

static int digest_row(const Source *s, const Row *row, void *userdata) {
        DigestCtx *d = userdata;
        _cleanup_(closep) int fd = -EBADF;
        uint64_t size = 0;
        int64_t mtime = 0;
        char line[64];
        int r;

        if (row->flags != IDS_SNAPSHOT_FILE_REGULAR || !row->safe)
                return 0;
        d->files++;
        snprintf(line, sizeof(line), "\n%" PRIu64 " ", row->size);
        if (EVP_DigestUpdate(d->md, row->domain, strlen(row->domain) + 1) != 1 ||
            EVP_DigestUpdate(d->md, row->path, strlen(row->path) + 1) != 1 ||
            EVP_DigestUpdate(d->md, line, strlen(line)) != 1)
                return -EIO;
        if (row->size > HASH_CONTENT_MAX) {
                snprintf(line, sizeof(line), "mtime %" PRIi64, row->mtime);
                return EVP_DigestUpdate(d->md, line, strlen(line)) == 1 ? 0 : -EIO;
        }
        r = source_plaintext_open(s, row->domain, row->path, &fd, &size, &mtime);
        if (r == -ENOENT || r == IDS_E_PROTOCOL)
                /* Damaged: the type will meet it too; the digest says "damaged". */
                return EVP_DigestUpdate(d->md, "damaged", 7) == 1 ? 0 : -EIO;
        if (r < 0)
                return r;
        return hash_fd(d->md, fd, d->run->cancel);
}

static int export_scan_device(SyncRun *run, SyncCat *c) {
        ExportCat *e = cat_state(c);
        DigestCtx d = { .run = run };
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        char version[32];
        int r;

        if (!e)
                return -ENOMEM;
        if (run->o->dry_run)
                return 0;               /* reads no snapshot: see plan */
        r = shared_open(run);
        if (r == -ENOENT) {
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "No backup yet: nothing to export.");
                return 0;
        }
        if (r != 0) {
                snprintf(c->out->reason, sizeof(c->out->reason), "The latest backup cannot be "
                         "read: %.200s.", run->exports->why[0] ? run->exports->why :
                         r < 0 ? strerror(-r) : ids_result_message(r));
                return r == IDS_E_BUSY || r == -ENOMEM ? r : r == IDS_E_WRONG_PASSWORD ?
                       IDS_E_WRONG_PASSWORD : IDS_E_PROTOCOL;
        }
        d.md = EVP_MD_CTX_new();
        if (!d.md)
                return -ENOMEM;
        r = EVP_DigestInit_ex(d.md, EVP_sha256(), NULL) == 1 ? 0 : -EIO;
        snprintf(version, sizeof(version), "v%u\n", e->type->version);
        if (r == 0 && EVP_DigestUpdate(d.md, version, strlen(version)) != 1)
                r = -EIO;
        for (const ExportSource *s = e->type->sources; r == 0 && s && s->domain; s++)
                r = source_rows(&run->exports->src, s->domain, s->prefix, digest_row, &d, NULL,
                                0);
        if (r == 0 && EVP_DigestFinal_ex(d.md, md, &n) != 1)
                r = -EIO;
        EVP_MD_CTX_free(d.md);
        if (r != 0)
                return r;
        hex(md, n, e->digest);
        return 0;
}

static int export_scan_host(SyncRun *run, SyncCat *c) {
        ExportCat *e = c->state;
        _cleanup_(closep) int lib = -EBADF;
        int r;

        lib = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lib < 0)
                return errno == ENOENT ? 0 : -errno;
        r = state_read(lib, e->type->name, &e->state);
        if (r == -ENOENT || r == -EBADMSG)
                return 0;               /* none, or not ours to trust */
        if (r < 0)
                return r;
        e->have_state = true;
        return 0;
}

static int export_plan(SyncRun *run, SyncCat *c) {
        ExportCat *e = c->state;

        if (run->o->dry_run) {
                SnapshotInfo *list = NULL;
                size_t n = 0;
                const char *latest = NULL;

                /* Ids are UTC times, so the greatest is the newest. */
                if (store_list_readonly(run->o->backup_dir ?: run->state_dir, run->o->udid,
                                        &list, &n) == 0)
                        for (size_t i = 0; i < n; i++)
                                if (strcmp(list[i].result, "done") == 0 &&
                                    (!latest || strcmp(list[i].id, latest) > 0))
                                        latest = list[i].id;
                if (!latest)
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "No backup yet: nothing to export.");
                else if (e->have_state && strcmp(e->state.snapshot, latest) == 0)
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "Exported from the latest backup (%s) already.", latest);
                else
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "Would export from the backup %s what changed.", latest);
                free(list);
                return 0;
        }
        if (!e->digest[0])
                return 0;               /* no snapshot: the reason says so */
        e->changed = !e->have_state || e->state.version != e->type->version ||
                     strcmp(e->state.digest, e->digest) != 0;
        if (!e->changed)
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "Unchanged since the backup %s.", e->state.snapshot);
        return 0;
}

/* Remove what a crash left of earlier runs of this type. */
static void remove_stale(int exports_fd, const char *type) {
        char prefix[64], **names = NULL;
        size_t n = 0;

        snprintf(prefix, sizeof(prefix), "tmp.%s.", type);
        if (fs_list_names(exports_fd, &names, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++)
                if (strncmp(names[i], prefix, strlen(prefix)) == 0)
                        (void) fs_rm_rf_at(exports_fd, names[i]);
        fs_names_free(names, n);
}

/* Put the finished export of tmp_fd in place and record it. */
static int publish(SyncRun *run, SyncCat *c, int lib_fd, int tmp_fd, const char *tmp_name) {
        ExportCat *e = c->state;
        ExportState st = { .version = e->type->version };
        HashWalk h = { .st = &st, .cancel = run->cancel };
        char **names = NULL;
        size_t n = 0;
        uint64_t trashed = 0;
        int r;

        snprintf(st.snapshot, sizeof(st.snapshot), "%s", run->exports->src.id);
        snprintf(st.digest, sizeof(st.digest), "%s", e->digest);
        r = fs_list_names(tmp_fd, &names, &n);
        for (size_t i = 0; r == 0 && i < n; i++) {
                if (!output_name_ok(names[i]))
                        r = -EINVAL;    /* a type's bug: nothing is published */
                else
                        r = state_add_output(&st, names[i]);
                if (r == 0)
                        r = walk_entry(tmp_fd, names[i], record_file, &h);
        }
        /* The new files are durable before any of them takes an old one's place. */
        if (r == 0 && syncfs(tmp_fd) < 0)
                r = -errno;

        /* The outputs of the last export that this one no longer makes, then the rest. */
        for (size_t i = 0; r == 0 && i < e->state.n_outputs; i++) {
                bool kept = false;

                for (size_t j = 0; j < n; j++)
                        kept = kept || strcmp(names[j], e->state.outputs[i]) == 0;
                if (!kept) {
                        r = retire(run, lib_fd, e->state.outputs[i], NULL, &e->state,
                                   e->have_state, e->type->name);
                        trashed += r == 1;
                        r = r < 0 ? r : 0;
                }
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                _cleanup_(freep) char *from = NULL;

                if (asprintf(&from, EXPORTS_DIR "/%s/%s", tmp_name, names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = retire(run, lib_fd, names[i], from, &e->state, e->have_state,
                           e->type->name);
                trashed += r == 1;
                if (r < 0)
                        break;
                r = r == 2 ? 0 :
                    renameat2(lib_fd, from, lib_fd, names[i], RENAME_NOREPLACE) < 0 ? -errno : 0;
        }
        if (r == 0 && fsync(lib_fd) < 0)
                r = -errno;
        if (r == 0)
                r = state_write(lib_fd, e->type->name, &st);
        if (r == 0 && trashed > 0) {
                c->out->removed_computer += trashed;
                snprintf(c->out->reason + strlen(c->out->reason),
                         sizeof(c->out->reason) - strlen(c->out->reason),
                         "%sThe previous export held changes of yours: it is in the trash.",
                         c->out->reason[0] ? " " : "");
        }
        fs_names_free(names, n);
        state_done(&st);
        return r;
}

static int export_apply(SyncRun *run, SyncCat *c) {
        ExportCat *e = c->state;
        _cleanup_(closep) int lib = -EBADF, exports = -EBADF, tmp = -EBADF;
        char tmp_name[64];
        ExportCtx x;
        int r;

        if (!e->digest[0] || !e->changed)
                return 0;
        lib = sync_open_library(run);
        if (lib < 0)
                return lib;
        r = fs_mkdir_p_beneath(lib, EXPORTS_DIR, 0700);
        if (r < 0)
                return r;
        exports = fs_open_beneath(lib, EXPORTS_DIR, O_RDONLY | O_DIRECTORY, 0);
        if (exports < 0)
                return exports;
        remove_stale(exports, e->type->name);
        snprintf(tmp_name, sizeof(tmp_name), "tmp.%s.", e->type->name);
        fs_random_chars(tmp_name + strlen(tmp_name), 8);
        if (mkdirat(exports, tmp_name, 0755) < 0)
                return -errno;
        tmp = openat(exports, tmp_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tmp < 0) {
                r = -errno;
                goto out;
        }

        r = export_ctx_init(&x, e->type, run->exports->src.ios, tmp, run->state_dir);
        if (r == 0) {
                x.backend = &snapshot_backend;
                x.backend_data = &run->exports->src;
                x.cancel = run->cancel;
                snprintf(x.snapshot_id, sizeof(x.snapshot_id), "%s", run->exports->src.id);
                r = e->type->run(&x);
                c->out->files_in = x.items;
                if (x.reason[0])
                        snprintf(c->out->reason, sizeof(c->out->reason), "%s", x.reason);
        }
        export_ctx_done(&x);
        if (r == 0)
                r = publish(run, c, lib, tmp, tmp_name);
        if (r == -ENOENT && c->out->reason[0])
                r = 0;                  /* no such database in the backup: the reason says so */
        else if (r != 0 && r != IDS_E_CANCELLED)
                snprintf(c->out->reason + strlen(c->out->reason),
                         sizeof(c->out->reason) - strlen(c->out->reason),
                         "%sThe previous export is kept.", c->out->reason[0] ? " " : "");
out:
        (void) fs_rm_rf_at(exports, tmp_name);
        if (r == -ENOSPC || r == -EDQUOT)
                r = IDS_E_DISK_FULL;
        return r;
}

static const char *mode_of(ids_sync_export m) {
        return m == IDS_SYNC_EXPORT_YES ? "export" : "no";
}

#define EXPORT_CATEGORY(sym, field, t, label)                                               \
        static const char *mode_##field(const ids_sync_options *o) {                        \
                return mode_of(o->field);                                                   \
        }                                                                                   \
        const SyncCategoryType sym = {                                                      \
                .name = label,                                                              \
                .userdata = &(t),                                                           \
                .mode = mode_##field,                                                       \
                .scan_device = export_scan_device,                                          \
                .scan_host = export_scan_host,                                              \
                .plan = export_plan,                                                        \
                .apply = export_apply,                                                      \
                .free_state = export_free_state,                                            \
        }

EXPORT_CATEGORY(sync_category_contacts, contacts, export_contacts, "contacts");
EXPORT_CATEGORY(sync_category_calendars, calendars, export_calendars, "calendars");
EXPORT_CATEGORY(sync_category_bookmarks, bookmarks, export_bookmarks, "bookmarks");
EXPORT_CATEGORY(sync_category_notes, notes, export_notes, "notes");
EXPORT_CATEGORY(sync_category_voice_memos, voice_memos, export_voice_memos, "voice-memos");
