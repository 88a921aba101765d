// The per-listener metrics (engine/metrics.h): the failure classification pinned to the texts the engine and the
// inbounds produce, the sharded counters summed across threads, and the observer that counts and forwards.
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "engine/metrics.h"
#include "inbound/inbound.h"

using ferry::Stage;
using ferry::metrics::classify_failure;
using ferry::metrics::Failure;
using ferry::metrics::failure_label;
using ferry::metrics::ListenerMetrics;
using ferry::metrics::ListenerSnapshot;
using ferry::metrics::Protocol;
using ferry::metrics::Registry;
using ferry::metrics::UdpDrop;

TEST_CASE("classify_failure: the engine's and the inbounds' texts sort into the fixed reasons", "[metrics]") {
    struct Case {
        Stage stage;
        const char* message;
        const char* error;
        Failure want;
    };
    const Case cases[] = {
        // Handshake: engine/connection.cpp's deadline, EOF and eviction texts; the inbounds' Invalid steps.
        {Stage::Handshake, "failed to read PROXY header", "no complete PROXY header within 5000 ms",
         Failure::HeaderTimeout},
        {Stage::Handshake, "failed to read relay request", "no complete relay request within 1000 ms",
         Failure::HeaderTimeout},
        {Stage::Handshake, "failed to read PROXY header", "EOF before a complete PROXY header",
         Failure::HeaderIncomplete},
        {Stage::Handshake, "failed to read PROXY header", "EOF", Failure::HeaderIncomplete},
        {Stage::Handshake, "failed to read PROXY header", "read: connection reset by peer", Failure::HeaderIncomplete},
        {Stage::Handshake, "failed to parse PROXY header", "PROXY header missing", Failure::HeaderInvalid},
        {Stage::Handshake, "failed to parse relay request", "unsupported version 2", Failure::HeaderInvalid},
        {Stage::Handshake, "relay request rejected", "rejected by src checker: 192.0.2.5 not allowed",
         Failure::RequestRefused},
        {Stage::Handshake, "failed to accept connection",
         "the original destination 127.0.0.1:80 is this host (loopback or unspecified)", Failure::RequestRefused},
        {Stage::Handshake, "failed to read PROXY header",
         "closed to make room: 10 connections, the limit is 10, and this was the oldest still in its handshake "
         "(12 ms)",
         Failure::Evicted},
        {Stage::Handshake, "failed to accept connection",
         "not redirected: the original destination is unknown or 127.0.0.1:9001", Failure::RequestRefused},
        {Stage::Handshake, "failed to accept connection", "epoll_ctl: no space left on device", Failure::Other},
        // Dialing: the dial errors built from errno_text, and the proxies' handshake failures.
        {Stage::Dialing, "failed to establish upstream connection",
         "dial tcp 203.0.113.7:40000->127.0.0.1:443: connect: connection refused", Failure::ConnectRefused},
        {Stage::Dialing, "failed to establish upstream connection", "dial tcp 127.0.0.1:443: i/o timeout",
         Failure::ConnectTimeout},
        {Stage::Dialing, "failed to establish upstream connection",
         "dial tcp 192.0.2.9:1080: no reply within 4000 ms (connect + handshake)", Failure::ConnectTimeout},
        {Stage::Dialing, "failed to establish upstream connection", "dial tcp 192.0.2.9:80: connect: no route to host",
         Failure::UpstreamUnreachable},
        {Stage::Dialing, "failed to establish upstream connection",
         "dial tcp [2001:db8::1]:80: connect: network is unreachable", Failure::UpstreamUnreachable},
        {Stage::Dialing, "failed to establish upstream connection",
         "SOCKSv5 proxy fast (127.0.0.1:1080): SOCKS5 proxy replied: connection refused", Failure::ConnectRefused},
        {Stage::Dialing, "failed to establish upstream connection",
         "SOCKSv5 proxy fast (127.0.0.1:1080): SOCKS5 proxy replied: host unreachable", Failure::UpstreamUnreachable},
        {Stage::Dialing, "failed to establish upstream connection", "HTTP proxy web (127.0.0.1:3128) replied 403",
         Failure::UpstreamFailed},
        {Stage::Dialing, "connection broken", "read tcp 127.0.0.1:8443->127.0.0.1:40000: connection reset by peer",
         Failure::ClientGone},
        // Relaying.
        {Stage::Relaying, "connection broken", "read tcp 127.0.0.1:443: connection reset by peer", Failure::Reset},
        {Stage::Relaying, "connection broken", "write tcp 127.0.0.1:8443->127.0.0.1:40000: broken pipe",
         Failure::RelayError},
        {Stage::Relaying, "connection broken", "idle for 30000 ms", Failure::IdleTimeout},
        {Stage::Relaying, "connection broken", "half-closed and idle for 5000 ms", Failure::IdleTimeout},
        {Stage::Relaying, "interceptor failed", "plugin returned -1", Failure::InterceptorFailed},
        {Stage::Relaying, "something new", "never seen before", Failure::Other},
    };
    for (const Case& c : cases) {
        INFO(c.message << " / " << c.error);
        CHECK(failure_label(classify_failure(c.stage, c.message, c.error, false)) == failure_label(c.want));
    }
    // An inbound's refusal of the peer itself, whatever its words.
    CHECK(classify_failure(Stage::Handshake, "failed to accept connection", "192.0.2.1 may not use the SOCKS5 service",
                           true) == Failure::RequestRefused);
}

