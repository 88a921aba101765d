#include "core/resolve.h"

#include <netdb.h>

namespace ferry {

std::optional<SocketAddress> resolve_first(const std::string& host, uint16_t port, int family, bool passive,
                                           std::string* error) {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    addrinfo* res = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
        *error = "lookup " + host + ": " + ::gai_strerror(rc);
        return std::nullopt;
    }
    std::optional<SocketAddress> out;
    for (addrinfo* p = res; p && !out; p = p->ai_next) {
        SocketAddress a = SocketAddress::from_sockaddr(p->ai_addr, p->ai_addrlen).unmapped();
        if (!a.empty() && (family == AF_UNSPEC || a.family() == family)) out = a;
    }
    ::freeaddrinfo(res);
    if (!out) {
        *error = "lookup " + host + ": no " +
                 std::string(family == AF_INET ? "IPv4 " : family == AF_INET6 ? "IPv6 " : "") + "address";
    }
    return out;
}

}  // namespace ferry
