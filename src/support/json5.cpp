#include "support/json5.h"

#include <algorithm>
#include <cstdint>

namespace ferry::json5 {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) {
    if (is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}
bool is_identifier_start(char c) {
    auto u = static_cast<unsigned char>(c);
    // Bytes >= 0x80: any non-ASCII character is taken as a letter (JSON5 wants Unicode letters; lenient).
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || u >= 0x80;
}
bool is_identifier_part(char c) { return is_identifier_start(c) || is_digit(c); }

// A character for a message: 'x', or \xNN for what would not print.
std::string describe_char(char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7F) return std::string("'") + c + "'";
    static constexpr char kHex[] = "0123456789abcdef";
    return std::string("byte \\x") + kHex[u >> 4] + kHex[u & 0xF];
}

class Converter {
public:
    explicit Converter(std::string_view in, Normalized& out) : in_(in), out_(out) {}

    void run() {
        // A UTF-8 byte order mark is white space to JSON5 (U+FEFF), so the general rule covers it.
        if (!skip_blank()) return;
        if (at_end()) {
            fail("empty document: expected a JSON5 value");
            return;
        }
        if (!value(0, 0)) return;
        if (!skip_blank()) return;
        if (!at_end()) fail("unexpected " + describe_char(peek()) + " after the end of the document");
    }

private:
    bool at_end() const { return pos_ >= in_.size(); }
    char peek(size_t ahead = 0) const { return pos_ + ahead < in_.size() ? in_[pos_ + ahead] : '\0'; }
    bool has(size_t ahead) const { return pos_ + ahead < in_.size(); }

    bool fail(std::string message, int line = 0) {
        if (out_.error.empty()) {
            out_.error = std::move(message);
            out_.error_line = line > 0 ? line : line_;
        }
        return false;
    }

    // Length of the line terminator at pos_ ("\r\n" is one), 0 if there is none.
    size_t line_break_length() const {
        char c = peek();
        if (c == '\n') return 1;
        if (c == '\r') return peek(1) == '\n' ? 2 : 1;
        if (c == '\xE2' && peek(1) == '\x80' && (peek(2) == '\xA8' || peek(2) == '\xA9')) return 3;
        return 0;
    }

    // Length of the non-line-break white space at pos_, 0 if there is none.
    size_t space_length() const {
        char c = peek();
        if (c == ' ' || c == '\t' || c == '\v' || c == '\f') return 1;
        auto b1 = static_cast<unsigned char>(peek(1)), b2 = static_cast<unsigned char>(peek(2));
        switch (static_cast<unsigned char>(c)) {
            case 0xC2:  // U+00A0
                return b1 == 0xA0 ? 2 : 0;
            case 0xE1:  // U+1680
                return b1 == 0x9A && b2 == 0x80 ? 3 : 0;
            case 0xE2:  // U+2000..U+200A, U+202F, U+205F
                if (b1 == 0x80 && (b2 <= 0x8A || b2 == 0xAF) && b2 >= 0x80) return 3;
                return b1 == 0x81 && b2 == 0x9F ? 3 : 0;
            case 0xE3:  // U+3000
                return b1 == 0x80 && b2 == 0x80 ? 3 : 0;
            case 0xEF:  // U+FEFF
                return b1 == 0xBB && b2 == 0xBF ? 3 : 0;
            default:
                return 0;
        }
    }

    // Whether white space or a line break starts at pos_ (the non-ASCII ones look like identifier bytes).
    bool at_blank() const { return space_length() > 0 || line_break_length() > 0; }

    // Consumes a line terminator if there is one.
    bool take_line_break() {
        size_t n = line_break_length();
        if (n == 0) return false;
        pos_ += n;
        ++line_;
        return true;
    }

    // Skips white space and comments. False (with the error set) for an unterminated block comment.
    bool skip_blank() {
        for (;;) {
            if (take_line_break()) continue;
            if (size_t n = space_length()) {
                pos_ += n;
                continue;
            }
            if (peek() == '/' && peek(1) == '/') {
                while (!at_end() && line_break_length() == 0) ++pos_;
                continue;
            }
            if (peek() == '/' && peek(1) == '*') {
                const int start = line_;
                pos_ += 2;
                for (;;) {
                    if (at_end()) return fail("unterminated /* comment", start);
                    if (peek() == '*' && peek(1) == '/') {
                        pos_ += 2;
                        break;
                    }
                    if (!take_line_break()) ++pos_;
                }
                continue;
            }
            return true;
        }
    }

