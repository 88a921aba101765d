#!/usr/bin/env bash
# moproxy --policy: rules route listen ports, destination prefixes and SOCKS5 host names to the microsocks
# servers whose `capabilities` satisfy them (each microsocks connects out from its own address, so the
# destination's log says which one carried a connection), `direct` goes out from ferry's own address, `reject`
# and "no server qualifies" close the client with a log line naming the rule; SIGHUP reloads the policy, a bad
# one is refused at start (FILE:LINE, exit 1) and at reload (the old one stays); `policy get` prints moproxy's
# lines.
source "$(dirname "$0")/lib.sh"

mo_topology
S_IF="${E2E_ID}${E2E_LINKS}b"  # S's side of the R-S link
for a in 203.0.113.5 203.0.113.6 203.0.113.7 203.0.113.8; do ip -n "$NS_S" addr add "$a/24" dev "$S_IF"; done
start_server "$NS_S" echo "$MO_S4:80" "$MO_S4:81" 203.0.113.5:80 203.0.113.6:80 203.0.113.7:80 203.0.113.8:80
# Connections to port 81 arrive on ferry's second listen port.
in_ns "$NS_R" iptables -t nat -I PREROUTING -i "$MO_R_CSIDE" -p tcp --dport 81 -j REDIRECT --to-ports 2081
mkdir -p "/etc/netns/$NS_R"
printf '%s www.example.test\n' "$MO_S4" >"/etc/netns/$NS_R/hosts"  # microsocks resolves the SOCKS5 name
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT
mo_microsocks a 1081 203.0.113.11
mo_microsocks b 1082 203.0.113.12
mo_microsocks c 1083 203.0.113.13
LIST=$WORK/servers.ini
cat >"$LIST" <<'INI'
[a]
address = 127.0.0.1:1081
protocol = socks5
capabilities = gen a
[b]
address = 127.0.0.1:1082
protocol = socks5
capabilities = gen, b
[c]
address = 127.0.0.1:1083
protocol = socks5
capabilities = special
INI
POLICY=$WORK/policy.rules
RULES='# every connection needs a "gen" server unless a rule says otherwise
default require gen
listen port 2081 require! special
dst ip 203.0.113.5 require a
Dst IP 203.0.113.6/32 reject
dst ip 203.0.113.7 direct   # straight to the destination
dst ip 203.0.113.8 require nosuch
dst domain example.test require b
'
printf '%s' "$RULES" >"$POLICY"
start_moproxy -p 2081 -l "$LIST" --policy "$POLICY" --probe 0 || finish
check "the policy is loaded, with moproxy's rule count" log_find --msg "policy loaded" --field rules=6

# via NAME DEST: a connection from C to DEST; VIA is the address the destination saw it from, or "closed".
via() {
    local c s
    c=$(client "$NS_C" --connect "$2" --send-bytes 3000 --seed "$RANDOM" --expect-bytes 3000 --timeout 15)
    if [[ $(jget "$c" received) == 3000 ]]; then
        CONNS=$(( ${CONNS:-0} + 1 ))
        s=$(server_nth "$CONNS")
        VIA=$(jget "$s" peer | sed -E 's/:[0-9]+$//')
    else
        VIA=closed
    fi
    check_eq "$1" "$3" "$VIA"
}
via "default require gen: the first gen server (a)" "$MO_S4:80" 203.0.113.11
via "listen port 2081 require! special: c, although c is not gen" "$MO_S4:81" 203.0.113.13
via "dst ip 203.0.113.5 require a (and gen): a" 203.0.113.5:80 203.0.113.11
via "dst ip 203.0.113.7 direct: from ferry's own address" 203.0.113.7:80 203.0.113.1
via "dst ip 203.0.113.6/32 reject: closed" 203.0.113.6:80 closed
check "reject: the log names the rule" log_find --msg "failed to establish upstream connection" \
    --contains "error=rejected by policy (policy REJECT, from $POLICY:5)"
