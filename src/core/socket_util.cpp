#include "core/socket_util.h"

#include <fcntl.h>
#include <linux/filter.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace ferry {

std::string errno_text(int err) {
    std::string s = std::strerror(err);
    if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
    return s;
}

std::string option_error(const char* what, int err) {
    std::string s = std::string(what) + ": " + errno_text(err);
    if (err == EPERM || err == EACCES)
        s += " (needs CAP_NET_ADMIN: run as root, or setcap cap_net_admin+ep on the ferry binary)";
    return s;
}

int set_int_option(int fd, int level, int name, int value) {
    return ::setsockopt(fd, level, name, &value, sizeof value) == -1 ? errno : 0;
}

int try_transparent() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errno;
    return set_int_option(fd.get(), IPPROTO_IP, IP_TRANSPARENT, 1);
}

namespace {

bool host_has_ipv6() {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) return false;
    ::close(fd);
    return true;
}

}  // namespace

bool unix_address(std::string_view name, sockaddr_un* out, socklen_t* len) {
    *out = sockaddr_un{};
    out->sun_family = AF_UNIX;
    const bool abstract = !name.empty() && name[0] == '@';
    // A path needs room for its NUL; an abstract name is the bytes after a leading NUL (the '@').
    if (name.empty() || (abstract && name.size() == 1) || name.size() > sizeof out->sun_path - (abstract ? 0 : 1))
        return false;
    std::memcpy(out->sun_path, name.data(), name.size());
    if (abstract) out->sun_path[0] = '\0';
    *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
    return true;
}

Fd listen_unix(std::string_view name, int type, bool private_mode, int backlog, std::string* error) {
    const std::string path(name);
    auto fail = [&](const std::string& what, int err) {
        *error = what + ": " + errno_text(err);
        errno = err;
        return Fd();
    };
    sockaddr_un address;
    socklen_t len;
    if (!unix_address(name, &address, &len)) return fail("bind " + path, ENAMETOOLONG);
    Fd fd(::socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail("socket", errno);
    const mode_t old_mask = private_mode ? ::umask(0077) : 0;
    int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), len);
    bool not_socket = false;
    if (rc == -1 && errno == EADDRINUSE && name[0] != '@') {
        struct stat st;
        Fd probe(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
        if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && probe &&
            ::connect(probe.get(), reinterpret_cast<sockaddr*>(&address), len) == -1 && errno == ECONNREFUSED) {
            ::unlink(path.c_str());
            rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), len);
        } else {
            not_socket = ::lstat(path.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode);
            errno = EADDRINUSE;
        }
    }
    const int bind_errno = errno;
    if (private_mode) ::umask(old_mask);
    if (rc == -1 && not_socket) {
        fail("bind " + path, bind_errno);
        *error += " (a file that is not a socket is there)";
        errno = EEXIST;
        return Fd();
    }
    if (rc == -1) return fail("bind " + path, bind_errno);
    if (private_mode && name[0] != '@') ::chmod(path.c_str(), 0600);
    if (::listen(fd.get(), backlog) == -1) return fail("listen " + path, errno);
    return fd;
}

SocketAddress listen_address(const SocketAddress& address, bool* dual_stack) {
    *dual_stack = false;
    if (!address.is_v4() || !address.is_unspecified() || !host_has_ipv6()) return address;
    uint8_t any6[16] = {};
    *dual_stack = true;
    return SocketAddress::from_v6(any6, address.port());
}

Fd listen_udp(const SocketAddress& address, std::string* error, bool transparent) {
    bool dual_stack = false;
    const SocketAddress bind_to = listen_address(address, &dual_stack);
    auto fail = [&](const std::string& why) {
        if (error) *error = why;
        return Fd();
    };
    Fd fd(::socket(bind_to.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail("socket: " + errno_text(errno));
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
    if (int e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1))
        return fail(option_error("setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)", e));
    if (dual_stack) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0);
    if (transparent) {
        if (int e = set_int_option(fd.get(), IPPROTO_IP, IP_TRANSPARENT, 1))
            return fail(option_error("setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)", e));
        if (int e = set_int_option(fd.get(), IPPROTO_IP, IP_RECVORIGDSTADDR, 1))
            return fail(option_error("setsockopt(IPPROTO_IP, IP_RECVORIGDSTADDR, 1)", e));
        if (bind_to.is_v6()) {
            if (int e = set_int_option(fd.get(), IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1))
                return fail(option_error("setsockopt(IPPROTO_IPV6, IPV6_RECVORIGDSTADDR, 1)", e));
        }
    }
    // One socket carries every flow's datagrams both ways: give it room for bursts (root may pass the
    // rmem_max / wmem_max caps; otherwise the kernel caps the plain request).
    constexpr int kBuffer = 4 << 20;
    if (set_int_option(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, kBuffer) != 0)
        set_int_option(fd.get(), SOL_SOCKET, SO_RCVBUF, kBuffer);
    if (set_int_option(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, kBuffer) != 0)
        set_int_option(fd.get(), SOL_SOCKET, SO_SNDBUF, kBuffer);
    if (::bind(fd.get(), bind_to.sa(), bind_to.length) == -1)
        return fail("listen udp " + address.to_string() + ": bind: " + errno_text(errno));
    return fd;
}

