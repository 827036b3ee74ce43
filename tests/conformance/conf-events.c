/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Attach/detach events reach an idevice_event_subscribe() client, and the device announced
 * by an ADD event is usable at once (lockdown handshake). Driven through the control socket.
 *
 *   conf-events FAKEIDEVICE CONTROL_PATH UDID
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libimobiledevice/libimobiledevice.h>
#include <libimobiledevice/lockdown.h>

#include "conf.h"

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static const char *want_udid;
static int adds, removes;

static void on_event(const idevice_event_t *e, void *userdata) {
        if (!e->udid || strcmp(e->udid, want_udid) != 0)
                return;
        pthread_mutex_lock(&mutex);
        if (e->event == IDEVICE_DEVICE_ADD)
                adds++;
        else if (e->event == IDEVICE_DEVICE_REMOVE)
                removes++;
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&mutex);
}

/* Wait until the counter reaches n; the 60 s bound is a hang guard, not a timing check. */
static void wait_for(int *counter, int n, const char *what) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        pthread_mutex_lock(&mutex);
        while (*counter < n)
                CHECK(pthread_cond_timedwait(&cond, &mutex, &ts) != ETIMEDOUT,
                      "no %s event (have %d, want %d)", what, *counter, n);
        pthread_mutex_unlock(&mutex);
}

static void ctl(const char *fake, const char *path, const char *cmd) {
        char line[4096];

        snprintf(line, sizeof(line), "'%s' ctl '%s' %s >/dev/null", fake, path, cmd);
        CHECK(system(line) == 0, "control command '%s' failed", cmd);
}

static void handshake(void) {
        idevice_t dev = NULL;
        lockdownd_client_t ld = NULL;
        char *name = NULL;

        CHECK(idevice_new_with_options(&dev, want_udid, IDEVICE_LOOKUP_USBMUX) ==
              IDEVICE_E_SUCCESS, "device not found after ADD");
        CHECK(lockdownd_client_new_with_handshake(dev, &ld, "conf-events") ==
              LOCKDOWN_E_SUCCESS, "handshake after ADD");
        CHECK(lockdownd_get_device_name(ld, &name) == LOCKDOWN_E_SUCCESS && name, "name");
        free(name);
        lockdownd_client_free(ld);
        idevice_free(dev);
}

int main(int argc, char **argv) {
        char cmd[256];

        if (argc != 4) {
                fprintf(stderr, "usage: conf-events FAKEIDEVICE CONTROL_PATH UDID\n");
                return 2;
        }
        want_udid = argv[3];
        CHECK(idevice_event_subscribe(on_event, NULL) == IDEVICE_E_SUCCESS, "subscribe");

        wait_for(&adds, 1, "initial ADD");
        handshake();

        snprintf(cmd, sizeof(cmd), "detach %s", want_udid);
        ctl(argv[1], argv[2], cmd);
        wait_for(&removes, 1, "REMOVE");

        snprintf(cmd, sizeof(cmd), "attach %s", want_udid);
        ctl(argv[1], argv[2], cmd);
        wait_for(&adds, 2, "second ADD");
        handshake();

        snprintf(cmd, sizeof(cmd), "reboot %s", want_udid);
        ctl(argv[1], argv[2], cmd);
        wait_for(&removes, 2, "REMOVE on reboot");
        wait_for(&adds, 3, "ADD after reboot");

        idevice_event_unsubscribe();
        printf("events: %d add, %d remove\n", adds, removes);
        return 0;
}
