// What the per-listener metrics are, as plain data: the fixed label sets (why a connection failed, why a UDP
// datagram was dropped), the latency buckets, and the snapshot one scrape reads out of the live counters
// (engine/metrics.h). The status renderers (backends/status_page.h) take these; nothing here has behaviour.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ferry::metrics {

// Why a connection ended without a clean relay, one fixed label each (OpenMetrics `reason`). The engine's and
// the inbounds' failure texts are sorted into these by classify_failure (engine/metrics.h); whatever fits none
// is Other.
enum class Failure : uint8_t {
    HeaderInvalid,        // the handshake's bytes were malformed (PROXY, srcproxy, SOCKS5 ...)
    HeaderIncomplete,     // the client closed or reset before a complete handshake
    HeaderTimeout,        // no complete handshake within the header timeout
    SubnetRefused,        // the peer is outside the listener's allowed subnets
    OverloadRefused,      // a per-source limit refused it at accept
    RequestRefused,       // the inbound refused the peer or its request (ACL, SOCKS5 not allowed, loopback target,
                          // not redirected)
    Evicted,              // closed in its handshake to make room at the connection limit
    ConnectRefused,       // the upstream refused the connection (RST)
    ConnectTimeout,       // no connection (or proxy handshake) within the connect timeout
    UpstreamUnreachable,  // no route to the upstream, network unreachable
    UpstreamFailed,       // any other dial failure (a proxy's error reply, no allowed destination ...)
    ClientGone,           // the client reset or closed while we were dialing
    Reset,                // a connection reset while relaying (either side)
    RelayError,           // any other socket error while relaying
    IdleTimeout,          // the idle or half-close timeout while relaying
    InterceptorFailed,    // a tproxy interceptor failed
    Other,
};
inline constexpr size_t kFailureCount = static_cast<size_t>(Failure::Other) + 1;
inline constexpr std::array<std::string_view, kFailureCount> kFailureLabels = {
    "header_invalid",  "header_incomplete", "header_timeout",       "subnet_refused",  "overload_refused",
    "request_refused", "evicted",           "connect_refused",      "connect_timeout", "upstream_unreachable",
    "upstream_failed", "client_gone",       "reset",                "relay_error",     "idle_timeout",
    "interceptor_failed", "other"};
constexpr std::string_view failure_label(Failure f) { return kFailureLabels[static_cast<size_t>(f)]; }

// Why a UDP datagram (mmproxy -p udp) was not relayed.
enum class UdpDrop : uint8_t {
    SubnetRefused,  // the sender is outside the allowed subnets
    HeaderInvalid,  // no valid PROXY v2 DGRAM header
    NoTarget,       // no -4/-6 target for the client's family
    FlowFailed,     // the flow's socket could not be opened (bind, connect ...)
    SendFailed,     // the upstream socket refused it (full buffer, an earlier ICMP error)
    ReplyFailed,    // a reply could not be sent back (full buffer)
};
inline constexpr size_t kUdpDropCount = static_cast<size_t>(UdpDrop::ReplyFailed) + 1;
inline constexpr std::array<std::string_view, kUdpDropCount> kUdpDropLabels = {
    "subnet_refused", "header_invalid", "no_target", "flow_failed", "send_failed", "reply_failed"};
constexpr std::string_view udp_drop_label(UdpDrop d) { return kUdpDropLabels[static_cast<size_t>(d)]; }

// Upper bounds (milliseconds, inclusive) of the latency histograms' buckets; one more bucket (+Inf) follows.
// The engine's clock counts whole milliseconds, so the first bucket holds everything under 1 ms (loopback).
inline constexpr std::array<uint64_t, 13> kLatencyBoundsMs = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
                                                               10000};
inline constexpr size_t kLatencyBuckets = kLatencyBoundsMs.size() + 1;

struct Histogram {
    std::array<uint64_t, kLatencyBuckets> buckets{};  // per bucket, not cumulative; the last is +Inf
    uint64_t sum_ms = 0;
    uint64_t count() const {
        uint64_t n = 0;
        for (uint64_t b : buckets) n += b;
        return n;
    }
};

// The bucket a latency falls in.
constexpr size_t latency_bucket(uint64_t ms) {
    size_t i = 0;
    while (i < kLatencyBoundsMs.size() && ms > kLatencyBoundsMs[i]) ++i;
    return i;
}

enum class Protocol : uint8_t { Tcp, Udp };

// One listen address of one listener and protocol, summed over every loop at the moment of the scrape.
struct ListenerSnapshot {
    std::string name;     // `ferry run`'s [listener NAME]; empty in the modes
    std::string address;  // "0.0.0.0:8443"
    Protocol protocol = Protocol::Tcp;
    // TCP. accepted counts every socket accept() gave us, refused ones included; active = accepted minus those
    // that ended (refused, failed before their relay, or closed after it).
    uint64_t accepted = 0, active = 0, established = 0, closed = 0;
    std::array<uint64_t, kFailureCount> failed{};
    uint64_t bytes_up = 0, bytes_down = 0;  // client -> upstream and back: as they move (at most once a second
                                            // per connection), the rest when its relay ends
    Histogram handshake;                    // accepted -> handshake done (dialing starts)
    Histogram connect;                      // the winning attempt's start -> established
    uint64_t pauses_resources = 0;          // accepting paused for lack of fds or memory (EMFILE ...)
    uint64_t pauses_limit = 0;              // accepting paused at the connection limit
    // UDP.
    uint64_t flows_opened = 0, flows_closed = 0, flows_active = 0;
    uint64_t datagrams_up = 0, datagrams_down = 0;  // relayed to the target, replies relayed back
    std::array<uint64_t, kUdpDropCount> dropped{};

    uint64_t failed_total() const {
        uint64_t n = 0;
        for (uint64_t f : failed) n += f;
        return n;
    }
    uint64_t dropped_total() const {
        uint64_t n = 0;
        for (uint64_t d : dropped) n += d;
        return n;
    }
};

}  // namespace ferry::metrics
