# SPDX-License-Identifier: LGPL-2.1-or-later
"""Build a small IPA for the tests (Python's zipfile and plistlib, not our code).

    make-ipa.py OUT --id BUNDLE_ID [--name NAME] [--version 1.0] [--build 1]
                [--udid UDID]... [--binary] [--stored] [--filler BYTES]

An IPA is a ZIP with Payload/<NAME>.app/Info.plist. --udid adds
Payload/<NAME>.app/embedded.mobileprovision whose ProvisionedDevices lists those UDIDs (a
real one is that plist inside a CMS signature: the emulator reads the UDIDs as text), so
the app counts as signed for those devices. --binary writes a binary Info.plist (as Xcode
does), --stored leaves the members uncompressed, --filler adds an executable of that many
pseudo-random bytes (so the upload has some size).
"""
import argparse
import plistlib
import random
import zipfile

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--id", required=True)
ap.add_argument("--name", default=None)
ap.add_argument("--version", default="1.0")
ap.add_argument("--build", default="1")
ap.add_argument("--udid", action="append", default=[])
ap.add_argument("--binary", action="store_true")
ap.add_argument("--stored", action="store_true")
ap.add_argument("--filler", type=int, default=0)
a = ap.parse_args()

name = a.name or a.id.rsplit(".", 1)[-1]
app = "Payload/%s.app/" % name
info = {
    "CFBundleIdentifier": a.id,
    "CFBundleName": name,
    "CFBundleDisplayName": name,
    "CFBundleShortVersionString": a.version,
    "CFBundleVersion": a.build,
    "CFBundleExecutable": name,
    "CFBundlePackageType": "APPL",
    "MinimumOSVersion": "15.0",
}
fmt = plistlib.FMT_BINARY if a.binary else plistlib.FMT_XML
method = zipfile.ZIP_STORED if a.stored else zipfile.ZIP_DEFLATED
with zipfile.ZipFile(a.out, "w", method) as z:
    z.writestr(app + "Info.plist", plistlib.dumps(info, fmt=fmt))
    exe = random.Random(a.id + a.version).randbytes(a.filler) if a.filler else b"\xcf\xfa\xed\xfe"
    z.writestr(app + name, exe)
    if a.udid:
        prov = {
            "AppIDName": name,
            "Entitlements": {"application-identifier": "TEAMID1234." + a.id,
                             "get-task-allow": True},
            "Name": "iOS Team Provisioning Profile: " + a.id,
            "ProvisionedDevices": a.udid,
            "TeamIdentifier": ["TEAMID1234"],
        }
        # A stand-in for the CMS wrapper: a DER-ish prefix and suffix around the plist.
        z.writestr(app + "embedded.mobileprovision",
                   b"\x30\x80\x06\x09*\x86H\x86\xf7\r\x01\x07\x02" +
                   plistlib.dumps(prov) + b"\x00\x00")
