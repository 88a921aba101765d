#include "proto/http_connect.h"

#include "support/text.h"

#include <algorithm>

namespace ferry::http_connect {
namespace {

constexpr std::string_view kHttpPrefix = "HTTP/";
// How much of a bad status line goes into the error: enough to recognise "SSH-2.0-OpenSSH_9.2" or an HTML
// error page, not enough to flood the log.
constexpr size_t kMaxQuoted = 40;
// "HTTP/1.1 200": where the reason phrase's separating space is.
constexpr size_t kCodeEnd = 12;

// Makes bytes from the network safe for a log line: printable ASCII stays, the rest becomes \xNN.

// At most kMaxQuoted bytes of `s`, escaped, in double quotes, with "..." when cut.
std::string quoted(std::string_view s) { return ferry::quoted(s, kMaxQuoted); }

Response invalid(std::string error) {
    Response r;
    r.status = Status::Invalid;
    r.error = std::move(error);
    return r;
}

Response oversize() {
    return invalid("HTTP response header over " + std::to_string(kMaxResponseHeaderLength) + " bytes");
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Control characters other than HTAB, which RFC 9110 does not allow in a reason phrase.
bool is_bad_reason_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
}

void put_text(std::vector<std::byte>& out, std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    out.insert(out.end(), b, b + s.size());
}

enum class LineCheck { Partial, Complete, Invalid };

struct StatusLine {
    LineCheck check = LineCheck::Partial;
    std::string error;
    int code = 0;
    std::string_view reason;
};

// Checks a status line without its line ending. `complete` says the line ending was seen; without it `line`
// is everything received so far (a trailing CR already removed) and the result is Partial while it can still
// become a valid line.
StatusLine check_status_line(std::string_view line, bool complete) {
    StatusLine s;
    auto fail = [&](std::string what) {
        s.check = LineCheck::Invalid;
        s.error = std::move(what) + " " + quoted(line);
        return s;
    };
    auto ended_early = [&] { return complete ? fail("malformed HTTP status line") : s; };

    for (size_t i = 0; i < kHttpPrefix.size(); ++i) {
        if (i >= line.size() || line[i] != kHttpPrefix[i]) {
            if (i >= line.size() && !complete) return s;
            s.check = LineCheck::Invalid;
            s.error = "HTTP proxy response does not start with \"HTTP/\": " + quoted(line);
            return s;
        }
    }
    // "1.0" or "1.1".
    for (size_t i = 5; i < 8; ++i) {
        if (i >= line.size()) return ended_early();
        const char c = line[i];
        const bool ok = i == 5 ? c == '1' : i == 6 ? c == '.' : c == '0' || c == '1';
        if (!ok) return fail("unsupported HTTP version in status line");
    }
    if (line.size() <= 8) return ended_early();
    if (line[8] != ' ') return fail("malformed HTTP status line");
    // Three digits, 100..599.
    int code = 0;
    for (size_t i = 9; i < kCodeEnd; ++i) {
        if (i >= line.size()) return ended_early();
        const char c = line[i];
        if (!is_digit(c) || (i == 9 && (c < '1' || c > '5'))) return fail("malformed HTTP status line");
        code = code * 10 + (c - '0');
    }
    // Then the end of the line (no reason phrase, which many parsers accept) or SP and the reason.
    if (line.size() > kCodeEnd && line[kCodeEnd] != ' ') return fail("malformed HTTP status line");
    std::string_view reason = line.size() > kCodeEnd ? line.substr(kCodeEnd + 1) : std::string_view();
    if (std::any_of(reason.begin(), reason.end(), is_bad_reason_char)) return fail("malformed HTTP status line");
    if (!complete) return s;
    s.check = LineCheck::Complete;
    s.code = code;
    s.reason = reason;
    return s;
}

// Done: a complete status line `s`, and `consumed` bytes through the end of what was read.
Response done(const StatusLine& s, size_t consumed) {
    Response r;
    r.status = Status::Done;
    r.consumed = consumed;
    r.status_code = s.code;
    r.reason = std::string(s.reason);
    return r;
}

std::string_view without_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
}

}  // namespace

