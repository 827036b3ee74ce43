/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * com.apple.mobilebackup2, device side: the emulated iPhone drives backups and restores the
 * way BackupAgent2 does (protocols.md §3), so that Debian's unchanged idevicebackup2 and our
 * own daemon can be tested against it.
 *
 * The device decides everything. After the DeviceLink version exchange and Hello, a Backup
 * request makes the device ask the host for the previous Status.plist/Manifest.plist/
 * Manifest.db, diff the profile's backup/<Domain>/<relativePath> tree against it (content
 * SHA-1 stored as the MBFile Digest), ask for free space, create <UDID>/Snapshot, stream the
 * changed files in the raw block format (large writes, no per-file flush: this stream is the
 * benchmark's on-machine limit), upload a fresh Manifest.db (SQLite), Manifest.plist and
 * Status.plist, move everything into place, remove Snapshot and finish with ErrorCode 0.
 * Restore pulls a backup back from the host into a temporary tree inside the profile and
 * swaps it in atomically, so a failed restore leaves the old content.
 *
 * The failures of real phones (passcode prompt, disk full, stale snapshot, cable pull, stall,
 * slow links, hostile devices) are selected per device with the control command
 * `fault UDID MODE [ARG]`; their state lives in Device.backup_state (BackupState below).
 */
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

/* Raw file stream (protocols.md §3.5). */
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
/* Room a device wants beyond what it sends: protocols.md §3.7 infers 128 MiB for real phones;
 * 4 MiB keeps the host's own ENOSPC handling testable on a small tmpfs (engine/enospc.test). */
#define SPACE_MARGIN (4ull << 20)
#define SCAN_DEPTH 64
#define MAC_EPOCH 978307200 /* 2001-01-01 in Unix time */
#define BACKUP_UID 501

#define NOTE_PASSCODE_SHOWN "com.apple.LocalAuthentication.ui.presented"
#define NOTE_PASSCODE_GONE "com.apple.LocalAuthentication.ui.dismissed"

/* ---- faults ---------------------------------------------------------------------------- */

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

static const char *const hostile_names[_HOSTILE_MAX] = {
        [HOSTILE_NONE] = "none",
        [HOSTILE_DOTDOT] = "dotdot",
        [HOSTILE_ABSOLUTE] = "absolute",
        [HOSTILE_NUL] = "nul",
        [HOSTILE_LONGNAME] = "longname",
        [HOSTILE_SYMLINK] = "symlink",
        [HOSTILE_LYING_SIZE] = "lying-size",
        [HOSTILE_GARBAGE_PLIST] = "garbage-plist",
        [HOSTILE_HUGE_FRAME] = "huge-frame",
        [HOSTILE_MOVE_OUTSIDE] = "move-outside",
        [HOSTILE_REMOVE_OUTSIDE] = "remove-outside",
};

/* Names of the files hostile devices aim at, one level above the backup root. */
#define HOSTILE_OUT_DOTDOT "fakeidevice-hostile-dotdot"
#define HOSTILE_OUT_MOVED "fakeidevice-hostile-moved"
#define HOSTILE_VICTIM "fakeidevice-hostile-victim"
#define HOSTILE_ABS_PATH "/tmp/fakeidevice-hostile-absolute"

typedef enum DiskFull {
        DISK_FULL_NO,
        DISK_FULL_PLAIN, /* 105 right after DLMessageGetFreeDiskSpace */
        DISK_FULL_PURGE, /* DLMessagePurgeDiskSpace first, then 105 */
} DiskFull;

/* What `fault` selects. Plain data: a backup copies it once at its start. */
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
        bool password_set;     /* backup password from ChangePassword */
        char password[256];
} BackupState;

/* Lock held. Never NULL except on ENOMEM. */
static BackupState *backup_state(Device *d) {
        if (!d->backup_state)
                d->backup_state = calloc(1, sizeof(BackupState));
        return d->backup_state;
}

/**
 * backup_state_free: free the fault state of a device (device_free() calls it).
 * @d: the device; NULL is accepted. Its backup_state is NULL afterwards.
 */
void backup_state_free(Device *d) {
        if (!d)
                return;
        free(d->backup_state);
        d->backup_state = NULL;
}

/**
 * backup_will_encrypt: lockdownd's com.apple.mobile.backup WillEncrypt of @d (borrowed).
 * Called with the lock held. Returns true after `fault UDID encrypted on` or a successful
 * `idevicebackup2 encryption on`, false otherwise.
 */
bool backup_will_encrypt(Device *d) {
        BackupState *bs = d->backup_state;

        return bs && bs->f.encrypted;
}

/**
 * backup_on_reboot: @d (borrowed) rebooted (control `reboot`, or after a restore): clear
 * the state a reboot clears (snapshot-exists) and count the reboot for `wait-reboots`.
 * Called with the lock held.
 */
void backup_on_reboot(Device *d) {
        BackupState *bs = backup_state(d);

        if (!bs)
                return;
        bs->f.snapshot_exists = false;
        bs->reboots++;
}

/* Counts and sizes of the fault arguments: "123", "4K", "1M" (profile.c's parser). */
static int parse_count(const char *s, uint64_t *ret) {
        uint64_t v;

        if (!s || !*s || parse_size(s, &v) < 0)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Apply "MODE [ARG]" to *f. 0 and a reply "ok …", or -EINVAL and a reply "err …". */
static int faults_parse(Faults *f, int argc, char **argv, char *reply, size_t n) {
        const char *mode = argc > 0 ? argv[0] : "";
        const char *arg = argc > 1 ? argv[1] : NULL;
        uint64_t v;

        struct {
                const char *name;
                bool has_arg;
        } const table[] = {
                {"none", false},
                {"passcode", true},
                {"encrypted", true},
                {"restore-password", true},
                {"disk-full", false},
                {"disk-full-purge", false},
                {"snapshot-exists", false},
                {"pull-after-bytes", true},
                {"pull-after-files", true},
                {"stall", false},
                {"slow", true},
                {"hostile", true},
        };
        size_t i;

        for (i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(table[i].name, mode) == 0)
                        break;
        if (i == ELEMENTSOF(table)) {
                snprintf(reply, n, "err unknown fault mode '%s'", mode);
                return -EINVAL;
        }
        if (table[i].has_arg != (argc == 2) || argc > 2) {
                snprintf(reply, n, "err usage: fault UDID %s%s", mode,
                         table[i].has_arg ? " ARG" : "");
                return -EINVAL;
        }

        if (strcmp(mode, "none") == 0)
                *f = (Faults){};
        else if (strcmp(mode, "passcode") == 0) {
                if (parse_count(arg, &v) < 0 || v == 0 || v > 86400) {
                        snprintf(reply, n, "err passcode needs SECONDS (1..86400)");
                        return -EINVAL;
                }
                f->passcode_s = (unsigned) v;
        } else if (strcmp(mode, "encrypted") == 0) {
                if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0) {
                        snprintf(reply, n, "err encrypted needs on or off");
                        return -EINVAL;
                }
                f->encrypted = strcmp(arg, "on") == 0;
        } else if (strcmp(mode, "restore-password") == 0) {
                if (strlen(arg) >= sizeof(f->restore_password)) {
                        snprintf(reply, n, "err password too long");
                        return -EINVAL;
                }
                strcpy(f->restore_password, arg);
                f->restore_password_set = true;
        } else if (strcmp(mode, "disk-full") == 0)
                f->disk_full = DISK_FULL_PLAIN;
        else if (strcmp(mode, "disk-full-purge") == 0)
                f->disk_full = DISK_FULL_PURGE;
        else if (strcmp(mode, "snapshot-exists") == 0)
                f->snapshot_exists = true;
        else if (strcmp(mode, "pull-after-bytes") == 0 || strcmp(mode, "pull-after-files") == 0) {
                bool bytes = strcmp(mode, "pull-after-bytes") == 0;

                if (parse_count(arg, &v) < 0) {
                        snprintf(reply, n, "err %s needs a count", mode);
                        return -EINVAL;
                }
                if (bytes) {
                        f->pull_bytes_set = true;
                        f->pull_bytes = v;
                } else {
                        f->pull_files_set = true;
                        f->pull_files = v;
                }
        } else if (strcmp(mode, "stall") == 0)
                f->stall = true;
        else if (strcmp(mode, "slow") == 0) {
                if (parse_count(arg, &v) < 0 || v == 0) {
                        snprintf(reply, n, "err slow needs BYTES_PER_S > 0");
                        return -EINVAL;
                }
                f->slow_bps = v;
        } else {
                Hostile h;

                for (h = HOSTILE_DOTDOT; h < _HOSTILE_MAX; h++)
                        if (strcmp(hostile_names[h], arg) == 0)
                                break;
                if (h == _HOSTILE_MAX) {
                        snprintf(reply, n, "err unknown hostile kind '%s'", arg);
                        return -EINVAL;
                }
                f->hostile = h;
        }

        snprintf(reply, n, "ok fault %s%s%s", mode, arg ? " " : "", arg ?: "");
        return 0;
}

/* `fault UDID status`: everything selected, and what the device is doing right now. */
static void faults_describe(const BackupState *bs, char *reply, size_t n) {
        const Faults *f = &bs->f;

        snprintf(reply, n,
                 "ok last_backup_files=%" PRIu64 " last_backup_bytes=%" PRIu64
                 " passcode=%u waiting=%d stalling=%d reboots=%" PRIu64 " encrypted=%d "
                 "restore-password=%d disk-full=%s snapshot-exists=%d pull-after-bytes=%s%" PRIu64
                 " pull-after-files=%s%" PRIu64 " stall=%d slow=%" PRIu64 " hostile=%s",
                 bs->last_files, bs->last_bytes, f->passcode_s, bs->waiting_passcode, bs->stalling,
                 bs->reboots, f->encrypted, f->restore_password_set,
                 f->disk_full == DISK_FULL_PURGE   ? "purge"
                 : f->disk_full == DISK_FULL_PLAIN ? "yes"
                                                   : "no",
                 f->snapshot_exists, f->pull_bytes_set ? "" : "off/", f->pull_bytes,
                 f->pull_files_set ? "" : "off/", f->pull_files, f->stall, f->slow_bps,
                 hostile_names[f->hostile]);
}

/* `fault UDID wait-passcode|wait-stall|wait-detach [SECONDS]`, `fault UDID wait-reboots N
 * [SECONDS]`: block until the passcode prompt is up, the device stalls, the cable is pulled,
 * or N reboots happened, so that scripts can react (`unlock`, `detach`, `attach`) without
 * sleeping. Lock held; emu_wait() drops it while waiting, so only this control client
 * waits. */
static void fault_wait(Device *d, BackupState *bs, int argc, char **argv, char *reply, size_t n) {
        bool reboots = strcmp(argv[0], "wait-reboots") == 0;
        int first = reboots ? 2 : 1;
        uint64_t want = 0, secs = 60;
        struct timespec t0, now;

        if ((reboots && (argc < 2 || parse_count(argv[1], &want) < 0)) || argc > first + 1 ||
            (argc == first + 1 && (parse_count(argv[first], &secs) < 0 || secs > 86400))) {
                snprintf(reply, n, "err usage: fault UDID %s%s [SECONDS]", argv[0],
                         reboots ? " N" : "");
                return;
        }
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
                bool done = reboots                                 ? bs->reboots >= want
                            : strcmp(argv[0], "wait-passcode") == 0 ? bs->waiting_passcode
                            : strcmp(argv[0], "wait-stall") == 0    ? bs->stalling
                                                                    : !d->attached;
                int64_t ms;

                if (done) {
                        snprintf(reply, n, "ok %s: %s", argv[0] + 5, d->udid);
                        return;
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                ms = (int64_t) secs * 1000 - ((int64_t) (now.tv_sec - t0.tv_sec) * 1000 +
                                              (now.tv_nsec - t0.tv_nsec) / 1000000);
                if (ms <= 0 || emu_quitting)
                        break;
                (void) emu_wait(ms > 1000 ? 1000 : (int) ms);
        }
        snprintf(reply, n, "err timed out waiting for %s on %s", argv[0] + 5, d->udid);
}

/**
 * backup_fault_command: the control command `fault UDID MODE [ARG]`, with the lock held.
 * @d: the device (borrowed).
 * @argc, @argv: MODE and its argument (borrowed).
 * @reply, @n: where the one-line answer goes: "ok ..." or "err ...".
 *
 * Modes add up until `none` clears them: passcode SECONDS, encrypted on|off,
 * restore-password PWD, disk-full, disk-full-purge, snapshot-exists (until reboot),
 * pull-after-bytes N, pull-after-files N, stall, slow BYTES_PER_S, hostile KIND. Besides:
 * `status` describes them, and wait-passcode / wait-stall / wait-detach [SECONDS] and
 * wait-reboots N [SECONDS] block this control client until that happened (or time out).
 */
void backup_fault_command(Device *d, int argc, char **argv, char *reply, size_t n) {
        BackupState *bs = backup_state(d);
        Faults f;

        if (!bs) {
                snprintf(reply, n, "err out of memory");
                return;
        }
        if (argc >= 1 && strcmp(argv[0], "status") == 0) {
                faults_describe(bs, reply, n);
                return;
        }
        if (argc >= 1 &&
            (strcmp(argv[0], "wait-passcode") == 0 || strcmp(argv[0], "wait-stall") == 0 ||
             strcmp(argv[0], "wait-detach") == 0 || strcmp(argv[0], "wait-reboots") == 0)) {
                fault_wait(d, bs, argc, argv, reply, n);
                return;
        }

        f = bs->f;
        if (faults_parse(&f, argc, argv, reply, n) < 0)
                return;
        bs->f = f;
        log_info("%s: %s", d->udid, reply + 3);
}

/* ---- small helpers --------------------------------------------------------------------- */

static void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

static void sqlite3_closep(sqlite3 **db) {
        sqlite3_close(*db);
}

static void sqlite3_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}

static void evp_md_ctx_freep(EVP_MD_CTX **c) {
        EVP_MD_CTX_free(*c);
}

static void hex40(const uint8_t h[20], char out[41]) {
        static const char x[] = "0123456789abcdef";

        for (size_t i = 0; i < 20; i++) {
                out[2 * i] = x[h[i] >> 4];
                out[2 * i + 1] = x[h[i] & 15];
        }
        out[40] = 0;
}

/* fileID = lower-case hex SHA-1 of "<domain>-<relativePath>" (protocols.md §3.8). */
static void file_id(const char *domain, const char *rel, char out[41]) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint8_t h[20];
        unsigned len = 0;

        memset(h, 0, sizeof(h));
        if (c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1) {
                EVP_DigestUpdate(c, domain, strlen(domain));
                EVP_DigestUpdate(c, "-", 1);
                EVP_DigestUpdate(c, rel, strlen(rel));
                EVP_DigestFinal_ex(c, h, &len);
        }
        hex40(h, out);
}

