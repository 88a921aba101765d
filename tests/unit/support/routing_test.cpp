// Unit tests for the pure half of ferry::routing: request encoding against the bytes iproute2 sends, and
// reply reading against bytes the kernel sent (captured with `strace -xx -e write=3 / -e read=3` in a
// throwaway network namespace, kernel 6.18, iproute2 6.1). Netlink is host-endian: the captures are from
// x86-64, so the byte-level tests only run on little-endian hosts.
#include <arpa/inet.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <span>
#include <vector>

#include "support/routing.h"

using namespace ferry::routing;

namespace {

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
    std::vector<std::byte> out;
    out.reserve(values.size());
    for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
    return out;
}

uint32_t seq_of(const std::vector<std::byte>& message) {
    uint32_t seq = 0;
    std::memcpy(&seq, message.data() + offsetof(nlmsghdr, nlmsg_seq), sizeof(seq));
    return seq;
}

// ip resolved `dev lo` to this index; loopback is always ifindex 1 in a network namespace.
constexpr uint32_t kLo = 1;
constexpr uint16_t kCreate = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;
constexpr uint16_t kDelete = NLM_F_REQUEST | NLM_F_ACK;

// sent by `ip rule add from 127.0.0.1/8 iif lo table 123`
const std::vector<std::byte> kIpRuleAdd4 = bytes({
    0x2c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00,
    0x7f, 0x00, 0x00, 0x01, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
});
// sent by `ip route add local 0.0.0.0/0 dev lo table 123`
const std::vector<std::byte> kIpRouteAdd4 = bytes({
    0x2c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x7b, 0x03, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
});
// sent by `ip -6 rule add from ::1/128 iif lo table 123`
const std::vector<std::byte> kIpRuleAdd6 = bytes({
    0x38, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x80, 0x00, 0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
});
// sent by `ip -6 route add local ::/0 dev lo table 123`
const std::vector<std::byte> kIpRouteAdd6 = bytes({
    0x38, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x00, 0x7b, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
});
// sent by `ip rule add from 127.0.0.1/8 iif lo table 1000`
const std::vector<std::byte> kIpRuleAddTable1000 = bytes({
    0x34, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00,
    0x7f, 0x00, 0x00, 0x01, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0xe8, 0x03, 0x00, 0x00,
});
// sent by `ip rule del pref 32765 from 127.0.0.1/8 iif lo table 123`
const std::vector<std::byte> kIpRuleDel4Pref = bytes({
    0x34, 0x00, 0x00, 0x00, 0x21, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0xfd, 0x7f, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x7f, 0x00, 0x00, 0x01, 0x07, 0x00, 0x03, 0x00,
    0x6c, 0x6f, 0x00, 0x00,
});
// sent by `ip rule del from 127.0.0.1/8 iif lo table 1000`
const std::vector<std::byte> kIpRuleDelTable1000 = bytes({
    0x34, 0x00, 0x00, 0x00, 0x21, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00,
    0x7f, 0x00, 0x00, 0x01, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0xe8, 0x03, 0x00, 0x00,
});
// sent by `ip route del local 0.0.0.0/0 dev lo table 123`
const std::vector<std::byte> kIpRouteDel4 = bytes({
    0x2c, 0x00, 0x00, 0x00, 0x19, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x7b, 0x00, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
});
// sent by `ip -6 route del local ::/0 dev lo table 123 metric 1024`
const std::vector<std::byte> kIpRouteDel6Metric = bytes({
    0x40, 0x00, 0x00, 0x00, 0x19, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x00, 0x7b, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0x00, 0x04, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
});
// sent by `ip -6 rule del from ::1/128 iif lo table 123`
const std::vector<std::byte> kIpRuleDel6 = bytes({
    0x38, 0x00, 0x00, 0x00, 0x21, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x00, 0x00, 0x00, 0x00,
    0x0a, 0x00, 0x80, 0x00, 0x7b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
});
// received by `ip rule show` with ours and the table 1000 rule installed: five rules and DONE in one datagram
const std::vector<std::byte> kRuleDump4 = bytes({
    0x34, 0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x8c, 0x21, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0xff, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0e, 0x00, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x15, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x4c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x5e, 0x06, 0x02, 0x6b,
    0x8c, 0x21, 0x00, 0x00, 0x02, 0x00, 0x08, 0x00, 0xfc, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0f, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x08, 0x00, 0x0e, 0x00, 0xff, 0xff, 0xff, 0xff,
    0x05, 0x00, 0x15, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0xfc, 0x7f, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x7f, 0x00, 0x00, 0x01,
    0x4c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x8c, 0x21, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0x7b, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0e, 0x00, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x15, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0xfd, 0x7f, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x7f, 0x00, 0x00, 0x01, 0x3c, 0x00, 0x00, 0x00,
    0x20, 0x00, 0x02, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x8c, 0x21, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    0xfe, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00, 0xfe, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0e, 0x00, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x15, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0xfe, 0x7f, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00,
    0x5e, 0x06, 0x02, 0x6b, 0x8c, 0x21, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0e, 0x00,
    0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x15, 0x00, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0xff, 0x7f, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x5e, 0x06, 0x02, 0x6b,
    0x8c, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
});
// received by `ip -6 route show table 123`: datagram 1 of 2
const std::vector<std::byte> kRouteDump6Part1 = bytes({
    0x60, 0x00, 0x00, 0x00, 0x18, 0x00, 0x22, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x90, 0x21, 0x00, 0x00,
    0x0a, 0x00, 0x00, 0x00, 0x7b, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0x7b, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x04, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x24, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00,
});
// received by `ip -6 route show table 123`: datagram 2 of 2
const std::vector<std::byte> kRouteDump6Part2 = bytes({
    0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x22, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x90, 0x21, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
});
// received by `ip rule add pref 32765 from 127.0.0.1/8 iif lo table 123` when it exists:
// EEXIST, the full request echoed, no TLVs
const std::vector<std::byte> kRuleAddExists = bytes({
    0x48, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0x94, 0x21, 0x00, 0x00,
    0xef, 0xff, 0xff, 0xff, 0x34, 0x00, 0x00, 0x00, 0x20, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x08, 0x00, 0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0xfd, 0x7f, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x7f, 0x00, 0x00, 0x01,
    0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00,
});
// received by `ip route del local 0.0.0.0/0 dev lo table 123` when it is gone: ESRCH
const std::vector<std::byte> kRouteDelMissing = bytes({
    0x40, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x5e, 0x06, 0x02, 0x6b, 0xae, 0x21, 0x00, 0x00,
    0xfd, 0xff, 0xff, 0xff, 0x2c, 0x00, 0x00, 0x00, 0x19, 0x00, 0x05, 0x00, 0x5e, 0x06, 0x02, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x7b, 0x00, 0xfe, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00,
});
// received by `ip -6 route add local ::/0 dev lo table 123` with disable_ipv6=1: EACCES, uncapped, extack message
const std::vector<std::byte> kRouteAdd6Disabled = bytes({
    0x74, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x02, 0x5e, 0x06, 0x02, 0x6b, 0xb3, 0x21, 0x00, 0x00,
    0xf3, 0xff, 0xff, 0xff, 0x38, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x06, 0x5e, 0x06, 0x02, 0x6b,
    0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x7b, 0x03, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x27, 0x00, 0x01, 0x00,
    0x49, 0x50, 0x76, 0x36, 0x20, 0x69, 0x73, 0x20, 0x64, 0x69, 0x73, 0x61, 0x62, 0x6c, 0x65, 0x64,
    0x20, 0x6f, 0x6e, 0x20, 0x6e, 0x65, 0x78, 0x74, 0x68, 0x6f, 0x70, 0x20, 0x64, 0x65, 0x76, 0x69,
    0x63, 0x65, 0x00, 0x00,
});
// received by routing_probe (NETLINK_CAP_ACK, NETLINK_EXT_ACK, strict checking):
// the RTM_NEWRULE echo (NLM_F_ECHO) of its rule add
const std::vector<std::byte> kRuleEcho = bytes({
    0x4c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x70, 0x06, 0x02, 0x6b, 0x86, 0x23, 0x00, 0x00,
    0x02, 0x00, 0x08, 0x00, 0x7b, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0f, 0x00,
    0x7b, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0e, 0x00, 0xff, 0xff, 0xff, 0xff, 0x05, 0x00, 0x15, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x00, 0x6c, 0x6f, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0xfd, 0x7f, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x7f, 0x00, 0x00, 0x01,
});
// received by routing_probe (NETLINK_CAP_ACK, NETLINK_EXT_ACK, strict checking):
// the capped ack of that rule add
const std::vector<std::byte> kRuleEchoAck = bytes({
    0x24, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x70, 0x06, 0x02, 0x6b, 0x86, 0x23, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x20, 0x00, 0x0d, 0x06, 0x70, 0x06, 0x02, 0x6b,
    0x00, 0x00, 0x00, 0x00,
});
// received by routing_probe (NETLINK_CAP_ACK, NETLINK_EXT_ACK, strict checking):
// strict dump of table 123 before it exists
const std::vector<std::byte> kRouteDumpMissingTable = bytes({
    0x38, 0x00, 0x00, 0x00, 0x03, 0x00, 0x22, 0x02, 0x71, 0x06, 0x02, 0x6b, 0x86, 0x23, 0x00, 0x00,
    0xfe, 0xff, 0xff, 0xff, 0x23, 0x00, 0x01, 0x00, 0x69, 0x70, 0x76, 0x34, 0x3a, 0x20, 0x46, 0x49,
    0x42, 0x20, 0x74, 0x61, 0x62, 0x6c, 0x65, 0x20, 0x64, 0x6f, 0x65, 0x73, 0x20, 0x6e, 0x6f, 0x74,
    0x20, 0x65, 0x78, 0x69, 0x73, 0x74, 0x00, 0x00,
});
// received by `ip -6 addr show` in a fresh namespace: RTM_NEWADDR ::1/128 on lo, then DONE
const std::vector<std::byte> kAddressDump6 = bytes({
    0x50, 0x00, 0x00, 0x00, 0x14, 0x00, 0x02, 0x00, 0x68, 0x06, 0x02, 0x6b, 0xa7, 0x22, 0x00, 0x00,
    0x0a, 0x80, 0x80, 0xfe, 0x01, 0x00, 0x00, 0x00, 0x14, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x14, 0x00, 0x06, 0x00,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xea, 0xb4, 0x00, 0x00, 0xea, 0xb4, 0x00, 0x00,
    0x08, 0x00, 0x08, 0x00, 0x80, 0x00, 0x00, 0x00, 0x05, 0x00, 0x0b, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0x68, 0x06, 0x02, 0x6b, 0xa7, 0x22, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
});

