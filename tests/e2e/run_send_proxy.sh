#!/usr/bin/env bash
# ferry run: REDIRECT or TPROXY in, direct to the original destination with a PROXY header first.
#
#   C 198.51.100.2 -- R (ferry run; TPROXY and REDIRECT rules on its C side) -- S 203.0.113.2 (HAProxy 2.6,
#     2001:db8:1::2                                                                2001:db8:2::2  accept-proxy)
#
# Four listeners, each `via = direct` from R's own address, with a PROXY header in front of the client's bytes:
#   tp-v2  inbound = tproxy,   send-proxy = v2: C's connections to S ports 80-85 (tp_topology's TPROXY rules)
#   tp-v1  inbound = tproxy,   send-proxy = v1: ports 86-89 (a TPROXY rule to 127.0.0.1:9092 / [::1]:9092)
#   rd-v2  inbound = redirect, send-proxy = v2: ports 90-95 (iptables nat REDIRECT to 2080)
#   rd-v1  inbound = redirect, send-proxy = v1: ports 96-99 (REDIRECT to 2081)
# On S, from each listener's first port P: HAProxy on P (`bind ... accept-proxy`, logging the client address it
# took from the header, then relaying to an echo server), the tests' server on P+1 (records the first bytes it
# gets), HAProxy on P+2 (to a server that echoes only after the client's EOF).
# For each listener, IPv4 and IPv6:
#  - HAProxy's log line has C's own address and port (the client's socket), and the original destination;
#  - the header ferry sent is exactly the one for C's address and port and the original destination, in the
#    configured version, followed by the client's bytes, on a TCP connection from R's own address;
#  - bytes intact both ways through HAProxy (hashes at the client and at the echo server; HAProxy's counts);
#  - half-close: the client shuts down its write side after 1 MB and still gets the whole echo, then EOF;
#  - ferry's "relaying" line: the listener, the client, the destination, via direct, from R's own address.
source "$(dirname "$0")/lib.sh"

if ! command -v haproxy >/dev/null; then
    not_ok "haproxy installed" "run make deps"
    finish
fi

tp_topology
# tp-v1's TPROXY rule goes before tp_topology's rule for 80-89 (after its -m socket rules, which only match
# packets of flows that already have a socket).
in_ns "$NS_R" iptables -t mangle -I PREROUTING 3 -i "$TP_IN" -p tcp --dport 86:89 -j TPROXY --tproxy-mark 1 \
    --on-port 9092 --on-ip 127.0.0.1
in_ns "$NS_R" ip6tables -t mangle -I PREROUTING 3 -i "$TP_IN" -p tcp --dport 86:89 -j TPROXY --tproxy-mark 1 \
    --on-port 9092 --on-ip ::1
for t in iptables ip6tables; do
    in_ns "$NS_R" $t -t nat -A PREROUTING -i "$TP_IN" -p tcp --dport 90:95 -j REDIRECT --to-ports 2080
    in_ns "$NS_R" $t -t nat -A PREROUTING -i "$TP_IN" -p tcp --dport 96:99 -j REDIRECT --to-ports 2081
done
R4=203.0.113.1
R6=2001:db8:2::1

start_server "$NS_S" echo "127.0.0.1:9000"
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "127.0.0.1:9001"
HC_LOG=$SERVER_LOG
start_server "$NS_S" sink "$TP_S4:81" "[$TP_S6]:81" "$TP_S4:87" "[$TP_S6]:87" "$TP_S4:91" "[$TP_S6]:91" \
    "$TP_S4:97" "[$TP_S6]:97" -- --record-bytes 256
RECORD_LOG=$SERVER_LOG

# binds PORT...: HAProxy bind lines for S's two addresses on each PORT, taking a PROXY header (v1 or v2).
binds() {
    local p
    for p in "$@"; do
        echo "    bind $TP_S4:$p accept-proxy"
        echo "    bind [$TP_S6]:$p accept-proxy"
    done
}
cat >"$WORK/haproxy.cfg" <<CFG
global
    maxconn 200
    log stdout format raw local0
defaults
    mode tcp
    log global
    log-format "ferry-e2e fe=%f ci=%ci cp=%cp fi=%fi fp=%fp up=%U down=%B ts=%ts"
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe_echo
$(binds 80 86 90 96)
    default_backend be_echo
frontend fe_halfclose
$(binds 82 88 92 98)
    default_backend be_halfclose
backend be_echo
    server echo 127.0.0.1:9000
backend be_halfclose
    server halfclose 127.0.0.1:9001
CFG
bg_ns "$NS_S" haproxy haproxy -f "$WORK/haproxy.cfg" -db
HAPROXY_OUT=$WORK/haproxy.out
for p in 80 82 86 88 90 92 96 98; do
    wait_tcp_listen "$NS_S" "$p" || { not_ok "haproxy listens on port $p" "$(cat "$WORK/haproxy.err")"; finish; }
done

cat >"$WORK/ferry.ini" <<INI
[ferry]
log-level = debug

[listener tp-v2]
listen = 127.0.0.1:9091, [::1]:9091
inbound = tproxy
via = direct
send-proxy = v2

[listener tp-v1]
listen = 127.0.0.1:9092, [::1]:9092
inbound = tproxy
send-proxy = v1

[listener rd-v2]
listen = 198.51.100.1:2080, [2001:db8:1::1]:2080
inbound = redirect
send-proxy = v2

