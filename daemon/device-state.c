/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The device's state file (see device-state.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device-state.h"
#include "macro.h"

typedef enum StateFieldType { SF_STRING, SF_U64, SF_BOOL, SF_UNSIGNED } StateFieldType;

typedef struct StateField {
        const char *section, *key;
        const char *v0_key;                     /* the flat file's name, NULL if none */
        StateFieldType type;
        size_t offset, size;
} StateField;

#define S(sec, key, v0, field)                                                               \
        { sec, key, v0, SF_STRING, offsetof(DeviceStateFile, field),                         \
          sizeof(((DeviceStateFile *) 0)->field) }
#define N(sec, key, v0, type, field) { sec, key, v0, type, offsetof(DeviceStateFile, field), 0 }

static const StateField fields[] = {
        N("State", "Version", NULL, SF_UNSIGNED, version),
        S("Device", "Name", "name", name),
        S("Device", "ProductType", "product_type", product_type),
        S("Device", "ProductVersion", "product_version", product_version),
        N("Device", "Encrypted", "encrypted", SF_BOOL, encrypted),
        N("LastBackup", "Time", "last_backup", SF_U64, last_backup),
        S("LastBackup", "Result", "last_result", last_result),
        N("LastSync", "Time", NULL, SF_U64, last_sync),
        S("LastSync", "Result", NULL, last_sync_result),
        N("LastRestore", "Time", NULL, SF_U64, last_restore),
        S("LastRestore", "Report", NULL, last_restore_report),
        S("Job", "Running", "running", running),
        S("NewDevice", "Answer", NULL, new_device_answer),
};

static int parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EBADMSG;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

static void assign(DeviceStateFile *s, const StateField *f, const char *value) {
        void *p = (char *) s + f->offset;
        uint64_t v;

        switch (f->type) {
        case SF_STRING: {
                char *dst = p;
                size_t i;

                for (i = 0; value[i] && i + 1 < f->size; i++)
                        dst[i] = (unsigned char) value[i] < 0x20 ? ' ' : value[i];
                dst[i] = 0;
                break;
        }
        case SF_BOOL:
                *(bool *) p = strcmp(value, "1") == 0;
                break;
        case SF_U64:
                if (parse_u64(value, &v) == 0)
                        *(uint64_t *) p = v;
                break;
        default:
                if (parse_u64(value, &v) == 0 && v <= 1000000)
                        *(unsigned *) p = (unsigned) v;
                break;
        }
}

void device_state_file_done(DeviceStateFile *s) {
        if (!s)
                return;
        free(s->requests);
        free(s->decisions);
        s->requests = NULL;
        s->decisions = NULL;
        s->n_requests = s->n_decisions = 0;
}

