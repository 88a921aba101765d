#!/usr/bin/env bash
# moproxy: --graphite IP:PORT, moproxy 0.5.1's Graphite plaintext exporter. First a listener that records every line
# it receives (carbon's plaintext port speaks nothing back), for the exact lines: after each probe round but the first,
# every server's
# moproxy.proxy_servers.TAG.{delay,score,tx_bytes,rx_bytes,conns.total,conns.alive,conns.error} with values that
# match the traffic sent through two microsocks servers and sane timestamps. The carbon server going away (closed,
# then a black hole that never answers the connect) stalls neither the relaying nor the probes, and once it is back
# the lines come again over a new connection. Then Debian's carbon-cache itself (graphite-carbon), read back with
# whisper-fetch: the metrics it stored, their values, and a carbon restart.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80"
mo_microsocks alpha 1081 203.0.113.11
mo_microsocks beta 1082 203.0.113.12
cat >"$WORK/servers.ini" <<INI
[alpha]
address = 127.0.0.1:1081
protocol = socks5
[beta.two]
address = 127.0.0.1:1082
protocol = socks5
score base = 5000
INI
CARBON_PORT=2003
LINES=$WORK/carbon.lines
cat >"$WORK/carbon.py" <<'PY'
# A carbon plaintext receiver that records "GENERATION CONN RECEIVED_AT LINE" for every line.
import socket, sys, threading, time
gen, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', port))
srv.listen(16)
lock = threading.Lock()
def serve(conn, n):
    buf = b''
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buf += data
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            with lock, open(out, 'a') as f:
                f.write('%s %d %.3f %s\n' % (gen, n, time.time(), line.decode()))
n = 0
while True:
    conn, _ = srv.accept()
    n += 1
    threading.Thread(target=serve, args=(conn, n), daemon=True).start()
PY
carbon() {
    bg_ns "$NS_R" "carbon$1" "$PYTHON" "$WORK/carbon.py" "$1" "$CARBON_PORT" "$LINES"
    CARBON_PID=$BG_PID
    wait_tcp_listen "$NS_R" "$CARBON_PORT" 5 || { not_ok "carbon listener $1 listens" "$(cat "$WORK/carbon$1.err")"; finish; }
}
# batches GEN: the lines of generation GEN as JSON: [[conn, received_at, path, value, timestamp], ...]
batches() {
    "$PYTHON" -c 'import json, sys
rows = [l.split() for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
print(json.dumps([[int(r[1]), float(r[2]), r[3], r[4], r[5]] for r in rows if r[0] == sys.argv[2]]))' "$LINES" "$1"
}
relay_ok() {  # relay_ok NAME SEED: one connection through ferry within 2 s
    local c
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 20000 --seed "$2" --expect-bytes 20000 --timeout 2)
    check_py "$1" "j0['error'] is None and j0['received'] == 20000" "$c"
}

carbon 1
started=$(date +%s.%N)
start_moproxy -l "$WORK/servers.ini" --probe 1 --graphite "127.0.0.1:$CARBON_PORT" || finish
mo_wait_rank alpha 10 || not_ok "alpha ranks first" "$(mo_status)"
for n in 1 2 3; do
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes $((n * 10000)) --seed "$n" --expect-bytes $((n * 10000)) --timeout 10)
    check_py "connection $n relayed" "j0['error'] is None and j0['received'] == $((n * 10000))" "$c"
done
sleep 3.5  # the next rounds' batches carry the three connections
lines=$(batches 1)
check_py "the first batch comes after the second probe round (moproxy skips the first), about 1 s apart after" "$(cat <<PY
(lambda ts: len(ts) >= 3 and ts[0] - $started >= 0.9 and all(0.5 <= b - a <= 1.6 for a, b in zip(ts, ts[1:])))(
    sorted(set(float(r[4]) for r in j0)))
PY
)" "$lines"
check_py "every batch: moproxy's 7 metrics for each server, tags with '.' made '_', nothing else" "$(cat <<'PY'
(lambda batches: all(sorted(b) == sorted('moproxy.proxy_servers.%s.%s' % (t, m) for t in ('alpha', 'beta_two')
    for m in ('delay', 'score', 'tx_bytes', 'rx_bytes', 'conns.total', 'conns.alive', 'conns.error'))
    for b in batches.values()))(
    __import__('functools').reduce(lambda d, r: d.setdefault(r[4], []).append(r[2]) or d, j0, {}))
