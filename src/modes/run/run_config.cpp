#include "modes/run/run_config.h"

#include "support/file_util.h"
#include "support/goflag.h"
#include "support/ini.h"
#include "support/net_names.h"
#include "modes/takeover_flags.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <span>
#include <utility>

namespace ferry::run {

namespace {

using ini::quoted;

// Threads beyond this are a typo, not a machine.
constexpr uint64_t kMaxThreads = 1024;
// Racing more proxies than this for one connection only burns sockets (moproxy's --n-parallel is the same idea).
constexpr uint64_t kMaxRace = 8;
// The inbound handshake's deadline when `header-timeout` is not given: a PROXY or srcproxy header, or a TPROXY
// connection's first bytes, come at once; a SOCKS5 client (socks5, or redirect's SOCKS5 fallback) waits for
// the server's reply between its messages, so it gets longer.
constexpr uint64_t kHeaderTimeoutMs = 5000;
constexpr uint64_t kSocksHeaderTimeoutMs = 10000;
// moproxy's default --test-dns.
constexpr std::string_view kDefaultTestDns = "8.8.8.8:53";

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// A decimal number without sign, or nullopt (also above `max`).
std::optional<uint64_t> parse_decimal(std::string_view text, uint64_t max) {
    if (text.empty()) return std::nullopt;
    uint64_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
        if (v > max) return std::nullopt;
    }
    return v;
}

// A decimal or "0x" hexadecimal number of 32 bits.
std::optional<uint32_t> parse_mark(std::string_view text) {
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
        if (text.size() > 8) return std::nullopt;
        uint32_t v = 0;
        for (char c : text) {
            int digit = c >= '0' && c <= '9' ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
            if (digit < 0) return std::nullopt;
            v = v * 16 + static_cast<uint32_t>(digit);
        }
        return v;
    }
    auto v = parse_decimal(text, std::numeric_limits<uint32_t>::max());
    if (!v) return std::nullopt;
    return static_cast<uint32_t>(*v);
}

// A duration in Go's syntax ("5s", "1m30s", "250ms") or a plain number of seconds ("10", "2.5"), in
// milliseconds rounded up. nullopt for bad syntax and negative durations.
std::optional<uint64_t> parse_duration_ms(std::string_view text) {
    bool plain = !text.empty();
    for (char c : text) plain = plain && ((c >= '0' && c <= '9') || c == '.');
    std::optional<goflag::Duration> d = goflag::parse_duration(plain ? std::string(text) + "s" : std::string(text));
    if (!d || d->count() < 0) return std::nullopt;
    return goflag::ceil_ms(*d);
}

// A listening address: "ip:port", "[ip6]:port" or ":port", the port 1..65535.
std::optional<SocketAddress> parse_listen_address(std::string_view text, std::string* why) {
    std::optional<SocketAddress> a = parse_host_port(text, why);
    if (a && a->port() == 0) {
        *why = "the port has to be between 1 and 65535";
        return std::nullopt;
    }
    return a;
}

// Section names show up in logs and messages: printable ASCII without blanks.
bool is_section_name(std::string_view name) {
    if (name.empty()) return false;
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F) return false;
    }
    return true;
}

enum class Kind { Ferry, Listener, Server, Acl };

constexpr std::string_view kListenerKeys[] = {
    "listen", "inbound", "target", "via", "srcproxy-auth", "source", "send-proxy", "mark", "interface", "bind",
    "relay", "tfo", "race", "allow-direct", "remote-dns", "policy", "allowed-subnets", "socks-clients",
    "allowed-destinations", "acl", "header-timeout", "connect-timeout", "idle-timeout", "halfclose-timeout",
};
constexpr std::string_view kAclKeys[] = {"auth", "sources", "destinations", "ports"};
constexpr std::string_view kFerryKeys[] = {"threads",         "log-level",
                                           "probe",           "test-dns",
                                           "max-wait",        "status",
                                           "max-connections", "max-connections-per-source",
                                           "max-handshakes-per-source", "takeover-socket",
                                           "drain-timeout",   "user"};
