# SPDX-License-Identifier: LGPL-2.1-or-later
# Helpers of the mobilebackup2 emulator tests (sourced after tests/lib.sh).
#
#   bk_need                    skip unless Debian's idevicebackup2, sqlite3, plistutil exist
#   bk_run ARGS...             idevicebackup2 ARGS with the hang guard; $OUT (progress bars
#                              removed), $RC = exit status (-ErrorCode & 0xff on failure)
#   bk_expect CODE TEXT ARGS…  bk_run, then require exit status CODE and TEXT in the output
#   bk_verify ROOT UDID PROF   every regular file of PROF/backup is in ROOT/UDID through
#                              Manifest.db, byte-identical, and nothing else is stored
#   bk_plist FILE KEY          the XML value line of KEY in a (binary) plist, e.g. <true/>
#   bk_show                    print $OUT indented (the test's record of what happened)

bk_need() {
        for c in idevicebackup2 sqlite3 plistutil sha1sum; do
                command -v $c >/dev/null 2>&1 || t_skip "$c is not installed"
        done
}

bk_run() {
        t_run idevicebackup2 "$@"
        # Progress bars are redrawn with \r: keep the last state of each line only.
        OUT=$(printf '%s\n' "$OUT" | tr '\r' '\n' | grep -av '^\[' | grep -av '^ *$')
}

bk_show() {
        printf '%s\n' "$OUT" | sed 's/^/    | /'
}

bk_expect() {
        code=$1 text=$2
        shift 2
        bk_run "$@"
        if [ "$RC" != "$code" ] || ! printf '%s\n' "$OUT" | grep -qF -- "$text"; then
                bk_show
                t_fail "idevicebackup2 $*: wanted exit $code and '$text', got exit $RC"
        fi
}

bk_plist() {
        plistutil -i "$1" | grep -A1 "<key>$2</key>" | tail -n 1 | sed 's/^[[:space:]]*//'
}

bk_verify() {
        root=$1 udid=$2 prof=$3
        db=$root/$udid/Manifest.db
        [ -f "$db" ] || t_fail "no $db"
        [ "$(bk_plist "$root/$udid/Status.plist" SnapshotState)" = "<string>finished</string>" ] ||
                t_fail "Status.plist is not finished"
        [ ! -e "$root/$udid/Snapshot" ] || t_fail "a Snapshot directory was left behind"
        sqlite3 -separator '|' "$db" \
                "SELECT fileID, domain, relativePath FROM Files WHERE flags = 1" | sort > "$T/rows"
        (cd "$prof/backup" && find . -type f | sed 's|^\./||' | sort) > "$T/files"
        n=0
        while IFS= read -r f; do
                dom=${f%%/*}
                rel=${f#*/}
                id=$(printf '%s-%s' "$dom" "$rel" | sha1sum | cut -c1-40)
                grep -qxF "$id|$dom|$rel" "$T/rows" || t_fail "not in Manifest.db: $dom $rel"
                sub=$(printf '%s' "$id" | cut -c1-2)
                cmp -s "$prof/backup/$f" "$root/$udid/$sub/$id" || t_fail "content differs: $f"
                n=$((n + 1))
        done < "$T/files"
        rows=$(wc -l < "$T/rows")
        [ "$rows" -eq "$n" ] || t_fail "Manifest.db lists $rows files, the device has $n"
        stored=$(find "$root/$udid" -mindepth 2 -maxdepth 2 -type f -path "$root/$udid/??/*" |
                 wc -l)
        [ "$stored" -eq "$n" ] || t_fail "the backup stores $stored files, the device has $n"
        # Directory rows (flags 2) exist for every directory, domain roots included.
        dirs=$(cd "$prof/backup" && find . -mindepth 1 -type d | wc -l)
        drows=$(sqlite3 "$db" "SELECT count(*) FROM Files WHERE flags = 2")
        [ "$drows" -eq "$dirs" ] || t_fail "Manifest.db lists $drows directories, not $dirs"
}
