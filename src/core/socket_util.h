// Small socket helpers shared by every mode: error text in Go's words, privileged-option errors that say what
// is missing, listening sockets for the loops.
#pragma once

#include <sys/un.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "core/fd.h"
#include "core/io.h"
#include "core/net_address.h"

namespace ferry {

// strerror in Go's style ("connection refused"), for log lines that must read like go-mmproxy's.
std::string errno_text(int err);

// "setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1): operation not permitted" plus, for EPERM/EACCES, what is needed:
// "(needs CAP_NET_ADMIN: run as root, or setcap cap_net_admin+ep on the ferry binary)".
std::string option_error(const char* what, int err);

// Sets an int socket option; returns 0 or the errno.
int set_int_option(int fd, int level, int name, int value);

// Whether this process may use IP_TRANSPARENT (CAP_NET_ADMIN, or CAP_NET_RAW on newer kernels), tried on a
// fresh socket: 0, or the errno (EPERM without the capability). Front ends ask once at start, so a missing
// privilege is one clear line instead of a failure per connection.
int try_transparent();

struct ListenOptions {
    bool reuse_port = true;
    bool transparent = false;  // IP_TRANSPARENT, for TPROXY targets
    int backlog = 65535;       // the kernel caps it at net.core.somaxconn
    // Set on the listening socket, so every accepted socket inherits them without a syscall of its own.
    bool nodelay = true;
    int keepalive_seconds = 15;  // SO_KEEPALIVE with this idle and interval (Go's default); 0 = off
    // TCP_CONGESTION on the listening socket, which accepted sockets inherit ("": the system's default).
    std::string congestion;
};

// Sets the congestion control algorithm `name` on a TCP socket: "" or the error text, e.g.
// "setsockopt(IPPROTO_TCP, TCP_CONGESTION, \"bbr\"): no such file or directory (not an available algorithm:
// see /proc/sys/net/ipv4/tcp_available_congestion_control)".
std::string set_congestion(int fd, const std::string& name);

// A Unix socket address for `name`: a file system path, or "@name" for a name in the abstract namespace (no file;
// its length ends with the name's last byte, no NUL). False when `name` is empty, "@" alone, or too long for
// sun_path (107 bytes of path, 107 of abstract name after the '@').
bool unix_address(std::string_view name, sockaddr_un* out, socklen_t* len);

// A non-blocking, close-on-exec listening Unix socket of `type` (SOCK_STREAM, SOCK_SEQPACKET) at `name` (a path, or
// "@name": abstract). A file already at the path is replaced only when it is a socket nobody listens on (a
// crashed process's leftover); a live one fails with EADDRINUSE, a file that is no socket with EEXIST, anything
// else with the bind's errno. With
// `private_mode`, the file is made 0600 with no moment where others could connect; otherwise it gets the mode the
// umask gives (as any bind(2)). Returns an invalid Fd with *error set ("bind PATH: ...") and errno kept.
Fd listen_unix(std::string_view name, int type, bool private_mode, int backlog, std::string* error);

// Where a listener on `address` binds: the IPv4 wildcard becomes the IPv6 one (dual-stack, *dual_stack set) where
// the host has IPv6, as Go does for "tcp" and "udp" listeners; any other address is returned as is.
SocketAddress listen_address(const SocketAddress& address, bool* dual_stack);

// A non-blocking listening TCP socket on `address`. As Go does for "tcp" listeners, the IPv4 wildcard
// (0.0.0.0) becomes a dual-stack IPv6 socket when the host has IPv6. Returns an invalid Fd and sets *error.
Fd listen_tcp(const SocketAddress& address, const ListenOptions& options, std::string* error);

// Makes a listening TCP socket this process did not open itself (systemd's, a predecessor's) behave like one of
// listen_tcp's: non-blocking, close-on-exec, and the options of `options` that accepted sockets inherit
// (TCP_NODELAY, keepalive, SO_OOBINLINE; IP_TRANSPARENT when asked). Errors are ignored: the socket works
// without them.
void adopt_listener(int fd, const ListenOptions& options);

// A non-blocking UDP socket bound to `address` with SO_REUSEPORT (one per loop); the IPv4 wildcard becomes a
// dual-stack IPv6 socket where the host has IPv6, as for listen_tcp.
// `transparent`: a TPROXY target (IP_TRANSPARENT) that reports each datagram's original destination
// (IP_RECVORIGDSTADDR, and IPV6_RECVORIGDSTADDR on an IPv6 socket).
Fd listen_udp(const SocketAddress& address, std::string* error, bool transparent = false);
// Attaches to a SO_REUSEPORT UDP group of `sockets` sockets (bound in order) a classic BPF program that picks
// the socket by the client address in each datagram's PROXY v2 header (others by the kernel's hash).
// Returns 0 or the errno.
int steer_udp_by_client(int fd, unsigned sockets);

// The address a socket is bound to / connected to, IPv4-mapped addresses unmapped.
SocketAddress local_address(int fd);
SocketAddress peer_address(int fd);

// Closes with an RST instead of a FIN (SO_LINGER 0): how a reset is propagated to the other side.
void set_reset_on_close(int fd);

}  // namespace ferry
