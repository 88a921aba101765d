#!/usr/bin/env bash
# ferry run: TPROXY in, through the ranked SOCKS5 / HTTP CONNECT servers out.
#
#   C 198.51.100.2 -- R (tp_topology's TPROXY rules: ports 80-89 to 127.0.0.1:9091 / [::1]:9091) -- S 203.0.113.2
#     2001:db8:1::2                                                                                 2001:db8:2::2
#
# `ferry run` on R: one listener (`inbound = tproxy`, `via = proxies`) and four [server]s on R's loopback, probed
# with DNS over TCP to dnsmasq on S and ranked by `score base` once probed:
#   socks  microsocks                         SOCKS5                                     out from .11 / ::11
#   http   tinyproxy                          HTTP CONNECT                               out from .12 / ::12
#   ss     ss-local -> ss-server (both on R)  SOCKS5, pipelined (socks fake handshaking) out from .13 / ::13
#   hc     the tests' SOCKS5 server           SOCKS5, forwards half-close                out from .14 / ::14
# Each proxy runs as its own uid and R routes each uid's connections from its own addresses (ip rule uidrange,
# route src; microsocks' and tinyproxy's bind options take one family only), so S's log says which proxy
# carried each connection, IPv4 and IPv6.
#  - through each proxy, IPv4 and IPv6: bytes intact both ways; S saw that proxy's address; it was ranked first
#    on the status page; ferry's "relaying" line names it in "via", with the client's own address and the
#    original destination;
#  - failover, three times (socks -> http -> ss -> hc): the best proxy is killed right after a probe round, so
#    real traffic finds it dead before the prober does; the next connections succeed through the next one with
#    no failure the client sees, and the log has "proxy attempt failed" for the dead one, once;
#  - half-close both ways through hc (Debian 12's microsocks 1.0.3, tinyproxy 1.11.1 and ss-local 3.3.5 close
#    both directions at the client's first EOF, so through them a half-closed client gets no reply whatever
#    ferry does: seen by hand, 2026-12);
#  - the status page lists the four servers, the dead ones down with their failures counted;
#  - the proxies' own connections to S are not intercepted: ferry relayed C's connections only, and the TPROXY
#    rule on R's S side matched no packet (the -m socket rule hands the replies to the proxies' sockets).
source "$(dirname "$0")/lib.sh"

for tool in microsocks tinyproxy ss-local ss-server dnsmasq curl setpriv; do
    if ! command -v "$tool" >/dev/null; then
        not_ok "$tool installed" "run make deps"
        finish
    fi
done

tp_topology
mo_dns
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80"
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$TP_S4:81" "[$TP_S6]:81"
HC_LOG=$SERVER_LOG
SOURCE_BYTES=2000000
start_server "$NS_S" source "$TP_S4:82" "[$TP_S6]:82" -- --bytes "$SOURCE_BYTES" --seed 5
SOURCE_LOG=$SERVER_LOG

# out_from UID N: R's connections made by processes of UID leave from 203.0.113.N and 2001:db8:2::N.
out_from() {
    local uid=$1 n=$2 table=$((100 + $2))
    ip -n "$NS_R" addr add "203.0.113.$n/24" dev "$TP_OUT"
    ip -n "$NS_R" addr add "2001:db8:2::$n/64" dev "$TP_OUT" nodad
    ip -n "$NS_R" rule add uidrange "$uid-$uid" lookup "$table"
    ip -n "$NS_R" route add 203.0.113.0/24 dev "$TP_OUT" src "203.0.113.$n" table "$table"
    ip -n "$NS_R" -6 rule add uidrange "$uid-$uid" lookup "$table"
    ip -n "$NS_R" -6 route add 2001:db8:2::/64 dev "$TP_OUT" src "2001:db8:2::$n" table "$table"
}
# listening NAME PORT: the proxy NAME listens on R's 127.0.0.1:PORT (else not ok, and the end).
listening() {
    wait_tcp_listen "$NS_R" "$2" 5 || { not_ok "$1 listens on 127.0.0.1:$2" "$(cat "$WORK/$1.err")"; finish; }
}

