// libFuzzer target for the JSON5 reader of the srcproxy configuration (src/support/json5.*): normalize() and
// parse() over a configuration file's text. Input: the text.
// Invariants:
//   - a failure has a message and a line (1 .. the text's line count) and no output; success has neither;
//   - normalizing the same text twice gives the same result;
//   - what normalize() accepts, cJSON accepts (parse() never fails where normalize() succeeded), and the
//     document has exactly one line per value (value_lines), ascending in document order and within the text;
//   - the JSON holds no "\u0000" escape (NUL characters are refused, as the header promises: cJSON would cut
//     the string there);
//   - normalize()'s output read again means the same (equal trees), normalizing twice is a fixed point,
//     and JSON5 white space or comments around an accepted document
//     (a space, a line break, U+00A0, U+FEFF, U+2028, a block or a line comment) change nothing in the JSON.
#include "support/json5.h"

#include "fuzz_util.h"

#include <cjson/cJSON.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace ferry::json5;
using ferry::fuzz::require;

bool same(const Normalized& a, const Normalized& b) {
    if (a.json != b.json || a.error != b.error || a.error_line != b.error_line || a.value_lines != b.value_lines ||
        a.lines.size() != b.lines.size())
        return false;
    for (size_t i = 0; i < a.lines.size(); ++i)
        if (a.lines[i].offset != b.lines[i].offset || a.lines[i].line != b.lines[i].line) return false;
    return true;
}

// Lines as JSON5 counts them: "\n", "\r\n", a lone "\r", U+2028 and U+2029 end one. An upper bound is enough.
int line_count(std::string_view text) {
    int n = 1;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n'))) ++n;
        if (text.substr(i, 3) == "\xE2\x80\xA8" || text.substr(i, 3) == "\xE2\x80\xA9") ++n;
    }
    return n;
}

// Whether the JSON text has a \u0000 escape in a string (a backslash that starts an escape, then u0000).
bool has_nul_escape(std::string_view json) {
    bool in_string = false;
    for (size_t i = 0; i < json.size(); ++i) {
        if (!in_string) {
            in_string = json[i] == '"';
            continue;
        }
        if (json[i] == '"') {
            in_string = false;
        } else if (json[i] == '\\') {
            if (json.substr(i + 1, 5) == "u0000") return true;
            ++i;  // the escaped character
        }
    }
    return false;
}

void count_items(const cJSON* item, size_t& n) {
    for (; item != nullptr; item = item->next) {
        ++n;
        if (cJSON_IsObject(item) || cJSON_IsArray(item)) count_items(item->child, n);
    }
}

// cJSON_Compare() without its epsilon, which finds 1e999 (infinity to cJSON) unequal to itself.
bool same_tree(const cJSON* a, const cJSON* b) {
    for (; a != nullptr && b != nullptr; a = a->next, b = b->next) {
        if ((a->type & 0xFF) != (b->type & 0xFF)) return false;
        if ((a->string == nullptr) != (b->string == nullptr)) return false;
        if (a->string != nullptr && std::strcmp(a->string, b->string) != 0) return false;
        if (cJSON_IsString(a) && std::strcmp(a->valuestring, b->valuestring) != 0) return false;
        if (cJSON_IsNumber(a) && a->valuedouble != b->valuedouble) return false;
        if (!same_tree(a->child, b->child)) return false;
    }
    return a == nullptr && b == nullptr;
}

void check_lines(const cJSON* item, const Document& doc, int max_line, int& previous) {
    for (; item != nullptr; item = item->next) {
        const int line = doc.line_of(item);
        require(line >= 1 && line <= max_line && line >= previous);
        previous = line;
        if (cJSON_IsObject(item) || cJSON_IsArray(item)) check_lines(item->child, doc, max_line, previous);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // An exact-size copy, so reading past the end is a heap overflow the sanitizer sees.
    const std::vector<std::byte> input = ferry::fuzz::copy_bytes(data, size);
    const std::string_view text = ferry::fuzz::as_text(input);
    const int max_line = line_count(text);

    const Normalized n = normalize(text);
    require(same(n, normalize(text)));
    if (!n.ok()) {
        require(n.json.empty() && n.lines.empty() && n.value_lines.empty());
        require(n.error_line >= 1 && n.error_line <= max_line);
        return 0;
    }
    require(n.error_line == 0 && !n.json.empty() && !n.value_lines.empty());
    require(!n.lines.empty() && n.lines.front().offset == 0);
    for (size_t i = 1; i < n.lines.size(); ++i) require(n.lines[i].offset > n.lines[i - 1].offset);
    require(!has_nul_escape(n.json));

    const ParseResult p = parse(text);
    require(p.ok() && p.error.empty() && p.document->root() != nullptr);
    size_t items = 0;
    count_items(p.document->root(), items);
    require(items == n.value_lines.size());
    int previous = 1;
    check_lines(p.document->root(), *p.document, max_line, previous);

    // Its own output is JSON5 that means the same (escapes may change case: "\x2F" -> "\u002F" -> "\u002f"), and
    // normalizing that is a fixed point.
    const ParseResult reparsed = parse(n.json);
    require(reparsed.ok() && same_tree(reparsed.document->root(), p.document->root()));
    const Normalized again = normalize(n.json);
    require(again.ok() && normalize(again.json).json == again.json);
    for (std::string_view blank : {" ", "\n", "\r\n", "\t", "\xC2\xA0", "\xEF\xBB\xBF", "\xE2\x80\xA8", "/* c */"}) {
        const std::string wrapped = std::string(blank) + std::string(text) + std::string(blank);
        const Normalized w = normalize(wrapped);
        require(w.ok() && w.json == n.json);
    }
    // A line comment needs a line break after it; the text may end in one of its own.
    const Normalized c = normalize("// c\n" + std::string(text) + "\n// c");
    require(c.ok() && c.json == n.json);
    return 0;
}
