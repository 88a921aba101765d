#!/usr/bin/env bash
# srcproxy: apps on the client side reach destinations on the server side through the ferry client (nat
# OUTPUT REDIRECT) and the ferry server (IP_FREEBIND), both running the seed's example configurations
# unchanged; the destination sees the app's own address and port.
#  - IPv4 and IPv6 relays, 1 MiB each way; 32 MiB each way (IPv4); hashes equal.
#  - the log lines of both halves in the reference's format; the client's fwmark on its server connection.
#  - half-close both ways (the reference closes at the first EOF).
#  - a connection to the client's port that was not redirected: closed, with a log line.
source "$(dirname "$0")/lib.sh"

sp_topology
start_server "$NS_B" echo "0.0.0.0:80" "[::]:80"
ECHO_LOG=$SERVER_LOG
start_server "$NS_B" echo "0.0.0.0:81" "[::]:81"
ECHO81_LOG=$SERVER_LOG
start_server "$NS_B" halfclose-echo "0.0.0.0:82" "[::]:82"
HC_LOG=$SERVER_LOG
SOURCE_BYTES=3000000
start_server "$NS_B" source "0.0.0.0:83" "[::]:83" -- --bytes "$SOURCE_BYTES" --seed 11
SOURCE_LOG=$SERVER_LOG

sp_seed_server_config >"$WORK/server.json"
sp_seed_client_config >"$WORK/client.json"
start_srcproxy "$NS_B" 21829 server "$WORK/server.json" || finish
SERVER_PLOG=$PROXY_LOG
start_srcproxy "$NS_A" 9001 client "$WORK/client.json" || finish
CLIENT_PLOG=$PROXY_LOG
# Counts the client's packets to the server that carry the seed's fwmark.
in_ns "$NS_A" iptables -t mangle -A OUTPUT -p tcp -d "$SP_B4" --dport 21829 -m mark --mark 0x1234 -j ACCEPT

TS='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '

# relay NAME SRC DST BYTES: the app binds SRC, connects to DST (redirected), sends BYTES and reads the echo.
relay() {
    local name=$1 src=$2 dst=$3 bytes=$4 c s pair
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --send-bytes "$bytes" --seed "$RANDOM" \
        --expect-bytes "$bytes" --timeout 30)
    s=$(server_conn "$src" "$ECHO_LOG")
    if [[ -z $s ]]; then not_ok "$name: the destination saw the app's own address $src" "client: $c" \
        "destination log: $(tail -n 3 "$ECHO_LOG")"; return; fi
    ok "$name: the destination saw the app's own address $src"
    check_py "$name: $bytes bytes intact both ways" \
        "j0['error'] is None and j0['sent'] == j1['bytes_in'] == $bytes and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == $bytes and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    pair="$(re_escape "$src") <-> $(re_escape "$dst")"
    local want
    for want in "client:$CLIENT_PLOG:$TS\[info\] $pair: established\$" \
                "client:$CLIENT_PLOG:$TS\[info\] $pair: closed\$" \
                "server:$SERVER_PLOG:$TS\[info\] \($(re_escape "$SP_A4"):[0-9]+\) $pair: established\$" \
                "server:$SERVER_PLOG:$TS\[info\] \($(re_escape "$SP_A4"):[0-9]+\) $pair: closed\$"; do
        local who=${want%%:*} rest=${want#*:}
        local log=${rest%%:*} re=${rest#*:}
        if sp_log_wait "$log" "$re" >/dev/null; then ok "$name: the $who logs \"${re##*: }\" as the reference does"
        else not_ok "$name: the $who logs \"${re##*: }\" as the reference does" "wanted: $re" "$(tail -n 5 "$log")"; fi
    done
}

next_port; relay "IPv4" "$SP_SRC4:$NEXT_PORT" "$SP_DST4:80" 1048576
next_port; relay "IPv6" "[$SP_SRC6]:$NEXT_PORT" "[$SP_DST6]:80" 1048576
next_port; relay "IPv4, 32 MiB" "$SP_SRC4:$NEXT_PORT" "$SP_DST4:80" 33554432

marked=$(in_ns "$NS_A" iptables -t mangle -L OUTPUT -v -n -x | awk '/mark match 0x1234/ {print $1}')
check_py "the client's connections to the server carry fwmark 0x1234 (seed: \"fwmark\": 0x1234)" "$marked > 0" ""

# Half-close, both directions.
halfclose() {
    local name=$1 src=$2 dst=$3 c s
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --send-bytes 2000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$src" "$HC_LOG")
    check_py "$name: the destination saw the app's EOF after all its bytes" \
        "j1 is not None and j1['bytes_in'] == j0['sent'] == 2000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_py "$name: the app got the whole echo after its own shutdown, then EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 2000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
}
server_first() {
    local name=$1 src=$2 dst=$3 c s
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --pre-payload-delay 0.5 --send-bytes 1500000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$src" "$SOURCE_LOG")
    check_py "$name: the app got all of the destination's bytes and its EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $SOURCE_BYTES and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    check_py "$name: the destination still got everything the app sent after its EOF" \
        "j1 is not None and j1['error'] is None and j1['bytes_in'] == j0['sent'] == 1500000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}
next_port; halfclose "app half-close, IPv4" "$SP_SRC4:$NEXT_PORT" "$SP_DST4:82"
next_port; halfclose "app half-close, IPv6" "[$SP_SRC6]:$NEXT_PORT" "[$SP_DST6]:82"
next_port; server_first "destination half-close first, IPv4" "$SP_SRC4:$NEXT_PORT" "$SP_DST4:83"
next_port; server_first "destination half-close first, IPv6" "[$SP_SRC6]:$NEXT_PORT" "[$SP_DST6]:83"

# Not redirected: straight to the client's listener. Closed at once, and said so.
next_port
c=$(client "$NS_A" --bind "$SP_SRC4:$NEXT_PORT" --connect "$SP_A4:9001" --send-bytes 100 --seed 1 --timeout 5)
check_py "not redirected: the connection is closed without a byte" "j0['received'] == 0 and (j0['error'] is not None or j0['closed_by_peer'])" "$c"
if line=$(sp_log_wait "$CLIENT_PLOG" "$TS\[error\] $(re_escape "$SP_SRC4:$NEXT_PORT") <-> <nil>: not redirected"); then
    ok "not redirected: the client logs why (the reference drops it silently)"
else
    not_ok "not redirected: the client logs why (the reference drops it silently)" "$(tail -n 5 "$CLIENT_PLOG")"
fi

check "both halves still running" proxy_alive
finish
