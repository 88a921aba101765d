#include "backends/server_list.h"
#include "support/file_util.h"

#include <ini.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>

namespace ferry::backends {

namespace {

// RFC 1929 sends each of the username and the password with a one-byte length.
constexpr size_t kMaxSocksCredential = 255;
// Longer than any sane connect + handshake; keeps milliseconds far from overflowing anything.
constexpr unsigned kMaxWaitLimitMs = 3600 * 1000;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7F) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Where inih's find_chars_or_comment() stops in s: at the first char of `stops`, or at a ';' that follows a
// blank (an inline comment); s.size() if neither.
size_t find_stop_or_comment(std::string_view s, std::string_view stops) {
    bool was_blank = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (stops.find(s[i]) != std::string_view::npos) return i;
        if (was_blank && s[i] == ';') return i;
        was_blank = is_blank(s[i]);
    }
    return s.size();
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

std::optional<bool> parse_bool(std::string_view text) {
    std::string v = lowercase(text);
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    return std::nullopt;
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

// An upstream address: "ip:port" or "[ipv6]:port" with a real IP and a port of 1..65535. Sets *why on failure.
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

struct Section {
    std::string name;                  // as written between the brackets, trimmed
    ServerConfig config;               // config.line: the header's line
    std::map<std::string, int> lines;  // key -> the line it was given on
};

// The state shared by the line reader and the key handler while inih walks the text. inih calls the reader for
// each line and then, for a key line, the handler, so `line` is the current line in both. The reader looks at
// each line before inih does, to know section headers (including empty sections, which inih never reports),
// and to refuse what inih would silently misread.
struct ListParser {
    std::string_view text;
    std::string_view file_name;
    size_t pos = 0;
    int line = 0;
    // Mirrors inih's prev_name: set by a key line, cleared by a section header. While it is set, an indented
    // line is a continuation of that key's value for inih.
    std::string previous_key;
    std::vector<Section> sections;
    std::optional<std::string> error;

    void fail(int at, const std::string& message) {
        if (!error) error = std::string(file_name) + ":" + std::to_string(at) + ": " + message;
    }

    // Looks at one line; false after recording an error (parsing stops there).
    bool classify(std::string_view raw) {
        std::string_view view = raw;
        if (line == 1 && view.substr(0, 3) == "\xEF\xBB\xBF") view.remove_prefix(3);  // inih skips a BOM
        std::string_view stripped = trim(view);
        if (stripped.empty() || stripped.front() == ';' || stripped.front() == '#') return true;
        if (!previous_key.empty() && is_blank(raw.front())) {
            fail(line, "indented line would continue the value of key " + quoted(previous_key) +
                           " (multi-line values are not supported; remove the indentation)");
            return false;
        }
        if (stripped.front() == '[') {
            size_t close = find_stop_or_comment(stripped.substr(1), "]");
            if (close == stripped.size() - 1 || stripped[1 + close] != ']') {
                fail(line, "section header without \"]\"");
                return false;
            }
            std::string_view after = trim(stripped.substr(close + 2));
            if (!after.empty() && after.front() != ';' && after.front() != '#') {
                fail(line, "unexpected " + quoted(after) + " after the section header");
                return false;
            }
            std::string_view name = trim(stripped.substr(1, close));
            if (std::string why = tag_problem(name); !why.empty()) {
                fail(line, "section [" + std::string(name) + "]: " + why);
                return false;
            }
            Section s;
            s.name = std::string(name);
            s.config.tag = s.name;
            s.config.line = line;
            sections.push_back(std::move(s));
            previous_key.clear();
            return true;
        }
        size_t sep = find_stop_or_comment(stripped, "=:");
        if (sep == stripped.size() || (stripped[sep] != '=' && stripped[sep] != ':')) {
            fail(line, "expected \"key = value\", a [section] header or a comment, not " + quoted(stripped));
            return false;
        }
        previous_key = std::string(trim(stripped.substr(0, sep)));
        return true;
    }

    // One key of the current section, with inih's trimmed and comment-stripped value.
    bool on_key(std::string_view name, std::string_view value) {
        if (sections.empty()) {
            fail(line, "key " + quoted(name) + " outside a section (put it under a [tag] header)");
            return false;
        }
        Section& s = sections.back();
        auto bad = [&](const std::string& why) {
            fail(line, "key " + quoted(name) + ": " + quoted(value) + " " + why);
            return false;
        };
        const Key* key = nullptr;
        for (const KeyName& k : kKeys)
            if (k.name == name) key = &k.key;
        if (!key) {
            if (name == "listen ports")
                fail(line, "key \"listen ports\" is no longer supported (moproxy 0.5 replaced it with --policy)");
            else if (name.empty())
                fail(line, "empty key name");
            else
                fail(line, "unknown key " + quoted(name) + " in section [" + s.name + "]");
            return false;
        }
        auto [it, inserted] = s.lines.emplace(std::string(name), line);
        if (!inserted) {
            fail(line, "key " + quoted(name) + " given twice in section [" + s.name + "] (first on line " +
                           std::to_string(it->second) + ")");
            return false;
        }
        ServerConfig& c = s.config;
        std::string why;
        switch (*key) {
            case Key::Tag:
                if (std::string problem = tag_problem(value); !problem.empty()) return bad("is not a valid tag: " + problem);
                c.tag = std::string(value);
                return true;
            case Key::Address:
                if (auto a = parse_server_address(value, &why)) {
                    c.address = *a;
                    return true;
                }
                return bad("is not an IP:port address (" + why + ")");
            case Key::Protocol: {
                std::string p = lowercase(value);
                if (p == "socks5" || p == "socksv5") {
                    c.protocol = Protocol::Socks5;
                } else if (p == "http") {
                    c.protocol = Protocol::Http;
                } else {
                    return bad("is not socks5, socksv5 or http");
                }
                return true;
            }
            case Key::TestDns:
                if (auto a = parse_server_address(value, &why)) {
                    c.test_dns = *a;
                    return true;
                }
                return bad("is not an IP:port address (" + why + ")");
            case Key::ScoreBase: {
                bool out_of_range = false;
                if (auto v = parse_score_base(value, &out_of_range)) {
                    c.score_base = *v;
                    return true;
                }
                return bad(out_of_range ? "is out of range (-2147483648..2147483647)" : "is not an integer");
            }
            case Key::MaxWait: {
                std::optional<unsigned> ms = parse_seconds_as_ms(value);
                if (!ms) return bad("is not a number of seconds (up to 3600)");
                if (*ms == 0) return bad("is not more than 0 seconds");
                c.max_wait_ms = *ms;
                return true;
            }
            case Key::Capabilities:
                if (auto problem = parse_capabilities(value, &c.capabilities)) return bad(*problem);
                return true;
            case Key::SocksUsername:
            case Key::SocksPassword:
                // Out of reach with Debian's 200-byte lines; kept for an inih built with longer ones.
                if (value.size() > kMaxSocksCredential) return bad("is longer than 255 bytes (RFC 1929)");
                (*key == Key::SocksUsername ? c.socks_username : c.socks_password) = std::string(value);
                return true;
            case Key::HttpUsername:
                if (value.find(':') != std::string_view::npos) return bad("contains ':' (Basic auth cannot carry it)");
                c.http_username = std::string(value);
                return true;
            case Key::HttpPassword:
                c.http_password = std::string(value);
                return true;
            case Key::SocksFakeHandshaking:
            case Key::HttpAllowConnectPayload:
                if (auto b = parse_bool(value)) {
                    (*key == Key::SocksFakeHandshaking ? c.socks_fake_handshaking : c.http_allow_connect_payload) = *b;
                    return true;
                }
                return bad("is not a boolean (true/false, yes/no, on/off, 1/0)");
        }
        return false;
    }

    // The checks that need the whole section. Empty credentials count as not given, as in moproxy.
    bool finish_section(const Section& s) {
        const ServerConfig& c = s.config;
        std::string head = "section [" + s.name + "]: ";
        for (const char* required : {"address", "protocol"}) {
            if (!s.lines.count(required)) {
                fail(c.line, head + "missing key \"" + required + "\"");
                return false;
            }
        }
        // Settings of the other protocol are a mistake moproxy ignores silently; report the first by line.
        const char* other_prefix = c.protocol == Protocol::Socks5 ? "http " : "socks ";
        const std::pair<const std::string, int>* misplaced = nullptr;
        for (const auto& entry : s.lines)
            if (entry.first.rfind(other_prefix, 0) == 0 && (!misplaced || entry.second < misplaced->second))
                misplaced = &entry;
        if (misplaced) {
            fail(misplaced->second, head + "key " + quoted(misplaced->first) + " does not apply to " +
                                        std::string(protocol_name(c.protocol)) + " servers");
            return false;
        }
        if (c.socks_username.empty() != c.socks_password.empty()) {
            fail(c.line, head + "\"socks username\" and \"socks password\" go together (give both or neither)");
            return false;
        }
        return true;
    }
};

char* read_line(char* buffer, int size, void* stream) {
    auto* p = static_cast<ListParser*>(stream);
    if (p->error || p->pos >= p->text.size()) return nullptr;
    size_t end = p->text.find('\n', p->pos);
    if (end == std::string_view::npos) end = p->text.size();
    std::string_view raw = p->text.substr(p->pos, end - p->pos);
    p->pos = end + 1;
    ++p->line;
    if (raw.find('\0') != std::string_view::npos) {
        p->fail(p->line, "NUL byte in the line");
        return nullptr;
    }
    // inih's buffer (200 bytes in Debian's build) would cut a longer line and parse the rest as a line of its own.
    if (raw.size() > static_cast<size_t>(size - 1)) {
        p->fail(p->line, "line longer than " + std::to_string(size - 1) + " bytes");
        return nullptr;
    }
    if (!p->classify(raw)) return nullptr;
    std::memcpy(buffer, raw.data(), raw.size());  // without the '\n': inih strips trailing blanks anyway
    buffer[raw.size()] = '\0';
    return buffer;
}

int on_key(void* user, const char* /*section*/, const char* name, const char* value) {
    // inih's section name is ignored: it is cut at 49 bytes and cannot tell [a] from a second [a].
    return static_cast<ListParser*>(user)->on_key(name, value) ? 1 : 0;
}

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

ServerListResult parse_server_list(std::string_view text, std::string_view file_name) {
    ListParser p;
    p.text = text;
    p.file_name = file_name;
    int inih_error = ini_parse_stream(read_line, &p, on_key, &p);
    ServerListResult result;
    if (p.error) {
        result.error = *p.error;
        return result;
    }
    if (inih_error != 0) {  // not expected: the reader refuses every line inih would reject
        result.error = std::string(file_name) + ":" + std::to_string(inih_error) + ": syntax error";
        return result;
    }
    std::vector<ServerConfig> servers;
    for (const Section& s : p.sections) {
        if (!p.finish_section(s)) {
            result.error = *p.error;
            return result;
        }
        servers.push_back(s.config);
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
        result.error = path + ": " + std::strerror(err);
        return result;
    }
    return parse_server_list(text, path);
}

}  // namespace ferry::backends
