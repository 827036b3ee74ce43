/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of profile-pim-notes.c: Safari's Bookmarks.db, Notes' NoteStore.sqlite and
 * Voice Memos' CloudRecordings.db in a gen-profile profile, for iOS 15.7, 16.6, 17.5, 18.1
 * and the "future" 19.0. For each: the schema has the version's columns
 * (docs/ios-databases-bookmarks-notes-memos.md), the database's counts match the ground truth JSON, note bodies
 * decoded here (gunzip and a protobuf reader of this file's own, sharing nothing with the
 * generator) equal the JSON's "text", attribute runs cover the text in UTF-16 units,
 * attachment and recording files hash to what the JSON says. Then: the same seed gives the
 * same JSON bytes, and mutate changes the JSON deterministically.
 *
 * Everything happens in a mkdtemp() directory under $TMPDIR (or /tmp) that is removed at
 * the end. Prints "FAIL: <expr> at file:line" for each failed check; exits 0 only if none
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>
#include <zlib.h>

#include "emu.h"
#include "profile-pim.h"
#include "test-emu-util.h"

#define NOTES_DOMAIN "AppDomainGroup-group.com.apple.notes"
#define VM_DOMAIN "AppDomainGroup-group.com.apple.VoiceMemos.shared"

static char top[4096];

/* ---- helpers ------------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b) {
        char *s;

        if (asprintf(&s, "%s/%s", a, b) < 0)
                abort();
        return s;
}

static void rm_rf(const char *path) {
        (void) nftw(path, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The whole file, NUL-terminated (its size into *ret_n if not NULL); NULL if unreadable. */
static char *slurp(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        char *s;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return NULL;
        }
        s = malloc((size_t) n + 1);
        if (s && fread(s, 1, (size_t) n, f) != (size_t) n) {
                free(s);
                s = NULL;
        }
        fclose(f);
        if (!s)
                return NULL;
        s[n] = '\0';
        if (ret_n)
                *ret_n = (size_t) n;
        return s;
}

static char *slurp_in(const char *dir, const char *rel, size_t *n) {
        char *p = path_join(dir, rel), *s = slurp(p, n);

        free(p);
        return s;
}

static unsigned count(const char *s, const char *needle) {
        unsigned n = 0;

        for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static void sha256_hex(const void *p, size_t n, char hex[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void put_utf8(char **o, unsigned c) {
        char *p = *o;

        if (c < 0x80)
                *p++ = (char) c;
        else if (c < 0x800) {
                *p++ = (char) (0xc0 | c >> 6);
                *p++ = (char) (0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
                *p++ = (char) (0xe0 | c >> 12);
                *p++ = (char) (0x80 | ((c >> 6) & 0x3f));
                *p++ = (char) (0x80 | (c & 0x3f));
        } else {
                *p++ = (char) (0xf0 | c >> 18);
                *p++ = (char) (0x80 | ((c >> 12) & 0x3f));
                *p++ = (char) (0x80 | ((c >> 6) & 0x3f));
                *p++ = (char) (0x80 | (c & 0x3f));
        }
        *o = p;
}

/* The JSON string literal at s (s points at its opening quote), decoded; "null" → NULL
 * with *ok set. */
static char *json_string_at(const char *s, bool *ok) {
        char *out, *o;

        *ok = true;
        if (strncmp(s, "null", 4) == 0)
                return NULL;
        if (*s != '"') {
                *ok = false;
                return NULL;
        }
        out = o = malloc(strlen(s) + 1);
        for (s++; *s && *s != '"'; s++) {
                if (*s != '\\') {
                        *o++ = *s;
                        continue;
                }
                s++;
                switch (*s) {
                case 'n': *o++ = '\n'; break;
                case 't': *o++ = '\t'; break;
                case 'u': {
                        unsigned c = 0;

                        sscanf(s + 1, "%4x", &c);
                        s += 4;
                        put_utf8(&o, c);
                        break;
                }
                default: *o++ = *s;
                }
        }
        *o = '\0';
        return out;
}

/* The value of "key" in the JSON object that starts with {"id":id. */
static char *note_field(const char *json, int64_t id, const char *key, bool *ok) {
        char head[64], k[64];
        const char *p, *end;

        snprintf(head, sizeof(head), "{\"id\":%" PRId64 ",", id);
        snprintf(k, sizeof(k), "\"%s\":", key);
        p = strstr(json, head);
        if (!p) {
                *ok = false;
                return NULL;
        }
        end = strstr(p + 1, "{\"id\":");
        p = strstr(p, k);
        if (!p || (end && p > end)) {
                *ok = false;
                return NULL;
        }
        return json_string_at(p + strlen(k), ok);
}

static bool has_column(sqlite3 *db, const char *table, const char *col) {
        char sql[256];
        sqlite3_stmt *s;
        bool found = false;

        snprintf(sql, sizeof(sql), "PRAGMA table_info(%s)", table);
        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
                return false;
        while (sqlite3_step(s) == SQLITE_ROW)
                if (strcmp((const char *) sqlite3_column_text(s, 1), col) == 0)
                        found = true;
        sqlite3_finalize(s);
        return found;
}

static bool has_table(sqlite3 *db, const char *table) {
        sqlite3_stmt *s;
        bool found;

        if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               -1, &s, NULL) != SQLITE_OK)
                return false;
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        found = sqlite3_step(s) == SQLITE_ROW;
        sqlite3_finalize(s);
        return found;
}

static int64_t query_int(sqlite3 *db, const char *sql) {
        sqlite3_stmt *s;
        int64_t v = -1;

        if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
                printf("FAIL: sql %s: %s\n", sql, sqlite3_errmsg(db));
                failures++;
                return -1;
        }
        if (sqlite3_step(s) == SQLITE_ROW)
                v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        return v;
}

static sqlite3 *open_db(const char *dir, const char *rel) {
        char *p = path_join(dir, rel);
        sqlite3 *db = NULL;

        if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
                printf("FAIL: cannot open %s\n", p);
                failures++;
                sqlite3_close(db);
                db = NULL;
        }
        free(p);
        return db;
}

