#!/usr/bin/env bash
# moproxy: a connection that was not redirected is served as a SOCKS5 client (no auth, CONNECT to IPv4, IPv6
# and host names) when it comes from an allowed address (loopback by default), and closed otherwise. The
# success reply is sent only once the upstream is connected; a failure gets the SOCKS5 code for it.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
# microsocks resolves host names with getaddrinfo; ip netns exec bind-mounts /etc/netns/NS/hosts over
# /etc/hosts for the processes it starts.
mkdir -p "/etc/netns/$NS_R"
printf '%s dest.test\n' "$MO_S4" >"/etc/netns/$NS_R/hosts"
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT
mo_microsocks m 1081 203.0.113.11
start_moproxy -s 1081 --probe 0 || finish

# socks NAME DEST [client args]: SOCKS5 CONNECT through ferry's 127.0.0.1:$MO_PORT from inside R.
socks() {
    local name=$1 dest=$2 c s
    shift 2
    c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "$dest" --send-bytes 100000 --seed "$RANDOM" \
        --expect-bytes 100000 --timeout 20 "$@")
    CONNS=$(( ${CONNS:-0} + 1 ))
    s=$(server_nth "$CONNS")
    check_py "$name: SOCKS5 success reply, bytes intact" \
        "j0['error'] is None and j0.get('socks5_reply') == 0 and j0['received'] == 100000 and j0['sha256_received'] == j0['sha256_sent'] and j1 is not None and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_eq "$name: carried by the backend" 203.0.113.11 "$(jget "$s" peer | sed -E 's/:[0-9]+$//')"
}
socks "IPv4 destination" "$MO_S4:80"
socks "host name destination" "dest.test:80"
check "host name destination: logged with the name" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg relaying --field destination=dest.test:80 --field via=1081

c=$(client "$NS_R" --connect "[::1]:$MO_PORT" --socks5 "[$MO_S6]:80" --send-bytes 1000 --expect-bytes 1000 --timeout 20 2>/dev/null)
note "(ferry listens on 127.0.0.1 only here, so [::1] is refused: $(jget "$c" error))"
c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "[$MO_S6]:80" --send-bytes 1000 --seed 3 --expect-bytes 1000 --timeout 20)
check_py "IPv6 destination: success reply and the echo" "j0['error'] is None and j0['socks5_reply'] == 0 and j0['received'] == 1000" "$c"

# Nothing listens on port 81 at the destination: microsocks answers "connection refused" (5) and ferry passes
# the code on, instead of a success reply followed by a close.
c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "$MO_S4:81" --send-bytes 10 --timeout 10)
check_py "refused destination: SOCKS5 reply 5 (connection refused), sent instead of success" \
    "j0.get('socks5_reply') == 5" "$c"

# From C, which is not in --socks-clients (default loopback): not served. C's connection to R's own
# address:port is redirected to that same address, which is what "not redirected" looks like.
c=$(client "$NS_C" --connect "$MO_R4:$MO_PORT" --socks5 "$MO_S4:80" --send-bytes 10 --timeout 10)
check_py "a SOCKS5 client outside --socks-clients is closed without an answer" \
    "j0.get('socks5_reply', -1) == -1 and j0['received'] == 0 and j0['error'] is not None" "$c"
check "the refusal is logged with the reason" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "failed to accept connection" --contains error="may not use the SOCKS5 service"
stop_proxy

# --socks-clients lets C in.
start_moproxy -s 1081 --probe 0 --socks-clients "198.51.100.0/24,127.0.0.1/32" || finish
c=$(client "$NS_C" --connect "$MO_R4:$MO_PORT" --socks5 "$MO_S4:80" --send-bytes 5000 --seed 5 --expect-bytes 5000 --timeout 20)
check_py "--socks-clients 198.51.100.0/24: C is served" "j0['error'] is None and j0['socks5_reply'] == 0 and j0['received'] == 5000" "$c"

# A request ferry does not support: BIND (command 2) gets reply 7 (command not supported).
out=$(in_ns "$NS_R" "$PYTHON" - "$MO_PORT" <<'PY'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)
s.sendall(b'\x05\x01\x00')
assert s.recv(2) == b'\x05\x00'
s.sendall(b'\x05\x02\x00\x01\xcb\x00\x71\x02\x00\x50')
print(s.recv(10).hex())
PY
)
check_eq "BIND: reply 7, command not supported" "05070001000000000000" "$out"
finish
