/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * AFC and house_arrest round trips through the real libimobiledevice API against the
 * emulator: what a photo importer or a document sync does. Compares everything it sees with
 * the profile directory on disk.
 *
 *   conf-afc UDID PROFILE_DIR            the conformance checks
 *   conf-afc --bench UDID PATH [ROUNDS]  read one device file ROUNDS times, print MB/s
 *   conf-afc --bench-tree UDID DIR [DEST] read every file below a device directory once
 *                                        (list, GET_FILE_INFO, open, read), print MB/s;
 *                                        with DEST also write each file there and syncfs
 *                                        at the end (the floor of any importer)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libimobiledevice/afc.h>
#include <libimobiledevice/house_arrest.h>
#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>

#include "conf.h"

static idevice_t device;

static char **list_dir_sorted(const char *path, int *ret_n) {
        struct dirent **ents = NULL;
        char **names;
        int n = scandir(path, &ents, NULL, alphasort);

        CHECK(n >= 0, "scandir %s: %s", path, strerror(errno));
        names = calloc((size_t) n + 1, sizeof(char *));
        CHECK(names, "oom");
        for (int i = 0; i < n; i++) {
                names[i] = strdup(ents[i]->d_name);
                free(ents[i]);
        }
        free(ents);
        *ret_n = n;
        return names;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The device's listing of dir equals the local listing of local (both incl. . and ..). */
static void check_listing(afc_client_t afc, const char *dir, const char *local) {
        char **remote = NULL;
        char **want;
        int n_want, n = 0;

        CHECK(afc_read_directory(afc, dir, &remote) == AFC_E_SUCCESS, "read_directory %s", dir);
        CHECK(remote[0] && strcmp(remote[0], ".") == 0, ". must come first in %s", dir);
        CHECK(remote[1] && strcmp(remote[1], "..") == 0, ".. must come second in %s", dir);
        while (remote[n])
                n++;
        qsort(remote, (size_t) n, sizeof(char *), cmp_str);
        want = list_dir_sorted(local, &n_want);
        CHECK(n == n_want, "%s: %d entries on the device, %d in the profile", dir, n, n_want);
        for (int i = 0; i < n; i++)
                CHECK(strcmp(remote[i], want[i]) == 0, "%s: '%s' vs '%s'", dir, remote[i], want[i]);
        for (int i = 0; i < n_want; i++)
                free(want[i]);
        free(want);
        afc_dictionary_free(remote);
}

static void fill(uint8_t *b, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                b[i] = (uint8_t) (seed >> 16);
        }
}

static void write_file(afc_client_t afc, const char *path, const uint8_t *data, size_t n) {
        uint64_t h = 0;
        size_t off = 0;

        CHECK(afc_file_open(afc, path, AFC_FOPEN_WRONLY, &h) == AFC_E_SUCCESS, "open %s", path);
        while (off < n) {
                uint32_t w = 0, chunk = (uint32_t) (n - off > 200000 ? 200000 : n - off);
                CHECK(afc_file_write(afc, h, (const char *) data + off, chunk, &w) ==
                      AFC_E_SUCCESS && w > 0, "write %s", path);
                off += w;
        }
        CHECK(afc_file_close(afc, h) == AFC_E_SUCCESS, "close %s", path);
}

static uint8_t *read_file(afc_client_t afc, const char *path, size_t *ret_n) {
        size_t cap = 1 << 20, n = 0;
        uint8_t *b = malloc(cap);
        uint64_t h = 0;

        CHECK(afc_file_open(afc, path, AFC_FOPEN_RDONLY, &h) == AFC_E_SUCCESS, "open %s", path);
        for (;;) {
                uint32_t r = 0;
                if (cap - n < 65536) {
                        uint8_t *nb = realloc(b, cap * 2);

                        CHECK(nb, "oom");       /* CHECK exits: b is not leaked for long */
                        b = nb;
                        cap *= 2;
                }
                CHECK(afc_file_read(afc, h, (char *) b + n, 65536, &r) == AFC_E_SUCCESS,
                      "read %s", path);
                if (r == 0)
                        break;
                n += r;
        }
        CHECK(afc_file_close(afc, h) == AFC_E_SUCCESS, "close %s", path);
        *ret_n = n;
        return b;
}

