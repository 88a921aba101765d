#!/usr/bin/env bash
# tproxy -p udp behind the README's UDP TPROXY rules (iptables for IPv4 and IPv6, then the same with nftables):
# DNS to dnsmasq and datagrams to a UDP echo reach the server from the client's own address and port, every
# reply reaches the client from the address it sent to (its socket is connected there), many clients to several
# destinations at once; flows close after -udp-idle-timeout (ss -u in the router); at -udp-max-flows the least
# recently used flow is evicted and logged; -p all serves TCP and UDP at once.
source "$(dirname "$0")/lib.sh"

tp_topology  # C -- R -- S; the TCP rules it adds stay unused, the fwmark 1 -> table 100 local route is shared
udp_iptables() {  # $1: -A or -D
    local t on
    for t in iptables ip6tables; do
        [[ $t == iptables ]] && on=127.0.0.1 || on=::1
        in_ns "$NS_R" $t -t mangle "$1" PREROUTING -i "$TP_IN" -p udp -m multiport --dports 53,7000:7009 \
            -j TPROXY --tproxy-mark 1 --on-port 9091 --on-ip $on
        in_ns "$NS_R" $t -t mangle "$1" PREROUTING -p udp -m socket --transparent -j MARK --set-mark 1
    done
}
udp_iptables -A

ECHO_LOG=$WORK/udpecho.jsonl
bg_ns "$NS_S" udpecho "$PYTHON" "$PEER" udpecho --listen "$TP_S4:7000" --listen "[$TP_S6]:7000" \
    --listen "$TP_S4:7001" --listen "[$TP_S6]:7001" --log "$ECHO_LOG"
bg_ns "$NS_S" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --pid-file= --listen-address="$TP_S4" --listen-address="$TP_S6" --bind-interfaces --port=53 \
    --address=/ferry.test/192.0.2.53 --address=/ferry.test/2001:db8::53 --log-queries --log-facility=-
wait_tcp_listen "$NS_S" 53 5 || { not_ok "dnsmasq listens on port 53" "$(cat "$WORK/dnsmasq.err")"; finish; }

# start_udp ARGS...: ferry tproxy -p udp in R, waiting for its UDP sockets.
start_udp() {
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$NS_R" "$FERRY" tproxy -p udp -bindAddr "127.0.0.1:9091,[::1]:9091" "$@" \
        >"$PROXY_LOG" 2>"$PROXY_LOG.stderr" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG" "$PROXY_LOG.stderr")
    note "proxy $PROXY_N (pid $PROXY_PID): $FERRY tproxy -p udp $*"
    local i
    for i in $(seq 50); do
        if [[ $(in_ns "$NS_R" ss -Hlun 'sport = :9091' | grep -c .) -ge 2 ]]; then
            E2E_PROXY_PIDS+=("$PROXY_PID")
            return 0
        fi
        sleep 0.1
    done
    not_ok "ferry tproxy -p udp listens on udp 9091" "$(tail -n 20 "$PROXY_LOG" "$PROXY_LOG.stderr")"
    finish
}

# dns_query SERVER BIND: an A (IPv4 server) or AAAA (IPv6) query for ferry.test from C; prints "LOCAL FROM ANSWER".
dns_query() {
    in_ns "$NS_C" "$PYTHON" - "$1" "$2" <<'EOF'
import ipaddress, socket, struct, sys
srv = sys.argv[1]
fam = socket.AF_INET6 if ':' in srv else socket.AF_INET
qtype = 28 if fam == socket.AF_INET6 else 1
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b'\x05ferry\x04test\x00' + struct.pack('>HH', qtype, 1)
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind((sys.argv[2], 0))
s.settimeout(3)
s.sendto(q, (srv, 53))
data, peer = s.recvfrom(4096)  # unconnected: whatever source the reply has is reported
raw = data[-16:] if qtype == 28 else data[-4:]
print(s.getsockname()[0] + ':' + str(s.getsockname()[1]), peer[0] + ':' + str(peer[1]), ipaddress.ip_address(raw))
EOF
}

