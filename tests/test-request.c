/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of daemon/request.c without a bus or a device: a Manager with one known
 * Device (not plugged in), its sync.db written through lib/'s sync-db.c as a sync would
 * leave it. Reconciling shows exactly what is pending (one deletions request, one
 * first-sync request per question); answers are checked (choice, items, the bound on
 * waiting answers), shrink or remove the request, and are kept by the device until a sync
 * that was given them ends "done"; an answered item is not asked again while its answer
 * waits; numbers, creation times and answers survive a save and a load, and a number is
 * never given out twice. Only answers that start no job are given here (a device-side
 * approve, a reject, a first-sync choice): the device is not plugged in, so a sync cannot
 * start, and an apply job would run a helper.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device.h"
#include "macro.h"
#include "manager.h"
#include "request.h"
#include "sync-db.h"
#include "test-util.h"

#define UDID "00008030-000A1B2C3D4E5F61"

static uint64_t id_a, id_b, id_c;

static void seed(const char *dir) {
        char path[512];
        ids_sync_question q = { .category = "documents", .created_usec = 4,
                                .files_device = 5, .files_computer = 7 };
        SyncDb *db = NULL;

        snprintf(path, sizeof(path), "%s/%s", dir, UDID);
        (void) mkdir(path, 0700);
        snprintf(path, sizeof(path), "%s/%s/sync.db", dir, UDID);
        ASSERT_OK(sync_db_open(path, false, &db));
        if (!db)
                return;
        ASSERT_OK(sync_db_held_add(db, "documents", "com.example.notes", "a.txt", "a.txt",
                                   "computer", 10, 1, &id_a));
        ASSERT_OK(sync_db_held_add(db, "documents", "com.example.notes", "b.txt", "sub/b.txt",
                                   "device", 20, 2, &id_b));
        ASSERT_OK(sync_db_held_add(db, "documents", "com.example.pages", "c", "c", "device",
                                   30, 3, &id_c));
        for (size_t i = 0; i < ELEMENTSOF(q.choices); i++)
                snprintf(q.choices[i].choice, sizeof(q.choices[i].choice), "%s",
                         sync_choice_names[i]);
        q.choices[0].add_device = 2;
        ASSERT_OK(sync_db_question_put(db, &q));
        sync_db_close(db);
}

/* What sync.db says after a run recorded a decision. */
static void decide(const char *dir, uint64_t id, const char *choice) {
        char path[512];
        SyncDb *db = NULL;

        snprintf(path, sizeof(path), "%s/%s/sync.db", dir, UDID);
        ASSERT_OK(sync_db_open(path, false, &db));
        if (!db)
                return;
        ASSERT_EQ(sync_db_held_decide(db, id, choice, 9), 1);
        sync_db_close(db);
}

static Manager *manager_with_device(const char *dir, Device **ret) {
        Manager *m = NULL;

        ASSERT_OK(manager_new(&m));
        if (!m)
                return NULL;
        m->state_dir = strdup(dir);
        ASSERT_OK(manager_add_device(m, UDID, ret));
        return m;
}

static int answer(Request *r, const char *choice, const uint64_t *items, size_t n,
                  const char *want_error) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int k = request_answer(r, choice, items, n, &error);

        ASSERT_STREQ(error.name ?: "", want_error);
        if (want_error[0])
                ASSERT_TRUE(k < 0);
        else
                ASSERT_OK(k);
        sd_bus_error_free(&error);
        return k;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