std::string base64(std::span<const std::byte> data) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const uint32_t v = static_cast<uint32_t>(data[i]) << 16 | static_cast<uint32_t>(data[i + 1]) << 8 |
                           static_cast<uint32_t>(data[i + 2]);
        out += kAlphabet[v >> 18];
        out += kAlphabet[v >> 12 & 0x3F];
        out += kAlphabet[v >> 6 & 0x3F];
        out += kAlphabet[v & 0x3F];
    }
    const size_t rest = data.size() - i;
    if (rest > 0) {
        uint32_t v = static_cast<uint32_t>(data[i]) << 16;
        if (rest == 2) v |= static_cast<uint32_t>(data[i + 1]) << 8;
        out += kAlphabet[v >> 18];
        out += kAlphabet[v >> 12 & 0x3F];
        out += rest == 2 ? kAlphabet[v >> 6 & 0x3F] : '=';
        out += '=';
    }
    return out;
}

std::string authority(const SocketAddress& a) { return a.to_string(); }

std::string authority(std::string_view host, uint16_t port) {
    std::string out;
    if (host.find(':') != std::string_view::npos) {
        out = "[";
        out += host;
        out += "]";
    } else {
        out = host;
    }
    return out + ":" + std::to_string(port);
}

bool encode_request(std::string_view authority, const std::string* user, const std::string* password,
                    std::vector<std::byte>& out) {
    if (authority.empty() || std::any_of(authority.begin(), authority.end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u <= 0x20 || u == 0x7F;
        }))
        return false;
    std::string request = "CONNECT ";
    request += authority;
    request += " HTTP/1.1\r\nHost: ";
    request += authority;
    request += "\r\n";
    if (user) {
        std::string credentials = *user + ":" + (password ? *password : std::string());
        request += "Proxy-Authorization: Basic ";
        request += base64(std::as_bytes(std::span(credentials)));
        request += "\r\n";
    }
    request += "\r\n";
    put_text(out, request);
    return true;
}

Response parse_response(std::span<const std::byte> data) {
    // Nothing past the limit is looked at: a head that has not ended within it never will.
    const size_t window = std::min(data.size(), kMaxResponseHeaderLength);
    const std::string_view text(reinterpret_cast<const char*>(data.data()), window);
    const bool at_limit = data.size() >= kMaxResponseHeaderLength;

    const size_t status_end = text.find('\n');
    if (status_end == std::string_view::npos) {
        StatusLine s = check_status_line(without_cr(text), false);
        if (s.check == LineCheck::Invalid) return invalid(std::move(s.error));
        return at_limit ? oversize() : Response{};
    }
    StatusLine s = check_status_line(without_cr(text.substr(0, status_end)), true);
    if (s.check == LineCheck::Invalid) return invalid(std::move(s.error));

    // Header lines up to the first empty one ("" or "\r").
    size_t line_start = status_end + 1;
    for (;;) {
        const size_t lf = text.find('\n', line_start);
        if (lf == std::string_view::npos) return at_limit ? oversize() : Response{};
        if (without_cr(text.substr(line_start, lf - line_start)).empty()) return done(s, lf + 1);
        line_start = lf + 1;
    }
}

Response parse_status_line(std::span<const std::byte> data) {
    const size_t window = std::min(data.size(), kMaxStatusLineLength);
    const std::string_view text(reinterpret_cast<const char*>(data.data()), window);
    const size_t end = text.find('\n');
    StatusLine s = check_status_line(without_cr(text.substr(0, end)), end != std::string_view::npos);
    if (s.check == LineCheck::Invalid) return invalid(std::move(s.error));
    if (s.check == LineCheck::Partial) {
        if (data.size() < kMaxStatusLineLength) return Response{};
        return invalid("HTTP status line over " + std::to_string(kMaxStatusLineLength) + " bytes");
    }
    return done(s, end + 1);
}

}  // namespace ferry::http_connect
