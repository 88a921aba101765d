// systemd's notification protocol without libsystemd (sd_notify(3)): a datagram of newline-separated KEY=VALUE
// assignments to the AF_UNIX socket named by $NOTIFY_SOCKET ("/path", or "@name" in the abstract namespace).
// The messages are pure functions (unit-tested); Notifier only owns the socket and sends them.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/fd.h"

namespace ferry::sd {

// Where notifications go: a filesystem or abstract AF_UNIX address, with the length sendto() wants (an
// abstract name has no terminating NUL: its length ends with its last byte).
struct NotifyAddress {
    sockaddr_un address{};
    socklen_t length = 0;
    bool abstract = false;
};

// $NOTIFY_SOCKET's value: "/absolute/path" or "@abstract-name". Anything else (empty, relative, vsock:, too long
// for sun_path) is nullopt with *error saying why.
std::optional<NotifyAddress> parse_notify_socket(std::string_view value, std::string* error);

// The watchdog interval in microseconds from $WATCHDOG_USEC and $WATCHDOG_PID (either may be null): 0 when there
// is none, when WATCHDOG_USEC is not a positive decimal number, or when WATCHDOG_PID is set and names another
// process than `self` (the watchdog is meant for a parent or a child).
uint64_t parse_watchdog_usec(const char* usec, const char* pid, pid_t self);

// STATUS= takes one line: newlines and other control characters become spaces.
std::string status_assignment(std::string_view status);
// "READY=1", with "\nSTATUS=..." when `status` is not empty.
std::string ready_message(std::string_view status = {});
// "RELOADING=1\nMONOTONIC_USEC=<us>": a reload starts, at CLOCK_MONOTONIC `monotonic_usec` (READY=1 ends it).
std::string reloading_message(uint64_t monotonic_usec);
// "STOPPING=1", with the status when there is one.
std::string stopping_message(std::string_view status = {});
std::string watchdog_message();  // "WATCHDOG=1"

// The sending end. Without $NOTIFY_SOCKET it is disabled and send() does nothing.
class Notifier {
public:
    Notifier() = default;
    // From the environment: $NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID. An unusable $NOTIFY_SOCKET is
    // reported in *error (the notifier is then disabled).
    static Notifier from_environment(std::string* error);
    Notifier(const NotifyAddress& address, uint64_t watchdog_usec);

    bool enabled() const { return socket_.valid(); }
    uint64_t watchdog_usec() const { return enabled() ? watchdog_usec_ : 0; }
    // One datagram. Returns 0, or the errno of socket()/sendto() (ECONNREFUSED when nobody listens, ...).
    int send(std::string_view message) const;

private:
    Fd socket_;
    NotifyAddress address_;
    uint64_t watchdog_usec_ = 0;
};

}  // namespace ferry::sd
