#!/usr/bin/env bash
# moproxy: the best backend dies: the next connection moves to the next backend with no failure the client can
# see, the dead one is ranked last at once (not after the next probe round), and once it is back the probes
# bring it back to the top. With every backend down, --allow-direct connects directly.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks a 1081 203.0.113.11
A_PID=$BG_PID
mo_microsocks b-socks 1082 203.0.113.12
B_PID=$BG_PID
mo_delay b 1090 127.0.0.1:1082 120
start_moproxy -s 1081 -s 1090 --probe 1 --max-wait 1.5 --allow-direct || finish

# Wait for both to have a delay, with 1081 ahead.
for ((i = 0; i < 50; i++)); do
    mo_status | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); s=d['servers']; sys.exit(0 if all(x['delay_ms'] is not None for x in s) and s[0]['tag']=='1081' else 1)" 2>/dev/null && break
    sleep 0.2
done
check_py "a (1081) is ranked first, b (1090) second" "[s['tag'] for s in j0['servers']] == ['1081', '1090']" "$(mo_status)"

# conn NAME: one REDIRECTed connection with 64 KiB each way; prints the destination's record.
conn() {
    local name=$1 c s
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 65536 --seed "$RANDOM" --expect-bytes 65536 --timeout 20)
    CONNS=$(( ${CONNS:-0} + 1 ))
    s=$(server_nth "$CONNS")
    check_py "$name: the client saw no failure, bytes intact" \
        "j0['error'] is None and j0['received'] == 65536 and j0['sha256_received'] == j0['sha256_sent'] and j1 is not None and j1['bytes_in'] == 65536" "$c" "$s"
    LAST_PEER=$(jget "$s" peer | sed -E 's/:[0-9]+$//')
}
attempt_failures() { grep -c '"msg":"proxy attempt failed"' "$PROXY_LOG"; }

conn "through a"
check_eq "through a: carried by a" 203.0.113.11 "$LAST_PEER"

# Kill a just after a probe round has measured it, so that the next connection (not the next round, 1 s later)
# is what finds it dead.
probes_of_a() {
    mo_status | "$PYTHON" -c "import json, sys
print([len(s['delay_history']) for s in json.load(sys.stdin)['servers'] if s['tag'] == '1081'][0])" 2>/dev/null
}
n0=$(probes_of_a)
for ((i = 0; i < 60; i++)); do
    [[ $(probes_of_a) != "$n0" ]] && break
    sleep 0.05
done
kill -KILL "$A_PID"
conn "a dead"
check_eq "a dead: carried by b" 203.0.113.12 "$LAST_PEER"
check "a dead: the failed attempt through a is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "proxy attempt failed" --field server=1081 --contains error="connection refused"
sleep 0.3  # the prober re-ranks as soon as the loop reports the failure (well within a probe interval)
check_py "a dead: a is down and last, its failure counted" \
    "[(s['tag'], s['up']) for s in j0['servers']] == [('1090', True), ('1081', False)] and j0['servers'][1]['conn_error'] >= 1" "$(mo_status)"
before=$(attempt_failures)
conn "a still dead"
check_eq "a still dead: carried by b" 203.0.113.12 "$LAST_PEER"
check_eq "a still dead: a was not tried again" "$before" "$(attempt_failures)"

# Back: microsocks again on the same port. The probes see it, its score starts from max wait and improves.
mo_microsocks a2 1081 203.0.113.11
A_PID=$BG_PID
if mo_wait_rank 1081 30; then ok "a back: the probes rank it first again"; else
    not_ok "a back: the probes rank it first again" "$(mo_status)"; fi
conn "a back"
check_eq "a back: carried by a" 203.0.113.11 "$LAST_PEER"

# Every backend down: --allow-direct goes straight to the destination (from R's own address).
kill -KILL "$A_PID" "$B_PID"
conn "all down"
check_eq "all down: connected directly" 203.0.113.1 "$LAST_PEER"
check_py "all down: status counts the direct connection" "j0['direct']['total'] == 1" "$(mo_status)"
finish
