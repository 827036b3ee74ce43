/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fakeidevice: internal API shared by the emulator's modules.
 *
 * The emulator plays usbmuxd plus one or more iPhones behind it, close enough that unchanged
 * libimobiledevice clients accept it. Threading model: one thread per accepted socket
 * (usbmux client, control client); after a usbmux Connect the same thread serves the
 * device-side stream (lockdownd or a service) with blocking I/O through a Conn. All device
 * state is guarded by one global mutex (emu_lock()/emu_unlock()); nothing blocking runs with
 * it held. A cable pull (detach) shuts down every Conn of the device, which makes the blocked
 * reads of its threads fail, so each handler just returns on the first I/O error.
 *
 * This code shares nothing with lib/: each side is written from protocols.md on its own.
 */
#pragma once

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>
#include <plist/plist.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) ({ typeof(p) _p_ = (p); (p) = NULL; _p_; })
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Upper bound of one plist frame we accept from a client (lockdownd, DeviceLink, …). */
#define EMU_PLIST_MAX (16u * 1024u * 1024u)

typedef struct Device Device;
typedef struct Conn Conn;

static inline void freep(void *p) {
        free(*(void **) p);
}
static inline void plist_freep(plist_t *p) {
        if (*p)
                plist_free(*p);
}

/* ---- logging (stderr; tests read it) ------------------------------------------------- */

extern int emu_verbose;                         /* 0: warnings only, 1: info, 2: debug */
void emu_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_warn(...) emu_log(0, __VA_ARGS__)
#define log_info(...) emu_log(1, __VA_ARGS__)
#define log_debug(...) emu_log(2, __VA_ARGS__)

/* ---- the global lock ------------------------------------------------------------------- */

void emu_lock(void);
void emu_unlock(void);
/* Broadcast after any device state change (unlock, trust, detach, fault); waiters re-check
 * their condition. emu_wait() waits with the lock held, up to timeout_ms (-1: forever);
 * returns -ETIMEDOUT on timeout, else 0. */
void emu_broadcast(void);
int emu_wait(int timeout_ms);

/* ---- Conn: one device-side byte stream (conn.c) ---------------------------------------- */

struct Conn {
        int fd;                 /* owned by the thread that accepted it, not by Conn */
        SSL *ssl;               /* NULL: plaintext */
        Device *device;         /* borrowed; NULL before a usbmux Connect */
        Conn *next_in_device;   /* list of the device's open streams (cut on detach) */
        bool registered;
};

/* Read exactly n bytes. 0 on success, -ECONNRESET on EOF (also mid-buffer), -errno/-EIO. */
int conn_read_full(Conn *c, void *buf, size_t n);
/* Read up to n bytes (at least 1). Returns bytes read (> 0), -ECONNRESET on EOF, -errno. */
ssize_t conn_read_some(Conn *c, void *buf, size_t n);
/* Write all n bytes. 0 on success, -EPIPE/-errno on failure. Never raises SIGPIPE. */
int conn_write_full(Conn *c, const void *buf, size_t n);
/* Attach c to its device's stream list so that detach cuts it; -ENODEV if not attached. */
int conn_register(Conn *c, Device *d);
/* Remove c from its device's list (no-op if never registered). Does not close the fd. */
void conn_unregister(Conn *c);
/* Start TLS as server on c (device key + the host's DeviceCertificate). 0 or -EPROTO. */
int conn_start_tls(Conn *c, const char *host_id);
/* Leave TLS: answer the peer's close_notify and go on in plaintext. */
void conn_stop_tls(Conn *c);

/* ---- plist framing: [u32be len][XML or binary plist] (plistio.c) ------------------------- */

/* Receive one frame of at most max bytes. 0 and *ret on success; -ECONNRESET on EOF,
 * -EMSGSIZE if the length prefix exceeds max (the payload is not read), -EBADMSG if the
 * payload is not a plist. */
int plistio_recv(Conn *c, uint32_t max, plist_t *ret);
/* Send p as one frame: XML with prolog if !binary, binary plist otherwise. */
int plistio_send(Conn *c, plist_t p, bool binary);
/* p as binary or XML: 0 with *ret (free it) and *ret_len, or -ENOMEM. */
int plist_serialize(plist_t p, bool binary, char **ret, uint32_t *ret_len);
/* Safe string read: NULL unless node is a string without embedded NUL (libplist 2.2.0
 * aborts in plist_get_string_val() on those). Borrowed pointer into node. */
