/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-mobilesync UDID CLASS [--anchor DEV:COMP] [--clear] [--push FILE] [--out FILE]
 *                 [--enable-tethered] [--skip-checks] [--timeout S]
 *                 [--at-record N[:COMMAND]]
 *
 * One session of lib's own mobilesync client (lib/mobilesync.c, internal API: no public one
 * yet), for the engine tests and for debugging: one session of
 * CLASS (com.apple.Contacts, com.apple.Calendars, …): checks SyncDataClasses and
 * tethered_sync (--enable-tethered turns it on for the run and restores it after;
 * --skip-checks asks the device without them, to see its own refusal), starts
 * with the anchors (none: a first sync), prints `sync type=fast|slow|reset device_anchor=A
 * computer_anchor=C`, pulls (all, or the changes when the device says fast) and prints
 * `record id=ID entity=E field=value…` per record (fields sorted; space, '=', '\' and
 * control characters escaped as \xNN in keys and values; arrays as a,b; dates as Unix
 * seconds; data as data:LEN), `pulled records=N batches=N`; --out writes the pulled
 * records as an XML plist dict id → record; --clear clears the device's records right after
 * the start (then no pull); --push sends the records of FILE (a plist dict id → record; an
 * empty dict deletes that id) and prints `remap host=H device=D` per new id; then finishes.
 * --at-record N[:COMMAND] runs COMMAND (sh -c) after the N-th record pulled and waits for
 * it (a test detaches the device at an exact point), or without COMMAND cancels through
 * ids_cancel_request(). Its result word is done, refused, device-cancelled, not-offered, tethered-disabled, empty
 * or an ids_result_to_string() word, with `reason=…` (the device's, or the first problem).
 *
 *
 * It links lib/'s objects (the internal API), as the unit tests do; tool-ids keeps to the
 * public one.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plist/plist.h>

#include "idevicesync.h"
#include "mobilesync.h"
#include "session.h"

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static ids_cancel *cancel;

static void on_sigterm(int sig) {
        ids_cancel_request(cancel);
}

/* A key or value of a record line: space, '=', '\' and control characters as \xNN. */
static void ms_print_escaped(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || *s == 0x7f || *s == '=' || *s == '\\')
                        printf("\\x%02x", (unsigned char) *s);
                else
                        putchar(*s);
}

static void ms_print_value(plist_t v) {
        char buf[64];

        switch (plist_get_node_type(v)) {
        case PLIST_STRING:
                ms_print_escaped(plist_get_string_ptr(v, NULL));
                return;
        case PLIST_UINT: {
                uint64_t u = 0;

                plist_get_uint_val(v, &u);
                printf("%llu", (unsigned long long) u);
                return;
        }
        case PLIST_REAL: {
                double d = 0;

                plist_get_real_val(v, &d);
                snprintf(buf, sizeof(buf), "%g", d);
                fputs(buf, stdout);
                return;
        }
        case PLIST_BOOLEAN: {
                uint8_t b = 0;

                plist_get_bool_val(v, &b);
                fputs(b ? "true" : "false", stdout);
                return;
        }
        case PLIST_DATE: {
                int32_t sec = 0, usec = 0;

                plist_get_date_val(v, &sec, &usec);
                printf("%lld", (long long) sec + 978307200LL);     /* 2001 → 1970 */
                return;
        }
        case PLIST_DATA: {
                uint64_t len = 0;

                (void) plist_get_data_ptr(v, &len);
                printf("data:%llu", (unsigned long long) len);
                return;
        }
        case PLIST_ARRAY:
                for (uint32_t i = 0; i < plist_array_get_size(v); i++) {
                        if (i)
                                putchar(',');
                        ms_print_value(plist_array_get_item(v, i));
                }
                return;
        case PLIST_DICT:
                printf("dict:%u", plist_dict_get_size(v));
                return;
        default:
                fputs("?", stdout);
        }
}

static int ms_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

typedef struct MsTool {
        plist_t out;                            /* --out: every record pulled */
        uint64_t seen;
        uint64_t at;                            /* --at-record N: after the N-th record… */
        const char *at_command;                 /* …run this (sh -c), or cancel if NULL */
} MsTool;

