#!/usr/bin/env bash
# systemd integration (systemd is not PID 1 here, so tests/sd_harness.py plays its part):
#  - every unit in conf/ passes `systemd-analyze verify` without a word (ExecStart's /usr/local/bin/ferry is
#    this build, in a private mount namespace), is Type=notify with a watchdog, and rates "OK" or better in
#    `systemd-analyze security --offline=yes`;
#  - each unit's own ExecStart runs, in a network namespace with the unit's addresses, as an unprivileged user
#    with only the unit's capabilities (setpriv: AmbientCapabilities, CapabilityBoundingSet, NoNewPrivileges),
#    its /etc/ferry files and credentials replaced by test copies, beside a notify socket (abstract or a path)
#    that checks READY=1 (listeners accepting, STATUS= with the live count), WATCHDOG=1 every half
#    WATCHDOG_USEC, RELOADING=1 + MONOTONIC_USEC then READY=1 for SIGHUP where the unit reloads, no WATCHDOG=1
#    while one loop thread (or the prober) is stopped with ptrace, STOPPING=1 last and exit 0 for SIGTERM.
source "$(dirname "$0")/lib.sh"

HARNESS="$REPO_ROOT/tests/sd_harness.py"
CONF="$REPO_ROOT/conf"
# Every unit in conf/ and how its command line is exercised (a unit without a case fails the test).
UNITS=(ferry-mmproxy ferry-moproxy ferry-srcproxy-server ferry-srcproxy-client ferry-tproxy ferry-run)
SOCKETS=(ferry-mmproxy ferry-moproxy)  # conf/NAME.socket, beside conf/NAME.service
SERVICE_UID=61234  # in systemd's DynamicUser range, owned by nobody here

for tool in systemd-analyze setpriv unshare; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (tests/deps.sh)"; finish; }
done

for unit in "$CONF"/*.service; do
    name=$(basename "$unit" .service)
    [[ " ${UNITS[*]} " == *" $name "* ]] || not_ok "conf/$name.service has a case in this test"
done
for unit in "$CONF"/*.socket; do
    name=$(basename "$unit" .socket)
    [[ " ${SOCKETS[*]} " == *" $name "* ]] || not_ok "conf/$name.socket has a case in this test"
done

# ------------------------------------------------------------------ the units themselves

chmod 711 "$WORK"
mkdir -p "$WORK/bin"
cp "$FERRY" "$WORK/bin/ferry"
chmod 755 "$WORK/bin" "$WORK/bin/ferry"

# in_fake_prefix CMD...: CMD with /usr/local/bin/ferry being this build (what `make install` puts there).
in_fake_prefix() {
    unshare -m sh -c 'mount -t tmpfs tmpfs /usr/local/bin && cp "$1" /usr/local/bin/ferry && shift && exec "$@"' \
        sh "$WORK/bin/ferry" "$@"
}

# systemd-analyze verify also loads the units installed on the machine and warns about theirs (Debian's
# carbon-cache.service, which the graphite test's package brings: "Standard output type syslog is obsolete"):
# only what it says about ours counts.
not_about_installed_units() { grep -v -E '^/(usr/)?lib/systemd/system/|^/etc/systemd/system/' || true; }

for name in "${UNITS[@]}"; do
    unit="$CONF/$name.service"
    out=$(cd "$CONF" && in_fake_prefix systemd-analyze verify "$unit" 2>&1)
    rc=$?
    out=$(not_about_installed_units <<<"$out")
    if ((rc == 0)) && [[ -z $out ]]; then ok "$name: systemd-analyze verify"; else
        not_ok "$name: systemd-analyze verify" "exit status $rc" "$out"; fi
    score=$(in_fake_prefix systemd-analyze security --offline=yes "$unit" 2>/dev/null |
        sed -nE 's/.*Overall exposure level for [^:]*: ([0-9.]+) .*/\1/p')
    note "$name: systemd-analyze security exposure $score"
    check_py "$name: exposure rated OK (below 2.5; mmproxy's unit was 6.2 before)" \
        "j0 is not None and j0 < 2.5" "$score"
    INFO=$("$PYTHON" "$HARNESS" unit-info "$unit")
    check_py "$name: Type=notify with WatchdogSec, ExecStart from PREFIX=/usr/local" \
        "j0['type'] == 'notify' and j0['watchdog_sec'] and j0['exec_start'][0] == '/usr/local/bin/ferry'" "$INFO"
