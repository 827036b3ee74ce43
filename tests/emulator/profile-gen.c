/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gen-profile: the generation plan (every backup file, its class, size and mtime, from the
 * seed) and the other parts of a profile: media, apps, crash logs, device.ini.
 */
#include "profile-internal.h"
#include "profile-itunes.h"
#include "profile-pim.h"

/* ---- the generation plan: every backup file, its class, size and mtime ------------------ */


/* Natural sizes, roughly log-uniform over [lo, lo << doublings). */
static const struct {
        uint64_t lo;
        unsigned doublings;
} size_classes[_SIZE_CLASS_MAX] = {
        [SIZE_SMALL] = { 64, 10 },              /* 64 B … 64 KiB */
        [SIZE_MEDIUM] = { 64 << 10, 5 },        /* 64 KiB … 2 MiB */
        [SIZE_LARGE] = { 2 << 20, 4 },          /* 2 … 32 MiB */
        [SIZE_PHOTO] = { 1 << 20, 2 },          /* 1 … 4 MiB */
        [SIZE_VIDEO] = { 128 << 20, 2 },        /* 128 … 512 MiB */
        [SIZE_SIDECAR] = { 1 << 10, 2 },        /* 1 … 4 KiB: .AAE edit sidecars */
};

/* A random size of class c: a power-of-two octave of the class, then uniform within it. */
uint64_t natural_size(Rng *r, SizeClass c) {
        uint64_t octave = size_classes[c].lo << rng_range(r, size_classes[c].doublings);

        return octave + rng_range(r, octave);
}

/* Most files are small, some medium, few large (per cent). */
static SizeClass pick_class(Rng *r, unsigned medium, unsigned large) {
        uint64_t x = rng_range(r, 100);

        return x < large ? SIZE_LARGE : x < large + medium ? SIZE_MEDIUM : SIZE_SMALL;
}

typedef struct PlanFile {
        char *path;             /* relative to backup/ */
        bool twin;              /* written at twin_path() and hard-linked into backup/ */
        SizeClass cls;
        uint64_t size;          /* the natural size, then the final one (plan_fit_sizes()) */
        bool empty;             /* always 0 bytes, left out of plan_fit_sizes() */
        int64_t mtime;
        MediaKind media;        /* a camera-roll file: its format (else MEDIA_NONE) */
        int64_t capture;        /* … and its capture time */
} PlanFile;

typedef struct Plan {
        PlanFile *files;
        size_t n, allocated;
        PhotoRow *rows;         /* Photos.sqlite's ZASSET, in Z_PK order */
        size_t n_rows;
} Plan;

static void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->files[i].path);
        free(p->files);
        free(p->rows);
        *p = (Plan) {};
}

static int plan_add(Plan *p, Rng *r, SizeClass cls, bool twin, int64_t mtime, const char *fmt,
                    ...) __attribute__((format(printf, 6, 7)));

