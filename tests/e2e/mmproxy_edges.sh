#!/usr/bin/env bash
# mmproxy: TCP and header edge cases.
#  - a v2 INET6 header (and a v1 TCP6 line) whose source is IPv4-mapped (::ffff:a.b.c.d), as HAProxy sends
#    behind a dual-stack bind: the client is IPv4, so the -4 target sees a.b.c.d:port;
#  - a reset after one direction has finished: the service answered, closed, and then resets what the client
#    sends afterwards; the client must get the reset (not a clean close that hides the lost bytes);
#  - -halfclose-timeout: once one direction is done, a connection that then carries nothing is closed;
#  - TCP urgent data (telnet/FTP "sync"): splice stops at the urgent mark; no byte may be lost or stall.
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
ECHO_LOG=$SERVER_LOG
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish

next_port
c=$(client "$NS_C" --connect "$P4:8443" \
    --header-hex "$(hdr v2 --src "[::ffff:203.0.113.40]:$NEXT_PORT" --dst "[::ffff:192.0.2.1]:443")" \
    --send-bytes 3000 --seed 4 --shutdown-after-send)
expect_relay "v2 INET6 with an IPv4-mapped source" "$c" "$(server_conn "203.0.113.40:$NEXT_PORT" "$ECHO_LOG")" \
    "203.0.113.40:$NEXT_PORT"
next_port
c=$(client "$NS_C" --connect "$P4:8443" \
    --header-text "PROXY TCP6 ::ffff:203.0.113.41 ::ffff:192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 3000 --seed 4 --shutdown-after-send)
expect_relay "v1 TCP6 with an IPv4-mapped source" "$c" "$(server_conn "203.0.113.41:$NEXT_PORT" "$ECHO_LOG")" \
    "203.0.113.41:$NEXT_PORT"

ferry_only "late reset and half-close timeout" "go-mmproxy 2.1 tears down at the first EOF" || finish

# A service that reads the 5-byte request, answers "bye", and closes its socket entirely.
BYE_PORT=9004
bg_ns "$NS_P" byeserver "$PYTHON" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$BYE_PORT"')); s.listen(16)
while True:
    c, _ = s.accept()
    got = b""
    while len(got) < 5:
        d = c.recv(5 - len(got))
        if not d: break
        got += d
    c.sendall(b"bye"); c.close()
'
# A service that reads until the client's EOF and then stays silent for 30 s.
QUIET_PORT=9005
bg_ns "$NS_P" quietserver "$PYTHON" -c '
import socket, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$QUIET_PORT"')); s.listen(16)
def serve(c):
    while c.recv(65536): pass
    time.sleep(30); c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
'
# A service that keeps urgent data inline, reads to EOF and echoes it all back.
OOB_PORT=9006
bg_ns "$NS_P" oobserver "$PYTHON" -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$OOB_PORT"')); s.listen(16)
while True:
    c, _ = s.accept(); c.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    data = b""
    while True:
        d = c.recv(100)
        if not d: break
        data += d
    c.sendall(data); c.close()
'
wait_tcp_listen "$NS_P" "$OOB_PORT" && wait_tcp_listen "$NS_P" "$BYE_PORT" && wait_tcp_listen "$NS_P" "$QUIET_PORT" || { not_ok "helper servers start"; finish; }
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:$BYE_PORT" -6 "[::1]:$BYE_PORT" || finish
BYE_LOG=$PROXY_LOG
start_proxy "$NS_P" -v 1 -halfclose-timeout 1s -l "0.0.0.0:8445" -4 "127.0.0.1:$QUIET_PORT" \
    -6 "[::1]:$QUIET_PORT" || finish
QUIET_LOG=$PROXY_LOG
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8446" -4 "127.0.0.1:$OOB_PORT" -6 "[::1]:$OOB_PORT" || finish

# Late reset: read "bye" and EOF, then send more; the service's kernel resets it, ferry must pass that on.
next_port
r=$(in_ns "$NS_C" "$PYTHON" -c '
import json, socket, time
s = socket.create_connection(("'"$P4"'", 8444), timeout=5)
s.sendall(b"PROXY TCP4 203.0.113.42 192.0.2.1 '"$NEXT_PORT"' 443\r\nhello")
got = b""
while True:
    d = s.recv(100)
    if not d: break
    got += d
out = {"reply": got.decode(), "error": None}
try:
    for _ in range(20):
        s.sendall(b"x" * 1000); time.sleep(0.05)
    s.shutdown(socket.SHUT_WR)
    out["after"] = len(s.recv(100))
except OSError as e:
    out["error"] = {104: "ECONNRESET", 32: "EPIPE"}.get(e.errno, str(e))
print(json.dumps(out))
')
check_py "late reset: the client got the reply and EOF first" "j0 is not None and j0['reply'] == 'bye'" "$r"
check_py "late reset: what it sends afterwards ends in a reset, not a clean close" \
    "j0 is not None and j0['error'] in ('ECONNRESET', 'EPIPE')" "$r"
check "late reset: logged as connection broken" "$PYTHON" "$PEER" logfind --log "$BYE_LOG" \
    --msg "connection broken" --key error

# Half-close timeout: the client shuts down its side; the service never answers nor closes.
next_port
c=$(client "$NS_C" --connect "$P4:8445" --header-text "PROXY TCP4 203.0.113.43 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 1000 --seed 1 --shutdown-after-send --timeout 10)
check_py "-halfclose-timeout 1s: closed about 1 s after the half-close" \
    "(j0['closed_by_peer'] or j0['error'] in ('ECONNRESET',)) and 0.8 <= j0['elapsed'] <= 3" "$c"
next_port
r=$(in_ns "$NS_C" timeout 10 "$PYTHON" -c '
import socket, time
s = socket.create_connection(("'"$P4"'", 8446), timeout=5)
s.sendall(b"PROXY TCP4 203.0.113.44 192.0.2.1 '"$NEXT_PORT"' 443\r\nabc"); time.sleep(0.1)
s.send(b"!", socket.MSG_OOB); time.sleep(0.1)
s.sendall(b"def"); time.sleep(0.1); s.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = s.recv(100)
    if not d: break
    got += d
print(got.decode())
')
check_eq "urgent data: every byte arrives, in order, and the echo comes back" "abc!def" "$r"
check "-halfclose-timeout: logged with the reason" grep -q '"error":"half-closed and idle for 1000 ms"' "$QUIET_LOG"
finish
