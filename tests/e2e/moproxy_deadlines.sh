#!/usr/bin/env bash
# moproxy: deadlines, so a wedged upstream cannot hold a connection for ever. The destination here accepts and
# then neither reads nor writes (peer.py server --mode stall, and stall-hold, which a FIN does not end either),
# behind the tests' SOCKS5 server.
#  - idle: a connection without traffic either way is closed after --idle-timeout (default 7200 s; ferry's
#    own: moproxy has no idle bound, and such a connection stayed open for minutes with MBs unread);
#  - half-close: once the client has finished sending, the connection is closed after --halfclose-timeout
#    without traffic (default 60 s, moproxy's HALF_CLOSE_TIMEOUT).
# Short deadlines are given here; the defaults are checked by the unit tests (moproxy_options).
source "$(dirname "$0")/lib.sh"

mo_topology
start_server "$NS_S" stall "$MO_S4:83" "[$MO_S6]:83" -- --timeout 30
STALL_LOG=$SERVER_LOG
start_server "$NS_S" stall-hold "$MO_S4:84" -- --timeout 30
mo_socks5d hc 1083 203.0.113.14
cat >"$WORK/hc.ini" <<INI
[hc]
address = 127.0.0.1:1083
protocol = socks5
INI

# stall_case NAME MIN_S MAX_S CLIENT_ARGS...: the client's connection is ended by ferry (a reset, seen as an
# error) MIN_S..MAX_S seconds after it started, not by the client's own 20 s timeout.
stall_case() {
    local name=$1 min=$2 max=$3 c
    shift 3
    c=$(client "$NS_C" --timeout 20 "$@")
    check_py "$name" "j0['error'] is not None and $min <= j0['elapsed'] <= $max" "$c"
}
# stall_ended N: the Nth connection the stalled destination saw ended because the other side went away (not at
# its own 30 s timeout).
stall_ended() {
    local s
    s=$("$PYTHON" "$PEER" find --log "$STALL_LOG" --nth "$1" --timeout 10)
    check_py "the destination's connection $1 was closed too" \
        "j0 is not None and j0.get('stall_ended') == 'peer closed' and j0['t_end'] - j0['t_accept'] <= 10" "$s"
}

start_moproxy -l "$WORK/hc.ini" --probe 0 --idle-timeout 2 || finish
stall_case "idle: 100 kB sent, then silence both ways: closed after --idle-timeout 2, v4" 1.5 8 \
    --connect "$MO_S4:83" --send-bytes 100000
stall_ended 1
stall_case "idle: the same over IPv6" 1.5 8 --connect "[$MO_S6]:83" --send-bytes 100000
stall_ended 2
check "the log says the connection was idle" log_find --msg "connection broken" --contains "idle for 2000 ms" \
    --timeout 2
check "ferry is still running" proxy_alive
stop_proxy

start_moproxy -l "$WORK/hc.ini" --probe 0 --halfclose-timeout 2 || finish
stall_case "half-close: the client sent 100 kB and its FIN, nothing came back: closed after 2 s" 1.5 8 \
    --connect "$MO_S4:84" --send-bytes 100000 --shutdown-after-send
check "the log says the connection was half-closed and idle" log_find --msg "connection broken" \
    --contains "half-closed and idle for 2000 ms" --timeout 2
stop_proxy

finish
