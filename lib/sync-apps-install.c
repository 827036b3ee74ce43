/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Apps=install (issue 16, sync-protocols.md §4): the administrator's IPA files go onto the
 * phone, each once. sync-apps.c runs this beside its inventory: it scans AppsDir, plans,
 * and applies before the inventory is written, so apps.json shows what was installed.
 *
 * An IPA is known by the SHA-256 of its content. What happened to each content is a
 * sync.db meta row:
 *
 *   key    "apps-install/<sha256 hex>"
 *   value  "<state>\t<bundle id>\t<IPA file name>\t<app name>\t<detail>"
 *          state "installed" (detail empty) or "failed" (detail "<Error>: <ErrorDescription>"
 *          as the device sent them, or why the computer could not read the IPA); tabs and
 *          line breaks in any field become spaces
 *
 * so an IPA the phone refused is not offered again until the file changes (a new hash),
 * and a row whose content is no longer in AppsDir says what was installed from it. So that
 * a multi-GB IPA is not read again at every plug, its hash is remembered too:
 *
 *   key    "apps-install-file/<IPA file name>"
 *   value  "<size>\t<mtime ns>\t<ctime ns>\t<inode>\t<sha256 hex>"
 *
 * and used while the file's size, times and inode are the same (a write changes ctime).
 *
 * Install: the file is uploaded over AFC to /PublicStaging/<file name> (the directory made
 * first, the file removed after), then installation_proxy Install with PackagePath
 * "PublicStaging/<file name>"; the status stream (PercentComplete) is the job's progress,
 * and it ends with Status "Complete" or an Error with its ErrorDescription ("…: 0xe8008015
 * (A valid provisioning profile for this executable was not found.)", Developer Mode, …),
 * which becomes the category's reason. The command is spoken over property_list_service
 * directly rather than through instproxy_install(): libimobiledevice 1.3.0 runs that one
 * on a thread of its own whose end cannot be waited for when the cable is pulled.
 *
 * The bundle id and name come from the IPA's Payload/<X>.app/Info.plist, read on the
 * computer with libzip (not the emulator's reader: neither side can hide the other's
 * bugs), so a dry run can name what it would install, and an IPA replaced by a newer
 * build of the same app is an update, not an uninstall.
 *
 * Uninstall is never automatic: an app installed from an IPA that is no longer in AppsDir
 * becomes a held deletion of category "apps", scope "", key = bundle id, side "device",
 * path = the app's name. "approve" runs installation_proxy Uninstall; "reject" forgets the
 * app (it stays on the phone, and is not asked about again). No question is asked while
 * another IPA in AppsDir names the same bundle id: one installed from there (an update)
 * takes the old row's place, and one the phone refused leaves the old row as it is (the
 * app is still wanted). An app the phone no longer lists is forgotten without a question.
 * The Deletions= policy does not apply: uninstalling always waits for a person.
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

#include <libimobiledevice/afc.h>
#include <libimobiledevice/property_list_service.h>
#include <plist/plist.h>
#include <zip.h>

#include "cancel.h"
#include "dl-message.h"
#include "fs-util.h"
#include "plist-util.h"
#include "sync-internal.h"
#include "util.h"

#define META_PREFIX "apps-install/"
#define HASH_PREFIX "apps-install-file/"
#define HELD_CATEGORY "apps"
#define DEFAULT_DIR "apps-to-install"
#define STAGING_DIR "/PublicStaging"
#define IPAS_MAX 1000u                          /* files in AppsDir looked at */
#define INFO_MAX (4u << 20)                     /* an Info.plist is a few KiB */
#define FIELD_MAX 512u
#define CHUNK (256u << 10)
#define SILENCE_S 600u                          /* installd verifies big apps for minutes */

typedef struct Ipa {
        char *name;                             /* file name in AppsDir */
        uint64_t size;
        int64_t mtime_ns, ctime_ns;
        dev_t dev;
        ino_t ino;
        char hash[SYNC_HASH_HEX];
        bool hash_remembered;                   /* from its HASH_PREFIX row, not read */
        char *bundle_id, *app_name;             /* from Info.plist; NULL if unreadable */
        char *problem;                          /* why it is not an IPA we can install */
        bool known;                             /* a row has its hash: nothing to do */
        bool install;                           /* the plan installs it */
        bool on_phone;                          /* installed: before, or by this run */
} Ipa;

typedef enum RecordAction {
        REC_KEEP,
        REC_FORGET,                             /* drop the row (and its held item) */
        REC_HOLD,                               /* ask before uninstalling */
        REC_UNINSTALL,                          /* approved */
} RecordAction;

typedef struct Record {
        char *key;                              /* META_PREFIX + hash */
        bool installed;
        char *bundle_id, *ipa, *app_name, *detail;
        RecordAction action;
        bool replaced;                          /* forgotten because another IPA in AppsDir
                                                 * provides its app (an update) */
        const SyncHeld *held;                   /* borrowed from AppsInstall.held */
} Record;

