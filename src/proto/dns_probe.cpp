#include "proto/dns_probe.h"

#include "proto/codec.h"

#include <cstdio>

namespace ferry::dns_probe {
namespace {

using bytes::byte_at;
using bytes::be16;
using bytes::put_be16;

constexpr uint16_t kFlagsRdAd = 0x0120;  // RD (recursion desired) and AD (authentic data, RFC 6840 5.7)
constexpr uint8_t kQrBit = 0x80;         // in the first flags byte
constexpr uint16_t kTypeA = 1;
constexpr uint16_t kClassIn = 1;

std::string hex16(uint16_t v) {
    char buf[7];
    std::snprintf(buf, sizeof buf, "0x%04x", v);
    return buf;
}

Answer invalid(std::string error) {
    Answer a;
    a.status = Status::Invalid;
    a.error = std::move(error);
    return a;
}

}  // namespace

void encode_query(uint16_t id, std::vector<std::byte>& out) {
    out.reserve(out.size() + kQueryLength);
    put_be16(out, static_cast<uint16_t>(kQueryLength - 2));
    put_be16(out, id);
    put_be16(out, kFlagsRdAd);
    put_be16(out, 1);  // QDCOUNT
    put_be16(out, 0);  // ANCOUNT
    put_be16(out, 0);  // NSCOUNT
    put_be16(out, 0);  // ARCOUNT
    out.push_back(std::byte{0});  // QNAME: the root
    put_be16(out, kTypeA);
    put_be16(out, kClassIn);
}

Answer check_answer(std::span<const std::byte> data, uint16_t id) {
    if (data.size() < 2) return {};
    const uint16_t length = be16(data, 0);
    if (length < kHeaderLength)
        return invalid("DNS answer of " + std::to_string(length) + " bytes is shorter than its 12-byte header");
    if (data.size() < 4) return {};
    const uint16_t answer_id = be16(data, 2);
    if (answer_id != id) return invalid("DNS answer has ID " + hex16(answer_id) + ", expected " + hex16(id));
    if (data.size() < 5) return {};
    if (!(byte_at(data, 4) & kQrBit)) return invalid("DNS answer is not a response (QR bit clear)");
    if (data.size() < kAnswerNeeded) return {};
    Answer a;
    a.status = Status::Done;
    a.rcode = byte_at(data, 5) & 0x0F;
    return a;
}

}  // namespace ferry::dns_probe
