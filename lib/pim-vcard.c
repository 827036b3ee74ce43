/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vCard ↔ contact (pim.h): the computer's side of the two-way contacts sync.
 *
 * Reading takes what the programs people use write: vCard 4.0 (RFC 6350) and 3.0 (RFC 2426;
 * Apple Contacts, Google, Evolution, Thunderbird, vdirsyncer), folded lines (CRLF or LF,
 * a space or a tab), property groups with Apple's X-ABLabel ("item1.TEL:…" +
 * "item1.X-ABLabel:_$!<Other>!$_" or a label of the person's own), TYPE parameters in both
 * spellings (TYPE=a,b and 3.0's bare "TEL;CELL"), escapes, quoted-printable (2.1/3.0
 * exports), PHOTO as a 4.0 data: URI or 3.0 ENCODING=b. A label is the group's X-ABLabel
 * when there is one, else the TYPE words mapped back to iOS's (cell → mobile, voice → main,
 * fax + home → home fax …); FN is derived, so it is not read; what the contract has no
 * field for (CATEGORIES, REV, PRODID, GEO …) is dropped.
 *
 * Writing gives vCard 4.0 in the conventions of the backup export: CRLF, folded at 75
 * octets on character boundaries, TEXT escaped; a label with an exact RFC 6350 TYPE gets it
 * (mobile → cell, main → voice, home fax → fax,home …), every other label goes in an item
 * group with X-ABLabel, as Apple's own export does; the first anniversary is ANNIVERSARY,
 * other dates X-ABDATE; year-less dates --MMDD; IMs are IMPP with X-SERVICE-TYPE; related
 * names X-ABRELATEDNAMES; a street address's country code X-ABADR in its group.
 * parse(write(x)) gives x back, field for field.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idevicesync.h"
#include "macro.h"
#include "pim.h"

#define MAX_LINES 20000u                /* content lines of one card */

/* ---- reading ----------------------------------------------------------------------------- */

typedef struct Param {
        char *name;                     /* upper-case */
        char *value;                    /* as written, quotes removed */
} Param;

typedef struct Line {
        char *group;                    /* lower-case, "" when none */
        char *name;                     /* upper-case */
        Param *params;
        size_t n_params;
        char *value;                    /* raw: escapes still in */
} Line;

static void line_done(Line *l) {
        free(l->group);
        free(l->name);
        for (size_t i = 0; i < l->n_params; i++) {
                free(l->params[i].name);
                free(l->params[i].value);
        }
        free(l->params);
        free(l->value);
}

static void upcase(char *s) {
        for (; *s; s++)
                if (*s >= 'a' && *s <= 'z')
                        *s = (char) (*s - 'a' + 'A');
}

