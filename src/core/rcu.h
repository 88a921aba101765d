// Read-copy-update for data the event loops read on every connection and another thread replaces now and then
// (the ranked backend table): quiescent-state-based reclamation, as in the Linux kernel's RCU and liburcu's
// QSBR flavour.
//
// Readers are event-loop threads. A loop is "online" while it handles a batch of events and "offline" while it
// waits in epoll_wait; a pointer read from a Cell is valid until the reader next goes offline, so it must not
// be kept across loop iterations (copy a shared_ptr out of the object if it must live longer). Readers never
// lock and never wait: reading is one atomic load. The writer publishes a new version with one atomic
// exchange and frees the old one only once every reader has been offline, or online in a later epoch, since.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace ferry::rcu {

class Domain;

// One reader thread's announcement: the epoch it last came online in, or kOffline.
class Reader {
public:
    static constexpr uint64_t kOffline = UINT64_MAX;
    explicit Reader(Domain& domain);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    void online();   // before handling a batch: pointers read from now on are protected
    void offline();  // before blocking: this thread holds no pointer any more

private:
    friend class Domain;
    Domain& domain_;
    alignas(64) std::atomic<uint64_t> seen_{kOffline};
};

class Domain {
public:
    // The process-wide domain the loops register with.
    static Domain& global();

    Domain() = default;
    Domain(const Domain&) = delete;
    Domain& operator=(const Domain&) = delete;
    ~Domain();

    // Writer side (any thread; writers serialise among themselves, readers never see the mutex). Queues `free`
    // to run once every reader has passed a quiescent state after this call, then frees what is due.
    void retire(std::function<void()> free);
    // Frees what is due; returns how many retired objects still wait.
    size_t reclaim();

private:
    friend class Reader;
    friend struct DomainTest;
    void add(Reader* r);
    void remove(Reader* r);
    bool grace_period_over(uint64_t epoch);

    std::atomic<uint64_t> epoch_{1};
    std::mutex mutex_;  // readers_ and retired_, writer side only
    std::vector<Reader*> readers_;
    std::vector<std::pair<uint64_t, std::function<void()>>> retired_;
};

inline void Reader::online() { seen_.store(domain_.epoch_.load(std::memory_order_seq_cst), std::memory_order_seq_cst); }
inline void Reader::offline() { seen_.store(kOffline, std::memory_order_seq_cst); }

// A pointer to the current version of a T, replaced as a whole.
template <typename T>
class Cell {
public:
    explicit Cell(Domain& domain = Domain::global()) : domain_(domain) {}
    Cell(const Cell&) = delete;
    Cell& operator=(const Cell&) = delete;
    // Only once no reader can run any more (after the loops stopped).
    ~Cell() { delete ptr_.load(std::memory_order_relaxed); }

    // Reader side: the current version (or null before the first publish), valid until the reader goes offline.
    const T* read() const { return ptr_.load(std::memory_order_seq_cst); }

    // Writer side: makes `next` the current version; the old one is deleted after a grace period.
    void publish(std::unique_ptr<T> next) {
        T* old = ptr_.exchange(next.release(), std::memory_order_seq_cst);
        if (old) domain_.retire([old] { delete old; });
        else domain_.reclaim();
    }

private:
    Domain& domain_;
    std::atomic<T*> ptr_{nullptr};
};

}  // namespace ferry::rcu
