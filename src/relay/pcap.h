// A pure writer of classic pcap files for relayed TCP flows. ferry sees a relayed flow as two byte streams, not
// as packets, so each flow's handshake, data, FINs and RSTs are synthesized as IPv4 or IPv6 packets with real
// sequence numbers and checksums: Wireshark's "Follow TCP stream" then shows exactly the relayed bytes.
// Everything here builds bytes in memory; the caller owns the file, its locking and when records are flushed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/net_address.h"

namespace ferry::pcap {

inline constexpr size_t kFileHeaderLength = 24;
inline constexpr size_t kRecordHeaderLength = 16;
inline constexpr uint32_t kSnaplen = 262144;    // what tcpdump uses; every synthesized packet is far below it
inline constexpr uint32_t kLinktypeRaw = 101;   // LINKTYPE_RAW: each packet starts with its IPv4 or IPv6 header
inline constexpr size_t kIpv4HeaderLength = 20;
inline constexpr size_t kIpv6HeaderLength = 40;
inline constexpr size_t kTcpHeaderLength = 20;
// The most TCP payload one packet carries, so that no packet is longer than 65535 bytes: IPv4's total length
// is a 16-bit field, and IPv6 is held to the same whole-packet bound (tighter than its 16-bit payload length)
// so that no reader with a 64 KiB packet buffer, and no "packet too long" check, ever sees more.
inline constexpr size_t kMaxPacketLength = 65535;
inline constexpr size_t kMaxSegmentV4 = kMaxPacketLength - kIpv4HeaderLength - kTcpHeaderLength;  // 65495
inline constexpr size_t kMaxSegmentV6 = kMaxPacketLength - kIpv6HeaderLength - kTcpHeaderLength;  // 65475

// TCP flag bits (byte 13 of the TCP header).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

// The 24-byte global header: magic 0xa1b2c3d4 (microsecond timestamps), version 2.4, thiszone 0, sigfigs 0,
// snaplen kSnaplen, linktype kLinktypeRaw. Little-endian, as libpcap writes it on x86 and ARM; readers detect
// the byte order from the magic, so the bytes are the same on every host.
std::vector<std::byte> file_header();

// RFC 1071: the one's complement of the one's complement sum of `data` as big-endian 16-bit words (an odd
// last byte is padded with a zero). Over a header that holds its correct checksum, the result is 0.
uint16_t internet_checksum(std::span<const std::byte> data);

// One TCP flow's synthesized packets, appended as complete pcap records (16-byte record header, then the
// packet) to a caller's buffer. Not thread-safe: one recorder per flow, driven by whoever relays that flow.
//
// Sequence numbers: each side starts at an initial sequence number derived from the four-tuple (not random,
// so the same flow gives the same bytes), each data byte and each SYN/FIN consumes one, and every packet after
// the SYN acknowledges everything the other side has sent so far.
class FlowRecorder {
public:
    // IPv4-mapped IPv6 addresses are recorded as IPv4. If the two addresses still differ in family, both are
    // written as IPv6 (the IPv4 one as ::ffff:a.b.c.d); an empty address counts as 0.0.0.0 port 0.
    FlowRecorder(const SocketAddress& client, const SocketAddress& server);

    // The three-way handshake: SYN from the client, SYN|ACK, ACK. Only the first call writes anything; data(),
    // fin() and reset() call it first themselves, so a flow recorded from its first byte still opens properly.
    void open(uint64_t time_us, std::vector<std::byte>& out);

    // `bytes` sent by one side, as PSH|ACK segments of at most kMaxSegmentV4/V6 bytes each. Empty input writes
    // nothing; so does data from a side after its FIN, or after a reset (TCP could not carry it).
    void data(bool client_to_server, std::span<const std::byte> bytes, uint64_t time_us, std::vector<std::byte>& out);

    // That side's FIN|ACK; a second FIN from the same side, or one after a reset, writes nothing.
    void fin(bool client_to_server, uint64_t time_us, std::vector<std::byte>& out);

    // An RST|ACK from that side. It ends the flow: later calls write nothing.
    void reset(bool client_to_server, uint64_t time_us, std::vector<std::byte>& out);

    bool is_v6() const { return v6_; }

private:
    struct Side {
        std::array<std::byte, 16> ip{};  // network order; an IPv4 address uses the first 4 bytes
        uint16_t port = 0;
        uint32_t next_seq = 0;           // the sequence number of this side's next byte (or SYN/FIN)
        bool fin_sent = false;
    };

    // Appends one record: a segment from `from` to the other side with `flags` and `payload`, seq = from's
    // next_seq, ack = the other's next_seq (when ACK is set). Advances neither.
    void segment(const Side& from, const Side& to, uint8_t flags, std::span<const std::byte> payload,
                 uint64_t time_us, std::vector<std::byte>& out);

    Side client_;
    Side server_;
    bool v6_ = false;
    bool opened_ = false;
    bool reset_ = false;
    uint16_t ip_id_ = 0;  // IPv4 identification of the next packet, per flow
};

}  // namespace ferry::pcap
