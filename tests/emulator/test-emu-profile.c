/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of profile.c: parse_size(), device.ini and Info.ini parsing, and the contract
 * other modules and the benchmarks rely on: gen-profile is deterministic, makes exactly the
 * requested file count and byte total, has odd names and hard-linked twins, and mutate
 * changes, adds and deletes exactly what it is asked to, deterministically. The camera roll
 * is checked with parsers of this file's own (JPEG segments, ISO-BMFF boxes, TIFF IFDs), a
 * test oracle that shares nothing with the generator: EXIF dates, HEIC item locations,
 * photos.tsv's hashes and sizes, Photos.sqlite's rows, and what --photos-* change. App
 * documents likewise: documents.tsv against the tree (hashes computed here), the NFD names,
 * empty files and directories, and what --documents-* and the `doc` command change.
 *
 * Everything happens in a mkdtemp() directory under $TMPDIR (or /tmp) that is removed at
 * the end. Prints "FAIL: <expr> at file:line" for each failed check; exits 0 only if none
 * failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "emu.h"
#include "test-emu-util.h"

static char top[4096];          /* the temporary directory of this run */

/* ---- helpers ------------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b) {
        char *s;

        if (asprintf(&s, "%s/%s", a, b) < 0)
                abort();
        return s;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        if (!f) {
                printf("FAIL: cannot write %s: %s\n", path, strerror(errno));
                exit(EXIT_FAILURE);
        }
        fputs(text, f);
        fclose(f);
}

static void rm_rf(const char *path) {
        (void) nftw(path, emu_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* stderr into a file while f runs, so that warnings can be checked; returns what was
 * written (caller frees). */
static char *capture_stderr(int (*f)(void *), void *userdata, int *ret) {
        char *log = path_join(top, "stderr.log"), *text = NULL;
        int saved, fd;
        FILE *in;
        size_t n = 0;

        fflush(stderr);
        saved = dup(STDERR_FILENO);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (saved < 0 || fd < 0)
                abort();
        dup2(fd, STDERR_FILENO);
        close(fd);

        *ret = f(userdata);

        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);

        in = fopen(log, "re");
        if (!in)
                abort();
        if (getdelim(&text, &n, '\0', in) < 0) {
                free(text);
                text = strdup("");
        }
        fclose(in);
        unlink(log);
        free(log);
        return text;
}

/* One entry of a walked tree: everything that must be identical between two generations. */
typedef struct Node {
        char *path;             /* relative to the walked root */
        mode_t type;
        uint64_t size;
        int64_t mtime;
        uint64_t hash;          /* FNV-1a of the content, regular files only */
        ino_t ino;
        nlink_t nlink;
} Node;

typedef struct Tree {
        Node *v;
        size_t n, allocated;
} Tree;

static Tree *walk_into;
static size_t walk_skip;

static uint64_t hash_file(const char *path) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        unsigned char buf[65536];
        ssize_t k;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return 0;
        while ((k = read(fd, buf, sizeof(buf))) > 0)
                for (ssize_t i = 0; i < k; i++)
                        h = (h ^ buf[i]) * UINT64_C(0x100000001b3);
        close(fd);
        return h;
}

static int walk_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        Tree *t = walk_into;

        if (strlen(path) <= walk_skip)
                return 0;                       /* the root itself */
        if (t->n == t->allocated) {
                t->allocated = t->allocated ? t->allocated * 2 : 256;
                t->v = reallocarray(t->v, t->allocated, sizeof(*t->v));
                if (!t->v)
                        abort();
        }
        t->v[t->n++] = (Node) {
                .path = strdup(path + walk_skip + 1),
                .type = st->st_mode & S_IFMT,
                .size = S_ISREG(st->st_mode) ? (uint64_t) st->st_size : 0,
                .mtime = st->st_mtime,
                .hash = S_ISREG(st->st_mode) ? hash_file(path) : 0,
                .ino = st->st_ino,
                .nlink = st->st_nlink,
        };
        return 0;
}

static int node_compare(const void *a, const void *b) {
        return strcmp(((const Node *) a)->path, ((const Node *) b)->path);
}

/* Every entry beneath root, sorted by path. */
static void tree_walk(const char *root, Tree *t) {
        *t = (Tree) {};
        walk_into = t;
        walk_skip = strlen(root);
        (void) nftw(root, walk_one, 16, FTW_PHYS);
        if (t->n > 0)
                qsort(t->v, t->n, sizeof(*t->v), node_compare);
}

static void tree_free(Tree *t) {
        for (size_t i = 0; i < t->n; i++)
                free(t->v[i].path);
        free(t->v);
        *t = (Tree) {};
}

static const Node *tree_find(const Tree *t, const char *path) {
        Node key = { .path = (char *) path };

        return t->n > 0 ? bsearch(&key, t->v, t->n, sizeof(*t->v), node_compare) : NULL;
}

/* Identical names, types, sizes, contents, link counts and mtimes (inode numbers
 * excluded); says where they differ if verbose. */
static bool tree_equal(const Tree *a, const Tree *b, bool verbose) {
        if (a->n != b->n) {
                if (verbose)
                        printf("trees differ in entry count: %zu vs %zu\n", a->n, b->n);
                return false;
        }
        for (size_t i = 0; i < a->n; i++) {
                const Node *x = &a->v[i], *y = &b->v[i];

                if (strcmp(x->path, y->path) != 0 || x->type != y->type || x->size != y->size ||
                    x->mtime != y->mtime || x->hash != y->hash || x->nlink != y->nlink) {
                        if (verbose)
                                printf("trees differ at '%s' / '%s'\n", x->path, y->path);
                        return false;
                }
        }
        return true;
}

static bool has_prefix(const char *s, const char *p) {
        return strncmp(s, p, strlen(p)) == 0;
}

/* Regular files under backup/ of a walked profile: count and byte total. */
static void backup_totals(const Tree *t, uint64_t *files, uint64_t *bytes) {
        *files = *bytes = 0;
        for (size_t i = 0; i < t->n; i++)
                if (t->v[i].type == S_IFREG && has_prefix(t->v[i].path, "backup/")) {
                        (*files)++;
                        *bytes += t->v[i].size;
                }
}

static char *gen(const char *name, const GenOptions *o) {
        char *dir = path_join(top, name);
        int r = profile_generate(dir, o);

        ASSERT_EQ_INT(r, 0);
        return dir;
}

/* gen-profile --new-phone: the preset clears what a used phone has, keeps who it is; the
 * profile has a small backup of system files only, no photo, app, document, crash report,
 * note or voice memo, and reads back as an activated phone done with its setup. */
static void test_generate_new_phone(void) {
        GenOptions o = { .seed = 17, .name = "New", .files = 90, .bytes = 1u << 20,
                         .photos = 5, .apps = 3, .crashlogs = 2, .contacts = 25, .notes = 4 };
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        AppInfo **apps = NULL;
        size_t n_apps = 9;
        uint64_t files, bytes;
        char *dir;
        Tree t;

        gen_options_new_phone(&o);
        ASSERT_EQ_INT(o.seed, 17);
        ASSERT_STREQ(o.name, "New");
        ASSERT(o.new_phone);
        ASSERT_EQ_INT(o.files, NEW_PHONE_FILES);
        ASSERT_EQ_INT(o.photos + o.apps + o.crashlogs, 0);
        ASSERT_EQ_INT(o.contacts + o.events + o.bookmarks + o.notes + o.recordings, 0);

        dir = gen("new-phone", &o);
        tree_walk(dir, &t);
        backup_totals(&t, &files, &bytes);
        ASSERT_EQ_INT(files, NEW_PHONE_FILES);
        ASSERT_EQ_INT(bytes, NEW_PHONE_BYTES);
        for (size_t i = 0; i < t.n; i++) {
                const char *p = t.v[i].path;

                if (t.v[i].type != S_IFREG)
                        continue;
                if (has_prefix(p, "media/DCIM/") || has_prefix(p, "apps/") ||
                    has_prefix(p, "crash/") || has_prefix(p, "backup/AppDomain") ||
                    has_prefix(p, "backup/MediaDomain/") || strstr(p, "/Notes/") ||
                    strstr(p, "/Recordings/"))
                        printf("new phone has user data: %s\n", p);
                ASSERT(!has_prefix(p, "media/DCIM/") && !has_prefix(p, "apps/") &&
                       !has_prefix(p, "crash/") && !has_prefix(p, "backup/AppDomain") &&
                       !has_prefix(p, "backup/MediaDomain/") && !strstr(p, "/Notes/") &&
                       !strstr(p, "/Recordings/"));
        }
        ASSERT_EQ_INT(profile_read_info(dir, &info), 0);
        ASSERT(info->setup_done);
        ASSERT(!info->find_my);
        ASSERT_EQ_INT(info->sync_contacts, 0);
        ASSERT_EQ_INT(profile_list_apps(dir, &apps, &n_apps), 0);
        ASSERT_EQ_INT(n_apps, 0);
        app_info_free_array(apps, n_apps);
        tree_free(&t);
        rm_rf(dir);
        free(dir);
}

/* ---- parse_size ------------------------------------------------------------------------ */

