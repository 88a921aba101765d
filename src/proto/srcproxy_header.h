// The srcproxy relay request (haruue-net/srcproxy c9ef7f4, protocol.go) as pure functions over bytes: the
// client sends it once, right after connecting to the server, then relays the raw stream; the server never
// answers (every failure is a closed connection). parse() reads one from the start of a buffer, encode()
// appends one. No sockets, no globals.
//
// Wire format, integers big-endian, total 9 + A + D + S bytes, no magic, padding or checksum:
//   version u8 = 1 | opcode u8 = 1 (RelayRequest) | A u8 | auth[A] | D u8 (4|16) | dst ip[D] | dst port u16 |
//   S u8 (4|16) | src ip[S] | src port u16
// The reference client sends A = 32, the SHA-256 of its auth string (auth_digest()).
#pragma once

#include "proto/codec.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/net_address.h"
#include "support/sha256.h"

namespace ferry::srcproxy {

inline constexpr uint8_t kVersion = 0x01;
inline constexpr uint8_t kOpRelayRequest = 0x01;
inline constexpr size_t kDigestLength = kSha256DigestLength;  // what the reference client sends as auth
inline constexpr size_t kMaxAuthLength = 255;                  // the u8 length field
// version, opcode, A, D, dst port, S, src port.
inline constexpr size_t kFixedLength = 9;
// The shortest header (A = 0, two IPv4 addresses) and the longest (A = 255, two IPv6 addresses): a server
// that peeks needs no more than kMaxHeaderLength bytes to decide.
inline constexpr size_t kMinHeaderLength = kFixedLength + 4 + 4;
inline constexpr size_t kMaxHeaderLength = kFixedLength + kMaxAuthLength + 16 + 16;

using Status = ParseStatus;

struct ParseResult {
    Status status = Status::Incomplete;
    // On Done the exact header length: the relayed stream starts at data[consumed]. 0 otherwise.
    size_t consumed = 0;
    // On Incomplete, the least total length the header can have given the bytes seen so far (always more
    // than data.size(), at most kMaxHeaderLength): reading needed - data.size() more bytes never reads past
    // the header, so the rest can stay in the socket for splice. 0 otherwise.
    size_t needed = 0;
    // On Invalid, why, worded like the reference server's log where it has the check ("unsupported version:
    // 2", "invalid dst addr len: 5"). Empty otherwise.
    std::string reason;
    // On Done: the auth bytes exactly as received (auth_length of them, 0..255; the ACL decides what a length
    // other than 32 means), and both addresses with IPv4-mapped IPv6 forms (::ffff:a.b.c.d, 16 bytes on the
    // wire) turned into IPv4, so a 4-byte destination and a mapped 16-byte source come out as one family.
    // destination.port() is never 0. source.port() may be 0: as in the reference, the server then binds the
    // source ip with a port the kernel picks. Unspecified addresses (0.0.0.0, ::) are passed on as they are:
    // refusing them (or loopback destinations) is policy, for the ACL.
    std::array<std::byte, kMaxAuthLength> auth_bytes{};
    size_t auth_length = 0;
    SocketAddress destination, source;

    std::span<const std::byte> auth() const { return std::span(auth_bytes).first(auth_length); }
};

// Reads the relay request at the start of `data`. Never reads past data.size() or looks at the bytes after
// the header. Stateless: after Incomplete call it again on the grown buffer. Incomplete means every byte so far
// is a valid prefix of some header; an error is reported as soon as the bytes that prove it are there:
//   byte 0 != 1                      "unsupported version: N"
//   byte 1 != 1                      "unsupported opcode: N"
//   D not 4 or 16                    "invalid dst addr len: N"
//   destination port 0               "invalid dst port: 0"          (ferry: it cannot be connected to)
//   S not 4 or 16                    "invalid src addr len: N"
//   families differ after unmapping  "src <a> and dst <b> are not of the same address family"  (ferry: the
//                                    server could neither bind nor connect such a pair; the reference fails
//                                    later, at bind)
// The reference reads the whole header before checking the address lengths (source first); the outcome for a
// given header is the same, only the time and the reason for a header with both lengths wrong differ.
// Allocates nothing unless the result is Invalid.
ParseResult parse(std::span<const std::byte> data);

// Appends a relay request carrying `auth` (as the reference client does: the 32-byte auth_digest() of the
// configured auth string; any 0..255 bytes are accepted), destination and source. Addresses are written
// in their shortest form: IPv4 and IPv4-mapped IPv6 as 4 bytes, other IPv6 as 16 (the reference client sends
// a mapped source as 16 bytes; its server and ferry's read both). Returns false and leaves `out` unchanged
// when parse() would refuse the result: auth longer than 255 bytes, an address that is empty or not IP, a
// destination port of 0, or a source and destination of different families after unmapping.
bool encode(std::span<const std::byte> auth, const SocketAddress& destination, const SocketAddress& source,
            std::vector<std::byte>& out);

// The auth the reference client sends for the configured auth string: SHA-256 of its UTF-8 bytes, no salt.
// A blank or absent auth is auth_digest("") = e3b0c442...b855.
inline Sha256Digest auth_digest(std::string_view auth) { return sha256(auth); }

}  // namespace ferry::srcproxy
