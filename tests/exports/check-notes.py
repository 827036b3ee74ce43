#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-notes.py TRUTH_JSON EXPORT_DIR

Compare EXPORT_DIR/notes/ (written by lib/export-notes.c) with the emulator's notes.json:
each unlocked note is a Markdown file "<safe title>.md" (or "<safe title> (N).md") in the
directory of its folder path (each component a safe name), its mtime the note's
"modified"; every paragraph of its "text" appears in it (U+FFFC, where an attachment
stands, splits a paragraph), every checklist line appears as "- [x] text" / "- [ ] text";
each attachment is a file in "<note file stem> attachments/" with the given SHA-256 and is
linked from the note. Locked notes are listed in notes/Locked notes.md (title) and are not
exported as files; no other note files exist. Exits 1 with one line per difference."""
import calendar
import hashlib
import json
import os
import re
import sys
import time


def safe_name(title, fallback):
    """lib/export.c export_safe_name(), for titles already valid UTF-8."""
    out, space = "", False
    for c in title or "":
        if c in " \t\n\r":
            space = len(out) > 0
            continue
        if ord(c) < 0x20 or ord(c) == 0x7f or c in '/\\:*?"<>|':
            c = "_"
        elif c == "." and out == "":
            continue
        add = (" " if space else "") + c
        if len((out + add).encode()) > 200:
            break
        out += add
        space = False
    out = out.rstrip(". ")
    return out or fallback


def utc(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check-notes.py TRUTH_JSON EXPORT_DIR")
    with open(sys.argv[1], encoding="utf-8") as f:
        truth = json.load(f)
    root = os.path.join(sys.argv[2], "notes")
    errors = []
    used = set()

    if not os.path.isdir(root):
        sys.exit(f"FAIL: no directory {root}")
    for note in truth["notes"]:
        if note["locked"]:
            continue
        folder = note["folder"] or ""
        parts = [safe_name(p, "Folder") for p in folder.split("/") if p != ""]
        d = os.path.join(root, *parts)
        stem = safe_name(note["title"] or (note["text"] or "").split("\n")[0], "Untitled")
        name_re = re.compile(re.escape(stem) + r"( \(\d+\))?\.md$")
        try:
            candidates = sorted(n for n in os.listdir(d) if name_re.fullmatch(n))
        except OSError:
            candidates = []
        text = note["text"] or ""
        paragraphs = [p.strip() for line in text.split("\n") for p in line.split("\ufffc")]
        paragraphs = [p for p in paragraphs if p]
        found = None
        for c in candidates:
            path = os.path.join(d, c)
            if path in used:
                continue
            with open(path, encoding="utf-8", errors="replace") as f:
                md = f.read()
            if all(p in md for p in paragraphs):
                found, content = path, md
                break
        what = f"note {note['id']} {note['title']!r} in {folder!r}"
        if not found:
            errors.append(f"{what}: no {stem}.md in {d} holding its text "
                          f"(candidates: {candidates})")
            continue
        used.add(found)
        mtime = int(os.stat(found).st_mtime)
        # the database holds fractions of a second; either rounding is fine
        if note["modified"] and abs(mtime - utc(note["modified"])) > 1:
            errors.append(f"{what}: mtime {mtime}, expected {utc(note['modified'])}")
        lines = content.split("\n")
        for item in note["checklist"]:
            want = ("- [x] " if item["done"] else "- [ ] ") + item["text"]
            if not any(l.strip() == want.strip() for l in lines):
                errors.append(f"{what}: no checklist line {want!r}")
        att_dir = found[:-3] + " attachments"
        for att in note["attachments"]:
            sums = {}
            if os.path.isdir(att_dir):
                sums = {sha256(os.path.join(att_dir, n)): n for n in os.listdir(att_dir)}
            name = sums.get(att["sha256"])
            if name is None:
                errors.append(f"{what}: attachment {att['name']!r} (sha256 {att['sha256']}) "
                              f"not in {att_dir}")
            elif f"{os.path.basename(att_dir)}/{name}" not in content:
                errors.append(f"{what}: attachment {name!r} is not linked")

    exported = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames:
            if n.endswith(".md") and not dirpath.endswith(" attachments"):
                exported.add(os.path.join(dirpath, n))
    locked_md = os.path.join(root, "Locked notes.md")
    exported.discard(locked_md)
    for extra in sorted(exported - used):
        errors.append(f"unexpected note file {extra}")

    locked = [n for n in truth["notes"] if n["locked"]]
    if locked:
        try:
            with open(locked_md, encoding="utf-8", errors="replace") as f:
                listing = f.read()
        except OSError as e:
            listing = ""
            errors.append(f"locked notes: {e}")
        for n in locked:
            title = "".join("/" if c == "|" else " " if ord(c) < 0x20 else c
                            for c in (n["title"] or "Untitled"))
            if f"| {title} |" not in listing:
                errors.append(f"locked note {n['id']} {n['title']!r} not listed in {locked_md}")
    elif os.path.exists(locked_md):
        errors.append(f"{locked_md} exists but no note is locked")

    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        sys.exit(1)
    print(f"ok: {len(used)} notes, {len(locked)} locked")


if __name__ == "__main__":
    main()
