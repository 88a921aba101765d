#include "ferry/inbound.h"
#include "ferry/socket_util.h"

namespace ferry {

InboundStep TransparentInbound::read(int fd, Flow& flow, std::span<std::byte>) const {
    flow.local = local_address(fd);  // unmapped
    InboundStep s;
    for (const auto& l : listen_) {
        // The listener's own address (a wildcard listener: its port on any address of ours is as good a sign:
        // TPROXY would have kept the original destination's port).
        if (flow.local == l || (l.is_unspecified() && flow.local.port() == l.port())) {
            s.status = InboundStep::Status::Invalid;
            s.message = "failed to accept connection";
            s.error = "not intercepted: the connection is to " + flow.local.to_string() +
                      ", the listening address itself (no TPROXY rule delivered it)";
            return s;
        }
    }
    flow.destination = flow.local;
    flow.source = flow.peer;
    s.status = InboundStep::Status::Done;
    return s;
}

}  // namespace ferry
