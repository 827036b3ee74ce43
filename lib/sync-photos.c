/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Photos and videos, device → computer, add-only (sync-protocols.md §1).
 *
 * Scan: AFC /DCIM (1nnAPPLE/IMG_nnnn.*) and /PhotoData/CPLAssets (originals downloaded
 * from iCloud), GET_FILE_INFO of each. Files of one folder with one base name are a group
 * (a Live Photo's HEIC and MOV, a photo and its .AAE edit sidecar) and land side by side.
 * Plan, from sync.db alone (no content is read): a path with the same size and mtime as
 * recorded is done; a file with the size and mtime of another recorded one was renamed or
 * moved (read and hashed to confirm, never written twice); the rest is new. Apply: each
 * file is received and hashed; content sync.db already has is recorded as a duplicate,
 * the rest is filed under YYYY/MM by capture time (EXIF DateTimeOriginal, else the
 * earlier of the device's birth time and mtime), its original name kept ("IMG_0001 (2).HEIC" when a
 * different file has that name). Nothing is ever removed from the device.
 *
 * "Optimize iPhone Storage" keeps only thumbnails of some photos on the phone: those are
 * counted from the Photos library database (/PhotoData/Photos.sqlite, copied and opened
 * read-only, only when it changed) and named in the result, never imported as photos.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "fs-util.h"
#include "macro.h"
#include "photo-date.h"
#include "sync-internal.h"
#include "util.h"

#define CATEGORY "photos"
#define PHOTOS_DB "/PhotoData/Photos.sqlite"
#define PHOTOS_DB_MAX (2ull << 30)

typedef enum PhotoKind { PHOTO_NEW, PHOTO_MOVED, PHOTO_KNOWN } PhotoKind;

typedef struct PhotoFile {
        char *device_path;
        size_t dir_len;                         /* device_path[0, dir_len) is its folder */
        size_t stem_len;                        /* the name up to its extension */
        const char *name;                       /* into device_path */
        bool image;
        uint64_t size;
        int64_t mtime_ns, birthtime_ns;
        PhotoKind kind;
        char *host_path;                        /* known: where it is */
} PhotoFile;

typedef struct Photos {
        afc_client_t afc;
        PhotoFile *files;
        size_t n, allocated;
        uint64_t icloud_only;
        bool icloud_known;
} Photos;

static const char *photos_mode(const ids_sync_options *o) {
        return o->photos == IDS_SYNC_PHOTOS_IMPORT ? "import" : "no";
}

static bool is_image(const char *name) {
        static const char *const ext[] = { "HEIC", "HEIF", "JPG", "JPEG", "PNG", "GIF", "DNG",
                                           "TIF", "TIFF", "WEBP", "AVIF" };
        const char *dot = strrchr(name, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(ext); i++)
                if (strcasecmp(dot + 1, ext[i]) == 0)
                        return true;
        return false;
}

static int add_file(SyncRun *run, const SyncEntry *e, void *userdata) {
        Photos *ph = userdata;
        PhotoFile *f;
        const char *dot;

        if (sync_grow((void **) &ph->files, &ph->allocated, ph->n, sizeof(*ph->files), 256) < 0)
                return -ENOMEM;
        f = &ph->files[ph->n];
        *f = (PhotoFile) { .size = e->size, .mtime_ns = e->mtime_ns,
                           .birthtime_ns = e->birthtime_ns };
        f->device_path = strdup(e->device_path);
        if (!f->device_path)
                return -ENOMEM;
        f->name = f->device_path + (e->name - e->device_path);
        f->dir_len = (size_t) (f->name - f->device_path);
        dot = strrchr(f->name, '.');
        f->stem_len = dot && dot != f->name ? (size_t) (dot - f->name) : strlen(f->name);
        f->image = is_image(f->name);
        ph->n++;
        run->p.files_total = ph->n;
        sync_report(run, IDS_PHASE_SCANNING, ph->n % 256 == 0);
        return 0;
}

/* Groups together (same folder, same base name ignoring case), the image first. */
static int compare_files(const void *a, const void *b) {
        const PhotoFile *x = a, *y = b;
        size_t n = x->dir_len < y->dir_len ? x->dir_len : y->dir_len;
        int c;

        c = memcmp(x->device_path, y->device_path, n);
        if (c == 0 && x->dir_len != y->dir_len)
                c = x->dir_len < y->dir_len ? -1 : 1;
        if (c == 0) {
                n = x->stem_len < y->stem_len ? x->stem_len : y->stem_len;
                c = strncasecmp(x->name, y->name, n);
                if (c == 0 && x->stem_len != y->stem_len)
                        c = x->stem_len < y->stem_len ? -1 : 1;
        }
        if (c == 0 && x->image != y->image)
                c = x->image ? -1 : 1;
        if (c == 0)
                c = strcmp(x->name, y->name);
        return c;
}

static bool same_group(const PhotoFile *x, const PhotoFile *y) {
        return x->dir_len == y->dir_len && memcmp(x->device_path, y->device_path, x->dir_len) == 0 &&
               x->stem_len == y->stem_len && strncasecmp(x->name, y->name, x->stem_len) == 0;
}

static int compare_path_sort(const void *a, const void *b) {
        return strcmp(((const PhotoFile *) a)->device_path, ((const PhotoFile *) b)->device_path);
}

static int compare_path(const void *key, const void *elem) {
        const PhotoFile *f = elem;
        return strcmp(key, f->device_path);
}

/* ---- iCloud-only photos ------------------------------------------------------------------- */

/* Count Photos.sqlite's assets in DCIM whose file the scan did not find. */
static int count_icloud_only(Photos *ph, const char *copy_dir, uint64_t *ret) {
        static const char *const queries[] = {
                /* iOS 14 and later */
                "SELECT ZDIRECTORY, ZFILENAME FROM ZASSET WHERE ZTRASHEDSTATE = 0",
                /* iOS 11–13 */
                "SELECT ZDIRECTORY, ZFILENAME FROM ZGENERICASSET WHERE ZTRASHEDSTATE = 0",
        };
        _cleanup_free_ PhotoFile *sorted = NULL;
        sqlite3 *db = NULL;
        sqlite3_stmt *st = NULL;
        uint64_t missing = 0;
        int rc = SQLITE_ERROR, k;

        k = sync_open_db_copy(copy_dir, &db);
        if (k < 0)
                return k;
        for (size_t i = 0; i < ELEMENTSOF(queries) && rc != SQLITE_OK; i++)
                rc = sqlite3_prepare_v2(db, queries[i], -1, &st, NULL);
        if (rc != SQLITE_OK) {
                sqlite3_close(db);
                return -EPROTO;         /* a schema we do not know: no claim */
        }
        sorted = malloc((ph->n ? ph->n : 1) * sizeof(*sorted));
        if (!sorted) {
                sqlite3_finalize(st);
                sqlite3_close(db);
                return -ENOMEM;
        }
        if (ph->n > 0) {                /* none: ph->files is NULL (memcpy, qsort: nonnull) */
                memcpy(sorted, ph->files, ph->n * sizeof(*sorted));
                qsort_safe(sorted, ph->n, sizeof(*sorted), compare_path_sort);
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *dir = (const char *) sqlite3_column_text(st, 0);
                const char *name = (const char *) sqlite3_column_text(st, 1);
                char path[FS_PATH_MAX];

                if (!dir || !name || strncmp(dir, "DCIM/", 5) != 0)
                        continue;
                if ((size_t) snprintf(path, sizeof(path), "/%s/%s", dir, name) >= sizeof(path))
                        continue;
                if (!bsearch(path, sorted, ph->n, sizeof(*sorted), compare_path))
                        missing++;
        }
        sqlite3_finalize(st);
        sqlite3_close(db);
        if (rc != SQLITE_DONE)
                return -EIO;
        *ret = missing;
        return 0;
}

static int stamp_of(SyncRun *run, afc_client_t afc, char *buf, size_t n) {
        char **kv = NULL;
        const char *size = "", *mtime = "";
        afc_error_t e = afc_get_file_info(afc, PHOTOS_DB, &kv);

        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2) {
                if (strcmp(kv[i], "st_size") == 0)
                        size = kv[i + 1];
                else if (strcmp(kv[i], "st_mtime") == 0)
                        mtime = kv[i + 1];
        }
        snprintf(buf, n, "%.30s:%.30s", size, mtime);
        afc_dictionary_free(kv);
        return 0;
}

