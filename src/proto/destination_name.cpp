#include "proto/destination_name.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

namespace ferry::destination_name {
namespace {

using bytes::be16;
using bytes::byte_at;

constexpr uint8_t kHandshakeRecord = 0x16;
constexpr uint8_t kClientHello = 0x01;
constexpr uint16_t kServerNameExtension = 0x0000;
constexpr uint8_t kHostNameType = 0x00;
constexpr size_t kRecordHeader = 5;
constexpr size_t kMaxRecord = 16384;  // TLSPlaintext.length (RFC 8446 section 5.1)
constexpr size_t kMaxHostName = 253;

Name done(std::string host) {
    Name n;
    n.status = Status::Done;
    n.host = std::move(host);
    return n;
}

// Bounds-checked reads over the reassembled ClientHello body; every read past the end sets `short_`.
class Reader {
public:
    explicit Reader(std::span<const std::byte> d) : d_(d) {}
    bool ok(size_t n) const { return !short_ && at_ + n <= d_.size(); }
    uint8_t u8() { return ok(1) ? byte_at(d_, at_++) : fail(); }
    uint16_t u16() {
        if (!ok(2)) return fail();
        const uint16_t v = be16(d_, at_);
        at_ += 2;
        return v;
    }
    std::span<const std::byte> take(size_t n) {
        if (!ok(n)) {
            fail();
            return {};
        }
        auto s = d_.subspan(at_, n);
        at_ += n;
        return s;
    }
    size_t left() const { return short_ ? 0 : d_.size() - at_; }
    bool failed() const { return short_; }

private:
    uint8_t fail() {
        short_ = true;
        return 0;
    }
    std::span<const std::byte> d_;
    size_t at_ = 0;
    bool short_ = false;
};

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `raw` lower-cased and without one trailing dot; nullopt unless it is a host name; "" for an IPv4 literal.
std::optional<std::string> normalize(std::string_view raw) {
    std::string host(raw);
    std::transform(host.begin(), host.end(), host.begin(), lower);
    if (!host.empty() && host.back() == '.') host.pop_back();
    if (!host.empty() && host.find_first_not_of("0123456789.") == std::string::npos) return std::string();
    if (!is_host_name(host)) return std::nullopt;
    return host;
}

// The server_name extension's body: the first host_name entry.
Name server_name(std::span<const std::byte> body) {
    Reader r(body);
    const uint16_t list = r.u16();
    if (r.failed() || list != r.left()) return parse_invalid<Name>("a server_name list whose length does not fit");
    while (r.left() > 0) {
        const uint8_t type = r.u8();
        const uint16_t len = r.u16();
        auto name = r.take(len);
        if (r.failed()) return parse_invalid<Name>("a server_name entry whose length does not fit");
        if (type != kHostNameType) continue;
        const std::string_view text(reinterpret_cast<const char*>(name.data()), name.size());
        auto host = normalize(text);
        if (!host) return parse_invalid<Name>("a server_name that is not a host name");
        return done(std::move(*host));
    }
    return done("");
}

// The ClientHello body (after its 4-byte header): RFC 8446 section 4.1.2, and TLS 1.0-1.2's same layout.
Name client_hello_body(std::span<const std::byte> body) {
    Reader r(body);
    r.take(2 + 32);                        // legacy_version, random
    const uint8_t session = r.u8();
    if (session > 32) return parse_invalid<Name>("a session id longer than 32 bytes");
    r.take(session);
    const uint16_t suites = r.u16();
    if (!r.failed() && (suites < 2 || suites % 2 != 0)) return parse_invalid<Name>("a malformed cipher suite list");
    r.take(suites);
    const uint8_t compression = r.u8();
    if (!r.failed() && compression < 1) return parse_invalid<Name>("no compression method");
    r.take(compression);
    if (r.failed()) return parse_invalid<Name>("a ClientHello shorter than its fields");
    if (r.left() == 0) return done("");  // no extensions at all (before TLS 1.2 they were optional)
    const uint16_t extensions = r.u16();
    if (r.failed() || extensions != r.left()) return parse_invalid<Name>("an extension list whose length does not fit");
    std::optional<Name> found;
    while (r.left() > 0) {
        const uint16_t type = r.u16();
        const uint16_t len = r.u16();
        auto data = r.take(len);
        if (r.failed()) return parse_invalid<Name>("an extension whose length does not fit");
        if (type != kServerNameExtension) continue;
        if (found) return parse_invalid<Name>("two server_name extensions");
        found = server_name(data);
        if (found->status == Status::Invalid) return *found;
    }
    return found ? *found : done("");
}

bool is_tchar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

bool equals_lower(std::string_view a, std::string_view lower_b) {
    if (a.size() != lower_b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower_b[i]) return false;
    return true;
}

// "METHOD SP target SP HTTP/1.x" (its CR already removed).
bool request_line(std::string_view line) {
    const size_t sp1 = line.find(' ');
    if (sp1 == 0 || sp1 == std::string_view::npos) return false;
    if (!std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(sp1), is_tchar)) return false;
    const size_t sp2 = line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return false;
    const std::string_view version = line.substr(sp2 + 1);
    return version.size() == 8 && version.substr(0, 7) == "HTTP/1." && version[7] >= '0' && version[7] <= '9';
}

// The host of a Host value: "name", "name:port", "[v6]:port" (an IP literal: ""), nullopt when malformed.
std::optional<std::string> host_of(std::string_view value) {
    if (value.empty()) return std::string();
    if (value.front() == '[') {
        const size_t close = value.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        return std::string();  // an IPv6 literal names no host
    }
    const size_t colon = value.find(':');
    if (colon != std::string_view::npos) {
        const std::string_view port = value.substr(colon + 1);
        if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
            return std::nullopt;
        value = value.substr(0, colon);
    }
    return normalize(value);
}

}  // namespace

