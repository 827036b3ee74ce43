/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Apps (issue 16): the inventory. Every sync asks installation_proxy for the User apps and
 * writes <library>/apps.json (bundle id, name, version, build, size, File Sharing), and the
 * category's reason says what changed since the last sync (new, updated, removed). The
 * apps themselves cannot be copied off a phone: Apple removed that in iOS 9 (apps come from
 * the App Store again, which a restore's app list triggers), and the reason says so.
 *
 * What the last inventory held is <library>/.idevicesync-exports/apps.state, one line per
 * app ("bundle id TAB version TAB build"), written with apps.json; a missing or damaged one
 * means every app counts as new.
 *
 * Apps=install adds sync-apps-install.c: the IPA files of AppsDir are installed first, and
 * when that changed the phone's list, the inventory is taken again, so apps.json and the
 * reason show the phone as the sync left it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <plist/plist.h>

#include "fs-util.h"
#include "macro.h"
#include "sync-internal.h"
#include "util.h"

#define STATE_PATH ".idevicesync-exports/apps.state"
#define APPS_MAX 10000                          /* a phone holds a few hundred */
#define TEXT_MAX 512

typedef struct App {
        char *id, *name, *version, *build;
        uint64_t size;                          /* static + dynamic disk usage; 0 unknown */
        bool has_size, sharing;
} App;

typedef struct Apps {
        App *v;
        size_t n, allocated;
        char *previous;                         /* the last state file, or NULL */
        uint64_t added, updated, removed;
        AppsInstall *install;                   /* Apps=install, else NULL */
} Apps;

static Apps *apps_of(SyncCat *c) {
        if (!c->state)
                c->state = calloc(1, sizeof(Apps));
        return c->state;
}

static void apps_clear(Apps *a) {
        for (size_t i = 0; i < a->n; i++) {
                free(a->v[i].id);
                free(a->v[i].name);
                free(a->v[i].version);
                free(a->v[i].build);
        }
        a->n = 0;
}

static void apps_free(SyncCat *c) {
        Apps *a = c->state;

        if (!a)
                return;
        apps_clear(a);
        free(a->v);
        free(a->previous);
        apps_install_free(a->install);
        free(a);
        c->state = NULL;
}

/* A string attribute, or NULL; a device string is kept to TEXT_MAX bytes. */
static char *string_attr(plist_t app, const char *key) {
        plist_t v = plist_dict_get_item(app, key);
        char *s = NULL;

        if (!v || plist_get_node_type(v) != PLIST_STRING)
                return NULL;
        plist_get_string_val(v, &s);
        if (s && strlen(s) > TEXT_MAX)
                s[TEXT_MAX] = 0;
        return s;
}

static bool uint_attr(plist_t app, const char *key, uint64_t *ret) {
        plist_t v = plist_dict_get_item(app, key);

        if (!v || plist_get_node_type(v) != PLIST_UINT)
                return false;
        plist_get_uint_val(v, ret);
        return true;
}

static int compare_apps(const void *a, const void *b) {
        return strcmp(((const App *) a)->id, ((const App *) b)->id);
}

/* The phone's User apps into a->v (again, after an install), sorted by bundle id. */
static int inventory_browse(SyncRun *run, SyncCat *c, Apps *a) {
        plist_t list = NULL;
        int r;

        apps_clear(a);
        r = sync_browse_apps(run, (const char *const[]) { "CFBundleIdentifier",
                                                         "CFBundleDisplayName",
                                                         "CFBundleName",
                                                         "CFBundleShortVersionString",
                                                         "CFBundleVersion",
                                                         "StaticDiskUsage",
                                                         "DynamicDiskUsage",
                                                         "UIFileSharingEnabled", NULL },
                             &list);
        if (r != 0)
                return r;
        for (uint32_t i = 0; i < plist_array_get_size(list) && r == 0; i++) {
                plist_t app = plist_array_get_item(list, i), fs;
                uint64_t st = 0, dyn = 0;
                uint8_t sharing = 0;
                App x = {};

                if (!app || plist_get_node_type(app) != PLIST_DICT)
                        continue;
                x.id = string_attr(app, "CFBundleIdentifier");
                if (!x.id || !x.id[0] || !sync_name_ok(x.id) || a->n >= APPS_MAX) {
                        free(x.id);
                        c->out->refused++;
                        continue;
                }
                x.name = string_attr(app, "CFBundleDisplayName") ?: string_attr(app,
                                                                                  "CFBundleName");
                x.version = string_attr(app, "CFBundleShortVersionString");
                x.build = string_attr(app, "CFBundleVersion");
                x.has_size = uint_attr(app, "StaticDiskUsage", &st);
                x.has_size = uint_attr(app, "DynamicDiskUsage", &dyn) || x.has_size;
                x.size = st + dyn;
                fs = plist_dict_get_item(app, "UIFileSharingEnabled");
                if (fs && plist_get_node_type(fs) == PLIST_BOOLEAN)
                        plist_get_bool_val(fs, &sharing);
                x.sharing = sharing;
                r = sync_grow((void **) &a->v, &a->allocated, a->n, sizeof(*a->v), 64);
                if (r < 0) {
                        free(x.id);
                        free(x.name);
                        free(x.version);
                        free(x.build);
                        break;
                }
                a->v[a->n++] = x;
        }
        plist_free(list);
        if (r < 0)
                return r;
        if (a->n > 1)
                qsort_safe(a->v, a->n, sizeof(*a->v), compare_apps);
        return 0;
}

static int apps_scan_device(SyncRun *run, SyncCat *c) {
        Apps *a = apps_of(c);

        if (!a)
                return -ENOMEM;
        return inventory_browse(run, c, a);
}

static int apps_scan_host(SyncRun *run, SyncCat *c) {
        Apps *a = c->state;
        _cleanup_(freep) char *path = NULL;
        size_t n = 0;
        int r;

        if (run->o->apps == IDS_SYNC_APPS_INSTALL) {
                r = apps_install_scan(run, c->out, &a->install);
                if (r < 0)
                        return r;
        }
        if (asprintf(&path, "%s/" STATE_PATH, run->library_dir) < 0)
                return -ENOMEM;
        r = fs_read_file(path, 4u << 20, &a->previous, &n);
        if (r == -ENOENT || r == -EFBIG) {
                a->previous = NULL;
                return 0;
        }
        return r < 0 ? r : 0;
}

/* For the install plan: whether the phone listed bundle id (a->v is sorted). */
static bool app_on_device(void *userdata, const char *id) {
        Apps *a = userdata;
        App key = { .id = (char *) id };

        return a->n > 0 && bsearch(&key, a->v, a->n, sizeof(*a->v), compare_apps) != NULL;
}

/* The state line of app, "id TAB version TAB build". */
static void state_line(const App *x, char *buf, size_t n) {
        snprintf(buf, n, "%s\t%s\t%s", x->id, x->version ?: "", x->build ?: "");
}

/* Whether the previous state has id, and with which line. */
static const char *previous_line(const char *prev, const char *id, size_t *ret_len) {
        size_t idl = strlen(id);

        for (const char *p = prev; p && *p;) {
                const char *end = strchr(p, '\n');
                size_t len = end ? (size_t) (end - p) : strlen(p);

                if (len > idl && strncmp(p, id, idl) == 0 && p[idl] == '\t') {
                        *ret_len = len;
                        return p;
                }
                p = end ? end + 1 : p + len;
        }
        return NULL;
}

/* The inventory's counts against the last state, and the reason (after the install
 * part, when there is one). */
static void inventory_plan(SyncRun *run, SyncCat *c, Apps *a) {
        char install[256] = "";
        uint64_t before = 0;

        a->added = a->updated = a->removed = 0;
        for (size_t i = 0; i < a->n; i++) {
                char line[3 * TEXT_MAX + 8];
                const char *p;
                size_t len = 0;

                state_line(&a->v[i], line, sizeof(line));
                p = previous_line(a->previous, a->v[i].id, &len);
                if (!p)
                        a->added++;
                else if (len != strlen(line) || strncmp(p, line, len) != 0)
                        a->updated++;
        }
        for (const char *p = a->previous; p && *p; before++) {
                const char *end = strchr(p, '\n');

                p = end ? end + 1 : p + strlen(p);
        }
        /* Those gone: the previous count less those still here. */
        a->removed = before - (a->n - a->added);
        if (a->install)
                apps_install_reason(a->install, install, sizeof(install));
        snprintf(c->out->reason, sizeof(c->out->reason),
                 "%s%zu apps%s: %" PRIu64 " new, %" PRIu64 " updated, %" PRIu64 " removed%s. "
                 "Apps cannot be copied off an iPhone (Apple removed that in iOS 9); a "
                 "restore brings them back from the App Store.",
                 install, a->n, a->previous ? "" : " (the first inventory)", a->added,
                 a->updated, a->removed, a->previous ? " since the last sync" : "");
}

static int apps_plan(SyncRun *run, SyncCat *c) {
        Apps *a = c->state;
        int r;

        if (a->install) {
                r = apps_install_plan(run, a->install, app_on_device, a, c->out);
                if (r < 0)
                        return r;
        }
        inventory_plan(run, c, a);
        return 0;
}

/* s as a JSON string. */
static void json_string(FILE *f, const char *s) {
        if (!s) {
                fputs("null", f);
                return;
        }
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        fputc('"', f);
}

/* apps.json and the state file, unless they say the same already. */
static int apps_write(SyncRun *run, Apps *a) {
        _cleanup_(freep) char *json = NULL, *state = NULL;
        _cleanup_(closep) int lib = -EBADF;
        size_t json_len = 0, state_len = 0;
        FILE *j, *s;
        char when[32];
        time_t now = (time_t) (run->now_usec / 1000000);
        struct tm tm;
        int r;

        if (a->previous && a->added == 0 && a->updated == 0 && a->removed == 0)
                return 0;               /* apps.json says the same already */
        j = open_memstream(&json, &json_len);
        s = open_memstream(&state, &state_len);
        if (!j || !s) {
                if (j)
                        fclose(j);
                if (s)
                        fclose(s);
                return -ENOMEM;
        }
        gmtime_r(&now, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(j, "{\n  \"device\": ");
        json_string(j, run->o->udid);
        fprintf(j, ",\n  \"generated\": \"%s\",\n  \"apps\": [", when);
        for (size_t i = 0; i < a->n; i++) {
                const App *x = &a->v[i];
                char line[3 * TEXT_MAX + 8];

                fprintf(j, "%s\n    {\"bundle_id\": ", i ? "," : "");
                json_string(j, x->id);
                fputs(", \"name\": ", j);
                json_string(j, x->name);
                fputs(", \"version\": ", j);
                json_string(j, x->version);
                fputs(", \"build\": ", j);
                json_string(j, x->build);
                if (x->has_size)
                        fprintf(j, ", \"size\": %" PRIu64, x->size);
                else
                        fputs(", \"size\": null", j);
                fprintf(j, ", \"file_sharing\": %s}", x->sharing ? "true" : "false");
                state_line(x, line, sizeof(line));
                fprintf(s, "%s\n", line);
        }
        fputs("\n  ]\n}\n", j);
        if (fclose(j) != 0 || fclose(s) != 0)
                return -ENOMEM;

        lib = sync_open_library(run);
        if (lib < 0)
                return lib;
        r = fs_mkdir_p_beneath(lib, ".idevicesync-exports", 0700);
        /* apps.json first: a crash between the two leaves the state older, and the next
         * sync says the same changes again rather than none. */
        if (r == 0)
                r = fs_write_atomic_beneath(lib, "apps.json", json, json_len, true);
        if (r == 0)
                r = fs_write_atomic_beneath(lib, STATE_PATH, state, state_len, true);
        return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
}

static int apps_apply(SyncRun *run, SyncCat *c) {
        Apps *a = c->state;
        bool changed = false;
        int r;

        if (a->install) {
                r = apps_install_apply(run, a->install, c->out, &changed);
                /* The reason says what was done, also when the run stops here. */
                if (r == 0 && changed) {
                        r = inventory_browse(run, c, a);        /* what the phone has now */
                        if (r != 0) {
                                apps_install_reason(a->install, c->out->reason,
                                                    sizeof(c->out->reason));
                                return r;
                        }
                }
                inventory_plan(run, c, a);
                if (r != 0)
                        return r;
        }
        r = apps_write(run, a);
        if (r == 0 && a->install && apps_install_failed(a->install))
                r = IDS_E_DEVICE_ERROR;         /* the reason says which and why */
        return r;
}

static const char *apps_mode(const ids_sync_options *o) {
        return o->apps == IDS_SYNC_APPS_INVENTORY ? "inventory" :
               o->apps == IDS_SYNC_APPS_INSTALL ? "install" : "no";
}

const SyncCategoryType sync_category_apps = {
        .name = "apps",
        .mode = apps_mode,
        .scan_device = apps_scan_device,
        .scan_host = apps_scan_host,
        .plan = apps_plan,
        .apply = apps_apply,
        .free_state = apps_free,
};
