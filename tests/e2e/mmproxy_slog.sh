#!/usr/bin/env bash
# -log-format slog: go-mmproxy 2.3's (kzemek) slog JSON lines on stdout, as its tcp.go writes them: time
# (RFC3339Nano), upper-case level, msg, then listenerNum / protocol "TCP" / listenAddr, frontendRemoteAddr /
# frontendLocalAddr, clientAddr / targetAddr; an accepted and relayed connection, its end, and the errors
# ("dropping connection" with 2.3's reasons). The default stays 2.1's zap lines on stderr.
source "$(dirname "$0")/lib.sh"
ferry_only "-log-format slog" "go-mmproxy 2.1 has only zap lines" || finish

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT"
printf '203.0.113.0/24\n198.51.100.2/32\n' >"$WORK/allowed"
start_proxy "$NS_P" -log-format slog -v 2 -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -allowed-subnets "$WORK/allowed" ||
    finish
OUT=$PROXY_LOG.stdout

# slog_line MSG [KEY=VALUE...]: the first stdout line with this msg whose fields match, as JSON (exit 1: none).
slog_line() {
    "$PYTHON" - "$OUT" "$@" <<'PY'
import json, sys, time
path, msg, pairs = sys.argv[1], sys.argv[2], [a.split('=', 1) for a in sys.argv[3:]]
for _ in range(50):
    for line in open(path):
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get('msg') == msg and all(str(j.get(k)).lower() == v.lower() if isinstance(j.get(k), bool)
                                       else str(j.get(k)) == v for k, v in pairs):
            print(line.strip())
            sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
}
# keys_are JSON KEY...: the line's keys, in order, are exactly these.
keys_are() {
    local line=$1
    shift
    "$PYTHON" -c 'import json,sys; sys.exit(list(json.loads(sys.argv[1]).keys()) != sys.argv[2:])' "$line" "$@"
}

l=$(slog_line listening listenerNum=0)
check "listening: time, level INFO, listenerNum, protocol TCP, listenAddr" keys_are "$l" time level msg listenerNum protocol listenAddr
check_py "listening: the values" "j0['level'] == 'INFO' and j0['protocol'] == 'TCP' and j0['listenAddr'] == '0.0.0.0:8443'" "$l"
check_py "the time is RFC3339Nano" \
    "__import__('re').fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)', j0['time']) is not None" "$l"
l=$(slog_line "allowed subnet" subnet=203.0.113.0/24)
check_py "allowed subnet: INFO with the subnet" "j0 is not None and j0['level'] == 'INFO'" "$l"

next_port
SRC=203.0.113.7:$NEXT_PORT
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "$SRC" --dst 192.0.2.1:443)" \
    --send-bytes 100000 --seed 3 --expect-bytes 100000 --timeout 10)
expect_relay "relay with -log-format slog" "$c" "$(server_conn "$SRC")" "$SRC"
l=$(slog_line "new connection" frontendLocalAddr=$P4:8443)
check "accept: new connection, DEBUG, the frontend's addresses" keys_are "$l" time level msg listenerNum protocol listenAddr \
    frontendRemoteAddr frontendLocalAddr
check_py "accept: level DEBUG, from the load balancer" "j0['level'] == 'DEBUG' and j0['frontendRemoteAddr'].startswith('$C4:')" "$l"
l=$(slog_line "successfully parsed PROXY header" clientAddr=$SRC)
check "header: clientAddr and targetAddr follow" keys_are "$l" time level msg listenerNum protocol listenAddr \
    frontendRemoteAddr frontendLocalAddr clientAddr targetAddr
check_py "header: targetAddr is -4" "j0['targetAddr'] == '127.0.0.1:$SRV_PORT'" "$l"
for m in "successfully established backend connection" "successfully set NoDelay on frontend connection" \
    "successfully set NoDelay on backend connection" "connection closing"; do
    check "relay: $m" slog_line "$m" clientAddr=$SRC
done
check "relay end: connection shutdown for read, frontend -> backend" slog_line "connection shutdown for read" \
    clientAddr=$SRC "direction=read frontend -> write backend"
check "relay end: and backend -> frontend" slog_line "connection shutdown for read" clientAddr=$SRC \
    "direction=read backend -> write frontend"

# Errors: a target that refuses, a connection without a header.
next_port
SRC6="[2001:db8:ff::9]:$NEXT_PORT"
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "$SRC6" --dst "[2001:db8::1]:443")" \
    --send-bytes 10 --seed 1 --timeout 5)
l=$(slog_line "dropping connection" "clientAddr=$SRC6")
check_py "error: dropping connection, DEBUG, 2.3's reason first" \
    "j0['level'] == 'DEBUG' and j0['error'].startswith('failed to establish backend connection: ') and j0['targetAddr'] == '[::1]:$SRV_PORT'" "$l"
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(printf 'GET / HTTP/1.0\r\n\r\n' | od -An -tx1 | tr -d ' \n')" \
    --timeout 5)
check "error: no PROXY header" log_find --log "$OUT" --msg "dropping connection" --contains "error=failed to "
check_eq "nothing on stderr in slog format" 0 "$(grep -c '"level"' "$PROXY_LOG")"
stop_proxy
check "the routing lines are slog lines too" slog_line "removed routing"

# The default is unchanged: zap keys on stderr.
start_proxy "$NS_P" -v 2 -4 "127.0.0.1:$SRV_PORT" || finish
check "default: 2.1's zap listening line on stderr" log_find --msg listening --field protocol=tcp --field listenAdr=0.0.0.0:8443
check_eq "default: nothing on stdout" 0 "$(grep -c . "$PROXY_LOG.stdout")"

finish