TEST_CASE("failure and drop labels: fixed, unique, snake_case", "[metrics]") {
    std::vector<std::string> seen;
    for (std::string_view l : ferry::metrics::kFailureLabels) seen.emplace_back(l);
    for (std::string_view l : ferry::metrics::kUdpDropLabels) seen.emplace_back("udp:" + std::string(l));
    for (size_t i = 0; i < seen.size(); ++i) {
        for (char ch : seen[i]) CHECK(((ch >= 'a' && ch <= 'z') || ch == '_' || ch == ':'));
        for (size_t j = i + 1; j < seen.size(); ++j) CHECK(seen[i] != seen[j]);
    }
    CHECK(failure_label(Failure::Other) == "other");
    CHECK(ferry::metrics::udp_drop_label(UdpDrop::ReplyFailed) == "reply_failed");
}

TEST_CASE("latency buckets: upper bounds inclusive, then +Inf", "[metrics]") {
    using ferry::metrics::latency_bucket;
    CHECK(latency_bucket(0) == 0);
    CHECK(latency_bucket(1) == 0);
    CHECK(latency_bucket(2) == 1);
    CHECK(latency_bucket(3) == 2);
    CHECK(latency_bucket(10000) == 12);
    CHECK(latency_bucket(10001) == 13);
    CHECK(latency_bucket(UINT64_MAX) == ferry::metrics::kLatencyBuckets - 1);
}

