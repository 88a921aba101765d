#!/usr/bin/env bash
# tproxy: the command line (liproxy's flags and exit codes, ferry's additions) and start-up checks.
source "$(dirname "$0")/lib.sh"

ns_new NS t
ln -s "$FERRY" "$WORK/liproxy"
PLUGIN_DIR=${PLUGIN_DIR:-$(dirname "$FERRY")/plugins}

# run NAME WANT_STATUS STREAM REGEX cmd...: cmd exits with WANT_STATUS within 5 s; STREAM (out|err) matches.
run() {
    local name=$1 want=$2 stream=$3 re=$4 rc
    shift 4
    timeout 5 "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    if [[ $rc == "$want" ]] && grep -qE -- "$re" "$WORK/$stream"; then ok "$name"; else
        not_ok "$name" "wanted status $want and std$stream matching: $re" "got status $rc; stdout:" "$(head -n 5 "$WORK/out")" "stderr:" "$(head -n 5 "$WORK/err")"
    fi
}

run "-h: Go's usage under the liproxy name, exit 0" 0 err "^Usage of $WORK/liproxy:\$" "$WORK/liproxy" -h
run "-h lists -bindAddr with liproxy's default" 0 err 'default "127\.0\.0\.1:9091"' "$WORK/liproxy" -h
run "an unknown flag: exit 2" 2 err '^flag provided but not defined: -nosuch$' "$FERRY" tproxy -nosuch
run "a bad -bindAddr: liproxy's message, exit 1" 1 err '^Invalid bind address \(localhost:1\)\.  Expect <ip>:<port>$' \
    "$FERRY" tproxy -bindAddr localhost:1
run "a plugin that is not there: exit 1, named" 1 out 'msg="cannot set up interceptor" interceptor=plugin error="cannot load /nonexistent\.so' \
    ip netns exec "$NS" "$FERRY" tproxy -interceptors plugin=/nonexistent.so
run "a plugin whose init refuses: exit 1" 1 out 'refused to start' \
    ip netns exec "$NS" "$FERRY" tproxy -interceptors "plugin=$PLUGIN_DIR/replace.so:no-equals-sign"
run "a pcap file that cannot be written: exit 1" 1 out 'error="open /nonexistent/x\.pcap: no such file or directory"' \
    ip netns exec "$NS" "$FERRY" tproxy -interceptors pcap=/nonexistent/x.pcap
run "an unknown interceptor: exit 1" 1 err '^-interceptors: unknown interceptor "gzip"' "$FERRY" tproxy -interceptors gzip
run "without CAP_NET_ADMIN/CAP_NET_RAW: one clear line, exit 1" 1 out 'msg="cannot intercept" error=.*IP_TRANSPARENT.*CAP_NET_ADMIN' \
    ip netns exec "$NS" setpriv --bounding-set -net_admin,-net_raw "$FERRY" tproxy

# Starts, logs liproxy's start-up lines on stdout, exits 0 on SIGTERM.
ip netns exec "$NS" "$FERRY" tproxy -bindAddr 127.0.0.1:9091 >"$WORK/run.out" 2>"$WORK/run.err" &
pid=$!
E2E_PIDS+=("$pid")
wait_tcp_listen "$NS" 9091 5
kill -TERM "$pid"
wait "$pid"
check_eq "SIGTERM: exit 0" 0 "$?"
for msg in 'msg=starting' 'msg=bound address=127\.0\.0\.1:9091' 'msg="accepting incoming flows"'; do
    check "start-up line: $msg" grep -qE "^time=[^ ]+ level=INFO $msg\$" "$WORK/run.out"
done
finish
