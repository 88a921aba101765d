// A SOCKS5 server as an inbound (RFC 1928: no authentication, CONNECT to IPv4, IPv6 or a host name):
// `inbound = socks5`, and what moproxy's REDIRECT inbound serves to clients that were not redirected.
#pragma once

#include "inbound/inbound.h"

namespace ferry {

namespace subnets {
class SubnetList;
}

// The greeting is answered at once; the request gives flow.destination (or, for a host name,
// flow.destination_host with the port in flow.destination). The success reply goes out only once the upstream
// is ready (upstream_ready, with the upstream socket's local address as the bound address); a failure gets the
// SOCKS5 error code that matches it. Peers outside `clients` are closed without a word.
class Socks5Inbound final : public Inbound {
public:
    explicit Socks5Inbound(const subnets::SubnetList& clients) : clients_(clients) {}
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "destination known"; }
    const char* handshake_name() const override { return "SOCKS5 request"; }
    std::string upstream_ready(int fd, const Flow& flow, const InboundState& state, int upstream_fd) const override;
    bool upstream_failed(int fd, const Flow& flow, const InboundState& state, int err) const override;
    bool client_speaks(const InboundState&) const override { return false; }  // not before the success reply

    bool allows(const SocketAddress& peer) const;
    // The handshake itself, for a peer already allowed (RedirectInbound's not-redirected connections).
    InboundStep serve(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const;

private:
    const subnets::SubnetList& clients_;
};

}  // namespace ferry
