/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * App documents, both ways (sync-protocols.md §2): the files of the apps with File Sharing.
 *
 * Apps: installation_proxy Browse (User apps with UIFileSharingEnabled, limited by
 * DocumentsApps=). Each app: its own house_arrest connection, VendDocuments, then AFC on that
 * connection rooted at the app's container (its files under /Documents). On the computer:
 * <documents root>/<bundle id>/, the bundle id checked like any device name.
 *
 * Three-way, per path, against what sync.db remembers of the last sync (size and mtime on
 * each side, the content's hash). Paths are compared NFC-normalized (the device may report
 * NFD), each side is written with the name that side reported. Changed on one side: copied
 * to the other. Changed on both: compared by content; equal is only recorded, different is
 * a conflict and both are kept on both sides (the computer's copy renamed "name (conflict
 * YYYY-MM-DD HHMM).ext", the device's version under the name). New on one side: copied.
 * Deleted on one side of a file that did not change on the other: a held deletion
 * (Deletions=hold), removed on the other side (propagate; the computer's copy into the
 * trash) or only remembered (never). Deleted on one side and changed on the other: the
 * change wins and is copied back. Empty directories are created on the other side;
 * directory deletions are not propagated.
 *
 * Writes never replace in place. On the computer: received into the partial directory,
 * made durable, then renamed into place; a file being replaced goes to the trash first; the
 * row is committed only after the rename is durable. On the device: uploaded under a
 * temporary name (".idevicesync-<random>.tmp") in the target's directory, then, if the
 * target is still what the scan saw, renamed over it; a file the device changed meanwhile
 * is left alone (a conflict next time). A run cut short leaves only temporary files, which
 * the next run removes, and a state from which it converges (what was copied but not
 * recorded is found equal by content).
 *
 * The first sync of the category (nothing recorded, no choice yet) with files on both
 * sides asks, unless FirstSync= says: a question with what each choice would do, and
 * nothing of the category is synced until it is answered.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libimobiledevice/house_arrest.h>
#include <libimobiledevice/installation_proxy.h>
#include <openssl/evp.h>
#include <uninorm.h>

#include "cancel.h"
#include "fs-util.h"
#include "macro.h"
#include "sync-internal.h"
#include "util.h"

#define CATEGORY "documents"
#define HOUSE_ARREST "com.apple.mobile.house_arrest"
#define DEV_ROOT "/Documents"
#define MAX_DEPTH 32
#define TMP_PREFIX ".idevicesync-"
#define TMP_SUFFIX ".tmp"
#define COMMIT_EVERY 32

typedef struct DocEntry {
        char *key;                              /* NFC of path */
        char *path;                             /* relative, as that side spells it */
        bool is_dir, empty;
        uint64_t size;
        int64_t mtime_ns;
} DocEntry;

typedef struct DocList {
        DocEntry *v;
        size_t n, allocated;
} DocList;

typedef enum DocAction {
        ACT_NONE,
        ACT_RECORD,                             /* same content: remember it */
        ACT_COPY_IN,                            /* device → computer */
        ACT_COPY_OUT,                           /* computer → device */
        ACT_CONFLICT,                           /* both changed: keep both on both sides */
        ACT_REMOVE_DEVICE,
        ACT_TRASH_HOST,
        ACT_HOLD,                               /* a deletion waits for a person */
        ACT_FORGET,                             /* gone on both sides */
        ACT_MKDIR_DEVICE,
        ACT_MKDIR_HOST,
} DocAction;

typedef struct DocItem {
        const char *key;                        /* borrowed from dev, host or row */
        DocEntry *dev, *host;                   /* borrowed; regular files or directories */
        SyncDoc *row;
        SyncHeld *held;
        DocAction action;
        const char *hold_side;                  /* ACT_HOLD: whose copy approve removes */
        bool drop_held;                         /* the held item is over */
        int same;                               /* content: -1 not compared, 0 differ, 1 same */
        char hash[SYNC_HASH_HEX];               /* same content: its hash */
} DocItem;

typedef struct DocApp {
        char *bundle_id;
        house_arrest_client_t ha;
        afc_client_t afc;
        int stream_fd;
        int host_fd;                            /* <root>/<bundle id>, -EBADF if absent */
        DocList dev, host;
        SyncDoc *rows;
        size_t n_rows, rows_allocated;
        SyncHeld *held;
        size_t n_held, held_allocated;
        DocItem *items;
        size_t n_items, items_allocated;
        char **stale;                           /* device temporary files left by a crash */
        size_t n_stale, stale_allocated;
        bool skip;                              /* not vended: left alone */
} DocApp;

typedef struct Docs {
        DocApp *apps;
        size_t n_apps, apps_allocated;
        int root_fd;                            /* the documents root, -EBADF if absent */
        int partial_fd;
        bool two_way;
        bool first;                             /* the category's first sync */
        const char *choice;                     /* first sync: the choice, NULL = ask */
        char choice_buf[24];
        uint64_t removed_computer;
        char notes[128];
} Docs;

static const char *documents_mode(const ids_sync_options *o) {
        switch (o->documents) {
        case IDS_SYNC_DOCUMENTS_TWO_WAY:
                return "two-way";
        case IDS_SYNC_DOCUMENTS_IMPORT:
                return "import";
        default:
                return "no";
        }
}

static bool startswith(const char *s, const char *p) {
        return strncmp(s, p, strlen(p)) == 0;
}

static bool endswith(const char *s, const char *p) {
        size_t n = strlen(s), k = strlen(p);

        return n >= k && strcmp(s + n - k, p) == 0;
}

/* The NFC form of s (allocated); s itself when it is not valid UTF-8. */
static int nfc(const char *s, char **ret) {
        size_t len = 0;
        uint8_t *n = u8_normalize(UNINORM_NFC, (const uint8_t *) s, strlen(s), NULL, &len);
        char *k;

        if (!n) {
                if (errno == ENOMEM)
                        return -ENOMEM;
                *ret = strdup(s);               /* not UTF-8: compared as bytes */
                return *ret ? 0 : -ENOMEM;
        }
        k = realloc(n, len + 1);
        if (!k) {
                free(n);
                return -ENOMEM;
        }
        k[len] = 0;
        *ret = k;
        return 0;
}

static int list_add(DocList *l, const char *path, bool is_dir, uint64_t size, int64_t mtime,
                    size_t *ret_index) {
        DocEntry *e;
        int r;

        r = sync_grow((void **) &l->v, &l->allocated, l->n, sizeof(*l->v), 64);
        if (r < 0)
                return r;
        e = &l->v[l->n];
        *e = (DocEntry) { .is_dir = is_dir, .size = size, .mtime_ns = mtime };
        e->path = strdup(path);
        if (!e->path)
                return -ENOMEM;
        r = nfc(path, &e->key);
        if (r < 0) {
                free(e->path);
                return r;
        }
        if (ret_index)
                *ret_index = l->n;
        l->n++;
        return 0;
}

static void list_done(DocList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->v[i].key);
                free(l->v[i].path);
        }
        free(l->v);
        *l = (DocList) {};
}

