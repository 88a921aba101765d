#!/usr/bin/env bash
# A moproxy user's files run unchanged: a config.env in the shape moproxy 0.5.1 ships (HOST="::", two ports, the
# status page on a Unix socket, DAEMON_ARGS with every optional line enabled: --remote-dns and --policy), started
# with moproxy.service's ExecStart line and reloaded with its ExecReload (kill -HUP); a server list in the style of
# its proxy.ini (inline `;` comments, an HTTP server with Basic credentials, per-server `test dns`, capabilities)
# and a policy file in the style of its policy.rules. The policy sends ferry's SOCKS5 clients on the second port
# through the cap1 server, a TLS connection to media.example.test (its name read from the ClientHello) through the
# cap2 server, and refuses blocked.example.test.
source "$(dirname "$0")/lib.sh"
ferry_only "a moproxy configuration" "ferry moproxy's" || finish

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "$MO_S4:443"
mkdir -p "/etc/netns/$NS_R"
printf '%s media.example.test blocked.example.test\n' "$MO_S4" >"/etc/netns/$NS_R/hosts"
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT
mo_microsocks one 2001 203.0.113.11
mo_microsocks two 2002 203.0.113.12
mo_tinyproxy three 2003 203.0.113.13 "BasicAuth user pAsSwoRd"
chmod 755 "$WORK"
mkdir -p "$WORK/run/moproxy" "$WORK/etc/moproxy"

cat >"$WORK/etc/moproxy/proxy.ini" <<INI
## the servers, moproxy style

[server-1]
address=127.0.0.1:2001 ;required
protocol=socks5 ;required
test dns=$MO_S4:53 ;the namespace's dnsmasq
capabilities = cap1 ;used by policy rules

[server-2]
address=127.0.0.1:2002
protocol=SOCKSv5
test dns=$MO_S4:53
capabilities = cap2 cap9

[server-3]
address=127.0.0.1:2003
protocol=http
http username = user
http password = pAsSwoRd ;optional upstream HTTP Basic Auth
test dns=$MO_S4:53
score base=5000 ;pulled away from the others
max wait=10
INI
POLICY=$WORK/etc/moproxy/policy.rules
cat >"$POLICY" <<'RULES'
# ferry's SOCKS5 clients on the second port: cap1 only
listen port 2081 require cap1

# by the name in the TLS ClientHello (--remote-dns)
dst domain media.example.test require cap2
dst domain blocked.example.test reject
RULES
cat >"$WORK/etc/moproxy/config.env" <<ENV
## Configuraion file loaded by moproxy.service

## TCP listen address
HOST="::"
PORT="2080,2081"

## Web status page listen on
# WEB_BIND="127.0.0.1:8080"
# Or a UNIX domain socket starts with "/"
WEB_BIND="$WORK/run/moproxy/web.sock"

## List of backend proxy servers
PROXY_LIST="$WORK/etc/moproxy/proxy.ini"

## Other arguments passed to moproxy daemon
DAEMON_ARGS="--stats-bind \${WEB_BIND}"

## Enable remote DNS
DAEMON_ARGS="\${DAEMON_ARGS} --remote-dns"

## Enable policy rules
DAEMON_ARGS="\${DAEMON_ARGS} --policy $POLICY"
ENV
SOCK=$WORK/run/moproxy/web.sock

# moproxy.service: ExecStart=/usr/bin/moproxy -b $HOST -p $PORT --list $PROXY_LIST $DAEMON_ARGS, with the
# EnvironmentFile's variables split as systemd splits them.
PROXY_N=1
PROXY_LOG=$WORK/proxy1.log
ip netns exec "$NS_R" bash -c 'set -a; source "$1"
    exec "$0" moproxy -b $HOST -p $PORT --list $PROXY_LIST $DAEMON_ARGS' \
    "$FERRY" "$WORK/etc/moproxy/config.env" 2>"$PROXY_LOG" >"$PROXY_LOG.stdout" &
PROXY_PID=$!
E2E_PIDS+=("$PROXY_PID")
E2E_PROXY_LOGS+=("$PROXY_LOG")
note "proxy 1 (pid $PROXY_PID): moproxy.service's ExecStart with the config.env"
if ! wait_tcp_listen "$NS_R" 2080 5 || ! wait_tcp_listen "$NS_R" 2081 5; then
    not_ok "ferry moproxy listens on 2080 and 2081" "$(tail -n 20 "$PROXY_LOG")"
    finish