// A netlink message built by hand: header, then `payload` (padded to 4).
std::vector<std::byte> message(uint16_t type, uint16_t flags, uint32_t seq, std::vector<std::byte> payload) {
    nlmsghdr header{};
    header.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + payload.size());
    header.nlmsg_type = type;
    header.nlmsg_flags = flags;
    header.nlmsg_seq = seq;
    std::vector<std::byte> out(NLMSG_ALIGN(sizeof(header) + payload.size()));
    std::memcpy(out.data(), &header, sizeof(header));
    if (!payload.empty()) std::memcpy(out.data() + sizeof(header), payload.data(), payload.size());
    return out;
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

ReplyReader::State feed(ReplyReader& reader, const std::vector<std::byte>& datagram) {
    return reader.feed(std::span<const std::byte>(datagram.data(), datagram.size()));
}

}  // namespace

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

TEST_CASE("rule add requests match what ip sends", "[routing]") {
    CHECK(encode_rule_request(RTM_NEWRULE, kCreate, seq_of(kIpRuleAdd4), loopback_rule(AF_INET, 123)) ==
          kIpRuleAdd4);
    CHECK(encode_rule_request(RTM_NEWRULE, kCreate, seq_of(kIpRuleAdd6), loopback_rule(AF_INET6, 123)) ==
          kIpRuleAdd6);
}

