/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of the emulator's mobilebackup2 device side (backup.c).
 *
 * The pure parts are tested table-driven: fileIDs (including the well-known ones of
 * sms.db and AddressBook.sqlitedb), path checks, `fault` argument parsing, the MBFile
 * archive (round trip and what libplist sees in it), the Manifest.db schema, and both raw
 * file-stream directions of protocols.md §3.5 over a socketpair.
 *
 * Then a small host of our own (written here from protocols.md, independent of backup.c and
 * of lib/) drives serve_mobilebackup2() over a socketpair: full backup, incremental after a
 * mutate (only changed files travel; a duplicated file comes by DLMessageCopyItem), restore
 * into a second profile, Info, Hello without a common version, a zero-length Manifest.plist,
 * too little free space, disk-full-purge (DLMessagePurgeDiskSpace, which Debian's
 * idevicebackup2 cannot answer), and a cable pull after N files.
 *
 * backup*.c are included so their static helpers can be tested; the rest of the emulator comes
 * from libemu.a.
 */
#include "backup.c"
#include "backup-manifest.c"
#include "backup-run.c"
#include "backup-stream.c"

#include <pthread.h>
#include <sys/socket.h>

#define ASSERT_TRUE(expr)                                                                          \
        do {                                                                                       \
                if (!(expr)) {                                                                     \
                        fprintf(stderr, "FAIL: %s at %s:%d\n", #expr, __FILE__, __LINE__);         \
                        return -1;                                                                 \
                }                                                                                  \
        } while (0)

#define ASSERT_EQ(a, b)                                                                            \
        do {                                                                                       \
                long long _a = (long long) (a), _b = (long long) (b);                              \
                if (_a != _b) {                                                                    \
                        fprintf(stderr, "FAIL: %s == %s (%lld != %lld) at %s:%d\n", #a, #b, _a,    \
                                _b, __FILE__, __LINE__);                                           \
                        return -1;                                                                 \
                }                                                                                  \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a = (a), *_b = (b);                                                   \
                if (!_a || !_b || strcmp(_a, _b) != 0) {                                           \
                        fprintf(stderr, "FAIL: %s == %s ('%s' != '%s') at %s:%d\n", #a, #b,        \
                                _a ?: "(null)", _b ?: "(null)", __FILE__, __LINE__);               \
                        return -1;                                                                 \
                }                                                                                  \
        } while (0)

#define TEST_UDID "00008030-00000000000000AA"
#define TEST_UDID2 "00008030-00000000000000BB"

static char *tmp_root;

/* ---- pure helpers ---------------------------------------------------------------------- */

static int test_file_id(void) {
        static const struct {
                const char *domain, *rel, *id;
        } table[] = {
                {"HomeDomain", "Library/SMS/sms.db", "3d0d7e5fb2ce288813306e4d4636395e047a3d28"},
                {"HomeDomain", "Library/AddressBook/AddressBook.sqlitedb",
                 "31bb7ba8914766d4ba40d6dfb6113c8b614be442"},
                {"HomeDomain", "", "70765829101933f25994c71bbee6dfd685535bff"},
                {"CameraRollDomain", "Media/DCIM/100APPLE/IMG_0001.JPG",
                 "343e26971dfe9c395c425c0ccf799df63ae6261e"},
        };
        char id[41];

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                file_id(table[i].domain, table[i].rel, id);
                ASSERT_STREQ(id, table[i].id);
                ASSERT_TRUE(file_id_ok(id));
                ASSERT_EQ(hex_byte(id), strtoul((char[]){id[0], id[1], 0}, NULL, 16));
        }
        ASSERT_TRUE(!file_id_ok("3D0D7E5FB2CE288813306E4D4636395E047A3D28"));
        ASSERT_TRUE(!file_id_ok("3d0d7e5fb2ce288813306e4d4636395e047a3d2"));
        ASSERT_TRUE(!file_id_ok("../../../../../../../../../../../etc/passwd"));
        return 0;
}

static int test_paths(void) {
        static const struct {
                const char *s;
                bool rel, domain, udid;
        } table[] = {
                {"", true, false, false},
                {"Library/SMS/sms.db", true, false, false},
                {"HomeDomain", true, true, false},
                {"AppDomain-com.example.app1", true, true, false},
                {"00008030-0000000000000001", true, true, true},
                {"0123456789abcdef0123456789abcdef01234567", true, true, true},
                {"..", false, false, false},
                {".", false, false, false},
                {"a/../b", false, false, false},
                {"a/./b", false, false, false},
                {"/etc/passwd", false, false, false},
                {"a//b", false, false, false},
                {"a/", false, false, false},
                {".hidden", true, false, false},
                {"x/y", true, false, false},
                {"00008030-0000000000000001/..", false, false, false},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (rel_ok(table[i].s) != table[i].rel ||
                    domain_ok(table[i].s) != table[i].domain ||
                    udid_ok(table[i].s) != table[i].udid) {
                        fprintf(stderr, "FAIL: path checks of '%s' at %s:%d\n", table[i].s,
                                __FILE__, __LINE__);
                        return -1;
                }
        }
        ASSERT_TRUE(!rel_ok(NULL) && !domain_ok(NULL) && !udid_ok(NULL));
        return 0;
}

static int test_fault_parse(void) {
        static const struct {
                const char *args; /* MODE [ARG], space separated */
                int r;
                const char *reply; /* prefix */
        } table[] = {
                {"none", 0, "ok fault none"},
                {"passcode 30", 0, "ok fault passcode 30"},
                {"passcode", -EINVAL, "err usage"},
                {"passcode 0", -EINVAL, "err passcode"},
                {"passcode x", -EINVAL, "err passcode"},
                {"encrypted on", 0, "ok"},
                {"encrypted maybe", -EINVAL, "err encrypted"},
                {"restore-password s3cret", 0, "ok fault restore-password s3cret"},
                {"disk-full", 0, "ok"},
                {"disk-full 1", -EINVAL, "err usage"},
                {"disk-full-purge", 0, "ok"},
                {"snapshot-exists", 0, "ok"},
                {"pull-after-bytes 1M", 0, "ok"},
                {"pull-after-files 3", 0, "ok"},
                {"pull-after-files -1", -EINVAL, "err"},
                {"stall", 0, "ok"},
                {"slow 64K", 0, "ok"},
                {"slow 0", -EINVAL, "err slow"},
                {"hostile dotdot", 0, "ok fault hostile dotdot"},
                {"hostile huge-frame", 0, "ok"},
                {"hostile friendly", -EINVAL, "err unknown hostile kind 'friendly'"},
                {"frobnicate", -EINVAL, "err unknown fault mode 'frobnicate'"},
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                char buf[128], reply[256], *argv[4], *save = NULL;
                int argc = 0, r;
                Faults f = {};

                snprintf(buf, sizeof(buf), "%s", table[i].args);
                for (char *t = strtok_r(buf, " ", &save); t && argc < 4;
                     t = strtok_r(NULL, " ", &save))
                        argv[argc++] = t;
                r = faults_parse(&f, argc, argv, reply, sizeof(reply));
                if (r != table[i].r || strncmp(reply, table[i].reply, strlen(table[i].reply))) {
                        fprintf(stderr, "FAIL: fault '%s' gave %d '%s' at %s:%d\n", table[i].args,
                                r, reply, __FILE__, __LINE__);
                        return -1;
                }
        }

        /* Modes add up; none clears them all. */
        {
                Faults f = {};
                char reply[256];
                char *a1[] = {(char *) "pull-after-bytes", (char *) "4K"};
                char *a2[] = {(char *) "slow", (char *) "1M"};
                char *a3[] = {(char *) "hostile", (char *) "nul"};
                char *a4[] = {(char *) "none"};

                ASSERT_EQ(faults_parse(&f, 2, a1, reply, sizeof(reply)), 0);
                ASSERT_EQ(faults_parse(&f, 2, a2, reply, sizeof(reply)), 0);
                ASSERT_EQ(faults_parse(&f, 2, a3, reply, sizeof(reply)), 0);
                ASSERT_TRUE(f.pull_bytes_set && f.pull_bytes == 4096);
                ASSERT_EQ(f.slow_bps, 1024 * 1024);
                ASSERT_EQ(f.hostile, HOSTILE_NUL);
                ASSERT_EQ(faults_parse(&f, 1, a4, reply, sizeof(reply)), 0);
                ASSERT_TRUE(!f.pull_bytes_set && f.slow_bps == 0 && f.hostile == HOSTILE_NONE);
        }
        return 0;
}

/* ---- MBFile ---------------------------------------------------------------------------- */

