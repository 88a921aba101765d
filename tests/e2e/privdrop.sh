#!/usr/bin/env bash
# Privilege drop (-user, --user, `user`): every mode started as root with the user nobody binds, then runs as
# nobody with exactly the capabilities it still needs, on every thread, and still works:
#  - /proc/PID/status and /proc/PID/task/*/status: Uid and Gid (all four fields) nobody's, CapPrm = CapEff = the
#    mode's set, CapBnd the same, CapInh and CapAmb empty, NoNewPrivs 1;
#  - mmproxy (CAP_NET_ADMIN + CAP_NET_BIND_SERVICE): spoofed TCP and UDP relays, some from a client port below
#    1024, its policy routing still removed at exit, and a zero-downtime restart between two ferries as nobody; tproxy (the same): the server sees the client's own address;
#    srcproxy server (the same) and client with a fwmark (CAP_NET_ADMIN): the destination sees the app's address;
#    moproxy (nothing) through a microsocks backend; `ferry run` (CAP_NET_BIND_SERVICE): a reload binds a new
#    listener on port 81 and warns that the user changes only with a restart;
#  - one "dropped privileges" line in each mode's log format; moproxy under systemd's notify protocol (the
#    watchdog from the dropped process, withheld while its prober is stopped);
#  - started as nobody with file capabilities (setcap cap_net_admin+ep on a copy of ferry): works as before, and
#    with -user nobody keeps CAP_NET_ADMIN and says what is missing; without any capability: the clear message
#    as before; -user root from there: refused;
#  - a user that does not exist: a clear error and exit 1 in every mode, before anything is bound or routed.
source "$(dirname "$0")/lib.sh"

for tool in setcap setpriv microsocks; do
    command -v "$tool" >/dev/null 2>&1 || { not_ok "tool $tool installed (tests/deps.sh)"; finish; }
done
chmod 755 "$WORK"  # nobody reads the copy of ferry and `ferry run`'s file (on reload) in here

NOBODY_UID=$(id -u nobody)
NOBODY_GID=$(id -g nobody)
# Capability masks as /proc/PID/status prints them.
MASK_NONE=0000000000000000
MASK_BIND=0000000000000400                # cap_net_bind_service
MASK_ADMIN=0000000000001000               # cap_net_admin
MASK_ADMIN_BIND=0000000000001400          # both

# status_field FILE KEY: the value of "KEY:" in a /proc status file, tabs as spaces.
status_field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$1" 2>/dev/null; }

