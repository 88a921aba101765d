#!/usr/bin/env bash
# Zero-downtime restarts in moproxy mode (--takeover-socket): the servers' statistics (connection and byte
# counters, probe history) survive the handover, and the old process exits 0.
source "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------- moproxy: the servers' statistics survive
mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks ms 1081 203.0.113.11
SOCK=$WORK/moproxy.takeover
start_moproxy -s 127.0.0.1:1081 --probe 1 --max-wait 2 --takeover-socket "$SOCK" || finish
old=$PROXY_PID
for i in 1 2 3 4 5; do
    client "$NS_C" --connect "$MO_S4:80" --send-bytes 3000 --seed "$i" --expect-bytes 3000 >/dev/null
done
sleep 2.5  # two probe rounds in the history
before=$(mo_status)
summary() {
    "$PYTHON" -c 'import json,sys; s=json.load(sys.stdin)["servers"][0]
print(s["conn_total"], s["tx_bytes"], s["rx_bytes"], len(s["delay_history"]))'
}
read -r total tx rx hist <<<"$(summary <<<"$before")"
check_eq "moproxy: five connections counted before the restart" "5 15000 15000" "$total $tx $rx"
successor "$NS_R" "$FERRY" moproxy -b "$MO_R4,$MO_R6,127.0.0.1" -p "$MO_PORT" --stats-bind "$MO_STATS" \
    --test-dns "$MO_S4:53" -s 127.0.0.1:1081 --probe 1 --max-wait 2 --takeover-socket "$SOCK" ||
    not_ok "moproxy: the successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$old"
exit_status "$old" 5
check_eq "moproxy: the old process exits 0" "0" "$EXIT_STATUS"
check "moproxy: the successor took the statistics of its one server" \
    grep -q '"msg":"server statistics taken over","servers":1' "$PROXY_LOG"
read -r total2 tx2 rx2 hist2 <<<"$(mo_status | summary)"
check_eq "moproxy: the counters survive the handover" "5 15000 15000" "$total2 $tx2 $rx2"
check "moproxy: the probe history survives ($hist before, $hist2 after)" test "$hist2" -ge "$hist" -a "$hist" -ge 2
stop_proxy

finish