[listener rd-v1]
listen = 198.51.100.1:2081, [2001:db8:1::1]:2081
inbound = redirect
send-proxy = v1
INI
check "ferry run --check accepts the configuration" in_ns "$NS_R" "$FERRY" run --check "$WORK/ferry.ini"
start_run "$NS_R" "$WORK/ferry.ini" 9091 9092 2080 2081 || finish

# haproxy_line ADDR: HAProxy's log line for the connection whose client (from the header) was ADDR (waits 5 s).
haproxy_line() {
    local ip=${1%:*} port=${1##*:} i
    ip=${ip#[}
    ip=${ip%]}
    for ((i = 0; i < 100; i++)); do
        if grep -m1 -E "^ferry-e2e .* ci=$(re_escape "$ip") cp=$port " "$HAPROXY_OUT"; then return 0; fi
        sleep 0.05
    done
    return 1
}
# field LINE KEY: KEY's value in a "key=value ..." line.
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
host_of() { local h=${1%:*}; h=${h#[}; printf '%s' "${h%]}"; }

# through_haproxy LISTENER NAME DEST: 300 kB each way from C to DEST, an HAProxy frontend behind LISTENER.
ECHOES=0
through_haproxy() {
    local listener=$1 name=$2 dest=$3 c s h addr
    c=$(client "$NS_C" --connect "$dest" --send-bytes 300000 --seed "$RANDOM" --expect-bytes 300000 --timeout 20)
    addr=$(jget "$c" local)
    ECHOES=$((ECHOES + 1))
    s=$(server_nth "$ECHOES" "$ECHO_LOG")
    check_py "$name: bytes intact both ways through HAProxy" \
        "j0['error'] is None and j1 is not None and j0['sent'] == j1['bytes_in'] == 300000 and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == j1['bytes_out'] == 300000 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    if ! h=$(haproxy_line "$addr"); then
        not_ok "$name: HAProxy saw the client's own address and port ($addr)" "client: $c" \
            "HAProxy's last lines:" "$(tail -n 3 "$HAPROXY_OUT")"
        return
    fi
    ok "$name: HAProxy saw the client's own address and port ($addr)"
    check_eq "$name: HAProxy saw the original destination" "$(host_of "$dest") ${dest##*:}" \
        "$(field "$h" "fi") $(field "$h" fp)" "$h"
    check_eq "$name: HAProxy counted 300000 bytes each way, closed normally" "300000 300000 --" \
        "$(field "$h" up) $(field "$h" down) $(field "$h" ts)" "$h"
    check "$name: ferry's \"relaying\" line" log_find --msg relaying --field listener="$listener" \
        --field remoteAddr="$addr" --field client="$addr" --field destination="$dest" --field via=direct \
        --field targetAddr="$dest" --field source=own
}

# header LISTENER VERSION NAME DEST: the first bytes at S's recording server, and where they came from.
RECORDS=0
header() {
    local listener=$1 version=$2 name=$3 dest=$4 c s want r
    c=$(client "$NS_C" --connect "$dest" --send-bytes 20 --seed 3 --shutdown-after-send --timeout 10)
    RECORDS=$((RECORDS + 1))
    s=$(server_nth "$RECORDS" "$RECORD_LOG")
    want=$(hdr "$version" --src "$(jget "$c" local)" --dst "$dest")
    if [[ $dest == \[* ]]; then r=$R6; else r=$R4; fi
    check_py "$name: S got exactly the PROXY $version header for the client and the destination, then the client's bytes" \
        "j1 is not None and j1['head_in'].startswith('$want') and j1['bytes_in'] == len('$want') // 2 + j0['sent'] == len('$want') // 2 + 20" "$c" "$s"
    check_eq "$name: on a connection from R's own address" "$r" "$(host_of "$(jget "$s" peer)")" "server: $s"
}

halfclose() {
    local name=$1 dest=$2 c s
    c=$(client "$NS_C" --connect "$dest" --send-bytes 1000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    HCS=$((HCS + 1))
    s=$(server_nth "$HCS" "$HC_LOG")
    check_py "$name: the echo server got every byte, then EOF" \
        "j1 is not None and j1['bytes_in'] == j0['sent'] == 1000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_py "$name: the client got the whole echo after its own shutdown, then EOF" \
        "j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 1000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
    if haproxy_line "$(jget "$c" local)" >/dev/null; then ok "$name: HAProxy saw the client's own address"; else
        not_ok "$name: HAProxy saw the client's own address" "client: $c" "$(tail -n 3 "$HAPROXY_OUT")"; fi
}
HCS=0

# listener NAME VERSION FIRST_PORT
for spec in "tp-v2 v2 80" "tp-v1 v1 86" "rd-v2 v2 90" "rd-v1 v1 96"; do
    read -r l v p <<<"$spec"
    through_haproxy "$l" "$l, IPv4" "$TP_S4:$p"
    through_haproxy "$l" "$l, IPv6" "[$TP_S6]:$p"
    header "$l" "$v" "$l, IPv4" "$TP_S4:$((p + 1))"
    header "$l" "$v" "$l, IPv6" "[$TP_S6]:$((p + 1))"
    halfclose "$l, half-close, IPv4" "$TP_S4:$((p + 2))"
    halfclose "$l, half-close, IPv6" "[$TP_S6]:$((p + 2))"
done

check_eq "HAProxy logged one line per connection, each with a client of C" "16 16" \
    "$(grep -c '^ferry-e2e ' "$HAPROXY_OUT") $(grep -cE '^ferry-e2e .* ci=(198\.51\.100\.2|2001:db8:1::2) ' "$HAPROXY_OUT")" \
    "$(tail -n 5 "$HAPROXY_OUT")"
check "ferry is still running" proxy_alive
finish
