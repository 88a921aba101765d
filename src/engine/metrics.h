// Per-listener metrics, kept on the data path without locks: every listen address of every listener (TCP and
// UDP apart) has a ListenerMetrics, a set of counters split into cache-line-aligned shards, one per loop thread
// (a thread picks its shard once), written with relaxed atomics and summed only when the stats listener is
// scraped. A MeteredObserver decorates a listener's own observer: it forwards every event unchanged and counts
// it. The engine installs one on every listening socket when ServiceConfig::metrics is set; the UDP path and the
// accept pauses count into the same ListenerMetrics directly.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/events.h"
#include "engine/metrics_types.h"

namespace ferry::metrics {

// Sorts a failed connection's stage and texts (ConnectionObserver::failed's `message` and `error`) into the
// fixed label set. `refused`: the inbound refused the peer itself (InboundStep::refused). Pure.
Failure classify_failure(Stage stage, std::string_view message, std::string_view error, bool refused);

// Shards of one ListenerMetrics: loop threads take one each, round robin, so up to this many loops never share
// a cache line; more loops share shards (still correct: the counters are atomic).
inline constexpr size_t kShards = 16;

class ListenerMetrics {
public:
    ListenerMetrics(std::string name, std::string address, Protocol protocol);
    const std::string& name() const { return name_; }
    const std::string& address() const { return address_; }
    Protocol protocol() const { return protocol_; }

    // TCP: a connection was handed to the engine (also a refused one: count its refusal too).
    void accepted() { add(kAccepted); }
    // A connection failed; `ended`: it is gone (false when `closed` follows, after a failure while relaying).
    void failed(Failure why, bool ended);
    void established(uint64_t connect_ms);
    void handshake_done(uint64_t handshake_ms);
    // Bytes relayed since the last call: the engine reports a relaying connection's about once a second and the
    // rest when its relay ends, before `closed`.
    void relayed(uint64_t bytes_up, uint64_t bytes_down);
    // A relayed connection is gone.
    void closed();
    void paused(bool at_limit) { add(at_limit ? kPausesLimit : kPausesResources); }
    // UDP.
    void flow_opened() { add(kFlowsOpened); }
    void flow_closed() { add(kFlowsClosed); }
    void datagrams(uint64_t up, uint64_t down);
    void dropped(UdpDrop why, uint64_t n = 1) { add(kDroppedBase + static_cast<size_t>(why), n); }

    // The counters summed over the shards now (each read relaxed: a scrape racing traffic may see one event's
    // counters half updated, e.g. active one too high for an instant; never below zero).
    ListenerSnapshot snapshot() const;

private:
    enum Slot : size_t {
        kAccepted,
        kEnded,
        kEstablished,
        kClosed,
        kBytesUp,
        kBytesDown,
        kPausesResources,
        kPausesLimit,
        kHandshakeSumMs,
        kConnectSumMs,
        kFlowsOpened,
        kFlowsClosed,
        kDatagramsUp,
        kDatagramsDown,
        kFailedBase,
        kDroppedBase = kFailedBase + kFailureCount,
        kHandshakeBase = kDroppedBase + kUdpDropCount,
        kConnectBase = kHandshakeBase + kLatencyBuckets,
        kSlotCount = kConnectBase + kLatencyBuckets,
    };
    struct alignas(64) Shard {
        std::atomic<uint64_t> slots[kSlotCount] = {};
    };
    void add(size_t slot, uint64_t n = 1);
    uint64_t sum(size_t slot) const;

    std::string name_, address_;
    Protocol protocol_;
    std::unique_ptr<Shard[]> shards_;
};

// Every ListenerMetrics of a service, in the order they were first asked for. Entries are never removed (a
// listener gone in a reload keeps its final counts), so references stay valid for the registry's life.
class Registry {
public:
    // The metrics of (name, address, protocol), made on first use. Any thread; takes a mutex (binding and
    // reloading only, never per connection).
    ListenerMetrics& listener(const std::string& name, const std::string& address, Protocol protocol);
    std::vector<ListenerSnapshot> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::deque<ListenerMetrics> listeners_;
};

// Forwards every event to `inner` and counts it into `metrics`. Latencies are measured on CLOCK_MONOTONIC in
// whole milliseconds, the engine's clock.
class MeteredObserver final : public ConnectionObserver {
public:
    MeteredObserver(const ConnectionObserver& inner, ListenerMetrics& metrics) : inner_(inner), metrics_(metrics) {}
    bool needs_local_address() const override { return inner_.needs_local_address(); }
    void listening(const ListenerInfo& listener) const override { inner_.listening(listener); }
    void origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const override;
    void overload_refused(const ListenerInfo& listener, const SocketAddress& peer, std::string_view reason,
                          uint64_t not_logged) const override {
        inner_.overload_refused(listener, peer, reason, not_logged);  // counted by the engine: this is rate-limited
    }
    void accepted(const ConnectionView& c) const override;
    void named(const ConnectionView& c, std::string_view why_none) const override { inner_.named(c, why_none); }
    void dialing(const ConnectionView& c) const override;
    void attempt_started(const ConnectionView& c, const Attempt& a, size_t index) const override {
        inner_.attempt_started(c, a, index);
    }
    void attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override {
        inner_.attempt_failed(c, a, error, fault);
    }
    void established(const ConnectionView& c, const Attempt& a) const override;
    void failed(const ConnectionView& c, Stage stage, std::string_view message,
                std::string_view error) const override;
    void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const override;

private:
    const ConnectionObserver& inner_;
    ListenerMetrics& metrics_;
};

}  // namespace ferry::metrics
