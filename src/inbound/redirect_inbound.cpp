#include "inbound/redirect_inbound.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include "core/socket_util.h"

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with glibc's headers.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

namespace ferry {

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

InboundStep RedirectInbound::read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const {
    if (state.kind == 0) {
        if (flow.local.empty()) flow.local = local_address(fd);
        flow.destination = original_destination(fd, flow.local, flow.peer);
        if (!flow.destination.empty()) {
            // 0.0.0.0 and :: reach this host too.
            if (refuse_loopback_ && (flow.destination.is_loopback() || flow.destination.is_unspecified()))
                return InboundStep::invalid("failed to accept connection",
                                            "the original destination " + flow.destination.to_string() +
                                                " is this host (loopback or unspecified)");
            state.kind = kRedirected;
            return InboundStep::done();
        }
        if (!socks_)
            return InboundStep::invalid(
                "failed to accept connection",
                "not redirected: the original destination is unknown or " + flow.local.to_string());
        if (!socks_->allows(flow.peer))
            return InboundStep::refuse("failed to accept connection",
                                       "not redirected (original destination unknown or " + flow.local.to_string() +
                                           "), and " + flow.peer.ip_string() + " may not use the SOCKS5 service");
        state.kind = kSocks5;
    }
    return socks_->serve(fd, flow, state, scratch);
}

std::string RedirectInbound::upstream_ready(int fd, const Flow& flow, const InboundState& state,
                                            int upstream_fd) const {
    if (state.kind != kSocks5) return {};
    return socks_->upstream_ready(fd, flow, state, upstream_fd);
}

bool RedirectInbound::upstream_failed(int fd, const Flow& flow, const InboundState& state, int err) const {
    if (state.kind != kSocks5) return false;
    return socks_->upstream_failed(fd, flow, state, err);
}

}  // namespace ferry
