#include "inbound/proxy_header_inbound.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/socket_util.h"

namespace ferry {
namespace {

// v1 headers are at most 107 bytes and v2 headers from load balancers rarely exceed a few hundred, so the first
// peek asks for this much and a larger v2 header is peeked again at its announced length.
constexpr size_t kFirstPeek = 512;

using Step = InboundStep;

}  // namespace

InboundStep ProxyHeaderInbound::read(int fd, Flow& flow, InboundState&, std::span<std::byte> scratch) const {
    size_t want = std::min(kFirstPeek, scratch.size());
    for (;;) {
        const IoResult r = io::peek(fd, scratch.first(want));
        if (r.io == Io::WouldBlock) return {};
        if (r.io == Io::Error) return Step::invalid("failed to read PROXY header", "read: " + errno_text(r.error));
        if (r.io == Io::Eof) return Step::invalid("failed to read PROXY header", "EOF");
        const size_t n = r.bytes;
        auto data = scratch.first(n);
        auto result = proxy::parse(data, options_);
        if (result.status == proxy::Status::Invalid)
            return Step::invalid("failed to parse PROXY header", std::move(result.reason));
        if (result.status == proxy::Status::Incomplete) {
            // A v2 header longer than what we peeked: peek again at its full length if the socket may have it.
            if (n == want && result.needed > want && result.needed <= scratch.size()) {
                want = result.needed;
                continue;
            }
            return {};  // wait for the next edge: new bytes arrive as new edges even while these stay queued
        }
        // Done: consume exactly the header; the payload behind it stays queued for the relay.
        if (!io::discard_exactly(fd, result.consumed, scratch))
            return Step::invalid("failed to read PROXY header", "read: " + errno_text(errno ? errno : EPIPE));
        auto& h = result.header;
        flow.peer_is_client = false;  // a load balancer or proxy speaks for the client
        if (h.command == proxy::Command::Proxy && h.has_addresses()) {
            // ::ffff:a.b.c.d (HAProxy behind a dual-stack bind sends these) is an IPv4 client: dialing it as
            // IPv6 would pick the -6 target and the kernel drops SYNs from v4-mapped sources.
            flow.source = h.source.unmapped();
            flow.destination = h.destination.unmapped();
            flow.tlvs = std::move(h.tlvs);
        }
        return Step::done();
    }
}

}  // namespace ferry
