// Socket-pair helpers shared by the unit tests of the handshake state machines (inbounds, outbounds): a
// non-blocking AF_UNIX stream pair stands in for a TCP connection.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>

namespace ferry_test {

struct Pair {
    int ours = -1;    // what ferry holds
    int theirs = -1;  // the peer's end
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
        ours = fds[0];
        theirs = fds[1];
    }
    ~Pair() {
        ::close(ours);
        ::close(theirs);
    }
    Pair(const Pair&) = delete;
    Pair& operator=(const Pair&) = delete;
};

// A string of the given byte values.
inline std::string bytes(std::initializer_list<int> b) {
    std::string s;
    for (int c : b) s.push_back(static_cast<char>(c));
    return s;
}

// Sends all of s at once (it fits the socket buffer).
inline void put(int fd, const std::string& s) {
    REQUIRE(::send(fd, s.data(), s.size(), 0) == static_cast<ssize_t>(s.size()));
}

// Everything readable now, without waiting.
inline std::string drain(int fd) {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0;) out.append(buf, static_cast<size_t>(n));
    return out;
}

}  // namespace ferry_test
