// The srcproxy handshakes over socket pairs: the server's SrcproxyHeaderInbound (peek, parse, ACL, consume
// exactly the header) and the client's outbound (a Dialer through a srcproxy server) writing the relay request.
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "inbound/srcproxy_inbound.h"
#include "inbound/srcproxy_acl.h"
#include "proto/srcproxy_header.h"
#include "outbound/dialer.h"
#include "support/subnets.h"
#include "test_bytes.h"
#include "test_socket.h"

using ferry::Flow;
using ferry::InboundStep;
using ferry::SocketAddress;
using ferry::SrcproxyHeaderInbound;
using ferry_test::drain;
using ferry_test::Pair;
using ferry_test::put;
namespace sp = ferry::srcproxy;

namespace {

// The reference's vector 1: 192.0.2.130:40000 -> 198.51.100.1:443, auth = the UUID.
const std::string kUuid = "613200f2-0af9-40e3-9dc2-a5d6f365db1b";
std::string vector1() {
    auto b = ferry_test::hex(
        "01 01 20 70032a0d7130761d1d9fd670d167effd2e99c771ef6fc89aca0fb90a56ab363a 04 c6336401 01bb 04 c0000282 9c40");
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

SocketAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    const uint8_t ip[4] = {a, b, c, d};
    return SocketAddress::from_v4(ip, port);
}

sp::Acl uuid_acl(std::vector<std::string> prefixes) {
    sp::AclEntry e;
    e.auth = kUuid;
    for (const auto& p : prefixes) {
        auto parsed = ferry::subnets::parse_cidr(p);
        REQUIRE(parsed);
        e.allowed_src_ips.push_back(*parsed);
    }
    auto built = sp::Acl::build({e});
    REQUIRE(built.ok());
    return *built.acl;
}

}  // namespace

TEST_CASE("srcproxy inbound: header and payload in one write; only the header is consumed", "[srcproxy_handshake]") {
    sp::Acl acl;  // off
    SrcproxyHeaderInbound in(acl);
    Pair p;
    std::vector<std::byte> scratch(4096);
    put(p.theirs, vector1() + "GET / HTTP/1.1\r\n");
    Flow f;
    ferry::InboundState st;
    InboundStep s = in.read(p.ours, f, st, scratch);
    REQUIRE(s.status == InboundStep::Status::Done);
    CHECK(f.source == v4(192, 0, 2, 130, 40000));
    CHECK(f.destination == v4(198, 51, 100, 1, 443));
    CHECK(drain(p.ours) == "GET / HTTP/1.1\r\n");
}

TEST_CASE("srcproxy inbound: a header arriving in pieces waits, byte by byte", "[srcproxy_handshake]") {
    sp::Acl acl = uuid_acl({"192.0.2.128/25"});
    SrcproxyHeaderInbound in(acl);
    Pair p;
    std::vector<std::byte> scratch(4096);
    const std::string h = vector1();
    Flow f;
    ferry::InboundState st;
    for (size_t i = 0; i + 1 < h.size(); ++i) {
        put(p.theirs, h.substr(i, 1));
        INFO("after " << i + 1 << " bytes");
        REQUIRE(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Incomplete);
    }
    put(p.theirs, h.substr(h.size() - 1) + "x");
    REQUIRE(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Done);
    CHECK(drain(p.ours) == "x");
}

