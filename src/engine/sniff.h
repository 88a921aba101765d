// The destination's name from the client's first bytes (moproxy's --remote-dns): once the inbound has learned a
// destination address and the client can already speak, the connection peeks (never consumes) what the client
// sends and looks for a TLS ClientHello's server_name or, on port 80, an HTTP request's Host header. A name
// found goes into Flow::destination_host beside the address, and proxies are asked for the name (SOCKS5 ATYP 3,
// CONNECT host:port); a direct connection still goes to the address.
//
// When to wait: on ports 443 and 80 the client speaks first, so the connection waits up to SniffConfig::wait_ms
// for its first bytes (moproxy waits 500 ms on 443). On any other port nothing is waited for unless the first
// bytes are already there when the handshake ends and they begin a TLS handshake record: then the rest of the
// ClientHello is (a hello split over several segments or records is reassembled). A server-speaks-first protocol
// (SSH, SMTP) on another port is never delayed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ferry {

struct SniffConfig {
    uint64_t wait_ms = 500;  // at most this long for the first bytes and for the rest of a split ClientHello
};

struct SniffStep {
    enum class Action : uint8_t { Wait, Proceed };
    Action action = Action::Proceed;
    std::string host;          // on Proceed: the name found; empty when none
    const char* why = "";      // on Proceed without a host: why none (for the debug log)
};

// One look at the client's first bytes, `data` (peeked: everything the client sent so far, up to a bound).
// `port`: the destination's port. `can_wait`: more bytes may still come in time (false once the deadline
// passed, the client finished sending, or the peek buffer is full). Wait: peek again at the next readable edge.
SniffStep sniff_step(uint16_t port, std::span<const std::byte> data, bool can_wait);

// How many bytes a peek for sniff_step needs at the most.
size_t sniff_peek_limit();

}  // namespace ferry
