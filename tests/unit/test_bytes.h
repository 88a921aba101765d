// Byte-vector helpers shared by the unit tests of the pure protocol modules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace ferry_test {

using Bytes = std::vector<std::byte>;

// Hex digits; anything else (spaces, dots) is ignored. Also used for constants at static initialisation,
// before Catch2 can report, so a typo (an odd number of digits) aborts.
inline Bytes hex(std::string_view s) {
    Bytes b;
    int hi = -1;
    for (char c : s) {
        int v;
        if (c >= '0' && c <= '9') v = c - '0';
        else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
        else continue;
        if (hi < 0) {
            hi = v;
        } else {
            b.push_back(std::byte(hi << 4 | v));
            hi = -1;
        }
    }
    if (hi >= 0) std::abort();
    return b;
}

// The bytes of a string.
inline Bytes text(std::string_view s) {
    Bytes b(s.size());
    if (!s.empty()) std::memcpy(b.data(), s.data(), s.size());
    return b;
}

inline Bytes cat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// A copy of the first n bytes in its own heap block of exactly n bytes, so that ASan catches a parser that
// reads one byte too far.
inline Bytes first(const Bytes& b, size_t n) { return Bytes(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n)); }

// xorshift32 for the mutation tests: the same sequence every run for a given seed (non-zero).
struct Rng {
    uint32_t s;
    explicit Rng(uint32_t seed) : s(seed) {}
    uint32_t next() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        return s;
    }
    size_t below(size_t n) { return next() % n; }
};

}  // namespace ferry_test
