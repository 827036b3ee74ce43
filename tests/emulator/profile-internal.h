/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the profile code's files share (profile.c: the PRNG, helpers, the INI parser,
 * device.ini and apps, tree listing and file content; profile-gen.c: gen-profile;
 * profile-mutate.c: mutate; profile-docs.c: app documents). The emulator never shares code
 * with lib/.
 */
#pragma once

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
#include <sqlite3.h>

#include "emu.h"
#define GEN_DEFAULT_FILES 50u
#define GEN_DEFAULT_BYTES (UINT64_C(4) << 20)
#define GEN_ODD_FILES 3u                        /* the odd-name files every profile has */
#define GEN_BUF_SIZE (1u << 20)                 /* content is generated and written in 1 MiB */
#define PHOTOS_PER_FOLDER 999u                  /* 100APPLE holds 999 items, then 101APPLE */
#define BASE_TIME INT64_C(1767225600)
#define DAY INT64_C(86400)
#define DEFAULT_DISK_TOTAL (UINT64_C(128) << 30)
#define DEFAULT_DISK_FREE (UINT64_C(64) << 30)

typedef struct Rng {
        uint64_t s[4];
} Rng;

typedef struct Idents {
        char serial[13];
        uint64_t ecid;
        char wifi[18], bt[18];
        char phone[24];
        char imei[16];
} Idents;

typedef struct Entry {
        char *path;             /* relative to the directory fd the listing started from */
        struct stat st;
} Entry;

typedef struct EntryList {
        Entry *e;
        size_t n, allocated;
} EntryList;


typedef enum SizeClass {
        SIZE_SMALL,
        SIZE_MEDIUM,
        SIZE_LARGE,
        SIZE_PHOTO,
        SIZE_VIDEO,
        SIZE_SIDECAR,
        _SIZE_CLASS_MAX,
} SizeClass;

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

/* Shared between the files; each is documented where it is defined. */
bool startswith(const char *s, const char *prefix);
void rng_init(Rng *r, uint64_t seed);
uint64_t rng_range(Rng *r, uint64_t n);
void rng_fill(Rng *r, uint8_t *buf, size_t n);
int write_all(int fd, const void *buf, size_t n);
int create_at(int dfd, const char *path);
uint64_t content_seed(uint64_t seed, const char *path);
int mkdir_p_at(int dfd, char *path);
int mkdir_parents_at(int dfd, const char *path);
int set_mtime_at(int dfd, const char *path, int64_t t);
int write_text_at(int dfd, const char *path, const char *text, size_t len, int64_t t);
bool string_is_clean(const char *s, size_t max);
bool product_is_valid(const char *s);
bool version_is_valid(const char *s);
const char *device_class_of(const char *product);
char *hardware_model_of(const char *product);
char *build_of(const char *version);
void idents_make(uint64_t seed, Idents *id);
void entry_list_done(EntryList *l);
int entry_list_add(EntryList *l, char *path, const struct stat *st);
int entry_compare(const void *a, const void *b);
int list_tree(int dfd, const char *top, bool dirs, bool files, EntryList *l);
int set_dir_mtimes(int dfd, int64_t t);
int write_content_at(int dfd, const char *path, uint64_t size, uint64_t cseed, int64_t t,
                     uint8_t *buf);
int twin_path(const char *bpath, char *buf, size_t n);
uint64_t natural_size(Rng *r, SizeClass c);

/* ---- the camera roll (profile-media.c: file formats; profile-photos.c: the library) ---- */

typedef enum MediaKind {
        MEDIA_NONE,
        MEDIA_HEIC,
        MEDIA_JPEG,
        MEDIA_PNG,
        MEDIA_MOV,
        MEDIA_MP4,
        MEDIA_AAE,
} MediaKind;

/* Seconds between the Unix epoch and Apple's (2001-01-01), for ZDATECREATED. */
#define APPLE_EPOCH INT64_C(978307200)

/* One ZASSET row of Photos.sqlite: a DCIM photo or video, or an iCloud-only one. */
typedef struct PhotoRow {
        char dir[32];           /* "DCIM/100APPLE" */
        char name[32];          /* "IMG_0001.HEIC" */
        int kind;               /* 0 photo, 1 video */
        int64_t capture;        /* Unix seconds */
} PhotoRow;

MediaKind media_kind_of(const char *path);
int write_media_at(int dfd, const char *path, MediaKind kind, uint64_t size, uint64_t cseed,
                   int64_t capture, int64_t mtime, uint8_t *buf);
int media_read_capture(int dfd, const char *path, int64_t *ret);
int sha256_file_at(int dfd, const char *path, uint8_t *buf, char hex[static 65],
                   uint64_t *ret_size);
int64_t capture_clamp(int64_t t);
int photos_db_write(const char *dir, const PhotoRow *rows, size_t n, uint64_t seed,
                    int64_t mtime);
int photos_write_cpl(int dfd, uint64_t seed, unsigned photos, uint8_t *buf);
int photos_write_tsv(const char *dir, int dfd, int64_t mtime, uint8_t *buf);

typedef struct PhotoMix {
        MediaKind kind;
        bool live, aae;         /* with a Live Photo MOV / an AAE sidecar */
} PhotoMix;
extern const PhotoMix photo_mix[10];
const char *media_ext(MediaKind k);

/* The camera-roll part of one `mutate` run (profile-photos.c). */
typedef struct PhotoCtx {
        const char *dir;        /* the profile, borrowed */
        int dfd;                /* borrowed */
        sqlite3 *db;            /* Photos.sqlite */
        int64_t *keep;          /* Z_PKs that were iCloud-only (no file) before */
        size_t n_keep;
        size_t primaries;       /* camera-roll items with a file, before */
        unsigned next_number;   /* the next free IMG_nnnn */
        uint64_t seed;
        int64_t t;              /* the mutation's time */
        uint8_t *buf;           /* borrowed scratch space */
        EntryList *touched;     /* borrowed: directories whose mtime is to be set */
} PhotoCtx;

int touch_parent(EntryList *dirs, const char *path);
int photo_ctx_open(PhotoCtx *c, const char *dir, int dfd, uint64_t seed, int64_t t,
                   uint8_t *buf, EntryList *touched);
void photo_ctx_done(PhotoCtx *c);
int photo_add(PhotoCtx *c, Rng *r, const char *folder, bool plain);
int photos_mutate_ops(PhotoCtx *c, Rng *r, const MutateOptions *o);
int photo_ctx_finish(PhotoCtx *c, Rng *r, int64_t t);

/* ---- app documents (profile-docs.c) ---------------------------------------------------- */

int documents_write_tsv(const char *dir, int dfd, int64_t t, uint8_t *buf);
int documents_count(const char *dir, int dfd, size_t *ret_files, size_t *ret_apps);
int documents_mutate(const char *dir, int dfd, const MutateOptions *o, int64_t t, uint8_t *buf,
                     EntryList *touched);