static void downcase(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

/* Split one unfolded content line. -EINVAL when it is not one (no ':'). */
static int parse_line(const char *s, size_t n, Line *ret) {
        const char *end = s + n, *p = s, *name_end;
        Line l = {};

        /* name (with an optional group) up to ';' or ':' */
        for (name_end = p; name_end < end && *name_end != ';' && *name_end != ':'; name_end++)
                ;
        if (name_end == end || name_end == p)
                return -EINVAL;
        {
                const char *dot = memchr(p, '.', (size_t) (name_end - p));

                l.group = dot ? strndup(p, (size_t) (dot - p)) : strdup("");
                l.name = dot ? strndup(dot + 1, (size_t) (name_end - dot - 1))
                             : strndup(p, (size_t) (name_end - p));
        }
        if (!l.group || !l.name) {
                line_done(&l);
                return -ENOMEM;
        }
        downcase(l.group);
        upcase(l.name);
        p = name_end;
        while (p < end && *p == ';') {
                const char *q = ++p;
                bool quoted = false;
                const char *eq = NULL;
                Param *np;
                char *pn, *pv;

                for (; q < end; q++) {
                        if (*q == '"')
                                quoted = !quoted;
                        else if (!quoted && (*q == ';' || *q == ':'))
                                break;
                        else if (!quoted && *q == '=' && !eq)
                                eq = q;
                }
                if (q == end)
                        break;
                if (eq) {
                        const char *vs = eq + 1, *ve = q;

                        pn = strndup(p, (size_t) (eq - p));
                        if (ve > vs && *vs == '"' && ve[-1] == '"' && ve - vs >= 2) {
                                vs++;
                                ve--;
                        }
                        pv = strndup(vs, (size_t) (ve - vs));
                } else {
                        /* 3.0's bare parameter: "TEL;CELL" is TYPE=CELL */
                        pn = strdup("TYPE");
                        pv = strndup(p, (size_t) (q - p));
                }
                np = reallocarray(l.params, l.n_params + 1, sizeof(Param));
                if (!pn || !pv || !np) {
                        free(pn);
                        free(pv);
                        if (np)
                                l.params = np;
                        line_done(&l);
                        return -ENOMEM;
                }
                l.params = np;
                upcase(pn);
                /* A parameter value cannot hold a double quote nor a control character
                 * (RFC 6350 §3.3): drop any. */
                {
                        char *o = pv;

                        for (char *q2 = pv; *q2; q2++)
                                if (*q2 != '"' && (unsigned char) *q2 >= 0x20 && *q2 != 0x7f)
                                        *o++ = *q2;
                        *o = 0;
                }
                l.params[l.n_params++] = (Param) { pn, pv };
                p = q;
        }
        if (p >= end || *p != ':') {
                line_done(&l);
                return -EINVAL;
        }
        l.value = strndup(p + 1, (size_t) (end - p - 1));
        if (!l.value) {
                line_done(&l);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

static const char *param(const Line *l, const char *name) {
        for (size_t i = 0; i < l->n_params; i++)
                if (strcmp(l->params[i].name, name) == 0)
                        return l->params[i].value;
        return NULL;
}

/* Whether any TYPE value of l (comma lists, several TYPE parameters) is word. */
static bool has_type(const Line *l, const char *word) {
        size_t n = strlen(word);

        for (size_t i = 0; i < l->n_params; i++) {
                const char *v = l->params[i].value;

                if (strcmp(l->params[i].name, "TYPE") != 0)
                        continue;
                for (const char *p = v; *p;) {
                        const char *c = strchr(p, ',');
                        size_t k = c ? (size_t) (c - p) : strlen(p);

                        if (k == n && strncasecmp(p, word, n) == 0)
                                return true;
                        p += k + (c ? 1 : 0);
                }
        }
        return false;
}

/* Decode quoted-printable in place. */
static void qp_decode(char *s) {
        char *o = s;

        for (char *p = s; *p; p++) {
                if (*p == '=' && p[1] && p[2] &&
                    strchr("0123456789ABCDEFabcdef", p[1]) && strchr("0123456789ABCDEFabcdef", p[2])) {
                        char hex[3] = { p[1], p[2], 0 };

                        *o++ = (char) strtol(hex, NULL, 16);
                        p += 2;
                } else
                        *o++ = *p;
        }
        *o = 0;
}

/* Unescape one TEXT component in place (\\n \\N \\, \\; \\\\; an unknown escape keeps its
 * character). */
static void unescape_text(char *s) {
        char *o = s;

        for (char *p = s; *p; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        if (*p != '\r')
                                *o++ = (*p == 'n' || *p == 'N') ? '\n' : *p;
                } else if (*p != '\r')         /* a stray CR is line-end noise */
                        *o++ = *p;
        }
        *o = 0;
}

/* Split a structured value at unescaped ';' into at most max components (each unescaped,
 * pointers into buf); missing ones are "". */
static size_t split_structured(char *buf, char **comp, size_t max) {
        size_t n = 0;
        char *start = buf;

        for (char *p = buf;; p++) {
                if (*p == '\\' && p[1]) {
                        p++;
                        continue;
                }
                if (*p == ';' || *p == 0) {
                        bool last = *p == 0;

                        *p = 0;
                        if (n < max)
                                comp[n++] = start;
                        start = p + 1;
                        if (last)
                                break;
                }
        }
        for (size_t i = 0; i < n; i++)
                unescape_text(comp[i]);
        for (size_t i = n; i < max; i++)
                comp[i] = (char *) "";
        return n;
}

/* Apple's decorated built-in labels: "_$!<HomePage>!$_" → "homepage" (unescaped first, so
 * an escape inside the decoration reads the same as without). */
static char *clean_label(const char *raw) {
        char *s = strdup(raw);
        size_t n;

        if (!s)
                return NULL;
        unescape_text(s);
        n = strlen(s);
        while (n > 0 && strchr(" \t\n" PIM_SEP, s[n - 1]))
                s[--n] = 0;             /* as pim_add_multi() would trim it */
        if (n > 8 && strncmp(s, "_$!<", 4) == 0 && strcmp(s + n - 4, ">!$_") == 0) {
                memmove(s, s + 4, n - 8);
                s[n - 8] = 0;
                downcase(s);
        }
        return s;
}

/* The iOS label a line's TYPE words stand for. */
static const char *label_of_types(const Line *l, bool phone) {
        if (phone) {
                if (has_type(l, "iphone"))
                        return "iphone";
                if (has_type(l, "cell"))
                        return "mobile";
                if (has_type(l, "fax"))
                        return has_type(l, "home") ? "home fax" :
                               has_type(l, "work") ? "work fax" : "other fax";
                if (has_type(l, "pager"))
                        return "pager";
                if (has_type(l, "main"))
                        return "main";
        }
        if (has_type(l, "home"))
                return "home";
        if (has_type(l, "work"))
                return "work";
        if (has_type(l, "other"))
                return "other";
        if (phone && has_type(l, "voice"))
                return "main";
        return "";
}

/* A vCard date (YYYYMMDD, YYYY-MM-DD, --MMDD, --MM-DD, with a time part or not) as
 * "YYYY-MM-DD" / "--MM-DD"; false when it is none of these. */
static bool parse_date(const char *v, char buf[16]) {
        char digits[9];
        size_t n = 0;
        bool noyear = strncmp(v, "--", 2) == 0;
        const char *p = noyear ? v + 2 : v;

        for (; *p && *p != 'T' && n < 8; p++) {
                if (*p >= '0' && *p <= '9')
                        digits[n++] = *p;
                else if (*p != '-')
                        return false;
        }
        digits[n] = 0;
        if (noyear && n == 4) {
                snprintf(buf, 16, "--%.2s-%.2s", digits, digits + 2);
                return true;
        }
        if (!noyear && n == 8) {
                snprintf(buf, 16, "%.4s-%.2s-%.2s", digits, digits + 4, digits + 6);
                return true;
        }
        return false;
}

static const struct {
        const char *scheme, *service;
} im_schemes[] = {
        { "xmpp", "Jabber" }, { "aim", "AIM" },  { "icq", "ICQ" },       { "msnim", "MSN" },
        { "ymsgr", "Yahoo" }, { "skype", "Skype" }, { "gtalk", "GoogleTalk" }, { "qq", "QQ" },
        { "facebook", "Facebook" },
};

static const struct {
        const char *property, *service;
} im_properties[] = {
        { "X-JABBER", "Jabber" }, { "X-AIM", "AIM" },   { "X-ICQ", "ICQ" },
        { "X-MSN", "MSN" },       { "X-YAHOO", "Yahoo" }, { "X-SKYPE", "Skype" },
        { "X-SKYPE-USERNAME", "Skype" }, { "X-GTALK", "GoogleTalk" }, { "X-GOOGLE-TALK", "GoogleTalk" },
        { "X-QQ", "QQ" },
};

typedef struct Card {
        Line *lines;
        size_t n;
        bool anniversary_seen;
} Card;

static const char *group_label(const Card *c, const Line *l) {
        if (!l->group[0])
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->lines[i].name, "X-ABLABEL") == 0 &&
                    strcmp(c->lines[i].group, l->group) == 0)
                        return c->lines[i].value;
        return NULL;
}