static void check_afc(const char *profile) {
        lockdownd_client_t ld = NULL;
        afc_client_t afc = NULL;
        char local[4096], **info = NULL;
        size_t n = 5 * 1024 * 1024 + 17, got_n;
        uint8_t *data = malloc(n), *got;
        struct stat st;
        uint64_t h;

        CHECK(afc_client_start_service(device, &afc, "conf-afc") == AFC_E_SUCCESS, "start afc");

        snprintf(local, sizeof(local), "%s/media/DCIM/100APPLE", profile);
        check_listing(afc, "/DCIM/100APPLE", local);

        /* Metadata of a photo matches the file in the profile. */
        DIR *d = opendir(local);
        struct dirent *e;
        char photo[256] = "";
        while (d && (e = readdir(d)))
                if (e->d_name[0] != '.') {
                        snprintf(photo, sizeof(photo), "%s", e->d_name);
                        break;
                }
        if (d)
                closedir(d);
        CHECK(photo[0], "no photo in %s", local);
        snprintf(local, sizeof(local), "%s/media/DCIM/100APPLE/%s", profile, photo);
        CHECK(stat(local, &st) == 0, "stat %s", local);
        char remote[512];
        snprintf(remote, sizeof(remote), "/DCIM/100APPLE/%s", photo);
        CHECK(afc_get_file_info(afc, remote, &info) == AFC_E_SUCCESS, "file info %s", remote);
        bool size_ok = false, mtime_ok = false;
        for (int i = 0; info[i] && info[i + 1]; i += 2) {
                if (strcmp(info[i], "st_size") == 0)
                        size_ok = strtoull(info[i + 1], NULL, 10) == (uint64_t) st.st_size;
                if (strcmp(info[i], "st_mtime") == 0)
                        mtime_ok = strtoull(info[i + 1], NULL, 10) / 1000000000ull ==
                                   (uint64_t) st.st_mtime;
        }
        afc_dictionary_free(info);
        CHECK(size_ok && mtime_ok, "st_size/st_mtime of %s do not match the profile", remote);

        /* Write, read back, and find the bytes on the device's disk. */
        CHECK(data, "oom");
        fill(data, n, 42);
        CHECK(afc_make_directory(afc, "/Downloads/conf afc/nested ☕") == AFC_E_SUCCESS, "mkdir");
        write_file(afc, "/Downloads/conf afc/nested ☕/blob.bin", data, n);
        got = read_file(afc, "Downloads/conf afc/nested ☕/blob.bin", &got_n);
        CHECK(got_n == n && memcmp(got, data, n) == 0, "read back %zu of %zu bytes", got_n, n);
        free(got);
        snprintf(local, sizeof(local), "%s/media/Downloads/conf afc/nested ☕/blob.bin", profile);
        CHECK(stat(local, &st) == 0 && (size_t) st.st_size == n, "file not on the device disk");

        CHECK(afc_rename_path(afc, "/Downloads/conf afc/nested ☕/blob.bin",
                              "/Downloads/conf afc/moved.bin") == AFC_E_SUCCESS, "rename");
        CHECK(afc_remove_path(afc, "/Downloads/conf afc/moved.bin") == AFC_E_SUCCESS, "remove");
        CHECK(afc_get_file_info(afc, "/Downloads/conf afc/moved.bin", &info) ==
              AFC_E_OBJECT_NOT_FOUND, "removed file still there");

        /* Nothing outside the AFC root is reachable. */
        CHECK(afc_file_open(afc, "/../device.ini", AFC_FOPEN_RDONLY, &h) != AFC_E_SUCCESS,
              "escaped the AFC root with ..");
        CHECK(afc_file_open(afc, "../../../../etc/passwd", AFC_FOPEN_RDONLY, &h) != AFC_E_SUCCESS,
              "escaped the AFC root");

        afc_client_free(afc);
        free(data);
        (void) ld;
}

