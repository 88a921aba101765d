#include "proto/http_connect.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "test_bytes.h"

using ferry_test::Bytes;
using ferry_test::Rng;
using ferry_test::text;
using ferry_test::cat;
using ferry_test::first;

using namespace ferry::http_connect;
using Catch::Matchers::StartsWith;

namespace {

std::string str(const Bytes& b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

ferry::SocketAddress addr(std::string_view s) {
    auto a = ferry::parse_host_port(s);
    REQUIRE(a);
    return *a;
}

Response parse(const Bytes& b) { return parse_response(b); }
Response parse(std::string_view s) { return parse_response(text(s)); }

// Every strict prefix of `head` is Incomplete with nothing consumed and no error; the whole is Done with
// consumed == head.size(), and bytes after it (tunnel payload, a body) change nothing.
Response check_prefixes(std::string_view head_text) {
    const Bytes head = text(head_text);
    for (size_t n = 0; n < head.size(); ++n) {
        auto r = parse(first(head, n));
        INFO("prefix length " << n << ": " << r.error);
        REQUIRE(r.status == Status::Incomplete);
        REQUIRE(r.consumed == 0);
        REQUIRE(r.error.empty());
        REQUIRE_FALSE(r.is_success());
    }
    auto r = parse(head);
    INFO(r.error);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == head.size());
    REQUIRE(r.error.empty());
    for (std::string_view after : {"\x16\x03\x01\x00\xc8", "SSH-2.0-x\r\n\r\n", "\r\n", "\n"}) {
        auto r2 = parse(cat(head, text(after)));
        REQUIRE(r2.status == Status::Done);
        REQUIRE(r2.consumed == head.size());
        REQUIRE(r2.status_code == r.status_code);
    }
    return r;
}

// Incomplete for prefixes shorter than `at`, Invalid from `at` bytes on, whatever follows. The whole message
// gives `error`; shorter prefixes the same reason quoting what had arrived of the line.
void check_invalid_from(std::string_view msg_text, size_t at, const std::string& error) {
    const Bytes msg = text(msg_text);
    REQUIRE(at <= msg.size());
    const std::string reason = error.substr(0, error.find(" \""));
    for (size_t n = 0; n < at; ++n) {
        auto r = parse(first(msg, n));
        INFO("prefix length " << n << ": " << r.error);
        REQUIRE(r.status == Status::Incomplete);
    }
    for (size_t n = at; n <= msg.size(); ++n) {
        auto r = parse(first(msg, n));
        INFO("prefix length " << n);
        REQUIRE(r.status == Status::Invalid);
        REQUIRE_THAT(r.error, StartsWith(reason + " \""));
        REQUIRE(r.consumed == 0);
        REQUIRE_FALSE(r.is_success());
    }
    REQUIRE(parse(msg).error == error);
    auto r = parse(cat(msg, text("\r\n\r\npayload")));
    REQUIRE(r.status == Status::Invalid);
    REQUIRE(r.error == error);
}

// A head of exactly `size` bytes: a status line, filler headers, and the blank line `blank` ("\r\n" or "\n").
std::string head_of_size(size_t size, std::string_view blank = "\r\n") {
    std::string h = "HTTP/1.1 200 Connection established\r\n";
    const std::string name = "X-Filler: ";
    const size_t fixed = h.size() + name.size() + 2 + blank.size();
    REQUIRE(size > fixed);
    h += name + std::string(size - fixed, 'f') + "\r\n";
    h += blank;
    REQUIRE(h.size() == size);
    return h;
}

}  // namespace

// ---------------------------------------------------------------- base64, authority, request

