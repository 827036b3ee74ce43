/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a computer once synced to the phone, as the AFC service shows it (gen-profile
 * --media): music and videos under /iTunes_Control/Music/Fnn/ described by
 * /iTunes_Control/iTunes/MediaLibrary.sqlitedb, album art under
 * /iTunes_Control/iTunes/Artwork/Originals/, ringtones with Ringtones.plist, and books
 * under /Books/ with Books.plist and Purchases/Purchases.plist. Written from published
 * facts (sync-protocols.md §7; the table and column names of ByeTunes'
 * MediaLibrary_Schema_Complete.md and kluete/recover_itunes' sqltunes.lua), never from
 * lib/.
 *
 * The files are small valid ISO-BMFF files: ftyp, moov (trak/mdia/minf/stbl/stsd with one
 * sample entry: mp4a or avc1; protected items carry `drms`/`drmi` with a `sinf` box, as
 * FairPlay writes them; udta/meta/ilst with the title, artist and album) and mdat padding.
 * The videos put moov after mdat, as many encoders do, so a reader has to seek.
 * The database is in WAL mode and the last song's rows are only in its -wal file.
 *
 * The truth, DIR/media.json: {"items": [ {category, device_path, title, artist,
 * album_artist, album, track, disc, media_type, protected, cloud, hostile, size, sha256,
 * members: [{path, sha256}] (an expanded EPUB)} … ]}. Facts only: the host's names are
 * the host's business.
 */
#include <openssl/evp.h>
#include <plist/plist.h>

#include "profile-internal.h"
#include "profile-itunes.h"

#define MUSIC_DIR "media/iTunes_Control/Music"
#define ITUNES_DIR "media/iTunes_Control/iTunes"
#define DB_NAME "MediaLibrary.sqlitedb"
#define BASE_LOCATION 3840
#define RINGTONE_LOCATION 3900
#define HOSTILE_LOCATION 3999

static const char *const artists[] = {"Anna Falk", "Bo Lind", "\xc3\x86r\xc3\xb8 Band",
                                      "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e Band"};
static const char *const albums[] = {"First Light", "Second Wind", "AC/DC Tribute"};
static const char *const words[] = {"Morning", "River",  "Glass",  "Stone", "Paper",
                                    "Harbor",  "Signal", "Winter", "Echo",  "Lantern"};

typedef struct Truth {
        char *text;
        size_t len, allocated;
} Truth;

static int truth_add(Truth *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int truth_add(Truth *t, const char *fmt, ...) {
        va_list ap;
        int n;

        for (;;) {
                va_start(ap, fmt);
                n = vsnprintf(t->text ? t->text + t->len : NULL, t->allocated - t->len, fmt, ap);
                va_end(ap);
                if (n < 0)
                        return -EINVAL;
                if (t->text && (size_t) n < t->allocated - t->len)
                        break;
                {
                        size_t want = (t->allocated + (size_t) n + 1) * 2;
                        char *p = realloc(t->text, want);
                        if (!p)
                                return -ENOMEM;
                        t->text = p;
                        t->allocated = want;
                }
        }
        t->len += (size_t) n;
        return 0;
}

/* A JSON string (quotes included). */
static int truth_str(Truth *t, const char *s) {
        int r = truth_add(t, "\"");

        for (; r == 0 && s && *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        r = truth_add(t, "\\%c", c);
                else if (c < 0x20)
                        r = truth_add(t, "\\u%04x", c);
                else
                        r = truth_add(t, "%c", c);
        }
        return r ?: truth_add(t, "\"");
}

typedef struct Item {
        const char *category, *title, *artist, *album_artist, *album;
        char device_path[256];
        unsigned track, disc;
        int64_t media_type;
        bool protected, cloud, hostile;
} Item;

static int truth_item(Truth *t, const Item *it, int dfd, uint8_t *buf, const char *members) {
        char hex[65] = "";
        uint64_t size = 0;
        int r = 0;

        if (!it->cloud && !it->hostile && !members) {
                char rel[300];
                snprintf(rel, sizeof(rel), "media%s", it->device_path);
                r = sha256_file_at(dfd, rel, buf, hex, &size);
                if (r < 0)
                        return r;
        }
        r = truth_add(t, "%s{\"category\": ", t->len > 12 ? ",\n" : "");
        r = r ?: truth_str(t, it->category);
        r = r ?: truth_add(t, ", \"device_path\": ");
        r = r ?: truth_str(t, it->device_path);
        r = r ?: truth_add(t, ", \"title\": ");
        r = r ?: truth_str(t, it->title);
        r = r ?: truth_add(t, ", \"artist\": ");
        r = r ?: truth_str(t, it->artist);
        r = r ?: truth_add(t, ", \"album_artist\": ");
        r = r ?: truth_str(t, it->album_artist);
        r = r ?: truth_add(t, ", \"album\": ");
        r = r ?: truth_str(t, it->album);
        r = r
                    ?: truth_add(t,
                                 ", \"track\": %u, \"disc\": %u, \"media_type\": %" PRId64
                                 ", \"protected\": %s, \"cloud\": %s, \"hostile\": %s, \"size\": "
                                 "%" PRIu64 ", \"sha256\": \"%s\"",
                                 it->track, it->disc, it->media_type,
                                 it->protected ? "true" : "false", it->cloud ? "true" : "false",
                                 it->hostile ? "true" : "false", size, hex);
        if (members)
                r = r ?: truth_add(t, ", \"members\": [%s]", members);
        return r ?: truth_add(t, "}");
}

/* ---- ISO-BMFF ------------------------------------------------------------------------ */

typedef struct Box {
        uint8_t *d;
        size_t n, allocated;
} Box;

static int box_put(Box *b, const void *p, size_t n) {
        if (b->n + n > b->allocated) {
                size_t want = (b->n + n) * 2 + 256;
                uint8_t *q = realloc(b->d, want);
                if (!q)
                        return -ENOMEM;
                b->d = q;
                b->allocated = want;
        }
        memcpy(b->d + b->n, p, n);
        b->n += n;
        return 0;
}

static int box_u32(Box *b, uint32_t v) {
        uint8_t x[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v};
        return box_put(b, x, 4);
}

static size_t box_open(Box *b, const char *type) {
        size_t at = b->n;

        (void) box_u32(b, 0);
        (void) box_put(b, type, 4);
        return at;
}

static void box_close(Box *b, size_t at) {
        uint32_t size = (uint32_t) (b->n - at);

        if (!b->d || at + 4 > b->n)
                return;
        b->d[at] = (uint8_t) (size >> 24);
        b->d[at + 1] = (uint8_t) (size >> 16);
        b->d[at + 2] = (uint8_t) (size >> 8);
        b->d[at + 3] = (uint8_t) size;
}

static void ilst_text(Box *b, const char *type, const char *text) {
        size_t tag = box_open(b, type), data = box_open(b, "data");

        (void) box_u32(b, 1); /* UTF-8 */
        (void) box_u32(b, 0); /* locale */
        (void) box_put(b, text ?: "", strlen(text ?: ""));
        box_close(b, data);
        box_close(b, tag);
}

static void moov_build(Box *b, bool video, bool protected, const Item *it) {
        static const uint8_t zeros[78];
        size_t moov = box_open(b, "moov"), s, trak, mdia, minf, stbl, stsd, e, udta, meta, ilst;

        s = box_open(b, "mvhd");
        (void) box_put(b, zeros, 20);
        box_close(b, s);
        trak = box_open(b, "trak");
        mdia = box_open(b, "mdia");
        minf = box_open(b, "minf");
        stbl = box_open(b, "stbl");
        stsd = box_open(b, "stsd");
        (void) box_u32(b, 0);
        (void) box_u32(b, 1);
        e = box_open(b, protected ? (video ? "drmi" : "drms") : (video ? "avc1" : "mp4a"));
        (void) box_put(b, zeros, video ? 78 : 28);
        if (protected) {
                size_t sinf = box_open(b, "sinf"), frma = box_open(b, "frma"), schm, schi;
                (void) box_put(b, video ? "avc1" : "mp4a", 4);
                box_close(b, frma);
                schm = box_open(b, "schm");
                (void) box_u32(b, 0);
                (void) box_put(b, "itun", 4);
                (void) box_u32(b, 0);
                box_close(b, schm);
                schi = box_open(b, "schi");
                (void) box_put(b, zeros, 16);
                box_close(b, schi);
                box_close(b, sinf);
        }
        box_close(b, e);
        box_close(b, stsd);
        box_close(b, stbl);
        box_close(b, minf);
        box_close(b, mdia);
        box_close(b, trak);
        udta = box_open(b, "udta");
        meta = box_open(b, "meta");
        (void) box_u32(b, 0);
        s = box_open(b, "hdlr");
        (void) box_u32(b, 0);
        (void) box_u32(b, 0);
        (void) box_put(b, "mdirappl", 8);
        (void) box_put(b, zeros, 9);
        box_close(b, s);
        ilst = box_open(b, "ilst");
        ilst_text(b, "\xa9nam", it->title);
        ilst_text(b,
                  "\xa9"
                  "ART",
                  it->artist);
        ilst_text(b,
                  "\xa9"
                  "alb",
                  it->album);
        box_close(b, ilst);
        box_close(b, meta);
        box_close(b, udta);
        box_close(b, moov);
}

/* An MP4 of size bytes at media<device_path>. */
static int write_mp4(int dfd, const Item *it, bool video, uint64_t size, Rng *r, uint8_t *buf) {
        _cleanup_(freep) uint8_t *head = NULL;
        Box b = {}, moov = {};
        char rel[300];
        _cleanup_(closep) int fd = -EBADF;
        uint64_t pad;
        size_t s;
        int k;

        snprintf(rel, sizeof(rel), "media%s", it->device_path);
        s = box_open(&b, "ftyp");
        (void) box_put(&b, video ? "M4V " : (it->protected ? "M4P " : "M4A "), 4);
        (void) box_u32(&b, 0);
        (void) box_put(&b, "isommp42", 8);
        box_close(&b, s);
        moov_build(&moov, video, it->protected, it);
        if (!b.d || !moov.d) {
                free(b.d);
                free(moov.d);
                return -ENOMEM;
        }
        pad = size > b.n + moov.n + 8 ? size - b.n - moov.n - 8 : 0;
        if (!video)
                (void) box_put(&b, moov.d, moov.n);
        head = b.d;
        fd = create_at(dfd, rel);
        if (fd < 0) {
                free(moov.d);
                return fd;
        }
        k = write_all(fd, b.d, b.n);
        if (k == 0) {
                uint8_t h[8] = {(uint8_t) ((pad + 8) >> 24),
                                (uint8_t) ((pad + 8) >> 16),
                                (uint8_t) ((pad + 8) >> 8),
                                (uint8_t) (pad + 8),
                                'm',
                                'd',
                                'a',
                                't'};
                k = write_all(fd, h, 8);
        }
        while (k == 0 && pad > 0) {
                size_t n = pad > GEN_BUF_SIZE ? GEN_BUF_SIZE : (size_t) pad;
                rng_fill(r, buf, n);
                k = write_all(fd, buf, n);
                pad -= n;
        }
        if (k == 0 && video)
                k = write_all(fd, moov.d, moov.n);
        free(moov.d);
        return k;
}

/* ---- the library -------------------------------------------------------------------- */

static int exec_sql(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                log_warn("MediaLibrary: %s: %s", err ?: "?", sql);
                sqlite3_free(err);
                return -EIO;
        }
        return 0;
}

static const char schema[] =
        "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; PRAGMA user_version=2320030;"
        "CREATE TABLE base_location (base_location_id INTEGER PRIMARY KEY, path TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE item (item_pid INTEGER PRIMARY KEY, media_type INTEGER NOT NULL DEFAULT 0,"
        " title_order INTEGER NOT NULL DEFAULT 0, item_artist_pid INTEGER NOT NULL DEFAULT 0,"
        " album_pid INTEGER NOT NULL DEFAULT 0, album_artist_pid INTEGER NOT NULL DEFAULT 0,"
        " genre_id INTEGER NOT NULL DEFAULT 0, disc_number INTEGER NOT NULL DEFAULT 0,"
        " track_number INTEGER NOT NULL DEFAULT 0, base_location_id INTEGER NOT NULL DEFAULT 0,"
        " in_my_library INTEGER NOT NULL DEFAULT 1, date_added INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE item_extra (item_pid INTEGER PRIMARY KEY, title TEXT NOT NULL DEFAULT '',"
        " sort_title TEXT, disc_count INTEGER NOT NULL DEFAULT 0, track_count INTEGER NOT NULL "
        "DEFAULT 0,"
        " total_time_ms INTEGER NOT NULL DEFAULT 0, year INTEGER NOT NULL DEFAULT 0,"
        " location TEXT NOT NULL DEFAULT '', file_size INTEGER NOT NULL DEFAULT 0, integrity BLOB,"
        " media_kind INTEGER NOT NULL DEFAULT 0, date_modified INTEGER NOT NULL DEFAULT 0,"
        " location_kind_id INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE item_artist (item_artist_pid INTEGER PRIMARY KEY, item_artist TEXT NOT NULL "
        "DEFAULT '');"
        "CREATE TABLE album (album_pid INTEGER PRIMARY KEY, album TEXT NOT NULL DEFAULT '',"
        " album_artist_pid INTEGER NOT NULL DEFAULT 0, representative_item_pid INTEGER NOT NULL "
        "DEFAULT 0);"
        "CREATE TABLE album_artist (album_artist_pid INTEGER PRIMARY KEY, album_artist TEXT NOT "
        "NULL DEFAULT '');"
        "CREATE TABLE genre (genre_id INTEGER PRIMARY KEY, genre TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE item_store (item_pid INTEGER PRIMARY KEY, sync_id INTEGER NOT NULL DEFAULT 0,"
        " sync_in_my_library INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE item_playback (item_pid INTEGER PRIMARY KEY, audio_format INTEGER, bit_rate "
        "INTEGER,"
        " sample_rate REAL);"
        "CREATE TABLE sort_map (name TEXT NOT NULL, name_order INTEGER NOT NULL, name_section "
        "INTEGER);"
        "CREATE TABLE artwork (artwork_token TEXT PRIMARY KEY, artwork_source_type INTEGER NOT "
        "NULL DEFAULT 0,"
        " relative_path TEXT NOT NULL DEFAULT '', artwork_type INTEGER NOT NULL DEFAULT 0);"
        "CREATE TABLE artwork_token (artwork_token TEXT NOT NULL, artwork_source_type INTEGER NOT "
        "NULL DEFAULT 0,"
        " artwork_type INTEGER NOT NULL DEFAULT 0, entity_pid INTEGER NOT NULL, entity_type "
        "INTEGER NOT NULL);";

/* The pid of name in table (pid_col, name_col), inserted when new. */
static int64_t named_pid(sqlite3 *db, const char *table, const char *pid_col, const char *name_col,
                         const char *name, Rng *r) {
        char sql[256];
        sqlite3_stmt *st = NULL;
        int64_t pid = 0;

        snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE %s = ?", pid_col, table, name_col);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                return 0;
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
                pid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (pid)
                return pid;
        pid = (int64_t) (rng_next(r) >> 1) | 1;
        snprintf(sql, sizeof(sql), "INSERT INTO %s (%s, %s) VALUES (?, ?)", table, pid_col,
                 name_col);
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                return 0;
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
                pid = 0;
        sqlite3_finalize(st);
        return pid;
}

/* The rows of one item (location "" and base 0 for a cloud-only one). */
static int insert_item(sqlite3 *db, const Item *it, int64_t base, const char *location,
                       uint64_t size, Rng *r, int64_t *ret_album_pid) {
        int64_t pid = (int64_t) (rng_next(r) >> 1) | 1, artist, album, album_artist;
        sqlite3_stmt *st = NULL;
        int ok;

        artist =
                named_pid(db, "item_artist", "item_artist_pid", "item_artist", it->artist ?: "", r);
        album_artist = named_pid(db, "album_artist", "album_artist_pid", "album_artist",
                                 it->album_artist ?: it->artist ?: "", r);
        album = named_pid(db, "album", "album_pid", "album", it->album ?: "", r);
        if (!artist || !album || !album_artist)
                return -EIO;
        if (sqlite3_prepare_v2(db, "UPDATE album SET album_artist_pid = ? WHERE album_pid = ?", -1,
                               &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, album_artist);
        sqlite3_bind_int64(st, 2, album);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        /* Half the rows name their album artist on the item too (newer libraries do). */
        if (!ok || sqlite3_prepare_v2(db,
                                      "INSERT INTO item (item_pid, media_type, item_artist_pid,"
                                      " album_pid, album_artist_pid, disc_number, track_number,"
                                      " base_location_id, date_added) VALUES (?,?,?,?,?,?,?,?,?)",
                                      -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_int64(st, 2, it->media_type);
        sqlite3_bind_int64(st, 3, artist);
        sqlite3_bind_int64(st, 4, album);
        sqlite3_bind_int64(st, 5, rng_range(r, 2) ? album_artist : 0);
        sqlite3_bind_int64(st, 6, it->disc);
        sqlite3_bind_int64(st, 7, it->track);
        sqlite3_bind_int64(st, 8, base);
        sqlite3_bind_int64(st, 9, BASE_TIME - APPLE_EPOCH);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok || sqlite3_prepare_v2(db,
                                      "INSERT INTO item_extra (item_pid, title, sort_title,"
                                      " disc_count, track_count, location, file_size, media_kind,"
                                      " location_kind_id) VALUES (?,?,?,1,12,?,?,1,42)",
                                      -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_text(st, 2, it->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, it->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, location, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t) size);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (!ok || sqlite3_prepare_v2(db, "INSERT INTO item_store VALUES (?, ?, 1)", -1, &st,
                                      NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_int64(st, 1, pid);
        sqlite3_bind_int64(st, 2, (int64_t) (rng_next(r) >> 1) | 1);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        if (ret_album_pid)
                *ret_album_pid = album;
        return ok ? 0 : -EIO;
}

/* A file under /iTunes_Control/Music/Fnn/ with a fresh four-letter name. */
static void music_path(Rng *r, const char *ext, char *dev, size_t n, char *folder, char *name) {
        unsigned f = (unsigned) rng_range(r, 50);
        char four[5];

        for (int i = 0; i < 4; i++)
                four[i] = (char) ('A' + rng_range(r, 26));
        four[4] = 0;
        snprintf(folder, 32, "F%02u", f);
        snprintf(name, 32, "%s.%s", four, ext);
        snprintf(dev, n, "/iTunes_Control/Music/%s/%s", folder, name);
}

static int ensure_base(sqlite3 *db, const char *folder, int64_t *ret) {
        char path[64];
        sqlite3_stmt *st = NULL;
        int64_t id = 0;

        snprintf(path, sizeof(path), "iTunes_Control/Music/%s", folder);
        if (sqlite3_prepare_v2(db, "SELECT base_location_id FROM base_location WHERE path = ?", -1,
                               &st, NULL) != SQLITE_OK)
                return -EIO;
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
                id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        if (!id) {
                id = BASE_LOCATION + atoi(folder + 1);
                if (sqlite3_prepare_v2(db, "INSERT INTO base_location VALUES (?, ?)", -1, &st,
                                       NULL) != SQLITE_OK)
                        return -EIO;
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
                if (sqlite3_step(st) != SQLITE_DONE)
                        id = 0;
                sqlite3_finalize(st);
        }
        *ret = id;
        return id ? 0 : -EIO;
}

/* One song, audiobook, podcast or video with its file: rows, file, truth. */
static int add_media(sqlite3 *db, int dfd, Truth *t, Rng *r, uint8_t *buf, Item *it,
                     const char *ext, uint64_t size, int64_t *ret_album_pid) {
        char folder[32], name[32], rel[300];
        int64_t base;
        bool video = (it->media_type & 0xff00) != 0;
        int k;

        music_path(r, ext, it->device_path, sizeof(it->device_path), folder, name);
        snprintf(rel, sizeof(rel), "media%s", it->device_path);
        if (faccessat(dfd, rel, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                music_path(r, ext, it->device_path, sizeof(it->device_path), folder, name);
        k = ensure_base(db, folder, &base);
        if (k == 0)
                k = write_mp4(dfd, it, video, size, r, buf);
        if (k == 0)
                k = set_mtime_at(dfd, rel, BASE_TIME + (int64_t) rng_range(r, 86400));
        if (k == 0)
                k = insert_item(db, it, base, name, size, r, ret_album_pid);
        return k ?: truth_item(t, it, dfd, buf, NULL);
}

static uint64_t song_size(Rng *r, bool big) {
        return big ? (UINT64_C(1) << 20) + rng_range(r, 65536) : 20480 + rng_range(r, 180 * 1024);
}

/* Song i: two per album; an album has one album artist (the tribute: various artists),
 * its songs' own artists may differ. */
static void song_item(Item *it, Rng *r, unsigned i, char *title, size_t n) {
        unsigned a = (i / 2) % ELEMENTSOF(albums);

        snprintf(title, n, "%s %s", words[rng_range(r, ELEMENTSOF(words))],
                 words[rng_range(r, ELEMENTSOF(words))]);
        *it = (Item){.category = "music",
                     .title = title,
                     .artist = artists[i % ELEMENTSOF(artists)],
                     .album_artist = a == 2 ? "Various Artists" : artists[a],
                     .album = albums[a],
                     .track = i + 1,
                     .disc = 1,
                     .media_type = i == 1 ? 1 : 8};
}

static const uint8_t tiny_jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I',  'F',  0,
                                    1,    1,    0,    0,    1,    0,    1,   0,   0,    0xff, 0xfe,
                                    0x00, 0x08, 'c',  'o',  'v',  'e',  'r', ' ', 0xff, 0xd9};

/* The album's art: a JPEG at Artwork/Originals/xx/<rest of SHA1(token)>. */
static int add_artwork(sqlite3 *db, int dfd, int64_t album_pid, unsigned n) {
        char token[16], hex[41], rel[200], sql[300];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;
        uint8_t jpeg[sizeof(tiny_jpeg) + 4];
        int k;

        snprintf(token, sizeof(token), "100%u", n);
        if (EVP_Digest(token, strlen(token), md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
                return -EIO;
        for (unsigned i = 0; i < 20; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        snprintf(rel, sizeof(rel), ITUNES_DIR "/Artwork/Originals/%.2s/%s", hex, hex + 2);
        memcpy(jpeg, tiny_jpeg, sizeof(tiny_jpeg) - 2);
        memcpy(jpeg + sizeof(tiny_jpeg) - 2, token, 4); /* distinct per album */
        memcpy(jpeg + sizeof(tiny_jpeg) + 2, "\xff\xd9", 2);
        k = mkdir_parents_at(dfd, rel);
        if (k == 0)
                k = write_text_at(dfd, rel, (const char *) jpeg, sizeof(jpeg), BASE_TIME);
        if (k < 0)
                return k;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO artwork VALUES ('%s', 300, '%.2s/%s', 1);"
                 "INSERT INTO artwork_token VALUES ('%s', 300, 1, %" PRId64 ", 1);",
                 token, hex, hex + 2, token, album_pid);
        return exec_sql(db, sql);
}

static int write_text_parents(int dfd, const char *rel, const char *text, size_t len) {
        int k = mkdir_parents_at(dfd, rel);

        return k ?: write_text_at(dfd, rel, text, len, BASE_TIME);
}

/* ---- ringtones and books ---------------------------------------------------------------- */

static int plist_write(int dfd, const char *rel, plist_t p, bool binary) {
        char *data = NULL;
        uint32_t len = 0;
        int k;

        k = plist_serialize(p, binary, &data, &len);
        if (k < 0)
                return k;
        k = write_text_parents(dfd, rel, data, len);
        free(data);
        return k;
}

static int gen_ringtones(sqlite3 *db, int dfd, Truth *t, Rng *r, uint8_t *buf, bool hostile) {
        static const char *const names[] = {"Bell Tower", "Up/Down"};
        _cleanup_(plist_freep) plist_t root = plist_new_dict();
        plist_t tones = plist_new_dict();
        int k = 0;

        plist_dict_set_item(root, "Ringtones", tones);
        for (size_t i = 0; k == 0 && i < ELEMENTSOF(names); i++) {
                char name[16], rel[300], guid[17];
                Item it = {.category = "ringtones", .title = names[i], .media_type = 16384};
                plist_t d = plist_new_dict();

                for (int j = 0; j < 4; j++)
                        name[j] = (char) ('A' + rng_range(r, 26));
                snprintf(name + 4, sizeof(name) - 4, ".m4r");
                snprintf(it.device_path, sizeof(it.device_path), "/iTunes_Control/Ringtones/%s",
                         name);
                snprintf(rel, sizeof(rel), "media%s", it.device_path);
                k = mkdir_parents_at(dfd, rel);
                if (k == 0)
                        k = write_mp4(dfd, &it, false, 30000 + rng_range(r, 10000), r, buf);
                snprintf(guid, sizeof(guid), "%016" PRIX64, rng_next(r));
                plist_dict_set_item(d, "Name", plist_new_string(names[i]));
                plist_dict_set_item(d, "GUID", plist_new_string(guid));
                plist_dict_set_item(d, "PID", plist_new_uint(rng_next(r) >> 1));
                plist_dict_set_item(d, "Total Time", plist_new_uint(25000));
                plist_dict_set_item(d, "Protected Content", plist_new_bool(0));
                plist_dict_set_item(d, "Media Kind", plist_new_string("ringtone"));
                plist_dict_set_item(tones, name, d);
                if (k == 0 && i == 0) {
                        /* The library lists a ringtone too: not music. */
                        int64_t base = RINGTONE_LOCATION;
                        k = exec_sql(db, "INSERT OR IGNORE INTO base_location VALUES (3900, "
                                         "'iTunes_Control/Ringtones')");
                        if (k == 0)
                                k = insert_item(db, &it, base, name, 30000, r, NULL);
                }
                if (k == 0)
                        k = truth_item(t, &it, dfd, buf, NULL);
        }
        if (k == 0 && hostile) {
                Item it = {.category = "ringtones", .title = "x", .hostile = true};
                plist_t d = plist_new_dict();

                plist_dict_set_item(d, "Name", plist_new_string("x"));
                plist_dict_set_item(tones, "../x.m4r", d);
                snprintf(it.device_path, sizeof(it.device_path),
                         "/iTunes_Control/Ringtones/../x.m4r");
                k = truth_item(t, &it, dfd, buf, NULL);
        }
        return k ?: plist_write(dfd, ITUNES_DIR "/Ringtones.plist", root, true);
}

static plist_t book_entry(const char *name, const char *artist, const char *path, Rng *r) {
        plist_t d = plist_new_dict();
        char id[17];

        snprintf(id, sizeof(id), "%016" PRIX64, rng_next(r));
        plist_dict_set_item(d, "Name", plist_new_string(name));
        plist_dict_set_item(d, "Artist", plist_new_string(artist));
        plist_dict_set_item(d, "Path", plist_new_string(path));
        plist_dict_set_item(d, "Persistent ID", plist_new_string(id));
        plist_dict_set_item(d, "Package Hash", plist_new_string(id));
        plist_dict_set_item(d, "Inserted-By-iBooks", plist_new_bool(1));
        return d;
}

static int gen_books(int dfd, Truth *t, Rng *r, uint8_t *buf, bool hostile) {
        static const char *const members[][2] = {
                {"mimetype", "application/epub+zip"},
                {"META-INF/container.xml",
                 "<?xml version=\"1.0\"?>\n<container version=\"1.0\" "
                 "xmlns=\"urn:oasis:names:tc:opendocument:xmlns:container\"><rootfiles>"
                 "<rootfile full-path=\"OEBPS/content.opf\" "
                 "media-type=\"application/oebps-package+xml\"/></rootfiles></container>\n"},
                {"OEBPS/content.opf",
                 "<?xml version=\"1.0\"?>\n<package xmlns=\"http://www.idpf.org/2007/opf\" "
                 "version=\"3.0\" unique-identifier=\"id\"><metadata "
                 "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:identifier id=\"id\">"
                 "urn:uuid:0</dc:identifier><dc:title>The Quiet Harbor</dc:title>"
                 "<dc:creator>Ida Berg</dc:creator><dc:language>en</dc:language></metadata>"
                 "<manifest><item id=\"c1\" href=\"chapter1.xhtml\" "
                 "media-type=\"application/xhtml+xml\"/></manifest><spine><itemref "
                 "idref=\"c1\"/></spine></package>\n"},
                {"OEBPS/chapter1.xhtml",
                 "<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">"
                 "<head><title>One</title></head><body><p>It was quiet.</p></body></html>\n"},
        };
        _cleanup_(plist_freep) plist_t books = plist_new_dict(), purchases = plist_new_dict();
        plist_t list = plist_new_array(), plist2 = plist_new_array();
        char dir[64], rel[300], mem[2048] = "", hex[65], pdf[1024];
        size_t len = 0, off[4];
        uint64_t size;
        Item it = {.category = "books", .title = "The Quiet Harbor", .artist = "Ida Berg"};
        int k = 0;

        plist_dict_set_item(books, "Books", list);
        plist_dict_set_item(purchases, "Books", plist2);
        snprintf(dir, sizeof(dir), "%08" PRIX64 ".epub", rng_next(r) >> 32);
        for (size_t i = 0; k == 0 && i < ELEMENTSOF(members); i++) {
                snprintf(rel, sizeof(rel), "media/Books/%s/%s", dir, members[i][0]);
                k = write_text_parents(dfd, rel, members[i][1], strlen(members[i][1]));
                if (k == 0)
                        k = sha256_file_at(dfd, rel, buf, hex, &size);
                if (k == 0)
                        len += (size_t) snprintf(mem + len, sizeof(mem) - len,
                                                 "%s{\"path\": \"%s\", \"sha256\": \"%s\"}",
                                                 i ? ", " : "", members[i][0], hex);
        }
        snprintf(it.device_path, sizeof(it.device_path), "/Books/%s", dir);
        plist_array_append_item(list, book_entry(it.title, it.artist, dir, r));
        if (k == 0)
                k = truth_item(t, &it, dfd, buf, mem);

        /* A one-page PDF 1.4 with a correct cross-reference table, in Purchases. */
        len = (size_t) snprintf(pdf, sizeof(pdf), "%%PDF-1.4\n");
        off[0] = len;
        len += (size_t) snprintf(pdf + len, sizeof(pdf) - len,
                                 "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
        off[1] = len;
        len += (size_t) snprintf(pdf + len, sizeof(pdf) - len,
                                 "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n");
        off[2] = len;
        len += (size_t) snprintf(pdf + len, sizeof(pdf) - len,
                                 "3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] "
                                 ">> endobj\n");
        off[3] = len;
        len += (size_t) snprintf(
                pdf + len, sizeof(pdf) - len,
                "xref\n0 4\n0000000000 65535 f \n%010zu 00000 n \n%010zu 00000 n \n"
                "%010zu 00000 n \ntrailer << /Size 4 /Root 1 0 R >>\nstartxref\n%zu\n"
                "%%%%EOF\n",
                off[0], off[1], off[2], off[3]);
        {
                char name[32];
                Item p = {.category = "books", .title = "Field Notes", .artist = "Ola Ek"};

                snprintf(name, sizeof(name), "%08" PRIX64 ".pdf", rng_next(r) >> 32);
                snprintf(p.device_path, sizeof(p.device_path), "/Books/Purchases/%s", name);
                snprintf(rel, sizeof(rel), "media%s", p.device_path);
                if (k == 0)
                        k = write_text_parents(dfd, rel, pdf, len);
                plist_array_append_item(plist2, book_entry(p.title, p.artist, name, r));
                if (k == 0)
                        k = truth_item(t, &p, dfd, buf, NULL);
        }
        if (k == 0 && hostile) {
                Item h = {.category = "books", .title = "Evil", .hostile = true};

                snprintf(h.device_path, sizeof(h.device_path), "/Books/../../../evil.pdf");
                plist_array_append_item(list, book_entry("Evil", "X", "../../../evil.pdf", r));
                k = truth_item(t, &h, dfd, buf, NULL);
        }
        if (k == 0)
                k = plist_write(dfd, "media/Books/Books.plist", books, false);
        return k ?: plist_write(dfd, "media/Books/Purchases/Purchases.plist", purchases, false);
}

/* ---- the whole thing ------------------------------------------------------------------------ */

static int truth_save(int dfd, Truth *t) {
        int k = truth_add(t, "\n]}\n");

        if (k == 0) {
                (void) unlinkat(dfd, "media.json", 0);
                k = write_text_at(dfd, "media.json", t->text, t->len, BASE_TIME);
        }
        return k;
}

/* Copy the database's three files into media/ while db (in tmp) is still open, so the
 * -wal keeps what was committed after the last checkpoint. */
static int publish_db(int dfd, const char *tmp) {
        static const char *const suffixes[] = {"", "-wal", "-shm"};

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char src[PATH_MAX], dst[200];
                _cleanup_(closep) int in = -EBADF, out = -EBADF;
                uint8_t b[65536];
                ssize_t n;

                snprintf(src, sizeof(src), "%s/%s%s", tmp, DB_NAME, suffixes[i]);
                snprintf(dst, sizeof(dst), ITUNES_DIR "/%s%s", DB_NAME, suffixes[i]);
                in = open(src, O_RDONLY | O_CLOEXEC);
                if (in < 0)
                        return -errno;
                (void) unlinkat(dfd, dst, 0);
                out = create_at(dfd, dst);
                if (out < 0)
                        return out;
                while ((n = read(in, b, sizeof(b))) > 0)
                        if (write_all(out, b, (size_t) n) < 0)
                                return -EIO;
                if (n < 0)
                        return -errno;
                (void) set_mtime_at(dfd, dst, BASE_TIME);
        }
        return 0;
}

int itunes_generate(const char *dir, uint64_t seed, const ItunesOptions *o) {
        _cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        char tmp[] = "/tmp/fakeidevice-itunes-XXXXXX", path[PATH_MAX], titles[32][48];
        Truth t = {};
        sqlite3 *db = NULL;
        Rng r;
        int64_t album_pids[ELEMENTSOF(albums)] = {};
        unsigned songs = o->songs ? o->songs : 6, n_title = 0;
        int k;

        if (dfd < 0)
                return -errno;
        if (!buf || !mkdtemp(tmp))
                return -ENOMEM;
        rng_init(&r, seed ^ UINT64_C(0x6d75736963));
        snprintf(path, sizeof(path), "%s/%s", tmp, DB_NAME);
        k = sqlite3_open(path, &db) == SQLITE_OK ? 0 : -EIO;
        k = k ?: exec_sql(db, schema);
        k = k ?: exec_sql(db, "BEGIN");
        k = k ?: truth_add(&t, "{\"items\": [\n");
        k = k ?: mkdir_parents_at(dfd, ITUNES_DIR "/x");
        k = k ?: mkdir_parents_at(dfd, MUSIC_DIR "/x");

        /* Songs, all but the last now; one titled with a '/'. */
        for (unsigned i = 0; k == 0 && i + 1 < songs; i++) {
                Item it;
                int64_t album_pid = 0;
                char *title = titles[n_title++ % ELEMENTSOF(titles)];

                song_item(&it, &r, i, title, sizeof(titles[0]));
                if (i == 2)
                        snprintf(title, sizeof(titles[0]), "Left/Right");
                k = add_media(db, dfd, &t, &r, buf, &it, "m4a", song_size(&r, o->songs > 0),
                              &album_pid);
                if (k == 0 && !album_pids[(i / 2) % ELEMENTSOF(albums)])
                        album_pids[(i / 2) % ELEMENTSOF(albums)] = album_pid;
        }
        if (k == 0 && !o->songs) {
                Item it = {.category = "music",
                           .title = "Locked Song",
                           .artist = "Bo Lind",
                           .album_artist = "Bo Lind",
                           .album = "Store Buys",
                           .track = 1,
                           .disc = 1,
                           .media_type = 8,
                           .protected = true};
                Item book = {.category = "music",
                             .title = "Chapter One",
                             .artist = "Ida Berg",
                             .album_artist = "Ida Berg",
                             .album = "The Long Book",
                             .track = 1,
                             .disc = 1,
                             .media_type = 4};
                Item pod = {.category = "music",
                            .title = "Episode 12",
                            .artist = "Radio Nord",
                            .album_artist = "Radio Nord",
                            .album = "Nord Talks",
                            .media_type = 2};
                Item movie = {.category = "videos",
                              .title = "Harbor Lights",
                              .artist = "Studio Ost",
                              .album = "Harbor Lights",
                              .media_type = 256};
                Item tv = {.category = "videos",
                           .title = "Pilot",
                           .artist = "Studio Ost",
                           .album = "Island Life, Season 1",
                           .track = 1,
                           .disc = 1,
                           .media_type = 512};
                Item lockedv = {.category = "videos",
                                .title = "Rented Movie",
                                .artist = "Big Studio",
                                .album = "Rented Movie",
                                .media_type = 256,
                                .protected = true};
                Item cloud1 = {.category = "music",
                               .title = "Streamed",
                               .artist = "Anna Falk",
                               .album = "Cloud Album",
                               .media_type = 8,
                               .cloud = true};
                Item cloud2 = cloud1;

                cloud2.title = "Streamed Too";
                k = add_media(db, dfd, &t, &r, buf, &it, "m4p", song_size(&r, false), NULL);
                k = k ?: add_media(db, dfd, &t, &r, buf, &book, "m4b", song_size(&r, false), NULL);
                k = k ?: add_media(db, dfd, &t, &r, buf, &pod, "m4a", song_size(&r, false), NULL);
                k = k ?: add_media(db, dfd, &t, &r, buf, &movie, "m4v", song_size(&r, false), NULL);
                k = k ?: add_media(db, dfd, &t, &r, buf, &tv, "m4v", song_size(&r, false), NULL);
                k = k
                            ?: add_media(db, dfd, &t, &r, buf, &lockedv, "m4v",
                                         song_size(&r, false), NULL);
                k = k ?: insert_item(db, &cloud1, 0, "", 0, &r, NULL);
                k = k ?: truth_item(&t, &cloud1, dfd, buf, NULL);
                k = k ?: insert_item(db, &cloud2, 0, "", 0, &r, NULL);
                k = k ?: truth_item(&t, &cloud2, dfd, buf, NULL);
        }
        for (size_t i = 0; k == 0 && i < 2 && i < ELEMENTSOF(album_pids); i++)
                if (album_pids[i])
                        k = add_artwork(db, dfd, album_pids[i], (unsigned) i);
        if (k == 0 && o->hostile) {
                Item a = {.category = "music",
                          .title = "Escape",
                          .artist = "X",
                          .album = "X",
                          .media_type = 8,
                          .hostile = true};
                Item b = a;

                snprintf(a.device_path, sizeof(a.device_path), "/iTunes_Control/../../etc/passwd");
                snprintf(b.device_path, sizeof(b.device_path),
                         "/iTunes_Control/Music/F00/../../x.m4a");
                b.title = "Climb";
                k = exec_sql(db,
                             "INSERT INTO base_location VALUES (3999, 'iTunes_Control/../../etc');"
                             "INSERT OR IGNORE INTO base_location VALUES (3840, "
                             "'iTunes_Control/Music/F00')");
                k = k ?: insert_item(db, &a, HOSTILE_LOCATION, "passwd", 100, &r, NULL);
                k = k ?: insert_item(db, &b, BASE_LOCATION, "../../x.m4a", 100, &r, NULL);
                k = k ?: truth_item(&t, &a, dfd, buf, NULL);
                k = k ?: truth_item(&t, &b, dfd, buf, NULL);
        }
        k = k ?: gen_ringtones(db, dfd, &t, &r, buf, o->hostile);
        k = k ?: exec_sql(db, "COMMIT");
        k = k ?: exec_sql(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        /* The last song: committed, in the WAL only. */
        if (k == 0 && songs > 0) {
                Item it;
                char *title = titles[n_title++ % ELEMENTSOF(titles)];

                song_item(&it, &r, songs - 1, title, sizeof(titles[0]));
                k = add_media(db, dfd, &t, &r, buf, &it, "m4a", song_size(&r, o->songs > 0), NULL);
        }
        k = k ?: publish_db(dfd, tmp);
        sqlite3_close(db);
        {
                char p[PATH_MAX];
                static const char *const suffixes[] = {"", "-wal", "-shm"};
                for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                        snprintf(p, sizeof(p), "%s/%s%s", tmp, DB_NAME, suffixes[i]);
                        (void) unlink(p);
                }
                (void) rmdir(tmp);
        }
        k = k ?: gen_books(dfd, &t, &r, buf, o->hostile);
        k = k ?: truth_save(dfd, &t);
        free(t.text);
        if (k < 0)
                log_warn("gen-profile: '%s': media: %s", dir, strerror(-k));
        return k;
}

int itunes_add_songs(const char *dir, uint64_t seed, unsigned n) {
        _cleanup_(closep) int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_(freep) uint8_t *buf = malloc(GEN_BUF_SIZE);
        _cleanup_(freep) char *old = NULL;
        char path[PATH_MAX], titles[16][48];
        Truth t = {};
        sqlite3 *db = NULL;
        Rng r;
        int k = 0;

        if (dfd < 0)
                return -errno;
        if (!buf)
                return -ENOMEM;
        /* The truth so far, without its closing "\n]}\n". */
        {
                _cleanup_(closep) int fd = openat(dfd, "media.json", O_RDONLY | O_CLOEXEC);
                struct stat st;

                if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 4)
                        return -ENOENT;
                old = malloc((size_t) st.st_size + 1);
                if (!old || read(fd, old, (size_t) st.st_size) != st.st_size)
                        return -EIO;
                old[st.st_size - 4] = 0;
                k = truth_add(&t, "%s", old);
        }
        rng_init(&r, seed ^ UINT64_C(0x6164642d6d65));
        snprintf(path, sizeof(path), "%s/" ITUNES_DIR "/" DB_NAME, dir);
        k = k ?: (sqlite3_open(path, &db) == SQLITE_OK ? 0 : -EIO);
        k = k ?: exec_sql(db, "BEGIN");
        for (unsigned i = 0; k == 0 && i < n; i++) {
                Item it;
                char *title = titles[i % ELEMENTSOF(titles)];

                song_item(&it, &r, 100 + i, title, sizeof(titles[0]));
                it.track = i + 1;
                it.album = "New Arrivals";
                k = add_media(db, dfd, &t, &r, buf, &it, "m4a", song_size(&r, false), NULL);
        }
        k = k ?: exec_sql(db, "COMMIT");
        sqlite3_close(db); /* checkpoints: a phone does so too */
        k = k ?: truth_save(dfd, &t);
        free(t.text);
        return k;
}
