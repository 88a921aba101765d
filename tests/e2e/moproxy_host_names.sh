#!/usr/bin/env bash
# moproxy: host names in the server list's `address`, resolved with getaddrinfo at start, by `check` and on SIGHUP,
# through R's own resolver (a dnsmasq on R's loopback, given to R by /etc/netns/R/resolv.conf). Traffic goes through
# the microsocks the name points at; a changed DNS answer moves the server on reload; a name that does not resolve
# fails the start (exit 1, with the file, line, server and name) and a reload (the list in use stays); with several
# addresses, the first of getaddrinfo's answer is used (moproxy's rule). `ferry run` shares the code.
source "$(dirname "$0")/lib.sh"

mo_topology
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT
mkdir -p "/etc/netns/$NS_R"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"/etc/netns/$NS_R/resolv.conf"
NAMES=$WORK/names
printf '127.0.0.21 proxy.test\n127.0.0.21 multi.test\n127.0.0.22 multi.test\n' >"$NAMES"
# .test is answered from $NAMES only: any other name under it is NXDOMAIN. SIGHUP re-reads $NAMES.
bg_ns "$NS_R" resolver dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
    --addn-hosts="$NAMES" --local=/test/ --user=root --pid-file= --listen-address=127.0.0.1 --bind-interfaces \
    --port=53 --log-facility=- --log-queries
RESOLVER_PID=$BG_PID
wait_tcp_listen "$NS_R" 53 5 || { not_ok "dnsmasq listens on R's 127.0.0.1:53" "$(cat "$WORK/resolver.err")"; finish; }
start_server "$NS_S" echo "$MO_S4:80"
# Two SOCKS5 servers on the same port, one per loopback address the name may point at.
bg_ns "$NS_R" socks-a microsocks -i 127.0.0.21 -p 1081 -b 203.0.113.11
bg_ns "$NS_R" socks-b microsocks -i 127.0.0.22 -p 1081 -b 203.0.113.12
for ((i = 0; i < 50; i++)); do
    (( $(in_ns "$NS_R" ss -Hltn 'sport = :1081' | grep -c .) == 2 )) && break
    sleep 0.1
done

LIST=$WORK/servers.ini
printf '[named]\nprotocol = socks5\naddress = proxy.test:1081\n' >"$LIST"
out=$(in_ns "$NS_R" "$FERRY" moproxy check --no-bind -p "$MO_PORT" -l "$LIST" 2>&1); rc=$?
check_eq "check resolves the name: exit 0" 0 "$rc" "$out"

server_field() { mo_status | "$PYTHON" -c "import json,sys; s=json.load(sys.stdin)['servers'][0]; print(s['address'], s.get('host'))"; }

start_moproxy -l "$LIST" --probe 0 || finish
check_eq "status: the resolved address, and the name as written" "127.0.0.21:1081 proxy.test:1081" "$(server_field)"
mo_conn
check_eq "traffic goes through the server the name resolves to" 203.0.113.11 "$MO_PEER"

# The answer changes; a reload (SIGHUP) resolves again.
printf '127.0.0.22 proxy.test\n127.0.0.21 multi.test\n127.0.0.22 multi.test\n' >"$NAMES"
kill -HUP "$RESOLVER_PID"
sleep 0.3
mo_conn
check_eq "before ferry's reload: still the old address" 203.0.113.11 "$MO_PEER"
mo_reload "$LIST" '[named]\nprotocol = socks5\naddress = proxy.test:1081\n'
check_eq "after the DNS answer changed, a reload moves the server" "127.0.0.22:1081 proxy.test:1081" "$(server_field)"
mo_conn
check_eq "traffic follows the new address" 203.0.113.12 "$MO_PEER"

# A name that does not resolve on reload: logged with file, line, server and name; the list in use stays.
mo_reload "$LIST" '[named]\nprotocol = socks5\naddress = proxy.test:1081\n[gone]\n\nprotocol = socks5\naddress = nowhere.test:1081\n'
check "reload with a name that does not resolve: logged with file, line, server and name" log_find \
    --msg "reload failed, keeping the current server list" \
    --contains "error=$LIST:7: server \"gone\": address \"nowhere.test:1081\": nowhere.test does not resolve"
