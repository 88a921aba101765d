#include "backends/server_list.h"
#include "support/file_util.h"
#include "support/net_names.h"

#include <cerrno>
#include <cstring>
#include <limits>

namespace ferry::backends {

namespace {

// RFC 1929 sends each of the username and the password with a one-byte length.
constexpr size_t kMaxSocksCredential = 255;
// Longer than any sane connect + handshake; keeps milliseconds far from overflowing anything.
constexpr unsigned kMaxWaitLimitMs = 3600 * 1000;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

using ini::quoted;

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Why a tag cannot be used, or "" when it can: tags show up on the status page, in metrics and logs, so they are
// printable ASCII without blanks (moproxy refuses blanks and non-ASCII too).
std::string tag_problem(std::string_view tag) {
    if (tag.empty()) return "a tag must not be empty";
    for (char c : tag) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F) return "a tag is printable ASCII without blanks";
    }
    return "";
}

// A signed decimal integer in moproxy's i32 range. Sets *out_of_range when the digits are fine but too many.
std::optional<int64_t> parse_score_base(std::string_view text, bool* out_of_range) {
    *out_of_range = false;
    std::string_view digits = text;
    bool negative = false;
    if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) {
        negative = digits.front() == '-';
        digits.remove_prefix(1);
    }
    if (digits.empty()) return std::nullopt;
    int64_t value = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        if (value <= int64_t{1} << 32) value = value * 10 + (c - '0');  // saturates well above the i32 range
    }
    if (negative) value = -value;
    if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
        *out_of_range = true;
        return std::nullopt;
    }
    return value;
}

// Capability names as moproxy's policy parser takes them: letters, digits, '-' and '_' (and any non-ASCII
// byte, as moproxy takes Unicode letters), separated by blanks and/or commas.
std::optional<std::string> parse_capabilities(std::string_view text, std::vector<std::string>* out) {
    std::string word;
    auto flush = [&] {
        if (word.empty()) return;
        bool seen = false;
        for (const std::string& w : *out) seen = seen || w == word;
        if (!seen) out->push_back(word);
        word.clear();
    };
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == ',' || is_blank(c)) {
            flush();
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                   c == '_' || u >= 0x80) {
            word += c;
        } else {
            return std::string("has '") + c + "', not allowed in a capability name (letters, digits, '-', '_')";
        }
    }
    flush();
    return std::nullopt;
}

enum class Key {
    Tag,
    Address,
    Protocol,
    TestDns,
    TestUrl,
    ScoreBase,
    MaxWait,
    Capabilities,
    SocksUsername,
    SocksPassword,
    SocksFakeHandshaking,
    HttpUsername,
    HttpPassword,
    HttpAllowConnectPayload,
};

struct KeyName {
    std::string_view name;
    Key key;
};

constexpr KeyName kKeys[] = {
    {"tag", Key::Tag},
    {"address", Key::Address},
    {"protocol", Key::Protocol},
    {"test dns", Key::TestDns},
    {"test url", Key::TestUrl},
    {"score base", Key::ScoreBase},
    {"max wait", Key::MaxWait},
    {"capabilities", Key::Capabilities},
    {"socks username", Key::SocksUsername},
    {"socks password", Key::SocksPassword},
    {"socks fake handshaking", Key::SocksFakeHandshaking},
    {"http username", Key::HttpUsername},
    {"http password", Key::HttpPassword},
    {"http allow connect payload", Key::HttpAllowConnectPayload},
};

std::string origin(const ServerConfig& s, std::string_view file_name) {
    if (s.line == 0) return "a server from the command line";
    return "the server at " + std::string(file_name) + ":" + std::to_string(s.line);
}

}  // namespace

std::string_view protocol_name(Protocol protocol) { return protocol == Protocol::Socks5 ? "SOCKSv5" : "HTTP"; }

bool same_identity(const ServerConfig& a, const ServerConfig& b) {
    return a.address == b.address && a.protocol == b.protocol && a.tag == b.tag;
}

std::optional<unsigned> parse_seconds_as_ms(std::string_view text) {
    size_t dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (whole.empty() && fraction.empty()) return std::nullopt;
    auto all_digits = [](std::string_view s) {
        for (char c : s)
            if (c < '0' || c > '9') return false;
        return true;
    };
    if (!all_digits(whole) || !all_digits(fraction)) return std::nullopt;
    uint64_t ms = 0;
    for (char c : whole) {
        ms = ms * 10 + static_cast<uint64_t>(c - '0');
        if (ms > kMaxWaitLimitMs) return std::nullopt;  // seconds so far already above the limit in ms
    }
    ms *= 1000;
    uint64_t scale = 100;
    for (size_t i = 0; i < fraction.size() && i < 3; ++i, scale /= 10) ms += static_cast<uint64_t>(fraction[i] - '0') * scale;
    if (fraction.size() > 3 && fraction[3] >= '5') ++ms;
    if (ms > kMaxWaitLimitMs) return std::nullopt;
    return static_cast<unsigned>(ms);
}

