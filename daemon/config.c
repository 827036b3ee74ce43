/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config: the key tables of idevicesync.conf and devices.d, one per section, and the
 * ConfigSet that one load produces (see config.h for the rules, idevicesync.conf(5) for
 * the user's view; the generic parsing lives in conf-parser.c).
 *
 * Why it looks like this: a reload used to parse the main file once per device, so each
 * bad line was reported once per device. A ConfigSet parses the main file and its
 * drop-ins once and remembers the devices.d listing; a device's policy is a copy of that
 * base with its own file on top. The listing also matches file names to UDIDs ignoring
 * case, which a plain open("devices.d/<UDID>.conf") could not.
 */
#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "udid.h"
#include "util.h"

#define USEC_PER_MINUTE (60ULL * 1000000ULL)

#define MAIN_FILE "idevicesync.conf"
#define DROPIN_DIR "idevicesync.conf.d"
#define DEVICES_DIR "devices.d"

/* ---- the key tables ---------------------------------------------------------------------- */

static const char *const new_device_words[] = {
        [NEW_DEVICE_ASK] = "ask",
        [NEW_DEVICE_NEW] = "new",
        [NEW_DEVICE_RESTORE_LATEST] = "restore-latest",
        [NEW_DEVICE_RESTORE_FROM] = "restore-from",
};

const char *new_device_mode_to_string(NewDeviceMode m) {
        return (unsigned) m < ELEMENTSOF(new_device_words) ? new_device_words[m] : NULL;
}

/* NewDevice=: a word, or restore-from:<UDID> with a valid UDID (kept canonical, so it
 * compares with what usbmuxd reports). A bare "restore-from" names no source: refused. */
static int parse_new_device(const ConfigTableItem *item, const char *value, void *field) {
        NewDevicePolicy *p = field;
        const char *udid;

        udid = strncmp(value, "restore-from:", 13) == 0 ? value + 13 : NULL;
        if (udid) {
                char buf[UDID_MAX + 1];

                if (!udid_canonical_copy(udid, buf))
                        return -EINVAL;
                p->mode = NEW_DEVICE_RESTORE_FROM;
                strcpy(p->udid, buf);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(new_device_words); i++)
                if (i != NEW_DEVICE_RESTORE_FROM && strcmp(value, new_device_words[i]) == 0) {
                        p->mode = (NewDeviceMode) i;
                        p->udid[0] = '\0';
                        return 0;
                }
        return -EINVAL;
}

static const ConfigTableItem backup_items[] = {
        CONFIG_ITEM(PolicyBackup, "AutoRun", config_parse_bool, auto_run, 0, 0, "a boolean"),
        CONFIG_ITEM(PolicyBackup, "MinInterval", config_parse_timespan, min_interval, 0, 0,
                    "a time span such as 0, 30min, 12h or 1h30min"),
        CONFIG_ITEM(PolicyBackup, "TimeWindow", config_parse_time_window, time_window, 0, 0,
                    "HH:MM-HH:MM with different start and end, or empty"),
        CONFIG_ITEM(PolicyBackup, "MinBattery", config_parse_unsigned, min_battery, 0, 100,
                    "a percentage from 0 to 100"),
        CONFIG_ITEM(PolicyBackup, "RequireCharging", config_parse_bool, require_charging, 0, 0,
                    "a boolean"),
        CONFIG_ITEM(PolicyBackup, "RequireEncryption", config_parse_bool, require_encryption,
                    0, 0, "a boolean"),
        CONFIG_ITEM(PolicyBackup, "Keep", config_parse_unsigned, keep, 0, UINT_MAX,
                    "a number of snapshots, 0 for no limit"),
        CONFIG_ITEM(PolicyBackup, "KeepDays", config_parse_unsigned, keep_days, 0, 36500,
                    "a number of days from 0 to 36500"),
        CONFIG_ITEM(PolicyBackup, "MinFreeSpace", config_parse_space, min_free_space, 0, 0,
                    "a percentage such as 5% or a size such as 20G"),
        CONFIG_ITEM(PolicyBackup, "PasscodeWait", config_parse_timespan, passcode_wait, 0, 0,
                    "a time span such as 5min"),
        CONFIG_ITEM(PolicyBackup, "NewDevice", parse_new_device, new_device, 0, 0,
                    "ask, new, restore-latest or restore-from:<UDID>"),
};

static int parse_photos_mode(const ConfigTableItem *item, const char *value, void *field) {
        if (strcmp(value, "import") == 0)
                *(SyncPhotosMode *) field = SYNC_PHOTOS_IMPORT;  /* and forget an ask */
        else if (strcmp(value, "no") == 0)
                *(SyncPhotosMode *) field = SYNC_PHOTOS_NO;
        else if (strcmp(value, "to-device") == 0 || strcmp(value, "two-way") == 0) {
                *(SyncPhotosMode *) field |= SYNC_TO_DEVICE_ASKED;
                return -EOPNOTSUPP;
        } else
                return -EINVAL;
        return 0;
}

/* Music=, Videos=, Books=, Ringtones=: the same words and the same refusal as Photos=. */
static int parse_media_mode(const ConfigTableItem *item, const char *value, void *field) {
        if (strcmp(value, "import") == 0)
                *(SyncMediaMode *) field = SYNC_MEDIA_IMPORT;
        else if (strcmp(value, "no") == 0)
                *(SyncMediaMode *) field = SYNC_MEDIA_NO;
        else if (strcmp(value, "to-device") == 0 || strcmp(value, "two-way") == 0) {
                *(SyncMediaMode *) field |= SYNC_TO_DEVICE_ASKED;
                return -EOPNOTSUPP;
        } else
                return -EINVAL;
        return 0;
}

static const char *const apps_words[] = {
        [SYNC_APPS_NO] = "no",
        [SYNC_APPS_INVENTORY] = "inventory",
        [SYNC_APPS_INSTALL] = "install",
};

const char *sync_apps_mode_to_string(SyncAppsMode m) {
        return (unsigned) m < ELEMENTSOF(apps_words) ? apps_words[m] : NULL;
}

static int parse_crash_logs_mode(const ConfigTableItem *item, const char *value, void *field) {
        if (strcmp(value, "move") == 0)
                *(SyncCrashLogsMode *) field = SYNC_CRASHLOGS_MOVE;
        else if (strcmp(value, "copy") == 0)
                *(SyncCrashLogsMode *) field = SYNC_CRASHLOGS_COPY;
        else if (strcmp(value, "no") == 0)
                *(SyncCrashLogsMode *) field = SYNC_CRASHLOGS_NO;
        else
                return -EINVAL;
        return 0;
}

static const char *const documents_words[] = {
        [SYNC_DOCUMENTS_NO] = "no",
        [SYNC_DOCUMENTS_IMPORT] = "import",
        [SYNC_DOCUMENTS_TWO_WAY] = "two-way",
};
static const char *const deletions_words[] = {
        [SYNC_DELETIONS_HOLD] = "hold",
        [SYNC_DELETIONS_PROPAGATE] = "propagate",
        [SYNC_DELETIONS_NEVER] = "never",
};
static const char *const first_sync_words[] = {
        [SYNC_FIRST_ASK] = "ask",
        [SYNC_FIRST_MERGE] = "merge",
        [SYNC_FIRST_REPLACE_DEVICE] = "replace-device",
        [SYNC_FIRST_REPLACE_COMPUTER] = "replace-computer",
};

static const char *const export_words[] = {
        [SYNC_EXPORT_NO] = "no",
        [SYNC_EXPORT_YES] = "export",
        [SYNC_EXPORT_TWO_WAY] = "two-way",
};

void sync_exports_to_string(const PolicySync *s, char *buf, size_t n) {
        const struct {
                SyncExportMode m;
                const char *name;
        } e[] = {
                { s->contacts, "contacts" },     { s->calendars, "calendars" },
                { s->bookmarks, "bookmarks" },   { s->notes, "notes" },
                { s->voice_memos, "voice-memos" },
        };
        size_t len = 0;

        if (n == 0)
                return;
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(e); i++)
                if (e[i].m != SYNC_EXPORT_NO && len < n)
                        len += (size_t) snprintf(buf + len, n - len, "%s%s%s", len ? " " : "",
                                                 e[i].name, e[i].m == SYNC_EXPORT_TWO_WAY ?
                                                 "=two-way" : "");
}

