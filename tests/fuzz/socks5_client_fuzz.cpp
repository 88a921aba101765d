// libFuzzer target for the client half of SOCKS5 (src/proto/socks5.*): what an upstream SOCKS5 server answers
// ferry's outbound tunnel (src/outbound/tunnel.cpp), read in the tunnel's order. Input: one flags byte (bit 0:
// ferry offered username/password, bit 1: "fake handshaking", greeting and request sent at once so the method
// reply and the CONNECT reply are read from one buffer), then the server's bytes: parse_method_reply(), then
// parse_auth_reply() when the server chose username/password, then parse_reply().
// Invariants, for each message:
//   - Invalid iff an error is set; Done consumes at least 1 byte and at most the input (exactly 2 for the
//     method and auth replies); consumed is 0 otherwise;
//   - the verdict never changes as bytes arrive (fuzz_util.h): prefixes of a Done message are Incomplete;
//   - parsing the same bytes twice gives the same result;
//   - a method reply is Done with any method but 0xFF; an auth reply is Done only for status 0 and reports a
//     non-zero status when it refuses; a reply is Done only with REP 0, a refusal carries the server's code
//     and its RFC wording;
//   - the reply encodes back to the same bytes (encode_reply() for an IP address, encode_connect() with the
//     REP byte for a domain);
//   - the client's own encoders: encode_userpass() refuses exactly the out-of-range credentials and lays out
//     01 ULEN UNAME PLEN PASSWD; encode_greeting() parses as a greeting offering what was asked.
#include "proto/socks5.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace {

using namespace ferry::socks5;
using ferry::fuzz::require;
using ferry::fuzz::Verdict;

void check_method_reply(std::span<const std::byte> data, const MethodReply& m) {
    const MethodReply again = parse_method_reply(data);
    require(again.status == m.status && again.consumed == m.consumed && again.method == m.method &&
            again.error == m.error);
    require((m.status == Status::Invalid) == !m.error.empty());
    if (m.status != Status::Done) require(m.consumed == 0);
    if (m.status == Status::Done) require(m.consumed == 2 && m.method != kMethodNoAcceptable);
    ferry::fuzz::check_incremental(data, [](std::span<const std::byte> d) {
        const MethodReply p = parse_method_reply(d);
        return Verdict{p.status, p.consumed};
    });
}

void check_auth_reply(std::span<const std::byte> data, const AuthReply& a) {
    const AuthReply again = parse_auth_reply(data);
    require(again.status == a.status && again.consumed == a.consumed && again.auth_status == a.auth_status &&
            again.error == a.error);
    require((a.status == Status::Invalid) == !a.error.empty());
    if (a.status != Status::Done) require(a.consumed == 0);
    if (a.status == Status::Done) require(a.consumed == 2 && a.auth_status == 0);
    if (data.size() >= 2 && data[0] == std::byte{kUserPassVersion})
        require(a.status == (data[1] == std::byte{0} ? Status::Done : Status::Invalid) &&
                a.auth_status == static_cast<uint8_t>(data[1]));
    ferry::fuzz::check_incremental(data, [](std::span<const std::byte> d) {
        const AuthReply p = parse_auth_reply(d);
        return Verdict{p.status, p.consumed};
    });
}

void check_reply(std::span<const std::byte> data, const Reply& r) {
    const Reply again = parse_reply(data);
    require(again.status == r.status && again.consumed == r.consumed && again.code == r.code &&
            again.bound == r.bound && again.error == r.error);
    require((r.status == Status::Invalid) == !r.error.empty());
    ferry::fuzz::check_incremental(data, [](std::span<const std::byte> d) {
        const Reply p = parse_reply(d);
        return Verdict{p.status, p.consumed};
    });
    if (r.status == Status::Invalid && r.code != kSucceeded)
        require(r.error.find(reply_text(r.code)) != std::string::npos);
    if (r.status != Status::Done) {
        require(r.consumed == 0);
        return;
    }
    require(r.code == kSucceeded && r.consumed <= kMaxReplyLength);
    std::vector<std::byte> encoded;
    if (r.bound.is_domain()) {
        require(r.bound.domain.size() >= 1 && r.bound.domain.size() <= kMaxDomainLength && r.bound.ip.empty());
        require(encode_connect(r.bound, encoded));
        encoded[1] = std::byte{kSucceeded};
    } else {
        require(r.bound.ip.is_v4() || r.bound.ip.is_v6());
        require(r.bound.port == r.bound.ip.port());
        encode_reply(kSucceeded, r.bound.ip, encoded);
    }
    require(ferry::fuzz::same_bytes(encoded, data.first(r.consumed)));
}

// The credentials ferry sends: whatever the server's bytes are, split at their middle.
void check_userpass(std::span<const std::byte> data) {
    const std::string_view text = ferry::fuzz::as_text(data);
    const std::string_view user = text.substr(0, text.size() / 2), password = text.substr(text.size() / 2);
    std::vector<std::byte> out{std::byte{0xAA}};
    const bool ok = encode_userpass(user, password, out);
    require(ok == (!user.empty() && user.size() <= 255 && password.size() <= 255));
    if (!ok) {
        require(out.size() == 1);
        return;
    }
    require(out.size() == 1 + 3 + user.size() + password.size());
    require(out[1] == std::byte{kUserPassVersion} && static_cast<size_t>(out[2]) == user.size());
    require(ferry::fuzz::as_text(std::span(out).subspan(3, user.size())) == user);
    require(static_cast<size_t>(out[3 + user.size()]) == password.size());
    require(ferry::fuzz::as_text(std::span(out).subspan(4 + user.size())) == password);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const bool userpass = (data[0] & 1) != 0;
    const bool pipelined = (data[0] & 2) != 0 && !userpass;  // the tunnel pipelines only without authentication
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data + 1, size - 1);
    std::span<const std::byte> bytes(input);
    check_userpass(bytes);
    {
        std::vector<std::byte> greeting;
        encode_greeting(userpass, greeting);
        const Greeting g = parse_greeting(greeting);
        require(g.status == Status::Done && g.consumed == greeting.size() && g.offers_no_auth &&
                g.offers_userpass == userpass);
    }

    const MethodReply m = parse_method_reply(bytes);
    check_method_reply(bytes, m);
    if (m.status != Status::Done) return 0;
    std::vector<std::byte> rest(bytes.begin() + 2, bytes.end());
    if (m.method == kMethodUserPass && userpass && !pipelined) {
        const AuthReply a = parse_auth_reply(rest);
        check_auth_reply(rest, a);
        if (a.status != Status::Done) return 0;
        rest.erase(rest.begin(), rest.begin() + 2);
    } else if (m.method != kMethodNoAuth) {
        return 0;  // the tunnel gives up: a method it did not offer
    }
    const Reply r = parse_reply(rest);
    check_reply(rest, r);
    return 0;
}
