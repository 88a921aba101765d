// libFuzzer target for the destination-name sniffers of moproxy's --remote-dns (src/proto/destination_name.*:
// parse_client_hello(), parse_http_host()), fed a client's first bytes. Input: those bytes, tried as each.
// Invariants:
//   - the incremental contract of fuzz_util.h's check_incremental: a verdict never changes as bytes arrive, Done
//     says where the message ends (never past the input, never nothing);
//   - Invalid iff a reason is set; Done names a host that is empty or is_host_name() and has no capital letter and
//     no trailing dot;
//   - parsing the same bytes twice gives the same result;
//   - engine/sniff.h's sniff_step over the same bytes (ports 443, 80, 8443; waiting allowed or not): it never waits
//     when it may not, nor on bytes that are not a TLS record (or an HTTP head on 80); a host it returns is the
//     parser's host.
#include "engine/sniff.h"
#include "proto/destination_name.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>

namespace {

using ferry::ParseStatus;
using ferry::fuzz::require;
namespace dn = ferry::destination_name;

void check(const dn::Name& n) {
    require((n.status == ParseStatus::Invalid) == !n.reason.empty());
    if (n.status != ParseStatus::Done) return;
    require(n.host.empty() || dn::is_host_name(n.host));
    for (char c : n.host) require(!(c >= 'A' && c <= 'Z'));
    require(n.host.empty() || n.host.back() != '.');
}

template <typename Parse>
void exercise(std::span<const std::byte> data, Parse parse) {
    const dn::Name whole = parse(data);
    check(whole);
    const dn::Name again = parse(data);
    require(again.status == whole.status && again.host == whole.host && again.consumed == whole.consumed &&
            again.reason == whole.reason);
    ferry::fuzz::check_incremental(data, [&](std::span<const std::byte> prefix) {
        const dn::Name n = parse(prefix);
        check(n);
        return ferry::fuzz::Verdict{n.status, n.consumed};
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> bytes = ferry::fuzz::copy_bytes(data, size);
    exercise(bytes, [](std::span<const std::byte> d) { return dn::parse_client_hello(d); });
    exercise(bytes, [](std::span<const std::byte> d) { return dn::parse_http_host(d); });
    for (uint16_t port : {443, 80, 8443}) {
        for (bool can_wait : {true, false}) {
            const ferry::SniffStep s = ferry::sniff_step(port, bytes, can_wait);
            if (s.action == ferry::SniffStep::Action::Wait) {
                require(can_wait);
                require(bytes.empty() ? port != 8443 : (bytes[0] == std::byte{0x16} || port == 80));
                continue;
            }
            require(s.host.empty() != (*s.why == '\0'));
            if (!s.host.empty()) {
                const dn::Name n =
                    bytes[0] == std::byte{0x16} ? dn::parse_client_hello(bytes) : dn::parse_http_host(bytes);
                require(n.status == ParseStatus::Done && n.host == s.host);
            }
        }
    }
    return 0;
}
