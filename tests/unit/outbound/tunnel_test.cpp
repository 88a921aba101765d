// tunnel::proxy_handshake driven over socket pairs: the edge-triggered state machine that runs the
// pure SOCKS5 / HTTP CONNECT codecs, with the proxy's replies arriving whole, byte by byte, and with tunnel
// bytes behind them; the client's first bytes sent along (pipelined SOCKS5, HTTP connect payload).
#include "outbound/tunnel.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "test_socket.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

using ferry::Attempt;
using ferry::Flow;
using ferry::HandshakeStep;
using ferry::SocketAddress;
using ferry::SocketReadiness;
using ferry::backends::Protocol;
using ferry::backends::ServerConfig;

using ferry_test::bytes;
using ferry_test::drain;
using ferry_test::Pair;
using ferry_test::put;

namespace {

ServerConfig socks(bool pipelined = false, std::string user = {}, std::string pass = {}) {
    ServerConfig c;
    c.tag = "s";
    c.protocol = Protocol::Socks5;
    uint8_t lo[4] = {127, 0, 0, 1};
    c.address = SocketAddress::from_v4(lo, 1080);
    c.socks_fake_handshaking = pipelined;
    c.socks_username = std::move(user);
    c.socks_password = std::move(pass);
    return c;
}

Flow flow_to(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
    Flow f;
    uint8_t ip[4] = {a, b, c, d};
    f.destination = SocketAddress::from_v4(ip, port);
    return f;
}

struct Driver {
    const ServerConfig& server;
    Flow flow;
    Attempt a;
    SocketReadiness io;
    std::vector<std::byte> scratch = std::vector<std::byte>(65536);
    int client_fd = -1;

    Driver(const ServerConfig& s, Flow f, int fd) : server(s), flow(std::move(f)) {
        io.fd = fd;
        io.readable = true;
        io.writable = true;
        a.connected = true;
    }
    HandshakeStep step() {
        io.readable = true;  // as after an edge
        return ferry::tunnel::proxy_handshake(server, ferry::tunnel::Endpoint::of(flow), a, io, client_fd, scratch);
    }
};

const std::string kReply4 = bytes({5, 0, 0, 1, 192, 0, 2, 7, 0x1f, 0x90});

}  // namespace

TEST_CASE("proxy handshake: SOCKS5 RFC 1928 exchange, replies split byte by byte", "[backend_outbound]") {
    Pair p;
    auto server = socks();
    Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) == bytes({5, 1, 0}));
    put(p.theirs, bytes({5}));
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs).empty());  // nothing more until the method choice is whole
    put(p.theirs, bytes({0}));
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) == bytes({5, 1, 0, 1, 203, 0, 113, 2, 0, 80}));
    for (size_t i = 0; i + 1 < kReply4.size(); ++i) {
        put(p.theirs, kReply4.substr(i, 1));
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    }
    put(p.theirs, kReply4.substr(kReply4.size() - 1) + "tunnel bytes");
    CHECK(d.step().status == HandshakeStep::Status::Done);
    // The reply is consumed exactly: what follows is the destination's, left for the relay.
    CHECK(drain(p.ours) == "tunnel bytes");
}

TEST_CASE("proxy handshake: SOCKS5 with username/password, and its rejection", "[backend_outbound]") {
    for (bool accept : {true, false}) {
        Pair p;
        auto server = socks(false, "alice", "pw");
        Driver d(server, flow_to(198, 51, 100, 9, 443), p.ours);
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        CHECK(drain(p.theirs) == bytes({5, 2, 0, 2}));
        put(p.theirs, bytes({5, 2}));
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        CHECK(drain(p.theirs) == bytes({1, 5}) + "alice" + bytes({2}) + "pw");
        put(p.theirs, bytes({1, accept ? 0 : 1}));
        auto s = d.step();
        if (!accept) {
            CHECK(s.status == HandshakeStep::Status::Failed);
            CHECK_THAT(s.error, Catch::Contains("rejected"));
            CHECK(s.error_code == EACCES);
            continue;
        }
        CHECK(s.status == HandshakeStep::Status::Incomplete);
        CHECK(drain(p.theirs) == bytes({5, 1, 0, 1, 198, 51, 100, 9, 1, 187}));
        put(p.theirs, kReply4);
        CHECK(d.step().status == HandshakeStep::Status::Done);
    }
}

