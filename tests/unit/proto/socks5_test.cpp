#include "proto/socks5.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::Rng;
using ferry_test::hex;
using ferry_test::text;
using ferry_test::cat;
using ferry_test::first;

using namespace ferry::socks5;
using Catch::Matchers::Contains;

namespace {

std::string hex_text(uint8_t v) {
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("0x") + kHex[v >> 4] + kHex[v & 0xF];
}

ferry::SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

// Every strict prefix of `msg` is Incomplete with nothing consumed and no error; the whole is Done with
// consumed == msg.size(), and bytes after it (tunnel payload) change nothing.
template <typename Parse>
auto check_prefixes(Parse parse, const Bytes& msg) {
    for (size_t n = 0; n < msg.size(); ++n) {
        auto r = parse(first(msg, n));
        INFO("prefix length " << n << ": " << r.error);
        REQUIRE(r.status == Status::Incomplete);
        REQUIRE(r.consumed == 0);
        REQUIRE(r.error.empty());
    }
    auto r = parse(msg);
    INFO(r.error);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == msg.size());
    REQUIRE(r.error.empty());
    auto r2 = parse(cat(msg, text("GET / HTTP/1.1\r\n\r\n")));
    REQUIRE(r2.status == Status::Done);
    REQUIRE(r2.consumed == msg.size());
    return r;
}

// `msg` is Incomplete for prefixes shorter than `at` and Invalid with `error` from `at` bytes on, whatever
// follows.
template <typename Parse>
auto check_invalid_from(Parse parse, const Bytes& msg, size_t at, const std::string& error) {
    REQUIRE(at <= msg.size());
    for (size_t n = 0; n < at; ++n) {
        INFO("prefix length " << n);
        REQUIRE(parse(first(msg, n)).status == Status::Incomplete);
    }
    for (size_t n = at; n <= msg.size(); ++n) {
        auto r = parse(first(msg, n));
        INFO("prefix length " << n);
        REQUIRE(r.status == Status::Invalid);
        REQUIRE(r.error == error);
    }
    auto r = parse(cat(msg, text("payload")));
    REQUIRE(r.status == Status::Invalid);
    REQUIRE(r.error == error);
    return r;
}

auto method_reply = [](const Bytes& b) { return parse_method_reply(b); };
auto auth_reply = [](const Bytes& b) { return parse_auth_reply(b); };
auto reply = [](const Bytes& b) { return parse_reply(b); };
auto greeting = [](const Bytes& b) { return parse_greeting(b); };
auto request = [](const Bytes& b) { return parse_request(b); };

Bytes encoded_connect(const Address& a) {
    Bytes out;
    REQUIRE(encode_connect(a, out));
    return out;
}

Bytes encoded_reply(uint8_t code, const ferry::SocketAddress& bound) {
    Bytes out;
    encode_reply(code, bound, out);
    return out;
}

// A deterministic generator for the mutation test (xorshift32).
// Once a parser has decided (Done or Invalid) on a prefix, longer prefixes give the same answer: the parser
// is stateless and looks only at bytes it needs. Done never consumes more than it was given.
template <typename Parse>
void check_prefix_stable(Parse parse, const Bytes& b) {
    Status decided = Status::Incomplete;
    size_t consumed = 0;
    std::string error;
    for (size_t n = 0; n <= b.size(); ++n) {
        auto r = parse(first(b, n));
        INFO("prefix length " << n);
        REQUIRE(r.consumed <= n);
        if (r.status == Status::Done) REQUIRE(r.consumed > 0);
        if (r.status == Status::Invalid) REQUIRE_FALSE(r.error.empty());
        if (decided != Status::Incomplete) {
            REQUIRE(r.status == decided);
            REQUIRE(r.consumed == consumed);
            REQUIRE(r.error == error);
        }
        decided = r.status;
        consumed = r.consumed;
        error = r.error;
    }
}

const Bytes kReplyV4 = hex("05 00 00 01 c0000201 1f90");
const Bytes kReplyV6 = hex("05 00 00 04 20010db8000000000000000000000001 01bb");
const Bytes kReplyDomain = hex("05 00 00 03 0b 6578616d706c652e636f6d 01bb");
const Bytes kRequestV4 = hex("05 01 00 01 c0000201 0050");
const Bytes kRequestV6 = hex("05 01 00 04 20010db8000000000000000000000001 01bb");
const Bytes kRequestDomain = hex("05 01 00 03 0b 6578616d706c652e636f6d 01bb");

}  // namespace