static int plan_add(Plan *p, Rng *r, SizeClass cls, bool twin, int64_t mtime, const char *fmt,
                    ...) {
        va_list ap;
        char *path;
        int k;

        if (p->n == p->allocated) {
                size_t m = p->allocated ? p->allocated * 2 : 64;
                PlanFile *f = reallocarray(p->files, m, sizeof(*f));

                if (!f)
                        return -ENOMEM;
                p->files = f;
                p->allocated = m;
        }
        va_start(ap, fmt);
        k = vasprintf(&path, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        p->files[p->n++] = (PlanFile) {
                .path = path,
                .twin = twin,
                .cls = cls,
                .size = natural_size(r, cls),
                .mtime = mtime,
        };
        return 0;
}

/* What every profile has besides filler, in this order. */
static const struct {
        const char *path;
        SizeClass cls;
} core_files[] = {
        { "HomeDomain/Library/SMS/sms.db", SIZE_MEDIUM },
        { "HomeDomain/Library/AddressBook/AddressBook.sqlitedb", SIZE_MEDIUM },
        { "KeychainDomain/keychain-backup.plist", SIZE_SMALL },
        { "HomeDomain/Library/Preferences/com.apple.springboard.plist", SIZE_SMALL },
        { "WirelessDomain/Library/Preferences/com.apple.commcenter.plist", SIZE_SMALL },
        { "SystemPreferencesDomain/SystemConfiguration/preferences.plist", SIZE_SMALL },
        { "CameraRollDomain/Media/PhotoData/Photos.sqlite", SIZE_MEDIUM },
        { "HomeDomain/Library/Preferences/com.apple.Preferences.plist", SIZE_SMALL },
        { "HomeDomain/Library/AddressBook/AddressBookImages.sqlitedb", SIZE_MEDIUM },
        { "HomeDomain/Library/CallHistoryDB/CallHistory.storedata", SIZE_SMALL },
        { "SystemPreferencesDomain/SystemConfiguration/com.apple.wifi.plist", SIZE_SMALL },
        { "HomeDomain/Library/Calendar/Calendar.sqlitedb", SIZE_MEDIUM },
        { "HomeDomain/Library/Safari/Bookmarks.db", SIZE_SMALL },
        { "HomeDomain/Library/Safari/History.db", SIZE_MEDIUM },
        { "HealthDomain/Health/healthdb_secure.sqlite", SIZE_LARGE },
        { "HomeDomain/Library/Voicemail/voicemail.db", SIZE_SMALL },
        { "HomeDomain/Library/Accounts/Accounts3.sqlite", SIZE_SMALL },
        { "HomeDomain/Library/Notes/notes.sqlite", SIZE_MEDIUM },
        { "ManagedPreferencesDomain/mobile/com.apple.webcontentfilter.plist", SIZE_SMALL },
        { "RootDomain/Library/Caches/locationd/clients.plist", SIZE_SMALL },
        { "HomeDomain/Library/Keyboard/dynamic-text.dat", SIZE_SMALL },
        { "DatabaseDomain/timezone/localtime", SIZE_SMALL },
};

/* Whether core file path is a personal database gen-profile writes for real with o's
 * counts (profile-pim.h): then the plan leaves it out, and the database comes on top. */
static bool pim_owns(const GenOptions *o, const char *path) {
        if (o->contacts > 0 && startswith(path, "HomeDomain/Library/AddressBook/"))
                return true;
        if (o->events > 0 && startswith(path, "HomeDomain/Library/Calendar/"))
                return true;
        if (o->bookmarks > 0 && strcmp(path, "HomeDomain/Library/Safari/Bookmarks.db") == 0)
                return true;
        return o->notes > 0 && strcmp(path, "HomeDomain/Library/Notes/notes.sqlite") == 0;
}

/* The first document of app n is first_docs[(n - 1) % …]: odd but legal names. */
static const char *const first_docs[] = {
        "Café ☕ notes.txt",
        "議事録 2026年1月.txt",
        "Quarterly Report.pdf",
        "Ünïcödé résumé.md",
        "photo edit.jpeg",
        "data.json",
};

static const char *const app_names[] = {
        "Notes Pro", "PhotoBox", "Café Finder", "Docs", "Tasks", "Reader", "写真アルバム",
};

/* The documents every app with file sharing gets (budget permitting, see plan_build()), in
 * this order: what a host syncing Documents both ways must get right. Names are raw bytes:
 * NFD ("e" + U+0301 COMBINING ACUTE ACCENT, "u" + U+0308 COMBINING DIAERESIS, as a Mac
 * writes them) beside NFC (precomposed U+00E8, U+00FB, U+00E9), and 0-byte files at the top
 * and in a subdirectory. Besides them every sharing app has the empty directory Inbox/. */
static const struct {
        const char *path;
        bool empty;
} doc_set[] = {
        { "Cafe\xcc\x81.txt", false },                          /* NFD "Café.txt" */
        { "Empty.txt", true },
        { "Projects/2026/Q1/Plan.md", false },                  /* nested directories */
        { "Projects/2026/placeholder.txt", true },              /* 0 bytes, in a subdirectory */
        { "Entwu\xcc\x88rfe/Bru\xcc\x88" "cke.txt", false }, /* NFD directory and file */
        { "Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e.md", false }, /* NFC "Crème brûlée.md" */
};

/* The empty directory below Documents of every sharing app (where "Open in…" lands). */
#define DOC_EMPTY_DIR "Inbox"

/* Whether generated app a (1…apps) has UIFileSharingEnabled: all of them but every third
 * one when there are three or more, so a profile has apps a host must skip. */
static bool app_shares(unsigned a, unsigned apps) {
        return apps < 3 || a % 3 != 0;
}

static const char *const cache_owners[] = {
        "mobilesafari", "Maps", "news", "weather", "stocks", "podcasts",
};

static int plan_add_media(Plan *p, Rng *r, SizeClass cls, MediaKind kind, int64_t capture,
                          int64_t mtime, unsigned folder, unsigned number) {
        int k = plan_add(p, r, cls, true, mtime, "CameraRollDomain/Media/DCIM/%03uAPPLE/IMG_%04u.%s",
                         folder, number, media_ext(kind));

        if (k < 0)
                return k;
        p->files[p->n - 1].media = kind;
        p->files[p->n - 1].capture = capture;
        return 0;
}

static int plan_add_row(Plan *p, unsigned folder, unsigned number, MediaKind kind,
                        int64_t capture) {
        PhotoRow *v = reallocarray(p->rows, p->n_rows + 1, sizeof(*v));

        if (!v)
                return -ENOMEM;
        p->rows = v;
        v += p->n_rows++;
        *v = (PhotoRow) { .kind = kind == MEDIA_MOV || kind == MEDIA_MP4, .capture = capture };
        snprintf(v->dir, sizeof(v->dir), "DCIM/%03uAPPLE", folder);
        snprintf(v->name, sizeof(v->name), "IMG_%04u.%s", number, media_ext(kind));
        return 0;
}

/*
 * The camera roll: exactly `photos` files under DCIM. Items follow photo_mix[] (a Live Photo
 * or an edited photo takes two files; the last item drops its MOV or AAE if only one file
 * is left). Besides them, max(1, items / 10) iCloud-only items (when photos ≥ 5) have a
 * Photos.sqlite row but no file; they are interleaved, at positions 4, 14, 24, …, so the
 * numbering has gaps as on a phone with "Optimize iPhone Storage". Position c (from 0) is
 * IMG_<c % 9999 + 1> in folder 100APPLE + c / 999. Capture times run from 2023 to 2025,
 * days 3…26 of a month (so no time zone moves one into another month); a JPEG's or HEIC's
 * mtime is 35 to 155 days later (always another month), the other files' mtime is the
 * capture time of their item.
 */
static int plan_photos(Plan *p, Rng *r, unsigned photos) {
        unsigned items = 0, slots = photos, clouds, total, next_cloud = 0;
        int k;

        /* Count the items first: their number decides where the iCloud-only ones go. */
        for (unsigned j = 0; slots > 0; j++, items++)
                slots -= slots >= 2 && (photo_mix[j % 10].live || photo_mix[j % 10].aae) ? 2 : 1;
        clouds = photos >= 5 ? (items / 10 > 1 ? items / 10 : 1) : 0;
        total = items + clouds;

        slots = photos;
        for (unsigned c = 0, j = 0; c < total; c++) {
                unsigned folder = 100 + c / PHOTOS_PER_FOLDER, number = c % 9999 + 1;
                unsigned cloud_at = 4 + 10 * next_cloud;
                unsigned month = (unsigned) ((uint64_t) c * 36 / total);
                struct tm tm = {
                        .tm_year = 123 + (int) (month / 12), .tm_mon = (int) (month % 12),
                        .tm_mday = 3 + (int) rng_range(r, 24), .tm_hour = (int) rng_range(r, 24),
                        .tm_min = (int) rng_range(r, 60), .tm_sec = (int) rng_range(r, 60),
                };
                int64_t capture = (int64_t) timegm(&tm);
                int64_t later = capture + (35 + (int64_t) rng_range(r, 120)) * DAY +
                                (int64_t) rng_range(r, DAY);
                MediaKind kind;
                bool live, aae, exif;

                if (cloud_at > total - clouds + next_cloud)
                        cloud_at = total - clouds + next_cloud;
                if (next_cloud < clouds && c == cloud_at) {
                        k = plan_add_row(p, folder, number,
                                         next_cloud % 3 == 2 ? MEDIA_MOV : MEDIA_HEIC, capture);
                        if (k < 0)
                                return k;
                        next_cloud++;
                        continue;
                }

                kind = photo_mix[j % 10].kind;
                live = photo_mix[j % 10].live && slots >= 2;
                aae = photo_mix[j % 10].aae && slots >= 2;
                exif = kind == MEDIA_HEIC || kind == MEDIA_JPEG;
                j++;
                k = plan_add_row(p, folder, number, kind, capture);
                if (k >= 0)
                        k = plan_add_media(p, r,
                                           kind == MEDIA_MOV || kind == MEDIA_MP4 ? SIZE_VIDEO
                                                                                  : SIZE_PHOTO,
                                           kind, capture, exif ? later : capture, folder, number);
                if (k >= 0 && live)
                        k = plan_add_media(p, r, SIZE_PHOTO, MEDIA_MOV, capture, capture, folder,
                                           number);
                if (k >= 0 && aae)
                        k = plan_add_media(p, r, SIZE_SIDECAR, MEDIA_AAE, capture, capture,
                                           folder, number);
                if (k < 0)
                        return k;
                slots -= 1 + live + aae;
        }
        assert(slots == 0);
        return 0;
}

/* The long path: deep directories, a 200-byte ASCII and a 200-byte UTF-8 component; the
 * relative path is over 512 bytes, every component at most 255. */
static int plan_long_path(Plan *p, Rng *r) {
        char deep[128] = "", ascii[201], utf8[201];
        size_t n = 0;

        for (unsigned i = 1; i <= 8; i++)
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, "level %02u/", i);
        for (size_t i = 0; i < 200; i++)
                ascii[i] = "long-directory-name-"[i % 20];
        ascii[200] = '\0';
        for (size_t i = 0; i < 200; i += 2)
                memcpy(utf8 + i, "\xc3\xbc", 2);        /* ü */
        utf8[200] = '\0';

        return plan_add(p, r, SIZE_SMALL, false, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                        "HomeDomain/Library/Caches/com.example.deep/%s%s/%s/leaf file.txt",
                        deep, ascii, utf8);
}