done

for name in "${SOCKETS[@]}"; do
    out=$(cd "$CONF" && in_fake_prefix systemd-analyze verify "$CONF/$name.socket" 2>&1)
    rc=$?
    out=$(not_about_installed_units <<<"$out")
    if ((rc == 0)) && [[ -z $out ]]; then ok "$name.socket: systemd-analyze verify (with its service)"; else
        not_ok "$name.socket: systemd-analyze verify (with its service)" "exit status $rc" "$out"; fi
done

# ------------------------------------------------------------------ their command lines

# run_unit NAME NOTIFY_ADDR NS HARNESS-ARGS...: runs the unit's ExecStart in NS under the unit's user and
# capabilities, with /etc/ferry/ and %d (credentials) pointing at test copies, through the harness.
run_unit() {
    local name=$1 notify=$2 ns=$3
    shift 3
    local info argv prefix reload=()
    info=$("$PYTHON" "$HARNESS" unit-info "$CONF/$name.service")
    local etc="$WORK/etc-$name" creds="$WORK/creds-$name"
    mkdir -p "$etc" "$creds"
    prepare_files "$etc" "$creds"
    mapfile -t argv < <("$PYTHON" - "$info" "$WORK/bin/ferry" "$etc" "$creds" <<'EOF'
import json, sys
info, ferry, etc, creds = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
for a in info['exec_start']:
    a = a.replace('/usr/local/bin/ferry', ferry).replace('/etc/ferry/', etc + '/').replace('%d', creds)
    print(a.replace('%%', '%'))
EOF
    )
    prefix=$("$PYTHON" - "$info" "$SERVICE_UID" <<'EOF'
import json, sys
info, uid = json.loads(sys.argv[1]), sys.argv[2]
caps = [c.lower().replace('cap_', '') for c in info['ambient']]
bound = [c.lower().replace('cap_', '') for c in (info['bounding'] if info['bounding'] is not None else [])]
sets = lambda cs: ','.join(['-all'] + ['+' + c for c in cs])
out = ['setpriv']
if info['dynamic_user'] or info['user']:
    out += ['--reuid=' + uid, '--regid=' + uid, '--clear-groups']
out += ['--inh-caps=' + sets(caps), '--ambient-caps=' + sets(caps)]
if info['bounding'] is not None:
    out += ['--bounding-set=' + sets(bound)]
if info['no_new_privileges']:
    out += ['--no-new-privs']
print(' '.join(out + ['--']))
EOF
    )
    "$PYTHON" -c "import json,sys; sys.exit(0 if json.loads(sys.argv[1])['exec_reload'] else 1)" "$info" &&
        reload=(--reload)
    # Socket activation: systemd-socket-activate (as root) holds the .socket unit's sockets and execs the rest.
    [[ -n ${ACTIVATOR:-} ]] && prefix="$ACTIVATOR $prefix"
    note "$name: $prefix ${argv[*]}"
    local log="$WORK/${LOG_NAME:-$name}.log"
    E2E_PROXY_LOGS+=("$log")
    local line
    while IFS= read -r line; do
        case $line in
            "ok - "*) ok "${line#ok - }" ;;
            "not ok - "*) not_ok "${line#not ok - }" ;;
            *) printf '%s\n' "$line" ;;
        esac
    done < <(ip netns exec "$ns" "$PYTHON" "$HARNESS" run --name "$name" --notify "$notify" --log "$log" \
        --prefix "$prefix" "${reload[@]}" "$@" -- "${argv[@]}" 2>&1)
}

