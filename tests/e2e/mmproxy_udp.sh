#!/usr/bin/env bash
# mmproxy -p udp: datagrams with a PROXY v2 header (DGRAM) from the load balancer's namespace reach a UDP echo
# service from each client's own address, and the replies come back to the sender.
#  - IPv4 and IPv6 clients; an IPv4 client behind an IPv6 load balancer goes to the -4 target (2.1 picks -6);
#  - several clients at once, one flow each; LOCAL datagrams unspoofed;
#  - malformed datagrams (v1, STREAM, garbage, truncated) dropped with a reason while good ones flow;
#  - allowed-subnets per datagram;
#  - a flow closes after -close-after without traffic (ss -u) and the next datagram opens a new one;
#  - -p all: TCP and UDP on the same address.
source "$(dirname "$0")/lib.sh"

mm_topology
ECHO_LOG=$WORK/udpecho.jsonl
: >"$ECHO_LOG"
bg_ns "$NS_P" udpecho "$PYTHON" "$PEER" udpecho --listen "127.0.0.1:$SRV_PORT" --listen "[::1]:$SRV_PORT" --log "$ECHO_LOG"
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" -- --record-bytes 64
TCP_LOG=$SERVER_LOG
start_proxy "$NS_P" -p all -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -close-after 2 || finish

udp() { in_ns "$NS_C" "$PYTHON" "$PEER" udpclient "$@"; }
seen() {  # seen PEER: how many datagrams the echo got from PEER
    "$PYTHON" - "$ECHO_LOG" "$1" <<'PY'
import json, sys
print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l)['peer'] == sys.argv[2]))
PY
}
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# bad_then_good PORT BAD_HEX GOOD_HEADER_HEX PAYLOAD WAIT_S: from one client socket, the datagram BAD_HEX, then
# GOOD_HEADER_HEX + PAYLOAD; prints the replies (a JSON list).
bad_then_good() {
    in_ns "$NS_C" "$PYTHON" - "$P4" "$@" <<'PY'
import json, socket, sys
host, port, bad, good, payload, wait = sys.argv[1:7]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((host, int(port)))
s.send(bytes.fromhex(bad))
s.send(bytes.fromhex(good) + payload.encode())
s.settimeout(float(wait))
got = []
try:
    while True:
        got.append(s.recv(65536).decode())
        s.settimeout(0.3)
except socket.timeout:
    pass
print(json.dumps(got))
PY
}
sleep 0.3

h4=$(hdr v2 --family 0x12 --src 203.0.113.7:5353 --dst 192.0.2.1:53)
r=$(udp --connect "$P4:8443" --header-hex "$h4" --payload v4 --count 5)
check_py "IPv4 client: five datagrams echoed back to the sender, in order" \
    "j0['replies'] == ['v4-%d' % i for i in range(5)]" "$r"
check_eq "IPv4 client: the echo saw them from the client's own address" 5 "$(seen 203.0.113.7:5353)"

# The same client from several sender ports (each udpclient run is a new socket): SO_REUSEPORT spreads the
# senders over the loops' sockets, ferry's BPF program steers by the client in the header, so there is one
# flow and every reply reaches its sender.
check_eq "one UDP socket per loop on 8443 (ss -lun)" "$(in_ns "$NS_P" nproc)" "$(in_ns "$NS_P" ss -Hlun "sport = :8443" | wc -l)"
hs=$(hdr v2 --family 0x12 --src 203.0.113.60:5353 --dst 192.0.2.1:53)
hs6=$(hdr v2 --family 0x22 --src "[2001:db8:ff::60]:5353" --dst "[2001:db8:ff::1]:53")
all_ok=1
for i in $(seq 1 12); do
    r=$(udp --connect "$P4:8443" --header-hex "$hs" --payload "port$i" --count 2)
    [[ $(jget "$r" replies) == *"port$i-1"* ]] || { all_ok=0; note "sender $i: $r"; }
    r=$(udp --connect "$P4:8443" --header-hex "$hs6" --payload "six$i" --count 2)
    [[ $(jget "$r" replies) == *"six$i-1"* ]] || { all_ok=0; note "sender $i (v6 client): $r"; }
done
check_eq "one client from 12 sender ports: every reply back to its own sender" 1 "$all_ok"
check_eq "... through one flow for it (ss -u)" 1 "$(in_ns "$NS_P" ss -Hun state connected src 203.0.113.60:5353 | wc -l)"
check_eq "... and one for the IPv6 client" 1 "$(in_ns "$NS_P" ss -Hun state connected src "[2001:db8:ff::60]:5353" | wc -l)"

h6=$(hdr v2 --family 0x22 --src "[2001:db8:ff::7]:5353" --dst "[2001:db8:ff::1]:53")
r=$(udp --connect "[$P6]:8443" --header-hex "$h6" --payload v6 --count 3)
check_py "IPv6 client: echoed back" "j0['replies'] == ['v6-0', 'v6-1', 'v6-2']" "$r"
check_eq "IPv6 client: the echo saw [2001:db8:ff::7]:5353" 3 "$(seen "[2001:db8:ff::7]:5353")"

