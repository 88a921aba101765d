#include <sys/socket.h>

#include "core/fd.h"
#include "inbound/transparent_inbound.h"
#include "core/socket_util.h"

namespace ferry {
namespace {

// Whether `a` is an address of this host: a plain socket (no IP_TRANSPARENT or IP_FREEBIND) can bind it.
bool is_local(const SocketAddress& a) {
    Fd fd(::socket(a.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return false;
    SocketAddress probe = a;
    probe.set_port(0);
    return ::bind(fd.get(), probe.sa(), probe.length) == 0;
}

}  // namespace

InboundStep TransparentInbound::read(int fd, Flow& flow, InboundState&, std::span<std::byte>) const {
    flow.local = local_address(fd);  // unmapped
    for (const auto& l : listen_) {
        // The listener's own address; for a wildcard listener, its port on an address of this host (an
        // intercepted flow's destination is foreign, whatever its port).
        if (flow.local == l || (l.is_unspecified() && flow.local.port() == l.port() && is_local(flow.local))) {
            return InboundStep::invalid("failed to accept connection",
                                        "not intercepted: the connection is to " + flow.local.to_string() +
                                            ", the listening address itself (no TPROXY rule delivered it)");
        }
    }
    flow.destination = flow.local;
    flow.source = flow.peer;
    return InboundStep::done();
}

}  // namespace ferry
