#!/usr/bin/env bash
# CLI compatibility of ferry's mmproxy mode with Debian's go-mmproxy 2.1: runs the same command lines against
# both and compares exit codes and stderr. No network namespace needed: the only sockets are listeners on
# 127.0.0.1 high ports, and every process is ended by `timeout`.
#
# Both programs are started as "go-mmproxy" (a symlink to each in its own directory, found through PATH), so
# Go's "Usage of <argv0>:" heading must read the same; ferry picks its mode from argv[0]'s basename.
#
# Environment:
#   FERRY            ferry binary (default build/ferry)
#   GO_MMPROXY       reference binary (default /usr/bin/go-mmproxy)
#   FERRY_RUN_ARGS   extra leading flags for ferry in the cases where it must start listening
#                    (default "-routing=false", so that this test never changes the host's routing)
#
# Output: one line per check, "ok - <name>" or "not ok - <name>" followed by "#"-prefixed details.
# Exit status 0 iff every check is ok.
set -u

FERRY=${FERRY:-build/ferry}
GO_MMPROXY=${GO_MMPROXY:-/usr/bin/go-mmproxy}
read -r -a FERRY_RUN_ARGS <<<"${FERRY_RUN_ARGS--routing=false}"

kRunSeconds=1     # how long a listening process is left running before `timeout` ends it
kExitSeconds=10   # upper bound for a process that is expected to exit by itself

failures=0
passes=0

ok() {
    echo "ok - $1"
    passes=$((passes + 1))
}

not_ok() {
    local name=$1
    shift
    echo "not ok - $name"
    local line
    for line in "$@"; do printf '%s\n' "$line" | head -n 20 | sed 's/^/#   /'; done
    failures=$((failures + 1))
}

abs_path() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }

if [[ ! -x $GO_MMPROXY ]]; then
    not_ok "reference $GO_MMPROXY is installed" "apt-get install go-mmproxy"
    exit 1
fi
if [[ ! -x $FERRY ]]; then
    not_ok "ferry binary $FERRY exists" "build it first (make), or set FERRY"
    exit 1
fi

T=$(mktemp -d /tmp/ferry-cli-compat.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/ref" "$T/ferry"
ln -s "$(abs_path "$GO_MMPROXY")" "$T/ref/go-mmproxy"
ln -s "$(abs_path "$FERRY")" "$T/ferry/go-mmproxy"
FERRY_ABS=$(abs_path "$FERRY")

# A TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 40000))
        if [[ -z $(ss -Htln "sport = :$p" 2>/dev/null) && -z $(ss -Huln "sport = :$p" 2>/dev/null) ]]; then
            echo "$p"
            return 0
        fi
    done
    echo 28443
}

# run WHICH SECONDS ARGS...: runs `go-mmproxy ARGS` from $T/WHICH with a time limit; leaves the exit code in
# $T/WHICH.rc, stdout in $T/WHICH.out and stderr in $T/WHICH.err.
run() {
    local which=$1 seconds=$2
    shift 2
    (
        cd "$T" || exit 99
        timeout -k 3 "$seconds" env PATH="$T/$which:$PATH" go-mmproxy "$@" >"$T/$which.out" 2>"$T/$which.err"
        echo $? >"$T/$which.rc"
    )
}

run_both() {
    local seconds=$1
    shift
    run ref "$seconds" "$@"
    run ferry "$seconds" "$@"
}

rc() { cat "$T/$1.rc"; }

# Usage text as one line per flag (continuation lines joined with a literal "\n"); the heading stays line 1.
usage_blocks() {
    awk 'NR == 1 { print; next }
         /^  -/ { if (b != "") print b; b = $0; next }
         { b = b "\\n" $0 }
         END { if (b != "") print b }' "$1"
}

# usage_compatible REF FERRY: same heading, and every go-mmproxy flag block appears in ferry's usage,
# byte for byte and in the same order (ferry adds flags of its own).
usage_compatible() {
    usage_blocks "$1" >"$T/ub.ref"
    usage_blocks "$2" >"$T/ub.ferry"
    [[ $(head -n 1 "$T/ub.ref") == "$(head -n 1 "$T/ub.ferry")" ]] || return 1
    [[ $(wc -l <"$T/ub.ref") -ge 10 ]] || return 1  # the heading and go-mmproxy's 9 flags at least
    awk 'NR == FNR { want[++n] = $0; next }
         i < n && $0 == want[i + 1] { i++ }
         END { exit !(i == n) }' "$T/ub.ref" "$T/ub.ferry"
}

