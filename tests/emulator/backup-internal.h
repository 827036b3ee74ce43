/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the emulated mobilebackup2 service's files share (backup.c: faults, helpers,
 * DeviceLink messages, the small requests and the service loop; backup-stream.c: the raw
 * file streams both ways and Restore; backup-manifest.c: the profile's backup tree,
 * MBFile blobs, Manifest.db and friends, the host's previous backup; backup-run.c: the
 * Backup request; backup-crypt.c: keybags and the encryption of iOS's encrypted backups).
 * The emulator never shares code with lib/.
 */
#pragma once

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <plist/plist.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include "emu.h"
#define DL_EMPTY "___EmptyParameterString___"
#define CODE_SUCCESS 0x00
#define CODE_ERROR_LOCAL 0x06
#define CODE_ERROR_REMOTE 0x0B
#define CODE_FILE_DATA 0x0C
#define BLOCK_MAX (1024u * 1024u)         /* payload of one 0x0C block we send */
#define OUT_CAP (2u * BLOCK_MAX + 16384u) /* one block + names + headers fit */
#define DL_NAME_MAX 4096u                 /* longer names are a protocol error */
#define DL_TEXT_MAX 4096u                 /* error texts we keep (rest is drained) */
#define BATCH_FILES 1000u                 /* files per DLMessageUploadFiles */
#define BATCH_BYTES (256ull << 20)        /* bytes per DLMessageUploadFiles */
#define MOVE_BATCH 5000u                  /* pairs per DLMessageMoveItems */
#define FETCH_BATCH 256u                  /* files per DLMessageDownloadFiles (restore) */
#define META_MAX (16u << 20)              /* Status.plist / Manifest.plist in memory */
#define MBFILE_MAX (64u << 10)            /* one `file` blob of a host's Manifest.db */
#define SPACE_MARGIN (4ull << 20)
#define SCAN_DEPTH 64
#define MAC_EPOCH 978307200 /* 2001-01-01 in Unix time */
#define BACKUP_UID 501
#define NOTE_PASSCODE_SHOWN "com.apple.LocalAuthentication.ui.presented"
#define NOTE_PASSCODE_GONE "com.apple.LocalAuthentication.ui.dismissed"
#define KEY_BLOB_LEN 44   /* EncryptionKey, ManifestKey: u32le class + 40-byte RFC 3394 wrap */
#define MANIFEST_CLASS 4u /* the protection class of ManifestKey */
#define PASSWORD_MAX 256u /* backup password bytes, NUL included */

#define HOSTILE_OUT_DOTDOT "fakeidevice-hostile-dotdot"
#define HOSTILE_OUT_MOVED "fakeidevice-hostile-moved"
#define HOSTILE_VICTIM "fakeidevice-hostile-victim"
#define HOSTILE_ABS_PATH "/tmp/fakeidevice-hostile-absolute"

typedef enum Hostile {
        HOSTILE_NONE,
        HOSTILE_DOTDOT,         /* upload to <UDID>/../../name */
        HOSTILE_ABSOLUTE,       /* upload to /tmp/… */
        HOSTILE_NUL,            /* NUL inside an upload name and inside a plist path */
        HOSTILE_LONGNAME,       /* a 4 KiB upload name */
        HOSTILE_SYMLINK,        /* Manifest.db symlink to /etc plus a file "through" it */
        HOSTILE_LYING_SIZE,     /* 10 GiB announced, stream cut after a few MiB */
        HOSTILE_GARBAGE_PLIST,  /* a frame that is not a plist */
        HOSTILE_HUGE_FRAME,     /* a 100 MB frame */
        HOSTILE_MOVE_OUTSIDE,   /* DLMessageMoveItems to <UDID>/../../name */
        HOSTILE_REMOVE_OUTSIDE, /* DLMessageRemoveItems of <UDID>/../../name */
        _HOSTILE_MAX,
} Hostile;

typedef enum DiskFull {
        DISK_FULL_NO,
        DISK_FULL_PLAIN, /* 105 right after DLMessageGetFreeDiskSpace */
        DISK_FULL_PURGE, /* DLMessagePurgeDiskSpace first, then 105 */
} DiskFull;

typedef struct Faults {
        unsigned passcode_s; /* 0: no prompt */
        bool encrypted;
        bool restore_password_set;
        char restore_password[256];
        DiskFull disk_full;
        bool snapshot_exists; /* reboot-only */
        bool pull_bytes_set, pull_files_set;
        uint64_t pull_bytes, pull_files;
        bool stall;
        uint64_t slow_bps; /* 0: full speed */
        Hostile hostile;
} Faults;

