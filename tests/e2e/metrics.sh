#!/usr/bin/env bash
# Metrics in every mode: each mode runs with a stats listener, gets known traffic, and its /metrics
# (OpenMetrics) and /status (JSON) are scraped with curl and checked against what was sent, count for count.
#  - mmproxy -p all: three good TCP connections of 1000 bytes each way, a malformed header, a silent client
#    (header timeout), a peer outside -allowed-subnets, a header whose family's target refuses the connection;
#    UDP: five datagrams echoed, a malformed datagram, a sender outside the allowed subnets. Then the HTML page
#    in headless Chromium (FERRY_SCREENSHOT=1 also saves it as docs/status-page.png).
#  - tproxy: two good flows, one to a port where nothing listens (connect refused), one to a port whose SYNs
#    are dropped (connect timeout); the text page.
#  - srcproxy server: two relayed requests, garbage, a source its ACL refuses, a silent client; srcproxy client
#    (REDIRECT in front of it): two relayed connections, one that was not redirected.
#  - ferry run (`status` in [ferry]): two named listeners, one to a live target, one to a dead one; the page in
#    Chromium; after a SIGHUP that revives the dead one, the counts kept and the new connection counted.
#  - the flag's and the key's errors.
source "$(dirname "$0")/lib.sh"

if ! command -v curl >/dev/null; then
    not_ok "curl installed" "run make deps"
    finish
fi

# scrape NS ADDR PATH: the body of http://ADDR/PATH from inside NS.
scrape() { in_ns "$1" curl -sS --max-time 5 "http://$2/$3"; }

# check_metrics NAME METRICS_TEXT LINE...: every LINE ("family{labels} value") is a sample of METRICS_TEXT, and
# METRICS_TEXT ends with "# EOF" (its last newline taken by the command substitution).
check_metrics() {
    local name=$1 text=$2 missing
    shift 2
    missing=$("$PYTHON" - "$text" "$@" <<'PY'
import sys
text, want = sys.argv[1], sys.argv[2:]
lines = set(text.split('\n'))
bad = [w for w in want if w not in lines]
if not text.endswith('\n# EOF'):
    bad.append('(no "# EOF" at the end)')
print('\n'.join(bad))
PY
    )
    if [[ -z $missing ]]; then ok "$name"; else not_ok "$name" "missing lines:" "$missing" "metrics:" "$text"; fi
}