# The files the units name under /etc/ferry/ (and as credentials), from conf/'s examples; the allow-lists
# include loopback so the test's own connections count.
prepare_files() {
    local etc=$1 creds=$2
    printf '127.0.0.0/8\n::1/128\n192.0.2.0/24\n' >"$etc/allowed-subnets"
    sed "s#/etc/ferry/#$etc/#g" "$CONF/ferry-run.ini" >"$etc/ferry-run.ini"
    cp "$CONF/moproxy.ini" "$etc/moproxy.ini"
    cp "$CONF/srcproxy-server.json5" "$CONF/srcproxy-client.json5" "$creds/"
    chmod 755 "$etc" "$creds"
    chmod 644 "$etc"/* "$creds"/*
}

# stuck_logged NAME LOOP: ferry said which loop withheld the watchdog, and that it came back.
stuck_logged() {
    check "$1: the log names the stuck loop $2" grep -q "not responding.*$2" "$WORK/$1.log"
    check "$1: the log says when $2 responds again" grep -q "responding again.*$2" "$WORK/$1.log"
}

ns_new NS_MM mm
run_unit ferry-mmproxy "@ferry-$E2E_ID-mm" "$NS_MM" --connect 127.0.0.1:8443 \
    --hold 3 --hold-address 127.0.0.1:8443 --stall ferry-loop-0
stuck_logged ferry-mmproxy ferry-loop-0

ns_new NS_MO mo
run_unit ferry-moproxy "$WORK/notify-mo.sock" "$NS_MO" --connect 127.0.0.1:2080 --connect 127.0.0.1:8080 \
    --stall ferry-prober --stall ferry-loop-1
stuck_logged ferry-moproxy ferry-prober
stuck_logged ferry-moproxy ferry-loop-1

ns_new NS_SS sps
ip -n "$NS_SS" addr add 192.0.2.1/32 dev lo
run_unit ferry-srcproxy-server "@ferry-$E2E_ID-sps" "$NS_SS" --connect 192.0.2.1:21829 \
    --hold 2 --hold-address 192.0.2.1:21829 --stall ferry-loop-1

# The client's config binds its connections to the server to 192.0.2.2%eth0: the device must exist.
ns_new NS_SC spc
ip -n "$NS_SC" link add eth0 type veth peer name eth0peer
ip -n "$NS_SC" addr add 192.0.2.2/24 dev eth0
ip -n "$NS_SC" link set eth0 up
ip -n "$NS_SC" link set eth0peer up
run_unit ferry-srcproxy-client "$WORK/notify-spc.sock" "$NS_SC" --connect 127.0.0.1:9001 --connect '[::1]:9001'
# The same, told by WATCHDOG_PID that the watchdog is another process's: READY=1 and no WATCHDOG=1.
run_unit ferry-srcproxy-client "@ferry-$E2E_ID-spc2" "$NS_SC" --watchdog-pid other --connect 127.0.0.1:9001

ns_new NS_TP tp
run_unit ferry-tproxy "@ferry-$E2E_ID-tp" "$NS_TP" --connect 127.0.0.1:9091 --connect '[::1]:9091' \
    --stall ferry-loop-0

ns_new NS_RUN run
ip -n "$NS_RUN" addr add 192.0.2.1/32 dev lo
run_unit ferry-run "$WORK/notify-run.sock" "$NS_RUN" --connect 127.0.0.1:9091 --connect 127.0.0.1:8081 \
    --connect 127.0.0.1:8443 --connect 192.0.2.1:1080 --connect 127.0.0.1:8080 \
    --hold 3 --hold-address 127.0.0.1:8443 --stall ferry-prober
stuck_logged ferry-run ferry-prober

# ------------------------------------------------------------------ .socket units

# activator NAME NOTIFY: systemd-socket-activate with the .socket unit's addresses and name, passing what systemd
# passes (systemd-socket-activate hands its children only a few variables of its own).
activator() {
    "$PYTHON" -c '
import json, sys
info, notify = json.loads(sys.argv[1]), sys.argv[2]
out = ["systemd-socket-activate"]
for a in info["listen_stream"]:
    out += ["-l", a]
out += ["--fdname=" + ":".join([info["fdname"]] * len(info["listen_stream"]))]
out += ["-E", "NOTIFY_SOCKET=" + notify, "-E", "WATCHDOG_USEC=1000000"]
print(" ".join(out))' "$("$PYTHON" "$HARNESS" unit-info "$CONF/$1.socket")" "$2"
}

# socket_used NAME: ferry took the .socket's sockets and bound none of its own beside them.
socket_used() {
    check "$1.socket: ferry used systemd's sockets" grep -q '"msg":"using sockets from systemd"' "$WORK/$1.socket.log"
    if grep -q '"msg":"inherited socket not used' "$WORK/$1.socket.log"; then
        not_ok "$1.socket: every passed socket used" "$(grep -E 'inherited socket not used' "$WORK/$1.socket.log")"
    else
        ok "$1.socket: every passed socket used"
    fi
}

if command -v systemd-socket-activate >/dev/null; then
    ns_new NS_MMS mms
    ACTIVATOR=$(activator ferry-mmproxy "@ferry-$E2E_ID-mms") LOG_NAME=ferry-mmproxy.socket \
        run_unit ferry-mmproxy "@ferry-$E2E_ID-mms" "$NS_MMS" --activate 127.0.0.1:8443 --connect '[::1]:8443' \
        --stall ferry-loop-1
    socket_used ferry-mmproxy
    ns_new NS_MOS mos
    ACTIVATOR=$(activator ferry-moproxy "$WORK/notify-mos.sock") LOG_NAME=ferry-moproxy.socket \
        run_unit ferry-moproxy "$WORK/notify-mos.sock" "$NS_MOS" --activate 127.0.0.1:2080 --connect 127.0.0.1:8080
    socket_used ferry-moproxy
else
    not_ok "systemd-socket-activate is installed (tests/deps.sh: systemd)"
fi

# ------------------------------------------------------------------ SystemCallFilter=@system-service

# The units allow only @system-service's system calls (a seccomp filter systemd installs, which cannot be
# installed here without systemd): ferry run's unit command line under strace, through start, a SOCKS5 relay
# (allow-direct, so splice), the status page, a reload and the stop, must use no other.
syscalls_in_system_service() {
    if ! command -v strace >/dev/null; then not_ok "strace is installed (tests/deps.sh)"; return; fi
    local ns etc="$WORK/etc-ferry-run" www="$WORK/www" pid i rc
    ns_new ns sys
    ip -n "$ns" addr add 192.0.2.1/32 dev lo
    mkdir -p "$www"
    head -c 2000000 /dev/urandom >"$www/blob"
    bg_ns "$ns" www "$PYTHON" -m http.server 8000 --bind 127.0.0.1 --directory "$www"
    NOTIFY_SOCKET="@ferry-$E2E_ID-sys" WATCHDOG_USEC=1000000 ip netns exec "$ns" \
        strace -f -qq -o "$WORK/strace.out" "$WORK/bin/ferry" run "$etc/ferry-run.ini" >"$WORK/strace-run.log" 2>&1 &
    pid=$!
    E2E_PIDS+=("$pid")
    if ! wait_tcp_listen "$ns" 1080 10 || ! wait_tcp_listen "$ns" 8000 10; then
        not_ok "syscalls: ferry run and the web server listen"
    fi
    local want got
    want=$(sha256sum <"$www/blob")
    for i in 1 2; do
        got=$(in_ns "$ns" curl -sS --max-time 10 --interface 192.0.2.1 --socks5 192.0.2.1:1080 \
            http://127.0.0.1:8000/blob | sha256sum)
        check_eq "syscalls: a download through the SOCKS5 listener ($i)" "$want" "$got"
    done
    check_eq "syscalls: the status page" 200 \
        "$(in_ns "$ns" curl -sS --max-time 5 -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/)"
    sleep 1.2  # a few watchdog ticks
    local ferry_pid
    ferry_pid=$(pgrep -P "$pid" | head -n 1)  # strace's child (a signal to strace would detach it)
    kill -HUP "$ferry_pid"
    sleep 0.5
    kill -TERM "$ferry_pid"
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    check "syscalls: ferry run reloads and stops under strace" grep -q "received shutdown signal" "$WORK/strace-run.log"
    local out
    out=$("$PYTHON" "$HARNESS" syscalls "$WORK/strace.out" @system-service)
    rc=$?
    if ((rc == 0)); then ok "syscalls: every one ferry made is in @system-service"; else
        not_ok "syscalls: every one ferry made is in @system-service" "$out"; fi
    note "$(head -n 1 <<<"$out")"
}
syscalls_in_system_service

finish
