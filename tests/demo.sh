#!/usr/bin/env bash
# make demo: HAProxy -> ferry -> a service that prints the client address it sees, in private network
# namespaces (client, load balancer, server). Everything it creates is removed on exit.
set -euo pipefail
BUILD=${BUILD:-build}
FERRY=${FERRY:-$BUILD/ferry}
FERRY=$(readlink -f "$FERRY")
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
ip netns exec "$S" "$FERRY" mmproxy -l 192.0.2.2:8443 -4 127.0.0.1:8080 -6 '[::1]:8080' -v 2 \
    -allowed-subnets <(echo "192.0.2.1/32  # the load balancer") > "$work/ferry.log" 2>&1 &

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
    echo; echo "demo: OK, the service saw the client's address 198.51.100.2"
else
    echo; echo "demo: FAILED, the service did not see the client's address"; exit 1
fi
