/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * mobilesync's record store: one plist per data class in the profile (layout in
 * mobilesync.h), the anchor rules, the change log a fast sync sends, and the deterministic
 * people and events a new store starts with.
 *
 * Why a plist file rewritten whole after every step, not a database: a phone commits each
 * step of a session, so a cable pulled mid-session must leave a store that is one of the
 * states between two steps. A rename over the old file gives exactly that, and tests (and
 * mobilesync-edit.py) can read and write the same file with nothing but plistlib.
 *
 * Anchors (specified in sync-protocols.md §5 "Emulator", details decided here):
 *   - ResetPending (after ClearAll)                     → SDSyncTypeReset
 *   - never synced, or the host's device anchor differs
 *     from DeviceAnchor, or its computer anchor from
 *     ComputerAnchor (which is "" after a cut session)   → SDSyncTypeSlow
 *   - both equal                                        → SDSyncTypeFast
 * A session writes a new DeviceAnchor when it starts and the host's computer anchor only
 * when it finishes; the host must send, next time, the device anchor of that session and
 * the same computer anchor to get a fast sync.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mobilesync.h"
#include "profile-internal.h"

#define MAC_EPOCH INT64_C(978307200) /* 2001-01-01T00:00:00Z, plist dates count from it */

static const char *const contacts_entities[] = {
        "com.apple.contacts.Contact",
        "com.apple.contacts.Phone Number",
        "com.apple.contacts.Email Address",
        "com.apple.contacts.Street Address",
        "com.apple.contacts.URL",
        "com.apple.contacts.Date",
        "com.apple.contacts.IM",
        "com.apple.contacts.Related Name",
        "com.apple.contacts.Group",
        NULL,
};

static const char *const calendars_entities[] = {
        "com.apple.calendars.Calendar",   "com.apple.calendars.Event",
        "com.apple.calendars.Recurrence", "com.apple.calendars.Attendee",
        "com.apple.calendars.Organizer",  "com.apple.calendars.DisplayAlarm",
        "com.apple.calendars.AudioAlarm", NULL,
};

static const char *const bookmarks_entities[] = {
        "com.apple.bookmarks.Folder",
        "com.apple.bookmarks.Bookmark",
        NULL,
};

/* Versions: 106 for Contacts is what iTunes sends and what an iOS 14 phone answered
 * (libimobiledevice#1194, #1030); 107 for Calendars is what users report working (#639);
 * Bookmarks has no reported value, 102 is a guess. */
static const MsClass ms_classes[] = {
        {"com.apple.Contacts", "Contacts", MS_CONTACTS, 106, contacts_entities},
        {"com.apple.Calendars", "Calendars", MS_CALENDARS, 107, calendars_entities},
        {"com.apple.Bookmarks", "Bookmarks", MS_BOOKMARKS, 102, bookmarks_entities},
};

/* One mutex for every store and tethered_sync file: sessions and lockdown run on their own
 * threads, and a read-modify-write of a file must not interleave. Never held across
 * network I/O. */
static pthread_mutex_t ms_mutex = PTHREAD_MUTEX_INITIALIZER;

const MsClass *ms_class_lookup(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(ms_classes); i++)
                if (strcmp(ms_classes[i].name, name) == 0)
                        return &ms_classes[i];
        return NULL;
}

const MsClass *ms_class_lookup_short(const char *short_name) {
        for (size_t i = 0; short_name && i < ELEMENTSOF(ms_classes); i++)
                if (strcmp(ms_classes[i].short_name, short_name) == 0)
                        return &ms_classes[i];
        return NULL;
}

const char *ms_sync_type_to_string(MsSyncType t) {
        switch (t) {
        case MS_SYNC_FAST:
                return "SDSyncTypeFast";
        case MS_SYNC_RESET:
                return "SDSyncTypeReset";
        default:
                return "SDSyncTypeSlow";
        }
}

int ms_parse_class_mask(const char *value, unsigned *ret) {
        _cleanup_(freep) char *copy = strdup(value);
        unsigned mask = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",| ", &save); t; t = strtok_r(NULL, ",| ", &save)) {
                if (strcasecmp(t, "contacts") == 0)
                        mask |= MS_CONTACTS;
                else if (strcasecmp(t, "calendars") == 0)
                        mask |= MS_CALENDARS;
                else if (strcasecmp(t, "bookmarks") == 0)
                        mask |= MS_BOOKMARKS;
                else if (strcasecmp(t, "both") == 0)
                        mask |= MS_CONTACTS | MS_CALENDARS;
                else if (strcasecmp(t, "all") == 0)
                        mask |= MS_CONTACTS | MS_CALENDARS | MS_BOOKMARKS;
                else if (strcasecmp(t, "none") != 0)
                        return -EINVAL;
        }
        *ret = mask;
        return 0;
}

/* ---- files ----------------------------------------------------------------------------- */

static int mkdir_store(const char *profile, char **ret_dir) {
        _cleanup_(freep) char *dir = NULL;

        if (asprintf(&dir, "%s/mobilesync", profile) < 0)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        *ret_dir = TAKE_PTR(dir);
        return 0;
}

/* Write data to path through path.tmp, fsync, rename, fsync of the directory. */
static int write_atomic(const char *path, const char *data, size_t len) {
        _cleanup_(freep) char *tmp = NULL, *dir = NULL;
        char *slash;
        int fd, r = 0;

        if (asprintf(&tmp, "%s.tmp", path) < 0 || !(dir = strdup(path)))
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        slash = strrchr(dir, '/');
        if (slash) {
                *slash = '\0';
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) fsync(fd);
                        (void) close(fd);
                }
        }
        return 0;
}

/* Read a whole plist file (binary or XML). -ENOENT, -EBADMSG, -errno. */
static int read_plist(const char *path, plist_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        struct stat st;
        plist_t p = NULL;
        int fd, r = 0;
        ssize_t k;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (1 << 30)) {
                (void) close(fd);
                return -EBADMSG;
        }
        buf = malloc((size_t) st.st_size);
        if (!buf) {
                (void) close(fd);
                return -ENOMEM;
        }
        for (off_t done = 0; done < st.st_size; done += k) {
                k = read(fd, buf + done, (size_t) (st.st_size - done));
                if (k <= 0) {
                        r = k < 0 ? -errno : -EBADMSG;
                        break;
                }
        }
        (void) close(fd);
        if (r < 0)
                return r;
        plist_from_memory(buf, (uint32_t) st.st_size, &p);
        if (!p)
                return -EBADMSG;
        *ret = p;
        return 0;
}

