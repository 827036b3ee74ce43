/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Conn: the device side of one stream (lockdownd or a service), plaintext or TLS.
 *
 * Handlers do blocking I/O through these helpers only, so that per-device byte counters
 * (the `stats` control command) and the cable pull (shutdown of every registered stream of
 * a device) work the same for every service.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "emu.h"

int conn_read_full(Conn *c, void *buf, size_t n) {
        uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = conn_read_some(c, p, n);
                if (k < 0)
                        return (int) k;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

ssize_t conn_read_some(Conn *c, void *buf, size_t n) {
        ssize_t k;

        if (n == 0)
                return -EINVAL;
        if (n > (1u << 30))
                n = 1u << 30;

        if (c->ssl) {
                int r = SSL_read(c->ssl, buf, (int) n);
                if (r <= 0) {
                        int e = SSL_get_error(c->ssl, r);
                        ERR_clear_error();
                        return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EIO;
                }
                k = r;
        } else {
                do
                        k = recv(c->fd, buf, n, 0);
                while (k < 0 && errno == EINTR);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ECONNRESET;
        }

        if (c->device)
                device_count_io(c->device, 0, (uint64_t) k);
        return k;
}

int conn_write_full(Conn *c, const void *buf, size_t n) {
        const uint8_t *p = buf;
        size_t total = n;

        while (n > 0) {
                size_t chunk = n > (1u << 30) ? (1u << 30) : n;
                ssize_t k;

                if (c->ssl) {
                        int r = SSL_write(c->ssl, p, (int) chunk);
                        if (r <= 0) {
                                ERR_clear_error();
                                return -EPIPE;
                        }
                        k = r;
                } else {
                        do
                                k = send(c->fd, p, chunk, MSG_NOSIGNAL);
                        while (k < 0 && errno == EINTR);
                        if (k < 0)
                                return -errno;
                }
                p += k;
                n -= (size_t) k;
        }

        if (c->device)
                device_count_io(c->device, total, 0);
        return 0;
}

int conn_register(Conn *c, Device *d) {
        int r = 0;

        emu_lock();
        if (!d->attached)
                r = -ENODEV;
        else {
                c->device = d;
                c->next_in_device = d->conns;
                d->conns = c;
                c->registered = true;
                d->stats.connections++;
        }
        emu_unlock();
        return r;
}

void conn_unregister(Conn *c) {
        emu_lock();
        if (c->registered && c->device) {
                for (Conn **p = &c->device->conns; *p; p = &(*p)->next_in_device)
                        if (*p == c) {
                                *p = c->next_in_device;
                                break;
                        }
                c->registered = false;
        }
        emu_unlock();
        if (c->ssl) {
                SSL_free(c->ssl);
                c->ssl = NULL;
        }
}

static X509 *pem_to_x509(const char *pem) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        X509 *x = NULL;

        if (!b)
                return NULL;
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        return x;
}

int conn_start_tls(Conn *c, const char *host_id) {
        SSL_CTX *ctx = NULL;
        SSL *ssl = NULL;
        X509 *cert = NULL;
        EVP_PKEY *key;
        int r = -EPROTO;

        emu_lock();
        key = c->device ? c->device->key : NULL;
        if (key)
                EVP_PKEY_up_ref(key);
        if (c->device && host_id)
                for (PairRecord *p = c->device->pairings; p; p = p->next)
                        if (strcmp(p->host_id, host_id) == 0) {
                                cert = pem_to_x509(p->device_cert_pem);
                                break;
                        }
        emu_unlock();

        if (!key || !cert) {
                log_warn("TLS: no device certificate for host '%s'", host_id ?: "(none)");
                goto out;
        }

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                goto out;
        /* The host-made certificates are SHA-1 signed: OpenSSL 3 needs level 0 to load them. */
        SSL_CTX_set_security_level(ctx, 0);
        SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        /* Session tickets would only add unread records that confuse the TLS exit. */
        SSL_CTX_set_num_tickets(ctx, 0);
        if (SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1) {
                log_warn("TLS: cannot load device certificate/key");
                goto out;
        }

        ssl = SSL_new(ctx);
        if (!ssl || SSL_set_fd(ssl, c->fd) != 1)
                goto out;
        if (SSL_accept(ssl) != 1) {
                log_debug("TLS handshake failed");
                goto out;
        }
        c->ssl = TAKE_PTR(ssl);
        r = 0;
out:
        ERR_clear_error();
        SSL_free(ssl);
        SSL_CTX_free(ctx);              /* refcounted: the SSL keeps its own reference */
        X509_free(cert);
        EVP_PKEY_free(key);
        return r;
}

void conn_stop_tls(Conn *c) {
        char b;

        if (!c->ssl)
                return;
        /* Wait for the client's close_notify (SSL_read gives ZERO_RETURN), answer with ours. */
        if (SSL_read(c->ssl, &b, 1) <= 0 &&
            SSL_get_error(c->ssl, 0) != SSL_ERROR_SYSCALL)
                (void) SSL_shutdown(c->ssl);
        ERR_clear_error();
        SSL_free(c->ssl);
        c->ssl = NULL;
}
