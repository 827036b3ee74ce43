/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contacts export: HomeDomain/Library/AddressBook/AddressBook.sqlitedb (photos from
 * AddressBookImages.sqlitedb beside it) as vCard 4.0 (RFC 6350): contacts/<name>.vcf, one
 * card per contact, and contacts.vcf with all of them, sorted by last name, first name,
 * ROWID.
 *
 * The writer is our own and small: CRLF, lines folded at 75 octets on UTF-8 character
 * boundaries, TEXT values escaped (\\ \, \; \n). Labels of phones, e-mails, addresses,
 * URLs and dates: a built-in iOS label with an exact RFC 6350 TYPE gets that TYPE
 * (mobile → cell, home, work, main → voice, home fax → fax,home, work fax → fax,work,
 * pager); every other label (custom text, "iphone", "other", "homepage", "other fax" …)
 * is kept the way Apple's own export keeps it: an item group with X-ABLabel holding the
 * undecorated label ("item1.TEL;TYPE=cell:…" + "item1.X-ABLabel:iphone"). A reader takes
 * X-ABLabel when there is one, else maps TYPE back. The first date labelled anniversary is
 * ANNIVERSARY; other dates are X-ABDATE in an item group with their label. Dates are
 * YYYYMMDD, or --MMDD for iOS's year-less dates (stored with the year 1604).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "export.h"
#include "macro.h"

#define AB_DOMAIN "HomeDomain"
#define AB_PATH "Library/AddressBook/AddressBook.sqlitedb"
#define AB_IMAGES_PATH "Library/AddressBook/AddressBookImages.sqlitedb"

#define MAX_CONTACTS 500000
#define MAX_VALUES 10000               /* multi-values of one contact */
#define MAX_PHOTO (32u << 20)

enum {
        PROP_PHONE = 3,
        PROP_EMAIL = 4,
        PROP_ADDRESS = 5,
        PROP_DATE = 12,
        PROP_URL = 22,
};

typedef struct Contact {
        int64_t rowid;
        char *first, *last;
        char *card;                     /* the whole vCard, CRLF lines */
        size_t card_len;
        char *fn;
        int64_t mtime;
} Contact;

/* A column's text, or NULL for NULL and "" (iOS stores empty fields as NULL; a "" would
 * only give an empty property). Blobs and numbers are read as their text. */
static const char *col_text(sqlite3_stmt *st, int i) {
        const char *s;

        if (sqlite3_column_type(st, i) == SQLITE_NULL)
                return NULL;
        s = (const char *) sqlite3_column_text(st, i);
        return isempty(s) ? NULL : s;
}

/* ---- the vCard writer --------------------------------------------------------------- */

/* A card being written: the stream and the octets on its current physical line. Lines are
 * folded as they are written, so no property needs a buffer of its own. */
typedef struct Card {
        FILE *f;
        size_t col;
} Card;

/* Append n bytes, folding before a character that would pass 75 octets: a continuation
 * line starts with one space, which counts; a fold never splits a UTF-8 sequence (an
 * invalid byte is a character of its own) nor an escape (units of two bytes). */
static void card_put(Card *c, const char *s, size_t n, bool escapes) {
        for (size_t i = 0; i < n;) {
                unsigned char b = (unsigned char) s[i];
                size_t k = b >= 0xF0 && b < 0xF8 ? 4 : b >= 0xE0 && b < 0xF0 ? 3 :
                           b >= 0xC0 && b < 0xE0 ? 2 : 1;

                if (escapes && b == '\\')
                        k = 2;
                else
                        for (size_t j = 1; j < k; j++)
                                if (i + j >= n || ((unsigned char) s[i + j] & 0xC0) != 0x80) {
                                        k = j;
                                        break;
                                }
                if (i + k > n)
                        k = n - i;
                if (c->col + k > 75) {
                        fputs("\r\n ", c->f);
                        c->col = 1;
                }
                fwrite(s + i, 1, k, c->f);
                c->col += k;
                i += k;
        }
}

static void card_str(Card *c, const char *s) {
        card_put(c, s, strlen(s), false);
}

static void card_end_line(Card *c) {
        fputs("\r\n", c->f);
        c->col = 0;
}

static void put_line(Card *c, const char *line) {
        card_str(c, line);
        card_end_line(c);
}

