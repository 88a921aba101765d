#include "support/goflag.h"

#include <cassert>
#include <cstdint>
#include <limits>

namespace ferry::goflag {

namespace {

constexpr uint64_t kSignBit = uint64_t{1} << 63;  // 1<<63, the magnitude of INT64_MIN

// Go's strconv lower(): folds ASCII letters to lower case (and maps some punctuation elsewhere, harmlessly).
constexpr char lower(char c) { return static_cast<char>(c | ('x' - 'X')); }

struct UintParse {
    uint64_t value = 0;
    NumberError error = NumberError::None;
};

// strconv's underscoreOK: '_' may appear only between digits, or between a base prefix and a digit.
bool underscore_ok(std::string_view s) {
    char saw = '^';  // '^' start, '0' digit or prefix, '_' underscore, '!' anything else
    size_t i = 0;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
    bool hex = false;
    if (s.size() >= 2 && s[0] == '0' && (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
        i = 2;
        saw = '0';
        hex = lower(s[1]) == 'x';
    }
    for (; i < s.size(); ++i) {
        char c = s[i];
        if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' && lower(c) <= 'f')) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0') return false;
            saw = '_';
            continue;
        }
        if (saw == '_') return false;
        saw = '!';
    }
    return saw != '_';
}

// strconv.ParseUint(s, 0, 64) on an unsigned string.
UintParse parse_uint_base0(std::string_view s) {
    if (s.empty()) return {0, NumberError::Syntax};
    const std::string_view whole = s;
    unsigned base = 10;
    if (s[0] == '0') {
        if (s.size() >= 3 && lower(s[1]) == 'b') {
            base = 2;
            s.remove_prefix(2);
        } else if (s.size() >= 3 && lower(s[1]) == 'o') {
            base = 8;
            s.remove_prefix(2);
        } else if (s.size() >= 3 && lower(s[1]) == 'x') {
            base = 16;
            s.remove_prefix(2);
        } else {
            base = 8;
            s.remove_prefix(1);
        }
    }
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    const uint64_t cutoff = kMax / base + 1;  // smallest n with n*base > kMax
    bool underscores = false;
    uint64_t n = 0;
    for (char c : s) {
        unsigned d = 0;
        if (c == '_') {
            underscores = true;
            continue;
        } else if (c >= '0' && c <= '9') {
            d = static_cast<unsigned>(c - '0');
        } else if (lower(c) >= 'a' && lower(c) <= 'z') {
            d = static_cast<unsigned>(lower(c) - 'a') + 10;
        } else {
            return {0, NumberError::Syntax};
        }
        if (d >= base) return {0, NumberError::Syntax};
        if (n >= cutoff) return {kMax, NumberError::Range};
        n *= base;
        uint64_t n1 = n + d;
        if (n1 < n) return {kMax, NumberError::Range};
        n = n1;
    }
    if (underscores && !underscore_ok(whole)) return {0, NumberError::Syntax};
    return {n, NumberError::None};
}

// time's leadingInt: the leading [0-9]* of *s, consumed; nullopt on overflow past 1<<63.
std::optional<uint64_t> leading_int(std::string_view* s) {
    uint64_t x = 0;
    size_t i = 0;
    for (; i < s->size(); ++i) {
        char c = (*s)[i];
        if (c < '0' || c > '9') break;
        if (x > kSignBit / 10) return std::nullopt;
        x = x * 10 + static_cast<uint64_t>(c - '0');
        if (x > kSignBit) return std::nullopt;
    }
    s->remove_prefix(i);
    return x;
}

// time's leadingFraction: the leading [0-9]* of *s, consumed; precision stops growing on overflow.
void leading_fraction(std::string_view* s, uint64_t* x, double* scale) {
    *x = 0;
    *scale = 1;
    bool overflow = false;
    size_t i = 0;
    for (; i < s->size(); ++i) {
        char c = (*s)[i];
        if (c < '0' || c > '9') break;
        if (overflow) continue;
        if (*x > (kSignBit - 1) / 10) {
            overflow = true;
            continue;
        }
        uint64_t y = *x * 10 + static_cast<uint64_t>(c - '0');
        if (y > kSignBit) {
            overflow = true;
            continue;
        }
        *x = y;
        *scale *= 10;
    }
    s->remove_prefix(i);
}

std::optional<uint64_t> unit_nanoseconds(std::string_view unit) {
    if (unit == "ns") return 1;
    if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return 1'000;  // µ (U+00B5), μ (U+03BC)
    if (unit == "ms") return 1'000'000;
    if (unit == "s") return 1'000'000'000;
    if (unit == "m") return 60'000'000'000;
    if (unit == "h") return 3'600'000'000'000;
    return std::nullopt;
}

// Writes v's decimal digits right-aligned ending at *w (time's fmtInt).
void put_int(char* buf, size_t* w, uint64_t v) {
    if (v == 0) {
        buf[--*w] = '0';
        return;
    }
    while (v > 0) {
        buf[--*w] = static_cast<char>('0' + v % 10);
        v /= 10;
    }
}

// time's fmtFrac: writes the fraction of v / 10^prec without trailing zeros (and no '.' when it is zero)
// right-aligned ending at *w, and returns v / 10^prec.
uint64_t put_frac(char* buf, size_t* w, uint64_t v, int prec) {
    bool print = false;
    for (int i = 0; i < prec; ++i) {
        auto digit = static_cast<char>(v % 10);
        print = print || digit != 0;
        if (print) buf[--*w] = static_cast<char>('0' + digit);
        v /= 10;
    }
    if (print) buf[--*w] = '.';
    return v;
}

// Decodes one UTF-8 rune as Go's utf8.DecodeRuneInString does; *width is 1 and the result -1 when the bytes
// at s are not a valid, shortest-form encoding of a Unicode scalar value.
int32_t decode_rune(std::string_view s, size_t* width) {
    auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
    auto cont = [&](size_t i, uint8_t lo, uint8_t hi) { return i < s.size() && b(i) >= lo && b(i) <= hi; };
    *width = 1;
    uint8_t c = b(0);
    if (c < 0x80) return c;
    if (c >= 0xC2 && c <= 0xDF) {
        if (!cont(1, 0x80, 0xBF)) return -1;
        *width = 2;
        return ((c & 0x1F) << 6) | (b(1) & 0x3F);
    }
    if (c >= 0xE0 && c <= 0xEF) {
        uint8_t lo = c == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = c == 0xED ? 0x9F : 0xBF;
        if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF)) return -1;
        *width = 3;
        return ((c & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    }
    if (c >= 0xF0 && c <= 0xF4) {
        uint8_t lo = c == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = c == 0xF4 ? 0x8F : 0xBF;
        if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF) || !cont(3, 0x80, 0xBF)) return -1;
        *width = 4;
        return ((c & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    }
    return -1;
}

// An approximation of Go's unicode.IsPrint for runes >= 0x80: false for C1 controls, spaces other than
// U+0020, format characters, line/paragraph separators, private use and non-characters; true otherwise
// (Go also rejects unassigned code points, which would need Unicode tables).
bool is_print_non_ascii(int32_t r) {
    if (r < 0xA1) return false;  // C1 controls and U+00A0 NO-BREAK SPACE
    if (r == 0xAD || r == 0x061C || r == 0x06DD || r == 0x070F || r == 0x180E || r == 0x1680) return false;
    if (r >= 0x0600 && r <= 0x0605) return false;
    if (r >= 0x2000 && r <= 0x200F) return false;
    if (r >= 0x2028 && r <= 0x202F) return false;
    if (r >= 0x205F && r <= 0x206F) return false;
    if (r == 0x3000 || r == 0xFEFF) return false;
    if (r >= 0xE000 && r <= 0xF8FF) return false;
    if (r >= 0xFDD0 && r <= 0xFDEF) return false;
    if (r >= 0xFFF9 && r <= 0xFFFB) return false;
    if ((r & 0xFFFE) == 0xFFFE) return false;
    if (r >= 0xE0000 && r <= 0xE007F) return false;
    if (r >= 0xF0000) return false;
    return true;
}

void append_hex(std::string* out, uint32_t v, int digits) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xF]);
}

