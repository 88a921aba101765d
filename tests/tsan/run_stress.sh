#!/usr/bin/env bash
# TSan stress for `ferry run`'s reload (`make test TSAN=1`): ferry run, built with ThreadSanitizer, with two event
# loops, rereads its file on SIGHUP every 0.2 s while the bench's load generator churns through a listener that
# stays (its relay mode and target change: each loop swaps the context its sockets serve), a listener comes and
# goes (bound by the main thread, handed to the loops, closed by them), and the [server]s of a `via = proxies`
# listener change (the prober, probing them through microsocks every second, keeps or drops their statistics).
# Pass: no ThreadSanitizer report, ferry still runs, every reload logged, the load got through with no failure.
source "$(dirname "$0")/lib.sh"

ns_new NS tsanrun
tsan_peers "$NS" 1081 1082

CONF=$WORK/ferry.ini
# write_config I: version I of the file (atomically).
write_config() {
    local i=$1 relays=(splice adaptive copy)
    {
        printf '[ferry]\nthreads = 2\nlog-level = info\nprobe = 1\ntest-dns = 127.0.0.1:53\n'
        printf 'status = 127.0.0.1:2099\n\n'
        printf '[listener main]\nlisten = 127.0.0.1:7001\ninbound = plain\ntarget = 127.0.0.1:%d\nrelay = %s\n\n' \
            $((2000 + i % 2)) "${relays[i % 3]}"
        printf '[listener socks]\nlisten = 127.0.0.1:7003\ninbound = socks5\nvia = proxies\n\n'
        printf '[server one]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
        ((i % 3 == 1)) && printf 'score base = %d\n' $((RANDOM % 100))
        if ((i % 2)); then
            printf '\n[server two]\naddress = 127.0.0.1:1082\nprotocol = socks5\n'
            printf '\n[listener extra]\nlisten = 127.0.0.1:7004\ninbound = plain\ntarget = 127.0.0.1:2000\n'
        fi
    } >"$CONF.new"
    mv "$CONF.new" "$CONF"
}
write_config 0
start_run "$NS" "$CONF" 7001 7003 || finish
check_threads

bg_ns "$NS" loadgen "$LOADGEN" --target 127.0.0.1:7001 --workload churn --json --header none --connections 20 \
    --duration "$D" --warmup 0 --message-size 64
LOADGEN_PID=$BG_PID
read_status_while "$LOADGEN_PID" http://127.0.0.1:2099/status
hup_while "$LOADGEN_PID" write_config
wait "$LOADGEN_PID"
tsan_checks reloaded
finish
