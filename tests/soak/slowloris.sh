#!/usr/bin/env bash
# soak, slowloris against ferry mmproxy: while thousands of connections from C send a PROXY header one byte a
# second (and never its last byte) or nothing at all, and reconnect whenever ferry closes them, good clients
# (the probe: connect, v1 header, 64 bytes, echo, close, at a fixed rate) keep working.
# Pass: the stalled connections were all open at once and are closed at the header deadline (-header-timeout;
# p99 of their lifetime within a second of it), ferry logs why for each, the good clients all succeed and
# >= 99% within 1 s, ferry's fds are back where they were once the attackers leave.
#   SOAK_SLOWLORIS_CONNS (default 4,000 x SOAK_SCALE: three quarters dribbling, one quarter silent),
#   SOAK_SLOWLORIS_SECONDS (default 60 x SOAK_SCALE, at least 4 header timeouts), SOAK_HEADER_TIMEOUT (seconds,
#   default 5; 2 when SOAK_SCALE < 0.25, so that a short run still sees several deadlines), SOAK_PROBE_RATE
#   (good connections per second, default 100).
source "$(dirname "$0")/lib.sh"

N=$(scaled "$(knob SOAK_SLOWLORIS_CONNS 4000)" 100)
if "$PYTHON" -c "import sys; sys.exit(0 if float(sys.argv[1]) < 0.25 else 1)" "$SOAK_SCALE"; then T=2; else T=5; fi
T=$(knob SOAK_HEADER_TIMEOUT "$T")
D=$(scaled "$(knob SOAK_SLOWLORIS_SECONDS 60)" $((4 * T)))
((D < 4 * T)) && D=$((4 * T))
RATE=$(knob SOAK_PROBE_RATE 100)
N_SILENT=$((N / 4))
N_DRIBBLE=$((N - N_SILENT))

mm_topology
bg_ns "$NS_P" echo "$ECHO" --listen "127.0.0.1:$SRV_PORT" --listen "[::1]:$SRV_PORT"
wait_tcp_listen "$NS_P" "$SRV_PORT" 5 || { not_ok "echo listens" "$(cat "$WORK/echo.err")"; finish; }
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -threads 2 \
    -header-timeout "${T}s" || finish
SRC=$((RANDOM * 64))

# Good clients alone first: what "normal" looks like on this machine now (after a second of warm-up: the first
# IPv6 SYNs on a fresh veth wait a second for neighbour discovery).
in_ns "$NS_C" "$PROBE" --connect "$P4:8443" --connect "[$P6]:8443" --rate 20 --duration 1.5 --header v1 \
    --src-base $((SRC + 200000)) >/dev/null
before=$(in_ns "$NS_C" "$PROBE" --connect "$P4:8443" --connect "[$P6]:8443" --rate "$RATE" --duration 5 \
    --header v1 --src-base "$SRC")
SRC=$((SRC + 100000))
note "good clients alone: $before"
wait_quiet "$NS_P" 8443 10
fds_before=$(proc_fds "$PROXY_PID")

# The attack, and the good clients during it (from the moment every attacker is in place).
bg_ns "$NS_C" stall-dribble "$STALL" --connect "$P4:8443" --connections "$N_DRIBBLE" --mode dribble --reconnect \
    --duration "$D" --ready-file "$WORK/dribble.ready" --report-every 10
DRIBBLE_PID=$BG_PID
bg_ns "$NS_C" stall-silent "$STALL" --connect "$P4:8443" --connections "$N_SILENT" --mode silent --reconnect \
    --duration "$D" --ready-file "$WORK/silent.ready" --report-every 10
SILENT_PID=$BG_PID
t_attack=$(date +%s)
for ((i = 0; i < 10 * T; i++)); do
    [[ -e $WORK/dribble.ready && -e $WORK/silent.ready ]] && break
    sleep 0.1
done
ready_s=$(($(date +%s) - t_attack))
during=$(in_ns "$NS_C" "$PROBE" --connect "$P4:8443" --connect "[$P6]:8443" --rate "$RATE" \
    --duration $((D - ready_s - 1)) --header v1 --src-base "$SRC")
wait "$DRIBBLE_PID" "$SILENT_PID"
dribble=$(cat "$WORK/stall-dribble.out")
silent=$(cat "$WORK/stall-silent.out")
note "good clients during the attack: $during"
note "dribbling attackers: $dribble"
note "silent attackers: $silent"
wait_quiet "$NS_P" 8443 $((T + 5))
fds_after=$(proc_fds "$PROXY_PID")

for kind in dribble silent; do
    j=${!kind}
    check_py "$kind: all $(json_get "$j" "j['connections']") stalled connections were open at once" \
        "j0['peak_open'] >= j0['connections'] and j0['ready']" "$j"
    check_py "$kind: ferry closed them at the ${T} s header deadline (lifetime min >= $T - 0.1 s, p99 <= $T + 1 s)" \
        "j0['lifetime_s']['n'] > 0 and j0['lifetime_s']['min'] >= $T - 0.1 and j0['lifetime_s']['p99'] <= $T + 1" "$j"
    check_py "$kind: every stalled connection was closed, again and again ($D s / $T s rounds)" \
        "j0['closed_by_peer'] >= j0['connections'] * ($D // $T - 1)" "$j"
done
closes=$(json_get "$dribble" "j['closed_by_peer']")
closes=$((closes + $(json_get "$silent" "j['closed_by_peer']")))
logged=$(log_errors_matching "$PROXY_LOG" "^no complete PROXY header within ${T}000 ms$")
why="no complete PROXY header within ${T}000 ms"
check_py "ferry logged the reason for each ($closes closed, $logged lines \"$why\")" "j0 >= $closes" "$logged"
check_py "good clients during the attack: all succeeded" "j0['attempts'] > 0 and j0['ok'] == j0['attempts']" "$during"
check_py "good clients during the attack: >= 99% within 1 s" "j0['within_deadline_rate'] >= 0.99" "$during"
check_fds_back "after the attack" "$fds_before" "$fds_after" "$(pool_fds 2)"
check "ferry still runs" proxy_alive
figure slowloris "$("$PYTHON" -c '
import json, sys
print(json.dumps({"connections": int(sys.argv[1]), "seconds": int(sys.argv[2]), "header_timeout_s": int(sys.argv[3]),
                  "dribble": json.loads(sys.argv[4]), "silent": json.loads(sys.argv[5]),
                  "good_before": json.loads(sys.argv[6]), "good_during": json.loads(sys.argv[7]),
                  "deadline_lines": int(sys.argv[8]), "fds_before": json.loads(sys.argv[9]),
                  "fds_after": json.loads(sys.argv[10])}))' "$N" "$D" "$T" "$dribble" "$silent" "$before" "$during" \
    "$logged" "$fds_before" "$fds_after")"

finish
