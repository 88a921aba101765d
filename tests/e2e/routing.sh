#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions are called through check()
# End-to-end test of ferry's policy routing (src/routing.cpp) through tests/tools/routing_probe, run as root.
# Every scenario gets its own network namespace (ferry-rt-<pid>-<random>-<letter>); all of them are removed
# on exit, even on failure. The host's routing is never touched.
#
# Checks, one line each ("ok - <name>" / "not ok - <name>"); exit status 0 iff all are ok:
#   (a) in a clean namespace the probe adds both rules and both routes, and removes all four at EOF on stdin
#   (b) with the IPv4 rule added by hand first, the probe adds only the other three and the hand-made rule
#       outlives it
#   (c) a second probe running alongside the first adds nothing, and its exit leaves the first's routing
#   (d) with IPv6 disabled in the namespace the probe still sets up IPv4, and says it skipped IPv6
#   (e) a table whose default slot holds another route makes the probe fail and leave nothing behind
#   (f) without CAP_NET_ADMIN the probe fails with a message saying what is needed
#   (g) SIGTERM instead of EOF also removes what was added
#
# Env: ROUTING_PROBE (default build/tools/routing_probe).
set -u

PROBE=${ROUTING_PROBE:-build/tools/routing_probe}
TABLE=123
BASE="ferry-rt-$$-$RANDOM"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ferry-rt.XXXXXX")
NAMESPACES=()
declare -A RUNNING=()  # pids of probes not yet waited for
FAILED=0

