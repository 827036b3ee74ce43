/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The table of services lockdownd can start, and the two small plist services:
 * notification_proxy (Observe/Post/Shutdown, relays device notifications such as the
 * passcode prompt) and installation_proxy (Browse/Lookup over the profile's apps/; Install
 * of an IPA uploaded to the AFC tree, which adds apps/<bundle id>/Info.ini; Uninstall,
 * which removes that directory).
 *
 * Install follows sync-protocols.md §4: PackagePath is relative to the AFC root (media/),
 * the status stream is the one phones send (CreatingStagingDirectory 5 … Complete), and an
 * IPA that is not signed for this device (ipa.c: no embedded.mobileprovision naming its
 * UDID) fails at VerifyingApplication with ApplicationVerificationFailed and the
 * description a phone gives for a missing profile (0xe8008015). With DeveloperMode=no in
 * device.ini, a development-signed one (get-task-allow) fails there too: iOS 16+ needs
 * Developer Mode for those (sync-protocols.md §4; the wording of that refusal is
 * [inferred], no real phone's text was at hand). Every Install and
 * Uninstall is appended to <profile>/install.log ("Install <PackagePath>",
 * "Uninstall <bundle id>"), so tests can count what a client asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "emu.h"

#define SERVICE_MAX_FRAME (1u << 20)

static const ServiceDef services[] = {
        /* name                                  ssl    unlock  serve */
        { "com.apple.afc",                       false, true,  serve_afc },
        { "com.apple.crashreportcopymobile",     false, false, serve_crashreport_copy },
        { "com.apple.crashreportmover",          false, false, serve_crashreport_mover },
        { "com.apple.mobile.house_arrest",       false, true,  serve_house_arrest },
        { "com.apple.mobile.installation_proxy", false, false, serve_installation_proxy },
        { "com.apple.mobile.notification_proxy", false, false, serve_notification_proxy },
        /* Backups are TLS on real phones, and need the user data the passcode protects. */
        { "com.apple.mobilebackup2",             true,  true,  serve_mobilebackup2 },
        /* mobilesync: TLS since iOS 13 (libimobiledevice#864, sync-protocols.md §0); the
         * contacts it serves are user data behind the passcode, as for backups [inferred]. */
        { "com.apple.mobilesync",                true,  true,  serve_mobilesync },
};

const ServiceDef *service_lookup(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(services); i++)
                if (strcmp(services[i].name, name) == 0)
                        return &services[i];
        return NULL;
}

/* ---- notification_proxy ---------------------------------------------------------------- */

#define NP_MAX_NAMES 64

typedef struct Observer {
        Conn *conn;
        Device *device;
        char *names[NP_MAX_NAMES];
        size_t n_names;
        struct Observer *next;
} Observer;

/* Own lock: notify_post() writes to another thread's stream, and Conn I/O takes the global
 * lock for its counters, so this must never be taken with the global lock held. */
static pthread_mutex_t np_mutex = PTHREAD_MUTEX_INITIALIZER;
static Observer *observers;

static int np_send(Conn *c, const char *command, const char *name) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, "Command", plist_new_string(command));
        if (name)
                plist_dict_set_item(p, "Name", plist_new_string(name));
        return plistio_send(c, p, false);
}

void notify_post(Device *d, const char *name) {
        pthread_mutex_lock(&np_mutex);
        for (Observer *o = observers; o; o = o->next) {
                if (o->device != d)
                        continue;
                for (size_t i = 0; i < o->n_names; i++)
                        if (strcmp(o->names[i], name) == 0) {
                                (void) np_send(o->conn, "RelayNotification", name);
                                break;
                        }
        }
        pthread_mutex_unlock(&np_mutex);
}