h48=$(hdr v2 --family 0x12 --src 203.0.113.8:5353 --dst 192.0.2.1:53)
r=$(udp --connect "[$P6]:8443" --header-hex "$h48" --payload mixed --count 2)
check_py "IPv4 client behind an IPv6 load balancer: the -4 target, echoed back (2.1 dials -6)" \
    "j0['replies'] == ['mixed-0', 'mixed-1']" "$r"
check_eq "... the echo saw 203.0.113.8:5353 on 127.0.0.1" 2 "$(seen 203.0.113.8:5353)"

# Several clients at once, each its own flow.
pids=()
for i in 1 2 3 4; do
    hi=$(hdr v2 --family 0x12 --src "203.0.113.2$i:600$i" --dst 192.0.2.1:53)
    udp --connect "$P4:8443" --header-hex "$hi" --payload "c$i" --count 10 --gap 0.01 >"$WORK/multi$i.json" &
    pids+=($!)
done
wait "${pids[@]}"
for i in 1 2 3 4; do
    check_py "client $i of 4 at once: all ten replies" "len(j0['replies']) == 10 and sorted(j0['replies']) == sorted('c$i-%d' % k for k in range(10))" "$(cat "$WORK/multi$i.json")"
done
check_eq "four clients: the echo saw each from its own address" "10 10 10 10" \
    "$(seen 203.0.113.21:6001) $(seen 203.0.113.22:6002) $(seen 203.0.113.23:6003) $(seen 203.0.113.24:6004)"

# LOCAL: unspoofed; the reply still comes back.
hl=$(hdr v2 --local)
r=$(udp --connect "$P4:8443" --header-hex "$hl" --payload health --count 1)
check_py "LOCAL: echoed back" "j0['replies'] == ['health-0']" "$r"
check_py "LOCAL: the echo saw ferry's own address, not a client's" \
    "any(__import__('json').loads(l)['data'] == 'health-0'.encode().hex() and __import__('json').loads(l)['peer'].startswith('127.0.0.1:') for l in open('$ECHO_LOG') if l.strip())" ""

# Malformed datagrams between good ones, from the same socket.
for bad in "$(printf 'PROXY TCP4 203.0.113.9 192.0.2.1 5353 53\r\n' | od -An -tx1 | tr -d ' \n')" \
           "$(hdr v2 --src 203.0.113.9:5353 --dst 192.0.2.1:53)" "68656c6c6f" "${h4:0:20}"; do
    r=$(bad_then_good 8443 "${bad}$(hexof bad)" "$h4" good 1.0)
    check_py "malformed datagram (${bad:0:16}...): dropped, the good one after it echoed" "j0 == ['good']" "$r"
done
check "malformed: dropped with a reason in the log (-v 1)" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "dropping datagram"

# close-after 2: the flow's socket goes away on time, and the next datagram opens a new one.
flow_sockets() { in_ns "$NS_P" ss -Hun state connected src 203.0.113.7:5353 | wc -l; }
r=$(udp --connect "$P4:8443" --header-hex "$h4" --payload again --count 1)
check_eq "close-after: the flow's socket is there right after traffic (ss -u)" 1 "$(flow_sockets)"
sleep 3.2
check_eq "close-after 2: closed by 3.2 s after the last datagram" 0 "$(flow_sockets)"
r=$(udp --connect "$P4:8443" --header-hex "$h4" --payload reopened --count 1)
check_py "close-after: the next datagram opens a new flow and is echoed" "j0['replies'] == ['reopened-0']" "$r"
check_eq "close-after: ... which ss -u shows again" 1 "$(flow_sockets)"
n=$(grep -c '"msg":"closing UDP flow".*"clientAddr":"203.0.113.7:5353"' "$PROXY_LOG")
check_py "close-after: the log shows the flow closing ($n)" "$n >= 1" ""

# -p all: TCP on the same address.
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src 203.0.113.30:7000 --dst 192.0.2.1:9001)" --send-bytes 1000 --seed 1 --expect-bytes 1000 --timeout 5)
check_py "-p all: a TCP connection on the same port is relayed too" "j0['error'] is None and j0['received'] == 1000" "$c"
stop_proxy

# allowed-subnets: checked per datagram against the sender.
echo "192.0.2.0/24" >"$WORK/allowed.txt"
PROXY_N=$((PROXY_N + 1))
PROXY_LOG=$WORK/proxy$PROXY_N.log
ip netns exec "$NS_P" "$FERRY" mmproxy -p udp -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" \
    -allowed-subnets "$WORK/allowed.txt" 2>"$PROXY_LOG" &
PROXY_PID=$!
E2E_PIDS+=("$PROXY_PID")
E2E_PROXY_LOGS+=("$PROXY_LOG")
E2E_PROXY_PIDS+=("$PROXY_PID")
for ((i = 0; i < 100; i++)); do
    [[ -n $(in_ns "$NS_P" ss -Hlun "sport = :8444") ]] && break
    sleep 0.05
