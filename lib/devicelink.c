/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * DeviceLink file server for mobilebackup2 (protocols.md §3.4, §3.5).
 *
 * The device is untrusted. Every path it names is checked (relative, beneath "<UDID>/", no
 * "..", no NUL, bounded) and resolved beneath the root fd with fs-util, so nothing outside
 * the staging snapshot can be created, changed or removed. Uploads go to a temp name and
 * are renamed over the target, so a hard link shared with an older snapshot is replaced,
 * never written through. Declared sizes are checked against what arrives and against the
 * free-space floor. Data is streamed in pieces of at most 1 MiB: memory does not grow with
 * file size or file count; files of 1 MiB or more are written past the page cache.
 * Receives wait in libimobiledevice's 30 s slices; the phase timeouts and the cancel flag
 * are checked between them, and EOF on the stream means a cable pull.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "devicelink.h"
#include "dl-message.h"
#include "error.h"
#include "fs-util.h"
#include "util.h"

/* What downloads (restore) are read and sent in, and what is drained: small enough that
 * the bytes stay in the CPU's cache between read() and send (1 MiB spilled out of L2 and
 * cost about a quarter more kernel time per byte in three paired runs of the old upload
 * path). Uploads are received into FsOut's 1 MiB buffer (fs-util.h): a large file goes past
 * the page cache, so no copy is left for the cache to help. */
#define CHUNK (256u << 10)
#define MAX_NAME_LEN 4096u
#define MAX_ERROR_TEXT (64u * 1024u)
#define FLOOR_RECHECK_BYTES (64ull << 20)

#define FILE_FAILED 1000        /* receive_blocks(): the device reported an error for a file */

#define CODE_FILE_DATA 0x0C
#define CODE_SUCCESS 0x00
#define CODE_LOCAL_ERROR 0x06
#define CODE_REMOTE_ERROR 0x0B

static uint64_t now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec;
}

static bool cancelled(DLHost *h) {
        return ids_cancel_requested(h->cancel);
}

