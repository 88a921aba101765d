// SOCKS5 UDP ASSOCIATE as a client (RFC 1928 sections 4, 6 and 7): the request, the relay address from the
// reply, and the header in front of every datagram, fed byte vectors written out as the RFC lays them out.
#include "proto/socks5.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::Rng;
using ferry_test::cat;
using ferry_test::first;
using ferry_test::hex;
using ferry_test::text;

using namespace ferry::socks5;
using Catch::Matchers::Contains;

namespace {

ferry::SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

Bytes associate(const ferry::SocketAddress& source) {
    Bytes out;
    encode_udp_associate(source, out);
    return out;
}

Bytes header(const Address& dst) {
    Bytes out;
    REQUIRE(encode_udp_header(dst, out));
    return out;
}

UdpRelay relay(std::string_view bound, std::string_view peer) {
    return udp_relay_address(Address(addr(bound)), peer.empty() ? ferry::SocketAddress{} : addr(peer));
}

// RSV RSV FRAG ATYP DST.ADDR DST.PORT: 192.0.2.1:53, [2001:db8::1]:53, example.com:53.
const Bytes kHeaderV4 = hex("0000 00 01 c0000201 0035");
const Bytes kHeaderV6 = hex("0000 00 04 20010db8000000000000000000000001 0035");
const Bytes kHeaderDomain = hex("0000 00 03 0b 6578616d706c652e636f6d 0035");
// A DNS query's first bytes (ID 0x1234, RD), as the payload.
const Bytes kPayload = hex("1234 0100 0001 0000 0000 0000");

// The header's verdict for a datagram, with the reason when it is not Done.
UdpHeader parsed(const Bytes& datagram) {
    UdpHeader h = parse_udp_header(datagram);
    INFO(h.error);
    CHECK((h.status == UdpHeaderStatus::Done) == h.error.empty());
    if (h.status == UdpHeaderStatus::Done) CHECK(h.payload_offset <= datagram.size());
    return h;
}

}  // namespace

// ---------------------------------------------------------------- the request and its reply

TEST_CASE("socks5 encode_udp_associate: the expected source, or all zeros", "[socks5][socks5_udp]") {
    CHECK(associate({}) == hex("05 03 00 01 00000000 0000"));
    CHECK(associate(addr("192.0.2.10:5353")) == hex("05 03 00 01 c000020a 14e9"));
    CHECK(associate(addr("[2001:db8::1]:40000")) == hex("05 03 00 04 20010db8000000000000000000000001 9c40"));
    // Written as it is: the caller unmaps a mapped address if it wants ATYP 1.
    CHECK(associate(addr("[::ffff:192.0.2.10]:1")) == hex("05 03 00 04 00000000000000000000ffffc000020a 0001"));
    Bytes out = hex("05 00");  // appends after what is there (a greeting sent at once)
    encode_udp_associate(addr("0.0.0.0:0"), out);
    CHECK(out == hex("05 00 05 03 00 01 00000000 0000"));
}

TEST_CASE("socks5 encode_udp_associate read back by the server-side parser", "[socks5][socks5_udp]") {
    // ferry's own server refuses the command, but only once the whole request is read, so the layout shows.
    for (auto source : {addr("0.0.0.0:0"), addr("198.51.100.7:4000"), addr("[2001:db8::7]:65535")}) {
        INFO(source.to_string());
        const Bytes b = associate(source);
        auto r = parse_request(b);
        CHECK(r.status == Status::Invalid);
        CHECK(r.command == kCommandUdpAssociate);
        CHECK(r.reply_code == kCommandNotSupported);
        CHECK(r.consumed == b.size());
        CHECK(r.destination == Address(source));
    }
}