const char *sync_documents_mode_to_string(SyncDocumentsMode m) {
        return (unsigned) m < ELEMENTSOF(documents_words) ? documents_words[m] : NULL;
}

const char *sync_deletions_mode_to_string(SyncDeletionsMode m) {
        return (unsigned) m < ELEMENTSOF(deletions_words) ? deletions_words[m] : NULL;
}

const char *sync_first_sync_mode_to_string(SyncFirstSyncMode m) {
        return (unsigned) m < ELEMENTSOF(first_sync_words) ? first_sync_words[m] : NULL;
}

/* One of words[0..n) into the int-sized enum at field. */
static int parse_word(const char *value, const char *const *words, size_t n, void *field) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(value, words[i]) == 0) {
                        *(int *) field = (int) i;
                        return 0;
                }
        return -EINVAL;
}

static int parse_documents_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, documents_words, ELEMENTSOF(documents_words), field);
}

static int parse_deletions_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, deletions_words, ELEMENTSOF(deletions_words), field);
}

static int parse_apps_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, apps_words, ELEMENTSOF(apps_words), field);
}

static int parse_export_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, export_words, SYNC_EXPORT_TWO_WAY, field);
}

static int parse_pim_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, export_words, ELEMENTSOF(export_words), field);
}

static int parse_first_sync_mode(const ConfigTableItem *item, const char *value, void *field) {
        return parse_word(value, first_sync_words, ELEMENTSOF(first_sync_words), field);
}

