// The srcproxy client's outbound: one new TCP connection to the srcproxy server per client connection, the
// relay request (proto/srcproxy_header.h: the auth digest, the original destination, and the client's own
// address as the source) written before any payload, then the raw stream. The server never answers, so the
// handshake is done once the request is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/net_address.h"
#include "outbound/outbound.h"
#include "support/sha256.h"
#include "proto/srcproxy_header.h"

namespace ferry::srcproxy {

class ClientOutbound final : public Outbound {
public:
    struct Config {
        SocketAddress server;                   // resolved at start-up
        Sha256Digest auth_digest = srcproxy::auth_digest("");  // SHA-256 of the configured auth
        std::optional<SocketAddress> local_ip;  // bind(2) to it (port 0) before connecting
        std::string device;                     // SO_BINDTODEVICE when not empty
        std::optional<uint32_t> fwmark;         // SO_MARK
        int keepalive_seconds = 15;             // as the reference's Go dialer with SetKeepAlive(true); 0 = off
    };
    explicit ClientOutbound(Config config) : config_(std::move(config)) {}

    bool open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t now_ms) const override;
    HandshakeStep handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                            std::span<std::byte> scratch) const override;

private:
    Config config_;
};

}  // namespace ferry::srcproxy
