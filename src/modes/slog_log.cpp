#include "modes/slog_log.h"

#include <string>

#include "core/socket_util.h"
#include "inbound/inbound.h"

namespace ferry {
namespace {

constexpr const char* kCaller = "ferry/connection.cpp";  // not shown: slog lines carry no caller

void listener_fields(log::Line& line, const ListenerInfo& l) {
    line.num("listenerNum", static_cast<int64_t>(l.number)).str("protocol", "TCP").str("listenAddr", l.address_text);
}

}  // namespace

std::string_view SlogLog::reason(std::string_view message) {
    if (message == "failed to establish upstream connection") return "failed to establish backend connection";
    if (message == "failed to write data to upstream connection") return "failed to write data to backend connection";
    return message;
}

void SlogLog::add_fields(log::Line& line, const ConnectionView& c) const {
    const Flow& flow = c.flow;
    listener_fields(line, c.listener);
    line.str("frontendRemoteAddr", flow.peer.to_string()).str("frontendLocalAddr", flow.local.to_string());
    if (!c.handshake_done) return;
    line.str("clientAddr", flow.source.empty() ? "UNKNOWN" : flow.source.to_string());
    if (!flow.target.empty()) line.str("targetAddr", flow.target.to_string());
}

bool SlogLog::needs_local_address() const { return log::enabled(log::Level::Debug); }

void SlogLog::listening(const ListenerInfo& l) const {
    log::Line line(log::Level::Info, "listening", kCaller);
    listener_fields(line, l);
}

void SlogLog::origin_refused(const ListenerInfo& l, const SocketAddress& peer, int fd) const {
    if (!log::enabled(log::Level::Debug)) return;
    log::Line line(log::Level::Debug, "dropping connection", kCaller);
    listener_fields(line, l);
    line.str("frontendRemoteAddr", peer.to_string())
        .str("frontendLocalAddr", local_address(fd).to_string())
        .str("error", "connection origin not in allowed subnets");
}

void SlogLog::accepted(const ConnectionView& c) const {
    if (verbose_ < 2) return;
    log::Line line(log::Level::Debug, "new connection", kCaller);
    add_fields(line, c);
}

void SlogLog::attempt_started(const ConnectionView& c, const Attempt&, size_t index) const {
    if (verbose_ < 2 || index != 0) return;
    log::Line line(log::Level::Debug, c.inbound.done_message(), kCaller);
    add_fields(line, c);
}

void SlogLog::established(const ConnectionView& c, const Attempt&) const {
    if (verbose_ < 2) return;
    for (const char* msg : {"successfully established backend connection",
                            "successfully set NoDelay on frontend connection",
                            "successfully set NoDelay on backend connection"}) {
        log::Line line(log::Level::Debug, msg, kCaller);
        add_fields(line, c);
    }
}

void SlogLog::failed(const ConnectionView& c, Stage, std::string_view message, std::string_view error) const {
    if (verbose_ < 1 || !log::enabled(log::Level::Debug)) return;
    log::Line line(log::Level::Debug, "dropping connection", kCaller);
    add_fields(line, c);
    std::string text(reason(message));
    if (!error.empty()) text += ": " + std::string(error);
    line.str("error", text);
}

void SlogLog::closed(const ConnectionView& c, const Attempt&, const CloseInfo& info) const {
    if (verbose_ < 2 || !info.clean) return;
    const char* up = "read frontend -> write backend";
    const char* down = "read backend -> write frontend";
    for (const char* direction : {info.client_first ? up : down, info.client_first ? down : up}) {
        log::Line line(log::Level::Debug, "connection shutdown for read", kCaller);
        add_fields(line, c);
        line.str("direction", direction);
    }
    log::Line line(log::Level::Debug, "connection closing", kCaller);
    add_fields(line, c);
}

}  // namespace ferry
