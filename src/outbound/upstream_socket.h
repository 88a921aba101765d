// The one place an upstream TCP socket is made: options, binding (our own address, or the client's with
// IP_TRANSPARENT / IP_FREEBIND), and a non-blocking connect. Every hop of outbound/dialer.h and the prober's
// probes go through it.
#pragma once

#include <cstdint>
#include <string>

#include "core/fd.h"
#include "core/net_address.h"

namespace ferry {

struct UpstreamSocket {
    enum class Bind : uint8_t {
        None,         // the kernel picks the source
        Own,          // bind(2) to `from` (port 0: only the address is chosen)
        Transparent,  // bind to `from`, a foreign address, with IP_TRANSPARENT (CAP_NET_ADMIN)
        Freebind,     // bind to `from`, a foreign address, with IP_FREEBIND (+ IP_TRANSPARENT when permitted)
    };
    Bind bind = Bind::None;
    SocketAddress from;
    bool transparent_if_permitted = true;  // with Freebind
    uint32_t mark = 0;          // SO_MARK when non-zero
    std::string device;         // SO_BINDTODEVICE when not empty
    bool tfo = false;           // TCP_FASTOPEN_CONNECT: the first write sends the SYN (with data when it can)
    int syn_retries = 0;        // TCP_SYNCNT when > 0
    int keepalive_seconds = 15; // 0: off
};

struct UpstreamResult {
    Fd fd;                  // valid on success: connect in progress, or done (`connected`)
    bool connected = false;
    int error_code = 0;     // on failure
    bool out_of_sockets = false;  // on failure: socket(2) itself failed (our side: no other target would do better)
    std::string error;      // on failure: "socket: ...", "bind: ...", "connect: ...", "setsockopt(...): ..."
};

// A non-blocking TCP socket towards `to`, set up as `s` says, with the connect started.
UpstreamResult open_upstream(const SocketAddress& to, const UpstreamSocket& s);

}  // namespace ferry
