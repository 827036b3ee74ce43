/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Contacts and calendars both ways through mobilesync (sync part 4, issue 15): the
 * categories `contacts` and `calendars` when the policy says two-way (otherwise they are the
 * backup exports of export-sync.c; sync.c picks one of the two per run).
 *
 * The computer's side is a directory of files, one item per file, that any program may
 * edit: <library>/contacts/<name>.vcf (vCard 4.0) and <library>/calendars/<calendar>/<name>.ics
 * (one VEVENT each, the directory is the calendar). The phone's side is its mobilesync
 * record store. Both are turned into PimItems (pim.h) and compared there, never as text.
 *
 * What the last finished session left is the base of the next: docs rows (one per host
 * file: key = host path, device_path = the main record's id, hash = the content both sides
 * had) and the device's records as they were (pim_records). A fast sync applies the
 * device's changes onto those records; a slow one replaces them. Then, per row:
 *   unchanged on both                  nothing
 *   changed on one side                carried to the other
 *   changed on both                    merged field by field (pim_merge); a field changed
 *                                      on both to different values: both versions kept, as
 *                                      two items (counted as a conflict)
 *   deleted on one side, unchanged     a held deletion (Deletions=), or propagated
 *   deleted on one side, changed on    the change wins: the item comes back on the side
 *   the other                          that deleted it
 * What is on one side only (new, or split off above) is paired with the other side's new
 * items by content, then by identity (pim_same_identity: name plus a phone or e-mail),
 * and only what stays unpaired is copied. Pairing by content is what makes a cut session
 * safe: a session that pushed records or wrote files but did not finish leaves the anchors
 * stale, the next sync is slow, and everything it finds on both sides pairs up again
 * instead of being copied twice.
 *
 * Order of a session: pull → plan → push (mains, then their sub-records once the phone has
 * remapped the mains' ids) → write files → finish → commit rows, records and anchors in
 * one transaction. A first sync (no rows, data on both sides) asks merge / replace-device /
 * replace-computer first, as the documents category does, and cancels the device session
 * while it waits.
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

#include "export.h"
#include "fs-util.h"
#include "macro.h"
#include "mobilesync.h"
#include "pim.h"
#include "plist-util.h"
#include "sync-internal.h"
#include "util.h"

#define MAX_HOST_FILE (24u << 20)
#define MAX_HOST_FILES 200000u
#define TMP_PREFIX ".idevicesync-tmp-"

typedef struct PimClass {
        const char *category;           /* "contacts" */
        const char *data_class;         /* com.apple.Contacts */
        PimKind kind;
        const char *ext;                /* ".vcf" */
        const char *noun;               /* "contacts", for reasons */
        /* The backup's database of the same items, and its table of them: a phone that
         * shows mobilesync nothing while its backup has some is iCloud-managed. */
        const char *backup_path, *backup_table;
} PimClass;

static const PimClass class_contacts = {
        "contacts", MS_CLASS_CONTACTS, PIM_CONTACT, ".vcf", "contacts",
        "Library/AddressBook/AddressBook.sqlitedb", "ABPerson",
};
static const PimClass class_calendars = {
        "calendars", MS_CLASS_CALENDARS, PIM_EVENT, ".ics", "events",
        "Library/Calendar/Calendar.sqlitedb", "CalendarItem",
};

#define CALENDAR_ENTITY "com.apple.calendars.Calendar"
#define GROUP_ENTITY "com.apple.contacts.Group"

/* ---- the device's records ----------------------------------------------------------------- */

typedef struct Rec {
        char *id, *entity, *parent;
        plist_t data;
        uint64_t seq;                   /* insertion order: the last set of an id wins */
        bool gone;
} Rec;

typedef struct Mirror {
        Rec *v;
        size_t n, allocated;
        uint64_t seq;
        bool sorted;
} Mirror;

static void rec_done(Rec *r) {
        free(r->id);
        free(r->entity);
        free(r->parent);
        plist_free(r->data);
}

static void mirror_done(Mirror *m) {
        for (size_t i = 0; i < m->n; i++)
                rec_done(&m->v[i]);
        free(m->v);
        *m = (Mirror) {};
}

static int rec_compare(const void *x, const void *y) {
        const Rec *a = x, *b = y;
        int c = strcmp(a->id, b->id);

        return c ? c : a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Sort by id; of records set twice, the last one stays. */
static void mirror_sort(Mirror *m) {
        size_t k = 0;

        if (m->sorted)
                return;
        qsort_safe(m->v, m->n, sizeof(Rec), rec_compare);
        for (size_t i = 0; i < m->n; i++) {
                if (i + 1 < m->n && strcmp(m->v[i].id, m->v[i + 1].id) == 0) {
                        rec_done(&m->v[i]);
                        continue;
                }
                m->v[k++] = m->v[i];
        }
        m->n = k;
        m->sorted = true;
}

static Rec *mirror_find(Mirror *m, const char *id) {
        Rec key = { .id = (char *) id };
        size_t lo = 0, hi;

        mirror_sort(m);
        hi = m->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strcmp(m->v[mid].id, key.id);

                if (c == 0)
                        return &m->v[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* The parent a record links to: the first id of its link array, for sub-records only
 * (a Group's "contact" array lists members; a Calendar has no parent). */
static const char *record_parent(PimKind kind, const char *entity, plist_t rec) {
        plist_t a, s;
        const char *v;

        if (strcmp(entity, pim_main_entity(kind)) == 0 || strcmp(entity, GROUP_ENTITY) == 0 ||
            strcmp(entity, CALENDAR_ENTITY) == 0)
                return "";
        a = plist_dict_get_item(rec, pim_child_link(kind));
        if (!a || plist_get_node_type(a) != PLIST_ARRAY || plist_array_get_size(a) < 1)
                return "";
        s = plist_array_get_item(a, 0);
        if (!s || plist_get_node_type(s) != PLIST_STRING)
                return "";
        v = plist_get_string_ptr(s, NULL);
        return v ? v : "";
}

/* Take data (owned) as the record id. A deletion (gone) keeps no data. */
static int mirror_set(Mirror *m, PimKind kind, const char *id, const char *entity,
                      plist_t data, bool gone) {
        Rec r = { .seq = ++m->seq, .gone = gone, .data = data };
        int k;

        k = sync_grow((void **) &m->v, &m->allocated, m->n, sizeof(Rec), 256);
        if (k < 0) {
                plist_free(data);
                return k;
        }
        r.id = strdup(id);
        r.entity = strdup(entity);
        r.parent = strdup(gone || !data ? "" : record_parent(kind, entity, data));
        if (!r.id || !r.entity || !r.parent) {
                rec_done(&r);
                return -ENOMEM;
        }
        m->v[m->n++] = r;
        m->sorted = false;
        return 0;
}

static int mirror_load_one(const char *id, const char *entity, const char *parent,
                           const void *data, size_t len, void *userdata) {
        void **args = userdata;
        Mirror *m = args[0];
        const PimClass *cls = args[1];
        plist_t p = NULL;

        (void) parent;
        if (len > 0)
                plist_from_bin(data, (uint32_t) len, &p);
        if (!p || plist_get_node_type(p) != PLIST_DICT) {
                plist_free(p);
                return 0;                       /* not ours to trust: a slow sync mends it */
        }
        return mirror_set(m, cls->kind, id, entity, p, false);
}

/* ---- state of one category's run ------------------------------------------------------------ */

typedef struct HostFile {
        char *key;                      /* below the category's root */
        PimItem *item;                  /* NULL: could not be read (left alone) */
        char hash[PIM_HASH_HEX];
        uint64_t size;
        int64_t mtime_ns;
        bool used;
} HostFile;

typedef struct DevItem {
        const char *id;                 /* borrowed from the current mirror */
        PimItem *item;
        char hash[PIM_HASH_HEX];
        bool used;
} DevItem;

typedef struct Row {
        SyncDoc doc;
        char held_decision[16];         /* "", "approve", "reject" */
        uint64_t held_id;
        bool held;
} Row;

typedef enum OpKind {
        OP_KEEP,                        /* the row stays as it is */
        OP_SYNC,                        /* both sides get item (each only if it differs) */
        OP_HOLD,                        /* a held deletion: the row stays */
        OP_DROP,                        /* the row goes (both sides gone) */
        OP_DELETE_DEVICE,               /* remove the device's record; the row goes */
        OP_TRASH_HOST,                  /* move the host file to the trash; the row goes */
} OpKind;

typedef struct Op {
        OpKind kind;
        PimItem *item;                  /* OP_SYNC: the content both sides end with (owned) */
        char hash[PIM_HASH_HEX];
        char *key;                      /* host file; NULL: a new one (named at apply) */
        const HostFile *host;           /* what the host had (NULL: nothing) */
        char *device_id;                /* NULL: a new record */
        const DevItem *dev;             /* what the device had (NULL: nothing) */
        const Row *row;
        bool to_host, to_device;
        char host_id[24];               /* the id a new main record is pushed under */
        char tmp[40];                   /* the new file's temporary name, beside it */
        uint64_t host_size;             /* the file written */
        int64_t host_mtime_ns;
        bool done_host, done_device;
} Op;

typedef struct Pim {
        const PimClass *cls;
        bool started;                   /* a device session of the class is open */
        MSStart start;
        char computer_anchor[64];
        Mirror base, cur;
        bool slow;
        HostFile *host;
        size_t n_host, host_allocated;
        DevItem *dev;
        size_t n_dev, dev_allocated;
        Row *rows;
        size_t n_rows, rows_allocated;
        Op *ops;
        size_t n_ops, ops_allocated;
        int root_fd;
        bool first;
        const char *choice;             /* first sync */
        char choice_buf[24];
        bool question_asked;
        bool clear_device;              /* replace-device */
        bool dry_run;
        /* calendar_of_dir()'s last answer: the host's files come a directory at a time. */
        char *cal_dir;
        const char *cal_title;          /* in cur, or NULL: the directory's own name */
} Pim;

static const PimClass *class_of(SyncCat *c) {
        return c->type->userdata;
}

static void pim_free_state(SyncCat *c) {
        Pim *p = c->state;

        if (!p)
                return;
        ms_start_done(&p->start);
        mirror_done(&p->base);
        mirror_done(&p->cur);
        free(p->cal_dir);
        for (size_t i = 0; i < p->n_host; i++) {
                free(p->host[i].key);
                pim_item_free(p->host[i].item);
        }
        free(p->host);
        for (size_t i = 0; i < p->n_dev; i++)
                pim_item_free(p->dev[i].item);
        free(p->dev);
        for (size_t i = 0; i < p->n_rows; i++)
                sync_doc_done(&p->rows[i].doc);
        free(p->rows);
        for (size_t i = 0; i < p->n_ops; i++) {
                pim_item_free(p->ops[i].item);
                free(p->ops[i].key);
                free(p->ops[i].device_id);
        }
        free(p->ops);
        if (p->root_fd >= 0)
                close(p->root_fd);
        free(p);
        c->state = NULL;
}

static void meta_key(const PimClass *cls, const char *what, char *buf, size_t n) {
        snprintf(buf, n, "%s.%s", cls->category, what);
}

static void append_reason(SyncCat *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append_reason(SyncCat *c, const char *fmt, ...) {
        size_t len = strlen(c->out->reason);
        va_list ap;

        if (len && len + 1 < sizeof(c->out->reason))
                c->out->reason[len++] = ' ';
        va_start(ap, fmt);
        vsnprintf(c->out->reason + len, sizeof(c->out->reason) - len, fmt, ap);
        va_end(ap);
}

/* ---- the device session ---------------------------------------------------------------------- */

/* The mobilesync connection all mobilesync categories of the run share. */
static int connect_mobilesync(SyncRun *run) {
        if (run->mobilesync && run->mobilesync->state == MS_STATE_BROKEN)
                run->mobilesync = mobilesync_free(run->mobilesync);
        if (run->mobilesync)
                return 0;
        return mobilesync_open(run->session, run->cancel, 0, &run->mobilesync);
}

/* Turn tethered sync of the class on (the policy chose two-way), remembering what it was
 * the first time so an administrator can put it back. */
static int enable_tethered(SyncRun *run, SyncCat *c) {
        const PimClass *cls = class_of(c);
        _cleanup_(plist_freep) plist_t previous = NULL;
        _cleanup_free_ char *xml = NULL, *old = NULL;
        uint32_t len = 0;
        char key[64];
        int r;

        if (run->o->dry_run) {
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "Sync of %s with a computer is off on the phone; a sync would turn "
                         "it on.", cls->noun);
                return 1;
        }
        r = mobilesync_tethered_set(run->session, cls->data_class, true, &previous);
        if (r != 0)
                return r;
        meta_key(cls, "tethered-previous", key, sizeof(key));
        if (run->db && sync_db_meta_get(run->db, key, &old) == 0) {
                if (previous)
                        plist_to_xml(previous, &xml, &len);
                r = sync_db_meta_set(run->db, key, xml ? xml : "absent");
                if (r < 0)
                        return r;
        }
        ids_debug("sync: turned tethered sync of %s on", cls->data_class);
        return 0;
}

static int pull_one(const char *id, const char *entity, plist_t record, void *userdata) {
        void **args = userdata;
        Pim *p = args[0];

        if (isempty(entity))
                return mirror_set(&p->cur, p->cls->kind, id, "", NULL, true);
        return mirror_set(&p->cur, p->cls->kind, id, entity, plist_copy(record), false);
}

static int copy_mirror(Mirror *to, const Mirror *from, PimKind kind) {
        for (size_t i = 0; i < from->n; i++) {
                int r = mirror_set(to, kind, from->v[i].id, from->v[i].entity,
                                   plist_copy(from->v[i].data), false);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void new_anchor(char *buf, size_t n) {
        time_t t = time(NULL);
        struct tm tm;
        char rnd[9];

        gmtime_r(&t, &tm);
        fs_random_chars(rnd, 8);
        snprintf(buf, n, "%04d-%02d-%02d %02d-%02d-%02d +0000 %s", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd);
}

/* A named outcome of the device as the category's result. */
static int outcome(SyncRun *run, SyncCat *c, int r) {
        const PimClass *cls = class_of(c);
        const char *why = run->mobilesync ? run->mobilesync->device_reason : NULL;

        switch (r) {
        case MS_NOT_OFFERED:
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "The phone does not offer its %s for sync with a computer "
                         "(not in SyncDataClasses).", cls->noun);
                return IDS_E_UNSUPPORTED;
        case MS_REFUSED:
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "The phone refused to sync its %s: %.180s", cls->noun,
                         why ? why : "no reason given");
                return IDS_E_DEVICE_ERROR;
        case MS_DEVICE_CANCELLED:
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "The phone cancelled the sync of its %s: %.180s", cls->noun,
                         why ? why : "no reason given");
                return IDS_E_DEVICE_ERROR;
        case MS_TETHERED_DISABLED:
                snprintf(c->out->reason, sizeof(c->out->reason),
                         "Sync of %s with a computer is turned off on the phone.", cls->noun);
                return IDS_E_UNSUPPORTED;
        default:
                return r;
        }
}

static int count_rows(const SyncDoc *d, void *userdata) {
        (void) d;
        (*(uint64_t *) userdata)++;
        return 0;
}

static int scan_device_real(SyncRun *run, SyncCat *c) {
        const PimClass *cls = class_of(c);
        _cleanup_free_ char *device_anchor = NULL, *computer_anchor = NULL;
        void *args[2];
        Pim *p;
        char key[64];
        uint64_t rows = 0;
        int r;

        p = calloc(1, sizeof(Pim));
        if (!p)
                return -ENOMEM;
        p->cls = cls;
        p->root_fd = -EBADF;
        p->dry_run = run->o->dry_run;
        c->state = p;

        r = mobilesync_check_offered(run->session, cls->data_class);
        if (r == 0) {
                r = mobilesync_tethered_get(run->session, cls->data_class, NULL);
                if (r == MS_TETHERED_DISABLED) {
                        r = enable_tethered(run, c);
                        if (r == 1)
                                return 0;       /* dry run: the reason says what would happen */
                }
        }
        if (r != 0)
                return outcome(run, c, r);

        /* The records of the last finished session are the base; without rows they are
         * not trusted (a slow sync is asked for). */
        if (run->db) {
                r = sync_db_doc_list(run->db, cls->category, "", count_rows, &rows);
                args[0] = &p->base;
                args[1] = (void *) cls;
                if (r >= 0)
                        r = sync_db_pim_list(run->db, cls->category, mirror_load_one, args);
                if (r < 0)
                        return r;
                meta_key(cls, "device-anchor", key, sizeof(key));
                r = sync_db_meta_get(run->db, key, &device_anchor);
                if (r >= 0) {
                        meta_key(cls, "computer-anchor", key, sizeof(key));
                        r = sync_db_meta_get(run->db, key, &computer_anchor);
                }
                if (r < 0)
                        return r;
        }
        if (computer_anchor)
                snprintf(p->computer_anchor, sizeof(p->computer_anchor), "%s", computer_anchor);
        else
                new_anchor(p->computer_anchor, sizeof(p->computer_anchor));

        r = connect_mobilesync(run);
        if (r == 0)
                r = mobilesync_start(run->mobilesync, cls->data_class,
                                     rows > 0 ? device_anchor : NULL, p->computer_anchor,
                                     &p->start);
        if (r != 0)
                return outcome(run, c, r);
        p->started = true;
        p->slow = p->start.type != MS_SYNC_FAST || rows == 0;
        ids_debug("sync: %s: %s sync", cls->data_class, ms_sync_type_to_string(p->start.type));

        if (!p->slow) {
                r = copy_mirror(&p->cur, &p->base, cls->kind);
                if (r < 0)
                        return r;
        }
        args[0] = p;
        r = mobilesync_pull(run->mobilesync, p->slow, pull_one, args, NULL);
        if (r == MS_EMPTY) {
                uint64_t in_backup = 0;

                if (rows == 0 &&
                    export_backup_count(run, "HomeDomain", cls->backup_path, cls->backup_table,
                                        &in_backup) == 0 && in_backup > 0) {
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "The phone shows no %s to a computer although its latest "
                                 "backup has %" PRIu64 ": they are managed by iCloud — "
                                 "exported from the backup only.", cls->noun, in_backup);
                        (void) mobilesync_cancel(run->mobilesync, "Nothing to sync");
                        p->started = false;
                        return IDS_E_UNSUPPORTED;
                }
                if (rows > 0) {
                        /* It had items, now it says it has none: not "delete everything". */
                        snprintf(c->out->reason, sizeof(c->out->reason),
                                 "The phone returned no %s although %" PRIu64 " were synced "
                                 "before: they are probably managed by iCloud now — exported "
                                 "from the backup only. Nothing was removed.", cls->noun, rows);
                        (void) mobilesync_cancel(run->mobilesync, "Nothing to sync");
                        p->started = false;
                        return IDS_E_UNSUPPORTED;
                }
                r = 0;
        }
        if (r != 0)
                return outcome(run, c, r);
        mirror_sort(&p->cur);
        return 0;
}

/* ---- the computer's files -------------------------------------------------------------------- */

static int open_root(SyncRun *run, Pim *p, bool create) {
        _cleanup_(closep) int lib = -EBADF;

        if (p->root_fd >= 0)
                return p->root_fd;
        if (create) {
                lib = sync_open_library(run);
                if (lib < 0)
                        return lib;
        } else {
                lib = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (lib < 0)
                        return errno == ENOENT ? -ENOENT : -errno;
        }
        p->root_fd = fs_open_subdir(lib, p->cls->category, create);
        return p->root_fd;
}

/* The title of the phone's calendar a host directory stands for (new_key() names the
 * directory with export_safe_name() of the title), or dir itself. */
static const char *calendar_of_dir(Pim *p, const char *dir) {
        const char *found = NULL;

        /* Every event's file asks: a scan of the records per file was quadratic (20,000
         * events: a quarter of a no-change sync's CPU). */
        if (p->cal_dir && strcmp(p->cal_dir, dir) == 0)
                return p->cal_title ?: dir;
        for (size_t i = 0; i < p->cur.n && !found; i++) {
                Rec *x = &p->cur.v[i];
                plist_t t;
                const char *title;
                char safe[256];

                if (x->gone || strcmp(x->entity, CALENDAR_ENTITY) != 0)
                        continue;
                t = plist_dict_get_item(x->data, "title");
                title = t && plist_get_node_type(t) == PLIST_STRING ? plist_get_string_ptr(t, NULL) : NULL;
                if (!title)
                        continue;
                export_safe_name(title, NULL, "Calendar", safe, sizeof(safe));
                if (strcmp(safe, dir) == 0)
                        found = title;
        }
        free(p->cal_dir);
        p->cal_dir = strdup(dir);       /* out of memory: no memo, the same answer */
        p->cal_title = found;
        return found ?: dir;
}

static int read_host_file(Pim *p, int dir_fd, const char *name, const char *rel,
                          const struct stat *st) {
        _cleanup_free_ char *text = NULL, *reason = NULL;
        _cleanup_(closep) int fd = -EBADF;
        HostFile *h;
        ssize_t k;
        int r;

        if ((uint64_t) st->st_size > MAX_HOST_FILE || p->n_host >= MAX_HOST_FILES)
                return 0;
        r = sync_grow((void **) &p->host, &p->host_allocated, p->n_host, sizeof(HostFile), 64);
        if (r < 0)
                return r;
        h = &p->host[p->n_host];
        *h = (HostFile) { .size = (uint64_t) st->st_size,
                          .mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec };
        h->key = strdup(rel);
        if (!h->key)
                return -ENOMEM;
        p->n_host++;
        fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return 0;
        text = malloc(h->size + 1);
        if (!text)
                return -ENOMEM;
        k = read(fd, text, h->size + 1);
        if (k < 0 || (uint64_t) k != h->size)
                return 0;                       /* changing under us: next time */
        text[k] = 0;
        r = p->cls->kind == PIM_CONTACT ? pim_vcard_parse(text, (size_t) k, &h->item, &reason)
                                        : pim_ical_parse(text, (size_t) k, &h->item, &reason);
        if (r < 0 && r != IDS_E_PROTOCOL && r != -EINVAL && r != -E2BIG)
                return r;
        if (r != 0 || !h->item) {
                ids_debug("sync: %s: %s: not read: %s", p->cls->category, rel,
                          reason ? reason : strerror(r < 0 ? -r : EINVAL));
                h->item = pim_item_free(h->item);
                return 0;
        }
        if (p->cls->kind == PIM_EVENT) {
                /* The directory is the calendar, whatever the file says: the phone's
                 * calendar whose title gives that directory name, else the name itself. */
                const char *slash = strchr(rel, '/');
                _cleanup_free_ char *dir = strndup(rel, slash ? (size_t) (slash - rel) : 0);

                if (!dir)
                        return -ENOMEM;
                pim_remove(h->item, "calendar");
                r = pim_add(h->item, "calendar", calendar_of_dir(p, dir));
                if (r < 0)
                        return r;
        }
        return pim_hash(h->item, h->hash);
}

static bool wanted_name(const PimClass *cls, const char *name) {
        size_t n = strlen(name), e = strlen(cls->ext);

        return name[0] != '.' && n > e && strcmp(name + n - e, cls->ext) == 0;
}

static int scan_dir(Pim *p, int dir_fd, const char *prefix, unsigned depth) {
        char **names = NULL;
        size_t n = 0;
        int r;

        r = fs_list_names(dir_fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *rel = NULL;
                struct stat st;

                if (strncmp(names[i], TMP_PREFIX, strlen(TMP_PREFIX)) == 0 && !p->dry_run) {
                        /* A file a cut run was writing: never under a name of ours. */
                        (void) unlinkat(dir_fd, names[i], 0);
                        continue;
                }
                if (names[i][0] == '.' || fstatat(dir_fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (asprintf(&rel, "%s%s%s", prefix, prefix[0] ? "/" : "", names[i]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (S_ISDIR(st.st_mode) && depth > 0) {
                        _cleanup_(closep) int sub = fs_open_subdir(dir_fd, names[i], false);

                        if (sub >= 0)
                                r = scan_dir(p, sub, rel, depth - 1);
                } else if (S_ISREG(st.st_mode) && wanted_name(p->cls, names[i]) &&
                           (p->cls->kind == PIM_CONTACT || prefix[0]))
                        r = read_host_file(p, dir_fd, names[i], rel, &st);
        }
        fs_names_free(names, n);
        return r;
}

static int host_compare(const void *x, const void *y) {
        return strcmp(((const HostFile *) x)->key, ((const HostFile *) y)->key);
}

static HostFile *host_find(Pim *p, const char *key) {
        HostFile k = { .key = (char *) key };

        return bsearch(&k, p->host, p->n_host, sizeof(HostFile), host_compare);
}

static int load_row(const SyncDoc *d, void *userdata) {
        Pim *p = userdata;
        Row *w;
        int r;

        r = sync_grow((void **) &p->rows, &p->rows_allocated, p->n_rows, sizeof(Row), 64);
        if (r < 0)
                return r;
        w = &p->rows[p->n_rows];
        *w = (Row) { .doc = *d };
        w->doc.key = strdup(d->key);
        w->doc.device_path = strdup(d->device_path);
        w->doc.host_path = strdup(d->host_path);
        p->n_rows++;
        return w->doc.key && w->doc.device_path && w->doc.host_path ? 0 : -ENOMEM;
}

static int load_held(const SyncHeld *h, void *userdata) {
        Pim *p = userdata;

        for (size_t i = 0; i < p->n_rows; i++)
                if (strcmp(p->rows[i].doc.key, h->key) == 0) {
                        p->rows[i].held = true;
                        p->rows[i].held_id = h->pub.id;
                        snprintf(p->rows[i].held_decision, sizeof(p->rows[i].held_decision),
                                 "%s", h->decision);
                }
        return 0;
}

static int scan_host_real(SyncRun *run, SyncCat *c) {
        Pim *p = c->state;
        int r;

        if (!p || !p->started)
                return 0;
        r = open_root(run, p, false);
        if (r >= 0)
                r = scan_dir(p, p->root_fd, "", p->cls->kind == PIM_EVENT ? 1 : 0);
        else if (r == -ENOENT)
                r = 0;
        free(TAKE_PTR(p->cal_dir));             /* cur may change after the scan */
        p->cal_title = NULL;
        if (r < 0)
                return r;
        qsort_safe(p->host, p->n_host, sizeof(HostFile), host_compare);
        if (run->db) {
                r = sync_db_doc_list(run->db, p->cls->category, "", load_row, p);
                if (r >= 0)
                        r = sync_db_held_list(run->db, p->cls->category, false, load_held, p);
                if (r < 0)
                        return r;
        }
        /* The decisions of this run's options, over what sync.db says. */
        for (size_t i = 0; i < run->o->n_decisions; i++) {
                const ids_sync_decision *x = &run->o->decisions[i];

                if (x->category)
                        continue;
                for (size_t k = 0; k < p->n_rows; k++)
                        if (p->rows[k].held && p->rows[k].held_id == x->item)
                                snprintf(p->rows[k].held_decision,
                                         sizeof(p->rows[k].held_decision), "%s", x->choice);
        }
        return 0;
}

/* End the device's session of the class without keeping anything of it. */
static void abandon(SyncRun *run, Pim *p, const char *why) {
        if (p && p->started && run->mobilesync) {
                (void) mobilesync_cancel(run->mobilesync, why);
                p->started = false;
        }
}

/* A step that failed ends the device's session of the class: the next class can start. */
static int step_result(SyncRun *run, SyncCat *c, int r) {
        if (r != 0)
                abandon(run, c->state, r == IDS_E_WAITING_DECISION ? "Waiting for a decision" :
                        "The computer stopped the sync");
        return r;
}

static int pim_scan_device(SyncRun *run, SyncCat *c) {
        return step_result(run, c, scan_device_real(run, c));
}

static int pim_scan_host(SyncRun *run, SyncCat *c) {
        return step_result(run, c, scan_host_real(run, c));
}

/* ---- the device's items ------------------------------------------------------------------------ */

static int parent_compare(const void *x, const void *y) {
        const Rec *a = *(Rec *const *) x, *b = *(Rec *const *) y;

        return strcmp(a->parent, b->parent);
}

static const char *calendar_title(Mirror *m, plist_t event) {
        plist_t a = plist_dict_get_item(event, "calendar"), s, t;
        const char *id;
        Rec *cal;

        if (!a || plist_get_node_type(a) != PLIST_ARRAY || plist_array_get_size(a) < 1)
                return NULL;
        s = plist_array_get_item(a, 0);
        if (!s || plist_get_node_type(s) != PLIST_STRING || !(id = plist_get_string_ptr(s, NULL)))
                return NULL;
        cal = mirror_find(m, id);
        if (!cal || cal->gone || strcmp(cal->entity, CALENDAR_ENTITY) != 0)
                return NULL;
        t = plist_dict_get_item(cal->data, "title");
        return t && plist_get_node_type(t) == PLIST_STRING ? plist_get_string_ptr(t, NULL) : NULL;
}

/* Every main record of m with its sub-records, as items. */
static int build_dev_items(Pim *p, Mirror *m, DevItem **ret, size_t *ret_n, size_t *ret_allocated,
                           const char *only_id, PimItem **ret_one) {
        _cleanup_free_ Rec **children = NULL;
        size_t n_children = 0;
        const char *main_entity = pim_main_entity(p->cls->kind);
        int r = 0;

        mirror_sort(m);
        children = calloc(m->n + 1, sizeof(Rec *));
        if (!children)
                return -ENOMEM;
        for (size_t i = 0; i < m->n; i++)
                if (!m->v[i].gone && m->v[i].parent[0])
                        children[n_children++] = &m->v[i];
        qsort_safe(children, n_children, sizeof(Rec *), parent_compare);

        for (size_t i = 0; i < m->n; i++) {
                Rec *main = &m->v[i];
                const plist_t *kids;
                size_t lo = 0, hi = n_children, from, to;
                _cleanup_free_ char *reason = NULL;
                _cleanup_free_ plist_t *kv = NULL;
                PimItem *it = NULL;

                if (main->gone || strcmp(main->entity, main_entity) != 0)
                        continue;
                if (only_id && strcmp(main->id, only_id) != 0)
                        continue;
                while (lo < hi) {
                        size_t mid = (lo + hi) / 2;

                        if (strcmp(children[mid]->parent, main->id) < 0)
                                lo = mid + 1;
                        else
                                hi = mid;
                }
                from = lo;
                for (to = from; to < n_children && strcmp(children[to]->parent, main->id) == 0; to++)
                        ;
                kv = calloc(to - from + 1, sizeof(plist_t));
                if (!kv)
                        return -ENOMEM;
                for (size_t k = from; k < to; k++)
                        kv[k - from] = children[k]->data;
                kids = kv;
                r = pim_from_records(p->cls->kind,
                                     &(PimRecords) { main->data, kids, to - from },
                                     p->cls->kind == PIM_EVENT ? calendar_title(m, main->data) : NULL,
                                     &it, &reason);
                if (r == IDS_E_PROTOCOL) {
                        ids_debug("sync: %s: record %s skipped: %s", p->cls->category, main->id,
                                  reason ? reason : "malformed");
                        continue;
                }
                if (r < 0)
                        return r;
                if (ret_one) {
                        *ret_one = it;
                        return 0;
                }
                r = sync_grow((void **) ret, ret_allocated, *ret_n, sizeof(DevItem), 64);
                if (r < 0) {
                        pim_item_free(it);
                        return r;
                }
                (*ret)[*ret_n] = (DevItem) { .id = main->id, .item = it };
                r = pim_hash(it, (*ret)[*ret_n].hash);
                (*ret_n)++;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int dev_compare(const void *x, const void *y) {
        return strcmp(((const DevItem *) x)->id, ((const DevItem *) y)->id);
}

/* The items are built in the mirror's id order, so they are sorted by id. */
static DevItem *dev_find(Pim *p, const char *id) {
        DevItem k = { .id = id };

        return bsearch(&k, p->dev, p->n_dev, sizeof(DevItem), dev_compare);
}

/* ---- plan -------------------------------------------------------------------------------------- */

static Op *op_new(Pim *p, OpKind kind) {
        Op *o;

        if (sync_grow((void **) &p->ops, &p->ops_allocated, p->n_ops, sizeof(Op), 64) < 0)
                return NULL;
        o = &p->ops[p->n_ops++];
        *o = (Op) { .kind = kind };
        return o;
}

/* An op that makes both sides hold item (owned): to_host/to_device where a side differs. */
static int op_sync(Pim *p, PimItem *item, const HostFile *h, const DevItem *d, const Row *row) {
        _cleanup_(pim_item_freep) PimItem *it = item;
        Op *o = op_new(p, OP_SYNC);
        int r;

        if (!o)
                return -ENOMEM;
        o->item = TAKE_PTR(it);
        o->host = h;
        o->dev = d;
        o->row = row;
        r = pim_hash(o->item, o->hash);
        if (r < 0)
                return r;
        if (h && !(o->key = strdup(h->key)))
                return -ENOMEM;
        if (d && !(o->device_id = strdup(d->id)))
                return -ENOMEM;
        /* The file keeps its uid; a new file gets the device item's or a fresh one. */
        if (h && h->item->uid && !streq_ptr(o->item->uid, h->item->uid)) {
                free(o->item->uid);
                if (!(o->item->uid = strdup(h->item->uid)))
                        return -ENOMEM;
        }
        o->to_host = !h || strcmp(h->hash, o->hash) != 0;
        o->to_device = !d || strcmp(d->hash, o->hash) != 0;
        return 0;
}

typedef struct Pools {
        HostFile **host;
        size_t n_host, host_allocated;
        DevItem **dev;
        size_t n_dev, dev_allocated;
} Pools;

static void pools_done(Pools *q) {
        free(q->host);
        free(q->dev);
}

static int pool_host(Pools *q, HostFile *h) {
        int r = sync_grow((void **) &q->host, &q->host_allocated, q->n_host, sizeof(void *), 64);

        if (r < 0)
                return r;
        h->used = true;
        q->host[q->n_host++] = h;
        return 0;
}

static int pool_dev(Pools *q, DevItem *d) {
        int r = sync_grow((void **) &q->dev, &q->dev_allocated, q->n_dev, sizeof(void *), 64);

        if (r < 0)
                return r;
        d->used = true;
        q->dev[q->n_dev++] = d;
        return 0;
}

typedef struct Keyed {
        char *key;                      /* hash or identity key */
        DevItem *d;
        bool taken;
} Keyed;

static int keyed_compare(const void *x, const void *y) {
        return strcmp(((const Keyed *) x)->key, ((const Keyed *) y)->key);
}

/* The first entry of the run of key in a sorted array (NULL: none). */
static Keyed *keyed_first(Keyed *v, size_t n, const char *key) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (strcmp(v[mid].key, key) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo < n && strcmp(v[lo].key, key) == 0 ? &v[lo] : NULL;
}

typedef struct PairCounts {
        uint64_t same, merged_host, merged_device, conflicts, host_only, dev_only;
} PairCounts;

/* Pair the pools: same content first, then the same identity (merged when the merge has
 * no conflict). With plan, ops are made: pairs sync, the unpaired are copied across. */
static int pair_pools(Pim *p, Pools *q, bool plan, PairCounts *ret) {
        _cleanup_free_ Keyed *byhash = calloc(q->n_dev + 1, sizeof(Keyed));
        _cleanup_free_ Keyed *byname = calloc(q->n_dev + 1, sizeof(Keyed));
        _cleanup_free_ bool *host_done = calloc(q->n_host + 1, sizeof(bool));
        PairCounts n = {};
        int r = 0;

        if (!byhash || !byname || !host_done)
                return -ENOMEM;
        for (size_t i = 0; i < q->n_dev; i++) {
                byhash[i] = (Keyed) { .key = q->dev[i]->hash, .d = q->dev[i] };
                byname[i] = (Keyed) { .key = pim_identity_key(q->dev[i]->item), .d = q->dev[i] };
                if (!byname[i].key) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        qsort_safe(byhash, q->n_dev, sizeof(Keyed), keyed_compare);
        qsort_safe(byname, q->n_dev, sizeof(Keyed), keyed_compare);

        /* Same content: nothing to copy, only the link to record. */
        for (size_t i = 0; i < q->n_host; i++) {
                Keyed *k = keyed_first(byhash, q->n_dev, q->host[i]->hash);

                for (; k && k < byhash + q->n_dev && strcmp(k->key, q->host[i]->hash) == 0; k++) {
                        if (k->d->used == false)
                                continue;       /* taken by an earlier host file */
                        k->d->used = false;
                        host_done[i] = true;
                        n.same++;
                        if (plan) {
                                PimItem *c = pim_item_copy(q->host[i]->item);

                                r = c ? op_sync(p, c, q->host[i], k->d, NULL) : -ENOMEM;
                                if (r < 0)
                                        goto out;
                        }
                        break;
                }
        }
        /* The same person (event): merged, or both kept when a field differs. */
        for (size_t i = 0; i < q->n_host; i++) {
                _cleanup_free_ char *key = NULL;
                Keyed *k;

                if (host_done[i])
                        continue;
                key = pim_identity_key(q->host[i]->item);
                if (!key) {
                        r = -ENOMEM;
                        goto out;
                }
                if (!key[0])
                        continue;
                k = keyed_first(byname, q->n_dev, key);
                for (; k && k < byname + q->n_dev && strcmp(k->key, key) == 0; k++) {
                        _cleanup_(pim_item_freep) PimItem *m = NULL;
                        bool conflict = false;
                        char mh[PIM_HASH_HEX];

                        if (!k->d->used || !pim_same_identity(q->host[i]->item, k->d->item))
                                continue;
                        r = pim_merge(NULL, q->host[i]->item, k->d->item, &m, &conflict);
                        if (r < 0)
                                goto out;
                        if (conflict) {
                                n.conflicts++;
                                break;          /* both stay unpaired: both kept */
                        }
                        r = pim_hash(m, mh);
                        if (r < 0)
                                goto out;
                        k->d->used = false;
                        host_done[i] = true;
                        n.merged_host += strcmp(mh, q->host[i]->hash) != 0;
                        n.merged_device += strcmp(mh, k->d->hash) != 0;
                        if (plan) {
                                r = op_sync(p, TAKE_PTR(m), q->host[i], k->d, NULL);
                                if (r < 0)
                                        goto out;
                        }
                        break;
                }
        }
        for (size_t i = 0; i < q->n_host; i++) {
                if (host_done[i])
                        continue;
                n.host_only++;
                if (plan) {
                        PimItem *c = pim_item_copy(q->host[i]->item);

                        r = c ? op_sync(p, c, q->host[i], NULL, NULL) : -ENOMEM;
                        if (r < 0)
                                goto out;
                }
        }
        for (size_t i = 0; i < q->n_dev; i++) {
                if (!q->dev[i]->used)
                        continue;
                n.dev_only++;
                if (plan) {
                        PimItem *c = pim_item_copy(q->dev[i]->item);

                        r = c ? op_sync(p, c, NULL, q->dev[i], NULL) : -ENOMEM;
                        if (r < 0)
                                goto out;
                }
        }
out:
        /* Leave the pools as they were (used = in a pool) for a second pass. */
        for (size_t i = 0; i < q->n_dev; i++)
                q->dev[i]->used = true;
        for (size_t i = 0; i < q->n_dev; i++)
                free(byname[i].key);
        if (ret)
                *ret = n;
        return r;
}

/* The base of a row: the device's item as the last finished session left it. */
static int row_base(Pim *p, const Row *w, PimItem **ret) {
        DevItem *none = NULL;
        size_t n = 0, a = 0;

        *ret = NULL;
        return build_dev_items(p, &p->base, &none, &n, &a, w->doc.device_path, ret);
}

static int plan_row(SyncRun *run, Pim *p, Row *w, Pools *q) {
        HostFile *h = host_find(p, w->doc.key);
        DevItem *d = dev_find(p, w->doc.device_path);
        const char *dec = w->held_decision;
        bool hc, dc;
        Op *o;
        int r;

        if (h && !h->item) {
                /* A file we cannot read is left alone, and so is its record. */
                h->used = true;
                if (d)
                        d->used = true;
                o = op_new(p, OP_KEEP);
                if (!o)
                        return -ENOMEM;
                o->row = w;
                return 0;
        }
        if (h)
                h->used = true;
        if (d)
                d->used = true;
        hc = h && strcmp(h->hash, w->doc.hash) != 0;
        dc = d && strcmp(d->hash, w->doc.hash) != 0;

        if (h && d) {
                _cleanup_(pim_item_freep) PimItem *base = NULL, *m = NULL;
                bool conflict = false;

                if (!hc && !dc) {
                        o = op_new(p, OP_KEEP);
                        if (!o)
                                return -ENOMEM;
                        o->row = w;
                        return 0;
                }
                if (!hc || !dc || strcmp(h->hash, d->hash) == 0) {
                        PimItem *c = pim_item_copy(hc ? h->item : d->item);

                        return c ? op_sync(p, c, h, d, w) : -ENOMEM;
                }
                r = row_base(p, w, &base);
                if (r < 0)
                        return r;
                r = pim_merge(base, h->item, d->item, &m, &conflict);
                if (r < 0)
                        return r;
                if (!conflict)
                        return op_sync(p, TAKE_PTR(m), h, d, w);
                /* Both versions are kept: each side's becomes an item of its own. */
                r = pool_host(q, h);
                if (r == 0)
                        r = pool_dev(q, d);
                return r;
        }

        if (h) {                /* the device deleted it */
                if (hc || streq_ptr(dec, "reject"))
                        return pool_host(q, h); /* an edit (or the person) brings it back */
                if (streq_ptr(dec, "approve") ||
                    (!w->held && run->o->deletions == IDS_SYNC_DELETIONS_PROPAGATE)) {
                        o = op_new(p, OP_TRASH_HOST);
                } else if (run->o->deletions == IDS_SYNC_DELETIONS_NEVER && !w->held)
                        o = op_new(p, OP_KEEP);
                else
                        o = op_new(p, OP_HOLD);
                if (!o)
                        return -ENOMEM;
                o->row = w;
                o->host = h;
                return 0;
        }
        if (d) {                /* the computer deleted it */
                if (dc || streq_ptr(dec, "reject"))
                        return pool_dev(q, d);
                if (streq_ptr(dec, "approve") ||
                    (!w->held && run->o->deletions == IDS_SYNC_DELETIONS_PROPAGATE)) {
                        o = op_new(p, OP_DELETE_DEVICE);
                        if (o && !(o->device_id = strdup(d->id)))
                                return -ENOMEM;
                } else if (run->o->deletions == IDS_SYNC_DELETIONS_NEVER && !w->held)
                        o = op_new(p, OP_KEEP);
                else
                        o = op_new(p, OP_HOLD);
                if (!o)
                        return -ENOMEM;
                o->row = w;
                o->dev = d;
                return 0;
        }
        o = op_new(p, OP_DROP);
        if (!o)
                return -ENOMEM;
        o->row = w;
        return 0;
}

typedef struct ChoiceFind {
        bool asked;
        char choice[24];
} ChoiceFind;

static int find_choice(const ids_sync_question *q, const char *choice, void *userdata) {
        ChoiceFind *f = userdata;

        (void) q;
        f->asked = true;
        snprintf(f->choice, sizeof(f->choice), "%s", choice);
        return 0;
}

static int ask(SyncRun *run, SyncCat *c, Pim *p, Pools *q) {
        ids_sync_question x = { .created_usec = run->now_usec };
        PairCounts n;
        int r;

        r = pair_pools(p, q, false, &n);
        if (r < 0)
                return r;
        snprintf(x.category, sizeof(x.category), "%s", p->cls->category);
        x.files_device = q->n_dev;
        x.files_computer = q->n_host;
        for (size_t i = 0; i < ELEMENTSOF(x.choices); i++)
                snprintf(x.choices[i].choice, sizeof(x.choices[i].choice), "%s",
                         sync_choice_names[i]);
        x.choices[0].add_device = n.host_only + n.conflicts;
        x.choices[0].add_computer = n.dev_only + n.conflicts;
        x.choices[0].overwrite_device = n.merged_device;
        x.choices[0].overwrite_computer = n.merged_host;
        x.choices[0].conflicts = n.conflicts;
        x.choices[1].add_device = q->n_host - n.same;
        x.choices[1].remove_device = q->n_dev - n.same;
        x.choices[2].add_computer = q->n_dev - n.same;
        x.choices[2].remove_computer = q->n_host - n.same;
        if (run->db && !run->o->dry_run) {
                r = sync_db_question_put(run->db, &x);
                if (r < 0)
                        return r;
        }
        snprintf(c->out->reason, sizeof(c->out->reason),
                 "First sync of %s: %zu on the phone and %zu on this computer, %" PRIu64
                 " the same — choose merge, replace-device or replace-computer.",
                 p->cls->noun, q->n_dev, q->n_host, n.same);
        return IDS_E_WAITING_DECISION;
}

static const char *policy_choice(const ids_sync_options *o) {
        switch (o->first_sync) {
        case IDS_SYNC_FIRST_MERGE:
                return sync_choice_names[0];
        case IDS_SYNC_FIRST_REPLACE_DEVICE:
                return sync_choice_names[1];
        case IDS_SYNC_FIRST_REPLACE_COMPUTER:
                return sync_choice_names[2];
        default:
                return NULL;
        }
}

/* The first sync with a choice: replace one side by the other. */
static int plan_replace(Pim *p, Pools *q, bool device_wins) {
        _cleanup_free_ Keyed *byhash = calloc(q->n_host + 1, sizeof(Keyed));
        int r;

        if (!byhash)
                return -ENOMEM;
        if (!device_wins) {
                /* The computer's set: the phone is cleared and gets every file. */
                p->clear_device = true;
                for (size_t i = 0; i < q->n_host; i++) {
                        PimItem *c = pim_item_copy(q->host[i]->item);

                        r = c ? op_sync(p, c, q->host[i], NULL, NULL) : -ENOMEM;
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        /* The phone's set: a file with the same content stays, every other goes to the
         * trash, and the rest of the phone's items are written. */
        for (size_t i = 0; i < q->n_host; i++)
                byhash[i] = (Keyed) { .key = q->host[i]->hash, .d = (DevItem *) q->host[i] };
        qsort_safe(byhash, q->n_host, sizeof(Keyed), keyed_compare);
        for (size_t i = 0; i < q->n_dev; i++) {
                Keyed *k = keyed_first(byhash, q->n_host, q->dev[i]->hash);
                HostFile *h = NULL;
                PimItem *c;

                for (; k && k < byhash + q->n_host && strcmp(k->key, q->dev[i]->hash) == 0; k++)
                        if (!k->taken) {
                                k->taken = true;
                                h = (HostFile *) k->d;
                                break;
                        }
                c = pim_item_copy(q->dev[i]->item);
                r = c ? op_sync(p, c, h, q->dev[i], NULL) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < q->n_host; i++) {
                Op *o;

                if (byhash[i].taken)
                        continue;
                o = op_new(p, OP_TRASH_HOST);
                if (!o)
                        return -ENOMEM;
                o->host = (HostFile *) byhash[i].d;
        }
        return 0;
}

static void count_ops(Pim *p, ids_sync_category *out) {
        for (size_t i = 0; i < p->n_ops; i++) {
                const Op *o = &p->ops[i];

                switch (o->kind) {
                case OP_SYNC:
                        out->files_in += o->to_host;
                        out->files_out += o->to_device;
                        break;
                case OP_HOLD:
                        out->held++;
                        break;
                case OP_DELETE_DEVICE:
                        out->removed_device++;
                        break;
                case OP_TRASH_HOST:
                        out->removed_computer++;
                        break;
                default:
                        break;
                }
        }
        if (p->clear_device)
                out->removed_device += p->n_dev;
}

static int plan_real(SyncRun *run, SyncCat *c, Pim *p) {
        _cleanup_(pools_done) Pools q = {};
        ChoiceFind found = {};
        PairCounts n = {};
        uint64_t readable = 0;
        int r;

        r = build_dev_items(p, &p->cur, &p->dev, &p->n_dev, &p->dev_allocated, NULL, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_host; i++)
                readable += p->host[i].item != NULL;

        if (run->db) {
                r = sync_db_question_list(run->db, p->cls->category, false, find_choice, &found);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < run->o->n_decisions; i++) {
                const ids_sync_decision *x = &run->o->decisions[i];

                if (x->category && strcmp(x->category, p->cls->category) == 0 && found.asked)
                        snprintf(found.choice, sizeof(found.choice), "%s", x->choice);
        }
        p->question_asked = found.asked;
        if ((p->n_rows == 0 && p->n_dev > 0 && readable > 0) || found.choice[0]) {
                p->first = true;
                memcpy(p->choice_buf, found.choice, sizeof(p->choice_buf));
                p->choice = p->choice_buf[0] ? p->choice_buf : policy_choice(run->o);
        }

        for (size_t i = 0; i < p->n_rows; i++) {
                r = plan_row(run, p, &p->rows[i], &q);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < p->n_host; i++)
                if (!p->host[i].used && p->host[i].item && (r = pool_host(&q, &p->host[i])) < 0)
                        return r;
        for (size_t i = 0; i < p->n_dev; i++)
                if (!p->dev[i].used && (r = pool_dev(&q, &p->dev[i])) < 0)
                        return r;

        if (p->first && !p->choice)
                return ask(run, c, p, &q);
        if (p->first && streq_ptr(p->choice, sync_choice_names[1]))
                r = plan_replace(p, &q, false);
        else if (p->first && streq_ptr(p->choice, sync_choice_names[2]))
                r = plan_replace(p, &q, true);
        else
                r = pair_pools(p, &q, true, &n);
        if (r < 0)
                return r;
        c->out->conflicts += n.conflicts;
        c->out->duplicates += n.same;
        count_ops(p, c->out);
        if (p->first && !found.asked)
                return sync_first_sync_remember(run, p->cls->category, p->choice);
        return 0;
}

static int pim_plan(SyncRun *run, SyncCat *c) {
        Pim *p = c->state;
        int r;

        if (!p || !p->started)
                return 0;
        r = step_result(run, c, plan_real(run, c, p));
        if (r == 0 && run->o->dry_run)
                abandon(run, p, "A dry run");   /* a plan only: nothing of it is kept */
        return r;
}

/* ---- apply: the device ---------------------------------------------------------------------- */

typedef struct Remap {
        char *host_id, *device_id;
} Remap;

typedef struct Remaps {
        Remap *v;
        size_t n, allocated;
} Remaps;

static void remaps_done(Remaps *m) {
        for (size_t i = 0; i < m->n; i++) {
                free(m->v[i].host_id);
                free(m->v[i].device_id);
        }
        free(m->v);
}

static int on_remap(const char *host_id, const char *device_id, void *userdata) {
        Remaps *m = userdata;
        int r = sync_grow((void **) &m->v, &m->allocated, m->n, sizeof(Remap), 64);

        if (r < 0)
                return r;
        m->v[m->n] = (Remap) { strdup(host_id), strdup(device_id) };
        if (!m->v[m->n].host_id || !m->v[m->n].device_id) {
                free(m->v[m->n].host_id);
                free(m->v[m->n].device_id);
                return -ENOMEM;
        }
        m->n++;
        return 0;
}

static const char *remapped(const Remaps *m, const char *host_id) {
        /* Later remaps of the same id win. */
        for (size_t i = m->n; i > 0; i--)
                if (strcmp(m->v[i - 1].host_id, host_id) == 0)
                        return m->v[i - 1].device_id;
        return host_id;
}

/* The sub-records of the current mirror sorted by parent, to find an item's quickly. */
typedef struct ChildIndex {
        Rec **v;
        size_t n;
} ChildIndex;

static int child_index(Pim *p, ChildIndex *ret) {
        mirror_sort(&p->cur);
        ret->v = calloc(p->cur.n + 1, sizeof(Rec *));
        ret->n = 0;
        if (!ret->v)
                return -ENOMEM;
        for (size_t i = 0; i < p->cur.n; i++)
                if (!p->cur.v[i].gone && p->cur.v[i].parent[0])
                        ret->v[ret->n++] = &p->cur.v[i];
        qsort_safe(ret->v, ret->n, sizeof(Rec *), parent_compare);
        return 0;
}

/* Mark the sub-records of parent gone, and ask the device to delete them (into dels). */
static void delete_children(const ChildIndex *x, const char *parent, plist_t dels) {
        size_t lo = 0, hi = x->n;

        while (lo < hi) {
                size_t mid = (lo + hi) / 2;

                if (strcmp(x->v[mid]->parent, parent) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        for (; lo < x->n && strcmp(x->v[lo]->parent, parent) == 0; lo++) {
                if (x->v[lo]->gone)
                        continue;
                plist_dict_set_item(dels, x->v[lo]->id, ms_deletion_new());
                x->v[lo]->gone = true;
        }
}

typedef struct Calendars {
        char **titles, **ids;
        size_t n, allocated;
        unsigned next;
} Calendars;

static void calendars_done(Calendars *c) {
        for (size_t i = 0; i < c->n; i++) {
                free(c->titles[i]);
                free(c->ids[i]);
        }
        free(c->titles);
        free(c->ids);
}

static int calendars_add(Calendars *c, const char *title, const char *id) {
        size_t a = c->allocated;
        int r;

        r = sync_grow((void **) &c->titles, &a, c->n, sizeof(char *), 8);
        if (r < 0)
                return r;
        r = sync_grow((void **) &c->ids, &c->allocated, c->n, sizeof(char *), 8);
        if (r < 0)
                return r;
        c->titles[c->n] = strdup(title);
        c->ids[c->n] = strdup(id);
        if (!c->titles[c->n] || !c->ids[c->n])
                return -ENOMEM;
        c->n++;
        return 0;
}

/* The device's calendars by title (the first of a title wins). */
static int calendars_load(Pim *p, Calendars *c) {
        for (size_t i = 0; i < p->cur.n; i++) {
                Rec *x = &p->cur.v[i];
                plist_t t;
                const char *title;
                bool seen = false;
                int r;

                if (x->gone || strcmp(x->entity, CALENDAR_ENTITY) != 0)
                        continue;
                t = plist_dict_get_item(x->data, "title");
                title = t && plist_get_node_type(t) == PLIST_STRING ? plist_get_string_ptr(t, NULL) : NULL;
                if (!title)
                        continue;
                for (size_t k = 0; k < c->n; k++)
                        seen = seen || strcmp(c->titles[k], title) == 0;
                if (!seen && (r = calendars_add(c, title, x->id)) < 0)
                        return r;
        }
        return 0;
}

/* The id of the calendar titled title: the device's, or a new record (into cals, under a
 * host id) when it has none. NULL on -ENOMEM. */
static const char *calendar_id(Calendars *c, const char *title, plist_t cals) {
        char host_id[32];
        plist_t rec;

        for (size_t k = 0; k < c->n; k++)
                if (strcmp(c->titles[k], title) == 0)
                        return c->ids[k];
        snprintf(host_id, sizeof(host_id), "cal%u", ++c->next);
        if (calendars_add(c, title, host_id) < 0)
                return NULL;
        rec = plist_new_dict();
        plist_dict_set_item(rec, "com.apple.syncservices.RecordEntityName",
                            plist_new_string(CALENDAR_ENTITY));
        plist_dict_set_item(rec, "title", plist_new_string(title));
        plist_dict_set_item(cals, host_id, rec);
        return c->ids[c->n - 1];
}

static int relink_calendar(const char *key, plist_t v, void *userdata) {
        const Remaps *m = userdata;
        plist_t a = plist_dict_get_item(v, "calendar");
        const char *id;

        (void) key;
        if (a && plist_get_node_type(a) == PLIST_ARRAY && plist_array_get_size(a) == 1 &&
            (id = plist_get_string_ptr(plist_array_get_item(a, 0), NULL)) &&
            remapped(m, id) != id)
                plist_array_set_item(a, plist_new_string(remapped(m, id)), 0);
        return 0;
}

typedef struct Take {
        Pim *p;
        const Remaps *m;
} Take;

static int take_one(const char *key, plist_t v, void *userdata) {
        Take *t = userdata;
        plist_t e = plist_dict_get_item(v, "com.apple.syncservices.RecordEntityName");
        plist_t copy, a;
        const char *pid;

        if (ms_record_is_deletion(v) || !e)
                return mirror_set(&t->p->cur, t->p->cls->kind, remapped(t->m, key), "", NULL, true);
        copy = plist_copy(v);
        a = plist_dict_get_item(copy, pim_child_link(t->p->cls->kind));
        /* A child sent with its parent's host id links to the device id. */
        if (a && plist_get_node_type(a) == PLIST_ARRAY && plist_array_get_size(a) == 1 &&
            (pid = plist_get_string_ptr(plist_array_get_item(a, 0), NULL)) &&
            remapped(t->m, pid) != pid)
                plist_array_set_item(a, plist_new_string(remapped(t->m, pid)), 0);
        return mirror_set(&t->p->cur, t->p->cls->kind, remapped(t->m, key),
                          plist_get_string_ptr(e, NULL), copy, false);
}

/* Put the records sent in push (host ids remapped) into the current mirror. */
static int mirror_take(Pim *p, plist_t push, const Remaps *m) {
        return plist_dict_foreach(push, take_one, &(Take) { p, m });
}

static int add_copy(const char *key, plist_t v, void *userdata) {
        plist_dict_set_item(userdata, key, plist_copy(v));
        return 0;
}

static int push_device(SyncRun *run, SyncCat *c, Pim *p) {
        _cleanup_(plist_freep) plist_t cals = plist_new_dict(), mains = plist_new_dict(),
                                        kids = plist_new_dict();
        _cleanup_(remaps_done) Remaps m = {};
        _cleanup_(calendars_done) Calendars cal_map = {};
        _cleanup_free_ Rec **kid_index = NULL;
        ChildIndex kx = {};
        int r;

        r = child_index(p, &kx);
        if (r < 0)
                return r;
        kid_index = kx.v;
        if (p->cls->kind == PIM_EVENT && (r = calendars_load(p, &cal_map)) < 0)
                return r;

        if (p->clear_device) {
                /* Every item of the phone goes, by name rather than ClearAllRecords: that
                 * message is only allowed before the pull, and the plan needs the pull.
                 * Groups and calendars stay (the computer's side has none of its own). */
                const char *main_entity = pim_main_entity(p->cls->kind);
                size_t n = p->cur.n;

                for (size_t i = 0; i < n; i++) {
                        Rec *x = &p->cur.v[i];

                        if (x->gone || strcmp(x->entity, main_entity) != 0)
                                continue;
                        plist_dict_set_item(mains, x->id, ms_deletion_new());
                        delete_children(&kx, x->id, mains);
                        x->gone = true;
                }
        }
        for (size_t i = 0; i < p->n_ops; i++) {
                Op *o = &p->ops[i];
                const char *cal = NULL;
                plist_t rec = NULL;

                if (o->kind == OP_DELETE_DEVICE) {
                        Rec *x = mirror_find(&p->cur, o->device_id);

                        plist_dict_set_item(mains, o->device_id, ms_deletion_new());
                        delete_children(&kx, o->device_id, mains);
                        if (x)
                                x->gone = true;
                        continue;
                }
                if (o->kind != OP_SYNC || !o->to_device)
                        continue;
                if (p->clear_device && o->device_id) {
                        free(o->device_id);
                        o->device_id = NULL;
                }
                if (p->cls->kind == PIM_EVENT &&
                    !(cal = calendar_id(&cal_map, pim_get(o->item, "calendar") ?: "Calendar", cals)))
                        return -ENOMEM;
                r = pim_main_record(o->item, cal, &rec);
                if (r < 0)
                        return r;
                if (o->device_id) {
                        plist_dict_set_item(mains, o->device_id, rec);
                        delete_children(&kx, o->device_id, mains);
                } else {
                        snprintf(o->host_id, sizeof(o->host_id), "h%zu", i);
                        plist_dict_set_item(mains, o->host_id, rec);
                }
        }
        /* Calendars, then the main records, then their sub-records with the parents'
         * device ids: the device links by the ids it remapped. */
        if (plist_dict_get_size(cals) > 0) {
                r = mobilesync_push(run->mobilesync, cals, false, 0, on_remap, &m);
                if (r != 0)
                        return outcome(run, c, r);
                /* The events' calendar links were host ids: put the device's in. */
                (void) plist_dict_foreach(mains, relink_calendar, &m);
                r = mirror_take(p, cals, &m);
                if (r < 0)
                        return r;
        }
        r = mobilesync_push(run->mobilesync, mains, false, 0, on_remap, &m);
        if (r != 0)
                return outcome(run, c, r);
        for (size_t i = 0; i < p->n_ops; i++) {
                Op *o = &p->ops[i];
                _cleanup_(plist_freep) plist_t k = NULL;
                char prefix[32];

                if (o->kind != OP_SYNC || !o->to_device)
                        continue;
                if (!o->device_id && !(o->device_id = strdup(remapped(&m, o->host_id))))
                        return -ENOMEM;
                snprintf(prefix, sizeof(prefix), "c%zu-", i);
                r = pim_child_records(o->item, o->device_id, prefix, &k);
                if (r < 0)
                        return r;
                (void) plist_dict_foreach(k, add_copy, kids);
        }
        r = mirror_take(p, mains, &m);
        if (r < 0)
                return r;
        r = mobilesync_push(run->mobilesync, kids, true, 0, on_remap, &m);
        if (r != 0)
                return outcome(run, c, r);
        r = mirror_take(p, kids, &m);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_ops; i++) {
                p->ops[i].done_device = p->ops[i].kind == OP_SYNC && p->ops[i].to_device;
                run->p.files_done += p->ops[i].done_device || p->ops[i].kind == OP_DELETE_DEVICE;
        }
        sync_report(run, IDS_PHASE_COPYING, true);
        return 0;
}

/* ---- apply: the computer -------------------------------------------------------------------- */

static int64_t stat_mtime_ns(const struct stat *st) {
        return (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* A new file's path below the root: contacts "<name>.vcf", events
 * "<calendar>/<summary> <date>.ics". */
static int new_key(Pim *p, const PimItem *it, char **ret) {
        char name[256], dir[256], buf[512], stem[300];
        const char *start = pim_get(it, "start");

        if (p->cls->kind == PIM_CONTACT) {
                export_safe_name(pim_display_name(it, buf, sizeof(buf)), p->cls->ext, "contact",
                                 name, sizeof(name));
                *ret = strdup(name);
                return *ret ? 0 : -ENOMEM;
        }
        export_safe_name(pim_get(it, "calendar") ?: "Calendar", NULL, "Calendar", dir, sizeof(dir));
        snprintf(stem, sizeof(stem), "%.200s %.10s", pim_display_name(it, buf, sizeof(buf)),
                 start ? start : "");
        export_safe_name(stem, p->cls->ext, "event", name, sizeof(name));
        return asprintf(ret, "%s/%s", dir, name) < 0 ? -ENOMEM : 0;
}

static void new_uid(PimItem *it) {
        char rnd[25];

        if (it->uid)
                return;
        fs_random_chars(rnd, 24);
        (void) asprintf(&it->uid, "idevicesync-%s", rnd);
}

/* Write o's item into a temporary file beside where it goes (o->tmp), not yet durable. */
static int prepare_host(SyncRun *run, Pim *p, Op *o) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(closep) int dir = -EBADF, fd = -EBADF;
        const char *name;
        size_t len = 0;
        int r;

        new_uid(o->item);
        r = p->cls->kind == PIM_CONTACT ? pim_vcard_write(o->item, &text, &len)
                                        : pim_ical_write(o->item, &text, &len);
        if (r < 0)
                return r;
        r = sync_check_space(run, p->root_fd, len);
        if (r < 0)
                return r;
        if (!o->key && (r = new_key(p, o->item, &o->key)) < 0)
                return r;
        dir = fs_open_parent_beneath(p->root_fd, o->key, true, &name);
        if (dir < 0)
                return dir == -ENOSPC ? IDS_E_DISK_FULL : dir;
        snprintf(o->tmp, sizeof(o->tmp), TMP_PREFIX);
        fs_random_chars(o->tmp + strlen(o->tmp), 12);
        fd = openat(dir, o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                o->tmp[0] = 0;
                return -errno;
        }
        r = fs_write_all(fd, text, len);
        if (r < 0) {
                (void) unlinkat(dir, o->tmp, 0);
                o->tmp[0] = 0;
                return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
        }
        return 0;
}

/* Put the durable temporary file of o in place: what the scan saw there goes to the trash
 * first (unless it changed since: then nothing happens, 0); a new file whose name is taken
 * becomes "Name (2).vcf". 1 placed. */
static int place_host(SyncRun *run, Pim *p, Op *o) {
        _cleanup_(closep) int dir = -EBADF;
        _cleanup_free_ char *key = strdup(o->key);
        const char *name;
        struct stat st;
        int r;

        if (!key)
                return -ENOMEM;
        dir = fs_open_parent_beneath(p->root_fd, key, false, &name);
        if (dir < 0)
                return dir;
        if (o->host) {
                if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
                    (uint64_t) st.st_size != o->host->size ||
                    stat_mtime_ns(&st) != o->host->mtime_ns) {
                        (void) unlinkat(dir, o->tmp, 0);
                        return 0;       /* changed since the scan: the next sync sees it */
                }
                r = sync_trash_move(run, dir, name, p->cls->category, "", key);
                if (r < 0)
                        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
        }
        for (unsigned k = 2;; k++) {
                _cleanup_free_ char *alt = NULL;
                const char *dot;

                if (renameat2(dir, o->tmp, dir, name, RENAME_NOREPLACE) == 0)
                        break;
                if (errno != EEXIST || o->host || k > 999)
                        return -errno;
                dot = strrchr(o->key, '.');
                if (asprintf(&alt, "%.*s (%u)%s", (int) (dot - o->key), o->key, k, dot) < 0)
                        return -ENOMEM;
                free(key);
                key = TAKE_PTR(alt);
                name = strrchr(key, '/') ? strrchr(key, '/') + 1 : key;
        }
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        free(o->key);
        o->key = TAKE_PTR(key);
        o->tmp[0] = 0;
        o->host_size = (uint64_t) st.st_size;
        o->host_mtime_ns = stat_mtime_ns(&st);
        return 1;
}

static int trash_host(SyncRun *run, Pim *p, Op *o) {
        _cleanup_(closep) int dir = -EBADF;
        const char *name;
        struct stat st;

        dir = fs_open_parent_beneath(p->root_fd, o->host->key, false, &name);
        if (dir < 0)
                return dir == -ENOENT ? 0 : dir;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t) st.st_size != o->host->size || stat_mtime_ns(&st) != o->host->mtime_ns)
                return 0;               /* changed since the scan: kept */
        return sync_trash_move(run, dir, name, p->cls->category, "", o->host->key) < 0 ? -EIO : 1;
}

static int write_computer(SyncRun *run, SyncCat *c, Pim *p) {
        int r;

        r = open_root(run, p, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_ops; i++) {
                Op *o = &p->ops[i];

                if (o->kind == OP_SYNC && o->to_host) {
                        r = sync_check_cancel(run);
                        if (r == 0)
                                r = prepare_host(run, p, o);
                        if (r < 0 || r > 0)
                                return r;
                }
        }
        /* Every new content durable before any of it takes a name. */
        if (syncfs(p->root_fd) < 0)
                return -errno;
        for (size_t i = 0; i < p->n_ops; i++) {
                Op *o = &p->ops[i];

                if (o->kind == OP_SYNC && o->to_host && o->tmp[0]) {
                        r = place_host(run, p, o);
                        if (r < 0)
                                return r;
                        o->done_host = r == 1;
                        c->out->bytes_in += r == 1 ? o->host_size : 0;
                        run->p.files_done++;
                        run->p.bytes_done += r == 1 ? o->host_size : 0;
                        sync_report(run, IDS_PHASE_COPYING, true);
                } else if (o->kind == OP_TRASH_HOST) {
                        r = trash_host(run, p, o);
                        if (r < 0)
                                return r;
                        o->done_host = r == 1;
                }
        }
        /* The names durable before the rows say so. */
        if (syncfs(p->root_fd) < 0)
                return -errno;
        return 0;
}

/* ---- apply: the record of what both sides now hold ------------------------------------------ */

static bool row_kept(const Pim *p, const Row *w) {
        for (size_t i = 0; i < p->n_ops; i++) {
                const Op *o = &p->ops[i];

                if (o->row != w)
                        continue;
                switch (o->kind) {
                case OP_KEEP:
                case OP_HOLD:
                        return true;
                case OP_SYNC:
                        /* A file that changed while we wrote: the old row stays the base. */
                        return o->to_host && !o->done_host;
                case OP_TRASH_HOST:
                        return !o->done_host;
                default:
                        return false;
                }
        }
        return false;           /* split into new items, or dropped */
}

static int put_records(const Pim *p, SyncDb *db) {
        int r = sync_db_pim_clear(db, p->cls->category);

        for (size_t i = 0; r >= 0 && i < p->cur.n; i++) {
                const Rec *x = &p->cur.v[i];
                char *bin = NULL;
                uint32_t len = 0;

                if (x->gone || !x->data)
                        continue;
                plist_to_bin(x->data, &bin, &len);
                if (!bin)
                        return -ENOMEM;
                r = sync_db_pim_put(db, p->cls->category, x->id, x->entity, x->parent, bin, len);
                free(bin);
        }
        return r;
}

static int commit_state(SyncRun *run, Pim *p) {
        char key[64];
        int r;

        r = sync_db_begin(run->db);
        if (r < 0)
                return r;
        for (size_t i = 0; r >= 0 && i < p->n_rows; i++) {
                Row *w = &p->rows[i];
                bool kept = row_kept(p, w);

                if (!kept)
                        r = sync_db_doc_delete(run->db, p->cls->category, "", w->doc.key);
                /* A held item that is no longer held (decided, or both sides agree again). */
                if (r >= 0 && w->held) {
                        bool still = false;

                        for (size_t k = 0; k < p->n_ops; k++)
                                still = still || (p->ops[k].row == w && p->ops[k].kind == OP_HOLD);
                        if (!still)
                                r = sync_db_held_delete(run->db, w->held_id);
                }
        }
        for (size_t i = 0; r >= 0 && i < p->n_ops; i++) {
                Op *o = &p->ops[i];

                if (o->kind == OP_HOLD) {
                        const Row *w = o->row;

                        r = sync_db_held_add(run->db, p->cls->category, "", w->doc.key,
                                             w->doc.host_path, o->host ? "computer" : "device",
                                             o->host ? o->host->size : w->doc.host_size,
                                             run->now_usec, NULL);
                        continue;
                }
                if (o->kind != OP_SYNC || (o->to_host && !o->done_host) || !o->key ||
                    !o->device_id)
                        continue;
                {
                        SyncDoc d = {
                                .key = o->key, .device_path = o->device_id, .host_path = o->key,
                                .host_size = o->done_host ? o->host_size : o->host->size,
                                .host_mtime_ns = o->done_host ? o->host_mtime_ns : o->host->mtime_ns,
                        };

                        snprintf(d.hash, sizeof(d.hash), "%s", o->hash);
                        r = sync_db_doc_put(run->db, p->cls->category, "", &d, run->now_usec);
                }
        }
        if (r >= 0)
                r = put_records(p, run->db);
        if (r >= 0) {
                meta_key(p->cls, "device-anchor", key, sizeof(key));
                r = sync_db_meta_set(run->db, key, p->start.device_anchor ?: "");
        }
        if (r >= 0) {
                meta_key(p->cls, "computer-anchor", key, sizeof(key));
                r = sync_db_meta_set(run->db, key, p->computer_anchor);
        }
        if (r >= 0 && (p->first || p->question_asked))
                r = sync_db_question_delete(run->db, p->cls->category);
        if (r < 0) {
                sync_db_rollback(run->db);
                return r;
        }
        return sync_db_commit(run->db);
}

/* <library>/contacts.vcf: every contact file, one after the other (read-only for people:
 * it is rewritten after each sync; edits belong in the per-contact files). */
static int write_all_contacts(SyncRun *run, Pim *p) {
        _cleanup_(closep) int lib = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        char **names = NULL;
        size_t n = 0;
        FILE *f;
        int r;

        lib = sync_open_library(run);
        if (lib < 0)
                return lib;
        r = fs_list_names(p->root_fd, &names, &n);
        if (r < 0)
                return r;
        f = open_memstream(&buf, &len);
        if (!f) {
                fs_names_free(names, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_(closep) int fd = -EBADF;
                char chunk[16384];
                ssize_t k;

                if (!wanted_name(p->cls, names[i]))
                        continue;
                fd = openat(p->root_fd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        continue;
                while ((k = read(fd, chunk, sizeof(chunk))) > 0)
                        fwrite(chunk, 1, (size_t) k, f);
        }
        fs_names_free(names, n);
        if (fclose(f) != 0)
                return -ENOMEM;
        return fs_write_atomic_beneath(lib, "contacts.vcf", buf ?: "", len, true);
}

static int pim_apply(SyncRun *run, SyncCat *c) {
        Pim *p = c->state;
        int r;

        if (!p || !p->started)
                return 0;
        for (size_t i = 0; i < p->n_ops; i++)
                run->p.files_total += (p->ops[i].kind == OP_SYNC && p->ops[i].to_device) +
                                      (p->ops[i].kind == OP_SYNC && p->ops[i].to_host) +
                                      (p->ops[i].kind == OP_DELETE_DEVICE ||
                                       p->ops[i].kind == OP_TRASH_HOST);
        r = push_device(run, c, p);
        if (r == 0)
                r = write_computer(run, c, p);
        if (r == 0) {
                r = mobilesync_finish(run->mobilesync);
                if (r != 0)
                        r = outcome(run, c, r);
                else
                        p->started = false;
        }
        if (r != 0) {
                abandon(run, p, "The computer stopped the sync");
                return r;
        }
        /* The phone finished: what is left is ours alone (a crash here is a slow sync next
         * time, which pairs everything up again). */
        sync_report(run, IDS_PHASE_COMMITTING, true);
        r = commit_state(run, p);
        if (r < 0)
                return r;
        if (p->cls->kind == PIM_CONTACT) {
                int k = write_all_contacts(run, p);

                if (k < 0)
                        ids_debug("sync: cannot write contacts.vcf: %s", strerror(-k));
        }
        if (c->out->held > 0)
                append_reason(c, "%" PRIu64 " deletion%s wait%s for a decision.", c->out->held,
                              c->out->held == 1 ? "" : "s", c->out->held == 1 ? "s" : "");
        if (c->out->conflicts > 0)
                append_reason(c, "%" PRIu64 " changed on both sides: both versions kept.",
                              c->out->conflicts);
        return 0;
}

static const char *mode_contacts(const ids_sync_options *o) {
        return o->contacts == IDS_SYNC_EXPORT_TWO_WAY ? "two-way" : "no";
}

static const char *mode_calendars(const ids_sync_options *o) {
        return o->calendars == IDS_SYNC_EXPORT_TWO_WAY ? "two-way" : "no";
}

const SyncCategoryType sync_category_contacts_two_way = {
        .name = "contacts",
        .userdata = &class_contacts,
        .mode = mode_contacts,
        .scan_device = pim_scan_device,
        .scan_host = pim_scan_host,
        .plan = pim_plan,
        .apply = pim_apply,
        .free_state = pim_free_state,
};

const SyncCategoryType sync_category_calendars_two_way = {
        .name = "calendars",
        .userdata = &class_calendars,
        .mode = mode_calendars,
        .scan_device = pim_scan_device,
        .scan_host = pim_scan_host,
        .plan = pim_plan,
        .apply = pim_apply,
        .free_state = pim_free_state,
};
