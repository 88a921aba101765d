#!/usr/bin/env bash
# tproxy: interceptors, through the client/router/server namespaces of tproxy_relay.
#  - label (liproxy's -insertionLabel): each block arrives with the label and a newline in front of it, both ways;
#  - hexdump: the blocks in the log; the other direction stays spliced;
#  - pcap: tshark reads the file back, and the reassembled streams are the bytes that went through, both ways;
#  - a plugin (build/plugins/replace.so, built from conf/interceptor-replace.c) changes the bytes, also their
#    length;
#  - 32 MiB each way and half-close through the copy relay of an intercepted connection, hashes equal.
source "$(dirname "$0")/lib.sh"

PLUGIN_DIR=${PLUGIN_DIR:-$(dirname "$FERRY")/plugins}
tp_topology
start_server "$NS_S" echo "$TP_S4:80" "[$TP_S6]:80" -- --record-bytes 256
ECHO_LOG=$SERVER_LOG
start_server "$NS_S" halfclose-echo "$TP_S4:81" "[$TP_S6]:81"
HC_LOG=$SERVER_LOG
hexof() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }

# says NAME DST TEXT SERVER_SAW CLIENT_GETS: the client sends TEXT (one write) and reads the echo.
says() {
    local name=$1 dst=$2 text=$3 want_server=$4 want_client=$5 c s
    c=$(client "$NS_C" --connect "$dst" --header-hex "$(hexof "$text")" --send-bytes 0 --expect-bytes ${#want_client} --timeout 10)
    s=$(server_conn "$(jget "$c" local)" "$ECHO_LOG")
    check_py "$name: the server received exactly \"$(printf '%q' "$want_server")\"" \
        "j1 is not None and j1['head_in'] == '$(hexof "$want_server")'" "$c" "$s"
    check_py "$name: the client got exactly \"$(printf '%q' "$want_client")\"" \
        "j0['received'] == ${#want_client} and j0['sha256_received'] == '$(sha "$want_client")'" "$c" "$s"
}

# label, both directions: the echo's reply is labelled again on its way back.
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -insertionLabel "from ferry" || finish
says "label, IPv4" "$TP_S4:80" "hello world" $'from ferry\nhello world' $'from ferry\nfrom ferry\nhello world'
says "label, IPv6" "[$TP_S6]:80" "hello world" $'from ferry\nhello world' $'from ferry\nfrom ferry\nhello world'
check "label: the log names the interceptor" grep -q 'msg=interceptor name=label directions=both' "$PROXY_LOG"
stop_proxy

# hexdump of the client's direction; the server's comes back spliced, untouched.
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -interceptors hexdump@up -log-level debug || finish
says "hexdump@up" "$TP_S4:80" "hello hexdump" "hello hexdump" "hello hexdump"
check "hexdump@up: the block is in the log, under its flow and direction" grep -qE \
    'msg=hexdump clientsideAddr=198\.51\.100\.2:[0-9]+ serversideAddr=203\.0\.113\.2:80 direction=client->server bytes=13$' "$PROXY_LOG"
check "hexdump@up: ... as a hexdump" grep -qF '0000  68 65 6c 6c 6f 20 68 65 78 64 75 6d 70           |hello hexdump|' "$PROXY_LOG"
check "hexdump@up: the other direction is spliced" grep -qE 'msg="flow established" .*clientToServer=intercepted serverToClient=spliced' "$PROXY_LOG"
if grep -q 'direction=server->client' "$PROXY_LOG"; then not_ok "hexdump@up: nothing dumped server->client" "$(grep -c hexdump "$PROXY_LOG")"
else ok "hexdump@up: nothing dumped server->client"; fi
stop_proxy

# A plugin that replaces "hello" with "howdy partner" client->server (longer), and a pcap of both directions.
PCAP=$WORK/flows.pcap
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" \
    -interceptors "plugin=$PLUGIN_DIR/replace.so:hello=howdy partner@up,pcap=$PCAP" || finish
says "plugin, IPv4" "$TP_S4:80" "hello world, hello" "howdy partner world, howdy partner" "howdy partner world, howdy partner"
says "plugin, IPv6" "[$TP_S6]:80" "say hello" "say howdy partner" "say howdy partner"
check "plugin: the log names it" grep -q 'msg=interceptor name="plugin replace" directions=client->server' "$PROXY_LOG"

# 1 MiB each way, recorded: what tshark reassembles is what went through.
c=$(client "$NS_C" --connect "$TP_S4:80" --send-bytes 1048576 --seed 7 --expect-bytes 1048576 --timeout 20)
s=$(server_conn "$(jget "$c" local)" "$ECHO_LOG")
check_py "pcap: 1 MiB each way relayed intact" \
    "j1 is not None and j0['error'] is None and j0['received'] == 1048576 and j0['sha256_received'] == j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
PORT=$(jget "$c" local | sed 's/.*://')
sleep 0.5
stop_proxy  # the file is complete once ferry has closed every flow
follow() {  # follow STREAM_FILTER: the raw follow output of the flow from the client's port
    local idx
    idx=$(tshark -r "$PCAP" -Y "tcp.port == $PORT && tcp.flags.syn == 1 && tcp.flags.ack == 0" -T fields -e tcp.stream 2>/dev/null | head -1)
    [[ -n $idx ]] && tshark -r "$PCAP" -q -z "follow,tcp,raw,$idx" 2>/dev/null
}
out=$(follow)
got=$(printf '%s\n' "$out" | "$PYTHON" -c '
import sys, hashlib
up, down = hashlib.sha256(), hashlib.sha256()
nu = nd = 0
body = False
for line in sys.stdin:
    line = line.rstrip("\n")
    if line.startswith("Node 1:"):
        body = True
        continue
    if not body or not line or line.startswith("="):
        continue
    data = bytes.fromhex(line.strip())
    if line.startswith("\t"):
        down.update(data); nd += len(data)
    else:
        up.update(data); nu += len(data)
print(nu, up.hexdigest(), nd, down.hexdigest())')
check_eq "pcap: tshark reassembles both directions of the recorded flow, byte for byte" \
    "1048576 $(jget "$c" sha256_sent) 1048576 $(jget "$c" sha256_received)" "$got"
bad=$(tshark -r "$PCAP" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
    -Y 'tcp.checksum.status==0 || ip.checksum.status==0' 2>/dev/null | wc -l)
check_eq "pcap: no bad IP or TCP checksum in the file" 0 "$bad"
v6=$(tshark -r "$PCAP" -Y 'ipv6 && tcp.flags.syn == 1 && tcp.flags.ack == 0' -T fields -e ipv6.src -e tcp.srcport 2>/dev/null | head -1)
check "pcap: the IPv6 flow is there too, from the client's address" test "${v6%%$'\t'*}" = "$TP_C6"

# 32 MiB each way and half-close through a pass-through plugin (its pattern never occurs): the copy relay.
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -interceptors "plugin=$PLUGIN_DIR/replace.so:never-in-the-data=x" || finish
for dst in "$TP_S4:80" "[$TP_S6]:80"; do
    c=$(client "$NS_C" --connect "$dst" --send-bytes 33554432 --seed "$RANDOM" --expect-bytes 33554432 --timeout 60)
    s=$(server_conn "$(jget "$c" local)" "$ECHO_LOG")
    check_py "copy relay, $dst: 32 MiB each way, hashes equal" \
        "j1 is not None and j0['error'] is None and j0['received'] == 33554432 == j1['bytes_in'] and j0['sha256_received'] == j0['sha256_sent'] == j1['sha256_in']" "$c" "$s"
    hdst=${dst%:80}:81
    c=$(client "$NS_C" --connect "$hdst" --send-bytes 2000000 --seed "$RANDOM" --shutdown-after-send --timeout 20)
    s=$(server_conn "$(jget "$c" local)" "$HC_LOG")
    check_py "copy relay, $hdst: half-close, the whole echo after the client's EOF" \
        "j1 is not None and j1['bytes_in'] == 2000000 and j0['error'] is None and j0['closed_by_peer'] and j0['received'] == 2000000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
done
rss=$(awk '/VmHWM/ {print $2}' "/proc/$PROXY_PID/status")
check_py "copy relay: ferry's peak RSS stays small (${rss} KiB: blocks are bounded)" "$rss < 65536" ""
stop_proxy

# A plugin that holds back the last byte of every block: its eof() must get it out before the half-close.
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -interceptors "plugin=$PLUGIN_DIR/test-holdback.so" || finish
c=$(client "$NS_C" --connect "$TP_S4:81" --send-bytes 300000 --seed 9 --shutdown-after-send --timeout 20)
s=$(server_conn "$(jget "$c" local)" "$HC_LOG")
check_py "held-back bytes: the server got every byte before the EOF, and the echo came back whole" \
    "j1 is not None and j1['bytes_in'] == 300000 and j1['sha256_in'] == j0['sha256_sent'] and j0['error'] is None and j0['received'] == 300000 and j0['sha256_received'] == j0['sha256_sent']" "$c" "$s"
# It emits 2 MiB for one block starting with "overflow", ignoring emit's refusals: reset, not a stream with a hole.
c=$(client "$NS_C" --connect "$TP_S4:80" --header-hex "$(hexof overflow)" --send-bytes 0 --timeout 5)
check_py "an interceptor past 1 MiB for one block: the connection is reset, nothing passed on" "j0['received'] == 0" "$c"
if sp_log_wait "$PROXY_LOG" 'level=WARN msg="proxy error" .*errorMsg="interceptor failed: plugin holdback: its data\(\) emitted more than 1 MiB for one block"' >/dev/null; then
    ok "an interceptor past 1 MiB: the log says which and why"
else not_ok "an interceptor past 1 MiB: the log says which and why" "$(tail -n 3 "$PROXY_LOG")"; fi
finish