out_from 64011 11
bg_ns "$NS_R" socks setpriv --reuid=64011 --regid=64011 --clear-groups microsocks -i 127.0.0.1 -p 1081
SOCKS_PID=$BG_PID
listening socks 1081

out_from 64012 12
cat >"$WORK/tinyproxy.conf" <<CONF
User 64012
Group 64012
Port 1082
Listen 127.0.0.1
Timeout 60
MaxClients 100
Allow 127.0.0.1
ConnectPort 53
ConnectPort 80
ConnectPort 81
ConnectPort 82
LogLevel Info
CONF
bg_ns "$NS_R" http tinyproxy -d -c "$WORK/tinyproxy.conf"
HTTP_PID=$BG_PID
listening http 1082

out_from 64013 13
bg_ns "$NS_R" ss-server setpriv --reuid=64013 --regid=64013 --clear-groups \
    ss-server -s 127.0.0.1 -p 8388 -k ferry-test -m chacha20-ietf-poly1305
listening ss-server 8388
bg_ns "$NS_R" ss ss-local -s 127.0.0.1 -p 8388 -b 127.0.0.1 -l 1083 -k ferry-test -m chacha20-ietf-poly1305
SS_PID=$BG_PID
listening ss 1083

out_from 64014 14
bg_ns "$NS_R" hc setpriv --reuid=64014 --regid=64014 --clear-groups "$PYTHON" "$PEER" socks5d --listen 127.0.0.1:1084
listening hc 1084

cat >"$WORK/ferry.ini" <<INI
[ferry]
log-level = debug
probe = 2
test-dns = $TP_S4:53
max-wait = 2
status = $MO_STATS

[listener intercept]
listen = 127.0.0.1:9091, [::1]:9091
inbound = tproxy
via = proxies
connect-timeout = 5s

[server socks]
address = 127.0.0.1:1081
protocol = socks5

[server http]
address = 127.0.0.1:1082
protocol = http
score base = 1000

[server ss]
address = 127.0.0.1:1083
protocol = socks5
socks fake handshaking = true
score base = 2000

[server hc]
address = 127.0.0.1:1084
protocol = socks5
score base = 3000
INI
check "ferry run --check accepts the configuration" in_ns "$NS_R" "$FERRY" run --check "$WORK/ferry.ini"
start_run "$NS_R" "$WORK/ferry.ini" 9091 "${MO_STATS##*:}" || finish

# The probes give every server a delay; the score bases then order them socks, http, ss, hc.
for ((i = 0; i < 50; i++)); do
    mo_status | "$PYTHON" -c "import json,sys; s=json.load(sys.stdin)['servers']; sys.exit(0 if all(x['delay_ms'] is not None for x in s) and [x['tag'] for x in s] == ['socks','http','ss','hc'] else 1)" 2>/dev/null && break
    sleep 0.2
done
check_py "status page: the four servers, probed, up, ranked socks, http, ss, hc" \
    "[(s['rank'], s['tag'], s['protocol'], s['address'], s['up'], s['delay_ms'] is not None) for s in j0['servers']] == [(1, 'socks', 'SOCKSv5', '127.0.0.1:1081', True, True), (2, 'http', 'HTTP', '127.0.0.1:1082', True, True), (3, 'ss', 'SOCKSv5', '127.0.0.1:1083', True, True), (4, 'hc', 'SOCKSv5', '127.0.0.1:1084', True, True)]" \
    "$(mo_status)"

# peer_ip JSON: the IP of a server record's peer, without brackets or port.
peer_ip() { jget "$1" peer | sed -E 's/^\[?([^]]*)\]?:[0-9]+$/\1/'; }

# The address of each server ([server] address), ferry's "targetAddr" when it carries a connection.
declare -A SERVER_ADDR=([socks]=127.0.0.1:1081 [http]=127.0.0.1:1082 [ss]=127.0.0.1:1083 [hc]=127.0.0.1:1084)