static int64_t stat_mtime(const struct stat *st) {
        return (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static bool bundle_ok(const char *id) {
        return id && sync_name_ok(id) && id[0] != '.';
}

/* ---- the apps ---------------------------------------------------------------------------- */

static int house_arrest_new(idevice_t device, lockdownd_service_descriptor_t svc, void **ret) {
        house_arrest_client_t c = NULL;

        if (house_arrest_client_new(device, svc, &c) != HOUSE_ARREST_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret = c;
        return 0;
}

static bool app_wanted(const ids_sync_options *o, const char *id) {
        if (!o->documents_apps)
                return true;
        for (const char *const *a = o->documents_apps; *a; a++)
                if (strcmp(*a, id) == 0)
                        return true;
        return false;
}

static int compare_apps(const void *a, const void *b) {
        return strcmp(((const DocApp *) a)->bundle_id, ((const DocApp *) b)->bundle_id);
}

/* installation_proxy Browse: the User apps with File Sharing that the options name. */
static int list_apps(SyncRun *run, SyncCat *c, Docs *d) {
        plist_t apps = NULL;
        int r;

        r = sync_browse_apps(run, (const char *const[]) { "CFBundleIdentifier",
                                                         "CFBundleDisplayName",
                                                         "UIFileSharingEnabled", NULL },
                             &apps);
        if (r != 0)
                return r;
        for (uint32_t i = 0; apps && i < plist_array_get_size(apps) && r == 0; i++) {
                plist_t a = plist_array_get_item(apps, i);
                plist_t idn = a ? plist_dict_get_item(a, "CFBundleIdentifier") : NULL;
                plist_t fs = a ? plist_dict_get_item(a, "UIFileSharingEnabled") : NULL;
                uint8_t sharing = 0;
                char *id = NULL;

                if (!idn || plist_get_node_type(idn) != PLIST_STRING)
                        continue;
                if (fs && plist_get_node_type(fs) == PLIST_BOOLEAN)
                        plist_get_bool_val(fs, &sharing);
                plist_get_string_val(idn, &id);
                if (!id)
                        continue;
                if (!sharing || !app_wanted(run->o, id)) {
                        free(id);
                        continue;
                }
                if (!bundle_ok(id) || strlen(id) >= 256) {
                        ids_debug("documents: refusing bundle id (%zu bytes)", strlen(id));
                        c->out->refused++;
                        free(id);
                        continue;
                }
                r = sync_grow((void **) &d->apps, &d->apps_allocated, d->n_apps,
                              sizeof(*d->apps), 8);
                if (r < 0) {
                        free(id);
                        break;
                }
                d->apps[d->n_apps++] = (DocApp) { .bundle_id = id, .stream_fd = -1,
                                                  .host_fd = -EBADF };
        }
        if (apps)
                plist_free(apps);
        if (r < 0)
                return r;
        if (d->n_apps > 1)
                qsort_safe(d->apps, d->n_apps, sizeof(*d->apps), compare_apps);
        /* Apps the policy names that have no File Sharing (or are not installed): said. */
        for (const char *const *a = run->o->documents_apps; a && *a; a++) {
                bool found = false;

                for (size_t i = 0; i < d->n_apps && !found; i++)
                        found = strcmp(d->apps[i].bundle_id, *a) == 0;
                if (!found && !d->notes[0])
                        snprintf(d->notes, sizeof(d->notes),
                                 "%.60s is not installed or has no File Sharing.", *a);
        }
        return 0;
}

/* house_arrest VendDocuments on a connection of the app's own: 0, -EPERM when the device
 * refuses the app, IDS_E_*. */
static int vend(SyncRun *run, DocApp *a) {
        void *client = NULL;
        plist_t res = NULL;
        plist_t err, status;
        int r;

        r = session_connect_service(run->session, HOUSE_ARREST, run->cancel, house_arrest_new,
                                    &client, &a->stream_fd);
        if (r != 0) {
                if (client)
                        house_arrest_client_free(client);
                return r;
        }
        a->ha = client;
        if (house_arrest_send_command(a->ha, "VendDocuments", a->bundle_id) !=
                    HOUSE_ARREST_E_SUCCESS ||
            house_arrest_get_result(a->ha, &res) != HOUSE_ARREST_E_SUCCESS) {
                if (res)
                        plist_free(res);
                return sync_check_cancel(run) ?: IDS_E_DISCONNECTED;
        }
        err = plist_dict_get_item(res, "Error");
        status = plist_dict_get_item(res, "Status");
        if (err || !status || plist_get_node_type(status) != PLIST_STRING) {
                char *e = NULL;

                if (err && plist_get_node_type(err) == PLIST_STRING)
                        plist_get_string_val(err, &e);
                ids_debug("documents: %s: VendDocuments refused: %s", a->bundle_id,
                          e ? e : "no status");
                free(e);
                plist_free(res);
                return -EPERM;
        }
        plist_free(res);
        if (afc_client_new_from_house_arrest_client(a->ha, &a->afc) != AFC_E_SUCCESS) {
                a->afc = NULL;
                return IDS_E_DISCONNECTED;
        }
        return 0;
}

/* ---- scanning ---------------------------------------------------------------------------- */

static int walk_device(SyncRun *run, SyncCat *c, DocApp *a, char *path, size_t root_len,
                       unsigned depth, bool *ret_empty) {
        char **list = NULL;
        size_t len = strlen(path);
        bool empty = true;
        afc_error_t e;
        int r = 0;

        e = afc_read_directory(a->afc, path, &list);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (size_t i = 0; list && list[i] && r >= 0; i++) {
                const char *name = list[i];
                SyncFileInfo fi;
                size_t idx;

                if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                        continue;
                r = sync_check_cancel(run);
                if (r != 0)
                        break;
                empty = false;
                if (!sync_name_ok(name) || len + 1 + strlen(name) >= FS_PATH_MAX) {
                        ids_debug("documents: %s: refusing a device name in %s (%zu bytes)",
                                  a->bundle_id, path, strlen(name));
                        c->out->refused++;
                        continue;
                }
                snprintf(path + len, FS_PATH_MAX - len, "/%s", name);
                if (startswith(name, TMP_PREFIX) && endswith(name, TMP_SUFFIX)) {
                        /* Ours, from a run cut short: removed before anything is written. */
                        r = sync_grow((void **) &a->stale, &a->stale_allocated, a->n_stale,
                                      sizeof(*a->stale), 4);
                        if (r == 0 && !(a->stale[a->n_stale++] = strdup(path)))
                                r = -ENOMEM;
                        path[len] = 0;
                        continue;
                }
                if (name[0] == '.') {           /* .DS_Store, .Trash: not documents */
                        path[len] = 0;
                        continue;
                }
                r = sync_afc_stat(run, a->afc, path, &fi);
                if (r == -ENOENT)
                        r = 0;                  /* gone meanwhile */
                else if (r == 0 && fi.is_dir && depth < MAX_DEPTH) {
                        bool sub_empty = true;

                        r = list_add(&a->dev, path + root_len + 1, true, 0, fi.mtime_ns, &idx);
                        if (r == 0)
                                r = walk_device(run, c, a, path, root_len, depth + 1,
                                                &sub_empty);
                        if (r == 0)
                                a->dev.v[idx].empty = sub_empty;
                } else if (r == 0 && fi.is_reg)
                        r = list_add(&a->dev, path + root_len + 1, false, fi.size, fi.mtime_ns,
                                     NULL);
                else if (r == 0 || r == IDS_E_PROTOCOL) {
                        ids_debug("documents: %s: skipping %s: not a regular file",
                                  a->bundle_id, path);
                        c->out->refused++;      /* symlinks, too deep, nonsense: never followed */
                        r = 0;
                }
                path[len] = 0;
        }
        afc_dictionary_free(list);
        *ret_empty = empty;
        return r;
}

static int walk_host(SyncRun *run, DocApp *a, int dir_fd, char *rel, unsigned depth,
                     bool *ret_empty) {
        size_t len = strlen(rel);
        bool empty = true;
        struct dirent *e;
        DIR *dir;
        int fd, r = 0;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return -errno;
        }
        while (r == 0 && (e = readdir(dir))) {
                struct stat st;
                size_t idx;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                empty = false;
                if (e->d_name[0] == '.' || !sync_name_ok(e->d_name) ||
                    len + 1 + strlen(e->d_name) >= FS_PATH_MAX)
                        continue;               /* hidden, ours, or no name for the device */
                if (fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                snprintf(rel + len, FS_PATH_MAX - len, "%s%s", len ? "/" : "", e->d_name);
                if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
                        int sub = openat(dir_fd, e->d_name,
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        bool sub_empty = true;

                        if (sub >= 0) {
                                r = list_add(&a->host, rel, true, 0, stat_mtime(&st), &idx);
                                if (r == 0)
                                        r = walk_host(run, a, sub, rel, depth + 1, &sub_empty);
                                if (r == 0)
                                        a->host.v[idx].empty = sub_empty;
                                close(sub);
                        }
                } else if (S_ISREG(st.st_mode))
                        r = list_add(&a->host, rel, false, (uint64_t) st.st_size,
                                     stat_mtime(&st), NULL);
                rel[len] = 0;
        }
        closedir(dir);
        *ret_empty = empty;
        return r;
}

static int copy_row(const SyncDoc *s, void *userdata) {
        DocApp *a = userdata;
        SyncDoc *d;
        int r;

        r = sync_grow((void **) &a->rows, &a->rows_allocated, a->n_rows, sizeof(*a->rows), 64);
        if (r < 0)
                return r;
        d = &a->rows[a->n_rows];
        *d = *s;
        d->key = strdup(s->key);
        d->device_path = strdup(s->device_path);
        d->host_path = strdup(s->host_path);
        a->n_rows++;
        return d->key && d->device_path && d->host_path ? 0 : -ENOMEM;
}

static int copy_held(const SyncHeld *h, void *userdata) {
        Docs *d = userdata;
        DocApp *a = NULL;
        SyncHeld *c;
        int r;

        for (size_t i = 0; i < d->n_apps && !a; i++)
                if (strcmp(d->apps[i].bundle_id, h->pub.scope) == 0)
                        a = &d->apps[i];
        if (!a)
                return 0;                       /* an app not synced now: left alone */
        r = sync_grow((void **) &a->held, &a->held_allocated, a->n_held, sizeof(*a->held), 8);
        if (r < 0)
                return r;
        c = &a->held[a->n_held];
        *c = *h;
        c->pub.scope = strdup(h->pub.scope);
        c->pub.path = strdup(h->pub.path);
        c->key = strdup(h->key);
        a->n_held++;
        return c->pub.scope && c->pub.path && c->key ? 0 : -ENOMEM;
}

/* The documents root: DocumentsDir= (absolute, or below the library) or
 * <library>/documents. create: made if missing (0700). -ENOENT when absent and !create. */
static int open_root(SyncRun *run, bool create) {
        const char *root = run->o->documents_dir ?: "documents";
        _cleanup_(closep) int lib = -EBADF;
        int r, fd;

        if (root[0] == '/') {
                if (create) {
                        r = fs_mkdir_parents(root, 0700);
                        if (r < 0)
                                return r;
                }
                fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        if (create) {
                r = fs_mkdir_parents(run->library_dir, 0700);
                if (r < 0)
                        return r;
        }
        lib = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lib < 0)
                return -errno;
        if (create) {
                r = fs_mkdir_p_beneath(lib, root, 0700);
                if (r < 0)
                        return r;
        }
        return fs_open_beneath(lib, root, O_RDONLY | O_DIRECTORY, 0);
}

/* The decisions of this run's options, over what sync.db says (a dry run records none). */
static void overlay_decisions(SyncRun *run, Docs *d) {
        for (size_t i = 0; i < run->o->n_decisions; i++) {
                const ids_sync_decision *x = &run->o->decisions[i];

                if (x->category)
                        continue;
                for (size_t k = 0; k < d->n_apps; k++)
                        for (size_t j = 0; j < d->apps[k].n_held; j++)
                                if (d->apps[k].held[j].pub.id == x->item)
                                        snprintf(d->apps[k].held[j].decision,
                                                 sizeof(d->apps[k].held[j].decision), "%s",
                                                 x->choice);
        }
}

static int documents_scan_device(SyncRun *run, SyncCat *c) {
        Docs *d = calloc(1, sizeof(*d));
        char path[FS_PATH_MAX];
        int r;

        if (!d)
                return -ENOMEM;
        d->root_fd = d->partial_fd = -EBADF;
        d->two_way = run->o->documents == IDS_SYNC_DOCUMENTS_TWO_WAY;
        c->state = d;
        r = list_apps(run, c, d);
        if (r != 0)
                return r;
        for (size_t i = 0; i < d->n_apps; i++) {
                DocApp *a = &d->apps[i];
                bool empty;

                r = vend(run, a);
                if (r == -EPERM) {
                        a->skip = true;         /* the device refuses it: said, left alone */
                        if (!d->notes[0])
                                snprintf(d->notes, sizeof(d->notes),
                                         "The phone refused the documents of %.60s.",
                                         a->bundle_id);
                        continue;
                }
                if (r != 0)
                        return r;
                snprintf(path, sizeof(path), "%s", DEV_ROOT);
                r = walk_device(run, c, a, path, strlen(DEV_ROOT), 1, &empty);
                if (r == -ENOENT)
                        r = 0;                  /* no Documents yet */
                if (r != 0)
                        return r;
                run->p.files_total += a->dev.n;
                sync_report(run, IDS_PHASE_SCANNING, false);
                if (run->db) {
                        r = sync_db_doc_list(run->db, CATEGORY, a->bundle_id, copy_row, a);
                        if (r < 0)
                                return r;
                }
        }
        if (run->db) {
                r = sync_db_held_list(run->db, CATEGORY, false, copy_held, d);
                if (r < 0)
                        return r;
        }
        overlay_decisions(run, d);
        return 0;
}

static int documents_scan_host(SyncRun *run, SyncCat *c) {
        Docs *d = c->state;
        char rel[FS_PATH_MAX];

        d->root_fd = open_root(run, false);
        if (d->root_fd == -ENOENT)
                return 0;                       /* nothing on the computer yet */
        if (d->root_fd < 0)
                return d->root_fd;
        for (size_t i = 0; i < d->n_apps; i++) {
                DocApp *a = &d->apps[i];
                bool empty;
                int r;

                if (a->skip)
                        continue;
                a->host_fd = fs_open_beneath(d->root_fd, a->bundle_id, O_RDONLY | O_DIRECTORY,
                                             0);
                if (a->host_fd == -ENOENT)
                        continue;
                if (a->host_fd < 0)
                        return a->host_fd;
                rel[0] = 0;
                r = walk_host(run, a, a->host_fd, rel, 1, &empty);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- planning ---------------------------------------------------------------------------- */

typedef struct KeyRef {
        const char *key;
        int kind;                               /* 0 device, 1 computer, 2 row */
        void *p;
} KeyRef;

static int compare_refs(const void *a, const void *b) {
        const KeyRef *x = a, *y = b;
        int c = strcmp(x->key, y->key);

        return c ? c : x->kind - y->kind;
}

static int compare_item_key(const void *key, const void *elem) {
        return strcmp(key, ((const DocItem *) elem)->key);
}

static DocItem *find_item(DocApp *a, const char *key) {
        return bsearch(key, a->items, a->n_items, sizeof(*a->items), compare_item_key);
}

/* One item per NFC key, in key order (a directory before what it holds). Two names of one
 * side with the same key: the second is refused. */
static int build_items(SyncCat *c, DocApp *a) {
        _cleanup_free_ KeyRef *refs = NULL;
        size_t n = 0, total = a->dev.n + a->host.n + a->n_rows;
        int r;

        refs = calloc(total ?: 1, sizeof(*refs));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < a->dev.n; i++)
                refs[n++] = (KeyRef) { a->dev.v[i].key, 0, &a->dev.v[i] };
        for (size_t i = 0; i < a->host.n; i++)
                refs[n++] = (KeyRef) { a->host.v[i].key, 1, &a->host.v[i] };
        for (size_t i = 0; i < a->n_rows; i++)
                refs[n++] = (KeyRef) { a->rows[i].key, 2, &a->rows[i] };
        qsort_safe(refs, n, sizeof(*refs), compare_refs);
        for (size_t i = 0; i < n; i++) {
                DocItem *it;

                if (a->n_items == 0 || strcmp(a->items[a->n_items - 1].key, refs[i].key) != 0) {
                        r = sync_grow((void **) &a->items, &a->items_allocated, a->n_items,
                                      sizeof(*a->items), 64);
                        if (r < 0)
                                return r;
                        a->items[a->n_items++] = (DocItem) { .key = refs[i].key, .same = -1 };
                }
                it = &a->items[a->n_items - 1];
                if (refs[i].kind == 0 && !it->dev)
                        it->dev = refs[i].p;
                else if (refs[i].kind == 1 && !it->host)
                        it->host = refs[i].p;
                else if (refs[i].kind == 2)
                        it->row = refs[i].p;
                else if (refs[i].kind == 0)
                        c->out->refused++;      /* one name in two normalizations */
        }
        for (size_t i = 0; i < a->n_held; i++) {
                DocItem *it = find_item(a, a->held[i].key);

                if (it)
                        it->held = &a->held[i];
        }
        return 0;
}

static int hash_host(DocApp *a, const DocEntry *h, char ret[SYNC_HASH_HEX]) {
        _cleanup_(closep) int fd = fs_open_beneath(a->host_fd, h->path, O_RDONLY, 0);

        if (fd < 0)
                return fd;
        return sync_hash_fd(fd, ret);
}

static char *dev_path(const char *rel) {
        char *p;

        return asprintf(&p, "%s/%s", DEV_ROOT, rel) < 0 ? NULL : p;
}

/* Read the device file e, hashing it into ret; with fd ≥ 0 also write it there, counting
 * progress. -EAGAIN when it is not e->size bytes long (changed while read). */
static int read_device(SyncRun *run, DocApp *a, const DocEntry *e, int fd,
                       char ret[SYNC_HASH_HEX]) {
        _cleanup_free_ uint8_t *buf = fs_out_buffer();
        _cleanup_free_ char *path = dev_path(e->path);
        uint64_t h = 0;
        afc_error_t ae;
        int r;

        if (!buf || !path)
                return -ENOMEM;
        ae = afc_file_open(a->afc, path, AFC_FOPEN_RDONLY, &h);
        if (ae != AFC_E_SUCCESS)
                return sync_afc_error(run, ae);
        r = sync_afc_receive(run, a->afc, h, fd, e->size, buf, NULL, ret);
        (void) afc_file_close(a->afc, h);
        return r;
}

static int hash_device(SyncRun *run, DocApp *a, const DocEntry *e, char ret[SYNC_HASH_HEX]) {
        return read_device(run, a, e, -1, ret);
}

/* Whether both sides hold the same content (same size: both read and hashed). */
static int compare_content(SyncRun *run, DocApp *a, DocItem *it) {
        char hd[SYNC_HASH_HEX] = "", hh[SYNC_HASH_HEX] = "";
        int r;

        if (it->same >= 0)
                return 0;
        if (it->dev->size != it->host->size) {
                it->same = 0;
                return 0;
        }
        r = hash_host(a, it->host, hh);
        if (r < 0)
                return r == -ENOENT ? 0 : r;    /* gone meanwhile: next time */
        r = hash_device(run, a, it->dev, hd);
        if (r == -EAGAIN || r == -ENOENT) {
                it->same = 0;
                return 0;
        }
        if (r != 0)
                return r;
        it->same = strcmp(hd, hh) == 0;
        if (it->same)
                memcpy(it->hash, hd, sizeof(it->hash));
        return 0;
}

static DocEntry *file_of(DocEntry *e) {
        return e && !e->is_dir ? e : NULL;
}

/* A deletion of the other side's copy, per policy; side = whose copy approve removes. */
static void plan_deletion(SyncRun *run, DocItem *it, const char *side) {
        bool device = strcmp(side, "device") == 0;

        if (it->held) {
                if (strcmp(it->held->decision, "approve") == 0)
                        it->action = device ? ACT_REMOVE_DEVICE : ACT_TRASH_HOST;
                else if (strcmp(it->held->decision, "reject") == 0) {
                        it->action = device ? ACT_COPY_IN : ACT_COPY_OUT;
                        it->drop_held = true;
                } else {
                        it->action = ACT_HOLD;
                        it->hold_side = side;
                }
                return;
        }
        switch (run->o->deletions) {
        case IDS_SYNC_DELETIONS_PROPAGATE:
                it->action = device ? ACT_REMOVE_DEVICE : ACT_TRASH_HOST;
                break;
        case IDS_SYNC_DELETIONS_NEVER:
                it->action = it->row ? ACT_NONE : ACT_RECORD;
                break;
        default:
                it->action = ACT_HOLD;
                it->hold_side = side;
        }
}

static int plan_item(SyncRun *run, Docs *d, DocApp *a, DocItem *it, SyncCat *c) {
        DocEntry *D = file_of(it->dev), *H = file_of(it->host);
        SyncDoc *R = it->row;
        bool dch, hch;
        int r;

        it->action = ACT_NONE;
        if ((it->dev && it->host && it->dev->is_dir != it->host->is_dir)) {
                c->out->refused++;              /* a file on one side, a directory on the other */
                return 0;
        }
        if (it->dev && it->dev->is_dir) {
                if (!it->host && it->dev->empty)
                        it->action = ACT_MKDIR_HOST;
                return 0;
        }
        if (it->host && it->host->is_dir) {
                if (!it->dev && it->host->empty && d->two_way)
                        it->action = ACT_MKDIR_DEVICE;
                return 0;
        }

        /* The first sync under replace-*: one side's set wins (for what it did not record
         * yet, if an earlier run of it was cut short). */
        if (d->first && d->choice && strcmp(d->choice, "merge") != 0 && !R) {
                bool to_device = strcmp(d->choice, "replace-device") == 0;

                if (D && H) {
                        r = compare_content(run, a, it);
                        if (r != 0)
                                return r;
                        it->action = it->same ? ACT_RECORD : to_device ? ACT_COPY_OUT : ACT_COPY_IN;
                } else if (D)
                        if (to_device)
                                plan_deletion(run, it, "device");
                        else
                                it->action = ACT_COPY_IN;
                else if (H) {
                        if (to_device)
                                it->action = ACT_COPY_OUT;
                        else
                                plan_deletion(run, it, "computer");
                }
                return 0;
        }

        if (!R) {
                if (D && H) {
                        r = compare_content(run, a, it);
                        if (r != 0)
                                return r;
                        it->action = it->same ? ACT_RECORD : ACT_CONFLICT;
                } else if (D)
                        it->action = ACT_COPY_IN;
                else if (H && d->two_way)
                        it->action = ACT_COPY_OUT;
                it->drop_held = it->held != NULL;
                return 0;
        }

        dch = D && (D->size != R->device_size || D->mtime_ns != R->device_mtime_ns);
        hch = H && (H->size != R->host_size || H->mtime_ns != R->host_mtime_ns);
        if (D && H) {
                it->drop_held = it->held != NULL;       /* the deleted side came back */
                if (dch && hch) {
                        r = compare_content(run, a, it);
                        if (r != 0)
                                return r;
                        it->action = it->same ? ACT_RECORD : ACT_CONFLICT;
                } else if (dch)
                        it->action = ACT_COPY_IN;
                else if (hch)
                        it->action = d->two_way ? ACT_COPY_OUT : ACT_NONE;
        } else if (D) {                         /* deleted on the computer */
                if (dch) {
                        it->action = ACT_COPY_IN;       /* the change wins */
                        it->drop_held = it->held != NULL;
                } else if (d->two_way)
                        plan_deletion(run, it, "device");
        } else if (H) {                         /* deleted on the device */
                if (!d->two_way)
                        return 0;
                if (hch) {
                        it->action = ACT_COPY_OUT;
                        it->drop_held = it->held != NULL;
                } else
                        plan_deletion(run, it, "computer");
        } else {
                it->action = ACT_FORGET;
                it->drop_held = it->held != NULL;
        }
        return 0;
}

static void count_action(Docs *d, const DocItem *it, ids_sync_category *out) {
        switch (it->action) {
        case ACT_COPY_IN:
                out->files_in++;
                out->bytes_in += it->dev->size;
                break;
        case ACT_COPY_OUT:
                out->files_out++;
                out->bytes_out += it->host->size;
                break;
        case ACT_CONFLICT:
                out->conflicts++;
                out->files_in++;
                out->bytes_in += it->dev->size;
                if (d->two_way) {
                        out->files_out++;
                        out->bytes_out += it->host->size;
                }
                break;
        case ACT_REMOVE_DEVICE:
                out->removed_device++;
                break;
        case ACT_TRASH_HOST:
                out->removed_computer++;
                break;
        case ACT_HOLD:
                out->held++;
                break;
        default:
                break;
        }
}

/* The question of a first sync: what each choice would do, in numbers. */
static int ask(SyncRun *run, SyncCat *c, Docs *d) {
        ids_sync_question q = { .created_usec = run->now_usec };
        uint64_t d_only = 0, h_only = 0, differ = 0;
        int r;

        snprintf(q.category, sizeof(q.category), "%s", CATEGORY);
        for (size_t k = 0; k < d->n_apps; k++) {
                DocApp *a = &d->apps[k];

                for (size_t i = 0; i < a->n_items; i++) {
                        DocItem *it = &a->items[i];
                        DocEntry *D = file_of(it->dev), *H = file_of(it->host);

                        if (it->dev && it->host && it->dev->is_dir != it->host->is_dir)
                                continue;
                        q.files_device += D != NULL;
                        q.files_computer += H != NULL;
                        if (D && H) {
                                r = compare_content(run, a, it);
                                if (r != 0)
                                        return r;
                                differ += !it->same;
                        } else if (D)
                                d_only++;
                        else if (H)
                                h_only++;
                }
        }
        for (size_t i = 0; i < ELEMENTSOF(q.choices); i++)
                snprintf(q.choices[i].choice, sizeof(q.choices[i].choice), "%s",
                         sync_choice_names[i]);
        q.choices[0].add_device = h_only;
        q.choices[0].add_computer = d_only;
        q.choices[0].conflicts = differ;
        q.choices[1].add_device = h_only;
        q.choices[1].overwrite_device = differ;
        q.choices[1].remove_device = d_only;
        q.choices[2].add_computer = d_only;
        q.choices[2].overwrite_computer = differ;
        q.choices[2].remove_computer = h_only;
        if (run->db && !run->o->dry_run) {
                r = sync_db_question_put(run->db, &q);
                if (r < 0)
                        return r;
        }
        snprintf(c->out->reason, sizeof(c->out->reason),
                 "First sync of documents: %" PRIu64 " files on the phone and %" PRIu64
                 " on this computer, %" PRIu64 " of them differ — choose merge, "
                 "replace-device or replace-computer.",
                 q.files_device, q.files_computer, differ);
        return IDS_E_WAITING_DECISION;
}

typedef struct ChoiceFind {
        bool asked;                             /* a question is recorded */
        char choice[24];                        /* its answer, "" while undecided */
} ChoiceFind;

static int find_choice(const ids_sync_question *q, const char *choice, void *userdata) {
        ChoiceFind *f = userdata;

        f->asked = true;
        snprintf(f->choice, sizeof(f->choice), "%s", choice);
        return 0;
}

static int documents_plan(SyncRun *run, SyncCat *c) {
        Docs *d = c->state;
        uint64_t rows = 0, files_device = 0, files_computer = 0;
        ChoiceFind found = {};
        int r;

        for (size_t k = 0; k < d->n_apps; k++) {
                r = build_items(c, &d->apps[k]);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < d->apps[k].dev.n; i++)
                        files_device += !d->apps[k].dev.v[i].is_dir;
                for (size_t i = 0; i < d->apps[k].host.n; i++)
                        files_computer += !d->apps[k].host.v[i].is_dir;
        }

        /* The first sync: nothing recorded for the category yet, or a first sync with a
         * choice that did not run to its end (its question stays until it does). */
        if (run->db) {
                r = sync_db_doc_count(run->db, CATEGORY, &rows);
                if (r >= 0)
                        r = sync_db_question_list(run->db, CATEGORY, false, find_choice, &found);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < run->o->n_decisions; i++) {
                const ids_sync_decision *x = &run->o->decisions[i];

                if (x->category && strcmp(x->category, CATEGORY) == 0 && found.asked)
                        snprintf(found.choice, sizeof(found.choice), "%s", x->choice);
        }
        if (d->two_way && ((rows == 0 && files_device > 0 && files_computer > 0) ||
                           found.choice[0])) {
                d->first = true;
                memcpy(d->choice_buf, found.choice, sizeof(d->choice_buf));
                if (d->choice_buf[0])
                        d->choice = d->choice_buf;
                else if (run->o->first_sync != IDS_SYNC_FIRST_ASK)
                        d->choice = sync_choice_names[run->o->first_sync == IDS_SYNC_FIRST_MERGE ?
                                                      0 : run->o->first_sync ==
                                                      IDS_SYNC_FIRST_REPLACE_DEVICE ? 1 : 2];
                if (!d->choice)
                        return ask(run, c, d);
                if (!found.asked) {
                        r = sync_first_sync_remember(run, CATEGORY, d->choice);
                        if (r < 0)
                                return r;
                }
        }

        /* Asked once, but one side is empty now: nothing to choose any more. */
        if (!d->first && found.asked && run->db && !run->o->dry_run) {
                r = sync_db_question_delete(run->db, CATEGORY);
                if (r < 0)
                        return r;
        }

        for (size_t k = 0; k < d->n_apps; k++) {
                DocApp *a = &d->apps[k];

                for (size_t i = 0; i < a->n_items; i++) {
                        r = plan_item(run, d, a, &a->items[i], c);
                        if (r != 0)
                                return r;
                        count_action(d, &a->items[i], c->out);
                }
        }
        if (d->notes[0])
                snprintf(c->out->reason, sizeof(c->out->reason), "%s", d->notes);
        run->p.files_total = c->out->files_in + c->out->files_out;
        run->p.bytes_total = c->out->bytes_in + c->out->bytes_out;
        run->p.files_done = 0;
        return 0;
}

/* ---- applying ---------------------------------------------------------------------------- */

/* The steps below return 1 when done, 0 when left alone (the file changed since the scan:
 * next time), or an error: -errno or an IDS_E_* outcome (> 1; IDS_E_NOT_PAIRED, which is 1,
 * never comes from here). */

typedef struct Applied {
        ids_sync_category out;                  /* what was done */
        unsigned ops;                           /* rows since the last commit */
} Applied;

static int db_step(SyncRun *run, Applied *ap) {
        int r;

        if (++ap->ops < COMMIT_EVERY)
                return 0;
        ap->ops = 0;
        sync_report(run, IDS_PHASE_COMMITTING, true);
        r = sync_db_commit(run->db);
        if (r >= 0)
                r = sync_db_begin(run->db);
        sync_report(run, IDS_PHASE_COPYING, true);
        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
}

static int app_host_fd(Docs *d, DocApp *a) {
        int r;

        if (a->host_fd >= 0)
                return a->host_fd;
        r = fs_mkdir_p_beneath(d->root_fd, a->bundle_id, 0700);
        if (r < 0)
                return r == -ENOSPC ? IDS_E_DISK_FULL : r;
        a->host_fd = fs_open_beneath(d->root_fd, a->bundle_id, O_RDONLY | O_DIRECTORY, 0);
        return a->host_fd;
}

/* Receive the device file e into a new durable file of the partial directory with e's
 * mtime. -EAGAIN when it changed while read. */
static int fetch(SyncRun *run, Docs *d, DocApp *a, const DocEntry *e, char tmp[32],
                 char hash[SYNC_HASH_HEX], struct stat *ret_st) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        r = sync_check_space(run, d->partial_fd, e->size);
        if (r != 0)
                return r;
        for (unsigned tries = 0;; tries++) {
                memcpy(tmp, "tmp-", 4);
                fs_random_chars(tmp + 4, 16);
                fd = openat(d->partial_fd, tmp,
                            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || tries > 16)
                        return errno == ENOSPC ? IDS_E_DISK_FULL : -errno;
        }
        r = read_device(run, a, e, fd, hash);
        if (r != 0)
                goto fail;
        (void) futimens(fd, (const struct timespec[2]) {
                { .tv_nsec = UTIME_OMIT },
                { .tv_sec = e->mtime_ns / 1000000000, .tv_nsec = e->mtime_ns % 1000000000 } });
        /* Durable under the temporary name before it gets its real one. */
        if (fsync(fd) < 0 || fstat(fd, ret_st) < 0) {
                r = errno == ENOSPC ? IDS_E_DISK_FULL : -errno;
                goto fail;
        }
        return 0;
fail:
        (void) unlinkat(d->partial_fd, tmp, 0);
        return r;
}

static bool same_stat(const struct stat *st, const DocEntry *e) {
        return S_ISREG(st->st_mode) && (uint64_t) st->st_size == e->size &&
               stat_mtime(st) == e->mtime_ns;
}

/* Move tmp to rel below the app's root: what is at rel must still be expect (which goes to
 * the trash first), or nothing when expect is NULL. 1 placed, 0 left alone (changed
 * meanwhile), <0. */
static int place(SyncRun *run, Docs *d, DocApp *a, const char *tmp, const char *rel,
                 const DocEntry *expect) {
        _cleanup_(closep) int dir = -EBADF;
        const char *name;
        struct stat st;
        int r;

        r = app_host_fd(d, a);
        if (r < 0)
                return r;
        dir = fs_open_parent_beneath(a->host_fd, rel, true, &name);
        if (dir < 0)
                return dir == -ENOSPC ? IDS_E_DISK_FULL : dir;
        if (expect) {
                if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !same_stat(&st, expect))
                        return 0;               /* changed since the scan: next time */
                r = sync_trash_move(run, dir, name, CATEGORY, a->bundle_id, rel);
                if (r < 0)
                        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
        }
        if (renameat2(d->partial_fd, tmp, dir, name, RENAME_NOREPLACE) < 0)
                return errno == EEXIST ? 0 : -errno;
        if (fsync(dir) < 0)
                return -errno;
        return 1;
}

static int put_row(SyncRun *run, DocApp *a, const char *key, const char *dev_rel,
                   const char *host_rel, uint64_t dsize, int64_t dmtime, uint64_t hsize,
                   int64_t hmtime, const char *hash) {
        SyncDoc row = { .key = (char *) key, .device_path = (char *) dev_rel,
                        .host_path = (char *) host_rel, .device_size = dsize,
                        .device_mtime_ns = dmtime, .host_size = hsize, .host_mtime_ns = hmtime };
        int r;

        snprintf(row.hash, sizeof(row.hash), "%s", hash ?: "");
        r = sync_db_doc_put(run->db, CATEGORY, a->bundle_id, &row, run->now_usec);
        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
}

/* Device → computer, to host_rel (over expect, or new). 1 done, 0 left alone. */
static int copy_in(SyncRun *run, Docs *d, DocApp *a, DocItem *it, const char *host_rel,
                   const DocEntry *expect) {
        char tmp[32], hash[SYNC_HASH_HEX];
        struct stat st;
        int r;

        r = fetch(run, d, a, it->dev, tmp, hash, &st);
        if (r == -EAGAIN || r == -ENOENT)
                return 0;                       /* changed or gone on the device: next time */
        if (r != 0)
                return r;
        r = place(run, d, a, tmp, host_rel, expect);
        if (r != 1) {
                (void) unlinkat(d->partial_fd, tmp, 0);
                return r;
        }
        r = put_row(run, a, it->key, it->dev->path, host_rel, it->dev->size,
                    it->dev->mtime_ns, (uint64_t) st.st_size, stat_mtime(&st), hash);
        return r < 0 ? r : 1;
}

static int remove_device_tmp(SyncRun *run, DocApp *a, const char *path) {
        afc_error_t e = afc_remove_path(a->afc, path);

        return e == AFC_E_SUCCESS || e == AFC_E_OBJECT_NOT_FOUND ? 0 : sync_afc_error(run, e);
}

/* Computer → device: host_rel (still as h says) uploaded under a temporary name in the
 * target's directory, then renamed over dev_rel if that is still expect (or absent when
 * expect is NULL). 1 done (*ret_info: the new device file), 0 left alone, <0. */
static int upload(SyncRun *run, Docs *d, DocApp *a, const char *host_rel, const DocEntry *h,
                  const char *dev_rel, const DocEntry *expect, char hash[SYNC_HASH_HEX],
                  SyncFileInfo *ret_info) {
        _cleanup_free_ char *target = dev_path(dev_rel), *tmp = NULL;
        _cleanup_(closep) int fd = -EBADF;
        const char *slash = strrchr(dev_rel, '/');
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        char rnd[17];
        EVP_MD_CTX *ctx = NULL;
        SyncFileInfo fi;
        struct stat st;
        uint64_t handle = 0, total = 0;
        afc_error_t ae;
        int r = 0;

        if (!target)
                return -ENOMEM;
        fd = fs_open_beneath(a->host_fd, host_rel, O_RDONLY, 0);
        if (fd < 0)
                return fd == -ENOENT ? 0 : fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!same_stat(&st, h))
                return 0;                       /* changed since the scan: next time */
        fs_random_chars(rnd, 16);
        if (asprintf(&tmp, "%s/%.*s%s%s%s", DEV_ROOT, slash ? (int) (slash - dev_rel) : 0,
                     dev_rel, slash ? "/" : "", TMP_PREFIX, rnd) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        {
                char *t = NULL;
                if (asprintf(&t, "%s%s", tmp, TMP_SUFFIX) < 0)
                        return -ENOMEM;
                free(tmp);
                tmp = t;
        }
        if (slash) {
                _cleanup_free_ char *dir = strndup(target, strlen(DEV_ROOT) + 1 +
                                                   (size_t) (slash - dev_rel));
                if (!dir)
                        return -ENOMEM;
                ae = afc_make_directory(a->afc, dir);
                if (ae != AFC_E_SUCCESS)
                        return sync_afc_error(run, ae);
        }
        ae = afc_file_open(a->afc, tmp, AFC_FOPEN_WRONLY, &handle);
        if (ae != AFC_E_SUCCESS)
                return sync_afc_error(run, ae);
        ctx = EVP_MD_CTX_new();
        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
                r = -ENOMEM;
        if (r == 0)
                r = sync_afc_send_fd(run, a->afc, handle, fd, ctx, &total);
        ae = afc_file_close(a->afc, handle);
        if (r == 0 && ae != AFC_E_SUCCESS)
                r = sync_afc_error(run, ae);
        if (r == 0 && EVP_DigestFinal_ex(ctx, md, &md_len) != 1)
                r = -EIO;
        EVP_MD_CTX_free(ctx);
        /* The computer's copy must not have changed while it was read. */
        if (r == 0 && (fstat(fd, &st) < 0 || !same_stat(&st, h) || total != h->size))
                r = -EAGAIN;
        /* The device's copy must still be what the scan saw: else it is not replaced. */
        if (r == 0) {
                int k = sync_afc_stat(run, a->afc, target, &fi);

                if (k != 0 && k != -ENOENT)
                        r = k;
                else if (expect && (k == -ENOENT || !fi.is_reg || fi.size != expect->size ||
                                    fi.mtime_ns != expect->mtime_ns))
                        r = -EAGAIN;            /* the device changed it: a conflict next time */
                else if (!expect && k == 0)
                        r = -EAGAIN;            /* appeared on the device meanwhile */
        }
        if (r == 0) {
                ae = afc_rename_path(a->afc, tmp, target);
                if (ae != AFC_E_SUCCESS)
                        r = sync_afc_error(run, ae);
        }
        if (r == 0)
                r = sync_afc_stat(run, a->afc, target, ret_info);
        if (r != 0) {
                if (r != IDS_E_DISCONNECTED && r != IDS_E_CANCELLED)
                        (void) remove_device_tmp(run, a, tmp);
                return r == -EAGAIN || r == -ENOENT ? 0 : r;
        }
        sync_hex(md, md_len, hash);
        return 1;
}

static int copy_out(SyncRun *run, Docs *d, DocApp *a, DocItem *it, const char *dev_rel,
                    const DocEntry *expect) {
        char hash[SYNC_HASH_HEX];
        SyncFileInfo fi;
        int r;

        r = upload(run, d, a, it->host->path, it->host, dev_rel, expect, hash, &fi);
        if (r != 1)
                return r;
        r = put_row(run, a, it->key, dev_rel, it->host->path, fi.size, fi.mtime_ns,
                    it->host->size, it->host->mtime_ns, hash);
        return r < 0 ? r : 1;
}

/* "dir/name (conflict 2026-12-04 0712).ext" beside rel, free among the app's keys. */
static int conflict_name(SyncRun *run, DocApp *a, const char *rel, char **ret) {
        time_t t = (time_t) (run->now_usec / 1000000u);
        const char *slash = strrchr(rel, '/'), *base = slash ? slash + 1 : rel;
        const char *dot = strrchr(base, '.');
        size_t stem = dot && dot != base ? (size_t) (dot - base) : strlen(base);
        char when[32];
        struct tm tm;

        if (!localtime_r(&t, &tm))
                return -EINVAL;
        strftime(when, sizeof(when), "%Y-%m-%d %H%M", &tm);
        for (unsigned k = 1; k < 100; k++) {
                char *name = NULL, *key = NULL, num[16] = "";
                bool taken;
                int r;

                if (k > 1)
                        snprintf(num, sizeof(num), " %u", k);
                if (asprintf(&name, "%.*s%.*s (conflict %s%s)%s", (int) (base - rel), rel,
                             (int) stem, base, when, num, base + stem) < 0)
                        return -ENOMEM;
                r = nfc(name, &key);
                if (r < 0) {
                        free(name);
                        return r;
                }
                taken = find_item(a, key) != NULL;
                free(key);
                if (!taken && strlen(base) + 40 <= FS_NAME_MAX) {
                        *ret = name;
                        return 0;
                }
                free(name);
                if (strlen(base) + 40 > FS_NAME_MAX)
                        return -ENAMETOOLONG;
        }
        return -EEXIST;
}

/* Both changed: the computer's copy renamed to the conflict name, the device's version put
 * under the name, the computer's copy uploaded under the conflict name. */
static int conflict(SyncRun *run, Docs *d, DocApp *a, DocItem *it, ids_sync_category *out) {
        _cleanup_free_ char *cname = NULL, *ckey = NULL, *dev_cname = NULL;
        _cleanup_(closep) int dir = -EBADF;
        const char *name, *cbase;
        char tmp[32], hash[SYNC_HASH_HEX], chash[SYNC_HASH_HEX];
        const char *dslash = strrchr(it->dev->path, '/');
        DocEntry moved;
        SyncFileInfo fi;
        struct stat st;
        int r;

        r = conflict_name(run, a, it->host->path, &cname);
        if (r < 0)
                return r == -ENAMETOOLONG ? 0 : r;
        r = fetch(run, d, a, it->dev, tmp, hash, &st);
        if (r == -EAGAIN || r == -ENOENT)
                return 0;
        if (r != 0)
                return r;
        dir = fs_open_parent_beneath(a->host_fd, it->host->path, false, &name);
        if (dir < 0) {
                (void) unlinkat(d->partial_fd, tmp, 0);
                return dir == -ENOENT ? 0 : dir;
        }
        cbase = strrchr(cname, '/') ? strrchr(cname, '/') + 1 : cname;
        {
                struct stat hst;
                if (fstatat(dir, name, &hst, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !same_stat(&hst, it->host)) {
                        (void) unlinkat(d->partial_fd, tmp, 0);
                        return 0;               /* changed meanwhile: next time */
                }
        }
        if (renameat2(dir, name, dir, cbase, RENAME_NOREPLACE) < 0) {
                r = -errno;
                (void) unlinkat(d->partial_fd, tmp, 0);
                return r == -EEXIST ? 0 : r;
        }
        if (renameat2(d->partial_fd, tmp, dir, name, RENAME_NOREPLACE) < 0) {
                r = -errno;
                (void) unlinkat(d->partial_fd, tmp, 0);
                return r == -EEXIST ? 0 : r;
        }
        if (fsync(dir) < 0)
                return -errno;
        r = put_row(run, a, it->key, it->dev->path, it->host->path, it->dev->size,
                    it->dev->mtime_ns, (uint64_t) st.st_size, stat_mtime(&st), hash);
        if (r < 0)
                return r;
        out->conflicts++;
        out->files_in++;
        out->bytes_in += it->dev->size;
        run->p.files_done++;
        if (!d->two_way)
                return 1;
        /* The computer's version, now under the conflict name, to the device too. */
        if (asprintf(&dev_cname, "%.*s%s%s", dslash ? (int) (dslash - it->dev->path) : 0,
                     it->dev->path, dslash ? "/" : "", cbase) < 0) {
                dev_cname = NULL;
                return -ENOMEM;
        }
        moved = *it->host;
        moved.path = cname;
        r = upload(run, d, a, cname, &moved, dev_cname, NULL, chash, &fi);
        if (r != 1)
                return r;                       /* next time it is a new computer file */
        r = nfc(cname, &ckey);
        if (r < 0)
                return r;
        r = put_row(run, a, ckey, dev_cname, cname, fi.size, fi.mtime_ns, moved.size,
                    moved.mtime_ns, chash);
        if (r < 0)
                return r;
        out->files_out++;
        out->bytes_out += moved.size;
        run->p.files_done++;
        return 1;
}

/* Remove the device's copy if it is still as recorded. 1 removed, 0 left alone. */
static int remove_device(SyncRun *run, DocApp *a, DocItem *it) {
        _cleanup_free_ char *path = dev_path(it->dev->path);
        uint64_t size = it->row ? it->row->device_size : it->dev->size;
        int64_t mtime = it->row ? it->row->device_mtime_ns : it->dev->mtime_ns;
        SyncFileInfo fi;
        afc_error_t e;
        int r;

        if (!path)
                return -ENOMEM;
        r = sync_afc_stat(run, a->afc, path, &fi);
        if (r == -ENOENT)
                return 1;                       /* already gone */
        if (r != 0)
                return r;
        if (!fi.is_reg || fi.size != size || fi.mtime_ns != mtime)
                return 0;                       /* changed: a change, not a removal */
        e = afc_remove_path(a->afc, path);
        if (e != AFC_E_SUCCESS && e != AFC_E_OBJECT_NOT_FOUND) {
                r = sync_afc_error(run, e);
                return r == -EACCES ? 0 : r;
        }
        return 1;
}

/* Move the computer's copy (host_rel) into the trash if it is still size/mtime. */
static int trash_host(SyncRun *run, int app_fd, const char *scope, const char *host_rel,
                      uint64_t size, int64_t mtime) {
        _cleanup_(closep) int dir = -EBADF;
        const char *name;
        struct stat st;
        int r;

        if (app_fd < 0)
                return 1;                       /* no directory: nothing left to remove */
        dir = fs_open_parent_beneath(app_fd, host_rel, false, &name);
        if (dir == -ENOENT)
                return 1;
        if (dir < 0)
                return dir;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 1 : -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != size || stat_mtime(&st) != mtime)
                return 0;
        r = sync_trash_move(run, dir, name, CATEGORY, scope, host_rel);
        if (r == -ENOENT)
                return 1;
        return r < 0 ? r : 1;
}

static int drop_held(SyncRun *run, DocItem *it) {
        int r;

        if (!it->held)
                return 0;
        r = sync_db_held_delete(run->db, it->held->pub.id);
        return r < 0 ? r : 0;
}

static int apply_item(SyncRun *run, Docs *d, DocApp *a, DocItem *it, Applied *ap) {
        ids_sync_category *out = &ap->out;
        DocEntry *D = file_of(it->dev), *H = file_of(it->host);
        SyncDoc *R = it->row;
        int r = 0;

        if (it->action == ACT_NONE && !it->drop_held)
                return 0;                       /* nothing to write, nothing to commit */
        switch (it->action) {
        case ACT_NONE:
                break;
        case ACT_RECORD:
                r = put_row(run, a, it->key, D ? D->path : R ? R->device_path : H->path,
                            H ? H->path : R ? R->host_path : D->path, D ? D->size : 0,
                            D ? D->mtime_ns : 0, H ? H->size : 0, H ? H->mtime_ns : 0,
                            it->same == 1 ? it->hash : R ? R->hash : "");
                break;
        case ACT_COPY_IN:
                r = copy_in(run, d, a, it, H ? H->path : R ? R->host_path : D->path, H);
                if (r == 1) {
                        out->files_in++;
                        out->bytes_in += D->size;
                        run->p.files_done++;
                }
                break;
        case ACT_COPY_OUT:
                r = copy_out(run, d, a, it, D ? D->path : R ? R->device_path : H->path, D);
                if (r == 1) {
                        out->files_out++;
                        out->bytes_out += H->size;
                        run->p.files_done++;
                }
                break;
        case ACT_CONFLICT:
                r = conflict(run, d, a, it, out);
                break;
        case ACT_REMOVE_DEVICE:
                r = remove_device(run, a, it);
                if (r == 1) {
                        out->removed_device++;
                        r = sync_db_doc_delete(run->db, CATEGORY, a->bundle_id, it->key);
                }
                it->drop_held = true;   /* removed, or changed (then copied next time) */
                break;
        case ACT_TRASH_HOST:
                r = trash_host(run, a->host_fd, a->bundle_id, H->path,
                               R ? R->host_size : H->size, R ? R->host_mtime_ns : H->mtime_ns);
                if (r == 1) {
                        out->removed_computer++;
                        r = sync_db_doc_delete(run->db, CATEGORY, a->bundle_id, it->key);
                }
                it->drop_held = true;
                break;
        case ACT_HOLD:
                if (!R)                 /* replace-*: remember the copy that stays */
                        r = put_row(run, a, it->key, D ? D->path : H->path, H ? H->path : D->path,
                                    D ? D->size : 0, D ? D->mtime_ns : 0, H ? H->size : 0,
                                    H ? H->mtime_ns : 0, "");
                if (r >= 0)
                        r = sync_db_held_add(run->db, CATEGORY, a->bundle_id, it->key,
                                             D ? D->path : H->path, it->hold_side,
                                             D ? D->size : H->size, run->now_usec, NULL);
                if (r >= 0)
                        out->held++;
                break;
        case ACT_FORGET:
                r = sync_db_doc_delete(run->db, CATEGORY, a->bundle_id, it->key);
                break;
        case ACT_MKDIR_HOST:
                r = app_host_fd(d, a);
                if (r >= 0)
                        r = fs_mkdir_p_beneath(a->host_fd, it->dev->path, 0700);
                break;
        case ACT_MKDIR_DEVICE: {
                _cleanup_free_ char *p = dev_path(it->host->path);
                afc_error_t e;

                if (!p)
                        return -ENOMEM;
                e = afc_make_directory(a->afc, p);
                r = e == AFC_E_SUCCESS ? 0 : sync_afc_error(run, e);
                break;
        }
        }
        if (r == 1)
                r = 0;                          /* done */
        if (r != 0) {
                bool fatal = r == -ENOMEM || r == -EIO || r == -EROFS || r == -ENOSPC ||
                             r == -EDQUOT || r == -EBUSY || r == IDS_E_DISCONNECTED ||
                             r == IDS_E_CANCELLED || r == IDS_E_DISK_FULL || r == IDS_E_TIMEOUT;

                if (fatal)
                        return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
                /* A file-level failure (permissions, a name one side refuses, a device
                 * reply that makes no sense): that file only, the others go on. */
                ids_debug("documents: %s: '%s': %s", a->bundle_id, it->key,
                          r < 0 ? strerror(-r) : ids_result_message(r));
                return db_step(run, ap);
        }
        if (it->drop_held) {
                r = drop_held(run, it);
                if (r < 0)
                        return r;
        }
        return db_step(run, ap);
}

static int documents_apply(SyncRun *run, SyncCat *c) {
        Docs *d = c->state;
        Applied ap = {};
        int r = 0, k;

        if (d->root_fd < 0) {
                d->root_fd = open_root(run, true);
                if (d->root_fd < 0)
                        return d->root_fd == -ENOSPC ? IDS_E_DISK_FULL : d->root_fd;
        }
        /* Whatever an interrupted run left here was never visible and never recorded. */
        r = fs_rm_rf_at(d->root_fd, SYNC_PARTIAL_DIR);
        if (r < 0 && r != -ENOENT)
                return r;
        d->partial_fd = fs_open_subdir(d->root_fd, SYNC_PARTIAL_DIR, true);
        if (d->partial_fd < 0)
                return d->partial_fd == -ENOSPC ? IDS_E_DISK_FULL : d->partial_fd;
        r = sync_db_begin(run->db);
        if (r < 0)
                return r;
        for (size_t k2 = 0; k2 < d->n_apps && r == 0; k2++) {
                DocApp *a = &d->apps[k2];

                if (a->skip)
                        continue;
                cancel_set_stream(run->cancel, a->stream_fd);
                for (size_t i = 0; i < a->n_stale && r == 0; i++)
                        r = remove_device_tmp(run, a, a->stale[i]);
                for (size_t i = 0; i < a->n_items && r == 0; i++) {
                        r = sync_check_cancel(run);
                        if (r == 0)
                                r = apply_item(run, d, a, &a->items[i], &ap);
                }
        }
        cancel_set_stream(run->cancel, -1);
        /* The first sync is over once it ran to the end: its question with it. */
        if (r == 0 && d->first)
                r = sync_db_question_delete(run->db, CATEGORY);
        /* What was done is durable: keep its rows whatever stopped the run. */
        sync_report(run, IDS_PHASE_COMMITTING, true);
        k = sync_db_commit(run->db);
        if (k < 0) {
                sync_db_rollback(run->db);
                if (r == 0)
                        r = k == -ENOSPC ? IDS_E_DISK_FULL : k;
        }
        c->out->files_in = ap.out.files_in;
        c->out->bytes_in = ap.out.bytes_in;
        c->out->files_out = ap.out.files_out;
        c->out->bytes_out = ap.out.bytes_out;
        c->out->conflicts = ap.out.conflicts;
        c->out->held = ap.out.held;
        c->out->removed_device = ap.out.removed_device;
        c->out->removed_computer = ap.out.removed_computer;
        (void) fs_rm_rf_at(d->root_fd, SYNC_PARTIAL_DIR);
        return r;
}

static void app_done(DocApp *a) {
        list_done(&a->dev);
        list_done(&a->host);
        for (size_t i = 0; i < a->n_rows; i++)
                sync_doc_done(&a->rows[i]);
        free(a->rows);
        for (size_t i = 0; i < a->n_held; i++)
                sync_held_done(&a->held[i]);
        free(a->held);
        free(a->items);
        for (size_t i = 0; i < a->n_stale; i++)
                free(a->stale[i]);
        free(a->stale);
        if (a->afc)
                afc_client_free(a->afc);        /* before its house_arrest client */
        if (a->ha)
                house_arrest_client_free(a->ha);
        if (a->host_fd >= 0)
                close(a->host_fd);
        free(a->bundle_id);
}

static void documents_free(SyncCat *c) {
        Docs *d = c->state;

        if (!d)
                return;
        for (size_t i = 0; i < d->n_apps; i++)
                app_done(&d->apps[i]);
        free(d->apps);
        if (d->partial_fd >= 0)
                close(d->partial_fd);
        if (d->root_fd >= 0)
                close(d->root_fd);
        free(d);
        c->state = NULL;
}

const SyncCategoryType sync_category_documents = {
        .name = CATEGORY,
        .mode = documents_mode,
        .scan_device = documents_scan_device,
        .scan_host = documents_scan_host,
        .plan = documents_plan,
        .apply = documents_apply,
        .free_state = documents_free,
};

/* ---- without a device -------------------------------------------------------------------- */

typedef struct Offline {
        SyncRun *run;
        int root_fd;
        uint64_t trashed, waiting;
        uint64_t *drop;                         /* held ids whose copy changed */
        size_t n_drop, drop_allocated;
        uint64_t *done;                         /* held ids applied */
        size_t n_done, done_allocated;
} Offline;

static int offline_one(const SyncHeld *h, void *userdata) {
        Offline *o = userdata;
        SyncRun *run = o->run;
        _cleanup_(closep) int app = -EBADF;
        SyncDoc row = {};
        int r;

        if (strcmp(h->decision, "approve") != 0 || strcmp(h->pub.side, "computer") != 0) {
                o->waiting += h->decision[0] != 0;
                return 0;                       /* needs the device (or a person) */
        }
        r = sync_db_doc_get(run->db, CATEGORY, h->pub.scope, h->key, &row);
        if (r < 0)
                return r;
        if (r == 0 || !bundle_ok(h->pub.scope)) {
                r = sync_grow((void **) &o->drop, &o->drop_allocated, o->n_drop,
                              sizeof(*o->drop), 8);
                if (r == 0)
                        o->drop[o->n_drop++] = h->pub.id;
                return r;
        }
        if (o->root_fd >= 0)
                app = fs_open_beneath(o->root_fd, h->pub.scope, O_RDONLY | O_DIRECTORY, 0);
        if (run->o->dry_run) {
                o->trashed++;
                sync_doc_done(&row);
                return 0;
        }
        r = trash_host(run, app, h->pub.scope, row.host_path, row.host_size, row.host_mtime_ns);
        if (r >= 0) {
                uint64_t **v = r > 0 ? &o->done : &o->drop;
                size_t *n = r > 0 ? &o->n_done : &o->n_drop;
                size_t *al = r > 0 ? &o->done_allocated : &o->drop_allocated;

                o->trashed += r > 0;
                r = sync_grow((void **) v, al, *n, sizeof(**v), 8);
                if (r == 0)
                        (*v)[(*n)++] = h->pub.id;
        }
        sync_doc_done(&row);
        return r;
}

int sync_documents_offline(SyncRun *run, uint64_t *ret_trashed, uint64_t *ret_waiting) {
        Offline o = { .run = run, .root_fd = -EBADF };
        int r;

        *ret_trashed = *ret_waiting = 0;
        if (!run->db)
                return 0;
        o.root_fd = open_root(run, false);
        r = sync_db_held_list(run->db, CATEGORY, false, offline_one, &o);
        if (r >= 0 && !run->o->dry_run && (o.n_done || o.n_drop)) {
                /* The removals are durable (in the trash); now they are forgotten. */
                r = sync_db_begin(run->db);
                for (size_t i = 0; r >= 0 && i < o.n_done; i++) {
                        r = sync_db_held_delete(run->db, o.done[i]);
                }
                for (size_t i = 0; r >= 0 && i < o.n_drop; i++)
                        r = sync_db_held_delete(run->db, o.drop[i]);
                if (r >= 0)
                        r = sync_db_commit(run->db);
                else
                        sync_db_rollback(run->db);
        }
        if (o.root_fd >= 0)
                close(o.root_fd);
        free(o.drop);
        free(o.done);
        *ret_trashed = o.trashed;
        *ret_waiting = o.waiting;
        return r < 0 ? r : 0;
}
