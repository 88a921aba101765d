// libFuzzer target for moproxy's INI server list (src/backends/server_list.*): parse_server_list() over a list
// file's text (read from a string, not a file), and parse_seconds_as_ms() over its values. Input: the text.
// Invariants:
//   - failure iff an error is set, and the error is located: "fuzz.ini:<line>: ...";
//   - parsing the same text twice gives the same result;
//   - every server accepted is one ferry can use: a non-empty printable tag without blanks, unique in the list; an
//     IP address (not the wildcard) with a port of 1..65535, or a host name (is_host_name) with the wildcard and
//     a port of 1..65535, the same for `test dns` (IP only); a `test url` with a host name or IP, a port of
//     1..65535 and a path of printable ASCII starting with '/', never with `test dns`; a score base in i32; a max
//     wait of 1 ms .. 1 hour; capability names unique and of letters, digits, '-', '_' or non-ASCII bytes; socks
//     credentials both or neither and at most 255 bytes; no ':' in an HTTP username; no setting of the other
//     protocol;
//   - the servers written back as a list (a section per server, every setting as a key) parse to the same servers;
//   - parse_seconds_as_ms() of every value, when it accepts it, is at most an hour, and the milliseconds written
//     as "S.mmm" read back the same.
#include "backends/server_list.h"
#include "support/net_names.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::backends;
using ferry::fuzz::require;

constexpr std::string_view kFile = "fuzz.ini";

bool same(const ServerConfig& a, const ServerConfig& b) {
    return a.tag == b.tag && a.protocol == b.protocol && a.address == b.address &&
           a.address_host == b.address_host && a.test_dns == b.test_dns && a.test_url == b.test_url &&
           a.score_base == b.score_base && a.max_wait_ms == b.max_wait_ms && a.capabilities == b.capabilities &&
           a.socks_username == b.socks_username && a.socks_password == b.socks_password &&
           a.socks_fake_handshaking == b.socks_fake_handshaking && a.http_username == b.http_username &&
           a.http_password == b.http_password && a.http_allow_connect_payload == b.http_allow_connect_payload;
}

bool same(const std::vector<ServerConfig>& a, const std::vector<ServerConfig>& b, bool with_lines) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (!same(a[i], b[i]) || (with_lines && a[i].line != b[i].line)) return false;
    return true;
}

std::string seconds(unsigned ms) {
    std::string fraction = std::to_string(ms % 1000);
    return std::to_string(ms / 1000) + "." + std::string(3 - fraction.size(), '0') + fraction;
}

bool usable_address(const ferry::SocketAddress& a) {
    return (a.is_v4() || a.is_v6()) && !a.is_unspecified() && a.port() != 0;
}

bool capability_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           u >= 0x80;
}

void check_server(const ServerConfig& s) {
    require(!s.tag.empty());
    for (char c : s.tag) require(static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7F);
    if (s.address_host.empty()) {
        require(usable_address(s.address));
    } else {
        require(ferry::is_host_name(s.address_host) && s.address.is_unspecified() && s.address.port() != 0);
    }
    require(s.line > 0 && s.address_line > s.line);
    if (s.test_dns) require(usable_address(*s.test_dns));
    if (s.test_url) {
        require(!s.test_dns && s.test_url->port != 0 && !s.test_url->host.empty());
        require(s.test_url->path.front() == '/');
        for (char c : s.test_url->path) require(c > 0x20 && c < 0x7F && c != '#');
    }
    require(s.score_base >= std::numeric_limits<int32_t>::min() && s.score_base <= std::numeric_limits<int32_t>::max());
    if (s.max_wait_ms) require(*s.max_wait_ms >= 1 && *s.max_wait_ms <= 3600 * 1000);
    std::set<std::string> seen;
    for (const std::string& c : s.capabilities) {
        require(!c.empty() && seen.insert(c).second);
        for (char ch : c) require(capability_char(ch));
    }
    require(s.socks_username.empty() == s.socks_password.empty());
    require(s.socks_username.size() <= 255 && s.socks_password.size() <= 255);
    require(s.http_username.find(':') == std::string::npos);
    if (s.protocol == Protocol::Socks5) {
        require(s.http_username.empty() && s.http_password.empty() && !s.http_allow_connect_payload);
    } else {
        require(s.socks_username.empty() && !s.socks_fake_handshaking);
    }
}

