// `ferry run`'s per-connection lines: JSON (support/log.h) naming the listener, the client, where it wanted to
// go and how it went out. At info: a connection relaying, an attempt through a proxy failing, a connection
// failing after its handshake; at debug: handshake failures (a port scan would fill the log at info), refused
// origins and every close with its bytes and duration.
#pragma once

#include "engine/events.h"

namespace ferry::run {

class ConnectionLog final : public ConnectionObserver {
public:
    void listening(const ListenerInfo& listener) const override;
    void origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const override;
    void attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override;
    void established(const ConnectionView& c, const Attempt& a) const override;
    void failed(const ConnectionView& c, Stage stage, std::string_view message, std::string_view error) const override;
    void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const override;
};

}  // namespace ferry::run
