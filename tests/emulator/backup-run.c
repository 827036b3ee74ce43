/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated device's Backup request: snapshot, compare with the host's previous
 * backup, upload, move into place, finish, with every fault a real phone has.
 */
#include "backup-internal.h"

/* ---- Backup ---------------------------------------------------------------------------- */

/* The description of an MBErrorDomain code as devices word it; takes underlying. */
char *mb_error(unsigned code, const char *text, char *underlying) {
        _cleanup_(freep) char *u = underlying;
        char *s = NULL;

        if (u) {
                if (asprintf(&s, "%s (MBErrorDomain/%u). Underlying error: %s.", text, code, u) < 0)
                        s = NULL;
        } else if (asprintf(&s, "%s (MBErrorDomain/%u)", text, code) < 0)
                s = NULL;
        return s;
}


int result_set(Result *res, unsigned code, char *desc) {
        res->code = code;
        free(res->desc);
        res->desc = desc;
        return 0;
}

char *no_such_file(const char *path) {
        char *s = NULL;

        if (asprintf(&s, "No such file or directory at path \"%s\" (MBErrorDomain/4)", path) < 0)
                return NULL;
        return s;
}

/* iOS ≥ 16.1 asks for the passcode on every backup. d->locked is the prompt: the `unlock`
 * control command (the user typing it) clears it. 0 unlocked, 1 timed out, < 0 gone. */
int passcode_prompt(Session *s) {
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
int stall(Session *s) {
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
int backup_run(Session *s, plist_t req, Result *res) {
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
