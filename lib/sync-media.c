/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Music, videos, books and ringtones, device → computer, add-only (sync-protocols.md §7).
 * iOS takes none of them from a computer except through AirTraffic (com.apple.atc, FairPlay),
 * so these categories only bring home what a computer once put on the phone.
 *
 * Music and videos: the phone's media library database, /iTunes_Control/iTunes/
 * MediaLibrary.sqlitedb, is copied with its -wal and -shm (the newest rows live in the WAL)
 * and read from the copy: `item` (media_type, track, disc, album), `item_extra` (title, the
 * file's name in `location`), `base_location` (the directory, relative to the AFC root:
 * "iTunes_Control/Music/F00"), `item_artist`, `album`, `album_artist`, and the album art in
 * `artwork_token`/`artwork` (a path below /iTunes_Control/iTunes/Artwork/Originals/). Table
 * and column names as published by open readers (ByeTunes MediaLibrary_Schema_Complete.md,
 * kluete/recover_itunes sqltunes.lua); a database without them is `unsupported`, never
 * "0 songs". media_type 16384 is a ringtone (left to the ringtones category), a type with a
 * bit of 0xff00 a video (256 movie, 512 TV show, 2048 music video, the rest home videos),
 * anything else audio (2 podcast, 4 audiobook, the rest songs). A row without a location
 * is in the cloud only (Apple Music, iCloud Music Library): counted, never a failure.
 * A FairPlay-protected file (its MP4 sample description is `drms`/`drmi`/`enca`/`encv` or
 * carries a `sinf` box) is listed in the result and not copied: it plays on no computer we
 * can authorise. Files are copied byte for byte (their own tags untouched) under names
 * made from the database's tags:
 *   music/<album artist>/<album>/<[disc-]track> <title>.<ext>   (+ cover.jpg per album)
 *   music/Podcasts/<show>/<title>.<ext>
 *   music/Audiobooks/<author>/<book>/<[disc-]track> <title>.<ext>
 *   videos/Movies/<title>.<ext>, videos/TV Shows/<show>/<[disc-]track> <title>.<ext>,
 *   videos/Music Videos/<artist> - <title>.<ext>, videos/Home Videos/<title>.<ext>
 *
 * Books: /Books/Books.plist and /Books/Purchases/Purchases.plist list {Name, Artist, Path}
 * with Path relative to the plist's directory. A PDF (or a packaged .epub) is copied; an
 * EPUB the phone keeps expanded (a directory) is zipped as the OCF specification wants it:
 * `mimetype` first, stored, the rest deflated (libzip), into books/<Name>.<ext>.
 *
 * Ringtones: the .m4r files of /iTunes_Control/Ringtones, named from /iTunes_Control/iTunes/
 * Ringtones.plist ({Ringtones: {<file>: {Name, "Protected Content"}}}) into
 * ringtones/<Name>.m4r.
 *
 * As for photos: a file whose size and mtime sync.db has for its device path is done; the
 * rest is received, hashed, and content the category already has is recorded as a duplicate;
 * Batch makes every write crash-safe, so an unplug leaves nothing under a final name and the
 * next run copies only what is missing. Every name and path from the device is checked: a
 * row or plist entry with an unsafe component is refused and counted, nothing is read
 * outside the paths it names and nothing written outside the category's directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zip.h>

#include "export.h"
#include "fs-util.h"
#include "macro.h"
#include "mp4.h"
#include "plist-util.h"
#include "sync-internal.h"
#include "util.h"

#define MEDIA_DB "/iTunes_Control/iTunes/MediaLibrary.sqlitedb"
#define MEDIA_DB_MAX (4ull << 30)
#define ARTWORK_DIR "iTunes_Control/iTunes/Artwork/Originals"    /* below the AFC root */
#define RINGTONES_PLIST "/iTunes_Control/iTunes/Ringtones.plist"
#define RINGTONES_DIR "/iTunes_Control/Ringtones"
#define PLIST_MAX (16u << 20)
#define MOOV_MAX (64u << 20)
#define EPUB_MEMBER_MAX (256u << 20)
#define EPUB_MAX (1ull << 30)

#define MEDIA_TYPE_PODCAST 2
#define MEDIA_TYPE_AUDIOBOOK 4
#define MEDIA_TYPE_MOVIE 256
#define MEDIA_TYPE_TV_SHOW 512
#define MEDIA_TYPE_MUSIC_VIDEO 2048
#define MEDIA_TYPE_RINGTONE 16384
#define MEDIA_TYPE_VIDEO_MASK 0xff00

/* ---- the media library database, read once per run for music and videos -------------- */

typedef struct MediaRow {
        char *device_path;                      /* NULL: in the cloud only, or refused */
        char *title, *artist, *album_artist, *album;
        int64_t media_type, album_pid;
        unsigned track, disc, disc_count;
        bool hostile;
} MediaRow;

typedef struct MediaArt {
        int64_t album_pid;
        char *device_path;
} MediaArt;

struct MediaLib {
        int error;                              /* the load's result, for the second caller */
        bool absent;                            /* no media library on the phone */
        char why[160];                          /* why it is unsupported */
        MediaRow *rows;
        size_t n, allocated;
        MediaArt *art;
        size_t n_art, art_allocated;
};

static char *column_dup(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);

        return t && t[0] ? strdup((const char *) t) : NULL;
}

static unsigned column_small(sqlite3_stmt *st, int i) {
        int64_t v = sqlite3_column_int64(st, i);

        return v > 0 && v < 10000 ? (unsigned) v : 0;
}

/* "iTunes_Control/Music/F00" + "ABCD.m4a" → "/iTunes_Control/Music/F00/ABCD.m4a", if every
 * component is a safe name. NULL with *hostile, or NULL alone on -ENOMEM. */
