/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The PimItem bag (pim.h): building, the canonical text a hash and a stored base come from,
 * the merges of the two-way sync, and the identity match of a first or slow sync.
 *
 * Items are small (a contact has tens of fields), so fields live in one array and most
 * operations are linear scans of it; only normalize sorts. A normalized item holds each
 * (name, value) once, in byte order, so a multi field's values are one contiguous run and
 * two items compare field by field.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <unicase.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim.h"

static const char *const contact_multi[] = {
        "phone", "email", "url", "im", "date", "related", "address", NULL,
};
static const char *const event_multi[] = {
        "exdate", "attendee", "alarm", NULL,
};

bool pim_field_multi(PimKind kind, const char *name) {
        const char *const *t = kind == PIM_EVENT ? event_multi : contact_multi;

        for (; *t; t++)
                if (strcmp(*t, name) == 0)
                        return true;
        return false;
}

PimItem *pim_item_new(PimKind kind) {
        PimItem *it = calloc(1, sizeof(PimItem));

        if (it)
                it->kind = kind;
        return it;
}

PimItem *pim_item_free(PimItem *it) {
        if (!it)
                return NULL;
        for (size_t i = 0; i < it->n_fields; i++) {
                free(it->fields[i].name);
                free(it->fields[i].value);
        }
        free(it->fields);
        free(it->uid);
        free(it);
        return NULL;
}

/* Append without any check (the caller did them); the strings are taken. */
static int push(PimItem *it, char *name, char *value) {
        if (it->n_fields == it->allocated) {
                size_t n = it->allocated ? it->allocated * 2 : 16;
                PimField *f = reallocarray(it->fields, n, sizeof(PimField));

                if (!f)
                        return -ENOMEM;
                it->fields = f;
                it->allocated = n;
        }
        it->fields[it->n_fields++] = (PimField) { name, value };
        it->normalized = false;
        return 0;
}

PimItem *pim_item_copy(const PimItem *it) {
        _cleanup_(pim_item_freep) PimItem *c = pim_item_new(it->kind);

        if (!c || (it->uid && !(c->uid = strdup(it->uid))))
                return NULL;
        for (size_t i = 0; i < it->n_fields; i++) {
                char *n = strdup(it->fields[i].name), *v = strdup(it->fields[i].value);

                if (!n || !v || push(c, n, v) < 0) {
                        free(n);
                        free(v);
                        return NULL;
                }
        }
        c->normalized = it->normalized;
        return TAKE_PTR(c);
}

/* A copy of n bytes of s without trailing blanks; "" stays "". */
static char *trimmed(const char *s, size_t n) {
        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                n--;
        return strndup(s, n);
}

static int add_len(PimItem *it, const char *name, const char *value, size_t len) {
        _cleanup_free_ char *v = NULL, *n = NULL;

        if (isempty(name))
                return -EINVAL;
        if (len > PIM_MAX_VALUE)
                return -E2BIG;
        v = trimmed(value, len);
        if (!v)
                return -ENOMEM;
        if (!v[0])
                return 0;
        if (!pim_field_multi(it->kind, name))
                for (size_t i = 0; i < it->n_fields; i++)
                        if (strcmp(it->fields[i].name, name) == 0) {
                                free(it->fields[i].value);
                                it->fields[i].value = TAKE_PTR(v);
                                it->normalized = false;
                                return 0;
                        }
        if (it->n_fields >= PIM_MAX_FIELDS)
                return -E2BIG;
        n = strdup(name);
        if (!n)
                return -ENOMEM;
        if (push(it, n, v) < 0)
                return -ENOMEM;
        TAKE_PTR(n);
        TAKE_PTR(v);
        return 0;
}

int pim_add(PimItem *it, const char *name, const char *value) {
        if (isempty(value))
                return 0;
        return add_len(it, name, value, strlen(value));
}