struct AppsInstall {
        Ipa *ipas;
        size_t n_ipas, ipas_allocated;
        Record *recs;
        size_t n_recs, recs_allocated;
        SyncHeld *held;
        size_t n_held, held_allocated;
        bool *held_done;                        /* per held item: the plan ends it */
        char **stale;                           /* HASH_PREFIX keys to drop */
        size_t n_stale, stale_allocated;
        int dir_fd;
        bool dir_missing;
        /* the plan's and the run's numbers, for the reason */
        uint64_t to_install, installed, failed, earlier_failed, uninstall, waiting;
        uint64_t uninstall_failed, skipped;
        bool applied;                           /* apply ran (the reason: done, not planned) */
        char first_failure[FIELD_MAX];          /* "<file>: <detail>" */
};

static void ipa_done(Ipa *i) {
        free(i->name);
        free(i->bundle_id);
        free(i->app_name);
        free(i->problem);
}

static void record_done(Record *r) {
        free(r->key);
        free(r->bundle_id);
        free(r->ipa);
        free(r->app_name);
        free(r->detail);
}

AppsInstall *apps_install_free(AppsInstall *ai) {
        if (!ai)
                return NULL;
        for (size_t i = 0; i < ai->n_ipas; i++)
                ipa_done(&ai->ipas[i]);
        free(ai->ipas);
        for (size_t i = 0; i < ai->n_recs; i++)
                record_done(&ai->recs[i]);
        free(ai->recs);
        for (size_t i = 0; i < ai->n_held; i++)
                sync_held_done(&ai->held[i]);
        free(ai->held);
        free(ai->held_done);
        for (size_t i = 0; i < ai->n_stale; i++)
                free(ai->stale[i]);
        free(ai->stale);
        if (ai->dir_fd >= 0)
                close(ai->dir_fd);
        free(ai);
        return NULL;
}

/* s with tabs and line breaks as spaces, at most FIELD_MAX bytes: one field of a row. */
static char *field_dup(const char *s) {
        size_t n = s ? strnlen(s, FIELD_MAX) : 0;
        char *d = malloc(n + 1);

        if (!d)
                return NULL;
        for (size_t i = 0; i < n; i++)
                d[i] = s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
        d[n] = 0;
        return d;
}

/* ---- the computer's side: AppsDir --------------------------------------------------------- */

/* Whether name is Payload/<X>.app/Info.plist. */
static bool is_info_plist(const char *name) {
        const char *app, *slash;

        if (strncmp(name, "Payload/", 8) != 0)
                return false;
        slash = strchr(name + 8, '/');
        if (!slash || strcmp(slash + 1, "Info.plist") != 0 || slash - (name + 8) < 5)
                return false;
        app = slash - 4;
        return memcmp(app, ".app", 4) == 0;
}

static char *plist_string(plist_t d, const char *key) {
        plist_t v = plist_dict_get_item(d, key);
        char *s = NULL;

        if (!v || plist_get_node_type(v) != PLIST_STRING)
                return NULL;
        plist_get_string_val(v, &s);
        if (s && !s[0]) {
                free(s);
                return NULL;
        }
        return s;
}

/* The bundle id and name of the IPA open at fd (not consumed). 0, or a sentence in
 * ipa->problem (1) when it is not an IPA with a bundle id, -errno. */
static int ipa_read_info(int fd, Ipa *ipa) {
        _cleanup_free_ char *buf = NULL;
        zip_t *z = NULL;
        zip_int64_t n;
        zip_stat_t st;
        plist_t info = NULL;
        char *id, *name;
        int zfd, err = 0, r = 1;

        zfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (zfd < 0)
                return -errno;
        z = zip_fdopen(zfd, ZIP_RDONLY, &err);
        if (!z) {
                close(zfd);
                ipa->problem = strdup("not an IPA (no ZIP archive)");
                return ipa->problem ? 1 : -ENOMEM;
        }
        n = zip_get_num_entries(z, 0);
        for (zip_int64_t i = 0; i < n; i++) {
                const char *e = zip_get_name(z, (zip_uint64_t) i, 0);
                zip_file_t *f;

                if (!e || !is_info_plist(e))
                        continue;
                zip_stat_init(&st);
                if (zip_stat_index(z, (zip_uint64_t) i, 0, &st) < 0 ||
                    !(st.valid & ZIP_STAT_SIZE) || st.size > INFO_MAX)
                        break;
                buf = malloc(st.size + 1);
                if (!buf) {
                        zip_discard(z);
                        return -ENOMEM;
                }
                f = zip_fopen_index(z, (zip_uint64_t) i, 0);
                if (f && zip_fread(f, buf, st.size) == (zip_int64_t) st.size)
                        plist_from_memory(buf, (uint32_t) st.size, &info);
                if (f)
                        zip_fclose(f);
                break;
        }
        zip_discard(z);
        /* A NUL inside a key or string makes libplist 2.2.0 abort: such a file is no IPA. */
        if (info && plist_get_node_type(info) == PLIST_DICT && plist_dict_keys_safe(info)) {
                id = plist_string(info, "CFBundleIdentifier");
                name = plist_string(info, "CFBundleDisplayName") ?:
                       plist_string(info, "CFBundleName");
                if (id && sync_name_ok(id)) {
                        ipa->bundle_id = field_dup(id);
                        ipa->app_name = field_dup(name ?: id);
                        r = ipa->bundle_id && ipa->app_name ? 0 : -ENOMEM;
                }
                free(id);
                free(name);
        }
        if (info)
                plist_free(info);
        if (r == 1) {
                ipa->problem = strdup("not an IPA (no Payload/*.app/Info.plist with a "
                                      "CFBundleIdentifier)");
                if (!ipa->problem)
                        r = -ENOMEM;
        }
        return r;
}

