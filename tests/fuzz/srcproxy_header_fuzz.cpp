// libFuzzer target for the srcproxy relay request (src/proto/srcproxy_header.*): parse() over what a client sends
// the srcproxy server first, and encode(). Input: the client's bytes.
// Invariants:
//   - Invalid iff a reason is set; consumed is 0 unless Done; Done consumes exactly 9 + A + D + S bytes, at most the
//     input and at most kMaxHeaderLength;
//   - the verdict never changes as bytes arrive (fuzz_util.h): prefixes of a Done header are Incomplete;
//   - `needed` is set exactly on Incomplete, is more than what is there and at most kMaxHeaderLength, and never
//     more than the length of the header that completes (reading needed - size bytes never reads past it);
//   - parsing the same bytes twice gives the same result;
//   - Done: the auth is the A bytes as sent; both addresses are unmapped and of one family; the destination port
//     is not 0;
//   - encode() of what was parsed parses back to the same auth and addresses, and gives back the very bytes
//     when the client wrote both addresses in their shortest form (4 bytes for IPv4).
#include "proto/srcproxy_header.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace ferry::srcproxy;
using ferry::fuzz::require;

bool same(const ParseResult& a, const ParseResult& b) {
    return a.status == b.status && a.consumed == b.consumed && a.needed == b.needed && a.reason == b.reason &&
           a.auth_length == b.auth_length && ferry::fuzz::same_bytes(a.auth(), b.auth()) &&
           a.destination == b.destination && a.source == b.source;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::span<const std::byte> bytes(input);

    const ParseResult r = parse(bytes);
    require(same(r, parse(bytes)));
    require((r.status == Status::Invalid) == !r.reason.empty());
    require((r.status == Status::Incomplete) == (r.needed != 0));
    if (r.status != Status::Done) require(r.consumed == 0 && r.auth_length == 0);

    ferry::fuzz::check_incremental(bytes, [&r](std::span<const std::byte> d) {
        const ParseResult p = parse(d);
        if (p.status == Status::Incomplete) {
            require(p.needed > d.size() && p.needed <= kMaxHeaderLength);
            if (r.status == Status::Done) require(p.needed <= r.consumed);
        }
        return ferry::fuzz::Verdict{p.status, p.consumed};
    });
    if (r.status != Status::Done) return 0;

    const size_t a = static_cast<size_t>(bytes[2]);
    const size_t d = static_cast<size_t>(bytes[3 + a]);
    const size_t s = static_cast<size_t>(bytes[3 + a + 1 + d + 2]);
    require(r.consumed == kFixedLength + a + d + s && r.consumed <= kMaxHeaderLength && r.consumed <= bytes.size());
    require(r.auth_length == a && ferry::fuzz::same_bytes(r.auth(), bytes.subspan(3, a)));
    require(r.destination == r.destination.unmapped() && r.source == r.source.unmapped());
    require(r.destination.family() == r.source.family() && (r.destination.is_v4() || r.destination.is_v6()));
    require(r.destination.port() != 0);

    std::vector<std::byte> encoded;
    require(encode(r.auth(), r.destination, r.source, encoded));
    const ParseResult back = parse(encoded);
    require(back.status == Status::Done && back.consumed == encoded.size() && encoded.size() <= r.consumed);
    require(ferry::fuzz::same_bytes(back.auth(), r.auth()) && back.destination == r.destination &&
            back.source == r.source);
    const bool shortest = !(d == 16 && r.destination.is_v4()) && !(s == 16 && r.source.is_v4());
    if (shortest) require(ferry::fuzz::same_bytes(encoded, bytes.first(r.consumed)));
    return 0;
}