// The longest line the INI reader takes (inih's 200-byte buffer in Debian's build, less its NUL).
constexpr size_t kMaxIniLine = 199;

std::string write_list(const std::vector<ServerConfig>& servers) {
    std::string out;
    for (size_t i = 0; i < servers.size(); ++i) {
        const ServerConfig& s = servers[i];
        // "tag=" and a tag of more than 195 bytes would pass the INI reader's 199-byte lines; such a tag can only
        // have come from a section header, so it goes back into one.
        if (s.tag.size() + 4 <= kMaxIniLine)
            out += "[s" + std::to_string(i) + "]\ntag=" + s.tag + "\n";
        else
            out += "[" + s.tag + "]\n";
        out += "address=" + ferry::backends::written_address(s) + "\n";
        out += s.protocol == Protocol::Socks5 ? "protocol=socks5\n" : "protocol=http\n";
        if (s.test_dns) out += "test dns=" + s.test_dns->to_string() + "\n";
        if (s.test_url) {
            // Never longer than the line it came from: "/?q" goes back as "?q", port 80 and a fragment not at all.
            const std::string& path = s.test_url->path;
            out += "test url=http://" + ferry::http_probe::host_header(*s.test_url) +
                   (path.starts_with("/?") ? path.substr(1) : path) + "\n";
        }
        out += "score base=" + std::to_string(s.score_base) + "\n";
        if (s.max_wait_ms) out += "max wait=" + seconds(*s.max_wait_ms) + "\n";
        if (!s.capabilities.empty()) {
            out += "capabilities=";
            for (size_t c = 0; c < s.capabilities.size(); ++c) out += (c ? "," : "") + s.capabilities[c];
            out += "\n";
        }
        if (s.protocol == Protocol::Socks5) {
            if (!s.socks_username.empty())
                out += "socks username=" + s.socks_username + "\nsocks password=" + s.socks_password + "\n";
            out += std::string("socks fake handshaking=") + (s.socks_fake_handshaking ? "yes" : "no") + "\n";
        } else {
            if (!s.http_username.empty()) out += "http username=" + s.http_username + "\n";
            if (!s.http_password.empty()) out += "http password=" + s.http_password + "\n";
            out += std::string("http allow connect payload=") + (s.http_allow_connect_payload ? "on" : "off") + "\n";
        }
    }
    return out;
}

// Every "key = value" line's value, roughly: enough to feed parse_seconds_as_ms() what the fuzzer wrote.
void check_seconds(std::string_view text) {
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        const size_t eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        std::string_view value = line.substr(eq + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (const auto ms = parse_seconds_as_ms(value)) {
            require(*ms <= 3600 * 1000);
            require(parse_seconds_as_ms(seconds(*ms)) == ms);
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::string_view text = ferry::fuzz::as_text(input);
    check_seconds(text);

    const ServerListResult r = parse_server_list(text, kFile);
    const ServerListResult again = parse_server_list(text, kFile);
    require(again.ok() == r.ok() && again.error == r.error);
    require(r.ok() == r.error.empty());
    if (!r.ok()) {
        require(r.error.starts_with(std::string(kFile) + ":"));
        return 0;
    }
    require(same(*again.servers, *r.servers, true));
    std::set<std::string> tags;
    for (const ServerConfig& s : *r.servers) {
        check_server(s);
        require(tags.insert(s.tag).second);
    }

    const std::string written = write_list(*r.servers);
    const ServerListResult back = parse_server_list(written, kFile);
    require(back.ok() && same(*back.servers, *r.servers, false));
    return 0;
}