static char *device_path_of(const char *base, const char *name, bool *hostile) {
        _cleanup_free_ char *copy = NULL;
        char *path = NULL, *save = NULL;

        if (!sync_name_ok(name)) {
                *hostile = true;
                return NULL;
        }
        while (*base == '/')
                base++;
        copy = strdup(base);
        if (!copy)
                return NULL;
        if (!copy[0]) {
                *hostile = true;
                return NULL;
        }
        for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save))
                if (!sync_name_ok(p)) {
                        *hostile = true;
                        return NULL;
                }
        if (asprintf(&path, "/%s/%s", base, name) < 0)
                return NULL;
        return path;
}

static int medialib_rows(sqlite3 *db, struct MediaLib *lib) {
        /* The album artist of an item is its own (newer libraries) or its album's. */
#define MEDIA_QUERY(album_artist)                                                                \
        "SELECT item.media_type, item_extra.title, item_artist.item_artist, "                 \
        "album_artist.album_artist, album.album, item.track_number, item.disc_number, "       \
        "item_extra.disc_count, item_extra.location, base_location.path, item.album_pid "     \
        "FROM item JOIN item_extra ON item_extra.item_pid = item.item_pid "                   \
        "LEFT JOIN base_location ON base_location.base_location_id = item.base_location_id "  \
        "LEFT JOIN item_artist ON item_artist.item_artist_pid = item.item_artist_pid "        \
        "LEFT JOIN album ON album.album_pid = item.album_pid "                                \
        "LEFT JOIN album_artist ON album_artist.album_artist_pid = " album_artist
        static const char *const queries[] = {
                MEDIA_QUERY("COALESCE(NULLIF(item.album_artist_pid, 0), album.album_artist_pid)"),
                MEDIA_QUERY("album.album_artist_pid"),
        };
#undef MEDIA_QUERY
        sqlite3_stmt *st = NULL;
        int rc = SQLITE_ERROR, r = 0;

        for (size_t i = 0; i < ELEMENTSOF(queries) && rc != SQLITE_OK; i++)
                rc = sqlite3_prepare_v2(db, queries[i], -1, &st, NULL);
        if (rc != SQLITE_OK) {
                snprintf(lib->why, sizeof(lib->why),
                         "The phone's media library has a layout this version does not know "
                         "(%.80s).", sqlite3_errmsg(db));
                return IDS_E_UNSUPPORTED;
        }
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *location = (const char *) sqlite3_column_text(st, 8);
                const char *base = (const char *) sqlite3_column_text(st, 9);
                MediaRow *row;

                if (sync_grow((void **) &lib->rows, &lib->allocated, lib->n, sizeof(*lib->rows),
                              64) < 0) {
                        r = -ENOMEM;
                        break;
                }
                row = &lib->rows[lib->n++];
                *row = (MediaRow) {
                        .media_type = sqlite3_column_int64(st, 0),
                        .title = column_dup(st, 1),
                        .artist = column_dup(st, 2),
                        .album_artist = column_dup(st, 3),
                        .album = column_dup(st, 4),
                        .track = column_small(st, 5),
                        .disc = column_small(st, 6),
                        .disc_count = column_small(st, 7),
                        .album_pid = sqlite3_column_int64(st, 10),
                };
                if (location && location[0] && base && base[0]) {
                        row->device_path = device_path_of(base, location, &row->hostile);
                        if (!row->device_path && !row->hostile)
                                r = -ENOMEM;
                }
        }
        if (r == 0 && rc != SQLITE_DONE) {
                snprintf(lib->why, sizeof(lib->why), "The phone's media library cannot be read "
                         "(%.80s).", sqlite3_errmsg(db));
                r = IDS_E_UNSUPPORTED;
        }
        sqlite3_finalize(st);
        return r;
}

/* Album art: optional, a library without it is fine. */
static void medialib_art(sqlite3 *db, struct MediaLib *lib) {
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db, "SELECT artwork_token.entity_pid, artwork.relative_path "
                               "FROM artwork_token JOIN artwork ON artwork.artwork_token = "
                               "artwork_token.artwork_token WHERE artwork_token.entity_type = 1 "
                               "ORDER BY artwork_token.entity_pid", -1, &st, NULL) != SQLITE_OK)
                return;
        while (sqlite3_step(st) == SQLITE_ROW) {
                const char *rel = (const char *) sqlite3_column_text(st, 1);
                const char *slash = rel ? strchr(rel, '/') : NULL;
                char dir[4];
                bool hostile = false;
                MediaArt *a;

                /* "dd/0190…": two hex digits, one name */
                if (!slash || slash - rel != 2)
                        continue;
                memcpy(dir, rel, 2);
                dir[2] = 0;
                if (!sync_name_ok(dir) ||
                    sync_grow((void **) &lib->art, &lib->art_allocated, lib->n_art,
                              sizeof(*lib->art), 16) < 0)
                        continue;
                a = &lib->art[lib->n_art];
                a->album_pid = sqlite3_column_int64(st, 0);
                {
                        char base[sizeof(ARTWORK_DIR) + 4];

                        snprintf(base, sizeof(base), "%s/%s", ARTWORK_DIR, dir);
                        a->device_path = device_path_of(base, slash + 1, &hostile);
                }
                if (a->device_path)
                        lib->n_art++;
        }
        sqlite3_finalize(st);
}

