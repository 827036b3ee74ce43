/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device profiles: the plain directory that is one emulated iPhone.
 *
 * Every other module reads the device from here, and tests and benchmarks make and change
 * it with the gen-profile and mutate subcommands, so the layout is a contract:
 *
 *   device.ini                  [Device] Key=value lines (see info_keys[] below)
 *   media/                      the AFC root (/var/mobile/Media): DCIM/100APPLE/IMG_0001.HEIC,
 *                               …, Recordings/, Downloads/, Books/, iTunes_Control/iTunes/
 *   apps/<bundle id>/Info.ini   [App] section; apps/<bundle id>/Documents/… its shared files
 *   crash/                      crash reports: <Kind>-<date>.ips, Retired/<…>.ips
 *   backup/<Domain>/<path>      what a backup of the device contains. Files that the device
 *                               also shows elsewhere are hard links, not copies:
 *                               CameraRollDomain/Media/X and MediaDomain/Media/X ↔ media/X,
 *                               AppDomain-<id>/Documents/X ↔ apps/<id>/Documents/X.
 *
 * Nothing is cached: profile_read_info() and profile_app_lookup() read the files on every
 * call, so a running emulator sees what `mutate` changed.
 *
 * Generation is deterministic (xoshiro256** seeded with splitmix64, never rand()): the same
 * seed and options give a byte-identical tree, mtimes included. The size rules are described
 * above plan_fit_sizes() and plan_build().
 */
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "emu.h"

#define GEN_DEFAULT_FILES 50u
#define GEN_DEFAULT_BYTES (UINT64_C(4) << 20)
#define GEN_ODD_FILES 3u                        /* the odd-name files every profile has */
#define GEN_BUF_SIZE (1u << 20)                 /* content is generated and written in 1 MiB */
#define PHOTOS_PER_FOLDER 999u                  /* 100APPLE holds 999 items, then 101APPLE */

/* 2026-01-01 00:00:00 UTC: every generated mtime is this plus a seed-derived offset. */
#define BASE_TIME INT64_C(1767225600)
#define DAY INT64_C(86400)

#define DEFAULT_DISK_TOTAL (UINT64_C(128) << 30)
#define DEFAULT_DISK_FREE (UINT64_C(64) << 30)

static inline void closep(int *fd) {
        if (*fd >= 0)
                (void) close(*fd);
}

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- PRNG: splitmix64 to seed, xoshiro256** to run ------------------------------------ */

typedef struct Rng {
        uint64_t s[4];
} Rng;

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

static void rng_init(Rng *r, uint64_t seed) {
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++)
                r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl64(uint64_t x, int k) {
        return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(Rng *r) {
        uint64_t result = rotl64(r->s[1] * 5, 7) * 9;
        uint64_t t = r->s[1] << 17;

        r->s[2] ^= r->s[0];
        r->s[3] ^= r->s[1];
        r->s[1] ^= r->s[2];
        r->s[0] ^= r->s[3];
        r->s[2] ^= t;
        r->s[3] = rotl64(r->s[3], 45);
        return result;
}

/* Uniform enough in [0, n) (multiply-high, no rejection: the bias is below 2^-32 here). */
static uint64_t rng_range(Rng *r, uint64_t n) {
        return (uint64_t) (((unsigned __int128) rng_next(r) * n) >> 64);
}

/* Fill buf with n pseudo-random bytes, stored little-endian so the bytes are the same on
 * every architecture. The state lives in locals so the loop runs in registers. */
static void rng_fill(Rng *r, uint8_t *buf, size_t n) {
        Rng x = *r;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t v = htole64(rng_next(&x));
                memcpy(buf + i, &v, 8);
        }
        if (i < n) {
                uint64_t v = htole64(rng_next(&x));
                memcpy(buf + i, &v, n - i);
        }
        *r = x;
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(0x100000001b3);
        return h;
}

/* The seed of one file's content: a function of the run's seed and the file's path only. */
static uint64_t content_seed(uint64_t seed, const char *path) {
        uint64_t x = seed ^ fnv1a(path);

        return splitmix64(&x);
}

/* ---- small helpers ----------------------------------------------------------------------- */

