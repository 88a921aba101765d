// Names of things on the network as configurations give them: host names (resolved by getaddrinfo or by an
// upstream proxy) and Linux interface names (SO_BINDTODEVICE). Pure checks, no lookups.
#pragma once

#include <cstddef>
#include <string_view>

namespace ferry {

// Linux network interface names are at most IFNAMSIZ - 1 bytes.
inline constexpr size_t kMaxInterfaceName = 15;
// RFC 1035's bound on a name in text form without the root's dot.
inline constexpr size_t kMaxHostName = 253;

// Linux's dev_valid_name(): 1..15 bytes, not "." or "..", no '/', ':' or blank.
bool is_interface_name(std::string_view name);

// A host name as resolvers and proxies take it: dot-separated labels of 1..63 letters, digits, '-' and '_'
// (SRV-style and some internal names have '_'), at most 253 bytes, optionally with a final dot. The last label
// must not be all digits, so a mistyped IPv4 literal ("300.1.1.1", "10.0.0") is not taken for a name.
bool is_host_name(std::string_view name);

}  // namespace ferry
