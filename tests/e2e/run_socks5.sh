#!/usr/bin/env bash
# A plain SOCKS5 server (`inbound = socks5`, with moproxy's --socks-clients ACL as `socks-clients`) straight
# out (`via = direct`), in `ferry run`: client C talks SOCKS5 to the router R, which has no route from C to the
# server S (no forwarding), so everything that reaches S went through ferry. curl (a real SOCKS5 client) and
# the tests' peer, IPv4 and IPv6, bytes hashed both ways, half-close, refused clients, and the SOCKS5 reply
# codes for what cannot be reached.
source "$(dirname "$0")/lib.sh"

C4=198.51.100.2 C4B=198.51.100.3 C6=2001:db8:1::2
R4=198.51.100.1 R6=2001:db8:1::1
S4=203.0.113.2 S6=2001:db8:2::2
ns_new NS_C c
ns_new NS_R r
ns_new NS_S s
link_ns "$NS_C" "$C4/24 $C4B/24 $C6/64" "$NS_R" "$R4/24 $R6/64"
link_ns "$NS_R" "203.0.113.1/24 2001:db8:2::1/64" "$NS_S" "$S4/24 $S6/64"
ip -n "$NS_S" route add default via 203.0.113.1
ip -n "$NS_S" -6 route add default via 2001:db8:2::1
in_ns "$NS_R" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0

start_server "$NS_S" echo "$S4:9000" "[$S6]:9000"
SRV=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$S4:9001"
SRV_HALF=$SERVER_LOG
# A file for curl, served over HTTP on S (http.server's handler; its HTTPServer would look its own name up in
# DNS first).
head -c 3000000 /dev/urandom >"$WORK/blob"
bg_ns "$NS_S" http "$PYTHON" -c '
import functools, http.server, socketserver, sys
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
Server((sys.argv[1], 8080), handler).serve_forever()
' "$S4" "$WORK"
wait_tcp_listen "$NS_S" 8080 5 || { not_ok "the HTTP server listens" "$(cat "$WORK/http.err")"; finish; }

cat >"$WORK/ferry.ini" <<INI
[ferry]
log-level = debug

[listener socks]
listen = $R4:1080, [$R6]:1080
inbound = socks5
socks-clients = $C4/32, $C6/128
via = direct
INI
start_run "$NS_R" "$WORK/ferry.ini" 1080 || finish

# socks_case NAME PROXY DEST: the tests' peer through the SOCKS5 server; S sees R's own address.
socks_case() {
    local name=$1 proxy=$2 dest=$3 want=$4 n c s
    n=$(log_lines "$SRV")
    c=$(client "$NS_C" --connect "$proxy" --socks5 "$dest" --send-bytes 300000 --seed "$RANDOM" \
        --expect-bytes 300000 --timeout 10)
    s=$(server_nth $((n + 1)) "$SRV")
    check_py "$name: SOCKS5 success reply" "j0 is not None and j0.get('socks5_reply') == 0" "$c"
    check_py "$name: S sees ferry's own address $want" "j1 is not None and j1['peer'].rsplit(':', 1)[0].strip('[]') == '$want'" "$c" "$s"
    check_py "$name: bytes intact both ways" \
        "j1 is not None and j0['error'] is None and j0['sent'] == j1['bytes_in'] == 300000 and j0['sha256_sent'] == j1['sha256_in'] and j0['received'] == j1['bytes_out'] and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
}
socks_case "IPv4" "$R4:1080" "$S4:9000" 203.0.113.1
socks_case "IPv6" "[$R6]:1080" "[$S6]:9000" 2001:db8:2::1
socks_case "IPv6 client, IPv4 destination" "[$R6]:1080" "$S4:9000" 203.0.113.1
check "the relaying line names the listener, the client and the destination" \
    "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg relaying --field listener=socks --field destination="[$S6]:9000" --field via=direct

# curl, a real SOCKS5 client, fetches a 3 MB file.
got=$(in_ns "$NS_C" curl -sS --max-time 10 --socks5 "$R4:1080" "http://$S4:8080/blob" | sha256sum | cut -d' ' -f1)
check_eq "curl --socks5: the file arrives intact" "$(sha256sum <"$WORK/blob" | cut -d' ' -f1)" "$got"
got=$(in_ns "$NS_C" curl -sS --max-time 10 --socks5-hostname "$R4:1080" "http://$S4:8080/blob" | sha256sum | cut -d' ' -f1)
check_eq "curl --socks5-hostname with an IP literal: intact" "$(sha256sum <"$WORK/blob" | cut -d' ' -f1)" "$got"

# Half-close: the client finishes sending; the server's reply, sent after it saw the EOF, still arrives.
n=$(log_lines "$SRV_HALF")
c=$(client "$NS_C" --connect "$R4:1080" --socks5 "$S4:9001" --send-bytes 100000 --seed 7 --shutdown-after-send --timeout 10)
s=$(server_nth $((n + 1)) "$SRV_HALF")
# (halfclose-echo answers only once it has read the client's EOF.)
check_py "half-close: the server saw the client's EOF after all its bytes" \
    "j1 is not None and j1['bytes_in'] == j0['sent'] == 100000 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
check_py "half-close: the client got the whole reply after its own shutdown, then EOF" \
    "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 100000 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"

# Refusals: the SOCKS5 reply code says why, and nothing reaches S.
c=$(client "$NS_C" --connect "$R4:1080" --socks5 "$S4:9999" --send-bytes 10 --timeout 5)
check_py "closed port: reply 5 (connection refused)" "j0.get('socks5_reply') == 5" "$c"
c=$(client "$NS_C" --connect "$R4:1080" --socks5 "dest.example:9000" --send-bytes 10 --timeout 5)
check_py "a host name with via = direct: reply 4 (host unreachable)" "j0.get('socks5_reply') == 4" "$c"
check "the log says host names are resolved only by proxies" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "failed to establish upstream connection" --contains "error=host names are only resolved by proxies"

# A client outside socks-clients gets no reply at all: the connection is closed.
n=$(log_lines "$SRV")
c=$(client "$NS_C" --bind "$C4B:0" --connect "$R4:1080" --socks5 "$S4:9000" --send-bytes 10 --timeout 5)
# (Reset before or after the client's greeting went out: no method reply, no SOCKS5 reply either way.)
check_py "a peer outside socks-clients is closed without a SOCKS5 reply" \
    "j0['error'] is not None and j0['received'] == 0 and j0.get('socks5_reply', -1) == -1" "$c"
check "the log says which peer may not use the SOCKS5 service" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "failed to accept connection" --contains "error=$C4B may not use the SOCKS5 service"
check_eq "nothing reached S for the refused peer" "$n" "$(log_lines "$SRV")"
# Refusals are logged once per source per 10 s: 30 more from the same peer add no line (they wrote one each).
for ((i = 0; i < 30; i++)); do
    client "$NS_C" --bind "$C4B:0" --connect "$R4:1080" --socks5 "$S4:9000" --send-bytes 10 --timeout 5 >/dev/null
done
refusals=$(grep -c "$C4B may not use the SOCKS5 service" "$PROXY_LOG")
check_eq "31 refusals of one peer within 10 s: one log line" 1 "$refusals"

finish
