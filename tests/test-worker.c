/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the helper protocol's codecs (daemon/worker-msg.c): requests and reports
 * survive a round trip; a report is refused (-EBADMSG) for every kind of malformed or
 * hostile input, and unknown keys are ignored so either side can grow new ones.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "worker.h"

static void test_request_roundtrip(void) {
        WorkerRequest in = {
                .kind = "backup",
                .udid = "00008030-0000000000000ABC",
                .state_dir = "/var/lib/idevicesync",
                .backup_dir = "/srv/backups with space",
                .snapshot = "",
                .full = true,
                .reboot = true,
                .keep = 10,
                .keep_days = 0,
                .min_free_bytes = UINT64_MAX,
                .min_free_percent = 5,
        }, out;
        char buf[WORKER_MSG_MAX + 1];
        int n;

        n = worker_request_encode(&in, buf, sizeof(buf) - 1);
        ASSERT_TRUE(n > 0);
        ASSERT_OK(worker_request_decode(buf, (size_t) n, &out));
        ASSERT_STREQ(out.kind, "backup");
        ASSERT_STREQ(out.udid, in.udid);
        ASSERT_STREQ(out.state_dir, in.state_dir);
        ASSERT_STREQ(out.backup_dir, in.backup_dir);
        ASSERT_STREQ(out.snapshot, "");
        ASSERT_TRUE(out.target == NULL);
        ASSERT_EQ(out.full, true);
        ASSERT_EQ(out.require_encryption, false);
        ASSERT_EQ(out.handover, false);
        ASSERT_EQ_U64(out.keep, 10);
        ASSERT_EQ_U64(out.min_free_bytes, UINT64_MAX);
        ASSERT_EQ_U64(out.min_free_percent, 5);

        /* A newline would forge another key; kind and UDID are required. */
        in.snapshot = "x\nFULL=0";
        ASSERT_EQ(worker_request_encode(&in, buf, sizeof(buf)), -EINVAL);
        in.snapshot = NULL;
        in.udid = NULL;
        ASSERT_EQ(worker_request_encode(&in, buf, sizeof(buf)), -EINVAL);
        in.udid = "u";
        ASSERT_EQ(worker_request_encode(&in, buf, 10), -ENOBUFS);
}

