#!/usr/bin/env bash
# mmproxy: malformed or missing PROXY headers. After each one the proxy closes that connection
# promptly, logs the reason at -v 1 ("failed to parse PROXY header" with an "error" key, or
# "failed to read PROXY header" for a header that never arrives), and keeps serving: a following
# good connection still works and the process is still alive.
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
extra=()
if $PROXY_IS_FERRY; then extra=(-header-timeout 1s); fi
start_proxy "$NS_P" -v 1 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" "${extra[@]}" || finish

PARSE_MSGS=(--msg "failed to parse PROXY header" --field dropConnection=true)

# good_connection NAME: a valid v2 connection still goes through and the proxy is alive.
good_connection() {
    local name=$1 c s src
    next_port
    src="203.0.113.50:$NEXT_PORT"
    c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$(hdr v2 --src "$src" --dst 192.0.2.1:443)" \
        --send-bytes 1000 --seed 7 --expect-bytes 1000 --timeout 5)
    s=$(server_conn "$src")
    check_py "$name: a good connection afterwards still works" \
        "j1 is not None and j0['received'] == 1000 and j1['peer'] == '$src'" "$c" "$s"
    check "$name: proxy process still alive" proxy_alive
}

# bad_case NAME HEADER_HEX MAX_SECONDS [logfind args...]: send HEADER_HEX and nothing else.
bad_case() {
    local name=$1 hex=$2 max=$3 c
    shift 3
    local before_lines
    before_lines=$(log_lines "$SERVER_LOG")
    c=$(client "$NS_C" --connect "$P4:8443" --header-hex "$hex" --timeout 8)
    check_py "$name: connection closed by the proxy within ${max}s" \
        "$CLOSED_EXPR and j0['elapsed'] < $max" "$c"
    local remote
    remote=$(jget "$c" local)
    check "$name: reason logged at -v 1" log_find "$@" --key error --remote "$remote"
    sleep 0.2
    check_eq "$name: nothing reached the target" "$before_lines" "$(log_lines "$SERVER_LOG")"
    good_connection "$name"
}

bad_case "v1 with bad addresses" "$(printf 'PROXY TCP4 bad\r\n' | xxd -p | tr -d '\n')" 2 "${PARSE_MSGS[@]}"
bad_case "v1 unknown protocol" "$(printf 'PROXY TCP5 203.0.113.7 192.0.2.1 40000 443\r\n' | xxd -p | tr -d '\n')" 2 "${PARSE_MSGS[@]}"
bad_case "v1 without CRLF, longer than 107 bytes" \
    "$( (printf 'PROXY TCP4 203.0.113.7 192.0.2.1 40000 443'; head -c 100 /dev/zero | tr '\0' ' ') | xxd -p | tr -d '\n')" \
    2 "${PARSE_MSGS[@]}"
bad_case "v2 with version 3" "$(hdr v2 --src 203.0.113.7:40000 --dst 192.0.2.1:443 --version 3)" 2 "${PARSE_MSGS[@]}"
bad_case "v2 with command 5" "$(hdr v2 --src 203.0.113.7:40000 --dst 192.0.2.1:443 --command 5)" 2 "${PARSE_MSGS[@]}"
bad_case "v2 INET DGRAM on a TCP listener" "$(hdr v2 --src 203.0.113.7:40000 --dst 192.0.2.1:443 --family 0x12)" 2 "${PARSE_MSGS[@]}"
bad_case "v2 length beyond the bytes sent" "$(hdr v2 --src 203.0.113.7:40000 --dst 192.0.2.1:443 --length 12 --truncate 20)" \
    3 "${PARSE_MSGS[@]}" --msg "failed to read PROXY header"
bad_case "garbage instead of a header" "$(printf 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n' | xxd -p | tr -d '\n')" \
    2 "${PARSE_MSGS[@]}" --contains "error=PROXY header missing"

# No header at all, the client just waits: closed after -header-timeout (1s here).
if ferry_only "silent client closed after the header timeout" "go-mmproxy 2.1 has no header timeout"; then
    c=$(client "$NS_C" --connect "$P4:8443" --timeout 8)
    check_py "silent client: closed by the proxy after about 1 s" \
        "$CLOSED_EXPR and 0.7 < j0['elapsed'] < 3" "$c"
    check "silent client: reason logged at -v 1" \
        log_find --msg "failed to read PROXY header" "${PARSE_MSGS[@]}" --key error --remote "$(jget "$c" local)"
    good_connection "silent client"
fi

# 21 11 00 00: a PROXY INET header with no address block. go-mmproxy 2.1 panics on it (exit 2).
# Kept last: with RUN_ALL=1 against the reference it takes the proxy down.
if ferry_only "v2 INET with length 0" "go-mmproxy 2.1 crashes on it: slice bounds out of range"; then
    bad_case "v2 INET with length 0 (21 11 00 00)" \
        "$(hdr v2 --src 203.0.113.7:40000 --dst 192.0.2.1:443 --length 0 --truncate 16)" 2 "${PARSE_MSGS[@]}"
fi

finish