static int medialib_load(SyncRun *run, afc_client_t afc, struct MediaLib *lib) {
        char tmp[FS_PATH_MAX];
        SyncFileInfo fi;
        sqlite3 *db = NULL;
        int r;

        r = sync_afc_stat(run, afc, MEDIA_DB, &fi);
        if (r == -ENOENT || (r == 0 && !fi.is_reg)) {
                lib->absent = true;
                return 0;
        }
        if (r != 0)
                return r;
        r = sync_afc_copy_db(run, afc, MEDIA_DB, MEDIA_DB_MAX, tmp);
        if (r == -ENOENT) {
                lib->absent = true;             /* gone between the two looks */
                return 0;
        }
        if (r != 0)
                return r;
        r = sync_open_db_copy(tmp, &db);
        if (r == -EIO) {
                snprintf(lib->why, sizeof(lib->why),
                         "The phone's media library (MediaLibrary.sqlitedb) is not a database.");
                r = IDS_E_UNSUPPORTED;
        }
        if (r == 0)
                r = medialib_rows(db, lib);
        if (r == 0)
                medialib_art(db, lib);
        sqlite3_close(db);
        (void) fs_rm_rf_at(AT_FDCWD, tmp);
        return r;
}

static int medialib_get(SyncRun *run, afc_client_t afc, struct MediaLib **ret) {
        if (!run->medialib) {
                run->medialib = calloc(1, sizeof(*run->medialib));
                if (!run->medialib)
                        return -ENOMEM;
                run->medialib->error = medialib_load(run, afc, run->medialib);
        }
        *ret = run->medialib;
        return run->medialib->error;
}

void sync_media_library_free(SyncRun *run) {
        struct MediaLib *lib = run->medialib;

        if (run->media_afc) {
                afc_client_free(run->media_afc);
                run->media_afc = NULL;
        }
        if (!lib)
                return;
        for (size_t i = 0; i < lib->n; i++) {
                MediaRow *row = &lib->rows[i];
                free(row->device_path);
                free(row->title);
                free(row->artist);
                free(row->album_artist);
                free(row->album);
        }
        for (size_t i = 0; i < lib->n_art; i++)
                free(lib->art[i].device_path);
        free(lib->rows);
        free(lib->art);
        free(lib);
        run->medialib = NULL;
}

/* ---- FairPlay: a protected MP4 ------------------------------------------------------------ */

static bool is_mp4_name(const char *name) {
        static const char *const ext[] = { "m4a", "m4p", "m4b", "m4v", "mp4", "mov", "m4r" };
        const char *dot = strrchr(name, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(ext); i++)
                if (strcasecmp(dot + 1, ext[i]) == 0)
                        return true;
        return false;
}

/* Read the top-level boxes of an MP4 on the device (seeking over mdat) and its moov. */
static int device_mp4_protected(SyncRun *run, afc_client_t afc, const char *path, uint64_t size,
                         bool *ret) {
        _cleanup_free_ uint8_t *moov = NULL;
        uint64_t h = 0, off = 0;
        afc_error_t e;
        int r = 0;

        *ret = false;
        e = afc_file_open(afc, path, AFC_FOPEN_RDONLY, &h);
        if (e != AFC_E_SUCCESS)
                return sync_afc_error(run, e);
        for (unsigned boxes = 0; r == 0 && boxes < 64 && off + 8 <= size; boxes++) {
                uint8_t head[16];
                uint32_t got = 0;
                uint64_t box;
                size_t head_len;

                e = afc_file_seek(afc, h, (int64_t) off, SEEK_SET);
                if (e == AFC_E_SUCCESS)
                        e = afc_file_read(afc, h, (char *) head, sizeof(head), &got);
                if (e != AFC_E_SUCCESS) {
                        r = sync_afc_error(run, e);
                        break;
                }
                if (!mp4_box_header(head, got, size - off, &box, &head_len))
                        break;                  /* not an MP4 we can read: not protected */
                if (memcmp(head + 4, "moov", 4) == 0) {
                        uint64_t done = 0;

                        if (box > MOOV_MAX)
                                break;
                        moov = malloc((size_t) box);
                        if (!moov) {
                                r = -ENOMEM;
                                break;
                        }
                        e = afc_file_seek(afc, h, (int64_t) off, SEEK_SET);
                        while (e == AFC_E_SUCCESS && done < box) {
                                uint32_t want = box - done > (1u << 20) ? 1u << 20 :
                                                                          (uint32_t) (box - done);
                                e = afc_file_read(afc, h, (char *) moov + done, want, &got);
                                if (e == AFC_E_SUCCESS && got == 0)
                                        break;
                                done += got;
                        }
                        if (e != AFC_E_SUCCESS)
                                r = sync_afc_error(run, e);
                        else if (done == box)
                                *ret = mp4_protected(moov, (size_t) box);
                        break;
                }
                off += box;
        }
        (void) afc_file_close(afc, h);
        return r;
}

/* ---- one category's files ------------------------------------------------------------------ */

typedef struct MediaFile {
        char *device_path;
        char *dir;                              /* below the category's root; "" = the root */
        char *name;
        char *title;                            /* for the list of what was not copied */
        uint64_t size;
        int64_t mtime_ns;
        bool known;
        bool epub_dir;                          /* an expanded EPUB: zipped on the way */
} MediaFile;

typedef struct Media {
        afc_client_t afc;                       /* run->media_afc, borrowed */
        MediaFile *files;
        size_t n, allocated;
        uint64_t cloud, missing, protected_count;
        char protected_titles[96];
        char why[160];                          /* unsupported: why */
        bool absent;
} Media;

typedef enum MediaCategory {
        MEDIA_MUSIC,
        MEDIA_VIDEOS,
        MEDIA_BOOKS,
        MEDIA_RINGTONES,
} MediaCategory;

static const char *const media_roots[] = {
        [MEDIA_MUSIC] = "music", [MEDIA_VIDEOS] = "videos",
        [MEDIA_BOOKS] = "books", [MEDIA_RINGTONES] = "ringtones",
};

static MediaCategory category_of(const SyncCat *c) {
        return (MediaCategory) (intptr_t) c->type->userdata;
}

static void safe(const char *s, const char *fallback, char *buf, size_t n) {
        export_safe_name(s && s[0] ? s : fallback, NULL, fallback, buf, n);
        if (!buf[0])
                snprintf(buf, n, "%s", fallback);
}