PY
)" "$lines"
check_py "values: alpha carried the 3 connections, 60000 bytes each way, none alive, no error; beta nothing" "$(cat <<'PY'
(lambda last: [last['moproxy.proxy_servers.alpha.' + m] for m in ('tx_bytes', 'rx_bytes', 'conns.total',
    'conns.alive', 'conns.error')] == ['60000', '60000', '3', '0', '0']
    and all(last['moproxy.proxy_servers.beta_two.' + m] == '0' for m in ('tx_bytes', 'rx_bytes', 'conns.total')))(
    {r[2]: r[3] for r in j0 if r[4] == j0[-1][4]})
PY
)" "$lines"
check_py "values: delays in ms (small on loopback), beta's score carries its score base 5000" "$(cat <<'PY'
(lambda last: 0 <= int(last['moproxy.proxy_servers.alpha.delay']) < 1000
    and 5000 <= int(last['moproxy.proxy_servers.beta_two.score']) < 6000
    and int(last['moproxy.proxy_servers.alpha.score']) < 1000)({r[2]: r[3] for r in j0 if r[4] == j0[-1][4]})
PY
)" "$lines"
check_py "timestamps: Unix seconds with microseconds, within a second of their arrival, one connection kept" \
    "(all(abs(float(r[4]) - r[1]) < 1 and __import__('re').fullmatch(r'\\d{10}(\\.\\d{1,6})?', r[4]) for r in j0)
     and len(set(r[0] for r in j0)) == 1)" "$lines"
check_eq "the JSON status agrees: alpha's bytes" "60000 60000" \
    "$(mo_status | "$PYTHON" -c 'import json,sys; s=[x for x in json.load(sys.stdin)["servers"] if x["tag"]=="alpha"][0]; print(s["tx_bytes"], s["rx_bytes"])')"

# ---------------------------------------------------------------- carbon goes away, then does not answer at all
kill "$CARBON_PID"
wait "$CARBON_PID" 2>/dev/null
sleep 1.5
relay_ok "carbon closed: relaying goes on" 11
check "carbon closed: one warning that the metrics were dropped" log_find --msg \
    "graphite: failed to send metrics, dropped; retrying at the next probe round" --timeout 3
in_ns "$NS_R" iptables -I INPUT -i lo -p tcp --dport "$CARBON_PORT" -j DROP  # a black hole: the SYN is never answered
h0=$(mo_status | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["servers"][0]["delay_history"]))')
t0=$(date +%s%N)
for s in 12 13 14; do relay_ok "carbon a black hole: relaying goes on ($s)" "$s"; sleep 0.5; done
t1=$(date +%s%N)
sleep 2
h1=$(mo_status | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)["servers"][0]["delay_history"]))')
check "carbon a black hole: the probes go on every second ($h0 -> $h1 rounds in the history)" test $((h1 - h0)) -ge 3
check "carbon a black hole: the three relays took under 2 s beside the pauses" test $(( (t1 - t0) / 1000000 )) -lt 3500
check_eq "the warning was said once for the whole outage" 1 \
    "$(grep -c '"msg":"graphite: failed to send metrics, dropped' "$PROXY_LOG")"

# ---------------------------------------------------------------- back again
in_ns "$NS_R" iptables -D INPUT -i lo -p tcp --dport "$CARBON_PORT" -j DROP
carbon 2
for ((i = 0; i < 80; i++)); do
    [[ $(batches 2) != "[]" ]] && break
    sleep 0.1
done
sleep 1.2
lines2=$(batches 2)
check_py "carbon back: batches come again, the bytes of all 7 connections counted" "$(cat <<'PY'
(lambda last: last.get('moproxy.proxy_servers.alpha.tx_bytes') == str(60000 + 4 * 20000)
    and last.get('moproxy.proxy_servers.alpha.conns.total') == '7')({r[2]: r[3] for r in j0 if r[4] == j0[-1][4]})
