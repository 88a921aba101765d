#include "modes/stats_flag.h"

#include <algorithm>
#include <charconv>

namespace ferry {
namespace {

// sun_path's 108 bytes, less the NUL.
constexpr size_t kMaxUnixPath = 107;

}  // namespace

void define_stats_flag(goflag::FlagSet& fs, std::string* value) {
    fs.string_var(value, "stats-bind", *value,
                  "Serve the status page (/), JSON (/status) and OpenMetrics (/metrics) on this IP:PORT (a bare "
                  "port means 127.0.0.1, a path starting with / a Unix socket); empty: none");
}

std::optional<std::string> parse_stats_address(std::string_view text, std::optional<StatsAddress>* out) {
    out->reset();
    if (text.empty()) return std::nullopt;
    if (text.front() == '/') {
        if (text.size() > kMaxUnixPath) return std::string("a Unix socket path longer than 107 bytes");
        *out = StatsAddress{{}, std::string(text)};
        return std::nullopt;
    }
    SocketAddress a;
    if (std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        unsigned port = 0;
        auto r = std::from_chars(text.data(), text.data() + text.size(), port);
        if (r.ec != std::errc{} || r.ptr != text.data() + text.size() || port > 65535)
            return std::string("not a port number (1..65535)");
        auto loopback = parse_host_port("127.0.0.1:" + std::string(text));
        if (!loopback) return std::string("not a port number (1..65535)");
        a = *loopback;
    } else {
        std::string why;
        auto parsed = parse_host_port(text, &why);
        if (!parsed) return "not an IP:PORT address or a port (" + why + ")";
        if (text.front() == ':') return std::string("not an IP:PORT address or a port (no IP)");
        a = *parsed;
    }
    if (a.port() == 0) return std::string("the port has to be between 1 and 65535");
    *out = StatsAddress{a, {}};
    return std::nullopt;
}

}  // namespace ferry
