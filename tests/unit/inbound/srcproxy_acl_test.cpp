#include "inbound/srcproxy_acl.h"

#include "proto/srcproxy_header.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::hex;

using namespace ferry::srcproxy;
using Catch::Matchers::Contains;
using ferry::SocketAddress;

namespace {

SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

ferry::subnets::IpPrefix cidr(std::string_view s) {
    auto p = ferry::subnets::parse_cidr(s);
    REQUIRE(p);
    return *p;
}

constexpr std::string_view kUuid = "613200f2-0af9-40e3-9dc2-a5d6f365db1b";
constexpr std::string_view kUuidDigest = "70032a0d7130761d1d9fd670d167effd2e99c771ef6fc89aca0fb90a56ab363a";
constexpr std::string_view kBlankDigest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// The server ACL of the reference README: the UUID client limited to two prefixes, blank-auth clients with
// `"allowed_src_ips": []`, which the README (and ferry) read as "any source".
Acl readme_acl() {
    AclEntry uuid;
    uuid.auth = std::string(kUuid);
    uuid.allowed_src_ips = {cidr("192.0.2.128/25"), cidr("2001:db8:aaaa::/64")};
    uuid.line = 5;
    AclEntry blank;
    blank.line = 12;
    auto built = Acl::build({uuid, blank});
    REQUIRE(built.ok());
    return *built.acl;
}

Decision check_header(const Acl& acl, const Bytes& header) {
    auto r = parse(header);
    REQUIRE(r.status == Status::Done);
    return acl.check(r.auth(), r.source, r.destination);
}

AclEntry entry(std::string auth) {
    AclEntry e;
    e.auth = std::move(auth);
    return e;
}

Acl build(std::vector<AclEntry> entries) {
    auto built = Acl::build(std::move(entries));
    INFO(built.error);
    REQUIRE(built.ok());
    return *built.acl;
}

}  // namespace

TEST_CASE("srcproxy acl: no entries is off and allows everything", "[srcproxy_acl]") {
    const Acl off;
    CHECK_FALSE(off.enabled());
    auto built = Acl::build({});
    REQUIRE(built.ok());
    CHECK_FALSE(built.acl->enabled());
    for (const Acl* acl : {&off, static_cast<const Acl*>(&*built.acl)}) {
        // Any auth length, any digest, any addresses.
        for (size_t n : {0, 1, 31, 32, 33, 255}) {
            Bytes auth(n, std::byte{0x5a});
            auto d = acl->check(auth, addr("192.0.2.1:1"), addr("198.51.100.1:443"));
            CHECK(d.allowed());
            CHECK(d.verdict == Verdict::Allowed);
            CHECK_FALSE(d.entry);
            CHECK(d.reason.empty());
        }
    }
}

TEST_CASE("srcproxy acl: the reference vectors against the README's ACL", "[srcproxy_acl]") {
    const Acl acl = readme_acl();
    REQUIRE(acl.enabled());
    // 1: the UUID client from 192.0.2.130, inside 192.0.2.128/25.
    auto d = check_header(acl, hex("01 01 20 " + std::string(kUuidDigest) + " 04 c6336401 01bb 04 c0000282 9c40"));
    CHECK(d.allowed());
    CHECK(d.entry == 0u);
    // 2: the same with the mapped source.
    d = check_header(acl, hex("01 01 20 " + std::string(kUuidDigest) +
                              " 04 c6336401 01bb 10 00000000000000000000ffffc0000282 9c40"));
    CHECK(d.allowed());
    CHECK(d.entry == 0u);
    // 3: a blank-auth client, any source.
    d = check_header(acl, hex("01 01 20 " + std::string(kBlankDigest) +
                              " 10 20010db8cccc00000000000000000001 0050 10 20010db8aaaa0000000000000000abcd bc2c"));
    CHECK(d.allowed());
    CHECK(d.entry == 1u);
    // 4: auth length 0 parses, and is rejected when an ACL is on.
    d = check_header(acl, hex("01 01 00 04 c6336401 01bb 04 c0000282 9c40"));
    CHECK(d.verdict == Verdict::AuthNotDigest);
    CHECK(d.reason == "invalid auth: 0 bytes, not a 32-byte SHA-256 digest");
    CHECK_FALSE(d.entry);
}

