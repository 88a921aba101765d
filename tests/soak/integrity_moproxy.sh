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

name=proxy
bytes=$((TOTAL * 25 / 100))
max=$((bytes / 24))
((max > (256 << 20))) && max=$((256 << 20))
((max < 65536)) && max=65536
before=$(proc_fds "$PROXY_PID")
t0=$(date +%s.%N)
summary=$(in_ns "$NS_C" "$STREAMER" client --connect "$MO_S4:9000" --connect "[$MO_S6]:9000" --bytes "$bytes" \
    --max-conn-bytes "$max" --concurrency 8 --seed "$RANDOM" --log "$WORK/client.jsonl" --timeout 120)
t1=$(date +%s.%N)
sleep 0.5
r=$(streamer_compare "$WORK/client.jsonl" "$WORK/server.jsonl")
check_integrity "$name" "$r"
check "$name: every connection came out of the SOCKS5 server's address" "$PYTHON" -c 'import json, sys
peers = [json.loads(l)["peer"] for l in open(sys.argv[1])]
bad = [p for p in peers if not p.startswith(("203.0.113.11:", "[2001:db8:2::11]:"))]
print(len(peers), "connections, others:", bad[:5])
sys.exit(1 if bad or not peers else 0)' "$WORK/server.jsonl"
wait_quiet "$NS_R" "$MO_PORT" 10
after=$(proc_fds "$PROXY_PID")
check_fds_back "$name" "$before" "$after" "$(pool_fds 2)"
check "$name: ferry still runs" proxy_alive
figure "$name" "$("$PYTHON" -c '
import json, sys
r, t0, t1 = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r.pop("examples", None)
r.update(relay="moproxy via dante", seconds=round(t1 - t0, 1),
         mbytes_per_s=round(r["bytes"] / 1e6 / max(t1 - t0, 1e-9), 1),
         fds_before=json.loads(sys.argv[4]), fds_after=json.loads(sys.argv[5]))
print(json.dumps(r))' "$r" "$t0" "$t1" "$before" "$after")"
note "$name: $summary"

finish