static bool word_ok(const char *s, size_t max) {
        size_t n = strlen(s);

        return n > 0 && n < max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

bool device_state_request_is_valid(const DeviceStateRequest *r) {
        if (!r || r->id == 0)
                return false;
        if (strcmp(r->kind, "deletions") == 0)
                return r->category[0] == 0 || word_ok(r->category, sizeof(r->category));
        if (strcmp(r->kind, "restore-offer") == 0)
                return r->category[0] == 0;
        return strcmp(r->kind, "first-sync") == 0 && word_ok(r->category, sizeof(r->category));
}

bool device_state_decision_is_valid(const DeviceStateDecision *d) {
        if (!d || !word_ok(d->category, sizeof(d->category)))
                return false;
        if (strcmp(d->choice, "approve") == 0 || strcmp(d->choice, "reject") == 0)
                return d->item > 0;
        return d->item == 0 && (strcmp(d->choice, "merge") == 0 ||
                                strcmp(d->choice, "replace-device") == 0 ||
                                strcmp(d->choice, "replace-computer") == 0);
}

/* Copy the token [s, s + n) into dst (size bytes); false if it does not fit. */
static bool take(char *dst, size_t size, const char *s, size_t n) {
        if (n >= size)
                return false;
        memcpy(dst, s, n);
        dst[n] = 0;
        return true;
}

/* Request=<id> <kind> <created> <category or ->: appended when well formed. */
static int parse_request(DeviceStateFile *s, const char *v) {
        char id[16] = "", created[24] = "", cat[40] = "";
        DeviceStateRequest r = {};
        uint64_t n;
        const char *p = v;
        char *tok[4] = { id, r.kind, created, cat };
        size_t sizes[4] = { sizeof(id), sizeof(r.kind), sizeof(created), sizeof(cat) };

        for (int i = 0; i < 4; i++) {
                size_t k = strcspn(p, " ");

                if (k == 0 || !take(tok[i], sizes[i], p, k))
                        return 0;
                p += k;
                if (i < 3) {
                        if (*p != ' ')
                                return 0;
                        p++;
                }
        }
        if (*p || parse_u64(id, &n) < 0 || n > UINT32_MAX || parse_u64(created, &r.created) < 0)
                return 0;
        r.id = (uint32_t) n;
        if (strcmp(cat, "-") != 0 && !take(r.category, sizeof(r.category), cat, strlen(cat)))
                return 0;
        if (!device_state_request_is_valid(&r) || s->n_requests >= DEVICE_STATE_REQUESTS_MAX)
                return 0;
        for (size_t i = 0; i < s->n_requests; i++)
                if (s->requests[i].id == r.id)
                        return 0;
        {
                DeviceStateRequest *a = realloc(s->requests,
                                                (s->n_requests + 1) * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                a[s->n_requests++] = r;
                s->requests = a;
        }
        return 1;
}

/* Decision=<category>/<choice>/<item>: appended when well formed. */
static int parse_decision(DeviceStateFile *s, const char *v) {
        DeviceStateDecision d = {};
        const char *a = strchr(v, '/'), *b = a ? strchr(a + 1, '/') : NULL;
        DeviceStateDecision *grown;

        if (!b || !take(d.category, sizeof(d.category), v, (size_t) (a - v)) ||
            !take(d.choice, sizeof(d.choice), a + 1, (size_t) (b - a - 1)) ||
            parse_u64(b + 1, &d.item) < 0 || !device_state_decision_is_valid(&d) ||
            s->n_decisions >= DEVICE_STATE_DECISIONS_MAX)
                return 0;
        grown = realloc(s->decisions, (s->n_decisions + 1) * sizeof(*grown));
        if (!grown)
                return -ENOMEM;
        grown[s->n_decisions++] = d;
        s->decisions = grown;
        return 1;
}

int device_state_parse(const char *text, DeviceStateFile *ret) {
        _cleanup_free_ char *copy = strdup(text);
        DeviceStateFile s = {};
        char section[32] = "", *save = NULL;
        bool any = false;

        if (!copy)
                return -ENOMEM;
        for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *eq;

                if (l[0] == '#' || l[0] == ';')
                        continue;
                if (l[0] == '[') {
                        char *end = strchr(l, ']');

                        if (end && end - l - 1 < (ptrdiff_t) sizeof(section)) {
                                memcpy(section, l + 1, (size_t) (end - l - 1));
                                section[end - l - 1] = 0;
                        } else
                                section[0] = 0;
                        continue;
                }
                eq = strchr(l, '=');
                if (!eq)
                        continue;
                *eq = 0;
                if (strcmp(section, "Requests") == 0 && strcmp(l, "Next") == 0) {
                        uint64_t v;

                        if (parse_u64(eq + 1, &v) == 0 && v <= UINT32_MAX)
                                s.next_request = (uint32_t) v;
                        any = true;
                        continue;
                }
                if ((strcmp(section, "Requests") == 0 && strcmp(l, "Request") == 0) ||
                    (strcmp(section, "Decisions") == 0 && strcmp(l, "Decision") == 0)) {
                        int r = l[0] == 'R' ? parse_request(&s, eq + 1) :
                                              parse_decision(&s, eq + 1);

                        if (r < 0) {
                                device_state_file_done(&s);
                                return r;
                        }
                        any = true;
                        continue;
                }
                for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                        const StateField *f = &fields[i];
                        /* Version 0 had no sections and lower-case keys. */
                        bool v0 = !section[0] && f->v0_key && strcmp(l, f->v0_key) == 0;

                        if (v0 || (strcmp(section, f->section) == 0 && strcmp(l, f->key) == 0)) {
                                assign(&s, f, eq + 1);
                                any = true;
                                break;
                        }
                }
        }
        if (!any) {
                device_state_file_done(&s);
                return -EBADMSG;
        }
        *ret = s;
        return 0;
}