static int test_mbfile(void) {
        Entry e = {.domain = (char *) "HomeDomain",
                   .rel = (char *) "Library/SMS/sms.db",
                   .flags = FLAG_FILE,
                   .size = 123456,
                   .has_digest = true};
        _cleanup_(freep) char *blob = NULL;
        _cleanup_(plist_freep) plist_t p = NULL;
        uint32_t len = 0;
        MBInfo m = {};
        plist_t objs, root, cls;
        uint64_t uid = 0;

        e.st.st_mode = S_IFREG | 0644;
        e.st.st_mtime = 1700000000;
        e.st.st_ctime = 1700000001;
        e.st.st_ino = 42;
        for (int i = 0; i < 20; i++)
                e.digest[i] = (uint8_t) (i * 7);

        ASSERT_EQ(mbfile_build(&e, false, &blob, &len), 0);
        ASSERT_TRUE(len > 8 && memcmp(blob, "bplist00", 8) == 0);
        ASSERT_EQ(mbfile_parse(blob, len, &m), 0);
        ASSERT_EQ(m.size, 123456);
        ASSERT_EQ(m.mtime, 1700000000);
        ASSERT_EQ(m.mode, S_IFREG | 0644);
        ASSERT_TRUE(m.has_digest && memcmp(m.digest, e.digest, 20) == 0);
        ASSERT_STREQ(m.rel, "Library/SMS/sms.db");
        ASSERT_TRUE(m.target == NULL);
        mbinfo_done(&m);

        /* What any NSKeyedArchiver reader sees. */
        plist_from_bin(blob, len, &p);
        ASSERT_TRUE(p && plist_get_node_type(p) == PLIST_DICT);
        ASSERT_STREQ(plist_dict_str(p, "$archiver"), "NSKeyedArchiver");
        ASSERT_EQ(dict_uint(p, "$version"), 100000);
        objs = plist_dict_get_item(p, "$objects");
        ASSERT_STREQ(plist_str(plist_array_get_item(objs, 0)), "$null");
        root = archive_deref(objs, plist_dict_get_item(plist_dict_get_item(p, "$top"), "root"));
        ASSERT_TRUE(root && plist_get_node_type(root) == PLIST_DICT);
        static const char *const keys[] = {"RelativePath",    "LastModified", "LastStatusChange",
                                           "Birth",           "Size",         "Mode",
                                           "UserID",          "GroupID",      "InodeNumber",
                                           "ProtectionClass", "Flags",        "Digest",
                                           "$class"};
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (!plist_dict_get_item(root, keys[i])) {
                        fprintf(stderr, "FAIL: MBFile lacks %s at %s:%d\n", keys[i], __FILE__,
                                __LINE__);
                        return -1;
                }
        ASSERT_EQ(dict_uint(root, "UserID"), 501);
        ASSERT_EQ(dict_uint(root, "InodeNumber"), 42);
        plist_get_uid_val(plist_dict_get_item(root, "$class"), &uid);
        cls = plist_array_get_item(objs, (uint32_t) uid);
        ASSERT_STREQ(plist_dict_str(cls, "$classname"), "MBFile");

        /* Symlink with Target, encrypted-backup key, directory. */
        {
                Entry l = {.domain = (char *) "HomeDomain",
                           .rel = (char *) "Library/link",
                           .target = (char *) "/private/var/x",
                           .flags = FLAG_SYMLINK};
                _cleanup_(freep) char *b2 = NULL;
                _cleanup_(plist_freep) plist_t p2 = NULL;

                l.st.st_mode = S_IFLNK | 0755;
                ASSERT_EQ(mbfile_build(&l, true, &b2, &len), 0);
                ASSERT_EQ(mbfile_parse(b2, len, &m), 0);
                ASSERT_STREQ(m.target, "/private/var/x");
                ASSERT_EQ(m.mode & S_IFMT, S_IFLNK);
                ASSERT_TRUE(!m.has_digest);
                mbinfo_done(&m);
                free(b2);
                b2 = NULL;
                e.flags = FLAG_DIR;
                ASSERT_EQ(mbfile_build(&e, true, &b2, &len), 0);
                ASSERT_EQ(mbfile_parse(b2, len, &m), 0);
                ASSERT_EQ(m.mode & S_IFMT, S_IFDIR);
                ASSERT_EQ(m.size, 0);
                mbinfo_done(&m);
                free(b2);
                b2 = NULL;
                e.flags = FLAG_FILE;
                ASSERT_EQ(mbfile_build(&e, true, &b2, &len), 0);
                plist_from_bin(b2, len, &p2);
                objs = plist_dict_get_item(p2, "$objects");
                root = archive_deref(objs,
                                     plist_dict_get_item(plist_dict_get_item(p2, "$top"), "root"));
                plist_t key = archive_deref(objs, plist_dict_get_item(root, "EncryptionKey"));
                uint64_t kl = 0;
                ASSERT_TRUE(key && plist_get_data_ptr(plist_dict_get_item(key, "NS.data"), &kl));
                ASSERT_EQ(kl, 44);
        }

        /* Hostile blobs are refused, not trusted. */
        ASSERT_EQ(mbfile_parse(NULL, 0, &m), -EBADMSG);
        ASSERT_EQ(mbfile_parse("bplist00", 8, &m), -EBADMSG);
        ASSERT_EQ(mbfile_parse("<plist>", 7, &m), -EBADMSG);
        {
                _cleanup_(plist_freep) plist_t d = plist_new_dict();
                _cleanup_(freep) char *b = NULL;

                plist_dict_set_item(d, "$objects", plist_new_array());
                plist_to_bin(d, &b, &len);
                ASSERT_EQ(mbfile_parse(b, len, &m), -EBADMSG);
        }
        return 0;
}

/* ---- Manifest.db ----------------------------------------------------------------------- */

static int test_manifest_db(void) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        struct stat fst = {.st_mode = S_IFREG | 0644, .st_mtime = 1};
        struct stat dst = {.st_mode = S_IFDIR | 0755, .st_mtime = 1};
        Scan sc = {};
        Old old = {};
        static const char *const want[] = {
                "index FilesDomainIdx Files",       "index FilesFlagsIdx Files",
                "index FilesRelativePathIdx Files", "table Files Files",
                "table Properties Properties",
        };
        static const char *const cols[] = {"fileID TEXT 1", "domain TEXT 0", "relativePath TEXT 0",
                                           "flags INTEGER 0", "file BLOB 0"};
        size_t k = 0;

        ASSERT_TRUE(asprintf(&path, "%s/Manifest.db", tmp_root) > 0);
        ASSERT_EQ(scan_add(&sc, "HomeDomain", "", FLAG_DIR, &dst, NULL), 0);
        ASSERT_EQ(scan_add(&sc, "HomeDomain", "Library", FLAG_DIR, &dst, NULL), 0);
        ASSERT_EQ(scan_add(&sc, "HomeDomain", "Library/SMS/sms.db", FLAG_FILE, &fst, NULL), 0);
        sc.v[2].has_digest = true;
        sc.v[2].size = 7;
        memset(sc.v[2].digest, 0xab, 20);
        ASSERT_EQ(manifest_db_write(path, &sc, NULL, false), 0);

        ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_prepare_v2(db,
                                     "SELECT type, name, tbl_name FROM sqlite_master WHERE name "
                                     "NOT LIKE 'sqlite_%' ORDER BY type, name",
                                     -1, &st, NULL),
                  SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                char line[256];

                snprintf(line, sizeof(line), "%s %s %s", sqlite3_column_text(st, 0),
                         sqlite3_column_text(st, 1), sqlite3_column_text(st, 2));
                ASSERT_TRUE(k < ELEMENTSOF(want));
                ASSERT_STREQ(line, want[k]);
                k++;
        }
        ASSERT_EQ(k, ELEMENTSOF(want));
        sqlite3_finalize(st);
        st = NULL;

        k = 0;
        ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA table_info(Files)", -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
                char line[128];

                snprintf(line, sizeof(line), "%s %s %d", sqlite3_column_text(st, 1),
                         sqlite3_column_text(st, 2), sqlite3_column_int(st, 5));
                ASSERT_TRUE(k < ELEMENTSOF(cols));
                ASSERT_STREQ(line, cols[k]);
                k++;
        }
        ASSERT_EQ(k, ELEMENTSOF(cols));
        sqlite3_finalize(st);
        st = NULL;

        ASSERT_EQ(sqlite3_prepare_v2(db,
                                     "SELECT fileID, flags FROM Files WHERE domain = "
                                     "'HomeDomain' AND relativePath = 'Library/SMS/sms.db'",
                                     -1, &st, NULL),
                  SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        ASSERT_STREQ((const char *) sqlite3_column_text(st, 0),
                     "3d0d7e5fb2ce288813306e4d4636395e047a3d28");
        ASSERT_EQ(sqlite3_column_int(st, 1), 1);
        sqlite3_finalize(st);
        st = NULL;
        ASSERT_EQ(
                sqlite3_prepare_v2(db, "SELECT count(*) FROM Files WHERE flags = 2", -1, &st, NULL),
                SQLITE_OK);
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        ASSERT_EQ(sqlite3_column_int(st, 0), 2);

        /* And read back as a previous backup. */
        ASSERT_EQ(old_load(path, &old), 0);
        ASSERT_EQ(old.n, 3);
        OldRow *o = old_find(&old, "3d0d7e5fb2ce288813306e4d4636395e047a3d28");
        ASSERT_TRUE(o && o->flags == FLAG_FILE && o->size == 7 && o->has_digest);
        ASSERT_TRUE(old_find_content(&old, sc.v[2].digest, 7) == o);
        ASSERT_TRUE(old_find_content(&old, sc.v[2].digest, 8) == NULL);
        old_done(&old);
        scan_done(&sc);
        ASSERT_EQ(unlink(path), 0);

        /* Not a database: refused. */
        {
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(write(fd, "garbage garbage garbage", 23), 23);
                close(fd);
                ASSERT_EQ(old_load(path, &old), -EBADMSG);
                unlink(path);
        }
        return 0;
}

/* ---- raw streams over a socketpair ----------------------------------------------------- */

typedef struct Peer {
        Conn conn;
        int r;
        char *err;
        /* upload test */
        char names[4][128];
        size_t sizes[4];
        uint8_t digest[4][20];
        size_t n;
} Peer;

