#!/usr/bin/env bash
# soak, upstream faults behind ferry mmproxy: SOAK_FAULT_CONNS (default 50 x SOAK_SCALE, at least 5) clients
# stream both ways (the streamer, endless streams) through ferry to the streamer server on P's loopback when
#   killed       the server is killed with SIGKILL mid-stream (the kernel resets or closes its sockets);
#   reset        the server resets every connection (SO_LINGER 0) after 1 MiB;
#   blackholed   iptables DROPs all loopback traffic to and from the server's port mid-stream: once ferry has
#                delivered what it already held (the clients, busy hashing, drain it for a few seconds), nothing
#                moves any more, and ferry's -idle-timeout (3 s) must end it;
# and for new connections when
#   unreachable  the same DROP rules are in place before they connect: ferry's -connect-timeout (2 s);
#   refused      nothing listens on the port.
# Pass, for each: every client is closed (an error, not a clean end) within a bound after the fault, ferry logs
# one line per connection naming the cause, ferry survives, and its fds are back to the baseline afterwards.
source "$(dirname "$0")/lib.sh"

M=$(scaled "$(knob SOAK_FAULT_CONNS 50)" 5)
ENDLESS=$((1 << 40))

mm_topology
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -threads 2 \
    -connect-timeout 2s -idle-timeout 3s || finish
FERRY_PID=$PROXY_PID
fds_base=$(proc_fds "$FERRY_PID")
SERVER=
SERVERS=0
LOGGED_BEFORE=0
# server [ARGS]: (re)start the streamer server in P.
server() {
    bg_ns "$NS_P" "server$((++SERVERS))" "$STREAMER" server --listen "127.0.0.1:$SRV_PORT" \
        --listen "[::1]:$SRV_PORT" --log "$WORK/server.jsonl" --timeout 30 "$@"
    SERVER=$BG_PID
    wait_tcp_listen "$NS_P" "$SRV_PORT" 5 || not_ok "streamer server listens" "$(cat "$WORK/server$SERVERS.err")"
}
# clients NAME UP DOWN: M clients in the background (CLIENT_PID), their lines in $WORK/NAME.jsonl.
clients() {
    in_ns "$NS_C" "$STREAMER" client --connect "$P4:8443" --connect "[$P6]:8443" --header mixed \
        --connections "$M" --concurrency "$M" --up-bytes "$2" --down-bytes "$3" --orders both \
        --id-base $((RANDOM * 1000)) --seed "$RANDOM" --log "$WORK/$1.jsonl" --timeout 30 >"$WORK/$1.out" &
    CLIENT_PID=$!
    E2E_PIDS+=("$CLIENT_PID")
}
# streaming: wait (up to 10 s) until M relayed connections are established to the server.
streaming() {
    local i
    for ((i = 0; i < 100; i++)); do
        (($(in_ns "$NS_P" ss -Htn state established "( dport = :$SRV_PORT )" | wc -l) >= M)) && return 0
        sleep 0.1
    done
    return 1
}
# outcome NAME T_FAULT MIN_S BOUND_S LOG_REGEX: waits for the clients, then checks that each was closed between
# MIN_S and BOUND_S after the fault, ferry's log, that it survives, and its fds.
outcome() {
    local name=$1 t_fault=$2 min=$3 bound=$4 regex=$5 logged r fds
    wait "$CLIENT_PID"
    r=$("$PYTHON" - "$WORK/$name.jsonl" "$t_fault" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
closed = sorted(l['t_end'] - float(sys.argv[2]) for l in lines)  # each client's close, after the fault
print(json.dumps({'clients': len(lines), 'closed_with_error': sum(1 for l in lines if l['error'] is not None),
                  'errors': sorted({l['error'].split(':')[0] for l in lines if l['error']}),
                  'closed_after_fault_s': {'min': round(closed[0], 2), 'max': round(closed[-1], 2)} if closed
                                          else None}))
PY
    )
    logged=$(log_errors_matching "$PROXY_LOG" "$regex")
    wait_quiet "$NS_P" 8443 10
    fds=$(proc_fds "$FERRY_PID")
    note "$name: $r; $logged log lines match /$regex/"
    check_py "$name: all $M clients were closed, with an error, $min-$bound s after the fault" \
        "(j0['clients'] == j0['closed_with_error'] == $M and
          $min <= j0['closed_after_fault_s']['min'] and j0['closed_after_fault_s']['max'] <= $bound)" "$r"
    check_py "$name: ferry logged the cause for each (/$regex/)" "j0 >= $M" "$((logged - LOGGED_BEFORE))"
    check "$name: ferry survives" proxy_alive "$FERRY_PID"
    check_fds_back "$name" "$fds_base" "$fds" "$(pool_fds 2)"
    figure "$name" "$("$PYTHON" -c 'import json, sys