# check_openmetrics NAME METRICS_TEXT: the text parses as OpenMetrics 1.0 (Prometheus's own parser, strict: types,
# unit and _total suffixes, histogram buckets, # EOF) into at least 10 families.
check_openmetrics() {
    local name=$1 out
    if ! out=$(printf '%s\n' "$2" | "$PYTHON" -c '
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
assert len(families) >= 10, [f.name for f in families]
print(len(families), "families")
' 2>&1); then
        not_ok "$name" "$out" "(python3-prometheus-client: make deps)"
    else
        ok "$name ($out)"
    fi
}

# wait_json NS ADDR EXPR [TIMEOUT_S]: poll /status until the python EXPR on it (as j) holds; prints the last JSON.
wait_json() {
    local ns=$1 addr=$2 expr=$3 timeout=${4:-5} i json
    for ((i = 0; i < timeout * 10; i++)); do
        json=$(scrape "$ns" "$addr" status)
        if "$PYTHON" -c "import json,sys; j=json.loads(sys.argv[1]); sys.exit(0 if ($expr) else 1)" "$json" 2>/dev/null
        then break; fi
        sleep 0.1
    done
    printf '%s' "$json"
}

# next_topology: the namespaces of the part before (and what runs in them) are gone, so the next part can make its
# own topology with the usual names.
next_topology() {
    local ns pid
    disown -a  # what is killed here is not reported as a killed job
    for ns in "${E2E_NETNS[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    sleep 0.1
    for ns in "${E2E_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    E2E_NETNS=()
}

# ------------------------------------------------------------------ mmproxy, TCP and UDP

mm_topology
C4B=198.51.100.3  # a second client address, outside the allowed subnets
ip -n "$NS_C" addr add "$C4B/24" dev "${E2E_ID}1a"
printf '198.51.100.2/32\n' >"$WORK/allowed.txt"
ECHO_LOG=$WORK/udpecho.jsonl
: >"$ECHO_LOG"
bg_ns "$NS_P" udpecho "$PYTHON" "$PEER" udpecho --listen "127.0.0.1:$SRV_PORT" --log "$ECHO_LOG"
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT"
MM_STATS=127.0.0.1:9100
# -6 goes nowhere: an IPv6 client's connection is refused by the target.
start_proxy "$NS_P" -p all -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:9999" -header-timeout 1s \
    -allowed-subnets "$WORK/allowed.txt" -stats-bind "$MM_STATS" || finish
wait_tcp_listen "$NS_P" 9100 5 || not_ok "mmproxy: the stats listener listens on $MM_STATS"
sleep 0.3

L='address="0.0.0.0:8443"'
check_metrics "mmproxy: before any traffic, every count is zero" "$(scrape "$NS_P" "$MM_STATS" metrics)" \
    "ferry_connections_accepted_total{$L} 0" "ferry_connections_active{$L} 0" \
    "ferry_connections_failed_total{$L,reason=\"header_invalid\"} 0" "ferry_udp_flows_opened_total{$L} 0"

for i in 1 2 3; do
    next_port
    h=$(hdr v2 --src "203.0.113.50:$NEXT_PORT" --dst 192.0.2.1:443)
    c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$h" --send-bytes 1000 --seed "$i" --expect-bytes 1000 \
        --timeout 5)
    check_py "mmproxy: good connection $i relayed, 1000 bytes each way" "j0['received'] == 1000" "$c"
done
# Malformed: an HTTP request instead of a header.
c=$(client "$NS_C" --connect "$P4:8443" --header-text 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n' --timeout 5)
check_py "mmproxy: malformed header closed" "$CLOSED_EXPR" "$c"
# Silent: closed after -header-timeout.
c=$(client "$NS_C" --connect "$P4:8443" --timeout 5)
check_py "mmproxy: silent client closed after the header timeout" "$CLOSED_EXPR and j0['elapsed'] > 0.7" "$c"
# Outside -allowed-subnets.
h=$(hdr v2 --src 203.0.113.51:40000 --dst 192.0.2.1:443)
c=$(client "$NS_C" --bind "$C4B:0" --connect "$P4:8443" --header-hex "$h" --send-bytes 10 --timeout 5)
check_py "mmproxy: a peer outside the allowed subnets closed" "j0['received'] == 0" "$c"
# An IPv6 client: the -6 target refuses.
next_port
h=$(hdr v2 --src "[2001:db8:9::1]:$NEXT_PORT" --dst "[2001:db8:9::2]:443")
c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$h" --send-bytes 10 --timeout 5)
check_py "mmproxy: connection to a refusing target closed" "$CLOSED_EXPR" "$c"

# UDP: five datagrams echoed, one malformed, one from outside the allowed subnets.
r=$(in_ns "$NS_C" "$PYTHON" "$PEER" udpclient --connect "$P4:8443" \
    --header-hex "$(hdr v2 --family 0x12 --src 203.0.113.7:5353 --dst 192.0.2.1:53)" --payload m --count 5)
check_py "mmproxy UDP: five datagrams echoed back" "len(j0['replies']) == 5" "$r"
in_ns "$NS_C" "$PYTHON" - "$P4" "$C4B" <<'PY'
import socket, sys
proxy, other = sys.argv[1:3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b'not a PROXY header', (proxy, 8443))
t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
t.bind((other, 0))
# A valid header (LOCAL), from an address the allowed subnets leave out.
t.sendto(bytes.fromhex('0d0a0d0a000d0a515549540a20000000') + b'x', (proxy, 8443))
PY

TCP="[l for l in j['listeners'] if l['protocol'] == 'tcp'][0]"
UDP="[l for l in j['listeners'] if l['protocol'] == 'udp'][0]"
json=$(wait_json "$NS_P" "$MM_STATS" \
    "$TCP['closed'] == 3 and $TCP['active'] == 0 and sum($UDP['dropped'].values()) == 2")
metrics=$(scrape "$NS_P" "$MM_STATS" metrics)
check_openmetrics "mmproxy /metrics is valid OpenMetrics" "$metrics"
check_metrics "mmproxy /metrics: TCP counts match the traffic sent" "$metrics" \
    "ferry_connections_accepted_total{$L} 7" \
    "ferry_connections_active{$L} 0" \
    "ferry_connections_established_total{$L} 3" \
    "ferry_connections_closed_total{$L} 3" \
    "ferry_connections_failed_total{$L,reason=\"header_invalid\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"header_timeout\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"subnet_refused\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"connect_refused\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"other\"} 0" \
    "ferry_connections_failed_total{$L,reason=\"reset\"} 0" \
    "ferry_bytes_up_total{$L} 3000" \
    "ferry_bytes_down_total{$L} 3000" \
    "ferry_handshake_duration_seconds_count{$L} 4" \
    "ferry_connect_duration_seconds_count{$L} 3" \
    "ferry_connect_duration_seconds_bucket{$L,le=\"+Inf\"} 3" \
    "ferry_listener_pauses_total{$L,reason=\"resources\"} 0"
check_metrics "mmproxy /metrics: UDP counts match the datagrams sent" "$metrics" \
    "ferry_udp_flows_opened_total{$L} 1" \
    "ferry_udp_flows_active{$L} 1" \
    "ferry_udp_datagrams_up_total{$L} 5" \
    "ferry_udp_datagrams_down_total{$L} 5" \
    "ferry_udp_datagrams_dropped_total{$L,reason=\"header_invalid\"} 1" \
    "ferry_udp_datagrams_dropped_total{$L,reason=\"subnet_refused\"} 1" \
    "ferry_udp_datagrams_dropped_total{$L,reason=\"send_failed\"} 0"
# as_json TEXT: TEXT as a JSON string, for check_py.
as_json() { printf '%s' "$1" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read()))'; }
check_py "mmproxy /metrics: no moproxy families without proxies, an uptime" \
    "'ferry_moproxy_' not in j0 and '\\nferry_uptime_seconds ' in j0" "$(as_json "$metrics")"
check_py "mmproxy /status: the same counts in JSON" "$(cat <<'PY'
(lambda t, u: t['name'] == '' and t['address'] == '0.0.0.0:8443' and t['accepted'] == 7 and t['active'] == 0
 and t['established'] == 3 and t['closed'] == 3 and t['bytes_up'] == 3000 and t['bytes_down'] == 3000
 and {k: v for k, v in t['failed'].items() if v} == {'header_invalid': 1, 'header_timeout': 1, 'subnet_refused': 1,
                                                      'connect_refused': 1}
 and t['handshake_ms']['count'] == 4 and t['connect_ms']['count'] == 3
 and t['connect_ms']['buckets'][-1] == {'le': '+Inf', 'count': 3}
 and u['flows_opened'] == 1 and u['flows_active'] == 1 and u['datagrams_up'] == 5 and u['datagrams_down'] == 5
 and {k: v for k, v in u['dropped'].items() if v} == {'header_invalid': 1, 'subnet_refused': 1}
 and 'servers' not in j0)(
    [l for l in j0['listeners'] if l['protocol'] == 'tcp'][0],
    [l for l in j0['listeners'] if l['protocol'] == 'udp'][0])
PY
)" "$json"
text=$(scrape "$NS_P" "$MM_STATS" "")
tcp_line="tcp 0.0.0.0:8443: accepted 7, active 0, established 3, closed 3, failed 4 (header_invalid 1, "
tcp_line+="header_timeout 1, subnet_refused 1, connect_refused 1), up 2.93KiB, down 2.93KiB"
udp_line="udp 0.0.0.0:8443: flows 1, active 1, datagrams up 5, down 5, dropped 2 "
udp_line+="(subnet_refused 1, header_invalid 1)"
check "mmproxy text page: a line per listener" bash -c 'grep -qxF "$2" <<<"$1" && grep -qxF "$3" <<<"$1"' _ "$text" \
    "$tcp_line" "$udp_line"

