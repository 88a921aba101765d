// Zero-downtime restarts' pieces (engine/takeover.h, engine/inherited_sockets.h): the manifest and hello codecs,
// systemd's $LISTEN_FDS, the address matching of inherited sockets, and one whole exchange over a Unix socket in a
// temporary directory (no root needed): the successor receives working listening sockets.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <thread>

#include "core/socket_util.h"
#include "engine/inherited_sockets.h"
#include "engine/takeover.h"

using ferry::Fd;
using ferry::SocketAddress;
using ferry::SocketKind;
namespace takeover = ferry::takeover;

namespace {

SocketAddress addr(const std::string& text) {
    auto a = ferry::parse_host_port(text);
    REQUIRE(a);
    return *a;
}

}  // namespace

TEST_CASE("takeover manifest: encodes and parses back", "[takeover]") {
    takeover::Manifest m;
    m.pid = 4242;
    m.version = "0.1.0";
    m.sockets.push_back({SocketKind::Tcp, addr("0.0.0.0:8443"), "", ""});
    m.sockets.push_back({SocketKind::Udp, addr("[2001:db8::1]:53"), "dns", ""});
    m.sockets.push_back({SocketKind::Tcp, addr("127.0.0.1:8080"), "status", ""});
    m.sockets.push_back({SocketKind::Takeover, {}, "", "/run/ferry.sock"});
    m.sockets.push_back({SocketKind::Unix, {}, "status", "/run/moproxy/web.sock"});
    m.state = "line one\nline \"two\"\n";
    const std::string text = takeover::encode_manifest(m);
    std::string error;
    auto back = takeover::parse_manifest(text, &error);
    REQUIRE(back);
    CHECK(error.empty());
    CHECK(back->pid == 4242);
    CHECK(back->version == "0.1.0");
    CHECK(back->state == m.state);
    REQUIRE(back->sockets.size() == 5);
    for (size_t i = 0; i < 5; ++i) {
        CHECK(back->sockets[i].kind == m.sockets[i].kind);
        CHECK(back->sockets[i].address == m.sockets[i].address);
        CHECK(back->sockets[i].name == m.sockets[i].name);
        CHECK(back->sockets[i].path == m.sockets[i].path);
    }
}

TEST_CASE("takeover manifest: anything else is refused with a reason", "[takeover]") {
    std::string error;
    CHECK_FALSE(takeover::parse_manifest("", &error));
    CHECK(error == "not a JSON object");
    CHECK_FALSE(takeover::parse_manifest("[1,2]", &error));
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":2,"sockets":[]})", &error));
    CHECK(error == "not takeover protocol version 1");
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":1})", &error));
    CHECK(error == "no \"sockets\" array");
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":1,"sockets":[{"kind":"sctp","address":"1.2.3.4:5"}]})",
                                         &error));
    CHECK(error == "socket 0: unknown kind");
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":1,"sockets":[{"kind":"tcp","address":"nowhere"}]})",
                                         &error));
    CHECK(error.rfind("socket 0: address \"nowhere\": ", 0) == 0);
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":1,"sockets":[{"kind":"takeover","path":""}]})", &error));
    CHECK(error == "socket 0: a takeover socket without a path");
    CHECK_FALSE(takeover::parse_manifest(R"({"takeover":1,"sockets":[{"kind":"unix","address":"1.2.3.4:5"}]})",
                                         &error));
    CHECK(error == "socket 0: a unix socket without a path");
    auto empty = takeover::parse_manifest(R"({"takeover":1,"sockets":[]})", &error);
    REQUIRE(empty);
    CHECK(empty->sockets.empty());
    CHECK(empty->pid == 0);
}

TEST_CASE("takeover hello: the successor's pid", "[takeover]") {
    std::string error;
    auto pid = takeover::parse_hello(takeover::encode_hello(31337, "0.1.0"), &error);
    REQUIRE(pid);
    CHECK(*pid == 31337);
    CHECK_FALSE(takeover::parse_hello(R"({"takeover":1})", &error));
    CHECK(error == "no process id");
    CHECK_FALSE(takeover::parse_hello(R"({"takeover":1,"pid":-5})", &error));
    CHECK_FALSE(takeover::parse_hello("GET / HTTP/1.1\r\n", &error));
}