via "require nosuch: no server qualifies, closed" 203.0.113.8:80 closed
check "no server qualifies: the log names the rules" log_find --msg "failed to establish upstream connection" \
    --contains "error=no upstream proxy satisfies the policy (policy REQUIRE gen AND nosuch, from $POLICY:2, $POLICY:7)"

# A SOCKS5 client (from R's loopback) asking for a host name: the `dst domain` rule sends it through b.
c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "www.example.test:80" --send-bytes 3000 --seed 7 \
    --expect-bytes 3000 --timeout 15)
CONNS=$((CONNS + 1))
check_py "SOCKS5 www.example.test: dst domain example.test requires b: carried by b" \
    "j0['socks5_reply'] == 0 and j0['received'] == 3000 and j1['peer'].startswith('203.0.113.12:')" \
    "$c" "$(server_nth "$CONNS")"
c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "203.0.113.6:80" --send-bytes 10 --timeout 10)
check_py "SOCKS5 to a rejected address: reply 2 (not allowed by ruleset)" "j0.get('socks5_reply') == 2" "$c"

# reload TEXT: write the policy, SIGHUP, wait for the line that says how it went.
reload() {
    printf '%s' "$1" >"$POLICY"
    hup_and_wait '"msg":"(policy loaded|reload failed, keeping the current server list and policy)"'
    sleep 0.2
}
reload "${RULES/require a/require b}"
via "SIGHUP: dst ip 203.0.113.5 now requires b" 203.0.113.5:80 203.0.113.12
reload "${RULES/dst ip 203.0.113.5 require a/dst ip 203.0.113.5 require a b}"
check "a bad policy at reload is refused with its line" log_find \
    --msg "reload failed, keeping the current server list and policy" --contains "error=$POLICY:4: unexpected"
via "after a bad reload: the policy in use stays (b)" 203.0.113.5:80 203.0.113.12
check "ferry still runs after a bad reload" proxy_alive
stop_proxy

# --remote-dns: the Host header a redirected HTTP client sends is the name `dst domain` rules see.
printf '%s' "$RULES" >"$POLICY"
start_moproxy -p 2081 -l "$LIST" --policy "$POLICY" --probe 0 --remote-dns || finish
out=$(in_ns "$NS_C" "$PYTHON" - "$MO_S4" <<'PY'
import socket, sys
request = b'GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n'
s = socket.create_connection((sys.argv[1], 80), timeout=10)
s.sendall(request)
got = b''
while len(got) < len(request):
    chunk = s.recv(4096)
    if not chunk:
        break
    got += chunk
print('echoed' if got == request else 'got %r' % got)
PY
)
CONNS=$((CONNS + 1))
check_eq "--remote-dns: an HTTP request for www.example.test is relayed" echoed "$out"
check_eq "--remote-dns: its Host name meets dst domain example.test: carried by b" 203.0.113.12 \
    "$(jget "$(server_nth "$CONNS")" peer | sed -E 's/:[0-9]+$//')"
stop_proxy

