# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests (sourced, POSIX sh). The runner sets BUILD and TOP.
#
#   t_setup                      temp dir $T, cleanup on exit
#   t_profile NAME [ARGS...]     gen-profile into $T/NAME (default --seed 1)
#   t_emulator ARGS...           start fakeidevice on $T/mux + $T/ctl; waits for READY
#   ctl COMMAND...               one control command; its answer on stdout, rc 0 on "ok"
#   t_stop                       quit the emulator and check how it ended (valgrind too)
#   t_fail MSG / t_skip MSG      end the test
#   t_eq WHAT EXPECTED ACTUAL    fail unless equal
#   t_run CMD...                 run a client with a hang guard, output in $OUT, rc in $RC
# With VALGRIND=1 (make check-valgrind) the emulator runs under valgrind.

BUILD=${BUILD:-$(pwd)/build}
TOP=${TOP:-$(pwd)}
FAKE=$BUILD/fakeidevice
EMU_PID=

t_fail() {
        echo "FAIL: $*"
        exit 1
}

t_skip() {
        echo "SKIP: $*"
        exit 77
}

t_eq() {
        [ "$2" = "$3" ] || t_fail "$1: expected '$2', got '$3'"
}

t_cleanup() {
        if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
                kill "$EMU_PID" 2>/dev/null
                wait "$EMU_PID" 2>/dev/null
        fi
        [ -n "${T:-}" ] && [ -d "$T" ] && rm -rf "$T"
}

t_setup() {
        T=$(mktemp -d "${TMPDIR:-/tmp}/idevicesync-test.XXXXXX") || exit 1
        trap t_cleanup EXIT
        trap 'exit 1' INT TERM
        export USBMUXD_SOCKET_ADDRESS="UNIX:$T/mux"
}