static const char *group_value(const Card *c, const Line *l, const char *name) {
        if (!l->group[0])
                return NULL;
        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->lines[i].name, name) == 0 && strcmp(c->lines[i].group, l->group) == 0)
                        return c->lines[i].value;
        return NULL;
}

static int add_multi(PimItem *it, const Card *c, const Line *l, const char *field, bool phone,
                     const char *const *rest, size_t n_rest) {
        const char *raw = group_label(c, l);
        _cleanup_free_ char *label = raw ? clean_label(raw) : strdup(label_of_types(l, phone));
        const char *comp[8];

        if (!label)
                return -ENOMEM;
        comp[0] = label;
        for (size_t i = 0; i < n_rest && i < 7; i++)
                comp[i + 1] = rest[i];
        return pim_add_multi(it, field, comp, n_rest + 1);
}

static int add_photo(PimItem *it, const Line *l, char *value) {
        const char *enc = param(l, "ENCODING");
        const char *b64 = NULL;
        _cleanup_free_ void *data = NULL;
        _cleanup_free_ char *again = NULL;
        size_t n = 0;

        if (strncasecmp(value, "data:", 5) == 0) {
                const char *comma = strchr(value, ',');

                if (comma && comma - value >= 7 && strncasecmp(comma - 7, ";base64", 7) == 0)
                        b64 = comma + 1;
        } else if (enc && (strcasecmp(enc, "b") == 0 || strcasecmp(enc, "base64") == 0))
                b64 = value;
        if (!b64)
                return 0;               /* a photo by URL: not ours to fetch */
        data = pim_base64_decode(b64, &n);
        if (!data || n == 0)
                return 0;
        again = pim_base64_encode(data, n);
        if (!again)
                return -ENOMEM;
        return pim_add(it, "photo", again);
}

static bool valid_utf8(const char *s, size_t n);