TEST_CASE("takeover: Unix socket addresses, files and the abstract namespace", "[takeover]") {
    sockaddr_un a;
    socklen_t len;
    REQUIRE(ferry::unix_address("/run/ferry.sock", &a, &len));
    CHECK(std::string(a.sun_path) == "/run/ferry.sock");
    CHECK(len == offsetof(sockaddr_un, sun_path) + 16);
    REQUIRE(ferry::unix_address("@ferry", &a, &len));
    CHECK(a.sun_path[0] == '\0');
    CHECK(std::string(a.sun_path + 1, 5) == "ferry");
    CHECK(len == offsetof(sockaddr_un, sun_path) + 6);
    CHECK_FALSE(ferry::unix_address("", &a, &len));
    CHECK_FALSE(ferry::unix_address(std::string(sizeof a.sun_path, 'x'), &a, &len));
}

TEST_CASE("parse_listen_fds: systemd's variables, only for this process", "[takeover]") {
    auto none = ferry::parse_listen_fds(nullptr, nullptr, nullptr, 100);
    CHECK(none.count == 0);
    CHECK(none.error.empty());
    auto other = ferry::parse_listen_fds("99", "2", nullptr, 100);
    CHECK(other.count == 0);
    CHECK(other.error.empty());
    auto two = ferry::parse_listen_fds("100", "2", "web:status", 100);
    CHECK(two.count == 2);
    CHECK(two.names == std::vector<std::string>{"web", "status"});
    auto unnamed = ferry::parse_listen_fds("100", "3", nullptr, 100);
    CHECK(unnamed.names == std::vector<std::string>{"", "", ""});
    auto short_names = ferry::parse_listen_fds("100", "2", "web", 100);
    CHECK(short_names.names == std::vector<std::string>{"web", ""});
    CHECK_FALSE(ferry::parse_listen_fds("abc", "1", nullptr, 100).error.empty());
    CHECK_FALSE(ferry::parse_listen_fds("100", "-1", nullptr, 100).error.empty());
    CHECK_FALSE(ferry::parse_listen_fds("100", "99999", nullptr, 100).error.empty());
}

TEST_CASE("serves_address: exact, or the IPv4 wildcard on a dual-stack socket", "[takeover]") {
    CHECK(ferry::serves_address(addr("127.0.0.1:80"), false, addr("127.0.0.1:80")));
    CHECK_FALSE(ferry::serves_address(addr("127.0.0.1:80"), false, addr("127.0.0.1:81")));
    CHECK(ferry::serves_address(addr("[::]:80"), false, addr("0.0.0.0:80")));
    CHECK_FALSE(ferry::serves_address(addr("[::]:80"), true, addr("0.0.0.0:80")));
    CHECK_FALSE(ferry::serves_address(addr("[::]:80"), false, addr("0.0.0.0:81")));
    CHECK_FALSE(ferry::serves_address(addr("0.0.0.0:80"), false, addr("[::]:80")));
}

TEST_CASE("InheritedSockets: taken by kind and address, the rest released", "[takeover]") {
    ferry::InheritedSockets pool;
    ferry::InheritedSocket a;
    a.fd.reset(::dup(0));
    a.kind = SocketKind::Tcp;
    a.address = addr("0.0.0.0:8443");
    pool.add(std::move(a));
    ferry::InheritedSocket b;
    b.fd.reset(::dup(0));
    b.kind = SocketKind::Udp;
    b.address = addr("0.0.0.0:8443");
    pool.add(std::move(b));
    ferry::InheritedSocket t;
    t.fd.reset(::dup(0));
    t.kind = SocketKind::Takeover;
    t.path = "/run/x.sock";
    pool.add(std::move(t));
    CHECK(pool.count(SocketKind::Tcp, addr("0.0.0.0:8443")) == 1);
    CHECK_FALSE(pool.take(SocketKind::Tcp, addr("0.0.0.0:9000")));
    CHECK(pool.take(SocketKind::Tcp, addr("0.0.0.0:8443")));
    CHECK_FALSE(pool.take(SocketKind::Tcp, addr("0.0.0.0:8443")));
    CHECK_FALSE(pool.take_path(SocketKind::Unix, "/run/x.sock"));  // a takeover socket, not a unix listener
    CHECK_FALSE(pool.take_takeover("/run/y.sock"));
    CHECK(pool.take_takeover("/run/x.sock"));
    auto rest = pool.release_rest();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].kind == SocketKind::Udp);
    CHECK(pool.empty());
}

