#!/usr/bin/env bash
# make demo, in private network namespaces (client, router/load balancer, server); everything it creates is
# removed on exit.
#  1. mmproxy: HAProxy -> ferry -> a service that prints the client address it sees; then a new ferry takes the
#     listening socket over (-takeover-socket) while a client keeps connecting, and the old one drains.
#  2. moproxy: the router REDIRECTs the client's connections to ferry, which sends each through the fastest of
#     two SOCKS5 proxies (one behind a 100 ms delay), and moves to the other when the fastest dies.
#  3. srcproxy: the router REDIRECTs the client's connections to a ferry srcproxy client, which hands each to
#     the ferry srcproxy server in the server namespace; the server connects from the client's own address.
#  4. tproxy: the router intercepts the client's connections with TPROXY; ferry reconnects from the client's
#     own address and port, and its interceptors label and hexdump the bytes.
#  5. ferry run: one INI file, two listeners of combinations no mode has: TPROXY in through the ranked SOCKS5
#     proxies out, and REDIRECT in with a PROXY v2 header sent upstream (to the first part's ferry mmproxy).
set -euo pipefail
BUILD=${BUILD:-build}
FERRY=${FERRY:-$BUILD/ferry}
FERRY=$(readlink -f "$FERRY")
PEER=$(readlink -f "$(dirname "$0")/peer.py")
[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces, IP_TRANSPARENT)"; exit 1; }