PY
)" "$lines2"
check "carbon back: the log says so" log_find --msg "graphite: metrics sent again" --timeout 3
stop_proxy

# ---------------------------------------------------------------- Debian's carbon-cache
CARBON=$WORK/carbon
mkdir -p "$CARBON"
cat >"$CARBON/carbon.conf" <<CONF
[cache]
STORAGE_DIR = $CARBON/storage/
LOCAL_DATA_DIR = $CARBON/storage/whisper/
WHITELISTS_DIR = $CARBON/lists/
CONF_DIR = $CARBON/
LOG_DIR = $CARBON/log/
PID_DIR = $CARBON/
USER =
ENABLE_TAGS = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
WHISPER_AUTOFLUSH = True
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = 2103
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = 2104
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = 2107
CONF
printf '[all]\npattern = .*\nretentions = 1s:1h\n' >"$CARBON/storage-schemas.conf"
carbon_cache() {
    rm -f "$CARBON/carbon-cache-a.pid"
    bg_ns "$NS_R" "carbon-cache$1" carbon-cache --config="$CARBON/carbon.conf" --debug start
    CARBON_PID=$BG_PID
    wait_tcp_listen "$NS_R" 2103 10 || { not_ok "carbon-cache listens" "$(tail "$WORK/carbon-cache$1.out")"; finish; }
}
# wsp METRIC [FROM]: the last stored value of moproxy.proxy_servers.METRIC (since FROM, Unix seconds), "" if none.
wsp() {
    whisper-fetch --from="${2:-$(($(date +%s) - 600))}" "$CARBON/storage/whisper/moproxy/proxy_servers/${1//.//}.wsp" \
        2>/dev/null | awk '$2 != "None" { v = $2 } END { if (v != "") printf "%d", v }'
}
carbon_cache 1
start_moproxy -l "$WORK/servers.ini" --probe 1 --graphite 127.0.0.1:2103 || finish
mo_wait_rank alpha 10 || not_ok "alpha ranks first (carbon-cache)" "$(mo_status)"
for n in 21 22; do relay_ok "carbon-cache: connection $n relayed" "$n"; done
for ((i = 0; i < 50; i++)); do [[ $(wsp alpha.tx_bytes) == 40000 ]] && break; sleep 0.2; done
check_eq "carbon-cache stored moproxy's 7 metrics of each server, tags with '.' made '_'" "$(for t in alpha beta_two; do
    for m in conns/alive conns/error conns/total delay rx_bytes score tx_bytes; do echo "$t/$m.wsp"; done; done)" \
    "$(cd "$CARBON/storage/whisper/moproxy/proxy_servers" && find . -name '*.wsp' | sed 's|^\./||' | sort)"
check_eq "carbon-cache: alpha's bytes, connections and errors as sent through it" "40000 40000 2 0 0" \
    "$(wsp alpha.tx_bytes) $(wsp alpha.rx_bytes) $(wsp alpha.conns.total) $(wsp alpha.conns.alive) $(wsp alpha.conns.error)"
check "carbon-cache: beta's score with its score base, its delay in ms" \
    test "$(wsp beta_two.score)" -ge 5000 -a "$(wsp beta_two.score)" -lt 6000 -a "$(wsp beta_two.delay)" -lt 1000
for ((i = 0; i < 30; i++)); do
    points=$(whisper-fetch --from=$(($(date +%s) - 600)) "$CARBON/storage/whisper/moproxy/proxy_servers/alpha/tx_bytes.wsp" |
        awk '$2 != "None"' | wc -l)
    ((points >= 2)) && break
    sleep 0.2
done
check "carbon-cache: a point every probe round (1 s): $points within 6 s" test "$points" -ge 2
kill "$CARBON_PID"
wait "$CARBON_PID" 2>/dev/null
relay_ok "carbon-cache stopped: relaying goes on" 23
sleep 1.5
back=$(date +%s)
carbon_cache 2
for ((i = 0; i < 50; i++)); do [[ $(wsp alpha.tx_bytes "$back") == 60000 ]] && break; sleep 0.2; done
check_eq "carbon-cache restarted: new points with the connection made while it was down" "60000 3" \
    "$(wsp alpha.tx_bytes "$back") $(wsp alpha.conns.total "$back")"
finish
