// DeadlineQueue (O(1) fixed-duration timers), the loop's posted work and its deferred destruction.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "core/event_loop.h"

using ferry::Deadline;
using ferry::DeadlineQueue;

namespace {

struct Recorder final : ferry::TimerHandler {
    std::vector<int>* fired;
    int id;
    Recorder(std::vector<int>* f, int i) : fired(f), id(i) {}
    void on_timer() override { fired->push_back(id); }
};

}  // namespace

TEST_CASE("deadlines fire in arming order, only when due") {
    std::vector<int> fired;
    Recorder a(&fired, 1), b(&fired, 2), c(&fired, 3);
    Deadline da(&a), db(&b), dc(&c);
    DeadlineQueue q(100);
    q.arm(da, 1000);
    q.arm(db, 1010);
    q.arm(dc, 1020);
    CHECK(q.next_expiry() == 1100);
    q.expire(1099);
    CHECK(fired.empty());
    q.expire(1110);
    CHECK(fired == std::vector<int>{1, 2});
    CHECK_FALSE(da.armed());
    CHECK(dc.armed());
    CHECK(q.next_expiry() == 1120);
}

TEST_CASE("re-arming moves a deadline to the back with a new expiry") {
    std::vector<int> fired;
    Recorder a(&fired, 1), b(&fired, 2);
    Deadline da(&a), db(&b);
    DeadlineQueue q(100);
    q.arm(da, 0);
    q.arm(db, 10);
    q.arm(da, 50);  // activity on a: now expires at 150
    CHECK(q.next_expiry() == 110);
    q.expire(120);
    CHECK(fired == std::vector<int>{2});
    q.expire(150);
    CHECK(fired == std::vector<int>{2, 1});
    CHECK(q.empty());
}

TEST_CASE("cancel and destruction unlink; moving between queues") {
    std::vector<int> fired;
    Recorder a(&fired, 1), b(&fired, 2);
    DeadlineQueue short_q(10), long_q(1000);
    Deadline da(&a);
    {
        Deadline db(&b);
        short_q.arm(db, 0);
        short_q.arm(da, 0);
    }  // db destroyed while armed
    CHECK(short_q.next_expiry() == 10);
    long_q.arm(da, 0);  // header deadline -> connect deadline
    CHECK(short_q.empty());
    short_q.expire(100);
    CHECK(fired.empty());
    da.cancel();
    CHECK(long_q.empty());
    long_q.expire(5000);
    CHECK(fired.empty());
}

TEST_CASE("a handler may re-arm itself while expiring (with the current time, as the loop's handlers do)") {
    struct Again final : ferry::TimerHandler {
        DeadlineQueue* q = nullptr;
        Deadline* d = nullptr;
        uint64_t now = 0;
        int count = 0;
        void on_timer() override {
            if (++count < 3) q->arm(*d, now);
        }
    } again;
    DeadlineQueue q(100);
    Deadline d(&again);
    again.q = &q;
    again.d = &d;
    q.arm(d, 0);
    again.now = 100;
    q.expire(100);  // fires once, re-armed to 200: not due again in this pass
    CHECK(again.count == 1);
    CHECK(q.next_expiry() == 200);
    again.now = 1000;
    q.expire(1000);
    CHECK(again.count == 2);
    CHECK(q.next_expiry() == 1100);
    again.now = 1100;
    q.expire(1100);
    CHECK(again.count == 3);
    CHECK(q.empty());
}

TEST_CASE("the loop runs posted work from another thread and stops") {
    ferry::EventLoop loop;
    REQUIRE(loop.ok());
    int ran = 0;
    std::thread t([&] {
        loop.post([&] { ++ran; });
        loop.stop();
    });
    loop.run();
    t.join();
    CHECK(ran == 1);
}

TEST_CASE("the loop's deadline queues are shared per duration") {
    ferry::EventLoop loop;
    CHECK(&loop.deadlines(5000) == &loop.deadlines(5000));
    CHECK(&loop.deadlines(5000) != &loop.deadlines(10000));
}

TEST_CASE("run_until returns once its condition holds, with the loop's work done in order") {
    ferry::EventLoop loop;
    REQUIRE(loop.ok());
    std::vector<int> order;
    struct Once final : ferry::TimerHandler {
        std::vector<int>* order;
        explicit Once(std::vector<int>* o) : order(o) {}
        void on_timer() override { order->push_back(2); }
    } timer(&order);
    Deadline d(&timer);
    loop.deadlines(10).arm(d, loop.now_ms());
    std::thread t([&] { loop.post([&] { order.push_back(1); }); });
    t.join();
    loop.later([&] { order.push_back(0); });
    CHECK(loop.run_until([&] { return order.size() == 3; }, 2000));
    // One iteration: the posted work came with the poll's events, the later() work ran after that batch; the
    // timer fired 10 ms later.
    CHECK(order == std::vector<int>{1, 0, 2});
    CHECK(loop.run_until([] { return true; }, 0));
}

TEST_CASE("run_until gives up after its timeout, and stop() ends it early") {
    ferry::EventLoop loop;
    REQUIRE(loop.ok());
    int checks = 0;
    loop.update_clock();
    const uint64_t start = loop.now_ms();
    CHECK_FALSE(loop.run_until([&] { return ++checks < 0; }, 30));
    CHECK(loop.now_ms() - start >= 30);
    CHECK(loop.now_ms() - start < 1000);
    CHECK(checks >= 2);  // before the first iteration and after the last
    loop.stop();
    CHECK_FALSE(loop.run_until([] { return false; }, 5000));
    CHECK(loop.now_ms() - start < 1000);
}
