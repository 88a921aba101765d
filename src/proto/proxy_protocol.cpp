#include "proto/proxy_protocol.h"

#include "support/text.h"

#include "support/crc32c.h"

#include "proto/codec.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

namespace ferry::proxy {
namespace {

using bytes::byte_at;
using bytes::be16;
using bytes::be32;
using bytes::put_u8;
using bytes::put_be16;
using bytes::put_bytes;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV1Error = "failed to parse PROXY v1 header: ";
constexpr std::string_view kV2Error = "failed to parse PROXY v2 header: ";
constexpr std::string_view kMissing = "PROXY header missing";

// Longest textual forms a v1 field can take: "255.255.255.255", the IPv4-mapped IPv6 form
// "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "65535".
constexpr size_t kMaxIpv4Text = 15;
constexpr size_t kMaxIpv6Text = 45;
constexpr size_t kMaxPortText = 5;

constexpr size_t kTlvHeaderLength = 3;  // type u8, length u16be

// ---- results ----

ParseResult incomplete(size_t needed = 0) { return parse_incomplete<ParseResult>(needed); }
ParseResult invalid(std::string reason) { return parse_invalid<ParseResult>(std::move(reason)); }

ParseResult v1_invalid(std::string_view what) {
    std::string s(kV1Error);
    s += what;
    return invalid(std::move(s));
}

ParseResult v2_invalid(std::string_view what) {
    std::string s(kV2Error);
    s += what;
    return invalid(std::move(s));
}

// Makes attacker-controlled bytes safe for a log line: printable ASCII stays, the rest becomes \xNN.
// ---- byte helpers ----

std::string_view as_text(std::span<const std::byte> d) {
    return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// True when the first min(data.size(), prefix.size()) bytes of `data` equal those of `prefix`.
template <typename Prefix>
bool matches_prefix(std::span<const std::byte> data, const Prefix& prefix) {
    size_t n = std::min(data.size(), std::size(prefix));
    for (size_t i = 0; i < n; ++i)
        if (byte_at(data, i) != static_cast<uint8_t>(prefix[i])) return false;
    return true;
}

void put_text(std::vector<std::byte>& out, std::string_view s) { put_bytes(out, s.data(), s.size()); }

// ---- v1 ----

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Strict dotted quad: four decimal parts 0..255, no leading zeros, nothing else.
bool parse_ipv4(std::string_view s, uint8_t out[4]) {
    if (s.size() > kMaxIpv4Text) return false;
    for (int part = 0; part < 4; ++part) {
        if (part > 0) {
            if (s.empty() || s.front() != '.') return false;
            s.remove_prefix(1);
        }
        size_t n = 0;
        unsigned value = 0;
        while (n < s.size() && is_digit(s[n])) value = value * 10 + static_cast<unsigned>(s[n++] - '0');
        if (n == 0 || n > 3 || value > 255 || (n > 1 && s[0] == '0')) return false;
        out[part] = static_cast<uint8_t>(value);
        s.remove_prefix(n);
    }
    return s.empty();
}

bool is_ipv6_char(char c) { return is_hex(c) || c == ':' || c == '.'; }

// Whatever inet_pton(AF_INET6) accepts (which includes the a.b.c.d tail forms). The character check comes
// first: inet_pton would stop at an embedded NUL and accept what precedes it.
bool parse_ipv6(std::string_view s, uint8_t out[16]) {
    if (s.empty() || s.size() > kMaxIpv6Text || !std::all_of(s.begin(), s.end(), is_ipv6_char)) return false;
    char buf[kMaxIpv6Text + 1];
    std::memcpy(buf, s.data(), s.size());
    buf[s.size()] = '\0';
    return inet_pton(AF_INET6, buf, out) == 1;
}

// Decimal 0..65535 without leading zeros ("0" itself is fine).
bool parse_port(std::string_view s, uint16_t& out) {
    if (s.empty() || s.size() > kMaxPortText || (s.size() > 1 && s[0] == '0')) return false;
    unsigned value = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return false;
    out = static_cast<uint16_t>(value);
    return true;
}

// Whether `s`, the start of an address field cut short by the end of the data, can still become valid.
bool address_prefix_ok(std::string_view s, Family family) {
    if (family == Family::Inet) {
        return s.size() <= kMaxIpv4Text && std::all_of(s.begin(), s.end(), [](char c) {
                   return is_digit(c) || c == '.';
               });
    }
    return s.size() <= kMaxIpv6Text && std::all_of(s.begin(), s.end(), is_ipv6_char);
}

bool port_prefix_ok(std::string_view s) {
    if (s.size() > kMaxPortText || (s.size() > 1 && s[0] == '0')) return false;
    unsigned value = 0;
    for (char c : s) {
        if (!is_digit(c)) return false;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    return value <= 65535;
}

bool is_prefix_of(std::string_view s, std::string_view word) { return word.substr(0, s.size()) == s; }

enum V1Field { kSourceAddress, kDestinationAddress, kSourcePort, kDestinationPort, kFieldCount };
constexpr std::string_view kFieldNames[kFieldCount] = {"source address", "destination address", "source port",
                                                       "destination port"};

// Parses the text between "PROXY " and CRLF. `complete` says whether the CRLF was seen; without it `line`
// is everything received so far and the result is Incomplete unless what is there is already wrong.
ParseResult parse_v1_line(std::string_view line, bool complete, size_t consumed) {
    size_t space = line.find(' ');
    std::string_view protocol = line.substr(0, space);
    if (space == std::string_view::npos && !complete) {
        if (is_prefix_of(protocol, "TCP4") || is_prefix_of(protocol, "TCP6") || is_prefix_of(protocol, "UNKNOWN"))
            return incomplete();
        return v1_invalid("unknown protocol " + printable(protocol));
    }

    ParseResult r;
    r.header.version = 1;
    if (protocol == "UNKNOWN") {
        // The rest of the line, addresses or not, is ignored by definition.
        if (!complete) return incomplete();
        r.status = Status::Done;
        r.consumed = consumed;
        r.header.command = Command::Local;
        return r;
    }
    Family family;
    if (protocol == "TCP4") {
        family = Family::Inet;
    } else if (protocol == "TCP6") {
        family = Family::Inet6;
    } else if (protocol.empty()) {
        return v1_invalid("empty protocol (extra space?)");
    } else {
        return v1_invalid("unknown protocol " + printable(protocol));
    }
    if (space == std::string_view::npos) return v1_invalid("missing source address");
    line.remove_prefix(space + 1);

    uint8_t src[16], dst[16];
    uint16_t sport = 0, dport = 0;
    for (int k = 0; k < kFieldCount; ++k) {
        const bool last = k == kDestinationPort;
        const bool is_address = k == kSourceAddress || k == kDestinationAddress;
        auto bad_field = [&](std::string_view field) {
            std::string what = "invalid " + std::string(kFieldNames[k]) + " " + quoted(field);
            if (is_address) what += family == Family::Inet ? " for TCP4" : " for TCP6";
            return v1_invalid(what);
        };
        size_t end = line.find(' ');
        if (last && end != std::string_view::npos) return v1_invalid("unexpected data after destination port");
        if (end == std::string_view::npos) end = line.size();  // the field runs to the end of what we have
        const std::string_view field = line.substr(0, end);
        if (end == line.size() && !complete) {
            const bool ok = is_address ? address_prefix_ok(field, family) : port_prefix_ok(field);
            return ok ? incomplete() : bad_field(field);
        }
        if (field.empty()) return v1_invalid("empty " + std::string(kFieldNames[k]) + " (extra space?)");

        bool ok;
        switch (k) {
            case kSourceAddress:
                ok = family == Family::Inet ? parse_ipv4(field, src) : parse_ipv6(field, src);
                break;
            case kDestinationAddress:
                ok = family == Family::Inet ? parse_ipv4(field, dst) : parse_ipv6(field, dst);
                break;
            case kSourcePort:
                ok = parse_port(field, sport);
                break;
            default:
                ok = parse_port(field, dport);
                break;
        }
        if (!ok) return bad_field(field);
        if (!last) {
            // A bad field is reported before a short line.
            if (end == line.size()) return v1_invalid("missing " + std::string(kFieldNames[k + 1]));
            line.remove_prefix(end + 1);
        }
    }

    r.status = Status::Done;
    r.consumed = consumed;
    r.header.command = Command::Proxy;
    r.header.family = family;
    r.header.transport = Transport::Stream;
    if (family == Family::Inet) {
        r.header.source = SocketAddress::from_v4(src, sport);
        r.header.destination = SocketAddress::from_v4(dst, dport);
    } else {
        r.header.source = SocketAddress::from_v6(src, sport);
        r.header.destination = SocketAddress::from_v6(dst, dport);
    }
    return r;
}

// `data` starts with "PROXY ". Finds the CRLF within kV1MaxLength bytes, then checks the grammar.
ParseResult parse_v1(std::span<const std::byte> data) {
    std::string_view text = as_text(data.first(std::min(data.size(), kV1MaxLength)));
    size_t eol = text.find_first_of("\r\n", kV1Prefix.size());
    bool complete = false;
    if (eol == std::string_view::npos) {
        if (data.size() >= kV1MaxLength) return v1_invalid("did not find \\r\\n within 107 bytes");
        eol = text.size();
    } else if (text[eol] == '\n') {
        return v1_invalid("found \\n without \\r");
    } else if (eol + 1 == kV1MaxLength) {
        return v1_invalid("did not find \\r\\n within 107 bytes");
    } else if (eol + 1 < data.size()) {
        if (byte_at(data, eol + 1) != '\n') return v1_invalid("found \\r not followed by \\n");
        complete = true;
    }
    std::string_view line = text.substr(kV1Prefix.size(), eol - kV1Prefix.size());
    return parse_v1_line(line, complete, eol + 2);
}

// ---- v2 ----

bool valid_family_transport(uint8_t b) {
    switch (b) {
        case 0x00:
        case 0x11:
        case 0x12:
        case 0x21:
        case 0x22:
        case 0x31:
        case 0x32:
            return true;
        default:
            return false;
    }
}

size_t address_block_length(Family f) {
    switch (f) {
        case Family::Inet:
            return kV2InetAddressLength;
        case Family::Inet6:
            return kV2Inet6AddressLength;
        case Family::Unix:
            return kV2UnixAddressLength;
        default:
            return 0;
    }
}

std::string family_transport_text(uint8_t b) { return std::to_string(b >> 4) + "/" + std::to_string(b & 0xF); }

std::string hex_byte(uint8_t b) {
    char buf[5] = {'0', 'x', "0123456789abcdef"[b >> 4], "0123456789abcdef"[b & 0xF], '\0'};
    return buf;
}

std::optional<std::string> as_string(std::span<const std::byte> v) { return std::string(as_text(v)); }

// Walks the TLVs of an SSL TLV value into `ssl`. Returns an empty string or the reason it is malformed.
std::string parse_ssl(std::span<const std::byte> v, SslInfo& ssl) {
    if (v.size() < kSslFixedLength)
        return "SSL TLV of " + std::to_string(v.size()) + " bytes is shorter than " +
               std::to_string(kSslFixedLength);
    ssl.client = byte_at(v, 0);
    ssl.verify = be32(v, 1);
    size_t off = kSslFixedLength;
    while (off < v.size()) {
        if (v.size() - off < kTlvHeaderLength) return "truncated SSL sub-TLV header";
        uint8_t type = byte_at(v, off);
        size_t len = be16(v, off + 1);
        off += kTlvHeaderLength;
        if (len > v.size() - off)
            return "SSL sub-TLV " + hex_byte(type) + " of " + std::to_string(len) + " bytes runs past the SSL TLV";
        auto value = v.subspan(off, len);
        off += len;
        switch (type) {
            case kTlvSslVersion:
                ssl.version = as_string(value);
                break;
            case kTlvSslCn:
                ssl.cn = as_string(value);
                break;
            case kTlvSslCipher:
                ssl.cipher = as_string(value);
                break;
            case kTlvSslSigAlg:
                ssl.sig_alg = as_string(value);
                break;
            case kTlvSslKeyAlg:
                ssl.key_alg = as_string(value);
                break;
            default:
                ssl.other.push_back(Tlv{type, {value.begin(), value.end()}});
                break;
        }
    }
    return {};
}

// Decodes the TLVs in header[begin, header.size()) into `h`, checking the CRC32C TLV against the whole
// header. Returns an empty string or the reason the TLVs are malformed.
std::string parse_tlvs(std::span<const std::byte> header, size_t begin, Header& h) {
    size_t off = begin;
    while (off < header.size()) {
        if (header.size() - off < kTlvHeaderLength)
            return "truncated TLV header (" + std::to_string(header.size() - off) + " bytes left)";
        uint8_t type = byte_at(header, off);
        size_t len = be16(header, off + 1);
        size_t value_off = off + kTlvHeaderLength;
        if (len > header.size() - value_off)
            return "TLV " + hex_byte(type) + " of " + std::to_string(len) + " bytes runs past the end of the header";
        auto value = header.subspan(value_off, len);
        off = value_off + len;
        h.tlvs.push_back(Tlv{type, {value.begin(), value.end()}});
        switch (type) {
            case kTlvAlpn:
                h.alpn = as_string(value);
                break;
            case kTlvAuthority:
                h.authority = as_string(value);
                break;
            case kTlvCrc32c: {
                if (len != 4) return "CRC32C TLV of " + std::to_string(len) + " bytes (must be 4)";
                if (h.crc32c_present) return "duplicate CRC32C TLV";
                static constexpr std::byte kZeros[4] = {};
                uint32_t crc = crc32c(header.first(value_off));
                crc = crc32c_update(crc, kZeros);
                crc = crc32c_update(crc, header.subspan(off));
                if (crc != be32(header, value_off)) return "CRC32C checksum mismatch";
                h.crc32c_present = true;
                break;
            }
            case kTlvUniqueId:
                if (len > kMaxUniqueIdLength)
                    return "UNIQUE_ID TLV of " + std::to_string(len) + " bytes is longer than " +
                           std::to_string(kMaxUniqueIdLength);
                h.unique_id = as_string(value);
                break;
            case kTlvSsl: {
                SslInfo ssl;
                std::string why = parse_ssl(value, ssl);
                if (!why.empty()) return why;
                h.ssl = std::move(ssl);
                break;
            }
            case kTlvNetns:
                h.netns = as_string(value);
                break;
            default:  // NOOP and unknown types: kept raw in tlvs only
                break;
        }
    }
    return {};
}

// `data` starts with the v2 signature, or with a prefix of it. Every check runs as soon as its bytes are there.
ParseResult parse_v2(std::span<const std::byte> data, const ParseOptions& options) {
    if (data.size() <= 12) return incomplete();
    const uint8_t ver_cmd = byte_at(data, 12);
    if (ver_cmd >> 4 != 2) return v2_invalid("unknown protocol version " + std::to_string(ver_cmd >> 4));
    if ((ver_cmd & 0xF) > 1) return v2_invalid("unknown command " + std::to_string(ver_cmd & 0xF));
    const auto command = static_cast<Command>(ver_cmd & 0xF);
    if (data.size() <= 13) return incomplete();

    const uint8_t fam_byte = byte_at(data, 13);
    if (!valid_family_transport(fam_byte)) return v2_invalid("invalid family/protocol " + family_transport_text(fam_byte));
    const auto family = static_cast<Family>(fam_byte >> 4);
    const auto transport = static_cast<Transport>(fam_byte & 0xF);
    const bool with_addresses = command == Command::Proxy && family != Family::Unspec;
    if (with_addresses && options.transport != Transport::Unspec && transport != options.transport)
        return v2_invalid("invalid family/protocol " + family_transport_text(fam_byte) +
                          (options.transport == Transport::Stream ? " (expected STREAM)" : " (expected DGRAM)"));
    if (data.size() < kV2FixedLength) return incomplete();

    const size_t len = be16(data, 14);
    const size_t block = with_addresses ? address_block_length(family) : 0;
    if (len < block)
        return v2_invalid("address block of " + std::to_string(len) + " bytes is shorter than " +
                          std::to_string(block));
    const size_t total = kV2FixedLength + len;
    if (data.size() < total) return incomplete(total);

    ParseResult r;
    r.header.version = 2;
    r.header.command = command;
    r.header.family = family;
    r.header.transport = transport;
    if (!with_addresses) {
        // LOCAL and UNSPEC: the whole block, whatever it holds, is skipped unread.
        r.status = Status::Done;
        r.consumed = total;
        return r;
    }
    const auto header = data.first(total);
    const auto* a = reinterpret_cast<const uint8_t*>(header.data()) + kV2FixedLength;
    if (family == Family::Inet) {
        r.header.source = SocketAddress::from_v4(a, be16(header, kV2FixedLength + 8));
        r.header.destination = SocketAddress::from_v4(a + 4, be16(header, kV2FixedLength + 10));
    } else if (family == Family::Inet6) {
        r.header.source = SocketAddress::from_v6(a, be16(header, kV2FixedLength + 32));
        r.header.destination = SocketAddress::from_v6(a + 16, be16(header, kV2FixedLength + 34));
    }
    // UNIX: paths are not socket addresses we can use; the header is reported without addresses.
    std::string why = parse_tlvs(header, kV2FixedLength + block, r.header);
    if (!why.empty()) return v2_invalid(why);
    r.status = Status::Done;
    r.consumed = total;
    return r;
}

}  // namespace

ParseResult parse(std::span<const std::byte> data, const ParseOptions& options) {
    const bool accept_v1 = options.accept_v1 && options.transport != Transport::Dgram;
    if (matches_prefix(data, kV2Signature)) {
        if (options.accept_v2) return parse_v2(data, options);
        if (data.size() >= kV2Signature.size()) return invalid("PROXY v2 header not accepted");
        if (!(accept_v1 && matches_prefix(data, kV1Prefix))) return invalid(std::string(kMissing));
        return incomplete();  // only reachable for empty data, a prefix of both
    }
    if (matches_prefix(data, kV1Prefix)) {
        if (!accept_v1) {
            if (data.size() < kV1Prefix.size()) return invalid(std::string(kMissing));
            return invalid(options.transport == Transport::Dgram ? "PROXY v1 header not accepted on datagram sockets"
                                                                 : "PROXY v1 header not accepted");
        }
        if (data.size() < kV1Prefix.size()) return incomplete();
        return parse_v1(data);
    }
    return invalid(std::string(kMissing));
}

void encode_v1(const SocketAddress& src, const SocketAddress& dst, std::vector<std::byte>& out) {
    if (src.empty() || dst.empty() || src.family() != dst.family() || !(src.is_v4() || src.is_v6())) {
        put_text(out, "PROXY UNKNOWN\r\n");
        return;
    }
    auto put_ip = [&out](const SocketAddress& a) {
        const void* addr = a.is_v4() ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr)
                                     : static_cast<const void*>(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr);
        char buf[INET6_ADDRSTRLEN] = "";
        inet_ntop(a.family(), addr, buf, sizeof buf);
        put_text(out, buf);
    };
    auto put_port = [&out](uint16_t port) {
        char buf[kMaxPortText];
        put_bytes(out, buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, port).ptr - buf));
    };
    out.reserve(out.size() + kV1MaxLength);
    put_text(out, src.is_v4() ? "PROXY TCP4 " : "PROXY TCP6 ");
    put_ip(src);
    put_text(out, " ");
    put_ip(dst);
    put_text(out, " ");
    put_port(src.port());
    put_text(out, " ");
    put_port(dst.port());
    put_text(out, "\r\n");
}

