#include "support/text.h"

namespace ferry {

std::string printable(std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7F && c != '\\' && c != '"') {
            out += c;
        } else {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        }
    }
    return out;
}

std::string quoted(std::string_view s, size_t max_len) {
    std::string out = "\"" + printable(s.substr(0, max_len)) + "\"";
    if (s.size() > max_len) out += "...";
    return out;
}

}  // namespace ferry