fi
E2E_PROXY_PIDS+=("$PROXY_PID")
ok "the unchanged command line starts ferry: listening on :: ports 2080 and 2081"
ucurl() { in_ns "$NS_R" curl -sS --max-time 5 --unix-socket "$SOCK" "$@"; }
for _ in $(seq 50); do [[ -S $SOCK ]] && break; sleep 0.1; done
status=$(ucurl http://moproxy/status)
check_py "the status page on the Unix socket lists the three servers" \
    "sorted(s['tag'] for s in j0['servers']) == ['server-1', 'server-2', 'server-3']" "$status"
check "the policy is loaded" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg "policy loaded"

# via NAME CLIENT_ARGS... WANT: one connection; the source address the destination saw (or "closed").
CONNS=0
via() {
    local name=$1 want=${*: -1} c s got=closed
    c=$(client "${@:2:$#-2}" --timeout 15)
    if [[ $(jget "$c" error) == null && $(jget "$c" received) -gt 0 ]]; then
        CONNS=$((CONNS + 1))
        s=$(server_nth "$CONNS")
        got=$(jget "$s" peer | sed -E 's/:[0-9]+$//')
    fi
    check_eq "$name" "$want" "$got"
}


via "SOCKS5 client on port 2081: listen port 2081 require cap1 -> server-1" "$NS_R" \
    --connect "127.0.0.1:2081" --socks5 "$MO_S4:80" --send-bytes 2000 --seed 1 --expect-bytes 2000 203.0.113.11
hello=$(tls_client_hello media.example.test)
via "redirected TLS to media.example.test: dst domain requires cap2 -> server-2" "$NS_C" \
    --connect "$MO_S4:443" --header-hex "$hello" --send-bytes 2000 --seed 2 --expect-bytes $(( ${#hello} / 2 + 2000 )) \
    203.0.113.12
check "server-2 was asked for the name" grep -q "connected to media.example.test:443" "$WORK/two.err"
hello=$(tls_client_hello blocked.example.test)
via "redirected TLS to blocked.example.test: rejected" "$NS_C" \
    --connect "$MO_S4:443" --header-hex "$hello" --send-bytes 10 --seed 3 --expect-bytes 99999 closed
check "the refusal names the rule" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "failed to establish upstream connection" \
    --contains "error=rejected by policy (policy REJECT, from $POLICY:6)"
# Once probed (each server through its own `test dns`), server-3's score base keeps it last.
ranked=
for _ in $(seq 50); do
    ranked=$(ucurl http://moproxy/status | "$PYTHON" -c '
import json, sys
s = json.load(sys.stdin)["servers"]
print(" ".join(x["tag"] for x in s) if all(x["up"] for x in s) else "")' 2>/dev/null)
    [[ -n $ranked ]] && break
    sleep 0.2
done
check "every server probed up through its own test dns, server-3 ranked last: $ranked" \
    grep -qE '^server-[12] server-[12] server-3$' <<<"$ranked"
c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 2000 --seed 4 --expect-bytes 2000 --timeout 15)
CONNS=$((CONNS + 1))
# (server-1 and server-2 score alike, and a 0-29 ms jitter shares the load between them)
check_py "a plain redirected connection goes through server-1 or server-2, not server-3" \
    "j0['received'] == 2000 and j1['peer'].split(':')[0] in ('203.0.113.11', '203.0.113.12')" \
    "$c" "$(server_nth "$CONNS")"

# moproxy.service: ExecReload=/usr/bin/kill -HUP $MAINPID, after the policy changed.
sed -i 's/^listen port 2081 require cap1$/listen port 2081 require cap9/' "$POLICY"
check "ExecReload (kill -HUP): the server list and the policy are read again" \
    hup_and_wait '"msg":"reloaded server list"'
via "after the reload, port 2081 requires cap9 -> server-2" "$NS_R" \
    --connect "127.0.0.1:2081" --socks5 "$MO_S4:80" --send-bytes 2000 --seed 5 --expect-bytes 2000 203.0.113.12

kill -TERM "$PROXY_PID"
wait "$PROXY_PID"
check_eq "SIGTERM: exit 0" 0 "$?"
E2E_PROXY_PIDS=()
check "the status socket file is removed at exit" test ! -e "$SOCK"
finish