static int write_plist(const char *path, plist_t p) {
        _cleanup_(freep) char *data = NULL;
        uint32_t len = 0;

        plist_to_bin(p, &data, &len);
        if (!data)
                return -ENOMEM;
        return write_atomic(path, data, len);
}

/* ---- small plist helpers --------------------------------------------------------------- */

static plist_t dict_get_or_new(plist_t dict, const char *key) {
        plist_t v = plist_dict_get_item(dict, key);

        if (!v || plist_get_node_type(v) != PLIST_DICT) {
                v = plist_new_dict();
                plist_dict_set_item(dict, key, v);
        }
        return v;
}

const char *ms_store_str(MsStore *s, const char *key) {
        return plist_dict_str(s->root, key) ?: "";
}

bool ms_store_bool(MsStore *s, const char *key) {
        plist_t v = plist_dict_get_item(s->root, key);
        uint8_t b = 0;

        if (v && plist_get_node_type(v) == PLIST_BOOLEAN)
                plist_get_bool_val(v, &b);
        return b;
}

static uint64_t store_uint(MsStore *s, const char *key) {
        plist_t v = plist_dict_get_item(s->root, key);
        uint64_t u = 0;

        if (v && plist_get_node_type(v) == PLIST_UINT)
                plist_get_uint_val(v, &u);
        return u;
}

const char *ms_record_entity(plist_t rec) {
        return rec && plist_get_node_type(rec) == PLIST_DICT ? plist_dict_str(rec, MS_ENTITY_KEY)
                                                             : NULL;
}

unsigned ms_entity_rank(const MsClass *cls, const char *entity) {
        unsigned i = 0;

        for (; cls->entities[i]; i++)
                if (entity && strcmp(cls->entities[i], entity) == 0)
                        return i;
        return i;
}

bool ms_entity_valid(const MsClass *cls, const char *entity) {
        return entity && cls->entities[ms_entity_rank(cls, entity)];
}

/* ---- load, save, JSON ------------------------------------------------------------------ */

/* A copy of dict built with plist_dict_set_item(). libplist 2.2 only gives a dict its
 * hash table when items are set one by one; a dict parsed from a file is searched linearly,
 * which made a 38,000-record store take minutes per session. */
plist_t ms_dict_rehash(plist_t dict) {
        plist_t d = plist_new_dict();
        plist_dict_iter it = NULL;

        if (!dict || plist_get_node_type(dict) != PLIST_DICT)
                return d;
        plist_dict_new_iter(dict, &it);
        for (;;) {
                plist_t v = NULL;
                char *key = NULL;

                plist_dict_next_item(dict, it, &key, &v);
                if (!key)
                        break;
                plist_dict_set_item(d, key, plist_copy(v));
                free(key);
        }
        free(it);
        return d;
}

static void store_bind(MsStore *s) {
        s->records = dict_get_or_new(s->root, "Records");
        s->cloud = dict_get_or_new(s->root, "CloudRecords");
        s->changes = dict_get_or_new(s->root, "Changes");
}

static plist_t store_root_new(const MsClass *cls, bool icloud) {
        plist_t root = plist_new_dict();

        plist_dict_set_item(root, "Version", plist_new_uint(1));
        plist_dict_set_item(root, "DataClass", plist_new_string(cls->name));
        plist_dict_set_item(root, "NextId", plist_new_uint(1));
        plist_dict_set_item(root, "DeviceAnchor", plist_new_string(""));
        plist_dict_set_item(root, "ComputerAnchor", plist_new_string(""));
        plist_dict_set_item(root, "Sessions", plist_new_uint(0));
        plist_dict_set_item(root, "ResetPending", plist_new_bool(0));
        plist_dict_set_item(root, "ICloud", plist_new_bool(icloud));
        return root;
}

MsStore *ms_store_free(MsStore *s) {
        if (!s)
                return NULL;
        if (s->root)
                plist_free(s->root);
        free(s->path);
        free(s->json_path);
        free(s);
        return NULL;
}

int ms_store_load(const char *profile, const MsClass *cls, const MsGenOptions *o, MsStore **ret) {
        _cleanup_(ms_store_freep) MsStore *s = NULL;
        _cleanup_(freep) char *dir = NULL;
        const char *dc;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->cls = cls;
        r = mkdir_store(profile, &dir);
        if (r < 0)
                return r;
        if (asprintf(&s->path, "%s/%s.plist", dir, cls->name) < 0 ||
            asprintf(&s->json_path, "%s/%s.json", dir, cls->name) < 0)
                return -ENOMEM;

        pthread_mutex_lock(&ms_mutex);
        r = read_plist(s->path, &s->root);
        pthread_mutex_unlock(&ms_mutex);
        if (r == -ENOENT) {
                s->root = store_root_new(cls, o && (o->icloud & cls->bit));
                store_bind(s);
                if (o) {
                        r = ms_generate(s, o);
                        if (r < 0)
                                return r;
                }
                r = ms_store_save(s);
                if (r >= 0)
                        r = ms_store_write_json(s);
                if (r < 0)
                        return r;
                log_info("mobilesync: made %s (%u records)", s->path,
                         plist_dict_get_size(s->records) + plist_dict_get_size(s->cloud));
        } else if (r < 0)
                return r;
        if (plist_get_node_type(s->root) != PLIST_DICT)
                return -EBADMSG;
        dc = plist_dict_str(s->root, "DataClass");
        if (!dc || strcmp(dc, cls->name) != 0) {
                log_warn("mobilesync: %s is not a store of %s", s->path, cls->name);
                return -EBADMSG;
        }
        plist_dict_set_item(s->root, "Records",
                            ms_dict_rehash(plist_dict_get_item(s->root, "Records")));
        plist_dict_set_item(s->root, "CloudRecords",
                            ms_dict_rehash(plist_dict_get_item(s->root, "CloudRecords")));
        plist_dict_set_item(s->root, "Changes",
                            ms_dict_rehash(plist_dict_get_item(s->root, "Changes")));
        store_bind(s);
        *ret = TAKE_PTR(s);
        return 0;
}

