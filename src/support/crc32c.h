// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) in software, as used by the PROXY v2 CRC32C TLV and
// iSCSI/SCTP. Slicing-by-8 over constexpr tables: no globals to initialise, no CPU feature detection.
#pragma once

#include <cstdint>
#include <span>

namespace ferry {

// Extends a finished CRC32C `crc` (0 for the empty input) over `data` and returns the finished CRC, so
// crc32c_update(crc32c(a), b) == crc32c(a followed by b). Same convention as zlib's crc32().
uint32_t crc32c_update(uint32_t crc, std::span<const std::byte> data);

// CRC32C of `data`: "123456789" gives 0xE3069283.
inline uint32_t crc32c(std::span<const std::byte> data) { return crc32c_update(0, data); }

}  // namespace ferry