# relay NAME DEST TAG N: one intercepted connection from C to DEST, 256 KiB each way, which must be carried by
# TAG (ranked first; its outgoing addresses end in N).
ECHOES=0
relay() {
    local name=$1 dest=$2 tag=$3 n=$4 c s want
    check_py "$name: $tag is ranked first" "j0['servers'][0]['tag'] == '$tag' and j0['servers'][0]['up']" "$(mo_status)"
    c=$(client "$NS_C" --connect "$dest" --send-bytes 262144 --seed "$RANDOM" --expect-bytes 262144 --timeout 20)
    ECHOES=$((ECHOES + 1))
    s=$(server_nth "$ECHOES" "$ECHO_LOG")
    check_py "$name: no failure the client sees, 256 KiB each way, hashes equal" \
        "j0['error'] is None and j1 is not None and j0['sent'] == j1['bytes_in'] == 262144 and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == j1['bytes_out'] == 262144 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    if [[ $dest == \[* ]]; then want=2001:db8:2::$n; else want=203.0.113.$n; fi
    check_eq "$name: S saw $tag's address" "$want" "$(peer_ip "$s")" "client: $c" "server: $s"
    check "$name: ferry's \"relaying\" line names $tag in via, the client's own address and the destination" \
        log_find --msg relaying --field listener=intercept --field via="$tag" --field client="$(jget "$c" local)" \
        --field remoteAddr="$(jget "$c" local)" --field destination="$dest" --field targetAddr="${SERVER_ADDR[$tag]}" --field source=own
}

attempt_failures() { grep -c '"msg":"proxy attempt failed"' "$PROXY_LOG"; }
probes_of() { grep -c "\"msg\":\"probe\",.*\"server\":\"$1\"" "$PROXY_LOG"; }

# kill_best TAG PID: kill TAG's process right after a probe round went through it, so that the next connection
# (well within the 2 s probe interval) meets it dead before the next round does.
kill_best() {
    local tag=$1 pid=$2 n i
    n=$(probes_of "$tag")
    for ((i = 0; i < 100; i++)); do
        (($(probes_of "$tag") > n)) && break
        sleep 0.05
    done
    ((i < 100)) || not_ok "a probe round through $tag within 5 s, before killing it" "$(tail -n 5 "$PROXY_LOG")"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
}

# failover DEAD PID NEXT N: kill DEAD (ranked first); an IPv4 connection then goes through NEXT at once.
failover() {
    local dead=$1 pid=$2 next=$3 n=$4 before c s
    before=$(attempt_failures)
    kill_best "$dead" "$pid"
    c=$(client "$NS_C" --connect "$TP_S4:80" --send-bytes 262144 --seed "$RANDOM" --expect-bytes 262144 --timeout 20)
    ECHOES=$((ECHOES + 1))
    s=$(server_nth "$ECHOES" "$ECHO_LOG")
    check_py "$dead killed: the next connection succeeds, bytes intact both ways" \
        "j0['error'] is None and j1 is not None and j0['sent'] == j1['bytes_in'] == 262144 and j0['received'] == 262144 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
    check_eq "$dead killed: S saw $next's address" "203.0.113.$n" "$(peer_ip "$s")" "client: $c" "server: $s"
    check "$dead killed: the log says \"proxy attempt failed\" for $dead (connection refused)" \
        log_find --msg "proxy attempt failed" --field listener=intercept --field server="$dead" \
        --field client="$(jget "$c" local)" --field destination="$TP_S4:80" --contains error="refused"
    check "$dead killed: ferry's \"relaying\" line names $next in via" \
        log_find --msg relaying --field via="$next" --field client="$(jget "$c" local)" --field destination="$TP_S4:80"
    sleep 0.3  # the prober takes the report from the loop at once
    check_py "$dead killed: $dead is down and last, its failure counted; $next is first" \
        "j0['servers'][0]['tag'] == '$next' and j0['servers'][-1]['tag'] == '$dead' and not j0['servers'][-1]['up'] and j0['servers'][-1]['conn_error'] >= 1" "$(mo_status)"
    check_eq "$dead killed: one attempt through $dead failed, later ones did not try it" \
        $((before + 1)) "$(attempt_failures)"
}

relay "socks, IPv4" "$TP_S4:80" socks 11
relay "socks, IPv6" "[$TP_S6]:80" socks 11

