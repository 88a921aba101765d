#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "inbound/inbound.h"
#include "support/log.h"
#include "core/socket_util.h"
#include "proto/socks5.h"
#include "support/subnets.h"

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with glibc's headers.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace ferry {
namespace {

// Flow::inbound_phase of a SOCKS5 client.
constexpr uint8_t kAwaitGreeting = 0;
constexpr uint8_t kAwaitRequest = 1;

InboundStep invalid(const char* message, std::string error, bool replied = false) {
    InboundStep s;
    s.status = InboundStep::Status::Invalid;
    s.message = message;
    s.error = std::move(error);
    s.replied = replied;
    return s;
}

InboundStep done() {
    InboundStep s;
    s.status = InboundStep::Status::Done;
    return s;
}

}  // namespace

SocketAddress RedirectInbound::original_destination(int fd, const SocketAddress& local, const SocketAddress& peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    // An IPv4 client (also one seen as ::ffff:a.b.c.d on a dual-stack socket) has an IPv4 conntrack entry.
    int rc = peer.is_v4() ? ::getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len)
                          : ::getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
    if (rc == -1) return {};
    SocketAddress dst = SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).unmapped();
    if (dst.empty() || dst == local.unmapped()) return {};
    return dst;
}

InboundStep RedirectInbound::read(int fd, Flow& flow, std::span<std::byte> scratch) const {
    if (flow.inbound_kind == 0) {
        if (flow.local.empty()) flow.local = local_address(fd);
        flow.destination = original_destination(fd, flow.local, flow.peer);
        if (!flow.destination.empty()) {
            // 0.0.0.0 and :: reach this host too.
            if (refuse_loopback_ && (flow.destination.is_loopback() || flow.destination.is_unspecified()))
                return invalid("failed to accept connection", "the original destination " +
                                                                  flow.destination.to_string() +
                                                                  " is this host (loopback or unspecified)");
            flow.inbound_kind = kRedirected;
            return done();
        }
        if (!socks_clients_)
            return invalid("failed to accept connection",
                           "not redirected: the original destination is unknown or " + flow.local.to_string());
        if (!socks_clients_->contains(flow.peer))
            return invalid("failed to accept connection",
                           "not redirected (original destination unknown or " + flow.local.to_string() +
                               "), and " + flow.peer.ip_string() + " may not use the SOCKS5 service");
        flow.inbound_kind = kSocks5;
    }
    return read_socks5(fd, flow, scratch);
}

InboundStep RedirectInbound::read_socks5(int fd, Flow& flow, std::span<std::byte> scratch) const {
    static thread_local std::vector<std::byte> reply;
    for (;;) {
        const IoResult in = io::peek(fd, scratch.first(std::min(scratch.size(), socks5::kMaxGreetingLength + socks5::kMaxRequestLength)));
        if (in.io == Io::WouldBlock) return {};
        if (in.io == Io::Error) return invalid("failed to read SOCKS5 request", "read: " + errno_text(in.error));
        if (in.io == Io::Eof) return invalid("failed to read SOCKS5 request", "EOF");
        auto data = std::span<const std::byte>(scratch.data(), in.bytes);
        reply.clear();
        if (flow.inbound_phase == kAwaitGreeting) {
            auto g = socks5::parse_greeting(data);
            if (g.status == socks5::Status::Incomplete) return {};
            if (g.status == socks5::Status::Invalid) return invalid("failed to read SOCKS5 request", g.error);
            if (!io::discard_exactly(fd, g.consumed, scratch)) return invalid("failed to read SOCKS5 request", "read failed");
            if (!g.offers_no_auth) {
                socks5::encode_method_reply(socks5::kMethodNoAcceptable, reply);
                bool sent = io::send_all_now(fd, reply);
                return invalid("failed to read SOCKS5 request", "the client offers no method without authentication",
                               sent);
            }
            socks5::encode_method_reply(socks5::kMethodNoAuth, reply);
            if (!io::send_all_now(fd, reply)) return invalid("failed to read SOCKS5 request", "write failed");
            flow.inbound_phase = kAwaitRequest;
            continue;  // a pipelining client may have sent its request already
        }
        auto r = socks5::parse_request(data);
        if (r.status == socks5::Status::Incomplete) return {};
        if (r.status == socks5::Status::Invalid) {
            socks5::encode_reply(r.reply_code, SocketAddress{}, reply);
            bool sent = io::send_all_now(fd, reply);
            return invalid("failed to read SOCKS5 request", r.error, sent);
        }
        if (!io::discard_exactly(fd, r.consumed, scratch)) return invalid("failed to read SOCKS5 request", "read failed");
        if (r.destination.is_domain()) {
            flow.destination_host = r.destination.domain;
            // Only the port: the address part stays unspecified (the upstream proxy resolves the name).
            uint8_t any[4] = {0, 0, 0, 0};
            flow.destination = SocketAddress::from_v4(any, r.destination.port);
        } else {
            flow.destination = r.destination.ip.unmapped();
        }
        return done();
    }
}

std::string RedirectInbound::upstream_ready(int fd, const Flow& flow, int upstream_fd) const {
    if (flow.inbound_kind != kSocks5) return {};
    std::vector<std::byte> reply;
    socks5::encode_reply(socks5::kSucceeded, local_address(upstream_fd), reply);
    if (!io::send_all_now(fd, reply)) return "write tcp " + flow.local.to_string() + "->" + flow.peer.to_string() + ": SOCKS5 reply: " + errno_text(errno);
    return {};
}

bool RedirectInbound::upstream_failed(int fd, const Flow& flow, int err) const {
    if (flow.inbound_kind != kSocks5) return false;
    std::vector<std::byte> reply;
    socks5::encode_reply(socks5::reply_code_for_errno(err), SocketAddress{}, reply);
    return io::send_all_now(fd, reply);
}

}  // namespace ferry
