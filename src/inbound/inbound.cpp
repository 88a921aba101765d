#include "inbound/inbound.h"

namespace ferry {

std::string Inbound::upstream_ready(int, const Flow&, const InboundState&, int) const { return {}; }
bool Inbound::upstream_failed(int, const Flow&, const InboundState&, int) const { return false; }

InboundStep PlainInbound::read(int, Flow&, InboundState&, std::span<std::byte>) const { return InboundStep::done(); }

}  // namespace ferry
