#!/usr/bin/env bash
# moproxy: SIGHUP reloads the server list. Servers whose (address, protocol, tag) is unchanged keep their
# statistics; new ones appear, removed ones go; a bad file is reported with its line and key, and the list in
# use stays.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks a 1081 203.0.113.11
mo_microsocks b 1082 203.0.113.12
LIST=$WORK/servers.ini
printf '[a]\naddress = 127.0.0.1:1081\nprotocol = socks5\n' >"$LIST"
start_moproxy -l "$LIST" --probe 0 || finish

conn() {
    local c
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 5000 --seed "$RANDOM" --expect-bytes 5000 --timeout 20)
    CONNS=$(( ${CONNS:-0} + 1 ))
    LAST_PEER=$(jget "$("$PYTHON" "$PEER" find --log "$SERVER_LOG" --nth "$CONNS" --timeout 5)" peer | sed -E 's/:[0-9]+$//')
    [[ $(jget "$c" error) == null ]]
}
tags_totals() { mo_status | "$PYTHON" -c "import json,sys; print(' '.join('%s:%d' % (s['tag'], s['conn_total']) for s in json.load(sys.stdin)['servers']))"; }
# reload TEXT: write the list, SIGHUP, wait for the log line that says how it went.
reload() { mo_reload "$LIST" "$1"; }

conn && conn
check_eq "before reload: two connections through a" "a:2" "$(tags_totals)"

reload '[b]\naddress = 127.0.0.1:1082\nprotocol = socks5\n[a]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
check_eq "reload adds b first and keeps a's statistics" "b:0 a:2" "$(tags_totals)"
conn
check_eq "after reload: new connections follow the new order (b)" 203.0.113.12 "$LAST_PEER"

reload '[b]\naddress = 127.0.0.1:1082\nprotocol = socks5\nscore base = 50x0\n'
check "a bad file is reported with its line and key" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "reload failed, keeping the current server list" --contains "error=servers.ini:4" --contains 'error=score base'
check_eq "a bad file keeps the list in use" "b:1 a:2" "$(tags_totals)"
check "ferry still runs after a bad reload" proxy_alive

reload '[a]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
check_eq "reload removes b" "a:2" "$(tags_totals)"
conn
check_eq "after removing b: through a again" 203.0.113.11 "$LAST_PEER"
check_eq "a's count goes on" "a:3" "$(tags_totals)"
stop_proxy

# Reloads while probes are in flight (each probe through "slow" takes about 6 x 150 ms, longer than the probe
# interval): the probes of changed or removed servers are dropped, their late results ignored, and ferry keeps
# serving. Under ASan this is where a probe freed too early would show.
mo_delay slow 1090 127.0.0.1:1082 150
FAST='[a]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
SLOW='[slow]\naddress = 127.0.0.1:1090\nprotocol = socks5\n'
printf '%b' "$SLOW$FAST" >"$LIST"
start_moproxy -l "$LIST" --probe 1 --max-wait 2 || finish
sleep 1.2
for list in "$FAST" "$SLOW$FAST" "${SLOW/slow/slow2}$FAST" "$SLOW$FAST" "$FAST$SLOW"; do
    printf '%b' "$list" >"$LIST"
    kill -HUP "$PROXY_PID"
    sleep 0.35
done
check "reloads during probes: ferry still runs" proxy_alive
for ((i = 0; i < 50; i++)); do
    mo_status | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if sorted(s['tag'] for s in d['servers']) == ['a', 'slow'] and all(s['delay_ms'] is not None for s in d['servers']) else 1)" 2>/dev/null && break
    sleep 0.2
done
check_py "reloads during probes: the last list is in use and both servers are probed again" \
    "sorted(s['tag'] for s in j0['servers']) == ['a', 'slow'] and all(s['up'] and s['delay_ms'] is not None for s in j0['servers'])" "$(mo_status)"
conn
check_eq "reloads during probes: traffic still flows through a" 203.0.113.11 "$LAST_PEER"
finish
