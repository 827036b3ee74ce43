#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Change the emulator's mobilesync store of one data class as a person on the phone would.

The store is <profile>/mobilesync/<class>.plist (layout in tests/emulator/mobilesync.h). The
emulator reads it when a session starts and writes it after each step, so edit it between
sessions (safest while the device is detached: `ctl detach UDID`). Every change is written
to the change log the way the phone records it, so the next fast sync reports it.

  mobilesync-edit.py PROFILE CLASS add ENTITY FIELDS_JSON   prints the new record id
  mobilesync-edit.py PROFILE CLASS set ID FIELDS_JSON       merge fields (null removes one)
  mobilesync-edit.py PROFILE CLASS delete ID                and what hangs off it
  mobilesync-edit.py PROFILE CLASS clear                    every record gone: next is a reset
  mobilesync-edit.py PROFILE CLASS icloud on|off            move the records into (out of)
                                                            iCloud: mobilesync sees none (all)
  mobilesync-edit.py PROFILE CLASS count                    prints visible and iCloud counts

CLASS is com.apple.Contacts, com.apple.Calendars or com.apple.Bookmarks. In FIELDS_JSON a
date is {"$date": "2026-05-01T09:30:00Z"}, bytes are {"$data": "<base64>"}; links are
arrays of ids, e.g. {"value": "+1 555 0100", "type": "mobile", "contact": ["12"]}.
Exit status 0, or 1 with a message on stderr.
"""
import base64
import datetime
import json
import os
import plistlib
import sys

ENTITY_KEY = "com.apple.syncservices.RecordEntityName"
LINK_KEYS = ("contact", "owner", "calendar", "parent")


def die(msg):
    print("mobilesync-edit: " + msg, file=sys.stderr)
    sys.exit(1)


def decode(v):
    if isinstance(v, dict) and list(v) == ["$date"]:
        s = v["$date"].replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(s).astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if isinstance(v, dict) and list(v) == ["$data"]:
        return base64.b64decode(v["$data"])
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        return {k: decode(x) for k, x in v.items()}
    return v


def log_change(store, rid, change, entity):
    changes = store.setdefault("Changes", {})
    old = changes.get(rid)
    if old and old.get("Change") == "add":
        # The host never saw it: a delete forgets it, a modify is still an add.
        if change == "delete":
            del changes[rid]
        return
    changes[rid] = {"Change": change, "Entity": entity or ""}


def delete(store, rid):
    records = store["Records"]
    rec = records.pop(rid, None)
    if rec is None:
        return 0
    log_change(store, rid, "delete", rec.get(ENTITY_KEY))
    count = 1
    for cid in sorted(records, key=lambda x: (len(x), x)):
        child = records.get(cid)
        if child is None:
            continue
        for key in LINK_KEYS:
            links = child.get(key)
            if not isinstance(links, list) or rid not in links:
                continue
            if ".Group" in child.get(ENTITY_KEY, ""):
                links[:] = [x for x in links if x != rid]
                log_change(store, cid, "modify", child.get(ENTITY_KEY))
            else:
                count += delete(store, cid)
            break
    return count


def next_id(store):
    n = max(int(store.get("NextId", 1)), 1)
    while str(n) in store["Records"] or str(n) in store["CloudRecords"]:
        n += 1
    store["NextId"] = n + 1
    return str(n)


def main(argv):
    if len(argv) < 4:
        die(__doc__.strip().splitlines()[0] + "; see the usage in the source")
    profile, cls, op, args = argv[1], argv[2], argv[3], argv[4:]
    path = os.path.join(profile, "mobilesync", cls + ".plist")
    try:
        with open(path, "rb") as f:
            store = plistlib.load(f)
    except FileNotFoundError:
        die(f"{path} does not exist yet: the emulator makes it at the first session")
    if store.get("DataClass") != cls:
        die(f"{path} is not a store of {cls}")
    for key in ("Records", "CloudRecords", "Changes"):
        store.setdefault(key, {})

    if op == "add" and len(args) == 2:
        rec = decode(json.loads(args[1]))
        rec[ENTITY_KEY] = args[0]
        rid = next_id(store)
        store["Records"][rid] = rec
        log_change(store, rid, "add", args[0])
        print(rid)
    elif op == "set" and len(args) == 2:
        rec = store["Records"].get(args[0])
        if rec is None:
            die(f"no visible record {args[0]}")
        for k, v in decode(json.loads(args[1])).items():
            if v is None:
                rec.pop(k, None)
            else:
                rec[k] = v
        log_change(store, args[0], "modify", rec.get(ENTITY_KEY))
    elif op == "delete" and len(args) == 1:
        if delete(store, args[0]) == 0:
            die(f"no visible record {args[0]}")
    elif op == "clear" and not args:
        store["Records"] = {}
        store["Changes"] = {}
        store["ResetPending"] = True
    elif op == "icloud" and args in (["on"], ["off"]):
        # What iOS does when the local store moves into iCloud (or back): mobilesync's
        # change tracking starts over, so the next session is slow.
        if args[0] == "on":
            store["CloudRecords"].update(store["Records"])
            store["Records"] = {}
        else:
            store["Records"].update(store["CloudRecords"])
            store["CloudRecords"] = {}
        store["ICloud"] = args[0] == "on"
        store["Changes"] = {}
        store["ComputerAnchor"] = ""
    elif op == "count" and not args:
        print(len(store["Records"]), len(store["CloudRecords"]))
        return
    else:
        die(f"bad operation: {' '.join(argv[3:])}")

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        plistlib.dump(store, f, fmt=plistlib.FMT_BINARY, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


if __name__ == "__main__":
    main(sys.argv)
