#include "proto/dns_probe.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::Rng;
using ferry_test::hex;
using ferry_test::first;

using namespace ferry::dns_probe;

namespace {

// What a recursive resolver sends back for ". A IN" with ID 0x1234: NOERROR, no answer, the root SOA in the
// authority section. Flags 81a0: QR, RD, RA, AD.
const Bytes kRootAnswer = hex(
    "005c"                                                   // length 92
    "1234 81a0 0001 0000 0001 0000"                          // header
    "00 0001 0001"                                           // question: . A IN
    "00 0006 0001 00015180 0040"                             // authority: . SOA IN, TTL 86400, RDLENGTH 64
    "01 61 0c 726f6f742d73657276657273 03 6e6574 00"         // a.root-servers.net (20 bytes)
    "05 6e73746c64 0c 766572697369676e2d677273 03 636f6d 00"  // nstld.verisign-grs.com (24 bytes)
    "78a0e2c4 00000708 00000384 00093a80 00015180");         // serial, refresh, retry, expire, minimum

// The answer's header with `flags` and `id` and nothing after the question count (length 12).
Bytes header_only(uint16_t id, uint16_t flags) {
    Bytes b = hex("000c");
    for (uint16_t v : {id, flags, uint16_t{1}, uint16_t{0}, uint16_t{0}, uint16_t{0}}) {
        b.push_back(std::byte(v >> 8));
        b.push_back(std::byte(v & 0xFF));
    }
    return b;
}

}  // namespace

TEST_CASE("dns_probe encode_query: the 19 bytes for . A IN with RD+AD", "[dns_probe]") {
    Bytes out;
    encode_query(0x1234, out);
    CHECK(out == hex("0011 1234 0120 0001 0000 0000 0000 00 0001 0001"));
    CHECK(out.size() == kQueryLength);

    out = hex("ff");
    encode_query(0, out);
    CHECK(out == hex("ff 0011 0000 0120 0001 0000 0000 0000 00 0001 0001"));
    out.clear();
    encode_query(0xffff, out);
    CHECK(out == hex("0011 ffff 0120 0001 0000 0000 0000 00 0001 0001"));
}

TEST_CASE("dns_probe check_answer: Done once the header is there, split at every offset", "[dns_probe]") {
    REQUIRE(kRootAnswer.size() == 2 + 0x5c);
    REQUIRE(kAnswerNeeded == 14);
    for (size_t n = 0; n < kAnswerNeeded; ++n) {
        auto a = check_answer(first(kRootAnswer, n), 0x1234);
        INFO("prefix length " << n << ": " << a.error);
        REQUIRE(a.status == Status::Incomplete);
        REQUIRE(a.error.empty());
    }
    for (size_t n = kAnswerNeeded; n <= kRootAnswer.size(); ++n) {
        auto a = check_answer(first(kRootAnswer, n), 0x1234);
        INFO("prefix length " << n);
        REQUIRE(a.status == Status::Done);
        REQUIRE(a.rcode == 0);
        REQUIRE(a.error.empty());
    }
    // A header-only answer of exactly 12 bytes is enough.
    auto a = check_answer(header_only(0x0001, 0x8180), 0x0001);
    CHECK(a.status == Status::Done);
}

TEST_CASE("dns_probe check_answer: any RCODE is an answer", "[dns_probe]") {
    struct Case {
        uint16_t flags;
        uint8_t rcode;
    };
    // NOERROR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, 15; with and without RA/AD/TC/AA bits.
    for (const Case& c : {Case{0x8180, 0}, Case{0x8182, 2}, Case{0x8183, 3}, Case{0x8184, 4}, Case{0x8105, 5},
                          Case{0x800f, 15}, Case{0x8380, 0}, Case{0x8580, 0}, Case{0xffff, 15}}) {
        auto a = check_answer(header_only(0xbeef, c.flags), 0xbeef);
        INFO("flags " << c.flags);
        CHECK(a.status == Status::Done);
        CHECK(a.rcode == c.rcode);
    }
}

TEST_CASE("dns_probe check_answer: malformed or foreign answers", "[dns_probe]") {
    // A length below the header size, as soon as the prefix is there.
    for (uint16_t length : {uint16_t{0}, uint16_t{1}, uint16_t{11}}) {
        Bytes b = kRootAnswer;
        b[0] = std::byte{0};
        b[1] = std::byte(length);
        CHECK(check_answer(first(b, 1), 0x1234).status == Status::Incomplete);
        for (size_t n : {size_t{2}, size_t{3}, kAnswerNeeded, b.size()}) {
            auto a = check_answer(first(b, n), 0x1234);
            CHECK(a.status == Status::Invalid);
            CHECK(a.error == "DNS answer of " + std::to_string(length) + " bytes is shorter than its 12-byte header");
        }
    }
    // Another query's answer, as soon as the ID is there.
    Bytes b = kRootAnswer;
    CHECK(check_answer(first(b, 3), 0x5678).status == Status::Incomplete);
    for (size_t n : {size_t{4}, kAnswerNeeded, b.size()}) {
        auto a = check_answer(first(b, n), 0x5678);
        CHECK(a.status == Status::Invalid);
        CHECK(a.error == "DNS answer has ID 0x1234, expected 0x5678");
    }
    CHECK(check_answer(header_only(0x00ab, 0x8180), 0xab00).error == "DNS answer has ID 0x00ab, expected 0xab00");

    // Our own query reflected back (QR clear), as soon as the flags byte is there.
    Bytes query;
    encode_query(0x4242, query);
    CHECK(check_answer(first(query, 4), 0x4242).status == Status::Incomplete);
    for (size_t n : {size_t{5}, kAnswerNeeded, query.size()}) {
        auto a = check_answer(first(query, n), 0x4242);
        CHECK(a.status == Status::Invalid);
        CHECK(a.error == "DNS answer is not a response (QR bit clear)");
    }
    CHECK(check_answer(header_only(7, 0x7fff), 7).status == Status::Invalid);

    // Not DNS at all: an HTTP proxy's refusal read as a DNS answer ("HT" is a length of 18516, "TP" the ID).
    const std::string http = "HTTP/1.1 400 Bad Request\r\n\r\n";
    const auto* p = reinterpret_cast<const std::byte*>(http.data());
    CHECK(check_answer(Bytes(p, p + http.size()), 0x1234).error == "DNS answer has ID 0x5450, expected 0x1234");
}

TEST_CASE("dns_probe check_answer: random answers decide once and for all", "[dns_probe]") {
    Rng rng(0x6b43a9b5);
    for (int round = 0; round < 500; ++round) {
        Bytes b = rng.below(2) ? kRootAnswer : header_only(0x1234, 0x8180);
        for (size_t k = 1 + rng.below(2); k > 0; --k) b[rng.below(6)] = std::byte(rng.next() & 0xFF);
        INFO("round " << round);
        Status decided = Status::Incomplete;
        Answer last;
        for (size_t n = 0; n <= b.size(); ++n) {
            auto a = check_answer(first(b, n), 0x1234);
            if (n >= kAnswerNeeded) REQUIRE(a.status != Status::Incomplete);
            if (a.status == Status::Invalid) REQUIRE_FALSE(a.error.empty());
            if (decided != Status::Incomplete) {
                REQUIRE(a.status == decided);
                REQUIRE(a.error == last.error);
                REQUIRE(a.rcode == last.rcode);
            }
            decided = a.status;
            last = a;
        }
    }
}