int ms_store_save(MsStore *s) {
        int r;

        pthread_mutex_lock(&ms_mutex);
        r = write_plist(s->path, s->root);
        pthread_mutex_unlock(&ms_mutex);
        if (r < 0)
                log_warn("mobilesync: cannot write %s: %s", s->path, strerror(-r));
        return r;
}

/* A growing string for the JSON writer; on allocation failure it stops growing and
 * remembers it. */
typedef struct Buf {
        char *p;
        size_t n, allocated;
        bool oom;
} Buf;

static void buf_add(Buf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->n + n + 1 > b->allocated) {
                size_t a = (b->n + n + 1) * 2;
                char *q = realloc(b->p, a);

                if (!q) {
                        b->oom = true;
                        return;
                }
                b->p = q;
                b->allocated = a;
        }
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = '\0';
}

static void buf_puts(Buf *b, const char *s) {
        buf_add(b, s, strlen(s));
}

static void buf_json_string(Buf *b, const char *s, size_t n) {
        buf_puts(b, "\"");
        for (size_t i = 0; i < n; i++) {
                uint8_t ch = (uint8_t) s[i];
                char esc[8];

                if (ch == '"' || ch == '\\') {
                        esc[0] = '\\';
                        esc[1] = (char) ch;
                        buf_add(b, esc, 2);
                } else if (ch < 0x20) {
                        snprintf(esc, sizeof(esc), "\\u%04x", ch);
                        buf_puts(b, esc);
                } else
                        buf_add(b, (const char *) &ch, 1);
        }
        buf_puts(b, "\"");
}

static void buf_base64(Buf *b, const uint8_t *d, size_t n) {
        static const char tbl[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

        buf_puts(b, "\"");
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16;
                char q[4];

                if (i + 1 < n)
                        v |= (uint32_t) d[i + 1] << 8;
                if (i + 2 < n)
                        v |= d[i + 2];
                q[0] = tbl[(v >> 18) & 63];
                q[1] = tbl[(v >> 12) & 63];
                q[2] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
                q[3] = i + 2 < n ? tbl[v & 63] : '=';
                buf_add(b, q, 4);
        }
        buf_puts(b, "\"");
}

/* JSON of one plist value: dates as "YYYY-MM-DDTHH:MM:SSZ", data as base64 strings. */
static void buf_json_value(Buf *b, plist_t v) {
        char tmp[64];

        switch (plist_get_node_type(v)) {
        case PLIST_STRING: {
                uint64_t len = 0;
                const char *s = plist_get_string_ptr(v, &len);

                buf_json_string(b, s ?: "", s ? (size_t) len : 0);
                break;
        }
        case PLIST_BOOLEAN: {
                uint8_t x = 0;

                plist_get_bool_val(v, &x);
                buf_puts(b, x ? "true" : "false");
                break;
        }
        case PLIST_UINT: {
                uint64_t x = 0;

                /* Negative integers are stored as uint with the sign bit (libplist 2.2). */
                plist_get_uint_val(v, &x);
                snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t) x);
                buf_puts(b, tmp);
                break;
        }
        case PLIST_REAL: {
                double x = 0;

                plist_get_real_val(v, &x);
                snprintf(tmp, sizeof(tmp), "%.17g", x);
                buf_puts(b, tmp);
                break;
        }
        case PLIST_DATE: {
                int32_t sec = 0, usec = 0;
                time_t t;
                struct tm tm;

                plist_get_date_val(v, &sec, &usec);
                t = (time_t) (MAC_EPOCH + sec);
                gmtime_r(&t, &tm);
                strftime(tmp, sizeof(tmp), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
                buf_puts(b, tmp);
                break;
        }
        case PLIST_DATA: {
                char *d = NULL;
                uint64_t len = 0;

                plist_get_data_val(v, &d, &len);
                buf_base64(b, (const uint8_t *) d, (size_t) len);
                free(d);
                break;
        }
        case PLIST_ARRAY:
                buf_puts(b, "[");
                for (uint32_t i = 0; i < plist_array_get_size(v); i++) {
                        if (i)
                                buf_puts(b, ", ");
                        buf_json_value(b, plist_array_get_item(v, i));
                }
                buf_puts(b, "]");
                break;
        case PLIST_DICT: {
                plist_dict_iter it = NULL;
                bool first = true;

                buf_puts(b, "{");
                plist_dict_new_iter(v, &it);
                for (;;) {
                        char *key = NULL;
                        plist_t item = NULL;

                        plist_dict_next_item(v, it, &key, &item);
                        if (!key)
                                break;
                        if (!first)
                                buf_puts(b, ", ");
                        first = false;
                        buf_json_string(b, key, strlen(key));
                        buf_puts(b, ": ");
                        buf_json_value(b, item);
                        free(key);
                }
                free(it);
                buf_puts(b, "}");
                break;
        }
        default:
                buf_puts(b, "null");
        }
}

static void json_records(Buf *b, MsStore *s, plist_t dict, bool icloud, bool *first) {
        char **ids = NULL;
        size_t n = 0;

        if (ms_store_sorted_ids(s, dict, &ids, &n) < 0) {
                b->oom = true;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                plist_t rec = plist_dict_get_item(dict, ids[i]);
                plist_t fields = plist_copy(rec);

                plist_dict_remove_item(fields, MS_ENTITY_KEY);
                buf_puts(b, *first ? "\n  " : ",\n  ");
                *first = false;
                buf_puts(b, "{\"id\": ");
                buf_json_string(b, ids[i], strlen(ids[i]));
                buf_puts(b, ", \"entity\": ");
                buf_json_string(b, ms_record_entity(rec) ?: "",
                                strlen(ms_record_entity(rec) ?: ""));
                buf_puts(b, icloud ? ", \"icloud\": true, \"fields\": "
                                   : ", \"icloud\": false, \"fields\": ");
                buf_json_value(b, fields);
                buf_puts(b, "}");
                plist_free(fields);
        }
        ms_ids_free(ids, n);
}

