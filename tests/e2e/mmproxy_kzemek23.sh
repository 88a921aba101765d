#!/usr/bin/env bash
# go-mmproxy 2.3 (kzemek) behaviours beyond 2.1's flags: -4 / -6 as host names resolved at start (an
# unresolvable one fails the start), and -dynamic-destination over UDP, where each client's flow goes to its
# first datagram's destination and -allowed-destinations drops a forbidden port.
source "$(dirname "$0")/lib.sh"
ferry_only "go-mmproxy 2.3 behaviours" "2.1 has none of them" || finish

mm_topology
start_server "$NS_P" echo "127.0.0.1:9000"
SRV_A=$SERVER_LOG

# -4 as a name: localhost is 127.0.0.1 in /etc/hosts.
start_proxy "$NS_P" -v 2 -4 localhost:9000 || finish
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "203.0.113.7:$NEXT_PORT" --dst 192.0.2.1:443)" \
    --send-bytes 50000 --seed 1 --expect-bytes 50000 --timeout 10)
expect_relay "-4 localhost:9000" "$c" "$(server_conn "203.0.113.7:$NEXT_PORT" "$SRV_A")" "203.0.113.7:$NEXT_PORT"
check "the resolved address is logged" log_find --msg "resolved target" --field host=localhost --field address=127.0.0.1:9000
stop_proxy

out=$(in_ns "$NS_P" "$FERRY" mmproxy -4 no-such-host.invalid:443 2>&1)
check_eq "an unresolvable -4 exits 1" 1 "$?"
check "and says why" grep -q '"msg":"-4 \\"no-such-host.invalid:443\\": lookup no-such-host.invalid: ' <<<"$out"

# UDP with -dynamic-destination (-p all, so that start_proxy sees the TCP socket): two UDP echo services, one allowed.
ECHO_LOG=$WORK/udpecho.jsonl
: >"$ECHO_LOG"
bg_ns "$NS_P" udpecho "$PYTHON" "$PEER" udpecho --listen "127.0.0.1:5300" --listen "127.0.0.1:5301" --log "$ECHO_LOG"
start_proxy "$NS_P" -p all -v 1 -dynamic-destination -allowed-destinations 127.0.0.1:5300 || finish
sleep 0.3
udp() { in_ns "$NS_C" "$PYTHON" "$PEER" udpclient "$@"; }
r=$(udp --connect "$P4:8443" --header-hex "$(hdr v2 --family 0x12 --src 203.0.113.8:5353 --dst 127.0.0.1:5300)" \
    --payload dyn --count 3)
check_py "UDP: datagrams reach the header's destination and come back" "j0['replies'] == ['dyn-%d' % i for i in range(3)]" "$r"
seen=$(grep -c '"local": "127.0.0.1:5300", "peer": "203.0.113.8:5353"' "$ECHO_LOG")
check_eq "UDP: the service on the header's destination saw the client's own address" 3 "$seen"
r=$(udp --connect "$P4:8443" --header-hex "$(hdr v2 --family 0x12 --src 203.0.113.9:5353 --dst 127.0.0.1:5301)" \
    --payload no --count 1 --timeout 1)
check_py "UDP: a forbidden port gets nothing back" "j0['replies'] == []" "$r"
check "UDP: the drop is logged with the reason" log_find --msg "dropping datagram" \
    --contains "destination 127.0.0.1:5301 is not in the allowed destinations"

finish
