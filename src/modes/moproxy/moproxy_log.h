// The moproxy mode's per-connection lines: go-mmproxy's zap lines naming the destination (failures at info,
// the state changes at debug), plus which upstream proxy carried the connection ("relaying", "closed") and
// why an attempt through a proxy failed.
#pragma once

#include "modes/zap_log.h"

namespace ferry::moproxy {

class ConnectionLog final : public ZapLog {
public:
    ConnectionLog() : ZapLog({log::enabled(log::Level::Debug) ? 2 : 1, log::Level::Info, true}) {}
    void attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override;
    // --remote-dns: the name found (or why none) at debug
    void named(const ConnectionView& c, std::string_view why_none) const override;
    void established(const ConnectionView& c, const Attempt& a) const override;
    void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const override;
};

}  // namespace ferry::moproxy