static void note(DLHost *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(DLHost *h, const char *fmt, ...) {
        va_list ap;

        if (h->message[0])
                return;                 /* keep the first problem: it is the cause */
        va_start(ap, fmt);
        vsnprintf(h->message, sizeof(h->message), fmt, ap);
        va_end(ap);
        ids_debug("%s", h->message);
}

void dl_report(DLHost *h, bool force) {
        if (!h->progress)
                return;
        if (!force && h->p.bytes_done - h->last_report_bytes < 65536)
                return;
        h->last_report_bytes = h->p.bytes_done;
        h->progress(&h->p, h->userdata);
}

static void set_phase(DLHost *h, ids_phase p) {
        if (h->p.phase == p)
                return;
        h->p.phase = p;
        dl_report(h, true);
}

static void set_percent(DLHost *h, plist_t msg, uint32_t idx) {
        plist_t n = plist_array_get_item(msg, idx);
        double v = 0;

        if (!n || plist_get_node_type(n) != PLIST_REAL)
                return;
        plist_get_real_val(n, &v);
        if (v >= 0 && v <= 100)
                h->p.percent = v;
}

/* ---- the stream ------------------------------------------------------------------------ */

int dl_mb2_client_new(idevice_t device, lockdownd_service_descriptor_t service,
                      void **ret_client) {
        mobilebackup2_client_t c = NULL;
        mobilebackup2_error_t e;

        e = mobilebackup2_client_new(device, service, &c);
        if (e != MOBILEBACKUP2_E_SUCCESS)
                return mb2_error_to_result(e);
        *ret_client = c;
        return 0;
}

/* Is the device stream gone (EOF or error, with nothing left to read)? */
static bool stream_dead(DLHost *h) {
        return dl_stream_dead(h->stream_fd);
}

/* Why a read or write failed: cancel, cable pull, or the device going quiet too long. */
static int stream_failure(DLHost *h, uint64_t idle_since, unsigned limit_s) {
        if (cancelled(h))
                return IDS_E_CANCELLED;
        if (stream_dead(h))
                return IDS_E_DISCONNECTED;
        if (now_sec() - idle_since >= limit_s)
                return IDS_E_TIMEOUT;
        return 0;                       /* keep waiting */
}

static unsigned timeout_for(DLHost *h) {
        if (h->p.phase == IDS_PHASE_TRANSFER || h->p.phase == IDS_PHASE_FINISHING)
                return h->timeout_transfer_s ?: 120;
        /* A large library can keep the device thinking for many minutes before it sends. */
        return h->timeout_preparing_s ?: 900;
}

static int read_exact(DLHost *h, void *buf, uint32_t n) {
        uint8_t *p = buf;
        uint64_t idle = now_sec();

        while (n > 0) {
                uint32_t got = 0;
                int r;

                if (cancelled(h))
                        return IDS_E_CANCELLED;
                (void) mobilebackup2_receive_raw(h->mb2, (char *) p, n, &got);
                if (got > 0) {
                        p += got;
                        n -= got;
                        idle = now_sec();
                        continue;
                }
                r = stream_failure(h, idle, timeout_for(h));
                if (r != 0)
                        return r;
        }
        return 0;
}

static int read_u32(DLHost *h, uint32_t *ret) {
        uint32_t v;
        int r = read_exact(h, &v, 4);

        if (r == 0)
                *ret = ntohl(v);
        return r;
}

static int write_all(DLHost *h, const void *buf, uint32_t n) {
        const char *p = buf;

        while (n > 0) {
                uint32_t sent = 0;

                if (cancelled(h))
                        return IDS_E_CANCELLED;
                if (mobilebackup2_send_raw(h->mb2, p, n, &sent) != MOBILEBACKUP2_E_SUCCESS ||
                    sent == 0)
                        return cancelled(h) ? IDS_E_CANCELLED : IDS_E_DISCONNECTED;
                p += sent;
                n -= sent;
        }
        return 0;
}

static int send_status(DLHost *h, int code, const char *text, plist_t payload) {
        mobilebackup2_error_t e;

        e = mobilebackup2_send_status_response(h->mb2, code, text, payload);
        if (payload)
                plist_free(payload);
        if (e != MOBILEBACKUP2_E_SUCCESS)
                return cancelled(h) ? IDS_E_CANCELLED : IDS_E_DISCONNECTED;
        return 0;
}

/* ---- paths ------------------------------------------------------------------------------- */

/* A device path is acceptable if it is a safe relative path beneath "<udid>/" (or the udid
 * directory itself when allow_top). Logs and returns IDS_E_PROTOCOL otherwise. */
static int check_path(DLHost *h, const char *path, size_t len, bool allow_top) {
        size_t ul = strlen(h->udid);
        int r;

        r = fs_path_check(path, len);
        if (r < 0) {
                note(h, "device sent an unsafe path (%s), refusing",
                     r == -ENAMETOOLONG ? "too long" : "invalid");
                return IDS_E_PROTOCOL;
        }
        if (len < ul || memcmp(path, h->udid, ul) != 0 ||
            !(path[ul] == '/' || (allow_top && len == ul))) {
                note(h, "device path '%.200s' is outside its backup directory, refusing", path);
                return IDS_E_PROTOCOL;
        }
        return 0;
}

static const char *plist_path(plist_t n, size_t *ret_len) {
        const char *s;
        uint64_t len = 0;

        if (!n || plist_get_node_type(n) != PLIST_STRING)
                return NULL;
        s = plist_get_string_ptr(n, &len);
        if (!s)
                return NULL;
        *ret_len = (size_t) len;
        return s;
}

/* ---- free space ---------------------------------------------------------------------- */

static int check_floor(DLHost *h, uint64_t incoming) {
        uint64_t free_bytes;

        if (!h->store || store_free_space(h->store, &free_bytes) < 0)
                return 0;
        if (free_bytes < incoming || free_bytes - incoming < h->floor_bytes) {
                note(h, "free space would fall below the floor (%llu bytes free, %llu needed "
                     "plus a floor of %llu)", (unsigned long long) free_bytes,
                     (unsigned long long) incoming, (unsigned long long) h->floor_bytes);
                return IDS_E_DISK_FULL;
        }
        return 0;
}

/* ---- DLMessageUploadFiles (device → host) ------------------------------------------ */

static int drain(DLHost *h, uint64_t n, uint8_t *buf) {
        while (n > 0) {
                uint32_t k = n > CHUNK ? CHUNK : (uint32_t) n;
                int r = read_exact(h, buf, k);
                if (r != 0)
                        return r;
                n -= k;
        }
        return 0;
}

static int write_failed(DLHost *h, const char *path, int r) {
        note(h, "cannot write '%.200s': %s", path, strerror(-r));
        return r == -ENOSPC || r == -EDQUOT ? IDS_E_DISK_FULL : r;
}

/* Receive one file's blocks into out (or discard them when out is NULL). Returns 0 when the
 * success terminator came, FILE_FAILED when the device reported an error for this file. */
static int receive_blocks(DLHost *h, FsOut *out, uint8_t *buf, const char *path,
                          uint64_t *since_check, uint32_t *crc) {
        for (;;) {
                uint32_t n;
                uint8_t code;
                int r;

                r = read_u32(h, &n);
                if (r != 0)
                        return r;
                if (n == 0) {
                        note(h, "device sent an empty block for '%.200s'", path);
                        return IDS_E_PROTOCOL;
                }
                r = read_exact(h, &code, 1);
                if (r != 0)
                        return r;
                n--;

                if (code == CODE_SUCCESS) {
                        r = n == 0 ? 0 : drain(h, n, buf);
                        if (r == 0 && out) {
                                r = fs_out_finish(out);
                                if (r < 0)
                                        return write_failed(h, path, r);
                        }
                        return r;
                }
                if (code == CODE_REMOTE_ERROR) {
                        if (n > MAX_ERROR_TEXT) {
                                note(h, "device error text of %u bytes, refusing", n);
                                return IDS_E_PROTOCOL;
                        }
                        r = drain(h, n, buf);
                        if (r != 0)
                                return r;
                        note(h, "device could not send '%.200s'", path);
                        return FILE_FAILED;
                }
                if (code != CODE_FILE_DATA) {
                        note(h, "device sent unknown block code 0x%02x", code);
                        return IDS_E_PROTOCOL;
                }

                /* A declared size must fit the disk before a byte of it is written. */
                *since_check += n;
                if (*since_check >= FLOOR_RECHECK_BYTES || n >= FLOOR_RECHECK_BYTES) {
                        r = check_floor(h, n);
                        if (r != 0)
                                return r;
                        *since_check = 0;
                }
                set_phase(h, IDS_PHASE_TRANSFER);
                while (n > 0) {
                        uint8_t *dst = buf;
                        uint32_t room = out ? fs_out_room(out, &dst) : CHUNK;
                        uint32_t k = n > room ? room : n;

                        r = read_exact(h, dst, k);
                        if (r != 0)
                                return r;
                        /* The integrity index needs it: computed now, never read back. */
                        *crc = (uint32_t) crc32(*crc, dst, k);
                        if (out) {
                                r = fs_out_add(out, k);
                                if (r < 0)
                                        return write_failed(h, path, r);
                        }
                        n -= k;
                        h->p.bytes_done += k;
                        h->new_bytes += k;
                        dl_report(h, false);
                }
        }
}

static int handle_upload(DLHost *h, plist_t msg, uint8_t *buf) {
        uint64_t since_check = 0;
        int r;

        if (h->read_only) {
                note(h, "device tried to upload during a restore");
                return IDS_E_PROTOCOL;
        }
        set_percent(h, msg, 2);

        for (;;) {
                char name[MAX_NAME_LEN + 1], tmp[64];
                const char *leaf;
                uint32_t n, crc;
                int dir_fd, fd;

                /* Device-side path: informational only. */
                r = read_u32(h, &n);
                if (r != 0)
                        return r;
                if (n == 0)
                        break;
                if (n > MAX_NAME_LEN) {
                        note(h, "device path length %u, refusing", n);
                        return IDS_E_PROTOCOL;
                }
                r = read_exact(h, name, n);
                if (r != 0)
                        return r;

                /* Destination relative to the backup root. */
                r = read_u32(h, &n);
                if (r != 0)
                        return r;
                if (n == 0 || n > MAX_NAME_LEN) {
                        note(h, "device destination length %u, refusing", n);
                        return IDS_E_PROTOCOL;
                }
                r = read_exact(h, name, n);
                if (r != 0)
                        return r;
                name[n] = 0;
                r = check_path(h, name, n, false);
                if (r != 0)
                        return r;

                dir_fd = fs_open_parent_beneath(h->root_fd, name, true, &leaf);
                if (dir_fd < 0) {
                        note(h, "cannot open the directory of '%.200s': %s", name,
                             strerror(-dir_fd));
                        return dir_fd == -ELOOP || dir_fd == -EXDEV || dir_fd == -ENOTDIR ?
                                       IDS_E_PROTOCOL : dir_fd;
                }
                snprintf(tmp, sizeof(tmp), ".ids-upload-%ld", (long) getpid());
                fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                            0600);
                if (fd < 0) {
                        r = -errno;
                        close(dir_fd);
                        note(h, "cannot create '%.200s': %s", name, strerror(-r));
                        return r == -ENOSPC ? IDS_E_DISK_FULL : r;
                }
                crc = (uint32_t) crc32(0, NULL, 0);
                {
                        FsOut out = {.fd = fd, .buf = buf + CHUNK, .no_direct = &h->no_direct};

                        r = receive_blocks(h, &out, buf, name, &since_check, &crc);
                }
                if (r == 0) {
                        struct stat sb;

                        if (h->staging && fstat(fd, &sb) == 0)
                                (void) staging_note_crc(h->staging, (uint64_t) sb.st_ino,
                                                        (uint64_t) sb.st_size,
                                                        (uint64_t) sb.st_mtim.tv_sec *
                                                                1000000000u +
                                                                (uint64_t) sb.st_mtim.tv_nsec,
                                                        crc);
                }
                close(fd);
                /* A file the device could not send stays out of the backup (pymobiledevice3
                 * does the same); the previous version, if any, stays in place. */
                if (r == 0 && renameat(dir_fd, tmp, dir_fd, leaf) < 0) {
                        r = -errno;
                        note(h, "cannot store '%.200s': %s", name, strerror(-r));
                        if (r == -EISDIR)
                                r = IDS_E_PROTOCOL;
                }
                if (r != 0)
                        (void) unlinkat(dir_fd, tmp, 0);   /* a failed file stays out */
                close(dir_fd);
                if (r == 0)
                        h->p.files_done++;
                else if (r != FILE_FAILED)
                        return r;
        }
        return send_status(h, 0, NULL, plist_new_dict());
}

