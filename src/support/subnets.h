// The allowed-subnets list of the mmproxy mode: which frontend peers (the proxies that send PROXY headers)
// may connect. Parsing follows Go's net.ParseCIDR, matching follows Go's IPNet.Contains, so a file accepted by
// go-mmproxy 2.1 means the same thing here. Startup-only parsing; contains() is cheap and allocation-free.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"

namespace ferry::subnets {

// An address prefix: the network address (host bits already cleared) and its length in bits.
struct IpPrefix {
    int family = AF_UNSPEC;              // AF_INET or AF_INET6
    std::array<uint8_t, 16> address{};   // network address; IPv4 uses the first 4 bytes, the rest stay 0
    int length = 0;                      // 0..32 for AF_INET, 0..128 for AF_INET6

    // True when addr (taken as it is: no unmapping here) has this family and its leading `length` bits
    // equal the network's. The port is ignored.
    bool contains(const SocketAddress& addr) const;
    // Go's IPNet.String(): "10.0.0.0/8", "2001:db8::/32" (IPv6 in Go's shortest form).
    std::string to_string() const;

    bool operator==(const IpPrefix&) const = default;
};

// Parses "a.b.c.d/n" (n <= 32) or "ipv6/n" (n <= 128) exactly as Go's net.ParseCIDR accepts it: no spaces,
// no zone, no leading zeros in IPv4 octets (including an IPv4 tail of an IPv6 address), decimal n (leading
// zeros allowed, no sign). Host bits are allowed and cleared. As in Go, an IPv6 prefix of length >= 96 whose
// network is IPv4-mapped (::ffff:a.b.c.d/96+k) is the IPv4 prefix a.b.c.d/k. Returns nullopt when invalid.
std::optional<IpPrefix> parse_cidr(std::string_view text);
// A CIDR prefix as parse_cidr takes it, or a bare IP address as the prefix of that one address.
std::optional<IpPrefix> parse_prefix(std::string_view text);

class SubnetList {
public:
    SubnetList() = default;
    explicit SubnetList(std::vector<IpPrefix> prefixes) : prefixes_(std::move(prefixes)) {}

    // The allow-list decision for a frontend peer: true when the list is empty (an empty list allows every
    // peer, as in go-mmproxy) or when a prefix contains the peer. IPv4-mapped IPv6 peers (::ffff:a.b.c.d) are
    // matched as IPv4; IPv4 prefixes never match IPv6 peers and IPv6 prefixes never match IPv4 peers.
    bool contains(const SocketAddress& peer) const;

    bool empty() const { return prefixes_.empty(); }
    const std::vector<IpPrefix>& prefixes() const { return prefixes_; }

private:
    std::vector<IpPrefix> prefixes_;
};

// Either a list or an error message.
struct LoadResult {
    std::optional<SubnetList> list;  // set on success
    std::string error;               // set on failure, e.g. `subnets.txt:3: invalid CIDR address: "10.0.0.0/33"`
    bool ok() const { return list.has_value(); }
};

// Parses the text of an allowed-subnets file. Per line: a trailing "\r" is dropped, everything from the
// first '#' on is a comment, surrounding spaces and tabs are trimmed, and what is left, if anything, must
// be a CIDR for parse_cidr. (go-mmproxy 2.1 has no comments and rejects blank lines; ferry allows both.)
// file_name only labels errors: "<file_name>:<line>: invalid CIDR address: <Go-quoted text>".
LoadResult parse_list(std::string_view text, std::string_view file_name);

// Reads the file at path and parses it with parse_list(). Errors are worded like Go's os errors:
// "open <path>: no such file or directory", "read <path>: is a directory".
LoadResult load_file(const std::string& path);

}  // namespace ferry::subnets