TEST_CASE("proxy handshake: the pipelined variant sends greeting, request and the client's bytes at once", "[backend_outbound]") {
    Pair p, client;
    auto server = socks(true);
    Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
    put(client.theirs, "GET / HTTP/1.0\r\n\r\n");
    d.client_fd = client.ours;
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) == bytes({5, 1, 0}) + bytes({5, 1, 0, 1, 203, 0, 113, 2, 0, 80}) + "GET / HTTP/1.0\r\n\r\n");
    CHECK(d.a.payload_len == 18);
    // Both replies back to back, split anywhere, and checked (the reference skips 10 bytes unchecked).
    std::string replies = bytes({5, 0}) + bytes({5, 0, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2});
    put(p.theirs, replies.substr(0, 7));
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    put(p.theirs, replies.substr(7) + "HTTP/1.0 200");
    CHECK(d.step().status == HandshakeStep::Status::Done);
    CHECK(drain(p.ours) == "HTTP/1.0 200");
    // The client's bytes are still queued: the engine consumes payload_len of them on success.
    CHECK(drain(client.ours) == "GET / HTTP/1.0\r\n\r\n");
}

TEST_CASE("proxy handshake: a SOCKS5 failure reply fails the attempt with the matching errno", "[backend_outbound]") {
    Pair p;
    auto server = socks(true);
    Driver d(server, flow_to(203, 0, 113, 2, 81), p.ours);
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    drain(p.theirs);
    put(p.theirs, bytes({5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0}));
    auto s = d.step();
    CHECK(s.status == HandshakeStep::Status::Failed);
    CHECK_THAT(s.error, Catch::Contains("connection refused"));
    CHECK(s.error_code == ECONNREFUSED);
    // The proxy works; the destination refused: not the proxy's fault, and no other proxy would do better.
    CHECK(s.fault == ferry::Fault::Destination);
    CHECK(s.final);
}

TEST_CASE("proxy handshake: whose fault a failure is", "[backend_outbound]") {
    struct Case {
        int code;
        ferry::Fault fault;
        bool final;
    } cases[] = {
        {1, ferry::Fault::Upstream, false},     // general failure: the proxy
        {2, ferry::Fault::Upstream, false},     // not allowed by its rules: the proxy
        {3, ferry::Fault::Destination, false},  // network unreachable: maybe another proxy can
        {4, ferry::Fault::Destination, false},
        {5, ferry::Fault::Destination, true},   // refused: the destination's own answer
        {6, ferry::Fault::Destination, false},
        {7, ferry::Fault::Upstream, false},
    };
    for (const auto& c : cases) {
        Pair p;
        auto server = socks();
        Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        put(p.theirs, bytes({5, 0}));
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        put(p.theirs, bytes({5, c.code, 0, 1, 0, 0, 0, 0, 0, 0}));
        auto s = d.step();
        CHECK(s.status == HandshakeStep::Status::Failed);
        CHECK(s.fault == c.fault);
        CHECK(s.final == c.final);
    }
    for (auto [status, fault] : {std::pair{502, ferry::Fault::Destination}, std::pair{504, ferry::Fault::Destination},
                                 std::pair{403, ferry::Fault::Upstream}, std::pair{407, ferry::Fault::Upstream}}) {
        Pair p;
        ServerConfig server = socks();
        server.protocol = Protocol::Http;
        Driver d(server, flow_to(192, 0, 2, 1, 80), p.ours);
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        put(p.theirs, "HTTP/1.1 " + std::to_string(status) + " No\r\n\r\n");
        auto s = d.step();
        CHECK(s.status == HandshakeStep::Status::Failed);
        CHECK(s.fault == fault);
        CHECK_FALSE(s.final);
    }
}

