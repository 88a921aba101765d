#!/usr/bin/env bash
# TSan stress (`make test TSAN=1` runs it instead of the e2e tier): ferry moproxy, built with ThreadSanitizer,
# with two event loops, its prober probing four microsocks SOCKS5 servers every second, and the status page, while
# the bench's load generator pushes a few thousand short connections through it (REDIRECTed, as its own uid),
# the server list is rewritten and reloaded with SIGHUP every 0.2 s, and the status page (HTML, JSON, metrics) is
# read over and over: every thread ferry has (main: signals and reloads; loops: connections, the RCU-read
# ranking, the servers' counters, the status server; prober: probes, scores, publishing) is busy at once.
# Pass: no ThreadSanitizer report (TSAN_OPTIONS halt_on_error=1: the first one ends ferry, and finish() finds it
# in the log), ferry still runs, every reload logged, the load got through with no failure.
#   TSAN_STRESS_SECONDS (default 20), TSAN_STRESS_MIN_CONNS (default 2000: fewer means the stress did not stress).
source "$(dirname "$0")/../e2e/lib.sh"

BUILD=${BUILD:-build/tsan}
[[ $BUILD == /* ]] || BUILD=$REPO_ROOT/$BUILD
LOADGEN=$BUILD/bench/loadgen
ECHO=$BUILD/bench/echo
D=${TSAN_STRESS_SECONDS:-20}
MIN_CONNS=${TSAN_STRESS_MIN_CONNS:-2000}
LOAD_UID=64123
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
for tool in "$LOADGEN" "$ECHO"; do
    [[ -x $tool ]] || { not_ok "$tool built (make test TSAN=1 builds it)"; finish; }
done
for tool in microsocks dnsmasq curl setpriv; do
    command -v "$tool" >/dev/null || { not_ok "$tool installed (make deps)"; finish; }
done

ns_new NS tsan
in_ns "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10240 65535" net.core.somaxconn=4096
in_ns "$NS" iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 2000 -m owner --uid-owner "$LOAD_UID" \
    -j REDIRECT --to-ports 1122 || { not_ok "REDIRECT rule"; finish; }
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000
bg_ns "$NS" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --pid-file= --listen-address=127.0.0.1 --bind-interfaces --port=53 --address=/#/127.0.0.1
for i in 1 2 3 4; do bg_ns "$NS" "microsocks$i" microsocks -i 127.0.0.1 -p "108$i"; done
for p in 2000 53 1081 1082 1083 1084; do
    wait_tcp_listen "$NS" "$p" 5 || { not_ok "peer on port $p listens"; finish; }
done

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
check_eq "ferry runs two event loops and the prober (3+ threads)" yes \
    "$( (($(ls "/proc/$PROXY_PID/task" | wc -l) >= 4)) && echo yes || ls "/proc/$PROXY_PID/task" | wc -l)"

bg_ns "$NS" loadgen setpriv --reuid="$LOAD_UID" --regid="$LOAD_UID" --clear-groups "$LOADGEN" \
    --target 127.0.0.1:2000 --workload churn --json --header none --connections 20 --duration "$D" --warmup 0 \
    --message-size 64
LOADGEN_PID=$BG_PID
(
    while kill -0 "$LOADGEN_PID" 2>/dev/null; do
        for page in status metrics ""; do
            in_ns "$NS" curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:2099/$page" 2>/dev/null
        done
        sleep 0.3
    done
) &
E2E_PIDS+=("$!")
reloads=0
while kill -0 "$LOADGEN_PID" 2>/dev/null && proxy_alive; do
    sleep 0.2
    write_list
    kill -HUP "$PROXY_PID" 2>/dev/null
    reloads=$((reloads + 1))
done
wait "$LOADGEN_PID"
sleep 1.5  # the last reload and probe round
load=$(cat "$WORK/loadgen.out")
note "loadgen: $load"
note "$reloads reloads"
if grep -q 'WARNING: ThreadSanitizer' "$PROXY_LOG"; then
    not_ok "no ThreadSanitizer report" "$(grep -A 40 'WARNING: ThreadSanitizer' "$PROXY_LOG" | head -80)"
else
    ok "no ThreadSanitizer report"
fi
check "ferry still runs" proxy_alive
check_py "a few thousand connections through ferry ($MIN_CONNS at least), none failed" \
    "j0 is not None and j0['completed'] >= $MIN_CONNS and j0['failures'] == 0" "$load"
check_py "$reloads reloads while the load ran (at least 20), each logged as \"reloaded server list\"" \
    "j0 >= 20 and j1 == j0" "$reloads" "$(log_count "$PROXY_LOG" "reloaded server list")"
finish
