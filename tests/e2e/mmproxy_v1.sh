#!/usr/bin/env bash
# mmproxy: PROXY v1 TCP4 and TCP6 headers. The target sees the header's source address and port,
# and the payload arrives intact both ways (v4 and v6 frontends).
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish

# v1_case NAME FRONTEND SPOOF_SRC DST
v1_case() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v1 --src "$src" --dst "$dst")" \
        --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 10)
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}

next_port; v1_case "v1 TCP4 over v4 frontend" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443"
next_port; v1_case "v1 TCP6 over v4 frontend" "$P4:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443"
next_port; v1_case "v1 TCP4 over v6 frontend" "[$P6]:8443" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443"
next_port; v1_case "v1 TCP6 over v6 frontend" "[$P6]:8443" "[2001:db8:ff::8]:$NEXT_PORT" "[2001:db8:ff::1]:443"

# Header and first payload bytes in one write: the bytes after the CRLF must be forwarded.
next_port
src="203.0.113.9:$NEXT_PORT"
c=$(client "$NS_C" --connect "$P4:8443" \
    --header-text "PROXY TCP4 203.0.113.9 192.0.2.1 $NEXT_PORT 443\r\nhello after header" \
    --expect-bytes 18 --timeout 10)
s=$(server_conn "$src")
check_py "v1 bytes in the header's segment are forwarded" \
    "j1 is not None and j1['bytes_in'] == 18 and j0['received'] == 18" "$c" "$s"

finish
