#!/usr/bin/env bash
# tests/soak/run.sh: ferry's soak suite (`make soak`; root). Long-running reliability scenarios, each in its own
# private network namespaces with real peers, each printing "ok - " / "not ok - " / "skip - " lines:
#   integrity_mmproxy, integrity_tproxy, integrity_moproxy   >= 10 GiB both ways through the splice relay, the
#       copy relay, an interceptor chain and a SOCKS5 proxy, mixed sizes, three half-close orders, sha256 compared
#   churn_mmproxy, churn_moproxy   1,000,000 (and 100,000) connections; fds back to the baseline, RSS bounded
#   slowloris                      thousands of never-finished headers while good clients keep working
#   upstream_faults                upstream killed, reset, blackholed, unreachable, refused
#   reload_moproxy, reload_run     SIGHUP twice a second under load: zero failures, zero bytes changed
#   fdlimit                        the fd-limit attack: 2 hosts x 10,000 stalled connections, good clients
# Then writes the "## Soak" section of the report (tests/soak/report.py), leaving the file's other sections
# alone. The last line is "N passed, N failed"; the exit status is non-zero iff something failed.
#
# Environment:
#   BUILD             build directory (default build): $BUILD/ferry, $BUILD/bench/*, $BUILD/soak/*, plugins
#   SOAK_SCALE        1 (default): the full run (about 8 minutes here); 0.02 runs everything in a minute or two
#   SOAK_ONLY         space-separated substrings of scenario names to run (default: all)
#   SOAK_TIMEOUT      seconds per scenario before it is killed (default 900; the longest takes about 2 minutes)
#   SOAK_DOCS         the report file (default docs/reliability.md for a full run of every scenario with no size
#                     knob set, $BUILD/soak/reliability.md otherwise, so a short run never overwrites the figures)
#   SOAK_INTEGRITY_BYTES, SOAK_CHURN_CONNS, SOAK_MOPROXY_CHURN_CONNS, SOAK_CHURN_ROUND, SOAK_CHURN_MAX_S,
#   SOAK_CHURN_RSS_MIB, SOAK_SLOWLORIS_CONNS, SOAK_SLOWLORIS_SECONDS, SOAK_HEADER_TIMEOUT, SOAK_PROBE_RATE,
#   SOAK_FAULT_CONNS, SOAK_RELOAD_SECONDS, SOAK_RELOAD_INTERVAL, SOAK_FDLIMIT_ARGS (extra ferry flags),
#   SOAK_FDLIMIT_CONNS, SOAK_FDLIMIT_SECONDS, SOAK_FDLIMIT_RATE: per-scenario sizes (see each script's header).
set -u

cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
export SOAK_SCALE=${SOAK_SCALE:-1}
SOAK_ONLY=${SOAK_ONLY:-}
SOAK_TIMEOUT=${SOAK_TIMEOUT:-900}
PYTHON=${PYTHON:-python3}
SCENARIOS=(integrity_mmproxy integrity_tproxy integrity_moproxy churn_mmproxy churn_moproxy slowloris
    upstream_faults reload_moproxy reload_run fdlimit)

if [[ $(id -u) -ne 0 ]]; then
    echo "not ok - soak: needs root (network namespaces, iptables)"
    echo "0 passed, 1 failed"
    exit 1
fi
if ! "$PYTHON" -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0 else 1)" "$SOAK_SCALE" 2>/dev/null; then
    echo "not ok - soak: SOAK_SCALE must be a positive number, not '$SOAK_SCALE'"
    echo "0 passed, 1 failed"
    exit 1
fi

# A full run (scale 1, every scenario, no size knob) writes the committed report; anything else its own copy.
full=1
[[ $SOAK_SCALE == 1 || $SOAK_SCALE == 1.0 ]] || full=0
[[ -n $SOAK_ONLY ]] && full=0
for v in $(compgen -e); do
    case "$v" in SOAK_SCALE | SOAK_ONLY | SOAK_TIMEOUT | SOAK_DOCS | SOAK_FIGURES) ;; SOAK_*) full=0 ;; esac
done
if [[ -n ${SOAK_DOCS:-} ]]; then
    DOC=$SOAK_DOCS
elif ((full)); then
    DOC=docs/reliability.md
else
    DOC=$BUILD/soak/reliability.md
    [[ -f $DOC ]] || { mkdir -p "$(dirname "$DOC")" && cp docs/reliability.md "$DOC" 2>/dev/null; }
