/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mutate: change, add and delete files of a generated profile, deterministically from a
 * seed, as a phone changes between two backups.
 */
#include "mobilesync.h"
#include "profile-internal.h"
#include "profile-itunes.h"
#include "profile-pim.h"

/* ---- mutate ------------------------------------------------------------------------------ */

/* The name of a temporary file in the directory of path: "<dir>/.mutate.tmp". */
static int tmp_path_for(const char *path, char *buf, size_t n) {
        const char *slash = strrchr(path, '/');
        int k;

        k = snprintf(buf, n, "%.*s.mutate.tmp", slash ? (int) (slash - path + 1) : 0, path);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

/* The twin of backup/<rel> (relative to dfd) into buf if there is one and it is the same
 * inode as st. Returns 1 (twin), 0 (none) or -errno. */
static int twin_of(int dfd, const char *rel, const struct stat *st, char *buf, size_t n) {
        struct stat tst;
        int r;

        r = twin_path(rel, buf, n);
        if (r <= 0)
                return r;
        if (fstatat(dfd, buf, &tst, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        return tst.st_dev == st->st_dev && tst.st_ino == st->st_ino;
}

/* Replace bpath (and its twin, if any) by a new file of size bytes: write a temporary file
 * beside it, hard-link that beside the twin, then rename both over the originals. Both
 * names then share the new inode, as the device would show one changed photo in both
 * places; readers that hold the old file open keep reading the old content. */
static int mutate_replace(int dfd, const char *bpath, const char *twin, uint64_t size,
                          uint64_t cseed, int64_t t, MediaKind media, int64_t capture,
                          uint8_t *buf) {
        char tmp[PATH_MAX], ttmp[PATH_MAX];
        int r;

        r = tmp_path_for(bpath, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        (void) unlinkat(dfd, tmp, 0);
        if (media != MEDIA_NONE)
                r = write_media_at(dfd, tmp, media, size, cseed, capture, t, buf);
        else
                r = write_content_at(dfd, tmp, size, cseed, t, buf);
        if (r < 0)
                goto fail;

        if (twin) {
                r = tmp_path_for(twin, ttmp, sizeof(ttmp));
                if (r < 0)
                        goto fail;
                (void) unlinkat(dfd, ttmp, 0);
                if (linkat(dfd, tmp, dfd, ttmp, 0) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (renameat(dfd, ttmp, dfd, twin) < 0) {
                        r = -errno;
                        (void) unlinkat(dfd, ttmp, 0);
                        goto fail;
                }
        }
        if (renameat(dfd, tmp, dfd, bpath) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;

fail:
        (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* Whether backup file rel belongs to a personal database of the profile (one with its
 * ground-truth JSON in dir): --change/--delete/--add leave those to --pim-*, which keep
 * database and JSON in step. */
static bool pim_file(int dfd, const char *rel) {
        static const struct {
                const char *json, *prefix;
        } owned[] = {
                { "contacts.json", "HomeDomain/Library/AddressBook/" },
                { "calendars.json", "HomeDomain/Library/Calendar/" },
                { "bookmarks.json", "HomeDomain/Library/Safari/Bookmarks.db" },
                { "notes.json", "HomeDomain/Library/Notes/notes.sqlite" },
                { "notes.json", "AppDomainGroup-group.com.apple.notes/" },
                { "voice-memos.json", "MediaDomain/Media/Recordings/" },
        };

        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                if (startswith(rel, owned[i].prefix) &&
                    faccessat(dfd, owned[i].json, F_OK, 0) >= 0)
                        return true;
        return false;
}

/* Remember the directory above path, whose mtime the mutation changed. */
int touch_parent(EntryList *dirs, const char *path) {
        const char *slash = strrchr(path, '/');
        char *d;

        if (!slash)
                return 0;
        d = strndup(path, (size_t) (slash - path));
        if (!d)
                return -ENOMEM;
        return entry_list_add(dirs, d, NULL);
}

/* A new file in the directory of the backup file `like` (relative to backup/): a photo in a
 * DCIM folder, a note among app documents, else an "added-…" file. Its twin is made too
 * when the directory has one. */
static int mutate_add(int dfd, Rng *r, uint64_t seed, const char *like, int64_t t, uint8_t *buf,
                      EntryList *touched, PhotoCtx *photos) {
        const char *slash = strrchr(like, '/');
        int dirlen = slash ? (int) (slash - like) : 0;
        char rel[PATH_MAX], bpath[PATH_MAX], twin[PATH_MAX];
        bool has_twin = false;
        struct stat st;
        int k;

        /* A new photo: the next free number, its ZASSET row, valid HEIC content. */
        if (strstr(like, "/DCIM/") && startswith(like, "CameraRollDomain/") && slash) {
                char folder[PATH_MAX];
                const char *f = strrchr(like, '/');

                for (f--; f > like && *f != '/'; f--)
                        ;
                snprintf(folder, sizeof(folder), "%.*s", (int) (slash - f - 1), f + 1);
                k = photo_add(photos, r, folder, true);
                return k < 0 ? k : 0;
        }

        for (unsigned attempt = 0;; attempt++) {
                uint64_t x = rng_next(r);

                if (attempt >= 1000)
                        return -EEXIST;
                if (strstr(like, "/Documents/") && startswith(like, "AppDomain-"))
                        k = snprintf(rel, sizeof(rel), "%.*s/New Note %08x.txt", dirlen, like,
                                     (unsigned) x);
                else
                        k = snprintf(rel, sizeof(rel), "%.*s%sadded-%016" PRIx64 ".dat", dirlen,
                                     like, slash ? "/" : "", x);
                if (k < 0 || (size_t) k >= sizeof(rel))
                        return -ENAMETOOLONG;
                if ((size_t) snprintf(bpath, sizeof(bpath), "backup/%s", rel) >= sizeof(bpath))
                        return -ENAMETOOLONG;
                if (fstatat(dfd, bpath, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        continue;
                if (errno != ENOENT)
                        return -errno;

                k = twin_path(rel, twin, sizeof(twin));
                if (k < 0)
                        return k;
                has_twin = false;
                if (k > 0) {
                        char tdir[PATH_MAX];
                        const char *ts = strrchr(twin, '/');

                        snprintf(tdir, sizeof(tdir), "%.*s", (int) (ts - twin), twin);
                        has_twin = fstatat(dfd, tdir, &st, 0) >= 0 && S_ISDIR(st.st_mode);
                        if (has_twin && fstatat(dfd, twin, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                                continue;
                }
                break;
        }

        if (has_twin) {
                k = write_content_at(dfd, twin, natural_size(r, SIZE_SMALL),
                                     content_seed(seed, rel), t, buf);
                if (k < 0)
                        return k;
                if (linkat(dfd, twin, dfd, bpath, 0) < 0)
                        return -errno;
                k = touch_parent(touched, twin);
        } else
                k = write_content_at(dfd, bpath, natural_size(r, SIZE_SMALL),
                                     content_seed(seed, rel), t, buf);
        if (k < 0)
                return k;
        return touch_parent(touched, bpath);
}

/**
 * profile_mutate: change the device's data the way a week of use would (the mutate
 * subcommand), deterministically.
 * @dir: the profile directory (borrowed).
 * @o: the options (borrowed).
 *
 * Works on the regular files under backup/, sorted by path; a PRNG seeded with o->seed
 * picks o->change + o->del distinct ones. The first o->change get new content whose size
 * differs from the old one by 1 byte to 10 %; the next o->del are removed. Then o->add new
 * files appear in directories of existing ones (new names). Twins stay consistent: a
 * backup file that is the same inode as its media/ or apps/ twin is replaced in both
 * places by one new inode (temporary file + rename, so open readers keep the old data),
 * or removed from both; a new file in a DCIM folder or app Documents gets its twin too.
 * Then the camera roll (--photos-*, profile-photos.c) and the app documents
 * (--documents-*, documents_mutate()), and photos.tsv and documents.tsv are rewritten.
 * The personal databases (those with a ground-truth JSON) are left out of the generic
 * --change/--delete/--add; --pim-change/--pim-add/--pim-delete go to every pim_*_mutate()
 * with the ProductVersion of device.ini, each rewriting its database and JSON, except
 * that contacts and calendars driven by mobilesync stores change in the stores
 * (ms_profile_mutate(), as a person on the phone), which then rewrite the databases.
 * New and changed files get mtimes after the newest one in backup/, and so do the
 * directories whose entries changed; the same tree and options give the same result.
 *
 * Returns 0 on success (printing nothing); -EINVAL if change + del exceeds the number of
 * files, or a --photos-* or --documents-* count exceeds what there is (checked before
 * anything changes, except that --delete may take documents --documents-* counted on), -ENOENT if
 * @dir has no backup/, another -errno on failure. Failures are logged.
 */
int profile_mutate(const char *dir, const MutateOptions *o) {
        _cleanup_(closep) int dfd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) size_t *perm = NULL;
        _cleanup_(entry_list_done) EntryList l = {}, touched = {};
        _cleanup_(photo_ctx_done) PhotoCtx photos = {};
        int64_t newest = BASE_TIME, t;
        const char *step = "listing backup/";
        uint64_t pick;
        Rng rng;
        int r;

        if (!dir || !o)
                return -EINVAL;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                log_warn("mutate: cannot open '%s': %s", dir, strerror(-r));
                return r;
        }
        r = list_tree(dfd, "backup", false, true, &l);
        if (r < 0)
                goto fail;
        /* The personal databases change only through --pim-*, below. */
        {
                size_t w = 0;

                for (size_t i = 0; i < l.n; i++) {
                        if (pim_file(dfd, l.e[i].path + strlen("backup/"))) {
                                free(l.e[i].path);
                                continue;
                        }
                        l.e[w++] = l.e[i];
                }
                l.n = w;
        }
        if (l.n > 0)
                qsort(l.e, l.n, sizeof(*l.e), entry_compare);

        pick = (uint64_t) o->change + o->del;
        if (pick > l.n) {
                log_warn("mutate: '%s' has %zu backup files, cannot change %u and delete %u",
                         dir, l.n, o->change, o->del);
                return -EINVAL;
        }

        buf = malloc(GEN_BUF_SIZE);
        perm = calloc(l.n ? l.n : 1, sizeof(*perm));
        if (!buf || !perm)
                return -ENOMEM;

        for (size_t i = 0; i < l.n; i++) {
                perm[i] = i;
                if (l.e[i].st.st_mtime > newest)
                        newest = l.e[i].st.st_mtime;
        }
        t = newest + 3600;

        step = "Photos.sqlite";
        r = photo_ctx_open(&photos, dir, dfd, o->seed, t, buf, &touched);
        if (r < 0)
                goto fail;
        if ((uint64_t) o->photos_rename + o->photos_move + o->photos_delete > photos.primaries) {
                log_warn("mutate: '%s' has %zu camera-roll items, cannot rename %u, move %u and "
                         "delete %u", dir, photos.primaries, o->photos_rename, o->photos_move,
                         o->photos_delete);
                return -EINVAL;
        }

        step = "documents";
        {
                size_t docs = 0, sharing = 0;

                r = documents_count(dir, dfd, &docs, &sharing);
                if (r < 0)
                        goto fail;
                if ((uint64_t) o->documents_change + o->documents_delete > docs ||
                    (o->documents_add > 0 && sharing == 0)) {
                        log_warn("mutate: '%s' has %zu documents in %zu apps with file sharing, "
                                 "cannot change %u, delete %u and add %u", dir, docs, sharing,
                                 o->documents_change, o->documents_delete, o->documents_add);
                        return -EINVAL;
                }
        }

        rng_init(&rng, o->seed ^ UINT64_C(0x6d7574617465));     /* "mutate" */
        for (size_t i = 0; i < pick; i++) {
                size_t j = i + (size_t) rng_range(&rng, l.n - i), x = perm[i];

                perm[i] = perm[j];
                perm[j] = x;
        }

        for (size_t i = 0; i < o->change; i++) {
                const Entry *e = &l.e[perm[i]];
                const char *rel = e->path + strlen("backup/");
                uint64_t old = (uint64_t) e->st.st_size, delta, size;
                char twin[PATH_MAX];
                MediaKind media;
                int64_t capture;
                int tw;

                step = e->path;
                delta = 1 + rng_range(&rng, old / 10 > 64 ? old / 10 : 64);
                size = (rng_next(&rng) & 1) && delta <= old ? old - delta : old + delta;

                tw = twin_of(dfd, rel, &e->st, twin, sizeof(twin));
                if (tw < 0) {
                        r = tw;
                        goto fail;
                }
                /* An edited photo stays a valid one, taken when it was. */
                media = startswith(rel, "CameraRollDomain/Media/DCIM/") ? media_kind_of(rel)
                                                                        : MEDIA_NONE;
                capture = e->st.st_mtime;
                if (media != MEDIA_NONE)
                        (void) media_read_capture(dfd, e->path, &capture);
                r = mutate_replace(dfd, e->path, tw ? twin : NULL, size,
                                   content_seed(o->seed ^ UINT64_C(0x6368616e6765), rel),
                                   t + (int64_t) rng_range(&rng, 3600), media, capture, buf);
                if (r >= 0)
                        r = touch_parent(&touched, e->path);
                if (r >= 0 && tw)
                        r = touch_parent(&touched, twin);
                if (r < 0)
                        goto fail;
        }

        for (size_t i = o->change; i < pick; i++) {
                const Entry *e = &l.e[perm[i]];
                char twin[PATH_MAX];
                int tw;

                step = e->path;
                tw = twin_of(dfd, e->path + strlen("backup/"), &e->st, twin, sizeof(twin));
                if (tw < 0) {
                        r = tw;
                        goto fail;
                }
                if (unlinkat(dfd, e->path, 0) < 0) {
                        r = -errno;
                        goto fail;
                }
                r = touch_parent(&touched, e->path);
                if (r >= 0 && tw) {
                        if (unlinkat(dfd, twin, 0) < 0 && errno != ENOENT)
                                r = -errno;
                        else
                                r = touch_parent(&touched, twin);
                }
                if (r < 0)
                        goto fail;
        }

        for (unsigned i = 0; i < o->add; i++) {
                const char *like = l.n > 0 ? l.e[rng_range(&rng, l.n)].path + strlen("backup/")
                                           : "HomeDomain/Library/Caches/x";

                step = "adding files";
                r = mutate_add(dfd, &rng, o->seed ^ UINT64_C(0x616464), like,
                               t + (int64_t) rng_range(&rng, 3600), buf, &touched, &photos);
                if (r < 0)
                        goto fail;
        }

        step = "the camera roll";
        r = photos_mutate_ops(&photos, &rng, o);
        if (r >= 0)
                r = photo_ctx_finish(&photos, &rng, t + 3600);
        if (r < 0)
                goto fail;

        step = "documents";
        r = documents_mutate(dir, dfd, o, t, buf, &touched);
        if (r >= 0)
                r = documents_write_tsv(dir, dfd, t + 3600, buf);
        if (r < 0)
                goto fail;

        step = "the personal databases";
        if (o->pim_change + o->pim_add + o->pim_delete > 0) {
                _cleanup_(device_info_freep) DeviceInfo *info = NULL;
                int (*const mutators[])(const char *, const char *, uint64_t, unsigned,
                                        unsigned, unsigned) = {
                        pim_contacts_mutate, pim_calendars_mutate, pim_bookmarks_mutate,
                        pim_notes_mutate, pim_recordings_mutate,
                };

                unsigned store_driven = 0;

                /* Contacts and calendars of a phone with mobilesync stores are those
                 * stores: the person edits them, the databases follow. */
                r = ms_profile_mutate(dir, o->seed, o->pim_change, o->pim_add, o->pim_delete,
                                      &store_driven);
                if (r >= 0)
                        r = profile_read_info(dir, &info);
                for (size_t i = 0; i < ELEMENTSOF(mutators) && r >= 0; i++) {
                        if ((i == 0 && (store_driven & MS_CONTACTS)) ||
                            (i == 1 && (store_driven & MS_CALENDARS)))
                                continue;
                        r = mutators[i](dir, info->ios, o->seed, o->pim_change, o->pim_add,
                                        o->pim_delete);
                }
                if (r < 0)
                        goto fail;
        }

        step = "the media library";
        if (o->media_add > 0) {
                r = itunes_add_songs(dir, o->seed, o->media_add);
                if (r < 0)
                        goto fail;
        }

        step = "directory times";
        for (size_t i = 0; i < touched.n; i++) {
                r = set_mtime_at(dfd, touched.e[i].path, t + 3600);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        log_warn("mutate: '%s': failed at %s: %s", dir, step, strerror(-r));
        return r;
}