static void add_protected(Media *m, const char *title) {
        size_t len = strlen(m->protected_titles);

        m->protected_count++;
        if (title && len + strlen(title) + 3 < sizeof(m->protected_titles))
                snprintf(m->protected_titles + len, sizeof(m->protected_titles) - len, "%s%s",
                         len ? ", " : "", title);
}

static int epub_measure(SyncRun *run, afc_client_t afc, const char *path, uint64_t *ret_size,
                        int64_t *ret_mtime_ns);

static void media_file_done(MediaFile *f) {
        free(f->device_path);
        free(f->dir);
        free(f->name);
        free(f->title);
}

/* Add a file the device has (stat'ed now) under dir/name; -ENOENT is counted as missing. */
static int add_file(SyncRun *run, SyncCat *c, Media *m, const char *device_path,
                    const char *dir, const char *name, const char *title, bool check_drm) {
        SyncFileInfo fi;
        SyncItem it = {};
        MediaFile *f;
        int r;

        /* Books may be listed in both plists; the library's rows name a file each (two rows
         * naming one file would be fetched twice and kept once, by content). */
        for (size_t i = 0; !check_drm && i < m->n; i++)
                if (strcmp(m->files[i].device_path, device_path) == 0)
                        return 0;
        r = sync_afc_stat(run, m->afc, device_path, &fi);
        if (r == -ENOENT || (r == 0 && !fi.is_reg && !fi.is_dir)) {
                m->missing++;
                return 0;
        }
        if (r != 0)
                return r;
        if (sync_grow((void **) &m->files, &m->allocated, m->n, sizeof(*m->files), 64) < 0)
                return -ENOMEM;
        f = &m->files[m->n];
        *f = (MediaFile) { .size = fi.size, .mtime_ns = fi.mtime_ns, .epub_dir = fi.is_dir };
        f->device_path = strdup(device_path);
        f->dir = strdup(dir);
        f->name = strdup(name);
        f->title = strdup(title ?: name);
        if (!f->device_path || !f->dir || !f->name || !f->title) {
                media_file_done(f);
                return -ENOMEM;
        }
        m->n++;
        if (run->db) {
                bool found;

                r = sync_db_get(run->db, c->type->name, device_path, &it);
                if (r < 0)
                        return r;
                found = r > 0;
                if (found && fi.is_dir) {
                        /* An expanded EPUB: its files' total size and latest mtime. */
                        r = epub_measure(run, m->afc, device_path, &fi.size, &fi.mtime_ns);
                        if (r < 0 && r != -EFBIG && r != -ENOENT) {
                                sync_item_done(&it);
                                return r;
                        }
                        f->size = fi.size;
                        f->mtime_ns = fi.mtime_ns;
                }
                f->known = found && it.size == fi.size && it.mtime_ns == fi.mtime_ns;
                sync_item_done(&it);
        }
        if (!f->known && check_drm && fi.is_reg && is_mp4_name(name)) {
                bool prot = false;

                r = device_mp4_protected(run, m->afc, device_path, fi.size, &prot);
                if (r != 0)
                        return r == -ENOENT ? 0 : r;
                if (prot) {
                        add_protected(m, title);
                        m->n--;
                        media_file_done(f);
                }
        }
        run->p.files_total = m->n;
        sync_report(run, IDS_PHASE_SCANNING, m->n % 256 == 0);
        return 0;
}

/* "02 Title.m4a", "1-02 Title.m4a", "Title.m4a" */
static void track_name(const MediaRow *row, const char *title, const char *ext, char *buf,
                       size_t n) {
        char stem[512];

        if (row->track > 0 && row->disc_count > 1 && row->disc > 0)
                snprintf(stem, sizeof(stem), "%u-%02u %s", row->disc, row->track, title);
        else if (row->track > 0)
                snprintf(stem, sizeof(stem), "%02u %s", row->track, title);
        else
                snprintf(stem, sizeof(stem), "%s", title);
        export_safe_name(stem, ext, "Untitled", buf, n);
}

/* Where a row goes below the category's root. */
static void row_place(const MediaRow *row, char *dir, size_t dir_n, char *name, size_t name_n) {
        const char *slash = strrchr(row->device_path, '/');
        const char *dot = strrchr(slash, '.');
        char ext[16] = "", title[256], artist[256], album[256], who[256];
        int64_t t = row->media_type;

        if (dot && strlen(dot) < sizeof(ext))
                snprintf(ext, sizeof(ext), "%s", dot);
        {
                /* Without a title, the file's own name (its stem). */
                char stem[256];
                size_t len = dot ? (size_t) (dot - slash - 1) : strlen(slash + 1);

                snprintf(stem, sizeof(stem), "%.*s", (int) (len < 255 ? len : 255), slash + 1);
                safe(row->title, stem, title, sizeof(title));
        }
        safe(row->album_artist ?: row->artist, "Unknown Artist", who, sizeof(who));
        safe(row->artist ?: row->album_artist, "Unknown Artist", artist, sizeof(artist));
        safe(row->album, "Unknown Album", album, sizeof(album));

        if (t & MEDIA_TYPE_VIDEO_MASK) {
                char buf[520];

                if (t & MEDIA_TYPE_MOVIE) {
                        snprintf(dir, dir_n, "Movies");
                        export_safe_name(title, ext, "Untitled", name, name_n);
                } else if (t & MEDIA_TYPE_TV_SHOW) {
                        safe(row->album ?: row->artist, "Unknown Show", album, sizeof(album));
                        snprintf(dir, dir_n, "TV Shows/%s", album);
                        track_name(row, title, ext, name, name_n);
                } else if (t & MEDIA_TYPE_MUSIC_VIDEO) {
                        snprintf(dir, dir_n, "Music Videos");
                        snprintf(buf, sizeof(buf), "%s - %s", artist, title);
                        export_safe_name(buf, ext, "Untitled", name, name_n);
                } else {
                        snprintf(dir, dir_n, "Home Videos");
                        export_safe_name(title, ext, "Untitled", name, name_n);
                }
        } else if (t & MEDIA_TYPE_PODCAST) {
                safe(row->album, "Unknown Podcast", album, sizeof(album));
                snprintf(dir, dir_n, "Podcasts/%s", album);
                export_safe_name(title, ext, "Untitled", name, name_n);
        } else if (t & MEDIA_TYPE_AUDIOBOOK) {
                snprintf(dir, dir_n, "Audiobooks/%s/%s", who, album);
                track_name(row, title, ext, name, name_n);
        } else {
                snprintf(dir, dir_n, "%s/%s", who, album);
                track_name(row, title, ext, name, name_n);
        }
}