static int open_dir(SyncRun *run) {
        _cleanup_(closep) int lib = -EBADF;
        const char *dir = run->o->apps_dir;
        int fd;

        if (dir && dir[0] == '/') {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                return fd < 0 ? -errno : fd;
        }
        lib = open(run->library_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lib < 0)
                return -errno;
        return fs_open_beneath(lib, dir && dir[0] ? dir : DEFAULT_DIR, O_RDONLY | O_DIRECTORY,
                               0);
}

static bool has_ipa_suffix(const char *name) {
        size_t n = strlen(name);

        return n > 4 && strcasecmp(name + n - 4, ".ipa") == 0;
}

/* The HASH_PREFIX row of ipa's name, when it matches the file's size, times and inode:
 * the hash in ipa->hash (1), else 0. */
static int remembered_hash(SyncRun *run, Ipa *ipa) {
        _cleanup_free_ char *key = NULL, *v = NULL;
        char want[128];
        size_t n;
        int r;

        if (!run->db)
                return 0;
        if (asprintf(&key, HASH_PREFIX "%s", ipa->name) < 0)
                return -ENOMEM;
        r = sync_db_meta_get(run->db, key, &v);
        if (r <= 0)
                return r;
        n = (size_t) snprintf(want, sizeof(want), "%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64
                              "\t", ipa->size, ipa->mtime_ns, ipa->ctime_ns, (uint64_t) ipa->ino);
        if (strncmp(v, want, n) != 0 || strlen(v + n) != SYNC_HASH_HEX - 1 ||
            strspn(v + n, "0123456789abcdef") != SYNC_HASH_HEX - 1)
                return 0;
        memcpy(ipa->hash, v + n, SYNC_HASH_HEX);
        ipa->hash_remembered = true;
        return 1;
}

static int scan_dir(SyncRun *run, AppsInstall *ai, ids_sync_category *out) {
        char **names = NULL;
        size_t n = 0;
        int r;

        ai->dir_fd = open_dir(run);
        if (ai->dir_fd == -ENOENT) {
                ai->dir_missing = true;         /* nothing to install yet */
                return 0;
        }
        if (ai->dir_fd < 0)
                return ai->dir_fd;
        r = fs_list_names(ai->dir_fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n && r >= 0; k++) {
                _cleanup_(closep) int fd = -EBADF;
                struct stat st;
                Ipa *ipa;

                if (names[k][0] == '.' || !has_ipa_suffix(names[k]))
                        continue;
                /* The category's refused counter is for IPAs the phone refuses; what the
                 * computer passes over is said in the reason. */
                if (!sync_name_ok(names[k]) || ai->n_ipas >= IPAS_MAX) {
                        ai->skipped++;
                        continue;
                }
                fd = openat(ai->dir_fd, names[k], O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
                if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        if (fd < 0 && errno != ELOOP && errno != ENOENT)
                                ids_debug("apps: cannot open '%s': %m", names[k]);
                        if (!(fd < 0 && errno == ENOENT))
                                ai->skipped++;          /* a symlink, a directory, … */
                        continue;
                }
                r = sync_grow((void **) &ai->ipas, &ai->ipas_allocated, ai->n_ipas,
                              sizeof(*ai->ipas), 8);
                if (r < 0)
                        break;
                ipa = &ai->ipas[ai->n_ipas];
                *ipa = (Ipa) {
                        .name = strdup(names[k]),
                        .size = (uint64_t) st.st_size,
                        .mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
                        .ctime_ns = (int64_t) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec,
                        .dev = st.st_dev,
                        .ino = st.st_ino,
                };
                ai->n_ipas++;
                if (!ipa->name) {
                        r = -ENOMEM;
                        break;
                }
                r = remembered_hash(run, ipa);
                if (r == 0)
                        r = sync_hash_fd(fd, ipa->hash);
                if (r >= 0)
                        r = ipa_read_info(fd, ipa);
                if (r > 0)
                        r = 0;                  /* a problem is the plan's business */
                run->p.files_total++;
                sync_report(run, IDS_PHASE_SCANNING, false);
        }
        fs_names_free(names, n);
        return r < 0 ? r : 0;
}

