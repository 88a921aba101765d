#!/usr/bin/env bash
# ferry run's command line: `ferry run [--check] FILE`; usage errors exit 2, configuration errors exit 1 with
# one line naming the file, line and key (also for the files and privileges a configuration needs, checked
# before anything is bound); --check prints a summary and exits 0 without binding; SIGTERM exits 0.
source "$(dirname "$0")/lib.sh"

ns_new NS s

# run NAME WANT_STATUS REGEX STREAM cmd...: cmd exits with WANT_STATUS within 5 s and STREAM (out|err) matches.
run() {
    local name=$1 want=$2 re=$3 stream=$4 rc
    shift 4
    timeout 5 "$@" >"$WORK/out" 2>"$WORK/err"
    rc=$?
    if [[ $rc == "$want" ]] && grep -qE -- "$re" "$WORK/$stream"; then ok "$name"; else
        not_ok "$name" "wanted status $want and std$stream matching: $re" "got status $rc, stdout/stderr:" \
            "$(head -n 5 "$WORK/out")" "$(head -n 5 "$WORK/err")"
    fi
}

run "no file: usage, exit 2" 2 "^Usage: .* run \[--check\] FILE" err "$FERRY" run
run "an unknown option: exit 2" 2 "unknown option --frobnicate" err "$FERRY" run --frobnicate x.ini
run "two files: exit 2" 2 "one configuration file only" err "$FERRY" run a.ini b.ini
run "-h: usage on stdout, exit 0" 0 "^Usage: .* run \[--check\] FILE" out "$FERRY" run -h
run "ferry --help lists the run mode" 0 "^  run " out "$FERRY" --help
run "a missing file: exit 1" 1 "$WORK/none\.ini: No such file or directory" err "$FERRY" run "$WORK/none.ini"

good="$WORK/good.ini"
cat >"$good" <<'INI'
; a REDIRECT listener through two proxies, and a PROXY-protocol one to a fixed target
[ferry]
status = 127.0.0.1:7099

[listener router]
listen = 127.0.0.1:7001
inbound = redirect
via = proxies

[listener lb]
listen = 127.0.0.1:7002, [::1]:7002
inbound = proxy-protocol
target = 127.0.0.1:9000, [::1]:9000

[server a]
address = 127.0.0.1:1080
protocol = socks5

[server b]
address = 127.0.0.1:3128
protocol = http
INI
run "--check: a summary, exit 0" 0 "^configuration OK: 2 listeners, 2 servers$" out "$FERRY" run --check "$good"
check_eq "--check binds nothing" "" "$(ss -Hltn 'sport = :7001')"

bad() {  # bad NAME REGEX TEXT: the file TEXT is refused with exit 1 and a stderr line matching REGEX
    printf '%b' "$3" >"$WORK/bad.ini"
    run "$1" 1 "$2" err "$FERRY" run --check "$WORK/bad.ini"
}
bad "an unknown inbound: file, line and key" "bad\.ini:3: key \"inbound\": \"carrier-pigeon\"" \
    '[listener a]\nlisten = 127.0.0.1:7001\ninbound = carrier-pigeon\n'
bad "an unknown key: file, line and key" "bad\.ini:4: .*\"colour\"" \
    '[listener a]\nlisten = 127.0.0.1:7001\ninbound = plain\ncolour = blue\ntarget = 127.0.0.1:9\n'
bad "source = client through proxies: both lines" "bad\.ini:5: key \"source\": .*via = direct.*line 4" \
    '[listener a]\nlisten = 127.0.0.1:7001\ninbound = redirect\nvia = proxies\nsource = client\n[server s]\naddress = 127.0.0.1:1080\nprotocol = socks5\n'
bad "a plain inbound needs a fixed target" "bad\.ini:3: key \"inbound\": \"plain\" needs a fixed \"target\"" '[listener a]\nlisten = 127.0.0.1:7001\ninbound = plain\n'
bad "a server section keeps moproxy's messages" "bad\.ini:8: key \"score base\": \"fast\" is not an integer" \
    '[listener a]\nlisten = 127.0.0.1:7001\ninbound = redirect\nvia = proxies\n[server s]\naddress = 127.0.0.1:1080\nprotocol = socks5\nscore base = fast\n'
bad "no listener at all" "bad\.ini: no \[listener NAME\] section" '[ferry]\nthreads = 1\n'
# What only the front end can check: the files a listener names, named by the key's line.
bad "a missing allowed-subnets file: file, line and key" \
    "bad\.ini:4: key \"allowed-subnets\": open $WORK/nope: no such file or directory" \
    "[listener a]\nlisten = 127.0.0.1:7001\ninbound = proxy-protocol\nallowed-subnets = $WORK/nope\ntarget = 127.0.0.1:9\n"

# Without CAP_NET_ADMIN, source = client and inbound = tproxy fail at start, naming the key.
printf '[listener a]\nlisten = 127.0.0.1:7001\ninbound = proxy-protocol\nsource = client\n' >"$WORK/caps.ini"
run "source = client without CAP_NET_ADMIN: exit 1 naming the key" 1 \
    "caps\.ini:4: key \"source\": setsockopt\(IPPROTO_IP, IP_TRANSPARENT, 1\): operation not permitted \(needs CAP_NET_ADMIN" \
    err setpriv --bounding-set -net_admin,-net_raw --inh-caps -net_admin,-net_raw "$FERRY" run "$WORK/caps.ini"
printf '[listener a]\nlisten = 127.0.0.1:7001\ninbound = tproxy\n' >"$WORK/caps2.ini"
run "inbound = tproxy without CAP_NET_ADMIN: exit 1 naming the key" 1 "caps2\.ini:3: key \"inbound\": .*CAP_NET_ADMIN" \
    err setpriv --bounding-set -net_admin,-net_raw --inh-caps -net_admin,-net_raw "$FERRY" run "$WORK/caps2.ini"

# A port already taken: the bind failure names the address, exit 1.
bg_ns "$NS" holder "$PYTHON" -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1", 7003)); s.listen(); time.sleep(30)'
wait_tcp_listen "$NS" 7003 5
printf '[listener a]\nlisten = 127.0.0.1:7003\ninbound = plain\ntarget = 127.0.0.1:9\n' >"$WORK/taken.ini"
run "a port in use: exit 1, the address named" 1 '"msg":"failed to bind listener".*"listenAdr":"127\.0\.0\.1:7003"' err \
    ip netns exec "$NS" "$FERRY" run "$WORK/taken.ini"

# Running, then SIGTERM: exit 0.
printf '[listener a]\nlisten = 127.0.0.1:7004\ninbound = plain\ntarget = 127.0.0.1:9\n' >"$WORK/run.ini"
start_run "$NS" "$WORK/run.ini" 7004 || finish
check "the listening line names the listener" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg listening \
    --field listener=a --field listenAdr=127.0.0.1:7004
pid=$PROXY_PID
stop_proxy "$pid"
wait "$pid" 2>/dev/null
check_eq "SIGTERM: exit 0" 0 "$?"

finish
