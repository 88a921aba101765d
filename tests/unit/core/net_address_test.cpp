#include <catch2/catch.hpp>

#include "core/net_address.h"

using ferry::parse_host_port;
using ferry::SocketAddress;

TEST_CASE("host:port parsing and Go-style printing") {
    auto a = parse_host_port("192.0.2.1:443");
    REQUIRE(a);
    CHECK(a->is_v4());
    CHECK(a->port() == 443);
    CHECK(a->to_string() == "192.0.2.1:443");

    auto b = parse_host_port("[2001:db8::1]:8443");
    REQUIRE(b);
    CHECK(b->is_v6());
    CHECK(b->to_string() == "[2001:db8::1]:8443");
    CHECK(b->ip_string() == "2001:db8::1");

    auto c = parse_host_port(":8443");
    REQUIRE(c);
    CHECK(c->is_v4());
    CHECK(c->is_unspecified());
}

TEST_CASE("host:port rejects what Go rejects") {
    std::string why;
    CHECK_FALSE(parse_host_port("192.0.2.1", &why));
    CHECK(why == "missing port in address");
    CHECK_FALSE(parse_host_port("2001:db8::1:80", &why));
    CHECK(why == "too many colons in address");
    CHECK_FALSE(parse_host_port("[192.0.2.1]:80"));
    CHECK_FALSE(parse_host_port("192.0.2.1:65536"));
    CHECK_FALSE(parse_host_port("192.0.2.1:-1"));
    CHECK_FALSE(parse_host_port("192.0.2.1:"));
    CHECK_FALSE(parse_host_port("[::1:80"));
    CHECK_FALSE(parse_host_port("example.org:80", &why));
    CHECK(why == "not an IP address");
}

TEST_CASE("IPv4-mapped IPv6 addresses are unmapped") {
    auto m = parse_host_port("[::ffff:198.51.100.7]:1234");
    REQUIRE(m);
    auto u = m->unmapped();
    CHECK(u.is_v4());
    CHECK(u.to_string() == "198.51.100.7:1234");
    auto v6 = parse_host_port("[2001:db8::7]:1");
    CHECK(v6->unmapped() == *v6);
}

TEST_CASE("address equality compares family, address and port") {
    CHECK(*parse_host_port("192.0.2.1:1") == *parse_host_port("192.0.2.1:1"));
    CHECK_FALSE(*parse_host_port("192.0.2.1:1") == *parse_host_port("192.0.2.1:2"));
    CHECK_FALSE(*parse_host_port("192.0.2.1:1") == *parse_host_port("192.0.2.2:1"));
    CHECK_FALSE(*parse_host_port("[::1]:1") == *parse_host_port("127.0.0.1:1"));
    SocketAddress empty;
    CHECK(empty.to_string().empty());
}
