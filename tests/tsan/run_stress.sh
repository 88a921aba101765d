#!/usr/bin/env bash
# TSan stress for `ferry run`'s reload (`make test TSAN=1`): ferry run, built with ThreadSanitizer, with two event
# loops, rereads its file on SIGHUP every 0.2 s while the bench's load generator churns through a listener that
# stays (its relay mode and target change: each loop swaps the context its sockets serve), a listener comes and
# goes (bound by the main thread, handed to the loops, closed by them), and the [server]s of a `via = proxies`
# listener change (the prober, probing them through microsocks every second, keeps or drops their statistics).
# Pass: no ThreadSanitizer report, ferry still runs, every reload logged, the load got through with no failure.
#   TSAN_STRESS_SECONDS (default 20), TSAN_STRESS_MIN_CONNS (default 2000).
source "$(dirname "$0")/../e2e/lib.sh"

BUILD=${BUILD:-build/tsan}
[[ $BUILD == /* ]] || BUILD=$REPO_ROOT/$BUILD
LOADGEN=$BUILD/bench/loadgen
ECHO=$BUILD/bench/echo
D=${TSAN_STRESS_SECONDS:-20}
MIN_CONNS=${TSAN_STRESS_MIN_CONNS:-2000}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
for tool in "$LOADGEN" "$ECHO"; do
    [[ -x $tool ]] || { not_ok "$tool built (make test TSAN=1 builds it)"; finish; }
done
for tool in microsocks dnsmasq; do
    command -v "$tool" >/dev/null || { not_ok "$tool installed (make deps)"; finish; }
done

ns_new NS tsanrun
in_ns "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10240 65535" net.core.somaxconn=4096
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000 --listen 127.0.0.1:2001
bg_ns "$NS" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --pid-file= --listen-address=127.0.0.1 --bind-interfaces --port=53 --address=/#/127.0.0.1
for i in 1 2; do bg_ns "$NS" "microsocks$i" microsocks -i 127.0.0.1 -p "108$i"; done
for p in 2000 2001 53 1081 1082; do
    wait_tcp_listen "$NS" "$p" 5 || { not_ok "peer on port $p listens"; finish; }
done

CONF=$WORK/ferry.ini
# write_config I: version I of the file (atomically).
write_config() {
    local i=$1 relays=(splice adaptive copy)
    {
        printf '[ferry]\nthreads = 2\nlog-level = info\nprobe = 1\ntest-dns = 127.0.0.1:53\n'
        printf 'status = 127.0.0.1:2099\n\n'
        printf '[listener main]\nlisten = 127.0.0.1:7001\ninbound = plain\ntarget = 127.0.0.1:%d\nrelay = %s\n\n' \
            $((2000 + i % 2)) "${relays[i % 3]}"
        printf '[listener socks]\nlisten = 127.0.0.1:7003\ninbound = socks5\nvia = proxies\n\n'
        printf '[server one]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
        ((i % 3 == 1)) && printf 'score base = %d\n' $((RANDOM % 100))
        if ((i % 2)); then
            printf '\n[server two]\naddress = 127.0.0.1:1082\nprotocol = socks5\n'
            printf '\n[listener extra]\nlisten = 127.0.0.1:7004\ninbound = plain\ntarget = 127.0.0.1:2000\n'
        fi
    } >"$CONF.new"
    mv "$CONF.new" "$CONF"
}
write_config 0
start_run "$NS" "$CONF" 7001 7003 || finish
check_eq "ferry runs two event loops and the prober (3+ threads)" yes \
    "$( (($(ls "/proc/$PROXY_PID/task" | wc -l) >= 4)) && echo yes || ls "/proc/$PROXY_PID/task" | wc -l)"

bg_ns "$NS" loadgen "$LOADGEN" --target 127.0.0.1:7001 --workload churn --json --header none --connections 20 \
    --duration "$D" --warmup 0 --message-size 64
LOADGEN_PID=$BG_PID
(
    while kill -0 "$LOADGEN_PID" 2>/dev/null; do
        in_ns "$NS" curl -sS --max-time 5 -o /dev/null http://127.0.0.1:2099/status 2>/dev/null
        sleep 0.3
    done
) &
E2E_PIDS+=("$!")
reloads=0
while kill -0 "$LOADGEN_PID" 2>/dev/null && proxy_alive; do
    sleep 0.2
    write_config $((reloads + 1))
    kill -HUP "$PROXY_PID" 2>/dev/null
    reloads=$((reloads + 1))
done
wait "$LOADGEN_PID"
sleep 1.5
load=$(cat "$WORK/loadgen.out")
note "loadgen: $load"
if grep -q 'WARNING: ThreadSanitizer' "$PROXY_LOG"; then
    not_ok "no ThreadSanitizer report" "$(grep -A 40 'WARNING: ThreadSanitizer' "$PROXY_LOG" | head -80)"
else
    ok "no ThreadSanitizer report"
fi
check "ferry still runs" proxy_alive
check_py "a few thousand connections through ferry ($MIN_CONNS at least), none failed" \
    "j0 is not None and j0['completed'] >= $MIN_CONNS and j0['failures'] == 0" "$load"
check_py "$reloads reloads while the load ran (at least 20), each logged as \"reloaded\"" \
    "j0 >= 20 and j1 == j0" "$reloads" "$(log_count "$PROXY_LOG" reloaded)"
finish
