#include "modes/stats_flag.h"

#include <algorithm>
#include <charconv>

namespace ferry {

void define_stats_flag(goflag::FlagSet& fs, std::string* value) {
    fs.string_var(value, "stats-bind", *value,
                  "Serve the status page (/), JSON (/status) and OpenMetrics (/metrics) on this IP:PORT (a bare "
                  "port means 127.0.0.1); empty: none");
}

std::optional<std::string> parse_stats_address(std::string_view text, std::optional<SocketAddress>* out) {
    out->reset();
    if (text.empty()) return std::nullopt;
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
    *out = a;
    return std::nullopt;
}

}  // namespace ferry
