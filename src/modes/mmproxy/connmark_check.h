// Replies from a target off loopback (another host, a container) come back to ferry's spoofed sockets only if
// they carry the upstream connection's mark, so that `ip rule fwmark N lookup T` sends them to table T's local
// route. go-mmproxy 2.3 leaves this to its examples/docker (iptables CONNMARK by hand), cloudflare/mmproxy
// prints the rules and checks each one at start. ferry installs the fwmark rule itself (support/routing.h)
// and checks at start that CONNMARK rules are there, for every family a target off loopback needs:
//   output hook:     packets with mark N save it in their connection (ct mark) and leave with mark 0 (routed
//                    normally: with N they would hit the local route themselves);
//   prerouting hook: packets whose connection has mark N get it back, and so hit the fwmark rule.
// Read from `nft list ruleset` (native rules and iptables-nft's alike), and with `iptables -C` /
// `ip6tables -C` for the exact rules below (iptables-legacy). Missing rules are a warning with the commands.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::mmproxy {

struct Families {
    bool v4 = false;
    bool v6 = false;
    bool operator==(const Families&) const = default;
};

// The rules as commands, in order: "iptables -t mangle -A OUTPUT -m mark --mark 123 -j CONNMARK --save-mark",
// "... -A OUTPUT -m mark --mark 123 -j MARK --set-mark 0", "... -A PREROUTING -m connmark --mark 123 -j
// CONNMARK --restore-mark" (ip6tables for v6).
std::vector<std::string> iptables_commands(bool v6, uint32_t mark);
// The same as nft commands, one inet table `ferry_mmproxy` for both families.
std::vector<std::string> nftables_commands(uint32_t mark);

// Pure: the families (ip/ip6 tables, inet for both) whose ruleset, as `nft list ruleset` prints it, saves mark
// `mark` into ct mark and clears it in an output-hook chain and restores it from ct mark in a prerouting-hook
// chain. Numbers are compared by value (nft prints 0x0000007b, iptables-nft's rules 0x7b or 123).
Families nft_connmark_families(std::string_view ruleset, uint32_t mark);

// Runs `nft list ruleset` and, for a family still missing, `iptables -C` / `ip6tables -C` on each rule of
// iptables_commands() (stdout and stderr discarded; a missing program counts as no rules). Start-up only.
Families find_connmark_rules(uint32_t mark, Families wanted);

}  // namespace ferry::mmproxy
