// The status service of the modes without ranked proxies (mmproxy, tproxy, srcproxy): the listeners' metrics
// (engine/metrics.h) and the server that shows them (backends/status_server.h).
#pragma once

#include <optional>
#include <string>

#include "backends/status_server.h"
#include "core/net_address.h"
#include "engine/metrics.h"
#include "engine/service.h"
#include "modes/stats_flag.h"

namespace ferry {

// The listeners' metrics and the status service that shows them; attach() plugs both into a ServiceConfig.
class StatsService {
public:
    explicit StatsService(std::string mode) : server_(std::move(mode), registry_) {}
    // With an address: config counts into the registry and serves the status service there. Without: nothing.
    void attach(ServiceConfig& config, const std::optional<StatsAddress>& address) {
        if (!address) return;
        config.metrics = &registry_;
        config.extra_listeners.push_back({address->address, &server_, "status", address->path});
    }

private:
    metrics::Registry registry_;
    backends::StatusServer server_;
};

}  // namespace ferry
