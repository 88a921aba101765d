#!/usr/bin/env bash
# moproxy: --stats-bind on a Unix socket path (moproxy 0.5.1: a value starting with "/"), started the way moproxy's
# shipped conf/config.env and moproxy.service start it. Every page over `curl --unix-socket`; the socket file's
# mode (the umask's, as moproxy's bind gives it) and owner (the --user ferry drops to); a stale socket file left by a
# crash is replaced, a regular file or a live listener is not; the file is removed at exit; a zero-downtime restart
# hands the socket itself to the successor (same file, never missing); `check` leaves nothing behind; mmproxy's
# -stats-bind, which shares the parser, takes a path too.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80"
mo_microsocks fast 1081 203.0.113.11
chmod 755 "$WORK"
RUN=$WORK/run/moproxy  # stands in for /run/moproxy
mkdir -p "$RUN"
SOCK=$RUN/web.sock
cat >"$WORK/proxy.ini" <<INI
[fast]
address = 127.0.0.1:1081
protocol = socks5
INI
# moproxy's conf/config.env, with the paths of this test (and the probes' DNS server in the namespace).
cat >"$WORK/config.env" <<ENV
HOST="$MO_R4"
PORT="$MO_PORT"
WEB_BIND="$SOCK"
PROXY_LIST="$WORK/proxy.ini"
DAEMON_ARGS="--stats-bind \${WEB_BIND} --test-dns $MO_S4:53 --probe 1"
ENV

ucurl() { in_ns "$NS_R" curl -sS --max-time 5 --unix-socket "$SOCK" "$@"; }
inode() { stat -c %i "$1" 2>/dev/null; }
# start_env [EXTRA ARGS]: moproxy.service's ExecStart with config.env's variables, umask 022 as systemd's default.
start_env() {
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    # shellcheck disable=SC2086  # $DAEMON_ARGS is split as systemd splits it
    ip netns exec "$NS_R" bash -c 'umask 022; set -a; source "$1"; shift
        exec "$0" moproxy -b $HOST -p $PORT --list $PROXY_LIST $DAEMON_ARGS "$@"' \
        "$FERRY" "$WORK/config.env" "$@" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    note "proxy $PROXY_N (pid $PROXY_PID): moproxy.service's command line $*"
    local i
    for ((i = 0; i < 50; i++)); do
        kill -0 "$PROXY_PID" 2>/dev/null || break
        [[ -S $SOCK ]] && ucurl -o /dev/null http://moproxy/version 2>/dev/null && break
        sleep 0.1
    done
    E2E_PROXY_PIDS+=("$PROXY_PID")
}

# ---------------------------------------------------------------- a crash's leftover, then every page
"$PYTHON" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$SOCK"
chmod 600 "$SOCK"
chown nobody: "$SOCK"  # (its inode number may well be reused: told apart by mode and owner)
check_eq "a stale socket file nobody listens on is there" "srw------- nobody" "$(stat -c '%A %U' "$SOCK")"
start_env
check "moproxy.service's command line: ferry serves the status on $SOCK" test -S "$SOCK"
check_eq "the stale file was replaced; the new one's mode is what the umask (022) leaves, as moproxy's bind" \
    "srwxr-xr-x root root" "$(stat -c '%A %U %G' "$SOCK")"
check "the log names the socket" log_find --msg listening --field listener=status --field "listenAdr=$SOCK"
for ((i = 0; i < 50; i++)); do
    ucurl http://moproxy/status | "$PYTHON" -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["servers"][0]["up"] else 1)' \
        2>/dev/null && break
    sleep 0.1