static bool row_in(const MediaRow *row, MediaCategory cat) {
        if (row->media_type == MEDIA_TYPE_RINGTONE)
                return false;
        return (row->media_type & MEDIA_TYPE_VIDEO_MASK) ? cat == MEDIA_VIDEOS : cat == MEDIA_MUSIC;
}

static int scan_library(SyncRun *run, SyncCat *c, Media *m, MediaCategory cat) {
        _cleanup_free_ bool *art_done = NULL;
        struct MediaLib *lib;
        int r;

        r = medialib_get(run, m->afc, &lib);
        if (r == IDS_E_UNSUPPORTED)
                snprintf(m->why, sizeof(m->why), "%s", lib->why);
        if (r != 0)
                return r;
        if (lib->absent) {
                m->absent = true;
                return 0;
        }
        art_done = calloc(lib->n_art + 1, sizeof(bool));
        if (!art_done)
                return -ENOMEM;
        for (size_t i = 0; i < lib->n; i++) {
                const MediaRow *row = &lib->rows[i];
                char dir[800], name[256];

                if (!row_in(row, cat))
                        continue;
                if (row->hostile) {
                        c->out->refused++;
                        continue;
                }
                if (!row->device_path) {
                        m->cloud++;
                        continue;
                }
                row_place(row, dir, sizeof(dir), name, sizeof(name));
                r = add_file(run, c, m, row->device_path, dir, name, row->title, true);
                if (r != 0)
                        return r;
                if (cat != MEDIA_MUSIC)
                        continue;
                /* The album's art beside it, once per album. */
                for (size_t k = 0; row->album_pid != 0 && k < lib->n_art; k++)
                        if (lib->art[k].album_pid == row->album_pid) {
                                if (!art_done[k]) {
                                        art_done[k] = true;
                                        r = add_file(run, c, m, lib->art[k].device_path, dir,
                                                     "cover.jpg", NULL, false);
                                        if (r != 0)
                                                return r;
                                }
                                break;
                        }
        }
        return sync_check_cancel(run);
}

/* ---- ringtones ------------------------------------------------------------------------------ */

typedef struct RingtoneScan {
        SyncCat *c;
        Media *m;
        plist_t names;                          /* the Ringtones dict, or NULL */
} RingtoneScan;

static int add_ringtone(SyncRun *run, const SyncEntry *e, void *userdata) {
        RingtoneScan *s = userdata;
        const char *dot = strrchr(e->name, '.');
        const char *title = NULL;
        char name[256], stem[256], label[256];
        plist_t info = s->names ? plist_dict_get_item(s->names, e->name) : NULL;

        if (!dot || strcasecmp(dot, ".m4r") != 0 || strchr(e->rel_path, '/'))
                return 0;
        if (info && plist_get_node_type(info) == PLIST_DICT) {
                plist_t n = plist_dict_get_item(info, "Name");
                plist_t p = plist_dict_get_item(info, "Protected Content");
                uint8_t prot = 0;

                if (n && plist_get_node_type(n) == PLIST_STRING)
                        title = plist_get_string_ptr(n, NULL);
                if (p && plist_get_node_type(p) == PLIST_BOOLEAN)
                        plist_get_bool_val(p, &prot);
                if (prot) {
                        add_protected(s->m, title ?: e->name);
                        return 0;
                }
        }
        snprintf(stem, sizeof(stem), "%.*s", (int) (dot - e->name), e->name);
        safe(title, stem, label, sizeof(label));
        export_safe_name(label, ".m4r", "Ringtone", name, sizeof(name));
        return add_file(run, s->c, s->m, e->device_path, "", name, title ?: stem, false);
}

/* The plist's file names that are not safe names: counted as refused. */
static int count_bad_key(const char *key, plist_t value, void *userdata) {
        if (!sync_name_ok(key))
                (*(uint64_t *) userdata)++;
        return 0;
}

static int scan_ringtones(SyncRun *run, SyncCat *c, Media *m) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_(plist_freep) plist_t root = NULL;
        RingtoneScan s = { .c = c, .m = m };
        size_t len = 0;
        int r;

        r = sync_afc_read_all(run, m->afc, RINGTONES_PLIST, PLIST_MAX, &buf, &len);
        if (r != 0 && r != -ENOENT && r != -EFBIG)
                return r;
        if (r == 0 && len > 0 && len < UINT32_MAX)
                plist_from_memory(buf, (uint32_t) len, &root);
        if (root && plist_get_node_type(root) == PLIST_DICT && plist_dict_keys_safe(root)) {
                s.names = plist_dict_get_item(root, "Ringtones");
                if (s.names && plist_get_node_type(s.names) != PLIST_DICT)
                        s.names = NULL;
                if (s.names)
                        (void) plist_dict_foreach(s.names, count_bad_key, &c->out->refused);
        }
        r = sync_afc_walk(run, m->afc, RINGTONES_DIR, 0, &c->out->refused, add_ringtone, &s);
        if (r == -ENOENT) {
                m->absent = true;
                r = 0;
        }
        return r;
}

/* ---- books ----------------------------------------------------------------------------------- */