/* One filler file, number j: spread over several domains and directories. */
static int plan_filler(Plan *p, Rng *r, unsigned j) {
        int64_t t = BASE_TIME + (int64_t) rng_range(r, 30 * DAY);
        SizeClass c = pick_class(r, 11, 1);
        uint64_t pick = rng_range(r, 100);
        const char *owner = cache_owners[rng_range(r, ELEMENTSOF(cache_owners))];

        if (pick < 25)
                return plan_add(p, r, c, false, t,
                                "MediaDomain/Library/SMS/Attachments/%02x/%02x/IMG_%u.jpeg",
                                j % 16, (j / 16) % 16, 5000 + j);
        if (pick < 40)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Caches/com.apple.%s/fsCachedData/"
                                "%08X-%04X-%u",
                                owner, (unsigned) rng_range(r, UINT32_MAX),
                                (unsigned) rng_range(r, 0x10000), j);
        if (pick < 55)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Preferences/com.example.prefs%u.plist", j);
        if (pick < 65) {
                struct tm tm;
                time_t tt = (time_t) t;

                (void) gmtime_r(&tt, &tm);
                return plan_add(p, r, c, true, t,
                                "MediaDomain/Media/Recordings/%04d%02d%02d %02d%02d%02d-%u.m4a",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec, j);
        }
        if (pick < 75)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Application Support/com.apple.%s/store-%u.db",
                                owner, j);
        if (pick < 85)
                return plan_add(p, r, c, false, t, "HomeDomain/Library/Voicemail/%u.amr", j);
        if (pick < 92)
                return plan_add(p, r, c, false, t,
                                "RootDomain/Library/Caches/locationd/cache-%u.plist", j);
        return plan_add(p, r, c, false, t, "HomeDomain/Library/Cookies/Cookies-%u.binarycookies",
                        j);
}