/* <class>.json: {"dataclass", "device_anchor", "computer_anchor", "icloud", "reset_pending",
 * "records": [{"id", "entity", "icloud", "fields": {…}}…]} with records sorted by entity
 * rank then numeric id, the entity key left out of fields. */
int ms_store_write_json(MsStore *s) {
        Buf b = {};
        bool first = true;
        int r;

        buf_puts(&b, "{\"dataclass\": ");
        buf_json_string(&b, s->cls->name, strlen(s->cls->name));
        buf_puts(&b, ", \"device_anchor\": ");
        buf_json_string(&b, ms_store_str(s, "DeviceAnchor"),
                        strlen(ms_store_str(s, "DeviceAnchor")));
        buf_puts(&b, ", \"computer_anchor\": ");
        buf_json_string(&b, ms_store_str(s, "ComputerAnchor"),
                        strlen(ms_store_str(s, "ComputerAnchor")));
        buf_puts(&b, ms_store_bool(s, "ICloud") ? ", \"icloud\": true" : ", \"icloud\": false");
        buf_puts(&b, ms_store_bool(s, "ResetPending") ? ", \"reset_pending\": true"
                                                      : ", \"reset_pending\": false");
        buf_puts(&b, ", \"records\": [");
        json_records(&b, s, s->records, false, &first);
        json_records(&b, s, s->cloud, true, &first);
        buf_puts(&b, "\n]}\n");
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        pthread_mutex_lock(&ms_mutex);
        r = write_atomic(s->json_path, b.p, b.n);
        pthread_mutex_unlock(&ms_mutex);
        free(b.p);
        return r;
}

/* ---- ordering -------------------------------------------------------------------------- */

typedef struct IdKey {
        char *id;
        unsigned rank;
        unsigned long long num;
} IdKey;

static int idkey_compare(const void *a, const void *b) {
        const IdKey *x = a, *y = b;

        if (x->rank != y->rank)
                return x->rank < y->rank ? -1 : 1;
        if (x->num != y->num)
                return x->num < y->num ? -1 : 1;
        return strcmp(x->id, y->id);
}

int ms_store_sorted_ids(MsStore *s, plist_t dict, char ***ret, size_t *ret_n) {
        uint32_t n = plist_dict_get_size(dict), k = 0;
        _cleanup_(freep) IdKey *keys = NULL;
        plist_dict_iter it = NULL;
        char **ids;

        /* One pass with the entity looked up once per record: libplist's dict lookups are
         * not cheap enough to run inside a comparison function. */
        keys = calloc((size_t) n + 1, sizeof(IdKey));
        ids = calloc((size_t) n + 1, sizeof(char *));
        if (!keys || !ids) {
                free(ids);
                return -ENOMEM;
        }
        plist_dict_new_iter(dict, &it);
        while (k < n) {
                plist_t item = NULL;
                char *key = NULL;

                plist_dict_next_item(dict, it, &key, &item);
                if (!key)
                        break;
                keys[k].id = key;
                keys[k].rank = ms_entity_rank(s->cls, ms_record_entity(item));
                keys[k].num = strtoull(key, NULL, 10);
                k++;
        }
        free(it);
        qsort(keys, k, sizeof(IdKey), idkey_compare);
        for (uint32_t i = 0; i < k; i++)
                ids[i] = keys[i].id;
        *ret = ids;
        *ret_n = k;
        return 0;
}

void ms_ids_free(char **ids, size_t n) {
        if (!ids)
                return;
        for (size_t i = 0; i < n; i++)
                free(ids[i]);
        free(ids);
}

/* ---- anchors --------------------------------------------------------------------------- */

MsSyncType ms_store_sync_type(MsStore *s, const char *device_anchor, const char *computer_anchor) {
        const char *da = ms_store_str(s, "DeviceAnchor"), *ca = ms_store_str(s, "ComputerAnchor");

        if (ms_store_bool(s, "ResetPending"))
                return MS_SYNC_RESET;
        if (!device_anchor || strcmp(device_anchor, "---") == 0 ||
            strcmp(device_anchor, MS_EMPTY) == 0 || !computer_anchor || !*da || !*ca)
                return MS_SYNC_SLOW;
        if (strcmp(device_anchor, da) != 0 || strcmp(computer_anchor, ca) != 0)
                return MS_SYNC_SLOW;
        return MS_SYNC_FAST;
}

const char *ms_store_begin(MsStore *s) {
        uint64_t n = store_uint(s, "Sessions") + 1;
        char anchor[96], when[48];
        time_t t = time(NULL);
        struct tm tm;

        /* iTunes-like timestamp anchors, made unique by the session count. */
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H-%M-%S +0000", &tm);
        snprintf(anchor, sizeof(anchor), "%s #%" PRIu64, when, n);
        plist_dict_set_item(s->root, "Sessions", plist_new_uint(n));
        plist_dict_set_item(s->root, "DeviceAnchor", plist_new_string(anchor));
        plist_dict_set_item(s->root, "ComputerAnchor", plist_new_string(""));
        return ms_store_str(s, "DeviceAnchor");
}

void ms_store_finish(MsStore *s, const char *computer_anchor) {
        plist_dict_set_item(s->root, "ComputerAnchor", plist_new_string(computer_anchor ?: ""));
        plist_dict_set_item(s->root, "ResetPending", plist_new_bool(0));
        plist_dict_set_item(s->root, "Changes", plist_new_dict());
        store_bind(s);
}

/* ---- records --------------------------------------------------------------------------- */

static void log_change(MsStore *s, const char *id, const char *change, const char *entity) {
        plist_t old = plist_dict_get_item(s->changes, id);
        const char *was = old ? plist_dict_str(old, "Change") : NULL;
        plist_t c;

        if (was && strcmp(was, "add") == 0) {
                /* The host never saw it: a delete forgets it, a modify is still an add. */
                if (strcmp(change, "delete") == 0)
                        plist_dict_remove_item(s->changes, id);
                return;
        }
        c = plist_new_dict();
        plist_dict_set_item(c, "Change", plist_new_string(change));
        plist_dict_set_item(c, "Entity", plist_new_string(entity ?: ""));
        plist_dict_set_item(s->changes, id, c);
}

