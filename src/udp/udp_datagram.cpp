#include "udp/udp_datagram.h"

#include <cstring>

#include "proto/proxy_protocol.h"
#include "support/subnets.h"

namespace ferry::udp {
namespace {

Decision drop(std::string reason, metrics::UdpDrop why = metrics::UdpDrop::HeaderInvalid) {
    Decision d;
    d.verdict = Decision::Verdict::Drop;
    d.reason = std::move(reason);
    d.drop = why;
    return d;
}

}  // namespace

size_t FlowKeyHash::operator()(const FlowKey& k) const {
    // FNV-1a over the family, port and address bytes.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](const void* p, size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    };
    const uint8_t tag = static_cast<uint8_t>(k.local ? 1 : 0);
    mix(&tag, 1);
    const uint16_t port = k.address.port();
    mix(&port, sizeof port);
    if (k.address.is_v4()) mix(&k.address.storage.in4.sin_addr, 4);
    if (k.address.is_v6()) mix(&k.address.storage.in6.sin6_addr, 16);
    if (!k.destination.empty()) {
        const uint16_t dport = k.destination.port();
        mix(&dport, sizeof dport);
        if (k.destination.is_v4()) mix(&k.destination.storage.in4.sin_addr, 4);
        if (k.destination.is_v6()) mix(&k.destination.storage.in6.sin6_addr, 16);
    }
    return static_cast<size_t>(h);
}

Decision classify(std::span<const std::byte> datagram, const SocketAddress& sender, const Targets& targets,
                  const subnets::SubnetList* allowed) {
    if (allowed && !allowed->empty() && !allowed->contains(sender))
        return drop("origin " + sender.ip_string() + " not in allowed subnets", metrics::UdpDrop::SubnetRefused);
    proxy::ParseOptions options;
    options.transport = proxy::Transport::Dgram;  // also refuses v1
    auto r = proxy::parse(datagram, options);
    if (r.status == proxy::Status::Incomplete)
        return drop("datagram of " + std::to_string(datagram.size()) + " bytes ends inside its PROXY header");
    if (r.status == proxy::Status::Invalid) return drop(r.reason);
    const auto& h = r.header;
    Decision d;
    d.verdict = Decision::Verdict::Forward;
    d.payload_offset = r.consumed;
    const SocketAddress* by = nullptr;
    if (h.command == proxy::Command::Local || h.family == proxy::Family::Unspec) {
        // No client address to spoof (LOCAL, or PROXY with UNSPEC, which the spec says to treat like LOCAL).
        d.key = FlowKey{sender.unmapped(), true};
        by = &d.key.address;
    } else if (!h.has_addresses()) {
        return drop("unsupported address family in PROXY header (only INET and INET6 over UDP)");
    } else {
        d.source = h.source.unmapped();
        d.key = FlowKey{d.source, false};
        by = &d.source;
        if (targets.dynamic) {
            d.target = h.destination.unmapped();
            bool permitted = targets.allowed_destinations.empty();
            for (const auto& rule : targets.allowed_destinations) permitted = permitted || rule.contains(d.target);
            if (!permitted) {
                return drop("destination " + d.target.to_string() + " is not in the allowed destinations",
                            metrics::UdpDrop::NoTarget);
            }
            return d;
        }
    }
    const auto& t = by->is_v4() ? targets.v4 : targets.v6;
    if (!t) {
        return drop(std::string("no -") + (by->is_v4() ? "4" : "6") + " target for " + by->to_string(),
                    metrics::UdpDrop::NoTarget);
    }
    d.target = *t;
    return d;
}

Decision tproxy_flow(const SocketAddress& client, const std::optional<SocketAddress>& destination) {
    if (!destination) return drop("no original destination (not a TPROXY'd datagram)");
    const SocketAddress from = client.unmapped();
    const SocketAddress to = destination->unmapped();
    if (from.port() == 0 || to.port() == 0) return drop("port 0");
    if (from.family() != to.family()) return drop("client and original destination of different families");
    Decision d;
    d.verdict = Decision::Verdict::Forward;
    d.key.address = from;
    d.key.destination = to;
    d.source = from;
    d.target = to;
    return d;
}

}  // namespace ferry::udp