static int ms_on_record(const char *id, const char *entity, plist_t record, void *userdata) {
        MsTool *t = userdata;
        plist_dict_iter it = NULL;
        char *keys[1024];
        size_t n = 0;

        printf("record id=");
        ms_print_escaped(id);
        printf(" entity=");
        ms_print_escaped(entity[0] ? entity : "-");
        if (plist_get_node_type(record) == PLIST_DICT) {
                plist_dict_new_iter(record, &it);
                for (;;) {
                        char *key = NULL;
                        plist_t v = NULL;

                        plist_dict_next_item(record, it, &key, &v);
                        if (!v) {
                                free(key);
                                break;
                        }
                        if (n < ELEMENTS(keys) &&
                            strcmp(key, "com.apple.syncservices.RecordEntityName") != 0)
                                keys[n++] = key;
                        else
                                free(key);
                }
                free(it);
                qsort(keys, n, sizeof(keys[0]), ms_cmp);
                for (size_t i = 0; i < n; i++) {
                        putchar(' ');
                        ms_print_escaped(keys[i]);
                        putchar('=');
                        ms_print_value(plist_dict_get_item(record, keys[i]));
                        free(keys[i]);
                }
        }
        putchar('\n');
        if (t->out)
                plist_dict_set_item(t->out, id, plist_copy(record));
        if (++t->seen == t->at) {
                fflush(stdout);
                if (!t->at_command)
                        ids_cancel_request(cancel);
                else if (system(t->at_command) != 0)
                        fprintf(stderr, "tool-ids: '%s' failed\n", t->at_command);
        }
        return 0;
}

static int ms_on_remap(const char *host_id, const char *device_id, void *userdata) {
        printf("remap host=");
        ms_print_escaped(host_id);
        printf(" device=");
        ms_print_escaped(device_id);
        putchar('\n');
        return 0;
}

static plist_t ms_read_plist(const char *path) {
        plist_t p = NULL;
        char *buf;
        long n;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (64L << 20) ||
            fseek(f, 0, SEEK_SET) < 0) {
                fclose(f);
                return NULL;
        }
        buf = malloc((size_t) n + 1);
        if (buf && fread(buf, 1, (size_t) n, f) == (size_t) n) {
                if (n >= 8 && memcmp(buf, "bplist00", 8) == 0)
                        plist_from_bin(buf, (uint32_t) n, &p);
                else
                        plist_from_xml(buf, (uint32_t) n, &p);
        }
        free(buf);
        fclose(f);
        return p;
}

static int ms_write_plist(const char *path, plist_t p) {
        char *xml = NULL;
        uint32_t len = 0;
        FILE *f;
        int r = 0;

        plist_to_xml(p, &xml, &len);
        f = fopen(path, "we");
        if (!f || !xml || fwrite(xml, 1, len, f) != len)
                r = -EIO;
        if (f && fclose(f) != 0)
                r = -EIO;
        free(xml);
        return r;
}

static int ms_result(int r, const char *reason) {
        const char *word = r == 0 ? "done" : ms_outcome_to_string(r) ?: ids_result_to_string(r);

        printf("result=%s code=%d reason=", word, r);
        ms_print_escaped(reason ? reason : "");
        putchar('\n');
        return r == 0 ? 0 : 1;
}