# The HTML page as a browser renders it.
if command -v chromium >/dev/null 2>&1; then
    chrome=(timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
        --disable-background-networking --disable-component-update --disable-sync --hide-scrollbars
        --user-data-dir="$WORK/chromium")
    in_ns "$NS_P" "${chrome[@]}" --dump-dom "http://$MM_STATS/" >"$WORK/page.html" 2>"$WORK/chromium.err"
    check "HTML in Chromium: the listeners' tables with the counts sent" "$PYTHON" - "$WORK/page.html" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
assert '<title>ferry mmproxy</title>' in html, 'title'
assert 'id="servers"' not in html, 'no servers table without proxies'
tcp = re.search(r'<table id="listeners">.*?</table>', html, re.S).group(0)
row = re.search(r'<tr data-listener="" data-address="0.0.0.0:8443">.*?</tr>', tcp, re.S).group(0)
cell = lambda cls: re.search(r'<td class="%s" data-value="(\d+)"' % cls, row).group(1)
assert (cell('accepted'), cell('active'), cell('established'), cell('closed'), cell('failed')) == \
    ('7', '0', '3', '3', '4'), row
reasons = dict(re.findall(r'data-reason="([a-z_]+)" data-value="(\d+)"', row))
assert reasons == {'header_invalid': '1', 'header_timeout': '1', 'subnet_refused': '1', 'connect_refused': '1'}, reasons
assert cell('bytes-up') == '3000' and cell('bytes-down') == '3000', row
udp = re.search(r'<table id="udp-listeners">.*?</table>', html, re.S).group(0)
assert re.search(r'<td class="datagrams-up" data-value="5"', udp), udp
PY
    if [[ ${FERRY_SCREENSHOT:-0} == 1 ]]; then
        in_ns "$NS_P" "${chrome[@]}" --window-size=1280,400 --screenshot="$WORK/status-page.png" "http://$MM_STATS/" \
            2>>"$WORK/chromium.err" >/dev/null
        check "screenshot saved as docs/status-page.png" cp "$WORK/status-page.png" "$REPO_ROOT/docs/status-page.png"
    fi
