#include "relay/splice_pump.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace ferry {

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
    ssize_t n;
    do {
        n = ::recv(src.fd, scratch.data(), cap, MSG_DONTWAIT);
    } while (n == -1 && errno == EINTR);
    if (n == 0) {
        src_eof_ = true;
        return Step::Again;
    }
    if (n == -1) {
        if (errno != EAGAIN) return fail(errno, false);
        src.readable = false;
        src.urgent = false;  // drained past any urgent mark: splice works again
        return Step::Again;
    }
    if (filter_) {
        // The filtered block waits in pending_ and goes out through deliver() before the next read.
        pending_.clear();
        if (!filter_->filter(std::span<const std::byte>(scratch.data(), static_cast<size_t>(n)), pending_,
                             filter_error_))
            return fail(EPROTO, false);
        pending_off_ = 0;
        pending_len_ = pending_.size();
        return Step::Again;
    }
    if (mode_ == RelayMode::Adaptive && static_cast<size_t>(n) == cap && !src.urgent) {
        copying_ = false;  // a full buffer: bulk is flowing, splice from now on
        small_splices_ = 0;
    }
    ssize_t m;
    do {
        m = ::send(dst.fd, scratch.data(), static_cast<size_t>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (m == -1 && errno == EINTR);
    if (m == -1) {
        if (errno != EAGAIN) return fail(errno, true);
        dst.writable = false;
        m = 0;
    }
    bytes_ += static_cast<uint64_t>(m);
    if (m < n) {
        if (pending_.size() < kCopyChunk) pending_.resize(kCopyChunk);
        pending_off_ = 0;
        pending_len_ = static_cast<size_t>(n - m);
        std::memcpy(pending_.data(), scratch.data() + m, pending_len_);
    }
    return Step::Again;
}

// Fills the (empty) pipe from the source. The pipe is empty, so EAGAIN can only mean "source empty".
SplicePump::Step SplicePump::splice_once(SocketReadiness& src) {
    ssize_t n;
    do {
        n = ::splice(src.fd, nullptr, pipe_->write_end.get(), nullptr, kSpliceChunk,
                     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    } while (n == -1 && errno == EINTR);
    if (n > 0) {
        pipe_->bytes += static_cast<size_t>(n);
        if (mode_ == RelayMode::Adaptive) {
            small_splices_ = static_cast<size_t>(n) < kSmallSplice ? small_splices_ + 1 : 0;
            if (small_splices_ >= kSmallSplicesToCopy) copying_ = true;
        }
    } else if (n == 0) {
        src_eof_ = true;
    } else if (errno == EAGAIN) {
        src.readable = false;
    } else {
        return fail(errno, false);
    }
    return Step::Again;
}

// Writes with `write_once` (which returns what send/splice returned) until `waiting` bytes are delivered.
// Returns nothing when they are, Blocked when the destination is full, Error when it failed.
template <typename WriteOnce>
std::optional<SplicePump::Outcome> SplicePump::deliver(SocketReadiness& dst, size_t& waiting, WriteOnce&& write_once) {
    while (waiting > 0) {
        if (!dst.writable) return Outcome::Blocked;
        ssize_t n = write_once();
        if (n > 0) {
            waiting -= static_cast<size_t>(n);
            bytes_ += static_cast<uint64_t>(n);
            continue;
        }
        if (n == -1 && errno == EINTR) continue;
        if (n == -1 && errno == EAGAIN) {
            dst.writable = false;
            return Outcome::Blocked;
        }
        fail(n == -1 ? errno : EPIPE, true);
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
            if (auto stop = deliver(dst, pipe_->bytes, [&] {
                    return ::splice(pipe_->read_end.get(), nullptr, dst.fd, nullptr, pipe_->bytes,
                                    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                }))
                return *stop;
        }
        if (auto stop = deliver(dst, pending_len_, [&] {
                ssize_t n = ::send(dst.fd, pending_.data() + pending_off_, pending_len_, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n > 0) pending_off_ += static_cast<size_t>(n);
                return n;
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
