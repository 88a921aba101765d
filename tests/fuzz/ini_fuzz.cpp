// libFuzzer target for the strict INI reader (src/support/ini.*, over inih): parse() over an INI file's text (the
// moproxy server list, `ferry run`'s configuration), and split_list() / parse_bool() over its values.
// Input: the text.
// Invariants:
//   - failure iff an error is set, which is "fuzz.ini:<error_line>: ..." and never inih's bare "syntax error"
//     (the reader refuses every line inih would, first);
//   - parsing the same text twice gives the same result;
//   - every section and key read lies before error_line; sections come in line order, each key after its section
//     header and after the key before it; key names are non-empty and unique in their section; names and values
//     are trimmed; no value holds a line break or NUL;
//   - what was read (also the part before an error) written back as "[name]" and "key=value" lines parses without
//     error to the same sections, keys and values;
//   - split_list() items are trimmed and join back (with ',') to the value's items; parse_bool() knows its words.
#include "support/ini.h"

#include "fuzz_util.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::ini;
using ferry::fuzz::require;

constexpr std::string_view kFile = "fuzz.ini";

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

bool trimmed(std::string_view s) { return s.empty() || (!is_blank(s.front()) && !is_blank(s.back())); }

bool same_content(const std::vector<Section>& a, const std::vector<Section>& b, bool with_lines) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].keys.size() != b[i].keys.size()) return false;
        if (with_lines && a[i].line != b[i].line) return false;
        for (size_t j = 0; j < a[i].keys.size(); ++j) {
            const Key &x = a[i].keys[j], &y = b[i].keys[j];
            if (x.name != y.name || x.value != y.value || (with_lines && x.line != y.line)) return false;
        }
    }
    return true;
}

void check_values(const Key& k) {
    const std::vector<std::string_view> items = split_list(k.value);
    std::string joined;
    for (size_t i = 0; i < items.size(); ++i) {
        require(trimmed(items[i]) && items[i].find(',') == std::string_view::npos);
        if (i > 0) joined += ',';
        joined += items[i];
    }
    if (!items.empty()) {
        const std::vector<std::string_view> again = split_list(joined);
        require(again.size() == items.size());
        for (size_t i = 0; i < items.size(); ++i) require(again[i] == items[i]);
    }
    if (const auto b = parse_bool(k.value)) {
        require(k.value.size() <= 5);
        require(*parse_bool(*b ? "YES" : "Off") == *b);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::string_view text = ferry::fuzz::as_text(input);

    const ParseResult r = parse(text, kFile);
    const ParseResult again = parse(text, kFile);
    require(again.error == r.error && again.error_line == r.error_line &&
            same_content(again.sections, r.sections, true));
    require(r.ok() == (r.error_line == 0));
    if (!r.ok()) {
        const std::string prefix = std::string(kFile) + ":" + std::to_string(r.error_line) + ": ";
        require(r.error_line >= 1 && r.error.starts_with(prefix) && r.error != prefix + "syntax error");
    }

    int last_line = 0;
    for (const Section& s : r.sections) {
        require(s.line > last_line && trimmed(s.name));
        last_line = s.line;
        for (size_t i = 0; i < s.keys.size(); ++i) {
            const Key& k = s.keys[i];
            require(k.line > last_line && !k.name.empty() && trimmed(k.name) && trimmed(k.value));
            require(k.value.find_first_of(std::string_view("\n\0", 2)) == std::string::npos);
            last_line = k.line;
            require(s.find(k.name) == &k);
            check_values(k);
        }
    }
    if (!r.ok()) require(last_line < r.error_line);

    std::string written;
    for (const Section& s : r.sections) {
        written += "[" + s.name + "]\n";
        for (const Key& k : s.keys) written += k.name + "=" + k.value + "\n";
    }
    const ParseResult back = parse(written, kFile);
    require(back.ok() && same_content(back.sections, r.sections, false));
    return 0;
}
