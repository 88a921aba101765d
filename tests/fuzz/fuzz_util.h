// What the libFuzzer targets of tests/fuzz share: a trap for broken invariants, exact-size copies of the input
// (so reading one byte too far is a heap overflow AddressSanitizer reports), and the check that an incremental
// parser's verdict never changes as more bytes arrive.
#pragma once

#include "proto/codec.h"

#include <algorithm>
#include <cstdlib>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::fuzz {

// A broken invariant is a crash libFuzzer records, like a memory error.
inline void require(bool ok) {
    if (!ok) __builtin_trap();
}

inline std::vector<std::byte> copy_bytes(const uint8_t* data, size_t size) {
    std::vector<std::byte> out(size);
    for (size_t i = 0; i < size; ++i) out[i] = std::byte{data[i]};
    return out;
}

inline std::vector<std::byte> copy_bytes(std::span<const std::byte> data) {
    return std::vector<std::byte>(data.begin(), data.end());
}

inline std::vector<std::byte> to_bytes(std::string_view s) {
    const auto* b = reinterpret_cast<const std::byte*>(s.data());
    return std::vector<std::byte>(b, b + s.size());
}

inline std::string_view as_text(std::span<const std::byte> data) {
    return std::string_view(reinterpret_cast<const char*>(data.data()), data.size());
}

inline bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The part of a parse result the incremental checks look at.
struct Verdict {
    ParseStatus status = ParseStatus::Incomplete;
    size_t consumed = 0;
};

// Every prefix length is checked up to this many bytes (a SOCKS5 or srcproxy message fits); beyond it, a sample.
inline constexpr size_t kAllPrefixesUpTo = 300;
inline constexpr size_t kSampledPrefixes = 48;

// Long runs (FERRY_FUZZ_PREFIXES=sample, which `make fuzz` sets past 120 s a target) check every prefix of one
// input in kSampleEvery (chosen by the input's bytes, so a rerun checks the same) and a handful of the others':
// the parse of every prefix is most of a target's time, and 10^7 executions need the speed.
inline constexpr uint64_t kSampleEvery = 16;

inline bool sample_prefixes() {
    static const bool sample = [] {
        const char* v = std::getenv("FERRY_FUZZ_PREFIXES");
        return v && std::string_view(v) == "sample";
    }();
    return sample;
}

inline uint64_t input_hash(std::span<const std::byte> data) {  // FNV-1a over the size and the first 64 bytes
    uint64_t h = 1469598103934665603ULL ^ data.size();
    for (size_t i = 0; i < std::min<size_t>(data.size(), 64); ++i)
        h = (h ^ static_cast<uint8_t>(data[i])) * 1099511628211ULL;
    return h;
}

// Prefix lengths to check for an input of n bytes, ascending, n included: all of them while n is small, else
// the first kAllPrefixesUpTo, an even sample and `extra` (the lengths around a message end, say). `few`: only
// the ends, the quarters and `extra` (sampled runs).
inline std::vector<size_t> prefix_lengths(size_t n, std::initializer_list<size_t> extra = {}, bool few = false) {
    std::vector<size_t> out;
    if (few) {
        for (size_t k : {size_t{0}, size_t{1}, size_t{2}, n / 4, n / 2, 3 * n / 4, n > 2 ? n - 2 : 0,
                         n > 1 ? n - 1 : 0, n})
            if (k <= n) out.push_back(k);
        for (size_t k : extra)
            if (k <= n) out.push_back(k);
        std::sort(out.begin(), out.end());
        out.erase(std::unique(out.begin(), out.end()), out.end());
        return out;
    }
    for (size_t k = 0; k <= std::min(n, kAllPrefixesUpTo); ++k) out.push_back(k);
    if (n > kAllPrefixesUpTo) {
        for (size_t i = 1; i <= kSampledPrefixes; ++i)
            out.push_back(kAllPrefixesUpTo + (n - kAllPrefixesUpTo) * i / kSampledPrefixes);
        for (size_t k : extra)
            if (k <= n) out.push_back(k);
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// The contract of every stateless incremental parser here ("Incomplete means every byte so far is a valid prefix
// of some message; an error is reported as soon as the bytes that prove it are there; nothing after the message is
// looked at"), checked over the prefixes of `data`, each parsed from an exact-size copy: once a prefix is Invalid
// every longer one is; once one is Done with `consumed` bytes, every longer one is Done with the same count (so
// the prefixes of a Done message are Incomplete); Done never consumes more than it was given, nor nothing.
// `parse` maps a byte span to a Verdict. Returns the verdict for the whole of `data`.
template <typename Parse>
Verdict check_incremental(std::span<const std::byte> data, Parse parse, std::initializer_list<size_t> extra = {}) {
    Verdict settled;  // the first verdict other than Incomplete
    bool seen = false;
    Verdict last;
    const bool few = sample_prefixes() && input_hash(data) % kSampleEvery != 0;
    for (size_t k : prefix_lengths(data.size(), extra, few)) {
        const std::vector<std::byte> prefix(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(k));
        const Verdict v = parse(std::span<const std::byte>(prefix));
        if (v.status == ParseStatus::Done) require(v.consumed > 0 && v.consumed <= k);
        if (v.status != ParseStatus::Done) require(v.consumed == 0 || v.status == ParseStatus::Invalid);
        if (seen) {
            require(v.status == settled.status);
            if (v.status == ParseStatus::Done) require(v.consumed == settled.consumed);
        } else if (v.status != ParseStatus::Incomplete) {
            settled = v;
            seen = true;
        }
        last = v;
    }
    return last;
}

}  // namespace ferry::fuzz