int pim_add_multi(PimItem *it, const char *name, const char *const *components, size_t n) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, k = 0;
        bool any = false;

        for (size_t i = 0; i < n; i++) {
                const char *c = components[i] ? components[i] : "";
                size_t l = strlen(c);

                /* Trailing blanks of a component go, as for a scalar value. */
                while (l > 0 && strchr(" \t\r\n" PIM_SEP, c[l - 1]))
                        l--;
                if (l > PIM_MAX_VALUE || len > PIM_MAX_VALUE)
                        return -E2BIG;
                len += l + 1;
                any = any || (i > 0 && l > 0);
        }
        /* A value whose components past the label are all empty says nothing. */
        if (!any)
                return 0;
        buf = malloc(len + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *c = components[i] ? components[i] : "";
                size_t l = strlen(c);

                while (l > 0 && strchr(" \t\r\n" PIM_SEP, c[l - 1]))
                        l--;
                if (i > 0)
                        buf[k++] = PIM_SEP_CHAR;
                for (size_t j = 0; j < l; j++)
                        buf[k++] = c[j] == PIM_SEP_CHAR ? ' ' : c[j];
        }
        buf[k] = 0;
        /* No trimming of the joined value: an empty last component is part of the form. */
        if (it->n_fields >= PIM_MAX_FIELDS)
                return -E2BIG;
        {
                char *nm = strdup(name);

                if (!nm)
                        return -ENOMEM;
                if (push(it, nm, buf) < 0) {
                        free(nm);
                        return -ENOMEM;
                }
                TAKE_PTR(buf);
        }
        return 0;
}

const char *pim_get(const PimItem *it, const char *name) {
        for (size_t i = 0; i < it->n_fields; i++)
                if (strcmp(it->fields[i].name, name) == 0)
                        return it->fields[i].value;
        return NULL;
}

void pim_remove(PimItem *it, const char *name) {
        size_t k = 0;

        for (size_t i = 0; i < it->n_fields; i++) {
                if (strcmp(it->fields[i].name, name) == 0) {
                        free(it->fields[i].name);
                        free(it->fields[i].value);
                        continue;
                }
                it->fields[k++] = it->fields[i];
        }
        it->n_fields = k;
}

int pim_split(const char *value, char **ret_buf, const char **components, size_t max,
              size_t *ret_n) {
        char *buf = strdup(value), *p;
        size_t n = 0;

        if (!buf)
                return -ENOMEM;
        p = buf;
        while (n < max) {
                char *s = strchr(p, PIM_SEP_CHAR);

                components[n++] = p;
                if (!s)
                        break;
                *s = 0;
                p = s + 1;
        }
        *ret_buf = buf;
        *ret_n = n;
        return 0;
}

static int field_compare(const void *x, const void *y) {
        const PimField *a = x, *b = y;
        int c = strcmp(a->name, b->name);

        return c ? c : strcmp(a->value, b->value);
}

void pim_normalize(PimItem *it) {
        size_t k = 0;

        if (it->normalized)
                return;
        if (it->n_fields > 1)
                qsort_safe(it->fields, it->n_fields, sizeof(PimField), field_compare);
        for (size_t i = 0; i < it->n_fields; i++) {
                if (k > 0 && field_compare(&it->fields[k - 1], &it->fields[i]) == 0) {
                        free(it->fields[i].name);
                        free(it->fields[i].value);
                        continue;
                }
                it->fields[k++] = it->fields[i];
        }
        it->n_fields = k;
        it->normalized = true;
}

static void put_escaped(FILE *f, const char *s) {
        for (; *s; s++)
                if (*s == '\\')
                        fputs("\\\\", f);
                else if (*s == '\n')
                        fputs("\\n", f);
                else
                        fputc(*s, f);
}

int pim_canonical(PimItem *it, char **ret) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f;

        pim_normalize(it);
        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < it->n_fields; i++) {
                put_escaped(f, it->fields[i].name);
                fputc('=', f);
                put_escaped(f, it->fields[i].value);
                fputc('\n', f);
        }
        if (fclose(f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

/* Undo put_escaped() in place over s[0..n); the result is NUL-terminated. -EINVAL for a
 * lone or unknown escape. */
static int unescape(char *s, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] != '\\') {
                        s[k++] = s[i];
                        continue;
                }
                if (++i >= n)
                        return -EINVAL;
                if (s[i] == '\\')
                        s[k++] = '\\';
                else if (s[i] == 'n')
                        s[k++] = '\n';
                else
                        return -EINVAL;
        }
        s[k] = 0;
        return 0;
}