static int scan_book_list(SyncRun *run, SyncCat *c, Media *m, const char *plist_path,
                          const char *base) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_(plist_freep) plist_t root = NULL;
        plist_t books;
        size_t len = 0;
        int r;

        r = sync_afc_read_all(run, m->afc, plist_path, PLIST_MAX, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG) {
                c->out->refused++;
                return 0;
        }
        if (r != 0)
                return r;
        m->absent = false;
        if (len > 0 && len < UINT32_MAX)
                plist_from_memory(buf, (uint32_t) len, &root);
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return 0;
        books = plist_dict_get_item(root, "Books");
        if (!books || plist_get_node_type(books) != PLIST_ARRAY)
                return 0;
        for (uint32_t i = 0; i < plist_array_get_size(books); i++) {
                plist_t b = plist_array_get_item(books, i), p, n;
                _cleanup_free_ char *device_path = NULL;
                const char *path, *slash, *dot, *title = NULL;
                char name[256], stem[256], label[256], ext[16];
                bool hostile = false;

                if (!b || plist_get_node_type(b) != PLIST_DICT)
                        continue;
                p = plist_dict_get_item(b, "Path");
                n = plist_dict_get_item(b, "Name");
                if (!p || plist_get_node_type(p) != PLIST_STRING)
                        continue;
                path = plist_get_string_ptr(p, NULL);
                if (n && plist_get_node_type(n) == PLIST_STRING)
                        title = plist_get_string_ptr(n, NULL);
                if (!path || !path[0] || path[0] == '/') {
                        c->out->refused++;
                        continue;
                }
                /* Path may have directories of its own ("Sub/Book.pdf"): each checked. */
                slash = strrchr(path, '/');
                {
                        _cleanup_free_ char *dir = NULL;

                        if (slash) {
                                dir = strndup(path, (size_t) (slash - path));
                                if (!dir)
                                        return -ENOMEM;
                        }
                        if (dir) {
                                char full[FS_PATH_MAX];
                                snprintf(full, sizeof(full), "%s/%s", base + 1, dir);
                                device_path = device_path_of(full, slash + 1, &hostile);
                        } else
                                device_path = device_path_of(base + 1, path, &hostile);
                }
                if (hostile) {
                        c->out->refused++;
                        continue;
                }
                if (!device_path)
                        return -ENOMEM;
                slash = strrchr(device_path, '/') + 1;
                dot = strrchr(slash, '.');
                if (!dot || strlen(dot) >= sizeof(ext) || dot == slash) {
                        c->out->refused++;      /* neither an .epub nor a .pdf */
                        continue;
                }
                snprintf(ext, sizeof(ext), "%s", dot);
                for (char *q = ext; *q; q++)
                        if (*q >= 'A' && *q <= 'Z')
                                *q = (char) (*q - 'A' + 'a');
                snprintf(stem, sizeof(stem), "%.*s", (int) (dot - slash), slash);
                safe(title, stem, label, sizeof(label));
                export_safe_name(label, ext, "Book", name, sizeof(name));
                r = add_file(run, c, m, device_path, "", name, title ?: stem, false);
                if (r != 0)
                        return r;
                if (m->n > 0 && strcmp(m->files[m->n - 1].device_path, device_path) == 0 &&
                    m->files[m->n - 1].epub_dir && strcmp(ext, ".epub") != 0) {
                        /* a directory that is no EPUB: nothing to bring home */
                        MediaFile *f = &m->files[--m->n];
                        media_file_done(f);
                        c->out->refused++;
                }
        }
        return 0;
}

static int scan_books(SyncRun *run, SyncCat *c, Media *m) {
        int r;

        m->absent = true;
        r = scan_book_list(run, c, m, "/Books/Books.plist", "/Books");
        if (r == 0)
                r = scan_book_list(run, c, m, "/Books/Purchases/Purchases.plist",
                                   "/Books/Purchases");
        return r;
}

/* An expanded EPUB: its files (below the directory), their total size and latest mtime. */
typedef struct EpubMember {
        char *device_path;
        char *rel_path;
        uint64_t size;
        int64_t mtime_ns;
} EpubMember;

typedef struct Epub {
        SyncRun *run;
        afc_client_t afc;
        EpubMember *members;
        size_t n, allocated;
        uint64_t total;
        int64_t mtime_ns;
} Epub;

static int add_member(SyncRun *run, const SyncEntry *e, void *userdata) {
        Epub *ep = userdata;
        EpubMember *mb;

        if (sync_grow((void **) &ep->members, &ep->allocated, ep->n, sizeof(*ep->members), 16) < 0)
                return -ENOMEM;
        mb = &ep->members[ep->n];
        mb->device_path = strdup(e->device_path);
        mb->rel_path = strdup(e->rel_path);
        if (!mb->device_path || !mb->rel_path) {
                free(mb->device_path);
                free(mb->rel_path);
                return -ENOMEM;
        }
        mb->size = e->size;
        mb->mtime_ns = e->mtime_ns;
        ep->n++;
        ep->total += e->size;
        if (e->mtime_ns > ep->mtime_ns)
                ep->mtime_ns = e->mtime_ns;
        return ep->total > EPUB_MAX ? -EFBIG : 0;
}

static void epub_done(Epub *ep) {
        for (size_t i = 0; i < ep->n; i++) {
                free(ep->members[i].device_path);
                free(ep->members[i].rel_path);
        }
        free(ep->members);
}

static int epub_measure(SyncRun *run, afc_client_t afc, const char *path, uint64_t *ret_size,
                        int64_t *ret_mtime_ns) {
        Epub ep = { .run = run, .afc = afc };
        uint64_t refused = 0;
        int r;

        r = sync_afc_walk(run, afc, path, 8, &refused, add_member, &ep);
        *ret_size = ep.total;
        *ret_mtime_ns = ep.mtime_ns;
        epub_done(&ep);
        return r;
}

