#!/usr/bin/env bash
# Zero-downtime restarts in mmproxy mode (-takeover-socket): a new ferry started with the same takeover socket
# receives the running one's listening sockets, and the old one stops accepting, drains and exits 0.
#  - ten restarts under a load generator that never stops (short connections with hashed echoes, and long ones
#    that stay open across every restart): not one connection refused, reset or cut short; each old process
#    exits 0; the policy routing passes from one to the next and the last removes it at exit.
#  - a connection that outlives -drain-timeout is closed at the deadline; the old process still exits 0.
#  - a successor that fails to start leaves the running ferry serving; a stale socket file (a crash) is replaced.
#  - -p all: the UDP sockets change hands too, and the same client's datagrams are served by the successor.
source "$(dirname "$0")/lib.sh"
ferry_only "takeover" "go-mmproxy has no takeover" || finish
FERRY_ROUTING=auto

# ---------------------------------------------------------------- mmproxy: ten restarts under load
mm_topology
rules4() { ip -n "$NS_P" rule show | grep -c 'from 127.0.0.1/8 iif lo lookup 123'; }
routes4() { ip -n "$NS_P" route show table 123 2>/dev/null | grep -c '^local default dev lo'; }
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
SOCK=$WORK/mmproxy.takeover
MM=("$FERRY" mmproxy -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -takeover-socket "$SOCK"
    -drain-timeout 120s)
start_proxy "$NS_P" "${MM[@]:2}" || finish
check "the takeover socket exists, mode 0600" test "$(stat -c %a "$SOCK" 2>/dev/null)" = 600
FIRST=$PROXY_PID
load_start "$NS_C" --connect "$P4:8443" --workers 6 --long 3
sleep 1
statuses=()
for gen in $(seq 1 10); do
    prev=$PROXY_PID
    if ! successor "$NS_P" "${MM[@]}"; then
        not_ok "restart $gen: the successor took over" "$(tail -n 5 "$PROXY_LOG")"
        break
    fi
    forget "$prev"
    # The first generation holds the long connections until the load stops; the others drain at once.
    if [[ $prev != "$FIRST" ]]; then exit_status "$prev" 10; statuses+=("$EXIT_STATUS"); fi
    sleep 0.7
done
check_eq "restarts 2-10: each old process drained and exited 0" "0 0 0 0 0 0 0 0 0" "${statuses[*]}"
check "the first process is still draining its long connections" kill -0 "$FIRST"
load_stop "ten restarts under load" 1000
check_eq "long connections across ten restarts: all ended cleanly" "3" \
    "$(jget "$(cat "$LOAD_OUT")" long_ok)"
exit_status "$FIRST" 10
check_eq "the first process exits 0 once its last connection ends" "0" "$EXIT_STATUS"
check "it logged the handover" grep -q '"msg":"handed over to the successor, draining"' "$WORK/proxy1.log"
check "and the end of its drain" grep -q '"msg":"drained, exiting"' "$WORK/proxy1.log"
check "the successors logged the routing they took over" grep -q '"msg":"routing taken over"' "$PROXY_LOG"
check_eq "the routing is still in place for the last generation" "1 1" "$(rules4) $(routes4)"
stop_proxy
check_eq "the last generation removes the routing at exit" "0 0" "$(rules4) $(routes4)"
check "the takeover socket is gone after a plain exit" test ! -e "$SOCK"

# ---------------------------------------------------------------- drain deadline, failed successor, stale socket
SOCK=$WORK/mmproxy2.takeover
MM=("$FERRY" mmproxy -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -takeover-socket "$SOCK"
    -drain-timeout 1s)
