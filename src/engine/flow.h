// What a connection learns in its handshake and what the outbound side needs: plain data, no behaviour.
#pragma once

#include <cstdint>
#include <string>

#include "core/net_address.h"

namespace ferry {

struct Flow {
    SocketAddress peer;         // the frontend peer (the load balancer, the redirected client), IPv4-mapped unmapped
    SocketAddress local;        // our address on the accepted socket
    SocketAddress source;       // connect from here; empty means the proxy's own address
    SocketAddress destination;  // where the client wanted to go (may be empty); only its port when destination_host is set
    std::string destination_host;  // a host name the client asked for (SOCKS5 ATYP 3), resolved by the upstream proxy
    SocketAddress target;       // where the outbound connects (chosen by the outbound)
    uint8_t inbound_phase = 0;  // the inbound protocol's own progress (e.g. SOCKS5: greeting answered)
    uint8_t inbound_kind = 0;   // which protocol the inbound found on this connection (the inbound's own values)

    // "192.0.2.1:80", "[2001:db8::1]:443" or "example.com:443".
    std::string destination_text() const {
        if (destination_host.empty()) return destination.to_string();
        return destination_host + ":" + std::to_string(destination.port());
    }
};

}  // namespace ferry
