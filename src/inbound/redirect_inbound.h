// iptables/nftables REDIRECT in front (moproxy, srcproxy's client, `inbound = redirect`).
#pragma once

#include "inbound/inbound.h"
#include "inbound/socks5_inbound.h"

namespace ferry {

// The original destination comes from SO_ORIGINAL_DST (IPv4) or IP6T_SO_ORIGINAL_DST (IPv6); nothing is read
// from the client. A connection that was not redirected (its original destination is our own address, or
// conntrack does not know it) is served by `socks` when the peer may use it, and closed otherwise.
class RedirectInbound final : public Inbound {
public:
    // InboundState::kind values.
    static constexpr uint8_t kRedirected = 1;
    static constexpr uint8_t kSocks5 = 2;

    // socks null: no SOCKS5 service (not redirected means closed).
    // refuse_loopback: a redirected connection whose original destination is a loopback address is closed too
    // (srcproxy's client: such a destination means nothing on the server).
    explicit RedirectInbound(const Socks5Inbound* socks, bool refuse_loopback = false)
        : socks_(socks), refuse_loopback_(refuse_loopback) {}
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "destination known"; }
    const char* handshake_name() const override { return "SOCKS5 request"; }
    std::string upstream_ready(int fd, const Flow& flow, const InboundState& state, int upstream_fd) const override;
    bool upstream_failed(int fd, const Flow& flow, const InboundState& state, int err) const override;
    bool client_speaks(const InboundState& state) const override { return state.kind != kSocks5; }

    // The original destination of a redirected connection: empty when the connection was not redirected.
    static SocketAddress original_destination(int fd, const SocketAddress& local, const SocketAddress& peer);

private:
    const Socks5Inbound* socks_;
    bool refuse_loopback_;
};

}  // namespace ferry
