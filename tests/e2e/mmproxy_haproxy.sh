#!/usr/bin/env bash
# mmproxy behind a real HAProxy: client (C) -> HAProxy (H, send-proxy-v2 on :8080, send-proxy on
# :8081, which reaches the proxy over IPv6) -> proxy (P) -> target on P's loopback. The target sees
# the client's real address and port.
#
#   C 198.51.100.2, 2001:db8:1::2 --- H 198.51.100.1, 2001:db8:1::1
#                                     H 192.0.2.1,    2001:db8:2::1 --- P 192.0.2.2, 2001:db8:2::2
# P has no route to 198.51.100.0/24: replies from the target to the spoofed client address go
# back to the proxy through the policy routing (from 127.0.0.1 / ::1 iif lo -> local).
source "$(dirname "$0")/lib.sh"

if ! command -v haproxy >/dev/null; then
    not_ok "haproxy installed" "run make deps"
    finish
fi

ns_new NS_C c
ns_new NS_H h
ns_new NS_P p
link_ns "$NS_C" "198.51.100.2/24 2001:db8:1::2/64" "$NS_H" "198.51.100.1/24 2001:db8:1::1/64"
link_ns "$NS_H" "192.0.2.1/24 2001:db8:2::1/64" "$NS_P" "192.0.2.2/24 2001:db8:2::2/64"
mm_proxy_routing "$NS_P"

start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish

cat >"$WORK/haproxy.cfg" <<CFG
global
    maxconn 200
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_v2
    bind 198.51.100.1:8080
    bind [2001:db8:1::1]:8080
    default_backend be_v2
backend be_v2
    server s1 192.0.2.2:8443 send-proxy-v2
frontend fe_v1
    bind 198.51.100.1:8081
    bind [2001:db8:1::1]:8081
    default_backend be_v1
backend be_v1
    server s1 [2001:db8:2::2]:8443 send-proxy
CFG
bg_ns "$NS_H" haproxy haproxy -f "$WORK/haproxy.cfg" -db
if ! wait_tcp_listen "$NS_H" 8080 || ! wait_tcp_listen "$NS_H" 8081; then
    not_ok "haproxy started" "$(cat "$WORK/haproxy.err")"
    finish
fi

# via_haproxy NAME FRONTEND
via_haproxy() {
    local name=$1 front=$2 c s src
    c=$(client "$NS_C" --connect "$front" --send-bytes 300000 --seed "$RANDOM" --expect-bytes 300000 --timeout 10)
    src=$(jget "$c" local)
    if [[ $src == null ]]; then
        not_ok "$name: client connected" "$c"
        return
    fi
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}

via_haproxy "send-proxy-v2, v4 client" "198.51.100.1:8080"
via_haproxy "send-proxy-v2, v6 client" "[2001:db8:1::1]:8080"
via_haproxy "send-proxy (v1), v4 client" "198.51.100.1:8081"
via_haproxy "send-proxy (v1), v6 client" "[2001:db8:1::1]:8081"

finish
