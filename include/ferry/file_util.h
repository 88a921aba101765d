// Reading configuration files whole.
#pragma once

#include <string>

namespace ferry {

// Appends the contents of the file at `path` to `text`. Returns 0, or the errno of the failing step, whose name
// ("open" or "read") goes to *op when op is not null.
int read_text_file(const std::string& path, std::string& text, const char** op = nullptr);

}  // namespace ferry
