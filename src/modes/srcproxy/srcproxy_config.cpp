#include "modes/srcproxy/srcproxy_config.h"
#include "support/file_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <span>

#include "modes/stats_flag.h"
#include "modes/takeover_flags.h"
#include "support/json5.h"
#include "proto/srcproxy_header.h"
#include "support/subnets.h"

namespace ferry::srcproxy {
namespace {

constexpr size_t kMaxHostNameLength = 253;  // RFC 1035, without the trailing dot
constexpr size_t kMaxDeviceNameLength = 15; // IFNAMSIZ - 1
constexpr double kMaxMark = 4294967295.0;   // SO_MARK is a u32
// The largest whole number of seconds that fits Go's time.Duration (int64 nanoseconds).
constexpr double kMaxTimeoutSeconds = 9223372036.0;

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\n\v\f";
    size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) return {};
    size_t last = s.find_last_not_of(kSpace);
    return s.substr(first, last - first + 1);
}

// Go's encoding/json matches keys with strings.EqualFold. For ASCII key names that is ASCII case folding,
// plus the two non-ASCII letters whose simple folding reaches ASCII: U+212A KELVIN SIGN (k) and U+017F
// LATIN SMALL LETTER LONG S (s).
std::string fold_key(std::string_view key) {
    std::string out;
    for (size_t i = 0; i < key.size(); ++i) {
        const char c = key[i];
        if (c >= 'A' && c <= 'Z') {
            out += static_cast<char>(c - 'A' + 'a');
        } else if (key.substr(i, 3) == "\xE2\x84\xAA") {
            out += 'k';
            i += 2;
        } else if (key.substr(i, 2) == "\xC5\xBF") {
            out += 's';
            i += 1;
        } else {
            out += c;
        }
    }
    return out;
}

const char* type_name(const cJSON* item) {
    if (cJSON_IsString(item)) return "a string";
    if (cJSON_IsNumber(item)) return "a number";
    if (cJSON_IsBool(item)) return "a boolean";
    if (cJSON_IsArray(item)) return "an array";
    if (cJSON_IsObject(item)) return "an object";
    if (cJSON_IsNull(item)) return "null";
    return "something else";
}

// A number as the file would most likely have it: whole numbers without a fraction.
std::string number_text(double v) {
    char buf[64];
    if (std::fabs(v) < 1e15 && v == std::floor(v))
        std::snprintf(buf, sizeof buf, "%.0f", v);
    else
        std::snprintf(buf, sizeof buf, "%.15g", v);
    return buf;
}

bool is_host_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_';
}

// Whether `host` can be a DNS name: letters, digits, '-', '_' and dots, no empty label, and a last label that
// is not all digits (RFC 3696 section 2), so a mistyped IPv4 address like "192.0.2.01" is not taken for a name.
bool is_host_name(std::string_view host) {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (host.empty() || host.size() > kMaxHostNameLength) return false;
    if (host.front() == '.' || host.find("..") != std::string_view::npos) return false;
    for (char c : host)
        if (!is_host_name_char(c)) return false;
    const std::string_view last = host.substr(host.rfind('.') + 1);
    return last.find_first_not_of("0123456789") != std::string_view::npos;
}

// The walk over one document: the first error and every warning, each "file:line: ...".
class Reader {
public:
    Reader(const json5::Document& doc, std::string_view file_name) : doc_(doc), file_(file_name) {}

    std::optional<std::string> error;
    std::vector<std::string> warnings;

    std::string where(const cJSON* item) const {
        int line = doc_.line_of(item);
        return std::string(file_) + ":" + std::to_string(line > 0 ? line : 1) + ": ";
    }

    bool fail(const cJSON* at, const std::string& message) {
        if (!error) error = where(at) + message;
        return false;
    }
    bool fail_key(const cJSON* at, const std::string& path, const std::string& message) {
        return fail(at, "key \"" + path + "\": " + message);
    }
    void warn(const cJSON* at, const std::string& message) { warnings.push_back(where(at) + message); }

