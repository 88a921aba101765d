// RedirectInbound's SOCKS5 service over socket pairs (a socket pair has no conntrack entry, so it is "not
// redirected", which is exactly when the SOCKS5 service applies).
#include "inbound/redirect_inbound.h"

#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "test_socket.h"

#include <cerrno>
#include <string>
#include <vector>

#include "support/subnets.h"

using ferry::Flow;
using ferry::InboundState;
using ferry::InboundStep;
using ferry::RedirectInbound;
using ferry::SocketAddress;
using ferry::Socks5Inbound;

using ferry_test::bytes;
using ferry_test::drain;
using ferry_test::Pair;
using ferry_test::put;

namespace {

ferry::subnets::SubnetList loopback() {
    auto parsed = ferry::subnets::parse_list("127.0.0.0/8\n", "test");
    REQUIRE(parsed.ok());
    return *parsed.list;
}

Flow from(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    Flow f;
    uint8_t ip[4] = {a, b, c, d};
    f.peer = SocketAddress::from_v4(ip, 40000);
    uint8_t lo[4] = {127, 0, 0, 1};
    f.local = SocketAddress::from_v4(lo, 2080);
    return f;
}

}  // namespace

TEST_CASE("SOCKS5 service: greeting and request pipelined, payload left for the relay", "[redirect_inbound]") {
    auto clients = loopback();
    Socks5Inbound socks(clients);
    RedirectInbound in(&socks);
    Pair p;
    std::vector<std::byte> scratch(4096);
    Flow f = from(127, 0, 0, 1);
    InboundState st;
    put(p.theirs, bytes({5, 1, 0}) + bytes({5, 1, 0, 1, 203, 0, 113, 2, 0, 80}) + "payload");
    InboundStep s = in.read(p.ours, f, st, scratch);
    REQUIRE(s.status == InboundStep::Status::Done);
    CHECK(st.kind == RedirectInbound::kSocks5);
    CHECK(f.destination.to_string() == "203.0.113.2:80");
    CHECK(drain(p.theirs) == bytes({5, 0}));  // the method reply; the success reply waits for the upstream
    CHECK(drain(p.ours) == "payload");
}

TEST_CASE("SOCKS5 service: a request split at every byte, with a host name", "[redirect_inbound]") {
    auto clients = loopback();
    Socks5Inbound socks(clients);
    RedirectInbound in(&socks);
    const std::string request = bytes({5, 1, 0, 3, 9}) + "dest.test" + bytes({1, 187});
    for (size_t cut = 1; cut < request.size(); ++cut) {
        Pair p;
        std::vector<std::byte> scratch(4096);
        Flow f = from(127, 0, 0, 1);
        InboundState st;
        put(p.theirs, bytes({5, 1, 0}));
        CHECK(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Incomplete);
        CHECK(drain(p.theirs) == bytes({5, 0}));
        put(p.theirs, request.substr(0, cut));
        CHECK(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Incomplete);
        put(p.theirs, request.substr(cut));
        REQUIRE(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Done);
        CHECK(f.destination_host == "dest.test");
        CHECK(f.destination.port() == 443);
        CHECK(f.destination_text() == "dest.test:443");
    }
}