static void check_house_arrest(const char *profile) {
        house_arrest_client_t ha = NULL;
        afc_client_t afc = NULL;
        plist_t result = NULL;
        char local[4096], app[256] = "", remote[512];
        struct dirent *e;
        DIR *d;

        /* An app with File Sharing: the device vends only those (in name order, so the
         * choice does not depend on the file system's directory order). */
        snprintf(local, sizeof(local), "%s/apps", profile);
        d = opendir(local);
        while (d && (e = readdir(d))) {
                char ini[4096 + 300], line[256];
                bool sharing = false;
                FILE *f;

                if (e->d_name[0] == '.' || (app[0] && strcmp(e->d_name, app) > 0))
                        continue;
                snprintf(ini, sizeof(ini), "%s/%s/Info.ini", local, e->d_name);
                f = fopen(ini, "re");
                while (f && fgets(line, sizeof(line), f))
                        if (strncmp(line, "UIFileSharingEnabled=", 21) == 0)
                                sharing = strncmp(line + 21, "yes", 3) == 0 ||
                                          strncmp(line + 21, "true", 4) == 0 ||
                                          strncmp(line + 21, "1", 1) == 0;
                if (f)
                        fclose(f);
                if (sharing)
                        snprintf(app, sizeof(app), "%s", e->d_name);
        }
        if (d)
                closedir(d);
        CHECK(app[0], "profile has no app with file sharing");

        /* Unknown app: the device says so. */
        CHECK(house_arrest_client_start_service(device, &ha, "conf-afc") ==
              HOUSE_ARREST_E_SUCCESS, "start house_arrest");
        CHECK(house_arrest_send_command(ha, "VendDocuments", "com.example.does-not-exist") ==
              HOUSE_ARREST_E_SUCCESS, "send");
        CHECK(house_arrest_get_result(ha, &result) == HOUSE_ARREST_E_SUCCESS, "result");
        CHECK(plist_dict_get_item(result, "Error"), "unknown app was vended");
        plist_free(result);
        house_arrest_client_free(ha);

        CHECK(house_arrest_client_start_service(device, &ha, "conf-afc") ==
              HOUSE_ARREST_E_SUCCESS, "start house_arrest");
        CHECK(house_arrest_send_command(ha, "VendDocuments", app) == HOUSE_ARREST_E_SUCCESS,
              "send");
        CHECK(house_arrest_get_result(ha, &result) == HOUSE_ARREST_E_SUCCESS, "result");
        CHECK(!plist_dict_get_item(result, "Error"), "VendDocuments %s failed", app);
        plist_free(result);
        CHECK(afc_client_new_from_house_arrest_client(ha, &afc) == AFC_E_SUCCESS, "afc from ha");

        snprintf(local, sizeof(local), "%s/apps/%s/Documents", profile, app);
        check_listing(afc, "/Documents", local);

        static const uint8_t doc[] = "written through house_arrest\n";
        write_file(afc, "/Documents/from-host.txt", doc, sizeof(doc) - 1);
        snprintf(local, sizeof(local), "%s/apps/%s/Documents/from-host.txt", profile, app);
        FILE *f = fopen(local, "re");
        char buf[128] = "";
        CHECK(f && fread(buf, 1, sizeof(buf) - 1, f) == sizeof(doc) - 1 &&
              memcmp(buf, doc, sizeof(doc) - 1) == 0, "document not in the app container");
        fclose(f);
        uint64_t h;
        snprintf(remote, sizeof(remote), "/Info.ini");
        CHECK(afc_file_open(afc, remote, AFC_FOPEN_RDONLY, &h) != AFC_E_SUCCESS,
              "VendDocuments exposed a file outside Documents");
        afc_client_free(afc);
        house_arrest_client_free(ha);
}

static int dest_fd = -1;                /* --bench-tree DEST: where copies go */
static unsigned long dest_n;

/* Read one device file to its end in 1 MiB requests (written to DEST when given); the
 * bytes read. */
