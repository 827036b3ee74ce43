#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""check-calendars.py TRUTH_JSON EXPORT_DIR: compare a calendars export (calendars/*.ics)
with the emulator's calendars.json. Parses with python3-icalendar; a calendar's file is
the one whose X-WR-CALNAME is its title (else "<title>.ics"). For every event, by UID:
summary, location, description, DTSTART/DTEND as UTC instants (zoned times through
zoneinfo by TZID, which must have its VTIMEZONE in the file), all-day dates (DTEND
exclusive), CRLF lines of at most 75 octets, floating times (no TZID, no Z), the RRULE's parts, and the rule EXPANDED with
python3-dateutil (rrulestr with DTSTART in its zone, minus EXDATE) over
[start, start + 366 days) against "occurrences"; EXDATEs; overrides by RECURRENCE-ID;
alarms (TRIGGER seconds); attendees (mailto, CN). Exit 0 when equal, 1 with one line per
difference otherwise."""
import datetime as dt
import json
import os
import sys

try:
    import icalendar
    from dateutil.rrule import rrulestr
except ImportError:     # a python3 outside Debian's (pyenv): use Debian's packages
    sys.path.append("/usr/lib/python3/dist-packages")
    import icalendar
    from dateutil.rrule import rrulestr
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
errors = []


def fail(msg):
    errors.append(msg)


def prop_time(ev, name, prop=None):
    """(value, kind) of a DTSTART-like property: value a date, a naive datetime (floating)
    or an aware one with a ZoneInfo/UTC zone; kind "date", "floating", "UTC" or the TZID."""
    p = prop if prop is not None else ev.get(name)
    if p is None:
        return None, None
    v = p.dt
    tzid = p.params.get("TZID")
    if isinstance(v, dt.datetime):
        if tzid:
            return v.replace(tzinfo=None).replace(tzinfo=ZoneInfo(str(tzid))), str(tzid)
        if v.tzinfo is not None:
            if v.utcoffset() != dt.timedelta(0):
                return v, "?"
            return v.replace(tzinfo=UTC), "UTC"
        return v, "floating"
    return v, "date"


def fmt(v):
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return v.isoformat()


def text(ev, name):
    v = ev.get(name)
    return None if v is None else str(v)


def exdates(ev):
    out = []
    props = ev.get("EXDATE")
    if props is None:
        return out
    if not isinstance(props, list):
        props = [props]
    for p in props:
        tzid = p.params.get("TZID")
        for d in p.dts:
            v = d.dt
            if isinstance(v, dt.datetime):
                if tzid:
                    v = v.replace(tzinfo=None).replace(tzinfo=ZoneInfo(str(tzid)))
                elif v.tzinfo is not None:
                    v = v.astimezone(UTC)
            out.append(v)
    return out


def expand(ev, start, all_day):
    """The rule's starts in [start, start + 366 days), EXDATEs removed, as strings."""
    rule = ev.get("RRULE")
    if rule is None:
        return [fmt(start)]
    first = dt.datetime.combine(start, dt.time()) if all_day else start
    r = rrulestr(rule.to_ical().decode(), dtstart=first)
    end = first + dt.timedelta(days=366)
    ex = set(fmt(x) for x in exdates(ev))
    out = []
    for i, occ in enumerate(r):
        if i > 100000 or occ >= end:
            break
        s = fmt(occ.date() if all_day else occ)
        if s not in ex:
            out.append(s)
    return out


def rule_fields(ev):
    rule = ev.get("RRULE")
    if rule is None:
        return None
    until = rule.get("UNTIL", [None])[0]
    if isinstance(until, dt.datetime) and until.tzinfo is not None:
        until = until.astimezone(UTC)
    return {"freq": rule.get("FREQ", [None])[0], "interval": int(rule.get("INTERVAL", [1])[0]),
            "count": int(rule["COUNT"][0]) if "COUNT" in rule else None,
            "until": fmt(until),
            "byday": [str(x) for x in rule["BYDAY"]] if "BYDAY" in rule else None,
            "bymonthday": [int(x) for x in rule["BYMONTHDAY"]] if "BYMONTHDAY" in rule else None}


def alarms(ev):
    out = []
    for a in ev.walk("VALARM"):
        t = a.get("TRIGGER")
        if t is None or not isinstance(t.dt, dt.timedelta):
            out.append("not relative")
        else:
            out.append(int(t.dt.total_seconds()))
        if str(a.get("ACTION")) != "DISPLAY":
            fail("%s: VALARM ACTION %s" % (text(ev, "UID"), a.get("ACTION")))
    return out


def attendees(ev):
    props = ev.get("ATTENDEE")
    if props is None:
        return []
    if not isinstance(props, list):
        props = [props]
    out = []
    for p in props:
        v = str(p)
        out.append({"email": v[7:] if v.lower().startswith("mailto:") else v,
                    "name": str(p.params["CN"]) if "CN" in p.params else None})
    return out


def check_times(where, ev, e, start_key="start", end_key="end"):
    start, kind = prop_time(ev, "DTSTART")
    end, ekind = prop_time(ev, "DTEND")
    want = "date" if e.get("all_day") else e["tz"]
    if kind != want:
        fail("%s: DTSTART is %s, expected %s" % (where, kind, want))
    if end is not None and ekind != kind:
        fail("%s: DTEND is %s, DTSTART %s" % (where, ekind, kind))
    if fmt(start) != e[start_key]:
        fail("%s: start %s, expected %s" % (where, fmt(start), e[start_key]))
    if fmt(end) != e[end_key]:
        fail("%s: end %s, expected %s" % (where, fmt(end), e[end_key]))
    return start