void serve_notification_proxy(Conn *c, const ServiceCtx *ctx) {
        Observer self = { .conn = c, .device = ctx->device };

        pthread_mutex_lock(&np_mutex);
        self.next = observers;
        observers = &self;
        pthread_mutex_unlock(&np_mutex);

        for (;;) {
                _cleanup_(plist_freep) plist_t req = NULL;
                const char *cmd, *name;

                if (plistio_recv(c, SERVICE_MAX_FRAME, &req) < 0)
                        break;
                cmd = plist_dict_str(req, "Command");
                name = plist_dict_str(req, "Name");
                if (!cmd)
                        continue;
                if (strcmp(cmd, "Shutdown") == 0) {
                        pthread_mutex_lock(&np_mutex);
                        (void) np_send(c, "ProxyDeath", NULL);
                        pthread_mutex_unlock(&np_mutex);
                        break;
                }
                if (strcmp(cmd, "ObserveNotification") == 0 && name) {
                        char *copy = strdup(name);

                        pthread_mutex_lock(&np_mutex);
                        if (copy && self.n_names < NP_MAX_NAMES)
                                self.names[self.n_names++] = TAKE_PTR(copy);
                        pthread_mutex_unlock(&np_mutex);
                        free(copy);
                } else if (strcmp(cmd, "PostNotification") == 0 && name)
                        /* Host posts (syncWillStart, …) go to the device's own listeners. */
                        log_debug("%s: host posted %s", ctx->device->udid, name);
        }

        pthread_mutex_lock(&np_mutex);
        for (Observer **p = &observers; *p; p = &(*p)->next)
                if (*p == &self) {
                        *p = self.next;
                        break;
                }
        pthread_mutex_unlock(&np_mutex);
        for (size_t i = 0; i < self.n_names; i++)
                free(self.names[i]);
}

/* ---- installation_proxy ---------------------------------------------------------------- */

#define BROWSE_CHUNK 20

/* Deterministic stand-ins for App Store data: idevicebackup2 copies them into Info.plist. */
static plist_t app_dict(const AppInfo *a) {
        plist_t d = plist_new_dict(), meta = plist_new_dict();
        uint8_t h[SHA_DIGEST_LENGTH], sinf[64];
        char path[512], *bin = NULL;
        uint32_t bin_len = 0;

        SHA1((const uint8_t *) a->bundle_id, strlen(a->bundle_id), h);
        for (size_t i = 0; i < sizeof(sinf); i++)
                sinf[i] = h[i % sizeof(h)] ^ (uint8_t) i;
        snprintf(path, sizeof(path),
                 "/private/var/containers/Bundle/Application/%02X%02X%02X%02X-0000-0000-0000-"
                 "%02X%02X%02X%02X%02X%02X/%s.app",
                 h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9],
                 a->display_name ?: "App");

        plist_dict_set_item(meta, "itemName", plist_new_string(a->display_name ?: a->bundle_id));
        plist_dict_set_item(meta, "softwareVersionBundleId", plist_new_string(a->bundle_id));
        plist_to_bin(meta, &bin, &bin_len);
        plist_free(meta);

        plist_dict_set_item(d, "ApplicationSINF", plist_new_data((char *) sinf, sizeof(sinf)));
        plist_dict_set_item(d, "ApplicationType", plist_new_string(a->app_type ?: "User"));
        plist_dict_set_item(d, "CFBundleDisplayName",
                            plist_new_string(a->display_name ?: a->bundle_id));
        plist_dict_set_item(d, "CFBundleExecutable", plist_new_string(a->display_name ?: "App"));
        plist_dict_set_item(d, "CFBundleIdentifier", plist_new_string(a->bundle_id));
        plist_dict_set_item(d, "CFBundleName", plist_new_string(a->display_name ?: a->bundle_id));
        plist_dict_set_item(d, "CFBundleShortVersionString",
                            plist_new_string(a->short_version ?: "1.0"));
        plist_dict_set_item(d, "CFBundleVersion", plist_new_string(a->version ?: "1"));
        plist_dict_set_item(d, "Path", plist_new_string(path));
        plist_dict_set_item(d, "UIFileSharingEnabled", plist_new_bool(a->file_sharing));
        if (bin)
                plist_dict_set_item(d, "iTunesMetadata", plist_new_data(bin, bin_len));
        free(bin);
        return d;
}

/* Keep only the attributes the client asked for (all when it named none). */
static plist_t app_filtered(const AppInfo *a, plist_t attrs) {
        plist_t full = app_dict(a), out;
        uint32_t n = attrs && plist_get_node_type(attrs) == PLIST_ARRAY ?
                             plist_array_get_size(attrs) : 0;

        if (n == 0)
                return full;
        out = plist_new_dict();
        for (uint32_t i = 0; i < n; i++) {
                const char *k = plist_str(plist_array_get_item(attrs, i));
                plist_t v = k ? plist_dict_get_item(full, k) : NULL;
                if (v)
                        plist_dict_set_item(out, k, plist_copy(v));
        }
        plist_free(full);
        return out;
}