static void test_parse_size(void) {
        static const struct {
                const char *s;
                int ret;
                uint64_t value;
        } cases[] = {
                { "0", 0, 0 },
                { "123", 0, 123 },
                { "4K", 0, 4096 },
                { "4k", 0, 4096 },
                { "5M", 0, UINT64_C(5) << 20 },
                { "2G", 0, UINT64_C(2) << 30 },
                { "2g", 0, UINT64_C(2) << 30 },
                { "1T", 0, UINT64_C(1) << 40 },
                { "16777215T", 0, UINT64_C(16777215) << 40 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "16777216T", -ERANGE, 0 },
                { "17179869184G", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { "K", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "1KB", -EINVAL, 0 },
                { "1B", -EINVAL, 0 },
                { "1P", -EINVAL, 0 },
                { "1.5G", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "12a", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 0xdeadbeef;
                int r = parse_size(cases[i].s, &v);

                if (r != cases[i].ret || (r == 0 && v != cases[i].value) ||
                    (r < 0 && v != 0xdeadbeef)) {
                        printf("FAIL: parse_size(\"%s\") = %d, %" PRIu64 " (expected %d, %" PRIu64
                               ") at %s:%d\n",
                               cases[i].s, r, v, cases[i].ret, cases[i].value, __FILE__,
                               __LINE__);
                        failures++;
                }
        }
        ASSERT_EQ_INT(parse_size(NULL, NULL), -EINVAL);
}

/* ---- device.ini ---------------------------------------------------------------------- */

static char *ini_dir;

static int read_info_closure(void *userdata) {
        DeviceInfo **i = userdata;

        return profile_read_info(ini_dir, i);
}

/* Write text as ini_dir/device.ini and parse it with stderr captured. */
static int read_info_text(const char *text, DeviceInfo **ret, char **ret_log) {
        char *path = path_join(ini_dir, "device.ini");
        int r;

        write_file(path, text);
        free(path);
        *ret = NULL;
        *ret_log = capture_stderr(read_info_closure, ret, &r);
        return r;
}

static void test_device_ini(void) {
        static const struct {
                const char *text;
                unsigned line;          /* of the error; 0: parses */
        } bad[] = {
                { "[Device]\nBatteryPercent=150\n", 2 },
                { "[Device]\nBatteryPercent=-1\n", 2 },
                { "[Device]\nBatteryCharging=maybe\n", 2 },
                { "[Device]\nDiskTotal=12X\n", 2 },
                { "[Device]\n# ok\nthis line has no equals sign\n", 3 },
                { "Name=outside\n[Device]\n", 1 },
                { "[Device\nName=x\n", 1 },
                { "[Device]\nWiFiAddress=00:11:22:33:44\n", 2 },
                { "[Device]\nUniqueChipID=0x1234\n", 2 },
                { "[Device]\nUniqueChipID=99999999999999999999\n", 2 },
                { "[Device]\nProductType=iPhone\n", 2 },
                { "[Device]\nProductVersion=17.x\n", 2 },
                { "[Device]\nDeviceClass=Toaster\n", 2 },
                { "[Device]\nSerialNumber=abc def\n", 2 },
                { "[Device]\nName=\n", 2 },
                { "[Device]\n=value\n", 2 },
                { "[Device]\nIMEI=12\n", 2 },
        };
        DeviceInfo *i = NULL;
        char *log = NULL;
        int r;

        ini_dir = path_join(top, "ini");
        ASSERT_OR_RETURN(mkdir(ini_dir, 0755) == 0);

        /* A complete file: every key, comments, blanks and CRLF line ends. */
        r = read_info_text("# a test phone\n"
                           "\n"
                           "[Device]\n"
                           "Name = Test Phone ☕\n"
                           "ProductType=iPhone14,5\r\n"
                           "ProductVersion=16.6\n"
                           "BuildVersion=20G75\n"
                           "SerialNumber=F2LXK0Q1N72Q\n"
                           "DeviceClass=iPhone\n"
                           "HardwareModel=D17AP\n"
                           "WiFiAddress=aa:bb:cc:dd:ee:ff\n"
                           "BluetoothAddress=AA:BB:CC:DD:EE:00\n"
                           "PhoneNumber=+1 (555) 010-0001\n"
                           "IMEI=356938035643809\n"
                           "UniqueChipID=1234567890123\n"
                           "BatteryPercent=42\n"
                           "BatteryCharging=yes\n"
                           "DiskTotal=256G\n"
                           "DiskFree=1000M\n"
                           "SetupDone=no\n",
                           &i, &log);
        ASSERT_EQ_INT(r, 0);
        ASSERT_STREQ(log, "");
        free(log);
        ASSERT_OR_RETURN(i);
        ASSERT_STREQ(i->name, "Test Phone ☕");
        ASSERT_STREQ(i->product, "iPhone14,5");
        ASSERT_STREQ(i->ios, "16.6");
        ASSERT_STREQ(i->build, "20G75");
        ASSERT_STREQ(i->serial, "F2LXK0Q1N72Q");
        ASSERT_STREQ(i->device_class, "iPhone");
        ASSERT_STREQ(i->hardware_model, "D17AP");
        ASSERT_STREQ(i->wifi_address, "aa:bb:cc:dd:ee:ff");
        ASSERT_STREQ(i->bt_address, "AA:BB:CC:DD:EE:00");
        ASSERT_STREQ(i->phone_number, "+1 (555) 010-0001");
        ASSERT_STREQ(i->imei, "356938035643809");
        ASSERT_EQ_U64(i->ecid, UINT64_C(1234567890123));
        ASSERT_EQ_INT(i->battery, 42);
        ASSERT(i->charging);
        ASSERT_EQ_U64(i->disk_total, UINT64_C(256) << 30);
        ASSERT_EQ_U64(i->disk_free, UINT64_C(1000) << 20);
        ASSERT(!i->setup_done);
        i = device_info_free(i);
        ASSERT(!i);

        /* Defaults: an empty section; derived values depend on the (default) name only. */
        r = read_info_text("[Device]\n", &i, &log);
        ASSERT_EQ_INT(r, 0);
        free(log);
        ASSERT_OR_RETURN(i);
        ASSERT_STREQ(i->product, "iPhone15,2");
        ASSERT_STREQ(i->ios, "17.5");
        ASSERT_STREQ(i->build, "21F79");
        ASSERT_STREQ(i->device_class, "iPhone");
        ASSERT_STREQ(i->hardware_model, "D73AP");
        ASSERT(i->name && i->serial && strlen(i->serial) == 12);
        ASSERT(i->wifi_address && strlen(i->wifi_address) == 17);
        ASSERT(i->bt_address && strlen(i->bt_address) == 17);
        ASSERT(!i->phone_number);
        ASSERT(!i->imei);
        ASSERT(i->ecid != 0);
        ASSERT_EQ_INT(i->battery, 87);
        ASSERT(!i->charging);
        ASSERT_EQ_U64(i->disk_total, UINT64_C(128) << 30);
        ASSERT_EQ_U64(i->disk_free, UINT64_C(64) << 30);
        ASSERT(i->setup_done);
        i = device_info_free(i);

        /* Derived class and model for an iPad; an empty optional value unsets it. */
        r = read_info_text("[Device]\nProductType=iPad13,4\nPhoneNumber=\n", &i, &log);
        ASSERT_EQ_INT(r, 0);
        free(log);
        ASSERT_OR_RETURN(i);
        ASSERT_STREQ(i->device_class, "iPad");
        ASSERT_STREQ(i->hardware_model, "J517AP");
        ASSERT(!i->phone_number);
        i = device_info_free(i);

        /* Unknown key and section: a warning with file:line, the rest still applies. */
        r = read_info_text("[Device]\nName=A\nColour=red\n"
                           "[Other]\nX=1\n"
                           "[Device]\nBatteryPercent=5\n",
                           &i, &log);
        ASSERT_EQ_INT(r, 0);
        ASSERT(strstr(log, "device.ini:3: unknown key 'Colour', ignoring"));
        ASSERT(strstr(log, "device.ini:4: unknown section '[Other]', ignoring"));
        ASSERT(!strstr(log, "'X'"));
        free(log);
        ASSERT_OR_RETURN(i);
        ASSERT_STREQ(i->name, "A");
        ASSERT_EQ_INT(i->battery, 5);
        i = device_info_free(i);

        /* Bad lines: -EBADMSG, nothing returned, "device.ini:<line>:" logged. */
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                char where[32];

                r = read_info_text(bad[k].text, &i, &log);
                snprintf(where, sizeof(where), "device.ini:%u:", bad[k].line);
                if (r != -EBADMSG || i || !strstr(log, where)) {
                        printf("FAIL: bad[%zu] gave %d, log '%s' (expected -EBADMSG, '%s') at "
                               "%s:%d\n",
                               k, r, log, where, __FILE__, __LINE__);
                        failures++;
                }
                free(log);
                i = device_info_free(i);
        }

        /* DiskFree larger than DiskTotal is inconsistent. */
        r = read_info_text("[Device]\nDiskTotal=1G\nDiskFree=2G\n", &i, &log);
        ASSERT_EQ_INT(r, -EBADMSG);
        free(log);
        i = device_info_free(i);

        /* No device.ini at all. */
        {
                char *p = path_join(ini_dir, "device.ini");

                unlink(p);
                free(p);
        }
        ASSERT_EQ_INT(profile_read_info(ini_dir, &i), -ENOENT);

        rm_rf(ini_dir);
        free(ini_dir);
        ini_dir = NULL;
}

/* ---- gen-profile ----------------------------------------------------------------------- */

static void test_generate_determinism(void) {
        GenOptions o = { .seed = 42, .files = 80, .bytes = (3u << 20) + 12345, .photos = 7,
                         .apps = 3, .crashlogs = 4 };
        char *a = gen("gen-a", &o), *b = gen("gen-b", &o), *c;
        Tree ta, tb, tc;

        o.seed = 43;
        c = gen("gen-c", &o);

        tree_walk(a, &ta);
        tree_walk(b, &tb);
        tree_walk(c, &tc);
        ASSERT(ta.n > 100);
        ASSERT(tree_equal(&ta, &tb, true));
        ASSERT(!tree_equal(&ta, &tc, false));

        /* A different seed changes content, not the layout of the core files. */
        {
                const Node *x = tree_find(&ta, "backup/HomeDomain/Library/SMS/sms.db");
                const Node *y = tree_find(&tc, "backup/HomeDomain/Library/SMS/sms.db");

                ASSERT(x && y && x->hash != y->hash);
        }

        /* Every mtime is on or after the base date 2026-01-01, but the camera roll's: a
         * video's, PNG's or sidecar's mtime is its capture time (2023…2025). */
        for (size_t i = 0; i < ta.n; i++)
                if (!strstr(ta.v[i].path, "DCIM/"))
                        ASSERT(ta.v[i].mtime >= 1767225600);

        tree_free(&ta);
        tree_free(&tb);
        tree_free(&tc);
        rm_rf(a);
        rm_rf(b);
        rm_rf(c);
        free(a);
        free(b);
        free(c);
}

static void test_generate_layout(void) {
        static const struct {
                unsigned files;
                uint64_t bytes;
                unsigned photos, apps, crashlogs;
        } cases[] = {
                { 0, 0, 5, 2, 3 },                      /* the defaults: 50 files, 4 MiB */
                { 60, (3u << 20) + 12345, 7, 3, 4 },
                { 10, 100, 3, 1, 0 },                   /* tiny: many empty files */
                { 3, 1, 0, 0, 0 },                      /* the minimum: the odd names */
                { 40, 64u << 20, 2, 0, 1 },             /* room to spare: the video grows */
                { 1510, 1u << 20, 1500, 1, 0 },         /* the camera roll rolls over */
        };

        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                GenOptions o = { .seed = k, .files = cases[k].files, .bytes = cases[k].bytes,
                                 .photos = cases[k].photos, .apps = cases[k].apps,
                                 .crashlogs = cases[k].crashlogs };
                uint64_t want_files = o.files ?: 50, want_bytes = o.bytes ?: 4u << 20;
                uint64_t files, bytes, photos = 0, crashes = 0, apps = 0, longest = 0;
                bool cafe = false, japanese = false;
                char name[32], *dir;
                Tree t;

                snprintf(name, sizeof(name), "layout-%zu", k);
                dir = gen(name, &o);
                tree_walk(dir, &t);
                backup_totals(&t, &files, &bytes);
                ASSERT_EQ_U64(files, want_files);
                ASSERT_EQ_U64(bytes, want_bytes);

                for (size_t i = 0; i < t.n; i++) {
                        const Node *n = &t.v[i];
                        const char *base = strrchr(n->path, '/');

                        base = base ? base + 1 : n->path;
                        ASSERT(strlen(base) <= 255);
                        ASSERT(strcmp(base, "..") != 0 && strcmp(base, ".") != 0);
                        if (strlen(n->path) > longest)
                                longest = strlen(n->path);
                        cafe = cafe || strstr(n->path, "Café ☕ notes.txt");
                        japanese = japanese || strstr(n->path, "録音 メモ");
                        if (n->type != S_IFREG)
                                continue;
                        if (has_prefix(n->path, "media/DCIM/")) {
                                char *twin = path_join("backup/CameraRollDomain/Media",
                                                       n->path + strlen("media/"));
                                const Node *b = tree_find(&t, twin);

                                photos++;
                                ASSERT(b && b->ino == n->ino && n->nlink == 2);
                                free(twin);
                        }
                        if (has_prefix(n->path, "crash/") && strstr(n->path, ".ips"))
                                crashes++;
                        if (has_prefix(n->path, "apps/") && strstr(n->path, "/Info.ini"))
                                apps++;
                        if (has_prefix(n->path, "apps/") && strstr(n->path, "/Documents/")) {
                                const char *id = n->path + strlen("apps/");
                                const char *rest = strchr(id, '/');
                                char *twin;
                                const Node *b;

                                if (asprintf(&twin, "backup/AppDomain-%.*s%s", (int) (rest - id),
                                             id, rest) < 0)
                                        abort();
                                b = tree_find(&t, twin);
                                ASSERT(b && b->ino == n->ino);
                                free(twin);
                        }
                }
                ASSERT_EQ_U64(photos, o.photos);
                ASSERT_EQ_U64(crashes, o.crashlogs);
                ASSERT_EQ_U64(apps, o.apps);
                ASSERT(cafe);
                ASSERT(japanese);
                ASSERT(longest > 512);
                ASSERT(tree_find(&t, "device.ini"));
                ASSERT(tree_find(&t, "media/Downloads"));
                ASSERT(tree_find(&t, "media/Books"));
                ASSERT(tree_find(&t, "media/iTunes_Control/iTunes"));
                ASSERT(tree_find(&t, "crash/Retired"));
                if (o.photos >= 2) {
                        ASSERT(tree_find(&t, "media/DCIM/100APPLE/IMG_0001.HEIC"));
                        ASSERT(tree_find(&t, "media/DCIM/100APPLE/IMG_0002.MOV"));
                }
                if (o.photos > 1400) {      /* 999 numbers a folder, then the next one */
                        unsigned in101 = 0;

                        for (size_t i = 0; i < t.n; i++) {
                                unsigned num;

                                if (sscanf(t.v[i].path, "media/DCIM/100APPLE/IMG_%4u.", &num) == 1)
                                        ASSERT(num <= 999);
                                if (sscanf(t.v[i].path, "media/DCIM/101APPLE/IMG_%4u.", &num) == 1) {
                                        ASSERT(num >= 1000);
                                        in101++;
                                }
                        }
                        ASSERT(in101 > 0);
                }
                if (o.bytes >= 64u << 20) {     /* the video got the big share */
                        const Node *mov = tree_find(&t, "media/DCIM/100APPLE/IMG_0002.MOV");

                        ASSERT(mov && mov->size > o.bytes / 2);
                }
                tree_free(&t);
                rm_rf(dir);
                free(dir);
        }
}

