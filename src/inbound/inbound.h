// The inbound axis: how a connection learns its client and destination. An Inbound is shared, read-only, by
// every connection of a listener; what it learns goes into the connection's Flow, and its own progress through
// a handshake into the connection's InboundState, which only the inbound interprets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "engine/flow.h"
#include "proto/codec.h"

namespace ferry {

struct InboundStep {
    using Status = ParseStatus;
    Status status = Status::Incomplete;
    const char* message = nullptr;  // the log message on Invalid (go-mmproxy's words)
    std::string error;              // the specific reason on Invalid
    bool replied = false;           // on Invalid: the client was sent an error reply; close with a FIN, not an RST
    // On Invalid: the peer itself may not use this service (not a protocol error); the engine rate-limits the
    // log lines of such refusals per source.
    bool refused = false;

    static InboundStep done() {
        InboundStep s;
        s.status = Status::Done;
        return s;
    }
    static InboundStep invalid(const char* message, std::string error, bool replied = false) {
        InboundStep s;
        s.status = Status::Invalid;
        s.message = message;
        s.error = std::move(error);
        s.replied = replied;
        return s;
    }
    static InboundStep refuse(const char* message, std::string error) {
        InboundStep s = invalid(message, std::move(error));
        s.refused = true;
        return s;
    }
};

// An inbound's progress on one connection (e.g. SOCKS5: greeting answered), kept by the connection between
// calls; zero at accept. What the values mean is the inbound's own business.
struct InboundState {
    uint8_t phase = 0;
    uint8_t kind = 0;
};

class Inbound {
public:
    virtual ~Inbound() = default;
    // Called after accept and on every readable edge until Done or Invalid. Reads only the handshake's own
    // bytes: payload that follows stays in the socket for the relay. `scratch` is the loop's buffer. An inbound
    // whose protocol answers the client during the handshake (SOCKS5's method choice) writes here too.
    virtual InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const = 0;

    // Whether the client may send its own first bytes once read() said Done (false: it waits for a reply that
    // comes only once the upstream is ready, as a SOCKS5 client does). A sniffing listener (engine/sniff.h)
    // looks for the destination's name only where it may.
    virtual bool client_speaks(const InboundState&) const { return true; }

    // Log messages: the handshake failed or timed out ("failed to read PROXY header"), it completed (at -v 2),
    // and what the handshake is called in reasons ("PROXY header").
    virtual const char* failure_message() const = 0;
    virtual const char* done_message() const = 0;
    virtual const char* handshake_name() const = 0;

    // The upstream is ready to relay: tell the client if the protocol wants it (SOCKS5 success reply with the
    // address of `upstream_fd` as the bound address). Returns an error text when the client could not be told.
    virtual std::string upstream_ready(int fd, const Flow& flow, const InboundState& state, int upstream_fd) const;
    // No upstream could be reached (`err`: the errno of the last failure, 0 when unknown): send the protocol's
    // failure reply, if it has one, before the connection is closed. True when a reply went out (the
    // connection then closes with a FIN, so the reply is not lost to an RST).
    virtual bool upstream_failed(int fd, const Flow& flow, const InboundState& state, int err) const;
};

// Nothing to learn (`inbound = plain`): the client is the peer, the destination is whatever the outbound's
// fixed target is. Done at once.
class PlainInbound final : public Inbound {
public:
    InboundStep read(int fd, Flow& flow, InboundState& state, std::span<std::byte> scratch) const override;
    const char* failure_message() const override { return "failed to accept connection"; }
    const char* done_message() const override { return "accepted"; }
    const char* handshake_name() const override { return "connection"; }
};

}  // namespace ferry
