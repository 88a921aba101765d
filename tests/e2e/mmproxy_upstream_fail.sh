#!/usr/bin/env bash
# mmproxy: the target cannot be reached.
#  - nothing listens on the target port (RST): the client connection is closed promptly and
#    "failed to establish upstream connection" is logged at -v 1 with an "error" key;
#  - the target drops SYNs (iptables DROP inside P): with -connect-timeout 2s the client is
#    closed within ~3 s (go-mmproxy 2.1: TCP_SYNCNT=2, about 7 s) with the error logged.
source "$(dirname "$0")/lib.sh"

mm_topology
DEAD_PORT=9009
DROP_PORT=9002
if ! in_ns "$NS_P" iptables -A INPUT -p tcp --dport "$DROP_PORT" -j DROP; then
    not_ok "iptables DROP rule inside the proxy namespace"
    finish
fi
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$DEAD_PORT" -6 "[::1]:$DEAD_PORT" || finish
REFUSED_LOG=$PROXY_LOG
extra=()
DROP_MAX=10
if $PROXY_IS_FERRY; then extra=(-connect-timeout 2s); DROP_MAX=3.5; fi
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:$DROP_PORT" -6 "[::1]:$DROP_PORT" "${extra[@]}" || finish
DROP_LOG=$PROXY_LOG

# fail_case NAME FRONTEND SPOOF_SRC DST MIN_S MAX_S LOG
fail_case() {
    local name=$1 front=$2 src=$3 dst=$4 min=$5 max=$6 log=$7 c
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst "$dst")" \
        --send-bytes 1000 --seed 3 --timeout 20)
    check_py "$name: client connection closed after ${min}-${max} s" \
        "(j0['closed_by_peer'] or j0['error'] in ('ECONNRESET', 'EPIPE')) and j0['received'] == 0 and $min <= j0['elapsed'] <= $max" "$c"
    check "$name: failure logged at -v 1 with an error" \
        "$PYTHON" "$PEER" logfind --log "$log" --msg "failed to establish upstream connection" \
        --key error --remote "$(jget "$c" local)"
}

next_port; fail_case "refused, v4" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443" 0 2 "$REFUSED_LOG"
next_port; fail_case "refused, v6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443" 0 2 "$REFUSED_LOG"
next_port; fail_case "SYNs dropped, v4" "$P4:8444" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443" 1.5 "$DROP_MAX" "$DROP_LOG"

finish