static int cmd_mobilesync(int argc, char **argv) {
        static const struct option opts[] = {
                { "anchor", required_argument, NULL, 'a' },
                { "clear", no_argument, NULL, 'c' },
                { "push", required_argument, NULL, 'p' },
                { "out", required_argument, NULL, 'o' },
                { "enable-tethered", no_argument, NULL, 'e' },
                { "timeout", required_argument, NULL, 't' },
                { "skip-checks", no_argument, NULL, 'k' },
                { "at-record", required_argument, NULL, 'r' },
                {}
        };
        bool skip_checks = false;
        const char *push_path = NULL, *out_path = NULL, *udid, *cls;
        char dev_anchor[1024] = "", comp_anchor[1024] = "";
        bool have_anchor = false, clear = false, enable = false, tethered_set = false;
        unsigned timeout_s = 60;
        plist_t push = NULL, previous = NULL;
        struct sigaction sa = { .sa_handler = on_sigterm };
        MsTool t = {};
        MSStart st = {};
        MSPullStats ps = {};
        Session *s = NULL;
        MobileSync *m = NULL;
        char reason[512] = "";
        int c, r;

        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 'a': {
                        const char *colon = strrchr(optarg, ':');

                        if (!colon)
                                return 2;
                        snprintf(dev_anchor, sizeof(dev_anchor), "%.*s",
                                 (int) (colon - optarg), optarg);
                        snprintf(comp_anchor, sizeof(comp_anchor), "%s", colon + 1);
                        have_anchor = true;
                        break;
                }
                case 'c': clear = true; break;
                case 'p': push_path = optarg; break;
                case 'o': out_path = optarg; break;
                case 'e': enable = true; break;
                case 't': timeout_s = (unsigned) atoi(optarg); break;
                case 'k': skip_checks = true; break;
                case 'r': {
                        char *colon;

                        t.at = strtoull(optarg, &colon, 10);
                        t.at_command = *colon == ':' ? colon + 1 : NULL;
                        break;
                }
                default: return 2;
                }
        }
        if (argc - optind != 2) {
                fprintf(stderr, "usage: tool-mobilesync UDID CLASS [--anchor DEV:COMP] "
                        "[--clear] [--push FILE] [--out FILE] [--enable-tethered]\n");
                return 2;
        }
        udid = argv[optind];
        cls = argv[optind + 1];
        if (push_path) {
                push = ms_read_plist(push_path);
                if (!push || plist_get_node_type(push) != PLIST_DICT) {
                        fprintf(stderr, "tool-mobilesync: %s is not a plist dict\n", push_path);
                        return 2;
                }
        }
        if (out_path)
                t.out = plist_new_dict();
        if (ids_cancel_new(&cancel) < 0)
                return 1;
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);               /* see idevicesync.h */

        r = session_open(udid, "idevicesync", &s);
        if (r != 0)
                goto out;
        r = session_sync_lock(s);
        if (r != 0)
                goto out;
        /* --skip-checks: let the device itself refuse (tests of its refusal). */
        r = skip_checks ? 0 : mobilesync_check_offered(s, cls);
        if (r != 0)
                goto out;
        r = skip_checks ? 0 : mobilesync_tethered_get(s, cls, NULL);
        if (r == MS_TETHERED_DISABLED && enable) {
                r = mobilesync_tethered_set(s, cls, true, &previous);
                tethered_set = r == 0;
        }
        if (r != 0)
                goto out;

        r = mobilesync_open(s, cancel, timeout_s, &m);
        if (r != 0)
                goto out;
        /* The computer anchor: as given (which one a phone wants back is the sync
         * category's choice, not the client's), else the time, as iTunes does. */
        if (!comp_anchor[0]) {
                time_t now = time(NULL);
                struct tm tm;

                gmtime_r(&now, &tm);
                strftime(comp_anchor, sizeof(comp_anchor), "%Y-%m-%d %H-%M-%S +0000", &tm);
        }
        r = mobilesync_start(m, cls, have_anchor && dev_anchor[0] ? dev_anchor : NULL,
                             comp_anchor, &st);
        if (r != 0)
                goto out;
        printf("sync type=%s device_anchor=", ms_sync_type_to_string(st.type));
        ms_print_escaped(st.device_anchor);
        printf(" computer_anchor=");
        ms_print_escaped(st.computer_anchor);
        putchar('\n');
        fflush(stdout);

        if (clear)
                r = mobilesync_clear_all(m);
        else {
                r = mobilesync_pull(m, st.type != MS_SYNC_FAST, ms_on_record, &t, &ps);
                printf("pulled records=%llu batches=%llu\n", (unsigned long long) ps.records,
                       (unsigned long long) ps.batches);
                /* empty is reported at the end, after the session finished properly */
        }
        if (r != 0 && r != MS_EMPTY)
                goto out;
        if (push) {
                int pr = mobilesync_push(m, push, true, 0, ms_on_remap, NULL);

                if (pr != 0) {
                        r = pr;
                        goto out;
                }
        }
        {
                int fr = mobilesync_finish(m);

                if (fr != 0)
                        r = fr;
        }
        if (r == 0 || r == MS_EMPTY)
                if (out_path && ms_write_plist(out_path, t.out) < 0)
                        r = -EIO;
out:
        if (r != 0 && m && m->device_reason)
                snprintf(reason, sizeof(reason), "%s", m->device_reason);
        else if (r != 0 && m && m->dl.reason[0])
                snprintf(reason, sizeof(reason), "%s", m->dl.reason);
        if (m && m->state != MS_STATE_IDLE && m->state != MS_STATE_BROKEN)
                (void) mobilesync_cancel(m, NULL);
        m = mobilesync_free(m);
        if (tethered_set)
                (void) mobilesync_tethered_restore(s, cls, previous);
        if (previous)
                plist_free(previous);
        s = session_free(s);
        ms_start_done(&st);
        if (push)
                plist_free(push);
        if (t.out)
                plist_free(t.out);
        cancel = ids_cancel_free(cancel);
        return ms_result(r, reason);
}



int main(int argc, char **argv) {
        return cmd_mobilesync(argc, argv);
}