static int add_line(PimItem *it, Card *c, Line *l) {
        const char *name = l->name;
        _cleanup_free_ char *v = strdup(l->value);
        const char *enc = param(l, "ENCODING");
        char *comp[7], date[16];
        int r = 0;

        if (!v)
                return -ENOMEM;
        if (enc && strcasecmp(enc, "QUOTED-PRINTABLE") == 0) {
                qp_decode(v);
                if (!valid_utf8(v, strlen(v)))
                        return 0;               /* not text we can keep: dropped */
        }

        if (strcmp(name, "N") == 0) {
                split_structured(v, comp, 5);
                if ((r = pim_add(it, "last name", comp[0])) < 0 ||
                    (r = pim_add(it, "first name", comp[1])) < 0 ||
                    (r = pim_add(it, "middle name", comp[2])) < 0 ||
                    (r = pim_add(it, "prefix", comp[3])) < 0)
                        return r;
                return pim_add(it, "suffix", comp[4]);
        }
        if (strcmp(name, "ORG") == 0) {
                split_structured(v, comp, 2);
                if ((r = pim_add(it, "organization", comp[0])) < 0)
                        return r;
                return pim_add(it, "department", comp[1]);
        }
        if (strcmp(name, "ADR") == 0) {
                const char *rest[6];
                _cleanup_free_ char *cc = NULL;
                const char *x = group_value(c, l, "X-ABADR");

                split_structured(v, comp, 7);
                if (x && !(cc = strdup(x)))
                        return -ENOMEM;
                if (cc)
                        unescape_text(cc);
                rest[0] = comp[2];
                rest[1] = comp[3];
                rest[2] = comp[4];
                rest[3] = comp[5];
                rest[4] = comp[6];
                rest[5] = cc ? cc : "";
                /* An extended address is kept with the street, a post office box too. */
                if (comp[1][0] || comp[0][0]) {
                        _cleanup_free_ char *street = NULL;

                        if (asprintf(&street, "%s%s%s%s%s", comp[0], comp[0][0] ? "\n" : "",
                                     comp[1], comp[1][0] && comp[2][0] ? "\n" : "", comp[2]) < 0)
                                return -ENOMEM;
                        rest[0] = street;
                        return add_multi(it, c, l, "address", false, rest, 6);
                }
                return add_multi(it, c, l, "address", false, rest, 6);
        }
        if (strcmp(name, "PHOTO") == 0)
                return add_photo(it, l, v);
        if (strcmp(name, "UID") == 0) {
                unescape_text(v);
                if (v[0] && !it->uid && !(it->uid = strdup(v)))
                        return -ENOMEM;
                return 0;
        }
        if (strcmp(name, "BDAY") == 0)
                return parse_date(v, date) ? pim_add(it, "birthday", date) : 0;
        if (strcmp(name, "ANNIVERSARY") == 0 || strcmp(name, "X-ABDATE") == 0 ||
            strcmp(name, "X-ANNIVERSARY") == 0 || strcmp(name, "X-EVOLUTION-ANNIVERSARY") == 0) {
                const char *rest[1] = { date };

                if (!parse_date(v, date))
                        return 0;
                if (strcmp(name, "X-ABDATE") != 0 && !group_label(c, l)) {
                        const char *comp2[2] = { "anniversary", date };

                        return pim_add_multi(it, "date", comp2, 2);
                }
                return add_multi(it, c, l, "date", false, rest, 1);
        }

        unescape_text(v);
        if (strcmp(name, "NICKNAME") == 0)
                return pim_add(it, "nickname", v);
        if (strcmp(name, "TITLE") == 0)
                return pim_add(it, "job title", v);
        if (strcmp(name, "NOTE") == 0)
                return pim_add(it, "notes", v);
        if (strcmp(name, "X-PHONETIC-FIRST-NAME") == 0)
                return pim_add(it, "first name phonetic", v);
        if (strcmp(name, "X-PHONETIC-LAST-NAME") == 0)
                return pim_add(it, "last name phonetic", v);
        if ((strcmp(name, "KIND") == 0 && strcasecmp(v, "org") == 0) ||
            (strcmp(name, "X-ABSHOWAS") == 0 && strcasecmp(v, "company") == 0))
                return pim_add(it, "kind", "company");
        if (strcmp(name, "TEL") == 0) {
                /* 4.0's TEL;VALUE=uri:tel:+1-555… — the number without the scheme */
                bool uri = streq_ptr(param(l, "VALUE"), "uri") && strncasecmp(v, "tel:", 4) == 0;
                const char *rest[1] = { uri ? v + 4 : v };

                return add_multi(it, c, l, "phone", true, rest, 1);
        }
        if (strcmp(name, "EMAIL") == 0) {
                const char *rest[1] = { v };

                return add_multi(it, c, l, "email", false, rest, 1);
        }
        if (strcmp(name, "URL") == 0) {
                const char *rest[1] = { v };

                return add_multi(it, c, l, "url", false, rest, 1);
        }
        if (strcmp(name, "X-ABRELATEDNAMES") == 0 ||
            (strcmp(name, "RELATED") == 0 && streq_ptr(param(l, "VALUE"), "text"))) {
                const char *rest[1] = { v };
                const char *raw = group_label(c, l);

                if (!raw && param(l, "TYPE")) {
                        _cleanup_free_ char *t = strdup(param(l, "TYPE"));
                        const char *comp2[2];

                        if (!t)
                                return -ENOMEM;
                        downcase(t);
                        comp2[0] = t;
                        comp2[1] = v;
                        return pim_add_multi(it, "related", comp2, 2);
                }
                return add_multi(it, c, l, "related", false, rest, 1);
        }
        if (strcmp(name, "IMPP") == 0) {
                const char *service = param(l, "X-SERVICE-TYPE");
                const char *colon = strchr(v, ':');
                const char *user = colon ? colon + 1 : v;
                const char *rest[2];

                if (!service && colon)
                        for (size_t i = 0; i < ELEMENTSOF(im_schemes); i++)
                                if ((size_t) (colon - v) == strlen(im_schemes[i].scheme) &&
                                    strncasecmp(v, im_schemes[i].scheme, (size_t) (colon - v)) == 0)
                                        service = im_schemes[i].service;
                rest[0] = service ? service : "";
                rest[1] = user;
                return add_multi(it, c, l, "im", false, rest, 2);
        }
        for (size_t i = 0; i < ELEMENTSOF(im_properties); i++)
                if (strcmp(name, im_properties[i].property) == 0) {
                        const char *rest[2] = { im_properties[i].service, v };

                        return add_multi(it, c, l, "im", false, rest, 2);
                }
        return 0;
}

