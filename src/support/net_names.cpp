#include "support/net_names.h"

namespace ferry {
namespace {

constexpr size_t kMaxLabel = 63;

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

bool is_interface_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxInterfaceName || name == "." || name == "..") return false;
    for (char c : name) {
        auto u = static_cast<unsigned char>(c);
        if (c == '/' || c == ':' || u <= 0x20 || u == 0x7F) return false;
    }
    return true;
}

bool is_host_name(std::string_view name) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty() || name.size() > kMaxHostName) return false;
    bool last_all_digits = true;
    size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            last_all_digits = true;
            continue;
        }
        if (!is_label_char(c) || ++label > kMaxLabel) return false;
        last_all_digits = last_all_digits && c >= '0' && c <= '9';
    }
    return label > 0 && !last_all_digits;
}

}  // namespace ferry