// Go's UnquoteUsage: the type name to print and the usage with the first back-quoted pair removed.
std::pair<std::string, std::string> unquote_usage(const std::string& usage, std::string_view type_name) {
    size_t open = usage.find('`');
    if (open != std::string::npos) {
        size_t close = usage.find('`', open + 1);
        if (close != std::string::npos) {
            std::string name = usage.substr(open + 1, close - open - 1);
            return {name, usage.substr(0, open) + name + usage.substr(close + 1)};
        }
    }
    return {std::string(type_name), usage};
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    for (;;) {
        size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

ParseResult error_result(std::string message) {
    ParseResult r;
    r.status = ParseStatus::Error;
    r.error = std::move(message);
    return r;
}

const char* number_error_text(NumberError e) {
    return e == NumberError::Range ? "value out of range" : "parse error";
}

}  // namespace

IntParse parse_int(std::string_view text) {
    if (text.empty()) return {0, NumberError::Syntax};
    std::string_view s = text;
    bool negative = false;
    if (s[0] == '+') {
        s.remove_prefix(1);
    } else if (s[0] == '-') {
        negative = true;
        s.remove_prefix(1);
    }
    UintParse u = parse_uint_base0(s);
    if (u.error == NumberError::Syntax) return {0, NumberError::Syntax};
    constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    if (!negative && (u.error == NumberError::Range || u.value >= kSignBit)) return {kMax, NumberError::Range};
    if (negative && (u.error == NumberError::Range || u.value > kSignBit)) return {kMin, NumberError::Range};
    if (!negative) return {static_cast<int64_t>(u.value), NumberError::None};
    return {static_cast<int64_t>(0 - u.value), NumberError::None};  // two's complement, exact for INT64_MIN
}

std::optional<bool> parse_bool(std::string_view text) {
    if (text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "true" || text == "True")
        return true;
    if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" || text == "False")
        return false;
    return std::nullopt;
}

std::optional<Duration> parse_duration(std::string_view text) {
    std::string_view s = text;
    uint64_t d = 0;
    bool negative = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s == "0") return Duration{0};
    if (s.empty()) return std::nullopt;
    while (!s.empty()) {
        if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return std::nullopt;
        size_t before = s.size();
        std::optional<uint64_t> v = leading_int(&s);
        if (!v) return std::nullopt;
        bool pre = before != s.size();
        uint64_t f = 0;
        double scale = 1;
        bool post = false;
        if (!s.empty() && s[0] == '.') {
            s.remove_prefix(1);
            size_t at = s.size();
            leading_fraction(&s, &f, &scale);
            post = at != s.size();
        }
        if (!pre && !post) return std::nullopt;
        size_t i = 0;
        while (i < s.size() && s[i] != '.' && !(s[i] >= '0' && s[i] <= '9')) ++i;
        if (i == 0) return std::nullopt;  // missing unit
        std::optional<uint64_t> unit = unit_nanoseconds(s.substr(0, i));
        s.remove_prefix(i);
        if (!unit) return std::nullopt;
        if (*v > kSignBit / *unit) return std::nullopt;
        *v *= *unit;
        if (f > 0) {
            // As Go: float64 keeps fractions of hours nanosecond-accurate.
            *v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(*unit) / scale));
            if (*v > kSignBit) return std::nullopt;
        }
        d += *v;
        if (d > kSignBit) return std::nullopt;
    }
    if (negative) return Duration{static_cast<int64_t>(0 - d)};
    if (d > kSignBit - 1) return std::nullopt;
    return Duration{static_cast<int64_t>(d)};
}

