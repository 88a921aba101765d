// What a connection learns in its handshake and what the outbound side needs: plain data, no behaviour.
#pragma once

#include <string>

#include "ferry/net_address.h"

namespace ferry {

struct Flow {
    SocketAddress peer;         // the frontend peer (the load balancer), IPv4-mapped addresses unmapped
    SocketAddress local;        // our address on the accepted socket
    SocketAddress source;       // connect from here; empty means the proxy's own address
    SocketAddress destination;  // where the inbound protocol says the client wanted to go (may be empty)
    SocketAddress target;       // where the outbound connects (chosen by the outbound)
};

}  // namespace ferry