// ---------------------------------------------------------------- addresses and codes

TEST_CASE("socks5 Address: constructors, is_domain, to_string", "[socks5]") {
    Address none;
    CHECK_FALSE(none.is_domain());
    CHECK(none.ip.empty());
    CHECK(none.to_string().empty());

    Address v4(addr("192.0.2.1:80"));
    CHECK_FALSE(v4.is_domain());
    CHECK(v4.port == 80);
    CHECK(v4.to_string() == "192.0.2.1:80");

    Address v6(addr("[2001:db8::1]:80"));
    CHECK(v6.port == 80);
    CHECK(v6.to_string() == "[2001:db8::1]:80");

    Address name("example.com", 443);
    CHECK(name.is_domain());
    CHECK(name.ip.empty());
    CHECK(name.port == 443);
    CHECK(name.to_string() == "example.com:443");

    CHECK(Address("example.com", 443) == name);
    CHECK_FALSE(Address("example.com", 444) == name);
    CHECK(Address(addr("192.0.2.1:80")) == v4);
    CHECK_FALSE(Address(addr("192.0.2.1:81")) == v4);
}

TEST_CASE("socks5 reply_text: the RFC 1928 words", "[socks5]") {
    CHECK(reply_text(kSucceeded) == "succeeded");
    CHECK(reply_text(kGeneralFailure) == "general SOCKS server failure");
    CHECK(reply_text(kConnectionNotAllowed) == "connection not allowed by ruleset");
    CHECK(reply_text(kNetworkUnreachable) == "network unreachable");
    CHECK(reply_text(kHostUnreachable) == "host unreachable");
    CHECK(reply_text(kConnectionRefused) == "connection refused");
    CHECK(reply_text(kTtlExpired) == "TTL expired");
    CHECK(reply_text(kCommandNotSupported) == "command not supported");
    CHECK(reply_text(kAddressTypeNotSupported) == "address type not supported");
    CHECK(reply_text(0x09) == "unassigned reply code 0x09");
    CHECK(reply_text(0x7f) == "unassigned reply code 0x7f");
    CHECK(reply_text(0xff) == "unassigned reply code 0xff");
    CHECK(kAddressTypeNotSupported == 0x08);
}

TEST_CASE("socks5 reply_code_for_errno", "[socks5]") {
    CHECK(reply_code_for_errno(ECONNREFUSED) == 5);
    CHECK(reply_code_for_errno(ENETUNREACH) == 3);
    CHECK(reply_code_for_errno(EHOSTUNREACH) == 4);
    CHECK(reply_code_for_errno(ETIMEDOUT) == 4);
    CHECK(reply_code_for_errno(EACCES) == 2);
    CHECK(reply_code_for_errno(EPERM) == 2);
    CHECK(reply_code_for_errno(ECONNRESET) == 1);
    CHECK(reply_code_for_errno(EMFILE) == 1);
    CHECK(reply_code_for_errno(0) == 1);
}

// ---------------------------------------------------------------- client: greeting and method reply

TEST_CASE("socks5 encode_greeting", "[socks5]") {
    Bytes out = text("x");
    encode_greeting(false, out);
    CHECK(out == cat(text("x"), hex("05 01 00")));
    out.clear();
    encode_greeting(true, out);
    CHECK(out == hex("05 02 00 02"));
}

TEST_CASE("socks5 parse_method_reply", "[socks5]") {
    auto r = check_prefixes(method_reply, hex("05 00"));
    CHECK(r.method == kMethodNoAuth);
    r = check_prefixes(method_reply, hex("05 02"));
    CHECK(r.method == kMethodUserPass);
    // Any method but 0xFF is Done: whether it was offered is the caller's check.
    CHECK(parse_method_reply(hex("05 01")).method == 1);
    CHECK(parse_method_reply(hex("05 fe")).status == Status::Done);

    r = check_invalid_from(method_reply, hex("05 ff"), 2, "no acceptable authentication method");
    CHECK(r.method == 0xff);
    CHECK(r.consumed == 0);
    check_invalid_from(method_reply, hex("04 00"), 1, "invalid SOCKS5 method reply: version 0x04 (expected 0x05)");
    check_invalid_from(method_reply, hex("01 00"), 1, "invalid SOCKS5 method reply: version 0x01 (expected 0x05)");
    check_invalid_from(method_reply, text("HTTP/1.1 400 Bad Request\r\n"), 1,
                       "invalid SOCKS5 method reply: version 0x48 (expected 0x05)");
}

