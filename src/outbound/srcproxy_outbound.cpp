#include "outbound/srcproxy_outbound.h"

#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <vector>

#include "core/socket_util.h"
#include "proto/srcproxy_header.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace ferry::srcproxy {

bool ClientOutbound::open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t) const {
    // One server, one attempt.
    r.exhausted = true;
    if (state.next++ > 0) return false;
    flow.target = config_.server;
    a.target = config_.server;
    auto fail = [&](const std::string& what, int code) {
        r.error = "dial tcp " + config_.server.to_string() + ": " + what;
        r.error_code = code;
        a.fd.reset();
        return false;
    };
    a.fd.reset(::socket(config_.server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!a.fd) return fail("socket: " + errno_text(errno), errno);
    const int fd = a.fd.get();
    if (config_.fwmark) {
        if (int e = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(*config_.fwmark)))
            return fail(option_error("setsockopt(SOL_SOCKET, SO_MARK)", e), e);
    }
    if (!config_.device.empty()) {
        if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, config_.device.data(),
                         static_cast<socklen_t>(config_.device.size())) == -1)
            return fail(option_error("setsockopt(SOL_SOCKET, SO_BINDTODEVICE)", errno), errno);
    }
    if (config_.local_ip) {
        SocketAddress from = *config_.local_ip;
        from.set_port(0);
        set_int_option(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        if (::bind(fd, from.sa(), from.length) == -1) return fail("bind: " + errno_text(errno), errno);
    }
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, SOL_SOCKET, SO_OOBINLINE, 1);  // urgent data stays in the stream, see SplicePump
    if (config_.keepalive_seconds > 0) {
        set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, config_.keepalive_seconds);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, config_.keepalive_seconds);
    }
    if (::connect(fd, config_.server.sa(), config_.server.length) == 0)
        a.connected = true;
    else if (errno != EINPROGRESS)
        return fail("connect: " + errno_text(errno), errno);
    r.exhausted = false;
    return true;
}

HandshakeStep ClientOutbound::handshake(Flow& flow, Attempt& a, SocketReadiness& io, int,
                                        std::span<std::byte>) const {
    HandshakeStep step;
    std::vector<std::byte> request;
    request.reserve(kMaxHeaderLength);
    if (!encode(config_.auth_digest, flow.destination, flow.peer, request)) {
        step.status = HandshakeStep::Status::Failed;
        step.error = "cannot encode a relay request for " + flow.peer.to_string() + " -> " +
                     flow.destination.to_string();
        step.error_code = EINVAL;
        step.fault = Fault::Local;
        return step;
    }
    while (a.sent < request.size()) {
        if (!io.writable) return step;
        ssize_t n = ::send(io.fd, request.data() + a.sent, request.size() - a.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            a.sent += static_cast<uint32_t>(n);
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) {
            io.writable = false;
            return step;
        }
        const int err = n == -1 ? errno : EPIPE;
        step.status = HandshakeStep::Status::Failed;
        step.error = "write tcp " + local_address(io.fd).to_string() + "->" + config_.server.to_string() + ": " +
                     errno_text(err);
        step.error_code = err;
        step.final = true;
        return step;
    }
    step.status = HandshakeStep::Status::Done;
    return step;
}

}  // namespace ferry::srcproxy