int pim_from_canonical(PimKind kind, const char *text, PimItem **ret) {
        _cleanup_(pim_item_freep) PimItem *it = pim_item_new(kind);
        const char *p = text;

        if (!it)
                return -ENOMEM;
        while (*p) {
                const char *nl = strchr(p, '\n'), *eq;
                _cleanup_free_ char *name = NULL, *value = NULL;

                if (!nl)
                        return -EINVAL;
                eq = memchr(p, '=', (size_t) (nl - p));
                if (!eq || eq == p)
                        return -EINVAL;
                name = strndup(p, (size_t) (eq - p));
                value = strndup(eq + 1, (size_t) (nl - eq - 1));
                if (!name || !value)
                        return -ENOMEM;
                if (unescape(name, strlen(name)) < 0 || unescape(value, strlen(value)) < 0)
                        return -EINVAL;
                if (it->n_fields >= PIM_MAX_FIELDS)
                        return -E2BIG;
                if (push(it, name, value) < 0)
                        return -ENOMEM;
                TAKE_PTR(name);
                TAKE_PTR(value);
                p = nl + 1;
        }
        pim_normalize(it);
        *ret = TAKE_PTR(it);
        return 0;
}

int pim_hash(PimItem *it, char ret[PIM_HASH_HEX]) {
        _cleanup_free_ char *text = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned n = 0;
        int r;

        r = pim_canonical(it, &text);
        if (r < 0)
                return r;
        if (EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL) != 1 || n != 32)
                return -EIO;
        for (unsigned i = 0; i < n; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

/* The component k of a multi value, copied into buf (truncated to size). */
static const char *component(const char *value, size_t k, char *buf, size_t size) {
        const char *p = value, *e;

        for (; k > 0; k--) {
                p = strchr(p, PIM_SEP_CHAR);
                if (!p)
                        return "";
                p++;
        }
        e = strchr(p, PIM_SEP_CHAR);
        snprintf(buf, size, "%.*s", (int) (e ? (size_t) (e - p) : strlen(p)), p);
        return buf;
}

/* Cut a string that snprintf() may have cut inside a UTF-8 sequence back to the last whole
 * character. */
static const char *utf8_whole(char *buf) {
        size_t n = strlen(buf), i = n;

        while (i > 0 && ((unsigned char) buf[i - 1] & 0xC0) == 0x80)
                i--;
        if (i > 0 && (unsigned char) buf[i - 1] >= 0xC0) {
                unsigned char b = (unsigned char) buf[i - 1];
                size_t want = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;

                if (n - (i - 1) < want)
                        buf[i - 1] = 0;
        }
        return buf;
}

const char *pim_display_name(const PimItem *it, char *buf, size_t size) {
        const char *first, *last, *v;

        if (it->kind == PIM_EVENT) {
                v = pim_get(it, "summary");
                return v ? v : "";
        }
        first = pim_get(it, "first name");
        last = pim_get(it, "last name");
        if (!streq_ptr(pim_get(it, "kind"), "company") && (first || last)) {
                snprintf(buf, size, "%s%s%s", first ? first : "", first && last ? " " : "",
                         last ? last : "");
                return utf8_whole(buf);
        }
        v = pim_get(it, "organization");
        if (v)
                return v;
        if (first || last) {
                snprintf(buf, size, "%s%s%s", first ? first : "", first && last ? " " : "",
                         last ? last : "");
                return utf8_whole(buf);
        }
        if ((v = pim_get(it, "email")) || (v = pim_get(it, "phone")))
                return utf8_whole((char *) component(v, 1, buf, size));
        return "";
}

/* ---- base64 ------------------------------------------------------------------------------ */

char *pim_base64_encode(const void *data, size_t n) {
        char *out;

        if (n > (SIZE_MAX / 4) * 3 - 3)
                return NULL;
        out = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return NULL;
        /* EVP_EncodeBlock takes an int count: feed it in chunks that end on 3 bytes. */
        for (size_t i = 0, o = 0;; ) {
                size_t k = n - i > 3u << 20 ? 3u << 20 : n - i;

                o += (size_t) EVP_EncodeBlock((unsigned char *) out + o,
                                              (const unsigned char *) data + i, (int) k);
                i += k;
                if (i >= n) {
                        out[o] = 0;
                        break;
                }
        }
        return out;
}

void *pim_base64_decode(const char *text, size_t *ret_n) {
        size_t len = strlen(text), k = 0, pad = 0;
        _cleanup_free_ char *clean = malloc(len + 4);
        unsigned char *out;
        int n;

        if (!clean)
                return NULL;
        for (size_t i = 0; i < len; i++) {
                char c = text[i];

                if (strchr(" \t\r\n", c))
                        continue;
                if (c == '=') {
                        pad++;
                        continue;
                }
                if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '+' || c == '/'))
                        return NULL;
                clean[k++] = c;
        }
        if (k % 4 == 1 || k > INT_MAX)
                return NULL;
        pad = (4 - k % 4) % 4;
        for (size_t i = 0; i < pad; i++)
                clean[k++] = '=';
        clean[k] = 0;
        out = malloc(k / 4 * 3 + 1);
        if (!out)
                return NULL;
        n = EVP_DecodeBlock(out, (const unsigned char *) clean, (int) k);
        if (n < 0) {
                free(out);
                return NULL;
        }
        *ret_n = (size_t) n - pad;
        return out;
}

