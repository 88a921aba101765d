#include "proto/srcproxy_header.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::hex;
using ferry_test::cat;

using namespace ferry::srcproxy;
using ferry::SocketAddress;

namespace {

Bytes bytes_of(std::span<const std::byte> s) { return Bytes(s.begin(), s.end()); }

SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

constexpr std::string_view kUuid = "613200f2-0af9-40e3-9dc2-a5d6f365db1b";
constexpr std::string_view kUuidDigest = "70032a0d7130761d1d9fd670d167effd2e99c771ef6fc89aca0fb90a56ab363a";
constexpr std::string_view kBlankDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The four vectors of the reference notes.
const std::string kVector1 = "01 01 20 " + std::string(kUuidDigest) + " 04 c6336401 01bb 04 c0000282 9c40";
const std::string kVector2 =
    "01 01 20 " + std::string(kUuidDigest) + " 04 c6336401 01bb 10 00000000000000000000ffffc0000282 9c40";
const std::string kVector3 = "01 01 20 " + std::string(kBlankDigest) +
                             " 10 20010db8cccc00000000000000000001 0050 10 20010db8aaaa0000000000000000abcd bc2c";
const std::string kVector4 = "01 01 00 04 c6336401 01bb 04 c0000282 9c40";

// Every strict prefix is Incomplete with a sensible `needed`, the whole is Done with the exact length, and
// bytes after the header change nothing.
ParseResult check_prefixes(const Bytes& header) {
    size_t last_needed = 0;
    for (size_t n = 0; n < header.size(); ++n) {
        INFO("prefix length " << n);
        auto r = parse(std::span(header).first(n));
        REQUIRE(r.status == Status::Incomplete);
        REQUIRE(r.consumed == 0);
        REQUIRE(r.reason.empty());
        REQUIRE(r.needed > n);
        REQUIRE(r.needed <= header.size());
        REQUIRE(r.needed >= last_needed);
        last_needed = r.needed;
    }
    auto r = parse(header);
    INFO(r.reason);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == header.size());
    REQUIRE(r.needed == 0);
    REQUIRE(r.reason.empty());
    for (std::string_view payload : {"GET / HTTP/1.1\r\n\r\n", "\x01\x01\x20", "\x02"}) {
        Bytes more = header;
        for (char c : payload) more.push_back(static_cast<std::byte>(c));
        auto r2 = parse(more);
        REQUIRE(r2.status == Status::Done);
        REQUIRE(r2.consumed == header.size());
        REQUIRE(r2.destination == r.destination);
        REQUIRE(r2.source == r.source);
        REQUIRE(bytes_of(r2.auth()) == bytes_of(r.auth()));
    }
    return r;
}

// Bytes arriving in chunks of every size from 1 to the header length: the first Done is at the header's end.
void check_chunked(const Bytes& stream, size_t header_length) {
    for (size_t chunk = 1; chunk <= header_length; ++chunk) {
        INFO("chunk " << chunk);
        size_t have = 0;
        ParseResult r;
        do {
            have = std::min(stream.size(), have + chunk);
            r = parse(std::span(stream).first(have));
        } while (r.status == Status::Incomplete && have < stream.size());
        REQUIRE(r.status == Status::Done);
        REQUIRE(r.consumed == header_length);
    }
}

// The expected Invalid: only once the proving byte is there; every shorter prefix is Incomplete.
void check_invalid_at(const Bytes& header, size_t proving_length, std::string_view reason) {
    INFO("header " << header.size() << " bytes, proven at " << proving_length);
    for (size_t n = 0; n < proving_length; ++n) {
        INFO("prefix " << n);
        REQUIRE(parse(std::span(header).first(n)).status == Status::Incomplete);
    }
    for (size_t n = proving_length; n <= header.size(); ++n) {
        auto r = parse(std::span(header).first(n));
        INFO("prefix " << n);
        REQUIRE(r.status == Status::Invalid);
        REQUIRE(r.reason == reason);
        REQUIRE(r.consumed == 0);
        REQUIRE(r.needed == 0);
    }
}

}  // namespace

// ---------------------------------------------------------------- the reference vectors

