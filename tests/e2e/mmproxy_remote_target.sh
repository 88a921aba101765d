#!/usr/bin/env bash
# A target in another namespace (another host, a container: path-network#19/#20, kzemek#11, cloudflare#26),
# reached with -mark: ferry installs `ip rule fwmark N lookup 123` (IPv4 and IPv6) while it runs and removes it
# at exit, and warns at start with the exact iptables / nftables CONNMARK commands when they are missing.
# Those commands, run as printed (nftables, then iptables), bring the target's replies back: the target sees
# the client's own address and the bytes arrive intact both ways.
#
#   C 198.51.100.2  ---  198.51.100.1 P 192.0.2.1  ---  192.0.2.2 T (the service)
source "$(dirname "$0")/lib.sh"
ferry_only "targets off loopback with -mark" "go-mmproxy leaves the routing and CONNMARK to the user" || finish

mm_topology
ns_new NS_T t
link_ns "$NS_P" "192.0.2.1/24 2001:db8:3::1/64" "$NS_T" "192.0.2.2/24 2001:db8:3::2/64"
ip -n "$NS_T" route add default via 192.0.2.1
ip -n "$NS_T" -6 route add default via 2001:db8:3::1
start_server "$NS_T" echo "192.0.2.2:9000"
WARNING="replies from targets off loopback will not come back: CONNMARK rules missing"

fwmark_rules() { { ip -n "$NS_P" rule; ip -n "$NS_P" -6 rule; } | grep -c "fwmark 0x7b lookup 123"; }
# remote_case NAME: a v2 header from a fresh client address through ferry to T.
remote_case() {
    local name=$1 src c s
    next_port
    src="203.0.113.7:$NEXT_PORT"
    c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "$src" --dst 192.0.2.2:9000)" \
        --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 10)
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}

check_eq "no fwmark rule before ferry starts" 0 "$(fwmark_rules)"
start_proxy "$NS_P" -v 1 -mark 123 -4 192.0.2.2:9000 || finish
check_eq "the fwmark rule is there while ferry runs (IPv4 and IPv6)" 2 "$(fwmark_rules)"
check "the start logs the fwmark rule it added" log_find --msg "added routing" \
    --field "rule=ip rule add from all fwmark 0x7b table 123"
check "without CONNMARK rules: the warning names the family and the exact iptables commands" log_find --msg "$WARNING" \
    --field families=IPv4 --field "iptables=iptables -t mangle -A OUTPUT -m mark --mark 123 -j CONNMARK --save-mark; iptables -t mangle -A OUTPUT -m mark --mark 123 -j MARK --set-mark 0; iptables -t mangle -A PREROUTING -m connmark --mark 123 -j CONNMARK --restore-mark"
check "and the nftables ones" log_find --msg "$WARNING" \
    --contains "nftables=nft add table inet ferry_mmproxy; nft 'add chain inet ferry_mmproxy output { type route hook output priority mangle; }'; nft add rule inet ferry_mmproxy output meta mark 123 ct mark set meta mark"
check "the -6 target is on loopback: no ip6tables commands" bash -c "! grep -q '\"ip6tables\"' '$PROXY_LOG'"
NFT_CMDS=$("$PYTHON" - "$PROXY_LOG" "$WARNING" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if j.get('msg') == sys.argv[2]:
        print(j['nftables']); print(j['iptables']); break
PY
)
IPT_CMDS=$(sed -n 2p <<<"$NFT_CMDS")
NFT_CMDS=$(sed -n 1p <<<"$NFT_CMDS")
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "203.0.113.6:$NEXT_PORT" --dst 192.0.2.2:9000)" \
    --send-bytes 1000 --seed 1 --timeout 5)
check_py "without CONNMARK rules the connection does not get through" "j0['received'] == 0" "$c"
stop_proxy
check_eq "the fwmark rule is gone after exit" 0 "$(fwmark_rules)"

# The nftables commands, exactly as printed.
in_ns "$NS_P" bash -c "$NFT_CMDS"
start_proxy "$NS_P" -v 1 -mark 123 -4 192.0.2.2:9000 || finish
check "with the printed nftables rules: found at start" log_find --msg "CONNMARK rules found" --field mark=123
check_eq "and no warning" 0 "$(grep -c "$WARNING" "$PROXY_LOG")"
remote_case "nftables CONNMARK"
stop_proxy

# The iptables commands, exactly as printed.
in_ns "$NS_P" nft delete table inet ferry_mmproxy
in_ns "$NS_P" bash -c "$IPT_CMDS"
start_proxy "$NS_P" -v 1 -mark 123 -4 192.0.2.2:9000 || finish
check "with the printed iptables rules: found at start" log_find --msg "CONNMARK rules found" --field mark=123
remote_case "iptables CONNMARK"
stop_proxy
check_eq "the fwmark rule is gone after the second exit too" 0 "$(fwmark_rules)"

# Takeover: the successor adopts the fwmark rule with the rest and removes it at its own exit.
SOCK=$WORK/remote.takeover
start_proxy "$NS_P" -mark 123 -4 192.0.2.2:9000 -takeover-socket "$SOCK" -drain-timeout 5s || finish
prev=$PROXY_PID
if successor "$NS_P" "$FERRY" mmproxy -mark 123 -4 192.0.2.2:9000 -takeover-socket "$SOCK" -drain-timeout 5s; then
    forget "$prev"
    exit_status "$prev" 10
    check_eq "takeover: the predecessor exits 0" 0 "$EXIT_STATUS"
    check "takeover: the successor took the fwmark rule over" log_find --msg "routing taken over" \
        --field "rule=ip rule add from all fwmark 0x7b table 123"
    check_eq "takeover: the rule stays while the successor runs" 2 "$(fwmark_rules)"
    remote_case "after takeover"
    stop_proxy
    check_eq "takeover: the successor removes it at exit" 0 "$(fwmark_rules)"
else
    not_ok "takeover: the successor took over" "$(tail -n 5 "$PROXY_LOG")"
fi

finish
