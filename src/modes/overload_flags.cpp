#include "modes/overload_flags.h"

namespace ferry {

namespace {

constexpr int64_t kMaxPerSource = UINT32_MAX;
// More connections than any fd limit allows is a typo.
constexpr int64_t kMaxConnections = int64_t{1} << 32;

}  // namespace

void define_overload_flags(goflag::FlagSet& fs, OverloadFlags* f) {
    fs.int_var(&f->max_connections, "max-connections", f->max_connections,
               "Connections at once, beyond which the oldest still in their handshake are closed to make room; "
               "0 means as many as the open-file limit allows, with a reserve");
    fs.int_var(&f->max_connections_per_source, "max-connections-per-source", f->max_connections_per_source,
               "Connections at once from one source address (IPv6: one /64); 0 means no limit");
    fs.int_var(&f->max_handshakes_per_source, "max-handshakes-per-source", f->max_handshakes_per_source,
               "Connections from one source address (IPv6: one /64) still in their handshake; 0 means no limit");
}

std::optional<std::string> overload_config(const OverloadFlags& f, OverloadConfig* out) {
    if (f.max_connections < 0 || f.max_connections > kMaxConnections)
        return "-max-connections has to be between 0 and " + std::to_string(kMaxConnections);
    if (f.max_connections_per_source < 0 || f.max_connections_per_source > kMaxPerSource)
        return "-max-connections-per-source has to be between 0 and " + std::to_string(kMaxPerSource);
    if (f.max_handshakes_per_source < 0 || f.max_handshakes_per_source > kMaxPerSource)
        return "-max-handshakes-per-source has to be between 0 and " + std::to_string(kMaxPerSource);
    out->max_connections = static_cast<uint64_t>(f.max_connections);
    out->max_connections_per_source = static_cast<uint32_t>(f.max_connections_per_source);
    out->max_handshakes_per_source = static_cast<uint32_t>(f.max_handshakes_per_source);
    return std::nullopt;
}

}  // namespace ferry