std::string format_duration(Duration duration) {
    // The longest output is "-2562047h47m16.854775808s" (25 bytes).
    char buf[32];
    size_t w = sizeof buf;
    int64_t count = duration.count();
    bool negative = count < 0;
    uint64_t u = static_cast<uint64_t>(count);
    if (negative) u = 0 - u;
    if (u < 1'000'000'000) {
        // Below one second: use the largest of ns, µs, ms that keeps an integer part.
        int prec = 0;
        buf[--w] = 's';
        if (u == 0) return "0s";
        if (u < 1'000) {
            buf[--w] = 'n';
        } else if (u < 1'000'000) {
            prec = 3;
            buf[--w] = '\xB5';  // U+00B5 MICRO SIGN, as Go prints it
            buf[--w] = '\xC2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = put_frac(buf, &w, u, prec);
        put_int(buf, &w, u);
    } else {
        buf[--w] = 's';
        u = put_frac(buf, &w, u, 9);
        put_int(buf, &w, u % 60);  // seconds
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            put_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                put_int(buf, &w, u);
            }
        }
    }
    if (negative) buf[--w] = '-';
    return std::string(buf + w, sizeof buf - w);
}

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (size_t i = 0; i < text.size();) {
        size_t width = 1;
        int32_t r = decode_rune(text.substr(i), &width);
        if (r < 0) {
            out += "\\x";
            append_hex(&out, static_cast<uint8_t>(text[i]), 2);
            i += 1;
            continue;
        }
        if (r == '"' || r == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(r));
        } else if ((r >= 0x20 && r < 0x7F) || (r >= 0x80 && is_print_non_ascii(r))) {
            out.append(text.substr(i, width));
        } else {
            switch (r) {
                case '\a': out += "\\a"; break;
                case '\b': out += "\\b"; break;
                case '\f': out += "\\f"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                case '\v': out += "\\v"; break;
                default:
                    if (r < 0x20 || r == 0x7F) {
                        out += "\\x";
                        append_hex(&out, static_cast<uint32_t>(r), 2);
                    } else if (r < 0x10000) {
                        out += "\\u";
                        append_hex(&out, static_cast<uint32_t>(r), 4);
                    } else {
                        out += "\\U";
                        append_hex(&out, static_cast<uint32_t>(r), 8);
                    }
            }
        }
        i += width;
    }
    out.push_back('"');
    return out;
}