/* The iCloud-only count, from sync.db when Photos.sqlite did not change since it was
 * counted, else counted now from a copy (with its -wal and -shm) in a private temporary
 * directory. Failures only leave the count unknown. */
static void scan_icloud_only(SyncRun *run, Photos *ph) {
        char stamp[64], tmp[FS_PATH_MAX], value[96];
        _cleanup_free_ char *old = NULL;
        int r;

        if (stamp_of(run, ph->afc, stamp, sizeof(stamp)) != 0)
                return;                         /* no Photos library database */
        if (run->db && sync_db_meta_get(run->db, "photos.library-stamp", &old) > 0 &&
            strncmp(old, stamp, strlen(stamp)) == 0 && old[strlen(stamp)] == ' ') {
                uint64_t v;
                if (sscanf(old + strlen(stamp) + 1, "%" SCNu64, &v) == 1) {
                        ph->icloud_only = v;
                        ph->icloud_known = true;
                        return;
                }
        }
        r = sync_afc_copy_db(run, ph->afc, PHOTOS_DB, PHOTOS_DB_MAX, tmp);
        if (r == 0) {
                r = count_icloud_only(ph, tmp, &ph->icloud_only);
                (void) fs_rm_rf_at(AT_FDCWD, tmp);
        }
        if (r != 0) {
                ids_debug("photos: cannot count iCloud-only photos: %d", r);
                return;
        }
        ph->icloud_known = true;
        snprintf(value, sizeof(value), "%s %" PRIu64, stamp, ph->icloud_only);
        if (run->db && !run->o->dry_run)
                (void) sync_db_meta_set(run->db, "photos.library-stamp", value);
}

