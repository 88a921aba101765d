#include "proto/proxy_protocol.h"

#include "support/crc32c.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::hex;
using ferry_test::text;
using ferry_test::cat;

using namespace ferry::proxy;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string as_string(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

constexpr std::string_view kSig = "0d0a0d0a000d0a515549540a";
const std::string kTcp4Vector = std::string(kSig) + " 21 11 000c c0a80001 c0a8000b dc04 01bb";
const std::string kTcp6Vector = std::string(kSig) +
                                " 21 21 0024 20010db8000000000000000000000001 20010db8000000000000000000000002 "
                                "dc04 01bb";

ParseResult parse_bytes(const Bytes& b, const ParseOptions& o = {}) { return parse(b, o); }

ParseResult parse_prefix(const Bytes& b, size_t n, const ParseOptions& o = {}) {
    return parse(std::span(b).first(n), o);
}

// Every strict prefix of a valid header is Incomplete, the whole is Done with the exact length, and bytes
// after it do not change the result.
ParseResult check_prefixes(const Bytes& header, const ParseOptions& o = {}) {
    for (size_t n = 0; n < header.size(); ++n) {
        auto r = parse_prefix(header, n, o);
        INFO("prefix length " << n);
        REQUIRE(r.status == Status::Incomplete);
        REQUIRE(r.consumed == 0);
        REQUIRE(r.reason.empty());
    }
    auto r = parse(header, o);
    INFO(r.reason);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == header.size());
    auto with_payload = cat(header, text("GET / HTTP/1.1\r\n\r\n"));
    auto r2 = parse(with_payload, o);
    REQUIRE(r2.status == Status::Done);
    REQUIRE(r2.consumed == header.size());
    return r;
}

std::string v4(const ferry::SocketAddress& a) { return a.to_string(); }

ferry::SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

void add_tlv(Bytes& out, uint8_t type, const Bytes& value) {
    out.push_back(std::byte{type});
    out.push_back(std::byte(value.size() >> 8));
    out.push_back(std::byte(value.size() & 0xFF));
    out.insert(out.end(), value.begin(), value.end());
}

// A v2 header with the given ver/cmd and fam bytes, `body` after the fixed 16 bytes, len = body.size().
Bytes v2(uint8_t ver_cmd, uint8_t fam, const Bytes& body) {
    Bytes h = hex(kSig);
    h.push_back(std::byte{ver_cmd});
    h.push_back(std::byte{fam});
    h.push_back(std::byte(body.size() >> 8));
    h.push_back(std::byte(body.size() & 0xFF));
    return cat(h, body);
}

Bytes tcp4_block() { return hex("c0a80001 c0a8000b dc04 01bb"); }

// Fills in the CRC32C value of the TLV whose value starts at `value_off`, the way a sender does.
void seal_crc(Bytes& h, size_t value_off) {
    for (size_t i = 0; i < 4; ++i) h[value_off + i] = std::byte{0};
    uint32_t crc = ferry::crc32c(h);
    for (size_t i = 0; i < 4; ++i) h[value_off + i] = std::byte(crc >> (24 - 8 * i));
}

std::string str(const std::vector<std::byte>& v) { return as_string(v); }

}  // namespace

// ---------------------------------------------------------------- detection

TEST_CASE("detection: empty and prefixes of either signature are incomplete", "[proxy][detect]") {
    CHECK(parse_bytes({}).status == Status::Incomplete);
    for (std::string_view p : {"P", "PR", "PROX", "PROXY"}) CHECK(parse_bytes(text(p)).status == Status::Incomplete);
    Bytes sig = hex(kSig);
    for (size_t n = 1; n <= sig.size(); ++n)
        CHECK(parse_prefix(sig, n).status == Status::Incomplete);
}

TEST_CASE("detection: anything else is PROXY header missing", "[proxy][detect]") {
    for (std::string_view s : {"GET / HTTP/1.1\r\n\r\n", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "PROXYX", "PROXY\r\n",
                               "X", "SSH-2.0-OpenSSH_9.2\r\n", "\x16\x03\x01", "PROXy "}) {
        auto r = parse_bytes(text(s));
        INFO(s);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == "PROXY header missing");
        CHECK(r.consumed == 0);
    }
    // A broken signature, at every position.
    Bytes h = hex(kTcp4Vector);
    for (size_t i = 0; i < 12; ++i) {
        Bytes b = h;
        b[i] ^= std::byte{0x40};
        auto r = parse_bytes(b);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == "PROXY header missing");
        // As soon as the wrong byte is there.
        CHECK(parse_prefix(b, i + 1).status == Status::Invalid);
    }
}

TEST_CASE("detection: disabled versions", "[proxy][detect]") {
    ParseOptions no_v1;
    no_v1.accept_v1 = false;
    auto r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), no_v1);
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "PROXY v1 header not accepted");
    CHECK(parse_bytes(text("PRO"), no_v1).reason == "PROXY header missing");
    CHECK(parse_bytes(hex(kTcp4Vector), no_v1).status == Status::Done);

    ParseOptions no_v2;
    no_v2.accept_v2 = false;
    r = parse_bytes(hex(kTcp4Vector), no_v2);
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "PROXY v2 header not accepted");
    CHECK(parse_bytes(hex("0d0a0d"), no_v2).reason == "PROXY header missing");
    CHECK(parse_bytes({}, no_v2).status == Status::Incomplete);
    CHECK(parse_bytes(text("PROXY UNKNOWN\r\n"), no_v2).status == Status::Done);

    ParseOptions none;
    none.accept_v1 = none.accept_v2 = false;
    CHECK(parse_bytes({}, none).status == Status::Invalid);
}

// ---------------------------------------------------------------- v2 vectors

TEST_CASE("v2 TCP4 vector (28 bytes)", "[proxy][v2]") {
    Bytes h = hex(kTcp4Vector);
    REQUIRE(h.size() == 28);
    auto r = check_prefixes(h);
    CHECK(r.header.version == 2);
    CHECK(r.header.command == Command::Proxy);
    CHECK(r.header.family == Family::Inet);
    CHECK(r.header.transport == Transport::Stream);
    CHECK(r.header.has_addresses());
    CHECK(v4(r.header.source) == "192.168.0.1:56324");
    CHECK(v4(r.header.destination) == "192.168.0.11:443");
    CHECK(r.header.tlvs.empty());
    CHECK_FALSE(r.header.crc32c_present);
    CHECK_FALSE(r.header.ssl);
    CHECK(r.reason.empty());
}