TEST_CASE("tables above 255 travel in FRA_TABLE, as ip sends them", "[routing]") {
    const Rule rule = loopback_rule(AF_INET, 1000);
    CHECK(encode_rule_request(RTM_NEWRULE, kCreate, seq_of(kIpRuleAddTable1000), rule) == kIpRuleAddTable1000);
    CHECK(encode_rule_request(RTM_DELRULE, kDelete, seq_of(kIpRuleDelTable1000), rule_to_delete(rule)) ==
          kIpRuleDelTable1000);
}

TEST_CASE("rule delete requests match what ip sends", "[routing]") {
    CHECK(encode_rule_request(RTM_DELRULE, kDelete, seq_of(kIpRuleDel6),
                              rule_to_delete(loopback_rule(AF_INET6, 123))) == kIpRuleDel6);
    Rule added = loopback_rule(AF_INET, 123);
    added.priority = 32765;
    CHECK(encode_rule_request(RTM_DELRULE, kDelete, seq_of(kIpRuleDel4Pref), rule_to_delete(added)) ==
          kIpRuleDel4Pref);
}

TEST_CASE("route add requests match what ip sends", "[routing]") {
    CHECK(encode_route_request(RTM_NEWROUTE, kCreate, seq_of(kIpRouteAdd4),
                               local_default_route(AF_INET, 123, kLo)) == kIpRouteAdd4);
    CHECK(encode_route_request(RTM_NEWROUTE, kCreate, seq_of(kIpRouteAdd6),
                               local_default_route(AF_INET6, 123, kLo)) == kIpRouteAdd6);
}

TEST_CASE("route delete requests match what ip sends", "[routing]") {
    CHECK(encode_route_request(RTM_DELROUTE, kDelete, seq_of(kIpRouteDel4),
                               route_to_delete(local_default_route(AF_INET, 123, kLo))) == kIpRouteDel4);
    Route added = local_default_route(AF_INET6, 123, kLo);
    added.priority = 1024;
    CHECK(encode_route_request(RTM_DELROUTE, kDelete, seq_of(kIpRouteDel6Metric), route_to_delete(added)) ==
          kIpRouteDel6Metric);
}