TEST_CASE("socks5 UDP ASSOCIATE replies read by parse_reply", "[socks5][socks5_udp]") {
    // dante: the relay on the address the client connected to, a port of its own.
    auto r = parse_reply(hex("05 00 00 01 c6336402 a1b2"));
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == 10);
    CHECK(r.bound == Address(addr("198.51.100.2:41394")));
    // A server that says "my own address": 0.0.0.0 and a port.
    r = parse_reply(hex("05 00 00 01 00000000 1f90 1234"));
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == 10);
    CHECK(r.bound.ip.is_unspecified());
    // A server without UDP: REP 7, Invalid as soon as it arrives, with its code.
    r = parse_reply(hex("05 07"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.code == kCommandNotSupported);
    CHECK_THAT(r.error, Contains("command not supported"));
}

TEST_CASE("socks5 udp_relay_address: the server's own address for 0.0.0.0 and ::", "[socks5][socks5_udp]") {
    struct Case {
        const char* bound;
        const char* peer;
        const char* relay;
    };
    for (const Case& c : {
             Case{"0.0.0.0:8080", "198.51.100.2:1080", "198.51.100.2:8080"},
             Case{"[::]:8080", "[2001:db8::2]:1080", "[2001:db8::2]:8080"},
             // Either family: "the server's own address" is the control connection's, whatever ATYP said.
             Case{"0.0.0.0:53", "[2001:db8::2]:1080", "[2001:db8::2]:53"},
             Case{"[::]:53", "198.51.100.2:1080", "198.51.100.2:53"},
             Case{"[::ffff:0.0.0.0]:53", "198.51.100.2:1080", "198.51.100.2:53"},
             // A control connection over a dual-stack socket: its peer is unmapped.
             Case{"0.0.0.0:53", "[::ffff:198.51.100.2]:1080", "198.51.100.2:53"},
             // Any other address is the relay, as it is (unmapped).
             Case{"203.0.113.9:40000", "198.51.100.2:1080", "203.0.113.9:40000"},
             Case{"[2001:db8::9]:40000", "198.51.100.2:1080", "[2001:db8::9]:40000"},
             Case{"[::ffff:203.0.113.9]:40000", "[2001:db8::2]:1080", "203.0.113.9:40000"},
             Case{"127.0.0.1:40000", "127.0.0.1:1080", "127.0.0.1:40000"},
             Case{"203.0.113.9:1", "", "203.0.113.9:1"},
         }) {
        INFO(c.bound << " via " << c.peer);
        auto r = relay(c.bound, c.peer);
        INFO(r.error);
        REQUIRE(r.status == Status::Done);
        CHECK(r.error.empty());
        CHECK(r.address == addr(c.relay));
    }
}

TEST_CASE("socks5 udp_relay_address: refusals", "[socks5][socks5_udp]") {
    auto r = relay("198.51.100.2:0", "198.51.100.2:1080");
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "SOCKS5 UDP relay on port 0");
    CHECK(r.address.empty());
    r = relay("0.0.0.0:0", "198.51.100.2:1080");
    CHECK(r.error == "SOCKS5 UDP relay on port 0");
    r = relay("0.0.0.0:53", "");
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "SOCKS5 UDP relay on the server's own address, which is not known");
    r = udp_relay_address(Address("relay.example", 53), addr("198.51.100.2:1080"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "SOCKS5 UDP relay given as a domain name (\"relay.example\"), which is not supported");
    r = udp_relay_address(Address(), addr("198.51.100.2:1080"));
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "SOCKS5 UDP relay: no address");
    // A name from the network is escaped in the reason.
    r = udp_relay_address(Address("a\nb", 53), {});
    CHECK_THAT(r.error, Contains("\"a\\x0ab\""));
}

TEST_CASE("socks5 the whole ASSOCIATE exchange: greeting, method reply, reply, relay", "[socks5][socks5_udp]") {
    Bytes sent;
    encode_greeting(false, sent);
    encode_udp_associate({}, sent);
    CHECK(sent == hex("05 01 00  05 03 00 01 00000000 0000"));
    const Bytes answer = hex("05 00  05 00 00 01 00000000 2710");
    auto m = parse_method_reply(answer);
    REQUIRE(m.status == Status::Done);
    const Bytes rest(answer.begin() + static_cast<std::ptrdiff_t>(m.consumed), answer.end());
    auto r = parse_reply(rest);
    REQUIRE(r.status == Status::Done);
    auto u = udp_relay_address(r.bound, addr("192.0.2.50:1080"));
    REQUIRE(u.status == Status::Done);
    CHECK(u.address == addr("192.0.2.50:10000"));
}

