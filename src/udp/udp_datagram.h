// The mmproxy mode's UDP path, its decisions as pure functions (go-mmproxy 2.1's udp.go, minus its bugs): what
// to do with one datagram that arrived on the listening socket. No sockets, no globals; the event loop does
// the I/O and keeps the flows.
//
// Each datagram starts with a PROXY v2 header: PROXY over INET or INET6 with the DGRAM transport, or LOCAL.
// v1 (TCP only) and STREAM headers are refused. A PROXY datagram belongs to the flow of its client (the
// header's source): an upstream socket bound to the client's ip:port with IP_TRANSPARENT and connected to the
// -4 or -6 target by the *client's* family (2.1 picks the family of the load balancer's address instead). A
// LOCAL datagram (health checks) goes out unspoofed, in a flow per sender (2.1 shares one among every LOCAL
// sender, so replies go to whichever sent last).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/net_address.h"
#include "engine/metrics_types.h"
#include "outbound/route.h"

namespace ferry::subnets {
class SubnetList;
}

namespace ferry::udp {

struct Targets {
    std::optional<SocketAddress> v4, v6;  // mmproxy's -4 and -6
    // go-mmproxy 2.3's -dynamic-destination: a PROXY datagram's flow goes to the header's destination (LOCAL
    // ones still to -4 / -6), if `allowed_destinations` (empty: anywhere) contains it.
    bool dynamic = false;
    std::vector<DestinationRule> allowed_destinations;
};

// Which flow a datagram belongs to.
struct FlowKey {
    SocketAddress address;  // the client (PROXY, TPROXY), or the sender (LOCAL)
    bool local = false;
    SocketAddress destination;  // TPROXY: the datagram's original destination; empty for mmproxy
    bool operator==(const FlowKey& other) const {
        return local == other.local && address == other.address && destination == other.destination;
    }
};

struct FlowKeyHash {
    size_t operator()(const FlowKey& k) const;
};

struct Decision {
    enum class Verdict { Forward, Drop } verdict = Verdict::Drop;
    // On Drop: why, for the -v 1 log line ("PROXY protocol v1 is not supported over UDP", ...).
    std::string reason;
    metrics::UdpDrop drop = metrics::UdpDrop::HeaderInvalid;  // on Drop: its label for the metrics
    // On Forward:
    FlowKey key;
    SocketAddress source;  // bind the upstream socket here (IP_TRANSPARENT); empty for LOCAL: unspoofed
    SocketAddress target;  // connect it here
    size_t payload_offset = 0;  // the payload is datagram[payload_offset..] (possibly empty)
};

// `sender`: where the datagram came from (the load balancer; replies go back there). `allowed`: null or empty
// lets every sender in, as for TCP.
Decision classify(std::span<const std::byte> datagram, const SocketAddress& sender, const Targets& targets,
                  const subnets::SubnetList* allowed);

// The TPROXY inbound (`ferry tproxy -p udp`): a datagram from `client` whose original destination (from its
// IP_ORIGDSTADDR / IPV6_ORIGDSTADDR cmsg, udp/origdst.h; nullopt: none) is `destination` belongs to the flow
// (client, destination): bound to the client's own address (IP_TRANSPARENT), connected to the destination, the
// replies sent from the destination's address. Both addresses are taken unmapped. Dropped (HeaderInvalid): no
// original destination (the datagram was not TPROXY'd: sent to the listening address itself), a client or
// destination of port 0, or families that differ.
Decision tproxy_flow(const SocketAddress& client, const std::optional<SocketAddress>& destination);

}  // namespace ferry::udp
