#!/usr/bin/env bash
# Zero-downtime restarts in tproxy mode, srcproxy (client and server) and `ferry run` (an abstract takeover
# socket): each hands over under a load generator without a failed connection, and the old process exits 0.
# `ferry run` reloads first (a listener moves to another port): the successor gets the moved listener's new
# sockets, and the old address is no longer served.
source "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- tproxy under load
tp_topology
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80"
SOCK=$WORK/tproxy.takeover
TP=("$FERRY" tproxy -bindAddr "127.0.0.1:9091,[::1]:9091" -takeover-socket "$SOCK")
start_tproxy "$NS_R" "${TP[@]:2}" || finish
old=$PROXY_PID
load_start "$NS_C" --connect "$TP_S4:80" --proxy-header none --workers 4 --long 1
sleep 1
PROXY_N=$((PROXY_N + 1))
PROXY_LOG=$WORK/proxy$PROXY_N.log
in_ns "$NS_R" "${TP[@]}" >"$PROXY_LOG" 2>"$PROXY_LOG.stderr" &
PROXY_PID=$!
E2E_PIDS+=("$PROXY_PID")
E2E_PROXY_PIDS+=("$PROXY_PID")
E2E_PROXY_LOGS+=("$PROXY_LOG" "$PROXY_LOG.stderr")
check "tproxy: the successor took over" sp_log_wait "$PROXY_LOG" 'took over, the predecessor stopped accepting' 5
forget "$old"
sleep 1
load_stop "tproxy: a restart under load" 100
exit_status "$old" 5
check_eq "tproxy: the old process exits 0" "0" "$EXIT_STATUS"
stop_proxy

# ---------------------------------------------------------------- srcproxy client and server under load
sp_topology
start_server "$NS_B" echo "0.0.0.0:80" "[::]:80"
cat >"$WORK/sp-server.json" <<JSON
{"listen": "$SP_B4:21829", "takeover_socket": "$WORK/sp-server.takeover", "drain_timeout": "20s"}
JSON
cat >"$WORK/sp-client.json" <<JSON
{"inbound": {"listen": ":9001"}, "outbound": {"server": "$SP_B4:21829"},
 "takeover_socket": "$WORK/sp-client.takeover", "drain_timeout": 20}
JSON
start_srcproxy "$NS_B" 21829 server "$WORK/sp-server.json" || finish
old_server=$PROXY_PID
start_srcproxy "$NS_A" 9001 client "$WORK/sp-client.json" || finish
old_client=$PROXY_PID
load_start "$NS_A" --connect "$SP_DST4:80" --bind "$SP_SRC4" --proxy-header none --workers 4 --long 1
sleep 1
successor "$NS_A" "$FERRY" srcproxy client "$WORK/sp-client.json" ||
    not_ok "srcproxy: the client's successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$old_client"
sleep 0.5
successor "$NS_B" "$FERRY" srcproxy server "$WORK/sp-server.json" ||
    not_ok "srcproxy: the server's successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$old_server"
sleep 1
load_stop "srcproxy: client and server restarted under load" 100
exit_status "$old_client" 5
client_status=$EXIT_STATUS
exit_status "$old_server" 5
check_eq "srcproxy: both old processes exit 0" "0 0" "$client_status $EXIT_STATUS"

# ---------------------------------------------------------------- ferry run under load
cat >"$WORK/run.ini" <<INI
[ferry]
takeover-socket = @ferry-$E2E_ID-run
[listener plain]
listen = $SP_B4:7000
inbound = plain
target = $SP_DST4:80
[listener moved]
listen = $SP_B4:7001
inbound = plain
target = $SP_DST4:80
INI
start_run "$NS_B" "$WORK/run.ini" 7000 7001 || finish
old=$PROXY_PID
load_start "$NS_A" --connect "$SP_B4:7000" --proxy-header none --workers 4 --long 1
# A reload moves the second listener from 7001 to 7002: the successor must get 7002's sockets, not 7001's.
sed -i "s/^listen = $SP_B4:7001$/listen = $SP_B4:7002/" "$WORK/run.ini"
kill -HUP "$old"
wait_tcp_listen "$NS_B" 7002 5 || not_ok "ferry run: the reload binds 7002" "$(tail -n 5 "$PROXY_LOG")"
sleep 1
successor "$NS_B" "$FERRY" run "$WORK/run.ini" ||
    not_ok "ferry run: the successor took over (abstract takeover socket)" "$(tail -n 5 "$PROXY_LOG")"
forget "$old"
sleep 1
load_stop "ferry run: a restart under load" 100
exit_status "$old" 5
check_eq "ferry run: the old process exits 0" "0" "$EXIT_STATUS"
check "ferry run: the successor used every socket it received (the reloaded ones, not 7001's)" \
    sh -c "! grep -q 'inherited socket not used' '$PROXY_LOG'"
check_eq "ferry run: nothing listens on 7001 any more" "" "$(in_ns "$NS_B" ss -Hltn 'sport = :7001')"
c=$(client "$NS_A" --connect "$SP_B4:7002" --send-bytes 2000 --seed 7 --expect-bytes 2000 --shutdown-after-send)
check_eq "ferry run: the successor serves the reloaded listener on 7002" "2000" "$(jget "$c" received)"

finish