bool bundle_id_is_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;

        if (n == 0 || n > POLICY_BUNDLE_ID_MAX || s[0] == '.' || s[n - 1] == '.' ||
            strstr(s, ".."))
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

/* DocumentsApps=: bundle ids separated by whitespace, each valid, each once; stored
 * joined by single spaces. Empty resets to NULL (every app with File Sharing). A bad id
 * rejects the whole line (the earlier value stays), so a typo never silently narrows the
 * list. */
static int parse_documents_apps(const ConfigTableItem *item, const char *value, void *field) {
        char **dst = field;
        _cleanup_(freep) char *out = NULL;
        size_t n = 0, o = 0, len = strlen(value);

        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (const char *s = value; *s;) {
                char id[POLICY_BUNDLE_ID_MAX + 1];
                size_t k;

                s += strspn(s, " \t");
                k = strcspn(s, " \t");
                if (k == 0)
                        break;
                if (k > POLICY_BUNDLE_ID_MAX)
                        return -EINVAL;
                memcpy(id, s, k);
                id[k] = '\0';
                s += k;
                if (!bundle_id_is_valid(id))
                        return -EINVAL;
                if (++n > POLICY_DOCUMENTS_APPS_MAX)
                        return -ERANGE;
                /* Each once: " id " inside " <out> ". */
                out[o] = '\0';
                {
                        const char *p = out;
                        bool dup = false;

                        while (!dup && (p = strstr(p, id))) {
                                dup = (p == out || p[-1] == ' ') &&
                                      (p[k] == ' ' || p[k] == '\0');
                                p += k;
                        }
                        if (dup) {
                                n--;
                                continue;
                        }
                }
                if (o > 0)
                        out[o++] = ' ';
                memcpy(out + o, id, k);
                o += k;
        }
        out[o] = '\0';
        free(*dst);
        *dst = o > 0 ? TAKE_PTR(out) : NULL;
        return 0;
}

/* Music=, Videos=, Books=, Ringtones=: import or no; to-device refused, saying why. */
#define MEDIA_ITEM(k, field, what)                                                            \
        { .key = k, .parse = parse_media_mode, .offset = offsetof(PolicySync, field),         \
          .size = sizeof(SyncMediaMode), .expect = "import or no",                             \
          .refused = "iOS takes " what " from a computer only through Apple's AirTraffic "     \
                     "service (com.apple.atc), which needs Apple's FairPlay keys; "           \
                     "no open host can write the media library." }