/* Append s escaped as a TEXT value (RFC 6350 3.4): backslash, comma, semicolon, newline.
 * A CR of a CRLF pair is dropped, a lone CR becomes a newline; other control characters
 * cannot be in a content line and become spaces. */
static void put_escaped(Card *c, const char *s) {
        for (; s && *s; s++)
                switch (*s) {
                case '\\': card_put(c, "\\\\", 2, true); break;
                case ',': card_put(c, "\\,", 2, true); break;
                case ';': card_put(c, "\\;", 2, true); break;
                case '\n': card_put(c, "\\n", 2, true); break;
                case '\r':
                        if (s[1] != '\n')
                                card_put(c, "\\n", 2, true);
                        break;
                default: {
                        size_t n = 1;

                        if ((unsigned char) *s < 0x20 || *s == 0x7f) {
                                card_put(c, " ", 1, false);
                                break;
                        }
                        /* The whole UTF-8 sequence at once, so a fold cannot split it. */
                        while (((unsigned char) *s & 0xC0) == 0xC0 && n < 4 &&
                               ((unsigned char) s[n] & 0xC0) == 0x80)
                                n++;
                        card_put(c, s, n, false);
                        s += n - 1;
                }
                }
}

/* "[group.]NAME[params]:" */
static void put_name(Card *c, const char *group, const char *name, const char *params) {
        if (group) {
                card_str(c, group);
                card_str(c, ".");
        }
        card_str(c, name);
        if (params)
                card_str(c, params);
        card_str(c, ":");
}

/* A property with the escaped components joined by ';'. */
static void put_prop(Card *c, const char *group, const char *name, const char *params,
                     const char *const *values, size_t n) {
        put_name(c, group, name, params);
        for (size_t i = 0; i < n; i++) {
                if (i > 0)
                        card_str(c, ";");
                put_escaped(c, values[i]);
        }
        card_end_line(c);
}

static void put_text(Card *c, const char *name, const char *value) {
        if (value)
                put_prop(c, NULL, name, NULL, &value, 1);
}

/* A raw line, already a valid value (dates, URIs). */
static void put_raw(Card *c, const char *group, const char *name, const char *params,
                    const char *value) {
        put_name(c, group, name, params);
        card_str(c, value);
        card_end_line(c);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Append p as base64, four characters at a time. */
static void card_base64(Card *c, const unsigned char *p, size_t n) {
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16;
                char o[4];

                if (i + 1 < n)
                        v |= (uint32_t) p[i + 1] << 8;
                if (i + 2 < n)
                        v |= p[i + 2];
                o[0] = b64[(v >> 18) & 63];
                o[1] = b64[(v >> 12) & 63];
                o[2] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
                o[3] = i + 2 < n ? b64[v & 63] : '=';
                card_put(c, o, 4, false);
        }
}

/* ---- labels and dates ---------------------------------------------------------------- */

/* The undecorated label: "_$!<HomeFAX>!$_" → "home fax", "_$!<iPhone>!$_" → "iphone";
 * a custom label as stored. NULL when there is none. */
static char *label_name(const char *stored) {
        size_t n;
        char *r;

        if (!stored)
                return NULL;
        n = strlen(stored);
        if (n < 8 || strncmp(stored, "_$!<", 4) != 0 || strcmp(stored + n - 4, ">!$_") != 0)
                return strdup(stored);
        n -= 8;
        r = malloc(n + 2);
        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++)
                r[i] = (char) (stored[4 + i] >= 'A' && stored[4 + i] <= 'Z' ?
                               stored[4 + i] - 'A' + 'a' : stored[4 + i]);
        r[n] = 0;
        if (n > 3 && strcmp(r + n - 3, "fax") == 0 && r[n - 4] != ' ') {
                memmove(r + n - 2, r + n - 3, 4);
                r[n - 3] = ' ';
        }
        return r;
}

typedef struct LabelType {
        int property;
        const char *label;
        const char *type;
} LabelType;

