#!/usr/bin/env bash
# srcproxy server: relay requests sent raw, byte for byte.
#  - the reference's test vectors (../shared/reference/srcproxy.md): 1 and 2 (IPv4, mapped source) and 3
#    (IPv6, blank auth) relayed from the header's own source; 4 (auth length 0) rejected with the ACL on and
#    relayed with it off (`"acl": []`); version 2 rejected;
#  - malformed: bad opcode, address lengths, destination port 0, garbage (an HTTP request);
#  - truncated: EOF mid-header, and silence (the header deadline the reference lacks);
#  - a header split across writes, and payload in the same write as the header: both intact;
#  - a source port still in TIME_WAIT from the previous connection (SO_REUSEADDR; the reference fails);
#  - ferry's destination ACL (allowed_dst_ips / allowed_dst_ports);
#  - and after all of it the server still relays.
source "$(dirname "$0")/lib.sh"

sp_topology
start_server "$NS_B" echo "0.0.0.0:80" "[::]:80" "0.0.0.0:443"
ECHO_LOG=$SERVER_LOG
start_server "$NS_B" echo "0.0.0.0:81"
ECHO81_LOG=$SERVER_LOG
cat >"$WORK/server.json" <<'JSON5'
{
  listen: '192.0.2.1:21829',
  acl: [
    { auth: '613200f2-0af9-40e3-9dc2-a5d6f365db1b', allowed_src_ips: ['192.0.2.128/25', '2001:db8:aaaa::/64'] },
    { auth: '' },
    { auth: 'limited', allowed_dst_ips: ['203.0.113.1/32'], allowed_dst_ports: [80, '82-83'] },
  ],
  timeout: '2s',   // also the header deadline (at most 10 s)
}
JSON5
cat >"$WORK/open.json" <<'JSON5'
{ listen: '192.0.2.1:21830', acl: [], timeout: 30 }
JSON5
start_srcproxy "$NS_B" 21829 server "$WORK/server.json" || finish
SERVER_PLOG=$PROXY_LOG
start_srcproxy "$NS_B" 21830 server "$WORK/open.json" || finish
OPEN_PLOG=$PROXY_LOG

TS='^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '
UUID_D=70032a0d7130761d1d9fd670d167effd2e99c771ef6fc89aca0fb90a56ab363a
BLANK_D=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
V1="0101 20 $UUID_D 04 c6336401 01bb 04 c0000282 9c40"
V2="0101 20 $UUID_D 04 c6336401 01bb 10 00000000000000000000ffffc0000282 9c40"
V3="0101 20 $BLANK_D 10 20010db8cccc00000000000000000001 0050 10 20010db8aaaa0000000000000000abcd bc2c"
V4="0101 00 04 c6336401 01bb 04 c0000282 9c40"
hex() { printf '%s' "$*" | tr -d ' '; }

# raw_relayed NAME HEX SRC [SERVER] [EXTRA client args]: the request, then 4000 bytes echoed back by the
# destination, which saw SRC.
raw_relayed() {
    local name=$1 h=$2 src=$3 server=${4:-$SP_B4:21829} c s log=${ECHO:-$ECHO_LOG}
    shift 4 2>/dev/null || shift $#
    c=$(client "$NS_A" --connect "$server" --header-hex "$(hex "$h")" --send-bytes 4000 --seed "$RANDOM" --expect-bytes 4000 "$@" --timeout 10)
    s=$(server_conn "$src" "$log")
    check_py "$name: relayed from the header's source $src, bytes intact" \
        "j1 is not None and j0['error'] is None and j0['received'] == 4000 and j0['sha256_received'] == j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
}

# raw_rejected NAME HEX LOG_REGEX [EXTRA client args]
raw_rejected() {
    local name=$1 h=$2 re=$3 c
    shift 3
    c=$(client "$NS_A" --connect "$SP_B4:21829" --header-hex "$(hex "$h")" --send-bytes 4000 --seed 1 "$@" --timeout 10)
    check_py "$name: closed without a byte back" "j0['received'] == 0 and j0['elapsed'] < 9" "$c"
    if sp_log_wait "$SERVER_PLOG" "$TS\[error\] \($(re_escape "$SP_A4"):$(jget "$c" local | sed 's/.*://')\) $re" >/dev/null; then
        ok "$name: the server logs why"
    else
        not_ok "$name: the server logs why" "wanted: $re" "client: $c" "$(tail -n 5 "$SERVER_PLOG")"
    fi
}