TEST_CASE("ListenerMetrics: what was counted is what a snapshot says", "[metrics]") {
    ListenerMetrics m("web", "127.0.0.1:7001", Protocol::Tcp);
    for (int i = 0; i < 5; ++i) m.accepted();
    m.handshake_done(0);
    m.handshake_done(30);
    m.established(3);
    m.relayed(600, 2000);
    m.relayed(400, 0);
    m.closed();
    m.failed(Failure::HeaderTimeout, true);
    m.failed(Failure::Reset, false);  // `closed` follows
    m.relayed(10, 0);
    m.closed();
    m.paused(false);
    m.paused(true);
    m.paused(true);
    const ListenerSnapshot s = m.snapshot();
    CHECK(s.name == "web");
    CHECK(s.address == "127.0.0.1:7001");
    CHECK(s.accepted == 5);
    CHECK(s.active == 2);  // 5 accepted, one failed before its relay, two closed
    CHECK(s.established == 1);
    CHECK(s.closed == 2);
    CHECK(s.bytes_up == 1010);
    CHECK(s.bytes_down == 2000);
    CHECK(s.failed[static_cast<size_t>(Failure::HeaderTimeout)] == 1);
    CHECK(s.failed[static_cast<size_t>(Failure::Reset)] == 1);
    CHECK(s.failed_total() == 2);
    CHECK(s.handshake.count() == 2);
    CHECK(s.handshake.buckets[0] == 1);
    CHECK(s.handshake.buckets[5] == 1);  // 30 ms: (25, 50]
    CHECK(s.handshake.sum_ms == 30);
    CHECK(s.connect.buckets[2] == 1);  // 3 ms: (2, 5]
    CHECK(s.pauses_resources == 1);
    CHECK(s.pauses_limit == 2);

    ListenerMetrics u("", "0.0.0.0:8443", Protocol::Udp);
    u.flow_opened();
    u.flow_opened();
    u.flow_closed();
    u.datagrams(5, 4);
    u.dropped(UdpDrop::HeaderInvalid);
    u.dropped(UdpDrop::ReplyFailed, 3);
    const ListenerSnapshot us = u.snapshot();
    CHECK(us.protocol == Protocol::Udp);
    CHECK(us.flows_opened == 2);
    CHECK(us.flows_closed == 1);
    CHECK(us.flows_active == 1);
    CHECK(us.datagrams_up == 5);
    CHECK(us.datagrams_down == 4);
    CHECK(us.dropped_total() == 4);
}

TEST_CASE("ListenerMetrics: counts from many threads add up (each its own shard, or sharing one)", "[metrics]") {
    ListenerMetrics m("", "127.0.0.1:1", Protocol::Tcp);
    constexpr int kThreads = 24;  // more than kShards: some threads share a shard
    constexpr int kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&m] {
            for (int i = 0; i < kEach; ++i) {
                m.accepted();
                m.relayed(3, 1);
                m.closed();
            }
        });
    }
    for (auto& t : threads) t.join();
    const ListenerSnapshot s = m.snapshot();
    CHECK(s.accepted == uint64_t{kThreads} * kEach);
    CHECK(s.closed == uint64_t{kThreads} * kEach);
    CHECK(s.active == 0);
    CHECK(s.bytes_up == uint64_t{kThreads} * kEach * 3);
    CHECK(s.bytes_down == uint64_t{kThreads} * kEach);
}

TEST_CASE("Registry: one ListenerMetrics per name, address and protocol, in first-use order", "[metrics]") {
    Registry r;
    ListenerMetrics& a = r.listener("", "0.0.0.0:8443", Protocol::Tcp);
    ListenerMetrics& b = r.listener("", "0.0.0.0:8443", Protocol::Udp);
    ListenerMetrics& c = r.listener("web", "0.0.0.0:8443", Protocol::Tcp);
    CHECK(&r.listener("", "0.0.0.0:8443", Protocol::Tcp) == &a);
    CHECK(&a != &b);
    CHECK(&a != &c);
    a.accepted();
    c.accepted();
    c.accepted();
    const auto s = r.snapshot();
    REQUIRE(s.size() == 3);
    CHECK(s[0].accepted == 1);
    CHECK(s[1].protocol == Protocol::Udp);
    CHECK(s[2].name == "web");
    CHECK(s[2].accepted == 2);
}

