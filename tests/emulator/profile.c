/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Device profiles: the plain directory that is one emulated iPhone.
 *
 * Every other module reads the device from here, and tests and benchmarks make and change
 * it with the gen-profile and mutate subcommands, so the layout is a contract:
 *
 *   device.ini                  [Device] Key=value lines (see info_keys[] below)
 *   media/                      the AFC root (/var/mobile/Media): DCIM/, Recordings/,
 *                               Downloads/, Books/, iTunes_Control/iTunes/, PhotoData/
 *   media/DCIM/1nnAPPLE/        the camera roll (--photos N = N files here, 999 numbers a
 *                               folder): IMG_nnnn.HEIC and .JPG (valid, EXIF
 *                               DateTimeOriginal, big- or little-endian TIFF), Live Photos
 *                               (IMG_nnnn.HEIC + IMG_nnnn.MOV), videos (.MOV, .MP4), .PNG, and
 *                               .AAE edit sidecars beside their photo; see profile-media.c
 *   media/PhotoData/Photos.sqlite  ZASSET: one row per DCIM photo or video (not AAE, not a
 *                               Live Photo's MOV) plus the iCloud-only items (no file);
 *                               not hard-linked (the backup has its own copy)
 *   media/PhotoData/CPLAssets/group1/<UUID>.JPG  iCloud downloads (photos ≥ 20), not in backup/
 *   photos.tsv                  ground truth for tests, never served: one line per DCIM or
 *                               CPLAssets file, "device_path<TAB>YYYY-MM<TAB>sha256<TAB>size<TAB>
 *                               kind" (photo, video, live-video, sidecar), then
 *                               "# icloud-only N"; rewritten by every mutate (profile-photos.c)
 *   apps/<bundle id>/Info.ini   [App] section (com.example.app1…N; with N ≥ 3 every third
 *                               app has UIFileSharingEnabled=no, the others yes)
 *   install.log                 installation_proxy Install/Uninstall requests, one line each
 *                               ("Install <PackagePath>", "Uninstall <bundle id>"); an
 *                               Install that succeeds also writes apps/<bundle id>/Info.ini
 *                               (services.c, ipa.c)
 *   apps/<bundle id>/Documents/ the app's documents (house_arrest VendDocuments, for apps
 *                               with file sharing). Sharing apps get, as far as --files
 *                               allows, the set in profile-gen.c's doc_set[]: NFD names
 *                               ("Cafe" U+0301 ".txt") beside NFC ones, 0-byte files at the
 *                               top and in a subdirectory, nested directories; and always
 *                               the empty directory Inbox/
 *   documents.tsv               ground truth for tests, never served: one line per regular
 *                               file in the Documents of every app with file sharing,
 *                               "bundle_id<TAB>path below Documents<TAB>sha256<TAB>size<TAB>
 *                               mtime_ns", sorted; rewritten by every mutate and by the
 *                               control command `doc`, not by AFC writes (profile-docs.c)
 *   crash/                      crash reports: <Kind>-<date>.ips, Retired/<…>.ips
 *   backup/<Domain>/<path>      what a backup of the device contains. Files that the device
 *                               also shows elsewhere are hard links, not copies:
 *                               CameraRollDomain/Media/X and MediaDomain/Media/X ↔ media/X,
 *                               AppDomain-<id>/Documents/X ↔ apps/<id>/Documents/X (empty
 *                               directories there exist in both places too).
 *   mobilesync/<class>.plist    mobilesync's record store of one data class, made the first
 *                               time a session, a backup or `mutate --pim-*` needs it from
 *                               the Sync* keys of device.ini (SyncContacts, SyncEvents,
 *                               SyncICloud, SyncDisabled, SyncSeed, SyncDataClasses; see
 *                               mobilesync.h); <class>.json beside it is the ground truth,
 *                               tethered_sync.plist the lockdown domain of that name. The
 *                               Contacts and Calendars stores (iCloud records included) are
 *                               the phone's address book and calendar: they replace the
 *                               AddressBook/Calendar databases of backup/ and contacts.json,
 *                               calendars.json (mobilesync-backupdb.c; backupdb.stamp
 *                               remembers which store they were written from)
 *
 * Nothing is cached: profile_read_info() and profile_app_lookup() read the files on every
 * call, so a running emulator sees what `mutate` changed.
 *
 * Generation is deterministic (xoshiro256** seeded with splitmix64, never rand()): the same
 * seed and options give a byte-identical tree, mtimes included. The size rules are described
 * above plan_fit_sizes() and plan_build(); camera-roll capture times and mtimes above
 * plan_photos().
 */
#include "mobilesync.h"
#include "profile-internal.h"

/* 2026-01-01 00:00:00 UTC: every generated mtime is this plus a seed-derived offset. */



/* Whether s begins with prefix. */
bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- PRNG: splitmix64 to seed, xoshiro256** to run ------------------------------------ */


static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

/* Seeds r from seed (splitmix64), so that a seed always gives one sequence. */
void rng_init(Rng *r, uint64_t seed) {
        for (size_t i = 0; i < ELEMENTSOF(r->s); i++)
                r->s[i] = splitmix64(&seed);
}


/* Uniform enough in [0, n) (multiply-high, no rejection: the bias is below 2^-32 here). */
uint64_t rng_range(Rng *r, uint64_t n) {
        return (uint64_t) (((unsigned __int128) rng_next(r) * n) >> 64);
}

