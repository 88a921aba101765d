// The UDP path's per-datagram decisions: which headers are accepted, which flow a datagram belongs to, which
// target it goes to (by the client's family, not the load balancer's), and the reasons for drops.
#include "udp/udp_datagram.h"

#include <catch2/catch.hpp>

#include <unordered_set>

#include "proto/proxy_protocol.h"
#include "support/subnets.h"
#include "test_bytes.h"

using namespace ferry;
using ferry_test::Bytes;

namespace {

SocketAddress addr(const char* text) {
    auto a = parse_host_port(text);
    REQUIRE(a);
    return *a;
}

Bytes v2(proxy::Command cmd, proxy::Transport transport, const char* src, const char* dst, const char* payload) {
    proxy::Header h;
    h.command = cmd;
    h.transport = transport;
    if (src) h.source = addr(src);
    if (dst) h.destination = addr(dst);
    std::vector<std::byte> out;
    REQUIRE(proxy::encode_v2(h, out));
    return ferry_test::cat(out, ferry_test::text(payload));
}

udp::Targets targets() { return udp::Targets{addr("127.0.0.1:53"), addr("[::1]:53")}; }

// Load balancers (the senders of the datagrams).
SocketAddress lb4() { return *parse_host_port("192.0.2.1:40000"); }
SocketAddress lb6() { return *parse_host_port("[2001:db8::1]:40000"); }

}  // namespace

TEST_CASE("udp: a DGRAM PROXY header gives the client's flow, spoofed source and the target by its family", "[udp]") {
    auto d4 = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "198.51.100.7:5353", "203.0.113.1:53", "query");
    // The load balancer speaks IPv6, the client is IPv4: the -4 target (go-mmproxy 2.1 would pick -6).
    auto r = udp::classify(d4, lb6(), targets(), nullptr);
    REQUIRE(r.verdict == udp::Decision::Verdict::Forward);
    CHECK(r.source == addr("198.51.100.7:5353"));
    CHECK(r.key == udp::FlowKey{addr("198.51.100.7:5353"), false});
    CHECK(r.target == addr("127.0.0.1:53"));
    CHECK(r.payload_offset == d4.size() - 5);
    auto d6 = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "[2001:db8:7::7]:5353", "[2001:db8::53]:53", "");
    r = udp::classify(d6, lb4(), targets(), nullptr);
    REQUIRE(r.verdict == udp::Decision::Verdict::Forward);
    CHECK(r.target == addr("[::1]:53"));
    CHECK(r.payload_offset == d6.size());  // an empty payload is a datagram too
}

TEST_CASE("udp: LOCAL goes out unspoofed, one flow per sender", "[udp]") {
    auto d = v2(proxy::Command::Local, proxy::Transport::Unspec, nullptr, nullptr, "health");
    auto a = udp::classify(d, lb4(), targets(), nullptr);
    auto b = udp::classify(d, addr("192.0.2.2:40000"), targets(), nullptr);
    REQUIRE(a.verdict == udp::Decision::Verdict::Forward);
    REQUIRE(b.verdict == udp::Decision::Verdict::Forward);
    CHECK(a.source.empty());
    CHECK(a.key.local);
    CHECK_FALSE(a.key == b.key);
    CHECK(a.target == addr("127.0.0.1:53"));
    CHECK(udp::classify(d, lb6(), targets(), nullptr).target == addr("[::1]:53"));
}

