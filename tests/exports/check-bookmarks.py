#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-bookmarks.py TRUTH_JSON EXPORT_DIR

Compare EXPORT_DIR/bookmarks.html and EXPORT_DIR/reading-list.html (Netscape bookmark
files written by lib/export-bookmarks.c) with the emulator's bookmarks.json: the folders
(paths, in order), every bookmark (folder, title, URL, in order) and the Reading List
(title, URL, ADD_DATE = "added"). Bookmarks whose URL is not http, https, ftp or file are
left out of the export by design (javascript: bookmarklets …) and so are not expected.
A missing title is exported as the URL. Exits 1 with one line per difference."""
import datetime
import html.parser
import json
import sys

LINK_SCHEMES = ("http:", "https:", "ftp:", "file:")


class Netscape(html.parser.HTMLParser):
    """Folders, links (with the folder path they are in), in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # one entry per open <DL>: folder name or None (the top)
        self.pending = None      # an <H3> title waiting for its <DL>
        self.text = None         # text being collected for <H3> or <A>
        self.href = None
        self.add_date = None
        self.folders = []
        self.links = []
        self.doctype = None
        self.errors = []

    def path(self):
        return "/".join(n for n in self.stack if n is not None)

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "dl":
            self.stack.append(self.pending)
            if self.pending is not None:
                self.folders.append(self.path())
            self.pending = None
        elif tag == "h3":
            self.text = ""
        elif tag == "a":
            self.text = ""
            self.href = a.get("href")
            self.add_date = a.get("add_date")

    def handle_endtag(self, tag):
        if tag == "dl":
            if not self.stack:
                self.errors.append("unbalanced </DL>")
            else:
                self.stack.pop()
        elif tag == "h3":
            self.pending = self.text
            self.text = None
        elif tag == "a":
            self.links.append({"folder": self.path(), "title": self.text, "url": self.href,
                               "add_date": self.add_date})
            self.text = None

    def handle_data(self, data):
        if self.text is not None:
            self.text += data


def parse(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            data = f.read()
    except OSError as e:
        sys.exit(f"FAIL: cannot read {path}: {e}")
    p = Netscape()
    p.feed(data)
    p.close()
    if p.doctype != "DOCTYPE NETSCAPE-Bookmark-file-1":
        p.errors.append(f"{path}: doctype is {p.doctype!r}")
    if 'charset=UTF-8' not in data:
        p.errors.append(f"{path}: no UTF-8 charset META")
    if p.stack:
        p.errors.append(f"{path}: {len(p.stack)} <DL> left open")
    return p


def shown(title, url):
    """The title as the export writes it: control characters as spaces, the URL if none."""
    if title is None or title == "":
        title = url
    return "".join(" " if ord(c) < 0x20 else c for c in title)


def iso(ts):
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def compare(what, expected, got, errors):
    if expected == got:
        return
    for i, (e, g) in enumerate(zip(expected, got)):
        if e != g:
            errors.append(f"{what}: item {i}: expected {e!r}, got {g!r}")
            break
    if len(expected) != len(got):
        errors.append(f"{what}: expected {len(expected)} items, got {len(got)}")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check-bookmarks.py TRUTH_JSON EXPORT_DIR")
    with open(sys.argv[1], encoding="utf-8") as f:
        truth = json.load(f)
    errors = []

    bm = parse(f"{sys.argv[2]}/bookmarks.html")
    errors += bm.errors
    compare("folders", truth["folders"], bm.folders, errors)
    expected = [(b["folder"], shown(b["title"], b["url"]), b["url"])
                for b in truth["bookmarks"]
                if (b["url"] or "").lower().startswith(LINK_SCHEMES)]
    got = [(l["folder"], l["title"], l["url"]) for l in bm.links]
    compare("bookmarks", expected, got, errors)

    rl = parse(f"{sys.argv[2]}/reading-list.html")
    errors += rl.errors
    expected = [(r["title"] and shown(r["title"], r["url"]) or r["url"], r["url"], r["added"])
                for r in truth["reading_list"]
                if (r["url"] or "").lower().startswith(LINK_SCHEMES)]
    got = [(l["title"], l["url"], iso(l["add_date"]) if l["add_date"] else None)
           for l in rl.links]
    if any(l["folder"] for l in rl.links):
        errors.append("reading list: an entry inside a folder")
    compare("reading list", expected, got, errors)

    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        sys.exit(1)
    print(f"ok: {len(bm.folders)} folders, {len(bm.links)} bookmarks, "
          f"{len(rl.links)} reading list items")


if __name__ == "__main__":
    main()
