#include "engine/metrics.h"

#include "core/clock.h"

namespace ferry::metrics {
namespace {

bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// The shard of the calling thread: taken round robin the first time a thread counts anything.
size_t my_shard() {
    static std::atomic<size_t> next{0};
    thread_local const size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
    return shard;
}

uint64_t elapsed_ms(uint64_t since_ms) {
    const uint64_t now = monotonic_ms();
    return now > since_ms ? now - since_ms : 0;
}

}  // namespace

// The texts come from engine/connection.cpp (the timeouts, "connection broken", the dial errors built from
// errno_text) and the inbounds' InboundStep::invalid calls; tests/unit/engine/metrics_test.cpp pins them.
Failure classify_failure(Stage stage, std::string_view message, std::string_view error, bool refused) {
    if (refused || message == "relay request rejected") return Failure::RequestRefused;
    switch (stage) {
        case Stage::Handshake:
            if (error.starts_with("no complete ") && contains(error, " within ")) return Failure::HeaderTimeout;
            if (error.starts_with("closed to make room")) return Failure::Evicted;
            if (error == "EOF" || error.starts_with("EOF before a complete") || error.starts_with("read:") ||
                error == "read failed" || error == "write failed")
                return Failure::HeaderIncomplete;
            // A REDIRECT listener's connection that was not redirected, or redirected to this host.
            if (contains(error, "is this host (loopback") || error.starts_with("not redirected"))
                return Failure::RequestRefused;
            if (error.starts_with("epoll_ctl")) return Failure::Other;
            return Failure::HeaderInvalid;
        case Stage::Dialing:
            if (message == "connection broken") return Failure::ClientGone;
            if (contains(error, "connection refused")) return Failure::ConnectRefused;
            if (contains(error, "i/o timeout") || contains(error, "no reply within") ||
                contains(error, "connection timed out"))
                return Failure::ConnectTimeout;
            // errno's "no route to host", "network is unreachable"; a SOCKS5 reply's "host unreachable" ...
            if (contains(error, "no route to host") || contains(error, "unreachable"))
                return Failure::UpstreamUnreachable;
            if (error.starts_with("epoll_ctl")) return Failure::Other;
            return Failure::UpstreamFailed;
        case Stage::Relaying:
            if (message == "interceptor failed") return Failure::InterceptorFailed;
            if (error.starts_with("idle for ") || error.starts_with("half-closed and idle for "))
                return Failure::IdleTimeout;
            if (contains(error, "connection reset")) return Failure::Reset;
            if (error.starts_with("read tcp") || error.starts_with("write tcp")) return Failure::RelayError;
            return Failure::Other;
    }
    return Failure::Other;
}

// ------------------------------------------------------------------------------------------ ListenerMetrics

ListenerMetrics::ListenerMetrics(std::string name, std::string address, Protocol protocol)
    : name_(std::move(name)), address_(std::move(address)), protocol_(protocol),
      shards_(std::make_unique<Shard[]>(kShards)) {}

void ListenerMetrics::add(size_t slot, uint64_t n) {
    shards_[my_shard()].slots[slot].fetch_add(n, std::memory_order_relaxed);
}

uint64_t ListenerMetrics::sum(size_t slot) const {
    uint64_t n = 0;
    for (size_t i = 0; i < kShards; ++i) n += shards_[i].slots[slot].load(std::memory_order_relaxed);
    return n;
}

void ListenerMetrics::failed(Failure why, bool ended) {
    add(kFailedBase + static_cast<size_t>(why));
    if (ended) add(kEnded);
}

void ListenerMetrics::established(uint64_t connect_ms) {
    add(kEstablished);
    add(kConnectBase + latency_bucket(connect_ms));
    add(kConnectSumMs, connect_ms);
}

void ListenerMetrics::handshake_done(uint64_t handshake_ms) {
    add(kHandshakeBase + latency_bucket(handshake_ms));
    add(kHandshakeSumMs, handshake_ms);
}

void ListenerMetrics::relayed(uint64_t bytes_up, uint64_t bytes_down) {
    if (bytes_up) add(kBytesUp, bytes_up);
    if (bytes_down) add(kBytesDown, bytes_down);
}

void ListenerMetrics::closed() {
    add(kClosed);
    add(kEnded);
}

void ListenerMetrics::datagrams(uint64_t up, uint64_t down) {
    if (up) add(kDatagramsUp, up);
    if (down) add(kDatagramsDown, down);
}

ListenerSnapshot ListenerMetrics::snapshot() const {
    ListenerSnapshot s;
    s.name = name_;
    s.address = address_;
    s.protocol = protocol_;
    // Read what ends before what starts, so a racing connection makes `active` high for an instant, never low.
    const uint64_t ended = sum(kEnded);
    s.accepted = sum(kAccepted);
    s.active = s.accepted > ended ? s.accepted - ended : 0;
    s.established = sum(kEstablished);
    s.closed = sum(kClosed);
    for (size_t i = 0; i < kFailureCount; ++i) s.failed[i] = sum(kFailedBase + i);
    s.bytes_up = sum(kBytesUp);
    s.bytes_down = sum(kBytesDown);
    for (size_t i = 0; i < kLatencyBuckets; ++i) {
        s.handshake.buckets[i] = sum(kHandshakeBase + i);
        s.connect.buckets[i] = sum(kConnectBase + i);
    }
    s.handshake.sum_ms = sum(kHandshakeSumMs);
    s.connect.sum_ms = sum(kConnectSumMs);
    s.pauses_resources = sum(kPausesResources);
    s.pauses_limit = sum(kPausesLimit);
    s.flows_closed = sum(kFlowsClosed);
    s.flows_opened = sum(kFlowsOpened);
    s.flows_active = s.flows_opened > s.flows_closed ? s.flows_opened - s.flows_closed : 0;
    s.datagrams_up = sum(kDatagramsUp);
    s.datagrams_down = sum(kDatagramsDown);
    for (size_t i = 0; i < kUdpDropCount; ++i) s.dropped[i] = sum(kDroppedBase + i);
    return s;
}

// ------------------------------------------------------------------------------------------ Registry

ListenerMetrics& Registry::listener(const std::string& name, const std::string& address, Protocol protocol) {
    std::lock_guard lock(mutex_);
    for (ListenerMetrics& m : listeners_)
        if (m.name() == name && m.address() == address && m.protocol() == protocol) return m;
    return listeners_.emplace_back(name, address, protocol);
}

std::vector<ListenerSnapshot> Registry::snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<ListenerSnapshot> out;
    out.reserve(listeners_.size());
    for (const ListenerMetrics& m : listeners_) out.push_back(m.snapshot());
    return out;
}

// ------------------------------------------------------------------------------------------ MeteredObserver

void MeteredObserver::origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const {
    metrics_.accepted();
    metrics_.failed(Failure::SubnetRefused, true);
    inner_.origin_refused(listener, peer, fd);
}

void MeteredObserver::accepted(const ConnectionView& c) const {
    metrics_.accepted();
    inner_.accepted(c);
}

void MeteredObserver::dialing(const ConnectionView& c) const {
    metrics_.handshake_done(elapsed_ms(c.started_ms));
    inner_.dialing(c);
}

void MeteredObserver::established(const ConnectionView& c, const Attempt& a) const {
    metrics_.established(elapsed_ms(a.started_ms));
    inner_.established(c, a);
}

void MeteredObserver::failed(const ConnectionView& c, Stage stage, std::string_view message,
                             std::string_view error) const {
    // A failure while relaying is followed by `closed`, which ends the connection.
    metrics_.failed(classify_failure(stage, message, error, c.refused), stage != Stage::Relaying);
    inner_.failed(c, stage, message, error);
}

void MeteredObserver::closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const {
    metrics_.closed();  // its bytes were reported as they moved (Connection::report_bytes)
    inner_.closed(c, a, info);
}

}  // namespace ferry::metrics