int ms_store_add(MsStore *s, plist_t rec, bool log, char *ret_id) {
        uint64_t id = store_uint(s, "NextId");
        const char *entity = ms_record_entity(rec);

        if (!ms_entity_valid(s->cls, entity)) {
                plist_free(rec);
                return -EINVAL;
        }
        if (id == 0)
                id = 1;
        /* Skip ids an edit tool may have used without bumping NextId. */
        for (;; id++) {
                snprintf(ret_id, 21, "%" PRIu64, id);
                if (!plist_dict_get_item(s->records, ret_id) &&
                    !plist_dict_get_item(s->cloud, ret_id))
                        break;
        }
        plist_dict_set_item(s->root, "NextId", plist_new_uint(id + 1));
        if (log)
                log_change(s, ret_id, "add", entity);
        plist_dict_set_item(s->records, ret_id, rec);
        return 0;
}

int ms_store_put(MsStore *s, const char *id, plist_t rec, bool log) {
        const char *entity = ms_record_entity(rec);

        if (!plist_dict_get_item(s->records, id)) {
                plist_free(rec);
                return -ENOENT;
        }
        if (!ms_entity_valid(s->cls, entity)) {
                plist_free(rec);
                return -EINVAL;
        }
        if (log)
                log_change(s, id, "modify", entity);
        plist_dict_set_item(s->records, id, rec);
        return 0;
}

static const char *const link_keys[] = {"contact", "owner", "calendar", "parent"};

static bool array_has(plist_t a, const char *id) {
        if (!a || plist_get_node_type(a) != PLIST_ARRAY)
                return false;
        for (uint32_t i = 0; i < plist_array_get_size(a); i++) {
                const char *x = plist_str(plist_array_get_item(a, i));
                if (x && strcmp(x, id) == 0)
                        return true;
        }
        return false;
}

static void array_drop(plist_t a, const char *id) {
        for (uint32_t i = plist_array_get_size(a); i > 0; i--) {
                const char *x = plist_str(plist_array_get_item(a, i - 1));
                if (x && strcmp(x, id) == 0)
                        plist_array_remove_item(a, i - 1);
        }
}

int ms_store_delete(MsStore *s, const char *id_in, bool log) {
        _cleanup_(freep) char *id = strdup(id_in);
        char **ids = NULL;
        plist_t rec;
        size_t n = 0;
        int count = 1, r;

        if (!id)
                return -ENOMEM;
        rec = plist_dict_get_item(s->records, id);
        if (!rec)
                return 0;
        if (log)
                log_change(s, id, "delete", ms_record_entity(rec));
        plist_dict_remove_item(s->records, id);

        /* What hung off it. Collect first: deleting while iterating is not safe. */
        r = ms_store_sorted_ids(s, s->records, &ids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                plist_t c = plist_dict_get_item(s->records, ids[i]);
                const char *entity = ms_record_entity(c);
                bool group = entity && strstr(entity, ".Group");

                for (size_t k = 0; c && k < ELEMENTSOF(link_keys); k++) {
                        plist_t a = plist_dict_get_item(c, link_keys[k]);

                        if (!array_has(a, id))
                                continue;
                        if (group) {
                                if (log)
                                        log_change(s, ids[i], "modify", entity);
                                array_drop(a, id);
                                continue;
                        }
                        r = ms_store_delete(s, ids[i], log);
                        if (r >= 0)
                                count += r;
                        break;
                }
        }
        ms_ids_free(ids, n);
        return r < 0 ? r : count;
}

void ms_store_clear(MsStore *s) {
        plist_dict_set_item(s->root, "Records", plist_new_dict());
        plist_dict_set_item(s->root, "Changes", plist_new_dict());
        plist_dict_set_item(s->root, "ResetPending", plist_new_bool(1));
        store_bind(s);
}

/* ---- tethered_sync --------------------------------------------------------------------- */

static plist_t tethered_default(unsigned disabled_mask) {
        plist_t d = plist_new_dict();

        for (size_t i = 0; i < ELEMENTSOF(ms_classes); i++) {
                plist_t c = plist_new_dict();

                plist_dict_set_item(c, "DisableTethered",
                                    plist_new_bool(!!(disabled_mask & ms_classes[i].bit)));
                plist_dict_set_item(d, ms_classes[i].short_name, c);
        }
        return d;
}

static int tethered_path(const char *profile, char **ret) {
        _cleanup_(freep) char *dir = NULL;
        int r = mkdir_store(profile, &dir);

        if (r < 0)
                return r;
        if (asprintf(ret, "%s/tethered_sync.plist", dir) < 0)
                return -ENOMEM;
        return 0;
}

/* Lock held. */
static int tethered_read(const char *path, unsigned disabled_mask, plist_t *ret) {
        int r = read_plist(path, ret);

        if (r == -ENOENT || (r >= 0 && plist_get_node_type(*ret) != PLIST_DICT)) {
                if (r >= 0)
                        plist_free(*ret);
                *ret = tethered_default(disabled_mask);
                return 0;
        }
        return r;
}

int ms_tethered_get(const char *profile, unsigned disabled_mask, plist_t *ret) {
        _cleanup_(freep) char *path = NULL;
        int r;

        r = tethered_path(profile, &path);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ms_mutex);
        r = tethered_read(path, disabled_mask, ret);
        pthread_mutex_unlock(&ms_mutex);
        return r;
}

int ms_tethered_set(const char *profile, unsigned disabled_mask, const char *key, plist_t value) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(plist_freep) plist_t d = NULL;
        int r;

        r = tethered_path(profile, &path);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ms_mutex);
        r = tethered_read(path, disabled_mask, &d);
        if (r >= 0) {
                if (value)
                        plist_dict_set_item(d, key, plist_copy(value));
                else
                        plist_dict_remove_item(d, key);
                r = write_plist(path, d);
        }
        pthread_mutex_unlock(&ms_mutex);
        return r;
}

bool ms_tethered_disabled(plist_t domain, const MsClass *cls) {
        plist_t c = domain ? plist_dict_get_item(domain, cls->short_name) : NULL;
        plist_t v = c && plist_get_node_type(c) == PLIST_DICT
                            ? plist_dict_get_item(c, "DisableTethered")
                            : NULL;
        uint8_t b = 1;
        uint64_t u = 1;

        if (!v)
                return true;
        if (plist_get_node_type(v) == PLIST_BOOLEAN) {
                plist_get_bool_val(v, &b);
                return b;
        }
        if (plist_get_node_type(v) == PLIST_UINT) {
                plist_get_uint_val(v, &u);
                return u != 0;
        }
        return true;
}

