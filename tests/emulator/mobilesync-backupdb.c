/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One phone, two views: the backup's AddressBook.sqlitedb and Calendar.sqlitedb are written
 * from the mobilesync record store (mobilesync.h), so what the host wrote through
 * mobilesync is in the next backup and the backup shows the people and events mobilesync
 * shows. CloudRecords count too: iCloud contacts are on the phone (and in its backup) even
 * though mobilesync never shows them.
 *
 * Decisions:
 *   - a class whose store exists (or whose SyncContacts=/SyncEvents= is above 0, which makes
 *     the store) drives its databases and their truth JSON (contacts.json,
 *     calendars.json): the people of gen-profile --pim are replaced. Classes without a
 *     store keep what gen-profile wrote.
 *   - ABPerson.ROWID and CalendarItem.ROWID are the numeric mobilesync record ids, so a
 *     test can join the two views; GUIDs and UUIDs are made from the id
 *     (4D530000-0000-4000-8000-<id> for people, …-8001-<id> for events).
 *   - When: after every mobilesync session that touched the store (whichever way it
 *     ended: a cut session leaves the records it committed), and before every backup
 *     (mobilesync-edit.py edits the store while the emulator runs). A stamp file,
 *     <profile>/mobilesync/backupdb.stamp, remembers per class the store file's identity
 *     (device, inode, mtime, size) and a SHA-1 of its records, so an unchanged store (or
 *     one whose anchors alone changed) costs a stat() or a parse, not a rewrite.
 *   - What the model cannot hold is left out: Related Names, Organizers (the phone's
 *     owner is the organizer of every event with attendees), a record whose link names no
 *     record, values beyond MAX_VALUES and the like (see profile-pim-model.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mobilesync.h"
#include "profile-internal.h"
#include "profile-pim-model.h"

#define AB_DB "backup/HomeDomain/Library/AddressBook/AddressBook.sqlitedb"
#define CAL_DB "backup/HomeDomain/Library/Calendar/Calendar.sqlitedb"
#define STAMP "mobilesync/backupdb.stamp"

/* Two rebuilds of one profile (a session ending while a backup starts) would write the
 * same temporary files: one at a time. */
static pthread_mutex_t backupdb_mutex = PTHREAD_MUTEX_INITIALIZER;

/* ---- reading records ------------------------------------------------------------------ */

static bool entity_is(plist_t rec, const char *suffix) {
        const char *e = ms_record_entity(rec);
        size_t n = e ? strlen(e) : 0, k = strlen(suffix);

        return n > k && e[n - k - 1] == '.' && strcmp(e + n - k, suffix) == 0;
}

/* The numeric value of a record id; 0 for one that is not a decimal number. */
static int64_t id_num(const char *id) {
        char *end = NULL;
        unsigned long long v;

        if (!id || !*id)
                return 0;
        errno = 0;
        v = strtoull(id, &end, 10);
        if (errno != 0 || *end || v == 0 || v > INT64_MAX)
                return 0;
        return (int64_t) v;
}

/* The first id of the link array rec[key], 0 if none. */
static int64_t link_of(plist_t rec, const char *key) {
        plist_t a = plist_dict_get_item(rec, key);

        if (!a || plist_get_node_type(a) != PLIST_ARRAY || plist_array_get_size(a) == 0)
                return 0;
        return id_num(plist_str(plist_array_get_item(a, 0)));
}

static char *field_dup(plist_t rec, const char *key) {
        const char *s = plist_dict_str(rec, key);

        return s && *s ? strdup(s) : NULL;
}

/* A plist date as Unix time; false when the field is absent or not a date. */
static bool field_time(plist_t rec, const char *key, int64_t *ret) {
        plist_t v = plist_dict_get_item(rec, key);
        int32_t sec = 0, usec = 0;

        if (!v || plist_get_node_type(v) != PLIST_DATE)
                return false;
        plist_get_date_val(v, &sec, &usec);
        *ret = APPLE_EPOCH + sec;
        return true;
}

/* A plist integer (negative ones are stored with the sign bit, as the store does). */
static int64_t field_int(plist_t rec, const char *key, int64_t def) {
        plist_t v = plist_dict_get_item(rec, key);
        uint64_t u = 0;

        if (!v || plist_get_node_type(v) != PLIST_UINT)
                return def;
        plist_get_uint_val(v, &u);
        return (int64_t) u;
}

static bool field_bool(plist_t rec, const char *key) {
        plist_t v = plist_dict_get_item(rec, key);
        uint8_t b = 0;

        if (v && plist_get_node_type(v) == PLIST_BOOLEAN)
                plist_get_bool_val(v, &b);
        return b;
}

/* The address book's label of a mobilesync type ("mobile", "work fax", …), or the
 * record's own label for a custom one. A new string or NULL (none, or no memory). */
static char *label_of(plist_t rec) {
        static const char *const known[][2] = {
                {"mobile", "_$!<Mobile>!$_"},      {"iphone", "_$!<iPhone>!$_"},
                {"home", "_$!<Home>!$_"},          {"work", "_$!<Work>!$_"},
                {"main", "_$!<Main>!$_"},          {"home fax", "_$!<HomeFAX>!$_"},
                {"work fax", "_$!<WorkFAX>!$_"},   {"other fax", "_$!<OtherFAX>!$_"},
                {"pager", "_$!<Pager>!$_"},        {"other", "_$!<Other>!$_"},
                {"home page", "_$!<HomePage>!$_"}, {"anniversary", "_$!<Anniversary>!$_"},
        };
        const char *type = plist_dict_str(rec, "type"), *label = plist_dict_str(rec, "label");

        /* A custom label comes with type "other" (or none). */
        if (label && *label && (!type || strcasecmp(type, "other") == 0))
                type = label;
        if (!type || !*type)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strcasecmp(type, known[i][0]) == 0)
                        return strdup(known[i][1]);
        return strdup(type);
}

