// Reading configuration files whole; writing a whole text to an fd (usage texts, messages).
#pragma once

#include <string>
#include <string_view>

namespace ferry {

// Appends the contents of the file at `path` to `text`. Returns 0, or the errno of the failing step, whose name
// ("open" or "read") goes to *op when op is not null.
int read_text_file(const std::string& path, std::string& text, const char** op = nullptr);

// Writes all of `text` to `fd` (retrying short writes and EINTR); gives up silently on an error.
void write_text(int fd, std::string_view text);

}  // namespace ferry
