#!/usr/bin/env bash
# mmproxy: PROXY v2 INET and INET6 headers, with TLVs (ALPN, AUTHORITY, UNIQUE_ID, NOOP, CRC32C),
# and the LOCAL command (the target then sees the proxy's own address, not a spoofed one).
source "$(dirname "$0")/lib.sh"

mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish

# v2_case NAME FRONTEND SPOOF_SRC DST [header args...]
v2_case() {
    local name=$1 front=$2 src=$3 dst=$4 c s
    shift 4
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --src "$src" --dst "$dst" "$@")" \
        --send-bytes 100000 --seed "$RANDOM" --expect-bytes 100000 --timeout 10)
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}

TLVS=(--tlv-str alpn:h2 --tlv-str authority:www.example.com --tlv-str unique_id:ferry-e2e-0001
      --tlv noop:00000000)

next_port; v2_case "v2 INET" "$P4:8443" "203.0.113.7:$NEXT_PORT" "192.0.2.1:443"
next_port; v2_case "v2 INET6" "[$P6]:8443" "[2001:db8:ff::7]:$NEXT_PORT" "[2001:db8:ff::1]:443"
next_port; v2_case "v2 INET6 over v4 frontend" "$P4:8443" "[2001:db8:ff::9]:$NEXT_PORT" "[2001:db8:ff::1]:443"
next_port; v2_case "v2 INET with TLVs" "$P4:8443" "203.0.113.8:$NEXT_PORT" "192.0.2.1:443" "${TLVS[@]}"
next_port; v2_case "v2 INET6 with TLVs" "[$P6]:8443" "[2001:db8:ff::8]:$NEXT_PORT" "[2001:db8:ff::1]:443" "${TLVS[@]}"
next_port; v2_case "v2 INET with TLVs and CRC32C" "$P4:8443" "203.0.113.10:$NEXT_PORT" "192.0.2.1:443" "${TLVS[@]}" --crc32c
next_port; v2_case "v2 INET6 with CRC32C" "[$P6]:8443" "[2001:db8:ff::10]:$NEXT_PORT" "[2001:db8:ff::1]:443" --crc32c

# local_case NAME FRONTEND EXPECTED_HOST [header args...]: a LOCAL header; the target sees the
# proxy's own loopback address of the frontend's family.
local_case() {
    local name=$1 front=$2 host=$3 n c s
    shift 3
    n=$(log_lines "$SERVER_LOG")
    c=$(client "$NS_C" --connect "$front" --header-hex "$(hdr v2 --local "$@")" \
        --send-bytes 5000 --seed "$RANDOM" --expect-bytes 5000 --timeout 10)
    s=$(server_nth $((n + 1)))
    check_py "$name: server sees the proxy's address $host" \
        "j1 is not None and j1['peer'].rsplit(':', 1)[0] == '$host'" "$c" "$s"
    check_py "$name: bytes intact both ways" \
        "j1 is not None and j0['error'] is None and j0['sent'] == j1['bytes_in'] == 5000 and j0['sha256_sent'] == j1['sha256_in'] and j0['sha256_received'] == j1['sha256_out']" "$c" "$s"
}

local_case "v2 LOCAL over v4 frontend" "$P4:8443" "127.0.0.1"
local_case "v2 LOCAL over v6 frontend" "[$P6]:8443" "[::1]"
local_case "v2 LOCAL with addresses and TLVs" "$P4:8443" "127.0.0.1" \
    --src 203.0.113.99:1234 --dst 192.0.2.1:443 --tlv-str authority:www.example.com

finish