// More connections than any fd limit allows is a typo.
constexpr uint64_t kMaxConnections = uint64_t{1} << 32;

// The known key that `name` misspells with '_' or ' ' for '-' or in capitals, or "".
std::string_view spelled_like(std::string_view name, std::span<const std::string_view> keys) {
    std::string normal = lowercase(name);
    for (char& c : normal)
        if (c == '_' || c == ' ') c = '-';
    for (std::string_view k : keys)
        if (k == normal) return k;
    return {};
}

// One section of the file, as pass 1 understood it.
struct Placed {
    Kind kind = Kind::Ferry;
    const ini::Section* section = nullptr;
    std::string name;   // "web" for [listener web]; "" for [ferry]
    std::string label;  // between the brackets in messages: "listener web", "ferry"
    size_t index = 0;   // in the RunConfig vector of its kind
};

class Parser {
public:
    Parser(std::string_view file_name, const std::vector<ini::Section>& sections)
        : file_name_(file_name), sections_(sections) {
        config_.globals.test_dns = *parse_host_port(kDefaultTestDns);
    }

    // Every section header and every key, in file order. False after the first error.
    bool read_sections() {
        for (const ini::Section& s : sections_)
            if (!read_section(s)) return false;
        return true;
    }

    // The checks that need a whole section, and the other sections, in file order; then the file-wide ones.
    bool check() {
        for (const Placed& p : placed_) {
            bool ok = true;
            switch (p.kind) {
                case Kind::Ferry:
                    break;
                case Kind::Listener:
                    ok = check_listener(p, config_.listeners[p.index]);
                    break;
                case Kind::Server:
                    if (auto why = backends::check_server_section(config_.servers[p.index], p.section->keys, p.label,
                                                                  file_name_))
                        ok = fail(*why);
                    break;
                case Kind::Acl:
                    if (!p.section->find("auth")) ok = fail_section(p, "missing key \"auth\"");
                    break;
            }
            if (!ok) return false;
        }
        if (auto many = backends::check_server_count(config_.servers))
            return fail(std::string(file_name_) + ": " + *many);
        if (auto dup = backends::find_duplicate_tag(config_.servers, file_name_)) return fail(*dup);
        if (!check_acl_auths()) return false;
        if (!check_status_address()) return false;
        if (config_.listeners.empty()) return fail(std::string(file_name_) + ": no [listener NAME] section");
        return true;
    }

    std::string error() const { return error_; }
    RunConfig take() { return std::move(config_); }

private:
    bool fail(std::string message) {
        error_ = std::move(message);
        return false;
    }
    bool fail_at(int line, std::string_view message) { return fail(ini::located(file_name_, line, message)); }
    bool fail_section(const Placed& p, std::string_view message) {
        return fail_at(p.section->line, "section [" + p.label + "]: " + std::string(message));
    }
    // `key "K": "VALUE" why`, on the key's line.
    bool bad(const ini::Key& k, std::string_view why) { return bad_item(k, k.value, why); }
    // `key "K": "ITEM" why`, on the key's line: an item of a list, or a value shown as it was understood.
    bool bad_item(const ini::Key& k, std::string_view item, std::string_view why) {
        return fail_at(k.line, "key " + quoted(k.name) + ": " + quoted(item) + " " + std::string(why));
    }

    const Placed* find_placed(Kind kind, std::string_view name) const {
        for (const Placed& p : placed_)
            if (p.kind == kind && p.name == name) return &p;
        return nullptr;
    }