static void test_generate_refuses(void) {
        GenOptions o = { .seed = 1, .photos = 5, .apps = 2, .crashlogs = 1 };
        char *dir = path_join(top, "refuse"), *file = path_join(dir, "x");
        DeviceInfo *i = NULL;

        /* An existing empty directory is fine, a non-empty one is not. */
        ASSERT_OR_RETURN(mkdir(dir, 0755) == 0);
        write_file(file, "x");
        ASSERT_EQ_INT(profile_generate(dir, &o), -EEXIST);
        unlink(file);
        ASSERT_EQ_INT(profile_generate(dir, &o), 0);
        ASSERT_EQ_INT(profile_read_info(dir, &i), 0);
        ASSERT(i && strcmp(i->name, "iPhone 1") == 0);
        device_info_free(i);
        ASSERT_EQ_INT(profile_generate(dir, &o), -EEXIST);
        rm_rf(dir);

        /* Too few files for the photos, app documents and odd names. */
        o.files = 9;
        o.photos = 5;
        o.apps = 2;
        ASSERT_EQ_INT(profile_generate(dir, &o), -EINVAL);
        ASSERT(access(dir, F_OK) < 0);
        o.files = 10;
        ASSERT_EQ_INT(profile_generate(dir, &o), 0);
        rm_rf(dir);

        /* Missing parents are created. */
        free(dir);
        dir = path_join(top, "deep/er/profile");
        ASSERT_EQ_INT(profile_generate(dir, &o), 0);
        free(dir);
        dir = path_join(top, "deep");
        rm_rf(dir);

        free(dir);
        free(file);
}

