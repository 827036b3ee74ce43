/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The helper protocol's two codecs, each driven by one table (see worker.h): the request
 * (daemon → helper) and the reports (helper → daemon). Reports are checked strictly on
 * receipt, since a helper talks to a device that may be hostile and can be made to say
 * anything; this file has no other dependency so that it can be fuzzed on its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idevicesync.h"
#include "worker.h"

/* ---- values ------------------------------------------------------------------------------ */

/* Strict decimal: digits only, no sign, no overflow, at most max. */
static int parse_u64(const char *s, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s || strlen(s) > 20)
                return -EBADMSG;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        if (v > max)
                return -EBADMSG;
        *ret = v;
        return 0;
}

/* Decimal with an optional '-', within [min, max]. */
static int parse_int(const char *s, int min, int max, int *ret) {
        bool neg = *s == '-';
        uint64_t v;

        if (parse_u64(s + neg, (uint64_t) INT32_MAX + 1, &v) < 0)
                return -EBADMSG;
        if ((neg ? -(int64_t) v : (int64_t) v) < min || (neg ? -(int64_t) v : (int64_t) v) > max)
                return -EBADMSG;
        *ret = (int) (neg ? -(int64_t) v : (int64_t) v);
        return 0;
}

static int parse_bool(const char *s, bool *ret) {
        if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
                return -EBADMSG;
        *ret = s[0] == '1';
        return 0;
}

static bool key_ok(const char *k) {
        return *k && strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == strlen(k);
}

/* Split buf (n bytes, NUL-terminated at n by the caller) into lines and call fn for each
 * KEY=value. -EBADMSG for a line without '=' or a bad key; fn's errors pass through. */