usage_diff() { diff "$T/ub.ref" "$T/ub.ferry" | head -n 12; }

# The fatal log line of a run, without the keys that cannot match (ts, caller, stacktrace), as compact
# JSON; "" when there is none.
fatal_line() {
    if command -v jq >/dev/null 2>&1; then
        jq -R -c -S 'fromjson? | select(type == "object" and .level == "fatal") | del(.ts, .caller, .stacktrace)' \
            "$T/$1.err" 2>/dev/null | head -n 1
    else
        grep -m 1 '"level":"fatal"' "$T/$1.err" | sed -E 's/"ts":[^,]*,//; s/"caller":"[^"]*",//; s/,"stacktrace":.*\}$/}/'
    fi
}

fatal_msg() {
    if command -v jq >/dev/null 2>&1; then
        jq -R -r 'fromjson? | select(type == "object" and .level == "fatal") | .msg' "$T/$1.err" 2>/dev/null |
            head -n 1
    else
        grep -m 1 '"level":"fatal"' "$T/$1.err" | sed -E 's/.*"msg":"([^"]*)".*/\1/'
    fi
}

# ---------------------------------------------------------------------------------------------------------
# Help: exit 0, usage on stderr, nothing on stdout.
for h in -h -help --h --help -h=1; do
    name="help $h"
    run_both "$kExitSeconds" "$h"
    if [[ $(rc ref) != 0 || $(rc ferry) != 0 ]]; then
        not_ok "$name" "exit codes: go-mmproxy $(rc ref), ferry $(rc ferry)"
    elif [[ -s $T/ref.out || -s $T/ferry.out ]]; then
        not_ok "$name" "stdout is not empty" "$(head -n 3 "$T/ferry.out")"
    elif ! usage_compatible "$T/ref.err" "$T/ferry.err"; then
        not_ok "$name" "usage differs:" "$(usage_diff)"
    else
        ok "$name"
    fi
done

# The same through `ferry mmproxy`: whatever the heading says, the flags are the same as through the symlink.
run ferry "$kExitSeconds" -h
(timeout -k 3 "$kExitSeconds" "$FERRY_ABS" mmproxy -h >"$T/sub.out" 2>"$T/sub.err"; echo $? >"$T/sub.rc")
if [[ $(cat "$T/sub.rc") != 0 ]]; then
    not_ok "ferry mmproxy -h" "exit code $(cat "$T/sub.rc")" "$(head -n 3 "$T/sub.err")"
elif [[ $(head -n 1 "$T/sub.err") != "Usage of "*: ]] ||
    ! diff <(tail -n +2 "$T/ferry.err") <(tail -n +2 "$T/sub.err") >/dev/null; then
    not_ok "ferry mmproxy -h" "usage differs from the go-mmproxy symlink's:" \
        "$(diff <(tail -n +2 "$T/ferry.err") <(tail -n +2 "$T/sub.err") | head -n 8)" "$(head -n 1 "$T/sub.err")"
else
    ok "ferry mmproxy -h"
fi

(timeout -k 3 "$kExitSeconds" "$FERRY_ABS" mmproxy -x >"$T/sub.out" 2>"$T/sub.err"; echo $? >"$T/sub.rc")
if [[ $(cat "$T/sub.rc") == 2 && $(head -n 1 "$T/sub.err") == "flag provided but not defined: -x" ]]; then
    ok "ferry mmproxy -x"
else
    not_ok "ferry mmproxy -x" "exit code $(cat "$T/sub.rc")" "$(head -n 2 "$T/sub.err")"
fi