static const ConfigTableItem sync_items[] = {
        CONFIG_ITEM(PolicySync, "Enabled", config_parse_bool, enabled, 0, 0, "a boolean"),
        { .key = "Photos", .parse = parse_photos_mode, .offset = offsetof(PolicySync, photos),
          .size = sizeof(SyncPhotosMode), .expect = "import or no",
          .refused = "iOS takes photos from a computer only through Apple's AirTraffic "
                     "service (com.apple.atc), which needs Apple's FairPlay keys; no open "
                     "host can write the camera roll." },
        { .key = "PhotosDir", .parse = config_parse_path,
          .offset = offsetof(PolicySync, photos_dir), .size = 0,
          .expect = "an absolute path without . or .. components, or empty" },
        MEDIA_ITEM("Music", music, "music"),
        MEDIA_ITEM("Videos", videos, "videos"),
        MEDIA_ITEM("Books", books, "books"),
        MEDIA_ITEM("Ringtones", ringtones, "ringtones"),
        CONFIG_ITEM(PolicySync, "CrashLogs", parse_crash_logs_mode, crash_logs, 0, 0,
                    "move, copy or no"),
        CONFIG_ITEM(PolicySync, "Documents", parse_documents_mode, documents, 0, 0,
                    "two-way, import or no"),
        { .key = "DocumentsDir", .parse = config_parse_path,
          .offset = offsetof(PolicySync, documents_dir), .size = 0,
          .expect = "an absolute path without . or .. components, or empty" },
        { .key = "DocumentsApps", .parse = parse_documents_apps,
          .offset = offsetof(PolicySync, documents_apps), .size = 0,
          .expect = "bundle ids such as com.example.app separated by spaces, or empty" },
        CONFIG_ITEM(PolicySync, "Deletions", parse_deletions_mode, deletions, 0, 0,
                    "hold, propagate or never"),
        CONFIG_ITEM(PolicySync, "FirstSync", parse_first_sync_mode, first_sync, 0, 0,
                    "ask, merge, replace-device or replace-computer"),
        CONFIG_ITEM(PolicySync, "TrashDays", config_parse_unsigned, trash_days, 1, 36500,
                    "a number of days from 1 to 36500"),
        CONFIG_ITEM(PolicySync, "Apps", parse_apps_mode, apps, 0, 0,
                    "inventory, install or no"),
        { .key = "AppsDir", .parse = config_parse_path, .offset = offsetof(PolicySync, apps_dir),
          .size = 0, .expect = "an absolute path without . or .. components, or empty" },
        CONFIG_ITEM(PolicySync, "Contacts", parse_pim_mode, contacts, 0, 0,
                    "export, two-way or no"),
        CONFIG_ITEM(PolicySync, "Calendars", parse_pim_mode, calendars, 0, 0,
                    "export, two-way or no"),
        CONFIG_ITEM(PolicySync, "Bookmarks", parse_export_mode, bookmarks, 0, 0,
                    "export or no"),
        CONFIG_ITEM(PolicySync, "Notes", parse_export_mode, notes, 0, 0, "export or no"),
        CONFIG_ITEM(PolicySync, "VoiceMemos", parse_export_mode, voice_memos, 0, 0,
                    "export or no"),
};

static const ConfigTableItem store_items[] = {
        { .key = "BackupDir", .parse = config_parse_path,
          .offset = offsetof(PolicyStore, backup_dir), .size = 0, .main_only = true,
          .expect = "an absolute path without . or .. components" },
};

static const ConfigTableItem restore_items[] = {
        CONFIG_ITEM(PolicyRestore, "SystemFiles", config_parse_bool, system_files, 0, 0,
                    "a boolean"),
        CONFIG_ITEM(PolicyRestore, "Settings", config_parse_bool, settings, 0, 0, "a boolean"),
        CONFIG_ITEM(PolicyRestore, "RemoveItemsNotRestored", config_parse_bool, remove_items,
                    0, 0, "a boolean"),
        CONFIG_ITEM(PolicyRestore, "AppList", config_parse_bool, app_list, 0, 0, "a boolean"),
};

#define SECTION(n, items_, field, ...)                                                        \
        { .name = n, .items = items_, .n_items = ELEMENTSOF(items_),                          \
          .offset = offsetof(Policy, field), __VA_ARGS__ }

static const ConfigSection policy_sections[] = {
        SECTION("Backup", backup_items, backup),
        SECTION("Sync", sync_items, sync),
        SECTION("Store", store_items, store),
        SECTION("Restore", restore_items, restore),
};

