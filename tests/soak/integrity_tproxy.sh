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

name=interceptor
bytes=$((TOTAL * 25 / 100))
max=$((bytes / 24))
((max > (256 << 20))) && max=$((256 << 20))
((max < 65536)) && max=65536
before=$(proc_fds "$PROXY_PID")
t0=$(date +%s.%N)
summary=$(in_ns "$NS_C" "$STREAMER" client --connect "$TP_S4:80" --connect "[$TP_S6]:80" --bytes "$bytes" \
    --max-conn-bytes "$max" --concurrency 8 --seed "$RANDOM" --log "$WORK/client.jsonl" --timeout 120)
t1=$(date +%s.%N)
sleep 0.5
r=$(streamer_compare "$WORK/client.jsonl" "$WORK/server.jsonl")
check_integrity "$name" "$r"
check "$name: the server saw the client's own address on every connection" "$PYTHON" -c 'import json, sys
peers = [json.loads(l)["peer"] for l in open(sys.argv[1])]
bad = [p for p in peers if not p.startswith(("198.51.100.2:", "[2001:db8:1::2]:"))]
print(len(peers), "connections, others:", bad[:5])
sys.exit(1 if bad or not peers else 0)' "$WORK/server.jsonl"
wait_quiet "$NS_R" 9091 10
after=$(proc_fds "$PROXY_PID")
check_fds_back "$name" "$before" "$after" "$(pool_fds 2)"
check "$name: ferry still runs" proxy_alive
figure "$name" "$("$PYTHON" -c '
import json, sys
r, t0, t1 = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r.pop("examples", None)
r.update(relay="interceptor", seconds=round(t1 - t0, 1), mbytes_per_s=round(r["bytes"] / 1e6 / max(t1 - t0, 1e-9), 1),
         fds_before=json.loads(sys.argv[4]), fds_after=json.loads(sys.argv[5]))
print(json.dumps(r))' "$r" "$t0" "$t1" "$before" "$after")"
note "$name: $summary"

finish
