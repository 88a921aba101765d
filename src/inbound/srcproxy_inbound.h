// The srcproxy relay request in front of the stream (srcproxy server, `inbound = srcproxy`).
#pragma once

#include "inbound/inbound.h"

namespace ferry {

namespace srcproxy {
class Acl;
}

// Peeks, parses (proto/srcproxy_header.h), checks the ACL, and consumes exactly the header, leaving the stream
// behind it queued for the relay. The source to connect from and the destination come from the header.
// Nothing is ever written to the client: a bad or refused request is a closed connection, as in the reference.
class SrcproxyHeaderInbound final : public Inbound {
public:
    explicit SrcproxyHeaderInbound(const srcproxy::Acl& acl) : acl_(acl) {}
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to read relay request"; }
    const char* done_message() const override { return "successfully parsed relay request"; }
    const char* handshake_name() const override { return "relay request"; }

private:
    const srcproxy::Acl& acl_;
};

}  // namespace ferry
