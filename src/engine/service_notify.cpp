#include "engine/service_notify.h"

#include "core/event_loop.h"
#include "core/socket_util.h"
#include "support/log.h"

namespace ferry {

// ---------------------------------------------------------------------------------------------- LoopWatch

void LoopWatch::add(std::string name, EventLoop& loop) {
    entries_.push_back({std::move(name), &loop, std::make_shared<std::atomic<uint64_t>>(0), 0});
}

void LoopWatch::ping() {
    for (auto& e : entries_) {
        if (e.answered->load(std::memory_order_acquire) != e.sent) continue;  // still stuck: one ping is enough
        const uint64_t sequence = ++e.sent;
        e.loop->post([answered = e.answered, sequence] { answered->store(sequence, std::memory_order_release); });
    }
}

const std::string* LoopWatch::stuck() const {
    for (const auto& e : entries_)
        if (e.answered->load(std::memory_order_acquire) != e.sent) return &e.name;
    return nullptr;
}

// ---------------------------------------------------------------------------------------------- status

std::string service_status(uint64_t connections, const std::vector<std::string>& addresses,
                           const std::string& stuck) {
    std::string out;
    if (!stuck.empty()) out = "event loop " + stuck + " not responding; ";
    out += std::to_string(connections) + (connections == 1 ? " connection" : " connections");
    if (addresses.empty()) return out;
    out += ", listening on ";
    for (size_t i = 0; i < addresses.size() && i < kStatusAddresses; ++i) {
        if (i) out += ", ";
        out += addresses[i];
    }
    if (addresses.size() > kStatusAddresses)
        out += " and " + std::to_string(addresses.size() - kStatusAddresses) + " more";
    return out;
}

// ---------------------------------------------------------------------------------------------- ServiceNotify

ServiceNotify::ServiceNotify(sd::Notifier notifier)
    : notifier_(std::move(notifier)), watchdog_period_us_(notifier_.watchdog_usec() / 2) {}

ServiceNotify ServiceNotify::from_environment() {
    std::string error;
    sd::Notifier notifier = sd::Notifier::from_environment(&error);
    if (!error.empty()) {
        FERRY_LOG(Warn, "systemd notifications disabled").str("error", error);
    }
    return ServiceNotify(std::move(notifier));
}

void ServiceNotify::send(const std::string& message) {
    const int err = notifier_.send(message);
    if (err && !send_failed_) {
        FERRY_LOG(Warn, "systemd notification failed").str("error", errno_text(err));
    }
    send_failed_ = err != 0;
}

void ServiceNotify::started(uint64_t now_us) {
    if (!enabled()) return;
    started_ = true;
    watch_.ping();
    next_status_us_ = now_us + kStatusRefreshUs;
}

int ServiceNotify::wait_ms(uint64_t now_us) const {
    if (!enabled()) return -1;
    if (started_ && !ready_) return 1;  // the loops answer their first ping within microseconds
    uint64_t next = next_status_us_;
    if (watchdog_period_us_ && next_watchdog_us_ < next) next = next_watchdog_us_;
    if (next <= now_us) return 0;
    return static_cast<int>((next - now_us + 999) / 1000);
}

void ServiceNotify::on_time(uint64_t now_us, const std::function<std::string(const std::string&)>& status) {
    if (!enabled() || !started_) return;
    if (!ready_) {
        if (watch_.stuck()) return;
        ready_ = true;
        last_status_ = status({});
        send(sd::ready_message(last_status_));
        next_watchdog_us_ = now_us + watchdog_period_us_;
        if (watchdog_period_us_) watch_.ping();
        return;
    }
    bool refresh = now_us >= next_status_us_;
    if (watchdog_period_us_ && now_us >= next_watchdog_us_) {
        next_watchdog_us_ += watchdog_period_us_;
        if (next_watchdog_us_ <= now_us) next_watchdog_us_ = now_us + watchdog_period_us_;  // we were late
        if (const std::string* stuck = watch_.stuck()) {
            if (stuck_ != *stuck) {
                FERRY_LOG(Error, "event loop not responding, withholding the systemd watchdog")
                    .str("loop", *stuck)
                    .num("watchdogUsec", static_cast<int64_t>(notifier_.watchdog_usec()));
                stuck_ = *stuck;
                stuck_since_us_ = now_us;
            }
        } else {
            if (!stuck_.empty()) {
                FERRY_LOG(Info, "event loop responding again")
                    .str("loop", stuck_)
                    .num("stuckMs", static_cast<int64_t>((now_us - stuck_since_us_) / 1000));
                stuck_.clear();
            }
            send(sd::watchdog_message());
        }
        watch_.ping();
        refresh = true;
    }
    if (!refresh) return;
    next_status_us_ = now_us + kStatusRefreshUs;
    std::string line = status(stuck_);
    if (line == last_status_) return;
    last_status_ = std::move(line);
    send(sd::status_assignment(last_status_));
}

void ServiceNotify::reloading(uint64_t now_us) {
    if (ready_) send(sd::reloading_message(now_us));
}

void ServiceNotify::reloaded(const std::string& status) {
    if (!ready_) return;
    last_status_ = status;
    send(sd::ready_message(status));
}

void ServiceNotify::stopping(const std::string& status) {
    if (enabled()) send(sd::stopping_message(status));
}

}  // namespace ferry