TEST_CASE("udp: v1, STREAM, truncated and garbage datagrams are dropped with a reason", "[udp]") {
    auto v1 = ferry_test::text("PROXY TCP4 198.51.100.7 203.0.113.1 5353 53\r\nquery");
    auto r = udp::classify(v1, lb4(), targets(), nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    CHECK_FALSE(r.reason.empty());
    auto stream = v2(proxy::Command::Proxy, proxy::Transport::Stream, "198.51.100.7:5353", "203.0.113.1:53", "x");
    r = udp::classify(stream, lb4(), targets(), nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    auto good = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "198.51.100.7:5353", "203.0.113.1:53", "");
    r = udp::classify(ferry_test::first(good, 20), lb4(), targets(), nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    CHECK_THAT(r.reason, Catch::Contains("ends inside its PROXY header"));
    r = udp::classify(ferry_test::text("hello"), lb4(), targets(), nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    r = udp::classify({}, lb4(), targets(), nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
}

TEST_CASE("udp: allowed subnets are checked per datagram, against the sender", "[udp]") {
    auto list = subnets::parse_list("192.0.2.0/24\n", "test");
    REQUIRE(list.ok());
    auto d = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "198.51.100.7:5353", "203.0.113.1:53", "q");
    CHECK(udp::classify(d, lb4(), targets(), &*list.list).verdict == udp::Decision::Verdict::Forward);
    auto r = udp::classify(d, addr("203.0.113.9:1"), targets(), &*list.list);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    CHECK_THAT(r.reason, Catch::Contains("not in allowed subnets"));
}

TEST_CASE("udp: a family without a target is dropped", "[udp]") {
    udp::Targets only4{addr("127.0.0.1:53"), std::nullopt};
    auto d = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "[2001:db8:7::7]:5353", "[2001:db8::53]:53", "q");
    auto r = udp::classify(d, lb4(), only4, nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    CHECK_THAT(r.reason, Catch::Contains("no -6 target"));
}

TEST_CASE("udp: flow keys hash and compare by address, port and kind", "[udp]") {
    std::unordered_set<udp::FlowKey, udp::FlowKeyHash> set;
    set.insert({addr("198.51.100.7:5353"), false});
    set.insert({addr("198.51.100.7:5353"), true});
    set.insert({addr("198.51.100.7:5354"), false});
    set.insert({addr("[2001:db8::7]:5353"), false});
    set.insert({addr("198.51.100.7:5353"), false});
    CHECK(set.size() == 4);
}

TEST_CASE("udp: -dynamic-destination sends a PROXY datagram to the header's destination, LOCAL to -4/-6", "[udp]") {
    udp::Targets t = targets();
    t.dynamic = true;
    auto d4 = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "198.51.100.7:5353", "203.0.113.1:5300", "query");
    auto r = udp::classify(d4, lb4(), t, nullptr);
    REQUIRE(r.verdict == udp::Decision::Verdict::Forward);
    CHECK(r.source == addr("198.51.100.7:5353"));
    CHECK(r.target == addr("203.0.113.1:5300"));
    auto local = v2(proxy::Command::Local, proxy::Transport::Unspec, nullptr, nullptr, "health");
    r = udp::classify(local, lb4(), t, nullptr);
    REQUIRE(r.verdict == udp::Decision::Verdict::Forward);
    CHECK(r.target == addr("127.0.0.1:53"));

    std::string why;
    t.allowed_destinations.push_back(*parse_destination_rule("203.0.113.0/24:53", &why));
    r = udp::classify(d4, lb4(), t, nullptr);
    CHECK(r.verdict == udp::Decision::Verdict::Drop);
    CHECK(r.reason == "destination 203.0.113.1:5300 is not in the allowed destinations");
    auto ok = v2(proxy::Command::Proxy, proxy::Transport::Dgram, "198.51.100.7:5353", "203.0.113.9:53", "query");
    r = udp::classify(ok, lb4(), t, nullptr);
    REQUIRE(r.verdict == udp::Decision::Verdict::Forward);
    CHECK(r.target == addr("203.0.113.9:53"));
}

TEST_CASE("udp: a TPROXY'd datagram's flow is (client, original destination), bound to the client", "[udp]") {
    auto d = udp::tproxy_flow(addr("198.51.100.2:40000"), addr("203.0.113.2:53"));
    REQUIRE(d.verdict == udp::Decision::Verdict::Forward);
    CHECK(d.source.to_string() == "198.51.100.2:40000");
    CHECK(d.target.to_string() == "203.0.113.2:53");
    CHECK(d.key.address == d.source);
    CHECK(d.key.destination == d.target);
    CHECK_FALSE(d.key.local);
    CHECK(d.payload_offset == 0);
    // Mapped addresses (a dual-stack listener) are unmapped, so the flow's sockets are IPv4 ones.
    auto m = udp::tproxy_flow(addr("[::ffff:198.51.100.2]:40000"), addr("[::ffff:203.0.113.2]:53"));
    REQUIRE(m.verdict == udp::Decision::Verdict::Forward);
    CHECK(m.key == d.key);
    CHECK(m.target.is_v4());
    auto v6 = udp::tproxy_flow(addr("[2001:db8:1::2]:5353"), addr("[2001:db8:2::2]:443"));
    REQUIRE(v6.verdict == udp::Decision::Verdict::Forward);
    CHECK(v6.target.to_string() == "[2001:db8:2::2]:443");
}

TEST_CASE("udp: one client to two destinations is two TPROXY flows; mmproxy's keys stay apart", "[udp]") {
    auto a = udp::tproxy_flow(addr("198.51.100.2:40000"), addr("203.0.113.2:53"));
    auto b = udp::tproxy_flow(addr("198.51.100.2:40000"), addr("203.0.113.3:53"));
    auto c = udp::tproxy_flow(addr("198.51.100.2:40000"), addr("203.0.113.2:54"));
    CHECK_FALSE(a.key == b.key);
    CHECK_FALSE(a.key == c.key);
    udp::FlowKey plain{addr("198.51.100.2:40000"), false, {}};
    CHECK_FALSE(plain == a.key);
    std::unordered_set<size_t> hashes;
    for (const auto* k : {&a.key, &b.key, &c.key, &plain}) hashes.insert(udp::FlowKeyHash{}(*k));
    CHECK(hashes.size() == 4);
    CHECK(udp::FlowKeyHash{}(a.key) == udp::FlowKeyHash{}(udp::tproxy_flow(addr("198.51.100.2:40000"),
                                                                            addr("203.0.113.2:53")).key));
}

TEST_CASE("udp: TPROXY datagrams without an original destination, with port 0 or mixed families are dropped",
          "[udp]") {
    auto none = udp::tproxy_flow(addr("198.51.100.2:40000"), std::nullopt);
    CHECK(none.verdict == udp::Decision::Verdict::Drop);
    CHECK(none.reason == "no original destination (not a TPROXY'd datagram)");
    CHECK(none.drop == metrics::UdpDrop::HeaderInvalid);
    CHECK(udp::tproxy_flow(addr("198.51.100.2:0"), addr("203.0.113.2:53")).reason == "port 0");
    CHECK(udp::tproxy_flow(addr("198.51.100.2:1"), addr("203.0.113.2:0")).reason == "port 0");
    auto mixed = udp::tproxy_flow(addr("198.51.100.2:40000"), addr("[2001:db8:2::2]:53"));
    CHECK(mixed.verdict == udp::Decision::Verdict::Drop);
    CHECK(mixed.reason == "client and original destination of different families");
}
