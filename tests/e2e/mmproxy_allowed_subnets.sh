#!/usr/bin/env bash
# mmproxy: -allowed-subnets FILE filters on the frontend peer address (v4 peers of the dual-stack
# listener are matched as IPv4).
#  - a file allowing 198.51.100.0/24 (with # comments and blank lines for ferry; go-mmproxy 2.1
#    treats those as fatal, so it gets the bare list) -> accepted;
#  - a file allowing only 192.0.2.0/24 -> closed, "connection origin not in allowed subnets" at -v 1;
#  - a file allowing only 2001:db8:1::/64 -> the v6 client is accepted, the v4 client is not;
#  - an empty file allows everyone.
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"

# run_with FILE: restart the proxy with -allowed-subnets FILE.
run_with() {
    [[ -n $PROXY_PID ]] && proxy_alive && stop_proxy
    start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" -allowed-subnets "$1"
}

# allowed NAME FRONTEND
allowed() {
    local name=$1 front=$2 src c s
    next_port
    src="203.0.113.7:$NEXT_PORT"
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst 192.0.2.1:443)" \
        --send-bytes 2000 --seed 5 --expect-bytes 2000 --timeout 5)
    s=$(server_conn "$src")
    check_py "$name: accepted and relayed" \
        "j1 is not None and j0['error'] is None and j0['received'] == 2000 and j1['peer'] == '$src' and j1['sha256_in'] == j0['sha256_sent']" "$c" "$s"
}

# denied NAME FRONTEND
denied() {
    local name=$1 front=$2 src c s
    next_port
    src="203.0.113.8:$NEXT_PORT"
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst 192.0.2.1:443)" \
        --send-bytes 2000 --seed 5 --timeout 5)
    check_py "$name: connection closed by the proxy" "$CLOSED_EXPR and j0['elapsed'] < 2" "$c"
    check "$name: logged at -v 1" log_find --msg "connection origin not in allowed subnets" --remote "$(jget "$c" local)"
    s=$(FIND_TIMEOUT=0.5 server_conn "$src")
    check_eq "$name: nothing reached the target" "" "$s"
}

ALLOW_C=$WORK/allow-client.txt
if $PROXY_IS_FERRY || [[ $RUN_ALL == 1 ]]; then
    printf '# the client network\n\n198.51.100.0/24\n   \n# end\n' >"$ALLOW_C"
    what="file with comments and blank lines allowing 198.51.100.0/24"
else
    skip "allowed-subnets file with comments" "go-mmproxy 2.1 treats comment and blank lines as fatal"
    printf '198.51.100.0/24\n' >"$ALLOW_C"
    what="file allowing 198.51.100.0/24"
fi
if run_with "$ALLOW_C"; then
    allowed "$what, v4 client" "$P4:8443"
fi

ALLOW_OTHER=$WORK/allow-other.txt
printf '192.0.2.0/24\n' >"$ALLOW_OTHER"
if run_with "$ALLOW_OTHER"; then
    denied "file allowing only 192.0.2.0/24, v4 client" "$P4:8443"
    denied "file allowing only 192.0.2.0/24, v6 client" "[$P6]:8443"
    check "proxy alive after denials" proxy_alive
fi

ALLOW_V6=$WORK/allow-v6.txt
printf '2001:db8:1::/64\n' >"$ALLOW_V6"
if run_with "$ALLOW_V6"; then
    allowed "file allowing only 2001:db8:1::/64, v6 client" "[$P6]:8443"
    denied "file allowing only 2001:db8:1::/64, v4 client" "$P4:8443"
fi

ALLOW_EMPTY=$WORK/allow-empty.txt
: >"$ALLOW_EMPTY"
if run_with "$ALLOW_EMPTY"; then
    allowed "empty file allows all, v4 client" "$P4:8443"
    allowed "empty file allows all, v6 client" "[$P6]:8443"
fi

finish