/* The labels whose TYPE says exactly the same; a reader maps these TYPEs back. */
static const LabelType label_types[] = {
        { PROP_PHONE, "mobile", "cell" },
        { PROP_PHONE, "home", "home" },
        { PROP_PHONE, "work", "work" },
        { PROP_PHONE, "main", "voice" },
        { PROP_PHONE, "home fax", "fax,home" },
        { PROP_PHONE, "work fax", "fax,work" },
        { PROP_PHONE, "pager", "pager" },
        { PROP_EMAIL, "home", "home" },
        { PROP_EMAIL, "work", "work" },
        { PROP_ADDRESS, "home", "home" },
        { PROP_ADDRESS, "work", "work" },
        { PROP_URL, "home", "home" },
        { PROP_URL, "work", "work" },
};

/* Lossy TYPEs for labels that keep their name in X-ABLabel. */
static const LabelType label_hints[] = {
        { PROP_PHONE, "iphone", "cell" },
        { PROP_PHONE, "other fax", "fax" },
};

static const char *label_type(int property, const char *label, bool *ret_exact) {
        *ret_exact = false;
        if (!label)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(label_types); i++)
                if (label_types[i].property == property &&
                    strcmp(label_types[i].label, label) == 0) {
                        *ret_exact = true;
                        return label_types[i].type;
                }
        for (size_t i = 0; i < ELEMENTSOF(label_hints); i++)
                if (label_hints[i].property == property && strcmp(label_hints[i].label, label) == 0)
                        return label_hints[i].type;
        return NULL;
}

/* A date stored as decimal Mac absolute seconds → "YYYYMMDD", or "--MMDD" for year 1604
 * (iOS's year-less dates). false when it is not a number in a sane range. */