static const Policy policy_defaults = {
        .backup = {
                .auto_run = true,
                .min_interval = 0,
                .time_window = { .enabled = false },
                .min_battery = 0,
                .require_charging = false,
                .require_encryption = false,
                .keep = 10,
                .keep_days = 0,
                .min_free_space = { .kind = SPACE_PERCENT, .value = 5 },
                .passcode_wait = 5 * USEC_PER_MINUTE,
                .new_device = { .mode = NEW_DEVICE_ASK },
        },
        .sync = {
                .enabled = true,
                .photos = SYNC_PHOTOS_IMPORT,
                .photos_dir = NULL,
                .music = SYNC_MEDIA_IMPORT,
                .videos = SYNC_MEDIA_IMPORT,
                .books = SYNC_MEDIA_IMPORT,
                .ringtones = SYNC_MEDIA_IMPORT,
                .crash_logs = SYNC_CRASHLOGS_MOVE,
                .documents = SYNC_DOCUMENTS_TWO_WAY,
                .documents_dir = NULL,
                .documents_apps = NULL,
                .deletions = SYNC_DELETIONS_HOLD,
                .first_sync = SYNC_FIRST_ASK,
                .trash_days = 30,
                .contacts = SYNC_EXPORT_YES,
                .calendars = SYNC_EXPORT_YES,
                .bookmarks = SYNC_EXPORT_YES,
                .notes = SYNC_EXPORT_YES,
                .voice_memos = SYNC_EXPORT_YES,
                .apps = SYNC_APPS_INVENTORY,
                .apps_dir = NULL,
        },
        .store = {
                .backup_dir = NULL,
        },
        .restore = {
                .system_files = true,
                .settings = true,
                .remove_items = true,
                .app_list = true,
        },
};

static const ConfigTable policy_table = {
        .sections = policy_sections,
        .n_sections = ELEMENTSOF(policy_sections),
        .defaults = &policy_defaults,
        .main_file = MAIN_FILE,
};

/* ---- Policy ------------------------------------------------------------------------------ */

void policy_init_defaults(Policy *p) {
        assert(p);

        *p = policy_defaults;
}

void policy_done(Policy *p) {
        if (!p)
                return;
        free(p->store.backup_dir);
        free(p->sync.photos_dir);
        free(p->sync.documents_dir);
        free(p->sync.documents_apps);
        free(p->sync.apps_dir);
        policy_init_defaults(p);
}

/* A copy of s (NULL stays NULL) into *ret. 0 or -ENOMEM. */
static int strdup_or_null(const char *s, char **ret) {
        *ret = s ? strdup(s) : NULL;
        return s && !*ret ? -ENOMEM : 0;
}

int policy_copy(const Policy *src, Policy *ret) {
        char *dir = NULL, *photos = NULL, *docs = NULL, *apps = NULL, *apps_dir = NULL;

        assert(src);
        assert(ret);

        if (strdup_or_null(src->store.backup_dir, &dir) < 0 ||
            strdup_or_null(src->sync.photos_dir, &photos) < 0 ||
            strdup_or_null(src->sync.documents_dir, &docs) < 0 ||
            strdup_or_null(src->sync.documents_apps, &apps) < 0 ||
            strdup_or_null(src->sync.apps_dir, &apps_dir) < 0) {
                free(apps_dir);
                free(dir);
                free(photos);
                free(docs);
                free(apps);
                return -ENOMEM;
        }
        *ret = *src;
        ret->store.backup_dir = dir;
        ret->sync.photos_dir = photos;
        ret->sync.documents_dir = docs;
        ret->sync.documents_apps = apps;
        ret->sync.apps_dir = apps_dir;
        return 0;
}

int policy_parse_file(const char *path, bool main_file, Policy *p) {
        return conf_parse_file(&policy_table, path, main_file, p);
}

/* ---- ConfigSet --------------------------------------------------------------------------- */

struct ConfigSet {
        Policy base;                    /* defaults + main file + drop-ins */
        char *devices_dir;              /* <config dir>/devices.d */
        char **device_files;            /* the file of each UDID below, one per device */
        char **udids;                   /* canonical form; NULL-terminated, as device_files */
        int devices_error;              /* devices.d exists but could not be listed */
};


