/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lockdownd (device port 62078): values, real pairing, TLS sessions and service ports.
 *
 * Pairing is real: the host makes a DeviceCertificate over the public key we hand out; Pair
 * checks that certificate carries our key, keeps the record per HostID and returns an
 * escrow bag. StartSession accepts known hosts only and then serves TLS with that
 * certificate and the device key, as a phone does. The Trust dialog, "Don't Trust" and a
 * passcode-locked device are states the control socket sets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "device.h"
#include "emu.h"
#include "mobilesync.h"

#define LOCKDOWN_MAX_FRAME (1u << 20)

typedef struct Session {
        Conn *conn;
        Device *device;                 /* borrowed */
        char *host_id;                  /* set by StartSession */
        char session_id[37];
        bool active;
} Session;

static void uuid_string(char out[37]) {
        uint8_t b[16];

        (void) RAND_bytes(b, sizeof(b));
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                 b[13], b[14], b[15]);
}

static void set_str(plist_t dict, const char *key, const char *value) {
        if (value)
                plist_dict_set_item(dict, key, plist_new_string(value));
}

/* Values of the global domain (no Domain key). */
static plist_t global_values(Device *d, const DeviceInfo *i) {
        plist_t v = plist_new_dict();
        struct timespec now;
        char *pem;
        bool locked;

        emu_lock();
        pem = strdup(d->pubkey_pem);
        locked = d->locked;
        emu_unlock();
        clock_gettime(CLOCK_REALTIME, &now);

        set_str(v, "ActivationState", "Activated");
        set_str(v, "BluetoothAddress", i->bt_address);
        set_str(v, "BuildVersion", i->build);
        set_str(v, "CPUArchitecture", "arm64e");
        set_str(v, "DeviceClass", i->device_class);
        set_str(v, "DeviceColor", "1");
        set_str(v, "DeviceName", i->name);
        if (pem)
                plist_dict_set_item(v, "DevicePublicKey", plist_new_data(pem, strlen(pem)));
        free(pem);
        set_str(v, "FirmwareVersion", "iBoot-10151.121.1");
        set_str(v, "HardwareModel", i->hardware_model);
        set_str(v, "HardwarePlatform", "t8120");
        set_str(v, "InternationalMobileEquipmentIdentity", i->imei);
        set_str(v, "ModelNumber", "MQ9T3");
        plist_dict_set_item(v, "PasswordProtected", plist_new_bool(locked));
        set_str(v, "PhoneNumber", i->phone_number);
        set_str(v, "ProductName", "iPhone OS");
        set_str(v, "ProductType", i->product);
        set_str(v, "ProductVersion", i->ios);
        set_str(v, "RegionInfo", "LL/A");
        set_str(v, "SerialNumber", i->serial);
        set_str(v, "TimeZone", "Etc/UTC");
        plist_dict_set_item(v, "TimeIntervalSince1970",
                            plist_new_real((double) now.tv_sec + now.tv_nsec / 1e9));
        plist_dict_set_item(v, "TimeZoneOffsetFromUTC", plist_new_real(0));
        plist_dict_set_item(v, "UniqueChipID", plist_new_uint(i->ecid));
        set_str(v, "UniqueDeviceID", d->udid);
        plist_dict_set_item(v, "Uses24HourClock", plist_new_bool(1));
        set_str(v, "WiFiAddress", i->wifi_address);
        return v;
}