std::optional<SocketAddress> parse_server_address(std::string_view text, std::string* why) {
    std::optional<SocketAddress> a = parse_host_port(text, why);
    if (!a) return std::nullopt;
    if (text.empty() || text.front() == ':') {
        *why = "missing IP address";
        return std::nullopt;
    }
    if (a->is_unspecified()) {
        *why = "the wildcard address is not a server";
        return std::nullopt;
    }
    if (a->port() == 0) {
        *why = "the port has to be between 1 and 65535";
        return std::nullopt;
    }
    return a;
}

std::optional<std::pair<std::string, uint16_t>> parse_server_host_port(std::string_view text, std::string* why) {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        *why = "missing port";
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
    if (!is_host_name(host)) {
        *why = "not a host name";
        return std::nullopt;
    }
    uint32_t value = 0;
    for (char c : port) {
        if (c < '0' || c > '9' || value > 65535) {
            value = 0;
            break;
        }
        value = value * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port.empty() || value == 0 || value > 65535) {
        *why = "the port has to be between 1 and 65535";
        return std::nullopt;
    }
    return std::pair<std::string, uint16_t>(std::string(host), static_cast<uint16_t>(value));
}

std::string written_address(const ServerConfig& server) {
    if (server.address_host.empty()) return server.address.to_string();
    return server.address_host + ":" + std::to_string(server.address.port());
}

std::optional<std::string> check_server_count(std::span<const ServerConfig> servers) {
    if (servers.size() <= kMaxServers) return std::nullopt;
    return std::to_string(servers.size()) + " servers, more than the " + std::to_string(kMaxServers) + " ferry ranks";
}

std::optional<std::string> find_duplicate_tag(std::span<const ServerConfig> servers, std::string_view file_name) {
    for (size_t i = 0; i < servers.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (servers[j].tag != servers[i].tag) continue;
            std::string prefix = servers[i].line == 0 ? "command line: "
                                                      : std::string(file_name) + ":" + std::to_string(servers[i].line) + ": ";
            return prefix + "tag " + quoted(servers[i].tag) + " is already used by " + origin(servers[j], file_name);
        }
    }
    return std::nullopt;
}

std::optional<std::string> apply_server_key(ServerConfig& server, std::string_view key, std::string_view value,
                                            std::string_view section) {
    auto bad = [&](const std::string& why) { return "key " + quoted(key) + ": " + quoted(value) + " " + why; };
    const Key* found = nullptr;
    for (const KeyName& k : kKeys)
        if (k.name == key) found = &k.key;
    if (!found) {
        if (key == "listen ports")
            return "key \"listen ports\" is no longer supported (moproxy 0.5 replaced it with --policy)";
        return "unknown key " + quoted(key) + " in section [" + std::string(section) + "]";
    }
    ServerConfig& c = server;
    std::string why;
    switch (*found) {
        case Key::Tag:
            if (std::string problem = tag_problem(value); !problem.empty()) return bad("is not a valid tag: " + problem);
            c.tag = std::string(value);
            return std::nullopt;
        case Key::Address: {
            if (auto a = parse_server_address(value, &why)) {
                c.address = *a;
                c.address_host.clear();
                return std::nullopt;
            }
            // Not an IP literal: a host name, resolved later (server_names.h). When it is neither, the message
            // is the literal's, as before names were taken.
            std::string name_why;
            if (auto named = parse_server_host_port(value, &name_why)) {
                const uint8_t any[4] = {0, 0, 0, 0};
                c.address = SocketAddress::from_v4(any, named->second);
                c.address_host = std::move(named->first);
                return std::nullopt;
            }
            return bad("is not an IP:port address (" + why + ")");
        }
        case Key::Protocol: {
            std::string p = lowercase(value);
            if (p == "socks5" || p == "socksv5") {
                c.protocol = Protocol::Socks5;
            } else if (p == "http") {
                c.protocol = Protocol::Http;
            } else {
                return bad("is not socks5, socksv5 or http");
            }
            return std::nullopt;
        }
        case Key::TestDns:
            if (auto a = parse_server_address(value, &why)) {
                c.test_dns = *a;
                return std::nullopt;
            }
            return bad("is not an IP:port address (" + why + ")");
        case Key::TestUrl:
            if (auto url = http_probe::parse_test_url(value, &why)) {
                c.test_url = std::move(*url);
                return std::nullopt;
            }
            return bad("is not an http://HOST[:PORT]/PATH URL (" + why + ")");
        case Key::ScoreBase: {
            bool out_of_range = false;
            if (auto v = parse_score_base(value, &out_of_range)) {
                c.score_base = *v;
                return std::nullopt;
            }
            return bad(out_of_range ? "is out of range (-2147483648..2147483647)" : "is not an integer");
        }
        case Key::MaxWait: {
            std::optional<unsigned> ms = parse_seconds_as_ms(value);
            if (!ms) return bad("is not a number of seconds (up to 3600)");
            if (*ms == 0) return bad("is not more than 0 seconds");
            c.max_wait_ms = *ms;
            return std::nullopt;
        }
        case Key::Capabilities:
            if (auto problem = parse_capabilities(value, &c.capabilities)) return bad(*problem);
            return std::nullopt;
        case Key::SocksUsername:
        case Key::SocksPassword:
            // Out of reach with Debian's 200-byte lines; kept for an inih built with longer ones.
            if (value.size() > kMaxSocksCredential) return bad("is longer than 255 bytes (RFC 1929)");
            (*found == Key::SocksUsername ? c.socks_username : c.socks_password) = std::string(value);
            return std::nullopt;
        case Key::HttpUsername:
            if (value.find(':') != std::string_view::npos) return bad("contains ':' (Basic auth cannot carry it)");
            c.http_username = std::string(value);
            return std::nullopt;
        case Key::HttpPassword:
            c.http_password = std::string(value);
            return std::nullopt;
        case Key::SocksFakeHandshaking:
        case Key::HttpAllowConnectPayload:
            if (auto b = ini::parse_bool(value)) {
                (*found == Key::SocksFakeHandshaking ? c.socks_fake_handshaking : c.http_allow_connect_payload) = *b;
                return std::nullopt;
            }
            return bad("is not a boolean (" + std::string(ini::kBoolWords) + ")");
    }
    return bad("is not understood");  // not reached: every Key is handled above
}