/* ---- merges ------------------------------------------------------------------------------ */

/* The run of fields named name in a normalized item: [*from, *to). */
static void name_range(const PimItem *it, const char *name, size_t *from, size_t *to) {
        size_t i = 0;

        while (i < it->n_fields && strcmp(it->fields[i].name, name) < 0)
                i++;
        *from = i;
        while (i < it->n_fields && strcmp(it->fields[i].name, name) == 0)
                i++;
        *to = i;
}

static bool range_has(const PimItem *it, size_t from, size_t to, const char *value) {
        for (size_t i = from; i < to; i++)
                if (strcmp(it->fields[i].value, value) == 0)
                        return true;
        return false;
}

/* The next field name after prev (NULL: the first) over up to three normalized items, or
 * NULL at the end. */
static const char *next_name(PimItem *const *items, size_t n, const char *prev) {
        const char *best = NULL;

        for (size_t k = 0; k < n; k++) {
                if (!items[k])
                        continue;
                for (size_t i = 0; i < items[k]->n_fields; i++) {
                        const char *nm = items[k]->fields[i].name;

                        if (prev && strcmp(nm, prev) <= 0)
                                continue;
                        if (!best || strcmp(nm, best) < 0)
                                best = nm;
                        break;
                }
        }
        return best;
}

int pim_merge(PimItem *base, PimItem *a, PimItem *b, PimItem **ret, bool *ret_conflict) {
        _cleanup_(pim_item_freep) PimItem *m = pim_item_new(a->kind);
        PimItem *items[3] = {base, a, b};
        bool conflict = false;
        const char *name = NULL;
        int r;

        if (!m)
                return -ENOMEM;
        if (base)
                pim_normalize(base);
        pim_normalize(a);
        pim_normalize(b);
        if (a->uid && !(m->uid = strdup(a->uid)))
                return -ENOMEM;
        if (!m->uid && b->uid && !(m->uid = strdup(b->uid)))
                return -ENOMEM;

        /* name points into one of the items, which do not change while we walk. */
        while ((name = next_name(items, 3, name))) {
                size_t bf = 0, bt = 0, af, at, cf, ct;

                if (base)
                        name_range(base, name, &bf, &bt);
                name_range(a, name, &af, &at);
                name_range(b, name, &cf, &ct);

                if (pim_field_multi(a->kind, name)) {
                        /* Kept: base values neither side removed; added: what a side has
                         * that base had not. Without a base every value of a side is
                         * "added", which is the union. */
                        for (size_t i = bf; i < bt; i++) {
                                const char *v = base->fields[i].value;

                                if (range_has(a, af, at, v) && range_has(b, cf, ct, v) &&
                                    (r = pim_add(m, name, v)) < 0)
                                        return r;
                        }
                        for (size_t i = af; i < at; i++) {
                                const char *v = a->fields[i].value;

                                if ((!base || !range_has(base, bf, bt, v)) &&
                                    (r = add_len(m, name, v, strlen(v))) < 0)
                                        return r;
                        }
                        for (size_t i = cf; i < ct; i++) {
                                const char *v = b->fields[i].value;

                                if ((!base || !range_has(base, bf, bt, v)) &&
                                    (r = add_len(m, name, v, strlen(v))) < 0)
                                        return r;
                        }
                        continue;
                }

                {
                        const char *vb = base && bf < bt ? base->fields[bf].value : NULL;
                        const char *va = af < at ? a->fields[af].value : NULL;
                        const char *vc = cf < ct ? b->fields[cf].value : NULL;
                        const char *pick;

                        if (streq_ptr(va, vc))
                                pick = va;
                        else if (base && streq_ptr(va, vb))
                                pick = vc;                      /* only b changed it */
                        else if (base && streq_ptr(vc, vb))
                                pick = va;                      /* only a changed it */
                        else if (!base && !va)
                                pick = vc;
                        else if (!base && !vc)
                                pick = va;
                        else {
                                conflict = true;
                                pick = va;
                        }
                        if (pick && (r = pim_add(m, name, pick)) < 0)
                                return r;
                }
        }
        pim_normalize(m);
        *ret = TAKE_PTR(m);
        if (ret_conflict)
                *ret_conflict = conflict;
        return 0;
}

