# tests/soak/lib.sh: sourced by every soak scenario (tests/soak/*.sh), on top of tests/e2e/lib.sh, whose
# namespaces, cleanup, peers and ok / not ok lines they share. Adds what long runs need: sizes scaled by
# SOAK_SCALE, the soak tools, /proc readings of a process (fds by kind, RSS, CPU), and figures for the report.
#
# Environment: SOAK_SCALE (default 1: the full run; 0.02 runs everything in a minute or two), SOAK_FIGURES (the
# JSON-lines file the figures go to; run.sh sets it, default $WORK/figures.jsonl), BUILD (default build), and
# each scenario's own SOAK_* knobs (see the scenario's header and tests/soak/run.sh).

# shellcheck source=../e2e/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../e2e" && pwd)/lib.sh"

BUILD=${BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$REPO_ROOT/$BUILD
SOAK_SCALE=${SOAK_SCALE:-1}
SOAK_FIGURES=${SOAK_FIGURES:-$WORK/figures.jsonl}
STREAMER=$BUILD/soak/streamer
STALL=$BUILD/soak/stall
PROBE=$BUILD/soak/probe
LOADGEN=$BUILD/bench/loadgen
ECHO=$BUILD/bench/echo
for tool in "$STREAMER" "$STALL" "$PROBE" "$LOADGEN" "$ECHO"; do
    if [[ ! -x $tool ]]; then
        echo "not ok - $E2E_NAME: $tool not found (make soak builds it)"
        exit 1
    fi
done

# scaled N [MIN]: N x SOAK_SCALE, rounded, at least MIN (default 1).
scaled() {
    "$PYTHON" -c "import sys; print(max(int(sys.argv[3]), round(float(sys.argv[1]) * float(sys.argv[2]))))" \
        "$1" "$SOAK_SCALE" "${2:-1}"
}

# knob NAME DEFAULT: the value of the environment variable NAME, or DEFAULT.
knob() { local v=${!1:-}; printf '%s' "${v:-$2}"; }

# figure NAME JSON: one figure of this scenario for the report (tests/soak/report.py), as a JSON object.
figure() {
    "$PYTHON" - "$E2E_NAME" "$1" "$2" >>"$SOAK_FIGURES" <<'PY'
import json, sys
scenario, name, data = sys.argv[1:4]
try:
    value = json.loads(data)
except ValueError:
    value = data
print(json.dumps({'scenario': scenario, 'name': name, 'data': value}, sort_keys=True))
PY
}

# ------------------------------------------------------------------ /proc readings

# proc_fds PID: {"total", "sockets", "pipes", "other"} of the process's open fds.
proc_fds() {
    local pid=$1 t=0 s=0 p=0 o=0 link f
    for f in /proc/"$pid"/fd/*; do
        link=$(readlink "$f" 2>/dev/null) || continue
        t=$((t + 1))
        case "$link" in
            socket:*) s=$((s + 1)) ;;
            pipe:*) p=$((p + 1)) ;;
            *) o=$((o + 1)) ;;
        esac
    done
    printf '{"total":%d,"sockets":%d,"pipes":%d,"other":%d}\n' "$t" "$s" "$p" "$o"
}

# proc_rss_kib PID: VmRSS in KiB.
proc_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# proc_cpu_s PID: user + system CPU seconds of the process (all threads) so far.
proc_cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/stat" 2>/dev/null
}

# proc_sample PID: {"fds": proc_fds, "rss_kib": N, "cpu_s": N}.
proc_sample() {
    printf '{"fds":%s,"rss_kib":%s,"cpu_s":%s}\n' "$(proc_fds "$1")" "$(proc_rss_kib "$1")" "$(proc_cpu_s "$1")"
}

# wait_quiet NS PORT [TIMEOUT_S]: wait until no TCP connection to or from local PORT in NS is in a state that
# holds a socket of a process (TIME_WAIT aside), so that fd counts taken next are settled.
wait_quiet() {
    local ns=$1 port=$2 timeout=${3:-10} i
    for ((i = 0; i < timeout * 10; i++)); do
        [[ -z $(in_ns "$ns" ss -Htn state connected "( sport = :$port or dport = :$port )" 2>/dev/null |
            grep -v TIME-WAIT) ]] && return 0
        sleep 0.1
    done
    return 1
}

# check_fds_back NAME BEFORE_JSON AFTER_JSON [POOL_FDS]: the process's sockets and other fds are what they were
# before the load, and its pipes at most POOL_FDS (the empty pipes each event loop may keep for reuse: 64 a loop,
# 2 fds each; default 0).
check_fds_back() {
    local name=$1 before=$2 after=$3 pool=${4:-0}
    check_py "$name: fds back to the baseline (sockets and others equal, pipes <= $pool pooled)" \
        "j0['sockets'] == j1['sockets'] and j0['other'] == j1['other'] and j1['pipes'] <= $pool" "$before" "$after"
}

# pool_fds THREADS: the most fds ferry's pipe pools may hold with THREADS event loops (64 pipes x 2 fds each).
pool_fds() { echo $(( $1 * 64 * 2 )); }

# json_get JSON EXPR: a python expression over the parsed JSON j (e.g. "j['ok']").
json_get() {
    "$PYTHON" -c "import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))" "$1" "$2"
}

# ------------------------------------------------------------------ integrity

# streamer_compare CLIENT_LOG SERVER_LOG...: matches the streamer's client and server lines by connection id and
# prints one JSON object: connections, errors (client or server), missing (no server line), mismatch_up
# (sha256 sent by the client != received by the server), mismatch_down, short (bytes != plan), bytes (both ways,
# as received), orders (connections per half-close order).
streamer_compare() {
    "$PYTHON" - "$@" <<'PY'
import json, sys
def lines(path):
    out = []
    for line in open(path, errors='replace'):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
clients = lines(sys.argv[1])
servers = {}
for path in sys.argv[2:]:
    for s in lines(path):
        if s.get('id') is not None:
            servers[s['id']] = s
r = {'connections': len(clients), 'errors': 0, 'missing': 0, 'mismatch_up': 0, 'mismatch_down': 0, 'short': 0,
     'bytes': 0, 'orders': {}, 'examples': []}
for c in clients:
    s = servers.get(c['id'])
    r['orders'][c['order']] = r['orders'].get(c['order'], 0) + 1
    bad = []
    if c['error'] is not None or (s and s['error'] is not None):
        r['errors'] += 1
        bad.append('error')
    if s is None:
        r['missing'] += 1
        bad.append('missing')
    else:
        r['bytes'] += s['bytes_in'] + c['received']
        if c['sha256_sent'] != s['sha256_in'] or c['sent'] != s['bytes_in']:
            r['mismatch_up'] += 1
            bad.append('up')
        if c['sha256_received'] != s['sha256_out'] or c['received'] != s['bytes_out']:
            r['mismatch_down'] += 1
            bad.append('down')
    if c['sent'] != c['up'] or c['received'] != c['down']:
        r['short'] += 1
        bad.append('short')
    if bad and len(r['examples']) < 3:
        r['examples'].append({'client': c, 'server': s})
print(json.dumps(r, sort_keys=True))
PY
}

# check_integrity NAME COMPARE_JSON: every connection finished without error, hashes equal both ways, all bytes.
check_integrity() {
    local name=$1 r=$2
    check_py "$name: $(json_get "$r" "j['connections']") connections, none failed or missing" \
        "j0['connections'] > 0 and j0['errors'] == 0 and j0['missing'] == 0 and j0['short'] == 0" "$r"
    check_py "$name: sha256 of what was sent == of what was received, both ways, on every connection" \
        "j0['connections'] > 0 and j0['mismatch_up'] == 0 and j0['mismatch_down'] == 0" "$r"
}

# integrity_part NAME SHARE QUIET_NS QUIET_PORT PEER_PREFIXES -- STREAMER_CLIENT_ARGS...: one relay's share of the
# integrity scenario through the ferry in $PROXY_PID. The streamer client (in_ns $NS_C) moves SHARE percent of
# SOAK_INTEGRITY_BYTES (x SOAK_SCALE; $TOTAL) in at least ~24 connections of at most 256 MiB each way; the server
# logs to $WORK/server.jsonl (emptied first). Checks: every connection intact (check_integrity), the server saw
# every connection come from an address starting with one of PEER_PREFIXES (comma-separated), ferry's fds back
# once nothing is connected to QUIET_PORT in QUIET_NS, ferry alive. The result goes to the figures as NAME.
integrity_part() {
    local name=$1 share=$2 qns=$3 qport=$4 prefixes=$5 bytes max before after t0 t1 summary r
    shift 6  # NAME SHARE QUIET_NS QUIET_PORT PEER_PREFIXES --
    bytes=$((TOTAL * share / 100))
    max=$((bytes / 24))
    ((max > (256 << 20))) && max=$((256 << 20))
    ((max < 65536)) && max=65536
    : >"$WORK/server.jsonl"
    before=$(proc_fds "$PROXY_PID")
    t0=$(date +%s.%N)
    summary=$(in_ns "$NS_C" "$STREAMER" client "$@" --bytes "$bytes" --max-conn-bytes "$max" --concurrency 8 \
        --seed "$RANDOM" --id-base $((RANDOM * 1000)) --log "$WORK/$name.client.jsonl" --timeout 120)
    t1=$(date +%s.%N)
    sleep 0.5  # the server writes its line once its side has closed
    r=$(streamer_compare "$WORK/$name.client.jsonl" "$WORK/server.jsonl")
    check_integrity "$name" "$r"
    check "$name: the server saw every connection come from $prefixes" "$PYTHON" -c 'import json, sys
peers = [json.loads(l)["peer"] for l in open(sys.argv[1])]
bad = [p for p in peers if not p.startswith(tuple(sys.argv[2].split(",")))]
print(len(peers), "connections, from elsewhere:", bad[:5])
sys.exit(1 if bad or not peers else 0)' "$WORK/server.jsonl" "$prefixes"
    wait_quiet "$qns" "$qport" 10
    after=$(proc_fds "$PROXY_PID")
    check_fds_back "$name" "$before" "$after" "$(pool_fds 2)"
    check "$name: ferry still runs" proxy_alive
    figure "$name" "$("$PYTHON" -c '
import json, sys
r, t0, t1 = json.loads(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
r.pop("examples", None)
r.update(relay=sys.argv[6], seconds=round(t1 - t0, 1), mbytes_per_s=round(r["bytes"] / 1e6 / max(t1 - t0, 1e-9), 1),
         fds_before=json.loads(sys.argv[4]), fds_after=json.loads(sys.argv[5]))
print(json.dumps(r))' "$r" "$t0" "$t1" "$before" "$after" "$name")"
    note "$name: $summary"
}

# ------------------------------------------------------------------ logs

# log_errors_matching LOG REGEX: how many JSON lines of LOG have an "error" matching REGEX (python re.search).
log_errors_matching() {
    "$PYTHON" - "$1" "$2" <<'PY'
import json, re, sys
rx = re.compile(sys.argv[2])
n = 0
for line in open(sys.argv[1], errors='replace'):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if isinstance(j, dict) and rx.search(str(j.get('error', ''))):
        n += 1
print(n)
PY
}

# ------------------------------------------------------------------ namespaces

# soak_sysctls NS: what a namespace that opens hundreds of thousands of connections needs: TIME_WAIT ports
# reused, a wide ephemeral range (our listening ports reserved), deep listen backlogs.
soak_sysctls() {
    in_ns "$1" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10240 65535" \
        net.core.somaxconn=16384 net.ipv4.tcp_max_syn_backlog=16384
}

# ------------------------------------------------------------------ ferry

# start_ferry NS PORT ARGS...: `$FERRY ARGS` in NS (stderr to a fresh $PROXY_LOG, pid in PROXY_PID), checked
# by finish like start_proxy's; waits for PORT to listen. SOAK_WRAP: a command prefix (e.g. setpriv).
start_ferry() {
    local ns=$1 port=$2
    shift 2
    PROXY_N=$((PROXY_N + 1))
    PROXY_LOG=$WORK/proxy$PROXY_N.log
    # shellcheck disable=SC2086  # SOAK_WRAP: a command prefix
    ip netns exec "$ns" ${SOAK_WRAP:-} "$FERRY" "$@" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
    PROXY_PID=$!
    E2E_PIDS+=("$PROXY_PID")
    E2E_PROXY_LOGS+=("$PROXY_LOG" "$PROXY_LOG.stdout")
    note "proxy $PROXY_N (pid $PROXY_PID): ${SOAK_WRAP:-}${SOAK_WRAP:+ }$FERRY $*"
    if ! wait_tcp_listen "$ns" "$port" 10; then
        not_ok "ferry $1 listens on port $port" "$(tail -n 20 "$PROXY_LOG" "$PROXY_LOG.stdout")"
        return 1
    fi
    E2E_PROXY_PIDS+=("$PROXY_PID")
}

# ------------------------------------------------------------------ churn

# churn NAME NS PORT TARGET THREADS LOADGEN_ARGS...: the churn scenario against the ferry in $PROXY_PID, which
# listens on PORT in NS with THREADS event loops. The load generator (as `in_ns NS $CHURN_WRAP $LOADGEN
# LOADGEN_ARGS --workload churn ...`) runs in rounds of SOAK_CHURN_ROUND seconds (default 15 x SOAK_SCALE, at
# least 3) until TARGET
# connections completed or SOAK_CHURN_MAX_S (600) passed, after a 2-second warm-up that fills the pipe pools and
# the allocator's caches before the baseline is read. With --header-src-range in the arguments, each round starts
# where the last one stopped (no spoofed source is used twice). Checks: the count, zero failures, fds back to
# the baseline, RSS growth at most SOAK_CHURN_RSS_MIB (16) MiB over the run and a quarter of that over its second
# half; the summary goes to the figures as NAME.
churn() {
    local name=$1 ns=$2 port=$3 target=$4 threads=$5
    shift 5
    local round max_s rss_mib rounds=$WORK/$name.rounds.jsonl offset=$((RANDOM * 256)) ranged=0 a
    # 15 s rounds at full scale; shorter ones in a scaled-down run, whose whole count takes a few seconds.
    round=$(knob SOAK_CHURN_ROUND "$(scaled 15 3)")
    max_s=$(knob SOAK_CHURN_MAX_S 600)
    rss_mib=$(knob SOAK_CHURN_RSS_MIB 16)
    for a in "$@"; do [[ $a == --header-src-range ]] && ranged=1; done
    : >"$rounds"
    churn_round() {
        local out extra=()
        ((ranged)) && extra=(--header-src-offset "$offset")
        # shellcheck disable=SC2086  # CHURN_WRAP: a command prefix
        out=$(in_ns "$ns" ${CHURN_WRAP:-} "$LOADGEN" "$@" "${extra[@]}" --workload churn --json --connections 50 \
            --warmup 0 --message-size 64 --duration "$round_s" 2>"$WORK/$name.loadgen.err")
        if [[ -z $out ]]; then
            not_ok "$name: load generator round" "$(tail -5 "$WORK/$name.loadgen.err")"
            return 1
        fi
        offset=$((offset + $(json_get "$out" "j['attempts']")))
        printf '{"loadgen":%s,"sample":%s}\n' "$out" "$(proc_sample "$PROXY_PID")" >>"$rounds"
    }
    local round_s=2 base end mid= t0 t1 done_n=0 summary
    churn_round "$@" || return 1
    wait_quiet "$ns" "$port" 10
    base=$(proc_sample "$PROXY_PID")
    round_s=$round
    t0=$(date +%s)
    while ((done_n < target && $(date +%s) - t0 < max_s)); do
        churn_round "$@" || break
        done_n=$("$PYTHON" -c 'import json, sys
print(sum(json.loads(l)["loadgen"]["completed"] for l in open(sys.argv[1]).readlines()[1:]))' "$rounds")
        if [[ -z $mid ]] && ((done_n * 2 >= target)); then mid=$(tail -n 1 "$rounds"); fi
    done
    t1=$(date +%s)
    wait_quiet "$ns" "$port" 10
    end=$(proc_sample "$PROXY_PID")
    [[ -n $mid ]] || mid=$(tail -n 1 "$rounds")
    summary=$("$PYTHON" - "$rounds" "$base" "$end" "$mid" "$t0" "$t1" "$target" <<'PY'
import json, sys
rounds = [json.loads(l) for l in open(sys.argv[1])]
base, end, mid = json.loads(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4])['sample']
load = [r['loadgen'] for r in rounds[1:]]
completed = sum(l['completed'] for l in load)
seconds = int(sys.argv[6]) - int(sys.argv[5])
curve, n = [], 0
for r in rounds[1:]:
    n += r['loadgen']['completed']
    curve.append([n, r['sample']['rss_kib'], r['sample']['fds']['total']])
print(json.dumps({
    'target': int(sys.argv[7]), 'completed': completed, 'warmup_completed': rounds[0]['loadgen']['completed'],
    'failures': sum(r['loadgen']['failures'] for r in rounds), 'rounds': len(load), 'seconds': seconds,
    'conns_per_s': round(completed / max(seconds, 1)),
    'p50_us_median_round': sorted(l['p50_us'] for l in load)[len(load) // 2] if load else None,
    'p99_us_worst_round': max((l['p99_us'] for l in load), default=None),
    'fds_base': base['fds'], 'fds_end': end['fds'],
    'rss_kib_base': base['rss_kib'], 'rss_kib_mid': mid['rss_kib'], 'rss_kib_end': end['rss_kib'],
    'rss_kib_max': max([r['sample']['rss_kib'] for r in rounds] + [end['rss_kib']]),
    'cpu_s': round(end['cpu_s'] - base['cpu_s'], 1), 'curve': curve,
}))
PY
    )
    note "$name: $summary"
    check_py "$name: at least $target connections" "j0['completed'] >= j0['target']" "$summary"
    check_py "$name: zero failed connections" "j0['failures'] == 0" "$summary"
    check_fds_back "$name" "$(json_get "$summary" "json.dumps(j['fds_base'])")" \
        "$(json_get "$summary" "json.dumps(j['fds_end'])")" "$(pool_fds "$threads")"
    check_py "$name: RSS grew at most $rss_mib MiB over the run" \
        "j0['rss_kib_end'] - j0['rss_kib_base'] <= $rss_mib * 1024" "$summary"
    check_py "$name: RSS grew at most $((rss_mib * 256)) KiB over the second half" \
        "j0['rss_kib_end'] - j0['rss_kib_mid'] <= $rss_mib * 256" "$summary"
    check "$name: ferry still runs" proxy_alive
    figure "$name" "$summary"
}

# ------------------------------------------------------------------ peers

# start_dante NS NAME PORT EXTERNAL...: Debian's dante SOCKS5 server (no authentication, CONNECT for loopback
# clients) on 127.0.0.1:PORT in NS, connecting out from the EXTERNAL addresses. dante forwards half-close,
# which microsocks does not.
start_dante() {
    local ns=$1 name=$2 port=$3 e
    shift 3
    # dante binds every outgoing socket to port 0 explicitly, which cannot take a port in TIME_WAIT (tcp_tw_reuse
    # helps only connect()'s own choice): a minute of reloads under churn through three of them ran out of ports
    # ("network unreachable" replies). Few TIME_WAIT sockets in its namespace, as bench/run.sh does.
    in_ns "$ns" sysctl -qw net.ipv4.tcp_max_tw_buckets=1024
    {
        echo "logoutput: $WORK/$name.log"
        echo "internal: 127.0.0.1 port = $port"
        for e in "$@"; do echo "external: $e"; done
        echo "socksmethod: none"
        echo "clientmethod: none"
        echo "user.privileged: root"
        echo "user.unprivileged: nobody"
        echo "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }"
        echo "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }"
        echo "socks pass { from: 127.0.0.0/8 to: ::/0 command: connect }"
    } >"$WORK/$name.conf"
    bg_ns "$ns" "$name" danted -f "$WORK/$name.conf"
    if ! wait_tcp_listen "$ns" "$port" 10; then
        not_ok "dante $name listens" "$(cat "$WORK/$name.err" "$WORK/$name.log")"
        return 1
    fi
}

# ------------------------------------------------------------------ reloads under load

# stream_batches NS TARGET: the streamer client in NS (behind the command prefix $STREAM_WRAP, if any) in a loop
# of 64 MiB batches (4 connections at a time, at most 8 MiB each way), to TARGET, its lines in
# $WORK/client.jsonl, until $WORK/stop exists. Its pid goes into STREAM_LOOP.
stream_batches() {
    local ns=$1 target=$2
    (
        local batch=0
        while [[ ! -e $WORK/stop ]]; do
            # shellcheck disable=SC2086  # STREAM_WRAP: a command prefix
            in_ns "$ns" ${STREAM_WRAP:-} "$STREAMER" client --connect "$target" --bytes $((64 << 20)) \
                --max-conn-bytes $((8 << 20)) --concurrency 4 --seed "$RANDOM" --id-base $((++batch * 100000)) \
                --log "$WORK/client.jsonl" --timeout 60 >/dev/null
        done
    ) &
    STREAM_LOOP=$!
    E2E_PIDS+=("$STREAM_LOOP")
}

# reload_loop SECONDS INTERVAL WRITE_FN: every INTERVAL seconds for SECONDS, `WRITE_FN I` (I = 1, 2, ...) writes
# the next configuration and ferry ($PROXY_PID) gets SIGHUP. RELOADS: how many.
reload_loop() {
    local t_end=$(($(date +%s) + $1))
    RELOADS=0
    while (($(date +%s) < t_end)); do
        sleep "$2"
        "$3" $((RELOADS + 1))
        kill -HUP "$PROXY_PID"
        RELOADS=$((RELOADS + 1))
    done
}

# reload_results NAME SECONDS LOG_MSG SERVER_LOG...: after the loads ($WORK/loadgen.out, $WORK/probe.out and the
# streamer's batches against SERVER_LOG...) have finished: every reload logged as LOG_MSG, zero failed
# connections in the three loads, every stream intact; the figure NAME. Sets LOAD, GOOD and STREAMS (their JSON).
reload_results() {
    local name=$1 seconds=$2 msg=$3 logged
    shift 3
    LOAD=$(cat "$WORK/loadgen.out")
    GOOD=$(cat "$WORK/probe.out")
    STREAMS=$(streamer_compare "$WORK/client.jsonl" "$@")
    logged=$(log_count "$PROXY_LOG" "$msg")
    note "loadgen: $LOAD"
    note "probe: $GOOD"
    check_py "$RELOADS reloads in $seconds s, each logged as \"$msg\"" "j0 == $RELOADS" "$logged"
    check_py "churn during the reloads: zero failed connections" "j0['completed'] > 0 and j0['failures'] == 0" "$LOAD"
    check_py "good clients during the reloads: zero failed connections" \
        "j0['attempts'] > 0 and j0['ok'] == j0['attempts']" "$GOOD"
    check_integrity "streams during the reloads" "$STREAMS"
    figure "$name" "$("$PYTHON" -c '
import json, sys
r = json.loads(sys.argv[4]); r.pop("examples", None)
print(json.dumps({"seconds": int(sys.argv[1]), "reloads": int(sys.argv[2]), "logged": int(sys.argv[3]),
                  "streams": r, "churn": json.loads(sys.argv[5]), "probe": json.loads(sys.argv[6])}))' \
        "$seconds" "$RELOADS" "$logged" "$STREAMS" "$LOAD" "$GOOD")"
}
