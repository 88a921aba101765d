#!/usr/bin/env bash
# TSan stress (`make test TSAN=1` runs tests/tsan instead of the e2e tier): ferry moproxy, built with
# ThreadSanitizer, with two event loops, its prober probing four microsocks SOCKS5 servers every second, and the
# status page, while the bench's load generator pushes a few thousand short connections through it (REDIRECTed,
# as its own uid), the server list is rewritten and reloaded with SIGHUP every 0.2 s, and the status page (HTML,
# JSON, metrics) is read over and over: every thread ferry has (main: signals and reloads; loops: connections,
# the RCU-read ranking, the servers' counters, the status server; prober: probes, scores, publishing) is busy at
# once. Pass: no ThreadSanitizer report, ferry still runs, every reload logged, the load got through.
source "$(dirname "$0")/lib.sh"

LOAD_UID=64123
ns_new NS tsan
tsan_peers "$NS" 1081 1082 1083 1084
in_ns "$NS" iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 2000 -m owner --uid-owner "$LOAD_UID" \
    -j REDIRECT --to-ports 1122 || { not_ok "REDIRECT rule"; finish; }

LIST=$WORK/servers.ini
# write_list: a random non-empty subset of the four servers in a random order, some with a score base.
write_list() {
    local i
    for i in $(shuf -e 1 2 3 4 | head -n $((1 + RANDOM % 4))); do
        printf '[s%s]\naddress = 127.0.0.1:108%s\nprotocol = socks5\n' "$i" "$i"
        ((RANDOM % 3 == 0)) && printf 'score base = %d\n' $((RANDOM % 100))
    done >"$LIST.new"
    mv "$LIST.new" "$LIST"
}
write_list
PROXY_N=1
PROXY_LOG=$WORK/proxy1.log
ip netns exec "$NS" "$FERRY" moproxy -b 127.0.0.1 -p 1122 -l "$LIST" --probe 1 --test-dns 127.0.0.1:53 \
    --threads 2 --stats-bind 127.0.0.1:2099 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
PROXY_PID=$!
E2E_PIDS+=("$PROXY_PID")
E2E_PROXY_LOGS+=("$PROXY_LOG")
note "ferry moproxy (pid $PROXY_PID), TSAN_OPTIONS=$TSAN_OPTIONS"
wait_tcp_listen "$NS" 1122 20 || { not_ok "ferry moproxy listens" "$(tail -n 30 "$PROXY_LOG")"; finish; }
E2E_PROXY_PIDS+=("$PROXY_PID")
check_threads

bg_ns "$NS" loadgen setpriv --reuid="$LOAD_UID" --regid="$LOAD_UID" --clear-groups "$LOADGEN" \
    --target 127.0.0.1:2000 --workload churn --json --header none --connections 20 --duration "$D" --warmup 0 \
    --message-size 64
LOADGEN_PID=$BG_PID
read_status_while "$LOADGEN_PID" http://127.0.0.1:2099/status http://127.0.0.1:2099/metrics http://127.0.0.1:2099/
hup_while "$LOADGEN_PID" write_list
wait "$LOADGEN_PID"
tsan_checks "reloaded server list"
finish
