/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/device-state.c: the versioned, sectioned state file survives a round
 * trip through a real file; an earlier release's flat file (version 0) is read; unknown
 * sections and keys are ignored; bad numbers, control characters and long strings cannot
 * hurt; a file that is not a state file is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device-state.h"
#include "test-util.h"

static void test_roundtrip(const char *dir) {
        DeviceStateFile in = {
                .encrypted = true,
                .last_backup = 1796299200000000ull,
                .last_sync = 1796299260000000ull,
                .last_restore = 1796299230000000ull,
        }, out;
        char path[512];
        struct stat st;

        snprintf(in.name, sizeof(in.name), "Anna's iPhone");
        snprintf(in.product_type, sizeof(in.product_type), "iPhone15,2");
        snprintf(in.product_version, sizeof(in.product_version), "17.5");
        snprintf(in.last_result, sizeof(in.last_result), "done");
        snprintf(in.last_sync_result, sizeof(in.last_sync_result), "done");
        snprintf(in.running, sizeof(in.running), "backup");
        snprintf(in.last_restore_report, sizeof(in.last_restore_report),
                 "restored 12 files (4096 bytes) of snapshot 20261204T101010Z of "
                 "00008030-0000000000000171; 2 apps to download again; the device reboots");
        snprintf(path, sizeof(path), "%s/device.state", dir);
        ASSERT_OK(device_state_write(path, &in));
        ASSERT_TRUE(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
        ASSERT_OK(device_state_read(path, &out));
        ASSERT_EQ(out.version, (unsigned) DEVICE_STATE_VERSION);
        ASSERT_STREQ(out.name, in.name);
        ASSERT_STREQ(out.product_type, in.product_type);
        ASSERT_STREQ(out.product_version, in.product_version);
        ASSERT_EQ(out.encrypted, true);
        ASSERT_EQ_U64(out.last_backup, in.last_backup);
        ASSERT_STREQ(out.last_result, "done");
        ASSERT_EQ_U64(out.last_sync, in.last_sync);
        ASSERT_EQ_U64(out.last_restore, in.last_restore);
        ASSERT_STREQ(out.last_restore_report, in.last_restore_report);
        ASSERT_STREQ(out.running, "backup");
        ASSERT_EQ(device_state_read("/nonexistent/device.state", &out), -ENOENT);
}

/* Version 2: the open requests (number, kind, creation time, category) and the answers
 * not yet applied survive a write and a read; malformed lines are dropped, the rest kept. */
static void test_requests(const char *dir) {
        DeviceStateRequest reqs[] = {
                { .id = 3, .kind = "deletions", .created = 1796299200000001ull },
                { .id = 7, .kind = "first-sync", .category = "documents", .created = 5 },
        };
        DeviceStateDecision decs[] = {
                { .category = "documents", .choice = "approve", .item = 12 },
                { .category = "documents", .choice = "reject", .item = UINT64_MAX },
                { .category = "documents", .choice = "replace-computer", .item = 0 },
        };
        DeviceStateFile in = {
                .requests = reqs, .n_requests = 2, .decisions = decs, .n_decisions = 3,
                .next_request = 9,
        }, out;
        char path[512];

        snprintf(in.name, sizeof(in.name), "X");
        snprintf(path, sizeof(path), "%s/device.state", dir);
        ASSERT_OK(device_state_write(path, &in));
        ASSERT_OK(device_state_read(path, &out));
        ASSERT_EQ_U64(out.n_requests, 2);
        ASSERT_EQ_U64(out.n_decisions, 3);
        ASSERT_EQ(out.next_request, 9);
        if (out.n_requests == 2 && out.n_decisions == 3) {
                ASSERT_EQ(out.requests[0].id, 3);
                ASSERT_STREQ(out.requests[0].kind, "deletions");
                ASSERT_STREQ(out.requests[0].category, "");
                ASSERT_EQ_U64(out.requests[0].created, 1796299200000001ull);
                ASSERT_EQ(out.requests[1].id, 7);
                ASSERT_STREQ(out.requests[1].kind, "first-sync");
                ASSERT_STREQ(out.requests[1].category, "documents");
                ASSERT_STREQ(out.decisions[0].choice, "approve");
                ASSERT_EQ_U64(out.decisions[0].item, 12);
                ASSERT_EQ_U64(out.decisions[1].item, UINT64_MAX);
                ASSERT_STREQ(out.decisions[2].choice, "replace-computer");
                ASSERT_STREQ(out.decisions[2].category, "documents");
        }
        device_state_file_done(&out);
        ASSERT_TRUE(out.requests == NULL && out.n_requests == 0);

        /* Each malformed line is dropped; a duplicate number too. */
        ASSERT_OK(device_state_parse("[Requests]\n"
                                     "Next=4294967296\n"
                                     "Request=1 deletions 5 -\n"
                                     "Request=0 deletions 5 -\n"
                                     "Request=2 first-sync 5 -\n"
                                     "Request=3 wipe 5 -\n"
                                     "Request=4 deletions x -\n"
                                     "Request=5 deletions 5\n"
                                     "Request=6 first-sync 5 Docs\n"
                                     "Request=1 first-sync 5 documents\n"
                                     "Request=4294967296 deletions 5 -\n"
                                     "Request=8 first-sync 9 documents\n"
                                     "[Decisions]\n"
                                     "Decision=documents/approve/0\n"
                                     "Decision=documents/merge/1\n"
                                     "Decision=documents/delete/1\n"
                                     "Decision=documents/approve\n"
                                     "Decision=documents/approve/-1\n"
                                     "Decision=/merge/0\n"
                                     "Decision=documents/reject/4\n"
                                     "[Device]\nDecision=documents/merge/0\n", &out));
        ASSERT_EQ_U64(out.n_requests, 2);
        ASSERT_EQ_U64(out.n_decisions, 1);
        ASSERT_EQ(out.next_request, 0);                 /* out of range: ignored */
        if (out.n_requests == 2 && out.n_decisions == 1) {
                ASSERT_EQ(out.requests[0].id, 1);
                ASSERT_EQ(out.requests[1].id, 8);
                ASSERT_EQ_U64(out.decisions[0].item, 4);
        }
        device_state_file_done(&out);
        device_state_file_done(NULL);
}

static void test_version0(void) {
        static const char v0[] = "name=Old iPhone\nproduct_type=iPhone12,1\n"
                                 "product_version=16.0\nlast_backup=42\nlast_result=failed\n"
                                 "encrypted=1\nrunning=backup\n";
        DeviceStateFile s;

        ASSERT_OK(device_state_parse(v0, &s));
        ASSERT_EQ(s.version, 0u);
        ASSERT_STREQ(s.name, "Old iPhone");
        ASSERT_STREQ(s.product_version, "16.0");
        ASSERT_EQ_U64(s.last_backup, 42);
        ASSERT_STREQ(s.last_result, "failed");
        ASSERT_EQ(s.encrypted, true);
        ASSERT_STREQ(s.running, "backup");
}

static void test_odd(void) {
        DeviceStateFile s;
        char text[1024], longname[300];

        /* Unknown sections and keys from a newer release; a v0 key inside a section is
         * not a v0 file's key; a bad number keeps the default. */
        ASSERT_OK(device_state_parse("[State]\nVersion=2\n[Decisions]\nFirstSync=merge\n"
                                     "[Device]\nName=X\nColour=red\nname=Y\n"
                                     "[LastBackup]\nTime=12x\n", &s));
        ASSERT_EQ(s.version, 2u);
        ASSERT_STREQ(s.name, "X");
        ASSERT_EQ_U64(s.last_backup, 0);

        /* Control characters become spaces; long strings are cut to their field. */
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = 0;
        snprintf(text, sizeof(text), "[Device]\nName=a\tb\x1b[31m\nProductType=%s\n", longname);
        ASSERT_OK(device_state_parse(text, &s));
        ASSERT_STREQ(s.name, "a b [31m");
        ASSERT_EQ(strlen(s.product_type), sizeof(s.product_type) - 1);

        ASSERT_EQ(device_state_parse("", &s), -EBADMSG);
        ASSERT_EQ(device_state_parse("garbage\n\x01\x02", &s), -EBADMSG);
        ASSERT_EQ(device_state_parse("[Device]\nNoSuchKey=1\n", &s), -EBADMSG);
}

int main(void) {
        char dir[] = "/tmp/test-device-state.XXXXXX", path[512];

        ASSERT_TRUE(mkdtemp(dir) != NULL);
        test_roundtrip(dir);
        test_requests(dir);
        test_version0();
        test_odd();
        snprintf(path, sizeof(path), "%s/device.state", dir);
        unlink(path);
        rmdir(dir);
        return test_exit_status();
}
