#include "modes/moproxy/moproxy_log.h"

#include "backends/backend.h"

namespace ferry::moproxy {
namespace {

std::string via(const Attempt& a) { return a.via ? a.via->config().tag : std::string("direct"); }

}  // namespace

void ConnectionLog::attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                                   std::optional<Fault> fault) const {
    if (!a.via || !fault) return;
    FERRY_LOG(Warn, *fault == Fault::Upstream ? "proxy attempt failed"
                                              : "attempt through proxy failed, not the proxy's fault")
        .str("server", a.via->config().tag)
        .str("clientAddr", c.flow.peer.to_string())
        .str("destination", c.flow.destination_text())
        .str("error", error);
}

void ConnectionLog::named(const ConnectionView& c, std::string_view why_none) const {
    if (c.flow.destination_host.empty()) {
        FERRY_LOG(Debug, "no destination name")
            .str("clientAddr", c.flow.peer.to_string())
            .str("destination", c.flow.destination.to_string())
            .str("reason", why_none);
        return;
    }
    FERRY_LOG(Debug, "destination name found")
        .str("clientAddr", c.flow.peer.to_string())
        .str("destination", c.flow.destination.to_string())
        .str("name", c.flow.destination_host);
}

void ConnectionLog::established(const ConnectionView& c, const Attempt& a) const {
    ZapLog::established(c, a);
    FERRY_LOG(Info, "relaying")
        .str("clientAddr", c.flow.peer.to_string())
        .str("destination", c.flow.destination_text())
        .str("via", via(a));
}

void ConnectionLog::closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const {
    ZapLog::closed(c, a, info);
    FERRY_LOG(Debug, "closed")
        .str("clientAddr", c.flow.peer.to_string())
        .str("destination", c.flow.destination_text())
        .str("via", via(a))
        .num("bytesUp", static_cast<int64_t>(info.bytes_up))
        .num("bytesDown", static_cast<int64_t>(info.bytes_down))
        .boolean("error", info.upstream_error);
}

}  // namespace ferry::moproxy
