#!/usr/bin/env bash
# mmproxy: running out of file descriptors. With a hard RLIMIT_NOFILE of 24, connections that never send a
# header use up the fds; accept4 fails with EMFILE. The proxy must log it, pause the listener (no busy loop,
# no exit), and serve again once the fds come back. go-mmproxy 2.1 stops its listener for good (issue #10).
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
PROXY_CMD="prlimit --nofile=24:24 $PROXY_CMD"
args=(-v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT")
# (-max-connections: ferry's own limit would otherwise make room by closing the oldest stalled connections
# before the fds run out; tests/e2e/overload.sh covers that. Here the fds must run out.)
if $PROXY_IS_FERRY; then args+=(-threads 1 -header-timeout 60s -max-connections 1000); fi
start_proxy "$NS_P" "${args[@]}" || finish

# Hold 40 connections that send nothing for 4 seconds, then close them all.
bg_ns "$NS_C" holder "$PYTHON" -c '
import socket, sys, time
socks = []
for i in range(40):
    s = socket.socket(); s.settimeout(2)
    s.connect(("'"$P4"'", 8443)); socks.append(s)
time.sleep(4)
for s in socks: s.close()
'
sleep 1.5
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PROXY_PID/stat" 2>/dev/null; }
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
check "accept4 EMFILE is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "failed to accept new connection" \
    --key error --timeout 1
check "the log names the cause (too many open files)" grep -q 'accept4: too many open files' "$PROXY_LOG"
if $PROXY_IS_FERRY || [[ $RUN_ALL == 1 ]]; then
    check "the listener pauses instead of spinning (log line)" grep -q '"msg":"pausing listener"' "$PROXY_LOG"
    check_py "no busy loop while out of fds (<= 0.3 s CPU in 2 s)" "j0 <= 30" "$(( ${t1:-999} - ${t0:-0} ))"
    check "the proxy is still running while out of fds" proxy_alive
    # The holder closes its connections at ~4 s; then a normal connection must work again.
    sleep 2.5
    next_port
    c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.9 192.0.2.1 $NEXT_PORT 443\r\n" \
        --send-bytes 4096 --seed 5 --shutdown-after-send --timeout 10)
    expect_relay "after recovery" "$c" "$(server_conn "203.0.113.9:$NEXT_PORT")" "203.0.113.9:$NEXT_PORT"
    check "the listener says it resumed" grep -q '"msg":"listener resumed"' "$PROXY_LOG"
    check "the proxy is still running after recovery" proxy_alive
fi
finish
