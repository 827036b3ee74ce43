/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contacts and calendars of a backup profile: AddressBook.sqlitedb (+ AddressBookImages)
 * and Calendar.sqlitedb beneath DIR/backup/HomeDomain/Library/, with the schemas of iOS
 * 15–18 (and the deliberately changed "future" one for 19 and later), plus the ground
 * truth DIR/contacts.json and DIR/calendars.json that tests compare a host's vCard and
 * iCalendar exports with. The facts these follow are in docs/ios-databases-contacts-calendars.md.
 *
 * Both kinds keep an in-memory model (Book, Agenda). Generation fills it from the seed;
 * mutate reads it back from the database (so repeated mutations build on each other),
 * changes it and writes database and JSON anew. The databases are written to a temporary
 * file and renamed into place, so a backup running meanwhile sees the old or the new one.
 * Time zone rules (Europe/Berlin, America/New_York, Asia/Tokyo, UTC) are built in, so the
 * occurrences in calendars.json do not depend on the tzdata of the machine.
 */
#include <openssl/evp.h>

#include "profile-internal.h"
#include "profile-pim.h"
#include "profile-pim-model.h"

#define AB_DIR "backup/HomeDomain/Library/AddressBook"
#define AB_DB AB_DIR "/AddressBook.sqlitedb"
#define AB_IMAGES AB_DIR "/AddressBookImages.sqlitedb"
#define CAL_DB "backup/HomeDomain/Library/Calendar/Calendar.sqlitedb"

typedef enum Schema {
        SCHEMA_IOS15,
        SCHEMA_IOS16,
        SCHEMA_IOS17,
        SCHEMA_IOS18,
        SCHEMA_FUTURE,
} Schema;

static const char *const schema_names[] = { "ios15", "ios16", "ios17", "ios18", "future" };

/* The schema of ProductVersion ios: 15.x … 18.x as they are, below 15 like 15, 19 and
 * above the "future" one. */
static Schema schema_of(const char *ios) {
        long major = strtol(ios ? ios : "17", NULL, 10);

        if (major >= 19)
                return SCHEMA_FUTURE;
        if (major <= 15)
                return SCHEMA_IOS15;
        return (Schema) (major - 15);
}

/* ---- small helpers: strings, JSON text, dates, files ------------------------------------ */

static void strfreep(char **p) {
        free(*p);
}

static char *dup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

/* A growing text buffer; a failed allocation sets oom and stops appending. */
typedef struct Text {
        char *p;
        size_t n, allocated;
        bool oom;
} Text;

static void text_done(Text *t) {
        free(t->p);
        *t = (Text) {};
}

static void text_add(Text *t, const char *s, size_t n) {
        if (t->oom)
                return;
        if (t->n + n + 1 > t->allocated) {
                size_t m = t->allocated ? t->allocated : 4096;
                char *p;

                while (m < t->n + n + 1)
                        m *= 2;
                p = realloc(t->p, m);
                if (!p) {
                        t->oom = true;
                        return;
                }
                t->p = p;
                t->allocated = m;
        }
        memcpy(t->p + t->n, s, n);
        t->n += n;
        t->p[t->n] = '\0';
}

static void text_printf(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_printf(Text *t, const char *fmt, ...) {
        char small[512];
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (k < 0) {
                t->oom = true;
                return;
        }
        if ((size_t) k < sizeof(small)) {
                text_add(t, small, (size_t) k);
                return;
        }
        {
                _cleanup_(strfreep) char *big = NULL;

                va_start(ap, fmt);
                k = vasprintf(&big, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        t->oom = true;
                        return;
                }
                text_add(t, big, (size_t) k);
        }
}

/* s as a JSON string (UTF-8 passed through, quotes, backslashes and controls escaped), or
 * null. */
static void json_str(Text *t, const char *s) {
        if (!s) {
                text_add(t, "null", 4);
                return;
        }
        text_add(t, "\"", 1);
        for (const unsigned char *c = (const unsigned char *) s; *c; c++) {
                if (*c == '"' || *c == '\\') {
                        char e[2] = { '\\', (char) *c };

                        text_add(t, e, 2);
                } else if (*c == '\n')
                        text_add(t, "\\n", 2);
                else if (*c == '\r')
                        text_add(t, "\\r", 2);
                else if (*c == '\t')
                        text_add(t, "\\t", 2);
                else if (*c < 0x20)
                        text_printf(t, "\\u%04x", *c);
                else
                        text_add(t, (const char *) c, 1);
        }
        text_add(t, "\"", 1);
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms);
 * valid far beyond the years used here, 1604 (Apple's "no year") included. */
static int64_t days_from_civil(int y, int m, int d) {
        int64_t yy = y - (m <= 2);
        int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
        int64_t yoe = yy - era * 400;
        int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

        return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *ry, int *rm, int *rd) {
        int64_t era, doe, yoe, y, doy, mp;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = z - era * 146097;
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *rd = (int) (doy - (153 * mp + 2) / 5 + 1);
        *rm = (int) (mp < 10 ? mp + 3 : mp - 9);
        *ry = (int) (y + (*rm <= 2));
}

static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Monday 0 … Sunday 6 of a day number (1970-01-01 was a Thursday). */
static int weekday_of(int64_t days) {
        return (int) (((days % 7) + 7 + 3) % 7);
}

static int days_in_month(int y, int m) {
        static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
                return 29;
        return dm[m - 1];
}

/* "YYYY-MM-DDTHH:MM:SSZ" of Unix time t. */
static void iso_instant(int64_t t, char buf[static 32]) {
        int64_t days = floor_div(t, DAY), sod = t - days * DAY;
        int y, m, d;

        civil_from_days(days, &y, &m, &d);
        snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int) (sod / 3600),
                 (int) (sod / 60 % 60), (int) (sod % 60));
}

/* "YYYY-MM-DD" of the UTC day of Unix time t. */
static void iso_date(int64_t t, char buf[static 16]) {
        int y, m, d;

        civil_from_days(floor_div(t, DAY), &y, &m, &d);
        snprintf(buf, 16, "%04d-%02d-%02d", y, m, d);
}

/* A UUID-shaped upper-case identifier from the PRNG. */
static void make_uuid(Rng *r, char buf[static 37]) {
        uint64_t a = rng_next(r), b = rng_next(r);

        snprintf(buf, 37, "%08X-%04X-4%03X-%04X-%012" PRIX64, (unsigned) (a >> 32),
                 (unsigned) (a >> 16 & 0xffff), (unsigned) (a & 0xfff),
                 (unsigned) (0x8000 | (b >> 48 & 0x3fff)), b & UINT64_C(0xffffffffffff));
}