/* ---- DLMessageDownloadFiles (host → device) --------------------------------------------- */

static int send_block(DLHost *h, uint8_t code, const void *data, uint32_t n) {
        uint8_t hdr[5];
        uint32_t be = htonl(n + 1);
        int r;

        memcpy(hdr, &be, 4);
        hdr[4] = code;
        r = write_all(h, hdr, 5);
        if (r == 0 && n > 0)
                r = write_all(h, data, n);
        return r;
}

static int handle_download(DLHost *h, plist_t msg, uint8_t *buf) {
        plist_t files = plist_array_get_item(msg, 1);
        plist_t errors = plist_new_dict();
        uint32_t count;
        int r = 0;

        set_percent(h, msg, 3);
        if (!files || plist_get_node_type(files) != PLIST_ARRAY) {
                plist_free(errors);
                note(h, "DownloadFiles without a file list");
                return IDS_E_PROTOCOL;
        }
        count = plist_array_get_size(files);
        for (uint32_t i = 0; i < count && r == 0; i++) {
                size_t len = 0;
                const char *path = plist_path(plist_array_get_item(files, i), &len);
                uint32_t be;
                int fd = -1;

                if (!path) {
                        r = IDS_E_PROTOCOL;
                        break;
                }
                r = check_path(h, path, len, false);
                if (r != 0)
                        break;
                be = htonl((uint32_t) len);
                r = write_all(h, &be, 4);
                if (r == 0)
                        r = write_all(h, path, (uint32_t) len);
                if (r != 0)
                        break;

                fd = fs_open_beneath(h->root_fd, path, O_RDONLY, 0);
                if (fd < 0) {
                        const char *text = strerror(-fd);
                        plist_t e = plist_new_dict();

                        /* Missing files are normal: a first backup has no Status.plist. */
                        plist_dict_set_item(e, "DLFileErrorCode",
                                            plist_new_uint((uint64_t) (int64_t) errno_to_dl_status(fd)));
                        plist_dict_set_item(e, "DLFileErrorString", plist_new_string(text));
                        plist_dict_set_item(errors, path, e);
                        r = send_block(h, CODE_LOCAL_ERROR, text, (uint32_t) strlen(text));
                        continue;
                }
                for (;;) {
                        ssize_t k = read(fd, buf, 32768);   /* BackupAgent2 likes 32 KiB */
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0) {
                                r = -errno;
                                break;
                        }
                        if (k == 0)
                                break;
                        r = send_block(h, CODE_FILE_DATA, buf, (uint32_t) k);
                        if (r != 0)
                                break;
                        h->p.bytes_done += (uint64_t) k;
                        dl_report(h, false);
                }
                close(fd);
                if (r == 0) {
                        r = send_block(h, CODE_SUCCESS, NULL, 0);
                        h->p.files_done++;
                }
        }
        if (r == 0) {
                uint32_t zero = 0;
                r = write_all(h, &zero, 4);
        }
        if (r != 0) {
                plist_free(errors);
                return r;
        }
        if (plist_dict_get_size(errors) > 0)
                return send_status(h, -13, "Multi status", errors);
        plist_free(errors);
        return send_status(h, 0, NULL, plist_new_dict());
}