TEST_CASE("v2 TCP6 vector (52 bytes)", "[proxy][v2]") {
    Bytes h = hex(kTcp6Vector);
    REQUIRE(h.size() == 52);
    auto r = check_prefixes(h);
    CHECK(r.header.family == Family::Inet6);
    CHECK(r.header.transport == Transport::Stream);
    CHECK(r.header.source.to_string() == "[2001:db8::1]:56324");
    CHECK(r.header.destination.to_string() == "[2001:db8::2]:443");
}

TEST_CASE("v2 LOCAL", "[proxy][v2]") {
    auto r = check_prefixes(hex(std::string(kSig) + "20 00 0000"));
    CHECK(r.consumed == 16);
    CHECK(r.header.version == 2);
    CHECK(r.header.command == Command::Local);
    CHECK_FALSE(r.header.has_addresses());
    CHECK(r.header.source.empty());

    // len bytes are skipped whatever they hold, and whatever the family says.
    r = check_prefixes(hex(std::string(kSig) + "20 00 0005 ffffffffff"));
    CHECK(r.consumed == 21);
    CHECK(r.header.tlvs.empty());
    r = check_prefixes(hex(std::string(kSig) + "20 11 000c c0a80001 c0a8000b dc04 01bb"));
    CHECK(r.header.command == Command::Local);
    CHECK(r.header.family == Family::Inet);
    CHECK_FALSE(r.header.has_addresses());
    // LOCAL does not need a full address block, and does not care about the transport.
    CHECK(parse_bytes(hex(std::string(kSig) + "20 21 0000")).status == Status::Done);
    CHECK(parse_bytes(hex(std::string(kSig) + "20 12 0000")).status == Status::Done);
}

TEST_CASE("v2 go-mmproxy 2.1 crash header is Invalid", "[proxy][v2]") {
    auto r = parse_bytes(hex(std::string(kSig) + "21 11 0000"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v2 header: address block of 0 bytes is shorter than 12");
    // Even with bytes following that would make up the block: len is what counts.
    r = parse_bytes(cat(hex(std::string(kSig) + "21 11 0000"), tcp4_block()));
    CHECK(r.status == Status::Invalid);

    r = parse_bytes(hex(std::string(kSig) + "21 11 000b"));
    CHECK(r.reason == "failed to parse PROXY v2 header: address block of 11 bytes is shorter than 12");
    r = parse_bytes(hex(std::string(kSig) + "21 21 000c"));
    CHECK(r.reason == "failed to parse PROXY v2 header: address block of 12 bytes is shorter than 36");
    r = parse_bytes(hex(std::string(kSig) + "21 31 00d7"));
    CHECK(r.reason == "failed to parse PROXY v2 header: address block of 215 bytes is shorter than 216");
}

TEST_CASE("v2 version and command nibbles", "[proxy][v2]") {
    for (int ver = 0; ver < 16; ++ver) {
        if (ver == 2) continue;
        auto h = v2(static_cast<uint8_t>(ver << 4 | 1), 0x11, tcp4_block());
        auto r = parse_prefix(h, 13);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == "failed to parse PROXY v2 header: unknown protocol version " + std::to_string(ver));
    }
    for (int cmd = 2; cmd < 16; ++cmd) {
        auto h = v2(static_cast<uint8_t>(0x20 | cmd), 0x11, tcp4_block());
        auto r = parse_bytes(h);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == "failed to parse PROXY v2 header: unknown command " + std::to_string(cmd));
    }
}

TEST_CASE("v2 family/transport byte", "[proxy][v2]") {
    ParseOptions any;
    any.transport = Transport::Unspec;
    for (int f = 0; f < 256; ++f) {
        const auto fam = static_cast<uint8_t>(f);
        const bool valid = f == 0x00 || f == 0x11 || f == 0x12 || f == 0x21 || f == 0x22 || f == 0x31 || f == 0x32;
        for (uint8_t cmd : {uint8_t{0x20}, uint8_t{0x21}}) {
            auto h = v2(cmd, fam, Bytes(216, std::byte{0}));
            auto r = parse(h, any);
            INFO("fam " << f << " cmd " << int(cmd));
            if (valid) {
                CHECK(r.status == Status::Done);
                CHECK(r.consumed == 16 + 216);
            } else {
                CHECK(r.status == Status::Invalid);
                CHECK(r.reason == "failed to parse PROXY v2 header: invalid family/protocol " + std::to_string(f >> 4) +
                                      "/" + std::to_string(f & 0xF));
                // Rejected as soon as byte 14 arrives.
                CHECK(parse_prefix(h, 14, any).status == Status::Invalid);
            }
        }
    }
}

TEST_CASE("v2 DGRAM vs STREAM expectations", "[proxy][v2]") {
    auto dgram4 = v2(0x21, 0x12, tcp4_block());
    auto stream4 = v2(0x21, 0x11, tcp4_block());
    auto dgram6 = v2(0x21, 0x22, Bytes(36, std::byte{1}));

    auto r = parse_bytes(dgram4);
    CHECK(r.status == Status::Invalid);
    CHECK_THAT(r.reason, StartsWith("failed to parse PROXY v2 header: invalid family/protocol 1/2"));
    CHECK(parse_prefix(dgram4, 14).status == Status::Invalid);
    CHECK(parse_bytes(dgram6).status == Status::Invalid);

    ParseOptions udp;
    udp.transport = Transport::Dgram;
    r = check_prefixes(dgram4, udp);
    CHECK(r.header.transport == Transport::Dgram);
    CHECK(v4(r.header.source) == "192.168.0.1:56324");
    CHECK(check_prefixes(dgram6, udp).header.family == Family::Inet6);
    r = parse_bytes(stream4, udp);
    CHECK(r.status == Status::Invalid);
    CHECK_THAT(r.reason, StartsWith("failed to parse PROXY v2 header: invalid family/protocol 1/1"));
    // UDP listeners take LOCAL and refuse v1.
    CHECK(parse_bytes(hex(std::string(kSig) + "20 00 0000"), udp).status == Status::Done);
    r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), udp);
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "PROXY v1 header not accepted on datagram sockets");

    ParseOptions any;
    any.transport = Transport::Unspec;
    CHECK(parse_bytes(dgram4, any).status == Status::Done);
    CHECK(parse_bytes(stream4, any).status == Status::Done);
    CHECK(parse_bytes(text("PROXY UNKNOWN\r\n"), any).status == Status::Done);
}