TEST_CASE("srcproxy inbound: refusals name the checker and the reason, and leave the bytes", "[srcproxy_handshake]") {
    std::vector<std::byte> scratch(4096);
    SECTION("source outside the prefixes") {
        sp::Acl acl = uuid_acl({"203.0.113.0/24"});
        SrcproxyHeaderInbound in(acl);
        Pair p;
        put(p.theirs, vector1());
        Flow f;
        ferry::InboundState st;
        InboundStep s = in.read(p.ours, f, st, scratch);
        REQUIRE(s.status == InboundStep::Status::Invalid);
        CHECK_THAT(s.error, Catch::StartsWith("rejected by src checker: src 192.0.2.130 not in the allowed_src_ips"));
        CHECK_FALSE(s.replied);
        CHECK(f.source == v4(192, 0, 2, 130, 40000));  // for the log line
    }
    SECTION("unknown auth") {
        sp::AclEntry e;
        e.auth = "someone else";
        auto built = sp::Acl::build({e});
        REQUIRE(built.ok());
        SrcproxyHeaderInbound in(*built.acl);
        Pair p;
        put(p.theirs, vector1());
        Flow f;
        ferry::InboundState st;
        InboundStep s = in.read(p.ours, f, st, scratch);
        REQUIRE(s.status == InboundStep::Status::Invalid);
        CHECK(s.error == "rejected by src checker: invalid auth: not found in acl");
    }
    SECTION("destination not allowed") {
        sp::AclEntry e;
        e.auth = kUuid;
        e.allowed_dst_ports.push_back(sp::PortRange{80, 80});
        auto built = sp::Acl::build({e});
        REQUIRE(built.ok());
        SrcproxyHeaderInbound in(*built.acl);
        Pair p;
        put(p.theirs, vector1());
        Flow f;
        ferry::InboundState st;
        InboundStep s = in.read(p.ours, f, st, scratch);
        REQUIRE(s.status == InboundStep::Status::Invalid);
        CHECK_THAT(s.error, Catch::StartsWith("rejected by dst checker: "));
    }
    SECTION("version 2, and EOF") {
        sp::Acl acl;
        SrcproxyHeaderInbound in(acl);
        Pair p;
        put(p.theirs, ferry_test::bytes({2, 1}));
        Flow f;
        ferry::InboundState st;
        InboundStep s = in.read(p.ours, f, st, scratch);
        REQUIRE(s.status == InboundStep::Status::Invalid);
        CHECK(s.error == "unsupported version: 2");
        Pair q;
        ::shutdown(q.theirs, SHUT_WR);
        s = in.read(q.ours, f, st, scratch);
        REQUIRE(s.status == InboundStep::Status::Invalid);
        CHECK(s.error == "EOF");
    }
}

TEST_CASE("srcproxy client outbound: writes exactly the reference's request, then is done", "[srcproxy_handshake]") {
    ferry::Route cfg;
    cfg.hop = ferry::Route::Hop::Srcproxy;
    cfg.srcproxy_server = v4(192, 0, 2, 1, 21829);
    cfg.srcproxy_auth = sp::auth_digest(kUuid);
    ferry::Dialer out(cfg);
    Pair p;
    Flow f;
    f.peer = v4(192, 0, 2, 130, 40000);
    f.destination = v4(198, 51, 100, 1, 443);
    ferry::Attempt a;
    ferry::SocketReadiness io;
    io.fd = p.ours;
    io.writable = true;
    std::vector<std::byte> scratch(4096);
    auto step = out.handshake(f, a, io, -1, scratch);
    REQUIRE(step.status == ferry::HandshakeStep::Status::Done);
    CHECK(drain(p.theirs) == vector1());
    CHECK(a.payload_len == 0);  // client bytes follow through the relay
}

TEST_CASE("srcproxy client outbound: a write that cannot go out waits for writability", "[srcproxy_handshake]") {
    ferry::Route cfg;
    cfg.hop = ferry::Route::Hop::Srcproxy;
    cfg.srcproxy_server = v4(192, 0, 2, 1, 21829);
    cfg.srcproxy_auth = sp::auth_digest("");
    ferry::Dialer out(cfg);
    Pair p;
    Flow f;
    f.peer = v4(192, 0, 2, 130, 40000);
    f.destination = v4(198, 51, 100, 1, 443);
    ferry::Attempt a;
    ferry::SocketReadiness io;
    io.fd = p.ours;
    io.writable = false;
    std::vector<std::byte> scratch(4096);
    REQUIRE(out.handshake(f, a, io, -1, scratch).status == ferry::HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs).empty());
    io.writable = true;
    REQUIRE(out.handshake(f, a, io, -1, scratch).status == ferry::HandshakeStep::Status::Done);
    std::vector<std::byte> want;
    REQUIRE(sp::encode(sp::auth_digest(""), f.destination, f.peer, want));
    CHECK(drain(p.theirs) == std::string(reinterpret_cast<const char*>(want.data()), want.size()));
}

TEST_CASE("srcproxy client outbound: a flow it cannot encode fails locally", "[srcproxy_handshake]") {
    ferry::Route cfg;
    cfg.hop = ferry::Route::Hop::Srcproxy;
    ferry::Dialer out(cfg);
    Pair p;
    Flow f;
    f.peer = v4(192, 0, 2, 130, 40000);  // no destination
    ferry::Attempt a;
    ferry::SocketReadiness io;
    io.fd = p.ours;
    io.writable = true;
    std::vector<std::byte> scratch(4096);
    auto step = out.handshake(f, a, io, -1, scratch);
    REQUIRE(step.status == ferry::HandshakeStep::Status::Failed);
    CHECK(step.fault == ferry::Fault::Local);
}