def check_event(where, ev, e, overrides, tzids):
    for k in ("summary", "location", "description"):
        got, want = text(ev, k.upper()), e.get(k)
        if k == "location" and got and want and got.startswith(want + "\n"):
            got = want  # the stored address follows the title
        if got != want:
            fail("%s: %s %r, expected %r" % (where, k, got, want))
    start = check_times(where, ev, e)
    if start is None:
        return
    p = ev.get("DTSTART")
    if p is not None and p.params.get("TZID"):
        tzids.add(str(p.params["TZID"]))
    if rule_fields(ev) != e["rrule"]:
        fail("%s: rrule %r, expected %r" % (where, rule_fields(ev), e["rrule"]))
    got_ex = sorted(fmt(x) for x in exdates(ev))
    if got_ex != sorted(e["exdates"]):
        fail("%s: exdates %r, expected %r" % (where, got_ex, e["exdates"]))
    occ = expand(ev, start, e["all_day"])
    if occ != e["occurrences"]:
        fail("%s: occurrences %r, expected %r" % (where, occ, e["occurrences"]))
    if alarms(ev) != e["alarms"]:
        fail("%s: alarms %r, expected %r" % (where, alarms(ev), e["alarms"]))
    if attendees(ev) != e["attendees"]:
        fail("%s: attendees %r, expected %r" % (where, attendees(ev), e["attendees"]))
    got_ov = {}
    for o in overrides:
        rid, _ = prop_time(o, "RECURRENCE-ID")
        got_ov[fmt(rid)] = o
    if sorted(got_ov) != sorted(x["recurrence_id"] for x in e["overrides"]):
        fail("%s: overrides at %r, expected %r" % (where, sorted(got_ov),
                                                   [x["recurrence_id"] for x in e["overrides"]]))
    for x in e["overrides"]:
        o = got_ov.get(x["recurrence_id"])
        if o is None:
            continue
        w = "%s override %s" % (where, x["recurrence_id"])
        st, _ = prop_time(o, "DTSTART")
        en, _ = prop_time(o, "DTEND")
        if fmt(st) != x["start"] or fmt(en) != x["end"]:
            fail("%s: %s..%s, expected %s..%s" % (w, fmt(st), fmt(en), x["start"], x["end"]))
        if text(o, "SUMMARY") != x["summary"]:
            fail("%s: summary %r, expected %r" % (w, text(o, "SUMMARY"), x["summary"]))


def main():
    truth = json.load(open(sys.argv[1], encoding="utf-8"))
    cdir = os.path.join(sys.argv[2], "calendars")
    if truth.get("schema") == "future":
        if os.path.exists(cdir):
            fail("an unknown (future) schema was exported")
        return
    if not os.path.isdir(cdir):
        fail("no calendars/ directory")
        return
    files = {}
    for name in sorted(os.listdir(cdir)):
        if not name.endswith(".ics"):
            fail("calendars/%s: not an .ics" % name)
            continue
        data = open(os.path.join(cdir, name), "rb").read()
        if not data.endswith(b"\r\n"):
            fail("calendars/%s: does not end with CRLF" % name)
        for i, line in enumerate(data.split(b"\r\n")[:-1]):
            if len(line) > 75 or b"\n" in line:
                fail("calendars/%s:%d: not a folded CRLF line of at most 75 octets" % (name, i + 1))
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                fail("calendars/%s:%d: a fold splits a UTF-8 character" % (name, i + 1))
        cal = icalendar.Calendar.from_ical(data)
        title = str(cal.get("X-WR-CALNAME", name[:-4]))
        files[title] = (name, cal)
    want = [c for c in truth["calendars"] if c["events"]]
    if len(files) != len(want):
        fail("%d calendar files, %d calendars with events" % (len(files), len(want)))
    for c in want:
        if c["title"] not in files:
            fail("calendar %r: no file" % c["title"])
            continue
        name, cal = files[c["title"]]
        zones = set(str(z["TZID"]) for z in cal.walk("VTIMEZONE"))
        masters, overrides = {}, {}
        for ev in cal.walk("VEVENT"):
            uid = text(ev, "UID")
            if ev.get("RECURRENCE-ID") is not None:
                overrides.setdefault(uid, []).append(ev)
            elif uid in masters:
                fail("%s: UID %s twice" % (name, uid))
            else:
                masters[uid] = ev
        if len(masters) != len(c["events"]):
            fail("%s: %d events, expected %d" % (name, len(masters), len(c["events"])))
        tzids = set()
        for e in c["events"]:
            where = "%s: %s (%r)" % (name, e["uid"], e["summary"])
            ev = masters.get(e["uid"])
            if ev is None:
                fail("%s: missing" % where)
                continue
            check_event(where, ev, e, overrides.get(e["uid"], []), tzids)
        for o in overrides:
            if o not in masters:
                fail("%s: override of unknown UID %s" % (name, o))
        for z in sorted(tzids - zones):
            fail("%s: TZID %s has no VTIMEZONE" % (name, z))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: check-calendars.py TRUTH_JSON EXPORT_DIR", file=sys.stderr)
        sys.exit(2)
    main()
    for e in errors[:50]:
        print("FAIL: " + e)
    if len(errors) > 50:
        print("FAIL: ... %d differences in all" % len(errors))
    sys.exit(1 if errors else 0)
