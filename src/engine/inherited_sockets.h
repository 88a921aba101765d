// Listening sockets this process did not bind itself: handed over by systemd's socket activation (LISTEN_FDS) or
// by the ferry it takes over from (engine/takeover.h). The Service takes from this pool what its listeners need,
// by protocol and address, before it binds anything fresh, so a socket that already has clients queued keeps them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fd.h"
#include "core/net_address.h"

namespace ferry {

// Unix: a listening Unix stream socket at a path (the status service on `--stats-bind /PATH`).
enum class SocketKind : uint8_t { Tcp, Udp, Takeover, Unix };

std::string_view socket_kind_name(SocketKind kind);
std::optional<SocketKind> parse_socket_kind(std::string_view name);

struct InheritedSocket {
    Fd fd;
    SocketKind kind = SocketKind::Tcp;
    // What the socket serves, as the listener's configuration names it ("0.0.0.0:8443", never the dual-stack
    // "[::]:8443" it is bound to); for systemd's sockets the address it is bound to.
    SocketAddress address;
    std::string name;  // the listener it served (a `ferry run` name, "status"); systemd's FileDescriptorName
    std::string path;  // SocketKind::Takeover and Unix: the path (or "@abstract" name) it listens on
    // systemd's sockets: `address` is what getsockname says, matched with serves_address() and this IPV6_V6ONLY.
    bool bound_address = false;
    bool v6only = false;
};

// $LISTEN_FDS as systemd sets it (sd_listen_fds(3)): the sockets start at fd 3. Pure: the caller passes the
// environment's values (null when unset) and its own pid.
struct ListenFds {
    int count = 0;                   // 0: no socket activation for this process
    std::vector<std::string> names;  // $LISTEN_FDNAMES split at ':', padded with "" to `count`
    std::string error;               // set when the variables are present but malformed
};
ListenFds parse_listen_fds(const char* listen_pid, const char* listen_fds, const char* listen_fdnames, long pid);

// Whether a socket bound to `bound` (as getsockname reports it, `v6only` its IPV6_V6ONLY) serves a listener
// configured with `wanted`: the same address, or the IPv4 wildcard served by a dual-stack IPv6 wildcard.
bool serves_address(const SocketAddress& bound, bool v6only, const SocketAddress& wanted);

class InheritedSockets {
public:
    // Takes the sockets systemd passed (fds 3.. per $LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES) and unsets the
    // variables, so nothing this process starts sees them. Sockets that are not listening TCP or bound UDP
    // sockets of IPv4/IPv6 are closed with one line in *notes each; *error is set for malformed variables.
    void adopt_systemd(std::vector<std::string>* notes, std::string* error);
    void add(InheritedSocket socket) { sockets_.push_back(std::move(socket)); }

    // Removes and returns a socket of `kind` serving `address` (serves_address), oldest first; an invalid Fd when
    // none is left. Takeover and Unix sockets match by path instead (take_path).
    Fd take(SocketKind kind, const SocketAddress& address);
    Fd take_path(SocketKind kind, std::string_view path);
    Fd take_takeover(std::string_view path) { return take_path(SocketKind::Takeover, path); }
    // How many sockets of `kind` serving `address` are left.
    size_t count(SocketKind kind, const SocketAddress& address) const;

    bool empty() const { return sockets_.empty(); }
    // What is left (nothing of the configuration wants it): the caller closes them, saying which.
    std::vector<InheritedSocket> release_rest() { return std::exchange(sockets_, {}); }

private:
    bool matches(const InheritedSocket& s, SocketKind kind, const SocketAddress& address) const;
    std::vector<InheritedSocket> sockets_;
};

}  // namespace ferry