/* ---- this test's own protobuf reading ------------------------------------------------- */

static bool rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
        *v = 0;
        for (int shift = 0; *p < end && shift < 64; shift += 7) {
                uint8_t b = *(*p)++;

                *v |= (uint64_t) (b & 0x7f) << shift;
                if (!(b & 0x80))
                        return true;
        }
        return false;
}

/* The first length-delimited field number `field` of the message [p, end). */
static bool pb_find(const uint8_t *p, const uint8_t *end, unsigned field, const uint8_t **ret,
                    size_t *ret_n) {
        while (p < end) {
                uint64_t key, v;

                if (!rd_varint(&p, end, &key))
                        return false;
                switch (key & 7) {
                case 0:
                        if (!rd_varint(&p, end, &v))
                                return false;
                        break;
                case 2:
                        if (!rd_varint(&p, end, &v) || v > (uint64_t) (end - p))
                                return false;
                        if ((key >> 3) == field) {
                                *ret = p;
                                *ret_n = (size_t) v;
                                return true;
                        }
                        p += v;
                        break;
                default:
                        return false;
                }
        }
        return false;
}

typedef struct Body {
        char *text;
        uint64_t run_units;     /* sum of the attribute runs' lengths */
        unsigned runs, checklist_runs, attachment_runs;
} Body;

