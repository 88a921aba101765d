// PROXY protocol v1 and v2 (haproxy doc/proxy-protocol.txt, 2020-03-05) as pure functions over bytes: parse()
// reads a header from the start of a buffer, encode_v1()/encode_v2() append one. No sockets, no globals.
#pragma once

#include "proto/codec.h"

#include "core/net_address.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ferry::proxy {

enum class Command : uint8_t { Local = 0, Proxy = 1 };
enum class Transport : uint8_t { Unspec = 0, Stream = 1, Dgram = 2 };
enum class Family : uint8_t { Unspec = 0, Inet = 1, Inet6 = 2, Unix = 3 };

// The 12 bytes every v2 header starts with.
inline constexpr std::array<uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
inline constexpr size_t kV2FixedLength = 16;  // signature, ver/cmd, fam/transport, len
// Worst-case v1 line including CRLF; the spec sizes receivers' buffers at 108 bytes.
inline constexpr size_t kV1MaxLength = 107;
// Address block sizes after the 16 fixed bytes.
inline constexpr size_t kV2InetAddressLength = 12;
inline constexpr size_t kV2Inet6AddressLength = 36;
inline constexpr size_t kV2UnixAddressLength = 216;

// v2 TLV types.
inline constexpr uint8_t kTlvAlpn = 0x01;
inline constexpr uint8_t kTlvAuthority = 0x02;
inline constexpr uint8_t kTlvCrc32c = 0x03;
inline constexpr uint8_t kTlvNoop = 0x04;
inline constexpr uint8_t kTlvUniqueId = 0x05;
inline constexpr uint8_t kTlvSsl = 0x20;
inline constexpr uint8_t kTlvSslVersion = 0x21;
inline constexpr uint8_t kTlvSslCn = 0x22;
inline constexpr uint8_t kTlvSslCipher = 0x23;
inline constexpr uint8_t kTlvSslSigAlg = 0x24;
inline constexpr uint8_t kTlvSslKeyAlg = 0x25;
inline constexpr uint8_t kTlvNetns = 0x30;
// Reserved ranges, kept raw in Header::tlvs like any unknown type.
inline constexpr uint8_t kTlvCustomFirst = 0xE0, kTlvCustomLast = 0xEF;
inline constexpr uint8_t kTlvExperimentalFirst = 0xF0, kTlvExperimentalLast = 0xF7;
inline constexpr uint8_t kTlvFutureFirst = 0xF8, kTlvFutureLast = 0xFF;
inline constexpr size_t kMaxUniqueIdLength = 128;
// SSL TLV: client u8 + verify u32 before the sub-TLVs.
inline constexpr size_t kSslFixedLength = 5;

// SslInfo::client bits.
inline constexpr uint8_t kClientSsl = 0x01;
inline constexpr uint8_t kClientCertConn = 0x02;
inline constexpr uint8_t kClientCertSess = 0x04;

struct Tlv {
    uint8_t type = 0;
    std::vector<std::byte> value;

    bool operator==(const Tlv&) const = default;
};

// The decoded SSL TLV (0x20). `verify` is 0 when the client presented a certificate that verified.
struct SslInfo {
    uint8_t client = 0;
    uint32_t verify = 0;
    std::optional<std::string> version, cn, cipher, sig_alg, key_alg;
    std::vector<Tlv> other;  // sub-TLVs other than 0x21..0x25, in order
};

struct Header {
    int version = 0;                   // 1 or 2
    Command command = Command::Proxy;  // v1 UNKNOWN is reported as Command::Local with version 1
    Family family = Family::Unspec;    // as sent (v2 LOCAL reports the byte even though addresses are skipped)
    Transport transport = Transport::Unspec;
    // empty() when the header carries no usable addresses: LOCAL, UNKNOWN, UNSPEC or UNIX.
    SocketAddress source, destination;
    std::vector<Tlv> tlvs;  // every TLV in order, raw (v2 PROXY with INET/INET6/UNIX only)
    std::optional<std::string> alpn, authority, unique_id, netns;  // the last of each type wins
    std::optional<SslInfo> ssl;
    bool crc32c_present = false;  // and verified (a mismatch is Invalid)

    bool has_addresses() const { return !source.empty() && !destination.empty(); }
};

using Status = ParseStatus;

struct ParseOptions {
    bool accept_v1 = true;
    bool accept_v2 = true;
    // The transport v2 PROXY headers must carry: Stream for TCP listeners, Dgram for UDP. Unspec accepts either.
    // Dgram also refuses v1, which only describes TCP (as go-mmproxy's UDP path does).
    Transport transport = Transport::Stream;
};

struct ParseResult {
    Status status = Status::Incomplete;
    size_t consumed = 0;  // header length on Done; 0 otherwise
    // On Incomplete, the total number of bytes the header needs once that is known (a v2 header after its
    // 16 fixed bytes), else 0. Lets a caller with a small peek buffer give up instead of waiting forever.
    size_t needed = 0;
    std::string reason;  // set on Invalid only, go-mmproxy style ("failed to parse PROXY v2 header: ...")
    Header header;
};

// Reads the PROXY header at the start of `data`. Never reads past data.size() and never looks at bytes after
// the header. Stateless: a caller that peeks a socket calls it again on the grown buffer after Incomplete.
// Incomplete means every byte so far is a valid prefix of some header; errors are reported as soon as the
// bytes that prove them have arrived. Without TLVs nothing is allocated unless the result is Invalid.
ParseResult parse(std::span<const std::byte> data, const ParseOptions& options = {});

// Appends a v1 line: "PROXY TCP4|TCP6 src dst sport dport\r\n", or "PROXY UNKNOWN\r\n" when either address
// is empty, not IP, or the families differ (the caller unmaps ::ffff:a.b.c.d peers first if it wants TCP4).
void encode_v1(const SocketAddress& src, const SocketAddress& dst, std::vector<std::byte>& out);

// Appends a v2 header built from h.command, h.source/destination, h.transport and h.tlvs:
// - PROXY with both addresses of the same IP family: INET or INET6 with the address block, transport
//   h.transport (Stream when Unspec); every other case (LOCAL, missing or mixed addresses) is written as
//   family/transport UNSPEC with no address block.
// - h.tlvs are written raw in order, except CRC32C TLVs, which are always dropped; with add_crc32c a fresh
//   CRC32C TLV is appended last, computed over the whole header. alpn/authority/ssl/... are not consulted.
// Returns false and leaves `out` unchanged when the header would exceed the 16-bit length field.
bool encode_v2(const Header& h, std::vector<std::byte>& out, bool add_crc32c = false);

}  // namespace ferry::proxy