TEST_CASE("http_connect base64: RFC 4648 section 10 vectors", "[http_connect]") {
    CHECK(base64(text("")) == "");
    CHECK(base64(text("f")) == "Zg==");
    CHECK(base64(text("fo")) == "Zm8=");
    CHECK(base64(text("foo")) == "Zm9v");
    CHECK(base64(text("foob")) == "Zm9vYg==");
    CHECK(base64(text("fooba")) == "Zm9vYmE=");
    CHECK(base64(text("foobar")) == "Zm9vYmFy");
    // RFC 7617's example credentials, and bytes that use the last two alphabet characters.
    CHECK(base64(text("Aladdin:open sesame")) == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    CHECK(base64(Bytes{std::byte{0x00}, std::byte{0xff}, std::byte{0xfe}}) == "AP/+");
    CHECK(base64(Bytes{std::byte{0xfb}, std::byte{0xff}}) == "+/8=");
    CHECK(base64(Bytes(3, std::byte{0})) == "AAAA");
    CHECK(base64(Bytes(300, std::byte{0xff})) == std::string(400, '/'));
}

TEST_CASE("http_connect authority", "[http_connect]") {
    CHECK(authority(addr("192.0.2.1:443")) == "192.0.2.1:443");
    CHECK(authority(addr("[2001:db8::1]:443")) == "[2001:db8::1]:443");
    CHECK(authority(ferry::SocketAddress{}) == "");
    CHECK(authority("example.com", 443) == "example.com:443");
    CHECK(authority("192.0.2.1", 80) == "192.0.2.1:80");
    CHECK(authority("2001:db8::1", 0) == "[2001:db8::1]:0");
}

TEST_CASE("http_connect encode_request without credentials", "[http_connect]") {
    Bytes out;
    REQUIRE(encode_request("192.0.2.1:443", nullptr, nullptr, out));
    CHECK(str(out) == "CONNECT 192.0.2.1:443 HTTP/1.1\r\nHost: 192.0.2.1:443\r\n\r\n");

    out = text("x");
    REQUIRE(encode_request("[2001:db8::1]:443", nullptr, nullptr, out));
    CHECK(str(out) == "xCONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n");

    out.clear();
    const std::string ignored = "secret";
    REQUIRE(encode_request("example.com:443", nullptr, &ignored, out));
    CHECK(str(out) == "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
}

TEST_CASE("http_connect encode_request with Basic credentials", "[http_connect]") {
    const std::string user = "Aladdin", password = "open sesame", empty;
    Bytes out;
    REQUIRE(encode_request("example.com:443", &user, &password, out));
    CHECK(str(out) ==
          "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n"
          "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");

    out.clear();
    REQUIRE(encode_request("192.0.2.1:80", &user, nullptr, out));  // "Aladdin:"
    CHECK(str(out) ==
          "CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: 192.0.2.1:80\r\nProxy-Authorization: Basic QWxhZGRpbjo=\r\n\r\n");
    out.clear();
    REQUIRE(encode_request("192.0.2.1:80", &empty, &empty, out));  // ":"
    CHECK(str(out) == "CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: 192.0.2.1:80\r\nProxy-Authorization: Basic Og==\r\n\r\n");

    // Credentials with CR LF cannot break out: they are base64.
    const std::string evil = "a\r\nX-Evil: 1";
    out.clear();
    REQUIRE(encode_request("192.0.2.1:80", &evil, &evil, out));
    CHECK(str(out).find("X-Evil") == std::string::npos);
}

TEST_CASE("http_connect encode_request refuses authorities that would change the request", "[http_connect]") {
    const Bytes before = text("keep");
    for (std::string_view bad : {std::string_view(""), std::string_view("example.com:443\r\nX-Evil: 1"),
                                 std::string_view("a b:80"), std::string_view("a\tb:80"), std::string_view("a\n:80"),
                                 std::string_view("a\0:80", 5), std::string_view("\x7f:80")}) {
        Bytes out = before;
        INFO(bad);
        CHECK_FALSE(encode_request(bad, nullptr, nullptr, out));
        CHECK(out == before);
    }
}

// ---------------------------------------------------------------- parse_response: success

TEST_CASE("http_connect parse_response: 200, split at every offset", "[http_connect]") {
    auto r = check_prefixes("HTTP/1.1 200 Connection established\r\n\r\n");
    CHECK(r.status_code == 200);
    CHECK(r.reason == "Connection established");
    CHECK(r.is_success());

    r = check_prefixes("HTTP/1.0 200 OK\r\nProxy-Agent: Squid/6.6\r\nVia: 1.1 proxy\r\n\r\n");
    CHECK(r.status_code == 200);
    CHECK(r.reason == "OK");
    CHECK(r.is_success());

    // Whatever the headers say, a 2xx has no body: the blank line ends it.
    r = check_prefixes("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n");
    CHECK(r.is_success());
}

TEST_CASE("http_connect parse_response: the tunnel payload after the head is left alone", "[http_connect]") {
    const std::string head = "HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n";
    // Payload that itself looks like an HTTP head.
    const std::string payload = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
    const Bytes b = text(head + payload);
    auto r = parse(b);
    REQUIRE(r.status == Status::Done);
    REQUIRE(r.consumed == head.size());
    CHECK(str(Bytes(b.begin() + static_cast<std::ptrdiff_t>(r.consumed), b.end())) == payload);
    // A server-speaks-first payload (SSH banner) arriving in the same segment.
    r = parse(text("HTTP/1.1 200 OK\r\n\r\nSSH-2.0-OpenSSH_9.2\r\n"));
    CHECK(r.consumed == 19);
}

TEST_CASE("http_connect parse_response: bare LF and mixed line endings", "[http_connect]") {
    auto r = check_prefixes("HTTP/1.1 200 OK\n\n");
    CHECK(r.status_code == 200);
    CHECK(r.reason == "OK");
    r = check_prefixes("HTTP/1.0 200 Connection established\nProxy-Agent: x\nVia: y\n\n");
    CHECK(r.reason == "Connection established");
    r = check_prefixes("HTTP/1.1 200 OK\r\nA: b\n\r\n");
    CHECK(r.is_success());
    r = check_prefixes("HTTP/1.1 200 OK\nA: b\r\n\n");
    CHECK(r.is_success());
}

TEST_CASE("http_connect parse_response: reason phrases", "[http_connect]") {
    auto r = check_prefixes("HTTP/1.1 200\r\n\r\n");
    CHECK(r.reason.empty());
    CHECK(r.is_success());
    r = check_prefixes("HTTP/1.1 200 \r\n\r\n");
    CHECK(r.reason.empty());
    r = check_prefixes("HTTP/1.1 200 a  b\tc \r\n\r\n");
    CHECK(r.reason == "a  b\tc ");
    r = check_prefixes("HTTP/1.1 200 Verbindung hergestellt \xe2\x9c\x93\r\n\r\n");  // obs-text is allowed
    CHECK(r.reason == "Verbindung hergestellt \xe2\x9c\x93");
}

TEST_CASE("http_connect parse_response: codes", "[http_connect]") {
    struct Case {
        const char* line;
        int code;
        bool success;
    };
    for (const Case& c : {Case{"HTTP/1.1 100 Continue", 100, false}, Case{"HTTP/1.1 199 x", 199, false},
                          Case{"HTTP/1.1 201 Created", 201, true}, Case{"HTTP/1.1 299 x", 299, true},
                          Case{"HTTP/1.1 300 x", 300, false}, Case{"HTTP/1.1 403 Forbidden", 403, false},
                          Case{"HTTP/1.1 502 Bad Gateway", 502, false}, Case{"HTTP/1.1 599 x", 599, false}}) {
        auto r = parse(std::string(c.line) + "\r\n\r\n");
        INFO(c.line);
        CHECK(r.status == Status::Done);
        CHECK(r.status_code == c.code);
        CHECK(r.is_success() == c.success);
    }
}

// ---------------------------------------------------------------- parse_response: refusals are Done

TEST_CASE("http_connect parse_response: 407 with headers and a body", "[http_connect]") {
    const std::string head =
        "HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Server: squid/6.6\r\n"
        "Proxy-Authenticate: Basic realm=\"proxy\"\r\n"
        "Content-Type: text/html\r\n"
        "Content-Length: 23\r\n"
        "\r\n";
    auto r = check_prefixes(head);
    CHECK(r.status_code == 407);
    CHECK(r.reason == "Proxy Authentication Required");
    CHECK_FALSE(r.is_success());
    // What the caller logs.
    CHECK("HTTP proxy replied " + std::to_string(r.status_code) + " " + r.reason ==
          "HTTP proxy replied 407 Proxy Authentication Required");

    // The body is not consumed.
    r = parse(head + "<html>denied</html>\r\n\r\n");
    CHECK(r.status == Status::Done);
    CHECK(r.consumed == head.size());

    r = check_prefixes("HTTP/1.0 403 Forbidden\n\n");
    CHECK(r.status_code == 403);
    CHECK_FALSE(r.is_success());
}

// ---------------------------------------------------------------- parse_response: malformed

TEST_CASE("http_connect parse_response: not HTTP at all, as soon as the first wrong byte arrives",
          "[http_connect]") {
    check_invalid_from("SSH-2.0-OpenSSH_9.2\r\n", 1,
                       "HTTP proxy response does not start with \"HTTP/\": \"SSH-2.0-OpenSSH_9.2\"");
    check_invalid_from("http/1.1 200 OK\r\n\r\n", 1,
                       "HTTP proxy response does not start with \"HTTP/\": \"http/1.1 200 OK\"");
    check_invalid_from("HTTX/1.1 200 OK\r\n\r\n", 4,
                       "HTTP proxy response does not start with \"HTTP/\": \"HTTX/1.1 200 OK\"");
    check_invalid_from("\r\n\r\n", 2, "HTTP proxy response does not start with \"HTTP/\": \"\"");
    check_invalid_from(std::string_view("\x05\x00", 2), 1,
                       "HTTP proxy response does not start with \"HTTP/\": \"\\x05\\x00\"");
    check_invalid_from("HTTP\r\n\r\n", 6, "HTTP proxy response does not start with \"HTTP/\": \"HTTP\"");
    // The quote stops after 40 bytes.
    check_invalid_from("<html><head><title>400 Bad Request</title></head><body>", 1,
                       "HTTP proxy response does not start with \"HTTP/\": "
                       "\"<html><head><title>400 Bad Request</titl\"...");
}

TEST_CASE("http_connect parse_response: unsupported versions", "[http_connect]") {
    check_invalid_from("HTTP/2 200\r\n\r\n", 6, "unsupported HTTP version in status line \"HTTP/2 200\"");
    check_invalid_from("HTTP/1.2 200 OK\r\n\r\n", 8, "unsupported HTTP version in status line \"HTTP/1.2 200 OK\"");
    check_invalid_from("HTTP/0.9 200 OK\r\n\r\n", 6, "unsupported HTTP version in status line \"HTTP/0.9 200 OK\"");
    check_invalid_from("HTTP/1,1 200 OK\r\n\r\n", 7, "unsupported HTTP version in status line \"HTTP/1,1 200 OK\"");
}

TEST_CASE("http_connect parse_response: malformed status lines", "[http_connect]") {
    struct Case {
        std::string_view response;
        size_t at;  // the byte count at which it is known to be bad
        std::string error;
    };
    const Case cases[] = {
        {"HTTP/1.1  200 OK\r\n\r\n", 10, "malformed HTTP status line \"HTTP/1.1  200 OK\""},
        {"HTTP/1.1\t200 OK\r\n\r\n", 9, "malformed HTTP status line \"HTTP/1.1\\x09200 OK\""},
        {"HTTP/1.1 2x0 OK\r\n\r\n", 11, "malformed HTTP status line \"HTTP/1.1 2x0 OK\""},
        {"HTTP/1.1 099 x\r\n\r\n", 10, "malformed HTTP status line \"HTTP/1.1 099 x\""},
        {"HTTP/1.1 600 x\r\n\r\n", 10, "malformed HTTP status line \"HTTP/1.1 600 x\""},
        {"HTTP/1.1 2000 OK\r\n\r\n", 13, "malformed HTTP status line \"HTTP/1.1 2000 OK\""},
        {"HTTP/1.1 200OK\r\n\r\n", 13, "malformed HTTP status line \"HTTP/1.1 200OK\""},
        {"HTTP/1.1\r\n\r\n", 10, "malformed HTTP status line \"HTTP/1.1\""},
        {"HTTP/1.1 \r\n\r\n", 11, "malformed HTTP status line \"HTTP/1.1 \""},
        {"HTTP/1.1 20\n\n", 12, "malformed HTTP status line \"HTTP/1.1 20\""},
        {"HTTP/1.\n\n", 8, "malformed HTTP status line \"HTTP/1.\""},
        {"HTTP/1.1 200 OK\x01\r\n\r\n", 16, "malformed HTTP status line \"HTTP/1.1 200 OK\\x01\""},
        {"HTTP/1.1 200 O\x7fK\r\n\r\n", 15, "malformed HTTP status line \"HTTP/1.1 200 O\\x7fK\""},
        // A bare CR is not a line ending, once what follows shows it.
        {"HTTP/1.1 200 OK\rX\r\n\r\n", 17, "malformed HTTP status line \"HTTP/1.1 200 OK\\x0dX\""},
        {"HTTP/1.1 200\r\r\n\r\n", 14, "malformed HTTP status line \"HTTP/1.1 200\\x0d\""},
        {std::string_view("HTTP/1.1 200 \0\r\n\r\n", 18), 14, "malformed HTTP status line \"HTTP/1.1 200 \\x00\""},
    };
    for (const Case& c : cases) {
        INFO(c.response);
        check_invalid_from(c.response, c.at, c.error);
    }
    // Long lines are quoted in part, control characters escaped.
    auto r = parse("HTTP/1.1 200 " + std::string(60, 'x') + "\x1b[2J\r\n\r\n");
    CHECK(r.status == Status::Invalid);
    CHECK(r.error == "malformed HTTP status line \"HTTP/1.1 200 " + std::string(27, 'x') + "\"...");
    r = parse("HTTP/1.1 200 \x1b[2J\r\n\r\n");
    CHECK(r.error == "malformed HTTP status line \"HTTP/1.1 200 \\x1b[2J\"");
}

// ---------------------------------------------------------------- parse_response: size limit

TEST_CASE("http_connect parse_response: a head of 16384 bytes is the most", "[http_connect]") {
    REQUIRE(kMaxResponseHeaderLength == 16384);
    const std::string oversize = "HTTP response header over 16384 bytes";
    for (std::string_view blank : {"\r\n", "\n"}) {
        INFO("blank line " << (blank.size() == 2 ? "CRLF" : "LF"));
        // Exactly at the limit, with payload after it.
        const Bytes exact = text(head_of_size(kMaxResponseHeaderLength, blank));
        for (size_t n : {size_t{0}, size_t{1}, exact.size() / 2, exact.size() - 2, exact.size() - 1})
            CHECK(parse(first(exact, n)).status == Status::Incomplete);
        auto r = parse(exact);
        CHECK(r.status == Status::Done);
        CHECK(r.consumed == kMaxResponseHeaderLength);
        r = parse(cat(exact, text("payload")));
        CHECK(r.status == Status::Done);
        CHECK(r.consumed == kMaxResponseHeaderLength);

        // One byte over: Invalid as soon as 16384 bytes are there without an end.
        const Bytes over = text(head_of_size(kMaxResponseHeaderLength + 1, blank));
        CHECK(parse(first(over, kMaxResponseHeaderLength - 1)).status == Status::Incomplete);
        for (size_t n : {kMaxResponseHeaderLength, kMaxResponseHeaderLength + 1, over.size()}) {
            r = parse(first(over, n));
            INFO("prefix length " << n);
            CHECK(r.status == Status::Invalid);
            CHECK(r.error == oversize);
        }
    }
    // A status line with no end, and endless headers.
    Bytes endless = text("HTTP/1.1 200 " + std::string(kMaxResponseHeaderLength, 'x'));
    CHECK(parse(first(endless, kMaxResponseHeaderLength - 1)).status == Status::Incomplete);
    CHECK(parse(first(endless, kMaxResponseHeaderLength)).error == oversize);
    std::string many = "HTTP/1.1 200 OK\r\n";
    while (many.size() < 2 * kMaxResponseHeaderLength) many += "A: b\r\n";
    CHECK(parse(many).error == oversize);
    CHECK(parse(many + "\r\n").error == oversize);
    // A bad status line is reported as such even past the limit.
    CHECK_THAT(parse("HTTP/1.1 200 \x01" + std::string(kMaxResponseHeaderLength, 'x')).error,
               StartsWith("malformed HTTP status line"));
}

TEST_CASE("http_connect parse_response: mutated heads decide once and for all", "[http_connect]") {
    const std::string seeds[] = {"HTTP/1.1 200 Connection established\r\n\r\n", "HTTP/1.0 407 Denied\nA: b\n\n",
                                 "HTTP/1.1 200\r\nX: y\r\n\r\nPAYLOAD"};
    Rng rng(0x2545f491);
    for (int round = 0; round < 300; ++round) {
        Bytes b = text(seeds[rng.below(std::size(seeds))]);
        static constexpr char kInteresting[] = {'\r', '\n', ' ', '0', '9', '1', '.', 'H', '\0', '\t'};
        for (size_t k = 1 + rng.below(3); k > 0; --k) {
            size_t i = rng.below(b.size());
            b[i] = rng.below(2) ? std::byte(kInteresting[rng.below(sizeof kInteresting)])
                                : std::byte(rng.next() & 0xFF);
        }
        INFO("round " << round << ": " << str(b));
        Status decided = Status::Incomplete;
        Response last;
        for (size_t n = 0; n <= b.size(); ++n) {
            auto r = parse(first(b, n));
            REQUIRE(r.consumed <= n);
            if (r.status == Status::Done) {
                REQUIRE(r.consumed > 0);
                REQUIRE(r.status_code >= 100);
                REQUIRE(r.status_code <= 599);
            }
            if (r.status == Status::Invalid) REQUIRE_FALSE(r.error.empty());
            // The error's excerpt of the line may grow with it; the decision does not change.
            if (decided != Status::Incomplete) {
                REQUIRE(r.status == decided);
                REQUIRE(r.consumed == last.consumed);
                REQUIRE(r.status_code == last.status_code);
                REQUIRE(r.reason == last.reason);
            }
            decided = r.status;
            last = r;
        }
    }
}

TEST_CASE("parse_status_line: Done at the status line's end, headers not needed", "[http_connect]") {
    const Bytes line = text("HTTP/1.1 204 No Content\r\n");
    for (size_t n = 0; n < line.size(); ++n) {
        auto r = parse_status_line(first(line, n));
        INFO("prefix length " << n << ": " << r.error);
        CHECK(r.status == Status::Incomplete);
        CHECK(r.consumed == 0);
    }
    auto r = parse_status_line(cat(line, text("Server: x\r\n")));
    REQUIRE(r.status == Status::Done);
    CHECK(r.consumed == line.size());
    CHECK(r.status_code == 204);
    CHECK(r.reason == "No Content");
    auto bare = parse_status_line(text("HTTP/1.0 403\nX"));
    REQUIRE(bare.status == Status::Done);
    CHECK(bare.consumed == 13);
    CHECK(bare.status_code == 403);
    CHECK(bare.reason.empty());
}

TEST_CASE("parse_status_line: not HTTP, or too long", "[http_connect]") {
    auto ssh = parse_status_line(text("SSH-2.0-OpenSSH_9.2\r\n"));
    CHECK(ssh.status == Status::Invalid);
    CHECK_THAT(ssh.error, StartsWith("HTTP proxy response does not start with \"HTTP/\""));
    CHECK(parse_status_line(text("HTTP/2 200 OK\r\n")).status == Status::Invalid);
    CHECK(parse_status_line(text("HTTP/1.1 20")).status == Status::Incomplete);
    CHECK(parse_status_line(text("HTTP/1.1 600 x\r\n")).status == Status::Invalid);
    const std::string head = "HTTP/1.1 200 ";
    const std::string fits = head + std::string(kMaxStatusLineLength - head.size() - 1, 'a') + "\n";
    CHECK(parse_status_line(text(fits)).status == Status::Done);
    const std::string longer = head + std::string(kMaxStatusLineLength - head.size(), 'a');
    auto over = parse_status_line(text(longer));
    CHECK(over.status == Status::Invalid);
    CHECK(over.error == "HTTP status line over 1024 bytes");
    CHECK(parse_status_line(text(longer.substr(0, longer.size() - 1))).status == Status::Incomplete);
}
