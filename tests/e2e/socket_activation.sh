#!/usr/bin/env bash
# systemd socket activation (LISTEN_FDS): ferry serves the listening socket systemd passes instead of binding
# its own, run under systemd-socket-activate (from Debian's systemd package, which starts the service on the
# first connection and passes the socket the way PID 1 does).
#  - the first connection, queued in the socket's backlog before ferry even ran, is relayed; so are the next;
#  - every event loop watches the one passed socket (no second socket is bound beside it);
#  - a passed socket no listener wants is closed with a log line, and ferry binds its own address.
source "$(dirname "$0")/lib.sh"
ferry_only "socket activation" "go-mmproxy does not take sockets from systemd" || finish
if ! command -v systemd-socket-activate >/dev/null 2>&1; then
    not_ok "systemd-socket-activate is installed (make deps)"
    finish
fi

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"

# activated ARGS...: ferry mmproxy ARGS under systemd-socket-activate listening on 0.0.0.0:8443 (PROXY_PID is
# systemd-socket-activate's, which becomes ferry when it starts).
activated() {
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$NS_P" systemd-socket-activate -l "$1" --fdname=mmproxy "$FERRY" mmproxy "${@:2}" \
        2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    wait_tcp_listen "$NS_P" "${1##*:}" 5 || not_ok "systemd-socket-activate listens on $1" "$(cat "$PROXY_LOG")"
}

activated 0.0.0.0:8443 -l 0.0.0.0:8443 -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -threads 2 -v 2
E2E_PROXY_PIDS+=("$PROXY_PID")
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.40 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 20000 --seed 1 --shutdown-after-send --timeout 10)
expect_relay "the first connection (queued before ferry ran) is relayed" "$c" \
    "$(server_conn "203.0.113.40:$NEXT_PORT")" "203.0.113.40:$NEXT_PORT"
check "ferry says it uses systemd's socket" grep -q '"msg":"using sockets from systemd"' "$PROXY_LOG"
good=0
for i in $(seq 1 20); do
    next_port
    c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.41 192.0.2.1 $NEXT_PORT 443\r\n" \
        --send-bytes 1000 --seed "$i" --shutdown-after-send --timeout 10)
    [[ $(jget "$c" received) == 1000 ]] && good=$((good + 1))
done
check_eq "20 more connections through the passed socket" "20" "$good"
check_eq "one listening socket on port 8443, shared by both loops" "1" \
    "$(in_ns "$NS_P" ss -Hltn 'sport = :8443' | wc -l)"
check_eq "both loops accepted (two listening entries logged on the one socket)" "2" \
    "$(log_count "$PROXY_LOG" listening)"
stop_proxy

# A passed socket nobody wants: closed and logged; ferry binds its own -l.
activated 127.0.0.1:8999 -l 0.0.0.0:8443 -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT"
in_ns "$NS_P" "$PYTHON" -c '
import socket
try:
    socket.create_connection(("127.0.0.1", 8999), timeout=2).recv(1)
except OSError:
    pass'
if wait_tcp_listen "$NS_P" 8443 5; then ok "ferry binds its own address when the passed socket is another"; else
    not_ok "ferry binds its own address when the passed socket is another" "$(tail -n 5 "$PROXY_LOG")"; fi
E2E_PROXY_PIDS+=("$PROXY_PID")
check "the unused socket is closed with a log line" \
    grep -q '"msg":"inherited socket not used, closed","protocol":"tcp","listenAdr":"127.0.0.1:8999"' "$PROXY_LOG"
check "nothing listens on the unused address any more" test -z "$(in_ns "$NS_P" ss -Hltn 'sport = :8999')"
stop_proxy

finish
