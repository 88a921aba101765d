// Reading configuration files whole; writing a whole text to an fd (usage texts, messages).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry {

// The largest configuration file (server list, allowed subnets, JSON5, `ferry run` file) read: far above any
// real one (a country's prefix list is well under 1 MiB), and small enough that a wrong path (/dev/zero, a
// growing log) fails at once with a clear message instead of taking all the memory (it aborted with bad_alloc).
inline constexpr size_t kMaxTextFileBytes = 16 * 1024 * 1024;

// Appends the contents of the file at `path` to `text`. Returns 0, or the errno of the failing step, whose name
// ("open" or "read") goes to *op when op is not null: EFBIG when the file holds more than `max_bytes`.
int read_text_file(const std::string& path, std::string& text, const char** op = nullptr,
                   size_t max_bytes = kMaxTextFileBytes);

// What read_text_file's errno means, for messages: strerror's text, but for EFBIG the limit.
std::string read_error_text(int err, size_t max_bytes = kMaxTextFileBytes);

// Writes all of `text` to `fd` (retrying short writes and EINTR); gives up silently on an error.
void write_text(int fd, std::string_view text);

}  // namespace ferry
