#!/usr/bin/env bash
# soak, reloads of ferry moproxy under load: every SOAK_RELOAD_INTERVAL seconds (default 0.5) for
# SOAK_RELOAD_SECONDS (default 60 x SOAK_SCALE, at least 8) the server list is rewritten, a random non-empty
# subset of three dante SOCKS5 servers in a random order (some with a score base), and ferry gets SIGHUP, while
# the prober probes them every second and three loads run through it (as their own uid, REDIRECTed to ferry by
# an owner-matched nat OUTPUT rule, in one private namespace): the bench's load generator (churn, 20 workers),
# the probe (good clients at 50/s), and the streamer (hashed streams both ways, three half-close orders, in
# batches, each connection carried by whichever server was first when it opened).
# Pass: zero failed connections in all three, zero hash mismatches, ferry logged every reload, still runs, and
# holds no more sockets than at the start (give or take the prober's probes in flight).
source "$(dirname "$0")/lib.sh"

D=$(scaled "$(knob SOAK_RELOAD_SECONDS 60)" 8)
INTERVAL=$(knob SOAK_RELOAD_INTERVAL 0.5)
LOAD_UID=64123
AS_LOAD="setpriv --reuid=$LOAD_UID --regid=$LOAD_UID --clear-groups"

ns_new NS moreload
soak_sysctls "$NS"
in_ns "$NS" iptables -t nat -A OUTPUT -p tcp -d 127.0.0.1 -m multiport --dports 2000,9000 \
    -m owner --uid-owner "$LOAD_UID" -j REDIRECT --to-ports 1122 || { not_ok "REDIRECT rule"; finish; }
in_ns "$NS" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=5 || note "conntrack TIME_WAIT not shortened"
bg_ns "$NS" echo "$ECHO" --listen 127.0.0.1:2000
bg_ns "$NS" streamer "$STREAMER" server --listen 127.0.0.1:9000 --log "$WORK/server.jsonl"
bg_ns "$NS" dnsmasq dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --pid-file= --listen-address=127.0.0.1 --bind-interfaces --port=53 --address=/#/127.0.0.1
for p in 2000 9000 53; do wait_tcp_listen "$NS" "$p" 5 || { not_ok "peer on port $p listens"; finish; }; done
for i in 1 2 3; do start_dante "$NS" "dante$i" "108$i" 127.0.0.1 || finish; done

LIST=$WORK/servers.ini
# write_list: a random non-empty subset of the three servers, in a random order, into $LIST (atomically).
# (reload_loop passes the reload's number: unused.)
write_list() {
    local order=(1 2 3) i j t n=$((1 + RANDOM % 3))
    for ((i = 2; i > 0; i--)); do
        j=$((RANDOM % (i + 1)))
        t=${order[i]}; order[i]=${order[j]}; order[j]=$t
    done
    for ((i = 0; i < n; i++)); do
        printf '[dante%s]\naddress = 127.0.0.1:108%s\nprotocol = socks5\n' "${order[i]}" "${order[i]}"
        ((RANDOM % 4 == 0)) && printf 'score base = %d\n' $((RANDOM % 50))
    done >"$LIST.new"
    mv "$LIST.new" "$LIST"
}
write_list
start_ferry "$NS" 1122 moproxy -b 127.0.0.1 -p 1122 -l "$LIST" --probe 1 --test-dns 127.0.0.1:53 --threads 2 \
    --stats-bind 127.0.0.1:2099 || finish
sleep 1.5  # the first probe round
fds_before=$(proc_fds "$PROXY_PID")

# The loads, for the whole reload period.
bg_ns "$NS" loadgen $AS_LOAD "$LOADGEN" --target 127.0.0.1:2000 --workload churn --json --header none \
    --connections 20 --duration "$D" --warmup 0 --message-size 64
LOADGEN_PID=$BG_PID
bg_ns "$NS" probe $AS_LOAD "$PROBE" --connect 127.0.0.1:2000 --rate 50 --duration "$D"
PROBE_PID=$BG_PID
chmod 711 "$WORK"  # the load's uid writes its log here
: >"$WORK/client.jsonl"
chown "$LOAD_UID" "$WORK/client.jsonl"
STREAM_WRAP=$AS_LOAD stream_batches "$NS" 127.0.0.1:9000

reload_loop "$D" "$INTERVAL" write_list
touch "$WORK/stop"
wait "$LOADGEN_PID" "$PROBE_PID" "$STREAM_LOOP"
sleep 1
reload_results reload_moproxy "$D" "reloaded server list" "$WORK/server.jsonl"
# The REDIRECT sent all three loads to ferry, and ferry through the servers: a "relaying" line for each.
check_py "ferry relayed every connection of the three loads through a server (its \"relaying\" lines)" \
    "j0 >= j1['completed'] + j2['attempts'] + j3['connections']" \
    "$(log_count "$PROXY_LOG" relaying)" "$LOAD" "$GOOD" "$STREAMS"
check "ferry still runs" proxy_alive
wait_quiet "$NS" 1122 10
check_py "ferry holds no more sockets than before (+ 3 probes in flight at most)" \
    "j1['sockets'] <= j0['sockets'] + 3 and j1['other'] == j0['other']" "$fds_before" "$(proc_fds "$PROXY_PID")"

finish