    bool read_section(const ini::Section& s) {
        std::string_view header = s.name;
        size_t blank = header.find_first_of(" \t");
        std::string_view word = header.substr(0, blank);
        std::string_view name;
        if (blank != std::string_view::npos) {
            name = header.substr(blank);
            name.remove_prefix(std::min(name.find_first_not_of(" \t"), name.size()));
        }
        Placed p;
        p.section = &s;
        if (word == "ferry") {
            p.kind = Kind::Ferry;
            p.label = "ferry";
            if (!name.empty()) return fail_at(s.line, "section [" + s.name + "]: [ferry] takes no name");
            if (config_.globals.line != 0)
                return fail_at(s.line, "section [ferry] given twice (first on line " +
                                           std::to_string(config_.globals.line) + ")");
            config_.globals.line = s.line;
            placed_.push_back(p);
            return read_ferry(s);
        }
        if (word == "listener") {
            p.kind = Kind::Listener;
        } else if (word == "server") {
            p.kind = Kind::Server;
        } else if (word == "acl") {
            p.kind = Kind::Acl;
        } else {
            return fail_at(s.line, "section [" + s.name +
                                       "]: unknown section (expected [ferry], [listener NAME], [server NAME] or "
                                       "[acl NAME])");
        }
        if (name.empty())
            return fail_at(s.line, "section [" + s.name + "]: missing its name ([" + std::string(word) + " NAME])");
        if (!is_section_name(name))
            return fail_at(s.line, "section [" + s.name + "]: a name is printable ASCII without blanks");
        if (const Placed* first = find_placed(p.kind, name))
            return fail_at(s.line, "section [" + first->label + "] given twice (first on line " +
                                       std::to_string(first->section->line) + ")");
        p.name = std::string(name);
        p.label = std::string(word) + " " + p.name;
        switch (p.kind) {
            case Kind::Listener: {
                p.index = config_.listeners.size();
                placed_.push_back(p);
                ListenerSection& l = config_.listeners.emplace_back();
                l.name = std::string(name);
                l.line = s.line;
                for (const ini::Key& k : s.keys)
                    if (!listener_key(p, l, k)) return false;
                return true;
            }
            case Kind::Server: {
                p.index = config_.servers.size();
                placed_.push_back(p);
                backends::ServerConfig& c = config_.servers.emplace_back();
                c.tag = std::string(name);
                c.line = s.line;
                for (const ini::Key& k : s.keys) {
                    if (auto why = backends::apply_server_key(c, k.name, k.value, p.label))
                        return fail_at(k.line, *why);
                    if (k.name == "address") c.address_line = k.line;
                }
                return true;
            }
            case Kind::Acl: {
                p.index = config_.acls.size();
                placed_.push_back(p);
                AclSection& a = config_.acls.emplace_back();
                a.name = std::string(name);
                a.entry.line = s.line;
                for (const ini::Key& k : s.keys)
                    if (!acl_key(p, a, k)) return false;
                return true;
            }
            case Kind::Ferry:
                break;
        }
        return true;
    }

    bool unknown_key(std::string_view label, const ini::Key& k, std::span<const std::string_view> keys) {
        std::string message = "unknown key " + quoted(k.name) + " in section [" + std::string(label) + "]";
        if (std::string_view like = spelled_like(k.name, keys); !like.empty())
            message += " (did you mean " + quoted(like) + "?)";
        return fail_at(k.line, message);
    }

    bool bool_value(const ini::Key& k, bool& out) {
        std::optional<bool> b = ini::parse_bool(k.value);
        if (!b) return bad(k, "is not a boolean (" + std::string(ini::kBoolWords) + ")");
        out = *b;
        return true;
    }

    // A duration; `required` ones (a handshake's deadline) cannot be 0.
    bool duration_value(const ini::Key& k, bool required, uint64_t& out_ms) {
        std::optional<uint64_t> ms = parse_duration_ms(k.value);
        if (!ms) return bad(k, "is not a duration (\"5s\", \"1m30s\", \"250ms\" or a number of seconds)");
        if (required && *ms == 0) return bad(k, "is not more than 0 (every handshake needs a deadline)");
        out_ms = *ms;
        return true;
    }

    // The items of a list (none for an empty value); an empty item is an error.
    bool list_value(const ini::Key& k, std::vector<std::string_view>& items) {
        items = ini::split_list(k.value);
        for (std::string_view item : items)
            if (item.empty()) return bad(k, "has an empty item");
        return true;
    }