/* Create path (relative to dfd) and its missing parents. path is modified and restored. */
static int mkdir_p_at(int dfd, char *path) {
        char *slash;
        int r;

        if (mkdirat(dfd, path, 0755) >= 0 || errno == EEXIST)
                return 0;
        if (errno != ENOENT)
                return -errno;

        slash = strrchr(path, '/');
        if (!slash || slash == path)
                return -ENOENT;
        *slash = '\0';
        r = mkdir_p_at(dfd, path);
        *slash = '/';
        if (r < 0)
                return r;
        if (mkdirat(dfd, path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Create the directories above path (relative to dfd). */
static int mkdir_parents_at(int dfd, const char *path) {
        char buf[PATH_MAX];
        char *slash;

        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        slash = strrchr(buf, '/');
        if (!slash)
                return 0;
        *slash = '\0';
        return mkdir_p_at(dfd, buf);
}

static int write_all(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int set_mtime_at(int dfd, const char *path, int64_t t) {
        struct timespec ts[2] = { { .tv_sec = (time_t) t }, { .tv_sec = (time_t) t } };

        if (utimensat(dfd, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

/* Create a new file at path (relative to dfd), creating missing parent directories only
 * when needed: most files land in directories that exist already. Returns an fd or -errno. */
static int create_at(int dfd, const char *path) {
        int fd, r;

        fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd >= 0 || errno != ENOENT)
                return fd >= 0 ? fd : -errno;
        r = mkdir_parents_at(dfd, path);
        if (r < 0)
                return r;
        fd = openat(dfd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        return fd >= 0 ? fd : -errno;
}

/* Write a small text file in one go (device.ini, Info.ini, crash reports). */
static int write_text_at(int dfd, const char *path, const char *text, size_t len, int64_t t) {
        _cleanup_(closep) int fd = -EBADF;
        struct timespec ts[2] = { { .tv_sec = (time_t) t }, { .tv_sec = (time_t) t } };
        int r;

        fd = create_at(dfd, path);
        if (fd < 0)
                return fd;
        r = write_all(fd, text, len);
        if (r < 0)
                return r;
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

/* A value is printable UTF-8 or ASCII without control characters. */
static bool string_is_clean(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if ((uint8_t) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* ---- a small table-driven INI parser ----------------------------------------------------- */

typedef int (*IniParse)(const char *value, void *field);

typedef struct IniKey {
        const char *key;
        IniParse parse;         /* < 0: invalid value (the caller logs and fails) */
        size_t offset;          /* of the field in the target struct */
} IniKey;

static void trim(char **s) {
        char *e;

        while (**s == ' ' || **s == '\t')
                (*s)++;
        e = *s + strlen(*s);
        while (e > *s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                *--e = '\0';
}

/* Parse path: '#'/';' comment lines, "[Section]" headers, "Key=value" assignments; only
 * keys of `section` are used (later assignments win). A malformed line or an invalid value
 * is logged as "path:line: …" and gives -EBADMSG; an unknown key or section is only warned
 * about. -ENOENT (and other -errno) if the file cannot be opened, nothing logged then. */
static int ini_parse(const char *path, const char *section, const IniKey *keys, size_t n_keys,
                     void *obj) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_(freep) char *line = NULL;
        size_t allocated = 0;
        bool seen_section = false, in_section = false;
        unsigned lineno = 0;
        ssize_t len;

        f = fopen(path, "re");
        if (!f)
                return -errno;

        while ((len = getline(&line, &allocated, f)) >= 0) {
                const IniKey *k = NULL;
                char *s = line, *eq, *key, *value;

                lineno++;
                if ((size_t) len != strlen(line)) {
                        log_warn("%s:%u: line contains a NUL byte", path, lineno);
                        return -EBADMSG;
                }
                trim(&s);
                if (*s == '\0' || *s == '#' || *s == ';')
                        continue;

                if (*s == '[') {
                        size_t l = strlen(s);

                        if (l < 3 || s[l - 1] != ']') {
                                log_warn("%s:%u: malformed section header '%s'", path, lineno, s);
                                return -EBADMSG;
                        }
                        s[l - 1] = '\0';
                        seen_section = true;
                        in_section = strcmp(s + 1, section) == 0;
                        if (!in_section)
                                log_warn("%s:%u: unknown section '[%s]', ignoring", path, lineno,
                                         s + 1);
                        continue;
                }

                eq = strchr(s, '=');
                if (!eq) {
                        log_warn("%s:%u: missing '=' in '%s'", path, lineno, s);
                        return -EBADMSG;
                }
                *eq = '\0';
                key = s;
                value = eq + 1;
                trim(&key);
                trim(&value);
                if (*key == '\0') {
                        log_warn("%s:%u: assignment without a key", path, lineno);
                        return -EBADMSG;
                }
                if (!seen_section) {
                        log_warn("%s:%u: assignment to '%s' outside of a section", path, lineno,
                                 key);
                        return -EBADMSG;
                }
                if (!in_section)
                        continue;               /* its header was warned about already */

                for (size_t i = 0; i < n_keys; i++)
                        if (strcmp(keys[i].key, key) == 0) {
                                k = &keys[i];
                                break;
                        }
                if (!k) {
                        log_warn("%s:%u: unknown key '%s', ignoring", path, lineno, key);
                        continue;
                }
                if (k->parse(value, (uint8_t *) obj + k->offset) < 0) {
                        log_warn("%s:%u: invalid value '%s' for %s", path, lineno, value, key);
                        return -EBADMSG;
                }
        }
        if (ferror(f))
                return -EIO;
        return 0;
}

/* ---- value parsers (IniParse): 0 or -EINVAL, the field untouched on failure ------------- */

static int set_string(char **field, const char *value) {
        char *s = strdup(value);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static int parse_string(const char *value, void *field) {
        if (!string_is_clean(value, 255))
                return -EINVAL;
        return set_string(field, value);
}

/* An empty value unsets the field (PhoneNumber=, for an iPod). */
static int parse_string_optional(const char *value, void *field) {
        char **s = field;

        if (*value == '\0') {
                free(*s);
                *s = NULL;
                return 0;
        }
        return parse_string(value, field);
}

/* Letters, then "major,minor": iPhone15,2, iPad13,4, iPod9,1. */
static bool product_is_valid(const char *s) {
        const char *p = s;

        while (isalpha((unsigned char) *p))
                p++;
        if (p == s || !isdigit((unsigned char) *p))
                return false;
        while (isdigit((unsigned char) *p))
                p++;
        if (*p++ != ',' || !isdigit((unsigned char) *p))
                return false;
        while (isdigit((unsigned char) *p))
                p++;
        return *p == '\0' && p - s <= 32;
}

static int parse_product(const char *value, void *field) {
        if (!product_is_valid(value))
                return -EINVAL;
        return set_string(field, value);
}

/* "17", "17.5" or "17.5.1". */
static bool version_is_valid(const char *s) {
        unsigned parts = 0;

        for (;;) {
                if (!isdigit((unsigned char) *s))
                        return false;
                while (isdigit((unsigned char) *s))
                        s++;
                parts++;
                if (*s == '\0')
                        return parts <= 3;
                if (*s++ != '.')
                        return false;
        }
}

static int parse_version(const char *value, void *field) {
        if (!version_is_valid(value) || strlen(value) > 16)
                return -EINVAL;
        return set_string(field, value);
}

static bool chars_in(const char *s, const char *set, size_t min, size_t max) {
        size_t n = strlen(s);

        return n >= min && n <= max && strspn(s, set) == n;
}

#define UPPER_ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define ALNUM UPPER_ALNUM "abcdefghijklmnopqrstuvwxyz"
#define HEX "0123456789abcdefABCDEF"

static int parse_alnum(const char *value, void *field) {
        if (!chars_in(value, ALNUM, 1, 16))
                return -EINVAL;
        return set_string(field, value);
}

static int parse_serial(const char *value, void *field) {
        if (!chars_in(value, UPPER_ALNUM, 1, 32))
                return -EINVAL;
        return set_string(field, value);
}

static int parse_device_class(const char *value, void *field) {
        if (strcmp(value, "iPhone") != 0 && strcmp(value, "iPad") != 0 &&
            strcmp(value, "iPod") != 0)
                return -EINVAL;
        return set_string(field, value);
}

/* aa:bb:cc:dd:ee:ff, either case. */
static int parse_mac(const char *value, void *field) {
        if (strlen(value) != 17)
                return -EINVAL;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? value[i] != ':' : !strchr(HEX, value[i]))
                        return -EINVAL;
        return set_string(field, value);
}

static int parse_imei(const char *value, void *field) {
        if (*value != '\0' && !chars_in(value, "0123456789", 14, 16))
                return -EINVAL;
        return parse_string_optional(value, field);
}

/* Strict unsigned decimal: digits only, no sign, no blanks, no overflow. */
static int parse_u64_decimal(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (*s != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

/* UniqueChipID: decimal, never 0 (0 means "not set, derive one"). */
static int parse_ecid(const char *value, void *field) {
        uint64_t v;
        int r;

        r = parse_u64_decimal(value, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -EINVAL;
        *(uint64_t *) field = v;
        return 0;
}

static int parse_percent(const char *value, void *field) {
        uint64_t v;
        int r;

        r = parse_u64_decimal(value, &v);
        if (r < 0)
                return r;
        if (v > 100)
                return -ERANGE;
        *(int *) field = (int) v;
        return 0;
}

static int parse_bool(const char *value, void *field) {
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(value, yes[i]) == 0) {
                        *(bool *) field = true;
                        return 0;
                }
                if (strcasecmp(value, no[i]) == 0) {
                        *(bool *) field = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_size_field(const char *value, void *field) {
        return parse_size(value, field);
}

static int parse_app_type(const char *value, void *field) {
        if (strcmp(value, "User") != 0 && strcmp(value, "System") != 0)
                return -EINVAL;
        return set_string(field, value);
}

/**
 * parse_size: parse a byte count.
 * @s: digits, optionally followed by one K, M, G or T (either case; powers of 1024). Nothing
 *     else is accepted: no blanks, no sign, no "B", no fractions.
 * @ret: set to the value on success only.
 *
 * Returns 0 on success, -EINVAL if @s is not of that form, -ERANGE if the value does not fit
 * in 64 bits.
 */
int parse_size(const char *s, uint64_t *ret) {
        static const char suffixes[] = "KMGT";
        const char *p = s, *sfx;
        unsigned shift = 0;
        uint64_t v = 0;

        if (!s || !ret)
                return -EINVAL;
        while (isdigit((unsigned char) *p))
                p++;
        if (p == s)
                return -EINVAL;
        if (*p != '\0') {
                sfx = strchr(suffixes, toupper((unsigned char) *p));
                if (!sfx || *sfx == '\0' || p[1] != '\0')
                        return -EINVAL;
                shift = 10 * (unsigned) (sfx - suffixes + 1);
        }

        for (const char *q = s; q < p; q++) {
                unsigned d = (unsigned) (*q - '0');

                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        if (v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

/* ---- device.ini ------------------------------------------------------------------------- */

static const IniKey info_keys[] = {
        { "Name", parse_string, offsetof(DeviceInfo, name) },
        { "ProductType", parse_product, offsetof(DeviceInfo, product) },
        { "ProductVersion", parse_version, offsetof(DeviceInfo, ios) },
        { "BuildVersion", parse_alnum, offsetof(DeviceInfo, build) },
        { "SerialNumber", parse_serial, offsetof(DeviceInfo, serial) },
        { "DeviceClass", parse_device_class, offsetof(DeviceInfo, device_class) },
        { "HardwareModel", parse_alnum, offsetof(DeviceInfo, hardware_model) },
        { "WiFiAddress", parse_mac, offsetof(DeviceInfo, wifi_address) },
        { "BluetoothAddress", parse_mac, offsetof(DeviceInfo, bt_address) },
        { "PhoneNumber", parse_string_optional, offsetof(DeviceInfo, phone_number) },
        { "IMEI", parse_imei, offsetof(DeviceInfo, imei) },
        { "UniqueChipID", parse_ecid, offsetof(DeviceInfo, ecid) },
        { "BatteryPercent", parse_percent, offsetof(DeviceInfo, battery) },
        { "BatteryCharging", parse_bool, offsetof(DeviceInfo, charging) },
        { "DiskTotal", parse_size_field, offsetof(DeviceInfo, disk_total) },
        { "DiskFree", parse_size_field, offsetof(DeviceInfo, disk_free) },
        { "SetupDone", parse_bool, offsetof(DeviceInfo, setup_done) },
};

/* Known ProductType → HardwareModel pairs; others get a made-up but well-formed model. */
static const struct {
        const char *product, *model;
} hardware_models[] = {
        { "iPhone12,1", "N104AP" }, { "iPhone13,2", "D53gAP" }, { "iPhone14,2", "D63AP" },
        { "iPhone14,3", "D64AP" },  { "iPhone14,5", "D17AP" },  { "iPhone14,7", "D27AP" },
        { "iPhone15,2", "D73AP" },  { "iPhone15,3", "D74AP" },  { "iPhone15,4", "D37AP" },
        { "iPhone15,5", "D38AP" },  { "iPhone16,1", "D83AP" },  { "iPhone16,2", "D84AP" },
        { "iPad13,4", "J517AP" },   { "iPod9,1", "N112AP" },
};

/* Real ProductVersion → BuildVersion pairs; others are derived the way Apple numbers them. */
static const struct {
        const char *version, *build;
} builds[] = {
        { "15.0", "19A346" }, { "16.0", "20A362" },   { "16.6", "20G75" },
        { "17.0", "21A329" }, { "17.4", "21E219" },   { "17.5", "21F79" },
        { "17.5.1", "21F90" }, { "17.6", "21G80" },   { "18.0", "22A3354" },
};

static const char *device_class_of(const char *product) {
        if (startswith(product, "iPad"))
                return "iPad";
        if (startswith(product, "iPod"))
                return "iPod";
        return "iPhone";
}

static char *hardware_model_of(const char *product) {
        char *s;

        for (size_t i = 0; i < ELEMENTSOF(hardware_models); i++)
                if (strcmp(hardware_models[i].product, product) == 0)
                        return strdup(hardware_models[i].model);
        if (asprintf(&s, "%c%uAP", startswith(product, "iPad") ? 'J' : 'D',
                     (unsigned) (fnv1a(product) % 90 + 10)) < 0)
                return NULL;
        return s;
}

/* iOS M.m is build (M+4)<letter m>NN: 17.5 → 21F79. */
static char *build_of(const char *version) {
        unsigned major = 0, minor = 0;
        char *s;

        for (size_t i = 0; i < ELEMENTSOF(builds); i++)
                if (strcmp(builds[i].version, version) == 0)
                        return strdup(builds[i].build);
        (void) sscanf(version, "%u.%u", &major, &minor);
        if (asprintf(&s, "%u%c%u", major % 1000 + 4, 'A' + (char) (minor % 26),
                     (unsigned) (fnv1a(version) % 50 + 50)) < 0)
                return NULL;
        return s;
}

/* The identifiers of a device, all derived from one seed. */
typedef struct Idents {
        char serial[13];
        uint64_t ecid;
        char wifi[18], bt[18];
        char phone[24];
        char imei[16];
} Idents;

static void idents_make(uint64_t seed, Idents *id) {
        static const char serial_chars[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
        static const uint8_t ouis[][3] = {
                { 0xf0, 0x99, 0xb6 }, { 0x3c, 0x22, 0xfb }, { 0xa4, 0x83, 0xe7 },
                { 0x88, 0x66, 0x5a }, { 0xbc, 0xd0, 0x74 },
        };
        const uint8_t *oui;
        unsigned sum = 0;
        uint8_t nic[3];
        Rng r;

        rng_init(&r, seed ^ UINT64_C(0x6964656e7473));  /* "idents" */
        for (size_t i = 0; i < 12; i++)
                id->serial[i] = serial_chars[rng_range(&r, sizeof(serial_chars) - 1)];
        id->serial[12] = '\0';

        id->ecid = (rng_next(&r) & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x0001000000000000);

        oui = ouis[rng_range(&r, ELEMENTSOF(ouis))];
        for (size_t i = 0; i < 3; i++)
                nic[i] = (uint8_t) rng_next(&r);
        nic[2] &= 0xfe;                         /* Bluetooth is WiFi + 1, as on real phones */
        snprintf(id->wifi, sizeof(id->wifi), "%02x:%02x:%02x:%02x:%02x:%02x", oui[0], oui[1],
                 oui[2], nic[0], nic[1], nic[2]);
        snprintf(id->bt, sizeof(id->bt), "%02x:%02x:%02x:%02x:%02x:%02x", oui[0], oui[1],
                 oui[2], nic[0], nic[1], nic[2] + 1);

        /* 555-01xx numbers are reserved for fiction. */
        snprintf(id->phone, sizeof(id->phone), "+1 (%03u) 555-01%02u",
                 (unsigned) (201 + rng_range(&r, 780)), (unsigned) rng_range(&r, 100));

        /* IMEI: 14 digits (TAC 35…) and the Luhn check digit. */
        id->imei[0] = '3';
        id->imei[1] = '5';
        for (size_t i = 2; i < 14; i++)
                id->imei[i] = (char) ('0' + rng_range(&r, 10));
        for (size_t i = 0; i < 14; i++) {
                unsigned d = (unsigned) (id->imei[i] - '0');

                if (i % 2 == 1)
                        d = d * 2 > 9 ? d * 2 - 9 : d * 2;
                sum += d;
        }
        id->imei[14] = (char) ('0' + (10 - sum % 10) % 10);
        id->imei[15] = '\0';
}

/* Fill in what device.ini left out. The identifiers are derived from the Name, so two
 * minimal profiles with different names still look like different phones. */
static int info_fill_defaults(DeviceInfo *i) {
        Idents id;

        if (!i->name && !(i->name = strdup("iPhone")))
                return -ENOMEM;
        if (!i->product && !(i->product = strdup("iPhone15,2")))
                return -ENOMEM;
        if (!i->ios && !(i->ios = strdup("17.5")))
                return -ENOMEM;
        if (!i->build && !(i->build = build_of(i->ios)))
                return -ENOMEM;
        if (!i->device_class && !(i->device_class = strdup(device_class_of(i->product))))
                return -ENOMEM;
        if (!i->hardware_model && !(i->hardware_model = hardware_model_of(i->product)))
                return -ENOMEM;

        idents_make(fnv1a(i->name), &id);
        if (!i->serial && !(i->serial = strdup(id.serial)))
                return -ENOMEM;
        if (!i->wifi_address && !(i->wifi_address = strdup(id.wifi)))
                return -ENOMEM;
        if (!i->bt_address && !(i->bt_address = strdup(id.bt)))
                return -ENOMEM;
        if (i->ecid == 0)
                i->ecid = id.ecid;
        return 0;
}

/**
 * profile_read_info: read DIR/device.ini, fresh on every call.
 * @dir: the profile directory (borrowed).
 * @ret: on success, a new DeviceInfo the caller frees with device_info_free().
 *
 * Keys missing from the [Device] section get defaults: ProductType iPhone15,2,
 * ProductVersion 17.5, BuildVersion and HardwareModel and DeviceClass derived from those,
 * SerialNumber/UniqueChipID/WiFiAddress/BluetoothAddress derived from Name, BatteryPercent
 * 87, BatteryCharging no, DiskTotal 128G, DiskFree 64G, SetupDone yes; PhoneNumber and IMEI
 * stay NULL. An unknown key or section is warned about ("file:line: …, ignoring").
 *
 * Returns 0 on success; -EBADMSG for a malformed line or an invalid value (logged as
 * "file:line: …", also DiskFree > DiskTotal), -ENOENT if there is no device.ini (not logged),
 * another -errno if it cannot be read, -ENOMEM.
 */
int profile_read_info(const char *dir, DeviceInfo **ret) {
        _cleanup_(device_info_freep) DeviceInfo *i = NULL;
        _cleanup_(freep) char *path = NULL;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        if (asprintf(&path, "%s/device.ini", dir) < 0)
                return -ENOMEM;

        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        i->battery = 87;
        i->disk_total = DEFAULT_DISK_TOTAL;
        i->disk_free = DEFAULT_DISK_FREE;
        i->setup_done = true;

        r = ini_parse(path, "Device", info_keys, ELEMENTSOF(info_keys), i);
        if (r < 0)
                return r;
        if (i->disk_total != 0 && i->disk_free > i->disk_total) {
                log_warn("%s: DiskFree (%" PRIu64 ") exceeds DiskTotal (%" PRIu64 ")", path,
                         i->disk_free, i->disk_total);
                return -EBADMSG;
        }
        r = info_fill_defaults(i);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(i);
        return 0;
}

/**
 * device_info_free: free a DeviceInfo and every string in it.
 * @i: the DeviceInfo (owned), or NULL.
 *
 * Returns NULL.
 */
DeviceInfo *device_info_free(DeviceInfo *i) {
        if (!i)
                return NULL;
        free(i->name);
        free(i->product);
        free(i->ios);
        free(i->build);
        free(i->serial);
        free(i->device_class);
        free(i->hardware_model);
        free(i->wifi_address);
        free(i->bt_address);
        free(i->phone_number);
        free(i->imei);
        free(i);
        return NULL;
}

/* ---- apps/<bundle id>/Info.ini ------------------------------------------------------------ */

static const IniKey app_keys[] = {
        { "CFBundleIdentifier", parse_string, offsetof(AppInfo, bundle_id) },
        { "CFBundleDisplayName", parse_string, offsetof(AppInfo, display_name) },
        { "CFBundleShortVersionString", parse_string, offsetof(AppInfo, short_version) },
        { "CFBundleVersion", parse_string, offsetof(AppInfo, version) },
        { "ApplicationType", parse_app_type, offsetof(AppInfo, app_type) },
        { "UIFileSharingEnabled", parse_bool, offsetof(AppInfo, file_sharing) },
};

/* A bundle id names one directory under apps/: no '/', no "..", no leading '.'. */
static bool bundle_id_is_plain(const char *id) {
        return id && string_is_clean(id, 255) && !strchr(id, '/') && !strstr(id, "..") &&
               id[0] != '.';
}

/**
 * app_info_free: free an AppInfo and its strings.
 * @a: the AppInfo (owned), or NULL.
 *
 * Returns NULL.
 */
AppInfo *app_info_free(AppInfo *a) {
        if (!a)
                return NULL;
        free(a->bundle_id);
        free(a->display_name);
        free(a->short_version);
        free(a->version);
        free(a->app_type);
        free(a);
        return NULL;
}

static inline void app_info_freep(AppInfo **a) {
        app_info_free(*a);
}

/**
 * app_info_free_array: free an array of AppInfo as profile_list_apps() returns it.
 * @a: the array (owned) and its n elements (owned, NULL elements allowed); @a may be NULL.
 * @n: number of elements.
 */
void app_info_free_array(AppInfo **a, size_t n) {
        if (!a)
                return;
        for (size_t i = 0; i < n; i++)
                app_info_free(a[i]);
        free(a);
}

/**
 * profile_app_lookup: read DIR/apps/<bundle_id>/Info.ini, fresh on every call.
 * @dir: the profile directory (borrowed).
 * @bundle_id: the app's bundle id (borrowed); must be a plain directory name.
 * @ret: on success, a new AppInfo the caller frees with app_info_free().
 *
 * Missing keys get defaults: CFBundleIdentifier = @bundle_id, CFBundleDisplayName = the last
 * dot-separated part of it, CFBundleShortVersionString 1.0, CFBundleVersion 1,
 * ApplicationType User, UIFileSharingEnabled no.
 *
 * Returns 0 on success; -ENOENT if the app does not exist or @bundle_id contains '/' or
 * "..", starts with '.', or is empty; -EBADMSG if Info.ini is malformed or names another
 * CFBundleIdentifier (logged as "file:line: …"); -ENOMEM or another -errno.
 */
int profile_app_lookup(const char *dir, const char *bundle_id, AppInfo **ret) {
        _cleanup_(app_info_freep) AppInfo *a = NULL;
        _cleanup_(freep) char *path = NULL;
        const char *dot;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        if (!bundle_id_is_plain(bundle_id))
                return -ENOENT;
        if (asprintf(&path, "%s/apps/%s/Info.ini", dir, bundle_id) < 0)
                return -ENOMEM;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;

        r = ini_parse(path, "App", app_keys, ELEMENTSOF(app_keys), a);
        if (r == -ENOTDIR)
                return -ENOENT;
        if (r < 0)
                return r;

        if (a->bundle_id && strcmp(a->bundle_id, bundle_id) != 0) {
                log_warn("%s: CFBundleIdentifier '%s' does not match the directory name", path,
                         a->bundle_id);
                return -EBADMSG;
        }
        dot = strrchr(bundle_id, '.');
        if (!a->bundle_id && !(a->bundle_id = strdup(bundle_id)))
                return -ENOMEM;
        if (!a->display_name && !(a->display_name = strdup(dot ? dot + 1 : bundle_id)))
                return -ENOMEM;
        if (!a->short_version && !(a->short_version = strdup("1.0")))
                return -ENOMEM;
        if (!a->version && !(a->version = strdup("1")))
                return -ENOMEM;
        if (!a->app_type && !(a->app_type = strdup("User")))
                return -ENOMEM;

        *ret = TAKE_PTR(a);
        return 0;
}

static int app_info_compare(const void *a, const void *b) {
        const AppInfo *const *x = a, *const *y = b;

        return strcmp((*x)->bundle_id, (*y)->bundle_id);
}

/**
 * profile_list_apps: every app of the profile, sorted by bundle id.
 * @dir: the profile directory (borrowed).
 * @ret: on success, a new array (NULL when there are no apps) that the caller frees with
 *       app_info_free_array(*ret, *ret_n).
 * @ret_n: on success, the number of apps.
 *
 * Directories under apps/ without an Info.ini, and names starting with '.', are skipped; a
 * missing apps/ means no apps.
 *
 * Returns 0 on success, -EBADMSG if an Info.ini is malformed (logged), -ENOMEM or -errno.
 */
int profile_list_apps(const char *dir, AppInfo ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_(freep) char *path = NULL;
        AppInfo **list = NULL;
        size_t n = 0, allocated = 0;
        struct dirent *de;
        int r = 0;

        if (!dir || !ret || !ret_n)
                return -EINVAL;
        if (asprintf(&path, "%s/apps", dir) < 0)
                return -ENOMEM;

        d = opendir(path);
        if (!d && errno != ENOENT)
                return -errno;

        while (d) {
                AppInfo *a;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                r = -errno;
                        break;
                }
                if (de->d_name[0] == '.')
                        continue;

                r = profile_app_lookup(dir, de->d_name, &a);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                if (n == allocated) {
                        size_t m = allocated ? allocated * 2 : 8;
                        AppInfo **l = reallocarray(list, m, sizeof(*l));

                        if (!l) {
                                app_info_free(a);
                                r = -ENOMEM;
                                break;
                        }
                        list = l;
                        allocated = m;
                }
                list[n++] = a;
        }
        if (r < 0) {
                app_info_free_array(list, n);
                return r;
        }

        if (n > 0)
                qsort(list, n, sizeof(*list), app_info_compare);
        *ret = list;
        *ret_n = n;
        return 0;
}

/* ---- tree listing ---------------------------------------------------------------------- */

typedef struct Entry {
        char *path;             /* relative to the directory fd the listing started from */
        struct stat st;
} Entry;

typedef struct EntryList {
        Entry *e;
        size_t n, allocated;
} EntryList;

static void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->e[i].path);
        free(l->e);
        *l = (EntryList) {};
}

/* Append path (ownership moves to the list, also on failure). */
static int entry_list_add(EntryList *l, char *path, const struct stat *st) {
        if (l->n == l->allocated) {
                size_t m = l->allocated ? l->allocated * 2 : 256;
                Entry *e = reallocarray(l->e, m, sizeof(*e));

                if (!e) {
                        free(path);
                        return -ENOMEM;
                }
                l->e = e;
                l->allocated = m;
        }
        l->e[l->n++] = (Entry) { .path = path, .st = st ? *st : (struct stat) {} };
        return 0;
}

static int entry_compare(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->path, ((const Entry *) b)->path);
}

/* Add the directories and/or regular files beneath top (relative to dfd; "." for dfd
 * itself) to l, recursively, without following symlinks. Unsorted. */
static int list_tree(int dfd, const char *top, bool dirs, bool files, EntryList *l) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd, r;

        fd = openat(dfd, top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                (void) close(fd);
                return r;
        }

        for (;;) {
                struct stat st;
                char *path;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? -errno : 0;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                if (!S_ISDIR(st.st_mode) && !(S_ISREG(st.st_mode) && files))
                        continue;

                if (strcmp(top, ".") == 0)
                        path = strdup(de->d_name);
                else if (asprintf(&path, "%s/%s", top, de->d_name) < 0)
                        path = NULL;
                if (!path)
                        return -ENOMEM;

                if (S_ISDIR(st.st_mode)) {
                        r = list_tree(dfd, path, dirs, files, l);
                        if (r < 0) {
                                free(path);
                                return r;
                        }
                        if (!dirs) {
                                free(path);
                                continue;
                        }
                }
                r = entry_list_add(l, path, &st);
                if (r < 0)
                        return r;
        }
}

/* Give every directory beneath dfd, and dfd itself, the mtime t (creating entries changed
 * them), so that the whole tree is reproducible. */
static int set_dir_mtimes(int dfd, int64_t t) {
        _cleanup_(entry_list_done) EntryList l = {};
        int r;

        r = list_tree(dfd, ".", true, false, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                r = set_mtime_at(dfd, l.e[i].path, t);
                if (r < 0)
                        return r;
        }
        return set_mtime_at(dfd, ".", t);
}

/* ---- file content ------------------------------------------------------------------------ */

/* The first bytes of common formats, so that `file` and eyes recognise the fixture. The
 * rest of every file is pseudo-random (incompressible, cheap to make). */
static const struct {
        const char *ext;
        const char *magic;
        size_t len;
} magics[] = {
        { ".HEIC", "\0\0\0\x18" "ftypheic\0\0\0\0" "mif1heic", 24 },
        { ".MOV", "\0\0\0\x14" "ftypqt  \0\0\0\0" "qt  ", 20 },
        { ".m4a", "\0\0\0\x1c" "ftypM4A \0\0\0\0" "M4A mp42isom", 28 },
        { ".jpeg", "\xff\xd8\xff\xe0\0\x10" "JFIF", 11 },
        { ".plist", "bplist00", 8 },
        { ".db", "SQLite format 3", 16 },
        { ".sqlite", "SQLite format 3", 16 },
        { ".sqlitedb", "SQLite format 3", 16 },
        { ".storedata", "SQLite format 3", 16 },
        { ".pdf", "%PDF-1.7\n", 9 },
};

/* Extensions whose content is printable text instead of random bytes. */
static const char *const text_exts[] = { ".txt", ".md", ".json", ".ips", ".csv" };

/* 64 characters: letters, blanks and a few line breaks, so that the text looks like text. */
static const char text_alphabet[65] =
        "abcdefghijklmnopqrstuvwxyzetaoinsrhl        ABCDEFGHIJKLMNOP.,\n\n";

static bool path_has_ext(const char *path, const char *ext) {
        size_t n = strlen(path), m = strlen(ext);

        return n > m && strcmp(path + n - m, ext) == 0;
}

/* Write size bytes of content (a function of cseed and the path's extension only) to a new
 * file at path (relative to dfd; parents are created) and give it the mtime t.
 * buf: GEN_BUF_SIZE bytes of scratch space. */
static int write_content_at(int dfd, const char *path, uint64_t size, uint64_t cseed, int64_t t,
                            uint8_t *buf) {
        _cleanup_(closep) int fd = -EBADF;
        struct timespec ts[2] = { { .tv_sec = (time_t) t }, { .tv_sec = (time_t) t } };
        const char *magic = NULL;
        size_t magic_len = 0;
        bool text = false;
        uint64_t done = 0;
        Rng rng;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(magics); i++)
                if (path_has_ext(path, magics[i].ext)) {
                        magic = magics[i].magic;
                        magic_len = magics[i].len;
                }
        for (size_t i = 0; i < ELEMENTSOF(text_exts); i++)
                if (path_has_ext(path, text_exts[i]))
                        text = true;

        fd = create_at(dfd, path);
        if (fd < 0)
                return fd;

        rng_init(&rng, cseed);
        while (done < size) {
                size_t n = size - done > GEN_BUF_SIZE ? GEN_BUF_SIZE : (size_t) (size - done);

                rng_fill(&rng, buf, n);
                if (text)
                        for (size_t i = 0; i < n; i++)
                                buf[i] = (uint8_t) text_alphabet[buf[i] & 63];
                if (done == 0 && magic)
                        memcpy(buf, magic, magic_len < n ? magic_len : n);
                r = write_all(fd, buf, n);
                if (r < 0)
                        return r;
                done += n;
        }
        if (futimens(fd, ts) < 0)
                return -errno;
        return 0;
}

/* The hard-linked twin of a backup file, relative to the profile directory: media/X for
 * CameraRollDomain/Media/X and MediaDomain/Media/X, apps/<id>/Documents/X for
 * AppDomain-<id>/Documents/X. Returns 1 and fills buf, 0 if the path has no twin location,
 * -ENAMETOOLONG. Whether a twin exists is for the caller to check. */
static int twin_path(const char *bpath, char *buf, size_t n) {
        static const char *const media_prefixes[] = { "CameraRollDomain/Media/",
                                                      "MediaDomain/Media/" };
        const char *slash;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(media_prefixes); i++)
                if (startswith(bpath, media_prefixes[i])) {
                        k = snprintf(buf, n, "media/%s", bpath + strlen(media_prefixes[i]));
                        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 1;
                }

        if (!startswith(bpath, "AppDomain-"))
                return 0;
        bpath += strlen("AppDomain-");
        slash = strchr(bpath, '/');
        if (!slash || slash == bpath || !startswith(slash + 1, "Documents/"))
                return 0;
        k = snprintf(buf, n, "apps/%.*s/%s", (int) (slash - bpath), bpath, slash + 1);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 1;
}

/* ---- the generation plan: every backup file, its class, size and mtime ------------------ */

typedef enum SizeClass {
        SIZE_SMALL,
        SIZE_MEDIUM,
        SIZE_LARGE,
        SIZE_PHOTO,
        SIZE_VIDEO,
        _SIZE_CLASS_MAX,
} SizeClass;

/* Natural sizes, roughly log-uniform over [lo, lo << doublings). */
static const struct {
        uint64_t lo;
        unsigned doublings;
} size_classes[_SIZE_CLASS_MAX] = {
        [SIZE_SMALL] = { 64, 10 },              /* 64 B … 64 KiB */
        [SIZE_MEDIUM] = { 64 << 10, 5 },        /* 64 KiB … 2 MiB */
        [SIZE_LARGE] = { 2 << 20, 4 },          /* 2 … 32 MiB */
        [SIZE_PHOTO] = { 1 << 20, 2 },          /* 1 … 4 MiB */
        [SIZE_VIDEO] = { 128 << 20, 2 },        /* 128 … 512 MiB */
};

static uint64_t natural_size(Rng *r, SizeClass c) {
        uint64_t octave = size_classes[c].lo << rng_range(r, size_classes[c].doublings);

        return octave + rng_range(r, octave);
}

/* Most files are small, some medium, few large (per cent). */
static SizeClass pick_class(Rng *r, unsigned medium, unsigned large) {
        uint64_t x = rng_range(r, 100);

        return x < large ? SIZE_LARGE : x < large + medium ? SIZE_MEDIUM : SIZE_SMALL;
}

typedef struct PlanFile {
        char *path;             /* relative to backup/ */
        bool twin;              /* written at twin_path() and hard-linked into backup/ */
        SizeClass cls;
        uint64_t size;          /* the natural size, then the final one (plan_fit_sizes()) */
        int64_t mtime;
} PlanFile;

typedef struct Plan {
        PlanFile *files;
        size_t n, allocated;
} Plan;

static void plan_done(Plan *p) {
        for (size_t i = 0; i < p->n; i++)
                free(p->files[i].path);
        free(p->files);
        *p = (Plan) {};
}

static int plan_add(Plan *p, Rng *r, SizeClass cls, bool twin, int64_t mtime, const char *fmt,
                    ...) __attribute__((format(printf, 6, 7)));

static int plan_add(Plan *p, Rng *r, SizeClass cls, bool twin, int64_t mtime, const char *fmt,
                    ...) {
        va_list ap;
        char *path;
        int k;

        if (p->n == p->allocated) {
                size_t m = p->allocated ? p->allocated * 2 : 64;
                PlanFile *f = reallocarray(p->files, m, sizeof(*f));

                if (!f)
                        return -ENOMEM;
                p->files = f;
                p->allocated = m;
        }
        va_start(ap, fmt);
        k = vasprintf(&path, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;

        p->files[p->n++] = (PlanFile) {
                .path = path,
                .twin = twin,
                .cls = cls,
                .size = natural_size(r, cls),
                .mtime = mtime,
        };
        return 0;
}

/* What every profile has besides filler, in this order. */
static const struct {
        const char *path;
        SizeClass cls;
} core_files[] = {
        { "HomeDomain/Library/SMS/sms.db", SIZE_MEDIUM },
        { "HomeDomain/Library/AddressBook/AddressBook.sqlitedb", SIZE_MEDIUM },
        { "KeychainDomain/keychain-backup.plist", SIZE_SMALL },
        { "HomeDomain/Library/Preferences/com.apple.springboard.plist", SIZE_SMALL },
        { "WirelessDomain/Library/Preferences/com.apple.commcenter.plist", SIZE_SMALL },
        { "SystemPreferencesDomain/SystemConfiguration/preferences.plist", SIZE_SMALL },
        { "CameraRollDomain/Media/PhotoData/Photos.sqlite", SIZE_MEDIUM },
        { "HomeDomain/Library/Preferences/com.apple.Preferences.plist", SIZE_SMALL },
        { "HomeDomain/Library/AddressBook/AddressBookImages.sqlitedb", SIZE_MEDIUM },
        { "HomeDomain/Library/CallHistoryDB/CallHistory.storedata", SIZE_SMALL },
        { "SystemPreferencesDomain/SystemConfiguration/com.apple.wifi.plist", SIZE_SMALL },
        { "HomeDomain/Library/Calendar/Calendar.sqlitedb", SIZE_MEDIUM },
        { "HomeDomain/Library/Safari/Bookmarks.db", SIZE_SMALL },
        { "HomeDomain/Library/Safari/History.db", SIZE_MEDIUM },
        { "HealthDomain/Health/healthdb_secure.sqlite", SIZE_LARGE },
        { "HomeDomain/Library/Voicemail/voicemail.db", SIZE_SMALL },
        { "HomeDomain/Library/Accounts/Accounts3.sqlite", SIZE_SMALL },
        { "HomeDomain/Library/Notes/notes.sqlite", SIZE_MEDIUM },
        { "ManagedPreferencesDomain/mobile/com.apple.webcontentfilter.plist", SIZE_SMALL },
        { "RootDomain/Library/Caches/locationd/clients.plist", SIZE_SMALL },
        { "HomeDomain/Library/Keyboard/dynamic-text.dat", SIZE_SMALL },
        { "DatabaseDomain/timezone/localtime", SIZE_SMALL },
};

/* The first document of app n is first_docs[(n - 1) % …]: odd but legal names. */
static const char *const first_docs[] = {
        "Café ☕ notes.txt",
        "議事録 2026年1月.txt",
        "Quarterly Report.pdf",
        "Ünïcödé résumé.md",
        "photo edit.jpeg",
        "data.json",
};

static const char *const app_names[] = {
        "Notes Pro", "PhotoBox", "Café Finder", "Docs", "Tasks", "Reader", "写真アルバム",
};

static const char *const cache_owners[] = {
        "mobilesafari", "Maps", "news", "weather", "stocks", "podcasts",
};

/* The camera roll: item i (from 0) is IMG_<i % 9999 + 1>, in folder 100APPLE + i / 999;
 * every fifth item from the second on is a video. */
static int plan_photos(Plan *p, Rng *r, unsigned photos) {
        for (unsigned i = 0; i < photos; i++) {
                bool video = i % 5 == 1;
                int64_t t = BASE_TIME + (int64_t) i * 3 * 3600 + (int64_t) rng_range(r, 3600);
                int k;

                k = plan_add(p, r, video ? SIZE_VIDEO : SIZE_PHOTO, true, t,
                             "CameraRollDomain/Media/DCIM/%03uAPPLE/IMG_%04u.%s",
                             100 + i / PHOTOS_PER_FOLDER, i % 9999 + 1, video ? "MOV" : "HEIC");
                if (k < 0)
                        return k;
        }
        return 0;
}

/* The long path: deep directories, a 200-byte ASCII and a 200-byte UTF-8 component; the
 * relative path is over 512 bytes, every component at most 255. */
static int plan_long_path(Plan *p, Rng *r) {
        char deep[128] = "", ascii[201], utf8[201];
        size_t n = 0;

        for (unsigned i = 1; i <= 8; i++)
                n += (size_t) snprintf(deep + n, sizeof(deep) - n, "level %02u/", i);
        for (size_t i = 0; i < 200; i++)
                ascii[i] = "long-directory-name-"[i % 20];
        ascii[200] = '\0';
        for (size_t i = 0; i < 200; i += 2)
                memcpy(utf8 + i, "\xc3\xbc", 2);        /* ü */
        utf8[200] = '\0';

        return plan_add(p, r, SIZE_SMALL, false, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                        "HomeDomain/Library/Caches/com.example.deep/%s%s/%s/leaf file.txt",
                        deep, ascii, utf8);
}

/* One filler file, number j: spread over several domains and directories. */
static int plan_filler(Plan *p, Rng *r, unsigned j) {
        int64_t t = BASE_TIME + (int64_t) rng_range(r, 30 * DAY);
        SizeClass c = pick_class(r, 11, 1);
        uint64_t pick = rng_range(r, 100);
        const char *owner = cache_owners[rng_range(r, ELEMENTSOF(cache_owners))];

        if (pick < 25)
                return plan_add(p, r, c, false, t,
                                "MediaDomain/Library/SMS/Attachments/%02x/%02x/IMG_%u.jpeg",
                                j % 16, (j / 16) % 16, 5000 + j);
        if (pick < 40)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Caches/com.apple.%s/fsCachedData/"
                                "%08X-%04X-%u",
                                owner, (unsigned) rng_range(r, UINT32_MAX),
                                (unsigned) rng_range(r, 0x10000), j);
        if (pick < 55)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Preferences/com.example.prefs%u.plist", j);
        if (pick < 65) {
                struct tm tm;
                time_t tt = (time_t) t;

                (void) gmtime_r(&tt, &tm);
                return plan_add(p, r, c, true, t,
                                "MediaDomain/Media/Recordings/%04d%02d%02d %02d%02d%02d-%u.m4a",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                tm.tm_min, tm.tm_sec, j);
        }
        if (pick < 75)
                return plan_add(p, r, c, false, t,
                                "HomeDomain/Library/Application Support/com.apple.%s/store-%u.db",
                                owner, j);
        if (pick < 85)
                return plan_add(p, r, c, false, t, "HomeDomain/Library/Voicemail/%u.amr", j);
        if (pick < 92)
                return plan_add(p, r, c, false, t,
                                "RootDomain/Library/Caches/locationd/cache-%u.plist", j);
        return plan_add(p, r, c, false, t, "HomeDomain/Library/Cookies/Cookies-%u.binarycookies",
                        j);
}

/*
 * The file count rule. F = files, P = photos, A = apps. Every profile has the P camera-roll
 * items, one document per app and the 3 odd-name files (Café ☕ notes.txt, a Japanese name
 * with blanks, the > 512-byte path), so F must be at least P + A + 3 (else -EINVAL). Of the
 * remaining R = F - (P + A + 3), the first min(R, 22) are the core files (sms.db,
 * AddressBook, preferences, keychain, …), a quarter of what is left (when A > 0) are more
 * app documents, round robin over the apps, and the rest is filler spread over HomeDomain,
 * MediaDomain and RootDomain. Exactly F regular files end up under backup/.
 */
static int plan_build(Plan *p, Rng *r, unsigned files, unsigned photos, unsigned apps) {
        unsigned rest = files - photos - apps - GEN_ODD_FILES, extra;
        int k;

        k = plan_photos(p, r, photos);
        if (k < 0)
                return k;

        for (unsigned a = 1; a <= apps; a++) {
                k = plan_add(p, r, SIZE_SMALL, true, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "AppDomain-com.example.app%u/Documents/%s", a,
                             first_docs[(a - 1) % ELEMENTSOF(first_docs)]);
                if (k < 0)
                        return k;
        }

        k = plan_add(p, r, SIZE_SMALL, false, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                     "HomeDomain/Library/Notes/Café ☕ notes.txt");
        if (k < 0)
                return k;
        k = plan_add(p, r, SIZE_MEDIUM, true, BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                     "MediaDomain/Media/Recordings/録音 メモ 2026-01-01.m4a");
        if (k < 0)
                return k;
        k = plan_long_path(p, r);
        if (k < 0)
                return k;

        for (size_t i = 0; i < ELEMENTSOF(core_files) && rest > 0; i++, rest--) {
                k = plan_add(p, r, core_files[i].cls, false,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY), "%s",
                             core_files[i].path);
                if (k < 0)
                        return k;
        }

        extra = apps > 0 ? rest / 4 : 0;
        for (unsigned i = 0; i < extra; i++) {
                static const char *const names[] = {
                        "Archive/item-", "My Files/Note ", "データ/ファイル ", "photo ",
                };
                static const char *const exts[] = { ".dat", ".txt", ".bin", ".jpeg" };
                unsigned j = i / apps;

                k = plan_add(p, r, pick_class(r, 18, 2), true,
                             BASE_TIME + (int64_t) rng_range(r, 30 * DAY),
                             "AppDomain-com.example.app%u/Documents/%s%u%s", i % apps + 1,
                             names[j % 4], j, exts[j % 4]);
                if (k < 0)
                        return k;
        }
        rest -= extra;

        for (unsigned j = 0; j < rest; j++) {
                k = plan_filler(p, r, j);
                if (k < 0)
                        return k;
        }
        return 0;
}

static uint64_t sum_sizes(PlanFile *const *v, size_t n, uint64_t cap) {
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += v[i]->size < cap ? v[i]->size : cap;
        return s;
}

/* Make the sizes of v[0…n) add up to exactly budget (n > 0). Too much: the biggest files
 * are cut down to one common cap (water filling), so small files keep their size, and the
 * remainder goes 1 byte each to the first files above the cap. Too little: the difference
 * goes to the large files in proportion to their size (to every file if there is no large
 * one), the rounding remainder to the first of them. */
static void fit_sizes(PlanFile *const *v, size_t n, uint64_t budget) {
        uint64_t sum = sum_sizes(v, n, UINT64_MAX), weight = 0, given = 0, excess;
        bool any_large = false;
        PlanFile *first = NULL;

        assert(n > 0);

        if (sum > budget) {
                uint64_t lo = 0, hi = 0, rem;

                for (size_t i = 0; i < n; i++)
                        if (v[i]->size > hi)
                                hi = v[i]->size;
                while (lo < hi) {               /* the largest cap that fits */
                        uint64_t mid = lo + (hi - lo + 1) / 2;

                        if (sum_sizes(v, n, mid) <= budget)
                                lo = mid;
                        else
                                hi = mid - 1;
                }
                rem = budget - sum_sizes(v, n, lo);
                for (size_t i = 0; i < n; i++)
                        if (v[i]->size > lo) {
                                v[i]->size = lo + (rem > 0);
                                if (rem > 0)
                                        rem--;
                        }
                return;
        }

        excess = budget - sum;
        for (size_t i = 0; i < n; i++)
                any_large = any_large || v[i]->cls == SIZE_LARGE;
        for (size_t i = 0; i < n; i++)
                if (!any_large || v[i]->cls == SIZE_LARGE)
                        weight += v[i]->size;
        for (size_t i = 0; i < n; i++) {
                uint64_t add;

                if (any_large && v[i]->cls != SIZE_LARGE)
                        continue;
                add = weight > 0 ? (uint64_t) ((unsigned __int128) excess * v[i]->size / weight)
                                 : 0;
                v[i]->size += add;
                given += add;
                if (!first)
                        first = v[i];
        }
        first->size += excess - given;
}

/*
 * The byte rule: the sizes of the backup/ files add up to exactly `bytes`, whatever the file
 * count (sizes may be 0 when `bytes` is tiny). Each file first gets a natural size from its
 * class: small 64 B–64 KiB (most files), medium 64 KiB–2 MiB, large 2–32 MiB (1 % of the
 * filler), photos 1–4 MiB, videos 128–512 MiB. Videos get the big share: min(their natural
 * sizes, bytes / 2). The other files are fitted into the rest with fit_sizes(); if they need
 * less than that, the videos get everything they leave.
 */
static int plan_fit_sizes(Plan *p, uint64_t bytes) {
        _cleanup_(freep) PlanFile **videos = NULL, **others = NULL;
        size_t nv = 0, no = 0;
        uint64_t vbudget, osum;

        videos = calloc(p->n, sizeof(*videos));
        others = calloc(p->n, sizeof(*others));
        if (!videos || !others)
                return -ENOMEM;
        for (size_t i = 0; i < p->n; i++) {
                if (p->files[i].cls == SIZE_VIDEO)
                        videos[nv++] = &p->files[i];
                else
                        others[no++] = &p->files[i];
        }
        assert(no > 0);                         /* the odd-name files are always there */

        if (nv == 0) {
                fit_sizes(others, no, bytes);
                return 0;
        }
        vbudget = sum_sizes(videos, nv, UINT64_MAX);
        if (vbudget > bytes / 2)
                vbudget = bytes / 2;
        osum = sum_sizes(others, no, UINT64_MAX);
        if (osum <= bytes - vbudget) {
                fit_sizes(videos, nv, bytes - osum);
                return 0;
        }
        fit_sizes(others, no, bytes - vbudget);
        fit_sizes(videos, nv, vbudget);
        return 0;
}

/* ---- the other parts of a generated profile ------------------------------------------------ */

static int gen_device_ini(int dfd, uint64_t seed, const char *name, const char *product,
                          const char *ios, uint64_t bytes) {
        _cleanup_(freep) char *build = NULL, *model = NULL, *text = NULL;
        const char *class = device_class_of(product);
        bool phone = strcmp(class, "iPhone") == 0;
        uint64_t total = DEFAULT_DISK_TOTAL;
        char phone_line[64] = "", imei_line[40] = "";
        Idents id;
        int k;

        build = build_of(ios);
        model = hardware_model_of(product);
        if (!build || !model)
                return -ENOMEM;
        idents_make(seed, &id);

        /* The disk holds at least twice the backup, so DiskFree stays plausible. */
        while (total / 2 < bytes && total < (UINT64_C(1) << 62))
                total *= 2;
        if (phone) {
                snprintf(phone_line, sizeof(phone_line), "PhoneNumber=%s\n", id.phone);
                snprintf(imei_line, sizeof(imei_line), "IMEI=%s\n", id.imei);
        }

        k = asprintf(&text,
                     "# fakeidevice device profile, made by gen-profile --seed %" PRIu64 "\n"
                     "[Device]\n"
                     "Name=%s\n"
                     "ProductType=%s\n"
                     "ProductVersion=%s\n"
                     "BuildVersion=%s\n"
                     "SerialNumber=%s\n"
                     "DeviceClass=%s\n"
                     "HardwareModel=%s\n"
                     "WiFiAddress=%s\n"
                     "BluetoothAddress=%s\n"
                     "%s%s"
                     "UniqueChipID=%" PRIu64 "\n"
                     "BatteryPercent=87\n"
                     "BatteryCharging=no\n"
                     "DiskTotal=%" PRIu64 "G\n"
                     "DiskFree=%" PRIu64 "G\n"
                     "SetupDone=yes\n",
                     seed, name, product, ios, build, id.serial, class, model, id.wifi, id.bt,
                     phone_line, imei_line, id.ecid, total >> 30, (total / 2) >> 30);
        if (k < 0)
                return -ENOMEM;
        return write_text_at(dfd, "device.ini", text, (size_t) k, BASE_TIME);
}

static int gen_app_info(int dfd, Rng *r, uint64_t seed, unsigned a) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        const char *name = app_names[(seed + a) % ELEMENTSOF(app_names)];
        unsigned minor = (unsigned) rng_range(r, 10), patch = (unsigned) rng_range(r, 10);
        char suffix[16] = "";
        int k;

        if (a > ELEMENTSOF(app_names))          /* keep display names unique */
                snprintf(suffix, sizeof(suffix), " %u", a);
        if (asprintf(&path, "apps/com.example.app%u/Info.ini", a) < 0)
                return -ENOMEM;
        k = asprintf(&text,
                     "[App]\n"
                     "CFBundleIdentifier=com.example.app%u\n"
                     "CFBundleDisplayName=%s%s\n"
                     "CFBundleShortVersionString=1.%u.%u\n"
                     "CFBundleVersion=%u\n"
                     "ApplicationType=User\n"
                     "UIFileSharingEnabled=yes\n",
                     a, name, suffix, minor, patch, 100 + minor * 10 + patch);
        if (k < 0)
                return -ENOMEM;
        return write_text_at(dfd, path, text, (size_t) k, BASE_TIME);
}

/* Crash report i: crash/<Kind>-YYYY-MM-DD-HHMMSS.ips (every third in crash/Retired/), an
 * .ips-like text: a one-line JSON header, then a JSON body of a few KiB. */
static int gen_crashlog(int dfd, Rng *r, unsigned i, unsigned apps, const char *ios,
                        const char *build, const char *model, char *buf, size_t size) {
        static const char *const bug_types[] = { "385", "309", "298", "288" };
        int64_t t = BASE_TIME + DAY + (int64_t) i * 4000 + (int64_t) rng_range(r, 3000);
        time_t tt = (time_t) t;
        char stamp[32], date[32], app[64], bundle[64], kind[96], path[160];
        unsigned frames = 20 + (unsigned) rng_range(r, 60), kindno = i % 4;
        struct tm tm;
        size_t n;

        (void) gmtime_r(&tt, &tm);
        (void) strftime(stamp, sizeof(stamp), "%Y-%m-%d-%H%M%S", &tm);
        (void) strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
        if (apps > 0) {
                snprintf(bundle, sizeof(bundle), "com.example.app%u", i % apps + 1);
                snprintf(app, sizeof(app), "App%u", i % apps + 1);
        } else {
                snprintf(bundle, sizeof(bundle), "com.apple.springboard");
                snprintf(app, sizeof(app), "SpringBoard");
        }
        switch (kindno) {
        case 0:
                snprintf(kind, sizeof(kind), "ExcUserFault_%s", app);
                break;
        case 1:
                snprintf(kind, sizeof(kind), "%s", app);
                break;
        case 2:
                snprintf(kind, sizeof(kind), "JetsamEvent");
                break;
        default:
                snprintf(kind, sizeof(kind), "stacks+%s", app);
                break;
        }
        snprintf(path, sizeof(path), "crash/%s%s-%s.ips", i % 3 == 2 ? "Retired/" : "", kind,
                 stamp);

        n = (size_t) snprintf(buf, size,
                              "{\"app_name\":\"%s\",\"timestamp\":\"%s.00 +0000\","
                              "\"app_version\":\"1.0\",\"bundleID\":\"%s\",\"bug_type\":\"%s\","
                              "\"os_version\":\"iPhone OS %s (%s)\",\"incident_id\":"
                              "\"%08X-%04X-%04X-%04X-%012" PRIX64 "\",\"name\":\"%s\"}\n"
                              "{\n  \"uptime\" : %u,\n  \"procRole\" : \"Foreground\",\n"
                              "  \"modelCode\" : \"%s\",\n  \"captureTime\" : \"%s\",\n"
                              "  \"exception\" : {\"type\":\"EXC_CRASH\",\"signal\":"
                              "\"SIGABRT\"},\n  \"threads\" : [{\"triggered\":true,\"frames\":[\n",
                              app, date, bundle, bug_types[kindno], ios, build,
                              (unsigned) rng_range(r, UINT32_MAX),
                              (unsigned) rng_range(r, 0x10000), (unsigned) rng_range(r, 0x10000),
                              (unsigned) rng_range(r, 0x10000),
                              rng_range(r, UINT64_C(1) << 48), app,
                              (unsigned) rng_range(r, 1000000), model, date);
        for (unsigned f = 0; f < frames && n + 200 < size; f++)
                n += (size_t) snprintf(buf + n, size - n,
                                       "    {\"imageOffset\":%u,\"symbol\":\"frame_%u\","
                                       "\"symbolLocation\":%u,\"imageIndex\":%u}%s\n",
                                       (unsigned) rng_range(r, 1u << 24), f,
                                       (unsigned) rng_range(r, 4096),
                                       (unsigned) rng_range(r, 8), f + 1 < frames ? "," : "");
        n += (size_t) snprintf(buf + n, size - n, "  ]}]\n}\n");

        return write_text_at(dfd, path, buf, n, t);
}

/* Refuse a non-empty DIR; create it (and its parents) if missing. */
static int gen_prepare_dir(const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        char buf[PATH_MAX];
        struct dirent *de;
        size_t n = strlen(dir);

        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        d = opendir(dir);
        if (!d) {
                if (errno != ENOENT)
                        return -errno;
                strcpy(buf, dir);
                while (n > 1 && buf[n - 1] == '/')
                        buf[--n] = '\0';
                return mkdir_p_at(AT_FDCWD, buf);
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        return -EEXIST;
        return 0;
}

/**
 * profile_generate: make a new, deterministic profile (the gen-profile subcommand).
 * @dir: where (borrowed); must not exist or be an empty directory. Created with parents.
 * @o: the options (borrowed). 0 for files or bytes means the default (50 files, 4 MiB);
 *     photos, apps and crashlogs are taken as given (0 = none). NULL name/product/ios mean
 *     "iPhone <seed>", iPhone15,2 and 17.5.
 *
 * Writes device.ini, media/, apps/, crash/ and backup/ as described at the top of this file
 * and above plan_build() (file count) and plan_fit_sizes() (byte count): backup/ then holds
 * exactly o->files regular files of o->bytes bytes in total. The same options give a
 * byte-identical tree, mtimes of files and directories included.
 *
 * Returns 0 on success; -EEXIST if @dir is a non-empty directory, -EINVAL for options that
 * cannot be met (files < photos + apps + 3, a bad name/product/ios), another -errno if
 * writing fails (the partial tree is left behind). Every failure is logged.
 */
int profile_generate(const char *dir, const GenOptions *o) {
        _cleanup_(closep) int dfd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) char *default_name = NULL;
        _cleanup_(plan_done) Plan plan = {};
        const char *name, *product, *ios, *step;
        uint64_t bytes, need;
        unsigned files;
        Rng rng;
        int r;

        if (!dir || !o)
                return -EINVAL;

        files = o->files ? o->files : GEN_DEFAULT_FILES;
        bytes = o->bytes ? o->bytes : GEN_DEFAULT_BYTES;
        need = (uint64_t) o->photos + o->apps + GEN_ODD_FILES;
        if (files < need) {
                log_warn("gen-profile: %u files cannot hold %u photos, %u app documents and "
                         "%u odd-name files; use --files %" PRIu64 " or more",
                         files, o->photos, o->apps, GEN_ODD_FILES, need);
                return -EINVAL;
        }
        if (!o->name && asprintf(&default_name, "iPhone %" PRIu64, o->seed) < 0)
                return -ENOMEM;
        name = o->name ?: default_name;
        product = o->product ?: "iPhone15,2";
        ios = o->ios ?: "17.5";
        if (!string_is_clean(name, 255) || !product_is_valid(product) ||
            !version_is_valid(ios) || strlen(ios) > 16) {
                log_warn("gen-profile: invalid name '%s', product '%s' or version '%s'", name,
                         product, ios);
                return -EINVAL;
        }

        rng_init(&rng, o->seed);
        r = plan_build(&plan, &rng, files, o->photos, o->apps);
        if (r < 0) {
                log_warn("gen-profile: cannot plan the files: %s", strerror(-r));
                return r;
        }
        r = plan_fit_sizes(&plan, bytes);
        if (r < 0)
                return r;

        buf = malloc(GEN_BUF_SIZE);
        if (!buf)
                return -ENOMEM;

        r = gen_prepare_dir(dir);
        if (r == -EEXIST) {
                log_warn("gen-profile: '%s' exists and is not empty, refusing", dir);
                return r;
        }
        if (r < 0) {
                log_warn("gen-profile: cannot create '%s': %s", dir, strerror(-r));
                return r;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                log_warn("gen-profile: cannot open '%s': %s", dir, strerror(-r));
                return r;
        }

        step = "device.ini";
        r = gen_device_ini(dfd, o->seed, name, product, ios, bytes);
        if (r < 0)
                goto fail;

        step = "directories";
        {
                static const char *const dirs[] = {
                        "media/DCIM", "media/Downloads", "media/Books",
                        "media/iTunes_Control/iTunes", "apps", "crash/Retired", "backup",
                };
                char d[64];

                for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                        snprintf(d, sizeof(d), "%s", dirs[i]);
                        r = mkdir_p_at(dfd, d);
                        if (r < 0)
                                goto fail;
                }
        }

        for (size_t i = 0; i < plan.n; i++) {
                const PlanFile *f = &plan.files[i];
                char bpath[PATH_MAX], twin[PATH_MAX];
                uint64_t cseed = content_seed(o->seed, f->path);

                step = f->path;
                if ((size_t) snprintf(bpath, sizeof(bpath), "backup/%s", f->path) >=
                    sizeof(bpath)) {
                        r = -ENAMETOOLONG;
                        goto fail;
                }
                if (!f->twin) {
                        r = write_content_at(dfd, bpath, f->size, cseed, f->mtime, buf);
                        if (r < 0)
                                goto fail;
                        continue;
                }

                r = twin_path(f->path, twin, sizeof(twin));
                if (r == 0)
                        r = -EINVAL;            /* a plan bug: a twin without a place */
                if (r < 0)
                        goto fail;
                r = write_content_at(dfd, twin, f->size, cseed, f->mtime, buf);
                if (r < 0)
                        goto fail;
                if (linkat(dfd, twin, dfd, bpath, 0) < 0) {
                        r = errno == ENOENT ? mkdir_parents_at(dfd, bpath) : -errno;
                        if (r >= 0 && linkat(dfd, twin, dfd, bpath, 0) < 0)
                                r = -errno;
                        if (r < 0)
                                goto fail;
                }
        }

        step = "apps";
        for (unsigned a = 1; a <= o->apps; a++) {
                r = gen_app_info(dfd, &rng, o->seed, a);
                if (r < 0)
                        goto fail;
        }

        step = "crash reports";
        {
                _cleanup_(freep) char *build = build_of(ios), *model = hardware_model_of(product);

                if (!build || !model) {
                        r = -ENOMEM;
                        goto fail;
                }
                for (unsigned i = 0; i < o->crashlogs; i++) {
                        r = gen_crashlog(dfd, &rng, i, o->apps, ios, build, model, (char *) buf,
                                         GEN_BUF_SIZE);
                        if (r < 0)
                                goto fail;
                }
        }

        step = "directory times";
        r = set_dir_mtimes(dfd, BASE_TIME);
        if (r < 0)
                goto fail;
        return 0;

fail:
        log_warn("gen-profile: '%s': failed at %s: %s", dir, step, strerror(-r));
        return r;
}

/* ---- mutate ------------------------------------------------------------------------------ */

/* The name of a temporary file in the directory of path: "<dir>/.mutate.tmp". */
static int tmp_path_for(const char *path, char *buf, size_t n) {
        const char *slash = strrchr(path, '/');
        int k;

        k = snprintf(buf, n, "%.*s.mutate.tmp", slash ? (int) (slash - path + 1) : 0, path);
        return k < 0 || (size_t) k >= n ? -ENAMETOOLONG : 0;
}

/* The twin of backup/<rel> (relative to dfd) into buf if there is one and it is the same
 * inode as st. Returns 1 (twin), 0 (none) or -errno. */
static int twin_of(int dfd, const char *rel, const struct stat *st, char *buf, size_t n) {
        struct stat tst;
        int r;

        r = twin_path(rel, buf, n);
        if (r <= 0)
                return r;
        if (fstatat(dfd, buf, &tst, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
        return tst.st_dev == st->st_dev && tst.st_ino == st->st_ino;
}

/* Replace bpath (and its twin, if any) by a new file of size bytes: write a temporary file
 * beside it, hard-link that beside the twin, then rename both over the originals. Both
 * names then share the new inode, as the device would show one changed photo in both
 * places; readers that hold the old file open keep reading the old content. */
static int mutate_replace(int dfd, const char *bpath, const char *twin, uint64_t size,
                          uint64_t cseed, int64_t t, uint8_t *buf) {
        char tmp[PATH_MAX], ttmp[PATH_MAX];
        int r;

        r = tmp_path_for(bpath, tmp, sizeof(tmp));
        if (r < 0)
                return r;
        (void) unlinkat(dfd, tmp, 0);
        r = write_content_at(dfd, tmp, size, cseed, t, buf);
        if (r < 0)
                goto fail;

        if (twin) {
                r = tmp_path_for(twin, ttmp, sizeof(ttmp));
                if (r < 0)
                        goto fail;
                (void) unlinkat(dfd, ttmp, 0);
                if (linkat(dfd, tmp, dfd, ttmp, 0) < 0) {
                        r = -errno;
                        goto fail;
                }
                if (renameat(dfd, ttmp, dfd, twin) < 0) {
                        r = -errno;
                        (void) unlinkat(dfd, ttmp, 0);
                        goto fail;
                }
        }
        if (renameat(dfd, tmp, dfd, bpath) < 0) {
                r = -errno;
                goto fail;
        }
        return 0;

fail:
        (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* Remember the directory above path, whose mtime the mutation changed. */
static int touch_parent(EntryList *dirs, const char *path) {
        const char *slash = strrchr(path, '/');
        char *d;

        if (!slash)
                return 0;
        d = strndup(path, (size_t) (slash - path));
        if (!d)
                return -ENOMEM;
        return entry_list_add(dirs, d, NULL);
}

/* A new file in the directory of the backup file `like` (relative to backup/): a photo in a
 * DCIM folder, a note among app documents, else an "added-…" file. Its twin is made too
 * when the directory has one. */
static int mutate_add(int dfd, Rng *r, uint64_t seed, const char *like, int64_t t, uint8_t *buf,
                      EntryList *touched) {
        const char *slash = strrchr(like, '/');
        int dirlen = slash ? (int) (slash - like) : 0;
        char rel[PATH_MAX], bpath[PATH_MAX], twin[PATH_MAX];
        bool has_twin = false;
        struct stat st;
        int k;

        for (unsigned attempt = 0;; attempt++) {
                uint64_t x = rng_next(r);

                if (attempt >= 1000)
                        return -EEXIST;
                if (strstr(like, "/DCIM/") && startswith(like, "CameraRollDomain/"))
                        k = snprintf(rel, sizeof(rel), "%.*s/IMG_%04u.HEIC", dirlen, like,
                                     (unsigned) (x % 9999 + 1));
                else if (strstr(like, "/Documents/") && startswith(like, "AppDomain-"))
                        k = snprintf(rel, sizeof(rel), "%.*s/New Note %08x.txt", dirlen, like,
                                     (unsigned) x);
                else
                        k = snprintf(rel, sizeof(rel), "%.*s%sadded-%016" PRIx64 ".dat", dirlen,
                                     like, slash ? "/" : "", x);
                if (k < 0 || (size_t) k >= sizeof(rel))
                        return -ENAMETOOLONG;
                if ((size_t) snprintf(bpath, sizeof(bpath), "backup/%s", rel) >= sizeof(bpath))
                        return -ENAMETOOLONG;
                if (fstatat(dfd, bpath, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        continue;
                if (errno != ENOENT)
                        return -errno;

                k = twin_path(rel, twin, sizeof(twin));
                if (k < 0)
                        return k;
                has_twin = false;
                if (k > 0) {
                        char tdir[PATH_MAX];
                        const char *ts = strrchr(twin, '/');

                        snprintf(tdir, sizeof(tdir), "%.*s", (int) (ts - twin), twin);
                        has_twin = fstatat(dfd, tdir, &st, 0) >= 0 && S_ISDIR(st.st_mode);
                        if (has_twin && fstatat(dfd, twin, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                                continue;
                }
                break;
        }

        if (has_twin) {
                k = write_content_at(dfd, twin, natural_size(r, SIZE_SMALL),
                                     content_seed(seed, rel), t, buf);
                if (k < 0)
                        return k;
                if (linkat(dfd, twin, dfd, bpath, 0) < 0)
                        return -errno;
                k = touch_parent(touched, twin);
        } else
                k = write_content_at(dfd, bpath, natural_size(r, SIZE_SMALL),
                                     content_seed(seed, rel), t, buf);
        if (k < 0)
                return k;
        return touch_parent(touched, bpath);
}

/**
 * profile_mutate: change the device's data the way a week of use would (the mutate
 * subcommand), deterministically.
 * @dir: the profile directory (borrowed).
 * @o: the options (borrowed).
 *
 * Works on the regular files under backup/, sorted by path; a PRNG seeded with o->seed
 * picks o->change + o->del distinct ones. The first o->change get new content whose size
 * differs from the old one by 1 byte to 10 %; the next o->del are removed. Then o->add new
 * files appear in directories of existing ones (new names). Twins stay consistent: a
 * backup file that is the same inode as its media/ or apps/ twin is replaced in both
 * places by one new inode (temporary file + rename, so open readers keep the old data),
 * or removed from both; a new file in a DCIM folder or app Documents gets its twin too.
 * New and changed files get mtimes after the newest one in backup/, and so do the
 * directories whose entries changed; the same tree and options give the same result.
 *
 * Returns 0 on success (printing nothing); -EINVAL if change + del exceeds the number of
 * files, -ENOENT if @dir has no backup/, another -errno on failure. Failures are logged.
 */
int profile_mutate(const char *dir, const MutateOptions *o) {
        _cleanup_(closep) int dfd = -EBADF;
        _cleanup_(freep) uint8_t *buf = NULL;
        _cleanup_(freep) size_t *perm = NULL;
        _cleanup_(entry_list_done) EntryList l = {}, touched = {};
        int64_t newest = BASE_TIME, t;
        const char *step = "listing backup/";
        uint64_t pick;
        Rng rng;
        int r;

        if (!dir || !o)
                return -EINVAL;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                log_warn("mutate: cannot open '%s': %s", dir, strerror(-r));
                return r;
        }
        r = list_tree(dfd, "backup", false, true, &l);
        if (r < 0)
                goto fail;
        if (l.n > 0)
                qsort(l.e, l.n, sizeof(*l.e), entry_compare);

        pick = (uint64_t) o->change + o->del;
        if (pick > l.n) {
                log_warn("mutate: '%s' has %zu backup files, cannot change %u and delete %u",
                         dir, l.n, o->change, o->del);
                return -EINVAL;
        }

        buf = malloc(GEN_BUF_SIZE);
        perm = calloc(l.n ? l.n : 1, sizeof(*perm));
        if (!buf || !perm)
                return -ENOMEM;

        for (size_t i = 0; i < l.n; i++) {
                perm[i] = i;
                if (l.e[i].st.st_mtime > newest)
                        newest = l.e[i].st.st_mtime;
        }
        t = newest + 3600;

        rng_init(&rng, o->seed ^ UINT64_C(0x6d7574617465));     /* "mutate" */
        for (size_t i = 0; i < pick; i++) {
                size_t j = i + (size_t) rng_range(&rng, l.n - i), x = perm[i];

                perm[i] = perm[j];
                perm[j] = x;
        }

        for (size_t i = 0; i < o->change; i++) {
                const Entry *e = &l.e[perm[i]];
                const char *rel = e->path + strlen("backup/");
                uint64_t old = (uint64_t) e->st.st_size, delta, size;
                char twin[PATH_MAX];
                int tw;

                step = e->path;
                delta = 1 + rng_range(&rng, old / 10 > 64 ? old / 10 : 64);
                size = (rng_next(&rng) & 1) && delta <= old ? old - delta : old + delta;

                tw = twin_of(dfd, rel, &e->st, twin, sizeof(twin));
                if (tw < 0) {
                        r = tw;
                        goto fail;
                }
                r = mutate_replace(dfd, e->path, tw ? twin : NULL, size,
                                   content_seed(o->seed ^ UINT64_C(0x6368616e6765), rel),
                                   t + (int64_t) rng_range(&rng, 3600), buf);
                if (r >= 0)
                        r = touch_parent(&touched, e->path);
                if (r >= 0 && tw)
                        r = touch_parent(&touched, twin);
                if (r < 0)
                        goto fail;
        }

        for (size_t i = o->change; i < pick; i++) {
                const Entry *e = &l.e[perm[i]];
                char twin[PATH_MAX];
                int tw;

                step = e->path;
                tw = twin_of(dfd, e->path + strlen("backup/"), &e->st, twin, sizeof(twin));
                if (tw < 0) {
                        r = tw;
                        goto fail;
                }
                if (unlinkat(dfd, e->path, 0) < 0) {
                        r = -errno;
                        goto fail;
                }
                r = touch_parent(&touched, e->path);
                if (r >= 0 && tw) {
                        if (unlinkat(dfd, twin, 0) < 0 && errno != ENOENT)
                                r = -errno;
                        else
                                r = touch_parent(&touched, twin);
                }
                if (r < 0)
                        goto fail;
        }

        for (unsigned i = 0; i < o->add; i++) {
                const char *like = l.n > 0 ? l.e[rng_range(&rng, l.n)].path + strlen("backup/")
                                           : "HomeDomain/Library/Caches/x";

                step = "adding files";
                r = mutate_add(dfd, &rng, o->seed ^ UINT64_C(0x616464), like,
                               t + (int64_t) rng_range(&rng, 3600), buf, &touched);
                if (r < 0)
                        goto fail;
        }

        step = "directory times";
        for (size_t i = 0; i < touched.n; i++) {
                r = set_mtime_at(dfd, touched.e[i].path, t + 3600);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        log_warn("mutate: '%s': failed at %s: %s", dir, step, strerror(-r));
        return r;
}
