#!/usr/bin/env bash
# go-mmproxy 2.3's -listen-transparent: a TPROXY rule delivers a whole port range (10000-20000) into one
# listener, with the recipe of docs/go-mmproxy-2.3.md as written (iptables, then nftables); with
# -dynamic-destination each connection goes to its header's destination, and -allowed-destinations refuses a
# forbidden port. Without -listen-transparent TPROXY finds no transparent socket and drops the SYN.
source "$(dirname "$0")/lib.sh"
ferry_only "TPROXY into ferry mmproxy -listen-transparent" "the flag is go-mmproxy 2.3's" || finish

mm_topology
start_server "$NS_P" echo "127.0.0.1:9000"
SRV_A=$SERVER_LOG
start_server "$NS_P" echo "127.0.0.1:9001"
SRV_B=$SERVER_LOG
start_server "$NS_P" echo "127.0.0.1:9002"
SRV_C=$SERVER_LOG

# The docs' iptables recipe (ferry adds table 123's local route itself).
in_ns "$NS_P" iptables -t mangle -A PREROUTING -p tcp --dport 10000:20000 -j TPROXY \
    --tproxy-mark 0x1/0x1 --on-port 25577 --on-ip 127.0.0.1
ip -n "$NS_P" rule add fwmark 1 lookup 123

# tp_case NAME PORT SRC DST SERVER_LOG: a v2 header from SRC to DST, sent to P4:PORT (inside the range).
tp_case() {
    local name=$1 port=$2 src=$3 dst=$4 log=$5 c s
    c=$(client "$NS_C" --connect "$P4:$port" --header-hex "$(hdr v2 --src "$src" --dst "$dst")" \
        --send-bytes 100000 --seed "$RANDOM" --expect-bytes 100000 --timeout 10)
    s=$(server_conn "$src" "$log")
    expect_relay "$name" "$c" "$s" "$src"
}

# Without -listen-transparent the listener is not a TPROXY target.
start_proxy "$NS_P" -l 0.0.0.0:25577 -4 127.0.0.1:9000 || finish
next_port
c=$(client "$NS_C" --connect "$P4:15000" --header-hex "$(hdr v2 --src "203.0.113.5:$NEXT_PORT" --dst 127.0.0.1:9000)" \
    --send-bytes 100 --seed 1 --timeout 2)
check_py "without -listen-transparent, TPROXY delivers nothing" "j0['error'] is not None and j0['received'] == 0" "$c"
stop_proxy

start_proxy "$NS_P" -v 2 -l 0.0.0.0:25577 -4 127.0.0.1:9000 -listen-transparent || finish
next_port; tp_case "iptables TPROXY, port 10000" 10000 "203.0.113.7:$NEXT_PORT" 127.0.0.1:9000 "$SRV_A"
next_port; tp_case "iptables TPROXY, port 20000" 20000 "203.0.113.8:$NEXT_PORT" 127.0.0.1:9000 "$SRV_A"
check "the connection's local address is the port the client dialed" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "new connection" --field localAddr=$P4:20000
stop_proxy

# -dynamic-destination behind the same rule: the header's destination, within -allowed-destinations.
start_proxy "$NS_P" -v 2 -l 0.0.0.0:25577 -4 127.0.0.1:9000 -listen-transparent -dynamic-destination \
    -allowed-destinations "127.0.0.1:9000-9001" || finish
next_port; tp_case "dynamic destination 127.0.0.1:9001 through port 12345" 12345 "203.0.113.9:$NEXT_PORT" \
    127.0.0.1:9001 "$SRV_B"
next_port
c=$(client "$NS_C" --connect "$P4:12346" --header-hex "$(hdr v2 --src "203.0.113.10:$NEXT_PORT" --dst 127.0.0.1:9002)" \
    --send-bytes 1000 --seed 1 --timeout 5)
check_py "dynamic destination on a forbidden port (9002) is closed" "$CLOSED_EXPR" "$c"
check "the log says why" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "failed to establish upstream connection" \
    --contains "is not in the allowed destinations"
check_eq "the service on the forbidden port got no connection" 0 "$(log_lines "$SRV_C")"
# A LOCAL header still goes to -4 (kzemek's chooseTargetAddr), unspoofed.
c=$(client "$NS_C" --connect "$P4:12347" --header-hex "$(hdr v2 --local)" --send-bytes 1000 --seed 2 \
    --expect-bytes 1000 --timeout 5)
check_py "a LOCAL header goes to -4 with -dynamic-destination" "j0['error'] is None and j0['received'] == 1000" "$c"
stop_proxy

# The docs' nftables recipe in place of the iptables rule.
in_ns "$NS_P" iptables -t mangle -F PREROUTING
in_ns "$NS_P" nft -f - <<'NFT'
table inet ferry_mmproxy_tproxy {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta nfproto ipv4 tcp dport 10000-20000 tproxy ip to 127.0.0.1:25577 meta mark set 1 accept
    }
}
NFT
start_proxy "$NS_P" -v 2 -l 0.0.0.0:25577 -4 127.0.0.1:9000 -listen-transparent || finish
next_port; tp_case "nftables TPROXY, port 17000" 17000 "203.0.113.11:$NEXT_PORT" 127.0.0.1:9000 "$SRV_A"

finish
