#!/usr/bin/env bash
# Every input bounded: a configuration file that never ends (/dev/zero) is refused with one clear line naming it
# (it aborted with bad_alloc), counts are capped (-threads 1000000000 took 652 MB before failing), and a
# duration that would overflow its type is refused naming its flag (-close-after 9223372036854775807 closed
# every UDP flow at once). All before anything is bound, with exit status 1, within a few seconds.
source "$(dirname "$0")/lib.sh"

# run NAME WANT_STATUS REGEX cmd...: cmd exits with WANT_STATUS within 10 s and stderr matches REGEX; the peak
# memory it took (ru_maxrss) stays under 100 MB.
run() {
    local name=$1 want=$2 re=$3 rc rss
    shift 3
    /usr/bin/time -f '%M' -o "$WORK/rss" timeout 10 "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    rss=$(tail -n 1 "$WORK/rss" 2>/dev/null)
    [[ $rss =~ ^[0-9]+$ ]] || rss=0
    if [[ $rc == "$want" ]] && grep -qE -- "$re" "$WORK/err" && ((rss < 100000)); then ok "$name"; else
        not_ok "$name" "wanted status $want, < 100 MB and stderr matching: $re" \
            "got status $rc, max RSS ${rss} KB, stderr:" "$(head -c 600 "$WORK/err")"
    fi
}

zero=/dev/zero
run "mmproxy -allowed-subnets /dev/zero: refused, named" 1 \
    '"failed to load allowed subnets file".*"read /dev/zero: larger than 16 MiB, the limit for this file"' \
    "$FERRY" mmproxy -l 127.0.0.1:1 -allowed-subnets "$zero"
run "moproxy -l /dev/zero (server list): refused, named" 1 '/dev/zero: larger than 16 MiB, the limit for this file' \
    "$FERRY" moproxy -l "$zero" -p 1
run "srcproxy client /dev/zero (JSON5): refused, named" 1 \
    'failed to parse config file: /dev/zero: larger than 16 MiB, the limit for this file' \
    "$FERRY" srcproxy client "$zero"
run "ferry run /dev/zero: refused, named" 1 '^.* run: /dev/zero: larger than 16 MiB, the limit for this file$' \
    "$FERRY" run --check "$zero"

run "mmproxy -threads 1000000000: refused at once" 1 '"msg":"-threads has to be <= 1024"' \
    "$FERRY" mmproxy -l 127.0.0.1:1 -threads 1000000000
run "mmproxy -listeners 1000000000: refused at once" 1 '"msg":"--listeners has to be <= 1024"' \
    "$FERRY" mmproxy -l 127.0.0.1:1 -listeners 1000000000
run "mmproxy -close-after 9223372036854775807: refused, no overflow" 1 \
    '"msg":"--close-after has to be <= 9223372036","close-after":9223372036854775807' \
    "$FERRY" mmproxy -l 127.0.0.1:1 -p udp -close-after 9223372036854775807
run "moproxy --threads 1000000000: refused at once (a usage error)" 2 '^error: --threads has to be at most 1024$' \
    "$FERRY" moproxy -p 1 -s 127.0.0.1:1 --threads 1000000000
# 20,000 servers took 600 MB and every fd in the first probe round: at most 1024.
servers=$(seq -s, 30000 31024)
run "moproxy with 1025 servers: refused at once" 1 '"error":"1025 servers, more than the 1024 ferry ranks"' \
    "$FERRY" moproxy -p 1 -s "$servers"
run "tproxy -threads 1000000000: refused at once" 1 'threads must be between 0 and 1024' \
    "$FERRY" tproxy -threads 1000000000

finish
