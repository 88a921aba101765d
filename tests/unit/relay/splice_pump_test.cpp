// SplicePump over local socket pairs (no network): the adaptive decision, half-close forwarding, backpressure
// and the fallback to copying when no pipe can be had.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/fd.h"
#include "relay/splice_pump.h"

using ferry::Fd;
using ferry::PipePool;
using ferry::RelayMode;
using ferry::SocketReadiness;
using ferry::SplicePump;

namespace {

// A connected pair of non-blocking stream sockets: `near` is what the pump sees, `far` the peer.
struct Pair {
    Fd near, far;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        near.reset(fds[0]);
        far.reset(fds[1]);
    }
};

std::string drain(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

bool at_eof(int fd) {
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT) == 0;
}

struct Rig {
    Pair src, dst;
    PipePool pool{4, 0};
    std::vector<std::byte> scratch = std::vector<std::byte>(65536);
    SocketReadiness in{src.near.get(), true, false}, out{dst.near.get(), false, true};
    SplicePump::Outcome run(SplicePump& p) {
        in.readable = true;
        return p.pump(in, out, pool, scratch);
    }
};

}  // namespace

TEST_CASE("adaptive: small messages are copied, a full copy buffer switches to splice") {
    Rig r;
    SplicePump p(RelayMode::Adaptive);
    CHECK(p.copying());
    REQUIRE(::send(r.src.far.get(), "hello", 5, 0) == 5);
    CHECK(r.run(p) == SplicePump::Outcome::Blocked);
    CHECK(drain(r.dst.far.get()) == "hello");
    CHECK(p.copying());
    CHECK(r.pool.in_use() == 0);  // copying took no pipe

    std::string bulk(200000, 'x');
    size_t sent = 0;
    while (sent < bulk.size()) {
        ssize_t n = ::send(r.src.far.get(), bulk.data() + sent, bulk.size() - sent, MSG_DONTWAIT);
        if (n > 0) sent += static_cast<size_t>(n);
        r.run(p);
        r.out.writable = true;
        std::string got = drain(r.dst.far.get());
        REQUIRE(got.find_first_not_of('x') == std::string::npos);
    }
    CHECK_FALSE(p.copying());
    CHECK(p.bytes() > 5);
}

TEST_CASE("splice mode moves bytes through a pipe and gives it back when empty") {
    Rig r;
    SplicePump p(RelayMode::Splice);
    CHECK_FALSE(p.copying());
    REQUIRE(::send(r.src.far.get(), "abc", 3, 0) == 3);
    CHECK(r.run(p) == SplicePump::Outcome::Blocked);
    CHECK(drain(r.dst.far.get()) == "abc");
    CHECK(r.pool.in_use() == 0);
    CHECK(r.pool.idle() == 1);  // the empty pipe went back to the pool
}

TEST_CASE("EOF is forwarded as a half-close after every byte") {
    for (RelayMode mode : {RelayMode::Adaptive, RelayMode::Splice, RelayMode::Copy}) {
        Rig r;
        SplicePump p(mode);
        REQUIRE(::send(r.src.far.get(), "last words", 10, 0) == 10);
        ::shutdown(r.src.far.get(), SHUT_WR);
        CHECK(r.run(p) == SplicePump::Outcome::Done);
        CHECK(p.done());
        CHECK(drain(r.dst.far.get()) == "last words");
        CHECK(at_eof(r.dst.far.get()));
        // The destination can still send the other way: only its write side was shut.
        CHECK(::send(r.dst.far.get(), "reply", 5, MSG_NOSIGNAL) == 5);
    }
}

TEST_CASE("a full destination blocks the pump without losing bytes (copy keeps the rest)") {
    Rig r;
    SplicePump p(RelayMode::Copy);
    int small = 4096;
    ::setsockopt(r.dst.near.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string data;
    for (int i = 0; i < 60000; ++i) data.push_back(static_cast<char>('a' + i % 26));
    size_t sent = 0, got_total = 0;
    std::string got;
    int blocked = 0;
    while (got.size() < data.size()) {
        if (sent < data.size()) {
            ssize_t n = ::send(r.src.far.get(), data.data() + sent, data.size() - sent, MSG_DONTWAIT);
            if (n > 0) sent += static_cast<size_t>(n);
        }
        if (r.run(p) == SplicePump::Outcome::Blocked && !r.out.writable) ++blocked;
        std::string part = drain(r.dst.far.get());
        got += part;
        got_total += part.size();
        r.out.writable = true;  // the reader made room
    }
    CHECK(got == data);
    CHECK(blocked > 0);
}

TEST_CASE("no pipe to be had: a splice pump copies instead of failing") {
    Rig r;
    SplicePump p(RelayMode::Splice);
    // Use up a lowered fd limit so pipe2() fails with EMFILE, then relay.
    rlimit saved{};
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit low = saved;
    low.rlim_cur = 256;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
    std::vector<Fd> hog;
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1;) hog.emplace_back(fd);
    const int open_errno = errno;
    REQUIRE(::send(r.src.far.get(), "still here", 10, 0) == 10);
    auto outcome = r.run(p);
    hog.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved);
    REQUIRE(open_errno == EMFILE);
    CHECK(outcome == SplicePump::Outcome::Blocked);
    CHECK(drain(r.dst.far.get()) == "still here");
}

