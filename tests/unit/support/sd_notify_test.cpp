// systemd notifications: $NOTIFY_SOCKET and $WATCHDOG_* parsing, the messages, and one datagram sent for real.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <string>

#include "core/fd.h"
#include "support/sd_notify.h"

using ferry::sd::parse_notify_socket;
using ferry::sd::parse_watchdog_usec;

TEST_CASE("NOTIFY_SOCKET: a path keeps its NUL, an abstract name starts with one and has none", "[sd_notify]") {
    std::string error;
    auto path = parse_notify_socket("/run/systemd/notify", &error);
    REQUIRE(path);
    CHECK_FALSE(path->abstract);
    CHECK(path->address.sun_family == AF_UNIX);
    CHECK(std::string(path->address.sun_path) == "/run/systemd/notify");
    CHECK(path->length == offsetof(sockaddr_un, sun_path) + 20);

    auto abstract = parse_notify_socket("@ferry/notify", &error);
    REQUIRE(abstract);
    CHECK(abstract->abstract);
    CHECK(abstract->address.sun_path[0] == '\0');
    CHECK(std::string(abstract->address.sun_path + 1, 12) == "ferry/notify");
    CHECK(abstract->length == offsetof(sockaddr_un, sun_path) + 13);
}

TEST_CASE("NOTIFY_SOCKET: what is not a path or an abstract name is refused with a reason", "[sd_notify]") {
    const size_t room = sizeof(sockaddr_un{}.sun_path);
    for (std::string bad : {std::string(), std::string("relative/notify"), std::string("vsock:2:1234"),
                            std::string("@"), std::string("/"), "/" + std::string(room - 1, 'a'),
                            "@" + std::string(room, 'a')}) {
        std::string error;
        CAPTURE(bad);
        CHECK_FALSE(parse_notify_socket(bad, &error));
        CHECK_FALSE(error.empty());
    }
    std::string error;
    CHECK(parse_notify_socket("/" + std::string(room - 2, 'a'), &error));  // the longest path that fits
    CHECK(parse_notify_socket("@" + std::string(room - 1, 'a'), &error));  // the longest abstract name
}

TEST_CASE("WATCHDOG_USEC counts only for the process WATCHDOG_PID names", "[sd_notify]") {
    CHECK(parse_watchdog_usec(nullptr, nullptr, 42) == 0);
    CHECK(parse_watchdog_usec("5000000", nullptr, 42) == 5000000);
    CHECK(parse_watchdog_usec("5000000", "42", 42) == 5000000);
    CHECK(parse_watchdog_usec("5000000", "43", 42) == 0);
    CHECK(parse_watchdog_usec("5000000", "", 42) == 0);
    CHECK(parse_watchdog_usec("5000000", "42x", 42) == 0);
    CHECK(parse_watchdog_usec("0", nullptr, 42) == 0);
    CHECK(parse_watchdog_usec("-1", nullptr, 42) == 0);
    CHECK(parse_watchdog_usec("5s", nullptr, 42) == 0);
    CHECK(parse_watchdog_usec("", nullptr, 42) == 0);
    CHECK(parse_watchdog_usec("99999999999999999999999", nullptr, 42) == 0);
}

TEST_CASE("notification messages", "[sd_notify]") {
    CHECK(ferry::sd::ready_message() == "READY=1");
    CHECK(ferry::sd::ready_message("2 connections") == "READY=1\nSTATUS=2 connections");
    CHECK(ferry::sd::reloading_message(123456789) == "RELOADING=1\nMONOTONIC_USEC=123456789");
    CHECK(ferry::sd::stopping_message() == "STOPPING=1");
    CHECK(ferry::sd::stopping_message("stopping") == "STOPPING=1\nSTATUS=stopping");
    CHECK(ferry::sd::watchdog_message() == "WATCHDOG=1");
    // A status is one line: an embedded newline cannot smuggle in another assignment.
    CHECK(ferry::sd::status_assignment("a\nREADY=1\tb") == "STATUS=a READY=1 b");
}

TEST_CASE("a notifier sends one datagram to an abstract socket; without NOTIFY_SOCKET it sends nothing",
          "[sd_notify]") {
    const std::string name = "@ferry-unit-notify-" + std::to_string(::getpid());
    std::string error;
    auto address = parse_notify_socket(name, &error);
    REQUIRE(address);
    ferry::Fd receiver(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    REQUIRE(receiver);
    REQUIRE(::bind(receiver.get(), reinterpret_cast<const sockaddr*>(&address->address), address->length) == 0);

    ferry::sd::Notifier notifier(*address, 1000000);
    REQUIRE(notifier.enabled());
    CHECK(notifier.watchdog_usec() == 1000000);
    CHECK(notifier.send("READY=1\nSTATUS=up") == 0);
    char buf[256];
    ssize_t n = ::recv(receiver.get(), buf, sizeof buf, 0);
    REQUIRE(n > 0);
    CHECK(std::string(buf, static_cast<size_t>(n)) == "READY=1\nSTATUS=up");

    receiver.reset();  // nobody listens any more: the error comes back, nothing throws
    CHECK(notifier.send("WATCHDOG=1") == ECONNREFUSED);

    ferry::sd::Notifier none;
    CHECK_FALSE(none.enabled());
    CHECK(none.watchdog_usec() == 0);
    CHECK(none.send("READY=1") == 0);
}
