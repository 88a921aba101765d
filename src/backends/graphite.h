// moproxy's Graphite exporter (--graphite IP:PORT): after every probe round but the first, the prober sends each
// server's delay, score, bytes and connection counts to a carbon server in Graphite's plaintext protocol
// ("PATH VALUE TIMESTAMP\n") over TCP, with moproxy 0.5.1's metric names (src/monitor/mod.rs, graphite.rs). The
// encoder is pure; the Exporter runs on the prober's loop and never blocks it: a non-blocking connect, a bound on
// connect and write together, and a batch that cannot go out in time is dropped with its connection.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend.h"
#include "core/event_loop.h"
#include "core/net_address.h"

namespace ferry::backends::graphite {

// moproxy's GRAPHITE_PATH_PREFIX: every path is PREFIX.TAG.METRIC.
inline constexpr std::string_view kPathPrefix = "moproxy.proxy_servers";
// moproxy's GRAPHITE_TIMEOUT_SECS bounds the write; ferry bounds connect + write with it (moproxy's connect has
// no bound of its own, and its probes wait behind it).
inline constexpr uint64_t kTimeoutMs = 5000;

// What moproxy sends of one server, as the published table has it.
struct ServerSample {
    std::string tag;
    std::optional<int64_t> delay_ms;  // the last probe's delay; none when it failed (moproxy: not sent then)
    std::optional<int64_t> score;     // none when down or never probed (not sent then)
    uint64_t tx_bytes = 0, rx_bytes = 0;
    uint64_t conn_total = 0, conn_alive = 0, conn_error = 0;
};

// The servers of `table` in its order (moproxy sends them in its ranking order too), counters read now.
std::vector<ServerSample> sample(const BackendTable& table);

// "moproxy.proxy_servers.TAG.SUFFIX" with every '.' of the tag made '_' (moproxy), and also a space, a control
// character or a non-ASCII byte (moproxy panics on those; ferry keeps the line valid).
std::string metric_path(std::string_view tag, std::string_view suffix);

// A Unix time as moproxy writes it: seconds + microseconds / 10^6 as a double, printed as Rust prints an f64
// (the shortest decimal that reads back the same, no exponent, no ".0" for whole seconds): 1700000000.25.
std::string format_timestamp(int64_t time_us);

// Appends the lines of every server: delay, score (when known), tx_bytes, rx_bytes, conns.total, conns.alive,
// conns.error, each "PATH VALUE TIMESTAMP\n". Values are unsigned as moproxy casts them (a negative score is
// sent as its two's complement, as moproxy's `i32 as u64` does).
void encode(std::span<const ServerSample> servers, int64_t time_us, std::string& out);

// The connection to the carbon server, on one loop (the prober's), kept open between batches as moproxy does.
class Exporter {
public:
    Exporter(EventLoop& loop, SocketAddress server);
    ~Exporter();
    Exporter(const Exporter&) = delete;
    Exporter& operator=(const Exporter&) = delete;

    // Sends `batch` over the open connection or a new one. Returns at once. The batch is dropped (one warning
    // per episode of failures, and a line when sending works again) when the connect or the write does not
    // finish within kTimeoutMs, when the connection fails, or when the previous batch is still on its way.
    void send(std::string batch);

    // Batches written completely, and dropped (for tests and the log).
    uint64_t sent() const { return sent_; }
    uint64_t dropped() const { return dropped_; }

private:
    class Link;
    void link_sent();
    void link_failed(const std::string& error, bool batch_lost);
    void dropped(const std::string& why);

    EventLoop& loop_;
    SocketAddress server_;
    Link* link_ = nullptr;  // owned; destroyed through the loop's graveyard
    bool failing_ = false;
    uint64_t sent_ = 0, dropped_ = 0;
};

}  // namespace ferry::backends::graphite
