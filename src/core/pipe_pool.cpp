#include "core/pipe_pool.h"

#include <fcntl.h>
#include <unistd.h>

namespace ferry {

Pipe* PipePool::take() {
    if (!idle_.empty()) {
        Pipe* p = idle_.back();
        idle_.pop_back();
        ++in_use_;
        return p;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1) return nullptr;
    auto* p = new Pipe{Fd(fds[0]), Fd(fds[1]), 0};
    if (pipe_size_ > 0) ::fcntl(fds[1], F_SETPIPE_SZ, pipe_size_);
    ++in_use_;
    return p;
}

void PipePool::give_back(Pipe* pipe) {
    if (!pipe) return;
    --in_use_;
    if (pipe->bytes == 0 && idle_.size() < max_idle_) {
        idle_.push_back(pipe);
        return;
    }
    delete pipe;
}

PipePool::~PipePool() {
    for (Pipe* p : idle_) delete p;
}

}  // namespace ferry