static bool type_matches(const AppInfo *a, const char *want) {
        if (!want || strcmp(want, "Any") == 0)
                return true;
        return strcmp(a->app_type ?: "User", want) == 0;
}

static int send_status(Conn *c, const char *status) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, "Status", plist_new_string(status));
        return plistio_send(c, p, false);
}

static int send_instproxy_error(Conn *c, const char *error, const char *desc) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, "Error", plist_new_string(error));
        plist_dict_set_item(p, "ErrorDescription", plist_new_string(desc));
        plist_dict_set_item(p, "ErrorDetail", plist_new_uint(0));
        return plistio_send(c, p, false);
}

static int instproxy_browse(Conn *c, const char *profile, plist_t opts) {
        const char *want = plist_dict_str(opts, "ApplicationType");
        plist_t attrs = opts ? plist_dict_get_item(opts, "ReturnAttributes") : NULL;
        AppInfo **apps = NULL;
        size_t n = 0, total = 0, sent = 0;
        int r;

        r = profile_list_apps(profile, &apps, &n);
        if (r < 0)
                return send_instproxy_error(c, "InternalError", "Cannot read applications");
        for (size_t i = 0; i < n; i++)
                total += type_matches(apps[i], want);

        for (size_t i = 0; i < n && r >= 0;) {
                _cleanup_(plist_freep) plist_t msg = plist_new_dict();
                plist_t list = plist_new_array();
                uint32_t amount = 0;

                for (; i < n && amount < BROWSE_CHUNK; i++)
                        if (type_matches(apps[i], want)) {
                                plist_array_append_item(list, app_filtered(apps[i], attrs));
                                amount++;
                        }
                if (amount == 0) {
                        plist_free(list);
                        break;
                }
                /* libimobiledevice copies CurrentAmount entries: keep it equal to the list. */
                plist_dict_set_item(msg, "CurrentAmount", plist_new_uint(amount));
                plist_dict_set_item(msg, "CurrentIndex", plist_new_uint(sent));
                plist_dict_set_item(msg, "CurrentList", list);
                plist_dict_set_item(msg, "Status", plist_new_string("BrowsingApplications"));
                plist_dict_set_item(msg, "Total", plist_new_uint(total));
                r = plistio_send(c, msg, false);
                sent += amount;
        }
        app_info_free_array(apps, n);
        return r < 0 ? r : send_status(c, "Complete");
}

static int instproxy_lookup(Conn *c, const char *profile, plist_t opts) {
        plist_t ids = opts ? plist_dict_get_item(opts, "BundleIDs") : NULL;
        plist_t attrs = opts ? plist_dict_get_item(opts, "ReturnAttributes") : NULL;
        const char *want = plist_dict_str(opts, "ApplicationType");
        _cleanup_(plist_freep) plist_t msg = plist_new_dict();
        plist_t result = plist_new_dict();
        AppInfo **apps = NULL;
        size_t n = 0;

        if (profile_list_apps(profile, &apps, &n) < 0) {
                plist_free(result);
                return send_instproxy_error(c, "InternalError", "Cannot read applications");
        }
        for (size_t i = 0; i < n; i++) {
                bool wanted = !ids || plist_get_node_type(ids) != PLIST_ARRAY;

                for (uint32_t k = 0; !wanted && k < plist_array_get_size(ids); k++) {
                        const char *id = plist_str(plist_array_get_item(ids, k));
                        wanted = id && strcmp(id, apps[i]->bundle_id) == 0;
                }
                if (wanted && type_matches(apps[i], want))
                        plist_dict_set_item(result, apps[i]->bundle_id,
                                            app_filtered(apps[i], attrs));
        }
        app_info_free_array(apps, n);
        plist_dict_set_item(msg, "LookupResult", result);
        plist_dict_set_item(msg, "Status", plist_new_string("Complete"));
        return plistio_send(c, msg, false);
}

/* One line of <profile>/install.log; best effort (a test that reads it will see a gap). */
static void install_log(const char *profile, const char *what, const char *arg) {
        _cleanup_(freep) char *path = NULL;
        FILE *f;

        if (asprintf(&path, "%s/install.log", profile) < 0)
                return;
        f = fopen(path, "ae");
        if (!f)
                return;
        fprintf(f, "%s %s\n", what, arg);
        fclose(f);
}