/* ---- generation ------------------------------------------------------------------------ */

/* Names from many scripts, with combining-free precomposed letters, apostrophes, blanks and
 * an emoji: what a host's vCard writer and matcher must survive. */
static const char *const first_names[] = {
        "Zoë",    "José",   "Ольга",  "Søren",  "Renée",    "Łukasz",  "Ngọc Anh", "Aroha",
        "Björn",  "Chloé",  "Dmitri", "Émile",  "François", "Günther", "Hélène",   "Ingrid",
        "Jürgen", "Kōji",   "Laïla",  "Mónica", "Siobhán",  "Thảo",    "Ümit",     "Wojciech",
        "Yusuf",  "Zdeněk", "美咲",   "Ada",    "Grace",    "D'Arcy",  "Mary Ann", "Αλέξανδρος",
};

static const char *const last_names[] = {
        "Müller", "Núñez",     "O'Brien",        "Dvořák",         "Żółć",         "Østergaard",
        "中村",   "Lovelace",  "Hopper",         "García Márquez", "van der Berg", "Smith-Jones",
        "Åström", "Kowalczyk", "Nguyễn",         "Björk",          "Papadopoulos", "Иванова",
        "İnönü",  "Straße",    "Ó Súilleabháin", "Al-Hashimi",     "Kim",
};

static const char *const companies[] = {
        "Café Zoë & Söhne", "Ünited Widgets GmbH", "Acme, Inc.",
        "株式会社テスト",   "Łódź Works",          "The \"Quoted\" Company",
};

static const char *const cities[][3] = {
        /* city, country, ISO code */
        {"Paris", "France", "fr"},
        {"München", "Germany", "de"},
        {"Kraków", "Poland", "pl"},
        {"São Paulo", "Brazil", "br"},
        {"東京", "Japan", "jp"},
        {"Reykjavík", "Iceland", "is"},
        {"New York", "United States", "us"},
        {"Zürich", "Switzerland", "ch"},
};

static const char *const streets[] = {
        "12 Rue de l'Église",     "Königstraße 5",          "ul. Żeromskiego 3/4",
        "1600 Amphitheatre Pkwy", "Flat 2\n14 High Street", "Avenida Paulista, 1000",
};

static const char *const summaries[] = {
        "Réunion d'équipe",
        "Zahnarzt 🦷",
        "Café with Zoë",
        "Встреча",
        "会議",
        "Yoga 🧘",
        "Dentist",
        "Birthday party 🎂",
        "Stand-up",
        "Kundentermin, Raum 2.14",
        "Flight ✈ CDG",
        "Lunch \"quoted\" & <tagged>",
};

static const char *const time_zones[] = {
        "Europe/Paris", "America/New_York",    "Asia/Tokyo",
        "UTC",          "Australia/Lord_Howe", "America/St_Johns",
};

static const char *pick(Rng *r, const char *const *a, size_t n) {
        return a[rng_range(r, n)];
}
#define PICK(r, a) pick(r, a, ELEMENTSOF(a))

static plist_t rec_new(const char *entity) {
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, MS_ENTITY_KEY, plist_new_string(entity));
        return d;
}

static void set_s(plist_t d, const char *key, const char *value) {
        plist_dict_set_item(d, key, plist_new_string(value));
}

static void set_link(plist_t d, const char *key, const char *id) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(id));
        plist_dict_set_item(d, key, a);
}

/* A plist date of Unix time t. */
static plist_t date_new(int64_t t) {
        return plist_new_date((int32_t) (t - MAC_EPOCH), 0);
}

static int add(MsStore *s, plist_t dict, plist_t rec, char *id) {
        uint64_t n = store_uint(s, "NextId");

        /* Generation fills Records or CloudRecords directly, in id order. */
        snprintf(id, 21, "%" PRIu64, n ? n : 1);
        plist_dict_set_item(s->root, "NextId", plist_new_uint((n ? n : 1) + 1));
        plist_dict_set_item(dict, id, rec);
        return 0;
}

