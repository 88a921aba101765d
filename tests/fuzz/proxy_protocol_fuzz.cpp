// libFuzzer target for the PROXY protocol v1/v2 parser, ferry::proxy::parse (src/proto/proxy_protocol.*), and its
// encoders. Input: one options byte (bit 0: no v1, bit 1: no v2, bits 2-3 mod 3: the transport), then the bytes a
// peer sent. Besides memory errors and undefined behaviour it traps on broken invariants:
//   - Invalid iff a reason is set; consumed is 0 unless Done; Done consumes at least 1 byte and at most the input,
//     a v1 line at most 107 bytes;
//   - as bytes arrive the verdict never changes once given: every prefix of a Done header is Incomplete, every
//     longer input is Done with the same length, an Invalid input stays Invalid (fuzz_util.h);
//   - `needed`, when set on Incomplete, is more than what is there, and is the length of the header that completes;
//   - encode -> parse reproduces what was parsed (v1; v2 PROXY with addresses, byte for byte without a CRC32C TLV);
//   - parsing the same bytes twice gives the same result.
#include "proto/proxy_protocol.h"

#include "fuzz_util.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace ferry::proxy;
using ferry::fuzz::require;

void check_round_trip(const Header& h, std::span<const std::byte> original, const ParseOptions& options) {
    std::vector<std::byte> out;
    if (h.version == 1) {
        if (!h.has_addresses()) return;
        encode_v1(h.source, h.destination, out);
    } else {
        if (h.command != Command::Proxy || !h.has_addresses()) return;
        require(encode_v2(h, out, h.crc32c_present));
        // Without a CRC32C TLV (which the encoder always moves to the end) the bytes come back unchanged.
        if (!h.crc32c_present) require(ferry::fuzz::same_bytes(out, original));
    }
    auto r = parse(out, options);
    require(r.status == Status::Done && r.consumed == out.size());
    require(r.header.source == h.source && r.header.destination == h.destination);
    require(r.header.version == h.version && r.header.family == h.family && r.header.transport == h.transport);
    require(r.header.crc32c_present == h.crc32c_present);
    require(r.header.alpn == h.alpn && r.header.authority == h.authority && r.header.unique_id == h.unique_id &&
            r.header.netns == h.netns && r.header.ssl.has_value() == h.ssl.has_value());
}

bool same_result(const ParseResult& a, const ParseResult& b) {
    return a.status == b.status && a.consumed == b.consumed && a.needed == b.needed && a.reason == b.reason &&
           a.header.version == b.header.version && a.header.command == b.header.command &&
           a.header.family == b.header.family && a.header.transport == b.header.transport &&
           a.header.source == b.header.source && a.header.destination == b.header.destination &&
           a.header.tlvs == b.header.tlvs && a.header.alpn == b.header.alpn &&
           a.header.authority == b.header.authority && a.header.unique_id == b.header.unique_id &&
           a.header.netns == b.header.netns && a.header.crc32c_present == b.header.crc32c_present;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The first byte picks the options so the corpus can reach every combination; the rest is the input.
    if (size == 0) return 0;
    ParseOptions options;
    options.accept_v1 = (data[0] & 1) == 0;
    options.accept_v2 = (data[0] & 2) == 0;
    options.transport = static_cast<Transport>((data[0] >> 2) % 3);
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data + 1, size - 1);
    const std::span<const std::byte> bytes(input);

    const ParseResult r = parse(bytes, options);
    require(same_result(r, parse(bytes, options)));
    require((r.status == Status::Invalid) == !r.reason.empty());
    if (r.status != Status::Done) require(r.consumed == 0);
    if (r.status != Status::Incomplete) require(r.needed == 0);

    const auto verdict = [&](std::span<const std::byte> d) {
        const ParseResult p = parse(d, options);
        if (p.status == Status::Incomplete && p.needed != 0) {
            require(p.needed > d.size());
            if (r.status == Status::Done) require(p.needed == r.consumed);
        }
        return ferry::fuzz::Verdict{p.status, p.consumed};
    };
    ferry::fuzz::check_incremental(bytes, verdict, {r.consumed - 1, r.consumed, r.consumed + 1, kV1MaxLength});

    if (r.status != Status::Done) return 0;
    require(r.consumed > 0 && r.consumed <= bytes.size());
    require(r.header.version == 1 || r.header.version == 2);
    if (r.header.version == 1) require(r.consumed <= kV1MaxLength);
    check_round_trip(r.header, bytes.first(r.consumed), options);
    return 0;
}
