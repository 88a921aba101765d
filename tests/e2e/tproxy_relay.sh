#!/usr/bin/env bash
# tproxy: the router intercepts the client's connections with the uproxy README's TPROXY rules and ferry
# reconnects from the client's own address and port to the original destination (both flows share the
# 4-tuple), IPv4 and IPv6.
#  - the server sees the client's own address and port; 1 MiB and 32 MiB each way, hashes equal;
#  - half-close both ways;
#  - liproxy's log lines (slog, stdout); -mark on the outgoing flows;
#  - a connection to the listener itself (not intercepted) is closed, with a log line.
source "$(dirname "$0")/lib.sh"

tp_topology
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80"
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$TP_S4:81" "[$TP_S6]:81"
HC_LOG=$SERVER_LOG
SOURCE_BYTES=3000000
start_server "$NS_S" source "$TP_S4:82" "[$TP_S6]:82" -- --bytes "$SOURCE_BYTES" --seed 11
SOURCE_LOG=$SERVER_LOG
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -mark 0x77 || finish
in_ns "$NS_R" iptables -t mangle -A OUTPUT -p tcp -d "$TP_S4" -m mark --mark 0x77 -j ACCEPT

SLOG_TS='^time=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2}) '

relay() {
    local name=$1 dst=$2 bytes=$3 c s addr
    c=$(client "$NS_C" --connect "$dst" --send-bytes "$bytes" --seed "$RANDOM" --expect-bytes "$bytes" --timeout 30)
    addr=$(jget "$c" local)
    s=$(server_conn "$addr" "$ECHO_LOG")
    if [[ -z $s ]]; then
        not_ok "$name: the server saw the client's own address and port ($addr)" "client: $c" "server: $(tail -n 2 "$ECHO_LOG")"
        return
    fi
    ok "$name: the server saw the client's own address and port ($addr)"
    check_py "$name: $bytes bytes intact both ways" \
        "j0['error'] is None and j0['sent'] == j1['bytes_in'] == $bytes and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == $bytes and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    local msg
    for msg in "incoming clientside flow" "initiating serverside flow" "client closed flow"; do
        if sp_log_wait "$PROXY_LOG" "${SLOG_TS}level=INFO msg=\"$msg\" clientsideAddr=$(re_escape "$addr") serversideAddr=$(re_escape "$dst")\$" >/dev/null; then
            ok "$name: the log says \"$msg\" (liproxy's words, slog)"
        else
            not_ok "$name: the log says \"$msg\" (liproxy's words, slog)" "$(tail -n 5 "$PROXY_LOG")"
        fi
    done
}
relay "IPv4" "$TP_S4:80" 1048576
relay "IPv6" "[$TP_S6]:80" 1048576
relay "IPv4, 32 MiB" "$TP_S4:80" 33554432
relay "IPv6, 32 MiB" "[$TP_S6]:80" 33554432

marked=$(in_ns "$NS_R" iptables -t mangle -L OUTPUT -v -n -x | awk '/mark match 0x77/ {print $1}')
check_py "-mark 0x77: the outgoing flows carry the mark" "$marked > 0" ""

halfclose() {
    local name=$1 dst=$2 c s
    c=$(client "$NS_C" --connect "$dst" --send-bytes 2000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$HC_LOG")
    check_py "$name: the server saw the client's EOF after all its bytes" \
        "j1 is not None and j1['bytes_in'] == j0['sent'] == 2000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_py "$name: the client got the whole echo after its own shutdown, then EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 2000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
}
server_first() {
    local name=$1 dst=$2 c s
    c=$(client "$NS_C" --connect "$dst" --pre-payload-delay 0.5 --send-bytes 1500000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$SOURCE_LOG")
    check_py "$name: the client got all of the server's bytes and its EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $SOURCE_BYTES and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    check_py "$name: the server still got everything the client sent after its EOF" \
        "j1 is not None and j1['error'] is None and j1['bytes_in'] == j0['sent'] == 1500000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}
halfclose "client half-close, IPv4" "$TP_S4:81"
halfclose "client half-close, IPv6" "[$TP_S6]:81"
server_first "server half-close first, IPv4" "$TP_S4:82"
server_first "server half-close first, IPv6" "[$TP_S6]:82"
if grep -qE "${SLOG_TS}level=INFO msg=\"server closed flow\" clientsideAddr=198\.51\.100\.2:[0-9]+ serversideAddr=203\.0\.113\.2:82\$" "$PROXY_LOG"; then
    ok "server half-close first: the log says \"server closed flow\""
else not_ok "server half-close first: the log says \"server closed flow\"" "$(grep ':82' "$PROXY_LOG" | tail -n 3)"; fi

# Straight to the listener on the router itself: nothing intercepted it.
c=$(client "$NS_R" --connect 127.0.0.1:9091 --send-bytes 100 --seed 1 --timeout 5)
check_py "not intercepted: closed without a byte" "j0['received'] == 0" "$c"
if sp_log_wait "$PROXY_LOG" "level=WARN msg=\"proxy error\" clientsideAddr=127\.0\.0\.1:[0-9]+ errorMsg=\"failed to accept connection: not intercepted" >/dev/null; then
    ok "not intercepted: the log says why"
else not_ok "not intercepted: the log says why" "$(tail -n 3 "$PROXY_LOG")"; fi

check "ferry is still running" proxy_alive
finish
