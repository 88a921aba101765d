// The outbound axis: how a connection reaches its destination. An Outbound is shared, read-only, by every
// connection of a listener.
#pragma once

#include <optional>
#include <string>

#include "ferry/fd.h"
#include "ferry/flow.h"

namespace ferry {

struct OpenResult {
    Fd fd;                 // a non-blocking socket with a connect in progress (or done)
    bool connected = false;
    std::string error;     // set when !fd
    int error_code = 0;    // the errno behind `error`, when there is one
};

class Outbound {
public:
    virtual ~Outbound() = default;
    // Chooses flow.target, creates the socket and starts a non-blocking connect.
    virtual OpenResult open(Flow& flow) const = 0;
};

// A direct TCP connection to a fixed target per address family (mmproxy's -4 / -6), or to flow.destination
// when no target is configured for the family. When flow.source is set the socket is bound to it with
// IP_TRANSPARENT first, so the target sees the client's own address (go-mmproxy's dialer, option for option).
class DirectOutbound final : public Outbound {
public:
    struct Config {
        std::optional<SocketAddress> target4;
        std::optional<SocketAddress> target6;
        bool spoof_source = true;  // bind to flow.source with IP_TRANSPARENT
        uint32_t mark = 0;         // SO_MARK when non-zero
        int syn_retries = 2;       // TCP_SYNCNT as go-mmproxy sets it (a dead target fails in ~7 s); 0 = kernel default
        int keepalive_seconds = 15;  // SO_KEEPALIVE idle and interval, as Go's dialer sets them; 0 = off
    };
    explicit DirectOutbound(Config config) : config_(std::move(config)) {}
    OpenResult open(Flow& flow) const override;

private:
    Config config_;
};

}  // namespace ferry