else
    not_ok "chromium is installed (make deps)"
fi
stop_proxy

# ------------------------------------------------------------------ mmproxy at its limits

# hold N SECONDS: N connections from C that send nothing, held for SECONDS (in the background). A connection the
# proxy resets at once (a refusal) may fail its connect: the others are held all the same.
hold() {
    bg_ns "$NS_C" "holder$1" "$PYTHON" -c '
import socket, sys, time
socks = []
for i in range(int(sys.argv[1])):
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((sys.argv[3], 8443))
    except OSError:
        pass
    socks.append(s)
time.sleep(float(sys.argv[2]))
' "$1" "$2" "$P4"
}
L='address="0.0.0.0:8443"'

# A per-source limit: the third connection from C is refused at accept.
start_proxy "$NS_P" -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -max-connections-per-source 2 -header-timeout 60s \
    -stats-bind "$MM_STATS" || finish
wait_tcp_listen "$NS_P" 9100 5
hold 3 3
wait_json "$NS_P" "$MM_STATS" \
    "j['listeners'][0]['accepted'] == 3 and j['listeners'][0]['failed']['overload_refused'] == 1" >/dev/null
check_metrics "mmproxy /metrics: a per-source refusal counted (overload_refused), the others active" \
    "$(scrape "$NS_P" "$MM_STATS" metrics)" \
    "ferry_connections_accepted_total{$L} 3" \
    "ferry_connections_active{$L} 2" \
    "ferry_connections_failed_total{$L,reason=\"overload_refused\"} 1"
