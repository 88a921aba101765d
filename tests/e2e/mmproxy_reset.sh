#!/usr/bin/env bash
# mmproxy: a reset on one side is propagated as a reset to the other side, mid-stream, in both directions
# (not turned into a polite FIN that would make a truncated stream look complete).
source "$(dirname "$0")/lib.sh"
ferry_only "reset propagation" "go-mmproxy 2.1 closes both sides with close(); it is not compared here" || finish

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
# A server that reads 64 KiB and then resets its connection (SO_LINGER 0).
RST_PORT=9003
bg_ns "$NS_P" rstserver "$PYTHON" -c '
import socket, struct, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", '"$RST_PORT"')); s.listen(16)
def serve(c):
    got = 0
    while got < 65536:
        d = c.recv(65536)
        if not d: break
        got += len(d)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
'
wait_tcp_listen "$NS_P" "$RST_PORT" || { not_ok "reset server starts"; finish; }
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish
ECHO_LOG=$PROXY_LOG
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8444" -4 "127.0.0.1:$RST_PORT" -6 "[::1]:$RST_PORT" || finish

# Client resets after reading 1 MB of a 16 MB echo: the server must see ECONNRESET, not a clean EOF. (Its last
# writes may already have gone into socket buffers and pipes, which hold a lot: the error, not the byte count,
# tells a propagated reset from a clean close.)
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.30 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes $((16 << 20)) --seed 9 --expect-bytes $((1 << 20)) --linger-rst --timeout 20)
s=$(server_conn "203.0.113.30:$NEXT_PORT")
check_py "client reset mid-stream: the server sees a reset, not EOF" \
    "j1 is not None and j1['error'] in ('ECONNRESET', 'EPIPE')" "$c" "$s"
check "client reset: logged as connection broken" "$PYTHON" "$PEER" logfind --log "$ECHO_LOG" \
    --msg "connection broken" --key error

# Server resets after 64 KiB of a 16 MB upload: the client must see ECONNRESET.
next_port
c=$(client "$NS_C" --connect "$P4:8444" --header-text "PROXY TCP4 203.0.113.31 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes $((16 << 20)) --seed 9 --timeout 20)
check_py "server reset mid-stream: the client sees a reset" "j0['error'] in ('ECONNRESET', 'EPIPE')" "$c"
check "the proxy still serves after the resets" proxy_alive
next_port
c=$(client "$NS_C" --connect "$P4:8443" --header-text "PROXY TCP4 203.0.113.32 192.0.2.1 $NEXT_PORT 443\r\n" \
    --send-bytes 5000 --seed 1 --shutdown-after-send)
expect_relay "after the resets" "$c" "$(server_conn "203.0.113.32:$NEXT_PORT")" "203.0.113.32:$NEXT_PORT"
finish
