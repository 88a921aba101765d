#include "outbound/dialer.h"

#include <cerrno>

#include "backends/backend.h"
#include "backends/policy.h"
#include "core/socket_util.h"
#include "outbound/upstream_socket.h"

namespace ferry {
namespace {

// Attempt::stage: the tunnel of the hop (none, a proxy's, the srcproxy request), then the PROXY header.
constexpr uint8_t kTunnel = 0;
constexpr uint8_t kHeader = 1;
constexpr uint8_t kDone = 2;

}  // namespace

tunnel::Endpoint Dialer::endpoint(const Flow& flow) const {
    // The family of the client decides the target, as go-mmproxy does: the client's own address, or for
    // PROXY LOCAL and UNKNOWN the frontend peer.
    const SocketAddress& client = flow.client();
    const SocketAddress& by = client.empty() ? flow.peer : client;
    if (learned_target(flow)) return tunnel::Endpoint::of(flow);
    if (const auto& fixed = by.is_v4() ? route_.target4 : route_.target6) return tunnel::Endpoint{*fixed, {}};
    return tunnel::Endpoint::of(flow);
}

bool Dialer::learned_target(const Flow& flow) const {
    if (route_.learned_first && !flow.client().empty() && !flow.destination.empty()) return true;
    const SocketAddress& client = flow.client();
    const SocketAddress& by = client.empty() ? flow.peer : client;
    return !(by.is_v4() ? route_.target4 : route_.target6);
}

size_t Dialer::parallel() const {
    return route_.hop == Route::Hop::Proxies && route_.race > 1 ? route_.race : 1;
}

bool Dialer::dial(const SocketAddress& to, bool from_client, Flow& flow, Attempt& a, OpenResult& r) const {
    flow.target = to;
    a.target = to;
    UpstreamSocket s;
    s.device = route_.device;
    s.keepalive_seconds = route_.keepalive_seconds;
    // TCP Fast Open only where ferry speaks first (a tunnel, a PROXY header): the SYN waits for a first write,
    // which a server-speaks-first protocol would never send.
    s.tfo = route_.tfo && (a.via || route_.hop == Route::Hop::Srcproxy || route_.send_proxy != SendProxy::None);
    if (from_client && route_.source != Route::Source::Own) {
        // From the client's own address. A client that is not known (PROXY LOCAL) connects from ours, with
        // none of the options, as go-mmproxy's dialer does.
        if (const SocketAddress& client = flow.client(); !client.empty()) {
            s.bind = route_.source == Route::Source::Client ? UpstreamSocket::Bind::Transparent
                                                            : UpstreamSocket::Bind::Freebind;
            s.from = client;
            s.transparent_if_permitted = route_.transparent_if_permitted;
            s.mark = route_.mark;
            s.syn_retries = route_.syn_retries;
            a.from_client = true;
        }
    } else {
        s.mark = route_.mark;
        if (route_.bind_ip) {
            s.bind = UpstreamSocket::Bind::Own;
            s.from = *route_.bind_ip;
        }
    }
    UpstreamResult u = open_upstream(to, s);
    if (!u.fd) {
        r.error = "dial tcp " + (a.from_client ? flow.client().to_string() + "->" : std::string()) + to.to_string() +
                  ": " + u.error;
        r.error_code = u.error_code;
        r.exhausted = u.out_of_sockets;  // out of fds: no other candidate would do better
        return false;
    }
    a.fd = std::move(u.fd);
    a.connected = u.connected;
    return true;
}

bool Dialer::dial_target(const tunnel::Endpoint& to, Flow& flow, Attempt& a, OpenResult& r) const {
    if (!to.host.empty() && to.address.is_unspecified()) {
        r.error = "direct connection to " + to.text() + ": host names are only resolved by proxies";
        r.error_code = EHOSTUNREACH;
    } else if (dial(to.address, true, flow, a, r)) {
        return true;
    }
    r.exhausted = true;  // the last candidate: its failure ends the connection
    return false;
}

bool Dialer::open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t) const {
    const size_t index = state.next++;
    const tunnel::Endpoint to = endpoint(flow);
    auto refuse = [&](std::string error, int code) {
        r.error = std::move(error);
        r.error_code = code;
        r.exhausted = true;
        return false;
    };
    if (index == 0) {
        if (to.address.empty()) {
            flow.target = {};
            return refuse("no target for this address family", 0);
        }
        if (learned_target(flow) && !route_.allowed_destinations.empty()) {
            bool allowed = false;
            for (const auto& rule : route_.allowed_destinations)
                allowed = allowed || ((to.host.empty() || !to.address.is_unspecified()) && rule.contains(to.address));
            if (!allowed) return refuse("destination " + to.text() + " is not in the allowed destinations", EACCES);
        }
    }
    if (route_.hop == Route::Hop::Direct) {
        if (index > 0) return refuse({}, 0);  // one target, one attempt: a failed dial is final
        return dial_target(to, flow, a, r);
    }
    if (route_.hop == Route::Hop::Srcproxy) {
        if (index > 0) return refuse({}, 0);
        if (!to.host.empty() && to.address.is_unspecified())
            return refuse("srcproxy to " + to.text() + ": the relay request carries addresses, not host names",
                          EHOSTUNREACH);
        if (dial(route_.srcproxy_server, false, flow, a, r)) return true;
        r.exhausted = true;
        return false;
    }
    if (!state.candidates) {
        const backends::PublishedTable* current = route_.table ? route_.table->read() : nullptr;
        std::shared_ptr<const backends::BackendTable> table;
        if (current && current->table)
            table = current->table;
        else
            table = std::make_shared<backends::BackendTable>();
        if (!apply_policy(flow, std::move(table), state, r)) return false;
    }
    if (state.direct) {
        if (index > 0) return refuse({}, 0);
        a.timeout_ms = route_.max_wait_ms;
        return dial_target(to, flow, a, r);
    }
    const backends::BackendTable& table = *state.candidates;
    if (index < table.ranked.size()) {
        const auto& backend = table.ranked[index].backend;
        const backends::ServerConfig& server = backend->config();
        a.via = backend;
        a.timeout_ms = server.max_wait_ms ? *server.max_wait_ms : route_.max_wait_ms;
        if (dial(server.address, false, flow, a, r)) return true;
        if (!r.exhausted) backend->record_failure();  // not our own shortage: the server's; the next one
        return false;
    }
    if (index == table.ranked.size() && route_.allow_direct) {
        a.timeout_ms = route_.max_wait_ms;
        return dial_target(to, flow, a, r);
    }
    r.exhausted = true;
    // Keep the last attempt's reason (the engine has it); say why only when nothing was tried at all.
    if (table.ranked.empty() && !route_.allow_direct) {
        r.error = "no upstream proxy configured";
        r.error_code = ENETUNREACH;
    }
    return false;
}