/* ---- the small messages ------------------------------------------------------------------ */

static int handle_free_space(DLHost *h) {
        uint64_t free_bytes = 0;

        if (!h->store || store_free_space(h->store, &free_bytes) < 0)
                return send_status(h, -1, "Cannot determine free space", plist_new_uint(0));
        /* What lies under the floor is not ours to give: the device plans with the rest. */
        free_bytes = free_bytes > h->floor_bytes ? free_bytes - h->floor_bytes : 0;
        return send_status(h, 0, NULL, plist_new_uint(free_bytes));
}

static int handle_purge(DLHost *h, plist_t msg) {
        plist_t n = plist_array_get_item(msg, 1);
        uint64_t want = 0, free_bytes = 0;
        int pruned;

        if (n && plist_get_node_type(n) == PLIST_UINT)
                plist_get_uint_val(n, &want);
        if (h->read_only || !h->store)
                return send_status(h, -1, "Operation not supported", plist_new_dict());
        /* Make room by retiring old snapshots; the newest good one is never touched. */
        pruned = store_prune(h->store, h->keep, h->keep_days, want + h->floor_bytes);
        ids_debug("PurgeDiskSpace %llu bytes: pruned %d snapshots", (unsigned long long) want,
                  pruned);
        if (store_free_space(h->store, &free_bytes) == 0 &&
            free_bytes >= want + h->floor_bytes)
                return send_status(h, 0, NULL, plist_new_dict());
        return send_status(h, -1, "Could not free enough disk space", plist_new_dict());
}

