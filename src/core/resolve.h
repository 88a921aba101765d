// Host names in addresses given at start (srcproxy's endpoints, go-mmproxy 2.3's -l / -4 / -6), resolved once
// with getaddrinfo(3): the resolver's first address, optionally of one family. Blocking: start-up only.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "core/net_address.h"

namespace ferry {

// The first address `host` resolves to (of `family` when it is AF_INET or AF_INET6, any with AF_UNSPEC), with
// `port`; `passive` for an address to listen on. nullopt with *error "lookup HOST: REASON" otherwise
// ("lookup db.internal: Name or service not known", "lookup v4only.example: no IPv6 address").
std::optional<SocketAddress> resolve_first(const std::string& host, uint16_t port, int family, bool passive,
                                           std::string* error);

}  // namespace ferry
