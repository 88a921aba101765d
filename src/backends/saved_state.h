// What moproxy's server table carries from one ferry to its successor across a zero-downtime restart
// (engine/takeover.h): each server's score state, probe history and counters, as JSON text. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backends/backend_score.h"

namespace ferry::backends {

struct SavedServer {
    // Its identity (same_identity): a server of the successor's list takes the saved state with the same three.
    std::string tag;
    std::string protocol;  // protocol_name()
    std::string address;   // SocketAddress::to_string()
    ScoreState score;
    std::vector<std::optional<int64_t>> history;  // probe delays, oldest first, nullopt = failed probe
    std::optional<int64_t> last_delay;
    uint64_t conn_total = 0, conn_error = 0, tx_bytes = 0, rx_bytes = 0;
};

// {"servers":[{"tag","protocol","address","score"|null,"up","last_delay_ms"|null,"score_before_down"|null,
// "closes":[bits as a decimal string, count],"history":[ms|null,...],"delay"|null,"conn_total","conn_error",
// "tx_bytes","rx_bytes"}]}. Throws std::bad_alloc when cJSON cannot allocate.
std::string encode_saved_servers(const std::vector<SavedServer>& servers);
// The inverse; nullopt with *error set when the text is not such a document. Counters are taken as doubles by
// cJSON (exact up to 2^53); a history longer than `max_history` keeps its newest entries.
std::optional<std::vector<SavedServer>> parse_saved_servers(std::string_view text, size_t max_history,
                                                            std::string* error);

}  // namespace ferry::backends
