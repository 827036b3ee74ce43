#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-voice-memos.py TRUTH_JSON EXPORT_DIR

Compare EXPORT_DIR/voice-memos/ (written by lib/export-voice-memos.c) with the emulator's
voice-memos.json: each recording is "<YYYY-MM-DD HH.MM> <title>.m4a" (its date in UTC, the
name made safe as export_safe_name() does, " (N)" before ".m4a" when taken), with the
recording's SHA-256 and size, and mtime its date; no other files. Exits 1 with one line
per difference."""
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


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check-voice-memos.py TRUTH_JSON EXPORT_DIR")
    with open(sys.argv[1], encoding="utf-8") as f:
        truth = json.load(f)
    d = os.path.join(sys.argv[2], "voice-memos")
    errors = []
    try:
        files = {}
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                files[n] = hashlib.sha256(f.read()).hexdigest()
    except OSError as e:
        sys.exit(f"FAIL: {d}: {e}")
    used = set()
    for rec in truth["recordings"]:
        t = calendar.timegm(time.strptime(rec["date"], "%Y-%m-%dT%H:%M:%SZ"))
        cands = []
        # the database holds fractions of a second; either rounding is fine
        for tt in (t, t - 1):
            when = time.strftime("%Y-%m-%d %H.%M", time.gmtime(tt))
            stem = safe_name(f"{when} {rec['title'] or 'Recording'}", "Recording")
            name_re = re.compile(re.escape(stem) + r"( \(\d+\))?\.m4a")
            cands += sorted(n for n in files if name_re.fullmatch(n) and n not in used
                            and files[n] == rec["sha256"])
        what = f"recording {rec['title']!r} of {rec['date']}"
        if not cands:
            errors.append(f"{what}: no {stem}.m4a with sha256 {rec['sha256']} in {d}")
            continue
        n = cands[0]
        used.add(n)
        st = os.stat(os.path.join(d, n))
        if st.st_size != rec["size"]:
            errors.append(f"{what}: {n} has {st.st_size} bytes, expected {rec['size']}")
        if abs(int(st.st_mtime) - t) > 1:
            errors.append(f"{what}: {n} mtime {int(st.st_mtime)}, expected {t}")
    for extra in sorted(set(files) - used):
        errors.append(f"unexpected file {extra}")
    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        sys.exit(1)
    print(f"ok: {len(used)} recordings")


if __name__ == "__main__":
    main()