TEST_CASE("v2 PROXY with UNSPEC family is accepted without addresses", "[proxy][v2]") {
    auto r = check_prefixes(hex(std::string(kSig) + "21 00 0000"));
    CHECK(r.header.command == Command::Proxy);
    CHECK(r.header.family == Family::Unspec);
    CHECK_FALSE(r.header.has_addresses());
    r = check_prefixes(hex(std::string(kSig) + "21 00 0004 01020304"));
    CHECK(r.consumed == 20);
    CHECK(r.header.tlvs.empty());
}

TEST_CASE("v2 PROXY with UNIX family: no socket addresses, TLVs parsed", "[proxy][v2]") {
    Bytes body(216, std::byte{'a'});
    add_tlv(body, kTlvAuthority, text("unix.example"));
    auto r = check_prefixes(v2(0x21, 0x31, body));
    CHECK(r.header.family == Family::Unix);
    CHECK(r.header.transport == Transport::Stream);
    CHECK_FALSE(r.header.has_addresses());
    CHECK(r.header.authority == "unix.example");
    ParseOptions udp;
    udp.transport = Transport::Dgram;
    CHECK(parse(v2(0x21, 0x32, Bytes(216, std::byte{0})), udp).status == Status::Done);
}

TEST_CASE("v2 source port 0 and extreme values", "[proxy][v2]") {
    auto r = parse_bytes(v2(0x21, 0x11, hex("00000000 ffffffff 0000 ffff")));
    REQUIRE(r.status == Status::Done);
    CHECK(r.header.source.port() == 0);
    CHECK(v4(r.header.source) == "0.0.0.0:0");
    CHECK(v4(r.header.destination) == "255.255.255.255:65535");
}

TEST_CASE("v2 incomplete reports the total length once known", "[proxy][v2]") {
    Bytes h = hex(kTcp6Vector);
    CHECK(parse_prefix(h, 15).needed == 0);
    for (size_t n = 16; n < h.size(); ++n) CHECK(parse_prefix(h, n).needed == 52);
    CHECK(parse_bytes(h).needed == 0);

    // The largest header: 16 + 65535 bytes.
    Bytes big = v2(0x20, 0x00, Bytes(65535, std::byte{0}));
    CHECK(parse_prefix(big, 65550).needed == 65551);
    CHECK(parse_bytes(big).consumed == 65551);
}

TEST_CASE("v2 payload after the header is not consumed", "[proxy][v2]") {
    Bytes h = cat(hex(kTcp4Vector), text("\r\n\r\n\0\r\nQUIT\nPROXY more"));
    auto r = parse_bytes(h);
    CHECK(r.status == Status::Done);
    CHECK(r.consumed == 28);
    // A second header right after is payload too.
    h = cat(hex(kTcp4Vector), hex(kTcp6Vector));
    CHECK(parse_bytes(h).consumed == 28);
}

// ---------------------------------------------------------------- v2 TLVs

TEST_CASE("v2 every TLV type", "[proxy][tlv]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvAlpn, text("h2"));
    add_tlv(body, kTlvAuthority, text("example.com"));
    add_tlv(body, kTlvNoop, Bytes(3, std::byte{0x55}));
    add_tlv(body, kTlvUniqueId, text("req-42"));
    Bytes ssl = hex("07 00000000");
    add_tlv(ssl, kTlvSslVersion, text("TLSv1.3"));
    add_tlv(ssl, kTlvSslCn, text("client.example"));
    add_tlv(ssl, kTlvSslCipher, text("TLS_AES_128_GCM_SHA256"));
    add_tlv(ssl, kTlvSslSigAlg, text("SHA256"));
    add_tlv(ssl, kTlvSslKeyAlg, text("RSA2048"));
    add_tlv(ssl, 0x26, text("other"));
    add_tlv(body, kTlvSsl, ssl);
    add_tlv(body, kTlvNetns, text("blue"));
    add_tlv(body, 0xE0, text("custom"));
    add_tlv(body, 0xF0, {});
    add_tlv(body, 0xF8, text("future"));

    auto r = check_prefixes(v2(0x21, 0x11, body));
    const Header& h = r.header;
    CHECK(v4(h.source) == "192.168.0.1:56324");
    REQUIRE(h.tlvs.size() == 9);
    const uint8_t types[] = {kTlvAlpn, kTlvAuthority, kTlvNoop, kTlvUniqueId, kTlvSsl, kTlvNetns, 0xE0, 0xF0, 0xF8};
    for (size_t i = 0; i < 9; ++i) CHECK(h.tlvs[i].type == types[i]);
    CHECK(h.tlvs[0].value == text("h2"));
    CHECK(h.tlvs[2].value == Bytes(3, std::byte{0x55}));
    CHECK(h.tlvs[4].value == ssl);
    CHECK(h.tlvs[6].type == 0xE0);
    CHECK(str(h.tlvs[6].value) == "custom");
    CHECK(h.tlvs[7].type == 0xF0);
    CHECK(h.tlvs[7].value.empty());
    CHECK(str(h.tlvs[8].value) == "future");
    CHECK(h.alpn == "h2");
    CHECK(h.authority == "example.com");
    CHECK(h.unique_id == "req-42");
    CHECK(h.netns == "blue");
    REQUIRE(h.ssl);
    CHECK(h.ssl->client == (kClientSsl | kClientCertConn | kClientCertSess));
    CHECK(h.ssl->verify == 0);
    CHECK(h.ssl->version == "TLSv1.3");
    CHECK(h.ssl->cn == "client.example");
    CHECK(h.ssl->cipher == "TLS_AES_128_GCM_SHA256");
    CHECK(h.ssl->sig_alg == "SHA256");
    CHECK(h.ssl->key_alg == "RSA2048");
    REQUIRE(h.ssl->other.size() == 1);
    CHECK(h.ssl->other[0].type == 0x26);
    CHECK(str(h.ssl->other[0].value) == "other");
    CHECK_FALSE(h.crc32c_present);
}

