#include "core/rcu.h"

#include <algorithm>

namespace ferry::rcu {

Reader::Reader(Domain& domain) : domain_(domain) { domain_.add(this); }
Reader::~Reader() { domain_.remove(this); }

Domain& Domain::global() {
    static Domain domain;
    return domain;
}

Domain::~Domain() {
    // No reader is left: everything retired is free to go.
    for (auto& r : retired_) r.second();
}

void Domain::add(Reader* r) {
    std::lock_guard lock(mutex_);
    readers_.push_back(r);
}

void Domain::remove(Reader* r) {
    std::lock_guard lock(mutex_);
    readers_.erase(std::remove(readers_.begin(), readers_.end(), r), readers_.end());
}

// With mutex_ held. An object retired in `epoch` may still be in use only by a reader that came online before
// the epoch began and has not gone offline since.
bool Domain::grace_period_over(uint64_t epoch) {
    for (Reader* r : readers_) {
        uint64_t seen = r->seen_.load(std::memory_order_seq_cst);
        if (seen != Reader::kOffline && seen < epoch) return false;
    }
    return true;
}

void Domain::retire(std::function<void()> free) {
    std::unique_lock lock(mutex_);
    // The exchange that unpublished the object happened before this increment: a reader that loads the new
    // epoch (or goes online after now) can only see the new version.
    uint64_t epoch = epoch_.fetch_add(1, std::memory_order_seq_cst) + 1;
    retired_.emplace_back(epoch, std::move(free));
    lock.unlock();
    reclaim();
}

size_t Domain::reclaim() {
    std::vector<std::function<void()>> due;
    size_t left;
    {
        std::lock_guard lock(mutex_);
        auto keep = std::stable_partition(retired_.begin(), retired_.end(),
                                          [this](const auto& r) { return !grace_period_over(r.first); });
        for (auto it = keep; it != retired_.end(); ++it) due.push_back(std::move(it->second));
        retired_.erase(keep, retired_.end());
        left = retired_.size();
    }
    for (auto& f : due) f();
    return left;
}

}  // namespace ferry::rcu
