// libFuzzer target for the HTTP CONNECT client (src/proto/http_connect.*): parse_response() over what an upstream
// HTTP proxy answers ferry's CONNECT, and the request encoder over the same bytes taken as authority, user and
// password (split at their first two LFs). Input: the proxy's bytes.
// Invariants:
//   - Invalid iff an error is set; consumed is 0 unless Done; Done consumes at least 1 byte, at most the input and
//     at most kMaxResponseHeaderLength, and what it consumed ends with the blank line (LF);
//   - the verdict never changes as bytes arrive, also across the 16384-byte limit (fuzz_util.h): prefixes of a
//     Done head are Incomplete; an error is an error for good;
//   - parsing the same bytes twice gives the same result;
//   - Done: the code is 100..599, the reason holds no control character but HTAB, is_success() iff 2xx, and the
//     status line rebuilt from them ("HTTP/1.1 <code> <reason>") parses to the same code and reason;
//   - parse_status_line() agrees with parse_response() on the status line: Invalid when parse_response() finds
//     the line bad; Done with the same code and reason, consuming exactly through the line's LF (at most
//     kMaxStatusLineLength bytes), whenever parse_response() is Done; its verdict never changes as bytes arrive;
//   - encode_request() refuses exactly an empty authority or one with a control character, blank or DEL, and
//     otherwise writes exactly the request line, Host and (with a user) one Proxy-Authorization line whose
//     base64 decodes to "user:password": user and password can never add a line of their own.
#include "proto/http_connect.h"

#include "fuzz_util.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::http_connect;
using ferry::fuzz::require;
using ferry::fuzz::Verdict;

bool same(const Response& a, const Response& b) {
    return a.status == b.status && a.consumed == b.consumed && a.status_code == b.status_code &&
           a.reason == b.reason && a.error == b.error;
}

bool bad_reason_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
}

void check_response(std::span<const std::byte> data) {
    const Response r = parse_response(data);
    require(same(r, parse_response(data)));
    require((r.status == Status::Invalid) == !r.error.empty());
    ferry::fuzz::check_incremental(
        data, [](std::span<const std::byte> d) {
            const Response p = parse_response(d);
            return Verdict{p.status, p.consumed};
        },
        {r.consumed - 1, r.consumed, kMaxResponseHeaderLength - 1, kMaxResponseHeaderLength,
         kMaxResponseHeaderLength + 1});
    if (r.status != Status::Done) {
        require(r.consumed == 0 && r.status_code == 0 && !r.is_success());
        return;
    }
    require(r.consumed > 0 && r.consumed <= data.size() && r.consumed <= kMaxResponseHeaderLength);
    require(data[r.consumed - 1] == std::byte{'\n'});
    require(r.status_code >= 100 && r.status_code <= 599);
    require(r.is_success() == (r.status_code >= 200 && r.status_code <= 299));
    require(std::none_of(r.reason.begin(), r.reason.end(), bad_reason_char));

    std::string rebuilt = "HTTP/1.1 " + std::to_string(r.status_code);
    if (!r.reason.empty()) rebuilt += " " + r.reason;
    rebuilt += "\r\nVia: fuzz\r\n\r\n";
    const Response back = parse_response(ferry::fuzz::to_bytes(rebuilt));
    require(back.status == Status::Done && back.consumed == rebuilt.size() && back.status_code == r.status_code &&
            back.reason == r.reason);
}

