#!/usr/bin/env bash
# Overload protection (engine/admission.h), against the attack that found the need: two hosts each holding
# 10,000 connections that never send their PROXY header, while good clients from a third host come and go.
# Without protection those 20,000 stalled connections took every fd (the limit is 20,000), ferry paused
# accepting, and every good client waited for the whole header deadline. Now:
#  - by default ferry's connection limit (from the open-file limit, with a reserve) makes the oldest
#    connections still in their handshake give way to new ones;
#  - with -max-handshakes-per-source the attackers' extra connections are refused at accept, and the refusals
#    are logged at most once per source per 10 s, with a count;
# and either way >= 99% of the good clients succeed, each within 1 s. The header deadline is 30 s here, so
# nothing but the protection can save them.
source "$(dirname "$0")/lib.sh"
ferry_only "overload protection" "go-mmproxy has none" || finish

OVERLOAD="$(dirname "$0")/../overload.py"
ATTACK=${OVERLOAD_ATTACK:-10000}  # stalled connections per attacking host
GOOD=${OVERLOAD_GOOD:-200}        # good clients per phase

mm_topology
A1=198.51.100.3
A2=198.51.100.4
ip -n "$NS_C" addr add "$A1/24" dev "${E2E_ID}1a"
ip -n "$NS_C" addr add "$A2/24" dev "${E2E_ID}1a"
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"

# probe NAME SPOOF_IP: $GOOD good clients from C's own address (header source SPOOF_IP, ports 2{i}), four at a
# time; >= 99% of them must get their echo within 1 s.
probe() {
    local name=$1 spoof=$2 r
    r=$(in_ns "$NS_C" "$PYTHON" "$OVERLOAD" probe --connect "$P4:8443" --bind "$C4" --count "$GOOD" \
        --concurrency 4 --deadline 1 --timeout 5 --header-text "PROXY TCP4 $spoof 192.0.2.1 2{i} 443\r\n")
    note "$name: $r"
    check_py "$name: >= 99% of $GOOD good clients succeed, each within 1 s" \
        "j0['count'] == $GOOD and j0['within_deadline'] >= 0.99 * $GOOD" "$r"
}

# attack: both attackers hold $ATTACK stalled connections each (reconnecting when closed) for up to 90 s;
# returns once both have opened theirs.
attack() {
    rm -f "$WORK/a1.ready" "$WORK/a2.ready"
    bg_ns "$NS_C" attacker1 "$PYTHON" "$OVERLOAD" hold --connect "$P4:8443" --bind "$A1" --count "$ATTACK" \
        --duration 90 --ready "$WORK/a1.ready"
    ATTACKER1=$BG_PID
    bg_ns "$NS_C" attacker2 "$PYTHON" "$OVERLOAD" hold --connect "$P4:8443" --bind "$A2" --count "$ATTACK" \
        --duration 90 --ready "$WORK/a2.ready"
    ATTACKER2=$BG_PID
    local i
    for ((i = 0; i < 300; i++)); do
        [[ -e $WORK/a1.ready && -e $WORK/a2.ready ]] && break
        sleep 0.1
    done
    # The connects go out at once, but the kernel completes them as the listen backlog lets it: wait until
    # ferry's fds stop growing (for 2 s; at most 40 s).
    local fds last=-1 same=0
    for ((i = 0; i < 400 && same < 20; i++)); do
        fds=$(ls "/proc/$PROXY_PID/fd" 2>/dev/null | wc -l)
        if ((fds <= last)); then same=$((same + 1)); else same=0; fi
        ((fds > last)) && last=$fds
        sleep 0.1
    done
    ATTACK_FDS=$last
    note "ferry holds $ATTACK_FDS fds under attack"
}
stop_attack() {
    kill "$ATTACKER1" "$ATTACKER2" 2>/dev/null
    wait "$ATTACKER1" "$ATTACKER2" 2>/dev/null
}

args=(-l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -header-timeout 30s -threads 2)
start_proxy "$NS_P" "${args[@]}" || finish
probe "no attack" 203.0.113.7

attack
# The attack landed: ferry holds about as many connections as its limit allows ((20000 - 1250) / 2 = 9375).
check_py "the attack fills ferry's connection limit ($ATTACK_FDS fds)" "int(j0) >= 0.9 * min(2 * $ATTACK, 9375)" \
    "$ATTACK_FDS"
probe "2 x $ATTACK stalled connections, default limits" 203.0.113.8
check "the log says the oldest handshakes gave way" log_find \
    --msg "connection limit reached, closing the oldest connections still in their handshake" --key limit
check "ferry is still running" proxy_alive
stop_attack
lines=$(grep -c "connection limit reached" "$PROXY_LOG")
check_py "those lines are rate-limited ($lines)" "int(j0) <= 20" "$lines"
stop_proxy

start_proxy "$NS_P" "${args[@]}" -max-handshakes-per-source 100 || finish
attack
probe "2 x $ATTACK stalled connections, -max-handshakes-per-source 100" 203.0.113.9
check "a refusal is logged with the source and the reason" log_find --msg "connection refused" \
    --contains "remoteAddr=$A1:" --contains "reason=more than 100 of its connections in their handshake"
check "ferry is still running" proxy_alive
stop_attack
n1=$(grep '"connection refused"' "$PROXY_LOG" | grep -c "198.51.100.3:")
check_py "one refusal line per source per 10 s ($n1 for attacker 1)" "1 <= int(j0) <= 12" "$n1"
stop_proxy

# ferry run: the limits are [ferry] keys. A limit of 300 connections, and 250 per source, against 2 x 1,000
# stalled ones.
cat >"$WORK/limits.ini" <<INI
[ferry]
max-connections = 300
max-connections-per-source = 250

[listener lb]
listen = 0.0.0.0:8443
inbound = proxy-protocol
target = 127.0.0.1:$SRV_PORT
header-timeout = 30s
INI
start_run "$NS_P" "$WORK/limits.ini" 8443 || finish
ATTACK=1000
attack
check_py "ferry run holds no more than its limit ($ATTACK_FDS fds)" "int(j0) <= 300 + 40" "$ATTACK_FDS"
probe "ferry run, max-connections = 300, 2 x 1000 stalled connections" 203.0.113.10
check "the per-source limit refused some" log_find --msg "connection refused" \
    --contains "reason=more than 250 connections from this source"
stop_attack
stop_proxy

finish
