// The engine emits, the modes speak (nginx's log phase, HAProxy's log-format): what happens to each connection is
// reported to its listener's ConnectionObserver, and every per-connection log line or count a mode keeps is an
// observer living in that mode's folder. The engine itself never learns a log format.
//
// Events of one connection, in order:
//   accepted -> dialing -> attempt_started / attempt_failed ... -> established -> closed
//                       \-> failed (at any stage; then closed if the relay had started)
// Called on the loop thread that owns the connection. An observer is shared by every connection of a listener
// (and by every loop), so it keeps no per-connection state of its own; it formats, writes and counts, and never
// blocks or touches the sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/net_address.h"
#include "engine/flow.h"
#include "outbound/outbound.h"

namespace ferry {

class Inbound;

// One listening socket, as log lines name it.
struct ListenerInfo {
    size_t number = 0;         // counts every listening socket of the process, in the order they were bound
    SocketAddress address;     // what it listens on
    std::string address_text;  // address.to_string(), made once
    std::string name;          // the listener's name in `ferry run` files; empty in the modes
    size_t socket = 0;         // which of the address's SO_REUSEPORT sockets (0: the first)
};

// What every event sees of its connection.
struct ConnectionView {
    const Flow& flow;
    const ListenerInfo& listener;
    const Inbound& inbound;
    bool handshake_done;  // the inbound has learned what it learns (flow.source, flow.destination, ...)
    uint64_t started_ms;  // when it was accepted, on the loop's clock
    bool refused = false;  // on `failed`: the inbound refused the peer itself (InboundStep::refused)
};

// Where a connection was when it failed.
enum class Stage : uint8_t { Handshake, Dialing, Relaying };

struct CloseInfo {
    uint64_t bytes_up = 0;    // client -> upstream, delivered
    uint64_t bytes_down = 0;  // upstream -> client, delivered
    uint64_t duration_ms = 0;
    bool clean = false;           // both directions ended with an EOF (otherwise `failed` came first)
    bool client_first = false;    // clean: the client's EOF came first
    bool upstream_error = false;  // the relay ended because the upstream side failed
    bool shutdown = false;        // closed because the process stops
};

class ConnectionObserver {
public:
    // Whether events should find flow.local filled in for every connection (a getsockname per connection);
    // inbounds that need it fill it in anyway.
    virtual bool needs_local_address() const { return false; }
    // A listening socket of this listener is bound (before any loop runs).
    virtual void listening(const ListenerInfo& listener) const;
    // A connection from a peer outside the listener's allowed subnets was closed at once (`fd`: the accepted
    // socket, still open).
    virtual void origin_refused(const ListenerInfo& listener, const SocketAddress& peer, int fd) const;
    // Overload protection refused a connection from `peer` at accept (a per-source limit: `reason` says which)
    // and closed it. Rate-limited by the engine: at most one call per source per interval, `not_logged` counting
    // the refusals of that source since the previous call.
    virtual void overload_refused(const ListenerInfo& listener, const SocketAddress& peer, std::string_view reason,
                                  uint64_t not_logged) const;
    // A connection was accepted; its handshake starts.
    virtual void accepted(const ConnectionView& c) const;
    // A sniffing listener (ListenerConfig::sniff) looked at the client's first bytes for the destination's name:
    // c.flow.destination_host holds the name found, or `why_none` says why there is none.
    virtual void named(const ConnectionView& c, std::string_view why_none) const;
    // The handshake is done and the first attempt is about to be opened.
    virtual void dialing(const ConnectionView& c) const;
    // The outbound was asked for attempt number `index` (0 first); `a.fd` is valid when it could start one.
    virtual void attempt_started(const ConnectionView& c, const Attempt& a, size_t index) const;
    // An attempt ended without winning: failed (`fault`), or cancelled (no fault: another one won, or the
    // connection ended).
    virtual void attempt_failed(const ConnectionView& c, const Attempt& a, std::string_view error,
                                std::optional<Fault> fault) const;
    // The upstream is connected and its handshake done: the relay starts (`a`: the winning attempt).
    virtual void established(const ConnectionView& c, const Attempt& a) const;
    // The connection ends on a failure: `message` is the engine's summary ("failed to establish upstream
    // connection", "connection broken", or the inbound's failure_message()), `error` the specific reason.
    virtual void failed(const ConnectionView& c, Stage stage, std::string_view message,
                        std::string_view error) const;
    // A connection whose relay had started is gone (after `failed`, when it failed): its bytes and how it ended.
    virtual void closed(const ConnectionView& c, const Attempt& a, const CloseInfo& info) const;

protected:
    ~ConnectionObserver() = default;
};

// A listener nobody listens to: every event ignored (and no "listening" line).
class SilentObserver final : public ConnectionObserver {
public:
    void listening(const ListenerInfo&) const override {}
};

}  // namespace ferry
