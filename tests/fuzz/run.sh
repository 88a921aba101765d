#!/usr/bin/env bash
# tests/fuzz/run.sh [NAME...]: runs the libFuzzer targets $FUZZ_DIR/NAME_fuzz one after the other (called by
# `make fuzz`, which builds them first; every tests/fuzz/NAME_fuzz.cpp when no NAME is given).
#   env: FUZZ_DIR (build/fuzz), FUZZ_SECONDS (60 per target), FUZZ_NICE (10: the niceness the fuzzers run at),
#   FUZZ_RUNS (stop a target after this many executions too; 0: only the time), FERRY_FUZZ_PREFIXES (sample: check
#   every prefix of one input in 16 only, for long runs; set by default when FUZZ_SECONDS > 120).
# Each target starts from a scratch copy of its seed corpus tests/fuzz/corpus/NAME/ in $FUZZ_DIR/work/NAME/ (new
# inputs go there, never into tests/), with its dictionary tests/fuzz/NAME.dict and the -max_len below. One line
# per target: "ok - fuzz NAME: ..." with executions, edges covered (cov), features (ft) and the corpus size, or
# "not ok - fuzz NAME: ..." with the end of its log and the crash input, kept in $FUZZ_DIR/artifacts/NAME/
# (reproduce with `$FUZZ_DIR/NAME_fuzz FILE`). The last line is "N passed, N failed" (a target is one test);
# the exit status is non-zero iff a target failed.
set -u

cd "$(dirname "$0")/../.." || exit 2
FUZZ_DIR=${FUZZ_DIR:-build/fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_NICE=${FUZZ_NICE:-10}
FUZZ_RUNS=${FUZZ_RUNS:-0}
if ((FUZZ_SECONDS > 120)); then export FERRY_FUZZ_PREFIXES=${FERRY_FUZZ_PREFIXES:-sample}; fi
runs=()
((FUZZ_RUNS > 0)) && runs=(-runs="$FUZZ_RUNS")

# The longest input each target gets: a little over the longest message it parses, or what a configuration file
# of that kind plausibly holds. http_connect and status_request go past their parsers' size limits (16384 and
# 8192 bytes) so that the "header too large" paths run.
declare -A MAX_LEN=(
    [proxy_protocol]=1024
    [socks5_server]=600
    [socks5_client]=300
    [socks5_udp]=600
    [http_connect]=17000
    [srcproxy_header]=320
    [dns_probe]=64
    [status_request]=9000
    [json5]=4096
    [ini]=4096
    [server_list]=4096
    [subnets]=2048
    [udp_datagram]=1024
    [srcproxy_acl]=1024
    [takeover]=4096
    [destination_name]=20000
    [policy]=4096
)
targets=("$@")
if ((${#targets[@]} == 0)); then
    for f in tests/fuzz/*_fuzz.cpp; do
        f=${f##*/}
        targets+=("${f%_fuzz.cpp}")
    done
fi

passed=0
failed=0
rows=()

# "#123 DONE cov: 456 ft: 789 corp: 12/3456b lim: ... exec/s: 1000 rss: 40Mb" -> the value after `key`.
field() { sed -nE "s#.* $1 ([0-9]+).*#\\1#p" <<<"$2"; }

for t in "${targets[@]}"; do
    bin=$FUZZ_DIR/${t}_fuzz
    seeds=tests/fuzz/corpus/$t
    dict=tests/fuzz/$t.dict
    work=$FUZZ_DIR/work/$t
    artifacts=$FUZZ_DIR/artifacts/$t
    log=$work/fuzz.log
    if [[ ! -x $bin || ! -d $seeds || ! -f $dict || -z ${MAX_LEN[$t]:-} ]]; then
        echo "not ok - fuzz $t: missing $bin, $seeds, $dict or its -max_len in tests/fuzz/run.sh"
        failed=$((failed + 1))
        rows+=("$(printf '%-16s %s' "$t" "missing")")
        continue
    fi
    rm -rf "$work" "$artifacts"
    mkdir -p "$work/corpus" "$artifacts"
    cp -R "$seeds/." "$work/corpus/"
    seed_count=$(find "$seeds" -type f | wc -l)
    echo "=== fuzz $t: ${FUZZ_SECONDS}s, -max_len=${MAX_LEN[$t]}, $seed_count seeds"
    nice -n "$FUZZ_NICE" "$bin" -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$t]}" -dict="$dict" \
        -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 -artifact_prefix="$artifacts/" "${runs[@]}" \
        "$work/corpus" >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    [[ -z $done_line ]] && done_line=$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -n 1)
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    [[ -z $execs ]] && execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$done_line")
    cov=$(field cov: "$done_line")
    ft=$(field ft: "$done_line")
    speed=$(field exec/s: "$done_line")
    corpus=$(find "$work/corpus" -type f | wc -l)
    summary="${execs:-?} execs (${speed:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus $seed_count -> $corpus files"
    if ((rc == 0)); then
        echo "ok - fuzz $t: $summary"
        passed=$((passed + 1))
        rows+=("$(printf '%-16s %s' "$t" "$summary")")
    else
        echo "--- last lines of $log"
        tail -n 40 "$log"
        crash=$(ls -t "$artifacts" 2>/dev/null | head -n 1)
        echo "not ok - fuzz $t: exit status $rc after $summary; input: $artifacts/${crash:-?}"
        failed=$((failed + 1))
        rows+=("$(printf '%-16s %s' "$t" "FAILED (exit $rc): $artifacts/${crash:-?}")")
    fi
done

echo "=== fuzz summary (${FUZZ_SECONDS}s per target)"
printf '%s\n' "${rows[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
