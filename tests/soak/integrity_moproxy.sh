#!/usr/bin/env bash
# soak, integrity through a proxy: ferry moproxy on the router R (the topology of tests/e2e/moproxy_*.sh) takes
# the client's connections to S by iptables REDIRECT and carries them through a SOCKS5 server, Debian's dante,
# on R's loopback (dante forwards half-close, which microsocks does not: microsocks would cut the "client
# first" and "server first" orders short). The streamer client in C connects to S (IPv4 and IPv6) with the
# three half-close orders; both ends hash. Pass: no connection fails, the digests pair up, every connection
# came out of dante's address, fds back.
#   SOAK_INTEGRITY_BYTES (default 10 GiB x SOAK_SCALE, the whole integrity scenario): 25% go through here.
source "$(dirname "$0")/lib.sh"

TOTAL=$(scaled "$(knob SOAK_INTEGRITY_BYTES $((10 << 30)))" $((8 << 20)))
command -v danted >/dev/null || { not_ok "$E2E_NAME: danted missing (make deps)"; finish; }
mo_topology
bg_ns "$NS_S" streamer "$STREAMER" server --listen "$MO_S4:9000" --listen "[$MO_S6]:9000" \
    --log "$WORK/server.jsonl"
wait_tcp_listen "$NS_S" 9000 5 || { not_ok "streamer server listens" "$(cat "$WORK/streamer.err")"; finish; }
start_dante "$NS_R" danted 1080 203.0.113.11 2001:db8:2::11 || finish
start_moproxy -s 127.0.0.1:1080 --probe 0 --log-level warn || finish

integrity_part proxy 25 "$NS_R" "$MO_PORT" "203.0.113.11:,[2001:db8:2::11]:" -- \
    --connect "$MO_S4:9000" --connect "[$MO_S6]:9000"

finish