static bool format_date(const char *stored, char *buf, size_t n) {
        char *end = NULL;
        double d;
        time_t t;
        struct tm tm;

        if (!stored)
                return false;
        errno = 0;
        d = strtod(stored, &end);
        if (errno != 0 || end == stored || !isfinite(d) || d < -2e10 || d > 2e10)
                return false;
        t = (time_t) d;
        if ((double) t > d)             /* floor, without libm */
                t--;
        t += EXPORT_MAC_EPOCH;
        if (!gmtime_r(&t, &tm))
                return false;
        if (tm.tm_year + 1900 == 1604)
                snprintf(buf, n, "--%02d%02d", tm.tm_mon + 1, tm.tm_mday);
        else if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
                return false;
        else
                snprintf(buf, n, "%04d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        return true;
}

/* ---- reading ------------------------------------------------------------------------- */

typedef struct Reader {
        ExportCtx *x;
        sqlite3 *db, *images;
        sqlite3_stmt *values, *entries, *groups, *photo;
        char *identity;                 /* the database's id for derived UIDs */
        bool has_guid;
} Reader;

/* ADR: ;;street;city;region;postcode;country from the value's entries, by key name. */
static int write_address(Reader *rd, Card *f, const char *group, const char *params,
                         int64_t uid) {
        static const char *const keys[] = { "Street", "City", "State", "ZIP", "Country" };
        char *parts[5] = {};
        const char *v[7] = { "", "" };
        int r = 0;

        sqlite3_reset(rd->entries);
        sqlite3_bind_int64(rd->entries, 1, uid);
        for (unsigned i = 0; r == 0 && i < 64 && sqlite3_step(rd->entries) == SQLITE_ROW; i++) {
                const char *k = col_text(rd->entries, 0), *val = col_text(rd->entries, 1);

                for (size_t j = 0; k && val && j < ELEMENTSOF(keys); j++)
                        if (strcmp(k, keys[j]) == 0 && !parts[j]) {
                                parts[j] = strdup(val);
                                if (!parts[j])
                                        r = -ENOMEM;
                        }
        }
        for (size_t j = 0; j < 5; j++)
                v[2 + j] = parts[j] ?: "";
        if (r == 0)
                put_prop(f, group, "ADR", params, v, 7);
        for (size_t j = 0; j < 5; j++)
                free(parts[j]);
        return r;
}

static int write_values(Reader *rd, Card *f, int64_t rowid) {
        unsigned item = 0;
        bool anniversary = false;
        int r;

        sqlite3_reset(rd->values);
        sqlite3_bind_int64(rd->values, 1, rowid);
        for (unsigned i = 0; i < MAX_VALUES && (r = sqlite3_step(rd->values)) == SQLITE_ROW; i++) {
                int64_t uid = sqlite3_column_int64(rd->values, 0);
                int property = sqlite3_column_int(rd->values, 1);
                const char *value = col_text(rd->values, 2);
                _cleanup_free_ char *label = label_name(col_text(rd->values, 3));
                char group[32], params[96] = "", date[16];
                const char *type, *name;
                bool exact, grouped;

                switch (property) {
                case PROP_PHONE: name = "TEL"; break;
                case PROP_EMAIL: name = "EMAIL"; break;
                case PROP_ADDRESS: name = "ADR"; break;
                case PROP_URL: name = "URL"; break;
                case PROP_DATE: name = "X-ABDATE"; break;
                default: continue;
                }
                if (property != PROP_ADDRESS && !value)
                        continue;

                if (property == PROP_DATE) {
                        if (!format_date(value, date, sizeof(date)))
                                continue;
                        if (!anniversary && label && strcmp(label, "anniversary") == 0) {
                                anniversary = true;
                                put_raw(f, NULL, "ANNIVERSARY", NULL, date);
                                continue;
                        }
                        snprintf(group, sizeof(group), "item%u", ++item);
                        put_raw(f, group, name, NULL, date);
                        if (label)
                                put_text(f, strcat(group, ".X-ABLabel"), label);
                        continue;
                }

                type = label_type(property, label, &exact);
                if (type)
                        snprintf(params, sizeof(params), ";TYPE=%s", type);
                grouped = label && !exact;
                if (grouped)
                        snprintf(group, sizeof(group), "item%u", ++item);
                if (property == PROP_ADDRESS) {
                        r = write_address(rd, f, grouped ? group : NULL, params, uid);
                        if (r != 0)
                                return r;
                } else if (property == PROP_URL)
                        /* A URI, not TEXT: only the characters a line cannot hold change. */
                        put_raw(f, grouped ? group : NULL, name, params,
                                strpbrk(value, "\r\n") ? "" : value);
                else
                        put_prop(f, grouped ? group : NULL, name, params, &value, 1);
                if (grouped)
                        put_text(f, strcat(group, ".X-ABLabel"), label);
        }
        return 0;
}

static void write_groups(Reader *rd, Card *f, int64_t rowid) {
        unsigned n = 0;

        if (!rd->groups)
                return;
        sqlite3_reset(rd->groups);
        sqlite3_bind_int64(rd->groups, 1, rowid);
        for (unsigned i = 0; i < 10000 && sqlite3_step(rd->groups) == SQLITE_ROW; i++) {
                const char *name = col_text(rd->groups, 0);

                if (!name)
                        continue;
                if (n++ == 0)
                        put_name(f, NULL, "CATEGORIES", NULL);
                else
                        card_str(f, ",");
                put_escaped(f, name);
        }
        if (n > 0)
                card_end_line(f);
}

static void write_photo(Reader *rd, Card *f, int64_t rowid) {
        const unsigned char *p;
        int n;

        if (!rd->photo)
                return;
        sqlite3_reset(rd->photo);
        sqlite3_bind_int64(rd->photo, 1, rowid);
        if (sqlite3_step(rd->photo) != SQLITE_ROW ||
            sqlite3_column_type(rd->photo, 0) != SQLITE_BLOB)
                return;
        p = sqlite3_column_blob(rd->photo, 0);
        n = sqlite3_column_bytes(rd->photo, 0);
        if (!p || n <= 0 || (unsigned) n > MAX_PHOTO)
                return;
        put_name(f, NULL, "PHOTO", NULL);
        card_str(f, n > 4 && memcmp(p, "\x89PNG", 4) == 0 ? "data:image/png;base64," :
                                                            "data:image/jpeg;base64,");
        card_base64(f, p, (size_t) n);
        card_end_line(f);
}

enum {
        C_ROWID, C_FIRST, C_LAST, C_MIDDLE, C_PREFIX, C_SUFFIX, C_NICKNAME, C_ORG, C_DEPT,
        C_TITLE, C_NOTE, C_BIRTHDAY, C_MODIFIED, C_GUID,
};

/* The first phone or e-mail, for a card without names. */
static char *first_value(Reader *rd, int64_t rowid, int property) {
        sqlite3_stmt *st = rd->values;

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, rowid);
        for (unsigned i = 0; i < MAX_VALUES && sqlite3_step(st) == SQLITE_ROW; i++)
                if (sqlite3_column_int(st, 1) == property && col_text(st, 2))
                        return strdup(col_text(st, 2));
        return NULL;
}