static int peer_read_u32(Peer *p, uint32_t *v) {
        return read_u32(&p->conn, v);
}

/* Host side of DLMessageUploadFiles, written from protocols.md §3.5. */
static void *upload_host(void *arg) {
        Peer *p = arg;
        _cleanup_(plist_freep) plist_t msg = NULL;
        uint8_t buf[65536];

        p->r = plistio_recv(&p->conn, EMU_PLIST_MAX, &msg);
        if (p->r < 0 || !plist_str(plist_array_get_item(msg, 0)) ||
            strcmp(plist_str(plist_array_get_item(msg, 0)), "DLMessageUploadFiles") != 0) {
                p->err = (char *) "no DLMessageUploadFiles";
                return NULL;
        }
        for (;;) {
                uint32_t l1, l2, n;
                uint8_t code;
                EVP_MD_CTX *c;

                if (peer_read_u32(p, &l1) < 0 || l1 > 4096) {
                        p->err = (char *) "bad L1";
                        return NULL;
                }
                if (l1 == 0)
                        break;
                if (conn_read_full(&p->conn, buf, l1) < 0 || peer_read_u32(p, &l2) < 0 ||
                    l2 >= sizeof(p->names[0]) || conn_read_full(&p->conn, p->names[p->n], l2) < 0) {
                        p->err = (char *) "bad names";
                        return NULL;
                }
                p->names[p->n][l2] = 0;
                c = EVP_MD_CTX_new();
                EVP_DigestInit_ex(c, EVP_sha1(), NULL);
                for (;;) {
                        if (peer_read_u32(p, &n) < 0 || n == 0 ||
                            conn_read_full(&p->conn, &code, 1) < 0) {
                                p->err = (char *) "bad block";
                                EVP_MD_CTX_free(c);
                                return NULL;
                        }
                        if (code != CODE_FILE_DATA)
                                break;
                        if (n - 1 > BLOCK_MAX) {
                                p->err = (char *) "block larger than announced maximum";
                                EVP_MD_CTX_free(c);
                                return NULL;
                        }
                        for (uint32_t left = n - 1; left > 0;) {
                                uint32_t k = left > sizeof(buf) ? sizeof(buf) : left;
                                if (conn_read_full(&p->conn, buf, k) < 0) {
                                        EVP_MD_CTX_free(c);
                                        return NULL;
                                }
                                EVP_DigestUpdate(c, buf, k);
                                p->sizes[p->n] += k;
                                left -= k;
                        }
                }
                EVP_DigestFinal_ex(c, p->digest[p->n], NULL);
                EVP_MD_CTX_free(c);
                if (code != CODE_SUCCESS || n != 1) {
                        p->err = (char *) "bad terminator";
                        return NULL;
                }
                if (++p->n == 4)
                        break;
        }
        {
                plist_t a = dl_new("DLMessageStatusResponse");
                plist_array_append_item(a, plist_new_uint(0));
                plist_array_append_item(a, plist_new_string(DL_EMPTY));
                plist_array_append_item(a, plist_new_dict());
                p->r = plistio_send(&p->conn, a, true);
                plist_free(a);
        }
        return NULL;
}

static int socket_pair(Conn *a, Conn *b) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        *a = (Conn){.fd = sv[0]};
        *b = (Conn){.fd = sv[1]};
        return 0;
}

static int sha1_buf(const void *p, size_t n, uint8_t out[20]) {
        return EVP_Digest(p, n, out, NULL, EVP_sha1(), NULL) == 1 ? 0 : -EIO;
}

static int test_upload_stream(void) {
        const size_t big = 2 * BLOCK_MAX + 12345;
        _cleanup_(freep) char *path = NULL;
        _cleanup_(freep) uint8_t *data = malloc(big);
        Device dev = {.udid = (char *) TEST_UDID, .attached = true};
        Conn dc;
        Session s = {.conn = &dc, .device = &dev, .udid = (char *) TEST_UDID};
        Uploader u = {.s = &s, .buf = malloc(OUT_CAP)};
        Peer host = {};
        pthread_t t;
        uint8_t dg[20], want[20];
        uint64_t size = 0;
        int fd, r;

        ASSERT_TRUE(data && u.buf);
        for (size_t i = 0; i < big; i++)
                data[i] = (uint8_t) ((i * 2654435761u) >> 13);
        ASSERT_TRUE(asprintf(&path, "%s/upload.bin", tmp_root) > 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, data, big), big);
        ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
        ASSERT_EQ(socket_pair(&dc, &host.conn), 0);
        ASSERT_EQ(pthread_create(&t, NULL, upload_host, &host), 0);

        r = up_begin_batch(&u, big + 5, 5);
        if (r >= 0)
                r = up_file_fd(&u, "/.b/1/HomeDomain/big", TEST_UDID "/Snapshot/aa/big", fd, dg,
                               &size);
        if (r >= 0)
                r = up_file_mem(&u, "empty", TEST_UDID "/Snapshot/empty", "", 0);
        if (r >= 0)
                r = up_file_mem(&u, "small", TEST_UDID "/Snapshot/small", "hello", 5);
        if (r >= 0)
                r = up_end_batch(&u);
        pthread_join(t, NULL);
        close(fd);
        uploader_done(&u);
        close(dc.fd);
        close(host.conn.fd);
        unlink(path);

        if (host.err)
                fprintf(stderr, "host: %s\n", host.err);
        ASSERT_EQ(r, 0);
        ASSERT_TRUE(!host.err);
        ASSERT_EQ(host.n, 3);
        ASSERT_STREQ(host.names[0], TEST_UDID "/Snapshot/aa/big");
        ASSERT_STREQ(host.names[1], TEST_UDID "/Snapshot/empty");
        ASSERT_STREQ(host.names[2], TEST_UDID "/Snapshot/small");
        ASSERT_EQ(host.sizes[0], big);
        ASSERT_EQ(host.sizes[1], 0);
        ASSERT_EQ(host.sizes[2], 5);
        ASSERT_EQ(size, big);
        ASSERT_EQ(sha1_buf(data, big, want), 0);
        ASSERT_TRUE(memcmp(dg, want, 20) == 0);
        ASSERT_TRUE(memcmp(host.digest[0], want, 20) == 0);
        ASSERT_EQ(u.files, 3);
        ASSERT_EQ(dev.stats.files_sent, 3);
        return 0;
}

typedef struct DownHost {
        Conn conn;
        int mode; /* 0 good, 1 name too long, 2 unknown block code */
        char *err;
} DownHost;

static int put_u32(Conn *c, uint32_t v) {
        uint32_t be = htonl(v);

        return conn_write_full(c, &be, 4);
}

static int put_block(Conn *c, uint8_t code, const char *p, size_t n) {
        int r = put_u32(c, (uint32_t) n + 1);

        if (r >= 0)
                r = conn_write_full(c, &code, 1);
        if (r >= 0 && n)
                r = conn_write_full(c, p, n);
        return r;
}

static int put_name(Conn *c, const char *s) {
        int r = put_u32(c, (uint32_t) strlen(s));

        return r < 0 ? r : conn_write_full(c, s, strlen(s));
}

/* Host side of DLMessageDownloadFiles, as protocols.md §3.5 describes libimobiledevice. */
static void *download_host(void *arg) {
        DownHost *h = arg;
        _cleanup_(plist_freep) plist_t msg = NULL;
        plist_t paths, a, ms, e;
        const char *p0, *p1, *p2;

        if (plistio_recv(&h->conn, EMU_PLIST_MAX, &msg) < 0) {
                h->err = (char *) "no request";
                return NULL;
        }
        paths = plist_array_get_item(msg, 1);
        p0 = plist_str(plist_array_get_item(paths, 0));
        p1 = plist_str(plist_array_get_item(paths, 1));
        p2 = plist_str(plist_array_get_item(paths, 2));
        if (!p0 || !p1 || !p2 || plist_array_get_size(paths) != 3) {
                h->err = (char *) "bad request";
                return NULL;
        }
        if (h->mode == 1) {
                (void) put_u32(&h->conn, 5000);
                return NULL;
        }
        (void) put_name(&h->conn, p0);
        (void) put_block(&h->conn, CODE_FILE_DATA, "abc", 3);
        if (h->mode == 2) {
                (void) put_block(&h->conn, 0x42, "?", 1);
                return NULL;
        }
        (void) put_block(&h->conn, CODE_FILE_DATA, "defg", 4);
        (void) put_block(&h->conn, CODE_SUCCESS, NULL, 0);
        (void) put_name(&h->conn, p1);
        (void) put_block(&h->conn, CODE_SUCCESS, NULL, 0);
        (void) put_name(&h->conn, p2);
        (void) put_block(&h->conn, CODE_ERROR_LOCAL, "No such file or directory", 25);
        (void) put_u32(&h->conn, 0);

        a = dl_new("DLMessageStatusResponse");
        ms = plist_new_dict();
        e = plist_new_dict();
        plist_dict_set_item(e, "DLFileErrorCode", plist_new_uint((uint64_t) -6));
        plist_dict_set_item(e, "DLFileErrorString", plist_new_string("No such file or directory"));
        plist_dict_set_item(ms, p2, e);
        plist_array_append_item(a, plist_new_uint((uint64_t) -13));
        plist_array_append_item(a, plist_new_string("Multi status"));
        plist_array_append_item(a, ms);
        (void) plistio_send(&h->conn, a, true);
        plist_free(a);
        return NULL;
}