/* A sync's request: the [Sync] words, OFFLINE and one DECISION= line per answer. */
static void test_request_sync(void) {
        static const WorkerDecision decisions[] = {
                { "documents", "merge", 0 },
                { "documents", "approve", 17 },
                { "documents", "reject", UINT64_MAX },
                { "contacts", "replace-computer", 0 },
        };
        WorkerRequest in = {
                .kind = "sync",
                .udid = "00008030-0000000000000ABC",
                .state_dir = "/var/lib/idevicesync",
                .photos = "import",
                .crash_logs = "move",
                .documents = "two-way",
                .documents_dir = "/srv/docs",
                .documents_apps = "com.example.notes org.example.Pages-2",
                .deletions = "hold",
                .first_sync = "ask",
                .trash_days = 30,
                .offline = true,
                .decisions = decisions,
                .n_decisions = sizeof(decisions) / sizeof(decisions[0]),
        }, out;
        static char buf[WORKER_REQUEST_MAX + 1];
        int n;

        n = worker_request_encode(&in, buf, sizeof(buf) - 1);
        ASSERT_TRUE(n > 0);
        ASSERT_TRUE(strstr(buf, "DECISION=documents/approve/17\n") != NULL);
        ASSERT_OK(worker_request_decode(buf, (size_t) n, &out));
        ASSERT_STREQ(out.documents, "two-way");
        ASSERT_STREQ(out.documents_dir, "/srv/docs");
        ASSERT_STREQ(out.documents_apps, "com.example.notes org.example.Pages-2");
        ASSERT_STREQ(out.deletions, "hold");
        ASSERT_STREQ(out.first_sync, "ask");
        ASSERT_EQ_U64(out.trash_days, 30);
        ASSERT_EQ(out.offline, true);
        ASSERT_EQ_U64(out.n_decisions, 4);
        for (size_t i = 0; i < 4 && i < out.n_decisions; i++) {
                ASSERT_STREQ(out.decisions[i].category, decisions[i].category);
                ASSERT_STREQ(out.decisions[i].choice, decisions[i].choice);
                ASSERT_EQ_U64(out.decisions[i].item, decisions[i].item);
        }
        worker_request_done(&out);
        ASSERT_TRUE(out.decisions == NULL && out.n_decisions == 0);
        worker_request_done(&out);              /* twice is harmless */

        /* No decisions: none decoded, nothing allocated. */
        in.n_decisions = 0;
        in.offline = false;
        n = worker_request_encode(&in, buf, sizeof(buf) - 1);
        ASSERT_OK(worker_request_decode(buf, (size_t) n, &out));
        ASSERT_EQ_U64(out.n_decisions, 0);
        ASSERT_TRUE(out.decisions_owned == NULL);
        ASSERT_EQ(out.offline, false);

        /* Malformed decisions are refused when encoding. */
        {
                static const WorkerDecision bad[] = {
                        { "documents", "approve", 0 },          /* a held item has an id */
                        { "documents", "merge", 3 },            /* a choice has none */
                        { "documents", "delete", 1 },
                        { "Documents", "merge", 0 },
                        { "docs/x", "merge", 0 },
                        { "", "merge", 0 },
                        { NULL, "merge", 0 },
                        { "documents", NULL, 0 },
                };
                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                        in.decisions = &bad[i];
                        in.n_decisions = 1;
                        ASSERT_EQ(worker_request_encode(&in, buf, sizeof(buf)), -EINVAL);
                }
        }

        /* The most decisions a request carries fit in one; one more is refused. */
        {
                static WorkerDecision many[WORKER_DECISIONS_MAX + 1];

                for (size_t i = 0; i <= WORKER_DECISIONS_MAX; i++)
                        many[i] = (WorkerDecision) { "documents", "approve",
                                                     UINT64_C(10000000000000000000) + i };
                in.decisions = many;
                in.n_decisions = WORKER_DECISIONS_MAX;
                n = worker_request_encode(&in, buf, sizeof(buf) - 1);
                ASSERT_TRUE(n > 0);
                ASSERT_OK(worker_request_decode(buf, (size_t) n, &out));
                ASSERT_EQ_U64(out.n_decisions, WORKER_DECISIONS_MAX);
                ASSERT_EQ_U64(out.decisions[WORKER_DECISIONS_MAX - 1].item,
                              UINT64_C(10000000000000000000) + WORKER_DECISIONS_MAX - 1);
                worker_request_done(&out);
                in.n_decisions = WORKER_DECISIONS_MAX + 1;
                ASSERT_EQ(worker_request_encode(&in, buf, sizeof(buf)), -EINVAL);
        }

        /* Decoding checks every line the same way. */
        {
                static const char *const bad[] = {
                        "KIND=sync\nUDID=u\nDECISION=documents/merge\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/approve/0\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/approve/x\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/approve/-1\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/merge/1\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/wipe/0\n",
                        "KIND=sync\nUDID=u\nDECISION=/merge/0\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/approve/1/2\n",
                        "KIND=sync\nUDID=u\nDECISION=documents/approve/1\nOFFLINE=2\n",
                };
                for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                        char b[256];
                        WorkerRequest r;

                        int k;

                        snprintf(b, sizeof(b), "%s", bad[i]);
                        k = worker_request_decode(b, strlen(b), &r);
                        if (k != -EBADMSG)
                                printf("FAIL: decision case %zu decoded (%d)\n", i, k);
                        ASSERT_EQ(k, -EBADMSG);
                }
        }
}

static void test_request_bad(void) {
        static const char *const bad[] = {
                "UDID=u\n",                     /* no KIND */
                "KIND=backup\n",                /* no UDID */
                "KIND=backup\nUDID=u\nFULL=yes\n",
                "KIND=backup\nUDID=u\nKEEP=-1\n",
                "KIND=backup\nUDID=u\nKEEP=18446744073709551616\n",
                "KIND=backup\nUDID=u\nnot an assignment\n",
                "KIND=backup\nUDID=u\nlower=1\n",
                "",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                char buf[256];
                WorkerRequest r;

                snprintf(buf, sizeof(buf), "%s", bad[i]);
                ASSERT_EQ(worker_request_decode(buf, strlen(buf), &r), -EBADMSG);
        }
}

