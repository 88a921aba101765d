// SOCKS5 (RFC 1928) with username/password authentication (RFC 1929) as pure functions over bytes, both
// sides: the client half for ferry talking to an upstream SOCKS5 proxy, the server half for ferry serving a
// downstream SOCKS5 client. Only CONNECT is served; as a client, ferry also speaks UDP ASSOCIATE (RFC 1928
// sections 4 and 7: the request, the relay address from its reply, the header of each relayed datagram). No
// sockets, no globals.
//
// Every parser reads one message from the start of its buffer, never reads past data.size() and never looks
// at bytes after the message. They are stateless: after Incomplete the caller calls again on the grown
// buffer. Incomplete means every byte so far is a valid prefix of some message; errors are reported as soon
// as the bytes that prove them have arrived (except where parse_request says otherwise). On Done, `consumed`
// is the exact message length, so what follows (the next message of a pipelined exchange, or tunnel payload)
// is left to the caller.
#pragma once

#include "proto/codec.h"

#include "core/net_address.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ferry::socks5 {

using Status = ParseStatus;

inline constexpr uint8_t kVersion = 0x05;
inline constexpr uint8_t kUserPassVersion = 0x01;  // RFC 1929 subnegotiation version

// Authentication methods (RFC 1928 section 3).
inline constexpr uint8_t kMethodNoAuth = 0x00;
inline constexpr uint8_t kMethodUserPass = 0x02;
inline constexpr uint8_t kMethodNoAcceptable = 0xFF;

// Commands (RFC 1928 section 4).
inline constexpr uint8_t kCommandConnect = 0x01;
inline constexpr uint8_t kCommandBind = 0x02;
inline constexpr uint8_t kCommandUdpAssociate = 0x03;

// Address types (RFC 1928 section 5).
inline constexpr uint8_t kAddressIpv4 = 0x01;
inline constexpr uint8_t kAddressDomain = 0x03;
inline constexpr uint8_t kAddressIpv6 = 0x04;

// Reply codes (RFC 1928 section 6).
inline constexpr uint8_t kSucceeded = 0x00;
inline constexpr uint8_t kGeneralFailure = 0x01;
inline constexpr uint8_t kConnectionNotAllowed = 0x02;
inline constexpr uint8_t kNetworkUnreachable = 0x03;
inline constexpr uint8_t kHostUnreachable = 0x04;
inline constexpr uint8_t kConnectionRefused = 0x05;
inline constexpr uint8_t kTtlExpired = 0x06;
inline constexpr uint8_t kCommandNotSupported = 0x07;
inline constexpr uint8_t kAddressTypeNotSupported = 0x08;

// Longest messages, for sizing buffers: a greeting with 255 methods; a request or reply with a 255-byte
// domain (VER CMD/REP RSV ATYP LEN domain PORT); an RFC 1929 request with 255-byte name and password.
inline constexpr size_t kMaxGreetingLength = 2 + 255;
inline constexpr size_t kMaxRequestLength = 4 + 1 + 255 + 2;
inline constexpr size_t kMaxReplyLength = kMaxRequestLength;
inline constexpr size_t kMaxUserPassLength = 1 + 1 + 255 + 1 + 255;
inline constexpr size_t kMaxDomainLength = 255;

// A destination or bound address: an IP socket address, or a domain name and port (ATYP 3).
struct Address {
    SocketAddress ip;    // empty() for a domain
    std::string domain;  // empty for an IP address
    uint16_t port = 0;   // for an IP address, the same as ip.port()

    Address() = default;
    explicit Address(const SocketAddress& a) : ip(a), port(a.port()) {}
    Address(std::string name, uint16_t p) : domain(std::move(name)), port(p) {}

    bool is_domain() const { return !domain.empty(); }
    // "192.0.2.1:80", "[2001:db8::1]:80", "example.com:443"; "" when neither is set. A domain is printed as
    // received: the caller escapes it if it came from the network and goes to a log.
    std::string to_string() const;

    bool operator==(const Address&) const = default;
};

// The RFC's words for a reply code ("connection refused"), or "unassigned reply code 0xNN".
std::string reply_text(uint8_t code);

// The reply code a server sends when its own connect() failed with `err`: ECONNREFUSED 5, ENETUNREACH 3,
// EHOSTUNREACH and ETIMEDOUT 4, EACCES and EPERM 2, anything else 1.
uint8_t reply_code_for_errno(int err);

// ---------------------------------------------------------------- client side

