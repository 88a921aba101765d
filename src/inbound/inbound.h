// The inbound axis: how a connection learns its client and destination. An Inbound is shared, read-only, by
// every connection of a listener; per-connection state lives in the Flow and in the socket itself.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "engine/flow.h"
#include "proto/codec.h"
#include "proto/proxy_protocol.h"

namespace ferry {

struct InboundStep {
    using Status = ParseStatus;
    Status status = Status::Incomplete;
    const char* message = nullptr;  // the log message on Invalid (go-mmproxy's words)
    std::string error;              // the specific reason on Invalid
    bool replied = false;           // on Invalid: the client was sent an error reply; close with a FIN, not an RST
};

class Inbound {
public:
    virtual ~Inbound() = default;
    // Called after accept and on every readable edge until Done or Invalid. Reads only the handshake's own
    // bytes: payload that follows stays in the socket for the relay. `scratch` is the loop's buffer. An inbound
    // whose protocol answers the client during the handshake (SOCKS5's method choice) writes here too.
    virtual InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const = 0;

    // Log messages: the handshake failed or timed out ("failed to read PROXY header"), it completed (at -v 2),
    // and what the handshake is called in reasons ("PROXY header").
    virtual const char* failure_message() const = 0;
    virtual const char* done_message() const = 0;
    virtual const char* handshake_name() const = 0;

    // The upstream is ready to relay: tell the client if the protocol wants it (SOCKS5 success reply with the
    // address of `upstream_fd` as the bound address). Returns an error text when the client could not be told.
    virtual std::string upstream_ready(int fd, const Flow& flow, int upstream_fd) const;
    // No upstream could be reached (`err`: the errno of the last failure, 0 when unknown): send the protocol's
    // failure reply, if it has one, before the connection is closed. True when a reply went out (the
    // connection then closes with a FIN, so the reply is not lost to an RST).
    virtual bool upstream_failed(int fd, const Flow& flow, int err) const;
};

// PROXY protocol v1/v2 in front of the payload (mmproxy). Peeks, parses, and consumes exactly the header.
class ProxyHeaderInbound final : public Inbound {
public:
    explicit ProxyHeaderInbound(proxy::ParseOptions options) : options_(options) {}
    InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to read PROXY header"; }
    const char* done_message() const override { return "successfully parsed PROXY header"; }
    const char* handshake_name() const override { return "PROXY header"; }

    // The largest header the parser can need: a v2 header with 65535 bytes of addresses and TLVs.
    static constexpr size_t kMaxHeader = 16 + 65535;

private:
    proxy::ParseOptions options_;
};

}  // namespace ferry

namespace ferry {

namespace subnets {
class SubnetList;
}

// iptables/nftables REDIRECT in front (moproxy): the original destination comes from SO_ORIGINAL_DST (IPv4) or
// IP6T_SO_ORIGINAL_DST (IPv6); nothing is read from the client. A connection that was not redirected (its
// original destination is our own address, or conntrack does not know it) is served as a SOCKS5 client (no
// authentication, CONNECT to IPv4, IPv6 or a host name) when its peer is in `socks_clients`, and closed
// otherwise. The SOCKS5 success reply is sent only once the upstream is ready; a failure gets the matching
// SOCKS5 error code.
class RedirectInbound final : public Inbound {
public:
    // Flow::inbound_kind values.
    static constexpr uint8_t kRedirected = 1;
    static constexpr uint8_t kSocks5 = 2;

    // socks_clients null: no SOCKS5 service (not redirected means closed).
    // refuse_loopback: a redirected connection whose original destination is a loopback address is closed too
    // (srcproxy's client: such a destination means nothing on the server).
    explicit RedirectInbound(const subnets::SubnetList* socks_clients, bool refuse_loopback = false)
        : socks_clients_(socks_clients), refuse_loopback_(refuse_loopback) {}
    InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "destination known"; }
    const char* handshake_name() const override { return "SOCKS5 request"; }
    std::string upstream_ready(int fd, const Flow& flow, int upstream_fd) const override;
    bool upstream_failed(int fd, const Flow& flow, int err) const override;

    // The original destination of a redirected connection: empty when the connection was not redirected.
    static SocketAddress original_destination(int fd, const SocketAddress& local, const SocketAddress& peer);

private:
    InboundStep read_socks5(int fd, Flow& flow, std::span<std::byte> scratch) const;
    const subnets::SubnetList* socks_clients_;
    bool refuse_loopback_;
};

}  // namespace ferry

namespace ferry {

namespace srcproxy {
class Acl;
}

// The srcproxy relay request in front of the stream (srcproxy server): peeks, parses (proto/srcproxy_header.h),
// checks the ACL, and consumes exactly the header, leaving the stream behind it queued for the relay. The
// source to connect from and the destination come from the header. Nothing is ever written to the client: a
// bad or refused request is a closed connection, as in the reference.
class SrcproxyHeaderInbound final : public Inbound {
public:
    explicit SrcproxyHeaderInbound(const srcproxy::Acl& acl) : acl_(acl) {}
    InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to read relay request"; }
    const char* done_message() const override { return "successfully parsed relay request"; }
    const char* handshake_name() const override { return "relay request"; }

private:
    const srcproxy::Acl& acl_;
};

}  // namespace ferry

namespace ferry {

// iptables/nftables TPROXY in front (tproxy mode): the listener has IP_TRANSPARENT, so the accepted socket's
// local address is the original destination and its peer the original source; nothing is read from the
// client. The outbound connects from the source to the destination (both flows share the 4-tuple). A
// connection made to the listening address itself was not intercepted (it would be relayed to ourselves) and
// is closed.
class TransparentInbound final : public Inbound {
public:
    explicit TransparentInbound(std::vector<SocketAddress> listen) : listen_(std::move(listen)) {}
    InboundStep read(int fd, Flow& flow, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "intercepted"; }
    const char* handshake_name() const override { return "interception"; }

private:
    std::vector<SocketAddress> listen_;  // unmapped
};

}  // namespace ferry