/* "installed\tid\tipa\tname\tdetail" into a Record. */
static int add_record(const char *key, const char *value, void *userdata) {
        AppsInstall *ai = userdata;
        char *f[5] = {};
        const char *p = value;
        Record *rec;
        int r;

        for (size_t i = 0; i < 5; i++) {
                const char *t = i < 4 ? strchr(p, '\t') : NULL;
                size_t len = t ? (size_t) (t - p) : strlen(p);

                f[i] = strndup(p, len);
                if (!f[i]) {
                        for (size_t k = 0; k < i; k++)
                                free(f[k]);
                        return -ENOMEM;
                }
                p = t ? t + 1 : p + len;
        }
        r = sync_grow((void **) &ai->recs, &ai->recs_allocated, ai->n_recs, sizeof(*ai->recs), 8);
        if (r < 0) {
                for (size_t k = 0; k < 5; k++)
                        free(f[k]);
                return r;
        }
        rec = &ai->recs[ai->n_recs++];
        *rec = (Record) {
                .key = strdup(key),
                .installed = strcmp(f[0], "installed") == 0,
                .bundle_id = f[1],
                .ipa = f[2],
                .app_name = f[3],
                .detail = f[4],
        };
        free(f[0]);
        return rec->key ? 0 : -ENOMEM;
}

static int add_held(const SyncHeld *h, void *userdata) {
        AppsInstall *ai = userdata;
        SyncHeld *c;
        int r;

        r = sync_grow((void **) &ai->held, &ai->held_allocated, ai->n_held, sizeof(*ai->held), 4);
        if (r < 0)
                return r;
        c = &ai->held[ai->n_held];
        *c = *h;
        c->pub.scope = strdup(h->pub.scope);
        c->pub.path = strdup(h->pub.path);
        c->key = strdup(h->key);
        ai->n_held++;
        return c->pub.scope && c->pub.path && c->key ? 0 : -ENOMEM;
}

int apps_install_scan(SyncRun *run, ids_sync_category *out, AppsInstall **ret) {
        AppsInstall *ai = calloc(1, sizeof(*ai));
        int r;

        if (!ai)
                return -ENOMEM;
        ai->dir_fd = -EBADF;
        *ret = ai;                              /* freed by the caller, also on failure */
        r = scan_dir(run, ai, out);
        if (r < 0)
                return r;
        if (run->db) {
                r = sync_db_meta_list(run->db, META_PREFIX, add_record, ai);
                if (r >= 0)
                        r = sync_db_held_list(run->db, HELD_CATEGORY, false, add_held, ai);
                if (r < 0)
                        return r;
        }
        /* This run's answers over what sync.db says (a dry run records none). */
        for (size_t i = 0; i < run->o->n_decisions; i++) {
                const ids_sync_decision *x = &run->o->decisions[i];

                for (size_t k = 0; !x->category && k < ai->n_held; k++)
                        if (ai->held[k].pub.id == x->item)
                                snprintf(ai->held[k].decision, sizeof(ai->held[k].decision),
                                         "%s", x->choice);
        }
        ai->held_done = calloc(ai->n_held + 1, sizeof(bool));
        return ai->held_done ? 0 : -ENOMEM;
}

/* ---- plan ------------------------------------------------------------------------------ */

static const Record *record_of_hash(const AppsInstall *ai, const char *hash) {
        size_t pl = strlen(META_PREFIX);

        for (size_t i = 0; i < ai->n_recs; i++)
                if (strcmp(ai->recs[i].key + pl, hash) == 0)
                        return &ai->recs[i];
        return NULL;
}

static const Ipa *ipa_of_hash(const AppsInstall *ai, const char *hash) {
        for (size_t i = 0; i < ai->n_ipas; i++)
                if (strcmp(ai->ipas[i].hash, hash) == 0)
                        return &ai->ipas[i];
        return NULL;
}

/* Whether an IPA in AppsDir provides bundle id: installed from it, or (planning) about
 * to be. One the phone refused provides nothing: its app is still the old IPA's. */
static bool provided(const AppsInstall *ai, const char *id, bool planning) {
        for (size_t i = 0; i < ai->n_ipas; i++) {
                const Ipa *x = &ai->ipas[i];

                if (x->bundle_id && strcmp(x->bundle_id, id) == 0 &&
                    (x->on_phone || (planning && x->install && !x->problem)))
                        return true;
        }
        return false;
}

/* Whether an IPA in AppsDir names bundle id at all (the administrator still wants it). */
static bool named(const AppsInstall *ai, const char *id) {
        for (size_t i = 0; i < ai->n_ipas; i++)
                if (ai->ipas[i].bundle_id && strcmp(ai->ipas[i].bundle_id, id) == 0)
                        return true;
        return false;
}

static ssize_t held_of(const AppsInstall *ai, const char *id) {
        for (size_t i = 0; i < ai->n_held; i++)
                if (strcmp(ai->held[i].key, id) == 0)
                        return (ssize_t) i;
        return -1;
}