int steer_udp_by_client(int fd, unsigned sockets) {
    // Classic BPF over the datagram (the kernel runs reuseport programs with the data at the UDP payload):
    // a v2 PROXY header's client address and port pick the socket, so one client's datagrams always reach
    // the same loop whatever the sender's port. Anything else (LOCAL, short, not PROXY) returns an index out of
    // range, and the kernel falls back to its 4-tuple hash.
    sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),           // 0: family/transport byte
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x12, 0, 5),   // 1: INET DGRAM? else 7
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 16),           // 2: the client's IPv4 address
        BPF_STMT(BPF_MISC | BPF_TAX, 0),                  // 3
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 24),           // 4: its port
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),           // 5
        BPF_JUMP(BPF_JMP | BPF_JA, 5, 0, 0),              // 6: to 12
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x22, 0, 6),   // 7: INET6 DGRAM? else 14
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 28),           // 8: the last 32 bits of the client's IPv6 address
        BPF_STMT(BPF_MISC | BPF_TAX, 0),                  // 9
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 48),           // 10: its port
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),           // 11
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, sockets),     // 12
        BPF_STMT(BPF_RET | BPF_A, 0),                     // 13
        BPF_STMT(BPF_RET | BPF_K, 0xffffffffu),           // 14: the kernel's hash
    };
    sock_fprog prog{static_cast<unsigned short>(sizeof code / sizeof code[0]), code};
    return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == -1 ? errno : 0;
}

Fd listen_tcp(const SocketAddress& address, const ListenOptions& options, std::string* error) {
    bool dual_stack = false;
    const SocketAddress bind_to = listen_address(address, &dual_stack);
    auto fail = [&](const std::string& why) {
        if (error) *error = why;
        return Fd();
    };
    Fd fd(::socket(bind_to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return fail("socket: " + errno_text(errno));
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1);
    if (options.reuse_port) {
        if (int e = set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1))
            return fail(option_error("setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)", e));
    }
    if (dual_stack) set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 0);
    if (options.transparent) {
        int level = bind_to.is_v6() ? IPPROTO_IPV6 : IPPROTO_IP;
        int name = bind_to.is_v6() ? IPV6_TRANSPARENT : IP_TRANSPARENT;
        if (int e = set_int_option(fd.get(), level, name, 1))
            return fail(option_error(bind_to.is_v6() ? "setsockopt(IPPROTO_IPV6, IPV6_TRANSPARENT, 1)"
                                                     : "setsockopt(IPPROTO_IP, IP_TRANSPARENT, 1)",
                                     e));
    }
    if (options.nodelay) set_int_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1);
    // Urgent data stays in the byte stream (the relay copies past the urgent mark instead of losing it).
    set_int_option(fd.get(), SOL_SOCKET, SO_OOBINLINE, 1);
    if (options.keepalive_seconds > 0) {
        set_int_option(fd.get(), SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd.get(), IPPROTO_TCP, TCP_KEEPIDLE, options.keepalive_seconds);
        set_int_option(fd.get(), IPPROTO_TCP, TCP_KEEPINTVL, options.keepalive_seconds);
    }
    if (!options.congestion.empty()) {
        if (std::string why = set_congestion(fd.get(), options.congestion); !why.empty()) return fail(why);
    }
    if (::bind(fd.get(), bind_to.sa(), bind_to.length) == -1)
        return fail("listen tcp " + address.to_string() + ": bind: " + errno_text(errno));
    if (::listen(fd.get(), options.backlog) == -1)
        return fail("listen tcp " + address.to_string() + ": listen: " + errno_text(errno));
    return fd;
}

std::string set_congestion(int fd, const std::string& name) {
    if (::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name.data(), static_cast<socklen_t>(name.size())) == 0)
        return {};
    const int err = errno;
    std::string text = "setsockopt(IPPROTO_TCP, TCP_CONGESTION, \"" + name + "\"): " + errno_text(err);
    if (err == ENOENT) text += " (not an available algorithm: see /proc/sys/net/ipv4/tcp_available_congestion_control)";
    if (err == EPERM) text += " (not in net.ipv4.tcp_allowed_congestion_control, and no CAP_NET_ADMIN)";
    return text;
}

void adopt_listener(int fd, const ListenOptions& options) {
    if (int flags = ::fcntl(fd, F_GETFL); flags != -1) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (options.nodelay) set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int_option(fd, SOL_SOCKET, SO_OOBINLINE, 1);
    if (options.keepalive_seconds > 0) {
        set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPIDLE, options.keepalive_seconds);
        set_int_option(fd, IPPROTO_TCP, TCP_KEEPINTVL, options.keepalive_seconds);
    }
    if (!options.congestion.empty()) set_congestion(fd, options.congestion);
    if (options.transparent) {
        const bool v6 = local_address(fd).is_v6();
        set_int_option(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TRANSPARENT : IP_TRANSPARENT, 1);
    }
}

SocketAddress local_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == -1) return {};
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).unmapped();
}

SocketAddress peer_address(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == -1) return {};
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).unmapped();
}

void set_reset_on_close(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace ferry
