/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated device's Backup request: snapshot, compare with the host's previous
 * backup, upload, move into place, finish, with every fault a real phone has.
 */
#include <openssl/crypto.h>

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

/* Sets the Response of a request: code and desc (taken; NULL for none). Always 0, so that a
 * request can end with "return result_set(...)". */
int result_set(Result *res, unsigned code, char *desc) {
        res->code = code;
        free(res->desc);
        res->desc = desc;
        return 0;
}

/* The underlying error of a missing host file, as devices word it (MBErrorDomain/4); the
 * caller frees it. NULL on ENOMEM. */
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

/* One Backup request on its way: what the steps of backup_run() hand on to each other. Each
 * step returns 0 to go on, 1 when it has set res (the request ends with that Response), or
 * < 0 when the connection is gone or must be dropped. */
typedef struct BackupRun {
        Session *s;             /* borrowed */
        Result *res;            /* borrowed */
        const DeviceInfo *info; /* borrowed */
        const char *profile;    /* borrowed: the device's profile directory */
        bool force_full, encrypted;
        bool crypt;   /* a password is set: encrypted for real (encrypted is true too) */
        bool have_kb; /* kb holds this backup's keybag */
        Keybag kb;
        bool incremental; /* the host's last backup is finished and usable */
        bool have_old;    /* old holds the host's previous Manifest.db */
        Uploader u;
        Scan sc, extra; /* the profile's entries; rows the hostile modes add */
        Old old;
        Fetch f[3];      /* the host's metadata, as fetched */
        uint64_t total;  /* content bytes to upload */
        size_t n_upload; /* entries to upload or copy */
        bool used[256];  /* the fileID prefix directories that get files */
        char **removed;  /* host paths of files gone since the previous backup */
        size_t n_removed;
} BackupRun;

typedef int (*BackupStep)(BackupRun *b);

/* Ends the request with an MBErrorDomain Response; takes underlying. Always 1. */
static int run_fail(BackupRun *b, unsigned code, const char *text, char *underlying) {
        result_set(b->res, code, mb_error(code, text, underlying));
        return 1;
}

/* A step's end on the host's verdict r: < 0 as it is, 0 when the host did it, and ErrorCode
 * 104 with text (1) when it refused. */
static int run_refused(BackupRun *b, int r, const char *text) {
        if (r < 0)
                return r;
        if (r > 0)
                return run_fail(b, 104, text, NULL);
        return 0;
}

/* Before anything travels: the device's own state and the faults that answer at once.
 * 0 with *ret_info set, 1 when res is set, < 0 when the connection must be dropped. */
static int backup_preflight(Session *s, Result *res, DeviceInfo **ret_info) {
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        int r;

        r = device_read_info(s->device, &info);
        if (r < 0) {
                log_warn("%s: cannot read device.ini: %s", s->udid, strerror(-r));
                result_set(res, 100, mb_error(100, "Error reading device info", NULL));
                return 1;
        }
        if (!info->setup_done) {
                result_set(res, 212,
                           mb_error(212, "Unable to backup until Setup is finished", NULL));
                return 1;
        }

        if (s->faults.hostile == HOSTILE_GARBAGE_PLIST || s->faults.hostile == HOSTILE_HUGE_FRAME)
                return hostile_stream(s, s->faults.hostile);

        if (s->faults.passcode_s > 0) {
                r = passcode_prompt(s);
                if (r < 0)
                        return r;
                if (r > 0) {
                        result_set(res, 208, mb_error(208, "Device locked", NULL));
                        return 1;
                }
        }
        if (s->faults.snapshot_exists) {
                result_set(res, 3, mb_error(3, "Failed to create snapshot: File exists", NULL));
                return 1;
        }

        *ret_info = TAKE_PTR(info);
        return 0;
}