bool Dialer::apply_policy(const Flow& flow, std::shared_ptr<const backends::BackendTable> table, DialState& state,
                          OpenResult& r) const {
    const policy::Published* published = route_.policy ? route_.policy->read() : nullptr;
    if (!published || !published->policy) {
        state.candidates = std::move(table);
        return true;
    }
    const policy::Policy& rules = *published->policy;
    policy::Request request;
    if (!flow.local.empty()) request.listen_port = flow.local.port();
    // With a host name, the destination holds only the port unless the IP is known as well (a sniffed name).
    if (!flow.destination.empty() && (flow.destination_host.empty() || !flow.destination.is_unspecified()))
        request.dst_ip = flow.destination;
    request.dst_domain = flow.destination_host;
    const policy::Action action = rules.match(request);
    auto because = [&] {
        std::string where = rules.where(action);
        return " (policy " + action.to_string() + (where.empty() ? "" : ", from " + where) + ")";
    };
    if (action.verdict == policy::Verdict::Reject) {
        r.error = "rejected by policy" + because();
        r.error_code = EACCES;  // SOCKS5 clients hear "connection not allowed by ruleset"
        r.exhausted = true;
        return false;
    }
    if (action.verdict == policy::Verdict::Direct) {
        state.direct = true;
        state.candidates = std::make_shared<backends::BackendTable>();
        return true;
    }
    if (action.required.empty()) {
        state.candidates = std::move(table);
        return true;
    }
    auto allowed = std::make_shared<backends::BackendTable>();
    allowed->version = table->version;
    allowed->built_unix_ms = table->built_unix_ms;
    for (const auto& ranked : table->ranked)
        if (policy::satisfies(action, ranked.backend->config().capabilities)) allowed->ranked.push_back(ranked);
    if (allowed->ranked.empty() && !route_.allow_direct) {
        r.error = "no upstream proxy satisfies the policy" + because();
        r.error_code = ENETUNREACH;
        r.exhausted = true;
        return false;
    }
    state.candidates = std::move(allowed);
    return true;
}

HandshakeStep Dialer::handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                                std::span<std::byte> scratch) const {
    if (a.stage == kTunnel) {
        HandshakeStep step = HandshakeStep::done();
        if (a.via) {
            // Racing attempts never carry client bytes (only the winner's socket relays them), nor do tunnels
            // that a PROXY header must follow.
            const bool carry = parallel() == 1 && route_.send_proxy == SendProxy::None;
            step = tunnel::proxy_handshake(a.via->config(), endpoint(flow), a, io, carry ? client_fd : -1, scratch);
        } else if (route_.hop == Route::Hop::Srcproxy) {
            step = tunnel::srcproxy_request(route_.srcproxy_auth, endpoint(flow).address, flow.client(), a, io);
        }
        if (step.status != HandshakeStep::Status::Done) return step;
        a.stage = kHeader;
        a.sent = 0;
    }
    if (a.stage == kHeader && route_.send_proxy != SendProxy::None) {
        // The address the client connected to: where it wanted to go, or this host.
        if (flow.destination.empty() && flow.local.empty() && client_fd >= 0) flow.local = local_address(client_fd);
        const SocketAddress& to = flow.destination.empty() ? flow.local : flow.destination;
        HandshakeStep step = tunnel::proxy_header(route_.send_proxy, flow, flow.client(), to, a, io);
        if (step.status != HandshakeStep::Status::Done) return step;
    }
    a.stage = kDone;
    return HandshakeStep::done();
}

void Dialer::attempt_failed(const Flow&, const Attempt& a, std::string_view, std::optional<Fault> fault) const {
    if (a.via && fault == Fault::Upstream) a.via->record_failure();
}

void Dialer::relay_started(const Flow&, const Attempt& a) const {
    if (a.via) {
        a.via->record_relay_start();
    } else if (route_.hop == Route::Hop::Proxies && route_.direct_stats) {
        route_.direct_stats->alive.fetch_add(1, std::memory_order_relaxed);
        route_.direct_stats->total.fetch_add(1, std::memory_order_relaxed);
    }
}

void Dialer::relay_bytes(const Attempt& a, uint64_t up, uint64_t down) const {
    if (a.via) a.via->record_bytes(up, down);
}

void Dialer::relay_closed(const Flow&, const Attempt& a, uint64_t, uint64_t, bool error) const {
    if (a.via)
        a.via->record_close(error);
    else if (route_.hop == Route::Hop::Proxies && route_.direct_stats)
        route_.direct_stats->alive.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace ferry