TEST_CASE("srcproxy acl: the received auth must be exactly 32 bytes", "[srcproxy_acl]") {
    const Acl acl = readme_acl();
    const auto digest = auth_digest(kUuid);
    for (size_t n : {0, 1, 16, 31, 33, 64, 255}) {
        Bytes auth(n);
        for (size_t i = 0; i < n; ++i) auth[i] = digest[i % digest.size()];
        auto d = acl.check(auth, addr("192.0.2.130:1"), addr("198.51.100.1:443"));
        INFO(n);
        CHECK(d.verdict == Verdict::AuthNotDigest);
        CHECK(d.reason == "invalid auth: " + std::to_string(n) + " bytes, not a 32-byte SHA-256 digest");
    }
    // The raw auth string instead of its digest is unknown (the UUID is 36 bytes: the length check).
    auto raw = std::as_bytes(std::span(kUuid.data(), kUuid.size()));
    CHECK(acl.check(raw, addr("192.0.2.130:1"), addr("198.51.100.1:443")).verdict == Verdict::AuthNotDigest);
}

TEST_CASE("srcproxy acl: unknown digests, including ones a single bit away", "[srcproxy_acl]") {
    const Acl acl = readme_acl();
    const auto good = auth_digest(kUuid);
    CHECK(acl.check(auth_digest("other"), addr("192.0.2.130:1"), addr("198.51.100.1:443")).reason ==
          "invalid auth: not found in acl");
    for (size_t byte = 0; byte < good.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            auto near = good;
            near[byte] ^= std::byte(1 << bit);
            auto d = acl.check(near, addr("192.0.2.130:1"), addr("198.51.100.1:443"));
            REQUIRE(d.verdict == Verdict::UnknownAuth);
            REQUIRE_FALSE(d.entry);
        }
    }
}

TEST_CASE("srcproxy acl: allowed_src_ips", "[srcproxy_acl]") {
    const Acl acl = readme_acl();
    const auto uuid = auth_digest(kUuid);
    const auto dst4 = addr("198.51.100.1:443"), dst6 = addr("[2001:db8:cccc::1]:80");
    for (std::string_view ok : {"192.0.2.128:1", "192.0.2.255:65535", "[::ffff:192.0.2.200]:5"}) {
        INFO(ok);
        CHECK(acl.check(uuid, addr(ok), dst4).allowed());
    }
    for (std::string_view ok : {"[2001:db8:aaaa::1]:1", "[2001:db8:aaaa:0:ffff:ffff:ffff:ffff]:2"}) {
        INFO(ok);
        CHECK(acl.check(uuid, addr(ok), dst6).allowed());
    }
    for (std::string_view bad : {"192.0.2.127:1", "192.0.3.128:1", "[::ffff:192.0.2.1]:1", "0.0.0.0:0"}) {
        INFO(bad);
        auto d = acl.check(uuid, addr(bad), dst4);
        CHECK(d.verdict == Verdict::SourceNotAllowed);
        CHECK(d.entry == 0u);
        CHECK_THAT(d.reason, Contains("not in the allowed_src_ips of acl[0] (line 5)"));
    }
    auto d = acl.check(uuid, addr("[2001:db8:aaab::1]:1"), dst6);
    CHECK(d.reason == "src 2001:db8:aaab::1 not in the allowed_src_ips of acl[0] (line 5)");
    d = acl.check(uuid, addr("[::ffff:192.0.2.1]:1"), dst4);
    CHECK(d.reason == "src 192.0.2.1 not in the allowed_src_ips of acl[0] (line 5)");  // unmapped in the log
}