int apps_install_plan(SyncRun *run, AppsInstall *ai, bool (*on_device)(void *, const char *),
                      void *userdata, ids_sync_category *out) {
        for (size_t i = 0; i < ai->n_ipas; i++) {
                Ipa *ipa = &ai->ipas[i];
                const Record *rec = record_of_hash(ai, ipa->hash);

                if (rec) {
                        ipa->known = true;
                        ipa->on_phone = rec->installed;
                        ai->earlier_failed += !rec->installed;
                        continue;
                }
                /* The same content under a second name is installed once. */
                for (size_t k = 0; k < i && !ipa->known; k++)
                        ipa->known = ai->ipas[k].install &&
                                     strcmp(ai->ipas[k].hash, ipa->hash) == 0;
                if (ipa->known)
                        continue;
                ipa->install = true;            /* a problem is recorded, not sent */
                ai->to_install++;
                if (!ipa->problem) {
                        out->files_out++;
                        out->bytes_out += ipa->size;
                }
        }
        for (size_t i = 0; i < ai->n_recs; i++) {
                Record *rec = &ai->recs[i];
                ssize_t h = rec->bundle_id[0] ? held_of(ai, rec->bundle_id) : -1;

                rec->held = h >= 0 ? &ai->held[h] : NULL;
                if (ipa_of_hash(ai, rec->key + strlen(META_PREFIX)))
                        rec->action = REC_KEEP;
                else if (!rec->installed || !rec->bundle_id[0] ||
                         !on_device(userdata, rec->bundle_id))
                        /* a failure whose file is gone, an app the phone no longer has */
                        rec->action = REC_FORGET;
                else if (provided(ai, rec->bundle_id, true)) {
                        rec->action = REC_FORGET;       /* an update: the newer IPA's now */
                        rec->replaced = true;
                } else if (named(ai, rec->bundle_id))
                        rec->action = REC_KEEP;         /* a newer IPA the phone refused */
                else if (rec->held && strcmp(rec->held->decision, "approve") == 0)
                        rec->action = REC_UNINSTALL;
                else if (rec->held && strcmp(rec->held->decision, "reject") == 0)
                        rec->action = REC_FORGET;
                else
                        rec->action = REC_HOLD;
        }
        /* One question (and one uninstall) per app, however many IPAs it came from. */
        for (size_t i = 0; i < ai->n_recs; i++) {
                Record *rec = &ai->recs[i];
                bool first = true;

                if (rec->action != REC_HOLD && rec->action != REC_UNINSTALL)
                        continue;
                for (size_t k = 0; k < i; k++)
                        if (ai->recs[k].action == rec->action &&
                            strcmp(ai->recs[k].bundle_id, rec->bundle_id) == 0)
                                first = false;
                if (!first)
                        continue;
                if (rec->action == REC_HOLD) {
                        out->held++;
                        ai->waiting++;
                } else
                        ai->uninstall++;
        }
        /* A held item whose app is provided again, or that no row asks for any more, ends. */
        for (size_t k = 0; k < ai->n_held; k++) {
                bool asked = false;

                for (size_t i = 0; i < ai->n_recs; i++)
                        if (ai->recs[i].held == &ai->held[k] &&
                            (ai->recs[i].action == REC_HOLD ||
                             ai->recs[i].action == REC_UNINSTALL))
                                asked = true;
                ai->held_done[k] = !asked;
        }
        return 0;
}

/* ---- the device: upload, Install, Uninstall -------------------------------------------- */

