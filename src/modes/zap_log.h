// go-mmproxy 2.1's per-connection log lines (zap JSON: listenerNum, protocol, listenAdr, remoteAddr, localAddr,
// clientAddr, targetAddr, error, dropConnection) as a ConnectionObserver: the mmproxy mode's, and, with the
// destination in place of clientAddr and failures at info level, the moproxy mode's.
#pragma once

#include "engine/events.h"
#include "support/log.h"

namespace ferry {

class ZapLog : public ConnectionObserver {
public:
    struct Options {
        int verbose = 0;  // go-mmproxy's -v: 1 logs per-connection failures, 2 every state change
        log::Level drop_level = log::Level::Debug;  // the level of failure lines (at verbose >= 1)
        // Lines name the destination the client asked for (moproxy) instead of go-mmproxy's clientAddr (the
        // PROXY header's source).
        bool destination_field = false;
    };
    explicit ZapLog(Options options) : options_(options) {}

    bool needs_local_address() const override;
    void origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const override;
    void accepted(const ConnectionView& c) const override;
    void attempt_started(const ConnectionView& c, const Attempt& a, size_t index) const override;
    void established(const ConnectionView& c, const Attempt& a) const override;
    void failed(const ConnectionView& c, Stage stage, std::string_view message, std::string_view error) const override;
    void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const override;

protected:
    // The per-connection fields in go-mmproxy 2.1's order: the listener's, then remoteAddr, localAddr, and once
    // the handshake is done clientAddr (or destination) and targetAddr.
    void add_fields(log::Line& line, const ConnectionView& c) const;

private:
    Options options_;
};

}  // namespace ferry