/* gunzip + NoteStoreProto → Document(2) → Note(3) → note_text(2), attribute_run(5). */
static bool body_decode(const uint8_t *z, size_t zn, Body *b) {
        static uint8_t out[1 << 20];
        z_stream s = {};
        const uint8_t *doc, *note, *p, *end, *t;
        size_t doc_n, note_n, t_n, n;

        *b = (Body) {};
        if (zn < 2 || z[0] != 0x1f || z[1] != 0x8b)
                return false;
        if (inflateInit2(&s, 16 + 15) != Z_OK)
                return false;
        s.next_in = (Bytef *) z;
        s.avail_in = (uInt) zn;
        s.next_out = out;
        s.avail_out = sizeof(out);
        if (inflate(&s, Z_FINISH) != Z_STREAM_END) {
                inflateEnd(&s);
                return false;
        }
        n = s.total_out;
        inflateEnd(&s);
        if (!pb_find(out, out + n, 2, &doc, &doc_n) ||
            !pb_find(doc, doc + doc_n, 3, &note, &note_n) ||
            !pb_find(note, note + note_n, 2, &t, &t_n))
                return false;
        b->text = strndup((const char *) t, t_n);
        for (p = note, end = note + note_n; p < end;) {
                uint64_t key, v;

                if (!rd_varint(&p, end, &key))
                        return false;
                if ((key & 7) == 0) {
                        if (!rd_varint(&p, end, &v))
                                return false;
                        continue;
                }
                if ((key & 7) != 2 || !rd_varint(&p, end, &v) || v > (uint64_t) (end - p))
                        return false;
                if ((key >> 3) == 5) {
                        const uint8_t *r = p, *re = p + v, *ps, *x;
                        size_t ps_n, x_n;
                        uint64_t k2, len = 0;

                        /* length is field 1, a varint, first in every run we write */
                        if (rd_varint(&r, re, &k2) && k2 == (1 << 3))
                                rd_varint(&r, re, &len);
                        b->run_units += len;
                        b->runs++;
                        if (pb_find(p, re, 2, &ps, &ps_n)) {
                                const uint8_t *q = ps;
                                uint64_t k3, st;

                                if (rd_varint(&q, ps + ps_n, &k3) && k3 == (1 << 3) &&
                                    rd_varint(&q, ps + ps_n, &st) && st == 103)
                                        b->checklist_runs++;
                        }
                        if (pb_find(p, re, 12, &x, &x_n))
                                b->attachment_runs++;
                }
                p += v;
        }
        return true;
}

static uint64_t utf16_units(const char *s) {
        uint64_t u = 0;

        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if ((c & 0xc0) == 0x80)
                        continue;
                u += c >= 0xf0 ? 2 : 1;
        }
        return u;
}

/* ---- the checks of one profile --------------------------------------------------------- */

static void check_bookmarks(const char *dir, const char *ios, bool future) {
        char *json = slurp_in(dir, "bookmarks.json", NULL);
        sqlite3 *db = open_db(dir, "backup/HomeDomain/Library/Safari/Bookmarks.db");
        int64_t rl, leaves, folders, reading;

        ASSERT_OR_RETURN(json && db);
        ASSERT(strstr(json, "{\"ios\":\""));
        ASSERT(strstr(json, ios));
        ASSERT(has_column(db, "bookmarks", "parent") && has_column(db, "bookmarks", "title") &&
               has_column(db, "bookmarks", "url") && has_column(db, "bookmarks", "deleted"));
        ASSERT(has_column(db, "bookmarks", "order_index") == !future);
        ASSERT(has_column(db, "bookmarks", "special_id") == !future);
        ASSERT(has_column(db, "bookmarks", "position") == future);
        rl = query_int(db, "SELECT id FROM bookmarks WHERE parent = 0 AND "
                           "title = 'com.apple.ReadingList'");
        ASSERT(rl > 0);
        ASSERT_EQ_INT(query_int(db, "SELECT COUNT(*) FROM bookmarks WHERE parent IS NULL"), 1);
        ASSERT_EQ_INT(query_int(db, "SELECT COUNT(*) FROM bookmarks WHERE parent = 0 AND "
                                    "title = 'BookmarksBar' AND type = 1"), 1);
        leaves = query_int(db, "SELECT COUNT(*) FROM bookmarks b WHERE type = 0 AND deleted = 0 "
                               "AND parent != (SELECT id FROM bookmarks WHERE "
                               "title = 'com.apple.ReadingList')");
        folders = query_int(db, "SELECT COUNT(*) FROM bookmarks WHERE type = 1 AND deleted = 0 "
                                "AND parent IS NOT NULL AND title != 'com.apple.ReadingList'");
        reading = query_int(db, "SELECT COUNT(*) FROM bookmarks WHERE deleted = 0 AND parent = "
                                "(SELECT id FROM bookmarks WHERE title = 'com.apple.ReadingList')");
        ASSERT(query_int(db, "SELECT COUNT(*) FROM bookmarks WHERE deleted = 1") >= 1);
        ASSERT_EQ_INT(count(json, "\"folder\":"), leaves);
        ASSERT_EQ_INT(count(json, "\"added\":"), reading);
        ASSERT(reading >= 2);
        ASSERT(strstr(json, "\"added\":null"));
        ASSERT(!strstr(json, "Deleted bookmark"));
        /* the folder list: Favorites first, then nested paths; one quoted string each */
        {
                const char *f = strstr(json, "\"folders\":[");
                const char *e = f ? strchr(f, ']') : NULL;
                unsigned quotes = 0;

                ASSERT_OR_RETURN(f && e);
                ASSERT(strncmp(f, "\"folders\":[\"Favorites\",\"Favorites/News\","
                                  "\"Favorites/News/Tech & <Code>\"", 61) == 0);
                for (const char *p = f + 10; p < e; p++)
                        quotes += *p == '"' && p[-1] != '\\';
                ASSERT_EQ_INT(quotes / 2, folders);
        }
        ASSERT(strstr(json, "\"title\":\"Tom & Jerry \\\"Classics\\\"\""));
        ASSERT(strstr(json, "\"folder\":\"Reisen ✈ Zürich/Küche\""));
        ASSERT(strstr(json, "\"url\":\"https://例え.テスト/ガイド\""));
        sqlite3_close(db);
        free(json);
}

