#include "modes/run/run_log.h"

#include "backends/backend.h"
#include "support/log.h"

namespace ferry::run {
namespace {

// The client as the connection knows it: its own address when known, else the peer.
std::string client_text(const Flow& f) {
    const SocketAddress& c = f.client();
    return (c.empty() ? f.peer : c).to_string();
}

std::string destination_text(const Flow& f) {
    return f.destination.empty() && f.destination_host.empty() ? std::string("-") : f.destination_text();
}

std::string via_text(const Attempt& a) { return a.via ? a.via->config().tag : std::string("direct"); }

const char* stage_name(Stage s) {
    switch (s) {
        case Stage::Handshake: return "handshake";
        case Stage::Dialing: return "dialing";
        case Stage::Relaying: return "relaying";
    }
    return "";
}

}  // namespace

void ConnectionLog::listening(const ListenerInfo& l) const {
    if (l.socket != 0) return;  // one line per address, not per SO_REUSEPORT socket
    FERRY_LOG(Info, "listening").str("listener", l.name).str("listenAdr", l.address_text);
}

void ConnectionLog::origin_refused(const ListenerInfo& l, const SocketAddress& peer, int) const {
    FERRY_LOG(Debug, "connection origin not in allowed subnets")
        .str("listener", l.name)
        .str("remoteAddr", peer.to_string());
}

void ConnectionLog::attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                                   std::optional<Fault> fault) const {
    if (!a.via || !fault) return;
    FERRY_LOG(Warn, *fault == Fault::Upstream ? "proxy attempt failed"
                                              : "attempt through proxy failed, not the proxy's fault")
        .str("listener", c.listener.name)
        .str("server", a.via->config().tag)
        .str("client", client_text(c.flow))
        .str("destination", destination_text(c.flow))
        .str("error", error);
}

void ConnectionLog::established(const ConnectionView& c, const Attempt& a) const {
    FERRY_LOG(Info, "relaying")
        .str("listener", c.listener.name)
        .str("remoteAddr", c.flow.peer.to_string())
        .str("client", client_text(c.flow))
        .str("destination", destination_text(c.flow))
        .str("via", via_text(a))
        .str("targetAddr", c.flow.target.to_string())
        .str("source", a.from_client ? c.flow.client().to_string() : std::string("own"));
}

void ConnectionLog::failed(const ConnectionView& c, Stage stage, std::string_view message,
                           std::string_view error) const {
    const log::Level level = stage == Stage::Handshake ? log::Level::Debug : log::Level::Info;
    if (!log::enabled(level)) return;
    log::Line line(level, message, "ferry/run_log.cpp");
    line.str("listener", c.listener.name).str("stage", stage_name(stage)).str("remoteAddr", c.flow.peer.to_string());
    if (c.handshake_done) line.str("client", client_text(c.flow)).str("destination", destination_text(c.flow));
    line.str("error", error);
}

void ConnectionLog::closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const {
    FERRY_LOG(Debug, "closed")
        .str("listener", c.listener.name)
        .str("client", client_text(c.flow))
        .str("destination", destination_text(c.flow))
        .str("via", via_text(a))
        .num("bytesUp", static_cast<int64_t>(info.bytes_up))
        .num("bytesDown", static_cast<int64_t>(info.bytes_down))
        .num("durationMs", static_cast<int64_t>(info.duration_ms))
        .boolean("clean", info.clean);
}

}  // namespace ferry::run