TEST_CASE("v2 SSL TLV without sub-TLVs and with a failed verify", "[proxy][tlv]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvSsl, hex("01 00000015"));
    auto r = parse_bytes(v2(0x21, 0x11, body));
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.header.ssl);
    CHECK(r.header.ssl->client == kClientSsl);
    CHECK(r.header.ssl->verify == 0x15);
    CHECK_FALSE(r.header.ssl->version);
    CHECK(r.header.ssl->other.empty());
}

TEST_CASE("v2 malformed SSL TLV", "[proxy][tlv]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvSsl, hex("01 000000"));
    auto r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v2 header: SSL TLV of 4 bytes is shorter than 5");

    body = tcp4_block();
    add_tlv(body, kTlvSsl, hex("01 00000000 21 0005 544c53"));  // sub-TLV claims 5, has 3
    r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.status == Status::Invalid);
    CHECK_THAT(r.reason, Contains("SSL sub-TLV 0x21 of 5 bytes runs past the SSL TLV"));

    body = tcp4_block();
    add_tlv(body, kTlvSsl, hex("01 00000000 21 00"));  // truncated sub-TLV header
    r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.status == Status::Invalid);
    CHECK_THAT(r.reason, Contains("truncated SSL sub-TLV header"));
}

TEST_CASE("v2 truncated TLVs are Invalid", "[proxy][tlv]") {
    for (const char* tail : {"01", "01 00", "01 0003 6832", "20 0010 01", "05 ffff"}) {
        auto h = v2(0x21, 0x11, cat(tcp4_block(), hex(tail)));
        // Payload bytes after the header must not complete a TLV.
        auto r = parse_bytes(cat(h, Bytes(70000, std::byte{0})));
        INFO(tail);
        CHECK(r.status == Status::Invalid);
        CHECK_THAT(r.reason, StartsWith("failed to parse PROXY v2 header: "));
    }
    auto r = parse_bytes(v2(0x21, 0x11, cat(tcp4_block(), hex("01 00"))));
    CHECK(r.reason == "failed to parse PROXY v2 header: truncated TLV header (2 bytes left)");
    r = parse_bytes(v2(0x21, 0x11, cat(tcp4_block(), hex("02 0003 6832"))));
    CHECK(r.reason == "failed to parse PROXY v2 header: TLV 0x02 of 3 bytes runs past the end of the header");
}

TEST_CASE("v2 TLVs after an INET6 address block; empty values", "[proxy][tlv]") {
    Bytes body = hex("20010db8000000000000000000000001 20010db8000000000000000000000002 dc04 01bb");
    add_tlv(body, kTlvAlpn, {});
    add_tlv(body, kTlvNoop, {});
    auto r = check_prefixes(v2(0x21, 0x21, body));
    CHECK(r.header.alpn == "");
    CHECK(r.header.tlvs.size() == 2);
}

TEST_CASE("v2 UNIQUE_ID length limit", "[proxy][tlv]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvUniqueId, Bytes(128, std::byte{'u'}));
    auto r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.status == Status::Done);
    CHECK(r.header.unique_id->size() == 128);

    body = tcp4_block();
    add_tlv(body, kTlvUniqueId, Bytes(129, std::byte{'u'}));
    r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v2 header: UNIQUE_ID TLV of 129 bytes is longer than 128");
}

TEST_CASE("v2 CRC32C good and bad", "[proxy][tlv][crc]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvAuthority, text("example.com"));
    add_tlv(body, kTlvCrc32c, Bytes(4, std::byte{0}));
    Bytes h = v2(0x21, 0x11, body);
    const size_t value_off = h.size() - 4;
    seal_crc(h, value_off);

    auto r = check_prefixes(h);
    CHECK(r.header.crc32c_present);
    CHECK(r.header.authority == "example.com");
    REQUIRE(r.header.tlvs.size() == 2);
    CHECK(r.header.tlvs[1].type == kTlvCrc32c);

    // Any flipped bit after the fixed part is caught, except in the CRC32C type byte itself: 0x03 ^ 0x01 is a
    // plain AUTHORITY TLV, and nothing is left to check.
    for (size_t i = 16; i < h.size(); ++i) {
        if (i == value_off - 3) continue;
        Bytes bad = h;
        bad[i] ^= std::byte{0x01};
        auto rb = parse_bytes(bad);
        INFO("byte " << i);
        CHECK(rb.status == Status::Invalid);
    }
    Bytes bad = h;
    bad[value_off + 3] ^= std::byte{0x80};
    r = parse_bytes(bad);
    CHECK(r.reason == "failed to parse PROXY v2 header: CRC32C checksum mismatch");
    // An all-zero checksum is not special.
    bad = h;
    for (size_t i = 0; i < 4; ++i) bad[value_off + i] = std::byte{0};
    CHECK(parse_bytes(bad).status == Status::Invalid);
}

TEST_CASE("v2 CRC32C covers the TLVs after it and the whole header", "[proxy][tlv][crc]") {
    Bytes body = hex("20010db8000000000000000000000001 20010db8000000000000000000000002 dc04 01bb");
    add_tlv(body, kTlvCrc32c, Bytes(4, std::byte{0}));
    const size_t value_off = 16 + body.size() - 4;
    add_tlv(body, kTlvNoop, text("pad"));
    Bytes h = v2(0x21, 0x21, body);
    seal_crc(h, value_off);
    auto r = check_prefixes(h);
    CHECK(r.header.crc32c_present);
    h.back() ^= std::byte{0x20};
    CHECK(parse_bytes(h).reason == "failed to parse PROXY v2 header: CRC32C checksum mismatch");
}