static uint64_t read_whole(afc_client_t afc, const char *path, char *buf) {
        uint64_t total = 0, h = 0;
        int out = -1;

        if (dest_fd >= 0) {
                char name[32];

                snprintf(name, sizeof(name), "%lu", dest_n++);
                out = openat(dest_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                CHECK(out >= 0, "create %s: %s", name, strerror(errno));
        }
        CHECK(afc_file_open(afc, path, AFC_FOPEN_RDONLY, &h) == AFC_E_SUCCESS, "open %s", path);
        for (;;) {
                uint32_t r = 0;
                CHECK(afc_file_read(afc, h, buf, 1 << 20, &r) == AFC_E_SUCCESS, "read");
                if (r == 0)
                        break;
                CHECK(out < 0 || write(out, buf, r) == (ssize_t) r, "write: %s", strerror(errno));
                total += r;
        }
        afc_file_close(afc, h);
        if (out >= 0)
                close(out);
        return total;
}

static int bench(const char *path, int rounds) {
        afc_client_t afc = NULL;
        struct timespec a, b;
        uint64_t total = 0;
        char *buf = malloc(1 << 20);

        CHECK(buf && afc_client_start_service(device, &afc, "conf-afc") == AFC_E_SUCCESS, "afc");
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < rounds; i++) {
                total += read_whole(afc, path, buf);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
        printf("afc-read: %llu bytes in %.3f s = %.1f MB/s\n", (unsigned long long) total, s,
               (double) total / 1e6 / s);
        afc_client_free(afc);
        free(buf);
        return 0;
}

/* Read every file below path; returns the bytes read. */
static uint64_t read_tree(afc_client_t afc, const char *path, char *buf, uint64_t *files) {
        char **list = NULL, **info = NULL;
        uint64_t total = 0;

        CHECK(afc_read_directory(afc, path, &list) == AFC_E_SUCCESS, "readdir %s", path);
        for (size_t i = 0; list[i]; i++) {
                char child[2048];
                bool dir = false;

                if (strcmp(list[i], ".") == 0 || strcmp(list[i], "..") == 0)
                        continue;
                snprintf(child, sizeof(child), "%s/%s", path, list[i]);
                CHECK(afc_get_file_info(afc, child, &info) == AFC_E_SUCCESS, "info %s", child);
                for (size_t k = 0; info[k] && info[k + 1]; k += 2)
                        if (strcmp(info[k], "st_ifmt") == 0)
                                dir = strcmp(info[k + 1], "S_IFDIR") == 0;
                afc_dictionary_free(info);
                if (dir) {
                        total += read_tree(afc, child, buf, files);
                        continue;
                }
                total += read_whole(afc, child, buf);
                (*files)++;
        }
        afc_dictionary_free(list);
        return total;
}

static int bench_tree(const char *path, const char *dest) {
        afc_client_t afc = NULL;
        struct timespec a, b;
        uint64_t total, files = 0;
        char *buf = malloc(1 << 20);

        CHECK(buf && afc_client_start_service(device, &afc, "conf-afc") == AFC_E_SUCCESS, "afc");
        if (dest) {
                mkdir(dest, 0700);
                dest_fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                CHECK(dest_fd >= 0, "%s: %s", dest, strerror(errno));
        }
        clock_gettime(CLOCK_MONOTONIC, &a);
        total = read_tree(afc, path, buf, &files);
        if (dest_fd >= 0)
                CHECK(syncfs(dest_fd) == 0, "syncfs: %s", strerror(errno));
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (dest_fd >= 0)
                close(dest_fd);
        double s = (double) (b.tv_sec - a.tv_sec) + (double) (b.tv_nsec - a.tv_nsec) / 1e9;
        printf("afc-read-tree: %llu files, %llu bytes in %.3f s = %.1f MB/s\n",
               (unsigned long long) files, (unsigned long long) total, s,
               (double) total / 1e6 / s);
        afc_client_free(afc);
        free(buf);
        return 0;
}

int main(int argc, char **argv) {
        bool is_bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
        bool is_tree = argc > 1 && strcmp(argv[1], "--bench-tree") == 0;
        int r = 0;

        if (is_bench || is_tree) {
                argv++;
                argc--;
        }
        if (argc < 3) {
                fprintf(stderr, "usage: conf-afc [--bench] UDID PROFILE_DIR|PATH [ROUNDS]\n");
                return 2;
        }
        CHECK(idevice_new_with_options(&device, argv[1], IDEVICE_LOOKUP_USBMUX) ==
              IDEVICE_E_SUCCESS, "device %s not found", argv[1]);
        if (is_tree)
                r = bench_tree(argv[2], argc > 3 ? argv[3] : NULL);
        else if (is_bench)
                r = bench(argv[2], argc > 3 ? atoi(argv[3]) : 3);
        else {
                check_afc(argv[2]);
                check_house_arrest(argv[2]);
                printf("afc and house_arrest round trips ok\n");
        }
        idevice_free(device);
        return r;
}
