#!/usr/bin/env bash
# soak, reloads of `ferry run` under load: every SOAK_RELOAD_INTERVAL seconds (default 0.5) for
# SOAK_RELOAD_SECONDS (default 60 x SOAK_SCALE, at least 8) the file changes and ferry gets SIGHUP: listener
# "main" (plain, the streamer's) switches between two streamer servers and through the three relay modes with
# and without an idle deadline; listener "pp" (PROXY v1 in, from the client's own address, to the echo: the
# bench's load generator and the probe) switches relay modes and header deadlines; listener "extra" comes and
# goes; the [server] list of listener "socks" changes. Meanwhile the load generator churns through "pp"
# (20 workers, a new spoofed client each), the probe sends good clients at 50/s, and the streamer moves hashed
# streams both ways through "main" in batches. The last reload puts the first file back.
# Pass: zero failed connections in all three loads, zero hash mismatches, every reload logged, ferry still
# runs, and holds the sockets it held at the start.
source "$(dirname "$0")/lib.sh"

D=$(scaled "$(knob SOAK_RELOAD_SECONDS 60)" 8)
INTERVAL=$(knob SOAK_RELOAD_INTERVAL 0.5)

ns_new NS runreload
soak_sysctls "$NS"
mm_routing "$NS"  # "pp" connects from the clients' own addresses: their replies come back to lo
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000
bg_ns "$NS" streamer0 "$STREAMER" server --listen 127.0.0.1:9000 --log "$WORK/server0.jsonl"
bg_ns "$NS" streamer1 "$STREAMER" server --listen 127.0.0.1:9001 --log "$WORK/server1.jsonl"
for p in 2000 9000 9001; do wait_tcp_listen "$NS" "$p" 5 || { not_ok "peer on port $p listens"; finish; }; done

CONF=$WORK/ferry.ini
# write_config I: version I of the file (atomically).
write_config() {
    local i=$1 relays=(splice adaptive copy)
    {
        printf '[ferry]\nthreads = 2\nlog-level = info\nprobe = 0\n\n'
        printf '[listener main]\nlisten = 127.0.0.1:7001\ninbound = plain\ntarget = 127.0.0.1:%d\n' $((9000 + i % 2))
        printf 'relay = %s\nidle-timeout = %s\n\n' "${relays[i % 3]}" "$( ((i % 2)) && echo 60s || echo 0)"
        printf '[listener pp]\nlisten = 127.0.0.1:7002\ninbound = proxy-protocol\nsource = client\n'
        printf 'target = 127.0.0.1:2000\nrelay = %s\nheader-timeout = %s\n\n' "${relays[(i + 1) % 3]}" \
            "$( ((i % 2)) && echo 7s || echo 5s)"
        printf '[listener socks]\nlisten = 127.0.0.1:7003\ninbound = socks5\nvia = proxies\n\n'
        printf '[server one]\naddress = 127.0.0.1:1081\nprotocol = socks5\n'
        if ((i % 2)); then
            printf '\n[server two]\naddress = 127.0.0.1:1082\nprotocol = http\n'
            printf '\n[listener extra]\nlisten = 127.0.0.1:7004\ninbound = plain\ntarget = 127.0.0.1:2000\n'
        fi
    } >"$CONF.new"
    mv "$CONF.new" "$CONF"
}
write_config 0
start_ferry "$NS" 7001 run "$CONF" || finish
wait_tcp_listen "$NS" 7002 5 && wait_tcp_listen "$NS" 7003 5 || { not_ok "ferry run listens"; finish; }
fds_before=$(proc_fds "$PROXY_PID")

bg_ns "$NS" loadgen "$LOADGEN" --target 127.0.0.1:7002 --workload churn --json --header v1 --header-src-range \
    --header-src-offset $((RANDOM * 128)) --connections 20 --duration "$D" --warmup 0 --message-size 64
LOADGEN_PID=$BG_PID
# The probe's spoofed clients come from far up the same range: never one of the load generator's.
bg_ns "$NS" probe "$PROBE" --connect 127.0.0.1:7002 --header v1 --src-base 12000000 --rate 50 --duration "$D"
PROBE_PID=$BG_PID
stream_batches "$NS" 127.0.0.1:7001

reload_loop "$D" "$INTERVAL" write_config
touch "$WORK/stop"
wait "$LOADGEN_PID" "$PROBE_PID" "$STREAM_LOOP"
write_config 0
kill -HUP "$PROXY_PID"
RELOADS=$((RELOADS + 1))
sleep 1
reload_results reload_run "$D" reloaded "$WORK/server0.jsonl" "$WORK/server1.jsonl"
check "both of main's targets carried streams" test -s "$WORK/server0.jsonl" -a -s "$WORK/server1.jsonl"
check "ferry still runs" proxy_alive
wait_quiet "$NS" 7001 10
wait_quiet "$NS" 7002 10
check_fds_back "after the reloads (the first file again)" "$fds_before" "$(proc_fds "$PROXY_PID")" "$(pool_fds 2)"

finish