static bool valid_utf8(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                unsigned char b = u[i];
                size_t k;
                unsigned char lo = 0x80, hi = 0xBF;     /* the second byte's range */

                if (b < 0x80) {
                        i++;
                        continue;
                }
                if (b >= 0xC2 && b <= 0xDF)
                        k = 2;
                else if (b >= 0xE0 && b <= 0xEF) {
                        k = 3;
                        lo = b == 0xE0 ? 0xA0 : 0x80;   /* no overlong forms */
                        hi = b == 0xED ? 0x9F : 0xBF;   /* no surrogates */
                } else if (b >= 0xF0 && b <= 0xF4) {
                        k = 4;
                        lo = b == 0xF0 ? 0x90 : 0x80;
                        hi = b == 0xF4 ? 0x8F : 0xBF;   /* nothing past U+10FFFF */
                } else
                        return false;
                if (i + k > n || u[i + 1] < lo || u[i + 1] > hi)
                        return false;
                for (size_t j = 2; j < k; j++)
                        if ((u[i + j] & 0xC0) != 0x80)
                                return false;
                i += k;
        }
        return true;
}

static int fail(char **ret_reason, const char *why) {
        if (ret_reason)
                *ret_reason = strdup(why);
        return IDS_E_PROTOCOL;
}

/* Whether a logical line is quoted-printable: a parameter before the ':' is exactly
 * ENCODING=QUOTED-PRINTABLE (or vCard 2.1's bare QUOTED-PRINTABLE). Only a whole parameter
 * counts: a value that merely contains the word (X-SERVICE-TYPE="QUOTED-PRINTABLE") must not
 * turn a fold after '=' into a soft break, or the '=' is lost and the card does not
 * round-trip (found by fuzz-vcard). */
static bool is_qp(const char *s, size_t n) {
        static const char *const forms[] = { "ENCODING=QUOTED-PRINTABLE", "QUOTED-PRINTABLE" };
        const char *colon = memchr(s, ':', n);
        size_t m = colon ? (size_t) (colon - s) : 0;

        for (size_t i = 0; i < m; i++) {
                if (s[i] != ';')
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(forms); j++) {
                        size_t l = strlen(forms[j]);

                        if (i + 1 + l <= m && strncasecmp(s + i + 1, forms[j], l) == 0 &&
                            (i + 1 + l == m || s[i + 1 + l] == ';'))
                                return true;
                }
        }
        return false;
}

/* Unfold text into logical lines (each NUL-terminated in *ret_buf, pointers in *ret_lines):
 * a line starting with a space or a tab continues the one before; a quoted-printable line
 * ending in '=' (a soft break) continues on the next. */
static int unfold(const char *text, size_t len, char **ret_buf, char ***ret_lines,
                  size_t *ret_n) {
        _cleanup_free_ char *buf = malloc(len + 1);
        _cleanup_free_ size_t *starts = NULL;
        size_t k = 0, n = 0, allocated = 0, cur = 0;
        bool open = false;
        char **lines;

        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i <= len;) {
                const char *nl = i < len ? memchr(text + i, '\n', len - i) : NULL;
                size_t e = nl ? (size_t) (nl - text) : len, b = i;

                if (i == len)
                        break;
                while (e > b && text[e - 1] == '\r')
                        e--;
                if (open && b < e && (text[b] == ' ' || text[b] == '\t')) {
                        /* a folded line (after a quoted-printable soft break too) */
                        if (k > cur && buf[k - 1] == '=' && is_qp(buf + cur, k - cur))
                                k--;
                        memcpy(buf + k, text + b + 1, e - b - 1);
                        k += e - b - 1;
                } else if (open && k > cur && buf[k - 1] == '=' && is_qp(buf + cur, k - cur)) {
                        k--;                                            /* a soft break */
                        memcpy(buf + k, text + b, e - b);
                        k += e - b;
                } else {
                        if (open)
                                buf[k++] = 0;
                        if (n == allocated) {
                                size_t na = allocated ? allocated * 2 : 64;
                                size_t *ns = reallocarray(starts, na, sizeof(size_t));

                                if (!ns)
                                        return -ENOMEM;
                                starts = ns;
                                allocated = na;
                        }
                        cur = k;
                        starts[n++] = cur;
                        memcpy(buf + k, text + b, e - b);
                        k += e - b;
                        open = true;
                }
                i = nl ? (size_t) (nl - text) + 1 : len;
        }
        if (open)
                buf[k++] = 0;
        lines = calloc(n + 1, sizeof(char *));
        if (!lines)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                lines[i] = buf + starts[i];
        *ret_buf = TAKE_PTR(buf);
        *ret_lines = lines;
        *ret_n = n;
        return 0;
}