# `ferry run`: the same rules as a SOCKS5 listener's `policy` key.
cat >"$WORK/ferry.ini" <<INI
[ferry]
probe = 0
[listener socks]
listen = 127.0.0.1:2085
inbound = socks5
via = proxies
policy = $POLICY
[server a]
address = 127.0.0.1:1081
protocol = socks5
capabilities = gen a
[server b]
address = 127.0.0.1:1082
protocol = socks5
capabilities = gen b
INI
start_run "$NS_R" "$WORK/ferry.ini" 2085 || finish
run_socks() {
    c=$(client "$NS_R" --connect 127.0.0.1:2085 --socks5 "$2" --send-bytes 2000 --seed 9 --expect-bytes 2000 \
        --timeout 15)
    CONNS=$((CONNS + 1))
    check_py "$1" "j0['socks5_reply'] == 0 and j0['received'] == 2000 and j1['peer'].startswith('$3:')" \
        "$c" "$(server_nth "$CONNS")"
}
run_socks "ferry run, policy key: 203.0.113.5 requires a" 203.0.113.5:80 203.0.113.11
run_socks "ferry run, policy key: www.example.test requires b" www.example.test:80 203.0.113.12
c=$(client "$NS_R" --connect 127.0.0.1:2085 --socks5 203.0.113.6:80 --send-bytes 10 --timeout 10)
check_py "ferry run, policy key: a rejected address gets reply 2" "j0.get('socks5_reply') == 2" "$c"
printf '%s' "${RULES/require a/require b}" >"$POLICY"
hup_and_wait '"msg":"reloaded"'
run_socks "ferry run, SIGHUP reads the policy again: 203.0.113.5 now requires b" 203.0.113.5:80 203.0.113.12
stop_proxy
printf 'dst ip 1.2.3.4/40 direct\n' >"$WORK/bad.rules"
sed -i "s|^policy = .*|policy = $WORK/bad.rules|" "$WORK/ferry.ini"
"$FERRY" run --check "$WORK/ferry.ini" >"$WORK/run.out" 2>&1
check_eq "ferry run, a bad policy file: exit 1" 1 "$?"
check "ferry run, a bad policy file: FILE:LINE of the key, then the policy's own" grep -qF \
    "ferry.ini:7: key \"policy\": $WORK/bad.rules:1: \"1.2.3.4/40\": the prefix length is more than 32" "$WORK/run.out"

# A bad policy at start: the fatal line with FILE:LINE, exit 1, nothing bound.
printf 'listen port 2081 direct\nlisten port 70000 direct\n' >"$WORK/bad.rules"
in_ns "$NS_R" "$FERRY" moproxy -p 2090 -l "$LIST" --policy "$WORK/bad.rules" 2>"$WORK/bad.err"
check_eq "a bad policy at start: exit 1" 1 "$?"
check "a bad policy at start: the message names the file and line" grep -qF \
    "\"error\":\"$WORK/bad.rules:2: \\\"70000\\\" is not a port (1..65535)\"" "$WORK/bad.err"
"$FERRY" moproxy -p 2090 -l "$LIST" --policy "$WORK/missing.rules" check --no-bind 2>"$WORK/missing.err"
check_eq "a missing policy file: exit 1" 1 "$?"
check "a missing policy file: said" grep -qF "missing.rules: No such file or directory" "$WORK/missing.err"

# policy get: moproxy's output and exit status.
printf '%s' "$RULES" >"$POLICY"
get() { "$FERRY" moproxy -p 2080 -l "$LIST" --policy "$POLICY" policy get "$@"; }
check_eq "policy get --listen-port 2081" $'Policy: REQUIRE! special\nAllowed: c' "$(get --listen-port 2081)"
check_eq "policy get --dst-ip 203.0.113.5" $'Policy: REQUIRE a AND gen\nAllowed: a' "$(get --dst-ip 203.0.113.5)"
check_eq "policy get --dst-ip ::ffff:203.0.113.6 (IPv4-mapped)" "Policy: REJECT" "$(get --dst-ip ::ffff:203.0.113.6)"
check_eq "policy get --dst-domain WWW.Example.Test" $'Policy: REQUIRE b AND gen\nAllowed: b' \
    "$(get --dst-domain WWW.Example.Test)"
check_eq "policy get, nothing qualifies: an empty Allowed" $'Policy: REQUIRE gen AND nosuch\nAllowed: ' \
    "$(get --listen-port 2080 --dst-ip 203.0.113.8)"
out=$(get --dst-ip 203.0.113.7)
check_eq "policy get --dst-ip 203.0.113.7: DIRECT, exit 0" "Policy: DIRECT|0" "$out|$?"
check_eq "policy get without --policy: every server" $'Policy: REQUIRE NOTHING\nAllowed: a, b, c' \
    "$("$FERRY" moproxy -p 2080 -l "$LIST" policy get --dst-ip 192.0.2.1)"
"$FERRY" moproxy -p 2080 -l "$LIST" policy 2>/dev/null
check_eq "policy without get: a usage error, exit 2" 2 "$?"
finish
