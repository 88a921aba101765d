#!/usr/bin/env bash
# make deps: install, with apt-get, the Debian packages that building and testing ferry need and
# that are not installed yet. Quiet and quick when nothing is missing; needs root otherwise.
set -euo pipefail

PACKAGES=(
    build-essential g++ make pkg-config libcap-dev libinih-dev libcjson-dev catch2 time
    haproxy go-mmproxy iproute2 iptables python3 procps psmisc socat netcat-openbsd gnuplot-nox
    shadowsocks-libev microsocks tinyproxy dnsmasq-base chromium curl dante-server redsocks tshark nftables
    # tests/e2e/metrics.sh: Prometheus's own OpenMetrics parser checks /metrics
    python3-prometheus-client
    # socket activation (systemd-socket-activate) and the units' checks (systemd-analyze); PID 1 is not needed;
    # tests/e2e/systemd.sh also needs setpriv and unshare (util-linux) and strace (the units' SystemCallFilter)
    systemd util-linux strace
    # tests/e2e/privdrop.sh: setcap (file capabilities on a copy of ferry); setpriv (util-linux, above)
    libcap2-bin
    # tests/e2e/moproxy_graphite.sh: a real carbon-cache receives moproxy's Graphite lines (whisper-fetch reads them)
    graphite-carbon python3-whisper
    # make fuzz: clang++ and libFuzzer's runtime (libclang_rt.fuzzer*.a, which clang only recommends)
    clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0

echo "deps: installing ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
    echo "deps: must run as root to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq </dev/null
apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null >/dev/null
echo "deps: done"