start_proxy "$NS_P" "${MM[@]:2}" || finish
old=$PROXY_PID
oldlog=$PROXY_LOG
# A connection that stays open, idle.
in_ns "$NS_C" "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 8443))
s.sendall(b"PROXY TCP4 203.0.113.99 192.0.2.1 40000 443\r\nhello")
s.recv(5)
time.sleep(30)' "$P4" &
E2E_PIDS+=("$!")
sleep 0.5
successor "$NS_P" "${MM[@]}" || not_ok "the successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$old"
exit_status "$old" 4
check_eq "-drain-timeout 1s: the old process exits 0 at the deadline" "0" "$EXIT_STATUS"
check "it says it closed the rest at the deadline" \
    grep -q '"msg":"drain deadline reached, closing the remaining connections","connections":1' "$oldlog"

# A successor whose configuration fails after it asked (a listener it cannot bind) gives up; the running
# ferry carries on.
current=$PROXY_PID
bg_ns "$NS_P" blocker "$PYTHON" "$PEER" server --mode echo --log /dev/null --listen "127.0.0.1:8444"
wait_tcp_listen "$NS_P" 8444 5
in_ns "$NS_P" "$FERRY" run /dev/stdin 2>"$WORK/failed-successor.log" <<INI
[ferry]
takeover-socket = $SOCK
[listener a]
listen = 0.0.0.0:8443
inbound = plain
target = 127.0.0.1:$SRV_PORT
[listener b]
listen = 127.0.0.1:8444
inbound = plain
target = 127.0.0.1:$SRV_PORT
INI
check_eq "a successor that cannot bind exits 1" "1" "$?"
check "the running ferry logs that the successor gave up" \
    sp_log_wait "$PROXY_LOG" '"msg":"the successor gave up, carrying on"' 5
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.31 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 5000 --seed 3 --shutdown-after-send)
expect_relay "after the failed successor the running ferry still serves" "$c" \
    "$(server_conn "203.0.113.31:$NEXT_PORT")" "203.0.113.31:$NEXT_PORT"
kill -KILL "$current"
forget "$current"
wait "$current" 2>/dev/null
check "a killed ferry leaves its socket file behind" test -S "$SOCK"
start_proxy "$NS_P" "${MM[@]:2}" || finish
check "a stale socket file means a normal start" grep -q '"msg":"listening"' "$PROXY_LOG"
check "without a takeover line" sh -c "! grep -q 'taking over' '$PROXY_LOG'"
stop_proxy

# ---------------------------------------------------------------- UDP (-p all): the UDP sockets change hands too
ECHO_LOG=$WORK/udpecho.jsonl
: >"$ECHO_LOG"
bg_ns "$NS_P" udpecho "$PYTHON" "$PEER" udpecho --listen "127.0.0.1:$SRV_PORT" --listen "[::1]:$SRV_PORT" \
    --log "$ECHO_LOG"
SOCK=$WORK/mmproxy-udp.takeover
MM=("$FERRY" mmproxy -p all -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT"
    -takeover-socket "$SOCK")
start_proxy "$NS_P" "${MM[@]:2}" || finish
old=$PROXY_PID
sleep 0.3
udp_sockets=$(in_ns "$NS_P" ss -Hlun "sport = :8443" | wc -l)
h4=$(hdr v2 --family 0x12 --src 203.0.113.7:5353 --dst 192.0.2.1:53)
r=$(in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$P4:8443" --header-hex "$h4" --payload before --count 3)
check_py "UDP before the handover: three datagrams echoed" "j0['replies'] == ['before-%d' % i for i in range(3)]" "$r"
successor "$NS_P" "${MM[@]}" || not_ok "UDP: the successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$old"
exit_status "$old" 5
check_eq "UDP: the old process exits 0" "0" "$EXIT_STATUS"
check_eq "UDP: the same number of UDP sockets on 8443 after the handover" "$udp_sockets" \
    "$(in_ns "$NS_P" ss -Hlun "sport = :8443" | wc -l)"
r=$(in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$P4:8443" --header-hex "$h4" --payload after --count 3)
check_py "UDP after the handover: the same client's datagrams echoed by the successor" \
    "j0['replies'] == ['after-%d' % i for i in range(3)]" "$r"
stop_proxy

finish
