#!/usr/bin/env bash
# tproxy with the README's nftables recipe instead of iptables (one inet table: socket transparent, tproxy ip
# and ip6, the same mark and policy routing): IPv4 and IPv6 flows reach the server from the client's own
# address and port, bytes intact, half-close forwarded.
source "$(dirname "$0")/lib.sh"

if ! command -v nft >/dev/null; then
    not_ok "nft is installed (make deps installs nftables)"
    finish
fi
TP_NFT=1 tp_topology
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80"
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$TP_S4:81" "[$TP_S6]:81"
HC_LOG=$SERVER_LOG
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" || finish
check "the rules are nftables rules (no iptables TPROXY rule)" bash -c \
    "ip netns exec '$NS_R' nft list ruleset | grep -q 'tproxy ip to 127.0.0.1:9091' && ! ip netns exec '$NS_R' iptables -t mangle -S 2>/dev/null | grep -q TPROXY"
for dst in "$TP_S4:80" "[$TP_S6]:80"; do
    c=$(client "$NS_C" --connect "$dst" --send-bytes 1048576 --seed "$RANDOM" --expect-bytes 1048576 --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$ECHO_LOG")
    check_py "$dst: the server saw the client's own address and port, 1 MiB each way intact" \
        "j1 is not None and j0['error'] is None and j0['received'] == 1048576 and j0['sha256_received'] == j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
    hdst=${dst%:80}:81
    c=$(client "$NS_C" --connect "$hdst" --send-bytes 500000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$HC_LOG")
    check_py "$hdst: half-close forwarded" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 500000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
done
finish
