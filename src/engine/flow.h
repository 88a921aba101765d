// What a connection learns in its handshake and what the outbound side needs: plain data, no behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/net_address.h"
#include "proto/proxy_protocol.h"

namespace ferry {

struct Flow {
    SocketAddress peer;         // the frontend peer (the load balancer, the redirected client), IPv4-mapped unmapped
    SocketAddress local;        // our address on the accepted socket
    SocketAddress source;       // the client's own address when a header (PROXY, srcproxy) or TPROXY told it
    // Where the client wanted to go (may be empty). With destination_host set: an unspecified address with only
    // the port when the client asked for a name (SOCKS5 ATYP 3), or the address itself when the name was read
    // from its first bytes (engine/sniff.h).
    SocketAddress destination;
    std::string destination_host;  // the destination's host name, for the upstream proxy to resolve
    SocketAddress target;       // where the outbound connects (chosen by the outbound)
    std::vector<proxy::Tlv> tlvs;  // the TLVs of an incoming PROXY v2 header, for a PROXY v2 header sent upstream
    bool peer_is_client = true;    // false when the peer speaks for the client (a PROXY or srcproxy header)

    // The client's own address: the source a header told, else the peer when the peer is the client; empty
    // when unknown (a PROXY LOCAL header).
    const SocketAddress& client() const {
        static const SocketAddress kNone;
        if (!source.empty()) return source;
        return peer_is_client ? peer : kNone;
    }

    // "192.0.2.1:80", "[2001:db8::1]:443" or "example.com:443".
    std::string destination_text() const {
        if (destination_host.empty()) return destination.to_string();
        return destination_host + ":" + std::to_string(destination.port());
    }
};

}  // namespace ferry
