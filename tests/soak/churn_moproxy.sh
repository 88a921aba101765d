#!/usr/bin/env bash
# soak, churn through ferry moproxy: SOAK_MOPROXY_CHURN_CONNS (default 100,000 x SOAK_SCALE) short connections
# (connect, 64-byte request, echo, close) from the bench's load generator, running as its own uid so that an
# iptables REDIRECT rule (nat OUTPUT, -m owner) sends them, and only them, to ferry moproxy, which carries each
# through one of two microsocks SOCKS5 servers to the bench's echo, in one private namespace on loopback.
# Rounds, checks and knobs: churn() in tests/soak/lib.sh (zero failures, fds back to the baseline, RSS growth
# bounded).
source "$(dirname "$0")/lib.sh"

TARGET=$(scaled "$(knob SOAK_MOPROXY_CHURN_CONNS 100000)" 1000)
THREADS=2
LOAD_UID=64123

ns_new NS mochurn
soak_sysctls "$NS"
in_ns "$NS" iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 --dport 2000 -m owner --uid-owner "$LOAD_UID" \
    -j REDIRECT --to-ports 1122 || { not_ok "REDIRECT rule in the namespace"; finish; }
# The nat rule turned connection tracking on here; its TIME_WAIT entries (120 s) would fill the table at this
# rate (the bench does the same).
in_ns "$NS" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=5 ||
    note "could not shorten nf_conntrack_tcp_timeout_time_wait"
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000
wait_tcp_listen "$NS" 2000 5 || { not_ok "echo listens" "$(cat "$WORK/echo.err")"; finish; }
for port in 1080 1081; do
    bg_ns "$NS" "microsocks$port" microsocks -i 127.0.0.1 -p "$port"
    wait_tcp_listen "$NS" "$port" 5 || { not_ok "microsocks listens on $port"; finish; }
done
start_ferry "$NS" 1122 moproxy -b 127.0.0.1 -p 1122 -s 1080 -s 1081 --probe 0 --log-level warn \
    --threads "$THREADS" --stats-bind 127.0.0.1:2099 || finish
CHURN_WRAP="setpriv --reuid=$LOAD_UID --regid=$LOAD_UID --clear-groups" \
    churn churn "$NS" 1122 "$TARGET" "$THREADS" --target 127.0.0.1:2000 --header none
# The REDIRECT really sent them to ferry, and ferry through the SOCKS5 servers: their counts on the status page.
summary=$(tail -n 1 "$SOAK_FIGURES")
check_py "churn: ferry's status page counts every connection through the SOCKS5 servers" \
    "sum(s['conn_total'] for s in j0['servers']) >= j1['data']['completed'] + j1['data']['warmup_completed']" \
    "$(in_ns "$NS" curl -sS --max-time 5 http://127.0.0.1:2099/status)" "$summary"
finish