static int handle_contents(DLHost *h, plist_t msg) {
        size_t len = 0;
        const char *path = plist_path(plist_array_get_item(msg, 1), &len);
        plist_t dict = plist_new_dict();
        struct dirent *e;
        DIR *d;
        int fd, r;

        if (!path) {
                plist_free(dict);
                return IDS_E_PROTOCOL;
        }
        r = check_path(h, path, len, true);
        if (r != 0) {
                plist_free(dict);
                return r;
        }
        fd = fs_open_beneath(h->root_fd, path, O_RDONLY | O_DIRECTORY, 0);
        d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d && fd >= 0)
                close(fd);
        while (d && (e = readdir(d))) {
                struct stat st;
                plist_t fi;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                    strncmp(e->d_name, ".ids-", 5) == 0)
                        continue;
                if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                fi = plist_new_dict();
                plist_dict_set_item(fi, "DLFileType",
                                    plist_new_string(S_ISDIR(st.st_mode) ? "DLFileTypeDirectory" :
                                                     S_ISREG(st.st_mode) ? "DLFileTypeRegular" :
                                                                           "DLFileTypeUnknown"));
                plist_dict_set_item(fi, "DLFileSize", plist_new_uint((uint64_t) st.st_size));
                plist_dict_set_item(fi, "DLFileModificationDate",
                                    plist_new_date((int32_t) (st.st_mtime - 978307200), 0));
                plist_dict_set_item(dict, e->d_name, fi);
        }
        if (d)
                closedir(d);
        return send_status(h, 0, NULL, dict);
}