/* The odd-name files a profile has: all of them, but a new phone has no note and no voice
 * memo of its own, only the deep path of a cache. */
static unsigned odd_files(const GenOptions *o) {
        return o->new_phone ? 1 : GEN_ODD_FILES;
}

void gen_options_new_phone(GenOptions *o) {
        *o = (GenOptions) { .seed = o->seed, .name = o->name, .product = o->product,
                            .ios = o->ios, .files = NEW_PHONE_FILES, .bytes = NEW_PHONE_BYTES,
                            .new_phone = true };
}

/*
 * The file count rule. F = files, P = photos, A = apps. Every profile has the P camera-roll
 * items, one document per app and the 3 odd-name files (Café ☕ notes.txt, a Japanese name
 * with blanks, the > 512-byte path), so F must be at least P + A + 3 (else -EINVAL). Of the
 * remaining R = F - (P + A + 3), the first min(R, 22) are the core files (sms.db,
 * AddressBook, preferences, keychain, …), then up to 6 per app with file sharing are the
 * document set doc_set[] (app by app, as far as R goes), a quarter of what is left (when
 * A > 0) are more app documents, round robin over the apps, and the rest is filler spread
 * over HomeDomain, MediaDomain and RootDomain. Exactly F regular files end up under backup/.
 * A core file that is a personal database gen-profile writes (pim_owns()) is skipped, so
 * the plan's F files do not count it: the real database comes on top. A new phone
 * (--new-phone) has 1 odd-name file, the long path: F ≥ P + A + 1.
 */
static int plan_build(Plan *p, Rng *r, unsigned files, unsigned photos, unsigned apps,
                      const GenOptions *o) {
        unsigned rest = files - photos - apps - odd_files(o), extra;
        int k;

        k = plan_photos(p, r, photos);
        if (k < 0)
                return k;

        for (unsigned a = 1; a <= apps; a++) {
                k = plan_add(p, r, SIZE_SMALL, true, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "AppDomain-com.example.app%u/Documents/%s", a,
                             first_docs[(a - 1) % ELEMENTSOF(first_docs)]);
                if (k < 0)
                        return k;
        }

        if (!o->new_phone) {
                k = plan_add(p, r, SIZE_SMALL, false,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "HomeDomain/Library/Notes/Café ☕ notes.txt");
                if (k < 0)
                        return k;
                k = plan_add(p, r, SIZE_MEDIUM, true,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "MediaDomain/Media/Recordings/録音 メモ 2026-01-01.m4a");
                if (k < 0)
                        return k;
        }
        k = plan_long_path(p, r);
        if (k < 0)
                return k;

        for (size_t i = 0; i < ELEMENTSOF(core_files) && rest > 0; i++) {
                if (pim_owns(o, core_files[i].path))
                        continue;
                rest--;
                k = plan_add(p, r, core_files[i].cls, false,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY), "%s",
                             core_files[i].path);
                if (k < 0)
                        return k;
        }

        /* The document sets, app by app, so that the first sharing app is complete first. */
        for (unsigned a = 1; a <= apps && rest > 0; a++) {
                if (!app_shares(a, apps))
                        continue;
                for (size_t i = 0; i < ELEMENTSOF(doc_set) && rest > 0; i++, rest--) {
                        k = plan_add(p, r, SIZE_SMALL, true,
                                     BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                                     "AppDomain-com.example.app%u/Documents/%s", a,
                                     doc_set[i].path);
                        if (k < 0)
                                return k;
                        if (doc_set[i].empty) {
                                p->files[p->n - 1].empty = true;
                                p->files[p->n - 1].size = 0;
                        }
                }
        }

        extra = apps > 0 ? rest / 4 : 0;
        for (unsigned i = 0; i < extra; i++) {
                static const char *const names[] = {
                        "Archive/item-", "My Files/Note ", "データ/ファイル ", "photo ",
                };
                static const char *const exts[] = { ".dat", ".txt", ".bin", ".jpeg" };
                unsigned j = i / apps;

                k = plan_add(p, r, pick_class(r, 18, 2), true,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "AppDomain-com.example.app%u/Documents/%s%u%s", i % apps + 1,
                             names[j % 4], j, exts[j % 4]);
                if (k < 0)
                        return k;
        }
        rest -= extra;

        for (unsigned j = 0; j < rest; j++) {
                k = plan_filler(p, r, j);
                if (k < 0)
                        return k;
        }
        return 0;
}

static uint64_t sum_sizes(PlanFile *const *v, size_t n, uint64_t cap) {
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i]->size < cap ? v[i]->size : cap;
        return s;
}

/* Make the sizes of v[0…n) add up to exactly budget (n > 0). Too much: the biggest files
 * are cut down to one common cap (water filling), so small files keep their size, and the
 * remainder goes 1 byte each to the first files above the cap. Too little: the difference
 * goes to the large files in proportion to their size (to every file if there is no large
 * one), the rounding remainder to the first of them. */
