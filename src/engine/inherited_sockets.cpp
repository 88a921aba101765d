#include "engine/inherited_sockets.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "core/socket_util.h"

namespace ferry {
namespace {

// sd_listen_fds(3): passed sockets start here.
constexpr int kListenFdsStart = 3;

std::optional<long> parse_decimal(const char* text) {
    if (!text || !*text) return std::nullopt;
    long value = 0;
    for (const char* p = text; *p; ++p) {
        if (*p < '0' || *p > '9' || value > 1'000'000'000L) return std::nullopt;
        value = value * 10 + (*p - '0');
    }
    return value;
}

int int_option(int fd, int level, int name) {
    int value = 0;
    socklen_t len = sizeof value;
    if (::getsockopt(fd, level, name, &value, &len) == -1) return -1;
    return value;
}

}  // namespace

std::string_view socket_kind_name(SocketKind kind) {
    switch (kind) {
        case SocketKind::Tcp: return "tcp";
        case SocketKind::Udp: return "udp";
        case SocketKind::Takeover: return "takeover";
        case SocketKind::Unix: return "unix";
    }
    return "tcp";
}

std::optional<SocketKind> parse_socket_kind(std::string_view name) {
    if (name == "tcp") return SocketKind::Tcp;
    if (name == "udp") return SocketKind::Udp;
    if (name == "takeover") return SocketKind::Takeover;
    if (name == "unix") return SocketKind::Unix;
    return std::nullopt;
}

ListenFds parse_listen_fds(const char* listen_pid, const char* listen_fds, const char* listen_fdnames, long pid) {
    ListenFds out;
    if (!listen_pid || !listen_fds) return out;  // not socket-activated
    const auto owner = parse_decimal(listen_pid);
    if (!owner) {
        out.error = std::string("LISTEN_PID is not a process id: \"") + listen_pid + "\"";
        return out;
    }
    if (*owner != pid) return out;  // meant for another process (a parent that did not unset them)
    const auto count = parse_decimal(listen_fds);
    if (!count || *count > 4096) {
        out.error = std::string("LISTEN_FDS is not a count of sockets: \"") + listen_fds + "\"";
        return out;
    }
    out.count = static_cast<int>(*count);
    if (listen_fdnames) {
        std::string_view names = listen_fdnames;
        while (!names.empty() || out.names.size() < static_cast<size_t>(out.count)) {
            const size_t colon = names.find(':');
            out.names.emplace_back(names.substr(0, colon));
            if (colon == std::string_view::npos) break;
            names.remove_prefix(colon + 1);
        }
    }
    out.names.resize(static_cast<size_t>(out.count));
    return out;
}

bool serves_address(const SocketAddress& bound, bool v6only, const SocketAddress& wanted) {
    if (bound == wanted) return true;
    return wanted.is_v4() && wanted.is_unspecified() && bound.is_v6() && bound.is_unspecified() && !v6only &&
           bound.port() == wanted.port();
}

void InheritedSockets::adopt_systemd(std::vector<std::string>* notes, std::string* error) {
    const ListenFds passed =
        parse_listen_fds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"), std::getenv("LISTEN_FDNAMES"),
                         static_cast<long>(::getpid()));
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    if (!passed.error.empty()) {
        *error = passed.error;
        return;
    }
    for (int i = 0; i < passed.count; ++i) {
        Fd fd(kListenFdsStart + i);
        const std::string what = "fd " + std::to_string(kListenFdsStart + i) +
                                 (passed.names[i].empty() ? "" : " (" + passed.names[i] + ")");
        ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
        const int domain = int_option(fd.get(), SOL_SOCKET, SO_DOMAIN);
        const int type = int_option(fd.get(), SOL_SOCKET, SO_TYPE);
        if (domain != AF_INET && domain != AF_INET6) {
            notes->push_back(what + " from systemd is not an IPv4 or IPv6 socket: closed");
            continue;
        }
        if (type == SOCK_STREAM && int_option(fd.get(), SOL_SOCKET, SO_ACCEPTCONN) != 1) {
            notes->push_back(what + " from systemd is a TCP socket that is not listening (Accept=yes?): closed");
            continue;
        }
        if (type != SOCK_STREAM && type != SOCK_DGRAM) {
            notes->push_back(what + " from systemd is neither TCP nor UDP: closed");
            continue;
        }
        const int flags = ::fcntl(fd.get(), F_GETFL);
        if (flags != -1) ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
        InheritedSocket s;
        s.kind = type == SOCK_STREAM ? SocketKind::Tcp : SocketKind::Udp;
        s.address = local_address(fd.get());
        s.bound_address = true;
        s.v6only = domain == AF_INET6 && int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY) == 1;
        s.name = passed.names[i];
        s.fd = std::move(fd);
        sockets_.push_back(std::move(s));
    }
}

bool InheritedSockets::matches(const InheritedSocket& s, SocketKind kind, const SocketAddress& address) const {
    if (s.kind != kind) return false;
    return s.bound_address ? serves_address(s.address, s.v6only, address) : s.address == address;
}

Fd InheritedSockets::take(SocketKind kind, const SocketAddress& address) {
    for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
        if (!matches(*it, kind, address)) continue;
        Fd fd = std::move(it->fd);
        sockets_.erase(it);
        return fd;
    }
    return Fd();
}

Fd InheritedSockets::take_path(SocketKind kind, std::string_view path) {
    for (auto it = sockets_.begin(); it != sockets_.end(); ++it) {
        if (it->kind != kind || it->path != path) continue;
        Fd fd = std::move(it->fd);
        sockets_.erase(it);
        return fd;
    }
    return Fd();
}

size_t InheritedSockets::count(SocketKind kind, const SocketAddress& address) const {
    size_t n = 0;
    for (const auto& s : sockets_) n += matches(s, kind, address) ? 1 : 0;
    return n;
}

}  // namespace ferry