static int read_contact(Reader *rd, sqlite3_stmt *st, Contact *c) {
        const char *parts[5] = { col_text(st, C_PREFIX), col_text(st, C_FIRST),
                                 col_text(st, C_MIDDLE), col_text(st, C_LAST),
                                 col_text(st, C_SUFFIX) };
        const char *n[5] = { col_text(st, C_LAST) ?: "", col_text(st, C_FIRST) ?: "",
                             col_text(st, C_MIDDLE) ?: "", col_text(st, C_PREFIX) ?: "",
                             col_text(st, C_SUFFIX) ?: "" };
        const char *org[2] = { col_text(st, C_ORG) ?: "", col_text(st, C_DEPT) ?: "" };
        const char *guid = rd->has_guid ? col_text(st, C_GUID) : NULL;
        _cleanup_free_ char *fn = NULL;
        size_t fn_len = 0;
        char date[32];
        Card card = {}, *f = &card;
        FILE *fm;
        int r;

        c->rowid = sqlite3_column_int64(st, C_ROWID);
        c->first = strdup(n[1]);
        c->last = strdup(n[0]);
        if (!c->first || !c->last)
                return -ENOMEM;
        if (sqlite3_column_type(st, C_MODIFIED) == SQLITE_INTEGER ||
            sqlite3_column_type(st, C_MODIFIED) == SQLITE_FLOAT) {
                double d = sqlite3_column_double(st, C_MODIFIED);

                if (isfinite(d) && d > -1e10 && d < 1e10)
                        c->mtime = (int64_t) d + EXPORT_MAC_EPOCH;
        }

        /* FN: the name parts; else the organisation; else the first e-mail or phone. */
        fm = open_memstream(&fn, &fn_len);
        if (!fm)
                return -ENOMEM;
        for (size_t i = 0, k = 0; i < 5; i++)
                if (parts[i])
                        fprintf(fm, "%s%s", k++ ? " " : "", parts[i]);
        if (fclose(fm) != 0)
                return -ENOMEM;
        if (isempty(fn)) {
                const char *o = col_text(st, C_ORG);

                free(fn);
                fn = o ? strdup(o) : first_value(rd, c->rowid, PROP_EMAIL);
                if (!fn)
                        fn = first_value(rd, c->rowid, PROP_PHONE);
                if (!fn)
                        fn = strdup("");
                if (!fn)
                        return -ENOMEM;
        }

        card.f = open_memstream(&c->card, &c->card_len);
        if (!card.f)
                return -ENOMEM;
        put_line(f, "BEGIN:VCARD");
        put_line(f, "VERSION:4.0");
        if (guid) {
                bool uuid = strlen(guid) == 36 && strspn(guid, "0123456789abcdefABCDEF-") == 36;

                if (uuid) {
                        _cleanup_free_ char *u = NULL;

                        if (asprintf(&u, "urn:uuid:%s", guid) >= 0)
                                put_raw(f, NULL, "UID", NULL, u);
                } else
                        put_prop(f, NULL, "UID", ";VALUE=text", &guid, 1);
        } else {
                _cleanup_free_ char *u = NULL;

                if (asprintf(&u, "urn:x-idevicesync:addressbook:%s:%" PRId64, rd->identity,
                             c->rowid) >= 0)
                        put_raw(f, NULL, "UID", NULL, u);
        }
        put_text(f, "FN", fn);
        put_prop(f, NULL, "N", NULL, n, 5);
        put_text(f, "NICKNAME", col_text(st, C_NICKNAME));
        if (col_text(st, C_ORG) || col_text(st, C_DEPT))
                put_prop(f, NULL, "ORG", NULL, org, col_text(st, C_DEPT) ? 2 : 1);
        put_text(f, "TITLE", col_text(st, C_TITLE));
        if (format_date(col_text(st, C_BIRTHDAY), date, sizeof(date)))
                put_raw(f, NULL, "BDAY", NULL, date);
        r = write_values(rd, f, c->rowid);
        if (r != 0) {
                fclose(card.f);
                return r;
        }
        write_groups(rd, f, c->rowid);
        put_text(f, "NOTE", col_text(st, C_NOTE));
        write_photo(rd, f, c->rowid);
        if (c->mtime != 0) {
                time_t t = (time_t) c->mtime;
                struct tm tm;

                if (gmtime_r(&t, &tm) && tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999) {
                        strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
                        put_raw(f, NULL, "REV", NULL, date);
                }
        }
        put_line(f, "END:VCARD");
        if (fclose(card.f) != 0)      /* any write to the card that failed */
                return -ENOMEM;
        c->fn = TAKE_PTR(fn);
        return 0;
}