// ---------------------------------------------------------------- client: RFC 1929

TEST_CASE("socks5 encode_userpass", "[socks5]") {
    Bytes out;
    REQUIRE(encode_userpass("user", "pass", out));
    CHECK(out == hex("01 04 75736572 04 70617373"));

    out.clear();
    REQUIRE(encode_userpass("u", "", out));
    CHECK(out == hex("01 01 75 00"));

    const std::string u255(255, 'u'), p255(255, 'p'), s256(256, 's');
    out.clear();
    REQUIRE(encode_userpass(u255, p255, out));
    CHECK(out.size() == kMaxUserPassLength);
    CHECK(out[1] == std::byte{255});
    CHECK(out[2 + 255] == std::byte{255});
    CHECK(out.back() == std::byte{'p'});

    // Out of range: false, and `out` untouched.
    const Bytes before = text("keep");
    const std::pair<std::string_view, std::string_view> out_of_range[] = {
        {"", "pass"}, {"", ""}, {s256, "pass"}, {"user", s256}, {s256, s256}};
    for (auto [user, pass] : out_of_range) {
        out = before;
        CHECK_FALSE(encode_userpass(user, pass, out));
        CHECK(out == before);
    }
}

TEST_CASE("socks5 parse_auth_reply", "[socks5]") {
    auto r = check_prefixes(auth_reply, hex("01 00"));
    CHECK(r.auth_status == 0);
    r = check_invalid_from(auth_reply, hex("01 01"), 2, "username/password rejected (status 1)");
    CHECK(r.auth_status == 1);
    r = check_invalid_from(auth_reply, hex("01 ff"), 2, "username/password rejected (status 255)");
    CHECK(r.auth_status == 255);
    // The subnegotiation has its own version, 1: a server answering 05 00 is wrong.
    check_invalid_from(auth_reply, hex("05 00"), 1,
                       "invalid SOCKS5 username/password reply: version 0x05 (expected 0x01)");
    check_invalid_from(auth_reply, hex("00 00"), 1,
                       "invalid SOCKS5 username/password reply: version 0x00 (expected 0x01)");
}

// ---------------------------------------------------------------- client: CONNECT

TEST_CASE("socks5 encode_connect: IPv4, IPv6, domain", "[socks5]") {
    CHECK(encoded_connect(Address(addr("192.0.2.1:80"))) == kRequestV4);
    CHECK(encoded_connect(Address(addr("[2001:db8::1]:443"))) == kRequestV6);
    CHECK(encoded_connect(Address("example.com", 443)) == kRequestDomain);
    // Port 0 and 65535, and an IPv4-mapped address written as IPv6.
    CHECK(encoded_connect(Address(addr("0.0.0.0:0"))) == hex("05 01 00 01 00000000 0000"));
    CHECK(encoded_connect(Address(addr("[::ffff:192.0.2.1]:65535"))) ==
          hex("05 01 00 04 00000000000000000000ffffc0000201 ffff"));
    // Appends.
    Bytes out = hex("05 01 00");
    REQUIRE(encode_connect(Address("a", 1), out));
    CHECK(out == hex("05 01 00 05 01 00 03 01 61 0001"));
}

TEST_CASE("socks5 encode_connect: domain lengths 1, 255, 256; no address", "[socks5]") {
    Bytes out = encoded_connect(Address(std::string(255, 'd'), 8080));
    CHECK(out.size() == kMaxRequestLength);
    CHECK(out[3] == std::byte{kAddressDomain});
    CHECK(out[4] == std::byte{255});
    CHECK(out[out.size() - 2] == std::byte{0x1f});
    CHECK(out[out.size() - 1] == std::byte{0x90});

    const Bytes before = text("keep");
    out = before;
    CHECK_FALSE(encode_connect(Address(std::string(256, 'd'), 80), out));
    CHECK(out == before);
    CHECK_FALSE(encode_connect(Address(), out));
    CHECK_FALSE(encode_connect(Address("", 80), out));
    CHECK(out == before);
}