    // Output, noting where each input line's output starts.
    void mark(int line) {
        if (out_.lines.empty() || out_.lines.back().line != line) {
            if (!out_.lines.empty() && out_.lines.back().offset == out_.json.size())
                out_.lines.back().line = line;
            else
                out_.lines.push_back({out_.json.size(), line});
        }
    }
    void emit(std::string_view s, int line) {
        mark(line);
        out_.json += s;
    }
    void emit(char c, int line) {
        mark(line);
        out_.json += c;
    }

    // One value at pos_ (white space already skipped). key_line: the line of its key, 0 outside objects.
    bool value(int key_line, int depth) {
        out_.value_lines.push_back(key_line > 0 ? key_line : line_);
        const char c = peek();
        if (c == '{' || c == '[') {
            if (depth >= kMaxDepth) return fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
            return c == '{' ? object(depth + 1) : array(depth + 1);
        }
        if (c == '"' || c == '\'') return string();
        if (is_digit(c) || c == '-' || c == '+' || c == '.') return number();
        if (is_identifier_start(c)) {
            const int line = line_;
            std::string word;
            while (!at_end() && is_identifier_part(peek()) && !at_blank()) word += in_[pos_++];
            if (word == "true" || word == "false" || word == "null") {
                emit(word, line);
                return true;
            }
            if (word == "Infinity" || word == "NaN") return fail(word + " is not supported (JSON has no such number)");
            return fail("unexpected word \"" + word + "\" (strings need quotes)", line);
        }
        if (at_end()) return fail("unexpected end of the document: expected a value");
        return fail("unexpected " + describe_char(c) + ": expected a value");
    }

