#include "ferry/splice_pump.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace ferry {

SplicePump::~SplicePump() {
    if (pipe_ && owner_) owner_->give_back(pipe_);
}

void SplicePump::release(PipePool& pool) {
    if (pipe_) pool.give_back(pipe_);
    pipe_ = nullptr;
}

SplicePump::Outcome SplicePump::pump(SocketReadiness& src, SocketReadiness& dst, PipePool& pool,
                                     std::span<std::byte> scratch, bool other_done) {
    if (done_) return Outcome::Done;
    if (error_) return Outcome::Error;
    owner_ = &pool;
    for (int round = 0; round < kRoundsPerCall; ++round) {
        // 1. Deliver what waits in the pipe.
        while (pipe_ && pipe_->bytes > 0) {
            if (!dst.writable) return Outcome::Blocked;
            ssize_t n = ::splice(pipe_->read_end.get(), nullptr, dst.fd, nullptr, pipe_->bytes,
                                 SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (n > 0) {
                pipe_->bytes -= static_cast<size_t>(n);
                bytes_ += static_cast<uint64_t>(n);
                continue;
            }
            if (n == -1 && errno == EINTR) continue;
            if (n == -1 && errno == EAGAIN) {
                dst.writable = false;
                return Outcome::Blocked;
            }
            error_ = n == -1 ? errno : EPIPE;
            error_on_write_ = true;
            return Outcome::Error;
        }
        // 2. The pipe is empty: it goes back to the pool until bytes must wait again.
        if (pipe_) {
            pool.give_back(pipe_);
            pipe_ = nullptr;
        }
        if (src_eof_) {
            // ENOTCONN on a socket that was connected means it reached CLOSE (reset or timed out): a reset to
            // propagate, not a clean end.
            // When the other direction is already done the connection closes both sockets next, and close()
            // sends the same FIN: skip the syscall.
            if (!other_done && ::shutdown(dst.fd, SHUT_WR) == -1 && errno == ENOTCONN) {
                error_ = ECONNRESET;
                error_on_write_ = true;
                return Outcome::Error;
            }
            done_ = true;
            return Outcome::Done;
        }
        if (!src.readable) return Outcome::Blocked;
        // 3. Fill the pipe from the source. The pipe is empty here, so EAGAIN can only mean "source empty".
        pipe_ = pool.take();
        if (!pipe_) {
            error_ = errno;
            no_pipe_ = true;
            return Outcome::Error;
        }
        for (;;) {
            ssize_t n;
            if (src.urgent) {
                // Copy through the urgent mark; the bytes join the pipe, so delivery keeps one path and order.
                n = ::recv(src.fd, scratch.data(), std::min(scratch.size(), kUrgentCopyChunk), MSG_DONTWAIT);
                if (n > 0 && ::write(pipe_->write_end.get(), scratch.data(), static_cast<size_t>(n)) != n) {
                    error_ = errno ? errno : EIO;
                    no_pipe_ = true;
                    return Outcome::Error;
                }
                if (n == -1 && errno == EAGAIN) src.urgent = false;  // drained: splice works again
            } else {
                n = ::splice(src.fd, nullptr, pipe_->write_end.get(), nullptr, kSpliceChunk,
                             SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            }
            if (n > 0) {
                pipe_->bytes += static_cast<size_t>(n);
            } else if (n == 0) {
                src_eof_ = true;
            } else if (errno == EINTR) {
                continue;
            } else if (errno == EAGAIN) {
                src.readable = false;
            } else {
                error_ = errno;
                return Outcome::Error;
            }
            break;
        }
    }
    return Outcome::Yield;
}

}  // namespace ferry