static void gen_contact(MsStore *s, plist_t dict, Rng *r, unsigned k, char *const *groups,
                        unsigned n_groups) {
        static const char *const phone_types[] = {"mobile", "home",     "work",
                                                  "other",  "work fax", "pager"};
        static const char *const types[] = {"home", "work", "other"};
        const char *first = PICK(r, first_names), *last = PICK(r, last_names);
        bool company = k % 7 == 6;
        plist_t c = rec_new("com.apple.contacts.Contact"), x;
        char id[21], sub[21], buf[160];
        unsigned n;

        set_s(c, "display as company", company ? "company" : "person");
        set_s(c, "first name", first);
        set_s(c, "last name", last);
        if (company || rng_range(r, 3) == 0)
                set_s(c, "company name", PICK(r, companies));
        if (rng_range(r, 4) == 0)
                set_s(c, "job title", "Ingénieure en chef");
        if (rng_range(r, 5) == 0)
                set_s(c, "nickname", "Zizou ⚽");
        if (rng_range(r, 6) == 0)
                set_s(c, "middle name", "Q.");
        if (rng_range(r, 4) == 0)
                set_s(c, "notes",
                      "Met at the conference.\nLikes crème brûlée 🍮; allergic to «nuts».");
        if (rng_range(r, 2) == 0)
                /* Birthdays at noon UTC, so the day is the same in every time zone. */
                plist_dict_set_item(c, "birthday",
                                    date_new(INT64_C(-315619200) +
                                             (int64_t) rng_range(r, 15000) * DAY + 12 * 3600));
        add(s, dict, c, id);

        n = 1 + (unsigned) rng_range(r, 3);
        for (unsigned i = 0; i < n; i++) {
                const char *type = PICK(r, phone_types);

                x = rec_new("com.apple.contacts.Phone Number");
                set_link(x, "contact", id);
                snprintf(buf, sizeof(buf), "+%u %03u %03u %04u", 1 + (unsigned) rng_range(r, 98),
                         (unsigned) rng_range(r, 1000), (unsigned) rng_range(r, 1000),
                         (unsigned) rng_range(r, 10000));
                set_s(x, "value", buf);
                set_s(x, "type", type);
                if (strcmp(type, "other") == 0)
                        set_s(x, "label", "Bateau ⛵");
                add(s, dict, x, sub);
        }
        n = (unsigned) rng_range(r, 3);
        for (unsigned i = 0; i < n; i++) {
                x = rec_new("com.apple.contacts.Email Address");
                set_link(x, "contact", id);
                snprintf(buf, sizeof(buf), "person%u.%u@example.%s", k, i, i ? "org" : "com");
                set_s(x, "value", buf);
                set_s(x, "type", types[i % ELEMENTSOF(types)]);
                add(s, dict, x, sub);
        }
        n = (unsigned) rng_range(r, 3);
        for (unsigned i = 0; i < n; i++) {
                const char *const *city = cities[rng_range(r, ELEMENTSOF(cities))];

                x = rec_new("com.apple.contacts.Street Address");
                set_link(x, "contact", id);
                set_s(x, "street", PICK(r, streets));
                set_s(x, "city", city[0]);
                snprintf(buf, sizeof(buf), "%05u", (unsigned) rng_range(r, 100000));
                set_s(x, "postal code", buf);
                set_s(x, "country", city[1]);
                set_s(x, "country code", city[2]);
                set_s(x, "type", types[i % 2]);
                add(s, dict, x, sub);
        }
        if (rng_range(r, 3) == 0) {
                x = rec_new("com.apple.contacts.URL");
                set_link(x, "contact", id);
                snprintf(buf, sizeof(buf), "https://example.net/~p%u?q=a&b=ü", k);
                set_s(x, "value", buf);
                set_s(x, "type", "home");
                add(s, dict, x, sub);
        }
        if (rng_range(r, 4) == 0) {
                x = rec_new("com.apple.contacts.Date");
                set_link(x, "contact", id);
                plist_dict_set_item(
                        x, "value",
                        date_new(BASE_TIME - (int64_t) rng_range(r, 7000) * DAY + 12 * 3600));
                set_s(x, "type", "other");
                set_s(x, "label", "anniversary");
                add(s, dict, x, sub);
        }
        if (rng_range(r, 5) == 0) {
                x = rec_new("com.apple.contacts.IM");
                set_link(x, "contact", id);
                snprintf(buf, sizeof(buf), "p%u@jabber.example", k);
                set_s(x, "user", buf);
                set_s(x, "service", "Jabber");
                set_s(x, "type", "home");
                add(s, dict, x, sub);
        }
        /* Group membership: the Group's `contact` array lists its members [inferred]. */
        for (unsigned g = 0; g < n_groups; g++)
                if ((k + g) % (g + 2) == 0) {
                        plist_t gr = plist_dict_get_item(dict, groups[g]);
                        plist_t a = plist_dict_get_item(gr, "contact");

                        plist_array_append_item(a, plist_new_string(id));
                }
}

static void gen_event(MsStore *s, plist_t dict, Rng *r, unsigned k, char *const *cals,
                      unsigned n_cals) {
        static const char *const freqs[] = {"daily", "weekly", "monthly", "yearly"};
        plist_t e = rec_new("com.apple.calendars.Event"), x;
        bool all_day = k % 5 == 4;
        int64_t start = BASE_TIME + (int64_t) rng_range(r, 400) * DAY - 30 * DAY;
        char id[21], sub[21], buf[96];

        set_s(e, "summary", PICK(r, summaries));
        set_link(e, "calendar", cals[k % n_cals]);
        if (all_day) {
                /* All-day events are floating dates: midnight UTC, no time zone. */
                plist_dict_set_item(e, "start date", date_new(start));
                plist_dict_set_item(e, "end date", date_new(start + DAY));
                plist_dict_set_item(e, "all day", plist_new_bool(1));
        } else {
                start += (int64_t) (7 + rng_range(r, 12)) * 3600 + (int64_t) rng_range(r, 4) * 900;
                plist_dict_set_item(e, "start date", date_new(start));
                plist_dict_set_item(e, "end date",
                                    date_new(start + (int64_t) (1 + rng_range(r, 4)) * 1800));
                plist_dict_set_item(e, "all day", plist_new_bool(0));
                set_s(e, "timezone", PICK(r, time_zones));
        }
        if (rng_range(r, 2) == 0)
                set_s(e, "location", PICK(r, streets));
        if (rng_range(r, 3) == 0)
                set_s(e, "description", "Bring the slides.\nZweite Zeile: Grüße, ☕");
        if (rng_range(r, 4) == 0)
                set_s(e, "url", "https://example.org/meet?id=1&x=é");
        add(s, dict, e, id);

        if (k % 4 == 1) {
                x = rec_new("com.apple.calendars.Recurrence");
                set_link(x, "owner", id);
                set_s(x, "frequency", freqs[rng_range(r, ELEMENTSOF(freqs))]);
                plist_dict_set_item(x, "interval", plist_new_uint(1 + rng_range(r, 2)));
                if (rng_range(r, 2))
                        plist_dict_set_item(x, "count", plist_new_uint(2 + rng_range(r, 10)));
                else
                        plist_dict_set_item(x, "until", date_new(start + 180 * DAY));
                add(s, dict, x, sub);
        }
        if (k % 3 == 0) {
                x = rec_new("com.apple.calendars.DisplayAlarm");
                set_link(x, "owner", id);
                set_s(x, "description", "Reminder");
                /* A negative duration in seconds: before the start. */
                plist_dict_set_item(x, "triggerduration",
                                    plist_new_uint((uint64_t) (int64_t) -
                                                   (900 * (1 + (int64_t) rng_range(r, 4)))));
                add(s, dict, x, sub);
        }
        if (k % 6 == 2) {
                for (unsigned i = 0; i < 2; i++) {
                        x = rec_new("com.apple.calendars.Attendee");
                        set_link(x, "owner", id);
                        snprintf(buf, sizeof(buf), "mailto:guest%u.%u@example.com", k, i);
                        set_s(x, "email", buf);
                        set_s(x, "common name", i ? PICK(r, first_names) : "Zoë Müller");
                        set_s(x, "role", "REQ-PARTICIPANT");
                        set_s(x, "status", i ? "ACCEPTED" : "NEEDS-ACTION");
                        set_s(x, "user type", "INDIVIDUAL");
                        plist_dict_set_item(x, "rsvp", plist_new_bool(i == 0));
                        add(s, dict, x, sub);
                }
        }
}

