#include "proto/srcproxy_header.h"

#include "proto/codec.h"

#include <algorithm>
#include <cstring>

namespace ferry::srcproxy {
namespace {

using bytes::byte_at;
using bytes::be16;
using bytes::put_u8;
using bytes::put_be16;


// Where the fields after the auth start, relative to 3 + A.
constexpr size_t kAuthOffset = 3;

ParseResult incomplete(size_t needed = 0) { return parse_incomplete<ParseResult>(needed); }
ParseResult invalid(std::string reason) { return parse_invalid<ParseResult>(std::move(reason)); }

bool valid_address_length(size_t n) { return n == kIpv4Length || n == kIpv6Length; }

// The address of `length` bytes at data[at], its port right after it, unmapped.
SocketAddress address_at(std::span<const std::byte> data, size_t at, size_t length) {
    uint8_t ip[kIpv6Length];
    std::memcpy(ip, data.data() + at, length);
    const uint16_t port = be16(data, at + length);
    if (length == kIpv4Length) return SocketAddress::from_v4(ip, port);
    return SocketAddress::from_v6(ip, port).unmapped();
}

// Appends length, ip and port of an address already unmapped: 4 bytes for IPv4, 16 for IPv6.
void put_address(std::vector<std::byte>& out, const SocketAddress& a) {
    const uint8_t* ip;
    size_t length;
    if (a.is_v4()) {
        ip = reinterpret_cast<const uint8_t*>(&a.storage.in4.sin_addr);
        length = kIpv4Length;
    } else {
        ip = a.storage.in6.sin6_addr.s6_addr;
        length = kIpv6Length;
    }
    put_u8(out, static_cast<uint8_t>(length));
    const auto* b = reinterpret_cast<const std::byte*>(ip);
    out.insert(out.end(), b, b + length);
    put_be16(out, a.port());
}

}  // namespace

ParseResult parse(std::span<const std::byte> data) {
    const size_t have = data.size();
    // The least total with what is known so far: every unknown length taken at its minimum.
    if (have < 1) return incomplete(kMinHeaderLength);
    if (byte_at(data, 0) != kVersion) return invalid("unsupported version: " + std::to_string(byte_at(data, 0)));
    if (have < 2) return incomplete(kMinHeaderLength);
    if (byte_at(data, 1) != kOpRelayRequest)
        return invalid("unsupported opcode: " + std::to_string(byte_at(data, 1)));
    if (have < kAuthOffset) return incomplete(kMinHeaderLength);

    const size_t auth_length = byte_at(data, 2);
    const size_t dst_length_at = kAuthOffset + auth_length;
    if (have <= dst_length_at) return incomplete(kMinHeaderLength + auth_length);
    const size_t dst_length = byte_at(data, dst_length_at);
    if (!valid_address_length(dst_length))
        return invalid("invalid dst addr len: " + std::to_string(dst_length));

    const size_t dst_at = dst_length_at + 1;
    const size_t src_length_at = dst_at + dst_length + kPortLength;
    // Known so far: everything up to the source length byte, then a source of at least 4 bytes and its port.
    const size_t needed_before_src = src_length_at + 1 + kIpv4Length + kPortLength;
    if (have < src_length_at) return incomplete(needed_before_src);
    if (be16(data, dst_at + dst_length) == 0) return invalid("invalid dst port: 0");
    if (have <= src_length_at) return incomplete(needed_before_src);
    const size_t src_length = byte_at(data, src_length_at);
    if (!valid_address_length(src_length))
        return invalid("invalid src addr len: " + std::to_string(src_length));

    const size_t src_at = src_length_at + 1;
    const size_t total = src_at + src_length + kPortLength;
    if (have < total) return incomplete(total);

    ParseResult r;
    r.destination = address_at(data, dst_at, dst_length);
    r.source = address_at(data, src_at, src_length);
    if (r.destination.family() != r.source.family())
        return invalid("src " + r.source.to_string() + " and dst " + r.destination.to_string() +
                       " are not of the same address family");
    r.status = Status::Done;
    r.consumed = total;
    std::memcpy(r.auth_bytes.data(), data.data() + kAuthOffset, auth_length);
    r.auth_length = auth_length;
    return r;
}

bool encode(std::span<const std::byte> auth, const SocketAddress& destination, const SocketAddress& source,
            std::vector<std::byte>& out) {
    if (auth.size() > kMaxAuthLength) return false;
    const SocketAddress dst = destination.unmapped();
    const SocketAddress src = source.unmapped();
    if (!(dst.is_v4() || dst.is_v6()) || dst.family() != src.family() || dst.port() == 0) return false;
    out.reserve(out.size() + kFixedLength + auth.size() + 2 * kIpv6Length);
    put_u8(out, kVersion);
    put_u8(out, kOpRelayRequest);
    put_u8(out, static_cast<uint8_t>(auth.size()));
    out.insert(out.end(), auth.begin(), auth.end());
    put_address(out, dst);
    put_address(out, src);
    return true;
}

}  // namespace ferry::srcproxy
