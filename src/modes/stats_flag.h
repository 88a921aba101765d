// The stats listener's address in the modes without ranked proxies (mmproxy and tproxy's -stats-bind,
// srcproxy's stats_bind): the flag's definition and the address check. The service is modes/stats_service.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/net_address.h"
#include "support/goflag.h"

namespace ferry {

// -stats-bind ADDR (Go flag style, default "": none).
void define_stats_flag(goflag::FlagSet& fs, std::string* value);

// Where the status service listens: an IP:PORT, or a Unix socket at `path` (non-empty) as moproxy's --stats-bind
// has it for a value starting with '/' (engine/service.h ExtraListener::unix_path).
struct StatsAddress {
    SocketAddress address;
    std::string path;
    std::string to_string() const { return path.empty() ? address.to_string() : path; }
    // The same TCP address (a path is never a listener's address).
    bool operator==(const SocketAddress& other) const { return path.empty() && address == other; }
};

// Checks a stats address: "" is none (*out reset), "PORT" is 127.0.0.1:PORT, "/PATH" a Unix socket (at most 107
// bytes), otherwise a literal IP:PORT or [IPv6]:PORT with a port of 1..65535. Returns the reason it is not one
// ("not an IP:PORT address or a port (...)"); the caller names the flag or key.
std::optional<std::string> parse_stats_address(std::string_view text, std::optional<StatsAddress>* out);

}  // namespace ferry
