// Socket addresses as plain values: parse "host:port" the way Go's net package writes them, print them the
// same way ("192.0.2.1:80", "[2001:db8::1]:80"), and unmap IPv4-mapped IPv6 peers.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ferry {

// An IPv4 or IPv6 socket address in 32 bytes (not a 128-byte sockaddr_storage: a connection keeps several).
struct SocketAddress {
    union Storage {
        sockaddr sa;
        sockaddr_in in4;
        sockaddr_in6 in6;
    } storage{};
    socklen_t length = 0;

    static SocketAddress from_v4(const uint8_t addr[4], uint16_t port);
    static SocketAddress from_v6(const uint8_t addr[16], uint16_t port);
    // Copies an AF_INET or AF_INET6 address; anything else gives an empty address.
    static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);

    int family() const { return length ? storage.sa.sa_family : AF_UNSPEC; }
    bool is_v4() const { return family() == AF_INET; }
    bool is_v6() const { return family() == AF_INET6; }
    bool empty() const { return length == 0; }
    uint16_t port() const;
    void set_port(uint16_t port);
    // True for 0.0.0.0 and ::.
    bool is_unspecified() const;
    // True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104 (Go's IP.IsLoopback).
    bool is_loopback() const;

    const sockaddr* sa() const { return &storage.sa; }
    sockaddr* sa() { return &storage.sa; }

    // ::ffff:a.b.c.d:p becomes a.b.c.d:p; anything else is returned unchanged.
    SocketAddress unmapped() const;

    // "192.0.2.1:80" or "[2001:db8::1]:80"; "" when empty.
    std::string to_string() const;
    // Just the address part: "192.0.2.1" or "2001:db8::1".
    std::string ip_string() const;

    bool operator==(const SocketAddress& other) const;
};

// Parses a literal "ip:port", "[ipv6]:port" or ":port" (the empty host means the IPv4 wildcard, as for Go's
// "tcp" listeners the caller may widen it to dual-stack). Ports are decimal 0..65535. Returns nullopt and sets
// *error to a short reason on failure. Host names are not resolved here.
std::optional<SocketAddress> parse_host_port(std::string_view text, std::string* error = nullptr);

}  // namespace ferry