TEST_CASE("srcproxy header: vector 1, IPv4 flow with the UUID auth (49 bytes)", "[srcproxy_header]") {
    const Bytes h = hex(kVector1);
    REQUIRE(h.size() == 49);
    auto r = check_prefixes(h);
    CHECK(r.destination.to_string() == "198.51.100.1:443");
    CHECK(r.source.to_string() == "192.0.2.130:40000");
    CHECK(r.destination.is_v4());
    CHECK(r.source.is_v4());
    CHECK(bytes_of(r.auth()) == hex(kUuidDigest));
    check_chunked(cat(h, hex("deadbeef")), h.size());

    std::vector<std::byte> out;
    const auto digest = auth_digest(kUuid);
    REQUIRE(encode(digest, addr("198.51.100.1:443"), addr("192.0.2.130:40000"), out));
    CHECK(out == h);
}

TEST_CASE("srcproxy header: vector 2, the mapped 16-byte source is read as IPv4 (61 bytes)",
          "[srcproxy_header]") {
    const Bytes h = hex(kVector2);
    REQUIRE(h.size() == 61);
    auto r = check_prefixes(h);
    CHECK(r.source.is_v4());
    CHECK(r.source.to_string() == "192.0.2.130:40000");
    CHECK(r.destination.to_string() == "198.51.100.1:443");
    CHECK(bytes_of(r.auth()) == hex(kUuidDigest));
    check_chunked(h, h.size());

    // ferry's encoder writes a mapped source in 4 bytes: vector 1, not vector 2.
    std::vector<std::byte> out;
    REQUIRE(encode(auth_digest(kUuid), addr("198.51.100.1:443"), addr("[::ffff:192.0.2.130]:40000"), out));
    CHECK(out == hex(kVector1));
}

TEST_CASE("srcproxy header: vector 3, IPv6 flow with a blank auth (73 bytes)", "[srcproxy_header]") {
    const Bytes h = hex(kVector3);
    REQUIRE(h.size() == 73);
    auto r = check_prefixes(h);
    CHECK(r.destination.to_string() == "[2001:db8:cccc::1]:80");
    CHECK(r.source.to_string() == "[2001:db8:aaaa::abcd]:48172");
    CHECK(bytes_of(r.auth()) == hex(kBlankDigest));
    check_chunked(cat(h, hex("00")), h.size());

    std::vector<std::byte> out;
    REQUIRE(encode(auth_digest(""), addr("[2001:db8:cccc::1]:80"), addr("[2001:db8:aaaa::abcd]:48172"), out));
    CHECK(out == h);
}

TEST_CASE("srcproxy header: vector 4, auth length 0 parses (the ACL rejects it)", "[srcproxy_header]") {
    const Bytes h = hex(kVector4);
    REQUIRE(h.size() == kMinHeaderLength);
    auto r = check_prefixes(h);
    CHECK(r.auth_length == 0);
    CHECK(r.auth().empty());
    CHECK(r.destination.to_string() == "198.51.100.1:443");
    CHECK(r.source.to_string() == "192.0.2.130:40000");

    std::vector<std::byte> out;
    REQUIRE(encode({}, addr("198.51.100.1:443"), addr("192.0.2.130:40000"), out));
    CHECK(out == h);
}

TEST_CASE("srcproxy header: vector 4's negative, version 2, is rejected at the first byte", "[srcproxy_header]") {
    Bytes h = hex(kVector1);
    h[0] = std::byte{0x02};
    check_invalid_at(h, 1, "unsupported version: 2");
    for (int v : {0x00, 0x03, 0x10, 0xff}) {
        h[0] = std::byte(v);
        check_invalid_at(h, 1, "unsupported version: " + std::to_string(v));
    }
}

TEST_CASE("srcproxy header: auth_digest is SHA-256 of the auth string", "[srcproxy_header]") {
    CHECK(bytes_of(auth_digest(kUuid)) == hex(kUuidDigest));
    CHECK(bytes_of(auth_digest("")) == hex(kBlankDigest));
}

// ---------------------------------------------------------------- malformed headers