tag="fd$$"
C="$tag-client"; L="$tag-lb"; S="$tag-server"
work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
cleanup() {
    set +e
    for ns in "$C" "$L" "$S"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
    done
    sleep 0.2
    for ns in "$C" "$L" "$S"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

for ns in "$C" "$L" "$S"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip link add "$tag-c" type veth peer name "$tag-lc"
ip link set "$tag-c" netns "$C"; ip link set "$tag-lc" netns "$L"
ip link add "$tag-s" type veth peer name "$tag-ls"
ip link set "$tag-s" netns "$S"; ip link set "$tag-ls" netns "$L"
ip -n "$C" addr add 198.51.100.2/24 dev "$tag-c"; ip -n "$C" link set "$tag-c" up
ip -n "$L" addr add 198.51.100.1/24 dev "$tag-lc"; ip -n "$L" link set "$tag-lc" up
ip -n "$L" addr add 192.0.2.1/24 dev "$tag-ls"; ip -n "$L" link set "$tag-ls" up
ip -n "$S" addr add 192.0.2.2/24 dev "$tag-s"; ip -n "$S" link set "$tag-s" up
ip -n "$C" route add default via 198.51.100.1

# The service: answers every connection with the client address it sees.
cat > "$work/service.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8080)); s.listen(16)
print("service: listening on 127.0.0.1:8080", flush=True)
while True:
    c, peer = s.accept()
    data = c.recv(4096)
    line = "service: connection from %s:%d, request %r" % (peer[0], peer[1], data.decode(errors="replace").strip())
    print(line, flush=True)
    c.sendall(("hello %s:%d, I see your own address\n" % peer).encode())
    c.close()
PY
ip netns exec "$S" python3 "$work/service.py" > "$work/service.log" 2>&1 &

# ferry in the server namespace: PROXY v2 from HAProxy in, connections from the client's address out.
echo "192.0.2.1/32  # the load balancer" > "$work/allowed-subnets"
MM_ARGS=(mmproxy -l 192.0.2.2:8443 -4 127.0.0.1:8080 -6 '[::1]:8080' -v 2 -allowed-subnets "$work/allowed-subnets"
         -takeover-socket "$work/mmproxy.takeover")
ip netns exec "$S" "$FERRY" "${MM_ARGS[@]}" > "$work/ferry.log" 2>&1 &
FERRY1=$!

cat > "$work/haproxy.cfg" <<CFG
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend public
    bind 198.51.100.1:80
    default_backend ferry
backend ferry
    server s1 192.0.2.2:8443 send-proxy-v2
CFG
ip netns exec "$L" haproxy -f "$work/haproxy.cfg" -db > "$work/haproxy.log" 2>&1 &

for _ in $(seq 50); do
    if ip netns exec "$L" ss -ltn | grep -q '198.51.100.1:80' && ip netns exec "$S" ss -ltn | grep -q ':8443'; then break; fi
    sleep 0.1
done

echo "== topology: client 198.51.100.2 -> HAProxy 198.51.100.1:80 (send-proxy-v2) -> ferry 192.0.2.2:8443 -> service 127.0.0.1:8080"
for i in 1 2 3; do
    reply=$(ip netns exec "$C" python3 -c '
import socket, sys
s = socket.create_connection(("198.51.100.1", 80), timeout=5)
s.sendall(b"request %s" % sys.argv[1].encode()); s.shutdown(socket.SHUT_WR)
print(s.recv(4096).decode().strip())' "$i")
    echo "client: $reply"
done
sleep 0.2
echo
echo "== what the service saw (the client's own address, not HAProxy's or ferry's):"
cat "$work/service.log"
echo
echo "== ferry's log (go-mmproxy's JSON keys, -v 2):"
cat "$work/ferry.log"
if grep -q "connection from 198.51.100.2:" "$work/service.log"; then
    echo; echo "demo: mmproxy OK, the service saw the client's address 198.51.100.2"
else
    echo; echo "demo: FAILED, the service did not see the client's address"; exit 1
fi

echo
echo "== a zero-downtime restart: a new ferry started with the same -takeover-socket receives the listening"
echo "   socket while a client keeps making requests through HAProxy; the old ferry drains and exits 0"
ip netns exec "$C" python3 -c '
import socket, sys, time
ok = failed = 0
end = time.monotonic() + 3
while time.monotonic() < end:
    try:
        s = socket.create_connection(("198.51.100.1", 80), timeout=5)
        s.sendall(b"during the restart"); s.shutdown(socket.SHUT_WR)
        ok += s.recv(4096).startswith(b"hello")
    except OSError:
        failed += 1
print("client: %d requests during the restart, %d failed" % (ok, failed))' > "$work/restart-client.log" 2>&1 &
CLIENT=$!
sleep 1
ip netns exec "$S" "$FERRY" "${MM_ARGS[@]}" > "$work/ferry2.log" 2>&1 &
wait "$FERRY1"
echo "old ferry exited with status $?"
wait "$CLIENT"
cat "$work/restart-client.log"
echo "-- the old ferry's log:"
grep -E '"msg":"(offered our sockets|handed over|drained|routing left)' "$work/ferry.log"
echo "-- the new ferry's log:"
grep -E '"msg":"(taking over|routing taken over|took over)' "$work/ferry2.log"
if grep -q ' 0 failed' "$work/restart-client.log" && grep -q '"msg":"took over' "$work/ferry2.log"; then
    echo; echo "demo: zero-downtime restart OK"
else
    echo; echo "demo: FAILED, the restart refused connections"; exit 1
fi

# ---------------------------------------------------------------------------------------------- moproxy
echo
echo "== moproxy: client 198.51.100.2 -> 192.0.2.2:8000, REDIRECTed on the router to ferry moproxy :2080,"
echo "   which picks the fastest of two SOCKS5 proxies: 'near' (microsocks) and 'far' (microsocks behind a"
echo "   100 ms delay); each proxy connects out from its own address (near 192.0.2.11, far 192.0.2.12)"
ip netns exec "$L" sysctl -qw net.ipv4.ip_forward=1
ip -n "$L" addr add 192.0.2.11/24 dev "$tag-ls"
ip -n "$L" addr add 192.0.2.12/24 dev "$tag-ls"
ip netns exec "$L" iptables -t nat -A PREROUTING -i "$tag-lc" -p tcp --dport 8000 -j REDIRECT --to-ports 2080
ip -n "$S" route add default via 192.0.2.1
sed -e 's/("127.0.0.1", 8080)/("192.0.2.2", 8000)/' -e 's/127.0.0.1:8080/192.0.2.2:8000/' "$work/service.py" > "$work/web.py"
ip netns exec "$S" python3 "$work/web.py" > "$work/web.log" 2>&1 &
# The probes' DNS-over-TCP query needs a DNS server behind the proxies.
ip netns exec "$S" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --user=root \
    --pid-file= --listen-address=192.0.2.2 --bind-interfaces --address=/#/192.0.2.2 > "$work/dnsmasq.log" 2>&1 &
ip netns exec "$L" microsocks -i 127.0.0.1 -p 1081 -b 192.0.2.11 > "$work/near.log" 2>&1 &
near_pid=$!
ip netns exec "$L" microsocks -i 127.0.0.1 -p 1082 -b 192.0.2.12 > "$work/far.log" 2>&1 &
ip netns exec "$L" python3 "$PEER" delay --listen 127.0.0.1:1090 --to 127.0.0.1:1082 --ms 100 > "$work/delay.log" 2>&1 &
cat > "$work/servers.ini" <<INI
[far]
address = 127.0.0.1:1090
protocol = socks5
[near]
address = 127.0.0.1:1081
protocol = socks5
INI
ip netns exec "$L" "$FERRY" moproxy -b 198.51.100.1 -p 2080 -l "$work/servers.ini" --probe 1 --max-wait 2 \
    --test-dns 192.0.2.2:53 --stats-bind 127.0.0.1:2099 > "$work/moproxy.log" 2>&1 &
for _ in $(seq 50); do
    ip netns exec "$L" ss -ltn | grep -q ':2080' && ip netns exec "$S" ss -ltn | grep -q ':8000' && break
    sleep 0.1
done
# Wait for a probe round through each proxy.
for _ in $(seq 50); do
    ip netns exec "$L" curl -s http://127.0.0.1:2099/status | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(s["delay_ms"] is not None for s in d["servers"]) and d["servers"][0]["tag"] == "near" else 1)' 2>/dev/null && break
    sleep 0.2
done
request() {
    ip netns exec "$C" python3 -c '
import socket, sys
s = socket.create_connection(("192.0.2.2", 8000), timeout=10)
s.sendall(sys.argv[1].encode())  # no half-close: microsocks would close both ways at the first EOF
print(s.recv(4096).decode().strip())' "$1"
}
echo "client: $(request 'moproxy request 1')" | tee "$work/replies"
echo "client: $(request 'moproxy request 2')" | tee -a "$work/replies"
echo
echo "== ferry's status page (curl http://127.0.0.1:2099/ on the router):"
ip netns exec "$L" curl -s http://127.0.0.1:2099/
echo
echo "== 'near' dies; the next request moves to 'far' at once, the client notices nothing:"
kill "$near_pid"
echo "client: $(request 'moproxy request 3')" | tee -a "$work/replies"
sleep 0.2
echo
echo "== what the destination saw (the proxies' addresses):"
cat "$work/web.log"
echo
echo "== ferry moproxy's log:"
grep -v '"msg":"probe' "$work/moproxy.log" | grep -v '"msg":"listening"'
if [ "$(grep -c "^client: hello 192.0.2.1[12]:" "$work/replies")" = 3 ] && grep -q "connection from 192.0.2.11:" "$work/web.log" &&
    grep "request 'moproxy request 3'" "$work/web.log" | grep -q "192.0.2.12:"; then
    echo; echo "demo: moproxy OK, the fastest proxy carried the traffic, and the other took over when it died"
else
    echo; echo "demo: FAILED, moproxy did not use the proxies as expected"; exit 1
fi

# ---------------------------------------------------------------------------------------------- srcproxy
echo
echo "== srcproxy: client 198.51.100.2 -> 203.0.113.10:8001, REDIRECTed on the router to a ferry srcproxy client"
echo "   (:9001), which sends the client's address in a header to the ferry srcproxy server 192.0.2.2:21829;"
echo "   the server connects to the service from 198.51.100.2 itself (IP_FREEBIND), under its ACL"
ip netns exec "$L" iptables -t nat -A PREROUTING -i "$tag-lc" -p tcp -d 203.0.113.10 --dport 8001 -j REDIRECT --to-ports 9001
ip -n "$S" addr add 203.0.113.10/32 dev lo
# The srcproxy README's routes: TCP to the clients' range is delivered locally on the server.
ip -n "$S" route add local 198.51.100.0/24 dev lo table 30
ip -n "$S" rule add to 198.51.100.0/24 ipproto tcp lookup 30 pref 30000
sed -e 's/("127.0.0.1", 8080)/("203.0.113.10", 8001)/' -e 's/127.0.0.1:8080/203.0.113.10:8001/' "$work/service.py" > "$work/sp-service.py"
ip netns exec "$S" python3 "$work/sp-service.py" > "$work/sp-service.log" 2>&1 &
cat > "$work/sp-server.json" <<'JSON5'
{
  listen: "192.0.2.2:21829",
  acl: [
    { auth: "demo-router", allowed_src_ips: ["198.51.100.0/24"] },  // JSON5: comments, trailing commas
  ],
  timeout: "5m",
}
JSON5
cat > "$work/sp-client.json" <<'JSON5'
{
  inbound: { mode: "redirect", listen: ":9001" },
  outbound: { server: "192.0.2.2:21829", auth: "demo-router" },
}
JSON5
ip netns exec "$S" "$FERRY" srcproxy server "$work/sp-server.json" > "$work/sp-server.log" 2>&1 &
ip netns exec "$L" "$FERRY" srcproxy client "$work/sp-client.json" > "$work/sp-client.log" 2>&1 &
for _ in $(seq 50); do
    ip netns exec "$L" ss -ltn | grep -q ':9001' && ip netns exec "$S" ss -ltn | grep -q ':21829' &&
        ip netns exec "$S" ss -ltn | grep -q ':8001' && break
    sleep 0.1
done
: > "$work/sp-replies"
for i in 1 2; do
    echo "client: $(ip netns exec "$C" python3 -c '
import socket, sys
s = socket.create_connection(("203.0.113.10", 8001), timeout=10)
s.sendall(b"srcproxy request %s" % sys.argv[1].encode()); s.shutdown(socket.SHUT_WR)
print(s.recv(4096).decode().strip())' "$i")" | tee -a "$work/sp-replies"
done
sleep 0.3
echo
echo "== what the service saw (the client's own address and port):"
cat "$work/sp-service.log"
echo
echo "== the ferry srcproxy client's log (the reference's format):"
cat "$work/sp-client.log"
echo
echo "== the ferry srcproxy server's log:"
cat "$work/sp-server.log"
if [ "$(grep -c "^client: hello 198.51.100.2:" "$work/sp-replies")" = 2 ] &&
    [ "$(grep -c "connection from 198.51.100.2:" "$work/sp-service.log")" = 2 ] &&
    grep -q "\[info\] (192.0.2.1:[0-9]*) 198.51.100.2:[0-9]* <-> 203.0.113.10:8001: closed" "$work/sp-server.log"; then
    echo; echo "demo: srcproxy OK, the service saw the client's own address through the client/server pair"
else
    echo; echo "demo: FAILED, srcproxy did not carry the client's address"; exit 1
fi

# ---------------------------------------------------------------------------------------------- tproxy
echo
echo "== tproxy: client 198.51.100.2 -> 192.0.2.2:8002 through the router, whose TPROXY rules (uproxy's README)"
echo "   hand the connection to ferry tproxy on 127.0.0.1:9091; ferry connects to 192.0.2.2:8002 from the client's"
echo "   own address and port, labels every block (liproxy's -insertionLabel) and hexdumps the client's bytes"
in_if="$tag-lc"; out_if="$tag-ls"
# The srcproxy part made the client range local on the server; here the server's replies must go back to the
# router, where ferry holds the client's address.
ip -n "$S" rule del to 198.51.100.0/24 ipproto tcp lookup 30 pref 30000
# Packets to the client's address arrive from the server side: no reverse-path filter on the router.
ip netns exec "$L" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    "net.ipv4.conf.$in_if.rp_filter=0" "net.ipv4.conf.$out_if.rp_filter=0"
ip netns exec "$L" iptables -t mangle -N DIVERT
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$in_if" -p tcp -m socket --dport 8002 -j DIVERT
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$out_if" -p tcp -m socket --sport 8002 -j DIVERT
ip netns exec "$L" iptables -t mangle -A DIVERT -j MARK --set-mark 1
ip netns exec "$L" iptables -t mangle -A DIVERT -j ACCEPT
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$in_if" -p tcp --dport 8002 -j TPROXY --tproxy-mark 1 --on-port 9091 --on-ip 127.0.0.1
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$out_if" -p tcp --sport 8002 -j TPROXY --tproxy-mark 1 --on-port 9091 --on-ip 127.0.0.1
ip -n "$L" rule add fwmark 1 lookup 100
ip -n "$L" route add local 0.0.0.0/0 dev lo table 100
sed -e 's/("127.0.0.1", 8080)/("192.0.2.2", 8002)/' -e 's/127.0.0.1:8080/192.0.2.2:8002/' "$work/service.py" > "$work/tp-service.py"
ip netns exec "$S" python3 "$work/tp-service.py" > "$work/tp-service.log" 2>&1 &
ip netns exec "$L" "$FERRY" tproxy -bindAddr 127.0.0.1:9091 -insertionLabel "[seen by ferry]" -interceptors hexdump@up \
    > "$work/tproxy.log" 2>&1 &
for _ in $(seq 50); do
    ip netns exec "$L" ss -ltn | grep -q '127.0.0.1:9091' && ip netns exec "$S" ss -ltn | grep -q ':8002' && break
    sleep 0.1
done
reply=$(ip netns exec "$C" python3 -c '
import socket
s = socket.create_connection(("192.0.2.2", 8002), timeout=10)
print("client: my address is %s:%d" % s.getsockname())
s.sendall(b"tproxy request"); s.shutdown(socket.SHUT_WR)
data = b""
try:
    while True:
        b = s.recv(4096)
        if not b: break
        data += b
except OSError as e:
    print("client: %s" % e)
print("client: got %r" % data.decode())')
echo "$reply"
sleep 0.3
echo
echo "== what the service saw (the client's own address and port, and the label in front of the request):"
cat "$work/tp-service.log"
echo
echo "== ferry tproxy's log (liproxy's slog lines, and the hexdump):"
cat "$work/tproxy.log"
port=$(printf '%s\n' "$reply" | sed -n 's/^client: my address is 198.51.100.2:\([0-9]*\)$/\1/p')
if [ -n "$port" ] && grep -qF "connection from 198.51.100.2:$port, request '[seen by ferry]\\ntproxy request'" "$work/tp-service.log" &&
    grep -q 'msg="client closed flow"' "$work/tproxy.log"; then
    echo; echo "demo: tproxy OK, the service saw the client's own address and port, and the interceptor's label"
else
    echo; echo "demo: FAILED, tproxy did not intercept as expected"; exit 1
fi

# ---------------------------------------------------------------------------------------------- ferry run
echo
echo "== ferry run: one process, one INI file, two listeners of combinations no mode has:"
echo "   'lan':  TPROXY in (client -> 192.0.2.2:8003), out through the faster of two SOCKS5 proxies"
echo "           ('near' microsocks from 192.0.2.11, 'far' behind its 100 ms delay from 192.0.2.12)"
echo "   'edge': REDIRECT in (client -> 192.0.2.2:8443), straight to the original destination with a PROXY v2"
echo "           header first: the ferry mmproxy of the first part reads it and connects to its service from"
echo "           the client's own address (HAProxy's send-proxy, for routers)"
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$in_if" -p tcp -m socket --dport 8003 -j DIVERT
ip netns exec "$L" iptables -t mangle -A PREROUTING -i "$in_if" -p tcp --dport 8003 -j TPROXY --tproxy-mark 1 --on-port 9092 --on-ip 127.0.0.1
ip netns exec "$L" iptables -t nat -A PREROUTING -i "$in_if" -p tcp -d 192.0.2.2 --dport 8443 -j REDIRECT --to-ports 9093
sed -e 's/("127.0.0.1", 8080)/("192.0.2.2", 8003)/' -e 's/127.0.0.1:8080/192.0.2.2:8003/' "$work/service.py" > "$work/run-service.py"
ip netns exec "$S" python3 "$work/run-service.py" > "$work/run-service.log" 2>&1 &
ip netns exec "$L" microsocks -i 127.0.0.1 -p 1083 -b 192.0.2.11 > "$work/near2.log" 2>&1 &
cat > "$work/ferry.ini" <<INI
[ferry]
probe = 1
test-dns = 192.0.2.2:53
max-wait = 2
status = 127.0.0.1:2098

[listener lan]
listen = 127.0.0.1:9092
inbound = tproxy
via = proxies

[listener edge]
listen = 198.51.100.1:9093
inbound = redirect
target = original
send-proxy = v2

[server far]
address = 127.0.0.1:1090
protocol = socks5

[server near]
address = 127.0.0.1:1083
protocol = socks5
INI
cat "$work/ferry.ini"
ip netns exec "$L" "$FERRY" run --check "$work/ferry.ini"
ip netns exec "$L" "$FERRY" run "$work/ferry.ini" > "$work/run.log" 2>&1 &
for _ in $(seq 50); do
    ip netns exec "$L" ss -ltn | grep -q '127.0.0.1:9092' && ip netns exec "$L" ss -ltn | grep -q ':9093' &&
        ip netns exec "$S" ss -ltn | grep -q ':8003' && break
    sleep 0.1
done
for _ in $(seq 50); do
    ip netns exec "$L" curl -s http://127.0.0.1:2098/status | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(s["delay_ms"] is not None for s in d["servers"]) and d["servers"][0]["tag"] == "near" else 1)' 2>/dev/null && break
    sleep 0.2
done
: > "$work/run-replies"
for dest in 192.0.2.2:8003 192.0.2.2:8443; do
    echo "client -> $dest: $(ip netns exec "$C" python3 -c '
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"ferry run request")  # no half-close: microsocks would close both ways at the first EOF
print(s.recv(4096).decode().strip())' "$dest")" | tee -a "$work/run-replies"
done
sleep 0.3
echo
echo "== what the services saw: through 'lan', the fastest proxy's address; through 'edge', the client's own:"
cat "$work/run-service.log"
tail -n 1 "$work/service.log"
echo
echo "== ferry run's log:"
grep -v '"msg":"probe' "$work/run.log"
if grep -q "^client -> 192.0.2.2:8003: hello 192.0.2.11:" "$work/run-replies" &&
    grep -q "^client -> 192.0.2.2:8443: hello 198.51.100.2:" "$work/run-replies" &&
    grep -q '"msg":"relaying","listener":"lan".*"via":"near"' "$work/run.log" &&
    grep -q '"msg":"relaying","listener":"edge".*"client":"198.51.100.2:' "$work/run.log"; then
    echo; echo "demo: ferry run OK, TPROXY through the ranked proxies and REDIRECT with a PROXY v2 header, in one process"
else
    echo; echo "demo: FAILED, ferry run did not combine as expected"; exit 1
fi
