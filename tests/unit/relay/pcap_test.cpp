#include "relay/pcap.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "test_bytes.h"

using ferry::SocketAddress;
using ferry_test::Bytes;
using ferry_test::hex;
using ferry_test::text;
namespace pcap = ferry::pcap;

namespace {

uint32_t be16(const Bytes& b, size_t at) {
    return static_cast<uint32_t>(b[at]) << 8 | static_cast<uint32_t>(b[at + 1]);
}
uint32_t be32(const Bytes& b, size_t at) { return be16(b, at) << 16 | be16(b, at + 2); }
uint32_t le32(const Bytes& b, size_t at) {
    return static_cast<uint32_t>(b[at]) | static_cast<uint32_t>(b[at + 1]) << 8 |
           static_cast<uint32_t>(b[at + 2]) << 16 | static_cast<uint32_t>(b[at + 3]) << 24;
}
Bytes slice(const Bytes& b, size_t at, size_t n) {
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
}

// The folded one's complement sum, written here independently of the module: over data that holds its
// correct checksum it is 0xffff.
uint32_t ones_sum(const Bytes& b) {
    uint32_t sum = 0;
    for (size_t i = 0; i < b.size(); i += 2) {
        sum += static_cast<uint32_t>(b[i]) << 8 | (i + 1 < b.size() ? static_cast<uint32_t>(b[i + 1]) : 0);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

struct Record {
    uint32_t sec, usec, incl_len, orig_len;
    Bytes packet;
};

std::vector<Record> records(const Bytes& out) {
    std::vector<Record> r;
    size_t at = 0;
    while (at < out.size()) {
        REQUIRE(out.size() - at >= pcap::kRecordHeaderLength);
        Record rec{le32(out, at), le32(out, at + 4), le32(out, at + 8), le32(out, at + 12), {}};
        at += pcap::kRecordHeaderLength;
        REQUIRE(out.size() - at >= rec.incl_len);
        rec.packet = slice(out, at, rec.incl_len);
        at += rec.incl_len;
        r.push_back(std::move(rec));
    }
    return r;
}

// One packet's fields, read at the fixed offsets of a 20-byte IPv4 or 40-byte IPv6 header and a 20-byte TCP
// header, after checking every length and checksum.
struct Segment {
    bool v6;
    Bytes src, dst;
    uint32_t ip_id;
    uint32_t sport, dport, seq, ack, flags;
    Bytes payload;
};

Segment parse(const Record& rec) {
    const Bytes& p = rec.packet;
    CHECK(rec.orig_len == rec.incl_len);
    CHECK(p.size() <= 65535);
    REQUIRE(p.size() >= 40);
    Segment s{};
    Bytes pseudo;
    size_t ip_len;
    if ((static_cast<uint8_t>(p[0]) >> 4) == 4) {
        s.v6 = false;
        ip_len = 20;
        CHECK(p[0] == std::byte{0x45});
        CHECK(be16(p, 2) == p.size());
        s.ip_id = be16(p, 4);
        CHECK(be16(p, 6) == 0x4000);  // DF, no fragment offset
        CHECK(p[8] == std::byte{64});
        CHECK(p[9] == std::byte{6});
        CHECK(ones_sum(slice(p, 0, 20)) == 0xffff);
        s.src = slice(p, 12, 4);
        s.dst = slice(p, 16, 4);
        pseudo = ferry_test::cat(ferry_test::cat(s.src, s.dst), hex("00 06"));
        pseudo.push_back(std::byte((p.size() - 20) >> 8));
        pseudo.push_back(std::byte(p.size() - 20));
    } else {
        s.v6 = true;
        ip_len = 40;
        REQUIRE(p.size() >= 60);
        CHECK(p[0] == std::byte{0x60});
        CHECK(be32(p, 0) == 0x60000000);  // traffic class and flow label 0
        CHECK(be16(p, 4) == p.size() - 40);
        CHECK(p[6] == std::byte{6});
        CHECK(p[7] == std::byte{64});
        s.src = slice(p, 8, 16);
        s.dst = slice(p, 24, 16);
        pseudo = ferry_test::cat(s.src, s.dst);
        const uint32_t tcp_len = static_cast<uint32_t>(p.size() - 40);
        pseudo = ferry_test::cat(pseudo, hex("0000"));
        pseudo.push_back(std::byte(tcp_len >> 8));
        pseudo.push_back(std::byte(tcp_len));
        pseudo = ferry_test::cat(pseudo, hex("000000 06"));
    }
    s.sport = be16(p, ip_len);
    s.dport = be16(p, ip_len + 2);
    s.seq = be32(p, ip_len + 4);
    s.ack = be32(p, ip_len + 8);
    CHECK(p[ip_len + 12] == std::byte{0x50});  // data offset 5, no options
    s.flags = static_cast<uint8_t>(p[ip_len + 13]);
    CHECK(be16(p, ip_len + 14) == 65535);
    CHECK(be16(p, ip_len + 18) == 0);  // urgent pointer
    CHECK(ones_sum(ferry_test::cat(pseudo, slice(p, ip_len, p.size() - ip_len))) == 0xffff);
    s.payload = slice(p, ip_len + 20, p.size() - ip_len - 20);
    return s;
}

std::vector<Segment> segments(const Bytes& out) {
    std::vector<Segment> r;
    for (const Record& rec : records(out)) r.push_back(parse(rec));
    return r;
}

SocketAddress addr(const char* host_port) { return *ferry::parse_host_port(host_port); }

constexpr uint32_t SYN = pcap::kTcpSyn, ACK = pcap::kTcpAck, PSH = pcap::kTcpPsh, FIN = pcap::kTcpFin,
                   RST = pcap::kTcpRst;

Bytes pattern(size_t n) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) b[i] = std::byte((i * 7 + i / 251) & 0xff);
    return b;
}

// Open, "hello" from the client, "world!" back, then both FINs: checks every field of all seven packets.
void check_full_flow(const SocketAddress& client, const SocketAddress& server, const Bytes& cip, const Bytes& sip,
                     bool v6) {
    pcap::FlowRecorder flow(client, server);
    CHECK(flow.is_v6() == v6);
    Bytes out;
    flow.open(1000000, out);
    flow.data(true, text("hello"), 2000000, out);
    flow.data(false, text("world!"), 3000000, out);
    flow.fin(true, 4000000, out);
    flow.fin(false, 5000000, out);

    const auto recs = records(out);
    REQUIRE(recs.size() == 7);
    for (size_t i = 0; i < recs.size(); ++i) {
        CHECK(recs[i].sec == (i < 3 ? 1u : i - 1));
        CHECK(recs[i].usec == 0);
    }
    const auto s = segments(out);
    const uint16_t cport = client.port(), sport = server.port();
    for (size_t i = 0; i < s.size(); ++i) {
        const bool from_client = (i == 0 || i == 2 || i == 3 || i == 5);
        INFO("packet " << i);
        CHECK(s[i].v6 == v6);
        CHECK(s[i].src == (from_client ? cip : sip));
        CHECK(s[i].dst == (from_client ? sip : cip));
        CHECK(s[i].sport == (from_client ? cport : sport));
        CHECK(s[i].dport == (from_client ? sport : cport));
        if (!v6) CHECK(s[i].ip_id == (s[0].ip_id + i) % 65536);
    }
    const uint32_t c = s[0].seq;  // client ISN
    const uint32_t v = s[1].seq;  // server ISN
    CHECK(c != v);

    CHECK(s[0].flags == SYN);
    CHECK(s[0].ack == 0);
    CHECK(s[1].flags == (SYN | ACK));
    CHECK(s[1].ack == c + 1);
    CHECK(s[2].flags == ACK);
    CHECK(s[2].seq == c + 1);
    CHECK(s[2].ack == v + 1);
    for (int i : {0, 1, 2, 5, 6}) CHECK(s[i].payload.empty());

    CHECK(s[3].flags == (PSH | ACK));
    CHECK(s[3].seq == c + 1);
    CHECK(s[3].ack == v + 1);
    CHECK(s[3].payload == text("hello"));

    CHECK(s[4].flags == (PSH | ACK));
    CHECK(s[4].seq == v + 1);
    CHECK(s[4].ack == c + 6);
    CHECK(s[4].payload == text("world!"));

    CHECK(s[5].flags == (FIN | ACK));
    CHECK(s[5].seq == c + 6);
    CHECK(s[5].ack == v + 7);

    CHECK(s[6].flags == (FIN | ACK));
    CHECK(s[6].seq == v + 7);
    CHECK(s[6].ack == c + 7);  // the client's FIN took one sequence number
}

}  // namespace