/* The value of the first two hex digits of a fileID: its directory. */
static unsigned hex_byte(const char *id) {
        unsigned v = 0;

        for (int i = 0; i < 2; i++)
                v = v * 16 + (unsigned) (id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
        return v & 0xff;
}

static bool file_id_ok(const char *s) {
        return s && strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* A UDID we are willing to put into a path: what usbmuxd reports, 1..64 of [0-9A-Fa-f-]. */
static bool udid_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* A domain becomes one directory name under backup/. */
static bool domain_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= 255 && s[0] != '.' && !strchr(s, '/');
}

/* A relative path beneath a domain: "" (the domain root) or clean components only. */
static bool rel_ok(const char *s) {
        const char *p = s;

        if (!s)
                return false;
        if (!*s)
                return true;
        if (strlen(s) >= PATH_MAX / 2 || *s == '/')
                return false;
        for (;;) {
                size_t k = strcspn(p, "/");

                if (k == 0 || k > 255 || (k == 1 && p[0] == '.') ||
                    (k == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (!p[k])
                        return true;
                p += k + 1;
        }
}

static int64_t now_unix(void) {
        return (int64_t) time(NULL);
}

static plist_t plist_now(void) {
        return plist_new_date((int32_t) (now_unix() - MAC_EPOCH), 0);
}

static void random_bytes(void *p, size_t n) {
        uint8_t *b = p;

        while (n > 0) {
                ssize_t k = getrandom(b, n, 0);
                if (k <= 0) {
                        /* Cannot fail on Linux >= 3.17 once booted; stay deterministic. */
                        for (size_t i = 0; i < n; i++)
                                b[i] = (uint8_t) (i * 131 + 7);
                        return;
                }
                b += k;
                n -= (size_t) k;
        }
}

/* Status.plist's UUID: upper-case, as devices write it. */
static void random_uuid(char out[37]) {
        uint8_t u[16];

        random_bytes(u, sizeof(u));
        u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40);
        u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80);
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

static bool plist_dict_bool(plist_t dict, const char *key, bool def) {
        plist_t n = dict ? plist_dict_get_item(dict, key) : NULL;
        uint8_t v = 0;

        if (!n || plist_get_node_type(n) != PLIST_BOOLEAN)
                return def;
        plist_get_bool_val(n, &v);
        return v;
}

static int read_fd_all(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0, cap = 0;

        for (;;) {
                ssize_t k;

                if (len == cap) {
                        char *nb;

                        if (cap >= max)
                                return -EFBIG;
                        cap = cap ? cap * 2 : 4096;
                        if (cap > max)
                                cap = max;
                        nb = realloc(buf, cap + 1);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read(fd, buf + len, cap - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

/* A whole (small) file; never follows a symlink at the last component. */
static int read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_(closep) int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        return read_fd_all(fd, max, ret, ret_len);
}

/* Remove name beneath at, recursively, never following symlinks. */
static int rm_rf_at(int at, const char *name, unsigned depth) {
        struct stat st;
        DIR *dir;
        int fd, r = 0;

        if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISDIR(st.st_mode))
                return unlinkat(at, name, 0) < 0 ? -errno : 0;
        if (depth > 256)
                return -ELOOP;

        fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                close(fd);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(dir));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                int k = rm_rf_at(dirfd(dir), de->d_name, depth + 1);
                if (k < 0 && r == 0)
                        r = k;
        }
        closedir(dir);
        if (unlinkat(at, name, AT_REMOVEDIR) < 0 && r == 0)
                r = -errno;
        return r;
}

static int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path, 0);
}

/* mkdir -p of rel beneath base (which exists); no component may be a symlink. */
static int mkdir_beneath(const char *base, const char *rel) {
        _cleanup_(freep) char *copy = strdup(rel);
        int fd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char *save = NULL;

        if (!copy) {
                if (fd >= 0)
                        close(fd);
                return -ENOMEM;
        }
        if (fd < 0)
                return -errno;
        for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
                int nfd;

                if (mkdirat(fd, t, 0755) < 0 && errno != EEXIST) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                nfd = openat(fd, t, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                close(fd);
                if (nfd < 0)
                        return -errno;
                fd = nfd;
        }
        close(fd);
        return 0;
}

/* $TMPDIR if it is absolute, else /tmp: scratch files (Manifest.db) live there. */
static const char *tmp_dir(void) {
        const char *t = getenv("TMPDIR");

        return t && *t == '/' ? t : "/tmp";
}

/* ---- DeviceLink messages --------------------------------------------------------------- */

typedef struct Session {
        Conn *conn;
        Device *device; /* borrowed */
        char *udid;     /* the device's UDID (copy) */
        Faults faults;  /* copied when a request starts */
        double progress;
        bool reboot_pending; /* restore done: reboot once the host lets go */
        char *tmp;           /* private scratch directory, NULL until needed */
} Session;

static plist_t dl_new(const char *name) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(name));
        return a;
}

/* Send msg (consumed) as one binary frame. */
static int dl_send(Session *s, plist_t msg) {
        _cleanup_(plist_freep) plist_t p = msg;

        return plistio_send(s->conn, p, true);
}

/* The host's ["DLMessageStatusResponse", status, string, payload]. status is signed (the host
 * writes an int into a 64-bit plist integer). -ECONNABORTED if the host hung up instead. */
static int dl_recv_status(Session *s, int64_t *ret_status, plist_t *ret_payload) {
        _cleanup_(plist_freep) plist_t p = NULL;
        const char *name;
        plist_t st;
        uint64_t v = 0;
        int r;

        r = plistio_recv(s->conn, EMU_PLIST_MAX, &p);
        if (r < 0)
                return r;
        name = plist_get_node_type(p) == PLIST_ARRAY ? plist_str(plist_array_get_item(p, 0)) : NULL;
        if (name && strcmp(name, "DLMessageDisconnect") == 0)
                return -ECONNABORTED;
        if (!name || strcmp(name, "DLMessageStatusResponse") != 0 || plist_array_get_size(p) < 2) {
                log_warn("%s: expected DLMessageStatusResponse, got '%s'", s->udid,
                         name ?: "(not a DL message)");
                return -EBADMSG;
        }
        st = plist_array_get_item(p, 1);
        if (plist_get_node_type(st) != PLIST_UINT)
                return -EBADMSG;
        plist_get_uint_val(st, &v);
        *ret_status = (int64_t) v;
        if (ret_payload) {
                plist_t pl = plist_array_get_item(p, 3);
                *ret_payload = pl ? plist_copy(pl) : NULL;
        }
        return 0;
}

/* Send one request and wait for its status. */
static int dl_call(Session *s, plist_t msg, int64_t *ret_status) {
        int r = dl_send(s, msg);

        if (r < 0)
                return r;
        return dl_recv_status(s, ret_status, NULL);
}

/* The final answer of a request: ["DLMessageProcessMessage", {MessageName: Response, …}]. */
static int send_response(Session *s, unsigned code, const char *desc, const char *content,
                         bool binary) {
        _cleanup_(plist_freep) plist_t a = dl_new("DLMessageProcessMessage");
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, "MessageName", plist_new_string("Response"));
        plist_dict_set_item(d, "ErrorCode", plist_new_uint(code));
        if (desc)
                plist_dict_set_item(d, "ErrorDescription", plist_new_string(desc));
        if (content)
                plist_dict_set_item(d, "Content", plist_new_string(content));
        plist_array_append_item(a, d);
        return plistio_send(s->conn, a, binary);
}

/* DeviceLink progress is a percentage of the whole operation and never goes backwards. */
static plist_t progress_node(Session *s, double p) {
        if (p > s->progress)
                s->progress = p > 100.0 ? 100.0 : p;
        return plist_new_real(s->progress);
}

/* DLMessageCreateDirectory: the host creates no parents of uploads itself (§3.5), so the
 * device asks for every directory first. 0, 1 if the host failed, < 0 on I/O errors. */
static int dl_create_directory(Session *s, const char *path) {
        plist_t m = dl_new("DLMessageCreateDirectory");
        int64_t st = 0;
        int r;

        plist_array_append_item(m, plist_new_string(path));
        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(s, 0));
        r = dl_call(s, m, &st);
        if (r < 0)
                return r;
        /* 1.3.0 reports EEXIST (-7) for an existing directory: that is success. */
        if (st != 0 && st != -7)
                log_warn("%s: host could not create '%s' (status %" PRId64 ")", s->udid, path, st);
        return st == 0 || st == -7 ? 0 : 1;
}

/* DLMessageRemoveItems; 0, or 1 if the host reported an error. */
static int dl_remove_items(Session *s, char **paths, size_t n, double progress) {
        plist_t m = dl_new("DLMessageRemoveItems"), a = plist_new_array();
        int64_t st = 0;
        int r;

        for (size_t i = 0; i < n; i++)
                plist_array_append_item(a, plist_new_string(paths[i]));
        plist_array_append_item(m, a);
        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(s, progress));
        r = dl_call(s, m, &st);
        if (r < 0)
                return r;
        return st == 0 ? 0 : 1;
}

/* DLMessageMoveItems of the pairs (consumed dict); 0, or 1 if the host reported an error. */
static int dl_move_items(Session *s, plist_t pairs, double progress) {
        plist_t m = dl_new("DLMessageMoveItems");
        int64_t st = 0;
        int r;

        plist_array_append_item(m, pairs);
        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(s, progress));
        r = dl_call(s, m, &st);
        if (r < 0)
                return r;
        if (st != 0)
                log_warn("%s: host failed to move items (status %" PRId64 ")", s->udid, st);
        return st == 0 ? 0 : 1;
}

/* ---- raw stream, device → host (DLMessageUploadFiles) ---------------------------------- */

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

static void uploader_done(Uploader *u) {
        free(u->buf);
        u->buf = NULL;
}

static int64_t elapsed_ms(const struct timespec *t0) {
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t) (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Wait ms unless the device is unplugged or the emulator quits first (-ECONNRESET). */
static int session_sleep(Session *s, int64_t ms) {
        struct timespec t0;
        int r = 0;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        emu_lock();
        for (;;) {
                int64_t left = ms - elapsed_ms(&t0);

                if (!s->device->attached || emu_quitting) {
                        r = -ECONNRESET;
                        break;
                }
                if (left <= 0)
                        break;
                (void) emu_wait(left > 1000 ? 1000 : (int) left);
        }
        emu_unlock();
        return r;
}

/* The cable is pulled (fault pull-after-*): the device goes away mid-stream. */
static int session_pull(Session *s, const char *why) {
        log_info("%s: cable pulled after %s", s->udid, why);
        emu_lock();
        device_detach(s->device);
        emu_unlock();
        return -ECONNRESET;
}

/* Write what is buffered. One large write per call: no per-file flushes, so the stream
 * is limited by the host, not by syscalls or TLS records of tiny files. */
static int up_flush(Uploader *u) {
        Session *s = u->s;
        size_t off = 0;
        int r;

        if (u->len == 0)
                return 0;
        if (!u->started) {
                clock_gettime(CLOCK_MONOTONIC, &u->t0);
                u->started = true;
        }
        if (s->faults.slow_bps == 0) {
                r = conn_write_full(s->conn, u->buf, u->len);
                u->wire_bytes += u->len;
                u->len = 0;
                return r;
        }

        /* Slow link: small slices, paced so that the host always sees bytes trickle in (its
         * reads give up after 30 s without any). */
        while (off < u->len) {
                uint64_t bps = s->faults.slow_bps;
                size_t slice = bps / 10 ? (size_t) (bps / 10) : 1;
                int64_t due;

                if (slice > 65536)
                        slice = 65536;
                if (slice > u->len - off)
                        slice = u->len - off;
                due = (int64_t) ((u->wire_bytes + slice) * 1000 / bps);
                r = session_sleep(s, due - elapsed_ms(&u->t0));
                if (r < 0)
                        return r;
                r = conn_write_full(s->conn, u->buf + off, slice);
                if (r < 0)
                        return r;
                off += slice;
                u->wire_bytes += slice;
        }
        u->len = 0;
        return 0;
}

static int up_put(Uploader *u, const void *p, size_t n) {
        if (u->len + n > OUT_CAP) {
                int r = up_flush(u);
                if (r < 0)
                        return r;
        }
        if (n > OUT_CAP)
                return -EMSGSIZE;
        memcpy(u->buf + u->len, p, n);
        u->len += n;
        return 0;
}

static int up_put_u32(Uploader *u, uint32_t v) {
        uint32_t be = htonl(v);

        return up_put(u, &be, 4);
}

/* A length-prefixed name; n may include NUL bytes (hostile devices do that). */
static int up_put_name(Uploader *u, const char *name, size_t n) {
        int r = up_put_u32(u, (uint32_t) n);

        if (r < 0)
                return r;
        return up_put(u, name, n);
}

/* [u32be n+1][code][n bytes]: the length counts the code byte. */
static int up_put_block(Uploader *u, uint8_t code, const void *p, size_t n) {
        uint8_t h[5];
        uint32_t be = htonl((uint32_t) n + 1);
        int r;

        memcpy(h, &be, 4);
        h[4] = code;
        r = up_put(u, h, 5);
        if (r < 0)
                return r;
        return n ? up_put(u, p, n) : 0;
}

/* The two names that start a file. `pull-after-files N` with N files out already (N = 0
 * included) pulls the cable here, before the next file begins. */
static int up_file_begin(Uploader *u, const char *devpath, const char *dst, size_t dst_len) {
        Session *s = u->s;
        int r;

        if (s->faults.pull_files_set && u->files >= s->faults.pull_files) {
                r = up_flush(u);
                if (r < 0)
                        return r;
                return session_pull(s, "the configured number of files");
        }
        r = up_put_name(u, devpath, strlen(devpath));
        if (r < 0)
                return r;
        return up_put_name(u, dst, dst_len);
}

/* The success terminator of one file; counts it and pulls the cable if told to. */
static int up_file_done(Uploader *u) {
        Session *s = u->s;
        int r = up_put_block(u, CODE_SUCCESS, NULL, 0);

        if (r < 0)
                return r;
        u->files++;
        device_count_files(s->device, 1, 0);
        if (s->faults.pull_files_set && u->files >= s->faults.pull_files) {
                r = up_flush(u);
                if (r < 0)
                        return r;
                return session_pull(s, "the configured number of files");
        }
        return 0;
}

/* Before data goes out: a pull-after-bytes that is due now happens here. */
static size_t up_allowance(Uploader *u, size_t want) {
        const Faults *f = &u->s->faults;

        if (f->pull_bytes_set && f->pull_bytes - u->data_bytes < want)
                return (size_t) (f->pull_bytes - u->data_bytes);
        return want;
}

static int up_check_pull(Uploader *u) {
        const Faults *f = &u->s->faults;
        int r;

        if (!f->pull_bytes_set || u->data_bytes < f->pull_bytes)
                return 0;
        r = up_flush(u);
        if (r < 0)
                return r;
        return session_pull(u->s, "the configured number of bytes");
}

/* One file from fd: names, 0x0C blocks straight from read() into the output buffer, then the
 * success terminator. The content's SHA-1 and size are returned, as sent (a file that changes
 * during the backup is described as it was read). A read error ends the file with 0x0B. */
static int up_file_fd(Uploader *u, const char *devpath, const char *dst, int fd,
                      uint8_t ret_digest[20], uint64_t *ret_size) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        uint64_t size = 0;
        int r;

        if (!c || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
                return -ENOMEM;
        r = up_file_begin(u, devpath, dst, strlen(dst));
        if (r < 0)
                return r;

        for (;;) {
                size_t want = up_allowance(u, BLOCK_MAX);
                uint32_t be;
                ssize_t k;

                r = up_check_pull(u);
                if (r < 0)
                        return r;
                if (u->len + 5 + want > OUT_CAP) {
                        r = up_flush(u);
                        if (r < 0)
                                return r;
                }
                do
                        k = read(fd, u->buf + u->len + 5, want);
                while (k < 0 && errno == EINTR);
                if (k < 0) {
                        static const char msg[] = "Input/output error";
                        log_warn("%s: read error on '%s': %m", u->s->udid, devpath);
                        return up_put_block(u, CODE_ERROR_REMOTE, msg, sizeof(msg) - 1);
                }
                if (k == 0)
                        break;
                be = htonl((uint32_t) k + 1);
                memcpy(u->buf + u->len, &be, 4);
                u->buf[u->len + 4] = CODE_FILE_DATA;
                u->len += 5 + (size_t) k;
                EVP_DigestUpdate(c, u->buf + u->len - k, (size_t) k);
                size += (uint64_t) k;
                u->data_bytes += (uint64_t) k;
                if (u->len >= BLOCK_MAX) {
                        r = up_flush(u);
                        if (r < 0)
                                return r;
                }
                if (want == 0)
                        break;
        }
        r = up_check_pull(u);
        if (r < 0)
                return r;
        if (ret_digest)
                EVP_DigestFinal_ex(c, ret_digest, NULL);
        if (ret_size)
                *ret_size = size;
        return up_file_done(u);
}

static int up_file_mem(Uploader *u, const char *devpath, const char *dst, const void *data,
                       size_t n) {
        const uint8_t *p = data;
        int r;

        r = up_file_begin(u, devpath, dst, strlen(dst));
        while (r >= 0 && n > 0) {
                size_t k = up_allowance(u, n > BLOCK_MAX ? BLOCK_MAX : n);

                r = up_check_pull(u);
                if (r < 0 || k == 0)
                        break;
                r = up_put_block(u, CODE_FILE_DATA, p, k);
                p += k;
                n -= k;
                u->data_bytes += k;
        }
        if (r >= 0)
                r = up_check_pull(u);
        if (r < 0)
                return r;
        return up_file_done(u);
}

/* ["DLMessageUploadFiles", {}, progress, total bytes]: the total only drives the host's
 * progress bar. The raw stream follows right after. */
static int up_begin_batch(Uploader *u, uint64_t total, double progress) {
        plist_t m = dl_new("DLMessageUploadFiles");

        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(u->s, progress));
        plist_array_append_item(m, plist_new_uint(total));
        return dl_send(u->s, m);
}

