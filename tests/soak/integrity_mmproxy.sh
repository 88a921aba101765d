#!/usr/bin/env bash
# soak, integrity through ferry mmproxy: the splice relay (the default) and the copy relay (-relay copy).
# The streamer client in C sends, behind PROXY v1 and v2 headers from spoofed clients (IPv4 and IPv6), streams of
# mixed write sizes in three half-close orders (client first, server first, both) through ferry in P to the
# streamer server on P's loopback, which sends its own stream back; both ends hash what they sent and received.
# Pass: no connection fails, the four digests of every connection pair up, the server saw the spoofed clients,
# ferry's fds are back where they started (integrity_part in tests/soak/lib.sh).
#   SOAK_INTEGRITY_BYTES (default 10 GiB, the whole integrity scenario's total, both ways, x SOAK_SCALE): this
#   script moves 40% of it through the splice relay and 10% through the copy relay.
source "$(dirname "$0")/lib.sh"

TOTAL=$(scaled "$(knob SOAK_INTEGRITY_BYTES $((10 << 30)))" $((8 << 20)))
mm_topology
bg_ns "$NS_P" streamer "$STREAMER" server --listen "127.0.0.1:$SRV_PORT" --listen "[::1]:$SRV_PORT" \
    --log "$WORK/server.jsonl"
wait_tcp_listen "$NS_P" "$SRV_PORT" 5 || { not_ok "streamer server listens" "$(cat "$WORK/streamer.err")"; finish; }

# part NAME PORT SHARE_PERCENT FERRY_ARGS...: one relay, its share of the bytes.
part() {
    local name=$1 port=$2 share=$3
    shift 3
    start_proxy "$NS_P" -v 1 -l "0.0.0.0:$port" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" "$@" || return
    integrity_part "$name" "$share" "$NS_P" "$port" "203.0.113.,[2001:db8:ff:" -- \
        --connect "$P4:$port" --connect "[$P6]:$port" --header mixed
    stop_proxy
}

part splice 8443 40
part copy 8444 10 -relay copy

finish