    // The members of `object` for each of `keys` (lower case), nullptr when absent or null. A known key given
    // twice is an error; unknown keys are ignored with a warning.
    bool members(const cJSON* object, const std::string& path, std::span<const std::string_view> keys,
                 std::vector<const cJSON*>& found) {
        found.assign(keys.size(), nullptr);
        std::vector<const cJSON*> seen(keys.size(), nullptr);
        for (const cJSON* item = object->child; item != nullptr; item = item->next) {
            const std::string folded = fold_key(item->string);
            size_t k = 0;
            while (k < keys.size() && keys[k] != folded) ++k;
            if (k == keys.size()) {
                warn(item, "unknown key \"" + join(path, item->string) + "\" ignored");
                continue;
            }
            if (seen[k] != nullptr)
                return fail_key(item, join(path, item->string),
                                "given twice (first on line " + std::to_string(doc_.line_of(seen[k])) + ")");
            seen[k] = item;
            if (!cJSON_IsNull(item)) found[k] = item;
        }
        return true;
    }

    static std::string join(const std::string& path, std::string_view key) {
        return path.empty() ? std::string(key) : path + "." + std::string(key);
    }

    bool string_value(const cJSON* item, const std::string& path, std::string& out) {
        if (!cJSON_IsString(item)) return fail_key(item, path, std::string("expected a string, not ") + type_name(item));
        out = item->valuestring;
        return true;
    }

    bool endpoint(const cJSON* item, const std::string& path, bool listening, Endpoint& out) {
        std::string text;
        if (!string_value(item, path, text)) return false;
        std::string why;
        auto e = parse_endpoint(text, listening, &why);
        if (!e) return fail_key(item, path, goflag::quote(text) + " is not a valid address: " + why);
        out = std::move(*e);
        return true;
    }

    bool timeout(const cJSON* item, const std::string& path, goflag::Duration& out) {
        if (cJSON_IsString(item)) {
            const std::string text = item->valuestring;
            auto d = goflag::parse_duration(text);
            if (!d) return fail_key(item, path, goflag::quote(text) + " is not a duration");
            if (d->count() < 0) return fail_key(item, path, goflag::quote(text) + " is negative");
            out = *d;
            return true;
        }
        if (cJSON_IsNumber(item)) {
            const double v = item->valuedouble;
            if (v != std::floor(v)) return fail_key(item, path, number_text(v) + " is not a whole number of seconds");
            if (v < 0) return fail_key(item, path, number_text(v) + " is negative");
            if (v > kMaxTimeoutSeconds) return fail_key(item, path, number_text(v) + " seconds is too long");
            out = std::chrono::seconds(static_cast<int64_t>(v));
            return true;
        }
        return fail_key(item, path,
                        std::string("expected a duration (\"5m\") or a number of seconds, not ") + type_name(item));
    }

    bool log_level(const cJSON* item, const std::string& path, LogLevel& out) {
        std::string text;
        if (!string_value(item, path, text)) return false;
        if (text.empty() || text == "info") {
            out = LogLevel::Info;
        } else if (text == "error") {
            out = LogLevel::Error;
        } else {
            return fail_key(item, path, goflag::quote(text) + " is not a log level (\"info\" or \"error\")");
        }
        return true;
    }

    // A list of CIDR prefixes in Go's net.ParseCIDR syntax.
    bool prefixes(const cJSON* item, const std::string& path, std::vector<subnets::IpPrefix>& out) {
        if (!cJSON_IsArray(item)) return fail_key(item, path, std::string("expected an array, not ") + type_name(item));
        int i = 0;
        for (const cJSON* p = item->child; p != nullptr; p = p->next, ++i) {
            const std::string at = path + "[" + std::to_string(i) + "]";
            std::string text;
            if (!string_value(p, at, text)) return false;
            auto prefix = subnets::parse_cidr(text);
            if (!prefix) {
                std::string msg = goflag::quote(text) + " is not a CIDR prefix";
                if (text.find('/') == std::string::npos) {
                    uint8_t buf[16];
                    if (inet_pton(AF_INET, text.c_str(), buf) == 1) msg += " (one address is " + text + "/32)";
                    else if (inet_pton(AF_INET6, text.c_str(), buf) == 1) msg += " (one address is " + text + "/128)";
                }
                return fail_key(p, at, msg);
            }
            out.push_back(*prefix);
        }
        return true;
    }

    bool ports(const cJSON* item, const std::string& path, std::vector<PortRange>& out) {
        if (!cJSON_IsArray(item)) return fail_key(item, path, std::string("expected an array, not ") + type_name(item));
        int i = 0;
        for (const cJSON* p = item->child; p != nullptr; p = p->next, ++i) {
            const std::string at = path + "[" + std::to_string(i) + "]";
            if (cJSON_IsNumber(p)) {
                const double v = p->valuedouble;
                if (v != std::floor(v) || v < 1 || v > 65535)
                    return fail_key(p, at, number_text(v) + " is not a port (1..65535)");
                out.push_back({static_cast<uint16_t>(v), static_cast<uint16_t>(v)});
                continue;
            }
            if (!cJSON_IsString(p))
                return fail_key(p, at, std::string("expected a port or a \"first-last\" range, not ") + type_name(p));
            const std::string text = p->valuestring;
            auto range = parse_port_range(text);
            if (!range) return fail_key(p, at, goflag::quote(text) + " is not a port or a port range (\"8000-8099\")");
            out.push_back(*range);
        }
        return true;
    }