static int send_progress(Conn *c, const char *status, unsigned percent) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, "PercentComplete", plist_new_uint(percent));
        plist_dict_set_item(p, "Status", plist_new_string(status));
        return plistio_send(c, p, false);
}

static int send_detailed_error(Conn *c, const char *error, const char *desc, uint64_t detail) {
        _cleanup_(plist_freep) plist_t p = plist_new_dict();

        plist_dict_set_item(p, "Error", plist_new_string(error));
        plist_dict_set_item(p, "ErrorDescription", plist_new_string(desc));
        plist_dict_set_item(p, "ErrorDetail", plist_new_uint(detail));
        plist_dict_set_item(p, "Status", plist_new_string("Error"));    /* as phones do */
        return plistio_send(c, p, false);
}

/* apps/<bundle id>/Info.ini for an installed IPA (temp file + rename: Browse never reads
 * half of one). */
static int app_write(const char *profile, const IpaInfo *i) {
        _cleanup_(freep) char *dir = NULL, *path = NULL, *tmp = NULL, *text = NULL;
        int k, fd;

        if (asprintf(&dir, "%s/apps/%s", profile, i->bundle_id) < 0 ||
            asprintf(&path, "%s/Info.ini", dir) < 0 || asprintf(&tmp, "%s/.Info.ini.tmp", dir) < 0)
                return -ENOMEM;
        k = asprintf(&text,
                     "[App]\nCFBundleIdentifier=%s\nCFBundleDisplayName=%s\n"
                     "CFBundleShortVersionString=%s\nCFBundleVersion=%s\n"
                     "ApplicationType=User\nUIFileSharingEnabled=%s\n",
                     i->bundle_id, i->display_name ?: i->bundle_id, i->short_version ?: "1.0",
                     i->version ?: "1", i->file_sharing ? "yes" : "no");
        if (k < 0)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, text, (size_t) k) != k) {
                close(fd);
                unlink(tmp);
                return -EIO;
        }
        close(fd);
        return rename(tmp, path) < 0 ? -errno : 0;
}

/* A bundle id that names one directory under apps/. */
static bool bundle_id_plain(const char *id) {
        return id && id[0] && id[0] != '.' && strlen(id) <= 255 && !strchr(id, '/') &&
               !strstr(id, "..");
}

/* The installd staging path a phone names in its errors. */
#define STAGING "/var/installd/Library/Caches/com.apple.mobile.installd.staging/temp.emu/extracted"

/* DeveloperMode= of device.ini, read now (a test may change it between installs). */
static bool developer_mode(Device *d) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;

        return device_read_info(d, &info) < 0 || info->developer_mode;
}