static int for_each_assignment(char *buf, int (*fn)(const char *key, char *value, void *ud),
                               void *ud) {
        char *save = NULL;

        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(l, '=');
                int r;

                if (!eq)
                        return -EBADMSG;
                *eq = 0;
                if (!key_ok(l))
                        return -EBADMSG;
                r = fn(l, eq + 1, ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- the request ------------------------------------------------------------------------- */

typedef enum FieldType { FIELD_STRING, FIELD_BOOL, FIELD_U64 } FieldType;

typedef struct RequestField {
        const char *key;
        FieldType type;
        size_t offset;
} RequestField;

static const RequestField request_fields[] = {
        { "KIND", FIELD_STRING, offsetof(WorkerRequest, kind) },
        { "UDID", FIELD_STRING, offsetof(WorkerRequest, udid) },
        { "STATE_DIR", FIELD_STRING, offsetof(WorkerRequest, state_dir) },
        { "BACKUP_DIR", FIELD_STRING, offsetof(WorkerRequest, backup_dir) },
        { "SNAPSHOT", FIELD_STRING, offsetof(WorkerRequest, snapshot) },
        { "TARGET", FIELD_STRING, offsetof(WorkerRequest, target) },
        { "FULL", FIELD_BOOL, offsetof(WorkerRequest, full) },
        { "DRY_RUN", FIELD_BOOL, offsetof(WorkerRequest, dry_run) },
        { "PHOTOS", FIELD_STRING, offsetof(WorkerRequest, photos) },
        { "PHOTOS_DIR", FIELD_STRING, offsetof(WorkerRequest, photos_dir) },
        { "MEDIA", FIELD_STRING, offsetof(WorkerRequest, media) },
        { "TO_DEVICE", FIELD_STRING, offsetof(WorkerRequest, to_device) },
        { "CRASH_LOGS", FIELD_STRING, offsetof(WorkerRequest, crash_logs) },
        { "DOCUMENTS", FIELD_STRING, offsetof(WorkerRequest, documents) },
        { "DOCUMENTS_DIR", FIELD_STRING, offsetof(WorkerRequest, documents_dir) },
        { "DOCUMENTS_APPS", FIELD_STRING, offsetof(WorkerRequest, documents_apps) },
        { "DELETIONS", FIELD_STRING, offsetof(WorkerRequest, deletions) },
        { "FIRST_SYNC", FIELD_STRING, offsetof(WorkerRequest, first_sync) },
        { "TRASH_DAYS", FIELD_U64, offsetof(WorkerRequest, trash_days) },
        { "EXPORTS", FIELD_STRING, offsetof(WorkerRequest, exports) },
        { "APPS", FIELD_STRING, offsetof(WorkerRequest, apps) },
        { "APPS_DIR", FIELD_STRING, offsetof(WorkerRequest, apps_dir) },
        { "DOMAIN", FIELD_STRING, offsetof(WorkerRequest, domain) },
        { "PREFIX", FIELD_STRING, offsetof(WorkerRequest, prefix) },
        { "ITEMS", FIELD_STRING, offsetof(WorkerRequest, items) },
        { "ALL", FIELD_BOOL, offsetof(WorkerRequest, all) },
        { "PASS_FD", FIELD_BOOL, offsetof(WorkerRequest, has_pass_fd) },
        { "PASSWORD_FD", FIELD_BOOL, offsetof(WorkerRequest, has_password_fd) },
        { "OFFLINE", FIELD_BOOL, offsetof(WorkerRequest, offline) },
        { "REBOOT", FIELD_BOOL, offsetof(WorkerRequest, reboot) },
        { "HANDOVER", FIELD_BOOL, offsetof(WorkerRequest, handover) },
        { "SKIP_CHECKS", FIELD_BOOL, offsetof(WorkerRequest, skip_checks) },
        { "RESTORE_SYSTEM", FIELD_BOOL, offsetof(WorkerRequest, restore_system) },
        { "RESTORE_SETTINGS", FIELD_BOOL, offsetof(WorkerRequest, restore_settings) },
        { "RESTORE_REMOVE", FIELD_BOOL, offsetof(WorkerRequest, restore_remove) },
        { "RESTORE_APP_LIST", FIELD_BOOL, offsetof(WorkerRequest, restore_app_list) },
        { "REQUIRE_ENCRYPTION", FIELD_BOOL, offsetof(WorkerRequest, require_encryption) },
        { "KEEP", FIELD_U64, offsetof(WorkerRequest, keep) },
        { "KEEP_DAYS", FIELD_U64, offsetof(WorkerRequest, keep_days) },
        { "MIN_FREE_BYTES", FIELD_U64, offsetof(WorkerRequest, min_free_bytes) },
        { "MIN_FREE_PERCENT", FIELD_U64, offsetof(WorkerRequest, min_free_percent) },
};

static bool category_ok(const char *s) {
        size_t n = s ? strlen(s) : 0;

        return n > 0 && n < 32 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

bool worker_decision_is_valid(const WorkerDecision *d) {
        static const char *const held[] = { "approve", "reject" };
        static const char *const first[] = { "merge", "replace-device", "replace-computer" };

        if (!d || !category_ok(d->category) || !d->choice)
                return false;
        for (size_t i = 0; i < sizeof(held) / sizeof(held[0]); i++)
                if (strcmp(d->choice, held[i]) == 0)
                        return d->item > 0;
        for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
                if (strcmp(d->choice, first[i]) == 0)
                        return d->item == 0;
        return false;
}

int worker_request_encode(const WorkerRequest *r, char *buf, size_t size) {
        size_t len = 0;

        if (!r->kind || !r->udid || r->n_decisions > WORKER_DECISIONS_MAX ||
            (r->n_decisions > 0 && !r->decisions))
                return -EINVAL;
        for (size_t i = 0; i < r->n_decisions; i++) {
                const WorkerDecision *d = &r->decisions[i];
                int k;

                if (!worker_decision_is_valid(d))
                        return -EINVAL;
                k = snprintf(buf + len, size - len, "DECISION=%s/%s/%" PRIu64 "\n",
                             d->category, d->choice, d->item);
                if (k < 0 || (size_t) k >= size - len)
                        return -ENOBUFS;
                len += (size_t) k;
        }
        for (size_t i = 0; i < sizeof(request_fields) / sizeof(request_fields[0]); i++) {
                const RequestField *f = &request_fields[i];
                const void *p = (const char *) r + f->offset;
                int k;

                switch (f->type) {
                case FIELD_STRING: {
                        const char *s = *(const char *const *) p;

                        if (!s)
                                continue;
                        if (strchr(s, '\n'))
                                return -EINVAL;
                        k = snprintf(buf + len, size - len, "%s=%s\n", f->key, s);
                        break;
                }
                case FIELD_BOOL:
                        k = snprintf(buf + len, size - len, "%s=%d\n", f->key, *(const bool *) p);
                        break;
                default:
                        k = snprintf(buf + len, size - len, "%s=%" PRIu64 "\n", f->key,
                                     *(const uint64_t *) p);
                        break;
                }
                if (k < 0 || (size_t) k >= size - len)
                        return -ENOBUFS;
                len += (size_t) k;
        }
        return (int) len;
}

/* DECISION=<category>/<choice>/<item>: appended to the decoder's array. */
static int request_add_decision(WorkerRequest *r, char *value) {
        char *choice, *item;
        WorkerDecision d, *a;
        uint64_t v;

        choice = strchr(value, '/');
        item = choice ? strchr(choice + 1, '/') : NULL;
        if (!item)
                return -EBADMSG;
        *choice++ = 0;
        *item++ = 0;
        if (parse_u64(item, UINT64_MAX, &v) < 0)
                return -EBADMSG;
        d = (WorkerDecision) { .category = value, .choice = choice, .item = v };
        if (!worker_decision_is_valid(&d) || r->n_decisions >= WORKER_DECISIONS_MAX)
                return -EBADMSG;
        a = realloc(r->decisions_owned, (r->n_decisions + 1) * sizeof(*a));
        if (!a)
                return -ENOMEM;
        a[r->n_decisions++] = d;
        r->decisions_owned = a;
        r->decisions = a;
        return 0;
}

static int request_assign(const char *key, char *value, void *ud) {
        WorkerRequest *r = ud;

        if (strcmp(key, "DECISION") == 0)
                return request_add_decision(r, value);

        for (size_t i = 0; i < sizeof(request_fields) / sizeof(request_fields[0]); i++) {
                const RequestField *f = &request_fields[i];
                void *p = (char *) r + f->offset;

                if (strcmp(f->key, key) != 0)
                        continue;
                switch (f->type) {
                case FIELD_STRING:
                        *(const char **) p = value;
                        return 0;
                case FIELD_BOOL:
                        return parse_bool(value, p);
                default:
                        return parse_u64(value, UINT64_MAX, p);
                }
        }
        return 0;                       /* a newer daemon's key: ignore */
}

int worker_request_decode(char *buf, size_t n, WorkerRequest *ret) {
        WorkerRequest r = {};
        int k;

        if (n == 0 || memchr(buf, 0, n))
                return -EBADMSG;
        buf[n] = 0;                     /* the caller's buffer has room for it */
        k = for_each_assignment(buf, request_assign, &r);
        if (k >= 0 && (!r.kind || !r.udid))
                k = -EBADMSG;
        if (k < 0) {
                worker_request_done(&r);
                return k;
        }
        *ret = r;
        return 0;
}

void worker_request_done(WorkerRequest *r) {
        if (!r)
                return;
        free(r->decisions_owned);
        r->decisions_owned = NULL;
        r->decisions = NULL;
        r->n_decisions = 0;
}

/* ---- reports ----------------------------------------------------------------------------- */

static const char *const report_types[_WORKER_REPORT_TYPE_MAX] = {
        [WORKER_REPORT_PROGRESS] = "progress",
        [WORKER_REPORT_INFO] = "info",
        [WORKER_REPORT_RESULT] = "result",
};

typedef enum ReportFieldType {
        RF_PHASE,
        RF_U64,
        RF_PERCENT,
        RF_CODE,
        RF_INT,
        RF_BATTERY,
        RF_BOOL,
        RF_STRING,
} ReportFieldType;

#define IN(t) (1u << (t))

typedef struct ReportField {
        const char *key;
        ReportFieldType type;
        size_t offset, size;            /* size: strings only */
        unsigned types;                 /* the report types that carry it */
} ReportField;

#define STR(key, field, types)                                                               \
        { key, RF_STRING, offsetof(WorkerReport, field), sizeof(((WorkerReport *) 0)->field), \
          types }
#define NUM(key, type, field, types) { key, type, offsetof(WorkerReport, field), 0, types }
#define PROGRESS IN(WORKER_REPORT_PROGRESS)
#define INFO IN(WORKER_REPORT_INFO)
#define RESULT IN(WORKER_REPORT_RESULT)

static const ReportField report_fields[] = {
        NUM("PHASE", RF_PHASE, phase, PROGRESS),
        NUM("BYTES_DONE", RF_U64, bytes_done, PROGRESS),
        NUM("BYTES_TOTAL", RF_U64, bytes_total, PROGRESS),
        NUM("FILES_DONE", RF_U64, files_done, PROGRESS),
        NUM("FILES_TOTAL", RF_U64, files_total, PROGRESS),
        NUM("PERCENT", RF_PERCENT, percent, PROGRESS),
        STR("CATEGORY", category, PROGRESS),
        STR("NAME", name, INFO),
        STR("PRODUCT_TYPE", product_type, INFO),
        STR("PRODUCT_VERSION", product_version, INFO),
        NUM("BATTERY", RF_BATTERY, battery, INFO),
        NUM("CHARGING", RF_BOOL, charging, INFO),
        NUM("WILL_ENCRYPT", RF_BOOL, will_encrypt, INFO),
        NUM("CODE", RF_CODE, code, RESULT),
        NUM("DEVICE_ERROR", RF_INT, device_error, RESULT),
        STR("MESSAGE", message, RESULT),
        STR("SNAPSHOT", snapshot, RESULT),
        NUM("FULL", RF_BOOL, full, RESULT),
        NUM("ENCRYPTED", RF_BOOL, encrypted, RESULT),
        NUM("FILES", RF_U64, files, RESULT),
        NUM("BYTES", RF_U64, bytes, RESULT),
        NUM("NEW_BYTES", RF_U64, new_bytes, RESULT),
        NUM("DRY_RUN", RF_BOOL, dry_run, RESULT),
        NUM("HANDOVER", RF_BOOL, handover, RESULT),
};

/* ---- a sync's categories: SYNC=<name> <mode> <code> <counters…> <reason> ----------------- */

#define SYNC_COUNTERS 9

static uint64_t *sync_counter(ids_sync_category *c, unsigned i) {
        uint64_t *v[SYNC_COUNTERS] = { &c->files_in, &c->bytes_in, &c->files_out, &c->bytes_out,
                                       &c->held, &c->refused, &c->conflicts, &c->duplicates,
                                       &c->removed_device };
        return v[i];
}

static bool word_ok(const char *s, size_t max) {
        size_t n = strlen(s);

        return n > 0 && n < max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int format_sync(const WorkerReport *r, char *buf, size_t size) {
        size_t len = 0;

        for (size_t i = 0; i < r->n_sync && i < IDS_SYNC_CATEGORIES_MAX; i++) {
                ids_sync_category c = r->sync[i];
                int k;

                if (!word_ok(c.name, sizeof(c.name)) || !word_ok(c.mode, sizeof(c.mode)))
                        return -EINVAL;
                for (char *p = c.reason; *p; p++)
                        if ((unsigned char) *p < 0x20 || *p == 0x7f)
                                *p = ' ';
                k = snprintf(buf + len, size - len, "SYNC=%s %s %d", c.name, c.mode, c.result);
                for (unsigned j = 0; k >= 0 && (size_t) k < size - len && j < SYNC_COUNTERS; j++)
                        k += snprintf(buf + len + k, size - len - (size_t) k, " %" PRIu64,
                                      *sync_counter(&c, j));
                if (k >= 0 && (size_t) k < size - len)
                        k += snprintf(buf + len + k, size - len - (size_t) k, " %s\n", c.reason);
                if (k < 0 || (size_t) k >= size - len)
                        return -ENOBUFS;
                len += (size_t) k;
        }
        return (int) len;
}

static int parse_sync(WorkerReport *r, char *value) {
        ids_sync_category c = {};
        char *save = NULL, *tok;
        const char *rest;

        if (r->n_sync >= IDS_SYNC_CATEGORIES_MAX)
                return -EBADMSG;
        tok = strtok_r(value, " ", &save);
        if (!tok || !word_ok(tok, sizeof(c.name)))
                return -EBADMSG;
        strcpy(c.name, tok);
        tok = strtok_r(NULL, " ", &save);
        if (!tok || !word_ok(tok, sizeof(c.mode)))
                return -EBADMSG;
        strcpy(c.mode, tok);
        tok = strtok_r(NULL, " ", &save);
        if (!tok || parse_int(tok, -4095, _IDS_E_MAX - 1, &c.result) < 0)
                return -EBADMSG;
        for (unsigned j = 0; j < SYNC_COUNTERS; j++) {
                tok = strtok_r(NULL, " ", &save);
                if (!tok || parse_u64(tok, UINT64_MAX, sync_counter(&c, j)) < 0)
                        return -EBADMSG;
        }
        rest = save ? save : "";
        if (strlen(rest) >= sizeof(c.reason))
                return -EBADMSG;
        for (const char *p = rest; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return -EBADMSG;
        strcpy(c.reason, rest);
        r->sync[r->n_sync++] = c;
        return 0;
}

#undef PROGRESS
#undef INFO
#undef RESULT

void worker_report_init(WorkerReport *r, WorkerReportType type) {
        *r = (WorkerReport) { .type = type, .phase = -1, .battery = -1 };
}

static int phase_from_string(const char *s) {
        for (int p = 0; p < _IDS_PHASE_MAX; p++)
                if (strcmp(ids_phase_to_string((ids_phase) p), s) == 0)
                        return p;
        return -1;
}

int worker_report_format(const WorkerReport *r, char *buf, size_t size) {
        size_t len;
        int k;

        if ((unsigned) r->type >= _WORKER_REPORT_TYPE_MAX || !report_types[r->type])
                return -EINVAL;
        k = snprintf(buf, size, "TYPE=%s\n", report_types[r->type]);
        if (k < 0 || (size_t) k >= size)
                return -ENOBUFS;
        len = (size_t) k;
        for (size_t i = 0; i < sizeof(report_fields) / sizeof(report_fields[0]); i++) {
                const ReportField *f = &report_fields[i];
                const void *p = (const char *) r + f->offset;

                if (!(f->types & IN(r->type)))
                        continue;
                switch (f->type) {
                case RF_PHASE:
                        if (*(const int *) p < 0 || *(const int *) p >= _IDS_PHASE_MAX)
                                continue;
                        k = snprintf(buf + len, size - len, "%s=%s\n", f->key,
                                     ids_phase_to_string((ids_phase) * (const int *) p));
                        break;
                case RF_U64:
                        k = snprintf(buf + len, size - len, "%s=%" PRIu64 "\n", f->key,
                                     *(const uint64_t *) p);
                        break;
                case RF_PERCENT:
                        k = snprintf(buf + len, size - len, "%s=%u\n", f->key,
                                     *(const unsigned *) p > 100 ? 100 : *(const unsigned *) p);
                        break;
                case RF_CODE:
                case RF_INT:
                case RF_BATTERY:
                        k = snprintf(buf + len, size - len, "%s=%d\n", f->key, *(const int *) p);
                        break;
                case RF_BOOL:
                        k = snprintf(buf + len, size - len, "%s=%d\n", f->key, *(const bool *) p);
                        break;
                default: {
                        char s[256];
                        size_t j;

                        for (j = 0; j < sizeof(s) - 1 && j < f->size && ((const char *) p)[j]; j++)
                                s[j] = (unsigned char) ((const char *) p)[j] < 0x20 ||
                                                       ((const char *) p)[j] == 0x7f ?
                                               ' ' : ((const char *) p)[j];
                        s[j] = 0;
                        k = snprintf(buf + len, size - len, "%s=%s\n", f->key, s);
                        break;
                }
                }
                if (k < 0 || (size_t) k >= size - len)
                        return -ENOBUFS;
                len += (size_t) k;
        }
        if (r->type == WORKER_REPORT_RESULT) {
                k = format_sync(r, buf + len, size - len);
                if (k < 0)
                        return k;
                len += (size_t) k;
        }
        return (int) len;
}

static int report_assign(const char *key, char *value, void *ud) {
        WorkerReport *r = ud;
        uint64_t v;

        if (strcmp(key, "SYNC") == 0)
                return r->type == WORKER_REPORT_RESULT ? parse_sync(r, value) : 0;
        for (size_t i = 0; i < sizeof(report_fields) / sizeof(report_fields[0]); i++) {
                const ReportField *f = &report_fields[i];
                void *p = (char *) r + f->offset;

                if (strcmp(f->key, key) != 0)
                        continue;
                if (!(f->types & IN(r->type)))
                        return 0;       /* another type's key: not ours to take */
                switch (f->type) {
                case RF_PHASE:
                        *(int *) p = phase_from_string(value);
                        return *(int *) p < 0 ? -EBADMSG : 0;
                case RF_U64:
                        return parse_u64(value, UINT64_MAX, p);
                case RF_PERCENT:
                        if (parse_u64(value, 100, &v) < 0)
                                return -EBADMSG;
                        *(unsigned *) p = (unsigned) v;
                        return 0;
                case RF_CODE:
                        /* 0, a named outcome, or a negative errno: nothing else means anything. */
                        if (parse_int(value, -4095, _IDS_E_MAX - 1, p) < 0)
                                return -EBADMSG;
                        return 0;
                case RF_INT:
                        return parse_int(value, INT32_MIN + 1, INT32_MAX, p);
                case RF_BATTERY:
                        return parse_int(value, -1, 100, p);
                case RF_BOOL:
                        return parse_bool(value, p);
                default: {
                        size_t l = strlen(value);

                        if (l >= f->size)
                                return -EBADMSG;
                        for (size_t j = 0; j < l; j++)
                                if ((unsigned char) value[j] < 0x20 || value[j] == 0x7f)
                                        return -EBADMSG;
                        memcpy(p, value, l + 1);
                        return 0;
                }
                }
        }
        return 0;                       /* a newer helper's key: ignore */
}

int worker_report_parse(const char *buf, size_t n, WorkerReport *ret) {
        char copy[WORKER_MSG_MAX + 1];
        WorkerReport r;
        char *nl;
        int t, k;

        /* buf need not be NUL-terminated: compare the prefix by length. */
        if (n < 5 || n > WORKER_MSG_MAX || memchr(buf, 0, n) || memcmp(buf, "TYPE=", 5) != 0)
                return -EBADMSG;
        memcpy(copy, buf, n);
        copy[n] = 0;
        nl = strchr(copy, '\n');
        if (nl)
                *nl = 0;
        for (t = 1; t < _WORKER_REPORT_TYPE_MAX; t++)
                if (strcmp(copy + 5, report_types[t]) == 0)
                        break;
        if (t == _WORKER_REPORT_TYPE_MAX)
                return -EBADMSG;
        worker_report_init(&r, (WorkerReportType) t);
        if (nl) {
                k = for_each_assignment(nl + 1, report_assign, &r);
                if (k < 0)
                        return k;
        }
        *ret = r;
        return 0;
}