run_checks() {  # $1: label
    local label=$1 srv out
    for srv in "$TP_S4" "$TP_S6"; do
        local bind=$TP_C4
        [[ $srv == *:* ]] && bind=$TP_C6
        out=$(dns_query "$srv" "$bind" 2>&1)
        local want=192.0.2.53
        [[ $srv == *:* ]] && want=2001:db8::53
        check_eq "$label: DNS to $srv answered from $srv:53 through tproxy" "$srv:53 $want" \
            "$(cut -d' ' -f2- <<<"$out")" "$out"
        local client=${out%% *}
        client=${client%:*}
        check "$label: dnsmasq saw the query from the client's own address $client" \
            grep -q "query\[A*\] ferry.test from $client" "$WORK/dnsmasq.out" "$WORK/dnsmasq.err"
    done
    # Many clients to several destinations at once: 6 clients x 4 destinations, 5 datagrams each.
    local pids=() dst i n=0
    for dst in "$TP_S4:7000" "$TP_S4:7001" "[$TP_S6]:7000" "[$TP_S6]:7001"; do
        for i in 1 2 3 4 5 6; do
            n=$((n + 1))
            in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$dst" --payload "$label-$n" --count 5 \
                --timeout 5 >"$WORK/uc-$label-$n.json" &
            pids+=($!)
        done
    done
    wait "${pids[@]}"
    local all ok_clients=0 bad=()
    for i in $(seq "$n"); do
        all=$(cat "$WORK/uc-$label-$i.json")
        if "$PYTHON" - "$all" "$ECHO_LOG" <<'EOF'; then ok_clients=$((ok_clients + 1)); else bad+=("$all"); fi
import json, sys
r = json.loads(sys.argv[1])
seen = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
peers = {s['peer'] for s in seen if bytes.fromhex(s['data']).decode(errors='replace') in r['sent']}
# connected client socket: a reply from any other source would not be received at all
sys.exit(0 if sorted(r['replies']) == sorted(r['sent']) and len(r['sent']) == 5 and peers == {r['local']} else 1)
EOF
    done
    check_eq "$label: $n concurrent clients got all their echoes from the destination, seen from their own address" \
        "$n" "$ok_clients" "${bad[@]:0:3}"
}

start_udp -udp-idle-timeout 2s -log-level debug
run_checks iptables
flows=$(in_ns "$NS_R" ss -Huan "dst $TP_S4" | grep -c .)
check "iptables: the flows' upstream sockets are open in R (ss -u: $flows)" test "$flows" -ge 12
sleep 3.5
flows=$(in_ns "$NS_R" ss -Huan "( dst $TP_S4 or dst [$TP_S6] )" | grep -c .)
check_eq "iptables: every flow closed after 2 s idle (ss -u in R)" 0 "$flows" "$(in_ns "$NS_R" ss -uan)"
check "the idle close is logged" grep -q 'msg="closing UDP flow".*reason=idle' "$PROXY_LOG"
stop_proxy "$PROXY_PID"

# The cap: one loop, two flows at most; a third client evicts the least recently used.
start_udp -udp-max-flows 2 -threads 1
for i in 1 2 3; do
    in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$TP_S4:7000" --payload "cap-$i" --timeout 3 >/dev/null
done
flows=$(in_ns "$NS_R" ss -Huan "dst $TP_S4" | grep -c .)
check_eq "at -udp-max-flows 2 two flows are open in R after three clients" 2 "$flows"
check "the eviction is logged with its count" grep -q 'evicting the least recently used flow.*evicted=1' "$PROXY_LOG"
stop_proxy "$PROXY_PID"

# The same with the README's nftables rules.
udp_iptables -D
in_ns "$NS_R" nft -f - <<NFT
table inet ferry_udp {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        iifname "$TP_IN" meta nfproto ipv4 udp dport {53, 7000-7009} tproxy ip to 127.0.0.1:9091 meta mark set 1 accept
        iifname "$TP_IN" meta nfproto ipv6 udp dport {53, 7000-7009} tproxy ip6 to [::1]:9091 meta mark set 1 accept
        meta l4proto udp socket transparent 1 meta mark set 1 accept
    }
}
NFT
check "the UDP rules are nftables rules now" bash -c \
    "! ip netns exec '$NS_R' iptables -t mangle -S | grep -q 'udp.*TPROXY'"
start_udp
run_checks nftables
stop_proxy "$PROXY_PID"

# -p all: TCP (tp_topology's iptables rules) and UDP on the same addresses, one process.
start_server "$NS_S" echo "$TP_S4:80"
start_udp -p all
wait_tcp_listen "$NS_R" 9091 5 || not_ok "-p all listens on tcp 9091 too"
c=$(client "$NS_C" --connect "$TP_S4:80" --send-bytes 65536 --seed 7 --expect-bytes 65536 --timeout 10)
check_py "-p all: a TCP flow is relayed too, bytes intact" \
    "j0['error'] is None and j0['received'] == 65536 and j0['sha256_received'] == j0['sha256_sent']" "$c"
u=$(in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "[$TP_S6]:7001" --payload all --count 3 --timeout 3)
check_py "-p all: and UDP" "sorted(j0['replies']) == sorted(j0['sent']) and len(j0['sent']) == 3" "$u"
finish
