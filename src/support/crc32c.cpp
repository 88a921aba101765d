#include "support/crc32c.h"

#include <array>
#include <cstddef>

namespace ferry {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // 0x1EDC6F41 bit-reversed

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] is the classic byte-at-a-time table; tables[k][b] is the CRC of byte b followed by k zero bytes,
// which lets the main loop fold eight input bytes per step.
constexpr Tables make_tables() {
    Tables t{};
    for (uint32_t b = 0; b < 256; ++b) {
        uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
        t[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; ++b)
        for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
    return t;
}

constexpr Tables kTables = make_tables();

}  // namespace

uint32_t crc32c_update(uint32_t crc, std::span<const std::byte> data) {
    uint32_t c = ~crc;
    const std::byte* p = data.data();
    size_t n = data.size();
    auto u8 = [](std::byte b) { return static_cast<uint32_t>(b); };
    while (n >= 8) {
        // Assembled byte by byte: no alignment or endianness assumptions.
        uint32_t lo = c ^ (u8(p[0]) | u8(p[1]) << 8 | u8(p[2]) << 16 | u8(p[3]) << 24);
        c = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
            kTables[4][lo >> 24] ^ kTables[3][u8(p[4])] ^ kTables[2][u8(p[5])] ^ kTables[1][u8(p[6])] ^
            kTables[0][u8(p[7])];
        p += 8;
        n -= 8;
    }
    while (n-- > 0) c = (c >> 8) ^ kTables[0][(c ^ u8(*p++)) & 0xFF];
    return ~c;
}

}  // namespace ferry