const char *plist_str(plist_t node);
/* plist_str() of dict[key], NULL when absent or not a clean string. */
const char *plist_dict_str(plist_t dict, const char *key);

/* ---- device profiles (profile.c) ------------------------------------------------------- */

typedef struct DeviceInfo {
        char *name;             /* DeviceName */
        char *product;          /* ProductType, e.g. iPhone15,2 */
        char *ios;              /* ProductVersion, e.g. 17.5 */
        char *build;            /* BuildVersion, e.g. 21F79 */
        char *serial;           /* SerialNumber */
        char *device_class;     /* iPhone / iPad / iPod */
        char *hardware_model;   /* e.g. D73AP */
        char *wifi_address;     /* aa:bb:cc:dd:ee:ff */
        char *bt_address;
        char *phone_number;     /* may be NULL */
        char *imei;             /* may be NULL */
        uint64_t ecid;          /* UniqueChipID */
        int battery;            /* percent 0..100 */
        bool charging;
        uint64_t disk_total;    /* bytes; 0 = derive */
        uint64_t disk_free;
        bool setup_done;        /* false: backups answer 212 */
        bool developer_mode;    /* DeveloperMode=: default yes; no refuses development-
                                 * signed IPAs (services.c) */
        bool find_my;           /* FindMyEnabled=: com.apple.fmip IsAssociated; a restore
                                 * answers 211 (sync-protocols.md §9) */
        /* mobilesync (mobilesync.h; MsClassBit masks): */
        unsigned sync_contacts; /* SyncContacts=: generated contacts, default 0 */
        unsigned sync_events;   /* SyncEvents=: generated events, default 0 */
        unsigned sync_icloud;   /* SyncICloud=: classes whose store is iCloud-managed */
        unsigned sync_disabled; /* SyncDisabled=: initial tethered_sync DisableTethered */
        uint64_t sync_seed;     /* SyncSeed=: default derived from Name */
        char *sync_classes;     /* SyncDataClasses=: comma-separated, default "Contacts,
                                 * Calendars,Bookmarks,Mail Accounts,Notes" */
} DeviceInfo;

/* Parse DIR/device.ini (an [Device] section of Key=value lines, see profile.c).
 * Missing keys get defaults; a malformed line is -EBADMSG with "file:line" logged. */
int profile_read_info(const char *dir, DeviceInfo **ret);
DeviceInfo *device_info_free(DeviceInfo *i);
static inline void device_info_freep(DeviceInfo **i) {
        device_info_free(*i);
}

typedef struct GenOptions {
        uint64_t seed;
        const char *name;       /* NULL: "iPhone <seed>" */
        const char *product;    /* NULL: iPhone15,2 */
        const char *ios;        /* NULL: 17.5 */
        unsigned files;         /* total regular files under backup/ (photos and app
                                 * documents included); 0: 50 */
        uint64_t bytes;         /* exact total bytes of backup/; 0: 4 MiB */
        unsigned photos;        /* camera roll items; default 5 */
        unsigned apps;          /* user apps; default 2; with 3 or more, every third one has
                                 * no file sharing */
        unsigned crashlogs;     /* default 3 */
        /* The personal databases (profile-pim.h), each with its ground-truth JSON; 0 = none
         * of that kind (the default). Their files come on top of `files` and `bytes`: the
         * core files at their paths (AddressBook, Calendar, Bookmarks.db) are left out of
         * the generation plan, whose count and byte total stay as asked. */
        unsigned contacts, events, bookmarks, notes, recordings;
        /* Music, videos, books and ringtones under media/ (profile-itunes.h), with their
         * truth media.json; songs > 0: that many ~1 MiB songs instead of the mix. */
        bool media, media_hostile;
        unsigned songs;
        bool new_phone;         /* gen-profile --new-phone: no note or voice memo of the
                                 * user either (gen_options_new_phone()) */
} GenOptions;

/* gen-profile --new-phone: a phone just activated, never used: no photos, apps (so no
 * documents), crash reports, personal databases, notes or voice memos; a few system files
 * of a small backup. Options given after it change the preset. */