TEST_CASE("socks5 parse_reply: IPv4, IPv6 and domain, split at every offset", "[socks5]") {
    auto r = check_prefixes(reply, kReplyV4);
    CHECK(r.consumed == 10);
    CHECK(r.code == kSucceeded);
    CHECK_FALSE(r.bound.is_domain());
    CHECK(r.bound.to_string() == "192.0.2.1:8080");
    CHECK(r.bound.port == 8080);

    r = check_prefixes(reply, kReplyV6);
    CHECK(r.consumed == 22);
    CHECK(r.bound.ip.is_v6());
    CHECK(r.bound.to_string() == "[2001:db8::1]:443");
    CHECK(r.bound.port == 443);

    r = check_prefixes(reply, kReplyDomain);
    CHECK(r.consumed == 18);
    CHECK(r.bound.is_domain());
    CHECK(r.bound.domain == "example.com");
    CHECK(r.bound.port == 443);
    CHECK(r.bound.to_string() == "example.com:443");
}

TEST_CASE("socks5 parse_reply: the reply followed by payload leaves the payload", "[socks5]") {
    for (const Bytes& reply_bytes : {kReplyV4, kReplyV6, kReplyDomain}) {
        const Bytes payload = hex("16 03 01 00 05 68 65 6c 6c 6f 05 00 00 01");
        const Bytes b = cat(reply_bytes, payload);
        auto r = parse_reply(b);
        REQUIRE(r.status == Status::Done);
        REQUIRE(r.consumed == reply_bytes.size());
        CHECK(Bytes(b.begin() + static_cast<std::ptrdiff_t>(r.consumed), b.end()) == payload);
    }
}

TEST_CASE("socks5 parse_reply: domain lengths 1 and 255, zero ports", "[socks5]") {
    auto r = check_prefixes(reply, hex("05 00 00 03 01 78 0000"));
    CHECK(r.bound.domain == "x");
    CHECK(r.bound.port == 0);
    CHECK(r.bound.to_string() == "x:0");

    Bytes longest = cat(hex("05 00 00 03 ff"), cat(Bytes(255, std::byte{'d'}), hex("ffff")));
    REQUIRE(longest.size() == kMaxReplyLength);
    r = check_prefixes(reply, longest);
    CHECK(r.bound.domain == std::string(255, 'd'));
    CHECK(r.bound.port == 65535);

    // Servers commonly answer 0.0.0.0:0 or :: port 0.
    r = check_prefixes(reply, hex("05 00 00 01 00000000 0000"));
    CHECK(r.bound.to_string() == "0.0.0.0:0");
    r = check_prefixes(reply, hex("05 00 00 04 00000000000000000000000000000000 0000"));
    CHECK(r.bound.to_string() == "[::]:0");
}

TEST_CASE("socks5 parse_reply: a failure code is Invalid as soon as REP arrives", "[socks5]") {
    auto r = check_invalid_from(reply, hex("05 05 00 01 00000000 0000"), 2,
                                "SOCKS5 proxy replied: connection refused");
    CHECK(r.code == kConnectionRefused);
    CHECK(r.consumed == 0);

    for (int code = 1; code < 256; ++code) {
        const auto c = static_cast<uint8_t>(code);
        r = parse_reply(Bytes{std::byte{5}, std::byte{c}});
        INFO("REP " << code);
        CHECK(r.status == Status::Invalid);
        CHECK(r.code == c);
        CHECK(r.error == "SOCKS5 proxy replied: " + reply_text(c));
    }
    CHECK(parse_reply(hex("05 01")).error == "SOCKS5 proxy replied: general SOCKS server failure");
    CHECK(parse_reply(hex("05 02")).error == "SOCKS5 proxy replied: connection not allowed by ruleset");
    CHECK(parse_reply(hex("05 04")).error == "SOCKS5 proxy replied: host unreachable");
    CHECK(parse_reply(hex("05 09")).error == "SOCKS5 proxy replied: unassigned reply code 0x09");
    // A failure with a broken rest is still reported as the failure the proxy gave.
    CHECK(parse_reply(hex("05 03 07 09")).error == "SOCKS5 proxy replied: network unreachable");
}