# check_privileges NAME PID UID GID MASK BOUNDING: the process and each of its threads run as UID/GID (real,
# effective, saved, filesystem) with exactly MASK permitted and effective, BOUNDING as bounding set, nothing
# inheritable or ambient, and no_new_privs set. Also checks that it has more than one thread.
check_privileges() {
    local name=$1 pid=$2 uid=$3 gid=$4 mask=$5 bnd=$6 t got want bad=() n=0
    want="Uid=$uid $uid $uid $uid Gid=$gid $gid $gid $gid CapInh=$MASK_NONE CapPrm=$mask CapEff=$mask CapBnd=$bnd CapAmb=$MASK_NONE NoNewPrivs=1"
    for t in /proc/"$pid"/task/*/status; do
        n=$((n + 1))
        got="Uid=$(status_field "$t" Uid) Gid=$(status_field "$t" Gid) CapInh=$(status_field "$t" CapInh)"
        got+=" CapPrm=$(status_field "$t" CapPrm) CapEff=$(status_field "$t" CapEff) CapBnd=$(status_field "$t" CapBnd)"
        got+=" CapAmb=$(status_field "$t" CapAmb) NoNewPrivs=$(status_field "$t" NoNewPrivs)"
        [[ $got == "$want" ]] || bad+=("$t: $got")
    done
    if ((n < 2)); then
        not_ok "$name: the process has its loop threads" "threads: $n"
    elif ((${#bad[@]} == 0)); then
        ok "$name: all $n threads run as uid $uid gid $gid with CapPrm = CapEff = $mask, CapBnd = $bnd, no inheritable or ambient capability, no_new_privs"
    else
        not_ok "$name: every thread runs as uid $uid gid $gid with exactly $mask" "wanted: $want" "${bad[@]}"
    fi
}

# drop_ns NS...: end what runs in these namespaces and delete them (the next topology reuses their names).
drop_ns() {
    local ns pid
    for ns in "$@"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
}

# ------------------------------------------------------------------ mmproxy
mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
UDP_ECHO=$WORK/udpecho.jsonl
: >"$UDP_ECHO"
bg_ns "$NS_P" udpecho "$PYTHON" "$PEER" udpecho --listen "127.0.0.1:$SRV_PORT" --listen "[::1]:$SRV_PORT" --log "$UDP_ECHO"
start_proxy "$NS_P" -user nobody -p all -threads 2 -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" \
    -6 "[::1]:$SRV_PORT" || finish
check_privileges "mmproxy -user nobody" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_ADMIN_BIND" "$MASK_ADMIN_BIND"
check "mmproxy: one zap line says who it became and what it kept" log_find --msg "dropped privileges" \
    --field user=nobody --field uid="$NOBODY_UID" --field gid="$NOBODY_GID" \
    --field capabilities=cap_net_bind_service,cap_net_admin
mm_case() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v1 --src "$src" --dst "$dst")" \
        --send-bytes 100000 --seed "$RANDOM" --expect-bytes 100000 --timeout 10)
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}
next_port; mm_case "mmproxy after the drop, TCP4" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443"
next_port; mm_case "mmproxy after the drop, TCP6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443"
mm_case "mmproxy after the drop, a client port below 1024 (CAP_NET_BIND_SERVICE kept)" "$P4:8443" \
    "203.0.113.9:$(( 600 + RANDOM % 300 ))" "192.0.2.1:443"
# UDP: each flow's socket is bound to the client's address and port after the drop (53: a low port).
for src in "203.0.113.20:5353" "203.0.113.21:53" "[2001:db8:ff::20]:53"; do
    [[ $src == \[* ]] && dst="[2001:db8:ff::1]:53" fam=0x22 || dst="192.0.2.1:53" fam=0x12
    r=$(in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$P4:8443" --payload d --count 3 \
        --header-hex "$(hdr v2 --family "$fam" --src "$src" --dst "$dst")")
    n=$("$PYTHON" -c 'import json, sys; print(sum(1 for l in open(sys.argv[1]) if l.strip() and json.loads(l)["peer"] == sys.argv[2]))' \
        "$UDP_ECHO" "$src")
    check_py "mmproxy -p all after the drop, UDP from $src: echoed back, the echo saw the client's address" \
        "j0['replies'] == ['d-0', 'd-1', 'd-2'] and $n == 3" "$r"
done
check_eq "mmproxy: its policy routing is in place" "1 1" \
    "$(ip -n "$NS_P" rule show | grep -c 'lookup 123') $(ip -n "$NS_P" -6 rule show | grep -c 'lookup 123')"
stop_proxy
check_eq "mmproxy as nobody: its policy routing is removed at exit (CAP_NET_ADMIN kept)" "0 0" \
    "$(ip -n "$NS_P" rule show | grep -c 'lookup 123') $(ip -n "$NS_P" -6 rule show | grep -c 'lookup 123')"
check "mmproxy as nobody: the log says the routing was removed" log_find --msg "removed routing"
if grep -q '"msg":"failed to remove routing"' "$PROXY_LOG"; then
    not_ok "mmproxy as nobody: no routing removal failed" "$(grep 'failed to remove' "$PROXY_LOG")"
else ok "mmproxy as nobody: no routing removal failed"; fi

# A zero-downtime restart between two ferries that dropped to nobody: the socket is made as root before the drop,
# the successor (started as root) takes the sockets and the routing, drops its own privileges, and removes the
# routing at its exit.
MM_TK=(-user nobody -threads 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT"
    -takeover-socket "$WORK/mm.takeover")
start_proxy "$NS_P" "${MM_TK[@]}" || finish
old=$PROXY_PID
check_eq "takeover: the socket was made as root, mode 0600, before the drop" "0 600" \
    "$(stat -c '%u %a' "$WORK/mm.takeover" 2>&1)"
if successor "$NS_P" "$FERRY" mmproxy "${MM_TK[@]}"; then
    ok "takeover: a successor took over from a ferry running as nobody"
else not_ok "takeover: a successor took over from a ferry running as nobody" "$(tail -n 5 "$PROXY_LOG")"; fi
forget "$old"
exit_status "$old" 5
check_eq "takeover: the predecessor (nobody) exits 0" "0" "$EXIT_STATUS"
check_privileges "takeover: the successor" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_ADMIN_BIND" \
    "$MASK_ADMIN_BIND"
check "takeover: the successor took the routing over" log_find --msg "routing taken over"
next_port; mm_case "takeover: the successor relays" "$P4:8443" "203.0.113.12:$NEXT_PORT" "192.0.2.1:443"
stop_proxy
check_eq "takeover: the successor (nobody) removes the routing at exit" "0 0" \
    "$(ip -n "$NS_P" rule show | grep -c 'lookup 123') $(ip -n "$NS_P" -6 rule show | grep -c 'lookup 123')"

# A user that does not exist: exit 1 and a fatal line before anything is bound or routed.
ip netns exec "$NS_P" "$FERRY" mmproxy -l 0.0.0.0:8444 -user no-such-user-ferry >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
check_eq "mmproxy -user no-such-user: exit 1" 1 "$rc"
check_py "mmproxy -user no-such-user: one fatal zap line names the user" \
    "j0 is not None and j0['level'] == 'fatal' and j0['msg'] == 'cannot use -user' and j0['user'] == 'no-such-user-ferry' and j0['error'] == 'no such user \"no-such-user-ferry\"'" \
    "$(head -n 1 "$WORK/bad.err")"
check_eq "mmproxy -user no-such-user: nothing listened, no routing added" "1 0" \
    "$(wc -l <"$WORK/bad.err") $(ip -n "$NS_P" rule show | grep -c 'lookup 123')"
ip netns exec "$NS_P" "$FERRY" mmproxy -user "nobody:" >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
check_py "mmproxy -user nobody: (no group): exit 1, the reason" \
    "$rc == 1 and j0['msg'] == '-user \"nobody:\": no group after \\':\\'' and j0['user'] == 'nobody:'" \
    "$(head -n 1 "$WORK/bad.err")"

# ------------------------------------------------------------------ file capabilities, started as nobody
# A copy of ferry with cap_net_admin+ep, run as nobody: mmproxy works as it does today.
mkdir -p "$WORK/fcap"
cp "$FERRY" "$WORK/fcap/ferry"
cp "$FERRY" "$WORK/fcap/ferry-nocap"
chmod 755 "$WORK/fcap" "$WORK/fcap/ferry" "$WORK/fcap/ferry-nocap"
setcap cap_net_admin+ep "$WORK/fcap/ferry"
AS_NOBODY="setpriv --reuid=$NOBODY_UID --regid=$NOBODY_GID --clear-groups"
SAVED_PROXY_CMD=$PROXY_CMD
PROXY_CMD="$AS_NOBODY $WORK/fcap/ferry mmproxy"
start_proxy "$NS_P" -threads 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
next_port; mm_case "file capabilities, no -user: mmproxy relays as today" "$P4:8443" "203.0.113.10:$NEXT_PORT" \
    "192.0.2.1:443"
check_eq "file capabilities, no -user: CapEff is the file's (unchanged)" "$MASK_ADMIN" \
    "$(status_field "/proc/$PROXY_PID/status" CapEff)"
stop_proxy

start_proxy "$NS_P" -user nobody -threads 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" ||
    finish
check_privileges "file capabilities, -user nobody (already nobody)" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" \
    "$MASK_ADMIN" "$(status_field "/proc/$PROXY_PID/status" CapBnd)"
check "file capabilities, -user nobody: the missing CAP_NET_BIND_SERVICE is said, once, with what it is for" \
    log_find --msg "capability missing" --field capability=cap_net_bind_service \
    --field "neededFor=binding a client's source port below 1024"
check_eq "file capabilities, -user nobody: one missing line only" 1 "$(grep -c '"msg":"capability missing"' "$PROXY_LOG")"
check "file capabilities, -user nobody: dropped, keeping cap_net_admin" log_find --msg "dropped privileges" \
    --field user=nobody --field capabilities=cap_net_admin
next_port; mm_case "file capabilities, -user nobody: mmproxy relays" "$P4:8443" "203.0.113.11:$NEXT_PORT" \
    "192.0.2.1:443"
stop_proxy
check_eq "file capabilities, -user nobody: its routing is removed at exit" "0" \
    "$(ip -n "$NS_P" rule show | grep -c 'lookup 123')"

# As nobody, -user root: the switch needs CAP_SETUID, which the process does not have.
ip netns exec "$NS_P" $AS_NOBODY "$WORK/fcap/ferry" mmproxy -user root -l 0.0.0.0:8445 \
    -4 "127.0.0.1:$SRV_PORT" >"$WORK/su.out" 2>"$WORK/su.err"
rc=$?
check_eq "file capabilities, -user root: exit 1" 1 "$rc"
if grep -q '"msg":"failed to drop privileges".*needs CAP_SETUID and CAP_SETGID' "$WORK/su.err"; then
    ok "file capabilities, -user root: refused, naming CAP_SETUID and CAP_SETGID"
else not_ok "file capabilities, -user root: refused, naming CAP_SETUID and CAP_SETGID" "$(cat "$WORK/su.err")"; fi
check_eq "file capabilities, -user root: its routing is removed all the same" "0" \
    "$(ip -n "$NS_P" rule show | grep -c 'lookup 123')"

# No capability at all: the clear message mmproxy gives today, with or without -user.
for extra in "" "-user nobody"; do
    # shellcheck disable=SC2086  # extra: zero or two words
    ip netns exec "$NS_P" $AS_NOBODY "$WORK/fcap/ferry-nocap" mmproxy $extra -l 0.0.0.0:8446 >"$WORK/nc.out" 2>"$WORK/nc.err"
    rc=$?
    check_py "no capability${extra:+, $extra}: exit 1, \"cannot spoof client addresses\" naming CAP_NET_ADMIN" \
        "$rc == 1 and j0['msg'] == 'cannot spoof client addresses' and 'needs CAP_NET_ADMIN' in j0['error']" \
        "$(head -n 1 "$WORK/nc.err")"
done
PROXY_CMD=$SAVED_PROXY_CMD
drop_ns "$NS_C" "$NS_P"

# ------------------------------------------------------------------ tproxy
tp_topology
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80"
TP_ECHO=$SERVER_LOG
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -threads 2 -user nobody || finish
check_privileges "tproxy -user nobody" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_ADMIN_BIND" "$MASK_ADMIN_BIND"
if sp_log_wait "$PROXY_LOG" "^time=[^ ]+ level=INFO msg=\"dropped privileges\" user=nobody uid=$NOBODY_UID gid=$NOBODY_GID capabilities=cap_net_bind_service,cap_net_admin\$" >/dev/null; then
    ok "tproxy: one slog line says who it became and what it kept"
else not_ok "tproxy: one slog line says who it became and what it kept" "$(head -n 8 "$PROXY_LOG")"; fi
for dst in "$TP_S4:80" "[$TP_S6]:80"; do
    c=$(client "$NS_C" --connect "$dst" --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$TP_ECHO")
    check_py "tproxy after the drop, $dst: the server saw the client's own address, bytes intact" \
        "j1 is not None and j0['error'] is None and j1['bytes_in'] == j0['sent'] == 200000 and j0['received'] == 200000 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
done
stop_proxy
ip netns exec "$NS_R" "$FERRY" tproxy -user no-such-user-ferry >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
if ((rc == 1)) && grep -qE '^time=[^ ]+ level=ERROR msg="cannot use -user" user=no-such-user-ferry error="no such user \\"no-such-user-ferry\\""$' "$WORK/bad.out" &&
    ! grep -q 'msg=bound' "$WORK/bad.out"; then
    ok "tproxy -user no-such-user: exit 1 and a clear line before binding"
else not_ok "tproxy -user no-such-user: exit 1 and a clear line before binding" "rc=$rc" "$(cat "$WORK/bad.out" "$WORK/bad.err")"; fi
drop_ns "$NS_C" "$NS_R" "$NS_S"

# ------------------------------------------------------------------ srcproxy, both halves
sp_topology
start_server "$NS_B" echo "0.0.0.0:80" "[::]:80"
SP_ECHO=$SERVER_LOG
sp_seed_server_config | sed 's|^{|{ user: "nobody",|' >"$WORK/server.json"
sp_seed_client_config | sed 's|^{|{ "user": "nobody",|' >"$WORK/client.json"
start_srcproxy "$NS_B" 21829 server "$WORK/server.json" || finish
SP_SERVER_PID=$PROXY_PID
SP_SERVER_LOG=$PROXY_LOG
start_srcproxy "$NS_A" 9001 client "$WORK/client.json" || finish
check_privileges "srcproxy server, user nobody" "$SP_SERVER_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_ADMIN_BIND" \
    "$MASK_ADMIN_BIND"
check_privileges "srcproxy client with a fwmark, user nobody" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_ADMIN" \
    "$MASK_ADMIN"
TS='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '
for who in "server:$SP_SERVER_LOG:cap_net_bind_service,cap_net_admin" "client:$PROXY_LOG:cap_net_admin"; do
    IFS=: read -r role log caps <<<"$who"
    if sp_log_wait "$log" "$TS\[info\] dropped privileges user=nobody uid=$NOBODY_UID gid=$NOBODY_GID capabilities=$caps\$" >/dev/null; then
        ok "srcproxy $role: one Go log line says who it became and what it kept"
    else not_ok "srcproxy $role: one Go log line says who it became and what it kept" "$(head -n 5 "$log")"; fi
done
in_ns "$NS_A" iptables -t mangle -A OUTPUT -p tcp -d "$SP_B4" --dport 21829 -m mark --mark 0x1234 -j ACCEPT
for pair in "$SP_SRC4:$((E2E_PORT + 11)) $SP_DST4:80" "[$SP_SRC6]:$((E2E_PORT + 12)) [$SP_DST6]:80"; do
    read -r src dst <<<"$pair"
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 20)
    s=$(server_conn "$src" "$SP_ECHO")
    check_py "srcproxy after the drop, $src -> $dst: the destination saw the app's own address, bytes intact" \
        "j1 is not None and j0['error'] is None and j1['bytes_in'] == j0['sent'] == 200000 and j0['received'] == 200000 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
done
marked=$(in_ns "$NS_A" iptables -t mangle -L OUTPUT -v -n -x | awk '/mark match 0x1234/ {print $1}')
check_py "srcproxy client as nobody: its server connections still carry the fwmark" "${marked:-0} > 0" ""
stop_proxy
stop_proxy "$SP_SERVER_PID"
printf '{ listen: "%s:21830",\n  user: "no-such-user-ferry" }\n' "$SP_B4" >"$WORK/bad.json"
ip netns exec "$NS_B" "$FERRY" srcproxy server "$WORK/bad.json" >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
if ((rc == 1)) && grep -qE "$TS\[fatal\] $(re_escape "$WORK/bad.json"):2: key \"user\": no such user \"no-such-user-ferry\"\$" "$WORK/bad.err"; then
    ok "srcproxy user no-such-user: exit 1, the file, line and key"
else not_ok "srcproxy user no-such-user: exit 1, the file, line and key" "rc=$rc" "$(cat "$WORK/bad.err")"; fi

# ------------------------------------------------------------------ moproxy
mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
MO_ECHO=$SERVER_LOG
mo_microsocks socks 1081 203.0.113.11
start_moproxy -s 127.0.0.1:1081 --probe 1 --max-wait 2 --threads 2 --user nobody || finish
check_privileges "moproxy --user nobody (with its prober thread)" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" \
    "$MASK_NONE" "$MASK_NONE"
check "moproxy: one zap line says who it became, keeping nothing" log_find --msg "dropped privileges" \
    --field user=nobody --field capabilities=none
c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 20)
s=$(server_nth 1 "$MO_ECHO")
check_py "moproxy after the drop: relayed through microsocks, bytes intact" \
    "j1 is not None and j0['error'] is None and j1['peer'].startswith('203.0.113.11:') and j1['bytes_in'] == j0['sent'] == 200000 and j0['received'] == 200000" "$c" "$s"
if mo_wait_rank 127.0.0.1:1081 10; then ok "moproxy after the drop: the prober still ranks the backend"
else not_ok "moproxy after the drop: the prober still ranks the backend" "$(mo_status)"; fi
stop_proxy
# Under systemd (tests/sd_harness.py plays it): READY=1, WATCHDOG=1 in rhythm from the dropped process, withheld
# while its prober thread is stopped, STOPPING=1 and exit 0.
while IFS= read -r line; do
    case "$line" in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) not_ok "${line#not ok - }" ;;
        *) printf '%s\n' "$line" ;;
    esac
done < <(ip netns exec "$NS_R" "$PYTHON" "$REPO_ROOT/tests/sd_harness.py" run --name "moproxy --user nobody" \
    --notify "$WORK/notify.sock" --log "$WORK/sd-moproxy.log" --connect 127.0.0.1:2082 --stall ferry-prober \
    -- "$FERRY" moproxy -b 127.0.0.1 -p 2082 -s 127.0.0.1:1081 --test-dns "$MO_S4:53" --threads 2 --user nobody 2>&1)
ip netns exec "$NS_R" "$FERRY" moproxy -p 2081 -s 1081 --user no-such-user-ferry >"$WORK/bad.out" 2>"$WORK/bad.err"
rc=$?
check_py "moproxy --user no-such-user: exit 1, a fatal line naming it" \
    "$rc == 1 and j0['msg'] == 'bad configuration' and j0['error'] == '--user no-such-user-ferry: no such user \"no-such-user-ferry\"'" \
    "$(head -n 1 "$WORK/bad.err")"

# ------------------------------------------------------------------ ferry run
start_server "$NS_S" echo "$MO_S4:90"
RUN_ECHO=$SERVER_LOG
cat >"$WORK/run.ini" <<INI
[ferry]
user = nobody
threads = 2
[listener a]
listen = 127.0.0.1:7001
inbound = plain
target = $MO_S4:90
INI
chmod 644 "$WORK/run.ini"
start_run "$NS_R" "$WORK/run.ini" 7001 || finish
check_privileges "ferry run, user = nobody" "$PROXY_PID" "$NOBODY_UID" "$NOBODY_GID" "$MASK_BIND" "$MASK_BIND"
check "ferry run: one JSON line says who it became and what it kept" log_find --msg "dropped privileges" \
    --field user=nobody --field capabilities=cap_net_bind_service
c=$(client "$NS_R" --connect 127.0.0.1:7001 --send-bytes 100000 --seed "$RANDOM" --expect-bytes 100000 --timeout 10)
check_py "ferry run after the drop: relayed" "j0['error'] is None and j0['received'] == 100000" "$c"
# A reload, as nobody: a new listener on a low port (CAP_NET_BIND_SERVICE kept for this), a new user ignored.
cat >"$WORK/run.ini" <<INI
[ferry]
user = root
threads = 2
[listener a]
listen = 127.0.0.1:7001
inbound = plain
target = $MO_S4:90
[listener low]
listen = 127.0.0.1:81
inbound = plain
target = $MO_S4:90
INI
kill -HUP "$PROXY_PID"
if wait_tcp_listen "$NS_R" 81 5; then ok "ferry run as nobody: a reload binds a new listener on port 81"
else not_ok "ferry run as nobody: a reload binds a new listener on port 81" "$(tail -n 5 "$PROXY_LOG")"; fi
check "ferry run: the reload says the user changes only with a restart" log_find \
    --msg "the user changes only with a restart"
c=$(client "$NS_R" --connect 127.0.0.1:81 --send-bytes 1000 --seed "$RANDOM" --expect-bytes 1000 --timeout 10)
check_py "ferry run: the new low-port listener relays" "j0['error'] is None and j0['received'] == 1000" "$c"
check_eq "ferry run: still nobody after the reload" "$NOBODY_UID" "$(status_field "/proc/$PROXY_PID/status" Uid | awk '{print $1}')"
stop_proxy
printf '[ferry]\nthreads = 1\nuser = no-such-user-ferry\n[listener a]\nlisten = 127.0.0.1:7002\ninbound = plain\ntarget = 192.0.2.1:80\n' \
    >"$WORK/bad.ini"
out=$(ip netns exec "$NS_R" "$FERRY" run "$WORK/bad.ini" 2>&1)
rc=$?
check_eq "ferry run user = no-such-user: exit 1, FILE:LINE: key" \
    "1 $WORK/bad.ini:3: key \"user\": no such user \"no-such-user-ferry\"" "$rc ${out#*: }"
out=$(ip netns exec "$NS_R" "$FERRY" run --check "$WORK/bad.ini" 2>&1)
check_eq "ferry run --check finds it too" "$WORK/bad.ini:3: key \"user\": no such user \"no-such-user-ferry\"" \
    "${out#*: }"

finish