TEST_CASE("pcap file header", "[pcap]") {
    CHECK(pcap::file_header() == hex("d4c3b2a1 0200 0400 00000000 00000000 00000400 65000000"));
}

TEST_CASE("pcap internet checksum", "[pcap]") {
    // RFC 1071 section 3's example sum (ddf2), complemented.
    CHECK(pcap::internet_checksum(hex("0001 f203 f4f5 f6f7")) == 0x220d);
    CHECK(pcap::internet_checksum({}) == 0xffff);
    // An odd last byte is the high half of a padded word.
    CHECK(pcap::internet_checksum(hex("01")) == 0xfeff);
    CHECK(pcap::internet_checksum(hex("0100")) == 0xfeff);
    // A real IPv4 header: its checksum field (b861) zeroed, then in place.
    CHECK(pcap::internet_checksum(hex("4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7")) == 0xb861);
    CHECK(pcap::internet_checksum(hex("4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7")) == 0);
    // Carries wrap around more than once.
    CHECK(pcap::internet_checksum(Bytes(100000, std::byte{0xff})) == 0);
}

TEST_CASE("pcap IPv4 flow: handshake, data both ways, FINs", "[pcap]") {
    check_full_flow(addr("192.0.2.1:40000"), addr("198.51.100.7:80"), hex("c0000201"), hex("c6336407"), false);
}

