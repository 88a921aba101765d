#!/usr/bin/env bash
# mmproxy: 32 MiB each way at the same time, over v4 and v6, arrives intact (sha256).
#  - echo: the client streams 32 MiB while the server echoes it back (both directions busy).
#  - independent streams (ferry-only: needs half-close): the server sends its own 32 MiB and
#    SHUT_WR while the client sends 32 MiB and SHUT_WR.
source "$(dirname "$0")/lib.sh"

MIB32=$((32 << 20))
mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
ECHO_LOG=$SERVER_LOG
start_server "$NS_P" source "127.0.0.1:9001" "[::1]:9001" -- --bytes "$MIB32" --seed 21
SOURCE_LOG=$SERVER_LOG
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:9001" -6 "[::1]:9001" || finish

# bulk_echo NAME FRONTEND SPOOF_SRC DST
bulk_echo() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst "$dst")" \
        --send-bytes "$MIB32" --seed "$RANDOM" --expect-bytes "$MIB32" --timeout 60)
    s=$(FIND_TIMEOUT=15 server_conn "$src" "$ECHO_LOG")
    expect_relay "$name" "$c" "$s" "$src"
    check_py "$name: 32 MiB each way" "j1 is not None and j0['received'] == j1['bytes_in'] == $MIB32" "$c" "$s"
    note "$name: $(jget "$c" elapsed) s"
}

# bulk_both NAME FRONTEND SPOOF_SRC DST
bulk_both() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    ferry_only "$name" "go-mmproxy 2.1 tears the connection down at the first EOF" || return 0
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v1 --src "$src" --dst "$dst")" \
        --send-bytes "$MIB32" --seed "$RANDOM" --shutdown-after-send --timeout 60)
    s=$(FIND_TIMEOUT=15 server_conn "$src" "$SOURCE_LOG")
    expect_relay "$name" "$c" "$s" "$src"
    check_py "$name: 32 MiB each way, then EOF both ways" \
        "j1 is not None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $MIB32 and j1['bytes_in'] == $MIB32" "$c" "$s"
    note "$name: $(jget "$c" elapsed) s"
}

next_port; bulk_echo "echo 32 MiB, v4" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443"
next_port; bulk_echo "echo 32 MiB, v6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443"
next_port; bulk_both "independent 32 MiB streams, v4" "$P4:8444" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443"
next_port; bulk_both "independent 32 MiB streams, v6" "[$P6]:8444" "[2001:db8:ff::8]:$NEXT_PORT" "[2001:db8:ff::1]:443"

finish