// ---------------------------------------------------------------- the datagram header

TEST_CASE("socks5 encode_udp_header: the RFC 1928 section 7 layouts", "[socks5][socks5_udp]") {
    CHECK(header(Address(addr("192.0.2.1:53"))) == kHeaderV4);
    CHECK(header(Address(addr("[2001:db8::1]:53"))) == kHeaderV6);
    CHECK(header(Address("example.com", 53)) == kHeaderDomain);
    CHECK(kHeaderV4.size() == kUdpHeaderIpv4Length);
    CHECK(kHeaderV6.size() == kUdpHeaderIpv6Length);
    CHECK(kHeaderV4.size() == 10);
    CHECK(kHeaderV6.size() == 22);
    CHECK(kHeaderDomain.size() == 7 + 11);
    CHECK(header(Address(addr("[::ffff:192.0.2.1]:53"))) == hex("0000 00 04 00000000000000000000ffffc0000201 0035"));
    CHECK(header(Address(addr("0.0.0.0:0"))) == hex("0000 00 01 00000000 0000"));
    const Bytes longest = header(Address(std::string(255, 'd'), 65535));
    CHECK(longest.size() == kMaxUdpHeaderLength);
    CHECK(longest == cat(cat(hex("0000 00 03 ff"), text(std::string(255, 'd'))), hex("ffff")));
    CHECK(header(Address("a", 1)) == hex("0000 00 03 01 61 0001"));
}

TEST_CASE("socks5 encode_udp_header: refusals leave the buffer alone", "[socks5][socks5_udp]") {
    Bytes out = hex("aa");
    CHECK_FALSE(encode_udp_header(Address(), out));
    CHECK_FALSE(encode_udp_header(Address(std::string(256, 'd'), 53), out));
    CHECK_FALSE(encode_udp_datagram(Address(), kPayload, out));
    CHECK_FALSE(encode_udp_datagram(Address(std::string(256, 'd'), 53), kPayload, out));
    CHECK(out == hex("aa"));
}

TEST_CASE("socks5 encode_udp_datagram: the header, then the payload", "[socks5][socks5_udp]") {
    Bytes out;
    REQUIRE(encode_udp_datagram(Address(addr("192.0.2.1:53")), kPayload, out));
    CHECK(out == cat(kHeaderV4, kPayload));
    out = hex("ff");  // appends
    REQUIRE(encode_udp_datagram(Address("example.com", 53), {}, out));
    CHECK(out == cat(hex("ff"), kHeaderDomain));
}

TEST_CASE("socks5 parse_udp_header: IPv4, IPv6 and domain headers", "[socks5][socks5_udp]") {
    struct Case {
        Bytes header;
        Address address;
    };
    for (const Case& c : {Case{kHeaderV4, Address(addr("192.0.2.1:53"))},
                          Case{kHeaderV6, Address(addr("[2001:db8::1]:53"))},
                          Case{kHeaderDomain, Address("example.com", 53)},
                          Case{hex("0000 00 01 00000000 0000"), Address(addr("0.0.0.0:0"))},
                          Case{hex("0000 00 03 01 61 ffff"), Address("a", 65535)}}) {
        INFO(c.address.to_string());
        for (const Bytes& payload : {Bytes{}, kPayload, Bytes(65000, std::byte{0x5a})}) {
            const Bytes datagram = cat(c.header, payload);
            UdpHeader h = parsed(datagram);
            REQUIRE(h.status == UdpHeaderStatus::Done);
            CHECK(h.fragment == 0);
            CHECK(h.address == c.address);
            CHECK(h.payload_offset == c.header.size());
            CHECK(Bytes(datagram.begin() + static_cast<std::ptrdiff_t>(h.payload_offset), datagram.end()) == payload);
        }
    }
    // A domain is taken as raw bytes: it names the source of a reply, and goes nowhere.
    UdpHeader h = parsed(hex("0000 00 03 03 00ff20 0001"));
    REQUIRE(h.status == UdpHeaderStatus::Done);
    CHECK(h.address.domain == std::string("\0\xff ", 3));
    // An IPv4-mapped IPv6 address stays IPv6.
    h = parsed(hex("0000 00 04 00000000000000000000ffffc0000201 0035"));
    REQUIRE(h.status == UdpHeaderStatus::Done);
    CHECK(h.address.ip.is_v6());
}

