#!/usr/bin/env bash
# soak, churn through ferry mmproxy: SOAK_CHURN_CONNS (default 1,000,000 x SOAK_SCALE) short connections, each a
# new spoofed client (PROXY v1 header, 203.0.113.1-254 x ports, never repeated), a 64-byte request and its echo,
# from the bench's load generator (50 workers in a loop) through ferry (2 event loops) to the bench's echo, in
# one private namespace on loopback. Rounds, checks and knobs: churn() in tests/soak/lib.sh (zero failures, fds
# back to the baseline, RSS growth bounded).
source "$(dirname "$0")/lib.sh"

TARGET=$(scaled "$(knob SOAK_CHURN_CONNS 1000000)" 2000)
ns_new NS churn
soak_sysctls "$NS"
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000
wait_tcp_listen "$NS" 2000 5 || { not_ok "echo listens" "$(cat "$WORK/echo.err")"; finish; }
start_proxy "$NS" -l 127.0.0.1:1122 -4 127.0.0.1:2000 -6 "[::1]:2000" -threads 2 || finish
churn churn "$NS" 1122 "$TARGET" 2 --target 127.0.0.1:1122 --header v1 --header-src-range
finish