TEST_CASE("v2 CRC32C TLV must be 4 bytes and single", "[proxy][tlv][crc]") {
    Bytes body = tcp4_block();
    add_tlv(body, kTlvCrc32c, Bytes(3, std::byte{0}));
    auto r = parse_bytes(v2(0x21, 0x11, body));
    CHECK(r.reason == "failed to parse PROXY v2 header: CRC32C TLV of 3 bytes (must be 4)");

    body = tcp4_block();
    add_tlv(body, kTlvCrc32c, Bytes(4, std::byte{0}));
    add_tlv(body, kTlvCrc32c, Bytes(4, std::byte{0}));
    Bytes h = v2(0x21, 0x11, body);
    // Seal the first; the second is then either wrong or a duplicate, both Invalid.
    seal_crc(h, 16 + 12 + 3);
    CHECK(parse_bytes(h).status == Status::Invalid);
}

// ---------------------------------------------------------------- v1

TEST_CASE("v1 TCP4", "[proxy][v1]") {
    auto r = check_prefixes(text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"));
    CHECK(r.consumed == 47);
    CHECK(r.header.version == 1);
    CHECK(r.header.command == Command::Proxy);
    CHECK(r.header.family == Family::Inet);
    CHECK(r.header.transport == Transport::Stream);
    CHECK(v4(r.header.source) == "192.168.0.1:56324");
    CHECK(v4(r.header.destination) == "192.168.0.11:443");
    CHECK(r.header.tlvs.empty());
}

TEST_CASE("v1 TCP4 extremes: port 0, 65535, 0.0.0.0, 255.255.255.255", "[proxy][v1]") {
    auto r = check_prefixes(text("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"));
    CHECK(v4(r.header.source) == "0.0.0.0:0");
    CHECK(v4(r.header.destination) == "255.255.255.255:65535");
    // The longest TCP4 line is 56 bytes.
    auto line = text("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    CHECK(line.size() == 56);
    check_prefixes(line);
}

TEST_CASE("v1 TCP6", "[proxy][v1]") {
    auto r = check_prefixes(text("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"));
    CHECK(r.header.family == Family::Inet6);
    CHECK(r.header.source.to_string() == "[2001:db8::1]:56324");
    CHECK(r.header.destination.to_string() == "[2001:db8::2]:443");
    r = check_prefixes(text("PROXY TCP6 ::ffff:192.0.2.1 :: 1 2\r\n"));
    CHECK(r.header.source.to_string() == "[::ffff:192.0.2.1]:1");
    CHECK(r.header.source.unmapped().to_string() == "192.0.2.1:1");
    CHECK(r.header.destination.is_unspecified());
    auto line = text("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                     "65535 65535\r\n");
    CHECK(line.size() == 104);
    check_prefixes(line);
}

TEST_CASE("v1 UNKNOWN", "[proxy][v1]") {
    for (std::string_view s : {"PROXY UNKNOWN\r\n",
                               "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
                               "PROXY UNKNOWN 192.168.0.1 192.168.0.11 56324 443\r\n", "PROXY UNKNOWN \r\n",
                               "PROXY UNKNOWN  anything\tgoes \x01\xff here\r\n"}) {
        INFO(s);
        auto r = check_prefixes(text(s));
        CHECK(r.consumed == s.size());
        CHECK(r.header.version == 1);
        CHECK(r.header.command == Command::Local);
        CHECK(r.header.family == Family::Unspec);
        CHECK_FALSE(r.header.has_addresses());
    }
    auto r = parse_bytes(text("PROXY UNKNOWNX\r\n"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v1 header: unknown protocol UNKNOWNX");
    // UNKNOWN still has a lone-LF rule and the length limit.
    CHECK(parse_bytes(text("PROXY UNKNOWN a\nb\r\n")).status == Status::Invalid);
}

TEST_CASE("v1 107-byte limit", "[proxy][v1]") {
    std::string at = "PROXY UNKNOWN ";
    at += std::string(107 - at.size() - 2, 'x') + "\r\n";
    REQUIRE(at.size() == 107);
    auto r = check_prefixes(text(at));
    CHECK(r.consumed == 107);

    std::string over = "PROXY UNKNOWN ";
    over += std::string(108 - over.size() - 2, 'x') + "\r\n";
    REQUIRE(over.size() == 108);
    r = parse_bytes(text(over));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v1 header: did not find \\r\\n within 107 bytes");
    // Decided at byte 107: the CR sits there, and the LF could only make it 108.
    CHECK(parse_prefix(text(over), 107).status == Status::Invalid);
    CHECK(parse_prefix(text(over), 106).status == Status::Incomplete);

    // No CR/LF at all.
    std::string none = "PROXY UNKNOWN " + std::string(200, 'y');
    CHECK(parse_prefix(text(none), 106).status == Status::Incomplete);
    r = parse_prefix(text(none), 107);
    CHECK(r.reason == "failed to parse PROXY v1 header: did not find \\r\\n within 107 bytes");

    // A TCP6 line of exactly 107 bytes with a 45-character address, and one byte over.
    std::string src = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
    std::string dst = "1111:2222:3333:4444:5555:6666:7777:8";
    std::string line = "PROXY TCP6 " + src + " " + dst + " 65535 65535\r\n";
    REQUIRE(line.size() == 107);
    r = check_prefixes(text(line));
    CHECK(r.header.source.to_string() == "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
    line = "PROXY TCP6 " + src + " " + dst + "8 65535 65535\r\n";
    CHECK(parse_bytes(text(line)).status == Status::Invalid);
}

TEST_CASE("v1 spaces", "[proxy][v1]") {
    struct Case {
        const char* line;
        const char* reason;
    } cases[] = {
        {"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "empty protocol (extra space?)"},
        {"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "empty source address (extra space?)"},
        {"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "empty destination address (extra space?)"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", "empty source port (extra space?)"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n", "unexpected data after destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "unexpected data after destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n", "empty destination port (extra space?)"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "unexpected data after destination port"},
        {"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "invalid source address \"1.2.3.4\\x095.6.7.8\" for TCP4"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "missing destination port"},
        {"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", "missing source port"},
        {"PROXY TCP4 1.2.3.4\r\n", "missing destination address"},
        {"PROXY TCP4\r\n", "missing source address"},
        {"PROXY TCP4 \r\n", "empty source address (extra space?)"},
        {"PROXY \r\n", "empty protocol (extra space?)"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        auto r = parse_bytes(text(c.line));
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == std::string("failed to parse PROXY v1 header: ") + c.reason);
    }
}

TEST_CASE("v1 addresses: canonical forms and family mismatch", "[proxy][v1]") {
    struct Case {
        const char* line;
        const char* reason;
    } cases[] = {
        {"PROXY TCP4 192.168.000.1 1.2.3.4 1 2\r\n", "invalid source address \"192.168.000.1\" for TCP4"},
        {"PROXY TCP4 01.2.3.4 1.2.3.4 1 2\r\n", "invalid source address \"01.2.3.4\" for TCP4"},
        {"PROXY TCP4 1.2.3.4 1.2.3.04 1 2\r\n", "invalid destination address \"1.2.3.04\" for TCP4"},
        {"PROXY TCP4 256.2.3.4 1.2.3.4 1 2\r\n", "invalid source address \"256.2.3.4\" for TCP4"},
        {"PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", "invalid source address \"1.2.3\" for TCP4"},
        {"PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n", "invalid source address \"1.2.3.4.5\" for TCP4"},
        {"PROXY TCP4 1..3.4 1.2.3.4 1 2\r\n", "invalid source address \"1..3.4\" for TCP4"},
        {"PROXY TCP4 1.2.3.4. 1.2.3.4 1 2\r\n", "invalid source address \"1.2.3.4.\" for TCP4"},
        {"PROXY TCP4 .1.2.3 1.2.3.4 1 2\r\n", "invalid source address \".1.2.3\" for TCP4"},
        {"PROXY TCP4 2001:db8::1 1.2.3.4 1 2\r\n", "invalid source address \"2001:db8::1\" for TCP4"},
        {"PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "invalid destination address \"::1\" for TCP4"},
        {"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "invalid source address \"1.2.3.4\" for TCP6"},
        {"PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "invalid destination address \"5.6.7.8\" for TCP6"},
        {"PROXY TCP6 [::1] ::1 1 2\r\n", "invalid source address \"[::1]\" for TCP6"},
        {"PROXY TCP6 2001:db8::g ::1 1 2\r\n", "invalid source address \"2001:db8::g\" for TCP6"},
        {"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "invalid source address \"1:2:3:4:5:6:7:8:9\" for TCP6"},
        {"PROXY TCP6 ::1%eth0 ::1 1 2\r\n", "invalid source address \"::1%eth0\" for TCP6"},
        {"PROXY TCP4 localhost 1.2.3.4 1 2\r\n", "invalid source address \"localhost\" for TCP4"},
        {"PROXY TCP4 1.2.3.\x01 5.6.7.8 1 2\r\n", "invalid source address \"1.2.3.\\x01\" for TCP4"},
    };
    for (const auto& c : cases) {
        INFO(c.line);
        auto r = parse_bytes(text(c.line));
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == std::string("failed to parse PROXY v1 header: ") + c.reason);
    }
    // An embedded NUL must not cut the address short (inet_pton stops at it). Found by the fuzzer.
    using namespace std::string_view_literals;
    auto r = parse_bytes(text("PROXY TCP6 2001:db8::1 ::ff\0Pff:1.2.3.4 0 65535\r\n"sv));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v1 header: invalid destination address \"::ff\\x00Pff:1.2.3.4\" for TCP6");
    r = parse_bytes(text("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"sv));
    CHECK(r.status == Status::Invalid);
}

TEST_CASE("v1 ports", "[proxy][v1]") {
    for (const char* ok : {"0", "1", "9", "10", "443", "65535"}) {
        auto line = std::string("PROXY TCP4 1.2.3.4 5.6.7.8 ") + ok + " " + ok + "\r\n";
        INFO(line);
        auto r = check_prefixes(text(line));
        CHECK(r.header.source.port() == std::stoi(ok));
        CHECK(r.header.destination.port() == std::stoi(ok));
    }
    for (const char* bad : {"65536", "99999", "100000", "0443", "00", "01", "-1", "+1", "1a", "0x10", "4294967297"}) {
        auto line = std::string("PROXY TCP4 1.2.3.4 5.6.7.8 ") + bad + " 2\r\n";
        INFO(line);
        auto r = parse_bytes(text(line));
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == std::string("failed to parse PROXY v1 header: invalid source port \"") + bad + "\"");
        line = std::string("PROXY TCP4 1.2.3.4 5.6.7.8 1 ") + bad + "\r\n";
        r = parse_bytes(text(line));
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == std::string("failed to parse PROXY v1 header: invalid destination port \"") + bad + "\"");
    }
}

TEST_CASE("v1 protocol keyword", "[proxy][v1]") {
    for (const char* p : {"tcp4", "TCP", "TCP5", "UDP4", "TCP46", "unknown", "UNKNOW"}) {
        auto line = std::string("PROXY ") + p + " 1.2.3.4 5.6.7.8 1 2\r\n";
        auto r = parse_bytes(text(line));
        INFO(line);
        CHECK(r.status == Status::Invalid);
        CHECK(r.reason == std::string("failed to parse PROXY v1 header: unknown protocol ") + p);
    }
}

TEST_CASE("v1 line endings", "[proxy][v1]") {
    auto r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v1 header: found \\n without \\r");
    r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.reason == "failed to parse PROXY v1 header: found \\r not followed by \\n");
    r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n"));
    CHECK(r.status == Status::Invalid);
    r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r"));
    CHECK(r.status == Status::Invalid);
    // A CR as the last byte so far: wait for the LF.
    CHECK(parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r")).status == Status::Incomplete);
    // Missing CRLF: incomplete until 107 bytes, then Invalid.
    CHECK(parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2")).status == Status::Incomplete);
    CHECK(parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")).status == Status::Done);
}

TEST_CASE("v1 errors are reported before the CRLF arrives", "[proxy][v1]") {
    for (const char* partial : {"PROXY FOO", "PROXY TCP4 1.2.3.x", "PROXY TCP4 1.2.3.4 5.6.7.8 70000",
                                "PROXY TCP4 1.2.3.4 5.6.7.8 01", "PROXY TCP4 1234567890123456",
                                "PROXY TCP6 2001:db8::1 zz", "PROXY TCP4 1.2.3.4  ", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
                                "PROXY TCP4 1.2.3.4 5.6.7.8 1 123456", "PROXY TCP6 ::1 ::1 1 2 3"}) {
        INFO(partial);
        auto r = parse_bytes(text(partial));
        CHECK(r.status == Status::Invalid);
        CHECK_THAT(r.reason, StartsWith("failed to parse PROXY v1 header: "));
    }
    for (const char* partial : {"PROXY ", "PROXY T", "PROXY TCP", "PROXY UNK", "PROXY TCP4", "PROXY TCP4 ",
                                "PROXY TCP4 1.", "PROXY TCP6 ::ffff:1.2.3.4 ", "PROXY TCP4 1.2.3.4 5.6.7.8 0",
                                "PROXY TCP4 1.2.3.4 5.6.7.8 6553", "PROXY UNKNOWN whatever"}) {
        INFO(partial);
        CHECK(parse_bytes(text(partial)).status == Status::Incomplete);
    }
}

TEST_CASE("v1 payload after the header is not consumed", "[proxy][v1]") {
    auto r = parse_bytes(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nPROXY TCP4 9.9.9.9 9.9.9.9 9 9\r\n"));
    CHECK(r.status == Status::Done);
    CHECK(r.consumed == 32);
    CHECK(v4(r.header.source) == "1.2.3.4:1");
    r = parse_bytes(text("PROXY UNKNOWN\r\n\r\nHELLO"));
    CHECK(r.consumed == 15);
    // Payload need not be text and may contain CR/LF or NUL right after the header.
    r = parse_bytes(cat(text("PROXY TCP6 ::1 ::2 1 2\r\n"), Bytes{std::byte{0}, std::byte{'\n'}, std::byte{'\r'}}));
    CHECK(r.consumed == 24);
}

// ---------------------------------------------------------------- encoders

TEST_CASE("encode_v1", "[proxy][encode]") {
    Bytes out = text("prefix:");
    encode_v1(addr("192.168.0.1:56324"), addr("192.168.0.11:443"), out);
    CHECK(as_string(out) == "prefix:PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");

    out.clear();
    encode_v1(addr("[2001:db8::1]:56324"), addr("[2001:db8::2]:443"), out);
    CHECK(as_string(out) == "PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n");

    out.clear();
    encode_v1(addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
              addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), out);
    CHECK(out.size() == 104);

    for (auto [s, d] : {std::pair{ferry::SocketAddress{}, ferry::SocketAddress{}},
                        std::pair{addr("1.2.3.4:1"), ferry::SocketAddress{}},
                        std::pair{ferry::SocketAddress{}, addr("1.2.3.4:1")},
                        std::pair{addr("1.2.3.4:1"), addr("[::1]:2")},
                        std::pair{addr("[::ffff:1.2.3.4]:1"), addr("5.6.7.8:2")}}) {
        out.clear();
        encode_v1(s, d, out);
        CHECK(as_string(out) == "PROXY UNKNOWN\r\n");
    }
}

TEST_CASE("encode_v1 -> parse round trips", "[proxy][encode]") {
    for (auto [s, d] : {std::pair{"192.168.0.1:56324", "192.168.0.11:443"}, std::pair{"0.0.0.0:0", "255.255.255.255:65535"},
                        std::pair{"[2001:db8::1]:56324", "[2001:db8::2]:443"}, std::pair{"[::]:0", "[::1]:1"},
                        std::pair{"[::ffff:10.0.0.1]:5", "[fe80::1:2:3:4]:6"},
                        std::pair{"[1:2:3:4:5:6:7:8]:7", "[1::8]:8"}}) {
        Bytes out;
        encode_v1(addr(s), addr(d), out);
        INFO(as_string(out));
        auto r = check_prefixes(out);
        CHECK(r.header.source == addr(s));
        CHECK(r.header.destination == addr(d));
        CHECK(r.header.source.to_string() == s);
    }
    Bytes out;
    encode_v1({}, {}, out);
    auto r = check_prefixes(out);
    CHECK(r.header.command == Command::Local);
}

TEST_CASE("encode_v2 reproduces the spec vectors", "[proxy][encode]") {
    Header h;
    h.source = addr("192.168.0.1:56324");
    h.destination = addr("192.168.0.11:443");
    h.transport = Transport::Stream;
    Bytes out;
    REQUIRE(encode_v2(h, out));
    CHECK(out == hex(kTcp4Vector));

    h.source = addr("[2001:db8::1]:56324");
    h.destination = addr("[2001:db8::2]:443");
    h.transport = Transport::Unspec;  // defaults to STREAM
    out.clear();
    REQUIRE(encode_v2(h, out));
    CHECK(out == hex(kTcp6Vector));

    Header local;
    local.command = Command::Local;
    local.source = addr("1.2.3.4:5");  // ignored for LOCAL
    local.destination = addr("1.2.3.4:6");
    out = text("x");
    REQUIRE(encode_v2(local, out));
    CHECK(out == cat(text("x"), hex(std::string(kSig) + "20 00 0000")));

    // PROXY without a usable address pair becomes UNSPEC.
    Header mixed;
    mixed.source = addr("1.2.3.4:5");
    mixed.destination = addr("[::1]:6");
    out.clear();
    REQUIRE(encode_v2(mixed, out));
    CHECK(out == hex(std::string(kSig) + "21 00 0000"));
}

TEST_CASE("encode_v2 -> parse round trips", "[proxy][encode]") {
    Bytes ssl = hex("03 00000000");
    add_tlv(ssl, kTlvSslVersion, text("TLSv1.2"));
    add_tlv(ssl, kTlvSslCn, text("cn"));
    const std::vector<Tlv> tlv_sets[] = {
        {},
        {Tlv{kTlvAlpn, text("http/1.1")}, Tlv{kTlvAuthority, text("a.example")}},
        {Tlv{kTlvUniqueId, text("id")}, Tlv{kTlvSsl, ssl}, Tlv{kTlvNetns, text("ns")}, Tlv{kTlvNoop, {}},
         Tlv{0xE5, Bytes(300, std::byte{7})}},
    };
    for (const char* s : {"10.1.2.3:40000", "[2001:db8::7]:40000"}) {
        for (Transport t : {Transport::Stream, Transport::Dgram}) {
            for (const auto& tlvs : tlv_sets) {
                for (bool crc : {false, true}) {
                    Header h;
                    h.source = addr(s);
                    h.destination = h.source.is_v4() ? addr("10.9.9.9:443") : addr("[2001:db8::9]:443");
                    h.transport = t;
                    h.tlvs = tlvs;
                    Bytes out;
                    REQUIRE(encode_v2(h, out, crc));
                    ParseOptions o;
                    o.transport = t;
                    INFO(s << " dgram " << (t == Transport::Dgram) << " tlvs " << tlvs.size() << " crc " << crc);
                    auto r = check_prefixes(out, o);
                    CHECK(r.header.source == h.source);
                    CHECK(r.header.destination == h.destination);
                    CHECK(r.header.transport == t);
                    CHECK(r.header.family == (h.source.is_v4() ? Family::Inet : Family::Inet6));
                    CHECK(r.header.crc32c_present == crc);
                    REQUIRE(r.header.tlvs.size() == tlvs.size() + (crc ? 1 : 0));
                    for (size_t i = 0; i < tlvs.size(); ++i) CHECK(r.header.tlvs[i] == tlvs[i]);
                    if (tlvs.size() == 5) {
                        REQUIRE(r.header.ssl);
                        CHECK(r.header.ssl->client == 3);
                        CHECK(r.header.ssl->version == "TLSv1.2");
                        CHECK(r.header.ssl->cn == "cn");
                        CHECK(r.header.unique_id == "id");
                        CHECK(r.header.netns == "ns");
                    }
                    // Re-encoding what was parsed gives the same bytes.
                    Bytes again;
                    REQUIRE(encode_v2(r.header, again, crc));
                    CHECK(again == out);
                }
            }
        }
    }
}

TEST_CASE("encode_v2 drops stale CRC32C TLVs", "[proxy][encode][crc]") {
    Header h;
    h.source = addr("1.2.3.4:1");
    h.destination = addr("5.6.7.8:2");
    h.tlvs = {Tlv{kTlvCrc32c, hex("deadbeef")}, Tlv{kTlvAlpn, text("h2")}};
    Bytes plain;
    REQUIRE(encode_v2(h, plain));
    auto r = parse_bytes(plain);
    REQUIRE(r.status == Status::Done);
    CHECK_FALSE(r.header.crc32c_present);
    CHECK(r.header.tlvs.size() == 1);

    Bytes sealed;
    REQUIRE(encode_v2(h, sealed, true));
    r = parse_bytes(sealed);
    REQUIRE(r.status == Status::Done);
    CHECK(r.header.crc32c_present);
    CHECK(r.header.tlvs.size() == 2);
    CHECK(r.header.tlvs.back().type == kTlvCrc32c);
    CHECK(sealed.size() == plain.size() + 7);
}

TEST_CASE("encode_v2 refuses headers over the 16-bit length", "[proxy][encode]") {
    Header h;
    h.source = addr("1.2.3.4:1");
    h.destination = addr("5.6.7.8:2");
    h.tlvs = {Tlv{0xE0, Bytes(65535 - 12 - 3, std::byte{1})}};
    Bytes out = text("keep");
    REQUIRE(encode_v2(h, out));
    CHECK(out.size() == 4 + 16 + 65535);
    CHECK(parse(std::span(out).subspan(4)).status == Status::Done);

    out = text("keep");
    CHECK_FALSE(encode_v2(h, out, true));
    CHECK(out == text("keep"));
    h.tlvs = {Tlv{0xE0, Bytes(65536, std::byte{1})}};
    CHECK_FALSE(encode_v2(h, out));
    CHECK(out == text("keep"));
}

// ---------------------------------------------------------------- robustness

TEST_CASE("mutated headers: never past the data, prefixes of Done are Incomplete", "[proxy][robust]") {
    Bytes ssl = hex("01 00000000");
    add_tlv(ssl, kTlvSslCn, text("x"));
    Bytes tlv_body = tcp4_block();
    add_tlv(tlv_body, kTlvSsl, ssl);
    add_tlv(tlv_body, kTlvCrc32c, Bytes(4, std::byte{0}));
    Bytes sealed = v2(0x21, 0x11, tlv_body);
    seal_crc(sealed, sealed.size() - 4);
    const Bytes seeds[] = {
        hex(kTcp4Vector),
        hex(kTcp6Vector),
        hex(std::string(kSig) + "20 00 0000"),
        sealed,
        text("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"),
        text("PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n"),
        text("PROXY UNKNOWN\r\n"),
    };
    uint64_t x = 0x9E3779B97F4A7C15ull;
    auto next = [&x] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return x;
    };
    for (int iter = 0; iter < 20000; ++iter) {
        Bytes b = seeds[next() % std::size(seeds)];
        const int edits = 1 + static_cast<int>(next() % 3);
        for (int e = 0; e < edits; ++e) {
            switch (next() % 4) {
                case 0:
                    if (!b.empty()) b[next() % b.size()] = std::byte(next());
                    break;
                case 1:
                    if (!b.empty()) b.erase(b.begin() + static_cast<long>(next() % b.size()));
                    break;
                case 2:
                    b.insert(b.begin() + static_cast<long>(next() % (b.size() + 1)), std::byte(next()));
                    break;
                default:
                    b.resize(next() % (b.size() + 1));
                    break;
            }
        }
        for (auto transport : {Transport::Stream, Transport::Dgram, Transport::Unspec}) {
            ParseOptions o;
            o.transport = transport;
            // An exact-size heap copy lets ASan catch any read past the end.
            auto exact = std::make_unique<std::byte[]>(b.size());
            std::copy(b.begin(), b.end(), exact.get());
            auto r = parse(std::span<const std::byte>(exact.get(), b.size()), o);
            REQUIRE((r.status == Status::Invalid) == !r.reason.empty());
            if (r.status != Status::Done) {
                REQUIRE(r.consumed == 0);
                continue;
            }
            REQUIRE(r.consumed <= b.size());
            REQUIRE(r.consumed >= 15);
            for (size_t n = 0; n < r.consumed; ++n)
                REQUIRE(parse_prefix(b, n, o).status == Status::Incomplete);
        }
    }
}
