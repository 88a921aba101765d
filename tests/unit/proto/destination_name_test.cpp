// The destination-name sniffers of moproxy's --remote-dns (proto/destination_name.h): a real ClientHello (OpenSSL 3,
// as Python's ssl module sends it), the same split over two records and fed byte by byte, hellos without a name,
// malformed ones, and HTTP request heads.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/destination_name.h"
#include "test_bytes.h"
#include "tls_hello.h"

using ferry::ParseStatus;
using ferry_test::first;
using ferry_test::hello_with;
using ferry_test::put16;
using ferry_test::sni_extension;
using ferry_test::hex;
using ferry_test::text;
namespace dn = ferry::destination_name;

namespace {

// OpenSSL 3's ClientHello for server_hostname "WWW.Example.COM", one TLS record, 517 bytes.
const char kOpenSslHello[] =
    "1603010200010001fc0303a953085e2042b34eb64bbbfd6f3afb8e2d192e721cbd3b80b0b3a84ea5cb17492028a70e28c6352e13"
    "c492f6fcc9958ad9030f19c510f5a851a1266dfda67af78b0024130213031301c02cc030c02bc02fcca9cca8c024c028c023c027"
    "009f009e006b006700ff0100018f00000014001200000f5757572e4578616d706c652e434f4d000b000403000102000a00160014"
    "001d0017001e0019001801000101010201030104002300000016000000170000000d002a0028040305030603080708080809080a"
    "080b080408050806040105010601030303010302040205020602002b00050403040303002d00020101003300260024001d0020e2"
    "f525e05bc40e74f1c7dd8b0abe54c25c57d8d3d1dd17c6ac9e5b19a8998f4a001500de0000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

}  // namespace

TEST_CASE("ClientHello: OpenSSL's hello names its server, lower case", "[destination_name]") {
    const auto hello = hex(kOpenSslHello);
    REQUIRE(hello.size() == 517);
    auto n = dn::parse_client_hello(hello);
    REQUIRE(n.status == ParseStatus::Done);
    CHECK(n.host == "www.example.com");
    CHECK(n.consumed == 517);
    // Every prefix waits for more, never a different answer.
    for (size_t i = 0; i < hello.size(); ++i) {
        INFO(i);
        auto p = dn::parse_client_hello(first(hello, i));  // an exact-size copy: ASan sees any overread
        REQUIRE(p.status == ParseStatus::Incomplete);
        CHECK(p.needed > i);
    }
    // Bytes after the hello (the client's next records) change nothing.
    auto more = hello;
    more.insert(more.end(), {std::byte{0x17}, std::byte{3}, std::byte{3}});
    CHECK(dn::parse_client_hello(more).host == "www.example.com");
    CHECK(dn::parse_client_hello(more).consumed == 517);
}

TEST_CASE("ClientHello: reassembled from two handshake records", "[destination_name]") {
    const auto hello = hex(kOpenSslHello);
    const std::vector<std::byte> fragment(hello.begin() + 5, hello.end());
    const size_t cut = 100;
    std::vector<std::byte> split{std::byte{0x16}, std::byte{3}, std::byte{1}};
    put16(split, cut);
    split.insert(split.end(), fragment.begin(), fragment.begin() + cut);
    split.insert(split.end(), {std::byte{0x16}, std::byte{3}, std::byte{1}});
    put16(split, fragment.size() - cut);
    split.insert(split.end(), fragment.begin() + cut, fragment.end());
    auto n = dn::parse_client_hello(split);
    REQUIRE(n.status == ParseStatus::Done);
    CHECK(n.host == "www.example.com");
    auto first_record = dn::parse_client_hello(std::span<const std::byte>(split).first(5 + cut));
    CHECK(first_record.status == ParseStatus::Incomplete);
}

TEST_CASE("ClientHello: no name, an IP literal, a trailing dot", "[destination_name]") {
    CHECK(dn::parse_client_hello(hello_with({}, false)).status == ParseStatus::Done);
    CHECK(dn::parse_client_hello(hello_with({}, false)).host.empty());
    CHECK(dn::parse_client_hello(hello_with({})).host.empty());
    auto ip = dn::parse_client_hello(hello_with(sni_extension("192.0.2.7")));
    CHECK(ip.status == ParseStatus::Done);
    CHECK(ip.host.empty());
    CHECK(dn::parse_client_hello(hello_with(sni_extension("Example.org."))).host == "example.org");
    // An entry of another name type is skipped.
    CHECK(dn::parse_client_hello(hello_with(sni_extension("example.org", 1))).host.empty());
}

