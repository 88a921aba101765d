#include "relay/pcap.h"

#include <algorithm>
#include <cstring>

#include "support/crc32c.h"

namespace ferry::pcap {
namespace {

constexpr uint8_t kIpProtoTcp = 6;
constexpr uint8_t kDefaultTtl = 64;
constexpr uint16_t kWindow = 65535;
constexpr uint16_t kIpv4DontFragment = 0x4000;

void put_be16(std::byte* p, uint16_t v) {
    p[0] = std::byte(v >> 8);
    p[1] = std::byte(v);
}

void put_be32(std::byte* p, uint32_t v) {
    p[0] = std::byte(v >> 24);
    p[1] = std::byte(v >> 16);
    p[2] = std::byte(v >> 8);
    p[3] = std::byte(v);
}

void put_le16(std::byte* p, uint16_t v) {
    p[0] = std::byte(v);
    p[1] = std::byte(v >> 8);
}

void put_le32(std::byte* p, uint32_t v) {
    p[0] = std::byte(v);
    p[1] = std::byte(v >> 8);
    p[2] = std::byte(v >> 16);
    p[3] = std::byte(v >> 24);
}

// Adds `data` as big-endian 16-bit words to an unfolded one's complement sum. Only the last piece of a sum may
// have an odd length (its last byte is the high half of a zero-padded word). Carries are folded back only at
// the end: a 64-bit accumulator would need 2^48 words to overflow.
uint64_t sum_words(uint64_t sum, std::span<const std::byte> data) {
    const std::byte* p = data.data();
    size_t n = data.size();
    for (; n >= 2; p += 2, n -= 2) sum += static_cast<uint32_t>(p[0]) << 8 | static_cast<uint32_t>(p[1]);
    if (n == 1) sum += static_cast<uint32_t>(p[0]) << 8;
    return sum;
}

uint16_t fold_complement(uint64_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
}

// A deterministic initial sequence number for the side sending from `from` to `to`: the same flow always gives
// the same capture, and the two sides (and different flows) still start far apart.
uint32_t initial_sequence(const std::array<std::byte, 16>& from_ip, uint16_t from_port,
                          const std::array<std::byte, 16>& to_ip, uint16_t to_port) {
    std::array<std::byte, 36> tuple{};
    std::memcpy(tuple.data(), from_ip.data(), 16);
    put_be16(tuple.data() + 16, from_port);
    std::memcpy(tuple.data() + 18, to_ip.data(), 16);
    put_be16(tuple.data() + 34, to_port);
    return crc32c(tuple);
}

}  // namespace

std::vector<std::byte> file_header() {
    std::vector<std::byte> h(kFileHeaderLength);
    put_le32(h.data(), 0xa1b2c3d4);
    put_le16(h.data() + 4, 2);   // version major
    put_le16(h.data() + 6, 4);   // version minor
    put_le32(h.data() + 8, 0);   // thiszone: timestamps are UTC
    put_le32(h.data() + 12, 0);  // sigfigs
    put_le32(h.data() + 16, kSnaplen);
    put_le32(h.data() + 20, kLinktypeRaw);
    return h;
}

uint16_t internet_checksum(std::span<const std::byte> data) { return fold_complement(sum_words(0, data)); }

FlowRecorder::FlowRecorder(const SocketAddress& client, const SocketAddress& server) {
    SocketAddress c = client.unmapped();
    SocketAddress s = server.unmapped();
    const uint8_t any[4] = {0, 0, 0, 0};
    if (c.empty()) c = SocketAddress::from_v4(any, 0);
    if (s.empty()) s = SocketAddress::from_v4(any, 0);
    v6_ = c.is_v6() || s.is_v6();

    auto fill = [this](const SocketAddress& a, Side& side) {
        side.port = a.port();
        if (a.is_v6()) {
            std::memcpy(side.ip.data(), &a.storage.in6.sin6_addr, 16);
        } else if (v6_) {
            // The IPv4 end of a mixed pair, written as ::ffff:a.b.c.d.
            side.ip[10] = std::byte{0xff};
            side.ip[11] = std::byte{0xff};
            std::memcpy(side.ip.data() + 12, &a.storage.in4.sin_addr, 4);
        } else {
            std::memcpy(side.ip.data(), &a.storage.in4.sin_addr, 4);
        }
    };
    fill(c, client_);
    fill(s, server_);
    client_.next_seq = initial_sequence(client_.ip, client_.port, server_.ip, server_.port);
    server_.next_seq = initial_sequence(server_.ip, server_.port, client_.ip, client_.port);
}

void FlowRecorder::segment(const Side& from, const Side& to, uint8_t flags, std::span<const std::byte> payload,
                           uint64_t time_us, std::vector<std::byte>& out) {
    const size_t ip_length = v6_ ? kIpv6HeaderLength : kIpv4HeaderLength;
    const size_t tcp_length = kTcpHeaderLength + payload.size();
    const size_t packet_length = ip_length + tcp_length;

    const size_t start = out.size();
    out.resize(start + kRecordHeaderLength + packet_length);
    std::byte* rec = out.data() + start;
    put_le32(rec, static_cast<uint32_t>(time_us / 1000000));
    put_le32(rec + 4, static_cast<uint32_t>(time_us % 1000000));
    put_le32(rec + 8, static_cast<uint32_t>(packet_length));  // incl_len: nothing is cut
    put_le32(rec + 12, static_cast<uint32_t>(packet_length)); // orig_len

    std::byte* ip = rec + kRecordHeaderLength;
    std::memset(ip, 0, ip_length + kTcpHeaderLength);
    // The TCP checksum covers a pseudo-header of addresses, protocol and TCP length (RFC 793 / RFC 8200 8.1);
    // its sum is the same whichever order the words are added in.
    uint64_t pseudo = kIpProtoTcp + tcp_length;
    if (v6_) {
        ip[0] = std::byte{0x60};  // version 6, traffic class and flow label 0
        put_be16(ip + 4, static_cast<uint16_t>(tcp_length));
        ip[6] = std::byte{kIpProtoTcp};
        ip[7] = std::byte{kDefaultTtl};
        std::memcpy(ip + 8, from.ip.data(), 16);
        std::memcpy(ip + 24, to.ip.data(), 16);
        pseudo = sum_words(pseudo, std::span<const std::byte>(ip + 8, 32));
    } else {
        ip[0] = std::byte{0x45};  // version 4, IHL 5 (no options)
        put_be16(ip + 2, static_cast<uint16_t>(packet_length));
        put_be16(ip + 4, ip_id_++);
        put_be16(ip + 6, kIpv4DontFragment);
        ip[8] = std::byte{kDefaultTtl};
        ip[9] = std::byte{kIpProtoTcp};
        std::memcpy(ip + 12, from.ip.data(), 4);
        std::memcpy(ip + 16, to.ip.data(), 4);
        put_be16(ip + 10, internet_checksum(std::span<const std::byte>(ip, kIpv4HeaderLength)));
        pseudo = sum_words(pseudo, std::span<const std::byte>(ip + 12, 8));
    }

    std::byte* tcp = ip + ip_length;
    put_be16(tcp, from.port);
    put_be16(tcp + 2, to.port);
    put_be32(tcp + 4, from.next_seq);
    put_be32(tcp + 8, (flags & kTcpAck) ? to.next_seq : 0);
    tcp[12] = std::byte{(kTcpHeaderLength / 4) << 4};
    tcp[13] = std::byte{flags};
    put_be16(tcp + 14, kWindow);
    if (!payload.empty()) std::memcpy(tcp + kTcpHeaderLength, payload.data(), payload.size());
    put_be16(tcp + 16, fold_complement(sum_words(pseudo, std::span<const std::byte>(tcp, tcp_length))));
}

void FlowRecorder::open(uint64_t time_us, std::vector<std::byte>& out) {
    if (opened_) return;
    opened_ = true;
    segment(client_, server_, kTcpSyn, {}, time_us, out);
    client_.next_seq += 1;
    segment(server_, client_, kTcpSyn | kTcpAck, {}, time_us, out);
    server_.next_seq += 1;
    segment(client_, server_, kTcpAck, {}, time_us, out);
}

void FlowRecorder::data(bool client_to_server, std::span<const std::byte> bytes, uint64_t time_us,
                        std::vector<std::byte>& out) {
    Side& from = client_to_server ? client_ : server_;
    const Side& to = client_to_server ? server_ : client_;
    if (bytes.empty() || reset_ || from.fin_sent) return;
    open(time_us, out);
    const size_t max_segment = v6_ ? kMaxSegmentV6 : kMaxSegmentV4;
    const size_t overhead = kRecordHeaderLength + (v6_ ? kIpv6HeaderLength : kIpv4HeaderLength) + kTcpHeaderLength;
    const size_t segments = (bytes.size() + max_segment - 1) / max_segment;
    out.reserve(out.size() + bytes.size() + segments * overhead);
    while (!bytes.empty()) {
        const size_t n = std::min(bytes.size(), max_segment);
        segment(from, to, kTcpPsh | kTcpAck, bytes.first(n), time_us, out);
        from.next_seq += static_cast<uint32_t>(n);  // wraps modulo 2^32, as sequence numbers do
        bytes = bytes.subspan(n);
    }
}

void FlowRecorder::fin(bool client_to_server, uint64_t time_us, std::vector<std::byte>& out) {
    Side& from = client_to_server ? client_ : server_;
    const Side& to = client_to_server ? server_ : client_;
    if (reset_ || from.fin_sent) return;
    open(time_us, out);
    segment(from, to, kTcpFin | kTcpAck, {}, time_us, out);
    from.next_seq += 1;
    from.fin_sent = true;
}

void FlowRecorder::reset(bool client_to_server, uint64_t time_us, std::vector<std::byte>& out) {
    const Side& from = client_to_server ? client_ : server_;
    const Side& to = client_to_server ? server_ : client_;
    if (reset_) return;
    open(time_us, out);
    segment(from, to, kTcpRst | kTcpAck, {}, time_us, out);
    reset_ = true;
}

}  // namespace ferry::pcap