static void test_generated_info_and_apps(void) {
        GenOptions o = { .seed = 7, .name = "Anna's iPhone", .product = "iPhone16,2",
                         .ios = "17.4", .photos = 2, .apps = 3, .crashlogs = 0 };
        char *dir = gen("apps", &o);
        DeviceInfo *i = NULL;
        AppInfo *a = NULL, **list = NULL;
        size_t n = 0;

        ASSERT_EQ_INT(profile_read_info(dir, &i), 0);
        ASSERT_OR_RETURN(i);
        ASSERT_STREQ(i->name, "Anna's iPhone");
        ASSERT_STREQ(i->product, "iPhone16,2");
        ASSERT_STREQ(i->ios, "17.4");
        ASSERT_STREQ(i->build, "21E219");
        ASSERT_STREQ(i->hardware_model, "D84AP");
        ASSERT_STREQ(i->device_class, "iPhone");
        ASSERT(strlen(i->serial) == 12 &&
               strspn(i->serial, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == 12);
        ASSERT(i->phone_number && i->imei && strlen(i->imei) == 15);
        ASSERT(i->ecid != 0);
        ASSERT_EQ_INT(i->battery, 87);
        ASSERT(i->setup_done);
        device_info_free(i);

        ASSERT_EQ_INT(profile_app_lookup(dir, "com.example.app2", &a), 0);
        ASSERT_OR_RETURN(a);
        ASSERT_STREQ(a->bundle_id, "com.example.app2");
        ASSERT(a->display_name && *a->display_name);
        ASSERT_STREQ(a->app_type, "User");
        ASSERT(a->file_sharing);
        ASSERT(a->short_version && a->version);
        a = app_info_free(a);

        static const char *const refused[] = {
                "../x", "..", ".", "", "a/b", "/etc", ".hidden", "com..example",
                "com.example.app2/", "com.example.app9",
        };
        for (size_t k = 0; k < ELEMENTSOF(refused); k++) {
                int r = profile_app_lookup(dir, refused[k], &a);

                if (r != -ENOENT || a) {
                        printf("FAIL: profile_app_lookup('%s') = %d at %s:%d\n", refused[k], r,
                               __FILE__, __LINE__);
                        failures++;
                }
        }
        ASSERT_EQ_INT(profile_app_lookup(dir, NULL, &a), -ENOENT);

        ASSERT_EQ_INT(profile_list_apps(dir, &list, &n), 0);
        ASSERT_EQ_U64(n, 3);
        for (size_t k = 0; k + 1 < n; k++)
                ASSERT(strcmp(list[k]->bundle_id, list[k + 1]->bundle_id) < 0);
        if (n == 3)
                ASSERT_STREQ(list[0]->bundle_id, "com.example.app1");
        app_info_free_array(list, n);

        /* A hand-written Info.ini: defaults, a bad value, a wrong identifier; a directory
         * without Info.ini is not an app. */
        {
                char *d = path_join(dir, "apps/org.test.Min"), *f = path_join(d, "Info.ini");
                char *e = path_join(dir, "apps/org.test.Empty");

                ASSERT(mkdir(d, 0755) == 0);
                ASSERT(mkdir(e, 0755) == 0);
                write_file(f, "[App]\n");
                ASSERT_EQ_INT(profile_app_lookup(dir, "org.test.Min", &a), 0);
                ASSERT(a && strcmp(a->display_name, "Min") == 0 && !a->file_sharing &&
                       strcmp(a->app_type, "User") == 0);
                a = app_info_free(a);
                ASSERT_EQ_INT(profile_app_lookup(dir, "org.test.Empty", &a), -ENOENT);

                ASSERT_EQ_INT(profile_list_apps(dir, &list, &n), 0);
                ASSERT_EQ_U64(n, 4);
                app_info_free_array(list, n);

                write_file(f, "[App]\nUIFileSharingEnabled=perhaps\n");
                ASSERT_EQ_INT(profile_app_lookup(dir, "org.test.Min", &a), -EBADMSG);
                write_file(f, "[App]\nCFBundleIdentifier=org.other\n");
                ASSERT_EQ_INT(profile_app_lookup(dir, "org.test.Min", &a), -EBADMSG);
                ASSERT_EQ_INT(profile_list_apps(dir, &list, &n), -EBADMSG);
                ASSERT(!a);
                free(d);
                free(e);
                free(f);
        }

        rm_rf(dir);
        free(dir);

        /* No apps/ at all: an empty list. */
        dir = path_join(top, "noapps");
        ASSERT(mkdir(dir, 0755) == 0);
        list = (AppInfo **) 1;
        ASSERT_EQ_INT(profile_list_apps(dir, &list, &n), 0);
        ASSERT(n == 0 && !list);
        rm_rf(dir);
        free(dir);
}

/* ---- mutate ------------------------------------------------------------------------- */

static void diff_backup(const Tree *before, const Tree *after, unsigned *changed,
                        unsigned *added, unsigned *deleted) {
        *changed = *added = *deleted = 0;
        for (size_t i = 0; i < before->n; i++) {
                const Node *b = &before->v[i], *a;

                if (b->type != S_IFREG || !has_prefix(b->path, "backup/"))
                        continue;
                a = tree_find(after, b->path);
                if (!a)
                        (*deleted)++;
                else if (a->hash != b->hash || a->size != b->size) {
                        (*changed)++;
                        ASSERT(a->size != b->size);
                        ASSERT(a->mtime > b->mtime);
                }
        }
        for (size_t i = 0; i < after->n; i++)
                if (after->v[i].type == S_IFREG && has_prefix(after->v[i].path, "backup/") &&
                    !tree_find(before, after->v[i].path))
                        (*added)++;
}

/* media/ and apps/ documents are exactly the twins of their backup/ files. */
static void check_twins(const Tree *t) {
        for (size_t i = 0; i < t->n; i++) {
                const Node *n = &t->v[i], *m;
                char *twin = NULL;

                if (n->type != S_IFREG)
                        continue;
                if (has_prefix(n->path, "backup/CameraRollDomain/Media/DCIM/") ||
                    has_prefix(n->path, "backup/MediaDomain/Media/")) {
                        const char *rest = strstr(n->path, "/Media/") + strlen("/Media/");

                        twin = path_join("media", rest);
                } else if (has_prefix(n->path, "media/") &&
                           !has_prefix(n->path, "media/PhotoData/")) {
                        /* the library database and iCloud downloads are the device's alone */
                        /* the other direction: no orphan in media/ */
                        char *a = path_join("backup/CameraRollDomain/Media",
                                            n->path + strlen("media/"));
                        char *b = path_join("backup/MediaDomain/Media",
                                            n->path + strlen("media/"));

                        ASSERT(tree_find(t, a) || tree_find(t, b));
                        free(a);
                        free(b);
                        continue;
                } else
                        continue;
                m = tree_find(t, twin);
                if (!m || m->ino != n->ino)
                        printf("twin of '%s' is %s\n", n->path, m ? "another inode" : "missing");
                ASSERT(m && m->ino == n->ino);
                free(twin);
        }
}

static int mutate_closure(void *userdata) {
        const MutateOptions *m = userdata;

        return profile_mutate(ini_dir, m);
}

static void test_mutate(void) {
        GenOptions o = { .seed = 99, .files = 70, .bytes = 2u << 20, .photos = 10, .apps = 2,
                         .crashlogs = 1 };
        MutateOptions m = { .seed = 5, .change = 6, .add = 4, .del = 3 };
        char *a = gen("mut-a", &o), *b = gen("mut-b", &o), *log;
        Tree before, after, other;
        unsigned changed, added, deleted;
        uint64_t files, bytes;
        int r;

        tree_walk(a, &before);

        ASSERT_EQ_INT(profile_mutate(a, &m), 0);
        tree_walk(a, &after);
        diff_backup(&before, &after, &changed, &added, &deleted);
        ASSERT_EQ_INT(changed, m.change);
        ASSERT_EQ_INT(added, m.add);
        ASSERT_EQ_INT(deleted, m.del);
        backup_totals(&after, &files, &bytes);
        ASSERT_EQ_U64(files, o.files + m.add - m.del);
        check_twins(&after);
        ASSERT(!tree_find(&after, "backup/HomeDomain/Library/Caches/.mutate.tmp"));
        for (size_t i = 0; i < after.n; i++)
                ASSERT(!strstr(after.v[i].path, ".mutate.tmp"));

        /* The same mutation of the same tree gives the same tree. */
        ASSERT_EQ_INT(profile_mutate(b, &m), 0);
        tree_walk(b, &other);
        ASSERT(tree_equal(&after, &other, true));
        tree_free(&other);

        /* Changing and deleting most files keeps twins consistent (photos and documents
         * are among them for sure). */
        tree_free(&before);
        before = after;
        backup_totals(&before, &files, &bytes);
        m = (MutateOptions) { .seed = 6, .change = (unsigned) files / 2,
                              .del = (unsigned) files / 2 - 1, .add = 10 };
        ASSERT_EQ_INT(profile_mutate(a, &m), 0);
        tree_walk(a, &after);
        diff_backup(&before, &after, &changed, &added, &deleted);
        ASSERT_EQ_INT(changed, m.change);
        ASSERT_EQ_INT(added, m.add);
        ASSERT_EQ_INT(deleted, m.del);
        check_twins(&after);

        /* Asking for more than there is fails and changes nothing. */
        tree_free(&before);
        before = after;
        backup_totals(&before, &files, &bytes);
        m = (MutateOptions) { .seed = 1, .change = (unsigned) files, .del = 1 };
        ini_dir = a;
        log = capture_stderr(mutate_closure, &m, &r);
        ini_dir = NULL;
        ASSERT_EQ_INT(r, -EINVAL);
        ASSERT(strstr(log, "mutate"));
        free(log);
        tree_walk(a, &after);
        ASSERT(tree_equal(&before, &after, true));
        tree_free(&after);

        /* Not a profile. */
        {
                char *none = path_join(top, "none");
                ini_dir = none;
                log = capture_stderr(mutate_closure, &m, &r);
                ini_dir = NULL;
                ASSERT(r < 0);
                free(log);
                free(none);
        }

        tree_free(&before);
        rm_rf(a);
        rm_rf(b);
        free(a);
        free(b);
}

/* ---- the camera roll: an oracle of this file's own ------------------------------------- */

static uint8_t *slurp(const char *path, size_t *ret_n) {
        FILE *f = fopen(path, "rbe");
        uint8_t *p = NULL;
        long n;

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
                p = malloc((size_t) n + 1);
                if (p && fread(p, 1, (size_t) n, f) != (size_t) n) {
                        free(p);
                        p = NULL;
                }
                *ret_n = (size_t) n;
        }
        fclose(f);
        return p;
}