/* ---- the four steps ------------------------------------------------------------------------ */

static int photos_scan_device(SyncRun *run, SyncCat *c) {
        Photos *ph = calloc(1, sizeof(*ph));
        int r;

        if (!ph)
                return -ENOMEM;
        c->state = ph;
        r = sync_afc_connect(run, AFC_SERVICE_NAME, &ph->afc);
        if (r != 0)
                return r;
        r = sync_afc_walk(run, ph->afc, "/DCIM", 3, &c->out->refused, add_file, ph);
        if (r == -ENOENT)
                r = 0;                          /* no camera roll at all */
        if (r == 0) {
                r = sync_afc_walk(run, ph->afc, "/PhotoData/CPLAssets", 4, &c->out->refused,
                                  add_file, ph);
                if (r == -ENOENT)
                        r = 0;
        }
        if (r != 0)
                return r;
        scan_icloud_only(run, ph);
        return sync_check_cancel(run);
}

static int photos_plan(SyncRun *run, SyncCat *c) {
        Photos *ph = c->state;
        uint64_t files = 0, bytes = 0, moved = 0;

        qsort_safe(ph->files, ph->n, sizeof(*ph->files), compare_files);
        for (size_t i = 0; i < ph->n; i++) {
                PhotoFile *f = &ph->files[i];
                SyncItem it = {};
                int r = 0;

                f->kind = PHOTO_NEW;
                if (run->db)
                        r = sync_db_get(run->db, CATEGORY, f->device_path, &it);
                if (r < 0)
                        return r;
                if (r > 0 && it.size == f->size && it.mtime_ns == f->mtime_ns) {
                        f->kind = PHOTO_KNOWN;
                        f->host_path = TAKE_PTR(it.host_path);
                } else if (run->db) {
                        sync_item_done(&it);
                        r = sync_db_find_meta(run->db, CATEGORY, f->size, f->mtime_ns, &it);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                f->kind = PHOTO_MOVED;
                }
                sync_item_done(&it);
                if (f->kind == PHOTO_NEW) {
                        files++;
                        bytes += f->size;
                } else if (f->kind == PHOTO_MOVED)
                        moved++;
        }
        c->out->files_in = files;
        c->out->bytes_in = bytes;
        c->out->duplicates = moved;
        if (ph->icloud_known && ph->icloud_only > 0)
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "%" PRIu64 " photos are in iCloud only (Optimize iPhone Storage): "
                         "the phone holds no original to import.", ph->icloud_only);
        run->p.files_total = files + moved;
        run->p.bytes_total = bytes;
        run->p.files_done = 0;
        return 0;
}