/* Values of a named domain, or NULL if the device has no such domain. */
static plist_t domain_values(Device *d, const DeviceInfo *i, const char *domain) {
        plist_t v = plist_new_dict();

        if (strcmp(domain, "com.apple.mobile.battery") == 0) {
                plist_dict_set_item(v, "BatteryCurrentCapacity", plist_new_uint(i->battery));
                plist_dict_set_item(v, "BatteryIsCharging", plist_new_bool(i->charging));
                plist_dict_set_item(v, "ExternalChargeCapable", plist_new_bool(i->charging));
                plist_dict_set_item(v, "ExternalConnected", plist_new_bool(1));
                plist_dict_set_item(v, "FullyCharged", plist_new_bool(i->battery >= 100));
                plist_dict_set_item(v, "GasGaugeCapability", plist_new_bool(1));
                plist_dict_set_item(v, "HasBattery", plist_new_bool(1));
        } else if (strcmp(domain, "com.apple.mobile.backup") == 0) {
                bool enc;

                emu_lock();
                enc = backup_will_encrypt(d);
                emu_unlock();
                plist_dict_set_item(v, "CloudBackupEnabled", plist_new_bool(0));
                plist_dict_set_item(v, "WillEncrypt", plist_new_bool(enc));
        } else if (strcmp(domain, "com.apple.mobile.iTunes") == 0) {
                /* mobilesync: SyncDataClasses= of device.ini (comma-separated names). */
                plist_t classes = plist_new_array();
                _cleanup_(freep) char *list = strdup(i->sync_classes ?: "");
                char *save = NULL;

                for (char *t = list ? strtok_r(list, ",", &save) : NULL; t;
                     t = strtok_r(NULL, ",", &save)) {
                        while (*t == ' ')
                                t++;
                        if (*t)
                                plist_array_append_item(classes, plist_new_string(t));
                }
                plist_dict_set_item(v, "MinITunesVersion", plist_new_string("12.5.5"));
                plist_dict_set_item(v, "SyncDataClasses", classes);
        } else if (strcmp(domain, "com.apple.mobile.tethered_sync") == 0) {
                /* mobilesync: persisted in the profile (mobilesync-store.c). */
                plist_free(v);
                if (ms_tethered_get(d->profile_dir, i->sync_disabled, &v) < 0)
                        return NULL;
        } else if (strcmp(domain, "com.apple.disk_usage") == 0 ||
                   strcmp(domain, "com.apple.disk_usage.factory") == 0) {
                plist_dict_set_item(v, "TotalDiskCapacity", plist_new_uint(i->disk_total));
                plist_dict_set_item(v, "TotalDataCapacity", plist_new_uint(i->disk_total));
                plist_dict_set_item(v, "TotalDataAvailable", plist_new_uint(i->disk_free));
                plist_dict_set_item(v, "AmountDataAvailable", plist_new_uint(i->disk_free));
        } else if (strcmp(domain, "com.apple.fmip") == 0) {
                /* Find My: a phone with it on refuses a restore (211). */
                plist_dict_set_item(v, "IsAssociated", plist_new_bool(i->find_my));
        } else if (strcmp(domain, "com.apple.international") == 0) {
                plist_dict_set_item(v, "Language", plist_new_string("en"));
                plist_dict_set_item(v, "Locale", plist_new_string("en_US"));
        } else if (strcmp(domain, "com.apple.iTunes") != 0 &&
                   strcmp(domain, "com.apple.mobile.data_sync") != 0 &&
                   strcmp(domain, "com.apple.mobile.sync_data_class") != 0) {
                plist_free(v);
                return NULL;
        }
        return v;
}

/* Overlay what SetValue stored for this domain. Lock held. */
static void apply_overrides(Device *d, const char *domain, plist_t values) {
        plist_t o = plist_dict_get_item(d->overrides, domain ?: "");
        plist_dict_iter it = NULL;
        char *key = NULL;
        plist_t val = NULL;

        if (!o)
                return;
        plist_dict_new_iter(o, &it);
        for (;;) {
                plist_dict_next_item(o, it, &key, &val);
                if (!key)
                        break;
                plist_dict_set_item(values, key, plist_copy(val));
                free(key);
        }
        free(it);
}

static plist_t reply_new(const char *request) {
        plist_t r = plist_new_dict();

        plist_dict_set_item(r, "Request", plist_new_string(request));
        return r;
}

static int send_error(Session *s, const char *request, const char *error) {
        _cleanup_(plist_freep) plist_t r = reply_new(request);

        log_debug("%s: lockdown %s -> %s", s->device->udid, request, error);
        plist_dict_set_item(r, "Error", plist_new_string(error));
        return plistio_send(s->conn, r, false);
}