TEST_CASE("ClientHello: what is not one is refused at once, with a reason", "[destination_name]") {
    auto http = dn::parse_client_hello(text("G"));
    CHECK(http.status == ParseStatus::Invalid);
    CHECK(http.reason == "not a TLS handshake record");
    CHECK(dn::parse_client_hello(text("\x16\x02")).reason == "not a TLS record version");
    auto bad_name = dn::parse_client_hello(hello_with(sni_extension("exa mple.org")));
    CHECK(bad_name.status == ParseStatus::Invalid);
    CHECK(bad_name.reason == "a server_name that is not a host name");
    auto ext = sni_extension("a.example");
    auto two = ext;
    two.insert(two.end(), ext.begin(), ext.end());
    CHECK(dn::parse_client_hello(hello_with(two)).reason == "two server_name extensions");
    auto truncated = hello_with(sni_extension("example.org"));
    truncated[truncated.size() - 4] = std::byte{0x7f};  // the name's length now points past the end
    CHECK(dn::parse_client_hello(truncated).status == ParseStatus::Invalid);
    auto server_hello = hello_with({});
    server_hello[5] = std::byte{2};
    CHECK(dn::parse_client_hello(server_hello).reason == "not a ClientHello");
    std::vector<std::byte> huge{std::byte{0x16}, std::byte{3}, std::byte{1}, std::byte{0}, std::byte{4},
                                std::byte{1}, std::byte{1}, std::byte{0}, std::byte{0}};
    CHECK(dn::parse_client_hello(huge).reason == "a ClientHello larger than 16 KiB");
}

TEST_CASE("HTTP: the Host header, without its port", "[destination_name]") {
    auto n = dn::parse_http_host(
        text("GET /index.html HTTP/1.1\r\nUser-Agent: x\r\nHOST:  WWW.Example.com:8080 \r\n\r\n"));
    REQUIRE(n.status == ParseStatus::Done);
    CHECK(n.host == "www.example.com");
    CHECK(n.consumed == 73);
    CHECK(dn::parse_http_host(text("GET / HTTP/1.0\n\nbody")).consumed == 16);
    CHECK(dn::parse_http_host(text("GET / HTTP/1.0\n\n")).host.empty());
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n")).host.empty());
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n")).host.empty());
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: example.org\r\n")).status == ParseStatus::Incomplete);
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHo")).status == ParseStatus::Incomplete);
    CHECK(dn::parse_http_host(text("\x16\x03\x01")).reason == "not an HTTP request");
    CHECK(dn::parse_http_host(text("GET /\r\n\r\n")).reason == "not an HTTP/1.x request line");
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n")).reason ==
          "two Host headers");
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nno colon\r\n\r\n")).reason == "a malformed header line");
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")).reason ==
          "a Host header that is not a host name");
    CHECK(dn::parse_http_host(text("GET / HTTP/1.1\r\nHost: a.example:http\r\n\r\n")).status ==
          ParseStatus::Invalid);
    const std::string endless = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
    CHECK(dn::parse_http_host(text(endless)).reason == "no end of the request head within 8 KiB");
}

TEST_CASE("is_host_name: LDH labels, not an address", "[destination_name]") {
    CHECK(dn::is_host_name("example.org"));
    CHECK(dn::is_host_name("_dmarc.example.org"));
    CHECK(dn::is_host_name("xn--bcher-kva.example"));
    CHECK(dn::is_host_name("localhost"));
    CHECK_FALSE(dn::is_host_name(""));
    CHECK_FALSE(dn::is_host_name("192.0.2.1"));
    CHECK_FALSE(dn::is_host_name("-a.example"));
    CHECK_FALSE(dn::is_host_name("a-.example"));
    CHECK_FALSE(dn::is_host_name("a..example"));
    CHECK_FALSE(dn::is_host_name(std::string(64, 'a') + ".example"));
    CHECK_FALSE(dn::is_host_name(std::string(250, 'a') + ".example"));
    CHECK_FALSE(dn::is_host_name("a/b.example"));
}
