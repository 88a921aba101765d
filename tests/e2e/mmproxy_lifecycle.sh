#!/usr/bin/env bash
# mmproxy (ferry only): the process's life around the connections.
#  - at start ferry adds the policy routing spoofed replies need, only where missing; SIGTERM stops it with
#    exit status 0 and it removes exactly what it added (a rule that was there before stays);
#  - -routing=false leaves the routing alone;
#  - -idle-timeout closes a relayed connection that carries no traffic;
#  - without CAP_NET_ADMIN it exits 1 with one line that says what is needed.
source "$(dirname "$0")/lib.sh"
ferry_only "lifecycle" "go-mmproxy 2.1 manages no routing and has no signal handling" || finish
FERRY_ROUTING=auto

mm_topology   # ferry adds the routing itself: NS_P has none yet
rules4() { ip -n "$NS_P" rule show | grep -c 'from 127.0.0.1/8 iif lo lookup 123'; }
rules6() { ip -n "$NS_P" -6 rule show | grep -c 'from ::1 iif lo lookup 123'; }
routes4() { ip -n "$NS_P" route show table 123 2>/dev/null | grep -c '^local default dev lo'; }
routes6() { ip -n "$NS_P" -6 route show table 123 2>/dev/null | grep -c '^local default dev lo'; }
routing_state() { echo "$(rules4) $(routes4) $(rules6) $(routes6)"; }

check_eq "a fresh namespace has no table-123 routing" "0 0 0 0" "$(routing_state)"
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
check_eq "ferry added the four rules and routes" "1 1 1 1" "$(routing_state)"
check "each addition is logged" test "$(grep -c '"msg":"added routing"' "$PROXY_LOG")" -eq 4
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.20 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 10000 --seed 1 --shutdown-after-send)
expect_relay "relay through ferry's own routing" "$c" "$(server_conn "203.0.113.20:$NEXT_PORT")" "203.0.113.20:$NEXT_PORT"

pid=$PROXY_PID
kill -TERM "$pid"
status=timeout
for _ in $(seq 50); do
    if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; break; fi
    sleep 0.1
done
E2E_PROXY_PIDS=()
check_eq "SIGTERM: exit status 0 within 5 s" "0" "$status"
check_eq "SIGTERM: everything ferry added is removed" "0 0 0 0" "$(routing_state)"
check "SIGTERM: the shutdown is logged" grep -q '"msg":"received shutdown signal, closing"' "$PROXY_LOG"

# A rule that was there before ferry started survives ferry's exit.
ip -n "$NS_P" rule add from 127.0.0.1/8 iif lo table 123
start_proxy "$NS_P" -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
check_eq "with the IPv4 rule present ferry adds only the other three" "1 1 1 1" "$(routing_state)"
check "it says the rule was already there" grep -qE '"msg":"routing left as is","note":"ip rule (pref [0-9]+ )?from 127.0.0.1/8 iif lo table 123 is already present' "$PROXY_LOG"
stop_proxy
check_eq "after exit the pre-existing rule is still there, the rest is gone" "1 0 0 0" "$(routing_state)"
ip -n "$NS_P" rule del from 127.0.0.1/8 iif lo table 123

# -routing=false: nothing added (and with no routing, spoofed connections cannot complete).
start_proxy "$NS_P" -routing=false -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
check_eq "-routing=false adds nothing" "0 0 0 0" "$(routing_state)"
stop_proxy

# -idle-timeout: a connection that goes quiet is closed.
mm_routing "$NS_P"
start_proxy "$NS_P" -v 1 -routing=false -idle-timeout 1s -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.21 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 100 --seed 2 --timeout 10)
check_py "-idle-timeout 1s: the quiet connection is closed after about 1 s" \
    "j0['received'] == 100 and 0.8 <= j0['elapsed'] <= 3" "$c"
check "-idle-timeout: logged with the reason" grep -q '"error":"idle for 1000 ms"' "$PROXY_LOG"
stop_proxy

# Without CAP_NET_ADMIN: one clear line, exit 1.
out=$(in_ns "$NS_P" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
    "$FERRY" mmproxy -routing=false -l 127.0.0.1:8445 2>&1)
rc=$?
check_eq "without CAP_NET_ADMIN: exit status 1" "1" "$rc"
check "without CAP_NET_ADMIN: the message says what is needed" grep -q 'needs CAP_NET_ADMIN' <<<"$out"
finish
