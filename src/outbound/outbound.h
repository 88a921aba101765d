// The outbound axis: how a connection reaches its destination. An Outbound is shared, read-only, by every
// connection of a listener; what one dial needs to remember lives in its Attempt.
//
// A connection dials in attempts: open() starts one (choosing the target and, for proxied outbounds, the
// upstream proxy), the engine waits for the TCP connect, then calls handshake() on every readiness change until
// it is Done (the socket now carries the client's stream) or Failed. A failed attempt makes the engine open the
// next one at once, until open() says there is nothing left to try. parallel() attempts may race; the first to
// finish its handshake wins and the others are closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/fd.h"
#include "engine/flow.h"
#include "proto/codec.h"
#include "relay/splice_pump.h"

namespace ferry {

namespace backends {
class Backend;
struct BackendTable;
}

// One dial towards the destination.
struct Attempt {
    Fd fd;
    SocketAddress target;       // where this attempt connects (flow.target is the winner's)
    bool connected = false;     // the TCP connect has finished (or was deferred to the first write: TFO)
    bool payload_out = false;   // client bytes have been written inside the handshake: failing over would
                                // send them twice if this proxy forwarded them already
    uint8_t phase = 0;          // the outbound's handshake progress
    uint32_t sent = 0;          // bytes of the current handshake message already written
    uint32_t payload_len = 0;   // client bytes carried inside the handshake (consumed from the client on success)
    uint64_t timeout_ms = 0;    // bound on connect + handshake; 0: the service's connect timeout
    uint64_t started_ms = 0;    // when open() ran, on the loop's clock
    uint8_t stage = 0;          // which part of the outbound's handshake it is in (the outbound's own values)
    bool from_client = false;   // it is bound to the client's own address (flow.client())
    std::shared_ptr<backends::Backend> via;  // the upstream proxy it goes through; null when direct
};

// Where a connection is in its list of candidates: owned by the connection, interpreted by the Outbound.
struct DialState {
    size_t next = 0;  // candidates opened so far
    // The ranking of upstream proxies taken at the first open, so every attempt of a connection walks the same
    // list whatever the prober publishes meanwhile.
    std::shared_ptr<const backends::BackendTable> candidates;
    bool direct = false;  // the route's policy sent this connection straight to the target
};

struct OpenResult {
    std::string error;     // why no attempt could be started
    int error_code = 0;    // the errno behind `error`, when there is one
    bool exhausted = false;  // nothing (more) to try, or a local failure (out of fds): the connection fails
};

// Whose fault a failed attempt was, which decides what happens next.
enum class Fault : uint8_t {
    Upstream,     // the server dialled failed (unreachable, broken, refused us): counted against it; next one
    Destination,  // the server answered but could not reach the destination: not counted; next one
    Local,        // on our side (the client went away, out of fds): not counted; the connection ends
};

struct HandshakeStep {
    using Status = ParseStatus;  // Failed: the attempt failed
    Status status = Status::Incomplete;
    std::string error;   // on Failed
    int error_code = 0;  // errno behind it, when there is one (SOCKS5 reply codes are derived from it)
    Fault fault = Fault::Upstream;
    bool final = false;  // on Failed: do not try another candidate (the destination refused, or client
                         // bytes may have gone through already)

    static HandshakeStep done() {
        HandshakeStep s;
        s.status = Status::Done;
        return s;
    }
    static HandshakeStep failed(std::string error, int code, Fault fault = Fault::Upstream, bool final = false) {
        HandshakeStep s;
        s.status = Status::Failed;
        s.error = std::move(error);
        s.error_code = code;
        s.fault = fault;
        s.final = final;
        return s;
    }
};

class Outbound {
public:
    virtual ~Outbound() = default;

    // Starts the next attempt: sets flow.target and a.fd (non-blocking, connect in progress or done; a.connected
    // when done), a.timeout_ms, a.backend. Returns false with r filled when no attempt could be started; with
    // r.exhausted when there is nothing more to try (otherwise the engine calls open() again for the next one).
    virtual bool open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t now_ms) const = 0;

    // Drives a connected attempt's handshake: writes its request, reads its reply. `io` is the attempt's socket
    // readiness (cleared on EAGAIN here). `client_fd` is the client socket, whose queued bytes the handshake may
    // peek to send along (a.payload_len); -1 when there is no client (probes). Default: nothing to say.
    virtual HandshakeStep handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                                    std::span<std::byte> scratch) const;

    // Whether open() needs flow.local (the address the client connected to) filled in for every connection.
    virtual bool needs_local_address() const { return false; }

    // How many attempts race at the start (at least 1).
    virtual size_t parallel() const { return 1; }

    // An attempt ended before relaying: failed (whose fault: `fault`), or cancelled (`fault` empty: another
    // attempt won the race, the connection closed, a failure elsewhere ended the connection).
    virtual void attempt_failed(const Flow& flow, const Attempt& a, std::string_view error,
                                std::optional<Fault> fault) const;
    // The winning attempt's connection is relaying; has moved more bytes (client->upstream, back) since the
    // last call (only when wants_relay_bytes(), at most about once a second and at the end); has closed
    // (`error`: the upstream side failed, not a client reset or a timeout).
    virtual void relay_started(const Flow& flow, const Attempt& a) const;
    virtual bool wants_relay_bytes() const { return false; }
    virtual void relay_bytes(const Attempt& a, uint64_t up, uint64_t down) const;
    virtual void relay_closed(const Flow& flow, const Attempt& a, uint64_t bytes_up, uint64_t bytes_down,
                              bool error) const;
};

}  // namespace ferry
