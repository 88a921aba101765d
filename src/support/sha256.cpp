#include "support/sha256.h"

#include <algorithm>
#include <cstring>

namespace ferry {
namespace {

// FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
constexpr std::array<uint32_t, 64> kRoundConstants = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

// Section 5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
constexpr std::array<uint32_t, 8> kInitialState = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

constexpr size_t kLengthFieldLength = 8;  // the message length in bits, big-endian, ends the padding

constexpr uint32_t rotr(uint32_t x, int n) { return x >> n | x << (32 - n); }

uint32_t load_be32(const std::byte* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | static_cast<uint32_t>(p[3]);
}

}  // namespace

void Sha256::reset() {
    state_ = kInitialState;
    buffered_ = 0;
    total_ = 0;
}

// Section 6.2.2, one 512-bit block.
void Sha256::compress(const std::byte* block) {
    std::array<uint32_t, 64> w;
    for (size_t t = 0; t < 16; ++t) w[t] = load_be32(block + 4 * t);
    for (size_t t = 16; t < 64; ++t) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
    uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
    for (size_t t = 0; t < 64; ++t) {
        uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + big_s1 + ch + kRoundConstants[t] + w[t];
        uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = big_s0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state_[0] += a;
    state_[1] += b;
    state_[2] += c;
    state_[3] += d;
    state_[4] += e;
    state_[5] += f;
    state_[6] += g;
    state_[7] += h;
}

void Sha256::update(std::span<const std::byte> data) {
    if (data.empty()) return;  // an empty span may have a null data(), which memcpy must not see
    total_ += data.size();
    const std::byte* p = data.data();
    size_t left = data.size();
    if (buffered_ > 0) {
        size_t take = std::min(left, kSha256BlockLength - buffered_);
        std::memcpy(buffer_.data() + buffered_, p, take);
        buffered_ += take;
        p += take;
        left -= take;
        if (buffered_ < kSha256BlockLength) return;
        compress(buffer_.data());
        buffered_ = 0;
    }
    for (; left >= kSha256BlockLength; p += kSha256BlockLength, left -= kSha256BlockLength) compress(p);
    if (left > 0) std::memcpy(buffer_.data(), p, left);
    buffered_ = left;
}

// Section 5.1.1: a 1 bit, zeros up to 56 mod 64 bytes, then the length in bits as a big-endian u64.
Sha256Digest Sha256::finish() {
    const uint64_t bits = total_ * 8;
    buffer_[buffered_++] = std::byte{0x80};
    if (buffered_ > kSha256BlockLength - kLengthFieldLength) {
        std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_), buffer_.end(), std::byte{0});
        compress(buffer_.data());
        buffered_ = 0;
    }
    std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(buffered_),
              buffer_.end() - static_cast<std::ptrdiff_t>(kLengthFieldLength), std::byte{0});
    for (size_t i = 0; i < kLengthFieldLength; ++i)
        buffer_[kSha256BlockLength - 1 - i] = static_cast<std::byte>(bits >> (8 * i));
    compress(buffer_.data());

    Sha256Digest digest;
    for (size_t i = 0; i < state_.size(); ++i)
        for (size_t j = 0; j < 4; ++j) digest[4 * i + j] = static_cast<std::byte>(state_[i] >> (24 - 8 * j));
    reset();
    return digest;
}

Sha256Digest sha256(std::span<const std::byte> data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

Sha256Digest sha256(std::string_view text) {
    Sha256 h;
    h.update(text);
    return h.finish();
}

}  // namespace ferry
