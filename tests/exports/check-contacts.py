#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-contacts.py TRUTH_JSON EXPORT_DIR: compare a contacts export (contacts/*.vcf and
contacts.vcf, vCard 4.0) with the emulator's contacts.json. Parses with python3-vobject;
finds each contact's card by its display name (FN) and compares every field: names,
organisation, title, note (newlines, commas, semicolons), birthday, phones, e-mails,
addresses, dates, URLs, groups, photo SHA-256. Also checks the raw form (CRLF, lines of at
most 75 octets) and that contacts.vcf holds the same cards as contacts/. Exit 0 when equal,
1 with one line per difference otherwise.

Labels are read the way lib/export-contacts.c writes them: X-ABLabel of the property's item
group when there is one, else the TYPE mapped back (cell = mobile, voice = main,
fax+home = home fax, ...)."""
import base64
import hashlib
import json
import os
import re
import sys

try:
    import vobject
except ImportError:     # a python3 outside Debian's (pyenv): use Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import vobject

TYPE_LABELS = {
    "TEL": {("cell",): "mobile", ("home",): "home", ("work",): "work", ("voice",): "main",
            ("fax", "home"): "home fax", ("fax", "work"): "work fax", ("pager",): "pager"},
    "EMAIL": {("home",): "home", ("work",): "work"},
    "ADR": {("home",): "home", ("work",): "work"},
    "URL": {("home",): "home", ("work",): "work"},
}

errors = []


def fail(msg):
    errors.append(msg)


def nz(s):
    """Absent and empty are the same in a card."""
    return s if s else None


def expected_fn(c):
    parts = [c[k] for k in ("prefix", "first", "middle", "last", "suffix") if c.get(k)]
    if parts:
        return " ".join(parts)
    if c.get("organization"):
        return c["organization"]
    for k in ("emails", "phones"):
        if c.get(k):
            return c[k][0]["value"]
    return ""


def vdate(s):
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", s)
    if m:
        return "%s-%s-%s" % m.groups()
    m = re.fullmatch(r"--(\d{2})(\d{2})", s)
    if m:
        return "--%s-%s" % m.groups()
    return "bad date %r" % s


def split_unescaped(s, sep):
    """vobject leaves some list values (CATEGORIES) joined: split on unescaped sep."""
    out, cur, i = [], "", 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            cur += {"n": "\n", "N": "\n"}.get(s[i + 1], s[i + 1])
            i += 2
            continue
        if s[i] == sep:
            out.append(cur)
            cur = ""
        else:
            cur += s[i]
        i += 1
    out.append(cur)
    return out


def types_of(line):
    t = []
    for k, vals in line.params.items():
        if k.upper() == "TYPE":
            for v in vals:
                t += [x.strip().lower() for x in v.split(",") if x.strip()]
    return tuple(sorted(t))


def raw_photos(text):
    """The PHOTO value of each card, from the unfolded text: vobject cuts a data: URI at
    its comma."""
    text = text.replace("\r\n ", "")
    photos = []
    for block in text.split("BEGIN:VCARD")[1:]:
        m = re.search(r"^PHOTO[^:]*:(.*)$", block, re.M)
        photos.append(m.group(1).rstrip("\r") if m else None)
    return photos


def card_fields(card, photo):
    """The comparable content of one parsed card."""
    labels = {}
    for line in card.getChildren():
        if line.name.upper() == "X-ABLABEL" and line.group:
            labels[line.group.lower()] = line.value

    def label(line, prop):
        if line.group and line.group.lower() in labels:
            return labels[line.group.lower()]
        return TYPE_LABELS.get(prop, {}).get(types_of(line))

    f = {"fn": None, "n": None, "nickname": None, "org": None, "title": None, "note": None,
         "birthday": None, "phones": [], "emails": [], "addresses": [], "dates": [],
         "urls": [], "groups": [], "photo": None, "uid": None, "version": None}
    for line in card.getChildren():
        name = line.name.upper()
        v = line.value
        if name == "VERSION":
            f["version"] = v
        elif name == "UID":
            f["uid"] = v
        elif name == "FN":
            f["fn"] = v
        elif name == "N":
            f["n"] = [nz(x) for x in (v.family, v.given, v.additional, v.prefix, v.suffix)]
            f["n"] = [" ".join(x) if isinstance(x, list) else x for x in f["n"]]
        elif name == "NICKNAME":
            f["nickname"] = v
        elif name == "ORG":
            f["org"] = v if isinstance(v, list) else split_unescaped(v, ";")
        elif name == "TITLE":
            f["title"] = v
        elif name == "NOTE":
            f["note"] = v
        elif name == "BDAY":
            f["birthday"] = vdate(v)
        elif name == "TEL":
            f["phones"].append({"label": label(line, "TEL"), "value": v})
        elif name == "EMAIL":
            f["emails"].append({"label": label(line, "EMAIL"), "value": v})
        elif name == "URL":
            f["urls"].append({"label": label(line, "URL"), "value": v})
        elif name == "ADR":
            def j(x):
                x = "\n".join(x) if isinstance(x, list) else x
                return nz(x)
            f["addresses"].append({"label": label(line, "ADR"), "street": j(v.street),
                                   "city": j(v.city), "region": j(v.region),
                                   "postcode": j(v.code), "country": j(v.country)})
        elif name == "ANNIVERSARY":
            f["dates"].append({"label": "anniversary", "date": vdate(v)})
        elif name == "X-ABDATE":
            lb = labels.get(line.group.lower()) if line.group else None
            f["dates"].append({"label": lb, "date": vdate(v)})
        elif name == "CATEGORIES":
            vals = v if isinstance(v, list) else split_unescaped(v, ",")
            f["groups"] += vals
        elif name == "PHOTO":
            m = re.fullmatch(r"data:image/[a-z]+;base64,(.*)", photo or "", re.S)
            if not m:
                f["photo"] = "bad photo uri"
            else:
                f["photo"] = hashlib.sha256(base64.b64decode(m.group(1))).hexdigest()
    f["dates"].sort(key=lambda d: (d["date"], d["label"] or ""))
    return f


def expected_fields(c):
    dates = [{"label": d["label"], "date": d["date"]} for d in c["dates"]]
    dates.sort(key=lambda d: (d["date"], d["label"] or ""))
    org = None
    if c.get("organization") or c.get("department"):
        org = [c.get("organization") or ""]
        if c.get("department"):
            org.append(c["department"])
    return {"fn": expected_fn(c),
            "n": [nz(c.get(k)) for k in ("last", "first", "middle", "prefix", "suffix")],
            "nickname": nz(c.get("nickname")), "org": org, "title": nz(c.get("title")),
            "note": nz(c.get("note")), "birthday": c.get("birthday"),
            "phones": [{"label": p["label"], "value": p["value"]} for p in c["phones"]],
            "emails": [{"label": p["label"], "value": p["value"]} for p in c["emails"]],
            "addresses": [{"label": a["label"], **{k: nz(a.get(k)) for k in
                           ("street", "city", "region", "postcode", "country")}}
                          for a in c["addresses"]],
            "dates": dates,
            "urls": [{"label": p["label"], "value": p["value"]} for p in c["urls"]],
            "groups": list(c["groups"]), "photo": c.get("photo_sha256")}


def check_raw(path):
    data = open(path, "rb").read()
    if data and not data.endswith(b"\r\n"):
        fail("%s: does not end with CRLF" % path)
    for i, line in enumerate(data.split(b"\r\n")[:-1]):
        if b"\n" in line or b"\r" in line:
            fail("%s:%d: bare CR or LF" % (path, i + 1))
        if len(line) > 75:
            fail("%s:%d: line of %d octets" % (path, i + 1, len(line)))
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            fail("%s:%d: a fold splits a UTF-8 character" % (path, i + 1))
    return data.decode("utf-8")


def parse(path):
    text = check_raw(path)
    cards = list(vobject.readComponents(text))
    for c in cards:
        if c.name.upper() != "VCARD":
            fail("%s: a %s component" % (path, c.name))
    photos = raw_photos(text)
    if len(photos) != len(cards):
        fail("%s: %d cards parsed, %d BEGIN:VCARD" % (path, len(cards), len(photos)))
        photos = [None] * len(cards)
    return [card_fields(c, p) for c, p in zip(cards, photos)]


def main():
    truth = json.load(open(sys.argv[1], encoding="utf-8"))
    out = sys.argv[2]
    cdir = os.path.join(out, "contacts")
    if truth.get("schema") == "future":
        if os.path.exists(cdir) or os.path.exists(os.path.join(out, "contacts.vcf")):
            fail("an unknown (future) schema was exported")
        return
    if not os.path.isdir(cdir):
        fail("no contacts/ directory in %s" % out)
        return
    cards = []
    for name in sorted(os.listdir(cdir)):
        if not name.endswith(".vcf"):
            fail("contacts/%s: not a .vcf" % name)
            continue
        got = parse(os.path.join(cdir, name))
        if len(got) != 1:
            fail("contacts/%s holds %d cards, not 1" % (name, len(got)))
        for g in got:
            stem = name[:-4]
            if not re.fullmatch(r"(.*?)( \(\d+\))?", stem) or "/" in stem:
                fail("contacts/%s: bad name" % name)
            cards.append(g)
    allcards = parse(os.path.join(out, "contacts.vcf"))
    contacts = truth["contacts"]
    if len(cards) != len(contacts):
        fail("%d cards in contacts/, %d contacts in the truth" % (len(cards), len(contacts)))
    if len(allcards) != len(contacts):
        fail("%d cards in contacts.vcf, %d contacts in the truth" % (len(allcards), len(contacts)))
    key = lambda f: json.dumps(f, sort_keys=True)
    if sorted(map(key, cards)) != sorted(map(key, allcards)):
        fail("contacts.vcf does not hold the same cards as contacts/")
    for f in cards:
        if f["version"] != "4.0":
            fail("%s: VERSION %r" % (f["fn"], f["version"]))
        if not f["uid"]:
            fail("%s: no UID" % f["fn"])
    uids = [f["uid"] for f in cards]
    if len(set(uids)) != len(uids):
        fail("UIDs are not unique")

    pool = list(cards)
    for c in contacts:
        exp = expected_fields(c)
        cands = [f for f in pool if f["fn"] == exp["fn"]]
        if not cands:
            fail("contact %s (%r): no card with FN %r" % (c["id"], exp["fn"], exp["fn"]))
            continue
        strip = lambda f: {k: v for k, v in f.items() if k not in ("uid", "version")}
        match = next((f for f in cands if strip(f) == exp), None)
        if match is None:
            got = strip(cands[0])
            for k in exp:
                if exp[k] != got.get(k):
                    fail("contact %s (%r): %s: expected %r, got %r" %
                         (c["id"], exp["fn"], k, exp[k], got.get(k)))
            pool.remove(cands[0])
        else:
            pool.remove(match)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: check-contacts.py TRUTH_JSON EXPORT_DIR", file=sys.stderr)
        sys.exit(2)
    main()
    for e in errors[:50]:
        print("FAIL: " + e)
    if len(errors) > 50:
        print("FAIL: ... %d differences in all" % len(errors))
    sys.exit(1 if errors else 0)
