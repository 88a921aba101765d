#include "outbound/outbound.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/socket_util.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace ferry {

HandshakeStep Outbound::handshake(Flow&, Attempt&, SocketReadiness&, int, std::span<std::byte>) const {
    HandshakeStep done;
    done.status = HandshakeStep::Status::Done;
    return done;
}

void Outbound::attempt_failed(const Flow&, const Attempt&, std::string_view, std::optional<Fault>) const {}
void Outbound::relay_started(const Flow&, const Attempt&) const {}
void Outbound::relay_bytes(const Attempt&, uint64_t, uint64_t) const {}
void Outbound::relay_closed(const Flow&, const Attempt&, uint64_t, uint64_t, bool) const {}

bool DirectOutbound::open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t) const {
    // One target, one attempt: a failed dial is final.
    if (state.next++ > 0) {
        r.exhausted = true;
        return false;
    }
    if (dial(flow, a, r)) return true;
    r.exhausted = true;
    return false;
}

bool DirectOutbound::dial(Flow& flow, Attempt& a, OpenResult& r) const {
    // The family of the client decides the target, as go-mmproxy does: the header's source, or for LOCAL and
    // UNKNOWN the frontend peer.
    const SocketAddress& by = flow.source.empty() ? flow.peer : flow.source;
    const auto& fixed = by.is_v4() ? config_.target4 : config_.target6;
    flow.target = fixed ? *fixed : flow.destination;
    a.target = flow.target;
    if (flow.target.empty()) {
        r.error = "no target for this address family";
        return false;
    }
    const bool spoof = config_.spoof_source && !flow.source.empty();
    auto dial_error = [&](const std::string& what, int code = 0) {
        r.error_code = code;
        std::string from = spoof ? flow.source.to_string() + "->" : "";
        r.error = "dial tcp " + from + flow.target.to_string() + ": " + what;
        a.fd.reset();
        return false;
    };
    const int family = flow.target.family();
    a.fd.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!a.fd) {
        r.exhausted = true;  // out of fds: no other candidate would do better
        return dial_error("socket: " + errno_text(errno), errno);
    }
    const int fd = a.fd.get();
    if (spoof) {
        if (config_.syn_retries > 0) {
            if (int e = set_int_option(fd, IPPROTO_TCP, TCP_SYNCNT, config_.syn_retries))
                return dial_error(option_error("setsockopt(IPPROTO_TCP, TCP_SYNCNT, 2)", e));
        }
        if (config_.freebind) {
            // IPV6_FREEBIND sets the same socket flag on IPv6 sockets (Linux >= 4.15); before it the IPv4
            // option applied to both.
            int e = family == AF_INET6 ? set_int_option(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1) : -1;
            if (e != 0 && (e = set_int_option(fd, IPPROTO_IP, IP_FREEBIND, 1)))
                return dial_error(option_error("setsockopt(IPPROTO_IP, IP_FREEBIND, 1)", e));
            // IPv4 routes a connect from a foreign source only when the source is in the local table, or
            // with IP_TRANSPARENT: when permitted (CAP_NET_ADMIN, or CAP_NET_RAW on newer kernels) set it
            // too, so a source range made local by a policy rule (the srcproxy README's `ip rule ... lookup
            // 30`) works for IPv4 as it does for IPv6.
            if (config_.transparent_if_permitted) set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
        } else if (int e = set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1)) {
            return dial_error(option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e));
        }
        if (int e = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1))
            return dial_error(option_error("setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)", e));
        if (flow.source.port() == 0) set_int_option(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        if (config_.mark != 0) {
            if (int e = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(config_.mark)))
                return dial_error(option_error("setsockopt(SOL_SOCKET, SO_MARK)", e));
        }
        SocketAddress from = flow.source;
        if (family == AF_INET6 && from.is_v4()) {
            // An IPv4 client towards an IPv6 target: bind to its IPv4-mapped form.
            uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            std::memcpy(mapped + 12, &from.storage.in4.sin_addr, 4);
            from = SocketAddress::from_v6(mapped, from.port());
        }
        if (family == AF_INET6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
        if (family == AF_INET && from.is_v6()) return dial_error("bind: address family mismatch");
        if (::bind(fd, from.sa(), from.length) == -1) return dial_error("bind: " + errno_text(errno), errno);
    }
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, SOL_SOCKET, SO_OOBINLINE, 1);  // urgent data stays in the stream, see SplicePump
    if (config_.keepalive_seconds > 0) {
        set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, config_.keepalive_seconds);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, config_.keepalive_seconds);
    }
    if (::connect(fd, flow.target.sa(), flow.target.length) == 0) {
        a.connected = true;
        return true;
    }
    if (errno != EINPROGRESS) return dial_error("connect: " + errno_text(errno), errno);
    return true;
}

}  // namespace ferry
