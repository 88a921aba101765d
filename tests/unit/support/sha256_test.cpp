#include "support/sha256.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

using ferry::Sha256;
using ferry::Sha256Digest;

namespace {

std::string to_hex(const Sha256Digest& d) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    for (std::byte b : d) {
        s += kHex[static_cast<unsigned>(b) >> 4];
        s += kHex[static_cast<unsigned>(b) & 0xF];
    }
    return s;
}

std::vector<std::byte> pattern(size_t n) {
    std::vector<std::byte> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(i % 251);
    return v;
}

}  // namespace

TEST_CASE("sha256: NIST FIPS 180-2 example vectors", "[sha256]") {
    CHECK(to_hex(ferry::sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(to_hex(ferry::sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    // The 448-bit (56-byte) message: its padding needs a second block.
    CHECK(to_hex(ferry::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    // The 896-bit message.
    CHECK(to_hex(ferry::sha256("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
                               "lmnopqrsmnopqrstnopqrstu")) ==
          "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST_CASE("sha256: one million 'a', in one piece and in uneven pieces", "[sha256]") {
    const std::string million(1000000, 'a');
    const std::string expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    CHECK(to_hex(ferry::sha256(million)) == expected);
    Sha256 h;
    std::string_view rest = million;
    size_t piece = 1;
    while (!rest.empty()) {
        size_t n = std::min(piece, rest.size());
        h.update(rest.substr(0, n));
        rest.remove_prefix(n);
        piece = piece * 3 % 1031 + 1;  // 1, 4, 13, 40, ... never a multiple of the block length for long
    }
    CHECK(to_hex(h.finish()) == expected);
}

TEST_CASE("sha256: the srcproxy reference digests", "[sha256]") {
    CHECK(to_hex(ferry::sha256("613200f2-0af9-40e3-9dc2-a5d6f365db1b")) ==
          "70032a0d7130761d1d9fd670d167effd2e99c771ef6fc89aca0fb90a56ab363a");
    // UTF-8 bytes as they are (no normalisation).
    CHECK(to_hex(ferry::sha256("Gr\xc3\xbc\xc3\x9f" "e, \xe4\xb8\x96\xe7\x95\x8c")) ==
          "49837434716aa6f6917104cbba82bd5b8e82a970ddc5bfef7bcc45e3d6ea60b6");
}

TEST_CASE("sha256: lengths around the padding boundaries (checked against Python's hashlib)", "[sha256]") {
    struct Case {
        size_t length;
        std::string_view digest;
    };
    // Bytes i % 251 for i in 0..length-1.
    const Case cases[] = {
        {1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
        {55, "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"},
        {56, "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"},
        {57, "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"},
        {63, "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"},
        {64, "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"},
        {65, "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"},
        {111, "60780e9451bdc43cf4530ffc95cbb0c4eb24dae2c39f55f334d679e076c08065"},
        {119, "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"},
        {120, "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"},
        {127, "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976"},
        {128, "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"},
        {129, "5099c6a56203f9687f7d33f4bfdf576d31dc91f6b695ecea38b2770c87631135"},
        {200, "1901da1c9f699b48f6b2636e65cbf73abf99d0441ef67f5c540a42f7051dec6f"},
        {1000, "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"},
    };
    for (const Case& c : cases) {
        INFO("length " << c.length);
        auto data = pattern(c.length);
        CHECK(to_hex(ferry::sha256(data)) == c.digest);
    }
}

TEST_CASE("sha256: every split of a message into two updates gives the same digest", "[sha256]") {
    const auto data = pattern(200);
    const auto whole = ferry::sha256(data);
    Sha256 h;
    for (size_t cut = 0; cut <= data.size(); ++cut) {
        INFO("cut at " << cut);
        h.update(std::span(data).first(cut));
        h.update(std::span(data).subspan(cut));
        REQUIRE(h.finish() == whole);  // finish() also resets h for the next round
    }
    // Byte by byte, with empty updates in between.
    for (std::byte b : data) {
        h.update(std::span(&b, 1));
        h.update(std::span<const std::byte>());
    }
    CHECK(h.finish() == whole);
}

TEST_CASE("sha256: finish() and reset() start a new message", "[sha256]") {
    Sha256 h;
    h.update(std::string_view("abc"));
    (void)h.finish();
    CHECK(h.finish() == ferry::sha256(""));
    h.update(std::string_view("garbage"));
    h.reset();
    h.update(std::string_view("abc"));
    CHECK(h.finish() == ferry::sha256("abc"));
}
