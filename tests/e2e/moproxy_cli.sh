#!/usr/bin/env bash
# moproxy: the command line as moproxy 0.5.1 takes it (and the seed's older space-separated lists), the
# `check` command, configuration errors naming file, line and key, exit statuses, the moproxy symlink.
source "$(dirname "$0")/lib.sh"

ns_new NS_R r
run() { in_ns "$NS_R" "$@"; }
ln -s "$FERRY" "$WORK/moproxy"

out=$(run "$FERRY" moproxy --help 2>&1); rc=$?
check_eq "--help exits 0" 0 "$rc"
check "--help lists the options" bash -c 'for o in --port --host --socks5 --http --list --probe --test-dns --max-wait --stats-bind --allow-direct --n-parallel --log-level --no-tfo --socks-clients; do grep -q -- "$o" <<<"$1" || { echo "missing $o"; exit 1; }; done' _ "$out"
out=$(run "$WORK/moproxy" --help 2>&1); rc=$?
check_eq "a symlink named moproxy runs the moproxy mode" "0 yes" "$rc $(grep -q -- --socks5 <<<"$out" && echo yes)"
check "ferry --help lists the moproxy mode" bash -c '"$1" --help | grep -q "^  moproxy "' _ "$FERRY"

# The seed's README example, with its space-separated lists.
out=$(run "$FERRY" moproxy check --no-bind --port 2080 --socks5 2001 2002 2003 --http 3128 192.0.2.10:3128 2>&1); rc=$?
check_eq "seed example (space-separated lists): check says OK" "0" "$rc" "$out"
check "seed example: 5 upstream proxies" grep -q "configuration OK: 5 upstream proxies" <<<"$out"

# The seed's server list, unchanged: ';' comments after values.
cat >"$WORK/seed.ini" <<'INI'
[server-1]
address=127.0.0.1:2001
protocol=socks5
[server-2]
address=127.0.0.1:2002
protocol=http
test dns=127.0.0.53:53 ;use other dns server to caculate delay
[backup]
address=127.0.0.1:2002
protocol=socks5
score base=5000 ;add 5k to pull away from preferred server.
INI
out=$(run "$FERRY" moproxy check --no-bind -p 2080 -l "$WORK/seed.ini" 2>&1); rc=$?
check_eq "the seed's server list loads unchanged" "0" "$rc" "$out"

# Bad lists: exit 1 with file:line and key, before anything binds.
bad() {
    local name=$1 text=$2 want=$3
    printf '%b' "$text" >"$WORK/bad.ini"
    out=$(run "$FERRY" moproxy -p 2080 -l "$WORK/bad.ini" 2>&1); rc=$?
    check_eq "$name: exit 1" 1 "$rc" "$out"
    check "$name: the message says $want" grep -qF -- "$want" <<<"$out"
}
bad "bad score base" '[a]\naddress = 127.0.0.1:1\nprotocol = socks5\nscore base = 50x0\n' 'bad.ini:4: key \"score base\"'
bad "unknown key" '[a]\naddress = 127.0.0.1:1\nprotocol = socks5\ncolour = blue\n' 'bad.ini:4'
bad "missing address" '[a]\nprotocol = socks5\n' 'bad.ini:1'
bad "bad protocol" '[a]\naddress = 127.0.0.1:1\nprotocol = gopher\n' 'bad.ini:3: key \"protocol\"'
bad "duplicate tag" '[a]\naddress = 127.0.0.1:1\nprotocol = socks5\n[a]\naddress = 127.0.0.1:2\nprotocol = socks5\n' 'bad.ini:4'
out=$(run "$FERRY" moproxy -p 2080 -l "$WORK/missing.ini" 2>&1); rc=$?
check_eq "missing list file: exit 1" 1 "$rc" "$out"
check "missing list file: named" grep -qF "missing.ini" <<<"$out"

# Usage errors: exit 2, clap's shape.
usage() {
    local name=$1
    shift
    out=$(run "$FERRY" moproxy "$@" 2>&1); rc=$?
    check_eq "$name: exit 2" 2 "$rc" "$out"
    check "$name: error line and hint" bash -c 'grep -q "^error: " <<<"$1" && grep -q -- "--help" <<<"$1"' _ "$out"
}
usage "unknown option" -p 2080 -s 2001 --frobnicate
usage "no port" -s 2001
usage "bad port" -p 70000 -s 2001
usage "bad address" -p 2080 -s 300.1.1.1:2001
usage "no server and no --allow-direct" -p 2080
usage "unsupported moproxy option named" -p 2080 -s 2001 --score-script s.lua
check "unsupported option: says ferry does not support it" grep -q "does not support" <<<"$out"
usage "--score-script refused" -p 2080 -s 2001 --score-script "$WORK/score.lua"
check "--score-script: one line saying no Lua and what to use instead" \
    bash -c 'grep -c "Lua score scripts" <<<"$1" | grep -qx 1 && grep -q "score base" <<<"$1"' _ "$out"

# check binds unless --no-bind: a taken port fails it.
run "$PYTHON" -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1",2080)); s.listen(); time.sleep(30)' &
E2E_PIDS+=($!)
wait_tcp_listen "$NS_R" 2080 5
out=$(run "$FERRY" moproxy check -p 2080 -s 2001 2>&1); rc=$?
check_eq "check with the port taken: exit 1" 1 "$rc" "$out"
out=$(run "$FERRY" moproxy check --no-bind -p 2080 -s 2001 2>&1); rc=$?
check_eq "check --no-bind with the port taken: exit 0" 0 "$rc" "$out"
out=$(run "$FERRY" moproxy -p 2080 -s 2001 2>&1); rc=$?
check_eq "running with the port taken: exit 1" 1 "$rc"
check "running with the port taken: says which address" grep -q '"listenAdr":"127.0.0.1:2080"' <<<"$out"
finish