/* ---- identity ---------------------------------------------------------------------------- */

/* Case-folded (Unicode), blanks collapsed: the key two spellings of a name share. */
static char *fold_name(const char *s) {
        size_t len = 0;
        uint8_t *f;
        char *out;
        size_t k = 0;
        bool blank = true;

        f = u8_casefold((const uint8_t *) s, strlen(s), NULL, UNINORM_NFC, NULL, &len);
        if (!f)
                return NULL;
        out = malloc(len + 1);
        if (!out) {
                free(f);
                return NULL;
        }
        for (size_t i = 0; i < len; i++) {
                if (strchr(" \t\r\n", (char) f[i])) {
                        if (!blank)
                                out[k++] = ' ';
                        blank = true;
                        continue;
                }
                out[k++] = (char) f[i];
                blank = false;
        }
        while (k > 0 && out[k - 1] == ' ')
                k--;
        out[k] = 0;
        free(f);
        return out;
}

/* The last 9 digits of a phone value's number (fewer when it has fewer). */
static void phone_key(const char *value, char ret[16]) {
        char buf[256], digits[256];
        size_t n = 0;

        component(value, 1, buf, sizeof(buf));
        for (const char *p = buf; *p; p++)
                if (*p >= '0' && *p <= '9')
                        digits[n++] = *p;
        digits[n] = 0;
        snprintf(ret, 16, "%s", n > 9 ? digits + n - 9 : digits);
}

static void email_key(const char *value, char ret[256]) {
        component(value, 1, ret, 256);
        for (char *p = ret; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
}

static bool share_value(const PimItem *a, const PimItem *b, bool phone) {
        for (size_t i = 0; i < a->n_fields; i++) {
                if (strcmp(a->fields[i].name, phone ? "phone" : "email") != 0)
                        continue;
                for (size_t j = 0; j < b->n_fields; j++) {
                        char ka[256], kb[256];

                        if (strcmp(b->fields[j].name, a->fields[i].name) != 0)
                                continue;
                        if (phone) {
                                phone_key(a->fields[i].value, ka);
                                phone_key(b->fields[j].value, kb);
                        } else {
                                email_key(a->fields[i].value, ka);
                                email_key(b->fields[j].value, kb);
                        }
                        if (ka[0] && strcmp(ka, kb) == 0)
                                return true;
                }
        }
        return false;
}

char *pim_identity_key(const PimItem *it) {
        char buf[512];

        return fold_name(pim_display_name(it, buf, sizeof(buf)));
}

bool pim_same_identity(const PimItem *a, const PimItem *b) {
        char ba[512], bb[512];
        _cleanup_free_ char *na = NULL, *nb = NULL;
        bool contact_a, contact_b;

        if (a->kind != b->kind)
                return false;
        na = fold_name(pim_display_name(a, ba, sizeof(ba)));
        nb = fold_name(pim_display_name(b, bb, sizeof(bb)));
        if (!na || !nb || !na[0] || strcmp(na, nb) != 0)
                return false;
        if (a->kind == PIM_EVENT) {
                if (a->uid && b->uid && strcmp(a->uid, b->uid) == 0)
                        return true;
                return streq_ptr(pim_get(a, "start"), pim_get(b, "start"));
        }
        contact_a = pim_get(a, "phone") || pim_get(a, "email");
        contact_b = pim_get(b, "phone") || pim_get(b, "email");
        if (!contact_a && !contact_b)
                return true;
        return share_value(a, b, true) || share_value(a, b, false);
}