static int send_ok(Session *s, plist_t r) {
        return plistio_send(s->conn, r, false);
}

static int handle_get_value(Session *s, const char *request, plist_t req) {
        const char *domain = plist_dict_str(req, "Domain");
        const char *key = plist_dict_str(req, "Key");
        _cleanup_(device_info_freep) DeviceInfo *info = NULL;
        _cleanup_(plist_freep) plist_t values = NULL;
        _cleanup_(plist_freep) plist_t r = NULL;
        plist_t value;

        if (device_read_info(s->device, &info) < 0)
                return send_error(s, request, "InternalError");
        values = domain ? domain_values(s->device, info, domain) : global_values(s->device, info);
        if (!values)
                return send_error(s, request, "MissingValue");
        emu_lock();
        apply_overrides(s->device, domain, values);
        emu_unlock();

        value = key ? plist_dict_get_item(values, key) : values;
        if (!value)
                return send_error(s, request, "MissingValue");

        r = reply_new(request);
        set_str(r, "Domain", domain);
        set_str(r, "Key", key);
        plist_dict_set_item(r, "Value", plist_copy(value));
        return send_ok(s, r);
}

static int handle_set_value(Session *s, const char *request, plist_t req, bool remove) {
        const char *domain = plist_dict_str(req, "Domain") ?: "";
        const char *key = plist_dict_str(req, "Key");
        plist_t value = plist_dict_get_item(req, "Value");
        _cleanup_(plist_freep) plist_t r = NULL;
        plist_t o;

        if (!s->active)
                return send_error(s, request, "SessionInactive");
        if (!key || (!remove && !value))
                return send_error(s, request, remove ? "MissingKey" : "MissingValue");
        if (!remove && strcmp(domain, "") == 0 &&
            (strcmp(key, "UniqueDeviceID") == 0 || strcmp(key, "ProductType") == 0 ||
             strcmp(key, "ProductVersion") == 0 || strcmp(key, "SerialNumber") == 0))
                return send_error(s, request, "ImmutableValue");

        if (strcmp(domain, "com.apple.mobile.tethered_sync") == 0) {
                /* mobilesync: the phone keeps this across reboots; so does the profile. */
                _cleanup_(device_info_freep) DeviceInfo *info = NULL;

                if (device_read_info(s->device, &info) < 0 ||
                    ms_tethered_set(s->device->profile_dir, info->sync_disabled, key,
                                    remove ? NULL : value) < 0)
                        return send_error(s, request, "InternalError");
                r = reply_new(request);
                return send_ok(s, r);
        }

        emu_lock();
        o = plist_dict_get_item(s->device->overrides, domain);
        if (!o) {
                o = plist_new_dict();
                plist_dict_set_item(s->device->overrides, domain, o);
        }
        if (remove)
                plist_dict_remove_item(o, key);
        else
                plist_dict_set_item(o, key, plist_copy(value));
        emu_unlock();

        r = reply_new(request);
        return send_ok(s, r);
}

/* Does the certificate in pem carry the device's public key? */
static bool cert_matches_device(Device *d, const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        bool ok = false;

        BIO_free(b);
        if (x) {
                EVP_PKEY *pub = X509_get0_pubkey(x);
                ok = pub && EVP_PKEY_eq(pub, d->key) == 1;
                X509_free(x);
        }
        return ok;
}

static char *dict_pem(plist_t dict, const char *key) {
        plist_t n = plist_dict_get_item(dict, key);
        char *buf = NULL, *s;
        uint64_t len = 0;

        if (!n || plist_get_node_type(n) != PLIST_DATA)
                return NULL;
        plist_get_data_val(n, &buf, &len);
        if (!buf)
                return NULL;
        s = strndup(buf, len);
        free(buf);
        return s;
}

