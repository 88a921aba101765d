#!/usr/bin/env bash
# moproxy --mark N and --interface NAME: SO_MARK / SO_BINDTODEVICE on the sockets to the proxies, the probes' and
# the direct ones (--allow-direct). R reaches S two ways: the usual link (203.0.113.0/24) and a second one
# (192.0.2.0/24) that only an `ip rule fwmark 66` or a socket bound to its interface takes. S counts the SYNs that
# arrive on each link, so each check sees which way a kind of socket went.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80"
bg_ns "$NS_S" socks microsocks -i "$MO_S4" -p 1080
wait_tcp_listen "$NS_S" 1080 5 || { not_ok "microsocks listens on S" "$(cat "$WORK/socks.err")"; finish; }
R_MAIN="${E2E_ID}2a" S_MAIN="${E2E_ID}2b"
link_ns "$NS_R" "192.0.2.1/24" "$NS_S" "192.0.2.2/24"
R_ALT="${E2E_ID}${E2E_LINKS}a" S_ALT="${E2E_ID}${E2E_LINKS}b"
for ns in "$NS_R" "$NS_S"; do
    in_ns "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
done
in_ns "$NS_R" ip rule add fwmark 66 lookup 66
in_ns "$NS_R" ip route add "$MO_S4/32" via 192.0.2.2 dev "$R_ALT" table 66
for port in 80 1080; do
    for dev in "$S_MAIN" "$S_ALT"; do
        in_ns "$NS_S" iptables -A INPUT -i "$dev" -p tcp --syn --dport "$port" -j ACCEPT
    done
done
# syns PORT DEV: SYNs to PORT that arrived on DEV since the last reset.
syns() { in_ns "$NS_S" iptables -nvxL INPUT | awk -v d="$2" -v p="dpt:$1" '$6 == d && $0 ~ p" " { print $1 }'; }
reset() { in_ns "$NS_S" iptables -Z INPUT; }
# ways PORT: "MAIN ALT" SYN counts.
ways() { echo "$(syns "$1" "$S_MAIN") $(syns "$1" "$S_ALT")"; }
up_with_delay() {
    local i
    for ((i = 0; i < 30; i++)); do
        mo_status | "$PYTHON" -c "import json,sys; s=json.load(sys.stdin)['servers'][0]; sys.exit(0 if s['up'] and s['delay_ms'] is not None else 1)" 2>/dev/null && return 0
        sleep 0.2
    done
    return 1
}
nonzero_zero() { [[ $1 == "0 "* ]] && [[ ${1#0 } != 0 ]]; }

# Control: without a mark, probes take the main link.
reset
start_moproxy -s "$MO_S4:1080" --probe 1 || finish
check "without --mark: the probe succeeds" up_with_delay
check "without --mark: the probes' SYNs take the main link" bash -c '[[ $1 != "0 "* && $1 == *" 0" ]]' _ "$(ways 1080)"
stop_proxy

# --mark: the probes alone (no client yet) follow the fwmark rule.
reset
start_moproxy -s "$MO_S4:1080" --probe 1 --mark 66 || finish
check "--mark: the probe succeeds over the marked path" up_with_delay
check "--mark: the probes' SYNs take the fwmark path only" nonzero_zero "$(ways 1080)" 
stop_proxy
# --mark with --user: the prober starts after the drop and still marks (CAP_NET_ADMIN is kept for it).
reset
start_moproxy -s "$MO_S4:1080" --probe 1 --mark 66 --user nobody || finish
check "--mark --user nobody: the probe succeeds over the marked path" up_with_delay
check "--mark --user nobody: the probes' SYNs take the fwmark path only" nonzero_zero "$(ways 1080)"
check "--mark --user nobody: running as nobody" bash -c '[[ $(stat -c %U /proc/$1) == nobody ]]' _ "$PROXY_PID"
stop_proxy
# --mark: the sockets to the proxies, without probes.
reset
start_moproxy -s "$MO_S4:1080" --probe 0 --mark 66 || finish
mo_conn
check_eq "--mark: a connection through the proxy is relayed" "$MO_S4" "$MO_PEER"
check "--mark: the socket to the proxy takes the fwmark path only" nonzero_zero "$(ways 1080)"
stop_proxy
# --mark: direct connections (--allow-direct, no proxy).
reset
start_moproxy --allow-direct --probe 0 --mark 66 || finish
mo_conn
check_eq "--mark: a direct connection comes from the fwmark path's address" 192.0.2.1 "$MO_PEER"
check "--mark: the direct socket takes the fwmark path only" nonzero_zero "$(ways 80)"
stop_proxy

# --interface: the second link's interface, without a mark (the kernel takes the destination as on-link there).
reset
start_moproxy -s "$MO_S4:1080" --probe 1 --interface "$R_ALT" || finish
check "--interface: the probe succeeds over that interface" up_with_delay
check "--interface: the probes' SYNs leave through it only" nonzero_zero "$(ways 1080)"
mo_conn
check_eq "--interface: a connection through the proxy is relayed" "$MO_S4" "$MO_PEER"
stop_proxy
reset
start_moproxy --allow-direct --probe 0 --interface "$R_ALT" || finish
mo_conn
check_eq "--interface: a direct connection leaves through it (its address)" 192.0.2.1 "$MO_PEER"
check "--interface: the direct socket's SYNs leave through it only" nonzero_zero "$(ways 80)"
stop_proxy
# An interface that does not lead to S: the probes fail, and say why.
start_moproxy -s "$MO_S4:1080" --probe 1 --max-wait 1 --interface lo || finish
check "--interface lo: the probe fails" log_find --msg "probe failed" --timeout 5
check_py "--interface lo: the server is down" "not j0['servers'][0]['up']" "$(mo_status)"
finish