TEST_CASE("socks5 parse_reply: malformed", "[socks5]") {
    check_invalid_from(reply, hex("04 00 00 01 c0000201 1f90"), 1,
                       "invalid SOCKS5 reply: version 0x04 (expected 0x05)");
    // A SOCKS4 reply (VN 0, CD 90).
    check_invalid_from(reply, hex("00 5a 1f90 c0000201"), 1, "invalid SOCKS5 reply: version 0x00 (expected 0x05)");
    check_invalid_from(reply, hex("05 00 01 01 c0000201 1f90"), 3,
                       "invalid SOCKS5 reply: reserved byte 0x01 (expected 0x00)");
    for (uint8_t atyp : {uint8_t{0}, uint8_t{2}, uint8_t{5}, uint8_t{0xff}}) {
        Bytes b = kReplyV4;
        b[3] = std::byte{atyp};
        INFO("ATYP " << int(atyp));
        auto r = check_invalid_from(reply, b, 4, "invalid SOCKS5 reply: unknown address type " + hex_text(atyp));
        CHECK(r.consumed == 0);
    }
    // An empty domain, as soon as its length byte arrives.
    check_invalid_from(reply, hex("05 00 00 03 00 0050"), 5, "invalid SOCKS5 reply: empty domain name");
}

TEST_CASE("socks5 pipelined: method reply and CONNECT reply read back to back from one buffer", "[socks5]") {
    // What a client that wrote greeting + request + first payload in one go reads back.
    Bytes sent;
    encode_greeting(false, sent);
    REQUIRE(encode_connect(Address(addr("192.0.2.1:80")), sent));
    CHECK(sent == hex("05 01 00  05 01 00 01 c0000201 0050"));

    const Bytes payload = text("HTTP/1.1 200 OK\r\n\r\n");
    const Bytes received = cat(cat(hex("05 00"), kReplyV4), payload);
    auto m = parse_method_reply(received);
    REQUIRE(m.status == Status::Done);
    REQUIRE(m.consumed == 2);
    CHECK(m.method == kMethodNoAuth);
    auto rest = std::span<const std::byte>(received).subspan(m.consumed);
    auto r = parse_reply(rest);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == kReplyV4.size());
    CHECK(r.bound.to_string() == "192.0.2.1:8080");
    CHECK(Bytes(rest.begin() + static_cast<std::ptrdiff_t>(r.consumed), rest.end()) == payload);

    // The same buffer arriving a byte at a time: each step re-parses what is there.
    for (size_t n = 0; n <= received.size(); ++n) {
        const Bytes b = first(received, n);
        INFO("received " << n);
        auto mr = parse_method_reply(b);
        if (n < 2) {
            REQUIRE(mr.status == Status::Incomplete);
            continue;
        }
        REQUIRE(mr.status == Status::Done);
        auto rr = parse_reply(first(Bytes(b.begin() + 2, b.end()), n - 2));
        if (n < 2 + kReplyV4.size()) {
            REQUIRE(rr.status == Status::Incomplete);
        } else {
            REQUIRE(rr.status == Status::Done);
            REQUIRE(rr.consumed == kReplyV4.size());
        }
    }

    // With a domain reply too, and a refusal: the method reply is fine, the CONNECT reply fails.
    const Bytes refused = cat(hex("05 00  05 05 00 01 00000000 0000"), payload);
    m = parse_method_reply(refused);
    REQUIRE(m.status == Status::Done);
    r = parse_reply(std::span<const std::byte>(refused).subspan(m.consumed));
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "SOCKS5 proxy replied: connection refused");
    const Bytes by_name = cat(hex("05 00"), cat(kReplyDomain, payload));
    r = parse_reply(std::span<const std::byte>(by_name).subspan(2));
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == kReplyDomain.size());
}

TEST_CASE("socks5 userpass exchange back to back: method reply, auth reply, CONNECT reply", "[socks5]") {
    const Bytes received = cat(hex("05 02  01 00"), cat(kReplyV6, text("data")));
    auto m = parse_method_reply(received);
    REQUIRE(m.status == Status::Done);
    CHECK(m.method == kMethodUserPass);
    auto rest = std::span<const std::byte>(received).subspan(m.consumed);
    auto a = parse_auth_reply(rest);
    REQUIRE(a.status == Status::Done);
    REQUIRE(a.consumed == 2);
    rest = rest.subspan(a.consumed);
    auto r = parse_reply(rest);
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == 22);
    CHECK(rest.size() - r.consumed == 4);
}

// ---------------------------------------------------------------- server: greeting

