#include "proto/http_probe.h"

#include <arpa/inet.h>

#include "support/net_names.h"

namespace ferry::http_probe {
namespace {

constexpr std::string_view kScheme = "http://";

bool is_url_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7F;
}

bool scheme_is(std::string_view text, std::string_view scheme) {
    if (text.size() < scheme.size()) return false;
    for (size_t i = 0; i < scheme.size(); ++i) {
        char c = text[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != scheme[i]) return false;
    }
    return true;
}

std::optional<uint16_t> parse_port(std::string_view digits) {
    if (digits.empty() || digits.size() > 5) return std::nullopt;
    uint32_t v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) return std::nullopt;
    return static_cast<uint16_t>(v);
}

bool is_ipv4(const std::string& host) {
    in_addr a{};
    return ::inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& host) {
    in6_addr a{};
    return ::inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

}  // namespace

std::optional<TestUrl> parse_test_url(std::string_view text, std::string* why) {
    auto fail = [&](const char* reason) -> std::optional<TestUrl> {
        *why = reason;
        return std::nullopt;
    };
    if (text.size() > kMaxUrlLength) return fail("longer than 2048 bytes");
    for (char c : text)
        if (!is_url_char(c)) return fail("has a blank, a control character or a non-ASCII byte");
    if (scheme_is(text, "https://")) return fail("https is not supported: the probe speaks plain HTTP");
    if (!scheme_is(text, kScheme)) return fail("does not start with http://");
    std::string_view rest = text.substr(kScheme.size());
    if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    const size_t path_at = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_at);
    std::string_view path = path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
    if (authority.find('@') != std::string_view::npos) return fail("user info (user@) is not supported");
    TestUrl url;
    std::string_view port_text;
    bool has_port = false;
    if (!authority.empty() && authority.front() == '[') {
        const size_t close = authority.find(']');
        if (close == std::string_view::npos) return fail("missing ']' after an IPv6 address");
        url.host = std::string(authority.substr(1, close - 1));
        if (!is_ipv6(url.host)) return fail("not an IPv6 address between the brackets");
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("unexpected text after ']'");
            port_text = after.substr(1);
            has_port = true;
        }
    } else {
        const size_t colon = authority.find(':');
        url.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = authority.substr(colon + 1);
            has_port = true;
        }
        if (url.host.empty()) return fail("missing host");
        if (!is_ipv4(url.host) && !is_host_name(url.host)) return fail("not a host name or an IP address");
    }
    if (has_port) {
        auto port = parse_port(port_text);
        if (!port) return fail("the port has to be between 1 and 65535");
        url.port = *port;
    }
    url.path = path.empty() ? "/" : (path.front() == '?' ? "/" + std::string(path) : std::string(path));
    return url;
}

std::string host_header(const TestUrl& url) {
    std::string out = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (url.port != 80) out += ":" + std::to_string(url.port);
    return out;
}

void encode_request(const TestUrl& url, std::vector<std::byte>& out) {
    const std::string request = "GET " + url.path + " HTTP/1.1\r\nHost: " + host_header(url) +
                                "\r\nUser-Agent: ferry-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
    const auto* b = reinterpret_cast<const std::byte*>(request.data());
    out.insert(out.end(), b, b + request.size());
}

}  // namespace ferry::http_probe