TEST_CASE("proxy handshake: once the client's bytes went out, a broken-off handshake is final", "[backend_outbound]") {
    for (bool with_payload : {false, true}) {
        Pair p, client;
        auto server = socks(true);
        Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
        if (with_payload) put(client.theirs, "POST /once");
        d.client_fd = client.ours;
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
        CHECK(d.a.payload_out == with_payload);
        ::shutdown(p.theirs, SHUT_WR);  // the proxy may have forwarded the POST before it went away
        auto s = d.step();
        CHECK(s.status == HandshakeStep::Status::Failed);
        CHECK(s.fault == ferry::Fault::Upstream);
        CHECK(s.final == with_payload);
    }
}

TEST_CASE("proxy handshake: a client that cannot be read is our side's failure", "[backend_outbound]") {
    Pair p;
    int bad = ::socket(AF_INET, SOCK_STREAM, 0);  // never connected: recv fails with ENOTCONN
    auto server = socks(true);
    Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
    d.client_fd = bad;
    auto s = d.step();
    ::close(bad);
    CHECK(s.status == HandshakeStep::Status::Failed);
    CHECK(s.fault == ferry::Fault::Local);
}

TEST_CASE("proxy handshake: the proxy closing mid-handshake fails the attempt", "[backend_outbound]") {
    Pair p;
    auto server = socks();
    Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    ::shutdown(p.theirs, SHUT_WR);
    auto s = d.step();
    CHECK(s.status == HandshakeStep::Status::Failed);
    CHECK_THAT(s.error, Catch::Contains("closed the connection"));
}

TEST_CASE("proxy handshake: HTTP CONNECT with Basic auth, a response split across reads", "[backend_outbound]") {
    Pair p;
    ServerConfig server = socks();
    server.protocol = Protocol::Http;
    server.http_username = "bob";
    server.http_password = "hunter2";
    Flow f;
    f.destination_host = "example.test";
    uint8_t any[4] = {0, 0, 0, 0};
    f.destination = SocketAddress::from_v4(any, 443);
    Driver d(server, f, p.ours);
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) ==
          "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n"
          "Proxy-Authorization: Basic Ym9iOmh1bnRlcjI=\r\n\r\n");
    std::string resp = "HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n";
    for (char c : resp.substr(0, resp.size() - 1)) {
        put(p.theirs, std::string(1, c));
        CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    }
    put(p.theirs, resp.substr(resp.size() - 1) + "\x16\x03\x01");
    CHECK(d.step().status == HandshakeStep::Status::Done);
    CHECK(drain(p.ours) == "\x16\x03\x01");
}

TEST_CASE("proxy handshake: HTTP refusals fail with the status in the reason; the connect payload goes along", "[backend_outbound]") {
    Pair p, client;
    ServerConfig server = socks();
    server.protocol = Protocol::Http;
    server.http_allow_connect_payload = true;
    Driver d(server, flow_to(192, 0, 2, 1, 80), p.ours);
    put(client.theirs, "hello");
    d.client_fd = client.ours;
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) == "CONNECT 192.0.2.1:80 HTTP/1.1\r\nHost: 192.0.2.1:80\r\n\r\nhello");
    CHECK(d.a.payload_len == 5);
    put(p.theirs, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
    auto s = d.step();
    CHECK(s.status == HandshakeStep::Status::Failed);
    CHECK_THAT(s.error, Catch::Contains("replied 407 Proxy Authentication Required"));
    CHECK(s.error_code == EACCES);
}

TEST_CASE("proxy handshake: a short write resumes where it stopped", "[backend_outbound]") {
    Pair p;
    auto server = socks();
    Driver d(server, flow_to(203, 0, 113, 2, 80), p.ours);
    d.io.writable = false;  // the socket said EAGAIN: nothing is written until it is writable again
    d.io.readable = false;
    CHECK(ferry::tunnel::proxy_handshake(server, ferry::tunnel::Endpoint::of(d.flow), d.a, d.io, -1, d.scratch).status ==
          HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs).empty());
    d.io.writable = true;
    CHECK(d.step().status == HandshakeStep::Status::Incomplete);
    CHECK(drain(p.theirs) == bytes({5, 1, 0}));
}
