#!/usr/bin/env bash
# bench/run.sh: `make bench`. Measures ferry against go-mmproxy, HAProxy and no proxy at all (mmproxy mode; the
# udp workload: mmproxy -p udp against go-mmproxy -p udp and no proxy), ferry moproxy against redsocks through
# one dante SOCKS5 backend (moproxy mode), in a private network namespace
# that has only `lo`, and the ferry srcproxy client/server pair against HAProxy + go-mmproxy (srcproxy mode,
# across a veth to a second namespace), and writes docs/benchmarks.md + docs/benchmarks.png (full runs) and
# build/bench/results.jsonl. Needs root. See bench/README.md for the workloads and every BENCH_* knob.
#
# For each workload, for each round, for each subject (rounds interleaved: A B C A B C ...): start the subject
# fresh, wait for its listener, run bench/loadgen through bench/harness.py (which samples /proc), stop the
# subject. Then bench/harness.py report: medians, ratios, the targets (issue 3, moproxy and srcproxy modes), the page
# and the chart.
#
# Exit status: 0 when every run produced numbers (whatever they are: benchmarks are never pass/fail);
# 1 when the harness itself broke (a subject did not start, the load generator crashed, a tool is missing).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
REPO_ROOT=$PWD
BUILD=${BUILD:-build}
[[ $BUILD == /* ]] && BUILD_DIR=$BUILD || BUILD_DIR=$REPO_ROOT/$BUILD
FERRY=$BUILD_DIR/ferry
LOADGEN=$BUILD_DIR/bench/loadgen
ECHO_BIN=$BUILD_DIR/bench/echo
UDPECHO_BIN=$BUILD_DIR/bench/udpecho
HARNESS=$REPO_ROOT/bench/harness.py
PYTHON=/usr/bin/python3
[[ -x $PYTHON ]] || PYTHON=python3
OUT=$BUILD_DIR/bench
LOGS=$OUT/logs
RESULTS=$OUT/results.jsonl
META=$OUT/meta.json

# ------------------------------------------------------------------------------------------------ knobs
NPROC=$(nproc)
ALL_CPUS="0-$((NPROC - 1))"
QUICK=${BENCH_QUICK:-0}
# Each workload runs the subjects of its mode (subject_mode, workload_mode); direct runs in all.
SUBJECTS=${BENCH_SUBJECTS:-"ferry-1 ferry go-mmproxy haproxy ferry-moproxy-1 ferry-moproxy redsocks ferry-srcproxy haproxy-mmproxy direct"}
WORKLOADS=${BENCH_WORKLOADS:-"stream bulk churn latency idle udp moproxy-stream moproxy-churn srcproxy-stream srcproxy-churn"}
if [[ $QUICK == 1 ]]; then
    ROUNDS=${BENCH_ROUNDS:-1}
    DURATION=${BENCH_DURATION:-2}
    WARMUP=${BENCH_WARMUP:-1}
    IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-2000}
else
    ROUNDS=${BENCH_ROUNDS:-3}
    DURATION=${BENCH_DURATION:-5}
    WARMUP=${BENCH_WARMUP:-1}
    IDLE_CONNECTIONS=${BENCH_IDLE_CONNECTIONS:-9000}
fi
CONNECTIONS=${BENCH_CONNECTIONS:-50}             # stream and bulk
MESSAGE=${BENCH_MESSAGE:-'PING\r\n'}             # stream message (loadgen expands \r \n \t \\)
HEADER=${BENCH_HEADER:-v1}                       # PROXY header version for every proxied workload
BULK_SIZE=${BENCH_BULK_SIZE:-65536}
CHURN_WORKERS=${BENCH_CHURN_WORKERS:-50}
CHURN_SIZE=${BENCH_CHURN_SIZE:-64}
LATENCY_CONNECTIONS=${BENCH_LATENCY_CONNECTIONS:-50}
LATENCY_RATE=${BENCH_LATENCY_RATE:-5000}
LATENCY_SIZE=${BENCH_LATENCY_SIZE:-64}
# A p99 over 25,000 requests moves with a single 50 ms stall of this shared host: more rounds for latency.
if [[ $QUICK == 1 || -n ${BENCH_ROUNDS:-} ]]; then
    LATENCY_ROUNDS=${BENCH_LATENCY_ROUNDS:-$ROUNDS}
else
    LATENCY_ROUNDS=${BENCH_LATENCY_ROUNDS:-5}
fi
IDLE_HOLD=${BENCH_IDLE_HOLD:-2}
UDP_SOCKETS=${BENCH_UDP_SOCKETS:-32}             # udp: client sockets, each its own client address (one flow each)
UDP_WINDOW=${BENCH_UDP_WINDOW:-8}                # udp: datagrams in flight per socket
UDP_SIZE=${BENCH_UDP_SIZE:-512}                  # udp: payload bytes per datagram (after the PROXY v2 header)
UDP_TIMEOUT_MS=${BENCH_UDP_TIMEOUT_MS:-200}      # udp: a datagram unanswered this long is counted lost
LOADGEN_THREADS=${BENCH_LOADGEN_THREADS:-}       # empty: the loadgen's default
ECHO_THREADS=${BENCH_ECHO_THREADS:-}             # empty: the echo's default
HAPROXY_THREADS=${BENCH_HAPROXY_THREADS:-2}
HAPROXY_SPLICE=${BENCH_HAPROXY_SPLICE:-always}   # always: splice-request + splice-response; auto: splice-auto
CPUS_SUBJECT=${BENCH_CPUS_SUBJECT:-${BENCH_CPUS:-$ALL_CPUS}}
CPUS_ECHO=${BENCH_CPUS_ECHO:-${BENCH_CPUS:-$ALL_CPUS}}
CPUS_LOADGEN=${BENCH_CPUS_LOADGEN:-${BENCH_CPUS:-$ALL_CPUS}}
CPUS_BACKEND=${BENCH_CPUS_BACKEND:-${BENCH_CPUS:-$ALL_CPUS}}   # dante, the moproxy workloads' SOCKS5 backend
# moproxy and srcproxy workloads: the load generator runs as this uid (no account needed), and only its connections
# to the echo are REDIRECTed to the subject (-m owner), so the backend's own connections to the echo are not.
LOADGEN_UID=${BENCH_LOADGEN_UID:-64123}
MAX_LOAD=${BENCH_MAX_LOAD:-1.5}                  # wait (up to 2 min) for the 1-minute load to drop below this
LISTEN_PORT=1122
ECHO_PORT=2000
DANTE_PORT=1080
# srcproxy workloads: the client side is the namespace above (A); the server side is a second namespace (B), joined
# to A by a veth pair (A SP_A/24, B SP_B/24). SP_DST is on `lo` in both: the load generator (bound to 127.0.0.1)
# connects to SP_DST:$ECHO_PORT, which is local in A, so the REDIRECT rule catches it (the srcproxy client refuses a
# loopback original destination, hence not 127.0.0.1); in B both that source and SP_DST are local, so the server
# half connects from 127.0.0.1:PORT to the echo on SP_DST:$ECHO_PORT with no routing of its own.
SP_A=192.0.2.2
SP_B=192.0.2.1
SP_DST=203.0.113.1
SP_SRC=127.0.0.1
SRCPROXY_PORT=21829                              # the server half's listener in B (SP_B)
FULL_RUN=0
if [[ $QUICK != 1 && -z ${BENCH_SUBJECTS:-} && -z ${BENCH_WORKLOADS:-} && -z ${BENCH_ROUNDS:-} && -z ${BENCH_DURATION:-} &&
    -z ${BENCH_LATENCY_ROUNDS:-} ]]; then
    FULL_RUN=1
fi
# Full runs write the committed page; anything else (quick, subsets, other durations) stays in build/bench.
if [[ -n ${BENCH_DOCS:-} ]]; then
    DOCS_DIR=$BENCH_DOCS
elif ((FULL_RUN)); then
    DOCS_DIR=$REPO_ROOT/docs
else
    DOCS_DIR=$OUT
fi

say() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ------------------------------------------------------------------------------------------------ checks
[[ $(id -u) -eq 0 ]] || die "needs root (network namespaces, IP_TRANSPARENT)"
# subject_mode NAME / workload_mode NAME: mmproxy, moproxy or srcproxy (direct: all). A workload runs the subjects
# of its mode only.
subject_mode() {
    case $1 in
        ferry-moproxy-1|ferry-moproxy|redsocks|redsocks-splice) echo moproxy ;;
        ferry-srcproxy|haproxy-mmproxy) echo srcproxy ;;
        direct) echo all ;;
        *) echo mmproxy ;;
    esac
}
workload_mode() {
    case $1 in
        moproxy-*) echo moproxy ;;
        srcproxy-*) echo srcproxy ;;
        *) echo mmproxy ;;
    esac
}
runs_in() {
    local m
    [[ $1 == udp && $2 == haproxy ]] && return 1   # HAProxy relays no UDP
    m=$(subject_mode "$2")
    [[ $m == all || $m == $(workload_mode "$1") ]]
}

for s in $SUBJECTS; do
    case $s in
        ferry-1|ferry|ferry-moproxy-1|ferry-moproxy|ferry-srcproxy) [[ -x $FERRY ]] || die "$FERRY not found (make)" ;;
        go-mmproxy) command -v go-mmproxy >/dev/null || die "go-mmproxy not installed (make deps)" ;;
        haproxy) command -v haproxy >/dev/null || die "haproxy not installed (make deps)" ;;
        haproxy-mmproxy) for tool in haproxy go-mmproxy; do
                command -v $tool >/dev/null || die "$tool not installed (make deps)"; done ;;
        redsocks|redsocks-splice) command -v redsocks >/dev/null || die "redsocks not installed (make deps)" ;;
        direct) ;;
        *) die "unknown subject '$s' (ferry-1 ferry go-mmproxy haproxy ferry-moproxy-1 ferry-moproxy redsocks redsocks-splice ferry-srcproxy haproxy-mmproxy direct)" ;;
    esac
done
MOPROXY_WORKLOADS=
SRCPROXY_WORKLOADS=
for w in $WORKLOADS; do
    case $w in
        stream|bulk|churn|latency|idle|udp) ;;
        moproxy-stream|moproxy-churn) MOPROXY_WORKLOADS+=" $w" ;;
        srcproxy-stream|srcproxy-churn) SRCPROXY_WORKLOADS+=" $w" ;;
        *) die "unknown workload '$w' (stream bulk churn latency idle udp moproxy-stream moproxy-churn srcproxy-stream srcproxy-churn)" ;;
    esac
done
if [[ -n $MOPROXY_WORKLOADS ]]; then
    command -v danted >/dev/null || die "missing danted (make deps)"
fi
if [[ -n $MOPROXY_WORKLOADS$SRCPROXY_WORKLOADS ]]; then
    for tool in iptables setpriv; do command -v $tool >/dev/null || die "missing $tool (make deps)"; done
    [[ $LOADGEN_UID =~ ^[0-9]+$ && $LOADGEN_UID != 0 && $LOADGEN_UID != "$(id -u nobody 2>/dev/null)" ]] ||
        die "BENCH_LOADGEN_UID must be a number, not 0 nor nobody's (the backend runs as those)"
fi
[[ -x $LOADGEN && -x $ECHO_BIN ]] || die "$LOADGEN / $ECHO_BIN not found (make bench-tools)"
UDP_RUN=0
[[ " $WORKLOADS " == *" udp "* ]] && UDP_RUN=1
((UDP_RUN)) && { [[ -x $UDPECHO_BIN ]] || die "$UDPECHO_BIN not found (make bench-tools)"; }
for tool in ip ss taskset gnuplot; do command -v $tool >/dev/null || die "missing $tool (make deps)"; done

mkdir -p "$LOGS" "$DOCS_DIR" "$OUT/bin"
rm -f "$LOGS"/* "$RESULTS"
# Run copies: other work may rebuild build/ once we have started, and every round must measure the same binaries.
cp "$FERRY" "$OUT/bin/ferry" && cp "$LOADGEN" "$OUT/bin/loadgen" && cp "$ECHO_BIN" "$OUT/bin/echo" ||
    die "cannot copy the binaries to $OUT/bin"
if ((UDP_RUN)); then
    cp "$UDPECHO_BIN" "$OUT/bin/udpecho" || die "cannot copy $UDPECHO_BIN to $OUT/bin"
    UDPECHO_BIN=$OUT/bin/udpecho
fi
FERRY=$OUT/bin/ferry
LOADGEN=$OUT/bin/loadgen
ECHO_BIN=$OUT/bin/echo
PROBLEMS=()
BROKEN=0

# ------------------------------------------------------------------------------------------------ quiet machine
wait_quiet() {
    local i load
    for ((i = 0; i < 24; i++)); do
        load=$(cut -d' ' -f1 /proc/loadavg)
        if awk -v l="$load" -v m="$MAX_LOAD" 'BEGIN { exit !(l < m) }'; then return 0; fi
        ((i == 0)) && say "1-minute load is $load (> $MAX_LOAD): waiting for the machine to calm down"
        sleep 5
    done
    say "load still $(cut -d' ' -f1 /proc/loadavg) after 2 minutes: measuring anyway"
    PROBLEMS+=("the 1-minute load was above $MAX_LOAD at the start (other jobs on the machine)")
}

# ------------------------------------------------------------------------------------------------ namespace
NS="ferry-bench-$$-$RANDOM"
NS_B="$NS-b"   # srcproxy workloads' server side; created (setup_server_namespace) only when they run
NS_B_MADE=0
PIDS=()
cleanup() {
    local pid i
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for ((i = 0; i < 30; i++)); do
        local alive=0
        for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    # Anything still inside our namespaces was started by us.
    for pid in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ((NS_B_MADE)) && for pid in $(ip netns pids "$NS_B" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    ((NS_B_MADE)) && ip netns del "$NS_B" 2>/dev/null   # the veth pair goes with either end's namespace
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }
in_ns_b() { ip netns exec "$NS_B" "$@"; }

setup_namespace() {
    ip netns add "$NS" || die "ip netns add $NS failed"
    ip -n "$NS" link set lo up
    # Replies to the spoofed client addresses come back to the proxies (ferry runs with -routing=false).
    ip -n "$NS" rule add from 127.0.0.1/8 iif lo table 123
    ip -n "$NS" route add local 0.0.0.0/0 dev lo table 123
    ip -n "$NS" -6 rule add from ::1/128 iif lo table 123
    ip -n "$NS" -6 route add local ::/0 dev lo table 123
    # Per-namespace sysctls: reuse TIME_WAIT ports for the churn, a wide ephemeral range (never our two
    # listening ports), a listen backlog deep enough for 9,000 connections opened at once.
    in_ns sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535" \
        net.ipv4.ip_local_reserved_ports="$LISTEN_PORT,$ECHO_PORT,$DANTE_PORT,$SRCPROXY_PORT" net.core.somaxconn=16384 \
        net.ipv4.tcp_max_syn_backlog=16384 || die "sysctl in $NS failed"
    if [[ -n $(ip -n "$NS" -o link show | grep -v ': lo:') ]]; then die "namespace $NS has links other than lo"; fi
}

# setup_server_namespace: the srcproxy workloads' server side, namespace B, joined to A by a veth pair (sp-a in A,
# sp-b in B; created inside the two namespaces, nothing in the host's), SP_DST on lo in both, the same sysctls as
# A, and the echo of B (ECHO_B_PID) on SP_DST:$ECHO_PORT (what the proxies connect to) and SP_B:$ECHO_PORT (direct).
# Done once, before the first srcproxy workload: the other workloads run with only `lo` in A.
ECHO_B_PID=0
setup_server_namespace() {
    local a
    for a in $SP_A $SP_B $SP_DST; do
        [[ $a == 192.0.2.* || $a == 198.51.100.* || $a == 203.0.113.* ]] || die "refusing address $a outside the documentation ranges"
    done
    ip netns add "$NS_B" || die "ip netns add $NS_B failed"
    NS_B_MADE=1
    ip -n "$NS_B" link set lo up
    ip link add sp-a netns "$NS" type veth peer name sp-b netns "$NS_B" || die "veth between $NS and $NS_B failed"
    ip -n "$NS" addr add $SP_A/24 dev sp-a && ip -n "$NS_B" addr add $SP_B/24 dev sp-b &&
        ip -n "$NS" link set sp-a up && ip -n "$NS_B" link set sp-b up &&
        ip -n "$NS" addr add $SP_DST/32 dev lo && ip -n "$NS_B" addr add $SP_DST/32 dev lo ||
        die "addresses on the veth pair failed"
    in_ns_b sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535" \
        net.ipv4.ip_local_reserved_ports="$LISTEN_PORT,$ECHO_PORT,$DANTE_PORT,$SRCPROXY_PORT" net.core.somaxconn=16384 \
        net.ipv4.tcp_max_syn_backlog=16384 || die "sysctl in $NS_B failed"
    ip netns exec "$NS_B" taskset -c "$CPUS_ECHO" "$ECHO_BIN" --listen $SP_DST:$ECHO_PORT --listen $SP_B:$ECHO_PORT \
        ${ECHO_THREADS:+--threads "$ECHO_THREADS"} >"$LOGS/echo-b.out" 2>"$LOGS/echo-b.err" &
    ECHO_B_PID=$!
    PIDS+=("$ECHO_B_PID")
    wait_listen $ECHO_PORT 10 "$NS_B" || { cat "$LOGS/echo-b.err" >&2; die "the echo upstream in $NS_B did not start"; }
    # The veth is up once A reaches B's echo.
    for ((a = 0; a < 50; a++)); do
        in_ns "$PYTHON" -c "import socket; socket.create_connection(('$SP_B', $ECHO_PORT), timeout=1).close()" \
            2>/dev/null && return 0
        sleep 0.1
    done
    die "$NS cannot reach the echo on $SP_B:$ECHO_PORT in $NS_B over the veth"
}

# wait_listen PORT TIMEOUT_S [NAMESPACE] [t|u]: true once something listens on TCP (t, the default) or UDP (u)
# PORT in the namespace (default A).
wait_listen() {
    local port=$1 n=$(($2 * 20)) ns=${3:-$NS} proto=${4:-t} i
    for ((i = 0; i < n; i++)); do
        [[ -n $(ip netns exec "$ns" ss -Hl${proto}n "sport = :$port") ]] && return 0
        sleep 0.05
    done
    return 1
}

# wait_unlisten PORT [NAMESPACE] [t|u]: until nothing listens on PORT (the previous subject is gone).
wait_unlisten() {
    local port=$1 ns=${2:-$NS} proto=${3:-t} i
    for ((i = 0; i < 100; i++)); do
        [[ -z $(ip netns exec "$ns" ss -Hl${proto}n "sport = :$port") ]] && return 0
        sleep 0.05
    done
    return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s; reaps it.
stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p != "$pid" ]] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# ------------------------------------------------------------------------------------------------ subjects
HAPROXY_CFG=$OUT/haproxy.cfg
HAPROXY_MMPROXY_CFG=$OUT/haproxy-mmproxy.cfg
# haproxy_common: the global and defaults sections of both HAProxy configurations.
haproxy_common() {
    local splice
    if [[ $HAPROXY_SPLICE == always ]]; then
        splice=$'    option splice-request\n    option splice-response'
    else
        splice='    option splice-auto'
    fi
    cat <<CFG
# generated by bench/run.sh
global
    # maxconn 20000 makes HAProxy 2.6 want 50,017 fds (2 per connection + 5,000 pipes); the hard limit here is
    # 20,000 and strict-limits (on by default) would refuse to start: no strict-limits only warns.
    maxconn 20000
    no strict-limits
    nbthread $HAPROXY_THREADS
defaults
    mode tcp
    timeout connect 10s
    timeout client 5m
    timeout server 5m
$splice
CFG
}
write_haproxy_cfg() {
    {
        haproxy_common
        cat <<CFG
frontend fe
    bind 127.0.0.1:$LISTEN_PORT accept-proxy
    default_backend be
backend be
    server echo 127.0.0.1:$ECHO_PORT source 0.0.0.0 usesrc clientip
CFG
    } >"$HAPROXY_CFG"
}
# srcproxy workloads, haproxy-mmproxy's client half (A): the REDIRECTed connections, relayed to go-mmproxy in B
# with a PROXY v2 header. HAProxy does not read SO_ORIGINAL_DST: its one backend is go-mmproxy, whose own -4
# upstream is the echo.
write_haproxy_mmproxy_cfg() {
    {
        haproxy_common
        cat <<CFG
frontend fe
    bind 127.0.0.1:$LISTEN_PORT
    default_backend be
backend be
    server mmproxy $SP_B:$SRCPROXY_PORT send-proxy-v2
CFG
    } >"$HAPROXY_MMPROXY_CFG"
}
# srcproxy workloads, ferry-srcproxy: the two halves' configurations (no acl: off; log_level error).
SRCPROXY_SERVER_CFG=$OUT/srcproxy-server.json5
SRCPROXY_CLIENT_CFG=$OUT/srcproxy-client.json5
write_srcproxy_cfgs() {
    cat >"$SRCPROXY_SERVER_CFG" <<CFG
// generated by bench/run.sh
{ listen: "$SP_B:$SRCPROXY_PORT", log_level: "error" }
CFG
    cat >"$SRCPROXY_CLIENT_CFG" <<CFG
// generated by bench/run.sh
{ inbound: { listen: "127.0.0.1:$LISTEN_PORT" }, outbound: { server: "$SP_B:$SRCPROXY_PORT" }, log_level: "error" }
CFG
}

# moproxy mode: redsocks (Debian's 0.5: libevent, one thread, a read/write copy loop unless splice = on) and
# dante (the SOCKS5 backend both proxies use, started once per moproxy workload).
REDSOCKS_CFG=$OUT/redsocks.conf
REDSOCKS_SPLICE_CFG=$OUT/redsocks-splice.conf
write_redsocks_cfg() {   # write_redsocks_cfg FILE SPLICE(on|off)
    local splice=
    [[ $2 == on ]] && splice=' splice = on;'
    cat >"$1" <<CFG
// generated by bench/run.sh
base { log_debug = off; log_info = off; log = stderr; daemon = off; redirector = iptables; }
redsocks { local_ip = 127.0.0.1; local_port = $LISTEN_PORT; ip = 127.0.0.1; port = $DANTE_PORT; type = socks5;$splice }
CFG
}
DANTE_CFG=$OUT/danted.conf
write_dante_cfg() {
    cat >"$DANTE_CFG" <<CFG
# generated by bench/run.sh
logoutput: $LOGS/danted.log
internal: 127.0.0.1 port = $DANTE_PORT
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: error
}
socks pass {
    from: 127.0.0.0/8 to: 0.0.0.0/0
    command: connect
    log: error
}
CFG
}

# start_backend / stop_backend: dante on 127.0.0.1:$DANTE_PORT for one moproxy workload; BACKEND_PID (its mother
# process; it forks its negotiate/request/io children, which the harness counts as the backend's CPU).
BACKEND_PID=0
NAT_READY=0
# nat_setup: before the first workload with a REDIRECT rule (moproxy, srcproxy). The rule turns connection tracking
# on in the namespace, and it stays on once the nat table exists: hence those workloads run after the others, and
# this is first done here. Its TIME_WAIT entries would last 120 s and, with churn's hundreds of thousands of
# connections (two or three tracked per relayed one), fill the table.
nat_setup() {
    ((NAT_READY)) && return 0
    in_ns sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=5 ||
        PROBLEMS+=("could not shorten nf_conntrack_tcp_timeout_time_wait in the namespace")
    redirect_on && redirect_off || die "iptables -t nat -A ${REDIRECT_RULE[*]} failed in the namespace"
    NAT_READY=1
}
BACKEND_TW_LOWERED=0
start_backend() {
    local tag=$1
    nat_setup
    if ((!BACKEND_TW_LOWERED)); then
        # dante binds every outgoing socket to port 0 explicitly, which cannot reuse a port in TIME_WAIT
        # (tcp_tw_reuse only helps connect()'s own choice): churn through it ran out of ephemeral ports after
        # about 60,000 connections. Few TIME_WAIT sockets kept in the namespace from here on frees them.
        in_ns sysctl -qw net.ipv4.tcp_max_tw_buckets=1024 ||
            PROBLEMS+=("could not lower tcp_max_tw_buckets in the namespace")
        BACKEND_TW_LOWERED=1
    fi
    : >"$LOGS/danted.log"
    ip netns exec "$NS" taskset -c "$CPUS_BACKEND" danted -f "$DANTE_CFG" >"$LOGS/$tag.danted.out" 2>&1 &
    BACKEND_PID=$!
    PIDS+=("$BACKEND_PID")
    if ! wait_listen $DANTE_PORT 10 || ! kill -0 "$BACKEND_PID" 2>/dev/null; then
        cat "$LOGS/danted.log" "$LOGS/$tag.danted.out" >&2
        die "danted did not start listening on 127.0.0.1:$DANTE_PORT"
    fi
}
# backend_leftovers: pids of danted processes still in the namespace.
backend_leftovers() {
    local pids
    pids=$(ip netns pids "$NS" 2>/dev/null | paste -sd,)
    [[ -n $pids ]] && ps -o pid=,comm= -p "$pids" 2>/dev/null | awk '$2 == "danted" { print $1 }'
    return 0
}
# stop_backend TAG: stops dante (SIGTERM to the mother, which ends its children) and keeps its log as
# logs/TAG.danted.log; its error, alert and warning lines go to the problems (a session that ends with an error,
# e.g. the load generator's closes with data in flight, is logged at info level and is not one).
stop_backend() {
    local tag=$1 bad i
    ((BACKEND_PID)) || return 0
    stop_pid "$BACKEND_PID"
    for ((i = 0; i < 50; i++)); do   # its children exit once the mother is gone
        [[ -z $(backend_leftovers) ]] && break
        sleep 0.1
    done
    for i in $(backend_leftovers); do kill -KILL "$i" 2>/dev/null; done
    BACKEND_PID=0
    mv "$LOGS/danted.log" "$LOGS/$tag.danted.log" 2>/dev/null
    bad=$(grep -E '\]: (error|alert|warning): ' "$LOGS/$tag.danted.log" | grep -v 'shutting down' || true)
    if [[ -n $bad ]]; then
        say "danted logged $(wc -l <<<"$bad") error/warning line(s) during $tag (logs/$tag.danted.log), the first:"
        head -n 3 <<<"$bad" >&2
        PROBLEMS+=("danted logged $(wc -l <<<"$bad") error/warning line(s) during $tag (see $LOGS/$tag.danted.log): $(head -n 1 <<<"$bad" | cut -c1-300)")
    fi
}

# The redirect of the moproxy workloads: the load generator (uid $LOADGEN_UID) connects to the echo's own address,
# 127.0.0.1:$ECHO_PORT, and this rule sends its connections, and only its, to the subject, which learns
# 127.0.0.1:$ECHO_PORT back from SO_ORIGINAL_DST and asks dante for it. dante (root/nobody) then connects to the
# echo without being redirected. For direct there is no rule: the same load generator reaches the echo itself.
REDIRECT_RULE=(OUTPUT -p tcp -d 127.0.0.1 --dport $ECHO_PORT -m owner --uid-owner "$LOADGEN_UID"
    -j REDIRECT --to-ports $LISTEN_PORT)
# The srcproxy workloads' rule: the same, for the load generator's connections to SP_DST:$ECHO_PORT (local in A:
# nothing listens there; the echo the proxies reach is B's). The proxies' own connections go to B over the veth.
SP_REDIRECT_RULE=(OUTPUT -p tcp -d $SP_DST --dport $ECHO_PORT -m owner --uid-owner "$LOADGEN_UID"
    -j REDIRECT --to-ports $LISTEN_PORT)
# redirect_on [MODE]: adds MODE's rule (moproxy, the default, or srcproxy); redirect_off removes either.
redirect_on() {
    if [[ ${1:-moproxy} == srcproxy ]]; then
        in_ns iptables -w -t nat -A "${SP_REDIRECT_RULE[@]}"
    else
        in_ns iptables -w -t nat -A "${REDIRECT_RULE[@]}"
    fi
}
redirect_off() { in_ns iptables -w -t nat -F OUTPUT 2>/dev/null; }
AS_LOADGEN=(setpriv --reuid="$LOADGEN_UID" --regid="$LOADGEN_UID" --clear-groups)

# subject_cmd NAME [WORKLOAD]: the command line (without taskset) in SUBJECT_CMD.
subject_cmd() {
    if [[ ${2:-} == udp ]]; then
        # UDP: -p udp, PROXY v2 DGRAM datagrams on 127.0.0.1:$LISTEN_PORT/udp, the UDP echo on $ECHO_PORT/udp.
        case $1 in
            ferry-1) SUBJECT_CMD=("$FERRY" mmproxy -routing=false -threads 1 -p udp -l 127.0.0.1:$LISTEN_PORT
                -4 127.0.0.1:$ECHO_PORT -6 "[::1]:$ECHO_PORT") ;;
            ferry) SUBJECT_CMD=("$FERRY" mmproxy -routing=false -threads 0 -p udp -l 127.0.0.1:$LISTEN_PORT
                -4 127.0.0.1:$ECHO_PORT -6 "[::1]:$ECHO_PORT") ;;
            go-mmproxy) SUBJECT_CMD=(go-mmproxy -p udp -l 127.0.0.1:$LISTEN_PORT -4 127.0.0.1:$ECHO_PORT
                -6 "[::1]:$ECHO_PORT") ;;
            *) SUBJECT_CMD=() ;;
        esac
        return 0
    fi
    case $1 in
        ferry-1) SUBJECT_CMD=("$FERRY" mmproxy -routing=false -threads 1 -l 127.0.0.1:$LISTEN_PORT -4 127.0.0.1:$ECHO_PORT) ;;
        ferry) SUBJECT_CMD=("$FERRY" mmproxy -routing=false -threads 0 -l 127.0.0.1:$LISTEN_PORT -4 127.0.0.1:$ECHO_PORT) ;;
        go-mmproxy) SUBJECT_CMD=(go-mmproxy -l 127.0.0.1:$LISTEN_PORT -4 127.0.0.1:$ECHO_PORT) ;;
        haproxy) SUBJECT_CMD=(haproxy -f "$HAPROXY_CFG" -db) ;;
        ferry-moproxy-1) SUBJECT_CMD=("$FERRY" moproxy -b 127.0.0.1 -p $LISTEN_PORT -s $DANTE_PORT --probe 0
            --log-level warn --threads 1) ;;
        ferry-moproxy) SUBJECT_CMD=("$FERRY" moproxy -b 127.0.0.1 -p $LISTEN_PORT -s $DANTE_PORT --probe 0
            --log-level warn --threads 0) ;;
        redsocks) SUBJECT_CMD=(redsocks -c "$REDSOCKS_CFG") ;;
        redsocks-splice) SUBJECT_CMD=(redsocks -c "$REDSOCKS_SPLICE_CFG") ;;
        ferry-srcproxy) SUBJECT_CMD=("$FERRY" srcproxy client "$SRCPROXY_CLIENT_CFG") ;;
        haproxy-mmproxy) SUBJECT_CMD=(haproxy -f "$HAPROXY_MMPROXY_CFG" -db) ;;
        direct) SUBJECT_CMD=() ;;
    esac
}
# server_cmd NAME: a srcproxy subject's server half (it runs in B) in SERVER_CMD; empty for the others.
server_cmd() {
    case $1 in
        ferry-srcproxy) SERVER_CMD=("$FERRY" srcproxy server "$SRCPROXY_SERVER_CFG") ;;
        haproxy-mmproxy) SERVER_CMD=(go-mmproxy -l $SP_B:$SRCPROXY_PORT -4 $SP_DST:$ECHO_PORT) ;;
        *) SERVER_CMD=() ;;
    esac
}

declare -A SOURCE_CHECKED=()
# check_srcproxy NAME TAG: one connection as the load generator's uid through NAME (direct: straight to B's echo
# over the veth): echoed, and B's echo sees it come from the load generator's own address and port; through a
# proxy, also relayed by both halves (established sockets on the client's and the server's ports).
check_srcproxy() {
    local name=$1 tag=$2 args
    if [[ $name == direct ]]; then
        args=(--connect $SP_B:$ECHO_PORT)
    else
        args=(--connect $SP_DST:$ECHO_PORT --bind $SP_SRC --subject-port $LISTEN_PORT --server-port $SRCPROXY_PORT)
    fi
    if ! in_ns "${AS_LOADGEN[@]}" "$PYTHON" "$HARNESS" check-srcproxy "${args[@]}" --echo-pid "$ECHO_B_PID" \
        --echo-port $ECHO_PORT 2>>"$LOGS/$tag.check.err"; then
        say "$name does not reach B's echo from the load generator's own address:"
        cat "$LOGS/$tag.check.err" >&2
        return 1
    fi
    return 0
}

# start_subject NAME TAG WORKLOAD: starts it pinned, waits for its listener; SUBJECT_PID (0 for direct) and, for
# a srcproxy subject, SERVER_PID (its server half, in B; started first). On the first start of each subject,
# checks that it really connects upstream from the header's address (mmproxy), relays a redirected connection
# through dante (moproxy), or from the load generator's own address and port (srcproxy).
start_subject() {
    local name=$1 tag=$2 w=$3
    SUBJECT_PID=0
    SERVER_PID=0
    if [[ $name == direct ]]; then
        [[ $(workload_mode "$w") != srcproxy || -n ${SOURCE_CHECKED[srcproxy:direct]:-} ]] && return 0
        check_srcproxy direct "$tag" || return 1
        SOURCE_CHECKED[srcproxy:direct]=1
        sleep 0.2
        return 0
    fi
    if [[ $(subject_mode "$name") == srcproxy ]]; then
        wait_unlisten $SRCPROXY_PORT "$NS_B" || { say "port $SRCPROXY_PORT still in use in $NS_B before $name"; return 1; }
        server_cmd "$name"
        ip netns exec "$NS_B" taskset -c "$CPUS_SUBJECT" "${SERVER_CMD[@]}" >"$LOGS/$tag.server.out" \
            2>"$LOGS/$tag.server.err" &
        SERVER_PID=$!
        PIDS+=("$SERVER_PID")
        if ! wait_listen $SRCPROXY_PORT 10 "$NS_B" || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            say "$name's server half did not start listening on $SP_B:$SRCPROXY_PORT; its stderr:"
            tail -n 20 "$LOGS/$tag.server.err" >&2
            return 1
        fi
    fi
    local proto=t
    [[ $w == udp ]] && proto=u
    wait_unlisten $LISTEN_PORT "$NS" $proto || { say "port $LISTEN_PORT still in use before $name"; return 1; }
    subject_cmd "$name" "$w"
    # Not through in_ns: a backgrounded function is a subshell, and $! must be the subject itself
    # (ip netns exec and taskset both exec).
    ip netns exec "$NS" taskset -c "$CPUS_SUBJECT" "${SUBJECT_CMD[@]}" >"$LOGS/$tag.subject.out" 2>"$LOGS/$tag.subject.err" &
    SUBJECT_PID=$!
    PIDS+=("$SUBJECT_PID")
    if ! wait_listen $LISTEN_PORT 10 "$NS" $proto || ! kill -0 "$SUBJECT_PID" 2>/dev/null; then
        say "$name did not start listening on 127.0.0.1:$LISTEN_PORT; its stderr:"
        tail -n 20 "$LOGS/$tag.subject.err" >&2
        return 1
    fi
    if [[ $w == udp ]]; then
        if [[ -z ${SOURCE_CHECKED[udp:$name]:-} ]]; then
            # One datagram with a PROXY v2 DGRAM header from 127.9.8.7: the UDP echo answers a whoami with the
            # sender it saw, which must be that address and port.
            if ! in_ns "$PYTHON" "$HARNESS" check-udp --connect 127.0.0.1:$LISTEN_PORT --src 127.9.8.7 \
                --echo-log "$LOGS/udpecho.err" 2>>"$LOGS/$tag.check.err"; then
                say "$name does not send datagrams upstream from the client's address:"
                cat "$LOGS/$tag.check.err" >&2
                return 1
            fi
            SOURCE_CHECKED[udp:$name]=1
            sleep 0.2
        fi
    elif [[ $(subject_mode "$name") == moproxy ]]; then
        redirect_on || { say "iptables -t nat -A ${REDIRECT_RULE[*]} failed"; return 1; }
        if [[ -z ${SOURCE_CHECKED[$name]:-} ]]; then
            # One connection as the load generator's uid: echoed, and relayed through the subject and dante.
            if ! in_ns "${AS_LOADGEN[@]}" "$PYTHON" "$HARNESS" check-relay --connect 127.0.0.1:$ECHO_PORT \
                --subject-port $LISTEN_PORT --backend-port $DANTE_PORT 2>>"$LOGS/$tag.check.err"; then
                say "$name does not relay a redirected connection through dante:"
                cat "$LOGS/$tag.check.err" >&2
                return 1
            fi
            SOURCE_CHECKED[$name]=1
            sleep 0.2
        fi
    elif [[ $(subject_mode "$name") == srcproxy ]]; then
        redirect_on srcproxy || { say "iptables -t nat -A ${SP_REDIRECT_RULE[*]} failed"; return 1; }
        if [[ -z ${SOURCE_CHECKED[$name]:-} ]]; then
            check_srcproxy "$name" "$tag" || return 1
            SOURCE_CHECKED[$name]=1
            sleep 0.2
        fi
    elif [[ -z ${SOURCE_CHECKED[$name]:-} ]]; then
        if ! in_ns "$PYTHON" "$HARNESS" check-source --connect 127.0.0.1:$LISTEN_PORT --src 127.9.8.7 \
            --upstream-port $ECHO_PORT 2>>"$LOGS/$tag.check.err"; then
            say "$name does not connect upstream from the client's address:"
            cat "$LOGS/$tag.check.err" >&2
            return 1
        fi
        SOURCE_CHECKED[$name]=1
        sleep 0.2
    fi
    return 0
}

# ------------------------------------------------------------------------------------------------ workloads
# Header source of the persistent-connection workloads: 127.0.N.1, N changing with every run. Their source ports
# are the connection uids (1..50), so with one fixed address every run would reuse the previous runs' 4-tuples
# towards the echo, and a leftover socket of a stopped proxy makes connect() fail with EADDRNOTAVAIL.
RUN_N=0
HEADER_SRC=127.0.1.1
next_header_src() { RUN_N=$((RUN_N + 1)); HEADER_SRC="127.0.$((RUN_N % 254 + 1)).1"; }

# wait_settled TAG: until the previous run's connections are gone (TIME_WAIT aside), at most 5 s, so that its
# teardown does not run during the next measurement. Sockets still there after 5 s are logged (with the run that
# follows, TAG) to logs/leftovers.txt and not waited for again: a stopped go-mmproxy can leave an orphaned
# FIN-WAIT-1 socket and its echo peer deadlocked on two zero windows for minutes.
# B's sockets (srcproxy workloads) count too, prefixed with "b:".
LEFTOVER_KNOWN=
leftovers() {
    {
        in_ns ss -Htan exclude listening exclude time-wait | awk '{print $4 "-" $5}'
        ((NS_B_MADE)) && in_ns_b ss -Htan exclude listening exclude time-wait | awk '{print "b:" $4 "-" $5}'
    } | sort | grep -vxF -f <(printf '%s\n' $LEFTOVER_KNOWN) || true
}
wait_settled() {
    local tag=$1 i left
    for ((i = 0; i < 100; i++)); do
        left=$(leftovers)
        [[ -z $left ]] && return 0
        sleep 0.05
    done
    say "before $tag: $(wc -l <<<"$left") connection(s) of an earlier run still open after 5 s (logs/leftovers.txt)"
    {
        echo "before $tag:"
        in_ns ss -tanoi exclude listening exclude time-wait
        ((NS_B_MADE)) && { echo "in $NS_B:"; in_ns_b ss -tanoi exclude listening exclude time-wait; }
    } >>"$LOGS/leftovers.txt"
    PROBLEMS+=("before $tag: $(wc -l <<<"$left") connection(s) of an earlier run still open (not waited for; see $LOGS/leftovers.txt)")
    LEFTOVER_KNOWN+=" $left"
    return 1
}

# loadgen_args WORKLOAD SUBJECT READY_FILE: the load generator's arguments in LOADGEN_ARGS.
loadgen_args() {
    local w=$1 s=$2 ready=$3 target hdr
    if [[ $w == srcproxy-* ]]; then
        # Through a pair: from 127.0.0.1 (the port is connect()'s choice) to SP_DST, REDIRECTed to the client half;
        # direct: straight to B's echo over the veth, from A's address. No PROXY header, as the load generator's uid.
        if [[ $s == direct ]]; then
            LOADGEN_ARGS=(--target $SP_B:$ECHO_PORT)
        else
            LOADGEN_ARGS=(--target $SP_DST:$ECHO_PORT --bind-range $SP_SRC)
        fi
        LOADGEN_ARGS+=(--workload "${w#srcproxy-}" --json --header none)
        [[ -n $LOADGEN_THREADS ]] && LOADGEN_ARGS+=(--threads "$LOADGEN_THREADS")
        case $w in
            srcproxy-stream) LOADGEN_ARGS+=(--connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
                --message "$MESSAGE") ;;
            srcproxy-churn) LOADGEN_ARGS+=(--connections "$CHURN_WORKERS" --duration "$DURATION" --warmup "$WARMUP"
                --message-size "$CHURN_SIZE") ;;
        esac
        return 0
    fi
    if [[ $w == moproxy-* ]]; then
        # Redirected (or, for direct, not): the echo's own address, no PROXY header, as the load generator's uid.
        LOADGEN_ARGS=(--target 127.0.0.1:$ECHO_PORT --workload "${w#moproxy-}" --json --header none)
        [[ -n $LOADGEN_THREADS ]] && LOADGEN_ARGS+=(--threads "$LOADGEN_THREADS")
        case $w in
            moproxy-stream) LOADGEN_ARGS+=(--connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
                --message "$MESSAGE") ;;
            moproxy-churn) LOADGEN_ARGS+=(--connections "$CHURN_WORKERS" --duration "$DURATION" --warmup "$WARMUP"
                --message-size "$CHURN_SIZE") ;;
        esac
        return 0
    fi
    if [[ $w == udp ]]; then
        # Through a proxy: PROXY v2 DGRAM headers (whatever BENCH_HEADER says: v1 has no datagram form), socket i
        # claiming 127.9.N.(1+i):(40000+i); direct: the bare payload to the UDP echo.
        if [[ $s == direct ]]; then
            LOADGEN_ARGS=(--target 127.0.0.1:$ECHO_PORT --header none)
        else
            LOADGEN_ARGS=(--target 127.0.0.1:$LISTEN_PORT --header v2 --header-src "127.9.${HEADER_SRC#127.0.}"
                --header-dst 127.0.0.1:25578)
        fi
        LOADGEN_ARGS+=(--workload udp --json)
        [[ -n $LOADGEN_THREADS ]] && LOADGEN_ARGS+=(--threads "$LOADGEN_THREADS")
        LOADGEN_ARGS+=(--connections "$UDP_SOCKETS" --window "$UDP_WINDOW" --message-size "$UDP_SIZE"
            --loss-timeout "$UDP_TIMEOUT_MS" --duration "$DURATION" --warmup "$WARMUP")
        return 0
    fi
    if [[ $s == direct ]]; then
        target=127.0.0.1:$ECHO_PORT
        hdr=(--header none)
    else
        target=127.0.0.1:$LISTEN_PORT
        hdr=(--header "$HEADER")
    fi
    LOADGEN_ARGS=(--target "$target" --workload "$w" --json)
    [[ -n $LOADGEN_THREADS ]] && LOADGEN_ARGS+=(--threads "$LOADGEN_THREADS")
    case $w in
        stream)
            [[ $s != direct ]] && hdr+=(--header-src "$HEADER_SRC" --header-dst 127.0.0.1:25578)
            LOADGEN_ARGS+=("${hdr[@]}" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
                --message "$MESSAGE") ;;
        bulk)
            [[ $s != direct ]] && hdr+=(--header-src "$HEADER_SRC" --header-dst 127.0.0.1:25578)
            LOADGEN_ARGS+=("${hdr[@]}" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP"
                --message-size "$BULK_SIZE") ;;
        churn)
            [[ $s != direct ]] && hdr+=(--header-src-range --header-dst 127.0.0.1:25578)
            LOADGEN_ARGS+=("${hdr[@]}" --connections "$CHURN_WORKERS" --duration "$DURATION" --warmup "$WARMUP"
                --message-size "$CHURN_SIZE") ;;
        latency)
            [[ $s != direct ]] && hdr+=(--header-src "$HEADER_SRC" --header-dst 127.0.0.1:25578)
            LOADGEN_ARGS+=("${hdr[@]}" --connections "$LATENCY_CONNECTIONS" --duration "$DURATION"
                --warmup "$WARMUP" --rate "$LATENCY_RATE" --message-size "$LATENCY_SIZE") ;;
        idle)
            [[ $s != direct ]] && hdr+=(--header-src-range --header-dst 127.0.0.1:25578)
            LOADGEN_ARGS+=("${hdr[@]}" --connections "$IDLE_CONNECTIONS" --hold "$IDLE_HOLD"
                --ready-file "$ready") ;;
    esac
}

# run_one WORKLOAD ROUND SUBJECT
run_one() {
    local w=$1 r=$2 s=$3 tag="$1-r$2-$3" ready="$OUT/ready.$1" extra=() as=() echo_pid=$ECHO_PID
    wait_settled "$tag"
    next_header_src
    if ! start_subject "$s" "$tag" "$w"; then
        BROKEN=1
        local logs="$LOGS/$tag.subject.err"
        [[ $(subject_mode "$s") == srcproxy ]] && logs+=", $LOGS/$tag.server.err"
        PROBLEMS+=("$w round $r: $s did not start or did not relay (see $logs, $LOGS/$tag.check.err)")
        [[ $SUBJECT_PID != 0 ]] && stop_pid "$SUBJECT_PID"
        [[ $SERVER_PID != 0 ]] && stop_pid "$SERVER_PID"
        redirect_off
        return 1
    fi
    [[ $w == moproxy-* ]] && as=("${AS_LOADGEN[@]}") && extra+=(--backend-pid "$BACKEND_PID")
    [[ $w == udp ]] && echo_pid=$UDP_ECHO_PID
    if [[ $w == srcproxy-* ]]; then
        as=("${AS_LOADGEN[@]}")
        echo_pid=$ECHO_B_PID
        [[ $SERVER_PID != 0 ]] && extra+=(--server-pid "$SERVER_PID")
    fi
    loadgen_args "$w" "$s" "$ready"
    if [[ $w == idle ]]; then
        extra+=(--idle --ready-file "$ready" --ready-timeout 60 --timeout $((IDLE_HOLD + 90)))
    else
        extra+=(--warmup "$WARMUP" --duration "$DURATION" --timeout $((${DURATION%.*} + ${WARMUP%.*} + 60)))
    fi
    in_ns "$PYTHON" "$HARNESS" run --out "$RESULTS" --workload "$w" --round "$r" --subject "$s" \
        --subject-pid "$SUBJECT_PID" --echo-pid "$echo_pid" --upstream-port $ECHO_PORT \
        --stderr "$LOGS/$tag.loadgen.err" "${extra[@]}" \
        -- taskset -c "$CPUS_LOADGEN" "${as[@]}" "$LOADGEN" "${LOADGEN_ARGS[@]}"
    local rc=$?
    if ((rc != 0)); then
        BROKEN=1
        PROBLEMS+=("$w round $r $s: the load generator failed (see $LOGS/$tag.loadgen.err)")
        say "$w round $r $s: load generator failed; its stderr:"
        tail -n 10 "$LOGS/$tag.loadgen.err" >&2
    fi
    tail -n 1 "$RESULTS" | "$PYTHON" -c '
import json, sys
r = json.loads(sys.stdin.read()); res = r.get("result") or {}
keys = {"stream": ["mbps_up", "mbps_down", "errors"], "bulk": ["mbps_up", "mbps_down", "errors"],
        "churn": ["conns_per_s", "failures", "p99_us"], "latency": ["p50_us", "p99_us", "p999_us"],
        "idle": ["opened", "failed"], "moproxy-stream": ["mbps_up", "mbps_down", "errors"],
        "moproxy-churn": ["conns_per_s", "failures", "p99_us"], "srcproxy-stream": ["mbps_up", "mbps_down", "errors"],
        "srcproxy-churn": ["conns_per_s", "failures", "p99_us"],
        "udp": ["dgrams_per_s", "mbps_up", "mbps_down", "loss_pct", "p99_us"]}[r["workload"]]
bits = ["%s=%s" % (k, res.get(k)) for k in keys]
if r["workload"] == "idle":
    bits += ["held=%s" % r.get("idle_held"), "rss=%.1fMiB" % (r.get("idle_rss_bytes", 0) / 2**20),
             "fds/conn=%.2f" % r.get("idle_fds_per_conn", 0)]
if r.get("subject_cpu_s") is not None: bits.append("cpu=%.2fs" % r["subject_cpu_s"])
if r.get("server_cpu_s") is not None: bits.append("(client %.2fs + server %.2fs)" % (r["client_cpu_s"], r["server_cpu_s"]))
if r.get("backend_cpu_s") is not None: bits.append("dante_cpu=%.2fs" % r["backend_cpu_s"])
if r.get("loadgen_cpu_s") is not None: bits.append("loadgen_cpu=%.2fs/%.1fs" % (r["loadgen_cpu_s"], r["loadgen_wall_s"]))
print("  %-8s r%d %-15s %s" % (r["workload"], r["round"], r["subject"], " ".join(bits)))
' >&2
    if [[ $SUBJECT_PID != 0 ]]; then
        if ! kill -0 "$SUBJECT_PID" 2>/dev/null; then
            wait "$SUBJECT_PID" 2>/dev/null
            local st=$? why
            why=$(grep -o '"error":"[^"]*"' "$LOGS/$tag.subject.err" | tail -n 1)
            say "$s exited during $w round $r (status $st) ${why:-}"
            PROBLEMS+=("$s exited during $w round $r (status $st)${why:+, its last error: ${why#\"error\":}}")
        fi
        stop_pid "$SUBJECT_PID"
    fi
    if [[ $SERVER_PID != 0 ]]; then
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            wait "$SERVER_PID" 2>/dev/null
            local st=$?
            say "$s's server half exited during $w round $r (status $st; see $LOGS/$tag.server.err)"
            PROBLEMS+=("$s's server half exited during $w round $r (status $st; see $LOGS/$tag.server.err)")
        fi
        stop_pid "$SERVER_PID"
    fi
    [[ $w == moproxy-* || $w == srcproxy-* ]] && redirect_off
    rm -f "$ready"
    return 0
}

# ------------------------------------------------------------------------------------------------ main
T_START=$(date +%s)
wait_quiet
setup_namespace
if [[ " $SUBJECTS " == *" haproxy "* ]]; then
    write_haproxy_cfg
    haproxy -c -f "$HAPROXY_CFG" >"$LOGS/haproxy-check.log" 2>&1 || { cat "$LOGS/haproxy-check.log" >&2; die "haproxy -c failed"; }
fi
if [[ -n $MOPROXY_WORKLOADS ]]; then
    write_dante_cfg
    write_redsocks_cfg "$REDSOCKS_CFG" off
    write_redsocks_cfg "$REDSOCKS_SPLICE_CFG" on
    for f in "$REDSOCKS_CFG" "$REDSOCKS_SPLICE_CFG"; do
        redsocks -t -c "$f" >"$LOGS/redsocks-check.log" 2>&1 || { cat "$LOGS/redsocks-check.log" >&2; die "redsocks -t -c $f failed"; }
    done
fi
if [[ -n $SRCPROXY_WORKLOADS ]]; then
    write_srcproxy_cfgs
    if [[ " $SUBJECTS " == *" haproxy-mmproxy "* ]]; then
        write_haproxy_mmproxy_cfg
        haproxy -c -f "$HAPROXY_MMPROXY_CFG" >"$LOGS/haproxy-mmproxy-check.log" 2>&1 ||
            { cat "$LOGS/haproxy-mmproxy-check.log" >&2; die "haproxy -c -f $HAPROXY_MMPROXY_CFG failed"; }
    fi
fi
echo_args=(--listen 127.0.0.1:$ECHO_PORT)
[[ -n $ECHO_THREADS ]] && echo_args+=(--threads "$ECHO_THREADS")
ip netns exec "$NS" taskset -c "$CPUS_ECHO" "$ECHO_BIN" "${echo_args[@]}" >"$LOGS/echo.out" 2>"$LOGS/echo.err" &
ECHO_PID=$!
PIDS+=("$ECHO_PID")
wait_listen $ECHO_PORT 10 || { cat "$LOGS/echo.err" >&2; die "the echo upstream did not start"; }
# udp: the UDP echo on 127.0.0.1:$ECHO_PORT/udp (whoami answers logged to logs/udpecho.err).
UDP_ECHO_PID=0
udpecho_args=(--listen 127.0.0.1:$ECHO_PORT)
[[ -n $ECHO_THREADS ]] && udpecho_args+=(--threads "$ECHO_THREADS")
if ((UDP_RUN)); then
    ip netns exec "$NS" taskset -c "$CPUS_ECHO" "$UDPECHO_BIN" "${udpecho_args[@]}" >"$LOGS/udpecho.out" \
        2>"$LOGS/udpecho.err" &
    UDP_ECHO_PID=$!
    PIDS+=("$UDP_ECHO_PID")
    wait_listen $ECHO_PORT 10 "$NS" u || { cat "$LOGS/udpecho.err" >&2; die "the UDP echo upstream did not start"; }
fi

say "namespace $NS; subjects: $SUBJECTS; workloads: $WORKLOADS; $ROUNDS round(s) (latency: $LATENCY_ROUNDS) of ${DURATION}s (+${WARMUP}s warm-up)"
say "pinning: subject $CPUS_SUBJECT, echo $CPUS_ECHO, loadgen $CPUS_LOADGEN${MOPROXY_WORKLOADS:+, dante $CPUS_BACKEND}; logs in $LOGS"
# The mmproxy workloads first, in the order given, then the moproxy ones, then the srcproxy ones (their nat rules
# turn connection tracking on in the namespace for good, which the mmproxy workloads should not pay for; the
# srcproxy ones also bring the second namespace and the veth).
ORDERED=()
for w in $WORKLOADS; do [[ $w != moproxy-* && $w != srcproxy-* ]] && ORDERED+=("$w"); done
for w in $WORKLOADS; do [[ $w == moproxy-* ]] && ORDERED+=("$w"); done
for w in $WORKLOADS; do [[ $w == srcproxy-* ]] && ORDERED+=("$w"); done
for w in "${ORDERED[@]}"; do
    rounds=$ROUNDS
    [[ $w == latency ]] && rounds=$LATENCY_ROUNDS
    ran=0
    [[ $w == moproxy-* ]] && start_backend "$w"
    if [[ $w == srcproxy-* ]]; then
        if ((!NS_B_MADE)); then
            setup_server_namespace
            say "srcproxy workloads: server side $NS_B ($SP_B/24, veth to $NS at $SP_A/24), destination $SP_DST:$ECHO_PORT"
        fi
        nat_setup
    fi
    for ((r = 1; r <= rounds; r++)); do
        for s in $SUBJECTS; do
            [[ $w == idle && $s == direct ]] && continue   # nothing in the middle to measure
            runs_in "$w" "$s" || continue
            if ! kill -0 "$ECHO_PID" 2>/dev/null; then die "the echo upstream died (see $LOGS/echo.err)"; fi
            if [[ $w == udp ]] && ! kill -0 "$UDP_ECHO_PID" 2>/dev/null; then
                die "the UDP echo upstream died (see $LOGS/udpecho.err)"
            fi
            if [[ $w == moproxy-* ]] && ! kill -0 "$BACKEND_PID" 2>/dev/null; then
                die "danted died during $w (see $LOGS/danted.log)"
            fi
            if [[ $w == srcproxy-* ]] && ! kill -0 "$ECHO_B_PID" 2>/dev/null; then
                die "the echo upstream in $NS_B died (see $LOGS/echo-b.err)"
            fi
            run_one "$w" "$r" "$s"
            ran=1
        done
    done
    [[ $w == moproxy-* ]] && stop_backend "$w"
    ((ran)) || PROBLEMS+=("$w: none of the subjects ($SUBJECTS) runs in this workload")
done
stop_pid "$ECHO_PID"
((UDP_ECHO_PID)) && stop_pid "$UDP_ECHO_PID"
((ECHO_B_PID)) && stop_pid "$ECHO_B_PID"
T_END=$(date +%s)
RUNTIME=$((T_END - T_START))

# ------------------------------------------------------------------------------------------------ report
# Everything the page states about this run goes into meta.json: the machine, the configuration, the
# command lines, the BENCH_* variables that were set, the runtime and the problems seen.
{
    for s in $SUBJECTS; do
        subject_cmd "$s"
        if [[ $s == direct ]]; then
            printf '%s\t%s\n' "$s" "(none: the load generator connects to 127.0.0.1:$ECHO_PORT with --header none; moproxy workloads: and no REDIRECT rule; srcproxy workloads: to $SP_B:$ECHO_PORT in $NS_B over the veth)"
        else
            line="taskset -c $CPUS_SUBJECT ${SUBJECT_CMD[*]}"
            line=${line//$OUT\/bin\/ferry/$BUILD\/ferry}
            line=${line//$REPO_ROOT\//}
            if [[ $(subject_mode "$s") == srcproxy ]]; then
                printf '%s\t%s\n' "$s" "client half, in A: $line"
                server_cmd "$s"
                line="taskset -c $CPUS_SUBJECT ${SERVER_CMD[*]}"
                line=${line//$OUT\/bin\/ferry/$BUILD\/ferry}
                printf '%s\t%s\n' "$s (B)" "server half, in B: ${line//$REPO_ROOT\//}"
            else
                printf '%s\t%s\n' "$s" "$line"
            fi
        fi
    done
    printf '%s\t%s\n' echo "taskset -c $CPUS_ECHO $BUILD/bench/echo ${echo_args[*]}"
    if ((UDP_RUN)); then
        for s in $SUBJECTS; do
            runs_in udp "$s" && [[ $s != direct ]] || continue
            subject_cmd "$s" udp
            line="taskset -c $CPUS_SUBJECT ${SUBJECT_CMD[*]}"
            line=${line//$OUT\/bin\/ferry/$BUILD\/ferry}
            printf '%s\t%s\n' "$s (udp)" "${line//$REPO_ROOT\//}"
        done
        printf '%s\t%s\n' "udpecho" "taskset -c $CPUS_ECHO $BUILD/bench/udpecho ${udpecho_args[*]} (udp)"
    fi
    if [[ -n $MOPROXY_WORKLOADS ]]; then
        printf '%s\t%s\n' danted "taskset -c $CPUS_BACKEND danted -f ${DANTE_CFG#$REPO_ROOT/} (moproxy workloads, one per workload)"
        printf '%s\t%s\n' redirect "iptables -t nat -A ${REDIRECT_RULE[*]} (moproxy workloads, while a proxy runs)"
    fi
    if [[ -n $SRCPROXY_WORKLOADS ]]; then
        printf '%s\t%s\n' "echo (B)" "taskset -c $CPUS_ECHO $BUILD/bench/echo --listen $SP_DST:$ECHO_PORT --listen $SP_B:$ECHO_PORT${ECHO_THREADS:+ --threads $ECHO_THREADS} (srcproxy workloads, in B)"
        printf '%s\t%s\n' "veth" "ip link add sp-a netns A type veth peer name sp-b netns B; A: $SP_A/24 on sp-a, $SP_DST/32 on lo; B: $SP_B/24 on sp-b, $SP_DST/32 on lo (srcproxy workloads)"
        printf '%s\t%s\n' "redirect (srcproxy)" "iptables -t nat -A ${SP_REDIRECT_RULE[*]} (srcproxy workloads, in A, while a proxy runs)"
    fi
    for w in $WORKLOADS; do
        for s in ferry direct; do
            [[ $w == moproxy-* && $s == ferry ]] && s=ferry-moproxy
            [[ $w == srcproxy-* && $s == ferry ]] && s=ferry-srcproxy
            [[ $w == idle && $s == direct ]] && continue
            loadgen_args "$w" "$s" "$OUT/ready.$w"
            line="taskset -c $CPUS_LOADGEN $BUILD/bench/loadgen"
            [[ $w == moproxy-* || $w == srcproxy-* ]] && line="taskset -c $CPUS_LOADGEN ${AS_LOADGEN[*]} $BUILD/bench/loadgen"
            for a in "${LOADGEN_ARGS[@]}"; do
                [[ $a == *[\\\ ]* ]] && a="'$a'"
                line+=" $a"
            done
            [[ $s == direct ]] && k="loadgen $w (direct)" || k="loadgen $w"
            printf '%s\t%s\n' "$k" "${line//$REPO_ROOT\//}"
        done
    done
} >"$OUT/commands.tsv"
[[ " $SUBJECTS " == *" haproxy "* ]] || : >"$HAPROXY_CFG"
[[ -n $MOPROXY_WORKLOADS ]] || : >"$DANTE_CFG"
[[ -n $MOPROXY_WORKLOADS && " $SUBJECTS " == *" redsocks "* ]] || : >"$REDSOCKS_CFG"
[[ -n $MOPROXY_WORKLOADS && " $SUBJECTS " == *" redsocks-splice "* ]] || : >"$REDSOCKS_SPLICE_CFG"
[[ -n $SRCPROXY_WORKLOADS && " $SUBJECTS " == *" haproxy-mmproxy "* ]] || : >"$HAPROXY_MMPROXY_CFG"
[[ -n $SRCPROXY_WORKLOADS && " $SUBJECTS " == *" ferry-srcproxy "* ]] ||
    { : >"$SRCPROXY_SERVER_CFG"; : >"$SRCPROXY_CLIENT_CFG"; }
compgen -v BENCH_ | while read -r v; do printf '%s\t%s\n' "$v" "${!v}"; done >"$OUT/env.tsv"
printf '%s\n' "${PROBLEMS[@]}" >"$OUT/problems.txt"
export SUBJECTS WORKLOADS ROUNDS LATENCY_ROUNDS DURATION WARMUP CONNECTIONS MESSAGE BULK_SIZE CHURN_WORKERS CHURN_SIZE \
    LATENCY_CONNECTIONS LATENCY_RATE LATENCY_SIZE IDLE_CONNECTIONS IDLE_HOLD CPUS_SUBJECT CPUS_ECHO CPUS_LOADGEN \
    QUICK FULL_RUN RUNTIME OUT REPO_ROOT HEADER CPUS_BACKEND UDP_SOCKETS UDP_WINDOW UDP_SIZE UDP_TIMEOUT_MS LOADGEN_UID DANTE_PORT MOPROXY_WORKLOADS \
    SRCPROXY_WORKLOADS SRCPROXY_PORT SP_A SP_B SP_DST SP_SRC
"$PYTHON" - "$META" <<'EOF'
import json, os, platform, subprocess, sys, time
e = os.environ
def ver(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, shell=True)
    return r.stdout.strip() or '?'
def tsv(name):
    out = {}
    with open(os.path.join(e['OUT'], name)) as f:
        for line in f:
            k, _, v = line.rstrip('\n').partition('\t')
            if k:
                out[k] = v
    return out
model = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), '?')
osname = next((l.split('=', 1)[1].strip().strip('"') for l in open('/etc/os-release')
               if l.startswith('PRETTY_NAME=')), '?')
versions = 'go-mmproxy %s, HAProxy %s, %sferry %s.' % (
    ver("dpkg-query -W -f='${Version}' go-mmproxy"), ver("dpkg-query -W -f='${Version}' haproxy"),
    ('redsocks %s, dante-server %s, ' % (ver("dpkg-query -W -f='${Version}' redsocks"),
                                         ver("dpkg-query -W -f='${Version}' dante-server"))
     if e['MOPROXY_WORKLOADS'].strip() else ''),
    ver('git describe --always --dirty') + ' (binary sha256 ' +
    ver('sha256sum ' + os.path.join(e['OUT'], 'bin', 'ferry') + " | cut -c1-12") + ')')
def text(name):
    try:
        return open(os.path.join(e['OUT'], name)).read().replace(e['REPO_ROOT'] + '/', '')
    except OSError:
        return ''

runtime = int(e['RUNTIME'])
meta = {
    'machine': {'nproc': os.cpu_count(), 'model': model, 'kernel': platform.release(), 'os': osname,
                'date': time.strftime('%Y-%m-%d %H:%M %Z'), 'versions': versions},
    'subjects': e['SUBJECTS'].split(), 'workloads': e['WORKLOADS'].split(),
    'runtime_s': runtime, 'runtime_text': '%d min %02d s' % divmod(runtime, 60),
    'full_run': e['FULL_RUN'] == '1',
    'problems': [l.strip() for l in open(os.path.join(e['OUT'], 'problems.txt')) if l.strip()],
    'commands': tsv('commands.tsv'), 'env': tsv('env.tsv'),
    'haproxy_cfg': open(os.path.join(e['OUT'], 'haproxy.cfg')).read(),
    'dante_cfg': text('danted.conf'), 'redsocks_cfg': text('redsocks.conf'),
    'redsocks_splice_cfg': text('redsocks-splice.conf'),
    'haproxy_mmproxy_cfg': text('haproxy-mmproxy.cfg'), 'srcproxy_server_cfg': text('srcproxy-server.json5'),
    'srcproxy_client_cfg': text('srcproxy-client.json5'),
    'config': {'rounds': int(e['ROUNDS']), 'latency_rounds': int(e['LATENCY_ROUNDS']), 'duration': e['DURATION'], 'warmup': e['WARMUP'],
               'connections': int(e['CONNECTIONS']), 'message_text': e['MESSAGE'],
               'stream_header_text': r'PROXY TCP4 127.0.N.1 127.0.0.1 <uid> 25578\r\n',
               'bulk_size': int(e['BULK_SIZE']), 'churn_workers': int(e['CHURN_WORKERS']),
               'churn_size': int(e['CHURN_SIZE']), 'latency_connections': int(e['LATENCY_CONNECTIONS']),
               'latency_rate': int(e['LATENCY_RATE']), 'latency_size': int(e['LATENCY_SIZE']),
               'idle_connections': int(e['IDLE_CONNECTIONS']), 'idle_hold': e['IDLE_HOLD'],
               'cpus_subject': e['CPUS_SUBJECT'], 'cpus_echo': e['CPUS_ECHO'], 'cpus_loadgen': e['CPUS_LOADGEN'],
               'cpus_backend': e['CPUS_BACKEND'], 'loadgen_uid': int(e['LOADGEN_UID']),
               'dante_port': int(e['DANTE_PORT']),
               'srcproxy_port': int(e['SRCPROXY_PORT']), 'sp_a': e['SP_A'], 'sp_b': e['SP_B'],
               'sp_dst': e['SP_DST'], 'sp_src': e['SP_SRC'],
               'udp_sockets': int(e['UDP_SOCKETS']), 'udp_window': int(e['UDP_WINDOW']),
               'udp_size': int(e['UDP_SIZE']), 'udp_timeout_ms': int(e['UDP_TIMEOUT_MS']),
               'header': e['HEADER'], 'quick': e['QUICK'] == '1'},
}
with open(sys.argv[1], 'w') as f:
    json.dump(meta, f, indent=1)
EOF

terminal=pngcairo
echo 'set terminal' | gnuplot 2>&1 | grep -qw pngcairo || terminal=png
echo
"$PYTHON" "$HARNESS" report --results "$RESULTS" --meta "$META" --md "$DOCS_DIR/benchmarks.md" \
    --png "$DOCS_DIR/benchmarks.png" --terminal "$terminal" --chart-script "$REPO_ROOT/bench/chart.gnuplot" ||
    { say "the report failed"; BROKEN=1; }
echo
say "total time: $((RUNTIME / 60)) min $((RUNTIME % 60)) s; wrote $DOCS_DIR/benchmarks.md, $DOCS_DIR/benchmarks.png, $RESULTS"
((FULL_RUN)) || say "(not a full run: the page is in $DOCS_DIR, docs/ is untouched; BENCH_DOCS=DIR to choose)"
if ((BROKEN)); then
    say "the harness broke in this run:"
    printf '  %s\n' "${PROBLEMS[@]}" >&2
    exit 1
fi
exit 0
