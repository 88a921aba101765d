#!/usr/bin/env bash
# soak, integrity through ferry mmproxy: the splice relay (the default) and the copy relay (-relay copy).
# The streamer client in C sends, behind PROXY v1 and v2 headers from spoofed clients (IPv4 and IPv6), streams of
# mixed write sizes in three half-close orders (client first, server first, both) through ferry in P to the
# streamer server on P's loopback, which sends its own stream back; both ends hash what they sent and received.
# Pass: no connection fails, the four digests of every connection pair up, the server saw the spoofed clients,
# ferry's fds are back where they started.
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
    local name=$1 port=$2 share=$3 bytes before after t0 t1 summary r max
    shift 3
    start_proxy "$NS_P" -v 1 -l "0.0.0.0:$port" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" "$@" || return
    bytes=$((TOTAL * share / 100))
    # At least ~24 connections per part, at most 256 MiB each way on one.
    max=$((bytes / 24))
    ((max > (256 << 20))) && max=$((256 << 20))
    ((max < 65536)) && max=65536
    before=$(proc_fds "$PROXY_PID")
    : >"$WORK/server.jsonl"
    t0=$(date +%s.%N)
    summary=$(in_ns "$NS_C" "$STREAMER" client --connect "$P4:$port" --connect "[$P6]:$port" --header mixed \
        --bytes "$bytes" --max-conn-bytes "$max" --concurrency 8 --seed "$RANDOM" --id-base $((RANDOM * 1000)) \
        --log "$WORK/$name.client.jsonl" --timeout 120)
    t1=$(date +%s.%N)
    sleep 0.5  # the server writes its line once its side has closed
    r=$(streamer_compare "$WORK/$name.client.jsonl" "$WORK/server.jsonl")
    check_integrity "$name" "$r"
    check "$name: the server saw every connection come from its spoofed client (203.0.113.x, 2001:db8:ff::)" \
        "$PYTHON" -c 'import json, sys
peers = [json.loads(l)["peer"] for l in open(sys.argv[1])]
bad = [p for p in peers if not p.startswith(("203.0.113.", "[2001:db8:ff:"))]
print(len(peers), "connections, not spoofed:", bad[:5])
sys.exit(1 if bad or not peers else 0)' "$WORK/server.jsonl"
    wait_quiet "$NS_P" "$port" 10
    after=$(proc_fds "$PROXY_PID")
    check_fds_back "$name" "$before" "$after" "$(pool_fds 2)"
    check "$name: ferry still runs" proxy_alive
    figure "$name" "$("$PYTHON" -c '
import json, sys
r, t0, t1 = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r.pop("examples", None)
r.update(relay=sys.argv[6], seconds=round(t1 - t0, 1), mbytes_per_s=round(r["bytes"] / 1e6 / max(t1 - t0, 1e-9), 1),
         fds_before=json.loads(sys.argv[4]), fds_after=json.loads(sys.argv[5]))
print(json.dumps(r))' "$r" "$t0" "$t1" "$before" "$after" "$name")"
    note "$name: $summary"
    stop_proxy
}

part splice 8443 40
part copy 8444 10 -relay copy

finish