/* 1a. What does the host have? A finished Status.plist makes the backup incremental. */
static int backup_read_status(BackupRun *b) {
        _cleanup_(plist_freep) plist_t status = NULL;
        Session *s = b->s;
        int r;

        r = fetch_meta(s, s->udid, (const char *const[]){"Status.plist"}, b->f, 1, 0);
        if (r < 0)
                return r;
        r = load_plist(&b->f[0], &status);
        if (r == -ENODATA || r == -EBADMSG)
                return run_fail(b, 103, "Error reading status", NULL);
        if (r >= 0) {
                const char *state = plist_dict_str(status, "SnapshotState");
                if (state && strcmp(state, "finished") == 0)
                        b->incremental = true;
                else
                        log_info("%s: previous backup unfinished ('%s'): full backup", s->udid,
                                 state ?: "?");
        }
        fetch_clear(b->f, 1);
        return 0;
}

/* An encrypted previous backup: its keybag, opened with the password, becomes this backup's
 * (unchanged files keep their keys), and its Manifest.db is read through ManifestKey.
 * 0, -EACCES (another password), -EBADMSG (no usable keybag, key or database), -ENOMEM. */
static int backup_open_old(BackupRun *b, plist_t manifest) {
        _cleanup_(freep) char *plain = NULL;
        int r;

        r = session_tmp(b->s);
        if (r < 0)
                return r;
        if (asprintf(&plain, "%s/Manifest.db.old", b->s->tmp) < 0) {
                plain = NULL;
                return -ENOMEM;
        }
        r = manifest_db_decrypt(manifest, b->s->password, b->f[1].local, plain, &b->kb);
        if (r < 0)
                return r;
        b->have_kb = true;
        r = old_load(plain, &b->old);
        if (r < 0) {
                keybag_done(&b->kb);
                b->have_kb = false;
                return r == -ENOMEM ? r : -EBADMSG;
        }
        return 0;
}

/* 1c. An encrypted backup without the previous one's keybag gets a new one. */
static int backup_keybag(BackupRun *b) {
        int r;

        if (!b->crypt || b->have_kb)
                return 0;
        r = keybag_new(b->s->password, &b->kb);
        if (r < 0) {
                log_warn("%s: cannot make a keybag: %s", b->s->udid, strerror(-r));
                return run_fail(b, 100, "Error creating keybag", NULL);
        }
        b->have_kb = true;
        return 0;
}

/* 1b. For an incremental backup, Manifest.plist and Manifest.db. A full one still learns the
 * old file list, so that what is gone is removed. */
static int backup_read_manifest(BackupRun *b) {
        static const char *const names[] = {"Manifest.plist", "Manifest.db"};
        _cleanup_(plist_freep) plist_t manifest = NULL;
        Session *s = b->s;
        bool full;
        int r;

        if (!b->incremental)
                return 0;
        r = fetch_meta(s, s->udid, names, b->f, 2, 0);
        if (r < 0)
                return r;
        r = load_plist(&b->f[0], &manifest);
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
                return run_fail(b, 205, "Error reading backup properties", under);
        }
        full = b->force_full || plist_dict_bool(manifest, "IsEncrypted", false) != b->encrypted;
        if (full)
                log_info("%s: %s: full backup", s->udid,
                         b->force_full ? "ForceFullBackup" : "encryption changed");
        if (!b->f[1].received)
                r = -ENOENT;
        else if (b->crypt && plist_dict_bool(manifest, "IsEncrypted", false)) {
                r = backup_open_old(b, manifest);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !full) {
                        /* Another password (or no real keybag): the device starts over. */
                        log_info("%s: the previous backup's keybag does not open with the "
                                 "password: full backup",
                                 s->udid);
                        full = true;
                }
        } else {
                r = old_load(b->f[1].local, &b->old);
                if (r < 0 && plist_dict_get_item(manifest, "ManifestKey")) {
                        /* encrypted for real, and no password now (the fault alone) */
                        log_info("%s: the previous backup is encrypted: full backup", s->udid);
                        full = true;
                }
        }
        if (r >= 0)
                b->have_old = true;
        else if (!full) {
                char *path = NULL, *under = NULL;

                if (r == -ENOENT && asprintf(&path, "%s/Manifest.db", s->udid) >= 0) {
                        under = no_such_file(path);
                        free(path);
                }
                return run_fail(b, 205, "Error reading backup database", under);
        }
        b->incremental = !full;
        return 0;
}

