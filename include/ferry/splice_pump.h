// One direction of a relay: bytes from a source socket to a destination socket through a pipe, with splice(2)
// so they never enter user space (nginx's proxy_process for one direction, HAProxy's splice forwarding).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ferry/pipe_pool.h"

namespace ferry {

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

class SplicePump {
public:
    enum class Outcome {
        Blocked,  // waiting for an event (source empty or destination full)
        Yield,    // still has work but used its budget: re-drive after other connections had their turn
        Done,     // source ended, everything delivered, destination write side shut down
        Error,    // error() holds the errno; the connection must be reset
    };

    // Bytes moved per splice call at most; the pipe's capacity limits it further.
    static constexpr size_t kSpliceChunk = 1 << 20;
    // Round trips (source -> pipe -> destination) per call before yielding to other connections, so one fast
    // stream cannot starve a loop: about 16 pipe-fulls (1 MiB with 64 KiB pipes).
    static constexpr int kRoundsPerCall = 16;

    SplicePump() = default;
    SplicePump(const SplicePump&) = delete;
    SplicePump& operator=(const SplicePump&) = delete;
    ~SplicePump();

    // Moves what can be moved now. Takes a pipe from `pool` only while bytes must wait in it and gives it back
    // as soon as it is empty. When the source reaches EOF and the pipe is empty, shuts down the destination's
    // write side (half-close is forwarded, never turned into a full close). `scratch` (the loop's buffer) is
    // used only to copy past urgent data. `other_done`: the opposite direction has finished, so the caller
    // closes both sockets as soon as this one is Done (the FIN then comes from close()).
    Outcome pump(SocketReadiness& src, SocketReadiness& dst, PipePool& pool, std::span<std::byte> scratch,
                 bool other_done = false);

    // Bytes copied through `scratch` at a time while src.urgent: at most what an empty pipe takes in one write.
    static constexpr size_t kUrgentCopyChunk = 16384;

    // Returns the pipe (dirty pipes are closed by the pool).
    void release(PipePool& pool);

    bool done() const { return done_; }
    int error() const { return error_; }
    // Which side failed: true when the error came from writing to the destination.
    bool error_on_write() const { return error_on_write_; }
    // The error is that no pipe could be made (EMFILE, ENFILE), not a socket's.
    bool error_no_pipe() const { return no_pipe_; }
    uint64_t bytes() const { return bytes_; }
    size_t pending() const { return pipe_ ? pipe_->bytes : 0; }

private:
    Pipe* pipe_ = nullptr;
    PipePool* owner_ = nullptr;
    bool src_eof_ = false;
    bool done_ = false;
    bool error_on_write_ = false;
    bool no_pipe_ = false;
    int error_ = 0;
    uint64_t bytes_ = 0;
};

}  // namespace ferry