    bool acl_entry(const cJSON* item, const std::string& path, AclEntry& out) {
        if (!cJSON_IsObject(item)) return fail_key(item, path, std::string("expected an object, not ") + type_name(item));
        static constexpr std::string_view kKeys[] = {"auth", "allowed_src_ips", "allowed_dst_ips",
                                                     "allowed_dst_ports"};
        std::vector<const cJSON*> m;
        if (!members(item, path, kKeys, m)) return false;
        out.line = doc_.line_of(item);
        if (m[0] && !cJSON_IsString(m[0]))
            return fail_key(m[0], join(path, m[0]->string), std::string("expected a string, not ") + type_name(m[0]));
        if (m[0]) out.auth = m[0]->valuestring;
        if (m[1]) {
            const std::string at = join(path, m[1]->string);
            if (!prefixes(m[1], at, out.allowed_src_ips)) return false;
            if (out.allowed_src_ips.empty())
                warn(m[1], "key \"" + at + "\": [] allows any source, as the srcproxy README says (the srcproxy "
                           "program itself would allow none)");
        }
        if (m[2]) {
            const std::string at = join(path, m[2]->string);
            if (!prefixes(m[2], at, out.allowed_dst_ips)) return false;
            if (out.allowed_dst_ips.empty())
                return fail_key(m[2], at, "[] would allow no destination (leave the key out to allow any)");
        }
        if (m[3]) {
            const std::string at = join(path, m[3]->string);
            if (!ports(m[3], at, out.allowed_dst_ports)) return false;
            if (out.allowed_dst_ports.empty())
                return fail_key(m[3], at, "[] would allow no port (leave the key out to allow any)");
        }
        return true;
    }

    bool acl(const cJSON* item, const std::string& path, Acl& out) {
        if (!cJSON_IsArray(item)) return fail_key(item, path, std::string("expected an array, not ") + type_name(item));
        std::vector<AclEntry> entries;
        std::vector<const cJSON*> items;
        int i = 0;
        for (const cJSON* e = item->child; e != nullptr; e = e->next, ++i) {
            AclEntry entry;
            if (!acl_entry(e, path + "[" + std::to_string(i) + "]", entry)) return false;
            entries.push_back(std::move(entry));
            items.push_back(e);
        }
        if (entries.empty())
            warn(item, "key \"" + path + "\": [] turns the ACL off, as the srcproxy README says (the srcproxy "
                       "program itself would reject every request)");
        AclBuildResult built = Acl::build(std::move(entries));
        if (!built.ok()) {
            const cJSON* dup = items[built.duplicate];
            const cJSON* auth = cJSON_GetObjectItem(dup, "auth");  // case-insensitive, like the keys
            return fail_key(auth ? auth : dup, path + "[" + std::to_string(built.duplicate) + "].auth",
                            "the same auth as " + path + "[" + std::to_string(built.first) + "] on line " +
                                std::to_string(doc_.line_of(items[built.first])));
        }
        out = std::move(*built.acl);
        return true;
    }

    bool mark(const cJSON* item, const std::string& path, std::optional<uint32_t>& out) {
        if (!cJSON_IsNumber(item)) {
            std::string msg = std::string("expected a number, not ") + type_name(item);
            if (cJSON_IsString(item)) msg += " (write 0x1234 without quotes)";
            return fail_key(item, path, msg);
        }
        const double v = item->valuedouble;
        if (v != std::floor(v) || v < 0 || v > kMaxMark)
            return fail_key(item, path, number_text(v) + " is not a mark (0..4294967295)");
        out = static_cast<uint32_t>(v);
        return true;
    }

    // A whole number 0..max (the overload limits).
    bool count(const cJSON* item, const std::string& path, double max, uint64_t& out) {
        if (!cJSON_IsNumber(item))
            return fail_key(item, path, std::string("expected a number, not ") + type_name(item));
        const double v = item->valuedouble;
        if (v != std::floor(v) || v < 0 || v > max)
            return fail_key(item, path, number_text(v) + " is not a whole number from 0 to " + number_text(max));
        out = static_cast<uint64_t>(v);
        return true;
    }