TEST_CASE("socks5 parse_udp_header: every truncated header is Invalid, too short", "[socks5][socks5_udp]") {
    for (const Bytes& full : {kHeaderV4, kHeaderV6, kHeaderDomain}) {
        for (size_t n = 0; n < full.size(); ++n) {
            INFO("first " << n << " bytes of " << full.size());
            UdpHeader h = parsed(first(full, n));
            CHECK(h.status == UdpHeaderStatus::Invalid);
            CHECK(h.payload_offset == 0);
            CHECK(h.address == Address());
        }
    }
    CHECK(parse_udp_header({}).error == "invalid SOCKS5 UDP header: 0-byte datagram (at least 4 bytes)");
    CHECK(parse_udp_header(hex("0000 00")).error == "invalid SOCKS5 UDP header: 3-byte datagram (at least 4 bytes)");
    CHECK(parse_udp_header(first(kHeaderV4, 9)).error ==
          "invalid SOCKS5 UDP header: 9-byte datagram (an IPv4 header is 10 bytes)");
    CHECK(parse_udp_header(first(kHeaderV6, 21)).error ==
          "invalid SOCKS5 UDP header: 21-byte datagram (an IPv6 header is 22 bytes)");
    CHECK(parse_udp_header(hex("0000 00 03")).error ==
          "invalid SOCKS5 UDP header: 4-byte datagram (no domain length)");
}

TEST_CASE("socks5 parse_udp_header: a domain length past the end of the datagram", "[socks5][socks5_udp]") {
    // The length byte says 11; the name and port need 13 bytes; one short, then exactly enough.
    const Bytes just = kHeaderDomain;
    CHECK(parsed(first(just, just.size() - 1)).error ==
          "invalid SOCKS5 UDP header: a 11-byte domain name and port overrun the 17-byte datagram");
    CHECK(parsed(just).status == UdpHeaderStatus::Done);
    // 255 announced, 5 there: the payload is not taken for the name.
    CHECK(parsed(hex("0000 00 03 ff 6162636465")).error ==
          "invalid SOCKS5 UDP header: a 255-byte domain name and port overrun the 10-byte datagram");
    CHECK(parsed(hex("0000 00 03 00 0035 1234")).error == "invalid SOCKS5 UDP header: empty domain name");
}

TEST_CASE("socks5 parse_udp_header: reserved bytes and address types", "[socks5][socks5_udp]") {
    for (const char* rsv : {"0100", "0001", "ffff"}) {
        Bytes b = cat(hex(rsv), Bytes(kHeaderV4.begin() + 2, kHeaderV4.end()));
        UdpHeader h = parsed(b);
        CHECK(h.status == UdpHeaderStatus::Invalid);
        CHECK_THAT(h.error, Contains("invalid SOCKS5 UDP header: reserved bytes 0x"));
    }
    CHECK(parsed(hex("0500 00 01 c0000201 0035")).error ==
          "invalid SOCKS5 UDP header: reserved bytes 0x05 0x00 (expected 0x00 0x00)");
    for (uint8_t atyp : {0x00, 0x02, 0x05, 0xff}) {
        Bytes b = kHeaderV6;
        b[3] = std::byte{atyp};
        UdpHeader h = parsed(b);
        CHECK(h.status == UdpHeaderStatus::Invalid);
        CHECK(h.error == "invalid SOCKS5 UDP header: unknown address type 0x" +
                             std::string(1, "0123456789abcdef"[atyp >> 4]) + "0123456789abcdef"[atyp & 0xF]);
    }
}