ConfigSet *config_set_free(ConfigSet *c) {
        if (!c)
                return NULL;
        policy_done(&c->base);
        free(c->devices_dir);
        conf_strv_free(c->device_files);
        conf_strv_free(c->udids);
        free(c);
        return NULL;
}

/* Turn the sorted *.conf names of devices.d into one file per device; names that are no
 * UDID are skipped. Takes names (a conf_list_dir() result) and frees it. */
static int config_index_devices(ConfigSet *c, char **names) {
        size_t n_names = 0, n = 0;
        int r = 0;

        while (names[n_names])
                n_names++;
        c->device_files = calloc(n_names + 1, sizeof(char *));
        c->udids = calloc(n_names + 1, sizeof(char *));
        if (!c->device_files || !c->udids)
                r = -ENOMEM;

        for (size_t i = 0; r >= 0 && i < n_names; i++) {
                size_t len = strlen(names[i]) - strlen(".conf");
                _cleanup_(freep) char *udid = strndup(names[i], len);

                if (!udid) {
                        r = -ENOMEM;
                        break;
                }
                if (!udid_is_valid(udid)) {
                        conf_log(LOG_DEBUG, c->devices_dir, 0,
                                 "%s is not named after a UDID, ignoring", names[i]);
                        continue;
                }
                /* A UDID in any letter case names the device (udid.h). Names come sorted
                 * (strcmp): of two that differ only in case, the later wins. */
                (void) udid_canonicalize(udid);
                for (size_t k = 0; k < n; k++)
                        if (strcmp(c->udids[k], udid) == 0) {
                                conf_log(LOG_WARNING, c->devices_dir, 0,
                                         "%s and %s name the same device (UDIDs ignore letter "
                                         "case); using %s, ignoring %s", c->device_files[k],
                                         names[i], names[i], c->device_files[k]);
                                free(c->device_files[k]);
                                c->device_files[k] = TAKE_PTR(names[i]);
                                break;
                        }
                if (!names[i])
                        continue;
                c->device_files[n] = TAKE_PTR(names[i]);
                c->udids[n++] = TAKE_PTR(udid);
        }

        for (size_t i = 0; i < n_names; i++)    /* what did not move into c */
                free(names[i]);
        free(names);
        return r;
}

