#include "relay/splice_pump.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace ferry {
namespace {

// splice(2) between a socket and a pipe, never blocking, EINTR retried. From a socket, 0 is its EOF; into a
// socket, a 0 never happens for a non-empty pipe (classify_write makes it EPIPE).
IoResult splice_from(int socket, int pipe_in, size_t len) {
    ssize_t n;
    do {
        n = ::splice(socket, nullptr, pipe_in, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n == -1 && errno == EINTR);
    return io::classify_read(n);
}

IoResult splice_to(int pipe_out, int socket, size_t len) {
    ssize_t n;
    do {
        n = ::splice(pipe_out, nullptr, socket, nullptr, len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n == -1 && errno == EINTR);
    return io::classify_write(n);
}

}  // namespace


SplicePump::~SplicePump() {
    if (pipe_ && owner_) owner_->give_back(pipe_);
}

bool BlockFilter::finish(std::vector<std::byte>&, std::string&) { return true; }
void BlockFilter::idle() {}

void SplicePump::set_filter(BlockFilter* filter) {
    filter_ = filter;
    if (filter) {
        mode_ = RelayMode::Copy;
        copying_ = true;
    }
}

void SplicePump::release(PipePool& pool) {
    if (pipe_) pool.give_back(pipe_);
    pipe_ = nullptr;
}

SplicePump::Step SplicePump::fail(int err, bool on_write) {
    error_ = err ? err : EIO;
    error_on_write_ = on_write;
    return Step::Error;
}

// Reads once into `scratch` and sends at once; what the destination does not take waits in pending_.
SplicePump::Step SplicePump::copy_once(SocketReadiness& src, SocketReadiness& dst, std::span<std::byte> scratch) {
    const size_t cap = std::min(scratch.size(), kCopyChunk);
    const IoResult in = io::recv_some(src.fd, scratch.first(cap));
    switch (in.io) {
        case Io::Eof:
            src_eof_ = true;
            return Step::Again;
        case Io::WouldBlock:
            src.readable = false;
            src.urgent = false;  // drained past any urgent mark: splice works again
            return Step::Again;
        case Io::Error: return fail(in.error, false);
        case Io::Progress: break;
    }
    const size_t n = in.bytes;
    if (filter_) {
        // The filtered block waits in pending_ and goes out through deliver() before the next read.
        pending_.clear();
        if (!filter_->filter(std::span<const std::byte>(scratch.data(), n), pending_, filter_error_))
            return fail(EPROTO, false);
        pending_off_ = 0;
        pending_len_ = pending_.size();
        return Step::Again;
    }
    if (mode_ == RelayMode::Adaptive && n == cap && !src.urgent) {
        copying_ = false;  // a full buffer: bulk is flowing, splice from now on
        small_splices_ = 0;
    }
    const IoResult out = io::send_some(dst.fd, scratch.first(n));
    if (out.io == Io::Error) return fail(out.error, true);
    if (out.io == Io::WouldBlock) dst.writable = false;
    const size_t m = out.bytes;
    bytes_ += m;
    if (m < n) {
        if (pending_.size() < kCopyChunk) pending_.resize(kCopyChunk);
        pending_off_ = 0;
        pending_len_ = n - m;
        std::memcpy(pending_.data(), scratch.data() + m, pending_len_);
    }
    return Step::Again;
}

// Fills the (empty) pipe from the source. The pipe is empty, so EAGAIN can only mean "source empty".
SplicePump::Step SplicePump::splice_once(SocketReadiness& src) {
    const IoResult r = splice_from(src.fd, pipe_->write_end.get(), kSpliceChunk);
    switch (r.io) {
        case Io::Progress:
            pipe_->bytes += r.bytes;
            if (mode_ == RelayMode::Adaptive) {
                small_splices_ = r.bytes < kSmallSplice ? small_splices_ + 1 : 0;
                if (small_splices_ >= kSmallSplicesToCopy) copying_ = true;
            }
            break;
        case Io::Eof: src_eof_ = true; break;
        case Io::WouldBlock: src.readable = false; break;
        case Io::Error: return fail(r.error, false);
    }
    return Step::Again;
}

// Writes with `write_once` (which returns what send/splice returned) until `waiting` bytes are delivered.
// Returns nothing when they are, Blocked when the destination is full, Error when it failed.
template <typename WriteOnce>
std::optional<SplicePump::Outcome> SplicePump::deliver(SocketReadiness& dst, size_t& waiting, WriteOnce&& write_once) {
    while (waiting > 0) {
        if (!dst.writable) return Outcome::Blocked;
        const IoResult r = write_once();
        if (r.io == Io::Progress) {
            waiting -= r.bytes;
            bytes_ += r.bytes;
            continue;
        }
        if (r.io == Io::WouldBlock) {
            dst.writable = false;
            return Outcome::Blocked;
        }
        fail(r.error, true);
        return Outcome::Error;
    }
    return std::nullopt;
}

SplicePump::Outcome SplicePump::pump(SocketReadiness& src, SocketReadiness& dst, PipePool& pool,
                                     std::span<std::byte> scratch, bool other_done) {
    if (done_) return Outcome::Done;
    if (error_) return Outcome::Error;
    owner_ = &pool;
    for (int round = 0; round < kRoundsPerCall; ++round) {
        // 1. Deliver what waits in the pipe, then what waits from a short copy.
        if (pipe_) {
            if (auto stop = deliver(dst, pipe_->bytes, [&] { return splice_to(pipe_->read_end.get(), dst.fd, pipe_->bytes); }))
                return *stop;
        }
        if (auto stop = deliver(dst, pending_len_, [&] {
                IoResult r = io::send_some(dst.fd, std::span<const std::byte>(pending_).subspan(pending_off_, pending_len_));
                pending_off_ += r.bytes;
                return r;
            }))
            return *stop;
        // 2. Nothing waits: the pipe goes back to the pool until bytes must wait again.
        if (pipe_) {
            pool.give_back(pipe_);
            pipe_ = nullptr;
        }
        if (src_eof_ && filter_ && !filter_finished_) {
            // What the filter still holds goes out before the half-close.
            filter_finished_ = true;
            pending_.clear();
            if (!filter_->finish(pending_, filter_error_)) {
                fail(EPROTO, false);
                return Outcome::Error;
            }
            pending_off_ = 0;
            pending_len_ = pending_.size();
            continue;
        }
        if (src_eof_) {
            // ENOTCONN on a socket that was connected means it reached CLOSE (reset or timed out): a reset to
            // propagate, not a clean end. When the other direction is already done the connection closes both
            // sockets next, and close() sends the same FIN: skip the syscall.
            if (!other_done && ::shutdown(dst.fd, SHUT_WR) == -1 && errno == ENOTCONN) {
                fail(ECONNRESET, true);
                return Outcome::Error;
            }
            done_ = true;
            return Outcome::Done;
        }
        if (!src.readable) {
            // Idle until the next event: a large filtered block is not kept around (an idle connection holds
            // no more than the copy chunk here).
            if (filter_) {
                if (pending_.capacity() > 4 * kCopyChunk) std::vector<std::byte>().swap(pending_);
                filter_->idle();
            }
            return Outcome::Blocked;
        }
        // 3. Read: copy small messages (and past urgent data), splice bulk. A copy reads only what can be sent
        // now, so a slow destination still holds the source back (no unbounded buffering).
        bool copy = copying_ || src.urgent;
        if (!copy) {
            pipe_ = pool.take();
            if (!pipe_) copy = true;  // out of fds: copying needs none
        }
        // A filter's output may be longer than its input: read only once the destination could take some of
        // it (it is written out before the next read either way).
        if (copy && !dst.writable) return Outcome::Blocked;
        if ((copy ? copy_once(src, dst, scratch) : splice_once(src)) == Step::Error) return Outcome::Error;
    }
    return Outcome::Yield;
}

}  // namespace ferry