#define NEW_PHONE_FILES 8u
#define NEW_PHONE_BYTES (UINT64_C(64) << 10)
void gen_options_new_phone(GenOptions *o);

/* gen-profile --pim: every kind with these counts. */
#define PIM_DEFAULT_CONTACTS 25u
#define PIM_DEFAULT_EVENTS 40u
#define PIM_DEFAULT_BOOKMARKS 20u
#define PIM_DEFAULT_NOTES 12u
#define PIM_DEFAULT_RECORDINGS 3u

typedef struct MutateOptions {
        uint64_t seed;
        unsigned change, add, del;
        /* camera-roll items: new ones, renamed, moved to another folder, deleted */
        unsigned photos_add, photos_rename, photos_move, photos_delete;
        /* documents of apps with file sharing: new ones, changed, deleted */
        unsigned documents_add, documents_change, documents_delete;
        /* every personal database the profile has (profile-pim.h): items changed, added,
         * deleted in each */
        unsigned pim_change, pim_add, pim_delete;
        unsigned media_add;     /* new songs in the media library */
} MutateOptions;

typedef struct AppInfo {
        char *bundle_id;        /* CFBundleIdentifier (= the directory name under apps/) */
        char *display_name;     /* CFBundleDisplayName */
        char *short_version;    /* CFBundleShortVersionString */
        char *version;          /* CFBundleVersion */
        char *app_type;         /* ApplicationType: User or System */
        bool file_sharing;      /* UIFileSharingEnabled */
} AppInfo;

/* Read DIR/apps/<bundle_id>/Info.ini. -ENOENT if the app does not exist (or bundle_id is not
 * a plain name), -EBADMSG if malformed. */
int profile_app_lookup(const char *dir, const char *bundle_id, AppInfo **ret);
/* All apps of the profile, sorted by bundle id. */
int profile_list_apps(const char *dir, AppInfo ***ret, size_t *ret_n);
AppInfo *app_info_free(AppInfo *a);
void app_info_free_array(AppInfo **a, size_t n);

/* What installd reads from an IPA (ipa.c). */
typedef struct IpaInfo {
        char *bundle_id;        /* CFBundleIdentifier (required) */
        char *display_name;     /* CFBundleDisplayName, else CFBundleName; may be NULL */
        char *short_version;    /* CFBundleShortVersionString; may be NULL */
        char *version;          /* CFBundleVersion; may be NULL */
        bool file_sharing;      /* UIFileSharingEnabled */
        bool signed_for_device; /* embedded.mobileprovision names the device's UDID */
        bool development;       /* … and has get-task-allow (a development profile) */
} IpaInfo;

/* Read Payload/<X>.app/Info.plist (and embedded.mobileprovision) of the IPA at path.
 * -ENOENT (no such file, or no Info.plist in it), -EBADMSG (not a ZIP, no bundle id),
 * -EOPNOTSUPP (encrypted or another compression), -errno. */
int ipa_inspect(const char *path, const char *udid, IpaInfo **ret);
IpaInfo *ipa_info_free(IpaInfo *i);
static inline void ipa_info_freep(IpaInfo **i) {
        ipa_info_free(*i);
}

/* gen-profile / mutate subcommands: 0 or negative errno (already logged). */
int profile_generate(const char *dir, const GenOptions *o);
int profile_mutate(const char *dir, const MutateOptions *o);
/* Write count new crash reports into DIR/crash/ (control `crash`). 0 or -errno. */
int crash_add(const char *dir, unsigned count);
/* What the control command `doc` wrote: the file's documents.tsv line (profile-docs.c). */
typedef struct DocWritten {
        uint64_t size;
        int64_t mtime_ns;
        char sha256[65];        /* lower-case hex */
} DocWritten;
/* Rewrite DIR/apps/<bundle_id>/Documents/<rel> with bytes new pseudo-random bytes, its
 * backup twin and documents.tsv (control `doc`). 0 or -errno. */
int documents_write_one(const char *dir, const char *bundle_id, const char *rel,
                        uint64_t bytes, DocWritten *ret);
/* Control `doc UDID BUNDLE_ID RELPATH [BYTES]` (argv[0] = BUNDLE_ID), lock held; writes
 * "ok doc ..." or "err ..." into reply. */