/* `mimetype` first (the OCF rule: readers find "application/epub+zip" at byte 38), then
 * the rest in name order, so the same book always makes the same bytes. */
static int compare_members(const void *a, const void *b) {
        const EpubMember *x = a, *y = b;
        bool mx = strcmp(x->rel_path, "mimetype") == 0, my = strcmp(y->rel_path, "mimetype") == 0;

        if (mx != my)
                return mx ? -1 : 1;
        return strcmp(x->rel_path, y->rel_path);
}

/* Zip the members into fd with libzip: built in memory (a book is small), then written. */
static int epub_fill(int fd, void *userdata) {
        Epub *ep = userdata;
        zip_error_t ze;
        zip_source_t *out;
        zip_t *z;
        int r = 0;

        zip_error_init(&ze);
        out = zip_source_buffer_create(NULL, 0, 0, &ze);
        if (!out)
                return -ENOMEM;
        z = zip_open_from_source(out, ZIP_CREATE | ZIP_TRUNCATE, &ze);
        if (!z) {
                zip_source_free(out);
                zip_error_fini(&ze);
                return -ENOMEM;
        }
        zip_source_keep(out);
        for (size_t i = 0; r == 0 && i < ep->n; i++) {
                const EpubMember *mb = &ep->members[i];
                bool mimetype = strcmp(mb->rel_path, "mimetype") == 0;
                char *data = NULL;
                size_t len = 0;
                zip_source_t *src;
                zip_int64_t idx;

                r = sync_afc_read_all(ep->run, ep->afc, mb->device_path, EPUB_MEMBER_MAX, &data,
                                      &len);
                if (r != 0)
                        break;
                src = zip_source_buffer(z, data, len, 1);
                if (!src) {
                        free(data);
                        r = -ENOMEM;
                        break;
                }
                idx = zip_file_add(z, mb->rel_path, src, ZIP_FL_ENC_UTF_8);
                if (idx < 0) {
                        zip_source_free(src);
                        r = -EINVAL;
                        break;
                }
                if (zip_set_file_compression(z, (zip_uint64_t) idx,
                                             mimetype ? ZIP_CM_STORE : ZIP_CM_DEFLATE, 0) < 0 ||
                    zip_file_set_mtime(z, (zip_uint64_t) idx,
                                       (time_t) (mb->mtime_ns / 1000000000), 0) < 0)
                        r = -EINVAL;
                ep->run->p.bytes_done += len;
                sync_report(ep->run, IDS_PHASE_COPYING, false);
        }
        if (r != 0) {
                zip_discard(z);
                zip_source_free(out);
                zip_error_fini(&ze);
                return r;
        }
        if (zip_close(z) < 0) {
                zip_discard(z);
                zip_source_free(out);
                zip_error_fini(&ze);
                return -EIO;
        }
        if (zip_source_open(out) < 0)
                r = -EIO;
        while (r == 0) {
                char buf[65536];
                zip_int64_t got = zip_source_read(out, buf, sizeof(buf));

                if (got < 0)
                        r = -EIO;
                else if (got == 0)
                        break;
                else
                        r = fs_write_all(fd, buf, (size_t) got);
        }
        (void) zip_source_close(out);
        zip_source_free(out);
        zip_error_fini(&ze);
        return r;
}

static int fetch_epub(SyncRun *run, Batch *b, Media *m, MediaFile *f, BatchFile **ret) {
        Epub ep = { .run = run, .afc = m->afc };
        uint64_t refused = 0;
        bool has_mimetype = false;
        int r;

        r = sync_afc_walk(run, m->afc, f->device_path, 8, &refused, add_member, &ep);
        for (size_t i = 0; r == 0 && i < ep.n; i++)
                has_mimetype |= strcmp(ep.members[i].rel_path, "mimetype") == 0;
        if (r == 0 && (!has_mimetype || refused > 0))
                r = -EBADMSG;                   /* not an EPUB, or names we will not carry */
        if (r == 0) {
                qsort_safe(ep.members, ep.n, sizeof(*ep.members), compare_members);
                r = batch_add_tmp(b, f->device_path, ep.total, ep.mtime_ns, epub_fill, &ep, ret);
        }
        epub_done(&ep);
        return r;
}

/* ---- the four steps ------------------------------------------------------------------------ */

static const char *media_mode(const ids_sync_options *o, MediaCategory cat) {
        ids_sync_media v = cat == MEDIA_MUSIC  ? o->music :
                           cat == MEDIA_VIDEOS ? o->videos :
                           cat == MEDIA_BOOKS  ? o->books :
                                                 o->ringtones;
        return v == IDS_SYNC_MEDIA_IMPORT ? "import" : "no";
}

static const char *music_mode(const ids_sync_options *o) {
        return media_mode(o, MEDIA_MUSIC);
}
static const char *videos_mode(const ids_sync_options *o) {
        return media_mode(o, MEDIA_VIDEOS);
}
static const char *books_mode(const ids_sync_options *o) {
        return media_mode(o, MEDIA_BOOKS);
}
static const char *ringtones_mode(const ids_sync_options *o) {
        return media_mode(o, MEDIA_RINGTONES);
}

static int media_scan_device(SyncRun *run, SyncCat *c) {
        Media *m = calloc(1, sizeof(*m));
        MediaCategory cat = category_of(c);
        int r;

        if (!m)
                return -ENOMEM;
        c->state = m;
        /* One connection serves the four categories (a service start each would cost a
         * lockdown round trip on every sync, media or not). */
        if (!run->media_afc) {
                r = sync_afc_connect(run, AFC_SERVICE_NAME, &run->media_afc);
                if (r != 0)
                        return r;
        }
        m->afc = run->media_afc;
        switch (cat) {
        case MEDIA_MUSIC:
        case MEDIA_VIDEOS: r = scan_library(run, c, m, cat); break;
        case MEDIA_BOOKS: r = scan_books(run, c, m); break;
        case MEDIA_RINGTONES: r = scan_ringtones(run, c, m); break;
        }
        if (r == IDS_E_UNSUPPORTED)
                snprintf(c->out->reason, sizeof(c->out->reason), "%s", m->why);
        return r;
}