static void test_report_roundtrip(void) {
        WorkerReport in, out;
        char buf[WORKER_MSG_MAX];
        int n;

        worker_report_init(&in, WORKER_REPORT_PROGRESS);
        in.phase = IDS_PHASE_TRANSFER;
        in.bytes_done = 123;
        in.bytes_total = UINT64_MAX;
        in.files_done = 4;
        in.files_total = 5;
        in.percent = 42;
        n = worker_report_format(&in, buf, sizeof(buf));
        ASSERT_TRUE(n > 0);
        ASSERT_TRUE(strncmp(buf, "TYPE=progress\n", 14) == 0);
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &out));
        ASSERT_EQ(out.type, WORKER_REPORT_PROGRESS);
        ASSERT_EQ(out.phase, IDS_PHASE_TRANSFER);
        ASSERT_EQ_U64(out.bytes_done, 123);
        ASSERT_EQ_U64(out.bytes_total, UINT64_MAX);
        ASSERT_EQ(out.percent, 42u);

        worker_report_init(&in, WORKER_REPORT_INFO);
        snprintf(in.name, sizeof(in.name), "Anna's\tiPhone");   /* a tab from the device */
        snprintf(in.product_type, sizeof(in.product_type), "iPhone12,1");
        in.battery = 100;
        in.charging = true;
        n = worker_report_format(&in, buf, sizeof(buf));
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &out));
        ASSERT_STREQ(out.name, "Anna's iPhone");
        ASSERT_EQ(out.battery, 100);
        ASSERT_EQ(out.charging, true);

        worker_report_init(&in, WORKER_REPORT_RESULT);
        in.code = -ENOENT;
        snprintf(in.message, sizeof(in.message), "No snapshot 'x'.");
        snprintf(in.snapshot, sizeof(in.snapshot), "20261124T153000Z-2");
        in.encrypted = true;
        n = worker_report_format(&in, buf, sizeof(buf));
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &out));
        ASSERT_EQ(out.code, -ENOENT);
        ASSERT_STREQ(out.message, "No snapshot 'x'.");
        ASSERT_STREQ(out.snapshot, "20261124T153000Z-2");
        ASSERT_EQ(out.encrypted, true);
        ASSERT_EQ(out.phase, -1);

        in.code = IDS_E_CANCELLED;
        n = worker_report_format(&in, buf, sizeof(buf));
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &out));
        ASSERT_EQ(out.code, IDS_E_CANCELLED);
}

static void test_report_bad(void) {
        static const char *const bad[] = {
                "",
                "T",                                            /* shorter than "TYPE=" */
                "TYPE",
                "PHASE=transfer\n",                             /* no TYPE first */
                "TYPE=nonsense\n",
                "TYPE=progress\nPHASE=teleporting\n",
                "TYPE=progress\nPERCENT=101\n",
                "TYPE=progress\nBYTES_DONE=12a\n",
                "TYPE=progress\nBYTES_DONE=-1\n",
                "TYPE=progress\nBYTES_DONE=99999999999999999999999\n",
                "TYPE=progress\nBYTES_DONE=\n",
                "TYPE=info\nBATTERY=101\n",
                "TYPE=info\nCHARGING=2\n",
                "TYPE=info\nNAME=\x1b[31mred\n",
                "TYPE=result\nCODE=4096\n",                    /* not an outcome */
                "TYPE=result\nCODE=-4096\n",                   /* not an errno */
                "TYPE=result\nCODE=--5\n",
                "TYPE=result\nSNAPSHOT=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
                "TYPE=result\nno equals sign\n",
                "TYPE=result\n=value\n",
                "TYPE=result\nmessage=lower-case key\n",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                WorkerReport r;
                int k = worker_report_parse(bad[i], strlen(bad[i]), &r);

                if (k != -EBADMSG)
                        printf("FAIL: case %zu '%s' parsed (%d) at %s:%d\n", i, bad[i], k,
                               __FILE__, __LINE__);
                ASSERT_EQ(k, -EBADMSG);
        }
        {
                /* An embedded NUL and an oversized datagram. */
                static const char nul[] = "TYPE=result\nMESSAGE=a\0b\n";
                char big[WORKER_MSG_MAX + 2];
                WorkerReport r;

                ASSERT_EQ(worker_report_parse(nul, sizeof(nul) - 1, &r), -EBADMSG);
                memset(big, 'A', sizeof(big));
                memcpy(big, "TYPE=result\nX=", 14);
                ASSERT_EQ(worker_report_parse(big, sizeof(big), &r), -EBADMSG);
        }
}

/* A probe's request may hand its helper over; its RESULT says whether it stays. */
static void test_handover(void) {
        WorkerRequest in = { .kind = "probe", .udid = "u", .reboot = true, .handover = true },
                      out;
        WorkerReport r, back;
        char buf[WORKER_MSG_MAX + 1];
        int n;

        n = worker_request_encode(&in, buf, sizeof(buf) - 1);
        ASSERT_TRUE(n > 0);
        ASSERT_TRUE(strstr(buf, "HANDOVER=1\n") != NULL);
        ASSERT_OK(worker_request_decode(buf, (size_t) n, &out));
        ASSERT_EQ(out.handover, true);
        worker_request_done(&out);

        worker_report_init(&r, WORKER_REPORT_RESULT);
        ASSERT_EQ(r.handover, false);
        r.handover = true;
        n = worker_report_format(&r, buf, sizeof(buf));
        ASSERT_TRUE(n > 0);
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &back));
        ASSERT_EQ(back.handover, true);
        ASSERT_EQ(back.code, 0);
        /* Only a RESULT carries it. */
        worker_report_init(&r, WORKER_REPORT_PROGRESS);
        r.handover = true;
        n = worker_report_format(&r, buf, sizeof(buf));
        ASSERT_TRUE(n > 0);
        ASSERT_TRUE(strstr(buf, "HANDOVER") == NULL);
}

