#!/usr/bin/env bash
# moproxy: the status service (--stats-bind) agrees with what happened: /status JSON, /metrics (OpenMetrics),
# the plain-text page for curl, /version, and the HTML page as headless Chromium renders it.
source "$(dirname "$0")/lib.sh"

mo_topology
mo_dns
start_server "$NS_S" echo "$MO_S4:80" "[$MO_S6]:80"
mo_microsocks fast 1081 203.0.113.11
mo_tinyproxy web 3128 203.0.113.13
cat >"$WORK/servers.ini" <<INI
[fast]
address = 127.0.0.1:1081
protocol = socks5
[web]
address = 127.0.0.1:3128
protocol = http
score base = 5000 ;add 5k to pull away from preferred server.
INI
start_moproxy -l "$WORK/servers.ini" --probe 1 || finish
for ((i = 0; i < 50; i++)); do
    mo_status | "$PYTHON" -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if all(s['delay_ms'] is not None for s in d['servers']) else 1)" 2>/dev/null && break
    sleep 0.2
done

for n in 1 2 3; do
    c=$(client "$NS_C" --connect "$MO_S4:80" --send-bytes $((n * 10000)) --seed "$n" --expect-bytes $((n * 10000)) --timeout 20)
    check_py "connection $n relayed" "j0['error'] is None and j0['received'] == $((n * 10000))" "$c"
done
sleep 1.2  # one prober tick: throughput and the close outcomes are sampled once a second

json=$(mo_status status)
check_py "JSON: fast first, web second (score base 5000), both up with a delay" \
    "[s['tag'] for s in j0['servers']] == ['fast', 'web'] and all(s['up'] and s['delay_ms'] is not None for s in j0['servers']) and j0['servers'][1]['score'] >= 5000" "$json"
check_py "JSON: fast carried 3 connections and 60000 bytes each way, none alive, no error" \
    "(lambda s: (s['conn_total'], s['conn_alive'], s['conn_error'], s['tx_bytes'], s['rx_bytes']) == (3, 0, 0, 60000, 60000))(j0['servers'][0])" "$json"
check_py "JSON: web carried nothing; every server has a probe history" \
    "j0['servers'][1]['conn_total'] == 0 and all(len(s['delay_history']) >= 1 for s in j0['servers']) and j0['version']" "$json"

metrics=$(mo_status metrics)
check_py "metrics: up gauges, connection and byte counters match the JSON" "all(l in j0 for l in [
    'ferry_moproxy_server_up{tag=\"fast\",protocol=\"SOCKSv5\",address=\"127.0.0.1:1081\"} 1',
    'ferry_moproxy_server_up{tag=\"web\",protocol=\"HTTP\",address=\"127.0.0.1:3128\"} 1',
    'ferry_moproxy_server_connections_total{tag=\"fast\",protocol=\"SOCKSv5\",address=\"127.0.0.1:1081\"} 3',
    'ferry_moproxy_server_bytes_tx_total{tag=\"fast\",protocol=\"SOCKSv5\",address=\"127.0.0.1:1081\"} 60000',
    'ferry_moproxy_server_bytes_rx_total{tag=\"fast\",protocol=\"SOCKSv5\",address=\"127.0.0.1:1081\"} 60000',
    ]) and j0.rstrip().endswith('# EOF')" "$(printf '%s' "$metrics" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
ML="address=\"$MO_R4:$MO_PORT\""
check_py "metrics: the listener's families beside the servers', counting the same 3 connections" \
    "all(l in j0.split('\\n') for l in [
    'ferry_connections_accepted_total{$ML} 3', 'ferry_connections_established_total{$ML} 3',
    'ferry_connections_closed_total{$ML} 3', 'ferry_connections_active{$ML} 0',
    'ferry_bytes_up_total{$ML} 60000', 'ferry_bytes_down_total{$ML} 60000',
    'ferry_connect_duration_seconds_count{$ML} 3', 'ferry_connections_failed_total{$ML,reason=\"other\"} 0',
    ])" "$(printf '%s' "$metrics" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
check_py "JSON: the listener's counts beside the servers" \
    "([(l['address'], l['accepted'], l['closed'], l['bytes_up']) for l in j0['listeners'] if l['accepted']]
      == [('$MO_R4:$MO_PORT', 3, 3, 60000)])" "$json"

text=$(in_ns "$NS_R" curl -sS --max-time 5 "http://$MO_STATS/")
check "text page for curl: a row per server, no HTML" bash -c "grep -q '^ *1 *fast ' <<<\"\$1\" && grep -q '^ *2 *web ' <<<\"\$1\" && ! grep -q '<html' <<<\"\$1\"" _ "$text"
check_eq "/version" "ferry $("$FERRY" --version | awk '{print $2}')" "$(mo_status version)"
plain=$(in_ns "$NS_R" curl -sS --max-time 5 -H 'Accept: text/html' "http://$MO_STATS/plain")
# (the last line, with the uptime, may have moved on by a second)
check_eq "/plain: moproxy's text page, also for a browser" "$(head -n 3 <<<"$text")" "$(head -n 3 <<<"$plain")"
check_eq "unknown path: 404" 404 "$(in_ns "$NS_R" curl -s -o /dev/null -w '%{http_code}' "http://$MO_STATS/nope")"
check_eq "POST: 405" 405 "$(in_ns "$NS_R" curl -s -o /dev/null -w '%{http_code}' -X POST "http://$MO_STATS/status")"

# The HTML page as a browser renders it (Debian's chromium, headless, no network besides the namespace's).
if command -v chromium >/dev/null 2>&1; then
    dom=$(in_ns "$NS_R" timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$WORK/chromium" --dump-dom "http://$MO_STATS/" 2>"$WORK/chromium.err")
    printf '%s' "$dom" >"$WORK/page.html"
    check_py "HTML in Chromium: a row per server in rank order, with state, totals and a latency chart" "$(cat <<'PY'
(lambda html: (lambda rows: [r[0] for r in rows] == ['fast', 'web'] and rows[0][1] == 'up'
    and '<svg' in html and 'class="total"' in html)(
    __import__('re').findall(r'<tr[^>]*data-tag="([^"]+)"[^>]*data-state="([^"]+)"', html)))(j0)
PY
)" "$(printf '%s' "$dom" | "$PYTHON" -c 'import json,sys; print(json.dumps(sys.stdin.read()))')"
    check "HTML in Chromium: fast's total-connections cell reads 3" "$PYTHON" - "$WORK/page.html" <<'PY'
import re, sys
html = open(sys.argv[1]).read()
row = re.search(r'<tr[^>]*data-tag="fast".*?</tr>', html, re.S).group(0)
cell = re.search(r'<td class="total"[^>]*>([^<]*)<', row).group(1)
sys.exit(0 if cell.strip() == '3' else 1)
PY
    check "HTML in Chromium: the listeners' table after the servers', its row with 3 accepted" "$PYTHON" - \
        "$WORK/page.html" "$MO_R4:$MO_PORT" <<'PY'
import re, sys
html, address = open(sys.argv[1]).read(), sys.argv[2]
assert html.index('<table id="servers">') < html.index('<table id="listeners">')
row = re.search(r'<tr data-listener="" data-address="%s">.*?</tr>' % re.escape(address), html, re.S).group(0)
sys.exit(0 if re.search(r'<td class="accepted" data-value="3"', row) else 1)
PY
else
    not_ok "chromium is installed (make deps)"
fi
finish
