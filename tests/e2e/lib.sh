# tests/e2e/lib.sh: sourced by every end-to-end scenario (tests/e2e/*.sh). Needs root.
#
# Gives a scenario: unique names, network namespaces joined by veth pairs (documentation
# addresses only), background processes that are killed and namespaces that are deleted on
# exit (even on failure or Ctrl-C), the proxy under test ($PROXY_CMD, default "$FERRY mmproxy"),
# the test peer (tests/peer.py) and TAP-like output:
#   ok - NAME / not ok - NAME (details as "#" lines) / skip - NAME: reason
# `finish` exits 0 iff nothing failed.
#
# Environment: FERRY (default build/ferry), PROXY_CMD (e.g. go-mmproxy to validate the harness
# against the reference), PROXY_IS_FERRY (derived from PROXY_CMD), RUN_ALL=1 (also run the checks
# that are ferry-only against another proxy, to see them fail), KEEP_WORK=1 (keep the temp dir),
# FERRY_ROUTING=manual (add the policy routing by hand and pass -routing=false to ferry).

set -u

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$E2E_DIR/../.." && pwd)
PEER="$REPO_ROOT/tests/peer.py"
if [[ -z ${PYTHON:-} ]]; then
    if [[ -x /usr/bin/python3 ]]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
FERRY=${FERRY:-$REPO_ROOT/build/ferry}
[[ $FERRY == /* ]] || FERRY=$PWD/$FERRY
PROXY_CMD=${PROXY_CMD:-"$FERRY mmproxy"}
if [[ -z ${PROXY_IS_FERRY:-} ]]; then
    case "$PROXY_CMD" in
        *go-mmproxy*) PROXY_IS_FERRY=false ;;
        *ferry*) PROXY_IS_FERRY=true ;;
        *) PROXY_IS_FERRY=false ;;
    esac
fi
RUN_ALL=${RUN_ALL:-0}
E2E_NAME=$(basename "$0" .sh)

# Short unique id: interface names are "${E2E_ID}<n><side>" and must stay within 15 characters.
E2E_ID=$(printf 'f%04x%03x' $(( $$ & 0xffff )) $(( RANDOM & 0xfff )))
WORK=$(mktemp -d "/tmp/ferry-e2e-$E2E_NAME.XXXXXX")

E2E_PASS=0
E2E_FAIL=0
E2E_SKIP=0
E2E_NETNS=()          # namespaces we created (deleted on exit)
E2E_PIDS=()           # background processes we started (killed on exit)
E2E_PROXY_PIDS=()     # proxies still expected to be running
E2E_PROXY_LOGS=()     # every proxy log, checked for sanitizer reports at the end
E2E_LINKS=0
PROXY_N=0
PROXY_PID=
PROXY_LOG=
SERVER_LOG=
SERVER_PID=

# ------------------------------------------------------------------ output

ok() { echo "ok - $1"; E2E_PASS=$((E2E_PASS + 1)); }

# not_ok NAME [DETAILS...]: each detail line is printed as a "#" comment under the failure.
not_ok() {
    echo "not ok - $1"
    shift
    local d
    for d in "$@"; do
        [[ -n $d ]] && printf '%s\n' "$d" | sed 's/^/#   /'
    done
    E2E_FAIL=$((E2E_FAIL + 1))
}

skip() { echo "skip - $1: ${2:-skipped}"; E2E_SKIP=$((E2E_SKIP + 1)); }

note() { printf '# %s\n' "$*"; }

# check NAME cmd...: ok when cmd exits 0; otherwise not ok with cmd's output.
check() {
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if ((rc == 0)); then ok "$name"; else not_ok "$name" "command failed ($rc): $*" "$out"; fi
}

# check_eq NAME EXPECTED ACTUAL [CONTEXT...]
check_eq() {
    local name=$1 want=$2 got=$3
    shift 3
    if [[ $want == "$got" ]]; then ok "$name"; else not_ok "$name" "expected: $want" "got:      $got" "$@"; fi
}

# check_py NAME EXPR [JSON...]: EXPR is python evaluated with j0, j1, ... bound to the parsed JSON
# arguments (None when empty or invalid); ok when it is truthy.
check_py() {
    local name=$1 expr=$2
    shift 2
    local out
    if out=$("$PYTHON" - "$expr" "$@" 2>&1 <<'EOF'
import json, sys
expr, docs = sys.argv[1], sys.argv[2:]
env = {}
for i, d in enumerate(docs):
    try:
        env['j%d' % i] = json.loads(d) if d.strip() else None
    except ValueError:
        env['j%d' % i] = None
try:
    val = eval(expr, env)  # as globals, so comprehensions and lambdas in EXPR see j0, j1, ...
except Exception as e:
    print('evaluation error: %r' % e)
    sys.exit(1)
sys.exit(0 if val else 1)
EOF
    ); then
        ok "$name"
    else
        local ctx=() i=0 d
        for d in "$@"; do ctx+=("j$i = $d"); i=$((i + 1)); done
        not_ok "$name" "condition: $expr" "$out" "${ctx[@]}"
    fi
}

# ferry_only NAME REASON: true when a ferry-only check should run; otherwise prints a skip line.
ferry_only() {
    if $PROXY_IS_FERRY || [[ $RUN_ALL == 1 ]]; then return 0; fi
    skip "$1" "ferry-only (${2:-reference does not do this}); PROXY_CMD=$PROXY_CMD"
    return 1
}

# ------------------------------------------------------------------ cleanup

e2e_cleanup() {
    local pid ns i
    trap - EXIT INT TERM
    for pid in "${E2E_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for i in 1 2 3 4 5 6 7 8 9 10; do
        local alive=0
        for pid in "${E2E_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${E2E_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    for ns in "${E2E_NETNS[@]}"; do
        # Anything still inside one of our namespaces was started by this scenario.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    wait 2>/dev/null
    for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if ((E2E_FAIL > 0)) || [[ ${KEEP_WORK:-0} == 1 ]]; then
        note "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap e2e_cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT
trap 'echo "# terminated"; exit 143' TERM

# finish: final checks (proxies still alive, no sanitizer report), then exit 0 iff no failure.
# Proxies still running are stopped with SIGTERM first, so that reports written at exit (LeakSanitizer)
# reach their logs.
finish() {
    local pid log
    for pid in "${E2E_PROXY_PIDS[@]}"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null
            not_ok "proxy (pid $pid) still running at the end" "it exited with status $?"
        else
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    for pid in "${E2E_PROXY_PIDS[@]}"; do
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
    E2E_PROXY_PIDS=()
    for log in "${E2E_PROXY_LOGS[@]}"; do
        local bad='ERROR: (AddressSanitizer|LeakSanitizer)|WARNING: ThreadSanitizer|runtime error:|^panic:|SUMMARY: '
        if grep -qE "$bad" "$log" 2>/dev/null; then
            not_ok "no sanitizer report or panic in $(basename "$log")" \
                "$(grep -E -A20 'ERROR: |WARNING: ThreadSanitizer|runtime error:|^panic:' "$log" | head -40)"
        fi
    done
    if ((E2E_FAIL > 0)); then
        for log in "${E2E_PROXY_LOGS[@]}"; do
            note "last lines of $(basename "$log"):"
            tail -n 15 "$log" 2>/dev/null | sed 's/^/#   /'
        done
    fi
    note "$E2E_NAME: $E2E_PASS passed, $E2E_FAIL failed, $E2E_SKIP skipped"
    if ((E2E_FAIL > 0)); then exit 1; fi
    exit 0
}

# ------------------------------------------------------------------ preconditions

if [[ $(id -u) -ne 0 ]]; then
    echo "not ok - $E2E_NAME: needs root (network namespaces)"
    exit 1
fi
for tool in ip ss "$PYTHON"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "not ok - $E2E_NAME: missing tool $tool (run make deps)"
        exit 1
    fi
done
if $PROXY_IS_FERRY && [[ ! -x $FERRY ]]; then
    echo "not ok - $E2E_NAME: ferry binary $FERRY not found (run make)"
    exit 1
fi

# ------------------------------------------------------------------ namespaces and links

# Only documentation ranges (and loopback) may appear in a test topology.
e2e_addr_allowed() {
    case "$1" in
        192.0.2.*|198.51.100.*|203.0.113.*) return 0 ;;
        2001:db8:*|2001:DB8:*) return 0 ;;
    esac
    return 1
}

# ns_new VAR SUFFIX: create namespace "ferry-<id>-SUFFIX" with lo up; its name goes into VAR.
ns_new() {
    local var=$1 name="ferry-$E2E_ID-$2"
    ip netns add "$name" || { echo "not ok - $E2E_NAME: ip netns add $name failed"; exit 1; }
    E2E_NETNS+=("$name")
    ip -n "$name" link set lo up
    ip netns exec "$name" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    printf -v "$var" '%s' "$name"
}

# link_ns NS_A "ADDR/LEN ..." NS_B "ADDR/LEN ...": a veth pair between two namespaces.
link_ns() {
    local nsa=$1 addra=$2 nsb=$3 addrb=$4 a
    E2E_LINKS=$((E2E_LINKS + 1))
    local ia="${E2E_ID}${E2E_LINKS}a" ib="${E2E_ID}${E2E_LINKS}b"
    for a in $addra $addrb; do
        if ! e2e_addr_allowed "$a"; then
            echo "not ok - $E2E_NAME: refusing address $a outside the documentation ranges"
            exit 1
        fi
    done
    ip link add "$ia" netns "$nsa" type veth peer name "$ib" netns "$nsb" ||
        { echo "not ok - $E2E_NAME: veth $ia/$ib failed"; exit 1; }
    for a in $addra; do ip -n "$nsa" addr add "$a" dev "$ia" nodad 2>/dev/null || ip -n "$nsa" addr add "$a" dev "$ia"; done
    for a in $addrb; do ip -n "$nsb" addr add "$a" dev "$ib" nodad 2>/dev/null || ip -n "$nsb" addr add "$a" dev "$ib"; done
    ip -n "$nsa" link set "$ia" up
    ip -n "$nsb" link set "$ib" up
}

# in_ns NS cmd...: run in a namespace.
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# bg_ns NS NAME cmd...: start cmd in the background in NS (stdout/stderr to $WORK/NAME.out/.err);
# the pid goes into BG_PID and is killed on exit.
BG_PID=
bg_ns() {
    local ns=$1 name=$2
    shift 2
    ip netns exec "$ns" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    BG_PID=$!
    E2E_PIDS+=("$BG_PID")
}

# wait_tcp_listen NS PORT [TIMEOUT_S]: wait until something listens on TCP PORT in NS.
wait_tcp_listen() {
    local ns=$1 port=$2 timeout=${3:-5} i
    local n=$(( ${timeout%.*} * 20 ))
    for ((i = 0; i < n; i++)); do
        if [[ -n $(ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null) ]]; then return 0; fi
        sleep 0.05
    done
    return 1
}

# mm_routing NS: the go-mmproxy policy routing (replies to spoofed sources go back to lo).
mm_routing() {
    local ns=$1
    ip -n "$ns" rule add from 127.0.0.1/8 iif lo table 123
    ip -n "$ns" route add local 0.0.0.0/0 dev lo table 123
    ip -n "$ns" -6 rule add from ::1/128 iif lo table 123
    ip -n "$ns" -6 route add local ::/0 dev lo table 123
}

# mm_proxy_routing NS: what the proxy under test needs by hand (ferry adds it itself by default).
mm_proxy_routing() {
    if ! $PROXY_IS_FERRY || [[ ${FERRY_ROUTING:-auto} == manual ]]; then mm_routing "$1"; fi
}

# ------------------------------------------------------------------ peers

peer() { "$PYTHON" "$PEER" "$@"; }

# hdr v1|v2 ARGS...: a PROXY header as hex (see peer.py header --help).
hdr() { "$PYTHON" "$PEER" header "$@"; }

# start_server NS MODE LISTEN... [-- EXTRA peer args]: peer.py server; sets SERVER_LOG, SERVER_PID.
start_server() {
    local ns=$1 mode=$2
    shift 2
    local listens=() extra=() l
    while (($#)); do
        if [[ $1 == -- ]]; then shift; extra=("$@"); break; fi
        listens+=(--listen "$1")
        shift
    done
    SERVER_N=$(( ${SERVER_N:-0} + 1 ))
    SERVER_LOG=$WORK/server$SERVER_N.jsonl
    : >"$SERVER_LOG"
    bg_ns "$ns" "server$SERVER_N" "$PYTHON" "$PEER" server --mode "$mode" --log "$SERVER_LOG" "${listens[@]}" "${extra[@]}"
    SERVER_PID=$BG_PID
    for l in "${listens[@]}"; do
        [[ $l == --listen ]] && continue
        if ! wait_tcp_listen "$ns" "${l##*:}"; then
            echo "not ok - $E2E_NAME: test server on $l did not start"
            cat "$WORK/server$SERVER_N.err"
            exit 1
        fi
    done
}

# client NS ARGS...: run peer.py client in NS; prints its JSON result.
client() { local ns=$1; shift; ip netns exec "$ns" "$PYTHON" "$PEER" client "$@"; }

# server_conn PEER [LOG]: the server's JSON line for the connection from PEER (waits up to 5 s).
server_conn() { "$PYTHON" "$PEER" find --log "${2:-$SERVER_LOG}" --peer "$1" --timeout "${FIND_TIMEOUT:-5}" 2>/dev/null; }

# server_nth N [LOG]: the Nth connection line in the server log (waits up to 5 s).
server_nth() { "$PYTHON" "$PEER" find --log "${2:-$SERVER_LOG}" --nth "$1" --timeout "${FIND_TIMEOUT:-5}" 2>/dev/null; }

# log_lines FILE: number of non-empty lines.
log_lines() { grep -c . "$1" 2>/dev/null || true; }

# jget JSON KEY: one field of a JSON object ("null" when missing).
jget() { printf '%s' "$1" | "$PYTHON" "$PEER" get "$2"; }

# Unique spoofed source ports, so that no two connections share a 4-tuple (TIME_WAIT).
E2E_PORT=$(( 40000 + (RANDOM % 200) * 100 ))
next_port() { E2E_PORT=$((E2E_PORT + 1)); NEXT_PORT=$E2E_PORT; }

# ------------------------------------------------------------------ the proxy under test

# start_proxy NS ARGS...: start $PROXY_CMD ARGS in NS, stderr to a fresh log ($PROXY_LOG), pid in
# PROXY_PID; waits for the -l port (default 8443) to listen. Returns 1 (after a not ok) if it does not.
start_proxy() {
    local ns=$1
    shift
    local port=8443 prev= a
    for a in "$@"; do
        case "$prev" in -l|--l) port=${a##*:} ;; esac
        case "$a" in -l=*|--l=*) port=${a##*:} ;; esac
        prev=$a
    done
    local extra=()
    if $PROXY_IS_FERRY && [[ ${FERRY_ROUTING:-auto} == manual ]]; then extra=(-routing=false); fi
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    # shellcheck disable=SC2086  # PROXY_CMD is a command line
    ip netns exec "$ns" $PROXY_CMD "${extra[@]}" "$@" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    note "proxy $PROXY_N (pid $PROXY_PID): $PROXY_CMD ${extra[*]} $*"
    if ! wait_tcp_listen "$ns" "$port" 5; then
        not_ok "proxy listens on port $port" "$PROXY_CMD $*" "$(tail -n 20 "$PROXY_LOG")"
        return 1
    fi
    E2E_PROXY_PIDS+=("$PROXY_PID")
    return 0
}

# stop_proxy [PID]: SIGTERM the proxy (default the last one) and wait for it (SIGKILL after 5 s).
stop_proxy() {
    local pid=${1:-$PROXY_PID} i keep=()
    for i in "${E2E_PROXY_PIDS[@]}"; do [[ $i != "$pid" ]] && keep+=("$i"); done
    E2E_PROXY_PIDS=("${keep[@]}")
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        not_ok "proxy (pid $pid) still running when stopped" "it had exited with status $?"
        return 1
    fi
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# proxy_alive [PID]
proxy_alive() { kill -0 "${1:-$PROXY_PID}" 2>/dev/null; }

# log_find ARGS...: peer.py logfind --log $PROXY_LOG ARGS (e.g. --msg X --key error --remote A).
log_find() { "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" "$@"; }

# ------------------------------------------------------------------ mmproxy topology

# mm_topology: client namespace C (198.51.100.2, 2001:db8:1::2) joined to proxy namespace P
# (198.51.100.1, 2001:db8:1::1). Sets NS_C and NS_P and adds P's policy routing when needed.
C4=198.51.100.2
C6=2001:db8:1::2
P4=198.51.100.1
P6=2001:db8:1::1
SRV_PORT=9000
mm_topology() {
    ns_new NS_C c
    ns_new NS_P p
    link_ns "$NS_C" "$C4/24 $C6/64" "$NS_P" "$P4/24 $P6/64"
    mm_proxy_routing "$NS_P"
}

# expect_relay NAME CLIENT_JSON SERVER_JSON EXPECTED_PEER: the server saw EXPECTED_PEER and the
# bytes arrived intact both ways.
expect_relay() {
    local name=$1 c=$2 s=$3 want=$4
    if [[ -z $s ]]; then
        not_ok "$name: server got the connection" "no server log line for $want" "client: $c"
        return
    fi
    check_eq "$name: server sees the client address from the header" "$want" "$(jget "$s" peer)" "client: $c" "server: $s"
    check_py "$name: client->server bytes intact" \
        "j0['error'] is None and j0['sent'] > 0 and j0['sent'] == j1['bytes_in'] and j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
    check_py "$name: server->client bytes intact" \
        "j0['received'] > 0 and j0['received'] == j1['bytes_out'] and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
}

# closed_by_proxy_expr: python condition on a client result that the proxy closed the connection.
CLOSED_EXPR="(j0['closed_by_peer'] or j0['error'] in ('ECONNRESET', 'EPIPE')) and j0['received'] == 0"

# ------------------------------------------------------------------ moproxy topology
#
#   C (client apps)            R (router: ferry moproxy, the backend proxies)       S (destinations)
#   198.51.100.2               198.51.100.1 | 203.0.113.1 (+ .11 .12 .13 .14)        203.0.113.2
#   2001:db8:1::2      ----    2001:db8:1::1 | 2001:db8:2::1 (+ ::11 ...)    ----    2001:db8:2::2
#
# R forwards and REDIRECTs every TCP connection arriving from C to ferry on port $MO_PORT; the backend
# proxies on R's loopback bind their outgoing connections to their own address (.11, .12, ...), so the
# destination's log says which proxy carried a connection. S runs the destination servers and dnsmasq,
# which answers the probes' DNS-over-TCP queries.
MO_C4=198.51.100.2
MO_C6=2001:db8:1::2
MO_R4=198.51.100.1
MO_R6=2001:db8:1::1
MO_S4=203.0.113.2
MO_S6=2001:db8:2::2
MO_PORT=2080
MO_STATS=127.0.0.1:2099
mo_topology() {
    ns_new NS_C c
    ns_new NS_R r
    ns_new NS_S s
    link_ns "$NS_C" "$MO_C4/24 $MO_C6/64" "$NS_R" "$MO_R4/24 $MO_R6/64"
    MO_R_CSIDE="${E2E_ID}${E2E_LINKS}b"  # the link just made (the first one, unless the scenario made others)
    link_ns "$NS_R" "203.0.113.1/24 203.0.113.11/24 203.0.113.12/24 203.0.113.13/24 203.0.113.14/24 2001:db8:2::1/64 2001:db8:2::11/64 2001:db8:2::12/64 2001:db8:2::13/64" \
        "$NS_S" "$MO_S4/24 $MO_S6/64"
    ip -n "$NS_C" route add default via "$MO_R4"
    ip -n "$NS_C" -6 route add default via "$MO_R6"
    ip -n "$NS_S" route add default via 203.0.113.1
    ip -n "$NS_S" -6 route add default via 2001:db8:2::1
    in_ns "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    in_ns "$NS_R" iptables -t nat -A PREROUTING -i "$MO_R_CSIDE" -p tcp -j REDIRECT --to-ports "$MO_PORT"
    in_ns "$NS_R" ip6tables -t nat -A PREROUTING -i "$MO_R_CSIDE" -p tcp -j REDIRECT --to-ports "$MO_PORT"
}

# mo_dns: dnsmasq on S answering every name over UDP and TCP (the probes' query is for the root, type A).
mo_dns() {
    bg_ns "$NS_S" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
        --user=root --pid-file= --listen-address="$MO_S4" --bind-interfaces --port=53 \
        --address=/#/"$MO_S4" --log-facility=-
    wait_tcp_listen "$NS_S" 53 5 || { not_ok "dnsmasq listens on $MO_S4:53" "$(cat "$WORK/dnsmasq.err")"; finish; }
}

# mo_microsocks NAME PORT BIND_IP [microsocks args]: a SOCKS5 backend on R's 127.0.0.1:PORT whose outgoing
# connections come from BIND_IP. Its pid goes into BG_PID.
mo_microsocks() {
    local name=$1 port=$2 bind=$3
    shift 3
    bg_ns "$NS_R" "$name" microsocks -i 127.0.0.1 -p "$port" -b "$bind" "$@"
    wait_tcp_listen "$NS_R" "$port" 5 || { not_ok "microsocks $name listens" "$(cat "$WORK/$name.err")"; finish; }
}

# mo_delay NAME PORT TO MS: the tests' delaying relay on R's 127.0.0.1:PORT towards TO.
mo_delay() {
    local name=$1 port=$2 to=$3 ms=$4
    bg_ns "$NS_R" "$name" "$PYTHON" "$PEER" delay --listen "127.0.0.1:$port" --to "$to" --ms "$ms"
    wait_tcp_listen "$NS_R" "$port" 5 || { not_ok "delay relay $name listens" "$(cat "$WORK/$name.err")"; finish; }
}

# mo_tinyproxy NAME PORT BIND_IP [CONFIG LINES...]: an HTTP CONNECT backend on R's 127.0.0.1:PORT.
mo_tinyproxy() {
    local name=$1 port=$2 bind=$3 line
    shift 3
    {
        echo "Port $port"
        echo "Listen 127.0.0.1"
        echo "Bind $bind"
        echo "Timeout 60"
        echo "MaxClients 100"
        echo "Allow 127.0.0.1"
        echo "ConnectPort 80"
        echo "ConnectPort 443"
        echo "ConnectPort 9000"
        echo "ConnectPort 53"
        echo "LogLevel Info"
        for line in "$@"; do echo "$line"; done
    } >"$WORK/$name.conf"
    bg_ns "$NS_R" "$name" tinyproxy -d -c "$WORK/$name.conf"
    wait_tcp_listen "$NS_R" "$port" 5 || { not_ok "tinyproxy $name listens" "$(cat "$WORK/$name.err")"; finish; }
}

# mo_shadowsocks NAME LOCAL_PORT SERVER_PORT [ss-local args]: ss-server on S and ss-local on R's
# 127.0.0.1:LOCAL_PORT (SOCKS5 that accepts the pipelined variant). ss-server connects out from S itself.
mo_shadowsocks() {
    local name=$1 lport=$2 sport=$3
    shift 3
    bg_ns "$NS_S" "$name-server" ss-server -s "$MO_S4" -p "$sport" -k ferry-test -m chacha20-ietf-poly1305 --fast-open
    wait_tcp_listen "$NS_S" "$sport" 5 || { not_ok "ss-server $name listens" "$(cat "$WORK/$name-server.err")"; finish; }
    bg_ns "$NS_R" "$name" ss-local -s "$MO_S4" -p "$sport" -b 127.0.0.1 -l "$lport" -k ferry-test \
        -m chacha20-ietf-poly1305 "$@"
    wait_tcp_listen "$NS_R" "$lport" 5 || { not_ok "ss-local $name listens" "$(cat "$WORK/$name.err")"; finish; }
}

# start_moproxy ARGS...: ferry moproxy in R on $MO_PORT (R's addresses and loopback), status on $MO_STATS.
start_moproxy() {
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$NS_R" "$FERRY" moproxy -b "$MO_R4,$MO_R6,127.0.0.1" -p "$MO_PORT" --stats-bind "$MO_STATS" \
        --test-dns "$MO_S4:53" "$@" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    note "proxy $PROXY_N (pid $PROXY_PID): ferry moproxy $*"
    if ! wait_tcp_listen "$NS_R" "$MO_PORT" 5 || ! wait_tcp_listen "$NS_R" "${MO_STATS##*:}" 5; then
        not_ok "ferry moproxy listens on $MO_PORT and $MO_STATS" "$(tail -n 20 "$PROXY_LOG")"
        return 1
    fi
    E2E_PROXY_PIDS+=("$PROXY_PID")
}

# mo_status [PATH]: GET http://$MO_STATS/PATH (default status) from inside R.
mo_status() { in_ns "$NS_R" curl -sS --max-time 5 "http://$MO_STATS/${1:-status}"; }

# mo_wait_rank TAG TIMEOUT_S: wait until the status JSON ranks TAG first (and up).
mo_wait_rank() {
    local tag=$1 timeout=$2 i
    for ((i = 0; i < timeout * 5; i++)); do
        if mo_status | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); s=d['servers']; sys.exit(0 if s and s[0]['tag']=='$tag' and s[0]['up'] else 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    return 1
}

# mo_reload LIST TEXT: write TEXT (printf %b) to the server list LIST, SIGHUP ferry ($PROXY_PID), wait for the log
# line saying how the reload went, then a moment for the prober to take the new list on its own thread.
mo_reload() {
    printf '%b' "$2" >"$1"
    hup_and_wait '"msg":"(reloaded server list|reload failed, keeping the current server list)"'
    sleep 0.2
}

# mo_conn [BYTES]: one connection from C to the echo server on $MO_S4:80 (redirected, so through ferry), counted
# in MO_CONNS; MO_PEER: the address the destination saw it from, or "client error: ...". Call it outside $(...),
# or the count is lost.
MO_CONNS=0
mo_conn() {
    local n=${1:-1000} c
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes "$n" --seed "$RANDOM" --expect-bytes "$n" --timeout 10)
    MO_CONNS=$((MO_CONNS + 1))
    MO_PEER="client error: $c"
    [[ $(jget "$c" error) == null ]] || return
    MO_PEER=$(jget "$(server_nth "$MO_CONNS")" peer | sed -E 's/:[0-9]+$//')
}

# mo_socks5d NAME PORT BIND_IP [peer.py socks5d args]: the tests' own SOCKS5 server on R's 127.0.0.1:PORT
# (forwards half-close, which microsocks and ss-local do not).
mo_socks5d() {
    local name=$1 port=$2 bind=$3
    shift 3
    bg_ns "$NS_R" "$name" "$PYTHON" "$PEER" socks5d --listen "127.0.0.1:$port" --bind-out "$bind" "$@"
    wait_tcp_listen "$NS_R" "$port" 5 || { not_ok "socks5d $name listens" "$(cat "$WORK/$name.err")"; finish; }
}

# tcpext NS KEY: a TcpExt counter of /proc/net/netstat in NS.
tcpext() {
    in_ns "$1" awk -v k="$2" '/^TcpExt:/ { if (!n) { for (i = 1; i <= NF; i++) h[i] = $i; n = 1 } else { for (i = 1; i <= NF; i++) if (h[i] == k) print $i } }' /proc/net/netstat
}

# ------------------------------------------------------------------ srcproxy topology

# sp_topology: the srcproxy client side A and the server side B, joined by veth (A's end is named eth0, so
# the seed's `"local_addr": "192.0.2.2%eth0"` loads unchanged). A: 192.0.2.2/25, 2001:db8:1::2/64, the
# apps' own addresses on lo (SP_SRC4 and SP_SRC6 inside the seed ACL's prefixes, SP_OUT4/SP_OUT6 outside
# them), and nat OUTPUT REDIRECT rules: to 203.0.113.1 and 2001:db8:cc::1 -> :9001, 203.0.113.2 -> :9002,
# 203.0.113.3 -> :9003, 203.0.113.4 -> :9004. B: 192.0.2.1/25 (the seed's server listen address), 2001:db8:1::1/64, the
# destinations on lo (203.0.113.1-3, 198.51.100.1, 2001:db8:cc::1, 2001:db8:cccc::1), and the routes that
# make the apps' source ranges local for TCP (table 30, as the seed's README shows).
SP_A4=192.0.2.2
SP_B4=192.0.2.1
SP_A6=2001:db8:1::2
SP_B6=2001:db8:1::1
SP_SRC4=192.0.2.130
SP_SRC6=2001:db8:aaaa::abcd
SP_OUT4=198.51.100.77
SP_OUT6=2001:db8:bbbb::7
SP_DST4=203.0.113.1
SP_DST6=2001:db8:cc::1
sp_topology() {
    ns_new NS_A a
    ns_new NS_B b
    link_ns "$NS_A" "$SP_A4/25 $SP_A6/64" "$NS_B" "$SP_B4/25 $SP_B6/64"
    local ia="${E2E_ID}${E2E_LINKS}a" a
    ip -n "$NS_A" link set "$ia" down
    ip -n "$NS_A" link set "$ia" name eth0
    ip -n "$NS_A" link set eth0 up
    # Taking the link down dropped its IPv6 address.
    ip -n "$NS_A" addr replace "$SP_A6/64" dev eth0 nodad
    for a in "$SP_SRC4/32" "$SP_OUT4/32"; do ip -n "$NS_A" addr add "$a" dev lo; done
    for a in "$SP_SRC6/128" "$SP_OUT6/128"; do ip -n "$NS_A" addr add "$a" dev lo nodad; done
    ip -n "$NS_A" route add 203.0.113.0/24 via "$SP_B4"
    ip -n "$NS_A" route add 198.51.100.0/24 via "$SP_B4"
    ip -n "$NS_A" -6 route add 2001:db8:cc::/64 via "$SP_B6"
    ip -n "$NS_A" -6 route add 2001:db8:cccc::/64 via "$SP_B6"
    in_ns "$NS_A" iptables -t nat -A OUTPUT -p tcp -d 203.0.113.2 -j REDIRECT --to-ports 9002
    in_ns "$NS_A" iptables -t nat -A OUTPUT -p tcp -d 203.0.113.3 -j REDIRECT --to-ports 9003
    in_ns "$NS_A" iptables -t nat -A OUTPUT -p tcp -d 203.0.113.4 -j REDIRECT --to-ports 9004
    in_ns "$NS_A" iptables -t nat -A OUTPUT -p tcp -d "$SP_DST4" -j REDIRECT --to-ports 9001
    in_ns "$NS_A" ip6tables -t nat -A OUTPUT -p tcp -d "$SP_DST6" -j REDIRECT --to-ports 9001
    for a in 203.0.113.1/32 203.0.113.2/32 203.0.113.3/32 198.51.100.1/32; do ip -n "$NS_B" addr add "$a" dev lo; done
    for a in "$SP_DST6/128" 2001:db8:cccc::1/128; do ip -n "$NS_B" addr add "$a" dev lo nodad; done
    ip -n "$NS_B" route add local 192.0.2.128/25 dev lo table 30
    ip -n "$NS_B" route add local "$SP_OUT4/32" dev lo table 30
    ip -n "$NS_B" rule add to 192.0.2.128/25 ipproto tcp lookup 30 pref 30000
    ip -n "$NS_B" rule add to "$SP_OUT4/32" ipproto tcp lookup 30 pref 30001
    ip -n "$NS_B" -6 route add local 2001:db8:aaaa::/64 dev lo table 30
    ip -n "$NS_B" -6 route add local 2001:db8:bbbb::/64 dev lo table 30
    ip -n "$NS_B" -6 rule add to 2001:db8:aaaa::/64 ipproto tcp lookup 30 pref 30000
    ip -n "$NS_B" -6 rule add to 2001:db8:bbbb::/64 ipproto tcp lookup 30 pref 30001
}

# The seed's example configurations (../shared/seeds, srcproxy README), byte for byte.
sp_seed_server_config() {
    cat <<'JSON5'
{
  "listen": "192.0.2.1:21829", // The listen address for connection from clients, it is recommended to use a specific address instead of 0.0.0.0
  "acl": [  // (Optional) The ACL policy for restricting source addresses can be used by different clients.
    // An empty "acl" array would completely disable the ACL feature.
    {
      "auth": "613200f2-0af9-40e3-9dc2-a5d6f365db1b",  // The "auth" field in the client-side configuration, used to distinguish each client.
      "allowed_src_ips": [  // (Optional) Prefixes that this client can use as source addresses.
        "192.0.2.128/25",
        "2001:db8:aaaa::/64"
      ],
    },
    {
      "auth": "", // A blank "auth" is acceptable and will only match a blank "auth" field in the client configuration.
      "allowed_src_ips": [
        // An empty "allowed_src_ips" array is acceptable, and it will allow this client to use any address as a source address.
      ],
    },
  ],
  "timeout": "5m", // (Optional) Connect & idle timeout of each TCP connection, accepting strings such as "5m", "300s" and integer number (for seconds) as any other proxy tools do.
  "log_level": "info", // (Optional) Log level, accepting "info" and "error".
}
JSON5
}
sp_seed_client_config() {
    cat <<'JSON5'
{
  "inbound": {
    "mode": "redirect", // (Optional) Only supports iptables -j REDIRECT now.
    "listen": ":9001"  // The listen address for REDIRECT --to-port. Consider specifying just the port part, so it would listen for both IPv4 and IPv6.
  },
  "outbound": {
    "server": "192.0.2.1:21829",  // The address of the srcproxy server.
    "auth": "613200f2-0af9-40e3-9dc2-a5d6f365db1b", // (Optional) The auth credential for the ACL policy on the server side.
    "local_addr": "192.0.2.2%eth0", // (Optional) bind(2) to the specified source address/interface when connecting to the server.
    "fwmark": 0x1234,  // (Optional) Set the specified fwmark when connecting to the server.
  },
  "timeout": "5m", // (Optional) Connect & idle timeout of each TCP connection, accepting strings such as "5m", "300s" and integer number (for seconds) as any other proxy tools do.
  "log_level": "info", // (Optional) Log level, accepting "info" and "error".
}
JSON5
}

# start_srcproxy NS PORT client|server CONFIG_FILE: `$FERRY srcproxy ROLE CONFIG_FILE` in NS, like start_proxy
# (PROXY_LOG, PROXY_PID, checked at finish); waits for PORT to listen. SP_WRAP: a command prefix.
start_srcproxy() {
    local ns=$1 port=$2 role=$3 conf=$4
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    # shellcheck disable=SC2086  # SP_WRAP: a command prefix, e.g. "setpriv --bounding-set -net_admin"
    ip netns exec "$ns" ${SP_WRAP:-} "$FERRY" srcproxy "$role" "$conf" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    note "proxy $PROXY_N (pid $PROXY_PID): $FERRY srcproxy $role $conf"
    if ! wait_tcp_listen "$ns" "$port" 5; then
        not_ok "srcproxy $role listens on port $port" "$(tail -n 20 "$PROXY_LOG")"
        return 1
    fi
    E2E_PROXY_PIDS+=("$PROXY_PID")
    return 0
}

# re_escape TEXT: TEXT as a literal in an extended regular expression.
re_escape() { printf '%s' "$1" | sed -E 's/[][().*+?^$|\\{}]/\\&/g'; }

# sp_log_wait LOG REGEX [TIMEOUT_S]: wait for a line matching REGEX (grep -E) in LOG; prints it.
sp_log_wait() {
    local log=$1 re=$2 timeout=${3:-5} i
    for ((i = 0; i < timeout * 20; i++)); do
        if grep -E -m1 -- "$re" "$log" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# sp_header AUTH DST SRC: a srcproxy relay request as hex, as the reference client writes it: SHA-256 of the
# AUTH string ("" for blank), DST and SRC as "ip:port" / "[ip6]:port" (4 or 16 bytes each, by family).
sp_header() {
    "$PYTHON" - "$@" <<'PY'
import hashlib, ipaddress, sys
auth, dst, src = sys.argv[1:4]
def addr(t):
    host, port = t.rsplit(':', 1)
    ip = ipaddress.ip_address(host.strip('[]'))
    return bytes([len(ip.packed)]) + ip.packed + int(port).to_bytes(2, 'big')
d = hashlib.sha256(auth.encode()).digest()
print((bytes([1, 1, len(d)]) + d + addr(dst) + addr(src)).hex())
PY
}

# ------------------------------------------------------------------ tproxy topology

# tp_topology: client C (198.51.100.2, 2001:db8:1::2) - router R (198.51.100.1, 2001:db8:1::1 | 203.0.113.1,
# 2001:db8:2::1) - server S (203.0.113.2, 2001:db8:2::2). C and S route through R, which forwards, and
# intercepts TCP to and from ports 80-89 with the uproxy README's TPROXY rules (IPv4 and the same for IPv6):
# new flows from C to TPROXY on 127.0.0.1:9091 / [::1]:9091, and packets of the flows ferry holds (-m socket)
# marked and routed to the local table 100. TP_IN / TP_OUT: R's interfaces towards C and S. TP_NFT=1: the
# same rules with nftables.
TP_C4=198.51.100.2
TP_C6=2001:db8:1::2
TP_S4=203.0.113.2
TP_S6=2001:db8:2::2
tp_topology() {
    ns_new NS_C c
    ns_new NS_R r
    ns_new NS_S s
    link_ns "$NS_C" "$TP_C4/24 $TP_C6/64" "$NS_R" "198.51.100.1/24 2001:db8:1::1/64"
    TP_IN="${E2E_ID}${E2E_LINKS}b"
    link_ns "$NS_S" "$TP_S4/24 $TP_S6/64" "$NS_R" "203.0.113.1/24 2001:db8:2::1/64"
    TP_OUT="${E2E_ID}${E2E_LINKS}b"
    ip -n "$NS_C" route add default via 198.51.100.1
    ip -n "$NS_C" -6 route add default via 2001:db8:1::1
    ip -n "$NS_S" route add default via 203.0.113.1
    ip -n "$NS_S" -6 route add default via 2001:db8:2::1
    in_ns "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    if [[ ${TP_NFT:-0} == 1 ]]; then
        # The same with nftables (the README's recipe): one inet table for both families.
        in_ns "$NS_R" nft -f - <<NFT
table inet ferry_tproxy {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        iifname "$TP_IN" tcp dport 80-89 socket transparent 1 meta mark set 1 accept
        iifname "$TP_OUT" tcp sport 80-89 socket transparent 1 meta mark set 1 accept
        iifname "$TP_IN" meta nfproto ipv4 tcp dport 80-89 tproxy ip to 127.0.0.1:9091 meta mark set 1 accept
        iifname "$TP_IN" meta nfproto ipv6 tcp dport 80-89 tproxy ip6 to [::1]:9091 meta mark set 1 accept
        iifname "$TP_OUT" meta nfproto ipv4 tcp sport 80-89 tproxy ip to 127.0.0.1:9091 meta mark set 1 accept
        iifname "$TP_OUT" meta nfproto ipv6 tcp sport 80-89 tproxy ip6 to [::1]:9091 meta mark set 1 accept
    }
}
NFT
    fi
    local t on
    for t in iptables ip6tables; do
        [[ ${TP_NFT:-0} == 1 ]] && break
        [[ $t == iptables ]] && on=127.0.0.1 || on=::1
        in_ns "$NS_R" $t -t mangle -N DIVERT
        in_ns "$NS_R" $t -t mangle -A PREROUTING -i "$TP_IN" -p tcp -m socket --dport 80:89 -j DIVERT
        in_ns "$NS_R" $t -t mangle -A PREROUTING -i "$TP_OUT" -p tcp -m socket --sport 80:89 -j DIVERT
        in_ns "$NS_R" $t -t mangle -A DIVERT -j MARK --set-mark 1
        in_ns "$NS_R" $t -t mangle -A DIVERT -j ACCEPT
        in_ns "$NS_R" $t -t mangle -A PREROUTING -i "$TP_IN" -p tcp --dport 80:89 -j TPROXY --tproxy-mark 1 --on-port 9091 --on-ip $on
        in_ns "$NS_R" $t -t mangle -A PREROUTING -i "$TP_OUT" -p tcp --sport 80:89 -j TPROXY --tproxy-mark 1 --on-port 9091 --on-ip $on
    done
    ip -n "$NS_R" rule add fwmark 1 lookup 100
    ip -n "$NS_R" route add local 0.0.0.0/0 dev lo table 100
    ip -n "$NS_R" -6 rule add fwmark 1 lookup 100
    ip -n "$NS_R" -6 route add local ::/0 dev lo table 100
}

# start_tproxy NS ARGS...: `$FERRY tproxy ARGS` in NS (stdout, where it logs, to $PROXY_LOG; stderr to
# $PROXY_LOG.stderr, also checked for sanitizer reports); waits for port 9091.
start_tproxy() {
    local ns=$1
    shift
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$ns" "$FERRY" tproxy "$@" >"$PROXY_LOG" 2>"$PROXY_LOG.stderr" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG" "$PROXY_LOG.stderr")
    note "proxy $PROXY_N (pid $PROXY_PID): $FERRY tproxy $*"
    if ! wait_tcp_listen "$ns" 9091 5; then
        not_ok "ferry tproxy listens on port 9091" "$(tail -n 20 "$PROXY_LOG" "$PROXY_LOG.stderr")"
        return 1
    fi
    E2E_PROXY_PIDS+=("$PROXY_PID")
    return 0
}

# ------------------------------------------------------------------ ferry run

# start_run NS CONFIG_FILE PORT...: `$FERRY run CONFIG_FILE` in NS, like start_proxy (PROXY_LOG, PROXY_PID,
# checked at finish); waits for each PORT to listen. RUN_WRAP: a command prefix.
start_run() {
    local ns=$1 conf=$2 port
    shift 2
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    # shellcheck disable=SC2086  # RUN_WRAP: a command prefix
    ip netns exec "$ns" ${RUN_WRAP:-} "$FERRY" run "$conf" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    note "proxy $PROXY_N (pid $PROXY_PID): $FERRY run $conf"
    for port in "$@"; do
        if ! wait_tcp_listen "$ns" "$port" 5; then
            not_ok "ferry run listens on port $port" "$(tail -n 20 "$PROXY_LOG")"
            return 1
        fi
    done
    E2E_PROXY_PIDS+=("$PROXY_PID")
    return 0
}

# hup_and_wait REGEX: SIGHUP to $PROXY_PID, then wait (up to 5 s) for one more line of $PROXY_LOG matching
# REGEX (grep -E), the line that says how the reload went.
hup_and_wait() {
    local before i
    before=$(grep -c -E "$1" "$PROXY_LOG")
    kill -HUP "$PROXY_PID"
    for ((i = 0; i < 50; i++)); do
        (( $(grep -c -E "$1" "$PROXY_LOG") > before )) && return 0
        sleep 0.1
    done
    return 1
}

# log_count FILE MSG [KEY VALUE]: how many JSON lines of FILE have "msg":MSG (and KEY = VALUE).
log_count() {
    "$PYTHON" - "$@" <<'PY'
import json, sys
path, msg = sys.argv[1], sys.argv[2]
key, value = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else (None, None)
n = 0
for line in open(path, errors='replace'):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if isinstance(j, dict) and j.get('msg') == msg and (key is None or str(j.get(key)) == value):
        n += 1
print(n)
PY
}

# ------------------------------------------------------------------ zero-downtime restarts (takeover)

# forget PID: the process is meant to exit (it handed over): not a proxy that must still run at the end.
forget() {
    local pid=$1 i keep=()
    for i in "${E2E_PROXY_PIDS[@]}"; do [[ $i != "$pid" ]] && keep+=("$i"); done
    E2E_PROXY_PIDS=("${keep[@]}")
}

# exit_status PID TIMEOUT_S: waits for PID (a child of this shell) to exit; EXIT_STATUS is its status, or
# "running". Not in a $(...) subshell: only this shell can reap its children.
exit_status() {
    local pid=$1 timeout=$2 i
    EXIT_STATUS=running
    for ((i = 0; i < timeout * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid"
            EXIT_STATUS=$?
            return
        fi
        sleep 0.1
    done
}

# successor NS CMD...: starts CMD in NS as the next generation (PROXY_LOG, PROXY_PID), waits for it to say it
# took over (5 s). Returns 1 if it did not.
successor() {
    local ns=$1 i
    shift
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    ip netns exec "$ns" "$@" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG")
    E2E_PROXY_PIDS+=("$PROXY_PID")
    for ((i = 0; i < 50; i++)); do
        grep -q 'took over, the predecessor stopped accepting' "$PROXY_LOG" "$PROXY_LOG.stdout" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# load_start NS ARGS...: the load generator in the background (LOAD_OUT, LOAD_STOP, LOAD_PID).
load_start() {
    local ns=$1
    shift
    LOAD_N=$(( ${LOAD_N:-0} + 1 ))
    LOAD_OUT=$WORK/load$LOAD_N.json
    LOAD_STOP=$WORK/load$LOAD_N.stop
    ip netns exec "$ns" "$PYTHON" "$E2E_DIR/../takeover_load.py" --stop-file "$LOAD_STOP" --out "$LOAD_OUT" "$@" 2>"$WORK/load$LOAD_N.err" &
    LOAD_PID=$!
    E2E_PIDS+=("$LOAD_PID")
}

# load_stop NAME MIN_OK: stops the load generator and checks it had no failure and at least MIN_OK connections.
load_stop() {
    local name=$1 min=$2
    touch "$LOAD_STOP"
    wait "$LOAD_PID"
    local ok failed long_failed
    ok=$(jget "$(cat "$LOAD_OUT" 2>/dev/null)" ok)
    failed=$(jget "$(cat "$LOAD_OUT" 2>/dev/null)" failed)
    long_failed=$(jget "$(cat "$LOAD_OUT" 2>/dev/null)" long_failed)
    note "$name: $(cat "$LOAD_OUT" 2>/dev/null)"
    if [[ $failed == 0 && $long_failed == 0 && ${ok:-0} -ge $min ]]; then
        ok "$name: $ok connections, none failed"
    else
        not_ok "$name: no connection fails" "$(cat "$LOAD_OUT" 2>/dev/null)" "$(tail -n 5 "$WORK/load$LOAD_N.err")"
    fi
}

# tls_client_hello NAME: the hex of the ClientHello Python's ssl module (OpenSSL) sends for server_hostname NAME.
tls_client_hello() {
    "$PYTHON" -c '
import ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
i, o = ssl.MemoryBIO(), ssl.MemoryBIO()
s = ctx.wrap_bio(i, o, server_hostname=sys.argv[1])
try:
    s.do_handshake()
except ssl.SSLWantReadError:
    pass
print(o.read().hex())' "$1"
}