    bool prefixes_value(const ini::Key& k, std::vector<subnets::IpPrefix>& out) {
        std::vector<std::string_view> items;
        if (!list_value(k, items)) return false;
        out.clear();
        for (std::string_view item : items) {
            auto prefix = subnets::parse_prefix(item);
            if (!prefix) return bad_item(k, item, "is not a CIDR prefix or an IP address");
            out.push_back(*prefix);
        }
        return true;
    }

    bool listener_key(const Placed& p, ListenerSection& l, const ini::Key& k) {
        const std::string_view name = k.name;
        l.key_lines.emplace_back(k.name, k.line);
        const std::string word = lowercase(k.value);
        std::string why;
        if (name == "listen") {
            std::vector<std::string_view> items;
            if (!list_value(k, items)) return false;
            if (items.empty()) return bad(k, "has no address");
            for (std::string_view item : items) {
                auto a = parse_listen_address(item, &why);
                if (!a) return bad_item(k, item, "is not an IP:port address (" + why + ")");
                for (const SocketAddress& earlier : l.listen)
                    if (earlier == *a) return bad_item(k, a->to_string(), "is given twice");
                l.listen.push_back(*a);
            }
        } else if (name == "inbound") {
            static constexpr std::pair<std::string_view, InboundKind> kWords[] = {
                {"proxy-protocol", InboundKind::ProxyProtocol}, {"redirect", InboundKind::Redirect},
                {"tproxy", InboundKind::Tproxy},                {"srcproxy", InboundKind::Srcproxy},
                {"socks5", InboundKind::Socks5},                {"plain", InboundKind::Plain},
            };
            const auto* found = std::find_if(std::begin(kWords), std::end(kWords),
                                             [&](const auto& w) { return w.first == word; });
            if (found == std::end(kWords))
                return bad(k, "is not proxy-protocol, redirect, tproxy, srcproxy, socks5 or plain");
            l.inbound = found->second;
        } else if (name == "target") {
            if (word == "original") {
                l.target_original = true;
                return true;
            }
            std::vector<std::string_view> items;
            if (!list_value(k, items)) return false;
            if (items.empty()) return bad(k, "is not original or an IP:port address");
            l.target_original = false;
            for (std::string_view item : items) {
                if (lowercase(item) == "original") return bad(k, "mixes original with addresses");
                auto a = backends::parse_server_address(item, &why);
                if (!a) return bad_item(k, item, "is not original or an IP:port address (" + why + ")");
                std::optional<SocketAddress>& slot = a->is_v4() ? l.target4 : l.target6;
                if (slot) return bad(k, std::string("has two ") + (a->is_v4() ? "IPv4" : "IPv6") +
                                            " addresses (at most one per address family)");
                slot = *a;
            }
        } else if (name == "via") {
            if (word == "direct") {
                l.via = ViaKind::Direct;
            } else if (word == "proxies") {
                l.via = ViaKind::Proxies;
            } else if (word.rfind("srcproxy:", 0) == 0) {
                std::string_view address = std::string_view(k.value).substr(std::strlen("srcproxy:"));
                auto a = backends::parse_server_address(address, &why);
                if (!a) return bad(k, "is not srcproxy:ADDRESS with an IP:port address (" + why + ")");
                l.via = ViaKind::Srcproxy;
                l.srcproxy_server = *a;
            } else {
                return bad(k, "is not direct, proxies or srcproxy:ADDRESS");
            }
        } else if (name == "srcproxy-auth") {
            l.srcproxy_auth = k.value;
        } else if (name == "source") {
            if (word == "own") {
                l.source = SourceKind::Own;
            } else if (word == "client") {
                l.source = SourceKind::Client;
            } else {
                return bad(k, "is not own or client");
            }
        } else if (name == "send-proxy") {
            if (word == "none") {
                l.send_proxy = SendProxy::None;
            } else if (word == "v1") {
                l.send_proxy = SendProxy::V1;
            } else if (word == "v2") {
                l.send_proxy = SendProxy::V2;
            } else {
                return bad(k, "is not none, v1 or v2");
            }
        } else if (name == "mark") {
            auto mark = parse_mark(k.value);
            if (!mark) return bad(k, "is not a mark (0..4294967295, decimal or 0x hexadecimal)");
            l.mark = *mark;
        } else if (name == "interface") {
            if (!is_interface_name(k.value))
                return bad(k, "is not a network interface name (1 to 15 bytes, no '/', ':' or blank)");
            l.interface = k.value;
        } else if (name == "bind") {
            // "192.0.2.1", "2001:db8::1" or "[2001:db8::1]".
            std::string ip = k.value;
            const bool bracketed = ip.size() > 2 && ip.front() == '[' && ip.back() == ']';
            if (bracketed) ip = ip.substr(1, ip.size() - 2);
            uint8_t bytes[16];
            if (!bracketed && inet_pton(AF_INET, ip.c_str(), bytes) == 1) {
                l.bind = SocketAddress::from_v4(bytes, 0);
            } else if (inet_pton(AF_INET6, ip.c_str(), bytes) == 1) {
                l.bind = SocketAddress::from_v6(bytes, 0);
            } else if (parse_host_port(k.value)) {
                return bad(k, "is not an IP address (without a port: the system picks it)");
            } else {
                return bad(k, "is not an IP address");
            }
        } else if (name == "relay") {
            if (word == "splice") {
                l.relay = RelayMode::Splice;
            } else if (word == "adaptive") {
                l.relay = RelayMode::Adaptive;
            } else if (word == "copy") {
                l.relay = RelayMode::Copy;
            } else {
                return bad(k, "is not splice, adaptive or copy");
            }
        } else if (name == "tfo") {
            return bool_value(k, l.tfo);
        } else if (name == "race") {
            auto n = parse_decimal(k.value, kMaxRace);
            if (!n || *n == 0) return bad(k, "is not a number from 1 to " + std::to_string(kMaxRace));
            l.race = static_cast<unsigned>(*n);
        } else if (name == "allow-direct") {
            return bool_value(k, l.allow_direct);
        } else if (name == "remote-dns") {
            return bool_value(k, l.remote_dns);
        } else if (name == "policy") {
            if (k.value.empty()) return bad(k, "is not a file name");
            l.policy = k.value;
        } else if (name == "allowed-subnets") {
            if (k.value.empty()) return bad(k, "is not a file name");
            l.allowed_subnets = k.value;
        } else if (name == "socks-clients") {
            if (!prefixes_value(k, l.socks_clients)) return false;
            if (l.socks_clients.empty()) return bad(k, "would let no client in (give at least one CIDR prefix)");
        } else if (name == "allowed-destinations") {
            std::vector<std::string_view> items;
            if (!list_value(k, items)) return false;
            if (items.empty()) return bad(k, "would allow no destination (leave the key out to allow any)");
            for (std::string_view item : items) {
                DestinationRule rule;
                if (!destination_rule(k, item, rule)) return false;
                l.allowed_destinations.push_back(rule);
            }
        } else if (name == "acl") {
            std::vector<std::string_view> items;
            if (!list_value(k, items)) return false;
            if (items.empty()) return bad(k, "names no [acl NAME] section (leave the key out to allow every client)");
            for (std::string_view item : items) {
                if (std::find(l.acl.begin(), l.acl.end(), item) != l.acl.end())
                    return bad_item(k, item, "is given twice");
                l.acl.emplace_back(item);
            }
        } else if (name == "header-timeout") {
            return duration_value(k, true, l.header_timeout_ms);
        } else if (name == "connect-timeout") {
            return duration_value(k, true, l.connect_timeout_ms);
        } else if (name == "idle-timeout") {
            return duration_value(k, false, l.idle_timeout_ms);
        } else if (name == "halfclose-timeout") {
            return duration_value(k, false, l.halfclose_timeout_ms);
        } else {
            return unknown_key(p.label, k, kListenerKeys);
        }
        return true;
    }