void documents_doc_command(const char *dir, const char *udid, int argc, char **argv,
                           char *reply, size_t n);
/* Parse "123", "4K", "5M", "2G" (powers of 1024). 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *ret);

/* ---- devices (device.c) ---------------------------------------------------------------- */

typedef enum TrustState {
        TRUST_YES,              /* the user taps Trust (or already did): Pair succeeds */
        TRUST_PENDING,          /* the dialog is up: PairingDialogResponsePending */
        TRUST_DENIED,           /* "Don't Trust" tapped: next Pair gets UserDeniedPairing */
} TrustState;

typedef struct DeviceStats {
        uint64_t connections;
        uint64_t sessions;                      /* lockdown StartSession accepted (TLS) */
        uint64_t bytes_sent, bytes_received;    /* device's point of view */
        uint64_t files_sent, files_received;
        /* AFC (afc.c), cleared by `stats-reset`: */
        uint64_t afc_removes;           /* REMOVE_PATH[_AND_CONTENTS] on any AFC service */
        uint64_t dcim_removes;          /* … beneath /DCIM or /PhotoData, and RENAME_PATH
                                         * from beneath /DCIM (com.apple.afc) */
        uint64_t crash_removes;         /* removes on com.apple.crashreportcopymobile */
        uint64_t afc_read_bytes;        /* FILE_READ content sent on com.apple.afc */
        uint64_t afc_opens;             /* FILE_OPEN on com.apple.afc */
        uint64_t doc_writes;            /* FILE_WRITE requests on house_arrest connections */
        uint64_t doc_removes;           /* REMOVE_PATH[_AND_CONTENTS] on house_arrest */
        uint64_t doc_renames;           /* RENAME_PATH on house_arrest */
} DeviceStats;

/* AFC faults (`fault UDID afc-…`, cleared by `fault UDID none`); guarded by the lock. */
typedef struct AfcFaults {
        bool detach_armed;              /* afc-detach-after-bytes N */
        uint64_t detach_left;           /* FILE_READ bytes still to send before the unplug */
        bool hostile;                   /* afc-hostile: hostile names in DCIM and crash/ */
        uint64_t slow_bps;              /* afc-slow BYTES_PER_SEC, 0 = full speed */
        bool doc_detach_armed;          /* doc-detach-after-bytes N */
        uint64_t doc_detach_left;       /* house_arrest FILE_WRITE bytes still to take */
} AfcFaults;

typedef struct PairRecord {             /* device side: one per paired host */
        char *host_id;
        char *system_buid;
        char *device_cert_pem;          /* what the host made for us */
        char *host_cert_pem;
        char *root_cert_pem;
        uint8_t escrow[32];
        struct PairRecord *next;
} PairRecord;

struct Device {
        char *udid;                     /* as usbmuxd reports it */
        char *profile_dir;
        uint32_t mux_id;                /* usbmux DeviceID of the current attach, ≥ 1 */
        bool attached;
        bool locked;
        TrustState trust;
        int battery;                    /* -1: from device.ini */
        int charging;                   /* -1: from device.ini */
        void *key;                      /* EVP_PKEY *, the device's RSA key */
        char *pubkey_pem;               /* PKCS#1 "RSA PUBLIC KEY" PEM */
        PairRecord *pairings;
        plist_t overrides;              /* SetValue: {domain or "": {key: value}} */
        Conn *conns;                    /* open streams, cut on detach */
        DeviceStats stats;
        AfcFaults afc_faults;
        struct Service *services;       /* ports handed out by StartService */
        uint16_t next_port;
        void *backup_state;             /* owned by backup.c (faults etc.), may be NULL */
        Device *next;
};

/* A port handed out by StartService, waiting for the host's usbmux Connect. */
typedef struct Service {
        uint16_t port;
        const struct ServiceDef *def;
        char *host_id;                  /* the session's host: its certificate for TLS */
        struct Service *next;
} Service;

/* All devices; guarded by emu_lock(). */
extern Device *emu_devices;
/* Set once when the emulator shuts down; waiters must give up (lock held to read). */
extern bool emu_quitting;