check_eq "reload with a name that does not resolve: the list in use stays" "127.0.0.22:1081 proxy.test:1081" \
    "$(server_field)"
mo_conn
check_eq "reload with a name that does not resolve: traffic still flows" 203.0.113.12 "$MO_PEER"

# Several addresses: the first of getaddrinfo's answer, as the system orders it (moproxy: to_socket_addrs().next()).
first=$(in_ns "$NS_R" "$PYTHON" -c "import socket; a=socket.getaddrinfo('multi.test', 1081, 0, socket.SOCK_STREAM)[0][4]; print('%s:%d' % a[:2])")
mo_reload "$LIST" '[multi]\nprotocol = socks5\naddress = multi.test:1081\n'
check_eq "a name with two addresses: the first of the answer ($first)" "$first multi.test:1081" "$(server_field)"

# A resolver that does not answer: the reload gives up after 2 s (the main thread also feeds the watchdog), says so,
# and keeps the list in use. glibc would wait 5 s (timeout:5); dnsmasq is stopped, not gone, so nothing refuses.
printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' >"/etc/netns/$NS_R/resolv.conf"
kill -STOP "$RESOLVER_PID"
t0=$(date +%s%N)
mo_reload "$LIST" '[slow]\nprotocol = socks5\naddress = proxy.test:1081\n'
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$RESOLVER_PID"
check "a resolver that does not answer: the reload fails after the 2 s bound, saying so" log_find \
    --msg "reload failed, keeping the current server list" \
    --contains "error=$LIST:3: server \"slow\": address \"proxy.test:1081\": proxy.test did not resolve within 2000 ms"
check "a resolver that does not answer: the reload took about 2 s, not glibc's 5 (${elapsed_ms} ms)" \
    test "$elapsed_ms" -ge 1900 -a "$elapsed_ms" -lt 4000
check_eq "a resolver that does not answer: the list in use stays" "$first multi.test:1081" "$(server_field)"
check "a resolver that does not answer: ferry still runs" proxy_alive
stop_proxy

# At start: exit 1 before anything is bound, with the file, the line of the key, the server and the name.
printf '[named]\nprotocol = socks5\naddress = proxy.test:1081\n[gone]\naddress = nowhere.test:1081\nprotocol = http\n' \
    >"$WORK/bad.ini"
out=$(in_ns "$NS_R" "$FERRY" moproxy -p 2081 -l "$WORK/bad.ini" 2>&1); rc=$?
check_eq "start with a name that does not resolve: exit 1" 1 "$rc" "$out"
check "start with a name that does not resolve: file, line, server and name" grep -qF \
    "$WORK/bad.ini:5: server \\\"gone\\\": address \\\"nowhere.test:1081\\\": nowhere.test does not resolve" <<<"$out"
check "start with a name that does not resolve: nothing was bound" bash -c '! ip netns exec "$1" ss -Hltn "sport = :2081" | grep -q .' _ "$NS_R"
out=$(in_ns "$NS_R" "$FERRY" moproxy check --no-bind -p 2081 -l "$WORK/bad.ini" 2>&1); rc=$?
check_eq "check with a name that does not resolve: exit 1" 1 "$rc" "$out"

# `ferry run`'s [server NAME] sections take names the same way.
cat >"$WORK/run.ini" <<INI
[listener l]
listen = 127.0.0.1:2082
inbound = socks5
via = proxies

[server gone]
protocol = socks5
address = nowhere.test:1081
INI
out=$(in_ns "$NS_R" "$FERRY" run --check "$WORK/run.ini" 2>&1); rc=$?
check_eq "ferry run: a server name that does not resolve: exit 1" 1 "$rc" "$out"
check "ferry run: the message names the file, line, server and name" grep -qF \
    "$WORK/run.ini:8: server \"gone\": address \"nowhere.test:1081\": nowhere.test does not resolve" <<<"$out"
sed -i 's/nowhere.test/proxy.test/' "$WORK/run.ini"
out=$(in_ns "$NS_R" "$FERRY" run --check "$WORK/run.ini" 2>&1); rc=$?
check_eq "ferry run: a server name that resolves: exit 0" 0 "$rc" "$out"
finish