static void fit_sizes(PlanFile *const *v, size_t n, uint64_t budget) {
        uint64_t sum = sum_sizes(v, n, UINT64_MAX), weight = 0, given = 0, excess;
        bool any_large = false;
        PlanFile *first = NULL;

        assert(n > 0);

        if (sum > budget) {
                uint64_t lo = 0, hi = 0, rem;

                for (size_t i = 0; i < n; i++)
                        if (v[i]->size > hi)
                                hi = v[i]->size;
                while (lo < hi) {               /* the largest cap that fits */
                        uint64_t mid = lo + (hi - lo + 1) / 2;

                        if (sum_sizes(v, n, mid) <= budget)
                                lo = mid;
                        else
                                hi = mid - 1;
                }
                rem = budget - sum_sizes(v, n, lo);
                for (size_t i = 0; i < n; i++)
                        if (v[i]->size > lo) {
                                v[i]->size = lo + (rem > 0);
                                if (rem > 0)
                                        rem--;
                        }
                return;
        }

        excess = budget - sum;
        for (size_t i = 0; i < n; i++)
                any_large = any_large || v[i]->cls == SIZE_LARGE;
        for (size_t i = 0; i < n; i++)
                if (!any_large || v[i]->cls == SIZE_LARGE)
                        weight += v[i]->size;
        for (size_t i = 0; i < n; i++) {
                uint64_t add;

                if (any_large && v[i]->cls != SIZE_LARGE)
                        continue;
                add = weight > 0 ? (uint64_t) ((unsigned __int128) excess * v[i]->size / weight)
                                 : 0;
                v[i]->size += add;
                given += add;
                if (!first)
                        first = v[i];
        }
        first->size += excess - given;
}

/*
 * The byte rule: the sizes of the backup/ files add up to exactly `bytes`, whatever the file
 * count (sizes may be 0 when `bytes` is tiny). Each file first gets a natural size from its
 * class: small 64 B–64 KiB (most files), medium 64 KiB–2 MiB, large 2–32 MiB (1 % of the
 * filler), photos 1–4 MiB, videos 128–512 MiB. Videos get the big share: min(their natural
 * sizes, bytes / 2). The other files are fitted into the rest with fit_sizes(); if they need
 * less than that, the videos get everything they leave.
 */
static int plan_fit_sizes(Plan *p, uint64_t bytes) {
        _cleanup_(freep) PlanFile **videos = NULL, **others = NULL;
        size_t nv = 0, no = 0;
        uint64_t vbudget, osum;

        videos = calloc(p->n, sizeof(*videos));
        others = calloc(p->n, sizeof(*others));
        if (!videos || !others)
                return -ENOMEM;
        for (size_t i = 0; i < p->n; i++) {
                if (p->files[i].empty)
                        continue;
                if (p->files[i].cls == SIZE_VIDEO)
                        videos[nv++] = &p->files[i];
                else
                        others[no++] = &p->files[i];
        }
        assert(no > 0);                         /* the odd-name files are always there */

        if (nv == 0) {
                fit_sizes(others, no, bytes);
                return 0;
        }
        vbudget = sum_sizes(videos, nv, UINT64_MAX);
        if (vbudget > bytes / 2)
                vbudget = bytes / 2;
        osum = sum_sizes(others, no, UINT64_MAX);
        if (osum <= bytes - vbudget) {
                fit_sizes(videos, nv, bytes - osum);
                return 0;
        }
        fit_sizes(others, no, bytes - vbudget);
        fit_sizes(videos, nv, vbudget);
        return 0;
}

/* ---- the other parts of a generated profile ------------------------------------------------ */

static int gen_device_ini(int dfd, uint64_t seed, const char *name, const char *product,
                          const char *ios, uint64_t bytes) {
        _cleanup_(freep) char *build = NULL, *model = NULL, *text = NULL;
        const char *class = device_class_of(product);
        bool phone = strcmp(class, "iPhone") == 0;
        uint64_t total = DEFAULT_DISK_TOTAL;
        char phone_line[64] = "", imei_line[40] = "";
        Idents id;
        int k;

        build = build_of(ios);
        model = hardware_model_of(product);
        if (!build || !model)
                return -ENOMEM;
        idents_make(seed, &id);

        /* The disk holds at least twice the backup, so DiskFree stays plausible. */
        while (total / 2 < bytes && total < (UINT64_C(1) << 62))
                total *= 2;
        if (phone) {
                snprintf(phone_line, sizeof(phone_line), "PhoneNumber=%s\n", id.phone);
                snprintf(imei_line, sizeof(imei_line), "IMEI=%s\n", id.imei);
        }

        k = asprintf(&text,
                     "# fakeidevice device profile, made by gen-profile --seed %" PRIu64 "\n"
                     "[Device]\n"
                     "Name=%s\n"
                     "ProductType=%s\n"
                     "ProductVersion=%s\n"
                     "BuildVersion=%s\n"
                     "SerialNumber=%s\n"
                     "DeviceClass=%s\n"
                     "HardwareModel=%s\n"
                     "WiFiAddress=%s\n"
                     "BluetoothAddress=%s\n"
                     "%s%s"
                     "UniqueChipID=%" PRIu64 "\n"
                     "BatteryPercent=87\n"
                     "BatteryCharging=no\n"
                     "DiskTotal=%" PRIu64 "G\n"
                     "DiskFree=%" PRIu64 "G\n"
                     "SetupDone=yes\n",
                     seed, name, product, ios, build, id.serial, class, model, id.wifi, id.bt,
                     phone_line, imei_line, id.ecid, total >> 30, (total / 2) >> 30);
        if (k < 0)
                return -ENOMEM;
        return write_text_at(dfd, "device.ini", text, (size_t) k, BASE_TIME);
}