/* The category's note: what was not copied, and why. */
static void media_reason(SyncCat *c, Media *m) {
        static const char *const nothing[] = {
                [MEDIA_MUSIC] = "No music on the phone was put there by a computer",
                [MEDIA_VIDEOS] = "No videos on the phone were put there by a computer",
                [MEDIA_BOOKS] = "No books on the phone",
                [MEDIA_RINGTONES] = "No ringtones on the phone",
        };
        MediaCategory cat = category_of(c);
        char *buf = c->out->reason;
        size_t n = sizeof(c->out->reason), len = 0;

        buf[0] = 0;
        if (m->absent && m->n == 0)
                len += (size_t) snprintf(buf + len, n - len, "%s. ", nothing[cat]);
        if (m->protected_count > 0 && len < n)
                len += (size_t) snprintf(buf + len, n - len,
                                         "%" PRIu64 " protected (DRM) item%s not copied: %s. ",
                                         m->protected_count, m->protected_count == 1 ? "" : "s",
                                         m->protected_titles);
        if (m->cloud > 0 && len < n)
                len += (size_t) snprintf(buf + len, n - len,
                                         "%" PRIu64 " item%s in the cloud only. ", m->cloud,
                                         m->cloud == 1 ? " is" : "s are");
        if (m->missing > 0 && len < n)
                len += (size_t) snprintf(buf + len, n - len,
                                         "%" PRIu64 " listed but not on the phone. ", m->missing);
        if (cat == MEDIA_MUSIC && len < n)
                len += (size_t) snprintf(buf + len, n - len,
                                         "Store purchases and Apple Music downloads live in the "
                                         "Music app's container, which a computer cannot reach.");
        else if (cat == MEDIA_VIDEOS && len < n)
                len += (size_t) snprintf(buf + len, n - len,
                                         "Store purchases and TV app downloads live in the TV "
                                         "app's container, which a computer cannot reach.");
        while (len > 0 && len < n && buf[len - 1] == ' ')
                buf[--len] = 0;
}

static int media_plan(SyncRun *run, SyncCat *c) {
        Media *m = c->state;
        uint64_t files = 0, bytes = 0;

        for (size_t i = 0; i < m->n; i++)
                if (!m->files[i].known) {
                        files++;
                        bytes += m->files[i].size;
                }
        c->out->files_in = files;
        c->out->bytes_in = bytes;
        media_reason(c, m);
        run->p.files_total = files;
        run->p.bytes_total = bytes;
        run->p.files_done = 0;
        return 0;
}

static int apply_file(SyncRun *run, Batch *b, Media *m, MediaFile *f) {
        _cleanup_free_ char *existing = NULL;
        SyncEntry e = { .device_path = f->device_path, .name = f->name, .size = f->size,
                        .mtime_ns = f->mtime_ns };
        BatchFile *bf;
        int r;

        r = f->epub_dir ? fetch_epub(run, b, m, f, &bf) : batch_fetch(b, m->afc, &e, &bf);
        if (r == -EAGAIN || r == -ENOENT || r == -EBADMSG || r == -EFBIG) {
                ids_debug("%s: %s changed, vanished or cannot be carried (%s); skipped",
                          b->category, f->device_path, strerror(-r));
                return 0;
        }
        if (r != 0)
                return r;
        run->p.files_done++;
        bf->group = batch_new_group(b);
        r = sync_db_find_hash(run->db, b->category, bf->item.hash, &existing);
        if (r < 0)
                return r;
        if (r > 0)
                return batch_mark_duplicate(b, bf, existing);
        if (batch_dedup_within(b, bf))
                return 0;
        bf->name = strdup(f->name);
        bf->dir = strdup(f->dir);
        return bf->name && bf->dir ? 0 : -ENOMEM;
}

static int media_apply(SyncRun *run, SyncCat *c) {
        Media *m = c->state;
        Batch b;
        const char *root = media_roots[category_of(c)];
        int r;

        if (c->out->files_in == 0)
                return 0;
        r = batch_open(&b, run, c, root);
        if (r != 0)
                return r;
        for (size_t i = 0; i < m->n && r == 0; i++) {
                if (m->files[i].known)
                        continue;
                r = apply_file(run, &b, m, &m->files[i]);
                if (r == 0)
                        r = sync_check_cancel(run);
                if (r == 0 && batch_full(&b))
                        r = batch_commit(&b);
        }
        return batch_finish(&b, r, c->out);
}

static void media_free(SyncCat *c) {
        Media *m = c->state;

        if (!m)
                return;
        for (size_t i = 0; i < m->n; i++) {
                media_file_done(&m->files[i]);
        }
        free(m->files);
        free(m);
        c->state = NULL;
}

#define MEDIA_TYPE(cat, nm, mode_fn)                                                          \
        {                                                                                     \
                .name = nm, .mode = mode_fn, .scan_device = media_scan_device,                \
                .plan = media_plan, .apply = media_apply, .free_state = media_free,           \
                .userdata = (const void *) (intptr_t) (cat),                                  \
        }

const SyncCategoryType sync_category_music = MEDIA_TYPE(MEDIA_MUSIC, "music", music_mode);
const SyncCategoryType sync_category_videos = MEDIA_TYPE(MEDIA_VIDEOS, "videos", videos_mode);
const SyncCategoryType sync_category_books = MEDIA_TYPE(MEDIA_BOOKS, "books", books_mode);
const SyncCategoryType sync_category_ringtones =
        MEDIA_TYPE(MEDIA_RINGTONES, "ringtones", ringtones_mode);