    bool destination_rule(const ini::Key& k, std::string_view item, DestinationRule& rule) {
        std::string why;
        auto parsed = parse_destination_rule(item, &why);
        if (!parsed) return bad_item(k, item, "is not a destination: " + why);
        rule = *parsed;
        return true;
    }

    bool acl_key(const Placed& p, AclSection& a, const ini::Key& k) {
        srcproxy::AclEntry& e = a.entry;
        if (k.name == "auth") {
            e.auth = k.value;
        } else if (k.name == "sources") {
            return prefixes_value(k, e.allowed_src_ips);
        } else if (k.name == "destinations") {
            return prefixes_value(k, e.allowed_dst_ips);
        } else if (k.name == "ports") {
            std::vector<std::string_view> items;
            if (!list_value(k, items)) return false;
            for (std::string_view item : items) {
                auto range = srcproxy::parse_port_range(item);
                if (!range) return bad_item(k, item, "is not a port or a port range (\"8000-8999\")");
                e.allowed_dst_ports.push_back(*range);
            }
        } else {
            return unknown_key(p.label, k, kAclKeys);
        }
        return true;
    }

    bool read_ferry(const ini::Section& s) {
        Globals& g = config_.globals;
        for (const ini::Key& k : s.keys) {
            std::string why;
            if (k.name == "threads") {
                auto n = parse_decimal(k.value, kMaxThreads);
                if (!n) return bad(k, "is not a number of threads (0..1024; 0: one per CPU)");
                g.threads = static_cast<size_t>(*n);
            } else if (k.name == "log-level") {
                std::string level = lowercase(k.value);
                if (level != "debug" && level != "info" && level != "warn" && level != "error")
                    return bad(k, "is not debug, info, warn or error");
                g.log_level = level;
            } else if (k.name == "probe") {
                std::optional<uint64_t> ms = parse_duration_ms(k.value);
                if (!ms || *ms % 1000 != 0 || *ms / 1000 > std::numeric_limits<unsigned>::max())
                    return bad(k, "is not a whole number of seconds (\"30\", \"5m\"; 0: never probe)");
                g.probe_seconds = static_cast<unsigned>(*ms / 1000);
            } else if (k.name == "test-dns") {
                auto a = backends::parse_server_address(k.value, &why);
                if (!a) return bad(k, "is not an IP:port address (" + why + ")");
                g.test_dns = *a;
            } else if (k.name == "max-wait") {
                std::optional<unsigned> ms = backends::parse_seconds_as_ms(k.value);
                if (!ms) return bad(k, "is not a number of seconds (up to 3600)");
                if (*ms == 0) return bad(k, "is not more than 0 seconds");
                g.max_wait_ms = *ms;
            } else if (k.name == "status") {
                auto a = parse_listen_address(k.value, &why);
                if (!a) return bad(k, "is not an IP:port address (" + why + ")");
                g.status = *a;
            } else if (k.name == "max-connections") {
                auto n = parse_decimal(k.value, kMaxConnections);
                if (!n) return bad(k, "is not a number of connections (0: what the open-file limit allows)");
                g.overload.max_connections = *n;
            } else if (k.name == "max-connections-per-source" || k.name == "max-handshakes-per-source") {
                auto n = parse_decimal(k.value, std::numeric_limits<uint32_t>::max());
                if (!n) return bad(k, "is not a number of connections (0: no limit)");
                (k.name == "max-connections-per-source" ? g.overload.max_connections_per_source
                                                        : g.overload.max_handshakes_per_source) =
                    static_cast<uint32_t>(*n);
            } else if (k.name == "takeover-socket") {
                if (auto e = check_takeover_path(k.value)) return bad(k, *e);
                g.takeover.path = k.value;
            } else if (k.name == "drain-timeout") {
                std::optional<uint64_t> ms = parse_duration_ms(k.value);
                if (!ms) return bad(k, "is not a duration (\"30\", \"30s\", \"2m\")");
                if (auto e = check_drain_timeout_ms(*ms)) return bad(k, *e);
                g.takeover.drain_timeout_ms = *ms;
            } else if (k.name == "user") {
                g.user = privileges::parse_user_spec(k.value, &why);
                if (!g.user) return bad(k, "is not a user (NAME[:GROUP] or UID[:GID]): " + why);
                g.user_line = k.line;
            } else {
                return unknown_key("ferry", k, kFerryKeys);
            }
        }
        return true;
    }