int ms_generate(MsStore *s, const MsGenOptions *o) {
        /* iCloud-managed classes keep their generated records where mobilesync cannot see
         * them; the device still has them (and the JSON lists them). */
        plist_t dict = (o->icloud & s->cls->bit) ? s->cloud : s->records;
        char ids[3][21];
        char *ptrs[3] = {ids[0], ids[1], ids[2]};
        Rng r;

        rng_init(&r, o->seed ^ (uint64_t) s->cls->bit * UINT64_C(0x9e3779b97f4a7c15));
        if (s->cls->bit == MS_CONTACTS && o->contacts > 0) {
                static const char *const group_names[] = {"Famille 👪", "Work"};
                unsigned n_groups = o->contacts >= 5 ? 2 : 0;

                for (unsigned g = 0; g < n_groups; g++) {
                        plist_t gr = rec_new("com.apple.contacts.Group");

                        set_s(gr, "name", group_names[g]);
                        plist_dict_set_item(gr, "contact", plist_new_array());
                        add(s, dict, gr, ids[g]);
                }
                for (unsigned k = 0; k < o->contacts; k++)
                        gen_contact(s, dict, &r, k, ptrs, n_groups);
        } else if (s->cls->bit == MS_CALENDARS && o->events > 0) {
                static const char *const titles[] = {"Home", "Work", "Ünterricht 📚"};
                unsigned n_cals = o->events >= 3 ? 3 : 1;

                for (unsigned c = 0; c < n_cals; c++) {
                        plist_t cal = rec_new("com.apple.calendars.Calendar");

                        set_s(cal, "title", titles[c]);
                        add(s, dict, cal, ids[c]);
                }
                for (unsigned k = 0; k < o->events; k++)
                        gen_event(s, dict, &r, k, ptrs, n_cals);
        }
        return 0;
}

/* ---- mutate: a person edits the phone -------------------------------------------------- */

/* The ids of the visible records of entity, in id order. */
static int entity_ids(MsStore *s, const char *entity, char ***ret, size_t *ret_n) {
        char **ids = NULL;
        size_t n = 0, k = 0;
        int r;

        r = ms_store_sorted_ids(s, s->records, &ids, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                const char *e = ms_record_entity(plist_dict_get_item(s->records, ids[i]));

                if (e && strcmp(e, entity) == 0)
                        ids[k++] = ids[i];
                else
                        free(ids[i]);
        }
        *ret = ids;
        *ret_n = k;
        return 0;
}

int ms_store_mutate(MsStore *s, uint64_t seed, unsigned change, unsigned add, unsigned del) {
        bool contacts = s->cls->bit == MS_CONTACTS;
        const char *entity = contacts ? "com.apple.contacts.Contact" : "com.apple.calendars.Event";
        char **ids = NULL, **cals = NULL, id[21], sub[21], buf[128];
        size_t n = 0, n_cals = 0;
        int r;

        if (!(s->cls->bit & (MS_CONTACTS | MS_CALENDARS)))
                return 0;
        r = entity_ids(s, entity, &ids, &n);
        if (r >= 0 && !contacts)
                r = entity_ids(s, "com.apple.calendars.Calendar", &cals, &n_cals);
        if (r < 0)
                goto finish;
        if ((size_t) change + del > n) {
                r = -EINVAL;
                goto finish;
        }
        /* Changes from a seed-chosen start, deletions from the end, so none is both. */
        for (unsigned k = 0; k < change; k++) {
                size_t live = n - del; /* > 0: change > 0 and change + del <= n */
                const char *victim = ids[(size_t) (seed % live + k) % live];
                plist_t rec = plist_copy(plist_dict_get_item(s->records, victim));

                if (contacts) {
                        snprintf(buf, sizeof(buf), "Changed on the phone (%" PRIu64 "/%u) ✎", seed,
                                 k);
                        set_s(rec, "notes", buf);
                } else {
                        snprintf(buf, sizeof(buf), "%s (moved %u)",
                                 plist_dict_str(rec, "summary") ?: "", k);
                        set_s(rec, "summary", buf);
                }
                r = ms_store_put(s, victim, rec, true);
                if (r < 0)
                        goto finish;
        }
        for (unsigned k = 0; k < del; k++) {
                r = ms_store_delete(s, ids[n - 1 - k], true);
                if (r < 0)
                        goto finish;
        }
        for (unsigned k = 0; k < add; k++) {
                plist_t rec = rec_new(entity), x;

                if (contacts) {
                        set_s(rec, "display as company", "person");
                        set_s(rec, "first name", "Añadido");
                        snprintf(buf, sizeof(buf), "Phone-%" PRIu64 "-%u", seed, k);
                        set_s(rec, "last name", buf);
                } else {
                        int64_t start = BASE_TIME + (int64_t) (seed % 90 + k) * DAY + 10 * 3600;

                        snprintf(buf, sizeof(buf), "Added on the phone %" PRIu64 "-%u", seed, k);
                        set_s(rec, "summary", buf);
                        plist_dict_set_item(rec, "start date", date_new(start));
                        plist_dict_set_item(rec, "end date", date_new(start + 3600));
                        plist_dict_set_item(rec, "all day", plist_new_bool(0));
                        set_s(rec, "timezone", "UTC");
                        if (n_cals > 0)
                                set_link(rec, "calendar", cals[0]);
                }
                r = ms_store_add(s, rec, true, id);
                if (r < 0)
                        goto finish;
                if (!contacts)
                        continue;
                x = rec_new("com.apple.contacts.Phone Number");
                set_link(x, "contact", id);
                snprintf(buf, sizeof(buf), "+49 30 %07u", (unsigned) ((seed + k) % 10000000));
                set_s(x, "value", buf);
                set_s(x, "type", "mobile");
                r = ms_store_add(s, x, true, sub);
                if (r < 0)
                        goto finish;
        }
finish:
        ms_ids_free(ids, n);
        ms_ids_free(cals, n_cals);
        return r;
}