/* 2a. Whether one entry travels. An incremental backup sends only what the host lacks under
 * the entry's fileID, and copies what it has under another one. */
static void backup_plan_entry(BackupRun *b, Entry *e) {
        OldRow *o = b->have_old ? old_find(&b->old, e->id) : NULL;

        if (o)
                o->still_there = true;
        if (e->flags != FLAG_FILE)
                return;
        if (b->incremental) {
                int fd = entry_open(b->profile, e), r;

                if (fd < 0)
                        return; /* vanished: the manifest keeps its stat */
                r = hash_fd(fd, e->digest, &e->size);
                close(fd);
                if (r < 0)
                        return;
                e->has_digest = true;
                if (o && o->flags == FLAG_FILE && o->has_digest && o->size == e->size &&
                    memcmp(o->digest, e->digest, 20) == 0 && (!b->crypt || o->has_key)) {
                        /* the host has exactly this (encrypted: under the key it had) */
                        e->has_key = o->has_key && b->crypt;
                        memcpy(e->key, o->key, KEY_BLOB_LEN);
                        return;
                }
                OldRow *same = old_find_content(&b->old, e->digest, e->size);
                if (same && strcmp(same->id, e->id) != 0 && (!b->crypt || same->has_key)) {
                        memcpy(e->copy_from, same->id, 41);
                        e->has_key = same->has_key && b->crypt;
                        memcpy(e->key, same->key, KEY_BLOB_LEN);
                }
        }
        e->upload = true;
        b->n_upload++;
        if (!e->copy_from[0])
                b->total += e->size;
        b->used[hex_byte(e->id)] = true;
}

/* 2b. The host paths of the files the previous backup had and the profile no longer has. */
static int backup_plan_removed(BackupRun *b) {
        for (size_t i = 0; b->have_old && i < b->old.n; i++)
                if (!b->old.v[i].still_there && b->old.v[i].flags == FLAG_FILE) {
                        char **nv = realloc(b->removed, (b->n_removed + 1) * sizeof(*nv));
                        if (!nv)
                                return -ENOMEM;
                        b->removed = nv;
                        if (asprintf(&b->removed[b->n_removed], "%s/%.2s/%s", b->s->udid,
                                     b->old.v[i].id, b->old.v[i].id) < 0)
                                return -ENOMEM;
                        b->n_removed++;
                }
        return 0;
}

/* 2. What do we have, and what of it must go? */
static int backup_plan(BackupRun *b) {
        Session *s = b->s;
        int r;

        r = scan_profile(b->profile, &b->sc);
        if (r < 0) {
                log_warn("%s: cannot read the backup content: %s", s->udid, strerror(-r));
                return run_fail(b, 100, "Error reading files", NULL);
        }
        for (size_t i = 0; i < b->sc.n; i++)
                backup_plan_entry(b, &b->sc.v[i]);
        r = backup_plan_removed(b);
        if (r < 0)
                return r;
        log_info("%s: %s backup: %zu entries, %zu to send (%" PRIu64 " bytes), %zu removed",
                 s->udid, b->incremental ? "incremental" : "full", b->sc.n, b->n_upload, b->total,
                 b->n_removed);
        return 0;
}

/* 3. Room on the host? (And the disk-full faults, with or without DLMessagePurgeDiskSpace.) */
static int backup_check_space(BackupRun *b) {
        Session *s = b->s;
        uint64_t freespace = 0;
        int64_t st = 0;
        int r;

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
                return r;
        if (s->faults.disk_full == DISK_FULL_PURGE) {
                plist_t m = dl_new("DLMessagePurgeDiskSpace");

                plist_array_append_item(m, plist_new_uint(b->total + SPACE_MARGIN));
                plist_array_append_item(m, plist_new_uint(4));
                r = dl_call(s, m, &st);
                if (r < 0)
                        return r;
                log_info("%s: host answered DLMessagePurgeDiskSpace with %" PRId64, s->udid, st);
        }
        if (s->faults.disk_full != DISK_FULL_NO || (st == 0 && freespace < b->total + SPACE_MARGIN))
                return run_fail(b, 105, "Insufficient free disk space on drive to back up", NULL);
        return 0;
}

