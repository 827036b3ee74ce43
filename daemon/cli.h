/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the CLI's files share (idevicesync.c: the command line, the verbs and main;
 * cli-bus.c: the terminal, reading properties, tables, connecting; cli-follow.c: following
 * jobs and events with progress lines). The pure formatting is cli-format.c.
 */
#pragma once

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-names.h"
#include "cli-format.h"
#include "macro.h"
#include "udid.h"

#ifndef PROJECT_VERSION
#define PROJECT_VERSION "0.1"
#endif

#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_IFACE "org.freedesktop.DBus.ObjectManager"

#define PLAIN_INTERVAL USEC_PER_SEC     /* at most one plain progress line per second */
#define REDRAW_INTERVAL USEC_PER_SEC    /* a TTY line is redrawn this often, for rate/ETA */
#define REGION_LINES_MAX 8U             /* monitor: progress lines kept at the bottom */
#define TABLE_LAST_MIN 12U              /* narrowest last column worth truncating to */

#define BIT(i) (UINT64_C(1) << (i))
#define DELETE_TIMEOUT_USEC (30ull * 60 * USEC_PER_SEC)  /* delete-snapshot waits this long */

/* One property read into a struct field: 's' (char *, sanitized), 'o' (char *),
 * 'b' (bool), 'u' (uint32_t) or 't' (uint64_t). */
typedef struct PropertyMap {
        const char *name;
        char type;
        size_t offset;
} PropertyMap;

/* Rows of sanitized cells; the first row is the header. The last column is not padded
 * and is truncated to the terminal's width. */
typedef struct Table {
        size_t n_columns;
        uint64_t right;                 /* bit per right-aligned column */
        char **cells;                   /* row-major, owned */
        size_t n_cells;
} Table;

typedef struct DeviceInfo {
        char *udid, *name, *product_type, *product_version, *state, *state_reason, *phase;
        char *job, *last_result, *last_sync_result;
        bool connected, encrypted;
        uint32_t progress;
        uint64_t last_backup, next_eligible, last_sync;
} DeviceInfo;

typedef struct Context Context;

typedef struct Job {
        Context *context;               /* borrowed: the loop that follows the job */
        sd_bus_slot *get_all;           /* the pending GetAll, if any */
        char *path;
        char *kind, *device, *state, *phase, *result, *message;
        char *category;                 /* sync: the category it works on */
        char *shown_phase;              /* "photos: copying" for a sync, else NULL */
        uint32_t progress;
        uint64_t bytes_done, bytes_total, files_done, files_total;
        RateEstimator rate;
        bool loaded;                    /* its properties have been read at least once */
        usec_t plain_time;              /* CLOCK_MONOTONIC of its last plain line, 0 = none */
        char *plain_phase;              /* the phase that line showed */
        char *plain_line;               /* and the line itself */
        bool announced;                 /* monitor: its first line was printed */
        bool seeded;                    /* monitor: it ran already when monitor started */
} Job;

struct Context {
        sd_event *event;                /* borrowed */
        sd_bus *bus;                    /* borrowed */
        bool monitor;                   /* following everything, or waiting for one job */
        const char *noun;               /* wait: "Backup", "Restore", "Verification" */
        Job **jobs;                     /* owned; wait: the one job, once its path is known */
        size_t n_jobs;
        unsigned interrupts;            /* SIGINT/SIGTERM received */
        sd_bus_slot *slots[8];          /* matches */
        size_t n_slots;
        sd_bus_slot *cancel;            /* wait: the pending Job.Cancel() */
        sd_event_source *tick;          /* TTY: redraws rate and ETA */
        char result[64];                /* wait: the job's result word once it ended */
};

/* The terminal: on a TTY, running jobs' progress lines stay at the bottom (cli-bus.c). */
typedef struct Screen {
        bool tty;                       /* stdout is a terminal that understands ANSI */
        size_t lines;                   /* progress lines now on the screen */
} Screen;

extern Screen screen;
extern const PropertyMap device_map[];  /* the Device properties status shows */
extern bool arg_legend;                 /* --no-legend clears it */
extern bool arg_wait;                   /* --wait */
extern bool arg_dry_run;                /* --dry-run */
extern const char *arg_to;              /* --to: restore's UDID, extract's directory */
extern const char *arg_domain;          /* --domain (files, extract) */
extern bool arg_all;                    /* --all (extract) */
extern bool arg_ask_password;           /* --ask-password (files, extract) */

/* Shared functions, each documented where it is defined. */
usec_t now_usec(clockid_t clock);
char *strdup_sanitized(const char *s);
void screen_init(void);
size_t terminal_columns(void);
void screen_clear(void);
void screen_keep(void);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int log_bus_error(const sd_bus_error *error, int r, const char *udid, const char *what);
int map_properties(sd_bus_message *m, const PropertyMap *map, void *obj, uint64_t *ret_set);
void table_done(Table *t);
int table_addf(Table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void table_print(const Table *t);
void bus_closep(sd_bus **bus);
int bus_connect(sd_bus **ret);
int device_path_of(const char *udid, char **ret);
int device_connect(const char *udid, char **ret_path, sd_bus **ret_bus);
int snapshot_arg(const char *arg, bool need_id, char **ret_udid, char **ret_id);
void device_info_done(DeviceInfo *d);
void context_done(Context *c);
void event_line(Context *c, const char *fmt, ...);
int context_track_job(Context *c, const char *path, Job **ret);
int context_setup(Context *c, sd_bus *bus, bool monitor, sd_event **ret);
int context_run(Context *c);
int run_job(sd_bus *bus, sd_bus_message *call, const char *udid, const char *noun);
/* run_job() that always follows the job and copies its result word into result. */
int run_job_result(sd_bus *bus, sd_bus_message *call, const char *udid, const char *noun,
                   char result[64]);
int verb_files(int argc, char **argv);
int verb_extract(int argc, char **argv);
int verb_sync(int argc, char **argv);
int verb_sync_status(int argc, char **argv);
char **strv_free(char **l);
void strv_freep(char ***l);
int read_object_paths(sd_bus_message *m, char ***ret);
/* cli-requests.c */
extern uint64_t *arg_items;             /* answer --items */
extern size_t arg_n_items;
int parse_items(const char *s);
int verb_requests(int argc, char **argv);
int verb_answer(int argc, char **argv);
int requests_devices(sd_bus *bus, char ***ret);
