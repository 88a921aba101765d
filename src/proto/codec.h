// What every codec in proto/ shares: the result of parsing bytes that may not all have arrived yet, and the
// big-endian byte helpers of the wire formats. A parser takes a std::span<const std::byte> and says
// Incomplete (wait for more), Invalid (with a reason) or Done (with what it read and how many bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace ferry {

// The outcome of one protocol step: a codec over bytes, an inbound handshake over a socket, an outbound
// handshake with an upstream. `Failed` is `Invalid` under the name outbound handshakes use for a refusal.
enum class ParseStatus : uint8_t { Incomplete, Done, Invalid, Failed = Invalid };

// Address and port lengths on the wire.
inline constexpr size_t kIpv4Length = 4;
inline constexpr size_t kIpv6Length = 16;
inline constexpr size_t kPortLength = 2;

// The two results a parser returns before Done, for result types with `status`, `needed` and `reason`.
template <typename Result>
Result parse_incomplete(size_t needed = 0) {
    Result r;
    r.status = ParseStatus::Incomplete;
    r.needed = needed;
    return r;
}
template <typename Result>
Result parse_invalid(std::string reason) {
    Result r;
    r.status = ParseStatus::Invalid;
    r.reason = std::move(reason);
    return r;
}

namespace bytes {

inline uint8_t byte_at(std::span<const std::byte> d, size_t i) { return static_cast<uint8_t>(d[i]); }
inline uint16_t be16(std::span<const std::byte> d, size_t i) {
    return static_cast<uint16_t>(byte_at(d, i) << 8 | byte_at(d, i + 1));
}
inline uint32_t be32(std::span<const std::byte> d, size_t i) {
    return (uint32_t{be16(d, i)} << 16) | be16(d, i + 2);
}
inline void put_u8(std::vector<std::byte>& out, uint8_t v) { out.push_back(std::byte{v}); }
inline void put_be16(std::vector<std::byte>& out, uint16_t v) {
    put_u8(out, static_cast<uint8_t>(v >> 8));
    put_u8(out, static_cast<uint8_t>(v));
}
inline void put_be32(std::vector<std::byte>& out, uint32_t v) {
    put_be16(out, static_cast<uint16_t>(v >> 16));
    put_be16(out, static_cast<uint16_t>(v));
}
inline void put_bytes(std::vector<std::byte>& out, const void* p, size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
}

}  // namespace bytes
}  // namespace ferry