/* 4. Snapshot directories: Snapshot/, then Snapshot/xx and xx for every prefix in use. */
static int backup_make_dirs(BackupRun *b) {
        _cleanup_(freep) char *p = NULL;
        Session *s = b->s;
        int r;

        if (asprintf(&p, "%s/Snapshot", s->udid) < 0)
                return -ENOMEM;
        r = dl_create_directory(s, p);
        if (r < 0)
                return r;
        if (r > 0)
                return run_fail(b, 104, "Error creating snapshot directory", NULL);

        for (int pass = 0; pass < 2; pass++)
                for (unsigned i = 0; i < 256; i++) {
                        _cleanup_(freep) char *d = NULL;

                        if (!b->used[i])
                                continue;
                        if (asprintf(&d, pass == 0 ? "%s/Snapshot/%02x" : "%s/%02x", s->udid, i) <
                            0)
                                return -ENOMEM;
                        r = dl_create_directory(s, d);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* 4b. The hostile faults that act inside an otherwise normal backup, before its uploads. */
static int backup_hostile_early(BackupRun *b) {
        int r = hostile_early(b->s, &b->u, b->s->faults.hostile, &b->extra);

        return r < 0 ? r : 0;
}

/* 5a. Copies of what the host already has under another name (DLMessageCopyItem). */
static int backup_copy_known(BackupRun *b) {
        Session *s = b->s;
        int64_t st = 0;
        int r;

        for (size_t i = 0; i < b->sc.n; i++) {
                Entry *e = &b->sc.v[i];
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
                        return r;
                e->done = true;
        }
        return 0;
}

/* backup_upload_entry() of an encrypted backup: a fresh key of the file's class. */
static int backup_upload_entry_enc(BackupRun *b, Entry *e, const char *dst, const char *dev) {
        _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *enc = NULL;
        uint8_t key[32];
        int fd, r;

        r = keybag_new_key(&b->kb, file_class(e->id), key, e->key);
        if (r < 0)
                return r;
        e->has_key = true;
        enc = cbc_new(key, true);
        OPENSSL_cleanse(key, sizeof(key));
        if (!enc)
                return -ENOMEM;
        fd = entry_open(b->profile, e);
        if (fd < 0) {
                /* Gone since the scan: an empty file (one padding block) keeps it whole. */
                r = up_file_mem_enc(&b->u, dev, dst, "", 0, enc);
                e->size = 0;
                e->has_digest = false;
        } else {
                r = up_file_fd_enc(&b->u, dev, dst, fd, enc, e->digest, &e->size);
                e->has_digest = true;
                close(fd);
        }
        return r;
}

/* One file of an upload batch: its content, or an empty file if it went since the scan. */
static int backup_upload_entry(BackupRun *b, Entry *e) {
        Session *s = b->s;
        char dst[128], dev[PATH_MAX + 64];
        int fd, r;

        snprintf(dst, sizeof(dst), "%s/Snapshot/%.2s/%s", s->udid, e->id, e->id);
        snprintf(dev, sizeof(dev), "/.b/1/%s/%s", e->domain, e->rel);
        if (b->crypt)
                return backup_upload_entry_enc(b, e, dst, dev);
        fd = entry_open(b->profile, e);
        if (fd < 0) {
                /* Gone since the scan: an empty file keeps the layout whole. */
                r = up_file_mem(&b->u, dev, dst, "", 0);
                e->size = 0;
                e->has_digest = false;
        } else {
                r = up_file_fd(&b->u, dev, dst, fd, e->digest, &e->size);
                e->has_digest = true;
                close(fd);
        }
        return r;
}

/* 5b. The uploads, in large batches; the stall fault strikes after the first one. */
static int backup_upload(BackupRun *b) {
        Session *s = b->s;
        bool upload_failed = false;
        uint64_t sent = 0;
        int r;

        for (size_t i = 0; i < b->sc.n;) {
                uint64_t batch_bytes = 0;
                size_t j, files = 0;
                bool first = i == 0;

                for (j = i; j < b->sc.n && files < BATCH_FILES && batch_bytes < BATCH_BYTES; j++)
                        if (b->sc.v[j].upload && !b->sc.v[j].done) {
                                files++;
                                batch_bytes += b->sc.v[j].size;
                        }
                if (files == 0)
                        break;
                r = up_begin_batch(&b->u, batch_bytes,
                                   2 + 88.0 * (double) sent / (double) (b->total + 1));
                if (r < 0)
                        return r;
                for (; i < j; i++) {
                        Entry *e = &b->sc.v[i];

                        if (!e->upload || e->done)
                                continue;
                        r = backup_upload_entry(b, e);
                        if (r < 0)
                                return r;
                        e->done = true;
                        sent += e->size;
                }
                r = up_end_batch(&b->u);
                if (r < 0)
                        return r;
                if (r > 0)
                        upload_failed = true;
                if (first && s->faults.stall)
                        return stall(s); /* always < 0 */
        }
        if (s->faults.stall)
                return stall(s);
        if (upload_failed)
                return run_fail(b, 104, "Multiple errors uploading files", NULL);
        return 0;
}

/* 6b. Manifest.db (from db_path), Manifest.plist and Status.plist in one batch, Status.plist
 * (finished) last. */
static int backup_upload_metadata(BackupRun *b, const char *db_path) {
        Session *s = b->s;
        _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *enc = NULL;
        uint8_t mkey_blob[KEY_BLOB_LEN];
        _cleanup_(plist_freep) plist_t mp = NULL;
        _cleanup_(plist_freep) plist_t sp = status_plist_new(!b->incremental, "finished");
        _cleanup_(freep) char *mbuf = NULL, *sbuf = NULL;
        _cleanup_(closep) int fd = open(db_path, O_RDONLY | O_CLOEXEC);
        size_t mlen = 0, slen = 0;
        char dst[128];
        struct stat dbst;
        int r;

        if (b->crypt) {
                /* Manifest.db as a whole, under its own key of class 4 (ManifestKey). */
                uint8_t key[32];

                r = keybag_new_key(&b->kb, MANIFEST_CLASS, key, mkey_blob);
                if (r < 0)
                        return r;
                enc = cbc_new(key, true);
                OPENSSL_cleanse(key, sizeof(key));
                if (!enc)
                        return -ENOMEM;
        }
        mp = manifest_plist_new(b->info, s->udid, b->profile, b->encrypted,
                                s->faults.passcode_s > 0, b->crypt ? &b->kb : NULL,
                                b->crypt ? mkey_blob : NULL);
        if (fd < 0 || fstat(fd, &dbst) < 0 || plist_to_bin_buf(mp, &mbuf, &mlen) < 0 ||
            plist_to_bin_buf(sp, &sbuf, &slen) < 0)
                return -ENOMEM;
        r = up_begin_batch(&b->u, (uint64_t) dbst.st_size + mlen + slen, 90);
        snprintf(dst, sizeof(dst), "%s/Snapshot/Manifest.db", s->udid);
        if (r >= 0 && enc)
                r = up_file_fd_enc(&b->u, "Manifest.db", dst, fd, enc, NULL, NULL);
        else if (r >= 0)
                r = up_file_fd(&b->u, "Manifest.db", dst, fd, NULL, NULL);
        snprintf(dst, sizeof(dst), "%s/Snapshot/Manifest.plist", s->udid);
        if (r >= 0)
                r = up_file_mem(&b->u, "Manifest.plist", dst, mbuf, mlen);
        snprintf(dst, sizeof(dst), "%s/Snapshot/Status.plist", s->udid);
        if (r >= 0)
                r = up_file_mem(&b->u, "Status.plist", dst, sbuf, slen);
        if (r >= 0)
                r = up_end_batch(&b->u);
        return run_refused(b, r, "Multiple errors uploading files");
}

/* 6. Metadata: Manifest.db is written in the session's scratch directory, then sent. */
static int backup_send_metadata(BackupRun *b) {
        _cleanup_(freep) char *db_path = NULL;
        Session *s = b->s;
        int r;

        r = session_tmp(s);
        if (r < 0)
                return r;
        if (asprintf(&db_path, "%s/Manifest.db.new", s->tmp) < 0) {
                db_path = NULL;
                return -ENOMEM;
        }
        r = manifest_db_write(db_path, &b->sc, &b->extra, b->encrypted);
        if (r < 0)
                return run_fail(b, 100, "Error writing manifest", NULL);
        return backup_upload_metadata(b, db_path);
}

/* 6c. hostile move-outside: a DLMessageMoveItems whose target leaves the backup directory. */
static int backup_hostile_move(BackupRun *b) {
        _cleanup_(freep) char *src = NULL, *dst = NULL;
        Session *s = b->s;
        plist_t pairs;
        int r;

        if (s->faults.hostile != HOSTILE_MOVE_OUTSIDE)
                return 0;
        pairs = plist_new_dict();
        if (asprintf(&src, "%s/Snapshot/Status.plist", s->udid) < 0 ||
            asprintf(&dst, "%s/../../" HOSTILE_OUT_MOVED, s->udid) < 0) {
                plist_free(pairs);
                return -ENOMEM;
        }
        /* A copy of Status.plist: the real one still moves into place below. */
        r = up_begin_batch(&b->u, 6, 90);
        if (r >= 0) {
                free(src);
                if (asprintf(&src, "%s/Snapshot/hostile-move", s->udid) < 0)
                        src = NULL;
                r = src ? up_file_mem(&b->u, "/.b/hostile", src, "moved\n", 6) : -ENOMEM;
        }
        if (r >= 0)
                r = up_end_batch(&b->u);
        if (r < 0) {
                plist_free(pairs);
                return r;
        }
        log_info("%s: hostile: moving '%s' to '%s'", s->udid, src, dst);
        plist_dict_set_item(pairs, src, plist_new_string(dst));
        r = dl_move_items(s, pairs, 91);
        return r < 0 ? r : 0;
}

/* 7a. Every uploaded file from Snapshot/ into place, MOVE_BATCH pairs per message. 0, or what
 * the first failed dl_move_items() returned (< 0, or 1 when the host refused). */
static int backup_move_files(BackupRun *b) {
        const Scan *lists[2] = {&b->sc, &b->extra};
        plist_t pairs = plist_new_dict();
        Session *s = b->s;
        size_t k = 0, moved = 0;
        int r;

        for (size_t l = 0; l < 2; l++)
                for (size_t i = 0; i < lists[l]->n; i++) {
                        const Entry *e = &lists[l]->v[i];
                        char src[128], dst[128];

                        if (!e->done)
                                continue;
                        snprintf(src, sizeof(src), "%s/Snapshot/%.2s/%s", s->udid, e->id, e->id);
                        snprintf(dst, sizeof(dst), "%s/%.2s/%s", s->udid, e->id, e->id);
                        plist_dict_set_item(pairs, src, plist_new_string(dst));
                        moved++;
                        if (++k == MOVE_BATCH) {
                                r = dl_move_items(s, pairs,
                                                  90 + 6.0 * (double) moved /
                                                                  (double) (b->n_upload + 1));
                                if (r != 0)
                                        return r;
                                pairs = plist_new_dict();
                                k = 0;
                        }
                }
        if (k > 0)
                return dl_move_items(s, pairs, 96);
        plist_free(pairs);
        return 0;
}

/* 7. Into place: the files, then the metadata with Status.plist last. */
static int backup_move_into_place(BackupRun *b) {
        static const char *const meta[] = {"Manifest.db", "Manifest.plist", "Status.plist"};
        Session *s = b->s;
        int r;

        r = backup_move_files(b);
        if (r == 0) {
                plist_t pairs = plist_new_dict();

                for (size_t i = 0; i < ELEMENTSOF(meta); i++) {
                        char src[128], dst[128];
                        snprintf(src, sizeof(src), "%s/Snapshot/%s", s->udid, meta[i]);
                        snprintf(dst, sizeof(dst), "%s/%s", s->udid, meta[i]);
                        plist_dict_set_item(pairs, src, plist_new_string(dst));
                }
                r = dl_move_items(s, pairs, 97);
        }
        return run_refused(b, r, "Error moving files into place");
}

/* 8. Deleted files, then the Snapshot directory. */
static int backup_remove_old(BackupRun *b) {
        _cleanup_(freep) char *p = NULL;
        Session *s = b->s;
        int r;

        for (size_t i = 0; i < b->n_removed; i += MOVE_BATCH) {
                size_t k = b->n_removed - i > MOVE_BATCH ? MOVE_BATCH : b->n_removed - i;

                r = dl_remove_items(s, b->removed + i, k, 98);
                if (r < 0)
                        return r;
        }
        if (asprintf(&p, "%s/Snapshot", s->udid) < 0)
                return -ENOMEM;
        r = dl_remove_items(s, &p, 1, 99);
        return run_refused(b, r, "Error removing snapshot directory");
}

/* 9. Read back what the host now has, as devices do after a good backup. */
static int backup_read_back(BackupRun *b) {
        static const char *const names[] = {"Status.plist", "Manifest.plist", "Manifest.db"};
        Session *s = b->s;
        Fetch v[3] = {};
        int r;

        for (size_t i = 0; i < 3; i++)
                if (asprintf(&v[i].remote, "%s/%s", s->udid, names[i]) < 0) {
                        fetch_clear(v, 3);
                        return -ENOMEM;
                }
        r = fetch_files(s, v, 3, 100);
        fetch_clear(v, 3);
        return r < 0 ? r : 0;
}

/* The end of every run that got its upload buffer: what `status` shows of it, and the rest
 * freed. */
static void backup_run_done(BackupRun *b) {
        emu_lock();
        {
                BackupState *bs = backup_state(b->s->device);

                if (bs) {
                        bs->last_files = b->u.files;
                        bs->last_bytes = b->u.data_bytes;
                }
        }
        emu_unlock();
        fetch_clear(b->f, ELEMENTSOF(b->f));
        free_names(b->removed, b->n_removed);
        old_done(&b->old);
        scan_done(&b->sc);
        scan_done(&b->extra);
        uploader_done(&b->u);
        keybag_done(&b->kb);
}

/* The backup proper. 0 with res filled (the caller sends the Response), or < 0 when the
 * connection is gone or must be dropped. */
int backup_run(Session *s, plist_t req, Result *res) {
        static const BackupStep steps[] = {
                backup_read_status, /* 1. what does the host have? */
                backup_read_manifest,
                backup_keybag,
                backup_plan,        /* 2. what do we have, and what of it must go? */
                backup_check_space, /* 3. room on the host? */
                backup_make_dirs,   /* 4. Snapshot directories */
                backup_hostile_early,
                backup_copy_known, /* 5. content: copies, then uploads */
                backup_upload,
                backup_send_metadata, /* 6. Manifest.db, Manifest.plist, Status.plist */
                backup_hostile_move,
                backup_move_into_place, /* 7. into place */
                backup_remove_old,      /* 8. deleted files, Snapshot */
                backup_read_back,       /* 9. read back */
        };
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        plist_t opts = plist_dict_get_item(req, "Options");
        BackupRun b = {
                .s = s,
                .res = res,
                .profile = s->device->profile_dir,
                .force_full = plist_dict_bool(opts, "ForceFullBackup", false),
                .encrypted = s->faults.encrypted || s->password,
                .crypt = s->password != NULL,
                .u = {.s = s},
        };
        int r;

        r = backup_preflight(s, res, &info);
        if (r != 0)
                return r < 0 ? r : 0;
        b.info = info;

        b.u.buf = malloc(OUT_CAP);
        if (!b.u.buf)
                return -ENOMEM;
        for (size_t i = 0; r == 0 && i < ELEMENTSOF(steps); i++)
                r = steps[i](&b);
        if (r == 0) {
                log_info("%s: backup done: %" PRIu64 " files, %" PRIu64 " content bytes sent",
                         s->udid, b.u.files, b.u.data_bytes);
                result_set(res, 0, NULL);
        }
        backup_run_done(&b);
        return r < 0 ? r : 0;
}
