// listen_unix (core/socket_util.h): what it does with a file already at the path, and the modes it gives.
#include "core/socket_util.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

using ferry::Fd;
using ferry::listen_unix;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char name[] = "/tmp/ferry-socket-util-XXXXXX";
        REQUIRE(::mkdtemp(name));
        path = name;
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st.st_mode;
}

}  // namespace

TEST_CASE("listen_unix: a stale socket file is replaced, a live one and other files are not", "[socket_util]") {
    TempDir dir;
    const std::string path = dir.path + "/s.sock";
    std::string error;
    {
        // A crash's leftover: bound, never listening, closed.
        Fd stale(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a;
        socklen_t len;
        REQUIRE(ferry::unix_address(path, &a, &len));
        REQUIRE(::bind(stale.get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    }
    Fd first = listen_unix(path, SOCK_STREAM, false, 4, &error);
    INFO(error);
    REQUIRE(first);
    CHECK(S_ISSOCK(mode_of(path)));

    Fd second = listen_unix(path, SOCK_STREAM, false, 4, &error);
    CHECK_FALSE(second);
    CHECK(errno == EADDRINUSE);
    CHECK(error == "bind " + path + ": address already in use");
    CHECK(S_ISSOCK(mode_of(path)));  // still the first one's

    const std::string file = dir.path + "/plain";
    std::ofstream(file) << "data";
    CHECK_FALSE(listen_unix(file, SOCK_STREAM, false, 4, &error));
    CHECK(errno == EEXIST);
    CHECK(error == "bind " + file + ": address already in use (a file that is not a socket is there)");
    CHECK(S_ISREG(mode_of(file)));

    CHECK_FALSE(listen_unix(dir.path + "/" + std::string(110, 'x'), SOCK_STREAM, false, 4, &error));
    CHECK(errno == ENAMETOOLONG);
}

TEST_CASE("listen_unix: the umask's mode, or 0600 when private", "[socket_util]") {
    TempDir dir;
    std::string error;
    const mode_t old = ::umask(022);
    Fd open_one = listen_unix(dir.path + "/a.sock", SOCK_STREAM, false, 4, &error);
    Fd private_one = listen_unix(dir.path + "/b.sock", SOCK_SEQPACKET, true, 4, &error);
    const mode_t after = ::umask(old);
    REQUIRE(open_one);
    REQUIRE(private_one);
    CHECK((mode_of(dir.path + "/a.sock") & 0777) == 0755);
    CHECK((mode_of(dir.path + "/b.sock") & 0777) == 0600);
    CHECK(after == 022);  // the umask is given back
}