static int handle_pair(Session *s, const char *request, plist_t req) {
        plist_t rec = plist_dict_get_item(req, "PairRecord");
        _cleanup_(plist_freep) plist_t r = NULL;
        const char *host_id, *buid;
        PairRecord *p;
        TrustState trust;
        bool locked;

        if (!rec || plist_get_node_type(rec) != PLIST_DICT)
                return send_error(s, request, "MissingPairRecord");
        host_id = plist_dict_str(rec, "HostID");
        buid = plist_dict_str(rec, "SystemBUID");
        if (!host_id)
                return send_error(s, request, "MissingHostID");

        emu_lock();
        trust = s->device->trust;
        locked = s->device->locked;
        if (!locked && trust == TRUST_DENIED)
                s->device->trust = TRUST_PENDING;   /* asked again on the next attempt */
        emu_unlock();

        /* A phone pairs only when unlocked; then the user must answer the Trust dialog. */
        if (locked)
                return send_error(s, request, "PasswordProtected");
        if (trust == TRUST_DENIED)
                return send_error(s, request, "UserDeniedPairing");
        if (trust == TRUST_PENDING)
                return send_error(s, request, "PairingDialogResponsePending");

        p = calloc(1, sizeof(*p));
        if (!p)
                return send_error(s, request, "InternalError");
        p->host_id = strdup(host_id);
        p->system_buid = buid ? strdup(buid) : NULL;
        p->device_cert_pem = dict_pem(rec, "DeviceCertificate");
        p->host_cert_pem = dict_pem(rec, "HostCertificate");
        p->root_cert_pem = dict_pem(rec, "RootCertificate");
        (void) RAND_bytes(p->escrow, sizeof(p->escrow));
        if (!p->host_id || !p->device_cert_pem || !p->host_cert_pem || !p->root_cert_pem ||
            !cert_matches_device(s->device, p->device_cert_pem)) {
                free(p->host_id);
                free(p->system_buid);
                free(p->device_cert_pem);
                free(p->host_cert_pem);
                free(p->root_cert_pem);
                free(p);
                return send_error(s, request, "InvalidPairRecord");
        }

        r = reply_new(request);
        plist_dict_set_item(r, "EscrowBag", plist_new_data((char *) p->escrow, sizeof(p->escrow)));
        emu_lock();
        device_add_pairing(s->device, p);
        emu_unlock();
        log_info("%s: paired with host %s", s->device->udid, host_id);
        return send_ok(s, r);
}

static const char *record_host_id(plist_t req) {
        plist_t rec = plist_dict_get_item(req, "PairRecord");

        return rec ? plist_dict_str(rec, "HostID") : NULL;
}

static int handle_validate_or_unpair(Session *s, const char *request, plist_t req, bool unpair) {
        _cleanup_(plist_freep) plist_t r = NULL;
        const char *host_id = record_host_id(req);
        bool known;

        if (!host_id)
                return send_error(s, request, "MissingHostID");
        emu_lock();
        known = device_find_pairing(s->device, host_id);
        if (known && unpair)
                device_remove_pairing(s->device, host_id);
        emu_unlock();
        if (!known)
                return send_error(s, request, "InvalidHostID");
        r = reply_new(request);
        return send_ok(s, r);
}

static int handle_start_session(Session *s, const char *request, plist_t req) {
        const char *host_id = plist_dict_str(req, "HostID");
        _cleanup_(plist_freep) plist_t r = NULL;
        bool known;
        int k;

        if (!host_id)
                return send_error(s, request, "MissingHostID");
        if (s->active)
                return send_error(s, request, "SessionActive");
        emu_lock();
        known = device_find_pairing(s->device, host_id);
        if (known)
                s->device->stats.sessions++;
        emu_unlock();
        if (!known)
                return send_error(s, request, "InvalidHostID");

        free(s->host_id);
        s->host_id = strdup(host_id);
        if (!s->host_id)
                return -ENOMEM;
        uuid_string(s->session_id);
        s->active = true;

        r = reply_new(request);
        plist_dict_set_item(r, "SessionID", plist_new_string(s->session_id));
        plist_dict_set_item(r, "EnableSessionSSL", plist_new_bool(1));
        k = send_ok(s, r);
        if (k < 0)
                return k;
        return conn_start_tls(s->conn, s->host_id);
}

