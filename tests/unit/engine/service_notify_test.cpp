// What Service::run tells systemd, driven with a fake clock and loops run by hand: READY=1 only after every loop
// ran its first ping, WATCHDOG=1 only at ticks where every loop answered the previous one, STATUS= on change.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/fd.h"
#include "engine/service_notify.h"

namespace {

// One iteration of `loop` (the posted pings run in it).
void turn(ferry::EventLoop& loop) {
    int calls = 0;
    loop.run_until([&] { return calls++ > 0; }, 100);
}

struct Receiver {
    ferry::Fd fd{::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    ferry::sd::NotifyAddress address;
    Receiver() {
        std::string error;
        auto a = ferry::sd::parse_notify_socket("@ferry-unit-service-notify-" + std::to_string(::getpid()), &error);
        REQUIRE(a);
        address = *a;
        REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address.address), address.length) == 0);
    }
    std::vector<std::string> take() {
        std::vector<std::string> out;
        char buf[512];
        for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0;) out.emplace_back(buf, static_cast<size_t>(n));
        return out;
    }
};

using Messages = std::vector<std::string>;

}  // namespace

TEST_CASE("loop watch: a loop is stuck until it runs its ping, and is not pinged twice meanwhile",
          "[service_notify]") {
    ferry::EventLoop a, b;
    ferry::LoopWatch watch;
    watch.add("loop-a", a);
    watch.add("loop-b", b);
    CHECK(watch.stuck() == nullptr);
    watch.ping();
    REQUIRE(watch.stuck());
    CHECK(*watch.stuck() == "loop-a");
    turn(a);
    REQUIRE(watch.stuck());
    CHECK(*watch.stuck() == "loop-b");
    watch.ping();  // a is pinged again, b still owes its first answer
    turn(b);
    REQUIRE(watch.stuck());
    CHECK(*watch.stuck() == "loop-a");
    turn(a);
    CHECK(watch.stuck() == nullptr);
}

TEST_CASE("service status line", "[service_notify]") {
    CHECK(ferry::service_status(0, {}) == "0 connections");
    CHECK(ferry::service_status(1, {"127.0.0.1:80"}) == "1 connection, listening on 127.0.0.1:80");
    CHECK(ferry::service_status(7, {"a:1", "b:2", "c:3", "d:4", "e:5", "f:6"}) ==
          "7 connections, listening on a:1, b:2, c:3, d:4 and 2 more");
    CHECK(ferry::service_status(2, {"a:1"}, "ferry-loop-1") ==
          "event loop ferry-loop-1 not responding; 2 connections, listening on a:1");
}

TEST_CASE("notify: READY after the loops run, the watchdog only while every loop answers", "[service_notify]") {
    Receiver rx;
    ferry::EventLoop a, b;
    ferry::ServiceNotify notify(ferry::sd::Notifier(rx.address, 1'000'000));  // WATCHDOG_USEC=1 s: ticks of 0.5 s
    REQUIRE(notify.enabled());
    notify.watch("loop-a", a);
    notify.watch("loop-b", b);
    auto status = [](const std::string& stuck) { return stuck.empty() ? std::string("ok") : stuck + " stuck"; };

    notify.reloading(500);  // not ready yet: nothing to say
    notify.started(1000);
    CHECK(notify.wait_ms(1000) == 1);
    notify.on_time(2000, status);
    CHECK(rx.take().empty());  // the loops have not run yet

    turn(a);
    turn(b);
    notify.on_time(3000, status);
    CHECK(rx.take() == Messages{"READY=1\nSTATUS=ok"});
    CHECK(notify.wait_ms(3000) == 500);
    notify.on_time(400'000, status);  // before the first tick: nothing
    CHECK(rx.take().empty());

    // Neither loop ran since READY's ping: no watchdog, and the status says who is stuck.
    notify.on_time(503'000, status);
    CHECK(rx.take() == Messages{"STATUS=loop-a stuck"});
    turn(a);
    notify.on_time(1'003'000, status);
    CHECK(rx.take() == Messages{"STATUS=loop-b stuck"});
    turn(b);  // b answers late, and a must answer the ping of the last tick too
    notify.on_time(1'253'000, status);  // between ticks: nothing
    CHECK(rx.take().empty());
    turn(a);
    notify.on_time(1'503'000, status);
    CHECK(rx.take() == Messages{"WATCHDOG=1", "STATUS=ok"});
    turn(a);
    turn(b);
    notify.on_time(2'003'000, status);
    CHECK(rx.take() == Messages{"WATCHDOG=1"});  // the status did not change

    // A late main thread does not send a burst of ticks to catch up.
    turn(a);
    turn(b);
    notify.on_time(5'000'000, status);
    CHECK(rx.take() == Messages{"WATCHDOG=1"});
    CHECK(notify.wait_ms(5'000'000) == 500);

    notify.reloading(5'100'000);
    notify.reloaded("reloaded");
    notify.stopping("stopping");
    CHECK(rx.take() ==
          Messages{"RELOADING=1\nMONOTONIC_USEC=5100000", "READY=1\nSTATUS=reloaded", "STOPPING=1\nSTATUS=stopping"});
}

TEST_CASE("notify without a watchdog: STATUS refreshed on change, no pings after READY", "[service_notify]") {
    Receiver rx;
    ferry::EventLoop a;
    ferry::ServiceNotify notify(ferry::sd::Notifier(rx.address, 0));
    notify.watch("loop-a", a);
    std::string text = "1 connection";
    auto status = [&](const std::string&) { return text; };
    notify.started(0);
    turn(a);
    notify.on_time(10, status);
    CHECK(rx.take() == Messages{"READY=1\nSTATUS=1 connection"});
    CHECK(notify.wait_ms(10) == static_cast<int>((ferry::kStatusRefreshUs - 10 + 999) / 1000));
    text = "2 connections";
    notify.on_time(1000, status);  // not due yet
    CHECK(rx.take().empty());
    notify.on_time(ferry::kStatusRefreshUs, status);
    CHECK(rx.take() == Messages{"STATUS=2 connections"});
    notify.on_time(2 * ferry::kStatusRefreshUs, status);  // unchanged: nothing
    CHECK(rx.take().empty());
}

TEST_CASE("notify is silent and waits for ever without NOTIFY_SOCKET", "[service_notify]") {
    ferry::EventLoop a;
    ferry::ServiceNotify notify{ferry::sd::Notifier()};
    notify.watch("loop-a", a);
    notify.started(0);
    CHECK_FALSE(notify.enabled());
    CHECK(notify.wait_ms(0) == -1);
}