static unsigned be16(const uint8_t *p) {
        return (unsigned) p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static unsigned tiff16(const uint8_t *p, bool be) {
        return be ? be16(p) : (unsigned) p[1] << 8 | p[0];
}

static uint32_t tiff32(const uint8_t *p, bool be) {
        return be ? be32(p)
                  : (uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0];
}

/* The ASCII value of tag in the IFD at off; NULL if absent or out of bounds. */
static const uint8_t *ifd_value(const uint8_t *t, size_t n, bool be, uint32_t off,
                                unsigned tag, uint32_t *ret_count) {
        if ((size_t) off + 2 > n)
                return NULL;
        for (unsigned i = 0, c = tiff16(t + off, be); i < c; i++) {
                const uint8_t *e = t + off + 2 + 12 * i;
                uint32_t count, v;

                if ((size_t) (e - t) + 12 > n)
                        return NULL;
                if (tiff16(e, be) != tag)
                        continue;
                count = tiff32(e + 4, be);
                v = tiff32(e + 8, be);
                *ret_count = count;
                if (tiff16(e + 2, be) == 4)                     /* LONG: the value itself */
                        return (const uint8_t *) (uintptr_t) (v + 1);
                return count <= 4 ? e + 8 : (size_t) v + count <= n ? t + v : NULL;
        }
        return NULL;
}

/* The "YYYY-MM" of a TIFF block's DateTimeOriginal into month; *ret_be its byte order. */
static bool tiff_month(const uint8_t *t, size_t n, char month[8], bool *ret_be) {
        const uint8_t *v;
        uint32_t count, ifd;
        bool be;

        if (n < 8 || !(memcmp(t, "MM\0*", 4) == 0 || memcmp(t, "II*\0", 4) == 0))
                return false;
        be = t[0] == 'M';
        v = ifd_value(t, n, be, tiff32(t + 4, be), 0x8769, &count);
        if (!v)
                return false;
        ifd = (uint32_t) ((uintptr_t) v - 1);
        v = ifd_value(t, n, be, ifd, 0x9003, &count);
        if (!v || count != 20 || v[19] != '\0' || v[4] != ':' || v[7] != ':' || v[10] != ' ')
                return false;
        snprintf(month, 8, "%.4s-%.2s", (const char *) v, (const char *) v + 5);
        *ret_be = be;
        return true;
}

/* A baseline JPEG: SOI, segments up to SOS, EOI at the end; the month from its APP1. */
static bool jpeg_month(const uint8_t *p, size_t n, char month[8], bool *ret_be) {
        bool found = false, sof = false;
        size_t i = 2;

        if (n < 4 || p[0] != 0xff || p[1] != 0xd8 || p[n - 2] != 0xff || p[n - 1] != 0xd9)
                return false;
        while (i + 4 <= n && p[i] == 0xff) {
                unsigned marker = p[i + 1], len = be16(p + i + 2);

                if (marker == 0xda)
                        return found && sof;
                if (i + 2 + len > n || len < 2)
                        return false;
                if (marker == 0xc0)
                        sof = true;
                if (marker == 0xe1 && len >= 8 && memcmp(p + i + 4, "Exif\0\0", 6) == 0)
                        found = tiff_month(p + i + 10, len - 8, month, ret_be);
                i += 2 + len;
        }
        return false;
}

/* The box of type within p[0…n): its content and length into ret and ret_n. */
static bool box_find(const uint8_t *p, size_t n, const char *type, const uint8_t **ret,
                     size_t *ret_n) {
        for (size_t i = 0; i + 8 <= n;) {
                uint32_t size = be32(p + i);

                if (size < 8 || i + size > n)
                        return false;
                if (memcmp(p + i + 4, type, 4) == 0) {
                        *ret = p + i + 8;
                        *ret_n = size - 8;
                        return true;
                }
                i += size;
        }
        return false;
}

/* HEIC: ftyp heic, meta → iinf (infe v2 'Exif') → iloc extent → 4-byte offset + TIFF. */
static bool heic_month(const uint8_t *p, size_t n, char month[8], bool *ret_be) {
        const uint8_t *meta, *iinf, *iloc, *b;
        size_t meta_n, iinf_n, iloc_n, bn;
        unsigned exif_id = 0, count, osz, lsz, bsz, version;

        if (!box_find(p, n, "ftyp", &b, &bn) || bn < 16 || memcmp(b, "heic", 4) != 0 ||
            !memmem(b + 8, bn - 8, "mif1", 4))
                return false;
        if (!box_find(p, n, "meta", &meta, &meta_n) || meta_n < 4)
                return false;
        meta += 4;                                      /* full box */
        meta_n -= 4;
        if (!box_find(meta, meta_n, "hdlr", &b, &bn) || bn < 12 || memcmp(b + 8, "pict", 4))
                return false;
        if (!box_find(meta, meta_n, "iinf", &iinf, &iinf_n) || iinf_n < 6)
                return false;
        count = be16(iinf + 4);
        for (size_t i = 6, k = 0; k < count && i + 8 <= iinf_n; k++) {
                uint32_t size = be32(iinf + i);

                if (size < 20 || memcmp(iinf + i + 4, "infe", 4) || iinf[i + 8] != 2)
                        return false;
                if (memcmp(iinf + i + 16, "Exif", 4) == 0)
                        exif_id = be16(iinf + i + 12);
                i += size;
        }
        if (!exif_id || !box_find(meta, meta_n, "iloc", &iloc, &iloc_n) || iloc_n < 8)
                return false;
        version = iloc[0];
        osz = iloc[4] >> 4;
        lsz = iloc[4] & 15;
        bsz = iloc[5] >> 4;
        if ((version != 0 && version != 1) || osz != 4 || lsz != 4 || bsz != 0)
                return false;
        count = be16(iloc + 6);
        for (size_t i = 8, k = 0; k < count; k++) {
                unsigned id = be16(iloc + i), extents;
                size_t off, len;

                i += 2 + (version == 1 ? 2 : 0) + 2;
                extents = be16(iloc + i);
                i += 2;
                if (id != exif_id || extents != 1) {
                        i += extents * 8;
                        continue;
                }
                off = be32(iloc + i);
                len = be32(iloc + i + 4);
                if (off + len > n || len < 10)
                        return false;
                b = p + off;
                /* exif_tiff_header_offset, then "Exif\0\0" before the TIFF header */
                if (4 + (size_t) be32(b) >= len || be32(b) < 6 ||
                    memcmp(b + 4 + be32(b) - 6, "Exif\0\0", 6) != 0)
                        return false;
                return tiff_month(b + 4 + be32(b), len - 4 - be32(b), month, ret_be);
        }
        return false;
}

static void sha256_hex(const uint8_t *p, size_t n, char hex[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

typedef struct TsvLine {
        char path[4200], month[8], sha[65], kind[16];
        uint64_t size;
} TsvLine;

typedef struct Tsv {
        TsvLine *v;
        size_t n;
        long icloud;
} Tsv;

static void tsv_load(const char *dir, Tsv *t) {
        char *path = path_join(dir, "photos.tsv"), line[8192];
        FILE *f = fopen(path, "re");

        *t = (Tsv) { .icloud = -1 };
        free(path);
        ASSERT_OR_RETURN(f);
        while (fgets(line, sizeof(line), f)) {
                TsvLine *x;

                if (sscanf(line, "# icloud-only %ld", &t->icloud) == 1)
                        continue;
                ASSERT(t->icloud < 0);                  /* the comment comes last */
                t->v = realloc(t->v, (t->n + 1) * sizeof(*t->v));
                x = &t->v[t->n++];
                if (sscanf(line, "%4199[^\t]\t%7[^\t]\t%64[^\t]\t%" SCNu64 "\t%15s", x->path,
                           x->month, x->sha, &x->size, x->kind) != 5) {
                        printf("FAIL: bad photos.tsv line '%s'\n", line);
                        failures++;
                }
        }
        fclose(f);
}

static const TsvLine *tsv_by_sha(const Tsv *t, const char *sha) {
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->v[i].sha, sha) == 0)
                        return &t->v[i];
        return NULL;
}

static bool is_primary_kind(const char *kind) {
        return strcmp(kind, "photo") == 0 || strcmp(kind, "video") == 0;
}

/* Rows of Photos.sqlite; *ret_missing those without a file. */
static long db_rows(const char *dir, long *ret_missing) {
        char *path = path_join(dir, "media/PhotoData/Photos.sqlite");
        sqlite3 *db = NULL;
        sqlite3_stmt *s = NULL;
        long n = 0;

        *ret_missing = 0;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
            sqlite3_prepare_v2(db, "SELECT ZDIRECTORY, ZFILENAME, ZKIND, ZTRASHEDSTATE, "
                                   "ZDATECREATED FROM ZASSET", -1, &s, NULL) == SQLITE_OK)
                while (sqlite3_step(s) == SQLITE_ROW) {
                        char *f;

                        if (asprintf(&f, "%s/media/%s/%s", dir, sqlite3_column_text(s, 0),
                                     sqlite3_column_text(s, 1)) < 0)
                                abort();
                        n++;
                        *ret_missing += access(f, F_OK) < 0;
                        ASSERT(sqlite3_column_int(s, 2) == 0 || sqlite3_column_int(s, 2) == 1);
                        ASSERT(sqlite3_column_int(s, 3) == 0);
                        /* 2023…2026 in seconds since 2001-01-01 */
                        ASSERT(sqlite3_column_double(s, 4) > 694224000.0 &&
                               sqlite3_column_double(s, 4) < 820454400.0);
                        free(f);
                }
        ASSERT(s);
        sqlite3_finalize(s);
        sqlite3_close(db);
        free(path);
        return n;
}

