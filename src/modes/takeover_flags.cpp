#include "modes/takeover_flags.h"

#include <sys/un.h>

#include "core/socket_util.h"

namespace ferry {

void define_takeover_flags(goflag::FlagSet& fs, TakeoverFlags* f) {
    fs.string_var(&f->socket, "takeover-socket", f->socket,
                  "Unix socket `path` (@name: abstract) where a running ferry hands its listening sockets to a new "
                  "one started with the same path");
    fs.duration_var(&f->drain_timeout, "drain-timeout", f->drain_timeout,
                    "After a successor took over, how long connections may take to finish before they are closed");
}

std::optional<std::string> check_takeover_path(const std::string& path) {
    sockaddr_un address;
    socklen_t len;
    if (!path.empty() && !unix_address(path, &address, &len))
        return "is longer than a Unix socket path may be (" + std::to_string(sizeof address.sun_path - 1) +
               " bytes)";
    return std::nullopt;
}

std::optional<std::string> check_drain_timeout_ms(uint64_t ms) {
    if (ms > kMaxDrainTimeoutMs) return "has to be at most 24h";
    return std::nullopt;
}

std::optional<std::string> takeover_config(const TakeoverFlags& f, TakeoverConfig* out) {
    if (auto e = check_takeover_path(f.socket)) return "-takeover-socket " + *e;
    if (f.drain_timeout.count() < 0) return "-drain-timeout has to be >= 0";
    const uint64_t ms = goflag::ceil_ms(f.drain_timeout);
    if (auto e = check_drain_timeout_ms(ms)) return "-drain-timeout " + *e;
    out->path = f.socket;
    out->drain_timeout_ms = ms;
    return std::nullopt;
}

}  // namespace ferry