int pim_vcard_parse(const char *text, size_t len, PimItem **ret, char **ret_reason) {
        _cleanup_(pim_item_freep) PimItem *it = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_free_ char **raw = NULL;
        size_t n_raw = 0;
        Card c = {};
        bool in_card = false, ended = false;
        int r;

        if (ret_reason)
                *ret_reason = NULL;
        if (memchr(text, 0, len))
                return fail(ret_reason, "a NUL byte in the text");
        if (!valid_utf8(text, len))
                return fail(ret_reason, "not UTF-8");
        r = unfold(text, len, &buf, &raw, &n_raw);
        if (r < 0)
                return r;
        it = pim_item_new(PIM_CONTACT);
        if (!it)
                return -ENOMEM;

        for (size_t i = 0; i < n_raw && !ended; i++) {
                Line l = {};

                if (!raw[i][0])
                        continue;
                r = parse_line(raw[i], strlen(raw[i]), &l);
                if (r == -ENOMEM)
                        goto out;
                if (r < 0) {
                        r = 0;
                        continue;               /* not a content line: skipped */
                }
                if (!in_card) {
                        if (strcmp(l.name, "BEGIN") == 0 && strcasecmp(l.value, "VCARD") == 0)
                                in_card = true;
                        line_done(&l);
                        continue;
                }
                if (strcmp(l.name, "END") == 0 && strcasecmp(l.value, "VCARD") == 0) {
                        line_done(&l);
                        ended = true;
                        break;
                }
                if (strcmp(l.name, "BEGIN") == 0) {
                        line_done(&l);
                        r = fail(ret_reason, "a card inside a card");
                        goto out;
                }
                if (c.n >= MAX_LINES) {
                        line_done(&l);
                        r = fail(ret_reason, "too many lines in one card");
                        goto out;
                }
                {
                        Line *nv = reallocarray(c.lines, c.n + 1, sizeof(Line));

                        if (!nv) {
                                line_done(&l);
                                r = -ENOMEM;
                                goto out;
                        }
                        c.lines = nv;
                        c.lines[c.n++] = l;
                }
        }
        if (!in_card) {
                r = fail(ret_reason, "no BEGIN:VCARD");
                goto out;
        }
        if (!ended) {
                r = fail(ret_reason, "no END:VCARD");
                goto out;
        }
        for (size_t i = 0; i < c.n; i++) {
                r = add_line(it, &c, &c.lines[i]);
                if (r == -E2BIG) {
                        r = fail(ret_reason, "a value or the card is too large");
                        goto out;
                }
                if (r < 0)
                        goto out;
        }
        /* A card whose N gives no name (N is optional in 4.0) and whose FN is more than what
         * the rest of the card names it by (FN is derived: our own cards' FN is exactly that,
         * so it is never read back as a name): FN is the first name. */
        if (!pim_get(it, "first name") && !pim_get(it, "last name") &&
            !pim_get(it, "organization")) {
                char derived[512];

                pim_display_name(it, derived, sizeof(derived));
                for (size_t i = 0; i < c.n; i++)
                        if (strcmp(c.lines[i].name, "FN") == 0) {
                                _cleanup_free_ char *fn = strdup(c.lines[i].value);

                                if (!fn) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                                unescape_text(fn);
                                if (strcmp(fn, derived) != 0 && (r = pim_add(it, "first name", fn)) < 0)
                                        goto out;
                                break;
                        }
        }
        pim_normalize(it);
        *ret = TAKE_PTR(it);
        r = 0;
out:
        for (size_t i = 0; i < c.n; i++)
                line_done(&c.lines[i]);
        free(c.lines);
        return r;
}

/* ---- writing ----------------------------------------------------------------------------- */

typedef struct Out {
        FILE *f;
        size_t col;
        unsigned next_group;
} Out;

/* Append n bytes folding before a character that would pass 75 octets (a continuation
 * line starts with a space, which counts); escapes (two bytes) are never split. */
static void put(Out *o, const char *s, size_t n, bool escaped) {
        for (size_t i = 0; i < n;) {
                unsigned char b = (unsigned char) s[i];
                size_t k = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;

                if (escaped && s[i] == '\\' && i + 1 < n)
                        k = 2;
                if (i + k > n)
                        k = n - i;
                if (o->col + k > 75) {
                        fputs("\r\n ", o->f);
                        o->col = 1;
                }
                fwrite(s + i, 1, k, o->f);
                o->col += k;
                i += k;
        }
}

static void put_str(Out *o, const char *s) {
        put(o, s, strlen(s), false);
}

/* A TEXT value, escaped (and ';' too: every value we write may sit in a structure). Runs
 * without a special character go to put() whole, so folding keeps characters whole. */
static void put_text(Out *o, const char *s) {
        while (*s) {
                size_t run = strcspn(s, "\\,;\n\r");
                char e[2] = { '\\', 0 };

                if (run > 0) {
                        put(o, s, run, false);
                        s += run;
                        continue;
                }
                if (*s != '\r') {
                        e[1] = *s == '\n' ? 'n' : *s;
                        put(o, e, 2, true);
                }
                s++;
        }
}