typedef struct BackupState {
        Faults f;
        bool waiting_passcode; /* a prompt is on screen */
        bool stalling;         /* `stall` reached: the device sends nothing */
        uint64_t reboots;      /* `reboot` commands and reboots after a restore */
        uint64_t last_files;   /* files the last backup uploaded (metadata included) */
        uint64_t last_bytes;   /* their content bytes */
        bool password_set;     /* a backup password is set (ChangePassword, --backup-password):
                                * backups are really encrypted with it */
        char password[PASSWORD_MAX];
} BackupState;

typedef struct Session {
        Conn *conn;
        Device *device; /* borrowed */
        char *udid;     /* the device's UDID (copy) */
        Faults faults;  /* copied when a request starts */
        double progress;
        bool reboot_pending; /* restore done: reboot once the host lets go */
        char *tmp;           /* private scratch directory, NULL until needed */
        char *password;      /* the backup password (copied when a request starts), or NULL */
} Session;

typedef struct Uploader {
        Session *s;
        uint8_t *buf; /* OUT_CAP bytes */
        size_t len;
        uint64_t data_bytes; /* file content sent in this request */
        uint64_t files;      /* files completed in this request */
        uint64_t wire_bytes; /* raw bytes written (slow mode pacing) */
        struct timespec t0;
        bool started;
} Uploader;

typedef struct Fetch {
        char *remote;  /* path relative to the backup root */
        char *local;   /* where to store it; NULL: discard */
        bool received; /* the host sent it completely */
        uint64_t size;
        char *error; /* the host's error text, if it sent one */
} Fetch;

enum { FLAG_FILE = 1, FLAG_DIR = 2, FLAG_SYMLINK = 4 };

typedef struct Entry {
        char *domain;
        char *rel;    /* "" for the domain root */
        char *target; /* symlinks */
        int flags;
        struct stat st;
        char id[41];
        uint8_t digest[20];
        bool has_digest;
        uint64_t size;      /* content size as hashed/sent */
        bool upload;        /* content goes to the host in this backup */
        char copy_from[41]; /* incremental: the host has it under this id */
        bool done;          /* uploaded or copied into Snapshot */
        bool has_key;       /* encrypted backup: key holds the file's EncryptionKey */
        uint8_t key[KEY_BLOB_LEN];
} Entry;

typedef struct Scan {
        Entry *v;
        size_t n, cap;
} Scan;

typedef struct MBInfo {
        uint64_t size;
        uint64_t mode;
        int64_t mtime;
        bool has_digest;
        uint8_t digest[20];
        char *rel;    /* RelativePath */
        char *target; /* symlink Target */
        bool has_key; /* EncryptionKey present, 44 bytes */
        uint8_t key[KEY_BLOB_LEN];
} MBInfo;

typedef struct OldRow {
        char id[41];
        int flags;
        uint64_t size;
        bool has_digest;
        uint8_t digest[20];
        bool still_there; /* the profile still has this fileID */
        bool has_key;     /* its EncryptionKey (encrypted backups) */
        uint8_t key[KEY_BLOB_LEN];
} OldRow;

typedef struct Old {
        OldRow *v;
        size_t n;
        OldRow **by_digest; /* rows with a digest, sorted by (digest, size) */
        size_t n_digest;
} Old;

/* A backup keybag with its class keys unwrapped (backup-crypt.c). */
typedef struct Keybag {
        uint8_t uuid[16];
        uint8_t salt[20], dpsl[20];
        uint32_t iter, dpic;
        bool has_class[12]; /* index: protection class 1..11 */
        uint8_t class_key[12][32];
        uint8_t *blob; /* the TLV form, as Manifest.plist carries it */
        size_t blob_len;
} Keybag;

typedef struct Result {
        unsigned code; /* 0: success */
        char *desc;    /* ErrorDescription, NULL on success */
} Result;