TEST_CASE("srcproxy header: a wrong opcode is rejected at the second byte", "[srcproxy_header]") {
    Bytes h = hex(kVector3);
    for (int op : {0x00, 0x02, 0x7f, 0xff}) {
        h[1] = std::byte(op);
        check_invalid_at(h, 2, "unsupported opcode: " + std::to_string(op));
    }
    // The version is checked first.
    h[0] = std::byte{9};
    CHECK(parse(h).reason == "unsupported version: 9");
}

TEST_CASE("srcproxy header: destination lengths other than 4 and 16 are rejected at the length byte",
          "[srcproxy_header]") {
    const Bytes good = hex(kVector1);
    const size_t at = 3 + 32;
    REQUIRE(good[at] == std::byte{4});
    for (int len = 0; len < 256; ++len) {
        if (len == 4 || len == 16) continue;
        Bytes h = good;
        h[at] = std::byte(len);
        check_invalid_at(h, at + 1, "invalid dst addr len: " + std::to_string(len));
    }
}

TEST_CASE("srcproxy header: source lengths other than 4 and 16 are rejected at the length byte",
          "[srcproxy_header]") {
    const Bytes good = hex(kVector3);
    const size_t at = 3 + 32 + 1 + 16 + 2;
    REQUIRE(good[at] == std::byte{16});
    for (int len = 0; len < 256; ++len) {
        if (len == 4 || len == 16) continue;
        Bytes h = good;
        h[at] = std::byte(len);
        check_invalid_at(h, at + 1, "invalid src addr len: " + std::to_string(len));
    }
    // Both lengths wrong: the destination's comes first on the wire, so it is the one reported.
    Bytes h = good;
    h[3 + 32] = std::byte{5};
    h[at] = std::byte{5};
    CHECK(parse(h).reason == "invalid dst addr len: 5");
}

TEST_CASE("srcproxy header: destination port 0 is rejected as soon as both port bytes are there",
          "[srcproxy_header]") {
    Bytes h = hex("01 01 00 04 c6336401 0000 04 c0000282 9c40");
    check_invalid_at(h, 3 + 1 + 4 + 2, "invalid dst port: 0");
    h = hex("01 01 00 10 20010db8cccc00000000000000000001 0000 10 20010db8aaaa0000000000000000abcd bc2c");
    check_invalid_at(h, 3 + 1 + 16 + 2, "invalid dst port: 0");
    // One byte of the port being 0 is not enough to know.
    h = hex("01 01 00 04 c6336401 0001 04 c0000282 9c40");
    CHECK(parse(h).status == Status::Done);
    CHECK(parse(h).destination.port() == 1);
    h = hex("01 01 00 04 c6336401 0100 04 c0000282 9c40");
    CHECK(parse(h).destination.port() == 256);
}

TEST_CASE("srcproxy header: source port 0 is accepted (the kernel picks the port, as in the reference)",
          "[srcproxy_header]") {
    auto r = check_prefixes(hex("01 01 00 04 c6336401 01bb 04 c0000282 0000"));
    CHECK(r.source.to_string() == "192.0.2.130:0");
    std::vector<std::byte> out;
    CHECK(encode({}, addr("198.51.100.1:443"), addr("192.0.2.130:0"), out));
    CHECK(out == hex("01 01 00 04 c6336401 01bb 04 c0000282 0000"));
}

TEST_CASE("srcproxy header: source and destination of different families are rejected at the end",
          "[srcproxy_header]") {
    // IPv4 destination, real IPv6 source.
    Bytes h = hex("01 01 00 04 c6336401 01bb 10 20010db8aaaa0000000000000000abcd bc2c");
    check_invalid_at(h, h.size(), "src [2001:db8:aaaa::abcd]:48172 and dst 198.51.100.1:443 are not of the same "
                                  "address family");
    // IPv6 destination, IPv4 source in either form.
    for (std::string_view src : {"04 c0000282 9c40", "10 00000000000000000000ffffc0000282 9c40"}) {
        Bytes g = cat(hex("01 01 00 10 20010db8cccc00000000000000000001 0050"), hex(src));
        check_invalid_at(g, g.size(), "src 192.0.2.130:40000 and dst [2001:db8:cccc::1]:80 are not of the same "
                                      "address family");
    }
}