static int instproxy_install(Conn *c, const ServiceCtx *ctx, const char *profile, plist_t req) {
        static const struct {
                const char *status;
                unsigned percent;
        } before[] = {
                { "CreatingStagingDirectory", 5 }, { "ExtractingPackage", 15 },
                { "InspectingPackage", 20 }, { "TakingInstallLock", 20 },
                { "PreflightingApplication", 30 }, { "InstallingEmbeddedProfile", 30 },
                { "VerifyingApplication", 40 },
        }, after[] = {
                { "CreatingContainer", 50 }, { "InstallingApplication", 60 },
                { "PostflightingApplication", 70 }, { "SandboxingApplication", 80 },
                { "GeneratingApplicationMap", 90 },
        };
        const char *pkg = plist_dict_str(req, "PackagePath");
        _cleanup_(ipa_info_freep) IpaInfo *info = NULL;
        _cleanup_(freep) char *path = NULL, *desc = NULL;
        int r;

        install_log(profile, "Install", pkg ?: "(none)");
        while (pkg && *pkg == '/')
                pkg++;
        if (!pkg || !*pkg || strstr(pkg, ".."))
                return send_detailed_error(c, "InvalidArgument", "PackagePath is missing or "
                                           "not a path below the media directory", 0);
        if (asprintf(&path, "%s/media/%s", profile, pkg) < 0)
                return -ENOMEM;
        for (size_t k = 0; k < 3; k++) {
                r = send_progress(c, before[k].status, before[k].percent);
                if (r < 0)
                        return r;
        }
        r = ipa_inspect(path, ctx->device->udid, &info);
        if (r == -ENOENT || r == -ENOTDIR)
                return send_detailed_error(c, "PackageExtractionFailed",
                                           "Could not open the package or find "
                                           "Payload/*.app/Info.plist in it", 0);
        if (r < 0 || !bundle_id_plain(info->bundle_id))
                return send_detailed_error(c, "PackageInspectionFailed",
                                           "Failed to inspect the package: it is not a valid "
                                           "IPA (ZIP) with a bundle identifier", 0);
        for (size_t k = 3; k < ELEMENTSOF(before); k++) {
                r = send_progress(c, before[k].status, before[k].percent);
                if (r < 0)
                        return r;
        }
        if (info->signed_for_device && info->development && !developer_mode(ctx->device)) {
                if (asprintf(&desc, "Failed to verify code signature of " STAGING
                             "/Payload/%s.app : Developer Mode is disabled; a development-"
                             "signed app needs it (Settings > Privacy & Security > Developer "
                             "Mode)", info->display_name ?: info->bundle_id) < 0)
                        return -ENOMEM;
                return send_detailed_error(c, "ApplicationVerificationFailed", desc, 0);
        }
        if (!info->signed_for_device) {
                if (asprintf(&desc, "Failed to verify code signature of " STAGING
                             "/Payload/%s.app : 0xe8008015 (A valid provisioning profile for "
                             "this executable was not found.)",
                             info->display_name ?: info->bundle_id) < 0)
                        return -ENOMEM;
                return send_detailed_error(c, "ApplicationVerificationFailed", desc,
                                           0xe8008015u);
        }
        for (size_t k = 0; k < ELEMENTSOF(after); k++) {
                r = send_progress(c, after[k].status, after[k].percent);
                if (r < 0)
                        return r;
        }
        r = app_write(profile, info);
        if (r < 0)
                return send_detailed_error(c, "APIInternalError",
                                           "Could not write the application", 0);
        log_info("%s: installed %s", ctx->device->udid, info->bundle_id);
        return send_status(c, "Complete");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path) < 0 ? -1 : 0;
}

static int instproxy_uninstall(Conn *c, const ServiceCtx *ctx, const char *profile,
                               plist_t req) {
        const char *id = plist_dict_str(req, "ApplicationIdentifier");
        _cleanup_(freep) char *dir = NULL;
        int r;

        install_log(profile, "Uninstall", id ?: "(none)");
        if (!bundle_id_plain(id))
                return send_detailed_error(c, "InvalidArgument",
                                           "ApplicationIdentifier is missing or invalid", 0);
        if (asprintf(&dir, "%s/apps/%s", profile, id) < 0)
                return -ENOMEM;
        r = send_progress(c, "RemovingApplication", 50);
        if (r < 0)
                return r;
        /* A phone answers Complete for an app it does not have, too. */
        if (access(dir, F_OK) == 0 && nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
                return send_detailed_error(c, "APIInternalError",
                                           "Could not remove the application", 0);
        r = send_progress(c, "GeneratingApplicationMap", 90);
        if (r < 0)
                return r;
        log_info("%s: uninstalled %s", ctx->device->udid, id);
        return send_status(c, "Complete");
}

void serve_installation_proxy(Conn *c, const ServiceCtx *ctx) {
        _cleanup_(freep) char *profile = NULL;

        emu_lock();
        profile = strdup(ctx->device->profile_dir);
        emu_unlock();
        if (!profile)
                return;

        for (;;) {
                _cleanup_(plist_freep) plist_t req = NULL;
                const char *cmd;
                plist_t opts;
                int r;

                if (plistio_recv(c, SERVICE_MAX_FRAME, &req) < 0)
                        return;
                cmd = plist_dict_str(req, "Command");
                opts = plist_dict_get_item(req, "ClientOptions");
                if (opts && plist_get_node_type(opts) != PLIST_DICT)
                        opts = NULL;
                if (cmd && strcmp(cmd, "Browse") == 0)
                        r = instproxy_browse(c, profile, opts);
                else if (cmd && strcmp(cmd, "Lookup") == 0)
                        r = instproxy_lookup(c, profile, opts);
                else if (cmd && strcmp(cmd, "Install") == 0)
                        r = instproxy_install(c, ctx, profile, req);
                else if (cmd && strcmp(cmd, "Uninstall") == 0)
                        r = instproxy_uninstall(c, ctx, profile, req);
                else
                        r = send_instproxy_error(c, "UnknownCommand", "Unknown command");
                if (r < 0)
                        return;
        }
}