# Vector 2 first and closed with a reset (no TIME_WAIT), so that vector 1 can use the same 4-tuple.
raw_relayed "vector 2 (mapped 16-byte source)" "$V2" "192.0.2.130:40000" "$SP_B4:21829" --linger-rst
raw_relayed "vector 1 (IPv4)" "$V1" "192.0.2.130:40000"
raw_relayed "vector 3 (IPv6, blank auth)" "$V3" "[2001:db8:aaaa::abcd]:48172"
raw_rejected "vector 4 (auth length 0) with the ACL on" "$V4" \
    '192\.0\.2\.130:40000 <-> 198\.51\.100\.1:443: rejected by src checker: invalid auth: 0 bytes, not a 32-byte SHA-256 digest$'
raw_rejected "version 2" "02${V1:2}" '<nil> <-> <nil>: unsupported version: 2$'

# With the ACL off an empty auth is relayed: vector 4 with the source moved to 192.0.2.131:40001 (vector 1's
# 4-tuple is in TIME_WAIT on the server, below).
V4B="0101 00 04 c6336401 01bb 04 c0000283 9c41"
raw_relayed "ACL off (\"acl\": []): an empty auth is relayed" "$V4B" "192.0.2.131:40001" "$SP_B4:21830"
if grep -qE "$TS\[warn\] .*acl.*\[\]" "$OPEN_PLOG"; then ok "ACL off: the server warns that [] turns the ACL off"
else not_ok "ACL off: the server warns that [] turns the ACL off" "$(head -n 5 "$OPEN_PLOG")"; fi

# TIME_WAIT: vector 1's server-side socket from 192.0.2.130:40000 sent the first FIN.
tw=$(in_ns "$NS_B" ss -Htn state time-wait src 192.0.2.130:40000)
check "TIME_WAIT: the server's socket from 192.0.2.130:40000 is in TIME_WAIT" test -n "$tw"
ECHO=$ECHO81_LOG raw_relayed "TIME_WAIT: the same source port to another destination port is relayed" \
    "$(sp_header 613200f2-0af9-40e3-9dc2-a5d6f365db1b 198.51.100.1:81 192.0.2.130:40000)" "192.0.2.130:40000"

raw_rejected "bad opcode" "0102${V1:4}" '<nil> <-> <nil>: unsupported opcode: 2$'
raw_rejected "destination length 5" "0101 20 $UUID_D 05 c633640101 01bb 04 c0000282 9c40" '<nil> <-> <nil>: invalid dst addr len: 5$'
raw_rejected "source length 3" "0101 20 $UUID_D 04 c6336401 01bb 03 c00002 9c40" '<nil> <-> <nil>: invalid src addr len: 3$'
raw_rejected "destination port 0" "0101 20 $UUID_D 04 c6336401 0000 04 c0000282 9c40" '<nil> <-> <nil>: invalid dst port: 0$'
raw_rejected "garbage (an HTTP request)" "$(printf 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' | od -An -tx1 | tr -d ' \n')" \
    '<nil> <-> <nil>: unsupported version: 71$'
raw_rejected "truncated, then EOF" "${V1:0:40}" '<nil> <-> <nil>: EOF before a complete relay request$' --send-bytes 0 --shutdown-after-send
c=$(client "$NS_A" --connect "$SP_B4:21829" --header-hex "$(hex "${V1:0:40}")" --send-bytes 0 --timeout 8)
check_py "truncated, then silence: closed by the header deadline (2 s), not left open" \
    "j0['received'] == 0 and 1.5 < j0['elapsed'] < 6" "$c"
if sp_log_wait "$SERVER_PLOG" "$TS\[error\] \($(re_escape "$SP_A4"):$(jget "$c" local | sed 's/.*://')\) <nil> <-> <nil>: no complete relay request within 2000 ms$" >/dev/null; then
    ok "truncated, then silence: the server logs the deadline"
else not_ok "truncated, then silence: the server logs the deadline" "$(tail -n 3 "$SERVER_PLOG")"; fi

# `timeout` is the idle timeout too: a relayed connection without traffic either way for 2 s is closed.
c=$(client "$NS_A" --connect "$SP_B4:21829" --header-hex "$(sp_header '' 203.0.113.1:80 192.0.2.143:40015)" \
    --send-bytes 100 --seed 2 --timeout 8)
