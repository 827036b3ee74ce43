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
#include <openssl/crypto.h>

#include "backup-internal.h"
#include "mobilesync.h"

/* Raw file stream (protocols.md §3.5). */

/* Room a device wants beyond what it sends: protocols.md §3.7 infers 128 MiB for real phones;
 * 4 MiB keeps the host's own ENOSPC handling testable on a small tmpfs (engine/enospc.test). */

/* ---- faults ---------------------------------------------------------------------------- */

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

/* What `fault` selects. Plain data: a backup copies it once at its start. */

/* Lock held. Never NULL except on ENOMEM. */
BackupState *backup_state(Device *d) {
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
 * Called with the lock held. Returns true while a backup password is set (ChangePassword,
 * --backup-password) or after `fault UDID encrypted on`, false otherwise.
 */
bool backup_will_encrypt(Device *d) {
        BackupState *bs = d->backup_state;

        return bs && (bs->password_set || bs->f.encrypted);
}

/**
 * backup_set_password: give @d (borrowed) the backup password @password (borrowed), as the
 * user turning encryption on does: WillEncrypt is true and every backup is encrypted with it.
 * Called with the lock held.
 *
 * Returns 0, -EINVAL if @password is empty or longer than 255 bytes, -ENOMEM.
 */
int backup_set_password(Device *d, const char *password) {
        BackupState *bs = backup_state(d);

        if (!bs)
                return -ENOMEM;
        if (!password || !*password || strlen(password) >= sizeof(bs->password))
                return -EINVAL;
        strcpy(bs->password, password);
        bs->password_set = true;
        return 0;
}

/**
 * backup_clear_password: forget the backup password of @d (borrowed), as turning encryption
 * off does; the next backup is unencrypted. Called with the lock held.
 */
void backup_clear_password(Device *d) {
        BackupState *bs = d->backup_state;

        if (!bs)
                return;
        OPENSSL_cleanse(bs->password, sizeof(bs->password));
        bs->password_set = false;
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
                 " pull-after-files=%s%" PRIu64 " stall=%d slow=%" PRIu64 " hostile=%s"
                 " password=%d",
                 bs->last_files, bs->last_bytes, f->passcode_s, bs->waiting_passcode, bs->stalling,
                 bs->reboots, f->encrypted, f->restore_password_set,
                 f->disk_full == DISK_FULL_PURGE   ? "purge"
                 : f->disk_full == DISK_FULL_PLAIN ? "yes"
                                                   : "no",
                 f->snapshot_exists, f->pull_bytes_set ? "" : "off/", f->pull_bytes,
                 f->pull_files_set ? "" : "off/", f->pull_files, f->stall, f->slow_bps,
                 hostile_names[f->hostile], bs->password_set);
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

/* Cleanup helper: closes *fd if it is open. */
void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}

/* Cleanup helper: closes *db (NULL is fine). */
void sqlite3_closep(sqlite3 **db) {
        sqlite3_close(*db);
}

/* Cleanup helper: finalizes *st (NULL is fine). */
void sqlite3_finalizep(sqlite3_stmt **st) {
        sqlite3_finalize(*st);
}

/* Cleanup helper: frees *c (NULL is fine). */
void evp_md_ctx_freep(EVP_MD_CTX **c) {
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
void file_id(const char *domain, const char *rel, char out[41]) {
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
unsigned hex_byte(const char *id) {
        unsigned v = 0;

        for (int i = 0; i < 2; i++)
                v = v * 16 + (unsigned) (id[i] <= '9' ? id[i] - '0' : id[i] - 'a' + 10);
        return v & 0xff;
}

/* Whether s is a fileID: 40 lower-case hex digits. */
bool file_id_ok(const char *s) {
        return s && strlen(s) == 40 && strspn(s, "0123456789abcdef") == 40;
}

/* A UDID we are willing to put into a path: what usbmuxd reports, 1..64 of [0-9A-Fa-f-]. */
static bool udid_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= 64 && strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* A domain becomes one directory name under backup/. */
bool domain_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n <= 255 && s[0] != '.' && !strchr(s, '/');
}

/* A relative path beneath a domain: "" (the domain root) or clean components only. */
bool rel_ok(const char *s) {
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

/* The wall-clock time in seconds since 1970. */
int64_t now_unix(void) {
        return (int64_t) time(NULL);
}

/* A new plist date node (the caller frees it) for now. */
plist_t plist_now(void) {
        return plist_new_date((int32_t) (now_unix() - MAC_EPOCH), 0);
}

/* Fills n bytes at p from getrandom(); a fixed pattern should that ever fail. */
void random_bytes(void *p, size_t n) {
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
void random_uuid(char out[37]) {
        uint8_t u[16];

        random_bytes(u, sizeof(u));
        u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40);
        u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80);
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                 u[13], u[14], u[15]);
}

