#!/usr/bin/env bash
# moproxy: backends that want credentials. SOCKS5 with RFC 1929 username/password (microsocks -u/-P) and HTTP
# CONNECT with Basic auth (tinyproxy BasicAuth): the right credentials relay; wrong ones fail that attempt with
# the proxy's answer in the log, and the connection moves on to the next backend.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks socks-auth 1081 203.0.113.11 -u alice -P 's3cret pass'
mo_tinyproxy http-auth 3128 203.0.113.13 "BasicAuth bob hunter2"

# one_backend NAME INI_BODY EXPECT_PEER: ferry with only this backend (probes off: the ranking is the list).
run_case() {
    local name=$1 body=$2 want=$3
    printf '%s\n' "$body" >"$WORK/$name.ini"
    start_moproxy -l "$WORK/$name.ini" --probe 0 --allow-direct || return
    local c s
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes 200000 --seed "$RANDOM" --expect-bytes 200000 --timeout 20)
    CONNS=$(( ${CONNS:-0} + 1 ))
    s=$(server_nth "$CONNS")
    check_py "$name: bytes intact" \
        "j0['error'] is None and j0['received'] == 200000 and j0['sha256_received'] == j0['sha256_sent'] and j1 is not None and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
    check_eq "$name: carried by the expected path" "$want" "$(jget "$s" peer | sed -E 's/:[0-9]+$//')" "$c" "$s"
    stop_proxy
}

run_case "socks5 right password" "[s]
address = 127.0.0.1:1081
protocol = socks5
socks username = alice
socks password = s3cret pass" 203.0.113.11

run_case "socks5 wrong password" "[s]
address = 127.0.0.1:1081
protocol = socks5
socks username = alice
socks password = wrong" 203.0.113.1
check "socks5 wrong password: the rejection is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "proxy attempt failed" --field server=s --contains error="rejected"

run_case "socks5 without credentials to a server that wants them" "[s]
address = 127.0.0.1:1081
protocol = socks5" 203.0.113.1
check "socks5 no credentials: the refusal is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "proxy attempt failed" --field server=s --contains error="authentication method"

run_case "http right password" "[h]
address = 127.0.0.1:3128
protocol = http
http username = bob
http password = hunter2" 203.0.113.13

run_case "http wrong password" "[h]
address = 127.0.0.1:3128
protocol = http
http username = bob
http password = nope" 203.0.113.1
check "http wrong password: the refusal (tinyproxy 1.11 answers 401, not 407) is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "proxy attempt failed" --field server=h --contains error="replied 401 Unauthorized"

# Both in one list: the failing one first; the connection moves on to the next without the client noticing.
run_case "wrong credentials first, right ones next" "[bad]
address = 127.0.0.1:3128
protocol = http
http username = bob
http password = nope
[good]
address = 127.0.0.1:1081
protocol = socks5
socks username = alice
socks password = s3cret pass" 203.0.113.11
finish
