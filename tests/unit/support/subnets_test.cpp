// Allowed-subnets: Go's ParseCIDR syntax, Go's IPNet matching, the file format and its errors.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "support/subnets.h"

using ferry::SocketAddress;
using ferry::subnets::IpPrefix;
using ferry::subnets::parse_cidr;
using ferry::subnets::parse_list;
using ferry::subnets::SubnetList;

namespace {

SocketAddress addr(const char* ip, uint16_t port = 1234) {
    uint8_t buf[16] = {};
    if (inet_pton(AF_INET, ip, buf) == 1) return SocketAddress::from_v4(buf, port);
    REQUIRE(inet_pton(AF_INET6, ip, buf) == 1);
    return SocketAddress::from_v6(buf, port);
}

SubnetList list_of(std::string_view text) {
    auto r = parse_list(text, "test.txt");
    INFO(r.error);
    REQUIRE(r.ok());
    return *r.list;
}

}  // namespace

TEST_CASE("parse_cidr accepts Go's CIDR syntax and clears host bits", "[subnets]") {
    struct Case {
        const char* text;
        int family;
        const char* canonical;
    };
    const Case cases[] = {
        {"10.0.0.0/8", AF_INET, "10.0.0.0/8"},
        {"10.1.2.3/8", AF_INET, "10.0.0.0/8"},
        {"192.168.1.77/26", AF_INET, "192.168.1.64/26"},
        {"0.0.0.0/0", AF_INET, "0.0.0.0/0"},
        {"1.2.3.4/32", AF_INET, "1.2.3.4/32"},
        {"1.2.3.4/0", AF_INET, "0.0.0.0/0"},
        {"10.0.0.0/08", AF_INET, "10.0.0.0/8"},  // Go's dtoi allows leading zeros in the length
        {"::/0", AF_INET6, "::/0"},
        {"::1/128", AF_INET6, "::1/128"},
        {"2001:DB8::1/32", AF_INET6, "2001:db8::/32"},
        {"2001:db8:0:0:1:0:0:1/128", AF_INET6, "2001:db8::1:0:0:1/128"},
        {"2001:0:0:1:0:0:0:1/128", AF_INET6, "2001:0:0:1::1/128"},
        {"1:0:2:3:4:5:6:7/128", AF_INET6, "1:0:2:3:4:5:6:7/128"},
        {"fe80::/10", AF_INET6, "fe80::/10"},
        {"::1.2.3.4/128", AF_INET6, "::102:304/128"},
        // IPv4-mapped networks are IPv4 prefixes in Go's IPNet.
        {"::ffff:10.0.0.0/104", AF_INET, "10.0.0.0/8"},
        {"::ffff:1.2.3.4/128", AF_INET, "1.2.3.4/32"},
        {"::ffff:0:0/96", AF_INET, "0.0.0.0/0"},
        {"::ffff:1.2.3.4/64", AF_INET6, "::/64"},
    };
    for (const Case& c : cases) {
        INFO(c.text);
        auto p = parse_cidr(c.text);
        REQUIRE(p);
        CHECK(p->family == c.family);
        CHECK(p->to_string() == c.canonical);
    }
}

TEST_CASE("parse_cidr rejects what Go's ParseCIDR rejects", "[subnets]") {
    for (const char* bad : {"", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "::/129", "/8", "10.0.0/8", "010.0.0.0/8",
                            "10.0.0.00/8", "256.0.0.0/8", " 10.0.0.0/8", "10.0.0.0/8 ", "10.0.0.0 /8",
                            "10.0.0.0/ 8", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/0x8",
                            "fe80::1%eth0/64", "[::1]/128", "::ffff:01.2.3.4/128", "1:2:3:4:5:6:7:8:9/64",
                            "12345::/16", "localhost/8", "10.0.0.0/99999999", "1.2.3.4.5/32", "::g/64"}) {
        INFO(bad);
        CHECK_FALSE(parse_cidr(bad));
    }
    CHECK_FALSE(parse_cidr(std::string_view("1.2.3.4\0x/8", 11)));
}

TEST_CASE("IpPrefix matches addresses of its own family only", "[subnets]") {
    auto v4 = *parse_cidr("192.0.2.0/24");
    CHECK(v4.contains(addr("192.0.2.0")));
    CHECK(v4.contains(addr("192.0.2.255")));
    CHECK_FALSE(v4.contains(addr("192.0.3.0")));
    CHECK_FALSE(v4.contains(addr("::ffff:192.0.2.1")));  // no unmapping at this level
    CHECK_FALSE(v4.contains(SocketAddress{}));

    auto odd = *parse_cidr("10.128.0.0/9");
    CHECK(odd.contains(addr("10.255.1.1")));
    CHECK_FALSE(odd.contains(addr("10.127.1.1")));

    auto v6 = *parse_cidr("2001:db8::/33");
    CHECK(v6.contains(addr("2001:db8::1")));
    CHECK(v6.contains(addr("2001:db8:7fff::1")));
    CHECK_FALSE(v6.contains(addr("2001:db8:8000::1")));
    CHECK_FALSE(v6.contains(addr("32.1.13.184")));

    auto all4 = *parse_cidr("0.0.0.0/0");
    CHECK(all4.contains(addr("255.255.255.255")));
    CHECK_FALSE(all4.contains(addr("::1")));
    auto all6 = *parse_cidr("::/0");
    CHECK(all6.contains(addr("::1")));
    CHECK_FALSE(all6.contains(addr("127.0.0.1")));
}