bool encode_v2(const Header& h, std::vector<std::byte>& out, bool add_crc32c) {
    const SocketAddress& src = h.source;
    const SocketAddress& dst = h.destination;
    const bool with_addresses = h.command == Command::Proxy && !src.empty() && !dst.empty() &&
                                src.family() == dst.family() && (src.is_v4() || src.is_v6());
    size_t len = 0;
    if (with_addresses) len += src.is_v4() ? kV2InetAddressLength : kV2Inet6AddressLength;
    for (const Tlv& t : h.tlvs) {
        if (t.type == kTlvCrc32c) continue;
        if (t.value.size() > 0xFFFF) return false;
        len += kTlvHeaderLength + t.value.size();
    }
    if (add_crc32c) len += kTlvHeaderLength + 4;
    if (len > 0xFFFF) return false;

    const size_t start = out.size();
    out.reserve(start + kV2FixedLength + len);
    put_bytes(out, kV2Signature.data(), kV2Signature.size());
    put_u8(out, static_cast<uint8_t>(0x20 | static_cast<uint8_t>(h.command)));
    if (with_addresses) {
        const uint8_t fam = src.is_v4() ? 0x10 : 0x20;
        const uint8_t tr = h.transport == Transport::Dgram ? 0x02 : 0x01;
        put_u8(out, fam | tr);
    } else {
        put_u8(out, 0x00);
    }
    put_be16(out, static_cast<uint16_t>(len));
    if (with_addresses) {
        if (src.is_v4()) {
            put_bytes(out, &reinterpret_cast<const sockaddr_in*>(src.sa())->sin_addr, 4);
            put_bytes(out, &reinterpret_cast<const sockaddr_in*>(dst.sa())->sin_addr, 4);
        } else {
            put_bytes(out, &reinterpret_cast<const sockaddr_in6*>(src.sa())->sin6_addr, 16);
            put_bytes(out, &reinterpret_cast<const sockaddr_in6*>(dst.sa())->sin6_addr, 16);
        }
        put_be16(out, src.port());
        put_be16(out, dst.port());
    }
    for (const Tlv& t : h.tlvs) {
        if (t.type == kTlvCrc32c) continue;
        put_u8(out, t.type);
        put_be16(out, static_cast<uint16_t>(t.value.size()));
        out.insert(out.end(), t.value.begin(), t.value.end());
    }
    if (add_crc32c) {
        put_u8(out, kTlvCrc32c);
        put_be16(out, 4);
        const size_t value_off = out.size();
        out.insert(out.end(), 4, std::byte{0});
        const uint32_t crc = crc32c(std::span<const std::byte>(out).subspan(start));
        for (int i = 0; i < 4; ++i) out[value_off + static_cast<size_t>(i)] = std::byte(crc >> (24 - 8 * i));
    }
    return true;
}

}  // namespace ferry::proxy
