// Overload protection for a whole service (every loop of it): who may open one more connection, and what gives
// way when the process nears its fd limit. The ideas are HAProxy's (maxconn, per-source limits from a stick
// table) and nginx's (limit_conn, connections refused at once rather than queued behind an attacker):
//  - a global cap on live connections, derived from RLIMIT_NOFILE so a reserve of fds stays for upstream
//    sockets, pipes and new good clients; at the cap a loop first closes its oldest connection still in its
//    handshake (a stalled header is what an attacker holds cheaply), and only when it has none rests its
//    listeners, so the kernel's backlog holds the newcomers until connections end;
//  - optional caps per source address (IPv6 per prefix) on connections still in their handshake and in total;
//  - under pressure (most of the cap in use) new connections get a shorter handshake deadline;
//  - refusals and evictions are counted and logged at most once per source per interval, with a count.
// Counting is lock-free (atomics); only the rate limiter of log lines, on the refusal path, takes a mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/net_address.h"

namespace ferry {

struct OverloadConfig {
    uint64_t max_connections = 0;             // 0: auto_max_connections(RLIMIT_NOFILE)
    uint32_t max_connections_per_source = 0;  // 0: no limit
    uint32_t max_handshakes_per_source = 0;   // 0: no limit
    uint8_t source_prefix6 = 64;              // IPv6 sources are counted per /N (a host usually has a /64)
    // The handshake deadline of connections accepted under pressure, when shorter than the listener's own.
    uint64_t pressure_handshake_timeout_ms = 1000;
    uint64_t refusal_log_interval_ms = 10000;  // at most one refusal line per source per interval
};

// Connections that fit in `nofile` fds: each takes two sockets, and a reserve of max(nofile / 16, 32) fds stays
// for the listeners, the loops, the pipes that hold bytes in flight, the probes and the log. At least 1.
uint64_t auto_max_connections(uint64_t nofile);

// What a source is counted as: its IPv4 address, or its IPv6 address cut to `prefix6` bits (IPv4-mapped
// addresses count as IPv4). Equal keys for equal sources; a 64-bit digest otherwise.
uint64_t source_key(const SocketAddress& peer, uint8_t prefix6);

enum class Refusal : uint8_t { None, SourceHandshakes, SourceConnections };

// Per-source counts of connections (in their handshake, and in total) in a fixed table of atomic cells: each
// source has one cell in each of two rows, and its count is the smaller of the two (a count-min sketch). A
// collision can only make a source look bigger, never let one past its limit; with random seeds an attacker
// cannot aim collisions at a victim. Fixed memory (2 x 4096 cells, 64 KiB), allocated only when a per-source
// limit is set.
class SourceTable {
public:
    static constexpr size_t kCellsPerRow = 4096;
    struct Slot {
        uint32_t a = 0, b = 0;
    };

    explicit SourceTable(uint64_t seed);
    Slot slot(uint64_t key) const;
    // Counts one more connection, in its handshake, for `s` unless that would pass a limit (0: none); on a
    // refusal nothing stays counted.
    Refusal add(const Slot& s, uint32_t max_handshakes, uint32_t max_total);
    void handshake_done(const Slot& s);
    void remove(const Slot& s, bool in_handshake);
    uint32_t handshakes(const Slot& s) const;
    uint32_t total(const Slot& s) const;

private:
    struct Cell {
        std::atomic<uint32_t> handshakes{0};
        std::atomic<uint32_t> total{0};
    };
    uint64_t seed_;
    std::unique_ptr<Cell[]> cells_;  // row a, then row b
};

// At most one log line per key per interval; the lines not written are counted and reported with the next one.
// Bounded: beyond max_keys keys, the entries whose interval has passed are forgotten; if none has, lines for new
// keys are allowed (a flood of distinct sources cannot hide behind the limiter, nor grow it).
class LogLimiter {
public:
    explicit LogLimiter(uint64_t interval_ms, size_t max_keys = 4096);
    // True when a line about `key` may be written now; *suppressed is then how many were not written since the
    // last one.
    bool allow(uint64_t key, uint64_t now_ms, uint64_t* suppressed);

private:
    struct Entry {
        uint64_t last_ms = 0;
        uint64_t suppressed = 0;
    };
    uint64_t interval_ms_;
    size_t max_keys_;
    std::mutex mutex_;
    std::unordered_map<uint64_t, Entry> entries_;
};

// A connection's place in the counts, from admit() to release().
struct AdmissionTicket {
    SourceTable::Slot slot;
    bool counted = false;
    bool in_handshake = false;
};

// Shared by the loops of a service.
class Admission {
public:
    Admission(const OverloadConfig& config, uint64_t nofile);

    // Counts a new connection from `peer` (globally and per source) unless a per-source limit refuses it.
    Refusal admit(const SocketAddress& peer, AdmissionTicket& ticket);
    void handshake_done(AdmissionTicket& ticket);
    void release(AdmissionTicket& ticket);

    uint64_t live() const { return live_.load(std::memory_order_relaxed); }
    uint64_t max_connections() const { return max_; }
    // More live connections than the cap (the one just admitted is one too many): make room or rest.
    bool over_limit() const { return live() > max_; }
    bool under_pressure() const { return live() >= pressure_mark_; }
    // The handshake deadline for a connection accepted now: `configured`, or shorter under pressure.
    uint64_t handshake_timeout_ms(uint64_t configured) const;
    uint64_t key(const SocketAddress& peer) const { return source_key(peer, config_.source_prefix6); }
    LogLimiter& log_limiter() { return log_; }
    const OverloadConfig& config() const { return config_; }

    struct Counters {
        std::atomic<uint64_t> refused_handshakes{0};  // per-source handshake limit
        std::atomic<uint64_t> refused_connections{0};  // per-source connection limit
        std::atomic<uint64_t> evicted{0};              // closed in their handshake to make room at the cap
        std::atomic<uint64_t> paused{0};               // times a loop rested its listeners at the cap
        std::atomic<uint64_t> refused_clients{0};      // peers an inbound refuses (socks-clients)
    };
    Counters counters;

private:
    OverloadConfig config_;
    uint64_t max_;
    uint64_t pressure_mark_;
    std::atomic<uint64_t> live_{0};
    std::unique_ptr<SourceTable> sources_;  // null without per-source limits
    LogLimiter log_;
};

}  // namespace ferry