int device_state_format(const DeviceStateFile *s, char **ret) {
        char *buf = NULL;
        size_t size = 0;
        const char *section = "";
        FILE *f;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs("# idevicesync device state: written by idevicesyncd\n", f);
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                const StateField *fl = &fields[i];
                const void *p = (const char *) s + fl->offset;

                if (strcmp(section, fl->section) != 0) {
                        section = fl->section;
                        fprintf(f, "[%s]\n", section);
                }
                fprintf(f, "%s=", fl->key);
                switch (fl->type) {
                case SF_STRING:
                        for (const char *c = p; *c; c++)
                                fputc((unsigned char) *c < 0x20 ? ' ' : *c, f);
                        break;
                case SF_BOOL:
                        fputc(*(const bool *) p ? '1' : '0', f);
                        break;
                case SF_U64:
                        fprintf(f, "%" PRIu64, *(const uint64_t *) p);
                        break;
                default:
                        /* Writes are always the current version. */
                        fprintf(f, "%u", (unsigned) DEVICE_STATE_VERSION);
                        break;
                }
                fputc('\n', f);
        }
        fprintf(f, "[Requests]\nNext=%" PRIu32 "\n", s->next_request);
        for (size_t i = 0; i < s->n_requests; i++)
                if (device_state_request_is_valid(&s->requests[i]))
                        fprintf(f, "Request=%" PRIu32 " %s %" PRIu64 " %s\n", s->requests[i].id,
                                s->requests[i].kind, s->requests[i].created,
                                s->requests[i].category[0] ? s->requests[i].category : "-");
        fputs("[Decisions]\n", f);
        for (size_t i = 0; i < s->n_decisions; i++)
                if (device_state_decision_is_valid(&s->decisions[i]))
                        fprintf(f, "Decision=%s/%s/%" PRIu64 "\n", s->decisions[i].category,
                                s->decisions[i].choice, s->decisions[i].item);
        if (fclose(f) != 0) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        return 0;
}

int device_state_read(const char *path, DeviceStateFile *ret) {
        _cleanup_free_ char *buf = NULL;
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        buf = malloc(DEVICE_STATE_MAX + 1);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        n = read(fd, buf, DEVICE_STATE_MAX + 1);
        close(fd);
        if (n < 0)
                return -errno;
        if (n > DEVICE_STATE_MAX)
                return -EFBIG;
        buf[n] = 0;
        if (strlen(buf) != (size_t) n)
                return -EBADMSG;        /* a NUL inside: not ours */
        return device_state_parse(buf, ret);
}

int device_state_write(const char *path, const DeviceStateFile *s) {
        _cleanup_free_ char *text = NULL, *tmp = NULL, *dir = NULL;
        size_t len, off = 0;
        int fd, r;

        r = device_state_format(s, &text);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.tmp", path) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        len = strlen(text);
        while (off < len) {
                ssize_t k = write(fd, text + off, len - off);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        r = k < 0 ? -errno : -EIO;
                        break;
                }
                off += (size_t) k;
        }
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        close(fd);
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        dir = strdup(path);
        if (dir) {
                int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

                if (dfd >= 0) {
                        (void) fsync(dfd);
                        close(dfd);
                }
        }
        return 0;
}