static int status_for(DLHost *h, int r, const char *what, const char *path) {
        if (r >= 0)
                return send_status(h, 0, NULL, NULL);
        note(h, "cannot %s '%.200s': %s", what, path, strerror(-r));
        return send_status(h, errno_to_dl_status(r), strerror(-r), plist_new_dict());
}

static int handle_mkdir(DLHost *h, plist_t msg) {
        size_t len = 0;
        const char *path = plist_path(plist_array_get_item(msg, 1), &len);
        int r;

        set_percent(h, msg, 3);
        if (!path || h->read_only)
                return IDS_E_PROTOCOL;
        r = check_path(h, path, len, false);
        if (r != 0)
                return r;
        r = fs_mkdir_p_beneath(h->root_fd, path, 0700);
        if (r == -ELOOP || r == -EXDEV) {
                note(h, "device directory '%.200s' leads outside, refusing", path);
                return IDS_E_PROTOCOL;
        }
        return status_for(h, r, "create directory", path);
}

static int handle_move(DLHost *h, plist_t msg) {
        plist_t items = plist_array_get_item(msg, 1);
        plist_dict_iter it = NULL;
        int r = 0;

        set_percent(h, msg, 3);
        if (!items || plist_get_node_type(items) != PLIST_DICT || h->read_only)
                return IDS_E_PROTOCOL;
        if (!plist_dict_keys_safe(items)) {
                note(h, "device sent a move request with a NUL inside a path, refusing");
                return IDS_E_PROTOCOL;
        }
        set_phase(h, IDS_PHASE_FINISHING);
        plist_dict_new_iter(items, &it);
        for (;;) {
                char *src = NULL;
                plist_t dstn = NULL;
                const char *dst;
                size_t dlen = 0;

                plist_dict_next_item(items, it, &src, &dstn);
                if (!src)
                        break;
                dst = plist_path(dstn, &dlen);
                r = dst ? check_path(h, src, strlen(src), false) : IDS_E_PROTOCOL;
                if (r == 0)
                        r = check_path(h, dst, dlen, false);
                if (r == 0) {
                        r = fs_rename_beneath(h->root_fd, src, dst);
                        if (r == -ELOOP || r == -EXDEV)
                                r = IDS_E_PROTOCOL;
                        else if (r < 0) {
                                /* Report to the device and stop, as libimobiledevice does. */
                                int k = status_for(h, r, "move", src);
                                free(src);
                                free(it);
                                return k;
                        }
                }
                free(src);
                if (r != 0)
                        break;
        }
        free(it);
        if (r != 0) {
                if (r == IDS_E_PROTOCOL)
                        note(h, "device tried to move files outside its backup, refusing");
                return r;
        }
        return send_status(h, 0, NULL, plist_new_dict());
}

