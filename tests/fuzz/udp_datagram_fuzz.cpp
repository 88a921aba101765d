// libFuzzer target for the mmproxy mode's UDP decision (src/udp/udp_datagram.*): classify() over a datagram from a
// load balancer. Input: a 20-byte prelude, then the datagram (a PROXY v2 header and the payload):
//   byte 0      flags: bit 0 a -4 target, bit 1 a -6 target, bit 2 the sender is IPv6 (else IPv4), bit 3 the
//               sender is IPv4-mapped IPv6, bit 4 an allowed-subnets list, bit 5 flip the list's first bit,
//               bit 6 -dynamic-destination, bit 7 -allowed-destinations of ports 53-1000 on any address
//   bytes 1-16  the sender's address (IPv4: the first 4), bytes 17-18 its port, byte 19 the list's prefix length
// The allowed list holds one prefix made from the sender's own address, so it lets the sender in unless bit 5
// moved it away. Invariants:
//   - Drop iff a reason is set; classifying the same datagram twice gives the same decision;
//   - a sender outside a non-empty allowed list is dropped whatever the datagram;
//   - Forward exactly when the PROXY header parses (DGRAM, v2) with LOCAL, UNSPEC, or INET/INET6 addresses and
//     there is a target for the flow's family; the payload starts right after the header;
//   - LOCAL/UNSPEC: a local flow keyed by the unmapped sender, no spoofed source; PROXY: the flow of the unmapped
//     header source, which is also the socket's source; the target is the -4 or -6 one by that family, or with
//     -dynamic-destination (PROXY only) the unmapped header destination, forwarded iff the allowed destinations
//     (if any) contain it;
//   - equal flow keys hash equally; the header encoded again (encode_v2) in front of the same payload gets the
//     same decision.
#include "udp/udp_datagram.h"

#include "outbound/route.h"
#include "proto/proxy_protocol.h"
#include "support/subnets.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <sys/socket.h>
#include <span>
#include <vector>

namespace {

using namespace ferry::udp;
using ferry::SocketAddress;
using ferry::fuzz::require;
namespace proxy = ferry::proxy;

constexpr size_t kPrelude = 20;

bool same(const Decision& a, const Decision& b) {
    return a.verdict == b.verdict && a.reason == b.reason && a.key == b.key && a.source == b.source &&
           a.target == b.target && a.payload_offset == b.payload_offset;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < kPrelude) return 0;
    const uint8_t flags = data[0];
    const uint16_t port = static_cast<uint16_t>(data[17] << 8 | data[18]);
    SocketAddress sender;
    if (flags & 4) {
        sender = SocketAddress::from_v6(data + 1, port);
    } else if (flags & 8) {
        uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        std::memcpy(mapped + 12, data + 1, 4);
        sender = SocketAddress::from_v6(mapped, port);
    } else {
        sender = SocketAddress::from_v4(data + 1, port);
    }
    Targets targets;
    const uint8_t v4_target[4] = {192, 0, 2, 1};
    const uint8_t v6_target[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (flags & 1) targets.v4 = SocketAddress::from_v4(v4_target, 53);
    if (flags & 2) targets.v6 = SocketAddress::from_v6(v6_target, 53);
    targets.dynamic = (flags & 64) != 0;
    if (flags & 128) {
        for (int family : {AF_INET, AF_INET6}) {
            ferry::DestinationRule rule;
            rule.prefix.family = family;
            rule.prefix.length = 0;
            rule.ports = {53, 1000};
            targets.allowed_destinations.push_back(rule);
        }
    }

    std::optional<ferry::subnets::SubnetList> allowed;
    bool sender_allowed = true;
    if (flags & 16) {
        const SocketAddress unmapped = sender.unmapped();
        const bool v4 = unmapped.is_v4();
        ferry::subnets::IpPrefix prefix;
        prefix.family = unmapped.family();
        prefix.length = data[19] % (v4 ? 33 : 129);
        std::memcpy(prefix.address.data(),
                    v4 ? reinterpret_cast<const uint8_t*>(&unmapped.storage.in4.sin_addr)
                       : unmapped.storage.in6.sin6_addr.s6_addr,
                    v4 ? 4 : 16);
        if (flags & 32) prefix.address[0] ^= 0x80;
        for (int i = prefix.length; i < (v4 ? 32 : 128); ++i)
            prefix.address[static_cast<size_t>(i / 8)] &= static_cast<uint8_t>(~(0x80 >> (i % 8)));
        sender_allowed = prefix.length == 0 || !(flags & 32);
        allowed = ferry::subnets::SubnetList({prefix});
    }
    const ferry::subnets::SubnetList* list = allowed ? &*allowed : nullptr;

    const std::vector<std::byte> datagram = ferry::fuzz::copy_bytes(data + kPrelude, size - kPrelude);
    const Decision d = classify(datagram, sender, targets, list);
    require(same(d, classify(datagram, sender, targets, list)));
    require((d.verdict == Decision::Verdict::Drop) == !d.reason.empty());
    if (!sender_allowed) {
        require(d.verdict == Decision::Verdict::Drop);
        return 0;
    }

    proxy::ParseOptions options;
    options.transport = proxy::Transport::Dgram;
    const proxy::ParseResult h = proxy::parse(datagram, options);
    const bool local = h.status == proxy::Status::Done &&
                       (h.header.command == proxy::Command::Local || h.header.family == proxy::Family::Unspec);
    const bool addresses = h.status == proxy::Status::Done && !local && h.header.has_addresses();
    const SocketAddress by = local ? sender.unmapped() : h.header.source.unmapped();
    const bool dynamic = targets.dynamic && addresses;
    const SocketAddress destination = h.header.destination.unmapped();
    const bool has_target =
        dynamic ? targets.allowed_destinations.empty() || (destination.port() >= 53 && destination.port() <= 1000)
                : (local || addresses) && (by.is_v4() ? targets.v4 : targets.v6).has_value();
    require((d.verdict == Decision::Verdict::Forward) == has_target);
    if (d.verdict != Decision::Verdict::Forward) return 0;

    require(d.payload_offset == h.consumed && d.payload_offset <= datagram.size());
    require(d.key.local == local && d.key.address == by);
    require(local ? d.source.empty() : d.source == by);
    require(d.target == (dynamic ? destination : by.is_v4() ? *targets.v4 : *targets.v6));
    const FlowKey copy = d.key;
    require(FlowKeyHash{}(copy) == FlowKeyHash{}(d.key));

    // The same header written again by ferry's encoder, in front of the same payload.
    if (addresses) {
        std::vector<std::byte> again;
        require(proxy::encode_v2(h.header, again));
        again.insert(again.end(), datagram.begin() + static_cast<std::ptrdiff_t>(h.consumed), datagram.end());
        const Decision e = classify(again, sender, targets, list);
        require(e.verdict == Decision::Verdict::Forward && e.key == d.key && e.source == d.source &&
                e.target == d.target && again.size() - e.payload_offset == datagram.size() - d.payload_offset);
    }
    return 0;
}
