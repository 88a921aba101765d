// PROXY protocol v1/v2 in front of the payload (mmproxy, `inbound = proxy-protocol`).
#pragma once

#include "inbound/inbound.h"
#include "proto/proxy_protocol.h"

namespace ferry {

// Peeks, parses, and consumes exactly the header; the payload behind it stays queued for the relay. The
// header's source is the client to connect from (flow.source) and its destination where the client went
// (flow.destination); LOCAL and UNKNOWN headers leave both empty. v2 TLVs are kept in flow.tlvs.
class ProxyHeaderInbound final : public Inbound {
public:
    explicit ProxyHeaderInbound(proxy::ParseOptions options) : options_(options) {}
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to read PROXY header"; }
    const char* done_message() const override { return "successfully parsed PROXY header"; }
    const char* handshake_name() const override { return "PROXY header"; }

    // The largest header the parser can need: a v2 header with 65535 bytes of addresses and TLVs.
    static constexpr size_t kMaxHeader = 16 + 65535;

private:
    proxy::ParseOptions options_;
};

}  // namespace ferry