// ---------------------------------------------------------------- address forms

TEST_CASE("srcproxy header: every combination of 4- and 16-byte forms", "[srcproxy_header]") {
    const std::string v4_dst = "04 c6336401 01bb", mapped_dst = "10 00000000000000000000ffffc6336401 01bb";
    const std::string v4_src = "04 c0000282 9c40", mapped_src = "10 00000000000000000000ffffc0000282 9c40";
    for (const auto& dst : {v4_dst, mapped_dst}) {
        for (const auto& src : {v4_src, mapped_src}) {
            INFO(dst << " / " << src);
            auto r = check_prefixes(hex("01 01 00 " + dst + " " + src));
            CHECK(r.destination.to_string() == "198.51.100.1:443");
            CHECK(r.source.to_string() == "192.0.2.130:40000");
            CHECK(r.destination.is_v4());
            CHECK(r.source.is_v4());
        }
    }
}

TEST_CASE("srcproxy header: IPv6 forms that are not mapped stay IPv6", "[srcproxy_header]") {
    // ::c000:282 (the deprecated IPv4-compatible form) and ::ffff:0:c000:282 (the translated form) are IPv6.
    auto r = check_prefixes(hex("01 01 00 10 00000000000000000000000000000001 0016 "
                                "10 000000000000000000000000c0000282 9c40"));
    CHECK(r.destination.to_string() == "[::1]:22");
    CHECK(r.source.is_v6());
    CHECK(r.source.to_string() == "[::192.0.2.130]:40000");  // inet_ntop's spelling of ::c000:282
    r = check_prefixes(hex("01 01 00 10 0000000000000000ffff0000c6336401 01bb "
                           "10 20010db8aaaa0000000000000000abcd bc2c"));
    CHECK(r.destination.is_v6());
}

TEST_CASE("srcproxy header: unspecified and loopback addresses are the ACL's business", "[srcproxy_header]") {
    auto r = check_prefixes(hex("01 01 00 04 00000000 0050 04 00000000 0050"));
    CHECK(r.destination.to_string() == "0.0.0.0:80");
    CHECK(r.source.to_string() == "0.0.0.0:80");
    r = check_prefixes(hex("01 01 00 04 7f000001 0050 04 c0000282 9c40"));
    CHECK(r.destination.to_string() == "127.0.0.1:80");
}

// ---------------------------------------------------------------- auth lengths

TEST_CASE("srcproxy header: every auth length from 0 to 255 is kept as received", "[srcproxy_header]") {
    const auto src = addr("[2001:db8::1]:1");
    const auto dst6 = addr("[2001:db8:cccc::1]:80");
    for (size_t n = 0; n <= kMaxAuthLength; ++n) {
        INFO("auth length " << n);
        Bytes auth(n);
        for (size_t i = 0; i < n; ++i) auth[i] = std::byte((i * 37 + n) & 0xFF);
        std::vector<std::byte> out;
        REQUIRE(encode(auth, dst6, src, out));
        REQUIRE(out.size() == kFixedLength + n + 16 + 16);
        auto r = parse(out);
        REQUIRE(r.status == Status::Done);
        REQUIRE(r.consumed == out.size());
        REQUIRE(bytes_of(r.auth()) == auth);
        REQUIRE(r.destination == dst6);
        REQUIRE(r.source == src);
        if (n == kMaxAuthLength) {
            CHECK(out.size() == kMaxHeaderLength);
            check_prefixes(out);
        }
    }
}

TEST_CASE("srcproxy header: needed lets a reader take exactly the header, never more", "[srcproxy_header]") {
    for (const std::string& v : {kVector1, kVector2, kVector3, kVector4}) {
        const Bytes header = hex(v);
        const Bytes stream = cat(header, hex("ffffffffffff"));
        size_t have = 0;
        int reads = 0;
        for (;;) {
            auto r = parse(std::span(stream).first(have));
            if (r.status == Status::Done) {
                CHECK(r.consumed == header.size());
                break;
            }
            REQUIRE(r.status == Status::Incomplete);
            REQUIRE(r.needed <= header.size());
            have = r.needed;  // "read needed - have more bytes"
            ++reads;
        }
        CHECK(have == header.size());
        CHECK(reads <= 4);  // start, after A, after D, after S
    }
}