TEST_CASE("srcproxy acl: IPv6 prefixes never match IPv4 sources, IPv4 prefixes never IPv6", "[srcproxy_acl]") {
    AclEntry v6 = entry("six");
    v6.allowed_src_ips = {cidr("::/0")};
    AclEntry v4 = entry("four");
    v4.allowed_src_ips = {cidr("0.0.0.0/0")};
    AclEntry mapped = entry("mapped");
    mapped.allowed_src_ips = {cidr("::ffff:0:0/96")};  // Go's ParseCIDR: the IPv4 prefix 0.0.0.0/0
    const Acl acl = build({v6, v4, mapped});
    const auto dst4 = addr("198.51.100.1:443"), dst6 = addr("[2001:db8::1]:443");
    CHECK(acl.check(auth_digest("six"), addr("[2001:db8::2]:1"), dst6).allowed());
    CHECK(acl.check(auth_digest("six"), addr("192.0.2.1:1"), dst4).verdict == Verdict::SourceNotAllowed);
    CHECK(acl.check(auth_digest("six"), addr("[::ffff:192.0.2.1]:1"), dst4).verdict == Verdict::SourceNotAllowed);
    CHECK(acl.check(auth_digest("four"), addr("192.0.2.1:1"), dst4).allowed());
    CHECK(acl.check(auth_digest("four"), addr("[::ffff:192.0.2.1]:1"), dst4).allowed());
    CHECK(acl.check(auth_digest("four"), addr("[2001:db8::2]:1"), dst6).verdict == Verdict::SourceNotAllowed);
    CHECK(acl.check(auth_digest("mapped"), addr("192.0.2.1:1"), dst4).allowed());
    CHECK(acl.check(auth_digest("mapped"), addr("[2001:db8::2]:1"), dst6).verdict == Verdict::SourceNotAllowed);
}

TEST_CASE("srcproxy acl: a blank auth matches only blank-auth clients", "[srcproxy_acl]") {
    const Acl acl = build({entry("")});
    CHECK(acl.check(auth_digest(""), addr("192.0.2.1:1"), addr("198.51.100.1:443")).allowed());
    CHECK(acl.check(auth_digest(" "), addr("192.0.2.1:1"), addr("198.51.100.1:443")).verdict ==
          Verdict::UnknownAuth);
    CHECK(acl.check(auth_digest(kUuid), addr("192.0.2.1:1"), addr("198.51.100.1:443")).verdict ==
          Verdict::UnknownAuth);
    // 32 zero bytes are not the digest of "".
    CHECK(acl.check(Bytes(32), addr("192.0.2.1:1"), addr("198.51.100.1:443")).verdict == Verdict::UnknownAuth);
}

TEST_CASE("srcproxy acl: repeated auths are refused at build time", "[srcproxy_acl]") {
    AclEntry a = entry("secret-a"), b = entry("secret-b"), a2 = entry("secret-a");
    a.line = 3;
    b.line = 8;
    a2.line = 14;
    auto built = Acl::build({a, b, a2});
    REQUIRE_FALSE(built.ok());
    CHECK(built.duplicate == 2);
    CHECK(built.first == 0);
    CHECK(built.error == "acl[2] (line 14) has the same auth as acl[0] (line 3)");
    CHECK_THAT(built.error, !Contains("secret"));
    // Blank twice, lines unknown.
    built = Acl::build({entry(""), entry("")});
    REQUIRE_FALSE(built.ok());
    CHECK(built.error == "acl[1] has the same auth as acl[0]");
    // Auths that differ only in case are different.
    CHECK(Acl::build({entry("A"), entry("a")}).ok());
}

