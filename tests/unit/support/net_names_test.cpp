#include "support/net_names.h"

#include <catch2/catch.hpp>

#include <string>

using ferry::is_host_name;
using ferry::is_interface_name;

TEST_CASE("is_host_name: labels of letters, digits, '-' and '_', the last not all digits", "[net_names]") {
    for (const char* good : {"localhost", "proxy.test", "proxy.test.", "a-b.example", "_socks._tcp.example", "x1",
                             "1.example", "0x1", "proxy-1.internal"}) {
        INFO(good);
        CHECK(is_host_name(good));
    }
    for (const char* bad : {"", ".", "..", "a..b", ".a", "300.1.1.1", "10.0.0", "1", "a b", "a:b", "[::1]",
                            "caf\xC3\xA9.test", "a/b", "a@b", "a.1"}) {
        INFO(bad);
        CHECK_FALSE(is_host_name(bad));
    }
    CHECK(is_host_name(std::string(63, 'a') + ".test"));
    CHECK_FALSE(is_host_name(std::string(64, 'a') + ".test"));
    std::string long_name;
    while (long_name.size() < 250) long_name += "abcdefghi.";
    long_name += "abc";  // 253 bytes
    REQUIRE(long_name.size() == 253);
    CHECK(is_host_name(long_name));
    CHECK_FALSE(is_host_name(long_name + "x"));
}

TEST_CASE("is_interface_name: Linux's dev_valid_name", "[net_names]") {
    for (const char* good : {"eth0", "wan", "veth-a.100", "br-lan", "fifteen-bytes-x"}) {
        INFO(good);
        CHECK(is_interface_name(good));
    }
    for (const char* bad : {"", ".", "..", "sixteen-bytes-xx", "a/b", "a:1", "a b", "a\tb"}) {
        INFO(bad);
        CHECK_FALSE(is_interface_name(bad));
    }
}