    // ` needs REQUIREMENT (line N has "OTHER = VALUE")`, or `(without an "OTHER" key it is DEFAULT)`, after the
    // key and, unless it is a secret, its value.
    bool conflict(const ini::Key& k, bool show_value, std::string_view requirement, const ini::Section& s,
                  std::string_view other, std::string_view default_value) {
        std::string message = "key " + quoted(k.name);
        if (show_value) message += ": " + quoted(k.value);
        message += " needs " + std::string(requirement) + " (";
        if (const ini::Key* o = s.find(other))
            message += "line " + std::to_string(o->line) + " has " + quoted(o->name + " = " + o->value) + ")";
        else
            message += "without a " + quoted(other) + " key it is " + std::string(default_value) + ")";
        return fail_at(k.line, message);
    }

    bool check_listener(const Placed& p, ListenerSection& l) {
        const ini::Section& s = *p.section;
        for (const char* required : {"listen", "inbound"})
            if (!s.find(required)) return fail_section(p, "missing key \"" + std::string(required) + "\"");
        const ini::Key& listen = *s.find("listen");
        for (const SocketAddress& a : l.listen)
            for (const ListenerSection& other : config_.listeners) {
                if (&other == &l) break;
                if (std::find(other.listen.begin(), other.listen.end(), a) != other.listen.end())
                    return bad_item(listen, a.to_string(), "is already used by " + where_listening(other));
            }
        const ini::Key& inbound = *s.find("inbound");
        if (l.inbound == InboundKind::Plain && l.target_original) {
            if (const ini::Key* target = s.find("target"))
                return fail_at(target->line, "key \"target\": " + quoted(target->value) +
                                                 " needs an inbound that learns the destination (line " +
                                                 std::to_string(inbound.line) + " has " +
                                                 quoted("inbound = " + inbound.value) + ")");
            return bad(inbound, "needs a fixed \"target\" (plain learns no destination; add \"target = ADDRESS\")");
        }
        const bool via_proxies = l.via == ViaKind::Proxies;
        if (const ini::Key* k = s.find("source"); k && l.source == SourceKind::Client && l.via != ViaKind::Direct)
            return conflict(*k, true, "\"via = direct\"", s, "via", "direct");
        if (const ini::Key* k = s.find("bind"); k && l.source == SourceKind::Client)
            return conflict(*k, true, "\"source = own\"", s, "source", "own");
        if (const ini::Key* k = s.find("race"); k && !via_proxies)
            return conflict(*k, true, "\"via = proxies\"", s, "via", "direct");
        if (const ini::Key* k = s.find("allow-direct"); k && !via_proxies)
            return conflict(*k, true, "\"via = proxies\"", s, "via", "direct");
        if (const ini::Key* k = s.find("policy"); k && !via_proxies)
            return conflict(*k, true, "\"via = proxies\"", s, "via", "direct");
        if (const ini::Key* k = s.find("remote-dns"); k && !via_proxies)
            return conflict(*k, true, "\"via = proxies\"", s, "via", "direct");
        if (via_proxies && config_.servers.empty() && !l.allow_direct)
            return bad(*s.find("via"), "needs at least one [server NAME] section (or \"allow-direct = true\")");
        if (const ini::Key* k = s.find("srcproxy-auth"); k && l.via != ViaKind::Srcproxy)
            return conflict(*k, false, "\"via = srcproxy:ADDRESS\"", s, "via", "direct");
        if (const ini::Key* k = s.find("socks-clients");
            k && l.inbound != InboundKind::Redirect && l.inbound != InboundKind::Socks5)
            return conflict(*k, true, "\"inbound = redirect\" or \"inbound = socks5\"", s, "inbound", "");
        if (const ini::Key* k = s.find("allowed-destinations"); k && !l.target_original)
            return conflict(*k, true, "\"target = original\"", s, "target", "original");
        if (const ini::Key* k = s.find("acl")) {
            if (l.inbound != InboundKind::Srcproxy)
                return conflict(*k, true, "\"inbound = srcproxy\"", s, "inbound", "");  // inbound is given
            for (const std::string& acl : l.acl)
                if (!find_placed(Kind::Acl, acl)) return bad_item(*k, acl, "is not the name of an [acl NAME] section");
        }

        const bool socks = l.inbound == InboundKind::Redirect || l.inbound == InboundKind::Socks5;
        if (!s.find("header-timeout")) l.header_timeout_ms = socks ? kSocksHeaderTimeoutMs : kHeaderTimeoutMs;
        if (socks && !s.find("socks-clients"))
            l.socks_clients = {*subnets::parse_cidr("127.0.0.0/8"), *subnets::parse_cidr("::1/128")};
        return true;
    }