static int test_download_stream(void) {
        for (int mode = 0; mode < 3; mode++) {
                Device dev = {.udid = (char *) TEST_UDID, .attached = true};
                Conn dc;
                Session s = {.conn = &dc, .device = &dev, .udid = (char *) TEST_UDID};
                DownHost h = {.mode = mode};
                static const char *const names[] = {"a", "b", "c"};
                Fetch f[3] = {};
                pthread_t t;
                int r;

                for (int i = 0; i < 3; i++) {
                        ASSERT_TRUE(asprintf(&f[i].remote, TEST_UDID "/%s", names[i]) > 0);
                        ASSERT_TRUE(asprintf(&f[i].local, "%s/dl-%s", tmp_root, names[i]) > 0);
                }
                ASSERT_EQ(socket_pair(&dc, &h.conn), 0);
                ASSERT_EQ(pthread_create(&t, NULL, download_host, &h), 0);
                r = fetch_files(&s, f, 3, 1);
                if (mode > 0)
                        shutdown(h.conn.fd, SHUT_RDWR);
                pthread_join(t, NULL);
                close(dc.fd);
                close(h.conn.fd);
                ASSERT_TRUE(!h.err);
                if (mode > 0) {
                        /* A name longer than 4096 or an unknown block code: protocol error. */
                        ASSERT_EQ(r, -EBADMSG);
                        fetch_clear(f, 3);
                        continue;
                }
                ASSERT_EQ(r, 0);
                ASSERT_TRUE(f[0].received && f[0].size == 7);
                ASSERT_TRUE(f[1].received && f[1].size == 0);
                ASSERT_TRUE(!f[2].received);
                ASSERT_STREQ(f[2].error, "No such file or directory");
                {
                        _cleanup_(freep) char *buf = NULL;
                        size_t len = 0;

                        ASSERT_EQ(read_file(f[0].local, 100, &buf, &len), 0);
                        ASSERT_EQ(len, 7);
                        ASSERT_TRUE(memcmp(buf, "abcdefg", 7) == 0);
                }
                ASSERT_EQ(access(f[1].local, F_OK), 0);
                ASSERT_TRUE(access(f[2].local, F_OK) < 0);
                ASSERT_EQ(dev.stats.files_received, 2);
                for (int i = 0; i < 3; i++)
                        unlink(f[i].local);
                fetch_clear(f, 3);
        }
        return 0;
}

/* ---- a small host of our own, and serve_mobilebackup2() --------------------------------- */

typedef struct Host {
        Conn conn;
        const char *root; /* backup root directory */
        uint64_t freespace;
        unsigned purges, copies, uploads, downloads, moves, removes;
        int64_t code; /* final ErrorCode, -1 if none */
        char *desc;
        bool eof;
        const char *fail;
} Host;

static char *host_path(Host *h, const char *rel) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s", h->root, rel) < 0)
                return NULL;
        return p;
}