/* Where a group goes: beside a member already on the computer, else by capture time. */
static int group_dir(Batch *b, Photos *ph, size_t from, size_t to, BatchFile *primary,
                     const PhotoFile *primary_file, char **ret) {
        for (size_t i = from; i < to; i++)
                if (ph->files[i].host_path) {
                        const char *slash = strrchr(ph->files[i].host_path, '/');
                        *ret = strndup(ph->files[i].host_path,
                                       slash ? (size_t) (slash - ph->files[i].host_path) : 0);
                        return *ret ? 0 : -ENOMEM;
                }
        if (primary && primary->tmp[0]) {
                _cleanup_(closep) int fd = openat(b->partial_fd, primary->tmp,
                                                  O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                PhotoDate d;

                if (fd >= 0 && photo_capture_date(fd, &d) == 0)
                        return asprintf(ret, "%04d/%02d", d.year, d.month) < 0 ? -ENOMEM : 0;
        }
        {
                /* Without EXIF: the earlier of birth and modification time (a copy onto the
                 * phone keeps the original mtime but is born later). */
                int64_t t = primary_file->mtime_ns;
                char m[8];

                if (primary_file->birthtime_ns > 0 && primary_file->birthtime_ns < t)
                        t = primary_file->birthtime_ns;
                sync_month_dir(t, m);
                *ret = strdup(m);
                return *ret ? 0 : -ENOMEM;
        }
}

static int apply_group(SyncRun *run, Batch *b, Photos *ph, size_t from, size_t to) {
        _cleanup_free_ char *dir = NULL;
        size_t first = b->n;
        long primary = -1;                      /* an index: fetching may move the array */
        unsigned group = batch_new_group(b);
        int r;

        for (size_t i = from; i < to; i++) {
                PhotoFile *f = &ph->files[i];
                SyncEntry e = { .device_path = f->device_path, .name = f->name,
                                .size = f->size, .mtime_ns = f->mtime_ns,
                                .birthtime_ns = f->birthtime_ns };
                BatchFile *bf;
                _cleanup_free_ char *existing = NULL;

                if (f->kind == PHOTO_KNOWN)
                        continue;
                r = batch_fetch(b, ph->afc, &e, &bf);
                if (r == -EAGAIN || r == -ENOENT) {
                        ids_debug("photos: %s changed or vanished while read; next time",
                                  f->device_path);
                        continue;
                }
                if (r != 0)
                        return r;
                run->p.files_done++;
                bf->group = group;
                r = sync_db_find_hash(run->db, CATEGORY, bf->item.hash, &existing);
                if (r < 0)
                        return r;
                if (r > 0) {
                        /* Renamed, moved, or imported before a reset: known content. */
                        r = batch_mark_duplicate(b, bf, existing);
                        if (r < 0)
                                return r;
                        free(f->host_path);
                        f->host_path = TAKE_PTR(existing);
                        continue;
                }
                if (batch_dedup_within(b, bf))
                        continue;
                if (primary < 0 && f->image)
                        primary = bf - b->files;
        }
        if (b->n == first)
                return 0;
        /* The capture date of the group's image, or of its first file. */
        for (size_t i = first; primary < 0 && i < b->n; i++)
                if (b->files[i].tmp[0])
                        primary = (long) i;
        r = group_dir(b, ph, from, to, primary >= 0 ? &b->files[primary] : NULL,
                      &ph->files[from], &dir);
        if (r < 0)
                return r;
        for (size_t i = first; i < b->n; i++) {
                BatchFile *bf = &b->files[i];
                const char *slash;

                if (!bf->tmp[0])
                        continue;
                slash = strrchr(bf->device_path, '/');
                bf->name = strdup(slash ? slash + 1 : bf->device_path);
                bf->dir = strdup(dir);
                if (!bf->name || !bf->dir)
                        return -ENOMEM;
        }
        return 0;
}

static int photos_apply(SyncRun *run, SyncCat *c) {
        Photos *ph = c->state;
        Batch b;
        const char *root = run->o->photos_dir ? run->o->photos_dir : "photos";
        int r;

        r = batch_open(&b, run, c, root);
        if (r != 0)
                return r;
        for (size_t i = 0; i < ph->n && r == 0;) {
                size_t j = i + 1;

                while (j < ph->n && same_group(&ph->files[i], &ph->files[j]))
                        j++;
                r = apply_group(run, &b, ph, i, j);
                if (r == 0 && batch_full(&b))
                        r = batch_commit(&b);
                i = j;
        }
        return batch_finish(&b, r, c->out);
}

static void photos_free(SyncCat *c) {
        Photos *ph = c->state;

        if (!ph)
                return;
        for (size_t i = 0; i < ph->n; i++) {
                free(ph->files[i].device_path);
                free(ph->files[i].host_path);
        }
        free(ph->files);
        if (ph->afc)
                afc_client_free(ph->afc);
        free(ph);
        c->state = NULL;
}

const SyncCategoryType sync_category_photos = {
        .name = CATEGORY,
        .mode = photos_mode,
        .scan_device = photos_scan_device,
        .plan = photos_plan,
        .apply = photos_apply,
        .free_state = photos_free,
};
