#!/usr/bin/env bash
# moproxy: REDIRECTed connections (IPv4 and IPv6) reach their destination through the fastest backend.
#  Two microsocks backends on R; "slow" sits behind the tests' delaying relay (80 ms each way) and is listed
#  first, so only the probes can make "fast" win. The destination sees the backend's own outgoing address
#  (each microsocks binds its own), so it tells which backend carried each connection.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks fast 1081 203.0.113.11
mo_microsocks slow-socks 1082 203.0.113.12
mo_delay slow 1090 127.0.0.1:1082 80
cat >"$WORK/servers.ini" <<INI
[slow]
address = 127.0.0.1:1090
protocol = socks5
[fast]
address = 127.0.0.1:1081
protocol = SOCKSv5 ; any case, and an inline comment
INI
start_moproxy -l "$WORK/servers.ini" --probe 1 --max-wait 2 || finish

# Both probed at least once (the slow one takes about 6 x 80 ms: three round trips through the relay).
for ((i = 0; i < 50; i++)); do
    mo_status | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(s['delay_ms'] is not None for s in d['servers']) else 1)" 2>/dev/null && break
    sleep 0.2
done
if mo_wait_rank fast 10; then ok "the probes rank the fast backend first"; else
    not_ok "the probes rank the fast backend first" "$(mo_status)"; fi
check_py "status: both servers up with a delay, the slow one slower by the relay's round trips" \
    "len(j0['servers']) == 2 and all(s['up'] and s['delay_ms'] is not None for s in j0['servers']) and j0['servers'][1]['tag'] == 'slow' and j0['servers'][1]['delay_ms'] > j0['servers'][0]['delay_ms'] + 300" "$(mo_status)"

# relay NAME DEST [SERVER_PEER_IP]: a REDIRECTed connection from C to DEST, 1 MiB each way, carried by the
# fast backend (its log line; and the address the destination saw, when given: microsocks binds one family).
relay() {
    local name=$1 dest=$2 via=${3:-} c s
    c=$(client "$NS_C" --connect "$dest" --send-bytes 1048576 --seed "$RANDOM" --expect-bytes 1048576 --timeout 20)
    s=$(server_conn "$(jget "$c" local)")
    if [[ -z $s ]]; then
        # The destination sees the backend's address, not the client's: find the connection by order.
        s=$(server_nth "$(( ${RELAYS:-0} + 1 ))")
    fi
    RELAYS=$(( ${RELAYS:-0} + 1 ))
    check_py "$name: bytes intact both ways" \
        "j0['error'] is None and j0['sent'] == j1['bytes_in'] == 1048576 and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == j1['bytes_out'] and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    check "$name: ferry's log says the fast backend carried it" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
        --msg relaying --field via=fast --field clientAddr="$(jget "$c" local)" --field destination="$dest"
    [[ -n $via ]] && check_eq "$name: the destination saw the fast backend's address" "$via" \
        "$(jget "$s" peer | sed -E 's/^\[?([^]]*)\]?:[0-9]+$/\1/')" "client: $c" "server: $s"
}
relay "IPv4 redirect" "$MO_S4:80" 203.0.113.11
relay "IPv6 redirect" "[$MO_S6]:80"

check_py "status: two connections through fast, none through slow, no errors" \
    "[(s['tag'], s['conn_total'], s['conn_error']) for s in j0['servers']] == [('fast', 2, 0), ('slow', 0, 0)] and j0['servers'][0]['tx_bytes'] == 2 * 1048576 and j0['servers'][0]['rx_bytes'] == 2 * 1048576" "$(mo_status)"
stop_proxy

# --n-parallel 2 without probes: the list order puts slow first, the race is won by fast, and the loser is
# closed without counting as a failure.
start_moproxy -l "$WORK/servers.ini" --probe 0 --n-parallel 2 || finish
check_py "race: before any probe, slow is first in the list" "[s['tag'] for s in j0['servers']] == ['slow', 'fast']" "$(mo_status)"
relay "race, IPv4" "$MO_S4:80" 203.0.113.11
relay "race, IPv6" "[$MO_S6]:80"
sleep 0.3
check_py "race: the losing attempts did not count as errors" \
    "{s['tag']: (s['conn_total'], s['conn_error']) for s in j0['servers']} == {'fast': (2, 0), 'slow': (0, 0)}" "$(mo_status)"
check "race: no attempt failure logged" bash -c "! grep -q 'proxy attempt failed' '$PROXY_LOG'"
finish