static int mkdir_p(const char *path) {
        _cleanup_(freep) char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++)
                if (*s == '/') {
                        *s = 0;
                        if (mkdir(p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        return mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int host_status(Host *h, int64_t code, const char *text, plist_t payload) {
        _cleanup_(plist_freep) plist_t a = dl_new("DLMessageStatusResponse");

        plist_array_append_item(a, plist_new_uint((uint64_t) code));
        plist_array_append_item(a, plist_new_string(text ?: DL_EMPTY));
        plist_array_append_item(a, payload ?: plist_new_string(DL_EMPTY));
        return plistio_send(&h->conn, a, true);
}

static int host_send_files(Host *h, plist_t msg) {
        plist_t paths = plist_array_get_item(msg, 1), errs = plist_new_dict();
        static uint8_t buf[32768];
        int r = 0;

        h->downloads++;
        for (uint32_t i = 0; r >= 0 && i < plist_array_get_size(paths); i++) {
                const char *rel = plist_str(plist_array_get_item(paths, i));
                _cleanup_(freep) char *p = rel ? host_path(h, rel) : NULL;
                int fd;

                if (!p)
                        continue;
                r = put_name(&h->conn, rel);
                fd = open(p, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        plist_t e = plist_new_dict();

                        plist_dict_set_item(e, "DLFileErrorCode", plist_new_uint((uint64_t) -6));
                        plist_dict_set_item(e, "DLFileErrorString",
                                            plist_new_string("No such file or directory"));
                        plist_dict_set_item(errs, rel, e);
                        if (r >= 0)
                                r = put_block(&h->conn, CODE_ERROR_LOCAL,
                                              "No such file or directory", 25);
                        continue;
                }
                for (;;) {
                        ssize_t k = read(fd, buf, sizeof(buf));
                        if (k <= 0 || r < 0)
                                break;
                        r = put_block(&h->conn, CODE_FILE_DATA, (char *) buf, (size_t) k);
                }
                close(fd);
                if (r >= 0)
                        r = put_block(&h->conn, CODE_SUCCESS, NULL, 0);
        }
        if (r >= 0)
                r = put_u32(&h->conn, 0);
        if (r < 0) {
                plist_free(errs);
                return r;
        }
        if (plist_dict_get_size(errs) == 0) {
                plist_free(errs);
                return host_status(h, 0, NULL, plist_new_dict());
        }
        return host_status(h, -13, "Multi status", errs);
}

static int host_receive_files(Host *h) {
        static uint8_t buf[65536];

        for (;;) {
                _cleanup_(freep) char *dev = NULL, *dst = NULL, *p = NULL;
                _cleanup_(closep) int fd = -1;
                uint32_t l1, l2, n;
                uint8_t code;
                int r;

                r = read_u32(&h->conn, &l1);
                if (r < 0)
                        return r;
                if (l1 == 0)
                        break;
                if (l1 > 4096 || !(dev = calloc(1, l1 + 1)) ||
                    conn_read_full(&h->conn, dev, l1) < 0 || read_u32(&h->conn, &l2) < 0 ||
                    l2 > 4096 || !(dst = calloc(1, l2 + 1)) ||
                    conn_read_full(&h->conn, dst, l2) < 0)
                        return -EBADMSG;
                p = host_path(h, dst);
                fd = p ? open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
                if (fd < 0) {
                        h->fail = "cannot create an uploaded file";
                        return -EIO;
                }
                for (;;) {
                        if (read_u32(&h->conn, &n) < 0 || n == 0 ||
                            conn_read_full(&h->conn, &code, 1) < 0)
                                return -EBADMSG;
                        if (code != CODE_FILE_DATA)
                                break;
                        for (uint32_t left = n - 1; left > 0;) {
                                uint32_t k = left > sizeof(buf) ? sizeof(buf) : left;
                                if (conn_read_full(&h->conn, buf, k) < 0 ||
                                    write(fd, buf, k) != (ssize_t) k)
                                        return -EIO;
                                left -= k;
                        }
                }
                if (code != CODE_SUCCESS)
                        return -EBADMSG;
                h->uploads++;
        }
        return host_status(h, 0, NULL, plist_new_dict());
}

static int copy_file(const char *from, const char *to) {
        _cleanup_(freep) char *buf = NULL;
        size_t len = 0;
        int fd, r;

        r = read_file(from, 1u << 30, &buf, &len);
        if (r < 0)
                return r;
        fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write(fd, buf, len) == (ssize_t) len ? 0 : -EIO;
        close(fd);
        return r;
}

/* The host's DL loop; ends at the final DLMessageProcessMessage (then says goodbye) or EOF. */
static int host_loop(Host *h) {
        for (;;) {
                _cleanup_(plist_freep) plist_t msg = NULL;
                const char *name;
                int r;

                r = plistio_recv(&h->conn, EMU_PLIST_MAX, &msg);
                if (r < 0) {
                        h->eof = true;
                        return 0;
                }
                name = plist_str(plist_array_get_item(msg, 0));
                if (!name)
                        return -EBADMSG;
                if (strcmp(name, "DLMessageDownloadFiles") == 0)
                        r = host_send_files(h, msg);
                else if (strcmp(name, "DLMessageUploadFiles") == 0)
                        r = host_receive_files(h);
                else if (strcmp(name, "DLMessageGetFreeDiskSpace") == 0)
                        r = host_status(h, 0, NULL, plist_new_uint(h->freespace));
                else if (strcmp(name, "DLMessagePurgeDiskSpace") == 0) {
                        h->purges++;
                        r = host_status(h, -1, "Operation not supported", plist_new_dict());
                } else if (strcmp(name, "DLMessageCreateDirectory") == 0) {
                        _cleanup_(freep) char *p =
                                host_path(h, plist_str(plist_array_get_item(msg, 1)));
                        r = host_status(h, p && mkdir_p(p) >= 0 ? 0 : -1, NULL, NULL);
                } else if (strcmp(name, "DLMessageMoveItems") == 0) {
                        plist_t pairs = plist_array_get_item(msg, 1);
                        plist_dict_iter it = NULL;
                        char *key = NULL;
                        plist_t val = NULL;
                        int st = 0;

                        h->moves++;
                        plist_dict_new_iter(pairs, &it);
                        for (;;) {
                                _cleanup_(freep) char *from = NULL, *to = NULL;

                                key = NULL;
                                plist_dict_next_item(pairs, it, &key, &val);
                                if (!key)
                                        break;
                                from = host_path(h, key);
                                to = host_path(h, plist_str(val));
                                free(key);
                                (void) rm_rf(to);
                                if (rename(from, to) < 0)
                                        st = -6;
                        }
                        free(it);
                        r = host_status(h, st, NULL, plist_new_dict());
                } else if (strcmp(name, "DLMessageRemoveItems") == 0) {
                        plist_t paths = plist_array_get_item(msg, 1);

                        h->removes++;
                        for (uint32_t i = 0; i < plist_array_get_size(paths); i++) {
                                _cleanup_(freep) char *p =
                                        host_path(h, plist_str(plist_array_get_item(paths, i)));
                                if (p)
                                        (void) rm_rf(p);
                        }
                        r = host_status(h, 0, NULL, plist_new_dict());
                } else if (strcmp(name, "DLMessageCopyItem") == 0) {
                        _cleanup_(freep) char *from =
                                host_path(h, plist_str(plist_array_get_item(msg, 1)));
                        _cleanup_(freep) char *to =
                                host_path(h, plist_str(plist_array_get_item(msg, 2)));

                        h->copies++;
                        r = host_status(h, from && to && copy_file(from, to) >= 0 ? 0 : -6, NULL,
                                        plist_new_dict());
                } else if (strcmp(name, "DLMessageProcessMessage") == 0) {
                        plist_t d = plist_array_get_item(msg, 1);
                        plist_t n = plist_dict_get_item(d, "ErrorCode");
                        uint64_t v = 0;

                        if (!n || plist_get_node_type(n) != PLIST_UINT)
                                return -EBADMSG;
                        plist_get_uint_val(n, &v);
                        h->code = (int64_t) v;
                        free(h->desc);
                        h->desc = plist_dict_str(d, "ErrorDescription")
                                          ? strdup(plist_dict_str(d, "ErrorDescription"))
                                          : NULL;
                        return 0;
                } else
                        return -EBADMSG;
                if (r < 0) {
                        char b;

                        if (r == -ECONNRESET || r == -EPIPE ||
                            recv(h->conn.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
                                h->eof = true; /* the cable went in the middle of it */
                                return 0;
                        }
                }
                if (r < 0)
                        return r;
        }
}

static plist_t host_request(const char *name, const char *target, const char *source,
                            plist_t opts) {
        plist_t d = plist_new_dict();

        plist_dict_set_item(d, "MessageName", plist_new_string(name));
        plist_dict_set_item(d, "TargetIdentifier", plist_new_string(target));
        plist_dict_set_item(d, "SourceIdentifier", plist_new_string(source));
        if (opts)
                plist_dict_set_item(d, "Options", opts);
        return d;
}

/* Version exchange, Hello with versions, then request (consumed; NULL: Hello only). */
static int host_session(Host *h, const double *versions, size_t n_versions, plist_t request) {
        _cleanup_(plist_freep) plist_t req = request, m = NULL, hello = NULL;
        plist_t a, d, v;
        uint64_t maj = 0;
        int r;

        h->code = -1;
        r = plistio_recv(&h->conn, EMU_PLIST_MAX, &m);
        if (r < 0)
                return r;
        if (!plist_str(plist_array_get_item(m, 0)) ||
            strcmp(plist_str(plist_array_get_item(m, 0)), "DLMessageVersionExchange") != 0)
                return -EBADMSG;
        plist_get_uint_val(plist_array_get_item(m, 1), &maj);
        if (maj != 400)
                return -EBADMSG;
        plist_free(m);
        m = NULL;
        a = dl_new("DLMessageVersionExchange");
        plist_array_append_item(a, plist_new_string("DLVersionsOk"));
        plist_array_append_item(a, plist_new_uint(400));
        r = plistio_send(&h->conn, a, true);
        plist_free(a);
        if (r < 0 || (r = plistio_recv(&h->conn, EMU_PLIST_MAX, &m)) < 0)
                return r;
        if (strcmp(plist_str(plist_array_get_item(m, 0)) ?: "", "DLMessageDeviceReady") != 0)
                return -EBADMSG;

        a = dl_new("DLMessageProcessMessage");
        d = plist_new_dict();
        v = plist_new_array();
        for (size_t i = 0; i < n_versions; i++)
                plist_array_append_item(v, plist_new_real(versions[i]));
        plist_dict_set_item(d, "MessageName", plist_new_string("Hello"));
        plist_dict_set_item(d, "SupportedProtocolVersions", v);
        plist_array_append_item(a, d);
        r = plistio_send(&h->conn, a, true);
        plist_free(a);
        if (r < 0 || (r = plistio_recv(&h->conn, EMU_PLIST_MAX, &hello)) < 0)
                return r;
        d = plist_array_get_item(hello, 1);
        h->code = (int64_t) dict_uint(d, "ErrorCode");
        if (!req || h->code != 0)
                goto bye;
        v = plist_dict_get_item(d, "ProtocolVersion");
        if (!v || plist_get_node_type(v) != PLIST_REAL)
                return -EBADMSG;

        h->code = -1; /* from now on: the request's final answer */
        a = dl_new("DLMessageProcessMessage");
        plist_array_append_item(a, TAKE_PTR(req));
        r = plistio_send(&h->conn, a, true);
        plist_free(a);
        if (r < 0)
                return r;
        r = host_loop(h);
        if (r < 0 || h->eof)
                return r;
bye:
        a = dl_new("DLMessageDisconnect");
        plist_array_append_item(a, plist_new_string(DL_EMPTY));
        (void) plistio_send(&h->conn, a, true);
        plist_free(a);
        return 0;
}

typedef struct DevRun {
        Conn conn;
        Device *d;
} DevRun;

static void *device_main(void *arg) {
        DevRun *x = arg;
        ServiceCtx ctx = {.device = x->d, .name = "com.apple.mobilebackup2"};

        serve_mobilebackup2(&x->conn, &ctx);
        conn_unregister(&x->conn);
        shutdown(x->conn.fd, SHUT_RDWR);
        return NULL;
}

static int run(Device *d, Host *h, const char *root, const double *versions, size_t nv,
               plist_t request) {
        DevRun x = {.d = d};
        pthread_t t;
        int r;

        free(h->desc);
        *h = (Host){.root = root, .freespace = h->freespace ?: (1ull << 40)};
        r = socket_pair(&x.conn, &h->conn);
        if (r < 0)
                return r;
        r = conn_register(&x.conn, d);
        if (r >= 0)
                r = pthread_create(&t, NULL, device_main, &x) ? -EAGAIN : 0;
        if (r < 0) {
                plist_free(request);
                close(x.conn.fd);
                close(h->conn.fd);
                return r;
        }
        r = host_session(h, versions, nv, request);
        if (r < 0)
                shutdown(h->conn.fd, SHUT_RDWR);
        pthread_join(t, NULL);
        close(x.conn.fd);
        close(h->conn.fd);
        if (h->fail)
                fprintf(stderr, "host: %s\n", h->fail);
        return r;
}

static const double v21[] = {2.0, 2.1};

static int backup(Device *d, Host *h, const char *root, bool full) {
        plist_t opts = NULL;

        if (full) {
                opts = plist_new_dict();
                plist_dict_set_item(opts, "ForceFullBackup", plist_new_bool(1));
        }
        return run(d, h, root, v21, 2, host_request("Backup", d->udid, d->udid, opts));
}

/* A digest of a whole tree: names, types, contents and link targets, in sorted order. */
static int tree_hash(EVP_MD_CTX *c, int fd, const char *rel, unsigned *files) {
        char **names = NULL;
        size_t n = 0;
        int r = list_dir(fd, &names, &n);

        for (size_t i = 0; r >= 0 && i < n; i++) {
                struct stat st;
                char p[PATH_MAX];

                snprintf(p, sizeof(p), "%s/%s", rel, names[i]);
                if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                EVP_DigestUpdate(c, p, strlen(p) + 1);
                if (S_ISDIR(st.st_mode)) {
                        int cfd = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        EVP_DigestUpdate(c, "d", 1);
                        r = cfd < 0 ? -errno : tree_hash(c, cfd, p, files);
                        if (cfd >= 0)
                                close(cfd);
                } else if (S_ISREG(st.st_mode)) {
                        int ffd = openat(fd, names[i], O_RDONLY | O_CLOEXEC);
                        uint8_t h[20];
                        uint64_t size;

                        r = ffd < 0 ? -errno : hash_fd(ffd, h, &size);
                        if (ffd >= 0)
                                close(ffd);
                        EVP_DigestUpdate(c, "f", 1);
                        EVP_DigestUpdate(c, h, 20);
                        (*files)++;
                } else if (S_ISLNK(st.st_mode)) {
                        char t[PATH_MAX];
                        ssize_t k = readlinkat(fd, names[i], t, sizeof(t));
                        EVP_DigestUpdate(c, "l", 1);
                        if (k > 0)
                                EVP_DigestUpdate(c, t, (size_t) k);
                }
        }
        free_names(names, n);
        return r;
}

static int tree_digest(const char *dir, char out[41], unsigned *files) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *c = EVP_MD_CTX_new();
        _cleanup_(closep) int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint8_t h[20];
        int r;

        *files = 0;
        if (fd < 0)
                return -errno;
        if (!c || EVP_DigestInit_ex(c, EVP_sha1(), NULL) != 1)
                return -ENOMEM;
        r = tree_hash(c, fd, "", files);
        if (r < 0)
                return r;
        EVP_DigestFinal_ex(c, h, NULL);
        hex40(h, out);
        return 0;
}

static bool files_equal(const char *a, const char *b) {
        _cleanup_(freep) char *x = NULL, *y = NULL;
        size_t xl = 0, yl = 0;

        return read_file(a, 1u << 30, &x, &xl) >= 0 && read_file(b, 1u << 30, &y, &yl) >= 0 &&
               xl == yl && memcmp(x, y, xl) == 0;
}

/* Every regular file of the profile is in the backup through Manifest.db, byte-identical,
 * and nothing else is. */
static int verify_backup(const char *root, const char *udid, const char *profile) {
        _cleanup_(freep) char *dbp = NULL, *status = NULL;
        _cleanup_(sqlite3_closep) sqlite3 *db = NULL;
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *q = NULL, *cnt = NULL;
        _cleanup_(plist_freep) plist_t sp = NULL;
        Scan sc = {};
        size_t files = 0, stored = 0;
        int bad = 0;

        ASSERT_TRUE(asprintf(&dbp, "%s/%s/Manifest.db", root, udid) > 0);
        ASSERT_TRUE(asprintf(&status, "%s/%s/Status.plist", root, udid) > 0);
        {
                _cleanup_(freep) char *buf = NULL;
                size_t len = 0;
                ASSERT_EQ(read_file(status, 1 << 20, &buf, &len), 0);
                plist_from_memory(buf, (uint32_t) len, &sp);
                ASSERT_STREQ(plist_dict_str(sp, "SnapshotState"), "finished");
        }
        ASSERT_EQ(sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
        ASSERT_EQ(sqlite3_prepare_v2(db,
                                     "SELECT flags FROM Files WHERE fileID = ? AND domain = ? "
                                     "AND relativePath = ?",
                                     -1, &q, NULL),
                  SQLITE_OK);
        ASSERT_EQ(scan_profile(profile, &sc), 0);
        for (size_t i = 0; i < sc.n; i++) {
                Entry *e = &sc.v[i];
                char a[PATH_MAX], b[PATH_MAX];

                sqlite3_reset(q);
                sqlite3_bind_text(q, 1, e->id, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 2, e->domain, -1, SQLITE_STATIC);
                sqlite3_bind_text(q, 3, e->rel, -1, SQLITE_STATIC);
                if (sqlite3_step(q) != SQLITE_ROW || sqlite3_column_int(q, 0) != e->flags) {
                        fprintf(stderr, "not in Manifest.db: %s %s\n", e->domain, e->rel);
                        bad++;
                        continue;
                }
                if (e->flags != FLAG_FILE)
                        continue;
                files++;
                snprintf(a, sizeof(a), "%s/backup/%s/%s", profile, e->domain, e->rel);
                snprintf(b, sizeof(b), "%s/%s/%.2s/%s", root, udid, e->id, e->id);
                if (!files_equal(a, b)) {
                        fprintf(stderr, "content differs: %s %s\n", e->domain, e->rel);
                        bad++;
                }
        }
        scan_done(&sc);
        ASSERT_EQ(bad, 0);
        ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM Files WHERE flags = 1", -1, &cnt,
                                     NULL),
                  SQLITE_OK);
        ASSERT_EQ(sqlite3_step(cnt), SQLITE_ROW);
        ASSERT_EQ(sqlite3_column_int64(cnt, 0), files);
        /* No leftovers: the xx/ directories hold exactly the files. */
        for (unsigned i = 0; i < 256; i++) {
                char p[PATH_MAX];
                char **names = NULL;
                size_t n = 0;
                int fd;

                snprintf(p, sizeof(p), "%s/%s/%02x", root, udid, i);
                fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                if (list_dir(fd, &names, &n) >= 0)
                        free_names(names, n);
                close(fd);
                stored += n;
        }
        ASSERT_EQ(stored, files);
        {
                char p[PATH_MAX];
                snprintf(p, sizeof(p), "%s/%s/Snapshot", root, udid);
                ASSERT_TRUE(access(p, F_OK) < 0);
        }
        return 0;
}

/* Lets the test play the user: wait for the prompt, then type the passcode. */
static void *user_unlocks(void *arg) {
        Device *d = arg;
        char reply[256], *argv[] = {(char *) "wait-passcode", (char *) "30"};

        emu_lock();
        backup_fault_command(d, 2, argv, reply, sizeof(reply));
        if (strncmp(reply, "ok", 2) == 0) {
                d->locked = false;
                emu_broadcast();
        }
        emu_unlock();
        return NULL;
}

static int set_fault(Device *d, const char *mode, const char *arg) {
        char reply[256], *argv[] = {(char *) mode, (char *) arg};

        emu_lock();
        backup_fault_command(d, arg ? 2 : 1, argv, reply, sizeof(reply));
        emu_unlock();
        if (strncmp(reply, "ok", 2) != 0) {
                fprintf(stderr, "fault %s: %s\n", mode, reply);
                return -EINVAL;
        }
        return 0;
}

static int test_protocol(void) {
        _cleanup_(freep) char *p1 = NULL, *p2 = NULL, *root = NULL, *dup = NULL;
        GenOptions g = {.seed = 7, .files = 24, .bytes = 400 * 1024, .photos = 2, .apps = 1};
        Device d1 = {.udid = (char *) TEST_UDID, .attached = true, .mux_id = 1};
        Device d2 = {.udid = (char *) TEST_UDID2, .attached = true, .mux_id = 2};
        Host h = {};
        char want[41], got[41];
        unsigned nf1 = 0, nf2 = 0;
        uint64_t files;

        ASSERT_TRUE(asprintf(&p1, "%s/p1", tmp_root) > 0);
        ASSERT_TRUE(asprintf(&p2, "%s/p2", tmp_root) > 0);
        ASSERT_TRUE(asprintf(&root, "%s/host", tmp_root) > 0);
        ASSERT_EQ(profile_generate(p1, &g), 0);
        g.seed = 8;
        ASSERT_EQ(profile_generate(p2, &g), 0);
        ASSERT_EQ(mkdir(root, 0755), 0);
        d1.profile_dir = p1;
        d2.profile_dir = p2;

        /* Hello without a common version: ErrorCode 1. */
        ASSERT_EQ(run(&d1, &h, root, (const double[]){3.0}, 1, NULL), 0);
        ASSERT_EQ(h.code, 1);
        ASSERT_EQ(run(&d1, &h, root, v21, 2, NULL), 0);
        ASSERT_EQ(h.code, 0);

        /* Info with no backup: Status.plist is missing. */
        ASSERT_EQ(run(&d1, &h, root, v21, 2, host_request("Info", TEST_UDID, TEST_UDID, NULL)), 0);
        ASSERT_EQ(h.code, 4);

        /* Full backup. */
        ASSERT_EQ(backup(&d1, &h, root, true), 0);
        if (h.code)
                fprintf(stderr, "backup: %s\n", h.desc ?: "");
        ASSERT_EQ(h.code, 0);
        ASSERT_EQ(verify_backup(root, TEST_UDID, p1), 0);
        ASSERT_EQ(tree_digest(p1, want, &nf1), 0);
        ASSERT_EQ(h.purges, 0);
        files = d1.stats.files_sent;
        {
                Scan sc = {};
                size_t n = 0;
                ASSERT_EQ(scan_profile(p1, &sc), 0);
                for (size_t i = 0; i < sc.n; i++)
                        n += sc.v[i].flags == FLAG_FILE;
                scan_done(&sc);
                ASSERT_EQ(h.uploads, n + 3);
                ASSERT_EQ(files, n + 3);
        }

        /* Info and List of a Manifest.db-era backup: 205, the device wants Manifest.mbdb. */
        ASSERT_EQ(run(&d1, &h, root, v21, 2, host_request("List", TEST_UDID, TEST_UDID, NULL)), 0);
        ASSERT_EQ(h.code, 205);
        ASSERT_TRUE(h.desc && strstr(h.desc, TEST_UDID "/Manifest.mbdb"));

        /* Incremental after a mutate and a duplicated file: only the changes travel, the
         * duplicate by DLMessageCopyItem. */
        {
                MutateOptions mo = {.seed = 3, .change = 2, .add = 1, .del = 1};
                Scan sc = {};
                char a[PATH_MAX];

                ASSERT_EQ(profile_mutate(p1, &mo), 0);
                ASSERT_EQ(scan_profile(p1, &sc), 0);
                for (size_t i = 0; i < sc.n && !dup; i++)
                        if (sc.v[i].flags == FLAG_FILE &&
                            strcmp(sc.v[i].domain, "HomeDomain") == 0) {
                                snprintf(a, sizeof(a), "%s/backup/%s/%s", p1, sc.v[i].domain,
                                         sc.v[i].rel);
                                ASSERT_TRUE(asprintf(&dup, "%s/backup/HomeDomain/dup-of-a-file",
                                                     p1) > 0);
                        }
                scan_done(&sc);
                ASSERT_TRUE(dup);
                ASSERT_EQ(copy_file(a, dup), 0);
        }
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 0);
        ASSERT_EQ(verify_backup(root, TEST_UDID, p1), 0);
        ASSERT_EQ(h.copies, 1);
        ASSERT_EQ(h.uploads, 2 + 1 + 3);
        ASSERT_EQ(d1.stats.files_sent - files, 2 + 1 + 3);
        ASSERT_EQ(h.removes, 2); /* the deleted file, then Snapshot */

        /* Nothing changed: only the metadata travels. */
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 0);
        ASSERT_EQ(h.uploads, 3);
        ASSERT_EQ(verify_backup(root, TEST_UDID, p1), 0);

        /* Restore into the second device, no reboot: its backup/ is the first's. */
        ASSERT_EQ(tree_digest(p1, want, &nf1), 0);
        {
                plist_t o = plist_new_dict();
                plist_dict_set_item(o, "RestoreSystemFiles", plist_new_bool(1));
                plist_dict_set_item(o, "RestorePreserveSettings", plist_new_bool(0));
                plist_dict_set_item(o, "RestoreShouldReboot", plist_new_bool(0));
                ASSERT_EQ(run(&d2, &h, root, v21, 2,
                              host_request("Restore", TEST_UDID2, TEST_UDID, o)),
                          0);
        }
        if (h.code)
                fprintf(stderr, "restore: %s\n", h.desc ?: "");
        ASSERT_EQ(h.code, 0);
        {
                char a[PATH_MAX], b[PATH_MAX];
                snprintf(a, sizeof(a), "%s/backup", p1);
                snprintf(b, sizeof(b), "%s/backup", p2);
                ASSERT_EQ(tree_digest(a, want, &nf1), 0);
                ASSERT_EQ(tree_digest(b, got, &nf2), 0);
                ASSERT_STREQ(got, want);
                ASSERT_EQ(nf1, nf2);
                ASSERT_EQ(d2.mux_id, 2);

                /* A wrong password (fault restore-password) is 207, and nothing changes. */
                ASSERT_EQ(set_fault(&d2, "restore-password", "right"), 0);
                plist_t o = plist_new_dict();
                plist_dict_set_item(o, "RestoreSystemFiles", plist_new_bool(1));
                plist_dict_set_item(o, "Password", plist_new_string("wrong"));
                ASSERT_EQ(run(&d2, &h, root, v21, 2,
                              host_request("Restore", TEST_UDID2, TEST_UDID, o)),
                          0);
                ASSERT_EQ(h.code, 207);
                ASSERT_EQ(set_fault(&d2, "none", NULL), 0);

                /* What a phone refuses, each before a file of the backup is fetched, and
                 * nothing changes: a backup of a newer iOS (202, our choice of code) and
                 * one that does not fit its DiskFree (105). */
                {
                        static const struct {
                                const char *line;
                                unsigned code;
                                const char *words;
                        } refusals[] = {
                                {"ProductVersion=12.0\n", 202, "older iOS 12.0"},
                                {"DiskFree=1K\n", 105, "Insufficient free disk space"},
                        };
                        char ini[PATH_MAX], saved[PATH_MAX];

                        snprintf(ini, sizeof(ini), "%s/device.ini", p2);
                        snprintf(saved, sizeof(saved), "%s/device.ini.saved", root);
                        ASSERT_EQ(copy_file(ini, saved), 0);
                        for (size_t i = 0; i < ELEMENTSOF(refusals); i++) {
                                FILE *f = fopen(ini, "ae");
                                uint64_t fetched = d2.stats.files_received;

                                ASSERT_TRUE(f && fputs(refusals[i].line, f) >= 0 &&
                                            fclose(f) == 0);
                                o = plist_new_dict();
                                plist_dict_set_item(o, "RestoreSystemFiles", plist_new_bool(1));
                                ASSERT_EQ(run(&d2, &h, root, v21, 2,
                                              host_request("Restore", TEST_UDID2, TEST_UDID,
                                                           o)),
                                          0);
                                ASSERT_EQ(h.code, refusals[i].code);
                                ASSERT_TRUE(h.desc && strstr(h.desc, refusals[i].words));
                                /* Only the metadata came: Status, Manifest (2), Info. */
                                ASSERT_TRUE(d2.stats.files_received - fetched <= 4);
                                ASSERT_EQ(tree_digest(b, got, &nf2), 0);
                                ASSERT_STREQ(got, want);
                                ASSERT_EQ(copy_file(saved, ini), 0);
                        }
                }

                /* With reboot (the default): the device comes back with a new DeviceID. */
                o = plist_new_dict();
                plist_dict_set_item(o, "RestoreSystemFiles", plist_new_bool(1));
                ASSERT_EQ(run(&d2, &h, root, v21, 2,
                              host_request("Restore", TEST_UDID2, TEST_UDID, o)),
                          0);
                ASSERT_EQ(h.code, 0);
                ASSERT_TRUE(d2.mux_id != 2 && d2.attached);
                ASSERT_EQ(((BackupState *) d2.backup_state)->reboots, 1);
                ASSERT_EQ(tree_digest(b, got, &nf2), 0);
                ASSERT_STREQ(got, want);
        }

        /* The failures. */
        ASSERT_EQ(set_fault(&d1, "disk-full-purge", NULL), 0);
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 105);
        ASSERT_EQ(h.purges, 1);
        ASSERT_EQ(set_fault(&d1, "none", NULL), 0);

        h.freespace = 1024 * 1024; /* the host is short: 105 without purging */
        ASSERT_EQ(backup(&d1, &h, root, true), 0);
        ASSERT_EQ(h.code, 105);
        ASSERT_EQ(h.purges, 0);
        h.freespace = 0;

        ASSERT_EQ(set_fault(&d1, "snapshot-exists", NULL), 0);
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 3);
        emu_lock();
        backup_on_reboot(&d1);
        emu_unlock();
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 0);

        ASSERT_EQ(set_fault(&d1, "passcode", "1"), 0);
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 208);
        ASSERT_TRUE(!d1.locked);
        {
                pthread_t t;
                ASSERT_EQ(set_fault(&d1, "passcode", "30"), 0);
                ASSERT_EQ(pthread_create(&t, NULL, user_unlocks, &d1), 0);
                ASSERT_EQ(backup(&d1, &h, root, false), 0);
                pthread_join(t, NULL);
                ASSERT_EQ(h.code, 0);
        }
        ASSERT_EQ(set_fault(&d1, "none", NULL), 0);

        /* Cable pull after 2 files: the host sees the stream end, the device is gone. */
        ASSERT_EQ(set_fault(&d1, "pull-after-files", "2"), 0);
        ASSERT_EQ(backup(&d1, &h, root, true), 0);
        ASSERT_TRUE(h.eof && h.code == -1);
        ASSERT_TRUE(!d1.attached);
        ASSERT_EQ(set_fault(&d1, "none", NULL), 0);
        emu_lock();
        device_attach(&d1);
        emu_unlock();
        /* pull-after-files 0 and pull-after-bytes 0: gone before the first file is out. */
        for (int i = 0; i < 2; i++) {
                ASSERT_EQ(set_fault(&d1, i ? "pull-after-bytes" : "pull-after-files", "0"), 0);
                ASSERT_EQ(backup(&d1, &h, root, true), 0);
                ASSERT_TRUE(h.eof && h.code == -1 && h.uploads == 0 && !d1.attached);
                ASSERT_EQ(set_fault(&d1, "none", NULL), 0);
                emu_lock();
                device_attach(&d1);
                emu_unlock();
        }
        /* The half-made Snapshot does not stop the next backup. */
        ASSERT_EQ(backup(&d1, &h, root, false), 0);
        ASSERT_EQ(h.code, 0);
        ASSERT_EQ(verify_backup(root, TEST_UDID, p1), 0);

        /* Setup not finished: 212. */
        {
                char ini[PATH_MAX];
                FILE *f;

                snprintf(ini, sizeof(ini), "%s/device.ini", p1);
                f = fopen(ini, "ae");
                ASSERT_TRUE(f);
                fputs("SetupDone=no\n", f);
                fclose(f);
                ASSERT_EQ(backup(&d1, &h, root, false), 0);
                ASSERT_EQ(h.code, 212);
        }

        /* A zero-length Manifest.plist (an interrupted host): 205, as phones say it. */
        {
                char mp[PATH_MAX], ini[PATH_MAX];
                FILE *f;

                snprintf(ini, sizeof(ini), "%s/device.ini", p1);
                f = fopen(ini, "ae");
                ASSERT_TRUE(f);
                fputs("SetupDone=yes\n", f);
                fclose(f);
                snprintf(mp, sizeof(mp), "%s/%s/Manifest.plist", root, TEST_UDID);
                ASSERT_EQ(truncate(mp, 0), 0);
                ASSERT_EQ(backup(&d1, &h, root, true), 0);
                ASSERT_EQ(h.code, 205);
                ASSERT_TRUE(h.desc && strstr(h.desc, "zero-length"));
        }

        free(h.desc);
        backup_state_free(&d1);
        backup_state_free(&d2);
        return 0;
}

