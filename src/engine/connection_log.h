// Per-connection log lines in a mode's own words. The engine logs go-mmproxy's zap lines by default; a mode
// whose reference prints something else (srcproxy: "[info] (<peer>) <src> <-> <dst>: established") gives the
// service a ConnectionLog and the engine reports the three events to it instead. Called on the loop thread
// that owns the connection; an implementation only formats and writes.
#pragma once

#include <string_view>

#include "engine/flow.h"

namespace ferry {

class ConnectionLog {
public:
    // The handshake is done and the first dial starts (flow.destination and flow.source are known).
    virtual void dialing(const Flow& flow) const;
    // The upstream is connected (and its handshake done): the relay starts.
    virtual void established(const Flow& flow) const = 0;
    // Both directions ended cleanly (EOF each way); `client_first`: the client's EOF came first.
    virtual void closed(const Flow& flow, bool client_first) const = 0;
    // The connection ends on a failure: during the handshake (`handshake_done` false: the flow may know
    // nothing but the peer), while dialing, or while relaying (`relaying`). `message` is the engine's summary
    // ("failed to establish upstream connection"), `error` the specific reason.
    virtual void failed(const Flow& flow, bool handshake_done, bool relaying, std::string_view message,
                        std::string_view error) const = 0;

protected:
    ~ConnectionLog() = default;
};

}  // namespace ferry