/* End marker, flush, and the host's verdict: 0, or 1 if the host reported an error. */
static int up_end_batch(Uploader *u) {
        int64_t st = 0;
        int r;

        r = up_put_u32(u, 0);
        if (r >= 0)
                r = up_flush(u);
        if (r >= 0)
                r = dl_recv_status(u->s, &st, NULL);
        if (r < 0)
                return r;
        if (st != 0)
                log_warn("%s: host reported status %" PRId64 " for an upload", u->s->udid, st);
        return st == 0 ? 0 : 1;
}

/* ---- raw stream, host → device (DLMessageDownloadFiles) -------------------------------- */

typedef struct Fetch {
        char *remote;  /* path relative to the backup root */
        char *local;   /* where to store it; NULL: discard */
        bool received; /* the host sent it completely */
        uint64_t size;
        char *error; /* the host's error text, if it sent one */
} Fetch;

static void fetch_clear(Fetch *f, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(f[i].remote);
                free(f[i].local);
                free(f[i].error);
                f[i] = (Fetch){};
        }
}

/* A u32be of the raw stream. */
static int read_u32(Conn *c, uint32_t *ret) {
        uint32_t be;
        int r = conn_read_full(c, &be, 4);

        if (r < 0)
                return r;
        *ret = ntohl(be);
        return 0;
}

/* Read n bytes into fd (or drop them when fd < 0). Write errors keep draining. */
static int drain_to(Conn *c, int fd, uint64_t n, bool *write_failed) {
        uint8_t buf[65536];

        while (n > 0) {
                size_t k = n > sizeof(buf) ? sizeof(buf) : (size_t) n;
                int r = conn_read_full(c, buf, k);

                if (r < 0)
                        return r;
                if (fd >= 0 && !*write_failed) {
                        for (size_t off = 0; off < k;) {
                                ssize_t w = write(fd, buf + off, k - off);
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w <= 0) {
                                        *write_failed = true;
                                        break;
                                }
                                off += (size_t) w;
                        }
                }
                n -= k;
        }
        return 0;
}

/* Parse the host's file stream for the request f[0..n): per file the echoed path, 0x0C
 * blocks, then 0x00 (complete) or 0x06 (error text); a zero length ends it. The host echoes
 * the paths in request order and stops after the first error. */
static int fetch_read_stream(Session *s, Fetch *f, size_t n) {
        size_t next = 0;

        for (;;) {
                _cleanup_(freep) char *name = NULL;
                _cleanup_(closep) int fd = -1;
                bool write_failed = false;
                Fetch *cur = NULL;
                uint32_t len;
                int r;

                r = read_u32(s->conn, &len);
                if (r < 0)
                        return r;
                if (len == 0)
                        return 0;
                if (len > DL_NAME_MAX)
                        return -EBADMSG;
                name = malloc(len + 1);
                if (!name)
                        return -ENOMEM;
                r = conn_read_full(s->conn, name, len);
                if (r < 0)
                        return r;
                name[len] = 0;
                for (size_t i = next; i < n; i++)
                        if (strlen(name) == len && strcmp(f[i].remote, name) == 0) {
                                cur = &f[i];
                                next = i + 1;
                                break;
                        }
                if (!cur)
                        log_warn("%s: host sent '%s', which was not asked for", s->udid, name);
                else if (cur->local) {
                        fd = open(cur->local, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                                  0644);
                        if (fd < 0) {
                                log_warn("%s: cannot create '%s': %m", s->udid, cur->local);
                                write_failed = true;
                        }
                }

                for (;;) {
                        uint32_t blen;
                        uint8_t code;

                        r = read_u32(s->conn, &blen);
                        if (r < 0)
                                return r;
                        if (blen == 0)
                                return -EBADMSG;
                        r = conn_read_full(s->conn, &code, 1);
                        if (r < 0)
                                return r;
                        if (code == CODE_FILE_DATA) {
                                r = drain_to(s->conn, fd, blen - 1, &write_failed);
                                if (r < 0)
                                        return r;
                                if (cur)
                                        cur->size += blen - 1;
                                continue;
                        }
                        if (code == CODE_SUCCESS) {
                                r = drain_to(s->conn, -1, blen - 1, &write_failed);
                                if (r < 0)
                                        return r;
                                if (cur && !write_failed) {
                                        cur->received = true;
                                        device_count_files(s->device, 0, 1);
                                }
                                break;
                        }
                        if (code == CODE_ERROR_LOCAL || code == CODE_ERROR_REMOTE) {
                                size_t keep = blen - 1 > DL_TEXT_MAX ? DL_TEXT_MAX : blen - 1;
                                char *text = malloc(keep + 1);

                                if (!text)
                                        return -ENOMEM;
                                r = conn_read_full(s->conn, text, keep);
                                if (r >= 0)
                                        r = drain_to(s->conn, -1, blen - 1 - keep, &write_failed);
                                if (r < 0) {
                                        free(text);
                                        return r;
                                }
                                text[keep] = 0;
                                if (cur) {
                                        free(cur->error);
                                        cur->error = text;
                                } else
                                        free(text);
                                break;
                        }
                        log_warn("%s: unknown block code 0x%02x in the host's stream", s->udid,
                                 code);
                        return -EBADMSG;
                }
                if (cur && cur->local && !cur->received)
                        (void) unlink(cur->local);
        }
}

/* DLMessageDownloadFiles for f[0..n): request, stream, status. Missing files are normal
 * (multi-status -13); the caller looks at f[i].received. */
static int fetch_files(Session *s, Fetch *f, size_t n, double progress) {
        plist_t m = dl_new("DLMessageDownloadFiles"), a = plist_new_array();
        int64_t st = 0;
        int r;

        for (size_t i = 0; i < n; i++)
                plist_array_append_item(a, plist_new_string(f[i].remote));
        plist_array_append_item(m, a);
        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(s, progress));
        r = dl_send(s, m);
        if (r < 0)
                return r;
        r = fetch_read_stream(s, f, n);
        if (r < 0)
                return r;
        return dl_recv_status(s, &st, NULL);
}

/* A private scratch directory under $TMPDIR for this request (fetched metadata, the new
 * Manifest.db); removed when the request ends. */
static int session_tmp(Session *s) {
        if (s->tmp)
                return 0;
        if (asprintf(&s->tmp, "%s/fakeidevice-mb2-XXXXXX", tmp_dir()) < 0) {
                s->tmp = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(s->tmp)) {
                int r = -errno;
                log_warn("Cannot create a directory in '%s': %m", tmp_dir());
                free(s->tmp);
                s->tmp = NULL;
                return r;
        }
        return 0;
}

/* Fetch <dir>/<name> for each name into the session's scratch directory. */
static int fetch_meta(Session *s, const char *dir, const char *const *names, Fetch *f, size_t n,
                      double progress) {
        int r = session_tmp(s);

        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (asprintf(&f[i].remote, "%s/%s", dir, names[i]) < 0)
                        f[i].remote = NULL;
                if (asprintf(&f[i].local, "%s/%s", s->tmp, names[i]) < 0)
                        f[i].local = NULL;
                if (!f[i].remote || !f[i].local)
                        return -ENOMEM;
        }
        return fetch_files(s, f, n, progress);
}

/* ---- the profile's backup/ tree -------------------------------------------------------- */

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
} Entry;

typedef struct Scan {
        Entry *v;
        size_t n, cap;
} Scan;

static void scan_done(Scan *sc) {
        for (size_t i = 0; i < sc->n; i++) {
                free(sc->v[i].domain);
                free(sc->v[i].rel);
                free(sc->v[i].target);
        }
        free(sc->v);
        *sc = (Scan){};
}

