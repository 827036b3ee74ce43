/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device sessions: everything before and after the mobilebackup2 conversation.
 *
 * The handshake pairs on first use (libimobiledevice does that when usbmuxd has no pair
 * record). When the device forgot this host (InvalidHostID: reset, "Reset Location &
 * Privacy", another computer's pairing replaced ours) the stale record is deleted once and
 * the handshake retried, which shows the Trust dialog again, the way iTunes recovers.
 * The sync lock and the notifications follow what iTunes does (protocols.md §3.6, §5.3).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <strings.h>
#include <time.h>

#include <libimobiledevice/installation_proxy.h>
#include <usbmuxd.h>

#include "error.h"
#include "idevicesync.h"
#include "cancel.h"
#include "session.h"
#include "util.h"

#define NP_SYNC_WILL_START "com.apple.itunes-mobdev.syncWillStart"
#define NP_SYNC_LOCK_REQUEST "com.apple.itunes-mobdev.syncLockRequest"
#define NP_SYNC_DID_START "com.apple.itunes-mobdev.syncDidStart"
#define NP_SYNC_DID_FINISH "com.apple.itunes-mobdev.syncDidFinish"
#define SYNC_LOCK_FILE "/com.apple.itunes.lock_sync"

static Session *session_destroy(Session *s);

static const char *value_str(plist_t dict, const char *key) {
        plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
        const char *s;
        uint64_t len = 0;

        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        /* libplist 2.2.0 asserts on strings with a NUL inside: check the length ourselves. */
        s = plist_get_string_ptr(n, &len);
        return s && strlen(s) == len ? s : NULL;
}

const char *session_value_str(Session *s, const char *key) {
        return value_str(s->values, key);
}

static int handshake(Session *s, const char *label) {
        lockdownd_error_t le;

        le = lockdownd_client_new_with_handshake(s->device, &s->lockdown, label);
        if (le == LOCKDOWN_E_INVALID_HOST_ID) {
                /* The device forgot us: drop usbmuxd's stale record and pair again once. */
                ids_debug("%s: device does not know this host, pairing again", s->udid);
                (void) usbmuxd_delete_pair_record(s->udid);
                le = lockdownd_client_new_with_handshake(s->device, &s->lockdown, label);
        }
        if (le != LOCKDOWN_E_SUCCESS) {
                ids_debug("%s: lockdown handshake failed: %d", s->udid, le);
                s->lockdown = NULL;
                return lockdown_error_to_result(le);
        }
        return 0;
}

/* usbmuxd and the pair records know a device by the UDID exactly as usbmuxd spells it;
 * callers may spell it in another letter case (udid.h). Returns a copy of usbmuxd's
 * spelling of udid, or of udid itself when usbmuxd does not list it (the connection then
 * fails as "disconnected"); NULL when out of memory. */
static char *usbmux_udid(const char *udid) {
        idevice_info_t *list = NULL;
        char *found = NULL;
        int n = 0;

        if (idevice_get_device_list_extended(&list, &n) == IDEVICE_E_SUCCESS && list) {
                for (int i = 0; i < n && !found; i++)
                        if (list[i] && list[i]->conn_type == CONNECTION_USBMUXD &&
                            list[i]->udid && strcasecmp(list[i]->udid, udid) == 0)
                                found = strdup(list[i]->udid);
                idevice_device_list_extended_free(list);
                if (found)
                        return found;
        }
        return strdup(udid);
}

/* The global domain, WillEncrypt and ProductVersion, read anew (also when a kept session is
 * taken up: the values are this operation's). 0, IDS_E_PROTOCOL or -ENOMEM. */
static int read_values(Session *s) {
        plist_t v = NULL;

        if (s->values)
                plist_free(s->values);
        s->values = NULL;
        if (lockdownd_get_value(s->lockdown, NULL, NULL, &s->values) != LOCKDOWN_E_SUCCESS ||
            plist_get_node_type(s->values) != PLIST_DICT)
                return IDS_E_PROTOCOL;
        s->will_encrypt = false;
        if (lockdownd_get_value(s->lockdown, "com.apple.mobile.backup", "WillEncrypt", &v) ==
                    LOCKDOWN_E_SUCCESS && v && plist_get_node_type(v) == PLIST_BOOLEAN) {
                uint8_t b = 0;
                plist_get_bool_val(v, &b);
                s->will_encrypt = b;
        }
        if (v)
                plist_free(v);
        free(s->product_version);
        s->product_version = strdup(session_value_str(s, "ProductVersion") ?: "");
        return s->product_version ? 0 : -ENOMEM;
}

/* ---- one session kept for the next operation ------------------------------------------ */

/* The daemon's helper probes a device and then, when its policy says so, backs it up or
 * syncs it in the same process (ids_session_keep()). The probe's lockdown session is kept
 * for that: the next operation saves a connection, usbmuxd's pair record lookup and the
 * TLS handshake, in which libimobiledevice 1.3.0 sleeps 100 ms each time OpenSSL waits for
 * the device (idevice_connection_enable_ssl() on a non-blocking socket). A kept session is
 * taken up only by the same device within KEPT_MAX_USEC, and only after the device
 * answered a GetValue on it; otherwise the operation starts from a new connection, as it
 * always did. One operation at a time per process: not thread-safe. */
#define KEPT_MAX_USEC (10 * UINT64_C(1000000))

static struct {
        bool on;
        Session *s;
        uint64_t since;                         /* CLOCK_MONOTONIC, µs */
} kept;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

_public_ void ids_session_keep(bool keep) {
        kept.on = keep;
        if (!keep && kept.s)
                kept.s = session_destroy(kept.s);
}

/* The kept session of udid, its values read anew; NULL when there is none (or it is too
 * old, or the device no longer answers on it: then it is closed). */
static Session *kept_take(const char *udid) {
        Session *s = kept.s;

        if (!s)
                return NULL;
        kept.s = NULL;
        if (strcasecmp(s->udid, udid) != 0 || now_usec() - kept.since > KEPT_MAX_USEC ||
            read_values(s) != 0) {
                ids_debug("%s: the kept session is not taken up", s->udid);
                session_destroy(s);
                return NULL;
        }
        ids_debug("%s: taking up the session of the previous operation", s->udid);
        return s;
}

int session_open(const char *udid, const char *label, Session **ret) {
        Session *s;
        int r;

        if (!udid || !ret)
                return -EINVAL;
        s = kept_take(udid);
        if (s) {
                *ret = s;
                return 0;
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->udid = usbmux_udid(udid);
        if (!s->udid) {
                session_destroy(s);
                return -ENOMEM;
        }

        if (idevice_new_with_options(&s->device, s->udid, IDEVICE_LOOKUP_USBMUX) !=
            IDEVICE_E_SUCCESS) {
                s->device = NULL;
                session_destroy(s);
                return IDS_E_DISCONNECTED;
        }
        r = handshake(s, label);
        if (r == 0)
                r = read_values(s);
        if (r != 0) {
                session_destroy(s);
                return r;
        }
        s->opened = true;
        *ret = s;
        return 0;
}

int session_start_service(Session *s, const char *name, lockdownd_service_descriptor_t *ret) {
        lockdownd_error_t le;

        if (!s->lockdown)
                return -ENOTCONN;
        le = lockdownd_start_service_with_escrow_bag(s->lockdown, name, ret);
        if (le != LOCKDOWN_E_SUCCESS) {
                ids_debug("%s: cannot start %s: %d", s->udid, name, le);
                return lockdown_error_to_result(le);
        }
        return 0;
}

void session_close_lockdown(Session *s) {
        if (s->lockdown) {
                lockdownd_client_free(s->lockdown);
                s->lockdown = NULL;
        }
}

/* notification_proxy, observed by a thread of our own rather than libimobiledevice's: its
 * thread sleeps a second between polls and np_client_free() joins it, which made every
 * cancel and every end of a job wait up to a second. Ours blocks in receive and is woken
 * at once by shutting its stream down. Messages (plist framing, protocols.md §5.2): we
 * send {Command: ObserveNotification, Name}, the device sends {Command: RelayNotification,
 * Name}; {Command: Shutdown} is answered with {Command: ProxyDeath}. */
static int observer_client_new(idevice_t device, lockdownd_service_descriptor_t svc,
                               void **ret) {
        property_list_service_client_t c = NULL;

        if (property_list_service_client_new(device, svc, &c) != PROPERTY_LIST_SERVICE_E_SUCCESS)
                return IDS_E_DISCONNECTED;
        *ret = c;
        return 0;
}

static int observer_send(Session *s, const char *command, const char *name) {
        plist_t d = plist_new_dict();
        property_list_service_error_t e;

        plist_dict_set_item(d, "Command", plist_new_string(command));
        if (name)
                plist_dict_set_item(d, "Name", plist_new_string(name));
        e = property_list_service_send_xml_plist(s->observer, d);
        plist_free(d);
        return e == PROPERTY_LIST_SERVICE_E_SUCCESS ? 0 : IDS_E_DISCONNECTED;
}

static void *observer_thread(void *userdata) {
        Session *s = userdata;

        while (!atomic_load(&s->observer_stop)) {
                property_list_service_error_t e;
                const char *cmd;
                plist_t p = NULL;

                /* The timeout only matters when the stream could not be found (no shutdown
                 * to wake us): then a stop is noticed within it. */
                e = property_list_service_receive_plist_with_timeout(s->observer, &p,
                                                                     s->observer_fd >= 0 ? 5000 : 100);
                if (e == PROPERTY_LIST_SERVICE_E_RECEIVE_TIMEOUT)
                        continue;
                if (e != PROPERTY_LIST_SERVICE_E_SUCCESS)
                        break;                  /* gone, or shut down by session_free() */
                cmd = value_str(p, "Command");
                if (cmd && strcmp(cmd, "RelayNotification") == 0) {
                        const char *name = value_str(p, "Name");

                        if (name && s->on_notify && !atomic_load(&s->observer_stop))
                                s->on_notify(s, name, s->notify_userdata);
                } else if (cmd && strcmp(cmd, "ProxyDeath") == 0) {
                        plist_free(p);
                        break;
                }
                plist_free(p);
        }
        return NULL;
}

int session_observe(Session *s, session_notify_fn fn, void *userdata) {
        static const char *names[] = {
                "com.apple.itunes-client.syncCancelRequest",
                "com.apple.itunes-client.syncSuspendRequest",
                "com.apple.itunes-client.syncResumeRequest",
                "com.apple.mobile.backup.domain_changed",
                "com.apple.LocalAuthentication.ui.presented",
                "com.apple.LocalAuthentication.ui.dismissed",
                NULL,
        };
        void *client = NULL;
        int r;

        if (s->observer)
                return -EBUSY;
        r = session_connect_service(s, NP_SERVICE_NAME, NULL, observer_client_new, &client,
                                    &s->observer_fd);
        if (r != 0)
                return r;
        s->observer = client;
        s->on_notify = fn;
        s->notify_userdata = userdata;
        for (size_t i = 0; names[i]; i++) {
                r = observer_send(s, "ObserveNotification", names[i]);
                if (r != 0)
                        return r;
        }
        atomic_store(&s->observer_stop, false);
        r = pthread_create(&s->observer_thread, NULL, observer_thread, s);
        if (r != 0)
                return -r;
        s->observer_running = true;
        return 0;
}

static void observer_stop(Session *s) {
        if (!s->observer)
                return;
        atomic_store(&s->observer_stop, true);
        (void) observer_send(s, "Shutdown", NULL);
        if (s->observer_fd >= 0)
                (void) shutdown(s->observer_fd, SHUT_RDWR);
        if (s->observer_running)
                (void) pthread_join(s->observer_thread, NULL);
        s->observer_running = false;
        property_list_service_client_free(s->observer);
        s->observer = NULL;
}

/* Posts go through a client of their own, so that a post never interleaves with the
 * observer thread's reads. */
static void post(Session *s, const char *name) {
        if (!s->np_post && s->lockdown) {
                lockdownd_service_descriptor_t svc = NULL;

                if (session_start_service(s, NP_SERVICE_NAME, &svc) == 0) {
                        if (np_client_new(s->device, svc, &s->np_post) != NP_E_SUCCESS)
                                s->np_post = NULL;
                        lockdownd_service_descriptor_free(svc);
                }
        }
        if (s->np_post)
                (void) np_post_notification(s->np_post, name);
}

int session_sync_lock(Session *s) {
        lockdownd_service_descriptor_t svc = NULL;
        afc_error_t e;
        int r;

        r = session_start_service(s, AFC_SERVICE_NAME, &svc);
        if (r != 0)
                return r;
        e = afc_client_new(s->device, svc, &s->afc);
        lockdownd_service_descriptor_free(svc);
        if (e != AFC_E_SUCCESS) {
                s->afc = NULL;
                return IDS_E_DISCONNECTED;
        }

        post(s, NP_SYNC_WILL_START);
        e = afc_file_open(s->afc, SYNC_LOCK_FILE, AFC_FOPEN_RW, &s->lock_handle);
        if (e != AFC_E_SUCCESS) {
                ids_debug("%s: cannot open the sync lock file: %d", s->udid, e);
                s->lock_handle = 0;
                return e == AFC_E_MUX_ERROR ? IDS_E_DISCONNECTED : IDS_E_PROTOCOL;
        }
        post(s, NP_SYNC_LOCK_REQUEST);
        /* iTunes retries every 200 ms for 10 s while another host finishes its sync. */
        for (int i = 0; i < 50; i++) {
                e = afc_file_lock(s->afc, s->lock_handle, AFC_LOCK_EX);
                if (e == AFC_E_SUCCESS) {
                        s->sync_locked = true;
                        post(s, NP_SYNC_DID_START);
                        s->did_start = true;
                        return 0;
                }
                if (e != AFC_E_OP_WOULD_BLOCK)
                        return e == AFC_E_MUX_ERROR ? IDS_E_DISCONNECTED : IDS_E_PROTOCOL;
                nanosleep(&(struct timespec) { .tv_nsec = 200 * 1000 * 1000 }, NULL);
        }
        return IDS_E_BUSY;
}

/* What an operation opened beside lockdown: the sync lock and its AFC client (unlocked),
 * syncDidFinish, the notification clients. */
static void release_services(Session *s) {
        if (s->afc) {
                if (s->sync_locked)
                        (void) afc_file_lock(s->afc, s->lock_handle, AFC_LOCK_UN);
                if (s->lock_handle)
                        (void) afc_file_close(s->afc, s->lock_handle);
                afc_client_free(s->afc);
        }
        s->afc = NULL;
        s->sync_locked = false;
        s->lock_handle = 0;
        if (s->did_start)
                post(s, NP_SYNC_DID_FINISH);
        s->did_start = false;
        if (s->np_post)
                np_client_free(s->np_post);
        s->np_post = NULL;
        observer_stop(s);
        s->on_notify = NULL;
        s->notify_userdata = NULL;
        atomic_store(&s->observer_stop, false);
}

Session *session_free(Session *s) {
        if (!s)
                return NULL;
        if (kept.on && !kept.s && s->opened && s->lockdown) {
                release_services(s);            /* session_destroy() does it otherwise */
                kept.s = s;
                kept.since = now_usec();
                return NULL;
        }
        return session_destroy(s);
}

static Session *session_destroy(Session *s) {
        if (!s)
                return NULL;
        release_services(s);
        session_close_lockdown(s);
        if (s->device)
                idevice_free(s->device);
        if (s->values)
                plist_free(s->values);
        free(s->product_version);
        free(s->udid);
        free(s);
        return NULL;
}

static void copy_str(plist_t info, const char *to, Session *s, const char *from) {
        const char *v = session_value_str(s, from);

        if (v)
                plist_dict_set_item(info, to, plist_new_string(v));
}

/* installation_proxy Browse of user apps: Info.plist's "Applications" and
 * "Installed Applications". Missing service = no apps (not fatal). */
static void add_apps(Session *s, plist_t info) {
        lockdownd_service_descriptor_t svc = NULL;
        instproxy_client_t ip = NULL;
        plist_t opts, apps = NULL, installed = plist_new_array(), appdict = plist_new_dict();

        if (session_start_service(s, INSTPROXY_SERVICE_NAME, &svc) == 0 &&
            instproxy_client_new(s->device, svc, &ip) == INSTPROXY_E_SUCCESS) {
                opts = instproxy_client_options_new();
                instproxy_client_options_add(opts, "ApplicationType", "User", NULL);
                instproxy_client_options_set_return_attributes(opts, "CFBundleIdentifier",
                                                               "ApplicationSINF",
                                                               "iTunesMetadata", NULL);
                if (instproxy_browse(ip, opts, &apps) != INSTPROXY_E_SUCCESS)
                        apps = NULL;
                instproxy_client_options_free(opts);
        }
        for (uint32_t i = 0; apps && i < plist_array_get_size(apps); i++) {
                plist_t a = plist_array_get_item(apps, i);
                const char *id = value_str(a, "CFBundleIdentifier");
                plist_t sinf = plist_dict_get_item(a, "ApplicationSINF");
                plist_t meta = plist_dict_get_item(a, "iTunesMetadata");

                if (!id)
                        continue;
                plist_array_append_item(installed, plist_new_string(id));
                if (sinf && meta) {
                        plist_t e = plist_new_dict();
                        plist_dict_set_item(e, "ApplicationSINF", plist_copy(sinf));
                        plist_dict_set_item(e, "iTunesMetadata", plist_copy(meta));
                        plist_dict_set_item(appdict, id, e);
                }
        }
        plist_dict_set_item(info, "Applications", appdict);
        plist_dict_set_item(info, "Installed Applications", installed);
        if (apps)
                plist_free(apps);
        if (ip)
                instproxy_client_free(ip);
        if (svc)
                lockdownd_service_descriptor_free(svc);
}

int session_build_info_plist(Session *s, plist_t *ret) {
        plist_t info = plist_new_dict(), v = NULL;
        char guid[33];
        struct timespec now;
        uint8_t rnd[16];
        FILE *f;

        if (!info)
                return -ENOMEM;
        add_apps(s, info);
        copy_str(info, "Build Version", s, "BuildVersion");
        copy_str(info, "Device Name", s, "DeviceName");
        copy_str(info, "Display Name", s, "DeviceName");

        f = fopen("/dev/urandom", "re");
        if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
                memset(rnd, 0x5a, sizeof(rnd));
        if (f)
                fclose(f);
        for (size_t i = 0; i < sizeof(rnd); i++)
                snprintf(guid + 2 * i, 3, "%02X", rnd[i]);
        plist_dict_set_item(info, "GUID", plist_new_string(guid));

        copy_str(info, "ICCID", s, "IntegratedCircuitCardIdentity");
        copy_str(info, "IMEI", s, "InternationalMobileEquipmentIdentity");
        copy_str(info, "MEID", s, "MobileEquipmentIdentifier");
        copy_str(info, "Phone Number", s, "PhoneNumber");
        clock_gettime(CLOCK_REALTIME, &now);
        /* plist dates count from 2001-01-01. */
        plist_dict_set_item(info, "Last Backup Date",
                            plist_new_date((int32_t) (now.tv_sec - 978307200), 0));
        copy_str(info, "Product Name", s, "ProductName");
        copy_str(info, "Product Type", s, "ProductType");
        copy_str(info, "Product Version", s, "ProductVersion");
        copy_str(info, "Serial Number", s, "SerialNumber");
        plist_dict_set_item(info, "Target Identifier", plist_new_string(s->udid));
        plist_dict_set_item(info, "Target Type", plist_new_string("Device"));
        {
                char up[65];
                size_t i;
                for (i = 0; i < sizeof(up) - 1 && s->udid[i]; i++)
                        up[i] = (char) (s->udid[i] >= 'a' && s->udid[i] <= 'z' ?
                                                s->udid[i] - 32 : s->udid[i]);
                up[i] = 0;
                plist_dict_set_item(info, "Unique Identifier", plist_new_string(up));
        }
        plist_dict_set_item(info, "iTunes Files", plist_new_dict());
        if (s->lockdown &&
            lockdownd_get_value(s->lockdown, "com.apple.iTunes", NULL, &v) == LOCKDOWN_E_SUCCESS &&
            v && plist_get_node_type(v) == PLIST_DICT)
                plist_dict_set_item(info, "iTunes Settings", v);
        else {
                if (v)
                        plist_free(v);
                plist_dict_set_item(info, "iTunes Settings", plist_new_dict());
        }
        v = NULL;
        if (s->lockdown &&
            lockdownd_get_value(s->lockdown, "com.apple.mobile.iTunes", "MinITunesVersion", &v) ==
                    LOCKDOWN_E_SUCCESS && v && plist_get_node_type(v) == PLIST_STRING)
                plist_dict_set_item(info, "iTunes Version", v);
        else {
                if (v)
                        plist_free(v);
                plist_dict_set_item(info, "iTunes Version", plist_new_string("10.0.1"));
        }
        *ret = info;
        return 0;
}

_public_ int ids_device_probe(const char *udid, ids_device_info *ret) {
        Session *s = NULL;
        plist_t v = NULL;
        int r;

        if (!udid || !ret)
                return -EINVAL;
        r = session_open(udid, "idevicesync", &s);
        if (r != 0)
                return r;
        memset(ret, 0, sizeof(*ret));
        snprintf(ret->name, sizeof(ret->name), "%s", session_value_str(s, "DeviceName") ?: "");
        snprintf(ret->product_type, sizeof(ret->product_type), "%s",
                 session_value_str(s, "ProductType") ?: "");
        snprintf(ret->product_version, sizeof(ret->product_version), "%s", s->product_version);
        ret->will_encrypt = s->will_encrypt;
        ret->battery = -1;
        if (lockdownd_get_value(s->lockdown, "com.apple.mobile.battery", NULL, &v) ==
                    LOCKDOWN_E_SUCCESS && v && plist_get_node_type(v) == PLIST_DICT) {
                plist_t cap = plist_dict_get_item(v, "BatteryCurrentCapacity");
                plist_t chg = plist_dict_get_item(v, "BatteryIsCharging");
                uint64_t pct = 0;
                uint8_t b = 0;

                if (cap && plist_get_node_type(cap) == PLIST_UINT) {
                        plist_get_uint_val(cap, &pct);
                        ret->battery = pct > 100 ? 100 : (int) pct;
                }
                if (chg && plist_get_node_type(chg) == PLIST_BOOLEAN) {
                        plist_get_bool_val(chg, &b);
                        ret->charging = b;
                }
        }
        if (v)
                plist_free(v);
        session_free(s);
        return 0;
}

/* ---- services ------------------------------------------------------------------------ */

/* libimobiledevice hides the socket under a service client: find the one it opened since
 * `before` (a snapshot of open fds), so cancel can shut it down and EOF can be told from a
 * slow device. */
typedef struct FdSnapshot {
        uint64_t bits[16];                      /* fds 0..1023 */
} FdSnapshot;

static void fd_snapshot(FdSnapshot *s) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;

        memset(s, 0, sizeof(*s));
        if (!d)
                return;
        while ((e = readdir(d))) {
                int fd = atoi(e->d_name);
                /* Not the directory's own fd: it is closed below and its number reused. */
                if (fd >= 0 && fd < 1024 && e->d_name[0] != '.' && fd != dirfd(d))
                        s->bits[fd / 64] |= 1ull << (fd % 64);
        }
        closedir(d);
}

static int fd_find_new_socket(const FdSnapshot *before) {
        FdSnapshot now;
        int found = -1;

        fd_snapshot(&now);
        for (int fd = 0; fd < 1024; fd++) {
                struct stat st;

                if (!(now.bits[fd / 64] & (1ull << (fd % 64))) ||
                    (before->bits[fd / 64] & (1ull << (fd % 64))))
                        continue;
                if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
                        found = fd;     /* the newest socket is the service stream */
        }
        return found;
}

int session_connect_service(Session *s, const char *name, ids_cancel *cancel,
                            session_client_new_fn client_new, void **ret_client,
                            int *ret_stream_fd) {
        lockdownd_service_descriptor_t svc = NULL;
        FdSnapshot before;
        void *client = NULL;
        int r, fd;

        r = session_start_service(s, name, &svc);
        if (r != 0)
                return r;
        fd_snapshot(&before);
        r = client_new(s->device, svc, &client);
        lockdownd_service_descriptor_free(svc);
        if (r != 0)
                return r;
        fd = fd_find_new_socket(&before);
        ids_debug("%s: %s stream on fd %d", s->udid, name, fd);
        cancel_set_stream(cancel, fd);
        *ret_client = client;
        *ret_stream_fd = fd;
        return ids_cancel_requested(cancel) ? IDS_E_CANCELLED : 0;
}
