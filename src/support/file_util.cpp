#include "support/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fd.h"

namespace ferry {

int read_text_file(const std::string& path, std::string& text, const char** op, size_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (op) *op = "open";
        return errno;
    }
    char buf[4096];
    size_t read = 0;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            if (op) *op = "read";
            return errno;
        }
        if (n == 0) return 0;
        if (static_cast<size_t>(n) > max_bytes - read) {
            if (op) *op = "read";
            return EFBIG;
        }
        read += static_cast<size_t>(n);
        text.append(buf, static_cast<size_t>(n));
    }
}

std::string read_error_text(int err, size_t max_bytes) {
    if (err == EFBIG)
        return "larger than " + std::to_string(max_bytes / (1024 * 1024)) + " MiB, the limit for this file";
    return std::strerror(err);
}

void write_text(int fd, std::string_view text) {
    while (!text.empty()) {
        ssize_t n = ::write(fd, text.data(), text.size());
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) return;
        text.remove_prefix(static_cast<size_t>(n));
    }
}

}  // namespace ferry