# ---------------------------------------------------------------------------------------------------------
# Flag errors: exit 2, Go's message, then the usage.
flag_error_case() {
    local name=$1
    shift
    run_both "$kExitSeconds" "$@"
    local ref_first ferry_first
    ref_first=$(head -n 1 "$T/ref.err")
    ferry_first=$(head -n 1 "$T/ferry.err")
    tail -n +2 "$T/ref.err" >"$T/ref.usage"
    tail -n +2 "$T/ferry.err" >"$T/ferry.usage"
    if [[ $(rc ref) != 2 || $(rc ferry) != 2 ]]; then
        not_ok "$name" "exit codes: go-mmproxy $(rc ref), ferry $(rc ferry) (want 2)" "$(head -n 2 "$T/ferry.err")"
    elif [[ $ref_first != "$ferry_first" ]]; then
        not_ok "$name" "go-mmproxy: $ref_first" "ferry:      $ferry_first"
    elif [[ -s $T/ref.out || -s $T/ferry.out ]]; then
        not_ok "$name" "stdout is not empty"
    elif ! usage_compatible "$T/ref.usage" "$T/ferry.usage"; then
        not_ok "$name" "usage after the message differs:" "$(usage_diff)"
    else
        ok "$name"
    fi
}

flag_error_case "unknown flag -x" -x
flag_error_case "unknown flag after valid ones" -mark 1 --nope=2
flag_error_case "missing argument -l" -l
flag_error_case "missing argument -mark" -v 1 -mark
flag_error_case "bad int -mark abc" -mark abc
flag_error_case "bad int -mark 1e3" -mark 1e3
flag_error_case "bad int -listeners 1.5" -listeners 1.5
flag_error_case "bad int -v= (empty)" -v=
flag_error_case "bad int -mark _1 (underscore rules)" -mark _1
flag_error_case "int out of range" -mark 99999999999999999999
flag_error_case "int out of range (negative)" -mark -9223372036854775809
flag_error_case "bad flag syntax ---x" ---x
flag_error_case "bad flag syntax -=x" -=x
flag_error_case "flag error before validation" -p xyz -x

