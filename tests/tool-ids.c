/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tool-ids: drives libidevicesync through its public API, for the engine's tests and
 * benchmarks (the daemon is the real user).
 *
 *   tool-ids backup UDID [--state DIR] [--full] [--keep N] [--keep-days N] [--floor BYTES]
 *                        [--require-encryption] [--cancel-after-bytes N] [--progress]
 *                        [--timeout-transfer S] [--timeout-preparing S]
 *   tool-ids restore SOURCE TARGET [--state DIR] [--snapshot ID] [--no-reboot] [--skip-checks] [--password P]
 *   tool-ids list UDID [--state DIR]
 *   tool-ids verify UDID ID [--state DIR] [--password-file F]
 *   tool-ids delete UDID ID [--state DIR]
 *   tool-ids sync UDID [--state DIR] [--dry-run] [--photos import|no] [--photos-dir DIR]
 *                      [--crashlogs move|copy|no] [--floor BYTES] [--cancel-after-bytes N]
 *                      [--kill-after-bytes N] [--kill-after-files N]
 *                      [--kill-at-phase PHASE[:NTH]]
 *                      [--documents no|import|two-way] [--documents-dir DIR]
 *                      [--documents-app ID]... [--deletions hold|propagate|never]
 *                      [--first-sync ask|merge|replace-device|replace-computer]
 *                      [--trash-days N] [--decide ITEM=approve|reject]...
 *                      [--decide CATEGORY=CHOICE]... [--offline]
 *                      [--two-way contacts,calendars] [--media all|music,videos,books,ringtones]
 *                      [--run-at-phase PHASE:COMMAND] [--exports all|NAME,...]
 *                      [--password-file F] [--apps inventory|install|no] [--apps-dir DIR]
 *   tool-ids sync-state UDID [--state DIR]
 *   tool-ids pending UDID [--state DIR]
 *   tool-ids files UDID [SNAPSHOT] [--state DIR] [--domain D] [--prefix P] [--password-file F]
 *   tool-ids extract UDID [SNAPSHOT] --to DIR [--state DIR] [--domain D] [--prefix P] [--all]
 *                    [--password-file F] [DOMAIN PATH]...
 *
 * --password-file F (backup, restore, verify): the backup password, read from F (one line;
 * a final newline is not part of it), so it is never in argv. A backup with
 * --require-encryption turns encryption on with it when the device does not encrypt yet;
 * verify needs it for an encrypted snapshot.
 *
 * sync prints one `category=NAME mode=… result=… files_in=… …` line per category.
 * pending prints `held id=N category=C side=S size=N scope=S path=P` per held item, and per
 * question `question category=C files_device=N files_computer=N` followed by one
 * `choice category=C choice=W add_device=N add_computer=N overwrite_device=N
 * overwrite_computer=N remove_device=N remove_computer=N conflicts=N` line per choice.
 *
 * files prints `file type=file|dir|symlink|unknown size=N mtime=N encrypted=0|1 safe=0|1
 * domain=D path=P` per file (the path last; a backslash and control characters escaped as
 * \\ and \xNN, so every file is one line), then `problem=…` (why it failed, or empty).
 * extract opens DIR itself and passes its fd; it prints `extract files=N bytes=N
 * directories=N refused=N skipped=N failed=N symlinks=N not_found=N problem=…`. DOMAIN PATH
 * pairs follow the optional SNAPSHOT: an even count after UDID means no SNAPSHOT.
 *
 * --probe-first UDID (any command): ids_device_probe(UDID) first, with ids_session_keep() on
 * as the daemon's helper does, and --after-probe COMMAND (sh -c) between the probe and the
 * command; prints `probe result=WORD name=…`.
 *
 * Prints `result=WORD code=N …` as its last line; exit 0 for done, 1 otherwise, 2 usage.
 * SIGTERM cancels a running backup or restore (through ids_cancel_request()).
 * --run-at-phase runs COMMAND (sh -c) once, on first entering PHASE, and waits for it: a
 * test changes a file between a sync's scan and its writes without any timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idevicesync.h"

#define ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))