stop_proxy

# Out of fds (a hard RLIMIT_NOFILE of 32): accept4 fails with EMFILE and the listener pauses; once the holder has
# closed its connections, the pauses are counted and every connection has ended.
PROXY_CMD="prlimit --nofile=32:32 $FERRY mmproxy" start_proxy "$NS_P" -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" \
    -threads 1 -header-timeout 60s -max-connections 1000 -stats-bind "$MM_STATS" || finish
wait_tcp_listen "$NS_P" 9100 5
hold 40 2
sleep 3
json=$(wait_json "$NS_P" "$MM_STATS" "j['listeners'][0]['accepted'] == 40 and j['listeners'][0]['active'] == 0" 8)
check_py "mmproxy out of fds: the pauses counted, then all 40 accepted and ended (EOF before a header)" \
    "(lambda t: t['pauses']['resources'] >= 1 and t['accepted'] == 40 and t['active'] == 0
      and t['failed']['header_incomplete'] == 40)(j0['listeners'][0])" "$json"
stop_proxy
next_topology

# ------------------------------------------------------------------ tproxy

tp_topology
start_server "$NS_S" echo "$TP_S4:80"
TP_STATS=127.0.0.1:9101
in_ns "$NS_S" iptables -A INPUT -p tcp --dport 82 -j DROP
start_tproxy "$NS_R" -bindAddr "127.0.0.1:9091,[::1]:9091" -stats-bind "$TP_STATS" -connect-timeout 1s || finish
wait_tcp_listen "$NS_R" 9101 5 || not_ok "tproxy: the stats listener listens on $TP_STATS"
for i in 1 2; do
    c=$(client "$NS_C" --connect "$TP_S4:80" --send-bytes 2000 --seed "$i" --expect-bytes 2000 --timeout 5)
    check_py "tproxy: flow $i relayed, 2000 bytes each way" "j0['received'] == 2000" "$c"
done
c=$(client "$NS_C" --connect "$TP_S4:81" --send-bytes 10 --timeout 5)
check_py "tproxy: a flow to a closed port closed" "j0['received'] == 0" "$c"
c=$(client "$NS_C" --connect "$TP_S4:82" --send-bytes 10 --timeout 5)
check_py "tproxy: a flow to a silent port closed after the connect timeout" \
    "j0['received'] == 0 and j0['elapsed'] > 0.7" "$c"
L='address="127.0.0.1:9091"'
wait_json "$NS_R" "$TP_STATS" "j['listeners'][0]['closed'] == 2 and j['listeners'][0]['active'] == 0" >/dev/null
metrics=$(scrape "$NS_R" "$TP_STATS" metrics)
check_openmetrics "tproxy /metrics is valid OpenMetrics" "$metrics"
check_metrics "tproxy /metrics: counts match the flows sent" "$metrics" \
    "ferry_connections_accepted_total{$L} 4" \
    "ferry_connections_active{$L} 0" \
    "ferry_connections_established_total{$L} 2" \
    "ferry_connections_closed_total{$L} 2" \
    "ferry_connections_failed_total{$L,reason=\"connect_refused\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"connect_timeout\"} 1" \
    "ferry_connect_duration_seconds_count{$L} 2" \
    "ferry_bytes_up_total{$L} 4000" \
    "ferry_bytes_down_total{$L} 4000" \
    "ferry_connections_accepted_total{address=\"[::1]:9091\"} 0"
v4_line="tcp 127.0.0.1:9091: accepted 4, active 0, established 2, closed 2, failed 2 (connect_refused 1, "
v4_line+="connect_timeout 1), up 3.91KiB, down 3.91KiB"
v6_line="tcp [::1]:9091: accepted 0, active 0, established 0, closed 0, failed 0, up 0B, down 0B"
check_eq "tproxy text page: the listeners' lines" "$(printf '%s\n' "ferry tproxy, uptime" "$v4_line" "$v6_line")" \
    "$(scrape "$NS_R" "$TP_STATS" "" | sed -E 's/^(ferry tproxy, uptime).*/\1/')"
