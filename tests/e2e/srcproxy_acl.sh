#!/usr/bin/env bash
# srcproxy: the server's ACL, with the seed's example server configuration unchanged, through three ferry
# clients (nat OUTPUT REDIRECT): the seed's client (auth = the UUID), one with an auth the ACL does not know,
# and one with a blank auth.
#  - allowed: the UUID client from inside its prefixes, IPv4 and IPv6;
#  - wrong auth: closed, nothing reaches the destination, the server logs the reason;
#  - source outside the UUID entry's prefixes, IPv4 and IPv6: the same;
#  - blank auth with `"allowed_src_ips": []`: any source (the README's meaning; the reference code allows none).
source "$(dirname "$0")/lib.sh"

sp_topology
start_server "$NS_B" echo "0.0.0.0:80" "[::]:80"
ECHO_LOG=$SERVER_LOG
sp_seed_server_config >"$WORK/server.json"
sp_seed_client_config >"$WORK/client.json"
cat >"$WORK/wrong.json" <<'JSON5'
{ inbound: { listen: ':9002' }, outbound: { server: '192.0.2.1:21829', auth: 'not-in-the-acl' } }
JSON5
cat >"$WORK/blank.json" <<'JSON5'
// no auth at all: the client sends SHA-256("")
{ inbound: { listen: ':9003', }, outbound: { server: '192.0.2.1:21829', }, }
JSON5
cat >"$WORK/nowhere.json" <<'JSON5'
{ inbound: { listen: ':9004' }, outbound: { server: '192.0.2.1:21899' } }
JSON5
start_srcproxy "$NS_B" 21829 server "$WORK/server.json" || finish
SERVER_PLOG=$PROXY_LOG
start_srcproxy "$NS_A" 9001 client "$WORK/client.json" || finish
start_srcproxy "$NS_A" 9002 client "$WORK/wrong.json" || finish
start_srcproxy "$NS_A" 9003 client "$WORK/blank.json" || finish
start_srcproxy "$NS_A" 9004 client "$WORK/nowhere.json" || finish
NOWHERE_PLOG=$PROXY_LOG

TS='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '

if grep -q 'allowed_src_ips.*allows any source' "$SERVER_PLOG"; then
    ok "the server warns that acl[1]'s empty allowed_src_ips allows any source"
else
    not_ok "the server warns that acl[1]'s empty allowed_src_ips allows any source" "$(head -n 5 "$SERVER_PLOG")"
fi

allowed() {
    local name=$1 src=$2 dst=$3 c s
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --send-bytes 65536 --seed "$RANDOM" --expect-bytes 65536 --timeout 10)
    s=$(server_conn "$src" "$ECHO_LOG")
    check_py "$name: relayed, and the destination saw $src" \
        "j1 is not None and j0['error'] is None and j0['received'] == 65536 and j0['sha256_received'] == j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
}

# rejected NAME SRC DST REASON_REGEX
rejected() {
    local name=$1 src=$2 dst=$3 reason=$4 c s line
    c=$(client "$NS_A" --bind "$src" --connect "$dst" --send-bytes 65536 --seed "$RANDOM" --timeout 10)
    check_py "$name: the app's connection is closed without a byte back" "j0['received'] == 0" "$c"
    s=$(FIND_TIMEOUT=1 server_conn "$src" "$ECHO_LOG")
    check_eq "$name: nothing reached the destination" "" "$s"
    if line=$(sp_log_wait "$SERVER_PLOG" "$TS\[error\] \($(re_escape "$SP_A4"):[0-9]+\) $(re_escape "$src") <-> $(re_escape "$dst"): $reason"); then
        ok "$name: the server logs the reason"
        [[ $line == *613200f2* || $line == *not-in-the-acl* ]] && not_ok "$name: the log line does not show the auth" "$line"
    else
        not_ok "$name: the server logs the reason" "wanted: $reason" "$(tail -n 5 "$SERVER_PLOG")"
    fi
}

next_port; allowed "allowed, IPv4" "$SP_SRC4:$NEXT_PORT" "$SP_DST4:80"
next_port; allowed "allowed, IPv6" "[$SP_SRC6]:$NEXT_PORT" "[$SP_DST6]:80"
next_port; rejected "wrong auth" "$SP_SRC4:$NEXT_PORT" "203.0.113.2:80" \
    'rejected by src checker: invalid auth: not found in acl$'
next_port; rejected "source outside the prefixes, IPv4" "$SP_OUT4:$NEXT_PORT" "$SP_DST4:80" \
    'rejected by src checker: src 198\.51\.100\.77 not in the allowed_src_ips of acl\[0\] \(line [0-9]+\)$'
next_port; rejected "source outside the prefixes, IPv6" "[$SP_OUT6]:$NEXT_PORT" "[$SP_DST6]:80" \
    'rejected by src checker: src 2001:db8:bbbb::7 not in the allowed_src_ips of acl\[0\] \(line [0-9]+\)$'
next_port; allowed "blank auth, any source (outside the UUID's prefixes)" "$SP_OUT4:$NEXT_PORT" "203.0.113.3:80"
next_port; allowed "blank auth, a source inside them too" "$SP_SRC4:$NEXT_PORT" "203.0.113.3:80"

# A client whose server does not answer: the app's connection is closed, and the client says why.
next_port
c=$(client "$NS_A" --bind "$SP_SRC4:$NEXT_PORT" --connect 203.0.113.4:80 --send-bytes 100 --seed 1 --timeout 5)
check_py "no server: the app's connection is closed without a byte" "j0['received'] == 0 and j0['elapsed'] < 4" "$c"
if sp_log_wait "$NOWHERE_PLOG" "$TS\[error\] $(re_escape "$SP_SRC4:$NEXT_PORT") <-> 203\.0\.113\.4:80: dial tcp 192\.0\.2\.1:21899: connect: connection refused\$" >/dev/null; then
    ok "no server: the client logs the dial error"
else not_ok "no server: the client logs the dial error" "$(tail -n 3 "$NOWHERE_PLOG")"; fi

check "the server is still running" proxy_alive "$(pgrep -f "srcproxy server $WORK/server.json" | head -1)"
finish