static ids_cancel *cancel;
static uint64_t cancel_after = UINT64_MAX;
static uint64_t kill_after = UINT64_MAX;       /* a crash at an exact point: SIGKILL */
static uint64_t kill_after_files = UINT64_MAX;  /* … or once this many files are done */
static const char *kill_phase;                  /* … or on entering this phase */
static unsigned kill_phase_count = 1;           /* for the n-th time */
static int show_progress;
static const char *run_phase;                   /* --run-at-phase: PHASE */
static const char *run_command;                 /* … and COMMAND */

static void on_sigterm(int sig) {
        ids_cancel_request(cancel);
}

static double elapsed(void) {
        static struct timespec t0;
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        if (!t0.tv_sec)
                t0 = t;
        return (double) (t.tv_sec - t0.tv_sec) + (double) (t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void on_progress(const ids_progress *p, void *userdata) {
        static int last_phase = -1;

        if (show_progress)
                printf("progress phase=%s bytes=%llu files=%llu percent=%.1f t=%.2f\n",
                       ids_phase_to_string(p->phase), (unsigned long long) p->bytes_done,
                       (unsigned long long) p->files_done, p->percent, elapsed());
        else if (getenv("IDS_PHASES") && (int) p->phase != last_phase)
                fprintf(stderr, "phase %s at %.2f s\n", ids_phase_to_string(p->phase),
                        elapsed());
        if (run_phase && (int) p->phase != last_phase &&
            strcmp(ids_phase_to_string(p->phase), run_phase) == 0) {
                run_phase = NULL;
                if (system(run_command) != 0)
                        fprintf(stderr, "tool-ids: '%s' failed\n", run_command);
        }
        if (p->bytes_done >= cancel_after)
                ids_cancel_request(cancel);
        if (p->bytes_done >= kill_after || p->files_done >= kill_after_files)
                raise(SIGKILL);
        if (kill_phase && (int) p->phase != last_phase &&
            strcmp(ids_phase_to_string(p->phase), kill_phase) == 0 && --kill_phase_count == 0)
                raise(SIGKILL);
        last_phase = p->phase;
        fflush(stdout);
}

/* --password-file: the first line of path, without its newline; NULL on failure. */
static char *read_password_file(const char *path) {
        char buf[1100];
        size_t n;
        FILE *f = fopen(path, "re");

        if (!f)
                return NULL;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return strdup(buf);
}

/* files, extract: s with a backslash and control characters escaped, on one line. */
static void print_escaped(const char *s) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", stdout);
                else if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        printf("\\x%02x", (unsigned char) *s);
                else
                        putchar(*s);
}

static int print_file(const ids_snapshot_file *f, void *userdata) {
        printf("file type=%s size=%llu mtime=%lld encrypted=%d safe=%d domain=",
               f->flags == IDS_SNAPSHOT_FILE_REGULAR   ? "file" :
               f->flags == IDS_SNAPSHOT_FILE_DIRECTORY ? "dir" :
               f->flags == IDS_SNAPSHOT_FILE_SYMLINK   ? "symlink" :
                                                         "unknown",
               (unsigned long long) f->size, (long long) f->mtime, f->encrypted, f->safe);
        print_escaped(f->domain);
        fputs(" path=", stdout);
        print_escaped(f->path);
        putchar('\n');
        return 0;
}

static void debug_log(const char *msg) {
        fprintf(stderr, "ids: %s\n", msg);
}

static int finish(int r, const ids_backup_result *res) {
        printf("message=%s\n", res->message[0] ? res->message : ids_result_message(r));
        printf("result=%s code=%d snapshot=%s full=%d files=%llu bytes=%llu new_bytes=%llu "
               "device_error=%d\n",
               ids_result_to_string(r), r, res->snapshot_id, res->full,
               (unsigned long long) res->files, (unsigned long long) res->bytes,
               (unsigned long long) res->new_bytes, res->device_error);
        return r == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "state", required_argument, NULL, 's' },
                { "full", no_argument, NULL, 'f' },
                { "keep", required_argument, NULL, 'k' },
                { "keep-days", required_argument, NULL, 'K' },
                { "floor", required_argument, NULL, 'F' },
                { "require-encryption", no_argument, NULL, 'e' },
                { "cancel-after-bytes", required_argument, NULL, 'c' },
                { "progress", no_argument, NULL, 'p' },
                { "timeout-transfer", required_argument, NULL, 't' },
                { "timeout-preparing", required_argument, NULL, 'T' },
                { "snapshot", required_argument, NULL, 'S' },
                { "no-reboot", no_argument, NULL, 'n' },
                { "skip-checks", no_argument, NULL, 0x104 },
                { "password", required_argument, NULL, 'P' },
                { "password-file", required_argument, NULL, 'W' },
                { "dry-run", no_argument, NULL, 'd' },
                { "photos", required_argument, NULL, 'o' },
                { "photos-dir", required_argument, NULL, 'O' },
                { "crashlogs", required_argument, NULL, 'C' },
                { "kill-after-bytes", required_argument, NULL, 'X' },
                { "kill-at-phase", required_argument, NULL, 'Y' },
                { "documents", required_argument, NULL, 'D' },
                { "documents-dir", required_argument, NULL, 'R' },
                { "documents-app", required_argument, NULL, 'A' },
                { "deletions", required_argument, NULL, 'L' },
                { "first-sync", required_argument, NULL, 'I' },
                { "trash-days", required_argument, NULL, 'H' },
                { "decide", required_argument, NULL, 'Q' },
                { "offline", no_argument, NULL, 'N' },
                { "run-at-phase", required_argument, NULL, 'E' },
                { "domain", required_argument, NULL, 'm' },
                { "prefix", required_argument, NULL, 'x' },
                { "to", required_argument, NULL, 'u' },
                { "all", no_argument, NULL, 'a' },
                { "exports", required_argument, NULL, 'J' },
                { "two-way", required_argument, NULL, 0x102 },
                { "media", required_argument, NULL, 0x105 },
                { "kill-after-files", required_argument, NULL, 0x103 },
                { "apps", required_argument, NULL, 'G' },
                { "apps-dir", required_argument, NULL, 0x100 },
                { "probe-first", required_argument, NULL, 0x106 },
                { "after-probe", required_argument, NULL, 0x107 },
                {}
        };
        ids_backup_options bo = { .progress = on_progress };
        ids_restore_options ro = { .progress = on_progress, .system = true, .settings = true,
                                   .reboot = true };
        ids_backup_result res = {};
        ids_sync_options so = { .progress = on_progress, .photos = IDS_SYNC_PHOTOS_IMPORT,
                                .crashlogs = IDS_SYNC_CRASHLOGS_MOVE };
        static const char *apps[64];
        static ids_sync_decision decisions[64];
        size_t n_apps = 0, n_decisions = 0;
        const char *cmd, *state = NULL;
        const char *domain = NULL, *prefix = NULL, *to = NULL;  /* files, extract */
        const char *probe_udid = NULL, *after_probe = NULL;
        bool all = false;
        char *password = NULL;
        struct sigaction sa = { .sa_handler = on_sigterm };
        int c, r;

        if (argc < 3) {
                fprintf(stderr, "usage: tool-ids backup|restore|list|verify|delete ...\n");
                return 2;
        }
        cmd = argv[1];
        argv++;
        argc--;
        if (getenv("IDS_DEBUG"))
                ids_set_debug_log(debug_log);
        /* As the daemon's helper does (daemon/worker.c): libimobiledevice's per-read buffers
         * stay on the heap. */
        (void) mallopt(M_MMAP_THRESHOLD, 8 << 20);
        (void) mallopt(M_TRIM_THRESHOLD, 64 << 20);
        while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
                switch (c) {
                case 's': state = optarg; break;
                case 'f': bo.force_full = true; break;
                case 'k': bo.keep = (unsigned) atoi(optarg); break;
                case 'K': bo.keep_days = (unsigned) atoi(optarg); break;
                case 'F': bo.min_free_bytes = strtoull(optarg, NULL, 10); break;
                case 'e': bo.require_encryption = true; break;
                case 'c': cancel_after = strtoull(optarg, NULL, 10); break;
                case 'p': show_progress = 1; break;
                case 't': bo.timeout_transfer_s = (unsigned) atoi(optarg); break;
                case 'T': bo.timeout_preparing_s = (unsigned) atoi(optarg); break;
                case 'S': ro.snapshot = optarg; break;
                case 'n': ro.reboot = false; break;
                case 0x104: ro.skip_checks = true; break;
                case 'P': ro.password = optarg; break;
                case 'W':
                        free(password);
                        password = read_password_file(optarg);
                        if (!password) {
                                fprintf(stderr, "tool-ids: cannot read %s\n", optarg);
                                return 2;
                        }
                        bo.password = ro.password = password;
                        break;
                case 'd': so.dry_run = true; break;
                case 'o':
                        so.photos = strcmp(optarg, "import") == 0 ? IDS_SYNC_PHOTOS_IMPORT :
                                                                    IDS_SYNC_PHOTOS_NO;
                        break;
                case 'O': so.photos_dir = optarg; break;
                case 'X': kill_after = strtoull(optarg, NULL, 10); break;
                case 0x103: kill_after_files = strtoull(optarg, NULL, 10); break;
                case 'Y': {
                        static char buf[64];
                        char *colon;

                        snprintf(buf, sizeof(buf), "%s", optarg);
                        colon = strchr(buf, ':');
                        if (colon) {
                                *colon = 0;
                                kill_phase_count = (unsigned) atoi(colon + 1);
                        }
                        kill_phase = buf;
                        break;
                }
                case 'D':
                        if (strcmp(optarg, "two-way") == 0)
                                so.documents = IDS_SYNC_DOCUMENTS_TWO_WAY;
                        else if (strcmp(optarg, "import") == 0)
                                so.documents = IDS_SYNC_DOCUMENTS_IMPORT;
                        else if (strcmp(optarg, "no") == 0)
                                so.documents = IDS_SYNC_DOCUMENTS_NO;
                        else
                                return 2;
                        break;
                case 'R': so.documents_dir = optarg; break;
                case 'A':
                        if (n_apps + 1 >= ELEMENTS(apps))
                                return 2;
                        apps[n_apps++] = optarg;
                        so.documents_apps = apps;
                        break;
                case 'L':
                        if (strcmp(optarg, "hold") == 0)
                                so.deletions = IDS_SYNC_DELETIONS_HOLD;
                        else if (strcmp(optarg, "propagate") == 0)
                                so.deletions = IDS_SYNC_DELETIONS_PROPAGATE;
                        else if (strcmp(optarg, "never") == 0)
                                so.deletions = IDS_SYNC_DELETIONS_NEVER;
                        else
                                return 2;
                        break;
                case 'I':
                        if (strcmp(optarg, "ask") == 0)
                                so.first_sync = IDS_SYNC_FIRST_ASK;
                        else if (strcmp(optarg, "merge") == 0)
                                so.first_sync = IDS_SYNC_FIRST_MERGE;
                        else if (strcmp(optarg, "replace-device") == 0)
                                so.first_sync = IDS_SYNC_FIRST_REPLACE_DEVICE;
                        else if (strcmp(optarg, "replace-computer") == 0)
                                so.first_sync = IDS_SYNC_FIRST_REPLACE_COMPUTER;
                        else
                                return 2;
                        break;
                case 'H': so.trash_days = (unsigned) atoi(optarg); break;
                case 'G':
                        so.apps = strcmp(optarg, "inventory") == 0 ? IDS_SYNC_APPS_INVENTORY :
                                  strcmp(optarg, "install") == 0   ? IDS_SYNC_APPS_INSTALL :
                                                                     IDS_SYNC_APPS_NO;
                        break;
                case 0x102:
                        /* contacts, calendars or both (comma-separated): through mobilesync */
                        if (strstr(optarg, "contacts"))
                                so.contacts = IDS_SYNC_EXPORT_TWO_WAY;
                        if (strstr(optarg, "calendars"))
                                so.calendars = IDS_SYNC_EXPORT_TWO_WAY;
                        break;
                case 0x100: so.apps_dir = optarg; break;
                case 0x106: probe_udid = optarg; break;
                case 0x107: after_probe = optarg; break;
                case 0x105:
                        /* all, or music, videos, books, ringtones (comma-separated) */
                        if (strstr(optarg, "music") || strcmp(optarg, "all") == 0)
                                so.music = IDS_SYNC_MEDIA_IMPORT;
                        if (strstr(optarg, "videos") || strcmp(optarg, "all") == 0)
                                so.videos = IDS_SYNC_MEDIA_IMPORT;
                        if (strstr(optarg, "books") || strcmp(optarg, "all") == 0)
                                so.books = IDS_SYNC_MEDIA_IMPORT;
                        if (strstr(optarg, "ringtones") || strcmp(optarg, "all") == 0)
                                so.ringtones = IDS_SYNC_MEDIA_IMPORT;
                        break;
                case 'J': {
                        /* all, or a comma-separated list of export names */
                        static const struct {
                                const char *name;
                                size_t off;
                        } ex[] = {
                                { "contacts", offsetof(ids_sync_options, contacts) },
                                { "calendars", offsetof(ids_sync_options, calendars) },
                                { "bookmarks", offsetof(ids_sync_options, bookmarks) },
                                { "notes", offsetof(ids_sync_options, notes) },
                                { "voice-memos", offsetof(ids_sync_options, voice_memos) },
                        };
                        bool all_ex = strcmp(optarg, "all") == 0;

                        for (size_t i = 0; i < ELEMENTS(ex); i++) {
                                const char *hit = strstr(optarg, ex[i].name);
                                size_t l = strlen(ex[i].name);

                                if (all_ex || (hit && (hit == optarg || hit[-1] == ',') &&
                                               (hit[l] == 0 || hit[l] == ',')))
                                        *(ids_sync_export *) ((char *) &so + ex[i].off) =
                                                IDS_SYNC_EXPORT_YES;
                        }
                        break;
                }
                case 'Q': {
                        /* ITEM=approve|reject or CATEGORY=CHOICE; the words are the lib's to
                         * check (an unknown one is -EINVAL). */
                        char *eq = strchr(optarg, '='), *end = NULL;
                        ids_sync_decision *x;

                        if (!eq || n_decisions >= ELEMENTS(decisions))
                                return 2;
                        *eq = 0;
                        x = &decisions[n_decisions++];
                        x->choice = eq + 1;
                        x->item = strtoull(optarg, &end, 10);
                        if (!end || *end)
                                x->category = optarg, x->item = 0;
                        so.decisions = decisions;
                        so.n_decisions = n_decisions;
                        break;
                }
                case 'N': so.offline = true; break;
                case 'm': domain = optarg; break;
                case 'x': prefix = optarg; break;
                case 'u': to = optarg; break;
                case 'a': all = true; break;
                case 'E': {
                        char *colon = strchr(optarg, ':');

                        if (!colon)
                                return 2;
                        *colon = 0;
                        run_phase = optarg;
                        run_command = colon + 1;
                        break;
                }
                case 'C':
                        so.crashlogs = strcmp(optarg, "move") == 0 ? IDS_SYNC_CRASHLOGS_MOVE :
                                       strcmp(optarg, "copy") == 0 ? IDS_SYNC_CRASHLOGS_COPY :
                                                                     IDS_SYNC_CRASHLOGS_NO;
                        break;
                default: return 2;
                }
        }
        if (ids_cancel_new(&cancel) < 0)
                return 1;
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);       /* see idevicesync.h */
        if (probe_udid) {
                ids_device_info info;

                ids_session_keep(true);
                r = ids_device_probe(probe_udid, &info);
                printf("probe result=%s name=%s\n", ids_result_to_string(r),
                       r == 0 ? info.name : "");
                fflush(stdout);
                if (after_probe && system(after_probe) != 0)
                        fprintf(stderr, "tool-ids: '%s' failed\n", after_probe);
        }

        if (strcmp(cmd, "backup") == 0 && optind == argc - 1) {
                bo.udid = argv[optind];
                bo.state_dir = state;
                bo.cancel = cancel;
                r = ids_backup_run(&bo, &res);
                r = finish(r, &res);
        } else if (strcmp(cmd, "restore") == 0 && optind == argc - 2) {
                ro.source_udid = argv[optind];
                ro.target_udid = argv[optind + 1];
                ro.state_dir = state;
                ro.cancel = cancel;
                r = ids_restore_run(&ro, &res);
                r = finish(r, &res);
        } else if (strcmp(cmd, "list") == 0 && optind == argc - 1) {
                ids_snapshot *list = NULL;
                size_t n = 0;

                r = ids_snapshot_list(state, argv[optind], &list, &n);
                for (size_t i = 0; r == 0 && i < n; i++)
                        printf("%s files=%llu bytes=%llu new_bytes=%llu full=%d ios=%s\n",
                               list[i].id, (unsigned long long) list[i].files,
                               (unsigned long long) list[i].bytes,
                               (unsigned long long) list[i].new_bytes, list[i].full,
                               list[i].ios_version);
                free(list);
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "verify") == 0 && optind == argc - 2) {
                ids_verify_report rep;
                ids_verify_options vo = { .udid = argv[optind], .snapshot = argv[optind + 1],
                                          .state_dir = state, .password = password };

                r = ids_verify_run(&vo, &rep);
                printf("checked=%llu missing=%llu changed=%llu unindexed=%llu manifest_ok=%d "
                       "encrypted=%d decrypted=%llu undecryptable=%llu problem=%s\n",
                       (unsigned long long) rep.files_checked, (unsigned long long) rep.missing,
                       (unsigned long long) rep.changed, (unsigned long long) rep.unindexed,
                       rep.manifest_ok, rep.encrypted, (unsigned long long) rep.decrypted,
                       (unsigned long long) rep.undecryptable, rep.first_problem);
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "sync") == 0 && optind == argc - 1) {
                ids_sync_result sr;

                so.udid = argv[optind];
                so.state_dir = state;
                so.cancel = cancel;
                so.password = password;
                so.min_free_bytes = bo.min_free_bytes;
                r = ids_sync_run(&so, &sr);
                for (size_t i = 0; i < sr.n_categories; i++) {
                        const ids_sync_category *x = &sr.categories[i];
                        printf("category=%s mode=%s result=%s files_in=%llu bytes_in=%llu "
                               "files_out=%llu bytes_out=%llu conflicts=%llu "
                               "held=%llu refused=%llu duplicates=%llu removed_device=%llu "
                               "removed_computer=%llu reason=%s\n",
                               x->name, x->mode, ids_result_to_string(x->result),
                               (unsigned long long) x->files_in,
                               (unsigned long long) x->bytes_in,
                               (unsigned long long) x->files_out,
                               (unsigned long long) x->bytes_out,
                               (unsigned long long) x->conflicts, (unsigned long long) x->held,
                               (unsigned long long) x->refused,
                               (unsigned long long) x->duplicates,
                               (unsigned long long) x->removed_device,
                               (unsigned long long) x->removed_computer, x->reason);
                }
                printf("message=%s\n", sr.message);
                printf("result=%s code=%d dry_run=%d\n", ids_result_to_string(r), r,
                       sr.dry_run);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "sync-state") == 0 && optind == argc - 1) {
                ids_sync_totals *t = NULL;
                size_t n = 0;

                r = ids_sync_state_read(state, argv[optind], &t, &n);
                for (size_t i = 0; r == 0 && i < n; i++)
                        printf("category=%s items=%llu bytes=%llu last_run=%llu "
                               "last_files_in=%llu\n", t[i].name,
                               (unsigned long long) t[i].items, (unsigned long long) t[i].bytes,
                               (unsigned long long) t[i].last_run_usec,
                               (unsigned long long) t[i].last.files_in);
                free(t);
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "pending") == 0 && optind == argc - 1) {
                ids_sync_pending p = {};

                r = ids_sync_pending_read(state, argv[optind], &p);
                for (size_t i = 0; r == 0 && i < p.n_held; i++)
                        printf("held id=%llu category=%s side=%s size=%llu scope=%s path=%s\n",
                               (unsigned long long) p.held[i].id, p.held[i].category,
                               p.held[i].side, (unsigned long long) p.held[i].size,
                               p.held[i].scope, p.held[i].path);
                for (size_t i = 0; r == 0 && i < p.n_questions; i++) {
                        const ids_sync_question *q = &p.questions[i];

                        printf("question category=%s files_device=%llu files_computer=%llu\n",
                               q->category, (unsigned long long) q->files_device,
                               (unsigned long long) q->files_computer);
                        for (size_t k = 0; k < ELEMENTS(q->choices); k++) {
                                const ids_sync_choice_plan *cp = &q->choices[k];

                                printf("choice category=%s choice=%s add_device=%llu "
                                       "add_computer=%llu overwrite_device=%llu "
                                       "overwrite_computer=%llu remove_device=%llu "
                                       "remove_computer=%llu conflicts=%llu\n",
                                       q->category, cp->choice,
                                       (unsigned long long) cp->add_device,
                                       (unsigned long long) cp->add_computer,
                                       (unsigned long long) cp->overwrite_device,
                                       (unsigned long long) cp->overwrite_computer,
                                       (unsigned long long) cp->remove_device,
                                       (unsigned long long) cp->remove_computer,
                                       (unsigned long long) cp->conflicts);
                        }
                }
                ids_sync_pending_done(&p);
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "files") == 0 && (optind == argc - 1 || optind == argc - 2)) {
                char problem[512];
                ids_files_options fo = { .udid = argv[optind], .state_dir = state,
                                         .password = password, .domain = domain,
                                         .prefix = prefix, .problem = problem,
                                         .problem_size = sizeof(problem) };

                if (optind == argc - 2)
                        fo.snapshot = argv[optind + 1];
                r = ids_snapshot_files(&fo, print_file, NULL);
                fputs("problem=", stdout);
                print_escaped(problem);
                putchar('\n');
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "extract") == 0 && optind < argc && to) {
                static ids_extract_item items[256];
                ids_extract_report rep;
                ids_extract_options eo = { .udid = argv[optind], .state_dir = state,
                                           .password = password, .all = all,
                                           .domain = domain, .prefix = prefix,
                                           .progress = on_progress, .cancel = cancel };
                int rest = argc - optind - 1, first = optind + 1;

                if (rest % 2 == 1) {
                        eo.snapshot = argv[first++];
                        rest--;
                }
                if ((size_t) rest / 2 > ELEMENTS(items)) {
                        fprintf(stderr, "tool-ids: too many files\n");
                        return 2;
                }
                for (int i = 0; i < rest / 2; i++)
                        items[i] = (ids_extract_item) { .domain = argv[first + 2 * i],
                                                        .path = argv[first + 2 * i + 1] };
                eo.items = items;
                eo.n_items = (size_t) rest / 2;
                eo.target_fd = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (eo.target_fd < 0) {
                        fprintf(stderr, "tool-ids: cannot open %s: %m\n", to);
                        return 2;
                }
                r = ids_snapshot_extract(&eo, &rep);
                close(eo.target_fd);
                printf("extract files=%llu bytes=%llu directories=%llu refused=%llu "
                       "skipped=%llu failed=%llu symlinks=%llu not_found=%llu problem=",
                       (unsigned long long) rep.files, (unsigned long long) rep.bytes,
                       (unsigned long long) rep.directories, (unsigned long long) rep.refused,
                       (unsigned long long) rep.skipped, (unsigned long long) rep.failed,
                       (unsigned long long) rep.symlinks, (unsigned long long) rep.not_found);
                print_escaped(rep.first_problem);
                putchar('\n');
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else if (strcmp(cmd, "delete") == 0 && optind == argc - 2) {
                r = ids_snapshot_delete(state, NULL, argv[optind], argv[optind + 1]);
                printf("result=%s code=%d\n", ids_result_to_string(r), r);
                r = r == 0 ? 0 : 1;
        } else {
                fprintf(stderr, "tool-ids: bad arguments for '%s'\n", cmd);
                r = 2;
        }
        ids_session_keep(false);
        ids_cancel_free(cancel);
        free(password);
        return r;
}