static int handle_remove(DLHost *h, plist_t msg) {
        plist_t items = plist_array_get_item(msg, 1);
        uint32_t n;

        set_percent(h, msg, 3);
        if (!items || plist_get_node_type(items) != PLIST_ARRAY || h->read_only)
                return IDS_E_PROTOCOL;
        n = plist_array_get_size(items);
        for (uint32_t i = 0; i < n; i++) {
                size_t len = 0;
                const char *path = plist_path(plist_array_get_item(items, i), &len);
                int r;

                r = path ? check_path(h, path, len, false) : IDS_E_PROTOCOL;
                if (r != 0)
                        return r;
                r = fs_remove_beneath(h->root_fd, path);
                if (r == -ELOOP || r == -EXDEV) {
                        note(h, "device tried to remove outside its backup, refusing");
                        return IDS_E_PROTOCOL;
                }
                if (r < 0)
                        return status_for(h, r, "remove", path);
        }
        return send_status(h, 0, NULL, plist_new_dict());
}

static int copy_file_beneath(int root, const char *src, const char *dst) {
        _cleanup_(closep) int in = -1, out_dir = -1;
        const char *leaf;
        char tmp[64], buf[65536];
        int out, r = 0;

        in = fs_open_beneath(root, src, O_RDONLY, 0);
        if (in < 0)
                return in;
        out_dir = fs_open_parent_beneath(root, dst, true, &leaf);
        if (out_dir < 0)
                return out_dir;
        snprintf(tmp, sizeof(tmp), ".ids-copy-%ld", (long) getpid());
        out = openat(out_dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return -errno;
        for (;;) {
                ssize_t k = read(in, buf, sizeof(buf));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : 0;
                        break;
                }
                if (write(out, buf, (size_t) k) != k) {
                        r = errno ? -errno : -EIO;
                        break;
                }
        }
        close(out);
        if (r == 0 && renameat(out_dir, tmp, out_dir, leaf) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(out_dir, tmp, 0);
        return r;
}

static int handle_copy(DLHost *h, plist_t msg) {
        size_t sl = 0, dl = 0;
        const char *src = plist_path(plist_array_get_item(msg, 1), &sl);
        const char *dst = plist_path(plist_array_get_item(msg, 2), &dl);
        struct stat st;
        int r, fd;

        if (!src || !dst || h->read_only)
                return IDS_E_PROTOCOL;
        r = check_path(h, src, sl, false);
        if (r == 0)
                r = check_path(h, dst, dl, false);
        if (r != 0)
                return r;
        fd = fs_open_beneath(h->root_fd, src, O_PATH, 0);
        if (fd < 0)
                return status_for(h, fd, "copy", src);
        r = fstat(fd, &st) < 0 ? -errno : 0;
        close(fd);
        if (r == 0 && S_ISDIR(st.st_mode))
                r = fs_mkdir_p_beneath(h->root_fd, dst, 0700);   /* devices copy files only */
        else if (r == 0)
                r = copy_file_beneath(h->root_fd, src, dst);
        if (r == -ELOOP || r == -EXDEV)
                return IDS_E_PROTOCOL;
        return status_for(h, r, "copy", src);
}

static int handle_process_message(DLHost *h, plist_t msg) {
        plist_t d = plist_array_get_item(msg, 1), code;
        int64_t v = 0;

        if (!d || plist_get_node_type(d) != PLIST_DICT) {
                note(h, "malformed final message from the device");
                return IDS_E_PROTOCOL;
        }
        code = plist_dict_get_item(d, "ErrorCode");
        if (code && plist_get_node_type(code) == PLIST_UINT)
                plist_get_uint_val(code, (uint64_t *) &v);
        h->device_error = (int) v;
        h->finished = true;
        if (v != 0) {
                plist_t desc = plist_dict_get_item(d, "ErrorDescription");
                const char *s = NULL;
                uint64_t len = 0;

                if (desc && plist_get_node_type(desc) == PLIST_STRING)
                        s = plist_get_string_ptr(desc, &len);
                note(h, "device error %lld: %.200s", (long long) v,
                     s && strlen(s) == len ? s : "(no description)");
        }
        return 0;
}

static int dispatch(DLHost *h, const char *name, plist_t msg, uint8_t *buf) {
        ids_debug("DL %s", name);
        if (strcmp(name, "DLMessageUploadFiles") == 0)
                return handle_upload(h, msg, buf);
        if (strcmp(name, "DLMessageDownloadFiles") == 0)
                return handle_download(h, msg, buf);
        if (strcmp(name, "DLMessageGetFreeDiskSpace") == 0)
                return handle_free_space(h);
        if (strcmp(name, "DLMessagePurgeDiskSpace") == 0)
                return handle_purge(h, msg);
        if (strcmp(name, "DLContentsOfDirectory") == 0)
                return handle_contents(h, msg);
        if (strcmp(name, "DLMessageCreateDirectory") == 0)
                return handle_mkdir(h, msg);
        if (strcmp(name, "DLMessageMoveItems") == 0 || strcmp(name, "DLMessageMoveFiles") == 0)
                return handle_move(h, msg);
        if (strcmp(name, "DLMessageRemoveItems") == 0 ||
            strcmp(name, "DLMessageRemoveFiles") == 0)
                return handle_remove(h, msg);
        if (strcmp(name, "DLMessageCopyItem") == 0)
                return handle_copy(h, msg);
        if (strcmp(name, "DLMessageProcessMessage") == 0)
                return handle_process_message(h, msg);
        if (strcmp(name, "DLMessageDisconnect") == 0) {
                note(h, "device disconnected before its result");
                return IDS_E_DISCONNECTED;
        }
        /* Never leave the device waiting: answer what we do not know with an error. */
        note(h, "device sent unknown message '%.100s'", name);
        return send_status(h, -1, "Operation not supported", plist_new_dict());
}

int dl_run(DLHost *h) {
        /* CHUNK for messages and downloads, then FsOut's aligned buffer */
        _cleanup_(freep) uint8_t *buf = NULL;
        uint64_t idle = now_sec();

        if (posix_memalign((void **) &buf, FS_OUT_ALIGN, CHUNK + FS_OUT_CAP) != 0)
                return -ENOMEM;
        dl_report(h, true);
        while (!h->finished) {
                plist_t msg = NULL;
                char *name = NULL;
                mobilebackup2_error_t e;
                int r;

                if (cancelled(h))
                        return IDS_E_CANCELLED;
                e = mobilebackup2_receive_message(h->mb2, &msg, &name);
                if (e == MOBILEBACKUP2_E_RECEIVE_TIMEOUT) {
                        r = stream_failure(h, idle, timeout_for(h));
                        if (r != 0) {
                                if (r == IDS_E_TIMEOUT)
                                        note(h, "the device sent nothing for %u s",
                                             timeout_for(h));
                                return r;
                        }
                        continue;
                }
                if (e != MOBILEBACKUP2_E_SUCCESS || !name) {
                        free(name);
                        if (msg)
                                plist_free(msg);
                        if (cancelled(h))
                                return IDS_E_CANCELLED;
                        if (e == MOBILEBACKUP2_E_PLIST_ERROR && !stream_dead(h)) {
                                note(h, "device sent a malformed message");
                                return IDS_E_PROTOCOL;
                        }
                        return IDS_E_DISCONNECTED;
                }
                idle = now_sec();
                r = dispatch(h, name, msg, buf);
                free(name);
                plist_free(msg);
                if (r != 0)
                        return r;
                idle = now_sec();
        }
        dl_report(h, true);
        return 0;
}
