#include "core/net_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace ferry {

SocketAddress SocketAddress::from_v4(const uint8_t addr[4], uint16_t port) {
    SocketAddress a;
    auto* sin = &a.storage.in4;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, addr, 4);
    a.length = sizeof(sockaddr_in);
    return a;
}

SocketAddress SocketAddress::from_v6(const uint8_t addr[16], uint16_t port) {
    SocketAddress a;
    auto* sin6 = &a.storage.in6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::memcpy(&sin6->sin6_addr, addr, 16);
    a.length = sizeof(sockaddr_in6);
    return a;
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
    SocketAddress a;
    if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        std::memcpy(&a.storage.in4, sa, sizeof(sockaddr_in));
        a.length = sizeof(sockaddr_in);
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        std::memcpy(&a.storage.in6, sa, sizeof(sockaddr_in6));
        a.length = sizeof(sockaddr_in6);
    }
    return a;
}

uint16_t SocketAddress::port() const {
    if (is_v4()) return ntohs(storage.in4.sin_port);
    if (is_v6()) return ntohs(storage.in6.sin6_port);
    return 0;
}

void SocketAddress::set_port(uint16_t port) {
    if (is_v4()) storage.in4.sin_port = htons(port);
    if (is_v6()) storage.in6.sin6_port = htons(port);
}

bool SocketAddress::is_unspecified() const {
    if (is_v4()) return storage.in4.sin_addr.s_addr == INADDR_ANY;
    if (is_v6()) return IN6_IS_ADDR_UNSPECIFIED(&storage.in6.sin6_addr);
    return false;
}

bool SocketAddress::is_loopback() const {
    const SocketAddress u = unmapped();
    if (u.is_v4()) return (ntohl(u.storage.in4.sin_addr.s_addr) >> 24) == 127;
    if (u.is_v6()) return IN6_IS_ADDR_LOOPBACK(&u.storage.in6.sin6_addr);
    return false;
}

SocketAddress SocketAddress::unmapped() const {
    if (!is_v6()) return *this;
    const auto* sin6 = &storage.in6;
    if (!IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) return *this;
    return from_v4(sin6->sin6_addr.s6_addr + 12, ntohs(sin6->sin6_port));
}

std::string SocketAddress::ip_string() const {
    char buf[INET6_ADDRSTRLEN] = "";
    if (is_v4())
        inet_ntop(AF_INET, &storage.in4.sin_addr, buf, sizeof buf);
    else if (is_v6())
        inet_ntop(AF_INET6, &storage.in6.sin6_addr, buf, sizeof buf);
    return buf;
}

std::string SocketAddress::to_string() const {
    if (is_v4()) return ip_string() + ":" + std::to_string(port());
    if (is_v6()) return "[" + ip_string() + "]:" + std::to_string(port());
    return "";
}

bool SocketAddress::operator==(const SocketAddress& other) const {
    if (family() != other.family() || port() != other.port()) return false;
    if (is_v4())
        return storage.in4.sin_addr.s_addr ==
               other.storage.in4.sin_addr.s_addr;
    if (is_v6())
        return std::memcmp(&storage.in6.sin6_addr,
                           &other.storage.in6.sin6_addr, 16) == 0;
    return length == other.length;
}

std::optional<SocketAddress> parse_host_port(std::string_view text, std::string* error) {
    auto fail = [&](const char* why) -> std::optional<SocketAddress> {
        if (error) *error = why;
        return std::nullopt;
    };
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return fail("missing ']' in address");
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing port in address");
        port = text.substr(close + 2);
        if (host.find(':') == std::string_view::npos) return fail("brackets around a non-IPv6 address");
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return fail("missing port in address");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return fail("too many colons in address");
    }
    if (port.empty() || port.size() > 5) return fail("invalid port");
    unsigned long p = 0;
    for (char c : port) {
        if (c < '0' || c > '9') return fail("invalid port");
        p = p * 10 + static_cast<unsigned long>(c - '0');
    }
    if (p > 65535) return fail("invalid port");
    std::string h(host);
    uint8_t buf[16];
    if (h.empty()) {
        uint8_t any[4] = {0, 0, 0, 0};
        return SocketAddress::from_v4(any, static_cast<uint16_t>(p));
    }
    if (inet_pton(AF_INET, h.c_str(), buf) == 1) return SocketAddress::from_v4(buf, static_cast<uint16_t>(p));
    if (inet_pton(AF_INET6, h.c_str(), buf) == 1) return SocketAddress::from_v6(buf, static_cast<uint16_t>(p));
    return fail("not an IP address");
}

}  // namespace ferry
