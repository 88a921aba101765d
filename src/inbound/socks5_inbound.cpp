#include "inbound/socks5_inbound.h"

#include <algorithm>
#include <vector>

#include "core/io.h"
#include "core/socket_util.h"
#include "proto/socks5.h"
#include "support/subnets.h"

namespace ferry {
namespace {

using Step = InboundStep;

// InboundState::phase.
constexpr uint8_t kAwaitGreeting = 0;
constexpr uint8_t kAwaitRequest = 1;

constexpr const char* kFailed = "failed to read SOCKS5 request";

}  // namespace

bool Socks5Inbound::allows(const SocketAddress& peer) const { return clients_.contains(peer); }

InboundStep Socks5Inbound::read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const {
    if (state.phase == kAwaitGreeting && !allows(flow.peer))
        return Step::refuse("failed to accept connection", flow.peer.ip_string() + " may not use the SOCKS5 service");
    return serve(fd, flow, state, scratch);
}

InboundStep Socks5Inbound::serve(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const {
    static thread_local std::vector<std::byte> reply;
    for (;;) {
        const size_t want = std::min(scratch.size(), socks5::kMaxGreetingLength + socks5::kMaxRequestLength);
        const IoResult in = io::peek(fd, scratch.first(want));
        if (in.io == Io::WouldBlock) return {};
        if (in.io == Io::Error) return Step::invalid(kFailed, "read: " + errno_text(in.error));
        if (in.io == Io::Eof) return Step::invalid(kFailed, "EOF");
        auto data = std::span<const std::byte>(scratch.data(), in.bytes);
        reply.clear();
        if (state.phase == kAwaitGreeting) {
            auto g = socks5::parse_greeting(data);
            if (g.status == socks5::Status::Incomplete) return {};
            if (g.status == socks5::Status::Invalid) return Step::invalid(kFailed, g.error);
            if (!io::discard_exactly(fd, g.consumed, scratch)) return Step::invalid(kFailed, "read failed");
            if (!g.offers_no_auth) {
                socks5::encode_method_reply(socks5::kMethodNoAcceptable, reply);
                const bool sent = io::send_all_now(fd, reply);
                return Step::invalid(kFailed, "the client offers no method without authentication", sent);
            }
            socks5::encode_method_reply(socks5::kMethodNoAuth, reply);
            if (!io::send_all_now(fd, reply)) return Step::invalid(kFailed, "write failed");
            state.phase = kAwaitRequest;
            continue;  // a pipelining client may have sent its request already
        }
        auto r = socks5::parse_request(data);
        if (r.status == socks5::Status::Incomplete) return {};
        if (r.status == socks5::Status::Invalid) {
            socks5::encode_reply(r.reply_code, SocketAddress{}, reply);
            const bool sent = io::send_all_now(fd, reply);
            return Step::invalid(kFailed, r.error, sent);
        }
        if (!io::discard_exactly(fd, r.consumed, scratch)) return Step::invalid(kFailed, "read failed");
        if (r.destination.is_domain()) {
            flow.destination_host = r.destination.domain;
            // Only the port: the address part stays unspecified (the upstream proxy resolves the name).
            uint8_t any[4] = {0, 0, 0, 0};
            flow.destination = SocketAddress::from_v4(any, r.destination.port);
        } else {
            flow.destination = r.destination.ip.unmapped();
        }
        return Step::done();
    }
}

std::string Socks5Inbound::upstream_ready(int fd, const Flow& flow, const InboundState&, int upstream_fd) const {
    std::vector<std::byte> reply;
    socks5::encode_reply(socks5::kSucceeded, local_address(upstream_fd), reply);
    if (!io::send_all_now(fd, reply)) {
        const int err = errno;
        const SocketAddress local = flow.local.empty() ? local_address(fd) : flow.local;
        return "write tcp " + local.to_string() + "->" + flow.peer.to_string() + ": SOCKS5 reply: " + errno_text(err);
    }
    return {};
}

bool Socks5Inbound::upstream_failed(int fd, const Flow&, const InboundState&, int err) const {
    std::vector<std::byte> reply;
    socks5::encode_reply(socks5::reply_code_for_errno(err), SocketAddress{}, reply);
    return io::send_all_now(fd, reply);
}

}  // namespace ferry