static int scan_add(Scan *sc, const char *domain, const char *rel, int flags, const struct stat *st,
                    const char *target) {
        Entry *e;

        if (sc->n == sc->cap) {
                size_t cap = sc->cap ? sc->cap * 2 : 256;
                Entry *v = realloc(sc->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                sc->v = v;
                sc->cap = cap;
        }
        e = &sc->v[sc->n];
        *e = (Entry){.flags = flags,
                     .st = *st,
                     .size = S_ISREG(st->st_mode) ? (uint64_t) st->st_size : 0};
        e->domain = strdup(domain);
        e->rel = strdup(rel);
        e->target = target ? strdup(target) : NULL;
        if (!e->domain || !e->rel || (target && !e->target)) {
                free(e->domain);
                free(e->rel);
                free(e->target);
                return -ENOMEM;
        }
        file_id(domain, rel, e->id);
        sc->n++;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names of a directory (without . and ..). */
static int list_dir(int fd, char ***ret, size_t *ret_n) {
        int dfd = dup(fd);
        DIR *dir = dfd >= 0 ? fdopendir(dfd) : NULL;
        char **v = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (!dir) {
                r = -errno;
                if (dfd >= 0)
                        close(dfd);
                return r;
        }
        for (struct dirent *de; (de = readdir(dir));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (n == cap) {
                        char **nv;
                        cap = cap ? cap * 2 : 32;
                        nv = realloc(v, cap * sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                if (!(v[n] = strdup(de->d_name))) {
                        r = -ENOMEM;
                        break;
                }
                n++;
        }
        closedir(dir);
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(v[i]);
                free(v);
                return r;
        }
        if (n)
                qsort(v, n, sizeof(*v), cmp_str);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void free_names(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

/* One directory of a domain, recursively, in sorted order (the manifest is deterministic).
 * Symlinks are recorded as such, never followed. */
static int scan_dir(Scan *sc, int fd, const char *domain, const char *rel, unsigned depth) {
        char **names = NULL;
        size_t n = 0;
        int r;

        if (depth > SCAN_DEPTH)
                return -ELOOP;
        r = list_dir(fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_(freep) char *path = NULL;
                struct stat st;

                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue; /* gone meanwhile (a concurrent mutate) */
                if (asprintf(&path, "%s%s%s", rel, *rel ? "/" : "", names[i]) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(fd, names[i],
                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (cfd < 0)
                                continue;
                        r = scan_add(sc, domain, path, FLAG_DIR, &st, NULL);
                        if (r >= 0)
                                r = scan_dir(sc, cfd, domain, path, depth + 1);
                        close(cfd);
                } else if (S_ISREG(st.st_mode))
                        r = scan_add(sc, domain, path, FLAG_FILE, &st, NULL);
                else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t k = readlinkat(fd, names[i], target, sizeof(target) - 1);
                        if (k < 0)
                                continue;
                        target[k] = 0;
                        r = scan_add(sc, domain, path, FLAG_SYMLINK, &st, target);
                }
                /* sockets, fifos, devices: not part of a backup */
        }
        free_names(names, n);
        return r;
}

/* Everything beneath <profile>/backup/: one domain per top-level directory. Read now, never
 * cached, so a `mutate` between two backups is seen. A missing backup/ is an empty device. */
static int scan_profile(const char *profile, Scan *sc) {
        _cleanup_(freep) char *root = NULL;
        _cleanup_(closep) int fd = -1;
        char **names = NULL;
        size_t n = 0;
        int r;

        if (asprintf(&root, "%s/backup", profile) < 0) {
                root = NULL;
                return -ENOMEM;
        }
        fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = list_dir(fd, &names, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;
                int dfd;

                if (!domain_ok(names[i]) || fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                dfd = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (dfd < 0)
                        continue;
                r = scan_add(sc, names[i], "", FLAG_DIR, &st, NULL);
                if (r >= 0)
                        r = scan_dir(sc, dfd, names[i], "", 1);
                close(dfd);
        }
        free_names(names, n);
        return r;
}

/* Open a file of the profile for reading, not through a symlink. fd or -errno. */
static int entry_open(const char *profile, const Entry *e) {
        _cleanup_(freep) char *path = NULL;

        if (asprintf(&path, "%s/backup/%s/%s", profile, e->domain, e->rel) < 0)
                return -ENOMEM;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* SHA-1 and size of the content: the incremental compares this with the old Digest. */
static int hash_fd(int fd, uint8_t out[20], uint64_t *ret_size) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        _cleanup_(freep) uint8_t *buf = malloc(BLOCK_MAX);
        uint64_t size = 0;

        if (!c || !buf || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
                return -ENOMEM;
        for (;;) {
                ssize_t k = read(fd, buf, BLOCK_MAX);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                EVP_DigestUpdate(c, buf, (size_t) k);
                size += (uint64_t) k;
        }
        EVP_DigestFinal_ex(c, out, NULL);
        *ret_size = size;
        return 0;
}

/* ---- MBFile: the NSKeyedArchiver blob in Manifest.db's `file` column -------------------- */

typedef struct MBInfo {
        uint64_t size;
        uint64_t mode;
        int64_t mtime;
        bool has_digest;
        uint8_t digest[20];
        char *rel;    /* RelativePath */
        char *target; /* symlink Target */
} MBInfo;

static void mbinfo_done(MBInfo *m) {
        free(m->rel);
        free(m->target);
        *m = (MBInfo){};
}

/* Build the archive for e; the caller frees *ret with free(). */
static int mbfile_build(const Entry *e, bool encrypted, char **ret, uint32_t *ret_len) {
        _cleanup_(plist_freep) plist_t top = plist_new_dict();
        plist_t objs = plist_new_array(), root = plist_new_dict(), cls = plist_new_dict();
        plist_t top_ref = plist_new_dict(), classes = plist_new_array();
        uint64_t idx = 2;
        mode_t type = e->flags == FLAG_DIR ? S_IFDIR : e->flags == FLAG_SYMLINK ? S_IFLNK : S_IFREG;

        plist_array_append_item(objs, plist_new_string("$null"));
        plist_array_append_item(objs, root);
        plist_array_append_item(objs, plist_new_string(e->rel));
        plist_dict_set_item(root, "RelativePath", plist_new_uid(idx++));
        plist_dict_set_item(root, "LastModified", plist_new_uint((uint64_t) e->st.st_mtime));
        plist_dict_set_item(root, "LastStatusChange", plist_new_uint((uint64_t) e->st.st_ctime));
        plist_dict_set_item(root, "Birth", plist_new_uint((uint64_t) e->st.st_mtime));
        plist_dict_set_item(root, "Size", plist_new_uint(e->flags == FLAG_FILE ? e->size : 0));
        plist_dict_set_item(root, "Mode",
                            plist_new_uint((uint64_t) (type | (e->st.st_mode & 07777))));
        plist_dict_set_item(root, "UserID", plist_new_uint(BACKUP_UID));
        plist_dict_set_item(root, "GroupID", plist_new_uint(BACKUP_UID));
        plist_dict_set_item(root, "InodeNumber", plist_new_uint((uint64_t) e->st.st_ino));
        plist_dict_set_item(root, "ProtectionClass", plist_new_uint(e->flags == FLAG_FILE ? 3 : 0));
        plist_dict_set_item(root, "Flags", plist_new_uint(0));
        if (e->has_digest && e->flags == FLAG_FILE) {
                plist_array_append_item(objs, plist_new_data((const char *) e->digest, 20));
                plist_dict_set_item(root, "Digest", plist_new_uid(idx++));
        }
        if (e->target) {
                plist_array_append_item(objs, plist_new_string(e->target));
                plist_dict_set_item(root, "Target", plist_new_uid(idx++));
        }
        if (encrypted && e->flags == FLAG_FILE) {
                /* The shape only: u32le protection class + a 40-byte wrapped key. The content
                 * itself is not encrypted (not required of the emulator). */
                plist_t kd = plist_new_dict(), kc = plist_new_dict(), kcl = plist_new_array();
                uint8_t key[44] = {3, 0, 0, 0};

                random_bytes(key + 4, 40);
                plist_dict_set_item(kd, "NS.data", plist_new_data((const char *) key, 44));
                plist_dict_set_item(kd, "$class", plist_new_uid(idx + 1));
                plist_array_append_item(objs, kd);
                plist_dict_set_item(root, "EncryptionKey", plist_new_uid(idx));
                idx += 2;
                plist_array_append_item(kcl, plist_new_string("NSMutableData"));
                plist_array_append_item(kcl, plist_new_string("NSData"));
                plist_array_append_item(kcl, plist_new_string("NSObject"));
                plist_dict_set_item(kc, "$classes", kcl);
                plist_dict_set_item(kc, "$classname", plist_new_string("NSMutableData"));
                plist_array_append_item(objs, kc);
        }
        plist_array_append_item(classes, plist_new_string("MBFile"));
        plist_array_append_item(classes, plist_new_string("NSObject"));
        plist_dict_set_item(cls, "$classes", classes);
        plist_dict_set_item(cls, "$classname", plist_new_string("MBFile"));
        plist_array_append_item(objs, cls);
        plist_dict_set_item(root, "$class", plist_new_uid(idx));

        plist_dict_set_item(top_ref, "root", plist_new_uid(1));
        plist_dict_set_item(top, "$version", plist_new_uint(100000));
        plist_dict_set_item(top, "$archiver", plist_new_string("NSKeyedArchiver"));
        plist_dict_set_item(top, "$top", top_ref);
        plist_dict_set_item(top, "$objects", objs);

        *ret = NULL;
        plist_to_bin(top, ret, ret_len);
        return *ret ? 0 : -ENOMEM;
}

/* Follow a UID reference of the archive; NULL if it is not one or out of range. */
static plist_t archive_deref(plist_t objs, plist_t ref) {
        uint64_t i = 0;

        if (!ref || plist_get_node_type(ref) != PLIST_UID)
                return NULL;
        plist_get_uid_val(ref, &i);
        if (i == 0 || i >= plist_array_get_size(objs))
                return NULL;
        return plist_array_get_item(objs, (uint32_t) i);
}

static uint64_t dict_uint(plist_t d, const char *key) {
        plist_t n = plist_dict_get_item(d, key);
        uint64_t v = 0;

        if (n && plist_get_node_type(n) == PLIST_UINT)
                plist_get_uint_val(n, &v);
        return v;
}

/* Parse an MBFile archive (from an untrusted host's Manifest.db). -EBADMSG if malformed. */
static int mbfile_parse(const void *blob, size_t len, MBInfo *ret) {
        _cleanup_(plist_freep) plist_t p = NULL;
        plist_t objs, top, root, n;
        MBInfo m = {};

        if (!blob || len < 8 || len > MBFILE_MAX || memcmp(blob, "bplist00", 8) != 0)
                return -EBADMSG;
        plist_from_bin(blob, (uint32_t) len, &p);
        if (!p || plist_get_node_type(p) != PLIST_DICT)
                return -EBADMSG;
        objs = plist_dict_get_item(p, "$objects");
        top = plist_dict_get_item(p, "$top");
        if (!objs || plist_get_node_type(objs) != PLIST_ARRAY || !top ||
            plist_get_node_type(top) != PLIST_DICT)
                return -EBADMSG;
        root = archive_deref(objs, plist_dict_get_item(top, "root"));
        if (!root || plist_get_node_type(root) != PLIST_DICT)
                return -EBADMSG;

        m.size = dict_uint(root, "Size");
        m.mode = dict_uint(root, "Mode");
        m.mtime = (int64_t) dict_uint(root, "LastModified");
        n = archive_deref(objs, plist_dict_get_item(root, "Digest"));
        if (n && plist_get_node_type(n) == PLIST_DATA) {
                uint64_t dl = 0;
                const char *d = plist_get_data_ptr(n, &dl);
                if (d && dl == 20) {
                        memcpy(m.digest, d, 20);
                        m.has_digest = true;
                }
        }
        n = archive_deref(objs, plist_dict_get_item(root, "RelativePath"));
        if (plist_str(n) && !(m.rel = strdup(plist_str(n))))
                return -ENOMEM;
        n = archive_deref(objs, plist_dict_get_item(root, "Target"));
        if (plist_str(n) && !(m.target = strdup(plist_str(n)))) {
                mbinfo_done(&m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

/* ---- Manifest.db, Manifest.plist, Status.plist ----------------------------------------- */

static const char manifest_schema[] =
        "PRAGMA journal_mode=OFF;"
        "PRAGMA synchronous=OFF;"
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, "
        "flags INTEGER, file BLOB);"
        "CREATE INDEX FilesDomainIdx ON Files(domain);"
        "CREATE INDEX FilesRelativePathIdx ON Files(relativePath);"
        "CREATE INDEX FilesFlagsIdx ON Files(flags);"
        "CREATE TABLE Properties (key TEXT PRIMARY KEY, value BLOB);";

/* A new Manifest.db with the iOS 10+ schema; no journal (a scratch file). */
static int manifest_db_create(const char *path, sqlite3 **ret) {
        sqlite3 *db = NULL;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK) {
                log_warn("sqlite: cannot create '%s': %s", path, db ? sqlite3_errmsg(db) : "?");
                sqlite3_close(db);
                return -EIO;
        }
        if (sqlite3_exec(db, manifest_schema, NULL, NULL, NULL) != SQLITE_OK) {
                log_warn("sqlite: schema: %s", sqlite3_errmsg(db));
                sqlite3_close(db);
                return -EIO;
        }
        *ret = db;
        return 0;
}

static int manifest_db_add(sqlite3_stmt *ins, const char *id, const char *domain, const char *rel,
                           int flags, const void *blob, uint32_t blob_len) {
        int rc;

        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, domain, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, rel, -1, SQLITE_STATIC);
        sqlite3_bind_int(ins, 4, flags);
        sqlite3_bind_blob(ins, 5, blob, (int) blob_len, SQLITE_STATIC);
        rc = sqlite3_step(ins);
        return rc == SQLITE_DONE ? 0 : -EIO;
}

/* Manifest.db describing the entries (and extra, hostile ones) into a new file at path. */
static int manifest_db_write(const char *path, const Scan *sc, const Scan *extra, bool encrypted) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *ins = NULL;
        const Scan *lists[2] = {sc, extra};
        int r;

        r = manifest_db_create(path, &db);
        if (r < 0)
                return r;
        if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO Files VALUES (?,?,?,?,?)", -1, &ins,
                               NULL) != SQLITE_OK)
                return -EIO;
        for (size_t l = 0; l < ELEMENTSOF(lists); l++)
                for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
                        const Entry *e = &lists[l]->v[i];
                        _cleanup_(freep) char *blob = NULL;
                        uint32_t blob_len = 0;

                        r = mbfile_build(e, encrypted, &blob, &blob_len);
                        if (r < 0)
                                return r;
                        r = manifest_db_add(ins, e->id, e->domain, e->rel, e->flags, blob,
                                            blob_len);
                        if (r < 0) {
                                log_warn("sqlite: insert: %s", sqlite3_errmsg(db));
                                return r;
                        }
                }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
                return -EIO;
        return 0;
}

static int plist_to_bin_buf(plist_t p, char **ret, size_t *ret_len) {
        uint32_t len = 0;

        *ret = NULL;
        plist_to_bin(p, ret, &len);
        if (!*ret)
                return -ENOMEM;
        *ret_len = len;
        return 0;
}

/* A keybag-shaped blob (TLV: VERS, TYPE, UUID, HMCK, WRAP, SALT, ITER): hosts store it and
 * need it for encrypted restores; nothing here decrypts with it. */
static plist_t fake_keybag(void) {
        uint8_t b[256];
        size_t o = 0;
        uint32_t be;

#define TLV(tag, ptr, len)                                                                         \
        do {                                                                                       \
                memcpy(b + o, tag, 4);                                                             \
                be = htonl(len);                                                                   \
                memcpy(b + o + 4, &be, 4);                                                         \
                memcpy(b + o + 8, ptr, len);                                                       \
                o += 8 + (len);                                                                    \
        } while (0)
        uint32_t vers = htonl(3), type = htonl(1), wrap = htonl(0), iter = htonl(10000);
        uint8_t uuid[16], hmck[40], salt[20];

        random_bytes(uuid, sizeof(uuid));
        random_bytes(hmck, sizeof(hmck));
        random_bytes(salt, sizeof(salt));
        TLV("VERS", &vers, 4);
        TLV("TYPE", &type, 4);
        TLV("UUID", uuid, 16);
        TLV("HMCK", hmck, 40);
        TLV("WRAP", &wrap, 4);
        TLV("SALT", salt, 20);
        TLV("ITER", &iter, 4);
#undef TLV
        return plist_new_data((const char *) b, o);
}

static plist_t manifest_plist_new(const DeviceInfo *info, const char *udid, const char *profile,
                                  bool encrypted, bool passcode) {
        plist_t m = plist_new_dict(), ld = plist_new_dict(), apps = plist_new_dict();
        AppInfo **list = NULL;
        size_t n = 0;

        plist_dict_set_item(m, "BackupKeyBag", fake_keybag());
        plist_dict_set_item(m, "Version", plist_new_string("10.0"));
        plist_dict_set_item(m, "Date", plist_now());
        plist_dict_set_item(m, "SystemDomainsVersion", plist_new_string("24.0"));
        plist_dict_set_item(m, "WasPasscodeSet", plist_new_bool(passcode));
        plist_dict_set_item(m, "IsEncrypted", plist_new_bool(encrypted));
        plist_dict_set_item(ld, "ProductVersion", plist_new_string(info->ios ?: "17.5"));
        plist_dict_set_item(ld, "BuildVersion", plist_new_string(info->build ?: "21F79"));
        plist_dict_set_item(ld, "ProductType", plist_new_string(info->product ?: "iPhone15,2"));
        plist_dict_set_item(ld, "UniqueDeviceID", plist_new_string(udid));
        plist_dict_set_item(ld, "SerialNumber", plist_new_string(info->serial ?: ""));
        plist_dict_set_item(ld, "DeviceName", plist_new_string(info->name ?: "iPhone"));
        plist_dict_set_item(ld, "com.apple.mobile.data_sync", plist_new_dict());
        plist_dict_set_item(ld, "com.apple.Accessibility", plist_new_dict());
        plist_dict_set_item(m, "Lockdown", ld);

        if (profile_list_apps(profile, &list, &n) >= 0) {
                for (size_t i = 0; i < n; i++) {
                        plist_t a = plist_new_dict();
                        char path[512];

                        snprintf(path, sizeof(path),
                                 "/private/var/containers/Bundle/Application/%s/%s.app",
                                 list[i]->bundle_id, list[i]->display_name ?: "App");
                        plist_dict_set_item(a, "CFBundleIdentifier",
                                            plist_new_string(list[i]->bundle_id));
                        plist_dict_set_item(a, "CFBundleVersion",
                                            plist_new_string(list[i]->version ?: "1"));
                        plist_dict_set_item(a, "ContainerContentClass",
                                            plist_new_string("Data/Application"));
                        plist_dict_set_item(a, "Path", plist_new_string(path));
                        plist_dict_set_item(apps, list[i]->bundle_id, a);
                }
                app_info_free_array(list, n);
        }
        plist_dict_set_item(m, "Applications", apps);
        return m;
}

/* Status.plist; idevicebackup2 calls a backup good only if SnapshotState is "finished". */
static plist_t status_plist_new(bool full, const char *state) {
        plist_t s = plist_new_dict();
        char uuid[37];

        random_uuid(uuid);
        plist_dict_set_item(s, "BackupState", plist_new_string("new"));
        plist_dict_set_item(s, "Date", plist_now());
        plist_dict_set_item(s, "IsFullBackup", plist_new_bool(full));
        plist_dict_set_item(s, "SnapshotState", plist_new_string(state));
        plist_dict_set_item(s, "UUID", plist_new_string(uuid));
        plist_dict_set_item(s, "Version", plist_new_string("3.3"));
        return s;
}

/* Parse a small plist file fetched from the host. -ENOENT missing, -ENODATA empty,
 * -EBADMSG not a plist (dictionary). */
static int load_plist(const Fetch *f, plist_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        plist_t p = NULL;
        int r;

        if (!f->received)
                return -ENOENT;
        r = read_file(f->local, META_MAX, &buf, &len);
        if (r < 0)
                return r == -EFBIG ? -EBADMSG : r;
        if (len == 0)
                return -ENODATA;
        plist_from_memory(buf, (uint32_t) len, &p);
        if (!p)
                return -EBADMSG;
        if (plist_get_node_type(p) != PLIST_DICT) {
                plist_free(p);
                return -EBADMSG;
        }
        *ret = p;
        return 0;
}

/* ---- the previous backup, as the host has it ------------------------------------------- */

typedef struct OldRow {
        char id[41];
        int flags;
        uint64_t size;
        bool has_digest;
        uint8_t digest[20];
        bool still_there; /* the profile still has this fileID */
} OldRow;

typedef struct Old {
        OldRow *v;
        size_t n;
        OldRow **by_digest; /* rows with a digest, sorted by (digest, size) */
        size_t n_digest;
} Old;

static void old_done(Old *o) {
        free(o->v);
        free(o->by_digest);
        *o = (Old){};
}

static int cmp_old_id(const void *a, const void *b) {
        return strcmp(((const OldRow *) a)->id, ((const OldRow *) b)->id);
}

static int cmp_old_digest(const void *a, const void *b) {
        const OldRow *x = *(OldRow *const *) a, *y = *(OldRow *const *) b;
        int c = memcmp(x->digest, y->digest, 20);

        return c ? c : (x->size > y->size) - (x->size < y->size);
}

/* Read the host's Manifest.db (untrusted): rows with a valid fileID only. */
static int old_load(const char *path, Old *ret) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        Old o = {};
        size_t cap = 0;
        int rc;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT fileID, flags, file FROM Files", -1, &st, NULL) !=
                    SQLITE_OK)
                return -EBADMSG;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const void *blob = sqlite3_column_blob(st, 2);
                int blen = sqlite3_column_bytes(st, 2);
                MBInfo m = {};
                OldRow *row;

                if (!file_id_ok(id))
                        continue;
                if (o.n == cap) {
                        OldRow *v;
                        cap = cap ? cap * 2 : 256;
                        v = realloc(o.v, cap * sizeof(*v));
                        if (!v) {
                                old_done(&o);
                                return -ENOMEM;
                        }
                        o.v = v;
                }
                row = &o.v[o.n++];
                *row = (OldRow){.flags = sqlite3_column_int(st, 1)};
                memcpy(row->id, id, 41);
                if (mbfile_parse(blob, blen > 0 ? (size_t) blen : 0, &m) >= 0) {
                        row->size = m.size;
                        row->has_digest = m.has_digest;
                        memcpy(row->digest, m.digest, 20);
                        mbinfo_done(&m);
                }
        }
        if (rc != SQLITE_DONE) {
                old_done(&o);
                return -EBADMSG;
        }
        if (o.n)
                qsort(o.v, o.n, sizeof(*o.v), cmp_old_id);
        o.by_digest = calloc(o.n ? o.n : 1, sizeof(*o.by_digest));
        if (!o.by_digest) {
                old_done(&o);
                return -ENOMEM;
        }
        for (size_t i = 0; i < o.n; i++)
                if (o.v[i].has_digest && o.v[i].flags == FLAG_FILE)
                        o.by_digest[o.n_digest++] = &o.v[i];
        if (o.n_digest)
                qsort(o.by_digest, o.n_digest, sizeof(*o.by_digest), cmp_old_digest);
        *ret = o;
        return 0;
}

static OldRow *old_find(Old *o, const char *id) {
        OldRow key = {};

        memcpy(key.id, id, 41);
        return o->n ? bsearch(&key, o->v, o->n, sizeof(*o->v), cmp_old_id) : NULL;
}

/* A file of the previous backup with this content, if any: it can be copied on the host
 * (DLMessageCopyItem) instead of sent again. */
static OldRow *old_find_content(Old *o, const uint8_t digest[20], uint64_t size) {
        OldRow key = {.size = size}, *kp = &key, **hit;

        memcpy(key.digest, digest, 20);
        if (!o->n_digest)
                return NULL;
        hit = bsearch(&kp, o->by_digest, o->n_digest, sizeof(*o->by_digest), cmp_old_digest);
        return hit ? *hit : NULL;
}

/* ---- Backup ---------------------------------------------------------------------------- */

/* The description of an MBErrorDomain code as devices word it; takes underlying. */
static char *mb_error(unsigned code, const char *text, char *underlying) {
        _cleanup_(freep) char *u = underlying;
        char *s = NULL;

        if (u) {
                if (asprintf(&s, "%s (MBErrorDomain/%u). Underlying error: %s.", text, code, u) < 0)
                        s = NULL;
        } else if (asprintf(&s, "%s (MBErrorDomain/%u)", text, code) < 0)
                s = NULL;
        return s;
}

typedef struct Result {
        unsigned code; /* 0: success */
        char *desc;    /* ErrorDescription, NULL on success */
} Result;

static int result_set(Result *res, unsigned code, char *desc) {
        res->code = code;
        free(res->desc);
        res->desc = desc;
        return 0;
}

static char *no_such_file(const char *path) {
        char *s = NULL;

        if (asprintf(&s, "No such file or directory at path \"%s\" (MBErrorDomain/4)", path) < 0)
                return NULL;
        return s;
}

/* iOS ≥ 16.1 asks for the passcode on every backup. d->locked is the prompt: the `unlock`
 * control command (the user typing it) clears it. 0 unlocked, 1 timed out, < 0 gone. */
static int passcode_prompt(Session *s) {
        Device *d = s->device;
        struct timespec t0;
        bool was_locked;
        int r = 1;

        emu_lock();
        BackupState *bs = backup_state(d);
        was_locked = d->locked;
        d->locked = true;
        if (bs)
                bs->waiting_passcode = true;
        emu_broadcast();
        emu_unlock();

        log_info("%s: waiting up to %u s for the passcode", s->udid, s->faults.passcode_s);
        notify_post(d, NOTE_PASSCODE_SHOWN);
        clock_gettime(CLOCK_MONOTONIC, &t0);

        emu_lock();
        for (;;) {
                int64_t left = (int64_t) s->faults.passcode_s * 1000 - elapsed_ms(&t0);

                if (!d->locked) {
                        r = 0;
                        break;
                }
                if (!d->attached || emu_quitting) {
                        r = -ECONNRESET;
                        break;
                }
                if (left <= 0)
                        break;
                (void) emu_wait(left > 1000 ? 1000 : (int) left);
        }
        bs = d->backup_state;
        if (bs)
                bs->waiting_passcode = false;
        if (r != 0)
                d->locked = was_locked; /* nobody typed it (or the cable went): no prompt */
        emu_broadcast();
        emu_unlock();

        if (r >= 0)
                notify_post(d, NOTE_PASSCODE_GONE);
        return r;
}

/* `stall`: the connection stays open and nothing is sent, until the cable is pulled, the
 * emulator quits or the host gives up (it closes or sends something). */
static int stall(Session *s) {
        BackupState *bs;

        log_info("%s: stalling", s->udid);
        emu_lock();
        bs = backup_state(s->device);
        if (bs)
                bs->stalling = true;
        emu_broadcast();
        while (s->device->attached && !emu_quitting) {
                struct pollfd p = {.fd = s->conn->fd, .events = POLLIN | POLLRDHUP};

                emu_unlock();
                if (poll(&p, 1, 0) > 0) {
                        emu_lock();
                        break;
                }
                emu_lock();
                (void) emu_wait(200);
        }
        bs = s->device->backup_state;
        if (bs)
                bs->stalling = false;
        emu_unlock();
        return -ECONNABORTED;
}

/* A plist string of n bytes that may include NUL, which plist_new_string() cannot make: parsed
 * from a hand-made one-object binary plist. NULL if libplist refuses it. */
static plist_t plist_string_bytes(const char *p, size_t n) {
        uint8_t b[8 + 3 + 200 + 1 + 32] = "bplist00";
        plist_t str = NULL;
        size_t o = 8, table;

        if (n > 200)
                return NULL;
        b[o++] = 0x5f; /* ASCII string, length as an int object */
        b[o++] = 0x10; /* 1-byte int */
        b[o++] = (uint8_t) n;
        memcpy(b + o, p, n);
        o += n;
        table = o;
        b[o++] = 8;           /* offset table: the object is at 8 */
        memset(b + o, 0, 32); /* trailer */
        b[o + 6] = 1;         /* offset size */
        b[o + 7] = 1;         /* reference size */
        b[o + 15] = 1;        /* one object, the top one */
        b[o + 31] = (uint8_t) table;
        o += 32;
        plist_from_bin((const char *) b, (uint32_t) o, &str);
        return str;
}

/* Hostile stream attacks that end the conversation. */
static int hostile_stream(Session *s, Hostile h) {
        if (h == HOSTILE_GARBAGE_PLIST) {
                /* Claims to be a binary plist; the trailer points far outside the data. */
                uint8_t frame[4 + 72];
                uint32_t be = htonl(72);

                memcpy(frame, &be, 4);
                memcpy(frame + 4, "bplist00", 8);
                memset(frame + 12, 0xff, 40);
                memset(frame + 52, 0x7f, 24);
                log_info("%s: hostile: sending a garbage plist frame", s->udid);
                (void) conn_write_full(s->conn, frame, sizeof(frame));
        } else {
                _cleanup_(freep) uint8_t *buf = calloc(1, BLOCK_MAX);
                uint32_t total = 100u * 1000u * 1000u, be = htonl(total);
                int r;

                if (!buf)
                        return -ENOMEM;
                log_info("%s: hostile: sending a %u-byte frame", s->udid, total);
                r = conn_write_full(s->conn, &be, 4);
                for (uint32_t sent = 0; r >= 0 && sent < total;) {
                        uint32_t k = total - sent > BLOCK_MAX ? BLOCK_MAX : total - sent;
                        r = conn_write_full(s->conn, buf, k);
                        sent += k;
                }
        }
        return -ECONNABORTED;
}

/* A single-file batch; the host's verdict is logged and otherwise ignored (hostile). */
static int hostile_upload(Session *s, Uploader *u, const char *dst, size_t dst_len,
                          const char *content) {
        int r;

        r = up_begin_batch(u, strlen(content), 1);
        if (r < 0)
                return r;
        r = up_file_begin(u, "/.b/hostile", dst, dst_len);
        if (r >= 0)
                r = up_put_block(u, CODE_FILE_DATA, content, strlen(content));
        if (r >= 0)
                r = up_file_done(u);
        if (r >= 0)
                r = up_end_batch(u);
        if (r > 0)
                log_info("%s: hostile: the host refused the upload", s->udid);
        return r < 0 ? r : 0;
}

/* The hostile actions that happen inside an otherwise normal backup, before the real
 * uploads. extra receives Manifest.db rows of the symlink attack. */
static int hostile_early(Session *s, Uploader *u, Hostile h, Scan *extra) {
        _cleanup_(freep) char *p = NULL;
        int r = 0;

        switch (h) {
        case HOSTILE_DOTDOT:
                if (asprintf(&p, "%s/../../" HOSTILE_OUT_DOTDOT, s->udid) < 0)
                        return -ENOMEM;
                log_info("%s: hostile: uploading to '%s'", s->udid, p);
                return hostile_upload(s, u, p, strlen(p), "written by a hostile device\n");
        case HOSTILE_ABSOLUTE:
                log_info("%s: hostile: uploading to '%s'", s->udid, HOSTILE_ABS_PATH);
                return hostile_upload(s, u, HOSTILE_ABS_PATH, strlen(HOSTILE_ABS_PATH),
                                      "written by a hostile device\n");
        case HOSTILE_NUL: {
                /* The host sees "<UDID>/Snapshot/nul" if it stops at the NUL. */
                char name[256];
                int k = snprintf(name, sizeof(name), "%s/Snapshot/nul%c/../../../%s", s->udid, 0,
                                 HOSTILE_OUT_DOTDOT);
                plist_t m, a, str;
                int64_t st = 0;

                log_info("%s: hostile: upload name with an embedded NUL", s->udid);
                r = hostile_upload(s, u, name, (size_t) k, "hostile NUL name\n");
                if (r < 0)
                        return r;
                /* The same trick inside a plist string (libplist 2.2.0 aborts on those). */
                str = plist_string_bytes(name, (size_t) k);
                if (!str)
                        return 0;
                log_info("%s: hostile: DLMessageRemoveItems path with an embedded NUL", s->udid);
                m = dl_new("DLMessageRemoveItems");
                a = plist_new_array();
                plist_array_append_item(a, str);
                plist_array_append_item(m, a);
                plist_array_append_item(m, plist_new_dict());
                plist_array_append_item(m, progress_node(s, 1));
                r = dl_call(s, m, &st);
                return r < 0 ? r : 0;
        }
        case HOSTILE_LONGNAME: {
                _cleanup_(freep) char *name = malloc(DL_NAME_MAX + 1);
                int k;

                if (!name)
                        return -ENOMEM;
                k = snprintf(name, DL_NAME_MAX + 1, "%s/Snapshot/", s->udid);
                memset(name + k, 'A', DL_NAME_MAX - (size_t) k);
                name[DL_NAME_MAX] = 0;
                log_info("%s: hostile: a %u-byte upload name", s->udid, DL_NAME_MAX);
                return hostile_upload(s, u, name, DL_NAME_MAX, "hostile long name\n");
        }
        case HOSTILE_REMOVE_OUTSIDE:
                if (asprintf(&p, "%s/../../" HOSTILE_VICTIM, s->udid) < 0)
                        return -ENOMEM;
                log_info("%s: hostile: removing '%s'", s->udid, p);
                r = dl_remove_items(s, &p, 1, 1);
                return r < 0 ? r : 0;
        case HOSTILE_SYMLINK: {
                /* A symlink leaving the backup, and a file whose path goes through it: a host
                 * that materialises the tree must not write to /etc/…. */
                struct stat st = {
                        .st_mode = S_IFLNK | 0755, .st_mtime = now_unix(), .st_ctime = now_unix()};
                Entry *file;
                char dir[3];

                r = scan_add(extra, "HomeDomain", "Library/hostile-link", FLAG_SYMLINK, &st,
                             "/etc");
                if (r >= 0) {
                        st.st_mode = S_IFREG | 0644;
                        r = scan_add(extra, "HomeDomain", "Library/hostile-link/hostile-file",
                                     FLAG_FILE, &st, NULL);
                }
                if (r < 0)
                        return r;
                file = &extra->v[extra->n - 1];
                memcpy(dir, file->id, 2);
                dir[2] = 0;
                if (asprintf(&p, "%s/Snapshot/%s", s->udid, dir) < 0)
                        return -ENOMEM;
                r = dl_create_directory(s, p);
                if (r < 0)
                        return r;
                free(p);
                p = NULL;
                if (asprintf(&p, "%s/%s", s->udid, dir) < 0)
                        return -ENOMEM;
                r = dl_create_directory(s, p);
                if (r < 0)
                        return r;
                log_info("%s: hostile: symlink HomeDomain/Library/hostile-link -> /etc", s->udid);
                {
                        static const char content[] = "written through a symlink\n";
                        _cleanup_(freep) char *dst = NULL;

                        if (asprintf(&dst, "%s/Snapshot/%s/%s", s->udid, dir, file->id) < 0)
                                return -ENOMEM;
                        r = up_begin_batch(u, sizeof(content) - 1, 1);
                        if (r >= 0)
                                r = up_file_mem(u, "/.b/hostile", dst, content,
                                                sizeof(content) - 1);
                        if (r >= 0)
                                r = up_end_batch(u);
                        if (r < 0)
                                return r;
                        file->size = sizeof(content) - 1;
                        file->done = true;
                }
                return 0;
        }
        case HOSTILE_LYING_SIZE: {
                /* 10 GiB announced, a block header for 1 MiB, half of it, then the cable. */
                static const uint8_t junk[4096];
                _cleanup_(freep) char *dst = NULL;

                if (asprintf(&dst, "%s/Snapshot/lying-size", s->udid) < 0)
                        return -ENOMEM;
                log_info("%s: hostile: announcing 10 GiB, sending 4 MiB", s->udid);
                r = up_begin_batch(u, 10ull << 30, 1);
                if (r >= 0)
                        r = up_put_name(u, "/.b/lying", 9);
                if (r >= 0)
                        r = up_put_name(u, dst, strlen(dst));
                for (int i = 0; r >= 0 && i < 4; i++) {
                        r = up_put_u32(u, BLOCK_MAX + 1);
                        if (r >= 0)
                                r = up_put(u, &(uint8_t){CODE_FILE_DATA}, 1);
                        for (size_t k = 0; r >= 0 && k < (i < 3 ? BLOCK_MAX : BLOCK_MAX / 2);
                             k += sizeof(junk))
                                r = up_put(u, junk, sizeof(junk));
                }
                if (r >= 0)
                        r = up_flush(u);
                return -ECONNABORTED;
        }
        default:
                return 0;
        }
}

/* The backup proper. 0 with res filled (the caller sends the Response), or < 0 when the
 * connection is gone or must be dropped. */
static int backup_run(Session *s, plist_t req, Result *res) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        _cleanup_(plist_freep) plist_t status = NULL, manifest = NULL;
        _cleanup_(freep) char *db_path = NULL;
        plist_t opts = plist_dict_get_item(req, "Options");
        bool force_full = plist_dict_bool(opts, "ForceFullBackup", false);
        bool incremental = false, have_old = false, upload_failed = false;
        bool encrypted = s->faults.encrypted;
        const char *profile = s->device->profile_dir;
        Uploader u = {.s = s};
        Scan sc = {}, extra = {};
        Old old = {};
        Fetch f[3] = {};
        uint64_t total = 0, sent = 0, freespace = 0;
        size_t n_upload = 0;
        bool used[256] = {};
        char **removed = NULL;
        size_t n_removed = 0;
        int64_t st = 0;
        int r;

        r = device_read_info(s->device, &info);
        if (r < 0) {
                log_warn("%s: cannot read device.ini: %s", s->udid, strerror(-r));
                return result_set(res, 100, mb_error(100, "Error reading device info", NULL));
        }
        if (!info->setup_done)
                return result_set(res, 212,
                                  mb_error(212,
                                           "Unable to backup until Setup is "
                                           "finished",
                                           NULL));

        if (s->faults.hostile == HOSTILE_GARBAGE_PLIST || s->faults.hostile == HOSTILE_HUGE_FRAME)
                return hostile_stream(s, s->faults.hostile);

        if (s->faults.passcode_s > 0) {
                r = passcode_prompt(s);
                if (r < 0)
                        return r;
                if (r > 0)
                        return result_set(res, 208, mb_error(208, "Device locked", NULL));
        }
        if (s->faults.snapshot_exists)
                return result_set(res, 3,
                                  mb_error(3, "Failed to create snapshot: File exists", NULL));

        u.buf = malloc(OUT_CAP);
        if (!u.buf)
                return -ENOMEM;

        /* 1. What does the host have? */
        r = fetch_meta(s, s->udid, (const char *const[]){"Status.plist"}, f, 1, 0);
        if (r < 0)
                goto out;
        r = load_plist(&f[0], &status);
        if (r == -ENODATA || r == -EBADMSG) {
                result_set(res, 103, mb_error(103, "Error reading status", NULL));
                r = 0;
                goto out;
        }
        if (r >= 0) {
                const char *state = plist_dict_str(status, "SnapshotState");
                if (state && strcmp(state, "finished") == 0)
                        incremental = true;
                else
                        log_info("%s: previous backup unfinished ('%s'): full backup", s->udid,
                                 state ?: "?");
        }
        fetch_clear(f, 1);

        if (incremental) {
                static const char *const names[] = {"Manifest.plist", "Manifest.db"};
                bool full;

                r = fetch_meta(s, s->udid, names, f, 2, 0);
                if (r < 0)
                        goto out;
                r = load_plist(&f[0], &manifest);
                if (r < 0) {
                        char *under = NULL, *path = NULL;

                        if (r == -ENOENT) {
                                if (asprintf(&path, "%s/Manifest.plist", s->udid) >= 0) {
                                        under = no_such_file(path);
                                        free(path);
                                }
                        } else if (r == -ENODATA)
                                under = strdup("Error deserializing properties: Cannot parse "
                                               "a NULL or zero-length data (MBErrorDomain/11)");
                        else
                                under = strdup("Error deserializing properties "
                                               "(MBErrorDomain/11)");
                        result_set(res, 205,
                                   mb_error(205, "Error reading backup properties", under));
                        r = 0;
                        goto out;
                }
                full = force_full || plist_dict_bool(manifest, "IsEncrypted", false) != encrypted;
                if (full)
                        log_info("%s: %s: full backup", s->udid,
                                 force_full ? "ForceFullBackup" : "encryption changed");
                /* A full backup still learns the old file list: what is gone is removed. */
                if (f[1].received)
                        r = old_load(f[1].local, &old);
                else
                        r = -ENOENT;
                if (r >= 0)
                        have_old = true;
                else if (!full) {
                        char *path = NULL, *under = NULL;

                        if (r == -ENOENT && asprintf(&path, "%s/Manifest.db", s->udid) >= 0) {
                                under = no_such_file(path);
                                free(path);
                        }
                        result_set(res, 205, mb_error(205, "Error reading backup database", under));
                        r = 0;
                        goto out;
                }
                incremental = !full;
        }

        /* 2. What do we have, and what of it must go? */
        r = scan_profile(profile, &sc);
        if (r < 0) {
                log_warn("%s: cannot read the backup content: %s", s->udid, strerror(-r));
                result_set(res, 100, mb_error(100, "Error reading files", NULL));
                r = 0;
                goto out;
        }
        for (size_t i = 0; i < sc.n; i++) {
                Entry *e = &sc.v[i];
                OldRow *o = have_old ? old_find(&old, e->id) : NULL;

                if (o)
                        o->still_there = true;
                if (e->flags != FLAG_FILE)
                        continue;
                if (incremental) {
                        int fd = entry_open(profile, e);
                        if (fd < 0)
                                continue; /* vanished: the manifest keeps its stat */
                        r = hash_fd(fd, e->digest, &e->size);
                        close(fd);
                        if (r < 0)
                                continue;
                        e->has_digest = true;
                        if (o && o->flags == FLAG_FILE && o->has_digest && o->size == e->size &&
                            memcmp(o->digest, e->digest, 20) == 0)
                                continue; /* the host has exactly this */
                        OldRow *same = old_find_content(&old, e->digest, e->size);
                        if (same && strcmp(same->id, e->id) != 0)
                                memcpy(e->copy_from, same->id, 41);
                }
                e->upload = true;
                n_upload++;
                if (!e->copy_from[0])
                        total += e->size;
                used[hex_byte(e->id)] = true;
        }
        for (size_t i = 0; have_old && i < old.n; i++)
                if (!old.v[i].still_there && old.v[i].flags == FLAG_FILE) {
                        char **nv = realloc(removed, (n_removed + 1) * sizeof(*nv));
                        if (!nv) {
                                r = -ENOMEM;
                                goto out;
                        }
                        removed = nv;
                        if (asprintf(&removed[n_removed], "%s/%.2s/%s", s->udid, old.v[i].id,
                                     old.v[i].id) < 0) {
                                r = -ENOMEM;
                                goto out;
                        }
                        n_removed++;
                }
        log_info("%s: %s backup: %zu entries, %zu to send (%" PRIu64 " bytes), %zu removed",
                 s->udid, incremental ? "incremental" : "full", sc.n, n_upload, total, n_removed);

        /* 3. Room on the host? */
        r = dl_send(s, dl_new("DLMessageGetFreeDiskSpace"));
        if (r >= 0) {
                plist_t pl = NULL;
                r = dl_recv_status(s, &st, &pl);
                if (r >= 0 && pl && plist_get_node_type(pl) == PLIST_UINT)
                        plist_get_uint_val(pl, &freespace);
                if (pl)
                        plist_free(pl);
        }
        if (r < 0)
                goto out;
        if (s->faults.disk_full == DISK_FULL_PURGE) {
                plist_t m = dl_new("DLMessagePurgeDiskSpace");

                plist_array_append_item(m, plist_new_uint(total + SPACE_MARGIN));
                plist_array_append_item(m, plist_new_uint(4));
                r = dl_call(s, m, &st);
                if (r < 0)
                        goto out;
                log_info("%s: host answered DLMessagePurgeDiskSpace with %" PRId64, s->udid, st);
        }
        if (s->faults.disk_full != DISK_FULL_NO || (st == 0 && freespace < total + SPACE_MARGIN)) {
                result_set(res, 105,
                           mb_error(105,
                                    "Insufficient free disk space on drive to "
                                    "back up",
                                    NULL));
                r = 0;
                goto out;
        }

        /* 4. Snapshot directories. */
        {
                _cleanup_(freep) char *p = NULL;

                if (asprintf(&p, "%s/Snapshot", s->udid) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                r = dl_create_directory(s, p);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        result_set(res, 104,
                                   mb_error(104, "Error creating snapshot directory", NULL));
                        r = 0;
                        goto out;
                }
        }
        for (int pass = 0; pass < 2; pass++)
                for (unsigned i = 0; i < 256; i++) {
                        _cleanup_(freep) char *p = NULL;

                        if (!used[i])
                                continue;
                        if (asprintf(&p, pass == 0 ? "%s/Snapshot/%02x" : "%s/%02x", s->udid, i) <
                            0) {
                                r = -ENOMEM;
                                goto out;
                        }
                        r = dl_create_directory(s, p);
                        if (r < 0)
                                goto out;
                }

        r = hostile_early(s, &u, s->faults.hostile, &extra);
        if (r < 0)
                goto out;

        /* 5. Content: copies of what the host already has under another name, then the
         * uploads in large batches. */
        for (size_t i = 0; i < sc.n; i++) {
                Entry *e = &sc.v[i];
                char src[128], dst[128];
                plist_t m;

                if (!e->upload || !e->copy_from[0])
                        continue;
                snprintf(src, sizeof(src), "%s/%.2s/%s", s->udid, e->copy_from, e->copy_from);
                snprintf(dst, sizeof(dst), "%s/Snapshot/%.2s/%s", s->udid, e->id, e->id);
                m = dl_new("DLMessageCopyItem");
                plist_array_append_item(m, plist_new_string(src));
                plist_array_append_item(m, plist_new_string(dst));
                plist_array_append_item(m, plist_new_dict());
                plist_array_append_item(m, progress_node(s, 1));
                plist_array_append_item(m, plist_new_uint(0));
                r = dl_call(s, m, &st);
                if (r < 0)
                        goto out;
                e->done = true;
        }

        for (size_t i = 0; i < sc.n;) {
                uint64_t batch_bytes = 0;
                size_t j, files = 0;
                bool first = i == 0;

                for (j = i; j < sc.n && files < BATCH_FILES && batch_bytes < BATCH_BYTES; j++)
                        if (sc.v[j].upload && !sc.v[j].done) {
                                files++;
                                batch_bytes += sc.v[j].size;
                        }
                if (files == 0)
                        break;
                r = up_begin_batch(&u, batch_bytes,
                                   2 + 88.0 * (double) sent / (double) (total + 1));
                if (r < 0)
                        goto out;
                for (; i < j; i++) {
                        Entry *e = &sc.v[i];
                        char dst[128], dev[PATH_MAX + 64];
                        int fd;

                        if (!e->upload || e->done)
                                continue;
                        snprintf(dst, sizeof(dst), "%s/Snapshot/%.2s/%s", s->udid, e->id, e->id);
                        snprintf(dev, sizeof(dev), "/.b/1/%s/%s", e->domain, e->rel);
                        fd = entry_open(profile, e);
                        if (fd < 0) {
                                /* Gone since the scan: an empty file keeps the layout whole. */
                                r = up_file_mem(&u, dev, dst, "", 0);
                                e->size = 0;
                                e->has_digest = false;
                        } else {
                                r = up_file_fd(&u, dev, dst, fd, e->digest, &e->size);
                                e->has_digest = true;
                                close(fd);
                        }
                        if (r < 0)
                                goto out;
                        e->done = true;
                        sent += e->size;
                }
                r = up_end_batch(&u);
                if (r < 0)
                        goto out;
                if (r > 0)
                        upload_failed = true;
                if (first && s->faults.stall) {
                        r = stall(s);
                        goto out;
                }
        }
        if (s->faults.stall) {
                r = stall(s);
                goto out;
        }
        if (upload_failed) {
                result_set(res, 104, mb_error(104, "Multiple errors uploading files", NULL));
                r = 0;
                goto out;
        }

        /* 6. Metadata: Manifest.db, Manifest.plist, Status.plist (finished: it goes last). */
        r = session_tmp(s);
        if (r < 0)
                goto out;
        if (asprintf(&db_path, "%s/Manifest.db.new", s->tmp) < 0) {
                db_path = NULL;
                r = -ENOMEM;
                goto out;
        }
        r = manifest_db_write(db_path, &sc, &extra, encrypted);
        if (r < 0) {
                result_set(res, 100, mb_error(100, "Error writing manifest", NULL));
                r = 0;
                goto out;
        }
        {
                _cleanup_(plist_freep) plist_t mp = manifest_plist_new(
                        info, s->udid, profile, encrypted, s->faults.passcode_s > 0);
                _cleanup_(plist_freep) plist_t sp = status_plist_new(!incremental, "finished");
                _cleanup_(freep) char *mbuf = NULL, *sbuf = NULL;
                _cleanup_(closep) int fd = open(db_path, O_RDONLY | O_CLOEXEC);
                size_t mlen = 0, slen = 0;
                char dst[128];
                struct stat dbst;

                if (fd < 0 || fstat(fd, &dbst) < 0 || plist_to_bin_buf(mp, &mbuf, &mlen) < 0 ||
                    plist_to_bin_buf(sp, &sbuf, &slen) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                r = up_begin_batch(&u, (uint64_t) dbst.st_size + mlen + slen, 90);
                snprintf(dst, sizeof(dst), "%s/Snapshot/Manifest.db", s->udid);
                if (r >= 0)
                        r = up_file_fd(&u, "Manifest.db", dst, fd, NULL, NULL);
                snprintf(dst, sizeof(dst), "%s/Snapshot/Manifest.plist", s->udid);
                if (r >= 0)
                        r = up_file_mem(&u, "Manifest.plist", dst, mbuf, mlen);
                snprintf(dst, sizeof(dst), "%s/Snapshot/Status.plist", s->udid);
                if (r >= 0)
                        r = up_file_mem(&u, "Status.plist", dst, sbuf, slen);
                if (r >= 0)
                        r = up_end_batch(&u);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        result_set(res, 104,
                                   mb_error(104, "Multiple errors uploading files", NULL));
                        r = 0;
                        goto out;
                }
        }

        if (s->faults.hostile == HOSTILE_MOVE_OUTSIDE) {
                _cleanup_(freep) char *src = NULL, *dst = NULL;
                plist_t pairs = plist_new_dict();

                if (asprintf(&src, "%s/Snapshot/Status.plist", s->udid) < 0 ||
                    asprintf(&dst, "%s/../../" HOSTILE_OUT_MOVED, s->udid) < 0) {
                        plist_free(pairs);
                        r = -ENOMEM;
                        goto out;
                }
                /* A copy of Status.plist: the real one still moves into place below. */
                r = up_begin_batch(&u, 6, 90);
                if (r >= 0) {
                        free(src);
                        if (asprintf(&src, "%s/Snapshot/hostile-move", s->udid) < 0)
                                src = NULL;
                        r = src ? up_file_mem(&u, "/.b/hostile", src, "moved\n", 6) : -ENOMEM;
                }
                if (r >= 0)
                        r = up_end_batch(&u);
                if (r < 0) {
                        plist_free(pairs);
                        goto out;
                }
                log_info("%s: hostile: moving '%s' to '%s'", s->udid, src, dst);
                plist_dict_set_item(pairs, src, plist_new_string(dst));
                r = dl_move_items(s, pairs, 91);
                if (r < 0)
                        goto out;
        }

        /* 7. Into place: the files, then the metadata with Status.plist last. */
        {
                plist_t pairs = plist_new_dict();
                size_t k = 0, moved = 0;
                const Scan *lists[2] = {&sc, &extra};

                for (size_t l = 0; l < 2; l++)
                        for (size_t i = 0; i < lists[l]->n; i++) {
                                const Entry *e = &lists[l]->v[i];
                                char src[128], dst[128];

                                if (!e->done)
                                        continue;
                                snprintf(src, sizeof(src), "%s/Snapshot/%.2s/%s", s->udid, e->id,
                                         e->id);
                                snprintf(dst, sizeof(dst), "%s/%.2s/%s", s->udid, e->id, e->id);
                                plist_dict_set_item(pairs, src, plist_new_string(dst));
                                moved++;
                                if (++k == MOVE_BATCH) {
                                        r = dl_move_items(s, pairs,
                                                          90 + 6.0 * (double) moved /
                                                                          (double) (n_upload + 1));
                                        if (r != 0)
                                                goto moved;
                                        pairs = plist_new_dict();
                                        k = 0;
                                }
                        }
                if (k > 0) {
                        r = dl_move_items(s, pairs, 96);
                        if (r != 0)
                                goto moved;
                } else
                        plist_free(pairs);

                pairs = plist_new_dict();
                static const char *const meta[] = {"Manifest.db", "Manifest.plist", "Status.plist"};
                for (size_t i = 0; i < ELEMENTSOF(meta); i++) {
                        char src[128], dst[128];
                        snprintf(src, sizeof(src), "%s/Snapshot/%s", s->udid, meta[i]);
                        snprintf(dst, sizeof(dst), "%s/%s", s->udid, meta[i]);
                        plist_dict_set_item(pairs, src, plist_new_string(dst));
                }
                r = dl_move_items(s, pairs, 97);
        moved:
                if (r < 0)
                        goto out;
                if (r > 0) {
                        result_set(res, 104, mb_error(104, "Error moving files into place", NULL));
                        r = 0;
                        goto out;
                }
        }

        /* 8. Deleted files, then the Snapshot directory. */
        for (size_t i = 0; i < n_removed; i += MOVE_BATCH) {
                size_t k = n_removed - i > MOVE_BATCH ? MOVE_BATCH : n_removed - i;

                r = dl_remove_items(s, removed + i, k, 98);
                if (r < 0)
                        goto out;
        }
        {
                _cleanup_(freep) char *p = NULL;

                if (asprintf(&p, "%s/Snapshot", s->udid) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                r = dl_remove_items(s, &p, 1, 99);
                if (r < 0)
                        goto out;
                if (r > 0) {
                        result_set(res, 104,
                                   mb_error(104, "Error removing snapshot directory", NULL));
                        r = 0;
                        goto out;
                }
        }

        /* 9. Read back what the host now has, as devices do after a good backup. */
        {
                static const char *const names[] = {"Status.plist", "Manifest.plist",
                                                    "Manifest.db"};
                Fetch v[3] = {};

                for (size_t i = 0; i < 3; i++)
                        if (asprintf(&v[i].remote, "%s/%s", s->udid, names[i]) < 0) {
                                fetch_clear(v, 3);
                                r = -ENOMEM;
                                goto out;
                        }
                r = fetch_files(s, v, 3, 100);
                fetch_clear(v, 3);
                if (r < 0)
                        goto out;
        }

        log_info("%s: backup done: %" PRIu64 " files, %" PRIu64 " content bytes sent", s->udid,
                 u.files, u.data_bytes);
        result_set(res, 0, NULL);
        r = 0;
out:
        emu_lock();
        {
                BackupState *bs = backup_state(s->device);

                if (bs) {
                        bs->last_files = u.files;
                        bs->last_bytes = u.data_bytes;
                }
        }
        emu_unlock();
        fetch_clear(f, ELEMENTSOF(f));
        free_names(removed, n_removed);
        old_done(&old);
        scan_done(&sc);
        scan_done(&extra);
        uploader_done(&u);
        return r;
}

/* ---- Info, List, Unback: what iOS ≥ 10 answers ----------------------------------------- */

/* Since iOS 10 the device still looks for the pre-10 Manifest.mbdb for these, which hosts no
 * longer have: 205 (libimobiledevice issues #422, #608, #1224). */
static int legacy_run(Session *s, const char *source, bool manifest_first, Result *res) {
        _cleanup_(freep) char *path = NULL;
        Fetch f[2] = {};
        int r;

        r = fetch_meta(s, source, (const char *const[]){"Status.plist"}, f, 1, 0);
        if (r < 0)
                goto out;
        if (!f[0].received) {
                if (asprintf(&path, "%s/Status.plist", source) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
                result_set(res, 4, no_such_file(path));
                goto out;
        }
        fetch_clear(f, 1);
        if (manifest_first) {
                r = fetch_meta(s, source, (const char *const[]){"Manifest.plist"}, f, 1, 0);
                if (r < 0)
                        goto out;
                if (!f[0].received) {
                        if (asprintf(&path, "%s/Manifest.plist", source) < 0) {
                                r = -ENOMEM;
                                goto out;
                        }
                        result_set(res, 205,
                                   mb_error(205, "Error reading backup properties",
                                            no_such_file(path)));
                        goto out;
                }
                fetch_clear(f, 1);
        }
        r = fetch_meta(s, source, (const char *const[]){"Manifest.mbdb"}, f, 1, 0);
        if (r < 0)
                goto out;
        if (asprintf(&path, "%s/Manifest.mbdb", source) < 0) {
                r = -ENOMEM;
                goto out;
        }
        result_set(res, 205,
                   mb_error(205, "Error reading backup database",
                            f[0].received ? NULL : no_such_file(path)));
out:
        fetch_clear(f, ELEMENTSOF(f));
        return r < 0 ? r : 0;
}

/* ---- Restore --------------------------------------------------------------------------- */

typedef struct Item {
        char id[41];
        char *domain, *rel, *target;
        int flags;
        uint64_t size;
        int64_t mtime;
} Item;

static void items_free(Item *v, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(v[i].domain);
                free(v[i].rel);
                free(v[i].target);
        }
        free(v);
}

static bool domain_is_app(const char *d) {
        return strncmp(d, "AppDomain", 9) == 0;
}

/* What RestorePreserveSettings keeps of the device's own data. */
static bool domain_is_settings(const char *d) {
        return strcmp(d, "SystemPreferencesDomain") == 0 ||
               strcmp(d, "ManagedPreferencesDomain") == 0;
}

/* Whether the restore takes the backup's copy of domain d, or keeps the device's own. */
static bool restore_takes(const char *d, bool system, bool preserve_settings) {
        if (preserve_settings && domain_is_settings(d))
                return false;
        return system || domain_is_app(d);
}

/* Rows of the backup's Manifest.db (untrusted): every path is checked before use. */
static int items_load(const char *path, Item **ret, size_t *ret_n) {
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        Item *v = NULL;
        size_t n = 0, cap = 0;
        int rc, r = 0;

        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db,
                               "SELECT fileID, domain, relativePath, flags, file FROM Files "
                               "ORDER BY domain, relativePath",
                               -1, &st, NULL) != SQLITE_OK)
                return -EBADMSG;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *id = (const char *) sqlite3_column_text(st, 0);
                const char *domain = (const char *) sqlite3_column_text(st, 1);
                const char *rel = (const char *) sqlite3_column_text(st, 2);
                int flags = sqlite3_column_int(st, 3);
                const void *blob = sqlite3_column_blob(st, 4);
                int blen = sqlite3_column_bytes(st, 4);
                MBInfo m = {};
                char want[41];

                if (!domain || !rel || !domain_ok(domain) || !rel_ok(rel) || !file_id_ok(id) ||
                    (flags != FLAG_FILE && flags != FLAG_DIR && flags != FLAG_SYMLINK)) {
                        log_warn("Backup row '%s' '%s' '%s' rejected", id ?: "", domain ?: "",
                                 rel ?: "");
                        r = -EBADMSG;
                        break;
                }
                file_id(domain, rel, want);
                if (strcmp(want, id) != 0)
                        log_debug("Backup row %s-%s has fileID %s, not %s", domain, rel, id, want);
                if (mbfile_parse(blob, blen > 0 ? (size_t) blen : 0, &m) < 0 && flags != FLAG_DIR) {
                        r = -EBADMSG;
                        break;
                }
                if (flags == FLAG_SYMLINK && !m.target) {
                        mbinfo_done(&m);
                        r = -EBADMSG;
                        break;
                }
                if (n == cap) {
                        Item *nv;
                        cap = cap ? cap * 2 : 256;
                        nv = realloc(v, cap * sizeof(*nv));
                        if (!nv) {
                                mbinfo_done(&m);
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                }
                v[n] = (Item){.flags = flags, .size = m.size, .mtime = m.mtime};
                v[n].target = TAKE_PTR(m.target);
                memcpy(v[n].id, id, 41);
                v[n].domain = strdup(domain);
                v[n].rel = strdup(rel);
                n++;
                mbinfo_done(&m);
                if (!v[n - 1].domain || !v[n - 1].rel) {
                        r = -ENOMEM;
                        break;
                }
        }
        if (r == 0 && rc != SQLITE_DONE)
                r = -EBADMSG;
        if (r < 0) {
                items_free(v, n);
                return r;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* Options.Password against `fault restore-password`, or against the backup password of an
 * encrypted backup. 0 or -EACCES (ErrorCode 207). */
static int restore_check_password(Session *s, plist_t opts, bool encrypted) {
        const char *pw = plist_dict_str(opts, "Password");
        bool ok = true;

        emu_lock();
        BackupState *bs = s->device->backup_state;
        if (s->faults.restore_password_set)
                ok = pw && strcmp(pw, s->faults.restore_password) == 0;
        else if (encrypted && bs && bs->password_set)
                ok = pw && strcmp(pw, bs->password) == 0;
        else if (encrypted)
                ok = pw && *pw;
        emu_unlock();
        return ok ? 0 : -EACCES;
}

/* Restore: fetch the metadata of <source>/, check it (finished Status.plist, readable
 * Manifest.plist and Manifest.db, password), fetch every file into a staging tree inside the
 * profile, keep the domains the options preserve, and swap the tree in with one
 * renameat2(RENAME_EXCHANGE). Any failure leaves the device's content as it was. */
static int restore_run(Session *s, plist_t req, const char *source, Result *res) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        _cleanup_(plist_freep) plist_t status = NULL, manifest = NULL;
        _cleanup_(freep) char *stage = NULL, *live = NULL;
        plist_t opts = plist_dict_get_item(req, "Options");
        bool system = plist_dict_bool(opts, "RestoreSystemFiles", false);
        bool preserve = plist_dict_bool(opts, "RestorePreserveSettings", true);
        const char *profile = s->device->profile_dir;
        static const char *const names[] = {"Status.plist", "Manifest.plist", "Manifest.db",
                                            "Info.plist"};
        Fetch f[4] = {};
        Item *items = NULL;
        size_t n_items = 0;
        uint64_t need = 0;
        int r;

        s->reboot_pending = false;
        r = device_read_info(s->device, &info);
        if (r < 0)
                return result_set(res, 100, mb_error(100, "Error reading device info", NULL));

        r = fetch_meta(s, source, names, f, ELEMENTSOF(names), 0);
        if (r < 0)
                goto out;
        r = load_plist(&f[0], &status);
        if (r < 0 || !plist_dict_str(status, "SnapshotState") ||
            strcmp(plist_dict_str(status, "SnapshotState"), "finished") != 0) {
                result_set(res, 103, mb_error(103, "Error reading status", NULL));
                r = 0;
                goto out;
        }
        r = load_plist(&f[1], &manifest);
        if (r < 0) {
                result_set(res, 205, mb_error(205, "Error reading backup properties", NULL));
                r = 0;
                goto out;
        }
        if (restore_check_password(s, opts, plist_dict_bool(manifest, "IsEncrypted", false)) < 0) {
                result_set(res, 207, mb_error(207, "Invalid password", NULL));
                r = 0;
                goto out;
        }
        r = f[2].received ? items_load(f[2].local, &items, &n_items) : -ENOENT;
        if (r < 0) {
                result_set(res, 205, mb_error(205, "Error reading backup database", NULL));
                r = 0;
                goto out;
        }
        for (size_t i = 0; i < n_items; i++)
                if (items[i].flags == FLAG_FILE)
                        need += items[i].size;
        if (info->disk_free && need > info->disk_free) {
                result_set(res, 105,
                           mb_error(105,
                                    "Insufficient free disk space on device to "
                                    "restore",
                                    NULL));
                r = 0;
                goto out;
        }

        /* Stage the new tree next to the live one: same filesystem, so the swap is atomic. */
        if (asprintf(&stage, "%s/.restore-XXXXXX", profile) < 0 ||
            asprintf(&live, "%s/backup", profile) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (!mkdtemp(stage)) {
                log_warn("%s: cannot create '%s': %m", s->udid, stage);
                free(stage);
                stage = NULL;
                result_set(res, 100, mb_error(100, "Error creating restore directory", NULL));
                r = 0;
                goto out;
        }

        for (size_t i = 0; i < n_items; i++) {
                _cleanup_(freep) char *dir = NULL;
                const Item *it = &items[i];
                char *slash;

                if (!restore_takes(it->domain, system, preserve) || it->flags == FLAG_SYMLINK)
                        continue;
                if (asprintf(&dir, "%s/%s", it->domain, it->rel) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (it->flags == FLAG_FILE) {
                        slash = strrchr(dir, '/');
                        if (!*it->rel || !slash) {
                                r = -EISDIR;
                                goto bad_tree;
                        }
                        *slash = 0;
                }
                r = mkdir_beneath(stage, dir);
                if (r < 0)
                        goto bad_tree;
        }

        for (size_t i = 0; i < n_items;) {
                Fetch batch[FETCH_BATCH] = {};
                size_t k = 0, first = i;

                for (; i < n_items && k < FETCH_BATCH; i++) {
                        const Item *it = &items[i];

                        if (it->flags != FLAG_FILE || !restore_takes(it->domain, system, preserve))
                                continue;
                        if (asprintf(&batch[k].remote, "%s/%.2s/%s", source, it->id, it->id) < 0 ||
                            asprintf(&batch[k].local, "%s/%s/%s", stage, it->domain, it->rel) < 0) {
                                fetch_clear(batch, k + 1);
                                r = -ENOMEM;
                                goto fail;
                        }
                        k++;
                }
                if (k == 0)
                        continue;
                r = fetch_files(s, batch, k, 5 + 90.0 * (double) i / (double) n_items);
                if (r < 0) {
                        fetch_clear(batch, k);
                        goto fail;
                }
                for (size_t j = 0; j < k; j++)
                        if (!batch[j].received) {
                                log_warn("%s: restore: host did not send '%s': %s", s->udid,
                                         batch[j].remote, batch[j].error ?: "?");
                                fetch_clear(batch, k);
                                result_set(res, 205,
                                           mb_error(205,
                                                    "Multiple errors downloading "
                                                    "files",
                                                    NULL));
                                r = 0;
                                goto fail;
                        }
                /* Modification times as the backup recorded them. */
                for (size_t j = first, b = 0; j < i && b < k; j++) {
                        const Item *it = &items[j];
                        struct timespec ts[2];

                        if (it->flags != FLAG_FILE || !restore_takes(it->domain, system, preserve))
                                continue;
                        ts[0] = ts[1] = (struct timespec){.tv_sec = (time_t) it->mtime};
                        if (it->mtime > 0)
                                (void) utimensat(AT_FDCWD, batch[b].local, ts, AT_SYMLINK_NOFOLLOW);
                        b++;
                }
                fetch_clear(batch, k);
        }

        /* Symlinks last, so that no file is ever written through one. */
        for (size_t i = 0; i < n_items; i++) {
                _cleanup_(freep) char *p = NULL;
                const Item *it = &items[i];

                if (it->flags != FLAG_SYMLINK || !restore_takes(it->domain, system, preserve))
                        continue;
                if (asprintf(&p, "%s/%s/%s", stage, it->domain, it->rel) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                if (symlink(it->target, p) < 0) {
                        r = -errno;
                        goto bad_tree;
                }
        }

        /* Domains the device keeps: moved over from the live tree just before the swap. */
        {
                _cleanup_(closep) int lfd = open(live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                char **dn = NULL;
                size_t nd = 0;

                if (lfd >= 0 && list_dir(lfd, &dn, &nd) >= 0) {
                        for (size_t i = 0; i < nd; i++) {
                                _cleanup_(freep) char *from = NULL, *to = NULL;

                                if (restore_takes(dn[i], system, preserve))
                                        continue;
                                if (asprintf(&from, "%s/%s", live, dn[i]) < 0 ||
                                    asprintf(&to, "%s/%s", stage, dn[i]) < 0)
                                        break;
                                (void) rm_rf(to);
                                if (rename(from, to) < 0)
                                        log_warn("%s: restore: cannot keep '%s': %m", s->udid,
                                                 from);
                        }
                        free_names(dn, nd);
                }
        }

        if (renameat2(AT_FDCWD, stage, AT_FDCWD, live, RENAME_EXCHANGE) < 0) {
                if (errno != ENOENT || rename(stage, live) < 0) {
                        r = -errno;
                        log_warn("%s: restore: cannot swap in the new content: %m", s->udid);
                        goto bad_tree;
                }
        }
        (void) rm_rf(stage); /* the old content, after the exchange */
        free(stage);
        stage = NULL;

        s->reboot_pending = plist_dict_bool(opts, "RestoreShouldReboot", true);
        log_info("%s: restored %zu entries from '%s'", s->udid, n_items, source);
        result_set(res, 0, NULL);
        r = 0;
        goto out;

bad_tree:
        log_warn("%s: restore: bad backup tree: %s", s->udid, strerror(-r));
        result_set(res, 205, mb_error(205, "Error restoring files", NULL));
        r = 0;
fail:
        if (stage)
                (void) rm_rf(stage);
out:
        fetch_clear(f, ELEMENTSOF(f));
        items_free(items, n_items);
        return r;
}

/* ---- ChangePassword -------------------------------------------------------------------- */

/* `idevicebackup2 encryption on|off`, `changepw`: the backup password lives in the device. */
static int change_password(Session *s, plist_t msg, Result *res) {
        const char *oldpw = plist_dict_str(msg, "OldPassword");
        const char *newpw = plist_dict_str(msg, "NewPassword");
        BackupState *bs;
        int r;

        if (s->faults.passcode_s > 0) {
                r = passcode_prompt(s);
                if (r < 0)
                        return r;
                if (r > 0)
                        return result_set(res, 208, mb_error(208, "Device locked", NULL));
        }
        emu_lock();
        bs = backup_state(s->device);
        if (!bs)
                r = -ENOMEM;
        else if (oldpw && bs->f.encrypted && bs->password_set && strcmp(oldpw, bs->password) != 0)
                r = -EACCES;
        else if ((newpw && strlen(newpw) >= sizeof(bs->password)) || (!oldpw && !newpw) ||
                 (!oldpw && bs->f.encrypted))
                r = -EINVAL;
        else {
                bs->f.encrypted = newpw != NULL;
                bs->password_set = newpw != NULL;
                snprintf(bs->password, sizeof(bs->password), "%s", newpw ?: "");
                r = 0;
        }
        emu_unlock();
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES)
                return result_set(res, 207, mb_error(207, "Invalid password", NULL));
        if (r < 0)
                return result_set(res, 1, mb_error(1, "Invalid request", NULL));
        return result_set(res, 0, NULL);
}

/* ---- the service ----------------------------------------------------------------------- */

static int version_exchange(Session *s) {
        _cleanup_(plist_freep) plist_t reply = NULL;
        plist_t m = dl_new("DLMessageVersionExchange");
        const char *a, *b;
        int r;

        plist_array_append_item(m, plist_new_uint(400));
        plist_array_append_item(m, plist_new_uint(0));
        r = dl_send(s, m);
        if (r < 0)
                return r;
        r = plistio_recv(s->conn, EMU_PLIST_MAX, &reply);
        if (r < 0)
                return r;
        a = plist_get_node_type(reply) == PLIST_ARRAY ? plist_str(plist_array_get_item(reply, 0))
                                                      : NULL;
        b = a ? plist_str(plist_array_get_item(reply, 1)) : NULL;
        if (!a || !b || strcmp(a, "DLMessageVersionExchange") != 0 ||
            strcmp(b, "DLVersionsOk") != 0) {
                log_warn("%s: mobilebackup2: host refused DeviceLink 400", s->udid);
                return -EPROTO;
        }
        return dl_send(s, dl_new("DLMessageDeviceReady"));
}

/* Hello: the highest common protocol version (2.1 for every libimobiledevice); ErrorCode 1
 * when there is none. ProtocolVersion must be a real. */
static int hello(Session *s, plist_t msg) {
        plist_t v = plist_dict_get_item(msg, "SupportedProtocolVersions");
        _cleanup_(plist_freep) plist_t a = dl_new("DLMessageProcessMessage");
        plist_t d = plist_new_dict();
        double best = 0;

        for (uint32_t i = 0;
             v && plist_get_node_type(v) == PLIST_ARRAY && i < plist_array_get_size(v); i++) {
                plist_t n = plist_array_get_item(v, i);
                double x = 0;

                if (plist_get_node_type(n) != PLIST_REAL)
                        continue;
                plist_get_real_val(n, &x);
                if ((x == 2.0 || x == 2.1) && x > best)
                        best = x;
        }
        plist_dict_set_item(d, "MessageName", plist_new_string("Response"));
        plist_dict_set_item(d, "ErrorCode", plist_new_uint(best > 0 ? 0 : 1));
        if (best > 0)
                plist_dict_set_item(d, "ProtocolVersion", plist_new_real(best));
        plist_array_append_item(a, d);
        /* XML here, binary elsewhere: real devices use both, hosts must take both. */
        return plistio_send(s->conn, a, false);
}

static void session_done(Session *s) {
        if (s->tmp) {
                (void) rm_rf(s->tmp);
                free(s->tmp);
        }
        free(s->udid);
}

/* One request of the host; < 0 ends the service. */
static int handle_request(Session *s, plist_t msg) {
        const char *name = plist_dict_str(msg, "MessageName");
        const char *target = plist_dict_str(msg, "TargetIdentifier");
        const char *source = plist_dict_str(msg, "SourceIdentifier");
        Result res = {};
        int r;

        if (!name) {
                log_warn("%s: mobilebackup2: request without MessageName", s->udid);
                return send_response(s, 1, "Invalid request", NULL, true);
        }
        if (strcmp(name, "Hello") == 0)
                return hello(s, msg);

        emu_lock();
        {
                BackupState *bs = backup_state(s->device);
                s->faults = bs ? bs->f : (Faults){};
        }
        emu_unlock();
        s->progress = 0;
        if (!udid_ok(source))
                source = udid_ok(target) ? target : s->udid;
        log_info("%s: mobilebackup2 %s (source %s)", s->udid, name, source);

        if (strcmp(name, "Backup") == 0)
                r = backup_run(s, msg, &res);
        else if (strcmp(name, "Restore") == 0)
                r = restore_run(s, msg, source, &res);
        else if (strcmp(name, "Info") == 0 || strcmp(name, "List") == 0)
                r = legacy_run(s, source, false, &res);
        else if (strcmp(name, "Unback") == 0)
                r = legacy_run(s, source, true, &res);
        else if (strcmp(name, "ChangePassword") == 0)
                r = change_password(s, msg, &res);
        else if (strcmp(name, "EnableCloudBackup") == 0)
                r = result_set(&res, 0, NULL);
        else {
                char *desc = NULL;
                if (asprintf(&desc, "Unsupported request '%s'", name) < 0)
                        desc = NULL;
                r = result_set(&res, 1, desc);
        }
        if (r >= 0) {
                if (res.code)
                        log_info("%s: %s ends with ErrorCode %u: %s", s->udid, name, res.code,
                                 res.desc ?: "");
                r = send_response(s, res.code, res.desc, NULL, true);
        }
        free(res.desc);
        if (s->tmp) {
                (void) rm_rf(s->tmp);
                free(s->tmp);
                s->tmp = NULL;
        }
        return r;
}

/**
 * serve_mobilebackup2: the device side of com.apple.mobilebackup2 on @c (TLS already up).
 * @c: the stream (borrowed; the caller closes it).
 * @ctx: the device and host (borrowed).
 *
 * DeviceLink version exchange (400.0), then the host's requests until it disconnects or
 * the stream fails: Hello, Backup, Restore, Info, List, Unback, ChangePassword,
 * EnableCloudBackup. A restore that asked for it reboots the device once the host let go.
 */
void serve_mobilebackup2(Conn *c, const ServiceCtx *ctx) {
        Session s = {.conn = c, .device = ctx->device, .udid = strdup(ctx->device->udid)};
        int r;

        if (!s.udid)
                return;
        r = version_exchange(&s);
        while (r >= 0) {
                _cleanup_(plist_freep) plist_t msg = NULL;
                const char *name;

                r = plistio_recv(c, EMU_PLIST_MAX, &msg);
                if (r < 0)
                        break;
                name = plist_get_node_type(msg) == PLIST_ARRAY
                               ? plist_str(plist_array_get_item(msg, 0))
                               : NULL;
                if (!name) {
                        log_warn("%s: mobilebackup2: not a DeviceLink message", s.udid);
                        break;
                }
                if (strcmp(name, "DLMessageDisconnect") == 0)
                        break;
                if (strcmp(name, "DLMessageProcessMessage") == 0) {
                        plist_t d = plist_array_get_item(msg, 1);

                        if (!d || plist_get_node_type(d) != PLIST_DICT) {
                                log_warn("%s: mobilebackup2: ProcessMessage without a dict",
                                         s.udid);
                                break;
                        }
                        r = handle_request(&s, d);
                } else
                        log_debug("%s: mobilebackup2: ignoring %s", s.udid, name);
        }

        if (s.reboot_pending) {
                /* The restored phone reboots once the host has let go of it. */
                log_info("%s: rebooting after the restore", s.udid);
                emu_lock();
                device_detach(s.device);
                backup_on_reboot(s.device);
                device_attach(s.device);
                emu_unlock();
        }
        session_done(&s);
}
