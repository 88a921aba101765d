#include "proto/socks5.h"

#include "support/text.h"

#include "proto/codec.h"

#include <algorithm>
#include <cerrno>

namespace ferry::socks5 {
namespace {

using bytes::byte_at;
using bytes::be16;
using bytes::put_u8;
using bytes::put_be16;
using bytes::put_bytes;

// VER CMD/REP RSV (a request or reply), or RSV RSV FRAG (a UDP datagram): where ATYP, the start of the address, is.
constexpr size_t kAddressOffset = 3;

// ---- byte helpers ----

void put_text(std::vector<std::byte>& out, std::string_view s) { put_bytes(out, s.data(), s.size()); }

std::string hex_byte(uint8_t v) {
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("0x") + kHex[v >> 4] + kHex[v & 0xF];
}

// Makes bytes from the network safe for a log line: printable ASCII stays, the rest becomes \xNN.

// At most kMaxQuoted bytes of `s`, escaped, in double quotes, with "..." when cut.
constexpr size_t kMaxQuoted = 64;

std::string quoted(std::string_view s) { return ferry::quoted(s, kMaxQuoted); }

template <typename Result>
Result invalid(std::string error) {
    Result r;
    r.status = Status::Invalid;
    r.error = std::move(error);
    return r;
}

// ---- addresses ----

enum class AddressStatus { Incomplete, Done, UnknownType, EmptyDomain };

struct ParsedAddress {
    AddressStatus status = AddressStatus::Incomplete;
    size_t end = 0;  // offset just past the port, on Done
    Address address;
};

// Reads ATYP DST.ADDR DST.PORT from data[kAddressOffset...]. An unknown ATYP or an empty domain is reported as
// soon as the byte that shows it is there.
ParsedAddress parse_address(std::span<const std::byte> data) {
    ParsedAddress p;
    if (data.size() <= kAddressOffset) return p;
    const uint8_t type = byte_at(data, kAddressOffset);
    size_t begin = kAddressOffset + 1;
    size_t length;
    switch (type) {
        case kAddressIpv4:
            length = kIpv4Length;
            break;
        case kAddressIpv6:
            length = kIpv6Length;
            break;
        case kAddressDomain:
            if (data.size() <= begin) return p;
            length = byte_at(data, begin);
            if (length == 0) {
                p.status = AddressStatus::EmptyDomain;
                return p;
            }
            ++begin;
            break;
        default:
            p.status = AddressStatus::UnknownType;
            return p;
    }
    const size_t end = begin + length + kPortLength;
    if (data.size() < end) return p;
    const uint16_t port = be16(data, begin + length);
    const auto* a = reinterpret_cast<const uint8_t*>(data.data()) + begin;
    if (type == kAddressIpv4)
        p.address = Address(SocketAddress::from_v4(a, port));
    else if (type == kAddressIpv6)
        p.address = Address(SocketAddress::from_v6(a, port));
    else
        p.address = Address(std::string(reinterpret_cast<const char*>(a), length), port);
    p.status = AddressStatus::Done;
    p.end = end;
    return p;
}

// Appends ATYP DST.ADDR DST.PORT for an IP address (v4 or v6; anything else as 0.0.0.0:0).
void put_ip_address(const SocketAddress& a, std::vector<std::byte>& out) {
    if (a.is_v6()) {
        put_u8(out, kAddressIpv6);
        put_bytes(out, &a.storage.in6.sin6_addr, kIpv6Length);
    } else {
        put_u8(out, kAddressIpv4);
        if (a.is_v4())
            put_bytes(out, &a.storage.in4.sin_addr, kIpv4Length);
        else
            out.insert(out.end(), kIpv4Length, std::byte{0});
    }
    put_be16(out, a.port());
}

// An IP address (v4 or v6) or a 1..255-byte domain: what put_address() can write. (A domain is never empty.)
bool is_encodable(const Address& a) {
    return a.is_domain() ? a.domain.size() <= kMaxDomainLength : a.ip.is_v4() || a.ip.is_v6();
}

// Appends ATYP DST.ADDR DST.PORT for an address that is_encodable(): ATYP 3 with its length byte for a domain.
void put_address(const Address& a, std::vector<std::byte>& out) {
    if (!a.is_domain()) {
        put_ip_address(a.ip, out);
        return;
    }
    put_u8(out, kAddressDomain);
    put_u8(out, static_cast<uint8_t>(a.domain.size()));
    put_text(out, a.domain);
    put_be16(out, a.port);
}

// Bytes a domain from a client must not hold: it is handed to the resolver and written to the log.
bool is_bad_domain_byte(char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
}

std::string command_error(uint8_t command) {
    switch (command) {
        case kCommandBind:
            return "SOCKS5 command BIND is not supported";
        case kCommandUdpAssociate:
            return "SOCKS5 command UDP ASSOCIATE is not supported";
        default:
            return "unknown SOCKS5 command " + hex_byte(command);
    }
}

}  // namespace

std::string Address::to_string() const {
    if (is_domain()) return domain + ":" + std::to_string(port);
    return ip.to_string();
}

std::string reply_text(uint8_t code) {
    switch (code) {
        case kSucceeded:
            return "succeeded";
        case kGeneralFailure:
            return "general SOCKS server failure";
        case kConnectionNotAllowed:
            return "connection not allowed by ruleset";
        case kNetworkUnreachable:
            return "network unreachable";
        case kHostUnreachable:
            return "host unreachable";
        case kConnectionRefused:
            return "connection refused";
        case kTtlExpired:
            return "TTL expired";
        case kCommandNotSupported:
            return "command not supported";
        case kAddressTypeNotSupported:
            return "address type not supported";
        default:
            return "unassigned reply code " + hex_byte(code);
    }
}

uint8_t reply_code_for_errno(int err) {
    switch (err) {
        case ECONNREFUSED:
            return kConnectionRefused;
        case ENETUNREACH:
            return kNetworkUnreachable;
        case EHOSTUNREACH:
        case ETIMEDOUT:
            return kHostUnreachable;
        case EACCES:
        case EPERM:
            return kConnectionNotAllowed;
        default:
            return kGeneralFailure;
    }
}

// ---------------------------------------------------------------- client side

void encode_greeting(bool offer_userpass, std::vector<std::byte>& out) {
    put_u8(out, kVersion);
    if (offer_userpass) {
        put_u8(out, 2);
        put_u8(out, kMethodNoAuth);
        put_u8(out, kMethodUserPass);
    } else {
        put_u8(out, 1);
        put_u8(out, kMethodNoAuth);
    }
}

MethodReply parse_method_reply(std::span<const std::byte> data) {
    if (data.empty()) return {};
    if (byte_at(data, 0) != kVersion)
        return invalid<MethodReply>("invalid SOCKS5 method reply: version " + hex_byte(byte_at(data, 0)) +
                                    " (expected 0x05)");
    if (data.size() < 2) return {};
    const uint8_t method = byte_at(data, 1);
    if (method == kMethodNoAcceptable) {
        auto r = invalid<MethodReply>("no acceptable authentication method");
        r.method = method;
        return r;
    }
    MethodReply r;
    r.status = Status::Done;
    r.consumed = 2;
    r.method = method;
    return r;
}

bool encode_userpass(std::string_view user, std::string_view password, std::vector<std::byte>& out) {
    if (user.empty() || user.size() > 255 || password.size() > 255) return false;
    out.reserve(out.size() + 3 + user.size() + password.size());
    put_u8(out, kUserPassVersion);
    put_u8(out, static_cast<uint8_t>(user.size()));
    put_text(out, user);
    put_u8(out, static_cast<uint8_t>(password.size()));
    put_text(out, password);
    return true;
}

AuthReply parse_auth_reply(std::span<const std::byte> data) {
    if (data.empty()) return {};
    if (byte_at(data, 0) != kUserPassVersion)
        return invalid<AuthReply>("invalid SOCKS5 username/password reply: version " + hex_byte(byte_at(data, 0)) +
                                  " (expected 0x01)");
    if (data.size() < 2) return {};
    const uint8_t status = byte_at(data, 1);
    if (status != 0) {
        auto r = invalid<AuthReply>("username/password rejected (status " + std::to_string(status) + ")");
        r.auth_status = status;
        return r;
    }
    AuthReply r;
    r.status = Status::Done;
    r.consumed = 2;
    return r;
}

bool encode_connect(const Address& dst, std::vector<std::byte>& out) {
    if (!is_encodable(dst)) return false;
    out.reserve(out.size() + kMaxRequestLength);
    put_u8(out, kVersion);
    put_u8(out, kCommandConnect);
    put_u8(out, 0);
    put_address(dst, out);
    return true;
}

Reply parse_reply(std::span<const std::byte> data) {
    if (data.empty()) return {};
    if (byte_at(data, 0) != kVersion)
        return invalid<Reply>("invalid SOCKS5 reply: version " + hex_byte(byte_at(data, 0)) + " (expected 0x05)");
    if (data.size() < 2) return {};
    const uint8_t code = byte_at(data, 1);
    if (code != kSucceeded) {
        auto r = invalid<Reply>("SOCKS5 proxy replied: " + reply_text(code));
        r.code = code;
        return r;
    }
    if (data.size() < 3) return {};
    if (byte_at(data, 2) != 0)
        return invalid<Reply>("invalid SOCKS5 reply: reserved byte " + hex_byte(byte_at(data, 2)) +
                              " (expected 0x00)");
    ParsedAddress a = parse_address(data);
    switch (a.status) {
        case AddressStatus::Incomplete:
            return {};
        case AddressStatus::UnknownType:
            return invalid<Reply>("invalid SOCKS5 reply: unknown address type " +
                                  hex_byte(byte_at(data, kAddressOffset)));
        case AddressStatus::EmptyDomain:
            return invalid<Reply>("invalid SOCKS5 reply: empty domain name");
        case AddressStatus::Done:
            break;
    }
    Reply r;
    r.status = Status::Done;
    r.consumed = a.end;
    r.code = code;
    r.bound = std::move(a.address);
    return r;
}

// ---------------------------------------------------------------- client side: UDP ASSOCIATE

void encode_udp_associate(const SocketAddress& source, std::vector<std::byte>& out) {
    put_u8(out, kVersion);
    put_u8(out, kCommandUdpAssociate);
    put_u8(out, 0);
    put_ip_address(source, out);
}

UdpRelay udp_relay_address(const Address& bound, const SocketAddress& control_peer) {
    if (bound.is_domain())
        return invalid<UdpRelay>("SOCKS5 UDP relay given as a domain name (" + quoted(bound.domain) +
                                 "), which is not supported");
    if (!(bound.ip.is_v4() || bound.ip.is_v6())) return invalid<UdpRelay>("SOCKS5 UDP relay: no address");
    if (bound.port == 0) return invalid<UdpRelay>("SOCKS5 UDP relay on port 0");
    UdpRelay r;
    r.address = bound.ip.unmapped();
    if (r.address.is_unspecified()) {
        if (!(control_peer.is_v4() || control_peer.is_v6()))
            return invalid<UdpRelay>("SOCKS5 UDP relay on the server's own address, which is not known");
        r.address = control_peer.unmapped();
        r.address.set_port(bound.port);
    }
    r.status = Status::Done;
    return r;
}

bool encode_udp_header(const Address& dst, std::vector<std::byte>& out) {
    if (!is_encodable(dst)) return false;
    put_u8(out, 0);  // RSV
    put_u8(out, 0);
    put_u8(out, 0);  // FRAG
    put_address(dst, out);
    return true;
}

bool encode_udp_datagram(const Address& dst, std::span<const std::byte> payload, std::vector<std::byte>& out) {
    out.reserve(out.size() + kMaxUdpHeaderLength + payload.size());
    if (!encode_udp_header(dst, out)) return false;
    out.insert(out.end(), payload.begin(), payload.end());
    return true;
}

UdpHeader parse_udp_header(std::span<const std::byte> datagram) {
    UdpHeader h;
    auto fail = [&h](UdpHeaderStatus status, std::string error) {
        h.status = status;
        h.error = std::move(error);
        return h;
    };
    const size_t size = datagram.size();
    const std::string size_text = std::to_string(size) + "-byte datagram";
    // RSV RSV FRAG ATYP: what every header has, whatever its address type.
    if (size < kAddressOffset + 1)
        return fail(UdpHeaderStatus::Invalid, "invalid SOCKS5 UDP header: " + size_text + " (at least 4 bytes)");
    if (be16(datagram, 0) != 0)
        return fail(UdpHeaderStatus::Invalid, "invalid SOCKS5 UDP header: reserved bytes " +
                                                  hex_byte(byte_at(datagram, 0)) + " " +
                                                  hex_byte(byte_at(datagram, 1)) + " (expected 0x00 0x00)");
    h.fragment = byte_at(datagram, 2);
    if (h.fragment != 0)
        return fail(UdpHeaderStatus::Fragment,
                    "SOCKS5 UDP fragment " + hex_byte(h.fragment) + " dropped (fragments are not reassembled)");
    const uint8_t type = byte_at(datagram, kAddressOffset);
    switch (type) {
        case kAddressIpv4:
            if (size < kUdpHeaderIpv4Length)
                return fail(UdpHeaderStatus::Invalid,
                            "invalid SOCKS5 UDP header: " + size_text + " (an IPv4 header is 10 bytes)");
            break;
        case kAddressIpv6:
            if (size < kUdpHeaderIpv6Length)
                return fail(UdpHeaderStatus::Invalid,
                            "invalid SOCKS5 UDP header: " + size_text + " (an IPv6 header is 22 bytes)");
            break;
        case kAddressDomain: {
            if (size < kAddressOffset + 2)
                return fail(UdpHeaderStatus::Invalid,
                            "invalid SOCKS5 UDP header: " + size_text + " (no domain length)");
            const size_t length = byte_at(datagram, kAddressOffset + 1);
            if (length == 0) return fail(UdpHeaderStatus::Invalid, "invalid SOCKS5 UDP header: empty domain name");
            if (size < kAddressOffset + 2 + length + kPortLength)
                return fail(UdpHeaderStatus::Invalid, "invalid SOCKS5 UDP header: a " + std::to_string(length) +
                                                          "-byte domain name and port overrun the " + size_text);
            break;
        }
        default:
            return fail(UdpHeaderStatus::Invalid,
                        "invalid SOCKS5 UDP header: unknown address type " + hex_byte(type));
    }
    // The checks above make the whole address present, so parse_address() is Done.
    ParsedAddress a = parse_address(datagram);
    if (a.status != AddressStatus::Done) return fail(UdpHeaderStatus::Invalid, "invalid SOCKS5 UDP header");
    h.status = UdpHeaderStatus::Done;
    h.address = std::move(a.address);
    h.payload_offset = a.end;
    return h;
}

// ---------------------------------------------------------------- server side

Greeting parse_greeting(std::span<const std::byte> data) {
    if (data.empty()) return {};
    const uint8_t version = byte_at(data, 0);
    if (version == 4) return invalid<Greeting>("SOCKS4 is not supported");
    if (version != kVersion)
        return invalid<Greeting>("invalid SOCKS5 greeting: version " + hex_byte(version) + " (expected 0x05)");
    if (data.size() < 2) return {};
    const size_t count = byte_at(data, 1);
    if (count == 0) return invalid<Greeting>("invalid SOCKS5 greeting: no authentication methods offered");
    if (data.size() < 2 + count) return {};
    Greeting g;
    for (size_t i = 2; i < 2 + count; ++i) {
        g.offers_no_auth |= byte_at(data, i) == kMethodNoAuth;
        g.offers_userpass |= byte_at(data, i) == kMethodUserPass;
    }
    g.status = Status::Done;
    g.consumed = 2 + count;
    return g;
}

void encode_method_reply(uint8_t method, std::vector<std::byte>& out) {
    put_u8(out, kVersion);
    put_u8(out, method);
}

Request parse_request(std::span<const std::byte> data) {
    Request r;
    auto fail = [&r](std::string error, uint8_t reply_code) {
        r.status = Status::Invalid;
        r.error = std::move(error);
        r.reply_code = reply_code;
        return r;
    };
    if (data.empty()) return r;
    if (byte_at(data, 0) != kVersion)
        return fail("invalid SOCKS5 request: version " + hex_byte(byte_at(data, 0)) + " (expected 0x05)",
                    kGeneralFailure);
    if (data.size() < 2) return r;
    r.command = byte_at(data, 1);
    if (data.size() < 3) return r;
    if (byte_at(data, 2) != 0)
        return fail("invalid SOCKS5 request: reserved byte " + hex_byte(byte_at(data, 2)) + " (expected 0x00)",
                    kGeneralFailure);
    ParsedAddress a = parse_address(data);
    switch (a.status) {
        case AddressStatus::Incomplete:
            return r;
        case AddressStatus::UnknownType:
            return fail("invalid SOCKS5 request: unknown address type " + hex_byte(byte_at(data, kAddressOffset)),
                        kAddressTypeNotSupported);
        case AddressStatus::EmptyDomain:
            return fail("invalid SOCKS5 request: empty domain name", kGeneralFailure);
        case AddressStatus::Done:
            break;
    }
    // The whole request is there: from here on `consumed` is known, even for a refusal.
    r.destination = std::move(a.address);
    r.consumed = a.end;
    const std::string& domain = r.destination.domain;
    if (r.command != kCommandConnect) return fail(command_error(r.command), kCommandNotSupported);
    if (std::any_of(domain.begin(), domain.end(), is_bad_domain_byte))
        return fail("invalid SOCKS5 request: control character or space in domain name " + quoted(domain),
                    kGeneralFailure);
    r.status = Status::Done;
    return r;
}

void encode_reply(uint8_t code, const SocketAddress& bound, std::vector<std::byte>& out) {
    put_u8(out, kVersion);
    put_u8(out, code);
    put_u8(out, 0);
    put_ip_address(bound, out);
}

}  // namespace ferry::socks5
