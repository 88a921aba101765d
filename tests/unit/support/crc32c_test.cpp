#include "support/crc32c.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <string_view>
#include <vector>

namespace {

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Bit-at-a-time reference, straight from the definition.
uint32_t reference_crc32c(std::span<const std::byte> data) {
    uint32_t c = 0xFFFFFFFF;
    for (std::byte b : data) {
        c ^= static_cast<uint32_t>(b);
        for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1) ? 0x82F63B78u : 0u);
    }
    return ~c;
}

}  // namespace

TEST_CASE("crc32c known vectors", "[crc32c]") {
    CHECK(ferry::crc32c({}) == 0);
    CHECK(ferry::crc32c(bytes_of("123456789")) == 0xE3069283u);
    CHECK(ferry::crc32c(bytes_of("a")) == 0xC1D04330u);

    std::vector<std::byte> zeros(32, std::byte{0});
    CHECK(ferry::crc32c(zeros) == 0x8A9136AAu);
    std::vector<std::byte> ones(32, std::byte{0xFF});
    CHECK(ferry::crc32c(ones) == 0x62A8AB43u);
    std::vector<std::byte> inc(32), dec(32);
    for (size_t i = 0; i < 32; ++i) {
        inc[i] = std::byte(i);
        dec[i] = std::byte(31 - i);
    }
    CHECK(ferry::crc32c(inc) == 0x46DD794Eu);
    CHECK(ferry::crc32c(dec) == 0x113FDB5Cu);
}

TEST_CASE("crc32c matches the bitwise reference at every length and alignment", "[crc32c]") {
    std::vector<std::byte> buf(300);
    uint32_t x = 12345;
    for (auto& b : buf) {
        x = x * 1103515245u + 12345u;
        b = std::byte(x >> 16);
    }
    for (size_t off = 0; off < 9; ++off)
        for (size_t len = 0; off + len <= buf.size(); len += (len < 40 ? 1 : 17)) {
            std::span<const std::byte> s(buf.data() + off, len);
            REQUIRE(ferry::crc32c(s) == reference_crc32c(s));
        }
}

TEST_CASE("crc32c_update chains", "[crc32c]") {
    auto all = bytes_of("The quick brown fox jumps over the lazy dog");
    uint32_t whole = ferry::crc32c(all);
    CHECK(whole == 0x22620404u);
    for (size_t cut = 0; cut <= all.size(); ++cut) {
        uint32_t c = ferry::crc32c(all.first(cut));
        REQUIRE(ferry::crc32c_update(c, all.subspan(cut)) == whole);
    }
}
