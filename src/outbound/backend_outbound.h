// The moproxy mode's outbound: through the best upstream proxy of the current BackendTable (SOCKS5 or HTTP
// CONNECT), the next one when an attempt fails, optionally racing the first N, and a direct connection when
// every proxy failed and --allow-direct is set.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

#include "backends/backend.h"
#include "outbound/outbound.h"

namespace ferry::backends {

class BackendOutbound final : public Outbound {
public:
    struct Config {
        const TableCell* table = nullptr;
        bool allow_direct = false;
        unsigned n_parallel = 1;
        bool tfo = true;             // TCP Fast Open (TCP_FASTOPEN_CONNECT) towards the proxies
        unsigned max_wait_ms = 4000; // connect + handshake, unless the server has its own `max wait`
        int keepalive_seconds = 15;
    };
    explicit BackendOutbound(Config config);

    bool open(Flow& flow, Attempt& a, DialState& state, OpenResult& r, uint64_t now_ms) const override;
    HandshakeStep handshake(Flow& flow, Attempt& a, SocketReadiness& io, int client_fd,
                            std::span<std::byte> scratch) const override;
    size_t parallel() const override { return config_.n_parallel ? config_.n_parallel : 1; }
    void attempt_failed(const Flow& flow, const Attempt& a, std::string_view error,
                        std::optional<Fault> fault) const override;
    void relay_started(const Flow& flow, const Attempt& a) const override;
    bool wants_relay_bytes() const override { return true; }
    void relay_bytes(const Attempt& a, uint64_t up, uint64_t down) const override;
    void relay_closed(const Flow& flow, const Attempt& a, uint64_t bytes_up, uint64_t bytes_down,
                      bool error) const override;

    // Connections that went direct (--allow-direct), for the status page.
    uint64_t direct_alive() const { return direct_alive_.load(std::memory_order_relaxed); }
    uint64_t direct_total() const { return direct_total_.load(std::memory_order_relaxed); }

    // Shared with the prober. Starts a TCP connect to `server` (non-blocking; with TFO the connect may be
    // deferred to the first write, which then carries the handshake in the SYN). Sets flow.target.
    static bool dial(const ServerConfig& server, Flow& flow, Attempt& a, OpenResult& r, bool tfo,
                     int keepalive_seconds);
    // Drives the proxy handshake towards flow.destination (or flow.destination_host) on a connected attempt.
    // `client_fd` >= 0 lets it peek the client's first bytes and send them along (pipelined SOCKS5, HTTP with
    // `http allow connect payload`); a.payload_len is how many went, for the caller to consume on success.
    static HandshakeStep proxy_handshake(const ServerConfig& server, Flow& flow, Attempt& a, SocketReadiness& io,
                                         int client_fd, std::span<std::byte> scratch);

private:
    Config config_;
    DirectOutbound direct_;
    mutable std::atomic<uint64_t> direct_alive_{0};
    mutable std::atomic<uint64_t> direct_total_{0};
};

}  // namespace ferry::backends