static int gen_app_info(int dfd, Rng *r, uint64_t seed, unsigned a, unsigned apps) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        const char *name = app_names[(seed + a) % ELEMENTSOF(app_names)];
        unsigned minor = (unsigned) rng_range(r, 10), patch = (unsigned) rng_range(r, 10);
        char suffix[16] = "";
        int k;

        if (a > ELEMENTSOF(app_names))          /* keep display names unique */
                snprintf(suffix, sizeof(suffix), " %u", a);
        if (asprintf(&path, "apps/com.example.app%u/Info.ini", a) < 0)
                return -ENOMEM;
        k = asprintf(&text,
                     "[App]\n"
                     "CFBundleIdentifier=com.example.app%u\n"
                     "CFBundleDisplayName=%s%s\n"
                     "CFBundleShortVersionString=1.%u.%u\n"
                     "CFBundleVersion=%u\n"
                     "ApplicationType=User\n"
                     "UIFileSharingEnabled=%s\n",
                     a, name, suffix, minor, patch, 100 + minor * 10 + patch,
                     app_shares(a, apps) ? "yes" : "no");
        if (k < 0)
                return -ENOMEM;
        return write_text_at(dfd, path, text, (size_t) k, BASE_TIME);
}

/* Documents/Inbox/ of a sharing app, empty, in the app and in its backup domain. */
static int gen_app_empty_dir(int dfd, unsigned a, unsigned apps) {
        char path[PATH_MAX];
        int r;

        if (!app_shares(a, apps))
                return 0;
        snprintf(path, sizeof(path), "apps/com.example.app%u/Documents/" DOC_EMPTY_DIR, a);
        r = mkdir_p_at(dfd, path);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "backup/AppDomain-com.example.app%u/Documents/"
                 DOC_EMPTY_DIR, a);
        return mkdir_p_at(dfd, path);
}

/* Crash report i: crash/<Kind>-YYYY-MM-DD-HHMMSS.ips (every third in crash/Retired/), an
 * .ips-like text: a one-line JSON header, then a JSON body of a few KiB. */
static int gen_crashlog(int dfd, Rng *r, unsigned i, unsigned apps, const char *ios,
                        const char *build, const char *model, char *buf, size_t size) {
        static const char *const bug_types[] = { "385", "309", "298", "288" };
        int64_t t = BASE_TIME + DAY + (int64_t) i * 4000 + (int64_t) rng_range(r, 3000);
        time_t tt = (time_t) t;
        char stamp[32], date[32], app[64], bundle[64], kind[96], path[160];
        unsigned frames = 20 + (unsigned) rng_range(r, 60), kindno = i % 4;
        struct tm tm;
        size_t n;

        (void) gmtime_r(&tt, &tm);
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
        (void) strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        if (apps > 0) {
                snprintf(bundle, sizeof(bundle), "com.example.app%u", i % apps + 1);
                snprintf(app, sizeof(app), "App%u", i % apps + 1);
        } else {
                snprintf(bundle, sizeof(bundle), "com.apple.springboard");
                snprintf(app, sizeof(app), "SpringBoard");
        }
        switch (kindno) {
        case 0:
                snprintf(kind, sizeof(kind), "ExcUserFault_%s", app);
                break;
        case 1:
                snprintf(kind, sizeof(kind), "%s", app);
                break;
        case 2:
                snprintf(kind, sizeof(kind), "JetsamEvent");
                break;
        default:
                snprintf(kind, sizeof(kind), "stacks+%s", app);
                break;
        }
        snprintf(path, sizeof(path), "crash/%s%s-%s.ips", i % 3 == 2 ? "Retired/" : "", kind,
                 stamp);

        n = (size_t) snprintf(buf, size,
                              "{\"app_name\":\"%s\",\"timestamp\":\"%s.00 +0000\","
                              "\"app_version\":\"1.0\",\"bundleID\":\"%s\",\"bug_type\":\"%s\","
                              "\"os_version\":\"iPhone OS %s (%s)\",\"incident_id\":"
                              "\"%08X-%04X-%04X-%04X-%012" PRIX64 "\",\"name\":\"%s\"}\n"
                              "{\n  \"uptime\" : %u,\n  \"procRole\" : \"Foreground\",\n"
                              "  \"modelCode\" : \"%s\",\n  \"captureTime\" : \"%s\",\n"
                              "  \"exception\" : {\"type\":\"EXC_CRASH\",\"signal\":"
                              "\"SIGABRT\"},\n  \"threads\" : [{\"triggered\":true,\"frames\":[\n",
                              app, date, bundle, bug_types[kindno], ios, build,
                              (unsigned) rng_range(r, UINT32_MAX),
                              (unsigned) rng_range(r, 0x10000), (unsigned) rng_range(r, 0x10000),
                              (unsigned) rng_range(r, 0x10000),
                              rng_range(r, UINT64_C(1) << 48), app,
                              (unsigned) rng_range(r, 1000000), model, date);
        for (unsigned f = 0; f < frames && n + 200 < size; f++)
                n += (size_t) snprintf(buf + n, size - n,
                                       "    {\"imageOffset\":%u,\"symbol\":\"frame_%u\","
                                       "\"symbolLocation\":%u,\"imageIndex\":%u}%s\n",
                                       (unsigned) rng_range(r, 1u << 24), f,
                                       (unsigned) rng_range(r, 4096),
                                       (unsigned) rng_range(r, 8), f + 1 < frames ? "," : "");
        n += (size_t) snprintf(buf + n, size - n, "  ]}]\n}\n");

        return write_text_at(dfd, path, buf, n, t);
}