static void end_line(Out *o) {
        fputs("\r\n", o->f);
        o->col = 0;
}

/* "name:" or "itemN.name;TYPE=type;params:" (type and params may be NULL). */
static void begin2(Out *o, unsigned group, const char *name, const char *type,
                   const char *params) {
        char g[16] = "";

        if (group)
                snprintf(g, sizeof(g), "item%u.", group);
        put_str(o, g);
        put_str(o, name);
        if (type) {
                put_str(o, ";TYPE=");
                put_str(o, type);
        }
        if (params && params[0]) {
                put_str(o, ";");
                put_str(o, params);
        }
        put_str(o, ":");
}

static void begin(Out *o, unsigned group, const char *name, const char *params) {
        begin2(o, group, name, NULL, params);
}

static void prop(Out *o, const char *name, const char *value) {
        if (!value)
                return;
        begin(o, 0, name, NULL);
        put_text(o, value);
        end_line(o);
}

/* The TYPE of a label when RFC 6350 has an exact one, else NULL (an X-ABLabel group). */
static const char *type_of_label(const char *label, bool phone) {
        static const struct {
                const char *label, *type;
        } phone_types[] = {
                { "mobile", "cell" },      { "home", "home" },         { "work", "work" },
                { "main", "voice" },       { "home fax", "fax,home" }, { "work fax", "fax,work" },
                { "pager", "pager" },
        };

        if (phone) {
                for (size_t i = 0; i < ELEMENTSOF(phone_types); i++)
                        if (strcmp(phone_types[i].label, label) == 0)
                                return phone_types[i].type;
                return NULL;
        }
        return strcmp(label, "home") == 0 ? "home" : strcmp(label, "work") == 0 ? "work" : NULL;
}

/* Begin a multi value's property: TYPE for a built-in label, a group + X-ABLabel line
 * for any other (returned, so related lines can join the group), nothing for "". */
static unsigned begin_labelled(Out *o, const char *name, const char *label, bool phone,
                               const char *extra_params, bool need_group) {
        const char *type = label[0] ? type_of_label(label, phone) : NULL;
        unsigned group = 0;

        if ((label[0] && !type) || need_group)
                group = ++o->next_group;
        begin2(o, group, name, type, extra_params);
        return group;
}

/* The X-ABLabel line of a group made for a label (or for an address's country code). */
static void label_line(Out *o, unsigned group, const char *label) {
        if (!group || !label[0])
                return;
        begin(o, group, "X-ABLabel", NULL);
        put_text(o, label);
        end_line(o);
}

/* "YYYY-MM-DD" → "YYYYMMDD", "--MM-DD" → "--MMDD". */
static void put_date(Out *o, const char *d) {
        char buf[16];

        if (strncmp(d, "--", 2) == 0 && strlen(d) == 7)
                snprintf(buf, sizeof(buf), "--%.2s%.2s", d + 2, d + 5);
        else if (strlen(d) == 10)
                snprintf(buf, sizeof(buf), "%.4s%.2s%.2s", d, d + 5, d + 8);
        else
                snprintf(buf, sizeof(buf), "%s", d);
        put_str(o, buf);
}

static const char *scheme_of(const char *service) {
        for (size_t i = 0; i < ELEMENTSOF(im_schemes); i++)
                if (strcasecmp(im_schemes[i].service, service) == 0)
                        return im_schemes[i].scheme;
        return "x-apple";
}