// ---------------------------------------------------------------- encode

TEST_CASE("srcproxy header: encode appends and refuses what parse would refuse", "[srcproxy_header]") {
    const auto digest = auth_digest(kUuid);
    std::vector<std::byte> out = hex("aa bb");
    REQUIRE(encode(digest, addr("198.51.100.1:443"), addr("192.0.2.130:40000"), out));
    CHECK(out == cat(hex("aa bb"), hex(kVector1)));

    const Bytes before = out;
    Bytes too_long(kMaxAuthLength + 1);
    CHECK_FALSE(encode(too_long, addr("198.51.100.1:443"), addr("192.0.2.130:40000"), out));
    CHECK_FALSE(encode(digest, SocketAddress{}, addr("192.0.2.130:40000"), out));
    CHECK_FALSE(encode(digest, addr("198.51.100.1:443"), SocketAddress{}, out));
    CHECK_FALSE(encode(digest, addr("198.51.100.1:0"), addr("192.0.2.130:40000"), out));
    CHECK_FALSE(encode(digest, addr("198.51.100.1:443"), addr("[2001:db8::1]:40000"), out));
    CHECK_FALSE(encode(digest, addr("[2001:db8::1]:443"), addr("192.0.2.130:40000"), out));
    CHECK_FALSE(encode(digest, addr("[2001:db8::1]:443"), addr("[::ffff:192.0.2.130]:40000"), out));
    CHECK(out == before);

    // A mapped destination with an IPv4 source is one family.
    out.clear();
    REQUIRE(encode(digest, addr("[::ffff:198.51.100.1]:443"), addr("192.0.2.130:40000"), out));
    CHECK(out == hex(kVector1));
}

TEST_CASE("srcproxy header: encode then parse gives back what went in", "[srcproxy_header]") {
    const std::pair<std::string_view, std::string_view> flows[] = {
        {"1.2.3.4:1", "5.6.7.8:65535"},
        {"255.255.255.255:65535", "0.0.0.0:0"},
        {"[::1]:22", "[fe80::1]:1024"},
        {"[2001:db8:ffff:ffff:ffff:ffff:ffff:ffff]:8080", "[2001:db8::]:9"},
    };
    for (auto [d, s] : flows) {
        INFO(d << " <- " << s);
        std::vector<std::byte> out;
        REQUIRE(encode(auth_digest(d), addr(d), addr(s), out));
        auto r = check_prefixes(out);
        CHECK(r.destination == addr(d));
        CHECK(r.source == addr(s));
        CHECK(bytes_of(r.auth()) == bytes_of(auth_digest(d)));
    }
}

// ---------------------------------------------------------------- robustness

TEST_CASE("srcproxy header: every byte of a header changed to every value", "[srcproxy_header]") {
    // Whatever the byte, parse gives a consistent answer on every prefix, and a Done never claims more than
    // the buffer.
    for (const std::string& v : {kVector2, kVector3}) {
        const Bytes good = hex(v);
        for (size_t pos = 0; pos < good.size(); ++pos) {
            for (int value = 0; value < 256; ++value) {
                Bytes h = good;
                h[pos] = std::byte(value);
                auto whole = parse(h);
                if (whole.status == Status::Done) {
                    REQUIRE(whole.consumed <= h.size());
                    REQUIRE(whole.consumed >= kMinHeaderLength);
                    auto again = parse(std::span(h).first(whole.consumed));
                    REQUIRE(again.status == Status::Done);
                    REQUIRE(again.consumed == whole.consumed);
                } else if (whole.status == Status::Invalid) {
                    REQUIRE_FALSE(whole.reason.empty());
                } else {
                    REQUIRE(whole.needed > h.size());
                    REQUIRE(whole.needed <= kMaxHeaderLength);
                }
            }
        }
    }
}