done
c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 7000 --seed 1 --expect-bytes 7000 --timeout 10)
check_py "a connection relayed" "j0['error'] is None and j0['received'] == 7000" "$c"
sleep 1.2
json=$(ucurl http://moproxy/status)
check_py "/status over the socket: JSON, fast carried 1 connection and 7000 bytes each way" \
    "(lambda s: (s['tag'], s['conn_total'], s['tx_bytes'], s['rx_bytes']))(j0['servers'][0]) == ('fast', 1, 7000, 7000)" \
    "$json"
metrics=$(ucurl http://moproxy/metrics)
check "/metrics over the socket: OpenMetrics with the server's bytes" bash -c \
    'grep -q "^ferry_moproxy_server_bytes_tx_total{tag=\"fast\",.*} 7000$" <<<"$1" && tail -n 1 <<<"$1" | grep -qx "# EOF"' \
    _ "$metrics"
text=$(ucurl http://moproxy/)
check "/ over the socket: the text table for curl" bash -c 'grep -q "^ *1 *fast " <<<"$1" && ! grep -q "<html" <<<"$1"' \
    _ "$text"
html=$(ucurl -H 'Accept: text/html' http://moproxy/)
check "/ over the socket for a browser: HTML" grep -qi "<html" <<<"$html"
plain=$(ucurl -H 'Accept: text/html' http://moproxy/plain)
check_eq "/plain over the socket: the text table whatever the Accept" "$(head -n 3 <<<"$text")" "$(head -n 3 <<<"$plain")"
check_eq "/version over the socket" "ferry $("$FERRY" --version | awk '{print $2}')" "$(ucurl http://moproxy/version)"
check_eq "an unknown path over the socket: 404" 404 "$(ucurl -o /dev/null -w '%{http_code}' http://moproxy/nope)"
stop_proxy
check "the socket file is removed at exit" test ! -e "$SOCK"

# ---------------------------------------------------------------- what is not replaced
echo "not a socket" >"$SOCK"
start_env
exit_status "$PROXY_PID" 5
forget "$PROXY_PID"
check_eq "a regular file at the path: ferry exits 1" 1 "$EXIT_STATUS"
check "... says so, and leaves the file alone" bash -c \
    'grep -q "a file that is not a socket is there" "$1" && [[ $(cat "$2") == "not a socket" ]]' _ "$PROXY_LOG" "$SOCK"
rm -f "$SOCK"
bg_ns "$NS_R" holder "$PYTHON" -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(); time.sleep(30)' "$SOCK"
holder=$BG_PID
for ((i = 0; i < 50; i++)); do [[ -S $SOCK ]] && break; sleep 0.05; done
start_env
exit_status "$PROXY_PID" 5
forget "$PROXY_PID"
check_eq "another process listening at the path: ferry exits 1 (address already in use)" "1 1" \
    "$EXIT_STATUS $(grep -c 'address already in use' "$PROXY_LOG")"
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
rm -f "$SOCK"
out=$(in_ns "$NS_R" "$FERRY" moproxy check -p "$MO_PORT" -s 1081 --stats-bind "$SOCK" 2>&1)
check "check with a socket path: configuration OK, no file left" bash -c \
    '[[ $1 == "configuration OK"* ]] && [[ ! -e $2 ]]' _ "$out" "$SOCK"

# ---------------------------------------------------------------- --user, and a zero-downtime restart
chown nobody: "$RUN"  # moproxy.service's DynamicUser owns its runtime directory
TK=$WORK/moproxy.takeover
start_env --user nobody --takeover-socket "$TK"
first=$PROXY_PID
check_eq "with --user nobody: the socket is made before the drop and given to nobody" "srwxr-xr-x nobody nogroup" \
    "$(stat -c '%A %U %G' "$SOCK")"
check_eq "... and serves it as nobody" "ferry $(id -u nobody)" \
    "$(ucurl http://moproxy/version | awk '{print $1}') $(awk '/^Uid:/ {print $3}' "/proc/$first/status")"
before=$(inode "$SOCK")
successor "$NS_R" bash -c 'umask 022; set -a; source "$1"; shift
    exec "$0" moproxy -b $HOST -p $PORT --list $PROXY_LIST $DAEMON_ARGS "$@"' \
    "$FERRY" "$WORK/config.env" --user nobody --takeover-socket "$TK" ||
    not_ok "the successor took over" "$(tail -n 5 "$PROXY_LOG")"
forget "$first"
exit_status "$first" 5
check_eq "the old process exits 0" 0 "$EXIT_STATUS"
check "the successor got the status socket from it" bash -c \
    'grep -q "\"msg\":\"taking over\"" "$1" && ! grep -q "inherited socket not used" "$1"' _ "$PROXY_LOG"
check_eq "the same socket file stays (the old process did not remove it)" "$before" "$(inode "$SOCK")"
check_py "the successor answers on it" "j0['servers'][0]['tag'] == 'fast'" "$(ucurl http://moproxy/status)"
stop_proxy
check "the successor, as nobody, removes the file at exit" test ! -e "$SOCK"

# ---------------------------------------------------------------- the other modes share the flag's parser
MM_SOCK=$RUN/mmproxy.sock
start_proxy "$NS_R" -l 127.0.0.1:8443 -4 127.0.0.1:9000 -stats-bind "$MM_SOCK" || finish
metrics=$(in_ns "$NS_R" curl -sS --max-time 5 --unix-socket "$MM_SOCK" http://mmproxy/metrics)
check "mmproxy -stats-bind /PATH: /metrics on the Unix socket" \
    grep -q '^ferry_connections_accepted_total{address="127.0.0.1:8443"} 0$' <<<"$metrics"
stop_proxy
check "mmproxy: the socket file is removed at exit" test ! -e "$MM_SOCK"
finish