/* The table attachment: no media, its ZMERGEABLEDATA1 a gzip'd MergableDataProto whose
 * strings include the key and type items and the cells. */
static void check_table(sqlite3 *db) {
        sqlite3_stmt *s;
        unsigned tables = 0;

        ASSERT_OR_RETURN(sqlite3_prepare_v2(db, "SELECT ZMEDIA, ZMERGEABLEDATA1 FROM "
                                            "ZICCLOUDSYNCINGOBJECT WHERE "
                                            "ZTYPEUTI = 'com.apple.notes.table'", -1, &s,
                                            NULL) == SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
                static uint8_t out[1 << 16];
                const uint8_t *z = sqlite3_column_blob(s, 1);
                z_stream zs = {};
                const uint8_t *obj, *data;
                size_t obj_n, data_n;

                tables++;
                ASSERT(sqlite3_column_type(s, 0) == SQLITE_NULL);
                ASSERT_OR_RETURN(z && inflateInit2(&zs, 16 + 15) == Z_OK);
                zs.next_in = (Bytef *) z;
                zs.avail_in = (uInt) sqlite3_column_bytes(s, 1);
                zs.next_out = out;
                zs.avail_out = sizeof(out);
                ASSERT(inflate(&zs, Z_FINISH) == Z_STREAM_END);
                inflateEnd(&zs);
                ASSERT(pb_find(out, out + zs.total_out, 2, &obj, &obj_n));
                ASSERT(pb_find(obj, obj + obj_n, 3, &data, &data_n));
                for (const char *const *w = (const char *const[]) { "crRows", "crColumns",
                                "cellColumns", "com.apple.notes.ICTable", "Äpfel & Birnen",
                                "<2,50>", "東京 1/2", NULL }; *w; w++)
                        ASSERT(memmem(out, zs.total_out, *w, strlen(*w)));
        }
        sqlite3_finalize(s);
        ASSERT_EQ_INT(tables, 1);
}