FlagSet::FlagSet(std::string program_name) : program_name_(std::move(program_name)) {}

void FlagSet::define(std::string name, std::string usage, std::string default_text, bool default_is_zero,
                     Target target) {
    bool valid = !name.empty() && name[0] != '-' && name.find('=') == std::string::npos;
    assert(valid && "flag names must be non-empty, must not begin with '-' and must not contain '='");
    bool fresh = flags_.find(name) == flags_.end();
    assert(fresh && "flag redefined");
    if (!valid || !fresh) return;
    flags_.emplace(std::move(name), Flag{std::move(usage), std::move(default_text), default_is_zero, target});
}

void FlagSet::string_var(std::string* target, std::string name, std::string default_value, std::string usage) {
    *target = default_value;
    bool zero = default_value.empty();
    define(std::move(name), std::move(usage), std::move(default_value), zero, target);
}

void FlagSet::int_var(int64_t* target, std::string name, int64_t default_value, std::string usage) {
    *target = default_value;
    define(std::move(name), std::move(usage), std::to_string(default_value), default_value == 0, target);
}

void FlagSet::bool_var(bool* target, std::string name, bool default_value, std::string usage) {
    *target = default_value;
    define(std::move(name), std::move(usage), default_value ? "true" : "false", !default_value, target);
}

void FlagSet::duration_var(Duration* target, std::string name, Duration default_value, std::string usage) {
    *target = default_value;
    define(std::move(name), std::move(usage), format_duration(default_value), default_value.count() == 0,
           target);
}

