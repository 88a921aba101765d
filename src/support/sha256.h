// SHA-256 (FIPS 180-4) in software: the srcproxy auth digest is SHA-256 of the auth string. Small and portable
// (no CPU feature detection, no globals); fast enough for what it hashes here, a few bytes per connection at
// most and one digest per ACL entry at start-up.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ferry {

inline constexpr size_t kSha256DigestLength = 32;
inline constexpr size_t kSha256BlockLength = 64;

using Sha256Digest = std::array<std::byte, kSha256DigestLength>;

// Incremental hashing: update() any number of times with any split of the message, then finish() once.
// finish() leaves the object ready for a new message, as if freshly constructed.
class Sha256 {
public:
    Sha256() { reset(); }

    void update(std::span<const std::byte> data);
    void update(std::string_view text) { update(std::as_bytes(std::span(text.data(), text.size()))); }
    Sha256Digest finish();
    void reset();

private:
    void compress(const std::byte* block);

    std::array<uint32_t, 8> state_{};
    std::array<std::byte, kSha256BlockLength> buffer_{};
    size_t buffered_ = 0;    // bytes waiting in buffer_, always < 64 between calls
    uint64_t total_ = 0;     // message length in bytes so far (the padding stores it in bits, mod 2^64)
};

// One-shot digests: sha256("abc") starts ba 78 16 bf.
Sha256Digest sha256(std::span<const std::byte> data);
Sha256Digest sha256(std::string_view text);

}  // namespace ferry