Device *device_find_udid(const char *udid);     /* lock held */
Device *device_find_mux_id(uint32_t id);        /* lock held; attached devices only */
/* Read the profile's device.ini now (content is never cached). Caller frees. */
int device_read_info(Device *d, DeviceInfo **ret);
/* Cable pull: mark detached, cut every open stream, tell Listen clients. Lock held. */
void device_detach(Device *d);
/* Plug in again with a new DeviceID. Lock held. */
void device_attach(Device *d);
void device_count_io(Device *d, uint64_t sent, uint64_t received);     /* takes the lock */
void device_count_files(Device *d, uint64_t sent, uint64_t received);  /* takes the lock */

/* ---- services (services.c dispatches, each module serves one) -------------------------- */

typedef struct ServiceCtx {
        Device *device;                 /* borrowed */
        const char *name;               /* e.g. "com.apple.afc" */
        const char *host_id;            /* host that started it */
} ServiceCtx;

typedef void (*service_fn)(Conn *c, const ServiceCtx *ctx);

typedef struct ServiceDef {
        const char *name;
        bool ssl;                       /* EnableServiceSSL */
        bool needs_unlock;              /* PasswordProtected while the device is locked */
        service_fn serve;
} ServiceDef;

const ServiceDef *service_lookup(const char *name);

/* AFC server over root (absolute directory). If only is non-NULL, every path must lie
 * beneath that top-level name (house_arrest VendDocuments: "Documents"). Returns when the
 * client closes or the stream fails. */
void afc_serve(Conn *c, const char *root, const char *only);

void serve_afc(Conn *c, const ServiceCtx *ctx);                 /* media/ */
/* afc.c: control commands "fault UDID afc-… [ARG]" and "fault UDID doc-detach-after-bytes N"
 * (argv[0] = MODE), lock held; returns false if MODE is not an AFC fault. afc_faults_clear(): `fault UDID none`. */
bool afc_fault_command(Device *d, int argc, char **argv, char *reply, size_t n);
void afc_faults_clear(Device *d);
void serve_crashreport_copy(Conn *c, const ServiceCtx *ctx);    /* crash/ */
void serve_crashreport_mover(Conn *c, const ServiceCtx *ctx);   /* writes "ping\0" */
void serve_house_arrest(Conn *c, const ServiceCtx *ctx);        /* apps/<id>/ */
void serve_installation_proxy(Conn *c, const ServiceCtx *ctx);
void serve_notification_proxy(Conn *c, const ServiceCtx *ctx);
void serve_mobilebackup2(Conn *c, const ServiceCtx *ctx);       /* backup.c */
void serve_mobilesync(Conn *c, const ServiceCtx *ctx);          /* mobilesync.c */

/* backup.c: control commands "fault UDID MODE [ARG]" (argv[0] = MODE); writes the answer
 * ("ok ..." / "err ...") into reply. Lock held. */
void backup_fault_command(Device *d, int argc, char **argv, char *reply, size_t n);
/* backup.c: "reboot UDID" happened (detach + attach): clear reboot-only state. Lock held. */
void backup_on_reboot(Device *d);
/* backup.c: free d->backup_state. */
void backup_state_free(Device *d);
/* backup.c: lockdown's com.apple.mobile.backup WillEncrypt. Lock held. */
bool backup_will_encrypt(Device *d);
/* backup.c: set the backup password of d (--backup-password), as if the user had turned
 * encryption on. 0, -EINVAL (empty or too long), -ENOMEM. Lock held. */
int backup_set_password(Device *d, const char *password);
/* backup.c: clear the backup password of d (control `backup-password UDID off`). Lock held. */
void backup_clear_password(Device *d);
/* backup-crypt.c: PBKDF2-SHA256 (DPIC) and PBKDF2-SHA1 (ITER) rounds of the keybags the
 * devices make (--backup-kdf-iterations); set before any thread starts. */
extern uint32_t backup_kdf_dpic, backup_kdf_iter;

/* notification_proxy: deliver name to every observer of it on device d (lock not held). */
void notify_post(Device *d, const char *name);

/* lockdownd on port 62078 (lockdown.c). */
void lockdown_serve(Conn *c);

/* usbmux client connection (usbmux.c): serves fd until it closes. */
void usbmux_serve(int fd);
/* Push Attached/Detached to every Listen client (lock held). */
void usbmux_broadcast_attached(Device *d);
void usbmux_broadcast_detached(uint32_t mux_id);