struct MethodReply {
    Status status = Status::Incomplete;
    size_t consumed = 0;  // 2 on Done; 0 otherwise
    uint8_t method = 0;   // the method the server chose, on Done
    std::string error;    // set on Invalid only
};

struct AuthReply {
    Status status = Status::Incomplete;
    size_t consumed = 0;      // 2 on Done; 0 otherwise
    uint8_t auth_status = 0;  // the STATUS byte once it has arrived (non-zero on Invalid "rejected")
    std::string error;
};

struct Reply {
    Status status = Status::Incomplete;
    size_t consumed = 0;  // the reply's length on Done; 0 otherwise
    uint8_t code = 0;     // REP once it has arrived: kSucceeded on Done, the server's code on "replied" errors
    Address bound;        // BND.ADDR and BND.PORT, on Done
    std::string error;
};

// Appends the method selection message: 05 01 00, or 05 02 00 02 when offering RFC 1929 as well.
void encode_greeting(bool offer_userpass, std::vector<std::byte>& out);

// Reads the server's 2-byte method selection (VER METHOD). Done with any method other than 0xFF, which is
// Invalid ("no acceptable authentication method"): the caller checks that it is one it offered.
MethodReply parse_method_reply(std::span<const std::byte> data);

// Appends the RFC 1929 request: 01 ULEN UNAME PLEN PASSWD. The user must be 1..255 bytes and the password
// 0..255 (RFC 1929 says 1..255, but clients such as curl send an empty one for "no password").
// Returns false and leaves `out` unchanged when either is out of range.
bool encode_userpass(std::string_view user, std::string_view password, std::vector<std::byte>& out);

// Reads the 2-byte RFC 1929 reply (VER STATUS): VER must be 1; STATUS 0 is Done, anything else Invalid
// ("username/password rejected (status N)").
AuthReply parse_auth_reply(std::span<const std::byte> data);

// Appends a CONNECT request for `dst`: 05 01 00, then ATYP 1 (IPv4), 4 (IPv6) or 3 (domain, with its length
// byte) and the port. The address is written as it is: the caller unmaps ::ffff:a.b.c.d if it wants ATYP 1.
// Returns false and leaves `out` unchanged when `dst` is neither an IP address nor a 1..255-byte domain.
bool encode_connect(const Address& dst, std::vector<std::byte>& out);

// Reads the CONNECT reply: VER 5, REP, RSV 0, ATYP 1 / 3 (length byte, non-empty) / 4, BND.ADDR, BND.PORT.
// A REP other than 0 is Invalid ("SOCKS5 proxy replied: connection refused") as soon as it arrives, with
// `code` set; the rest of that reply is not waited for. A domain in BND.ADDR is taken as raw bytes.
Reply parse_reply(std::span<const std::byte> data);

// ---------------------------------------------------------------- client side: UDP ASSOCIATE

// Appends a UDP ASSOCIATE request: 05 03 00, then DST.ADDR and DST.PORT, the address and port ferry will send
// its datagrams from (RFC 1928 section 4), as ATYP 1 or 4 (written as it is, like encode_connect), or
// 0.0.0.0:0 (ATYP 1, all zeros) when `source` is empty because it is not known yet. The reply has the CONNECT
// reply's layout: read it with parse_reply(), then udp_relay_address() on its `bound`.
void encode_udp_associate(const SocketAddress& source, std::vector<std::byte>& out);

struct UdpRelay {
    Status status = Status::Invalid;  // Done or Invalid, never Incomplete
    SocketAddress address;            // where to send the datagrams, unmapped, on Done
    std::string error;                // set on Invalid only
};

// Where a UDP ASSOCIATE's datagrams go, from the reply's BND.ADDR/BND.PORT (`bound`) and the address the
// control connection is connected to (`control_peer`): BND.ADDR 0.0.0.0 or :: (of either family, also
// ::ffff:0.0.0.0) means "the server's own address", the control peer's address with BND.PORT; any other IP is
// taken as it is. The result is unmapped (::ffff:a.b.c.d becomes a.b.c.d). Invalid when BND.PORT is 0, when
// BND.ADDR is a domain name (this function resolves nothing), or when it is unspecified and `control_peer` is
// not an IP address.
UdpRelay udp_relay_address(const Address& bound, const SocketAddress& control_peer);