int config_load_from(const PolicyDirs *dirs, ConfigSet **ret) {
        _cleanup_(config_set_freep) ConfigSet *c = NULL;
        _cleanup_(freep) char *main_path = NULL, *etc_d = NULL, *run_d = NULL, *lib_d = NULL;
        char **names = NULL;
        int r;

        if (!dirs || !dirs->config_dir || !dirs->runtime_dir || !dirs->vendor_dir || !ret)
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        policy_init_defaults(&c->base);
        main_path = conf_path_join(dirs->config_dir, MAIN_FILE);
        etc_d = conf_path_join(dirs->config_dir, DROPIN_DIR);
        run_d = conf_path_join(dirs->runtime_dir, DROPIN_DIR);
        lib_d = conf_path_join(dirs->vendor_dir, DROPIN_DIR);
        c->devices_dir = conf_path_join(dirs->config_dir, DEVICES_DIR);
        if (!main_path || !etc_d || !run_d || !lib_d || !c->devices_dir)
                return -ENOMEM;

        r = conf_parse_with_dropins(&policy_table, main_path,
                                    (const char *const[]) { etc_d, run_d, lib_d }, 3, &c->base);
        if (r < 0)
                return r;

        r = conf_list_dir(c->devices_dir, &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                c->devices_error = r;   /* reported; every device keeps what it had */
        else {
                r = config_index_devices(c, names);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

/* The directories of the environment; the one place that reads these variables. buf holds
 * the configuration directory. */
static int policy_dirs_from_env(PolicyDirs *ret, char buf[static PATH_MAX]) {
        const char *e;
        size_t len;

        e = getenv("CONFIGURATION_DIRECTORY");
        if (e && *e) {
                len = strcspn(e, ":");  /* systemd joins several directories with ':' */
                if (len >= PATH_MAX)
                        return -ENAMETOOLONG;
                memcpy(buf, e, len);
                buf[len] = '\0';
        } else
                strcpy(buf, POLICY_CONFIG_DIR);
        ret->config_dir = buf;

        e = getenv("IDEVICESYNC_RUNTIME_CONFIG_DIR");
        if (!e || !*e)
                e = getenv("RUNTIME_DIRECTORY");
        ret->runtime_dir = e && *e && !strchr(e, ':') ? e : POLICY_RUNTIME_DIR;

        e = getenv("IDEVICESYNC_VENDOR_CONFIG_DIR");
        ret->vendor_dir = e && *e ? e : POLICY_VENDOR_DIR;
        return 0;
}

int config_load(ConfigSet **ret) {
        char config_dir[PATH_MAX];
        PolicyDirs dirs;
        int r;

        r = policy_dirs_from_env(&dirs, config_dir);
        if (r < 0)
                return r;
        return config_load_from(&dirs, ret);
}

const Policy *config_base(const ConfigSet *c) {
        return c ? &c->base : &policy_defaults;
}

const char *config_devices_dir(const ConfigSet *c) {
        return c ? c->devices_dir : POLICY_CONFIG_DIR "/" DEVICES_DIR;
}

const char *const *config_device_udids(const ConfigSet *c) {
        static const char *const none[] = { NULL };

        return c && c->udids ? (const char *const *) c->udids : none;
}

int config_policy_for_device(const ConfigSet *c, const char *udid, Policy *ret) {
        _cleanup_(freep) char *path = NULL;
        Policy p;
        int r;

        if (!udid || !udid_is_valid(udid) || !ret)
                return -EINVAL;
        if (c && c->devices_error < 0)
                return c->devices_error;

        r = policy_copy(config_base(c), &p);
        if (r < 0)
                return r;
        for (size_t i = 0; c && c->udids && c->udids[i]; i++) {
                if (!udid_equal(c->udids[i], udid))
                        continue;
                path = conf_path_join(c->devices_dir, c->device_files[i]);
                if (!path) {
                        policy_done(&p);
                        return -ENOMEM;
                }
                r = policy_parse_file(path, false, &p);
                if (r < 0 && r != -ENOENT) {    /* ENOENT: removed since the load */
                        policy_done(&p);
                        return r;
                }
                break;
        }

        *ret = p;
        return 0;
}

/* ---- one-shot loads ---------------------------------------------------------------------- */

int policy_load_from(const PolicyDirs *dirs, const char *udid, Policy *p) {
        _cleanup_(config_set_freep) ConfigSet *c = NULL;
        Policy n;
        int r;

        if (!p || (udid && !udid_is_valid(udid)))
                return -EINVAL;

        r = config_load_from(dirs, &c);
        if (r < 0)
                return r;
        r = udid ? config_policy_for_device(c, udid, &n) : policy_copy(&c->base, &n);
        if (r < 0)
                return r;

        policy_done(p);
        *p = n;
        return 0;
}

int policy_load(const char *udid, Policy *p) {
        char config_dir[PATH_MAX];
        PolicyDirs dirs;
        int r;

        r = policy_dirs_from_env(&dirs, config_dir);
        if (r < 0)
                return r;
        return policy_load_from(&dirs, udid, p);
}


/* ---- evaluation helpers ------------------------------------------------------------------ */

#define MINUTES_PER_DAY 1440U

bool policy_time_window_contains(const Policy *p, unsigned minute_of_day) {
        const TimeWindow *w = &p->backup.time_window;
        unsigned m = minute_of_day % MINUTES_PER_DAY;

        if (!w->enabled)
                return true;
        if (w->start < w->end)
                return m >= w->start && m < w->end;
        return m >= w->start || m < w->end;     /* wraps midnight */
}

unsigned policy_time_window_wait(const Policy *p, unsigned minute_of_day) {
        unsigned m = minute_of_day % MINUTES_PER_DAY;

        if (policy_time_window_contains(p, m))
                return 0;
        return (p->backup.time_window.start + MINUTES_PER_DAY - m) % MINUTES_PER_DAY;
}

uint64_t policy_min_free_bytes(const Policy *p, uint64_t total_bytes) {
        const SpaceLimit *l = &p->backup.min_free_space;

        if (l->kind == SPACE_BYTES)
                return l->value;
        /* total / 100 * pct + remainder: no overflow for any 64-bit total */
        return total_bytes / 100 * l->value + total_bytes % 100 * l->value / 100;
}
