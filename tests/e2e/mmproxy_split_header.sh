#!/usr/bin/env bash
# mmproxy: a PROXY header split over two writes 300 ms apart (v1 and v2, split at several
# offsets) is reassembled; the target sees the header's source and the payload intact.
# go-mmproxy 2.1 reads the header with one read() and rejects these: the checks are ferry-only.
source "$(dirname "$0")/lib.sh"

WHY="go-mmproxy 2.1 rejects a header split across reads"
mm_topology
start_server "$NS_P" echo "127.0.0.1:$SRV_PORT" "[::1]:$SRV_PORT"
start_proxy "$NS_P" -v 2 -l "0.0.0.0:8443" -4 "127.0.0.1:$SRV_PORT" -6 "[::1]:$SRV_PORT" || finish

# split_case NAME FRONTEND SPLIT_AT SPOOF_SRC HEADER_HEX
split_case() {
    local name=$1 front=$2 at=$3 src=$4 hex=$5 c s
    ferry_only "$name" "$WHY" || return 0
    c=$(client "$NS_C" --connect "$front" --header-hex "$hex" --split-at "$at" --split-delay 0.3 \
        --send-bytes 50000 --seed "$RANDOM" --expect-bytes 50000 --timeout 10)
    s=$(server_conn "$src")
    expect_relay "$name" "$c" "$s" "$src"
}

next_port; src="203.0.113.7:$NEXT_PORT"
split_case "v1 TCP4 split after 3 bytes" "$P4:8443" 3 "$src" "$(hdr v1 --src "$src" --dst 192.0.2.1:443)"
next_port; src="203.0.113.7:$NEXT_PORT"
split_case "v1 TCP4 split mid-address" "$P4:8443" 20 "$src" "$(hdr v1 --src "$src" --dst 192.0.2.1:443)"
next_port; src="203.0.113.7:$NEXT_PORT"
h=$(hdr v1 --src "$src" --dst 192.0.2.1:443)
split_case "v1 TCP4 split between CR and LF" "$P4:8443" $(( ${#h} / 2 - 1 )) "$src" "$h"
next_port; src="[2001:db8:ff::7]:$NEXT_PORT"
split_case "v1 TCP6 split mid-line" "[$P6]:8443" 30 "$src" "$(hdr v1 --src "$src" --dst "[2001:db8:ff::1]:443")"
next_port; src="203.0.113.8:$NEXT_PORT"
split_case "v2 INET split inside the signature" "$P4:8443" 6 "$src" "$(hdr v2 --src "$src" --dst 192.0.2.1:443)"
next_port; src="203.0.113.8:$NEXT_PORT"
split_case "v2 INET split after the 16-byte prefix" "$P4:8443" 16 "$src" "$(hdr v2 --src "$src" --dst 192.0.2.1:443)"
next_port; src="[2001:db8:ff::8]:$NEXT_PORT"
split_case "v2 INET6 split inside the addresses" "[$P6]:8443" 30 "$src" "$(hdr v2 --src "$src" --dst "[2001:db8:ff::1]:443")"
next_port; src="203.0.113.9:$NEXT_PORT"
split_case "v2 INET split inside a TLV" "$P4:8443" 31 "$src" \
    "$(hdr v2 --src "$src" --dst 192.0.2.1:443 --tlv-str authority:www.example.com --crc32c)"

finish