/* Not pass/fail: how fast the device side can produce the upload stream (file read, SHA-1,
 * block framing, socket writes) into a host that only drains it. BACKUP_BENCH_MB sets the
 * size (default 256; 0 skips it, as valgrind runs do). */
static void *drain(void *arg) {
        Conn *c = arg;
        static uint8_t buf[1 << 20];

        while (conn_read_some(c, buf, sizeof(buf)) > 0)
                ;
        return NULL;
}

static int test_upload_rate(void) {
        const char *env = getenv("BACKUP_BENCH_MB");
        uint64_t mb = env ? strtoull(env, NULL, 10) : 256;
        _cleanup_(freep) char *path = NULL;
        _cleanup_(freep) uint8_t *chunk = malloc(BLOCK_MAX);
        Device dev = {.udid = (char *) TEST_UDID, .attached = true};
        Conn dc, hc;
        Session s = {.conn = &dc, .device = &dev, .udid = (char *) TEST_UDID};
        Uploader u = {.s = &s, .buf = malloc(OUT_CAP)};
        struct timespec t0;
        pthread_t t;
        uint64_t size = 0;
        int64_t ms;
        int fd, r = 0;

        if (getenv("VALGRIND") && strcmp(getenv("VALGRIND"), "1") == 0)
                mb = 0;
        if (mb == 0) {
                uploader_done(&u);
                return 0;
        }
        ASSERT_TRUE(chunk && u.buf);
        memset(chunk, 0x5a, BLOCK_MAX);
        ASSERT_TRUE(asprintf(&path, "%s/bench.bin", tmp_root) > 0);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        for (uint64_t i = 0; i < 64 && i < mb; i++)
                ASSERT_EQ(write(fd, chunk, BLOCK_MAX), BLOCK_MAX);
        ASSERT_EQ(socket_pair(&dc, &hc), 0);
        ASSERT_EQ(pthread_create(&t, NULL, drain, &hc), 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint64_t sent = 0; r >= 0 && sent < mb; sent += size >> 20) {
                ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
                r = up_file_fd(&u, "/.b/bench", TEST_UDID "/Snapshot/00/bench", fd, NULL, &size);
        }
        if (r >= 0)
                r = up_flush(&u);
        ms = elapsed_ms(&t0);
        shutdown(dc.fd, SHUT_RDWR);
        pthread_join(t, NULL);
        close(dc.fd);
        close(hc.fd);
        close(fd);
        unlink(path);
        uploader_done(&u);
        ASSERT_EQ(r, 0);
        printf("upload stream: %" PRIu64 " MiB in %" PRId64 " ms = %.0f MiB/s (plaintext, "
               "1 MiB blocks, SHA-1 included)\n",
               u.data_bytes >> 20, ms,
               (double) (u.data_bytes >> 20) * 1000.0 / (double) (ms ? ms : 1));
        return 0;
}