t_profile() {
        name=$1
        shift
        [ $# -gt 0 ] || set -- --seed 1
        "$FAKE" gen-profile "$T/$name" "$@" || t_fail "gen-profile $name failed"
}

t_emulator() {
        [ -p "$T/ready.fifo" ] || mkfifo "$T/ready.fifo" || t_fail "mkfifo"
        # Hold the fifo open read-write so READY can be read without racing the writer.
        exec 3<>"$T/ready.fifo"
        if [ "${VALGRIND:-0}" = 1 ]; then
                valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
                        --error-exitcode=99 --log-file="$T/valgrind.log" \
                        "$FAKE" --socket "$T/mux" --control "$T/ctl" "$@" >&3 2>"$T/emu.log" &
        else
                "$FAKE" --socket "$T/mux" --control "$T/ctl" "$@" >&3 2>"$T/emu.log" &
        fi
        EMU_PID=$!
        line=
        read -r line <&3 || true
        [ "$line" = READY ] || { cat "$T/emu.log"; t_fail "emulator did not start: '$line'"; }
}

ctl() {
        "$FAKE" ctl "$T/ctl" "$@"
}

t_stop() {
        [ -n "$EMU_PID" ] || return 0
        ctl quit >/dev/null || t_fail "control quit failed"
        wait "$EMU_PID"
        rc=$?
        EMU_PID=
        if [ -s "$T/valgrind.log" ]; then
                cat "$T/valgrind.log"
        fi
        [ $rc = 0 ] || { cat "$T/emu.log"; t_fail "emulator exited with $rc"; }
}

# A hang guard, not a speed assertion: clients that wait forever are bugs worth a failure.
t_run() {
        OUT=$(timeout -k 5 ${T_TIMEOUT:-120} "$@" 2>&1)
        RC=$?
}

t_stat_field() {        # t_stat_field UDID KEY -> value from `stats`
        ctl stats "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# ---- backups ---------------------------------------------------------------------------

TOOL=$BUILD/tests/tool-ids
# Debian's Python, with the packages tools/debian-packages installs (python3-dbus, vobject,
# icalendar, dateutil): not whatever python3 comes first in PATH.
PY=/usr/bin/python3

# t_tree_hash DIR: one hash over names, types, sizes and contents of everything below DIR.
t_tree_hash() {
        (
                cd "$1" || exit 1
                find . -printf '%y %p %s %m\n' | LC_ALL=C sort
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha1sum
        ) | sha1sum | cut -d' ' -f1
}

# t_backup UDID [ARGS...]: tool-ids backup into $T/state; output in $OUT, rc in $RC,
# the result word in $RESULT and the snapshot id in $SNAP.
t_backup() {
        u=$1
        shift
        t_run "$TOOL" backup "$u" --state "$T/state" "$@"
        RESULT=$(echo "$OUT" | sed -n 's/^result=\([^ ]*\).*/\1/p' | tail -n 1)
        SNAP=$(echo "$OUT" | sed -n 's/^result=.* snapshot=\([^ ]*\).*/\1/p' | tail -n 1)
}

# t_check_backup PROFILE BACKUPDIR: every regular file in BACKUPDIR/Manifest.db is the
# profile's backup/<domain>/<relativePath>, byte for byte, and nothing is missing.
t_check_backup() {
        prof=$1 dir=$2
        [ -f "$dir/Manifest.db" ] || t_fail "no Manifest.db in $dir"
        sqlite3 -separator '|' "$dir/Manifest.db" \
                "SELECT fileID, domain, relativePath FROM Files WHERE flags = 1" \
                > "$T/manifest.rows" || t_fail "cannot read $dir/Manifest.db"
        n=0
        while IFS='|' read -r id dom rel; do
                sub=$(printf %s "$id" | cut -c1-2)
                cmp -s "$dir/$sub/$id" "$prof/backup/$dom/$rel" ||
                        t_fail "backup of $dom/$rel ($id) differs from the device"
                n=$((n + 1))
        done < "$T/manifest.rows"
        want=$(find "$prof/backup" -type f | wc -l)
        [ "$n" = "$want" ] || t_fail "Manifest.db lists $n files, the device has $want"
}

# ---- the daemon on a private bus ---------------------------------------------------------

BUSWAIT=$BUILD/tests/tool-buswait
DAEMON=$BUILD/idevicesyncd
CLI=$BUILD/idevicesync
BUS_PID=
DAEMON_PID=
NOTIFY_PID=

t_cleanup_daemon() {
        # The notify stand-in goes first: a daemon blocked sending to it wakes up and can
        # exit, so a failed test ends instead of waiting for the hang guard.
        for p in $NOTIFY_PID $DAEMON_PID $BUS_PID; do
                kill "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        DAEMON_PID= NOTIFY_PID= BUS_PID=
}

# t_bus: a private system bus with the project's policy; exports DBUS_SYSTEM_BUS_ADDRESS.
t_bus() {
        command -v dbus-daemon >/dev/null || t_skip "dbus-daemon is not installed"
        mkdir -p "$T/system.d"
        chmod 0755 "$T"                 # a non-root caller must reach the bus socket
        cp "$TOP/daemon/org.idevicesync1.conf" "$T/system.d/"
        sed -e "s|@SOCKET@|$T/bus|" -e "s|@POLICYDIR@|$T/system.d|" \
                "$TOP/tests/bus.conf.in" > "$T/bus.conf"
        mkfifo "$T/bus.fifo"
        exec 4<>"$T/bus.fifo"
        dbus-daemon --config-file="$T/bus.conf" --nofork --print-address=1 >&4 2>"$T/bus.log" &
        BUS_PID=$!
        read -r addr <&4 || t_fail "dbus-daemon did not start: $(cat "$T/bus.log")"
        export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$T/bus"
        trap 't_cleanup_daemon; t_cleanup' EXIT
}

# t_daemon [ARGS...]: idevicesyncd with its directories under $T and a fake NOTIFY_SOCKET
# ($T/notify.log gets every message); waits for READY=1. NOTIFY_STALL=1: the fake stops
# reading after READY=1.
t_daemon() {
        mkdir -p "$T/etc" "$T/state" "$T/run"
        # Tests that plug several phones back each up as a phone of its own (NewDevice=new,
        # as a vendor drop-in that any test's own setting overrides); tests of the
        # restore-offer (new-device.test) set T_NEW_DEVICE_ASK=1 to keep the default, ask.
        if [ -z "$T_NEW_DEVICE_ASK" ]; then
                mkdir -p "$T/vendor/idevicesync.conf.d"
                printf '[Backup]\nNewDevice=new\n' \
                        > "$T/vendor/idevicesync.conf.d/00-tests-new-device.conf"
        fi
        if [ -z "$NOTIFY_PID" ]; then
                mkfifo "$T/notify.fifo"
                exec 5<>"$T/notify.fifo"
                "$BUILD/tests/tool-notify" ${NOTIFY_STALL:+--stall-after-ready} \
                        "$T/notify.sock" >&5 &
                NOTIFY_PID=$!
                read -r line <&5
                [ "$line" = LISTENING ] || t_fail "tool-notify did not start"
        fi
        STATE_DIRECTORY="$T/state" CONFIGURATION_DIRECTORY="$T/etc" \
        RUNTIME_DIRECTORY="$T/run" IDEVICESYNC_VENDOR_CONFIG_DIR="$T/vendor" \
        NOTIFY_SOCKET="$T/notify.sock" \
                "$DAEMON" "$@" 2>>"$T/daemon.log" &
        DAEMON_PID=$!
        while read -r line <&5; do
                echo "$line" >> "$T/notify.log"
                case "$line" in *READY=1*) return 0 ;; esac
        done
        t_fail "the daemon never said READY=1: $(cat "$T/daemon.log")"
}

t_stop_daemon() {
        [ -n "$DAEMON_PID" ] || return 0
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID"
        rc=$?
        DAEMON_PID=
        [ $rc = 0 ] || t_fail "the daemon exited with $rc: $(tail -5 "$T/daemon.log")"
}

# Object path of a device (sd_bus_path_encode: '-' becomes _2d).
dev_path() {
        printf '/org/idevicesync1/device/%s' "$(printf %s "$1" | sed 's/-/_2d/g; s/^\([0-9]\)/_3\1/')"
}

# t_wait_prop UDID PROPERTY VALUE...: wait for a device property (hang guard only).
t_wait_prop() {
        u=$1 p=$2
        shift 2
        WAITED=$("$BUSWAIT" prop "$(dev_path "$u")" org.idevicesync1.Device "$p" "$@") ||
                t_fail "$u: $p never became '$*' (last '$WAITED'); $(t_dev_get "$u" StateReason)"
}

# t_dev_get UDID PROPERTY: the value, without the type.
t_dev_get() {
        "$BUSWAIT" get "$(dev_path "$1")" org.idevicesync1.Device "$2"
}