static void sha256_hex(const void *data, size_t n, char hex[static 65]) {
        unsigned char md[32];
        unsigned int len = 0;

        if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
                hex[0] = '\0';
                return;
        }
        for (size_t i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* Write DIR/name from t: a temporary file renamed over the old one, mtime t_mtime. */
static int write_json(const char *dir, const char *name, const Text *t, int64_t t_mtime) {
        _cleanup_(closep) int dfd = -EBADF;
        char tmp[256];
        int r;

        if (t->oom)
                return -ENOMEM;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        (void) unlinkat(dfd, tmp, 0);
        r = write_text_at(dfd, tmp, t->p, t->n, t_mtime);
        if (r >= 0 && renameat(dfd, tmp, dfd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* DIR/rel as an absolute-enough path into buf. */
static int path_in(const char *dir, const char *rel, char *buf, size_t n) {
        int k = snprintf(buf, n, "%s/%s", dir, rel);

        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

static void sqlite3_closep(sqlite3 **db) {
        if (*db)
                (void) sqlite3_close(*db);
}

static void sqlite3_finalizep(sqlite3_stmt **s) {
        if (*s)
                (void) sqlite3_finalize(*s);
}

static int db_exec(sqlite3 *db, const char *sql) {
        char *err = NULL;

        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
                log_warn("pim: SQL failed: %s: %.120s", err ? err : "?", sql);
                sqlite3_free(err);
                return -EIO;
        }
        return 0;
}

static int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        if (sqlite3_prepare_v2(db, sql, -1, ret, NULL) != SQLITE_OK) {
                log_warn("pim: cannot prepare: %s: %.120s", sqlite3_errmsg(db), sql);
                return -EIO;
        }
        return 0;
}

/* Bind a string or NULL. */
static void bind_text(sqlite3_stmt *s, int i, const char *v) {
        if (v)
                (void) sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
        else
                (void) sqlite3_bind_null(s, i);
}

static int step_done(sqlite3 *db, sqlite3_stmt *s) {
        int k = sqlite3_step(s);

        (void) sqlite3_reset(s);
        (void) sqlite3_clear_bindings(s);
        if (k != SQLITE_DONE) {
                log_warn("pim: insert failed: %s", sqlite3_errmsg(db));
                return -EIO;
        }
        return 0;
}

static char *column_dup(sqlite3_stmt *s, int i) {
        const unsigned char *v = sqlite3_column_text(s, i);

        return v ? strdup((const char *) v) : NULL;
}

/* Create DIR/<rel>.tmp as a fresh database (parents made), for db_commit(). */
static int db_create(const char *dir, const char *rel, sqlite3 **ret) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_(closep) int dfd = -EBADF;
        int r;

        r = path_in(dir, rel, path, sizeof(path));
        if (r < 0)
                return r;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        r = mkdir_parents_at(dfd, rel);
        if (r < 0)
                return r;
        (void) unlink(tmp);
        if (sqlite3_open_v2(tmp, ret, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
                log_warn("pim: cannot create %s", tmp);
                (void) sqlite3_close(*ret);
                *ret = NULL;
                return -EIO;
        }
        return db_exec(*ret, "PRAGMA journal_mode=DELETE; PRAGMA page_size=4096;");
}

/* Close db and move DIR/<rel>.tmp over DIR/<rel> with mtime t. */
static int db_commit(sqlite3 *db, const char *dir, const char *rel, int64_t t) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        struct timespec ts[2] = { { .tv_sec = (time_t) t }, { .tv_sec = (time_t) t } };
        int r;

        r = path_in(dir, rel, path, sizeof(path));
        if (r < 0)
                return r;
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (sqlite3_close(db) != SQLITE_OK) {
                (void) unlink(tmp);
                return -EIO;
        }
        if (utimensat(AT_FDCWD, tmp, ts, 0) < 0 || rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int db_open_ro(const char *dir, const char *rel, sqlite3 **ret) {
        char path[PATH_MAX];
        int r;

        r = path_in(dir, rel, path, sizeof(path));
        if (r < 0)
                return r;
        if (access(path, F_OK) < 0)
                return -errno;
        if (sqlite3_open_v2(path, ret, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                (void) sqlite3_close(*ret);
                *ret = NULL;
                return -EIO;
        }
        return 0;
}

/* The mtime of DIR/rel, or BASE_TIME. */
static int64_t mtime_of(const char *dir, const char *rel) {
        char path[PATH_MAX];
        struct stat st;

        if (path_in(dir, rel, path, sizeof(path)) < 0 || stat(path, &st) < 0)
                return BASE_TIME;
        return (int64_t) st.st_mtime;
}

static const char *pick(Rng *r, const char *const *v, size_t n) {
        return v[rng_range(r, n)];
}
#define PICK(r, v) pick((r), (v), ELEMENTSOF(v))

/* ==== contacts ========================================================================== */


static void labeled_done(LabeledValue *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].label);
                free(v[i].value);
        }
}

static void contact_done(Contact *c) {
        char **s[] = { &c->guid, &c->first, &c->last, &c->middle, &c->prefix, &c->suffix,
                       &c->nickname, &c->organization, &c->department, &c->title, &c->note };

        for (size_t i = 0; i < ELEMENTSOF(s); i++)
                free(*s[i]);
        labeled_done(c->phones, c->n_phones);
        labeled_done(c->emails, c->n_emails);
        labeled_done(c->dates, c->n_dates);
        labeled_done(c->urls, c->n_urls);
        for (size_t i = 0; i < c->n_ims; i++) {
                free(c->ims[i].label);
                free(c->ims[i].service);
                free(c->ims[i].user);
        }
        for (size_t i = 0; i < c->n_addresses; i++) {
                PostalAddress *a = &c->addresses[i];

                free(a->label);
                free(a->street);
                free(a->city);
                free(a->region);
                free(a->postcode);
                free(a->country);
                free(a->country_code);
        }
        free(c->photo);
        *c = (Contact) {};
}

void book_done(Book *b) {
        for (size_t i = 0; i < b->n; i++)
                contact_done(&b->c[i]);
        free(b->c);
        for (size_t i = 0; i < b->n_groups; i++)
                free(b->groups[i]);
        *b = (Book) {};
}

Contact *book_append(Book *b) {
        Contact *v = reallocarray(b->c, b->n + 1, sizeof(*v));

        if (!v)
                return NULL;
        b->c = v;
        v += b->n++;
        *v = (Contact) {};
        return v;
}

/* The data the generator draws from: unicode, emoji, commas, semicolons, newlines. */
static const char *const first_names[] = {
        "Anna", "Jürgen", "Zoë", "François", "Björn", "美咲", "Ольга", "José", "Ægir",
        "Saoirse", "Noël", "Małgorzata", "Çağla", "Mia 🌸", "Øystein", "Renée", "伟", "Peter",
};
static const char *const first_ascii[] = {
        "anna", "juergen", "zoe", "francois", "bjoern", "misaki", "olga", "jose", "aegir",
        "saoirse", "noel", "malgorzata", "cagla", "mia", "oystein", "renee", "wei", "peter",
};
static const char *const last_names[] = {
        "Müller", "Weiß", "O'Brien", "王", "佐藤", "García", "Nguyễn", "Smith, Jr.",
        "van der Berg", "Łukasiewicz", "Schmidt-Straße", "Dubois", "Иванова", "Kowalski",
};
static const char *const last_ascii[] = {
        "mueller", "weiss", "obrien", "wang", "sato", "garcia", "nguyen", "smith",
        "vanderberg", "lukasiewicz", "schmidt", "dubois", "ivanova", "kowalski",
};
static const char *const organizations[] = {
        "ACME GmbH", "Müller & Söhne KG", "株式会社テスト", "Café Zeitgeist; Berlin",
        "Example, Inc.", "Universität Wien",
};
static const char *const departments[] = { "R&D", "Vertrieb", "営業部", "IT; Support" };
static const char *const job_titles[] = { "Engineer", "Geschäftsführerin", "部長", "CTO, Co-Founder" };
static const char *const notes[] = {
        "Met at the conference, Berlin; likes ☕.\nCall after 18:00",
        "Line 1\nLine 2, with comma; and semicolon",
        "Backslash \\ and \"quotes\"",
        "Allergie: Nüsse 🥜",
        "誕生日パーティー, 2024",
};
static const char *const prefixes[] = { "Dr.", "Prof. Dr.", "Mme", "Herr" };
static const char *const suffixes[] = { "Jr.", "PhD", "MBA", "III" };
static const char *const nicknames[] = { "Jo", "Bär 🐻", "Kiki", "Ace" };
static const char *const phone_labels[] = {
        "_$!<Mobile>!$_", "_$!<iPhone>!$_", "_$!<Home>!$_", "_$!<Work>!$_", "_$!<Main>!$_",
        "_$!<HomeFAX>!$_", "_$!<WorkFAX>!$_", "_$!<Other>!$_", "Ferienhaus", "Büro 2",
};
/* Phone number shapes: a prefix, then the digits of a number below 10^7. */
static const char *const phone_prefixes[] = { "+49 151 ", "(555) 01", "+81 90-", "030 ", "+1 212 555 " };
static const char *const email_labels[] = { "_$!<Home>!$_", "_$!<Work>!$_", "_$!<Other>!$_", "Uni" };
static const char *const email_domains[] = { "example.com", "example.org", "beispiel.de", "example.jp" };
static const char *const address_labels[] = { "_$!<Home>!$_", "_$!<Work>!$_", "Ferienhaus" };
static const struct {
        const char *street, *city, *region, *postcode, *country, *cc;
} places[] = {
        { "Hauptstraße 5", "Berlin", NULL, "10115", "Germany", "de" },
        { "1 Infinite Loop\nBuilding 2", "Cupertino", "CA", "95014", "United States", "us" },
        { "千代田1-1", "東京", "東京都", "100-0001", "Japan", "jp" },
        { "Rue de l'Église 3, Bât. B", "Paris", NULL, "75004", "France", "fr" },
        { "Marienplatz 8", "München", "Bayern", "80331", "Deutschland", "de" },
        { "ul. Długa 12; m. 4", "Gdańsk", NULL, "80-827", "Poland", "pl" },
};
static const char *const group_names[] = { "Family", "Work", "Fußball ⚽", "Book club; Tuesdays" };
static const char *const url_labels[] = { "_$!<HomePage>!$_", "_$!<Work>!$_", "_$!<Home>!$_", "blog" };

static int add_value(LabeledValue *v, size_t *n, const char *label, const char *value) {
        if (*n >= MAX_VALUES)
                return 0;
        v[*n] = (LabeledValue) { .label = dup_or_null(label), .value = strdup(value) };
        if ((label && !v[*n].label) || !v[*n].value) {
                free(v[*n].label);
                free(v[*n].value);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

/* A small JPEG-like image: SOI, a JFIF APP0, pseudo-random scan bytes, EOI. */
static int make_photo(Rng *r, Contact *c) {
        static const uint8_t head[] = { 0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F',
                                        0x00, 0x01, 0x01, 0x00, 0x00, 0x48, 0x00, 0x48, 0x00,
                                        0x00, 0xff, 0xda, 0x00, 0x08 };
        size_t body = 1024 + (size_t) rng_range(r, 6144), n = sizeof(head) + body + 2;
        uint8_t *p = malloc(n);

        if (!p)
                return -ENOMEM;
        memcpy(p, head, sizeof(head));
        rng_fill(r, p + sizeof(head), body);
        for (size_t i = sizeof(head); i < sizeof(head) + body; i++)
                if (p[i] == 0xff)
                        p[i] = 0xfe;            /* no stray markers */
        p[n - 2] = 0xff;
        p[n - 1] = 0xd9;
        free(c->photo);
        c->photo = p;
        c->photo_size = n;
        return 0;
}

/* Contact c gets its data from r; id is its ROWID, t its creation time. */
static int contact_generate(Rng *r, Contact *c, int64_t id, size_t n_groups, int64_t t) {
        size_t fi = (size_t) rng_range(r, ELEMENTSOF(first_names));
        size_t li = (size_t) rng_range(r, ELEMENTSOF(last_names));
        char uuid[37], buf[256];
        unsigned k;
        int e = 0;

        make_uuid(r, uuid);
        c->id = id;
        c->guid = strdup(uuid);
        c->first = strdup(first_names[fi]);
        c->last = rng_range(r, 10) == 0 ? NULL : strdup(last_names[li]);
        if (!c->guid || !c->first)
                return -ENOMEM;
        if (rng_range(r, 5) == 0)
                c->middle = strdup(rng_range(r, 2) ? "Maria" : "J.");
        if (rng_range(r, 6) == 0)
                c->prefix = strdup(PICK(r, prefixes));
        if (rng_range(r, 8) == 0)
                c->suffix = strdup(PICK(r, suffixes));
        if (rng_range(r, 5) == 0)
                c->nickname = strdup(PICK(r, nicknames));
        if (rng_range(r, 2) == 0) {
                c->organization = strdup(PICK(r, organizations));
                if (rng_range(r, 2) == 0)
                        c->department = strdup(PICK(r, departments));
                if (rng_range(r, 2) == 0)
                        c->title = strdup(PICK(r, job_titles));
        }
        if (rng_range(r, 3) == 0)
                c->note = strdup(PICK(r, notes));

        if (rng_range(r, 10) < 6) {
                c->bday_y = rng_range(r, 6) == 0 ? 1604 : 1950 + (int) rng_range(r, 55);
                c->bday_m = 1 + (int) rng_range(r, 12);
                c->bday_d = 1 + (int) rng_range(r, 28);
        }

        k = 1 + (unsigned) rng_range(r, 3);
        for (unsigned i = 0; i < k && e >= 0; i++) {
                snprintf(buf, sizeof(buf), "%s%07u", PICK(r, phone_prefixes),
                         (unsigned) rng_range(r, 10000000));
                e = add_value(c->phones, &c->n_phones, phone_labels[(id + i) %
                                                                    ELEMENTSOF(phone_labels)],
                              buf);
        }
        k = (unsigned) rng_range(r, 4);
        for (unsigned i = 0; i < k && e >= 0; i++) {
                const char *domain = email_domains[(id + i) % ELEMENTSOF(email_domains)];

                if (i == 0)
                        snprintf(buf, sizeof(buf), "%s.%s@%s", first_ascii[fi], last_ascii[li],
                                 domain);
                else
                        snprintf(buf, sizeof(buf), "%s.%s+%u@%s", first_ascii[fi],
                                 last_ascii[li], i, domain);
                e = add_value(c->emails, &c->n_emails, email_labels[(id + i) %
                                                                   ELEMENTSOF(email_labels)],
                              buf);
        }
        k = (unsigned) rng_range(r, 3);
        for (unsigned i = 0; i < k && e >= 0; i++) {
                size_t p = (size_t) rng_range(r, ELEMENTSOF(places));
                PostalAddress *a = &c->addresses[c->n_addresses++];

                *a = (PostalAddress) {
                        .label = strdup(address_labels[(id + i) % ELEMENTSOF(address_labels)]),
                        .street = dup_or_null(places[p].street),
                        .city = dup_or_null(places[p].city),
                        .region = dup_or_null(places[p].region),
                        .postcode = dup_or_null(places[p].postcode),
                        .country = dup_or_null(places[p].country),
                        .country_code = dup_or_null(places[p].cc),
                };
                if (!a->label || !a->street || !a->city)
                        e = -ENOMEM;
        }
        if (e >= 0 && rng_range(r, 4) == 0) {
                snprintf(buf, sizeof(buf), "%04d-%02d-%02d", 1990 + (int) rng_range(r, 30),
                         1 + (int) rng_range(r, 12), 1 + (int) rng_range(r, 28));
                e = add_value(c->dates, &c->n_dates, "_$!<Anniversary>!$_", buf);
        }
        if (e >= 0 && rng_range(r, 3) == 0) {
                snprintf(buf, sizeof(buf), "https://%s.example.com/~%s?a=1&b=%u", last_ascii[li],
                         first_ascii[fi], (unsigned) id);
                e = add_value(c->urls, &c->n_urls, PICK(r, url_labels), buf);
        }
        if (e < 0)
                return e;
        for (size_t g = 0; g < n_groups; g++)
                if (rng_range(r, 4) == 0)
                        c->groups |= UINT32_C(1) << g;
        if (rng_range(r, 10) < 3) {
                e = make_photo(r, c);
                if (e < 0)
                        return e;
        }
        c->created = c->modified = t;
        return 0;
}

/* ---- AddressBook.sqlitedb: writing -------------------------------------------------- */

static const char ab_person_base[] =
        "Middle TEXT, "
        "FirstPhonetic TEXT, MiddlePhonetic TEXT, LastPhonetic TEXT, Organization TEXT, "
        "Department TEXT, Note TEXT, Kind INTEGER, Birthday TEXT, JobTitle TEXT, Nickname TEXT, "
        "Prefix TEXT, Suffix TEXT, FirstSort TEXT, LastSort TEXT, CreationDate INTEGER, "
        "ModificationDate INTEGER, CompositeNameFallback TEXT, ExternalIdentifier TEXT, "
        "ExternalModificationTag TEXT, ExternalUUID TEXT, StoreID INTEGER, DisplayName TEXT, "
        "ExternalRepresentation BLOB, FirstSortSection TEXT, LastSortSection TEXT, "
        "FirstSortLanguageIndex INTEGER DEFAULT 2147483647, "
        "LastSortLanguageIndex INTEGER DEFAULT 2147483647, PersonLink INTEGER DEFAULT -1, "
        "ImageURI TEXT, IsPreferredName INTEGER DEFAULT 1, guid TEXT NOT NULL, PhonemeData TEXT, "
        "AlternateBirthday TEXT, MapsData TEXT, FirstPronunciation TEXT, "
        "MiddlePronunciation TEXT, LastPronunciation TEXT, OrganizationPhonetic TEXT, "
        "OrganizationPronunciation TEXT, PreviousFamilyName TEXT, PreferredLikenessSource TEXT, "
        "PreferredPersonaIdentifier TEXT, PreferredChannel TEXT, DowntimeWhitelist TEXT, "
        "ImageType TEXT, ImageHash BLOB, MemojiMetadata BLOB";
/* Contact Posters (iOS 17) and what came after (iOS 18); docs/ios-databases-contacts-calendars.md. */
static const char ab_person_17[] =
        ", Wallpaper BLOB, DisplayFlags INTEGER, WatchWallpaperImageData BLOB, "
        "WallpaperMetadata BLOB, ImageBackgroundColorsData BLOB";
static const char ab_person_18[] = ", SensitiveContentConfiguration BLOB, WallpaperURI TEXT";

static const char ab_tables[] =
        "CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE(key));"
        "CREATE TABLE ABStore (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT, "
        "ExternalIdentifier TEXT, Type INTEGER, ConstraintsPath TEXT, "
        "ExternalModificationTag TEXT, ExternalSyncTag TEXT, AccountIdentifier TEXT, "
        "Enabled INTEGER DEFAULT 1, SyncData BLOB, MeIdentifier INTEGER DEFAULT -1, "
        "Capabilities INTEGER DEFAULT 0, InsertionDate REAL, guid TEXT);"
        "CREATE TABLE ABGroup (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, Name TEXT, "
        "ExternalIdentifier TEXT, StoreID INTEGER, ExternalModificationTag TEXT, "
        "ExternalRepresentation BLOB, ExternalUUID TEXT, guid TEXT);"
        "CREATE TABLE ABGroupMembers (UID INTEGER PRIMARY KEY, group_id INTEGER, "
        "member_type INTEGER, member_id INTEGER, UNIQUE(group_id, member_type, member_id));"
        "CREATE TABLE ABMultiValue (UID INTEGER PRIMARY KEY, record_id INTEGER, "
        "property INTEGER, identifier INTEGER, label INTEGER, value TEXT, guid TEXT);"
        "CREATE TABLE ABMultiValueEntry (parent_id INTEGER, key INTEGER, value TEXT, "
        "UNIQUE(parent_id, key));"
        "CREATE TABLE ABMultiValueEntryKey (value TEXT, UNIQUE(value));"
        "CREATE TABLE ABMultiValueLabel (value TEXT, UNIQUE(value));"
        "CREATE INDEX ABMultiValueRecordIDIndex on ABMultiValue(record_id);"
        "CREATE INDEX ABGroupMembersMemberIndex on ABGroupMembers(member_id);"
        "INSERT INTO ABStore (ROWID, Name, Type, Enabled) VALUES (0, 'Local', 0, 1);"
        "INSERT INTO ABMultiValueEntryKey (value) VALUES ('Street'), ('City'), ('State'), "
        "('ZIP'), ('Country'), ('CountryCode'), ('SubLocality'), ('SubAdministrativeArea');";

static const char ab_image_tables[] =
        "CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE(key));"
        "CREATE TABLE ABFullSizeImage (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, "
        "record_id INTEGER, crop_x INTEGER, crop_y INTEGER, crop_width INTEGER, "
        "crop_height INTEGER, data BLOB, UNIQUE(record_id));"
        "CREATE TABLE ABThumbnailImage (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, "
        "record_id INTEGER, format INTEGER, derived_from_format INTEGER, data BLOB, "
        "UNIQUE(record_id, format));";

/* The ROWID of label text in ABMultiValueLabel (inserted when new); NULL label: 0. */
static int label_id(sqlite3 *db, const char *label, int64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL, *sel = NULL;

        *ret = 0;
        if (!label)
                return 0;
        if (db_prepare(db, "INSERT OR IGNORE INTO ABMultiValueLabel (value) VALUES (?)", &ins) <
                    0 ||
            db_prepare(db, "SELECT ROWID FROM ABMultiValueLabel WHERE value = ?", &sel) < 0)
                return -EIO;
        bind_text(ins, 1, label);
        if (step_done(db, ins) < 0)
                return -EIO;
        bind_text(sel, 1, label);
        if (sqlite3_step(sel) != SQLITE_ROW)
                return -EIO;
        *ret = sqlite3_column_int64(sel, 0);
        return 0;
}

/* Mac absolute seconds (as ABPerson.Birthday text) of y-m-d at 12:00 UTC. */
static void date_text(int y, int m, int d, char buf[static 32]) {
        int64_t t = days_from_civil(y, m, d) * DAY + 12 * 3600 - APPLE_EPOCH;

        snprintf(buf, 32, "%" PRId64, t);
}

static int mv_insert(sqlite3 *db, sqlite3_stmt *s, int64_t *uid, int64_t person, int prop,
                     int ident, const char *label, const char *value) {
        int64_t lid;
        int r;

        r = label_id(db, label, &lid);
        if (r < 0)
                return r;
        (*uid)++;
        (void) sqlite3_bind_int64(s, 1, *uid);
        (void) sqlite3_bind_int64(s, 2, person);
        (void) sqlite3_bind_int(s, 3, prop);
        (void) sqlite3_bind_int(s, 4, ident);
        if (label)
                (void) sqlite3_bind_int64(s, 5, lid);
        bind_text(s, 6, value);
        return step_done(db, s);
}

static int book_write(const Book *b, const char *dir, Schema schema, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL, *idb = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *person = NULL, *mv = NULL, *entry = NULL,
                                                  *member = NULL, *full = NULL, *thumb = NULL;
        _cleanup_(strfreep) char *create = NULL, *insert = NULL;
        const char *first = schema == SCHEMA_FUTURE ? "GivenName" : "First";
        const char *last = schema == SCHEMA_FUTURE ? "FamilyName" : "Last";
        int64_t uid = 0;
        int r;

        r = db_create(dir, AB_DB, &db);
        if (r >= 0)
                r = db_create(dir, AB_IMAGES, &idb);
        if (r < 0)
                return r;
        /* The names of the first two columns are what "future" changes. */
        if (asprintf(&create, "CREATE TABLE ABPerson (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, "
                              "%s TEXT, %s TEXT, %s%s%s);", first, last, ab_person_base,
                     schema >= SCHEMA_IOS17 ? ab_person_17 : "",
                     schema >= SCHEMA_IOS18 ? ab_person_18 : "") < 0)
                return -ENOMEM;
        r = db_exec(db, "BEGIN;");
        if (r >= 0)
                r = db_exec(db, create);
        if (r >= 0)
                r = db_exec(db, ab_tables);
        if (r >= 0)
                r = db_exec(idb, "BEGIN;");
        if (r >= 0)
                r = db_exec(idb, ab_image_tables);
        if (r < 0)
                return r;

        if (asprintf(&insert,
                     "INSERT INTO ABPerson (ROWID, %s, %s, Middle, Prefix, Suffix, Nickname, "
                     "Organization, Department, JobTitle, Note, Birthday, Kind, CreationDate, "
                     "ModificationDate, StoreID, guid, FirstSort, LastSort, DisplayName, "
                     "ImageType) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,?,?,0,?,?,?,NULL,?)",
                     first, last) < 0)
                return -ENOMEM;
        if (db_prepare(db, insert, &person) < 0 ||
            db_prepare(db, "INSERT INTO ABMultiValue (UID, record_id, property, identifier, "
                           "label, value) VALUES (?,?,?,?,?,?)", &mv) < 0 ||
            db_prepare(db, "INSERT INTO ABMultiValueEntry (parent_id, key, value) VALUES "
                           "(?, (SELECT ROWID FROM ABMultiValueEntryKey WHERE value = ?), ?)",
                       &entry) < 0 ||
            db_prepare(db, "INSERT INTO ABGroupMembers (group_id, member_type, member_id) "
                           "VALUES (?, 0, ?)", &member) < 0 ||
            db_prepare(idb, "INSERT INTO ABFullSizeImage (record_id, crop_x, crop_y, "
                            "crop_width, crop_height, data) VALUES (?, 0, 0, 0, 0, ?)", &full) <
                    0 ||
            db_prepare(idb, "INSERT INTO ABThumbnailImage (record_id, format, "
                            "derived_from_format, data) VALUES (?, 0, 0, ?)", &thumb) < 0)
                return -EIO;

        for (size_t g = 0; g < b->n_groups; g++) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;

                if (db_prepare(db, "INSERT INTO ABGroup (ROWID, Name, StoreID) VALUES (?,?,0)",
                               &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, (int64_t) g + 1);
                bind_text(s, 2, b->groups[g]);
                if (step_done(db, s) < 0)
                        return -EIO;
        }

        for (size_t i = 0; i < b->n; i++) {
                const Contact *c = &b->c[i];
                char bday[32], sort[512];

                (void) sqlite3_bind_int64(person, 1, c->id);
                bind_text(person, 2, c->first);
                bind_text(person, 3, c->last);
                bind_text(person, 4, c->middle);
                bind_text(person, 5, c->prefix);
                bind_text(person, 6, c->suffix);
                bind_text(person, 7, c->nickname);
                bind_text(person, 8, c->organization);
                bind_text(person, 9, c->department);
                bind_text(person, 10, c->title);
                bind_text(person, 11, c->note);
                if (c->bday_m > 0) {
                        date_text(c->bday_y, c->bday_m, c->bday_d, bday);
                        bind_text(person, 12, bday);
                }
                (void) sqlite3_bind_int64(person, 13, c->created - APPLE_EPOCH);
                (void) sqlite3_bind_int64(person, 14, c->modified - APPLE_EPOCH);
                bind_text(person, 15, c->guid);
                snprintf(sort, sizeof(sort), "%s %s", c->first ?: "", c->last ?: "");
                bind_text(person, 16, sort);
                snprintf(sort, sizeof(sort), "%s %s", c->last ?: "", c->first ?: "");
                bind_text(person, 17, sort);
                bind_text(person, 18, c->photo ? "public.jpeg" : NULL);
                r = step_done(db, person);
                if (r < 0)
                        return r;

                for (size_t k = 0; k < c->n_phones && r >= 0; k++)
                        r = mv_insert(db, mv, &uid, c->id, PROP_PHONE, (int) k,
                                      c->phones[k].label, c->phones[k].value);
                for (size_t k = 0; k < c->n_emails && r >= 0; k++)
                        r = mv_insert(db, mv, &uid, c->id, PROP_EMAIL, (int) k,
                                      c->emails[k].label, c->emails[k].value);
                for (size_t k = 0; k < c->n_addresses && r >= 0; k++) {
                        const PostalAddress *a = &c->addresses[k];
                        const char *parts[][2] = {
                                { "Street", a->street }, { "City", a->city },
                                { "State", a->region }, { "ZIP", a->postcode },
                                { "Country", a->country }, { "CountryCode", a->country_code },
                        };

                        r = mv_insert(db, mv, &uid, c->id, PROP_ADDRESS, (int) k, a->label,
                                      NULL);
                        for (size_t p = 0; p < ELEMENTSOF(parts) && r >= 0; p++) {
                                if (!parts[p][1])
                                        continue;
                                (void) sqlite3_bind_int64(entry, 1, uid);
                                bind_text(entry, 2, parts[p][0]);
                                bind_text(entry, 3, parts[p][1]);
                                r = step_done(db, entry);
                        }
                }
                for (size_t k = 0; k < c->n_dates && r >= 0; k++) {
                        int y, m, d;

                        if (sscanf(c->dates[k].value, "%d-%d-%d", &y, &m, &d) != 3)
                                return -EINVAL;
                        date_text(y, m, d, bday);
                        r = mv_insert(db, mv, &uid, c->id, PROP_DATE, (int) k,
                                      c->dates[k].label, bday);
                }
                for (size_t k = 0; k < c->n_urls && r >= 0; k++)
                        r = mv_insert(db, mv, &uid, c->id, PROP_URL, (int) k, c->urls[k].label,
                                      c->urls[k].value);
                for (size_t k = 0; k < c->n_ims && r >= 0; k++) {
                        const char *parts[][2] = {
                                { "service", c->ims[k].service }, { "username", c->ims[k].user },
                        };

                        /* The keys exist only in books with an IM, so a generated book stays
                         * as it always was. */
                        r = db_exec(db, "INSERT OR IGNORE INTO ABMultiValueEntryKey (value) "
                                        "VALUES ('service'), ('username');");
                        if (r >= 0)
                                r = mv_insert(db, mv, &uid, c->id, PROP_IM, (int) k,
                                              c->ims[k].label, NULL);
                        for (size_t p = 0; p < ELEMENTSOF(parts) && r >= 0; p++) {
                                if (!parts[p][1])
                                        continue;
                                (void) sqlite3_bind_int64(entry, 1, uid);
                                bind_text(entry, 2, parts[p][0]);
                                bind_text(entry, 3, parts[p][1]);
                                r = step_done(db, entry);
                        }
                }
                for (size_t g = 0; g < b->n_groups && r >= 0; g++) {
                        if (!(c->groups & (UINT32_C(1) << g)))
                                continue;
                        (void) sqlite3_bind_int64(member, 1, (int64_t) g + 1);
                        (void) sqlite3_bind_int64(member, 2, c->id);
                        r = step_done(db, member);
                }
                if (r >= 0 && c->photo) {
                        size_t tn = c->photo_size < 512 ? c->photo_size : 512;

                        (void) sqlite3_bind_int64(full, 1, c->id);
                        (void) sqlite3_bind_blob(full, 2, c->photo, (int) c->photo_size,
                                                 SQLITE_TRANSIENT);
                        r = step_done(idb, full);
                        /* The thumbnail: raw-ish bytes as real ones are, not the JPEG. */
                        (void) sqlite3_bind_int64(thumb, 1, c->id);
                        (void) sqlite3_bind_blob(thumb, 2, c->photo + c->photo_size - tn,
                                                 (int) tn, SQLITE_TRANSIENT);
                        if (r >= 0)
                                r = step_done(idb, thumb);
                }
                if (r < 0)
                        return r;
        }

        /* Deleted ROWIDs are not handed out again: keep the sequence where it was. */
        {
                char sql[160];

                snprintf(sql, sizeof(sql),
                         "INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES "
                         "('ABPerson', %" PRId64 ");", b->next_id - 1);
                r = db_exec(db, "DELETE FROM sqlite_sequence WHERE name = 'ABPerson';");
                if (r >= 0)
                        r = db_exec(db, sql);
        }
        if (r >= 0)
                r = db_exec(db, "INSERT INTO _SqliteDatabaseProperties VALUES "
                                "('__ABDataVersion', '1');COMMIT;");
        if (r >= 0)
                r = db_exec(idb, "COMMIT;");
        sqlite3_finalize(TAKE_PTR(person));
        sqlite3_finalize(TAKE_PTR(mv));
        sqlite3_finalize(TAKE_PTR(entry));
        sqlite3_finalize(TAKE_PTR(member));
        sqlite3_finalize(TAKE_PTR(full));
        sqlite3_finalize(TAKE_PTR(thumb));
        if (r < 0)
                return r;
        r = db_commit(TAKE_PTR(db), dir, AB_DB, t);
        if (r >= 0)
                r = db_commit(TAKE_PTR(idb), dir, AB_IMAGES, t);
        return r;
}

/* ---- AddressBook.sqlitedb: reading back (for mutate) ---------------------------------- */

/* y-m-d of a Birthday/date text (Mac absolute seconds); false if unparsable. */
static bool date_of_text(const char *s, int *y, int *m, int *d) {
        char *end;
        double v;

        if (!s)
                return false;
        v = strtod(s, &end);
        if (end == s)
                return false;
        civil_from_days(floor_div((int64_t) v + APPLE_EPOCH, DAY), y, m, d);
        return true;
}

static Contact *book_find(Book *b, int64_t id) {
        for (size_t i = 0; i < b->n; i++)
                if (b->c[i].id == id)
                        return &b->c[i];
        return NULL;
}

static int book_load(Book *b, const char *dir, Schema schema) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL, *idb = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_(strfreep) char *sql = NULL;
        const bool future = schema == SCHEMA_FUTURE;
        int r, k;

        r = db_open_ro(dir, AB_DB, &db);
        if (r < 0)
                return r;
        if (asprintf(&sql, "SELECT ROWID, %s, %s, Middle, Prefix, Suffix, Nickname, "
                           "Organization, Department, JobTitle, Note, Birthday, CreationDate, "
                           "ModificationDate, guid FROM ABPerson ORDER BY ROWID",
                     future ? "GivenName" : "First", future ? "FamilyName" : "Last") < 0)
                return -ENOMEM;
        if (db_prepare(db, sql, &s) < 0)
                return -EIO;
        while ((k = sqlite3_step(s)) == SQLITE_ROW) {
                Contact *c = book_append(b);

                if (!c)
                        return -ENOMEM;
                c->id = sqlite3_column_int64(s, 0);
                c->first = column_dup(s, 1);
                c->last = column_dup(s, 2);
                c->middle = column_dup(s, 3);
                c->prefix = column_dup(s, 4);
                c->suffix = column_dup(s, 5);
                c->nickname = column_dup(s, 6);
                c->organization = column_dup(s, 7);
                c->department = column_dup(s, 8);
                c->title = column_dup(s, 9);
                c->note = column_dup(s, 10);
                if (date_of_text((const char *) sqlite3_column_text(s, 11), &c->bday_y,
                                 &c->bday_m, &c->bday_d) == false)
                        c->bday_m = 0;
                c->created = sqlite3_column_int64(s, 12) + APPLE_EPOCH;
                c->modified = sqlite3_column_int64(s, 13) + APPLE_EPOCH;
                c->guid = column_dup(s, 14);
        }
        if (k != SQLITE_DONE)
                return -EIO;
        sqlite3_finalize(TAKE_PTR(s));

        if (db_prepare(db, "SELECT ROWID, Name FROM ABGroup ORDER BY ROWID", &s) < 0)
                return -EIO;
        while (sqlite3_step(s) == SQLITE_ROW && b->n_groups < MAX_GROUPS)
                b->groups[b->n_groups++] = column_dup(s, 1);
        sqlite3_finalize(TAKE_PTR(s));
        if (db_prepare(db, "SELECT group_id, member_id FROM ABGroupMembers", &s) < 0)
                return -EIO;
        while (sqlite3_step(s) == SQLITE_ROW) {
                int64_t g = sqlite3_column_int64(s, 0);
                Contact *c = book_find(b, sqlite3_column_int64(s, 1));

                if (c && g >= 1 && g <= (int64_t) b->n_groups)
                        c->groups |= UINT32_C(1) << (g - 1);
        }
        sqlite3_finalize(TAKE_PTR(s));

        if (db_prepare(db, "SELECT mv.UID, mv.record_id, mv.property, l.value, mv.value "
                           "FROM ABMultiValue mv LEFT JOIN ABMultiValueLabel l "
                           "ON l.ROWID = mv.label ORDER BY mv.record_id, mv.property, "
                           "mv.identifier, mv.UID", &s) < 0)
                return -EIO;
        while ((k = sqlite3_step(s)) == SQLITE_ROW) {
                Contact *c = book_find(b, sqlite3_column_int64(s, 1));
                const char *label = (const char *) sqlite3_column_text(s, 3);
                const char *value = (const char *) sqlite3_column_text(s, 4);
                int prop = sqlite3_column_int(s, 2), y, m, d;
                char date[16];

                if (!c)
                        continue;
                r = 0;
                switch (prop) {
                case PROP_PHONE:
                        r = add_value(c->phones, &c->n_phones, label, value ?: "");
                        break;
                case PROP_EMAIL:
                        r = add_value(c->emails, &c->n_emails, label, value ?: "");
                        break;
                case PROP_URL:
                        r = add_value(c->urls, &c->n_urls, label, value ?: "");
                        break;
                case PROP_DATE:
                        if (!date_of_text(value, &y, &m, &d))
                                break;
                        snprintf(date, sizeof(date), "%04d-%02d-%02d", y, m, d);
                        r = add_value(c->dates, &c->n_dates, label, date);
                        break;
                case PROP_ADDRESS: {
                        _cleanup_(sqlite3_finalizep) sqlite3_stmt *e = NULL;
                        PostalAddress *a;

                        if (c->n_addresses >= MAX_VALUES)
                                break;
                        a = &c->addresses[c->n_addresses++];
                        *a = (PostalAddress) { .label = dup_or_null(label) };
                        if (db_prepare(db, "SELECT k.value, e.value FROM ABMultiValueEntry e "
                                           "JOIN ABMultiValueEntryKey k ON k.ROWID = e.key "
                                           "WHERE e.parent_id = ?", &e) < 0)
                                return -EIO;
                        (void) sqlite3_bind_int64(e, 1, sqlite3_column_int64(s, 0));
                        while (sqlite3_step(e) == SQLITE_ROW) {
                                const char *key = (const char *) sqlite3_column_text(e, 0);
                                char **to = !key                         ? NULL
                                            : strcmp(key, "Street") == 0 ? &a->street
                                            : strcmp(key, "City") == 0   ? &a->city
                                            : strcmp(key, "State") == 0  ? &a->region
                                            : strcmp(key, "ZIP") == 0    ? &a->postcode
                                            : strcmp(key, "Country") == 0 ? &a->country
                                            : strcmp(key, "CountryCode") == 0 ? &a->country_code
                                                                              : NULL;

                                if (to) {
                                        free(*to);
                                        *to = column_dup(e, 1);
                                }
                        }
                        break;
                }
                default:
                        break;
                }
                if (r < 0)
                        return r;
        }
        sqlite3_finalize(TAKE_PTR(s));

        b->next_id = 1;
        if (db_prepare(db, "SELECT seq FROM sqlite_sequence WHERE name = 'ABPerson'", &s) < 0)
                return -EIO;
        if (sqlite3_step(s) == SQLITE_ROW)
                b->next_id = sqlite3_column_int64(s, 0) + 1;
        sqlite3_finalize(TAKE_PTR(s));
        for (size_t i = 0; i < b->n; i++)
                if (b->c[i].id >= b->next_id)
                        b->next_id = b->c[i].id + 1;

        if (db_open_ro(dir, AB_IMAGES, &idb) < 0)
                return 0;                       /* no images: no photos */
        if (db_prepare(idb, "SELECT record_id, data FROM ABFullSizeImage", &s) < 0)
                return -EIO;
        while (sqlite3_step(s) == SQLITE_ROW) {
                Contact *c = book_find(b, sqlite3_column_int64(s, 0));
                const void *data = sqlite3_column_blob(s, 1);
                int n = sqlite3_column_bytes(s, 1);

                if (!c || !data || n <= 0)
                        continue;
                c->photo = malloc((size_t) n);
                if (!c->photo)
                        return -ENOMEM;
                memcpy(c->photo, data, (size_t) n);
                c->photo_size = (size_t) n;
        }
        return 0;
}

/* ---- contacts.json ----------------------------------------------------------------------- */

/* The JSON label of a stored one: "_$!<HomeFAX>!$_" → "home fax", custom ones as stored. */
static void json_label(Text *t, const char *label) {
        size_t n = label ? strlen(label) : 0;
        char out[128];
        size_t o = 0;

        if (!label || n < 8 || !startswith(label, "_$!<") || strcmp(label + n - 4, ">!$_") != 0) {
                json_str(t, label);
                return;
        }
        for (size_t i = 4; i < n - 4 && o + 2 < sizeof(out); i++) {
                if (strncmp(label + i, "FAX", 3) == 0 && i > 4 && i + 3 == n - 4) {
                        o += (size_t) snprintf(out + o, sizeof(out) - o, " fax");
                        break;
                }
                out[o++] = (char) tolower((unsigned char) label[i]);
        }
        out[o] = '\0';
        json_str(t, out);
}

static void json_values(Text *t, const char *key, const char *field, const LabeledValue *v,
                        size_t n) {
        text_printf(t, ",\"%s\":[", key);
        for (size_t i = 0; i < n; i++) {
                text_add(t, i ? ",{\"label\":" : "{\"label\":", i ? 10 : 9);
                json_label(t, v[i].label);
                text_printf(t, ",\"%s\":", field);
                json_str(t, v[i].value);
                text_add(t, "}", 1);
        }
        text_add(t, "]", 1);
}

static int book_write_json(const Book *b, const char *dir, const char *ios, Schema schema,
                           int64_t t) {
        _cleanup_(text_done) Text j = {};

        text_add(&j, "{\"ios\":", 7);
        json_str(&j, ios);
        text_printf(&j, ",\"schema\":\"%s\",\"contacts\":[", schema_names[schema]);
        for (size_t i = 0; i < b->n; i++) {
                const Contact *c = &b->c[i];
                const struct {
                        const char *key, *value;
                } fields[] = {
                        { "first", c->first }, { "last", c->last }, { "middle", c->middle },
                        { "prefix", c->prefix }, { "suffix", c->suffix },
                        { "nickname", c->nickname }, { "organization", c->organization },
                        { "department", c->department }, { "title", c->title },
                        { "note", c->note },
                };

                text_printf(&j, "%s\n{\"id\":%" PRId64, i ? "," : "", c->id);
                for (size_t f = 0; f < ELEMENTSOF(fields); f++) {
                        text_printf(&j, ",\"%s\":", fields[f].key);
                        json_str(&j, fields[f].value);
                }
                if (c->bday_m == 0)
                        text_add(&j, ",\"birthday\":null", 16);
                else if (c->bday_y == 1604)
                        text_printf(&j, ",\"birthday\":\"--%02d-%02d\"", c->bday_m, c->bday_d);
                else
                        text_printf(&j, ",\"birthday\":\"%04d-%02d-%02d\"", c->bday_y,
                                    c->bday_m, c->bday_d);
                json_values(&j, "phones", "value", c->phones, c->n_phones);
                json_values(&j, "emails", "value", c->emails, c->n_emails);
                text_add(&j, ",\"addresses\":[", 14);
                for (size_t k = 0; k < c->n_addresses; k++) {
                        const PostalAddress *a = &c->addresses[k];

                        text_add(&j, k ? ",{\"label\":" : "{\"label\":", k ? 10 : 9);
                        json_label(&j, a->label);
                        text_add(&j, ",\"street\":", 10);
                        json_str(&j, a->street);
                        text_add(&j, ",\"city\":", 8);
                        json_str(&j, a->city);
                        text_add(&j, ",\"region\":", 10);
                        json_str(&j, a->region);
                        text_add(&j, ",\"postcode\":", 12);
                        json_str(&j, a->postcode);
                        text_add(&j, ",\"country\":", 11);
                        json_str(&j, a->country);
                        text_add(&j, "}", 1);
                }
                text_add(&j, "]", 1);
                json_values(&j, "dates", "date", c->dates, c->n_dates);
                json_values(&j, "urls", "value", c->urls, c->n_urls);
                /* Only mobilesync-driven books have IMs; others keep their old JSON. */
                for (size_t k = 0; k < c->n_ims; k++) {
                        text_add(&j, k ? ",{\"label\":" : ",\"ims\":[{\"label\":", k ? 10 : 17);
                        json_label(&j, c->ims[k].label);
                        text_add(&j, ",\"service\":", 11);
                        json_str(&j, c->ims[k].service);
                        text_add(&j, ",\"user\":", 8);
                        json_str(&j, c->ims[k].user);
                        text_add(&j, k + 1 == c->n_ims ? "}]" : "}", k + 1 == c->n_ims ? 2 : 1);
                }
                text_add(&j, ",\"groups\":[", 11);
                for (size_t g = 0, first = 1; g < b->n_groups; g++) {
                        if (!(c->groups & (UINT32_C(1) << g)))
                                continue;
                        if (!first)
                                text_add(&j, ",", 1);
                        json_str(&j, b->groups[g]);
                        first = 0;
                }
                text_add(&j, "],\"photo_sha256\":", 17);
                if (c->photo) {
                        char hex[65];

                        sha256_hex(c->photo, c->photo_size, hex);
                        json_str(&j, hex);
                } else
                        text_add(&j, "null", 4);
                text_add(&j, "}", 1);
        }
        text_add(&j, "\n]}\n", 4);
        return write_json(dir, "contacts.json", &j, t);
}

/* ---- contacts: the entry points ------------------------------------------------------- */

/**
 * pim_contacts_generate: AddressBook.sqlitedb and AddressBookImages.sqlitedb with n
 * contacts (ROWID 1…n) in 4 groups, and DIR/contacts.json. See profile-pim.h.
 */
int pim_contacts_generate(const char *dir, const char *ios, uint64_t seed, unsigned n) {
        _cleanup_(book_done) Book b = {};
        Schema schema = schema_of(ios);
        Rng rng;
        int r;

        if (!dir)
                return -EINVAL;
        rng_init(&rng, seed ^ UINT64_C(0x636f6e7461637473));      /* "contacts" */
        for (size_t g = 0; g < ELEMENTSOF(group_names); g++) {
                b.groups[b.n_groups] = strdup(group_names[g]);
                if (!b.groups[b.n_groups++])
                        return -ENOMEM;
        }
        for (unsigned i = 1; i <= n; i++) {
                Contact *c = book_append(&b);

                if (!c)
                        return -ENOMEM;
                r = contact_generate(&rng, c, i, b.n_groups,
                                     BASE_TIME - 400 * DAY + (int64_t) rng_range(&rng, 300 * DAY));
                if (r < 0)
                        return r;
        }
        b.next_id = (int64_t) n + 1;

        r = book_write(&b, dir, schema, BASE_TIME);
        if (r >= 0)
                r = book_write_json(&b, dir, ios ?: "17.5", schema, BASE_TIME);
        if (r < 0)
                log_warn("gen-profile: cannot write the contacts of '%s': %s", dir, strerror(-r));
        return r;
}

/**
 * pim_book_write: the databases and contacts.json of book b, as it is. See
 * profile-pim-model.h.
 */
int pim_book_write(const Book *b, const char *dir, const char *ios, int64_t t) {
        Schema schema = schema_of(ios);
        int r;

        if (!b || !dir)
                return -EINVAL;
        r = book_write(b, dir, schema, t);
        if (r >= 0)
                r = book_write_json(b, dir, ios ?: "17.5", schema, t);
        return r;
}

/* Change contact c the way a person edits one: the note, a new number, a new name or a
 * photo, by turn k. */
static int contact_change(Rng *r, Contact *c, unsigned k, int64_t t) {
        char buf[64];
        int e = 0;

        switch (k % 4) {
        case 0:
                free(c->note);
                c->note = strdup("Geändert; changed,\nzweite Zeile ✓");
                e = c->note ? 0 : -ENOMEM;
                break;
        case 1:
                snprintf(buf, sizeof(buf), "+49 170 %07u", (unsigned) rng_range(r, 10000000));
                if (c->n_phones >= MAX_VALUES)
                        labeled_done(&c->phones[--c->n_phones], 1);
                e = add_value(c->phones, &c->n_phones, "_$!<Work>!$_", buf);
                break;
        case 2:
                free(c->last);
                c->last = strdup("Neumann-Größe");
                e = c->last ? 0 : -ENOMEM;
                break;
        default:
                e = make_photo(r, c);
                break;
        }
        c->modified = t;
        return e;
}

/**
 * pim_contacts_mutate: change, add and delete contacts of DIR's AddressBook (see
 * profile-pim.h). Returns 0 without doing anything if the profile has no contacts.json.
 */
int pim_contacts_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                        unsigned add, unsigned del) {
        _cleanup_(book_done) Book b = {};
        Schema schema = schema_of(ios);
        char json[PATH_MAX];
        int64_t t;
        Rng rng;
        int r;

        if (!dir)
                return -EINVAL;
        if (path_in(dir, "contacts.json", json, sizeof(json)) < 0 || access(json, F_OK) < 0)
                return 0;
        r = book_load(&b, dir, schema);
        if (r < 0) {
                log_warn("mutate: cannot read the contacts of '%s': %s", dir, strerror(-r));
                return r;
        }
        if ((uint64_t) change + del > b.n) {
                log_warn("mutate: '%s' has %zu contacts, cannot change %u and delete %u", dir,
                         b.n, change, del);
                return -EINVAL;
        }
        t = mtime_of(dir, AB_DB) + DAY;
        rng_init(&rng, seed ^ UINT64_C(0x6d75742d636f6e74));      /* "mut-cont" */

        /* Distinct victims: a partial shuffle of the positions. */
        {
                _cleanup_(freep) size_t *perm = calloc(b.n ? b.n : 1, sizeof(size_t));
                _cleanup_(freep) bool *gone = calloc(b.n ? b.n : 1, sizeof(bool));
                size_t w = 0;

                if (!perm || !gone)
                        return -ENOMEM;
                for (size_t i = 0; i < b.n; i++)
                        perm[i] = i;
                for (size_t i = 0; i < (size_t) change + del; i++) {
                        size_t j = i + (size_t) rng_range(&rng, b.n - i), x = perm[i];

                        perm[i] = perm[j];
                        perm[j] = x;
                }
                for (unsigned i = 0; i < change; i++) {
                        r = contact_change(&rng, &b.c[perm[i]], i, t);
                        if (r < 0)
                                return r;
                }
                for (unsigned i = change; i < change + del; i++)
                        gone[perm[i]] = true;
                for (size_t i = 0; i < b.n; i++) {
                        if (gone[i]) {
                                contact_done(&b.c[i]);
                                continue;
                        }
                        b.c[w++] = b.c[i];
                }
                b.n = w;
        }
        for (unsigned i = 0; i < add; i++) {
                Contact *c = book_append(&b);

                if (!c)
                        return -ENOMEM;
                r = contact_generate(&rng, c, b.next_id++, b.n_groups, t);
                if (r < 0)
                        return r;
        }

        r = book_write(&b, dir, schema, t);
        if (r >= 0)
                r = book_write_json(&b, dir, ios ?: "17.5", schema, t);
        if (r < 0)
                log_warn("mutate: cannot write the contacts of '%s': %s", dir, strerror(-r));
        return r;
}

/* ==== calendars ========================================================================= */

static const char *const freq_names[] = { "", "DAILY", "WEEKLY", "MONTHLY", "YEARLY" };
static const char *const day_names[] = { "MO", "TU", "WE", "TH", "FR", "SA", "SU" };

static void event_done(Event *e) {
        free(e->uid);
        free(e->uuid);
        free(e->summary);
        free(e->location);
        free(e->description);
        free(e->url);
        for (size_t i = 0; i < e->n_overrides; i++) {
                free(e->overrides[i].uuid);
                free(e->overrides[i].summary);
        }
        for (size_t i = 0; i < e->n_attendees; i++) {
                free(e->attendees[i].email);
                free(e->attendees[i].name);
        }
        *e = (Event) {};
}

void agenda_done(Agenda *a) {
        for (size_t i = 0; i < a->n; i++)
                event_done(&a->e[i]);
        free(a->e);
        for (size_t i = 0; i < a->n_cals; i++)
                free(a->cals[i]);
        *a = (Agenda) {};
}

Event *agenda_append(Agenda *a) {
        Event *v = reallocarray(a->e, a->n + 1, sizeof(*v));

        if (!v)
                return NULL;
        a->e = v;
        v += a->n++;
        *v = (Event) {};
        return v;
}

/* ---- time zones: the rules of the four zones the generator uses ------------------------ */

static bool tz_is_zone(const char *tz) {
        return strcmp(tz, "_float") != 0;
}

/* The day number of the n-th (1…) Sunday of y-m, or of the last one for n = 0. */
static int64_t sunday_of(int y, int m, int n) {
        int64_t d;

        if (n == 0) {
                d = days_from_civil(y, m, days_in_month(y, m));
                return d - (weekday_of(d) + 1) % 7;
        }
        d = days_from_civil(y, m, 1);
        return d + (6 - weekday_of(d)) + 7 * (n - 1);
}

/* The UTC offset (seconds east) of tz at Unix instant t: EU rules for Berlin (last Sunday
 * of March/October, 01:00 UTC), US rules for New York (second Sunday of March 02:00 EST,
 * first Sunday of November 02:00 EDT), none in Tokyo and UTC. Paris, St. John's and Lord
 * Howe are the other zones of mobilesync's generated events (mobilesync-backupdb.c). */
static int64_t zone_offset(const char *tz, int64_t t) {
        int y, m, d;

        civil_from_days(floor_div(t, DAY), &y, &m, &d);
        if (strcmp(tz, "Europe/Berlin") == 0 || strcmp(tz, "Europe/Paris") == 0) {
                int64_t on = sunday_of(y, 3, 0) * DAY + 3600, off = sunday_of(y, 10, 0) * DAY + 3600;

                return t >= on && t < off ? 7200 : 3600;
        }
        if (strcmp(tz, "America/New_York") == 0) {
                int64_t on = sunday_of(y, 3, 2) * DAY + 7 * 3600;
                int64_t off = sunday_of(y, 11, 1) * DAY + 6 * 3600;

                return t >= on && t < off ? -4 * 3600 : -5 * 3600;
        }
        if (strcmp(tz, "America/St_Johns") == 0) {
                /* -3:30, summer -2:30, switching at 02:00 local on the US Sundays. */
                int64_t on = sunday_of(y, 3, 2) * DAY + 5 * 3600 + 1800;
                int64_t off = sunday_of(y, 11, 1) * DAY + 4 * 3600 + 1800;

                return t >= on && t < off ? -9000 : -12600;
        }
        if (strcmp(tz, "Australia/Lord_Howe") == 0) {
                /* +10:30, summer +11:00 from the first Sunday of October 02:00 to the first
                 * Sunday of April 02:00 (local), so 15:30 and 15:00 UTC the day before. */
                int64_t off = sunday_of(y, 4, 1) * DAY - 9 * 3600;
                int64_t on = sunday_of(y, 10, 1) * DAY - 8 * 3600 - 1800;

                return t < off || t >= on ? 11 * 3600 : 10 * 3600 + 1800;
        }
        if (strcmp(tz, "Asia/Tokyo") == 0)
                return 9 * 3600;
        return 0;
}

/* The instant of wall-clock time w in tz (the generator avoids the hours DST skips). */
static int64_t zone_to_utc(const char *tz, int64_t w) {
        int64_t off = zone_offset(tz, w - zone_offset(tz, w));

        if (zone_offset(tz, w - off) != off)
                off = zone_offset(tz, w - off);
        return w - off;
}

static int64_t to_wall(const Event *e, int64_t t) {
        return tz_is_zone(e->tz) ? t + zone_offset(e->tz, t) : t;
}

static int64_t from_wall(const Event *e, int64_t w) {
        return tz_is_zone(e->tz) ? zone_to_utc(e->tz, w) : w;
}

/* ---- recurrence expansion (RFC 5545 for the subset generated) -------------------------- */

/* The candidate days of period k of e's rule (ascending) into v; returns their number. */
static size_t period_days(const Event *e, int64_t d0, unsigned k, int64_t v[static 8]) {
        int y0, m0, dom0;
        size_t n = 0;

        civil_from_days(d0, &y0, &m0, &dom0);
        switch (e->freq) {
        case FREQ_DAILY:
                v[n++] = d0 + (int64_t) k * e->interval;
                break;
        case FREQ_WEEKLY: {
                int64_t week = d0 - weekday_of(d0) + 7 * (int64_t) k * e->interval;

                for (int wd = 0; wd < 7; wd++)
                        if (e->byday ? e->byday & (1u << wd) : wd == weekday_of(d0))
                                v[n++] = week + wd;
                break;
        }
        case FREQ_MONTHLY: {
                int64_t mi = (int64_t) (m0 - 1) + (int64_t) k * e->interval;
                int y = y0 + (int) (mi / 12), m = (int) (mi % 12) + 1;

                if (e->n_monthdays == 0) {
                        if (dom0 <= days_in_month(y, m))
                                v[n++] = days_from_civil(y, m, dom0);
                        break;
                }
                for (size_t i = 0; i < e->n_monthdays; i++)     /* kept sorted */
                        if (e->monthdays[i] <= days_in_month(y, m))
                                v[n++] = days_from_civil(y, m, e->monthdays[i]);
                break;
        }
        case FREQ_YEARLY: {
                int y = y0 + (int) (k * e->interval);

                if (dom0 <= days_in_month(y, m0))
                        v[n++] = days_from_civil(y, m0, dom0);
                break;
        }
        default:
                break;
        }
        return n;
}

/* Every start of e's rule in [start, start + 366 days), without its exception dates, into
 * out (at most MAX_OCCURRENCES); returns their number. COUNT counts the excluded ones too. */
static size_t event_occurrences(const Event *e, int64_t *out) {
        int64_t w0 = to_wall(e, e->start), d0 = floor_div(w0, DAY), sod = w0 - d0 * DAY;
        int64_t window = e->start + 366 * DAY;
        unsigned made = 0;
        size_t n = 0;

        if (e->freq == FREQ_NONE) {
                out[0] = e->start;
                return 1;
        }
        for (unsigned k = 0; k < 2000; k++) {
                int64_t days[8];
                size_t nd = period_days(e, d0, k, days);

                if (nd > 0 && days[0] > d0 + 400)
                        break;
                for (size_t i = 0; i < nd; i++) {
                        int64_t t;
                        bool excluded = false;

                        if (days[i] < d0)
                                continue;
                        t = from_wall(e, days[i] * DAY + sod);
                        if ((e->until && t > e->until) || (e->count && made >= e->count) ||
                            t >= window)
                                return n;
                        made++;
                        for (size_t x = 0; x < e->n_exdates; x++)
                                excluded = excluded || e->exdates[x] == t;
                        if (!excluded && n < MAX_OCCURRENCES)
                                out[n++] = t;
                }
        }
        return n;
}

/* ---- generation ------------------------------------------------------------------------ */

static const char *const cal_titles[] = { "Home", "Work", "Familie 👪", "Reisen; Urlaub, 2026" };
static const char *const summaries[] = {
        "Team-Meeting", "Zahnarzt 🦷", "Lunch, with Anna; maybe Bob", "会議", "Yoga\\Pilates",
        "Sprint review: Q1, Q2; planning", "Geburtstag 🎂", "Flug nach Tokio ✈️", "Elternabend",
        "Café mit Zoë",
};
static const char *const descriptions[] = {
        "Agenda:\n1. Zahlen, Daten; Fakten\n2. Sonstiges",
        "Bring: laptop, charger; badge",
        "Line one\nLine two \\ with backslash",
        "メモ：資料を持参",
};
static const char *const locations[] = {
        "Raum 4, 2. OG; Haus B", "Café Müller", "東京オフィス", "Zoom", "1 Main St, New York, NY",
};
static const struct {
        const char *email, *name;
} attendee_pool[] = {
        { "anna.mueller@example.com", "Anna Müller" },
        { "bob@example.org", NULL },
        { "li.lei@example.cn", "李雷" },
        { "o.brien@example.com", "Seán O'Brien, PhD" },
};

static int event_add_attendees(Event *e, unsigned k) {
        for (unsigned i = 0; i < k && i < MAX_ATTENDEES; i++) {
                Attendee *a = &e->attendees[e->n_attendees];

                a->email = strdup(attendee_pool[i].email);
                a->name = dup_or_null(attendee_pool[i].name);
                if (!a->email || (attendee_pool[i].name && !a->name)) {
                        free(a->email);
                        free(a->name);
                        return -ENOMEM;
                }
                e->n_attendees++;
        }
        return 0;
}

/* Exclude occurrence number x and move occurrence number o (when the rule has them). */
static int event_add_exceptions(Rng *r, Event *e, int64_t *next_id, size_t x, size_t o) {
        _cleanup_(freep) int64_t *occ = malloc(MAX_OCCURRENCES * sizeof(int64_t));
        size_t n;

        if (!occ)
                return -ENOMEM;
        n = event_occurrences(e, occ);
        if (o < n && o != x && e->n_overrides < MAX_OVERRIDES) {
                Override *v = &e->overrides[e->n_overrides];
                char uuid[37];
                int64_t shift = e->all_day ? DAY : 3600;

                make_uuid(r, uuid);
                *v = (Override) {
                        .id = (*next_id)++,
                        .uuid = strdup(uuid),
                        .orig = occ[o],
                        .start = occ[o] + shift,
                        .end = occ[o] + shift + (e->end - e->start),
                };
                if (asprintf(&v->summary, "%s (verschoben)", e->summary) < 0)
                        v->summary = NULL;
                if (!v->uuid || !v->summary) {
                        free(v->uuid);
                        free(v->summary);
                        return -ENOMEM;
                }
                e->n_overrides++;
        }
        if (x < n && e->n_exdates < MAX_EXDATES)
                e->exdates[e->n_exdates++] = occ[x];
        return 0;
}

/* Event number i (its ROWID is id) of the mix described in docs/ios-databases-contacts-calendars.md: zones,
 * DST, floating, all-day, every frequency, count/until/open end, exdates, overrides. */
static int event_generate(Rng *r, Event *e, int64_t id, unsigned i, size_t n_cals,
                          int64_t *next_id, int64_t created) {
        int64_t day = days_from_civil(2026, 1, 5) + (int64_t) ((i * 37u) % 330u);
        int64_t hour = 8 + (int64_t) ((i * 5u) % 11u);
        unsigned kind = i % 10;
        char uuid[37], uid[64];
        int k = 0;

        make_uuid(r, uuid);
        if (i % 3 == 0)
                snprintf(uid, sizeof(uid), "%016" PRIx64 "@google.com", rng_next(r));
        else
                make_uuid(r, uid);
        e->id = id;
        e->cal = i % n_cals;
        e->uuid = strdup(uuid);
        e->uid = strdup(uid);
        e->summary = strdup(summaries[(i + rng_range(r, 3)) % ELEMENTSOF(summaries)]);
        if (!e->uuid || !e->uid || !e->summary)
                return -ENOMEM;
        if (rng_range(r, 2) == 0) {
                e->location = strdup(PICK(r, locations));
                if (!e->location)
                        return -ENOMEM;
        }
        if (rng_range(r, 3) == 0) {
                e->description = strdup(PICK(r, descriptions));
                if (!e->description)
                        return -ENOMEM;
        }
        e->interval = 1;
        e->created = created;
        strcpy(e->tz, "Europe/Berlin");

        switch (kind) {
        case 1:                 /* weekly Mon+Wed across the March DST change, 20 times */
                day = days_from_civil(2026, 3, 2) + 7 * (int64_t) (i % 3);
                e->freq = FREQ_WEEKLY;
                e->byday = 1u << 0 | 1u << 2;
                e->count = 20;
                break;
        case 2:                 /* New York, every other day until a month later */
                strcpy(e->tz, "America/New_York");
                day = days_from_civil(2026, 3, 1) + (int64_t) (i % 5);
                e->freq = FREQ_DAILY;
                e->interval = 2;
                break;
        case 3:                 /* all-day, 1 to 3 days */
                e->all_day = true;
                break;
        case 4:                 /* Tokyo, the 1st and 15th, 10 times */
                strcpy(e->tz, "Asia/Tokyo");
                {
                        int y, m, d;

                        civil_from_days(day, &y, &m, &d);
                        day = days_from_civil(y, m, d <= 15 ? 15 : 1);
                        if (d > 15)
                                day = days_from_civil(y + (m == 12), m % 12 + 1, 1);
                }
                e->freq = FREQ_MONTHLY;
                e->monthdays[0] = 1;
                e->monthdays[1] = 15;
                e->n_monthdays = 2;
                e->count = 10;
                break;
        case 5:                 /* UTC, yearly, open end */
                strcpy(e->tz, "UTC");
                e->freq = FREQ_YEARLY;
                break;
        case 6:                 /* floating: once, or weekly 5 times */
                strcpy(e->tz, "_float");
                if (i % 20 >= 10) {
                        e->freq = FREQ_WEEKLY;
                        e->count = 5;
                }
                break;
        case 7:                 /* all-day: yearly, or weekly 8 times */
                e->all_day = true;
                e->freq = i % 20 >= 10 ? FREQ_WEEKLY : FREQ_YEARLY;
                if (e->freq == FREQ_WEEKLY)
                        e->count = 8;
                break;
        case 8:                 /* every two weeks, open end */
                e->freq = FREQ_WEEKLY;
                e->interval = 2;
                break;
        case 9:                 /* New York, monthly on the start's day, 6 times */
                strcpy(e->tz, "America/New_York");
                {
                        int y, m, d;

                        civil_from_days(day, &y, &m, &d);
                        if (d > 28)
                                day -= d - 28;
                }
                e->freq = FREQ_MONTHLY;
                e->count = 6;
                break;
        default:                /* 0: Berlin, once */
                break;
        }

        if (e->all_day) {
                strcpy(e->tz, "_float");
                e->start = day * DAY;
                e->end = e->start + (1 + (int64_t) rng_range(r, 3)) * DAY;
                if (e->freq == FREQ_WEEKLY)
                        e->end = e->start + DAY;
        } else {
                int64_t minutes = kind == 6 ? 90 : 30 + 30 * (int64_t) rng_range(r, 4);

                e->start = from_wall(e, day * DAY + hour * 3600);
                e->end = e->start + minutes * 60;
        }
        if (kind == 2)
                e->until = e->start + 30 * DAY;

        if (kind == 0 || kind == 9)
                k = event_add_attendees(e, kind == 0 ? 2 : 3);
        if (k >= 0 && kind != 3 && rng_range(r, 3) != 0) {
                static const int alarm_pool[] = { -900, -3600, -86400, 0, -600 };

                e->alarms[e->n_alarms++] = alarm_pool[i % ELEMENTSOF(alarm_pool)];
                if (kind == 9)
                        e->alarms[e->n_alarms++] = -600;
        }
        if (k >= 0 && (kind == 1 || kind == 8))
                k = event_add_exceptions(r, e, next_id, 2, kind == 1 ? 3 : 4);
        if (k >= 0 && (kind == 2 || (kind == 7 && e->freq == FREQ_WEEKLY)))
                k = event_add_exceptions(r, e, next_id, kind == 2 ? 1 : 3, SIZE_MAX);
        return k;
}

/* ---- Calendar.sqlitedb ----------------------------------------------------------------- */

static const char cal_item_columns[] =
        "ROWID INTEGER PRIMARY KEY AUTOINCREMENT, summary TEXT, location_id INTEGER, "
        "description TEXT, start_date REAL, start_tz TEXT, end_date REAL, end_tz TEXT, "
        "all_day INTEGER, calendar_id INTEGER, orig_item_id INTEGER, orig_date REAL, "
        "organizer_id INTEGER, self_attendee_id INTEGER, status INTEGER, "
        "invitation_status INTEGER, availability INTEGER, privacy_level INTEGER, url TEXT, "
        "last_modified REAL, sequence_num INTEGER, birthday_id INTEGER, "
        "modified_properties INTEGER, external_tracking_status INTEGER, external_id TEXT, "
        "external_mod_tag TEXT, unique_identifier TEXT, external_schedule_id TEXT, "
        "external_rep BLOB, response_comment TEXT, hidden INTEGER, has_recurrences INTEGER, "
        "has_attendees INTEGER, UUID TEXT, entity_type INTEGER, priority INTEGER, "
        "due_date REAL, due_tz TEXT, due_all_day INTEGER, completion_date REAL, "
        "creation_date REAL, conference TEXT, display_order INTEGER, created_by_id INTEGER, "
        "modified_by_id INTEGER, shared_item_created_date REAL, shared_item_created_tz TEXT, "
        "shared_item_modified_date REAL, shared_item_modified_tz TEXT, "
        "invitation_changed_properties INTEGER, default_alarm_removed INTEGER, "
        "phantom_master INTEGER, participation_status_modified_date REAL, "
        "calendar_scale TEXT, travel_time INTEGER, travel_advisory_behavior INTEGER, "
        "start_location_id INTEGER, end_location_id INTEGER, suggested_event_info_id INTEGER, "
        "first_alert_date REAL, proposed_start_date REAL, can_forward INTEGER, "
        "location_prediction_state INTEGER, fired_ttl INTEGER, "
        "disallow_propose_new_time INTEGER, structured_data BLOB, local_structured_data BLOB, "
        "junk_status INTEGER, conference_url TEXT, contact_identifier TEXT, "
        "recurrence_set TEXT, flags INTEGER, contact_name TEXT, error_id INTEGER, "
        "image_id INTEGER, color_id INTEGER";

static const char cal_tables[] =
        "CREATE TABLE _SqliteDatabaseProperties (key TEXT, value TEXT, UNIQUE(key));"
        "CREATE TABLE Store (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, "
        "default_alarm_offset INTEGER, type INTEGER, constraint_path TEXT, disabled INTEGER, "
        "external_id TEXT, persistent_id TEXT, flags INTEGER, display_order INTEGER);"
        "CREATE TABLE Calendar (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, store_id INTEGER, "
        "title TEXT, flags INTEGER, color TEXT, symbolic_color_name TEXT, type TEXT, "
        "supported_entity_types INTEGER, external_id TEXT, external_mod_tag TEXT, "
        "external_id_tag TEXT, external_rep BLOB, display_order INTEGER, UUID TEXT, "
        "shared_owner_name TEXT, shared_owner_address TEXT, sharing_status INTEGER, "
        "invitation_status INTEGER, self_identity_id INTEGER, owner_identity_id INTEGER, "
        "notes TEXT, locale TEXT);"
        "CREATE TABLE Location (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT, "
        "address TEXT, latitude INTEGER, longitude INTEGER, reference_frame INTEGER, "
        "address_book_id TEXT, mapkit_handle BLOB, radius INTEGER, routing TEXT, "
        "derived_from TEXT, item_owner_id INTEGER, alarm_owner_id INTEGER, "
        "start_loc_owner_id INTEGER, end_loc_owner_id INTEGER);"
        "CREATE TABLE Recurrence (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, frequency INTEGER, "
        "interval INTEGER, week_start INTEGER, count INTEGER, cached_end_date REAL, "
        "cached_end_date_tz TEXT, end_date REAL, specifier TEXT, by_month_months INTEGER, "
        "owner_id INTEGER, external_id TEXT, external_mod_tag TEXT, external_id_tag TEXT, "
        "external_rep BLOB, UUID TEXT);"
        "CREATE TABLE ExceptionDate (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, owner_id INTEGER, "
        "date REAL, sync_order INTEGER);"
        "CREATE TABLE Alarm (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, trigger_date REAL, "
        "trigger_interval INTEGER, type INTEGER, calendaritem_owner_id INTEGER, "
        "calendar_owner_id INTEGER, external_mod_tag TEXT, external_id_tag TEXT, "
        "external_rep BLOB, UUID TEXT, proximity INTEGER, disabled INTEGER, "
        "location_id INTEGER, acknowledgedDate REAL, default_alarm INTEGER, "
        "orig_alarm_id INTEGER, email_address TEXT);"
        "CREATE TABLE Participant (ROWID INTEGER PRIMARY KEY AUTOINCREMENT, entity_type INTEGER, "
        "type INTEGER, status INTEGER, pending_status INTEGER, role INTEGER, "
        "identity_id INTEGER, owner_id INTEGER, external_rep BLOB, UUID TEXT, email TEXT, "
        "phone_number TEXT, is_self INTEGER, comment TEXT, schedule_agent INTEGER, "
        "flags INTEGER, last_modified REAL);"
        "CREATE TABLE Identity (display_name TEXT, address TEXT, first_name TEXT, "
        "last_name TEXT, UNIQUE (display_name, address, first_name, last_name));"
        "CREATE INDEX RecurrenceOwnerIdIndex on Recurrence(owner_id);"
        "CREATE INDEX ExceptionDateOwnerId on ExceptionDate(owner_id);"
        "CREATE INDEX AlarmCalendarItemOwnerId on Alarm(calendaritem_owner_id);"
        "CREATE INDEX ParticipantOwnerId on Participant(owner_id);"
        "INSERT INTO Store (ROWID, name, type, disabled) VALUES (1, 'Default', 0, 0);";

static const char *item_table(Schema schema) {
        return schema == SCHEMA_FUTURE ? "CalendarEvent" : "CalendarItem";
}

static double mac(int64_t t) {
        return (double) (t - APPLE_EPOCH);
}

static int identity_id(sqlite3 *db, const char *email, const char *name, int64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL, *sel = NULL;
        _cleanup_(strfreep) char *address = NULL;

        if (asprintf(&address, "mailto:%s", email) < 0)
                return -ENOMEM;
        if (db_prepare(db, "INSERT OR IGNORE INTO Identity (display_name, address) VALUES (?,?)",
                       &ins) < 0 ||
            db_prepare(db, "SELECT ROWID FROM Identity WHERE address = ? AND display_name IS ? "
                           "ORDER BY ROWID LIMIT 1", &sel) < 0)
                return -EIO;
        bind_text(ins, 1, name);
        bind_text(ins, 2, address);
        if (step_done(db, ins) < 0)
                return -EIO;
        bind_text(sel, 1, address);
        bind_text(sel, 2, name);
        if (sqlite3_step(sel) != SQLITE_ROW)
                return -EIO;
        *ret = sqlite3_column_int64(sel, 0);
        return 0;
}

/* One CalendarItem row (master or modified occurrence). */
static int item_insert(sqlite3 *db, Schema schema, const Event *e, const Override *o,
                       int64_t location_id, int64_t t) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_(strfreep) char *sql = NULL;
        int64_t start = o ? o->start : e->start, end = o ? o->end : e->end;

        if (asprintf(&sql,
                     "INSERT INTO %s (ROWID, summary, location_id, description, start_date, "
                     "start_tz, end_date, end_tz, all_day, calendar_id, orig_item_id, orig_date, "
                     "organizer_id, self_attendee_id, status, invitation_status, availability, "
                     "privacy_level, last_modified, sequence_num, unique_identifier, hidden, "
                     "has_recurrences, has_attendees, UUID, entity_type, creation_date, "
                     "modified_properties, url) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,0,0,0,?,0,?,"
                     "0,?,?,?,2,?,0,?)", item_table(schema)) < 0)
                return -ENOMEM;
        if (db_prepare(db, sql, &s) < 0)
                return -EIO;
        (void) sqlite3_bind_int64(s, 1, o ? o->id : e->id);
        bind_text(s, 2, o ? o->summary : e->summary);
        (void) sqlite3_bind_int64(s, 3, location_id);
        bind_text(s, 4, e->description);
        (void) sqlite3_bind_double(s, 5, mac(start));
        bind_text(s, 6, e->tz);
        /* All-day ends are stored as the last second of the last day. */
        (void) sqlite3_bind_double(s, 7, mac(e->all_day ? end - 1 : end));
        bind_text(s, 8, e->tz);
        (void) sqlite3_bind_int(s, 9, e->all_day);
        (void) sqlite3_bind_int64(s, 10, (int64_t) e->cal + 1);
        (void) sqlite3_bind_int64(s, 11, o ? e->id : 0);
        if (o)
                (void) sqlite3_bind_double(s, 12, mac(o->orig));
        (void) sqlite3_bind_double(s, 13, mac(t));
        bind_text(s, 14, e->uid);
        (void) sqlite3_bind_int(s, 15, !o && e->freq != FREQ_NONE);
        (void) sqlite3_bind_int(s, 16, e->n_attendees > 0);
        bind_text(s, 17, o ? o->uuid : e->uuid);
        (void) sqlite3_bind_double(s, 18, mac(e->created));
        bind_text(s, 19, e->url);
        return step_done(db, s);
}

static int event_write(sqlite3 *db, Schema schema, const Event *e, int64_t t) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        int64_t location_id = 0;
        int r;

        if (e->location) {
                if (db_prepare(db, "INSERT INTO Location (title, item_owner_id) VALUES (?,?)",
                               &s) < 0)
                        return -EIO;
                bind_text(s, 1, e->location);
                (void) sqlite3_bind_int64(s, 2, e->id);
                r = step_done(db, s);
                if (r < 0)
                        return r;
                location_id = sqlite3_last_insert_rowid(db);
                sqlite3_finalize(TAKE_PTR(s));
        }
        r = item_insert(db, schema, e, NULL, location_id, t);
        for (size_t i = 0; i < e->n_overrides && r >= 0; i++)
                r = item_insert(db, schema, e, &e->overrides[i], location_id, t);
        if (r < 0)
                return r;

        if (e->freq != FREQ_NONE) {
                char spec[64] = "";
                size_t n = 0;

                for (int wd = 0; wd < 7; wd++)
                        if (e->byday & (1u << wd))
                                n += (size_t) snprintf(spec + n, sizeof(spec) - n, "%s0%s",
                                                       n ? "," : "D=", day_names[wd]);
                for (size_t i = 0; i < e->n_monthdays; i++)
                        n += (size_t) snprintf(spec + n, sizeof(spec) - n, "%s%d",
                                               i ? "," : n ? ";M=" : "M=", e->monthdays[i]);
                if (db_prepare(db, "INSERT INTO Recurrence (frequency, interval, week_start, "
                                   "count, end_date, specifier, owner_id, UUID) VALUES "
                                   "(?,?,2,?,?,?,?,?)", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int(s, 1, e->freq);
                (void) sqlite3_bind_int(s, 2, (int) e->interval);
                (void) sqlite3_bind_int(s, 3, (int) e->count);
                if (e->until)
                        (void) sqlite3_bind_double(s, 4, mac(e->until));
                bind_text(s, 5, n ? spec : NULL);
                (void) sqlite3_bind_int64(s, 6, e->id);
                bind_text(s, 7, e->uuid);
                r = step_done(db, s);
                sqlite3_finalize(TAKE_PTR(s));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_exdates && r >= 0; i++) {
                if (!s && db_prepare(db, "INSERT INTO ExceptionDate (owner_id, date) VALUES (?,?)",
                                     &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                (void) sqlite3_bind_double(s, 2, mac(e->exdates[i]));
                r = step_done(db, s);
        }
        sqlite3_finalize(TAKE_PTR(s));
        for (size_t i = 0; i < e->n_alarms && r >= 0; i++) {
                if (!s && db_prepare(db, "INSERT INTO Alarm (trigger_interval, type, "
                                         "calendaritem_owner_id) VALUES (?,0,?)", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int(s, 1, e->alarms[i]);
                (void) sqlite3_bind_int64(s, 2, e->id);
                r = step_done(db, s);
        }
        sqlite3_finalize(TAKE_PTR(s));
        if (r < 0 || e->n_attendees == 0)
                return r;

        /* The organizer (the phone's owner), then the attendees. */
        if (db_prepare(db, "INSERT INTO Participant (entity_type, type, status, role, "
                           "identity_id, owner_id, email, is_self) VALUES (?,1,?,?,?,?,?,?)",
                       &s) < 0)
                return -EIO;
        for (size_t i = 0; i <= e->n_attendees && r >= 0; i++) {
                const char *email = i ? e->attendees[i - 1].email : "me@example.com";
                const char *name = i ? e->attendees[i - 1].name : "Ich";
                int64_t ident;

                r = identity_id(db, email, name, &ident);
                if (r < 0)
                        return r;
                (void) sqlite3_bind_int(s, 1, i ? 7 : 8);
                (void) sqlite3_bind_int(s, 2, i ? 0 : 1);
                (void) sqlite3_bind_int(s, 3, i ? 1 : 3);
                (void) sqlite3_bind_int64(s, 4, ident);
                (void) sqlite3_bind_int64(s, 5, e->id);
                bind_text(s, 6, email);
                (void) sqlite3_bind_int(s, 7, i == 0);
                r = step_done(db, s);
                if (r >= 0 && i == 0) {
                        char sql[128];

                        snprintf(sql, sizeof(sql), "UPDATE %s SET organizer_id = %" PRId64
                                 " WHERE ROWID = %" PRId64, item_table(schema),
                                 (int64_t) sqlite3_last_insert_rowid(db), e->id);
                        r = db_exec(db, sql);
                }
        }
        return r;
}

static int agenda_write(const Agenda *a, const char *dir, Schema schema, int64_t t) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(strfreep) char *create = NULL;
        char sql[160];
        int r;

        r = db_create(dir, CAL_DB, &db);
        if (r < 0)
                return r;
        if (asprintf(&create, "CREATE TABLE %s (%s%s);"
                              "CREATE INDEX CalendarItemOriginalItemId on %s(orig_item_id);",
                     item_table(schema), cal_item_columns,
                     schema >= SCHEMA_IOS17 ? ", conference_url_detected TEXT, special_day TEXT"
                                            : "",
                     item_table(schema)) < 0)
                return -ENOMEM;
        r = db_exec(db, "BEGIN;");
        if (r >= 0)
                r = db_exec(db, cal_tables);
        if (r >= 0)
                r = db_exec(db, create);
        for (size_t i = 0; i < a->n_cals && r >= 0; i++) {
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;

                if (db_prepare(db, "INSERT INTO Calendar (ROWID, store_id, title, flags, color, "
                                   "type, supported_entity_types, display_order, UUID) VALUES "
                                   "(?, 1, ?, 0, '#1BADF8', 'local', 4, ?, ?)", &s) < 0)
                        return -EIO;
                snprintf(sql, sizeof(sql), "CA1E0000-0000-4000-8000-%012zu", i + 1);
                (void) sqlite3_bind_int64(s, 1, (int64_t) i + 1);
                bind_text(s, 2, a->cals[i]);
                (void) sqlite3_bind_int64(s, 3, (int64_t) i);
                bind_text(s, 4, sql);
                r = step_done(db, s);
        }
        for (size_t i = 0; i < a->n && r >= 0; i++)
                r = event_write(db, schema, &a->e[i], t);
        if (r >= 0) {
                snprintf(sql, sizeof(sql), "DELETE FROM sqlite_sequence WHERE name = '%s';"
                         "INSERT INTO sqlite_sequence (name, seq) VALUES ('%s', %" PRId64 ");",
                         item_table(schema), item_table(schema), a->next_id - 1);
                r = db_exec(db, sql);
        }
        if (r >= 0)
                r = db_exec(db, "INSERT INTO _SqliteDatabaseProperties VALUES "
                                "('CalendarDatabaseVersion', '1');COMMIT;");
        if (r < 0)
                return r;
        return db_commit(TAKE_PTR(db), dir, CAL_DB, t);
}

static int64_t from_mac(sqlite3_stmt *s, int i) {
        double v = sqlite3_column_double(s, i);

        /* Stored values are whole seconds; round away float noise (no libm here). */
        return (int64_t) (v >= 0 ? v + 0.5 : v - 0.5) + APPLE_EPOCH;
}

/* Read the events of Calendar.sqlitedb back into a (for mutate). */
static int agenda_load(Agenda *a, const char *dir, Schema schema) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        _cleanup_(strfreep) char *sql = NULL;
        const char *tab = item_table(schema);
        int r, k;

        r = db_open_ro(dir, CAL_DB, &db);
        if (r < 0)
                return r;
        if (db_prepare(db, "SELECT title FROM Calendar ORDER BY ROWID", &s) < 0)
                return -EIO;
        while (sqlite3_step(s) == SQLITE_ROW && a->n_cals < MAX_CALENDARS)
                a->cals[a->n_cals++] = column_dup(s, 0);
        sqlite3_finalize(TAKE_PTR(s));

        if (asprintf(&sql, "SELECT ci.ROWID, ci.calendar_id, ci.unique_identifier, ci.UUID, "
                           "ci.summary, l.title, ci.description, ci.all_day, ci.start_tz, "
                           "ci.start_date, ci.end_date, ci.creation_date FROM %s ci "
                           "LEFT JOIN Location l ON l.ROWID = ci.location_id "
                           "WHERE (ci.orig_item_id IS NULL OR ci.orig_item_id = 0) "
                           "AND ci.entity_type = 2 ORDER BY ci.ROWID", tab) < 0)
                return -ENOMEM;
        if (db_prepare(db, sql, &s) < 0)
                return -EIO;
        while ((k = sqlite3_step(s)) == SQLITE_ROW) {
                Event *e = agenda_append(a);
                const char *tz = (const char *) sqlite3_column_text(s, 8);

                if (!e)
                        return -ENOMEM;
                e->id = sqlite3_column_int64(s, 0);
                e->cal = (size_t) (sqlite3_column_int64(s, 1) - 1);
                e->uid = column_dup(s, 2);
                e->uuid = column_dup(s, 3);
                e->summary = column_dup(s, 4);
                e->location = column_dup(s, 5);
                e->description = column_dup(s, 6);
                e->all_day = sqlite3_column_int(s, 7);
                snprintf(e->tz, sizeof(e->tz), "%s", tz ? tz : "_float");
                e->start = from_mac(s, 9);
                e->end = from_mac(s, 10) + (e->all_day ? 1 : 0);
                e->created = from_mac(s, 11);
                e->interval = 1;
        }
        if (k != SQLITE_DONE)
                return -EIO;
        sqlite3_finalize(TAKE_PTR(s));

        for (size_t i = 0; i < a->n; i++) {
                Event *e = &a->e[i];
                _cleanup_(strfreep) char *q = NULL;

                if (db_prepare(db, "SELECT frequency, interval, count, end_date, specifier FROM "
                                   "Recurrence WHERE owner_id = ? ORDER BY ROWID LIMIT 1", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                if (sqlite3_step(s) == SQLITE_ROW) {
                        const char *spec = (const char *) sqlite3_column_text(s, 4);

                        e->freq = sqlite3_column_int(s, 0);
                        e->interval = (unsigned) sqlite3_column_int(s, 1);
                        e->count = (unsigned) sqlite3_column_int(s, 2);
                        if (sqlite3_column_type(s, 3) != SQLITE_NULL)
                                e->until = from_mac(s, 3);
                        for (const char *p = spec; p && *p;) {
                                if (startswith(p, "D=") || (*p == ',' && p[1] == '0')) {
                                        p += *p == ',' ? 1 : 2;
                                        for (int wd = 0; wd < 7; wd++)
                                                if (strncmp(p + 1, day_names[wd], 2) == 0)
                                                        e->byday |= 1u << wd;
                                        p += 3;
                                } else if (startswith(p, "M=") || (*p == ',' && e->n_monthdays)) {
                                        char *end;
                                        long v = strtol(p + (*p == ',' ? 1 : 2), &end, 10);

                                        if (e->n_monthdays < ELEMENTSOF(e->monthdays))
                                                e->monthdays[e->n_monthdays++] = (int) v;
                                        p = end;
                                } else
                                        p++;
                        }
                }
                sqlite3_finalize(TAKE_PTR(s));

                if (db_prepare(db, "SELECT date FROM ExceptionDate WHERE owner_id = ? "
                                   "ORDER BY ROWID", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                while (sqlite3_step(s) == SQLITE_ROW && e->n_exdates < MAX_EXDATES)
                        e->exdates[e->n_exdates++] = from_mac(s, 0);
                sqlite3_finalize(TAKE_PTR(s));

                if (asprintf(&q, "SELECT ROWID, UUID, summary, orig_date, start_date, end_date "
                                 "FROM %s WHERE orig_item_id = ? ORDER BY ROWID", tab) < 0)
                        return -ENOMEM;
                if (db_prepare(db, q, &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                while (sqlite3_step(s) == SQLITE_ROW && e->n_overrides < MAX_OVERRIDES) {
                        Override *o = &e->overrides[e->n_overrides++];

                        *o = (Override) {
                                .id = sqlite3_column_int64(s, 0),
                                .uuid = column_dup(s, 1),
                                .summary = column_dup(s, 2),
                                .orig = from_mac(s, 3),
                                .start = from_mac(s, 4),
                                .end = from_mac(s, 5) + (e->all_day ? 1 : 0),
                        };
                }
                sqlite3_finalize(TAKE_PTR(s));

                if (db_prepare(db, "SELECT trigger_interval FROM Alarm WHERE "
                                   "calendaritem_owner_id = ? ORDER BY ROWID", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                while (sqlite3_step(s) == SQLITE_ROW && e->n_alarms < MAX_ALARMS)
                        e->alarms[e->n_alarms++] = sqlite3_column_int(s, 0);
                sqlite3_finalize(TAKE_PTR(s));

                if (db_prepare(db, "SELECT p.email, i.display_name FROM Participant p LEFT JOIN "
                                   "Identity i ON i.ROWID = p.identity_id WHERE p.owner_id = ? "
                                   "AND p.entity_type = 7 ORDER BY p.ROWID", &s) < 0)
                        return -EIO;
                (void) sqlite3_bind_int64(s, 1, e->id);
                while (sqlite3_step(s) == SQLITE_ROW && e->n_attendees < MAX_ATTENDEES) {
                        Attendee *at = &e->attendees[e->n_attendees++];

                        at->email = column_dup(s, 0);
                        at->name = column_dup(s, 1);
                }
                sqlite3_finalize(TAKE_PTR(s));
        }

        a->next_id = 1;
        {
                char q[96];

                snprintf(q, sizeof(q), "SELECT seq FROM sqlite_sequence WHERE name = '%s'", tab);
                if (db_prepare(db, q, &s) < 0)
                        return -EIO;
                if (sqlite3_step(s) == SQLITE_ROW)
                        a->next_id = sqlite3_column_int64(s, 0) + 1;
        }
        for (size_t i = 0; i < a->n; i++) {
                if (a->e[i].id >= a->next_id)
                        a->next_id = a->e[i].id + 1;
                for (size_t o = 0; o < a->e[i].n_overrides; o++)
                        if (a->e[i].overrides[o].id >= a->next_id)
                                a->next_id = a->e[i].overrides[o].id + 1;
        }
        return 0;
}

/* ---- calendars.json ---------------------------------------------------------------------- */

static void json_time(Text *j, const Event *e, int64_t t) {
        char buf[32];

        if (e->all_day)
                iso_date(t, buf);
        else
                iso_instant(t, buf);
        json_str(j, buf);
}

static int event_json(Text *j, const Event *e) {
        _cleanup_(freep) int64_t *occ = malloc(MAX_OCCURRENCES * sizeof(int64_t));
        size_t n;

        if (!occ)
                return -ENOMEM;
        text_add(j, "{\"uid\":", 7);
        json_str(j, e->uid);
        text_add(j, ",\"summary\":", 11);
        json_str(j, e->summary);
        text_add(j, ",\"location\":", 12);
        json_str(j, e->location);
        text_add(j, ",\"description\":", 15);
        json_str(j, e->description);
        if (e->url) {
                /* Only mobilesync-driven calendars have URLs; others keep their old JSON. */
                text_add(j, ",\"url\":", 7);
                json_str(j, e->url);
        }
        text_printf(j, ",\"all_day\":%s,\"tz\":", e->all_day ? "true" : "false");
        json_str(j, tz_is_zone(e->tz) ? e->tz : "floating");
        text_add(j, ",\"start\":", 9);
        json_time(j, e, e->start);
        text_add(j, ",\"end\":", 7);
        json_time(j, e, e->end);
        if (e->freq == FREQ_NONE)
                text_add(j, ",\"rrule\":null", 13);
        else {
                text_printf(j, ",\"rrule\":{\"freq\":\"%s\",\"interval\":%u,\"count\":",
                            freq_names[e->freq], e->interval);
                if (e->count)
                        text_printf(j, "%u", e->count);
                else
                        text_add(j, "null", 4);
                text_add(j, ",\"until\":", 9);
                if (e->until)
                        json_time(j, e, e->until);
                else
                        text_add(j, "null", 4);
                text_add(j, ",\"byday\":", 9);
                if (e->byday) {
                        text_add(j, "[", 1);
                        for (int wd = 0, first = 1; wd < 7; wd++)
                                if (e->byday & (1u << wd)) {
                                        text_printf(j, "%s\"%s\"", first ? "" : ",",
                                                    day_names[wd]);
                                        first = 0;
                                }
                        text_add(j, "]", 1);
                } else
                        text_add(j, "null", 4);
                text_add(j, ",\"bymonthday\":", 14);
                if (e->n_monthdays) {
                        text_add(j, "[", 1);
                        for (size_t i = 0; i < e->n_monthdays; i++)
                                text_printf(j, "%s%d", i ? "," : "", e->monthdays[i]);
                        text_add(j, "]", 1);
                } else
                        text_add(j, "null", 4);
                text_add(j, "}", 1);
        }
        text_add(j, ",\"exdates\":[", 12);
        for (size_t i = 0; i < e->n_exdates; i++) {
                if (i)
                        text_add(j, ",", 1);
                json_time(j, e, e->exdates[i]);
        }
        text_add(j, "],\"overrides\":[", 15);
        for (size_t i = 0; i < e->n_overrides; i++) {
                const Override *o = &e->overrides[i];

                text_add(j, i ? ",{\"recurrence_id\":" : "{\"recurrence_id\":", i ? 18 : 17);
                json_time(j, e, o->orig);
                text_add(j, ",\"start\":", 9);
                json_time(j, e, o->start);
                text_add(j, ",\"end\":", 7);
                json_time(j, e, o->end);
                text_add(j, ",\"summary\":", 11);
                json_str(j, o->summary);
                text_add(j, "}", 1);
        }
        text_add(j, "],\"alarms\":[", 12);
        for (size_t i = 0; i < e->n_alarms; i++)
                text_printf(j, "%s%d", i ? "," : "", e->alarms[i]);
        text_add(j, "],\"attendees\":[", 15);
        for (size_t i = 0; i < e->n_attendees; i++) {
                text_add(j, i ? ",{\"email\":" : "{\"email\":", i ? 10 : 9);
                json_str(j, e->attendees[i].email);
                text_add(j, ",\"name\":", 8);
                json_str(j, e->attendees[i].name);
                text_add(j, "}", 1);
        }
        text_add(j, "],\"occurrences\":[", 17);
        n = event_occurrences(e, occ);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        text_add(j, ",", 1);
                json_time(j, e, occ[i]);
        }
        text_add(j, "]}", 2);
        return 0;
}

static int agenda_write_json(const Agenda *a, const char *dir, const char *ios, Schema schema,
                             int64_t t) {
        _cleanup_(text_done) Text j = {};
        int r;

        text_add(&j, "{\"ios\":", 7);
        json_str(&j, ios);
        text_printf(&j, ",\"schema\":\"%s\",\"calendars\":[", schema_names[schema]);
        for (size_t c = 0; c < a->n_cals; c++) {
                bool first = true;

                text_add(&j, c ? ",\n{\"title\":" : "\n{\"title\":", c ? 11 : 10);
                json_str(&j, a->cals[c]);
                text_add(&j, ",\"events\":[", 11);
                for (size_t i = 0; i < a->n; i++) {
                        if (a->e[i].cal != c)
                                continue;
                        text_add(&j, first ? "\n" : ",\n", first ? 1 : 2);
                        r = event_json(&j, &a->e[i]);
                        if (r < 0)
                                return r;
                        first = false;
                }
                text_add(&j, "]}", 2);
        }
        text_add(&j, "\n]}\n", 4);
        return write_json(dir, "calendars.json", &j, t);
}

/* ---- calendars: the entry points ----------------------------------------------------- */

/**
 * pim_calendars_generate: Calendar.sqlitedb with four calendars and n_events events
 * (ROWID 1…n; their modified occurrences after them), and DIR/calendars.json. See
 * profile-pim.h.
 */
int pim_calendars_generate(const char *dir, const char *ios, uint64_t seed, unsigned n_events) {
        _cleanup_(agenda_done) Agenda a = {};
        Schema schema = schema_of(ios);
        Rng rng;
        int r;

        if (!dir)
                return -EINVAL;
        rng_init(&rng, seed ^ UINT64_C(0x63616c656e646172));      /* "calendar" */
        for (size_t c = 0; c < ELEMENTSOF(cal_titles); c++) {
                a.cals[a.n_cals] = strdup(cal_titles[c]);
                if (!a.cals[a.n_cals++])
                        return -ENOMEM;
        }
        a.next_id = (int64_t) n_events + 1;
        for (unsigned i = 0; i < n_events; i++) {
                Event *e = agenda_append(&a);

                if (!e)
                        return -ENOMEM;
                r = event_generate(&rng, e, (int64_t) i + 1, i, a.n_cals, &a.next_id,
                                   BASE_TIME - 30 * DAY + (int64_t) rng_range(&rng, 20 * DAY));
                if (r < 0)
                        return r;
        }

        r = agenda_write(&a, dir, schema, BASE_TIME);
        if (r >= 0)
                r = agenda_write_json(&a, dir, ios ?: "17.5", schema, BASE_TIME);
        if (r < 0)
                log_warn("gen-profile: cannot write the calendars of '%s': %s", dir,
                         strerror(-r));
        return r;
}

/**
 * pim_agenda_write: Calendar.sqlitedb and calendars.json of agenda a, as it is. See
 * profile-pim-model.h.
 */
int pim_agenda_write(const Agenda *a, const char *dir, const char *ios, int64_t t) {
        Schema schema = schema_of(ios);
        int r;

        if (!a || !dir)
                return -EINVAL;
        r = agenda_write(a, dir, schema, t);
        if (r >= 0)
                r = agenda_write_json(a, dir, ios ?: "17.5", schema, t);
        return r;
}

/* Change event e by turn k: its title, its place and notes, or (when no exception depends on
 * its times) its time. */
static int event_change(Event *e, unsigned k) {
        char *s = NULL;

        if (k % 3 == 2 && e->n_exdates == 0 && e->n_overrides == 0 && !e->until) {
                int64_t d = e->all_day ? DAY : 3600;

                e->start += d;
                e->end += d;
                return 0;
        }
        if (k % 3 == 1) {
                free(e->location);
                free(e->description);
                e->location = strdup("Neuer Ort, Raum 5; 3. OG");
                e->description = strdup("Geändert:\nneue Zeile, mit Komma; und Semikolon");
                return e->location && e->description ? 0 : -ENOMEM;
        }
        if (asprintf(&s, "%s (geändert)", e->summary ?: "") < 0)
                return -ENOMEM;
        free(e->summary);
        e->summary = s;
        return 0;
}

/**
 * pim_calendars_mutate: change, add and delete events of DIR's Calendar.sqlitedb (see
 * profile-pim.h). Returns 0 without doing anything if the profile has no calendars.json.
 */
int pim_calendars_mutate(const char *dir, const char *ios, uint64_t seed, unsigned change,
                         unsigned add, unsigned del) {
        _cleanup_(agenda_done) Agenda a = {};
        Schema schema = schema_of(ios);
        char json[PATH_MAX];
        int64_t t;
        Rng rng;
        int r;

        if (!dir)
                return -EINVAL;
        if (path_in(dir, "calendars.json", json, sizeof(json)) < 0 || access(json, F_OK) < 0)
                return 0;
        r = agenda_load(&a, dir, schema);
        if (r < 0) {
                log_warn("mutate: cannot read the calendars of '%s': %s", dir, strerror(-r));
                return r;
        }
        if ((uint64_t) change + del > a.n || a.n_cals == 0) {
                log_warn("mutate: '%s' has %zu events, cannot change %u and delete %u", dir, a.n,
                         change, del);
                return -EINVAL;
        }
        t = mtime_of(dir, CAL_DB) + DAY;
        rng_init(&rng, seed ^ UINT64_C(0x6d75742d63616c65));      /* "mut-cale" */
        {
                _cleanup_(freep) size_t *perm = calloc(a.n ? a.n : 1, sizeof(size_t));
                _cleanup_(freep) bool *gone = calloc(a.n ? a.n : 1, sizeof(bool));
                size_t w = 0;

                if (!perm || !gone)
                        return -ENOMEM;
                for (size_t i = 0; i < a.n; i++)
                        perm[i] = i;
                for (size_t i = 0; i < (size_t) change + del; i++) {
                        size_t j = i + (size_t) rng_range(&rng, a.n - i), x = perm[i];

                        perm[i] = perm[j];
                        perm[j] = x;
                }
                for (unsigned i = 0; i < change; i++) {
                        r = event_change(&a.e[perm[i]], i);
                        if (r < 0)
                                return r;
                }
                for (unsigned i = change; i < change + del; i++)
                        gone[perm[i]] = true;
                for (size_t i = 0; i < a.n; i++) {
                        if (gone[i]) {
                                event_done(&a.e[i]);
                                continue;
                        }
                        a.e[w++] = a.e[i];
                }
                a.n = w;
        }
        for (unsigned i = 0; i < add; i++) {
                Event *e = agenda_append(&a);
                int64_t id = a.next_id++;

                if (!e)
                        return -ENOMEM;
                r = event_generate(&rng, e, id, (unsigned) id - 1, a.n_cals, &a.next_id, t);
                if (r < 0)
                        return r;
        }

        r = agenda_write(&a, dir, schema, t);
        if (r >= 0)
                r = agenda_write_json(&a, dir, ios ?: "17.5", schema, t);
        if (r < 0)
                log_warn("mutate: cannot write the calendars of '%s': %s", dir, strerror(-r));
        return r;
}