    // "section [listener NAME] (line N)", N the line of its `listen` key (a checked listener has one).
    std::string where_listening(const ListenerSection& l) const {
        const Placed* p = find_placed(Kind::Listener, l.name);
        return "section [" + p->label + "] (line " + std::to_string(p->section->find("listen")->line) + ")";
    }

    // Two [acl] sections with the same auth would be one client with two rule sets (Acl::build refuses it).
    bool check_acl_auths() {
        std::vector<srcproxy::AclEntry> entries;
        for (const AclSection& a : config_.acls) entries.push_back(a.entry);
        srcproxy::AclBuildResult built = srcproxy::Acl::build(std::move(entries));
        if (built.ok()) return true;
        const Placed* dup = find_placed(Kind::Acl, config_.acls[built.duplicate].name);
        const Placed* first = find_placed(Kind::Acl, config_.acls[built.first].name);
        return fail_at(dup->section->find("auth")->line,
                       "section [" + dup->label + "]: key \"auth\" is the same as in section [" + first->label +
                           "] (line " + std::to_string(first->section->find("auth")->line) + ")");
    }

    bool check_status_address() {
        const std::optional<SocketAddress>& status = config_.globals.status;
        if (!status) return true;
        for (const ListenerSection& l : config_.listeners) {
            if (std::find(l.listen.begin(), l.listen.end(), *status) == l.listen.end()) continue;
            const ini::Key& key = *find_placed(Kind::Ferry, "")->section->find("status");
            return bad_item(key, status->to_string(), "is already used by " + where_listening(l));
        }
        return true;
    }

