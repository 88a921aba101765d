#include "outbound/outbound.h"

namespace ferry {

HandshakeStep Outbound::handshake(Flow&, Attempt&, SocketReadiness&, int, std::span<std::byte>) const {
    return HandshakeStep::done();
}

void Outbound::attempt_failed(const Flow&, const Attempt&, std::string_view, std::optional<Fault>) const {}
void Outbound::relay_started(const Flow&, const Attempt&) const {}
void Outbound::relay_bytes(const Attempt&, uint64_t, uint64_t) const {}
void Outbound::relay_closed(const Flow&, const Attempt&, uint64_t, uint64_t, bool) const {}

}  // namespace ferry