TEST_CASE("socks5 parse_greeting", "[socks5]") {
    auto g = check_prefixes(greeting, hex("05 01 00"));
    CHECK(g.offers_no_auth);
    CHECK_FALSE(g.offers_userpass);
    g = check_prefixes(greeting, hex("05 02 00 02"));
    CHECK(g.offers_no_auth);
    CHECK(g.offers_userpass);
    g = check_prefixes(greeting, hex("05 01 02"));
    CHECK_FALSE(g.offers_no_auth);
    CHECK(g.offers_userpass);
    g = check_prefixes(greeting, hex("05 03 01 80 fe"));
    CHECK_FALSE(g.offers_no_auth);
    CHECK_FALSE(g.offers_userpass);
    g = check_prefixes(greeting, hex("05 03 02 02 00"));  // duplicates are harmless
    CHECK(g.offers_no_auth);

    // All 255 method numbers but 0xFF.
    Bytes all = hex("05 ff");
    for (int m = 0; m < 255; ++m) all.push_back(std::byte(m));
    g = check_prefixes(greeting, all);
    CHECK(g.consumed == kMaxGreetingLength);
    CHECK(g.offers_no_auth);
    CHECK(g.offers_userpass);

    // A client that pipelines its request after the greeting: consumed stops at the greeting.
    g = parse_greeting(cat(hex("05 01 00"), kRequestV4));
    REQUIRE(g.status == Status::Done);
    CHECK(g.consumed == 3);
}

TEST_CASE("socks5 parse_greeting: malformed", "[socks5]") {
    // A SOCKS4 CONNECT to 192.0.2.1:80 with an empty user id.
    check_invalid_from(greeting, hex("04 01 0050 c0000201 00"), 1, "SOCKS4 is not supported");
    check_invalid_from(greeting, hex("05 00"), 2, "invalid SOCKS5 greeting: no authentication methods offered");
    check_invalid_from(greeting, hex("06 01 00"), 1, "invalid SOCKS5 greeting: version 0x06 (expected 0x05)");
    check_invalid_from(greeting, hex("00 01 00"), 1, "invalid SOCKS5 greeting: version 0x00 (expected 0x05)");
    check_invalid_from(greeting, text("CONNECT example.com:443 HTTP/1.1\r\n"), 1,
                       "invalid SOCKS5 greeting: version 0x43 (expected 0x05)");
    check_invalid_from(greeting, hex("16 03 01 02 00"), 1, "invalid SOCKS5 greeting: version 0x16 (expected 0x05)");
}

TEST_CASE("socks5 encode_method_reply", "[socks5]") {
    Bytes out;
    encode_method_reply(kMethodNoAuth, out);
    encode_method_reply(kMethodNoAcceptable, out);
    CHECK(out == hex("05 00 05 ff"));
}

// ---------------------------------------------------------------- server: request

TEST_CASE("socks5 parse_request: CONNECT to IPv4, IPv6 and a domain, split at every offset", "[socks5]") {
    auto r = check_prefixes(request, kRequestV4);
    CHECK(r.command == kCommandConnect);
    CHECK(r.destination.to_string() == "192.0.2.1:80");
    CHECK(r.destination.ip == addr("192.0.2.1:80"));
    CHECK(r.reply_code == kSucceeded);

    r = check_prefixes(request, kRequestV6);
    CHECK(r.destination.ip == addr("[2001:db8::1]:443"));
    CHECK(r.destination.port == 443);

    r = check_prefixes(request, kRequestDomain);
    CHECK(r.destination.is_domain());
    CHECK(r.destination.domain == "example.com");
    CHECK(r.destination.port == 443);

    // Bytes the client sent after its request (an optimistic TLS ClientHello) are not consumed.
    const Bytes b = cat(kRequestDomain, hex("16 03 01 00 c8 01"));
    r = parse_request(b);
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == kRequestDomain.size());
}

