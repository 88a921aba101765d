#include "core/event_loop.h"

#include <sys/eventfd.h>
#include <time.h>

#include <algorithm>
#include <cerrno>

namespace ferry {

void Deadline::cancel() {
    if (queue_) queue_->unlink(*this);
}

DeadlineQueue::~DeadlineQueue() {
    while (head_) unlink(*head_);
}

void DeadlineQueue::unlink(Deadline& d) {
    if (d.prev_) d.prev_->next_ = d.next_; else head_ = d.next_;
    if (d.next_) d.next_->prev_ = d.prev_; else tail_ = d.prev_;
    d.prev_ = d.next_ = nullptr;
    d.queue_ = nullptr;
}

void DeadlineQueue::arm(Deadline& d, uint64_t now_ms) {
    if (d.queue_) d.queue_->unlink(d);
    d.expires_ms_ = now_ms + duration_ms_;
    d.queue_ = this;
    d.prev_ = tail_;
    d.next_ = nullptr;
    if (tail_) tail_->next_ = &d; else head_ = &d;
    tail_ = &d;
}

void DeadlineQueue::expire(uint64_t now_ms) {
    while (head_ && head_->expires_ms_ <= now_ms) {
        Deadline* d = head_;
        unlink(*d);
        d->handler_->on_timer();
    }
}

class EventLoop::Waker final : public IoHandler {
public:
    explicit Waker(EventLoop& loop) : loop_(loop) {}
    void on_io(uint32_t) override {
        uint64_t value;
        while (::read(loop_.wake_.get(), &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
        }
        loop_.drain_posted();
    }

private:
    EventLoop& loop_;
};

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      waker_(std::make_unique<Waker>(*this)) {
    update_clock();
    if (ok()) add(wake_.get(), waker_.get(), EPOLLIN);
}

EventLoop::~EventLoop() = default;

bool EventLoop::add(int fd, IoHandler* handler, uint32_t events) {
    epoll_event ev{};
    ev.events = events | EPOLLET;
    ev.data.ptr = handler;
    return ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != -1;
}

bool EventLoop::modify(int fd, IoHandler* handler, uint32_t events) {
    epoll_event ev{};
    ev.events = events | EPOLLET;
    ev.data.ptr = handler;
    return ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != -1;
}

void EventLoop::remove(int fd) { ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::update_clock() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_ms_ = static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

DeadlineQueue& EventLoop::deadlines(uint64_t duration_ms) {
    for (auto& q : queues_)
        if (q->duration_ms() == duration_ms) return *q;
    queues_.push_back(std::make_unique<DeadlineQueue>(duration_ms));
    return *queues_.back();
}

int EventLoop::next_timeout_ms() const {
    if (!later_.empty()) return 0;
    uint64_t next = UINT64_MAX;
    for (auto& q : queues_) next = std::min(next, q->next_expiry());
    if (next == UINT64_MAX) return -1;
    if (next <= now_ms_) return 0;
    uint64_t wait = next - now_ms_;
    return wait > 60000 ? 60000 : static_cast<int>(wait);
}

void EventLoop::stop() {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back([this] { stopping_ = true; });
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(fn));
    }
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
}

void EventLoop::drain_posted() {
    std::vector<std::function<void()>> batch;
    {
        std::lock_guard lock(posted_mutex_);
        batch.swap(posted_);
    }
    for (auto& fn : batch) fn();
}

bool EventLoop::run_once(int max_wait_ms) {
    constexpr int kMaxEvents = 256;
    epoll_event events[kMaxEvents];
    int timeout = next_timeout_ms();
    if (max_wait_ms >= 0 && (timeout == -1 || timeout > max_wait_ms)) timeout = max_wait_ms;
    rcu_reader_.offline();
    int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, timeout);
    rcu_reader_.online();
    update_clock();
    if (n == -1 && errno != EINTR) return false;
    for (int i = 0; i < n; ++i) static_cast<IoHandler*>(events[i].data.ptr)->on_io(events[i].events);
    // By index: a timer handler may create a queue for a new duration.
    for (size_t i = 0; i < queues_.size(); ++i) queues_[i]->expire(now_ms_);
    // Work deferred to "after the batch" runs once per iteration. What it defers again waits for the next
    // iteration, after epoll has been polled, so one busy stream cannot starve the other sockets, the
    // timers or stop().
    running_later_.swap(later_);
    for (auto& fn : running_later_) fn();
    running_later_.clear();
    // Objects closed in this iteration may still be named by work deferred to the next one, so they are
    // destroyed one iteration later.
    dying_.clear();
    dying_.swap(graveyard_);
    return true;
}

void EventLoop::run() {
    while (!stopping_)
        if (!run_once(-1)) break;
}

bool EventLoop::run_until(const std::function<bool()>& done, uint64_t timeout_ms) {
    update_clock();
    const uint64_t until = now_ms_ + timeout_ms;
    bool finished = done();
    while (!finished && !stopping_ && now_ms_ < until) {
        const bool polled = run_once(static_cast<int>(std::min<uint64_t>(until - now_ms_, 60000)));
        finished = done();
        if (!polled) break;
    }
    rcu_reader_.offline();
    return finished;
}

}  // namespace ferry
