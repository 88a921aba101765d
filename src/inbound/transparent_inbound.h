// iptables/nftables TPROXY in front (tproxy mode, `inbound = tproxy`).
#pragma once

#include <vector>

#include "inbound/inbound.h"

namespace ferry {

// The listener has IP_TRANSPARENT, so the accepted socket's local address is the original destination and
// its peer the original source; nothing is read from the client. A connection made to the listening address
// itself was not intercepted (it would be relayed to ourselves) and is closed.
class TransparentInbound final : public Inbound {
public:
    explicit TransparentInbound(std::vector<SocketAddress> listen) : listen_(std::move(listen)) {}
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "intercepted"; }
    const char* handshake_name() const override { return "interception"; }

private:
    std::vector<SocketAddress> listen_;  // unmapped
};

}  // namespace ferry