r = json.loads(sys.argv[1])
r.update(log_lines=int(sys.argv[2]), fds_after=json.loads(sys.argv[3]))
print(json.dumps(r))' "$r" "$((logged - LOGGED_BEFORE))" "$fds")"
}
# kill_server: SIGKILL the server and reap it quietly (bash would report the kill).
kill_server() {
    kill -KILL "$SERVER" 2>/dev/null
    wait "$SERVER" 2>/dev/null
}
# mark REGEX: remember how many log lines match already (each case counts only its own).
mark() { LOGGED_BEFORE=$(log_errors_matching "$PROXY_LOG" "$1"); }
TARGET_RE='(127\.0\.0\.1|\[::1\]):9000'
DROP_RULES=("-i lo -p tcp --dport $SRV_PORT -j DROP" "-i lo -p tcp --sport $SRV_PORT -j DROP")
blackhole() {  # blackhole -I|-D
    local rule t
    for t in iptables ip6tables; do
        for rule in "${DROP_RULES[@]}"; do
            # shellcheck disable=SC2086  # a rule is words
            in_ns "$NS_P" $t "$1" INPUT $rule || not_ok "$t $1 INPUT $rule"
        done
    done
}

# killed: SIGKILL mid-stream.
server
RE="tcp [^ ]*->$TARGET_RE: (connection reset by peer|broken pipe)"
mark "$RE"
clients killed "$ENDLESS" "$ENDLESS"
streaming || not_ok "killed: $M connections streaming before the fault"
sleep 0.5
t=$(date +%s.%N)
kill_server
outcome killed "$t" 0 5 "$RE"

# reset: the server resets each connection after 1 MiB.
server --rst-after $((1 << 20))
RE="tcp [^ ]*->$TARGET_RE: (connection reset by peer|broken pipe)"
mark "$RE"
t=$(date +%s.%N)
clients reset "$ENDLESS" "$ENDLESS"
outcome reset "$t" 0 10 "$RE"
kill_server

# blackholed mid-stream: the idle deadline ends it.
server
RE='^idle for 3000 ms$'
mark "$RE"
clients blackholed "$ENDLESS" "$ENDLESS"
streaming || not_ok "blackholed: $M connections streaming before the fault"
sleep 0.5
t=$(date +%s.%N)
blackhole -I
# No lower bound: a connection that was already waiting for its (busy) client may have been idle before.
outcome blackholed "$t" 0 30 "$RE"

# unreachable: new connections while the rules are still in place: the connect deadline.
RE="dial tcp [^ ]*->$TARGET_RE: i/o timeout"
mark "$RE"
t=$(date +%s.%N)
clients unreachable 1000 1000
outcome unreachable "$t" 1.9 4 "$RE"
blackhole -D
kill_server

# refused: nothing listens.
wait_quiet "$NS_P" "$SRV_PORT" 5
RE="dial tcp [^ ]*->$TARGET_RE: connect: connection refused"
mark "$RE"
t=$(date +%s.%N)
clients refused 1000 1000
outcome refused "$t" 0 2 "$RE"

finish
