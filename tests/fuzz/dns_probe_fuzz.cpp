// libFuzzer target for the moproxy latency probe's DNS answer check (src/proto/dns_probe.*): check_answer() over
// what comes back through a backend proxy, and encode_query(). Input: the 2-byte ID the probe sent (big-endian),
// then the answer's bytes (the TCP length prefix first).
// Invariants:
//   - Invalid iff an error is set;
//   - Done exactly when the 14 bytes of length prefix and header are there, the length is at least 12, the ID
//     matches and QR is set; the RCODE reported is the header's;
//   - the verdict never changes as bytes arrive (fuzz_util.h; a Done answer counts as 14 bytes read);
//   - checking the same bytes twice gives the same result;
//   - the query encoder: 19 bytes, length 17, the ID, one question; as an answer it is Invalid (QR clear) and,
//     with QR set, Done with its ID and Invalid with any other.
#include "proto/dns_probe.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {

using namespace ferry::dns_probe;
using ferry::fuzz::require;

uint16_t be16(std::span<const std::byte> d, size_t at) {
    return static_cast<uint16_t>(static_cast<unsigned>(d[at]) << 8 | static_cast<unsigned>(d[at + 1]));
}

ferry::fuzz::Verdict verdict(const Answer& a) {
    return {a.status, a.status == Status::Done ? kAnswerNeeded : 0};
}

void check_encoder(uint16_t id) {
    std::vector<std::byte> query;
    encode_query(id, query);
    require(query.size() == kQueryLength && be16(query, 0) == kQueryLength - 2 && be16(query, 2) == id);
    require(be16(query, 6) == 1 && be16(query, 8) == 0 && be16(query, 10) == 0 && be16(query, 12) == 0);
    require(check_answer(query, id).status == Status::Invalid);  // a query, not a response
    query[4] |= std::byte{0x80};
    const Answer a = check_answer(query, id);
    require(a.status == Status::Done && a.rcode == 0 && a.error.empty());
    require(check_answer(query, static_cast<uint16_t>(id + 1)).status == Status::Invalid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const auto id = static_cast<uint16_t>(data[0] << 8 | data[1]);
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data + 2, size - 2);
    const std::span<const std::byte> bytes(input);
    check_encoder(id);

    const Answer a = check_answer(bytes, id);
    const Answer again = check_answer(bytes, id);
    require(again.status == a.status && again.error == a.error && again.rcode == a.rcode);
    require((a.status == Status::Invalid) == !a.error.empty());
    const bool answer = bytes.size() >= kAnswerNeeded && be16(bytes, 0) >= kHeaderLength && be16(bytes, 2) == id &&
                        (static_cast<unsigned>(bytes[4]) & 0x80) != 0;
    require((a.status == Status::Done) == answer);
    if (a.status == Status::Done) require(a.rcode == (static_cast<unsigned>(bytes[5]) & 0x0F));
    ferry::fuzz::check_incremental(bytes, [id](std::span<const std::byte> d) { return verdict(check_answer(d, id)); });
    return 0;
}