    std::string_view file_name_;
    const std::vector<ini::Section>& sections_;
    std::vector<Placed> placed_;  // in file order
    RunConfig config_;
    std::string error_;
};

}  // namespace

RunConfigResult parse_run_config(std::string_view text, std::string_view file_name) {
    RunConfigResult result;
    ini::ParseResult doc = ini::parse(text, file_name, "[ferry] or [listener NAME]");
    // Keys are checked in file order over what was read before a syntax error, so that the first error by
    // line wins, whichever kind it is; the checks across keys and sections come after.
    Parser parser(file_name, doc.sections);
    if (!parser.read_sections()) {
        result.error = parser.error();
        return result;
    }
    if (!doc.ok()) {
        result.error = doc.error;
        return result;
    }
    if (!parser.check()) {
        result.error = parser.error();
        return result;
    }
    result.config = parser.take();
    return result;
}

RunConfigResult load_run_config(const std::string& path) {
    std::string text;
    if (int err = read_text_file(path, text)) {
        RunConfigResult result;
        result.error = path + ": " + read_error_text(err);
        return result;
    }
    return parse_run_config(text, path);
}

std::string_view inbound_name(InboundKind kind) {
    switch (kind) {
        case InboundKind::ProxyProtocol: return "proxy-protocol";
        case InboundKind::Redirect: return "redirect";
        case InboundKind::Tproxy: return "tproxy";
        case InboundKind::Srcproxy: return "srcproxy";
        case InboundKind::Socks5: return "socks5";
        case InboundKind::Plain: return "plain";
    }
    return "?";
}

std::string_view via_name(ViaKind kind) {
    switch (kind) {
        case ViaKind::Direct: return "direct";
        case ViaKind::Proxies: return "proxies";
        case ViaKind::Srcproxy: return "srcproxy";
    }
    return "?";
}

}  // namespace ferry::run