    bool object(int depth) {
        const int open_line = line_;
        emit('{', line_);
        ++pos_;
        bool first = true;
        for (;;) {
            if (!skip_blank()) return false;
            if (peek() == '}') break;  // empty, or after a trailing comma
            if (at_end()) return fail("unterminated object (its '{' is here)", open_line);
            if (!first) emit(',', line_);
            first = false;
            const int key_line = line_;
            if (peek() == '"' || peek() == '\'') {
                if (!string()) return false;
            } else if (is_identifier_start(peek()) || peek() == '\\') {
                if (!identifier_key()) return false;
            } else {
                return fail("unexpected " + describe_char(peek()) + ": expected a key");
            }
            if (!skip_blank()) return false;
            if (peek() != ':') {
                if (at_end()) return fail("unterminated object (its '{' is here)", open_line);
                return fail("unexpected " + describe_char(peek()) + ": expected ':' after the key");
            }
            emit(':', line_);
            ++pos_;
            if (!skip_blank()) return false;
            if (at_end()) return fail("unterminated object (its '{' is here)", open_line);
            if (!value(key_line, depth)) return false;
            if (!skip_blank()) return false;
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == '}') break;
            if (at_end()) return fail("unterminated object (its '{' is here)", open_line);
            return fail("unexpected " + describe_char(peek()) + ": expected ',' or '}'");
        }
        emit('}', line_);
        ++pos_;
        return true;
    }

    bool array(int depth) {
        const int open_line = line_;
        emit('[', line_);
        ++pos_;
        bool first = true;
        for (;;) {
            if (!skip_blank()) return false;
            if (peek() == ']') break;
            if (at_end()) return fail("unterminated array (its '[' is here)", open_line);
            if (peek() == ',') return fail("unexpected ',': expected a value");
            if (!first) emit(',', line_);
            first = false;
            if (!value(0, depth)) return false;
            if (!skip_blank()) return false;
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() == ']') break;
            if (at_end()) return fail("unterminated array (its '[' is here)", open_line);
            return fail("unexpected " + describe_char(peek()) + ": expected ',' or ']'");
        }
        emit(']', line_);
        ++pos_;
        return true;
    }

    // Reads 4 hex digits after "\u" (pos_ at the first digit); nullopt-like -1 when they are not there.
    long read_u4() {
        if (!has(3) || !is_hex(peek()) || !is_hex(peek(1)) || !is_hex(peek(2)) || !is_hex(peek(3))) return -1;
        long v = 0;
        for (int i = 0; i < 4; ++i) v = v * 16 + hex_value(in_[pos_++]);
        return v;
    }

    // "\u" escapes (pos_ just after the 'u'), written out again as JSON "\uXXXX" with surrogates paired.
    bool unicode_escape(std::string& s) {
        long unit = read_u4();
        if (unit < 0) return fail("invalid \\u escape: expected 4 hex digits");
        if (unit == 0) return fail("NUL character (\\u0000) is not supported");
        if (unit >= 0xDC00 && unit <= 0xDFFF) return fail("invalid \\u escape: unpaired surrogate");
        auto append = [&s](long u) {
            static constexpr char kHex[] = "0123456789abcdef";
            s += "\\u";
            for (int shift = 12; shift >= 0; shift -= 4) s += kHex[(u >> shift) & 0xF];
        };
        append(unit);
        if (unit >= 0xD800 && unit <= 0xDBFF) {
            if (peek() != '\\' || peek(1) != 'u') return fail("invalid \\u escape: unpaired surrogate");
            pos_ += 2;
            long low = read_u4();
            if (low < 0xDC00 || low > 0xDFFF) return fail("invalid \\u escape: unpaired surrogate");
            append(low);
        }
        return true;
    }

    // A JSON string for the quoted JSON5 string at pos_.
    bool string() {
        const int start = line_;
        const char quote = in_[pos_++];
        std::string s = "\"";
        for (;;) {
            if (at_end()) return fail("unterminated string", start);
            const char c = peek();
            if (c == quote) {
                ++pos_;
                break;
            }
            if (c == '\n' || c == '\r') return fail("unterminated string (a line break must be escaped)", start);
            // cJSON would cut the string at a NUL ("\u0000" in its input): refused like the escapes that make one.
            if (c == '\0') return fail("NUL character (a 0 byte) is not supported");
            if (c == '\\') {
                ++pos_;
                if (at_end()) return fail("unterminated string", start);
                if (take_line_break()) continue;  // line continuation: nothing in the value
                const char e = in_[pos_++];
                switch (e) {
                    case '"': s += "\\\""; break;
                    case '\'': s += '\''; break;
                    case '\\': s += "\\\\"; break;
                    case '/': s += '/'; break;
                    case 'b': s += "\\b"; break;
                    case 'f': s += "\\f"; break;
                    case 'n': s += "\\n"; break;
                    case 'r': s += "\\r"; break;
                    case 't': s += "\\t"; break;
                    case 'v': s += "\\u000b"; break;
                    case '0':
                        if (is_digit(peek())) return fail("octal escapes are not allowed in JSON5");
                        return fail("NUL character (\\0) is not supported");
                    case 'x': {
                        if (!is_hex(peek()) || !is_hex(peek(1))) return fail("invalid \\x escape: expected 2 hex digits");
                        const char h = in_[pos_], l = in_[pos_ + 1];
                        pos_ += 2;
                        if (h == '0' && l == '0') return fail("NUL character (\\x00) is not supported");
                        s += "\\u00";
                        s += h;
                        s += l;
                        break;
                    }
                    case 'u':
                        if (!unicode_escape(s)) return false;
                        break;
                    default:
                        if (is_digit(e)) return fail(std::string("invalid escape \\") + e);
                        if (e == '\0') return fail("NUL character (a 0 byte) is not supported");
                        // Any other character escapes to itself ("\a" is "a"); a multi-byte one continues below.
                        --pos_;
                        copy_char(s);
                        break;
                }
                continue;
            }
            // U+2028 and U+2029 are allowed raw in JSON5 strings (and in JSON): only count the line.
            if (line_break_length() == 3) {
                s.append(in_.substr(pos_, 3));
                pos_ += 3;
                ++line_;
                continue;
            }
            copy_char(s);
        }
        s += '"';
        emit(s, start);
        return true;
    }

    // Copies the byte at pos_ into the JSON string s, escaping what JSON needs.
    void copy_char(std::string& s) {
        const char c = in_[pos_++];
        auto u = static_cast<unsigned char>(c);
        if (c == '"') {
            s += "\\\"";
        } else if (c == '\\') {
            s += "\\\\";
        } else if (c == '\t') {
            s += "\\t";
        } else if (u < 0x20 || u == 0x7F) {
            static constexpr char kHex[] = "0123456789abcdef";
            s += "\\u00";
            s += kHex[u >> 4];
            s += kHex[u & 0xF];
        } else {
            s += c;
        }
    }

    // An unquoted key: an identifier, "\uXXXX" escapes allowed.
    bool identifier_key() {
        const int line = line_;
        std::string s = "\"";
        bool any = false;
        while (!at_end()) {
            if (peek() == '\\') {
                if (peek(1) != 'u') return fail("invalid escape in a key: only \\uXXXX is allowed");
                pos_ += 2;
                if (!unicode_escape(s)) return false;
            } else if (is_identifier_part(peek()) && (any || is_identifier_start(peek())) && !at_blank()) {
                s += in_[pos_++];
            } else {
                break;
            }
            any = true;
        }
        s += '"';
        emit(s, line);
        return true;
    }

    bool number() {
        const int line = line_;
        std::string s;
        bool negative = false;
        if (peek() == '+' || peek() == '-') {
            negative = peek() == '-';
            ++pos_;
        }
        if (negative) s += '-';
        if (is_identifier_start(peek())) {
            std::string word;
            while (!at_end() && is_identifier_part(peek())) word += in_[pos_++];
            if (word == "Infinity" || word == "NaN") return fail(word + " is not supported (JSON has no such number)");
            return fail("invalid number");
        }
        if (peek() == '0' && (peek(1) == 'x' || peek(1) == 'X')) {
            pos_ += 2;
            if (!is_hex(peek())) return fail("invalid hex number: no digits after 0x");
            uint64_t v = 0;
            while (is_hex(peek())) {
                if (v > (UINT64_MAX >> 4)) return fail("hex number too large (more than 64 bits)");
                v = v << 4 | static_cast<uint64_t>(hex_value(in_[pos_++]));
            }
            s += std::to_string(v);
        } else {
            std::string integer, fraction;
            while (is_digit(peek())) integer += in_[pos_++];
            if (integer.size() > 1 && integer[0] == '0') return fail("invalid number: leading zero");
            bool dot = false;
            if (peek() == '.') {
                dot = true;
                ++pos_;
                while (is_digit(peek())) fraction += in_[pos_++];
            }
            if (integer.empty() && fraction.empty()) return fail(dot ? "invalid number: no digits" : "invalid number");
            s += integer.empty() ? "0" : integer;
            if (!fraction.empty()) s += "." + fraction;
            if (peek() == 'e' || peek() == 'E') {
                ++pos_;
                s += 'e';
                if (peek() == '+' || peek() == '-') s += in_[pos_++];
                if (!is_digit(peek())) return fail("invalid number: no digits in the exponent");
                while (is_digit(peek())) s += in_[pos_++];
            }
        }
        // Non-ASCII white space (U+00A0, U+FEFF, ...) ends a number like a space does.
        if (is_identifier_part(peek()) && !at_blank())
            return fail("invalid number: unexpected " + describe_char(peek()));
        emit(s, line);
        return true;
    }

    std::string_view in_;
    Normalized& out_;
    size_t pos_ = 0;
    int line_ = 1;
};