int main(void) {
        char dir[] = "/tmp/test-request-XXXXXX";
        Manager *m;
        Device *d = NULL;
        Request *del, *fs;
        uint32_t del_id, fs_id;
        uint64_t del_created;
        WorkerRequest req = {};

        if (!mkdtemp(dir)) {
                printf("FAIL: mkdtemp: %m\n");
                return 1;
        }
        (void) setenv("CONFIGURATION_DIRECTORY", dir, 1);
        seed(dir);

        /* Reconcile: one deletions request with every held item, one first-sync request. */
        m = manager_with_device(dir, &d);
        if (!m || !d)
                return test_exit_status();
        ASSERT_EQ(m->n_requests, 0);
        ASSERT_EQ(request_reconcile_device(d), 1);
        ASSERT_EQ(m->n_requests, 2);
        del = request_find_device(m, d, REQUEST_DELETIONS, NULL);
        fs = request_find_device(m, d, REQUEST_FIRST_SYNC, "documents");
        ASSERT_TRUE(del && fs);
        if (!del || !fs)
                return test_exit_status();
        ASSERT_EQ(del->n_items, 3);
        ASSERT_STREQ(del->summary, "Remove 1 file from the computer and 2 from the device, "
                                   "each deleted on the other side?");
        ASSERT_STREQ(fs->summary, "The documents are on both the device (5 files) and the "
                                  "computer (7 files): merge them, or replace one side with "
                                  "the other?");
        ASSERT_EQ_U64(fs->question.choices[0].add_device, 2);
        ASSERT_TRUE(request_device_blocked(m, d));
        ASSERT_TRUE(del->id != fs->id && del->id > 0 && fs->id > 0);
        ASSERT_TRUE(del->created > 0);
        ASSERT_EQ(request_reconcile_device(d), 0);      /* nothing changed */

        /* Answers the requests do not have. */
        {
                const uint64_t nope = 999999, mixed[] = { id_b, 999999 };

                answer(del, "merge", NULL, 0, SD_BUS_ERROR_INVALID_ARGS);
                answer(fs, "approve", NULL, 0, SD_BUS_ERROR_INVALID_ARGS);
                answer(fs, "merge", &id_a, 1, SD_BUS_ERROR_INVALID_ARGS);
                answer(del, "approve", &nope, 1, SD_BUS_ERROR_INVALID_ARGS);
                answer(del, "approve", mixed, 2, SD_BUS_ERROR_INVALID_ARGS);
                ASSERT_EQ(del->n_items, 3);
                ASSERT_EQ(d->n_decisions, 0);
        }

        /* A partial answer (an id given twice counts once): the request shrinks in place. */
        {
                const uint64_t twice[] = { id_b, id_b };

                del_id = del->id;
                answer(del, "approve", twice, 2, "");
                ASSERT_EQ(m->n_requests, 2);
                ASSERT_EQ(del->n_items, 2);
                ASSERT_EQ(d->n_decisions, 1);
                ASSERT_STREQ(del->summary, "Remove 1 file from the computer and 1 from the "
                                           "device, each deleted on the other side?");
                ASSERT_TRUE(device_has_decision(d, NULL, id_b));
                ASSERT_TRUE(!device_has_decision(d, NULL, id_a));
        }
        /* The answered item is not asked again while its answer waits. */
        ASSERT_EQ(request_reconcile_device(d), 0);
        ASSERT_EQ(del->n_items, 2);

        /* The first-sync answer removes its request; the device is not held up any more. */
        fs_id = fs->id;
        answer(fs, "merge", NULL, 0, "");
        ASSERT_EQ(m->n_requests, 1);
        ASSERT_TRUE(request_find_device(m, d, REQUEST_FIRST_SYNC, "documents") == NULL);
        ASSERT_TRUE(!request_device_blocked(m, d));
        ASSERT_TRUE(device_has_decision(d, "documents", 0));
        ASSERT_EQ(request_reconcile_device(d), 0);      /* the question waits: not asked */

        /* A sync takes the answers waiting (oldest first); one given meanwhile stays when
         * it ends "done". */
        ASSERT_OK(device_fill_decisions(d, &req));
        ASSERT_EQ(req.n_decisions, 2);
        ASSERT_STREQ(req.decisions[0].choice, "approve");
        ASSERT_EQ_U64(req.decisions[0].item, id_b);
        ASSERT_STREQ(req.decisions[1].choice, "merge");
        ASSERT_EQ_U64(req.decisions[1].item, 0);
        ASSERT_OK(device_add_decision(d, "documents", "reject", id_c));
        ASSERT_EQ(device_add_decision(d, "documents", "wipe", 3), -EINVAL);
        ASSERT_EQ(device_add_decision(d, "documents", "approve", 0), -EINVAL);
        device_drop_sent_decisions(d);
        ASSERT_EQ(d->n_decisions, 1);
        ASSERT_EQ_U64(d->decisions[0].item, id_c);

        /* Save and load: same numbers and creation time, the answer still waits. */
        del_created = del->created;
        ASSERT_OK(device_save(d));
        manager_free(m);
        m = manager_with_device(dir, &d);
        if (!m || !d)
                return test_exit_status();
        ASSERT_EQ(d->n_decisions, 1);
        ASSERT_EQ(d->n_saved_requests, 1);
        ASSERT_TRUE(m->next_request_id >= fs_id);
        ASSERT_EQ(request_reconcile_device(d), 1);
        del = request_find_device(m, d, REQUEST_DELETIONS, NULL);
        ASSERT_TRUE(del != NULL);
        if (!del)
                return test_exit_status();
        ASSERT_EQ(del->id, del_id);
        ASSERT_EQ_U64(del->created, del_created);
        /* The answers to id_b and the question went with the sync above and are gone from
         * the device; until sync.db records them (as that run does) they are asked again;
         * id_c's answer waits. */
        ASSERT_EQ(del->n_items, 2);
        ASSERT_TRUE(request_find_device(m, d, REQUEST_FIRST_SYNC, "documents") != NULL);
        decide(dir, id_b, "approve");
        {
                char path[512];
                SyncDb *db = NULL;

                snprintf(path, sizeof(path), "%s/%s/sync.db", dir, UDID);
                ASSERT_OK(sync_db_open(path, false, &db));
                if (db) {
                        ASSERT_EQ(sync_db_question_choose(db, "documents", "merge", 9), 1);
                        sync_db_close(db);
                }
        }
        ASSERT_EQ(request_reconcile_device(d), 1);
        ASSERT_EQ(del->n_items, 1);
        ASSERT_EQ_U64(del->items[0].id, id_a);
        ASSERT_TRUE(request_find_device(m, d, REQUEST_FIRST_SYNC, "documents") == NULL);
        ASSERT_EQ(d->n_saved_requests, 0);

        /* The bound on answers waiting: Busy, and nothing changes. */
        while (d->n_decisions < DEVICE_STATE_DECISIONS_MAX)
                ASSERT_OK(device_add_decision(d, "documents", "reject",
                                              1000000 + d->n_decisions));
        ASSERT_EQ(device_add_decision(d, "documents", "reject", 5), -E2BIG);
        answer(del, "reject", NULL, 0, BUS_ERROR_BUSY);
        ASSERT_EQ(m->n_requests, 1);
        d->n_decisions = 0;

        /* Answering the last item removes the request; a number is never given again. */
        answer(del, "reject", NULL, 0, "");
        ASSERT_EQ(m->n_requests, 0);
        ASSERT_OK(device_save(d));
        manager_free(m);
        decide(dir, id_a, "reject");
        {
                char path[512];
                SyncDb *db = NULL;

                snprintf(path, sizeof(path), "%s/%s/sync.db", dir, UDID);
                ASSERT_OK(sync_db_open(path, false, &db));
                if (db) {
                        ASSERT_OK(sync_db_held_add(db, "documents", "x", "new", "new",
                                                   "computer", 1, 5, NULL));
                        sync_db_close(db);
                }
        }
        m = manager_with_device(dir, &d);
        if (!m || !d)
                return test_exit_status();
        ASSERT_EQ(request_reconcile_device(d), 1);
        del = request_find_device(m, d, REQUEST_DELETIONS, NULL);
        ASSERT_TRUE(del != NULL);
        if (del)
                ASSERT_TRUE(del->id > fs_id && del->id > del_id);

        /* Apps=install: an app whose IPA left AppsDir= is asked about by name. */
        {
                char path[512];
                SyncDb *db = NULL;

                snprintf(path, sizeof(path), "%s/%s/sync.db", dir, UDID);
                ASSERT_OK(sync_db_open(path, false, &db));
                if (db) {
                        ASSERT_OK(sync_db_held_add(db, "apps", "", "org.example.Good", "Good",
                                                   "device", 0, 6, NULL));
                        sync_db_close(db);
                }
        }
        ASSERT_EQ(request_reconcile_device(d), 1);
        del = request_find_device(m, d, REQUEST_DELETIONS, NULL);
        if (del)
                ASSERT_STREQ(del->summary, "Remove 1 file from the computer and 1 from the "
                                           "device, each deleted on the other side? Uninstall "
                                           "the app 'Good' from the device? Its IPA was "
                                           "removed from AppsDir=.");
        manager_free(m);

        (void) nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        printf("%u checks, %u failed\n", checks, failures);
        return test_exit_status();
}
