#!/usr/bin/env bash
# soak, fd-limit attack on ferry mmproxy (issue 12): two attacking hosts, A1 and A2, each hold SOAK_FDLIMIT_CONNS
# (default 10,000 x SOAK_SCALE) connections that never send a byte and reconnect whenever ferry closes them, so
# that together they ask for more fds than ferry has (RLIMIT_NOFILE: 20,000 here, and 20,000 x SOAK_SCALE with
# prlimit when scaled down, so that a short run is still an fd attack); meanwhile good clients from a third
# host, G, connect at SOAK_FDLIMIT_RATE (default 50) per second (the probe: PROXY v1 header, 64 bytes, echo).
# Pass: >= 99% of the good clients succeed within 1 s, ferry survives, and its fds are back to the baseline once
# the attackers leave.
#
# ferry's defaults are what is measured: its connection limit (from the open-file limit, with a reserve) makes the
# oldest connections still in their handshake give way to new ones (src/engine/admission.h). Before it, this
# scenario had 27% of the good clients through within 1 s (a 1/20-scale run).
source "$(dirname "$0")/lib.sh"

# fdlimit_ferry_args: extra flags for ferry mmproxy, one per line (SOAK_FDLIMIT_ARGS, split on spaces, e.g.
# "-max-handshakes-per-source 100"); none by default: the defaults must hold.
fdlimit_ferry_args() {
    local a
    for a in ${SOAK_FDLIMIT_ARGS:-}; do printf '%s\n' "$a"; done
}

PER_HOST=$(scaled "$(knob SOAK_FDLIMIT_CONNS 10000)" 100)
NOFILE=$(scaled 20000 250)
D=$(scaled "$(knob SOAK_FDLIMIT_SECONDS 60)" 15)
RATE=$(knob SOAK_FDLIMIT_RATE 50)

# P (ferry) with a link to each host: A1 198.51.100.0/26, A2 198.51.100.64/26, G 198.51.100.128/26.
ns_new NS_P p
ns_new NS_A1 a1
ns_new NS_A2 a2
ns_new NS_G g
link_ns "$NS_A1" "198.51.100.2/26" "$NS_P" "198.51.100.1/26"
link_ns "$NS_A2" "198.51.100.66/26" "$NS_P" "198.51.100.65/26"
link_ns "$NS_G" "198.51.100.130/26" "$NS_P" "198.51.100.129/26"
soak_sysctls "$NS_P"
bg_ns "$NS_P" echo "$ECHO" --listen "127.0.0.1:$SRV_PORT"
wait_tcp_listen "$NS_P" "$SRV_PORT" 5 || { not_ok "echo listens" "$(cat "$WORK/echo.err")"; finish; }
mapfile -t extra < <(fdlimit_ferry_args)
wrap=()
((NOFILE < 20000)) && wrap=(prlimit "--nofile=$NOFILE:$NOFILE")
PROXY_CMD="${wrap[*]} $FERRY mmproxy" start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" \
    -threads 2 "${extra[@]}" || finish
in_ns "$NS_G" "$PROBE" --connect 198.51.100.129:8443 --header v1 --src-base 5000000 --rate 20 --duration 1 >/dev/null
wait_quiet "$NS_P" 8443 5
fds_before=$(proc_fds "$PROXY_PID")

bg_ns "$NS_A1" stall-a1 "$STALL" --connect 198.51.100.1:8443 --connections "$PER_HOST" --mode silent --reconnect \
    --duration "$D" --ready-file "$WORK/a1.ready" --report-every 10
A1=$BG_PID
bg_ns "$NS_A2" stall-a2 "$STALL" --connect 198.51.100.65:8443 --connections "$PER_HOST" --mode silent --reconnect \
    --duration "$D" --ready-file "$WORK/a2.ready" --report-every 10
A2=$BG_PID
sleep 3  # the attack builds up (ferry runs out of fds about here)
good=$(in_ns "$NS_G" "$PROBE" --connect 198.51.100.129:8443 --header v1 --src-base 6000000 --rate "$RATE" \
    --duration $((D - 5)) --deadline-ms 1000)
wait "$A1" "$A2"
a1=$(cat "$WORK/stall-a1.out")
a2=$(cat "$WORK/stall-a2.out")
note "attacker A1: $a1"
note "attacker A2: $a2"
note "good clients from G: $good"
wait_quiet "$NS_P" 8443 15
fds_after=$(proc_fds "$PROXY_PID")
check_py "good clients during the attack: >= 99% succeeded within 1 s" "j0['within_deadline_rate'] >= 0.99" "$good"
check "ferry survives the attack" proxy_alive
check_fds_back "after the attack" "$fds_before" "$fds_after" "$(pool_fds 2)"
figure fdlimit "$("$PYTHON" -c '
import json, sys
print(json.dumps({"per_host": int(sys.argv[1]), "nofile": int(sys.argv[2]), "seconds": int(sys.argv[3]),
                  "a1": json.loads(sys.argv[4]), "a2": json.loads(sys.argv[5]), "good": json.loads(sys.argv[6]),
                  "ferry_args": sys.argv[7]}))' "$PER_HOST" "$NOFILE" "$D" "$a1" "$a2" "$good" "${extra[*]}")"

finish