/* The boolean at key of dict, or def when dict is NULL or key is missing or not a boolean. */
bool plist_dict_bool(plist_t dict, const char *key, bool def) {
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
int read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
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

/* Removes path and everything beneath it. 0, or a negative errno. */
int rm_rf(const char *path) {
        return rm_rf_at(AT_FDCWD, path, 0);
}

/* mkdir -p of rel beneath base (which exists); no component may be a symlink. */
int mkdir_beneath(const char *base, const char *rel) {
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
const char *tmp_dir(void) {
        const char *t = getenv("TMPDIR");

        return t && *t == '/' ? t : "/tmp";
}

/* ---- DeviceLink messages --------------------------------------------------------------- */

/* A new DeviceLink message array starting with name (the caller frees it, or dl_send()s it). */
plist_t dl_new(const char *name) {
        plist_t a = plist_new_array();

        plist_array_append_item(a, plist_new_string(name));
        return a;
}

/* Send msg (consumed) as one binary frame. */
int dl_send(Session *s, plist_t msg) {
        _cleanup_(plist_freep) plist_t p = msg;

        return plistio_send(s->conn, p, true);
}

/* The host's ["DLMessageStatusResponse", status, string, payload]. status is signed (the host
 * writes an int into a 64-bit plist integer). -ECONNABORTED if the host hung up instead. */
int dl_recv_status(Session *s, int64_t *ret_status, plist_t *ret_payload) {
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
int dl_call(Session *s, plist_t msg, int64_t *ret_status) {
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
plist_t progress_node(Session *s, double p) {
        if (p > s->progress)
                s->progress = p > 100.0 ? 100.0 : p;
        return plist_new_real(s->progress);
}

/* DLMessageCreateDirectory: the host creates no parents of uploads itself (§3.5), so the
 * device asks for every directory first. 0, 1 if the host failed, < 0 on I/O errors. */
int dl_create_directory(Session *s, const char *path) {
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
int dl_remove_items(Session *s, char **paths, size_t n, double progress) {
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
int dl_move_items(Session *s, plist_t pairs, double progress) {
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

/* ---- ChangePassword -------------------------------------------------------------------- */

/* `idevicebackup2 encryption on PW` sends NewPassword, `encryption off PW` OldPassword,
 * `changepw OLD NEW` both; the password lives in the device (BackupState), which checks the
 * old one itself. A wrong or missing old password is ErrorCode 207 "Invalid password", what
 * a real iPhone answered to `encryption off` with a wrong password (libimobiledevice issue
 * #996: "ErrorCode 207: Invalid password (MBErrorDomain/207)"). Turning encryption on while
 * it is on, or asking for nothing, is ErrorCode 1 (no real device's answer is on record;
 * idevicebackup2 itself refuses both before asking). The fault `encrypted on` (WillEncrypt
 * without a password) accepts any old password, as before. */
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
        else if ((!oldpw && !newpw) || (newpw && (!*newpw || strlen(newpw) >= PASSWORD_MAX)))
                r = -EINVAL;
        else if (!oldpw && (bs->password_set || bs->f.encrypted))
                r = -EINVAL; /* on already */
        else if (oldpw && bs->password_set && strcmp(oldpw, bs->password) != 0)
                r = -EACCES;
        else if (oldpw && !bs->password_set && !bs->f.encrypted)
                r = -EACCES; /* no password to match */
        else {
                bs->f.encrypted = false;
                bs->password_set = newpw != NULL;
                OPENSSL_cleanse(bs->password, sizeof(bs->password));
                if (newpw)
                        strcpy(bs->password, newpw);
                r = 0;
        }
        emu_unlock();
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES) {
                log_info("%s: ChangePassword: wrong old password", s->udid);
                return result_set(res, 207, mb_error(207, "Invalid password", NULL));
        }
        if (r < 0)
                return result_set(res, 1, mb_error(1, "Invalid request", NULL));
        log_info("%s: backup encryption %s", s->udid,
                 !newpw  ? "turned off"
                 : oldpw ? "password changed"
                         : "turned on");
        notify_post(s->device, "com.apple.mobile.backup.domain_changed");
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
        if (s->password) {
                OPENSSL_cleanse(s->password, strlen(s->password));
                free(s->password);
        }
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
                if (s->password) {
                        OPENSSL_cleanse(s->password, strlen(s->password));
                        free(s->password);
                }
                s->password = bs && bs->password_set ? strdup(bs->password) : NULL;
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
        _cleanup_(freep) char *profile = NULL;
        int r;

        if (!s.udid)
                return;
        /* The phone's AddressBook and Calendar are its mobilesync stores (which
         * mobilesync-edit.py may have changed since the last session). */
        emu_lock();
        profile = strdup(ctx->device->profile_dir);
        emu_unlock();
        if (profile)
                (void) ms_backupdb_refresh(profile, MS_CONTACTS | MS_CALENDARS, false);
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