/* Shared between the files; each is documented where it is defined. */
BackupState *backup_state(Device *d);
void closep(int *fd);
void sqlite3_closep(sqlite3 **db);
void sqlite3_finalizep(sqlite3_stmt **st);
void evp_md_ctx_freep(EVP_MD_CTX **c);
void file_id(const char *domain, const char *rel, char out[41]);
unsigned hex_byte(const char *id);
bool file_id_ok(const char *s);
bool domain_ok(const char *s);
bool rel_ok(const char *s);
int64_t now_unix(void);
plist_t plist_now(void);
void random_bytes(void *p, size_t n);
void random_uuid(char out[37]);
bool plist_dict_bool(plist_t dict, const char *key, bool def);
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
int rm_rf(const char *path);
int mkdir_beneath(const char *base, const char *rel);
const char *tmp_dir(void);
plist_t dl_new(const char *name);
int dl_send(Session *s, plist_t msg);
int dl_recv_status(Session *s, int64_t *ret_status, plist_t *ret_payload);
int dl_call(Session *s, plist_t msg, int64_t *ret_status);
plist_t progress_node(Session *s, double p);
int dl_create_directory(Session *s, const char *path);
int dl_remove_items(Session *s, char **paths, size_t n, double progress);
int dl_move_items(Session *s, plist_t pairs, double progress);
void uploader_done(Uploader *u);
int64_t elapsed_ms(const struct timespec *t0);
int up_flush(Uploader *u);
int up_put(Uploader *u, const void *p, size_t n);
int up_put_u32(Uploader *u, uint32_t v);
int up_put_name(Uploader *u, const char *name, size_t n);
int up_put_block(Uploader *u, uint8_t code, const void *p, size_t n);
int up_file_begin(Uploader *u, const char *devpath, const char *dst, size_t dst_len);
int up_file_done(Uploader *u);
int up_file_fd(Uploader *u, const char *devpath, const char *dst, int fd, uint8_t ret_digest[20],
               uint64_t *ret_size);
int up_file_fd_enc(Uploader *u, const char *devpath, const char *dst, int fd, EVP_CIPHER_CTX *enc,
                   uint8_t ret_digest[20], uint64_t *ret_size);
int up_file_mem_enc(Uploader *u, const char *devpath, const char *dst, const void *data, size_t n,
                    EVP_CIPHER_CTX *enc);
int up_file_mem(Uploader *u, const char *devpath, const char *dst, const void *data, size_t n);
int up_begin_batch(Uploader *u, uint64_t total, double progress);
int up_end_batch(Uploader *u);
void fetch_clear(Fetch *f, size_t n);
int fetch_files(Session *s, Fetch *f, size_t n, double progress);
int session_tmp(Session *s);
int fetch_meta(Session *s, const char *dir, const char *const *names, Fetch *f, size_t n,
               double progress);
void scan_done(Scan *sc);
int scan_add(Scan *sc, const char *domain, const char *rel, int flags, const struct stat *st,
             const char *target);
int list_dir(int fd, char ***ret, size_t *ret_n);
void free_names(char **v, size_t n);
int scan_profile(const char *profile, Scan *sc);
int entry_open(const char *profile, const Entry *e);
int hash_fd(int fd, uint8_t out[20], uint64_t *ret_size);
void mbinfo_done(MBInfo *m);
int mbfile_parse(const void *blob, size_t len, MBInfo *ret);
int manifest_db_write(const char *path, const Scan *sc, const Scan *extra, bool encrypted);
int plist_to_bin_buf(plist_t p, char **ret, size_t *ret_len);
plist_t manifest_plist_new(const DeviceInfo *info, const char *udid, const char *profile,
                           bool encrypted, bool passcode, const Keybag *kb,
                           const uint8_t *manifest_key);
plist_t status_plist_new(bool full, const char *state);
int load_plist(const Fetch *f, plist_t *ret);
void old_done(Old *o);
int old_load(const char *path, Old *ret);
OldRow *old_find(Old *o, const char *id);
OldRow *old_find_content(Old *o, const uint8_t digest[20], uint64_t size);
char *mb_error(unsigned code, const char *text, char *underlying);
int result_set(Result *res, unsigned code, char *desc);
char *no_such_file(const char *path);
int passcode_prompt(Session *s);
int stall(Session *s);
int backup_run(Session *s, plist_t req, Result *res);
void evp_cipher_ctx_freep(EVP_CIPHER_CTX **c);
void keybag_done(Keybag *kb);
int keybag_new(const char *password, Keybag *ret);
int keybag_unlock(const void *blob, size_t len, const char *password, Keybag *ret);
int keybag_new_key(const Keybag *kb, uint32_t cls, uint8_t key[32], uint8_t blob[KEY_BLOB_LEN]);
int keybag_open_key(const Keybag *kb, const uint8_t blob[KEY_BLOB_LEN], uint8_t key[32]);
uint32_t file_class(const char *id);
EVP_CIPHER_CTX *cbc_new(const uint8_t key[32], bool encrypt);
int file_decrypt(const char *in, const char *out, const uint8_t key[32], uint64_t *ret_size);
int manifest_db_decrypt(plist_t manifest, const char *password, const char *enc_path,
                        const char *plain_path, Keybag *ret_kb);
int restore_run(Session *s, plist_t req, const char *source, Result *res);