static void check_notes(const char *dir, const char *ios, bool future) {
        char *json = slurp_in(dir, "notes.json", NULL);
        sqlite3 *db = open_db(dir, "backup/" NOTES_DOMAIN "/NoteStore.sqlite");
        int major = atoi(ios);
        sqlite3_stmt *s;
        unsigned decoded = 0, locked = 0;
        char sql[512];

        ASSERT_OR_RETURN(json && db);
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZTITLE2"));
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZCREATIONDATE3"));
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZISPASSWORDPROTECTED"));
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZTITLE1") == !future);
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZACCOUNT5"));
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZACCOUNT7") == (major >= 16));
        ASSERT(has_column(db, "ZICCLOUDSYNCINGOBJECT", "ZGENERATION1") == (major >= 17));
        ASSERT(has_table(db, "ZICNOTEDATA") == !future);
        ASSERT(has_table(db, "ZICNOTEBODY") == future);
        ASSERT(query_int(db, "SELECT COUNT(*) FROM Z_PRIMARYKEY WHERE Z_NAME IN ('ICNote', "
                             "'ICFolder', 'ICAccount', 'ICAttachment', 'ICMedia')") == 5);
        /* visible notes = those not in a folder of type 1 */
        ASSERT_EQ_INT(count(json, "{\"id\":"),
                      query_int(db, "SELECT COUNT(*) FROM ZICCLOUDSYNCINGOBJECT n JOIN "
                                    "ZICCLOUDSYNCINGOBJECT f ON f.Z_PK = n.ZFOLDER WHERE "
                                    "n.Z_ENT = (SELECT Z_ENT FROM Z_PRIMARYKEY WHERE "
                                    "Z_NAME = 'ICNote') AND f.ZFOLDERTYPE = 0"));
        ASSERT(query_int(db, "SELECT COUNT(*) FROM ZICCLOUDSYNCINGOBJECT n JOIN "
                             "ZICCLOUDSYNCINGOBJECT f ON f.Z_PK = n.ZFOLDER WHERE "
                             "f.ZFOLDERTYPE = 1 AND f.ZTITLE2 = 'Recently Deleted'") >= 1);
        ASSERT(!strstr(json, "Old draft"));
        ASSERT(strstr(json, "\"folder\":\"Work/Projects\""));

        snprintf(sql, sizeof(sql), "SELECT n.Z_PK, n.ZISPASSWORDPROTECTED, d.%s FROM "
                 "ZICCLOUDSYNCINGOBJECT n JOIN %s d ON d.ZNOTE = n.Z_PK JOIN "
                 "ZICCLOUDSYNCINGOBJECT f ON f.Z_PK = n.ZFOLDER WHERE f.ZFOLDERTYPE = 0",
                 future ? "ZBLOB" : "ZDATA", future ? "ZICNOTEBODY" : "ZICNOTEDATA");
        ASSERT_OR_RETURN(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
                int64_t pk = sqlite3_column_int64(s, 0);
                const uint8_t *z = sqlite3_column_blob(s, 2);
                size_t zn = (size_t) sqlite3_column_bytes(s, 2);
                bool ok;
                char *text = note_field(json, pk, "text", &ok);
                Body b;

                ASSERT(ok);
                if (sqlite3_column_int(s, 1)) {
                        /* locked: not gzip, null text */
                        locked++;
                        ASSERT(zn > 2 && !(z[0] == 0x1f && z[1] == 0x8b));
                        ASSERT(!text);
                        continue;
                }
                ASSERT_OR_RETURN(body_decode(z, zn, &b));
                ASSERT_STREQ(b.text, text);
                ASSERT_EQ_INT(b.run_units, utf16_units(b.text));
                if (strstr(b.text, "Shopping list")) {
                        ASSERT_EQ_INT(b.checklist_runs, 4);
                        ASSERT(strstr(json, "\"checklist\":[{\"text\":\"Milk\",\"done\":"));
                }
                if (strstr(b.text, "🍎"))
                        ASSERT(b.run_units > strlen("🍎"));
                if (b.attachment_runs > 0 && (free(note_field(json, pk, "name", &ok)), ok)) {
                        char *name = note_field(json, pk, "name", &ok);
                        char *rel = note_field(json, pk, "path", &ok), *full, *data;
                        char want[65], *sha = note_field(json, pk, "sha256", &ok);
                        size_t dn = 0;

                        ASSERT_OR_RETURN(ok && name && rel && sha);
                        ASSERT(strstr(b.text, "\xef\xbf\xbc"));
                        ASSERT(strncmp(rel, "Accounts/", 9) == 0);
                        ASSERT(count(rel, "/") == (major >= 17 ? 5u : 4u));
                        if (asprintf(&full, "backup/" NOTES_DOMAIN "/%s", rel) < 0)
                                abort();
                        data = slurp_in(dir, full, &dn);
                        ASSERT_OR_RETURN(data && dn > 4);
                        ASSERT((uint8_t) data[0] == 0xff && (uint8_t) data[1] == 0xd8);
                        sha256_hex(data, dn, want);
                        ASSERT_STREQ(sha, want);
                        free(data);
                        free(full);
                        free(name);
                        free(rel);
                        free(sha);
                }
                decoded++;
                free(b.text);
                free(text);
        }
        sqlite3_finalize(s);
        check_table(db);
        ASSERT(decoded >= 3);
        ASSERT_EQ_INT(locked, 1);
        ASSERT(strstr(json, "\"locked\":true,\"text\":null"));
        sqlite3_close(db);
        free(json);
}

