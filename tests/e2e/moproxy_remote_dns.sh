#!/usr/bin/env bash
# moproxy's --remote-dns: a redirected connection's destination name comes from its first bytes (the TLS
# ClientHello's server_name on 443, a hello split over two segments reassembled; HTTP's Host header on 80) and
# the SOCKS5 server is asked for the name, which microsocks resolves itself and logs. curl is the real TLS and
# HTTP client, openssl s_server and Python's http.server the destinations. A client that says nothing on 443 is
# relayed after the wait, by address; --allow-direct still connects to the address; SOCKS5 clients of ferry are
# not sniffed; without --remote-dns the proxy gets the address as before. `ferry run`'s remote-dns key too.
source "$(dirname "$0")/lib.sh"
ferry_only "remote-dns" "a ferry moproxy option" || finish

mo_topology
# microsocks resolves the names with getaddrinfo: ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts.
mkdir -p "/etc/netns/$NS_R"
printf '%s www.example.test web.example.test\n%s split.example.test\n' "$MO_S4" "$MO_S6" >"/etc/netns/$NS_R/hosts"
trap 'rm -rf "/etc/netns/$NS_R"; e2e_cleanup' EXIT

# The destinations on S: TLS on 203.0.113.2:443, HTTP on :80, an echo on [2001:db8:2::2]:443.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -subj /CN=www.example.test -days 2 2>/dev/null
bg_ns "$NS_S" tls openssl s_server -accept "$MO_S4:443" -cert "$WORK/cert.pem" -key "$WORK/key.pem" -www -quiet
wait_tcp_listen "$NS_S" 443 5 || { not_ok "openssl s_server listens" "$(cat "$WORK/tls.err")"; finish; }
mkdir -p "$WORK/www"
head -c 30000 /dev/urandom >"$WORK/www/blob.bin"
want_blob=$(sha256sum <"$WORK/www/blob.bin" | cut -d' ' -f1)
bg_ns "$NS_S" http "$PYTHON" -m http.server 80 --bind "$MO_S4" --directory "$WORK/www"
wait_tcp_listen "$NS_S" 80 5 || { not_ok "http.server listens" "$(cat "$WORK/http.err")"; finish; }
start_server "$NS_S" echo "[$MO_S6]:443"

mo_microsocks ms 1081 203.0.113.11
MS_LOG=$WORK/ms.err
start_moproxy -s 127.0.0.1:1081 --probe 0 --remote-dns --log-level debug || finish