stop_proxy
next_topology

# ------------------------------------------------------------------ srcproxy server

sp_topology
start_server "$NS_B" echo "0.0.0.0:443" "0.0.0.0:80"
cat >"$WORK/server.json" <<'JSON5'
{
  listen: '192.0.2.1:21829',
  acl: [ { auth: 'metrics', allowed_src_ips: ['192.0.2.128/25'] } ],
  timeout: '1s',
  stats_bind: '127.0.0.1:9102',
}
JSON5
start_srcproxy "$NS_B" 21829 server "$WORK/server.json" || finish
SERVER_PID_SP=$PROXY_PID
wait_tcp_listen "$NS_B" 9102 5 || not_ok "srcproxy: the stats listener listens on 127.0.0.1:9102"
for i in 1 2; do
    next_port
    h=$(sp_header metrics 198.51.100.1:443 "192.0.2.130:$NEXT_PORT")
    c=$(client "$NS_A" --connect "$SP_B4:21829" --header-hex "$h" --send-bytes 3000 --seed "$i" --expect-bytes 3000 \
        --timeout 5)
    check_py "srcproxy: request $i relayed, 3000 bytes each way" "j0['received'] == 3000" "$c"
done
c=$(client "$NS_A" --connect "$SP_B4:21829" --header-text 'GET / HTTP/1.1\r\n\r\n' --timeout 5)
check_py "srcproxy: garbage closed" "j0['received'] == 0" "$c"
c=$(client "$NS_A" --connect "$SP_B4:21829" --header-hex "$(sp_header metrics 198.51.100.1:443 192.0.2.5:40000)" \
    --timeout 5)
check_py "srcproxy: a source the ACL refuses closed" "j0['received'] == 0" "$c"
c=$(client "$NS_A" --connect "$SP_B4:21829" --timeout 5)
check_py "srcproxy: silent client closed" "j0['received'] == 0" "$c"
L='address="192.0.2.1:21829"'
wait_json "$NS_B" 127.0.0.1:9102 "j['listeners'][0]['closed'] == 2 and j['listeners'][0]['active'] == 0" >/dev/null
metrics=$(scrape "$NS_B" 127.0.0.1:9102 metrics)
check_openmetrics "srcproxy /metrics is valid OpenMetrics" "$metrics"
check_metrics "srcproxy /metrics: counts match the requests sent" "$metrics" \
    "ferry_connections_accepted_total{$L} 5" \
    "ferry_connections_active{$L} 0" \
    "ferry_connections_established_total{$L} 2" \
    "ferry_connections_closed_total{$L} 2" \
    "ferry_connections_failed_total{$L,reason=\"header_invalid\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"request_refused\"} 1" \
    "ferry_connections_failed_total{$L,reason=\"header_timeout\"} 1" \
    "ferry_bytes_up_total{$L} 6000" \
    "ferry_bytes_down_total{$L} 6000"
cat >"$WORK/client.json" <<JSON5
{
  inbound: { listen: ':9001' },
  outbound: { server: '$SP_B4:21829', auth: 'metrics' },
  stats_bind: '127.0.0.1:9104',
}
JSON5
start_srcproxy "$NS_A" 9001 client "$WORK/client.json" || finish
wait_tcp_listen "$NS_A" 9104 5 || not_ok "srcproxy client: the stats listener listens on 127.0.0.1:9104"
for i in 1 2; do
    next_port
    c=$(client "$NS_A" --bind "$SP_SRC4:$NEXT_PORT" --connect "$SP_DST4:80" --send-bytes 1500 --seed "$i" \
        --expect-bytes 1500 --timeout 5)
    check_py "srcproxy client: connection $i relayed through the server, 1500 bytes each way" \
        "j0['received'] == 1500" "$c"