static void check_recordings(const char *dir, const char *ios, bool future) {
        char *json = slurp_in(dir, "voice-memos.json", NULL);
        sqlite3 *db = open_db(dir, "backup/" VM_DOMAIN "/Recordings/CloudRecordings.db");
        const char *table = future ? "ZRECORDING2" : "ZCLOUDRECORDING";
        char sql[256];
        sqlite3_stmt *s;
        unsigned files = 0;

        ASSERT_OR_RETURN(json && db);
        ASSERT(has_table(db, "ZCLOUDRECORDING") == !future);
        if (!future)
                ASSERT(has_column(db, "ZCLOUDRECORDING", "ZENCRYPTEDTITLE") &&
                       has_column(db, "ZCLOUDRECORDING", "ZCUSTOMLABEL") &&
                       has_column(db, "ZCLOUDRECORDING", "ZDATE") &&
                       has_column(db, "ZCLOUDRECORDING", "ZDURATION") &&
                       has_column(db, "ZCLOUDRECORDING", "ZPATH"));
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE ZEVICTIONDATE IS NULL", table);
        ASSERT_EQ_INT(count(json, "{\"title\":"), query_int(db, sql));
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE ZEVICTIONDATE IS NOT NULL",
                 table);
        ASSERT(query_int(db, sql) >= 1);
        snprintf(sql, sizeof(sql), "SELECT ZPATH FROM %s WHERE ZEVICTIONDATE IS NULL", table);
        ASSERT_OR_RETURN(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
                char *rel, *data, hex[65], *rel_json;
                size_t n = 0;

                if (asprintf(&rel, "backup/" VM_DOMAIN "/Recordings/%s",
                             (const char *) sqlite3_column_text(s, 0)) < 0 ||
                    asprintf(&rel_json, "\"path\":\"Recordings/%s\"",
                             (const char *) sqlite3_column_text(s, 0)) < 0)
                        abort();
                data = slurp_in(dir, rel, &n);
                ASSERT(data && n > 36 && memcmp(data + 4, "ftyp", 4) == 0);
                if (data) {
                        sha256_hex(data, n, hex);
                        ASSERT(strstr(json, hex));
                        files++;
                }
                ASSERT(strstr(json, rel_json));
                free(data);
                free(rel);
                free(rel_json);
        }
        sqlite3_finalize(s);
        ASSERT(files >= 1);
        ASSERT(strstr(json, "\"domain\":\"" VM_DOMAIN "\""));
        sqlite3_close(db);
        free(json);
}

/* gen-profile --seed seed, then the three databases. */
static char *make_profile(const char *name, const char *ios, uint64_t seed) {
        char *dir = path_join(top, name);
        GenOptions o = { .seed = 1, .ios = ios };

        ASSERT_EQ_INT(profile_generate(dir, &o), 0);
        ASSERT_EQ_INT(pim_bookmarks_generate(dir, ios, seed, 0), 0);
        ASSERT_EQ_INT(pim_notes_generate(dir, ios, seed, 0), 0);
        ASSERT_EQ_INT(pim_recordings_generate(dir, ios, seed, 0), 0);
        return dir;
}

