// What an outbound says to its upstream before the client's stream: the handshakes of outbound/route.h's hop
// and header parts, as edge-triggered steps over a connected socket. Each step writes its message (resuming at
// Attempt::sent after a short write) and reads the reply (peeked, parsed by the pure codecs of proto/, and
// consumed exactly, so what follows stays queued for the relay).
#pragma once

#include <span>
#include <string>

#include "backends/server_list.h"
#include "core/io.h"
#include "core/net_address.h"
#include "engine/flow.h"
#include "outbound/outbound.h"
#include "outbound/route.h"

namespace ferry::tunnel {

// Where a tunnel asks to be connected: an address, or a host name and port (SOCKS5 ATYP 3, CONNECT host:port)
// for the upstream proxy to resolve.
struct Endpoint {
    // With `host` set: only its port when the client asked for a name (SOCKS5 ATYP 3), or the address the name
    // was found for (a sniffed TLS server_name / HTTP Host), where a direct connection goes.
    SocketAddress address;
    std::string host;

    // The flow's destination as the client asked for it.
    static Endpoint of(const Flow& flow);
    std::string text() const;  // "192.0.2.1:80", "[2001:db8::1]:443" or "example.com:443"
};

// Through an upstream SOCKS5 (RFC 1928, with RFC 1929 username/password; or the pipelined variant) or HTTP
// CONNECT (with Basic auth) proxy, to `to`. `client_fd` >= 0 lets it peek the client's first bytes and send
// them along (pipelined SOCKS5, HTTP with `http allow connect payload`); a.payload_len is how many went, for
// the caller to consume on success. Uses a.phase, a.sent, a.payload_*.
HandshakeStep proxy_handshake(const backends::ServerConfig& server, const Endpoint& to, Attempt& a,
                              SocketReadiness& io, int client_fd, std::span<std::byte> scratch);

// The srcproxy relay request (proto/srcproxy_header.h): the auth digest, the destination `to`, and the
// client's address as the source. The server never answers: done once written. Uses a.sent.
HandshakeStep srcproxy_request(const Sha256Digest& auth, const SocketAddress& to, const SocketAddress& client,
                               Attempt& a, SocketReadiness& io);

// A PROXY v1 or v2 header (HAProxy's send-proxy / send-proxy-v2): `client` as the source (LOCAL / UNKNOWN
// when it is empty), `to` as the destination, and for v2 the TLVs that came in with the client's own header
// (flow.tlvs). Done once written. Uses a.sent.
HandshakeStep proxy_header(SendProxy version, const Flow& flow, const SocketAddress& client, const SocketAddress& to,
                           Attempt& a, SocketReadiness& io);

}  // namespace ferry::tunnel
