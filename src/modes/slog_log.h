// kzemek/go-mmproxy 2.3's per-connection log lines (slog JSON, the mmproxy mode's `-log-format slog`) as a
// ConnectionObserver, the sibling of ZapLog (2.1's lines). Its keys and messages, from 2.3.1's tcp.go:
//   listening                                          listenerNum, protocol "TCP", listenAddr
//   new connection (-v 2)                              + frontendRemoteAddr, frontendLocalAddr
//   successfully parsed PROXY header (-v 2)            + clientAddr ("UNKNOWN" for LOCAL), targetAddr
//   successfully established backend connection, successfully set NoDelay on frontend connection,
//   successfully set NoDelay on backend connection (-v 2)
//   connection shutdown for read (-v 2)                + direction "read frontend -> write backend" / "read
//                                                        backend -> write frontend", in the order they ended
//   connection closing (-v 2)
//   dropping connection (-v 1)                         + error "<2.3's reason>: <ferry's detail>", where the
//                                                        reason is 2.3's: connection origin not in allowed
//                                                        subnets, failed to read / parse PROXY header, failed to
//                                                        establish backend connection, failed to write data to
//                                                        backend connection, connection broken
// The lines themselves (time, level, escaping) are support/log.h's Format::SlogJson.
#pragma once

#include "engine/events.h"
#include "support/log.h"

namespace ferry {

class SlogLog : public ConnectionObserver {
public:
    explicit SlogLog(int verbose) : verbose_(verbose) {}

    bool needs_local_address() const override;
    void listening(const ListenerInfo& listener) const override;
    void origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const override;
    void accepted(const ConnectionView& c) const override;
    void attempt_started(const ConnectionView& c, const Attempt& a, size_t index) const override;
    void established(const ConnectionView& c, const Attempt& a) const override;
    void failed(const ConnectionView& c, Stage stage, std::string_view message, std::string_view error) const override;
    void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const override;

    // 2.3's reason for ferry's failure message (2.1's words): "failed to establish upstream connection" ->
    // "failed to establish backend connection", ...; others unchanged.
    static std::string_view reason(std::string_view message);

private:
    void add_fields(log::Line& line, const ConnectionView& c) const;
    int verbose_;
};

}  // namespace ferry