int pim_vcard_write(PimItem *it, char **ret, size_t *ret_len) {
        char *buf = NULL, name[512];
        size_t len = 0;
        Out o = {};
        bool anniversary = false;
        const char *v;

        pim_normalize(it);
        o.f = open_memstream(&buf, &len);
        if (!o.f)
                return -ENOMEM;
        put_str(&o, "BEGIN:VCARD");
        end_line(&o);
        put_str(&o, "VERSION:4.0");
        end_line(&o);
        prop(&o, "UID", it->uid);
        if (streq_ptr(pim_get(it, "kind"), "company")) {
                put_str(&o, "KIND:org");
                end_line(&o);
        }
        begin(&o, 0, "FN", NULL);
        put_text(&o, pim_display_name(it, name, sizeof(name)));
        end_line(&o);
        {
                const char *parts[5] = { pim_get(it, "last name"), pim_get(it, "first name"),
                                         pim_get(it, "middle name"), pim_get(it, "prefix"),
                                         pim_get(it, "suffix") };

                begin(&o, 0, "N", NULL);
                for (size_t i = 0; i < 5; i++) {
                        if (i)
                                put_str(&o, ";");
                        put_text(&o, parts[i] ?: "");
                }
                end_line(&o);
        }
        prop(&o, "NICKNAME", pim_get(it, "nickname"));
        prop(&o, "X-PHONETIC-FIRST-NAME", pim_get(it, "first name phonetic"));
        prop(&o, "X-PHONETIC-LAST-NAME", pim_get(it, "last name phonetic"));
        if (pim_get(it, "organization") || pim_get(it, "department")) {
                begin(&o, 0, "ORG", NULL);
                put_text(&o, pim_get(it, "organization") ?: "");
                if (pim_get(it, "department")) {
                        put_str(&o, ";");
                        put_text(&o, pim_get(it, "department"));
                }
                end_line(&o);
        }
        prop(&o, "TITLE", pim_get(it, "job title"));
        if ((v = pim_get(it, "birthday"))) {
                begin(&o, 0, "BDAY", NULL);
                put_date(&o, v);
                end_line(&o);
        }

        for (size_t i = 0; i < it->n_fields; i++) {
                const char *field = it->fields[i].name;
                _cleanup_free_ char *sbuf = NULL;
                const char *c[8] = {};
                size_t n = 0;
                unsigned g;

                if (!pim_field_multi(PIM_CONTACT, field))
                        continue;
                if (pim_split(it->fields[i].value, &sbuf, c, ELEMENTSOF(c), &n) < 0) {
                        fclose(o.f);
                        free(buf);
                        return -ENOMEM;
                }
                for (size_t k = n; k < ELEMENTSOF(c); k++)
                        c[k] = "";
                if (strcmp(field, "phone") == 0) {
                        g = begin_labelled(&o, "TEL", c[0], true, NULL, false);
                        put_text(&o, c[1]);
                        end_line(&o);
                        label_line(&o, g, c[0]);
                } else if (strcmp(field, "email") == 0 || strcmp(field, "url") == 0) {
                        g = begin_labelled(&o, field[0] == 'e' ? "EMAIL" : "URL", c[0], false,
                                           NULL, false);
                        put_text(&o, c[1]);
                        end_line(&o);
                        label_line(&o, g, c[0]);
                } else if (strcmp(field, "address") == 0) {
                        g = begin_labelled(&o, "ADR", c[0], false, NULL, c[6][0] != 0);
                        put_str(&o, ";;");
                        for (size_t k = 1; k <= 5; k++) {
                                if (k > 1)
                                        put_str(&o, ";");
                                put_text(&o, c[k]);
                        }
                        end_line(&o);
                        label_line(&o, g, c[0]);
                        if (c[6][0]) {
                                begin(&o, g, "X-ABADR", NULL);
                                put_text(&o, c[6]);
                                end_line(&o);
                        }
                } else if (strcmp(field, "im") == 0) {
                        _cleanup_free_ char *params = NULL, *svc = strdup(c[1]);
                        char *q = svc;

                        if (!svc) {
                                fclose(o.f);
                                free(buf);
                                return -ENOMEM;
                        }
                        /* quoted, without the one character a quoted value cannot hold */
                        for (const char *p = c[1]; *p; p++)
                                if (*p != '"')
                                        *q++ = *p;
                        *q = 0;
                        if (asprintf(&params, "X-SERVICE-TYPE=\"%s\"", svc) < 0) {
                                params = NULL;
                                fclose(o.f);
                                free(buf);
                                return -ENOMEM;
                        }
                        g = begin_labelled(&o, "IMPP", c[0], false, c[1][0] ? params : NULL,
                                           false);
                        put_str(&o, scheme_of(c[1]));
                        put_str(&o, ":");
                        put_text(&o, c[2]);
                        end_line(&o);
                        label_line(&o, g, c[0]);
                } else if (strcmp(field, "date") == 0) {
                        if (strcmp(c[0], "anniversary") == 0 && !anniversary) {
                                anniversary = true;
                                begin(&o, 0, "ANNIVERSARY", NULL);
                                put_date(&o, c[1]);
                                end_line(&o);
                                continue;
                        }
                        g = ++o.next_group;
                        begin(&o, g, "X-ABDATE", NULL);
                        put_date(&o, c[1]);
                        end_line(&o);
                        if (c[0][0]) {
                                begin(&o, g, "X-ABLabel", NULL);
                                put_text(&o, c[0]);
                                end_line(&o);
                        }
                } else if (strcmp(field, "related") == 0) {
                        g = ++o.next_group;
                        begin(&o, g, "X-ABRELATEDNAMES", NULL);
                        put_text(&o, c[1]);
                        end_line(&o);
                        if (c[0][0]) {
                                begin(&o, g, "X-ABLabel", NULL);
                                put_text(&o, c[0]);
                                end_line(&o);
                        }
                }
        }
        prop(&o, "NOTE", pim_get(it, "notes"));
        if ((v = pim_get(it, "photo"))) {
                size_t n = 0;
                _cleanup_free_ unsigned char *head = pim_base64_decode(v, &n);

                begin(&o, 0, "PHOTO", NULL);
                put_str(&o, head && n > 4 && memcmp(head, "\x89PNG", 4) == 0 ?
                                    "data:image/png;base64," : "data:image/jpeg;base64,");
                put_str(&o, v);
                end_line(&o);
        }
        put_str(&o, "END:VCARD");
        end_line(&o);
        if (fclose(o.f) != 0 || !buf) {
                free(buf);
                return -ENOMEM;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}
