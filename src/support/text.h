// Untrusted bytes made safe to quote in a log line or an error message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ferry {

// `s` with every byte outside printable ASCII, and '\' and '"', written as \xHH.
std::string printable(std::string_view s);

// printable(s) in double quotes; at most `max_len` bytes of `s`, with "..." after the quote when cut.
std::string quoted(std::string_view s, size_t max_len = std::string_view::npos);

}  // namespace ferry