/* Fill buf with n pseudo-random bytes, stored little-endian so the bytes are the same on
 * every architecture. The state lives in locals so the loop runs in registers. */
void rng_fill(Rng *r, uint8_t *buf, size_t n) {
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
uint64_t content_seed(uint64_t seed, const char *path) {
        uint64_t x = seed ^ fnv1a(path);

        return splitmix64(&x);
}

/* ---- small helpers ----------------------------------------------------------------------- */

/* Create path (relative to dfd) and its missing parents. path is modified and restored. */
int mkdir_p_at(int dfd, char *path) {
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
int mkdir_parents_at(int dfd, const char *path) {
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

/* Write all n bytes of buf to fd (EINTR retried). 0 or -errno. */
int write_all(int fd, const void *buf, size_t n) {
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

/* Sets the access and modification times of path (beneath dfd, not followed) to t. 0 or
 * a negative errno. */
int set_mtime_at(int dfd, const char *path, int64_t t) {
        struct timespec ts[2] = { { .tv_sec = (time_t) t }, { .tv_sec = (time_t) t } };

        if (utimensat(dfd, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        return 0;
}

/* Create a new file at path (relative to dfd), creating missing parent directories only
 * when needed: most files land in directories that exist already. Returns an fd or -errno. */
int create_at(int dfd, const char *path) {
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
int write_text_at(int dfd, const char *path, const char *text, size_t len, int64_t t) {
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
bool string_is_clean(const char *s, size_t max) {
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
bool product_is_valid(const char *s) {
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
bool version_is_valid(const char *s) {
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

/* mobilesync: record counts up to a million, enough for any benchmark. */
static int parse_count(const char *value, void *field) {
        uint64_t v;
        int r;

        r = parse_u64_decimal(value, &v);
        if (r < 0)
                return r;
        if (v > 1000000)
                return -ERANGE;
        *(unsigned *) field = (unsigned) v;
        return 0;
}

static int parse_class_mask(const char *value, void *field) {
        return ms_parse_class_mask(value, field);
}

static int parse_seed(const char *value, void *field) {
        return parse_u64_decimal(value, field);
}

/* Names as a phone lists them ("Mail Accounts" has a blank): printable, comma-separated. */
static int parse_sync_classes(const char *value, void *field) {
        if (*value != '\0' && !string_is_clean(value, 512))
                return -EINVAL;
        return set_string(field, value);
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
        { "DeveloperMode", parse_bool, offsetof(DeviceInfo, developer_mode) },
        { "FindMyEnabled", parse_bool, offsetof(DeviceInfo, find_my) },
        /* mobilesync's store and tethered_sync (mobilesync.h) */
        { "SyncContacts", parse_count, offsetof(DeviceInfo, sync_contacts) },
        { "SyncEvents", parse_count, offsetof(DeviceInfo, sync_events) },
        { "SyncICloud", parse_class_mask, offsetof(DeviceInfo, sync_icloud) },
        { "SyncDisabled", parse_class_mask, offsetof(DeviceInfo, sync_disabled) },
        { "SyncSeed", parse_seed, offsetof(DeviceInfo, sync_seed) },
        { "SyncDataClasses", parse_sync_classes, offsetof(DeviceInfo, sync_classes) },
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

/* DeviceClass for a ProductType: "iPad", "iPod" or "iPhone" (static strings). */
const char *device_class_of(const char *product) {
        if (startswith(product, "iPad"))
                return "iPad";
        if (startswith(product, "iPod"))
                return "iPod";
        return "iPhone";
}

/* HardwareModel for a ProductType, from the table or made up from its hash; the caller frees
 * it. NULL on ENOMEM. */
char *hardware_model_of(const char *product) {
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
char *build_of(const char *version) {
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

/* Fills id with the serial number, ECID and WiFi/Bluetooth addresses that seed gives. */
void idents_make(uint64_t seed, Idents *id) {
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
        if (i->sync_seed == 0)
                i->sync_seed = fnv1a(i->name) ^ UINT64_C(0x6d6f62696c6573);   /* "mobiles" */
        if (!i->sync_classes &&
            !(i->sync_classes = strdup("Contacts,Calendars,Bookmarks,Mail Accounts,Notes")))
                return -ENOMEM;
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
        i->developer_mode = true;

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
        free(i->sync_classes);
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



/* Frees every path of l and its array, and empties it. */
void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->e[i].path);
        free(l->e);
        *l = (EntryList) {};
}

/* Append path (ownership moves to the list, also on failure). */
int entry_list_add(EntryList *l, char *path, const struct stat *st) {
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

/* qsort() order of Entry by path (strcmp). */
int entry_compare(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->path, ((const Entry *) b)->path);
}

/* Add the directories and/or regular files beneath top (relative to dfd; "." for dfd
 * itself) to l, recursively, without following symlinks. Unsorted. */
int list_tree(int dfd, const char *top, bool dirs, bool files, EntryList *l) {
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
int set_dir_mtimes(int dfd, int64_t t) {
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
int write_content_at(int dfd, const char *path, uint64_t size, uint64_t cseed, int64_t t,
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
int twin_path(const char *bpath, char *buf, size_t n) {
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