done
check "-p udp: listening on UDP 8444 (ss -lun)" test -n "$(in_ns "$NS_P" ss -Hlun "sport = :8444")"
hx=$(hdr v2 --family 0x12 --src 203.0.113.40:5353 --dst 192.0.2.1:53)
r=$(udp --connect "$P4:8444" --header-hex "$hx" --payload denied --count 2 --timeout 1)
check_py "allowed-subnets: a sender outside them gets nothing back" "j0['replies'] == []" "$r"
check_eq "allowed-subnets: nothing reached the echo" 0 "$(seen 203.0.113.40:5353)"
check "allowed-subnets: the log says why" grep -q '"msg":"dropping datagram".*not in allowed subnets' "$PROXY_LOG"
stop_proxy

# The reference, Debian's go-mmproxy 2.1, on the same cases where it behaves correctly: an IPv4 client behind
# an IPv4 load balancer is echoed from its own address. (Behind an IPv6 load balancer 2.1 dials the -6 target
# for an IPv4 client: ferry's case above.)
if command -v go-mmproxy >/dev/null; then
    mm_routing "$NS_P"
    PROXY_N=$((PROXY_N + 1))
    REF_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$NS_P" go-mmproxy -p udp -l "0.0.0.0:8445" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" 2>"$REF_LOG" &
    E2E_PIDS+=("$!")
    for ((i = 0; i < 100; i++)); do
        [[ -n $(in_ns "$NS_P" ss -Hlun "sport = :8445") ]] && break
        sleep 0.05
    done
    href=$(hdr v2 --family 0x12 --src 203.0.113.50:5353 --dst 192.0.2.1:53)
    r=$(udp --connect "$P4:8445" --header-hex "$href" --payload ref --count 3 --timeout 3)
    check_py "go-mmproxy 2.1, the same IPv4 case: echoed back" "j0['replies'] == ['ref-0', 'ref-1', 'ref-2']" "$r"
    check_eq "go-mmproxy 2.1: the echo saw the client's own address too" 3 "$(seen 203.0.113.50:5353)"
    href6=$(hdr v2 --family 0x22 --src "[2001:db8:ff::50]:5353" --dst "[2001:db8:ff::1]:53")
    r=$(udp --connect "[$P6]:8445" --header-hex "$href6" --payload ref6 --count 2 --timeout 3)
    check_py "go-mmproxy 2.1, an IPv6 client behind an IPv6 load balancer: echoed back" "j0['replies'] == ['ref6-0', 'ref6-1']" "$r"
    check_eq "go-mmproxy 2.1: the echo saw [2001:db8:ff::50]:5353" 2 "$(seen "[2001:db8:ff::50]:5353")"
    # A client of its own: 2.1 keeps sending a flow's replies to the sender it first came from.
    hbad=$(hdr v2 --family 0x12 --src 203.0.113.51:5353 --dst 192.0.2.1:53)
    r=$(bad_then_good 8445 "$(hexof "hello, no header")" "$hbad" after 2.0)
    check_py "go-mmproxy 2.1: a datagram without a header is dropped, the good one after it echoed" "j0 == ['after']" "$r"
    pids=()
    for i in 1 2 3; do
        hi=$(hdr v2 --family 0x12 --src "203.0.113.7$i:700$i" --dst 192.0.2.1:53)
        udp --connect "$P4:8445" --header-hex "$hi" --payload "r$i" --count 5 --gap 0.01 --timeout 3 >"$WORK/ref$i.json" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for i in 1 2 3; do
        check_py "go-mmproxy 2.1, client $i of 3 at once: all replies" "sorted(j0['replies']) == sorted('r$i-%d' % k for k in range(5))" "$(cat "$WORK/ref$i.json")"
    done
    ip netns exec "$NS_P" go-mmproxy -p udp -l "0.0.0.0:8446" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" \
        -allowed-subnets "$WORK/allowed.txt" 2>"$REF_LOG.allowed" &
    E2E_PIDS+=("$!")
    for ((i = 0; i < 100; i++)); do
        [[ -n $(in_ns "$NS_P" ss -Hlun "sport = :8446") ]] && break
        sleep 0.05
    done
    hx2=$(hdr v2 --family 0x12 --src 203.0.113.41:5353 --dst 192.0.2.1:53)
    r=$(udp --connect "$P4:8446" --header-hex "$hx2" --payload denied --count 2 --timeout 1)
    check_py "go-mmproxy 2.1, allowed-subnets: a sender outside them gets nothing back either" "j0['replies'] == []" "$r"
    check_eq "go-mmproxy 2.1, allowed-subnets: nothing reached the echo" 0 "$(seen 203.0.113.41:5353)"
else
    skip "go-mmproxy comparison" "go-mmproxy is not installed"
fi
finish