static int contact_cmp(const void *a, const void *b) {
        const Contact *x = a, *y = b;
        int r = strcmp(x->last, y->last);

        if (r == 0)
                r = strcmp(x->first, y->first);
        if (r == 0)
                r = x->rowid < y->rowid ? -1 : x->rowid > y->rowid;
        return r;
}

/* The id of this address book for UIDs derived from ROWIDs: a stored identifier when the
 * database has one, else "local". */
static char *database_identity(sqlite3 *db) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db, "SELECT value FROM _SqliteDatabaseProperties WHERE key "
                                   "LIKE '%UUID%' OR key LIKE '%Identifier%' ORDER BY key "
                                   "LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && col_text(st, 0)) {
                char *s = strdup(col_text(st, 0));

                for (char *p = s; p && *p; p++)
                        if (!strchr("0123456789abcdefghijklmnopqrstuvwxyz"
                                    "ABCDEFGHIJKLMNOPQRSTUVWXYZ-", *p))
                                *p = '-';
                return s;
        }
        return strdup("local");
}

static void reader_done(Reader *rd) {
        sqlite3_finalize(rd->values);
        sqlite3_finalize(rd->entries);
        sqlite3_finalize(rd->groups);
        sqlite3_finalize(rd->photo);
        if (rd->images)
                sqlite3_close(rd->images);
        free(rd->identity);
}

static void contacts_free(Contact *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].first);
                free(c[i].last);
                free(c[i].card);
                free(c[i].fn);
        }
        free(c);
}

static int write_all(ExportCtx *x, Contact *c, size_t n) {
        _cleanup_(closep) int dir = -EBADF;
        _cleanup_(fclosep) FILE *all = NULL;
        int r;

        r = export_mkdir(x, export_root_fd(x), "contacts", &dir);
        if (r != 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char name[256];

                r = export_check_cancel(x);
                if (r != 0)
                        return r;
                export_safe_name(c[i].fn, ".vcf", "contact", name, sizeof(name));
                r = export_write(x, dir, name, c[i].card, c[i].card_len, c[i].mtime, NULL);
                if (r != 0)
                        return r;
        }
        r = export_create(x, export_root_fd(x), "contacts.vcf", &all, NULL);
        if (r != 0)
                return r;
        for (size_t i = 0; i < n; i++)
                fwrite(c[i].card, 1, c[i].card_len, all);
        r = export_close(x, TAKE_PTR(all), 0);
        if (r != 0)
                return r;
        export_count(x, n);
        return 0;
}