namespace {

// Writes down every event it hears, as one word each.
class Recorder final : public ferry::ConnectionObserver {
public:
    mutable std::vector<std::string> events;
    bool needs_local_address() const override { return true; }
    void listening(const ferry::ListenerInfo&) const override { events.push_back("listening"); }
    void origin_refused(const ferry::ListenerInfo&, const ferry::SocketAddress&, int fd) const override {
        events.push_back("origin_refused " + std::to_string(fd));
    }
    void overload_refused(const ferry::ListenerInfo&, const ferry::SocketAddress&, std::string_view reason,
                          uint64_t not_logged) const override {
        events.push_back("overload_refused " + std::string(reason) + " " + std::to_string(not_logged));
    }
    void accepted(const ferry::ConnectionView&) const override { events.push_back("accepted"); }
    void dialing(const ferry::ConnectionView&) const override { events.push_back("dialing"); }
    void attempt_started(const ferry::ConnectionView&, const ferry::Attempt&, size_t i) const override {
        events.push_back("attempt_started " + std::to_string(i));
    }
    void attempt_failed(const ferry::ConnectionView&, const ferry::Attempt&, std::string_view error,
                        std::optional<ferry::Fault>) const override {
        events.push_back("attempt_failed " + std::string(error));
    }
    void established(const ferry::ConnectionView&, const ferry::Attempt&) const override {
        events.push_back("established");
    }
    void failed(const ferry::ConnectionView&, Stage, std::string_view message, std::string_view error) const override {
        events.push_back("failed " + std::string(message) + ": " + std::string(error));
    }
    void closed(const ferry::ConnectionView&, const ferry::Attempt&, const ferry::CloseInfo& info) const override {
        events.push_back("closed " + std::to_string(info.bytes_up) + " " + std::to_string(info.bytes_down));
    }
};

}  // namespace

TEST_CASE("MeteredObserver: forwards every event unchanged and counts it", "[metrics]") {
    Recorder inner;
    ListenerMetrics m("", "127.0.0.1:8443", Protocol::Tcp);
    ferry::metrics::MeteredObserver o(inner, m);
    ferry::ListenerInfo info;
    ferry::Flow flow;
    ferry::PlainInbound inbound;
    const uint64_t now = ferry::monotonic_ms();
    ferry::ConnectionView view{flow, info, inbound, false, now};
    ferry::Attempt attempt;
    attempt.started_ms = now;
    ferry::CloseInfo close;
    close.bytes_up = 100;
    close.bytes_down = 200;

    CHECK(o.needs_local_address());
    o.listening(info);
    o.origin_refused(info, ferry::SocketAddress{}, 7);
    o.overload_refused(info, ferry::SocketAddress{}, "too many", 2);
    o.accepted(view);
    o.dialing(view);
    o.attempt_started(view, attempt, 0);
    o.attempt_failed(view, attempt, "refused", ferry::Fault::Upstream);
    o.established(view, attempt);
    o.failed(view, Stage::Relaying, "connection broken", "read tcp 127.0.0.1:443: connection reset by peer");
    o.closed(view, attempt, close);
    o.accepted(view);
    o.failed(view, Stage::Handshake, "failed to parse PROXY header", "PROXY header missing");

    CHECK(inner.events == std::vector<std::string>{
                              "listening", "origin_refused 7", "overload_refused too many 2", "accepted", "dialing",
                              "attempt_started 0", "attempt_failed refused", "established",
                              "failed connection broken: read tcp 127.0.0.1:443: connection reset by peer",
                              "closed 100 200", "accepted",
                              "failed failed to parse PROXY header: PROXY header missing"});
    const ListenerSnapshot s = m.snapshot();
    CHECK(s.accepted == 3);  // the refused origin, and two accepted
    CHECK(s.active == 0);
    CHECK(s.established == 1);
    CHECK(s.closed == 1);
    CHECK(s.bytes_up == 0);  // the engine reports bytes as they move (Connection::report_bytes), not `closed`
    CHECK(s.bytes_down == 0);
    CHECK(s.failed[static_cast<size_t>(Failure::SubnetRefused)] == 1);
    CHECK(s.failed[static_cast<size_t>(Failure::Reset)] == 1);
    CHECK(s.failed[static_cast<size_t>(Failure::HeaderInvalid)] == 1);
    CHECK(s.failed[static_cast<size_t>(Failure::OverloadRefused)] == 0);  // counted by the engine, not here
    CHECK(s.failed_total() == 3);
    CHECK(s.handshake.count() == 1);
    CHECK(s.connect.count() == 1);

    view.refused = true;
    o.accepted(view);
    o.failed(view, Stage::Handshake, "failed to accept connection", "192.0.2.1 may not use the SOCKS5 service");
    CHECK(m.snapshot().failed[static_cast<size_t>(Failure::RequestRefused)] == 1);
}