TEST_CASE("SOCKS5 service: the replies once the upstream is ready or has failed", "[redirect_inbound]") {
    auto clients = loopback();
    Socks5Inbound socks(clients);
    RedirectInbound in(&socks);
    Pair p;
    std::vector<std::byte> scratch(4096);
    Flow f = from(127, 0, 0, 1);
    InboundState st;
    put(p.theirs, bytes({5, 1, 0}) + bytes({5, 1, 0, 1, 203, 0, 113, 2, 0, 80}));
    REQUIRE(in.read(p.ours, f, st, scratch).status == InboundStep::Status::Done);
    drain(p.theirs);
    CHECK(in.upstream_failed(p.ours, f, st, ECONNREFUSED));
    CHECK(drain(p.theirs) == bytes({5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
    CHECK(in.upstream_failed(p.ours, f, st, ETIMEDOUT));
    CHECK(drain(p.theirs) == bytes({5, 4, 0, 1, 0, 0, 0, 0, 0, 0}));
    // A redirected connection gets no reply at all.
    InboundState redirected;
    redirected.kind = RedirectInbound::kRedirected;
    CHECK_FALSE(in.upstream_failed(p.ours, f, redirected, ECONNREFUSED));
    CHECK(in.upstream_ready(p.ours, f, redirected, p.ours).empty());
    CHECK(drain(p.theirs).empty());
}

TEST_CASE("SOCKS5 service: unsupported requests get their code, then a FIN", "[redirect_inbound]") {
    auto clients = loopback();
    Socks5Inbound socks(clients);
    RedirectInbound in(&socks);
    {
        Pair p;
        std::vector<std::byte> scratch(4096);
        Flow f = from(127, 0, 0, 1);
        InboundState st;
        put(p.theirs, bytes({5, 1, 0}) + bytes({5, 2, 0, 1, 203, 0, 113, 2, 0, 80}));  // BIND
        InboundStep s = in.read(p.ours, f, st, scratch);
        CHECK(s.status == InboundStep::Status::Invalid);
        CHECK(s.replied);
        CHECK(drain(p.theirs) == bytes({5, 0}) + bytes({5, 7, 0, 1, 0, 0, 0, 0, 0, 0}));
    }
    {
        Pair p;
        std::vector<std::byte> scratch(4096);
        Flow f = from(127, 0, 0, 1);
        InboundState st;
        put(p.theirs, bytes({5, 1, 2}));  // only username/password offered
        InboundStep s = in.read(p.ours, f, st, scratch);
        CHECK(s.status == InboundStep::Status::Invalid);
        CHECK(drain(p.theirs) == bytes({5, 0xff}));
    }
    {
        Pair p;
        std::vector<std::byte> scratch(4096);
        Flow f = from(127, 0, 0, 1);
        InboundState st;
        put(p.theirs, bytes({4, 1, 0, 80, 203, 0, 113, 2, 0}));  // SOCKS4
        InboundStep s = in.read(p.ours, f, st, scratch);
        CHECK(s.status == InboundStep::Status::Invalid);
        CHECK_THAT(s.error, Catch::Contains("SOCKS4"));
    }
}

TEST_CASE("SOCKS5 service: only for allowed peers; none at all without a list", "[redirect_inbound]") {
    auto clients = loopback();
    Socks5Inbound socks(clients);
    RedirectInbound with_list(&socks), without(nullptr);
    struct Case {
        const RedirectInbound* in;
        Flow flow;
    } cases[] = {{&with_list, from(198, 51, 100, 2)}, {&without, from(127, 0, 0, 1)}};
    for (auto& c : cases) {
        Pair p;
        std::vector<std::byte> scratch(4096);
        put(p.theirs, bytes({5, 1, 0}));
        InboundState st;
        InboundStep s = c.in->read(p.ours, c.flow, st, scratch);
        CHECK(s.status == InboundStep::Status::Invalid);
        CHECK_FALSE(s.replied);
        CHECK_THAT(s.error, Catch::Contains(c.in == &with_list ? "may not use the SOCKS5 service" : "not redirected"));
        CHECK(drain(p.theirs).empty());
    }
}

TEST_CASE("loopback addresses, mapped ones too", "[redirect_inbound]") {
    const uint8_t lo4[4] = {127, 1, 2, 3}, other4[4] = {192, 0, 2, 1};
    uint8_t lo6[16] = {}, mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1}, doc6[16] = {0x20, 0x01, 0x0d, 0xb8};
    lo6[15] = 1;
    CHECK(SocketAddress::from_v4(lo4, 80).is_loopback());
    CHECK_FALSE(SocketAddress::from_v4(other4, 80).is_loopback());
    CHECK(SocketAddress::from_v6(lo6, 80).is_loopback());
    CHECK(SocketAddress::from_v6(mapped, 80).is_loopback());
    CHECK_FALSE(SocketAddress::from_v6(doc6, 80).is_loopback());
    CHECK_FALSE(SocketAddress{}.is_loopback());
}