    // ferry's `user`: NAME, NAME:GROUP, UID or UID:GID (support/privileges.h), looked up by the caller.
    bool user(const cJSON* item, const std::string& path, std::optional<privileges::UserSpec>& out, int& line) {
        std::string text, why;
        if (!string_value(item, path, text)) return false;
        out = privileges::parse_user_spec(text, &why);
        if (!out)
            return fail_key(item, path, goflag::quote(text) + " is not a user (NAME[:GROUP] or UID[:GID]): " + why);
        line = doc_.line_of(item);
        return true;
    }

    // top[first..first+2]: max_connections, max_connections_per_source, max_handshakes_per_source.
    bool overload(const std::vector<const cJSON*>& top, size_t first, OverloadConfig& out) {
        constexpr double kMaxConnections = 4294967296.0, kMaxPerSource = 4294967295.0;
        uint64_t n = 0;
        if (const cJSON* i = top[first]) {
            if (!count(i, i->string, kMaxConnections, n)) return false;
            out.max_connections = n;
        }
        if (const cJSON* i = top[first + 1]) {
            if (!count(i, i->string, kMaxPerSource, n)) return false;
            out.max_connections_per_source = static_cast<uint32_t>(n);
        }
        if (const cJSON* i = top[first + 2]) {
            if (!count(i, i->string, kMaxPerSource, n)) return false;
            out.max_handshakes_per_source = static_cast<uint32_t>(n);
        }
        return true;
    }

    // top[first..first+1]: takeover_socket (a path, "@name" abstract), drain_timeout (a duration or seconds).
    bool takeover(const std::vector<const cJSON*>& top, size_t first, TakeoverConfig& out) {
        if (const cJSON* i = top[first]) {
            if (!string_value(i, i->string, out.path)) return false;
            if (auto e = check_takeover_path(out.path))
                return fail_key(i, i->string, goflag::quote(out.path) + " " + *e);
        }
        if (const cJSON* i = top[first + 1]) {
            goflag::Duration d{};
            if (!timeout(i, i->string, d)) return false;
            out.drain_timeout_ms = goflag::ceil_ms(d);
            if (auto e = check_drain_timeout_ms(out.drain_timeout_ms)) return fail_key(i, i->string, *e);
        }
        return true;
    }

    // stats_bind: "IP:PORT" or "PORT" (127.0.0.1), or "" for none (modes/stats_flag.h).
    bool stats_address(const cJSON* item, const std::string& path, std::optional<StatsAddress>& out) {
        std::string text;
        if (!string_value(item, path, text)) return false;
        if (auto why = parse_stats_address(text, &out)) return fail_key(item, path, goflag::quote(text) + ": " + *why);
        return true;
    }

    bool local_addr(const cJSON* item, const std::string& path, std::optional<LocalAddr>& out) {
        std::string text;
        if (!string_value(item, path, text)) return false;
        std::string why;
        out = parse_local_addr(text, &why);
        if (!out && !why.empty()) return fail_key(item, path, goflag::quote(text) + " is not a local address: " + why);
        return true;
    }

    bool root_object(const cJSON* root) {
        if (!cJSON_IsObject(root))
            return fail(root, std::string("the configuration must be an object ({...}), not ") + type_name(root));
        return true;
    }

    // "key ... is missing", at the line of the object that should have it.
    bool missing(const cJSON* object, const std::string& path) {
        return fail(object, "key \"" + path + "\" is missing");
    }

private:
    const json5::Document& doc_;
    std::string_view file_;
};

template <typename Config>
ConfigResult<Config> finish(Reader& reader, Config config) {
    ConfigResult<Config> result;
    result.warnings = std::move(reader.warnings);
    if (reader.error) {
        result.error = std::move(*reader.error);
    } else {
        result.config = std::move(config);
    }
    return result;
}

template <typename Config>
std::optional<ConfigResult<Config>> parse_failure(const json5::ParseResult& parsed, std::string_view file_name) {
    if (parsed.ok()) return std::nullopt;
    ConfigResult<Config> result;
    result.error = std::string(file_name) + ":" + std::to_string(parsed.error_line) + ": " + parsed.error;
    return result;
}

std::optional<std::string> read_file(const std::string& path, std::string& text) {
    if (int err = read_text_file(path, text)) return path + ": " + read_error_text(err);
    return std::nullopt;
}

}  // namespace

