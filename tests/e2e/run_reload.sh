#!/usr/bin/env bash
# ferry run with several listeners of different combinations in one process, and SIGHUP: a reload that
# changes one listener's combination while connections on it and on the others go on; a listener removed
# stops listening, one added starts; the upstream proxies keep their statistics across the reload; a file
# with an error changes nothing.
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:9000"
start_server "$NS_P" echo "127.0.0.1:9001"
SRV1=$SERVER_LOG
start_server "$NS_P" echo "127.0.0.1:9002"
SRV2=$SERVER_LOG
# An upstream SOCKS5 proxy for the `via = proxies` listener.
bg_ns "$NS_P" socks5d "$PYTHON" "$PEER" socks5d --listen 127.0.0.1:1080 --bind-out 127.0.0.1
wait_tcp_listen "$NS_P" 1080 5 || { not_ok "socks5d listens" "$(cat "$WORK/socks5d.err")"; finish; }

# write_config B_TARGET EXTRA: listeners a (plain -> :9000), b (plain -> B_TARGET), p (socks5 in, through the
# proxy out) and, as EXTRA says, c or d.
write_config() {
    cat >"$WORK/ferry.ini.new" <<INI
[ferry]
log-level = debug
probe = 0
status = 127.0.0.1:2099

[listener a]
listen = $P4:7001
inbound = plain
target = 127.0.0.1:9000

[listener b]
listen = $P4:7002
inbound = plain
target = $1

[listener p]
listen = $P4:7005
inbound = socks5
socks-clients = $C4/32
via = proxies

[server one]
address = 127.0.0.1:1080
protocol = socks5
$2
INI
    mv "$WORK/ferry.ini.new" "$WORK/ferry.ini"
}
write_config 127.0.0.1:9001 "
[listener c]
listen = $P4:7003
inbound = plain
target = 127.0.0.1:9000"
start_run "$NS_P" "$WORK/ferry.ini" 7001 7002 7003 7005 || finish
PID=$PROXY_PID

# Connections that outlive the reload: connected now, their payload sent 3 s later.
client "$NS_C" --connect "$P4:7001" --pre-payload-delay 3 --send-bytes 500000 --seed 1 --expect-bytes 500000 \
    --timeout 15 >"$WORK/long_a.json" &
LONG_A=$!
client "$NS_C" --connect "$P4:7002" --pre-payload-delay 3 --send-bytes 500000 --seed 2 --expect-bytes 500000 \
    --timeout 15 >"$WORK/long_b.json" &
LONG_B=$!
E2E_PIDS+=("$LONG_A" "$LONG_B")
for i in 1 2 3; do
    c=$(client "$NS_C" --connect "$P4:7005" --socks5 127.0.0.1:9002 --send-bytes 1000 --seed "$i" --expect-bytes 1000 --timeout 5)
done
check_py "through the proxy before the reload" "j0['error'] is None and j0['received'] == 1000" "$c"
for _ in $(seq 50); do
    [[ $(in_ns "$NS_P" ss -Htn state established "( sport = :7001 or sport = :7002 )" | wc -l) -ge 2 ]] && break
    sleep 0.05
done
total_before=$(in_ns "$NS_P" curl -sS --max-time 5 http://127.0.0.1:2099/status | "$PYTHON" -c 'import json,sys; print([s["conn_total"] for s in json.load(sys.stdin)["servers"] if s["tag"] == "one"][0])')
check_eq "the status page counts the proxy's connections" 3 "$total_before"

# The reload: b goes to :9002 now, c is gone, d is new, a second server joins.
write_config 127.0.0.1:9002 "
[server two]
address = 127.0.0.1:1081
protocol = socks5

[listener d]
listen = $P4:7004
inbound = plain
target = 127.0.0.1:9000"
kill -HUP "$PID"
check "the reload is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg reloaded --field listeners=4 --field servers=2
wait_tcp_listen "$NS_P" 7004 5
check "an added listener listens" wait_tcp_listen "$NS_P" 7004 1
for _ in $(seq 40); do [[ -z $(in_ns "$NS_P" ss -Hltn "sport = :7003") ]] && break; sleep 0.05; done
check_eq "a removed listener stops listening" "" "$(in_ns "$NS_P" ss -Hltn "sport = :7003")"

# New connections take the new combination; the ones accepted before keep theirs.
n=$(log_lines "$SRV2")
c=$(client "$NS_C" --connect "$P4:7002" --send-bytes 20000 --seed 5 --expect-bytes 20000 --timeout 5)
s=$(server_nth $((n + 1)) "$SRV2")
check_py "b's new connections go to its new target" "j1 is not None and j0['error'] is None and j0['sha256_received'] == j1['sha256_out'] == j0['sha256_sent']" "$c" "$s"
c=$(client "$NS_C" --connect "$P4:7004" --send-bytes 20000 --seed 6 --expect-bytes 20000 --timeout 5)
check_py "the added listener relays" "j0['error'] is None and j0['received'] == 20000 and j0['sha256_received'] == j0['sha256_sent']" "$c"
wait "$LONG_A" "$LONG_B"
check_py "a connection on the unchanged listener, open across the reload: intact" \
    "j0 is not None and j0['error'] is None and j0['received'] == 500000 and j0['sha256_received'] == j0['sha256_sent']" "$(cat "$WORK/long_a.json")"
check_py "a connection on the changed listener, open across the reload: intact, still to its old target" \
    "j0 is not None and j0['error'] is None and j0['received'] == 500000 and j0['sha256_received'] == j0['sha256_sent']" "$(cat "$WORK/long_b.json")"
check_eq "the old target got b's long connection" 1 "$(log_lines "$SRV1")"
c=$(client "$NS_C" --connect "$P4:7005" --socks5 127.0.0.1:9002 --send-bytes 1000 --seed 9 --expect-bytes 1000 --timeout 5)
total_after=$(in_ns "$NS_P" curl -sS --max-time 5 http://127.0.0.1:2099/status | "$PYTHON" -c 'import json,sys; d=json.load(sys.stdin)["servers"]; print(sorted(s["tag"] for s in d), [s["conn_total"] for s in d if s["tag"] == "one"][0])')
check_eq "the proxy kept its statistics across the reload (and the new one is listed)" "['one', 'two'] 4" "$total_after"

# A broken file: logged with its line, nothing changes.
printf '[listener a]\nlisten = %s:7001\ninbound = carrier-pigeon\n' "$P4" >"$WORK/ferry.ini"
kill -HUP "$PID"
check "a broken file is refused with file:line:key" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "reload failed, keeping the running configuration" --contains "error=ferry.ini:3: key \"inbound\""
c=$(client "$NS_C" --connect "$P4:7004" --send-bytes 1000 --seed 7 --expect-bytes 1000 --timeout 5)
check_py "after a failed reload every listener still relays" "j0['error'] is None and j0['received'] == 1000" "$c"
check "still running" proxy_alive "$PID"

finish