TEST_CASE("SubnetList: empty allows everyone, otherwise only listed peers", "[subnets]") {
    SubnetList empty;
    CHECK(empty.empty());
    CHECK(empty.contains(addr("203.0.113.9")));
    CHECK(empty.contains(addr("2001:db8::9")));

    SubnetList list = list_of("10.0.0.0/8\n2001:db8::/32\n");
    CHECK(list.prefixes().size() == 2);
    CHECK(list.contains(addr("10.9.8.7")));
    CHECK(list.contains(addr("::ffff:10.9.8.7")));  // a v4-mapped peer is matched as IPv4
    CHECK(list.contains(addr("2001:db8:1::1")));
    CHECK_FALSE(list.contains(addr("11.0.0.1")));
    CHECK_FALSE(list.contains(addr("::ffff:11.0.0.1")));
    CHECK_FALSE(list.contains(addr("::a00:1")));  // IPv4-compatible is not IPv4-mapped
    CHECK_FALSE(list.contains(addr("2001:db9::1")));

    // An IPv6 prefix never matches IPv4 peers, mapped or not; a mapped-form prefix does, as in Go.
    SubnetList v6all = list_of("::/0\n");
    CHECK(v6all.contains(addr("::1")));
    CHECK_FALSE(v6all.contains(addr("127.0.0.1")));
    CHECK_FALSE(v6all.contains(addr("::ffff:127.0.0.1")));
    SubnetList mapped = list_of("::ffff:0:0/96\n");
    CHECK(mapped.contains(addr("127.0.0.1")));
    CHECK(mapped.contains(addr("::ffff:8.8.8.8")));
    CHECK_FALSE(mapped.contains(addr("::1")));
}

TEST_CASE("SubnetList file format: CRLF, comments, blanks, whitespace, last line without newline", "[subnets]") {
    SubnetList list = list_of(
        "# proxies\r\n"
        "10.0.0.0/8\r\n"
        "\n"
        "   \t\n"
        "  192.168.0.0/16   # office\n"
        "\t2001:db8::/32\t\n"
        "#10.0.0.0/33\n"
        "172.16.0.0/12");
    REQUIRE(list.prefixes().size() == 4);
    CHECK(list.prefixes()[0].to_string() == "10.0.0.0/8");
    CHECK(list.prefixes()[1].to_string() == "192.168.0.0/16");
    CHECK(list.prefixes()[2].to_string() == "2001:db8::/32");
    CHECK(list.prefixes()[3].to_string() == "172.16.0.0/12");

    CHECK(list_of("").empty());
    CHECK(list_of("\n\n# nothing\n").empty());
    CHECK(list_of("1.2.3.4/32").prefixes().size() == 1);
}

TEST_CASE("SubnetList errors name the file, the line and the text", "[subnets]") {
    auto r = parse_list("10.0.0.0/8\n# ok\n10.0.0.0/33\n", "allowed-subnets.txt");
    CHECK_FALSE(r.ok());
    CHECK(r.error == "allowed-subnets.txt:3: invalid CIDR address: \"10.0.0.0/33\"");

    r = parse_list("\n\n  bogus  # comment\n", "/etc/x");
    CHECK(r.error == "/etc/x:3: invalid CIDR address: \"bogus\"");

    r = parse_list("10.0.0.0/8\r\r\n", "f");  // only one trailing \r is dropped; the other is trimmed
    CHECK(r.ok());

    r = parse_list("10.0.0.0\x01/8\n", "f");
    CHECK(r.error == "f:1: invalid CIDR address: \"10.0.0.0\\x01/8\"");

    r = parse_list("1.2.3.4\n", "f");
    CHECK(r.error == "f:1: invalid CIDR address: \"1.2.3.4\"");
}

TEST_CASE("load_file reads a file and reports OS errors as Go words them", "[subnets]") {
    char dir_template[] = "/tmp/ferry-subnets-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    std::string dir = dir_template;
    std::string path = dir + "/allowed.txt";
    {
        std::ofstream out(path);
        out << "# comment\n10.0.0.0/8\n::1/128\n";
    }
    auto r = ferry::subnets::load_file(path);
    INFO(r.error);
    REQUIRE(r.ok());
    CHECK(r.list->prefixes().size() == 2);

    std::string bad = dir + "/bad.txt";
    {
        std::ofstream out(bad);
        out << "10.0.0.0/8\nnope\n";
    }
    r = ferry::subnets::load_file(bad);
    CHECK(r.error == bad + ":2: invalid CIDR address: \"nope\"");

    r = ferry::subnets::load_file(dir + "/missing.txt");
    CHECK(r.error == "open " + dir + "/missing.txt: no such file or directory");

    r = ferry::subnets::load_file(dir);
    CHECK(r.error == "read " + dir + ": is a directory");

    std::remove(path.c_str());
    std::remove(bad.c_str());
    rmdir(dir.c_str());
}