std::string_view log_level_name(LogLevel level) { return level == LogLevel::Error ? "error" : "info"; }

std::optional<Endpoint> parse_endpoint(std::string_view text, bool listening, std::string* why) {
    auto fail = [&](const char* reason) -> std::optional<Endpoint> {
        if (why) *why = reason;
        return std::nullopt;
    };
    Endpoint e;
    e.text = std::string(text);
    std::string_view host, port;
    if (!text.empty() && text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return fail("missing ']' in address");
        host = text.substr(1, close - 1);
        if (close + 1 >= text.size() || text[close + 1] != ':') return fail("missing port in address");
        port = text.substr(close + 2);
        if (host.find('%') != std::string_view::npos) return fail("IPv6 zones are not supported");
        uint8_t buf[16];
        if (inet_pton(AF_INET6, std::string(host).c_str(), buf) != 1) return fail("not an IPv6 address in brackets");
    } else {
        size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) return fail("missing port in address");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return fail("too many colons in address (IPv6 needs [brackets])");
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
        return fail("the port must be a number");
    unsigned long p = 0;
    for (char c : port) p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p < 1 || p > 65535) return fail("the port must be 1..65535");
    e.port = static_cast<uint16_t>(p);
    e.host = std::string(host);
    if (host.empty()) {
        if (!listening) return fail("missing host");
        return e;
    }
    uint8_t buf[16];
    if (inet_pton(AF_INET, e.host.c_str(), buf) == 1) {
        e.address = SocketAddress::from_v4(buf, e.port);
    } else if (inet_pton(AF_INET6, e.host.c_str(), buf) == 1) {
        e.address = SocketAddress::from_v6(buf, e.port).unmapped();
    } else if (!is_host_name(host)) {
        return fail("not an IP address or host name");
    }
    return e;
}

std::optional<LocalAddr> parse_local_addr(std::string_view text, std::string* why) {
    auto fail = [&](std::string reason) -> std::optional<LocalAddr> {
        if (why) *why = std::move(reason);
        return std::nullopt;
    };
    if (why) why->clear();
    const size_t percent = text.find('%');
    const std::string ip(trim(text.substr(0, percent)));
    LocalAddr l;
    if (percent != std::string_view::npos) l.device = std::string(trim(text.substr(percent + 1)));
    if (!ip.empty()) {
        uint8_t buf[16];
        if (inet_pton(AF_INET, ip.c_str(), buf) == 1)
            l.address = SocketAddress::from_v4(buf, 0);
        else if (inet_pton(AF_INET6, ip.c_str(), buf) == 1)
            l.address = SocketAddress::from_v6(buf, 0).unmapped();
        else
            return fail(goflag::quote(ip) + " is not an IP address");
    }
    if (l.device.size() > kMaxDeviceNameLength) return fail("interface names are at most 15 bytes");
    if (l.device.find_first_of("/ \t") != std::string::npos || l.device == "." || l.device == "..")
        return fail(goflag::quote(l.device) + " cannot be an interface name");
    if (!l.address && l.device.empty()) return std::nullopt;  // nothing to bind: as if absent
    return l;
}