static int run(ExportCtx *x) {
        static const char *const person[] = {
                "ROWID", "First", "Last", "Middle", "Prefix", "Suffix", "Nickname",
                "Organization", "Department", "JobTitle", "Note", "Birthday",
                "ModificationDate", NULL };
        static const char *const mv[] = { "UID", "record_id", "property", "identifier",
                                          "label", "value", NULL };
        static const char *const entry[] = { "parent_id", "key", "value", NULL };
        static const char *const onlyvalue[] = { "value", NULL };
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        Reader rd = { .x = x };
        Contact *contacts = NULL;
        size_t n = 0, cap = 0;
        char sql[512];
        int r;

        r = export_open_checked(x, AB_DOMAIN, AB_PATH, "contacts",
                                (const ExportTable[]) { { "ABPerson", person },
                                                        { "ABMultiValue", mv },
                                                        { "ABMultiValueLabel", onlyvalue },
                                                        { "ABMultiValueEntry", entry },
                                                        { "ABMultiValueEntryKey", onlyvalue },
                                                        {} },
                                &db);
        if (r != 0)
                return r;
        rd.db = db;
        rd.has_guid = export_has_column(db, "ABPerson", "guid");
        rd.identity = database_identity(db);
        if (!rd.identity)
                return -ENOMEM;

        r = -EPROTO;
        if (sqlite3_prepare_v2(db, "SELECT v.UID, v.property, v.value, l.value "
                                   "FROM ABMultiValue v LEFT JOIN ABMultiValueLabel l "
                                   "ON l.ROWID = v.label WHERE v.record_id = ?1 "
                                   "ORDER BY v.property, v.identifier, v.UID", -1, &rd.values,
                               NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT k.value, e.value FROM ABMultiValueEntry e "
                                   "JOIN ABMultiValueEntryKey k ON k.ROWID = e.key "
                                   "WHERE e.parent_id = ?1 ORDER BY e.ROWID", -1, &rd.entries,
                               NULL) != SQLITE_OK)
                goto out;
        /* Groups are optional: an address book without the tables has none. */
        if (export_has_column(db, "ABGroup", "Name") &&
            export_has_column(db, "ABGroupMembers", "member_id") &&
            sqlite3_prepare_v2(db, "SELECT g.Name FROM ABGroupMembers m JOIN ABGroup g "
                                   "ON g.ROWID = m.group_id WHERE m.member_id = ?1 AND "
                                   "coalesce(m.member_type, 0) = 0 ORDER BY g.ROWID", -1,
                               &rd.groups, NULL) != SQLITE_OK)
                goto out;
        /* Photos are optional too: no images database, no photos. */
        r = export_open_db(x, AB_DOMAIN, AB_IMAGES_PATH, &rd.images);
        if (r == IDS_E_CANCELLED)
                goto out;
        if (r != 0)
                rd.images = NULL;
        else if (!export_has_column(rd.images, "ABFullSizeImage", "data") ||
                 sqlite3_prepare_v2(rd.images, "SELECT data FROM ABFullSizeImage WHERE "
                                               "record_id = ?1 ORDER BY ROWID LIMIT 1", -1,
                                    &rd.photo, NULL) != SQLITE_OK)
                rd.photo = NULL;

        snprintf(sql, sizeof(sql), "SELECT ROWID, First, Last, Middle, Prefix, Suffix, "
                 "Nickname, Organization, Department, JobTitle, Note, Birthday, "
                 "ModificationDate%s FROM ABPerson ORDER BY ROWID", rd.has_guid ? ", guid" : "");
        r = -EPROTO;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
                goto out;
        for (;;) {
                int s = sqlite3_step(st);

                if (s == SQLITE_DONE)
                        break;
                if (s != SQLITE_ROW) {
                        r = -EPROTO;
                        goto out;
                }
                r = export_check_cancel(x);
                if (r != 0)
                        goto out;
                if (n >= MAX_CONTACTS) {
                        export_note(x, "Only the first %d contacts are exported.", MAX_CONTACTS);
                        break;
                }
                if (n == cap) {
                        Contact *nc = reallocarray(contacts, cap ? cap * 2 : 64, sizeof(*nc));

                        r = -ENOMEM;
                        if (!nc)
                                goto out;
                        contacts = nc;
                        cap = cap ? cap * 2 : 64;
                }
                contacts[n] = (Contact) {};
                r = read_contact(&rd, st, &contacts[n++]);
                if (r != 0)
                        goto out;
        }
        if (n > 0)
                qsort_safe(contacts, n, sizeof(*contacts), contact_cmp);
        r = write_all(x, contacts, n);
out:
        contacts_free(contacts, n);
        reader_done(&rd);
        return r;
}

const ExportType export_contacts = {
        .name = "contacts",
        .version = 1,
        .sources = (const ExportSource[]) {
                /* The -wal and -shm too: a WAL holds changes the main file lacks. */
                { AB_DOMAIN, AB_PATH },
                { AB_DOMAIN, AB_PATH "-wal" },
                { AB_DOMAIN, AB_PATH "-shm" },
                { AB_DOMAIN, AB_IMAGES_PATH },
                { AB_DOMAIN, AB_IMAGES_PATH "-wal" },
                { AB_DOMAIN, AB_IMAGES_PATH "-shm" },
                {}
        },
        .run = run,
};