/* Everything photos.tsv says about a profile holds. Returns the number of primary items. */
static size_t check_camera_roll(const char *dir, const Tsv *t, bool want_mix) {
        unsigned kinds[4] = {}, orders[2] = {}, years = 0, months = 0;
        char seen_years[8][5] = {}, seen_months[64][8] = {};
        size_t primaries = 0, cpl = 0;
        long missing, rows;

        for (size_t i = 0; i < t->n; i++) {
                const TsvLine *x = &t->v[i];
                char *media = path_join(dir, "media"), *file, *bfile, hex[65], month[8];
                const char *ext = strrchr(x->path, '.');
                struct stat st, bst;
                uint8_t *p;
                size_t n = 0;
                bool be = false, exif = false;
                time_t mt;
                struct tm tm;

                file = path_join(media, x->path + 1);
                p = slurp(file, &n);
                if (!p || stat(file, &st) < 0) {
                        printf("FAIL: cannot read '%s'\n", file);
                        failures++;
                        free(p);
                        free(file);
                        free(media);
                        continue;
                }
                sha256_hex(p, n, hex);
                ASSERT_STREQ(hex, x->sha);
                ASSERT_EQ_U64(n, x->size);

                if (strcmp(ext, ".JPG") == 0) {
                        ASSERT(jpeg_month(p, n, month, &be));
                        exif = true;
                } else if (strcmp(ext, ".HEIC") == 0) {
                        ASSERT(heic_month(p, n, month, &be));
                        exif = true;
                } else if (strcmp(ext, ".MOV") == 0)
                        ASSERT(n > 20 && memcmp(p + 4, "ftypqt  ", 8) == 0 &&
                               memcmp(p + 24, "mdat", 4) == 0);
                else if (strcmp(ext, ".MP4") == 0)
                        ASSERT(n > 24 && memcmp(p + 4, "ftypisom", 8) == 0 &&
                               memmem(p + 16, 8, "mp42", 4) && memcmp(p + 28, "mdat", 4) == 0);
                else if (strcmp(ext, ".PNG") == 0)
                        ASSERT(n > 45 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0 &&
                               memcmp(p + 12, "IHDR", 4) == 0 && memmem(p, n, "IEND", 4) &&
                               !memmem(p, n, "eXIf", 4));
                else if (strcmp(ext, ".AAE") == 0)
                        ASSERT(memmem(p, n, "<string>com.apple.photo</string>", 32) &&
                               memmem(p, n, "adjustmentFormatVersion", 23) &&
                               memmem(p, n, "<data>", 6));
                else
                        ASSERT(!"unknown extension");

                mt = st.st_mtime;
                gmtime_r(&mt, &tm);
                if (exif) {
                        ASSERT_STREQ(month, x->month);
                        orders[be]++;
                        /* the mtime is later, in another month: hosts must read EXIF */
                        ASSERT(st.st_mtime > timegm(&(struct tm) {
                                       .tm_year = atoi(month) - 1900,
                                       .tm_mon = atoi(month + 5) - 1, .tm_mday = 1 }));
                        ASSERT(tm.tm_year + 1900 != atoi(month) || tm.tm_mon + 1 != atoi(month + 5));
                } else if (strcmp(x->kind, "video") == 0 || strcmp(ext, ".PNG") == 0 ||
                           want_mix) {
                        char m[32];

                        snprintf(m, sizeof(m), "%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
                        ASSERT_STREQ(m, x->month);      /* no EXIF: the mtime is the capture */
                }

                if (strncmp(x->path, "/DCIM/", 6) == 0) {
                        /* hard-linked into the backup */
                        bfile = path_join(dir, "backup/CameraRollDomain/Media");
                        free(file);
                        file = path_join(bfile, x->path + 1);
                        ASSERT(stat(file, &bst) == 0 && bst.st_ino == st.st_ino);
                        free(bfile);
                        primaries += is_primary_kind(x->kind);
                } else {
                        ASSERT(strncmp(x->path, "/PhotoData/CPLAssets/group1/", 28) == 0);
                        cpl++;
                }
                kinds[strcmp(x->kind, "photo") == 0        ? 0
                      : strcmp(x->kind, "video") == 0      ? 1
                      : strcmp(x->kind, "live-video") == 0 ? 2
                                                           : 3]++;
                if (strcmp(x->kind, "live-video") == 0 || strcmp(x->kind, "sidecar") == 0) {
                        /* beside a photo of the same base name and month */
                        bool found = false;

                        for (size_t j = 0; j < t->n; j++)
                                if (j != i && strcmp(t->v[j].kind, "photo") == 0 &&
                                    strncmp(t->v[j].path, x->path, strlen(x->path) - 3) == 0 &&
                                    strlen(t->v[j].path) <= strlen(x->path) + 1) {
                                        found = true;
                                        ASSERT_STREQ(t->v[j].month, x->month);
                                }
                        ASSERT(found);
                }

                {
                        bool y = false, mo = false;

                        for (unsigned k = 0; k < years; k++)
                                y = y || strncmp(seen_years[k], x->month, 4) == 0;
                        if (!y && years < 8)
                                snprintf(seen_years[years++], 5, "%.4s", x->month);
                        for (unsigned k = 0; k < months; k++)
                                mo = mo || strcmp(seen_months[k], x->month) == 0;
                        if (!mo && months < 64)
                                snprintf(seen_months[months++], 8, "%s", x->month);
                }
                free(p);
                free(file);
                free(media);
        }

        rows = db_rows(dir, &missing);
        ASSERT_EQ_INT(missing, t->icloud);
        ASSERT_EQ_INT(rows, (long) primaries + t->icloud);
        if (want_mix) {
                for (size_t k = 0; k < 4; k++)
                        ASSERT(kinds[k] > 0);
                ASSERT(orders[0] > 0 && orders[1] > 0);
                ASSERT(years >= 3);
                ASSERT(months >= 12);
                ASSERT(t->icloud >= 1);
                ASSERT(cpl >= 1);
        }
        return primaries;
}

static void test_camera_roll(void) {
        GenOptions o = { .seed = 21, .files = 120, .bytes = 24u << 20, .photos = 40, .apps = 1,
                         .crashlogs = 0 };
        char *dir = gen("roll", &o);
        size_t dcim = 0;
        Tsv t;

        tsv_load(dir, &t);
        for (size_t i = 0; i < t.n; i++)
                dcim += strncmp(t.v[i].path, "/DCIM/", 6) == 0;
        ASSERT_EQ_U64(dcim, o.photos);
        check_camera_roll(dir, &t, true);
        free(t.v);
        rm_rf(dir);
        free(dir);

        /* Small rolls: at least one iCloud-only item from five files on. */
        o = (GenOptions) { .seed = 22, .files = 30, .bytes = 2u << 20, .photos = 5, .apps = 0 };
        dir = gen("roll-small", &o);
        tsv_load(dir, &t);
        check_camera_roll(dir, &t, false);
        ASSERT(t.icloud >= 1);
        free(t.v);
        rm_rf(dir);
        free(dir);
}

static void test_mutate_photos(void) {
        GenOptions o = { .seed = 23, .files = 100, .bytes = 24u << 20, .photos = 40, .apps = 1 };
        MutateOptions m = { .seed = 4, .photos_add = 3, .photos_rename = 2, .photos_move = 2,
                            .photos_delete = 2 };
        char *a = gen("pm-a", &o), *b = gen("pm-b", &o), *log;
        unsigned renamed = 0, moved = 0, deleted = 0, added = 0;
        size_t before_items, after_items;
        Tsv t0, t1;
        Tree ta, tb;
        int r;

        tsv_load(a, &t0);
        before_items = check_camera_roll(a, &t0, true);
        ASSERT_EQ_INT(profile_mutate(a, &m), 0);
        tsv_load(a, &t1);
        after_items = check_camera_roll(a, &t1, false);
        ASSERT_EQ_U64(after_items, before_items + m.photos_add - m.photos_delete);
        ASSERT_EQ_INT(t1.icloud, t0.icloud);

        for (size_t i = 0; i < t0.n; i++) {
                const TsvLine *x = &t0.v[i], *y = tsv_by_sha(&t1, x->sha);
                const char *xs = strrchr(x->path, '/'), *ys;

                if (!is_primary_kind(x->kind))
                        continue;
                if (!y) {
                        deleted++;
                        continue;
                }
                ys = strrchr(y->path, '/');
                ASSERT_STREQ(y->month, x->month);       /* content and date unchanged */
                if (xs - x->path != ys - y->path || strncmp(x->path, y->path, xs - x->path))
                        moved++;
                else if (strcmp(xs, ys) != 0)
                        renamed++;
        }
        for (size_t i = 0; i < t1.n; i++)
                added += is_primary_kind(t1.v[i].kind) && !tsv_by_sha(&t0, t1.v[i].sha);
        ASSERT_EQ_INT(renamed, m.photos_rename);
        ASSERT_EQ_INT(moved, m.photos_move);
        ASSERT_EQ_INT(deleted, m.photos_delete);
        ASSERT_EQ_INT(added, m.photos_add);

        /* A Live Photo's MOV and an AAE go where their photo goes (or away with it). */
        for (size_t i = 0; i < t0.n; i++) {
                const TsvLine *x = &t0.v[i], *y;

                if (is_primary_kind(x->kind))
                        continue;
                y = tsv_by_sha(&t1, x->sha);
                if (y) {
                        char *base = strdup(y->path);
                        bool found = false;

                        base[strlen(base) - 3] = '\0';
                        for (size_t j = 0; j < t1.n; j++)
                                found = found || (strcmp(t1.v[j].kind, "photo") == 0 &&
                                                  strncmp(t1.v[j].path, base, strlen(base)) == 0);
                        ASSERT(found);
                        free(base);
                }
        }
        tree_walk(a, &ta);
        check_twins(&ta);

        /* The same mutation of the same tree gives the same tree. */
        ASSERT_EQ_INT(profile_mutate(b, &m), 0);
        tree_walk(b, &tb);
        ASSERT(tree_equal(&ta, &tb, true));
        tree_free(&tb);

        /* More than there is: refused before anything changes. */
        m = (MutateOptions) { .seed = 5, .photos_delete = (unsigned) after_items + 1 };
        ini_dir = a;
        log = capture_stderr(mutate_closure, &m, &r);
        ini_dir = NULL;
        ASSERT_EQ_INT(r, -EINVAL);
        free(log);
        tree_walk(a, &tb);
        ASSERT(tree_equal(&ta, &tb, true));
        tree_free(&tb);
        tree_free(&ta);

        free(t0.v);
        free(t1.v);
        rm_rf(a);
        rm_rf(b);
        free(a);
        free(b);
}

/* ---- app documents: documents.tsv against an oracle of this file's own --------------------- */

typedef struct DocLine {
        char app[256], path[4200], sha[65];
        uint64_t size;
        int64_t mtime_ns;
} DocLine;

typedef struct Docs {
        DocLine *v;
        size_t n;
} Docs;

/* Undo documents.tsv's escapes (\\, \t, \n, \r) in place. */
static void unescape(char *s) {
        char *o = s;

        for (; *s; s++) {
                if (*s != '\\' || !s[1]) {
                        *o++ = *s;
                        continue;
                }
                s++;
                *o++ = *s == 't' ? '\t' : *s == 'n' ? '\n' : *s == 'r' ? '\r' : *s;
        }
        *o = '\0';
}

static void docs_load(const char *dir, Docs *d) {
        char *path = path_join(dir, "documents.tsv"), line[8192];
        FILE *f = fopen(path, "re");

        *d = (Docs) {};
        free(path);
        ASSERT_OR_RETURN(f);
        while (fgets(line, sizeof(line), f)) {
                DocLine *x;

                d->v = realloc(d->v, (d->n + 1) * sizeof(*d->v));
                x = &d->v[d->n++];
                if (sscanf(line, "%255[^\t]\t%4199[^\t]\t%64[^\t]\t%" SCNu64 "\t%" SCNd64,
                           x->app, x->path, x->sha, &x->size, &x->mtime_ns) != 5) {
                        printf("FAIL: bad documents.tsv line '%s'\n", line);
                        failures++;
                }
                unescape(x->path);
        }
        fclose(f);
}

static const DocLine *docs_find(const Docs *d, const char *app, const char *path) {
        for (size_t i = 0; i < d->n; i++)
                if (strcmp(d->v[i].app, app) == 0 && strcmp(d->v[i].path, path) == 0)
                        return &d->v[i];
        return NULL;
}

/* Whether apps/<app>/Info.ini says UIFileSharingEnabled=yes (read as text). */
static bool app_shares_files(const char *dir, const char *app) {
        char *p;
        size_t n = 0;
        uint8_t *text;
        bool yes;

        if (asprintf(&p, "%s/apps/%s/Info.ini", dir, app) < 0)
                abort();
        text = slurp(p, &n);
        free(p);
        if (!text)
                return false;
        text[n] = 0;
        yes = strstr((char *) text, "UIFileSharingEnabled=yes\n") != NULL;
        free(text);
        return yes;
}

/* documents.tsv is exactly the regular files beneath apps/<id>/Documents of the sharing
 * apps, in order, with their hashes, sizes and ns mtimes; every document is one inode with
 * its backup twin. Returns the number of sharing apps seen with documents. */
static size_t check_documents(const char *dir, const Docs *d) {
        Tree t;
        size_t line = 0, apps = 0;
        char last_app[256] = "";

        tree_walk(dir, &t);
        for (size_t i = 0; i < t.n; i++) {
                const Node *n = &t.v[i];
                const char *id, *slash, *rel;
                char app[256], *full, *twin;
                const Node *b;
                struct stat st;
                uint8_t *data;
                size_t len = 0;
                char sha[65];

                if (n->type != S_IFREG || !has_prefix(n->path, "apps/"))
                        continue;
                id = n->path + strlen("apps/");
                slash = strchr(id, '/');
                if (!slash || !has_prefix(slash, "/Documents/"))
                        continue;
                snprintf(app, sizeof(app), "%.*s", (int) (slash - id), id);
                rel = slash + strlen("/Documents/");
                if (asprintf(&twin, "backup/AppDomain-%s/Documents/%s", app, rel) < 0)
                        abort();
                b = tree_find(&t, twin);
                if (!b || b->ino != n->ino)
                        printf("FAIL: backup twin of '%s' is %s\n", n->path,
                               b ? "another inode" : "missing");
                ASSERT(b && b->ino == n->ino);
                free(twin);
                if (!app_shares_files(dir, app))
                        continue;
                if (strcmp(app, last_app) != 0) {
                        apps++;
                        snprintf(last_app, sizeof(last_app), "%s", app);
                }

                /* tree_walk() sorts by the whole path: the order of documents.tsv too */
                if (line >= d->n) {
                        printf("FAIL: '%s' is missing from documents.tsv\n", n->path);
                        failures++;
                        continue;
                }
                full = path_join(dir, n->path);
                data = slurp(full, &len);
                ASSERT(data && lstat(full, &st) == 0);
                if (!data) {
                        free(full);
                        continue;
                }
                sha256_hex(data, len, sha);
                ASSERT_STREQ(d->v[line].app, app);
                ASSERT_STREQ(d->v[line].path, rel);
                ASSERT_STREQ(d->v[line].sha, sha);
                ASSERT_EQ_U64(d->v[line].size, len);
                ASSERT_EQ_INT(d->v[line].mtime_ns,
                              (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
                free(data);
                free(full);
                line++;
        }
        ASSERT_EQ_U64(line, d->n);
        tree_free(&t);
        return apps;
}

static bool is_dir(const char *dir, const char *rel) {
        char *p = path_join(dir, rel);
        struct stat st;
        bool yes = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);

        free(p);
        return yes;
}

static void test_documents_generated(void) {
        GenOptions o = { .seed = 31, .files = 90, .bytes = 3u << 20, .photos = 5, .apps = 4 };
        static const char nfd[] = "Cafe\xcc\x81.txt", nfd_dir[] = "Entwu\xcc\x88rfe";
        const DocLine *x;
        char *dir = gen("docs", &o), *tsv;
        struct stat st;
        Docs d;

        /* Every third app does not share files; the others do. */
        ASSERT(app_shares_files(dir, "com.example.app1"));
        ASSERT(app_shares_files(dir, "com.example.app2"));
        ASSERT(!app_shares_files(dir, "com.example.app3"));
        ASSERT(app_shares_files(dir, "com.example.app4"));

        docs_load(dir, &d);
        ASSERT_EQ_U64(check_documents(dir, &d), 3);
        for (size_t i = 0; i < d.n; i++)
                ASSERT(strcmp(d.v[i].app, "com.example.app3") != 0);
        for (size_t i = 0; i + 1 < d.n; i++) {
                int c = strcmp(d.v[i].app, d.v[i + 1].app);

                ASSERT(c < 0 || (c == 0 && strcmp(d.v[i].path, d.v[i + 1].path) < 0));
        }

        /* The set every sharing app gets: NFD and NFC names, empty files at the top and in a
         * subdirectory, nested directories, an empty directory (in the backup too). */
        for (unsigned a = 1; a <= 2; a++) {
                char app[64], *p;
                bool nfc = false;

                snprintf(app, sizeof(app), "com.example.app%u", a);
                ASSERT(docs_find(&d, app, nfd));
                x = docs_find(&d, app, "Empty.txt");
                ASSERT(x && x->size == 0);
                x = docs_find(&d, app, "Projects/2026/placeholder.txt");
                ASSERT(x && x->size == 0);
                x = docs_find(&d, app, "Projects/2026/Q1/Plan.md");
                ASSERT(x && x->size > 0);
                if (asprintf(&p, "%s/Bru\xcc\x88" "cke.txt", nfd_dir) < 0)
                        abort();
                ASSERT(docs_find(&d, app, p));
                free(p);
                for (size_t i = 0; i < d.n; i++)
                        nfc = nfc || (strcmp(d.v[i].app, app) == 0 &&
                                      strstr(d.v[i].path, "\xc3\xa8"));     /* è, precomposed */
                ASSERT(nfc);
                if (asprintf(&p, "apps/%s/Documents/Inbox", app) < 0)
                        abort();
                ASSERT(is_dir(dir, p));
                free(p);
                if (asprintf(&p, "backup/AppDomain-%s/Documents/Inbox", app) < 0)
                        abort();
                ASSERT(is_dir(dir, p));
                free(p);
        }
        ASSERT(!is_dir(dir, "apps/com.example.app3/Documents/Inbox"));
        /* The NFD name is on disk as the decomposed bytes, not normalised. */
        {
                char *p = path_join(dir, "apps/com.example.app1/Documents/Cafe\xcc\x81.txt");
                char *q = path_join(dir, "apps/com.example.app1/Documents/Caf\xc3\xa9.txt");

                ASSERT(lstat(p, &st) == 0);
                ASSERT(lstat(q, &st) < 0);
                free(p);
                free(q);
        }
        /* Never where an AFC service could serve it. */
        tsv = path_join(dir, "documents.tsv");
        ASSERT(lstat(tsv, &st) == 0 && st.st_mtime == 1767225600);
        free(tsv);
        free(d.v);
        rm_rf(dir);
        free(dir);

        /* Two apps: both share. No apps: an empty documents.tsv. */
        o = (GenOptions) { .seed = 32, .photos = 2, .apps = 2 };
        dir = gen("docs2", &o);
        ASSERT(app_shares_files(dir, "com.example.app2"));
        docs_load(dir, &d);
        ASSERT_EQ_U64(check_documents(dir, &d), 2);
        free(d.v);
        rm_rf(dir);
        free(dir);
        o = (GenOptions) { .seed = 33, .photos = 2, .apps = 0 };
        dir = gen("docs0", &o);
        docs_load(dir, &d);
        ASSERT_EQ_U64(d.n, 0);
        free(d.v);
        rm_rf(dir);
        free(dir);
}

static void test_mutate_documents(void) {
        GenOptions o = { .seed = 34, .files = 90, .bytes = 3u << 20, .photos = 5, .apps = 3 };
        MutateOptions m = { .seed = 9, .documents_add = 6, .documents_change = 4,
                            .documents_delete = 3 };
        char *a = gen("md-a", &o), *b = gen("md-b", &o), *log;
        unsigned changed = 0, deleted = 0, added = 0;
        Docs d0, d1;
        Tree t0, t1, tb;
        int r;

        docs_load(a, &d0);
        tree_walk(a, &t0);
        ASSERT_EQ_INT(profile_mutate(a, &m), 0);
        docs_load(a, &d1);
        ASSERT_EQ_U64(check_documents(a, &d1), 2);

        for (size_t i = 0; i < d0.n; i++) {
                const DocLine *x = &d0.v[i], *y = docs_find(&d1, x->app, x->path);

                if (!y)
                        deleted++;
                else if (strcmp(x->sha, y->sha) != 0) {
                        changed++;
                        ASSERT(y->size != x->size);
                        ASSERT(y->mtime_ns > x->mtime_ns);
                } else {
                        ASSERT_EQ_U64(y->size, x->size);
                        ASSERT_EQ_INT(y->mtime_ns, x->mtime_ns);
                }
        }
        for (size_t i = 0; i < d1.n; i++)
                added += !docs_find(&d0, d1.v[i].app, d1.v[i].path);
        ASSERT_EQ_INT(changed, m.documents_change);
        ASSERT_EQ_INT(deleted, m.documents_delete);
        ASSERT_EQ_INT(added, m.documents_add);
        ASSERT_EQ_U64(d1.n, d0.n + m.documents_add - m.documents_delete);

        /* Nothing else changed: no other regular file, and no app without file sharing. */
        tree_walk(a, &t1);
        for (size_t i = 0; i < t0.n; i++) {
                const Node *x = &t0.v[i], *y;

                if (x->type != S_IFREG || strstr(x->path, "/Documents/") ||
                    strcmp(x->path, "documents.tsv") == 0)
                        continue;
                y = tree_find(&t1, x->path);
                if (!y || y->hash != x->hash || (y->mtime != x->mtime &&
                                                 !strstr(x->path, "Photos.sqlite") &&
                                                 strcmp(x->path, "photos.tsv") != 0)) {
                        printf("FAIL: '%s' changed at %s:%d\n", x->path, __FILE__, __LINE__);
                        failures++;
                }
        }
        for (size_t i = 0; i < t1.n; i++) {
                ASSERT(!strstr(t1.v[i].path, ".doc.tmp"));
                if (strstr(t1.v[i].path, "com.example.app3/")) {
                        const Node *x = tree_find(&t0, t1.v[i].path);

                        ASSERT(x && x->hash == t1.v[i].hash);
                }
        }

        /* The same mutation of the same tree gives the same tree. */
        ASSERT_EQ_INT(profile_mutate(b, &m), 0);
        tree_walk(b, &tb);
        ASSERT(tree_equal(&t1, &tb, true));
        tree_free(&tb);

        /* More than there is: refused before anything changes. */
        m = (MutateOptions) { .seed = 10, .documents_change = (unsigned) d1.n,
                              .documents_delete = 1 };
        ini_dir = a;
        log = capture_stderr(mutate_closure, &m, &r);
        ini_dir = NULL;
        ASSERT_EQ_INT(r, -EINVAL);
        ASSERT(strstr(log, "documents"));
        free(log);
        tree_walk(a, &tb);
        ASSERT(tree_equal(&t1, &tb, true));
        tree_free(&tb);

        /* A mutation without --documents-* keeps documents.tsv true as well (--change and
         * --delete may hit documents). */
        m = (MutateOptions) { .seed = 11, .change = 30, .del = 20, .add = 10 };
        ASSERT_EQ_INT(profile_mutate(a, &m), 0);
        free(d1.v);
        docs_load(a, &d1);
        check_documents(a, &d1);

        tree_free(&t0);
        tree_free(&t1);
        free(d0.v);
        free(d1.v);
        rm_rf(a);
        rm_rf(b);
        free(a);
        free(b);
}

/* The control command `doc`, as main.c calls it. */
static char *doc_cmd(const char *dir, const char *line, char *reply, size_t n) {
        char copy[2048], *argv[8];
        int argc = 0;

        snprintf(copy, sizeof(copy), "%s", line);
        for (char *save = NULL, *t = strtok_r(copy, " ", &save); t && argc < 8;
             t = strtok_r(NULL, " ", &save))
                argv[argc++] = t;
        documents_doc_command(dir, "UDID", argc, argv, reply, n);
        return reply;
}

static void test_doc_command(void) {
        GenOptions o = { .seed = 35, .files = 60, .photos = 2, .apps = 3 };
        char *dir = gen("doccmd", &o), reply[1024], want[512], *p, *q, *outside;
        const DocLine *x, *y;
        struct stat st, bst;
        Docs d0, d1;

        docs_load(dir, &d0);
        x = docs_find(&d0, "com.example.app1", "Empty.txt");
        ASSERT_OR_RETURN(x);

        /* An existing document: 100 bytes by default, a new mtime, the backup twin too. */
        doc_cmd(dir, "com.example.app1 Empty.txt", reply, sizeof(reply));
        ASSERT(has_prefix(reply, "ok doc UDID com.example.app1 Empty.txt size=100 sha256="));
        docs_load(dir, &d1);
        check_documents(dir, &d1);
        y = docs_find(&d1, "com.example.app1", "Empty.txt");
        ASSERT_OR_RETURN(y);
        ASSERT_EQ_U64(y->size, 100);
        ASSERT(y->mtime_ns > x->mtime_ns);
        snprintf(want, sizeof(want), "sha256=%s mtime_ns=%" PRId64, y->sha, y->mtime_ns);
        ASSERT(strstr(reply, want));
        ASSERT_EQ_U64(d1.n, d0.n);
        p = path_join(dir, "apps/com.example.app1/Documents/Empty.txt");
        q = path_join(dir, "backup/AppDomain-com.example.app1/Documents/Empty.txt");
        ASSERT(stat(p, &st) == 0 && stat(q, &bst) == 0 && st.st_ino == bst.st_ino);
        free(p);
        free(q);
        free(d1.v);

        /* A new one in new directories, named with %XX (a blank, an NFD accent), a size. */
        doc_cmd(dir, "com.example.app2 New%20Dir/Neu%CC%88/a%25b.txt 4K", reply, sizeof(reply));
        ASSERT(has_prefix(reply, "ok doc UDID com.example.app2 New%20Dir/Neu%CC%88/a%25b.txt "
                                 "size=4096 "));
        docs_load(dir, &d1);
        check_documents(dir, &d1);
        ASSERT_EQ_U64(d1.n, d0.n + 1);
        x = docs_find(&d1, "com.example.app2", "New Dir/Neu\xcc\x88/a%b.txt");
        ASSERT(x && x->size == 4096);
        free(d1.v);
        doc_cmd(dir, "com.example.app2 zero 0", reply, sizeof(reply));
        ASSERT(has_prefix(reply, "ok doc UDID com.example.app2 zero size=0 sha256=e3b0c442"));

        /* Apps without file sharing can be written, but are not in documents.tsv. */
        doc_cmd(dir, "com.example.app3 x.txt", reply, sizeof(reply));
        ASSERT(has_prefix(reply, "ok doc "));
        docs_load(dir, &d1);
        ASSERT(!docs_find(&d1, "com.example.app3", "x.txt"));
        free(d1.v);

        /* Refused: escapes, odd components, bad sizes, unknown apps, directories, symlinks
         * on the way; nothing is written for them. */
        outside = path_join(top, "doc-outside");
        ASSERT(mkdir(outside, 0755) == 0);
        p = path_join(dir, "apps/com.example.app1/Documents/out");
        ASSERT(symlink(outside, p) == 0);
        free(p);
        static const char *const refused[] = {
                "com.example.app1 ../Info.ini",
                "com.example.app1 /etc/passwd",
                "com.example.app1 a/../../x",
                "com.example.app1 %2E%2E/x",
                "com.example.app1 a//b",
                "com.example.app1 ./a",
                "com.example.app1 a/",
                "com.example.app1 a%00b",
                "com.example.app1 a%zz",
                "com.example.app1 a 2G",
                "com.example.app1 a -1",
                "com.example.app1 a 1 2",
                "com.example.app1",
                "com.example.none a",
                "../apps a",
                "com.example.app1 Inbox",
                "com.example.app1 out/x",
                "com.example.app1 out",
        };
        for (size_t k = 0; k < ELEMENTSOF(refused); k++) {
                doc_cmd(dir, refused[k], reply, sizeof(reply));
                if (!has_prefix(reply, "err ")) {
                        printf("FAIL: doc %s: %s at %s:%d\n", refused[k], reply, __FILE__,
                               __LINE__);
                        failures++;
                }
        }
        p = path_join(outside, "x");
        ASSERT(lstat(p, &st) < 0);
        free(p);
        p = path_join(dir, "apps/x");
        ASSERT(lstat(p, &st) < 0);
        free(p);

        free(d0.v);
        rm_rf(outside);
        free(outside);
        rm_rf(dir);
        free(dir);
}

int main(void) {
        const char *tmp = getenv("TMPDIR");

        snprintf(top, sizeof(top), "%s/test-profile-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(top)) {
                printf("FAIL: mkdtemp(%s): %s\n", top, strerror(errno));
                return EXIT_FAILURE;
        }

        test_parse_size();
        test_device_ini();
        test_generate_determinism();
        test_generate_layout();
        test_generate_refuses();
        test_generate_new_phone();
        test_generated_info_and_apps();
        test_mutate();
        test_camera_roll();
        test_mutate_photos();
        test_documents_generated();
        test_mutate_documents();
        test_doc_command();

        rm_rf(top);
        if (failures > 0) {
                printf("%u check(s) failed\n", failures);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