static int handle_stop_session(Session *s, const char *request, plist_t req) {
        const char *sid = plist_dict_str(req, "SessionID");
        _cleanup_(plist_freep) plist_t r = NULL;
        int k;

        if (!s->active)
                return send_error(s, request, "SessionInactive");
        if (!sid || strcmp(sid, s->session_id) != 0)
                return send_error(s, request, "InvalidSessionID");
        r = reply_new(request);
        k = send_ok(s, r);
        s->active = false;
        /* The host leaves TLS after StopSession and goes on (or closes) in plaintext. */
        conn_stop_tls(s->conn);
        return k;
}

static int handle_start_service(Session *s, const char *request, plist_t req) {
        const char *name = plist_dict_str(req, "Service");
        _cleanup_(plist_freep) plist_t r = NULL;
        const ServiceDef *def;
        uint16_t port = 0;
        bool locked;
        int k;

        if (!name)
                return send_error(s, request, "MissingService");
        if (!s->active)
                return send_error(s, request, "SessionInactive");
        def = service_lookup(name);
        if (!def)
                return send_error(s, request, "InvalidService");

        emu_lock();
        locked = s->device->locked;
        k = (locked && def->needs_unlock) ? 0 : device_add_service(s->device, def, s->host_id, &port);
        emu_unlock();
        if (locked && def->needs_unlock)
                return send_error(s, request, "PasswordProtected");
        if (k < 0)
                return send_error(s, request, "ServiceLimit");

        r = reply_new(request);
        set_str(r, "Service", name);
        plist_dict_set_item(r, "Port", plist_new_uint(port));
        plist_dict_set_item(r, "EnableServiceSSL", plist_new_bool(def->ssl));
        return send_ok(s, r);
}

static int dispatch(Session *s, plist_t req) {
        const char *request = plist_dict_str(req, "Request");
        _cleanup_(plist_freep) plist_t r = NULL;

        if (!request)
                return send_error(s, "", "InvalidRequest");
        log_debug("%s: lockdown %s", s->device->udid, request);

        if (strcmp(request, "QueryType") == 0) {
                r = reply_new(request);
                plist_dict_set_item(r, "Type", plist_new_string("com.apple.mobile.lockdown"));
                return send_ok(s, r);
        }
        if (strcmp(request, "GetValue") == 0)
                return handle_get_value(s, request, req);
        if (strcmp(request, "SetValue") == 0)
                return handle_set_value(s, request, req, false);
        if (strcmp(request, "RemoveValue") == 0)
                return handle_set_value(s, request, req, true);
        if (strcmp(request, "Pair") == 0)
                return handle_pair(s, request, req);
        if (strcmp(request, "ValidatePair") == 0)
                return handle_validate_or_unpair(s, request, req, false);
        if (strcmp(request, "Unpair") == 0)
                return handle_validate_or_unpair(s, request, req, true);
        if (strcmp(request, "StartSession") == 0)
                return handle_start_session(s, request, req);
        if (strcmp(request, "StopSession") == 0)
                return handle_stop_session(s, request, req);
        if (strcmp(request, "StartService") == 0)
                return handle_start_service(s, request, req);
        if (strcmp(request, "Goodbye") == 0) {
                r = reply_new(request);
                (void) send_ok(s, r);
                return 1;
        }
        return send_error(s, request, "InvalidRequest");
}

void lockdown_serve(Conn *c) {
        Session s = { .conn = c, .device = c->device };

        for (;;) {
                _cleanup_(plist_freep) plist_t req = NULL;
                int r;

                r = plistio_recv(c, LOCKDOWN_MAX_FRAME, &req);
                if (r == -EBADMSG || (r == 0 && plist_get_node_type(req) != PLIST_DICT)) {
                        /* Garbage gets an answer, then the connection goes on. */
                        if (send_error(&s, "", "InvalidRequest") < 0)
                                break;
                        continue;
                }
                if (r < 0) {
                        if (r == -EMSGSIZE)
                                log_warn("%s: lockdown frame too large, closing", c->device->udid);
                        break;
                }
                if (dispatch(&s, req) != 0)
                        break;
        }
        free(s.host_id);
}
