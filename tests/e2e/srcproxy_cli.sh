#!/usr/bin/env bash
# srcproxy: the command line and start-up as the reference has them: `srcproxy client|server config.json`,
# wrong arguments exit 22 with its usage line, configuration errors exit 1 with "[fatal] ..." naming the
# file, line and key; the srcproxy symlink; log_level "error"; SIGTERM. One namespace with loopback only.
source "$(dirname "$0")/lib.sh"

ns_new NS s
ln -s "$FERRY" "$WORK/srcproxy"

# run NAME WANT_STATUS STDERR_REGEX cmd...: cmd exits with WANT_STATUS within 5 s and its stderr matches.
run() {
    local name=$1 want=$2 re=$3 rc
    shift 3
    timeout 5 "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    if [[ $rc == "$want" ]] && grep -qE -- "$re" "$WORK/err"; then ok "$name"; else
        not_ok "$name" "wanted status $want and stderr matching: $re" "got status $rc, stderr:" "$(head -n 5 "$WORK/err")"
    fi
}

run "no arguments: usage, exit 22" 22 "^Usage: $FERRY srcproxy \[client\|server\] config\.json\$" "$FERRY" srcproxy
run "one argument: exit 22" 22 '^Usage: ' "$FERRY" srcproxy server
run "three arguments: exit 22" 22 '^Usage: ' "$FERRY" srcproxy server a.json b.json
run "an unknown mode: exit 22" 22 '^Usage: ' "$FERRY" srcproxy relay "$WORK/x.json"
run "the srcproxy symlink names itself in the usage line" 22 "^Usage: $WORK/srcproxy \[client\|server\] config\.json\$" \
    "$WORK/srcproxy" help
run "a missing file: [fatal], exit 1" 1 \
    "^[0-9/]{10} [0-9:]{8} \[fatal\] failed to open config file: open $WORK/none\.json: no such file or directory\$" \
    "$WORK/srcproxy" server "$WORK/none.json"

printf '{\n  listen: "127.0.0.1:21829",\n  timeout: "5x",\n}\n' >"$WORK/bad-timeout.json"
run "a bad timeout: file, line and key, exit 1" 1 \
    "\[fatal\] failed to parse config file: $WORK/bad-timeout\.json:3: .*timeout" \
    "$FERRY" srcproxy server "$WORK/bad-timeout.json"
printf '{\n  listen: "127.0.0.1:21829",\n  acl: [ { auth: "a", allowed_src_ips: ["192.0.2.1"] } ],\n}\n' >"$WORK/bad-cidr.json"
run "a bare IP as a prefix: file, line and key, exit 1" 1 \
    "\[fatal\] failed to parse config file: $WORK/bad-cidr\.json:3: .*allowed_src_ips" \
    "$FERRY" srcproxy server "$WORK/bad-cidr.json"
printf '{ inbound: { listen: ":9001" }, outbound: { auth: "x" } }\n' >"$WORK/no-server.json"
run "a client without outbound.server: exit 1" 1 "\[fatal\] failed to parse config file: $WORK/no-server\.json:1: .*server" \
    "$FERRY" srcproxy client "$WORK/no-server.json"
printf '{ inbound: { listen: ":9001" }, outbound: { server: "127.0.0.1:21829", local_addr: "%%nosuchdev0" } }\n' >"$WORK/no-dev.json"
run "local_addr with a missing interface: checked at start, exit 1" 1 "\[fatal\] failed to find interface: nosuchdev0" \
    ip netns exec "$NS" "$FERRY" srcproxy client "$WORK/no-dev.json"
printf '{ listen: "192.0.2.77:21829" }\n' >"$WORK/not-local.json"
run "a listen address that is not ours: exit 1" 1 "\[error\] failed to bind listener .*192\.0\.2\.77:21829" \
    ip netns exec "$NS" "$FERRY" srcproxy server "$WORK/not-local.json"

# log_level "error": relays without info lines, still logs errors. Loopback only: the source 127.0.0.2 is
# local, the destination 127.0.0.1:8080 an echo server.
start_server "$NS" echo "127.0.0.1:8080"
printf '{ listen: "127.0.0.1:21829", log_level: "error" }\n' >"$WORK/quiet.json"
start_srcproxy "$NS" 21829 server "$WORK/quiet.json" || finish
h=$(sp_header "" 127.0.0.1:8080 127.0.0.2:40000)
c=$(client "$NS" --connect 127.0.0.1:21829 --header-hex "$h" --send-bytes 1000 --seed 3 --expect-bytes 1000 --timeout 5)
check_py "log_level error: relayed" "j0['error'] is None and j0['received'] == 1000" "$c"
client "$NS" --connect 127.0.0.1:21829 --header-hex 0201 --send-bytes 0 --shutdown-after-send --timeout 5 >/dev/null
sp_log_wait "$PROXY_LOG" 'unsupported version: 2$' >/dev/null
if grep -q '\[info\]' "$PROXY_LOG"; then not_ok "log_level error: no [info] lines" "$(cat "$PROXY_LOG")"
else ok "log_level error: no [info] lines"; fi
check "log_level error: errors are still logged" grep -q '\[error\] (127\.0\.0\.1:[0-9]*) <nil> <-> <nil>: unsupported version: 2$' "$PROXY_LOG"

# SIGTERM: exits 0 promptly.
pid=$PROXY_PID
E2E_PROXY_PIDS=()
kill -TERM "$pid"
for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
check_eq "SIGTERM: exit status 0 within 5 s" 0 "$?"

check "ferry --help lists the srcproxy mode" bash -c "'$FERRY' --help | grep -q '^  srcproxy '"
finish