fi

OUT=$BUILD/soak/results-$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUT" || exit 2
export SOAK_FIGURES=$OUT/figures.jsonl
: >"$SOAK_FIGURES"
: >"$OUT/scenarios.jsonl"
echo "=== soak: SOAK_SCALE=$SOAK_SCALE, results in $OUT, report to $DOC"

PASSED=0
FAILED=0
SKIPPED=0
T0=$(date +%s)
for s in "${SCENARIOS[@]}"; do
    if [[ -n $SOAK_ONLY ]]; then
        want=0
        for o in $SOAK_ONLY; do [[ $s == *"$o"* ]] && want=1; done
        ((want)) || continue
    fi
    echo "=== soak: $s"
    log=$OUT/$s.log
    t0=$(date +%s)
    FERRY=$BUILD/ferry BUILD=$BUILD timeout -k 10 "$SOAK_TIMEOUT" bash "tests/soak/$s.sh" </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    t1=$(date +%s)
    p=$(grep -c '^ok - ' "$log")
    f=$(grep -c '^not ok - ' "$log")
    k=$(grep -c '^skip - ' "$log")
    if ((rc == 124 || rc == 137)); then
        echo "not ok - $s: timed out after ${SOAK_TIMEOUT}s" | tee -a "$log"
        f=$((f + 1))
    elif ((rc != 0 && f == 0)); then
        echo "not ok - $s: exited with status $rc without reporting a failure" | tee -a "$log"
        f=$((f + 1))
    elif ((p == 0 && f == 0 && k == 0)); then
        echo "not ok - $s: reported no check at all" | tee -a "$log"
        f=$((f + 1))
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    SKIPPED=$((SKIPPED + k))
    "$PYTHON" - "$s" "$p" "$f" "$k" $((t1 - t0)) "$log" >>"$OUT/scenarios.jsonl" <<'PY'
import json, sys
s, p, f, k, secs, log = sys.argv[1:7]
lines = [l.rstrip('\n') for l in open(log, errors='replace')]
print(json.dumps({'scenario': s, 'passed': int(p), 'failed': int(f), 'skipped': int(k), 'seconds': int(secs),
                  'failures': [l[len('not ok - '):] for l in lines if l.startswith('not ok - ')],
                  'skips': [l[len('skip - '):] for l in lines if l.startswith('skip - ')]}))
PY
done

# The integrity scenarios together: the total they moved, with zero mismatches.
if [[ -z $SOAK_ONLY ]]; then
    want=$("$PYTHON" -c "import sys; print(round(float(sys.argv[1]) * float(sys.argv[2])))" \
        "${SOAK_INTEGRITY_BYTES:-$((10 << 30))}" "$SOAK_SCALE")
    line=$("$PYTHON" - "$SOAK_FIGURES" "$want" <<'PY'
import json, sys
parts = [json.loads(l)['data'] for l in open(sys.argv[1]) if json.loads(l)['scenario'].startswith('integrity_')]
total = sum(p['bytes'] for p in parts)
bad = sum(p['mismatch_up'] + p['mismatch_down'] + p['errors'] + p['missing'] for p in parts)
ok = len(parts) == 4 and total >= int(sys.argv[2]) and bad == 0
print('%s - integrity, all relays: %.2f GB both ways (at least %.2f asked) through %d relays, %d bad connections'
      % ('ok' if ok else 'not ok', total / 1e9, int(sys.argv[2]) / 1e9, len(parts), bad))
PY
    )
    echo "$line" | tee -a "$OUT/integrity_moproxy.log"
    if [[ $line == ok* ]]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
fi

T1=$(date +%s)
if "$PYTHON" tests/soak/report.py --figures "$SOAK_FIGURES" --scenarios "$OUT/scenarios.jsonl" --doc "$DOC" \
    --scale "$SOAK_SCALE" --seconds $((T1 - T0)) --ferry "$BUILD/ferry" --full "$full" \
    --totals "$PASSED" "$FAILED" "$SKIPPED"; then
    echo "=== soak: report written to $DOC (section \"## Soak\")"
else
    echo "not ok - soak: could not write the report to $DOC"
    FAILED=$((FAILED + 1))
fi
echo "=== soak: $(( (T1 - T0) / 60 ))m $(( (T1 - T0) % 60 ))s, SOAK_SCALE=$SOAK_SCALE; $SKIPPED skipped"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
