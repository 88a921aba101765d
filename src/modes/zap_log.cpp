#include "modes/zap_log.h"

#include "core/socket_util.h"
#include "inbound/inbound.h"

namespace ferry {

void ZapLog::add_fields(log::Line& line, const ConnectionView& c) const {
    const Flow& flow = c.flow;
    line.num("listenerNum", static_cast<int64_t>(c.listener.number))
        .str("protocol", "tcp")
        .str("listenAdr", c.listener.address_text);
    line.str("remoteAddr", flow.peer.to_string()).str("localAddr", flow.local.to_string());
    if (!c.handshake_done) return;
    if (options_.destination_field)
        line.str("destination", flow.destination_text());
    else
        line.str("clientAddr", flow.source.empty() ? "UNKNOWN" : flow.source.to_string());
    if (!flow.target.empty()) line.str("targetAddr", flow.target.to_string());
}

bool ZapLog::needs_local_address() const { return log::enabled(log::Level::Debug); }

void ZapLog::origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const {
    FERRY_LOG(Debug, "connection origin not in allowed subnets")
        .num("listenerNum", static_cast<int64_t>(listener.number))
        .str("protocol", "tcp")
        .str("listenAdr", listener.address_text)
        .str("remoteAddr", peer.to_string())
        .str("localAddr", local_address(fd).to_string())
        .boolean("dropConnection", true);
}

void ZapLog::accepted(const ConnectionView& c) const {
    if (options_.verbose < 2) return;
    log::Line line(log::Level::Debug, "new connection", "ferry/connection.cpp");
    add_fields(line, c);
}

void ZapLog::attempt_started(const ConnectionView& c, const Attempt&, size_t index) const {
    // After the first open: the line names the target it chose.
    if (options_.verbose < 2 || index != 0) return;
    log::Line line(log::Level::Debug, c.inbound.done_message(), "ferry/connection.cpp");
    add_fields(line, c);
}

void ZapLog::established(const ConnectionView& c, const Attempt&) const {
    if (options_.verbose < 2) return;
    // go-mmproxy 2.1's three lines; both sockets have TCP_NODELAY by now (the client's from the listener).
    for (const char* msg : {"successfully established upstream connection",
                            "successfully set NoDelay on downstream connection",
                            "successfully set NoDelay on upstream connection"}) {
        log::Line line(log::Level::Debug, msg, "ferry/connection.cpp");
        add_fields(line, c);
    }
}

void ZapLog::failed(const ConnectionView& c, Stage, std::string_view message, std::string_view error) const {
    if (options_.verbose < 1 || !log::enabled(options_.drop_level)) return;
    log::Line line(options_.drop_level, message, "ferry/connection.cpp");
    add_fields(line, c);
    line.str("error", error).boolean("dropConnection", true);
}

void ZapLog::closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const {
    if (options_.verbose < 2 || !info.clean) return;
    log::Line line(log::Level::Debug, "connection closing", "ferry/connection.cpp");
    add_fields(line, c);
}

}  // namespace ferry