check_py "idle for the timeout (2 s): closed by the server, after the echo" \
    "j0['received'] == 100 and (j0['closed_by_peer'] or j0['error'] == 'ECONNRESET') and 1.5 < j0['elapsed'] < 6" "$c"
if sp_log_wait "$SERVER_PLOG" "$TS\[error\] \($(re_escape "$SP_A4"):[0-9]+\) 192\.0\.2\.143:40015 <-> 203\.0\.113\.1:80: idle for 2000 ms\$" >/dev/null; then
    ok "idle for the timeout: the server logs it"
else not_ok "idle for the timeout: the server logs it" "$(tail -n 3 "$SERVER_PLOG")"; fi

raw_relayed "a header split in two writes 300 ms apart" \
    "$(sp_header '' 203.0.113.1:80 192.0.2.140:40010)" "192.0.2.140:40010" "$SP_B4:21829" --split-at 20 --split-delay 0.3

# ferry's destination ACL: auth "limited" may reach 203.0.113.1 on ports 80, 82 and 83 only.
raw_relayed "destination ACL: an allowed destination" "$(sp_header limited 203.0.113.1:80 192.0.2.141:40011)" "192.0.2.141:40011"
raw_rejected "destination ACL: another address" "$(sp_header limited 203.0.113.2:80 192.0.2.141:40012)" \
    '192\.0\.2\.141:40012 <-> 203\.0\.113\.2:80: rejected by dst checker: .*203\.0\.113\.2'
raw_rejected "destination ACL: another port" "$(sp_header limited 203.0.113.1:81 192.0.2.141:40013)" \
    '192\.0\.2\.141:40013 <-> 203\.0\.113\.1:81: rejected by dst checker: .*81'

# Without CAP_NET_ADMIN (and CAP_NET_RAW, which newer kernels also accept) the server cannot add IP_TRANSPARENT to IP_FREEBIND: IPv4 then connects from a foreign
# source only when the source is in the local routing table (the kernel's rule, not ferry's); IPv6 also with
# the README's policy route (table 30).
ip -n "$NS_B" route add local 203.0.113.200/32 dev lo
printf '{ listen: "192.0.2.1:21831" }\n' >"$WORK/unprivileged.json"
SP_WRAP="setpriv --bounding-set -net_admin,-net_raw" start_srcproxy "$NS_B" 21831 server "$WORK/unprivileged.json" || finish
UNPRIV_PLOG=$PROXY_LOG
check "without CAP_NET_ADMIN: the server says at start what that means for IPv4" \
    grep -qE "$TS\[warn\] no CAP_NET_ADMIN: IPv4 connections .* local routing table" "$UNPRIV_PLOG"
raw_relayed "without CAP_NET_ADMIN: IPv4 from a source in the local table" \
    "$(sp_header '' 203.0.113.1:80 203.0.113.200:40020)" "203.0.113.200:40020" "$SP_B4:21831"
raw_relayed "without CAP_NET_ADMIN: IPv6 from a source made local by the policy route" \
    "$(sp_header '' "[$SP_DST6]:80" "[2001:db8:aaaa::99]:40021")" "[2001:db8:aaaa::99]:40021" "$SP_B4:21831"
c=$(client "$NS_A" --connect "$SP_B4:21831" --header-hex "$(sp_header '' 203.0.113.1:80 192.0.2.150:40022)" \
    --send-bytes 100 --seed 1 --timeout 5)
check_py "without CAP_NET_ADMIN: IPv4 from a source local only by the policy route is closed" "j0['received'] == 0" "$c"
if sp_log_wait "$UNPRIV_PLOG" "192\.0\.2\.150:40022 <-> 203\.0\.113\.1:80: dial tcp 192\.0\.2\.150:40022->203\.0\.113\.1:80: connect: network is unreachable\$" >/dev/null; then
    ok "without CAP_NET_ADMIN: ... and the server logs the kernel's answer"
else not_ok "without CAP_NET_ADMIN: ... and the server logs the kernel's answer" "$(tail -n 3 "$UNPRIV_PLOG")"; fi

raw_relayed "after all that, the server still relays" "$(sp_header 613200f2-0af9-40e3-9dc2-a5d6f365db1b 203.0.113.1:80 192.0.2.142:40014)" "192.0.2.142:40014"
finish
