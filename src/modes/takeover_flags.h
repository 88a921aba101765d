// The zero-downtime restart flags of the Go-style command lines (mmproxy, tproxy): -takeover-socket and
// -drain-timeout, with their checks into the engine's TakeoverConfig (engine/service.h, engine/takeover.h).
#pragma once

#include <optional>
#include <string>

#include "engine/service.h"
#include "support/goflag.h"

namespace ferry {

// A successor's predecessor closes what is left of its connections after this long.
inline constexpr uint64_t kDefaultDrainTimeoutMs = 30000;
// Longer than a day is a typo.
inline constexpr uint64_t kMaxDrainTimeoutMs = 86400000;

struct TakeoverFlags {
    std::string socket;                                                          // -takeover-socket ("": none)
    goflag::Duration drain_timeout = std::chrono::milliseconds(kDefaultDrainTimeoutMs);  // -drain-timeout
};

void define_takeover_flags(goflag::FlagSet& fs, TakeoverFlags* flags);

// The checked configuration, or the message naming the bad flag ("-drain-timeout has to be ...").
std::optional<std::string> takeover_config(const TakeoverFlags& flags, TakeoverConfig* out);

// The checks every front end shares: a path that fits a Unix socket address ("@name" is abstract), a drain
// deadline of at most a day. Returns the reason, without the key's name.
std::optional<std::string> check_takeover_path(const std::string& path);
std::optional<std::string> check_drain_timeout_ms(uint64_t ms);

}  // namespace ferry
