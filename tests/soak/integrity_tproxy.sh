#!/usr/bin/env bash
# soak, integrity through the copy relay of intercepted connections: ferry tproxy on the router R between the
# client C and the server S (the TPROXY rules of tests/e2e/tproxy_relay.sh), with a chain of two interceptors on
# both directions that pass every byte on unchanged: the example plugin (conf/interceptor-replace.c) replacing
# "ferry" with "ferry", then pcap to /dev/null. Both directions are copied block by block through the chain.
# (tests/plugins/holdback.c would be a sharper test of the eof() path, but it keeps a byte back until more
# comes, which deadlocks the "server first" order by design: the server waits for a preamble byte it never gets.)
# The streamer client in C connects to S (IPv4 and IPv6) with the three half-close orders; both ends hash.
# Pass: no connection fails, the digests pair up, the server saw the client's own address, fds back.
#   SOAK_INTEGRITY_BYTES (default 10 GiB x SOAK_SCALE, the whole integrity scenario): 25% go through here.
source "$(dirname "$0")/lib.sh"

PLUGIN_DIR=$BUILD/plugins
TOTAL=$(scaled "$(knob SOAK_INTEGRITY_BYTES $((10 << 30)))" $((8 << 20)))
[[ -f $PLUGIN_DIR/replace.so ]] || { not_ok "$E2E_NAME: plugin $PLUGIN_DIR/replace.so (make soak builds it)"; finish; }
tp_topology
bg_ns "$NS_S" streamer "$STREAMER" server --listen "$TP_S4:80" --listen "[$TP_S6]:80" --log "$WORK/server.jsonl"
wait_tcp_listen "$NS_S" 80 5 || { not_ok "streamer server listens" "$(cat "$WORK/streamer.err")"; finish; }
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -log-level warn \
    -interceptors "plugin=$PLUGIN_DIR/replace.so:ferry=ferry,pcap=/dev/null" || finish

integrity_part interceptor 25 "$NS_R" 9091 "198.51.100.2:,[2001:db8:1::2]:" -- \
    --connect "$TP_S4:80" --connect "[$TP_S6]:80"

finish
