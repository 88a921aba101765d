// The ranked upstream proxies' status service (moproxy's --stats-bind, `ferry run`'s `status`): HTTP GET served by
// ferry's own loops, read-only. Each request is answered from the current BackendTable (read through RCU) and the
// servers' live counters, then the connection is closed.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_set>

#include "backends/backend.h"
#include "outbound/route.h"
#include "core/event_loop.h"
#include "engine/service.h"
#include "backends/status_page.h"

namespace ferry::backends {

class StatusServer final : public AcceptHandler {
public:
    StatusServer(const TableCell& table, const DirectStats& direct);
    ~StatusServer();  // after the loops stopped: closes what is left
    void on_accept(EventLoop& loop, Fd fd, const SocketAddress& peer) const override;

    // What the page shows now (also used by tests of the front end).
    status::Snapshot snapshot() const;

    // Bound on reading the request and writing the answer.
    static constexpr uint64_t kTimeoutMs = 5000;

private:
    class Session;
    void forget(Session* s) const;

    const TableCell& table_;
    const DirectStats& direct_;
    uint64_t started_ms_;
    mutable std::mutex mutex_;  // sessions_: status requests only, never the data path
    mutable std::unordered_set<Session*> sessions_;
};

}  // namespace ferry::backends
