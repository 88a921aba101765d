#include <sys/socket.h>

#include <cerrno>

#include "inbound/srcproxy_inbound.h"
#include "core/socket_util.h"
#include "inbound/srcproxy_acl.h"
#include "proto/srcproxy_header.h"

namespace ferry {
namespace {

using Step = InboundStep;

}  // namespace

InboundStep SrcproxyHeaderInbound::read(int fd, Flow& flow, InboundState&, std::span<std::byte> scratch) const {
    // The longest request is 296 bytes: one peek always sees all of it that has arrived.
    const size_t want = std::min(srcproxy::kMaxHeaderLength, scratch.size());
    const IoResult r = io::peek(fd, scratch.first(want));
    if (r.io == Io::WouldBlock) return {};
    if (r.io == Io::Error) return Step::invalid("failed to read relay request", "read: " + errno_text(r.error));
    if (r.io == Io::Eof) return Step::invalid("failed to read relay request", "EOF");
    auto result = srcproxy::parse(std::span<const std::byte>(scratch.data(), r.bytes));
    if (result.status == srcproxy::Status::Incomplete) return {};  // new bytes come as a new edge
    if (result.status == srcproxy::Status::Invalid)
        return Step::invalid("failed to parse relay request", result.reason);
    flow.peer_is_client = false;  // the srcproxy client speaks for the client
    flow.source = result.source;
    flow.destination = result.destination;
    auto decision = acl_.check(result.auth(), result.source, result.destination);
    if (!decision.allowed()) {
        const bool by_source = decision.verdict != srcproxy::Verdict::DestinationNotAllowed;
        return Step::invalid("relay request rejected",
                       std::string(by_source ? "rejected by src checker: " : "rejected by dst checker: ") +
                           decision.reason);
    }
    if (!io::discard_exactly(fd, result.consumed, scratch))
        return Step::invalid("failed to read relay request", "read: " + errno_text(errno ? errno : EPIPE));
    return Step::done();
}

}  // namespace ferry
