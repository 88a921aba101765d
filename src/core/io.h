// One I/O step, one outcome (HAProxy's tri-state returns, nginx's NGX_AGAIN): every recv, send, peek and
// splice in ferry goes through these, so EINTR is retried in one place, EAGAIN is one value, and the errno of
// a failure is kept with it. No exceptions, no logging.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace ferry {

enum class Io : uint8_t {
    Progress,    // bytes moved (IoResult::bytes > 0)
    WouldBlock,  // EAGAIN: nothing now, wait for the next edge
    Eof,         // the peer finished sending (a read of 0)
    Error,       // IoResult::error holds the errno
};

struct IoResult {
    Io io = Io::WouldBlock;
    size_t bytes = 0;
    int error = 0;

    bool progress() const { return io == Io::Progress; }
};

// Readiness of one socket as the edge-triggered loop knows it: set by events, cleared only on EAGAIN
// (HAProxy's fd_may_recv / fd_cant_recv).
struct SocketReadiness {
    int fd = -1;
    bool readable = false;
    bool writable = false;
    // TCP urgent data is queued (EPOLLPRI). splice(2) stops at the urgent mark (tcp_read_sock), so the pump
    // copies with recv(2) until the socket is drained; with SO_OOBINLINE the urgent byte stays in the stream.
    bool urgent = false;
};

namespace io {

// What a read-like syscall's return value means (`n` as returned, errno as it left it). EINTR is an Error
// here: the wrappers below retry it before they get this far.
IoResult classify_read(ssize_t n);
// The same for writes: 0 bytes written is EPIPE (a socket never accepts 0 of a non-empty write otherwise).
IoResult classify_write(ssize_t n);

// recv(2) with MSG_DONTWAIT (plus `flags`), EINTR retried.
IoResult recv_some(int fd, std::span<std::byte> buf, int flags = 0);
// recv with MSG_PEEK: the bytes stay queued.
inline IoResult peek(int fd, std::span<std::byte> buf) { return recv_some(fd, buf, MSG_PEEK); }
// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL, EINTR retried.
IoResult send_some(int fd, std::span<const std::byte> buf);

// A peek that keeps `s` in step: WouldBlock clears s.readable. Nothing is read when s.readable is false.
IoResult peek(SocketReadiness& s, std::span<std::byte> buf);
// Writes msg[sent..] while the socket takes it, advancing `sent`. Progress: all of msg is written.
// WouldBlock: s.writable was cleared (also for EINPROGRESS / EALREADY, the answer of a TCP Fast Open connect
// that has not finished: the write is repeated once the socket is writable). Error: the errno.
IoResult send_rest(SocketReadiness& s, std::span<const std::byte> msg, uint32_t& sent);
// Writes a small message whole on a socket whose send buffer has room (a handshake reply on a socket that
// has not sent anything else): false when it could not (the peer is gone, or the buffer was full).
bool send_all_now(int fd, std::span<const std::byte> msg);
// Reads and drops exactly `count` bytes that are known to be queued in `fd` (a handshake just peeked and
// parsed), through `scratch`. False when the socket failed or ended first (errno set, or 0 at EOF).
bool discard_exactly(int fd, size_t count, std::span<std::byte> scratch);

}  // namespace io
}  // namespace ferry
