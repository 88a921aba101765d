#include "core/io.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace ferry::io {

IoResult classify_read(ssize_t n) {
    if (n > 0) return {Io::Progress, static_cast<size_t>(n), 0};
    if (n == 0) return {Io::Eof, 0, 0};
    if (errno == EAGAIN) return {Io::WouldBlock, 0, 0};
    return {Io::Error, 0, errno};
}

IoResult classify_write(ssize_t n) {
    if (n > 0) return {Io::Progress, static_cast<size_t>(n), 0};
    if (n == 0) return {Io::Error, 0, EPIPE};
    if (errno == EAGAIN) return {Io::WouldBlock, 0, 0};
    return {Io::Error, 0, errno};
}

IoResult recv_some(int fd, std::span<std::byte> buf, int flags) {
    ssize_t n;
    do {
        n = ::recv(fd, buf.data(), buf.size(), flags | MSG_DONTWAIT);
    } while (n == -1 && errno == EINTR);
    return classify_read(n);
}

IoResult send_some(int fd, std::span<const std::byte> buf) {
    ssize_t n;
    do {
        n = ::send(fd, buf.data(), buf.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n == -1 && errno == EINTR);
    return classify_write(n);
}

IoResult peek(SocketReadiness& s, std::span<std::byte> buf) {
    if (!s.readable) return {};
    IoResult r = peek(s.fd, buf);
    if (r.io == Io::WouldBlock) s.readable = false;
    return r;
}

IoResult send_rest(SocketReadiness& s, std::span<const std::byte> msg, uint32_t& sent) {
    while (sent < msg.size()) {
        if (!s.writable) return {};
        IoResult r = send_some(s.fd, msg.subspan(sent));
        if (r.io == Io::Progress) {
            sent += static_cast<uint32_t>(r.bytes);
            continue;
        }
        if (r.io == Io::Error && r.error != EINPROGRESS && r.error != EALREADY) return r;
        s.writable = false;
        return {};
    }
    return {Io::Progress, msg.size(), 0};
}

bool send_all_now(int fd, std::span<const std::byte> msg) {
    size_t off = 0;
    while (off < msg.size()) {
        IoResult r = send_some(fd, msg.subspan(off));
        if (r.io != Io::Progress) return false;
        off += r.bytes;
    }
    return true;
}

bool discard_exactly(int fd, size_t count, std::span<std::byte> scratch) {
    while (count > 0) {
        IoResult r = recv_some(fd, scratch.first(std::min(count, scratch.size())));
        if (r.io != Io::Progress) {
            if (r.io == Io::Eof) errno = 0;
            if (r.io == Io::WouldBlock) errno = EAGAIN;
            return false;
        }
        count -= r.bytes;
    }
    return true;
}

}  // namespace ferry::io