TEST_CASE("pcap IPv6 flow: handshake, data both ways, FINs", "[pcap]") {
    check_full_flow(addr("[2001:db8::1]:40000"), addr("[2001:db8:ffff::2]:443"),
                    hex("20010db8 00000000 00000000 00000001"), hex("20010db8 ffff0000 00000000 00000002"), true);
}

TEST_CASE("pcap IPv4-mapped addresses give IPv4 packets", "[pcap]") {
    pcap::FlowRecorder flow(addr("[::ffff:192.0.2.1]:40000"), addr("[::ffff:198.51.100.7]:80"));
    CHECK_FALSE(flow.is_v6());
    Bytes out;
    flow.data(true, text("x"), 0, out);
    for (const Segment& s : segments(out)) {
        CHECK_FALSE(s.v6);
        CHECK((s.src == hex("c0000201") || s.src == hex("c6336407")));
    }
    // The same flow given as plain IPv4 gives the same bytes, sequence numbers included.
    pcap::FlowRecorder plain(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    Bytes out2;
    plain.data(true, text("x"), 0, out2);
    CHECK(out2 == out);

    // Only one side mapped: it becomes IPv4, so the flow is IPv4.
    pcap::FlowRecorder half(addr("[::ffff:192.0.2.1]:40000"), addr("198.51.100.7:80"));
    CHECK_FALSE(half.is_v6());

    // IPv4 against real IPv6: both written as IPv6, the IPv4 end as ::ffff:a.b.c.d.
    pcap::FlowRecorder mixed(addr("192.0.2.1:40000"), addr("[2001:db8::2]:80"));
    CHECK(mixed.is_v6());
    Bytes out3;
    mixed.open(0, out3);
    const auto s = segments(out3);
    REQUIRE(s.size() == 3);
    CHECK(s[0].v6);
    CHECK(s[0].src == hex("00000000 00000000 0000ffff c0000201"));
    CHECK(s[0].dst == hex("20010db8 00000000 00000000 00000002"));
}

TEST_CASE("pcap data larger than one packet is split", "[pcap]") {
    struct Case {
        const char* client;
        const char* server;
        size_t max;
    };
    for (const Case& c : {Case{"192.0.2.1:40000", "198.51.100.7:80", 65495},
                          Case{"[2001:db8::1]:40000", "[2001:db8::2]:80", 65475}}) {
        INFO(c.client);
        for (bool client_to_server : {true, false}) {
            pcap::FlowRecorder flow(addr(c.client), addr(c.server));
            Bytes out;
            flow.open(0, out);
            const auto handshake = segments(out);
            const uint32_t seq0 = client_to_server ? handshake[2].seq : handshake[1].seq + 1;
            const uint32_t ack0 = client_to_server ? handshake[2].ack : handshake[2].seq;

            const Bytes block = pattern(2 * c.max + 1234);
            out.clear();
            flow.data(client_to_server, block, 7, out);
            const auto s = segments(out);
            REQUIRE(s.size() == 3);
            CHECK(s[0].payload.size() == c.max);
            CHECK(s[1].payload.size() == c.max);
            CHECK(s[2].payload.size() == 1234);
            CHECK(records(out)[0].packet.size() == 65535);
            Bytes joined;
            for (size_t i = 0; i < 3; ++i) {
                CHECK(s[i].flags == (PSH | ACK));
                CHECK(s[i].seq == seq0 + i * c.max);
                CHECK(s[i].ack == ack0);
                joined = ferry_test::cat(joined, s[i].payload);
            }
            CHECK(joined == block);

            // The next segment goes on after the whole block.
            out.clear();
            flow.fin(client_to_server, 8, out);
            CHECK(segments(out)[0].seq == seq0 + block.size());
        }

        // Exactly the maximum is one packet, one byte more is two.
        pcap::FlowRecorder flow(addr(c.client), addr(c.server));
        Bytes out;
        flow.open(0, out);
        out.clear();
        flow.data(true, pattern(c.max), 0, out);
        CHECK(records(out).size() == 1);
        out.clear();
        flow.data(true, pattern(c.max + 1), 0, out);
        const auto s = segments(out);
        REQUIRE(s.size() == 2);
        CHECK(s[1].payload.size() == 1);
    }
}

TEST_CASE("pcap empty data writes nothing", "[pcap]") {
    pcap::FlowRecorder flow(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    Bytes out;
    flow.data(true, {}, 0, out);  // not even the handshake
    CHECK(out.empty());
    flow.open(0, out);
    const size_t after_open = out.size();
    flow.data(false, {}, 0, out);
    flow.data(true, {}, 0, out);
    CHECK(out.size() == after_open);
}

TEST_CASE("pcap handshake is written once, before anything else", "[pcap]") {
    pcap::FlowRecorder flow(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    Bytes out;
    flow.data(false, text("banner"), 5, out);  // a server that speaks first, recorded from its first byte
    flow.open(6, out);                         // already open: nothing
    const auto s = segments(out);
    REQUIRE(s.size() == 4);
    CHECK(s[0].flags == SYN);
    CHECK(s[3].payload == text("banner"));
    CHECK(s[3].seq == s[1].seq + 1);
}

TEST_CASE("pcap FIN once per side; nothing after a reset", "[pcap]") {
    pcap::FlowRecorder flow(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    Bytes out;
    flow.open(0, out);
    out.clear();
    flow.fin(true, 1, out);
    const size_t one_fin = out.size();
    flow.fin(true, 2, out);                 // a second FIN from the client
    flow.data(true, text("late"), 3, out);  // data after the client's FIN
    CHECK(out.size() == one_fin);

    // The server may still send; it acknowledges the client's FIN.
    flow.data(false, text("still here"), 4, out);
    auto s = segments(out);
    REQUIRE(s.size() == 2);
    CHECK(s[1].ack == s[0].seq + 1);

    const uint32_t server_next = s[1].seq + 10;
    const uint32_t client_next = s[0].seq + 1;
    out.clear();
    flow.reset(false, 5, out);
    s = segments(out);
    REQUIRE(s.size() == 1);
    CHECK(s[0].flags == (RST | ACK));
    CHECK(s[0].sport == 80);
    CHECK(s[0].seq == server_next);
    CHECK(s[0].ack == client_next);

    flow.reset(true, 6, out);
    flow.reset(false, 6, out);
    flow.fin(false, 6, out);
    flow.data(false, text("gone"), 6, out);
    CHECK(records(out).size() == 1);
}

TEST_CASE("pcap RST carries the sender's next sequence number", "[pcap]") {
    pcap::FlowRecorder flow(addr("[2001:db8::1]:40000"), addr("[2001:db8::2]:80"));
    Bytes out;
    flow.data(true, text("abc"), 0, out);
    flow.reset(true, 1, out);
    const auto s = segments(out);
    REQUIRE(s.size() == 5);
    CHECK(s[4].flags == (RST | ACK));
    CHECK(s[4].seq == s[3].seq + 3);
    CHECK(s[4].ack == s[1].seq + 1);
}

TEST_CASE("pcap record timestamps and lengths", "[pcap]") {
    pcap::FlowRecorder flow(addr("192.0.2.1:40000"), addr("198.51.100.7:80"));
    Bytes out;
    flow.data(true, text("hey"), 1700000000123456ull, out);
    const auto recs = records(out);
    REQUIRE(recs.size() == 4);
    for (const Record& r : recs) {
        CHECK(r.sec == 1700000000u);
        CHECK(r.usec == 123456u);
        CHECK(r.incl_len == r.packet.size());
        CHECK(r.orig_len == r.packet.size());
    }
    CHECK(recs[0].packet.size() == 40);
    CHECK(recs[3].packet.size() == 43);
}

TEST_CASE("pcap initial sequence numbers are deterministic per flow", "[pcap]") {
    auto syn_seq = [](const char* client, const char* server) {
        pcap::FlowRecorder flow(addr(client), addr(server));
        Bytes out;
        flow.open(0, out);
        const auto s = segments(out);
        return std::pair{s[0].seq, s[1].seq};
    };
    const auto a = syn_seq("192.0.2.1:40000", "198.51.100.7:80");
    CHECK(a == syn_seq("192.0.2.1:40000", "198.51.100.7:80"));
    CHECK(a != syn_seq("192.0.2.1:40001", "198.51.100.7:80"));
    CHECK(a.first != a.second);
}