TEST_CASE("dump requests pass strict checking", "[routing]") {
    // fib_valid_dumprule_req: a bare fib_rule_hdr with only the family set.
    CHECK(encode_dump_request(RTM_GETRULE, AF_INET, 7) ==
          bytes({0x1c, 0, 0, 0, 0x22, 0, 0x01, 0x03, 7, 0, 0, 0, 0, 0, 0, 0,  //
                 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    // ip_valid_fib_dump_req: rtm_table and RTA_TABLE as the only filters.
    CHECK(encode_dump_request(RTM_GETROUTE, AF_INET6, 8, 123) ==
          bytes({0x24, 0, 0, 0, 0x1a, 0, 0x01, 0x03, 8, 0, 0, 0, 0, 0, 0, 0,  //
                 0x0a, 0, 0, 0, 0x7b, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0x0f, 0, 0x7b, 0, 0, 0}));
    CHECK(encode_dump_request(RTM_GETROUTE, AF_INET, 9, 1000) ==
          bytes({0x24, 0, 0, 0, 0x1a, 0, 0x01, 0x03, 9, 0, 0, 0, 0, 0, 0, 0,  //
                 0x02, 0, 0, 0, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x08, 0, 0x0f, 0, 0xe8, 0x03, 0, 0}));
    CHECK(encode_dump_request(RTM_GETADDR, AF_INET6, 10) ==
          bytes({0x18, 0, 0, 0, 0x16, 0, 0x01, 0x03, 10, 0, 0, 0, 0, 0, 0, 0,  //
                 0x0a, 0, 0, 0, 0, 0, 0, 0}));
}

TEST_CASE("a rule dump is read into rules, and ours is recognised", "[routing]") {
    ReplyReader reader(seq_of(kRuleDump4), true);
    REQUIRE(feed(reader, kRuleDump4) == ReplyReader::State::Done);
    CHECK(reader.ack().error == 0);
    // local (0), the table 1000 rule (32764), ours (32765), main (32766), default (32767).
    REQUIRE(reader.rules().size() == 5);

    const Rule& local = reader.rules()[0];
    CHECK(local.table == RT_TABLE_LOCAL);
    CHECK(local.source_length == 0);
    CHECK_FALSE(local.priority.has_value());  // priority 0 is not reported
    CHECK_FALSE(local.has_other_selectors);   // FRA_SUPPRESS_PREFIXLEN -1 means "not set"

    // The header says RT_TABLE_COMPAT; FRA_TABLE has the real id.
    const Rule& big = reader.rules()[1];
    CHECK(big.table == 1000);
    CHECK(big.priority == 32764u);
    CHECK(rule_matches(big, loopback_rule(AF_INET, 1000)));

    const Rule& ours = reader.rules()[2];
    CHECK(ours.family == AF_INET);
    CHECK(ours.priority == 32765u);
    CHECK(ours.input_interface == "lo");
    CHECK(ours.source_length == 8);
    CHECK(ours.table == 123);
    CHECK(ours.action == FR_ACT_TO_TBL);

    const Rule wanted = loopback_rule(AF_INET, 123);
    size_t matching = 0;
    for (const Rule& rule : reader.rules()) matching += rule_matches(rule, wanted) ? 1 : 0;
    CHECK(matching == 1);
    CHECK(rule_matches(ours, wanted));
    CHECK_FALSE(rule_matches(ours, loopback_rule(AF_INET, 124)));
    CHECK_FALSE(rule_matches(ours, loopback_rule(AF_INET6, 123)));
    CHECK(reader.rules()[3].priority == 32766u);
    CHECK(reader.rules()[4].priority == 32767u);
}

TEST_CASE("a dump spread over two datagrams ends only at NLMSG_DONE", "[routing]") {
    ReplyReader reader(seq_of(kRouteDump6Part1), true);
    REQUIRE(feed(reader, kRouteDump6Part1) == ReplyReader::State::Incomplete);
    REQUIRE(reader.routes().size() == 1);
    REQUIRE(feed(reader, kRouteDump6Part2) == ReplyReader::State::Done);
    CHECK(reader.ack().error == 0);
    REQUIRE(reader.routes().size() == 1);
    const Route& route = reader.routes()[0];
    CHECK(route.family == AF_INET6);
    CHECK(route.table == 123);
    CHECK(route.type == RTN_LOCAL);
    CHECK(route.output_interface == kLo);
    CHECK(route.priority == 1024u);
    CHECK(route.destination_length == 0);
    CHECK_FALSE(route.has_other_selectors);  // RTA_CACHEINFO and RTA_PREF change nothing
    CHECK(route_matches(route, local_default_route(AF_INET6, 123, kLo)));
    CHECK_FALSE(route_matches(route, local_default_route(AF_INET, 123, kLo)));
    CHECK_FALSE(route_matches(route, local_default_route(AF_INET6, 123, 2)));
    // A datagram after the end changes nothing.
    CHECK(feed(reader, kRouteDump6Part1) == ReplyReader::State::Done);
    CHECK(reader.routes().size() == 1);
}

TEST_CASE("a dump of a missing table ends with an error in NLMSG_DONE", "[routing]") {
    ReplyReader reader(seq_of(kRouteDumpMissingTable), true);
    REQUIRE(feed(reader, kRouteDumpMissingTable) == ReplyReader::State::Done);
    CHECK(reader.ack().error == ENOENT);
    CHECK(reader.ack().message == "ipv4: FIB table does not exist");
    CHECK(reader.routes().empty());
}

TEST_CASE("NLMSG_ERROR carries the errno, with or without the request echoed", "[routing]") {
    SECTION("EEXIST with the full request echoed, no TLVs") {
        ReplyReader reader(seq_of(kRuleAddExists), false);
        REQUIRE(feed(reader, kRuleAddExists) == ReplyReader::State::Done);
        CHECK(reader.ack().error == EEXIST);
        CHECK(reader.ack().message.empty());
        CHECK(reader.rules().empty());  // the echoed request is not an entry
    }
    SECTION("ESRCH for a route already gone") {
        ReplyReader reader(seq_of(kRouteDelMissing), false);
        REQUIRE(feed(reader, kRouteDelMissing) == ReplyReader::State::Done);
        CHECK(reader.ack().error == ESRCH);
    }
    SECTION("EACCES with the kernel's message after the uncapped request") {
        ReplyReader reader(seq_of(kRouteAdd6Disabled), false);
        REQUIRE(feed(reader, kRouteAdd6Disabled) == ReplyReader::State::Done);
        CHECK(reader.ack().error == EACCES);
        CHECK(reader.ack().message == "IPv6 is disabled on nexthop device");
    }
}

TEST_CASE("the echo of an added rule comes before its ack and gives its priority", "[routing]") {
    ReplyReader reader(seq_of(kRuleEcho), false);
    REQUIRE(feed(reader, kRuleEcho) == ReplyReader::State::Incomplete);
    REQUIRE(feed(reader, kRuleEchoAck) == ReplyReader::State::Done);
    CHECK(reader.ack().error == 0);
    REQUIRE(reader.rules().size() == 1);
    CHECK(rule_matches(reader.rules()[0], loopback_rule(AF_INET, 123)));
    CHECK(reader.rules()[0].priority == 32765u);

    SECTION("also when both arrive in one datagram") {
        ReplyReader joined(seq_of(kRuleEcho), false);
        CHECK(feed(joined, concat(kRuleEcho, kRuleEchoAck)) == ReplyReader::State::Done);
        CHECK(joined.rules().size() == 1);
    }
}

TEST_CASE("an address dump shows ::1 on lo", "[routing]") {
    ReplyReader reader(seq_of(kAddressDump6), true);
    REQUIRE(feed(reader, kAddressDump6) == ReplyReader::State::Done);
    REQUIRE(reader.addresses().size() == 1);
    const InterfaceAddress& address = reader.addresses()[0];
    CHECK(address.family == AF_INET6);
    CHECK(address.interface_index == kLo);
    CHECK(address.prefix_length == 128);
    std::array<uint8_t, 16> loopback{};
    loopback[15] = 1;
    CHECK(address.address == loopback);
}

TEST_CASE("replies to another sequence number are skipped", "[routing]") {
    ReplyReader reader(seq_of(kRuleDump4) + 1, true);
    CHECK(feed(reader, kRuleDump4) == ReplyReader::State::Incomplete);
    CHECK(reader.rules().empty());
    // A stale ack in front of ours in one datagram.
    ReplyReader ack_reader(seq_of(kRuleEchoAck), false);
    const auto stale = message(NLMSG_ERROR, 0, seq_of(kRuleEchoAck) - 1, bytes({0xef, 0xff, 0xff, 0xff}));
    CHECK(feed(ack_reader, concat(stale, kRuleEchoAck)) == ReplyReader::State::Done);
    CHECK(ack_reader.ack().error == 0);
}

TEST_CASE("no prefix of a captured reply is read past its end", "[routing]") {
    // Run under ASan: every truncation must end as Incomplete or Invalid, never as an overread.
    for (const auto* reply : {&kRuleDump4, &kRouteDump6Part1, &kRouteDumpMissingTable, &kRuleAddExists,
                              &kRouteAdd6Disabled, &kRuleEcho, &kAddressDump6}) {
        for (size_t length = 1; length < reply->size(); ++length) {
            std::vector<std::byte> cut(reply->begin(), reply->begin() + static_cast<std::ptrdiff_t>(length));
            ReplyReader reader(seq_of(*reply), true);
            const auto state = feed(reader, cut);
            INFO("length " << length << " of " << reply->size());
            CHECK(state != ReplyReader::State::Done);
        }
    }
}

#endif  // little-endian captures

TEST_CASE("malformed replies are Invalid with a reason", "[routing]") {
    SECTION("empty datagram") {
        ReplyReader reader(1, true);
        CHECK(reader.feed({}) == ReplyReader::State::Invalid);
        CHECK_FALSE(reader.invalid_reason().empty());
    }
    SECTION("fewer bytes than a header") {
        ReplyReader reader(1, true);
        CHECK(feed(reader, bytes({0x10, 0, 0, 0, 3, 0})) == ReplyReader::State::Invalid);
    }
    SECTION("nlmsg_len beyond the datagram") {
        auto m = message(NLMSG_DONE, NLM_F_MULTI, 1, bytes({0, 0, 0, 0}));
        m[0] = std::byte{0x40};
        ReplyReader reader(1, true);
        CHECK(feed(reader, m) == ReplyReader::State::Invalid);
        CHECK(reader.invalid_reason().find("length 64") != std::string::npos);
    }
    SECTION("nlmsg_len below the header size") {
        auto m = message(NLMSG_DONE, NLM_F_MULTI, 1, bytes({0, 0, 0, 0}));
        m[0] = std::byte{0x08};
        ReplyReader reader(1, true);
        CHECK(feed(reader, m) == ReplyReader::State::Invalid);
    }
    SECTION("an attribute running past its message") {
        std::vector<std::byte> payload(sizeof(fib_rule_hdr));
        payload[0] = std::byte{AF_INET};
        const auto attribute = bytes({0x40, 0, FRA_PRIORITY, 0, 1, 0, 0, 0});  // rta_len 64, 8 bytes present
        payload.insert(payload.end(), attribute.begin(), attribute.end());
        ReplyReader reader(1, true);
        CHECK(feed(reader, message(RTM_NEWRULE, NLM_F_MULTI, 1, payload)) == ReplyReader::State::Invalid);
    }
    SECTION("an FRA_SRC of the wrong size") {
        std::vector<std::byte> payload(sizeof(fib_rule_hdr));
        payload[0] = std::byte{AF_INET};
        const auto attribute = bytes({0x06, 0, FRA_SRC, 0, 127, 0, 0, 0});
        payload.insert(payload.end(), attribute.begin(), attribute.end());
        ReplyReader reader(1, true);
        CHECK(feed(reader, message(RTM_NEWRULE, NLM_F_MULTI, 1, payload)) == ReplyReader::State::Invalid);
    }
    SECTION("a rule message shorter than fib_rule_hdr") {
        ReplyReader reader(1, true);
        CHECK(feed(reader, message(RTM_NEWRULE, NLM_F_MULTI, 1, bytes({2, 0, 8, 0}))) ==
              ReplyReader::State::Invalid);
    }
    SECTION("NLMSG_ERROR without its errno") {
        ReplyReader reader(1, false);
        CHECK(feed(reader, message(NLMSG_ERROR, 0, 1, {})) == ReplyReader::State::Invalid);
    }
    SECTION("NLMSG_DONE in reply to a request that is not a dump") {
        ReplyReader reader(1, false);
        CHECK(feed(reader, message(NLMSG_DONE, 0, 1, bytes({0, 0, 0, 0}))) == ReplyReader::State::Invalid);
    }
    SECTION("a positive errno in NLMSG_ERROR") {
        ReplyReader reader(1, false);
        CHECK(feed(reader, message(NLMSG_ERROR, 0, 1, bytes({1, 0, 0, 0}))) == ReplyReader::State::Invalid);
    }
    SECTION("Invalid stays Invalid") {
        ReplyReader reader(1, true);
        CHECK(reader.feed({}) == ReplyReader::State::Invalid);
        CHECK(feed(reader, message(NLMSG_DONE, NLM_F_MULTI, 1, bytes({0, 0, 0, 0}))) ==
              ReplyReader::State::Invalid);
    }
}

TEST_CASE("a capped NLMSG_ERROR with TLVs yields the kernel's message", "[routing]") {
    nlmsgerr error{};
    error.error = -EPERM;
    error.msg.nlmsg_len = 44;  // the request's length; only its header is echoed when capped
    std::vector<std::byte> payload(sizeof(error));
    std::memcpy(payload.data(), &error, sizeof(error));
    const char text[] = "needs privilege";
    const auto attribute_length = static_cast<uint16_t>(4 + sizeof(text));
    payload.push_back(static_cast<std::byte>(attribute_length));
    payload.push_back(std::byte{0});
    payload.push_back(static_cast<std::byte>(NLMSGERR_ATTR_MSG));
    payload.push_back(std::byte{0});
    for (char c : text) payload.push_back(static_cast<std::byte>(c));
    ReplyReader reader(5, false);
    REQUIRE(feed(reader, message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 5, payload)) ==
            ReplyReader::State::Done);
    CHECK(reader.ack().error == EPERM);
    CHECK(reader.ack().message == "needs privilege");
}

TEST_CASE("a dump that fails part-way reports the error from NLMSG_DONE", "[routing]") {
    ReplyReader reader(3, true);
    const int error = -EINTR;
    std::vector<std::byte> payload(sizeof(error));
    std::memcpy(payload.data(), &error, sizeof(error));
    CHECK(feed(reader, message(NLMSG_DONE, NLM_F_MULTI, 3, payload)) == ReplyReader::State::Done);
    CHECK(reader.ack().error == EINTR);
}

TEST_CASE("rule_matches compares the selected packets, not the spelling", "[routing]") {
    const Rule wanted = loopback_rule(AF_INET, 123);
    Rule existing = wanted;
    existing.priority = 100;
    existing.source = {127, 0, 0, 0};  // `from 127.0.0.0/8` selects the same packets
    CHECK(rule_matches(existing, wanted));

    Rule narrower = wanted;
    narrower.source_length = 16;
    CHECK_FALSE(rule_matches(narrower, wanted));
    Rule other_net = wanted;
    other_net.source = {10, 0, 0, 1};
    CHECK_FALSE(rule_matches(other_net, wanted));
    Rule any_interface = wanted;
    any_interface.input_interface.clear();
    CHECK_FALSE(rule_matches(any_interface, wanted));
    Rule with_fwmark = wanted;
    with_fwmark.has_other_selectors = true;
    CHECK_FALSE(rule_matches(with_fwmark, wanted));
    Rule blackhole = wanted;
    blackhole.action = FR_ACT_BLACKHOLE;
    CHECK_FALSE(rule_matches(blackhole, wanted));

    const Rule wanted6 = loopback_rule(AF_INET6, 123);
    Rule other6 = wanted6;
    other6.source[15] = 2;
    CHECK(rule_matches(wanted6, wanted6));
    CHECK_FALSE(rule_matches(other6, wanted6));
}

TEST_CASE("route_matches ignores the metric but not the route's shape", "[routing]") {
    const Route wanted = local_default_route(AF_INET6, 123, kLo);
    Route existing = wanted;
    existing.priority = 5;
    existing.protocol = RTPROT_STATIC;
    CHECK(route_matches(existing, wanted));
    Route unicast = wanted;
    unicast.type = RTN_UNICAST;
    CHECK_FALSE(route_matches(unicast, wanted));
    Route other_table = wanted;
    other_table.table = 124;
    CHECK_FALSE(route_matches(other_table, wanted));
    Route narrower = wanted;
    narrower.destination_length = 64;
    CHECK_FALSE(route_matches(narrower, wanted));
    Route via_gateway = wanted;
    via_gateway.has_other_selectors = true;
    CHECK_FALSE(route_matches(via_gateway, wanted));
}

TEST_CASE("local routes take iproute2's scope per family", "[routing]") {
    CHECK(local_default_route(AF_INET, 123, kLo).scope == RT_SCOPE_HOST);
    CHECK(local_default_route(AF_INET6, 123, kLo).scope == RT_SCOPE_UNIVERSE);
    CHECK(route_to_delete(local_default_route(AF_INET, 123, kLo)).protocol == RTPROT_UNSPEC);
    CHECK(rule_to_delete(loopback_rule(AF_INET, 123)).action == FR_ACT_UNSPEC);
}

TEST_CASE("changes are described in ip syntax", "[routing]") {
    CHECK(describe_rule(loopback_rule(AF_INET, 123)) == "ip rule from 127.0.0.1/8 iif lo table 123");
    CHECK(describe_rule(loopback_rule(AF_INET, 123), "add") == "ip rule add from 127.0.0.1/8 iif lo table 123");
    Rule added6 = loopback_rule(AF_INET6, 123);
    added6.priority = 32765;
    CHECK(describe_rule(added6, "del") == "ip -6 rule del pref 32765 from ::1/128 iif lo table 123");
    CHECK(describe_route(local_default_route(AF_INET, 123, kLo), kLo, "add") ==
          "ip route add local 0.0.0.0/0 dev lo table 123");
    Route added = local_default_route(AF_INET6, 1000, kLo);
    added.priority = 1024;
    CHECK(describe_route(added, kLo, "del") == "ip -6 route del local ::/0 dev lo table 1000 metric 1024");
    CHECK(describe_route(local_default_route(AF_INET, 7, 3), kLo) == "ip route local 0.0.0.0/0 ifindex 3 table 7");
}

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
namespace {

// Little-endian netlink pieces, for messages written down from `strace` decodes.
void put16(std::vector<std::byte>& out, uint16_t v) {
    for (int i = 0; i < 2; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void put32(std::vector<std::byte>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void nlmsg(std::vector<std::byte>& out, uint32_t len, uint16_t type, uint16_t flags, uint32_t seq) {
    put32(out, len);
    put16(out, type);
    put16(out, flags);
    put32(out, seq);
    put32(out, 0);
}
void rule_header(std::vector<std::byte>& out, uint8_t family, uint8_t table) {
    for (unsigned v : {unsigned{family}, 0u, 0u, 0u, unsigned{table}, 0u, 0u, unsigned{FR_ACT_TO_TBL}})
        out.push_back(static_cast<std::byte>(v));
    put32(out, 0);  // flags
}
void attr32(std::vector<std::byte>& out, uint16_t type, uint32_t value) {
    put16(out, 8);
    put16(out, type);
    put32(out, value);
}

}  // namespace

TEST_CASE("fwmark rules encode as ip sends them", "[routing]") {
    // `ip rule add fwmark 123 table 123` (strace: nlmsg_len 36, table 0x7b in the header, FRA_FWMARK 123 only).
    std::vector<std::byte> want4;
    nlmsg(want4, 36, RTM_NEWRULE, kCreate, 77);
    rule_header(want4, AF_INET, 123);
    attr32(want4, FRA_FWMARK, 123);
    CHECK(encode_rule_request(RTM_NEWRULE, kCreate, 77, fwmark_rule(AF_INET, 123, 123)) == want4);
    // `ip -6 rule add fwmark 0x7b/0xff table 1000`: FRA_FWMARK, FRA_FWMASK, FRA_TABLE (header table 0).
    std::vector<std::byte> want6;
    nlmsg(want6, 52, RTM_NEWRULE, kCreate, 78);
    rule_header(want6, AF_INET6, RT_TABLE_UNSPEC);
    attr32(want6, FRA_FWMARK, 123);
    attr32(want6, FRA_FWMASK, 0xff);
    attr32(want6, FRA_TABLE, 1000);
    Rule masked = fwmark_rule(AF_INET6, 123, 1000);
    masked.fwmask = 0xff;
    CHECK(encode_rule_request(RTM_NEWRULE, kCreate, 78, masked) == want6);
    CHECK(describe_rule(fwmark_rule(AF_INET, 123, 123), "add") == "ip rule add from all fwmark 0x7b table 123");
    CHECK(describe_rule(masked, "add") == "ip -6 rule add from all fwmark 0x7b/0xff table 1000");
}

TEST_CASE("a dumped fwmark rule is read and matched by mark, mask and table", "[routing]") {
    // The kernel's dump entry for `fwmark 0x7b lookup 123` (strace decode, kernel 6.18), then NLMSG_DONE.
    std::vector<std::byte> dump;
    nlmsg(dump, 76, RTM_NEWRULE, NLM_F_MULTI, 9);
    rule_header(dump, AF_INET, 123);
    attr32(dump, FRA_TABLE, 123);
    attr32(dump, FRA_SUPPRESS_PREFIXLEN, 0xffffffff);
    put16(dump, 5);
    put16(dump, FRA_PROTOCOL);
    for (int i = 0; i < 4; ++i) dump.push_back(std::byte{0});  // RTPROT_UNSPEC and padding
    attr32(dump, FRA_PRIORITY, 32765);
    attr32(dump, FRA_FWMARK, 123);
    attr32(dump, FRA_FWMASK, 0xffffffff);
    nlmsg(dump, 20, NLMSG_DONE, NLM_F_MULTI, 9);
    put32(dump, 0);
    ReplyReader reader(9, true);
    REQUIRE(feed(reader, dump) == ReplyReader::State::Done);
    REQUIRE(reader.rules().size() == 1);
    const Rule& r = reader.rules()[0];
    CHECK_FALSE(r.has_other_selectors);
    CHECK(r.fwmark == 123);
    CHECK(r.fwmask == 0xffffffff);
    CHECK(r.priority == 32765u);
    CHECK(rule_matches(r, fwmark_rule(AF_INET, 123, 123)));
    CHECK_FALSE(rule_matches(r, fwmark_rule(AF_INET, 124, 123)));
    CHECK_FALSE(rule_matches(r, fwmark_rule(AF_INET, 123, 124)));
    CHECK_FALSE(rule_matches(r, loopback_rule(AF_INET, 123)));
    CHECK_FALSE(rule_matches(loopback_rule(AF_INET, 123), fwmark_rule(AF_INET, 123, 123)));
}
#endif
