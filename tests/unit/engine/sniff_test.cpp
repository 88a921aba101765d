// When a sniffing listener (moproxy --remote-dns) waits for the client's first bytes and what name it takes
// from them (engine/sniff.h): ports 443 and 80 wait, other ports only finish a TLS hello that has begun; a split
// hello waits for its rest; the deadline ends every wait without a name.
#include <catch2/catch.hpp>

#include <string>

#include "engine/sniff.h"
#include "test_bytes.h"
#include "tls_hello.h"

using ferry::sniff_step;
using ferry::SniffStep;
using ferry_test::Bytes;
using ferry_test::first;
using ferry_test::text;

namespace {

constexpr auto kWait = SniffStep::Action::Wait;
constexpr auto kProceed = SniffStep::Action::Proceed;

Bytes hello(const std::string& name) { return ferry_test::hello_with(ferry_test::sni_extension(name)); }

}  // namespace

TEST_CASE("sniff: nothing yet waits only where the client speaks first", "[sniff]") {
    CHECK(sniff_step(443, {}, true).action == kWait);
    CHECK(sniff_step(80, {}, true).action == kWait);
    for (uint16_t port : {22, 25, 8443, 1}) {
        INFO(port);
        const SniffStep s = sniff_step(port, {}, true);
        CHECK(s.action == kProceed);
        CHECK(s.host.empty());
        CHECK(std::string(s.why) == "not a port where the client speaks first");
    }
    // The deadline passed (or the client finished) with nothing sent.
    const SniffStep late = sniff_step(443, {}, false);
    CHECK(late.action == kProceed);
    CHECK(std::string(late.why) == "no bytes from the client in time");
}

TEST_CASE("sniff: a complete ClientHello names the destination on any port", "[sniff]") {
    const Bytes h = hello("Www.Example.NET");
    for (uint16_t port : {443, 80, 8443, 993}) {
        INFO(port);
        const SniffStep s = sniff_step(port, h, true);
        CHECK(s.action == kProceed);
        CHECK(s.host == "www.example.net");
        CHECK(std::string(s.why).empty());
    }
}

TEST_CASE("sniff: a split ClientHello waits for its rest, until the deadline", "[sniff]") {
    const Bytes h = hello("split.example");
    for (size_t cut : {size_t{1}, size_t{5}, size_t{9}, h.size() - 1}) {
        INFO(cut);
        CHECK(sniff_step(443, first(h, cut), true).action == kWait);
        CHECK(sniff_step(8443, first(h, cut), true).action == kWait);  // a TLS record began: worth the wait
        const SniffStep late = sniff_step(443, first(h, cut), false);
        CHECK(late.action == kProceed);
        CHECK(late.host.empty());
        CHECK(std::string(late.why) == "the ClientHello did not complete in time");
    }
}

TEST_CASE("sniff: a hello without a name, or not a hello, proceeds without one", "[sniff]") {
    const SniffStep nameless = sniff_step(443, ferry_test::hello_with({}), true);
    CHECK(nameless.action == kProceed);
    CHECK(nameless.host.empty());
    CHECK(std::string(nameless.why) == "the message names no host");

    const SniffStep ssh = sniff_step(443, text("SSH-2.0-OpenSSH_9.2\r\n"), true);
    CHECK(ssh.action == kProceed);
    CHECK(std::string(ssh.why) == "not a TLS ClientHello");
    CHECK(std::string(sniff_step(2222, text("SSH-2.0-x\r\n"), true).why) == "not a TLS handshake");

    Bytes broken = hello("x.example");
    broken[5] = std::byte{2};  // a ServerHello, not a ClientHello
    const SniffStep bad = sniff_step(443, broken, true);
    CHECK(bad.action == kProceed);
    CHECK(std::string(bad.why) == "not a valid ClientHello");
}

TEST_CASE("sniff: HTTP's Host header on port 80 only", "[sniff]") {
    const Bytes get = text("GET /index.html HTTP/1.1\r\nUser-Agent: t\r\nHost: Web.Example.ORG:8080\r\n\r\n");
    const SniffStep s = sniff_step(80, get, true);
    CHECK(s.action == kProceed);
    CHECK(s.host == "web.example.org");
    // Half a head waits, then gives up at the deadline.
    CHECK(sniff_step(80, first(get, 20), true).action == kWait);
    CHECK(std::string(sniff_step(80, first(get, 20), false).why) ==
          "the HTTP request head did not complete in time");
    // On 443 and other ports an HTTP request names nothing (a plain-text protocol is not sniffed there).
    CHECK(sniff_step(443, get, true).host.empty());
    CHECK(sniff_step(8080, get, true).host.empty());
    CHECK(std::string(sniff_step(80, text("\x01\x02garbage\r\n\r\n"), true).why) == "not a valid HTTP request");
}