# ---------------------------------------------------------------------------------------------------------
# Validation failures: exit 1 with a zap fatal line; the message and the extra fields must match.
validation_case() {
    local name=$1
    shift
    run_both "$kExitSeconds" "$@"
    local ref_line ferry_line want
    ref_line=$(fatal_line ref)
    ferry_line=$(fatal_line ferry)
    # ferry accepts -p all too and says so.
    want=${ref_line//has to be one of udp, tcp\"/has to be one of udp, tcp, all\"}
    if [[ $(rc ref) != 1 || $(rc ferry) != 1 ]]; then
        not_ok "$name" "exit codes: go-mmproxy $(rc ref), ferry $(rc ferry) (want 1)" "$(head -n 2 "$T/ferry.err")"
    elif [[ -z $ref_line ]]; then
        not_ok "$name" "no fatal line from go-mmproxy" "$(head -n 2 "$T/ref.err")"
    elif [[ $want != "$ferry_line" ]]; then
        not_ok "$name" "want:  $want" "ferry: ${ferry_line:-$(head -n 2 "$T/ferry.err")}"
    else
        ok "$name"
    fi
}

validation_case "-mark -1" -mark -1
validation_case "-mark -0x10" -mark -0x10
validation_case "-listeners 0" -listeners 0
validation_case "-v -1" -v -1
validation_case "-close-after -1" -close-after -1
validation_case "-p xyz" -p xyz
validation_case "-p= (empty)" -p=
validation_case "last occurrence wins (-p udp -p xyz)" -p udp -p xyz
validation_case "check order: protocol first" -close-after -1 -listeners 0 -v -1 -mark -1 -p x
validation_case "check order: mark before -v" -close-after -1 -listeners 0 -v -1 -mark -1
validation_case "check order: -v before listeners" -close-after -1 -listeners 0 -v -1
validation_case "check order: listeners before close-after" -close-after -1 -listeners 0

# ---------------------------------------------------------------------------------------------------------
# Command lines that start the proxy: both must still be running when `timeout` ends them (exit 124).
running_case() {
    local name=$1
    shift
    local port
    port=$(free_port)
    local args=("${@//@PORT@/$port}")
    run ref "$kRunSeconds" "${args[@]}"
    run ferry "$kRunSeconds" "${FERRY_RUN_ARGS[@]}" "${args[@]}"
    if [[ $(rc ref) == 124 && $(rc ferry) == 124 ]]; then
        ok "$name"
    else
        not_ok "$name" "exit codes: go-mmproxy $(rc ref), ferry $(rc ferry) (want 124 from both)" \
            "go-mmproxy: $(head -n 2 "$T/ref.err")" "ferry: $(head -n 2 "$T/ferry.err")"
    fi
}

running_case "plain -l" -l 127.0.0.1:@PORT@
running_case "base-0 ints (-mark 0x10 -v 0o2 -listeners 0b10 -close-after 0_60)" \
    -l 127.0.0.1:@PORT@ -mark 0x10 -v 0o2 -listeners 0b10 -close-after 0_60
running_case "signed and separated ints (-mark +5 -close-after 1_000)" -l 127.0.0.1:@PORT@ -mark +5 -close-after 1_000
running_case "octal int (-listeners 010)" -l 127.0.0.1:@PORT@ -listeners 010
running_case "-f=v and --f v forms" --l=127.0.0.1:@PORT@ --mark 7 -v=2
running_case "trailing positional ignored" -l 127.0.0.1:@PORT@ foo -p xyz -x
running_case "-- ends the flags" -l 127.0.0.1:@PORT@ -- -p xyz
running_case "- alone is positional" -l 127.0.0.1:@PORT@ - -mark -1
running_case "last occurrence wins (-p xyz -p tcp)" -p xyz -p tcp -l 127.0.0.1:@PORT@
running_case "valid -4 and -6 targets" -l 127.0.0.1:@PORT@ -4 127.0.0.2:1 -6 "[::2]:65535"

# ---------------------------------------------------------------------------------------------------------
# Intentional differences: ferry checks the addresses (and the 32-bit mark) up front and exits 1.
difference_case() {
    local name=$1 want_ref_rc=$2 want_msg=$3
    shift 3
    local port
    port=$(free_port)
    local args=("${@//@PORT@/$port}")
    run ref "$kRunSeconds" "${args[@]}"
    run ferry "$kExitSeconds" "${args[@]}"
    local msg
    msg=$(fatal_msg ferry)
    if [[ $(rc ref) != "$want_ref_rc" ]]; then
        not_ok "$name" "go-mmproxy exit code $(rc ref), expected $want_ref_rc" "$(head -n 2 "$T/ref.err")"
    elif [[ $(rc ferry) != 1 ]]; then
        not_ok "$name" "ferry exit code $(rc ferry), want 1" "$(head -n 2 "$T/ferry.err")"
    elif [[ $msg != "$want_msg" ]]; then
        not_ok "$name" "want:  $want_msg" "ferry: ${msg:-$(head -n 2 "$T/ferry.err")}"
    else
        ok "$name"
    fi
}

difference_case "bad -l: ferry exits 1, 2.1 exits 0 after failing to bind" 0 \
    '-l "bogus" is not a valid listen address (ip:port, [ipv6]:port or :port): missing port in address' \
    -l bogus
difference_case "host name in -l: ferry exits 1, 2.1 resolves it" 124 \
    '-l "localhost:0" is not a valid listen address (ip:port, [ipv6]:port or :port): not an IP address' \
    -l localhost:0
difference_case "IPv6 -4: ferry exits 1, 2.1 runs" 124 '-4 "[::1]:5" is not an IPv4 address:port' \
    -l 127.0.0.1:@PORT@ -4 "[::1]:5"
difference_case "IPv4 -6: ferry exits 1, 2.1 runs" 124 '-6 "127.0.0.1:443" is not an IPv6 [address]:port' \
    -l 127.0.0.1:@PORT@ -6 127.0.0.1:443
difference_case "port 0 in -4: ferry exits 1, 2.1 runs" 124 \
    '-4 "127.0.0.1:0": the port has to be between 1 and 65535' -l 127.0.0.1:@PORT@ -4 127.0.0.1:0
difference_case "-mark beyond 32 bits: ferry exits 1, 2.1 runs" 124 '--mark has to be <= 4294967295' \
    -l 127.0.0.1:@PORT@ -mark 4294967296
# Until the UDP mode lands (issue 7), ferry says so instead of listening; then this becomes a running_case.
running_case "-p udp: both listen" -l 127.0.0.1:@PORT@ -p udp

echo "# $passes passed, $failures failed"
[[ $failures == 0 ]]