// Pre-order walk of a cJSON tree (the document order of its values).
void number_items(const cJSON* item, const std::vector<int>& lines, size_t& next,
                  std::unordered_map<const cJSON*, int>& out) {
    for (; item != nullptr; item = item->next) {
        out[item] = next < lines.size() ? lines[next] : 0;
        ++next;
        if (cJSON_IsObject(item) || cJSON_IsArray(item)) number_items(item->child, lines, next, out);
    }
}

}  // namespace

int Normalized::line_at(size_t offset) const {
    auto it = std::upper_bound(lines.begin(), lines.end(), offset,
                               [](size_t o, const LineMark& m) { return o < m.offset; });
    if (it == lines.begin()) return 1;
    return std::prev(it)->line;
}

Normalized normalize(std::string_view text) {
    Normalized out;
    Converter(text, out).run();
    if (!out.ok()) {
        out.json.clear();
        out.lines.clear();
        out.value_lines.clear();
    }
    return out;
}

int Document::line_of(const cJSON* item) const {
    auto it = lines_.find(item);
    return it == lines_.end() ? 0 : it->second;
}

ParseResult parse(std::string_view text) {
    ParseResult result;
    Normalized n = normalize(text);
    if (!n.ok()) {
        result.error = std::move(n.error);
        result.error_line = n.error_line;
        return result;
    }
    // The length includes the terminating NUL: with require_null_terminated cJSON looks for it.
    const char* end = nullptr;
    cJSON* root = cJSON_ParseWithLengthOpts(n.json.c_str(), n.json.size() + 1, &end, 1);
    if (root == nullptr) {
        // Not expected for normalize()'s output (it checks the syntax); kept for allocation failures.
        const size_t at = end != nullptr ? static_cast<size_t>(end - n.json.c_str()) : 0;
        result.error = "cannot parse the document (cJSON rejected it)";
        result.error_line = n.line_at(at);
        return result;
    }
    Document doc;
    doc.root_.reset(root);
    size_t next = 0;
    number_items(root, n.value_lines, next, doc.lines_);
    result.document = std::move(doc);
    return result;
}

}  // namespace ferry::json5
