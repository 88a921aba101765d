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

// Checks a stats address: "" is none (*out reset), "PORT" is 127.0.0.1:PORT, otherwise a literal IP:PORT or
// [IPv6]:PORT with a port of 1..65535. Returns the reason it is not one ("not an IP:PORT address or a port
// (...)"); the caller names the flag or key.
std::optional<std::string> parse_stats_address(std::string_view text, std::optional<SocketAddress>* out);

}  // namespace ferry
