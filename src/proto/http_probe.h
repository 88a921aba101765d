// The HTTP latency probe, for upstream proxies that refuse to tunnel to a DNS server's port 53 (an HTTP CONNECT
// proxy allowing only 80/443, as Squid and tinyproxy do by default; moproxy issue #24): a server's `test url =
// http://HOST[:PORT]/PATH`. The prober opens the tunnel to HOST:PORT exactly as real traffic does (CONNECT
// HOST:PORT, or a SOCKS5 request with the name), sends one GET for PATH and times the answer's status line
// (http_connect::parse_status_line), whatever its code. Pure functions: the URL's parser and the request's
// encoder. No sockets, no globals.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::http_probe {

// The most `test url` may hold: a line of the server list is shorter anyway.
inline constexpr size_t kMaxUrlLength = 2048;

struct TestUrl {
    std::string host;  // a host name, an IPv4 literal or an IPv6 literal (without brackets)
    uint16_t port = 80;
    std::string path = "/";  // origin-form: starts with '/', may hold a query; never a fragment

    bool operator==(const TestUrl&) const = default;
};

// Parses "http://HOST[:PORT][/PATH][?QUERY]" (the scheme in any case). HOST is a host name (support/net_names.h),
// a dotted IPv4 address or a bracketed IPv6 address; PORT is 1..65535 (80 when absent); a missing path is "/";
// a "#fragment" is dropped, as clients never send it. nullopt with a short reason in *why for anything else:
// another scheme ("https://" included: the probe speaks plain HTTP), user info ('@' before the path), an empty
// or bad host or port, blanks, control characters or non-ASCII bytes anywhere, more than kMaxUrlLength bytes.
std::optional<TestUrl> parse_test_url(std::string_view text, std::string* why);

// HOST[:PORT] as the Host header and messages show it: the port only when it is not 80, an IPv6 host bracketed.
std::string host_header(const TestUrl& url);

// Appends "GET <path> HTTP/1.1\r\nHost: <host_header>\r\nUser-Agent: ferry-probe\r\nAccept: */*\r\n"
// "Connection: close\r\n\r\n".
void encode_request(const TestUrl& url, std::vector<std::byte>& out);

}  // namespace ferry::http_probe
