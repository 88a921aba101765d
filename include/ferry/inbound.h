// The inbound axis: how a connection learns its client and destination. An Inbound is shared, read-only, by
// every connection of a listener; per-connection state lives in the Flow and in the socket itself.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "ferry/flow.h"
#include "ferry/proxy_protocol.h"

namespace ferry {

struct InboundStep {
    enum class Status { Incomplete, Invalid, Done } status = Status::Incomplete;
    const char* message = nullptr;  // the log message on Invalid (go-mmproxy's words)
    std::string error;              // the specific reason on Invalid
};

class Inbound {
public:
    virtual ~Inbound() = default;
    // Called after accept and on every readable edge until Done or Invalid. Reads only the handshake's own
    // bytes: payload that follows stays in the socket for the relay. `scratch` is the loop's buffer.
    virtual InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const = 0;
};

// PROXY protocol v1/v2 in front of the payload (mmproxy). Peeks, parses, and consumes exactly the header.
class ProxyHeaderInbound final : public Inbound {
public:
    explicit ProxyHeaderInbound(proxy::ParseOptions options) : options_(options) {}
    InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const override;

    // The largest header the parser can need: a v2 header with 65535 bytes of addresses and TLVs.
    static constexpr size_t kMaxHeader = 16 + 65535;

private:
    proxy::ParseOptions options_;
};

}  // namespace ferry
