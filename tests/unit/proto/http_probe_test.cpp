#include "proto/http_probe.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace ferry::http_probe;

namespace {

TestUrl url_of(const std::string& text) {
    std::string why;
    auto u = parse_test_url(text, &why);
    INFO(text << ": " << why);
    REQUIRE(u);
    return *u;
}

std::string why_not(const std::string& text) {
    std::string why;
    auto u = parse_test_url(text, &why);
    CHECK_FALSE(u);
    return why;
}

std::string request_of(const TestUrl& url) {
    std::vector<std::byte> out{std::byte{'x'}};
    encode_request(url, out);
    return std::string(reinterpret_cast<const char*>(out.data()) + 1, out.size() - 1);
}

}  // namespace

TEST_CASE("parse_test_url: host, port and path", "[http_probe]") {
    CHECK(url_of("http://probe.test/") == TestUrl{"probe.test", 80, "/"});
    CHECK(url_of("http://probe.test") == TestUrl{"probe.test", 80, "/"});
    CHECK(url_of("HTTP://Probe.Test:8080/generate_204") == TestUrl{"Probe.Test", 8080, "/generate_204"});
    CHECK(url_of("http://192.0.2.1:80/a/b?c=d&e") == TestUrl{"192.0.2.1", 80, "/a/b?c=d&e"});
    CHECK(url_of("http://[2001:db8::1]:81/x") == TestUrl{"2001:db8::1", 81, "/x"});
    CHECK(url_of("http://[2001:db8::1]") == TestUrl{"2001:db8::1", 80, "/"});
    CHECK(url_of("http://probe.test?q") == TestUrl{"probe.test", 80, "/?q"});
    CHECK(url_of("http://probe.test/page#top") == TestUrl{"probe.test", 80, "/page"});
}

TEST_CASE("parse_test_url: what it refuses, and why", "[http_probe]") {
    CHECK(why_not("https://probe.test/") == "https is not supported: the probe speaks plain HTTP");
    CHECK(why_not("ftp://probe.test/") == "does not start with http://");
    CHECK(why_not("probe.test/") == "does not start with http://");
    CHECK(why_not("http://") == "missing host");
    CHECK(why_not("http:///x") == "missing host");
    CHECK(why_not("http://:80/") == "missing host");
    CHECK(why_not("http://user:pw@probe.test/") == "user info (user@) is not supported");
    CHECK(why_not("http://probe.test:0/") == "the port has to be between 1 and 65535");
    CHECK(why_not("http://probe.test:65536/") == "the port has to be between 1 and 65535");
    CHECK(why_not("http://probe.test:/") == "the port has to be between 1 and 65535");
    CHECK(why_not("http://probe.test:8o/") == "the port has to be between 1 and 65535");
    CHECK(why_not("http://pro_be!.test/") == "not a host name or an IP address");
    CHECK(why_not("http://300.1.1.1/") == "not a host name or an IP address");
    CHECK(why_not("http://[2001:db8::1/") == "missing ']' after an IPv6 address");
    CHECK(why_not("http://[probe.test]/") == "not an IPv6 address between the brackets");
    CHECK(why_not("http://[2001:db8::1]x/") == "unexpected text after ']'");
    CHECK(why_not("http://probe.test/a b") == "has a blank, a control character or a non-ASCII byte");
    CHECK(why_not("http://probe.test/\r\nX: y") == "has a blank, a control character or a non-ASCII byte");
    CHECK(why_not("http://probe.test/caf\xC3\xA9") == "has a blank, a control character or a non-ASCII byte");
    CHECK(why_not("http://probe.test/" + std::string(kMaxUrlLength, 'a')) == "longer than 2048 bytes");
}

TEST_CASE("host_header: the port only when not 80, IPv6 bracketed", "[http_probe]") {
    CHECK(host_header(TestUrl{"probe.test", 80, "/"}) == "probe.test");
    CHECK(host_header(TestUrl{"probe.test", 8080, "/"}) == "probe.test:8080");
    CHECK(host_header(TestUrl{"2001:db8::1", 80, "/"}) == "[2001:db8::1]");
    CHECK(host_header(TestUrl{"2001:db8::1", 81, "/"}) == "[2001:db8::1]:81");
}

TEST_CASE("encode_request: one GET, exact bytes, appended", "[http_probe]") {
    CHECK(request_of(url_of("http://probe.test:8080/generate_204?x=1")) ==
          "GET /generate_204?x=1 HTTP/1.1\r\nHost: probe.test:8080\r\nUser-Agent: ferry-probe\r\nAccept: */*\r\n"
          "Connection: close\r\n\r\n");
    CHECK(request_of(url_of("http://192.0.2.1")) ==
          "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nUser-Agent: ferry-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n");
}