/* "YYYY-MM-DD" of the UTC day of t. */
static void day_text(int64_t t, char buf[static 16]) {
        time_t tt = (time_t) t;
        struct tm tm;

        gmtime_r(&tt, &tm);
        strftime(buf, 16, "%Y-%m-%d", &tm);
}

/* The ids of both record dicts of s, each sorted (entity rank, numeric id). */
typedef struct Ids {
        char **v[2];
        size_t n[2];
        plist_t dict[2];
} Ids;

static void ids_done(Ids *ids) {
        for (size_t k = 0; k < 2; k++)
                ms_ids_free(ids->v[k], ids->n[k]);
}

static int ids_load(MsStore *s, Ids *ret) {
        Ids ids = {.dict = {s->records, s->cloud}};
        int r;

        for (size_t k = 0; k < 2; k++) {
                r = ms_store_sorted_ids(s, ids.dict[k], &ids.v[k], &ids.n[k]);
                if (r < 0) {
                        ids_done(&ids);
                        return r;
                }
        }
        *ret = ids;
        return 0;
}

#define FOREACH_RECORD(ids, id, rec)                                                               \
        for (size_t _k = 0; _k < 2; _k++)                                                          \
                for (size_t _i = 0; _i < (ids)->n[_k]; _i++)                                       \
                        for (const char *id = (ids)->v[_k][_i]; id; id = NULL)                     \
                                for (plist_t rec = plist_dict_get_item((ids)->dict[_k], id); rec;  \
                                     rec = NULL)

/* ---- contacts ------------------------------------------------------------------------- */