std::optional<std::string> check_server_section(const ServerConfig& server, std::span<const ini::Key> keys,
                                                std::string_view section, std::string_view file_name) {
    auto given = [&](std::string_view name) {
        for (const ini::Key& k : keys)
            if (k.name == name) return true;
        return false;
    };
    std::string head = "section [" + std::string(section) + "]: ";
    for (const char* required : {"address", "protocol"})
        if (!given(required)) return ini::located(file_name, server.line, head + "missing key \"" + required + "\"");
    // Settings of the other protocol are a mistake moproxy ignores silently; report the first by line.
    std::string_view other_prefix = server.protocol == Protocol::Socks5 ? "http " : "socks ";
    for (const ini::Key& k : keys)
        if (std::string_view(k.name).substr(0, other_prefix.size()) == other_prefix)
            return ini::located(file_name, k.line, head + "key " + quoted(k.name) + " does not apply to " +
                                                       std::string(protocol_name(server.protocol)) + " servers");
    if (given("test dns") && given("test url"))
        return ini::located(file_name, server.line,
                            head + "\"test dns\" and \"test url\" do not go together (a server has one probe)");
    // Empty credentials count as not given, as in moproxy.
    if (server.socks_username.empty() != server.socks_password.empty())
        return ini::located(file_name, server.line,
                            head + "\"socks username\" and \"socks password\" go together (give both or neither)");
    return std::nullopt;
}

ServerListResult parse_server_list(std::string_view text, std::string_view file_name) {
    ServerListResult result;
    ini::ParseResult doc = ini::parse(text, file_name, "[tag]");
    // Keys are checked in file order over what was read before a syntax error, so that the first error by line
    // wins, whichever kind it is.
    std::vector<ServerConfig> servers;
    for (const ini::Section& s : doc.sections) {
        if (std::string why = tag_problem(s.name); !why.empty()) {
            result.error = ini::located(file_name, s.line, "section [" + s.name + "]: " + why);
            return result;
        }
        ServerConfig c;
        c.tag = s.name;
        c.line = s.line;
        for (const ini::Key& k : s.keys) {
            if (auto why = apply_server_key(c, k.name, k.value, s.name)) {
                result.error = ini::located(file_name, k.line, *why);
                return result;
            }
            if (k.name == "address") c.address_line = k.line;
        }
        servers.push_back(std::move(c));
    }
    if (!doc.ok()) {
        result.error = doc.error;
        return result;
    }
    for (size_t i = 0; i < servers.size(); ++i) {
        if (auto why = check_server_section(servers[i], doc.sections[i].keys, doc.sections[i].name, file_name)) {
            result.error = *why;
            return result;
        }
    }
    if (auto dup = find_duplicate_tag(servers, file_name)) {
        result.error = *dup;
        return result;
    }
    result.servers = std::move(servers);
    return result;
}

ServerListResult load_server_list(const std::string& path) {
    std::string text;
    if (int err = read_text_file(path, text)) {
        ServerListResult result;
        result.error = path + ": " + read_error_text(err);
        return result;
    }
    return parse_server_list(text, path);
}

}  // namespace ferry::backends
