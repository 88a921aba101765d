#!/usr/bin/env bash
# moproxy: `test url = http://HOST[:PORT]/PATH` probes an HTTP CONNECT server that refuses CONNECT to port 53
# (moproxy issue #24): CONNECT HOST:PORT, a GET, timed to the status line. tinyproxy allowing CONNECT to port 80 only
# is ranked up with a delay when probed so; the same tinyproxy probed with DNS is down. A SOCKS5 server takes the
# same key, and a URL whose target does not answer HTTP leaves its server down.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
# The proxies (not ferry) resolve the URL's name: R's hosts file names the target for tinyproxy's getaddrinfo.
mkdir -p "/etc/netns/$NS_R"
printf '%s probe.test\n' "$MO_S4" >"/etc/netns/$NS_R/hosts"
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT
# The probe's target: a real HTTP server on S (Python's http.server logs each request on stderr).
mkdir -p "$WORK/www"
echo ok >"$WORK/www/probe-target"
bg_ns "$NS_S" web "$PYTHON" -m http.server --bind "$MO_S4" --directory "$WORK/www" 80
wait_tcp_listen "$NS_S" 80 5 || { not_ok "http.server listens on $MO_S4:80" "$(cat "$WORK/web.err")"; finish; }
start_server "$NS_S" echo "$MO_S4:9000"

# tinyproxy NAME PORT BIND_IP: CONNECT to port 80 only (its ConnectPort list), as proxies that refuse port 53 do.
tinyproxy80() {
    printf 'Port %s\nListen 127.0.0.1\nBind %s\nTimeout 60\nMaxClients 100\nAllow 127.0.0.1\nConnectPort 80\nLogLevel Info\n' \
        "$2" "$3" >"$WORK/$1.conf"
    bg_ns "$NS_R" "$1" tinyproxy -d -c "$WORK/$1.conf"
    wait_tcp_listen "$NS_R" "$2" 5 || { not_ok "tinyproxy $1 listens" "$(cat "$WORK/$1.err")"; finish; }
}
tinyproxy80 web80 3128 203.0.113.11
tinyproxy80 dns80 3129 203.0.113.12
mo_microsocks socks 1083 203.0.113.13

cat >"$WORK/servers.ini" <<INI
[web80]
address = 127.0.0.1:3128
protocol = http
test url = http://probe.test/probe-target?from=ferry
[dns80]
address = 127.0.0.1:3129
protocol = http
[socks]
address = 127.0.0.1:1083
protocol = socks5
test url = http://$MO_S4:80/probe-target
[silent]
address = 127.0.0.1:1083
protocol = socks5
test url = http://$MO_S4:9000/
INI
start_moproxy -l "$WORK/servers.ini" --probe 1 --max-wait 2 || finish

servers_json() {
    mo_status | "$PYTHON" -c "import json,sys; print(json.dumps({s['tag']: s for s in json.load(sys.stdin)['servers']}))"
}
for ((i = 0; i < 50; i++)); do
    "$PYTHON" -c "import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d['web80']['delay_ms'] is not None and d['socks']['delay_ms'] is not None and not d['dns80']['up'] and not d['silent']['up'] else 1)" \
        "$(servers_json)" 2>/dev/null && break
    sleep 0.2
done
j=$(servers_json)
check_py "test url with a name (CONNECT probe.test:80): the CONNECT-80-only tinyproxy is up with a delay" \
    "j0['web80']['up'] and j0['web80']['delay_ms'] is not None and j0['web80']['score'] is not None" "$j"
check_py "test dns: the same tinyproxy probed with DNS (CONNECT to port 53 refused) is down, without a delay" \
    "not j0['dns80']['up'] and j0['dns80']['delay_ms'] is None" "$j"
check_py "test url through a SOCKS5 server: up with a delay" "j0['socks']['up'] and j0['socks']['delay_ms'] is not None" "$j"
check_py "test url whose target does not speak HTTP: down" "not j0['silent']['up']" "$j"
check_py "the HTTP-probed servers rank before the down ones" \
    "[s['tag'] for s in j1['servers']][:2] in (['web80', 'socks'], ['socks', 'web80'])" "$j" \
    "$(mo_status)"
check "the probe's GET reached the target through tinyproxy (http.server's log)" \
    grep -qE '^203\.0\.113\.11 .*"GET /probe-target\?from=ferry HTTP/1\.1" 200' "$WORK/web.err"
check "the probe's GET reached the target through microsocks" \
    grep -qE '^203\.0\.113\.13 .*"GET /probe-target HTTP/1\.1" 200' "$WORK/web.err"
check "the DNS-probed tinyproxy's refusal is in the log" log_find --msg "probe failed" --field server=dns80 \
    --contains "error=replied 403"
check "the silent target's failure names the status line" log_find --msg "probe failed" --field server=silent \
    --contains "error=test url answer:"
# Traffic follows the ranking: a connection goes through an up server, not the DNS-probed one.
c=$(client "$NS_C" --connect "$MO_S4:80" --header-text 'GET /probe-target HTTP/1.0\r\n\r\n' --timeout 10)
check_py "a redirected connection is served through an up server" "j0['error'] is None and j0['received'] > 0" "$c"
check "... through tinyproxy web80 or microsocks, never dns80" \
    grep -qE '^203\.0\.113\.1[13] .*"GET /probe-target HTTP/1\.0" 200' "$WORK/web.err"
finish
