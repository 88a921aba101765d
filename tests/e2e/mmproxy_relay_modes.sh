#!/usr/bin/env bash
# mmproxy (ferry only): every relay strategy carries a bulk transfer each way with half-close, and small
# request/response traffic: -relay adaptive (the default: copy small messages, splice bulk), splice and copy.
# Then the fallback: with no fd left for a pipe (RLIMIT_NOFILE just above what one connection needs) a
# splice relay copies instead of resetting the connection.
source "$(dirname "$0")/lib.sh"
ferry_only "relay modes" "ferry's -relay flag" || finish

mm_topology
start_server "$NS_P" halfclose-echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
port=8443
for mode in adaptive splice copy; do
    start_proxy "$NS_P" -v 1 -relay "$mode" -l "0.0.0.0:$port" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
    next_port
    c=$(client "$NS_C" --connect "$P4:$port" --header-text "PROXY TCP4 203.0.113.50 192.0.2.1 $NEXT_PORT 443\r\n" \
        --send-bytes $((8 << 20)) --seed 21 --shutdown-after-send --timeout 30)
    expect_relay "-relay $mode, 8 MiB with half-close" "$c" "$(server_conn "203.0.113.50:$NEXT_PORT")" \
        "203.0.113.50:$NEXT_PORT"
    next_port
    c=$(client "$NS_C" --connect "[$P6]:$port" \
        --header-hex "$(hdr v2 --src "[2001:db8:ff::50]:$NEXT_PORT" --dst "[2001:db8:ff::1]:443")" \
        --send-bytes 100 --seed 22 --shutdown-after-send)
    expect_relay "-relay $mode, a 100-byte request over IPv6" "$c" "$(server_conn "[2001:db8:ff::50]:$NEXT_PORT")" \
        "[2001:db8:ff::50]:$NEXT_PORT"
    port=$((port + 1))
done

# Out of fds for pipes: 3 std fds + epoll + eventfd + listener + the main thread's signalfd = 7 at rest, 9 with
# one connection.
saved=$PROXY_CMD
PROXY_CMD="prlimit --nofile=9:9 $saved"
start_proxy "$NS_P" -v 1 -threads 1 -relay splice -l "0.0.0.0:$port" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
PROXY_CMD=$saved
next_port
c=$(client "$NS_C" --connect "$P4:$port" --header-text "PROXY TCP4 203.0.113.51 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes $((4 << 20)) --seed 23 --shutdown-after-send --timeout 30)
expect_relay "no fd for a pipe: the relay copies, 4 MiB intact" "$c" "$(server_conn "203.0.113.51:$NEXT_PORT")" \
    "203.0.113.51:$NEXT_PORT"
check "no fd for a pipe: no connection was broken" bash -c "! grep -q 'connection broken' '$PROXY_LOG'"
finish
