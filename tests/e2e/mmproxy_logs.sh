#!/usr/bin/env bash
# mmproxy logging matches go-mmproxy 2.1 (zap JSON on stderr): every line is a JSON object with
# level, ts (a number) and msg; at -v 2 a connection logs "new connection", "successfully parsed
# PROXY header", "successfully established upstream connection" and "connection closing" with
# remoteAddr, localAddr (and clientAddr, targetAddr once known); -v 1 logs nothing for a good
# connection and -v 0 nothing per connection at all.
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
V2_LOG=$PROXY_LOG
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
V1_LOG=$PROXY_LOG
start_proxy "$NS_P" -v 0 -l "0.0.0.0:8445" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
V0_LOG=$PROXY_LOG

# one_conn FRONTEND SPOOF_SRC DST: a good connection; prints the client's result.
one_conn() {
    local c
    c=$(client "$NS_C" --connect "$1" --header-hex "$(hdr v2 --src "$2" --dst "$3")" \
        --send-bytes 1000 --seed 9 --expect-bytes 1000 --timeout 5)
    server_conn "$2" >/dev/null
    printf '%s' "$c"
}

# v2_conn_logged NAME FRONTEND SPOOF_SRC DST TARGET
v2_conn_logged() {
    local name=$1 front=$2 src=$3 dst=$4 target=$5 c remote
    c=$(one_conn "$front" "$src" "$dst")
    remote=$(jget "$c" local)
    check_py "$name: connection relayed" "j0['received'] == 1000" "$c"
    PROXY_LOG=$V2_LOG
    check "$name: 'new connection' with remoteAddr, localAddr" \
        log_find --msg "new connection" --field level=debug --key remoteAddr --key localAddr --remote "$remote"
    local m
    for m in "successfully parsed PROXY header" "successfully established upstream connection" "connection closing"; do
        check "$name: '$m' with remoteAddr, localAddr, clientAddr, targetAddr" \
            log_find --msg "$m" --field level=debug --key localAddr --remote "$remote" \
            --field "clientAddr=$src" --field "targetAddr=$target"
    done
}

check "startup line 'listening' at info" \
    "$PYTHON" "$PEER" logfind --log "$V2_LOG" --msg listening --field level=info

next_port; v2_conn_logged "v4" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443" "127.0.0.1:$SRV_PORT"
next_port; v2_conn_logged "v6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443" "[::1]:$SRV_PORT"

next_port; c=$(one_conn "$P4:8444" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443")
check_py "-v 1: connection relayed" "j0['received'] == 1000" "$c"
next_port; c=$(one_conn "$P4:8445" "203.0.113.9:$NEXT_PORT" "192.0.2.1:443")
check_py "-v 0: connection relayed" "j0['received'] == 1000" "$c"
sleep 0.3

for log in "$V2_LOG" "$V1_LOG" "$V0_LOG"; do
    check "every line of $(basename "$log") is a JSON object with level, ts (number), msg" \
        "$PYTHON" "$PEER" jsonlines "$log" --require-str level --require-number ts --require-str msg
done
# Per-connection lines are the ones with a remoteAddr; startup lines (listening, routing) may be
# logged at any level.
per_conn_msgs() {
    "$PYTHON" -c 'import json, sys
print(json.dumps([r.get("msg") for r in map(json.loads, filter(str.strip, open(sys.argv[1])))
                  if "remoteAddr" in r]))' "$1"
}
check_py "-v 1: nothing logged for a good connection" "j0 == []" "$(per_conn_msgs "$V1_LOG")"
check_py "-v 0: nothing logged per connection" "j0 == []" "$(per_conn_msgs "$V0_LOG")"

# go-mmproxy 2.1 logs every per-connection line through a logger that carries the listener's
# fields, and two NoDelay lines at -v 2.
check_py "-v 2: per-connection lines carry listenerNum, protocol, listenAdr like go-mmproxy" \
    "len(j0) > 0 and all('listenerNum' in r and r.get('protocol') == 'tcp' and 'listenAdr' in r for r in j0)" \
    "$("$PYTHON" -c 'import json, sys
print(json.dumps([r for r in map(json.loads, filter(str.strip, open(sys.argv[1]))) if "remoteAddr" in r][:3]))' "$V2_LOG")"
for m in "successfully set NoDelay on downstream connection" "successfully set NoDelay on upstream connection"; do
    check "-v 2: '$m' logged like go-mmproxy" "$PYTHON" "$PEER" logfind --log "$V2_LOG" --msg "$m" \
        --key remoteAddr --key clientAddr --key targetAddr
done

finish