# ms_saw TEXT: microsocks logged a connection to TEXT ("client[N] ADDR: connected to TEXT").
ms_saw() {
    local i
    for i in $(seq 30); do
        grep -qF "connected to $1" "$MS_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

out=$(in_ns "$NS_C" curl -sSk --max-time 10 --resolve "www.example.test:443:$MO_S4" https://www.example.test/ 2>&1)
check "curl https through the REDIRECT: s_server's page came back" grep -q "s_server" <<<"$out"
check "microsocks was asked for www.example.test:443 (SOCKS5 ATYP 3)" ms_saw "www.example.test:443"
check "ferry's relaying line names the destination by its name" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg relaying --field destination=www.example.test:443 --field via=127.0.0.1:1081
check "the debug line has the name and the address" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "destination name found" --field name=www.example.test --field destination="$MO_S4:443"

got=$(in_ns "$NS_C" curl -sS --max-time 10 --resolve "web.example.test:80:$MO_S4" http://web.example.test/blob.bin |
    sha256sum | cut -d' ' -f1)
check_eq "curl http on port 80: the file intact" "$want_blob" "$got"
check "microsocks was asked for web.example.test:80 (the Host header)" ms_saw "web.example.test:80"

# A ClientHello in two segments 200 ms apart (inside the 500 ms wait), then 40,000 more bytes: the echo on
# [2001:db8:2::2]:443 returns every byte; the proxy was asked for the name.
hello=$(tls_client_hello split.example.test)
len=$(( ${#hello} / 2 ))
note "the ClientHello is $len bytes"
c=$(client "$NS_C" --connect "[$MO_S6]:443" --header-hex "$hello" --split-at 60 --split-delay 0.2 \
    --send-bytes 40000 --seed 7 --expect-bytes $((len + 40000)) --timeout 15)
s=$(server_nth 1)
check_py "a hello split over two segments: every byte echoed" \
    "j0['error'] is None and j0['received'] == $((len + 40000)) and j1['bytes_in'] == $((len + 40000))" "$c" "$s"
check "microsocks was asked for split.example.test:443" ms_saw "split.example.test:443"

# Nothing from the client for 1.5 s on 443: after the 500 ms wait ferry connects by address.
c=$(client "$NS_C" --connect "[$MO_S6]:443" --pre-payload-delay 1.5 --send-bytes 5000 --seed 8 --expect-bytes 5000 \
    --timeout 15)
check_py "a silent client on 443 is relayed after the wait, bytes intact" \
    "j0['error'] is None and j0['received'] == 5000 and j0['sha256_received'] == j0['sha256_sent']" "$c"
check "the debug line says why there is no name" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg "no destination name" --field reason="no bytes from the client in time" \
    --field destination="[$MO_S6]:443"
check "ferry's relaying line names it by address" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg relaying --field destination="[$MO_S6]:443"

# ferry's own SOCKS5 clients wait for its reply before they speak: never sniffed, no wait.
c=$(client "$NS_R" --connect "127.0.0.1:$MO_PORT" --socks5 "[$MO_S6]:443" --send-bytes 3000 --seed 9 \
    --expect-bytes 3000 --timeout 15)
check_py "a SOCKS5 client of ferry: served at once, bytes intact" \
    "j0['error'] is None and j0['received'] == 3000 and j0['elapsed'] < 0.45" "$c"
sniffed=$(grep -c '"clientAddr":"127.0.0.1:' <(grep -E '"msg":"(no )?destination name' "$PROXY_LOG"))
check_eq "no destination-name line for the SOCKS5 client" 0 "$sniffed"
stop_proxy

# --allow-direct with a dead proxy: the direct connection goes to the address the client connected to.
start_moproxy -s 127.0.0.1:1999 --probe 0 --remote-dns --allow-direct || finish
out=$(in_ns "$NS_C" curl -sSk --max-time 15 --resolve "www.example.test:443:$MO_S4" https://www.example.test/ 2>&1)
check "--allow-direct: curl https reaches s_server directly" grep -q "s_server" <<<"$out"
check "the direct relaying line" "$PYTHON" "$PEER" logfind --log "$PROXY_LOG" \
    --msg relaying --field destination=www.example.test:443 --field via=direct
stop_proxy

# Without --remote-dns the proxy is asked for the address, as before.
start_moproxy -s 127.0.0.1:1081 --probe 0 || finish
out=$(in_ns "$NS_C" curl -sSk --max-time 10 --resolve "www.example.test:443:$MO_S4" https://www.example.test/ 2>&1)
check "without --remote-dns: curl https works" grep -q "s_server" <<<"$out"
check "and microsocks was asked for the address" ms_saw "$MO_S4:443"
stop_proxy

# ferry run's `remote-dns = yes` on a redirect listener through the same proxy.
cat >"$WORK/run.ini" <<INI
[ferry]
probe = 0

[listener lan]
listen = $MO_R4:$MO_PORT
inbound = redirect
via = proxies
remote-dns = yes

[server ms]
address = 127.0.0.1:1081
protocol = socks5
INI
: >"$MS_LOG"  # microsocks writes on at its offset: what came before reads as NUL bytes, which grep -F skips
start_run "$NS_R" "$WORK/run.ini" "$MO_PORT" || finish
out=$(in_ns "$NS_C" curl -sSk --max-time 10 --resolve "www.example.test:443:$MO_S4" https://www.example.test/ 2>&1)
check "ferry run remote-dns = yes: curl https works" grep -q "s_server" <<<"$out"
check "and microsocks was asked for www.example.test:443" ms_saw "www.example.test:443"

finish