done
c=$(client "$NS_A" --connect "$SP_A4:9001" --send-bytes 10 --timeout 5)
check_py "srcproxy client: a connection that was not redirected closed" "j0['received'] == 0" "$c"
L='address="0.0.0.0:9001"'
wait_json "$NS_A" 127.0.0.1:9104 "j['listeners'][0]['closed'] == 2 and j['listeners'][0]['active'] == 0" >/dev/null
check_metrics "srcproxy client /metrics: counts match the connections made" "$(scrape "$NS_A" 127.0.0.1:9104 metrics)" \
    "ferry_connections_accepted_total{$L} 3" \
    "ferry_connections_established_total{$L} 2" \
    "ferry_connections_failed_total{$L,reason=\"request_refused\"} 1" \
    "ferry_bytes_up_total{$L} 3000" \
    "ferry_bytes_down_total{$L} 3000"
stop_proxy
stop_proxy "$SERVER_PID_SP"

next_topology

# ------------------------------------------------------------------ ferry run

ns_new NS_X x
start_server "$NS_X" echo "127.0.0.1:$SRV_PORT"
cat >"$WORK/run.ini" <<INI
[ferry]
status = 127.0.0.1:9103
probe = 0

[listener web]
listen = 127.0.0.1:7001
inbound = plain
target = 127.0.0.1:$SRV_PORT

[listener dead]
listen = 127.0.0.1:7002
inbound = plain
target = 127.0.0.1:9999
INI
start_run "$NS_X" "$WORK/run.ini" 7001 7002 9103 || finish
for i in 1 2; do
    c=$(client "$NS_X" --connect 127.0.0.1:7001 --send-bytes 500 --seed "$i" --expect-bytes 500 --timeout 5)
    check_py "ferry run: connection $i relayed" "j0['received'] == 500" "$c"
done
c=$(client "$NS_X" --connect 127.0.0.1:7002 --send-bytes 10 --timeout 5)
check_py "ferry run: a connection to the dead target closed" "j0['received'] == 0" "$c"
wait_json "$NS_X" 127.0.0.1:9103 "[l for l in j['listeners'] if l['name'] == 'web'][0]['closed'] == 2" >/dev/null
W='listener="web",address="127.0.0.1:7001"'
D='listener="dead",address="127.0.0.1:7002"'
metrics=$(scrape "$NS_X" 127.0.0.1:9103 metrics)
check_openmetrics "ferry run /metrics (with moproxy's families) is valid OpenMetrics" "$metrics"
check_metrics "ferry run /metrics: per named listener, the counts sent" "$metrics" \
    "ferry_connections_accepted_total{$W} 2" \
    "ferry_connections_established_total{$W} 2" \
    "ferry_bytes_up_total{$W} 1000" \
    "ferry_bytes_down_total{$W} 1000" \
    "ferry_connections_accepted_total{$D} 1" \
    "ferry_connections_established_total{$D} 0" \
    "ferry_connections_failed_total{$D,reason=\"connect_refused\"} 1" \
    "ferry_moproxy_direct_connections_total 0"
check_py "ferry run /status: the servers (none) and both listeners" \
    "j0['servers'] == [] and [l['name'] for l in j0['listeners']] == ['web', 'dead']" \
    "$(scrape "$NS_X" 127.0.0.1:9103 status)"
if command -v chromium >/dev/null 2>&1; then
    in_ns "$NS_X" "${chrome[@]}" --dump-dom "http://127.0.0.1:9103/" >"$WORK/run-page.html" 2>>"$WORK/chromium.err"
    check "HTML in Chromium: ferry run's page, the servers' table and a row per named listener" "$PYTHON" - \
        "$WORK/run-page.html" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