cleanup() {
    local pid ns
    for pid in "${!RUNNING[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

check() {  # check NAME COMMAND...: runs COMMAND, prints the result line
    local name=$1
    shift
    if "$@"; then
        echo "ok - $name"
    else
        echo "not ok - $name"
        FAILED=1
    fi
}

skip() {  # skip NAME REASON
    echo "ok - $1 # SKIP $2"
}

if [[ $(id -u) -ne 0 ]]; then
    echo "not ok - routing e2e needs root (network namespaces)"
    exit 1
fi
if [[ ! -x $PROBE ]]; then
    echo "not ok - routing probe not found at $PROBE (set ROUTING_PROBE)"
    exit 1
fi

# new_namespace LETTER: creates the scenario's namespace with lo up; sets NS.
new_namespace() {
    NS="$BASE-$1"
    if ! ip netns add "$NS"; then
        echo "not ok - creating namespace $NS"
        exit 1
    fi
    NAMESPACES+=("$NS")
    ip -n "$NS" link set lo up
}

# Counts of ferry's four pieces of routing in namespace $1.
rule4_count() { ip -n "$1" -4 rule show 2>/dev/null | grep -c "from 127.0.0.1/8 iif lo lookup $TABLE\$"; }
rule6_count() { ip -n "$1" -6 rule show 2>/dev/null | grep -c "from ::1 iif lo lookup $TABLE\$"; }
route4_count() { ip -n "$1" -4 route show table "$TABLE" 2>/dev/null | grep -c '^local default dev lo'; }
route6_count() { ip -n "$1" -6 route show table "$TABLE" 2>/dev/null | grep -c '^local default dev lo'; }

# expect_counts NS RULE4 ROUTE4 RULE6 ROUTE6: true when the namespace holds exactly that many of each.
expect_counts() {
    local ns=$1 got
    got="$(rule4_count "$ns") $(route4_count "$ns") $(rule6_count "$ns") $(route6_count "$ns")"
    if [[ $got != "$2 $3 $4 $5" ]]; then
        echo "# $ns: rule4 route4 rule6 route6 = $got, expected $2 $3 $4 $5" >&2
        ip -n "$ns" -4 rule show >&2
        ip -n "$ns" -6 rule show >&2
        return 1
    fi
}

# start_probe NAME NS [ARGS...]: runs the probe in NS with stdin on a FIFO we hold open and waits until it
# prints "ready" (or exits). Sets PID_<NAME> and FD_<NAME>; output goes to $WORK/NAME.out.
start_probe() {
    local name=$1 ns=$2
    shift 2
    local fifo="$WORK/$name.in" out="$WORK/$name.out" fd pid i
    mkfifo "$fifo"
    ip netns exec "$ns" "$PROBE" "$TABLE" "$@" <"$fifo" >"$out" 2>"$WORK/$name.err" &
    pid=$!
    RUNNING[$pid]=1
    exec {fd}>"$fifo"
    printf -v "PID_$name" '%s' "$pid"
    printf -v "FD_$name" '%s' "$fd"
    for ((i = 0; i < 100; i++)); do
        grep -qx ready "$out" && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    echo "# probe $name not ready after 10s" >&2
    return 1
}

# stop_probe NAME [SIGNAL]: closes the probe's stdin (or sends SIGNAL), waits up to 10s; true iff it exited 0.
stop_probe() {
    local name=$1 signal=${2:-}
    local pid_var="PID_$name" fd_var="FD_$name"
    local pid=${!pid_var} fd=${!fd_var} i rc
    if [[ -n $signal ]]; then
        kill "-$signal" "$pid"
    fi
    exec {fd}>&-
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "# probe $name still running after 10s: killing it" >&2
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null
        unset "RUNNING[$pid]"
        return 1
    fi
    wait "$pid"
    rc=$?
    unset "RUNNING[$pid]"
    if [[ $rc -ne 0 ]]; then
        echo "# probe $name exited with $rc:" >&2
        cat "$WORK/$name.out" "$WORK/$name.err" >&2
    fi
    return "$rc"
}

lines() { grep -c "^$2" "$WORK/$1.out"; }  # lines NAME PREFIX: how many output lines start with PREFIX

# --- (a) clean namespace ---------------------------------------------------------------------------------
new_namespace a
NS_A=$NS
check "clean namespace: probe starts" start_probe a "$NS_A"
check "clean namespace: both rules and both routes added" expect_counts "$NS_A" 1 1 1 1
check "clean namespace: four changes reported" test "$(lines a 'added: ')" -eq 4
check "clean namespace: probe exits 0 at EOF" stop_probe a
check "clean namespace: all four removed" expect_counts "$NS_A" 0 0 0 0
check "clean namespace: four removals reported" test "$(lines a 'removed: ')" -eq 4

# --- (b) IPv4 rule added by hand beforehand ----------------------------------------------------------------
new_namespace b
NS_B=$NS
ip -n "$NS_B" rule add from 127.0.0.1/8 iif lo table "$TABLE"
PREF_BEFORE=$(ip -n "$NS_B" -4 rule show | grep "lookup $TABLE\$")
check "pre-existing rule: probe starts" start_probe b "$NS_B"
check "pre-existing rule: no duplicate, the other three added" expect_counts "$NS_B" 1 1 1 1
check "pre-existing rule: three changes reported" test "$(lines b 'added: ')" -eq 3
check "pre-existing rule: not claimed as added" \
    bash -c "! grep -q '^added: ip rule add from 127.0.0.1/8' '$WORK/b.out'"
check "pre-existing rule: reported as already present" grep -q '^note: ip rule .*already present' "$WORK/b.out"
check "pre-existing rule: probe exits 0 at EOF" stop_probe b
check "pre-existing rule: survives the probe, the rest removed" expect_counts "$NS_B" 1 0 0 0
check "pre-existing rule: unchanged" test "$(ip -n "$NS_B" -4 rule show | grep "lookup $TABLE\$")" = "$PREF_BEFORE"

# --- (c) two probes at once ---------------------------------------------------------------------------------
new_namespace c
NS_C=$NS
check "two probes: first starts" start_probe c1 "$NS_C"
check "two probes: second starts" start_probe c2 "$NS_C"
check "two probes: second adds nothing" test "$(lines c2 'added: ')" -eq 0
check "two probes: nothing duplicated" expect_counts "$NS_C" 1 1 1 1
check "two probes: second exits 0" stop_probe c2
check "two probes: second removes nothing" test "$(lines c2 'removed: ')" -eq 0
check "two probes: first's routing intact after second exits" expect_counts "$NS_C" 1 1 1 1
check "two probes: first exits 0" stop_probe c1
check "two probes: all removed after first exits" expect_counts "$NS_C" 0 0 0 0

# --- (d) IPv6 disabled ------------------------------------------------------------------------------------
new_namespace d
NS_D=$NS
ip netns exec "$NS_D" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
check "IPv6 disabled: probe starts" start_probe d "$NS_D"
check "IPv6 disabled: IPv4 rule and route added, no IPv6" expect_counts "$NS_D" 1 1 0 0
check "IPv6 disabled: two changes reported" test "$(lines d 'added: ')" -eq 2
check "IPv6 disabled: skip is noted" grep -q '^note: IPv6 is disabled' "$WORK/d.out"
check "IPv6 disabled: probe exits 0 at EOF" stop_probe d
check "IPv6 disabled: all removed" expect_counts "$NS_D" 0 0 0 0

# --- (e) the table's default slot is taken by another route --------------------------------------------------
new_namespace e
NS_E=$NS
ip -n "$NS_E" route add unicast default dev lo table "$TABLE"
ip netns exec "$NS_E" "$PROBE" "$TABLE" </dev/null >"$WORK/e.out" 2>&1
RC_E=$?
check "occupied table: probe fails" test "$RC_E" -ne 0
check "occupied table: error names the route" grep -q '^error: adding ip route local 0.0.0.0/0 dev lo table' \
    "$WORK/e.out"
check "occupied table: the rule it added is rolled back" expect_counts "$NS_E" 0 0 0 0
check "occupied table: the other route is kept" \
    test "$(ip -n "$NS_E" -4 route show table "$TABLE" | grep -c '^default dev lo')" -eq 1

# --- (f) no CAP_NET_ADMIN -------------------------------------------------------------------------------------
new_namespace f
NS_F=$NS
if command -v setpriv >/dev/null; then
    ip netns exec "$NS_F" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
        "$PROBE" "$TABLE" </dev/null >"$WORK/f.out" 2>&1
    RC_F=$?
    check "unprivileged: probe fails" test "$RC_F" -ne 0
    check "unprivileged: error says CAP_NET_ADMIN is needed" grep -q 'needs CAP_NET_ADMIN' "$WORK/f.out"
    check "unprivileged: nothing changed" expect_counts "$NS_F" 0 0 0 0
else
    skip "unprivileged: probe fails" "setpriv not installed"
fi

# --- (g) SIGTERM -------------------------------------------------------------------------------------------
new_namespace g
NS_G=$NS
check "SIGTERM: probe starts" start_probe g "$NS_G"
check "SIGTERM: probe exits 0" stop_probe g TERM
check "SIGTERM: all removed" expect_counts "$NS_G" 0 0 0 0

exit "$FAILED"