ClientConfigResult parse_client_config(std::string_view text, std::string_view file_name) {
    json5::ParseResult parsed = json5::parse(text);
    if (auto failed = parse_failure<ClientConfig>(parsed, file_name)) return std::move(*failed);
    const json5::Document& doc = *parsed.document;
    Reader r(doc, file_name);
    ClientConfig c;
    [&] {
        const cJSON* root = doc.root();
        if (!r.root_object(root)) return;
        static constexpr std::string_view kTop[] = {"inbound",         "outbound",
                                                    "timeout",         "log_level",
                                                    "max_connections", "max_connections_per_source",
                                                    "max_handshakes_per_source", "takeover_socket",
                                                    "drain_timeout",   "user",
                                                    "stats_bind"};
        std::vector<const cJSON*> top;
        if (!r.members(root, "", kTop, top)) return;

        static constexpr std::string_view kInbound[] = {"mode", "listen"};
        std::vector<const cJSON*> in(2, nullptr);
        const std::string inbound = top[0] ? std::string(top[0]->string) : "inbound";
        if (top[0]) {
            if (!cJSON_IsObject(top[0]))
                return (void)r.fail_key(top[0], inbound, std::string("expected an object, not ") + type_name(top[0]));
            if (!r.members(top[0], inbound, kInbound, in)) return;
        }
        static constexpr std::string_view kOutbound[] = {"server", "auth", "local_addr", "fwmark"};
        std::vector<const cJSON*> out(4, nullptr);
        const std::string outbound = top[1] ? std::string(top[1]->string) : "outbound";
        if (top[1]) {
            if (!cJSON_IsObject(top[1]))
                return (void)r.fail_key(top[1], outbound, std::string("expected an object, not ") + type_name(top[1]));
            if (!r.members(top[1], outbound, kOutbound, out)) return;
        }

        if (in[0]) {
            std::string mode;
            if (!r.string_value(in[0], Reader::join(inbound, in[0]->string), mode)) return;
            if (!mode.empty() && mode != "redirect")
                return (void)r.fail_key(in[0], Reader::join(inbound, in[0]->string),
                                        goflag::quote(mode) + " is not supported (only \"redirect\")");
        }
        if (!in[1]) return (void)r.missing(top[0] ? top[0] : root, inbound + ".listen");
        if (!r.endpoint(in[1], Reader::join(inbound, in[1]->string), true, c.listen)) return;

        if (!out[0]) return (void)r.missing(top[1] ? top[1] : root, outbound + ".server");
        if (!r.endpoint(out[0], Reader::join(outbound, out[0]->string), false, c.server)) return;
        if (out[1] && !cJSON_IsString(out[1]))
            return (void)r.fail_key(out[1], Reader::join(outbound, out[1]->string),
                                    std::string("expected a string, not ") + type_name(out[1]));
        if (out[1]) c.auth = out[1]->valuestring;
        c.auth_digest = auth_digest(c.auth);
        if (out[2] && !r.local_addr(out[2], Reader::join(outbound, out[2]->string), c.local_addr)) return;
        if (out[3] && !r.mark(out[3], Reader::join(outbound, out[3]->string), c.fwmark)) return;

        if (top[2] && !r.timeout(top[2], top[2]->string, c.timeout)) return;
        if (top[3] && !r.log_level(top[3], top[3]->string, c.log_level)) return;
        if (!r.overload(top, 4, c.overload)) return;
        if (!r.takeover(top, 7, c.takeover)) return;
        if (top[9] && !r.user(top[9], top[9]->string, c.user, c.user_line)) return;
        if (top[10] && !r.stats_address(top[10], top[10]->string, c.stats_bind)) return;
    }();
    return finish(r, std::move(c));
}

ServerConfigResult parse_server_config(std::string_view text, std::string_view file_name) {
    json5::ParseResult parsed = json5::parse(text);
    if (auto failed = parse_failure<ServerConfig>(parsed, file_name)) return std::move(*failed);
    const json5::Document& doc = *parsed.document;
    Reader r(doc, file_name);
    ServerConfig c;
    [&] {
        const cJSON* root = doc.root();
        if (!r.root_object(root)) return;
        static constexpr std::string_view kTop[] = {"listen",          "acl",
                                                    "timeout",         "log_level",
                                                    "max_connections", "max_connections_per_source",
                                                    "max_handshakes_per_source", "takeover_socket",
                                                    "drain_timeout",   "user",
                                                    "stats_bind"};
        std::vector<const cJSON*> top;
        if (!r.members(root, "", kTop, top)) return;
        if (!top[0]) return (void)r.missing(root, "listen");
        if (!r.endpoint(top[0], top[0]->string, true, c.listen)) return;
        if (top[1] && !r.acl(top[1], top[1]->string, c.acl)) return;
        if (top[2] && !r.timeout(top[2], top[2]->string, c.timeout)) return;
        if (top[3] && !r.log_level(top[3], top[3]->string, c.log_level)) return;
        if (!r.overload(top, 4, c.overload)) return;
        if (!r.takeover(top, 7, c.takeover)) return;
        if (top[9] && !r.user(top[9], top[9]->string, c.user, c.user_line)) return;
        if (top[10] && !r.stats_address(top[10], top[10]->string, c.stats_bind)) return;
    }();
    return finish(r, std::move(c));
}

ClientConfigResult load_client_config(const std::string& path) {
    std::string text;
    if (auto err = read_file(path, text)) {
        ClientConfigResult failed;
        failed.error = std::move(*err);
        return failed;
    }
    return parse_client_config(text, path);
}

ServerConfigResult load_server_config(const std::string& path) {
    std::string text;
    if (auto err = read_file(path, text)) {
        ServerConfigResult failed;
        failed.error = std::move(*err);
        return failed;
    }
    return parse_server_config(text, path);
}

}  // namespace ferry::srcproxy