assert '<title>ferry run</title>' in html and '<table id="servers">' in html, 'title, servers'
rows = re.findall(r'<tr data-listener="([a-z]+)" data-address="([^"]+)">.*?<td class="accepted" data-value="(\d+)"',
                  html, re.S)
assert rows == [('web', '127.0.0.1:7001', '2'), ('dead', '127.0.0.1:7002', '1')], rows
PY
fi
# A connection that stays open: its bytes are counted as they move, not only when it ends.
bg_ns "$NS_X" long "$PYTHON" -c '
import socket, time
s = socket.create_connection(("127.0.0.1", 7001))
s.sendall(b"x" * 1000)
got = 0
while got < 1000:
    got += len(s.recv(4096))
time.sleep(2.5)
'
json=$(wait_json "$NS_X" 127.0.0.1:9103 "[l for l in j['listeners'] if l['name'] == 'web'][0]['bytes_up'] > 1000" 2)
check_py "ferry run: an open connection's bytes are counted while it relays" \
    "(lambda w: w['active'] == 1 and w['closed'] == 2 and 1000 < w['bytes_up'] <= 2000)(
        [l for l in j0['listeners'] if l['name'] == 'web'][0])" "$json"
json=$(wait_json "$NS_X" 127.0.0.1:9103 "[l for l in j['listeners'] if l['name'] == 'web'][0]['closed'] == 3" 5)
check_py "ferry run: once it ended, all its bytes each way" \
    "(lambda w: w['active'] == 0 and (w['bytes_up'], w['bytes_down']) == (2000, 2000))(
        [l for l in j0['listeners'] if l['name'] == 'web'][0])" "$json"

# SIGHUP: "dead" now goes to the live target too. Both keep their counts; the new combination is counted on.
sed -i "s/^target = 127.0.0.1:9999$/target = 127.0.0.1:$SRV_PORT/" "$WORK/run.ini"
kill -HUP "$PROXY_PID"
check "ferry run: the reload is logged" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" --msg reloaded --timeout 5
c=$(client "$NS_X" --connect 127.0.0.1:7002 --send-bytes 700 --seed 9 --expect-bytes 700 --timeout 5)
check_py "ferry run: after the reload, dead's connection relayed" "j0['received'] == 700" "$c"
wait_json "$NS_X" 127.0.0.1:9103 "[l for l in j['listeners'] if l['name'] == 'dead'][0]['closed'] == 1" >/dev/null
check_metrics "ferry run /metrics after a reload: the counts kept, the new connection added" \
    "$(scrape "$NS_X" 127.0.0.1:9103 metrics)" \
    "ferry_connections_accepted_total{$W} 3" \
    "ferry_connections_accepted_total{$D} 2" \
    "ferry_connections_established_total{$D} 1" \
    "ferry_connections_failed_total{$D,reason=\"connect_refused\"} 1" \
    "ferry_bytes_up_total{$D} 700"
stop_proxy

# ------------------------------------------------------------------ bad addresses

out=$("$FERRY" mmproxy -stats-bind nonsense 2>&1)
rc=$?
check_py "mmproxy -stats-bind nonsense: exit 1 with the reason" \
    "$rc == 1 and '-stats-bind \\\\\"nonsense\\\\\": not an IP:PORT address or a port' in j0" \
    "$(as_json "$out")"
out=$("$FERRY" tproxy -stats-bind 127.0.0.1:0 2>&1)
rc=$?
check_py "tproxy -stats-bind with port 0: a non-zero exit with the reason" \
    "$rc != 0 and 'the port has to be between 1 and 65535' in j0" \
    "$(as_json "$out")"
printf "{ listen: '127.0.0.1:7001', stats_bind: 'x:y' }\n" >"$WORK/bad.json"
out=$("$FERRY" srcproxy server "$WORK/bad.json" 2>&1)
rc=$?
check_py "srcproxy stats_bind 'x:y': a non-zero exit naming the file, line and key" \
    "$rc != 0 and 'bad.json:1' in j0 and 'stats_bind' in j0" \
    "$(as_json "$out")"

finish