TEST_CASE("takeover: a successor receives working listening sockets and commits", "[takeover]") {
    char dir[] = "/tmp/ferry-takeover-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    const std::string path = std::string(dir) + "/t.sock";
    std::string error;
    Fd listener = takeover::listen(path, &error);
    REQUIRE(listener);
    // A second incumbent on the same path is refused.
    CHECK_FALSE(takeover::listen(path, &error));
    CHECK(error.find("another ferry listens there") != std::string::npos);

    ferry::ListenOptions options;
    options.reuse_port = false;
    Fd tcp = ferry::listen_tcp(addr("127.0.0.1:0"), options, &error);
    REQUIRE(tcp);
    const SocketAddress bound = ferry::local_address(tcp.get());

    takeover::Manifest manifest;
    manifest.pid = ::getpid();
    manifest.version = "test";
    manifest.sockets.push_back({SocketKind::Tcp, bound, "web", ""});
    manifest.state = "state text";
    std::optional<int64_t> successor;
    takeover::Answer answer = takeover::Answer::Pending;
    std::thread incumbent([&] {
        // The first connection is listen()'s check above, closed without a word: skipped silently.
        Fd connection;
        for (int i = 0; i < 500 && !successor; ++i) {
            connection.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!connection) {
                ::usleep(10000);
                continue;
            }
            std::string why;
            successor = takeover::offer(connection.get(), manifest, {tcp.get()}, &why);
            if (!successor && !why.empty()) return;
        }
        if (!successor) return;
        for (int i = 0; i < 500 && answer == takeover::Answer::Pending; ++i) {
            answer = takeover::read_answer(connection.get());
            if (answer == takeover::Answer::Pending) ::usleep(10000);
        }
        if (answer == takeover::Answer::Commit) takeover::acknowledge(connection.get());
    });
    takeover::Received received;
    const auto result = takeover::request(path, &received, &error);
    INFO(error);
    if (result != takeover::RequestResult::Received) incumbent.join();
    REQUIRE(result == takeover::RequestResult::Received);
    REQUIRE(received.sockets.size() == 1);
    CHECK(received.manifest.state == "state text");
    CHECK(received.sockets[0].name == "web");
    CHECK(received.sockets[0].address == bound);
    // The received fd is the same listening socket: a client connecting to it is accepted through it.
    Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(::connect(client.get(), bound.sa(), bound.length) == 0);
    Fd accepted(::accept4(received.sockets[0].fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CHECK(accepted);
    CHECK(takeover::commit(received.connection, &error));
    incumbent.join();
    CHECK(successor == ::getpid());
    CHECK(answer == takeover::Answer::Commit);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("takeover: nobody on the path, or a stale file, means no incumbent", "[takeover]") {
    char dir[] = "/tmp/ferry-takeover-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    const std::string path = std::string(dir) + "/t.sock";
    takeover::Received received;
    std::string error;
    CHECK(takeover::request(path, &received, &error) == takeover::RequestResult::NoIncumbent);
    {
        Fd stale = takeover::listen(path, &error);
        REQUIRE(stale);
    }  // closed, the file stays: what a crash leaves
    CHECK(takeover::request(path, &received, &error) == takeover::RequestResult::NoIncumbent);
    Fd again = takeover::listen(path, &error);
    CHECK(again);
    ::unlink(path.c_str());
    ::rmdir(dir);
}
