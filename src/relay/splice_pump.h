// One direction of a relay: bytes from a source socket to a destination socket. Bulk goes through a pipe with
// splice(2), so it never enters user space (nginx's proxy_process for one direction, HAProxy's splice
// forwarding); small messages are copied through the loop's buffer, where two plain syscalls beat the pipe's
// page juggling; and the copy path also carries a stream past TCP urgent data and through fd exhaustion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/io.h"
#include "core/pipe_pool.h"

namespace ferry {

// How a pump moves bytes.
enum class RelayMode {
    Adaptive,  // copy while reads are small, splice once a read fills the copy buffer (bulk), back on small
    Splice,    // always splice (copy only past urgent data or without a pipe)
    Copy,      // always copy
};

// Sees every block a pump reads and says what to write instead (interceptors, relay/interceptor.h).
class BlockFilter {
public:
    // Appends the bytes to write in place of `in` to `out` (empty on entry). False: the connection is reset,
    // `why` says why.
    virtual bool filter(std::span<const std::byte> in, std::vector<std::byte>& out, std::string& why) = 0;
    // The source reached EOF: append what is still held back to `out` (sent before the half-close).
    virtual bool finish(std::vector<std::byte>& out, std::string& why);
    // The source has nothing to read for now: a chance to free large buffers.
    virtual void idle();

protected:
    ~BlockFilter() = default;
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
    // Bytes read per copy. A read that fills it means bulk is flowing: Adaptive switches to splice.
    static constexpr size_t kCopyChunk = 16384;
    // A splice that moves less than this is a small message (HAProxy's MIN_SPLICE_FORWARD is 4096)...
    static constexpr size_t kSmallSplice = 4096;
    // ...and this many in a row send Adaptive back to copying.
    static constexpr int kSmallSplicesToCopy = 4;
    // Round trips (source -> destination) per call before yielding to other connections, so one fast stream
    // cannot starve a loop: about 16 pipe-fulls (1 MiB with 64 KiB pipes).
    static constexpr int kRoundsPerCall = 16;

    explicit SplicePump(RelayMode mode = RelayMode::Splice)
        : mode_(mode), copying_(mode != RelayMode::Splice) {}
    SplicePump(const SplicePump&) = delete;
    SplicePump& operator=(const SplicePump&) = delete;
    ~SplicePump();

    // Moves what can be moved now. Takes a pipe from `pool` only while bytes must wait in it and gives it back
    // as soon as it is empty; when no pipe can be had (EMFILE), copies instead of failing. When the source
    // reaches EOF and everything is delivered, shuts down the destination's write side (half-close is
    // forwarded, never turned into a full close). `scratch` is the loop's buffer, used for copies.
    // `other_done`: the opposite direction has finished, so the caller closes both sockets as soon as this one
    // is Done (the FIN then comes from close()).
    Outcome pump(SocketReadiness& src, SocketReadiness& dst, PipePool& pool, std::span<std::byte> scratch,
                 bool other_done = false);

    // From now on every block read goes through `filter` (null: none) and the pump copies: one block is read,
    // filtered, and written out before the next read, so at most one filtered block waits here. Set before the
    // first pump().
    void set_filter(BlockFilter* filter);
    // Why the filter failed (error() is then EPROTO).
    const std::string& filter_error() const { return filter_error_; }

    // Returns the pipe (dirty pipes are closed by the pool).
    void release(PipePool& pool);

    bool done() const { return done_; }
    // The source's EOF has been read (its bytes may still be on their way out).
    bool eof_seen() const { return src_eof_; }
    int error() const { return error_; }
    // Which side failed: true when the error came from writing to the destination.
    bool error_on_write() const { return error_on_write_; }
    bool copying() const { return copying_; }
    uint64_t bytes() const { return bytes_; }
    size_t pending() const { return (pipe_ ? pipe_->bytes : 0) + pending_len_; }

private:
    enum class Step { Again, Blocked, Error };
    Step copy_once(SocketReadiness& src, SocketReadiness& dst, std::span<std::byte> scratch);
    Step splice_once(SocketReadiness& src);
    Step fail(int err, bool on_write);
    template <typename WriteOnce>
    std::optional<Outcome> deliver(SocketReadiness& dst, size_t& waiting, WriteOnce&& write_once);

    RelayMode mode_;
    bool copying_;
    int small_splices_ = 0;
    Pipe* pipe_ = nullptr;
    PipePool* owner_ = nullptr;
    // Copied bytes the destination did not take yet (allocated on the first short send only), or a filtered
    // block on its way out.
    std::vector<std::byte> pending_;
    BlockFilter* filter_ = nullptr;
    bool filter_finished_ = false;
    std::string filter_error_;
    size_t pending_off_ = 0;
    size_t pending_len_ = 0;
    bool src_eof_ = false;
    bool done_ = false;
    bool error_on_write_ = false;
    int error_ = 0;
    uint64_t bytes_ = 0;
};

}  // namespace ferry
