#!/usr/bin/env bash
# mmproxy: half-close is forwarded, never turned into a full close.
#  A. The client sends data and shuts down its write side; the server (halfclose-echo) reads to
#     EOF, then echoes everything and closes: the client receives every byte.
#  B. Server first: the server (source) sends N bytes then SHUT_WR while the client is still
#     sending; the client finishes later and closes: both sides get everything.
# go-mmproxy 2.1 closes both sockets at the first EOF, so these checks are ferry-only.
source "$(dirname "$0")/lib.sh"

WHY="go-mmproxy 2.1 tears the connection down at the first EOF"
mm_topology
start_server "$NS_P" halfclose-echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
ECHO_LOG=$SERVER_LOG
SOURCE_BYTES=3000000
start_server "$NS_P" source "127.0.0.1:9001" "[::1]:9001" -- --bytes "$SOURCE_BYTES" --seed 11
SOURCE_LOG=$SERVER_LOG
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8444" -4 "127.0.0.1:9001" -6 "[::1]:9001" || finish

# client_halfclose NAME FRONTEND SPOOF_SRC DST
client_halfclose() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    ferry_only "$name" "$WHY" || return 0
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst "$dst")" \
        --send-bytes 2000000 --seed "$RANDOM" --shutdown-after-send --timeout 15)
    s=$(server_conn "$src" "$ECHO_LOG")
    check_py "$name: the server saw the client's EOF after all its bytes" \
        "j1 is not None and j1['bytes_in'] == j0['sent'] == 2000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_py "$name: the client got the whole echo after its own shutdown, then EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 2000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
}

# server_first NAME FRONTEND SPOOF_SRC DST
server_first() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    ferry_only "$name" "$WHY" || return 0
    # The client starts its payload 0.5 s after the header: by then the server has sent its
    # bytes and its FIN.
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v1 --src "$src" --dst "$dst")" \
        --pre-payload-delay 0.5 --send-bytes 1500000 --seed "$RANDOM" --shutdown-after-send --timeout 15)
    s=$(server_conn "$src" "$SOURCE_LOG")
    check_py "$name: the client got all of the server's bytes and its EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $SOURCE_BYTES and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    check_py "$name: the server still got everything the client sent after the server's EOF" \
        "j1 is not None and j1['error'] is None and j1['bytes_in'] == j0['sent'] == 1500000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}

next_port; client_halfclose "client half-close, v4" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443"
next_port; client_halfclose "client half-close, v6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443"
next_port; server_first "server half-close first, v4" "$P4:8444" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443"
next_port; server_first "server half-close first, v6" "[$P6]:8444" "[2001:db8:ff::8]:$NEXT_PORT" "[2001:db8:ff::1]:443"

finish
