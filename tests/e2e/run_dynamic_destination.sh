#!/usr/bin/env bash
# PROXY v1/v2 in, to the destination in the header (go-mmproxy 2.3's -dynamic-destination), from the client's
# own address, with an allowed-destinations list keeping clients away from other local services: once as a
# `ferry run` listener (inbound = proxy-protocol, target = original, source = client), once as
# `ferry mmproxy -dynamic-destination -allowed-destinations`.
source "$(dirname "$0")/lib.sh"

mm_topology
# Three services on P's loopback: two allowed, one not.
start_server "$NS_P" echo "127.0.0.1:9000" "[::1]:9000"
SRV_A=$SERVER_LOG
start_server "$NS_P" echo "127.0.0.2:9001"
SRV_B=$SERVER_LOG
start_server "$NS_P" echo "127.0.0.3:9002"
SRV_C=$SERVER_LOG
start_server "$NS_P" halfclose-echo "127.0.0.2:9003"
SRV_HALF=$SERVER_LOG
# `ferry run` adds no policy routing: the replies to the clients' addresses come back through table 123.
mm_routing "$NS_P"

cat >"$WORK/ferry.ini" <<INI
[ferry]
log-level = debug

[listener lb]
listen = :8443
inbound = proxy-protocol
target = original
source = client
allowed-destinations = 127.0.0.1:9000, [::1]:9000, 127.0.0.2:9001, 127.0.0.2:9003
INI
start_run "$NS_P" "$WORK/ferry.ini" 8443 || finish

# dyn_case NAME VERSION SRC DST SERVER_LOG [PORT]: a header to DST from SRC through ferry on PORT (8443);
# the service on DST sees SRC.
dyn_case() {
    local name=$1 v=$2 src=$3 dst=$4 log=$5 port=${6:-8443} c s
    c=$(client "$NS_C" --connect "$P4:$port" --header-hex "$(hdr "$v" --src "$src" --dst "$dst")" \
        --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 10)
    s=$(server_conn "$src" "$log")
    expect_relay "$name" "$c" "$s" "$src"
}

next_port; FIRST_PORT=$NEXT_PORT
dyn_case "run, v2 to 127.0.0.2:9001" v2 "203.0.113.7:$FIRST_PORT" "127.0.0.2:9001" "$SRV_B"
next_port; dyn_case "run, v1 to 127.0.0.1:9000" v1 "203.0.113.8:$NEXT_PORT" "127.0.0.1:9000" "$SRV_A"
next_port; dyn_case "run, v2 INET6 to [::1]:9000" v2 "[2001:db8:ff::7]:$NEXT_PORT" "[::1]:9000" "$SRV_A"
# Half-close: the client finishes sending; the service answers only after it read that EOF.
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "203.0.113.11:$NEXT_PORT" --dst 127.0.0.2:9003)" \
    --send-bytes 300000 --seed 3 --shutdown-after-send --timeout 10)
s=$(server_conn "203.0.113.11:$NEXT_PORT" "$SRV_HALF")
check_py "run: half-close, the service saw the client's EOF after all its bytes" \
    "j1 is not None and j1['bytes_in'] == j0['sent'] == 300000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
check_py "run: half-close, the client got the whole reply after its own shutdown, then EOF" \
    "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 300000 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
check "run: the relaying line names the header's destination" \
    "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg relaying --field listener=lb --field destination=127.0.0.2:9001 --field client=203.0.113.7:$FIRST_PORT --field targetAddr=127.0.0.2:9001

# A destination outside the list is refused: the connection is closed and nothing reaches the service.
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "203.0.113.9:$NEXT_PORT" --dst 127.0.0.3:9002)" \
    --send-bytes 1000 --seed 1 --timeout 5)
check_py "run: a destination outside allowed-destinations is closed" "$CLOSED_EXPR" "$c"
check "run: the log says why" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "failed to establish upstream connection" \
    --contains "error=127.0.0.3:9002 is not in the allowed destinations"
check_eq "run: the service at 127.0.0.3:9002 got no connection" 0 "$(log_lines "$SRV_C")"
# An allowed address with another port is refused too.
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "203.0.113.9:$NEXT_PORT" --dst 127.0.0.1:9002)" \
    --send-bytes 1000 --seed 1 --timeout 5)
check_py "run: an allowed address on another port is closed" "$CLOSED_EXPR" "$c"
stop_proxy

# The same through ferry mmproxy's go-mmproxy 2.3 flags (it adds the policy routing itself when missing).
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8444" -dynamic-destination -allowed-destinations "127.0.0.1:9000,[::1]:9000,127.0.0.2:9001" || finish
next_port; dyn_case "mmproxy -dynamic-destination, v2 to 127.0.0.2:9001" v2 "203.0.113.17:$NEXT_PORT" "127.0.0.2:9001" "$SRV_B" 8444
next_port; dyn_case "mmproxy -dynamic-destination, v1 to 127.0.0.1:9000" v1 "203.0.113.18:$NEXT_PORT" "127.0.0.1:9000" "$SRV_A" 8444
next_port; dyn_case "mmproxy -dynamic-destination, v2 INET6" v2 "[2001:db8:ff::17]:$NEXT_PORT" "[::1]:9000" "$SRV_A" 8444
check "mmproxy: targetAddr is the header's destination" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "successfully established upstream connection" --field targetAddr=127.0.0.2:9001
next_port
c=$(client "$NS_C" --connect "$P4:8444" --header-hex "$(hdr v2 --src "203.0.113.19:$NEXT_PORT" --dst 127.0.0.3:9002)" \
    --send-bytes 1000 --seed 1 --timeout 5)
check_py "mmproxy: a destination outside -allowed-destinations is closed" "$CLOSED_EXPR" "$c"
check "mmproxy: the log says why" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "failed to establish upstream connection" \
    --contains "error=not in the allowed destinations"
check_eq "mmproxy: the service at 127.0.0.3:9002 got no connection" 0 "$(log_lines "$SRV_C")"

finish