static int rm_tmp(void) {
        return rm_rf(tmp_root);
}

/* ---- encryption (backup-crypt.c) -------------------------------------------------------- */

/* Keybag layout and round trip, key blobs, CBC files, and the MBFile's EncryptionKey. */
static int test_crypt(void) {
        static const char *const head[] = {"VERS", "TYPE", "UUID", "HMCK", "WRAP",
                                           "SALT", "ITER", "DPWT", "DPIC", "DPSL"};
        _cleanup_(freep) char *in = NULL, *out = NULL, *blob = NULL;
        Keybag kb = {}, kb2 = {};
        uint8_t key[32], key2[32], kblob[KEY_BLOB_LEN], buf[80];
        uint64_t size = 0;
        uint32_t len = 0;
        size_t o = 0;
        int n = 0, m = 0, fd;

        ASSERT_EQ(keybag_new("pw one", &kb), 0);
        ASSERT_EQ(kb.blob_len, 200 + 11 * 108);
        for (size_t i = 0; i < ELEMENTSOF(head); i++) {
                ASSERT_TRUE(memcmp(kb.blob + o, head[i], 4) == 0);
                o += 8 + ntohl(*(uint32_t *) (kb.blob + o + 4));
        }
        ASSERT_EQ(ntohl(*(uint32_t *) (kb.blob + 8)), 4);  /* VERS */
        ASSERT_EQ(ntohl(*(uint32_t *) (kb.blob + 20)), 1); /* TYPE backup */
        ASSERT_TRUE(memcmp(kb.blob + o, "UUID", 4) == 0);  /* the first class */
        ASSERT_TRUE(memcmp(kb.blob + o + 24, "CLAS", 4) == 0);
        ASSERT_TRUE(memcmp(kb.blob + o + 36 + 8, "\0\0\0\2", 4) == 0); /* WRAP 2 */
        ASSERT_EQ(kb.dpic, backup_kdf_dpic);

        ASSERT_EQ(keybag_unlock(kb.blob, kb.blob_len, "pw one", &kb2), 0);
        for (unsigned c = 1; c <= 11; c++) {
                ASSERT_TRUE(kb2.has_class[c]);
                ASSERT_TRUE(memcmp(kb.class_key[c], kb2.class_key[c], 32) == 0);
        }
        keybag_done(&kb2);
        ASSERT_EQ(keybag_unlock(kb.blob, kb.blob_len, "pw onE", &kb2), -EACCES);
        ASSERT_EQ(keybag_unlock(kb.blob, 100, "pw one", &kb2), -EBADMSG);
        {
                _cleanup_(plist_freep) plist_t fake = fake_keybag();
                const char *d;
                uint64_t dl = 0;

                d = plist_get_data_ptr(fake, &dl);
                ASSERT_EQ(keybag_unlock(d, dl, "pw one", &kb2), -EBADMSG);
        }

        ASSERT_EQ(keybag_new_key(&kb, 2, key, kblob), 0);
        ASSERT_TRUE(memcmp(kblob, "\2\0\0\0", 4) == 0);
        ASSERT_EQ(keybag_open_key(&kb, kblob, key2), 0);
        ASSERT_TRUE(memcmp(key, key2, 32) == 0);
        kblob[0] = 3; /* another class's key does not unwrap it */
        ASSERT_EQ(keybag_open_key(&kb, kblob, key2), -EACCES);
        kblob[0] = 12;
        ASSERT_EQ(keybag_open_key(&kb, kblob, key2), -ENOKEY);
        ASSERT_EQ(keybag_new_key(&kb, 0, key, kblob), -ENOKEY);

        /* 20 bytes: two blocks, the second with 12 bytes of padding, decrypted back. Flipping
         * byte 15 of the first block flips the last padding byte: always -EBADMSG. */
        ASSERT_TRUE(asprintf(&in, "%s/crypt.in", tmp_root) > 0);
        ASSERT_TRUE(asprintf(&out, "%s/crypt.out", tmp_root) > 0);
        {
                _cleanup_(evp_cipher_ctx_freep) EVP_CIPHER_CTX *c = cbc_new(key, true);

                ASSERT_TRUE(c);
                ASSERT_EQ(
                        EVP_EncryptUpdate(c, buf, &n, (const uint8_t *) "hello, twenty bytes!", 20),
                        1);
                ASSERT_EQ(EVP_EncryptFinal_ex(c, buf + n, &m), 1);
                ASSERT_EQ(n + m, 32);
        }
        fd = open(in, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0 && write(fd, buf, 32) == 32);
        close(fd);
        ASSERT_EQ(file_decrypt(in, out, key, &size), 0);
        ASSERT_EQ(size, 20);
        fd = open(out, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && read(fd, buf + 32, 32) == 20 &&
                    memcmp(buf + 32, "hello, twenty bytes!", 20) == 0);
        close(fd);
        buf[15] ^= 1;
        fd = open(in, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && write(fd, buf, 32) == 32);
        close(fd);
        ASSERT_EQ(file_decrypt(in, out, key, &size), -EBADMSG);

        /* The MBFile carries the blob and its class; mbfile_parse() finds it again. */
        {
                Entry e = {.domain = (char *) "HomeDomain",
                           .rel = (char *) "Library/Notes/notes.sqlite",
                           .flags = FLAG_FILE,
                           .size = 5,
                           .has_key = true};
                _cleanup_(plist_freep) plist_t p = NULL;
                MBInfo mi = {};
                plist_t objs, root;

                ASSERT_EQ(keybag_new_key(&kb, 1, key, e.key), 0);
                ASSERT_EQ(mbfile_build(&e, true, &blob, &len), 0);
                ASSERT_EQ(mbfile_parse(blob, len, &mi), 0);
                ASSERT_TRUE(mi.has_key && memcmp(mi.key, e.key, KEY_BLOB_LEN) == 0);
                mbinfo_done(&mi);
                plist_from_bin(blob, len, &p);
                objs = plist_dict_get_item(p, "$objects");
                root = plist_array_get_item(objs, 1);
                ASSERT_EQ(dict_uint(root, "ProtectionClass"), 1);
                ASSERT_EQ(dict_uint(root, "Size"), 5);
        }
        ASSERT_EQ(file_class("00"), 3);
        ASSERT_EQ(file_class("02"), 1);
        ASSERT_EQ(file_class("06"), 4);
        keybag_done(&kb);
        return 0;
}

int main(void) {
        static const struct {
                const char *name;
                int (*fn)(void);
        } tests[] = {
                {"file_id", test_file_id},
                {"paths", test_paths},
                {"fault_parse", test_fault_parse},
                {"mbfile", test_mbfile},
                {"manifest_db", test_manifest_db},
                {"upload_stream", test_upload_stream},
                {"download_stream", test_download_stream},
                {"protocol", test_protocol},
                {"upload_rate", test_upload_rate},
                {"crypt", test_crypt},
        };
        char tmpl[PATH_MAX];
        int failed = 0;

        emu_verbose = getenv("EMU_VERBOSE") ? atoi(getenv("EMU_VERBOSE")) : 0;
        snprintf(tmpl, sizeof(tmpl), "%s/test-backup-XXXXXX", tmp_dir());
        tmp_root = mkdtemp(tmpl);
        if (!tmp_root) {
                fprintf(stderr, "FAIL: mkdtemp at %s:%d\n", __FILE__, __LINE__);
                return 1;
        }
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                int r = tests[i].fn();

                printf("%s %s\n", r < 0 ? "FAIL" : "ok  ", tests[i].name);
                if (r < 0)
                        failed++;
        }
        (void) rm_tmp();
        return failed ? 1 : 0;
}
