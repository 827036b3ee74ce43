/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Restore a committed snapshot to a device (the same one or a new one). The source device
 * may be gone: only its store is needed. Pre-checks come first, each a named result before
 * anything is sent to the target (issue 17; sync-protocols.md §9 lists what a phone
 * refuses): the snapshot is committed and verifies, with its password when encrypted
 * (IDS_E_BACKUP_DAMAGED, IDS_E_WRONG_PASSWORD); the target's iOS is not older than the
 * backup's (IDS_E_IOS_TOO_OLD); the target's free space (lockdown com.apple.disk_usage
 * TotalDataAvailable, protocols.md) holds the backup's data (IDS_E_TARGET_FULL); Find My is
 * off (lockdown com.apple.fmip IsAssociated, the key SDMMobileDevice and other open tools
 * read; the device's own refusal, MBErrorDomain 211, maps to the same IDS_E_FIND_MY).
 * skip_checks leaves them to the device. Then the device pulls the files with
 * DLMessageDownloadFiles; the DeviceLink host serves the snapshot read-only, so a restore
 * can never change a snapshot.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libimobiledevice/mobilebackup2.h>

#include "cancel.h"
#include "devicelink.h"
#include "error.h"
#include "fs-util.h"
#include "idevicesync.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "udid.h"

/* Compare dotted versions numerically ("16.7.2" < "17.5"). */
static int version_cmp(const char *a, const char *b) {
        while (*a || *b) {
                unsigned long x = strtoul(a, (char **) &a, 10);
                unsigned long y = strtoul(b, (char **) &b, 10);
                if (x != y)
                        return x < y ? -1 : 1;
                if (*a == '.')
                        a++;
                if (*b == '.')
                        b++;
                if (!*a && !*b)
                        break;
                if ((*a && *a < '0') || (*a && *a > '9') || (*b && *b < '0') || (*b && *b > '9'))
                        break;
        }
        return 0;
}

/* A bool or integer lockdown value of domain, or -ENOENT when the device has none. */
static int lockdown_u64(Session *s, const char *domain, const char *key, uint64_t *ret) {
        plist_t v = NULL;
        uint8_t b = 0;
        int r = -ENOENT;

        if (lockdownd_get_value(s->lockdown, domain, key, &v) != LOCKDOWN_E_SUCCESS || !v)
                return -ENOENT;
        if (plist_get_node_type(v) == PLIST_BOOLEAN) {
                plist_get_bool_val(v, &b);
                *ret = b;
                r = 0;
        } else if (plist_get_node_type(v) == PLIST_UINT) {
                plist_get_uint_val(v, ret);
                r = 0;
        }
        plist_free(v);
        return r;
}

/* The target's side of the pre-checks, on an open session: iOS, free space, Find My. */
static int check_target(Session *s, const SnapshotInfo *info, ids_backup_result *res) {
        uint64_t v;

        if (info->ios_version[0] && s->product_version[0] &&
            version_cmp(s->product_version, info->ios_version) < 0) {
                snprintf(res->message, sizeof(res->message),
                         "the backup is from iOS %s; the device runs the older iOS %s",
                         info->ios_version, s->product_version);
                return IDS_E_IOS_TOO_OLD;
        }
        if (lockdown_u64(s, "com.apple.disk_usage", "TotalDataAvailable", &v) == 0 &&
            v < info->bytes) {
                snprintf(res->message, sizeof(res->message),
                         "the backup holds %" PRIu64 " bytes; the device has %" PRIu64
                         " bytes free", info->bytes, v);
                return IDS_E_TARGET_FULL;
        }
        if (lockdown_u64(s, "com.apple.fmip", "IsAssociated", &v) == 0 && v) {
                snprintf(res->message, sizeof(res->message),
                         "Find My is on; turn it off on the device before restoring");
                return IDS_E_FIND_MY;
        }
        return 0;
}

/* The snapshot's side: it verifies (with its password when encrypted). Takes and drops
 * the source's lock, so it runs before the store is opened. */
static int check_snapshot(const ids_restore_options *o, ids_backup_result *res) {
        ids_verify_options vo = {
                .udid = o->source_udid,
                .snapshot = o->snapshot,
                .state_dir = o->state_dir,
                .backup_dir = o->backup_dir,
                .password = o->password,
        };
        ids_verify_report rep = {};
        int r;

        r = ids_verify_run(&vo, &rep);
        if (r == IDS_E_PROTOCOL) {
                snprintf(res->message, sizeof(res->message), "the backup does not verify: %.200s",
                         rep.first_problem);
                return IDS_E_BACKUP_DAMAGED;
        }
        if (r == IDS_E_WRONG_PASSWORD)
                snprintf(res->message, sizeof(res->message), "%s",
                         o->password ? "the backup password is wrong" :
                                       "the backup is encrypted and no password is set");
        return r;
}

/* §9 step 2: the backup's Info.plist "Applications" to RestoreApplications.plist on the
 * device, so it downloads its App Store apps again. How many apps it lists, or -errno.
 * A backup without an app list is not an error: 0. */
static int write_app_list(Session *s, const char *snap_path, const char *source) {
        _cleanup_(freep) char *path = NULL, *text = NULL, *xml = NULL;
        plist_t info = NULL, apps;
        uint32_t xml_len = 0, written = 0;
        uint64_t fh = 0;
        size_t n = 0;
        int r, count;

        if (!s->afc)
                return -ENOTCONN;
        if (asprintf(&path, "%s/%s/Info.plist", snap_path, source) < 0)
                return -ENOMEM;
        r = fs_read_file(path, 64 * 1024 * 1024, &text, &n);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        plist_from_memory(text, (uint32_t) n, &info);
        apps = info ? plist_dict_get_item(info, "Applications") : NULL;
        if (!apps || plist_get_node_type(apps) != PLIST_DICT) {
                plist_free(info);
                return 0;
        }
        count = (int) plist_dict_get_size(apps);
        plist_to_xml(apps, &xml, &xml_len);
        plist_free(info);
        if (!xml)
                return -ENOMEM;
        (void) afc_make_directory(s->afc, "/iTunesRestore");
        if (afc_file_open(s->afc, "/iTunesRestore/RestoreApplications.plist", AFC_FOPEN_WRONLY,
                          &fh) != AFC_E_SUCCESS)
                return -EIO;
        r = afc_file_write(s->afc, fh, xml, xml_len, &written) == AFC_E_SUCCESS &&
                            written == xml_len ? count : -EIO;
        (void) afc_file_close(s->afc, fh);
        return r;
}

/* What the target's own refusal of a restore (its Response ErrorCode) means, for the
 * refusals the pre-checks also make: 105 is "Insufficient free disk space on device to
 * restore" (libimobiledevice#460), the target's space and not this computer's; 211 is Find
 * My (device_code_to_result()). A phone that refuses a backup of a newer iOS answers with
 * a code no public log shows, so that one is told apart by the versions, which are both
 * known here: any other refusal from a target older than the backup is IDS_E_IOS_TOO_OLD. */
static int restore_refusal_to_result(const Session *s, const SnapshotInfo *info, int code) {
        int r = device_code_to_result(code);

        if (code == 105)
                return IDS_E_TARGET_FULL;
        if (r == IDS_E_DEVICE_ERROR && info->ios_version[0] && s->product_version &&
            s->product_version[0] &&
            version_cmp(s->product_version, info->ios_version) < 0)
                return IDS_E_IOS_TOO_OLD;
        return r;
}

static void restore_report(const ids_progress *p, void *userdata) {
        const ids_restore_options *o = userdata;

        if (o->progress)
                o->progress(p, o->userdata);
}

static void restore_phase(const ids_restore_options *o, ids_phase phase) {
        if (o->progress)
                o->progress(&(ids_progress) { .phase = phase }, o->userdata);
}

_public_ int ids_restore_run(const ids_restore_options *o, ids_backup_result *result) {
        ids_backup_result dummy = {};
        ids_backup_result *res = result ?: &dummy;
        ids_restore_options oc;
        char source[UDID_MAX + 1];
        _cleanup_(freep) char *snap_path = NULL;
        _cleanup_(closep) int root_fd = -1;
        ids_cancel *own = NULL, *cancel;
        Store *store = NULL;
        Session *session = NULL;
        mobilebackup2_client_t mb2 = NULL;
        void *client = NULL;
        SnapshotInfo info;
        double versions[] = { 2.0, 2.1 }, remote = 0;
        int n_apps = 0;
        plist_t opts = NULL;
        DLHost h = { .stream_fd = -1 };
        int r;

        if (!o || !udid_is_valid(o->source_udid) || !udid_is_valid(o->target_udid))
                return -EINVAL;
        /* The store is under the canonical spelling; the target is found ignoring case. */
        strcpy(source, o->source_udid);
        (void) udid_canonicalize(source);
        oc = *o;
        oc.source_udid = source;
        o = &oc;
        memset(res, 0, sizeof(*res));
        if (o->cancel)
                cancel = o->cancel;
        else {
                r = ids_cancel_new(&own);
                if (r < 0)
                        return r;
                cancel = own;
        }

        if (!o->skip_checks) {
                restore_phase(o, IDS_PHASE_VERIFYING_BACKUP);
                r = check_snapshot(o, res);
                if (r != 0) {
                        if (r == -ENOENT)
                                snprintf(res->message, sizeof(res->message), "no such snapshot");
                        goto out;
                }
        }
        r = store_open(o->backup_dir ?: ids_state_dir(o->state_dir), ids_state_dir(o->state_dir),
                       o->source_udid, &store);
        if (r == -EBUSY)
                r = IDS_E_BUSY;
        if (r != 0)
                goto out;
        r = o->snapshot ? store_get(store, o->snapshot, &info) : store_latest(store, &info);
        if (r < 0) {
                snprintf(res->message, sizeof(res->message), "no such snapshot");
                goto out;
        }
        snprintf(res->snapshot_id, sizeof(res->snapshot_id), "%s", info.id);
        r = store_snapshot_path(store, info.id, &snap_path);
        if (r < 0)
                goto out;
        root_fd = open(snap_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                r = -errno;
                goto out;
        }

        r = session_open(o->target_udid, "idevicesync", &session);
        if (r != 0)
                goto out;
        if (!o->skip_checks) {
                r = check_target(session, &info, res);
                if (r != 0)
                        goto out;
        }
        r = session_observe(session, NULL, NULL);
        if (r != 0)
                goto out;
        r = session_sync_lock(session);
        if (r != 0)
                goto out;
        r = session_connect_service(session, MOBILEBACKUP2_SERVICE_NAME, cancel,
                                    dl_mb2_client_new, &client, &h.stream_fd);
        mb2 = client;
        if (r != 0)
                goto out;
        if (mobilebackup2_version_exchange(mb2, versions, 2, &remote) != MOBILEBACKUP2_E_SUCCESS) {
                r = ids_cancel_requested(cancel) ? IDS_E_CANCELLED : IDS_E_PROTOCOL;
                goto out;
        }

        if (o->app_list) {
                n_apps = write_app_list(session, snap_path, o->source_udid);
                if (n_apps < 0) {
                        r = n_apps;
                        snprintf(res->message, sizeof(res->message),
                                 "cannot write the app list to the device");
                        goto out;
                }
        }

        opts = plist_new_dict();
        plist_dict_set_item(opts, "RestoreSystemFiles", plist_new_bool(o->system));
        plist_dict_set_item(opts, "RestoreShouldReboot", plist_new_bool(o->reboot));
        plist_dict_set_item(opts, "RestoreDontCopyBackup", plist_new_bool(1));
        plist_dict_set_item(opts, "RestorePreserveSettings", plist_new_bool(!o->settings));
        plist_dict_set_item(opts, "RemoveItemsNotRestored",
                            plist_new_bool(o->remove_items_not_restored));
        if (o->password)
                plist_dict_set_item(opts, "Password", plist_new_string(o->password));
        r = mb2_error_to_result(mobilebackup2_send_request(mb2, "Restore", o->target_udid,
                                                           o->source_udid, opts));
        plist_free(opts);
        if (r != 0)
                goto out;

        h.mb2 = mb2;
        h.root_fd = root_fd;
        h.udid = o->source_udid;
        h.read_only = true;
        h.cancel = cancel;
        h.progress = o->progress ? restore_report : NULL;
        h.userdata = (void *) o;
        h.p.phase = IDS_PHASE_TRANSFER;
        h.p.bytes_total = info.bytes;
        h.p.files_total = info.files;
        r = dl_run(&h);
        if (r == 0) {
                res->device_error = h.device_error;
                r = restore_refusal_to_result(session, &info, h.device_error);
        }
        /* Everything was sent and the device said yes: it puts the files in place and
         * reboots on its own from here. */
        if (r == 0) {
                restore_phase(o, IDS_PHASE_DEVICE_RESTORING);
                snprintf(res->message, sizeof(res->message),
                         "restored %" PRIu64 " files (%" PRIu64 " bytes) of snapshot %s of %s; "
                         "%d app%s to download again%s",
                         h.p.files_done, h.p.bytes_done, info.id, o->source_udid, n_apps,
                         n_apps == 1 ? "" : "s", o->reboot ? "; the device reboots" : "");
        }
        res->files = h.p.files_done;
        res->bytes = h.p.bytes_done;
        if (r != 0 && !res->message[0])
                snprintf(res->message, sizeof(res->message), "%s",
                         h.message[0] ? h.message : r > 0 ? ids_result_message(r) : strerror(-r));

out:
        if (r != 0 && ids_cancel_requested(cancel))
                r = IDS_E_CANCELLED;
        cancel_set_stream(cancel, -1);
        if (mb2)
                mobilebackup2_client_free(mb2);
        session_free(session);
        store_close(store);
        ids_cancel_free(own);
        return r;
}
