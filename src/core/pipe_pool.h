// Pipes for splice(2): two owned fds plus the count of bytes waiting in them. A per-thread pool hands them out
// when bytes must wait between two sockets and takes back only empty ones (HAProxy pipe.c).
#pragma once

#include <cstddef>
#include <vector>

#include "core/fd.h"

namespace ferry {

struct Pipe {
    Fd read_end;
    Fd write_end;
    size_t bytes = 0;  // spliced in and not yet spliced out
};

class PipePool {
public:
    // Keeps at most `max_idle` empty pipes for reuse; more are closed when returned.
    explicit PipePool(size_t max_idle, int pipe_size = 0) : max_idle_(max_idle), pipe_size_(pipe_size) {}
    PipePool(const PipePool&) = delete;
    PipePool& operator=(const PipePool&) = delete;

    // Returns a pipe with no bytes in it, or nullptr with errno set (EMFILE, ENFILE) when none can be made.
    Pipe* take();
    // Takes back a pipe. An empty pipe is kept for reuse (up to max_idle); a dirty one is closed, never pooled.
    void give_back(Pipe* pipe);

    size_t idle() const { return idle_.size(); }
    size_t in_use() const { return in_use_; }

private:
    size_t max_idle_;
    int pipe_size_;
    size_t in_use_ = 0;
    std::vector<Pipe*> idle_;

public:
    ~PipePool();
};

}  // namespace ferry
