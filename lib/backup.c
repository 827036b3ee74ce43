/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One backup run: device session → sync lock → staging snapshot → mobilebackup2 Backup →
 * DeviceLink loop → checks → commit → retention. Every exit path releases the sync lock,
 * tells the device (syncDidFinish, DLMessageDisconnect) and discards an unfinished staging
 * snapshot, so the last good snapshot is never touched and the next run starts clean.
 *
 * The device only ever sees a staging copy of a committed (finished) snapshot, so the stale
 * Snapshot/ states that poison other hosts' incremental backups (errors 104/205/103) cannot
 * arise from our side; if a device still reports one, the run is retried once as a full
 * backup into a fresh staging directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <libimobiledevice/mobilebackup2.h>
#include <sqlite3.h>

#include "cancel.h"
#include "crypt.h"
#include "devicelink.h"
#include "error.h"
#include "fs-util.h"
#include "manifest.h"
#include "idevicesync.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "udid.h"

#define LABEL "idevicesync"

/* ---- helpers shared with restore.c ------------------------------------------------------ */

const char *ids_state_dir(const char *given) {
        const char *e;

        if (given)
                return given;
        e = getenv("STATE_DIRECTORY");
        /* One directory (StateDirectory=idevicesync); a colon-separated list is not ours to
         * pick from, so the default applies (the daemon passes its directory explicitly). */
        if (e && *e && !strchr(e, ':'))
                return e;
        return "/var/lib/idevicesync";
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

typedef struct Run {
        const ids_backup_options *o;
        ids_backup_result *res;
        Session *session;
        Store *store;
        Staging *staging;
        mobilebackup2_client_t mb2;
        ids_cancel *cancel;                     /* o->cancel or own */
        ids_cancel *own_cancel;
        DLHost h;
        pthread_mutex_t report_lock;            /* progress from two threads, never at once */
        ids_phase phase_before_passcode;
        bool waiting_passcode;
        bool encrypted;                         /* the device encrypts this backup */
        /* The first staging is made (the previous snapshot hard-linked in) on a thread of
         * its own while the device is connected: the two overlap. Nothing else touches the
         * store until prestage_join() joins it. */
        pthread_t prestage_thread;
        bool prestage_running;
        bool prestage_full;
        Staging *prestage;
        int prestage_r;
} Run;

static void report(const ids_progress *p, void *userdata) {
        Run *run = userdata;

        if (!run->o->progress)
                return;
        pthread_mutex_lock(&run->report_lock);
        run->o->progress(p, run->o->userdata);
        pthread_mutex_unlock(&run->report_lock);
}

/* From libimobiledevice's notification thread. */
static void on_notify(Session *s, const char *name, void *userdata) {
        Run *run = userdata;
        ids_progress p;

        ids_debug("notification %s", name);
        if (strcmp(name, "com.apple.itunes-client.syncCancelRequest") == 0) {
                ids_cancel_request(run->cancel);        /* the user tapped Cancel on the phone */
                return;
        }
        pthread_mutex_lock(&run->report_lock);
        if (strcmp(name, "com.apple.LocalAuthentication.ui.presented") == 0 &&
            !run->waiting_passcode) {
                run->waiting_passcode = true;
                run->phase_before_passcode = run->h.p.phase;
                run->h.p.phase = IDS_PHASE_WAITING_PASSCODE;
        } else if (strcmp(name, "com.apple.LocalAuthentication.ui.dismissed") == 0 &&
                   run->waiting_passcode) {
                run->waiting_passcode = false;
                run->h.p.phase = run->phase_before_passcode;
        } else {
                pthread_mutex_unlock(&run->report_lock);
                return;
        }
        p = run->h.p;
        if (run->o->progress)
                run->o->progress(&p, run->o->userdata);
        pthread_mutex_unlock(&run->report_lock);
}

/* The free-space floor: the larger of the absolute size and the percentage of the store's
 * filesystem. */
static uint64_t floor_bytes(const ids_backup_options *o, Store *store) {
        struct statvfs sv;
        uint64_t f = o->min_free_bytes;

        if (o->min_free_percent > 0 && statvfs(store_device_dir(store), &sv) == 0) {
                uint64_t pct = (uint64_t) sv.f_blocks * sv.f_frsize / 100 * o->min_free_percent;
                if (pct > f)
                        f = pct;
        }
        return f;
}

/* Connect mobilebackup2 with the escrow bag, remember its socket for cancel/EOF, version
 * exchange. */
static int connect_mb2(Run *run) {
        double versions[] = { 2.0, 2.1 };
        double remote = 0;
        mobilebackup2_error_t e;
        void *client = NULL;
        int r;

        r = session_connect_service(run->session, MOBILEBACKUP2_SERVICE_NAME, run->cancel,
                                    dl_mb2_client_new, &client, &run->h.stream_fd);
        run->mb2 = client;
        if (r != 0)
                return r;

        e = mobilebackup2_version_exchange(run->mb2, versions, 2, &remote);
        if (e != MOBILEBACKUP2_E_SUCCESS) {
                ids_debug("mobilebackup2 version exchange failed: %d", e);
                return ids_cancel_requested(run->cancel) ? IDS_E_CANCELLED : mb2_error_to_result(e);
        }
        return 0;
}

static void disconnect_mb2(Run *run) {
        if (!run->mb2)
                return;
        cancel_set_stream(run->cancel, -1);
        /* Frees and tells the device: ["DLMessageDisconnect", EMPTY]. */
        mobilebackup2_client_free(run->mb2);
        run->mb2 = NULL;
}

static int write_info_plist(Run *run) {
        _cleanup_(freep) char *xml = NULL;
        char path[256];
        plist_t info = NULL;
        uint32_t len = 0;
        int r;

        r = session_build_info_plist(run->session, &info);
        if (r < 0)
                return r;
        plist_to_xml(info, &xml, &len);
        plist_free(info);
        if (!xml)
                return -ENOMEM;
        r = fs_mkdir_p_beneath(staging_root_fd(run->staging), run->o->udid, 0700);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s/Info.plist", run->o->udid);
        return fs_write_atomic_beneath(staging_root_fd(run->staging), path, xml, len, false);
}

/* After the device said "done": Status.plist must say finished, Snapshot/ must be gone. */
static int check_staging(Run *run) {
        _cleanup_(freep) char *data = NULL;
        char path[256];
        plist_t st = NULL, state;
        uint64_t len = 0;
        const char *s;
        int fd, r;
        ssize_t n;
        struct stat sb;

        snprintf(path, sizeof(path), "%s/Snapshot", run->o->udid);
        (void) fs_remove_beneath(staging_root_fd(run->staging), path);

        snprintf(path, sizeof(path), "%s/Status.plist", run->o->udid);
        fd = fs_open_beneath(staging_root_fd(run->staging), path, O_RDONLY, 0);
        if (fd < 0) {
                snprintf(run->h.message, sizeof(run->h.message),
                         "the device finished without a Status.plist");
                return IDS_E_PROTOCOL;
        }
        if (fstat(fd, &sb) < 0 || sb.st_size <= 0 || sb.st_size > (1 << 20)) {
                close(fd);
                return IDS_E_PROTOCOL;
        }
        data = malloc((size_t) sb.st_size);
        n = data ? read(fd, data, (size_t) sb.st_size) : -1;
        close(fd);
        if (n != sb.st_size)
                return IDS_E_PROTOCOL;
        if (n >= 8 && memcmp(data, "bplist00", 8) == 0)
                plist_from_bin(data, (uint32_t) n, &st);
        else
                plist_from_xml(data, (uint32_t) n, &st);
        state = st ? plist_dict_get_item(st, "SnapshotState") : NULL;
        s = state && plist_get_node_type(state) == PLIST_STRING ?
                    plist_get_string_ptr(state, &len) : NULL;
        r = s && len == 8 && memcmp(s, "finished", 8) == 0 ? 0 : IDS_E_PROTOCOL;
        if (r != 0)
                snprintf(run->h.message, sizeof(run->h.message),
                         "the device's Status.plist does not say finished");
        if (st)
                plist_free(st);
        return r;
}

/* What a restore will trust must not lie: the rows of Manifest.db are checked before
 * publishing (manifest_check()). An encrypted backup gets the same check on a decrypted
 * copy when the password is at hand. A password that does not open this backup's keybag
 * (the device was given another one) is no reason to drop the backup: it is kept, and
 * only the debug log says so. 0 or IDS_E_PROTOCOL (run->res->message says why), -errno. */
static int check_manifest(Run *run) {
        char dir[4096];
        uint8_t mkey[CRYPT_BLOB_SIZE];
        Keybag kb = {};
        sqlite3 *db = NULL;
        bool enc = false;
        int r;

        snprintf(dir, sizeof(dir), "%s/%s", staging_root_path(run->staging), run->o->udid);
        if (!run->encrypted)
                return manifest_check(dir, run->res->message, sizeof(run->res->message)) < 0 ?
                               IDS_E_PROTOCOL : 0;
        if (!run->o->password || !*run->o->password)
                return 0;               /* nothing to open it with */

        r = crypt_manifest_plist_read(dir, &enc, &kb, mkey);
        if (r == -ENOENT)
                r = IDS_E_PROTOCOL;
        if (r == 0 && !enc)
                return manifest_check(dir, run->res->message, sizeof(run->res->message)) < 0 ?
                               IDS_E_PROTOCOL : 0;
        if (r == 0)
                r = keybag_unlock(&kb, run->o->password, strlen(run->o->password));
        if (r == IDS_E_WRONG_PASSWORD) {
                ids_debug("the backup password does not open this backup's keybag; "
                          "its Manifest.db is not checked");
                r = 0;
                goto out;
        }
        if (r == 0)
                r = crypt_manifest_db_open(dir, &kb, mkey, ids_state_dir(run->o->state_dir), &db);
        if (r == 0 && manifest_check_db(db, dir, run->res->message,
                                        sizeof(run->res->message)) < 0)
                r = IDS_E_PROTOCOL;
        else if (r == IDS_E_PROTOCOL)
                snprintf(run->res->message, sizeof(run->res->message),
                         "the device's encrypted backup has no usable keybag or Manifest.db");
out:
        sqlite3_close(db);
        keybag_wipe(&kb);
        explicit_bzero(mkey, sizeof(mkey));
        return r;
}

static void *prestage_thread(void *userdata) {
        Run *run = userdata;

        run->prestage_r = store_begin(run->store, run->prestage_full, &run->prestage);
        return NULL;
}

static void prestage_start(Run *run, bool full) {
        run->prestage_full = full;
        run->prestage_running = pthread_create(&run->prestage_thread, NULL, prestage_thread,
                                               run) == 0;
}

/* Wait for the prestage thread (if it still runs). */
static void prestage_wait(Run *run) {
        if (run->prestage_running)
                (void) pthread_join(run->prestage_thread, NULL);
        run->prestage_running = false;
}

/* Join the prestage thread; what it made is returned if it is what full asks for, else
 * dropped. 1 with *ret set, 0 (nothing usable), or its error. */
static int prestage_join(Run *run, bool full, Staging **ret) {
        if (!run->prestage_running)
                return 0;
        prestage_wait(run);
        if (run->prestage_r < 0)
                return run->prestage_full == full ? run->prestage_r : 0;
        if (run->prestage_full != full) {
                run->prestage = staging_abort(run->prestage);
                return 0;
        }
        *ret = TAKE_PTR(run->prestage);
        return 1;
}

static int one_attempt(Run *run, bool full) {
        plist_t opts = NULL;
        mobilebackup2_error_t e;
        int r;

        run->staging = staging_abort(run->staging);
        r = prestage_join(run, full, &run->staging);
        if (r == 0)
                r = store_begin(run->store, full, &run->staging);
        if (r < 0)
                return r;
        r = write_info_plist(run);
        if (r < 0)
                return r;

        r = connect_mb2(run);
        if (r != 0)
                return r;

        run->h = (DLHost) {
                .mb2 = run->mb2,
                .stream_fd = run->h.stream_fd,
                .root_fd = staging_root_fd(run->staging),
                .udid = run->o->udid,
                .store = run->store,
                .staging = run->staging,
                .floor_bytes = floor_bytes(run->o, run->store),
                .keep = run->o->keep,
                .keep_days = run->o->keep_days,
                .cancel = run->cancel,
                .timeout_preparing_s = run->o->timeout_preparing_s,
                .timeout_transfer_s = run->o->timeout_transfer_s,
                .progress = report,
                .userdata = run,
                .p.phase = IDS_PHASE_PREPARING,
        };

        if (full) {
                opts = plist_new_dict();
                plist_dict_set_item(opts, "ForceFullBackup", plist_new_bool(1));
        }
        e = mobilebackup2_send_request(run->mb2, "Backup", run->o->udid, run->o->udid, opts);
        if (opts)
                plist_free(opts);
        if (e != MOBILEBACKUP2_E_SUCCESS)
                return ids_cancel_requested(run->cancel) ? IDS_E_CANCELLED : mb2_error_to_result(e);

        r = dl_run(&run->h);
        if (r != 0)
                return r;
        run->res->device_error = run->h.device_error;
        return device_code_to_result(run->h.device_error);
}

/* RequireEncryption on a device that does not encrypt, with a password: ask it to encrypt
 * its backups from now on with that password, as `idevicebackup2 encryption on` does
 * (mobilebackup2 ChangePassword with only NewPassword; iOS 13+ first asks for the passcode
 * on the device). Its own connection, then the backup gets a fresh one. The password goes
 * to the device only: never into a log or a message. 0, IDS_E_* or -errno. */
static int turn_encryption_on(Run *run) {
        _cleanup_(closep) int root_fd = -EBADF;
        mobilebackup2_error_t e;
        plist_t opts;
        int r;

        r = connect_mb2(run);
        if (r != 0)
                return r;
        /* The device reads nothing here; a directory of ours answers any request. */
        root_fd = open(store_device_dir(run->store), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return -errno;
        run->h = (DLHost) {
                .mb2 = run->mb2,
                .stream_fd = run->h.stream_fd,
                .root_fd = root_fd,
                .udid = run->o->udid,
                .read_only = true,
                .cancel = run->cancel,
                .timeout_preparing_s = run->o->timeout_preparing_s,
                .timeout_transfer_s = run->o->timeout_transfer_s,
                .progress = report,
                .userdata = run,
                .p.phase = IDS_PHASE_PREPARING,
        };

        ids_debug("turning backup encryption on (RequireEncryption)");
        opts = plist_new_dict();
        plist_dict_set_item(opts, "TargetIdentifier", plist_new_string(run->o->udid));
        plist_dict_set_item(opts, "NewPassword", plist_new_string(run->o->password));
        e = mobilebackup2_send_message(run->mb2, "ChangePassword", opts);
        plist_free(opts);
        if (e != MOBILEBACKUP2_E_SUCCESS)
                return ids_cancel_requested(run->cancel) ? IDS_E_CANCELLED : mb2_error_to_result(e);

        r = dl_run(&run->h);
        disconnect_mb2(run);
        if (r != 0)
                return r;
        run->res->device_error = run->h.device_error;
        r = device_code_to_result(run->h.device_error);
        if (r != 0)
                return r;
        run->res->device_error = 0;
        run->h.message[0] = 0;
        run->encrypted = true;
        return 0;
}

static void fill_result_message(Run *run, int r) {
        if (run->res->message[0])
                return;
        snprintf(run->res->message, sizeof(run->res->message), "%s",
                 run->h.message[0] ? run->h.message :
                 r > 0           ? ids_result_message(r) :
                 r < 0           ? strerror(-r) : "");
}

_public_ int ids_backup_run(const ids_backup_options *o, ids_backup_result *result) {
        ids_backup_result dummy = {};
        ids_backup_options oc;
        char udid[UDID_MAX + 1];
        Run run = { .o = &oc };
        SnapshotInfo info = {};
        uint64_t start = now_usec(), free_bytes = 0, need;
        bool full;
        int r;

        /* One spelling for the store, the request and the device's paths (udid.h). */
        if (!o || !udid_canonical_copy(o->udid, udid))
                return -EINVAL;
        oc = *o;
        oc.udid = udid;
        o = &oc;
        run.res = result ?: &dummy;
        memset(run.res, 0, sizeof(*run.res));
        pthread_mutex_init(&run.report_lock, NULL);
        run.h.stream_fd = -1;
        if (o->cancel)
                run.cancel = o->cancel;
        else {
                r = ids_cancel_new(&run.own_cancel);
                if (r < 0)
                        return r;
                run.cancel = run.own_cancel;
        }

        run.h.p.phase = IDS_PHASE_CONNECTING;
        report(&run.h.p, &run);

        /* The device's lock is in the state directory, wherever the snapshots are. */
        r = store_open(o->backup_dir ?: ids_state_dir(o->state_dir), ids_state_dir(o->state_dir),
                       o->udid, &run.store);
        if (r == -EBUSY)
                r = IDS_E_BUSY;
        if (r != 0)
                goto out;

        /* The floor first: make room from old snapshots, or refuse before touching the device. */
        need = floor_bytes(o, run.store);
        if (store_free_space(run.store, &free_bytes) == 0 && free_bytes < need) {
                (void) store_prune(run.store, o->keep, o->keep_days, need);
                if (store_free_space(run.store, &free_bytes) == 0 && free_bytes < need) {
                        r = IDS_E_DISK_FULL;
                        goto out;
                }
        }

        /* Hard-link the previous snapshot into the staging while the device connects. */
        full = o->force_full || store_latest(run.store, &info) < 0;
        prestage_start(&run, full);

        r = session_open(o->udid, LABEL, &run.session);
        if (r != 0)
                goto out;
        run.encrypted = run.res->encrypted = run.session->will_encrypt;
        /* Without a password to give the device, RequireEncryption can only refuse. */
        if (o->require_encryption && !run.encrypted && (!o->password || !*o->password)) {
                r = IDS_E_ENCRYPTION_REQUIRED;
                goto out;
        }
        r = session_observe(run.session, on_notify, &run);
        if (r != 0)
                goto out;
        r = session_sync_lock(run.session);
        if (r != 0)
                goto out;

        if (o->require_encryption && !run.encrypted) {
                r = turn_encryption_on(&run);
                if (r != 0)
                        goto out;
                /* The first encrypted backup starts from nothing: no plaintext file of the
                 * previous snapshot may be linked into it (the device sends all anyway). */
                full = true;
        }
        run.res->encrypted = run.encrypted;
        r = one_attempt(&run, full);
        if (!full && (r == IDS_E_DEVICE_ERROR) &&
            (run.h.device_error == 103 || run.h.device_error == 104 ||
             run.h.device_error == 205)) {
                /* The device's view of the previous backup is inconsistent: start over. */
                ids_debug("device error %d on an incremental backup: retrying in full",
                          run.h.device_error);
                disconnect_mb2(&run);
                run.h.message[0] = 0;
                full = true;
                r = one_attempt(&run, full);
        }
        if (r != 0)
                goto out;
        r = check_staging(&run);
        if (r != 0)
                goto out;
        r = check_manifest(&run);
        if (r != 0)
                goto out;

        run.h.p.phase = IDS_PHASE_COMMITTING;
        report(&run.h.p, &run);
        memset(&info, 0, sizeof(info));
        info.start_usec = start;
        info.encrypted = run.encrypted;
        info.full = full;
        info.new_bytes = run.h.new_bytes;
        snprintf(info.ios_version, sizeof(info.ios_version), "%s",
                 run.session->product_version);
        r = staging_commit(run.staging, &info);
        if (r < 0) {
                if (r == -ENOSPC || r == -EDQUOT)
                        r = IDS_E_DISK_FULL;
                goto out;
        }
        run.staging = NULL;             /* published */
        snprintf(run.res->snapshot_id, sizeof(run.res->snapshot_id), "%s", info.id);
        run.res->full = full;
        run.res->files = info.files;
        run.res->bytes = info.bytes;
        run.res->new_bytes = info.new_bytes;
        (void) store_prune(run.store, o->keep, o->keep_days, 0);

out:
        if (r != 0)
                fill_result_message(&run, r);
        if (r != 0 && ids_cancel_requested(run.cancel))
                r = IDS_E_CANCELLED;
        disconnect_mb2(&run);
        prestage_wait(&run);
        run.prestage = staging_abort(run.prestage);
        run.staging = staging_abort(run.staging);
        run.session = session_free(run.session);   /* unlock, syncDidFinish */
        run.store = store_close(run.store);
        ids_cancel_free(run.own_cancel);
        pthread_mutex_destroy(&run.report_lock);
        return r;
}