void check_status_line(std::span<const std::byte> data) {
    const Response r = parse_status_line(data);
    require(same(r, parse_status_line(data)));
    require((r.status == Status::Invalid) == !r.error.empty());
    ferry::fuzz::check_incremental(
        data, [](std::span<const std::byte> d) {
            const Response p = parse_status_line(d);
            return Verdict{p.status, p.consumed};
        },
        {r.consumed - 1, r.consumed, kMaxStatusLineLength - 1, kMaxStatusLineLength, kMaxStatusLineLength + 1});
    const Response whole = parse_response(data);
    if (r.status != Status::Done) {
        require(r.consumed == 0 && r.status_code == 0);
        // A head parse_response() accepts has a status line this accepts, unless that line is over the limit.
        if (whole.status == Status::Done) {
            const std::string_view text = ferry::fuzz::as_text(data);
            require(text.find('\n') + 1 > kMaxStatusLineLength);
        }
        return;
    }
    require(r.consumed > 0 && r.consumed <= data.size() && r.consumed <= kMaxStatusLineLength);
    require(data[r.consumed - 1] == std::byte{'\n'});
    require(ferry::fuzz::as_text(data).find('\n') + 1 == r.consumed);
    require(r.status_code >= 100 && r.status_code <= 599);
    require(whole.status != Status::Invalid || whole.error.find("over") != std::string::npos);
    if (whole.status == Status::Done) require(whole.status_code == r.status_code && whole.reason == r.reason);
}

std::optional<std::string> base64_decode(std::string_view s) {
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (s.size() % 4 != 0) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < s.size(); i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; ++j) {
            const char c = s[i + j];
            size_t digit = 0;
            if (c == '=' && i + 4 == s.size() && j >= 2) {
                ++pad;
            } else {
                if (pad > 0) return std::nullopt;
                digit = kAlphabet.find(c);
                if (digit == std::string_view::npos) return std::nullopt;
            }
            v = v << 6 | static_cast<uint32_t>(digit);
        }
        out += static_cast<char>(v >> 16);
        if (pad < 2) out += static_cast<char>(v >> 8 & 0xFF);
        if (pad < 1) out += static_cast<char>(v & 0xFF);
    }
    return out;
}

size_t count(std::string_view s, std::string_view what) {
    size_t n = 0;
    for (size_t at = s.find(what); at != std::string_view::npos; at = s.find(what, at + 1)) ++n;
    return n;
}

void check_request(std::string_view text) {
    const size_t lf1 = text.find('\n');
    const size_t lf2 = lf1 == std::string_view::npos ? lf1 : text.find('\n', lf1 + 1);
    const std::string_view authority = text.substr(0, lf1);
    const std::string user(lf1 == std::string_view::npos ? std::string_view() : text.substr(lf1 + 1, lf2 - lf1 - 1));
    const std::string password(lf2 == std::string_view::npos ? std::string_view() : text.substr(lf2 + 1));
    const bool with_user = lf1 != std::string_view::npos;

    const bool acceptable = !authority.empty() && std::none_of(authority.begin(), authority.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u == 0x7F;
    });
    std::vector<std::byte> out{std::byte{'x'}};
    const bool ok = encode_request(authority, with_user ? &user : nullptr, with_user ? &password : nullptr, out);
    require(ok == acceptable);
    if (!ok) {
        require(out.size() == 1);
        return;
    }
    const std::string_view request = ferry::fuzz::as_text(std::span(out).subspan(1));
    const std::string head = "CONNECT " + std::string(authority) + " HTTP/1.1\r\nHost: " + std::string(authority) +
                             "\r\n";
    require(request.starts_with(head) && request.ends_with("\r\n\r\n"));
    require(count(request, "\r\n") == (with_user ? 4 : 3) && count(request, "\n") == count(request, "\r\n"));
    std::string_view rest = request.substr(head.size());
    if (!with_user) {
        require(rest == "\r\n");
        return;
    }
    constexpr std::string_view kAuth = "Proxy-Authorization: Basic ";
    require(rest.starts_with(kAuth));
    rest.remove_prefix(kAuth.size());
    rest.remove_suffix(4);
    const auto decoded = base64_decode(rest);
    require(decoded && *decoded == user + ":" + password);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    check_response(input);
    check_status_line(input);
    check_request(ferry::fuzz::as_text(input));
    return 0;
}
