// The outbound axis carried out: one Outbound for every Route (outbound/route.h). It picks the target, walks
// the hop's candidates (the target itself; the ranked proxies, then optionally the target; a srcproxy
// server), opens each with the route's source and socket options (outbound/upstream_socket.h), and drives the
// handshake the route implies (outbound/tunnel.h: a proxy tunnel or the srcproxy request, then a PROXY header).
// It also keeps the ranked proxies' accounting (failures, relays, bytes) that the prober scores them by.
#pragma once

#include "outbound/outbound.h"
#include "outbound/route.h"
#include "outbound/tunnel.h"

namespace ferry {

class Dialer final : public Outbound {
public:
    explicit Dialer(Route route) : route_(std::move(route)) {}

    const Route& route() const { return route_; }

    bool open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t now_ms) const override;
    HandshakeStep handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                            std::span<std::byte> scratch) const override;
    size_t parallel() const override;
    bool needs_local_address() const override { return route_.policy != nullptr; }
    void attempt_failed(const Flow& flow, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override;
    void relay_started(const Flow& flow, const Attempt& a) const override;
    bool wants_relay_bytes() const override { return route_.hop == Route::Hop::Proxies; }
    void relay_bytes(const Attempt& a, uint64_t up, uint64_t down) const override;
    void relay_closed(const Flow& flow, const Attempt& a, uint64_t bytes_up, uint64_t bytes_down,
                      bool error) const override;

    // Where the stream must end up for this flow: the fixed target of the client's family, else the learned
    // destination (empty when there is none); with Route::learned_first the other way round for a known client.
    tunnel::Endpoint endpoint(const Flow& flow) const;
    // Whether endpoint() is the learned destination (what allowed_destinations restricts).
    bool learned_target(const Flow& flow) const;

private:
    // Opens a TCP connection to `to` from the route's source; the attempt's target and error text name `to`.
    bool dial(const SocketAddress& to, bool from_client, Flow& flow, Attempt& a, OpenResult& r) const;
    // The connection straight to the target, from the route's source, as the last candidate.
    bool dial_target(const tunnel::Endpoint& to, Flow& flow, Attempt& a, OpenResult& r) const;

    // At a connection's first attempt through the proxies: its candidates (`table`, or those of its servers the
    // route's policy allows) into state.candidates, or state.direct; false with r filled when the policy
    // refuses the connection (reject, or no server qualifies and no direct fallback).
    bool apply_policy(const Flow& flow, std::shared_ptr<const backends::BackendTable> table, DialState& state,
                      OpenResult& r) const;

    Route route_;
};

}  // namespace ferry
