// What a running service tells systemd (support/sd_notify.h), driven from the main thread of Service::run:
// READY=1 once every loop has taken its listeners, RELOADING=1 + MONOTONIC_USEC and READY=1 around a reload,
// STOPPING=1 at shutdown, STATUS= with the live counts, and WATCHDOG=1 every half $WATCHDOG_USEC, but only
// while every watched event loop answers: each one is pinged through its queue and must have run the ping
// before the next watchdog tick, so a loop that is stuck (spinning, blocked, stopped) withholds the watchdog
// and systemd restarts the service.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/sd_notify.h"

namespace ferry {

class EventLoop;

// Progress of a set of event loops, seen from another thread: ping() queues a no-op on each loop (post), and a
// loop has answered once it ran it. A loop that has not answered its last ping is not pinged again.
class LoopWatch {
public:
    // `loop` must stay valid while pings may be queued on it; `name` is what the log and STATUS call it.
    void add(std::string name, EventLoop& loop);
    void ping();
    // The first loop that has not run its last ping, or null when every loop has.
    const std::string* stuck() const;
    bool empty() const { return entries_.empty(); }

private:
    struct Entry {
        std::string name;
        EventLoop* loop = nullptr;
        std::shared_ptr<std::atomic<uint64_t>> answered;  // shared with the queued ping
        uint64_t sent = 0;
    };
    std::vector<Entry> entries_;
};

// STATUS= of a service: "N connections, listening on A, B, C" (at most kStatusAddresses addresses, then
// "and N more"); with `stuck` non-empty it starts with "event loop NAME not responding; ".
std::string service_status(uint64_t connections, const std::vector<std::string>& addresses,
                           const std::string& stuck = {});
inline constexpr size_t kStatusAddresses = 4;

// How often STATUS= is refreshed (sent only when it changed) when no watchdog tick comes sooner: often enough
// for `systemctl status` to look alive, rare enough to cost nothing.
inline constexpr uint64_t kStatusRefreshUs = 5'000'000;

class ServiceNotify {
public:
    // Disabled (every call a no-op, wait_ms() -1) without $NOTIFY_SOCKET.
    explicit ServiceNotify(sd::Notifier notifier);
    // From the environment; an unusable $NOTIFY_SOCKET is logged once and leaves it disabled.
    static ServiceNotify from_environment();

    bool enabled() const { return notifier_.enabled(); }
    void watch(std::string name, EventLoop& loop) { watch_.add(std::move(name), loop); }

    // The loops run: pings them; READY=1 (with `status`) goes out from on_time() once every loop answered (so
    // each has run the work queued before it, its listeners).
    void started(uint64_t now_us);
    // How long the main thread may wait for a signal before on_time() has something to do: -1 for ever.
    int wait_ms(uint64_t now_us) const;
    // READY=1 when due, the watchdog tick (WATCHDOG=1 only if no loop is stuck; a stuck loop is logged once
    // per episode) and STATUS= when it changed; `status(stuck)` makes the line.
    void on_time(uint64_t now_us, const std::function<std::string(const std::string& stuck)>& status);
    // Around a reload (SIGHUP): RELOADING=1 with MONOTONIC_USEC=now before, READY=1 and the status after.
    void reloading(uint64_t now_us);
    void reloaded(const std::string& status);
    void stopping(const std::string& status);

private:
    void send(const std::string& message);

    sd::Notifier notifier_;
    LoopWatch watch_;
    uint64_t watchdog_period_us_ = 0;  // half $WATCHDOG_USEC; 0: no watchdog
    uint64_t next_watchdog_us_ = 0;
    uint64_t next_status_us_ = 0;
    bool started_ = false;
    bool ready_ = false;
    bool send_failed_ = false;   // the last send failed (logged once until one succeeds)
    std::string stuck_;          // the loop that withheld the last watchdog tick
    uint64_t stuck_since_us_ = 0;
    std::string last_status_;
};

}  // namespace ferry