failover socks "$SOCKS_PID" http 12
relay "http, IPv4" "$TP_S4:80" http 12
relay "http, IPv6" "[$TP_S6]:80" http 12

failover http "$HTTP_PID" ss 13
relay "ss, IPv4" "$TP_S4:80" ss 13
relay "ss, IPv6" "[$TP_S6]:80" ss 13

failover ss "$SS_PID" hc 14
relay "hc, IPv4" "$TP_S4:80" hc 14
relay "hc, IPv6" "[$TP_S6]:80" hc 14
check_eq "no other attempt failed" 3 "$(attempt_failures)"

# Half-close through hc: the client sends 1 MB and shuts down its write side; S echoes after that EOF.
halfclose() {
    local name=$1 dest=$2 c s
    c=$(client "$NS_C" --connect "$dest" --send-bytes 1000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    HCS=$((HCS + 1))
    s=$(server_nth "$HCS" "$HC_LOG")
    check_py "$name: S got every byte, then the client's EOF" \
        "j1 is not None and j1['bytes_in'] == j0['sent'] == 1000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_py "$name: the client got the whole reply after its own shutdown, then EOF" \
        "j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 1000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
    check_eq "$name: carried by hc" hc "$(log_find --msg relaying --field client="$(jget "$c" local)" | "$PYTHON" "$PEER" get via)"
}
# The other way: S sends 2 MB and its FIN first; the client still sends 1 MB after half a second.
server_first() {
    local name=$1 dest=$2 c s
    c=$(client "$NS_C" --connect "$dest" --pre-payload-delay 0.5 --send-bytes 1000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    SOURCES=$((SOURCES + 1))
    s=$(server_nth "$SOURCES" "$SOURCE_LOG")
    check_py "$name: the client got all of S's bytes, then EOF" \
        "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $SOURCE_BYTES and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
    check_py "$name: S still got everything the client sent after S's EOF" \
        "j1 is not None and j1['error'] is None and j1['bytes_in'] == j0['sent'] == 1000000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}
HCS=0
SOURCES=0
halfclose "client half-close through hc, IPv4" "$TP_S4:81"
halfclose "client half-close through hc, IPv6" "[$TP_S6]:81"
server_first "server half-close first through hc, IPv4" "$TP_S4:82"
server_first "server half-close first through hc, IPv6" "[$TP_S6]:82"

check_py "status page: hc first and up; socks, http and ss down with a failure each; connections counted" \
    "[(s['tag'], s['up']) for s in j0['servers']][0] == ('hc', True) and {s['tag'] for s in j0['servers'] if not s['up']} == {'socks', 'http', 'ss'} and all(s['conn_error'] >= 1 for s in j0['servers'][1:]) and {s['tag']: s['conn_total'] for s in j0['servers']} == {'socks': 2, 'http': 3, 'ss': 3, 'hc': 7}" \
    "$(mo_status)"

# Only C's connections were relayed: none of the proxies' own connections to S came back to ferry.
check_py "ferry relayed only connections from C (15 of them), never one of the proxies' own" \
    "len(j0) == 15 and all(l['client'].startswith(('198.51.100.2:', '[2001:db8:1::2]:')) for l in j0)" \
    "$(grep '"msg":"relaying"' "$PROXY_LOG" | "$PYTHON" -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin]))')"
# rule_packets TARGET DEV: packets that R's mangle PREROUTING rules with TARGET for interface DEV matched (IPv4
# and IPv6).
rule_packets() {
    for t in iptables ip6tables; do in_ns "$NS_R" $t -t mangle -L PREROUTING -v -n -x; done |
        awk -v target="$1" -v dev="$2" '$3 == target && $6 == dev { n += $1 } END { print n + 0 }'
}
check_py "the TPROXY rule on R's C side took C's connections" "j0 >= 15" "$(rule_packets TPROXY "$TP_IN")"
check_py "the -m socket rule on R's S side took the replies to the proxies' own sockets" \
    "j0 > 0" "$(rule_packets DIVERT "$TP_OUT")"
check_eq "the TPROXY rule on R's S side matched no packet" 0 "$(rule_packets TPROXY "$TP_OUT")"

check "ferry is still running" proxy_alive
finish
