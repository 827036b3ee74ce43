/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated devices: identity (RSA key, UDID), the states a user changes by hand (plugged
 * in, trusted, locked, battery), the hosts it is paired with, its open streams and counters.
 *
 * Everything here is guarded by the one global lock. The device key is kept in the profile
 * (device-key.pem) so a device keeps its identity across emulator runs, as a phone does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "device.h"
#include "emu.h"

Device *emu_devices;
bool emu_quitting;
int emu_verbose;

static pthread_mutex_t emu_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t emu_cond = PTHREAD_COND_INITIALIZER;
static uint32_t mux_id_counter;

void emu_lock(void) {
        pthread_mutex_lock(&emu_mutex);
}

void emu_unlock(void) {
        pthread_mutex_unlock(&emu_mutex);
}

void emu_broadcast(void) {
        pthread_cond_broadcast(&emu_cond);
}

int emu_wait(int timeout_ms) {
        struct timespec ts;

        if (timeout_ms < 0) {
                pthread_cond_wait(&emu_cond, &emu_mutex);
                return 0;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        return pthread_cond_timedwait(&emu_cond, &emu_mutex, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
}

void emu_log(int level, const char *fmt, ...) {
        va_list ap;
        char buf[1024];

        if (level > emu_verbose)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        /* One write per line, so lines of concurrent threads never interleave. */
        fprintf(stderr, "fakeidevice: %s\n", buf);
}

bool udid_is_valid(const char *udid) {
        size_t n = strlen(udid);

        if (n == 0 || n > 64)
                return false;
        if (n == 40 && strspn(udid, "f") == 40)
                return false;           /* libusbmuxd rewrites this serial */
        return strspn(udid, "0123456789abcdefABCDEF-") == n;
}

static int load_or_make_key(Device *d) {
        _cleanup_(freep) char *path = NULL;
        OSSL_ENCODER_CTX *enc;
        unsigned char *pem = NULL;
        size_t pem_len = 0;
        FILE *f;

        if (asprintf(&path, "%s/device-key.pem", d->profile_dir) < 0)
                return -ENOMEM;

        f = fopen(path, "re");
        if (f) {
                d->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
                fclose(f);
        }
        if (!d->key) {
                d->key = EVP_RSA_gen(2048);
                if (!d->key)
                        return -ENOMEM;
                /* Best effort: a read-only profile just gets a new identity next run. */
                int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        f = fdopen(fd, "we");
                        if (f) {
                                PEM_write_PrivateKey(f, d->key, NULL, NULL, 0, NULL, NULL);
                                fclose(f);
                        } else
                                close(fd);
                }
        }

        /* lockdownd hands out the public key as PKCS#1 "RSA PUBLIC KEY" PEM. */
        enc = OSSL_ENCODER_CTX_new_for_pkey(d->key, OSSL_KEYMGMT_SELECT_PUBLIC_KEY, "PEM",
                                            "type-specific", NULL);
        if (!enc)
                return -ENOMEM;
        if (OSSL_ENCODER_to_data(enc, &pem, &pem_len) != 1) {
                OSSL_ENCODER_CTX_free(enc);
                return -EIO;
        }
        OSSL_ENCODER_CTX_free(enc);
        d->pubkey_pem = strndup((char *) pem, pem_len);
        OPENSSL_free(pem);
        return d->pubkey_pem ? 0 : -ENOMEM;
}

int device_new(const char *udid, const char *profile_dir, Device **ret) {
        _cleanup_(device_freep) Device *d = NULL;
        struct stat st;
        int r;

        if (!udid_is_valid(udid)) {
                log_warn("Invalid UDID '%s': use 1..64 characters of [0-9A-Fa-f-]", udid);
                return -EINVAL;
        }
        if (stat(profile_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                log_warn("Profile directory '%s' does not exist", profile_dir);
                return -ENOENT;
        }

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        *d = (Device) {
                .udid = strdup(udid),
                .profile_dir = realpath(profile_dir, NULL),
                .trust = TRUST_YES,
                .battery = -1,
                .charging = -1,
                .next_port = 49152,
                .overrides = plist_new_dict(),
        };
        if (!d->udid || !d->profile_dir || !d->overrides)
                return -ENOMEM;

        r = load_or_make_key(d);
        if (r < 0) {
                log_warn("Cannot create the key of device '%s'", udid);
                return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

static void pair_record_free(PairRecord *p) {
        if (!p)
                return;
        free(p->host_id);
        free(p->system_buid);
        free(p->device_cert_pem);
        free(p->host_cert_pem);
        free(p->root_cert_pem);
        free(p);
}

static void services_clear(Device *d) {
        while (d->services) {
                Service *s = d->services;
                d->services = s->next;
                free(s->host_id);
                free(s);
        }
}

Device *device_free(Device *d) {
        if (!d)
                return NULL;
        while (d->pairings) {
                PairRecord *p = d->pairings;
                d->pairings = p->next;
                pair_record_free(p);
        }
        services_clear(d);
        backup_state_free(d);
        if (d->overrides)
                plist_free(d->overrides);
        EVP_PKEY_free(d->key);
        free(d->pubkey_pem);
        free(d->udid);
        free(d->profile_dir);
        free(d);
        return NULL;
}

Device *device_find_udid(const char *udid) {
        for (Device *d = emu_devices; d; d = d->next)
                if (strcmp(d->udid, udid) == 0)
                        return d;
        return NULL;
}

Device *device_find_mux_id(uint32_t id) {
        for (Device *d = emu_devices; d; d = d->next)
                if (d->attached && d->mux_id == id)
                        return d;
        return NULL;
}

int device_read_info(Device *d, DeviceInfo **ret) {
        _cleanup_(freep) char *dir = NULL;
        DeviceInfo *i = NULL;
        int battery, charging, r;

        emu_lock();
        dir = strdup(d->profile_dir);
        battery = d->battery;
        charging = d->charging;
        emu_unlock();
        if (!dir)
                return -ENOMEM;

        r = profile_read_info(dir, &i);
        if (r < 0)
                return r;
        /* The control socket's `battery` overrides the profile until the emulator quits. */
        if (battery >= 0)
                i->battery = battery;
        if (charging >= 0)
                i->charging = charging;
        *ret = i;
        return 0;
}

void device_count_io(Device *d, uint64_t sent, uint64_t received) {
        emu_lock();
        d->stats.bytes_sent += sent;
        d->stats.bytes_received += received;
        emu_unlock();
}

void device_count_files(Device *d, uint64_t sent, uint64_t received) {
        if (!d)
                return;
        emu_lock();
        d->stats.files_sent += sent;
        d->stats.files_received += received;
        emu_unlock();
}

void device_detach(Device *d) {
        uint32_t old = d->mux_id;

        if (!d->attached)
                return;
        d->attached = false;
        /* A cable pull: every stream of the device dies at once. */
        for (Conn *c = d->conns; c; c = c->next_in_device)
                (void) shutdown(c->fd, SHUT_RDWR);
        services_clear(d);
        usbmux_broadcast_detached(old);
        emu_broadcast();
        log_info("%s detached", d->udid);
}

void device_attach(Device *d) {
        if (d->attached)
                return;
        d->attached = true;
        d->mux_id = ++mux_id_counter;
        /* A new plug shows the Trust dialog again if the user said no last time. */
        if (d->trust == TRUST_DENIED)
                d->trust = TRUST_PENDING;
        usbmux_broadcast_attached(d);
        emu_broadcast();
        log_info("%s attached as DeviceID %u", d->udid, d->mux_id);
}

PairRecord *device_find_pairing(Device *d, const char *host_id) {
        if (!host_id)
                return NULL;
        for (PairRecord *p = d->pairings; p; p = p->next)
                if (strcmp(p->host_id, host_id) == 0)
                        return p;
        return NULL;
}

void device_remove_pairing(Device *d, const char *host_id) {
        for (PairRecord **p = &d->pairings; *p; p = &(*p)->next)
                if (strcmp((*p)->host_id, host_id) == 0) {
                        PairRecord *x = *p;
                        *p = x->next;
                        pair_record_free(x);
                        return;
                }
}

void device_add_pairing(Device *d, PairRecord *p) {
        device_remove_pairing(d, p->host_id);
        p->next = d->pairings;
        d->pairings = p;
}

int device_add_service(Device *d, const ServiceDef *def, const char *host_id, uint16_t *ret) {
        Service *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        s->host_id = host_id ? strdup(host_id) : NULL;
        if (host_id && !s->host_id) {
                free(s);
                return -ENOMEM;
        }
        s->def = def;
        /* A fresh port per request, as lockdownd does; skip 62078 and wrap in 49152..65535. */
        s->port = d->next_port;
        d->next_port = d->next_port >= 65000 ? 49152 : d->next_port + 1;
        s->next = d->services;
        d->services = s;
        *ret = s->port;
        return 0;
}

Service *device_take_service(Device *d, uint16_t port) {
        for (Service **p = &d->services; *p; p = &(*p)->next)
                if ((*p)->port == port) {
                        Service *s = *p;
                        *p = s->next;
                        s->next = NULL;
                        return s;
                }
        return NULL;
}

void service_free(Service *s) {
        if (!s)
                return;
        free(s->host_id);
        free(s);
}
