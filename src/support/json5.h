// JSON5 (https://spec.json5.org, 1.0.0) for configuration files: normalize() rewrites JSON5 text as plain JSON
// that cJSON parses, keeping track of which input line each part of the output came from; parse() does both
// steps and tells the input line of every cJSON item, so a configuration error can name its line.
// Startup-only code: allocates freely, no globals, no exceptions.
//
// What is rewritten: // and /* */ comments and JSON5's extra white space (U+00A0, U+FEFF, U+2028, U+2029 and
// the other Unicode space separators) are dropped; trailing commas dropped; unquoted keys quoted; single-quoted
// strings double-quoted with their escapes made JSON's (\' \v \xNN, line continuations, "\a" = "a"); numbers
// made JSON's: 0x hex to decimal, a leading '+' dropped, ".5" -> "0.5", "5." -> "5".
// What is refused, beyond bad syntax: Infinity and NaN (JSON cannot carry them), hex numbers above 2^64 - 1,
// NUL characters in strings or keys (cJSON strings are NUL-terminated: a 0 byte, "\0", "\x00", "\u0000"), unpaired
// \u surrogates, and nesting deeper than kMaxDepth.
#pragma once

#include <cjson/cJSON.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ferry::json5 {

inline constexpr int kMaxDepth = 64;  // objects and arrays inside each other; a configuration needs 3

// From output offset `offset` on (until the next mark), the JSON came from input line `line` (1-based).
struct LineMark {
    size_t offset = 0;
    int line = 1;
};

struct Normalized {
    std::string json;              // compact JSON text; empty on failure
    std::vector<LineMark> lines;   // ascending offsets, the first at 0
    // One entry per value (objects, arrays and scalars alike) in document order, which is the pre-order of
    // the parsed tree: the input line of the value, or for an object member, of its key.
    std::vector<int> value_lines;
    std::string error;             // on failure, e.g. "unterminated string"; empty on success
    int error_line = 0;            // on failure, the input line the error is about (where the string began)

    bool ok() const { return error.empty(); }
    // The input line output offset `offset` came from; 1 before the first mark or without marks.
    int line_at(size_t offset) const;
};

// Rewrites one JSON5 value (with optional white space and comments around it) as JSON. Line breaks are "\n",
// "\r\n", a lone "\r", U+2028 and U+2029. Bytes that are not UTF-8 are passed through as they are.
Normalized normalize(std::string_view text);

struct CjsonDeleter {
    void operator()(cJSON* item) const { cJSON_Delete(item); }
};

struct ParseResult;
// normalize(), then cJSON on the result.
ParseResult parse(std::string_view text);

// A parsed JSON5 document: the cJSON tree and the input line of each of its items.
class Document {
public:
    const cJSON* root() const { return root_.get(); }
    // For an item of this tree: the line of its key for an object member, else of the value itself.
    // 0 for a pointer that is not an item of this tree.
    int line_of(const cJSON* item) const;

private:
    friend ParseResult parse(std::string_view text);
    std::unique_ptr<cJSON, CjsonDeleter> root_;
    std::unordered_map<const cJSON*, int> lines_;
};

struct ParseResult {
    std::optional<Document> document;  // set on success
    std::string error;                 // on failure: normalize()'s message, or cJSON's rejection
    int error_line = 0;
    bool ok() const { return document.has_value(); }
};

}  // namespace ferry::json5