bool is_host_name(std::string_view text) {
    if (text.empty() || text.size() > kMaxHostName) return false;
    if (text.find_first_not_of("0123456789.") == std::string_view::npos) return false;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t dot = std::min(text.find('.', start), text.size());
        const std::string_view label = text.substr(start, dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char c : label) {
            const char l = lower(c);
            if (!((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' || l == '_')) return false;
        }
        start = dot + 1;
    }
    return true;
}

Name parse_client_hello(std::span<const std::byte> data) {
    std::vector<std::byte> hello;  // the handshake bytes of the records so far
    size_t at = 0;
    for (;;) {
        if (data.size() < at + kRecordHeader) {
            // Reject what cannot be TLS as soon as its first bytes say so.
            if (data.size() > at && byte_at(data, at) != kHandshakeRecord)
                return parse_invalid<Name>("not a TLS handshake record");
            if (data.size() > at + 1 && byte_at(data, at + 1) != 0x03)
                return parse_invalid<Name>("not a TLS record version");
            return parse_incomplete<Name>(at + kRecordHeader);
        }
        if (byte_at(data, at) != kHandshakeRecord) return parse_invalid<Name>("not a TLS handshake record");
        if (byte_at(data, at + 1) != 0x03 || byte_at(data, at + 2) > 0x04)
            return parse_invalid<Name>("not a TLS record version");
        const size_t length = be16(data, at + 3);
        if (length == 0 || length > kMaxRecord) return parse_invalid<Name>("a TLS record length out of range");
        if (data.size() < at + kRecordHeader + length) return parse_incomplete<Name>(at + kRecordHeader + length);
        auto fragment = data.subspan(at + kRecordHeader, length);
        hello.insert(hello.end(), fragment.begin(), fragment.end());
        at += kRecordHeader + length;
        if (hello.size() < 4) continue;
        if (static_cast<uint8_t>(hello[0]) != kClientHello) return parse_invalid<Name>("not a ClientHello");
        const size_t body = (size_t{static_cast<uint8_t>(hello[1])} << 16) |
                            (size_t{static_cast<uint8_t>(hello[2])} << 8) | static_cast<uint8_t>(hello[3]);
        if (body > kMaxClientHello) return parse_invalid<Name>("a ClientHello larger than 16 KiB");
        if (hello.size() >= 4 + body) {
            Name n = client_hello_body(std::span<const std::byte>(hello).subspan(4, body));
            if (n.status == Status::Done) n.consumed = at;
            return n;
        }
    }
}

Name parse_http_host(std::span<const std::byte> data) {
    const std::string_view text(reinterpret_cast<const char*>(data.data()), std::min(data.size(), kMaxHttpHead));
    // What cannot start a request line is refused at once, not after kMaxHttpHead bytes.
    const size_t first_space = text.find(' ');
    const std::string_view method = text.substr(0, first_space);
    if (!std::all_of(method.begin(), method.end(), is_tchar)) return parse_invalid<Name>("not an HTTP request");
    std::optional<std::string> host;
    size_t at = 0;
    bool first = true;
    for (;;) {
        const size_t nl = text.find('\n', at);
        if (nl == std::string_view::npos) {
            if (data.size() >= kMaxHttpHead) return parse_invalid<Name>("no end of the request head within 8 KiB");
            return parse_incomplete<Name>();
        }
        std::string_view line = text.substr(at, nl - at);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        at = nl + 1;
        if (first) {
            if (!request_line(line)) return parse_invalid<Name>("not an HTTP/1.x request line");
            first = false;
            continue;
        }
        if (line.empty()) {
            Name n = done(host.value_or(""));
            n.consumed = at;
            return n;
        }
        const size_t colon = line.find(':');
        if (colon == 0 || colon == std::string_view::npos ||
            !std::all_of(line.begin(), line.begin() + static_cast<std::ptrdiff_t>(colon), is_tchar))
            return parse_invalid<Name>("a malformed header line");
        if (!equals_lower(line.substr(0, colon), "host")) continue;
        if (host) return parse_invalid<Name>("two Host headers");
        host = host_of(trim(line.substr(colon + 1)));
        if (!host) return parse_invalid<Name>("a Host header that is not a host name");
    }
}

}  // namespace ferry::destination_name
