// libFuzzer target for ferry::proxy::parse. Build with clang (one line):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/proxy_protocol_fuzz.cpp
//       src/proxy_protocol.cpp src/crc32c.cpp src/net_address.cpp -o proxy_protocol_fuzz
// The first input byte selects ParseOptions (bit 0: no v1, bit 1: no v2, bits 2-3 mod 3: transport).
// Besides memory errors it traps on broken invariants: Invalid iff a reason is set, Done consumes at most the
// input, every prefix of a Done header is Incomplete, and encode -> parse reproduces what was parsed.
#include "proto/proxy_protocol.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace ferry::proxy;

void require(bool ok) {
    if (!ok) __builtin_trap();
}

// Checking every prefix is quadratic; long headers get a sample.
constexpr size_t kAllPrefixesUpTo = 512;

void check_prefixes(std::span<const std::byte> header, const ParseOptions& options) {
    auto incomplete_at = [&](size_t n) {
        require(parse(header.first(n), options).status == Status::Incomplete);
    };
    if (header.size() <= kAllPrefixesUpTo) {
        for (size_t n = 0; n < header.size(); ++n) incomplete_at(n);
        return;
    }
    for (size_t n : {size_t{0}, size_t{1}, size_t{12}, size_t{13}, size_t{14}, size_t{15}, size_t{16},
                     header.size() / 2, header.size() - 1})
        incomplete_at(n);
}

void check_round_trip(const Header& h, std::span<const std::byte> original, const ParseOptions& options) {
    std::vector<std::byte> out;
    if (h.version == 1) {
        if (!h.has_addresses()) return;
        encode_v1(h.source, h.destination, out);
    } else {
        if (h.command != Command::Proxy || !h.has_addresses()) return;
        require(encode_v2(h, out, h.crc32c_present));
        // Without a CRC32C TLV (which the encoder always moves to the end) the bytes come back unchanged.
        if (!h.crc32c_present) require(std::span<const std::byte>(out).size() == original.size() &&
                                       std::equal(out.begin(), out.end(), original.begin()));
    }
    auto r = parse(out, options);
    require(r.status == Status::Done && r.consumed == out.size());
    require(r.header.source == h.source && r.header.destination == h.destination);
    require(r.header.version == h.version && r.header.family == h.family && r.header.transport == h.transport);
    require(r.header.crc32c_present == h.crc32c_present);
    require(r.header.alpn == h.alpn && r.header.authority == h.authority && r.header.unique_id == h.unique_id &&
            r.header.netns == h.netns && r.header.ssl.has_value() == h.ssl.has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The first byte picks the options so the corpus can reach every combination; the rest is the input.
    if (size == 0) return 0;
    ParseOptions options;
    options.accept_v1 = (data[0] & 1) == 0;
    options.accept_v2 = (data[0] & 2) == 0;
    options.transport = static_cast<Transport>((data[0] >> 2) % 3);
    // An exact-size copy, so reading past the end is a heap overflow the sanitizer sees.
    std::vector<std::byte> input(size - 1);
    for (size_t i = 1; i < size; ++i) input[i - 1] = std::byte{data[i]};
    std::span<const std::byte> bytes(input);

    ParseResult r = parse(bytes, options);
    require((r.status == Status::Invalid) == !r.reason.empty());
    if (r.status != Status::Done) {
        require(r.consumed == 0);
        return 0;
    }
    require(r.consumed > 0 && r.consumed <= bytes.size());
    require(r.header.version == 1 || r.header.version == 2);
    if (r.header.version == 1) require(r.consumed <= kV1MaxLength);
    const auto header = bytes.first(r.consumed);
    check_prefixes(header, options);
    check_round_trip(r.header, header, options);
    return 0;
}
