// The overload-protection flags of the Go-style command lines (mmproxy, tproxy): their definitions, one usage
// text, and their checks into the engine's OverloadConfig (engine/admission.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/admission.h"
#include "support/goflag.h"

namespace ferry {

struct OverloadFlags {
    int64_t max_connections = 0;             // -max-connections (0: from the open-file limit)
    int64_t max_connections_per_source = 0;  // -max-connections-per-source (0: none)
    int64_t max_handshakes_per_source = 0;   // -max-handshakes-per-source (0: none)
};

void define_overload_flags(goflag::FlagSet& fs, OverloadFlags* flags);

// The checked configuration, or the message naming the first bad flag ("-max-connections has to be >= 0").
std::optional<std::string> overload_config(const OverloadFlags& flags, OverloadConfig* out);

}  // namespace ferry
