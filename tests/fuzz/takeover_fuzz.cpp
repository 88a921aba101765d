// libFuzzer target for what a successor reads from the takeover socket and hands to the front end
// (src/engine/takeover.*: parse_manifest(), parse_hello(); src/backends/saved_state.*: parse_saved_servers(),
// moproxy's server statistics inside the manifest's state). Input: the bytes of one JSON document, tried as each.
// Invariants:
//   - no crash, leak or undefined behaviour on any input; an error text exactly when the result is empty;
//   - a parsed manifest encodes and parses back to the same sockets, pid, version and state;
//   - parsed saved servers encode and parse back to the same servers (their counters, score state and history),
//     and never keep more history than asked.
#include "backends/saved_state.h"
#include "engine/takeover.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

using ferry::fuzz::require;
namespace takeover = ferry::takeover;
namespace backends = ferry::backends;

constexpr size_t kHistory = 60;

bool same(const backends::SavedServer& a, const backends::SavedServer& b) {
    return a.tag == b.tag && a.protocol == b.protocol && a.address == b.address && a.score == b.score &&
           a.history == b.history && a.last_delay == b.last_delay && a.conn_total == b.conn_total &&
           a.conn_error == b.conn_error && a.tx_bytes == b.tx_bytes && a.rx_bytes == b.rx_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);  // exact size: overreads are reported

    std::string error;
    if (auto m = takeover::parse_manifest(text, &error)) {
        require(error.empty());
        std::string again_error;
        auto again = takeover::parse_manifest(takeover::encode_manifest(*m), &again_error);
        require(again.has_value());
        require(again->pid == m->pid && again->version == m->version && again->state == m->state);
        require(again->sockets.size() == m->sockets.size());
        for (size_t i = 0; i < m->sockets.size(); ++i) {
            require(again->sockets[i].kind == m->sockets[i].kind);
            require(again->sockets[i].address == m->sockets[i].address);
            require(again->sockets[i].name == m->sockets[i].name && again->sockets[i].path == m->sockets[i].path);
        }
    } else {
        require(!error.empty());
    }

    error.clear();
    if (auto pid = takeover::parse_hello(text, &error)) {
        require(error.empty() && *pid > 0);
    } else {
        require(!error.empty());
    }

    error.clear();
    if (auto servers = backends::parse_saved_servers(text, kHistory, &error)) {
        require(error.empty());
        for (const auto& s : *servers) require(s.history.size() <= kHistory);
        std::string again_error;
        auto again = backends::parse_saved_servers(backends::encode_saved_servers(*servers), kHistory, &again_error);
        require(again.has_value() && again->size() == servers->size());
        for (size_t i = 0; i < servers->size(); ++i) require(same((*again)[i], (*servers)[i]));
    } else {
        require(!error.empty());
    }
    return 0;
}
