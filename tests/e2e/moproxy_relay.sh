#!/usr/bin/env bash
# moproxy: what the relay through a backend must keep.
#  - The pipelined SOCKS5 variant (`socks fake handshaking`: greeting, request and the client's first bytes in
#    one write) against ss-local + ss-server (shadowsocks-libev), whose replies ferry still parses.
#  - Half-close in both directions and 32 MiB each way with hashes equal, through the tests' own SOCKS5 server
#    (Debian's ss-local, like microsocks, closes both ways at the first EOF: checked here, 2026-12).
#  - TCP Fast Open towards the backend: on by default, off with --no-tfo, seen in R's TcpExt counters.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$MO_S4:81" "[$MO_S6]:81"
HALF_LOG=$SERVER_LOG
SOURCE_BYTES=3000000
start_server "$NS_S" source "$MO_S4:82" "[$MO_S6]:82" -- --bytes $((32 << 20)) --seed 11
SOURCE_LOG=$SERVER_LOG
MIB32=$((32 << 20))
in_ns "$NS_R" sysctl -qw net.ipv4.tcp_fastopen=3  # client and server bits: ferry and the backends in R
mo_shadowsocks ss 1082 8388
mo_socks5d hc 1083 203.0.113.14 --tfo
cat >"$WORK/servers.ini" <<INI
[ss]
address = 127.0.0.1:1082
protocol = socks5
socks fake handshaking = true
INI
cat >"$WORK/hc.ini" <<INI
[hc]
address = 127.0.0.1:1083
protocol = socks5
INI

# echo_case NAME DEST BYTES: the client streams BYTES while the destination echoes them.
ECHOES=0
echo_case() {
    local name=$1 dest=$2 bytes=$3 c s
    c=$(client "$NS_C" --connect "$dest" --send-bytes "$bytes" --seed "$RANDOM" --expect-bytes "$bytes" --timeout 90)
    ECHOES=$((ECHOES + 1))
    s=$("$PYTHON" "$PEER" find --log "$ECHO_LOG" --nth "$ECHOES" --timeout 10)
    check_py "$name: $bytes bytes each way, hashes equal" \
        "j0['error'] is None and j0['received'] == j0['sent'] == $bytes and j0['sha256_received'] == j0['sha256_sent'] and j1 is not None and j1['bytes_in'] == $bytes and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}

start_moproxy -l "$WORK/servers.ini" --probe 0 || finish
echo_case "pipelined via ss-local, small" "$MO_S4:80" 1000
echo_case "pipelined via ss-local, 32 MiB, v4" "$MO_S4:80" "$MIB32"
echo_case "pipelined via ss-local, 32 MiB, v6" "[$MO_S6]:80" "$MIB32"
stop_proxy

start_moproxy -l "$WORK/hc.ini" --probe 0 || finish
active0=$(tcpext "$NS_R" TCPFastOpenActive)
echo_case "32 MiB each way, v4" "$MO_S4:80" "$MIB32"
echo_case "32 MiB each way, v6" "[$MO_S6]:80" "$MIB32"

# The client sends, then shuts down its write side; the destination reads to EOF, then echoes and closes.
c=$(client "$NS_C" --connect "$MO_S4:81" --send-bytes 2000000 --seed 7 --shutdown-after-send --timeout 30)
check_py "client half-close: the whole echo arrives after the client's FIN, then EOF" \
    "j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 2000000 and j0['sha256_received'] == j0['sha256_sent']" "$c"
s=$("$PYTHON" "$PEER" find --log "$HALF_LOG" --nth 1 --timeout 5)
check_py "client half-close: the destination saw every byte, then EOF" "j0 is not None and j0['bytes_in'] == 2000000" "$s"

# Independent streams: the destination sends its own 32 MiB and its FIN while the client sends 32 MiB after
# half a second, then its FIN: both arrive whole.
c=$(client "$NS_C" --connect "[$MO_S6]:82" --pre-payload-delay 0.5 --send-bytes "$MIB32" --seed 9 --shutdown-after-send --timeout 90)
s=$("$PYTHON" "$PEER" find --log "$SOURCE_LOG" --nth 1 --timeout 10)
check_py "server half-close first: the client got all 32 MiB of the destination's and its EOF" \
    "j1 is not None and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == j1['bytes_out'] == $MIB32 and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
check_py "server half-close first: the destination still got all 32 MiB the client sent after its FIN" \
    "j1 is not None and j1['bytes_in'] == j0['sent'] == $MIB32 and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
active1=$(tcpext "$NS_R" TCPFastOpenActive)
check_py "TCP Fast Open: ferry's handshakes went out in SYNs (TcpExt TCPFastOpenActive $active0 -> $active1)" \
    "j1 >= j0 + 2" "$active0" "$active1"
check_py "status: the bytes of every relayed connection are counted" \
    "j0['servers'][0]['tx_bytes'] >= 3 * $MIB32 + 2000000 and j0['servers'][0]['rx_bytes'] >= 3 * $MIB32 + 2000000 and j0['servers'][0]['conn_total'] == 4 and j0['servers'][0]['conn_alive'] == 0" "$(mo_status)"
stop_proxy

start_moproxy -l "$WORK/hc.ini" --probe 0 --no-tfo || finish
active2=$(tcpext "$NS_R" TCPFastOpenActive)
echo_case "--no-tfo" "$MO_S4:80" 100000
echo_case "--no-tfo, again" "$MO_S4:80" 100000
check_eq "--no-tfo: TCPFastOpenActive unchanged" "$active2" "$(tcpext "$NS_R" TCPFastOpenActive)"
finish