namespace {

// Doubles every byte ("ab" -> "aabb"): output longer than input.
struct Doubler final : ferry::BlockFilter {
    int blocks = 0;
    bool filter(std::span<const std::byte> in, std::vector<std::byte>& out, std::string&) override {
        ++blocks;
        for (std::byte b : in) {
            out.push_back(b);
            out.push_back(b);
        }
        return true;
    }
};

struct Refuser final : ferry::BlockFilter {
    bool filter(std::span<const std::byte>, std::vector<std::byte>&, std::string& why) override {
        why = "no thanks";
        return false;
    }
};

}  // namespace

TEST_CASE("a filter sees each block and its longer output arrives whole, in order, with backpressure") {
    Rig r;
    SplicePump p(RelayMode::Splice);  // a filter makes it copy whatever the mode
    Doubler d;
    p.set_filter(&d);
    CHECK(p.copying());
    int small = 4096;
    ::setsockopt(r.dst.near.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    std::string data;
    for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>('a' + i % 26));
    std::string want;
    for (char c : data) want += std::string(2, c);
    size_t sent = 0;
    std::string got;
    size_t max_pending = 0;
    while (got.size() < want.size()) {
        if (sent < data.size()) {
            ssize_t n = ::send(r.src.far.get(), data.data() + sent, data.size() - sent, MSG_DONTWAIT);
            if (n > 0) sent += static_cast<size_t>(n);
        }
        r.run(p);
        max_pending = std::max(max_pending, p.pending());
        got += drain(r.dst.far.get());
        r.out.writable = true;
    }
    CHECK(got == want);
    CHECK(r.pool.in_use() == 0);  // never spliced
    // One filtered block at most waits in the pump: a read is 16 KiB at most, doubled.
    CHECK(max_pending <= 2 * SplicePump::kCopyChunk);
    CHECK(d.blocks > 1);
    ::shutdown(r.src.far.get(), SHUT_WR);
    CHECK(r.run(p) == SplicePump::Outcome::Done);
    CHECK(at_eof(r.dst.far.get()));
}

TEST_CASE("a filter that refuses a block fails the pump with its reason") {
    Rig r;
    SplicePump p(RelayMode::Adaptive);
    Refuser f;
    p.set_filter(&f);
    REQUIRE(::send(r.src.far.get(), "x", 1, 0) == 1);
    CHECK(r.run(p) == SplicePump::Outcome::Error);
    CHECK(p.error() == EPROTO);
    CHECK(p.filter_error() == "no thanks");
    CHECK(drain(r.dst.far.get()).empty());
}

namespace {

// Holds back the last byte of each block and gives it up at EOF.
struct Holder final : ferry::BlockFilter {
    std::string held;
    bool filter(std::span<const std::byte> in, std::vector<std::byte>& out, std::string&) override {
        std::string s = held + std::string(reinterpret_cast<const char*>(in.data()), in.size());
        held = s.substr(s.size() - 1);
        for (char c : s.substr(0, s.size() - 1)) out.push_back(std::byte(c));
        return true;
    }
    bool finish(std::vector<std::byte>& out, std::string&) override {
        for (char c : held) out.push_back(std::byte(c));
        held.clear();
        return true;
    }
};

}  // namespace

TEST_CASE("a filter's held-back bytes go out at EOF, before the half-close") {
    Rig r;
    SplicePump p(RelayMode::Copy);
    Holder h;
    p.set_filter(&h);
    REQUIRE(::send(r.src.far.get(), "hello", 5, 0) == 5);
    CHECK(r.run(p) == SplicePump::Outcome::Blocked);
    CHECK(drain(r.dst.far.get()) == "hell");
    CHECK_FALSE(p.eof_seen());
    ::shutdown(r.src.far.get(), SHUT_WR);
    CHECK(r.run(p) == SplicePump::Outcome::Done);
    CHECK(p.eof_seen());
    CHECK(drain(r.dst.far.get()) == "o");
    CHECK(at_eof(r.dst.far.get()));
}