TEST_CASE("socks5 parse_request: domain lengths 1 and 255, domains that go to the resolver", "[socks5]") {
    auto r = check_prefixes(request, hex("05 01 00 03 01 61 0001"));
    CHECK(r.destination.domain == "a");
    CHECK(r.destination.port == 1);

    Bytes longest = cat(hex("05 01 00 03 ff"), cat(Bytes(255, std::byte{'d'}), hex("01bb")));
    REQUIRE(longest.size() == kMaxRequestLength);
    r = check_prefixes(request, longest);
    CHECK(r.destination.domain.size() == 255);

    // An IP literal or an IDN in UTF-8 is passed on as a name.
    r = check_prefixes(request, cat(hex("05 01 00 03 09"), cat(text("192.0.2.1"), hex("0050"))));
    CHECK(r.destination.is_domain());
    CHECK(r.destination.to_string() == "192.0.2.1:80");
    const std::string_view idn = "b\xc3\xbc" "cher.de";  // "bücher.de", 10 bytes
    r = check_prefixes(request, cat(hex("05 01 00 03 0a"), cat(text(idn), hex("0050"))));
    CHECK(r.destination.domain == idn);
}

TEST_CASE("socks5 parse_request: other commands are refused once the whole request is read", "[socks5]") {
    struct Case {
        uint8_t command;
        std::string error;
    };
    for (const Case& c : {Case{kCommandBind, "SOCKS5 command BIND is not supported"},
                          Case{kCommandUdpAssociate, "SOCKS5 command UDP ASSOCIATE is not supported"},
                          Case{0x00, "unknown SOCKS5 command 0x00"}, Case{0x09, "unknown SOCKS5 command 0x09"},
                          Case{0xff, "unknown SOCKS5 command 0xff"}}) {
        for (const Bytes& connect : {kRequestV4, kRequestV6, kRequestDomain}) {
            Bytes b = connect;
            b[1] = std::byte{c.command};
            INFO("command " << int(c.command) << " length " << b.size());
            auto r = check_invalid_from(request, b, b.size(), c.error);
            CHECK(r.reply_code == kCommandNotSupported);
            CHECK(r.command == c.command);
            CHECK(r.consumed == b.size());
            auto with_payload = parse_request(cat(b, text("xyz")));
            CHECK(with_payload.consumed == b.size());
        }
    }
    // UDP ASSOCIATE as clients send it, with 0.0.0.0:0; the destination is still reported.
    auto r = parse_request(hex("05 03 00 01 00000000 0000"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.destination.to_string() == "0.0.0.0:0");
    // Incomplete requests report the command as soon as it is there.
    CHECK(parse_request(hex("05 02")).command == kCommandBind);
    CHECK(parse_request(hex("05 02")).status == Status::Incomplete);
}

TEST_CASE("socks5 parse_request: malformed", "[socks5]") {
    auto r = check_invalid_from(request, hex("04 01 00 01 c0000201 0050"), 1,
                                "invalid SOCKS5 request: version 0x04 (expected 0x05)");
    CHECK(r.reply_code == kGeneralFailure);
    CHECK(r.consumed == 0);
    r = check_invalid_from(request, hex("05 01 01 01 c0000201 0050"), 3,
                           "invalid SOCKS5 request: reserved byte 0x01 (expected 0x00)");
    CHECK(r.reply_code == kGeneralFailure);
    CHECK(r.command == kCommandConnect);

    for (uint8_t atyp : {uint8_t{0}, uint8_t{2}, uint8_t{5}, uint8_t{0x80}}) {
        Bytes b = kRequestV4;
        b[3] = std::byte{atyp};
        INFO("ATYP " << int(atyp));
        r = check_invalid_from(request, b, 4, "invalid SOCKS5 request: unknown address type " + hex_text(atyp));
        CHECK(r.reply_code == kAddressTypeNotSupported);
        CHECK(r.consumed == 0);
    }
    // An unknown ATYP with a BIND is refused for the address type: its length cannot be known.
    r = parse_request(hex("05 02 00 07"));
    CHECK(r.reply_code == kAddressTypeNotSupported);

    r = check_invalid_from(request, hex("05 01 00 03 00 0050"), 5, "invalid SOCKS5 request: empty domain name");
    CHECK(r.reply_code == kGeneralFailure);
}

TEST_CASE("socks5 parse_request: control characters and spaces in a domain", "[socks5]") {
    for (std::string_view name : {std::string_view("exa\0mple.com", 12), std::string_view("example.com\n"),
                                  std::string_view("exa mple.com"), std::string_view("\x7f"),
                                  std::string_view("a\tb"), std::string_view("\x1b[31m")}) {
        Bytes b = hex("05 01 00 03");
        b.push_back(std::byte(name.size()));
        b = cat(cat(b, text(name)), hex("0050"));
        INFO(name);
        for (size_t n = 0; n < b.size(); ++n) REQUIRE(parse_request(first(b, n)).status == Status::Incomplete);
        auto r = parse_request(b);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reply_code == kGeneralFailure);
        CHECK(r.consumed == b.size());
        CHECK_THAT(r.error, Contains("invalid SOCKS5 request: control character or space in domain name \""));
        for (char c : r.error) CHECK(static_cast<unsigned char>(c) >= 0x20);
    }
    CHECK(parse_request(cat(hex("05 01 00 03 03"), cat(text(std::string_view("a\0b", 3)), hex("0050")))).error ==
          "invalid SOCKS5 request: control character or space in domain name \"a\\x00b\"");
    // A long bad name is quoted only in part.
    std::string name(200, 'x');
    name[100] = ' ';
    auto r = parse_request(cat(hex("05 01 00 03 c8"), cat(text(name), hex("0050"))));
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "invalid SOCKS5 request: control character or space in domain name \"" + std::string(64, 'x') +
                         "\"...");
}

