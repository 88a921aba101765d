// The latency probe moproxy sends through each backend proxy: one DNS query over TCP (RFC 1035 section
// 4.2.2) for the root name, timed until the answer's header arrives. Pure functions over bytes: encode_query()
// appends the query, check_answer() looks at the start of what came back. No sockets, no globals.
#pragma once

#include "proto/codec.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ferry::dns_probe {

using Status = ParseStatus;

inline constexpr size_t kQueryLength = 19;  // 2-byte length prefix + 12-byte header + ". A IN" question
inline constexpr size_t kHeaderLength = 12;
// What check_answer() needs: the length prefix and the header. The rest of the answer is not read.
inline constexpr size_t kAnswerNeeded = 2 + kHeaderLength;

struct Answer {
    Status status = Status::Incomplete;
    std::string error;  // set on Invalid only
    uint8_t rcode = 0;  // the header's RCODE, on Done
};

// Appends the query: length 17, ID `id`, flags RD+AD (0x0120), one question, no other records, question
// "." (the root, a single zero byte) type A class IN. 19 bytes.
void encode_query(uint16_t id, std::vector<std::byte>& out);

// Looks at the answer's length prefix and header at the start of `data`. Invalid when the length is below
// 12, the ID is not `id`, or QR is clear (a query, not a response), each as soon as its bytes are there;
// Done once kAnswerNeeded bytes are there and pass, whatever the RCODE (a server that answers SERVFAIL or
// REFUSED has still answered, which is all the probe measures). Never reads past data.size().
Answer check_answer(std::span<const std::byte> data, uint16_t id);

}  // namespace ferry::dns_probe