/**
 * crash_add: write count new crash reports into DIR/crash/ (the control command `crash`),
 * in gen-profile's format, with names that do not clash with existing ones. Not
 * deterministic: the PRNG is seeded from the clock. Returns 0 or -errno (-EEXIST if no free
 * name was found).
 */
int crash_add(const char *dir, unsigned count) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        _cleanup_(freep) char *buf = NULL;
        _cleanup_(closep) int dfd = -EBADF;
        AppInfo **apps = NULL;
        size_t napps = 0;
        struct timespec now;
        Rng rng;
        int r;

        r = profile_read_info(dir, &info);
        if (r < 0)
                return r;
        if (profile_list_apps(dir, &apps, &napps) >= 0)
                app_info_free_array(apps, napps);
        buf = malloc(64u << 10);
        if (!buf)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        (void) clock_gettime(CLOCK_REALTIME, &now);
        rng_init(&rng, (uint64_t) now.tv_sec * 1000000000u + (uint64_t) now.tv_nsec);

        for (unsigned i = 0, attempts = 0; i < count; attempts++) {
                if (attempts >= 100u * count + 100)
                        return -EEXIST;
                r = gen_crashlog(dfd, &rng, (unsigned) rng_range(&rng, 10000), (unsigned) napps,
                                 info->ios, info->build, info->hardware_model, buf, 64u << 10);
                if (r == -EEXIST)
                        continue;
                if (r < 0)
                        return r;
                i++;
        }
        return 0;
}

/* Refuse a non-empty DIR; create it (and its parents) if missing. */
static int gen_prepare_dir(const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        char buf[PATH_MAX];
        struct dirent *de;
        size_t n = strlen(dir);

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                strcpy(buf, dir);
                while (n > 1 && buf[n - 1] == '/')
                        buf[--n] = '\0';
                return mkdir_p_at(AT_FDCWD, buf);
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        return -EEXIST;
        return 0;
}

/* backup/: every file of the plan; a twin is written once at its other place and hard-linked.
 * *step names the file being written, for the caller's message. */
