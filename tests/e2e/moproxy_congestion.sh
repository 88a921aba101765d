#!/usr/bin/env bash
# moproxy's --congestion-local ALG: the client-side sockets (accepted from the listener, which carries
# TCP_CONGESTION) use ALG, the upstream side keeps the system's default; an algorithm the kernel does not have
# fails the start (and `check`) with a line that says so.
source "$(dirname "$0")/lib.sh"
ferry_only "congestion-local" "a ferry moproxy option" || finish

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks ms 1081 203.0.113.11
default_cc=$(in_ns "$NS_R" sysctl -n net.ipv4.tcp_congestion_control)
note "the namespace's default congestion control: $default_cc"
want=reno
[[ $default_cc == reno ]] && want=cubic
start_moproxy -s 127.0.0.1:1081 --probe 0 --congestion-local "$want" || finish

# A connection that stays open while ss looks at it.
in_ns "$NS_C" "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80))
s.sendall(b"x" * 1000)
s.recv(1000)
time.sleep(10)' "$MO_S4" &
E2E_PIDS+=("$!")
client_side=
for _ in $(seq 50); do
    client_side=$(in_ns "$NS_R" ss -Htin state established "( sport = :$MO_PORT )")
    [[ -n $client_side ]] && break
    sleep 0.1
done
note "client side: $(tr '\n' ' ' <<<"$client_side" | cut -c1-200)"
check "--congestion-local $want: the client-side socket uses $want" grep -qw "$want" <<<"$client_side"
upstream_side=$(in_ns "$NS_R" ss -Htin state established "( dport = :1081 )")
check "the upstream side keeps the default ($default_cc)" grep -qw "$default_cc" <<<"$upstream_side"
stop_proxy

out=$(in_ns "$NS_R" "$FERRY" moproxy -p 2999 -s 127.0.0.1:1081 --congestion-local nosuchalg 2>&1)
check_eq "an algorithm the kernel does not have: exit 1" "1" "$?"
check "it says what is wrong" grep -q 'TCP_CONGESTION, \\"nosuchalg\\"): no such file or directory (not an available algorithm' <<<"$out"
out=$(in_ns "$NS_R" "$FERRY" moproxy check -p 2999 -s 127.0.0.1:1081 --congestion-local nosuchalg 2>&1)
check_eq "check finds it too: exit 1" "1" "$?"
out=$(in_ns "$NS_R" "$FERRY" moproxy -p 2999 -s 127.0.0.1:1081 --congestion-local "a b" 2>&1)
check_eq "a value that cannot be a name: exit 2" "2" "$?"
check "with clap's message" grep -q 'for --congestion-local: not a congestion control' <<<"$out"

finish
