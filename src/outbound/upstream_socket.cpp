#include "outbound/upstream_socket.h"

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
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif

namespace ferry {
namespace {

// Binds to a foreign address: IP_TRANSPARENT (or IP_FREEBIND), SO_REUSEADDR, then bind(2). Returns the error
// text, or "" on success.
std::string bind_foreign(int fd, int family, const UpstreamSocket& s, int* code) {
    if (s.syn_retries > 0) {
        if (int e = set_int_option(fd, IPPROTO_TCP, TCP_SYNCNT, s.syn_retries))
            return option_error("setsockopt(IPPROTO_TCP, TCP_SYNCNT, 2)", e);
    }
    if (s.bind == UpstreamSocket::Bind::Freebind) {
        // IPV6_FREEBIND sets the same socket flag on IPv6 sockets (Linux >= 4.15); before it the IPv4 option
        // applied to both.
        int e = family == AF_INET6 ? set_int_option(fd, IPPROTO_IPV6, IPV6_FREEBIND, 1) : -1;
        if (e != 0 && (e = set_int_option(fd, IPPROTO_IP, IP_FREEBIND, 1)))
            return option_error("setsockopt(IPPROTO_IP, IP_FREEBIND, 1)", e);
        // IPv4 routes a connect from a foreign source only when the source is in the local table, or with
        // IP_TRANSPARENT: when permitted (CAP_NET_ADMIN, or CAP_NET_RAW on newer kernels) set it too, so a
        // source range made local by a policy rule (the srcproxy README's `ip rule ... lookup 30`) works for
        // IPv4 as it does for IPv6.
        if (s.transparent_if_permitted) set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1);
    } else if (int e = set_int_option(fd, IPPROTO_IP, IP_TRANSPARENT, 1)) {
        return option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e);
    }
    if (int e = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1))
        return option_error("setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)", e);
    if (s.from.port() == 0) set_int_option(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (s.mark != 0) {
        if (int e = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(s.mark)))
            return option_error("setsockopt(SOL_SOCKET, SO_MARK)", e);
    }
    SocketAddress from = s.from;
    if (family == AF_INET6 && from.is_v4()) {
        // An IPv4 client towards an IPv6 target: bind to its IPv4-mapped form.
        uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        std::memcpy(mapped + 12, &from.storage.in4.sin_addr, 4);
        from = SocketAddress::from_v6(mapped, from.port());
    }
    if (family == AF_INET6) set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0);
    if (family == AF_INET && from.is_v6()) return "bind: address family mismatch";
    if (::bind(fd, from.sa(), from.length) == -1) {
        *code = errno;
        return "bind: " + errno_text(errno);
    }
    return {};
}

// Our own side: SO_MARK, SO_BINDTODEVICE, and the local address when one is given.
std::string bind_own(int fd, const UpstreamSocket& s, int* code) {
    if (s.mark != 0) {
        if (int e = set_int_option(fd, SOL_SOCKET, SO_MARK, static_cast<int>(s.mark))) {
            *code = e;
            return option_error("setsockopt(SOL_SOCKET, SO_MARK)", e);
        }
    }
    if (s.bind == UpstreamSocket::Bind::Own) {
        SocketAddress from = s.from;
        from.set_port(0);
        set_int_option(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        if (::bind(fd, from.sa(), from.length) == -1) {
            *code = errno;
            return "bind: " + errno_text(errno);
        }
    }
    return {};
}

}  // namespace

UpstreamResult open_upstream(const SocketAddress& to, const UpstreamSocket& s) {
    UpstreamResult r;
    auto fail = [&](std::string what, int code) {
        r.fd.reset();
        r.error = std::move(what);
        r.error_code = code;
        return std::move(r);
    };
    const int family = to.family();
    r.fd.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!r.fd) {
        r.out_of_sockets = true;
        return fail("socket: " + errno_text(errno), errno);
    }
    const int fd = r.fd.get();
    int code = 0;
    const bool foreign = s.bind == UpstreamSocket::Bind::Transparent || s.bind == UpstreamSocket::Bind::Freebind;
    std::string error = foreign ? bind_foreign(fd, family, s, &code) : bind_own(fd, s, &code);
    if (!error.empty()) return fail(std::move(error), code);
    if (!s.device.empty() && ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, s.device.data(),
                                          static_cast<socklen_t>(s.device.size())) == -1)
        return fail(option_error("setsockopt(SOL_SOCKET, SO_BINDTODEVICE)", errno), errno);
    set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, SOL_SOCKET, SO_OOBINLINE, 1);  // urgent data stays in the stream, see SplicePump
    if (s.keepalive_seconds > 0) {
        set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, s.keepalive_seconds);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, s.keepalive_seconds);
    }
    // TCP Fast Open: connect() returns at once and the first write sends SYN + data when the kernel has a
    // cookie for the server (net.ipv4.tcp_fastopen client bit, on by default); without one the kernel falls
    // back to a plain handshake by itself. Kernels without the option just connect normally.
    if (s.tfo) set_int_option(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
    if (::connect(fd, to.sa(), to.length) == 0) {
        r.connected = true;
        return r;
    }
    if (errno != EINPROGRESS) return fail("connect: " + errno_text(errno), errno);
    return r;
}

}  // namespace ferry
