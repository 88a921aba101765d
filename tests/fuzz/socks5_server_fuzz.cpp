// libFuzzer target for the server half of SOCKS5 (src/proto/socks5.*): what a downstream client sends to ferry's
// SOCKS5 inbound, read as src/inbound/socks5_inbound.cpp reads it: parse_greeting(), then parse_request() on
// the bytes after the greeting (a pipelining client sends both at once). ferry's inbound offers no
// authentication, so there is no RFC 1929 request to parse on this side. Input: the client's bytes.
// Invariants, for each of the two messages:
//   - Invalid iff an error is set; Done consumes at least 1 byte and at most the input (a greeting exactly
//     2 + NMETHODS, a request exactly its address' length + 6); consumed is 0 on Incomplete;
//   - the verdict never changes as bytes arrive (fuzz_util.h): prefixes of a Done message are Incomplete;
//   - parsing the same bytes twice gives the same result;
//   - a request: Done only for CONNECT, with reply_code 0; Invalid always has a non-zero reply_code; a domain
//     is 1..255 bytes without control characters, blanks or DEL; encode_connect() of what was parsed gives back
//     the request's bytes (with the command byte as sent, for a refused command);
//   - the server's answers parse on the client side: encode_method_reply() -> parse_method_reply() and
//     encode_reply() -> parse_reply() give back the method, the code and the bound address.
#include "proto/socks5.h"

#include "fuzz_util.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace ferry::socks5;
using ferry::fuzz::require;
using ferry::fuzz::Verdict;

bool same(const Greeting& a, const Greeting& b) {
    return a.status == b.status && a.consumed == b.consumed && a.offers_no_auth == b.offers_no_auth &&
           a.offers_userpass == b.offers_userpass && a.error == b.error;
}

bool same(const Request& a, const Request& b) {
    return a.status == b.status && a.consumed == b.consumed && a.command == b.command &&
           a.destination == b.destination && a.error == b.error && a.reply_code == b.reply_code;
}

bool bad_domain_byte(char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
}

void check_greeting(std::span<const std::byte> data, const Greeting& g) {
    require(same(g, parse_greeting(data)));
    require((g.status == Status::Invalid) == !g.error.empty());
    if (g.status != Status::Done) {
        require(g.consumed == 0);
        return;
    }
    const auto count = static_cast<size_t>(data[1]);
    require(data[0] == std::byte{kVersion} && count >= 1 && g.consumed == 2 + count);
    const auto methods = data.subspan(2, count);
    require(g.offers_no_auth == (std::find(methods.begin(), methods.end(), std::byte{kMethodNoAuth}) != methods.end()));
    require(g.offers_userpass ==
            (std::find(methods.begin(), methods.end(), std::byte{kMethodUserPass}) != methods.end()));

    // The inbound's answer, read by a client.
    const uint8_t method = g.offers_no_auth ? kMethodNoAuth : kMethodNoAcceptable;
    std::vector<std::byte> reply;
    encode_method_reply(method, reply);
    const MethodReply m = parse_method_reply(reply);
    if (method == kMethodNoAcceptable) {
        require(m.status == Status::Invalid && !m.error.empty());
    } else {
        require(m.status == Status::Done && m.consumed == 2 && m.method == method);
    }
}

void check_request(std::span<const std::byte> data, const Request& r) {
    require(same(r, parse_request(data)));
    require((r.status == Status::Invalid) == !r.error.empty());
    require((r.status == Status::Invalid) == (r.reply_code != kSucceeded));
    if (r.status == Status::Incomplete) require(r.consumed == 0);
    if (r.status == Status::Done) require(r.command == kCommandConnect && r.consumed > 0);
    if (r.consumed == 0) return;  // Incomplete, or refused before the whole request was there

    // The whole request was read: its length follows from its address, and it encodes back to the same bytes.
    require(r.consumed <= data.size() && r.consumed <= kMaxRequestLength);
    const Address& d = r.destination;
    if (d.is_domain()) {
        require(d.domain.size() >= 1 && d.domain.size() <= kMaxDomainLength && d.ip.empty());
        require(r.consumed == 4 + 1 + d.domain.size() + 2);
        const bool clean = std::none_of(d.domain.begin(), d.domain.end(), bad_domain_byte);
        if (r.status == Status::Done) require(clean);
        if (r.command == kCommandConnect && !clean) require(r.status == Status::Invalid);
    } else {
        require(d.ip.is_v4() || d.ip.is_v6());
        require(d.port == d.ip.port());
        require(r.consumed == 4 + (d.ip.is_v4() ? ferry::kIpv4Length : ferry::kIpv6Length) + 2);
    }
    if (r.command != kCommandConnect) require(r.reply_code == kCommandNotSupported);
    std::vector<std::byte> encoded;
    require(encode_connect(d, encoded));
    encoded[1] = std::byte{r.command};
    require(ferry::fuzz::same_bytes(encoded, data.first(r.consumed)));

    // The inbound's answers, read by a client: success with the upstream's local address, or a refusal.
    for (uint8_t code : {kSucceeded, r.reply_code, kConnectionRefused}) {
        std::vector<std::byte> reply;
        const ferry::SocketAddress bound = d.is_domain() ? ferry::SocketAddress{} : d.ip;
        encode_reply(code, bound, reply);
        const Reply back = parse_reply(reply);
        if (code != kSucceeded) {
            require(back.status == Status::Invalid && back.code == code);
            continue;
        }
        require(back.status == Status::Done && back.consumed == reply.size() && back.code == kSucceeded);
        if (!bound.empty()) require(back.bound == Address(bound));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::span<const std::byte> bytes(input);

    const Greeting g = parse_greeting(bytes);
    check_greeting(bytes, g);
    ferry::fuzz::check_incremental(
        bytes, [](std::span<const std::byte> d) {
            const Greeting p = parse_greeting(d);
            return Verdict{p.status, p.consumed};
        },
        {g.consumed - 1, g.consumed});
    if (g.status != Status::Done) return 0;

    // What a pipelining client sent after its greeting.
    const std::vector<std::byte> rest(bytes.begin() + static_cast<std::ptrdiff_t>(g.consumed), bytes.end());
    const Request r = parse_request(rest);
    check_request(rest, r);
    ferry::fuzz::check_incremental(rest, [](std::span<const std::byte> d) {
        const Request p = parse_request(d);
        return Verdict{p.status, p.status == Status::Done ? p.consumed : 0};
    });
    return 0;
}
