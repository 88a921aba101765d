// The ranked upstream proxies as the loops see them: a Backend is one server's configuration and its
// live counters; a BackendTable is one published ranking of them. The prober thread builds a new table after
// every probe round, tick and failure report, and publishes it through an rcu::Cell; the loops read the
// current table without locking and copy its shared_ptr when a connection needs it across loop iterations.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/fd.h"
#include "core/rcu.h"
#include "backends/server_list.h"

namespace ferry::backends {

// Something the loops can nudge without locking: the prober's eventfd.
class Waker {
public:
    Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
    int fd() const { return fd_.get(); }
    // Coalesced: at most one write until the prober has drained it.
    void wake() {
        if (pending_.exchange(true, std::memory_order_acq_rel)) return;
        uint64_t one = 1;
        [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
    }
    void drained() {
        pending_.store(false, std::memory_order_release);
        uint64_t value;
        while (::read(fd_.get(), &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
        }
    }

private:
    Fd fd_;
    std::atomic<bool> pending_{false};
};

// A server's live counters. Written by the loops (relaxed atomics: statistics), read by the prober and the
// status page. Shared by every Backend object of the same server across reloads, so connections that started
// before a reload still count where the status page looks.
struct BackendStats {
    std::atomic<uint64_t> conn_alive{0};
    std::atomic<uint64_t> conn_total{0};  // relayed connections
    std::atomic<uint64_t> conn_error{0};  // failed attempts + relayed connections that ended in an error
    std::atomic<uint64_t> tx_bytes{0};    // client -> server, counted as the relay moves them
    std::atomic<uint64_t> rx_bytes{0};
    // Close outcomes and failed attempts the prober has not taken into the score yet.
    std::atomic<uint64_t> unscored_closes{0};
    std::atomic<uint64_t> unscored_error_closes{0};
    std::atomic<uint64_t> unscored_failures{0};
    std::atomic<uint64_t> unscored_relays{0};  // relayed connections started (bring a down server back)
};

// One server: its configuration (immutable: a reload that changes it makes a new Backend) and its counters.
class Backend {
public:
    Backend(ServerConfig config, std::shared_ptr<BackendStats> stats, Waker* prober)
        : config_(std::move(config)), stats_(std::move(stats)), prober_(prober) {}
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    const ServerConfig& config() const { return config_; }
    BackendStats& stats() const { return *stats_; }
    const std::shared_ptr<BackendStats>& shared_stats() const { return stats_; }

    // A real connection could not be set up through this server: counted at once, and the prober re-ranks.
    void record_failure() const {
        stats_->conn_error.fetch_add(1, std::memory_order_relaxed);
        stats_->unscored_failures.fetch_add(1, std::memory_order_relaxed);
        if (prober_) prober_->wake();
    }
    void record_relay_start() const {
        stats_->conn_alive.fetch_add(1, std::memory_order_relaxed);
        stats_->conn_total.fetch_add(1, std::memory_order_relaxed);
        stats_->unscored_relays.fetch_add(1, std::memory_order_relaxed);
    }
    void record_bytes(uint64_t up, uint64_t down) const {
        if (up) stats_->tx_bytes.fetch_add(up, std::memory_order_relaxed);
        if (down) stats_->rx_bytes.fetch_add(down, std::memory_order_relaxed);
    }
    void record_close(bool error) const {
        stats_->conn_alive.fetch_sub(1, std::memory_order_relaxed);
        stats_->unscored_closes.fetch_add(1, std::memory_order_relaxed);
        if (error) {
            stats_->conn_error.fetch_add(1, std::memory_order_relaxed);
            stats_->unscored_error_closes.fetch_add(1, std::memory_order_relaxed);
            if (prober_) prober_->wake();
        }
    }

private:
    ServerConfig config_;
    std::shared_ptr<BackendStats> stats_;
    Waker* prober_;
};

// One server's place in a published ranking, with what the prober knew of it then.
struct RankedBackend {
    std::shared_ptr<Backend> backend;
    bool up = true;
    std::optional<int64_t> score;      // with the error penalty, as ranked; none when down or not probed yet
    std::optional<int64_t> delay_ms;   // last probe
    unsigned errors_last16 = 0, errors_last64 = 0;
    double tx_bps = 0, rx_bps = 0;     // over the prober's last few seconds
    std::vector<std::optional<int64_t>> delay_history;  // oldest first, nullopt = failed probe
};

struct BackendTable {
    std::vector<RankedBackend> ranked;  // best first; down servers last
    uint64_t version = 0;
    int64_t built_unix_ms = 0;
};

// What the rcu::Cell holds: a shared_ptr, so a connection can keep the table it started with.
struct PublishedTable {
    std::shared_ptr<const BackendTable> table;
};

using TableCell = rcu::Cell<PublishedTable>;

}  // namespace ferry::backends
