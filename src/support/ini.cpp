#include "support/ini.h"

#include <ini.h>

#include <cstring>

namespace ferry::ini {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Where inih's find_chars_or_comment() stops in s: at the first char of `stops`, or at a ';' that follows a
// blank (an inline comment); s.size() if neither.
size_t find_stop_or_comment(std::string_view s, std::string_view stops) {
    bool was_blank = false;
    for (size_t i = 0; i < s.size(); ++i) {
        if (stops.find(s[i]) != std::string_view::npos) return i;
        if (was_blank && s[i] == ';') return i;
        was_blank = is_blank(s[i]);
    }
    return s.size();
}

// The state shared by the line reader and the key handler while inih walks the text. inih calls the reader for
// each line and then, for a key line, the handler, so `line` is the current line in both. The reader looks at
// each line before inih does, to know section headers (including empty sections, which inih never reports),
// and to refuse what inih would silently misread.
struct Reader {
    std::string_view text;
    std::string_view file_name;
    std::string_view section_example;
    size_t pos = 0;
    int line = 0;
    // Mirrors inih's prev_name: set by a key line, cleared by a section header. While it is set, an indented
    // line is a continuation of that key's value for inih.
    std::string previous_key;
    ParseResult result;

    bool failed() const { return !result.ok(); }

    void fail(const std::string& message) {
        if (failed()) return;
        result.error = located(file_name, line, message);
        result.error_line = line;
    }

    // Looks at one line; false after recording an error (parsing stops there).
    bool classify(std::string_view raw) {
        std::string_view view = raw;
        if (line == 1 && view.substr(0, 3) == "\xEF\xBB\xBF") view.remove_prefix(3);  // inih skips a BOM
        std::string_view stripped = trim(view);
        if (stripped.empty() || stripped.front() == ';' || stripped.front() == '#') return true;
        if (!previous_key.empty() && is_blank(raw.front())) {
            fail("indented line would continue the value of key " + quoted(previous_key) +
                 " (multi-line values are not supported; remove the indentation)");
            return false;
        }
        if (stripped.front() == '[') {
            size_t close = find_stop_or_comment(stripped.substr(1), "]");
            if (close == stripped.size() - 1 || stripped[1 + close] != ']') {
                fail("section header without \"]\"");
                return false;
            }
            std::string_view after = trim(stripped.substr(close + 2));
            if (!after.empty() && after.front() != ';' && after.front() != '#') {
                fail("unexpected " + quoted(after) + " after the section header");
                return false;
            }
            Section s;
            s.name = std::string(trim(stripped.substr(1, close)));
            s.line = line;
            result.sections.push_back(std::move(s));
            previous_key.clear();
            return true;
        }
        size_t sep = find_stop_or_comment(stripped, "=:");
        if (sep == stripped.size() || (stripped[sep] != '=' && stripped[sep] != ':')) {
            fail("expected \"key = value\", a [section] header or a comment, not " + quoted(stripped));
            return false;
        }
        previous_key = std::string(trim(stripped.substr(0, sep)));
        return true;
    }

    // One key line, with inih's trimmed and comment-stripped name and value.
    bool on_key(std::string_view name, std::string_view value) {
        if (result.sections.empty()) {
            fail("key " + quoted(name) + " outside a section (put it under a " + std::string(section_example) +
                 " header)");
            return false;
        }
        if (name.empty()) {
            fail("empty key name");
            return false;
        }
        Section& s = result.sections.back();
        if (const Key* first = s.find(name)) {
            fail("key " + quoted(name) + " given twice in section [" + s.name + "] (first on line " +
                 std::to_string(first->line) + ")");
            return false;
        }
        s.keys.push_back(Key{std::string(name), std::string(value), line});
        return true;
    }
};

char* read_line(char* buffer, int size, void* stream) {
    auto* r = static_cast<Reader*>(stream);
    if (r->failed() || r->pos >= r->text.size()) return nullptr;
    size_t end = r->text.find('\n', r->pos);
    if (end == std::string_view::npos) end = r->text.size();
    std::string_view raw = r->text.substr(r->pos, end - r->pos);
    r->pos = end + 1;
    ++r->line;
    if (raw.find('\0') != std::string_view::npos) {
        r->fail("NUL byte in the line");
        return nullptr;
    }
    // inih's buffer (200 bytes in Debian's build) would cut a longer line and parse the rest as a line of its own.
    if (raw.size() > static_cast<size_t>(size - 1)) {
        r->fail("line longer than " + std::to_string(size - 1) + " bytes");
        return nullptr;
    }
    if (!r->classify(raw)) return nullptr;
    std::memcpy(buffer, raw.data(), raw.size());  // without the '\n': inih strips trailing blanks anyway
    buffer[raw.size()] = '\0';
    return buffer;
}

int on_key(void* user, const char* /*section*/, const char* name, const char* value) {
    // inih's section name is ignored: it is cut at 49 bytes and cannot tell [a] from a second [a].
    return static_cast<Reader*>(user)->on_key(name, value) ? 1 : 0;
}

}  // namespace

const Key* Section::find(std::string_view key_name) const {
    for (const Key& k : keys)
        if (k.name == key_name) return &k;
    return nullptr;
}

ParseResult parse(std::string_view text, std::string_view file_name, std::string_view section_example) {
    Reader r;
    r.text = text;
    r.file_name = file_name;
    r.section_example = section_example;
    int inih_error = ini_parse_stream(read_line, &r, on_key, &r);
    if (!r.failed() && inih_error != 0) {  // not expected: the reader refuses every line inih would reject
        r.line = inih_error;
        r.fail("syntax error");
    }
    return std::move(r.result);
}

std::string located(std::string_view file_name, int line, std::string_view message) {
    return std::string(file_name) + ":" + std::to_string(line) + ": " + std::string(message);
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (u < 0x20 || u == 0x7F) {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xF];
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::optional<bool> parse_bool(std::string_view text) {
    std::string v = lowercase(text);
    if (v == "true" || v == "yes" || v == "on" || v == "1") return true;
    if (v == "false" || v == "no" || v == "off" || v == "0") return false;
    return std::nullopt;
}

std::vector<std::string_view> split_list(std::string_view value) {
    std::vector<std::string_view> items;
    if (trim(value).empty()) return items;
    for (;;) {
        size_t comma = value.find(',');
        items.push_back(trim(value.substr(0, comma)));
        if (comma == std::string_view::npos) return items;
        value.remove_prefix(comma + 1);
    }
}

}  // namespace ferry::ini