static void check_all(const char *dir, const char *ios) {
        bool future = atoi(ios) >= 19;

        check_bookmarks(dir, ios, future);
        check_notes(dir, ios, future);
        check_recordings(dir, ios, future);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_versions(void) {
        static const char *const versions[] = { "15.7", "16.6", "17.5", "18.1", "19.0" };

        for (size_t i = 0; i < ELEMENTSOF(versions); i++) {
                char name[32];
                char *dir;

                snprintf(name, sizeof(name), "v%s", versions[i]);
                dir = make_profile(name, versions[i], 5);
                check_all(dir, versions[i]);
                {
                        char *vj = slurp_in(dir, "voice-memos.json", NULL);

                        ASSERT(vj && strstr(vj, "\"title\":\"Band 1/2 — Probe\""));
                        free(vj);
                }
                rm_rf(dir);
                free(dir);
        }
}

static bool same_file(const char *a, const char *b, const char *rel) {
        size_t na = 0, nb = 0;
        char *x = slurp_in(a, rel, &na), *y = slurp_in(b, rel, &nb);
        bool same = x && y && na == nb && memcmp(x, y, na) == 0;

        free(x);
        free(y);
        return same;
}

static void test_determinism_and_mutate(void) {
        static const char *const jsons[] = { "bookmarks.json", "notes.json", "voice-memos.json" };
        char *a = make_profile("det-a", "17.5", 9), *b = make_profile("det-b", "17.5", 9);
        char *c = make_profile("det-c", "17.5", 10), *before[3];
        char *empty = path_join(top, "empty");

        for (size_t i = 0; i < ELEMENTSOF(jsons); i++) {
                ASSERT(same_file(a, b, jsons[i]));
                ASSERT(!same_file(a, c, jsons[i]));
                before[i] = slurp_in(a, jsons[i], NULL);
        }
        ASSERT(same_file(a, b, "backup/HomeDomain/Library/Safari/Bookmarks.db"));
        ASSERT(same_file(a, b, "backup/" NOTES_DOMAIN "/NoteStore.sqlite"));

        for (int k = 0; k < 2; k++) {
                const char *d = k ? b : a;

                ASSERT_EQ_INT(pim_bookmarks_mutate(d, "17.5", 3, 2, 1, 1), 0);
                ASSERT_EQ_INT(pim_notes_mutate(d, "17.5", 3, 2, 1, 1), 0);
                ASSERT_EQ_INT(pim_recordings_mutate(d, "17.5", 3, 1, 2, 1), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(jsons); i++) {
                char *after = slurp_in(a, jsons[i], NULL);

                ASSERT(after && before[i] && strcmp(after, before[i]) != 0);
                ASSERT(same_file(a, b, jsons[i]));
                free(after);
        }
        check_all(a, "17.5");
        {
                char *bj = slurp_in(a, "bookmarks.json", NULL);
                char *nj = slurp_in(a, "notes.json", NULL);
                char *vj = slurp_in(a, "voice-memos.json", NULL);

                /* bookmarks: 2 renamed, 1 added, 1 removed: the count stays */
                ASSERT_EQ_INT(count(bj, "\"folder\":"), count(before[0], "\"folder\":"));
                ASSERT_EQ_INT(count(bj, " (v"), 2);
                ASSERT_EQ_INT(count(bj, "New: "), 1);
                /* notes: 2 edited, 1 added, 1 moved to Recently Deleted */
                ASSERT_EQ_INT(count(nj, "{\"id\":"), count(before[1], "{\"id\":"));
                ASSERT_EQ_INT(count(nj, "Edited "), 2);
                ASSERT_EQ_INT(count(nj, "\"title\":\"Added note 1 & <more>\""), 1);
                /* recordings: 1 renamed, 2 added, 1 deleted */
                ASSERT_EQ_INT(count(vj, "{\"title\":"), count(before[2], "{\"title\":") + 1);
                ASSERT_EQ_INT(count(vj, "(edited 1)"), 1);
                ASSERT_EQ_INT(count(vj, "Added memo"), 2);
                free(bj);
                free(nj);
                free(vj);
        }

        /* a profile without the databases: nothing to do */
        ASSERT_EQ_INT(mkdir(empty, 0755), 0);
        ASSERT_EQ_INT(pim_bookmarks_mutate(empty, "17.5", 1, 1, 1, 1), 0);
        ASSERT_EQ_INT(pim_notes_mutate(empty, "17.5", 1, 1, 1, 1), 0);
        ASSERT_EQ_INT(pim_recordings_mutate(empty, "17.5", 1, 1, 1, 1), 0);

        for (size_t i = 0; i < ELEMENTSOF(jsons); i++)
                free(before[i]);
        {
                char *dirs[] = { a, b, c, empty };

                for (size_t k = 0; k < ELEMENTSOF(dirs); k++) {
                        rm_rf(dirs[k]);
                        free(dirs[k]);
                }
        }
}

int main(void) {
        const char *tmp = getenv("TMPDIR");

        snprintf(top, sizeof(top), "%s/test-pim-notes-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(top)) {
                printf("FAIL: mkdtemp(%s): %s\n", top, strerror(errno));
                return EXIT_FAILURE;
        }

        test_versions();
        test_determinism_and_mutate();

        rm_rf(top);
        if (failures > 0) {
                printf("%u check(s) failed\n", failures);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