static int gen_backup_files(int dfd, const Plan *plan, uint64_t seed, uint8_t *buf,
                            const char **step) {
        int r;

        for (size_t i = 0; i < plan->n; i++) {
                const PlanFile *f = &plan->files[i];
                char bpath[PATH_MAX], twin[PATH_MAX];
                uint64_t cseed = content_seed(seed, f->path);

                *step = f->path;
                if ((size_t) snprintf(bpath, sizeof(bpath), "backup/%s", f->path) >=
                    sizeof(bpath))
                        return -ENAMETOOLONG;
                if (!f->twin) {
                        r = write_content_at(dfd, bpath, f->size, cseed, f->mtime, buf);
                        if (r < 0)
                                return r;
                        continue;
                }

                r = twin_path(f->path, twin, sizeof(twin));
                if (r == 0)
                        r = -EINVAL;            /* a plan bug: a twin without a place */
                if (r < 0)
                        return r;
                if (f->media != MEDIA_NONE)
                        r = write_media_at(dfd, twin, f->media, f->size, cseed, f->capture,
                                           f->mtime, buf);
                else
                        r = write_content_at(dfd, twin, f->size, cseed, f->mtime, buf);
                if (r < 0)
                        return r;
                if (linkat(dfd, twin, dfd, bpath, 0) < 0) {
                        r = errno == ENOENT ? mkdir_parents_at(dfd, bpath) : -errno;
                        if (r >= 0 && linkat(dfd, twin, dfd, bpath, 0) < 0)
                                r = -errno;
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/**
 * profile_generate: make a new, deterministic profile (the gen-profile subcommand).
 * @dir: where (borrowed); must not exist or be an empty directory. Created with parents.
 * @o: the options (borrowed). 0 for files or bytes means the default (50 files, 4 MiB);
 *     photos, apps and crashlogs are taken as given (0 = none). NULL name/product/ios mean
 *     "iPhone <seed>", iPhone15,2 and 17.5.
 *
 * Writes device.ini, media/, apps/, crash/ and backup/ as described at the top of this file
 * and above plan_build() (file count) and plan_fit_sizes() (byte count): backup/ then holds
 * exactly o->files regular files of o->bytes bytes in total, plus the personal databases
 * (o->contacts, o->events, … > 0; profile-pim.h) and their JSON beside device.ini. The same
 * options give a byte-identical tree, mtimes of files and directories included.
 *
 * Returns 0 on success; -EEXIST if @dir is a non-empty directory, -EINVAL for options that
 * cannot be met (files < photos + apps + 3, a bad name/product/ios), another -errno if
 * writing fails (the partial tree is left behind). Every failure is logged.
 */
int profile_generate(const char *dir, const GenOptions *o) {
        _cleanup_(closep) int dfd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) char *default_name = NULL;
        _cleanup_(plan_done) Plan plan = {};
        const char *name, *product, *ios, *step;
        uint64_t bytes, need;
        unsigned files;
        Rng rng;
        int r;

        if (!dir || !o)
                return -EINVAL;

        files = o->files ? o->files : GEN_DEFAULT_FILES;
        bytes = o->bytes ? o->bytes : GEN_DEFAULT_BYTES;
        need = (uint64_t) o->photos + o->apps + odd_files(o);
        if (files < need) {
                log_warn("gen-profile: %u files cannot hold %u photos, %u app documents and "
                         "%u odd-name files; use --files %" PRIu64 " or more",
                         files, o->photos, o->apps, odd_files(o), need);
                return -EINVAL;
        }
        if (!o->name && asprintf(&default_name, "iPhone %" PRIu64, o->seed) < 0)
                return -ENOMEM;
        name = o->name ?: default_name;
        product = o->product ?: "iPhone15,2";
        ios = o->ios ?: "17.5";
        if (!string_is_clean(name, 255) || !product_is_valid(product) ||
            !version_is_valid(ios) || strlen(ios) > 16) {
                log_warn("gen-profile: invalid name '%s', product '%s' or version '%s'", name,
                         product, ios);
                return -EINVAL;
        }

        rng_init(&rng, o->seed);
        r = plan_build(&plan, &rng, files, o->photos, o->apps, o);
        if (r < 0) {
                log_warn("gen-profile: cannot plan the files: %s", strerror(-r));
                return r;
        }
        r = plan_fit_sizes(&plan, bytes);
        if (r < 0)
                return r;

        buf = malloc(GEN_BUF_SIZE);
        if (!buf)
                return -ENOMEM;

        r = gen_prepare_dir(dir);
        if (r == -EEXIST) {
                log_warn("gen-profile: '%s' exists and is not empty, refusing", dir);
                return r;
        }
        if (r < 0) {
                log_warn("gen-profile: cannot create '%s': %s", dir, strerror(-r));
                return r;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                log_warn("gen-profile: cannot open '%s': %s", dir, strerror(-r));
                return r;
        }

        step = "device.ini";
        r = gen_device_ini(dfd, o->seed, name, product, ios, bytes);
        if (r < 0)
                goto fail;

        step = "directories";
        {
                static const char *const dirs[] = {
                        "media/DCIM", "media/PhotoData", "media/Downloads", "media/Books",
                        "media/iTunes_Control/iTunes", "apps", "crash/Retired", "backup",
                };
                char d[64];

                for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                        snprintf(d, sizeof(d), "%s", dirs[i]);
                        r = mkdir_p_at(dfd, d);
                        if (r < 0)
                                goto fail;
                }
        }

        r = gen_backup_files(dfd, &plan, o->seed, buf, &step);
        if (r < 0)
                goto fail;

        step = "apps";
        for (unsigned a = 1; a <= o->apps; a++) {
                r = gen_app_info(dfd, &rng, o->seed, a, o->apps);
                if (r < 0)
                        goto fail;
                r = gen_app_empty_dir(dfd, a, o->apps);
                if (r < 0)
                        goto fail;
        }

        step = "crash reports";
        {
                _cleanup_(freep) char *build = build_of(ios), *model = hardware_model_of(product);

                if (!build || !model) {
                        r = -ENOMEM;
                        goto fail;
                }
                for (unsigned i = 0; i < o->crashlogs; i++) {
                        r = gen_crashlog(dfd, &rng, i, o->apps, ios, build, model, (char *) buf,
                                         GEN_BUF_SIZE);
                        if (r < 0)
                                goto fail;
                }
        }

        step = "the photo library";
        r = photos_write_cpl(dfd, o->seed, o->photos, buf);
        if (r >= 0)
                r = photos_db_write(dir, plan.rows, plan.n_rows, o->seed, BASE_TIME);
        if (r >= 0)
                r = photos_write_tsv(dir, dfd, BASE_TIME, buf);
        if (r < 0)
                goto fail;

        step = "documents.tsv";
        r = documents_write_tsv(dir, dfd, BASE_TIME, buf);
        if (r < 0)
                goto fail;

        /* The personal databases, each from its own PRNG stream of the seed, so that one
         * kind's count does not change another's data. */
        step = "the personal databases";
        if (o->contacts > 0)
                r = pim_contacts_generate(dir, ios, o->seed, o->contacts);
        if (r >= 0 && o->events > 0)
                r = pim_calendars_generate(dir, ios, o->seed, o->events);
        if (r >= 0 && o->bookmarks > 0)
                r = pim_bookmarks_generate(dir, ios, o->seed, o->bookmarks);
        if (r >= 0 && o->notes > 0)
                r = pim_notes_generate(dir, ios, o->seed, o->notes);
        if (r >= 0 && o->recordings > 0)
                r = pim_recordings_generate(dir, ios, o->seed, o->recordings);
        if (r < 0)
                goto fail;

        step = "the media library";
        if (o->media || o->songs > 0) {
                ItunesOptions io = { .songs = o->songs, .hostile = o->media_hostile };
                r = itunes_generate(dir, o->seed, &io);
                if (r < 0)
                        goto fail;
        }

        step = "directory times";
        r = set_dir_mtimes(dfd, BASE_TIME);
        if (r < 0)
                goto fail;
        return 0;

fail:
        log_warn("gen-profile: '%s': failed at %s: %s", dir, step, strerror(-r));
        return r;
}