// ---------------------------------------------------------------- server: reply

TEST_CASE("socks5 encode_reply", "[socks5]") {
    CHECK(encoded_reply(kSucceeded, addr("192.0.2.1:1080")) == hex("05 00 00 01 c0000201 0438"));
    CHECK(encoded_reply(kConnectionRefused, {}) == hex("05 05 00 01 00000000 0000"));
    CHECK(encoded_reply(kCommandNotSupported, {}) == hex("05 07 00 01 00000000 0000"));
    CHECK(encoded_reply(kSucceeded, addr("[2001:db8::1]:443")) == kReplyV6);
    Bytes out = hex("05 00");  // appends after a method reply
    encode_reply(kSucceeded, addr("192.0.2.1:8080"), out);
    CHECK(out == cat(hex("05 00"), kReplyV4));
}

TEST_CASE("socks5 round trips: client encoders against server parsers and back", "[socks5]") {
    for (const Address& a : {Address(addr("192.0.2.1:80")), Address(addr("[2001:db8::1]:443")),
                             Address(addr("[::ffff:192.0.2.1]:1")), Address("example.com", 443),
                             Address(std::string(255, 'z'), 65535)}) {
        INFO(a.to_string());
        auto r = parse_request(encoded_connect(a));
        REQUIRE(r.status == Status::Done);
        CHECK(r.destination == a);
    }
    for (auto bound : {addr("192.0.2.1:80"), addr("[2001:db8::2]:65535"), ferry::SocketAddress{}}) {
        auto r = parse_reply(encoded_reply(kSucceeded, bound));
        REQUIRE(r.status == Status::Done);
        if (bound.empty())
            CHECK(r.bound.to_string() == "0.0.0.0:0");
        else
            CHECK(r.bound.ip == bound);
    }
    Bytes g;
    encode_greeting(true, g);
    auto gr = parse_greeting(g);
    CHECK(gr.offers_userpass);
    CHECK(gr.offers_no_auth);
    Bytes m;
    encode_method_reply(kMethodUserPass, m);
    CHECK(parse_method_reply(m).method == kMethodUserPass);
}

TEST_CASE("socks5 mutated messages: every parser decides once and for all, within the buffer", "[socks5]") {
    const Bytes seeds[] = {kReplyV4,  kReplyV6,       kReplyDomain, kRequestV4,       kRequestV6,
                           kRequestDomain, hex("05 00"), hex("01 00"), hex("05 02 00 02")};
    Rng rng(0x9e3779b9);
    for (int round = 0; round < 400; ++round) {
        Bytes b = seeds[rng.below(std::size(seeds))];
        // One to three bytes replaced, sometimes by a length-like value, then junk appended.
        for (size_t k = 1 + rng.below(3); k > 0; --k) {
            size_t i = rng.below(b.size());
            b[i] = rng.below(4) == 0 ? std::byte(rng.below(8)) : std::byte(rng.next() & 0xFF);
        }
        for (size_t k = rng.below(12); k > 0; --k) b.push_back(std::byte(rng.next() & 0xFF));
        INFO("round " << round);
        check_prefix_stable(method_reply, b);
        check_prefix_stable(auth_reply, b);
        check_prefix_stable(reply, b);
        check_prefix_stable(greeting, b);
        check_prefix_stable(request, b);
    }
}
