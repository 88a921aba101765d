// One event loop per thread (Redis ae.c, muduo EventLoop): an edge-triggered epoll set, an eventfd for
// cross-thread wake-ups, fixed-duration deadline queues and a list of objects destroyed at the end of the
// batch. The loop owns neither the handlers nor their fds: epoll_data.ptr points at an IoHandler.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/fd.h"
#include "core/rcu.h"

namespace ferry {

class IoHandler {
public:
    virtual void on_io(uint32_t events) = 0;

protected:
    ~IoHandler() = default;
};

class TimerHandler {
public:
    virtual void on_timer() = 0;

protected:
    ~TimerHandler() = default;
};

class DeadlineQueue;

// An intrusive node: a thing waiting for one deadline at a time. Unlinks itself when destroyed.
class Deadline {
public:
    explicit Deadline(TimerHandler* handler) : handler_(handler) {}
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;
    ~Deadline() { cancel(); }

    bool armed() const { return queue_ != nullptr; }
    void cancel();
    uint64_t expires_ms() const { return expires_ms_; }

private:
    friend class DeadlineQueue;
    TimerHandler* handler_;
    DeadlineQueue* queue_ = nullptr;
    Deadline* prev_ = nullptr;
    Deadline* next_ = nullptr;
    uint64_t expires_ms_ = 0;
};

// Every deadline in one queue has the same duration, so appending keeps the queue sorted by expiry and arming,
// re-arming and cancelling cost O(1) (no heap, no scan). The loop asks each queue only for its head.
class DeadlineQueue {
public:
    explicit DeadlineQueue(uint64_t duration_ms) : duration_ms_(duration_ms) {}
    DeadlineQueue(const DeadlineQueue&) = delete;
    DeadlineQueue& operator=(const DeadlineQueue&) = delete;
    ~DeadlineQueue();

    uint64_t duration_ms() const { return duration_ms_; }
    // (Re)arms `d` to expire `duration` after `now_ms`, moving it from whatever queue it was in.
    void arm(Deadline& d, uint64_t now_ms);
    bool empty() const { return head_ == nullptr; }
    uint64_t next_expiry() const { return head_ ? head_->expires_ms_ : UINT64_MAX; }
    // Fires (and unlinks) every deadline due at `now_ms`. A handler may re-arm or destroy its own node.
    void expire(uint64_t now_ms);

private:
    friend class Deadline;
    void unlink(Deadline& d);

    uint64_t duration_ms_;
    Deadline* head_ = nullptr;
    Deadline* tail_ = nullptr;
};

// Something the loop destroys after the current and the next batch of events (Redis CLOSE_ASAP): handlers of
// this batch and work deferred with later() may still hold pointers to it.
class Deferred {
public:
    virtual ~Deferred() = default;
};

class EventLoop {
public:
    EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;
    ~EventLoop();

    bool ok() const { return epoll_.valid() && wake_.valid(); }

    // Registers fd once, edge-triggered, for `events` (EPOLLET is added). Returns false with errno set.
    bool add(int fd, IoHandler* handler, uint32_t events);
    bool modify(int fd, IoHandler* handler, uint32_t events);
    void remove(int fd);

    // Runs until stop() is called (from any thread).
    void run();
    // Runs the loop from the calling thread the way run() does (same iterations, same order inside each)
    // until `done()` returns true, stop() was called, or `timeout_ms` have passed on the loop's clock,
    // whichever comes first; it also returns if epoll_wait fails. `done` is called before the first
    // iteration and after each one, never inside a batch; no wait in epoll_wait outlasts the timeout.
    // Returns done()'s last answer. The thread is an offline RCU reader again when it returns (it keeps no
    // pointer from the batches). For tests and tools that drive a loop step by step from their own thread.
    bool run_until(const std::function<bool()>& done, uint64_t timeout_ms);
    void stop();
    // Queues `fn` to run on this loop's thread (thread-safe, wakes the loop).
    void post(std::function<void()> fn);
    // Runs `fn` on this thread after the current batch of events (same thread only). Work that `fn` defers in
    // turn runs after the next epoll poll.
    void later(std::function<void()> fn) { later_.push_back(std::move(fn)); }

    // Milliseconds on CLOCK_MONOTONIC, refreshed once per wake-up.
    uint64_t now_ms() const { return now_ms_; }
    void update_clock();

    // A queue for deadlines of this duration, owned by the loop.
    DeadlineQueue& deadlines(uint64_t duration_ms);

    void destroy_later(std::unique_ptr<Deferred> object) { graveyard_.push_back(std::move(object)); }

private:
    class Waker;
    void drain_posted();
    int next_timeout_ms() const;
    // One iteration: waits for events (no longer than the earliest deadline, and than `max_wait_ms` unless it
    // is -1), then handles them, expires due deadlines, runs later() work and empties the graveyard. False
    // when epoll_wait failed (not EINTR).
    bool run_once(int max_wait_ms);

    Fd epoll_;
    Fd wake_;
    std::unique_ptr<Waker> waker_;
    bool stopping_ = false;
    uint64_t now_ms_ = 0;
    std::vector<std::unique_ptr<DeadlineQueue>> queues_;
    std::vector<std::unique_ptr<Deferred>> graveyard_;  // closed in this iteration
    std::vector<std::unique_ptr<Deferred>> dying_;      // closed in the previous one: destroyed after this one
    std::vector<std::function<void()>> later_;
    std::vector<std::function<void()>> running_later_;
    std::mutex posted_mutex_;
    std::vector<std::function<void()>> posted_;
    // The loop is an RCU reader: offline while it waits in epoll_wait, so pointers read from an rcu::Cell are
    // valid for the rest of the batch (handlers, timers, later() work) and never across iterations.
    rcu::Reader rcu_reader_{rcu::Domain::global()};
};

}  // namespace ferry
