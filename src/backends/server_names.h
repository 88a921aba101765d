// Host names in the servers' `address` (moproxy's server list, `ferry run`'s [server NAME] sections), resolved
// with getaddrinfo when the list is loaded: at start, by `check`, and on every SIGHUP reload. Never on an event
// loop: the callers are the main thread's start-up and its SIGHUP handler.
//
// As moproxy 0.5.1 does (Rust's ToSocketAddrs: getaddrinfo with SOCK_STREAM and any family), a name gets the
// first address of the answer, in the system's order (RFC 6724, /etc/gai.conf), and keeps it until the next
// reload; the other addresses are not used. The status page shows that address, as moproxy's does, and the
// name beside it (`host` in /status).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/server_list.h"

namespace ferry::backends {

// How long a lookup may take at start and in `check` (nothing watches the process yet): glibc's resolver tries
// each name server for 5 s, twice.
inline constexpr unsigned kStartResolveTimeoutMs = 10000;
// On SIGHUP, the main thread also feeds systemd's watchdog (half of WatchdogSec, 5 s in the shipped units):
// a reload that waited longer for a resolver could get the service killed. A slower name fails the reload,
// and the running list stays.
inline constexpr unsigned kReloadResolveTimeoutMs = 2000;

// Gives every server with an address_host its IP (address, keeping its port). The names are looked up on a
// helper thread, all of them within timeout_ms together (one lookup per distinct name); past it, the names
// still unanswered fail and the thread is left to finish on its own. Returns nullopt when every name
// resolved, or the first failure in list order, naming the file, the line of the `address` key, the server and
// the name, e.g. `servers.ini:7: server "a": address "proxy.test:1080": proxy.test does not resolve (Name or
// service not known)`, `... proxy.test did not resolve within 2000 ms`. On failure the servers are left unchanged.
std::optional<std::string> resolve_server_names(std::vector<ServerConfig>& servers, std::string_view file_name,
                                                unsigned timeout_ms);

}  // namespace ferry::backends
