#include "outbound/route.h"

#include "support/ini.h"

namespace ferry {

bool DestinationRule::contains(const SocketAddress& a) const { return prefix.contains(a) && ports.contains(a.port()); }

std::optional<DestinationRule> parse_destination_rule(std::string_view item, std::string* why) {
    std::string_view prefix = item, ports;
    if (!item.empty() && item.front() == '[') {
        size_t close = item.find(']');
        if (close == std::string_view::npos) {
            *why = "missing ']'";
            return std::nullopt;
        }
        prefix = item.substr(1, close - 1);
        std::string_view rest = item.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() == 1) {
                *why = "expected \":PORT\" after ']'";
                return std::nullopt;
            }
            ports = rest.substr(1);
        }
    } else if (size_t colon = item.find(':');
               colon != std::string_view::npos && item.find(':', colon + 1) == std::string_view::npos) {
        prefix = item.substr(0, colon);  // one colon: IPv4 and ports (IPv6 has at least two)
        ports = item.substr(colon + 1);
        if (ports.empty()) {
            *why = "missing port after ':'";
            return std::nullopt;
        }
    }
    DestinationRule rule;
    auto p = subnets::parse_prefix(prefix);
    if (!p) {
        *why = ini::quoted(prefix) + " is not a CIDR prefix or an IP address";
        return std::nullopt;
    }
    rule.prefix = *p;
    if (!ports.empty()) {
        auto range = srcproxy::parse_port_range(ports);
        if (!range) {
            *why = ini::quoted(ports) + " is not a port or a port range (\"8000-8999\")";
            return std::nullopt;
        }
        rule.ports = *range;
    }
    return rule;
}

}  // namespace ferry
