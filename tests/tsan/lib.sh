# tests/tsan/lib.sh: sourced by the ThreadSanitizer stresses (tests/tsan/*.sh, `make test TSAN=1`), on top of
# tests/e2e/lib.sh: the TSan build's load generator and echo, TSAN_OPTIONS, and the checks every stress ends with.
#   TSAN_STRESS_SECONDS (default 20): how long the load runs; TSAN_STRESS_MIN_CONNS (default 2000): fewer
#   connections than this means the stress did not stress.

# shellcheck source=../e2e/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)/lib.sh"

BUILD=${BUILD:-build/tsan}
[[ $BUILD == /* ]] || BUILD=$REPO_ROOT/$BUILD
LOADGEN=$BUILD/bench/loadgen
ECHO=$BUILD/bench/echo
D=${TSAN_STRESS_SECONDS:-20}
MIN_CONNS=${TSAN_STRESS_MIN_CONNS:-2000}
# The first report ends ferry (and the scenario sees it die); finish() also finds any report in the logs.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}
for tool in "$LOADGEN" "$ECHO"; do
    [[ -x $tool ]] || { not_ok "$tool built (make test TSAN=1 builds it)"; finish; }
done
for tool in microsocks dnsmasq curl setpriv shuf; do
    command -v "$tool" >/dev/null || { not_ok "$tool installed (make deps)"; finish; }
done

# tsan_peers NS PORT...: in NS, the echo on 127.0.0.1:2000 and :2001, dnsmasq on 127.0.0.1:53 answering every
# name (the prober's DNS queries), and a microsocks SOCKS5 server on each 127.0.0.1:PORT.
tsan_peers() {
    local ns=$1 p
    shift
    in_ns "$ns" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10240 65535" net.core.somaxconn=4096
    bg_ns "$ns" echo "$ECHO" --listen 127.0.0.1:2000 --listen 127.0.0.1:2001
    bg_ns "$ns" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
        --pid-file= --listen-address=127.0.0.1 --bind-interfaces --port=53 --address=/#/127.0.0.1
    for p in "$@"; do bg_ns "$ns" "microsocks$p" microsocks -i 127.0.0.1 -p "$p"; done
    for p in 2000 2001 53 "$@"; do
        wait_tcp_listen "$ns" "$p" 5 || { not_ok "peer on port $p listens"; finish; }
    done
}

# check_threads: ferry runs its two event loops and the prober (and the main thread).
check_threads() {
    local n
    n=$(ls "/proc/$PROXY_PID/task" | wc -l)
    check_py "ferry runs two event loops, the prober and the main thread ($n threads)" "j0 >= 4" "$n"
}

# read_status_while PID URL...: GETs each URL (from inside $NS) every 0.3 s while PID runs, in the background.
read_status_while() {
    local pid=$1
    shift
    (
        while kill -0 "$pid" 2>/dev/null; do
            for url in "$@"; do in_ns "$NS" curl -sS --max-time 5 -o /dev/null "$url" 2>/dev/null; done
            sleep 0.3
        done
    ) &
    E2E_PIDS+=("$!")
}

# hup_while PID WRITE_FN: while PID (the load) and ferry run, every 0.2 s `WRITE_FN I` writes the next
# configuration and ferry gets SIGHUP. RELOADS: how many.
hup_while() {
    RELOADS=0
    while kill -0 "$1" 2>/dev/null && proxy_alive; do
        sleep 0.2
        "$2" $((RELOADS + 1))
        kill -HUP "$PROXY_PID" 2>/dev/null
        RELOADS=$((RELOADS + 1))
    done
}

# tsan_checks LOG_MSG: after the load: no ThreadSanitizer report, ferry alive, the load's connections all went
# through (at least MIN_CONNS), every reload logged as LOG_MSG.
tsan_checks() {
    local load
    sleep 1.5  # the last reload and probe round
    load=$(cat "$WORK/loadgen.out")
    note "loadgen: $load"
    if grep -q 'WARNING: ThreadSanitizer' "$PROXY_LOG"; then
        not_ok "no ThreadSanitizer report" "$(grep -A 40 'WARNING: ThreadSanitizer' "$PROXY_LOG" | head -80)"
    else
        ok "no ThreadSanitizer report"
    fi
    check "ferry still runs" proxy_alive
    check_py "a few thousand connections through ferry ($MIN_CONNS at least), none failed" \
        "j0 is not None and j0['completed'] >= $MIN_CONNS and j0['failures'] == 0" "$load"
    check_py "$RELOADS reloads while the load ran (at least 20), each logged as \"$1\"" \
        "j0 >= 20 and j1 == j0" "$RELOADS" "$(log_count "$PROXY_LOG" "$1")"
}
