// The status service (moproxy's --stats-bind, mmproxy's and tproxy's -stats-bind, srcproxy's stats_bind, `ferry
// run`'s `status`): HTTP GET served by ferry's own loops, read-only. Each request is answered from the current
// BackendTable (read through RCU) and the servers' live counters when there are ranked proxies, and from the
// listeners' metrics (engine/metrics.h) when there are any, then the connection is closed.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_set>

#include "backends/backend.h"
#include "outbound/route.h"
#include "core/event_loop.h"
#include "engine/metrics.h"
#include "engine/service.h"
#include "backends/status_page.h"

namespace ferry::backends {

class StatusServer final : public AcceptHandler {
public:
    // With ranked proxies (moproxy, `ferry run` with servers); `metrics` adds the listeners' sections.
    StatusServer(const TableCell& table, const DirectStats& direct, const metrics::Registry* metrics = nullptr,
                 std::string mode = "moproxy");
    // Without proxies: the listeners' metrics of mode `mode` ("mmproxy", ...) only.
    StatusServer(std::string mode, const metrics::Registry& metrics);
    ~StatusServer();  // after the loops stopped: closes what is left
    void on_accept(EventLoop& loop, Fd fd, const SocketAddress& peer) const override;

    // What the page shows now (also used by tests of the front end).
    status::Snapshot snapshot() const;

    // Bound on reading the request and writing the answer.
    static constexpr uint64_t kTimeoutMs = 5000;

private:
    class Session;
    void forget(Session* s) const;

    const TableCell* table_ = nullptr;
    const DirectStats* direct_ = nullptr;
    const metrics::Registry* metrics_ = nullptr;
    std::string mode_ = "moproxy";
    uint64_t started_ms_;
    mutable std::mutex mutex_;  // sessions_: status requests only, never the data path
    mutable std::unordered_set<Session*> sessions_;
};

}  // namespace ferry::backends