TEST_CASE("socks5 parse_udp_header: fragments are their own status", "[socks5][socks5_udp]") {
    for (uint8_t frag : {0x01, 0x02, 0x7f, 0x80, 0x81, 0xff}) {
        Bytes b = cat(kHeaderV4, kPayload);
        b[2] = std::byte{frag};
        UdpHeader h = parsed(b);
        CHECK(h.status == UdpHeaderStatus::Fragment);
        CHECK(h.fragment == frag);
        CHECK(h.payload_offset == 0);
        CHECK_THAT(h.error, Contains("SOCKS5 UDP fragment 0x") && Contains("dropped"));
    }
    // FRAG is read before the address: a fragment is counted as one whatever follows.
    UdpHeader h = parsed(hex("0000 01 09"));
    CHECK(h.status == UdpHeaderStatus::Fragment);
    CHECK(h.error == "SOCKS5 UDP fragment 0x01 dropped (fragments are not reassembled)");
    // ... but not before RSV, nor with too few bytes to hold a header at all.
    CHECK(parsed(hex("0001 01 01 c0000201 0035")).status == UdpHeaderStatus::Invalid);
    CHECK(parsed(hex("0000 01")).status == UdpHeaderStatus::Invalid);
}

TEST_CASE("socks5 UDP header round trips", "[socks5][socks5_udp]") {
    for (const Address& a : {Address(addr("192.0.2.1:53")), Address(addr("[2001:db8::1]:443")),
                             Address(addr("[::ffff:192.0.2.1]:1")), Address(addr("0.0.0.0:0")),
                             Address("example.com", 443), Address(std::string(255, 'z'), 65535)}) {
        INFO(a.to_string());
        Bytes datagram;
        REQUIRE(encode_udp_datagram(a, kPayload, datagram));
        UdpHeader h = parsed(datagram);
        REQUIRE(h.status == UdpHeaderStatus::Done);
        CHECK(h.address == a);
        CHECK(datagram.size() - h.payload_offset == kPayload.size());
        CHECK(header(h.address) == first(datagram, h.payload_offset));
    }
}

TEST_CASE("socks5 parse_udp_header: mutated datagrams stay within bounds and re-encode", "[socks5][socks5_udp]") {
    const Bytes seeds[] = {cat(kHeaderV4, kPayload), cat(kHeaderV6, kPayload), cat(kHeaderDomain, kPayload),
                           kHeaderV4, hex("0000 00 03 01 61 0001")};
    Rng rng(0x2545f491);
    size_t done = 0, fragments = 0, invalid = 0;
    for (int round = 0; round < 2000; ++round) {
        Bytes b = seeds[rng.below(std::size(seeds))];
        // The first 5 bytes are the interesting ones (RSV, FRAG, ATYP, a domain's length), so they are hit most.
        for (size_t k = 1 + rng.below(2); k > 0; --k) {
            const size_t i = rng.below(2) == 0 ? rng.below(5) : rng.below(b.size());
            b[i] = rng.below(3) == 0 ? std::byte(rng.below(6)) : std::byte(rng.next() & 0xFF);
        }
        b.resize(rng.below(b.size() + 1));
        INFO("round " << round);
        UdpHeader h = parsed(b);  // an exact-size buffer: ASan sees a read past its end
        if (h.status == UdpHeaderStatus::Done) {
            ++done;
            REQUIRE(h.payload_offset <= b.size());
            CHECK(header(h.address) == first(b, h.payload_offset));
        } else if (h.status == UdpHeaderStatus::Fragment) {
            ++fragments;
            CHECK(static_cast<uint8_t>(b[2]) == h.fragment);
        } else {
            ++invalid;
        }
    }
    CHECK(done > 100);
    CHECK(fragments > 10);
    CHECK(invalid > 100);
}