TEST_CASE("srcproxy acl: ferry's allowed_dst_ips and allowed_dst_ports", "[srcproxy_acl]") {
    AclEntry web = entry("web");
    web.allowed_dst_ips = {cidr("198.51.100.0/24"), cidr("2001:db8:cccc::/48")};
    web.allowed_dst_ports = {{80, 80}, {443, 443}, {8000, 8099}};
    web.line = 2;
    AclEntry ports_only = entry("ports");
    ports_only.allowed_dst_ports = {{22, 22}};
    AclEntry ips_only = entry("ips");
    ips_only.allowed_dst_ips = {cidr("203.0.113.7/32")};
    const Acl acl = build({web, ports_only, ips_only});
    const auto src4 = addr("192.0.2.1:1000"), src6 = addr("[2001:db8:aaaa::1]:1000");
    const auto w = auth_digest("web");
    for (std::string_view ok : {"198.51.100.1:80", "198.51.100.255:443", "198.51.100.9:8000", "198.51.100.9:8099",
                                "[::ffff:198.51.100.1]:80"}) {
        INFO(ok);
        CHECK(acl.check(w, src4, addr(ok)).allowed());
    }
    CHECK(acl.check(w, src6, addr("[2001:db8:cccc:1::5]:443")).allowed());
    auto d = acl.check(w, src4, addr("198.51.101.1:80"));
    CHECK(d.verdict == Verdict::DestinationNotAllowed);
    CHECK(d.entry == 0u);
    CHECK(d.reason == "dst 198.51.101.1:80 not in the allowed_dst_ips of acl[0] (line 2)");
    d = acl.check(w, src4, addr("198.51.100.1:8100"));
    CHECK(d.verdict == Verdict::DestinationNotAllowed);
    CHECK(d.reason == "dst 198.51.100.1:8100 not in the allowed_dst_ports of acl[0] (line 2)");
    CHECK(acl.check(w, src4, addr("198.51.100.1:79")).verdict == Verdict::DestinationNotAllowed);
    CHECK(acl.check(w, src6, addr("[2001:db8:cccd::1]:80")).verdict == Verdict::DestinationNotAllowed);

    CHECK(acl.check(auth_digest("ports"), src4, addr("203.0.113.1:22")).allowed());
    CHECK(acl.check(auth_digest("ports"), src6, addr("[2001:db8::1]:22")).allowed());
    CHECK(acl.check(auth_digest("ports"), src4, addr("203.0.113.1:23")).verdict == Verdict::DestinationNotAllowed);
    CHECK(acl.check(auth_digest("ips"), src4, addr("203.0.113.7:1")).allowed());
    CHECK(acl.check(auth_digest("ips"), src4, addr("203.0.113.8:1")).verdict == Verdict::DestinationNotAllowed);
    CHECK(acl.check(auth_digest("ips"), src6, addr("[2001:db8::1]:1")).verdict == Verdict::DestinationNotAllowed);
}

TEST_CASE("srcproxy acl: the source is checked before the destination", "[srcproxy_acl]") {
    AclEntry e = entry("x");
    e.allowed_src_ips = {cidr("192.0.2.0/24")};
    e.allowed_dst_ports = {{443, 443}};
    const Acl acl = build({e});
    CHECK(acl.check(auth_digest("x"), addr("10.0.0.1:1"), addr("198.51.100.1:80")).verdict ==
          Verdict::SourceNotAllowed);
}

TEST_CASE("srcproxy acl: the matching entry is found wherever it is among many", "[srcproxy_acl]") {
    std::vector<AclEntry> entries;
    for (int i = 0; i < 200; ++i) {
        AclEntry e = entry("client-" + std::to_string(i));
        e.allowed_src_ips = {cidr("10." + std::to_string(i) + ".0.0/16")};
        entries.push_back(e);
    }
    const Acl acl = build(entries);
    for (int i = 0; i < 200; ++i) {
        const auto digest = auth_digest("client-" + std::to_string(i));
        auto d = acl.check(digest, addr("10." + std::to_string(i) + ".1.1:1"), addr("198.51.100.1:443"));
        REQUIRE(d.allowed());
        REQUIRE(d.entry == static_cast<size_t>(i));
        // Another client's source is refused, and the verdict names this client's entry.
        d = acl.check(digest, addr("10." + std::to_string((i + 1) % 200) + ".1.1:1"), addr("198.51.100.1:443"));
        REQUIRE(d.verdict == Verdict::SourceNotAllowed);
        REQUIRE(d.entry == static_cast<size_t>(i));
    }
    CHECK(acl.check(auth_digest("client-200"), addr("10.0.1.1:1"), addr("198.51.100.1:443")).verdict ==
          Verdict::UnknownAuth);
}