// The UDP request header of RFC 1928 section 7 in front of every datagram to and from the relay:
// RSV RSV (0x0000), FRAG, ATYP, DST.ADDR, DST.PORT, then the payload.
inline constexpr size_t kUdpHeaderIpv4Length = 4 + kIpv4Length + kPortLength;  // 10
inline constexpr size_t kUdpHeaderIpv6Length = 4 + kIpv6Length + kPortLength;  // 22
inline constexpr size_t kMaxUdpHeaderLength = 4 + 1 + kMaxDomainLength + kPortLength;  // 262

// Appends the header for a datagram to `dst` (FRAG 0; ATYP 1, 4, or 3 with its length byte; the IP address
// written as it is, like encode_connect). Returns false and leaves `out` unchanged when `dst` is neither an IP
// address nor a 1..255-byte domain.
bool encode_udp_header(const Address& dst, std::vector<std::byte>& out);

// encode_udp_header(), then `payload`.
bool encode_udp_datagram(const Address& dst, std::span<const std::byte> payload, std::vector<std::byte>& out);

// The outcome of reading a datagram's header. Fragment (FRAG != 0) is apart from Invalid so that callers can
// count fragments: ferry reassembles none, so it must drop them (RFC 1928 section 7).
enum class UdpHeaderStatus : uint8_t { Done, Fragment, Invalid };

struct UdpHeader {
    UdpHeaderStatus status = UdpHeaderStatus::Invalid;
    uint8_t fragment = 0;       // FRAG, once read (4 bytes or more with RSV 0): non-zero on Fragment
    Address address;            // DST.ADDR and DST.PORT (the source, in a datagram from the relay), on Done
    size_t payload_offset = 0;  // the payload is datagram[payload_offset..] (possibly empty), on Done
    std::string error;          // why, on Fragment and Invalid; empty on Done
};

// Reads the header at the start of a whole datagram: RSV must be 0x0000 and FRAG 0 (else Fragment, checked
// before the address is read), ATYP 1 (10-byte header), 4 (22 bytes) or 3 (7 bytes plus a 1..255-byte domain,
// taken as raw bytes). A datagram too short for its header, a non-zero RSV, an unknown ATYP, an empty domain or a
// domain running past the end of the datagram is Invalid with its reason. Never reads past datagram.size().
UdpHeader parse_udp_header(std::span<const std::byte> datagram);

// ---------------------------------------------------------------- server side

struct Greeting {
    Status status = Status::Incomplete;
    size_t consumed = 0;           // 2 + NMETHODS on Done; 0 otherwise
    bool offers_no_auth = false;   // method 0 is among those offered (on Done)
    bool offers_userpass = false;  // method 2 is among those offered (on Done)
    std::string error;
};

struct Request {
    Status status = Status::Incomplete;
    // The request's length on Done, and on Invalid when the whole request was read before the problem showed
    // (unsupported command, control characters in the domain); 0 otherwise.
    size_t consumed = 0;
    uint8_t command = 0;  // CMD once it has arrived
    Address destination;  // DST.ADDR and DST.PORT, once the whole request has arrived
    std::string error;
    // On Invalid, the REP to send back before closing: kCommandNotSupported for BIND, UDP ASSOCIATE and
    // unknown commands, kAddressTypeNotSupported for an unknown ATYP, kGeneralFailure otherwise.
    uint8_t reply_code = kSucceeded;
};

// Reads the client's method selection: 05 NMETHODS METHODS..., NMETHODS >= 1. Version 4 is Invalid
// ("SOCKS4 is not supported"), like any version other than 5. Which method to pick is the caller's choice.
Greeting parse_greeting(std::span<const std::byte> data);

// Appends 05 METHOD.
void encode_method_reply(uint8_t method, std::vector<std::byte>& out);

// Reads a request: 05 CMD 00 ATYP DST.ADDR DST.PORT. Done only for CONNECT; any other command is Invalid with
// reply_code kCommandNotSupported once the whole request is there (so `consumed` and `destination` are
// right). A domain must be 1..255 bytes without control characters, spaces or DEL (it goes to the resolver
// and the log); it is not checked to be a host name, and an IP literal in it is left to the resolver.
Request parse_request(std::span<const std::byte> data);

// Appends a reply: 05 CODE 00, then ATYP 1 with 0.0.0.0:0 when `bound` is empty, ATYP 1 for IPv4 and ATYP 4
// for IPv6 (written as it is, like encode_connect), and the port.
void encode_reply(uint8_t code, const SocketAddress& bound, std::vector<std::byte>& out);

}  // namespace ferry::socks5