std::optional<ParseResult> FlagSet::parse_one(std::span<const std::string> args, size_t* index) {
    auto rest = [&]() {
        ParseResult r;
        r.positional.assign(args.begin() + static_cast<std::ptrdiff_t>(*index), args.end());
        return r;
    };
    if (*index >= args.size()) return ParseResult{};
    const std::string& s = args[*index];
    if (s.size() < 2 || s[0] != '-') return rest();
    size_t minuses = 1;
    if (s[1] == '-') {
        minuses = 2;
        if (s.size() == 2) {  // "--" ends the flags and is dropped
            ++*index;
            return rest();
        }
    }
    std::string name = s.substr(minuses);
    if (name.empty() || name[0] == '-' || name[0] == '=') return error_result("bad flag syntax: " + s);

    ++*index;
    bool has_value = false;
    std::string value;
    if (size_t eq = name.find('=', 1); eq != std::string::npos) {
        value = name.substr(eq + 1);
        has_value = true;
        name.resize(eq);
    }
    auto it = flags_.find(name);
    if (it == flags_.end()) {
        if (name == "help" || name == "h") {
            ParseResult r;
            r.status = ParseStatus::Help;
            return r;
        }
        return error_result("flag provided but not defined: -" + name);
    }
    Flag& flag = it->second;

    if (bool** b = std::get_if<bool*>(&flag.target)) {
        if (has_value) {
            std::optional<bool> v = parse_bool(value);
            if (!v) return error_result("invalid boolean value " + quote(value) + " for -" + name + ": parse error");
            **b = *v;
        } else {
            **b = true;
        }
    } else {
        if (!has_value && *index < args.size()) {
            value = args[*index];
            ++*index;
            has_value = true;
        }
        if (!has_value) return error_result("flag needs an argument: -" + name);
        auto invalid = [&](const char* why) {
            return error_result("invalid value " + quote(value) + " for flag -" + name + ": " + why);
        };
        if (std::string** str = std::get_if<std::string*>(&flag.target)) {
            **str = value;
        } else if (int64_t** i = std::get_if<int64_t*>(&flag.target)) {
            IntParse p = parse_int(value);
            if (p.error != NumberError::None) return invalid(number_error_text(p.error));
            **i = p.value;
        } else if (Duration** d = std::get_if<Duration*>(&flag.target)) {
            std::optional<Duration> p = parse_duration(value);
            if (!p) return invalid("parse error");
            **d = *p;
        }
    }
    if (!is_set(name)) set_.push_back(name);
    return std::nullopt;
}

ParseResult FlagSet::parse(std::span<const std::string> args) {
    set_.clear();
    size_t index = 0;
    for (;;) {
        if (std::optional<ParseResult> done = parse_one(args, &index)) return std::move(*done);
    }
}

bool FlagSet::is_set(std::string_view name) const {
    for (const std::string& n : set_)
        if (n == name) return true;
    return false;
}

std::string FlagSet::print_defaults() const {
    std::string out;
    for (const auto& [name, flag] : flags_) {
        std::string_view type_name;
        if (std::holds_alternative<std::string*>(flag.target)) type_name = "string";
        if (std::holds_alternative<int64_t*>(flag.target)) type_name = "int";
        if (std::holds_alternative<Duration*>(flag.target)) type_name = "duration";
        auto [shown_type, usage] = unquote_usage(flag.usage, type_name);

        std::string line = "  -" + name;
        if (!shown_type.empty()) line += " " + shown_type;
        // A one-letter bool flag ("  -x") keeps its usage on the same line.
        line += line.size() <= 4 ? "\t" : "\n    \t";
        line += replace_all(usage, "\n", "\n    \t");
        if (!flag.default_is_zero) {
            if (std::holds_alternative<std::string*>(flag.target))
                line += " (default " + quote(flag.default_text) + ")";
            else
                line += " (default " + flag.default_text + ")";
        }
        out += line;
        out += '\n';
    }
    return out;
}

std::string FlagSet::usage() const { return "Usage of " + program_name_ + ":\n" + print_defaults(); }

std::string FlagSet::stderr_text(const ParseResult& result) const {
    switch (result.status) {
        case ParseStatus::Ok: return "";
        case ParseStatus::Help: return usage();
        case ParseStatus::Error: return result.error + "\n" + usage();
    }
    return "";
}

}  // namespace ferry::goflag