static int contact_cmp(const void *a, const void *b) {
        const Contact *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

static Contact *contact_find(Book *b, int64_t id) {
        Contact key = {.id = id};

        return id ? bsearch(&key, b->c, b->n, sizeof(Contact), contact_cmp) : NULL;
}

static int contact_from(Contact *c, plist_t rec, int64_t id) {
        int64_t t;

        c->id = id;
        c->created = c->modified = BASE_TIME;
        if (asprintf(&c->guid, "4D530000-0000-4000-8000-%012" PRId64, id) < 0) {
                c->guid = NULL;
                return -ENOMEM;
        }
        c->first = field_dup(rec, "first name");
        c->last = field_dup(rec, "last name");
        c->middle = field_dup(rec, "middle name");
        c->prefix = field_dup(rec, "title");
        c->suffix = field_dup(rec, "suffix");
        c->nickname = field_dup(rec, "nickname");
        c->organization = field_dup(rec, "company name");
        c->department = field_dup(rec, "department");
        c->title = field_dup(rec, "job title");
        c->note = field_dup(rec, "notes");
        if (field_time(rec, "birthday", &t)) {
                char d[16];

                day_text(t, d);
                if (sscanf(d, "%d-%d-%d", &c->bday_y, &c->bday_m, &c->bday_d) != 3)
                        c->bday_m = 0;
        }
        return 0;
}

static int value_add(LabeledValue *v, size_t *n, plist_t rec, const char *value) {
        if (!value || *n >= MAX_VALUES)
                return 0;
        v[*n] = (LabeledValue){.label = label_of(rec), .value = strdup(value)};
        if (!v[*n].value) {
                free(v[*n].label);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

/* A sub-record (phone, email, address, URL, date, IM) of its contact. */
static int contact_add_sub(Contact *c, plist_t rec) {
        if (entity_is(rec, "Phone Number"))
                return value_add(c->phones, &c->n_phones, rec, plist_dict_str(rec, "value"));
        if (entity_is(rec, "Email Address"))
                return value_add(c->emails, &c->n_emails, rec, plist_dict_str(rec, "value"));
        if (entity_is(rec, "URL"))
                return value_add(c->urls, &c->n_urls, rec, plist_dict_str(rec, "value"));
        if (entity_is(rec, "Date")) {
                char d[16];
                int64_t t;

                if (!field_time(rec, "value", &t))
                        return 0;
                day_text(t, d);
                return value_add(c->dates, &c->n_dates, rec, d);
        }
        if (entity_is(rec, "Street Address") && c->n_addresses < MAX_VALUES) {
                PostalAddress *a = &c->addresses[c->n_addresses++];

                a->label = label_of(rec);
                a->street = field_dup(rec, "street");
                a->city = field_dup(rec, "city");
                a->region = field_dup(rec, "state");
                a->postcode = field_dup(rec, "postal code");
                a->country = field_dup(rec, "country");
                a->country_code = field_dup(rec, "country code");
                return 0;
        }
        if (entity_is(rec, "IM") && c->n_ims < MAX_VALUES) {
                ImAccount *im = &c->ims[c->n_ims++];

                im->label = label_of(rec);
                im->service = field_dup(rec, "service");
                im->user = field_dup(rec, "user");
                return 0;
        }
        return 0; /* Related Name: no place in the model */
}

static int book_from_store(MsStore *s, Book *b) {
        _cleanup_(ids_done) Ids ids = {};
        int r;

        r = ids_load(s, &ids);
        if (r < 0)
                return r;
        FOREACH_RECORD(&ids, id, rec) {
                Contact *c;

                if (!entity_is(rec, "Contact") || id_num(id) == 0)
                        continue;
                c = book_append(b);
                if (!c)
                        return -ENOMEM;
                r = contact_from(c, rec, id_num(id));
                if (r < 0)
                        return r;
        }
        /* Records and CloudRecords each come sorted; together they need sorting again. */
        if (b->n > 1)           /* none: b->c is NULL, which qsort() must not get */
                qsort(b->c, b->n, sizeof(Contact), contact_cmp);
        FOREACH_RECORD(&ids, id, rec) {
                if (entity_is(rec, "Group")) {
                        plist_t members = plist_dict_get_item(rec, "contact");
                        size_t g = b->n_groups;

                        if (g >= MAX_GROUPS) {
                                log_warn("mobilesync: more than %d groups, group %s left out",
                                         MAX_GROUPS, id);
                                continue;
                        }
                        b->groups[g] = strdup(plist_dict_str(rec, "name") ?: "");
                        if (!b->groups[g])
                                return -ENOMEM;
                        b->n_groups++;
                        for (uint32_t i = 0;
                             members && plist_get_node_type(members) == PLIST_ARRAY &&
                             i < plist_array_get_size(members);
                             i++) {
                                Contact *c = contact_find(
                                        b, id_num(plist_str(plist_array_get_item(members, i))));

                                if (c)
                                        c->groups |= UINT32_C(1) << g;
                        }
                        continue;
                }
                if (!entity_is(rec, "Contact")) {
                        Contact *c = contact_find(b, link_of(rec, "contact"));

                        if (c) {
                                r = contact_add_sub(c, rec);
                                if (r < 0)
                                        return r;
                        }
                }
        }
        b->next_id = field_int(s->root, "NextId", 1);
        if (b->n > 0 && b->next_id <= b->c[b->n - 1].id)
                b->next_id = b->c[b->n - 1].id + 1;
        return 0;
}

/* ---- calendars ------------------------------------------------------------------------ */

static int event_cmp(const void *a, const void *b) {
        const Event *x = a, *y = b;

        return x->id < y->id ? -1 : x->id > y->id;
}

static Event *event_find(Agenda *a, int64_t id) {
        Event key = {.id = id};

        return id ? bsearch(&key, a->e, a->n, sizeof(Event), event_cmp) : NULL;
}

static int freq_of(const char *s) {
        static const char *const names[] = {"daily", "weekly", "monthly", "yearly"};
        static const int freqs[] = {FREQ_DAILY, FREQ_WEEKLY, FREQ_MONTHLY, FREQ_YEARLY};

        for (size_t i = 0; s && i < ELEMENTSOF(names); i++)
                if (strcasecmp(s, names[i]) == 0)
                        return freqs[i];
        return FREQ_NONE;
}

static int event_from(Event *e, plist_t rec, int64_t id, size_t cal) {
        const char *tz = plist_dict_str(rec, "timezone");
        char uuid[64];

        e->id = id;
        e->cal = cal;
        e->created = BASE_TIME;
        e->interval = 1;
        snprintf(uuid, sizeof(uuid), "4D530000-0000-4000-8001-%012" PRId64, id);
        e->uuid = strdup(uuid);
        e->uid = strdup(uuid);
        e->summary = field_dup(rec, "summary");
        e->location = field_dup(rec, "location");
        e->description = field_dup(rec, "description");
        e->url = field_dup(rec, "url");
        if (!e->uuid || !e->uid)
                return -ENOMEM;
        e->all_day = field_bool(rec, "all day");
        /* Without a zone (and always all day) the times are floating: wall clock as UTC. */
        snprintf(e->tz, sizeof(e->tz), "%s",
                 !e->all_day && tz && *tz && strlen(tz) < sizeof(e->tz) ? tz : "_float");
        if (!field_time(rec, "start date", &e->start))
                e->start = BASE_TIME;
        if (!field_time(rec, "end date", &e->end) || e->end < e->start)
                e->end = e->start + (e->all_day ? DAY : 3600);
        return 0;
}

static int event_add_sub(Event *e, plist_t rec) {
        if (entity_is(rec, "Recurrence")) {
                int64_t until;

                e->freq = freq_of(plist_dict_str(rec, "frequency"));
                e->interval = (unsigned) field_int(rec, "interval", 1);
                if (e->interval == 0)
                        e->interval = 1;
                e->count = (unsigned) field_int(rec, "count", 0);
                if (field_time(rec, "until", &until))
                        e->until = until;
                return 0;
        }
        if ((entity_is(rec, "DisplayAlarm") || entity_is(rec, "AudioAlarm")) &&
            e->n_alarms < MAX_ALARMS) {
                e->alarms[e->n_alarms++] = (int) field_int(rec, "triggerduration", 0);
                return 0;
        }
        if (entity_is(rec, "Attendee") && e->n_attendees < MAX_ATTENDEES) {
                const char *email = plist_dict_str(rec, "email");
                Attendee *a;

                if (!email || !*email)
                        return 0;
                if (strncasecmp(email, "mailto:", 7) == 0)
                        email += 7;
                a = &e->attendees[e->n_attendees++];
                a->email = strdup(email);
                a->name = field_dup(rec, "common name");
                return a->email ? 0 : -ENOMEM;
        }
        return 0; /* Organizer: the phone's owner, written for every event with attendees */
}

static int agenda_from_store(MsStore *s, Agenda *a) {
        _cleanup_(ids_done) Ids ids = {};
        int64_t cal_ids[MAX_CALENDARS] = {};
        int r;

        r = ids_load(s, &ids);
        if (r < 0)
                return r;
        FOREACH_RECORD(&ids, id, rec) {
                if (!entity_is(rec, "Calendar"))
                        continue;
                if (a->n_cals >= MAX_CALENDARS) {
                        log_warn("mobilesync: more than %d calendars, %s left out", MAX_CALENDARS,
                                 id);
                        continue;
                }
                a->cals[a->n_cals] = strdup(plist_dict_str(rec, "title") ?: "");
                if (!a->cals[a->n_cals])
                        return -ENOMEM;
                cal_ids[a->n_cals++] = id_num(id);
        }
        FOREACH_RECORD(&ids, id, rec) {
                int64_t cal = link_of(rec, "calendar");
                size_t c = 0;
                Event *e;

                if (!entity_is(rec, "Event") || id_num(id) == 0)
                        continue;
                while (c < a->n_cals && cal_ids[c] != cal)
                        c++;
                if (c == a->n_cals) {
                        /* An event of no known calendar goes to the first (made if none). */
                        if (a->n_cals == 0) {
                                a->cals[0] = strdup("Calendar");
                                if (!a->cals[0])
                                        return -ENOMEM;
                                a->n_cals = 1;
                        }
                        c = 0;
                }
                e = agenda_append(a);
                if (!e)
                        return -ENOMEM;
                r = event_from(e, rec, id_num(id), c);
                if (r < 0)
                        return r;
        }
        if (a->n > 1)           /* none: a->e is NULL, which qsort() must not get */
                qsort(a->e, a->n, sizeof(Event), event_cmp);
        FOREACH_RECORD(&ids, id, rec) {
                Event *e;

                if (entity_is(rec, "Event") || entity_is(rec, "Calendar"))
                        continue;
                e = event_find(a, link_of(rec, "owner"));
                if (e) {
                        r = event_add_sub(e, rec);
                        if (r < 0)
                                return r;
                }
        }
        a->next_id = field_int(s->root, "NextId", 1);
        if (a->n > 0 && a->next_id <= a->e[a->n - 1].id)
                a->next_id = a->e[a->n - 1].id + 1;
        return 0;
}

/* ---- the stamp ------------------------------------------------------------------------ */

/* Identity of the store file: renamed into place on every save, so any write changes it. */
static int store_identity(const char *path, char buf[static 96]) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        snprintf(buf, 96, "%ju:%ju:%jd.%09ld:%jd", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino,
                 (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (intmax_t) st.st_size);
        return 0;
}

/* Feed node into c: a type tag, then the value (dict keys in order), so two stores
 * with the same records in the same order hash the same. Walking the tree is much
 * cheaper than plist_to_bin(), which libplist makes slow for big dicts. */
static void hash_node(EVP_MD_CTX *c, plist_t node) {
        plist_type t = plist_get_node_type(node);
        uint8_t tag = (uint8_t) t;

        EVP_DigestUpdate(c, &tag, 1);
        switch (t) {
        case PLIST_DICT: {
                plist_dict_iter it = NULL;

                plist_dict_new_iter(node, &it);
                for (;;) {
                        char *key = NULL;
                        plist_t v = NULL;

                        plist_dict_next_item(node, it, &key, &v);
                        if (!key)
                                break;
                        EVP_DigestUpdate(c, key, strlen(key) + 1);
                        free(key);
                        hash_node(c, v);
                }
                free(it);
                break;
        }
        case PLIST_ARRAY: {
                uint32_t n = plist_array_get_size(node);

                EVP_DigestUpdate(c, &n, sizeof(n));
                for (uint32_t i = 0; i < n; i++)
                        hash_node(c, plist_array_get_item(node, i));
                break;
        }
        case PLIST_STRING: {
                uint64_t len = 0;
                const char *v = plist_get_string_ptr(node, &len);

                EVP_DigestUpdate(c, &len, sizeof(len));
                if (v)
                        EVP_DigestUpdate(c, v, (size_t) len);
                break;
        }
        case PLIST_UINT: {
                uint64_t v = 0;

                plist_get_uint_val(node, &v);
                EVP_DigestUpdate(c, &v, sizeof(v));
                break;
        }
        case PLIST_BOOLEAN: {
                uint8_t v = 0;

                plist_get_bool_val(node, &v);
                EVP_DigestUpdate(c, &v, sizeof(v));
                break;
        }
        case PLIST_REAL: {
                double v = 0;

                plist_get_real_val(node, &v);
                EVP_DigestUpdate(c, &v, sizeof(v));
                break;
        }
        case PLIST_DATE: {
                int32_t v[2] = {};

                plist_get_date_val(node, &v[0], &v[1]);
                EVP_DigestUpdate(c, v, sizeof(v));
                break;
        }
        case PLIST_DATA: {
                char *v = NULL;
                uint64_t len = 0;

                plist_get_data_val(node, &v, &len);
                EVP_DigestUpdate(c, &len, sizeof(len));
                if (v)
                        EVP_DigestUpdate(c, v, (size_t) len);
                free(v);
                break;
        }
        default:
                break;
        }
}

/* SHA-1 (hex) of what the databases are made of: both record dicts. */
static int records_digest(MsStore *s, char hex[static 41]) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        unsigned char md[20];

        if (!c)
                return -ENOMEM;
        if (EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1) {
                EVP_MD_CTX_free(c);
                return -EIO;
        }
        hash_node(c, s->records);
        hash_node(c, s->cloud);
        if (EVP_DigestFinal_ex(c, md, NULL) != 1) {
                EVP_MD_CTX_free(c);
                return -EIO;
        }
        EVP_MD_CTX_free(c);
        for (size_t i = 0; i < 20; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        return 0;
}

/* The stamp line of class name: "<class> <identity> <digest>". Fills identity and digest
 * (empty strings when there is none). */
static void stamp_read(const char *profile, const char *name, char identity[static 96],
                       char digest[static 41]) {
        _cleanup_(freep) char *path = NULL;
        char line[256], c[64], i[96], d[41];
        FILE *f;

        identity[0] = digest[0] = '\0';
        if (asprintf(&path, "%s/%s", profile, STAMP) < 0)
                return;
        f = fopen(path, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "%63s %95s %40s", c, i, d) == 3 && strcmp(c, name) == 0) {
                        memcpy(identity, i, sizeof(i));
                        memcpy(digest, d, sizeof(d));
                }
        fclose(f);
}

/* Replace the line of class name (the other lines kept), atomically. */
static int stamp_write(const char *profile, const char *name, const char *identity,
                       const char *digest) {
        _cleanup_(freep) char *path = NULL, *tmp = NULL;
        char line[256], c[64];
        FILE *in, *out;
        int r = 0;

        if (asprintf(&path, "%s/%s", profile, STAMP) < 0 || asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        out = fopen(tmp, "we");
        if (!out)
                return -errno;
        in = fopen(path, "re");
        while (in && fgets(line, sizeof(line), in))
                if (sscanf(line, "%63s", c) == 1 && strcmp(c, name) != 0)
                        fputs(line, out);
        if (in)
                fclose(in);
        fprintf(out, "%s %s %s\n", name, identity, digest);
        if (fclose(out) != 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* ---- the entry points ----------------------------------------------------------------- */

/* Rebuild the database of one class if its store changed since the stamp (or force). */
static int refresh_class(const char *profile, const DeviceInfo *info, const MsClass *cls,
                         bool force) {
        _cleanup_(ms_store_freep) MsStore *s = NULL;
        _cleanup_(freep) char *store_path = NULL, *db_path = NULL;
        bool contacts = cls->bit == MS_CONTACTS;
        char identity[96], old_identity[96], digest[41], old_digest[41];
        MsGenOptions o = {.seed = info->sync_seed,
                          .contacts = info->sync_contacts,
                          .events = info->sync_events,
                          .icloud = info->sync_icloud};
        int r;

        if (asprintf(&store_path, "%s/mobilesync/%s.plist", profile, cls->name) < 0 ||
            asprintf(&db_path, "%s/%s", profile, contacts ? AB_DB : CAL_DB) < 0)
                return -ENOMEM;
        /* No store and none to make: the databases are gen-profile's. */
        if (access(store_path, F_OK) < 0 &&
            (contacts ? info->sync_contacts : info->sync_events) == 0)
                return 0;

        r = ms_store_load(profile, cls, &o, &s);
        if (r < 0)
                return r;
        r = store_identity(store_path, identity);
        if (r < 0)
                return r;
        stamp_read(profile, cls->name, old_identity, old_digest);
        force = force || access(db_path, F_OK) < 0;
        if (!force && strcmp(identity, old_identity) == 0)
                return 0;
        r = records_digest(s, digest);
        if (r < 0)
                return r;
        if (!force && strcmp(digest, old_digest) == 0)
                return stamp_write(profile, cls->name, identity, digest);

        if (contacts) {
                _cleanup_(book_done) Book b = {};

                r = book_from_store(s, &b);
                if (r >= 0)
                        r = pim_book_write(&b, profile, info->ios, (int64_t) time(NULL));
                if (r >= 0)
                        log_info("mobilesync: wrote the AddressBook of %s: %zu people", profile,
                                 b.n);
        } else {
                _cleanup_(agenda_done) Agenda a = {};

                r = agenda_from_store(s, &a);
                if (r >= 0)
                        r = pim_agenda_write(&a, profile, info->ios, (int64_t) time(NULL));
                if (r >= 0)
                        log_info("mobilesync: wrote the Calendar of %s: %zu events", profile, a.n);
        }
        if (r < 0)
                return r;
        return stamp_write(profile, cls->name, identity, digest);
}

/**
 * ms_backupdb_refresh: see mobilesync.h.
 */
int ms_backupdb_refresh(const char *profile, unsigned classes, bool force) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        int r, ret = 0;

        r = profile_read_info(profile, &info);
        if (r < 0)
                return r;
        pthread_mutex_lock(&backupdb_mutex);
        for (unsigned bit = MS_CONTACTS; bit <= MS_CALENDARS; bit <<= 1) {
                const MsClass *cls = ms_class_lookup(bit == MS_CONTACTS ? "com.apple.Contacts"
                                                                        : "com.apple.Calendars");

                if (!(classes & bit))
                        continue;
                r = refresh_class(profile, info, cls, force);
                if (r < 0) {
                        log_warn("mobilesync: cannot write the backup database of %s from %s: %s",
                                 cls->name, profile, strerror(-r));
                        if (ret == 0)
                                ret = r;
                }
        }
        pthread_mutex_unlock(&backupdb_mutex);
        return ret;
}

/**
 * ms_profile_mutate: see mobilesync.h.
 */
int ms_profile_mutate(const char *profile, uint64_t seed, unsigned change, unsigned add,
                      unsigned del, unsigned *ret_classes) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        unsigned classes = 0;
        int r;

        r = profile_read_info(profile, &info);
        if (r < 0)
                return r;
        for (unsigned bit = MS_CONTACTS; bit <= MS_CALENDARS; bit <<= 1) {
                const MsClass *cls = ms_class_lookup(bit == MS_CONTACTS ? "com.apple.Contacts"
                                                                        : "com.apple.Calendars");
                MsGenOptions o = {.seed = info->sync_seed,
                                  .contacts = info->sync_contacts,
                                  .events = info->sync_events,
                                  .icloud = info->sync_icloud};
                _cleanup_(ms_store_freep) MsStore *s = NULL;
                _cleanup_(freep) char *path = NULL;

                if (asprintf(&path, "%s/mobilesync/%s.plist", profile, cls->name) < 0)
                        return -ENOMEM;
                if (access(path, F_OK) < 0 &&
                    (bit == MS_CONTACTS ? info->sync_contacts : info->sync_events) == 0)
                        continue;
                classes |= bit;
                r = ms_store_load(profile, cls, &o, &s);
                if (r < 0)
                        return r;
                if (ms_store_bool(s, "ICloud")) {
                        log_info("mutate: %s of '%s' is iCloud-managed, left as it is", cls->name,
                                 profile);
                        continue;
                }
                r = ms_store_mutate(s, seed, change, add, del);
                if (r >= 0)
                        r = ms_store_save(s);
                if (r >= 0)
                        r = ms_store_write_json(s);
                if (r < 0)
                        return r;
        }
        *ret_classes = classes;
        return classes ? ms_backupdb_refresh(profile, classes, false) : 0;
}