static int plc_new(idevice_t device, lockdownd_service_descriptor_t svc, void **ret) {
        property_list_service_client_t c = NULL;

        if (property_list_service_client_new(device, svc, &c) != PROPERTY_LIST_SERVICE_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret = c;
        return 0;
}

/* Run one installation_proxy command (Install or Uninstall) to its end: 0 on "Complete";
 * IDS_E_DEVICE_ERROR with "<Error>: <ErrorDescription>" in error when the device refused;
 * IDS_E_CANCELLED, IDS_E_DISCONNECTED, IDS_E_TIMEOUT, IDS_E_PROTOCOL, -errno. */
static int instproxy_command(SyncRun *run, const char *command, const char *key,
                             const char *value, char *error, size_t error_size) {
        property_list_service_client_t plc = NULL;
        void *client = NULL;
        plist_t cmd;
        unsigned silent = 0;
        int fd = -1, r;

        r = session_connect_service(run->session, "com.apple.mobile.installation_proxy",
                                    run->cancel, plc_new, &client, &fd);
        plc = client;
        if (r != 0)
                goto out;
        cmd = plist_new_dict();
        plist_dict_set_item(cmd, "Command", plist_new_string(command));
        plist_dict_set_item(cmd, key, plist_new_string(value));
        plist_dict_set_item(cmd, "ClientOptions", plist_new_dict());
        if (property_list_service_send_xml_plist(plc, cmd) != PROPERTY_LIST_SERVICE_E_SUCCESS)
                r = IDS_E_DISCONNECTED;
        plist_free(cmd);
        while (r == 0) {
                property_list_service_error_t e;
                plist_t p = NULL, v;
                char *status = NULL, *err = NULL, *desc = NULL;

                e = property_list_service_receive_plist_with_timeout(plc, &p, 1000);
                if (sync_check_cancel(run)) {
                        r = IDS_E_CANCELLED;
                } else if (e == PROPERTY_LIST_SERVICE_E_RECEIVE_TIMEOUT && !p) {
                        if (dl_stream_dead(fd))
                                r = IDS_E_DISCONNECTED;
                        else if (++silent >= SILENCE_S)
                                r = IDS_E_TIMEOUT;
                } else if (e == PROPERTY_LIST_SERVICE_E_PLIST_ERROR) {
                        r = IDS_E_PROTOCOL;
                } else if (e != PROPERTY_LIST_SERVICE_E_SUCCESS || !p) {
                        r = IDS_E_DISCONNECTED;
                } else if (plist_get_node_type(p) != PLIST_DICT || !plist_dict_keys_safe(p)) {
                        r = IDS_E_PROTOCOL;     /* see plist-util.h */
                } else {
                        silent = 0;
                        err = plist_string(p, "Error");
                        desc = plist_string(p, "ErrorDescription");
                        status = plist_string(p, "Status");
                        v = plist_dict_get_item(p, "PercentComplete");
                        if (err) {
                                snprintf(error, error_size, "%.120s: %s", err,
                                         desc ?: "(no description)");
                                r = IDS_E_DEVICE_ERROR;
                        } else if (status && strcmp(status, "Complete") == 0) {
                                run->p.percent = 100;
                                sync_report(run, IDS_PHASE_COPYING, true);
                                free(status);
                                plist_free(p);
                                break;
                        } else if (v && plist_get_node_type(v) == PLIST_UINT) {
                                uint64_t pc = 0;

                                plist_get_uint_val(v, &pc);
                                run->p.percent = pc > 100 ? 100 : (double) pc;
                                sync_report(run, IDS_PHASE_COPYING, true);
                        }
                        if (status)
                                ids_debug("apps: %s %s: %s", command, value, status);
                }
                free(status);
                free(err);
                free(desc);
                if (p)
                        plist_free(p);
        }
out:
        if (plc) {
                cancel_set_stream(run->cancel, -1);
                property_list_service_client_free(plc);
        }
        return r;
}

/* Upload the IPA (open at fd, as scanned) to STAGING_DIR/<name>. 0, -EAGAIN (it changed
 * since the scan: next time), IDS_E_*, -errno. */
static int upload(SyncRun *run, afc_client_t afc, int fd, const Ipa *ipa, const char *path) {
        uint64_t handle = 0, total = 0;
        afc_error_t ae;
        struct stat st;
        int r;

        ae = afc_make_directory(afc, STAGING_DIR);
        if (ae != AFC_E_SUCCESS)
                return sync_afc_error(run, ae);
        ae = afc_file_open(afc, path, AFC_FOPEN_WRONLY, &handle);
        if (ae != AFC_E_SUCCESS)
                return sync_afc_error(run, ae);
        r = sync_afc_send_fd(run, afc, handle, fd, NULL, &total);
        ae = afc_file_close(afc, handle);
        if (r == 0 && ae != AFC_E_SUCCESS)
                r = sync_afc_error(run, ae);
        /* What was sent must be what was hashed. */
        if (r == 0 && (fstat(fd, &st) < 0 || (uint64_t) st.st_size != ipa->size ||
                       total != ipa->size ||
                       (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec !=
                               ipa->mtime_ns))
                r = -EAGAIN;
        return r;
}

static int put_record(SyncRun *run, const Ipa *ipa, bool installed, const char *detail) {
        _cleanup_free_ char *key = NULL, *value = NULL, *d = field_dup(detail ?: "");

        if (!d || asprintf(&key, META_PREFIX "%s", ipa->hash) < 0 ||
            asprintf(&value, "%s\t%s\t%s\t%s\t%s", installed ? "installed" : "failed",
                     ipa->bundle_id ?: "", ipa->name, ipa->app_name ?: "", d) < 0)
                return -ENOMEM;
        return sync_db_meta_set(run->db, key, value);
}

/* What a refusal means, from the device's ErrorDescription (sync-protocols.md §4): the
 * codes and words installd uses for a missing or foreign provisioning profile, and for
 * Developer Mode (iOS 16+) being off. */
static const char *named_failure(const char *detail) {
        if (strstr(detail, "Developer Mode") || strstr(detail, "developer mode") ||
            strstr(detail, "DeveloperMode"))
                return "Developer Mode is off";
        if (strstr(detail, "0xe8008015") || strstr(detail, "provisioning profile") ||
            strstr(detail, "0xe8008016") || strstr(detail, "0xe8008018") ||
            strstr(detail, "0xe8008019"))
                return "not signed for this device";
        return "refused by the device";
}

static void note_failure(AppsInstall *ai, const char *file, const char *detail, bool device) {
        const char *tail;

        ai->failed++;
        if (ai->first_failure[0])
                return;
        if (!device) {
                snprintf(ai->first_failure, sizeof(ai->first_failure), "%s: %s", file, detail);
                return;
        }
        /* "<Error>: Failed to verify code signature of <staging path> : 0xe8008015 (…)":
         * the path says nothing to a person, the code and its sentence do. */
        tail = strstr(detail, ": ");
        tail = tail ? tail + 2 : "";
        for (const char *p = tail; (p = strstr(p, " : ")); p += 3)
                tail = p + 3;
        snprintf(ai->first_failure, sizeof(ai->first_failure), "%s: %s (%.*s: %s)", file,
                 named_failure(detail), (int) strcspn(detail, ":"), detail, tail);
}

/* Install one IPA: upload, Install, remove the staged copy, record the outcome. 0 (done or
 * refused: recorded), -EAGAIN (changed meanwhile: next time), IDS_E_* that stop the run,
 * -errno. */
static int install_one(SyncRun *run, AppsInstall *ai, Ipa *ipa, ids_sync_category *out) {
        _cleanup_(closep) int fd = -EBADF;
        _cleanup_free_ char *staged = NULL;
        char error[FIELD_MAX] = "";
        afc_client_t afc = NULL;
        struct stat st;
        int r;

        if (ipa->problem) {
                note_failure(ai, ipa->name, ipa->problem, false);
                out->refused++;
                return put_record(run, ipa, false, ipa->problem);
        }
        fd = openat(ai->dir_fd, ipa->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT || errno == ELOOP ? -EAGAIN : -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_dev != ipa->dev || st.st_ino != ipa->ino)
                return -EAGAIN;                 /* replaced since the scan */
        if (asprintf(&staged, STAGING_DIR "/%s", ipa->name) < 0)
                return -ENOMEM;
        r = sync_afc_connect(run, "com.apple.afc", &afc);
        if (r == 0)
                r = upload(run, afc, fd, ipa, staged);
        if (afc) {
                cancel_set_stream(run->cancel, -1);
                afc_client_free(afc);
                afc = NULL;
        }
        if (r == 0) {
                run->p.percent = 0;
                /* PackagePath is relative to the AFC root, as ideviceinstaller sends it. */
                r = instproxy_command(run, "Install", "PackagePath", staged + 1, error,
                                      sizeof(error));
        }
        /* The staged copy goes, whatever happened (best effort: the phone clears
         * /PublicStaging itself too). */
        if (r != IDS_E_DISCONNECTED && r != IDS_E_CANCELLED &&
            sync_afc_connect(run, "com.apple.afc", &afc) == 0) {
                (void) afc_remove_path(afc, staged);
                cancel_set_stream(run->cancel, -1);
                afc_client_free(afc);
        }
        if (r == IDS_E_DEVICE_ERROR) {
                note_failure(ai, ipa->name, error, true);
                out->refused++;
                return put_record(run, ipa, false, error);
        }
        if (r != 0)
                return r;
        ai->installed++;
        ipa->on_phone = true;
        run->p.files_done++;
        return put_record(run, ipa, true, "");
}

/* A HASH_PREFIX row whose file is gone from AppsDir is dropped. */
static int stale_hash(const char *key, const char *value, void *userdata) {
        AppsInstall *ai = userdata;
        const char *name = key + strlen(HASH_PREFIX);

        char *copy;
        int r;

        for (size_t i = 0; i < ai->n_ipas; i++)
                if (strcmp(ai->ipas[i].name, name) == 0)
                        return 0;
        r = sync_grow((void **) &ai->stale, &ai->stale_allocated, ai->n_stale,
                      sizeof(*ai->stale), 4);
        if (r < 0)
                return r;
        copy = strdup(key);
        if (!copy)
                return -ENOMEM;
        ai->stale[ai->n_stale++] = copy;
        return 0;
}

/* Remember the hashes read in this run, forget those of files that went. */
static int remember_hashes(SyncRun *run, AppsInstall *ai) {
        int r = 0;

        for (size_t i = 0; i < ai->n_ipas && r >= 0; i++) {
                const Ipa *ipa = &ai->ipas[i];
                _cleanup_free_ char *key = NULL, *value = NULL;

                if (ipa->hash_remembered)
                        continue;
                if (asprintf(&key, HASH_PREFIX "%s", ipa->name) < 0 ||
                    asprintf(&value, "%" PRIu64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu64 "\t%s",
                             ipa->size, ipa->mtime_ns, ipa->ctime_ns, (uint64_t) ipa->ino,
                             ipa->hash) < 0)
                        return -ENOMEM;
                r = sync_db_meta_set(run->db, key, value);
        }
        if (r >= 0)
                r = sync_db_meta_list(run->db, HASH_PREFIX, stale_hash, ai);
        for (size_t i = 0; i < ai->n_stale && r >= 0; i++)
                r = sync_db_meta_delete(run->db, ai->stale[i]);
        return r;
}

static int forget_app(SyncRun *run, AppsInstall *ai, const char *bundle_id) {
        int r = 0;

        for (size_t i = 0; i < ai->n_recs && r >= 0; i++)
                if (strcmp(ai->recs[i].bundle_id, bundle_id) == 0)
                        r = sync_db_meta_delete(run->db, ai->recs[i].key);
        return r;
}

int apps_install_apply(SyncRun *run, AppsInstall *ai, ids_sync_category *out,
                       bool *ret_changed) {
        bool changed = false;
        uint64_t planned = out->files_out;
        int r = 0;

        ai->applied = true;
        out->files_out = out->bytes_out = 0;    /* now: what was done */
        run->p.files_total = planned;
        run->p.files_done = 0;
        for (size_t i = 0; i < ai->n_ipas && r == 0; i++) {
                Ipa *ipa = &ai->ipas[i];
                uint64_t before;

                if (!ipa->install)
                        continue;
                before = ai->installed;
                r = install_one(run, ai, ipa, out);
                if (r == -EAGAIN) {
                        ids_debug("apps: '%s' changed while it was read: next time", ipa->name);
                        r = 0;
                } else if (r == 0 && ai->installed > before) {
                        out->files_out++;
                        out->bytes_out += ipa->size;
                        changed = true;
                }
        }
        for (size_t i = 0; i < ai->n_recs && r == 0; i++) {
                Record *rec = &ai->recs[i];
                char error[FIELD_MAX] = "";

                /* The update the plan counted on was refused: the old IPA's row stays, and
                 * the next run asks about its app as usual. */
                if (rec->replaced && !provided(ai, rec->bundle_id, false))
                        rec->action = REC_KEEP;
                switch (rec->action) {
                case REC_KEEP:
                        break;
                case REC_FORGET:
                        r = sync_db_meta_delete(run->db, rec->key);
                        break;
                case REC_HOLD:
                        r = sync_db_held_add(run->db, HELD_CATEGORY, "", rec->bundle_id,
                                             rec->app_name[0] ? rec->app_name : rec->bundle_id,
                                             "device", 0, run->now_usec, NULL);
                        break;
                case REC_UNINSTALL:
                        r = instproxy_command(run, "Uninstall", "ApplicationIdentifier",
                                              rec->bundle_id, error, sizeof(error));
                        /* Its other rows are done with too, whatever the answer. */
                        for (size_t k = i + 1; k < ai->n_recs; k++)
                                if (strcmp(ai->recs[k].bundle_id, rec->bundle_id) == 0)
                                        ai->recs[k].action = REC_KEEP;
                        if (r == IDS_E_DEVICE_ERROR) {
                                /* The question stays; the next run asks the phone again. */
                                ai->uninstall_failed++;
                                if (!ai->first_failure[0])
                                        snprintf(ai->first_failure, sizeof(ai->first_failure),
                                                 "uninstall %s: %s", rec->bundle_id, error);
                                r = 0;
                                break;
                        }
                        if (r != 0)
                                break;
                        out->removed_device++;
                        changed = true;
                        r = forget_app(run, ai, rec->bundle_id);
                        if (r >= 0 && rec->held)
                                r = sync_db_held_delete(run->db, rec->held->pub.id);
                        break;
                }
        }
        for (size_t k = 0; k < ai->n_held && r == 0; k++)
                if (ai->held_done[k])
                        r = sync_db_held_delete(run->db, ai->held[k].pub.id);
        if (r == 0)
                r = remember_hashes(run, ai);
        *ret_changed = changed;
        return r;
}

/* ---- what the category says ------------------------------------------------------------ */

void apps_install_reason(const AppsInstall *ai, char *buf, size_t n) {
        size_t len = 0;

#define ADD(...)                                                                               \
        do {                                                                                   \
                if (len < n)                                                                   \
                        len += (size_t) snprintf(buf + len, n - len, __VA_ARGS__);            \
        } while (0)

        buf[0] = 0;
        if (!ai->applied) {
                ADD("Would install %" PRIu64 " IPA%s", ai->to_install,
                    ai->to_install == 1 ? "" : "s");
                if (ai->uninstall > 0)
                        ADD(", uninstall %" PRIu64 " app%s", ai->uninstall,
                            ai->uninstall == 1 ? "" : "s");
        } else {
                ADD("Installed %" PRIu64 " IPA%s", ai->installed, ai->installed == 1 ? "" : "s");
                if (ai->failed > 0)
                        ADD(", %" PRIu64 " failed (%s)", ai->failed, ai->first_failure);
                if (ai->uninstall > 0)
                        ADD(", uninstalled %" PRIu64 " app%s", ai->uninstall - ai->uninstall_failed,
                            ai->uninstall - ai->uninstall_failed == 1 ? "" : "s");
                if (ai->uninstall_failed > 0 && ai->failed == 0)
                        ADD(" (%s)", ai->first_failure);
        }
        if (ai->earlier_failed > 0)
                ADD("; %" PRIu64 " failed before and wait%s for a new file", ai->earlier_failed,
                    ai->earlier_failed == 1 ? "s" : "");
        if (ai->waiting > 0)
                ADD("; %" PRIu64 " uninstall%s wait%s for a decision", ai->waiting,
                    ai->waiting == 1 ? "" : "s", ai->waiting == 1 ? "s" : "");
        if (ai->skipped > 0)
                ADD("; %" PRIu64 " file%s in AppsDir skipped (not a regular file, or an "
                    "unsafe name)", ai->skipped, ai->skipped == 1 ? "" : "s");
        if (ai->dir_missing)
                ADD(" (no AppsDir yet)");
        ADD(". ");
#undef ADD
}

bool apps_install_failed(const AppsInstall *ai) {
        return ai->failed > 0 || ai->uninstall_failed > 0;
}
