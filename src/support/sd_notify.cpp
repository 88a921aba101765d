#include "support/sd_notify.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "core/socket_util.h"

namespace ferry::sd {
namespace {

// A positive decimal number that fits in 64 bits, nothing else around it.
std::optional<uint64_t> parse_positive(std::string_view text) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value == 0) return std::nullopt;
    return value;
}

}  // namespace

std::optional<NotifyAddress> parse_notify_socket(std::string_view value, std::string* error) {
    if (value.empty()) {
        *error = "empty";
        return std::nullopt;
    }
    if (value[0] != '/' && value[0] != '@') {
        *error = "not an absolute path or an abstract name (@name)";
        return std::nullopt;
    }
    NotifyAddress a;
    // sun_path of a path needs room for its NUL; an abstract name is the bytes after a leading NUL ('@').
    if (value.size() > sizeof a.address.sun_path - (value[0] == '/' ? 1 : 0)) {
        *error = "longer than a Unix socket address can be";
        return std::nullopt;
    }
    if (value.size() == 1) {
        *error = value[0] == '@' ? "empty abstract name" : "no path";
        return std::nullopt;
    }
    a.abstract = value[0] == '@';
    unix_address(value, &a.address, &a.length);  // the checks above leave nothing it refuses
    return a;
}

uint64_t parse_watchdog_usec(const char* usec, const char* pid, pid_t self) {
    if (!usec) return 0;
    auto interval = parse_positive(usec);
    if (!interval) return 0;
    if (pid) {
        auto owner = parse_positive(pid);
        if (!owner || *owner != static_cast<uint64_t>(self)) return 0;
    }
    return *interval;
}

std::string status_assignment(std::string_view status) {
    std::string out = "STATUS=";
    for (char c : status) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
    return out;
}

std::string ready_message(std::string_view status) {
    std::string out = "READY=1";
    if (!status.empty()) out += "\n" + status_assignment(status);
    return out;
}

std::string reloading_message(uint64_t monotonic_usec) {
    return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec);
}

std::string stopping_message(std::string_view status) {
    std::string out = "STOPPING=1";
    if (!status.empty()) out += "\n" + status_assignment(status);
    return out;
}

std::string watchdog_message() { return "WATCHDOG=1"; }

Notifier::Notifier(const NotifyAddress& address, uint64_t watchdog_usec)
    : socket_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)), address_(address), watchdog_usec_(watchdog_usec) {}

Notifier Notifier::from_environment(std::string* error) {
    const char* socket = std::getenv("NOTIFY_SOCKET");
    if (!socket) return Notifier();
    auto address = parse_notify_socket(socket, error);
    if (!address) {
        *error = "NOTIFY_SOCKET=" + std::string(socket) + ": " + *error;
        return Notifier();
    }
    Notifier n(*address, parse_watchdog_usec(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid()));
    if (!n.enabled()) *error = "socket(AF_UNIX, SOCK_DGRAM): " + std::string(std::strerror(errno));
    return n;
}

int Notifier::send(std::string_view message) const {
    if (!enabled()) return 0;
    const auto* to = reinterpret_cast<const sockaddr*>(&address_.address);
    for (;;) {
        if (::sendto(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL, to, address_.length) != -1)
            return 0;
        if (errno != EINTR) return errno;
    }
}

}  // namespace ferry::sd