/* A sync's result: one SYNC= line per category, the reason last (spaces kept). */
static void test_report_sync(void) {
        WorkerReport in, out;
        char buf[WORKER_MSG_MAX];
        int n;

        worker_report_init(&in, WORKER_REPORT_RESULT);
        in.dry_run = true;
        in.n_sync = 2;
        snprintf(in.sync[0].name, sizeof(in.sync[0].name), "photos");
        snprintf(in.sync[0].mode, sizeof(in.sync[0].mode), "import");
        in.sync[0].files_in = 12;
        in.sync[0].bytes_in = UINT64_MAX;
        in.sync[0].refused = 3;
        in.sync[0].duplicates = 5;
        snprintf(in.sync[0].reason, sizeof(in.sync[0].reason),
                 "7 photos are in iCloud only:\tnot imported.");
        snprintf(in.sync[1].name, sizeof(in.sync[1].name), "crashlogs");
        snprintf(in.sync[1].mode, sizeof(in.sync[1].mode), "move");
        in.sync[1].result = IDS_E_DISCONNECTED;
        in.sync[1].removed_device = 4;
        n = worker_report_format(&in, buf, sizeof(buf));
        ASSERT_TRUE(n > 0);
        ASSERT_TRUE(strstr(buf, "SYNC=photos import 0 12 18446744073709551615 0 0 0 3 0 5 0 "
                                "7 photos are in iCloud only: not imported.\n") != NULL);
        ASSERT_OK(worker_report_parse(buf, (size_t) n, &out));
        ASSERT_EQ(out.dry_run, true);
        ASSERT_EQ_U64(out.n_sync, 2);
        ASSERT_STREQ(out.sync[0].name, "photos");
        ASSERT_EQ_U64(out.sync[0].files_in, 12);
        ASSERT_EQ_U64(out.sync[0].bytes_in, UINT64_MAX);
        ASSERT_EQ_U64(out.sync[0].refused, 3);
        ASSERT_EQ_U64(out.sync[0].duplicates, 5);
        ASSERT_STREQ(out.sync[0].reason, "7 photos are in iCloud only: not imported.");
        ASSERT_STREQ(out.sync[1].mode, "move");
        ASSERT_EQ(out.sync[1].result, IDS_E_DISCONNECTED);
        ASSERT_EQ_U64(out.sync[1].removed_device, 4);
        ASSERT_STREQ(out.sync[1].reason, "");

        /* A name that is not a word is refused on both sides. */
        snprintf(in.sync[1].name, sizeof(in.sync[1].name), "crash logs");
        ASSERT_EQ(worker_report_format(&in, buf, sizeof(buf)), -EINVAL);

        static const char *const bad[] = {
                "TYPE=result\nSYNC=photos\n",
                "TYPE=result\nSYNC=photos import 0 1 2 3 4 5 6 7 8\n",     /* 8 counters */
                "TYPE=result\nSYNC=Photos import 0 1 2 3 4 5 6 7 8 9 x\n",
                "TYPE=result\nSYNC=photos import 9999 1 2 3 4 5 6 7 8 9 x\n",
                "TYPE=result\nSYNC=photos import 0 1 2 3 4 5 6 7 8 -9 x\n",
                "TYPE=result\nSYNC=photos import 0 1 2 3 4 5 6 7 8 9 \x1b[31m\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int k = worker_report_parse(bad[i], strlen(bad[i]), &out);
                if (k != -EBADMSG)
                        printf("FAIL: sync case %zu parsed (%d) at %s:%d\n", i, k, __FILE__,
                               __LINE__);
                ASSERT_EQ(k, -EBADMSG);
        }
        {
                /* At most IDS_SYNC_CATEGORIES_MAX lines. */
                char many[4096] = "TYPE=result\n";
                for (int i = 0; i <= IDS_SYNC_CATEGORIES_MAX; i++)
                        strcat(many, "SYNC=photos import 0 0 0 0 0 0 0 0 0 0 x\n");
                ASSERT_EQ(worker_report_parse(many, strlen(many), &out), -EBADMSG);
        }
}

static void test_report_extensible(void) {
        static const char msg[] = "TYPE=result\nCODE=0\nSOMETHING_NEW=42\nPHASE=transfer\n"
                                  "MESSAGE=ok\n";
        WorkerReport r;

        /* A newer helper's key is ignored; another type's key is not taken. */
        ASSERT_OK(worker_report_parse(msg, sizeof(msg) - 1, &r));
        ASSERT_EQ(r.code, 0);
        ASSERT_EQ(r.phase, -1);
        ASSERT_STREQ(r.message, "ok");
}

int main(void) {
        test_request_roundtrip();
        test_request_bad();
        test_request_sync();
        test_report_roundtrip();
        test_report_bad();
        test_report_extensible();
        test_handover();
        test_report_sync();
        return test_exit_status();
}
