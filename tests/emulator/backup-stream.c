/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated device's raw file streams (protocols.md §3.5): uploading files to the host
 * (DLMessageUploadFiles) and fetching them back (DLMessageDownloadFiles), and the Restore
 * request built on the second.
 */
#include <openssl/crypto.h>

#include "backup-internal.h"

/* ---- raw stream, device → host (DLMessageUploadFiles) ---------------------------------- */

/* Frees u's output buffer; u itself is the caller's. */
void uploader_done(Uploader *u) {
        free(u->buf);
        u->buf = NULL;
}

/* Milliseconds since t0 (CLOCK_MONOTONIC). */
int64_t elapsed_ms(const struct timespec *t0) {
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
int up_flush(Uploader *u) {
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

/* Appends n bytes to u's buffer, flushing it first when they do not fit. 0, -EMSGSIZE when n
 * exceeds the buffer, or the error of the flush. */
int up_put(Uploader *u, const void *p, size_t n) {
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

/* Appends v as a big-endian u32. 0 or as up_put(). */
int up_put_u32(Uploader *u, uint32_t v) {
        uint32_t be = htonl(v);

        return up_put(u, &be, 4);
}

/* A length-prefixed name; n may include NUL bytes (hostile devices do that). */
int up_put_name(Uploader *u, const char *name, size_t n) {
        int r = up_put_u32(u, (uint32_t) n);

        if (r < 0)
                return r;
        return up_put(u, name, n);
}

/* [u32be n+1][code][n bytes]: the length counts the code byte. */
int up_put_block(Uploader *u, uint8_t code, const void *p, size_t n) {
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
int up_file_begin(Uploader *u, const char *devpath, const char *dst, size_t dst_len) {
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
int up_file_done(Uploader *u) {
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
int up_file_fd(Uploader *u, const char *devpath, const char *dst, int fd, uint8_t ret_digest[20],
               uint64_t *ret_size) {
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

/* up_file_fd() of an encrypted backup: what travels is the content run through enc
 * (AES-256-CBC, see backup-crypt.c), so the host stores ciphertext, padding block included.
 * The SHA-1 and size returned are those of the plaintext (Manifest.db records the plaintext
 * size, as iOS does). The cable-pull faults count plaintext bytes. */
int up_file_fd_enc(Uploader *u, const char *devpath, const char *dst, int fd, EVP_CIPHER_CTX *enc,
                   uint8_t ret_digest[20], uint64_t *ret_size) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        _cleanup_(freep) uint8_t *plain = malloc(BLOCK_MAX);
        uint64_t size = 0;
        int r, n = 0;

        if (!c || !plain || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
                return -ENOMEM;
        r = up_file_begin(u, devpath, dst, strlen(dst));
        if (r < 0)
                return r;

        for (;;) {
                size_t want = up_allowance(u, BLOCK_MAX - 16);
                uint32_t be;
                ssize_t k;

                r = up_check_pull(u);
                if (r < 0)
                        return r;
                if (u->len + 5 + want + 16 > OUT_CAP) {
                        r = up_flush(u);
                        if (r < 0)
                                return r;
                }
                do
                        k = read(fd, plain, want);
                while (k < 0 && errno == EINTR);
                if (k < 0) {
                        static const char msg[] = "Input/output error";
                        log_warn("%s: read error on '%s': %m", u->s->udid, devpath);
                        return up_put_block(u, CODE_ERROR_REMOTE, msg, sizeof(msg) - 1);
                }
                if (k == 0)
                        break;
                EVP_DigestUpdate(c, plain, (size_t) k);
                size += (uint64_t) k;
                u->data_bytes += (uint64_t) k;
                if (EVP_EncryptUpdate(enc, u->buf + u->len + 5, &n, plain, (int) k) != 1)
                        return -EIO;
                if (n > 0) {
                        be = htonl((uint32_t) n + 1);
                        memcpy(u->buf + u->len, &be, 4);
                        u->buf[u->len + 4] = CODE_FILE_DATA;
                        u->len += 5 + (size_t) n;
                }
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
        {
                uint8_t last[32];

                if (EVP_EncryptFinal_ex(enc, last, &n) != 1)
                        return -EIO;
                r = up_put_block(u, CODE_FILE_DATA, last, (size_t) n);
                if (r < 0)
                        return r;
        }
        if (ret_digest)
                EVP_DigestFinal_ex(c, ret_digest, NULL);
        if (ret_size)
                *ret_size = size;
        return up_file_done(u);
}

/* up_file_mem() of an encrypted backup: n bytes of data (small) through enc. */
int up_file_mem_enc(Uploader *u, const char *devpath, const char *dst, const void *data, size_t n,
                    EVP_CIPHER_CTX *enc) {
        _cleanup_(freep) uint8_t *out = malloc(n + 32);
        int k = 0, m = 0;

        if (!out || n > INT32_MAX)
                return -ENOMEM;
        if (EVP_EncryptUpdate(enc, out, &k, data, (int) n) != 1 ||
            EVP_EncryptFinal_ex(enc, out + k, &m) != 1)
                return -EIO;
        return up_file_mem(u, devpath, dst, out, (size_t) k + (size_t) m);
}

/* Uploads n bytes of data as host file dst (devpath names it in the stream), honouring the
 * cable-pull faults. 0, or < 0 when the connection is gone or pulled. */
int up_file_mem(Uploader *u, const char *devpath, const char *dst, const void *data, size_t n) {
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
int up_begin_batch(Uploader *u, uint64_t total, double progress) {
        plist_t m = dl_new("DLMessageUploadFiles");

        plist_array_append_item(m, plist_new_dict());
        plist_array_append_item(m, progress_node(u->s, progress));
        plist_array_append_item(m, plist_new_uint(total));
        return dl_send(u->s, m);
}

/* End marker, flush, and the host's verdict: 0, or 1 if the host reported an error. */
int up_end_batch(Uploader *u) {
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

/* Frees the strings of the n fetches of f and empties them; the files stay. */
void fetch_clear(Fetch *f, size_t n) {
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
int fetch_files(Session *s, Fetch *f, size_t n, double progress) {
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
int session_tmp(Session *s) {
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
int fetch_meta(Session *s, const char *dir, const char *const *names, Fetch *f, size_t n,
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

/* ---- Restore --------------------------------------------------------------------------- */

typedef struct Item {
        char id[41];
        char *domain, *rel, *target;
        int flags;
        uint64_t size;
        int64_t mtime;
        bool has_key; /* encrypted backups: the file's EncryptionKey */
        uint8_t key[KEY_BLOB_LEN];
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
                v[n] = (Item){
                        .flags = flags, .size = m.size, .mtime = m.mtime, .has_key = m.has_key};
                memcpy(v[n].key, m.key, KEY_BLOB_LEN);
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

/* One Restore request on its way: what the steps of restore_run() hand on to each other.
 * Each step returns 0 to go on, 1 when it has set res (the request ends with that Response),
 * or < 0 when the connection is gone or must be dropped. */
typedef struct RestoreRun {
        Session *s;         /* borrowed */
        Result *res;        /* borrowed */
        const char *source; /* borrowed: the UDID directory restored from */
        bool system;        /* RestoreSystemFiles */
        bool preserve;      /* RestorePreserveSettings */
        Fetch f[4];         /* the backup's metadata, as fetched */
        Item *items;        /* the rows of its Manifest.db */
        size_t n_items;
        bool crypt; /* a real encrypted backup: kb opens its keys */
        Keybag kb;
        char *stage, *live; /* the new tree being built, and the profile's backup/ */
} RestoreRun;

/* Ends the request with an MBErrorDomain Response. Always 1. */
static int restore_fail(RestoreRun *rr, unsigned code, const char *text) {
        result_set(rr->res, code, mb_error(code, text, NULL));
        return 1;
}

/* Ends the request on a backup tree that cannot be restored (r says why). Always 1. */
static int restore_bad_tree(RestoreRun *rr, int r) {
        log_warn("%s: restore: bad backup tree: %s", rr->s->udid, strerror(-r));
        return restore_fail(rr, 205, "Error restoring files");
}

/* A backup encrypted for real (BackupKeyBag and ManifestKey): the password of the request
 * must open its keybag, as on a phone (any other password is 207, whatever the device's
 * current backup password is); Manifest.db is read decrypted. *ret_db: the Manifest.db to
 * read (NULL if the host has none). 0 to go on, 1 when res is set, < 0 on errors. */
static int restore_open_encrypted(RestoreRun *rr, plist_t opts, plist_t manifest,
                                  const char **ret_db) {
        _cleanup_(freep) char *plain = NULL;
        const char *pw = plist_dict_str(opts, "Password");
        int r;

        *ret_db = rr->f[2].received ? rr->f[2].local : NULL;
        if (!plist_dict_bool(manifest, "IsEncrypted", false) ||
            !plist_dict_get_item(manifest, "ManifestKey") || rr->s->faults.restore_password_set)
                return 0; /* plain, or the `encrypted`/`restore-password` faults */
        if (!pw || !*pw)
                return restore_fail(rr, 207, "Invalid password");
        if (!*ret_db)
                return restore_fail(rr, 205, "Error reading backup database");
        r = session_tmp(rr->s);
        if (r < 0)
                return r;
        if (asprintf(&plain, "%s/Manifest.db.restore", rr->s->tmp) < 0) {
                plain = NULL;
                return -ENOMEM;
        }
        r = manifest_db_decrypt(manifest, pw, *ret_db, plain, &rr->kb);
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES)
                return restore_fail(rr, 207, "Invalid password");
        if (r < 0)
                return restore_fail(rr, 205, "Error reading backup database");
        rr->crypt = true;
        /* the path lives as long as the session's scratch directory; keep it in f[2] */
        free(rr->f[2].local);
        rr->f[2].local = TAKE_PTR(plain);
        *ret_db = rr->f[2].local;
        return 0;
}

/* One file of an encrypted backup, as fetched to path: decrypted in place with its own key.
 * 0, or 1 with res set (205) when it has no key, does not decrypt or has the wrong size. */
static int restore_decrypt_file(RestoreRun *rr, const Item *it, const char *path) {
        _cleanup_(freep) char *tmp = NULL;
        uint8_t key[32];
        uint64_t size = 0;
        int r;

        if (!it->has_key || keybag_open_key(&rr->kb, it->key, key) < 0) {
                log_warn("%s: restore: no usable key for %s", rr->s->udid, it->id);
                return restore_fail(rr, 205, "Error decrypting files");
        }
        if (asprintf(&tmp, "%s.decrypted", path) < 0) {
                OPENSSL_cleanse(key, sizeof(key));
                return -ENOMEM;
        }
        r = file_decrypt(path, tmp, key, &size);
        OPENSSL_cleanse(key, sizeof(key));
        if (r >= 0 && size != it->size)
                r = -EBADMSG;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                log_warn("%s: restore: cannot decrypt %s: %s", rr->s->udid, it->id, strerror(-r));
                return r == -ENOMEM ? r : restore_fail(rr, 205, "Error decrypting files");
        }
        return 0;
}

/* Dotted versions compared part by part as numbers ("9.3" < "17.0" < "17.10"): < 0, 0, > 0.
 * A part that does not start with a digit counts as 0. */
static int ios_version_cmp(const char *a, const char *b) {
        while (*a || *b) {
                char *ea, *eb;
                unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);

                if (x != y)
                        return x < y ? -1 : 1;
                a = *ea == '.' ? ea + 1 : ea + strlen(ea);
                b = *eb == '.' ? eb + 1 : eb + strlen(eb);
        }
        return 0;
}

/* The iOS the backup was made on: Manifest.plist Lockdown.ProductVersion, which the phone
 * wrote itself, else the host's Info.plist "Product Version". NULL when neither says. The
 * result points into one of the two plists. */
static const char *backup_ios(plist_t manifest, plist_t info) {
        plist_t ld = manifest ? plist_dict_get_item(manifest, "Lockdown") : NULL;
        const char *v = NULL;

        if (ld && plist_get_node_type(ld) == PLIST_DICT)
                v = plist_dict_str(ld, "ProductVersion");
        if ((!v || !*v) && info)
                v = plist_dict_str(info, "Product Version");
        return v && *v ? v : NULL;
}

/* Fetch the metadata of the source and check it: finished Status.plist, readable
 * Manifest.plist and Manifest.db, a backup not made on a newer iOS than this one, the
 * password, room on the device. */
static int restore_check(RestoreRun *rr, plist_t opts, const DeviceInfo *info) {
        static const char *const names[] = {"Status.plist", "Manifest.plist", "Manifest.db",
                                            "Info.plist"};
        _cleanup_(plist_freep) plist_t status = NULL, manifest = NULL, backup_info = NULL;
        const char *db = NULL, *from;
        uint64_t need = 0;
        int r;

        /* A phone with Find My on refuses before it asks for anything (§9: MBErrorDomain
         * 211). */
        if (info->find_my)
                return restore_fail(rr, 211, "Find My iPhone must be disabled before restoring");
        r = fetch_meta(rr->s, rr->source, names, rr->f, ELEMENTSOF(names), 0);
        if (r < 0)
                return r;
        r = load_plist(&rr->f[0], &status);
        if (r < 0 || !plist_dict_str(status, "SnapshotState") ||
            strcmp(plist_dict_str(status, "SnapshotState"), "finished") != 0)
                return restore_fail(rr, 103, "Error reading status");
        r = load_plist(&rr->f[1], &manifest);
        if (r < 0)
                return restore_fail(rr, 205, "Error reading backup properties");
        /* A phone runs no migrator backwards: a backup of a newer iOS is refused before
         * anything is fetched of it (sync-protocols.md §9, users' reports: "target must
         * have the same or a newer iOS"). No public log shows the code a phone answers
         * with; 202 and this description are our choice. The host must not rely on the
         * number: it knows both versions and can tell the refusal apart on its own. */
        if (rr->f[3].received)
                (void) load_plist(&rr->f[3], &backup_info);
        from = backup_ios(manifest, backup_info);
        if (from && info->ios && ios_version_cmp(from, info->ios) > 0) {
                _cleanup_(freep) char *text = NULL;

                if (asprintf(&text, "This backup was made on iOS %s and cannot be restored to "
                             "a device running the older iOS %s", from, info->ios) < 0)
                        return -ENOMEM;
                return restore_fail(rr, 202, text);
        }
        r = restore_open_encrypted(rr, opts, manifest, &db);
        if (r != 0)
                return r;
        if (!rr->crypt && restore_check_password(
                                  rr->s, opts, plist_dict_bool(manifest, "IsEncrypted", false)) < 0)
                return restore_fail(rr, 207, "Invalid password");
        r = db ? items_load(db, &rr->items, &rr->n_items) : -ENOENT;
        if (r < 0)
                return restore_fail(rr, 205, "Error reading backup database");
        for (size_t i = 0; i < rr->n_items; i++)
                if (rr->items[i].flags == FLAG_FILE)
                        need += rr->items[i].size;
        if (info->disk_free && need > info->disk_free)
                return restore_fail(rr, 105, "Insufficient free disk space on device to restore");
        return 0;
}

/* Stage the new tree next to the live one: same filesystem, so the swap is atomic. */
static int restore_stage_new(RestoreRun *rr, const char *profile) {
        if (asprintf(&rr->stage, "%s/.restore-XXXXXX", profile) < 0 ||
            asprintf(&rr->live, "%s/backup", profile) < 0)
                return -ENOMEM;
        if (!mkdtemp(rr->stage)) {
                log_warn("%s: cannot create '%s': %m", rr->s->udid, rr->stage);
                free(rr->stage);
                rr->stage = NULL;
                return restore_fail(rr, 100, "Error creating restore directory");
        }
        return 0;
}

/* The directories of the restored domains, and of every restored file, in the stage. */
static int restore_make_dirs(RestoreRun *rr) {
        int r;

        for (size_t i = 0; i < rr->n_items; i++) {
                _cleanup_(freep) char *dir = NULL;
                const Item *it = &rr->items[i];
                char *slash;

                if (!restore_takes(it->domain, rr->system, rr->preserve) ||
                    it->flags == FLAG_SYMLINK)
                        continue;
                if (asprintf(&dir, "%s/%s", it->domain, it->rel) < 0)
                        return -ENOMEM;
                if (it->flags == FLAG_FILE) {
                        slash = strrchr(dir, '/');
                        if (!*it->rel || !slash)
                                return restore_bad_tree(rr, -EISDIR);
                        *slash = 0;
                }
                r = mkdir_beneath(rr->stage, dir);
                if (r < 0)
                        return restore_bad_tree(rr, r);
        }
        return 0;
}

/* The files, FETCH_BATCH per DLMessageDownloadFiles, with the modification times the backup
 * recorded. */
static int restore_fetch_files(RestoreRun *rr) {
        Session *s = rr->s;
        int r;

        for (size_t i = 0; i < rr->n_items;) {
                Fetch batch[FETCH_BATCH] = {};
                size_t k = 0, first = i;

                for (; i < rr->n_items && k < FETCH_BATCH; i++) {
                        const Item *it = &rr->items[i];

                        if (it->flags != FLAG_FILE ||
                            !restore_takes(it->domain, rr->system, rr->preserve))
                                continue;
                        if (asprintf(&batch[k].remote, "%s/%.2s/%s", rr->source, it->id, it->id) <
                                    0 ||
                            asprintf(&batch[k].local, "%s/%s/%s", rr->stage, it->domain, it->rel) <
                                    0) {
                                fetch_clear(batch, k + 1);
                                return -ENOMEM;
                        }
                        k++;
                }
                if (k == 0)
                        continue;
                r = fetch_files(s, batch, k, 5 + 90.0 * (double) i / (double) rr->n_items);
                if (r < 0) {
                        fetch_clear(batch, k);
                        return r;
                }
                for (size_t j = 0; j < k; j++)
                        if (!batch[j].received) {
                                log_warn("%s: restore: host did not send '%s': %s", s->udid,
                                         batch[j].remote, batch[j].error ?: "?");
                                fetch_clear(batch, k);
                                return restore_fail(rr, 205, "Multiple errors downloading files");
                        }
                /* Modification times as the backup recorded them. */
                for (size_t j = first, b = 0; j < i && b < k; j++) {
                        const Item *it = &rr->items[j];
                        struct timespec ts[2];

                        if (it->flags != FLAG_FILE ||
                            !restore_takes(it->domain, rr->system, rr->preserve))
                                continue;
                        if (rr->crypt) {
                                r = restore_decrypt_file(rr, it, batch[b].local);
                                if (r != 0) {
                                        fetch_clear(batch, k);
                                        return r;
                                }
                        }
                        ts[0] = ts[1] = (struct timespec){.tv_sec = (time_t) it->mtime};
                        if (it->mtime > 0)
                                (void) utimensat(AT_FDCWD, batch[b].local, ts, AT_SYMLINK_NOFOLLOW);
                        b++;
                }
                fetch_clear(batch, k);
        }
        return 0;
}

/* Symlinks last, so that no file is ever written through one. */
static int restore_make_symlinks(RestoreRun *rr) {
        for (size_t i = 0; i < rr->n_items; i++) {
                _cleanup_(freep) char *p = NULL;
                const Item *it = &rr->items[i];

                if (it->flags != FLAG_SYMLINK ||
                    !restore_takes(it->domain, rr->system, rr->preserve))
                        continue;
                if (asprintf(&p, "%s/%s/%s", rr->stage, it->domain, it->rel) < 0)
                        return -ENOMEM;
                if (symlink(it->target, p) < 0)
                        return restore_bad_tree(rr, -errno);
        }
        return 0;
}

/* Domains the device keeps: moved over from the live tree just before the swap. */
static void restore_keep_domains(RestoreRun *rr) {
        _cleanup_(closep) int lfd = open(rr->live, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char **dn = NULL;
        size_t nd = 0;

        if (lfd < 0 || list_dir(lfd, &dn, &nd) < 0)
                return;
        for (size_t i = 0; i < nd; i++) {
                _cleanup_(freep) char *from = NULL, *to = NULL;

                if (restore_takes(dn[i], rr->system, rr->preserve))
                        continue;
                if (asprintf(&from, "%s/%s", rr->live, dn[i]) < 0 ||
                    asprintf(&to, "%s/%s", rr->stage, dn[i]) < 0)
                        break;
                (void) rm_rf(to);
                if (rename(from, to) < 0)
                        log_warn("%s: restore: cannot keep '%s': %m", rr->s->udid, from);
        }
        free_names(dn, nd);
}

/* Build the new tree in the stage and swap it in with one renameat2(RENAME_EXCHANGE); the
 * stage then holds the old content (or, on failure, the half-made new one). */
static int restore_fill_stage(RestoreRun *rr) {
        int r;

        r = restore_make_dirs(rr);
        if (r == 0)
                r = restore_fetch_files(rr);
        if (r == 0)
                r = restore_make_symlinks(rr);
        if (r != 0)
                return r;
        restore_keep_domains(rr);

        if (renameat2(AT_FDCWD, rr->stage, AT_FDCWD, rr->live, RENAME_EXCHANGE) < 0) {
                if (errno != ENOENT || rename(rr->stage, rr->live) < 0) {
                        r = -errno;
                        log_warn("%s: restore: cannot swap in the new content: %m", rr->s->udid);
                        return restore_bad_tree(rr, r);
                }
        }
        return 0;
}

/* Restore: fetch the metadata of <source>/, check it (finished Status.plist, readable
 * Manifest.plist and Manifest.db, password), fetch every file into a staging tree inside the
 * profile, keep the domains the options preserve, and swap the tree in with one
 * renameat2(RENAME_EXCHANGE). Any failure leaves the device's content as it was. */
int restore_run(Session *s, plist_t req, const char *source, Result *res) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        plist_t opts = plist_dict_get_item(req, "Options");
        const char *profile = s->device->profile_dir;
        RestoreRun rr = {
                .s = s,
                .res = res,
                .source = source,
                .system = plist_dict_bool(opts, "RestoreSystemFiles", false),
                .preserve = plist_dict_bool(opts, "RestorePreserveSettings", true),
        };
        int r;

        s->reboot_pending = false;
        r = device_read_info(s->device, &info);
        if (r < 0)
                return result_set(res, 100, mb_error(100, "Error reading device info", NULL));

        r = restore_check(&rr, opts, info);
        if (r == 0)
                r = restore_stage_new(&rr, profile);
        /* fault stall: the metadata came, the files never do (a cable pull mid-restore);
         * the live tree stays as it was. */
        if (r == 0 && s->faults.stall) {
                (void) rm_rf(rr.stage);
                r = stall(s);
        }
        if (r == 0) {
                r = restore_fill_stage(&rr);
                (void) rm_rf(rr.stage); /* the old content, after the exchange */
        }
        if (r == 0) {
                s->reboot_pending = plist_dict_bool(opts, "RestoreShouldReboot", true);
                log_info("%s: restored %zu entries from '%s'", s->udid, rr.n_items, source);
                result_set(res, 0, NULL);
        }
        fetch_clear(rr.f, ELEMENTSOF(rr.f));
        items_free(rr.items, rr.n_items);
        keybag_done(&rr.kb);
        free(rr.stage);
        free(rr.live);
        return r < 0 ? r : 0;
}
